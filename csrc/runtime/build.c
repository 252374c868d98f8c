/* build.c: ops that compute their values from positions or run-time sizes:
 * cumsum (axis, exclusive, reverse), one_hot (depth may be a run-time tensor;
 * out-of-range indices give an all-off vector), non_zero (data-dependent row
 * count), fill / fill_like (shape from a run-time tensor / a reference tensor)
 * and range_1d (length ceil((end - start) / step)). */
#include "runtime/rt_internal.h"

#include <math.h>

int rt_k_CUMSUM(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t axis;
    int excl, rev;
    if (rt_param_int(c, "axis", &axis) || rt_param_bool(c, "exclusive", &excl) ||
        rt_param_bool(c, "reverse", &rev))
        return -1;
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    int64_t O = 1, R = x->rank ? x->dims[ax] : 1, I = 1;
    for (int i = 0; i < ax; i++) O *= x->dims[i];
    for (int i = ax + 1; i < x->rank; i++) I *= x->dims[i];
    int is_float = ir_dtype_is_float(x->dtype);
    const float *xf = NULL;
    const int64_t *xi = NULL;
    float *of = NULL;
    int64_t *oi = NULL;
    if (is_float) {
        if (!(xf = rt_f32(c, x)) || !(of = rt_out(c, 0, x->rank, x->dims, IR_FP32))) return -1;
    } else {
        if (!(xi = rt_i64(c, x)) || !(oi = rt_out(c, 0, x->rank, x->dims, IR_INT64))) return -1;
    }
    for (int64_t p = 0; p < O; p++)
        for (int64_t j = 0; j < I; j++) {
            double af = 0;
            int64_t ai = 0;
            for (int64_t t = 0; t < R; t++) {
                int64_t r = rev ? R - 1 - t : t, at = (p * R + r) * I + j;
                if (is_float) {
                    if (excl) of[at] = (float)af;
                    af += xf[at];
                    if (!excl) of[at] = (float)af;
                } else {
                    if (excl) oi[at] = ai;
                    ai = (int64_t)((uint64_t)ai + (uint64_t)xi[at]);
                    if (!excl) oi[at] = ai;
                }
            }
        }
    return 0;
}

int rt_k_ONE_HOT(rt_ctx *c) {
    const rt_tensor *ind = rt_in_req(c, "indices");
    if (!ind || !rt_in_req(c, "one_hot_vector_size")) return -1;
    int64_t D, axis;
    double on, off;
    if (rt_param_int(c, "one_hot_vector_size", &D) || rt_param_int(c, "axis", &axis) ||
        rt_param_float(c, "on_value", &on) || rt_param_float(c, "off_value", &off))
        return -1;
    int r = ind->rank;
    if (D < 0) return rt_fail(c, "one_hot_vector_size must be >= 0, got %lld", (long long)D);
    if (axis < -r - 1 || axis > r) return rt_fail(c, "axis %lld out of range for rank-%d indices", (long long)axis, r);
    if (r + 1 > IR_MAX_RANK) return rt_fail(c, "result rank exceeds %d", IR_MAX_RANK);
    int cut = (int)(axis < 0 ? r + axis + 1 : axis);
    int64_t od[IR_MAX_RANK], O = 1, I = 1;
    for (int i = 0; i <= r; i++) od[i] = i == cut ? D : ind->dims[i < cut ? i : i - 1];
    for (int i = 0; i < cut; i++) O *= ind->dims[i];
    for (int i = cut; i < r; i++) I *= ind->dims[i];
    const int64_t *idx = rt_i64(c, ind);
    double *o = idx ? rt_out(c, 0, r + 1, od, IR_FP64) : NULL;
    if (!o) return -1;
    for (int64_t p = 0; p < O; p++)
        for (int64_t d = 0; d < D; d++)
            for (int64_t i = 0; i < I; i++) o[(p * D + d) * I + i] = idx[p * I + i] == d ? on : off;
    return 0;
}

int rt_k_NON_ZERO(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t n = rt_numel(x), cnt = 0;
    uint8_t *nz = rt_scratch(c, (size_t)(n ? n : 1), 0);
    if (!nz) return -1;
    if (x->dtype == IR_STRING) return rt_fail(c, "x must be numeric");
    rt_convert(nz, IR_BOOL, x->data, x->dtype, n);
    for (int64_t i = 0; i < n; i++) cnt += nz[i] != 0;
    int64_t od[2] = {cnt, x->rank};
    int32_t *o = rt_out(c, 0, 2, od, IR_INT32);
    if (!o) return -1;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!nz[i]) continue;
        int64_t rem = i;
        for (int d = x->rank - 1; d >= 0; d--) {
            o[k * x->rank + d] = (int32_t)(rem % x->dims[d]);
            rem /= x->dims[d];
        }
        k++;
    }
    return 0;
}

/* Output 0 with the given shape, every element the optional `value` (default fp32 0). */
static int fill_with_value(rt_ctx *c, int rank, const int64_t *dims) {
    const rt_tensor *v = rt_in(c, "value");
    static const float zero = 0.0f;
    ir_dtype dt = v ? v->dtype : IR_FP32;
    const void *src = v ? v->data : &zero;
    if (v && rt_numel(v) != 1) return rt_fail(c, "value must be a scalar");
    if (dt == IR_STRING) return rt_fail(c, "value must be numeric");
    char *o = rt_out(c, 0, rank, dims, dt);
    if (!o) return -1;
    size_t es = ir_dtype_size(dt);
    int64_t n = rt_numel_dims(rank, dims);
    for (int64_t i = 0; i < n; i++) memcpy(o + i * (int64_t)es, src, es);
    return 0;
}

int rt_k_FILL(rt_ctx *c) {
    const rt_tensor *st = rt_in_req(c, "shape");
    if (!st) return -1;
    int64_t sh[IR_MAX_RANK];
    int n;
    if (st->rank > 1) return rt_fail(c, "shape must be 1-D");
    if (rt_param_ints(c, "shape", sh, IR_MAX_RANK, &n)) return -1;
    for (int i = 0; i < n; i++)
        if (sh[i] < 0) return rt_fail(c, "shape entry %d is negative (%lld)", i, (long long)sh[i]);
    return fill_with_value(c, n, sh);
}

int rt_k_FILL_LIKE(rt_ctx *c) {
    const rt_tensor *r = rt_in_req(c, "ref_tensor");
    return r ? fill_with_value(c, r->rank, r->dims) : -1;
}

int rt_k_RANGE_1D(rt_ctx *c) {
    const rt_tensor *ts = rt_in_req(c, "start"), *te = ts ? rt_in_req(c, "end") : NULL, *tp = te ? rt_in_req(c, "step") : NULL;
    if (!tp) return -1;
    int is_float = ir_dtype_is_float(ts->dtype) || ir_dtype_is_float(te->dtype) || ir_dtype_is_float(tp->dtype);
    int64_t len;
    if (is_float) {
        double a, b, d;
        if (rt_param_float(c, "start", &a) || rt_param_float(c, "end", &b) || rt_param_float(c, "step", &d)) return -1;
        if (d == 0 || d != d) return rt_fail(c, "step must be a nonzero number");
        double n = ceil((b - a) / d);
        if (!(n < 2147483648.0)) return rt_fail(c, "range of %g elements is too long", n);
        len = n > 0 ? (int64_t)n : 0;
        double *o = rt_out(c, 0, 1, &len, IR_FP64);
        if (!o) return -1;
        for (int64_t i = 0; i < len; i++) o[i] = a + (double)i * d;
        return 0;
    }
    int64_t a, b, d;
    if (rt_param_int(c, "start", &a) || rt_param_int(c, "end", &b) || rt_param_int(c, "step", &d)) return -1;
    if (d == 0) return rt_fail(c, "step must be nonzero");
    double span = ((double)b - (double)a) / (double)d;
    if (span >= 2147483648.0) return rt_fail(c, "range of %g elements is too long", span);
    len = span <= 0 ? 0 : (d > 0 ? (b - a + d - 1) / d : (a - b + (-d) - 1) / (-d));
    int64_t *o = rt_out(c, 0, 1, &len, IR_INT64);
    if (!o) return -1;
    for (int64_t i = 0; i < len; i++) o[i] = a + i * d;
    return 0;
}
