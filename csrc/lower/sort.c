/* sort.c: ordering ops: topk and kthvalue (topk), sort / argsort / msort (argsort +
 * gather_along_axis), searchsorted and bucketize (a broadcast compare summed: MIL has no binary
 * search), unique (_unique2) and unique_consecutive (sort, mark where the value changes,
 * non_zero of the marks: a run-time length; inverse and counts by cumsum and scatter; along a dim:
 * unique.c).
 * Values keep the input's dtype (bools go through int32); indices are int32. */
#include "lower/build.h"

#include <string.h>

/* x as a dtype MIL's sorting / gathering ops take (bool -> int32); *back: the dtype to return in. */
static ir_value *sortable(lower_ctx *cx, ir_value *x, ir_dtype *back) {
    if (!x) return NULL;
    *back = x->type.dtype;
    if (x->type.dtype == IR_INT32 || x->type.dtype == IR_FP32 || x->type.dtype == IR_FP16) return x;
    return lb_cast(cx, x, ir_dtype_is_float(x->type.dtype) ? IR_FP32 : IR_INT32, "sortable");
}

static ir_value *restore(lower_ctx *cx, ir_value *v, ir_dtype back) {
    if (!v || v->type.dtype == back) return v;
    return lb_cast(cx, v, back, "restored");
}

/* topk(x, k, axis, ascending): values and indices. */
static int topk_op(lower_ctx *cx, ir_value *x, int64_t k, int axis, int ascending, ir_value **vals, ir_value **idx) {
    ir_op *op = lb_op(cx, IR_OP_TOPK, "topk");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "k", (int32_t)k) ||
        lb_param_i32(cx, op, "axis", axis) || lb_param_bool(cx, op, "ascending", ascending))
        return -1;
    if (!(*vals = lb_finish(cx, op))) return -1;
    *idx = op->out[1];
    return 0;
}

/* argsort(x, axis, ascending) */
static ir_value *argsort_op(lower_ctx *cx, ir_value *x, int axis, int ascending) {
    ir_op *op = lb_op(cx, IR_OP_ARGSORT, "argsort");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "axis", axis) ||
        lb_param_bool(cx, op, "ascending", ascending))
        return NULL;
    return lb_finish(cx, op);
}

static ir_value *gather_axis(lower_ctx *cx, ir_value *x, ir_value *idx, int axis) {
    ir_op *op = lb_op(cx, IR_OP_GATHER_ALONG_AXIS, "sorted");
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "indices", idx) || lb_param_i32(cx, op, "axis", axis))
        return NULL;
    return lb_finish(cx, op);
}

/* The shared arguments of topk and kthvalue: (self, k, dim=-1, flag) with k checked
 * against the dim's size; *flag keeps its default when the argument is absent. */
static int topk_args(lower_ctx *cx, const ts_node *n, const char *what, ir_value **x, int64_t *k, int *axis, int *flag) {
    int64_t dim = -1;
    *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!*x || lower_int_in(cx, n, 1, k) || (n->nin > 2 && lower_int_in(cx, n, 2, &dim)) ||
        (n->nin > 3 && lower_bool_in(cx, n, 3, flag)))
        return -1;
    if ((*x)->type.rank == 0) return lower_fail(cx, "%s of a 0-d tensor", what);
    if (lower_axis(cx, dim, (*x)->type.rank, axis)) return -1;
    int64_t size = (*x)->type.dims[*axis];
    if (*k <= 0 || (size >= 0 && *k > size))
        return lower_fail(cx, "k = %lld is invalid for dim %d of size %lld", (long long)*k, *axis, (long long)size);
    return 0;
}

/* topk(self, k, dim=-1, largest=True, sorted=True): always sorted (unsorted order is unspecified). */
int lower_topk(lower_ctx *cx, const ts_node *n) {
    ir_value *x;
    int64_t k;
    int largest = 1, axis;
    if (topk_args(cx, n, "topk", &x, &k, &axis, &largest)) return -1;
    ir_dtype back;
    ir_value *v, *i;
    if (topk_op(cx, sortable(cx, x, &back), k, axis, !largest, &v, &i)) return -1;
    if (lower_out_tensor(cx, n, 0, restore(cx, v, back))) return -1;
    return lower_out_tensor(cx, n, 1, i);
}

/* kthvalue(self, k, dim=-1, keepdim=False): the k-th smallest (topk ascending, last entry). */
int lower_kthvalue(lower_ctx *cx, const ts_node *n) {
    ir_value *x;
    int64_t k;
    int keep = 0, axis;
    if (topk_args(cx, n, "kthvalue", &x, &k, &axis, &keep)) return -1;
    ir_dtype back;
    ir_value *v, *i;
    if (topk_op(cx, sortable(cx, x, &back), k, axis, 1, &v, &i)) return -1;
    v = lb_slice(cx, v, axis, k - 1, k, 0, 1, !keep);
    i = lb_slice(cx, i, axis, k - 1, k, 0, 1, !keep);
    if (lower_out_tensor(cx, n, 0, restore(cx, v, back))) return -1;
    return lower_out_tensor(cx, n, 1, i);
}

/* sort(self, dim=-1, descending=False), sort.stable(self, stable, dim=-1, descending=False),
 * argsort (same forms), msort(self): argsort, then the values gathered along the axis. */
int lower_sort(lower_ctx *cx, const ts_node *n) {
    int is_msort = cx->row->sub == SORT_M, is_arg = cx->row->sub == SORT_ARG;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t dim = is_msort ? 0 : -1;
    int desc = 0, axis, at = n->nin >= 4 ? 2 : 1; /* the .stable forms put `stable` first */
    if (!x) return -1;
    if (!is_msort && ((n->nin > at && lower_int_in(cx, n, at, &dim)) || (n->nin > at + 1 && lower_bool_in(cx, n, at + 1, &desc))))
        return -1;
    if (x->type.rank == 0) { /* one element: itself, index 0 */
        ir_value *zero = lb_const_scalar(cx, 0, IR_INT32, "index");
        if (is_arg) return lower_out_tensor(cx, n, 0, zero);
        if (lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_IDENTITY, x, NULL))) return -1;
        return n->nout > 1 ? lower_out_tensor(cx, n, 1, zero) : 0;
    }
    if (lower_axis(cx, dim, x->type.rank, &axis)) return -1;
    ir_dtype back;
    ir_value *xs = sortable(cx, x, &back);
    ir_value *idx = argsort_op(cx, xs, axis, !desc);
    if (is_arg) return lower_out_tensor(cx, n, 0, idx);
    if (lower_out_tensor(cx, n, 0, restore(cx, gather_axis(cx, xs, idx, axis), back))) return -1;
    return n->nout > 1 ? lower_out_tensor(cx, n, 1, idx) : 0;
}

/* searchsorted(sorted_sequence, self, out_int32, right, side, sorter) and
 * bucketize(self, boundaries, out_int32, right): for each value, how many sequence entries are
 * < it (left) or <= it (right), by comparing against the whole (last) axis and summing. */
int lower_searchsorted(lower_ctx *cx, const ts_node *n) {
    int bucket = cx->row->sub == 1;
    ir_value *seq = lower_tensor_in(cx, n, bucket ? 1 : 0, IR_DT_INVALID);
    ir_value *v = lower_tensor_in(cx, n, bucket ? 0 : 1, IR_DT_INVALID);
    int right = 0;
    if (!v || (n->nin > 3 && lower_bool_in(cx, n, 3, &right))) return -1;
    if (!bucket && n->nin > 4 && !lower_is_none(cx, n, 4)) { /* side overrides right */
        lv *s = lower_in(cx, n, 4);
        if (!s) return -1;
        if (s->kind != LV_STR || !s->s || (strcmp(s->s, "left") && strcmp(s->s, "right")))
            return lower_fail(cx, "side must be 'left' or 'right'");
        right = strcmp(s->s, "right") == 0;
    }
    if (seq->type.rank < 1) return lower_fail(cx, "the sorted sequence must have rank >= 1");
    if (bucket && seq->type.rank != 1) return lower_fail(cx, "boundaries must be 1-D");
    if (!bucket && n->nin > 5 && !lower_is_none(cx, n, 5)) { /* sorter: the sequence's sorting order */
        ir_value *so = lower_tensor_in(cx, n, 5, IR_DT_INVALID);
        if (so && so->type.dtype != IR_INT32) so = lb_cast(cx, so, IR_INT32, "sorter");
        ir_dtype back;
        ir_value *ss = sortable(cx, seq, &back);
        if (!(seq = restore(cx, gather_axis(cx, ss, so, seq->type.rank - 1), back))) return -1;
    }
    /* compare in one dtype */
    ir_dtype dt = ir_dtype_is_float(seq->type.dtype) || ir_dtype_is_float(v->type.dtype)
                      ? (seq->type.dtype == IR_FP16 && v->type.dtype == IR_FP16 ? IR_FP16 : IR_FP32)
                      : IR_INT32;
    if (seq->type.dtype != dt && !(seq = lb_cast(cx, seq, dt, "seq"))) return -1;
    if (v->type.dtype != dt && !(v = lb_cast(cx, v, dt, "values"))) return -1;
    int sr = seq->type.rank, vr = v->type.rank;
    ir_value *ve, *se;
    if (sr == 1) { /* every value against the whole sequence: values [..., 1] vs seq [M] */
        int64_t ax = vr;
        ve = lb_expand(cx, v, 1, &ax);
        se = seq;
    } else { /* batched: values [..., N] vs seq [..., M] with the same leading dims */
        if (vr != sr) return lower_fail(cx, "values of rank %d for a rank-%d sorted sequence", vr, sr);
        for (int i = 0; i < sr - 1; i++)
            if (seq->type.dims[i] != v->type.dims[i]) return lower_fail(cx, "leading dims of values and sequence differ");
        int64_t a1 = vr, a2 = sr - 1;
        ve = lb_expand(cx, v, 1, &a1);
        se = lb_expand(cx, seq, 1, &a2);
    }
    ir_value *cmp = lb_binary(cx, right ? IR_OP_GREATER_EQUAL : IR_OP_GREATER, ve, se, "cmp");
    ir_value *ci = lb_cast(cx, cmp, IR_INT32, "cnt");
    int64_t last = ci ? ci->type.rank - 1 : 0;
    return lower_out_tensor(cx, n, 0, lb_reduce(cx, IR_OP_REDUCE_SUM, ci, 1, &last, 0));
}

/* scatter(data, indices, updates, axis 0, mode) on 1-D tensors. */
static ir_value *scatter1(lower_ctx *cx, ir_value *data, ir_value *idx, ir_value *upd, const char *mode) {
    ir_op *op = lb_op(cx, IR_OP_SCATTER, "scatter");
    if (!op || ir_op_set_input(op, "data", data) || ir_op_set_input(op, "indices", idx) ||
        ir_op_set_input(op, "updates", upd) || lb_param_i32(cx, op, "axis", 0) || lb_param_str(cx, op, "mode", mode))
        return NULL;
    return lb_finish(cx, op);
}

/* _unique2(self, sorted=True, return_inverse=False, return_counts=False) and
 * unique_consecutive(self, return_inverse=False, return_counts=False, dim=None): flattened x
 * (sorted for unique: the result is always sorted, which sorted=False allows), a mark where each
 * run of equal values starts, the marked values (non_zero: a run-time count U). inverse: the run
 * number of each element (cumsum of the marks - 1, scattered back through the sort order);
 * counts: the run lengths (ones scatter-added by run number). Skipped outputs are empty. */
int lower_unique(lower_ctx *cx, const ts_node *n) {
    int consec = cx->row->sub == UNIQUE_CONSECUTIVE;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int inv = 0, cnt = 0, at = consec ? 1 : 2;
    if (!x || (n->nin > at && lower_bool_in(cx, n, at, &inv)) || (n->nin > at + 1 && lower_bool_in(cx, n, at + 1, &cnt)))
        return -1;
    if (consec && n->nin > 3 && !lower_is_none(cx, n, 3)) return lower_unique_dim(cx, n); /* unique.c */
    if (x->type.rank < 0) return lower_fail(cx, "unique of a tensor of unknown rank");
    int stat = ir_type_is_static(&x->type);
    int64_t len = stat ? ir_type_numel(&x->type) : -1, all = -1; /* -1: known at run time */
    if (len == 0) return lower_fail(cx, "unique of an empty tensor");
    if (!stat && inv && x->type.rank > 1) return lower_fail(cx, "unique inverse of a multi-dim tensor with run-time sizes");
    ir_dtype back;
    ir_value *flat = lb_reshape(cx, sortable(cx, x, &back), 1, &all, "flat");
    ir_value *order = NULL, *s = flat;
    if (!consec) {
        order = argsort_op(cx, flat, 0, 1);
        s = gather_axis(cx, flat, order, 0);
    }
    if (!s) return -1;
    int64_t one = 1;
    ir_value *start = lb_const(cx, IR_BOOL, 1, &one, (float[]){1}, "first");
    ir_value *mark = start;
    if (len != 1) { /* s[1:] != s[:-1] */
        ir_value *a = lb_slice(cx, s, 0, 1, 0, 1, 1, 0), *b = lb_slice(cx, s, 0, 0, -1, 0, 1, 0);
        ir_value *ch = lb_binary(cx, IR_OP_NOT_EQUAL, a, b, "changed");
        ir_value *parts[2] = {start, ch};
        mark = lb_concat(cx, 2, parts, 0);
    }
    ir_op *op = lb_op(cx, IR_OP_NON_ZERO, "starts");
    if (!op || ir_op_set_input(op, "x", mark)) return -1;
    ir_value *starts = lb_reshape(cx, lb_finish(cx, op), 1, &all, "starts_flat");
    if (lower_out_tensor(cx, n, 0, restore(cx, lb_gather(cx, s, starts, 0), back))) return -1;
    ir_value *run = NULL;
    if (inv || cnt) {
        if (!(run = lb_mask_ranks(cx, mark))) return -1; /* mark[0] is set: never clamped */
    }
    ir_value *empty = (!inv || !cnt) ? lb_const(cx, IR_INT32, 1, (int64_t[]){0}, NULL, "empty") : NULL;
    ir_value *zeros = run ? lb_scalar_op(cx, IR_OP_MUL, run, 0) : NULL; /* [len], also for run-time lengths */
    if (!inv) {
        if (lower_out_tensor(cx, n, 1, empty)) return -1;
    } else {
        ir_value *r = consec ? run : scatter1(cx, zeros, order, run, "update");
        if (stat && x->type.rank != 1) r = lb_reshape(cx, r, x->type.rank, x->type.dims, "inverse");
        if (lower_out_tensor(cx, n, 1, r)) return -1;
    }
    if (!cnt) return lower_out_tensor(cx, n, 2, empty);
    ir_value *per_run = scatter1(cx, zeros, run, lb_scalar_op(cx, IR_OP_ADD, zeros, 1), "add");
    ir_value *ids = lb_gather(cx, run, starts, 0); /* 0, 1, ..., U-1 */
    return lower_out_tensor(cx, n, 2, lb_gather(cx, per_run, ids, 0));
}

/* median(self) and median(self, dim, keepdim=False) -> (values, indices): the lower median, the
 * ((n - 1) / 2 + 1)-th smallest (topk ascending, last entry), as torch takes it for even sizes. */
int lower_median(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    int global = n->nin < 2, keep = 0, axis = 0;
    int64_t dim = 0;
    if (!global && (lower_int_in(cx, n, 1, &dim) || (n->nin > 2 && lower_bool_in(cx, n, 2, &keep)))) return -1;
    if (global) {
        if (lb_static(cx, x, "median's input")) return -1;
        int64_t all = -1;
        if (!(x = lb_reshape(cx, x, 1, &all, "flat"))) return -1;
    } else if (x->type.rank == 0) {
        if (lower_out_tensor(cx, n, 0, x)) return -1;
        return lower_out_tensor(cx, n, 1, lb_const_scalar(cx, 0, IR_INT32, "index"));
    } else if (lower_axis(cx, dim, x->type.rank, &axis)) {
        return -1;
    }
    int64_t size = x->type.dims[axis];
    if (size <= 0) return lower_fail(cx, "median needs a non-empty dim of size known at conversion time");
    int64_t k = (size - 1) / 2 + 1;
    ir_dtype back;
    ir_value *v, *i;
    if (topk_op(cx, sortable(cx, x, &back), k, axis, 1, &v, &i)) return -1;
    v = lb_slice(cx, v, axis, k - 1, k, 0, 1, global || !keep);
    if (lower_out_tensor(cx, n, 0, restore(cx, v, back))) return -1;
    if (global) return 0;
    return lower_out_tensor(cx, n, 1, lb_slice(cx, i, axis, k - 1, k, 0, 1, !keep));
}
