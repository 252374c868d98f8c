/* norm.c: aten::batch_norm (running or batch statistics), layer_norm, group_norm, instance_norm (vector and
 * matrix norms are in reduce.c). */
#include "lower/build.h"

#include <math.h>
#include <string.h>

/* batch_norm(input, weight?, bias?, running_mean?, running_var?, training, momentum, eps, cudnn) */
int lower_batch_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int training = 0;
    double eps;
    if (!x || lower_bool_in(cx, n, 5, &training) || lower_float_in(cx, n, 7, &eps)) return -1;
    ir_dtype dt = x->type.dtype;
    int r = x->type.rank;
    if (r < 2 || r > 5) return lower_fail(cx, "batch_norm of a rank-%d input", r);
    if (training || lower_is_none(cx, n, 3) || lower_is_none(cx, n, 4)) {
        /* traced in training mode, track_running_stats=False or F.batch_norm(training=True): the batch's
         * own statistics, as torch computed them (running statistics are not updated) */
        ir_value *g = NULL, *b = NULL;
        if ((!lower_is_none(cx, n, 1) && !(g = lower_tensor_in(cx, n, 1, dt))) ||
            (!lower_is_none(cx, n, 2) && !(b = lower_tensor_in(cx, n, 2, dt))))
            return -1;
        return lower_out_tensor(cx, n, 0, lb_bn_batch_stats(cx, x, g, b, eps, NULL, NULL));
    }
    ir_value *mean = lower_tensor_in(cx, n, 3, dt), *var = mean ? lower_tensor_in(cx, n, 4, dt) : NULL;
    if (!var) return -1;
    if (r == 2) { /* (N, C) -> (N, C, 1) and back */
        int64_t ax = 2;
        ir_op *e = lb_op(cx, IR_OP_EXPAND_DIMS, "rank3");
        if (!e || ir_op_set_input(e, "x", x) || lb_param_i32v(cx, e, "axes", 1, &ax) || !(x = lb_finish(cx, e)))
            return -1;
    }
    ir_op *op = lb_op(cx, IR_OP_BATCH_NORM, r == 2 ? "bn" : NULL);
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
    if (lb_param_f(cx, op, "epsilon", eps, dt)) return -1;
    ir_value *y = lb_finish(cx, op);
    if (y && r == 2) {
        int64_t ax = 2;
        ir_op *s = lb_op(cx, IR_OP_SQUEEZE, NULL);
        if (!s || ir_op_set_input(s, "x", y) || lb_param_i32v(cx, s, "axes", 1, &ax)) return -1;
        y = lb_finish(cx, s);
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
    ir_op *op = lb_op(cx, IR_OP_LAYER_NORM, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", k, axes)) return -1;
    if (n->nin > 2 && !lower_is_none(cx, n, 2)) {
        ir_value *g = lower_tensor_in(cx, n, 2, dt);
        if (!g || ir_op_set_input(op, "gamma", g)) return -1;
    }
    if (n->nin > 3 && !lower_is_none(cx, n, 3)) {
        ir_value *b = lower_tensor_in(cx, n, 3, dt);
        if (!b || ir_op_set_input(op, "beta", b)) return -1;
    }
    if (lb_param_f(cx, op, "epsilon", eps, dt)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

/* x normalized over its axes [from, rank) (layer_norm without affine), per-channel gamma/beta
 * (shape [C], channel axis 1) applied after. */
static ir_value *norm_from(lower_ctx *cx, ir_value *x, int from, double eps) {
    int64_t axes[IR_MAX_RANK];
    int k = 0;
    for (int i = from; i < x->type.rank; i++) axes[k++] = i;
    ir_op *op = lb_op(cx, IR_OP_LAYER_NORM, "normed");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", k, axes) ||
        lb_param_f(cx, op, "epsilon", eps, x->type.dtype))
        return NULL;
    return lb_finish(cx, op);
}

static ir_value *channel_affine(lower_ctx *cx, const ts_node *n, ir_value *y, int ig, int ib) {
    int r = y->type.rank;
    int64_t shape[IR_MAX_RANK];
    shape[0] = -1;
    for (int i = 1; i < r - 1; i++) shape[i] = 1;
    for (int pass = 0; pass < 2 && y; pass++) {
        int i = pass ? ib : ig;
        if (i >= n->nin || lower_is_none(cx, n, i)) continue;
        ir_value *p = lower_tensor_in(cx, n, i, y->type.dtype);
        if (!p) return NULL;
        if (r > 2) p = lb_reshape(cx, p, r - 1, shape, pass ? "beta" : "gamma");
        y = p ? lb_binary(cx, pass ? IR_OP_ADD : IR_OP_MUL, y, p, pass ? "shifted" : "scaled") : NULL;
    }
    return y;
}

/* group_norm(input, num_groups, weight?, bias?, eps, cudnn): (N, C, *) -> (N, G, rest) normalized
 * over the last axis -> back, then the per-channel affine. */
int lower_group_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t g;
    double eps = 1e-5;
    if (!x || lower_int_in(cx, n, 1, &g) || (n->nin > 4 && lower_float_in(cx, n, 4, &eps))) return -1;
    int r = x->type.rank;
    if (r < 2) return lower_fail(cx, "group_norm of a rank-%d input", r);
    int64_t c = x->type.dims[1], rest = 1;
    for (int i = 2; i < r; i++) rest = x->type.dims[i] < 0 || rest < 0 ? -1 : rest * x->type.dims[i];
    if (c < 0 || rest < 0) return lower_fail(cx, "group_norm needs static channel and spatial dims");
    if (g < 1 || c % g) return lower_fail(cx, "%lld channels in %lld groups", (long long)c, (long long)g);
    int64_t gs[3] = {-1, g, c / g * rest}, back[IR_MAX_RANK];
    for (int i = 0; i < r; i++) back[i] = i == 0 ? -1 : x->type.dims[i];
    ir_value *y = lb_reshape(cx, x, 3, gs, "grouped");
    y = y ? norm_from(cx, y, 2, eps) : NULL;
    y = y ? lb_reshape(cx, y, r, back, "ungrouped") : NULL;
    return lower_out_tensor(cx, n, 0, y ? channel_affine(cx, n, y, 2, 3) : NULL);
}

/* instance_norm(input, weight?, bias?, running_mean?, running_var?, use_input_stats, momentum, eps, cudnn):
 * normalized over the spatial axes per sample and channel; with running statistics it is batch_norm. */
int lower_instance_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int use_stats = 1;
    double eps = 1e-5;
    if (!x || lower_bool_in(cx, n, 5, &use_stats) || lower_float_in(cx, n, 7, &eps)) return -1;
    if (x->type.rank < 3) return lower_fail(cx, "instance_norm of a rank-%d input", x->type.rank);
    if (!use_stats) {
        if (lower_is_none(cx, n, 3) || lower_is_none(cx, n, 4))
            return lower_fail(cx, "instance_norm without input statistics needs running statistics");
        ir_dtype dt = x->type.dtype;
        ir_value *mean = lower_tensor_in(cx, n, 3, dt), *var = mean ? lower_tensor_in(cx, n, 4, dt) : NULL;
        ir_op *op = var ? lb_op(cx, IR_OP_BATCH_NORM, NULL) : NULL;
        if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "mean", mean) || ir_op_set_input(op, "variance", var))
            return -1;
        for (int i = 1; i <= 2; i++) {
            if (lower_is_none(cx, n, i)) continue;
            ir_value *p = lower_tensor_in(cx, n, i, dt);
            if (!p || ir_op_set_input(op, i == 1 ? "gamma" : "beta", p)) return -1;
        }
        if (lb_param_f(cx, op, "epsilon", eps, dt)) return -1;
        return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
    }
    ir_value *y = norm_from(cx, x, 2, eps);
    return lower_out_tensor(cx, n, 0, y ? channel_affine(cx, n, y, 1, 2) : NULL);
}
