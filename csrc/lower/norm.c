/* norm.c: aten::batch_norm (running or batch statistics), layer_norm, group_norm, instance_norm, rms_norm,
 * the native_* forms that return (output, mean, rstd) tuples (native_layer_norm, native_group_norm,
 * native_batch_norm, _native_batch_norm_legit[_no_training]) and weight normalization (_weight_norm,
 * _weight_norm_interface); statistics outputs are computed only when something reads them (vector and
 * matrix norms are in reduce.c). */
#include "lower/build.h"

#include <float.h>
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
    ir_value *mean = lower_tensor_in(cx, n, 3, dt), *var = lower_tensor_in(cx, n, 4, dt);
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
    if (LB_SKIP(cx, x)) return NULL;
    int64_t axes[IR_MAX_RANK];
    int k = 0;
    for (int i = from; i < x->type.rank; i++) axes[k++] = i;
    ir_op *op = lb_op(cx, IR_OP_LAYER_NORM, "normed");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", k, axes) ||
        lb_param_f(cx, op, "epsilon", eps, x->type.dtype))
        return NULL;
    return lb_finish(cx, op);
}

/* Over `axes` of x (kept as size-1 dims): d = x - mean, rstd = 1 / sqrt(mean(d^2) + eps). */
static int moments(lower_ctx *cx, ir_value *x, int nax, const int64_t *axes, double eps, ir_value **mean,
                   ir_value **d, ir_value **rstd) {
    *mean = lb_reduce(cx, IR_OP_REDUCE_MEAN, x, nax, axes, 1);
    *d = lb_binary(cx, IR_OP_SUB, x, *mean, "centered");
    ir_value *sq = lb_binary(cx, IR_OP_MUL, *d, *d, "sq");
    ir_value *var = lb_reduce(cx, IR_OP_REDUCE_MEAN, sq, nax, axes, 1);
    ir_value *ve = lb_scalar_op(cx, IR_OP_ADD, var, eps);
    *rstd = lb_unary(cx, IR_OP_RSQRT, ve, "rstd");
    return *rstd ? 0 : -1;
}

/* Optional tensor input i (None or missing: *out = NULL). */
static int opt_tensor(lower_ctx *cx, const ts_node *n, int i, ir_dtype dt, ir_value **out) {
    *out = NULL;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    return (*out = lower_tensor_in(cx, n, i, dt)) ? 0 : -1;
}

/* Bind None to outputs [from, nout) nothing reads. */
static int unused_none(lower_ctx *cx, const ts_node *n, int from) {
    for (int i = from; i < n->nout; i++)
        if (!lb_used(cx, n, i) && lower_out(cx, n, i, lv_none(cx))) return -1;
    return 0;
}

/* y * g + b with g, b of shape [C] laid along axis 1 of a rank-r y (r <= 2: as they are). */
static ir_value *channel_scale_shift(lower_ctx *cx, ir_value *y, ir_value *g, ir_value *b) {
    if (LB_SKIP(cx, y)) return NULL;
    int r = y->type.rank;
    int64_t shape[IR_MAX_RANK];
    shape[0] = -1;
    for (int i = 1; i < r - 1; i++) shape[i] = 1;
    if (g) {
        ir_value *gg = r > 2 ? lb_reshape(cx, g, r - 1, shape, "gamma") : g;
        y = lb_binary(cx, IR_OP_MUL, y, gg, "scaled");
    }
    if (b) {
        ir_value *bb = r > 2 ? lb_reshape(cx, b, r - 1, shape, "beta") : b;
        y = lb_binary(cx, IR_OP_ADD, y, bb, "shifted");
    }
    return y;
}

/* y * weight + bias per channel, from inputs ig / ib (None: skipped). */
static ir_value *channel_affine(lower_ctx *cx, const ts_node *n, ir_value *y, int ig, int ib) {
    if (LB_SKIP(cx, y)) return NULL;
    ir_value *g, *b;
    if (opt_tensor(cx, n, ig, y->type.dtype, &g) || opt_tensor(cx, n, ib, y->type.dtype, &b)) return NULL;
    return channel_scale_shift(cx, y, g, b);
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
    y = norm_from(cx, y, 2, eps);
    y = lb_reshape(cx, y, r, back, "ungrouped");
    return lower_out_tensor(cx, n, 0, channel_affine(cx, n, y, 2, 3));
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
        ir_value *mean = lower_tensor_in(cx, n, 3, dt), *var = lower_tensor_in(cx, n, 4, dt);
        ir_op *op = lb_op(cx, IR_OP_BATCH_NORM, NULL);
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
    return lower_out_tensor(cx, n, 0, channel_affine(cx, n, y, 1, 2));
}

/* rms_norm(input, normalized_shape, weight?, eps?): x / sqrt(mean(x^2 over the last dims) + eps) * weight;
 * eps None is the machine epsilon of the input's dtype (torch.finfo(float32).eps for a traced fp32 model). */
int lower_rms_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *w;
    int64_t shape[IR_MAX_RANK], axes[IR_MAX_RANK];
    int k;
    double eps = FLT_EPSILON;
    if (!x || lower_ints_in(cx, n, 1, shape, IR_MAX_RANK, &k)) return -1;
    if (n->nin > 3 && !lower_is_none(cx, n, 3) && lower_float_in(cx, n, 3, &eps)) return -1;
    if (!ir_dtype_is_float(x->type.dtype)) return lower_fail(cx, "rms_norm of a non-float input");
    int r = x->type.rank;
    if (k < 1 || k > r) return lower_fail(cx, "normalized_shape of %d dims for a rank-%d input", k, r);
    for (int i = 0; i < k; i++) {
        int64_t d = x->type.dims[r - k + i];
        if (d >= 0 && d != shape[i])
            return lower_fail(cx, "normalized_shape[%d] = %lld but the input's dim is %lld", i, (long long)shape[i],
                              (long long)d);
        axes[i] = r - k + i;
    }
    if (opt_tensor(cx, n, 2, x->type.dtype, &w)) return -1;
    ir_value *sq = lb_binary(cx, IR_OP_MUL, x, x, "sq");
    ir_value *ms = lb_reduce(cx, IR_OP_REDUCE_MEAN, sq, k, axes, 1);
    ir_value *me = lb_scalar_op(cx, IR_OP_ADD, ms, eps);
    ir_value *rs = lb_unary(cx, IR_OP_RSQRT, me, "rrms");
    ir_value *y = lb_binary(cx, IR_OP_MUL, x, rs, w ? "normed" : NULL);
    if (y && w) y = lb_binary(cx, IR_OP_MUL, y, w, NULL);
    return lower_out_tensor(cx, n, 0, y);
}

/* native_layer_norm(input, normalized_shape, weight?, bias?, eps) -> (out, mean, rstd), mean and rstd
 * shaped like the input with the normalized dims set to 1. */
int lower_native_layer_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *g, *b;
    int64_t shape[IR_MAX_RANK], axes[IR_MAX_RANK];
    int k;
    double eps;
    if (!x || lower_ints_in(cx, n, 1, shape, IR_MAX_RANK, &k) || lower_float_in(cx, n, 4, &eps)) return -1;
    int r = x->type.rank;
    if (k < 1 || k > r) return lower_fail(cx, "normalized_shape of %d dims for a rank-%d input", k, r);
    for (int i = 0; i < k; i++) axes[i] = r - k + i;
    ir_dtype dt = x->type.dtype;
    if (opt_tensor(cx, n, 2, dt, &g) || opt_tensor(cx, n, 3, dt, &b)) return -1;
    ir_op *op = lb_op(cx, IR_OP_LAYER_NORM, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", k, axes) ||
        (g && ir_op_set_input(op, "gamma", g)) || (b && ir_op_set_input(op, "beta", b)) ||
        lb_param_f(cx, op, "epsilon", eps, dt) || lower_out_tensor(cx, n, 0, lb_finish(cx, op)))
        return -1;
    if (lb_used(cx, n, 1) || lb_used(cx, n, 2)) {
        ir_value *mean, *d, *rstd;
        if (moments(cx, x, k, axes, eps, &mean, &d, &rstd) || lower_out_tensor(cx, n, 1, mean) ||
            lower_out_tensor(cx, n, 2, rstd))
            return -1;
    }
    return unused_none(cx, n, 1);
}

/* native_group_norm(input, weight?, bias?, N, C, HxW, group, eps) -> (out, mean [N, G], rstd [N, G]). */
int lower_native_group_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *g, *b;
    int64_t N, C, HxW, G;
    double eps;
    if (!x || lower_int_in(cx, n, 3, &N) || lower_int_in(cx, n, 4, &C) || lower_int_in(cx, n, 5, &HxW) ||
        lower_int_in(cx, n, 6, &G) || lower_float_in(cx, n, 7, &eps))
        return -1;
    ir_dtype dt = x->type.dtype;
    if (opt_tensor(cx, n, 1, dt, &g) || opt_tensor(cx, n, 2, dt, &b)) return -1;
    int r = x->type.rank;
    if (r < 2) return lower_fail(cx, "native_group_norm of a rank-%d input", r);
    if (G < 1 || C < 1 || C % G) return lower_fail(cx, "%lld channels in %lld groups", (long long)C, (long long)G);
    int64_t gs[3] = {N, G, C / G * HxW}, back[IR_MAX_RANK], ax = 2;
    for (int i = 2; i < r; i++)
        if ((back[i] = x->type.dims[i]) < 0) return lower_fail(cx, "native_group_norm needs static spatial dims");
    back[0] = N;
    back[1] = C;
    ir_value *xg = lb_reshape(cx, x, 3, gs, "grouped"), *mean, *d, *rstd;
    if (!xg || moments(cx, xg, 1, &ax, eps, &mean, &d, &rstd)) return -1;
    ir_value *y = lb_binary(cx, IR_OP_MUL, d, rstd, "normed");
    y = lb_reshape(cx, y, r, back, "ungrouped");
    y = channel_scale_shift(cx, y, g, b);
    if (lower_out_tensor(cx, n, 0, y)) return -1;
    int64_t ng[2] = {N, G};
    if (lb_used(cx, n, 1) && lower_out_tensor(cx, n, 1, lb_reshape(cx, mean, 2, ng, "mean"))) return -1;
    if (lb_used(cx, n, 2) && lower_out_tensor(cx, n, 2, lb_reshape(cx, rstd, 2, ng, "rstd"))) return -1;
    return unused_none(cx, n, 1);
}

/* Batch norm with the batch's own statistics: x (N, C, *) normalized per channel over every dim but 1 with the
 * biased variance, then g, b ([C], either may be NULL). The normalization is one layer_norm over x with its
 * channel axis moved first (it keeps fp16 data from overflowing in the squares); mean / rstd (kept dims), when
 * asked for (non-NULL), are computed apart. */
ir_value *lb_bn_batch_stats(lower_ctx *cx, ir_value *x, ir_value *g, ir_value *b, double eps, ir_value **mean,
                               ir_value **rstd) {
    if (LB_SKIP(cx, x)) return NULL;
    int r = x->type.rank, nax = 0;
    int64_t axes[IR_MAX_RANK], perm[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        perm[i] = i == 0 ? 1 : i == 1 ? 0 : i;
        if (i != 1) axes[nax++] = i;
    }
    if (mean && rstd) {
        ir_value *d;
        if (moments(cx, x, nax, axes, eps, mean, &d, rstd)) return NULL;
    }
    ir_value *xt = lb_transpose(cx, x, perm), *y = NULL;
    ir_op *op = lb_op(cx, IR_OP_LAYER_NORM, "normed");
    for (int i = 1; i < r; i++) axes[i - 1] = i;
    if (op && !ir_op_set_input(op, "x", xt) && !lb_param_i32v(cx, op, "axes", r - 1, axes) &&
        !lb_param_f(cx, op, "epsilon", eps, x->type.dtype))
        y = lb_transpose(cx, lb_finish(cx, op), perm);
    return channel_scale_shift(cx, y, g, b);
}

/* native_batch_norm(input, weight?, bias?, running_mean?, running_var?, training, momentum, eps),
 * _native_batch_norm_legit(same) / _native_batch_norm_legit.no_stats(input, weight?, bias?, training, momentum, eps),
 * _native_batch_norm_legit_no_training(input, weight?, bias?, running_mean, running_var, momentum, eps)
 *   -> (out, save_mean, save_invstd).
 * With running statistics and training False: MIL batch_norm (the saved statistics are empty tensors in torch,
 * so reading them is refused). Training (or no statistics): normalized with the batch's own statistics over
 * every dim but 1; the saved mean and 1/sqrt(var + eps) are [C]. Running statistics are not updated. */
int lower_native_batch_norm(lower_ctx *cx, const ts_node *n) {
    int no_train = cx->row->sub == 1;
    int no_stats = !no_train && n->nin == 6;
    int i_train = no_stats ? 3 : 5, i_eps = no_train ? 6 : no_stats ? 5 : 7, training = 0;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *g, *b;
    double eps;
    if (!x || (!no_train && lower_bool_in(cx, n, i_train, &training)) || lower_float_in(cx, n, i_eps, &eps)) return -1;
    ir_dtype dt = x->type.dtype;
    int r = x->type.rank;
    if (r < 2 || r > 5) return lower_fail(cx, "batch norm of a rank-%d input", r);
    if (opt_tensor(cx, n, 1, dt, &g) || opt_tensor(cx, n, 2, dt, &b)) return -1;
    if (!no_stats && !training && (lower_is_none(cx, n, 3) || lower_is_none(cx, n, 4)))
        return lower_fail(cx, "batch norm in inference mode without running statistics");
    if (no_stats || training) {
        int64_t c1[1] = {-1};
        ir_value *mean = NULL, *rstd = NULL;
        int stats = lb_used(cx, n, 1) || lb_used(cx, n, 2);
        if (lower_out_tensor(cx, n, 0, lb_bn_batch_stats(cx, x, g, b, eps, stats ? &mean : NULL, stats ? &rstd : NULL)))
            return -1;
        if (lb_used(cx, n, 1) && lower_out_tensor(cx, n, 1, lb_reshape(cx, mean, 1, c1, "save_mean"))) return -1;
        if (lb_used(cx, n, 2) && lower_out_tensor(cx, n, 2, lb_reshape(cx, rstd, 1, c1, "save_invstd"))) return -1;
        return unused_none(cx, n, 1);
    }
    if (lb_used(cx, n, 1) || lb_used(cx, n, 2))
        return lower_fail(cx, "the saved mean / invstd outputs of inference-mode batch norm are empty tensors in "
                              "torch and cannot be used");
    ir_value *mean = lower_tensor_in(cx, n, 3, dt), *var = lower_tensor_in(cx, n, 4, dt);
    if (!var) return -1;
    int64_t ax = 2;
    if (r == 2 && !(x = lb_expand(cx, x, 1, &ax))) return -1;
    ir_op *op = lb_op(cx, IR_OP_BATCH_NORM, r == 2 ? "bn" : NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "mean", mean) ||
        ir_op_set_input(op, "variance", var) || (g && ir_op_set_input(op, "gamma", g)) ||
        (b && ir_op_set_input(op, "beta", b)) || lb_param_f(cx, op, "epsilon", eps, dt))
        return -1;
    ir_value *y = lb_finish(cx, op);
    if (r == 2) y = lb_squeeze(cx, y, 1, &ax);
    return lower_out_tensor(cx, n, 0, y) ? -1 : unused_none(cx, n, 1);
}

/* _weight_norm(v, g, dim) and _weight_norm_interface(v, g, dim) -> (w, norms):
 * w = v * g / ||v|| with the 2-norm over every dim but `dim` (dim -1: over the whole tensor); norms has g's shape. */
int lower_weight_norm(lower_ctx *cx, const ts_node *n) {
    ir_value *v = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *g = lower_tensor_in_as(cx, n, 1, v);
    int64_t dim, axes[IR_MAX_RANK];
    if (!g || lower_int_in(cx, n, 2, &dim)) return -1;
    int r = v->type.rank, nax = 0;
    if (!ir_dtype_is_float(v->type.dtype)) return lower_fail(cx, "weight norm of a non-float tensor");
    if (dim < -1 || dim >= r) return lower_fail(cx, "dim %lld is out of range for rank %d", (long long)dim, r);
    for (int i = 0; i < r; i++)
        if (i != dim) axes[nax++] = i;
    ir_value *sq = lb_binary(cx, IR_OP_MUL, v, v, "sq");
    ir_value *nrm = lb_unary(cx, IR_OP_SQRT, lb_reduce(cx, IR_OP_REDUCE_SUM, sq, nax, axes, 1), "norm");
    ir_value *s = lb_binary(cx, IR_OP_REAL_DIV, g, nrm, "gain");
    if (!s || lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_MUL, v, s, NULL))) return -1;
    if (n->nout > 1 && lb_used(cx, n, 1)) {
        if (!ir_type_is_static(&g->type)) return lower_fail(cx, "weight norm's norms output needs g of a static shape");
        return lower_out_tensor(cx, n, 1, lb_reshape(cx, nrm, g->type.rank, g->type.dims, "norms"));
    }
    return unused_none(cx, n, 1);
}
