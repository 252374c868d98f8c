/* write.c: ser_write_package: IR program + ser_desc -> .mlpackage.
 *
 * The Model protobuf is built in a scratch arena (ops as MIL Operations: inputs
 * bound by value name, outputs with full types, a `name` attribute on every op,
 * const payloads in attribute `val`, built by write_values.c). Consts of >= 10
 * fp16/fp32/uint8/int8 elements (from iOS18 also 16/32-bit integers) go to
 * weights/weight.bin as blobs, smaller ones stay inline. The
 * package is assembled in a fresh directory beside the target and then put in
 * place (files.c), so a failed save leaves what was there before. */
#include "serialize/write_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- ops and blocks ---- */

static Cml__ValueEntry *entry(wr *w, const char *key, Cml__Value *v) {
    Cml__ValueEntry *e = v ? NEW(w, Cml__ValueEntry, CML__VALUE_ENTRY__INIT) : NULL;
    if (!e) {
        if (v) OOM(w);
        return NULL;
    }
    e->key = (char *)key;
    e->value = v;
    return e;
}

static Cml__Block *block_msg(wr *w, const ir_block *b, int nested, const char *where);

static Cml__Operation *op_msg(wr *w, const ir_op *op) {
    Cml__Operation *o = NEW(w, Cml__Operation, CML__OPERATION__INIT);
    if (!o) {
        OOM(w);
        return NULL;
    }
    const char *type = op->type_name ? op->type_name : ir_op_kind_name(op->kind);
    if (!type || !*type || strcmp(type, "?") == 0) {
        pc_fail(w->e, PC_E_VALUE, "op '%s' has no MIL type", op->name ? op->name : "?");
        return NULL;
    }
    const char *name = op->name ? op->name : (op->nout ? op->out[0]->name : NULL);
    if (!name || !*name) {
        pc_fail(w->e, PC_E_VALUE, "a %s op has no name", type);
        return NULL;
    }
    const char *what = pc_sprintf(w->a, "op '%s' (%s)", name, type);
    if (!what) {
        OOM(w);
        return NULL;
    }
    o->type = (char *)type;
    const char *sub = ser_subbyte_op(op);
    if (sub) {
        pc_fail(w->e, PC_E_VALUE, "%s: writing %s in a sub-byte type is not supported (the model loads and predicts, "
                "but cannot be saved again)", what, sub);
        return NULL;
    }
    int is_const = op->kind == IR_OP_CONST;
    if (is_const && (op->nout != 1 || op->nin || op->nblocks)) {
        pc_fail(w->e, PC_E_VALUE, "%s must have one output and no inputs or blocks", what);
        return NULL;
    }
    o->n_inputs = (size_t)op->nin;
    o->inputs = pc_alloc(w->a, sizeof(*o->inputs) * (size_t)(op->nin ? op->nin : 1));
    if (!o->inputs) goto oom;
    for (int i = 0; i < op->nin; i++) {
        const ir_arg *a = &op->in[i];
        Cml__Operation__InputEntry *ie = NEW(w, Cml__Operation__InputEntry, CML__OPERATION__INPUT_ENTRY__INIT);
        Cml__Argument *arg = NEW(w, Cml__Argument, CML__ARGUMENT__INIT);
        Cml__Argument__Binding **bs = pc_alloc(w->a, sizeof(*bs) * (size_t)(a->n ? a->n : 1));
        if (!ie || !arg || !bs) goto oom;
        for (int j = 0; j < a->n; j++) {
            if (!a->v[j] || !a->v[j]->name) {
                pc_fail(w->e, PC_E_VALUE, "%s: input '%s' is not bound", what, a->name);
                return NULL;
            }
            bs[j] = NEW(w, Cml__Argument__Binding, CML__ARGUMENT__BINDING__INIT);
            if (!bs[j]) goto oom;
            if (ser_wr_is_literal_param(op, a->name) && op->parent && ser_wr_is_classes_literal(op->parent, a->v[j])) {
                bs[j]->binding_case = CML__ARGUMENT__BINDING__BINDING_VALUE;
                if (!(bs[j]->value = ser_wr_list_value(w, a->v[j], what))) return NULL;
                continue;
            }
            bs[j]->binding_case = CML__ARGUMENT__BINDING__BINDING_NAME;
            bs[j]->name = (char *)a->v[j]->name;
        }
        arg->n_arguments = (size_t)a->n;
        arg->arguments = bs;
        ie->key = (char *)a->name;
        ie->value = arg;
        o->inputs[i] = ie;
    }
    o->n_outputs = (size_t)op->nout;
    o->outputs = pc_alloc(w->a, sizeof(*o->outputs) * (size_t)(op->nout ? op->nout : 1));
    if (!o->outputs) goto oom;
    for (int i = 0; i < op->nout; i++)
        if (!(o->outputs[i] = ser_wr_named(w, op->out[i], what))) return NULL;
    o->n_blocks = (size_t)op->nblocks;
    o->blocks = pc_alloc(w->a, sizeof(*o->blocks) * (size_t)(op->nblocks ? op->nblocks : 1));
    if (!o->blocks) goto oom;
    for (int i = 0; i < op->nblocks; i++)
        if (!(o->blocks[i] = block_msg(w, op->blocks[i], 1, what))) return NULL;
    o->attributes = pc_alloc(w->a, sizeof(*o->attributes) * 2);
    if (!o->attributes) goto oom;
    if (is_const && !(o->attributes[o->n_attributes++] = entry(w, "val", ser_wr_const_value(w, op->out[0], what)))) return NULL;
    if (!(o->attributes[o->n_attributes++] = entry(w, "name", ser_wr_string_value(w, name)))) return NULL;
    return o;
oom:
    OOM(w);
    return NULL;
}

static Cml__Block *block_msg(wr *w, const ir_block *b, int nested, const char *where) {
    Cml__Block *bm = NEW(w, Cml__Block, CML__BLOCK__INIT);
    if (!bm) {
        OOM(w);
        return NULL;
    }
    size_t nops = 0;
    for (const ir_op *op = b->first; op; op = op->next) nops++;
    bm->operations = pc_alloc(w->a, sizeof(*bm->operations) * (nops ? nops : 1));
    bm->outputs = pc_alloc(w->a, sizeof(char *) * (size_t)(b->nout ? b->nout : 1));
    bm->inputs = pc_alloc(w->a, sizeof(*bm->inputs) * (size_t)(b->nin ? b->nin : 1));
    if (!bm->operations || !bm->outputs || !bm->inputs) {
        OOM(w);
        return NULL;
    }
    if (nested) {
        for (int i = 0; i < b->nin; i++)
            if (!(bm->inputs[i] = ser_wr_named(w, b->in[i], where))) return NULL;
        bm->n_inputs = (size_t)b->nin;
    } else if (b->nin) {
        pc_fail(w->e, PC_E_VALUE, "the body of %s has block inputs", where);
        return NULL;
    }
    int has_literal = 0;
    for (const ir_op *op = b->first; op; op = op->next)
        for (int i = 0; i < op->nin && !has_literal; i++) has_literal = ser_wr_is_literal_param(op, op->in[i].name);
    for (const ir_op *op = b->first; op; op = op->next) {
        if (has_literal && op->kind == IR_OP_CONST && op->nout == 1 && ser_wr_is_classes_literal(b, op->out[0]))
            continue; /* bound inline to classify */
        if (!(bm->operations[bm->n_operations++] = op_msg(w, op))) return NULL;
    }
    for (int i = 0; i < b->nout; i++) {
        if (!b->out[i] || !b->out[i]->name) {
            pc_fail(w->e, PC_E_VALUE, "output %d of %s is not bound", i, where);
            return NULL;
        }
        bm->outputs[i] = (char *)b->out[i]->name;
    }
    bm->n_outputs = (size_t)b->nout;
    return bm;
}

static Cml__Function *function_msg(wr *w, const ir_function *fn) {
    Cml__Function *f = NEW(w, Cml__Function, CML__FUNCTION__INIT);
    Cml__Function__BlockEntry *be = NEW(w, Cml__Function__BlockEntry, CML__FUNCTION__BLOCK_ENTRY__INIT);
    const char *where = pc_sprintf(w->a, "function '%s'", fn->name);
    if (!f || !be || !where) {
        OOM(w);
        return NULL;
    }
    f->opset = (char *)(fn->opset && *fn->opset ? fn->opset : "CoreML5");
    f->inputs = pc_alloc(w->a, sizeof(*f->inputs) * (size_t)(fn->nin ? fn->nin : 1));
    f->block_specializations = pc_alloc(w->a, sizeof(*f->block_specializations));
    if (!f->inputs || !f->block_specializations) {
        OOM(w);
        return NULL;
    }
    for (int i = 0; i < fn->nin; i++)
        if (!(f->inputs[i] = ser_wr_named(w, fn->in[i], where))) return NULL;
    f->n_inputs = (size_t)fn->nin;
    be->key = f->opset;
    if (!fn->body || !(be->value = block_msg(w, fn->body, 0, where))) {
        if (!fn->body) pc_fail(w->e, PC_E_VALUE, "%s has no body", where);
        return NULL;
    }
    f->block_specializations[0] = be;
    f->n_block_specializations = 1;
    return f;
}

/* ---- the description ---- */

static const ir_value *find_value(ir_value *const *vs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (vs[i] && vs[i]->name && strcmp(vs[i]->name, name) == 0) return vs[i];
    return NULL;
}

/* Features for values of main when the description lists none: arrays of their
 * dtype and shape, unknown dims flexible from 1 up. */
static int derive_features(wr *w, ir_value *const *vs, int n, ser_feature **out) {
    ser_feature *fs = pc_alloc(w->a, sizeof(*fs) * (size_t)(n ? n : 1));
    if (!fs) return OOM(w);
    for (int i = 0; i < n; i++) {
        const ir_type *t = &vs[i]->type;
        fs[i].name = vs[i]->name;
        fs[i].kind = t->kind == IR_TK_STATE ? SER_FEAT_STATE : SER_FEAT_ARRAY;
        fs[i].dtype = t->dtype;
        fs[i].rank = t->rank < 0 ? 0 : t->rank;
        for (int k = 0; k < fs[i].rank; k++) {
            fs[i].shape[k] = t->dims[k] >= 0 ? t->dims[k] : 1;
            fs[i].upper[k] = t->dims[k] >= 0 ? t->dims[k] : -1;
            if (t->dims[k] < 0) fs[i].flexible = 1;
        }
    }
    *out = fs;
    return 0;
}

/* The inputs of fn that are states (want 1) or not (want 0), into a new arena array; the count. */
static int inputs_of_kind(wr *w, const ir_function *fn, int want, ir_value ***out) {
    int n = 0;
    *out = pc_alloc(w->a, sizeof(ir_value *) * (size_t)(fn->nin ? fn->nin : 1));
    if (!*out) return OOM(w);
    for (int i = 0; i < fn->nin; i++)
        if ((fn->in[i]->type.kind == IR_TK_STATE) == want) (*out)[n++] = fn->in[i];
    return n;
}

/* The description matches main: the same input, state and output names. */
static int check_desc(wr *w, const ser_desc *d, const ir_function *fn) {
    if (d->ninputs + d->nstates != fn->nin)
        return pc_fail(w->e, PC_E_VALUE, "the description lists %d inputs and %d states, function main has %d inputs",
                       d->ninputs, d->nstates, fn->nin);
    for (int i = 0; i < d->nstates; i++) {
        const ir_value *v = d->states[i].name ? find_value(fn->in, fn->nin, d->states[i].name) : NULL;
        if (!v || v->type.kind != IR_TK_STATE)
            return pc_fail(w->e, PC_E_VALUE, "description state '%s' is not a state input of function main",
                           d->states[i].name ? d->states[i].name : "");
    }
    if (d->noutputs != fn->body->nout)
        return pc_fail(w->e, PC_E_VALUE, "the description lists %d outputs, function main has %d", d->noutputs,
                       fn->body->nout);
    for (int i = 0; i < d->ninputs; i++)
        if (!d->inputs[i].name || !find_value(fn->in, fn->nin, d->inputs[i].name))
            return pc_fail(w->e, PC_E_VALUE, "description input '%s' is not an input of function main",
                           d->inputs[i].name ? d->inputs[i].name : "");
    for (int i = 0; i < d->noutputs; i++)
        if (!d->outputs[i].name || !find_value(fn->body->out, fn->body->nout, d->outputs[i].name))
            return pc_fail(w->e, PC_E_VALUE, "description output '%s' is not an output of function main",
                           d->outputs[i].name ? d->outputs[i].name : "");
    return 0;
}

static Cml__Model *model_msg(wr *w, const ir_program *p, const ser_desc *d0) {
    const ir_function *main_fn = ir_program_main(p);
    if (!main_fn) {
        pc_fail(w->e, PC_E_VALUE, "the program has no functions");
        return NULL;
    }
    ser_desc d = *d0;
    for (int st = 0; st < 2; st++) {
        ir_value **vs;
        int n = inputs_of_kind(w, main_fn, st, &vs);
        if (n < 0) return NULL;
        if (n == 0 || (st ? d.nstates : d.ninputs) != 0) continue;
        if (derive_features(w, vs, n, st ? &d.states : &d.inputs)) return NULL;
        *(st ? &d.nstates : &d.ninputs) = n;
    }
    if (d.noutputs == 0 && main_fn->body->nout) {
        if (derive_features(w, main_fn->body->out, main_fn->body->nout, &d.outputs)) return NULL;
        d.noutputs = main_fn->body->nout;
    }
    if (check_desc(w, &d, main_fn)) return NULL;
    if (d.spec_version == 0) d.spec_version = 6;
    w->spec_version = d.spec_version;
    if (d.spec_version < 6) {
        pc_fail(w->e, PC_E_VALUE, "specification version %d cannot hold an ML Program (needs 6 = iOS15 or later)", d.spec_version);
        return NULL;
    }
    Cml__Model *m = NEW(w, Cml__Model, CML__MODEL__INIT);
    Cml__Program *pg = NEW(w, Cml__Program, CML__PROGRAM__INIT);
    if (!m || !pg) {
        OOM(w);
        return NULL;
    }
    m->specificationversion = d.spec_version;
    if (ser_desc_to_proto(&d, w->a, &m->description, w->e)) return NULL;
    pg->version = 1;
    pg->functions = pc_alloc(w->a, sizeof(*pg->functions) * (size_t)p->nfunc);
    if (!pg->functions) {
        OOM(w);
        return NULL;
    }
    for (int i = 0; i < p->nfunc; i++) {
        Cml__Program__FunctionEntry *fe = NEW(w, Cml__Program__FunctionEntry, CML__PROGRAM__FUNCTION_ENTRY__INIT);
        if (!fe) {
            OOM(w);
            return NULL;
        }
        fe->key = (char *)p->funcs[i]->name;
        if (!(fe->value = function_msg(w, p->funcs[i]))) return NULL;
        pg->functions[pg->n_functions++] = fe;
    }
    m->type_case = CML__MODEL__TYPE_ML_PROGRAM;
    m->mlprogram = pg;
    ser_blob_layout(w->blobs, w->nblobs);
    for (int i = 0; i < w->nblobs; i++) w->refs[i]->offset = w->blobs[i].meta_off;
    return m;
}

/* ---- the package ---- */

/* A new, empty directory beside `path` ("<dir>/.<name>.tmp-<uuid>"). */
static char *make_temp_dir(pc_arena *a, const char *path, pc_err *e) {
    const char *sl = strrchr(path, '/');
    const char *base = sl ? sl + 1 : path;
    int dlen = sl ? (int)(sl - path) : 0;
    for (int tries = 0; tries < 8; tries++) {
        char id[37];
        ser_uuid(id);
        char *t = sl ? pc_sprintf(a, "%.*s/.%s.tmp-%s", dlen, path, base, id) : pc_sprintf(a, ".%s.tmp-%s", base, id);
        if (!t) {
            pc_fail(e, PC_E_NOMEM, "out of memory");
            return NULL;
        }
        if (mkdir(t, 0777) == 0) return t;
        if (errno != EEXIST) {
            pc_fail(e, PC_E_IO, "cannot save %s: cannot create a directory beside it: %s", path, strerror(errno));
            return NULL;
        }
    }
    pc_fail(e, PC_E_IO, "cannot save %s: no free temporary name beside it", path);
    return NULL;
}

int ser_write_package(const ir_program *p, const ser_desc *d, const char *path_in, pc_progress *progress, pc_err *e) {
    if (!p || !d || !path_in || !*path_in) return pc_fail(e, PC_E_VALUE, "ser_write_package: missing program, description or path");
    pc_err local;
    if (!e) e = &local;
    wr w = {.e = e};
    w.a = pc_arena_new();
    if (!w.a) return pc_fail(e, PC_E_NOMEM, "out of memory");
    int rc = -1;
    char *tmp = NULL;
    uint8_t *buf = NULL;
    /* the target without trailing slashes */
    size_t pl = strlen(path_in);
    while (pl > 1 && path_in[pl - 1] == '/') pl--;
    char *path = pc_strndup(w.a, path_in, pl);
    if (!path) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto done;
    }
    Cml__Model *m = model_msg(&w, p, d);
    if (!m) goto done;
    size_t len = cml__model__get_packed_size(m);
    buf = malloc(len ? len : 1);
    if (!buf) {
        pc_fail(e, PC_E_NOMEM, "out of memory packing the model (%zu bytes)", len);
        goto done;
    }
    if (cml__model__pack(m, buf) != len) {
        pc_fail(e, PC_E_INTERNAL, "protobuf packing wrote an unexpected size");
        goto done;
    }
    if (!(tmp = make_temp_dir(w.a, path, e))) goto done;
    const char *data_dir = pc_sprintf(w.a, "%s/Data/com.apple.CoreML", tmp);
    const char *wdir = pc_sprintf(w.a, "%s/Data/com.apple.CoreML/weights", tmp);
    const char *wfile = pc_sprintf(w.a, "%s/Data/com.apple.CoreML/weights/weight.bin", tmp);
    const char *mfile = pc_sprintf(w.a, "%s/Data/com.apple.CoreML/model.mlmodel", tmp);
    if (!data_dir || !wdir || !wfile || !mfile) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto done;
    }
    if (ser_mkdirs(wdir, e)) goto done;
    /* like coremltools: no weight.bin when no const went to the blob file */
    if (w.nblobs && ser_blob_write(wfile, w.blobs, w.nblobs, p, progress, e)) goto done;
    if (ser_write_file(mfile, buf, len, e)) goto done;
    if (ser_write_manifest(tmp, e)) goto done;
    if (ser_replace_dir(tmp, path, e)) goto done;
    tmp = NULL;
    rc = 0;
done:
    if (tmp) ser_rmtree(tmp);
    free(buf);
    pc_arena_free(w.a);
    return rc;
}
