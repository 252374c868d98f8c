/* infer_list.c: shape rules of MIL's list ops (iOS15 control_flow.py; coremltools' TensorFlow frontend
 * writes them for TensorArrays). A list's type is IR_TK_LIST with its element tensor type in
 * dtype / rank / dims; its length is not part of the type (it may change at run time).
 *   make_list(init_length?, dynamic_length?, elem_shape: one scalar per dim, an int or a string naming a
 *             size known only at run time, dtype? = "fp32")          -> list<dtype[elem_shape]>
 *   list_length(ls) -> int32 scalar; list_read(ls, index) -> the element type;
 *   list_gather(ls, indices [K]) -> [K, *elem]; list_write(ls, index, value) and
 *   list_scatter(ls, indices [K], value [K, *elem]) -> ls's type.
 */
#include "ir/infer_int.h"

#include <string.h>

static int need_list(infer_ctx *c, const ir_type **ls) {
    if (inf_input(c, "ls", 1, ls)) return -1;
    if ((*ls)->kind != IR_TK_LIST) return inf_fail(c, "ls must be a list, got %s", inf_tstr(*ls));
    return 0;
}

static int need_int(infer_ctx *c, const char *name, int rank, const ir_type **t) {
    if (inf_input(c, name, 1, t)) return -1;
    if (!ir_dtype_is_int((*t)->dtype) || (*t)->rank != rank)
        return inf_fail(c, "%s must be %s, got %s", name, rank ? "a 1-D integer tensor" : "an integer scalar", inf_tstr(*t));
    return 0;
}

/* value's tensor type t (its first skip dims dropped) must be the list's element type (symbols match anything). */
static int check_elem(infer_ctx *c, const ir_type *ls, const ir_type *t, int skip) {
    int ok = t->dtype == ls->dtype && (t->rank < 0 || ls->rank < 0 || t->rank - skip == ls->rank);
    for (int i = 0; ok && t->rank >= 0 && ls->rank >= 0 && i < ls->rank; i++) {
        int64_t a = ls->dims[i], b = t->dims[skip + i];
        ok = IR_IS_SYM(a) || IR_IS_SYM(b) || a == b;
    }
    return ok ? 0 : inf_fail(c, "value %s does not fit the list's elements %s", inf_tstr(t), inf_tstr(ls));
}

int inf_make_list(infer_ctx *c) {
    const ir_arg *a = ir_op_arg(c->op, "elem_shape");
    const char *dt;
    int dyn;
    const ir_type *p;
    if (!a || a->n == 0) return inf_fail(c, "missing required input 'elem_shape'");
    if (a->n > IR_MAX_RANK) return inf_fail(c, "elem_shape has %d entries, at most %d allowed", a->n, IR_MAX_RANK);
    if (inf_str(c, "dtype", &dt) || inf_bool(c, "dynamic_length", &dyn) || inf_input(c, "init_length", 0, &p))
        return -1;
    if (p && (!ir_dtype_is_int(p->dtype) || p->rank > 1)) return inf_fail(c, "init_length must be an integer, got %s", inf_tstr(p));
    ir_type t = ir_tensor_type(ir_dtype_from_name(dt), a->n, NULL);
    if (t.dtype != IR_FP32 && t.dtype != IR_FP16 && t.dtype != IR_INT32 && t.dtype != IR_BOOL)
        return inf_fail(c, "dtype '%s' is not one of bool, fp16, fp32, int32", dt);
    for (int i = 0; i < a->n; i++) {
        const ir_const *k = a->v[i]->konst;
        if (!k || k->count != 1) return inf_fail(c, "elem_shape entry %d must be one constant", i);
        if (k->store == IR_STRING) {
            t.dims[i] = inf_fresh(c); /* a size named by a string is known at run time only */
            continue;
        }
        int64_t d = ir_const_get_i64(k, 0);
        if (d < 0) return inf_fail(c, "elem_shape entry %d is negative", i);
        t.dims[i] = d;
    }
    t.kind = IR_TK_LIST;
    return inf_out(c, t);
}

/* The list ls and its element type. */
static int list_elem(infer_ctx *c, const ir_type **ls, ir_type *elem) {
    if (need_list(c, ls)) return -1;
    *elem = **ls;
    elem->kind = IR_TK_TENSOR;
    return 0;
}

int inf_list_length(infer_ctx *c) {
    const ir_type *ls;
    ir_type elem;
    return list_elem(c, &ls, &elem) ? -1 : inf_out(c, ir_scalar_type(IR_INT32));
}

int inf_list_read(infer_ctx *c) {
    const ir_type *ls, *i;
    ir_type elem;
    if (list_elem(c, &ls, &elem) || need_int(c, "index", 0, &i)) return -1;
    return inf_out(c, elem);
}

int inf_list_write(infer_ctx *c) {
    const ir_type *ls, *i, *v;
    ir_type elem;
    if (list_elem(c, &ls, &elem) || need_int(c, "index", 0, &i) || inf_input(c, "value", 1, &v) || check_elem(c, ls, v, 0))
        return -1;
    return inf_out(c, *ls);
}

int inf_list_scatter(infer_ctx *c) {
    const ir_type *ls, *i, *v;
    ir_type elem;
    if (list_elem(c, &ls, &elem) || need_int(c, "indices", 1, &i) || inf_input(c, "value", 1, &v) ||
        check_elem(c, ls, v, 1))
        return -1;
    if (v->rank >= 1 && !IR_IS_SYM(v->dims[0]) && !IR_IS_SYM(i->dims[0]) && v->dims[0] != i->dims[0])
        return inf_fail(c, "%lld values for %lld indices", (long long)v->dims[0], (long long)i->dims[0]);
    return inf_out(c, *ls);
}

int inf_list_gather(infer_ctx *c) {
    const ir_type *ls, *i;
    ir_type elem;
    if (list_elem(c, &ls, &elem) || need_int(c, "indices", 1, &i)) return -1;
    if (ls->rank < 0) return inf_out(c, elem);
    if (ls->rank + 1 > IR_MAX_RANK) return inf_fail(c, "elements of rank %d cannot be stacked", ls->rank);
    ir_type t = ir_tensor_type(ls->dtype, ls->rank + 1, NULL);
    t.dims[0] = i->dims[0];
    memcpy(t.dims + 1, ls->dims, sizeof(int64_t) * (size_t)ls->rank);
    return inf_out(c, t);
}
