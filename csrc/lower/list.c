/* list.c: lists known only at run time: one tensor with the elements stacked on a new first axis (an int
 * list is int32 [n]); len, [i], cat / stack and append read or grow it. */
#include "lower/carry.h"

#include <string.h>

static int oom(lower_ctx *cx) { return cx->e->kind ? -1 : pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"); }

/* Dimension d of x: a compile-time int, or a run-time int32 scalar. */
/* The elements of a list as one tensor [n, ...] (ints: int32 [n]). */
static ir_value *list_tensor(lower_ctx *cx, lv *l) {
    if (l->dyn) return l->v;
    if (l->n == 0) return lower_fail(cx, "an empty list has no elements to read"), NULL;
    lv_kind ek = carry_list_elem(l);
    if (ek != LV_TENSOR) {
        ir_dtype dt = carry_num_dtype(ek);
        for (int i = 0; i < l->n; i++)
            if (l->items[i]->kind == LV_FLOAT) dt = IR_FP32;
        return lb_as_tensor(cx, l, dt);
    }
    ir_value **items = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)l->n);
    if (!items) return oom(cx), NULL;
    for (int i = 0; i < l->n; i++)
        if (!(items[i] = lb_as_tensor(cx, l->items[i], IR_DT_INVALID))) return NULL;
    ir_op *op = lb_op(cx, IR_OP_STACK, "stacked");
    if (!op || ir_op_set_inputs(op, "values", l->n, items) || lb_param_i32(cx, op, "axis", 0)) return NULL;
    return lb_finish(cx, op);
}

lv *lower_list_len(lower_ctx *cx, lv *l) {
    if (l->kind != LV_LIST) return lower_fail(cx, "len() of a %s", lv_kind_name(l->kind)), NULL;
    if (!l->dyn) return lv_int(cx, l->n);
    return lower_dim_lv(cx, l->v, 0);
}

lv *lower_list_item(lower_ctx *cx, lv *l, lv *idx) {
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) return lower_fail(cx, "cannot index a %s", lv_kind_name(l->kind)), NULL;
    if (idx->kind != LV_INT && idx->kind != LV_BOOL) return lower_fail(cx, "a list index must be an int"), NULL;
    if (l->kind == LV_TUPLE && idx->dyn) return lower_fail(cx, "a tuple indexed at run time"), NULL;
    ir_value *v = list_tensor(cx, l);
    if (!v) return NULL;
    ir_value *i;
    if (!idx->dyn && idx->i < 0) { /* from the end */
        lv *len = lower_list_len(cx, l);
        ir_value *lt = lb_as_tensor(cx, len, IR_INT32);
        ir_value *off = lb_const_scalar(cx, (double)idx->i, IR_INT32, "index");
        i = lb_binary(cx, IR_OP_ADD, lt, off, "index");
    } else {
        i = lb_as_tensor(cx, idx, IR_INT32);
    }
    ir_op *op = lb_op(cx, IR_OP_GATHER, "item");
    if (!op || ir_op_set_input(op, "x", v) || ir_op_set_input(op, "indices", i) || lb_param_i32(cx, op, "axis", 0))
        return NULL;
    ir_value *r = lb_finish(cx, op);
    lv_kind ek = l->dyn ? l->elem : carry_list_elem(l);
    if (!r) return NULL;
    if (ek == LV_TENSOR) return lv_tensor(cx, r);
    return carry_dyn_lv(cx, ir_dtype_is_float(r->type.dtype) ? LV_FLOAT : ek ? ek : LV_INT, 0, r);
}

/* cat (elements joined along dim) or stack (along a new dim) of a list. */
ir_value *lb_list_cat(lower_ctx *cx, lv *l, int64_t dim, int stack) {
    if (LB_SKIP(cx, l)) return NULL;
    ir_value *v = list_tensor(cx, l);
    if (!v) return NULL;
    int r = v->type.rank - 1, d; /* element rank */
    if (r < 0 || lower_axis(cx, dim, stack ? r + 1 : r, &d)) return NULL;
    int64_t perm[IR_MAX_RANK];
    int k = 0;
    for (int i = 1; i <= d; i++) perm[k++] = i;
    perm[k++] = 0;
    for (int i = d + 1; i <= r; i++) perm[k++] = i;
    ir_value *t = v;
    if (d > 0) {
        ir_op *op = lb_op(cx, IR_OP_TRANSPOSE, "moved");
        if (!op || ir_op_set_input(op, "x", v) || lb_param_i32v(cx, op, "perm", r + 1, perm) || !(t = lb_finish(cx, op)))
            return NULL;
    }
    if (stack) return t;
    /* merge the list axis (now d) with the element's axis d (now d + 1) */
    lv *shape = lv_new(cx, LV_LIST);
    if (!shape || !(shape->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)r))) return oom(cx), NULL;
    for (int i = 0; i <= r; i++) {
        if (i == d + 1) continue;
        lv *x = i == d ? lv_int(cx, -1) : lower_dim_lv(cx, t, i);
        if (!x) return NULL;
        shape->items[shape->n++] = x;
    }
    ir_value *s = lb_shape_tensor(cx, shape);
    ir_op *op = lb_op(cx, IR_OP_RESHAPE, NULL);
    if (!op || ir_op_set_input(op, "x", t) || ir_op_set_input(op, "shape", s)) return NULL;
    return lb_finish(cx, op);
}

/* list.append(x): a new list bound to the list's value (the mutation) and the output. */
int lower_append(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0), *x = lower_in(cx, n, 1);
    if (!l || !x) return -1;
    if (l->kind != LV_LIST) return lower_fail(cx, "append to a %s", lv_kind_name(l->kind));
    lv *r = lv_new(cx, LV_LIST);
    if (!r) return -1;
    if (!l->dyn) {
        r->n = l->n + 1;
        r->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)r->n);
        if (!r->items) return oom(cx);
        for (int i = 0; i < l->n; i++) r->items[i] = l->items[i];
        r->items[l->n] = x;
    } else {
        ir_value *e = lb_as_tensor(cx, x, l->v->type.dtype);
        int64_t ax = 0;
        ir_op *op = lb_op(cx, IR_OP_EXPAND_DIMS, "item");
        if (!op || ir_op_set_input(op, "x", e) || lb_param_i32v(cx, op, "axes", 1, &ax)) return -1;
        ir_value *vs[2] = {l->v, lb_finish(cx, op)};
        ir_op *cat = lb_op(cx, IR_OP_CONCAT, NULL);
        if (!cat || ir_op_set_inputs(cat, "values", 2, vs) || lb_param_i32(cx, cat, "axis", 0) ||
            lb_param_bool(cx, cat, "interleave", 0) || !(r->v = lb_finish(cx, cat)))
            return -1;
        r->dyn = 1;
        r->elem = l->elem;
    }
    cx->vals[n->in[0]->id] = r;
    return lower_out(cx, n, 0, r);
}
