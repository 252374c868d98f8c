/* reinfer.c: recompute every op's output types from its inputs and compare them
 * with the declared ones (a consistency check and the hook for text tests of ir_infer).
 *
 * Requires: a well-formed function (ir_check). Keeps: everything (the IR is not
 * changed; symbols handed out while inferring are given back). Breaks: nothing.
 * A fresh symbolic dim from inference matches any declared symbolic dim; ops of
 * unknown type (read from a file) and consts are skipped.
 */
#include "passes/passes.h"

#include <string.h>

typedef struct {
    ir_program *p;
    int sym0; /* symbols below this existed before the pass */
    pc_err *e;
} reinfer_ctx;

static int dims_match(const ir_type *decl, const ir_type *inf, int sym0) {
    if (decl->kind != inf->kind || decl->dtype != inf->dtype || decl->rank != inf->rank) return 0;
    for (int i = 0; i < decl->rank; i++) {
        int64_t d = decl->dims[i], k = inf->dims[i];
        if (d == k) continue;
        if (IR_IS_SYM(k) && -k - 1 >= sym0 && IR_IS_SYM(d)) continue;
        return 0;
    }
    return 1;
}

static int reinfer_op(ir_op *op, void *vctx) {
    reinfer_ctx *c = vctx;
    if (op->kind == IR_OP_UNKNOWN || op->kind == IR_OP_CONST) return 0;
    ir_type *t;
    int n;
    if (ir_infer_types(c->p, op, &t, &n, c->e)) return -1;
    if (n != op->nout)
        return pc_fail(c->e, PC_E_VALUE, "reinfer: %s '%s' declares %d outputs, inference gives %d", op->type_name,
                       op->name, op->nout, n);
    for (int i = 0; i < n; i++) {
        if (dims_match(&op->out[i]->type, &t[i], c->sym0)) continue;
        char a[160], b[160];
        return pc_fail(c->e, PC_E_VALUE, "reinfer: %s '%s' output %d declared %s, inferred %s", op->type_name,
                       op->name, i, ir_type_str(&op->out[i]->type, a, sizeof a), ir_type_str(&t[i], b, sizeof b));
    }
    return 0;
}

int pass_reinfer(ir_function *fn, pc_err *e) {
    reinfer_ctx c = {.p = fn->prog, .sym0 = fn->prog->next_symbol, .e = e};
    int r = ir_walk(fn, reinfer_op, &c);
    fn->prog->next_symbol = c.sym0;
    return r ? -1 : 0;
}
