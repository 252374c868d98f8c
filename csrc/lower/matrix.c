/* matrix.c: vector and matrix helpers composed from MIL ops: cross / linalg_cross,
 * cosine_similarity, pairwise_distance, cdist, linalg_vecdot, trace, diagonal, diag_embed,
 * atleast_1d/2d/3d, broadcast_tensors, numpy_T / mT / mH, and linalg_det / linalg_inv of small
 * static matrices (cofactor expansion, up to 4 x 4). */
#include "lower/build.h"

#include <string.h>

/* ---- broadcasting ---- */
/* The broadcast of two shapes. A size known only at run time is taken to match the other side's
 * size unless that is 1 (as aten::expand: torch fails on other sizes). */
static int bcast_shape(lower_ctx *cx, const ir_type *a, const ir_type *b, int *rank, int64_t *dims) {
    int r = a->rank > b->rank ? a->rank : b->rank;
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1 || (da >= 0 && db < 0 && da != 1)) dims[i] = da;
        else if (da == 1 || da < 0) dims[i] = db;
        else return lower_fail(cx, "shapes do not broadcast: size %lld vs %lld at dim %d", (long long)da, (long long)db, i);
    }
    *rank = r;
    return 0;
}

/* x with leading 1-dims up to rank r (expand_dims, dynamic dims allowed). */
static ir_value *rank_up(lower_ctx *cx, ir_value *x, int r) {
    int64_t axes[IR_MAX_RANK];
    int k = r - (x ? x->type.rank : r);
    for (int i = 0; i < k; i++) axes[i] = i;
    return k > 0 ? lb_expand(cx, x, k, axes) : x;
}

/* x broadcast to the shape (rank, dims) (from bcast_shape): leading 1-dims, then a tile of its
 * 1-dims (to sizes known at conversion time). */
static ir_value *bcast_to(lower_ctx *cx, ir_value *x, int rank, const int64_t *dims) {
    if (LB_SKIP(cx, x) || !(x = rank_up(cx, x, rank))) return NULL;
    int64_t reps[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) {
        reps[i] = x->type.dims[i] != 1 || dims[i] == 1 ? 1 : dims[i]; /* only 1-dims grow */
        if (reps[i] < 0) {
            lower_fail(cx, "cannot broadcast dim %d to a size known only at run time", i);
            return NULL;
        }
    }
    return lb_tile(cx, x, reps);
}

/* Both operands broadcast to one shape. */
static int bcast_pair(lower_ctx *cx, ir_value **a, ir_value **b) {
    int64_t dims[IR_MAX_RANK];
    int r;
    if (bcast_shape(cx, &(*a)->type, &(*b)->type, &r, dims)) return -1;
    *a = bcast_to(cx, *a, r, dims);
    *b = bcast_to(cx, *b, r, dims);
    return *b ? 0 : -1;
}

/* broadcast_tensors(tensors): every tensor broadcast to the common static shape. */
int lower_broadcast_tensors(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) return lower_fail(cx, "expected a list of tensors");
    if (l->n == 0) return lower_out(cx, n, 0, l);
    ir_type t = {0};
    int64_t dims[IR_MAX_RANK];
    int r = 0;
    for (int i = 0; i < l->n; i++) {
        ir_value *v = lb_as_tensor(cx, l->items[i], IR_DT_INVALID);
        if (!v) return -1;
        if (i == 0) {
            t = v->type;
        } else {
            if (bcast_shape(cx, &t, &v->type, &r, dims)) return -1;
            t = ir_tensor_type(t.dtype, r, dims);
        }
    }
    lv *out = lv_new(cx, LV_LIST);
    if (!out) return -1;
    out->n = l->n;
    out->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)l->n);
    if (!out->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int i = 0; i < l->n; i++) {
        ir_value *v = lb_as_tensor(cx, l->items[i], IR_DT_INVALID);
        if (!(v = bcast_to(cx, v, t.rank, t.dims)) || !(out->items[i] = lv_tensor(cx, v))) return -1;
    }
    return lower_out(cx, n, 0, out);
}

/* atleast_1d / 2d / 3d(x) (or a list of tensors): leading 1-dims (and a trailing one for 3d,
 * as torch: [n] -> [1, n, 1], [m, n] -> [m, n, 1]). */
static lv *atleast(lower_ctx *cx, lv *l, int want) {
    ir_value *x = lb_as_tensor(cx, l, IR_DT_INVALID);
    if (!x) return NULL;
    int r = x->type.rank, na = 0;
    int64_t axes[3];
    if (r >= want) return l->kind == LV_TENSOR ? l : lv_tensor(cx, x);
    if (want == 3 && r == 2) axes[na++] = 2;
    else if (want == 3 && r == 1) axes[0] = 0, axes[1] = 2, na = 2;
    else
        for (; na < want - r; na++) axes[na] = na;
    return lv_tensor(cx, lb_expand(cx, x, na, axes));
}

/* atleast_Nd(x) or atleast_Nd(list of tensors): see atleast(). */
int lower_atleast(lower_ctx *cx, const ts_node *n) {
    int want = cx->row->sub; /* atleast_Nd: N */
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) return lower_out(cx, n, 0, atleast(cx, l, want));
    lv *out = lv_new(cx, LV_LIST);
    if (!out) return -1;
    out->n = l->n;
    out->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(l->n ? l->n : 1));
    if (!out->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int i = 0; i < l->n; i++)
        if (!(out->items[i] = atleast(cx, l->items[i], want))) return -1;
    return lower_out(cx, n, 0, out);
}

/* numpy_T (all dims reversed), mT / mH (the last two swapped; real tensors). */
int lower_matrix_transpose(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    int r = x->type.rank;
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = i;
    if (cx->row->sub == 1) { /* numpy_T */
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
    } else {
        if (r < 2) return lower_fail(cx, "needs a tensor of at least 2 dims, got %d", r);
        perm[r - 2] = r - 1;
        perm[r - 1] = r - 2;
    }
    ir_value *y = lb_transpose(cx, x, perm);
    return lower_out_tensor(cx, n, 0, y == x ? lb_unary(cx, IR_OP_IDENTITY, x, NULL) : y);
}

/* ---- products and distances ---- */
/* cross(a, b, dim=None) / linalg_cross(a, b, dim=-1): 3-vectors along dim (None: the first dim of
 * size 3), broadcast; c_i = a_{i+1} b_{i+2} - a_{i+2} b_{i+1}. */
int lower_cross(lower_ctx *cx, const ts_node *n) {
    ir_value *v[2];
    if (lower_common_in(cx, n, 0, 2, 0, v)) return -1;
    int r = v[0]->type.rank > v[1]->type.rank ? v[0]->type.rank : v[1]->type.rank;
    ir_value *a = rank_up(cx, v[0], r), *b = rank_up(cx, v[1], r);
    if (!a || !b) return -1;
    int axis = -1;
    if (n->nin > 2 && !lower_is_none(cx, n, 2)) {
        int64_t d;
        if (lower_int_in(cx, n, 2, &d) || lower_axis(cx, d, r, &axis)) return -1;
    } else {
        for (int i = 0; i < r && axis < 0; i++)
            if (a->type.dims[i] == 3 || b->type.dims[i] == 3) axis = i;
        if (axis < 0) return lower_fail(cx, "no dim of size 3 for the cross product");
    }
    if (a->type.dims[axis] != 3 || b->type.dims[axis] != 3)
        return lower_fail(cx, "the cross product needs size 3 along dim %d in both inputs", axis);
    ir_value *as[3], *bs[3], *c[3];
    for (int i = 0; i < 3; i++) {
        as[i] = lb_slice(cx, a, axis, i, i + 1, 0, 1, 0);
        bs[i] = lb_slice(cx, b, axis, i, i + 1, 0, 1, 0);
        if (!as[i] || !bs[i]) return -1;
    }
    for (int i = 0; i < 3; i++) {
        int j = (i + 1) % 3, k = (i + 2) % 3;
        ir_value *p = lb_binary(cx, IR_OP_MUL, as[j], bs[k], "p");
        ir_value *q = lb_binary(cx, IR_OP_MUL, as[k], bs[j], "q");
        if (!(c[i] = lb_binary(cx, IR_OP_SUB, p, q, "c"))) return -1;
    }
    return lower_out_tensor(cx, n, 0, lb_concat(cx, 3, c, axis));
}

/* linalg_vecdot(x, y, dim=-1): sum(x * y) along dim of the broadcast (real tensors). */
int lower_vecdot(lower_ctx *cx, const ts_node *n) {
    ir_value *v[2];
    int64_t d = -1;
    int axis;
    if (lower_common_in(cx, n, 0, 2, 0, v) || (n->nin > 2 && lower_int_in(cx, n, 2, &d))) return -1;
    ir_value *p = lb_binary(cx, IR_OP_MUL, v[0], v[1], "prod");
    if (!p || lower_axis(cx, d, p->type.rank, &axis)) return -1;
    int64_t ax = axis;
    return lower_out_tensor(cx, n, 0, lb_reduce(cx, IR_OP_REDUCE_SUM, p, 1, &ax, 0));
}

/* cosine_similarity(x1, x2, dim=1, eps=1e-8), as torch: both broadcast, each divided by its
 * 2-norm along dim clamped to eps, then the sum of the products along dim. */
int lower_cosine_similarity(lower_ctx *cx, const ts_node *n) {
    ir_value *v[2];
    int64_t d = 1;
    double eps = 1e-8;
    int axis;
    if (lower_common_in(cx, n, 0, 2, 1, v) || (n->nin > 2 && lower_int_in(cx, n, 2, &d)) ||
        (n->nin > 3 && lower_float_in(cx, n, 3, &eps)) || bcast_pair(cx, &v[0], &v[1]) ||
        lower_axis(cx, d, v[0]->type.rank, &axis))
        return -1;
    int64_t ax = axis;
    ir_value *u[2];
    for (int i = 0; i < 2; i++) {
        ir_value *nr = lb_pnorm(cx, v[i], 2, 1, &ax, 1);
        ir_value *e = lb_const_like(cx, eps, nr, "eps");
        ir_value *cl = lb_binary(cx, IR_OP_MAXIMUM, nr, e, "norm");
        if (!(u[i] = lb_binary(cx, IR_OP_REAL_DIV, v[i], cl, "unit"))) return -1;
    }
    return lower_out_tensor(cx, n, 0, lb_reduce(cx, IR_OP_REDUCE_SUM, lb_binary(cx, IR_OP_MUL, u[0], u[1], "prod"), 1, &ax, 0));
}

/* pairwise_distance(x1, x2, p=2, eps=1e-6, keepdim=False): the p-norm of x1 - x2 + eps over the
 * last dim of the broadcast. */
int lower_pairwise_distance(lower_ctx *cx, const ts_node *n) {
    ir_value *v[2];
    double p = 2, eps = 1e-6;
    int keep = 0;
    if (lower_common_in(cx, n, 0, 2, 1, v) || (n->nin > 2 && lower_float_in(cx, n, 2, &p)) ||
        (n->nin > 3 && lower_float_in(cx, n, 3, &eps)) || (n->nin > 4 && lower_bool_in(cx, n, 4, &keep)))
        return -1;
    ir_value *d = lb_binary(cx, IR_OP_SUB, v[0], v[1], "diff");
    ir_value *e = lb_const_like(cx, eps, d, "eps");
    if (!e || !(d = lb_binary(cx, IR_OP_ADD, d, e, "shifted"))) return -1;
    if (d->type.rank == 0) return lower_fail(cx, "pairwise_distance needs inputs of at least 1 dim");
    int64_t ax = d->type.rank - 1;
    return lower_out_tensor(cx, n, 0, lb_pnorm(cx, d, p, 1, &ax, keep));
}

/* cdist(x1 [.., P, M], x2 [.., R, M], p, compute_mode) -> [.., P, R]. p = 2 through matmul
 * (|a|^2 + |b|^2 - 2 a.b, clamped at 0) when torch would (mode 1, or the default with P or R
 * above 25); otherwise the p-norm of the broadcast differences [.., P, R, M]. */
int lower_cdist(lower_ctx *cx, const ts_node *n) {
    ir_value *v[2];
    double p = 2;
    int64_t mode = 0;
    if (lower_common_in(cx, n, 0, 2, 1, v) || (n->nin > 2 && lower_float_in(cx, n, 2, &p)) ||
        (n->nin > 3 && !lower_is_none(cx, n, 3) && lower_int_in(cx, n, 3, &mode)))
        return -1;
    if (p < 0) return lower_fail(cx, "cdist needs p >= 0, got %g", p);
    int r = v[0]->type.rank > v[1]->type.rank ? v[0]->type.rank : v[1]->type.rank;
    if (v[0]->type.rank < 2 || v[1]->type.rank < 2) return lower_fail(cx, "cdist needs inputs of at least 2 dims");
    ir_value *a = rank_up(cx, v[0], r), *b = rank_up(cx, v[1], r);
    if (!a || !b) return -1;
    int64_t P = a->type.dims[r - 2], R = b->type.dims[r - 2];
    int use_mm = p == 2 && (mode == 1 || (mode == 0 && (P < 0 || R < 0 || P > 25 || R > 25)));
    if (use_mm) { /* as torch: [-2a, |a|^2, 1] . [b, 1, |b|^2], one dot product per pair */
        int64_t last = r - 1;
        ir_value *na = lb_reduce(cx, IR_OP_REDUCE_SUM, lb_unary(cx, IR_OP_SQUARE, a, "a_sq"), 1, &last, 1);
        ir_value *nb = lb_reduce(cx, IR_OP_REDUCE_SUM, lb_unary(cx, IR_OP_SQUARE, b, "b_sq"), 1, &last, 1);
        if (!nb) return -1;
        ir_value *d2;
        if (ir_type_is_static(&na->type) && ir_type_is_static(&nb->type) && ir_type_numel(&na->type) <= (1 << 20) &&
            ir_type_numel(&nb->type) <= (1 << 20)) {
            int64_t cnt = ir_type_numel(&na->type) > ir_type_numel(&nb->type) ? ir_type_numel(&na->type) : ir_type_numel(&nb->type);
            float *ones = pc_alloc(cx->p->arena, (size_t)(cnt > 0 ? cnt : 1) * sizeof(float));
            if (!ones) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
            for (int64_t i = 0; i < cnt; i++) ones[i] = 1;
            ir_value *pa[3] = {lb_scalar_op(cx, IR_OP_MUL, a, -2), na, lb_const(cx, na->type.dtype, r, na->type.dims, ones, "ones_a")};
            ir_value *pb[3] = {b, lb_const(cx, nb->type.dtype, r, nb->type.dims, ones, "ones_b"), nb};
            d2 = lb_matmul(cx, lb_concat(cx, 3, pa, r - 1), lb_concat(cx, 3, pb, r - 1), 0, 1);
        } else {
            ir_value *ab = lb_matmul(cx, a, b, 0, 1);
            ir_value *s = lb_binary(cx, IR_OP_ADD, na, lb_swap(cx, nb, r - 2, r - 1), "norms");
            d2 = lb_binary(cx, IR_OP_SUB, s, lb_scalar_op(cx, IR_OP_MUL, ab, 2), "d2");
        }
        ir_value *cl = lb_binary(cx, IR_OP_MAXIMUM, d2, lb_const_like(cx, 0, d2, "zero"), "clamped");
        return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_SQRT, cl, NULL));
    }
    int64_t ea = r - 1, eb = r - 2;
    ir_value *d = lb_binary(cx, IR_OP_SUB, lb_expand(cx, a, 1, &ea), lb_expand(cx, b, 1, &eb), "diff");
    int64_t last = r;
    return lower_out_tensor(cx, n, 0, lb_pnorm(cx, d, p, 1, &last, 0));
}

/* bilinear(x1 [.., I1], x2 [.., I2], weight [O, I1, I2], bias [O] or None) -> [.., O]:
 * y_o = x1 W_o x2^T + b_o, as one matmul of x1 with W laid out [I1, O * I2], a product with x2 and a sum. */
int lower_bilinear(lower_ctx *cx, const ts_node *n) {
    ir_value *x1 = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *x2 = lower_tensor_in_as(cx, n, 1, x1);
    ir_value *w = lower_tensor_in_as(cx, n, 2, x1), *b = NULL;
    if (!w || (n->nin > 3 && !lower_is_none(cx, n, 3) && !(b = lower_tensor_in(cx, n, 3, x1->type.dtype)))) return -1;
    if (lb_static(cx, x1, "bilinear's input1") || lb_static(cx, x2, "bilinear's input2") || lb_static(cx, w, "bilinear's weight"))
        return -1;
    int r = x1->type.rank;
    if (w->type.rank != 3 || r < 1 || x2->type.rank != r) return lower_fail(cx, "needs inputs of one rank >= 1 and a 3-D weight");
    int64_t O = w->type.dims[0], I1 = w->type.dims[1], I2 = w->type.dims[2];
    if (x1->type.dims[r - 1] != I1 || x2->type.dims[r - 1] != I2)
        return lower_fail(cx, "input sizes %lld / %lld do not match the weight's %lld / %lld",
                          (long long)x1->type.dims[r - 1], (long long)x2->type.dims[r - 1], (long long)I1, (long long)I2);
    int64_t perm[3] = {1, 0, 2}, flat[2] = {I1, O * I2}, shape[IR_MAX_RANK + 1];
    for (int i = 0; i < r - 1; i++) shape[i] = x1->type.dims[i];
    shape[r - 1] = O;
    shape[r] = I2;
    ir_value *wt = lb_transpose(cx, w, perm);
    wt = lb_reshape(cx, wt, 2, flat, "weight2d");
    ir_value *t = lb_matmul(cx, x1, wt, 0, 0);
    t = lb_reshape(cx, t, r + 1, shape, "per_out");
    int64_t ax = r - 1, last = r;
    ir_value *x2e = lb_expand(cx, x2, 1, &ax);
    ir_value *p = lb_binary(cx, IR_OP_MUL, t, x2e, "prod");
    ir_value *y = lb_reduce(cx, IR_OP_REDUCE_SUM, p, 1, &last, 0);
    if (y && b) y = lb_binary(cx, IR_OP_ADD, y, b, NULL);
    return lower_out_tensor(cx, n, 0, y);
}

/* A constant int32 vector 0, 1, .., n-1 shaped by dims (rank r, n elements). */
static ir_value *iota(lower_ctx *cx, int r, const int64_t *dims, int64_t n, const char *suffix) {
    if (!LB_LIVE(cx)) return NULL;
    float *v = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!v) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) v[i] = (float)i;
    return lb_const(cx, IR_INT32, r, dims, v, suffix);
}

/* _grouped_mm(self [S, K], mat2 [E, K, N], offs [E] int32, bias=None, out_dtype=None) -> [S, N]: row s
 * is multiplied by the expert g whose group holds it (offs are the groups' cumulative ends). Every row
 * is multiplied by every expert ([E, S, N]) and each row's expert gathered: no data-dependent shapes.
 * Rows past the last offset (left unwritten by torch) take the last expert. */
int lower_grouped_mm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *w = lower_tensor_in_as(cx, n, 1, x);
    ir_value *offs = n->nin > 2 && !lower_is_none(cx, n, 2) ? lower_tensor_in(cx, n, 2, IR_INT32) : NULL; /* optional */
    if (!w) return -1;
    if (!offs) return lower_fail(cx, "grouped_mm without offsets");
    if (n->nin > 3 && !lower_is_none(cx, n, 3)) return lower_fail(cx, "grouped_mm with a bias");
    if (x->type.rank != 2 || w->type.rank != 3 || offs->type.rank != 1)
        return lower_fail(cx, "grouped_mm of a %d-D input and a %d-D weight (supported: 2-D input, 3-D experts)",
                          x->type.rank, w->type.rank);
    if (lb_static(cx, x, "grouped_mm's input") || lb_static(cx, w, "grouped_mm's weight")) return -1;
    int64_t S = x->type.dims[0], E = w->type.dims[0], N = w->type.dims[2];
    if (offs->type.dims[0] != E) return lower_fail(cx, "%lld offsets for %lld experts", (long long)offs->type.dims[0], (long long)E);
    ir_value *all = lb_matmul(cx, x, w, 0, 0); /* [E, S, N] */
    /* group of row s: how many offsets are <= s, clamped to E - 1 */
    int64_t col[2] = {S, 1}, ax1 = 1, one_sn[3] = {1, 1, N};
    ir_value *rows = iota(cx, 2, col, S, "rows");
    ir_value *ge = lb_binary(cx, IR_OP_GREATER_EQUAL, rows, offs, "past");
    ir_value *gi = lb_cast(cx, ge, IR_INT32, "past_i");
    ir_value *g = lb_reduce(cx, IR_OP_REDUCE_SUM, gi, 1, &ax1, 0);
    g = lb_scalar_op(cx, IR_OP_MINIMUM, g, (double)(E - 1));
    int64_t g3[3] = {1, S, 1};
    ir_value *gs = lb_reshape(cx, g, 3, g3, "group");
    ir_value *gt = lb_tile(cx, gs, one_sn);
    ir_op *op = lb_op(cx, IR_OP_GATHER_ALONG_AXIS, "rows");
    if (!op || ir_op_set_input(op, "x", all) || ir_op_set_input(op, "indices", gt) || lb_param_i32(cx, op, "axis", 0))
        return -1;
    ir_value *picked = lb_finish(cx, op);
    int64_t ax0 = 0;
    return lower_out_tensor(cx, n, 0, lb_squeeze(cx, picked, 1, &ax0));
}

/* histc(self, bins=100, min=0, max=0): counts of equal-width bins over [min, max] (both 0: the data's
 * range), values outside ignored, max itself in the last bin; the input's float dtype. A compare of each
 * element's bin with every bin, summed. */
int lower_histc(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t bins = 100;
    double lo = 0, hi = 0;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &bins)) || (n->nin > 2 && lower_float_in(cx, n, 2, &lo)) ||
        (n->nin > 3 && lower_float_in(cx, n, 3, &hi)))
        return -1;
    if (bins <= 0) return lower_fail(cx, "bins must be positive, got %lld", (long long)bins);
    if (lo > hi) return lower_fail(cx, "max %g must not be below min %g", hi, lo);
    if (!ir_dtype_is_float(x->type.dtype)) return lower_fail(cx, "histc of an integer tensor (torch takes floats here)");
    if (lb_static(cx, x, "histc's input")) return -1;
    ir_dtype dt = x->type.dtype;
    int64_t all = -1, ax0 = 0;
    ir_value *f = lb_reshape(cx, x, 1, &all, "flat");
    if (!f || (dt != IR_FP32 && !(f = lb_cast(cx, f, IR_FP32, "flat32")))) return -1;
    ir_value *vlo, *vhi;
    if (lo == hi) { /* the data's range (widened by one when it is a single value, as torch does) */
        vlo = lb_reduce(cx, IR_OP_REDUCE_MIN, f, 1, &ax0, 0);
        vhi = lb_reduce(cx, IR_OP_REDUCE_MAX, f, 1, &ax0, 0);
        ir_value *same = lb_binary(cx, IR_OP_EQUAL, vlo, vhi, "same");
        ir_value *sf = lb_cast(cx, same, IR_FP32, "same_f");
        vlo = lb_binary(cx, IR_OP_SUB, vlo, sf, "lo");
        vhi = lb_binary(cx, IR_OP_ADD, vhi, sf, "hi");
    } else {
        vlo = lb_const_scalar(cx, lo, IR_FP32, "lo");
        vhi = lb_const_scalar(cx, hi, IR_FP32, "hi");
    }
    if (!vhi) return -1;
    /* bin = floor((x - lo) * bins / (hi - lo)), the top edge in the last bin */
    ir_value *span = lb_binary(cx, IR_OP_SUB, vhi, vlo, "span");
    ir_value *rel = lb_binary(cx, IR_OP_SUB, f, vlo, "rel");
    rel = lb_scalar_op(cx, IR_OP_MUL, rel, (double)bins);
    ir_value *pos = lb_binary(cx, IR_OP_REAL_DIV, rel, span, "pos");
    ir_value *b = lb_unary(cx, IR_OP_FLOOR, pos, "bin_f");
    b = lb_scalar_op(cx, IR_OP_MINIMUM, b, (double)(bins - 1));
    ir_value *bi = lb_cast(cx, b, IR_INT32, "bin");
    ir_value *in_lo = lb_binary(cx, IR_OP_GREATER_EQUAL, f, vlo, "in_lo");
    ir_value *in_hi = lb_binary(cx, IR_OP_LESS_EQUAL, f, vhi, "in_hi");
    ir_value *valid = lb_binary(cx, IR_OP_LOGICAL_AND, in_lo, in_hi, "valid");
    int64_t ax1 = 1, row[2] = {1, bins};
    ir_value *bc = lb_expand(cx, bi, 1, &ax1); /* [M, 1] */
    ir_value *vc = lb_expand(cx, valid, 1, &ax1);
    ir_value *ids = iota(cx, 2, row, bins, "bins");
    ir_value *hit = lb_binary(cx, IR_OP_EQUAL, bc, ids, "hit");
    hit = lb_binary(cx, IR_OP_LOGICAL_AND, hit, vc, "counted");
    ir_value *hf = lb_cast(cx, hit, IR_FP32, "hit_f");
    ir_value *cnt = lb_reduce(cx, IR_OP_REDUCE_SUM, hf, 1, &ax0, 0);
    if (cnt && dt != IR_FP32) cnt = lb_cast(cx, cnt, dt, NULL);
    return lower_out_tensor(cx, n, 0, cnt);
}
