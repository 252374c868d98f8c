/* pool.c: max_pool and avg_pool over 1-3 spatial dims (kernel_sizes, strides,
 * pad_type / pad, ceil_mode; avg_pool's exclude_padding_from_average). Windows
 * that run past the padded input in ceil_mode are clipped; the average divides by
 * the window clipped to the padded extent (PyTorch's count_include_pad) or by the
 * number of real inputs when padding is excluded. A window holding a NaN gives NaN
 * in max_pool (as PyTorch).
 *
 * Windows are separable: each output row first reduces the window's input rows
 * (D and H) column by column into a padded row buffer R (padding and the columns
 * past the input hold the identity: -inf for max, 0 for sums), then the W windows
 * reduce R. For strides > 1 R is first split into stride-phase rows (phase p holds
 * R[q * s + p]), so each kernel tap of a whole output row is one contiguous run.
 * On x86 an AVX2 build of the row kernels (which also reads and writes fp16 rows
 * directly) is chosen at run time; elsewhere portable loops run, with fp16 planes
 * converted a plane at a time. Planes run in parallel. */
#include "runtime/rt_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define POOL_X86 1
#define POOL_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif

#define RUP8(n) (((n) + 7) & ~(int64_t)7)

typedef struct {
    const float *x;
    float *y;
    const uint16_t *x16; /* fp16 x / y (then x, y unused) */
    uint16_t *y16;
    rt_geom g;
    int is_max, exclude, avx2;
    int64_t L;  /* floats of R the windows of one output row span: (OW - 1) * s + k */
    int64_t Q;  /* floats per phase row (a multiple of 8, covers every vector a tap reads) */
    int64_t RL; /* floats of R (identity past the input, room for whole-vector reads) */
    volatile int failed;
} pool_job;

/* ---- portable row kernels (GCC / clang vector extensions: SSE2, NEON, ...) ---- */
typedef float v4 __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4), may_alias));

/* max(a, v) that is NaN when either is */
static inline float max_nan(float a, float v) { return a != a ? a : (v > a || v != v) ? v : a; }

/* m = max(m, v) keeping m's NaN; v's NaN is or-ed into nn as all ones */
static inline v4 max4(v4 m, v4 v, v4i *nn) {
    v4i gt = v > m;
    *nn |= v != v;
    return (v4)(((v4i)v & gt) | ((v4i)m & ~gt));
}

/* dst[c] = reduction over the n rows of rows[i][c] (fp32), c in [0, nc) (identity if n == 0). */
static void vert_generic(int is_max, const void *const *rows, int n, float *dst, int64_t nc) {
    int64_t c = 0;
    if (n == 0) {
        for (; c < nc; c++) dst[c] = is_max ? -INFINITY : 0.0f;
        return;
    }
    for (; c + 4 <= nc; c += 4) {
        v4 m = *(const v4u *)((const float *)rows[0] + c);
        v4i nn = {0, 0, 0, 0};
        for (int i = 1; i < n; i++) {
            v4 v = *(const v4u *)((const float *)rows[i] + c);
            if (is_max) m = max4(m, v, &nn);
            else m += v;
        }
        *(v4u *)(dst + c) = is_max ? (v4)((v4i)m | nn) : m;
    }
    for (; c < nc; c++) {
        float a = ((const float *)rows[0])[c];
        for (int i = 1; i < n; i++) {
            float v = ((const float *)rows[i])[c];
            a = is_max ? max_nan(a, v) : a + v;
        }
        dst[c] = a;
    }
}

/* y[q] = reduction over the k taps of tap[t][q], q in [0, OW) (taps are read in whole
 * vectors); averages divide by max(cw[q] * ch, 1) (a zero count only happens where
 * the sum is 0). */
static void horiz_generic(int is_max, const float *const *tap, int k, int64_t OW, const float *cw, float ch, float *y) {
    for (int64_t q = 0; q < OW; q += 4) {
        v4 m = *(const v4u *)(tap[0] + q);
        v4i nn = {0, 0, 0, 0};
        for (int t = 1; t < k; t++) {
            v4 v = *(const v4u *)(tap[t] + q);
            if (is_max) m = max4(m, v, &nn);
            else m += v;
        }
        float o[4];
        if (is_max) {
            *(v4u *)o = (v4)((v4i)m | nn);
        } else {
            *(v4u *)o = m;
            for (int i = 0; i < 4; i++) {
                float d = cw[q + i] * ch;
                o[i] /= d < 1.0f ? 1.0f : d;
            }
        }
        memcpy(y + q, o, sizeof(float) * (size_t)PC_MIN(4, OW - q));
    }
}

/* ---- AVX2 row kernels ---- */
#ifdef POOL_X86
static const int32_t mask_tab[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* 8 floats of a row at column c (n < 8: only the first n are read, the rest are 0). */
POOL_AVX2 static inline __m256 ld8(const void *row, int f16, int64_t c, int64_t n) {
    if (f16) {
        const uint16_t *r = (const uint16_t *)row + c;
        if (n == 8) return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)r));
        uint16_t t[8] = {0};
        memcpy(t, r, 2 * (size_t)n);
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)t));
    }
    if (n == 8) return _mm256_loadu_ps((const float *)row + c);
    return _mm256_maskload_ps((const float *)row + c, _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - n)));
}

/* max over a (NaN kept from m only) with unordered pairs or-ed into nn: a NaN among
 * the values becomes the all-ones NaN at the end (max_ps returns its second operand
 * when either is NaN). */
#define MAX_STEP(m, a) ((m) = _mm256_max_ps((a), (m)))
#define NAN_PAIR(nn, a, b) ((nn) = _mm256_or_ps((nn), _mm256_cmp_ps((a), (b), _CMP_UNORD_Q)))

/* m = the reduction over the n rows of the 8 columns LD(i) loads from row i */
#define RED_MAX(LD)                                                                                            \
    __m256 m = LD(0), nn = _mm256_setzero_ps();                                                                \
    int i = 1;                                                                                                 \
    for (; i + 2 <= n; i += 2) {                                                                               \
        __m256 a = LD(i), b = LD(i + 1);                                                                       \
        MAX_STEP(m, a);                                                                                        \
        MAX_STEP(m, b);                                                                                        \
        NAN_PAIR(nn, a, b);                                                                                    \
    }                                                                                                          \
    if (i < n) {                                                                                               \
        __m256 a = LD(i);                                                                                      \
        MAX_STEP(m, a);                                                                                        \
        NAN_PAIR(nn, a, a);                                                                                    \
    }                                                                                                          \
    m = _mm256_or_ps(m, nn);
#define RED_SUM(LD)                                                                                            \
    __m256 m = LD(0);                                                                                          \
    for (int i = 1; i < n; i++) m = _mm256_add_ps(m, LD(i));
#define LD_F32(i) _mm256_loadu_ps((const float *)rows[i] + c)
#define LD_F16(i) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)rows[i] + c)))
#define LD_TAIL32(i) ld8(rows[i], 0, c, w)
#define LD_TAIL16(i) ld8(rows[i], 1, c, w)

/* vert_generic (n >= 1) over fp32 or fp16 rows, one build per reduction and row
 * type; the last < 8 columns by masked loads (rows are never read past their end). */
#define VERT_AVX2(NAME, RED, LD, LD_TAIL)                                                                      \
    POOL_AVX2 static void NAME(const void *const *rows, int n, float *dst, int64_t nc) {                       \
        int64_t c = 0;                                                                                         \
        for (; c + 8 <= nc; c += 8) {                                                                          \
            RED(LD)                                                                                            \
            _mm256_storeu_ps(dst + c, m);                                                                      \
        }                                                                                                      \
        if (c < nc) {                                                                                          \
            int64_t w = nc - c;                                                                                \
            RED(LD_TAIL)                                                                                       \
            _mm256_maskstore_ps(dst + c, _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - w)), m);         \
        }                                                                                                      \
    }
VERT_AVX2(vert_max32_avx2, RED_MAX, LD_F32, LD_TAIL32)
VERT_AVX2(vert_max16_avx2, RED_MAX, LD_F16, LD_TAIL16)
VERT_AVX2(vert_sum32_avx2, RED_SUM, LD_F32, LD_TAIL32)
VERT_AVX2(vert_sum16_avx2, RED_SUM, LD_F16, LD_TAIL16)

/* vert_generic over fp32 or fp16 (f16) rows. */
POOL_AVX2 static void vert_avx2(int is_max, const void *const *rows, int f16, int n, float *dst, int64_t nc) {
    if (n == 0) {
        for (int64_t c = 0; c < nc; c++) dst[c] = is_max ? -INFINITY : 0.0f;
        return;
    }
    (is_max ? (f16 ? vert_max16_avx2 : vert_max32_avx2) : (f16 ? vert_sum16_avx2 : vert_sum32_avx2))(rows, n, dst, nc);
}

/* Stride-2 phase rows: p0[q] = r[2q], p1[q] = r[2q + 1], q in [0, Q) (Q % 8 == 0). */
POOL_AVX2 static void deinterleave2_avx2(const float *r, float *p0, float *p1, int64_t Q) {
    for (int64_t q = 0; q < Q; q += 8) {
        __m256 a = _mm256_loadu_ps(r + 2 * q), b = _mm256_loadu_ps(r + 2 * q + 8);
        __m256 e = _mm256_shuffle_ps(a, b, 0x88), o = _mm256_shuffle_ps(a, b, 0xdd);
        _mm256_storeu_ps(p0 + q, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xd8)));
        _mm256_storeu_ps(p1 + q, _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xd8)));
    }
}

/* Store the first n (<= 8) floats of v at y + q, or as fp16 at y16 + q. */
POOL_AVX2 static inline void st8(float *y, uint16_t *y16, int64_t q, int64_t n, __m256 v) {
    if (y16) {
        __m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        if (n == 8) {
            _mm_storeu_si128((__m128i *)(y16 + q), h);
        } else {
            uint16_t t[8];
            _mm_storeu_si128((__m128i *)t, h);
            memcpy(y16 + q, t, 2 * (size_t)n);
        }
    } else if (n == 8) {
        _mm256_storeu_ps(y + q, v);
    } else {
        _mm256_maskstore_ps(y + q, _mm256_loadu_si256((const __m256i *)(mask_tab + 8 - n)), v);
    }
}

/* horiz_generic writing fp32 y or fp16 y16; taps are read in whole vectors. */
POOL_AVX2 static void horiz_avx2(int is_max, const float *const *tap, int k, int64_t OW, const float *cw, float ch,
                                 float *y, uint16_t *y16) {
    for (int64_t q = 0; q < OW; q += 8) {
        __m256 m = _mm256_loadu_ps(tap[0] + q);
        if (is_max) {
            __m256 nn = _mm256_setzero_ps();
            int t = 1;
            for (; t + 2 <= k; t += 2) {
                __m256 a = _mm256_loadu_ps(tap[t] + q), b = _mm256_loadu_ps(tap[t + 1] + q);
                MAX_STEP(m, a);
                MAX_STEP(m, b);
                NAN_PAIR(nn, a, b);
            }
            if (t < k) {
                __m256 a = _mm256_loadu_ps(tap[t] + q);
                MAX_STEP(m, a);
                NAN_PAIR(nn, a, a);
            }
            m = _mm256_or_ps(m, nn);
        } else {
            for (int t = 1; t < k; t++) m = _mm256_add_ps(m, _mm256_loadu_ps(tap[t] + q));
            __m256 d = _mm256_max_ps(_mm256_mul_ps(_mm256_loadu_ps(cw + q), _mm256_set1_ps(ch)), _mm256_set1_ps(1.0f));
            m = _mm256_div_ps(m, d);
        }
        st8(y, y16, q, PC_MIN(8, OW - q), m);
    }
}

/* AVX2 unless the CPU lacks it or PT2COREML_RT_PORTABLE is set (tests run the portable loops so). */
static int use_avx2(void) {
    if (rt_portable_kernels()) return 0;
    /* the cpu model is initialised by libgcc's constructor before any of our code runs */
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && pc_cpu_has_f16c();
}
#else
static int use_avx2(void) { return 0; }
#endif

/* One plane range. Scratch (once per range): R, the phase rows, the tap and row
 * pointers, the W window counts, an fp32 output row and (portable fp16 path) the
 * converted plane. */
static void pool_range(void *ctx, int64_t lo, int64_t hi) {
    pool_job *j = ctx;
    const rt_geom *g = &j->g;
    int64_t D = g->in[0], H = g->in[1], W = g->in[2], OD = g->out[0], OH = g->out[1], OW = g->out[2];
    int64_t ISP = D * H * W, OSP = OD * OH * OW, s = g->s[2], k = g->k[2], pb = g->pb[2];
    int64_t nph = s == 2 ? 2 : s > 1 ? PC_MIN(s, k) : 0, nrow = PC_MIN(g->k[0], D) * PC_MIN(g->k[1], H);
    int conv_plane = j->x16 && !j->avx2;
    size_t nf = (size_t)(j->RL + nph * j->Q + RUP8(OW) + RUP8(OW) + (conv_plane ? RUP8(ISP) : 0));
    float *R = malloc(sizeof(float) * nf + sizeof(void *) * (size_t)(k + nrow));
    if (!R) {
        j->failed = 1;
        return;
    }
    float *P = R + j->RL, *cw = P + nph * j->Q, *yrow = cw + RUP8(OW), *plane = yrow + RUP8(OW);
    const float **tap = (const float **)(R + nf);
    const void **rows = (const void **)(tap + k);
    float ident = j->is_max ? -INFINITY : 0.0f;
    for (int64_t i = 0; i < j->RL; i++) R[i] = ident;
    for (int64_t t = 0; t < k; t++) tap[t] = s > 1 ? P + (t % s) * j->Q + t / s : R + t;
    for (int64_t q = 0; q < RUP8(OW); q++) {
        int64_t w0 = q * s - pb, w1 = PC_MIN(w0 + k, W + g->pa[2]);
        cw[q] = q >= OW ? 1.0f : (float)(j->exclude ? PC_MAX(PC_MIN(w1, W) - PC_MAX(w0, 0), 0) : w1 - w0);
    }
    int64_t nc = PC_MAX(0, PC_MIN(W, j->L - pb)); /* input columns the windows read */
    if (nc == 0) pb = 0;                          /* (R + pb stays inside R) */
    for (int64_t p = lo; p < hi; p++) {
        const void *xp;
        int f16 = 0;
        if (conv_plane) {
            pc_f16_to_f32_n(plane, j->x16 + p * ISP, (size_t)ISP);
            xp = plane;
        } else if (j->x16) {
            xp = j->x16 + p * ISP;
            f16 = 1;
        } else {
            xp = j->x + p * ISP;
        }
        for (int64_t od = 0; od < OD; od++) {
            int64_t d0 = od * g->s[0] - g->pb[0], d1 = PC_MIN(d0 + g->k[0], D + g->pa[0]);
            int64_t da = PC_MAX(d0, 0), db = PC_MIN(d1, D);
            for (int64_t oh = 0; oh < OH; oh++) {
                int64_t h0 = oh * g->s[1] - g->pb[1], h1 = PC_MIN(h0 + g->k[1], H + g->pa[1]);
                int64_t ha = PC_MAX(h0, 0), hb = PC_MIN(h1, H);
                int n = 0;
                for (int64_t d = da; d < db; d++)
                    for (int64_t h = ha; h < hb; h++)
                        rows[n++] = f16 ? (const void *)((const uint16_t *)xp + (d * H + h) * W)
                                        : (const void *)((const float *)xp + (d * H + h) * W);
                float ch = (float)(j->exclude ? (int64_t)n : (d1 - d0) * (h1 - h0));
                int64_t yo = p * OSP + (od * OH + oh) * OW;
#ifdef POOL_X86
                if (j->avx2) {
                    vert_avx2(j->is_max, rows, f16, n, R + pb, nc);
                    if (s == 2) deinterleave2_avx2(R, P, P + j->Q, j->Q);
                    else
                        for (int64_t ph = 0; ph < nph; ph++)
                            for (int64_t q = 0; q < j->Q; q++) P[ph * j->Q + q] = R[q * s + ph];
                    horiz_avx2(j->is_max, tap, (int)k, OW, cw, ch, j->y16 ? NULL : j->y + yo, j->y16 ? j->y16 + yo : NULL);
                    continue;
                }
#endif
                vert_generic(j->is_max, rows, n, R + pb, nc);
                for (int64_t ph = 0; ph < nph; ph++)
                    for (int64_t q = 0; q < j->Q; q++) P[ph * j->Q + q] = R[q * s + ph];
                float *yr = j->y16 ? yrow : j->y + yo;
                horiz_generic(j->is_max, tap, (int)k, OW, cw, ch, yr);
                if (j->y16) pc_f32_to_f16_n(j->y16 + yo, yrow, (size_t)OW);
            }
        }
    }
    free(R);
}

static int pool(rt_ctx *c, int is_max) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t ks[IR_MAX_RANK];
    int nk, ceil_mode, exclude = 0;
    if (rt_param_ints(c, "kernel_sizes", ks, IR_MAX_RANK, &nk)) return -1;
    if (nk < 0) return rt_fail(c, "missing required input 'kernel_sizes'");
    if (nk != x->rank - 2) return rt_fail(c, "kernel_sizes has %d entries for rank-%d x", nk, x->rank);
    if (rt_param_bool(c, "ceil_mode", &ceil_mode)) return -1;
    if (!is_max && rt_param_bool(c, "exclude_padding_from_average", &exclude)) return -1;
    pool_job j;
    memset(&j, 0, sizeof j);
    j.is_max = is_max;
    j.exclude = exclude;
    if (rt_geom_read(c, x, ks, 0, &j.g) || rt_geom_out(c, &j.g, ceil_mode)) return -1;
    int64_t od[5];
    od[0] = j.g.N;
    od[1] = j.g.C;
    for (int i = 0; i < j.g.nsp; i++) od[2 + i] = j.g.out[3 - j.g.nsp + i];
    if (x->dtype == IR_FP16 && !rt_has_f32(x)) j.x16 = x->data;
    else if (!(j.x = rt_f32(c, x))) return -1;
    int o16 = rt_out_f16(c, 0);
    void *y = rt_out(c, 0, x->rank, od, o16 ? IR_FP16 : IR_FP32);
    if (!y) return -1;
    if (o16) j.y16 = y;
    else j.y = y;
    const rt_geom *g = &j.g;
    int64_t OSP = g->out[0] * g->out[1] * g->out[2], s = g->s[2], k = g->k[2];
    if (j.g.N * j.g.C == 0 || OSP == 0) return 0;
    for (int d = 0; d < 3; d++) /* the row kernels count rows and taps in int */
        if (g->k[d] > (1 << 20)) return rt_fail(c, "kernel size %lld is too large (at most 1048576)", (long long)g->k[d]);
    j.avx2 = use_avx2();
    j.L = (g->out[2] - 1) * s + k;
    j.Q = RUP8(RUP8(g->out[2]) + (k - 1) / s);
    j.RL = RUP8(PC_MAX(j.L, j.Q * s) + 16);
    double cost = (double)(g->k[0] * g->k[1] * g->in[2] + g->k[2] * g->out[2]) * (double)(g->out[0] * g->out[1]);
    rt_parallel_for(j.g.N * j.g.C, cost, pool_range, &j);
    return j.failed ? rt_fail_nomem(c, "pool row buffers") : 0;
}

int rt_k_MAX_POOL(rt_ctx *c) { return pool(c, 1); }
int rt_k_AVG_POOL(rt_ctx *c) { return pool(c, 0); }

/* l2_pool (1-D and 2-D): sqrt of the sum of squares over each window, padding counting as zeros.
 * A direct loop: other tools write it rarely, so it gets no row kernels. */
int rt_k_L2_POOL(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    int64_t ks[IR_MAX_RANK];
    int nk;
    if (!x || rt_param_ints(c, "kernel_sizes", ks, IR_MAX_RANK, &nk)) return -1;
    if (nk < 0) return rt_fail(c, "missing required input 'kernel_sizes'");
    if (nk != x->rank - 2 || nk < 1 || nk > 2) return rt_fail(c, "kernel_sizes has %d entries for rank-%d x (1-D or 2-D only)", nk, x->rank);
    rt_geom g;
    if (rt_geom_read(c, x, ks, 0, &g) || rt_geom_out(c, &g, 0)) return -1;
    int64_t od[4] = {g.N, g.C, g.out[3 - g.nsp], g.out[2]};
    const float *xf = rt_f32(c, x);
    float *y = xf ? rt_out(c, 0, x->rank, od, IR_FP32) : NULL;
    if (!y) return -1;
    int64_t H = g.in[1], W = g.in[2], OH = g.out[1], OW = g.out[2];
    for (int64_t p = 0; p < g.N * g.C; p++)
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                double acc = 0;
                for (int64_t kh = 0; kh < g.k[1]; kh++) {
                    int64_t ih = oh * g.s[1] - g.pb[1] + kh;
                    for (int64_t kw = 0; ih >= 0 && ih < H && kw < g.k[2]; kw++) {
                        int64_t iw = ow * g.s[2] - g.pb[2] + kw;
                        if (iw >= 0 && iw < W) {
                            double v = xf[(p * H + ih) * W + iw];
                            acc += v * v;
                        }
                    }
                }
                y[(p * OH + oh) * OW + ow] = (float)sqrt(acc);
            }
    return 0;
}
