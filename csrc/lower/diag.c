/* diag.c: diagonals and square matrices, composed from MIL ops: trace, diagonal (offset, any two
 * dims), diag_embed, and det / inverse / slogdet / logdet of static matrices: up to 4 x 4 by cofactor
 * expansion, larger by elimination with partial pivoting (lu.c; Core ML has no LU or inverse op). */
#include "lower/build.h"

#include <string.h>

/* trace(x): the sum of the main diagonal of a 2-D tensor (sum of x * eye). */
int lower_trace(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    if (x->type.rank != 2) return lower_fail(cx, "trace needs a 2-D tensor, got %d-D", x->type.rank);
    if (lb_static(cx, x, "trace")) return -1;
    if (x->type.dtype == IR_BOOL && !(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
    int64_t R = x->type.dims[0], C = x->type.dims[1];
    if (R * C > (1 << 24)) return lower_fail(cx, "trace of a %lld x %lld matrix is too large", (long long)R, (long long)C);
    float *eye = pc_alloc(cx->p->arena, (size_t)(R * C > 0 ? R * C : 1) * sizeof(float));
    if (!eye) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t i = 0; i < R && i < C; i++) eye[i * C + i] = 1;
    ir_value *m = lb_binary(cx, IR_OP_MUL, x, lb_const(cx, x->type.dtype, 2, x->type.dims, eye, "eye"), "masked");
    int64_t axes[2] = {0, 1};
    return lower_out_tensor(cx, n, 0, lb_reduce(cx, IR_OP_REDUCE_SUM, m, 2, axes, 0));
}

/* diagonal(x, offset=0, dim1=0, dim2=1): dim1 and dim2 moved last, flattened together, and a
 * strided slice (step n2 + 1) from the first diagonal element; the diagonal is the last dim. */
int lower_diagonal(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t off = 0, d1 = 0, d2 = 1;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &off)) || (n->nin > 2 && lower_int_in(cx, n, 2, &d1)) ||
        (n->nin > 3 && lower_int_in(cx, n, 3, &d2)))
        return -1;
    int r = x->type.rank, a1, a2;
    if (r < 2) return lower_fail(cx, "diagonal needs at least 2 dims, got %d", r);
    if (lower_axis(cx, d1, r, &a1) || lower_axis(cx, d2, r, &a2)) return -1;
    if (a1 == a2) return lower_fail(cx, "diagonal dims must differ (both are %d)", a1);
    if (lb_static(cx, x, "diagonal")) return -1;
    int64_t perm[IR_MAX_RANK], shp[IR_MAX_RANK];
    int k = 0;
    for (int i = 0; i < r; i++)
        if (i != a1 && i != a2) shp[k] = x->type.dims[i], perm[k++] = i;
    perm[r - 2] = a1;
    perm[r - 1] = a2;
    int64_t n1 = x->type.dims[a1], n2 = x->type.dims[a2];
    int64_t r0 = off < 0 ? -off : 0, c0 = off > 0 ? off : 0;
    int64_t len = n1 - r0 < n2 - c0 ? n1 - r0 : n2 - c0;
    if (len <= 0) return lower_fail(cx, "diagonal with offset %lld of a %lld x %lld matrix is empty", (long long)off, (long long)n1, (long long)n2);
    shp[r - 2] = n1 * n2;
    ir_value *t = lb_transpose(cx, x, perm);
    ir_value *f = lb_reshape(cx, t, r - 1, shp, "flat");
    int64_t begin = r0 * n2 + c0;
    return lower_out_tensor(cx, n, 0, lb_slice(cx, f, r - 2, begin, begin + (len - 1) * (n2 + 1) + 1, 0, n2 + 1, 0));
}

/* diag_embed(x, offset=0, dim1=-2, dim2=-1): x's last dim on the diagonal of new m x m matrices
 * (m = n + |offset|): x[.., :, None] * eye(n), zero blocks concatenated for the offset, then
 * the two new dims moved to dim1 (rows) and dim2 (columns) of the rank + 1 result. */
int lower_diag_embed(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t off = 0, d1 = -2, d2 = -1;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &off)) || (n->nin > 2 && lower_int_in(cx, n, 2, &d1)) ||
        (n->nin > 3 && lower_int_in(cx, n, 3, &d2)))
        return -1;
    if (x->type.rank < 1) return lower_fail(cx, "diag_embed needs at least 1 dim");
    if (lb_static(cx, x, "diag_embed")) return -1;
    if (x->type.dtype == IR_BOOL && !(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
    int r = x->type.rank, R = r + 1, a1, a2;
    if (lower_axis(cx, d1, R, &a1) || lower_axis(cx, d2, R, &a2)) return -1;
    if (a1 == a2) return lower_fail(cx, "diag_embed dims must differ (both are %d)", a1);
    int64_t nn = x->type.dims[r - 1], k = off < 0 ? -off : off, m = nn + k;
    if (nn * nn > (1 << 24)) return lower_fail(cx, "diag_embed of %lld values is too large", (long long)nn);
    float *eye = pc_alloc(cx->p->arena, (size_t)(nn * nn > 0 ? nn * nn : 1) * sizeof(float));
    if (!eye) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t i = 0; i < nn; i++) eye[i * nn + i] = 1;
    int64_t last = r, ed[2] = {nn, nn};
    ir_value *y = lb_binary(cx, IR_OP_MUL, lb_expand(cx, x, 1, &last), lb_const(cx, x->type.dtype, 2, ed, eye, "eye"), "diag");
    if (!y) return -1;
    if (k > 0) { /* offset > 0: k zero columns in front, k zero rows below; < 0: rows above, columns after */
        int64_t zd[IR_MAX_RANK];
        for (int i = 0; i < r - 1; i++) zd[i] = x->type.dims[i];
        int64_t batch = 1;
        for (int i = 0; i < r - 1; i++) batch *= zd[i];
        if (batch * m * k > (1 << 24)) return lower_fail(cx, "diag_embed result is too large");
        float *zeros = pc_alloc(cx->p->arena, (size_t)(batch * m * k) * sizeof(float));
        if (!zeros) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        int cols_first = off > 0;
        /* first block: along columns (offset > 0) or rows (offset < 0), nn long the other way */
        zd[r - 1] = cols_first ? nn : k;
        zd[r] = cols_first ? k : nn;
        ir_value *z1 = lb_const(cx, x->type.dtype, R, zd, zeros, "zeros");
        ir_value *p1[2] = {z1, y};
        if (!(y = lb_concat(cx, 2, p1, cols_first ? r : r - 1))) return -1;
        zd[r - 1] = cols_first ? k : m;
        zd[r] = cols_first ? m : k;
        ir_value *z2 = lb_const(cx, x->type.dtype, R, zd, zeros, "zeros_b");
        ir_value *p2[2] = {y, z2};
        if (!(y = lb_concat(cx, 2, p2, cols_first ? r - 1 : r))) return -1;
    }
    int64_t perm[IR_MAX_RANK];
    for (int i = 0, b = 0; i < R; i++) perm[i] = i == a1 ? R - 2 : i == a2 ? R - 1 : b++;
    return lower_out_tensor(cx, n, 0, lb_transpose(cx, y, perm));
}

/* ---- small determinants and inverses ---- */
typedef struct {
    ir_value *e[4][4]; /* the elements, each [.., 1, 1] */
} mat_t;

/* The determinant of the sub-matrix of rows rows[0..k) and columns cols[0..k) of m (cofactor
 * expansion along its first row). */
static ir_value *minor_det(lower_ctx *cx, const mat_t *m, const int *rows, const int *cols, int k) {
    if (k == 1) return m->e[rows[0]][cols[0]];
    if (k == 2) {
        ir_value *p = lb_binary(cx, IR_OP_MUL, m->e[rows[0]][cols[0]], m->e[rows[1]][cols[1]], "ad");
        ir_value *q = lb_binary(cx, IR_OP_MUL, m->e[rows[0]][cols[1]], m->e[rows[1]][cols[0]], "bc");
        return lb_binary(cx, IR_OP_SUB, p, q, "det2");
    }
    ir_value *acc = NULL;
    for (int j = 0; j < k; j++) {
        int sub[4], c = 0;
        for (int q = 0; q < k; q++)
            if (q != j) sub[c++] = cols[q];
        ir_value *d = minor_det(cx, m, rows + 1, sub, k - 1);
        ir_value *t = lb_binary(cx, IR_OP_MUL, m->e[rows[0]][cols[j]], d, "term");
        if (!t) return NULL;
        acc = !acc ? t : lb_binary(cx, j % 2 ? IR_OP_SUB : IR_OP_ADD, acc, t, "acc");
        if (!acc) return NULL;
    }
    return acc;
}

/* The elements of x [.., N, N] (N <= 4) as [.., 1, 1] values, and det(x) [.., 1, 1]. */
static ir_value *closed_det(lower_ctx *cx, ir_value *x, int64_t N, mat_t *m) {
    int r = x->type.rank;
    ir_value *rows[4];
    int64_t ones[4] = {1, 1, 1, 1};
    if (lb_split(cx, x, r - 2, (int)N, ones, rows)) return NULL;
    for (int i = 0; i < N; i++)
        if (lb_split(cx, rows[i], r - 1, (int)N, ones, m->e[i])) return NULL;
    int idx[4] = {0, 1, 2, 3};
    return minor_det(cx, m, idx, idx, (int)N);
}

/* inv(x) = adjugate / det for N <= 4 (m, det: from closed_det). */
static ir_value *closed_inv(lower_ctx *cx, ir_value *x, int64_t N, const mat_t *m, ir_value *det) {
    int r = x->type.rank;
    ir_value *inv_det = lb_binary(cx, IR_OP_REAL_DIV, lb_const_scalar(cx, 1, x->type.dtype, "one"), det, "inv_det");
    if (!inv_det) return NULL;
    ir_value *out_rows[4];
    for (int i = 0; i < N; i++) {
        ir_value *row[4];
        for (int j = 0; j < N; j++) { /* inv[i][j] = (-1)^(i+j) det(A without row j, column i) / det */
            int rr[4], cc[4], a = 0, b = 0;
            for (int q = 0; q < N; q++) {
                if (q != j) rr[a++] = q;
                if (q != i) cc[b++] = q;
            }
            ir_value *c = N == 1 ? lb_const_scalar(cx, 1, x->type.dtype, "unit") : minor_det(cx, m, rr, cc, (int)N - 1);
            if (c && (i + j) % 2) c = lb_scalar_op(cx, IR_OP_MUL, c, -1);
            if (!(row[j] = lb_binary(cx, IR_OP_MUL, c, inv_det, "entry"))) return NULL;
        }
        if (!(out_rows[i] = lb_concat(cx, (int)N, row, r - 1))) return NULL;
    }
    return lb_concat(cx, (int)N, out_rows, r - 2);
}

/* linalg_det / det, linalg_inv / inverse / linalg_inv_ex (inverse, info = 0), slogdet / linalg_slogdet
 * (sign, logabsdet) and logdet of A [.., n, n] with n static: closed forms for n <= 4 (cofactor
 * expansion, inv = adjugate / det), elimination with partial pivoting beyond (lu.c). A singular A gives
 * inf / NaN where torch's inverse raises; logdet is NaN for det < 0 and -inf for det = 0, as torch. */
int lower_det_inv(lower_ctx *cx, const ts_node *n) {
    int sub = cx->row->sub; /* DET_* */
    int is_inv = sub == DET_INV, is_slog = sub == DET_SLOGDET, is_log = sub == DET_LOGDET;
    ir_value *x = lower_float_tensor_in(cx, n, 0);
    if (!x) return -1;
    int r = x->type.rank;
    if (r < 2) return lower_fail(cx, "needs a matrix (at least 2 dims), got %d-D", r);
    int64_t N = x->type.dims[r - 1];
    if (N < 0 || x->type.dims[r - 2] != N) return lower_fail(cx, "needs static square matrices");
    if (N < 1 || N > LB_ELIM_MAX)
        return lower_fail(cx, "only matrices from 1 x 1 to %d x %d are supported (unrolled elimination), got %lld x %lld",
                          LB_ELIM_MAX, LB_ELIM_MAX, (long long)N, (long long)N);
    int64_t sq[2] = {r - 2, r - 1};
    mat_t m;
    ir_value *det = NULL, *sign = NULL, *logabs = NULL;
    if (is_inv) {
        ir_value *inv;
        if (N <= 4) {
            det = closed_det(cx, x, N, &m);
            inv = closed_inv(cx, x, N, &m, det);
        } else {
            inv = lb_elim_inverse(cx, x);
        }
        if (lower_out_tensor(cx, n, 0, inv)) return -1;
        if (n->nout < 2) return 0;
        /* linalg_inv_ex's info: 0 for every matrix (a singular one is not detected) */
        if (lb_static(cx, x, "linalg_inv_ex's batch")) return -1;
        int64_t cnt = 1;
        for (int i = 0; i < r - 2; i++) cnt *= x->type.dims[i];
        float *zeros = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(cnt ? cnt : 1));
        if (!zeros) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return lower_out_tensor(cx, n, 1, lb_const(cx, IR_INT32, r - 2, x->type.dims, zeros, "info"));
    }
    if (N <= 4) {
        ir_value *d = closed_det(cx, x, N, &m);
        if (!(det = lb_squeeze(cx, d, 2, sq))) return -1;
        if (is_slog) {
            sign = lb_unary(cx, IR_OP_SIGN, det, "sign");
            logabs = lb_log(cx, lb_unary(cx, IR_OP_ABS, det, "abs_det"), "logabsdet");
        }
        if (is_log) return lower_out_tensor(cx, n, 0, lb_log(cx, det, NULL));
    } else {
        if (lb_elim_det(cx, x, is_slog || is_log ? NULL : &det, is_slog || is_log ? &sign : NULL,
                        is_slog || is_log ? &logabs : NULL))
            return -1;
        if (is_log) /* log|det| + log(sign): + 0, -inf for a zero and NaN for a negative det */
            return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_ADD, logabs, lb_log(cx, sign, "log_sign"), NULL));
    }
    if (!is_slog) return lower_out_tensor(cx, n, 0, det);
    if (lower_out_tensor(cx, n, 0, sign)) return -1;
    return lower_out_tensor(cx, n, 1, logabs);
}
