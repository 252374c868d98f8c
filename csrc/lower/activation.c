/* activation.c: relu family, hardtanh, sigmoid/tanh/silu, gelu, leaky_relu, elu,
 * softplus, softmax and log_softmax. */
#include "lower/lower_int.h"

#include <string.h>

static ir_value *float_in(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (x && !ir_dtype_is_float(x->type.dtype)) x = lower_cast(cx, x, IR_FP32, "float");
    return x;
}

/* op(x=x, <pname>=v) with a float scalar parameter. */
static ir_value *with_alpha(lower_ctx *cx, ir_opkind k, ir_value *x, const char *pname, double v) {
    ir_op *op = lower_op(cx, k, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lower_param_f(cx, op, pname, v, x->type.dtype)) return NULL;
    return lower_finish(cx, op);
}

static int optional_float(lower_ctx *cx, const ts_node *n, int i, double dflt, double *out) {
    *out = dflt;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    return lower_float_in(cx, n, i, out);
}

int lower_activation(lower_ctx *cx, const ts_node *n) {
    char k[32];
    snprintf(k, sizeof k, "%s", n->kind + 6);
    size_t len = strlen(k);
    if (len && k[len - 1] == '_') k[len - 1] = 0;
    ir_value *x = float_in(cx, n), *r = NULL;
    if (!x) return -1;
    if (strcmp(k, "relu") == 0) {
        r = lower_unary(cx, IR_OP_RELU, x, NULL);
    } else if (strcmp(k, "relu6") == 0) {
        r = lower_unary(cx, IR_OP_RELU6, x, NULL);
    } else if (strcmp(k, "sigmoid") == 0) {
        r = lower_unary(cx, IR_OP_SIGMOID, x, NULL);
    } else if (strcmp(k, "tanh") == 0) {
        r = lower_unary(cx, IR_OP_TANH, x, NULL);
    } else if (strcmp(k, "silu") == 0) {
        r = lower_unary(cx, IR_OP_SILU, x, NULL);
    } else if (strcmp(k, "hardtanh") == 0) {
        double lo, hi;
        if (optional_float(cx, n, 1, -1, &lo) || optional_float(cx, n, 2, 1, &hi)) return -1;
        if (lo == 0 && hi == 6) {
            r = lower_unary(cx, IR_OP_RELU6, x, NULL);
        } else {
            ir_op *op = lower_op(cx, IR_OP_CLIP, NULL);
            if (!op || ir_op_set_input(op, "x", x) || lower_param_f(cx, op, "alpha", lo, x->type.dtype) ||
                lower_param_f(cx, op, "beta", hi, x->type.dtype))
                return -1;
            r = lower_finish(cx, op);
        }
    } else if (strcmp(k, "gelu") == 0) {
        const char *mode = "EXACT";
        if (n->nin > 1 && !lower_is_none(cx, n, 1)) {
            lv *a = lower_in(cx, n, 1);
            if (!a || a->kind != LV_STR) return lower_fail(cx, "approximate must be a str");
            if (strcmp(a->s, "tanh") == 0) mode = "TANH_APPROXIMATION";
            else if (strcmp(a->s, "none") != 0) return lower_fail(cx, "approximate='%s' is not supported", a->s);
        }
        ir_op *op = lower_op(cx, IR_OP_GELU, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lower_param_str(cx, op, "mode", mode)) return -1;
        r = lower_finish(cx, op);
    } else if (strcmp(k, "leaky_relu") == 0) {
        double a;
        if (optional_float(cx, n, 1, 0.01, &a)) return -1;
        r = with_alpha(cx, IR_OP_LEAKY_RELU, x, "alpha", a);
    } else if (strcmp(k, "elu") == 0) {
        double a, scale, iscale;
        if (optional_float(cx, n, 1, 1, &a) || optional_float(cx, n, 2, 1, &scale) || optional_float(cx, n, 3, 1, &iscale))
            return -1;
        if (scale != 1 || iscale != 1) return lower_fail(cx, "elu with scale or input_scale other than 1");
        r = with_alpha(cx, IR_OP_ELU, x, "alpha", a);
    } else if (strcmp(k, "softplus") == 0) {
        double beta;
        if (optional_float(cx, n, 1, 1, &beta)) return -1;
        if (beta != 1) return lower_fail(cx, "softplus with beta %g (only 1)", beta);
        r = lower_unary(cx, IR_OP_SOFTPLUS, x, NULL);
    } else {
        return lower_fail(cx, "internal: unknown activation");
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* Reduction over one axis keeping dims: reduce_<k>(x, axes=[axis], keep_dims=true). */
static ir_value *reduce1(lower_ctx *cx, ir_opkind k, ir_value *x, int axis, const char *suffix) {
    int64_t ax = axis;
    ir_op *op = lower_op(cx, k, suffix);
    if (!op || ir_op_set_input(op, "x", x) || lower_param_i32v(cx, op, "axes", 1, &ax) ||
        lower_param_bool(cx, op, "keep_dims", 1))
        return NULL;
    return lower_finish(cx, op);
}

/* softmax(x, dim, dtype?) and log_softmax: the latter as (x - max) - log(sum(exp(x - max))). */
int lower_softmax(lower_ctx *cx, const ts_node *n) {
    ir_value *x = float_in(cx, n);
    int64_t dim;
    int axis;
    if (!x || lower_int_in(cx, n, 1, &dim) || lower_axis(cx, dim, x->type.rank, &axis)) return -1;
    if (strcmp(n->kind, "aten::softmax") == 0) {
        ir_op *op = lower_op(cx, IR_OP_SOFTMAX, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lower_param_i32(cx, op, "axis", axis)) return -1;
        return lower_out_tensor(cx, n, 0, lower_finish(cx, op));
    }
    ir_value *m = reduce1(cx, IR_OP_REDUCE_MAX, x, axis, "max");
    ir_value *s = m ? lower_binary(cx, IR_OP_SUB, x, m, "shifted") : NULL;
    ir_value *e = s ? lower_unary(cx, IR_OP_EXP, s, "exp") : NULL;
    ir_value *sum = e ? reduce1(cx, IR_OP_REDUCE_SUM, e, axis, "sum") : NULL;
    ir_value *lg = sum ? lower_unary(cx, IR_OP_LOG, sum, "log") : NULL;
    return lower_out_tensor(cx, n, 0, lg ? lower_binary(cx, IR_OP_SUB, s, lg, NULL) : NULL);
}
