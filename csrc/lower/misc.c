/* misc.c: odd kinds that fit no other family: prim::ConstantChunk (chunk with its arguments as node
 * attributes), aten::sym_constrain_range / sym_constrain_range_for_size (value-range hints: nothing to
 * compute) and aten::_reshape_from_tensor (reshape to a shape held in a tensor). aten::sym_size is
 * aten::size under another name (shape.c's lower_size). */
#include "lower/build.h"

#include <string.h>

/* prim::ConstantChunk[chunks, dim](x) -> one output per piece of ceil(size / chunks), the last one
 * shorter, as aten::chunk cuts them; a piece count other than the node's output count fails. */
int lower_constant_chunk(lower_ctx *cx, const ts_node *n) {
    int64_t chunks, dim;
    if (ts_node_attr_int(n, "chunks", &chunks) || ts_node_attr_int(n, "dim", &dim))
        return lower_fail(cx, "the node lacks its int attributes chunks and dim");
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int a;
    if (!x || lower_axis(cx, dim, x->type.rank, &a)) return -1;
    int64_t size = x->type.dims[a];
    if (size < 0) return lower_fail(cx, "chunking a symbolic dim");
    if (chunks <= 0) return lower_fail(cx, "chunks must be positive, got %lld", (long long)chunks);
    int64_t piece = (size + chunks - 1) / chunks, sizes[256];
    int cnt = 0;
    if (piece == 0) piece = 1;
    for (int64_t off = 0; off < size; off += piece) {
        if (cnt == PC_ARRAY_LEN(sizes)) return lower_fail(cx, "more than %d chunks", PC_ARRAY_LEN(sizes));
        sizes[cnt++] = PC_MIN(piece, size - off);
    }
    if (cnt != n->nout) /* torch raises for fewer; a node with fewer outputs than pieces is malformed */
        return lower_fail(cx, "a dim of size %lld makes %d chunks of %lld, the node has %d outputs", (long long)size, cnt,
                          (long long)piece, n->nout);
    if (cnt == 1) return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_IDENTITY, x, NULL));
    ir_op *op = lb_op(cx, IR_OP_SPLIT, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "split_sizes", cnt, sizes) ||
        lb_param_i32(cx, op, "axis", a) || !lb_finish(cx, op))
        return -1;
    for (int i = 0; i < cnt; i++)
        if (lower_out_tensor(cx, n, i, op->out[i])) return -1;
    return 0;
}

/* sym_constrain_range(size, min=None, max=None) / sym_constrain_range_for_size(...): hints for
 * torch.export's symbolic shapes with nothing to compute. A size known at conversion time outside
 * [min, max] fails the conversion as torch raises; run-time sizes cannot be checked by the model. */
int lower_sym_constrain(lower_ctx *cx, const ts_node *n) {
    lv *s = lower_in(cx, n, 0);
    if (!s) return -1;
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    if ((n->nin > 1 && !lower_is_none(cx, n, 1) && lower_int_in(cx, n, 1, &lo)) ||
        (n->nin > 2 && !lower_is_none(cx, n, 2) && lower_int_in(cx, n, 2, &hi)))
        return -1;
    if (!s->dyn && (s->kind == LV_INT || s->kind == LV_BOOL) && (s->i < lo || s->i > hi))
        return lower_fail(cx, "the value %lld is outside its constrained range [%lld, %lld]", (long long)s->i,
                          (long long)lo, (long long)hi);
    for (int i = 0; i < n->nout; i++)
        if (lower_out(cx, n, i, lv_none(cx))) return -1;
    return 0;
}

/* _reshape_from_tensor(self, shape): reshape to the 1-D int tensor `shape` (one entry may be -1): a
 * constant shape is a static reshape; a shape computed at run time (of static length) gives
 * symbolic dims. */
int lower_reshape_from_tensor(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *s = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    if (!s) return -1;
    if (s->type.rank != 1 || s->type.dims[0] < 0)
        return lower_fail(cx, "the shape must be a 1-D tensor of known length, got rank %d", s->type.rank);
    if (ir_dtype_is_float(s->type.dtype) || s->type.dtype == IR_BOOL)
        return lower_fail(cx, "the shape must be an integer tensor");
    int64_t len = s->type.dims[0];
    if (len > IR_MAX_RANK) return lower_fail(cx, "a shape of %lld dims", (long long)len);
    if (s->konst) {
        int64_t v[IR_MAX_RANK];
        for (int64_t i = 0; i < len; i++) v[i] = ir_const_get_i64(s->konst, i);
        return lower_out_tensor(cx, n, 0, lb_reshape(cx, x, (int)len, v, NULL));
    }
    if (s->type.dtype != IR_INT32 && !(s = lb_cast(cx, s, IR_INT32, "shape"))) return -1;
    ir_op *op = lb_op(cx, IR_OP_RESHAPE, NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "shape", s)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}
