/* depthwise.c: direct depthwise conv for 1-D/2-D (groups == C_in, channel
 * multiplier allowed), any stride, dilation and padding.
 *
 * Unpadded stride-1 planes whose width is a multiple of 8 are read in place, a
 * row of outputs at a time (DW_PLANE). Every other plane is first copied into a
 * zero-padded buffer split into stride-phase planes (DW_FILL), in which each tap
 * of the whole output plane reads one contiguous run, so the plane is computed as
 * one flat run with no per-row tails (DW_FLAT). Outputs are computed in register
 * blocks (GCC/clang vector extensions), planes in parallel. On x86 an AVX2/FMA
 * build of the kernels is chosen at run time. */
#include "runtime/rt_internal.h"

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));

/* The four accumulators acc0..acc3 += wt * the 32 floats at s; store them (+ add) at d. */
#define DW_FMA4(acc, s, wt)                                                                                    \
    (acc##0 += (wt) * *(const v8u *)(s), acc##1 += (wt) * *(const v8u *)((s) + 8),                           \
     acc##2 += (wt) * *(const v8u *)((s) + 16), acc##3 += (wt) * *(const v8u *)((s) + 24))
#define DW_STORE4(d, acc, add)                                                                                 \
    (*(v8u *)(d) = acc##0 + (add), *(v8u *)((d) + 8) = acc##1 + (add), *(v8u *)((d) + 16) = acc##2 + (add),   \
     *(v8u *)((d) + 24) = acc##3 + (add))

/* Rows of one output plane: y[oh][ow] = bias + sum_t w[t] * P[oh * rs + off[t] + ow].
 * Blocks of 32 outputs keep 4 independent accumulators; the last < 32 outputs use
 * ceil(r / 8) vectors (the buffer holds whole vectors per row) with taps split
 * over two accumulator sets so short rows are not one long FMA latency chain. */
#define DW_ACC(k) a##k += wa * *(const v8u *)(sa + 8 * k), b##k += wb * *(const v8u *)(sb + 8 * k)
#define DW_TAIL(NB, ...)                                                                                       \
    {                                                                                                          \
        v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};                     \
        int t = 0;                                                                                             \
        for (; t + 2 <= nt; t += 2) {                                                                          \
            const float *sa = base + off[t] + ow, *sb = base + off[t + 1] + ow;                                \
            const float wa = w[t], wb = w[t + 1];                                                              \
            __VA_ARGS__;                                                                                       \
        }                                                                                                      \
        if (t < nt) {                                                                                          \
            const float *sa = base + off[t] + ow, *sb = sa;                                                    \
            const float wa = w[t], wb = 0.0f;                                                                  \
            __VA_ARGS__;                                                                                       \
        }                                                                                                      \
        float tmp[32];                                                                                         \
        *(v8u *)(tmp) = a0 + b0 + bias;                                                                        \
        if (NB > 1) *(v8u *)(tmp + 8) = a1 + b1 + bias;                                                        \
        if (NB > 2) *(v8u *)(tmp + 16) = a2 + b2 + bias;                                                       \
        if (NB > 3) *(v8u *)(tmp + 24) = a3 + b3 + bias;                                                       \
        memcpy(y + ow, tmp, sizeof(float) * (size_t)(OW - ow));                                                \
    }

/* Two output rows at once in blocks of 32: eight independent accumulators, so the
 * FMA latency chains of the one-row loop overlap. */
#define DW_ROWS2(NAME, ATTR)                                                                                   \
    ATTR static int64_t NAME(const float *b0p, const float *b1p, const int64_t *off, const float *w, int nt,   \
                             float bias, float *y0, float *y1, int64_t OW) {                                   \
        int64_t ow = 0;                                                                                        \
        for (; ow + 32 <= OW; ow += 32) {                                                                      \
            v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};                 \
            a0 += bias;                                                                                        \
            a1 += bias;                                                                                        \
            a2 += bias;                                                                                        \
            a3 += bias;                                                                                        \
            c0 += bias;                                                                                        \
            c1 += bias;                                                                                        \
            c2 += bias;                                                                                        \
            c3 += bias;                                                                                        \
            for (int t = 0; t < nt; t++) {                                                                     \
                DW_FMA4(a, b0p + off[t] + ow, w[t]);                                                           \
                DW_FMA4(c, b1p + off[t] + ow, w[t]);                                                           \
            }                                                                                                  \
            DW_STORE4(y0 + ow, a, 0.0f);                                                                       \
            DW_STORE4(y1 + ow, c, 0.0f);                                                                       \
        }                                                                                                      \
        return ow;                                                                                             \
    }

#define DW_PLANE(NAME, ROWS2, ATTR)                                                                            \
    ATTR static void NAME(const float *P, int64_t rs, const int64_t *off, const float *w, int nt, float bias,  \
                          float *Y, int64_t OH, int64_t OW) {                                                  \
        for (int64_t oh = 0; oh < OH; oh++) {                                                                  \
            const float *base = P + oh * rs;                                                                   \
            float *y = Y + oh * OW;                                                                            \
            int64_t ow = 0;                                                                                    \
            if (oh + 1 < OH && OW >= 32) { /* a row pair: the 32-blocks of both, then each row's tail */      \
                int64_t done = ROWS2(base, base + rs, off, w, nt, bias, y, y + OW, OW);                        \
                const float *base1 = base + rs;                                                                \
                float *y1 = y + OW;                                                                            \
                ow = done;                                                                                     \
                {                                                                                              \
                    const float *base = base1;                                                                 \
                    float *y = y1;                                                                             \
                    DW_TAILS                                                                                   \
                }                                                                                              \
                ow = done;                                                                                     \
                DW_TAILS                                                                                       \
                oh++;                                                                                          \
                continue;                                                                                      \
            }                                                                                                  \
            for (; ow + 32 <= OW; ow += 32) {                                                                  \
                v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};                                                     \
                a0 += bias;                                                                                    \
                a1 += bias;                                                                                    \
                a2 += bias;                                                                                    \
                a3 += bias;                                                                                    \
                for (int t = 0; t < nt; t++) DW_FMA4(a, base + off[t] + ow, w[t]);                             \
                DW_STORE4(y + ow, a, 0.0f);                                                                    \
            }                                                                                                  \
            DW_TAILS                                                                                           \
        }                                                                                                      \
    }

/* the last < 32 outputs of a row (base, y, ow in scope) */
#define DW_TAILS                                                                                               \
    switch ((OW - ow + 7) / 8) {                                                                               \
    case 1: DW_TAIL(1, DW_ACC(0)) break;                                                                       \
    case 2: DW_TAIL(2, DW_ACC(0), DW_ACC(1)) break;                                                            \
    case 3: DW_TAIL(3, DW_ACC(0), DW_ACC(1), DW_ACC(2)) break;                                                 \
    case 4: DW_TAIL(4, DW_ACC(0), DW_ACC(1), DW_ACC(2), DW_ACC(3)) break;                                      \
    default: break;                                                                                            \
    }

/* A padded plane, flattened: with phase-plane rows rs floats apart and output
 * (oh, ow) at index i = oh * rs + ow, every tap reads P[i + off[t]], so the whole
 * plane is one run of i computed in blocks of 64, then 32 (the rs - OW columns past each
 * row's end are computed and dropped). No per-row tails: small planes (OW well
 * under 32) keep whole vectors busy. Z gets the flat outputs (n32 floats); P
 * must be readable up to n32 + max(off). */
#define DW_FLAT(NAME, ATTR)                                                                                    \
    ATTR static void NAME(const float *P, int64_t rs, const int64_t *off, const float *w, int nt, float bias,  \
                          float *Y, int64_t OH, int64_t OW, float *Z, int64_t n32) {                           \
        int64_t i = 0;                                                                                         \
        for (; i + 64 <= n32; i += 64) { /* 64 outputs: eight accumulators from one tap at a time */           \
            v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};                 \
            for (int t = 0; t < nt; t++) {                                                                     \
                const float *s = P + off[t] + i;                                                               \
                DW_FMA4(a, s, w[t]);                                                                           \
                DW_FMA4(b, s + 32, w[t]);                                                                      \
            }                                                                                                  \
            DW_STORE4(Z + i, a, bias);                                                                         \
            DW_STORE4(Z + i + 32, b, bias);                                                                    \
        }                                                                                                      \
        for (; i < n32; i += 32) { /* taps in pairs over two accumulator sets */                           \
            v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, c0 = {0}, c1 = {0}, c2 = {0}, c3 = {0};                 \
            int t = 0;                                                                                         \
            for (; t + 2 <= nt; t += 2) {                                                                      \
                DW_FMA4(a, P + off[t] + i, w[t]);                                                              \
                DW_FMA4(c, P + off[t + 1] + i, w[t + 1]);                                                      \
            }                                                                                                  \
            if (t < nt) DW_FMA4(a, P + off[t] + i, w[t]);                                                      \
            v8 s0 = a0 + c0, s1 = a1 + c1, s2 = a2 + c2, s3 = a3 + c3;                                         \
            DW_STORE4(Z + i, s, bias);                                                                         \
        }                                                                                                      \
        for (int64_t oh = 0; oh < OH; oh++) memcpy(Y + oh * OW, Z + oh * rs, sizeof(float) * (size_t)OW);     \
    }

DW_FLAT(dw_flat_generic, )
DW_ROWS2(dw_rows2_generic, )
DW_PLANE(dw_plane_generic, dw_rows2_generic, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#if defined(__clang__)
#define DW_AVX2 __attribute__((target("avx2,fma")))
#else
#define DW_AVX2 __attribute__((target("avx2,fma"), optimize("fp-contract=fast")))
#endif
DW_ROWS2(dw_rows2_avx2, DW_AVX2)
DW_PLANE(dw_plane_avx2, dw_rows2_avx2, DW_AVX2)
DW_FLAT(dw_flat_avx2, DW_AVX2)
static int cpu_avx2(void) {
    /* the cpu model is initialised by libgcc's constructor before any of our code runs */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
/* Per conv: AVX2 unless the CPU lacks it or PT2COREML_RT_PORTABLE is set (tests run
 * the portable loops so). */
static int use_avx2(void) { return !rt_portable_kernels() && cpu_avx2(); }
#else
#define dw_plane_avx2 dw_plane_generic
#define dw_flat_avx2 dw_flat_generic
static int cpu_avx2(void) { return 0; }
static int use_avx2(void) { return 0; }
#endif

typedef struct {
    const float *x, *w, *bias;
    const rt_geom *g;
    int64_t Cin, Cout, mult, K;
    int64_t Hp, Wq, rs;  /* rows read; columns of a phase plane; floats between the rows a kernel reads */
    int direct;          /* read x in place (no padding, stride 1) */
    int64_t Hq, np;      /* rows per phase plane; floats of the padded plane buffer */
    int64_t n32, slack;  /* flat outputs computed per plane; zeroed floats past np */
    const int64_t *off;  /* per tap offset into the padded plane */
    float *y;
    int avx2;
    volatile int failed;
} dw_job;

#if defined(__clang__)
#define EVEN8(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#define ODD8(a, b) __builtin_shufflevector(a, b, 1, 3, 5, 7, 9, 11, 13, 15)
#else
typedef int v8i __attribute__((vector_size(32)));
#define EVEN8(a, b) __builtin_shuffle(a, b, (v8i){0, 2, 4, 6, 8, 10, 12, 14})
#define ODD8(a, b) __builtin_shuffle(a, b, (v8i){1, 3, 5, 7, 9, 11, 13, 15})
#endif

/* dst[q] = xr[q * s + c0] for q in [lo, hi) (all inside the row of W floats). */
#define DW_GATHER(NAME, ATTR)                                                                                  \
    ATTR static void NAME(float *dst, const float *xr, int64_t W, int64_t lo, int64_t hi, int64_t s,           \
                          int64_t c0) {                                                                        \
        int64_t q = lo;                                                                                        \
        if (s == 1) {                                                                                          \
            if (hi > lo) memcpy(dst + lo, xr + lo + c0, sizeof(float) * (size_t)(hi - lo));                    \
            return;                                                                                            \
        }                                                                                                      \
        if (s == 2) /* 16 loads -> 8 even lanes, staying inside the row */                                     \
            for (; q + 8 <= hi && 2 * q + c0 + 16 <= W; q += 8) {                                              \
                const float *p = xr + 2 * q + c0;                                                              \
                v8 a = *(const v8u *)p, b = *(const v8u *)(p + 8);                                             \
                *(v8u *)(dst + q) = EVEN8(a, b);                                                               \
            }                                                                                                  \
        for (; q < hi; q++) dst[q] = xr[q * s + c0];                                                           \
    }

DW_GATHER(gather_generic, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DW_GATHER(gather_avx2, __attribute__((target("avx2,fma"))))
#else
#define gather_avx2 gather_generic
#endif

void rt_row_gather(float *dst, const float *xr, int64_t W, int64_t lo, int64_t hi, int64_t s, int64_t c0) {
    (cpu_avx2() ? gather_avx2 : gather_generic)(dst, xr, W, lo, hi, s, c0); /* per row: no getenv */
}

/* Zero-padded, phase-split copy of plane X into P: padded row r, column phase p
 * holds x[r - pt][q * sw + p - pl] at q (0 outside x), in the plane of its (row
 * phase r % sh, column phase p), Hq rows of Wq floats each, so every tap of a
 * strided conv reads one contiguous run: P + ((r % sh * sw + p) * Hq + r / sh) * Wq.
 * Only the positions that hold x are written: P is zeroed once per thread, and the
 * padding positions are the same for every plane. */
#define DW_FILL(NAME, ATTR)                                                                                    \
    ATTR static void NAME(const dw_job *j, const float *X, float *P) {                                         \
        const rt_geom *g = j->g;                                                                               \
        int64_t H = g->in[1], W = g->in[2], sh = g->s[1], sw = g->s[2], pt = g->pb[1], pl = g->pb[2];          \
        int64_t pstride = j->Hq * j->Wq, r0 = PC_MAX(0, pt), r1 = PC_MIN(sh * j->Hq, H + pt);                  \
        for (int64_t r = r0; r < r1; r++) {                                                                    \
            float *prow = P + ((r % sh) * sw * j->Hq + r / sh) * j->Wq;                                        \
            const float *xr = X + (r - pt) * W;                                                                \
            for (int64_t p = 0; p < sw; p++) {                                                                 \
                int64_t c0 = p - pl;                                                                           \
                int64_t lo = c0 >= 0 ? 0 : (-c0 + sw - 1) / sw;                                                \
                int64_t hi = (W - 1 - c0) < 0 ? 0 : (W - 1 - c0) / sw + 1;                                     \
                if (hi > j->Wq) hi = j->Wq;                                                                    \
                if (lo < hi) GATHER(prow + p * pstride, xr, W, lo, hi, sw, c0);                                \
            }                                                                                                  \
        }                                                                                                      \
    }

#define GATHER gather_generic
DW_FILL(fill_generic, )
#undef GATHER
#define GATHER gather_avx2
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DW_FILL(fill_avx2, __attribute__((target("avx2,fma"))))
#else
#define fill_avx2 fill_generic
#endif
#undef GATHER

/* DW_FILL for column stride 2, in one pass per x row: x[i] goes to column phase
 * (i + pl) % 2 at (i + pl) / 2, so 16 loads deal 8 floats to each phase plane (the
 * general fill reads each row once per phase and calls a gather per phase and row).
 * Writes the same positions as DW_FILL. */
#define DW_FILL2(NAME, ATTR)                                                                                   \
    ATTR static void NAME(const dw_job *j, const float *X, float *P) {                                         \
        const rt_geom *g = j->g;                                                                               \
        int64_t H = g->in[1], W = g->in[2], sh = g->s[1], pt = g->pb[1], pl = g->pb[2], Wq = j->Wq;            \
        int64_t pstride = j->Hq * Wq, r0 = PC_MAX(0, pt), r1 = PC_MIN(sh * j->Hq, H + pt);                     \
        /* x[t + 2m] -> phase pe at t / 2 + qe + m, x[t + 2m + 1] -> phase 1 - pe at t / 2 + qo + m */        \
        int64_t pe = pl & 1, qe = pl >> 1, qo = (pl + 1) >> 1, tv = 0;                                         \
        while (tv + 16 <= W && tv / 2 + PC_MAX(qe, qo) + 8 <= Wq) tv += 16;                                    \
        for (int64_t r = r0; r < r1; r++) {                                                                    \
            float *pr = P + ((r % sh) * 2 * j->Hq + r / sh) * Wq;                                              \
            float *de = pr + pe * pstride + qe, *dd = pr + (1 - pe) * pstride + qo;                            \
            const float *xr = X + (r - pt) * W;                                                                \
            for (int64_t t = 0; t < tv; t += 16) {                                                             \
                v8 a = *(const v8u *)(xr + t), b = *(const v8u *)(xr + t + 8);                                 \
                *(v8u *)(de + t / 2) = EVEN8(a, b);                                                            \
                *(v8u *)(dd + t / 2) = ODD8(a, b);                                                             \
            }                                                                                                  \
            for (int64_t i = tv; i < W; i++) {                                                                 \
                int64_t q = (i + pl) >> 1;                                                                     \
                if (q < Wq) pr[((i + pl) & 1) * pstride + q] = xr[i];                                          \
            }                                                                                                  \
        }                                                                                                      \
    }

DW_FILL2(fill2_generic, )
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
DW_FILL2(fill2_avx2, __attribute__((target("avx2,fma"))))
#else
#define fill2_avx2 fill2_generic
#endif

static void dw_range(void *ctx, int64_t lo, int64_t hi) {
    dw_job *j = ctx;
    const rt_geom *g = j->g;
    int64_t H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2], sh = g->s[1];
    float *P = NULL, *Z = NULL;
    if (!j->direct) {
        size_t np = (size_t)j->np;
        P = malloc(sizeof(float) * (np + (size_t)(j->slack + j->n32) + 1));
        if (!P) {
            j->failed = 1;
            return;
        }
        memset(P, 0, sizeof(float) * (np + (size_t)j->slack)); /* padding, and the slack DW_FLAT's last block reads */
        Z = P + np + j->slack;
    }
    int64_t last_plane = -1;
    for (int64_t i = lo; i < hi; i++) {
        int64_t n = i / j->Cout, co = i % j->Cout, ci = co / j->mult;
        const float *X = j->x + (n * j->Cin + ci) * H * W;
        const float *src = X;
        if (!j->direct) {
            int64_t plane = n * j->Cin + ci;
            if (plane == last_plane) {
                /* multiplier > 1 reuses the buffer */
            } else if (g->s[2] == 2) {
                (j->avx2 ? fill2_avx2 : fill2_generic)(j, X, P);
            } else {
                (j->avx2 ? fill_avx2 : fill_generic)(j, X, P);
            }
            last_plane = plane;
            src = P;
        }
        float *Y = j->y + (n * j->Cout + co) * OH * OW;
        float b = j->bias ? j->bias[co] : 0.0f;
        if (!j->direct)
            (j->avx2 ? dw_flat_avx2 : dw_flat_generic)(src, j->rs, j->off, j->w + co * j->K, (int)j->K, b, Y, OH, OW, Z,
                                                       j->n32);
        else if (j->avx2) dw_plane_avx2(src, sh * j->rs, j->off, j->w + co * j->K, (int)j->K, b, Y, OH, OW);
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
    j.direct = g->pb[1] == 0 && g->pb[2] == 0 && sw == 1 && j.Hp <= g->in[1] && Wp <= g->in[2] && OW % 8 == 0;
    int64_t *off = rt_scratch(c, sizeof(int64_t) * (size_t)j.K, 0);
    if (!off) return -1;
    if (j.direct) {
        j.rs = g->in[2];
        j.Wq = g->in[2];
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) off[kh * KW + kw] = kh * dh * j.rs + kw * dw;
    } else { /* padded or strided: one flat run per plane over its phase planes */
        int64_t sh = g->s[1];
        j.Wq = OW + ((KW - 1) * dw) / sw;
        j.Hq = OH + ((KH - 1) * dh) / sh;
        j.rs = j.Wq;
        j.np = sh * sw * j.Hq * j.Wq;
        j.n32 = ((OH - 1) * j.Wq + OW + 31) / 32 * 32;
        int64_t maxoff = 0;
        for (int64_t kh = 0; kh < KH; kh++)
            for (int64_t kw = 0; kw < KW; kw++) {
                int64_t rp = (kh * dh) % sh, cp = (kw * dw) % sw;
                off[kh * KW + kw] = ((rp * sw + cp) * j.Hq + (kh * dh) / sh) * j.Wq + (kw * dw) / sw;
                maxoff = PC_MAX(maxoff, off[kh * KW + kw]);
            }
        j.slack = PC_MAX(0, j.n32 + maxoff - j.np); /* the last block reads up to n32 - 1 + maxoff */
    }
    j.off = off;
    j.avx2 = use_avx2();
    rt_parallel_for(g->N * Cout, (double)(2 * j.K * OH * OW), dw_range, &j);
    return j.failed ? rt_fail_nomem(c, "depthwise conv buffer") : 0;
}
