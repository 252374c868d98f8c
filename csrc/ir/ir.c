/* ir.c: building, editing and walking the IR (see ir.h). */
#include "ir/ir.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static const char *const op_names[] = {
#define IR_OP(E, NAME, ...) NAME,
#include "ir/ops.def"
#undef IR_OP
};
static_assert(sizeof(op_names) / sizeof(op_names[0]) == IR_OP_COUNT, "ops.def and ir_opkind disagree");

const char *ir_op_kind_name(ir_opkind k) { return (k >= 0 && k < IR_OP_COUNT) ? op_names[k] : "?"; }

ir_opkind ir_op_kind_from_name(const char *s) {
    if (!s) return IR_OP_UNKNOWN;
    for (int i = 0; i < IR_OP_COUNT; i++)
        if (strcmp(op_names[i], s) == 0) return (ir_opkind)i;
    return IR_OP_UNKNOWN;
}

/* ---- dtypes ---- */
static const struct { const char *name; size_t size; } dtypes[IR_DT_COUNT] = {
    [IR_DT_INVALID] = {"invalid", 0}, [IR_BOOL] = {"bool", 1},     [IR_FP16] = {"fp16", 2},
    [IR_FP32] = {"fp32", 4},          [IR_FP64] = {"fp64", 8},     [IR_INT8] = {"int8", 1},
    [IR_INT16] = {"int16", 2},        [IR_INT32] = {"int32", 4},   [IR_INT64] = {"int64", 8},
    [IR_UINT8] = {"uint8", 1},        [IR_UINT16] = {"uint16", 2}, [IR_UINT32] = {"uint32", 4},
    [IR_UINT64] = {"uint64", 8},      [IR_STRING] = {"string", sizeof(char *)},
};

const char *ir_dtype_name(ir_dtype t) { return (t > 0 && t < IR_DT_COUNT) ? dtypes[t].name : "invalid"; }

ir_dtype ir_dtype_from_name(const char *s) {
    for (int i = 1; i < IR_DT_COUNT; i++)
        if (strcmp(dtypes[i].name, s) == 0) return (ir_dtype)i;
    return IR_DT_INVALID;
}

size_t ir_dtype_size(ir_dtype t) { return (t > 0 && t < IR_DT_COUNT) ? dtypes[t].size : 0; }
int ir_dtype_is_float(ir_dtype t) { return t == IR_FP16 || t == IR_FP32 || t == IR_FP64; }
int ir_dtype_is_int(ir_dtype t) { return t >= IR_INT8 && t <= IR_UINT64; }

/* ---- types ---- */
ir_type ir_tensor_type(ir_dtype dt, int rank, const int64_t *dims) {
    ir_type t;
    memset(&t, 0, sizeof t);
    t.kind = IR_TK_TENSOR;
    t.dtype = dt;
    t.rank = rank;
    for (int i = 0; i < rank && i < IR_MAX_RANK; i++) t.dims[i] = dims ? dims[i] : 0;
    return t;
}

ir_type ir_scalar_type(ir_dtype dt) { return ir_tensor_type(dt, 0, NULL); }

int ir_type_equal(const ir_type *a, const ir_type *b) {
    if (a->kind != b->kind || a->dtype != b->dtype || a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

int ir_type_is_static(const ir_type *t) {
    if (t->rank < 0) return 0;
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] < 0) return 0;
    return 1;
}

int64_t ir_type_numel(const ir_type *t) {
    if (!ir_type_is_static(t)) return -1;
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) n *= t->dims[i];
    return n;
}

int ir_type_too_large(const ir_type *t) {
    int64_t n = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] <= 0) continue; /* symbolic or empty */
        if (n > IR_MAX_ELEMS / t->dims[i]) return 1;
        n *= t->dims[i];
    }
    return 0;
}

char *ir_type_str(const ir_type *t, char *buf, size_t n) {
    size_t k = 0;
    if (t->kind == IR_TK_DICT) {
        snprintf(buf, n, "dict<%s,fp64>", ir_dtype_name(t->dtype));
        return buf;
    }
    k += (size_t)snprintf(buf, n, "%s%s", t->kind == IR_TK_LIST ? "list<" : t->kind == IR_TK_STATE ? "state<" : "",
                          ir_dtype_name(t->dtype));
    if (t->rank < 0) {
        k += (size_t)snprintf(buf + PC_MIN(k, n), n - PC_MIN(k, n), "[*]");
    } else {
        k += (size_t)snprintf(buf + PC_MIN(k, n), n - PC_MIN(k, n), "[");
        for (int i = 0; i < t->rank; i++) {
            int64_t d = t->dims[i];
            if (d >= 0)
                k += (size_t)snprintf(buf + PC_MIN(k, n), n - PC_MIN(k, n), "%s%lld", i ? "," : "", (long long)d);
            else
                k += (size_t)snprintf(buf + PC_MIN(k, n), n - PC_MIN(k, n), "%ss%lld", i ? "," : "",
                                      (long long)(-d - 1));
        }
        k += (size_t)snprintf(buf + PC_MIN(k, n), n - PC_MIN(k, n), "]");
    }
    if (t->kind == IR_TK_LIST || t->kind == IR_TK_STATE) snprintf(buf + PC_MIN(k, n), n - PC_MIN(k, n), ">");
    return buf;
}

/* ---- constants ---- */
static double raw_f64(const ir_const *c, int64_t i) {
    const void *d = c->data;
    switch (c->store) {
    case IR_BOOL: return ((const uint8_t *)d)[i] ? 1.0 : 0.0;
    case IR_FP16: return pc_f16_to_f32(((const uint16_t *)d)[i]);
    case IR_FP32: return ((const float *)d)[i];
    case IR_FP64: return ((const double *)d)[i];
    case IR_INT8: return ((const int8_t *)d)[i];
    case IR_INT16: return ((const int16_t *)d)[i];
    case IR_INT32: return ((const int32_t *)d)[i];
    case IR_INT64: return (double)((const int64_t *)d)[i];
    case IR_UINT8: return ((const uint8_t *)d)[i];
    case IR_UINT16: return ((const uint16_t *)d)[i];
    case IR_UINT32: return ((const uint32_t *)d)[i];
    case IR_UINT64: return (double)((const uint64_t *)d)[i];
    default: return 0.0;
    }
}

double ir_const_get_f64(const ir_const *c, int64_t i) {
    double x = raw_f64(c, i);
    return c->scale ? x * c->scale[i / c->scale_inner] : x;
}

int64_t ir_const_get_i64(const ir_const *c, int64_t i) {
    switch (c->store) {
    case IR_INT64: return ((const int64_t *)c->data)[i];
    case IR_UINT64: return (int64_t)((const uint64_t *)c->data)[i];
    case IR_INT32: return ((const int32_t *)c->data)[i];
    default: return (int64_t)ir_const_get_f64(c, i);
    }
}

void ir_const_read_f32_range(const ir_const *c, int64_t start, int64_t n, float *dst) {
    if (c->store == IR_FP32) {
        memcpy(dst, (const float *)c->data + start, sizeof(float) * (size_t)n);
    } else if (c->store == IR_FP16) {
        pc_f16_to_f32_n(dst, (const uint16_t *)c->data + start, (size_t)n);
    } else {
        for (int64_t i = 0; i < n; i++) dst[i] = (float)raw_f64(c, start + i);
    }
    if (c->scale) { /* one run of equal scale per slice: no division per element */
        int64_t in = c->scale_inner, s = start / in, i = 0;
        while (i < n) {
            int64_t run = PC_MIN(n - i, (s + 1) * in - (start + i));
            float k = c->scale[s++];
            for (int64_t j = 0; j < run; j++) dst[i + j] *= k;
            i += run;
        }
    }
}

void ir_const_read_f32(const ir_const *c, float *dst) { ir_const_read_f32_range(c, 0, c->count, dst); }

void ir_const_read_i64(const ir_const *c, int64_t *dst) {
    for (int64_t i = 0; i < c->count; i++) dst[i] = ir_const_get_i64(c, i);
}

/* ---- program ---- */
typedef struct ir_hold {
    struct ir_hold *next;
    void *obj;
    void (*release)(void *);
    void (*pages_done)(void *, const void *, size_t); /* a pager (ir_program_add_pager) */
} ir_hold;

ir_program *ir_program_new(void) {
    pc_arena *a = pc_arena_new();
    if (!a) return NULL;
    ir_program *p = pc_alloc(a, sizeof *p);
    if (!p) {
        pc_arena_free(a);
        return NULL;
    }
    p->arena = a;
    return p;
}

void ir_program_free(ir_program *p) {
    if (!p) return;
    for (ir_hold *h = p->holds; h; h = h->next)
        if (h->release) h->release(h->obj);
    pc_arena_free(p->arena);
}

/* A new entry of p's holds list: obj with its release (a hold) or its pages_done (a pager). */
static int add_hold(ir_program *p, void *obj, void (*release)(void *),
                    void (*pages_done)(void *obj, const void *data, size_t n)) {
    ir_hold *h = pc_alloc(p->arena, sizeof *h);
    if (!h) return -1;
    h->obj = obj;
    h->release = release;
    h->pages_done = pages_done;
    h->next = p->holds;
    p->holds = h;
    return 0;
}

int ir_program_hold(ir_program *p, void *obj, void (*release)(void *)) { return add_hold(p, obj, release, NULL); }

int ir_program_add_pager(ir_program *p, void *obj, void (*pages_done)(void *obj, const void *data, size_t n)) {
    return add_hold(p, obj, NULL, pages_done);
}

void ir_program_pages_done(const ir_program *p, const void *data, size_t n) {
    if (!p || !data || !n) return;
    for (const ir_hold *h = p->holds; h; h = h->next)
        if (h->pages_done) h->pages_done(h->obj, data, n);
}

ir_function *ir_function_new(ir_program *p, const char *name, const char *opset) {
    ir_function *f = pc_alloc(p->arena, sizeof *f);
    if (!f) return NULL;
    f->name = pc_strdup(p->arena, name);
    f->opset = pc_strdup(p->arena, opset ? opset : "CoreML5");
    f->prog = p;
    f->body = ir_block_new(p, f, NULL);
    ir_function **fs = pc_alloc(p->arena, sizeof(*fs) * (size_t)(p->nfunc + 1));
    if (!f->name || !f->opset || !f->body || !fs) return NULL;
    if (p->nfunc) memcpy(fs, p->funcs, sizeof(*fs) * (size_t)p->nfunc);
    fs[p->nfunc++] = f;
    p->funcs = fs;
    return f;
}

ir_function *ir_program_main(const ir_program *p) {
    for (int i = 0; i < p->nfunc; i++)
        if (strcmp(p->funcs[i]->name, "main") == 0) return p->funcs[i];
    return p->nfunc ? p->funcs[0] : NULL;
}

const char *ir_fresh_name(ir_program *p, const char *prefix) {
    return pc_sprintf(p->arena, "%s_%d", prefix ? prefix : "var", p->name_counter++);
}

/* ---- building ---- */
ir_value *ir_value_new(ir_program *p, const char *name, ir_type t) {
    ir_value *v = pc_alloc(p->arena, sizeof *v);
    if (!v) return NULL;
    v->name = name ? pc_strdup(p->arena, name) : ir_fresh_name(p, "var");
    if (!v->name) return NULL;
    v->type = t;
    v->id = p->next_value_id++;
    return v;
}

static int grow_values(pc_arena *a, ir_value ***arr, int n, ir_value *v) {
    ir_value **na = pc_alloc(a, sizeof(*na) * (size_t)(n + 1));
    if (!na) return -1;
    if (n) memcpy(na, *arr, sizeof(*na) * (size_t)n);
    na[n] = v;
    *arr = na;
    return 0;
}

ir_value *ir_function_add_input(ir_function *f, const char *name, ir_type t) {
    ir_value *v = ir_value_new(f->prog, name, t);
    if (!v || grow_values(f->prog->arena, &f->in, f->nin, v)) return NULL;
    f->nin++;
    return v;
}

ir_block *ir_block_new(ir_program *p, ir_function *fn, ir_op *parent) {
    ir_block *b = pc_alloc(p->arena, sizeof *b);
    if (!b) return NULL;
    b->fn = fn;
    b->prog = p;
    b->parent = parent;
    return b;
}

ir_value *ir_block_add_input(ir_block *b, const char *name, ir_type t) {
    ir_program *p = b->prog;
    ir_value *v = ir_value_new(p, name, t);
    if (!v || grow_values(p->arena, &b->in, b->nin, v)) return NULL;
    b->nin++;
    return v;
}

int ir_block_set_outputs(ir_block *b, int n, ir_value *const *vals) {
    ir_value **o = pc_alloc(b->prog->arena, sizeof(*o) * (size_t)(n ? n : 1));
    if (!o) return -1;
    for (int i = 0; i < n; i++) o[i] = vals[i];
    b->out = o;
    b->nout = n;
    return 0;
}

ir_op *ir_op_new(ir_program *p, ir_block *b, ir_opkind k, const char *name) {
    ir_op *op = pc_alloc(p->arena, sizeof *op);
    if (!op) return NULL;
    op->kind = k;
    op->prog = p;
    op->type_name = ir_op_kind_name(k);
    op->name = name ? pc_strdup(p->arena, name) : ir_fresh_name(p, ir_op_kind_name(k));
    if (!op->name) return NULL;
    if (b) ir_op_append(b, op);
    return op;
}

static pc_arena *op_arena(ir_op *op) { return op->prog->arena; }

int ir_op_set_inputs(ir_op *op, const char *pname, int n, ir_value *const *v) {
    pc_arena *a = op_arena(op);
    ir_value **vv = pc_alloc(a, sizeof(*vv) * (size_t)(n ? n : 1));
    if (!vv) return -1;
    for (int i = 0; i < n; i++) vv[i] = v[i];
    for (int i = 0; i < op->nin; i++) {
        if (strcmp(op->in[i].name, pname) == 0) {
            op->in[i].n = n;
            op->in[i].v = vv;
            return 0;
        }
    }
    if (op->nin == op->incap) {
        int cap = op->incap ? op->incap * 2 : 4;
        ir_arg *na = pc_alloc(a, sizeof(*na) * (size_t)cap);
        if (!na) return -1;
        if (op->nin) memcpy(na, op->in, sizeof(*na) * (size_t)op->nin);
        op->in = na;
        op->incap = cap;
    }
    ir_arg *arg = &op->in[op->nin];
    arg->name = pc_strdup(a, pname);
    if (!arg->name) return -1;
    arg->n = n;
    arg->v = vv;
    op->nin++;
    return 0;
}

int ir_op_set_input(ir_op *op, const char *pname, ir_value *v) { return ir_op_set_inputs(op, pname, 1, &v); }

ir_value *ir_op_add_output(ir_op *op, const char *name, ir_type t) {
    ir_program *p = op->prog;
    const char *nm = name;
    if (!nm) nm = op->nout == 0 ? op->name : pc_sprintf(p->arena, "%s_%d", op->name, op->nout);
    ir_value *v = ir_value_new(p, nm, t);
    if (!v || grow_values(p->arena, &op->out, op->nout, v)) return NULL;
    v->def = op;
    v->def_index = op->nout++;
    return v;
}

ir_block *ir_op_add_block(ir_op *op) {
    ir_program *p = op->prog;
    ir_block *b = ir_block_new(p, op->parent ? op->parent->fn : NULL, op);
    ir_block **nb = pc_alloc(p->arena, sizeof(*nb) * (size_t)(op->nblocks + 1));
    if (!b || !nb) return NULL;
    if (op->nblocks) memcpy(nb, op->blocks, sizeof(*nb) * (size_t)op->nblocks);
    nb[op->nblocks++] = b;
    op->blocks = nb;
    return b;
}

const ir_arg *ir_op_arg(const ir_op *op, const char *pname) {
    for (int i = 0; i < op->nin; i++)
        if (strcmp(op->in[i].name, pname) == 0) return &op->in[i];
    return NULL;
}

ir_value *ir_op_input(const ir_op *op, const char *pname) {
    const ir_arg *a = ir_op_arg(op, pname);
    return (a && a->n > 0) ? a->v[0] : NULL;
}

/* ---- list surgery ---- */
void ir_op_append(ir_block *b, ir_op *op) {
    op->parent = b;
    op->next = NULL;
    op->prev = b->last;
    if (b->last) b->last->next = op;
    else b->first = op;
    b->last = op;
}

void ir_op_insert_before(ir_op *pos, ir_op *op) {
    ir_block *b = pos->parent;
    op->parent = b;
    op->next = pos;
    op->prev = pos->prev;
    if (pos->prev) pos->prev->next = op;
    else b->first = op;
    pos->prev = op;
}

void ir_op_insert_after(ir_op *pos, ir_op *op) {
    if (pos->next) {
        ir_op_insert_before(pos->next, op);
    } else {
        ir_op_append(pos->parent, op);
    }
}

void ir_op_unlink(ir_op *op) {
    ir_block *b = op->parent;
    if (!b) return;
    if (op->prev) op->prev->next = op->next;
    else b->first = op->next;
    if (op->next) op->next->prev = op->prev;
    else b->last = op->prev;
    op->prev = op->next = NULL;
    op->parent = NULL;
}

static int replace_in_block(ir_block *b, ir_value *from, ir_value *to) {
    int n = 0;
    for (ir_op *op = b->first; op; op = op->next) {
        for (int i = 0; i < op->nin; i++)
            for (int j = 0; j < op->in[i].n; j++)
                if (op->in[i].v[j] == from) {
                    op->in[i].v[j] = to;
                    n++;
                }
        for (int k = 0; k < op->nblocks; k++) n += replace_in_block(op->blocks[k], from, to);
    }
    for (int i = 0; i < b->nout; i++)
        if (b->out[i] == from) {
            b->out[i] = to;
            n++;
        }
    return n;
}

int ir_replace_uses(ir_function *fn, ir_value *from, ir_value *to) {
    if (from->src_name && from != to) to->src_name = from->src_name; /* the debugger's torch counterpart follows */
    return replace_in_block(fn->body, from, to);
}

static void zero_uses(ir_block *b) {
    for (int i = 0; i < b->nin; i++) b->in[i]->nuses = 0;
    for (ir_op *op = b->first; op; op = op->next) {
        for (int i = 0; i < op->nout; i++) op->out[i]->nuses = 0;
        for (int k = 0; k < op->nblocks; k++) zero_uses(op->blocks[k]);
    }
}

static void add_uses(ir_block *b) {
    for (ir_op *op = b->first; op; op = op->next) {
        for (int i = 0; i < op->nin; i++)
            for (int j = 0; j < op->in[i].n; j++) op->in[i].v[j]->nuses++;
        for (int k = 0; k < op->nblocks; k++) add_uses(op->blocks[k]);
    }
    for (int i = 0; i < b->nout; i++) b->out[i]->nuses++;
}

void ir_count_uses(ir_function *fn) {
    for (int i = 0; i < fn->nin; i++) fn->in[i]->nuses = 0;
    zero_uses(fn->body);
    add_uses(fn->body);
}

/* ---- constants ---- */
ir_value *ir_const_new(ir_program *p, ir_block *b, const char *name, ir_type t, ir_dtype store,
                       const void *data, int copy) {
    int64_t count = ir_type_numel(&t);
    if (count < 0) return NULL;
    ir_op *op = ir_op_new(p, b, IR_OP_CONST, name);
    if (!op) return NULL;
    ir_const *c = pc_alloc(p->arena, sizeof *c);
    if (!c) return NULL;
    c->store = store;
    c->count = count;
    if (store == IR_STRING) {
        const char **ss = pc_alloc(p->arena, sizeof(char *) * (size_t)(count ? count : 1));
        if (!ss) return NULL;
        for (int64_t i = 0; i < count; i++) {
            ss[i] = pc_strdup(p->arena, ((const char *const *)data)[i]);
            if (!ss[i]) return NULL;
        }
        c->data = ss;
    } else if (copy) {
        size_t nb = ir_dtype_size(store) * (size_t)count;
        void *d = pc_alloc_aligned(p->arena, nb, 64);
        if (!d) return NULL;
        if (nb) memcpy(d, data, nb);
        c->data = d;
    } else {
        c->data = data;
    }
    ir_value *v = ir_op_add_output(op, NULL, t);
    if (!v) return NULL;
    v->konst = c;
    return v;
}

ir_value *ir_const_f32(ir_program *p, ir_block *b, const char *name, float v) {
    return ir_const_new(p, b, name, ir_scalar_type(IR_FP32), IR_FP32, &v, 1);
}

ir_value *ir_const_i32(ir_program *p, ir_block *b, const char *name, int32_t v) {
    return ir_const_new(p, b, name, ir_scalar_type(IR_INT32), IR_INT32, &v, 1);
}

ir_value *ir_const_bool(ir_program *p, ir_block *b, const char *name, int v) {
    uint8_t x = v ? 1 : 0;
    return ir_const_new(p, b, name, ir_scalar_type(IR_BOOL), IR_BOOL, &x, 1);
}

ir_value *ir_const_str(ir_program *p, ir_block *b, const char *name, const char *s) {
    return ir_const_new(p, b, name, ir_scalar_type(IR_STRING), IR_STRING, &s, 1);
}

ir_value *ir_const_i32_vec(ir_program *p, ir_block *b, const char *name, int n, const int64_t *v) {
    int32_t *tmp = pc_alloc(p->arena, sizeof(int32_t) * (size_t)(n ? n : 1));
    if (!tmp) return NULL;
    for (int i = 0; i < n; i++) tmp[i] = (int32_t)v[i];
    int64_t d = n;
    return ir_const_new(p, b, name, ir_tensor_type(IR_INT32, 1, &d), IR_INT32, tmp, 0);
}

ir_value *ir_const_f32_vec(ir_program *p, ir_block *b, const char *name, int n, const float *v) {
    int64_t d = n;
    return ir_const_new(p, b, name, ir_tensor_type(IR_FP32, 1, &d), IR_FP32, v, 1);
}

/* ---- walking ---- */
static int walk_block(ir_block *b, int (*f)(ir_op *, void *), void *ctx) {
    for (ir_op *op = b->first, *next; op; op = next) {
        next = op->next; /* f may unlink op */
        int r = f(op, ctx);
        if (r) return r;
        for (int k = 0; k < op->nblocks; k++) {
            r = walk_block(op->blocks[k], f, ctx);
            if (r) return r;
        }
    }
    return 0;
}

int ir_walk(ir_function *fn, int (*f)(ir_op *op, void *ctx), void *ctx) { return walk_block(fn->body, f, ctx); }
