/* warp.c: kernels of the image ops that sample at computed positions and that only packages other
 * tools write hold (fp32 compute):
 *
 * resize (iOS17): the last resized_dims dims of x take the sizes in `shape` (0 keeps x's size), read at
 * run time. LINEAR interpolates one resized axis after the other at resize_bilinear's grid points
 * (rt_grid_point, clamped into the input); NEAREST_NEIGHBOR takes source floor(o * in / out), as
 * resize_nearest_neighbor does, and copies elements in their own dtype (int32 included).
 *
 * crop_resize: each box [y1, x1, y2, x2] (after box_coordinate_mode, normalized coordinates scaled by
 * H - 1 / W - 1, then spatial_scale) is sampled like an image spanning the box: its Xin - 1 is the box's
 * extent, so output row i sits at y1 + grid_point(i) (a reversed box walks backwards). Points outside the
 * image take pad_value (iOS16; 0 before), the rest are bilinear. iOS15/16 give roi [N,1,4,1,1] (every box
 * on every image: [N,B,C,h,w]) or [N,1,5,1,1] (image index first: [N,1,C,h,w]); iOS17 gives boxes [N,4]
 * and box_indices (default 0..N-1): [N,C,h,w].
 *
 * affine: the output's pixel centres on torch's affine_grid lattice in [-1, 1] (align_corners: the
 * corner pixels at +-1; otherwise shrunk by (n - 1) / n; a single pixel at 0) are mapped by
 * [a0 a1 a2; b0 b1 b2] (one row per batch, or one for all) and sampled like resample's bilinear
 * normalized_minus_one_to_one with constant padding. */
#include "runtime/rt_internal.h"

#include <math.h>
#include <strings.h>

/* ---- resize ---- */
typedef struct {
    int64_t outer, in, out, inner; /* one axis of a C-order tensor: [outer, in, inner] -> [outer, out, inner] */
} axis_view;

/* Linear interpolation along one axis: taps i0 / i1 and weight w of i1 per output index. */
static void lerp_axis(const float *src, float *dst, const axis_view *v, const int64_t *i0, const int64_t *i1, const float *w) {
    for (int64_t a = 0; a < v->outer; a++)
        for (int64_t o = 0; o < v->out; o++) {
            const float *r0 = src + (a * v->in + i0[o]) * v->inner, *r1 = src + (a * v->in + i1[o]) * v->inner;
            float *d = dst + (a * v->out + o) * v->inner;
            for (int64_t k = 0; k < v->inner; k++) d[k] = r0[k] + (r1[k] - r0[k]) * w[o];
        }
}

/* Nearest along one axis, elements of es bytes. */
static void pick_axis(const char *src, char *dst, const axis_view *v, const int64_t *i0, size_t es) {
    size_t row = (size_t)v->inner * es;
    for (int64_t a = 0; a < v->outer; a++)
        for (int64_t o = 0; o < v->out; o++)
            memcpy(dst + (size_t)(a * v->out + o) * row, src + (size_t)(a * v->in + i0[o]) * row, row);
}

int rt_k_RESIZE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *st = x ? rt_in_req(c, "shape") : NULL;
    if (!st || !rt_in_req(c, "resized_dims")) return -1;
    int64_t rd;
    int mode;
    const char *im = rt_param_str(c, "interpolation_mode");
    if (!im || rt_param_int_or(c, "resized_dims", 0, &rd) || rt_sampling_mode(c, &mode)) return -1;
    int nearest = strcmp(im, "NEAREST_NEIGHBOR") == 0;
    if (!nearest && strcmp(im, "LINEAR")) return rt_fail(c, "unknown interpolation_mode '%s'", im);
    if (st->rank != 1) return rt_fail(c, "shape must be 1-D");
    int64_t K = st->dims[0];
    const int64_t *sh = rt_i64(c, st);
    if (!sh) return -1;
    if (rd < 0 || rd > K || K > x->rank)
        return rt_fail(c, "resized_dims %lld and the %lld entries of shape must satisfy resized_dims <= entries <= rank %d",
                       (long long)rd, (long long)K, x->rank);
    int64_t od[IR_MAX_RANK], cur[IR_MAX_RANK];
    for (int i = 0; i < x->rank; i++) od[i] = cur[i] = x->dims[i];
    for (int64_t i = 0; i < rd; i++) {
        int axis = x->rank - (int)rd + (int)i;
        int64_t v = sh[K - rd + i];
        if (v < 0) return rt_fail(c, "shape entry %lld is negative", (long long)v);
        if (v > 0) od[axis] = v;
        if (od[axis] > 0 && x->dims[axis] == 0) return rt_fail(c, "cannot resize an empty dim %d to %lld", axis, (long long)od[axis]);
    }
    ir_dtype kdt = nearest ? x->dtype : IR_FP32;
    size_t es = ir_dtype_size(kdt);
    void *y = rt_out(c, 0, x->rank, od, kdt);
    if (!y) return -1;
    if (rt_numel_dims(x->rank, od) == 0) return 0;
    const void *src = nearest ? x->data : (const void *)rt_f32(c, x);
    if (!src) return -1;
    if (rd == 0) {
        memcpy(y, src, (size_t)rt_numel(x) * es);
        return 0;
    }
    for (int64_t i = 0; i < rd; i++) {
        int axis = x->rank - (int)rd + (int)i;
        axis_view v = {1, cur[axis], od[axis], 1};
        for (int k = 0; k < axis; k++) v.outer *= cur[k];
        for (int k = axis + 1; k < x->rank; k++) v.inner *= cur[k];
        void *dst = i == rd - 1 ? y : rt_scratch(c, (size_t)(v.outer * v.out * v.inner) * es, 0);
        int64_t *i0 = dst ? rt_scratch(c, sizeof(int64_t) * (size_t)(2 * v.out), 0) : NULL;
        float *w = i0 ? rt_scratch(c, sizeof(float) * (size_t)v.out, 0) : NULL;
        if (!w) return -1;
        for (int64_t o = 0; o < v.out; o++) {
            if (nearest) {
                int64_t q = o * v.in / v.out;
                i0[o] = q < v.in ? q : v.in - 1;
                continue;
            }
            double p = rt_grid_point(mode, o, (double)v.in, (double)v.out);
            p = p < 0 ? 0 : p > v.in - 1 ? (double)(v.in - 1) : p;
            i0[o] = (int64_t)floor(p);
            i0[v.out + o] = i0[o] + 1 < v.in ? i0[o] + 1 : v.in - 1;
            w[o] = (float)(p - (double)i0[o]);
        }
        if (nearest) pick_axis(src, dst, &v, i0, es);
        else lerp_axis(src, dst, &v, i0, i0 + v.out, w);
        cur[axis] = od[axis];
        src = dst;
    }
    return 0;
}

/* ---- crop_resize ---- */
enum { BOX_CORNERS_HW, BOX_CORNERS_WH, BOX_CENTER_HW, BOX_CENTER_WH };

/* Positions of n output points along a box side from a to b (see the file comment). */
static void box_points(int mode, double a, double b, int64_t n, double *pos) {
    double span = fabs(b - a), dir = b < a ? -1.0 : 1.0;
    for (int64_t i = 0; i < n; i++) {
        double g = rt_grid_point(mode, i, span + 1, (double)n);
        g = g < 0 ? 0 : g > span ? span : g;
        pos[i] = a + dir * g;
    }
}

/* Bilinear value of img[H, W] at (py, px); outside [0, H-1] x [0, W-1] it is pad. */
static float sample_or_pad(const float *img, int64_t H, int64_t W, double py, double px, float pad) {
    if (!(py >= 0 && py <= H - 1 && px >= 0 && px <= W - 1)) return pad;
    int64_t y0 = (int64_t)floor(py), x0 = (int64_t)floor(px);
    int64_t y1 = y0 + 1 < H ? y0 + 1 : H - 1, x1 = x0 + 1 < W ? x0 + 1 : W - 1;
    float wy = (float)(py - (double)y0), wx = (float)(px - (double)x0);
    const float *r0 = img + y0 * W, *r1 = img + y1 * W;
    float top = r0[x0] + (r0[x1] - r0[x0]) * wx, bot = r1[x0] + (r1[x1] - r1[x0]) * wx;
    return top + (bot - top) * wy;
}

typedef struct {
    int mode, box_mode, normalized;
    double scale;
    float pad;
    int64_t H, W, th, tw;
} crop_spec;

/* One crop of all C channels of image img (C planes) by box q (4 coordinates) into dst (C planes of th x tw). */
static void crop_one(const crop_spec *s, const float *q, const float *img, int64_t C, double *ys, double *xs, float *dst) {
    double h0, w0, h1, w1;
    if (s->box_mode == BOX_CORNERS_HW || s->box_mode == BOX_CENTER_HW) h0 = q[0], w0 = q[1], h1 = q[2], w1 = q[3];
    else w0 = q[0], h0 = q[1], w1 = q[2], h1 = q[3];
    if (s->box_mode >= BOX_CENTER_HW) { /* centre and size -> corners */
        double hc = h0, wc = w0, hs = h1, ws = w1;
        h0 = hc - hs / 2, h1 = hc + hs / 2, w0 = wc - ws / 2, w1 = wc + ws / 2;
    }
    double fy = s->scale * (s->normalized ? (double)(s->H - 1) : 1.0), fx = s->scale * (s->normalized ? (double)(s->W - 1) : 1.0);
    box_points(s->mode, h0 * fy, h1 * fy, s->th, ys);
    box_points(s->mode, w0 * fx, w1 * fx, s->tw, xs);
    for (int64_t ch = 0; ch < C; ch++) {
        const float *plane = img + ch * s->H * s->W;
        float *d = dst + ch * s->th * s->tw;
        for (int64_t i = 0; i < s->th; i++)
            for (int64_t j = 0; j < s->tw; j++) d[i * s->tw + j] = sample_or_pad(plane, s->H, s->W, ys[i], xs[j], s->pad);
    }
}

int rt_k_CROP_RESIZE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    const rt_tensor *roi = rt_in(c, "roi"), *boxes = rt_in(c, "boxes"), *bi = rt_in(c, "box_indices");
    if (!roi == !boxes) return rt_fail(c, "needs exactly one of roi (iOS15, iOS16) and boxes (iOS17)");
    crop_spec s;
    double pad;
    const char *bm = rt_param_str(c, "box_coordinate_mode");
    if (!bm || rt_param_int(c, "target_height", &s.th) || rt_param_int(c, "target_width", &s.tw) ||
        rt_param_bool(c, "normalized_coordinates", &s.normalized) || rt_param_float(c, "spatial_scale", &s.scale) ||
        rt_param_float(c, "pad_value", &pad) || rt_sampling_mode(c, &s.mode))
        return -1;
    static const char *const box_modes[] = {"CORNERS_HEIGHT_FIRST", "CORNERS_WIDTH_FIRST", "CENTER_SIZE_HEIGHT_FIRST",
                                            "CENTER_SIZE_WIDTH_FIRST"};
    for (s.box_mode = 0; s.box_mode < PC_ARRAY_LEN(box_modes) && strcmp(bm, box_modes[s.box_mode]); s.box_mode++) {
    }
    if (s.box_mode == PC_ARRAY_LEN(box_modes)) return rt_fail(c, "unknown box_coordinate_mode '%s'", bm);
    if (s.th < 1 || s.tw < 1) return rt_fail(c, "target_height and target_width must be >= 1");
    if (x->rank != 4) return rt_fail(c, "x must be [B, C, H, W]");
    int64_t B = x->dims[0], C = x->dims[1];
    s.H = x->dims[2], s.W = x->dims[3], s.pad = (float)pad;
    const rt_tensor *bt = roi ? roi : boxes;
    int64_t N = bt->dims[0], per = roi ? (roi->rank == 5 ? roi->dims[2] : 0) : (boxes->rank == 2 ? boxes->dims[1] : 0);
    if (roi && (roi->rank != 5 || (per != 4 && per != 5))) return rt_fail(c, "roi must be [N, 1, 4, 1, 1] or [N, 1, 5, 1, 1]");
    if (boxes && per != 4) return rt_fail(c, "boxes must be [N, 4]");
    if (bi && (roi || bi->rank != 1 || bi->dims[0] != N)) return rt_fail(c, "box_indices must be [N] and go with boxes");
    int every = roi && per == 4; /* each box crops every image */
    int64_t od[5], rank;
    if (roi) rank = 5, od[0] = N, od[1] = every ? B : 1, od[2] = C, od[3] = s.th, od[4] = s.tw;
    else rank = 4, od[0] = N, od[1] = C, od[2] = s.th, od[3] = s.tw;
    const float *xf = rt_f32(c, x), *bf = xf ? rt_f32(c, bt) : NULL;
    const int64_t *idx = bf && bi ? rt_i64(c, bi) : NULL;
    double *ys = bf && (!bi || idx) ? rt_scratch(c, sizeof(double) * (size_t)(s.th + s.tw), 0) : NULL;
    float *y = ys ? rt_out(c, 0, (int)rank, od, IR_FP32) : NULL;
    if (!y) return -1;
    if (s.H == 0 || s.W == 0) return rt_fail(c, "cannot crop an empty image");
    int64_t plane = C * s.th * s.tw, k = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t b = 0; b < (every ? B : 1); b++, k++) {
            const float *q = bf + n * per;
            int64_t img = b;
            if (!every) {
                double v = per == 5 ? (double)*q++ : (double)(idx ? idx[n] : n);
                img = (int64_t)v;
                if (!(v >= 0 && v < (double)B) || (double)img != v)
                    return rt_fail(c, "box %lld names image %g of a batch of %lld", (long long)n, v, (long long)B);
            }
            crop_one(&s, q, xf + img * C * s.H * s.W, C, ys, ys + s.th, y + k * plane);
        }
    return 0;
}

/* ---- affine ---- */
/* Normalized coordinate of pixel i of n (torch's affine_grid base grid). */
static double base_coord(int64_t i, int64_t n, int ac) {
    if (n <= 1) return 0.0;
    double v = -1.0 + 2.0 * (double)i / (double)(n - 1);
    return ac ? v : v * (double)(n - 1) / (double)n;
}

int rt_k_AFFINE(rt_ctx *c) {
    static const char *const req[] = {"output_height", "output_width", "sampling_mode", "padding_mode", "padding_value",
                                      "coordinates_mode", "align_corners"};
    const rt_tensor *x = rt_in_req(c, "x"), *m = x ? rt_in_req(c, "transform_matrix") : NULL;
    if (!m) return -1;
    for (int i = 0; i < PC_ARRAY_LEN(req); i++)
        if (!rt_in_req(c, req[i])) return -1;
    int64_t OH, OW;
    double pv;
    rt_grid_spec gs = {.pmode = RT_PAD_CONSTANT, .cmode = RT_COORD_MINUS_ONE_TO_ONE};
    const char *sm = rt_param_str(c, "sampling_mode"), *pm = sm ? rt_param_str(c, "padding_mode") : NULL,
               *cm = pm ? rt_param_str(c, "coordinates_mode") : NULL;
    if (!cm || rt_param_int_or(c, "output_height", 1, &OH) || rt_param_int_or(c, "output_width", 1, &OW) ||
        rt_param_float_or(c, "padding_value", 0.0, &pv) || rt_param_bool_or(c, "align_corners", 0, &gs.ac))
        return -1;
    if (strcasecmp(sm, "bilinear") || strcasecmp(pm, "constant") || strcasecmp(cm, "normalized_minus_one_to_one"))
        return rt_fail(c, "runs bilinear sampling, constant padding and normalized_minus_one_to_one coordinates only "
                          "(what MIL allows), got '%s', '%s', '%s'", sm, pm, cm);
    if (OH < 1 || OW < 1) return rt_fail(c, "output_height and output_width must be >= 1");
    if (x->rank != 4 || m->rank != 2 || m->dims[1] != 6 || (m->dims[0] != 1 && m->dims[0] != x->dims[0]))
        return rt_fail(c, "x must be [B, C, H, W] and transform_matrix [1 or B, 6]");
    int64_t B = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], od[4] = {B, C, OH, OW};
    gs.fill = (float)pv;
    const float *xf = rt_f32(c, x), *mf = xf ? rt_f32(c, m) : NULL;
    float *grid = mf ? rt_scratch(c, sizeof(float) * (size_t)(B * OH * OW * 2), 0) : NULL;
    float *y = grid ? rt_out(c, 0, 4, od, IR_FP32) : NULL;
    if (!y) return -1;
    if (B * C * OH * OW == 0) return 0;
    if (H == 0 || W == 0) return rt_fail(c, "cannot sample an empty image");
    for (int64_t b = 0; b < B; b++) {
        const float *a = mf + (m->dims[0] == 1 ? 0 : b) * 6;
        for (int64_t i = 0; i < OH; i++)
            for (int64_t j = 0; j < OW; j++) {
                double u = base_coord(j, OW, gs.ac), v = base_coord(i, OH, gs.ac);
                float *g = grid + ((b * OH + i) * OW + j) * 2;
                g[0] = (float)(a[0] * u + a[1] * v + a[2]);
                g[1] = (float)(a[3] * u + a[4] * v + a[5]);
            }
    }
    rt_grid_sample(xf, B, C, H, W, grid, OH, OW, &gs, y);
    return 0;
}
