/* infer_control.c: output types of the control-flow ops, read from their blocks.
 *
 * cond(pred) { true block } { false block }: both blocks take no inputs and return
 * as many values as the op has outputs; output i joins the two branches' types
 * (same dtype and rank; a dim the branches disagree on becomes a fresh symbol).
 * while_loop(loop_vars) { cond block(v...) -> (bool) } { body block(v...) -> (v'...) }:
 * both blocks take one input per loop var; the body returns one value per loop
 * var. Output i is the body's input type joined with the loop var's and the body
 * output's types, so a loop-carried value whose shape changes between iterations
 * (a growing token list) gets a symbolic dim.
 */
#include "ir/infer_int.h"

#include <string.h>

/* Join b into a: dims that differ become symbolic (a symbolic dim of a stays as it is). */
static int join(infer_ctx *c, ir_type *a, const ir_type *b, const char *what, int i) {
    if (a->kind != b->kind || a->dtype != b->dtype || a->rank != b->rank)
        return inf_fail(c, "%s %d: types %s and %s do not agree (dtype and rank must match)", what, i, inf_tstr(a),
                        inf_tstr(b));
    for (int k = 0; k < a->rank; k++)
        if (a->dims[k] != b->dims[k] && !IR_IS_SYM(a->dims[k])) a->dims[k] = inf_fresh(c);
    return 0;
}

int inf_cond(infer_ctx *c) {
    const ir_type *pred;
    if (inf_input(c, "pred", 1, &pred)) return -1;
    if (pred->dtype != IR_BOOL || pred->rank != 0) return inf_fail(c, "pred must be a bool scalar, got %s", inf_tstr(pred));
    const ir_op *op = c->op;
    if (op->nblocks != 2) return inf_fail(c, "cond needs 2 blocks, has %d", op->nblocks);
    const ir_block *t = op->blocks[0], *f = op->blocks[1];
    if (t->nin || f->nin) return inf_fail(c, "the blocks of a cond take no inputs");
    if (t->nout != f->nout)
        return inf_fail(c, "the true block returns %d values, the false block %d", t->nout, f->nout);
    for (int i = 0; i < t->nout; i++) {
        if (!t->out[i] || !f->out[i]) return inf_fail(c, "block output %d is unbound", i);
        ir_type o = t->out[i]->type;
        if (join(c, &o, &f->out[i]->type, "branch output", i) || inf_out(c, o)) return -1;
    }
    return 0;
}

int inf_while_loop(infer_ctx *c) {
    const ir_op *op = c->op;
    const ir_arg *lv = ir_op_arg(op, "loop_vars");
    if (!lv || lv->n == 0) return inf_fail(c, "missing required input 'loop_vars'");
    if (op->nblocks != 2) return inf_fail(c, "while_loop needs 2 blocks (cond, body), has %d", op->nblocks);
    const ir_block *cb = op->blocks[0], *bb = op->blocks[1];
    int n = lv->n;
    if (cb->nin != n || bb->nin != n)
        return inf_fail(c, "%d loop vars but the blocks take %d and %d inputs", n, cb->nin, bb->nin);
    if (cb->nout != 1 || !cb->out[0]) return inf_fail(c, "the cond block must return one bool");
    const ir_type *ct = &cb->out[0]->type;
    if (ct->dtype != IR_BOOL || ct->rank != 0) return inf_fail(c, "the cond block returns %s, not a bool scalar", inf_tstr(ct));
    if (bb->nout != n) return inf_fail(c, "the body returns %d values for %d loop vars", bb->nout, n);
    for (int i = 0; i < n; i++) {
        if (!bb->out[i]) return inf_fail(c, "body output %d is unbound", i);
        ir_type o = bb->in[i]->type;
        if (join(c, &o, &lv->v[i]->type, "loop var", i) || join(c, &o, &bb->out[i]->type, "loop var", i)) return -1;
        if (join(c, &o, &cb->in[i]->type, "loop var", i) || inf_out(c, o)) return -1;
    }
    return 0;
}
