/* activation.c: relu family, hardtanh, sigmoid/tanh/silu, gelu, leaky_relu, elu,
 * softplus, softmax and log_softmax; composed ones (selu, celu, mish, hardswish,
 * hardsigmoid, prelu, glu, log_sigmoid, threshold). */
#include "lower/build.h"

#include <string.h>

static ir_value *float_in(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (x && !ir_dtype_is_float(x->type.dtype)) x = lb_cast(cx, x, IR_FP32, "float");
    return x;
}

/* op(x=x, <pname>=v) with a float scalar parameter. */
static ir_value *with_alpha(lower_ctx *cx, ir_opkind k, ir_value *x, const char *pname, double v) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_op *op = lb_op(cx, k, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_f(cx, op, pname, v, x->type.dtype)) return NULL;
    return lb_finish(cx, op);
}

static int optional_float(lower_ctx *cx, const ts_node *n, int i, double dflt, double *out) {
    *out = dflt;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    return lower_float_in(cx, n, i, out);
}

/* x * v (v a number). */
static ir_value *scale_by(lower_ctx *cx, ir_value *x, double v, const char *suffix) {
    ir_value *c = lb_const_like(cx, v, x, "k");
    return lb_binary(cx, IR_OP_MUL, x, c, suffix);
}

/* torch elu: scale * (x if x > 0 else alpha * (exp(input_scale * x) - 1)). */
static ir_value *elu(lower_ctx *cx, ir_value *x, double alpha, double scale, double iscale) {
    ir_value *r;
    if (iscale == 1) {
        r = with_alpha(cx, IR_OP_ELU, x, "alpha", alpha);
    } else { /* max(x, 0) + alpha * (exp(input_scale * min(x, 0)) - 1) */
        ir_value *z = lb_const_like(cx, 0, x, "zero");
        ir_value *pos = lb_binary(cx, IR_OP_MAXIMUM, x, z, "pos");
        ir_value *neg = lb_binary(cx, IR_OP_MINIMUM, x, z, "neg");
        ir_value *e = lb_unary(cx, IR_OP_EXP, scale_by(cx, neg, iscale, "scaled"), "exp");
        ir_value *one = lb_const_like(cx, 1, x, "one");
        ir_value *em1 = lb_binary(cx, IR_OP_SUB, e, one, "expm1");
        r = lb_binary(cx, IR_OP_ADD, pos, scale_by(cx, em1, alpha, "negpart"), "sum");
    }
    return scale == 1 ? r : scale_by(cx, r, scale, NULL);
}

/* torch softplus: x if beta * x > threshold else log(1 + exp(beta * x)) / beta. The
 * switch is emitted only when it is visible in fp32 (threshold below 20). */
static ir_value *softplus(lower_ctx *cx, ir_value *x, double beta, double th) {
    if (beta == 0) {
        lower_fail(cx, "softplus with beta 0");
        return NULL;
    }
    ir_value *bx = beta == 1 ? x : scale_by(cx, x, beta, "bx");
    ir_value *sp = lb_unary(cx, IR_OP_SOFTPLUS, bx, beta == 1 && th >= 20 ? NULL : "sp");
    if (beta != 1) sp = scale_by(cx, sp, 1 / beta, th >= 20 ? NULL : "spb");
    if (th >= 20) return sp;
    ir_value *t = lb_const_like(cx, th, x, "threshold");
    ir_value *c = lb_binary(cx, IR_OP_GREATER, bx, t, "above");
    return lb_select(cx, c, x, sp, NULL);
}

/* Activations composed of several MIL ops (the row's .sub). Sets *r (NULL when sub is not one of them). */
static int composed(lower_ctx *cx, const ts_node *n, int sub, ir_value *x, ir_value **r) {
    *r = NULL;
    if (sub == ACT_SELU) {
        *r = elu(cx, x, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946, 1);
    } else if (sub == ACT_CELU) { /* alpha * elu(x / alpha) */
        double a;
        if (optional_float(cx, n, 1, 1, &a)) return -1;
        if (a == 0) return lower_fail(cx, "celu with alpha 0");
        *r = a == 1 ? elu(cx, x, 1, 1, 1) : scale_by(cx, elu(cx, scale_by(cx, x, 1 / a, "xa"), 1, 1, 1), a, NULL);
    } else if (sub == ACT_MISH) { /* x * tanh(softplus(x)) */
        ir_value *t = lb_unary(cx, IR_OP_TANH, lb_unary(cx, IR_OP_SOFTPLUS, x, "sp"), "tanh");
        *r = lb_binary(cx, IR_OP_MUL, x, t, NULL);
    } else if (sub == ACT_HARDSIGMOID || sub == ACT_HARDSWISH) {
        /* relu6(x + 3) / 6 = clip(x / 6 + 1/2, 0, 1): MIL's sigmoid_hard, one op as coremltools writes it (* x) */
        ir_op *op = lb_op(cx, IR_OP_SIGMOID_HARD, sub == ACT_HARDSWISH ? "hsig" : NULL);
        if (!op || ir_op_set_input(op, "x", x) || lb_param_f(cx, op, "alpha", 1.0 / 6.0, x->type.dtype) ||
            lb_param_f(cx, op, "beta", 0.5, x->type.dtype))
            return -1;
        ir_value *hs = lb_finish(cx, op);
        *r = sub == ACT_HARDSIGMOID ? hs : lb_binary(cx, IR_OP_MUL, x, hs, NULL);
    } else if (sub == ACT_LOG_SIGMOID) { /* -softplus(-x) */
        *r = scale_by(cx, lb_unary(cx, IR_OP_SOFTPLUS, scale_by(cx, x, -1, "negx"), "sp"), -1, NULL);
    } else if (sub == ACT_THRESHOLD) { /* x > threshold ? x : value */
        double th, val;
        if (lower_float_in(cx, n, 1, &th) || lower_float_in(cx, n, 2, &val)) return -1;
        ir_value *t = lb_const_like(cx, th, x, "threshold"), *v = lb_const_like(cx, val, x, "value");
        ir_value *c = lb_binary(cx, IR_OP_GREATER, x, t, "above");
        *r = lb_select(cx, c, x, v, NULL);
    } else if (sub == ACT_PRELU) { /* max(x, 0) + w * min(x, 0), w along dim 1 */
        ir_value *w = lower_tensor_in(cx, n, 1, x->type.dtype);
        if (!w) return -1;
        int64_t c = ir_type_numel(&w->type);
        if (c != 1 && x->type.rank >= 2) {
            int64_t shape[IR_MAX_RANK];
            shape[0] = c;
            for (int i = 2; i < x->type.rank; i++) shape[i - 1] = 1;
            if (!(w = lb_reshape(cx, w, x->type.rank - 1, shape, "weight"))) return -1;
        } else if (c != 1) {
            return lower_fail(cx, "prelu with %lld weights on a rank-%d input", (long long)c, x->type.rank);
        }
        ir_value *z = lb_const_like(cx, 0, x, "zero");
        ir_value *pos = lb_binary(cx, IR_OP_MAXIMUM, x, z, "pos");
        ir_value *neg = lb_binary(cx, IR_OP_MINIMUM, x, z, "neg");
        ir_value *wn = lb_binary(cx, IR_OP_MUL, neg, w, "wneg");
        *r = lb_binary(cx, IR_OP_ADD, pos, wn, NULL);
    } else if (sub == ACT_RRELU) { /* inference: leaky_relu with the mean slope */
        double lo, hi;
        int training = 0;
        if (optional_float(cx, n, 1, 1.0 / 8, &lo) || optional_float(cx, n, 2, 1.0 / 3, &hi) ||
            (n->nin > 3 && lower_bool_in(cx, n, 3, &training)))
            return -1;
        if (training) return lower_fail(cx, "rrelu in training mode is random");
        *r = with_alpha(cx, IR_OP_LEAKY_RELU, x, "alpha", (lo + hi) / 2);
    } else if (sub == ACT_HARDSHRINK || sub == ACT_SOFTSHRINK) {
        double l;
        if (optional_float(cx, n, 1, 0.5, &l)) return -1;
        if (sub == ACT_SOFTSHRINK) { /* x - clip(x, -l, l) */
            ir_op *op = lb_op(cx, IR_OP_CLIP, "inner");
            if (!op || ir_op_set_input(op, "x", x) || lb_param_f(cx, op, "alpha", -l, x->type.dtype) ||
                lb_param_f(cx, op, "beta", l, x->type.dtype))
                return -1;
            ir_value *c = lb_finish(cx, op);
            *r = lb_binary(cx, IR_OP_SUB, x, c, NULL);
        } else { /* |x| > l ? x : 0 */
            ir_value *t = lb_const_like(cx, l, x, "lambd"), *z = lb_const_like(cx, 0, x, "zero");
            ir_value *c = lb_binary(cx, IR_OP_GREATER, lb_unary(cx, IR_OP_ABS, x, "abs"), t, "outside");
            *r = lb_select(cx, c, x, z, NULL);
        }
    } else if (sub == ACT_GLU) { /* a * sigmoid(b), a and b the halves along dim */
        int64_t dim = -1, sizes[2];
        int axis;
        if ((n->nin > 1 && lower_int_in(cx, n, 1, &dim)) || lower_axis(cx, dim, x->type.rank, &axis)) return -1;
        int64_t d = x->type.dims[axis];
        if (d < 0 || d % 2) return lower_fail(cx, "glu needs an even, known size along dim %lld (got %lld)", (long long)dim, (long long)d);
        sizes[0] = sizes[1] = d / 2;
        ir_op *op = lb_op(cx, IR_OP_SPLIT, "halves");
        if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "split_sizes", 2, sizes) ||
            lb_param_i32(cx, op, "axis", axis) || !lb_finish(cx, op))
            return -1;
        ir_value *s = lb_unary(cx, IR_OP_SIGMOID, op->out[1], "gate");
        *r = lb_binary(cx, IR_OP_MUL, op->out[0], s, NULL);
    } else {
        return 0;
    }
    return *r ? 0 : -1;
}

/* The row's .sub: ACT_MIL is its .mil on a float tensor (LR_KEEPS_INT: an int32 tensor stays int, max with 0
 * and min with .c when it caps); the others read their arguments or compose. */
int lower_activation(lower_ctx *cx, const ts_node *n) {
    const lower_row *row = cx->row;
    int sub = row->sub;
    ir_value *xi = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (xi && xi->type.dtype == IR_INT32 && (row->flags & LR_KEEPS_INT)) { /* relu, relu6: stays int */
        int cap = row->c != 0;
        ir_value *m = lb_binary(cx, IR_OP_MAXIMUM, xi, lb_const_scalar(cx, 0, IR_INT32, "zero"), cap ? "relu" : NULL);
        if (cap) m = lb_binary(cx, IR_OP_MINIMUM, m, lb_const_scalar(cx, row->c, IR_INT32, "six"), NULL);
        return lower_out_tensor(cx, n, 0, m);
    }
    ir_value *x = float_in(cx, n), *r = NULL;
    if (!x) return -1;
    if (sub == ACT_MIL) {
        r = lb_unary(cx, row->mil, x, NULL);
    } else if (sub == ACT_HARDTANH) {
        double lo, hi;
        if (optional_float(cx, n, 1, -1, &lo) || optional_float(cx, n, 2, 1, &hi)) return -1;
        if (lo == 0 && hi == 6) {
            r = lb_unary(cx, IR_OP_RELU6, x, NULL);
        } else {
            ir_op *op = lb_op(cx, IR_OP_CLIP, NULL);
            if (!op || ir_op_set_input(op, "x", x) || lb_param_f(cx, op, "alpha", lo, x->type.dtype) ||
                lb_param_f(cx, op, "beta", hi, x->type.dtype))
                return -1;
            r = lb_finish(cx, op);
        }
    } else if (sub == ACT_GELU) {
        const char *mode = "EXACT";
        if (n->nin > 1 && !lower_is_none(cx, n, 1)) {
            lv *a = lower_in(cx, n, 1);
            if (!a || a->kind != LV_STR) return lower_fail(cx, "approximate must be a str");
            if (strcmp(a->s, "tanh") == 0) mode = "TANH_APPROXIMATION";
            else if (strcmp(a->s, "none") != 0) return lower_fail(cx, "approximate='%s' is not supported", a->s);
        }
        ir_op *op = lb_op(cx, IR_OP_GELU, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lb_param_str(cx, op, "mode", mode)) return -1;
        r = lb_finish(cx, op);
    } else if (sub == ACT_LEAKY_RELU) {
        double a;
        if (optional_float(cx, n, 1, 0.01, &a)) return -1;
        r = with_alpha(cx, IR_OP_LEAKY_RELU, x, "alpha", a);
    } else if (sub == ACT_ELU) {
        double a, scale, iscale;
        if (optional_float(cx, n, 1, 1, &a) || optional_float(cx, n, 2, 1, &scale) || optional_float(cx, n, 3, 1, &iscale))
            return -1;
        r = elu(cx, x, a, scale, iscale);
    } else if (sub == ACT_SOFTPLUS) {
        double beta, th;
        if (optional_float(cx, n, 1, 1, &beta) || optional_float(cx, n, 2, 20, &th)) return -1;
        r = softplus(cx, x, beta, th);
    } else if (composed(cx, n, sub, x, &r) < 0) {
        return -1;
    } else if (r) {
        /* composed */
    } else {
        return lower_fail(cx, "internal: unknown activation");
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* Reduction over one axis keeping dims: reduce_<k>(x, axes=[axis], keep_dims=true). */
static ir_value *reduce1(lower_ctx *cx, ir_opkind k, ir_value *x, int axis, const char *suffix) {
    int64_t ax = axis;
    ir_op *op = lb_op(cx, k, suffix);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", 1, &ax) ||
        lb_param_bool(cx, op, "keep_dims", 1))
        return NULL;
    return lb_finish(cx, op);
}

/* softmax(x, dim, dtype?), log_softmax, and _softmax / _log_softmax(x, dim, half_to_float) (the row's
 * .sub and LR_DTYPE_ARG): log_softmax as (x - max) - log(sum(exp(x - max))). */
int lower_softmax(lower_ctx *cx, const ts_node *n) {
    ir_value *x = float_in(cx, n);
    int64_t dim;
    int axis;
    if (!x || lower_int_in(cx, n, 1, &dim) || lower_axis(cx, dim, x->type.rank, &axis)) return -1;
    if ((cx->row->flags & LR_DTYPE_ARG) && n->nin > 2 && !lower_is_none(cx, n, 2)) { /* dtype= */
        int64_t code;
        ir_dtype dt;
        if (lower_int_in(cx, n, 2, &code) || lower_scalar_type(cx, code, &dt)) return -1;
        if (!ir_dtype_is_float(dt)) return lower_fail(cx, "softmax in a non-float dtype");
        if (dt != x->type.dtype && !(x = lb_cast(cx, x, dt, "dtype"))) return -1;
    }
    if (cx->row->sub != SOFTMAX_LOG) {
        ir_op *op = lb_op(cx, IR_OP_SOFTMAX, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "axis", axis)) return -1;
        return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
    }
    ir_value *m = reduce1(cx, IR_OP_REDUCE_MAX, x, axis, "max");
    ir_value *s = lb_binary(cx, IR_OP_SUB, x, m, "shifted");
    ir_value *e = lb_unary(cx, IR_OP_EXP, s, "exp");
    ir_value *sum = reduce1(cx, IR_OP_REDUCE_SUM, e, axis, "sum");
    ir_value *lg = lb_unary(cx, IR_OP_LOG, sum, "log");
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_SUB, s, lg, NULL));
}
