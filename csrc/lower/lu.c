/* lu.c: elimination with partial pivoting of static n x n matrices, unrolled into MIL ops over the
 * batch (Core ML has no LU, solve or inverse op): Gauss-Jordan on [A | I] for the inverse, LU for the
 * determinant and its sign / log. Each step picks the row of the largest |entry| at or below the
 * diagonal (reduce_argmax), swaps it with the diagonal row by a gather_along_axis whose indices are
 * built from a one-hot compare, then eliminates with one broadcast multiply-subtract. diag.c keeps its
 * closed forms for n <= 4 and calls these beyond.
 * Triangular solves (lower_solve_triangular) need no elimination: see there. */
#include <string.h>

#include "lower/build.h"

/* A [n, 1] constant of dtype dt: f(i) for row i. */
static ir_value *col_const(lower_ctx *cx, ir_dtype dt, int64_t n, int kind, int64_t k, const char *suffix) {
    float v[LB_ELIM_MAX];
    for (int64_t i = 0; i < n; i++)
        v[i] = kind == 0 ? (float)i : kind == 1 ? (float)(i == k) : kind == 2 ? (float)(i >= k) : (float)(i > k);
    return lb_const(cx, dt, 2, (int64_t[]){n, 1}, v, suffix);
}

/* Bring the row of the largest |M[.., i, k]| (i >= k) to row k. *flip (optional) gets -1 where rows
 * were swapped, else 1, shaped [.., 1, 1] in M's dtype. */
static ir_value *pivot(lower_ctx *cx, ir_value *m, int64_t n, int64_t k, ir_value **flip) {
    int r = m->type.rank, R = r - 2, C = r - 1;
    ir_dtype dt = m->type.dtype;
    ir_value *a = lb_unary(cx, IR_OP_ABS, lb_slice(cx, m, C, k, k + 1, 0, 1, 0), "col_abs");
    if (a && k > 0) { /* rows above k are done: never picked */
        ir_value *ok = col_const(cx, IR_BOOL, n, 2, k, "rows_left");
        a = lb_select(cx, ok, a, lb_const_scalar(cx, -1, dt, "minus_one"), "candidates");
    }
    ir_op *op = lb_op(cx, IR_OP_REDUCE_ARGMAX, "pivot_row");
    if (!op || ir_op_set_input(op, "x", a) || lb_param_i32(cx, op, "axis", R) || lb_param_bool(cx, op, "keep_dims", 1))
        return NULL;
    ir_value *p = lb_finish(cx, op); /* [.., 1, 1] */
    ir_value *iota = col_const(cx, IR_INT32, n, 0, k, "iota");
    ir_value *ep = lb_cast(cx, lb_binary(cx, IR_OP_EQUAL, iota, p, "is_pivot"), IR_INT32, "pivot_hot");
    ir_value *diff = lb_binary(cx, IR_OP_SUB, col_const(cx, IR_INT32, n, 1, k, "diag_hot"), ep, "hot_diff");
    ir_value *d = lb_scalar_op(cx, IR_OP_SUB, p, (double)k); /* p - k */
    /* row order: i, except k -> p and p -> k */
    ir_value *idx = lb_binary(cx, IR_OP_ADD, iota, lb_binary(cx, IR_OP_MUL, d, diff, "moves"), "row_order");
    int64_t reps[IR_MAX_RANK];
    for (int i = 0; i < r; i++) reps[i] = 1;
    reps[C] = m->type.dims[C];
    ir_value *idx_full = lb_tile(cx, idx, reps); /* [.., n, 1] (rank r, as p) -> [.., n, W] */
    if (!idx_full) return NULL;
    op = lb_op(cx, IR_OP_GATHER_ALONG_AXIS, "swapped");
    if (!op || ir_op_set_input(op, "x", m) || ir_op_set_input(op, "indices", idx_full) || lb_param_i32(cx, op, "axis", R))
        return NULL;
    ir_value *out = lb_finish(cx, op);
    if (out && flip) { /* 1 - 2 * (p != k) */
        ir_value *sw = lb_cast(cx, lb_binary(cx, IR_OP_NOT_EQUAL, p, lb_const_scalar(cx, (double)k, IR_INT32, "k"),
                                                   "was_swapped"),
                                  dt, "swap");
        if (!(*flip = lb_affine(cx, sw, -2, 1))) return NULL;
    }
    return out;
}

/* See math.h. */
ir_value *lb_elim_inverse(lower_ctx *cx, ir_value *a) {
    if (LB_SKIP(cx, a)) return NULL;
    int r = a->type.rank, R = r - 2, C = r - 1;
    int64_t n = a->type.dims[C];
    if (n < 1 || n > LB_ELIM_MAX || a->type.dims[R] != n) {
        lower_fail(cx, "inverse by elimination needs static n x n matrices with 1 <= n <= %d", LB_ELIM_MAX);
        return NULL;
    }
    float *eye = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(n * n));
    if (!eye) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) eye[i * n + i] = 1;
    /* [A | I] with I broadcast over A's batch (A * 0 + I keeps symbolic batch dims) */
    ir_value *z = lb_scalar_op(cx, IR_OP_MUL, a, 0);
    ir_value *id = lb_binary(cx, IR_OP_ADD, z, lb_const(cx, a->type.dtype, 2, (int64_t[]){n, n}, eye, "eye"), "identity");
    ir_value *parts[2] = {a, id};
    ir_value *m = lb_concat(cx, 2, parts, C);
    for (int64_t k = 0; k < n && m; k++) {
        if (k < n - 1 && !(m = pivot(cx, m, n, k, NULL))) return NULL;
        ir_value *piv = lb_slice(cx, lb_slice(cx, m, R, k, k + 1, 0, 1, 0), C, k, k + 1, 0, 1, 0); /* [.., 1, 1] */
        ir_value *rk = lb_binary(cx, IR_OP_REAL_DIV, lb_slice(cx, m, R, k, k + 1, 0, 1, 0), piv, "pivot_row");
        /* every row i gets row_i - (M[i, k] - [i == k]) * rk: zero in column k, row k becomes rk */
        ir_value *f = rk ? lb_binary(cx, IR_OP_SUB, lb_slice(cx, m, C, k, k + 1, 0, 1, 0),
                                        col_const(cx, a->type.dtype, n, 1, k, "unit"), "factors")
                         : NULL;
        m = lb_binary(cx, IR_OP_SUB, m, lb_binary(cx, IR_OP_MUL, f, rk, "update"), "eliminated");
    }
    return lb_slice(cx, m, C, n, 2 * n, 0, 1, 0);
}

/* See math.h. */
int lb_elim_det(lower_ctx *cx, ir_value *a, ir_value **det, ir_value **sign, ir_value **logabs) {
    if (LB_SKIP(cx, a)) return -1;
    int r = a->type.rank, R = r - 2, C = r - 1;
    int64_t n = a->type.dims[C];
    if (n < 1 || n > LB_ELIM_MAX || a->type.dims[R] != n)
        return lower_fail(cx, "determinant by elimination needs static n x n matrices with 1 <= n <= %d", LB_ELIM_MAX);
    ir_value *m = a, *d = NULL, *s = NULL, *l = NULL;
    for (int64_t k = 0; k < n; k++) {
        ir_value *flip = NULL;
        if (k < n - 1 && !(m = pivot(cx, m, n, k, &flip))) return -1;
        ir_value *rk = lb_slice(cx, m, R, k, k + 1, 0, 1, 0);
        ir_value *piv = lb_slice(cx, rk, C, k, k + 1, 0, 1, 0);
        if (!piv) return -1;
        if (det) {
            ir_value *t = flip ? lb_binary(cx, IR_OP_MUL, piv, flip, "signed_pivot") : piv;
            if (!(d = !t ? NULL : d ? lb_binary(cx, IR_OP_MUL, d, t, "det") : t)) return -1;
        }
        if (sign) {
            ir_value *t = lb_unary(cx, IR_OP_SIGN, piv, "pivot_sign");
            if (t && flip) t = lb_binary(cx, IR_OP_MUL, t, flip, "signed");
            if (!(s = !t ? NULL : s ? lb_binary(cx, IR_OP_MUL, s, t, "sign") : t)) return -1;
        }
        if (logabs) {
            ir_value *t = lb_log(cx, lb_unary(cx, IR_OP_ABS, piv, "pivot_abs"), "pivot_log");
            if (!(l = !t ? NULL : l ? lb_binary(cx, IR_OP_ADD, l, t, "logabsdet") : t)) return -1;
        }
        if (k == n - 1) break;
        /* rows below k: row_i - (M[i, k] / pivot) * row_k */
        ir_value *f = lb_binary(cx, IR_OP_REAL_DIV, lb_slice(cx, m, C, k, k + 1, 0, 1, 0), piv, "ratios");
        f = lb_binary(cx, IR_OP_MUL, f, col_const(cx, a->type.dtype, n, 3, k, "below"), "factors");
        if (!(m = lb_binary(cx, IR_OP_SUB, m, lb_binary(cx, IR_OP_MUL, f, rk, "update"), "eliminated")))
            return -1;
    }
    int64_t sq[2] = {R, C};
    if (det && !(*det = lb_squeeze(cx, d, 2, sq))) return -1;
    if (sign && !(*sign = lb_squeeze(cx, s, 2, sq))) return -1;
    if (logabs && !(*logabs = lb_squeeze(cx, l, 2, sq))) return -1;
    return 0;
}

/* A [n, n] constant: 1 on the diagonal (strict = 0) or strictly below / above it (strict = 1). */
static ir_value *tri_mask(lower_ctx *cx, ir_dtype dt, int64_t n, int strict, int upper, const char *suffix) {
    float *m = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(n * n));
    if (!m) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) m[i * n + j] = !strict ? i == j : upper ? j > i : j < i;
    return lb_const(cx, dt, 2, (int64_t[]){n, n}, m, suffix);
}

/* linalg_solve_triangular(A, B, upper, left, unitriangular) and triangular_solve(B, A, upper, transpose,
 * unitriangular) -> (X, A). Write the triangle of A as D (I + M), M = D^-1 N with N its strict part
 * (D = I when unitriangular). M is nilpotent (M^n = 0), so (I + M)^-1 = (I - M)(I + M^2)(I + M^4)..., up
 * to the power 2^s >= n: applied to B that is 2 matmuls per doubling, log2(n) of them, over any batch.
 * Entries of the other triangle are ignored, as torch does. */
int lower_solve_triangular(lower_ctx *cx, const ts_node *n) {
    int legacy = cx->row->sub == 1;
    int upper = legacy, left = 1, unit = 0, transpose = 0;
    ir_value *a = lower_float_tensor_in(cx, n, legacy ? 1 : 0), *b = lower_float_tensor_in(cx, n, legacy ? 0 : 1);
    if (!a || !b) return -1;
    if (n->nin > 2 && lower_bool_in(cx, n, 2, &upper)) return -1;
    if (n->nin > 3 && lower_bool_in(cx, n, 3, legacy ? &transpose : &left)) return -1;
    if (n->nin > 4 && lower_bool_in(cx, n, 4, &unit)) return -1;
    int r = a->type.rank, R = r - 2, C = r - 1;
    if (r < 2 || b->type.rank < 2) return lower_fail(cx, "needs matrices (at least 2 dims), got %d-D and %d-D", r, b->type.rank);
    int64_t sz = a->type.dims[C];
    if (sz < 1 || a->type.dims[R] != sz) return lower_fail(cx, "needs static square coefficient matrices");
    if (b->type.dtype != a->type.dtype) b = lb_cast(cx, b, a->type.dtype, "rhs");
    ir_value *at = transpose ? lb_swap(cx, a, R, C) : a;
    if (transpose) upper = !upper;
    ir_dtype dt = a->type.dtype;
    ir_value *m = lb_binary(cx, IR_OP_MUL, at, tri_mask(cx, dt, sz, 1, upper, "strict"), "strict_part");
    ir_value *d = NULL; /* the diagonal as a column [.., n, 1] */
    if (!unit && m) {
        ir_value *diag = lb_binary(cx, IR_OP_MUL, at, tri_mask(cx, dt, sz, 0, upper, "eye"), "diag_part");
        d = lb_reduce(cx, IR_OP_REDUCE_SUM, diag, 1, (int64_t[]){C}, 1);
        m = lb_binary(cx, IR_OP_REAL_DIV, m, d, "scaled_strict");
    }
    /* left: X = (I + M)^-1 D^-1 B; right (X A = B): X = B (I + M)^-1 D^-1 */
    ir_value *y = b;
    if (left && d) y = lb_binary(cx, IR_OP_REAL_DIV, y, d, "rhs_scaled");
    if (sz > 1 && m && y) {
        y = lb_binary(cx, IR_OP_SUB, y, left ? lb_matmul(cx, m, y, 0, 0) : lb_matmul(cx, y, m, 0, 0), "solve");
        ir_value *mk = m;
        for (int64_t span = 2; span < sz && y; span *= 2) {
            mk = lb_matmul(cx, mk, mk, 0, 0);
            y = mk ? lb_binary(cx, IR_OP_ADD, y, left ? lb_matmul(cx, mk, y, 0, 0) : lb_matmul(cx, y, mk, 0, 0), "solve")
                   : NULL;
        }
    }
    if (!left && d && y) y = lb_binary(cx, IR_OP_REAL_DIV, y, lb_swap(cx, d, R, C), "solution");
    if (!y || !m) return -1;
    if (lower_out_tensor(cx, n, 0, y)) return -1;
    return n->nout > 1 ? lower_out_tensor(cx, n, 1, a) : 0;
}
