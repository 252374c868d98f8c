/* const_fold.c: replace ops whose inputs are all constants by constants.
 *
 * Requires: a well-formed function. Evaluation goes through the runtime's
 * kernels (rt_eval_op); when it fails (op not supported, runtime not built in)
 * the op stays as it is: failure to evaluate is never an error. `shape` of a
 * statically shaped value folds without the runtime.
 * Keeps: value names (a folded output's const takes its name), so function
 * outputs keep theirs. Skips: results over 1M elements, results that expand
 * their inputs by broadcasting (over 4096 elements and larger than all inputs
 * together), ops with nested blocks, ops of unknown type.
 * Breaks: nothing; the folded ops' now unused inputs are left for dead_code.
 */
#include "passes/pass_util.h"
#include "runtime/rt.h"

#include <string.h>

#define FOLD_MAX_ELEMS (1 << 20)
#define FOLD_MAX_EXPAND 4096

/* Swap `op`'s output i for a const holding data, keeping the output's name. */
static int replace_output(ir_function *fn, ir_op *op, int i, ir_dtype store, const void *data, pc_err *e) {
    ir_value *old = op->out[i];
    ir_value *v = pass_const_before(op, NULL, old->type, store, data);
    if (!v) return pc_fail(e, PC_E_NOMEM, "const_fold: out of memory");
    ir_replace_uses(fn, old, v);
    pass_swap_name(v, old, pc_sprintf(fn->prog->arena, "%s_folded", old->name));
    return 0;
}

static int foldable(const ir_op *op) {
    if (op->kind == IR_OP_UNKNOWN || op->kind == IR_OP_CONST || op->nblocks || op->nout == 0) return 0;
    int64_t in_total = 0;
    for (int i = 0; i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++) {
            const ir_value *v = op->in[i].v[j];
            if (!v->konst) return 0;
            in_total += v->konst->count;
        }
    for (int i = 0; i < op->nout; i++) {
        int64_t n = ir_type_numel(&op->out[i]->type);
        if (n < 0 || n > FOLD_MAX_ELEMS) return 0;
        if (n > FOLD_MAX_EXPAND && n > in_total) return 0;
    }
    return 1;
}

static int fold_shape(ir_function *fn, ir_op *op, pc_err *e) {
    ir_value *x = ir_op_input(op, "x");
    if (!x || !ir_type_is_static(&x->type) || op->nout != 1 || op->out[0]->type.dtype != IR_INT32) return 0;
    int32_t dims[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++) dims[i] = (int32_t)x->type.dims[i];
    if (replace_output(fn, op, 0, IR_INT32, dims, e)) return -1;
    ir_op_unlink(op);
    return 1;
}

/* Fold op if possible: 1 folded, 0 left alone, -1 error (only OOM). */
static int fold_op(ir_function *fn, ir_op *op, pc_err *e) {
    if (op->kind == IR_OP_SHAPE) return fold_shape(fn, op, e);
    if (!foldable(op)) return 0;
    rt_tensor outs[16];
    if (op->nout > PC_ARRAY_LEN(outs)) return 0;
    memset(outs, 0, sizeof outs);
    pc_err ignored = {0};
    if (rt_eval_op(op, outs, &ignored)) {
        for (int i = 0; i < op->nout; i++) rt_tensor_release(&outs[i]);
        return 0; /* cannot fold */
    }
    int ok = 1;
    for (int i = 0; i < op->nout && ok; i++) { /* the result must be what the op declares */
        const ir_type *t = &op->out[i]->type;
        ok = outs[i].data && outs[i].rank == t->rank && ir_dtype_size(outs[i].dtype) > 0 &&
             (outs[i].dtype == t->dtype || (t->dtype == IR_FP16 && outs[i].dtype == IR_FP32));
        for (int k = 0; ok && k < t->rank; k++) ok = outs[i].dims[k] == t->dims[k];
    }
    int r = ok;
    for (int i = 0; i < op->nout && r == 1; i++)
        if (replace_output(fn, op, i, outs[i].dtype, outs[i].data, e)) r = -1;
    for (int i = 0; i < op->nout; i++) rt_tensor_release(&outs[i]);
    if (r == 1) ir_op_unlink(op);
    return r;
}

static int fold_block(ir_function *fn, ir_block *b, pc_err *e) {
    for (ir_op *op = b->first, *next; op; op = next) {
        next = op->next;
        for (int k = 0; k < op->nblocks; k++)
            if (fold_block(fn, op->blocks[k], e)) return -1;
        if (fold_op(fn, op, e) < 0) return -1;
    }
    return 0;
}

int pass_const_fold(ir_function *fn, pc_err *e) { return fold_block(fn, fn->body, e); }
