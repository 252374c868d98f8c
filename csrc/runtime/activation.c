/* activation.c: per-channel activations on dim 1 (MIL activation.py):
 * prelu (x > 0 ? x : alpha[c] * x) and softplus_parametric
 * (alpha[c] * log(1 + exp(beta[c] * x)), computed without overflow). */
#include "runtime/rt_internal.h"

#include <math.h>

/* Per-channel parameter `name`: C values in fp32, or NULL with an error. */
static const float *channel_param(rt_ctx *c, const char *name, int64_t C) {
    const rt_tensor *p = rt_in_req(c, name);
    if (!p) return NULL;
    if (rt_numel(p) != C) {
        rt_fail(c, "%s has %lld values for %lld channels", name, (long long)rt_numel(p), (long long)C);
        return NULL;
    }
    return rt_f32(c, p);
}

static int channel_act(rt_ctx *c, int softplus) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    if (x->rank < 2) return rt_fail(c, "x must have rank >= 2, got %d", x->rank);
    int64_t N = x->dims[0], C = x->dims[1], inner = 1;
    for (int i = 2; i < x->rank; i++) inner *= x->dims[i];
    const float *al = channel_param(c, "alpha", C), *be = al && softplus ? channel_param(c, "beta", C) : NULL;
    if (!al || (softplus && !be)) return -1;
    const float *xf = rt_f32(c, x);
    float *y = xf ? rt_out(c, 0, x->rank, x->dims, IR_FP32) : NULL;
    if (!y) return -1;
    for (int64_t n = 0; n < N; n++)
        for (int64_t ch = 0; ch < C; ch++) {
            const float *xp = xf + (n * C + ch) * inner;
            float *yp = y + (n * C + ch) * inner;
            float a = al[ch];
            if (!softplus) {
                for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] > 0 ? xp[i] : a * xp[i];
            } else {
                float b = be[ch];
                for (int64_t i = 0; i < inner; i++) {
                    float z = b * xp[i];
                    yp[i] = a * (log1pf(expf(-fabsf(z))) + (z > 0 ? z : 0.0f));
                }
            }
        }
    return 0;
}

int rt_k_PRELU(rt_ctx *c) { return channel_act(c, 0); }
int rt_k_SOFTPLUS_PARAMETRIC(rt_ctx *c) { return channel_act(c, 1); }
