/* norm_image.c: instance_norm (per sample and channel over the spatial dims; optional
 * gamma / beta [C]; biased variance), l2_norm (x / sqrt(sum(x^2) + epsilon) over
 * the last three dims, leading dims are batch) and local_response_norm
 * (x / (k + alpha / size * sum of squares over a window of `size` channels)^beta,
 * the window covering channels c - size/2 .. c + (size-1)/2 like torch). */
#include "runtime/rt_internal.h"

#include <math.h>

int rt_k_INSTANCE_NORM(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    if (x->rank < 3) return rt_fail(c, "x must have rank >= 3, got %d", x->rank);
    double eps;
    if (rt_param_float(c, "epsilon", &eps)) return -1;
    int64_t N = x->dims[0], C = x->dims[1], S = 1;
    for (int i = 2; i < x->rank; i++) S *= x->dims[i];
    const rt_tensor *ps[2] = {rt_in(c, "gamma"), rt_in(c, "beta")};
    const float *pf[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        if (!ps[k]) continue;
        if (rt_numel(ps[k]) != C)
            return rt_fail(c, "%s has %lld values for %lld channels", k ? "beta" : "gamma", (long long)rt_numel(ps[k]),
                           (long long)C);
        if (!(pf[k] = rt_f32(c, ps[k]))) return -1;
    }
    const float *xf = rt_f32(c, x);
    float *y = xf ? rt_out(c, 0, x->rank, x->dims, IR_FP32) : NULL;
    if (!y) return -1;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            const float *xp = xf + (n * C + ch) * S;
            float *yp = y + (n * C + ch) * S;
            double s = 0, v = 0;
            for (int64_t i = 0; i < S; i++) s += xp[i];
            double m = S ? s / (double)S : 0.0;
            for (int64_t i = 0; i < S; i++) v += (xp[i] - m) * (xp[i] - m);
            double inv = 1.0 / sqrt((S ? v / (double)S : 0.0) + eps);
            double g = pf[0] ? pf[0][ch] : 1.0, b = pf[1] ? pf[1][ch] : 0.0;
            float a = (float)(inv * g), sh = (float)(b - m * inv * g);
            for (int64_t i = 0; i < S; i++) yp[i] = xp[i] * a + sh;
        }
    return 0;
}

int rt_k_L2_NORM(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    if (x->rank < 3) return rt_fail(c, "x must have rank >= 3, got %d", x->rank);
    double eps;
    if (rt_param_float(c, "epsilon", &eps)) return -1;
    int64_t G = x->dims[x->rank - 1] * x->dims[x->rank - 2] * x->dims[x->rank - 3];
    int64_t B = G ? rt_numel(x) / G : 0;
    const float *xf = rt_f32(c, x);
    float *y = xf ? rt_out(c, 0, x->rank, x->dims, IR_FP32) : NULL;
    if (!y) return -1;
    for (int64_t b = 0; b < B; b++) {
        const float *xp = xf + b * G;
        double s = 0;
        for (int64_t i = 0; i < G; i++) s += (double)xp[i] * xp[i];
        float inv = (float)(1.0 / sqrt(s + eps));
        for (int64_t i = 0; i < G; i++) y[b * G + i] = xp[i] * inv;
    }
    return 0;
}

int rt_k_LOCAL_RESPONSE_NORM(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x || !rt_in_req(c, "size")) return -1;
    int64_t size;
    double alpha, beta, k;
    if (rt_param_int(c, "size", &size) || rt_param_float(c, "alpha", &alpha) ||
        rt_param_float(c, "beta", &beta) || rt_param_float(c, "k", &k))
        return -1;
    if (size < 1) return rt_fail(c, "size must be >= 1, got %lld", (long long)size);
    if (x->rank < 3) return rt_fail(c, "x must have rank >= 3, got %d", x->rank);
    int64_t N = x->dims[0], C = x->dims[1], S = 1;
    for (int i = 2; i < x->rank; i++) S *= x->dims[i];
    const float *xf = rt_f32(c, x);
    float *y = xf ? rt_out(c, 0, x->rank, x->dims, IR_FP32) : NULL;
    double *acc = y ? rt_scratch(c, sizeof(double) * (size_t)(S ? S : 1), 0) : NULL;
    if (!acc) return -1;
    int64_t lo = size / 2, hi = (size - 1) / 2;
    double scale = alpha / (double)size;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            for (int64_t i = 0; i < S; i++) acc[i] = 0;
            int64_t c0 = ch - lo < 0 ? 0 : ch - lo, c1 = ch + hi >= C ? C - 1 : ch + hi;
            for (int64_t q = c0; q <= c1; q++) {
                const float *xq = xf + (n * C + q) * S;
                for (int64_t i = 0; i < S; i++) acc[i] += (double)xq[i] * xq[i];
            }
            const float *xp = xf + (n * C + ch) * S;
            float *yp = y + (n * C + ch) * S;
            for (int64_t i = 0; i < S; i++) yp[i] = (float)(xp[i] / pow(k + scale * acc[i], beta));
        }
    return 0;
}
