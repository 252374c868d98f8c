/* creation.c: tensors made from sizes and numbers known at conversion time (arange,
 * zeros/ones/full/empty and their _like / new_ forms, linspace, eye, scalar_tensor, tensor,
 * fill_/zero_) become const ops; _to_copy casts. Sizes known only at run time need a
 * MIL fill and are reported as such. */
#include "lower/build.h"

#include <math.h>
#include <string.h>

enum { MAX_CONST_ELEMS = 1 << 26 };

/* A const of dtype dt and shape dims whose element i is vals[i] (or fill when vals is NULL). */
static ir_value *make_const(lower_ctx *cx, ir_dtype dt, int rank, const int64_t *dims, const double *vals, double fill) {
    int64_t cnt = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0) {
            lower_fail(cx, "size %lld at dim %d is negative", (long long)dims[i], i);
            return NULL;
        }
        cnt *= dims[i];
        if (cnt > MAX_CONST_ELEMS) {
            lower_fail(cx, "a constant of more than %d elements", MAX_CONST_ELEMS);
            return NULL;
        }
    }
    ir_dtype store = ir_dtype_is_float(dt) ? IR_FP32 : dt == IR_BOOL ? IR_BOOL : IR_INT32;
    size_t es = store == IR_BOOL ? 1 : 4;
    void *buf = pc_alloc(cx->p->arena, (size_t)(cnt ? cnt : 1) * es);
    if (!buf) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < cnt; i++) {
        double v = vals ? vals[i] : fill;
        if (store == IR_FP32) ((float *)buf)[i] = (float)v;
        else if (store == IR_BOOL) ((uint8_t *)buf)[i] = v != 0;
        else ((int32_t *)buf)[i] = (int32_t)(v > 2147483647.0 ? 2147483647.0 : v < -2147483648.0 ? -2147483648.0 : v);
    }
    const char *nm = lower_name(cx, NULL);
    ir_value *c = nm ? ir_const_new(cx->p, cx->b, nm, ir_tensor_type(dt, rank, dims), store, buf, 0) : NULL;
    if (!c) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    c->def->loc = cx->loc;
    return lower_names_add(cx, c->name, c) ? NULL : c;
}

/* Optional dtype code at input i: *dt unchanged when None / missing. */
static int dtype_at(lower_ctx *cx, const ts_node *n, int i, ir_dtype *dt) {
    if (i < 0 || i >= n->nin || lower_is_none(cx, n, i)) return 0;
    int64_t code;
    return lower_int_in(cx, n, i, &code) || lower_scalar_type(cx, code, dt) ? -1 : 0;
}

/* A static size list at input i. */
static int size_at(lower_ctx *cx, const ts_node *n, int i, int64_t *dims, int *rank) {
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    if (lv_ints(cx, l, dims, IR_MAX_RANK, rank) == 0) return 0;
    return lower_fail(cx, "the size must be known at conversion time (sizes computed at run time need a MIL fill)");
}

/* A static number at input i (int, float or bool; a one-element constant tensor too). */
static int number_at(lower_ctx *cx, const ts_node *n, int i, double *v, lv_kind *kind) {
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    if (l->kind == LV_TENSOR && l->v->konst && ir_type_numel(&l->v->type) == 1) {
        *v = ir_const_get_f64(l->v->konst, 0);
        *kind = ir_dtype_is_float(l->v->type.dtype) ? LV_FLOAT : l->v->type.dtype == IR_BOOL ? LV_BOOL : LV_INT;
        return 0;
    }
    if (l->dyn || (l->kind != LV_INT && l->kind != LV_FLOAT && l->kind != LV_BOOL))
        return lower_fail(cx, "input %d must be a number known at conversion time", i);
    *v = l->kind == LV_FLOAT ? l->f : (double)l->i;
    *kind = l->kind;
    return 0;
}

static ir_dtype dtype_of_kind(lv_kind k) { return k == LV_FLOAT ? IR_FP32 : k == LV_BOOL ? IR_BOOL : IR_INT32; }

/* A _like / fill_ result for an input whose shape is known only at run time:
 * cast(cast(x, bool), dt) * 0 + value (exact: nan and inf become 1 before the * 0). */
static int like_dynamic(lower_ctx *cx, const ts_node *n, ir_value *x, int full, double val, int inplace) {
    ir_dtype dt = x->type.dtype;
    if (!inplace && dtype_at(cx, n, full ? 2 : 1, &dt)) return -1;
    ir_dtype wd = dt == IR_BOOL ? IR_INT32 : dt;
    ir_value *b = x->type.dtype == IR_BOOL ? x : lb_cast(cx, x, IR_BOOL, "nonzero");
    ir_value *w = lb_cast(cx, b, wd, "ones");
    ir_value *z = lb_const_scalar(cx, 0, wd, "zero");
    ir_value *zs = lb_binary(cx, IR_OP_MUL, w, z, val != 0 || wd != dt ? "zeros" : NULL);
    if (zs && val != 0) {
        ir_value *v = lb_const_scalar(cx, val, wd, "value");
        zs = lb_binary(cx, IR_OP_ADD, zs, v, wd != dt ? "filled" : NULL);
    }
    if (zs && wd != dt) zs = lb_cast(cx, zs, dt, NULL);
    return lower_out_tensor(cx, n, 0, zs);
}

/* zeros / ones / empty(size, dtype, ...), full(size, value, dtype, ...), their _like(x, ...) and
 * new_(x, size, ...) forms; fill_(x, value), zero_(x). */
/* zeros / ones / full / empty / new_* with a size list holding run-time numbers (sizes at input i):
 * MIL fill(shape, value) in the dtype asked for (full: the value's kind; new_*: dt, self's dtype). */
static int fill_dynamic(lower_ctx *cx, const ts_node *n, lv *sizes, int i, int full, int is_new, double val, ir_dtype dt) {
    ir_value *shape = lb_shape_tensor(cx, sizes);
    if (!shape) return -1;
    i++;
    if (cx->row->sub & FILL_STRIDED) i++;
    lv_kind vk = LV_FLOAT;
    if (full) {
        if (number_at(cx, n, i++, &val, &vk)) return -1;
        if (!is_new) dt = dtype_of_kind(vk);
    }
    if (dtype_at(cx, n, i, &dt)) return -1;
    ir_value *v = lb_const_scalar(cx, val, dt, "value");
    ir_op *op = lb_op(cx, IR_OP_FILL, NULL);
    if (!op || ir_op_set_input(op, "shape", shape) || ir_op_set_input(op, "value", v)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

/* full / full_like / new_full with a value known only at run time (MIL's fill takes its value as a
 * constant): the tensor full of 0, plus the value. */
static int full_dyn_value(lower_ctx *cx, const ts_node *n, int vi) {
    lv *v = cx->vals[n->in[vi]->id], zero = *v;
    zero.dyn = 0;
    zero.v = NULL;
    zero.i = 0;
    zero.f = 0;
    cx->vals[n->in[vi]->id] = &zero;
    int rc = lower_fill_like(cx, n);
    cx->vals[n->in[vi]->id] = v;
    lv *o = rc ? NULL : cx->vals[n->out[0]->id];
    if (!o || o->kind != LV_TENSOR) return rc ? rc : lower_fail(cx, "internal: no tensor made");
    ir_value *vv = lb_as_tensor(cx, v, o->v->type.dtype);
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_ADD, o->v, vv, "value"));
}

/* The row's .sub (FILL_* bits) says where the shape, dtype and value come from; .c is the value a kind fixes. */
int lower_fill_like(lower_ctx *cx, const ts_node *n) {
    int sub = cx->row->sub;
    int like = (sub & FILL_LIKE) != 0, is_new = (sub & FILL_NEW) != 0, inplace = (sub & FILL_SELF) != 0;
    int full = (sub & FILL_VALUE) != 0;
    double val = cx->row->c;
    lv_kind vk = LV_FLOAT;
    if (inplace && full) { /* fill_ */ /* a value known only at run time: broadcast it (index.c) */
        lv *v = lower_in(cx, n, 1);
        if (!v) return -1;
        if (v->dyn || (v->kind == LV_TENSOR && !v->v->konst)) return lower_copy_fill(cx, n);
    } else if (full && !inplace) {
        int vi = is_new ? 2 : 1;
        lv *v = vi < n->nin ? cx->vals[n->in[vi]->id] : NULL;
        if (v && v->dyn && (v->kind == LV_INT || v->kind == LV_FLOAT)) return full_dyn_value(cx, n, vi);
    }
    int64_t dims[IR_MAX_RANK];
    int rank = 0, i = 0;
    ir_dtype dt = IR_FP32;
    if (like || is_new || inplace) {
        ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
        if (!x) return -1;
        dt = x->type.dtype;
        rank = x->type.rank;
        for (int d = 0; d < rank; d++) dims[d] = x->type.dims[d];
        i = 1;
        int sym = 0;
        for (int d = 0; d < rank; d++) sym |= dims[d] < 0;
        if ((like || inplace) && sym) {
            lv_kind vk2;
            if (full && number_at(cx, n, 1, &val, &vk2)) return -1;
            return like_dynamic(cx, n, x, full, val, inplace);
        }
    }
    if (!like && !inplace) { /* sizes known only at run time: fill(shape, value) */
        lv *sl = lower_in(cx, n, i);
        if (!sl) return -1;
        if (lv_ints(cx, sl, dims, IR_MAX_RANK, &rank) != 0 && (sl->kind == LV_LIST || sl->kind == LV_TUPLE))
            return fill_dynamic(cx, n, sl, i, full, is_new, val, dt);
    }
    if (!like && !inplace && size_at(cx, n, i++, dims, &rank)) return -1;
    if (sub & FILL_STRIDED) i++;
    if (full) {
        if (number_at(cx, n, i++, &val, &vk)) return -1;
        if (!like && !is_new && !inplace) dt = dtype_of_kind(vk);
    }
    if (!inplace && dtype_at(cx, n, i, &dt)) return -1;
    return lower_out_tensor(cx, n, 0, make_const(cx, dt, rank, dims, NULL, val));
}

/* arange(end, ...), arange(start, end, ...), arange(start, end, step, ...). */
int lower_arange(lower_ctx *cx, const ts_node *n) {
    int nargs = n->nin >= 7 ? 3 : n->nin == 6 ? 2 : 1;
    for (int i = 0; i < nargs && i < n->nin; i++) { /* a bound known only at run time: range_1d (transformer.c) */
        lv *b = cx->vals[n->in[i]->id];
        if (b && (b->dyn || (b->kind == LV_TENSOR && !b->v->konst))) return lower_arange_dyn(cx, n);
    }
    double v[3] = {0, 0, 1};
    int any_float = 0;
    for (int i = 0; i < nargs; i++) {
        lv_kind k;
        if (number_at(cx, n, i, &v[nargs == 1 ? 1 : i], &k)) return -1;
        any_float |= k == LV_FLOAT;
    }
    ir_dtype dt = any_float ? IR_FP32 : IR_INT32;
    if (dtype_at(cx, n, nargs, &dt)) return -1;
    if (v[2] == 0) return lower_fail(cx, "arange with step 0");
    double len = ceil((v[1] - v[0]) / v[2]);
    if (!(len >= 0)) len = 0;
    if (len > MAX_CONST_ELEMS) return lower_fail(cx, "arange of %g elements", len);
    int64_t cnt = (int64_t)len;
    double *vals = pc_alloc(cx->p->arena, sizeof(double) * (size_t)(cnt ? cnt : 1));
    if (!vals) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t i = 0; i < cnt; i++) vals[i] = v[0] + (double)i * v[2];
    return lower_out_tensor(cx, n, 0, make_const(cx, dt, 1, &cnt, vals, 0));
}

/* linspace(start, end, steps, dtype, ...). */
int lower_linspace(lower_ctx *cx, const ts_node *n) {
    double a, b;
    int64_t steps;
    lv_kind ka, kb;
    if (number_at(cx, n, 0, &a, &ka) || number_at(cx, n, 1, &b, &kb) || lower_int_in(cx, n, 2, &steps)) return -1;
    if (steps < 0 || steps > MAX_CONST_ELEMS) return lower_fail(cx, "linspace with %lld steps", (long long)steps);
    ir_dtype dt = IR_FP32;
    if (dtype_at(cx, n, 3, &dt)) return -1;
    double *vals = pc_alloc(cx->p->arena, sizeof(double) * (size_t)(steps ? steps : 1));
    if (!vals) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    double step = steps > 1 ? (b - a) / (double)(steps - 1) : 0;
    for (int64_t i = 0; i < steps; i++) /* torch fills the second half from the end; one step is start */
        vals[i] = i < steps / 2 || steps == 1 ? a + step * (double)i : b - step * (double)(steps - 1 - i);
    if (!ir_dtype_is_float(dt))
        for (int64_t i = 0; i < steps; i++) vals[i] = trunc(vals[i]);
    return lower_out_tensor(cx, n, 0, make_const(cx, dt, 1, &steps, vals, 0));
}

/* eye(n, dtype, ...) or eye(n, m, dtype, ...). */
int lower_eye(lower_ctx *cx, const ts_node *n) {
    int64_t d[2];
    int two = n->nin >= 6;
    if (lower_int_in(cx, n, 0, &d[0]) || (two ? lower_int_in(cx, n, 1, &d[1]) : 0)) return -1;
    if (!two) d[1] = d[0];
    ir_dtype dt = IR_FP32;
    if (dtype_at(cx, n, two ? 2 : 1, &dt)) return -1;
    if (d[0] < 0 || d[1] < 0 || (double)d[0] * (double)d[1] > MAX_CONST_ELEMS)
        return lower_fail(cx, "eye of %lld x %lld", (long long)d[0], (long long)d[1]);
    double *vals = pc_alloc(cx->p->arena, sizeof(double) * (size_t)(d[0] * d[1] > 0 ? d[0] * d[1] : 1));
    if (!vals) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t i = 0; i < d[0]; i++)
        for (int64_t j = 0; j < d[1]; j++) vals[i * d[1] + j] = i == j;
    return lower_out_tensor(cx, n, 0, make_const(cx, dt, 2, d, vals, 0));
}

/* Flatten a (nested) list of static numbers; shape from the nesting. */
static int flatten(lower_ctx *cx, const lv *l, int depth, int64_t *dims, int *rank, double *vals, int64_t *cnt,
                   int64_t cap, int *any_float, int *all_bool) {
    if (l->kind == LV_LIST || l->kind == LV_TUPLE) {
        if (depth >= IR_MAX_RANK) return lower_fail(cx, "tensor data nested too deep");
        if (depth >= *rank) {
            *rank = depth + 1;
            dims[depth] = l->n;
        } else if (dims[depth] != l->n) {
            return lower_fail(cx, "tensor data is ragged");
        }
        for (int i = 0; i < l->n; i++)
            if (flatten(cx, l->items[i], depth + 1, dims, rank, vals, cnt, cap, any_float, all_bool)) return -1;
        return 0;
    }
    if (l->dyn || (l->kind != LV_INT && l->kind != LV_FLOAT && l->kind != LV_BOOL))
        return lower_fail(cx, "tensor data must be numbers known at conversion time");
    if (depth != *rank && *cnt > 0) return lower_fail(cx, "tensor data is ragged");
    if (*cnt >= cap) return lower_fail(cx, "tensor data longer than %lld", (long long)cap);
    vals[(*cnt)++] = l->kind == LV_FLOAT ? l->f : (double)l->i;
    *any_float |= l->kind == LV_FLOAT;
    *all_bool &= l->kind == LV_BOOL;
    return 0;
}

/* tensor(data, dtype, device, requires_grad) and scalar_tensor(s, dtype, ...). */
int lower_tensor_ctor(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    ir_dtype dt = IR_DT_INVALID;
    if (dtype_at(cx, n, 1, &dt)) return -1;
    int scalar = cx->row->sub == CTOR_SCALAR;
    if (l->dyn || l->kind == LV_TENSOR) { /* a run-time number: its rank-0 value */
        ir_value *v = l->v;
        if (dt == IR_DT_INVALID) dt = scalar ? IR_FP32 : v->type.dtype;
        return lower_out_tensor(cx, n, 0, v->type.dtype == dt ? v : lb_cast(cx, v, dt, NULL));
    }
    enum { CAP = 1 << 16 };
    double *vals = pc_alloc(cx->p->arena, sizeof(double) * CAP);
    if (!vals) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    int64_t dims[IR_MAX_RANK], cnt = 0;
    int rank = 0, any_float = 0, all_bool = 1;
    if ((l->kind == LV_LIST || l->kind == LV_TUPLE) && l->n > 0 && (l->items[0]->dyn)) {
        ir_value *v = lb_as_tensor(cx, l, dt == IR_DT_INVALID ? IR_DT_INVALID : dt); /* 1-D, run-time elements */
        return lower_out_tensor(cx, n, 0, v);
    }
    if (flatten(cx, l, 0, dims, &rank, vals, &cnt, CAP, &any_float, &all_bool)) return -1;
    if (dt == IR_DT_INVALID) dt = scalar || any_float ? IR_FP32 : all_bool && cnt ? IR_BOOL : IR_INT32;
    return lower_out_tensor(cx, n, 0, make_const(cx, dt, rank, dims, vals, 0));
}

/* _to_copy(x, dtype, layout, device, pin_memory, non_blocking, memory_format). */
int lower_to_copy(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_dtype dt;
    if (!x) return -1;
    dt = x->type.dtype;
    if (dtype_at(cx, n, 1, &dt)) return -1;
    return lower_out_tensor(cx, n, 0, dt == x->type.dtype ? x : lb_cast(cx, x, dt, NULL));
}
