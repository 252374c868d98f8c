/* block_outputs.c: every output of a nested block is made inside that block.
 *
 * Core ML rejects (or crashes loading) a cond / while_loop block whose output is a
 * value from an enclosing scope or one of the block's own inputs; such an output
 * gets an `identity` at the end of the block. Requires: a well-formed function.
 * Keeps: everything else. Breaks: nothing (run it last: dead_code would keep the
 * identities, const_fold leaves them alone only when their input is not const).
 */
#include "passes/pass_util.h"

static int fix_block(ir_function *fn, ir_block *b, pc_err *e) {
    for (ir_op *op = b->first; op; op = op->next)
        for (int k = 0; k < op->nblocks; k++)
            if (fix_block(fn, op->blocks[k], e)) return -1;
    if (!b->parent) return 0;
    for (int i = 0; i < b->nout; i++) {
        ir_value *v = b->out[i];
        if (v->def && v->def->parent == b) continue;
        const char *nm = pass_unique_name(fn, pc_sprintf(fn->prog->arena, "%s_out", v->name));
        ir_op *id = nm ? ir_op_new(fn->prog, b, IR_OP_IDENTITY, nm) : NULL;
        ir_value *o = id ? ir_op_add_output(id, nm, v->type) : NULL;
        if (!o || ir_op_set_input(id, "x", v)) return pc_fail(e, PC_E_NOMEM, "block_outputs: out of memory");
        id->loc = b->parent->loc;
        for (int j = i; j < b->nout; j++)
            if (b->out[j] == v) b->out[j] = o;
    }
    return 0;
}

int pass_block_outputs(ir_function *fn, pc_err *e) { return fix_block(fn, fn->body, e); }
