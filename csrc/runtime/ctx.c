/* ctx.c: what a kernel sees of the interpreter: inputs by parameter name, typed
 * views, parameter readers, output and scratch allocation. */
#include "runtime/rt_internal.h"

#include <stdarg.h>
#include <stdio.h>

int rt_fail(rt_ctx *c, const char *fmt, ...) {
    if (!c->e) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->e->msg, sizeof c->e->msg, fmt, ap);
    va_end(ap);
    c->e->kind = PC_E_RUNTIME;
    return -1;
}

int rt_fail_nomem(rt_ctx *c, const char *fmt, ...) {
    if (!c->e) return -1;
    char what[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    rt_fail(c, "out of memory (%s)", what);
    c->e->kind = PC_E_NOMEM;
    return -1;
}

int rt_portable_kernels(void) {
    const char *env = getenv("PT2COREML_RT_PORTABLE");
    return env && *env && strcmp(env, "0") != 0;
}

/* ---- inputs ---- */
const rt_tensor *rt_in_at(rt_ctx *c, const char *name, int j) {
    const ir_arg *a = ir_op_arg(c->op, name);
    if (!a || j < 0 || j >= a->n || !a->v[j]) return NULL;
    const rt_val *v = c->lookup(c, a->v[j]);
    return v ? &v->t : NULL;
}

const rt_tensor *rt_in(rt_ctx *c, const char *name) { return rt_in_at(c, name, 0); }

int rt_in_count(rt_ctx *c, const char *name) {
    const ir_arg *a = ir_op_arg(c->op, name);
    return a ? a->n : 0;
}

const rt_tensor *rt_in_req(rt_ctx *c, const char *name) {
    const rt_tensor *t = rt_in(c, name);
    if (!t) rt_fail(c, "missing required input '%s'", name);
    return t;
}

void *rt_scratch(rt_ctx *c, size_t bytes, int zero) {
    if (!c->scratch) {
        c->scratch = c->scratch0;
        c->capscratch = RT_MAX_SCRATCH;
    }
    if (c->nscratch == c->capscratch) {
        int cap = c->capscratch * 2;
        void **ns = malloc(sizeof(void *) * (size_t)cap);
        if (!ns) return rt_fail_nomem(c, "scratch list"), NULL;
        memcpy(ns, c->scratch, sizeof(void *) * (size_t)c->nscratch);
        if (c->scratch != c->scratch0) free(c->scratch);
        c->scratch = ns;
        c->capscratch = cap;
    }
    void *p = rt_pool_get(c->pool, bytes);
    if (p && zero) memset(p, 0, bytes);
    if (!p) return rt_fail_nomem(c, "%zu bytes of scratch", bytes), NULL;
    c->scratch[c->nscratch++] = p;
    return p;
}

const float *rt_f32(rt_ctx *c, const rt_tensor *t) {
    const rt_val *v = (const rt_val *)t;
    if (v->f32) return v->f32;
    if (t->dtype == IR_FP32) return t->data;
    if (t->dtype == IR_STRING || t->dtype == IR_DT_INVALID) {
        rt_fail(c, "expected a numeric tensor, got %s", ir_dtype_name(t->dtype));
        return NULL;
    }
    int64_t n = rt_numel(t);
    float *d = rt_scratch(c, sizeof(float) * (size_t)n, 0);
    if (d) rt_convert_par(d, IR_FP32, t->data, t->dtype, n);
    return d;
}

int rt_has_f32(const rt_tensor *t) { return ((const rt_val *)t)->f32 || t->dtype == IR_FP32; }

const float *rt_f32_part(const rt_tensor *t, int64_t off, int64_t n, float *buf) {
    const rt_val *v = (const rt_val *)t;
    if (v->f32) return v->f32 + off;
    if (t->dtype == IR_FP32) return (const float *)t->data + off;
    if (t->dtype == IR_FP16) pc_f16_to_f32_n(buf, (const uint16_t *)t->data + off, (size_t)n);
    else rt_convert(buf, IR_FP32, (const char *)t->data + off * (int64_t)ir_dtype_size(t->dtype), t->dtype, n);
    return buf;
}

int rt_fits_type(const ir_type *ty, int rank, const int64_t *dims) {
    int list = ty->kind == IR_TK_LIST; /* a list's value: its elements stacked on a new first axis */
    if (ty->rank < 0) return !list || rank >= 1;
    if (ty->rank + list != rank) return 0;
    for (int k = 0; k < ty->rank; k++)
        if (ty->dims[k] >= 0 && ty->dims[k] != dims[k + list]) return 0;
    return 1;
}

int rt_out_f16(rt_ctx *c, int i) { return i >= 0 && i < c->op->nout && c->op->out[i]->type.dtype == IR_FP16; }

const int64_t *rt_i64(rt_ctx *c, const rt_tensor *t) {
    if (t->dtype == IR_INT64) return t->data;
    if (t->dtype == IR_STRING || t->dtype == IR_DT_INVALID) {
        rt_fail(c, "expected a numeric tensor, got %s", ir_dtype_name(t->dtype));
        return NULL;
    }
    int64_t n = rt_numel(t);
    int64_t *d = rt_scratch(c, sizeof(int64_t) * (size_t)n, 0);
    if (d) rt_convert(d, IR_INT64, t->data, t->dtype, n);
    return d;
}

/* ---- parameters ---- */
static int numeric(rt_ctx *c, const char *name, const rt_tensor *t) {
    if (t->dtype == IR_STRING || t->dtype == IR_DT_INVALID)
        return rt_fail(c, "parameter '%s' must be numeric, got %s", name, ir_dtype_name(t->dtype));
    return 0;
}

/* The ops.def row's entry for `name` of the running op: NULL with an error when the row lacks it. */
static const ir_param *row_param(rt_ctx *c, const char *name) {
    const ir_param *p = ir_op_param(c->op->kind, name);
    if (!p) rt_fail(c, "'%s' is not a parameter of %s in ops.def", name, ir_op_kind_name(c->op->kind));
    return p;
}

/* An absent parameter: 1 with the row's default in *p, or -1 with an error (required, or no default). */
static int row_default(rt_ctx *c, const char *name, const ir_param **p) {
    if (!(*p = row_param(c, name))) return -1;
    if ((*p)->dflt != IR_PD_VALUE && (*p)->required) return rt_fail(c, "missing required input '%s'", name);
    if ((*p)->dflt != IR_PD_VALUE) return rt_fail(c, "ops.def gives %s's parameter '%s' no default", ir_op_kind_name(c->op->kind), name);
    return 1;
}

int rt_param_ints(rt_ctx *c, const char *name, int64_t *dst, int max, int *n) {
    const rt_tensor *t = rt_in(c, name);
    const ir_param *p = row_param(c, name);
    *n = -1;
    if (!p) return -1;
    if (!t) return p->required ? rt_fail(c, "missing required input '%s'", name) : 0;
    if (numeric(c, name, t)) return -1;
    int64_t cnt = rt_numel(t);
    if (cnt > max) return rt_fail(c, "parameter '%s' has %lld elements (at most %d allowed)", name, (long long)cnt, max);
    rt_convert(dst, IR_INT64, t->data, t->dtype, cnt);
    *n = (int)cnt;
    return 0;
}

/* One number of t into *out (as int64 or fp64). */
static int scalar(rt_ctx *c, const char *name, const rt_tensor *t, ir_dtype as, void *out) {
    if (numeric(c, name, t)) return -1;
    if (rt_numel(t) != 1) return rt_fail(c, "parameter '%s' must be a scalar (has %lld elements)", name, (long long)rt_numel(t));
    rt_convert(out, as, t->data, t->dtype, 1);
    return 0;
}

int rt_param_int(rt_ctx *c, const char *name, int64_t *out) {
    const rt_tensor *t = rt_in(c, name);
    const ir_param *p;
    if (t) return row_param(c, name) ? scalar(c, name, t, IR_INT64, out) : -1;
    if (row_default(c, name, &p) < 0) return -1;
    *out = (int64_t)p->num;
    return 0;
}

int rt_param_int_or(rt_ctx *c, const char *name, int64_t def, int64_t *out) {
    const rt_tensor *t = rt_in(c, name);
    *out = def;
    if (!row_param(c, name)) return -1;
    return t ? scalar(c, name, t, IR_INT64, out) : 0;
}

int rt_param_bool(rt_ctx *c, const char *name, int *out) {
    int64_t v;
    if (rt_param_int(c, name, &v)) return -1;
    *out = v != 0;
    return 0;
}

int rt_param_bool_or(rt_ctx *c, const char *name, int def, int *out) {
    int64_t v;
    if (rt_param_int_or(c, name, def, &v)) return -1;
    *out = v != 0;
    return 0;
}

int rt_param_float(rt_ctx *c, const char *name, double *out) {
    const rt_tensor *t = rt_in(c, name);
    const ir_param *p;
    if (t) return row_param(c, name) ? scalar(c, name, t, IR_FP64, out) : -1;
    if (row_default(c, name, &p) < 0) return -1;
    *out = p->num;
    return 0;
}

int rt_param_float_or(rt_ctx *c, const char *name, double def, double *out) {
    const rt_tensor *t = rt_in(c, name);
    *out = def;
    if (!row_param(c, name)) return -1;
    return t ? scalar(c, name, t, IR_FP64, out) : 0;
}

const char *rt_param_str(rt_ctx *c, const char *name) {
    const rt_tensor *t = rt_in(c, name);
    const ir_param *p;
    if (!t) return row_default(c, name, &p) < 0 ? NULL : p->str;
    if (!row_param(c, name)) return NULL;
    if (t->dtype != IR_STRING || rt_numel(t) != 1 || !t->data) {
        rt_fail(c, "parameter '%s' must be a string", name);
        return NULL;
    }
    const char *s = ((const char *const *)t->data)[0];
    return s ? s : "";
}

/* ---- outputs ---- */
void *rt_out(rt_ctx *c, int i, int rank, const int64_t *dims, ir_dtype kdt) {
    const ir_op *op = c->op;
    if (i < 0 || i >= op->nout || i >= RT_MAX_OUTS) {
        rt_fail(c, "internal: output %d of an op with %d outputs", i, op->nout);
        return NULL;
    }
    const ir_type *ty = &op->out[i]->type;
    char sa[200], sb[200];
    if (!rt_fits_type(ty, rank, dims))
        return rt_fail(c, "computed output shape %s but the program declares %s for '%s'", rt_dims_str(rank, dims, sa, sizeof sa),
                       ir_type_str(ty, sb, sizeof sb), op->out[i]->name),
               NULL;
    for (int k = 0; k < rank; k++)
        if (dims[k] < 0) return rt_fail(c, "negative output dim %lld", (long long)dims[k]), NULL;
    ir_dtype dt = ty->dtype;
    if (dt == IR_DT_INVALID) dt = kdt;
    rt_tensor *t = &c->outs[i];
    if (t->data) {
        rt_fail(c, "internal: output %d allocated twice", i);
        return NULL;
    }
    int64_t n = rt_numel_dims(rank, dims);
    size_t es = ir_dtype_size(dt);
    if (!es || dt == IR_STRING) return rt_fail(c, "cannot produce a %s tensor", ir_dtype_name(dt)), NULL;
    t->data = rt_pool_get(c->pool, n ? (size_t)n * es : 1);
    if (!t->data) return rt_fail_nomem(c, "output of %lld elements", (long long)n), NULL;
    t->owned = 1;
    t->dtype = dt;
    t->rank = rank;
    for (int k = 0; k < rank; k++) t->dims[k] = dims[k];
    if (kdt == dt) return t->data;
    void *p = rt_scratch(c, n ? (size_t)n * ir_dtype_size(kdt) : 1, 0);
    if (!p) return NULL;
    c->pending[i] = p;
    c->pending_dt[i] = kdt;
    return p;
}
