/* norm.c: batch_norm (per-channel on dim 1 with mean, variance, optional gamma /
 * beta, epsilon) and layer_norm (over `axes`, default all; gamma / beta shaped
 * like the normalized dims; biased variance, two passes in double). */
#include "runtime/rt_internal.h"

#include <math.h>

int rt_k_BATCH_NORM(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *mean = x ? rt_in_req(c, "mean") : NULL,
                    *var = mean ? rt_in_req(c, "variance") : NULL;
    if (!var) return -1;
    const rt_tensor *gam = rt_in(c, "gamma"), *bet = rt_in(c, "beta");
    double eps;
    if (rt_param_float(c, "epsilon", &eps)) return -1;
    if (x->rank < 2) return rt_fail(c, "x must have rank >= 2, got %d", x->rank);
    int64_t C = x->dims[1], inner = 1, N = x->dims[0];
    for (int i = 2; i < x->rank; i++) inner *= x->dims[i];
    const rt_tensor *ps[4] = {mean, var, gam, bet};
    static const char *names[4] = {"mean", "variance", "gamma", "beta"};
    const float *pf[4] = {0};
    for (int k = 0; k < 4; k++) {
        if (!ps[k]) continue;
        if (rt_numel(ps[k]) != C)
            return rt_fail(c, "%s has %lld values for %lld channels", names[k], (long long)rt_numel(ps[k]), (long long)C);
        if (!(pf[k] = rt_f32(c, ps[k]))) return -1;
    }
    float *scale = rt_scratch(c, sizeof(float) * (size_t)(2 * C + 1), 0);
    const float *xf = scale ? rt_f32(c, x) : NULL;
    float *y = xf ? rt_out(c, 0, x->rank, x->dims, IR_FP32) : NULL;
    if (!y) return -1;
    float *shift = scale + C;
    for (int64_t ch = 0; ch < C; ch++) {
        double s = 1.0 / sqrt((double)pf[1][ch] + eps);
        if (pf[2]) s *= pf[2][ch];
        scale[ch] = (float)s;
        shift[ch] = (float)((pf[3] ? pf[3][ch] : 0.0) - pf[0][ch] * s);
    }
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            const float *xp = xf + (n * C + ch) * inner;
            float *yp = y + (n * C + ch) * inner;
            float a = scale[ch], b = shift[ch];
            for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] * a + b;
        }
    return 0;
}

typedef struct {
    const float *x, *g, *b;
    float *y;
    int64_t R;
    double eps;
} ln_job;

static void ln_rows(void *ctx, int64_t lo, int64_t hi) {
    const ln_job *j = ctx;
    int64_t R = j->R;
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->x + r * R;
        float *y = j->y + r * R;
        double s = 0, v = 0;
        for (int64_t k = 0; k < R; k++) s += x[k];
        double m = R ? s / (double)R : 0.0;
        for (int64_t k = 0; k < R; k++) {
            double d = x[k] - m;
            v += d * d;
        }
        float inv = (float)(1.0 / sqrt((R ? v / (double)R : 0.0) + j->eps)), mf = (float)m;
        for (int64_t k = 0; k < R; k++) {
            float t = (x[k] - mf) * inv;
            if (j->g) t *= j->g[k];
            if (j->b) t += j->b[k];
            y[k] = t;
        }
    }
}

int rt_k_LAYER_NORM(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    const rt_tensor *gam = rt_in(c, "gamma"), *bet = rt_in(c, "beta");
    double eps;
    if (rt_param_float(c, "epsilon", &eps)) return -1;
    int r = x->rank, red[IR_MAX_RANK];
    int64_t ax[IR_MAX_RANK * 2];
    int n;
    if (rt_param_ints(c, "axes", ax, IR_MAX_RANK * 2, &n)) return -1;
    for (int i = 0; i < r; i++) red[i] = n < 0;
    for (int i = 0; i < n; i++) {
        int a = rt_axis(c, ax[i], r, "axis");
        if (a < 0) return -1;
        red[a] = 1;
    }
    int64_t R = 1, rows = 1;
    for (int i = 0; i < r; i++) {
        if (red[i]) R *= x->dims[i];
        else rows *= x->dims[i];
    }
    if (gam && rt_numel(gam) != R) return rt_fail(c, "gamma has %lld values, the normalized shape has %lld", (long long)rt_numel(gam), (long long)R);
    if (bet && rt_numel(bet) != R) return rt_fail(c, "beta has %lld values, the normalized shape has %lld", (long long)rt_numel(bet), (long long)R);
    ln_job j;
    j.eps = eps;
    j.R = R;
    j.x = rt_f32(c, x);
    j.g = (j.x && gam) ? rt_f32(c, gam) : NULL;
    j.b = (j.x && bet) ? rt_f32(c, bet) : NULL;
    if (!j.x || (gam && !j.g) || (bet && !j.b)) return -1;
    float *y = rt_out(c, 0, r, x->dims, IR_FP32);
    if (!y) return -1;
    /* trailing axes: rows in place; otherwise gather [kept..., normalized...] and scatter back */
    int trailing = 1, seen_red = 0;
    for (int i = 0; i < r; i++) {
        if (red[i]) seen_red = 1;
        else if (seen_red && x->dims[i] != 1) trailing = 0;
    }
    if (trailing) {
        j.y = y;
        rt_parallel_for(rows, 8.0 * (double)R, ln_rows, &j);
        return 0;
    }
    int64_t st[IR_MAX_RANK], acc = 1, d[IR_MAX_RANK], s[IR_MAX_RANK], perm[IR_MAX_RANK];
    for (int i = r - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= x->dims[i];
    }
    int k = 0;
    for (int i = 0; i < r; i++)
        if (!red[i]) perm[k++] = i;
    for (int i = 0; i < r; i++)
        if (red[i]) perm[k++] = i;
    for (int i = 0; i < r; i++) {
        d[i] = x->dims[perm[i]];
        s[i] = st[perm[i]];
    }
    int64_t total = rt_numel(x);
    float *tx = rt_scratch(c, sizeof(float) * (size_t)total, 0), *ty = tx ? rt_scratch(c, sizeof(float) * (size_t)total, 0) : NULL;
    if (!ty) return -1;
    rt_strided_copy(tx, j.x, sizeof(float), r, d, s);
    j.x = tx;
    j.y = ty;
    rt_parallel_for(rows, 8.0 * (double)R, ln_rows, &j);
    /* scatter back: y[orig] = ty[permuted]; iterate y in C order reading ty with inverse strides */
    int64_t pst[IR_MAX_RANK], inv[IR_MAX_RANK];
    acc = 1;
    for (int i = r - 1; i >= 0; i--) {
        pst[i] = acc;
        acc *= d[i];
    }
    for (int i = 0; i < r; i++) inv[perm[i]] = pst[i];
    rt_strided_copy(y, ty, sizeof(float), r, x->dims, inv);
    return 0;
}
