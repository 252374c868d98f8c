/* infer.c: shape inference entry points, the helpers every rule uses, and the
 * rules for elementwise, activation, reduction and small ops. Convolution-like
 * ops live in infer_nn.c, shape-moving ops in infer_shape.c. The rules follow
 * the MIL op definitions (coremltools ops/defs/iOS15): parameter names, their
 * defaults, and dtype promotion for elementwise binary ops.
 */
#include "ir/infer_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- helpers ---- */
int inf_fail(infer_ctx *c, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const ir_op *op = c->op;
    return pc_fail(c->e, PC_E_VALUE, "%s '%s'%s%s: %s", op->type_name ? op->type_name : "?", op->name ? op->name : "",
                   op->loc ? " at " : "", op->loc ? op->loc : "", msg);
}

const char *inf_tstr(const ir_type *t) {
    static _Thread_local char ring[4][160];
    static _Thread_local int k;
    k = (k + 1) % 4;
    return ir_type_str(t, ring[k], sizeof ring[k]);
}

int inf_input(infer_ctx *c, const char *name, int required, const ir_type **t) {
    const ir_arg *a = ir_op_arg(c->op, name);
    *t = NULL;
    if (!a || a->n == 0) return required ? inf_fail(c, "missing required input '%s'", name) : 0;
    if (a->n != 1) return inf_fail(c, "input '%s' takes one value, got %d", name, a->n);
    *t = &a->v[0]->type;
    return 0;
}

/* The const payload of param `name`; NULL with *absent = 1 if the param is not given. */
static const ir_const *param_const(infer_ctx *c, const char *name, int *absent, int *err) {
    const ir_arg *a = ir_op_arg(c->op, name);
    *absent = 0;
    *err = 0;
    if (!a || a->n == 0) {
        *absent = 1;
        return NULL;
    }
    if (a->n != 1 || !a->v[0]->konst) {
        *err = inf_fail(c, "parameter '%s' must be a constant", name);
        return NULL;
    }
    return a->v[0]->konst;
}

/* The ops.def row's entry for `name` (an internal error when the row lacks it). */
static const ir_param *row_param(infer_ctx *c, const char *name) {
    const ir_param *p = ir_op_param(c->op->kind, name);
    if (!p) pc_fail(c->e, PC_E_INTERNAL, "ir_infer: '%s' is not a parameter of %s in ops.def", name, ir_op_kind_name(c->op->kind));
    return p;
}

/* An absent parameter: the row's default (*has = 1), nothing for an optional one without default
 * (*has = 0), an error for a required one. */
static int row_default(infer_ctx *c, const char *name, int *has, double *num, const char **str) {
    const ir_param *p = row_param(c, name);
    *has = 0;
    if (!p) return -1;
    if (p->dflt != IR_PD_VALUE) return p->required ? inf_fail(c, "missing required input '%s'", name) : 0;
    *has = 1;
    *num = p->num;
    *str = p->str;
    return 0;
}

static int no_default(infer_ctx *c, const char *name) {
    return pc_fail(c->e, PC_E_INTERNAL, "ir_infer: ops.def gives %s's parameter '%s' no default", ir_op_kind_name(c->op->kind), name);
}

static int read_int(infer_ctx *c, const char *name, int has_dflt, int64_t dflt, int64_t *v) {
    int absent, err;
    const ir_const *k = param_const(c, name, &absent, &err);
    if (err || !row_param(c, name)) return -1;
    if (absent) {
        double num = 0;
        const char *str;
        int has = 0;
        if (!has_dflt && row_default(c, name, &has, &num, &str)) return -1;
        if (!has_dflt && !has) return no_default(c, name);
        *v = has_dflt ? dflt : (int64_t)num;
        return 0;
    }
    if (k->count != 1 || k->store == IR_STRING) return inf_fail(c, "parameter '%s' must be one integer", name);
    *v = ir_const_get_i64(k, 0);
    return 0;
}

int inf_int(infer_ctx *c, const char *name, int64_t *v) { return read_int(c, name, 0, 0, v); }
int inf_int_or(infer_ctx *c, const char *name, int64_t dflt, int64_t *v) { return read_int(c, name, 1, dflt, v); }

static int read_float(infer_ctx *c, const char *name, int has_dflt, double dflt, double *v) {
    int absent, err;
    const ir_const *k = param_const(c, name, &absent, &err);
    if (err || !row_param(c, name)) return -1;
    if (absent) {
        const char *str;
        int has = 0;
        if (!has_dflt && row_default(c, name, &has, v, &str)) return -1;
        if (!has_dflt && !has) return no_default(c, name);
        if (has_dflt) *v = dflt;
        return 0;
    }
    if (k->count != 1 || k->store == IR_STRING) return inf_fail(c, "parameter '%s' must be one number", name);
    *v = ir_const_get_f64(k, 0);
    return 0;
}

int inf_float(infer_ctx *c, const char *name, double *v) { return read_float(c, name, 0, 0, v); }
int inf_float_or(infer_ctx *c, const char *name, double dflt, double *v) { return read_float(c, name, 1, dflt, v); }

int inf_bool(infer_ctx *c, const char *name, int *v) {
    int64_t x = 0;
    if (inf_int(c, name, &x)) return -1;
    *v = x != 0;
    return 0;
}

int inf_bool_or(infer_ctx *c, const char *name, int dflt, int *v) {
    int64_t x = 0;
    if (inf_int_or(c, name, dflt, &x)) return -1;
    *v = x != 0;
    return 0;
}

int inf_str(infer_ctx *c, const char *name, const char **v) {
    int absent, err;
    const ir_const *k = param_const(c, name, &absent, &err);
    if (err || !row_param(c, name)) return -1;
    if (absent) {
        double num;
        int has = 0;
        *v = NULL;
        if (row_default(c, name, &has, &num, v)) return -1;
        if (!has) *v = NULL;
        return 0;
    }
    if (k->count != 1 || k->store != IR_STRING) return inf_fail(c, "parameter '%s' must be a string", name);
    *v = ((const char *const *)k->data)[0];
    return 0;
}

int inf_ints(infer_ctx *c, const char *name, int allow_dyn, int64_t *v, int max, int *n) {
    const ir_arg *a = ir_op_arg(c->op, name);
    const ir_param *p = row_param(c, name);
    *n = -1;
    if (!p) return -1;
    if (!a || a->n == 0) return p->required ? inf_fail(c, "missing required input '%s'", name) : 0;
    if (a->n != 1) return inf_fail(c, "input '%s' takes one value, got %d", name, a->n);
    const ir_const *k = a->v[0]->konst;
    if (!k) return allow_dyn ? 0 : inf_fail(c, "parameter '%s' must be a constant", name);
    if (k->store == IR_STRING || a->v[0]->type.rank > 1) return inf_fail(c, "parameter '%s' must be a list of integers", name);
    if (k->count > max) return inf_fail(c, "parameter '%s' has %lld entries, at most %d allowed", name, (long long)k->count, max);
    for (int64_t i = 0; i < k->count; i++) v[i] = ir_const_get_i64(k, i);
    *n = (int)k->count;
    return 0;
}

int inf_axis(infer_ctx *c, const char *what, int64_t axis, int rank, int *out) {
    if (axis < -rank || axis >= rank || rank == 0)
        return inf_fail(c, "%s %lld out of range for rank %d", what, (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 0;
}

int64_t inf_fresh(infer_ctx *c) { return IR_SYM(c->p->next_symbol++); }

int inf_broadcast(infer_ctx *c, const ir_type *a, const ir_type *b, ir_type *out) {
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return 0;
    }
    int r = PC_MAX(a->rank, b->rank);
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1) dims[i] = da;
        else if (da == 1) dims[i] = db;
        else if (IR_IS_SYM(da) && IR_IS_SYM(db)) dims[i] = inf_fresh(c);
        else if (IR_IS_SYM(da)) dims[i] = db;
        else if (IR_IS_SYM(db)) dims[i] = da;
        else return inf_fail(c, "shapes %s and %s do not broadcast", inf_tstr(a), inf_tstr(b));
    }
    out->rank = r;
    memcpy(out->dims, dims, sizeof(int64_t) * (size_t)r);
    return 0;
}

int inf_out(infer_ctx *c, ir_type t) {
    if (c->nout == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        ir_type *n = pc_alloc(c->p->arena, sizeof(*n) * (size_t)cap);
        if (!n) return pc_fail(c->e, PC_E_NOMEM, "ir_infer: out of memory");
        if (c->nout) memcpy(n, c->out, sizeof(*n) * (size_t)c->nout);
        c->out = n;
        c->cap = cap;
    }
    c->out[c->nout++] = t;
    return 0;
}

int inf_out_shaped(infer_ctx *c, ir_dtype dt, const ir_type *st, const int64_t *sh, int n) {
    ir_type t = ir_tensor_type(dt, 0, NULL);
    if (n >= 0) {
        for (int i = 0; i < n; i++) {
            if (sh[i] < 0) return inf_fail(c, "shape entry %lld is negative", (long long)sh[i]);
            t.dims[i] = sh[i];
        }
        t.rank = n;
    } else if (st->rank == 1 && !IR_IS_SYM(st->dims[0])) {
        if (st->dims[0] > IR_MAX_RANK) return inf_fail(c, "shape %s gives a rank above %d", inf_tstr(st), IR_MAX_RANK);
        t.rank = (int)st->dims[0];
        for (int i = 0; i < t.rank; i++) t.dims[i] = inf_fresh(c);
    } else {
        if (st->rank != 1 && st->rank >= 0) return inf_fail(c, "shape %s must be 1-D", inf_tstr(st));
        t.rank = -1;
    }
    return inf_out(c, t);
}

/* ---- elementwise ---- */
static int dtype_rank(ir_dtype t) {
    if (t == IR_BOOL) return 0;
    if (ir_dtype_is_int(t)) return 1;
    return ir_dtype_is_float(t) ? 2 : -1;
}

/* MIL's promotion for binary ops: bool < integers < floats, the wider within a class. */
static ir_dtype promote(ir_dtype a, ir_dtype b) {
    if (a == b) return a;
    int ra = dtype_rank(a), rb = dtype_rank(b);
    if (ra < 0 || rb < 0) return IR_DT_INVALID;
    if (ra != rb) return ra > rb ? a : b;
    return ir_dtype_size(a) >= ir_dtype_size(b) ? a : b;
}

static int infer_binary(infer_ctx *c, int cmp, int logical) {
    const ir_type *x, *y;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "y", 1, &y)) return -1;
    ir_dtype dt = promote(x->dtype, y->dtype);
    if (dt == IR_DT_INVALID) return inf_fail(c, "incompatible dtypes %s and %s", ir_dtype_name(x->dtype), ir_dtype_name(y->dtype));
    if (logical && (x->dtype != IR_BOOL || y->dtype != IR_BOOL)) return inf_fail(c, "x and y must be bool");
    ir_type t = *x;
    t.kind = IR_TK_TENSOR;
    t.dtype = cmp ? IR_BOOL : dt;
    if (inf_broadcast(c, x, y, &t)) return -1;
    return inf_out(c, t);
}

static int infer_unary(infer_ctx *c, ir_dtype force) {
    const ir_type *x;
    if (inf_input(c, "x", 1, &x)) return -1;
    ir_type t = *x;
    if (force != IR_DT_INVALID) t.dtype = force;
    return inf_out(c, t);
}

/* Activations with scalar const alpha (and beta): same type as x. */
static int infer_act_alpha_beta(infer_ctx *c, int has_beta) {
    const ir_type *x;
    double a, b;
    if (inf_input(c, "x", 1, &x) || inf_float(c, "alpha", &a) || (has_beta && inf_float(c, "beta", &b)))
        return -1;
    if (!ir_dtype_is_float(x->dtype)) return inf_fail(c, "x must be fp16 or fp32, got %s", ir_dtype_name(x->dtype));
    return inf_out(c, *x);
}

int inf_select(infer_ctx *c) {
    const ir_type *cond, *a, *b;
    if (inf_input(c, "cond", 1, &cond) || inf_input(c, "a", 1, &a) || inf_input(c, "b", 1, &b)) return -1;
    ir_dtype dt = promote(a->dtype, b->dtype);
    if (dt == IR_DT_INVALID) return inf_fail(c, "incompatible dtypes %s and %s", ir_dtype_name(a->dtype), ir_dtype_name(b->dtype));
    ir_type t = *a, ab;
    if (inf_broadcast(c, a, b, &ab) || inf_broadcast(c, cond, &ab, &t)) return -1;
    t.dtype = dt;
    return inf_out(c, t);
}

int inf_cast(infer_ctx *c) {
    const ir_type *x;
    const char *dt;
    if (inf_input(c, "x", 1, &x) || inf_str(c, "dtype", &dt)) return -1;
    static const char *const ok[] = {"bool", "fp16", "fp32", "fp64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"};
    ir_dtype t = IR_DT_INVALID;
    for (int i = 0; i < PC_ARRAY_LEN(ok); i++)
        if (strcmp(ok[i], dt) == 0) t = ir_dtype_from_name(dt);
    if (t == IR_DT_INVALID) return inf_fail(c, "unknown dtype '%s'", dt);
    ir_type o = *x;
    o.dtype = t;
    return inf_out(c, o);
}

int inf_softmax(infer_ctx *c) { /* softmax: same type, axis must be valid */
    const ir_type *x;
    int64_t axis;
    int ax;
    if (inf_input(c, "x", 1, &x) || inf_int(c, "axis", &axis)) return -1;
    if (x->rank >= 0 && inf_axis(c, "axis", axis, x->rank, &ax)) return -1;
    return inf_out(c, *x);
}

/* reduce_*: axes (default all), keep_dims (default false); argmax/argmin: axis, int32 result. */
static int infer_reduce(infer_ctx *c, int arg) {
    const ir_type *x;
    int keep;
    if (inf_input(c, "x", 1, &x) || inf_bool(c, "keep_dims", &keep)) return -1;
    if (x->rank < 0) return inf_fail(c, "x needs a known rank");
    int red[IR_MAX_RANK] = {0};
    int64_t axes[IR_MAX_RANK];
    int n;
    if (arg) {
        if (inf_int(c, "axis", &axes[0])) return -1;
        n = 1;
    } else if (inf_ints(c, "axes", 0, axes, IR_MAX_RANK, &n)) {
        return -1;
    }
    if (n < 0)
        for (int i = 0; i < x->rank; i++) red[i] = 1;
    for (int i = 0; i < n; i++) {
        int a = 0;
        if (inf_axis(c, "axis", axes[i], x->rank, &a)) return -1;
        if (red[a]) return inf_fail(c, "axis %d repeated", a);
        red[a] = 1;
    }
    ir_type t = *x;
    t.rank = 0;
    if (arg) t.dtype = IR_INT32;
    for (int i = 0; i < x->rank; i++) {
        if (!red[i]) t.dims[t.rank++] = x->dims[i];
        else if (keep) t.dims[t.rank++] = 1;
    }
    return inf_out(c, t);
}

/* classify(probabilities: fp32 tensor of N elements, classes: const [N] string or int64)
 * -> (label: scalar of the class dtype, probabilities: dict<class dtype, fp64>). */
int inf_classify(infer_ctx *c) {
    const ir_type *p, *k;
    if (inf_input(c, "probabilities", 1, &p) || inf_input(c, "classes", 1, &k)) return -1;
    if (p->kind != IR_TK_TENSOR || p->dtype != IR_FP32)
        return inf_fail(c, "probabilities must be an fp32 tensor, got %s", inf_tstr(p));
    const ir_value *cv = ir_op_input(c->op, "classes");
    if (!cv->konst || k->kind != IR_TK_TENSOR || k->rank != 1 || (k->dtype != IR_STRING && k->dtype != IR_INT64))
        return inf_fail(c, "classes must be a const list of string or int64 labels, got %s", inf_tstr(k));
    int64_t n = ir_type_numel(p);
    if (n >= 0 && n != k->dims[0])
        return inf_fail(c, "%lld probabilities (%s) for %lld classes", (long long)n, inf_tstr(p), (long long)k->dims[0]);
    ir_type d = ir_scalar_type(k->dtype);
    d.kind = IR_TK_DICT;
    if (inf_out(c, ir_scalar_type(k->dtype))) return -1;
    return inf_out(c, d);
}

int inf_shape_op(infer_ctx *c) {
    const ir_type *x;
    if (inf_input(c, "x", 1, &x)) return -1;
    int64_t d = x->rank < 0 ? inf_fresh(c) : x->rank;
    return inf_out(c, ir_tensor_type(IR_INT32, 1, &d));
}

/* read_state(input: state<T>) -> T; write_state(input: state<T>, data: T) -> nothing (iOS18). */
static int infer_state_op(infer_ctx *c, int write) {
    const ir_type *s;
    if (inf_input(c, "input", 1, &s)) return -1;
    if (s->kind != IR_TK_STATE) return inf_fail(c, "input must be a state, got %s", inf_tstr(s));
    ir_type t = *s;
    t.kind = IR_TK_TENSOR;
    if (!write) return inf_out(c, t);
    const ir_type *d;
    if (inf_input(c, "data", 1, &d)) return -1;
    if (d->kind != IR_TK_TENSOR || d->dtype != t.dtype || d->rank != t.rank)
        return inf_fail(c, "data %s does not fit the state's %s", inf_tstr(d), inf_tstr(&t));
    for (int i = 0; i < t.rank; i++)
        if (!IR_IS_SYM(d->dims[i]) && !IR_IS_SYM(t.dims[i]) && d->dims[i] != t.dims[i])
            return inf_fail(c, "data %s does not fit the state's %s", inf_tstr(d), inf_tstr(&t));
    return 0;
}

/* ---- the rules of this file, named by ops.def rows ---- */
int inf_binary(infer_ctx *c) { return infer_binary(c, 0, 0); }
int inf_compare(infer_ctx *c) { return infer_binary(c, 1, 0); }
int inf_logical(infer_ctx *c) { return infer_binary(c, 1, 1); }
int inf_logical_not(infer_ctx *c) { return infer_unary(c, IR_BOOL); }
int inf_unary(infer_ctx *c) { return infer_unary(c, IR_DT_INVALID); }
int inf_act_ab(infer_ctx *c) { return infer_act_alpha_beta(c, 1); }
int inf_act_a(infer_ctx *c) { return infer_act_alpha_beta(c, 0); }
int inf_reduce(infer_ctx *c) { return infer_reduce(c, 0); }
int inf_reduce_arg(infer_ctx *c) { return infer_reduce(c, 1); }
int inf_read_state(infer_ctx *c) { return infer_state_op(c, 0); }
int inf_write_state(infer_ctx *c) { return infer_state_op(c, 1); }

int inf_const(infer_ctx *c) {
    if (c->op->nout != 1 || !c->op->out[0]->konst) return inf_fail(c, "a const needs its value");
    return inf_out(c, c->op->out[0]->type);
}

/* One rule per op kind, from the ops.def rows. */
static int (*const rules[IR_OP_COUNT])(infer_ctx *) = {
#define IR_OP(E, NAME, OPSET, RULE, ...) [IR_OP_##E] = RULE,
#include "ir/ops.def"
#undef IR_OP
};

static int dispatch(infer_ctx *c) {
    ir_opkind k = c->op->kind;
    if (k < 0 || k >= IR_OP_COUNT || !rules[k]) return inf_fail(c, "no shape inference for this op type");
    return rules[k](c);
}

/* Compute op's output types from its inputs, without changing the op. */
int ir_infer_types(ir_program *p, const ir_op *op, ir_type **out, int *nout, pc_err *e) {
    infer_ctx c = {.p = p, .op = op, .e = e};
    for (int i = 0; i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++)
            if (!op->in[i].v[j]) return inf_fail(&c, "input '%s' is unbound", op->in[i].name);
    if (dispatch(&c)) return -1;
    *out = c.out;
    *nout = c.nout;
    return 0;
}

/* Create op's outputs (or retype the ones it has) from its inputs' types. */
int ir_infer(ir_program *p, ir_op *op, pc_err *e) {
    ir_type *t;
    int n;
    if (ir_infer_types(p, op, &t, &n, e)) return -1;
    if (op->nout == 0) {
        for (int i = 0; i < n; i++)
            if (!ir_op_add_output(op, NULL, t[i])) return pc_fail(e, PC_E_NOMEM, "ir_infer: out of memory");
        return 0;
    }
    if (op->nout != n) {
        infer_ctx c = {.p = p, .op = op, .e = e};
        return inf_fail(&c, "has %d outputs, inference gives %d", op->nout, n);
    }
    for (int i = 0; i < n; i++) op->out[i]->type = t[i];
    return 0;
}
