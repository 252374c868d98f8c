/* alias.c: functional and internal spellings of ops we already lower (torch.export / functionalization
 * output): the *_copy forms of view ops (a copy is never a view, so slice_copy / select_copy forget the
 * view note that slice / select leave for slice assignment), _reshape_alias, native_dropout at inference,
 * _shape_as_tensor, _add_relu and the output-less _assert_* checks (torch's dead-code pass drops them from
 * frozen modules, but a ScriptFunction's graph is converted as written): checked at conversion time when
 * their operands are known, else dropped, as a Core ML model cannot raise. */
#include "lower/build.h"

#include <string.h>

/* slice_copy / select_copy: slice / select whose output is a copy (no view of the input). */
int lower_slice_copy(lower_ctx *cx, const ts_node *n) {
    int sel = cx->row->sub == 1;
    if (sel ? lower_select(cx, n) : lower_slice(cx, n)) return -1;
    if (cx->views) cx->views[n->out[0]->id] = NULL;
    return 0;
}

/* _reshape_alias(self, size, stride) / _reshape_alias_copy: a reshape when stride is the contiguous
 * stride of size (the only case torch emits it for); other strides would be an as_strided. */
int lower_reshape_alias(lower_ctx *cx, const ts_node *n) {
    int64_t size[IR_MAX_RANK], stride[IR_MAX_RANK];
    int ns, nt;
    if (lower_ints_in(cx, n, 1, size, IR_MAX_RANK, &ns) || lower_ints_in(cx, n, 2, stride, IR_MAX_RANK, &nt)) return -1;
    if (ns != nt) return lower_fail(cx, "%d sizes but %d strides", ns, nt);
    int64_t want = 1;
    for (int i = ns - 1; i >= 0; i--) {
        if (size[i] != 1 && stride[i] != want)
            return lower_fail(cx, "stride %lld of dim %d is not contiguous (%lld): an as_strided view is not supported",
                              (long long)stride[i], i, (long long)want);
        want *= size[i] > 0 ? size[i] : 1;
    }
    return lower_reshape_op(cx, n);
}

/* A bool tensor of x's shape, all `value` (a const when the shape is static, else shape + fill). */
static ir_value *bool_like(lower_ctx *cx, ir_value *x, int value) {
    if (ir_type_is_static(&x->type)) {
        int64_t cnt = ir_type_numel(&x->type);
        float *ones = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(cnt > 0 ? cnt : 1));
        if (!ones) {
            pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
            return NULL;
        }
        for (int64_t i = 0; i < cnt; i++) ones[i] = (float)value;
        return lb_const(cx, IR_BOOL, x->type.rank, x->type.dims, ones, "mask");
    }
    ir_value *shp = lb_unary(cx, IR_OP_SHAPE, x, "shape");
    ir_op *f = lb_op(cx, IR_OP_FILL, "mask_i");
    if (!f || ir_op_set_input(f, "shape", shp) || lb_param_f(cx, f, "value", value, IR_INT32)) return NULL;
    ir_value *m = lb_finish(cx, f);
    return lb_cast(cx, m, IR_BOOL, "mask");
}

/* native_dropout(input, p, train: bool?) -> (output, mask). Inference (train False) and p = 0 keep
 * every element: (input, all-true mask). Random dropping is not convertible. */
int lower_native_dropout(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    double p;
    int train = 1;
    if (!x || lower_float_in(cx, n, 1, &p)) return -1;
    if (n->nin > 2 && !lower_is_none(cx, n, 2) && lower_bool_in(cx, n, 2, &train)) return -1;
    if (train && p != 0)
        return lower_fail(cx, "native_dropout in training mode (train=%s, p=%g) is random: convert the model in eval mode",
                          n->nin > 2 && !lower_is_none(cx, n, 2) ? "True" : "None", p);
    if (lower_out_tensor(cx, n, 0, x)) return -1;
    return n->nout > 1 ? lower_out_tensor(cx, n, 1, bool_like(cx, x, 1)) : 0;
}

/* _shape_as_tensor(self): the shape as a 1-D int tensor (a const when static). */
int lower_shape_as_tensor(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    if (x->type.rank == 0) return lower_fail(cx, "_shape_as_tensor of a rank-0 tensor (an empty shape) is not supported");
    if (ir_type_is_static(&x->type)) return lower_out_tensor(cx, n, 0, lb_const_i32v(cx, x->type.rank, x->type.dims, NULL));
    return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_SHAPE, x, NULL));
}

/* _add_relu(self, other, alpha=1) / _add_relu_: relu(self + alpha * other), other a tensor or number;
 * ints stay ints (maximum with 0). */
int lower_add_relu(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    lv *o = lower_in(cx, n, 1);
    double alpha = 1;
    if (!o || (n->nin > 2 && lower_float_in(cx, n, 2, &alpha))) return -1;
    int fx = x->type.dtype == IR_FP32 || x->type.dtype == IR_FP16;
    ir_dtype dt = x->type.dtype;
    if (o->kind == LV_TENSOR) {
        ir_dtype od = o->v->type.dtype;
        int fo = od == IR_FP32 || od == IR_FP16;
        if (!fx && fo) dt = od;
    } else if (o->kind == LV_FLOAT && !fx) {
        dt = IR_FP32;
    }
    if (dt == IR_BOOL) return lower_fail(cx, "_add_relu of bool tensors");
    if (x->type.dtype != dt && !(x = lb_cast(cx, x, dt, "self"))) return -1;
    ir_value *y = lower_tensor_in(cx, n, 1, dt);
    if (!y) return -1;
    if (y->type.dtype != dt && !(y = lb_cast(cx, y, dt, "other"))) return -1;
    if (alpha != 1 && !(y = lb_scalar_op(cx, IR_OP_MUL, y, alpha))) return -1;
    ir_value *s = lb_binary(cx, IR_OP_ADD, x, y, "sum");
    if (!s) return -1;
    if (dt == IR_FP32 || dt == IR_FP16) return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_RELU, s, NULL));
    ir_value *z = lb_const_scalar(cx, 0, dt, "zero");
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_MAXIMUM, s, z, NULL));
}

/* 1 when lv l is a number known at conversion time and zero (0 when not known). */
static int known_false(const lv *l) {
    if (!l || l->dyn) return 0;
    if (l->kind == LV_INT || l->kind == LV_BOOL) return l->i == 0;
    if (l->kind == LV_FLOAT) return l->f == 0;
    return 0;
}

/* _assert_async(self[, msg]) / _assert_scalar(self, msg): nothing to compute. A condition known false
 * at conversion time fails the conversion with its message; others cannot be checked by a Core ML
 * model and are dropped. */
int lower_assert_noop(lower_ctx *cx, const ts_node *n) {
    lv *c = lower_in(cx, n, 0);
    if (!c) return -1;
    if (known_false(c)) {
        lv *m = n->nin > 1 ? lower_in(cx, n, 1) : NULL;
        return lower_fail(cx, "the assertion is false at conversion time%s%s", m && m->kind == LV_STR ? ": " : "",
                          m && m->kind == LV_STR ? m->s : "");
    }
    for (int i = 0; i < n->nout; i++)
        if (lower_out(cx, n, i, lv_none(cx))) return -1;
    return 0;
}

/* _assert_tensor_metadata(a, size?, stride?, dtype?, device?, layout?): the asserted sizes (where
 * known) and dtype are checked against the converted tensor; produces nothing. */
int lower_assert_metadata(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    if (n->nin > 1 && !lower_is_none(cx, n, 1)) {
        int64_t sz[IR_MAX_RANK];
        int cnt;
        if (lower_ints_in(cx, n, 1, sz, IR_MAX_RANK, &cnt)) return -1;
        if (cnt != x->type.rank) return lower_fail(cx, "tensor metadata: rank %d, asserted %d", x->type.rank, cnt);
        for (int i = 0; i < cnt; i++)
            if (x->type.dims[i] >= 0 && x->type.dims[i] != sz[i])
                return lower_fail(cx, "tensor metadata: dim %d is %lld, asserted %lld", i, (long long)x->type.dims[i],
                                  (long long)sz[i]);
    }
    if (n->nin > 3 && !lower_is_none(cx, n, 3)) {
        int64_t code;
        ir_dtype dt;
        if (lower_int_in(cx, n, 3, &code) || lower_scalar_type(cx, code, &dt)) return -1;
        if (dt != x->type.dtype) return lower_fail(cx, "tensor metadata: the dtype differs from the asserted one");
    }
    for (int i = 0; i < n->nout; i++)
        if (lower_out(cx, n, i, lv_none(cx))) return -1;
    return 0;
}
