/* plumbing.c: constants, lists and tuples, scalar conversions, identity-like ops,
 * aten::to. (Control flow is in branch.c and loop.c.) */
#include "lower/build.h"

#include <string.h>

/* IR type and store dtype of a torch tensor constant (no copy). */
static int const_dtypes(lower_ctx *cx, ts_scalar_type t, ir_dtype *logical, ir_dtype *store) {
    switch (t) {
    case TS_FLOAT: *logical = IR_FP32; *store = IR_FP32; return 0;
    case TS_DOUBLE: *logical = IR_FP32; *store = IR_FP64; return 0;
    case TS_HALF: *logical = IR_FP16; *store = IR_FP16; return 0;
    case TS_INT64: *logical = IR_INT32; *store = IR_INT64; return 0;
    case TS_INT32: *logical = IR_INT32; *store = IR_INT32; return 0;
    case TS_INT16: *logical = IR_INT32; *store = IR_INT16; return 0;
    case TS_INT8: *logical = IR_INT32; *store = IR_INT8; return 0;
    case TS_UINT8: *logical = IR_INT32; *store = IR_UINT8; return 0;
    case TS_BOOL: *logical = IR_BOOL; *store = IR_BOOL; return 0;
    default: return lower_fail(cx, "tensor constant of torch dtype %d has no Core ML equivalent", (int)t);
    }
}

int lower_constant(lower_ctx *cx, const ts_node *n) {
    if (n->nout != 1) return lower_fail(cx, "a constant with %d outputs", n->nout);
    const ts_const *c = n->out[0]->konst;
    static const ts_const none = {.kind = TS_C_NONE};
    if (!c) c = &none;
    lv *l = NULL;
    switch (c->kind) {
    case TS_C_NONE: l = lv_none(cx); break;
    case TS_C_INT: l = lv_int(cx, c->i); break;
    case TS_C_BOOL: l = lv_bool(cx, (int)c->i); break;
    case TS_C_FLOAT: l = lv_float(cx, c->f); break;
    case TS_C_STR:
    case TS_C_DEVICE:
    case TS_C_OTHER:
        if ((l = lv_new(cx, c->kind == TS_C_DEVICE ? LV_DEVICE : LV_STR))) l->s = c->s;
        break;
    case TS_C_INTS:
    case TS_C_BOOLS:
    case TS_C_FLOATS:
        l = lv_new(cx, LV_LIST);
        if (!l) return -1;
        l->n = c->n;
        l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(c->n ? c->n : 1));
        if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int i = 0; i < c->n; i++) {
            l->items[i] = c->kind == TS_C_FLOATS ? lv_float(cx, c->floats[i])
                        : c->kind == TS_C_BOOLS  ? lv_bool(cx, (int)c->ints[i])
                                                 : lv_int(cx, c->ints[i]);
            if (!l->items[i]) return -1;
        }
        break;
    case TS_C_STRS:
        if (!(l = lv_new(cx, LV_LIST))) return -1;
        l->n = c->n;
        if (!(l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(c->n ? c->n : 1))))
            return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int i = 0; i < c->n; i++) {
            if (!(l->items[i] = lv_new(cx, LV_STR))) return -1;
            l->items[i]->s = c->strs[i];
        }
        break;
    case TS_C_TENSOR: {
        ir_dtype logical = IR_FP32, store = IR_FP32;
        if (const_dtypes(cx, c->t.dtype, &logical, &store)) return -1;
        const char *nm = lower_name(cx, NULL);
        if (!nm) return -1;
        ir_value *v = ir_const_new(cx->p, cx->b, nm, ir_tensor_type(logical, c->t.rank, c->t.dims), store, c->t.data, 0);
        if (!v) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        v->def->loc = cx->loc;
        if (lower_names_add(cx, v->name, v)) return -1;
        l = lv_tensor(cx, v);
        break;
    }
    }
    return lower_out(cx, n, 0, l);
}

int lower_list_construct(lower_ctx *cx, const ts_node *n) {
    lv *l = lv_new(cx, cx->row->sub == LIST_TUPLE ? LV_TUPLE : LV_LIST);
    if (!l) return -1;
    l->n = n->nin;
    l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(n->nin ? n->nin : 1));
    if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int i = 0; i < n->nin; i++)
        if (!(l->items[i] = lower_in(cx, n, i))) return -1;
    return lower_out(cx, n, 0, l);
}

int lower_list_unpack(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) return lower_fail(cx, "cannot unpack a %s", lv_kind_name(l->kind));
    if (l->n != n->nout) return lower_fail(cx, "unpacking %d values into %d", l->n, n->nout);
    for (int i = 0; i < n->nout; i++)
        if (lower_out(cx, n, i, l->items[i])) return -1;
    return 0;
}

int lower_getitem(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0), *li = lower_in(cx, n, 1);
    int64_t idx;
    if (!l || !li) return -1;
    if ((l->kind == LV_LIST && l->dyn) || (li->kind == LV_INT && li->dyn)) return lower_out(cx, n, 0, lower_list_item(cx, l, li));
    if (lower_int_in(cx, n, 1, &idx)) return -1;
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) return lower_fail(cx, "cannot index a %s", lv_kind_name(l->kind));
    if (idx < 0) idx += l->n;
    if (idx < 0 || idx >= l->n) return lower_fail(cx, "index out of range (length %d)", l->n);
    return lower_out(cx, n, 0, l->items[idx]);
}

int lower_len(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->kind == LV_LIST && l->dyn) return lower_out(cx, n, 0, lower_list_len(cx, l));
    if (l->kind == LV_LIST || l->kind == LV_TUPLE) return lower_out(cx, n, 0, lv_int(cx, l->n));
    if (l->kind == LV_TENSOR && l->v->type.rank > 0 && l->v->type.dims[0] >= 0)
        return lower_out(cx, n, 0, lv_int(cx, l->v->type.dims[0]));
    if (l->kind == LV_STR && l->s) { /* code points, as Python counts them: UTF-8 lead bytes */
        int64_t k = 0;
        for (const unsigned char *p = (const unsigned char *)l->s; *p; p++) k += (*p & 0xC0) != 0x80;
        return lower_out(cx, n, 0, lv_int(cx, k));
    }
    return lower_fail(cx, "len() of a %s is not known at conversion time", lv_kind_name(l->kind));
}

int lower_passthrough(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    return l ? lower_out(cx, n, 0, l) : -1;
}

/* prim::RaiseException: scripted argument checks put it in branches that a static
 * condition discards; reached, the model would raise, so conversion fails with its message. */
int lower_raise(lower_ctx *cx, const ts_node *n) {
    lv *m = n->nin > 0 ? lower_in(cx, n, 0) : NULL;
    return lower_fail(cx, "the model raises an exception here%s%s", m && m->kind == LV_STR ? ": " : "",
                      m && m->kind == LV_STR ? m->s : "");
}

int lower_is(lower_ctx *cx, const ts_node *n) {
    lv *a = lower_in(cx, n, 0), *b = lower_in(cx, n, 1);
    if (!a || !b) return -1;
    int an = a->kind == LV_NONE, bn = b->kind == LV_NONE;
    if (!an && !bn && a != b) return lower_fail(cx, "identity of two non-None values is not known at conversion time");
    int same = (an && bn) || a == b;
    return lower_out(cx, n, 0, lv_bool(cx, cx->row->sub == IS_IS ? same : !same));
}

int lower_not(lower_ctx *cx, const ts_node *n) {
    int b;
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->dyn || l->kind == LV_TENSOR) {
        ir_value *v = lb_as_tensor(cx, l, IR_BOOL);
        return lower_out(cx, n, 0, lv_dyn(cx, LV_BOOL, lb_unary(cx, IR_OP_LOGICAL_NOT, v, NULL)));
    }
    if (lower_bool_in(cx, n, 0, &b)) return -1;
    return lower_out(cx, n, 0, lv_bool(cx, !b));
}

int lower_scalar_minmax(lower_ctx *cx, const ts_node *n) {
    int is_max = cx->row->mil == IR_OP_MAXIMUM;
    lv *items[2] = {NULL, NULL}, **it = items;
    int cnt = n->nin;
    if (n->nin == 1) {
        lv *l = lower_in(cx, n, 0);
        if (!l) return -1;
        if (l->kind != LV_LIST || l->n == 0) return lower_fail(cx, "expected a non-empty list");
        it = l->items;
        cnt = l->n;
    } else {
        if (!(items[0] = lower_in(cx, n, 0)) || !(items[1] = lower_in(cx, n, 1))) return -1;
        cnt = 2;
    }
    int any_float = 0, any_dyn = 0;
    for (int i = 0; i < cnt; i++) {
        if (it[i]->kind != LV_INT && it[i]->kind != LV_FLOAT && it[i]->kind != LV_BOOL)
            return lower_fail(cx, "operands must be numbers, operand %d is %s", i, lv_kind_name(it[i]->kind));
        any_float |= it[i]->kind == LV_FLOAT;
        any_dyn |= it[i]->dyn;
    }
    if (any_dyn) { /* numbers known at run time (sizes of a run-time shape): maximum / minimum of rank-0 tensors */
        ir_dtype dt = any_float ? IR_FP32 : IR_INT32;
        ir_value *acc = lb_as_tensor(cx, it[0], dt);
        for (int i = 1; i < cnt && acc; i++) {
            ir_value *v = lb_as_tensor(cx, it[i], dt);
            acc = lb_binary(cx, is_max ? IR_OP_MAXIMUM : IR_OP_MINIMUM, acc, v, NULL);
        }
        return lower_out(cx, n, 0, lv_dyn(cx, any_float ? LV_FLOAT : LV_INT, acc));
    }
    double best = 0;
    for (int i = 0; i < cnt; i++) {
        lv *x = it[i];
        double v = x->kind == LV_FLOAT ? x->f : (double)x->i;
        if (i == 0 || (is_max ? v > best : v < best)) best = v;
    }
    return lower_out(cx, n, 0, any_float ? lv_float(cx, best) : lv_int(cx, (int64_t)best));
}

/* aten::Int / Float / Bool / ScalarImplicit...: a number from a number or a one-element tensor. */
int lower_scalar_convert(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    lv_kind want = (lv_kind)cx->row->sub; /* 0: the input's own kind */
    if (l->kind == LV_TENSOR) {
        ir_value *v = l->v;
        if (ir_type_numel(&v->type) != 1) return lower_fail(cx, "a tensor converted to a number must have one element");
        if (!want) want = ir_dtype_is_float(v->type.dtype) ? LV_FLOAT : v->type.dtype == IR_BOOL ? LV_BOOL : LV_INT;
        if (v->konst) {
            double d = ir_const_get_f64(v->konst, 0);
            return lower_out(cx, n, 0, want == LV_FLOAT ? lv_float(cx, d) : want == LV_BOOL ? lv_bool(cx, d != 0) : lv_int(cx, (int64_t)d));
        }
        ir_dtype dt = want == LV_FLOAT ? IR_FP32 : want == LV_BOOL ? IR_BOOL : IR_INT32;
        if (v->type.rank != 0 && !(v = lb_reshape(cx, v, 0, NULL, "scalar"))) return -1;
        if (v->type.dtype != dt && !(v = lb_cast(cx, v, dt, "cast"))) return -1;
        lv *r = lv_new(cx, want);
        if (!r) return -1;
        r->dyn = 1;
        r->v = v;
        return lower_out(cx, n, 0, r);
    }
    if (l->kind != LV_INT && l->kind != LV_FLOAT && l->kind != LV_BOOL)
        return lower_fail(cx, "cannot convert a %s to a number", lv_kind_name(l->kind));
    if (!want || want == l->kind) return lower_out(cx, n, 0, l);
    if (l->dyn) {
        ir_value *v = lb_cast(cx, l->v, want == LV_FLOAT ? IR_FP32 : want == LV_BOOL ? IR_BOOL : IR_INT32, "cast");
        return lower_out(cx, n, 0, lv_dyn(cx, want, v));
    }
    double d = l->kind == LV_FLOAT ? l->f : (double)l->i;
    return lower_out(cx, n, 0, want == LV_FLOAT ? lv_float(cx, d) : want == LV_BOOL ? lv_bool(cx, d != 0) : lv_int(cx, (int64_t)d));
}

/* Cast a lowered value (tensor or number) to dt; numbers stay compile-time when static. */
static lv *cast_lv(lower_ctx *cx, lv *l, ir_dtype dt) {
    if (l->kind == LV_TENSOR || l->dyn) {
        if (l->v->type.dtype == dt) return l;
        ir_value *v = lb_cast(cx, l->v, dt, NULL);
        if (!v) return NULL;
        if (l->kind == LV_TENSOR) return lv_tensor(cx, v);
        lv *r = lv_new(cx, ir_dtype_is_float(dt) ? LV_FLOAT : dt == IR_BOOL ? LV_BOOL : LV_INT);
        if (r) {
            r->dyn = 1;
            r->v = v;
        }
        return r;
    }
    double d = l->kind == LV_FLOAT ? l->f : (double)l->i;
    if (ir_dtype_is_float(dt)) return lv_float(cx, d);
    if (dt == IR_BOOL) return lv_bool(cx, d != 0);
    return lv_int(cx, (int64_t)d);
}

/* aten::to, all overloads: find the target dtype (if any); device moves are identity. */
int lower_to(lower_ctx *cx, const ts_node *n) {
    lv *x = lower_in(cx, n, 0);
    if (!x) return -1;
    int dt_in = -1; /* input index holding the dtype code */
    lv *a1 = n->nin > 1 ? lower_in(cx, n, 1) : NULL;
    ir_dtype dt = IR_DT_INVALID;
    if (a1 && a1->kind == LV_TENSOR) {
        dt = a1->v->type.dtype;
    } else if (n->nin == 8 || (a1 && a1->kind == LV_INT)) {
        dt_in = 1;
    } else if (a1 && (a1->kind == LV_DEVICE || (a1->kind == LV_NONE && n->nin >= 5))) {
        dt_in = 2;
    }
    if (dt_in > 0 && dt_in < n->nin && !lower_is_none(cx, n, dt_in)) {
        int64_t code;
        if (lower_int_in(cx, n, dt_in, &code) || lower_scalar_type(cx, code, &dt)) return -1;
    }
    if (dt == IR_DT_INVALID) return lower_out(cx, n, 0, x);
    if (x->kind != LV_TENSOR && x->kind != LV_INT && x->kind != LV_FLOAT && x->kind != LV_BOOL)
        return lower_fail(cx, "cannot cast a %s", lv_kind_name(x->kind));
    return lower_out(cx, n, 0, cast_lv(cx, x, dt));
}

int lower_type_as(lower_ctx *cx, const ts_node *n) {
    lv *x = lower_in(cx, n, 0), *o = lower_in(cx, n, 1);
    if (!x || !o) return -1;
    if (o->kind != LV_TENSOR) return lower_fail(cx, "type_as needs a tensor");
    return lower_out(cx, n, 0, cast_lv(cx, x, o->v->type.dtype));
}

int lower_prim_dtype(lower_ctx *cx, const ts_node *n) {
    lv *x = lower_in(cx, n, 0);
    if (!x) return -1;
    if (x->kind != LV_TENSOR) return lower_fail(cx, "dtype of a %s", lv_kind_name(x->kind));
    int code;
    switch (x->v->type.dtype) {
    case IR_FP16: code = TS_HALF; break;
    case IR_FP32: code = TS_FLOAT; break;
    case IR_BOOL: code = TS_BOOL; break;
    case IR_INT8: code = TS_INT8; break;
    case IR_UINT8: code = TS_UINT8; break;
    default: code = TS_INT64; break; /* int32 in the IR stands for torch's int64 */
    }
    return lower_out(cx, n, 0, lv_int(cx, code));
}

int lower_prim_device(lower_ctx *cx, const ts_node *n) {
    lv *l = lv_new(cx, LV_DEVICE);
    if (!l) return -1;
    l->s = "cpu";
    return lower_out(cx, n, 0, l);
}
