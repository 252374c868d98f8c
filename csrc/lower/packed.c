/* packed.c: aten::_pack_padded_sequence and aten::_pad_packed_sequence (torch.nn.utils.rnn), in
 * the representation of packed.h. The RNN data overloads (aten::lstm / gru / rnn_* with
 * batch_sizes) are in rnn.c.
 *
 * pack(input, lengths, batch_first): data = gather_nd(x_tm, non_zero(t < lengths[b])) and
 * batch_sizes[t] = #{b : lengths[b] > t} for t < max(lengths) (a constant when the lengths are;
 * else a slice ending at the run-time max). pad(data, batch_sizes, batch_first, padding_value,
 * total_length): the padded tensor with padding_value where the mask is off, cut (or extended) to
 * total_length steps (a run-time number when it came from batch_sizes' run-time size), and the
 * lengths (the mask's column sums, int32).
 */
#include "lower/packed.h"
#include "lower/build.h"

#include <string.h>

int lower_packed_parts(lower_ctx *cx, ir_value *data, ir_value **padded, ir_value **mask, ir_value **nz) {
    const ir_op *g = data ? data->def : NULL;
    ir_value *idx = g && g->kind == IR_OP_GATHER_ND ? ir_op_input(g, "indices") : NULL;
    const ir_op *z = idx ? idx->def : NULL;
    if (!z || z->kind != IR_OP_NON_ZERO)
        return lower_fail(cx, "packed data must come from pack_padded_sequence (or an RNN over it) in this graph");
    *padded = ir_op_input(g, "x");
    *mask = ir_op_input(z, "x");
    *nz = idx;
    return 0;
}

ir_value *lower_packed_data(lower_ctx *cx, ir_value *padded, ir_value *nz) {
    ir_op *op = lb_op(cx, IR_OP_GATHER_ND, "packed");
    if (!op || ir_op_set_input(op, "x", padded) || ir_op_set_input(op, "indices", nz)) return NULL;
    return lb_finish(cx, op);
}

/* x[0:end] along axis 0 for an int32 scalar `end` known at run time. */
static ir_value *head_dyn(lower_ctx *cx, ir_value *x, ir_value *end) {
    if (LB_SKIP(cx, x, end)) return NULL;
    int r = x->type.rank;
    int64_t zeros[IR_MAX_RANK] = {0}, one = 1;
    int em[IR_MAX_RANK];
    for (int i = 0; i < r; i++) em[i] = i != 0;
    ir_value *e1 = lb_reshape(cx, end, 1, &one, "end");
    ir_value *parts[2] = {e1, r > 1 ? lb_const_i32v(cx, r - 1, zeros, "end_rest") : NULL};
    ir_value *ev = lb_concat(cx, r > 1 ? 2 : 1, parts, 0);
    ir_op *op = lb_op(cx, IR_OP_SLICE_BY_INDEX, "head");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "begin", r, zeros) || ir_op_set_input(op, "end", ev) ||
        lb_param_boolv(cx, op, "end_mask", r, em))
        return NULL;
    return lb_finish(cx, op);
}

/* _pack_padded_sequence(input, lengths, batch_first) -> (data, batch_sizes) */
int lower_pack_padded(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *len = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    int bf;
    if (!len || lower_bool_in(cx, n, 2, &bf)) return -1;
    if (x->type.rank < 2 || lb_static(cx, x, "the padded input of pack_padded_sequence")) return -1;
    if (len->type.rank != 1 || !ir_dtype_is_int(len->type.dtype)) return lower_fail(cx, "lengths must be a 1-D int tensor");
    ir_value *xt = bf ? lb_swap(cx, x, 0, 1) : x;
    if (!xt) return -1;
    int64_t T = xt->type.dims[0], B = xt->type.dims[1];
    if (len->type.dims[0] != B) return lower_fail(cx, "%lld lengths for a batch of %lld", (long long)len->type.dims[0], (long long)B);
    if (len->konst) { /* torch's own checks, at conversion time */
        for (int64_t b = 0; b < B; b++) {
            int64_t l = ir_const_get_i64(len->konst, b);
            if (l < 1 || l > T) return lower_fail(cx, "length %lld of sequence %lld is outside [1, %lld]", (long long)l, (long long)b, (long long)T);
            if (b && l > ir_const_get_i64(len->konst, b - 1))
                return lower_fail(cx, "lengths must be sorted in decreasing order (or use enforce_sorted=False)");
        }
    }
    ir_value *L = len->type.dtype == IR_INT32 ? len : lb_cast(cx, len, IR_INT32, "lengths");
    float *steps = pc_alloc(cx->p->arena, sizeof(float) * (size_t)T);
    if (!steps) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t t = 0; t < T; t++) steps[t] = (float)t;
    int64_t tshape[2] = {T, 1}, ax0 = 0;
    ir_value *tv = lb_const(cx, IR_INT32, 2, tshape, steps, "steps");
    ir_value *mask = lb_binary(cx, IR_OP_LESS, tv, L, "mask"); /* [T, B] */
    ir_op *z = lb_op(cx, IR_OP_NON_ZERO, "rows");
    if (!z || ir_op_set_input(z, "x", mask)) return -1;
    ir_value *nz = lb_finish(cx, z);
    if (lower_out_tensor(cx, n, 0, lower_packed_data(cx, xt, nz))) return -1;
    ir_value *bs;
    if (len->konst) {
        int64_t maxl = ir_const_get_i64(len->konst, 0);
        float *v = pc_alloc(cx->p->arena, sizeof(float) * (size_t)maxl);
        if (!v) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int64_t t = 0; t < maxl; t++) {
            v[t] = 0;
            for (int64_t b = 0; b < B; b++) v[t] += ir_const_get_i64(len->konst, b) > t;
        }
        bs = lb_const(cx, IR_INT32, 1, &maxl, v, "batch_sizes");
    } else {
        ir_value *mi = lb_cast(cx, mask, IR_INT32, "mask_i");
        int64_t ax1 = 1;
        ir_value *all = lb_reduce(cx, IR_OP_REDUCE_SUM, mi, 1, &ax1, 0); /* [T] */
        ir_value *mx = lb_reduce(cx, IR_OP_REDUCE_MAX, L, 1, &ax0, 0);
        bs = head_dyn(cx, all, mx);
    }
    return lower_out_tensor(cx, n, 1, bs);
}

/* _pad_packed_sequence(data, batch_sizes, batch_first, padding_value, total_length) -> (padded, lengths) */
int lower_pad_packed(lower_ctx *cx, const ts_node *n) {
    ir_value *data = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *xt, *mask, *nz;
    int bf;
    double pad;
    if (!data || lower_bool_in(cx, n, 2, &bf) || lower_float_in(cx, n, 3, &pad) ||
        lower_packed_parts(cx, data, &xt, &mask, &nz))
        return -1;
    lv *tl = lower_in(cx, n, 4);
    if (!tl) return -1;
    int r = xt->type.rank;
    int64_t T = xt->type.dims[0];
    /* the mask over every element: [T, B, 1, ...] */
    int64_t axes[IR_MAX_RANK];
    for (int i = 2; i < r; i++) axes[i - 2] = i;
    ir_value *me = r > 2 ? lb_expand(cx, mask, r - 2, axes) : mask;
    ir_value *pv = lb_const_scalar(cx, pad, xt->type.dtype, "padding");
    ir_op *s = lb_op(cx, IR_OP_SELECT, "padded");
    if (!s || ir_op_set_input(s, "cond", me) || ir_op_set_input(s, "a", xt) || ir_op_set_input(s, "b", pv)) return -1;
    ir_value *y = lb_finish(cx, s);
    if (!y) return -1;
    if (tl->kind == LV_INT && !tl->dyn) {
        if (tl->i < 1) return lower_fail(cx, "total_length %lld", (long long)tl->i);
        if (tl->i < T) {
            y = lb_slice(cx, y, 0, 0, tl->i, 0, 1, 0);
        } else if (tl->i > T) {
            int64_t d[IR_MAX_RANK];
            for (int i = 0; i < r; i++) d[i] = xt->type.dims[i];
            d[0] = tl->i - T;
            ir_op *op = lb_op(cx, IR_OP_FILL, "extra");
            if (!op || ir_op_set_input(op, "shape", lb_const_i32v(cx, r, d, "extra_shape")) ||
                lb_param_f(cx, op, "value", pad, xt->type.dtype))
                return -1;
            ir_value *parts[2] = {y, lb_finish(cx, op)};
            y = lb_concat(cx, 2, parts, 0);
        }
    } else if (tl->kind == LV_INT) {
        y = head_dyn(cx, y, tl->v);
    } else if (tl->kind != LV_NONE) {
        return lower_fail(cx, "total_length must be an int");
    }
    if (y && bf) y = lb_swap(cx, y, 0, 1);
    if (lower_out_tensor(cx, n, 0, y)) return -1;
    int64_t ax0 = 0;
    ir_value *mi = lb_cast(cx, mask, IR_INT32, "mask_i");
    return lower_out_tensor(cx, n, 1, lb_reduce(cx, IR_OP_REDUCE_SUM, mi, 1, &ax0, 0));
}
