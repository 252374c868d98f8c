/* transformer.c: ops of transformer language models (GPT-2 and kin) that no other
 * family covers: embedding lookups. */
#include "lower/lower_int.h"

/* embedding(weight, indices, padding_idx, scale_grad_by_freq, sparse): rows of weight. */
int lower_embedding(lower_ctx *cx, const ts_node *n) {
    ir_value *w = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *idx = w ? lower_tensor_in(cx, n, 1, IR_DT_INVALID) : NULL;
    if (!idx) return -1;
    if (w->type.rank != 2) return lower_fail(cx, "the embedding table must be 2-D, got rank %d", w->type.rank);
    if (ir_dtype_is_float(idx->type.dtype)) return lower_fail(cx, "embedding indices must be integers");
    if (idx->type.dtype != IR_INT32 && !(idx = lower_cast(cx, idx, IR_INT32, "indices"))) return -1;
    ir_op *op = lower_op(cx, IR_OP_GATHER, NULL);
    if (!op || ir_op_set_input(op, "x", w) || ir_op_set_input(op, "indices", idx) || lower_param_i32(cx, op, "axis", 0))
        return -1;
    return lower_out_tensor(cx, n, 0, lower_finish(cx, op));
}
