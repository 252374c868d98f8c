/* scatter.c: gather_along_axis, gather_nd (batch_dims) and the scatter family
 * (scatter along an axis with a list of indices, scatter_along_axis with an
 * index per update, scatter_nd with index tuples), modes update / add / sub /
 * mul / div / max / min applied in order (a repeated index sees the earlier
 * updates). Negative indices count from the end; anything still out of range is
 * an error. Gathers copy elements in x's dtype; scatters compute in fp32 for
 * float data and in int64 for integer data. */
#include "runtime/rt_internal.h"

#include <math.h>

static size_t esize(const rt_tensor *t) { return ir_dtype_size(t->dtype); }

/* Index value v for a dim of size n, wrapped; -1 with an error when out of range. */
static int64_t wrap(rt_ctx *c, int64_t v, int64_t n, int dim) {
    int64_t q = v < 0 ? v + n : v;
    if (q < 0 || q >= n)
        return rt_fail(c, "index %lld out of range for dim %d of size %lld", (long long)v, dim, (long long)n), -1;
    return q;
}

static int64_t prod(const int64_t *d, int lo, int hi) {
    int64_t p = 1;
    for (int i = lo; i < hi; i++) p *= d[i];
    return p;
}

/* ---- gathers ---- */
int rt_k_GATHER_ALONG_AXIS(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *ind = x ? rt_in_req(c, "indices") : NULL;
    if (!ind) return -1;
    int64_t axis;
    if (rt_param_int(c, "axis", &axis)) return -1;
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    if (ind->rank != x->rank) return rt_fail(c, "indices have rank %d, x has rank %d", ind->rank, x->rank);
    for (int i = 0; i < x->rank; i++)
        if (i != ax && ind->dims[i] != x->dims[i])
            return rt_fail(c, "indices dim %d is %lld, x has %lld", i, (long long)ind->dims[i], (long long)x->dims[i]);
    int64_t O = prod(x->dims, 0, ax), A = x->dims[ax], K = ind->dims[ax], I = prod(x->dims, ax + 1, x->rank);
    const int64_t *idx = rt_i64(c, ind);
    char *o = idx ? rt_out(c, 0, ind->rank, ind->dims, x->dtype) : NULL;
    if (!o) return -1;
    size_t es = esize(x);
    const char *xd = x->data;
    for (int64_t p = 0; p < O; p++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < I; i++) {
                int64_t at = (p * K + k) * I + i, q = wrap(c, idx[at], A, ax);
                if (q < 0) return -1;
                memcpy(o + at * (int64_t)es, xd + ((p * A + q) * I + i) * (int64_t)es, es);
            }
    return 0;
}

/* Element offset (in units of the slice size) of index tuple `t` (K entries) over dims d[0..K). */
static int64_t tuple_offset(rt_ctx *c, const int64_t *t, const int64_t *d, int K, int first_dim) {
    int64_t off = 0;
    for (int k = 0; k < K; k++) {
        int64_t q = wrap(c, t[k], d[k], first_dim + k);
        if (q < 0) return -1;
        off = off * d[k] + q;
    }
    return off;
}

int rt_k_GATHER_ND(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *ind = x ? rt_in_req(c, "indices") : NULL;
    if (!ind) return -1;
    int64_t bd;
    if (rt_param_int(c, "batch_dims", &bd)) return -1;
    if (ind->rank < 1) return rt_fail(c, "indices must have rank >= 1");
    int64_t K = ind->dims[ind->rank - 1];
    if (bd < 0 || bd >= ind->rank || bd + K > x->rank)
        return rt_fail(c, "indices with last dim %lld and batch_dims %lld do not fit a rank-%d x", (long long)K, (long long)bd,
                       x->rank);
    for (int i = 0; i < bd; i++)
        if (x->dims[i] != ind->dims[i]) return rt_fail(c, "batch dim %d differs between x and indices", i);
    int64_t od[IR_MAX_RANK];
    int ro = 0;
    for (int i = 0; i < ind->rank - 1; i++) od[ro++] = ind->dims[i];
    for (int i = (int)(bd + K); i < x->rank; i++) {
        if (ro == IR_MAX_RANK) return rt_fail(c, "result rank exceeds %d", IR_MAX_RANK);
        od[ro++] = x->dims[i];
    }
    int64_t B = prod(x->dims, 0, (int)bd), M = prod(ind->dims, (int)bd, ind->rank - 1);
    int64_t S = prod(x->dims, (int)(bd + K), x->rank), XB = prod(x->dims, (int)bd, x->rank);
    const int64_t *idx = rt_i64(c, ind);
    char *o = idx ? rt_out(c, 0, ro, od, x->dtype) : NULL;
    if (!o) return -1;
    size_t es = esize(x);
    const char *xd = x->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t m = 0; m < M; m++) {
            int64_t off = tuple_offset(c, idx + (b * M + m) * K, x->dims + bd, (int)K, (int)bd);
            if (off < 0) return -1;
            memcpy(o + (b * M + m) * S * (int64_t)es, xd + (b * XB + off * S) * (int64_t)es, (size_t)S * es);
        }
    return 0;
}

/* ---- scatters ---- */
enum { S_UPDATE, S_ADD, S_SUB, S_MUL, S_DIV, S_MAX, S_MIN };

static int read_mode(rt_ctx *c) {
    static const char *const names[] = {"update", "add", "sub", "mul", "div", "max", "min"};
    const char *m = rt_param_str(c, "mode");
    if (!m) return -1;
    for (int i = 0; i < PC_ARRAY_LEN(names); i++)
        if (strcmp(m, names[i]) == 0) return i;
    return rt_fail(c, "unknown scatter mode '%s' (update, add, sub, mul, div, max or min)", m);
}

static inline void comb_f(int mode, float *d, float u) {
    switch (mode) {
    case S_UPDATE: *d = u; break;
    case S_ADD: *d += u; break;
    case S_SUB: *d -= u; break;
    case S_MUL: *d *= u; break;
    case S_DIV: *d /= u; break;
    case S_MAX: *d = (u > *d || u != u) ? u : *d; break;
    default: *d = (u < *d || u != u) ? u : *d; break;
    }
}

static inline void comb_i(int mode, int64_t *d, int64_t u) {
    switch (mode) {
    case S_UPDATE: *d = u; break;
    case S_ADD: *d = (int64_t)((uint64_t)*d + (uint64_t)u); break;
    case S_SUB: *d = (int64_t)((uint64_t)*d - (uint64_t)u); break;
    case S_MUL: *d = (int64_t)((uint64_t)*d * (uint64_t)u); break;
    case S_DIV: { /* floor division like the elementwise int ops; x / 0 gives 0 */
        int64_t x = *d, q;
        if (u == 0) q = 0;
        else if (u == -1) q = (int64_t)(0 - (uint64_t)x);
        else {
            q = x / u;
            if ((x % u != 0) && ((x < 0) != (u < 0))) q--;
        }
        *d = q;
        break;
    }
    case S_MAX: *d = u > *d ? u : *d; break;
    default: *d = u < *d ? u : *d; break;
    }
}

/* Output = copy of data (fp32 or int64) plus typed views of updates. */
typedef struct {
    int is_float, mode;
    float *of;
    const float *uf;
    int64_t *oi;
    const int64_t *ui;
} scat;

static int scat_begin(rt_ctx *c, const rt_tensor *data, const rt_tensor *upd, scat *s) {
    s->mode = read_mode(c);
    if (s->mode < 0) return -1;
    s->is_float = ir_dtype_is_float(data->dtype);
    int64_t n = rt_numel(data);
    if (s->is_float) {
        const float *d = rt_f32(c, data);
        s->uf = d ? rt_f32(c, upd) : NULL;
        s->of = s->uf ? rt_out(c, 0, data->rank, data->dims, IR_FP32) : NULL;
        if (!s->of) return -1;
        memcpy(s->of, d, sizeof(float) * (size_t)n);
    } else {
        const int64_t *d = rt_i64(c, data);
        s->ui = d ? rt_i64(c, upd) : NULL;
        s->oi = s->ui ? rt_out(c, 0, data->rank, data->dims, IR_INT64) : NULL;
        if (!s->oi) return -1;
        memcpy(s->oi, d, sizeof(int64_t) * (size_t)n);
    }
    return 0;
}

/* out[dst + t] op= upd[src + t] for t in [0, n). */
static void scat_apply(scat *s, int64_t dst, int64_t src, int64_t n) {
    if (s->is_float)
        for (int64_t t = 0; t < n; t++) comb_f(s->mode, &s->of[dst + t], s->uf[src + t]);
    else
        for (int64_t t = 0; t < n; t++) comb_i(s->mode, &s->oi[dst + t], s->ui[src + t]);
}

static int same_dims(rt_ctx *c, const char *what, const rt_tensor *t, int rank, const int64_t *d) {
    int bad = t->rank != rank;
    for (int i = 0; !bad && i < rank; i++) bad = t->dims[i] != d[i];
    if (!bad) return 0;
    char a[160], b[160];
    return rt_fail(c, "%s has shape %s, expected %s", what, rt_dims_str(t->rank, t->dims, a, sizeof a),
                   rt_dims_str(rank, d, b, sizeof b));
}

static int scatter_common(rt_ctx *c, int kind) {
    const rt_tensor *data = rt_in_req(c, "data"), *ind = data ? rt_in_req(c, "indices") : NULL,
                    *upd = ind ? rt_in_req(c, "updates") : NULL;
    if (!upd) return -1;
    int64_t want[2 * IR_MAX_RANK];
    int n = 0, ax = 0;
    if (kind != 2) {
        int64_t axis;
        if (rt_param_int(c, "axis", &axis)) return -1;
        if ((ax = rt_axis(c, axis, data->rank, "axis")) < 0) return -1;
    }
    if (kind == 0) {
        for (int i = 0; i < ax; i++) want[n++] = data->dims[i];
        for (int i = 0; i < ind->rank; i++) want[n++] = ind->dims[i];
        for (int i = ax + 1; i < data->rank; i++) want[n++] = data->dims[i];
    } else if (kind == 1) {
        if (ind->rank != data->rank) return rt_fail(c, "indices have rank %d, data has rank %d", ind->rank, data->rank);
        for (int i = 0; i < data->rank; i++)
            if (i != ax && ind->dims[i] != data->dims[i])
                return rt_fail(c, "indices dim %d is %lld, data has %lld", i, (long long)ind->dims[i], (long long)data->dims[i]);
        for (int i = 0; i < ind->rank; i++) want[n++] = ind->dims[i];
    } else {
        if (ind->rank < 1 || ind->dims[ind->rank - 1] > data->rank)
            return rt_fail(c, "indices with last dim %lld do not fit rank-%d data", ind->rank ? (long long)ind->dims[ind->rank - 1] : 0LL,
                           data->rank);
        for (int i = 0; i < ind->rank - 1; i++) want[n++] = ind->dims[i];
        for (int i = (int)ind->dims[ind->rank - 1]; i < data->rank; i++) want[n++] = data->dims[i];
    }
    if (n > IR_MAX_RANK) return rt_fail(c, "updates rank exceeds %d", IR_MAX_RANK);
    if (same_dims(c, "updates", upd, n, want)) return -1;
    const int64_t *idx = rt_i64(c, ind);
    scat s;
    if (!idx || scat_begin(c, data, upd, &s)) return -1;
    if (kind == 2) {
        int K = (int)ind->dims[ind->rank - 1];
        int64_t M = prod(ind->dims, 0, ind->rank - 1), S = prod(data->dims, K, data->rank);
        for (int64_t m = 0; m < M; m++) {
            int64_t off = tuple_offset(c, idx + m * K, data->dims, K, 0);
            if (off < 0) return -1;
            scat_apply(&s, off * S, m * S, S);
        }
        return 0;
    }
    int64_t O = prod(data->dims, 0, ax), A = data->dims[ax], I = prod(data->dims, ax + 1, data->rank);
    if (kind == 0) {
        int64_t J = rt_numel(ind);
        for (int64_t p = 0; p < O; p++)
            for (int64_t j = 0; j < J; j++) {
                int64_t q = wrap(c, idx[j], A, ax);
                if (q < 0) return -1;
                scat_apply(&s, (p * A + q) * I, (p * J + j) * I, I);
            }
        return 0;
    }
    int64_t K = ind->dims[ax];
    for (int64_t p = 0; p < O; p++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < I; i++) {
                int64_t at = (p * K + k) * I + i, q = wrap(c, idx[at], A, ax);
                if (q < 0) return -1;
                scat_apply(&s, (p * A + q) * I + i, at, 1);
            }
    return 0;
}

int rt_k_SCATTER(rt_ctx *c) { return scatter_common(c, 0); }
int rt_k_SCATTER_ALONG_AXIS(rt_ctx *c) { return scatter_common(c, 1); }
int rt_k_SCATTER_ND(rt_ctx *c) { return scatter_common(c, 2); }
