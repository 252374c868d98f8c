/* dead_code.c: remove ops none of whose outputs are used.
 *
 * Requires: a well-formed function. Keeps: function inputs (the interface),
 * every function and block output, ops of unknown type and ops without outputs
 * (they may have effects we do not model). Breaks: nothing; nuses is left valid.
 * One backward sweep per block suffices: removing an op releases its inputs'
 * uses before the ops defining them are visited.
 */
#include "passes/passes.h"

static void release_uses(ir_op *op) {
    for (int i = 0; i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++) op->in[i].v[j]->nuses--;
    for (int k = 0; k < op->nblocks; k++) {
        ir_block *b = op->blocks[k];
        for (ir_op *o = b->first; o; o = o->next) release_uses(o);
        for (int i = 0; i < b->nout; i++) b->out[i]->nuses--;
    }
}

static int is_dead(const ir_op *op) {
    if (op->kind == IR_OP_UNKNOWN || op->nout == 0) return 0;
    for (int i = 0; i < op->nout; i++)
        if (op->out[i]->nuses > 0) return 0;
    return 1;
}

static void sweep(ir_block *b) {
    for (ir_op *op = b->last, *prev; op; op = prev) {
        prev = op->prev;
        if (is_dead(op)) {
            release_uses(op);
            ir_op_unlink(op);
        } else {
            for (int k = 0; k < op->nblocks; k++) sweep(op->blocks[k]);
        }
    }
}

int pass_dead_code(ir_function *fn, pc_err *e) {
    ir_count_uses(fn);
    sweep(fn->body);
    return 0;
}
