/* infer_image.c: shape inference for pixel rearranging ops (pixel_shuffle,
 * pixel_unshuffle, depth_to_space, space_to_depth, space_to_batch,
 * batch_to_space; rank-4 NCHW) and image resampling (upsample_nearest_neighbor,
 * upsample_bilinear, resize_nearest_neighbor, resize_bilinear on the last two
 * dims; resample with a coordinate grid). MIL iOS15 definitions plus iOS16
 * pixel_unshuffle and upsample_bilinear.half_pixel_centers.
 */
#include "ir/infer_int.h"

#include <math.h>
#include <string.h>

/* d * f, d / f (must divide) for a dim that may be symbolic. */
static int64_t dim_mul(infer_ctx *c, int64_t d, int64_t f) { return IR_IS_SYM(d) ? (f == 1 ? d : inf_fresh(c)) : d * f; }

static int dim_div(infer_ctx *c, const char *what, int64_t d, int64_t f, int64_t *out) {
    if (IR_IS_SYM(d)) {
        *out = f == 1 ? d : inf_fresh(c);
        return 0;
    }
    if (d % f) return inf_fail(c, "%s %lld is not divisible by %lld", what, (long long)d, (long long)f);
    *out = d / f;
    return 0;
}

static int need_rank4(infer_ctx *c, const ir_type **x) {
    if (inf_input(c, "x", 1, x)) return -1;
    if ((*x)->rank != 4) return inf_fail(c, "x %s must have rank 4", inf_tstr(*x));
    return 0;
}

/* pixel_shuffle / depth_to_space (up = 1) and pixel_unshuffle / space_to_depth (up = 0). */
static int infer_pixel(infer_ctx *c, const char *param, int up) {
    const ir_type *x, *p;
    int64_t f;
    if (need_rank4(c, &x) || inf_input(c, param, 1, &p) || inf_int(c, param, &f)) return -1;
    if (f < 1) return inf_fail(c, "%s must be >= 1, got %lld", param, (long long)f);
    ir_type t = *x;
    if (up) {
        if (dim_div(c, "channel count", x->dims[1], f * f, &t.dims[1])) return -1;
        t.dims[2] = dim_mul(c, x->dims[2], f);
        t.dims[3] = dim_mul(c, x->dims[3], f);
    } else {
        t.dims[1] = dim_mul(c, x->dims[1], f * f);
        if (dim_div(c, "height", x->dims[2], f, &t.dims[2]) || dim_div(c, "width", x->dims[3], f, &t.dims[3])) return -1;
    }
    return inf_out(c, t);
}

/* Const integers of param `name` (any rank, e.g. paddings [2, 2]); exactly n of them. */
static int const_ints(infer_ctx *c, const char *name, int64_t *v, int n) {
    const ir_type *t;
    if (inf_input(c, name, 1, &t)) return -1;
    const ir_const *k = ir_op_arg(c->op, name)->v[0]->konst;
    if (!k) return inf_fail(c, "parameter '%s' must be a constant", name);
    if (k->store == IR_STRING || k->count != n) return inf_fail(c, "parameter '%s' must hold %d integers", name, n);
    for (int i = 0; i < n; i++) v[i] = ir_const_get_i64(k, i);
    return 0;
}

/* space_to_batch (paddings) and batch_to_space (crops): block_shape [2], pads [2, 2]. */
static int infer_space_batch(infer_ctx *c, int to_batch) {
    const ir_type *x;
    int64_t b[2], p[4];
    const char *pname = to_batch ? "paddings" : "crops";
    if (need_rank4(c, &x) || const_ints(c, "block_shape", b, 2) || const_ints(c, pname, p, 4)) return -1;
    if (b[0] < 1 || b[1] < 1) return inf_fail(c, "block_shape entries must be >= 1");
    for (int i = 0; i < 4; i++)
        if (p[i] < 0) return inf_fail(c, "%s must be >= 0", pname);
    ir_type t = *x;
    if (to_batch) {
        t.dims[0] = dim_mul(c, x->dims[0], b[0] * b[1]);
        for (int i = 0; i < 2; i++) {
            int64_t d = x->dims[2 + i];
            if (IR_IS_SYM(d)) t.dims[2 + i] = inf_fresh(c);
            else if (dim_div(c, i ? "padded width" : "padded height", d + p[2 * i] + p[2 * i + 1], b[i], &t.dims[2 + i]))
                return -1;
        }
    } else {
        if (dim_div(c, "batch", x->dims[0], b[0] * b[1], &t.dims[0])) return -1;
        for (int i = 0; i < 2; i++) {
            int64_t d = x->dims[2 + i];
            if (IR_IS_SYM(d)) {
                t.dims[2 + i] = inf_fresh(c);
                continue;
            }
            t.dims[2 + i] = d * b[i] - p[2 * i] - p[2 * i + 1];
            if (t.dims[2 + i] < 0) return inf_fail(c, "crops remove more than dim %d holds", 2 + i);
        }
    }
    return inf_out(c, t);
}

static int need_image(infer_ctx *c, const ir_type **x) {
    if (inf_input(c, "x", 1, x)) return -1;
    if ((*x)->rank < 3) return inf_fail(c, "x %s must have rank >= 3", inf_tstr(*x));
    if (!ir_dtype_is_float((*x)->dtype)) return inf_fail(c, "x must be fp16 or fp32, got %s", ir_dtype_name((*x)->dtype));
    return 0;
}

/* upsample_*: H2 = floor(H1 * scale) in fp32 arithmetic, like coremltools. */
static int infer_upsample(infer_ctx *c, int bilinear) {
    const ir_type *x;
    double sh, sw;
    int ac, hp;
    if (need_image(c, &x) || inf_float(c, "scale_factor_height", &sh) ||
        inf_float(c, "scale_factor_width", &sw))
        return -1;
    if (bilinear && (inf_bool(c, "align_corners", &ac) || inf_bool_or(c, "half_pixel_centers", !ac, &hp))) return -1;
    if (!(sh > 0) || !(sw > 0)) return inf_fail(c, "scale factors must be > 0");
    ir_type t = *x;
    for (int i = 0; i < 2; i++) {
        int64_t d = x->dims[x->rank - 2 + i];
        float s = (float)(i ? sw : sh);
        int64_t o = IR_IS_SYM(d) ? (s == 1.0f ? d : inf_fresh(c)) : (int64_t)floorf(s * (float)d);
        if (!IR_IS_SYM(o) && o < 1) return inf_fail(c, "scale %g gives an empty dim from %lld", (double)s, (long long)d);
        t.dims[x->rank - 2 + i] = o;
    }
    return inf_out(c, t);
}

static int infer_resize(infer_ctx *c, int bilinear) {
    const ir_type *x;
    int64_t h, w;
    if (need_image(c, &x)) return -1;
    if (!bilinear) {
        const ir_type *p;
        if (inf_input(c, "target_size_height", 1, &p) || inf_input(c, "target_size_width", 1, &p)) return -1;
    }
    if (inf_int(c, "target_size_height", &h) || inf_int(c, "target_size_width", &w)) return -1;
    if (h < 1 || w < 1) return inf_fail(c, "target sizes must be >= 1");
    if (bilinear) {
        const char *m;
        static const char *const modes[] = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS",
                                            "UNALIGN_CORNERS"};
        if (inf_str(c, "sampling_mode", &m)) return -1;
        int ok = 0;
        for (int i = 0; i < PC_ARRAY_LEN(modes); i++) ok |= strcmp(m, modes[i]) == 0;
        if (!ok) return inf_fail(c, "unknown sampling_mode '%s'", m);
    }
    ir_type t = *x;
    t.dims[x->rank - 2] = h;
    t.dims[x->rank - 1] = w;
    return inf_out(c, t);
}

int inf_resample(infer_ctx *c) {
    const ir_type *x, *g, *p;
    static const char *const params[] = {"sampling_mode", "padding_mode", "padding_value", "coordinates_mode", "align_corners"};
    if (inf_input(c, "x", 1, &x) || inf_input(c, "coordinates", 1, &g)) return -1;
    for (int i = 0; i < PC_ARRAY_LEN(params); i++)
        if (inf_input(c, params[i], 1, &p)) return -1;
    const char *sm, *pm, *cm;
    double pv;
    int ac;
    if (inf_str(c, "sampling_mode", &sm) || inf_str(c, "padding_mode", &pm) ||
        inf_str(c, "coordinates_mode", &cm) || inf_float(c, "padding_value", &pv) ||
        inf_bool(c, "align_corners", &ac))
        return -1;
    if (strcmp(sm, "bilinear") && strcmp(sm, "nearest")) return inf_fail(c, "unknown sampling_mode '%s'", sm);
    if (strcmp(pm, "constant") && strcmp(pm, "border") && strcmp(pm, "reflection") && strcmp(pm, "symmetric"))
        return inf_fail(c, "unknown padding_mode '%s'", pm);
    if (strcmp(cm, "unnormalized") && strcmp(cm, "normalized_minus_one_to_one") && strcmp(cm, "normalized_zero_to_one"))
        return inf_fail(c, "unknown coordinates_mode '%s'", cm);
    if (x->rank != 4 || g->rank != 4) return inf_fail(c, "x %s and coordinates %s must have rank 4", inf_tstr(x), inf_tstr(g));
    if (!IR_IS_SYM(g->dims[3]) && g->dims[3] != 2) return inf_fail(c, "coordinates %s must end in 2", inf_tstr(g));
    if (!IR_IS_SYM(x->dims[0]) && !IR_IS_SYM(g->dims[0]) && x->dims[0] != g->dims[0])
        return inf_fail(c, "x %s and coordinates %s differ in batch", inf_tstr(x), inf_tstr(g));
    ir_type t = *x;
    t.dims[2] = g->dims[1];
    t.dims[3] = g->dims[2];
    return inf_out(c, t);
}

int inf_pixel_shuffle(infer_ctx *c) { return infer_pixel(c, "upscale_factor", 1); }
int inf_depth_to_space(infer_ctx *c) { return infer_pixel(c, "block_size", 1); }
int inf_pixel_unshuffle(infer_ctx *c) { return infer_pixel(c, "downscale_factor", 0); }
int inf_space_to_depth(infer_ctx *c) { return infer_pixel(c, "block_size", 0); }
int inf_space_to_batch(infer_ctx *c) { return infer_space_batch(c, 1); }
int inf_batch_to_space(infer_ctx *c) { return infer_space_batch(c, 0); }
int inf_upsample_nearest_neighbor(infer_ctx *c) { return infer_upsample(c, 0); }
int inf_upsample_bilinear(infer_ctx *c) { return infer_upsample(c, 1); }
int inf_resize_nearest_neighbor(infer_ctx *c) { return infer_resize(c, 0); }
int inf_resize_bilinear(infer_ctx *c) { return infer_resize(c, 1); }
