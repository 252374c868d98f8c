/* fp32_compute.c: every fp16 value of a program computed in fp32, the numerical debugger's reference run of an
 * fp16 program (not part of convert()'s pipeline; `Program.run_pass("fp32_compute")` on a copy).
 *
 * - op outputs, nested block inputs and constants typed fp16 become fp32 (a constant keeps its payload, readers
 *   convert), so the runtime no longer rounds at those op boundaries;
 * - a `cast(dtype="fp16")` casts to fp32 instead (its kernel converts to the dtype it is given);
 * - an fp16 function input is cast to fp32 at the top, and every use reads the cast.
 * The ops, their names and their order do not change, so a value of the copy answers for the value of the same
 * name in the original. Requires: a well-formed function. Keeps: names, op order, the input types. Breaks: the
 * output types (fp16 outputs are fp32 now) and states (read_state of an fp16 state is not retyped).
 */
#include "passes/pass_util.h"

#include <string.h>

typedef struct {
    ir_function *fn;
    ir_value *fp32; /* the string const "fp32", made once */
    pc_err *e;
} f32_ctx;

static void widen(ir_value *v) {
    if ((v->type.kind == IR_TK_TENSOR || v->type.kind == IR_TK_LIST) && v->type.dtype == IR_FP16) v->type.dtype = IR_FP32;
}

static int is_fp16_cast(const ir_op *op) {
    if (op->kind != IR_OP_CAST) return 0;
    const ir_value *dt = ir_op_input(op, "dtype");
    return dt && dt->konst && dt->konst->store == IR_STRING && dt->konst->count == 1 &&
           strcmp(((const char *const *)dt->konst->data)[0], "fp16") == 0;
}

static int widen_op(ir_op *op, void *vctx) {
    f32_ctx *c = vctx;
    if (is_fp16_cast(op)) {
        if (!c->fp32) {
            const char *s = "fp32";
            const char *name = pass_unique_name(c->fn, "fp32_compute_dtype");
            ir_block *body = c->fn->body;
            c->fp32 = name ? ir_const_new(c->fn->prog, NULL, name, ir_scalar_type(IR_STRING), IR_STRING, &s, 1) : NULL;
            if (!c->fp32) return pc_fail(c->e, PC_E_NOMEM, "fp32_compute: out of memory");
            if (body->first) ir_op_insert_before(body->first, c->fp32->def);
            else ir_op_append(body, c->fp32->def);
        }
        if (ir_op_set_input(op, "dtype", c->fp32)) return pc_fail(c->e, PC_E_NOMEM, "fp32_compute: out of memory");
    }
    for (int i = 0; i < op->nout; i++) widen(op->out[i]);
    for (int k = 0; k < op->nblocks; k++)
        for (int i = 0; i < op->blocks[k]->nin; i++) widen(op->blocks[k]->in[i]);
    return 0;
}

int pass_fp32_compute(ir_function *fn, pc_err *e) {
    f32_ctx c = {.fn = fn, .e = e};
    if (ir_walk(fn, widen_op, &c)) return -1;
    ir_program *p = fn->prog;
    ir_block *body = fn->body;
    for (int i = 0; i < fn->nin; i++) {
        ir_value *x = fn->in[i];
        if (x->type.kind != IR_TK_TENSOR || x->type.dtype != IR_FP16) continue;
        const char *name = pass_unique_name(fn, pc_sprintf(p->arena, "%s_fp32_compute", x->name));
        const char *s = "fp32";
        ir_value *dt = name ? ir_const_new(p, NULL, pc_sprintf(p->arena, "%s_dtype", name), ir_scalar_type(IR_STRING),
                                           IR_STRING, &s, 1) : NULL;
        ir_op *op = dt ? ir_op_new(p, NULL, IR_OP_CAST, name) : NULL;
        ir_type t = x->type;
        t.dtype = IR_FP32;
        ir_value *y = op ? ir_op_add_output(op, name, t) : NULL;
        if (!y) return pc_fail(e, PC_E_NOMEM, "fp32_compute: out of memory");
        ir_replace_uses(fn, x, y);
        if (ir_op_set_input(op, "x", x) || ir_op_set_input(op, "dtype", dt))
            return pc_fail(e, PC_E_NOMEM, "fp32_compute: out of memory");
        if (body->first) {
            ir_op_insert_before(body->first, dt->def);
            ir_op_insert_after(dt->def, op);
        } else {
            ir_op_append(body, dt->def);
            ir_op_append(body, op);
        }
    }
    return 0;
}
