/* resample.c: spatial resampling of NCHW tensors: upsample_bilinear2d and
 * upsample_nearest2d (output_size or scale_factor forms, as `interpolate`
 * traces them), pixel_shuffle / pixel_unshuffle / channel_shuffle, grid_sampler and
 * affine_grid_generator (the spatial transformer's two halves).
 *
 * Sizes known at conversion time are resolved then. Whole-number
 * ratios become MIL upsample_* ops (what coremltools emits); other sizes become
 * resize_* with target sizes. PyTorch maps output pixels with 1 / scale_factor
 * when a scale factor is given and in / out otherwise; MIL always uses in / out,
 * so a fractional factor that does not produce a whole size goes to interp.c
 * (torch's per-axis map as gathers). */
#include "lower/build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* x must be rank 4 (H and W may be symbolic: then *H or *W is negative). */
static ir_value *image_in(lower_ctx *cx, const ts_node *n, int64_t *H, int64_t *W) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return NULL;
    if (x->type.rank != 4) {
        lower_fail(cx, "input of rank %d; only 4-D (N, C, H, W) inputs are supported", x->type.rank);
        return NULL;
    }
    *H = x->type.dims[2];
    *W = x->type.dims[3];
    if (!ir_dtype_is_float(x->type.dtype)) x = lb_cast(cx, x, IR_FP32, "fp32");
    return x;
}

static int scale_const_fail(lower_ctx *cx, const ts_node *n) {
    return lower_fail(cx, "scale factors known only at run time: MIL's %s takes scale_factor_height / scale_factor_width "
                          "as constants known at conversion time (interpolate to a size= computed from the input's "
                          "size instead)", cx->row->mil == IR_OP_UPSAMPLE_NEAREST_NEIGHBOR ? "upsample_nearest_neighbor" : "upsample_bilinear");
}

/* Two scale factors from input i: a list of 2 numbers, a single number, or None (*given = 0). */
static int scales_in(lower_ctx *cx, const ts_node *n, int i, double *s, int *given) {
    *given = 0;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    if (l->kind == LV_LIST || l->kind == LV_TUPLE) {
        if (l->n != 2) return lower_fail(cx, "scale factors: %d values for 2 spatial dims", l->n);
        for (int k = 0; k < 2; k++) {
            lv *x = l->items[k];
            if (x->dyn) return scale_const_fail(cx, n);
            if (x->kind != LV_FLOAT && x->kind != LV_INT) return lower_fail(cx, "scale factors must be numbers");
            s[k] = x->kind == LV_FLOAT ? x->f : (double)x->i;
        }
    } else if ((l->kind == LV_FLOAT || l->kind == LV_INT) && !l->dyn) {
        s[0] = s[1] = l->kind == LV_FLOAT ? l->f : (double)l->i;
    } else if (l->dyn) {
        return scale_const_fail(cx, n);
    } else {
        return lower_fail(cx, "scale factors must be numbers");
    }
    if (!(s[0] > 0) || !(s[1] > 0)) return lower_fail(cx, "scale factors must be > 0, got %g and %g", s[0], s[1]);
    *given = 1;
    return 0;
}

/* The output size: from output_size (input osz) or floor(in * scale) (scales si, or sh/sw at
 * sh_i, sw_i for the 5-input overload). Returns 1 for factors whose pixel mapping MIL's resize ops
 * cannot express (interp.c then builds torch's exact per-axis map), 0 when they can, -1 on error. */
/* The scale factors of either overload: the list at si (.vec), or scales_h / scales_w at sh_i, sh_i + 1. */
static int node_scales(lower_ctx *cx, const ts_node *n, int si, int sh_i, double *s, int *given) {
    *given = 0;
    if (si >= 0) return scales_in(cx, n, si, s, given);
    if (sh_i < n->nin && !lower_is_none(cx, n, sh_i) && sh_i + 1 < n->nin && !lower_is_none(cx, n, sh_i + 1)) {
        if (lower_float_in(cx, n, sh_i, &s[0]) || lower_float_in(cx, n, sh_i + 1, &s[1])) return -1;
        *given = 1;
    }
    return 0;
}

static int out_size(lower_ctx *cx, const ts_node *n, int osz, int si, int sh_i, int64_t H, int64_t W, int64_t *OH,
                    int64_t *OW) {
    double s[2];
    int given = 0;
    if (node_scales(cx, n, si, sh_i, s, &given)) return -1;
    if (osz < n->nin && !lower_is_none(cx, n, osz)) {
        int64_t v[2];
        int cnt;
        if (lower_ints_in(cx, n, osz, v, 2, &cnt)) return -1;
        if (cnt != 2) return lower_fail(cx, "output_size has %d values for 2 spatial dims", cnt);
        *OH = v[0];
        *OW = v[1];
    } else if (given) {
        *OH = (int64_t)floor((double)H * s[0]);
        *OW = (int64_t)floor((double)W * s[1]);
    } else {
        return lower_fail(cx, "neither output_size nor scale factors are given");
    }
    if (*OH <= 0 || *OW <= 0) return lower_fail(cx, "output size %lldx%lld is empty", (long long)*OH, (long long)*OW);
    if (given) { /* torch maps with 1 / scale; MIL with in / out: they agree only when in * scale == out */
        if (fabs((double)H * s[0] - (double)*OH) > 1e-6 * (double)*OH ||
            fabs((double)W * s[1] - (double)*OW) > 1e-6 * (double)*OW)
            return 1;
    }
    return 0;
}

/* The two scale factors as number lvs (a run-time one is a rank-0 value, dyn), from the list at si (.vec) or
 * scales_h / scales_w at sh_i, sh_i + 1; *given = 0 when there are none. */
static int scale_lvs(lower_ctx *cx, const ts_node *n, int si, int sh_i, lv **s, int *given) {
    *given = 0;
    if (si >= 0) {
        if (si >= n->nin || lower_is_none(cx, n, si)) return 0;
        lv *l = lower_in(cx, n, si);
        if (!l) return -1;
        if (l->kind == LV_LIST || l->kind == LV_TUPLE) {
            if (l->n != 2) return lower_fail(cx, "scale factors: %d values for 2 spatial dims", l->n);
            s[0] = l->items[0], s[1] = l->items[1];
        } else {
            s[0] = s[1] = l;
        }
    } else {
        if (sh_i + 1 >= n->nin || lower_is_none(cx, n, sh_i) || lower_is_none(cx, n, sh_i + 1)) return 0;
        if (!(s[0] = lower_in(cx, n, sh_i)) || !(s[1] = lower_in(cx, n, sh_i + 1))) return -1;
    }
    for (int k = 0; k < 2; k++)
        if (s[k]->kind != LV_FLOAT && s[k]->kind != LV_INT) return lower_fail(cx, "scale factors must be numbers");
    *given = 1;
    return 0;
}

/* 1 when a scale factor of the node is known only at run time. */
static int scales_dyn(lower_ctx *cx, const ts_node *n, int si, int sh_i) {
    lv *s[2];
    int given = 0;
    if (scale_lvs(cx, n, si, sh_i, s, &given) || !given) return 0;
    return s[0]->dyn || s[1]->dyn;
}

static double lv_num(const lv *l) { return l->kind == LV_FLOAT ? l->f : (double)l->i; }

/* ---- sizes known only at run time ----
 * An input of symbolic H or W, or an output_size computed from run-time sizes: whole-number scale factors
 * keep MIL's upsample_* (its scale factors are constants, the input's size may vary); everything else maps
 * each output row / column to its source ones at run time (torch's formulas on range_1d, then gathers), as
 * MIL's resize_* ops need their target sizes at conversion time. */

/* x resampled along axis a (2 or 3) from run-time size `in` to `out` (int lvs): nearest or bilinear with
 * torch's source-index formulas; scale (a number lv, known now or at run time): the factor torch maps with
 * (1 / scale); NULL: in / out. */
static ir_value *resample_axis(lower_ctx *cx, ir_value *x, int a, lv *in, lv *out, int bilinear, int ac, lv *scale) {
    ir_value *vin = lb_scalar(cx, in, IR_FP32), *vout = lb_scalar(cx, out, IR_INT32);
    ir_value *r0 = lb_range(cx, vout, 1, "dst");
    ir_value *dst = lb_cast(cx, r0, IR_FP32, "dstf");
    ir_value *fout = lb_cast(cx, vout, IR_FP32, "outf"), *r;
    if (!fout) return NULL;
    if (bilinear && ac) { /* (in - 1) / (out - 1), 0 for a single output */
        ir_value *num = lb_scalar_op(cx, IR_OP_SUB, vin, 1), *den = lb_scalar_op(cx, IR_OP_SUB, fout, 1);
        ir_value *safe = lb_scalar_op(cx, IR_OP_MAXIMUM, den, 1);
        r = lb_binary(cx, IR_OP_REAL_DIV, num, safe, "scale");
    } else if (scale && !scale->dyn) {
        r = lb_const_scalar(cx, 1.0 / lv_num(scale), IR_FP32, "scale");
    } else if (scale) { /* 1 / scale at run time */
        r = lb_binary(cx, IR_OP_REAL_DIV, lb_const_scalar(cx, 1.0, IR_FP32, "one"), lb_scalar(cx, scale, IR_FP32), "scale");
    } else {
        r = lb_binary(cx, IR_OP_REAL_DIV, vin, fout, "scale");
    }
    ir_value *lastf = lb_scalar_op(cx, IR_OP_SUB, vin, 1);
    ir_value *last = lb_cast(cx, lastf, IR_INT32, "last");
    if (!r || !last) return NULL;
    if (!bilinear) { /* min(floor(dst * scale), in - 1) */
        ir_value *src = lb_unary(cx, IR_OP_FLOOR, lb_binary(cx, IR_OP_MUL, dst, r, "src"), "floor");
        ir_value *idx = lb_cast(cx, src, IR_INT32, "idx");
        idx = lb_binary(cx, IR_OP_MINIMUM, idx, last, "clamp");
        return lb_gather(cx, x, idx, a);
    }
    ir_value *src = lb_binary(cx, IR_OP_MUL, ac ? dst : lb_scalar_op(cx, IR_OP_ADD, dst, 0.5), r, "src");
    if (!ac && src) src = lb_scalar_op(cx, IR_OP_MAXIMUM, lb_scalar_op(cx, IR_OP_SUB, src, 0.5), 0);
    ir_value *fl = lb_unary(cx, IR_OP_FLOOR, src, "floor");
    ir_value *i0 = lb_binary(cx, IR_OP_MINIMUM, lb_cast(cx, fl, IR_INT32, "i0"), last, "i0c");
    ir_value *i1 = lb_binary(cx, IR_OP_MINIMUM, lb_scalar_op(cx, IR_OP_ADD, i0, 1), last, "i1");
    ir_value *l1 = lb_binary(cx, IR_OP_SUB, src, lb_cast(cx, i0, IR_FP32, "i0f"), "l1");
    if (l1 && x->type.dtype != IR_FP32) l1 = lb_cast(cx, l1, x->type.dtype, "l1c");
    if (l1 && a == 2) l1 = lb_expand(cx, l1, 1, (int64_t[]){1}); /* [out, 1]: broadcasts over W */
    ir_value *g0 = lb_gather(cx, x, i0, a), *g1 = lb_gather(cx, x, i1, a);
    ir_value *d = lb_binary(cx, IR_OP_SUB, g1, g0, "diff"); /* g0 + (g1 - g0) * l1 */
    return lb_binary(cx, IR_OP_ADD, g0, lb_binary(cx, IR_OP_MUL, d, l1, "step"), NULL);
}

/* The run-time form of upsample_{nearest,bilinear}2d (osz: output_size input; si / sh_i: scales as in
 * out_size). */
static int upsample_dyn(lower_ctx *cx, const ts_node *n, ir_value *x, int bilinear, int ac, int osz, int si, int sh_i) {
    lv *sl[2];
    double s[2] = {0, 0};
    int given;
    if (scale_lvs(cx, n, si, sh_i, sl, &given)) return -1;
    int has_size = osz < n->nin && !lower_is_none(cx, n, osz);
    if (!has_size && !given) return lower_fail(cx, "neither output_size nor scale factors are given");
    int static_scales = given && !sl[0]->dyn && !sl[1]->dyn;
    for (int k = 0; k < 2 && static_scales; k++)
        if (!((s[k] = lv_num(sl[k])) > 0)) return lower_fail(cx, "scale factors must be > 0, got %g", s[k]);
    if (!has_size && static_scales && s[0] == floor(s[0]) && s[1] == floor(s[1]) && s[0] < 1 << 16 &&
        s[1] < 1 << 16) {
        /* whole factors: MIL's upsample_* maps pixels as torch does, whatever the input's size */
        ir_op *op = lb_op(cx, bilinear ? IR_OP_UPSAMPLE_BILINEAR : IR_OP_UPSAMPLE_NEAREST_NEIGHBOR, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "scale_factor_height", (int32_t)s[0]) ||
            lb_param_i32(cx, op, "scale_factor_width", (int32_t)s[1]) ||
            (bilinear && lb_param_bool(cx, op, "align_corners", ac)))
            return -1;
        return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
    }
    lv *out[2];
    if (has_size) {
        lv *l = lower_in(cx, n, osz);
        if (!l) return -1;
        if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->n != 2)
            return lower_fail(cx, "output_size must be a list of 2 ints");
        out[0] = l->items[0];
        out[1] = l->items[1];
    }
    for (int k = 0; k < 2; k++) {
        lv *in = lower_dim_lv(cx, x, 2 + k);
        if (!in) return -1;
        if (!has_size) { /* floor(in * scale) */
            if (!in->dyn && static_scales) {
                out[k] = lv_int(cx, (int64_t)floor((double)in->i * s[k]));
            } else {
                ir_value *fin = in->dyn ? lb_cast(cx, in->v, IR_FP32, "inf") : lb_scalar(cx, in, IR_FP32);
                ir_value *f = static_scales ? lb_scalar_op(cx, IR_OP_MUL, fin, s[k])
                                            : lb_binary(cx, IR_OP_MUL, fin, lb_scalar(cx, sl[k], IR_FP32), "ins");
                f = lb_cast(cx, lb_unary(cx, IR_OP_FLOOR, f, "floor"), IR_INT32, "out");
                if (f && (out[k] = lv_new(cx, LV_INT))) {
                    out[k]->dyn = 1;
                    out[k]->v = f;
                }
            }
            if (!out[k]) return -1;
        }
        if (!in->dyn && !out[k]->dyn && in->i == out[k]->i && (!given || (static_scales && s[k] == 1)))
            continue; /* same size */
        if (!(x = resample_axis(cx, x, 2 + k, in, out[k], bilinear, ac, given && !has_size ? sl[k] : NULL))) return -1;
    }
    return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_IDENTITY, x, NULL));
}

static int size_is_dyn(lower_ctx *cx, const ts_node *n, int osz) {
    if (osz >= n->nin || lower_is_none(cx, n, osz)) return 0;
    lv *l = lower_in(cx, n, osz);
    int64_t v[IR_MAX_RANK];
    int cnt;
    return l && (l->kind == LV_LIST || l->kind == LV_TUPLE) && lv_ints(cx, l, v, IR_MAX_RANK, &cnt) != 0;
}

static int whole_ratio(int64_t in, int64_t out) { return in > 0 && out >= in && out % in == 0; }

/* upsample_bilinear2d(x, output_size, align_corners, scales_h, scales_w) and
 * upsample_bilinear2d.vec(x, output_size?, align_corners, scale_factors?) */
int lower_upsample_bilinear(lower_ctx *cx, const ts_node *n) {
    int64_t H, W, OH, OW;
    int ac = 0;
    ir_value *x = image_in(cx, n, &H, &W);
    if (!x || lower_bool_in(cx, n, 2, &ac)) return -1;
    int vec = n->nin == 4;
    if (H < 0 || W < 0 || size_is_dyn(cx, n, 1) || scales_dyn(cx, n, vec ? 3 : -1, 3))
        return upsample_dyn(cx, n, x, 1, ac, 1, vec ? 3 : -1, 3);
    int rc = out_size(cx, n, 1, vec ? 3 : -1, 3, H, W, &OH, &OW);
    if (rc) return rc < 0 ? -1 : lower_interp(cx, n);
    ir_op *op;
    if (whole_ratio(H, OH) && whole_ratio(W, OW)) {
        op = lb_op(cx, IR_OP_UPSAMPLE_BILINEAR, NULL);
        if (!op || ir_op_set_input(op, "x", x) ||
            lb_param_i32(cx, op, "scale_factor_height", (int32_t)(OH / H)) ||
            lb_param_i32(cx, op, "scale_factor_width", (int32_t)(OW / W)) ||
            lb_param_bool(cx, op, "align_corners", ac))
            return -1;
    } else {
        op = lb_op(cx, IR_OP_RESIZE_BILINEAR, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "target_size_height", (int32_t)OH) ||
            lb_param_i32(cx, op, "target_size_width", (int32_t)OW) ||
            lb_param_str(cx, op, "sampling_mode", ac ? "STRICT_ALIGN_CORNERS" : "UNALIGN_CORNERS"))
            return -1;
    }
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

/* upsample_nearest2d(x, output_size, scales_h, scales_w) and
 * upsample_nearest2d.vec(x, output_size?, scale_factors?) */
int lower_upsample_nearest(lower_ctx *cx, const ts_node *n) {
    int64_t H, W, OH, OW;
    ir_value *x = image_in(cx, n, &H, &W);
    if (!x) return -1;
    int vec = n->nin == 3;
    if (H < 0 || W < 0 || size_is_dyn(cx, n, 1) || scales_dyn(cx, n, vec ? 2 : -1, 2))
        return upsample_dyn(cx, n, x, 0, 0, 1, vec ? 2 : -1, 2);
    int rc = out_size(cx, n, 1, vec ? 2 : -1, 2, H, W, &OH, &OW);
    if (rc) return rc < 0 ? -1 : lower_interp(cx, n);
    ir_op *op;
    if (whole_ratio(H, OH) && whole_ratio(W, OW)) {
        op = lb_op(cx, IR_OP_UPSAMPLE_NEAREST_NEIGHBOR, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "scale_factor_height", (int32_t)(OH / H)) ||
            lb_param_i32(cx, op, "scale_factor_width", (int32_t)(OW / W)))
            return -1;
    } else {
        op = lb_op(cx, IR_OP_RESIZE_NEAREST_NEIGHBOR, NULL);
        if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "target_size_height", (int32_t)OH) ||
            lb_param_i32(cx, op, "target_size_width", (int32_t)OW))
            return -1;
    }
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

static int factor_in(lower_ctx *cx, const ts_node *n, ir_value **x, int64_t *f) {
    if (!(*x = lower_tensor_in(cx, n, 0, IR_DT_INVALID)) || lower_int_in(cx, n, 1, f)) return -1;
    if ((*x)->type.rank != 4) return lower_fail(cx, "input of rank %d; only 4-D (N, C, H, W) inputs are supported", (*x)->type.rank);
    if (*f < 1 || *f > 1 << 16) return lower_fail(cx, "factor %lld is out of range", (long long)*f);
    return 0;
}

/* pixel_shuffle(x, upscale_factor) */
int lower_pixel_shuffle(lower_ctx *cx, const ts_node *n) {
    ir_value *x;
    int64_t f;
    if (factor_in(cx, n, &x, &f)) return -1;
    ir_op *op = lb_op(cx, IR_OP_PIXEL_SHUFFLE, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "upscale_factor", (int32_t)f)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

/* pixel_unshuffle(x, downscale_factor): MIL pixel_unshuffle from iOS16 (CoreML6); before,
 * reshape (N, C, H/r, r, W/r, r) -> transpose (0, 1, 3, 5, 2, 4) -> reshape (N, C r^2, H/r, W/r). */
int lower_pixel_unshuffle(lower_ctx *cx, const ts_node *n) {
    ir_value *x;
    int64_t f;
    if (factor_in(cx, n, &x, &f)) return -1;
    const char *opset = cx->o->opset ? cx->o->opset : "CoreML5";
    if (strcmp(opset, "CoreML5") != 0) {
        ir_op *op = lb_op(cx, IR_OP_PIXEL_UNSHUFFLE, NULL);
        uint32_t u = (uint32_t)f;
        const char *nm = op ? lower_name(cx, "downscale_factor") : NULL;
        ir_value *fv = nm ? ir_const_new(cx->p, cx->b, nm, ir_scalar_type(IR_UINT32), IR_UINT32, &u, 1) : NULL;
        if (!fv || lower_names_add(cx, fv->name, fv) || ir_op_set_input(op, "x", x) ||
            ir_op_set_input(op, "downscale_factor", fv))
            return lower_fail(cx, "out of memory");
        return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
    }
    const int64_t *d = x->type.dims;
    for (int k = 0; k < 4; k++)
        if (d[k] < 0) return lower_fail(cx, "pixel_unshuffle before iOS16 needs a static input shape");
    if (d[2] % f || d[3] % f)
        return lower_fail(cx, "height %lld and width %lld must be divisible by %lld", (long long)d[2], (long long)d[3],
                          (long long)f);
    int64_t s6[6] = {d[0], d[1], d[2] / f, f, d[3] / f, f}, perm[6] = {0, 1, 3, 5, 2, 4},
            s4[4] = {d[0], d[1] * f * f, d[2] / f, d[3] / f};
    ir_value *y = lb_reshape(cx, x, 6, s6, "split");
    ir_op *tr = lb_op(cx, IR_OP_TRANSPOSE, "perm");
    if (!tr || ir_op_set_input(tr, "x", y) || lb_param_i32v(cx, tr, "perm", 6, perm)) return -1;
    y = lb_finish(cx, tr);
    return lower_out_tensor(cx, n, 0, lb_reshape(cx, y, 4, s4, NULL));
}

/* grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners) */
int lower_grid_sampler(lower_ctx *cx, const ts_node *n) {
    static const char *const modes[] = {"bilinear", "nearest"};
    static const char *const pads[] = {"constant", "border", "reflection"};
    int64_t mode, pad;
    int ac;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *g = lower_tensor_in_as(cx, n, 1, x);
    if (!g || lower_int_in(cx, n, 2, &mode) || lower_int_in(cx, n, 3, &pad) || lower_bool_in(cx, n, 4, &ac)) return -1;
    if (x->type.rank != 4) return lower_fail(cx, "input of rank %d; only 4-D grid sampling is supported", x->type.rank);
    if (mode < 0 || mode > 1)
        return lower_fail(cx, "interpolation mode %lld is not supported (bilinear or nearest)", (long long)mode);
    if (pad < 0 || pad > 2) return lower_fail(cx, "padding mode %lld is unknown", (long long)pad);
    /* torch's reflection without align_corners reflects about the pixel edges: MIL's "symmetric" */
    const char *pm = pad == 2 && !ac ? "symmetric" : pads[pad];
    ir_op *op = lb_op(cx, IR_OP_RESAMPLE, NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "coordinates", g) ||
        lb_param_str(cx, op, "sampling_mode", modes[mode]) || lb_param_str(cx, op, "padding_mode", pm) ||
        lb_param_f(cx, op, "padding_value", 0.0, IR_FP32) ||
        lb_param_str(cx, op, "coordinates_mode", "normalized_minus_one_to_one") ||
        lb_param_bool(cx, op, "align_corners", ac))
        return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}

/* channel_shuffle(x, groups) / native_channel_shuffle: (N, C, *) -> (N, g, C/g, *) -> swap 1, 2 -> (N, C, *). */
int lower_channel_shuffle(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t g;
    if (!x || lower_int_in(cx, n, 1, &g)) return -1;
    int r = x->type.rank;
    if (r < 3 || r + 1 > IR_MAX_RANK) return lower_fail(cx, "channel_shuffle of a rank-%d input", r);
    const int64_t *d = x->type.dims;
    for (int i = 1; i < r; i++)
        if (d[i] < 0) return lower_fail(cx, "channel_shuffle needs static channel and spatial dims");
    if (g < 1 || d[1] % g) return lower_fail(cx, "%lld channels in %lld groups", (long long)d[1], (long long)g);
    if (g == 1 || g == d[1]) return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_IDENTITY, x, NULL));
    int64_t split[IR_MAX_RANK], back[IR_MAX_RANK], perm[IR_MAX_RANK];
    split[0] = back[0] = d[0] < 0 ? -1 : d[0];
    split[1] = g;
    split[2] = d[1] / g;
    back[1] = d[1];
    for (int i = 2; i < r; i++) split[i + 1] = back[i] = d[i];
    for (int i = 0; i <= r; i++) perm[i] = i;
    perm[1] = 2;
    perm[2] = 1;
    ir_value *y = lb_reshape(cx, x, r + 1, split, "groups");
    ir_op *tr = lb_op(cx, IR_OP_TRANSPOSE, "swapped");
    if (!tr || ir_op_set_input(tr, "x", y) || lb_param_i32v(cx, tr, "perm", r + 1, perm)) return -1;
    return lower_out_tensor(cx, n, 0, lb_reshape(cx, lb_finish(cx, tr), r, back, NULL));
}

/* torch's linspace_from_neg_one in float: linspace(-1, 1, n) (filled from both ends), times (n - 1) / n
 * without align_corners; a single step is 0. */
static void neg_one_to_one(int64_t n, int ac, float *v) {
    if (n <= 1) {
        v[0] = 0;
        return;
    }
    float step = 2.0f / (float)(n - 1);
    for (int64_t i = 0; i < n; i++) {
        v[i] = i < n / 2 ? -1.0f + step * (float)i : 1.0f - step * (float)(n - 1 - i);
        if (!ac) v[i] = v[i] * (float)(n - 1) / (float)n;
    }
}

/* affine_grid_generator(theta, size, align_corners): theta [N, 2, 3] with size (N, C, H, W) -> grid
 * [N, H, W, 2], or [N, 3, 4] with (N, C, D, H, W) -> [N, D, H, W, 3]: a constant base grid of (x, y[, z], 1)
 * rows times theta transposed (one matmul), reshaped. */
int lower_affine_grid(lower_ctx *cx, const ts_node *n) {
    int64_t sz[5];
    int cnt, ac;
    ir_value *th = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!th || lower_ints_in(cx, n, 1, sz, 5, &cnt) || lower_bool_in(cx, n, 2, &ac)) return -1;
    if (cnt != 4 && cnt != 5) return lower_fail(cx, "size has %d values (4 or 5)", cnt);
    int sp = cnt - 2;
    if (th->type.rank != 3 || (th->type.dims[1] >= 0 && th->type.dims[1] != sp) ||
        (th->type.dims[2] >= 0 && th->type.dims[2] != sp + 1))
        return lower_fail(cx, "theta must be [N, %d, %d] for a %d-D size", sp, sp + 1, cnt);
    int64_t pts = 1, len[3];
    for (int d = 0; d < sp; d++) {
        len[d] = sz[2 + d]; /* D, H, W */
        if (len[d] < 1) return lower_fail(cx, "size entry %lld", (long long)len[d]);
        pts *= len[d];
    }
    if (pts > (1 << 24)) return lower_fail(cx, "a grid of %lld points is too large", (long long)pts);
    float *base = malloc(sizeof(float) * (size_t)(pts * (sp + 1))), *lin[3] = {NULL, NULL, NULL};
    int ok = base != NULL;
    for (int d = 0; d < sp && ok; d++) ok = (lin[d] = malloc(sizeof(float) * (size_t)len[d])) != NULL;
    ir_value *bv = NULL;
    if (ok) {
        for (int d = 0; d < sp; d++) neg_one_to_one(len[d], ac, lin[d]);
        for (int64_t q = 0; q < pts; q++) { /* point q = (.., h, w) row-major; columns x (w), y (h), z (d), 1 */
            int64_t rem = q;
            float *row = base + q * (sp + 1);
            for (int d = sp - 1; d >= 0; d--) {
                row[sp - 1 - d] = lin[d][rem % len[d]];
                rem /= len[d];
            }
            row[sp] = 1;
        }
        int64_t bd[2] = {pts, sp + 1};
        bv = lb_const(cx, th->type.dtype, 2, bd, base, "base_grid");
    } else {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    }
    free(base);
    for (int d = 0; d < sp; d++) free(lin[d]);
    ir_value *y = lb_matmul(cx, bv, th, 0, 1);
    int64_t shape[5] = {sz[0]};
    for (int d = 0; d < sp; d++) shape[1 + d] = len[d];
    shape[1 + sp] = sp;
    return lower_out_tensor(cx, n, 0, lb_reshape(cx, y, sp + 2, shape, NULL));
}
