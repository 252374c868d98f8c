/* scatter.c: writes at indices: scatter / scatter_add / scatter_reduce (scatter_along_axis, or
 * scatter_nd with full coordinates when the index is smaller than self off the dim), index_add and
 * index_fill (scatter of whole slices), select_scatter / slice_scatter (static slices rebuilt by
 * concat or a constant gather), masked_scatter (the k-th true position takes source element k:
 * cumsum of the mask, gather, select). MIL scatters take fp16 / fp32 / int32 data: bools go
 * through int32. */
#include "lower/build.h"

#include <math.h>
#include <string.h>

/* x in a dtype MIL's scatters and gathers take; *back: the dtype to return in. */
static ir_value *scatterable(lower_ctx *cx, ir_value *x, ir_dtype *back) {
    if (!x) return NULL;
    *back = x->type.dtype;
    if (x->type.dtype == IR_INT32 || x->type.dtype == IR_FP32 || x->type.dtype == IR_FP16) return x;
    return lb_cast(cx, x, ir_dtype_is_float(x->type.dtype) ? IR_FP32 : IR_INT32, "data");
}

static ir_value *restore(lower_ctx *cx, ir_value *v, ir_dtype back) {
    if (!v || v->type.dtype == back) return v;
    return lb_cast(cx, v, back, "restored");
}

static ir_value *to_dtype(lower_ctx *cx, ir_value *v, ir_dtype dt, const char *suffix) {
    if (!v || v->type.dtype == dt) return v;
    return lb_cast(cx, v, dt, suffix);
}

/* A constant of the given static shape, every element v. */
static ir_value *const_full(lower_ctx *cx, ir_dtype dt, int rank, const int64_t *dims, double v, const char *suffix) {
    ir_type t = ir_tensor_type(dt, rank, dims);
    int64_t cnt = ir_type_numel(&t);
    float *d = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(cnt ? cnt : 1));
    if (!d) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < cnt; i++) d[i] = (float)v;
    return lb_const(cx, dt, rank, dims, d, suffix);
}

/* A number (or a one-element tensor, possibly known only at run time) filling a static shape. */
static ir_value *fill_value(lower_ctx *cx, lv *val, ir_dtype dt, int rank, const int64_t *dims) {
    if (val->kind == LV_INT || val->kind == LV_FLOAT || val->kind == LV_BOOL) {
        if (!val->dyn) return const_full(cx, dt, rank, dims, val->kind == LV_FLOAT ? val->f : (double)val->i, "value");
    } else if (val->kind != LV_TENSOR) {
        lower_fail(cx, "the value must be a number or a tensor, got %s", lv_kind_name(val->kind));
        return NULL;
    }
    ir_value *v = to_dtype(cx, lb_as_tensor(cx, val, dt), dt, "value");
    if (!v) return NULL;
    if (ir_type_numel(&v->type) != 1) {
        lower_fail(cx, "the value must have one element");
        return NULL;
    }
    int64_t ones[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) ones[i] = 1;
    v = lb_reshape(cx, v, rank, ones, "value_b");
    return rank ? lb_tile(cx, v, dims) : v;
}

/* The MIL scatter of data at int32 `idx` (same rank as data) along axis with `upd` (idx's shape):
 * scatter_along_axis when idx matches data off the axis, else scatter_nd with coordinates. */
static ir_value *scatter_at(lower_ctx *cx, ir_value *data, ir_value *idx, ir_value *upd, int axis, const char *mode) {
    if (!data || !idx || !upd) return NULL;
    int r = data->type.rank, full = 1;
    for (int i = 0; i < r; i++) full &= i == axis || idx->type.dims[i] == data->type.dims[i];
    ir_op *op;
    if (full) {
        op = lb_op(cx, IR_OP_SCATTER_ALONG_AXIS, NULL);
        if (!op || ir_op_set_input(op, "data", data) || ir_op_set_input(op, "indices", idx) ||
            ir_op_set_input(op, "updates", upd) || lb_param_i32(cx, op, "axis", axis) ||
            lb_param_str(cx, op, "mode", mode))
            return NULL;
        return lb_finish(cx, op);
    }
    /* coordinates [*S, r]: the position itself off the axis, the index on it */
    const int64_t *S = idx->type.dims;
    int64_t cnt = ir_type_numel(&idx->type);
    ir_value *cols[IR_MAX_RANK];
    for (int d = 0; d < r; d++) {
        if (d == axis) {
            cols[d] = idx;
            continue;
        }
        float *c = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(cnt ? cnt : 1));
        if (!c) {
            pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
            return NULL;
        }
        for (int64_t p = 0; p < cnt; p++) {
            int64_t rem = p, v = 0;
            for (int i = r - 1; i >= 0; i--) {
                if (i == d) v = rem % S[i];
                rem /= S[i];
            }
            c[p] = (float)v;
        }
        if (!(cols[d] = lb_const(cx, IR_INT32, r, S, c, "coord"))) return NULL;
    }
    ir_value *coords = lb_stack(cx, r, cols, r);
    op = lb_op(cx, IR_OP_SCATTER_ND, NULL);
    if (!op || ir_op_set_input(op, "data", data) || ir_op_set_input(op, "indices", coords) ||
        ir_op_set_input(op, "updates", upd) || lb_param_str(cx, op, "mode", mode))
        return NULL;
    return lb_finish(cx, op);
}

/* src cut down to the index's shape (torch reads only that corner of src), in dtype dt. */
static ir_value *src_for(lower_ctx *cx, ir_value *src, const ir_value *idx, ir_dtype dt) {
    if (!src || lb_static(cx, src, "scatter source")) return NULL;
    if (src->type.rank != idx->type.rank) {
        lower_fail(cx, "source of rank %d for an index of rank %d", src->type.rank, idx->type.rank);
        return NULL;
    }
    for (int i = 0; i < src->type.rank; i++) {
        int64_t want = idx->type.dims[i];
        if (src->type.dims[i] < want) {
            lower_fail(cx, "source dim %d (%lld) is smaller than the index's (%lld)", i, (long long)src->type.dims[i],
                       (long long)want);
            return NULL;
        }
        if (src->type.dims[i] > want && !(src = lb_slice(cx, src, i, 0, want, 0, 1, 0))) return NULL;
    }
    return to_dtype(cx, src, dt, "src");
}

/* scatter(self, dim, index, src | value[, reduce]), scatter_add(self, dim, index, src),
 * scatter_reduce(self, dim, index, src, reduce, include_self=True). */
int lower_scatter(lower_ctx *cx, const ts_node *n) {
    int is_add = cx->row->sub == SCATTER_ADD, is_red = cx->row->sub == SCATTER_REDUCE;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t dim;
    int axis, incl = 1;
    if (!x || lower_int_in(cx, n, 1, &dim)) return -1;
    ir_value *idx = lower_tensor_in(cx, n, 2, IR_DT_INVALID);
    lv *val = lower_in(cx, n, 3);
    if (!val) return -1;
    if (x->type.rank == 0) return lower_fail(cx, "scatter into a 0-d tensor");
    if (lower_axis(cx, dim, x->type.rank, &axis) || lb_static(cx, x, "scatter target") || lb_static(cx, idx, "scatter index"))
        return -1;
    if (ir_dtype_is_float(idx->type.dtype) || idx->type.dtype == IR_BOOL) return lower_fail(cx, "the index must be integers");
    if (idx->type.rank != x->type.rank)
        return lower_fail(cx, "index of rank %d for a rank-%d tensor", idx->type.rank, x->type.rank);
    for (int i = 0; i < x->type.rank; i++)
        if (i != axis && idx->type.dims[i] > x->type.dims[i])
            return lower_fail(cx, "index dim %d (%lld) is larger than self's (%lld)", i, (long long)idx->type.dims[i],
                              (long long)x->type.dims[i]);
    if (!(idx = to_dtype(cx, idx, IR_INT32, "index"))) return -1;
    /* the mode */
    const char *mode = is_add ? "add" : "update", *red = NULL;
    if (is_red || (!is_add && n->nin > 4 && !lower_is_none(cx, n, 4))) {
        lv *r = lower_in(cx, n, 4);
        if (!r) return -1;
        if (r->kind != LV_STR || !r->s) return lower_fail(cx, "reduce must be a string");
        red = r->s;
        if (is_red && n->nin > 5 && lower_bool_in(cx, n, 5, &incl)) return -1;
        static const char *const tn[][2] = {{"add", "add"}, {"multiply", "mul"}, {"sum", "add"}, {"prod", "mul"},
                                            {"amax", "max"}, {"amin", "min"}, {"mean", "add"}};
        int found = -1, lo = is_red ? 2 : 0, hi = is_red ? 7 : 2;
        for (int i = lo; i < hi; i++)
            if (strcmp(red, tn[i][0]) == 0) found = i;
        if (found < 0)
            return lower_fail(cx, "reduce='%s' is not supported (%s)", red,
                              is_red ? "sum, prod, amax, amin or mean" : "add or multiply");
        mode = tn[found][1];
    }
    ir_dtype back;
    ir_value *data = scatterable(cx, x, &back);
    if (!data) return -1;
    ir_dtype dt = data->type.dtype;
    int r = x->type.rank;
    ir_value *upd = val->kind == LV_TENSOR && !val->dyn ? src_for(cx, val->v, idx, dt)
                                                         : fill_value(cx, val, dt, r, idx->type.dims);
    if (!upd) return -1;
    int is_mean = red && strcmp(red, "mean") == 0;
    if (is_mean && !ir_dtype_is_float(dt)) return lower_fail(cx, "reduce='mean' on an integer tensor");
    ir_value *base = data, *touched = NULL;
    if (!incl) { /* positions any index hits start from the reduction's identity instead of self */
        ir_value *z = const_full(cx, IR_INT32, r, x->type.dims, 0, "zeros");
        ir_value *o = const_full(cx, IR_INT32, r, idx->type.dims, 1, "ones");
        ir_value *hit = scatter_at(cx, z, idx, o, axis, "update");
        touched = lb_cast(cx, hit, IR_BOOL, "touched");
        double ident = strcmp(mode, "mul") == 0 ? 1 : strcmp(mode, "max") == 0 ? -INFINITY
                                                  : strcmp(mode, "min") == 0 ? INFINITY : 0;
        if (!ir_dtype_is_float(dt) && isinf(ident)) ident = ident < 0 ? -2147483648.0 : 2147483647.0;
        ir_value *id = lb_const_scalar(cx, ident, dt, "identity");
        ir_op *op = lb_op(cx, IR_OP_SELECT, "base");
        if (!op || ir_op_set_input(op, "cond", touched) || ir_op_set_input(op, "a", id) || ir_op_set_input(op, "b", data))
            return -1;
        if (!(base = lb_finish(cx, op))) return -1;
    }
    ir_value *out = scatter_at(cx, base, idx, upd, axis, mode);
    if (out && is_mean) { /* sum / number of terms (self counts once when included) */
        ir_value *c0 = const_full(cx, dt, r, x->type.dims, incl ? 1 : 0, "count0");
        ir_value *ones = const_full(cx, dt, r, idx->type.dims, 1, "ones");
        ir_value *cnt = scatter_at(cx, c0, idx, ones, axis, "add");
        ir_value *safe = lb_scalar_op(cx, IR_OP_MAXIMUM, cnt, 1);
        out = lb_binary(cx, IR_OP_REAL_DIV, out, safe, "mean");
    }
    return lower_out_tensor(cx, n, 0, restore(cx, out, back));
}

/* An int32 index vector (a 0-d index becomes [1]). */
static ir_value *index_vec(lower_ctx *cx, ir_value *idx) {
    if (!idx) return NULL;
    if (ir_dtype_is_float(idx->type.dtype) || idx->type.dtype == IR_BOOL) {
        lower_fail(cx, "the index must be integers");
        return NULL;
    }
    if (idx->type.rank > 1) {
        lower_fail(cx, "the index must be 0-d or 1-D, got rank %d", idx->type.rank);
        return NULL;
    }
    if (!(idx = to_dtype(cx, idx, IR_INT32, "index"))) return NULL;
    return idx->type.rank == 0 ? lb_reshape(cx, idx, 1, (int64_t[]){1}, "index1") : idx;
}

/* MIL scatter: whole slices of data along axis replaced / combined at the indices. */
static ir_value *scatter_slices(lower_ctx *cx, ir_value *data, ir_value *idx, ir_value *upd, int axis, const char *mode) {
    ir_op *op = lb_op(cx, IR_OP_SCATTER, NULL);
    if (!op || ir_op_set_input(op, "data", data) || ir_op_set_input(op, "indices", idx) ||
        ir_op_set_input(op, "updates", upd) || lb_param_i32(cx, op, "axis", axis) || lb_param_str(cx, op, "mode", mode))
        return NULL;
    return lb_finish(cx, op);
}

/* index_add(self, dim, index, source, alpha=1) and index_fill(self, dim, index, value). */
int lower_index_add_fill(lower_ctx *cx, const ts_node *n) {
    int fill = cx->row->sub == 1;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t dim;
    int axis;
    if (!x || lower_int_in(cx, n, 1, &dim)) return -1;
    if (x->type.rank == 0) return lower_fail(cx, "%s into a 0-d tensor", fill ? "index_fill" : "index_add");
    if (lower_axis(cx, dim, x->type.rank, &axis) || lb_static(cx, x, "target")) return -1;
    ir_value *idx = index_vec(cx, lower_tensor_in(cx, n, 2, IR_DT_INVALID));
    lv *val = lower_in(cx, n, 3);
    if (!val || lb_static(cx, idx, "index")) return -1;
    ir_dtype back;
    ir_value *data = scatterable(cx, x, &back);
    if (!data) return -1;
    ir_dtype dt = data->type.dtype;
    int64_t ushape[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++) ushape[i] = i == axis ? idx->type.dims[0] : x->type.dims[i];
    ir_value *upd;
    if (fill) {
        upd = fill_value(cx, val, dt, x->type.rank, ushape);
    } else {
        if (val->kind != LV_TENSOR) return lower_fail(cx, "source must be a tensor");
        upd = val->v;
        if (upd->type.rank == 0 && x->type.rank == 1) upd = lb_reshape(cx, upd, 1, ushape, "source1");
        if (!upd) return -1;
        int same = upd->type.rank == x->type.rank;
        for (int i = 0; same && i < x->type.rank; i++) same = upd->type.dims[i] == ushape[i];
        if (!same) return lower_fail(cx, "source shape does not match self with dim %d of the index's length", axis);
        double alpha = 1;
        if (n->nin > 4 && !lower_is_none(cx, n, 4) && lower_float_in(cx, n, 4, &alpha)) return -1;
        upd = to_dtype(cx, upd, dt, "source");
        if (upd && alpha != 1) upd = lb_scalar_op(cx, IR_OP_MUL, upd, alpha);
    }
    return lower_out_tensor(cx, n, 0, restore(cx, scatter_slices(cx, data, idx, upd, axis, fill ? "update" : "add"), back));
}

/* select_scatter(self, src, dim, index), slice_scatter(self, src, dim=0, start=None, end=None, step=1). */
int lower_slice_scatter(lower_ctx *cx, const ts_node *n) {
    int sel = cx->row->sub == 1;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *src = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    int64_t dim = 0, begin = 0, end = 0, step = 1;
    int axis;
    if (!src || (n->nin > 2 && lower_int_in(cx, n, 2, &dim))) return -1;
    if (x->type.rank == 0) return lower_fail(cx, "scatter into a 0-d tensor");
    if (lower_axis(cx, dim, x->type.rank, &axis) || lb_static(cx, x, "target")) return -1;
    int64_t size = x->type.dims[axis];
    if (sel) {
        if (lower_int_in(cx, n, 3, &begin)) return -1;
        if (begin < -size || begin >= size) return lower_fail(cx, "index %lld out of range for size %lld", (long long)begin, (long long)size);
        if (begin < 0) begin += size;
        end = begin + 1;
        int64_t ax = axis;
        if (src->type.rank != x->type.rank - 1 || !(src = lb_expand(cx, src, 1, &ax)))
            return src ? lower_fail(cx, "src must have rank %d", x->type.rank - 1) : -1;
    } else {
        int64_t s = 0, e = size;
        if (n->nin > 3 && !lower_is_none(cx, n, 3) && lower_int_in(cx, n, 3, &s)) return -1;
        if (n->nin > 4 && !lower_is_none(cx, n, 4) && lower_int_in(cx, n, 4, &e)) return -1;
        if (n->nin > 5 && lower_int_in(cx, n, 5, &step)) return -1;
        if (step < 1) return lower_fail(cx, "step must be positive, got %lld", (long long)step);
        if (s < 0) s += size;
        if (e < 0) e += size;
        begin = s < 0 ? 0 : s > size ? size : s;
        end = e < begin ? begin : e > size ? size : e;
    }
    int64_t cnt = end > begin ? (end - begin + step - 1) / step : 0;
    int ok = src->type.rank == x->type.rank;
    for (int i = 0; ok && i < x->type.rank; i++) ok = src->type.dims[i] == (i == axis ? cnt : x->type.dims[i]);
    if (!ok) return lower_fail(cx, "src shape does not match the slice (%lld along dim %d)", (long long)cnt, axis);
    if (cnt == 0) return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_IDENTITY, x, NULL));
    src = to_dtype(cx, src, x->type.dtype, "src");
    return lower_out_tensor(cx, n, 0, lb_assign(cx, x, src, axis, begin, end, step));
}

/* masked_scatter(self, mask, source): where mask (broadcast to self) is true, the next element
 * of source in order. */
int lower_masked_scatter(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *m = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    ir_value *src = lower_tensor_in(cx, n, 2, IR_DT_INVALID);
    if (!src || lb_static(cx, x, "target") || lb_static(cx, m, "mask") || lb_static(cx, src, "source")) return -1;
    int r = x->type.rank;
    if (m->type.rank > r) return lower_fail(cx, "mask of rank %d for a rank-%d tensor", m->type.rank, r);
    int64_t ms[IR_MAX_RANK], reps[IR_MAX_RANK];
    int tile = 0;
    for (int i = 0; i < r; i++) {
        int mi = i - (r - m->type.rank);
        ms[i] = mi >= 0 ? m->type.dims[mi] : 1;
        if (ms[i] != 1 && ms[i] != x->type.dims[i]) return lower_fail(cx, "mask does not broadcast to self");
        reps[i] = ms[i] == x->type.dims[i] ? 1 : x->type.dims[i];
        tile |= reps[i] != 1;
    }
    ir_value *mt = to_dtype(cx, m, IR_INT32, "mask_int");
    if (mt && m->type.rank != r) mt = lb_reshape(cx, mt, r, ms, "mask_r");
    if (mt && tile) mt = lb_tile(cx, mt, reps);
    int64_t all = -1;
    ir_value *mflat = lb_reshape(cx, mt, 1, &all, "mask_flat");
    ir_value *pos = lb_mask_ranks(cx, mflat);
    ir_dtype back;
    ir_value *sf = lb_reshape(cx, scatterable(cx, src, &back), 1, &all, "source_flat");
    if (!sf || !pos) return -1;
    if (ir_type_numel(&src->type) == 0) return lower_fail(cx, "empty source");
    ir_value *g = lb_gather(cx, sf, pos, 0);
    g = lb_reshape(cx, g, r, x->type.dims, "picked");
    g = to_dtype(cx, g, x->type.dtype, "picked_dt");
    ir_value *mb = lb_cast(cx, mt, IR_BOOL, "mask_b");
    ir_op *op = lb_op(cx, IR_OP_SELECT, NULL);
    if (!op || ir_op_set_input(op, "cond", mb) || ir_op_set_input(op, "a", g) || ir_op_set_input(op, "b", x)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}
