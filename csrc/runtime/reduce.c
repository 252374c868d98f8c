/* reduce.c: reduce_{sum,mean,prod,max,min} and reduce_{l1_norm,l2_norm,
 * log_sum,log_sum_exp,sum_square} over `axes` (None = all) with keep_dims, reduce_argmax/argmin along one axis (int32 result, first index on
 * ties), and softmax along an axis. Reductions view the input as
 * [outer, R, inner]; axes that are not one contiguous block are first gathered
 * into that layout with a transposing copy. */
#include "runtime/rt_internal.h"

#include <math.h>

enum { R_SUM, R_MEAN, R_PROD, R_MAX, R_MIN, R_L1, R_L2, R_LOG_SUM, R_LSE, R_SUM_SQ };

/* The norm-like reductions over [pre, R, inner] (double accumulation; log_sum_exp
 * shifts by the maximum so large inputs do not overflow). */
static void reduce_special(int kind, const float *x, int64_t pre, int64_t R, int64_t inner, double *out) {
    for (int64_t p = 0; p < pre; p++)
        for (int64_t j = 0; j < inner; j++) {
            const float *b = x + p * R * inner + j;
            double acc = 0, m = -INFINITY;
            if (kind == R_LSE) {
                for (int64_t k = 0; k < R; k++) m = b[k * inner] > m || b[k * inner] != b[k * inner] ? b[k * inner] : m;
                if (!isfinite(m)) { /* empty, all -inf, any +inf or nan: the maximum is the answer */
                    out[p * inner + j] = m;
                    continue;
                }
            }
            for (int64_t k = 0; k < R; k++) {
                double v = b[k * inner];
                switch (kind) {
                case R_L1: acc += fabs(v); break;
                case R_LSE: acc += exp(v - m); break;
                case R_LOG_SUM: acc += v; break;
                default: acc += v * v; break; /* l2, sum_square */
                }
            }
            out[p * inner + j] = kind == R_L2 ? sqrt(acc) : kind == R_LOG_SUM ? log(acc) : kind == R_LSE ? log(acc) + m : acc;
        }
}

/* Reduced axes as flags; returns -1 with an error on bad axes. */
static int read_axes(rt_ctx *c, const rt_tensor *x, const char *pname, int *red) {
    int64_t ax[IR_MAX_RANK * 2];
    int n;
    if (rt_param_ints(c, pname, ax, IR_MAX_RANK * 2, &n)) return -1;
    for (int i = 0; i < x->rank; i++) red[i] = n < 0;
    for (int i = 0; i < n; i++) {
        int a = rt_axis(c, ax[i], x->rank, "axis");
        if (a < 0) return -1;
        red[a] = 1;
    }
    return 0;
}

static double fold(int kind, double acc, double v) {
    switch (kind) {
    case R_PROD: return acc * v;
    case R_MAX: return (v > acc || v != v) && acc == acc ? v : acc;
    case R_MIN: return (v < acc || v != v) && acc == acc ? v : acc;
    default: return acc + v;
    }
}

/* Rows of R contiguous elements -> one value each. */
static void reduce_rows_f(int kind, const float *x, int64_t rows, int64_t R, double *out) {
    for (int64_t i = 0; i < rows; i++) {
        const float *p = x + i * R;
        double acc;
        if (kind == R_SUM || kind == R_MEAN) {
            double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            int64_t k = 0;
            for (; k + 4 <= R; k += 4) {
                s0 += p[k];
                s1 += p[k + 1];
                s2 += p[k + 2];
                s3 += p[k + 3];
            }
            for (; k < R; k++) s0 += p[k];
            acc = (s0 + s1) + (s2 + s3);
        } else {
            acc = R ? p[0] : (kind == R_PROD ? 1.0 : kind == R_MAX ? -INFINITY : INFINITY);
            for (int64_t k = 1; k < R; k++) acc = fold(kind, acc, p[k]);
        }
        out[i] = acc;
    }
}

static int reduce_axes(rt_ctx *c, int kind) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int red[IR_MAX_RANK], keep;
    if (read_axes(c, x, "axes", red) || rt_param_bool(c, "keep_dims", &keep)) return -1;
    int r = x->rank, ro = 0;
    int64_t od[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        if (!red[i]) od[ro++] = x->dims[i];
        else if (keep) od[ro++] = 1;
    }
    /* gather layout [kept..., reduced...] */
    int64_t outer = 1, R = 1;
    for (int i = 0; i < r; i++) {
        if (red[i]) R *= x->dims[i];
        else outer *= x->dims[i];
    }
    int is_float = ir_dtype_is_float(x->dtype) || kind >= R_L1;
    const float *xf = NULL;
    const int64_t *xi = NULL;
    if (is_float) xf = rt_f32(c, x);
    else xi = rt_i64(c, x);
    if (!xf && !xi) return -1;
    /* contiguous? (outer, R, inner) with inner possibly > 1 */
    int first = -1, last = -1, contiguous = 1;
    for (int i = 0; i < r; i++)
        if (red[i] && x->dims[i] != 1) {
            if (first < 0) first = i;
            last = i;
        }
    for (int i = first; first >= 0 && i <= last; i++)
        if (!red[i] && x->dims[i] != 1) contiguous = 0;
    int64_t inner = 1;
    for (int i = last + 1; first >= 0 && i < r; i++) inner *= x->dims[i];
    if (first < 0) inner = 1;
    int64_t pre = (first < 0) ? outer : outer / (inner ? inner : 1);
    if (!contiguous && R > 1) {
        /* transposing copy into [kept..., reduced...] */
        int64_t d[IR_MAX_RANK], s[IR_MAX_RANK], st[IR_MAX_RANK];
        int64_t acc = 1;
        for (int i = r - 1; i >= 0; i--) {
            st[i] = acc;
            acc *= x->dims[i];
        }
        int k = 0;
        for (int i = 0; i < r; i++)
            if (!red[i]) d[k] = x->dims[i], s[k] = st[i], k++;
        for (int i = 0; i < r; i++)
            if (red[i]) d[k] = x->dims[i], s[k] = st[i], k++;
        size_t es = is_float ? sizeof(float) : sizeof(int64_t);
        void *t = rt_scratch(c, (size_t)rt_numel(x) * es, 0);
        if (!t) return -1;
        rt_strided_copy(t, is_float ? (const void *)xf : (const void *)xi, es, r, d, s);
        if (is_float) xf = t;
        else xi = t;
        pre = outer;
        inner = 1;
    }
    int64_t nout = outer;
    if (is_float) {
        float *o = rt_out(c, 0, ro, od, IR_FP32);
        double *acc = o ? rt_scratch(c, sizeof(double) * (size_t)(nout ? nout : 1), 0) : NULL;
        if (!acc) return -1;
        if (kind >= R_L1) {
            reduce_special(kind, xf, pre, R, inner, acc);
        } else if (inner == 1) {
            reduce_rows_f(kind, xf, nout, R, acc);
        } else {
            for (int64_t p = 0; p < pre; p++) {
                double *a = acc + p * inner;
                const float *base = xf + p * R * inner;
                for (int64_t j = 0; j < inner; j++) a[j] = R ? base[j] : (kind == R_PROD ? 1.0 : 0.0);
                for (int64_t k = 1; k < R; k++) {
                    const float *row = base + k * inner;
                    if (kind == R_SUM || kind == R_MEAN)
                        for (int64_t j = 0; j < inner; j++) a[j] += row[j];
                    else
                        for (int64_t j = 0; j < inner; j++) a[j] = fold(kind, a[j], row[j]);
                }
            }
        }
        if (R == 0 && (kind == R_SUM || kind == R_MEAN || kind == R_PROD))
            for (int64_t i = 0; i < nout; i++) acc[i] = kind == R_PROD ? 1.0 : kind == R_MEAN ? NAN : 0.0;
        for (int64_t i = 0; i < nout; i++) o[i] = (float)(kind == R_MEAN ? acc[i] / (double)R : acc[i]);
    } else {
        int64_t *o = rt_out(c, 0, ro, od, IR_INT64);
        if (!o) return -1;
        for (int64_t p = 0; p < pre; p++) {
            for (int64_t j = 0; j < inner; j++) {
                const int64_t *base = xi + p * R * inner + j;
                int64_t a = kind == R_PROD ? 1 : kind == R_MAX ? INT64_MIN : kind == R_MIN ? INT64_MAX : 0;
                for (int64_t k = 0; k < R; k++) {
                    int64_t v = base[k * inner];
                    switch (kind) {
                    case R_PROD: a = (int64_t)((uint64_t)a * (uint64_t)v); break;
                    case R_MAX: a = v > a ? v : a; break;
                    case R_MIN: a = v < a ? v : a; break;
                    default: a = (int64_t)((uint64_t)a + (uint64_t)v); break;
                    }
                }
                if (kind == R_MEAN) a = R ? a / R : 0;
                o[p * inner + j] = a;
            }
        }
    }
    return 0;
}

int rt_k_REDUCE_SUM(rt_ctx *c) { return reduce_axes(c, R_SUM); }
int rt_k_REDUCE_MEAN(rt_ctx *c) { return reduce_axes(c, R_MEAN); }
int rt_k_REDUCE_PROD(rt_ctx *c) { return reduce_axes(c, R_PROD); }
int rt_k_REDUCE_MAX(rt_ctx *c) { return reduce_axes(c, R_MAX); }
int rt_k_REDUCE_MIN(rt_ctx *c) { return reduce_axes(c, R_MIN); }
int rt_k_REDUCE_L1_NORM(rt_ctx *c) { return reduce_axes(c, R_L1); }
int rt_k_REDUCE_L2_NORM(rt_ctx *c) { return reduce_axes(c, R_L2); }
int rt_k_REDUCE_LOG_SUM(rt_ctx *c) { return reduce_axes(c, R_LOG_SUM); }
int rt_k_REDUCE_LOG_SUM_EXP(rt_ctx *c) { return reduce_axes(c, R_LSE); }
int rt_k_REDUCE_SUM_SQUARE(rt_ctx *c) { return reduce_axes(c, R_SUM_SQ); }

/* ---- argmax / argmin ---- */
static int reduce_arg(rt_ctx *c, int want_max) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t axis;
    int keep;
    if (rt_param_int(c, "axis", &axis) || rt_param_bool(c, "keep_dims", &keep)) return -1;
    int r = x->rank;
    int ax = rt_axis(c, axis, r, "axis");
    if (ax < 0) return -1;
    int64_t od[IR_MAX_RANK];
    int ro = 0;
    for (int i = 0; i < r; i++) {
        if (i != ax) od[ro++] = x->dims[i];
        else if (keep) od[ro++] = 1;
    }
    int64_t outer = 1, R = r ? x->dims[ax] : 1, inner = 1;
    for (int i = 0; i < ax; i++) outer *= x->dims[i];
    for (int i = ax + 1; i < r; i++) inner *= x->dims[i];
    if (R == 0) return rt_fail(c, "cannot take the arg%s of an empty axis", want_max ? "max" : "min");
    const float *xf = rt_f32(c, x);
    int32_t *o = xf ? rt_out(c, 0, ro, od, IR_INT32) : NULL;
    if (!o) return -1;
    for (int64_t p = 0; p < outer; p++) {
        for (int64_t j = 0; j < inner; j++) {
            const float *base = xf + p * R * inner + j;
            float best = base[0];
            int32_t bi = 0;
            for (int64_t k = 1; k < R && best == best; k++) {
                float v = base[k * inner];
                if (v != v || (want_max ? v > best : v < best)) {
                    best = v;
                    bi = (int32_t)k;
                }
            }
            o[p * inner + j] = bi;
        }
    }
    return 0;
}

int rt_k_REDUCE_ARGMAX(rt_ctx *c) { return reduce_arg(c, 1); }
int rt_k_REDUCE_ARGMIN(rt_ctx *c) { return reduce_arg(c, 0); }

/* ---- softmax ---- */
typedef struct {
    const float *x;
    float *o;
    int64_t R, inner;
} sm_job;

static void softmax_rows(void *ctx, int64_t lo, int64_t hi);
static void softmax_one(const sm_job *j, int64_t p) {
    int64_t R = j->R, inner = j->inner;
    const float *x = j->x + p * R * inner;
    float *o = j->o + p * R * inner;
    if (inner == 1) {
        float m = -INFINITY;
        for (int64_t k = 0; k < R; k++) m = x[k] > m ? x[k] : m;
        double s = 0;
        for (int64_t k = 0; k < R; k++) {
            o[k] = expf(x[k] - m);
            s += o[k];
        }
        float inv = (float)(1.0 / s);
        for (int64_t k = 0; k < R; k++) o[k] *= inv;
        return;
    }
    for (int64_t i = 0; i < inner; i++) {
        float m = -INFINITY;
        for (int64_t k = 0; k < R; k++) m = x[k * inner + i] > m ? x[k * inner + i] : m;
        double s = 0;
        for (int64_t k = 0; k < R; k++) {
            float e = expf(x[k * inner + i] - m);
            o[k * inner + i] = e;
            s += e;
        }
        float inv = (float)(1.0 / s);
        for (int64_t k = 0; k < R; k++) o[k * inner + i] *= inv;
    }
}

static void softmax_rows(void *ctx, int64_t lo, int64_t hi) {
    for (int64_t p = lo; p < hi; p++) softmax_one(ctx, p);
}

int rt_k_SOFTMAX(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t axis;
    if (rt_param_int(c, "axis", &axis)) return -1;
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    sm_job j;
    j.x = rt_f32(c, x);
    j.o = j.x ? rt_out(c, 0, x->rank, x->dims, IR_FP32) : NULL;
    if (!j.o) return -1;
    int64_t outer = 1;
    j.R = x->rank ? x->dims[ax] : 1;
    j.inner = 1;
    for (int i = 0; i < ax; i++) outer *= x->dims[i];
    for (int i = ax + 1; i < x->rank; i++) j.inner *= x->dims[i];
    rt_parallel_for(outer, 30.0 * (double)(j.R * j.inner), softmax_rows, &j);
    return 0;
}
