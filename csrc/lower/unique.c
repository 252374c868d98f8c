/* unique.c: unique slices along a dim: aten::unique_dim (torch.unique(x, dim=d): sorted
 * lexicographically, always, as torch's CPU kernel), aten::unique_dim_consecutive and
 * aten::unique_consecutive with a dim (sort.c hands those over). x (static shape) is seen as N rows
 * of K elements (dim d first, the rest flattened). Sorting rows has no MIL op: rows are compared
 * pairwise ([N, N, K] compares; row i < row j where they first differ), a row's rank is the number of
 * distinct smaller rows, and the first row of each value is kept (non_zero: a run-time count U), put
 * in rank order by an argsort of their (distinct) ranks. */
#include "lower/build.h"

#include <string.h>

#define UNIQUE_MAX_COMPARES (1 << 24) /* N * N * K elements of the pairwise compare */

/* op(x, axis) for reduce_* with keep_dims false. */
static ir_value *reduce1(lower_ctx *cx, ir_opkind k, ir_value *x, int axis) {
    int64_t a = axis;
    return lb_reduce(cx, k, x, 1, &a, 0);
}

static ir_value *as_int(lower_ctx *cx, ir_value *b, const char *suffix) { return lb_cast(cx, b, IR_INT32, suffix); }

/* 1-D int32 [len] of non_zero(mark) (mark [N]); len known only at run time. */
static ir_value *nonzero_1d(lower_ctx *cx, ir_value *mark, const char *suffix) {
    ir_op *op = lb_op(cx, IR_OP_NON_ZERO, suffix);
    if (!op || ir_op_set_input(op, "x", mark)) return NULL;
    int64_t all = -1;
    return lb_reshape(cx, lb_finish(cx, op), 1, &all, "flat");
}

/* The counts of each of U runs / ranks: ones scatter-added by id (ids [N] in 0..U-1), the first U
 * taken by gathering at 0..U-1 (`iota_u`, [U]). */
static ir_value *counts_of(lower_ctx *cx, ir_value *ids, ir_value *iota_u) {
    ir_value *zeros = lb_scalar_op(cx, IR_OP_MUL, ids, 0);
    ir_value *ones = lb_scalar_op(cx, IR_OP_ADD, zeros, 1);
    ir_op *op = lb_op(cx, IR_OP_SCATTER, "per_id");
    if (!op || ir_op_set_input(op, "data", zeros) || ir_op_set_input(op, "indices", ids) ||
        ir_op_set_input(op, "updates", ones) || lb_param_i32(cx, op, "axis", 0) || lb_param_str(cx, op, "mode", "add"))
        return NULL;
    return lb_gather(cx, lb_finish(cx, op), iota_u, 0);
}

/* unique_dim(self, dim, sorted=True, return_inverse=False, return_counts=False),
 * unique_dim_consecutive(self, dim, return_inverse=False, return_counts=False) and
 * unique_consecutive(self, return_inverse=False, return_counts=False, dim): (values, inverse, counts);
 * skipped outputs are empty. */
int lower_unique_dim(lower_ctx *cx, const ts_node *n) {
    int plain = cx->row->sub == UNIQUE_DIM, tail = cx->row->sub == UNIQUE_CONSECUTIVE;
    int consec = !plain, inv = 0, cnt = 0;
    int at_dim = tail ? 3 : 1, at_flags = tail ? 1 : plain ? 3 : 2;
    int64_t dim;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || lower_int_in(cx, n, at_dim, &dim) || (n->nin > at_flags && lower_bool_in(cx, n, at_flags, &inv)) ||
        (n->nin > at_flags + 1 && lower_bool_in(cx, n, at_flags + 1, &cnt)))
        return -1;
    int r = x->type.rank, d;
    if (r < 1) return lower_fail(cx, "unique along a dim of a 0-d tensor");
    if (lower_axis(cx, dim, r, &d)) return -1;
    if (lb_static(cx, x, "unique along a dim")) return -1;
    int64_t N = x->type.dims[d], K = ir_type_numel(&x->type) / (N ? N : 1);
    if (N == 0 || K == 0) return lower_fail(cx, "unique along a dim of an empty tensor");
    if (!consec && N * N * K > UNIQUE_MAX_COMPARES)
        return lower_fail(cx, "unique along a dim of %lld rows of %lld compares them pairwise; more than %d elements",
                          (long long)N, (long long)K, UNIQUE_MAX_COMPARES);
    ir_dtype back = x->type.dtype;
    if (back == IR_BOOL && !(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
    /* rows: [N, K], dim d first */
    int64_t perm[IR_MAX_RANK];
    perm[0] = d;
    for (int i = 0, k = 1; i < r; i++)
        if (i != d) perm[k++] = i;
    ir_value *rows = lb_reshape(cx, lb_transpose(cx, x, perm), 2, (int64_t[]){N, K}, "rows");
    if (!rows) return -1;
    ir_value *keep, *inverse, *order_ids;
    if (consec) { /* a row starts a run where it differs from the one before */
        int64_t one = 1;
        ir_value *mark = lb_const(cx, IR_INT32, 1, &one, (float[]){1}, "first");
        if (N > 1) {
            ir_value *a = lb_slice(cx, rows, 0, 1, N, 0, 1, 0), *b = lb_slice(cx, rows, 0, 0, N - 1, 0, 1, 0);
            ir_value *ch = reduce1(cx, IR_OP_REDUCE_MAX, as_int(cx, lb_binary(cx, IR_OP_NOT_EQUAL, a, b, "differs"), "differs_int"), 1);
            ir_value *parts[2] = {mark, ch};
            mark = lb_concat(cx, 2, parts, 0);
        }
        keep = nonzero_1d(cx, mark, "starts");
        inverse = lb_mask_ranks(cx, mark); /* run number: cumsum - 1 */
        order_ids = inverse;
    } else {
        ir_value *ri = lb_expand(cx, rows, 1, (int64_t[]){1}), *rj = lb_expand(cx, rows, 1, (int64_t[]){0});
        ir_value *eq = lb_binary(cx, IR_OP_EQUAL, ri, rj, "eq"); /* [N, N, K] */
        ir_value *lt = lb_binary(cx, IR_OP_LESS, ri, rj, "lt");
        ir_value *ne = as_int(cx, lb_unary(cx, IR_OP_LOGICAL_NOT, eq, "ne"), "ne_int");
        ir_op *op = lb_op(cx, IR_OP_CUMSUM, "ne_upto");
        if (!op || ir_op_set_input(op, "x", ne) || lb_param_i32(cx, op, "axis", 2)) return -1;
        ir_value *before = lb_binary(cx, IR_OP_SUB, lb_finish(cx, op), ne, "ne_before"); /* differing columns before c */
        ir_value *first_diff = lb_scalar_op(cx, IR_OP_EQUAL, before, 0);
        /* less[i, j]: row i < row j (smaller where they first differ); same[i, j]: equal rows */
        ir_value *less = reduce1(cx, IR_OP_REDUCE_MAX, as_int(cx, lb_binary(cx, IR_OP_LOGICAL_AND, lt, first_diff, "lt_first"), "lt_int"), 2);
        ir_value *same = reduce1(cx, IR_OP_REDUCE_MIN, as_int(cx, eq, "eq_int"), 2);
        if (!less || !same) return -1;
        float *tri = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(N * N));
        if (!tri) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int64_t i = 0; i < N; i++)
            for (int64_t j = i + 1; j < N; j++) tri[i * N + j] = 1; /* i < j */
        ir_value *earlier = lb_const(cx, IR_INT32, 2, (int64_t[]){N, N}, tri, "earlier");
        ir_value *dup = reduce1(cx, IR_OP_REDUCE_MAX, lb_binary(cx, IR_OP_MUL, same, earlier, "same_before"), 0); /* [N] */
        ir_value *first = lb_affine(cx, dup, -1, 1); /* the first row of its value */
        /* rank[i]: distinct values below row i = sum over first rows j of less[j, i] */
        ir_value *fcol = lb_expand(cx, first, 1, (int64_t[]){1});
        inverse = reduce1(cx, IR_OP_REDUCE_SUM, lb_binary(cx, IR_OP_MUL, less, fcol, "less_firsts"), 0);
        ir_value *firsts = nonzero_1d(cx, first, "firsts");
        ir_value *ranks = lb_gather(cx, inverse, firsts, 0); /* distinct: any sort order is exact */
        op = lb_op(cx, IR_OP_ARGSORT, "rank_order");
        if (!op || ir_op_set_input(op, "x", ranks) || lb_param_i32(cx, op, "axis", 0) || lb_param_bool(cx, op, "ascending", 1))
            return -1;
        keep = lb_gather(cx, firsts, lb_finish(cx, op), 0);
        order_ids = inverse;
    }
    if (!keep || !inverse) return -1;
    ir_value *vals = lb_gather(cx, x, keep, d);
    if (vals && back != vals->type.dtype) vals = lb_cast(cx, vals, back, "restored");
    if (lower_out_tensor(cx, n, 0, vals)) return -1;
    ir_value *empty = (!inv || !cnt) ? lb_const(cx, IR_INT32, 1, (int64_t[]){0}, NULL, "empty") : NULL;
    if (lower_out_tensor(cx, n, 1, inv ? inverse : empty)) return -1;
    if (!cnt) return lower_out_tensor(cx, n, 2, empty);
    ir_value *iota_u = lb_gather(cx, order_ids, keep, 0); /* 0, 1, ..., U-1 */
    return lower_out_tensor(cx, n, 2, counts_of(cx, order_ids, iota_u));
}
