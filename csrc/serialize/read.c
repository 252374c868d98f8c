/* read.c: ser_read_package: an .mlpackage (or a bare model.mlmodel) -> IR + ser_desc.
 *
 * The Model protobuf is checked (pbcheck.c) and unpacked with protobuf-c, then
 * each MIL function becomes an ir_function: inputs, ops in order with their
 * declared output types, const payloads from immediate values or weight blobs
 * (read_values.c), nested blocks. Names are resolved through a per-function hash table. Anything
 * we cannot represent or that does not add up fails with PC_E_FORMAT naming the
 * file and the op. Ops we do not know stay as IR_OP_UNKNOWN with their type name.
 * Attributes other than `name` on non-const ops (older constexpr ops) become
 * const inputs of that parameter name. */
#include "serialize/read_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

/* ---- names ---- */

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int is_used(rd *r, const char *name) {
    if (!r->capused) return 0;
    for (size_t i = hash(name) & (r->capused - 1);; i = (i + 1) & (r->capused - 1)) {
        if (!r->used[i]) return 0;
        if (strcmp(r->used[i], name) == 0) return 1;
    }
}

static int mark_used(rd *r, const char *name) {
    if ((r->nused + 1) * 2 > r->capused) {
        size_t nc = r->capused ? r->capused * 2 : 256;
        const char **nu = calloc(nc, sizeof *nu);
        if (!nu) return OOM(r);
        for (size_t i = 0; i < r->capused; i++) {
            if (!r->used[i]) continue;
            size_t j = hash(r->used[i]) & (nc - 1);
            while (nu[j]) j = (j + 1) & (nc - 1);
            nu[j] = r->used[i];
        }
        free(r->used);
        r->used = nu;
        r->capused = nc;
    }
    size_t i = hash(name) & (r->capused - 1);
    while (r->used[i]) {
        if (strcmp(r->used[i], name) == 0) return 0;
        i = (i + 1) & (r->capused - 1);
    }
    r->used[i] = name;
    r->nused++;
    return 0;
}

/* The IR name for a value the file calls `name`: itself, or name_1, name_2, ...
 * when the function already has a value of that name. Copied into the program. */
static const char *ir_name(rd *r, const char *name) {
    if (!is_used(r, name)) return pc_strdup(r->p->arena, name);
    for (int i = 1;; i++) {
        const char *s = pc_sprintf(r->tmp, "%s_%d", name, i);
        if (!s) return NULL;
        if (!is_used(r, s)) return pc_strdup(r->p->arena, s);
    }
}

static ir_value *lookup(rd *r, const char *name) {
    if (!r->nbuckets) return NULL;
    for (bind_entry *b = r->buckets[hash(name) & (r->nbuckets - 1)]; b; b = b->next)
        if (strcmp(b->key, name) == 0) return b->v;
    return NULL;
}

static void push_bucket(rd *r, bind_entry *b) {
    b->bucket = hash(b->key) & (r->nbuckets - 1);
    b->next = r->buckets[b->bucket];
    r->buckets[b->bucket] = b;
}

/* Make `name` (a file name) refer to v in the current scope. */
static int bind(rd *r, const char *name, ir_value *v) {
    for (bind_entry *b = r->nbuckets ? r->buckets[hash(name) & (r->nbuckets - 1)] : NULL; b; b = b->next)
        if (b->scope == r->scope && strcmp(b->key, name) == 0)
            return pc_fail(r->e, PC_E_FORMAT, "%s: the value name '%s' is defined twice", r->file, name);
    if (mark_used(r, v->name)) return -1;
    if (r->nlog == r->caplog) {
        size_t nc = r->caplog ? r->caplog * 2 : 256;
        bind_entry **nl = realloc(r->log, nc * sizeof *nl);
        if (!nl) return OOM(r);
        r->log = nl;
        r->caplog = nc;
    }
    if (r->nlog + 1 > r->nbuckets) { /* grow and rehash in insertion order */
        size_t nb = r->nbuckets ? r->nbuckets * 2 : 256;
        bind_entry **bk = calloc(nb, sizeof *bk);
        if (!bk) return OOM(r);
        free(r->buckets);
        r->buckets = bk;
        r->nbuckets = nb;
        for (size_t i = 0; i < r->nlog; i++) push_bucket(r, r->log[i]);
    }
    bind_entry *b = pc_alloc(r->tmp, sizeof *b);
    if (!b || !(b->key = pc_strdup(r->tmp, name))) return OOM(r);
    b->v = v;
    b->scope = r->scope;
    push_bucket(r, b);
    r->log[r->nlog++] = b;
    return 0;
}

/* Enter a block scope; returns the mark scope_end needs. */
static size_t scope_begin(rd *r, int *saved) {
    *saved = r->scope;
    r->scope = ++r->next_scope;
    return r->nlog;
}

/* Leave a scope: its names are no longer visible (entries go LIFO, so each
 * one is at the head of its bucket when removed). */
static void scope_end(rd *r, size_t mark, int saved) {
    while (r->nlog > mark) {
        bind_entry *b = r->log[--r->nlog];
        r->buckets[b->bucket] = b->next;
    }
    r->scope = saved;
}

static void reset_names(rd *r) {
    if (r->buckets) memset(r->buckets, 0, sizeof(*r->buckets) * r->nbuckets);
    if (r->used) memset(r->used, 0, sizeof(*r->used) * r->capused);
    r->nlog = r->nused = 0;
    r->scope = ++r->next_scope;
}

/* A const op at the end of b named `name`, output `outname` of type t. */
/* A const op at the end of b named `name`, output of type t named `outname` in
 * the file (bound in the current scope) or, with outname NULL, an internal
 * const named after `name`. */
static ir_value *add_const(rd *r, ir_block *b, const char *name, const char *outname, ir_type t, ir_const *c) {
    const char *vn = ir_name(r, outname ? outname : name);
    ir_op *op = vn ? ir_op_new(r->p, b, IR_OP_CONST, outname ? name : vn) : NULL;
    ir_value *v = op ? ir_op_add_output(op, vn, t) : NULL;
    if (!v) {
        OOM(r);
        return NULL;
    }
    v->konst = c;
    if (outname ? bind(r, outname, v) : mark_used(r, v->name)) return NULL;
    return v;
}

/* An inline Value (binding or attribute) -> a new const op before the op being read. */
static ir_value *inline_const(rd *r, ir_block *b, const char *opname, const char *param, const Cml__Value *val) {
    const char *ctx = pc_sprintf(r->tmp, "op '%s' input '%s'", opname, param);
    const char *base = pc_sprintf(r->tmp, "%s_%s", opname, param);
    if (!ctx || !base) {
        OOM(r);
        return NULL;
    }
    ir_const *c = NULL;
    ir_type t;
    if (val->type && val->type->type_case == CML__VALUE_TYPE__TYPE_LIST_TYPE &&
        val->value_case == CML__VALUE__VALUE_IMMEDIATE_VALUE &&
        val->immediatevalue->value_case == CML__VALUE__IMMEDIATE_VALUE__VALUE_LIST) {
        if (ser_rd_list_value(r, val, ctx, &t, &c)) return NULL;
        return add_const(r, b, base, NULL, t, c);
    }
    r->sub_ok = 1;
    int bad = ser_rd_value(r, val, NULL, ctx, &c) || ser_rd_type(r, val->type, &t, ctx);
    r->sub_ok = 0;
    return bad ? NULL : add_const(r, b, base, NULL, t, c);
}

/* ---- ops and blocks ---- */

static int read_block(rd *r, ir_block *b, const Cml__Block *bs, int nested, const char *ctx);

static const char *name_attr(const Cml__Operation *o) {
    for (size_t i = 0; i < o->n_attributes; i++) {
        const Cml__ValueEntry *a = o->attributes[i];
        if (strcmp(a->key, "name") != 0 || !a->value) continue;
        const Cml__Value *v = a->value;
        if (v->value_case == CML__VALUE__VALUE_IMMEDIATE_VALUE &&
            v->immediatevalue->value_case == CML__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR &&
            v->immediatevalue->tensor->value_case == CML__TENSOR_VALUE__VALUE_STRINGS &&
            v->immediatevalue->tensor->strings->n_values == 1)
            return v->immediatevalue->tensor->strings->values[0];
    }
    return NULL;
}

static const Cml__Value *attr(const Cml__Operation *o, const char *key) {
    for (size_t i = 0; i < o->n_attributes; i++)
        if (strcmp(o->attributes[i]->key, key) == 0) return o->attributes[i]->value;
    return NULL;
}

static int read_const_op(rd *r, ir_block *b, const Cml__Operation *o, const char *name) {
    const char *ctx = pc_sprintf(r->tmp, "const '%s'", name);
    if (!ctx) return OOM(r);
    if (o->n_outputs != 1) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has %zu outputs, not 1", r->file, ctx, o->n_outputs);
    if (o->n_inputs || o->n_blocks) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has inputs or blocks", r->file, ctx);
    const Cml__Value *val = attr(o, "val");
    if (!val) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no 'val' attribute", r->file, ctx);
    const Cml__NamedValueType *out = o->outputs[0];
    if (!out->name || !*out->name) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has an unnamed output", r->file, ctx);
    ir_type t;
    ir_const *c;
    r->sub_ok = 1;
    int bad = ser_rd_type(r, out->type, &t, ctx) || ser_rd_value(r, val, &t, ctx, &c);
    r->sub_ok = 0;
    return !bad && add_const(r, b, name, out->name, t, c) ? 0 : -1;
}

static int read_op(rd *r, ir_block *b, const Cml__Operation *o) {
    if (!o->type || !*o->type) return pc_fail(r->e, PC_E_FORMAT, "%s: an op has no type", r->file);
    const char *name = name_attr(o);
    if (!name && o->n_outputs) name = o->outputs[0]->name;
    if (!name || !*name) name = ir_fresh_name(r->p, o->type);
    if (!name) return OOM(r);
    if (strcmp(o->type, "const") == 0) return read_const_op(r, b, o, name);

    /* inputs first: inline values become const ops placed before this op */
    size_t nattr = 0;
    for (size_t i = 0; i < o->n_attributes; i++)
        if (strcmp(o->attributes[i]->key, "name") != 0) nattr++;
    size_t nin = o->n_inputs + nattr;
    ir_value ***vals = pc_alloc(r->tmp, sizeof(*vals) * (nin ? nin : 1));
    int *counts = pc_alloc(r->tmp, sizeof(int) * (nin ? nin : 1));
    const char **pnames = pc_alloc(r->tmp, sizeof(char *) * (nin ? nin : 1));
    if (!vals || !counts || !pnames) return OOM(r);
    size_t k = 0;
    for (size_t i = 0; i < o->n_inputs; i++, k++) {
        const Cml__Operation__InputEntry *in = o->inputs[i];
        const Cml__Argument *arg = in->value;
        pnames[k] = in->key;
        for (size_t j = 0; j < k; j++)
            if (strcmp(pnames[j], in->key) == 0)
                return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' (%s) binds input '%s' twice", r->file, name, o->type, in->key);
        size_t n = arg ? arg->n_arguments : 0;
        vals[k] = pc_alloc(r->tmp, sizeof(ir_value *) * (n ? n : 1));
        if (!vals[k]) return OOM(r);
        counts[k] = (int)n;
        for (size_t j = 0; j < n; j++) {
            const Cml__Argument__Binding *bd = arg->arguments[j];
            if (bd->binding_case == CML__ARGUMENT__BINDING__BINDING_NAME) {
                vals[k][j] = lookup(r, bd->name);
                if (!vals[k][j])
                    return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' (%s): input '%s' refers to unknown value '%s'", r->file,
                                   name, o->type, in->key, bd->name);
            } else if (bd->binding_case == CML__ARGUMENT__BINDING__BINDING_VALUE) {
                if (!(vals[k][j] = inline_const(r, b, name, in->key, bd->value))) return -1;
            } else {
                return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' (%s): input '%s' has an empty binding", r->file, name,
                               o->type, in->key);
            }
        }
    }
    for (size_t i = 0; i < o->n_attributes; i++) {
        const Cml__ValueEntry *a = o->attributes[i];
        if (strcmp(a->key, "name") == 0) continue;
        for (size_t j = 0; j < k; j++)
            if (strcmp(pnames[j], a->key) == 0)
                return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' (%s) has both an input and an attribute '%s'", r->file,
                               name, o->type, a->key);
        if (!a->value) return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' attribute '%s' is empty", r->file, name, a->key);
        pnames[k] = a->key;
        counts[k] = 1;
        vals[k] = pc_alloc(r->tmp, sizeof(ir_value *));
        if (!vals[k]) return OOM(r);
        if (!(vals[k][0] = inline_const(r, b, name, a->key, a->value))) return -1;
        k++;
    }

    ir_opkind kind = ir_op_kind_from_name(o->type);
    ir_op *op = ir_op_new(r->p, b, kind, name);
    if (!op) return OOM(r);
    if (kind == IR_OP_UNKNOWN && !(op->type_name = pc_strdup(r->p->arena, o->type))) return OOM(r);
    for (size_t i = 0; i < k; i++)
        if (ir_op_set_inputs(op, pnames[i], counts[i], vals[i])) return OOM(r);
    for (size_t i = 0; i < o->n_blocks; i++) {
        ir_block *nb = ir_op_add_block(op);
        if (!nb) return OOM(r);
        nb->fn = b->fn;
        const char *ctx = pc_sprintf(r->tmp, "block %zu of op '%s'", i, name);
        if (!ctx) return OOM(r);
        if (read_block(r, nb, o->blocks[i], 1, ctx)) return -1;
    }
    for (size_t i = 0; i < o->n_outputs; i++) {
        const Cml__NamedValueType *nv = o->outputs[i];
        const char *ctx = pc_sprintf(r->tmp, "output %zu of op '%s' (%s)", i, name, o->type);
        if (!ctx) return OOM(r);
        if (!nv->name || !*nv->name) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no name", r->file, ctx);
        ir_type t;
        r->sub_ok = strncmp(o->type, "constexpr_", 10) == 0; /* sparse masks of the iOS18 constexpr ops are uint1 */
        int bad = ser_rd_type(r, nv->type, &t, ctx);
        r->sub_ok = 0;
        if (bad) return -1;
        const char *vn = ir_name(r, nv->name);
        ir_value *v = vn ? ir_op_add_output(op, vn, t) : NULL;
        if (!v) return OOM(r);
        if (bind(r, nv->name, v)) return -1;
    }
    return 0;
}

static int read_named_input(rd *r, const Cml__NamedValueType *nv, ir_function *fn, ir_block *b, const char *ctx) {
    if (!nv->name || !*nv->name) return pc_fail(r->e, PC_E_FORMAT, "%s: an input of %s has no name", r->file, ctx);
    const char *c2 = pc_sprintf(r->tmp, "input '%s' of %s", nv->name, ctx);
    if (!c2) return OOM(r);
    ir_type t;
    if (ser_rd_type(r, nv->type, &t, c2)) return -1;
    const char *vn = ir_name(r, nv->name);
    ir_value *v = !vn ? NULL : fn ? ir_function_add_input(fn, vn, t) : ir_block_add_input(b, vn, t);
    if (!v) return OOM(r);
    return bind(r, nv->name, v);
}

static int read_block(rd *r, ir_block *b, const Cml__Block *bs, int nested, const char *ctx) {
    if (!bs) return pc_fail(r->e, PC_E_FORMAT, "%s: %s is missing", r->file, ctx);
    if (!nested && bs->n_inputs) return pc_fail(r->e, PC_E_FORMAT, "%s: the body of %s has block inputs", r->file, ctx);
    int saved = 0;
    size_t mark = nested ? scope_begin(r, &saved) : 0;
    for (size_t i = 0; i < bs->n_inputs; i++)
        if (read_named_input(r, bs->inputs[i], NULL, b, ctx)) return -1;
    for (size_t i = 0; i < bs->n_operations; i++)
        if (read_op(r, b, bs->operations[i])) return -1;
    ir_value **outs = pc_alloc(r->tmp, sizeof(*outs) * (bs->n_outputs ? bs->n_outputs : 1));
    if (!outs) return OOM(r);
    for (size_t i = 0; i < bs->n_outputs; i++)
        if (!(outs[i] = lookup(r, bs->outputs[i])))
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s outputs unknown value '%s'", r->file, ctx, bs->outputs[i]);
    if (ir_block_set_outputs(b, (int)bs->n_outputs, outs)) return OOM(r);
    if (nested) scope_end(r, mark, saved);
    return 0;
}

static int read_function(rd *r, const char *fname, const Cml__Function *fs) {
    const char *ctx = pc_sprintf(r->tmp, "function '%s'", fname);
    if (!ctx) return OOM(r);
    if (!fs) return pc_fail(r->e, PC_E_FORMAT, "%s: %s is empty", r->file, ctx);
    if (!fs->opset || !*fs->opset) return pc_fail(r->e, PC_E_FORMAT, "%s: %s names no opset", r->file, ctx);
    for (int i = 0; i < r->p->nfunc; i++)
        if (strcmp(r->p->funcs[i]->name, fname) == 0) return pc_fail(r->e, PC_E_FORMAT, "%s: %s appears twice", r->file, ctx);
    ir_function *fn = ir_function_new(r->p, fname, fs->opset);
    if (!fn) return OOM(r);
    reset_names(r);
    for (size_t i = 0; i < fs->n_inputs; i++)
        if (read_named_input(r, fs->inputs[i], fn, NULL, ctx)) return -1;
    const Cml__Block *body = NULL;
    for (size_t i = 0; i < fs->n_block_specializations; i++)
        if (strcmp(fs->block_specializations[i]->key, fs->opset) == 0) body = fs->block_specializations[i]->value;
    if (!body) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no block for its opset %s", r->file, ctx, fs->opset);
    return read_block(r, fn->body, body, 0, ctx);
}

/* Which model kind the Model.Type oneof holds: its field's name in the schema (NULL: none). */
static const char *model_kind(const Cml__Model *m) {
    if (m->type_case == CML__MODEL__TYPE__NOT_SET) return NULL;
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(&cml__model__descriptor, m->type_case);
    return f ? f->name : NULL;
}

static int read_model(rd *r, const Cml__Model *m) {
    if (m->type_case != CML__MODEL__TYPE_ML_PROGRAM || !m->mlprogram) {
        const char *k = model_kind(m);
        if (k) return pc_fail(r->e, PC_E_FORMAT, "%s holds a %s model, not an ML Program (the only kind we read)", r->file, k);
        return pc_fail(r->e, PC_E_FORMAT, "%s holds no ML Program", r->file);
    }
    const Cml__Program *pg = m->mlprogram;
    if (pg->version != 1)
        return pc_fail(r->e, PC_E_FORMAT, "%s: ML Program version %lld, expected 1", r->file, (long long)pg->version);
    if (pg->n_functions == 0) return pc_fail(r->e, PC_E_FORMAT, "%s: the ML Program has no functions", r->file);
    for (size_t i = 0; i < pg->n_functions; i++)
        if (read_function(r, pg->functions[i]->key, pg->functions[i]->value)) return -1;
    return 0;
}

/* Unpack and read buf[0..len) (the Model protobuf of r->file). */
static int read_buffer(rd *r, const unsigned char *buf, size_t len, pc_arena *arena, ser_desc *d) {
    if (len == 0) return pc_fail(r->e, PC_E_FORMAT, "%s is empty", r->file);
    if (len > SER_MAX_MODEL_BYTES) return pc_fail(r->e, PC_E_FORMAT, "%s is too large (%zu bytes)", r->file, len);
    if (ser_pb_check(&cml__model__descriptor, buf, len, SER_MAX_PB_DEPTH, r->file, r->e)) return -1;
    Cml__Model *m = cml__model__unpack(NULL, len, buf);
    if (!m)
        return pc_fail(r->e, PC_E_FORMAT, "%s: corrupt Model protobuf (a field has the wrong wire type or bad UTF-8)", r->file);
    int rc = read_model(r, m) || ser_desc_from_proto(m, arena, d, r->file, r->e) || ser_check_desc(r->p, d, r->file, r->e) ? -1 : 0;
    cml__model__free_unpacked(m, NULL);
    return rc;
}

/* The reader over the package or model file at `path` or, path NULL, over the model in mem
 * (named `file` in messages, its weight files under `dir`). */
static int read_any(const char *path, const unsigned char *mem, size_t memlen, const char *file, const char *dir,
                    pc_arena *arena, ir_program **out, ser_desc *d, pc_err *e) {
    *out = NULL;
    memset(d, 0, sizeof *d);
    rd r = {.e = e, .loc = {.rootfd = -1}};
    r.tmp = pc_arena_new();
    r.p = ir_program_new();
    unsigned char *buf = NULL;
    int rc = -1;
    if (!r.tmp || !r.p) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto done;
    }
    size_t len = memlen;
    if (path) {
        if (ser_locate_model(path, r.tmp, &r.loc, e)) goto done;
        r.file = r.loc.file;
        r.dir = r.loc.dir;
        if (ser_read_model_file(&r.loc, &buf, &len, e)) goto done;
        mem = buf;
    } else { /* weight files below dir, opened as a package's are */
        r.file = r.loc.file = file;
        r.dir = r.loc.dir = dir;
        r.loc.dir_rel = ".";
        r.loc.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r.loc.rootfd < 0) {
            pc_fail(e, PC_E_IO, "cannot open directory %s: %s", dir, strerror(errno));
            goto done;
        }
    }
    if (read_buffer(&r, mem, len, arena, d)) goto done;
    *out = r.p;
    r.p = NULL;
    rc = 0;
done:
    free(buf);
    for (int i = 0; i < r.nfiles; i++) ser_blob_close(&r.files[i].bf);
    ser_model_loc_close(&r.loc);
    free(r.buckets);
    free(r.log);
    free(r.used);
    ir_program_free(r.p);
    pc_arena_free(r.tmp);
    if (rc) memset(d, 0, sizeof *d);
    return rc;
}

int ser_read_package(const char *path, pc_arena *arena, ir_program **out, ser_desc *d, pc_err *e) {
    return read_any(path, NULL, 0, NULL, NULL, arena, out, d, e);
}

int ser_read_model_mem(const unsigned char *buf, size_t len, const char *file, const char *dir, pc_arena *arena,
                       ir_program **out, ser_desc *d, pc_err *e) {
    return read_any(NULL, buf, len, file, dir, arena, out, d, e);
}
