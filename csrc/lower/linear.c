/* linear.c: aten::linear, addmm, matmul, mm, bmm -> MIL linear / matmul. */
#include "lower/build.h"

#include <string.h>

/* MIL matmul with vector operands made matrices first (Core ML's matmul rule wants rank >= 2 for y,
 * and a rank-1 x against a batched y), the added dims squeezed after. */
static ir_value *matmul(lower_ctx *cx, ir_value *x, ir_value *y, int ty, const char *suffix) {
    if (LB_SKIP(cx, x, y)) return NULL;
    int xv = x->type.rank == 1, yv = y->type.rank == 1;
    if (xv && !(x = lb_expand(cx, x, 1, (int64_t[]){0}))) return NULL;
    if (yv && !(y = lb_expand(cx, y, 1, (int64_t[]){ty ? 0 : 1}))) return NULL;
    ir_op *op = lb_op(cx, IR_OP_MATMUL, xv || yv ? "matmul" : suffix);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "y", y) ||
        lb_param_bool(cx, op, "transpose_x", 0) || lb_param_bool(cx, op, "transpose_y", ty))
        return NULL;
    ir_value *r = lb_finish(cx, op);
    if (!r || (!xv && !yv)) return r;
    int rk = r->type.rank;
    int64_t axes[2];
    int na = 0;
    if (xv) axes[na++] = rk - 2;
    if (yv) axes[na++] = rk - 1;
    return lb_squeeze(cx, r, na, axes);
}

/* linear(input, weight, bias?): MIL linear when the weight is a const and x has
 * rank 1..3; otherwise matmul(transpose_y) + add. */
int lower_linear(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *w = lower_tensor_in_as(cx, n, 1, x);
    if (!w) return -1;
    ir_value *b = NULL;
    if (n->nin > 2 && !lower_is_none(cx, n, 2) && !(b = lower_tensor_in(cx, n, 2, x->type.dtype))) return -1;
    if (w->konst && (!b || b->konst) && x->type.rank >= 1 && x->type.rank <= 3 && w->type.rank == 2) {
        ir_op *op = lb_op(cx, IR_OP_LINEAR, NULL);
        if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", w) || (b && ir_op_set_input(op, "bias", b)))
            return -1;
        return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
    }
    ir_value *r = matmul(cx, x, w, 1, b ? "matmul" : NULL);
    if (b) r = lb_binary(cx, IR_OP_ADD, r, b, NULL);
    return lower_out_tensor(cx, n, 0, r);
}

/* addmm(self, mat1, mat2, beta=1, alpha=1) = beta*self + alpha*(mat1 @ mat2); baddbmm and addmv
 * the same with batched / vector operands; addbmm sums the batched product over the batch. */
int lower_addmm(lower_ctx *cx, const ts_node *n) {
    double beta = 1, alpha = 1;
    if (n->nin > 3 && lower_float_in(cx, n, 3, &beta)) return -1;
    if (n->nin > 4 && lower_float_in(cx, n, 4, &alpha)) return -1;
    ir_value *bias = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *a = lower_tensor_in_as(cx, n, 1, bias);
    ir_value *m = lower_tensor_in_as(cx, n, 2, bias);
    ir_value *p = matmul(cx, a, m, 0, "matmul");
    if (cx->row->sub == 1) p = lb_reduce(cx, IR_OP_REDUCE_SUM, p, 1, (int64_t[]){0}, 0);
    if (!p) return -1;
    ir_dtype dt = p->type.dtype;
    if (alpha != 1) {
        ir_value *c = lb_const_scalar(cx, alpha, dt, "alpha");
        if (!c || !(p = lb_binary(cx, IR_OP_MUL, p, c, "scaled"))) return -1;
    }
    if (beta == 0) return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_IDENTITY, p, NULL));
    if (beta != 1) {
        ir_value *c = lb_const_scalar(cx, beta, dt, "beta");
        if (!c || !(bias = lb_binary(cx, IR_OP_MUL, bias, c, "bias"))) return -1;
    }
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_ADD, p, bias, NULL));
}

/* matmul / mm / bmm: numpy-style matmul, which MIL matmul follows (rank-1 operands included). */
int lower_matmul(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *y = lower_tensor_in_as(cx, n, 1, x);
    if (!y) return -1;
    return lower_out_tensor(cx, n, 0, matmul(cx, x, y, 0, NULL));
}

/* outer / ger (a, b): a[:, None] * b[None, :] */
int lower_outer(lower_ctx *cx, const ts_node *n) {
    ir_value *a = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *b = lower_tensor_in_as(cx, n, 1, a);
    if (!b) return -1;
    if (a->type.rank != 1 || b->type.rank != 1) return lower_fail(cx, "outer of non-vectors");
    ir_value *ca = lb_expand(cx, a, 1, (int64_t[]){1}), *rb = lb_expand(cx, b, 1, (int64_t[]){0});
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_MUL, ca, rb, NULL));
}

/* dot / vdot / inner of vectors: sum(a * b), a scalar */
int lower_dot(lower_ctx *cx, const ts_node *n) {
    ir_value *a = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *b = lower_tensor_in_as(cx, n, 1, a);
    if (!b) return -1;
    if (a->type.rank != 1 || b->type.rank != 1) return lower_fail(cx, "dot of non-vectors");
    ir_value *m = lb_binary(cx, IR_OP_MUL, a, b, "prod");
    return lower_out_tensor(cx, n, 0, lb_reduce(cx, IR_OP_REDUCE_SUM, m, 1, (int64_t[]){0}, 0));
}
