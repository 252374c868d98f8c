/* reduce.c: reductions beyond sum/mean (pool.c): max/min (global, along a dim with indices,
 * or elementwise of two tensors), amax/amin, prod, argmax/argmin, var/std (unbiased or
 * correction, with their _mean pairs), vector and matrix norms, renorm, logsumexp, and the
 * scans cumsum (MIL cumsum), cumprod and logcumsumexp (log-step scans). */
#include "lower/build.h"

#include <math.h>
#include <string.h>

typedef struct {
    int nax;
    int64_t axes[IR_MAX_RANK];
} axes_t;

/* All axes of a rank-r value. */
static void all_axes(axes_t *a, int r) {
    for (a->nax = 0; a->nax < r; a->nax++) a->axes[a->nax] = a->nax;
}

/* Input i holds dims: an int, a list (empty: all), or None / missing (all). */
static int dims_in(lower_ctx *cx, const ts_node *n, int i, int rank, axes_t *a) {
    if (i >= n->nin || lower_is_none(cx, n, i)) {
        all_axes(a, rank);
        return 0;
    }
    int64_t raw[IR_MAX_RANK];
    int cnt;
    if (lower_ints_in(cx, n, i, raw, IR_MAX_RANK, &cnt)) return -1;
    if (cnt == 0) {
        all_axes(a, rank);
        return 0;
    }
    a->nax = 0;
    for (int k = 0; k < cnt; k++) {
        int ax;
        if (lower_axis(cx, raw[k], rank, &ax)) return -1;
        for (int j = 0; j < a->nax; j++)
            if (a->axes[j] == ax) return lower_fail(cx, "dim %d appears twice", ax);
        a->axes[a->nax++] = ax;
    }
    return 0;
}

static int optional_bool(lower_ctx *cx, const ts_node *n, int i, int dflt, int *out) {
    *out = dflt;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    return lower_bool_in(cx, n, i, out);
}

/* Cast x to the torch dtype code held by input i (None: unchanged; ints: fp32 unless
 * keep_int). */
static ir_value *dtype_in(lower_ctx *cx, const ts_node *n, int i, ir_value *x, int keep_int) {
    if (!x) return NULL;
    if (i >= 0 && i < n->nin && !lower_is_none(cx, n, i)) {
        int64_t code;
        ir_dtype dt;
        if (lower_int_in(cx, n, i, &code) || lower_scalar_type(cx, code, &dt)) return NULL;
        return dt == x->type.dtype ? x : lb_cast(cx, x, dt, "dtype");
    }
    if (x->type.dtype == IR_BOOL) return lb_cast(cx, x, keep_int ? IR_INT32 : IR_FP32, "num");
    if (!keep_int && !ir_dtype_is_float(x->type.dtype)) return lb_cast(cx, x, IR_FP32, "float");
    return x;
}

static ir_value *red(lower_ctx *cx, ir_opkind k, ir_value *x, const axes_t *a, int keep, const char *suffix) {
    if (LB_SKIP(cx, x)) return NULL;
    if (a->nax == 0) return x; /* rank 0 */
    ir_op *op = lb_op(cx, k, suffix);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", a->nax, a->axes) ||
        lb_param_bool(cx, op, "keep_dims", keep))
        return NULL;
    return lb_finish(cx, op);
}

/* Number of elements the axes reduce over (static shapes only). */
static int count_of(lower_ctx *cx, const ir_value *x, const axes_t *a, int64_t *out) {
    int64_t c = 1;
    for (int i = 0; i < a->nax; i++) {
        int64_t d = x->type.dims[a->axes[i]];
        if (d < 0) return lower_fail(cx, "the size of dim %lld is not known at conversion time", (long long)a->axes[i]);
        c *= d;
    }
    *out = c;
    return 0;
}

/* max / min: (x) global; (x, other) elementwise; (x, dim, keepdim) -> (values, indices). */
int lower_max_min(lower_ctx *cx, const ts_node *n) {
    int is_max = cx->row->mil == IR_OP_REDUCE_MAX;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    if (x->type.dtype == IR_BOOL && !(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
    lv *a1 = n->nin > 1 ? lower_in(cx, n, 1) : NULL;
    if (n->nin > 1 && !a1) return -1;
    axes_t a;
    if (a1 && a1->kind == LV_TENSOR) { /* elementwise */
        ir_value *y = a1->v;
        ir_dtype dt = x->type.dtype;
        if (ir_dtype_is_float(y->type.dtype) && !ir_dtype_is_float(dt)) dt = y->type.dtype;
        if (y->type.dtype == IR_BOOL || (ir_dtype_is_float(dt) && !ir_dtype_is_float(y->type.dtype)) ||
            (ir_dtype_is_float(dt) && y->type.dtype != dt))
            y = lb_cast(cx, y, dt, "y");
        if (x->type.dtype != dt) x = lb_cast(cx, x, dt, "x");
        return lower_out_tensor(cx, n, 0, lb_binary(cx, is_max ? IR_OP_MAXIMUM : IR_OP_MINIMUM, x, y, NULL));
    }
    if (!a1) {
        all_axes(&a, x->type.rank);
        return lower_out_tensor(cx, n, 0, red(cx, is_max ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MIN, x, &a, 0, NULL));
    }
    int64_t dim;
    int axis, keep;
    if (lower_int_in(cx, n, 1, &dim) || lower_axis(cx, dim, x->type.rank, &axis) || optional_bool(cx, n, 2, 0, &keep))
        return -1;
    a.nax = 1;
    a.axes[0] = axis;
    ir_value *v = red(cx, is_max ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MIN, x, &a, keep, "values");
    if (!v || lower_out_tensor(cx, n, 0, v)) return -1;
    if (n->nout < 2) return 0;
    if (x->type.rank == 0) return lower_out_tensor(cx, n, 1, lb_const_scalar(cx, 0, IR_INT32, "index"));
    ir_op *op = lb_op(cx, is_max ? IR_OP_REDUCE_ARGMAX : IR_OP_REDUCE_ARGMIN, "indices");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "axis", axis) || lb_param_bool(cx, op, "keep_dims", keep))
        return -1;
    return lower_out_tensor(cx, n, 1, lb_finish(cx, op));
}

/* amax / amin(x, dim=[], keepdim=False). */
int lower_amax_amin(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    axes_t a;
    int keep;
    if (!x || dims_in(cx, n, 1, x->type.rank, &a) || optional_bool(cx, n, 2, 0, &keep)) return -1;
    int bool_in = x->type.dtype == IR_BOOL;
    if (bool_in && !(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
    ir_value *r = red(cx, cx->row->mil, x, &a, keep,
                      bool_in ? "reduce" : NULL);
    return lower_out_tensor(cx, n, 0, bool_in && r ? lb_cast(cx, r, IR_BOOL, NULL) : r);
}

/* prod(x, dtype) or prod(x, dim, keepdim, dtype). */
int lower_prod(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    axes_t a;
    int keep = 0;
    if (n->nin <= 2) {
        all_axes(&a, x->type.rank);
        x = dtype_in(cx, n, 1, x, 1);
    } else {
        int64_t dim;
        int ax;
        if (lower_int_in(cx, n, 1, &dim) || lower_axis(cx, dim, x->type.rank, &ax) || optional_bool(cx, n, 2, 0, &keep))
            return -1;
        a.nax = 1;
        a.axes[0] = ax;
        x = dtype_in(cx, n, 3, x, 1);
    }
    return lower_out_tensor(cx, n, 0, red(cx, IR_OP_REDUCE_PROD, x, &a, keep, NULL));
}

/* argmax / argmin(x, dim=None, keepdim=False): no dim means over the flattened input. */
int lower_argmax_argmin(lower_ctx *cx, const ts_node *n) {
    int is_max = cx->row->mil == IR_OP_REDUCE_ARGMAX;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int keep;
    if (!x || optional_bool(cx, n, 2, 0, &keep)) return -1;
    if (x->type.dtype == IR_BOOL && !(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
    int axis = 0, rank = x->type.rank, flat = n->nin < 2 || lower_is_none(cx, n, 1);
    if (flat) {
        int64_t m1 = -1;
        if (rank != 1 && !(x = lb_reshape(cx, x, 1, &m1, "flat"))) return -1;
    } else {
        int64_t dim;
        if (lower_int_in(cx, n, 1, &dim) || lower_axis(cx, dim, rank, &axis)) return -1;
        if (rank == 0) return lower_out_tensor(cx, n, 0, lb_const_scalar(cx, 0, IR_INT32, NULL));
    }
    ir_op *op = lb_op(cx, is_max ? IR_OP_REDUCE_ARGMAX : IR_OP_REDUCE_ARGMIN, flat && keep ? "index" : NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "axis", axis) ||
        lb_param_bool(cx, op, "keep_dims", flat ? 0 : keep))
        return -1;
    ir_value *r = lb_finish(cx, op);
    if (r && flat && keep) { /* every dim kept as 1 */
        int64_t ones[IR_MAX_RANK];
        for (int i = 0; i < rank; i++) ones[i] = 1;
        r = lb_reshape(cx, r, rank, ones, NULL);
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* var / std / var_mean / std_mean:
 *   (x, unbiased), (x, dim, unbiased, keepdim), (x, dim, correction, keepdim). */
int lower_var_std(lower_ctx *cx, const ts_node *n) {
    int is_std = (cx->row->sub & VAR_STD) != 0, with_mean = (cx->row->sub & VAR_WITH_MEAN) != 0;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || !(x = dtype_in(cx, n, -1, x, 0))) return -1;
    axes_t a;
    int keep = 0;
    double correction = 1;
    lv *c;
    if (n->nin <= 2) {
        all_axes(&a, x->type.rank);
        c = n->nin > 1 ? lower_in(cx, n, 1) : NULL;
    } else {
        if (dims_in(cx, n, 1, x->type.rank, &a) || optional_bool(cx, n, 3, 0, &keep)) return -1;
        c = lower_in(cx, n, 2);
        if (!c) return -1;
    }
    if (c && c->kind == LV_BOOL && !c->dyn) correction = c->i ? 1 : 0;
    else if (c && (c->kind == LV_INT || c->kind == LV_FLOAT) && !c->dyn) correction = c->kind == LV_FLOAT ? c->f : (double)c->i;
    else if (c && c->kind != LV_NONE) return lower_fail(cx, "unbiased / correction must be known at conversion time");
    int64_t cnt = 0;
    if (count_of(cx, x, &a, &cnt)) return -1;
    ir_value *m = red(cx, IR_OP_REDUCE_MEAN, x, &a, 1, "mean");
    ir_value *d = lb_binary(cx, IR_OP_SUB, x, m, "centered");
    ir_value *ss = red(cx, IR_OP_REDUCE_SUM, lb_unary(cx, IR_OP_SQUARE, d, "sq"), &a, keep, "ss");
    double den = (double)cnt - correction;
    ir_value *v = lb_binary(cx, IR_OP_MUL, ss, lb_const_like(cx, den > 0 ? 1.0 / den : NAN, ss, "inv_n"), is_std ? "var" : NULL);
    if (is_std) v = lb_unary(cx, IR_OP_SQRT, v, NULL);
    if (lower_out_tensor(cx, n, 0, v)) return -1;
    if (!with_mean) return 0;
    if (!keep && a.nax && !(m = red(cx, IR_OP_REDUCE_MEAN, x, &a, 0, "mean_out"))) return -1;
    return lower_out_tensor(cx, n, 1, m);
}

/* The p-norm of x over axes a. */
static ir_value *pnorm(lower_ctx *cx, ir_value *x, double p, const axes_t *a, int keep) {
    if (LB_SKIP(cx, x)) return NULL;
    if (p == 2) return lb_unary(cx, IR_OP_SQRT, red(cx, IR_OP_REDUCE_SUM, lb_unary(cx, IR_OP_SQUARE, x, "sq"), a, keep, "ss"), NULL);
    ir_value *ab = lb_unary(cx, IR_OP_ABS, x, "abs");
    if (p == 1) return red(cx, IR_OP_REDUCE_SUM, ab, a, keep, NULL);
    if (isinf(p)) return red(cx, p > 0 ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MIN, ab, a, keep, NULL);
    if (p == 0) {
        ir_value *nz = lb_binary(cx, IR_OP_NOT_EQUAL, x, lb_const_like(cx, 0, x, "zero"), "nonzero");
        return red(cx, IR_OP_REDUCE_SUM, lb_cast(cx, nz, x->type.dtype, "count"), a, keep, NULL);
    }
    ir_value *pw = lb_binary(cx, IR_OP_POW, ab, lb_const_like(cx, p, x, "p"), "pow");
    ir_value *s = red(cx, IR_OP_REDUCE_SUM, pw, a, keep, "sum");
    return lb_binary(cx, IR_OP_POW, s, lb_const_like(cx, 1 / p, x, "inv_p"), NULL);
}

/* See math.h: pnorm over a list of axes. */
ir_value *lb_pnorm(lower_ctx *cx, ir_value *x, double p, int nax, const int64_t *axes, int keep) {
    if (LB_SKIP(cx, x)) return NULL;
    axes_t a = {nax, {0}};
    for (int i = 0; i < nax && i < IR_MAX_RANK; i++) a.axes[i] = axes[i];
    return pnorm(cx, x, p, &a, keep);
}

/* A norm order at input i: a number, None (*has = 0, p = dflt), or a str (*str). */
static int order_in(lower_ctx *cx, const ts_node *n, int i, double dflt, double *p, const char **str, int *has) {
    *p = dflt;
    *str = NULL;
    *has = 0;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    *has = 1;
    if (l->kind == LV_STR) {
        *str = l->s;
        return 0;
    }
    return lower_float_in(cx, n, i, p);
}

/* The matrix norm of x over the two axes (a0, a1) (rows, columns): 'fro' (or a NULL str with
 * p = 'fro'), 1 / -1 (max / min over a1 of the sums over a0 of |x|), inf / -inf (the same
 * with the axes swapped). 'nuc' and +-2 need singular values: a clear failure. */
static ir_value *matrix_norm(lower_ctx *cx, ir_value *x, const char *str, double p, int a0, int a1, int keep) {
    axes_t a = {2, {a0, a1}};
    if (a0 == a1) {
        lower_fail(cx, "a matrix norm needs two different dims, got %d twice", a0);
        return NULL;
    }
    if (str && strcmp(str, "fro") == 0) return pnorm(cx, x, 2, &a, keep);
    if (str && strcmp(str, "nuc") == 0) {
        lower_fail(cx, "the nuclear norm needs singular values (SVD), which Core ML has no op for");
        return NULL;
    }
    if (str) {
        lower_fail(cx, "matrix norm '%s' is not supported ('fro', 'nuc', 1, -1, inf, -inf)", str);
        return NULL;
    }
    if (fabs(p) == 2) {
        lower_fail(cx, "the matrix norm of order %g needs singular values (SVD), which Core ML has no op for", p);
        return NULL;
    }
    if (fabs(p) != 1 && !isinf(p)) {
        lower_fail(cx, "matrix norm of order %g is not supported ('fro', 1, -1, inf, -inf)", p);
        return NULL;
    }
    axes_t s_ax = {1, {isinf(p) ? a1 : a0}}, m_ax = {1, {isinf(p) ? a0 : a1}};
    ir_value *s = red(cx, IR_OP_REDUCE_SUM, lb_unary(cx, IR_OP_ABS, x, "abs"), &s_ax, 1, "sum");
    ir_value *r = red(cx, p > 0 ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MIN, s, &m_ax, 1, keep ? NULL : "keep");
    if (!r || keep) return r;
    int64_t sq[2] = {a0 < a1 ? a0 : a1, a0 < a1 ? a1 : a0};
    return lb_squeeze(cx, r, 2, sq);
}

/* norm(x, p), norm(x, p, dtype), norm(x, p, dim, keepdim[, dtype]); linalg_vector_norm(x, ord, dim,
 * keepdim, dtype); linalg_norm(x, ord, dim, keepdim, dtype) (vector or matrix norms by ord and dims);
 * linalg_matrix_norm(x, ord, dim=(-2, -1), keepdim, dtype); frobenius_norm(x, dim, keepdim). */
int lower_norm(lower_ctx *cx, const ts_node *n) {
    int sub = cx->row->sub; /* NORM_* */
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    axes_t a;
    int keep = 0, dt_i = -1, has_ord = 0, matrix = 0, rank = x->type.rank;
    double p = 2;
    const char *str = NULL;
    if (sub == NORM_FROBENIUS) {
        if (dims_in(cx, n, 1, rank, &a) || optional_bool(cx, n, 2, 0, &keep)) return -1;
    } else if (sub == NORM_P) {
        if (order_in(cx, n, 1, 2, &p, &str, &has_ord)) return -1;
        if (n->nin <= 3) {
            all_axes(&a, rank);
            dt_i = n->nin == 3 ? 2 : -1;
        } else {
            if (dims_in(cx, n, 2, rank, &a) || optional_bool(cx, n, 3, 0, &keep)) return -1;
            dt_i = 4;
        }
        if (str && strcmp(str, "fro") != 0) matrix = 1;
        else if (str) str = NULL; /* 'fro': the 2-norm over the dims */
    } else if (sub == NORM_MATRIX) {
        if (order_in(cx, n, 1, 2, &p, &str, &has_ord) || optional_bool(cx, n, 3, 0, &keep)) return -1;
        if (!has_ord) str = "fro";
        int64_t raw[2] = {-2, -1};
        int cnt = 2;
        if (n->nin > 2 && !lower_is_none(cx, n, 2) && lower_ints_in(cx, n, 2, raw, 2, &cnt)) return -1;
        if (cnt != 2) return lower_fail(cx, "linalg_matrix_norm needs two dims, got %d", cnt);
        int a0, a1;
        if (lower_axis(cx, raw[0], rank, &a0) || lower_axis(cx, raw[1], rank, &a1)) return -1;
        a.nax = 2;
        a.axes[0] = a0;
        a.axes[1] = a1;
        matrix = 1;
        dt_i = 4;
    } else { /* linalg_vector_norm, linalg_norm */
        if (order_in(cx, n, 1, 2, &p, &str, &has_ord) || dims_in(cx, n, 2, rank, &a) || optional_bool(cx, n, 3, 0, &keep))
            return -1;
        dt_i = 4;
        int no_dim = n->nin <= 2 || lower_is_none(cx, n, 2);
        if (sub == NORM_VECTOR) {
            if (str) return lower_fail(cx, "linalg_vector_norm takes a numeric ord, got '%s'", str);
        } else if (has_ord) {
            if ((no_dim && rank == 2) || (!no_dim && a.nax == 2)) matrix = 1;
            else if (str) return lower_fail(cx, "matrix norm '%s' needs a 2-D input or two dims", str);
            else if (no_dim && rank != 1)
                return lower_fail(cx, "linalg_norm with a numeric ord and no dim needs a 1-D or 2-D input, got %d-D", rank);
        }
    }
    if (!(x = dtype_in(cx, n, dt_i, x, 0))) return -1;
    if (matrix) {
        if (a.nax != 2) return lower_fail(cx, "a matrix norm needs two dims, got %d", a.nax);
        return lower_out_tensor(cx, n, 0, matrix_norm(cx, x, str, p, (int)a.axes[0], (int)a.axes[1], keep));
    }
    return lower_out_tensor(cx, n, 0, pnorm(cx, x, p, &a, keep));
}

/* renorm(x, p, dim, maxnorm): every slice along dim whose p-norm (over the other dims) exceeds
 * maxnorm is scaled by maxnorm / (norm + 1e-7). */
int lower_renorm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    double p, maxnorm;
    int64_t dim;
    int axis;
    if (!x || !(x = dtype_in(cx, n, -1, x, 0)) || lower_float_in(cx, n, 1, &p) || lower_int_in(cx, n, 2, &dim) ||
        lower_float_in(cx, n, 3, &maxnorm) || lower_axis(cx, dim, x->type.rank, &axis))
        return -1;
    axes_t a = {0, {0}};
    for (int i = 0; i < x->type.rank; i++)
        if (i != axis) a.axes[a.nax++] = i;
    ir_value *nr = pnorm(cx, x, p, &a, 1);
    ir_value *over = lb_binary(cx, IR_OP_GREATER, nr, lb_const_like(cx, maxnorm, nr, "maxnorm"), "over");
    ir_value *f = lb_binary(cx, IR_OP_REAL_DIV, lb_const_like(cx, maxnorm, nr, "max"), lb_scalar_op(cx, IR_OP_ADD, nr, 1e-7), "scale");
    ir_op *op = lb_op(cx, IR_OP_SELECT, "factor");
    if (!op || ir_op_set_input(op, "cond", over) || ir_op_set_input(op, "a", f) || ir_op_set_input(op, "b", lb_const_like(cx, 1, nr, "one")))
        return -1;
    ir_value *fac = lb_finish(cx, op);
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_MUL, x, fac, NULL));
}

/* count_nonzero(x, dim=None): sum of (x != 0) as int32; dim an int or a list. */
int lower_count_nonzero(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    axes_t a;
    if (!x || dims_in(cx, n, 1, x->type.rank, &a)) return -1;
    if (x->type.dtype == IR_BOOL && !(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
    ir_value *nz = lb_binary(cx, IR_OP_NOT_EQUAL, x, lb_const_like(cx, 0, x, "zero"), "nonzero");
    ir_value *c = lb_cast(cx, nz, IR_INT32, "count");
    return lower_out_tensor(cx, n, 0, red(cx, IR_OP_REDUCE_SUM, c, &a, 0, NULL));
}

/* logsumexp(x, dim, keepdim) = m + log(sum(exp(x - m))), m the max over dim. */
int lower_logsumexp(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    axes_t a;
    int keep;
    if (!x || !(x = dtype_in(cx, n, -1, x, 0)) || dims_in(cx, n, 1, x->type.rank, &a) || optional_bool(cx, n, 2, 0, &keep))
        return -1;
    ir_value *m = red(cx, IR_OP_REDUCE_MAX, x, &a, 1, "max");
    ir_value *e = lb_unary(cx, IR_OP_EXP, lb_binary(cx, IR_OP_SUB, x, m, "shifted"), "exp");
    ir_value *lg = lb_unary(cx, IR_OP_LOG, red(cx, IR_OP_REDUCE_SUM, e, &a, keep, "sum"), "log");
    if (lg && !keep && a.nax && !(m = red(cx, IR_OP_REDUCE_MAX, x, &a, 0, "max_out"))) return -1;
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_ADD, lg, m, NULL));
}

/* One step of an inclusive scan along axis (Hillis-Steele, no identity element needed):
 * y[i] = y[i] (op) y[i - s] for i >= s, y[i] kept below s; op is mul, or log-add-exp when lse. */
static ir_value *scan_step(lower_ctx *cx, ir_value *y, int axis, int64_t len, int64_t s, int lse) {
    ir_value *head = lb_slice(cx, y, axis, 0, s, 0, 1, 0);
    ir_value *hi = lb_slice(cx, y, axis, s, 0, 1, 1, 0);
    ir_value *lo = lb_slice(cx, y, axis, 0, len - s, 0, 1, 0);
    ir_value *c;
    if (!lo) return NULL;
    if (!lse) {
        c = lb_binary(cx, IR_OP_MUL, hi, lo, "prod");
    } else { /* max(a, b) + log(1 + exp(-|a - b|)) */
        ir_value *m = lb_binary(cx, IR_OP_MAXIMUM, hi, lo, "max");
        ir_value *d = lb_unary(cx, IR_OP_ABS, lb_binary(cx, IR_OP_SUB, hi, lo, "diff"), "absdiff");
        ir_value *eq = lb_binary(cx, IR_OP_EQUAL, hi, lo, "same"); /* equal infinities: d = 0, not NaN */
        d = lb_select(cx, eq, lb_const_scalar(cx, 0, y->type.dtype, "zero"), d, "absdiff_eq");
        ir_value *sp = lb_unary(cx, IR_OP_SOFTPLUS, lb_scalar_op(cx, IR_OP_MUL, d, -1), "softplus");
        c = lb_binary(cx, IR_OP_ADD, m, sp, "lse");
    }
    ir_value *parts[2] = {head, c};
    return lb_concat(cx, 2, parts, axis);
}

/* cumsum(x, dim, dtype): MIL cumsum (ints stay int32, exact). cumprod(x, dim, dtype) and
 * logcumsumexp(x, dim): an inclusive scan in ceil(log2(n)) steps of slices, one op and a concat
 * (exact for negatives and zeros; ints multiply in int32); logcumsumexp combines by log-add-exp,
 * which stays finite where exp would overflow or underflow. */
int lower_cumulative(lower_ctx *cx, const ts_node *n) {
    int is_prod = cx->row->sub == CUM_PROD, is_lse = cx->row->sub == CUM_LOGSUMEXP;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t dim;
    int axis;
    if (!x || lower_int_in(cx, n, 1, &dim)) return -1;
    int rank = x->type.rank, dt_i = is_lse ? -1 : 2;
    if (is_lse && !(x = dtype_in(cx, n, -1, x, 0))) return -1;
    if (rank == 0) return lower_out_tensor(cx, n, 0, is_lse ? x : dtype_in(cx, n, dt_i, x, 1));
    if (lower_axis(cx, dim, rank, &axis) || !(x = dtype_in(cx, n, dt_i, x, 1))) return -1;
    if (!is_prod && !is_lse) {
        ir_op *op = lb_op(cx, IR_OP_CUMSUM, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "axis", axis)) return -1;
        return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
    }
    int64_t len = x->type.dims[axis];
    if (len < 0) return lower_fail(cx, "the size of dim %d must be known at conversion time", axis);
    ir_value *y = x;
    for (int64_t s = 1; s < len && y; s *= 2) y = scan_step(cx, y, axis, len, s, is_lse);
    if (y == x) y = lb_unary(cx, IR_OP_IDENTITY, x, NULL);
    return lower_out_tensor(cx, n, 0, y);
}

/* diff(self, n=1, dim=-1, prepend=None, append=None): x[1:] - x[:-1] along dim, n times, after concatenating
 * prepend and append (promoted to a common dtype as torch.cat does); bool tensors differ by xor. */
int lower_diff(lower_ctx *cx, const ts_node *n) {
    ir_value *parts[3];
    int np = 0;
    int64_t times = 1, dim = -1;
    if (!lower_is_none(cx, n, 3) && !(parts[np++] = lower_tensor_in(cx, n, 3, IR_DT_INVALID))) return -1;
    if (!(parts[np++] = lower_tensor_in(cx, n, 0, IR_DT_INVALID))) return -1;
    if (!lower_is_none(cx, n, 4) && !(parts[np++] = lower_tensor_in(cx, n, 4, IR_DT_INVALID))) return -1;
    if ((n->nin > 1 && lower_int_in(cx, n, 1, &times)) || (n->nin > 2 && lower_int_in(cx, n, 2, &dim))) return -1;
    if (times < 0) return lower_fail(cx, "order n must be non-negative, got %lld", (long long)times);
    ir_dtype dt = parts[0]->type.dtype;
    int rank = parts[0]->type.rank, axis;
    if (rank == 0) return lower_fail(cx, "diff needs a tensor of rank >= 1");
    for (int i = 1; i < np; i++) {
        ir_dtype t = parts[i]->type.dtype;
        if ((ir_dtype_is_float(t) && !ir_dtype_is_float(dt)) || (dt == IR_BOOL && t != IR_BOOL)) dt = t;
        if (parts[i]->type.rank != rank) return lower_fail(cx, "prepend / append must have the input's rank %d", rank);
    }
    if (lower_axis(cx, dim, rank, &axis)) return -1;
    for (int i = 0; i < np; i++)
        if (parts[i]->type.dtype != dt && !(parts[i] = lb_cast(cx, parts[i], dt, "cast"))) return -1;
    ir_value *x = np > 1 ? lb_concat(cx, np, parts, axis) : parts[0];
    if (!x) return -1;
    int64_t len = x->type.dims[axis];
    if (len >= 0 && times >= len && times > 0)
        return lower_fail(cx, "order %lld leaves no element of the %lld along dim %d", (long long)times, (long long)len,
                          axis);
    for (int64_t t = 0; t < times && x; t++) {
        ir_value *hi = lb_slice(cx, x, axis, 1, 0, 1, 1, 0), *lo = lb_slice(cx, x, axis, 0, -1, 0, 1, 0);
        if (!hi || !lo) return -1;
        x = lb_binary(cx, dt == IR_BOOL ? IR_OP_LOGICAL_XOR : IR_OP_SUB, hi, lo, t + 1 == times ? NULL : "step");
    }
    if (x && times == 0) x = lb_unary(cx, IR_OP_IDENTITY, x, NULL);
    return lower_out_tensor(cx, n, 0, x);
}
