/* loss.c: loss functions composed from MIL ops, reduction 0 'none', 1 'mean', 2 'sum':
 * mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy(_with_logits),
 * nll_loss (nll_loss_nd, nll_loss2d) and cross_entropy_loss (class indices or probabilities,
 * class weights, ignore_index, label_smoothing). */
#include "lower/build.h"

#include <string.h>

/* The reduction code at input i (a missing input means 'mean'). */
static int reduction_in(lower_ctx *cx, const ts_node *n, int i, int64_t *red) {
    *red = 1;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    if (lower_int_in(cx, n, i, red)) return -1;
    if (*red < 0 || *red > 2) return lower_fail(cx, "unknown reduction %lld", (long long)*red);
    return 0;
}

static ir_value *reduce_all(lower_ctx *cx, ir_value *x, ir_opkind k) {
    if (LB_SKIP(cx, x)) return NULL;
    if (x->type.rank == 0) return x;
    int64_t axes[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++) axes[i] = i;
    return lb_reduce(cx, k, x, x->type.rank, axes, 0);
}

/* The elementwise loss reduced: none, mean or sum over every element. */
static ir_value *reduce_loss(lower_ctx *cx, ir_value *l, int64_t red) {
    return red == 0 ? l : reduce_all(cx, l, red == 1 ? IR_OP_REDUCE_MEAN : IR_OP_REDUCE_SUM);
}

/* mse_loss / l1_loss(input, target, reduction); smooth_l1_loss(.., reduction, beta=1);
 * huber_loss(.., reduction, delta=1). Huber, with a = |d| and c = min(a, delta):
 * c * (a - c / 2); smooth L1 is Huber / beta (L1 when beta is 0). */
int lower_regression_loss(lower_ctx *cx, const ts_node *n) {
    int sub = cx->row->sub; /* LOSS_* */
    ir_value *v[2];
    int64_t red;
    if (lower_common_in(cx, n, 0, 2, 1, v) || reduction_in(cx, n, 2, &red)) return -1;
    ir_value *d = lb_binary(cx, IR_OP_SUB, v[0], v[1], "diff"), *l;
    if (!d) return -1;
    if (sub == LOSS_MSE) {
        l = lb_unary(cx, IR_OP_SQUARE, d, "sq");
    } else {
        double t = 1;
        if (sub != LOSS_L1 && n->nin > 3 && lower_float_in(cx, n, 3, &t)) return -1;
        ir_value *a = lb_unary(cx, IR_OP_ABS, d, "abs");
        if (sub == LOSS_L1 || t == 0) {
            l = a;
        } else {
            if (t < 0) return lower_fail(cx, "%s needs a non-negative beta / delta, got %g", cx->row->kind + 6, t);
            ir_value *c = lb_binary(cx, IR_OP_MINIMUM, a, lb_const_like(cx, t, a, "delta"), "clipped");
            ir_value *h = lb_binary(cx, IR_OP_SUB, a, lb_scalar_op(cx, IR_OP_MUL, c, 0.5), "rest");
            l = lb_binary(cx, IR_OP_MUL, c, h, "huber");
            if (sub == LOSS_SMOOTH_L1) l = lb_scalar_op(cx, IR_OP_MUL, l, 1 / t);
        }
    }
    return lower_out_tensor(cx, n, 0, reduce_loss(cx, l, red));
}

/* binary_cross_entropy(input, target, weight, reduction):
 *   -w (t max(log x, -100) + (1 - t) max(log(1 - x), -100));
 * binary_cross_entropy_with_logits(input, target, weight, pos_weight, reduction):
 *   w ((1 - t) x + (1 + (pw - 1) t) softplus(-x)). */
int lower_bce(lower_ctx *cx, const ts_node *n) {
    int logits = cx->row->sub == 1; /* binary_cross_entropy_with_logits */
    ir_value *v[2];
    int64_t red;
    if (lower_common_in(cx, n, 0, 2, 1, v) || reduction_in(cx, n, logits ? 4 : 3, &red)) return -1;
    ir_value *x = v[0], *t = v[1], *l;
    ir_dtype dt = x->type.dtype;
    ir_value *omt = lb_affine(cx, t, -1, 1);
    if (!omt) return -1;
    if (logits) {
        ir_value *sp = lb_unary(cx, IR_OP_SOFTPLUS, lb_scalar_op(cx, IR_OP_MUL, x, -1), "softplus");
        if (sp && !lower_is_none(cx, n, 3)) {
            ir_value *pw = lower_tensor_in(cx, n, 3, dt);
            if (pw && pw->type.dtype != dt) pw = lb_cast(cx, pw, dt, "pos_weight");
            ir_value *lw = lb_affine(cx, lb_binary(cx, IR_OP_MUL, lb_scalar_op(cx, IR_OP_SUB, pw, 1), t, "pw_t"), 1, 1);
            sp = lb_binary(cx, IR_OP_MUL, lw, sp, "weighted");
        }
        l = lb_binary(cx, IR_OP_ADD, lb_binary(cx, IR_OP_MUL, omt, x, "lin"), sp, "bce");
    } else {
        ir_value *lo = lb_const_scalar(cx, -100, dt, "floor");
        ir_value *lx = lb_binary(cx, IR_OP_MAXIMUM, lb_log(cx, x, "log"), lo, "log_c");
        ir_value *l1 = lb_binary(cx, IR_OP_MAXIMUM, lb_log(cx, lb_affine(cx, x, -1, 1), "log1m"), lo, "log1m_c");
        ir_value *s = lb_binary(cx, IR_OP_ADD, lb_binary(cx, IR_OP_MUL, t, lx, "pos"), lb_binary(cx, IR_OP_MUL, omt, l1, "neg"), "sum");
        l = lb_scalar_op(cx, IR_OP_MUL, s, -1);
    }
    if (l && !lower_is_none(cx, n, 2)) {
        ir_value *w = lower_tensor_in(cx, n, 2, dt);
        if (w && w->type.dtype != dt) w = lb_cast(cx, w, dt, "weight");
        l = lb_binary(cx, IR_OP_MUL, l, w, "weighted_loss");
    }
    return lower_out_tensor(cx, n, 0, reduce_loss(cx, l, red));
}

/* log_softmax along axis: (x - max) - log(sum(exp(x - max))). */
static ir_value *log_softmax(lower_ctx *cx, ir_value *x, int axis) {
    int64_t ax = axis;
    ir_value *s = lb_binary(cx, IR_OP_SUB, x, lb_reduce(cx, IR_OP_REDUCE_MAX, x, 1, &ax, 1), "shifted");
    ir_value *lse = lb_unary(cx, IR_OP_LOG, lb_reduce(cx, IR_OP_REDUCE_SUM, lb_unary(cx, IR_OP_EXP, s, "exp"), 1, &ax, 1), "lse");
    return lb_binary(cx, IR_OP_SUB, s, lse, "logp");
}

/* Class weights at input wi (None: ones) laid out along the class axis of a rank-r input
 * ([C, 1, .., 1] for the dims after it), times keep (when not NULL: 0 for ignore_index). */
static ir_value *class_weights(lower_ctx *cx, const ts_node *n, int wi, int64_t C, int r, int axis, ir_dtype dt,
                               int64_t ignore) {
    float *keep = pc_alloc(cx->p->arena, (size_t)C * sizeof(float));
    if (!keep) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t c = 0; c < C; c++) keep[c] = c != ignore;
    int64_t shp[IR_MAX_RANK];
    shp[0] = C;
    for (int i = 1; i < r - axis; i++) shp[i] = 1;
    ir_value *w = lb_const(cx, dt, r - axis, shp, keep, "class_keep");
    if (w && wi < n->nin && !lower_is_none(cx, n, wi)) {
        ir_value *u = lower_tensor_in(cx, n, wi, dt);
        if (u && u->type.dtype != dt) u = lb_cast(cx, u, dt, "weight_cast");
        if (u && (u->type.rank != 1 || u->type.dims[0] != C)) {
            lower_fail(cx, "weight must have %lld values (one per class)", (long long)C);
            return NULL;
        }
        if (u && r - axis > 1) u = lb_reshape(cx, u, r - axis, shp, "weight");
        w = lb_binary(cx, IR_OP_MUL, u, w, "weights");
    }
    return w;
}

/* nll_loss / nll_loss_nd / nll_loss2d(self, target, weight, reduction, ignore_index) and
 * cross_entropy_loss(self, target, weight, reduction, ignore_index, label_smoothing): self
 * [N, C, ..] or [C] (log-probabilities, or logits for cross_entropy), target [N, ..] / [] class
 * indices or, for cross_entropy, probabilities shaped like self. A one-hot mask (target ==
 * class) times the class weights picks each element's weight; 'mean' divides by their sum. */
int lower_nll(lower_ctx *cx, const ts_node *n) {
    int ce = cx->row->sub == 1; /* cross_entropy_loss */
    ir_value *x = lower_float_tensor_in(cx, n, 0);
    lv *tl = lower_in(cx, n, 1);
    int64_t red, ignore = -100;
    double eps = 0;
    if (!x || !tl || reduction_in(cx, n, 3, &red) || (n->nin > 4 && lower_int_in(cx, n, 4, &ignore)) ||
        (ce && n->nin > 5 && lower_float_in(cx, n, 5, &eps)))
        return -1;
    int r = x->type.rank, axis = r == 1 ? 0 : 1;
    if (r < 1) return lower_fail(cx, "the input needs at least 1 dim");
    int64_t C = x->type.dims[axis], cax = axis;
    if (C < 0) return lower_fail(cx, "the number of classes must be known at conversion time");
    ir_dtype dt = x->type.dtype;
    if (ce && !(x = log_softmax(cx, x, axis))) return -1;
    ir_value *t = lb_as_tensor(cx, tl, IR_DT_INVALID);
    if (!t) return -1;
    ir_value *w = class_weights(cx, n, 2, C, r, axis, dt, ce && ir_dtype_is_float(t->type.dtype) ? C : ignore);
    if (!w) return -1;
    if (ir_dtype_is_float(t->type.dtype)) { /* cross_entropy with class probabilities */
        if (!ce) return lower_fail(cx, "nll_loss needs integer class indices");
        if (t->type.dtype != dt && !(t = lb_cast(cx, t, dt, "target"))) return -1;
        if (eps != 0 && !(t = lb_affine(cx, t, 1 - eps, eps / (double)C))) return -1;
        ir_value *p = lb_binary(cx, IR_OP_MUL, lb_binary(cx, IR_OP_MUL, x, t, "xt"), w, "xtw");
        ir_value *l = lb_scalar_op(cx, IR_OP_MUL, lb_reduce(cx, IR_OP_REDUCE_SUM, p, 1, &cax, 0), -1);
        return lower_out_tensor(cx, n, 0, reduce_loss(cx, l, red)); /* 'mean': over the N * .. elements */
    }
    if (t->type.dtype != IR_INT32 && !(t = lb_cast(cx, t, IR_INT32, "target"))) return -1;
    if (t->type.rank != r - 1) return lower_fail(cx, "target has %d dims, expected %d", t->type.rank, r - 1);
    /* classes 0..C-1 along the class axis: [C, 1, ..] */
    float *cls = pc_alloc(cx->p->arena, (size_t)C * sizeof(float));
    if (!cls) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t c = 0; c < C; c++) cls[c] = (float)c;
    int64_t shp[IR_MAX_RANK];
    shp[0] = C;
    for (int i = 1; i < r - axis; i++) shp[i] = 1;
    ir_value *onehot = lb_binary(cx, IR_OP_EQUAL, lb_expand(cx, t, 1, &cax), lb_const(cx, IR_INT32, r - axis, shp, cls, "classes"), "onehot");
    ir_value *mw = lb_binary(cx, IR_OP_MUL, lb_cast(cx, onehot, dt, "mask"), w, "picked_w");
    ir_value *pk = lb_reduce(cx, IR_OP_REDUCE_SUM, lb_binary(cx, IR_OP_MUL, mw, x, "picked"), 1, &cax, 0);
    ir_value *l = lb_scalar_op(cx, IR_OP_MUL, pk, -1);
    ir_value *den = NULL;
    if (red == 1 && !(den = reduce_all(cx, mw, IR_OP_REDUCE_SUM))) return -1;
    ir_value *nll = red == 1 ? lb_binary(cx, IR_OP_REAL_DIV, reduce_all(cx, l, IR_OP_REDUCE_SUM), den, "mean")
                             : reduce_loss(cx, l, red);
    if (!ce || eps == 0) return lower_out_tensor(cx, n, 0, nll);
    /* label smoothing: (1 - eps) nll + eps / C * smooth, smooth = -sum_c(w logp), 0 at ignored targets */
    ir_value *ign = lb_binary(cx, IR_OP_NOT_EQUAL, t, lb_const_scalar(cx, (double)ignore, IR_INT32, "ignore"), "kept");
    ir_value *wr = class_weights(cx, n, 2, C, r, axis, dt, C); /* weights without the ignore mask */
    ir_value *ws = lb_reduce(cx, IR_OP_REDUCE_SUM, lb_binary(cx, IR_OP_MUL, x, wr, "xw"), 1, &cax, 0);
    ir_value *sm = lb_binary(cx, IR_OP_MUL, lb_scalar_op(cx, IR_OP_MUL, ws, -1), lb_cast(cx, ign, dt, "kept_f"), "smooth");
    ir_value *sr = red == 1 ? lb_binary(cx, IR_OP_REAL_DIV, reduce_all(cx, sm, IR_OP_REDUCE_SUM), den, "smooth_mean")
                            : reduce_loss(cx, sm, red);
    ir_value *a = lb_scalar_op(cx, IR_OP_MUL, nll, 1 - eps);
    ir_value *b = lb_scalar_op(cx, IR_OP_MUL, sr, eps / (double)C);
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_ADD, a, b, NULL));
}
