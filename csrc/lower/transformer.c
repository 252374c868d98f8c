/* transformer.c: ops of transformer language models (GPT-2 and kin) that no other
 * family covers: embedding lookups, arange over a run-time length. */
#include "lower/build.h"

/* arange(end, dtype, ...), arange(start, end, dtype, ...), arange(start, end, step, dtype, ...)
 * with bounds known only at run time (a sequence length): MIL range_1d (creation.c calls it). */
int lower_arange_dyn(lower_ctx *cx, const ts_node *n) {
    int nb = n->nin == 5 ? 1 : n->nin == 6 ? 2 : n->nin == 7 ? 3 : 0;
    if (!nb) return lower_fail(cx, "aten::arange with %d arguments", n->nin);
    lv *b[3];
    int is_float = 0;
    for (int i = 0; i < nb; i++) {
        if (!(b[i] = lower_in(cx, n, i))) return -1;
        if (b[i]->kind == LV_TENSOR) {
            if (ir_type_numel(&b[i]->v->type) != 1) return lower_fail(cx, "arange bounds must be numbers");
            is_float |= ir_dtype_is_float(b[i]->v->type.dtype);
        } else if (b[i]->kind == LV_FLOAT) {
            is_float = 1;
        } else if (b[i]->kind != LV_INT && b[i]->kind != LV_BOOL) {
            return lower_fail(cx, "arange bound %d is a %s", i, lv_kind_name(b[i]->kind));
        }
    }
    ir_dtype dt = is_float ? IR_FP32 : IR_INT32, out_dt = dt;
    if (!lower_is_none(cx, n, nb)) {
        int64_t code;
        if (lower_int_in(cx, n, nb, &code) || lower_scalar_type(cx, code, &out_dt)) return -1;
    }
    lv *zero = lv_int(cx, 0), *one = lv_int(cx, 1);
    lv *start = nb >= 2 ? b[0] : zero, *end = nb >= 2 ? b[1] : b[0], *step = nb == 3 ? b[2] : one;
    ir_value *vs = lb_as_tensor(cx, start, dt), *ve = lb_as_tensor(cx, end, dt);
    ir_value *vt = lb_as_tensor(cx, step, dt);
    if (!vt) return -1;
    if (vs->type.rank && !(vs = lb_reshape(cx, vs, 0, NULL, "start"))) return -1;
    if (ve->type.rank && !(ve = lb_reshape(cx, ve, 0, NULL, "end"))) return -1;
    if (vt->type.rank && !(vt = lb_reshape(cx, vt, 0, NULL, "step"))) return -1;
    ir_op *op = lb_op(cx, IR_OP_RANGE_1D, NULL);
    if (!op || ir_op_set_input(op, "end", ve) || ir_op_set_input(op, "start", vs) || ir_op_set_input(op, "step", vt))
        return -1;
    ir_value *r = lb_finish(cx, op);
    if (r && out_dt != dt) r = lb_cast(cx, r, out_dt, "cast");
    return lower_out_tensor(cx, n, 0, r);
}
