/* fuse_conv_bias.c: conv followed by add (or sub) of a per-channel constant
 * becomes one conv with that constant folded into its bias.
 *
 * Per-channel: the constant has Cout elements laid out along the channel axis
 * of the conv output (shape [Cout,1,..,1] aligned to axis 1, with or without
 * leading 1s) or is a single element. Handles add(conv, c), add(c, conv) and
 * sub(conv, c).
 * Requires: conv output used only by that add/sub; the add's result type equals
 * the conv's (no broadcast growth); conv bias absent or constant; float dtypes.
 * Keeps: the add's output name (the conv output takes it). New bias payload is
 * fp32 in the arena with the conv's dtype. Breaks: nothing; old consts are left
 * for dead_code.
 */
#include "passes/pass_util.h"

#include <string.h>

/* Number of channel values c provides for a conv output of type y: cout, 1, or 0 (not per-channel). */
static int64_t per_channel(const ir_value *c, const ir_type *y) {
    const ir_type *t = &c->type;
    int64_t cout = y->dims[1];
    if (ir_type_numel(t) == 1) return 1;
    if (t->rank > y->rank || ir_type_numel(t) != cout) return 0;
    for (int i = 0; i < t->rank; i++) {
        int axis = y->rank - t->rank + i; /* aligned from the right */
        if (t->dims[i] != (axis == 1 ? cout : 1)) return 0;
    }
    return cout;
}

static int fuse_one(ir_function *fn, ir_op *conv, ir_op *add, pc_err *e) {
    pc_arena *a = fn->prog->arena;
    ir_value *y = conv->out[0], *x = ir_op_input(add, "x"), *c = ir_op_input(add, "y");
    int negate = add->kind == IR_OP_SUB;
    if (x != y) {
        if (negate) return 0;
        ir_value *t = x;
        x = c;
        c = t;
    }
    if (x != y || !c || !c->konst || c == y || !ir_dtype_is_float(c->type.dtype)) return 0;
    if (y->type.rank < 3 || IR_IS_SYM(y->type.dims[1]) || !ir_type_equal(&add->out[0]->type, &y->type)) return 0;
    int64_t cout = y->type.dims[1], n = per_channel(c, &y->type);
    ir_value *b = ir_op_input(conv, "bias");
    if (!n || (b && (!b->konst || b->konst->count != cout))) return 0;
    float *bias = pc_alloc(a, sizeof(float) * (size_t)(cout + n));
    if (!bias) return pc_fail(e, PC_E_NOMEM, "fuse_conv_bias: out of memory");
    float *cv = bias + cout;
    if (b) ir_const_read_f32(b->konst, bias);
    ir_const_read_f32(c->konst, cv);
    for (int64_t o = 0; o < cout; o++) bias[o] += negate ? -cv[n == 1 ? 0 : o] : cv[n == 1 ? 0 : o];
    ir_type bt = ir_tensor_type(y->type.dtype, 1, &cout);
    ir_value *nb = pass_const_before(conv, pass_unique_name(fn, pc_sprintf(a, "%s_bias_fused", conv->name)), bt,
                                     IR_FP32, bias);
    if (!nb || ir_op_set_input(conv, "bias", nb)) return pc_fail(e, PC_E_NOMEM, "fuse_conv_bias: out of memory");
    ir_value *z = add->out[0];
    ir_replace_uses(fn, z, y);
    ir_op_unlink(add);
    pass_swap_name(y, z, NULL);
    return 1;
}

/* The add / sub after conv (in its block) that reads conv's output. */
static ir_op *bias_user(ir_op *conv) {
    ir_op *u = conv->next;
    while (u && !((u->kind == IR_OP_ADD || u->kind == IR_OP_SUB) &&
                  (ir_op_input(u, "x") == conv->out[0] || ir_op_input(u, "y") == conv->out[0])))
        u = u->next;
    return u && u->nout == 1 ? u : NULL;
}

int pass_fuse_conv_bias(ir_function *fn, pc_err *e) { return pass_fuse_after_conv(fn, bias_user, fuse_one, e); }
