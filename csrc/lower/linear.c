/* linear.c: aten::linear, addmm, matmul, mm, bmm -> MIL linear / matmul. */
#include "lower/lower_int.h"

#include <string.h>

static ir_value *matmul(lower_ctx *cx, ir_value *x, ir_value *y, int ty, const char *suffix) {
    ir_op *op = lower_op(cx, IR_OP_MATMUL, suffix);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "y", y) ||
        lower_param_bool(cx, op, "transpose_x", 0) || lower_param_bool(cx, op, "transpose_y", ty))
        return NULL;
    return lower_finish(cx, op);
}

/* linear(input, weight, bias?): MIL linear when the weight is a const and x has
 * rank 1..3; otherwise matmul(transpose_y) + add. */
int lower_linear(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *w = x ? lower_tensor_in(cx, n, 1, x->type.dtype) : NULL;
    if (!w) return -1;
    ir_value *b = NULL;
    if (n->nin > 2 && !lower_is_none(cx, n, 2) && !(b = lower_tensor_in(cx, n, 2, x->type.dtype))) return -1;
    if (w->konst && (!b || b->konst) && x->type.rank >= 1 && x->type.rank <= 3 && w->type.rank == 2) {
        ir_op *op = lower_op(cx, IR_OP_LINEAR, NULL);
        if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", w) || (b && ir_op_set_input(op, "bias", b)))
            return -1;
        return lower_out_tensor(cx, n, 0, lower_finish(cx, op));
    }
    ir_value *r = matmul(cx, x, w, 1, b ? "matmul" : NULL);
    if (r && b) r = lower_binary(cx, IR_OP_ADD, r, b, NULL);
    return lower_out_tensor(cx, n, 0, r);
}

/* addmm(self, mat1, mat2, beta=1, alpha=1) = beta*self + alpha*(mat1 @ mat2) */
int lower_addmm(lower_ctx *cx, const ts_node *n) {
    double beta = 1, alpha = 1;
    if (n->nin > 3 && lower_float_in(cx, n, 3, &beta)) return -1;
    if (n->nin > 4 && lower_float_in(cx, n, 4, &alpha)) return -1;
    ir_value *bias = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *a = bias ? lower_tensor_in(cx, n, 1, bias->type.dtype) : NULL;
    ir_value *m = a ? lower_tensor_in(cx, n, 2, bias->type.dtype) : NULL;
    ir_value *p = m ? matmul(cx, a, m, 0, "matmul") : NULL;
    if (!p) return -1;
    ir_dtype dt = p->type.dtype;
    if (alpha != 1) {
        ir_value *c = lower_const_scalar(cx, alpha, dt, "alpha");
        if (!c || !(p = lower_binary(cx, IR_OP_MUL, p, c, "scaled"))) return -1;
    }
    if (beta == 0) return lower_out_tensor(cx, n, 0, lower_unary(cx, IR_OP_IDENTITY, p, NULL));
    if (beta != 1) {
        ir_value *c = lower_const_scalar(cx, beta, dt, "beta");
        if (!c || !(bias = lower_binary(cx, IR_OP_MUL, bias, c, "bias"))) return -1;
    }
    return lower_out_tensor(cx, n, 0, lower_binary(cx, IR_OP_ADD, p, bias, NULL));
}

/* matmul / mm / bmm: numpy-style matmul, which MIL matmul follows (rank-1 operands included). */
int lower_matmul(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *y = x ? lower_tensor_in(cx, n, 1, x->type.dtype) : NULL;
    if (!y) return -1;
    return lower_out_tensor(cx, n, 0, matmul(cx, x, y, 0, NULL));
}
