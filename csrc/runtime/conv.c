/* conv.c: conv (1-3 spatial dims, groups, strides, dilations, every pad_type) and
 * conv_transpose, plus the spatial geometry pools share.
 *
 * conv: depthwise 1-D/2-D convs go to the direct kernel in depthwise.c; the rest
 * is GEMM per (batch, group): 1x1 stride-1 unpadded convs multiply the input
 * directly, others build an im2col matrix for a tile of output rows (bounded
 * memory) and call rt_sgemm; 3x3 stride-1 2-D convs where it pays go to
 * Winograd F(4x4, 3x3) in winograd.c first. With fp16 tensors (activations, or weights held
 * without an fp32 copy) both go through conv_*_tiled, which convert in bounded
 * fp32 tiles instead of whole-tensor copies. conv_transpose is GEMM into a column matrix
 * followed by col2im accumulation. Weight layouts follow MIL:
 * conv [Cout, Cin/groups, k...], conv_transpose [Cin, Cout/groups, k...]. */
#include "runtime/rt_internal.h"

/* ---- geometry ---- */
/* strides or dilations: given, else the row's default (ones per spatial dim). */
static int read_vec(rt_ctx *c, const char *name, int nsp, int64_t *dst3) {
    int64_t v[IR_MAX_RANK];
    int n;
    if (rt_param_ints(c, name, v, IR_MAX_RANK, &n)) return -1;
    if (n < 0 && ir_param_spatial_default(ir_op_param(c->op->kind, name), nsp, v) != nsp)
        return rt_fail(c, "ops.def gives %s's '%s' no default of one per spatial dim", ir_op_kind_name(c->op->kind), name);
    for (int i = 0; i < 3; i++) dst3[i] = 1;
    if (n >= 0 && n != nsp) return rt_fail(c, "'%s' has %d entries, expected %d", name, n, nsp);
    for (int i = 0; i < nsp; i++) {
        dst3[3 - nsp + i] = v[i];
        if (dst3[3 - nsp + i] < 1) return rt_fail(c, "'%s' entries must be >= 1", name);
    }
    return 0;
}

int rt_geom_read(rt_ctx *c, const rt_tensor *x, const int64_t *kernel, int use_dil, rt_geom *g) {
    memset(g, 0, sizeof *g);
    int nsp = x->rank - 2;
    if (nsp < 1 || nsp > 3) return rt_fail(c, "x must have 1 to 3 spatial dims (rank 3-5), got rank %d", x->rank);
    g->nsp = nsp;
    g->N = x->dims[0];
    g->C = x->dims[1];
    for (int i = 0; i < 3; i++) {
        g->in[i] = g->k[i] = g->s[i] = g->dil[i] = 1;
        g->pb[i] = g->pa[i] = 0;
    }
    for (int i = 0; i < nsp; i++) {
        g->in[3 - nsp + i] = x->dims[2 + i];
        g->k[3 - nsp + i] = kernel[i];
        if (kernel[i] < 1) return rt_fail(c, "kernel size %lld must be >= 1", (long long)kernel[i]);
    }
    if (read_vec(c, "strides", nsp, g->s)) return -1;
    if (use_dil && read_vec(c, "dilations", nsp, g->dil)) return -1;
    const char *pt = rt_param_str(c, "pad_type");
    if (!pt) return -1;
    int64_t pad[2 * IR_MAX_RANK];
    int np;
    if (rt_param_ints(c, "pad", pad, 2 * IR_MAX_RANK, &np)) return -1;
    for (int i = 0; i < nsp; i++) {
        int d = 3 - nsp + i;
        int64_t keff = (g->k[d] - 1) * g->dil[d] + 1, in = g->in[d], s = g->s[d];
        if (strcmp(pt, "valid") == 0) {
            continue;
        } else if (strcmp(pt, "custom") == 0) {
            if (np != 2 * nsp) return rt_fail(c, "pad_type custom needs 'pad' with %d entries (got %d)", 2 * nsp, np < 0 ? 0 : np);
            g->pb[d] = pad[2 * i];
            g->pa[d] = pad[2 * i + 1];
            if (g->pb[d] < 0 || g->pa[d] < 0) return rt_fail(c, "negative padding");
        } else if (strcmp(pt, "same") == 0 || strcmp(pt, "same_lower") == 0) {
            int64_t total = ((in + s - 1) / s - 1) * s + keff - in;
            if (total < 0) total = 0;
            int64_t small = total / 2, big = total - small;
            g->pb[d] = pt[4] ? big : small;
            g->pa[d] = pt[4] ? small : big;
        } else {
            return rt_fail(c, "unknown pad_type '%s' (valid, same, same_lower or custom)", pt);
        }
    }
    return 0;
}

int rt_geom_out(rt_ctx *c, rt_geom *g, int ceil_mode) {
    for (int d = 0; d < 3; d++) {
        int64_t keff = (g->k[d] - 1) * g->dil[d] + 1, tot = g->pb[d] + g->pa[d], in = g->in[d], s = g->s[d];
        int64_t span = in + tot - keff, out;
        if (span < 0) {
            out = 0;
        } else if (!ceil_mode) {
            out = span / s + 1;
        } else {
            out = (span + s - 1) / s + 1;
            if ((out - 1) * s >= in + g->pb[d] && tot > 0) out--;
        }
        if (out <= 0 && in > 0)
            return rt_fail(c, "spatial dim %d of size %lld is too small for kernel %lld (dilation %lld, padding %lld+%lld)",
                           d - (3 - g->nsp), (long long)in, (long long)g->k[d], (long long)g->dil[d], (long long)g->pb[d],
                           (long long)g->pa[d]);
        g->out[d] = out < 0 ? 0 : out;
    }
    return 0;
}

static void out_dims(const rt_geom *g, int64_t C, int64_t *od) {
    od[0] = g->N;
    od[1] = C;
    for (int i = 0; i < g->nsp; i++) od[2 + i] = g->out[3 - g->nsp + i];
}

/* ---- im2col for a tile of output rows [q0, q1) (row = od * OH + oh) ---- */
typedef struct {
    const float *x;      /* group's input [Cg][D][H][W] */
    const uint16_t *x16; /* or the same in fp16 (x unused), converted a plane at a time */
    float *plane;        /* [D * H * W] scratch for that conversion */
    const rt_geom *g;
    int64_t q0, q1;
    float *col;          /* [Cg * K][(q1 - q0) * OW] */
} im2col_job;

static void im2col_range(void *ctx, int64_t c0, int64_t c1) {
    const im2col_job *j = ctx;
    const rt_geom *g = j->g;
    int64_t D = g->in[0], H = g->in[1], W = g->in[2], OH = g->out[1], OW = g->out[2];
    int64_t KD = g->k[0], KH = g->k[1], KW = g->k[2];
    int64_t ncols = (j->q1 - j->q0) * OW;
    /* fp16 input: convert only the rows this tile reads (2-D), not the whole plane per tile */
    int64_t r0 = 0, r1 = D * H;
    if (D == 1 && j->x16) {
        r0 = PC_MAX(0, j->q0 * g->s[1] - g->pb[1]);
        r1 = PC_MIN(H, (j->q1 - 1) * g->s[1] - g->pb[1] + (KH - 1) * g->dil[1] + 1);
        if (r1 < r0) r1 = r0;
    }
    for (int64_t ch = c0; ch < c1; ch++) {
        const float *xc;
        if (j->x16) {
            pc_f16_to_f32_n(j->plane + r0 * W, j->x16 + ch * D * H * W + r0 * W, (size_t)((r1 - r0) * W));
            xc = j->plane;
        } else {
            xc = j->x + ch * D * H * W;
        }
        for (int64_t kd = 0; kd < KD; kd++)
            for (int64_t kh = 0; kh < KH; kh++)
                for (int64_t kw = 0; kw < KW; kw++) {
                    float *row = j->col + (((ch * KD + kd) * KH + kh) * KW + kw) * ncols;
                    int64_t c0w = kw * g->dil[2] - g->pb[2], sw = g->s[2];
                    int64_t lo = c0w >= 0 ? 0 : (-c0w + sw - 1) / sw;
                    int64_t hi = (W - 1 - c0w) < 0 ? 0 : (W - 1 - c0w) / sw + 1;
                    if (hi > OW) hi = OW;
                    if (lo > hi) lo = hi;
                    for (int64_t q = j->q0; q < j->q1; q++) {
                        float *dst = row + (q - j->q0) * OW;
                        int64_t od = q / OH, oh = q % OH;
                        int64_t id = od * g->s[0] - g->pb[0] + kd * g->dil[0];
                        int64_t ih = oh * g->s[1] - g->pb[1] + kh * g->dil[1];
                        if (id < 0 || id >= D || ih < 0 || ih >= H) {
                            memset(dst, 0, sizeof(float) * (size_t)OW);
                            continue;
                        }
                        const float *src = xc + (id * H + ih) * W; /* src[ow * sw + c0w] is in range for lo <= ow < hi */
                        if (lo) memset(dst, 0, sizeof(float) * (size_t)lo);
                        rt_row_gather(dst, src, W, lo, hi, sw, c0w);
                        if (hi < OW) memset(dst + hi, 0, sizeof(float) * (size_t)(OW - hi));
                    }
                }
    }
}

/* im2col over the threads: part p of `parts` builds the rows of channels
 * [Cg p / parts, Cg (p + 1) / parts), converting fp16 planes into plane p of the
 * scratch (j->plane holds `parts` planes). */
typedef struct {
    const im2col_job *j;
    int64_t Cg, parts;
} im2col_split;

static void im2col_parts(void *ctx, int64_t p0, int64_t p1) {
    const im2col_split *s = ctx;
    const rt_geom *g = s->j->g;
    for (int64_t p = p0; p < p1; p++) {
        im2col_job jj = *s->j;
        if (jj.plane) jj.plane += p * g->in[0] * g->in[1] * g->in[2];
        im2col_range(&jj, s->Cg * p / s->parts, s->Cg * (p + 1) / s->parts);
    }
}

/* Parts of an im2col over Cg channels: one per thread (fp16 inputs need a plane each). */
static int64_t im2col_nparts(int64_t Cg) { return PC_MAX(1, PC_MIN(rt_threads(), Cg)); }

static void im2col_run(const im2col_job *j, int64_t Cg, int64_t parts) {
    const rt_geom *g = j->g;
    im2col_split s = {j, Cg, parts};
    double per = (double)Cg / (double)parts * (double)(g->k[0] * g->k[1] * g->k[2]) * (double)((j->q1 - j->q0) * g->out[2]);
    rt_parallel_for(parts, per, im2col_parts, &s);
}

/* An fp32 tile [rows][ncols] into rows of an fp16 tensor ld apart, over the threads. */
typedef struct {
    uint16_t *dst;
    const float *src;
    int64_t ncols, ld;
} tile_f16_job;

static void tile_f16_range(void *ctx, int64_t r0, int64_t r1) {
    const tile_f16_job *j = ctx;
    for (int64_t r = r0; r < r1; r++) pc_f32_to_f16_n(j->dst + r * j->ld, j->src + r * j->ncols, (size_t)j->ncols);
}

#define COL_LIMIT (2 << 20) /* floats in one im2col / col2im tile */
#define COL_LIMIT16 (256 << 10) /* the same for the fp16 streaming path */
#define W_BLOCK (256 << 10) /* floats of fp16 weight converted at a time */

/* conv as GEMM with fp16 streaming: x, the weight and y may each be fp16 and are
 * converted through bounded fp32 tiles (an im2col tile with fp16 planes converted
 * on the fly, blocks of weight rows, an output tile converted into y), so peak
 * scratch is a few MB whatever the tensor sizes. Same arithmetic as the fp32 path. */
static int conv_gemm_tiled(rt_ctx *c, const rt_tensor *x, const rt_tensor *w, const float *bf, const rt_geom *g,
                           int64_t groups, int64_t Cout, void *yv, int o16) {
    int64_t Cin = g->C, Cg = Cin / groups, Cog = Cout / groups;
    int64_t ISP = g->in[0] * g->in[1] * g->in[2], OSP = g->out[0] * g->out[1] * g->out[2];
    int64_t K = g->k[0] * g->k[1] * g->k[2], KK = Cg * K, rows = g->out[0] * g->out[1], OW = g->out[2];
    int x16 = x->dtype == IR_FP16 && !rt_has_f32(x);
    const float *xf = x16 ? NULL : rt_f32(c, x);
    if (!x16 && !xf) return -1;
    int64_t tile = PC_MAX(1, COL_LIMIT16 / PC_MAX(1, PC_MAX(KK, o16 ? Cog : 1) * OW)); /* col and y tiles */
    if (tile > rows) tile = rows;
    int64_t mb = rt_has_f32(w) || Cout * KK <= W_BLOCK ? Cog : PC_MAX(1, PC_MIN(Cog, W_BLOCK / PC_MAX(1, KK)));
    const float *wall = NULL;
    float *wbuf = NULL;
    if (mb == Cog) {
        wall = rt_f32(c, w);
        if (!wall) return -1;
    } else if (!(wbuf = rt_scratch(c, sizeof(float) * (size_t)(mb * KK), 0))) {
        return -1;
    }
    int64_t parts = im2col_nparts(Cg);
    float *col = rt_scratch(c, sizeof(float) * (size_t)(KK * tile * OW), 0);
    float *plane = x16 ? rt_scratch(c, sizeof(float) * (size_t)(parts * ISP), 0) : NULL;
    float *yt = o16 ? rt_scratch(c, sizeof(float) * (size_t)(Cog * tile * OW), 0) : NULL;
    if (!col || (x16 && !plane) || (o16 && !yt)) return -1;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t gi = 0; gi < groups; gi++) {
            im2col_job j = {xf ? xf + (n * Cin + gi * Cg) * ISP : NULL,
                            x16 ? (const uint16_t *)x->data + (n * Cin + gi * Cg) * ISP : NULL, plane, g, 0, 0, col};
            int64_t ybase = (n * Cout + gi * Cog) * OSP;
            for (int64_t q0 = 0; q0 < rows; q0 += tile) {
                int64_t q1 = PC_MIN(rows, q0 + tile), ncols = (q1 - q0) * OW;
                j.q0 = q0;
                j.q1 = q1;
                im2col_run(&j, Cg, parts);
                for (int64_t m0 = 0; m0 < Cog; m0 += mb) {
                    int64_t mc = PC_MIN(mb, Cog - m0), co0 = gi * Cog + m0;
                    const float *wr = wall ? wall + co0 * KK : rt_f32_part(w, co0 * KK, mc * KK, wbuf);
                    float *dst = o16 ? yt + m0 * ncols : (float *)yv + ybase + m0 * OSP + q0 * OW;
                    int64_t ld = o16 ? ncols : OSP;
                    for (int64_t i = 0; i < mc; i++) {
                        float bv = bf ? bf[co0 + i] : 0.0f;
                        for (int64_t q = 0; q < ncols; q++) dst[i * ld + q] = bv;
                    }
                    rt_sgemm(0, 0, mc, ncols, KK, 1.0f, wr, KK, col, ncols, 1.0f, dst, ld);
                }
                if (o16) {
                    tile_f16_job tj = {(uint16_t *)yv + ybase + q0 * OW, yt, ncols, OSP};
                    rt_parallel_for(Cog, 2.0 * (double)ncols, tile_f16_range, &tj);
                }
            }
        }
    return 0;
}

/* Depthwise conv with fp16 x or y: runs the direct kernel on blocks of channels,
 * converting each block's input planes and output through fp32 scratch. */
static int conv_depthwise_tiled(rt_ctx *c, const rt_tensor *x, const float *wf, const float *bf, const rt_geom *g,
                                int64_t Cout, void *yv, int o16) {
    int64_t Cin = g->C, mult = Cout / Cin;
    int64_t ISP = g->in[0] * g->in[1] * g->in[2], OSP = g->out[0] * g->out[1] * g->out[2], K = g->k[1] * g->k[2];
    int x16 = x->dtype == IR_FP16 && !rt_has_f32(x);
    const float *xf = x16 ? NULL : rt_f32(c, x);
    if (!x16 && !xf) return -1;
    int64_t cb = PC_MAX(1, PC_MIN(Cin, COL_LIMIT16 / PC_MAX(1, ISP + mult * OSP)));
    float *xb = x16 ? rt_scratch(c, sizeof(float) * (size_t)(cb * ISP), 0) : NULL;
    float *yb = o16 ? rt_scratch(c, sizeof(float) * (size_t)(cb * mult * OSP), 0) : NULL;
    if ((x16 && !xb) || (o16 && !yb)) return -1;
    rt_geom gb = *g;
    gb.N = 1;
    for (int64_t n = 0; n < g->N; n++)
        for (int64_t c0 = 0; c0 < Cin; c0 += cb) {
            int64_t cn = PC_MIN(cb, Cin - c0), xoff = (n * Cin + c0) * ISP, yoff = (n * Cout + c0 * mult) * OSP;
            const float *xs = x16 ? (pc_f16_to_f32_n(xb, (const uint16_t *)x->data + xoff, (size_t)(cn * ISP)), xb) : xf + xoff;
            float *ys = o16 ? yb : (float *)yv + yoff;
            gb.C = cn;
            if (rt_conv_depthwise(c, xs, wf + c0 * mult * K, bf ? bf + c0 * mult : NULL, &gb, cn * mult, ys)) return -1;
            if (o16) pc_f32_to_f16_n((uint16_t *)yv + yoff, yb, (size_t)(cn * mult * OSP));
        }
    return 0;
}

/* What conv and conv_transpose share: groups, a weight of x's rank, and g read from x and the weight's kernel
 * dims (strides, dilations, pads; no output size yet). */
static int conv_prologue(rt_ctx *c, const rt_tensor *x, const rt_tensor *w, int64_t *groupsp, rt_geom *g) {
    if (rt_param_int(c, "groups", groupsp)) return -1;
    if (w->rank != x->rank) return rt_fail(c, "weight has rank %d, x has rank %d", w->rank, x->rank);
    return rt_geom_read(c, x, w->dims + 2, 1, g);
}

int rt_k_CONV(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *w = x ? rt_in_req(c, "weight") : NULL;
    if (!w) return -1;
    return rt_conv_run(c, x, w, rt_in(c, "bias"));
}

int rt_conv_run(rt_ctx *c, const rt_tensor *x, const rt_tensor *w, const rt_tensor *b) {
    int64_t groups;
    rt_geom g;
    if (conv_prologue(c, x, w, &groups, &g) || rt_geom_out(c, &g, 0)) return -1;
    int64_t Cin = g.C, Cout = w->dims[0];
    if (groups < 1 || Cin % groups || Cout % groups)
        return rt_fail(c, "groups %lld must divide input channels %lld and output channels %lld", (long long)groups,
                       (long long)Cin, (long long)Cout);
    int64_t Cg = Cin / groups, Cog = Cout / groups;
    if (w->dims[1] != Cg)
        return rt_fail(c, "weight has %lld input channels per group, x has %lld channels / %lld groups", (long long)w->dims[1],
                       (long long)Cin, (long long)groups);
    if (b && rt_numel(b) != Cout) return rt_fail(c, "bias has %lld values for %lld output channels", (long long)rt_numel(b), (long long)Cout);
    int64_t od[5];
    out_dims(&g, Cout, od);
    int64_t K = g.k[0] * g.k[1] * g.k[2];
    int depthwise = groups == Cin && Cg == 1 && g.k[0] == 1 && g.in[0] == 1 && K > 1;
    /* fp16 activations or fp16 weights without an fp32 copy: stream through tiles */
    int o16 = rt_out_f16(c, 0);
    if (o16 || (x->dtype == IR_FP16 && !rt_has_f32(x)) || (!depthwise && !rt_has_f32(w))) {
        const float *bf = b ? rt_f32(c, b) : NULL, *wf = depthwise ? rt_f32(c, w) : NULL;
        if ((b && !bf) || (depthwise && !wf)) return -1;
        void *yv = rt_out(c, 0, x->rank, od, o16 ? IR_FP16 : IR_FP32);
        if (!yv) return -1;
        if (rt_numel_dims(x->rank, od) == 0) return 0;
        if (depthwise) return conv_depthwise_tiled(c, x, wf, bf, &g, Cout, yv, o16);
        int r = rt_conv_winograd(c, x, w, bf, &g, groups, Cout, yv, o16, 2 * COL_LIMIT16);
        if (r <= 0) return r;
        return conv_gemm_tiled(c, x, w, bf, &g, groups, Cout, yv, o16);
    }
    const float *xf = rt_f32(c, x), *wf = xf ? rt_f32(c, w) : NULL, *bf = (wf && b) ? rt_f32(c, b) : NULL;
    if (!wf || (b && !bf)) return -1;
    float *y = rt_out(c, 0, x->rank, od, IR_FP32);
    if (!y) return -1;
    int64_t ISP = g.in[0] * g.in[1] * g.in[2], OSP = g.out[0] * g.out[1] * g.out[2];
    if (rt_numel_dims(x->rank, od) == 0) return 0;
    if (depthwise) return rt_conv_depthwise(c, xf, wf, bf, &g, Cout, y);
    int wr = rt_conv_winograd(c, x, w, bf, &g, groups, Cout, y, 0, COL_LIMIT);
    if (wr <= 0) return wr;
    /* bias first, GEMM accumulates onto it */
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t co = 0; co < Cout; co++) {
            float *yp = y + (n * Cout + co) * OSP, bv = bf ? bf[co] : 0.0f;
            for (int64_t i = 0; i < OSP; i++) yp[i] = bv;
        }
    int direct = K == 1 && g.s[0] == 1 && g.s[1] == 1 && g.s[2] == 1;
    for (int d = 0; d < 3; d++) direct = direct && g.pb[d] == 0 && g.pa[d] == 0;
    int64_t KK = Cg * K, rows = g.out[0] * g.out[1], OW = g.out[2];
    int64_t tile = direct ? rows : PC_MAX(1, COL_LIMIT / PC_MAX(1, KK * OW));
    if (tile > rows) tile = rows;
    float *col = direct ? NULL : rt_scratch(c, sizeof(float) * (size_t)(KK * tile * OW), 0);
    if (!direct && !col) return -1;
    int64_t parts = im2col_nparts(Cg);
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t gi = 0; gi < groups; gi++) {
            const float *xg = xf + (n * Cin + gi * Cg) * ISP;
            const float *wg = wf + gi * Cog * KK;
            float *yg = y + (n * Cout + gi * Cog) * OSP;
            if (direct) {
                rt_sgemm(0, 0, Cog, OSP, KK, 1.0f, wg, KK, xg, ISP, 1.0f, yg, OSP);
                continue;
            }
            for (int64_t q0 = 0; q0 < rows; q0 += tile) {
                int64_t q1 = PC_MIN(rows, q0 + tile), ncols = (q1 - q0) * OW;
                im2col_job j = {xg, NULL, NULL, &g, q0, q1, col};
                im2col_run(&j, Cg, parts);
                rt_sgemm(0, 0, Cog, ncols, KK, 1.0f, wg, KK, col, ncols, 1.0f, yg + q0 * OW, OSP);
            }
        }
    return 0;
}

/* ---- conv_transpose ---- */
typedef struct {
    const float *col; /* [Cog * K][(q1 - q0) * IW] for input rows [q0, q1) */
    const rt_geom *g; /* in = conv_transpose input, out = its output */
    int64_t q0, q1;
    float *y;         /* group's output [Cog][OD][OH][OW] */
} col2im_job;

static void col2im_range(void *ctx, int64_t c0, int64_t c1) {
    const col2im_job *j = ctx;
    const rt_geom *g = j->g;
    int64_t IH = g->in[1], IW = g->in[2], OD = g->out[0], OH = g->out[1], OW = g->out[2];
    int64_t KD = g->k[0], KH = g->k[1], KW = g->k[2], ncols = (j->q1 - j->q0) * IW;
    for (int64_t co = c0; co < c1; co++) {
        float *yc = j->y + co * OD * OH * OW;
        for (int64_t kd = 0; kd < KD; kd++)
            for (int64_t kh = 0; kh < KH; kh++)
                for (int64_t kw = 0; kw < KW; kw++) {
                    const float *row = j->col + (((co * KD + kd) * KH + kh) * KW + kw) * ncols;
                    int64_t c0w = kw * g->dil[2] - g->pb[2], sw = g->s[2];
                    /* iw with 0 <= iw * sw + c0w < OW */
                    int64_t lo = c0w >= 0 ? 0 : (-c0w + sw - 1) / sw;
                    int64_t hi = (OW - 1 - c0w) < 0 ? 0 : (OW - 1 - c0w) / sw + 1;
                    if (hi > IW) hi = IW;
                    for (int64_t q = j->q0; q < j->q1; q++) {
                        int64_t id = q / IH, ih = q % IH;
                        int64_t od = id * g->s[0] - g->pb[0] + kd * g->dil[0];
                        int64_t oh = ih * g->s[1] - g->pb[1] + kh * g->dil[1];
                        if (od < 0 || od >= OD || oh < 0 || oh >= OH) continue;
                        const float *src = row + (q - j->q0) * IW;
                        float *dst = yc + (od * OH + oh) * OW;
                        for (int64_t iw = lo; iw < hi; iw++) dst[iw * sw + c0w] += src[iw];
                    }
                }
    }
}

int rt_k_CONV_TRANSPOSE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *w = x ? rt_in_req(c, "weight") : NULL;
    if (!w) return -1;
    const rt_tensor *b = rt_in(c, "bias");
    int64_t groups;
    rt_geom g;
    /* strides/dilations/pads read; "same" padding is recomputed below for the transposed direction */
    if (conv_prologue(c, x, w, &groups, &g)) return -1;
    const char *pt = rt_param_str(c, "pad_type");
    if (!pt) return -1;
    int64_t Cin = g.C, Cog = w->dims[1], Cout = Cog * groups;
    if (groups < 1 || Cin % groups) return rt_fail(c, "groups %lld must divide input channels %lld", (long long)groups, (long long)Cin);
    if (w->dims[0] != Cin) return rt_fail(c, "weight has %lld input channels, x has %lld", (long long)w->dims[0], (long long)Cin);
    if (b && rt_numel(b) != Cout) return rt_fail(c, "bias has %lld values for %lld output channels", (long long)rt_numel(b), (long long)Cout);
    int64_t oshape[IR_MAX_RANK];
    int nos;
    if (rt_param_ints(c, "output_shape", oshape, IR_MAX_RANK, &nos)) return -1;
    if (nos >= 0 && nos != g.nsp && nos != g.nsp + 2)
        return rt_fail(c, "output_shape has %d entries for %d spatial dims", nos, g.nsp);
    int same = strncmp(pt, "same", 4) == 0;
    for (int d = 0; d < 3 - g.nsp; d++) g.out[d] = 1;
    for (int d = 3 - g.nsp; d < 3; d++) {
        int64_t keff = (g.k[d] - 1) * g.dil[d] + 1, full = (g.in[d] - 1) * g.s[d] + keff;
        int64_t out;
        if (nos >= 0) out = oshape[nos - 3 + d];
        else if (same) out = g.in[d] * g.s[d];
        else out = full - g.pb[d] - g.pa[d];
        if (same) {
            int64_t total = full - out;
            if (total < 0) total = 0;
            g.pb[d] = strcmp(pt, "same_lower") == 0 ? total - total / 2 : total / 2;
        }
        if (out < 0) return rt_fail(c, "output size %lld is negative", (long long)out);
        g.out[d] = out;
    }
    int64_t od[5];
    out_dims(&g, Cout, od);
    const float *xf = rt_f32(c, x), *wf = xf ? rt_f32(c, w) : NULL, *bf = (wf && b) ? rt_f32(c, b) : NULL;
    if (!wf || (b && !bf)) return -1;
    float *y = rt_out(c, 0, x->rank, od, IR_FP32);
    if (!y) return -1;
    int64_t ISP = g.in[0] * g.in[1] * g.in[2], OSP = g.out[0] * g.out[1] * g.out[2];
    int64_t K = g.k[0] * g.k[1] * g.k[2], Cg = Cin / groups, MK = Cog * K;
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t co = 0; co < Cout; co++) {
            float *yp = y + (n * Cout + co) * OSP, bv = bf ? bf[co] : 0.0f;
            for (int64_t i = 0; i < OSP; i++) yp[i] = bv;
        }
    if (rt_numel_dims(x->rank, od) == 0 || ISP == 0) return 0;
    int64_t rows = g.in[0] * g.in[1], IW = g.in[2];
    int64_t tile = PC_MAX(1, COL_LIMIT / PC_MAX(1, MK * IW));
    if (tile > rows) tile = rows;
    float *col = rt_scratch(c, sizeof(float) * (size_t)(MK * tile * IW), 0);
    if (!col) return -1;
    for (int64_t n = 0; n < g.N; n++)
        for (int64_t gi = 0; gi < groups; gi++) {
            const float *xg = xf + (n * Cin + gi * Cg) * ISP;
            const float *wg = wf + gi * Cg * MK; /* [Cg][Cog * K] */
            float *yg = y + (n * Cout + gi * Cog) * OSP;
            for (int64_t q0 = 0; q0 < rows; q0 += tile) {
                int64_t q1 = PC_MIN(rows, q0 + tile), ncols = (q1 - q0) * IW;
                rt_sgemm(1, 0, MK, ncols, Cg, 1.0f, wg, MK, xg + q0 * IW, ISP, 0.0f, col, ncols);
                col2im_job j = {col, &g, q0, q1, yg};
                rt_parallel_for(Cog, (double)K * (double)ncols, col2im_range, &j);
            }
        }
    return 0;
}
