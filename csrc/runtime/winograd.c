/* winograd.c: 2-D 3x3 stride-1 convs (any dilation, padding and groups) by
 * Winograd's minimal filtering F(4x4, 3x3). A 4x4 block of outputs costs 36
 * multiplications per (output, input) channel pair instead of 144, so the GEMM
 * work is a quarter of im2col's, at the price of three cheap transforms.
 *
 * A dilated 3x3 conv is an ordinary 3x3 conv on each of the dil_h x dil_w
 * sub-lattices of its input, so tiles are cut on those lattices: a tile's six
 * input rows are dil_h apart, its outputs too. Per (batch, group) and per chunk of
 * tile rows:
 *   1. input transform: each input plane is copied, zero padded, into a buffer
 *      whose columns are permuted so that, for every tap, the tiles of a tile row
 *      (all lattice columns at once) are contiguous; then V = B^T d B for a whole
 *      tile row, 8 tiles per vector. V is [36][C][tiles].
 *   2. filter transform U = G g G^T, [36][Cout block][C] (once per group when the
 *      whole group fits the budget, else per block and chunk);
 *   3. 36 GEMMs M[xi] = U[xi] V[xi] (BLAS);
 *   4. output transform A^T M A into a permuted row, which is un-permuted into y
 *      with the bias added.
 * x, the weights and y may be fp16: planes, weight blocks and output rows are
 * converted on the fly, so scratch stays within the caller's budget. Arithmetic
 * is fp32; the transforms' extra rounding is ~1e-6 relative. */
#include "runtime/rt_internal.h"

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));

#define WK(name) name##_generic
#define WK_ATTR
#include "runtime/winograd_kern.h"
#undef WK
#undef WK_ATTR
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WK(name) name##_avx2
#if defined(__clang__)
#define WK_ATTR __attribute__((target("avx2,fma")))
#else
#define WK_ATTR __attribute__((target("avx2,fma"), optimize("fp-contract=fast")))
#endif
#include "runtime/winograd_kern.h"
#undef WK
#undef WK_ATTR
static int wg_avx2(void) { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
#define wk_vert_avx2 wk_vert_generic
#define wk_horz_avx2 wk_horz_generic
#define wk_filter_avx2 wk_filter_generic
#define wk_out_avx2 wk_out_generic
static int wg_avx2(void) { return 0; }
#endif

static volatile int g_winograd = 1; /* process-wide switch, read-only while runs go */

int rt_set_winograd(int on) {
    int was = g_winograd;
    g_winograd = on != 0;
    return was;
}

#define R8(n) (((n) + 7) / 8 * 8)
#define WG_GAIN 0.6       /* use Winograd when its flop estimate is below this share of im2col's */
#define WG_MIN_TILES 48   /* GEMMs over fewer tiles (unless that is all there is, and at least half
                           * this) run far below BLAS's peak */

typedef struct {
    int64_t Cg, Cog, H, W, OH, OW, pt, pl, dh, dw;
    int64_t Mt, Mw;  /* tiles per lattice column in a tile row; Mt + 1 */
    int64_t NJ, N8;  /* tiles in a tile row (Mt * dw) and that rounded up to 8 */
    int64_t PW, RS;  /* padded columns held; float stride of a permuted row */
    int64_t ntr;     /* tile rows */
    int64_t *oh0;    /* first output (= padded input) row of each tile row */
    int64_t *perm;   /* padded column -> index in a permuted input row */
    int64_t *operm;  /* output column -> index in a permuted output row */
    int64_t off[6];  /* tap u of tile x sits at off[u] + x in a permuted row */
    int64_t kb, nq;  /* output channels per filter block; tile rows per chunk */
    int avx2;
} wg_plan;

/* ---- 1. input transform, channels in parallel ---- */
/* Tile rows are numbered over the batch: q -> image q / ntr, tile row q % ntr. */
typedef struct {
    const wg_plan *p;
    const float *x;      /* group's first input plane of image 0 (images xstride apart) */
    const uint16_t *x16; /* or the same in fp16 */
    int64_t xstride;     /* elements between images */
    int64_t q0, q1, tc;  /* tile rows of the chunk, tiles in it */
    float *V;            /* [36][Cg][ldv] */
    int64_t ldv;         /* >= tc + 8: vector stores may run 7 floats past a tile row */
    volatile int failed;
} wg_in_job;

/* The six zero-padded, column-permuted input rows of tile row oh0 (padded rows
 * oh0 + dh * u) of plane `ch` of image n, into P (6 rows of RS floats). */
static void wg_fill(const wg_in_job *j, int64_t n, int64_t ch, int64_t oh0, float *P, float *row) {
    const wg_plan *p = j->p;
    int64_t RS = p->RS, W = p->W, wmax = PC_MIN(W, p->PW - p->pl);
    const int64_t *pm = p->perm + p->pl;
    for (int u = 0; u < 6; u++) {
        float *dst = P + u * RS;
        int64_t ih = oh0 + p->dh * u - p->pt;
        memset(dst, 0, sizeof(float) * (size_t)RS);
        if (ih < 0 || ih >= p->H) continue;
        int64_t at = n * j->xstride + (ch * p->H + ih) * W;
        const float *src = j->x16 ? (pc_f16_to_f32_n(row, j->x16 + at, (size_t)W), row) : j->x + at;
        for (int64_t iw = 0; iw < wmax; iw++) dst[pm[iw]] = src[iw];
    }
}

static void wg_in_range(void *ctx, int64_t c0, int64_t c1) {
    wg_in_job *j = ctx;
    const wg_plan *p = j->p;
    int64_t RS = p->RS, N8 = p->N8, ntr = p->ntr, plane = p->Cg * j->ldv;
    float *P = malloc(sizeof(float) * (size_t)(12 * RS + p->W));
    if (!P) {
        j->failed = 1;
        return;
    }
    float *T = P + 6 * RS, *row = T + 6 * RS;
    for (int64_t ch = c0; ch < c1; ch++)
        for (int64_t q = j->q0; q < j->q1; q++) {
            wg_fill(j, q / ntr, ch, p->oh0[q % ntr], P, row);
            const float *R[6];
            for (int u = 0; u < 6; u++) R[u] = P + u * RS;
            if (p->avx2) wk_vert_avx2(R, T, RS, RS);
            else wk_vert_generic(R, T, RS, RS);
            float *v = j->V + ch * j->ldv + (q - j->q0) * p->NJ;
            for (int o = 0; o < 6; o++) {
                if (p->avx2) wk_horz_avx2(T + o * RS, p->off, v + 6 * o * plane, plane, N8);
                else wk_horz_generic(T + o * RS, p->off, v + 6 * o * plane, plane, N8);
            }
        }
    free(P);
}

/* ---- 2. filter transform, output channels in parallel ---- */
typedef struct {
    const wg_plan *p;
    const float *w; /* [kbn][Cg][3][3], the block's weights */
    int64_t kbn;
    float *U;       /* [36][kbn][R8(Cg)] */
    volatile int failed;
} wg_f_job;

static void wg_f_range(void *ctx, int64_t k0, int64_t k1) {
    wg_f_job *j = ctx;
    int64_t Cg = j->p->Cg, C8 = R8(Cg);
    float *gt = calloc((size_t)(9 * C8), sizeof(float));
    if (!gt) {
        j->failed = 1;
        return;
    }
    for (int64_t k = k0; k < k1; k++) {
        const float *wk = j->w + k * Cg * 9;
        for (int64_t c = 0; c < Cg; c++)
            for (int e = 0; e < 9; e++) gt[e * C8 + c] = wk[c * 9 + e];
        if (j->p->avx2) wk_filter_avx2(gt, C8, j->U + k * C8, j->kbn * C8, C8);
        else wk_filter_generic(gt, C8, j->U + k * C8, j->kbn * C8, C8);
    }
    free(gt);
}

/* ---- 4. output transform, output channels in parallel ---- */
typedef struct {
    const wg_plan *p;
    const float *M;       /* [36][kbn][tc] */
    int64_t kbn, k0;      /* block size, its first output channel in the group */
    int64_t q0, q1, tc;
    const float *bias;    /* the group's bias, or NULL */
    float *y;             /* the group's output [Cog][OH][OW] of image 0 (images ystride apart) */
    uint16_t *y16;        /* or the same in fp16 */
    int64_t ystride;
    volatile int failed;
} wg_out_job;

static void wg_out_range(void *ctx, int64_t k0, int64_t k1) {
    wg_out_job *j = ctx;
    const wg_plan *p = j->p;
    int64_t N8 = p->N8, OH = p->OH, OW = p->OW;
    float *O = malloc(sizeof(float) * (size_t)(16 * N8 + OW));
    if (!O) {
        j->failed = 1;
        return;
    }
    float *row = O + 16 * N8;
    for (int64_t kk = k0; kk < k1; kk++) {
        int64_t k = j->k0 + kk;
        float b = j->bias ? j->bias[k] : 0.0f;
        for (int64_t q = j->q0; q < j->q1; q++) {
            int64_t n = q / p->ntr, oh0 = p->oh0[q % p->ntr];
            const float *Mp[36];
            for (int xi = 0; xi < 36; xi++) Mp[xi] = j->M + (xi * j->kbn + kk) * j->tc + (q - j->q0) * p->NJ;
            if (p->avx2) wk_out_avx2(Mp, O, 4 * N8, N8);
            else wk_out_generic(Mp, O, 4 * N8, N8);
            for (int r = 0; r < 4; r++) {
                int64_t oh = oh0 + p->dh * r;
                if (oh >= OH) break;
                const float *src = O + r * 4 * N8;
                int64_t at = n * j->ystride + (k * OH + oh) * OW;
                float *dst = j->y16 ? row : j->y + at;
                if (p->dw == 1) {
                    for (int64_t ow = 0; ow < OW; ow++) dst[ow] = src[(ow & 3) * N8 + (ow >> 2)] + b;
                } else {
                    for (int64_t ow = 0; ow < OW; ow++) dst[ow] = src[p->operm[ow]] + b;
                }
                if (j->y16) pc_f32_to_f16_n(j->y16 + at, row, (size_t)OW);
            }
        }
    }
    free(O);
}

/* ---- plan ---- */

/* Fill p for geometry g (3x3, stride 1, 2-D) and a scratch budget in floats.
 * Returns 1 when Winograd does not pay (or cannot fit), 0 when planned, -1 on OOM. */
static int wg_make_plan(rt_ctx *c, const rt_geom *g, int64_t groups, int64_t Cout, int64_t budget, wg_plan *p) {
    memset(p, 0, sizeof *p);
    p->Cg = g->C / groups;
    p->Cog = Cout / groups;
    p->H = g->in[1], p->W = g->in[2], p->OH = g->out[1], p->OW = g->out[2];
    p->pt = g->pb[1], p->pl = g->pb[2], p->dh = g->dil[1], p->dw = g->dil[2];
    int64_t dh = p->dh, dw = p->dw, OH = p->OH, OW = p->OW, Cg = p->Cg, Cog = p->Cog, C8 = R8(Cg);
    p->Mt = ((OW + dw - 1) / dw + 3) / 4;
    p->Mw = p->Mt + 1;
    p->NJ = p->Mt * dw;
    p->N8 = R8(p->NJ);
    p->PW = 4 * dw * p->Mw;
    p->RS = R8(p->PW + 8);
    int64_t ntr = 0;
    for (int64_t a = 0; a < dh && a < OH; a++) {
        int64_t nth = ((OH - a + dh - 1) / dh + 3) / 4;
        ntr += nth;
    }
    p->ntr = ntr;
    int64_t nqt = g->N * ntr, T = nqt * p->NJ;
    /* cost in flops against im2col + GEMM: 36 products per tile and channel pair,
     * the filter transform, the data transforms; thin GEMMs (few tiles) run far
     * below BLAS's peak, so too few tiles per chunk declines */
    double direct = 18.0 * (double)Cog * Cg * g->N * OH * OW;
    double wino = 72.0 * (double)Cog * Cg * T + 40.0 * (double)Cog * Cg + 150.0 * (double)(Cg + Cog) * T;
    if (Cg < 8 || Cog < 8 || T < WG_MIN_TILES / 2 || wino > WG_GAIN * direct) return 1;
    /* budget: U [36][kb][C8] takes at most a third, V [36][C][tc + 8] and M [36][kb][tc] the rest */
    int64_t kb = PC_MIN(Cog, PC_MAX(8, budget / 3 / (36 * C8)));
    int64_t left = budget - 36 * kb * C8 - 36 * 8 * Cg - 8;
    int64_t nq = left / (36 * (Cg + kb) * p->NJ);
    if (nq > nqt) nq = nqt;
    if (nq < 1 || nq * p->NJ < PC_MIN(T, WG_MIN_TILES)) return 1;
    int64_t chunks = (nqt + nq - 1) / nq;
    if (kb < Cog && chunks > 1) { /* filter transform per chunk: pay for it */
        wino += 40.0 * (double)Cog * Cg * (chunks - 1);
        if (wino > WG_GAIN * direct) return 1;
    }
    p->kb = kb;
    p->nq = nq;
    p->oh0 = rt_scratch(c, sizeof(int64_t) * (size_t)(ntr + p->PW + OW), 0);
    if (!p->oh0) return -1;
    p->perm = p->oh0 + ntr;
    p->operm = p->perm + p->PW;
    int64_t q = 0;
    for (int64_t a = 0; a < dh && a < OH; a++) {
        int64_t nth = ((OH - a + dh - 1) / dh + 3) / 4;
        for (int64_t ti = 0; ti < nth; ti++) p->oh0[q++] = a + 4 * dh * ti;
    }
    /* padded column pc = b + dw * (r + 4m), b < dw, r < 4 -> ((r * Mw + m) * dw + b) */
    for (int64_t pc = 0; pc < p->PW; pc++)
        p->perm[pc] = (((pc / dw) % 4) * p->Mw + pc / (4 * dw)) * dw + pc % dw;
    for (int u = 0; u < 6; u++) p->off[u] = ((u % 4) * p->Mw + u / 4) * dw;
    /* output column ow = b + dw * (s + 4j) -> s * N8 + j * dw + b */
    for (int64_t ow = 0; ow < OW; ow++) p->operm[ow] = ((ow / dw) % 4) * p->N8 + (ow / (4 * dw)) * dw + ow % dw;
    p->avx2 = wg_avx2();
    return 0;
}

static int wg_oom(rt_ctx *c, const char *what) { return rt_fail_nomem(c, "winograd %s", what); }

/* The 36 independent GEMMs of a block, M[xi] = U[xi] V[xi], split over threads by xi. */
typedef struct {
    int64_t kbn, tc, Cg, C8, ldv;
    const float *U, *V;
    float *M;
} wg_mm_job;

static void wg_mm_range(void *ctx, int64_t x0, int64_t x1) {
    const wg_mm_job *j = ctx;
    for (int64_t xi = x0; xi < x1; xi++)
        rt_sgemm_serial(0, 0, j->kbn, j->tc, j->Cg, 1.0f, j->U + xi * j->kbn * j->C8, j->C8, j->V + xi * j->Cg * j->ldv,
                        j->ldv, 0.0f, j->M + xi * j->kbn * j->tc, j->tc);
}

/* Filter transform of output channels [k0, k0 + kbn) of group gi into U. */
static int wg_filters(rt_ctx *c, const wg_plan *p, const rt_tensor *w, const float *wall, float *wbuf, int64_t gi,
                      int64_t k0, int64_t kbn, float *U) {
    int64_t per = p->Cg * 9, first = (gi * p->Cog + k0) * per;
    wg_f_job fj = {p, wall ? wall + first : rt_f32_part(w, first, kbn * per, wbuf), kbn, U, 0};
    rt_parallel_for(kbn, 200.0 * (double)p->Cg, wg_f_range, &fj);
    return fj.failed ? wg_oom(c, "filter buffer") : 0;
}

int rt_conv_winograd(rt_ctx *c, const rt_tensor *x, const rt_tensor *w, const float *bias, const rt_geom *g,
                     int64_t groups, int64_t Cout, void *yv, int o16, int64_t budget) {
    if (!g_winograd || g->nsp != 2 || g->k[1] != 3 || g->k[2] != 3 || g->s[1] != 1 || g->s[2] != 1) return 1;
    wg_plan p;
    int r = wg_make_plan(c, g, groups, Cout, budget, &p);
    if (r) return r;
    int64_t Cin = g->C, Cg = p.Cg, Cog = p.Cog, C8 = R8(Cg), ISP = p.H * p.W, OSP = p.OH * p.OW;
    int x16 = x->dtype == IR_FP16 && !rt_has_f32(x);
    const float *xf = x16 ? NULL : rt_f32(c, x);
    if (!x16 && !xf) return -1;
    const float *wall = rt_has_f32(w) ? rt_f32(c, w) : NULL;
    if (rt_has_f32(w) && !wall) return -1;
    int64_t tcmax = p.nq * p.NJ, kb = p.kb, ldv = tcmax + 8, nqt = g->N * p.ntr;
    /* one block (U, V, M, weight rows), so malloc keeps it between calls instead of trimming */
    float *U = rt_scratch(c, sizeof(float) * (size_t)(36 * kb * C8 + 36 * Cg * ldv + 36 * kb * tcmax + 8 +
                                                      (wall ? 0 : kb * Cg * 9)), 0);
    if (!U) return -1;
    float *V = U + 36 * kb * C8, *M = V + 36 * Cg * ldv, *wbuf = wall ? NULL : M + 36 * kb * tcmax + 8;
    for (int64_t gi = 0; gi < groups; gi++) {
        if (kb == Cog && wg_filters(c, &p, w, wall, wbuf, gi, 0, Cog, U)) return -1;
        wg_in_job ij = {&p, xf ? xf + gi * Cg * ISP : NULL, x16 ? (const uint16_t *)x->data + gi * Cg * ISP : NULL,
                        Cin * ISP, 0, 0, 0, V, 0, 0};
        int64_t ybase = gi * Cog * OSP;
        wg_out_job oj = {&p, M, 0, 0, 0, 0, 0, bias ? bias + gi * Cog : NULL, o16 ? NULL : (float *)yv + ybase,
                         o16 ? (uint16_t *)yv + ybase : NULL, Cout * OSP, 0};
        for (int64_t q0 = 0; q0 < nqt; q0 += p.nq) {
            int64_t q1 = PC_MIN(nqt, q0 + p.nq), tc = (q1 - q0) * p.NJ;
            ij.q0 = q0, ij.q1 = q1, ij.tc = tc, ij.ldv = tc + 8;
            rt_parallel_for(Cg, 60.0 * (double)tc + 18.0 * (double)(q1 - q0) * p.RS, wg_in_range, &ij);
            if (ij.failed) return wg_oom(c, "input buffer");
            for (int64_t k0 = 0; k0 < Cog; k0 += kb) {
                int64_t kbn = PC_MIN(kb, Cog - k0);
                if (kb < Cog && wg_filters(c, &p, w, wall, wbuf, gi, k0, kbn, U)) return -1;
                wg_mm_job mj = {kbn, tc, Cg, C8, ij.ldv, U, V, M};
                rt_parallel_for(36, 2.0 * (double)kbn * (double)tc * (double)Cg, wg_mm_range, &mj);
                oj.kbn = kbn, oj.k0 = k0, oj.q0 = q0, oj.q1 = q1, oj.tc = tc;
                rt_parallel_for(kbn, 60.0 * (double)tc, wg_out_range, &oj);
                if (oj.failed) return wg_oom(c, "output buffer");
            }
        }
    }
    return 0;
}
