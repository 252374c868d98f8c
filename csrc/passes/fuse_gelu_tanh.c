/* fuse_gelu_tanh.c: the tanh approximation of GELU written out in elementwise ops (GPT-2's gelu_new,
 * transformers' NewGELUActivation, hand-written models):
 *     0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x^3)))
 * becomes one gelu(x, mode="TANH_APPROXIMATION"), as coremltools' pass does.
 *
 * Matches pow(x, 3), then mul / add in either operand order, with the final product either
 * (0.5 * x) * (1 + tanh(..)) or (x * (1 + tanh(..))) * 0.5. Constants are compared with a relative
 * tolerance of 1e-4.
 * Requires: each intermediate value used once (x may have other uses); float dtypes.
 * Keeps: the final product's output name (the gelu takes it).
 * Breaks: nothing; the matched ops are left for dead_code.
 */
#include "passes/pass_util.h"

#include <math.h>
#include <string.h>

static int is_const_near(const ir_value *v, double want) {
    if (!v || !v->konst || ir_type_numel(&v->type) != 1 || !ir_dtype_is_float(v->type.dtype)) return 0;
    double d = ir_const_get_f64(v->konst, 0);
    return fabs(d - want) <= 1e-4 * fabs(want);
}

/* The op defining v when it is of kind k, v has one use and the op one output. */
static ir_op *single_use_def(const ir_value *v, ir_opkind k) {
    if (!v || !v->def || v->def->kind != k || v->nuses != 1 || v->def->nout != 1) return NULL;
    return v->def;
}

/* For a commutative binary op: the operand that is not `one`, or NULL when `one` is not an operand. */
static ir_value *other(const ir_op *op, const ir_value *one) {
    ir_value *x = ir_op_input(op, "x"), *y = ir_op_input(op, "y");
    return x == one ? y : y == one ? x : NULL;
}

/* The operand of a commutative binary op that is a scalar constant near `c`: the other one, or NULL. */
static ir_value *times_const(const ir_op *op, double c) {
    ir_value *x = ir_op_input(op, "x"), *y = ir_op_input(op, "y");
    return is_const_near(y, c) ? x : is_const_near(x, c) ? y : NULL;
}

/* The single user of v (an op of kind k), or NULL. */
static ir_op *single_user(ir_block *blk, const ir_value *v, ir_opkind k) {
    if (v->nuses != 1) return NULL;
    for (ir_op *op = blk->first; op; op = op->next)
        if (op->kind == k && other(op, v)) return op;
    return NULL;
}

/* x of the inner polynomial x + 0.044715 * pow(x, 3) at value s, or NULL. */
static ir_value *inner_x(const ir_value *s) {
    ir_op *add = single_use_def(s, IR_OP_ADD);
    if (!add) return NULL;
    for (int side = 0; side < 2; side++) {
        ir_value *a = ir_op_input(add, side ? "y" : "x"), *x = ir_op_input(add, side ? "x" : "y");
        ir_op *mul = single_use_def(a, IR_OP_MUL);
        ir_value *p = mul ? times_const(mul, 0.044715) : NULL;
        ir_op *pw = single_use_def(p, IR_OP_POW);
        if (pw && ir_op_input(pw, "x") == x && is_const_near(ir_op_input(pw, "y"), 3.0)) return x;
    }
    return NULL;
}

static int fuse_at(ir_function *fn, ir_block *blk, ir_op *t, pc_err *e) {
    ir_op *m = single_use_def(ir_op_input(t, "x"), IR_OP_MUL);
    ir_value *s = m ? times_const(m, 0.7978845608028654) : NULL;
    ir_value *x = s ? inner_x(s) : NULL;
    if (!x || !ir_dtype_is_float(x->type.dtype)) return 0;
    ir_op *u = single_user(blk, t->out[0], IR_OP_ADD);
    if (!u || !is_const_near(other(u, t->out[0]), 1.0)) return 0;
    ir_op *y = single_user(blk, u->out[0], IR_OP_MUL), *fin = NULL;
    if (!y) return 0;
    ir_value *h = other(y, u->out[0]);
    ir_op *hm = single_use_def(h, IR_OP_MUL);
    if (hm && times_const(hm, 0.5) == x) {
        fin = y; /* (0.5 * x) * (1 + tanh) */
    } else if (h == x) {
        ir_op *half = single_user(blk, y->out[0], IR_OP_MUL);
        if (half && is_const_near(other(half, y->out[0]), 0.5)) fin = half; /* (x * (1 + tanh)) * 0.5 */
    }
    if (!fin || !ir_type_equal(&fin->out[0]->type, &x->type)) return 0;
    ir_program *p = fn->prog;
    const char *nm = pass_unique_name(fn, pc_sprintf(p->arena, "%s_gelu", fin->name));
    const char *mode = "TANH_APPROXIMATION";
    ir_value *mv = nm ? pass_const_before(fin, pc_sprintf(p->arena, "%s_mode", nm), ir_tensor_type(IR_STRING, 0, NULL),
                                          IR_STRING, &mode)
                      : NULL;
    ir_op *g = mv ? ir_op_new(p, NULL, IR_OP_GELU, nm) : NULL;
    if (!g || ir_op_set_input(g, "x", x) || ir_op_set_input(g, "mode", mv)) return pc_fail(e, PC_E_NOMEM, "fuse_gelu_tanh: out of memory");
    if (ir_infer(p, g, e)) return -1;
    g->loc = fin->loc;
    ir_op_insert_before(fin, g);
    ir_value *old = fin->out[0];
    ir_replace_uses(fn, old, g->out[0]);
    ir_op_unlink(fin);
    pass_swap_name(g->out[0], old, NULL);
    return 1;
}

static int fuse_block(ir_function *fn, ir_block *blk, pc_err *e) {
    for (ir_op *op = blk->first; op; op = op->next) {
        for (int k = 0; k < op->nblocks; k++)
            if (fuse_block(fn, op->blocks[k], e)) return -1;
        if (op->kind != IR_OP_TANH || op->nout != 1) continue;
        int r = fuse_at(fn, blk, op, e);
        if (r < 0) return -1;
        if (r) ir_count_uses(fn);
    }
    return 0;
}

int pass_fuse_gelu_tanh(ir_function *fn, pc_err *e) {
    ir_count_uses(fn);
    return fuse_block(fn, fn->body, e);
}
