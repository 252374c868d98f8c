/* depthwise.c: direct depthwise conv for 1-D/2-D (groups == C_in, channel
 * multiplier allowed), any stride, dilation and padding.
 *
 * Each input plane is first copied into a zero-padded buffer whose columns are
 * split by stride phase, so every kernel tap reads a contiguous run of the
 * buffer for a row of outputs. Outputs are computed in register blocks of 32
 * (vector extensions), planes in parallel. On x86 an AVX2/FMA build of the inner
 * kernel is chosen at run time. */
#include "runtime/rt_internal.h"

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));

/* Rows of one output plane: y[oh][ow] = bias + sum_t w[t] * P[oh * rs + off[t] + ow]. */
#define DW_PLANE(NAME, ATTR)                                                                                   \
    ATTR static void NAME(const float *P, int64_t rs, const int64_t *off, const float *w, int nt, float bias,  \
                          float *Y, int64_t OH, int64_t OW) {                                                  \
        for (int64_t oh = 0; oh < OH; oh++) {                                                                  \
            const float *base = P + oh * rs;                                                                   \
            float *y = Y + oh * OW;                                                                            \
            int64_t ow = 0;                                                                                    \
            for (; ow + 32 <= OW; ow += 32) {                                                                  \
                v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                                     \
                a0 += bias;                                                                                    \
                a1 += bias;                                                                                    \
                a2 += bias;                                                                                    \
                a3 += bias;                                                                                    \
                for (int t = 0; t < nt; t++) {                                                                 \
                    const float *s = base + off[t] + ow;                                                       \
                    const float wt = w[t];                                                                     \
                    a0 += wt * *(const v8u *)(s);                                                              \
                    a1 += wt * *(const v8u *)(s + 8);                                                          \
                    a2 += wt * *(const v8u *)(s + 16);                                                         \
                    a3 += wt * *(const v8u *)(s + 24);                                                         \
                }                                                                                              \
                *(v8u *)(y + ow) = a0;                                                                         \
                *(v8u *)(y + ow + 8) = a1;                                                                     \
                *(v8u *)(y + ow + 16) = a2;                                                                    \
                *(v8u *)(y + ow + 24) = a3;                                                                    \
            }                                                                                                  \
            for (; ow + 8 <= OW; ow += 8) {                                                                    \
                v8 a0 = {0};                                                                                   \
                a0 += bias;                                                                                    \
                for (int t = 0; t < nt; t++) a0 += w[t] * *(const v8u *)(base + off[t] + ow);                  \
                *(v8u *)(y + ow) = a0;                                                                         \
            }                                                                                                  \
            for (; ow < OW; ow++) {                                                                            \
                float a = bias;                                                                                \
                for (int t = 0; t < nt; t++) a += w[t] * base[off[t] + ow];                                    \
                y[ow] = a;                                                                                     \
            }                                                                                                  \
        }                                                                                                      \
    }

DW_PLANE(dw_plane_generic, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
DW_PLANE(dw_plane_avx2, __attribute__((target("avx2,fma"))))
#else
DW_PLANE(dw_plane_avx2, __attribute__((target("avx2,fma"), optimize("fp-contract=fast"))))
#endif
static int use_avx2(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
#define dw_plane_avx2 dw_plane_generic
static int use_avx2(void) { return 0; }
#endif

typedef struct {
    const float *x, *w, *bias;
    const rt_geom *g;
    int64_t Cin, Cout, mult, K;
    int64_t Hp, Wq, rs;  /* padded rows, columns per phase, floats per padded row */
    int direct;          /* read x in place (no padding, stride 1) */
    const int64_t *off;  /* per tap offset into the padded plane */
    float *y;
    int avx2;
    volatile int failed;
} dw_job;

/* Zero-padded, phase-split copy of plane X into P. */
static void fill_plane(const dw_job *j, const float *X, float *P) {
    const rt_geom *g = j->g;
    int64_t H = g->in[1], W = g->in[2], sw = g->s[2], pt = g->pb[1], pl = g->pb[2];
    for (int64_t r = 0; r < j->Hp; r++) {
        float *prow = P + r * j->rs;
        int64_t ih = r - pt;
        if (ih < 0 || ih >= H) {
            memset(prow, 0, sizeof(float) * (size_t)j->rs);
            continue;
        }
        const float *xr = X + ih * W;
        for (int64_t p = 0; p < sw; p++) {
            float *dst = prow + p * j->Wq;
            /* dst[q] = x[q * sw + p - pl] */
            int64_t c0 = p - pl;
            int64_t lo = c0 >= 0 ? 0 : (-c0 + sw - 1) / sw;
            int64_t hi = (W - 1 - c0) < 0 ? 0 : (W - 1 - c0) / sw + 1;
            if (hi > j->Wq) hi = j->Wq;
            if (lo > hi) lo = hi;
            if (lo) memset(dst, 0, sizeof(float) * (size_t)lo);
            if (sw == 1) {
                if (hi > lo) memcpy(dst + lo, xr + lo + c0, sizeof(float) * (size_t)(hi - lo));
            } else {
                for (int64_t q = lo; q < hi; q++) dst[q] = xr[q * sw + c0];
            }
            if (hi < j->Wq) memset(dst + hi, 0, sizeof(float) * (size_t)(j->Wq - hi));
        }
    }
}

static void dw_range(void *ctx, int64_t lo, int64_t hi) {
    dw_job *j = ctx;
    const rt_geom *g = j->g;
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2], sh = g->s[1];
    float *P = NULL;
    if (!j->direct) {
        size_t np = (size_t)(j->Hp * j->rs);
        P = malloc(sizeof(float) * (np ? np : 1));
        if (!P) {
            j->failed = 1;
            return;
        }
    }
    int64_t last_plane = -1;
    for (int64_t i = lo; i < hi; i++) {
        int64_t n = i / j->Cout, co = i % j->Cout, ci = co / j->mult;
        const float *X = j->x + (n * j->Cin + ci) * H * W;
        const float *src = X;
        if (!j->direct) {
            int64_t plane = n * j->Cin + ci;
            if (plane != last_plane) fill_plane(j, X, P); /* multiplier > 1 reuses the buffer */
            last_plane = plane;
            src = P;
        }
        float *Y = j->y + (n * j->Cout + co) * OH * OW;
        float b = j->bias ? j->bias[co] : 0.0f;
        if (j->avx2) dw_plane_avx2(src, sh * j->rs, j->off, j->w + co * j->K, (int)j->K, b, Y, OH, OW);
        else dw_plane_generic(src, sh * j->rs, j->off, j->w + co * j->K, (int)j->K, b, Y, OH, OW);
    }
    free(P);
}

int rt_conv_depthwise(rt_ctx *c, const float *x, const float *w, const float *bias, const rt_geom *g, int64_t Cout,
                      float *y) {
    dw_job j;
    memset(&j, 0, sizeof j);
    j.x = x;
    j.w = w;
    j.bias = bias;
    j.g = g;
    j.Cin = g->C;
    j.Cout = Cout;
    j.mult = Cout / g->C;
    j.K = g->k[1] * g->k[2];
    j.y = y;
    int64_t KH = g->k[1], KW = g->k[2], dh = g->dil[1], dw = g->dil[2], sw = g->s[2];
    int64_t OH = g->out[1], OW = g->out[2];
    j.Hp = (OH - 1) * g->s[1] + (KH - 1) * dh + 1;
    int64_t Wp = (OW - 1) * sw + (KW - 1) * dw + 1;
    j.direct = g->pb[1] == 0 && g->pb[2] == 0 && sw == 1 && j.Hp <= g->in[1] && Wp <= g->in[2];
    int64_t *off = rt_scratch(c, sizeof(int64_t) * (size_t)j.K, 0);
    if (!off) return -1;
    if (j.direct) {
        j.rs = g->in[2];
        j.Wq = g->in[2];
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) off[kh * KW + kw] = kh * dh * j.rs + kw * dw;
    } else {
        j.Wq = OW + ((KW - 1) * dw) / sw;
        j.rs = sw * j.Wq;
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++)
                off[kh * KW + kw] = kh * dh * j.rs + ((kw * dw) % sw) * j.Wq + (kw * dw) / sw;
    }
    j.off = off;
    j.avx2 = use_avx2();
    rt_parallel_for(g->N * Cout, (double)(2 * j.K * OH * OW), dw_range, &j);
    if (j.failed) {
        rt_fail(c, "out of memory (depthwise conv buffer)");
        c->e->kind = PC_E_NOMEM;
        return -1;
    }
    return 0;
}
