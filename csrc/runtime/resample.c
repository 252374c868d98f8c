/* resample.c: image resampling on the last two dims (fp32 compute):
 * upsample_nearest_neighbor / upsample_bilinear (scale factors; output
 * floor(size * scale) in fp32 like coremltools), resize_nearest_neighbor /
 * resize_bilinear (target sizes; the five MIL sampling modes) and resample
 * (grid sampling of NCHW x at per-pixel (x, y) coordinates: bilinear or
 * nearest, padding constant / border / reflection / symmetric, three
 * coordinate conventions). The sampling-mode grid (rt_grid_point) and the grid
 * sampler (rt_grid_sample) also serve resize, crop_resize and affine (warp.c).
 *
 * Source positions follow MIL's definitions: bilinear with align_corners uses
 * spacing (in - 1) / (out - 1), otherwise in / out with half-pixel centres
 * (upsample_bilinear's half_pixel_centers = false gives the asymmetric
 * i * in / out). Nearest picks floor(i / scale); when the scale is the ratio
 * out / in of the sizes it works in exact integers (floor(i * in / out)), so an
 * fp32-rounded ratio does not shift a pixel. */
#include "runtime/rt_internal.h"

#include <math.h>

typedef struct {
    int64_t i0, i1;
    float w; /* weight of i1 */
} tap;

static const rt_tensor *image(rt_ctx *c, int64_t *P, int64_t *H, int64_t *W) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return NULL;
    if (x->rank < 3) return rt_fail(c, "x must have rank >= 3, got %d", x->rank), NULL;
    *H = x->dims[x->rank - 2];
    *W = x->dims[x->rank - 1];
    *P = (*H && *W) ? rt_numel(x) / (*H * *W) : 0;
    return x;
}

static void lin_tap(double src, int64_t in, tap *t) {
    if (src < 0) src = 0;
    if (src > in - 1) src = (double)(in - 1);
    int64_t i0 = (int64_t)floor(src);
    t->i0 = i0;
    t->i1 = i0 + 1 < in ? i0 + 1 : in - 1;
    t->w = (float)(src - (double)i0);
}

/* Output for planes of x: bilinear when th/tw are given, else nearest from nh/nw. */
static int emit(rt_ctx *c, const rt_tensor *x, int64_t P, int64_t H, int64_t W, int64_t OH, int64_t OW, const tap *th,
                const tap *tw, const int64_t *nh, const int64_t *nw) {
    int64_t od[IR_MAX_RANK];
    for (int i = 0; i < x->rank; i++) od[i] = x->dims[i];
    od[x->rank - 2] = OH;
    od[x->rank - 1] = OW;
    const float *xf = rt_f32(c, x);
    float *o = xf ? rt_out(c, 0, x->rank, od, IR_FP32) : NULL;
    if (!o) return -1;
    if (OH > 0 && OW > 0 && (H == 0 || W == 0)) return rt_fail(c, "cannot resample an empty image");
    for (int64_t p = 0; p < P; p++) {
        const float *src = xf + p * H * W;
        float *dst = o + p * OH * OW;
        for (int64_t i = 0; i < OH; i++) {
            float *row = dst + i * OW;
            if (!th) {
                const float *sr = src + nh[i] * W;
                for (int64_t j = 0; j < OW; j++) row[j] = sr[nw[j]];
                continue;
            }
            const float *r0 = src + th[i].i0 * W, *r1 = src + th[i].i1 * W;
            float wy = th[i].w;
            for (int64_t j = 0; j < OW; j++) {
                float wx = tw[j].w;
                float top = r0[tw[j].i0] + (r0[tw[j].i1] - r0[tw[j].i0]) * wx;
                float bot = r1[tw[j].i0] + (r1[tw[j].i1] - r1[tw[j].i0]) * wx;
                row[j] = top + (bot - top) * wy;
            }
        }
    }
    return 0;
}

/* Nearest source index for output o of `out` from `in` at scale s (see the file comment). */
static int64_t near_src(int64_t o, int64_t in, int64_t out, double s) {
    double ratio = (double)out / (double)in;
    int64_t q;
    if (fabs(s - ratio) <= 1e-6 * ratio) q = o * in / out;
    else q = (int64_t)floor((double)o / s);
    return q < in ? q : in - 1;
}

static int upsample(rt_ctx *c, int bilinear) {
    int64_t P, H, W;
    const rt_tensor *x = image(c, &P, &H, &W);
    double sh, sw;
    int ac = 1, hp = 0;
    if (!x || rt_param_float(c, "scale_factor_height", &sh) || rt_param_float(c, "scale_factor_width", &sw))
        return -1;
    if (bilinear && (rt_param_bool(c, "align_corners", &ac) || rt_param_bool_or(c, "half_pixel_centers", !ac, &hp)))
        return -1;
    if (!(sh > 0) || !(sw > 0)) return rt_fail(c, "scale factors must be > 0");
    int64_t OH = (int64_t)floorf((float)sh * (float)H), OW = (int64_t)floorf((float)sw * (float)W);
    tap *t = rt_scratch(c, sizeof(tap) * (size_t)(OH + OW + 1), 0);
    int64_t *n = t ? rt_scratch(c, sizeof(int64_t) * (size_t)(OH + OW + 1), 0) : NULL;
    if (!n) return -1;
    for (int a = 0; a < 2; a++) {
        int64_t in = a ? W : H, out = a ? OW : OH, base = a ? OH : 0;
        double s = a ? sw : sh;
        for (int64_t o = 0; o < out && in > 0; o++) {
            if (!bilinear) {
                n[base + o] = near_src(o, in, out, s);
                continue;
            }
            double src;
            if (ac) src = out > 1 ? (double)o * (double)(in - 1) / (double)(out - 1) : 0.0;
            else if (hp) src = ((double)o + 0.5) * (double)in / (double)out - 0.5;
            else src = (double)o * (double)in / (double)out;
            lin_tap(src, in, &t[base + o]);
        }
    }
    return bilinear ? emit(c, x, P, H, W, OH, OW, t, t + OH, NULL, NULL) : emit(c, x, P, H, W, OH, OW, NULL, NULL, n, n + OH);
}

int rt_k_UPSAMPLE_NEAREST_NEIGHBOR(rt_ctx *c) { return upsample(c, 0); }
int rt_k_UPSAMPLE_BILINEAR(rt_ctx *c) { return upsample(c, 1); }

int rt_sampling_mode(rt_ctx *c, int *mode) {
    static const char *const names[] = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS",
                                        "UNALIGN_CORNERS"};
    const char *m = rt_param_str(c, "sampling_mode");
    if (!m) return -1;
    for (*mode = 0; *mode < PC_ARRAY_LEN(names); (*mode)++)
        if (strcmp(m, names[*mode]) == 0) return 0;
    return rt_fail(c, "unknown sampling_mode '%s'", m);
}

double rt_grid_point(int mode, int64_t o, double X, double Y) {
    switch (mode) {
    case RT_SM_STRICT: return Y > 1 ? o * (X - 1) / (Y - 1) : 0.0;
    case RT_SM_ALIGN: return Y > 1 ? o * (X - 1) / (Y - 1) : (X - 1) / 2;
    case RT_SM_OFFSET: {
        double delta = (X - 1 > 1 ? X - 1 : 1) / Y;
        return 0.5 * delta + o * delta;
    }
    case RT_SM_UNALIGN: return (o + 0.5) * X / Y - 0.5;
    default: return o * X / Y;
    }
}

static int resize(rt_ctx *c, int bilinear) {
    int64_t P, H, W, OH, OW;
    const rt_tensor *x = image(c, &P, &H, &W);
    if (!x) return -1;
    if (!bilinear && (!rt_in_req(c, "target_size_height") || !rt_in_req(c, "target_size_width"))) return -1;
    if (rt_param_int(c, "target_size_height", &OH) || rt_param_int(c, "target_size_width", &OW)) return -1;
    if (OH < 1 || OW < 1) return rt_fail(c, "target sizes must be >= 1");
    int mode = RT_SM_DEFAULT;
    if (bilinear && rt_sampling_mode(c, &mode)) return -1;
    tap *t = rt_scratch(c, sizeof(tap) * (size_t)(OH + OW), 0);
    int64_t *n = t ? rt_scratch(c, sizeof(int64_t) * (size_t)(OH + OW), 0) : NULL;
    if (!n) return -1;
    for (int a = 0; a < 2; a++) {
        int64_t in = a ? W : H, out = a ? OW : OH, base = a ? OH : 0;
        for (int64_t o = 0; o < out && in > 0; o++) {
            if (!bilinear) {
                int64_t q = o * in / out;
                n[base + o] = q < in ? q : in - 1;
                continue;
            }
            lin_tap(rt_grid_point(mode, o, (double)in, (double)out), in, &t[base + o]);
        }
    }
    return bilinear ? emit(c, x, P, H, W, OH, OW, t, t + OH, NULL, NULL) : emit(c, x, P, H, W, OH, OW, NULL, NULL, n, n + OH);
}

int rt_k_RESIZE_NEAREST_NEIGHBOR(rt_ctx *c) { return resize(c, 0); }
int rt_k_RESIZE_BILINEAR(rt_ctx *c) { return resize(c, 1); }

/* ---- resample ---- */
/* Reflect v into [lo, hi] (mirror at both ends), torch's reflect_coordinates. */
static double reflect(double v, double lo, double hi) {
    if (hi <= lo) return lo;
    double span = hi - lo, d = fabs(v - lo), extra = fmod(d, span);
    int64_t flips = (int64_t)floor(d / span);
    return (flips % 2 == 0) ? lo + extra : hi - extra;
}

/* Grid coordinate -> source position along a dim of `size`, padding applied. */
static double grid_pos(double g, int64_t size, int cmode, int ac, int pmode) {
    double n = (double)size, v;
    if (cmode == RT_COORD_UNNORMALIZED) v = g;
    else if (cmode == RT_COORD_MINUS_ONE_TO_ONE) v = ac ? (g + 1) / 2 * (n - 1) : ((g + 1) * n - 1) / 2;
    else v = ac ? g * (n - 1) : g * n - 0.5; /* [0, 1] */
    if (pmode == RT_PAD_REFLECTION) v = reflect(v, 0, n - 1);
    else if (pmode == RT_PAD_SYMMETRIC) v = reflect(v, -0.5, n - 0.5);
    if (pmode != RT_PAD_CONSTANT) v = v < 0 ? 0 : v > n - 1 ? n - 1 : v;
    return v;
}

void rt_grid_sample(const float *xf, int64_t B, int64_t C, int64_t H, int64_t W, const float *gf, int64_t OH, int64_t OW,
                    const rt_grid_spec *s, float *o) {
    float fill = s->pmode == RT_PAD_CONSTANT ? s->fill : 0.0f;
    for (int64_t b = 0; b < B; b++)
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                const float *q = gf + ((b * OH + i) * OW + j) * 2;
                double px = grid_pos(q[0], W, s->cmode, s->ac, s->pmode), py = grid_pos(q[1], H, s->cmode, s->ac, s->pmode);
                for (int64_t ch = 0; ch < C; ch++) {
                    const float *img = xf + (b * C + ch) * H * W;
                    float *dst = o + ((b * C + ch) * OH + i) * OW + j;
                    if (s->nearest) {
                        double rx = nearbyint(px), ry = nearbyint(py);
                        int in = rx >= 0 && rx < W && ry >= 0 && ry < H;
                        *dst = in ? img[(int64_t)ry * W + (int64_t)rx] : fill;
                        continue;
                    }
                    double fx = floor(px), fy = floor(py);
                    float wx = (float)(px - fx), wy = (float)(py - fy), v[4];
                    for (int k = 0; k < 4; k++) {
                        double tx = fx + (k & 1), ty = fy + (k >> 1);
                        int in = tx >= 0 && tx < W && ty >= 0 && ty < H;
                        v[k] = in ? img[(int64_t)ty * W + (int64_t)tx] : fill;
                    }
                    *dst = (v[0] * (1 - wx) + v[1] * wx) * (1 - wy) + (v[2] * (1 - wx) + v[3] * wx) * wy;
                }
            }
}

int rt_k_RESAMPLE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *g = x ? rt_in_req(c, "coordinates") : NULL;
    if (!g) return -1;
    static const char *const req[] = {"sampling_mode", "padding_mode", "padding_value", "coordinates_mode", "align_corners"};
    for (int i = 0; i < PC_ARRAY_LEN(req); i++)
        if (!rt_in_req(c, req[i])) return -1;
    const char *sm = rt_param_str(c, "sampling_mode"), *pm = sm ? rt_param_str(c, "padding_mode") : NULL,
               *cm = pm ? rt_param_str(c, "coordinates_mode") : NULL;
    double pv;
    rt_grid_spec gs = {0};
    if (!cm || rt_param_float(c, "padding_value", &pv) || rt_param_bool(c, "align_corners", &gs.ac)) return -1;
    gs.nearest = strcmp(sm, "nearest") == 0;
    if (!gs.nearest && strcmp(sm, "bilinear")) return rt_fail(c, "unknown sampling_mode '%s' (bilinear or nearest)", sm);
    gs.pmode = !strcmp(pm, "constant") ? RT_PAD_CONSTANT : !strcmp(pm, "border") ? RT_PAD_BORDER
               : !strcmp(pm, "reflection") ? RT_PAD_REFLECTION : !strcmp(pm, "symmetric") ? RT_PAD_SYMMETRIC : -1;
    if (gs.pmode < 0) return rt_fail(c, "unknown padding_mode '%s'", pm);
    gs.cmode = !strcmp(cm, "unnormalized") ? RT_COORD_UNNORMALIZED : !strcmp(cm, "normalized_minus_one_to_one")
               ? RT_COORD_MINUS_ONE_TO_ONE : !strcmp(cm, "normalized_zero_to_one") ? RT_COORD_ZERO_TO_ONE : -1;
    if (gs.cmode < 0) return rt_fail(c, "unknown coordinates_mode '%s'", cm);
    if (x->rank != 4 || g->rank != 4 || g->dims[3] != 2 || g->dims[0] != x->dims[0])
        return rt_fail(c, "x must be [B,C,H,W] and coordinates [B,H2,W2,2] with the same B");
    int64_t B = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], OH = g->dims[1], OW = g->dims[2];
    int64_t od[4] = {B, C, OH, OW};
    const float *xf = rt_f32(c, x), *gf = xf ? rt_f32(c, g) : NULL;
    float *o = gf ? rt_out(c, 0, 4, od, IR_FP32) : NULL;
    if (!o) return -1;
    gs.fill = (float)pv;
    rt_grid_sample(xf, B, C, H, W, gf, OH, OW, &gs, o);
    return 0;
}
