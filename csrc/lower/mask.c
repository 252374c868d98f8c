/* mask.c: ops whose result size depends on the data: nonzero / argwhere (non_zero, a run-time
 * row count), where(cond) / nonzero_numpy (its columns), masked_select (non_zero + gather_nd),
 * and one_hot (one_hot; num_classes = -1 takes max + 1 at run time). */
#include "lower/build.h"

#include <string.h>

/* non_zero(x): int32 [N, rank] coordinates of the nonzero elements, N known at run time. */
static ir_value *nonzero_of(lower_ctx *cx, ir_value *x) {
    if (!x) return NULL;
    if (x->type.rank < 1) {
        lower_fail(cx, "nonzero of a 0-d tensor");
        return NULL;
    }
    if (x->type.dtype != IR_BOOL && x->type.dtype != IR_INT32 && !ir_dtype_is_float(x->type.dtype) &&
        !(x = lb_cast(cx, x, IR_INT32, "int")))
        return NULL;
    ir_op *op = lb_op(cx, IR_OP_NON_ZERO, "nonzero");
    if (!op || ir_op_set_input(op, "x", x)) return NULL;
    return lb_finish(cx, op);
}

/* nonzero(x), argwhere(x): [N, rank] indices */
int lower_nonzero(lower_ctx *cx, const ts_node *n) {
    return lower_out_tensor(cx, n, 0, nonzero_of(cx, lower_tensor_in(cx, n, 0, IR_DT_INVALID)));
}

/* where(cond) (via compare.c's lower_where), nonzero_numpy(x): a list of [N] index tensors, one per dim. */
int lower_nonzero_tuple(lower_ctx *cx, const ts_node *n) {
    ir_value *nz = nonzero_of(cx, lower_tensor_in(cx, n, 0, IR_DT_INVALID));
    if (!nz) return -1;
    int r = (int)nz->type.dims[1];
    lv *l = lv_new(cx, LV_LIST);
    if (!l) return -1;
    l->n = r;
    l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)r);
    if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int i = 0; i < r; i++) {
        ir_value *col = lb_const_scalar(cx, i, IR_INT32, "col");
        if (!(l->items[i] = lv_tensor(cx, lb_gather(cx, nz, col, 1)))) return -1;
    }
    return lower_out(cx, n, 0, l);
}

/* masked_select(x, mask): the elements of x (broadcast with mask) where mask is true, as [N]. */
int lower_masked_select(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *m = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    if (!m || lb_static(cx, x, "masked_select input") || lb_static(cx, m, "masked_select mask")) return -1;
    if (m->type.dtype != IR_BOOL && !(m = lb_cast(cx, m, IR_BOOL, "mask"))) return -1;
    /* broadcast both to the common shape */
    int r = x->type.rank > m->type.rank ? x->type.rank : m->type.rank;
    int64_t shape[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int xi = i - (r - x->type.rank), mi = i - (r - m->type.rank);
        int64_t a = xi >= 0 ? x->type.dims[xi] : 1, b = mi >= 0 ? m->type.dims[mi] : 1;
        if (a != b && a != 1 && b != 1) return lower_fail(cx, "mask does not broadcast with the input");
        shape[i] = a == 1 ? b : a;
    }
    ir_value *vs[2] = {x, m};
    for (int k = 0; k < 2; k++) {
        ir_value *v = vs[k];
        int64_t s[IR_MAX_RANK], reps[IR_MAX_RANK];
        int need = v->type.rank != r, tile = 0;
        for (int i = 0; i < r; i++) {
            int vi = i - (r - v->type.rank);
            s[i] = vi >= 0 ? v->type.dims[vi] : 1;
            reps[i] = s[i] == shape[i] ? 1 : shape[i];
            tile |= reps[i] != 1;
        }
        if (need && !(v = lb_reshape(cx, v, r, s, "bshape"))) return -1;
        if (tile && v->type.dtype == IR_BOOL) { /* tile bools through int32 */
            ir_value *vi = lb_cast(cx, v, IR_INT32, "mask_int");
            v = lb_cast(cx, lb_tile(cx, vi, reps), IR_BOOL, "mask_b");
        } else if (tile) {
            v = lb_tile(cx, v, reps);
        }
        if (!v) return -1;
        int64_t all = -1;
        if (!(vs[k] = lb_reshape(cx, v, 1, &all, k ? "mask_flat" : "flat"))) return -1;
    }
    ir_value *nz = nonzero_of(cx, vs[1]);
    int is_bool = x->type.dtype == IR_BOOL; /* MIL gathers take no bools */
    ir_value *src = is_bool ? lb_cast(cx, vs[0], IR_INT32, "int") : vs[0];
    ir_op *op = lb_op(cx, IR_OP_GATHER_ND, is_bool ? "picked" : NULL);
    if (!op || ir_op_set_input(op, "x", src) || ir_op_set_input(op, "indices", nz)) return -1;
    ir_value *g = lb_finish(cx, op);
    return lower_out_tensor(cx, n, 0, is_bool && g ? lb_cast(cx, g, IR_BOOL, NULL) : g);
}

/* one_hot(x, num_classes=-1): int32 one-hot vectors on a new last axis. num_classes = -1 takes
 * max(x) + 1 (from the constant, or computed at run time: a data-dependent size). */
int lower_one_hot(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t k = -1;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &k))) return -1;
    if (ir_dtype_is_float(x->type.dtype) || x->type.dtype == IR_BOOL)
        return lower_fail(cx, "one_hot of a %s tensor (needs integer class indices)", ir_dtype_name(x->type.dtype));
    if (x->type.dtype != IR_INT32 && !(x = lb_cast(cx, x, IR_INT32, "idx"))) return -1;
    if (k < -1) return lower_fail(cx, "num_classes %lld is invalid", (long long)k);
    ir_value *depth;
    if (k >= 0) {
        depth = lb_const_scalar(cx, (double)k, IR_INT32, "depth");
    } else if (x->konst) {
        int64_t mx = -1, cnt = ir_type_numel(&x->type);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = ir_const_get_i64(x->konst, i);
            if (v > mx) mx = v;
        }
        depth = lb_const_scalar(cx, (double)(mx + 1), IR_INT32, "depth");
    } else {
        if (x->type.rank < 1) return lower_fail(cx, "one_hot of a run-time 0-d tensor needs num_classes");
        int64_t axes[IR_MAX_RANK];
        for (int i = 0; i < x->type.rank; i++) axes[i] = i;
        depth = lb_scalar_op(cx, IR_OP_ADD, lb_reduce(cx, IR_OP_REDUCE_MAX, x, x->type.rank, axes, 0), 1);
    }
    ir_op *op = lb_op(cx, IR_OP_ONE_HOT, NULL);
    if (!op || ir_op_set_input(op, "indices", x) || ir_op_set_input(op, "one_hot_vector_size", depth) ||
        lb_param_i32(cx, op, "axis", -1) || lb_param_i32(cx, op, "on_value", 1) ||
        lb_param_i32(cx, op, "off_value", 0))
        return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}
