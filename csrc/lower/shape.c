/* shape.c: size/dim/numel, flatten, view/reshape, permute/transpose/t, cat/stack,
 * unsqueeze/squeeze, slice/select, chunk/split. Static dims stay compile-time ints;
 * symbolic dims are read at run time with shape + gather. */
#include "lower/build.h"

#include <string.h>

lv *lower_dim_lv(lower_ctx *cx, ir_value *x, int d) {
    if (LB_SKIP(cx, x)) return NULL;
    if (x->type.dims[d] >= 0) return lv_int(cx, x->type.dims[d]);
    ir_value *s = lb_unary(cx, IR_OP_SHAPE, x, "shape");
    ir_value *idx = lb_const_scalar(cx, d, IR_INT32, "index");
    ir_op *op = lb_op(cx, IR_OP_GATHER, "dim");
    if (!op || ir_op_set_input(op, "x", s) || ir_op_set_input(op, "indices", idx) || lb_param_i32(cx, op, "axis", 0))
        return NULL;
    return lv_dyn(cx, LV_INT, lb_finish(cx, op));
}

static ir_value *tensor_in(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (x && x->type.rank < 0) {
        lower_fail(cx, "the input's rank is unknown");
        return NULL;
    }
    return x;
}

int lower_size(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    if (!x) return -1;
    if (n->nin > 1) {
        int64_t d;
        int a;
        if (lower_int_in(cx, n, 1, &d) || lower_axis(cx, d, x->type.rank, &a)) return -1;
        return lower_out(cx, n, 0, lower_dim_lv(cx, x, a));
    }
    lv *l = lv_new(cx, LV_LIST);
    if (!l) return -1;
    l->n = x->type.rank;
    l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(l->n ? l->n : 1));
    if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int i = 0; i < l->n; i++)
        if (!(l->items[i] = lower_dim_lv(cx, x, i))) return -1;
    return lower_out(cx, n, 0, l);
}

int lower_dim(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    return x ? lower_out(cx, n, 0, lv_int(cx, x->type.rank)) : -1;
}

int lower_numel(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    if (!x) return -1;
    int64_t k = ir_type_numel(&x->type);
    if (k < 0) return lower_fail(cx, "numel() of a tensor with symbolic dims");
    return lower_out(cx, n, 0, lv_int(cx, k));
}

ir_value *lb_reshape_lv(lower_ctx *cx, ir_value *x, lv *shape) {
    if (LB_SKIP(cx, x, shape)) return NULL;
    ir_value *s = lb_shape_tensor(cx, shape);
    ir_op *op = lb_op(cx, IR_OP_RESHAPE, NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "shape", s)) return NULL;
    ir_value *r = lb_finish(cx, op);
    /* entries known at conversion time are known dims of the result (the rest stay symbolic) */
    if (r && (shape->kind == LV_LIST || shape->kind == LV_TUPLE) && shape->n == r->type.rank)
        for (int i = 0; i < shape->n; i++) {
            const lv *d = shape->items[i];
            if ((d->kind == LV_INT || d->kind == LV_BOOL) && !d->dyn && d->i >= 0) r->type.dims[i] = d->i;
        }
    return r;
}

int lower_reshape_op(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    if (x && n->nin > 1 && n->in[1]->ty == TS_TY_INT) { /* view(self, dtype): a bit reinterpretation */
        int64_t code;
        ir_dtype dt;
        if (lower_int_in(cx, n, 1, &code) || lower_scalar_type(cx, code, &dt)) return -1;
        if (dt != x->type.dtype) return lower_fail(cx, "view as another dtype (reinterpreting the bits) is not supported");
        return lower_out_tensor(cx, n, 0, x);
    }
    lv *s = lower_in(cx, n, 1);
    if (!s) return -1;
    int64_t v[IR_MAX_RANK];
    int cnt;
    if (!lv_ints(cx, s, v, IR_MAX_RANK, &cnt)) {
        /* a no-op reshape stays a value, not an op */
        if (cnt == x->type.rank && ir_type_is_static(&x->type)) {
            int same = 1;
            for (int i = 0; i < cnt; i++) same &= v[i] == x->type.dims[i];
            if (same) return lower_out_tensor(cx, n, 0, x);
        }
        return lower_out_tensor(cx, n, 0, lb_reshape(cx, x, cnt, v, NULL));
    }
    return lower_out_tensor(cx, n, 0, lb_reshape_lv(cx, x, s));
}

/* flatten(self, start_dim=0, end_dim=-1) */
int lower_flatten(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    int64_t s0 = 0, e0 = -1;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &s0)) || (n->nin > 2 && lower_int_in(cx, n, 2, &e0))) return -1;
    int r = x->type.rank, s, e;
    if (r == 0) return lower_out_tensor(cx, n, 0, lb_reshape(cx, x, 1, (int64_t[]){1}, NULL));
    if (lower_axis(cx, s0, r, &s) || lower_axis(cx, e0, r, &e)) return -1;
    if (s > e) return lower_fail(cx, "start_dim after end_dim");
    if (s == e) return lower_out_tensor(cx, n, 0, x);
    lv *shape = lv_new(cx, LV_LIST);
    if (!shape) return -1;
    shape->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)r);
    if (!shape->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    int64_t prod = 1;
    int dyn = 0;
    for (int i = s; i <= e; i++) {
        if (x->type.dims[i] < 0) dyn = 1;
        else prod *= x->type.dims[i];
    }
    for (int i = 0; i < r; i++) {
        if (i > s && i <= e) continue;
        lv *d = i == s ? lv_int(cx, dyn ? -1 : prod) : lower_dim_lv(cx, x, i);
        if (!d) return -1;
        shape->items[shape->n++] = d;
    }
    return lower_out_tensor(cx, n, 0, lb_reshape_lv(cx, x, shape));
}

static ir_value *transpose(lower_ctx *cx, ir_value *x, int r, const int64_t *perm) {
    int id = 1;
    for (int i = 0; i < r; i++) id &= perm[i] == i;
    if (id) return x;
    ir_op *op = lb_op(cx, IR_OP_TRANSPOSE, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "perm", r, perm)) return NULL;
    return lb_finish(cx, op);
}

int lower_permute(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    int64_t raw[IR_MAX_RANK], perm[IR_MAX_RANK];
    int cnt;
    if (!x || lower_ints_in(cx, n, 1, raw, IR_MAX_RANK, &cnt)) return -1;
    if (cnt != x->type.rank) return lower_fail(cx, "permutation of %d dims for a rank-%d tensor", cnt, x->type.rank);
    for (int i = 0; i < cnt; i++) {
        int a;
        if (lower_axis(cx, raw[i], cnt, &a)) return -1;
        perm[i] = a;
    }
    return lower_out_tensor(cx, n, 0, transpose(cx, x, cnt, perm));
}

/* transpose(self, dim0, dim1) and t(self) */
int lower_transpose_op(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    if (!x) return -1;
    int r = x->type.rank, a = 0, b = 1;
    if (cx->row->sub == 1) { /* t, t_copy */
        if (r < 2) return lower_out_tensor(cx, n, 0, x);
    } else {
        int64_t d0, d1;
        if (lower_int_in(cx, n, 1, &d0) || lower_int_in(cx, n, 2, &d1) || lower_axis(cx, d0, r, &a) ||
            lower_axis(cx, d1, r, &b))
            return -1;
    }
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < r; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return lower_out_tensor(cx, n, 0, transpose(cx, x, r, perm));
}

/* cat / concat (tensors, dim) and stack (tensors, dim) */
int lower_cat(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    int64_t dim = 0;
    if (!l || (n->nin > 1 && lower_int_in(cx, n, 1, &dim))) return -1;
    if (l->kind == LV_LIST && l->dyn) return lower_out_tensor(cx, n, 0, lb_list_cat(cx, l, dim, cx->row->sub == 1));
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->n == 0) return lower_fail(cx, "expected a non-empty list of tensors");
    int stack = cx->row->sub == 1;
    ir_value **vs = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)l->n);
    if (!vs) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    ir_dtype dt = IR_DT_INVALID;
    for (int i = 0; i < l->n; i++) {
        if (!(vs[i] = lb_as_tensor(cx, l->items[i], IR_DT_INVALID))) return -1;
        ir_dtype t = vs[i]->type.dtype;
        if (dt == IR_DT_INVALID || (ir_dtype_is_float(t) && !ir_dtype_is_float(dt))) dt = t;
    }
    int nv = l->n;
    if (!stack) { /* torch's legacy rule: 1-D tensors of size 0 are skipped whatever the others' rank */
        int k = 0;
        for (int i = 0; i < nv; i++)
            if (!(vs[i]->type.rank == 1 && vs[i]->type.dims[0] == 0)) vs[k++] = vs[i];
        if (k == 0) return lower_out_tensor(cx, n, 0, dt == vs[0]->type.dtype ? vs[0] : lb_cast(cx, vs[0], dt, "cast"));
        nv = k;
    }
    for (int i = 0; i < nv; i++)
        if (vs[i]->type.dtype != dt && !(vs[i] = lb_cast(cx, vs[i], dt, "cast"))) return -1;
    int r = vs[0]->type.rank, axis;
    if (lower_axis(cx, dim, stack ? r + 1 : r, &axis)) return -1;
    if (nv == 1 && !stack) return lower_out_tensor(cx, n, 0, vs[0]);
    ir_op *op = lb_op(cx, stack ? IR_OP_STACK : IR_OP_CONCAT, NULL);
    if (!op || ir_op_set_inputs(op, "values", nv, vs) || lb_param_i32(cx, op, "axis", axis)) return -1;
    if (!stack && lb_param_bool(cx, op, "interleave", 0)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

int lower_unsqueeze(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    int64_t d;
    int a;
    if (!x || lower_int_in(cx, n, 1, &d) || lower_axis(cx, d, x->type.rank + 1, &a)) return -1;
    int64_t ax = a;
    ir_op *op = lb_op(cx, IR_OP_EXPAND_DIMS, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", 1, &ax)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

/* squeeze(self), squeeze(self, dim), squeeze(self, dims): only dims known to be 1 go
 * (torch leaves other dims alone). */
int lower_squeeze(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    if (!x) return -1;
    int r = x->type.rank, cnt = 0, nax = 0;
    int64_t raw[IR_MAX_RANK], axes[IR_MAX_RANK];
    if (n->nin > 1) {
        if (lower_ints_in(cx, n, 1, raw, IR_MAX_RANK, &cnt)) return -1;
        for (int i = 0; i < cnt; i++) {
            int a;
            if (lower_axis(cx, raw[i], r, &a)) return -1;
            if (r > 0 && x->type.dims[a] == 1) axes[nax++] = a;
            else if (r > 0 && x->type.dims[a] < 0) return lower_fail(cx, "squeeze of a symbolic dim");
        }
    } else {
        for (int i = 0; i < r; i++)
            if (x->type.dims[i] == 1) axes[nax++] = i;
    }
    if (nax == 0) return lower_out_tensor(cx, n, 0, x);
    if (nax == r) return lower_out_tensor(cx, n, 0, lb_reshape(cx, x, 0, NULL, NULL));
    ir_op *op = lb_op(cx, IR_OP_SQUEEZE, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", nax, axes)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

ir_value *lb_slice_dyn(lower_ctx *cx, ir_value *x, int axis, lv *b, lv *e, int64_t step) {
    if (LB_SKIP(cx, x, b)) return NULL;
    int r = x->type.rank;
    lv *bl = lv_new(cx, LV_LIST), *el = lv_new(cx, LV_LIST);
    if (!bl || !el || !(bl->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)r)) ||
        !(el->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)r)))
        return NULL;
    int64_t stride[IR_MAX_RANK];
    int bm[IR_MAX_RANK], em[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        stride[i] = i == axis ? step : 1;
        bm[i] = i != axis;
        em[i] = i != axis || !e;
        bl->items[i] = i == axis ? b : lv_int(cx, 0);
        el->items[i] = i == axis && e ? e : lv_int(cx, 0);
        if (!bl->items[i] || !el->items[i]) return NULL;
    }
    bl->n = el->n = r;
    ir_value *bv = lb_shape_tensor(cx, bl), *ev = lb_shape_tensor(cx, el);
    ir_op *op = lb_op(cx, IR_OP_SLICE_BY_INDEX, NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "begin", bv) || ir_op_set_input(op, "end", ev) ||
        lb_param_i32v(cx, op, "stride", r, stride) || lb_param_boolv(cx, op, "begin_mask", r, bm) ||
        lb_param_boolv(cx, op, "end_mask", r, em))
        return NULL;
    return lb_finish(cx, op);
}

/* slice(self, dim=0, start=None, end=None, step=1) */
/* aten::slice.t(l, start=None, end=None, step=1): a Python slice of a list known at conversion time. */
static int slice_list(lower_ctx *cx, const ts_node *n, lv *src) {
    int64_t b = 0, e = src->n, st = 1, len = src->n;
    if (n->nin > 3 && lower_int_in(cx, n, 3, &st)) return -1;
    if (st < 1) return lower_fail(cx, "list slice step must be positive");
    if (n->nin > 1 && !lower_is_none(cx, n, 1) && lower_int_in(cx, n, 1, &b)) return -1;
    if (n->nin > 2 && !lower_is_none(cx, n, 2) && lower_int_in(cx, n, 2, &e)) return -1;
    if (b < 0) b += len;
    if (e < 0) e += len;
    b = PC_MAX(0, PC_MIN(b, len));
    e = PC_MAX(b, PC_MIN(e, len));
    lv *l = lv_new(cx, src->kind);
    if (!l || !(l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(len ? len : 1))))
        return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t i = b; i < e; i += st) l->items[l->n++] = src->items[i];
    return lower_out(cx, n, 0, l);
}

/* A slice bound v (an int lv; NULL: `dflt`) as Python reads it for a dim of run-time size len: counted from
 * the end when negative, clamped to [0, len]. A rank-0 int32 value. */
static ir_value *bound_dyn(lower_ctx *cx, lv *v, ir_value *len, ir_value *dflt) {
    if (!v || v->kind == LV_NONE) return dflt;
    if (!v->dyn && v->i >= INT32_MAX) return len; /* "to the end" as tracing writes it */
    if (!v->dyn && v->i <= INT32_MIN) return lb_const_scalar(cx, 0, IR_INT32, "zero");
    ir_value *b = lb_scalar(cx, v, IR_INT32);
    ir_value *neg = lb_cast(cx, lb_scalar_op(cx, IR_OP_LESS, b, 0), IR_INT32, "neg");
    ir_value *w = lb_binary(cx, IR_OP_ADD, b, lb_binary(cx, IR_OP_MUL, neg, len, "wrap"), "bound");
    w = lb_scalar_op(cx, IR_OP_MAXIMUM, w, 0);
    return lb_binary(cx, IR_OP_MINIMUM, w, len, "clamped");
}

/* x[b:e:step] along axis a with a step known only at run time (MIL's slice_by_index takes its stride as a
 * constant): a gather at range_1d(b, e, step), the bounds read as Python does. */
static ir_value *slice_step_dyn(lower_ctx *cx, ir_value *x, int a, lv *b, lv *e, lv *step) {
    lv *size = lower_dim_lv(cx, x, a);
    ir_value *len = lb_scalar(cx, size, IR_INT32);
    ir_value *zero = lb_const_scalar(cx, 0, IR_INT32, "zero");
    ir_value *bv = bound_dyn(cx, b, len, zero), *ev = bound_dyn(cx, e, len, len);
    ir_value *sv = lb_scalar(cx, step, IR_INT32);
    ir_op *op = lb_op(cx, IR_OP_RANGE_1D, "positions");
    if (!op || ir_op_set_input(op, "end", ev) || ir_op_set_input(op, "start", bv) || ir_op_set_input(op, "step", sv))
        return NULL;
    ir_value *idx = lb_finish(cx, op);
    return lb_gather(cx, x, idx, a);
}

int lower_slice(lower_ctx *cx, const ts_node *n) {
    lv *src = n->nin > 0 ? lower_in(cx, n, 0) : NULL;
    if (src && (src->kind == LV_LIST || src->kind == LV_TUPLE) && !src->dyn) return slice_list(cx, n, src);
    ir_value *x = tensor_in(cx, n);
    int64_t dim = 0, start = 0, end = INT64_MAX, step = 1;
    int a;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &dim))) return -1;
    lv *ls = n->nin > 2 ? lower_in(cx, n, 2) : NULL, *le = n->nin > 3 ? lower_in(cx, n, 3) : NULL;
    lv *lst = n->nin > 4 ? lower_in(cx, n, 4) : NULL;
    if (lst && lst->kind == LV_INT && lst->dyn) { /* a step known at run time */
        if (lower_axis(cx, dim, x->type.rank, &a)) return -1;
        return lower_out_tensor(cx, n, 0, slice_step_dyn(cx, x, a, ls, le, lst));
    }
    if ((ls && ls->dyn) || (le && le->dyn)) { /* bounds known at run time */
        if (n->nin > 4 && lower_int_in(cx, n, 4, &step)) return -1;
        if (step < 1) return lower_fail(cx, "slice step must be positive");
        if (lower_axis(cx, dim, x->type.rank, &a)) return -1;
        lv *b = !ls || ls->kind == LV_NONE ? lv_int(cx, 0) : ls;
        lv *e = !le || le->kind == LV_NONE || (!le->dyn && le->i >= INT32_MAX) ? NULL : le;
        if (!b) return -1;
        return lower_out_tensor(cx, n, 0, lb_slice_dyn(cx, x, a, b, e, step));
    }
    if (n->nin > 2 && !lower_is_none(cx, n, 2) && lower_int_in(cx, n, 2, &start)) return -1;
    if (n->nin > 3 && !lower_is_none(cx, n, 3) && lower_int_in(cx, n, 3, &end)) return -1;
    if (n->nin > 4 && lower_int_in(cx, n, 4, &step)) return -1;
    if (lower_axis(cx, dim, x->type.rank, &a)) return -1;
    if (step < 1) return lower_fail(cx, "slice step must be positive");
    int64_t size = x->type.dims[a];
    if (size >= 0) { /* normalize and clamp like Python */
        if (start < 0) start += size;
        if (end < 0) end += size;
        start = PC_MAX(0, PC_MIN(start, size));
        end = PC_MAX(start, PC_MIN(end, size));
        if (lower_view_note(cx, n->out[0], n->in[0], a, start, end, step, 0)) return -1;
        if (start == 0 && end == size && step == 1) return lower_out_tensor(cx, n, 0, x);
        return lower_out_tensor(cx, n, 0, lb_slice(cx, x, a, start, end, 0, step, 0));
    }
    int open = end >= INT32_MAX;
    if (start < INT32_MIN || start > INT32_MAX || (!open && end < INT32_MIN)) return lower_fail(cx, "slice bound out of range");
    return lower_out_tensor(cx, n, 0, lb_slice(cx, x, a, start, open ? 0 : end, open, step, 0));
}

/* select(self, dim, index) */
int lower_select(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    int64_t dim, idx;
    int a;
    if (!x || lower_int_in(cx, n, 1, &dim) || lower_axis(cx, dim, x->type.rank, &a)) return -1;
    lv *li = lower_in(cx, n, 2);
    if (!li) return -1;
    if (li->dyn) { /* index known at run time: gather (a negative index counts from the end) */
        ir_value *i = lb_as_tensor(cx, li, IR_INT32);
        lv *len = lower_dim_lv(cx, x, a);
        ir_value *lt = lb_as_tensor(cx, len, IR_INT32);
        ir_value *zero = lb_const_scalar(cx, 0, IR_INT32, "zero");
        ir_value *neg = lb_binary(cx, IR_OP_LESS, i, zero, "neg");
        ir_value *wrapped = lb_binary(cx, IR_OP_ADD, i, lt, "wrapped");
        ir_op *sel = lb_op(cx, IR_OP_SELECT, "index");
        if (!sel || ir_op_set_input(sel, "cond", neg) || ir_op_set_input(sel, "a", wrapped) || ir_op_set_input(sel, "b", i))
            return -1;
        ir_value *ix = lb_finish(cx, sel);
        ir_op *op = lb_op(cx, IR_OP_GATHER, NULL);
        if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "indices", ix) || lb_param_i32(cx, op, "axis", a))
            return -1;
        return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
    }
    if (lower_int_in(cx, n, 2, &idx)) return -1;
    int64_t size = x->type.dims[a];
    if (size >= 0) {
        if (idx < -size || idx >= size) return lower_fail(cx, "index %lld out of range for size %lld", (long long)idx, (long long)size);
        if (idx < 0) idx += size;
        if (lower_view_note(cx, n->out[0], n->in[0], a, idx, idx + 1, 1, 1)) return -1;
    }
    return lower_out_tensor(cx, n, 0, lb_slice(cx, x, a, idx, idx + 1, idx == -1, 1, 1));
}

static int split_pieces(lower_ctx *cx, const ts_node *n, ir_value *x, int a, int cnt, const int64_t *sizes);

/* tensor_split(self, sections | indices | tensor_indices_or_sections, dim=0): `sections` pieces (the first
 * size % sections one longer), or the pieces between the given indices (clipped to the dim; may be empty). */
int lower_tensor_split(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    int64_t dim = 0, sizes[256], idx[255];
    int cnt = 0, a, ni = 0;
    if (!x || (n->nin > 2 && lower_int_in(cx, n, 2, &dim)) || lower_axis(cx, dim, x->type.rank, &a)) return -1;
    int64_t size = x->type.dims[a];
    if (size < 0) return lower_fail(cx, "splitting a symbolic dim");
    lv *arg = lower_in(cx, n, 1);
    if (!arg) return -1;
    if (arg->kind == LV_INT && !arg->dyn) {
        int64_t k = arg->i;
        if (k <= 0 || k > (int64_t)PC_ARRAY_LEN(sizes)) return lower_fail(cx, "sections must be in 1..%d, got %lld", (int)PC_ARRAY_LEN(sizes), (long long)k);
        for (int64_t i = 0; i < k; i++) sizes[cnt++] = size / k + (i < size % k);
        return split_pieces(cx, n, x, a, cnt, sizes);
    }
    if (arg->kind == LV_TENSOR && arg->v->konst && arg->v->type.rank <= 1) { /* a constant tensor of sections / indices */
        int64_t m = ir_type_numel(&arg->v->type);
        if (arg->v->type.rank == 0) {
            int64_t k = (int64_t)ir_const_get_f64(arg->v->konst, 0);
            if (k <= 0 || k > (int64_t)PC_ARRAY_LEN(sizes)) return lower_fail(cx, "sections must be in 1..%d", (int)PC_ARRAY_LEN(sizes));
            for (int64_t i = 0; i < k; i++) sizes[cnt++] = size / k + (i < size % k);
            return split_pieces(cx, n, x, a, cnt, sizes);
        }
        if (m > (int64_t)PC_ARRAY_LEN(idx)) return lower_fail(cx, "more than %d indices", (int)PC_ARRAY_LEN(idx));
        for (int64_t i = 0; i < m; i++) idx[ni++] = (int64_t)ir_const_get_f64(arg->v->konst, i);
    } else if (lower_ints_in(cx, n, 1, idx, PC_ARRAY_LEN(idx), &ni)) {
        return -1;
    }
    int64_t prev = 0;
    for (int i = 0; i <= ni; i++) { /* x[idx[i-1]:idx[i]], indices wrapped and clipped as slicing does */
        int64_t end = i < ni ? idx[i] : size;
        if (end < 0) end = PC_MAX(end + size, 0);
        end = PC_MIN(end, size);
        if (end < prev) return lower_fail(cx, "decreasing indices (%lld after %lld): overlapping pieces", (long long)end, (long long)prev);
        sizes[cnt++] = end - prev;
        prev = end;
    }
    return split_pieces(cx, n, x, a, cnt, sizes);
}

/* chunk(self, chunks, dim=0), split(self, split_size | sizes, dim=0), split_with_sizes(self, sizes, dim=0):
 * a list of tensors (static sizes). */
int lower_split(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tensor_in(cx, n);
    int64_t dim = 0, sizes[256];
    int cnt = 0, a;
    if (!x || (n->nin > 2 && lower_int_in(cx, n, 2, &dim)) || lower_axis(cx, dim, x->type.rank, &a)) return -1;
    int64_t size = x->type.dims[a];
    if (size < 0) return lower_fail(cx, "splitting a symbolic dim");
    lv *arg = lower_in(cx, n, 1);
    if (!arg) return -1;
    int is_chunk = cx->row->sub == 1;
    if (arg->kind == LV_INT && !arg->dyn) {
        int64_t k = arg->i;
        if (k <= 0) return lower_fail(cx, "chunk / split size must be positive");
        int64_t piece = is_chunk ? (size + k - 1) / k : k;
        if (piece == 0) piece = 1;
        for (int64_t off = 0; off < size; off += piece) {
            if (cnt == PC_ARRAY_LEN(sizes)) return lower_fail(cx, "more than %d pieces", PC_ARRAY_LEN(sizes));
            sizes[cnt++] = PC_MIN(piece, size - off);
        }
        if (size == 0) sizes[cnt++] = 0;
    } else if (lower_ints_in(cx, n, 1, sizes, PC_ARRAY_LEN(sizes), &cnt)) {
        return -1;
    }
    int64_t total = 0;
    for (int i = 0; i < cnt; i++) total += sizes[i];
    if (total != size) return lower_fail(cx, "split sizes sum to %lld, not %lld", (long long)total, (long long)size);
    return split_pieces(cx, n, x, a, cnt, sizes);
}

/* Output 0 of n: the list of x's pieces of the given sizes along axis a (sizes sum to the dim). A piece
 * of size 0 (tensor_split) is an empty slice; otherwise one MIL split. */
static int split_pieces(lower_ctx *cx, const ts_node *n, ir_value *x, int a, int cnt, const int64_t *sizes) {
    lv *l = lv_new(cx, LV_LIST);
    if (!l) return -1;
    l->n = cnt;
    l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(cnt ? cnt : 1));
    if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    if (cnt == 1) {
        l->items[0] = lv_tensor(cx, x);
        return lower_out(cx, n, 0, l);
    }
    int any_empty = 0;
    for (int i = 0; i < cnt; i++) any_empty |= sizes[i] == 0;
    if (any_empty) {
        int64_t off = 0;
        for (int i = 0; i < cnt; off += sizes[i], i++)
            if (!(l->items[i] = lv_tensor(cx, lb_slice(cx, x, a, off, off + sizes[i], 0, 1, 0)))) return -1;
        return lower_out(cx, n, 0, l);
    }
    ir_op *op = lb_op(cx, IR_OP_SPLIT, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "split_sizes", cnt, sizes) ||
        lb_param_i32(cx, op, "axis", a) || !lb_finish(cx, op))
        return -1;
    if (op->nout != cnt) return lower_fail(cx, "internal: split made %d outputs for %d pieces", op->nout, cnt);
    for (int i = 0; i < cnt; i++)
        if (!(l->items[i] = lv_tensor(cx, op->out[i]))) return -1;
    return lower_out(cx, n, 0, l);
}
