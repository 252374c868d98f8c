/* norm.c: aten::batch_norm (inference) and aten::layer_norm. */
#include "lower/lower_int.h"

/* batch_norm(input, weight?, bias?, running_mean?, running_var?, training, momentum, eps, cudnn) */
int lower_batch_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int training = 0;
    double eps;
    if (!x || lower_bool_in(cx, n, 5, &training) || lower_float_in(cx, n, 7, &eps)) return -1;
    if (lower_is_none(cx, n, 3) || lower_is_none(cx, n, 4))
        return lower_fail(cx, "batch_norm without running statistics (track_running_stats=False) is not supported");
    if (training) return lower_fail(cx, "batch_norm in training mode; call model.eval() before tracing");
    ir_dtype dt = x->type.dtype;
    ir_value *mean = lower_tensor_in(cx, n, 3, dt), *var = mean ? lower_tensor_in(cx, n, 4, dt) : NULL;
    if (!var) return -1;
    int r = x->type.rank;
    if (r < 2 || r > 5) return lower_fail(cx, "batch_norm of a rank-%d input", r);
    if (r == 2) { /* (N, C) -> (N, C, 1) and back */
        int64_t ax = 2;
        ir_op *e = lower_op(cx, IR_OP_EXPAND_DIMS, "rank3");
        if (!e || ir_op_set_input(e, "x", x) || lower_param_i32v(cx, e, "axes", 1, &ax) || !(x = lower_finish(cx, e)))
            return -1;
    }
    ir_op *op = lower_op(cx, IR_OP_BATCH_NORM, r == 2 ? "bn" : NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "mean", mean) || ir_op_set_input(op, "variance", var))
        return -1;
    if (!lower_is_none(cx, n, 1)) {
        ir_value *g = lower_tensor_in(cx, n, 1, dt);
        if (!g || ir_op_set_input(op, "gamma", g)) return -1;
    }
    if (!lower_is_none(cx, n, 2)) {
        ir_value *b = lower_tensor_in(cx, n, 2, dt);
        if (!b || ir_op_set_input(op, "beta", b)) return -1;
    }
    if (lower_param_f(cx, op, "epsilon", eps, dt)) return -1;
    ir_value *y = lower_finish(cx, op);
    if (y && r == 2) {
        int64_t ax = 2;
        ir_op *s = lower_op(cx, IR_OP_SQUEEZE, NULL);
        if (!s || ir_op_set_input(s, "x", y) || lower_param_i32v(cx, s, "axes", 1, &ax)) return -1;
        y = lower_finish(cx, s);
    }
    return lower_out_tensor(cx, n, 0, y);
}

/* layer_norm(input, normalized_shape, weight?, bias?, eps, cudnn_enable): axes = the last len(shape) dims. */
int lower_layer_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t shape[IR_MAX_RANK], axes[IR_MAX_RANK];
    int k;
    double eps = 1e-5;
    if (!x || lower_ints_in(cx, n, 1, shape, IR_MAX_RANK, &k)) return -1;
    if (n->nin > 4 && lower_float_in(cx, n, 4, &eps)) return -1;
    int r = x->type.rank;
    if (k < 1 || k > r) return lower_fail(cx, "normalized_shape of %d dims for a rank-%d input", k, r);
    for (int i = 0; i < k; i++) axes[i] = r - k + i;
    ir_dtype dt = x->type.dtype;
    ir_op *op = lower_op(cx, IR_OP_LAYER_NORM, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lower_param_i32v(cx, op, "axes", k, axes)) return -1;
    if (n->nin > 2 && !lower_is_none(cx, n, 2)) {
        ir_value *g = lower_tensor_in(cx, n, 2, dt);
        if (!g || ir_op_set_input(op, "gamma", g)) return -1;
    }
    if (n->nin > 3 && !lower_is_none(cx, n, 3)) {
        ir_value *b = lower_tensor_in(cx, n, 3, dt);
        if (!b || ir_op_set_input(op, "beta", b)) return -1;
    }
    if (lower_param_f(cx, op, "epsilon", eps, dt)) return -1;
    return lower_out_tensor(cx, n, 0, lower_finish(cx, op));
}
