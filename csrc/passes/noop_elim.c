/* noop_elim.c: ops that return their input unchanged go, their users reading the input instead:
 * add / sub of a constant that is all zeros, mul / real_div by a constant of all ones (when the
 * constant does not broadcast the result beyond x's type), reshape to x's own static shape, and a
 * transpose by the identity permutation. coremltools' noop_elimination does the same.
 * Requires: the op's output is not a block output (its name would move) and has x's type.
 * Keeps: everything else. Breaks: nothing; removed ops' consts are left for dead_code.
 */
#include "passes/pass_util.h"

static int const_all(const ir_value *c, double want) {
    if (!c || !c->konst || !ir_type_is_static(&c->type)) return 0;
    int64_t n = ir_type_numel(&c->type);
    for (int64_t i = 0; i < n; i++)
        if (ir_const_get_f64(c->konst, i) != want) return 0;
    return 1;
}

/* The input an op passes through unchanged, or NULL. */
static ir_value *passthrough(const ir_op *op) {
    ir_value *x = ir_op_input(op, "x"), *y = ir_op_input(op, "y");
    switch (op->kind) {
    case IR_OP_ADD:
        if (const_all(y, 0)) return x;
        return const_all(x, 0) ? y : NULL;
    case IR_OP_SUB: return const_all(y, 0) ? x : NULL;
    case IR_OP_MUL:
        if (const_all(y, 1)) return x;
        return const_all(x, 1) ? y : NULL;
    case IR_OP_REAL_DIV: return const_all(y, 1) ? x : NULL;
    case IR_OP_RESHAPE: return x && ir_type_is_static(&x->type) ? x : NULL;
    case IR_OP_TRANSPOSE: {
        ir_value *perm = pass_const_input(op, "perm");
        if (!perm || !x) return NULL;
        for (int64_t i = 0; i < perm->konst->count; i++)
            if (ir_const_get_f64(perm->konst, i) != (double)i) return NULL;
        return x;
    }
    default: return NULL;
    }
}

static int elim_block(ir_function *fn, ir_block *blk) {
    int n = 0;
    for (ir_op *op = blk->first, *next; op; op = next) {
        next = op->next;
        for (int k = 0; k < op->nblocks; k++) n += elim_block(fn, op->blocks[k]);
        if (op->nout != 1) continue;
        ir_value *x = passthrough(op), *out = op->out[0];
        if (!x || x == out || !ir_type_equal(&x->type, &out->type) || pass_is_block_output(fn, out)) continue;
        ir_replace_uses(fn, out, x);
        ir_op_unlink(op);
        n++;
    }
    return n;
}

int pass_noop_elim(ir_function *fn, pc_err *e) {
    (void)e;
    elim_block(fn, fn->body);
    return 0;
}
