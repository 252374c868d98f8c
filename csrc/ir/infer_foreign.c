/* infer_foreign.c: shape rules of MIL ops our lowering never emits but packages other tools write
 * do: resize (iOS17: the last resized_dims dims take their sizes from a shape tensor, possibly known
 * only at run time), crop_resize (iOS15/16: roi [N,1,4|5,1,1] -> [N,B|1,C,h,w]; iOS17: boxes [N,4]
 * with box_indices -> [N,C,h,w]), affine (a per-batch 2-D affine map sampled into [B,C,h,w]) and
 * conv_quantized (conv with a uint8 weight dequantized as q * scale + bias; its shapes are conv's).
 * Facts from coremltools' ops/defs iOS15-iOS17 (image_resizing.py, conv.py).
 */
#include "ir/infer_int.h"

#include <string.h>
#include <strings.h>

/* resize_bilinear's grid conventions, shared by resize and crop_resize. */
static int check_sampling_mode(infer_ctx *c) {
    static const char *const modes[] = {"STRICT_ALIGN_CORNERS", "ALIGN_CORNERS", "DEFAULT", "OFFSET_CORNERS",
                                        "UNALIGN_CORNERS"};
    const char *m;
    if (inf_str(c, "sampling_mode", &m)) return -1;
    for (int i = 0; i < PC_ARRAY_LEN(modes); i++)
        if (strcmp(m, modes[i]) == 0) return 0;
    return inf_fail(c, "unknown sampling_mode '%s'", m);
}

static int need_float_image(infer_ctx *c, const ir_type **x) {
    if (inf_input(c, "x", 1, x)) return -1;
    if ((*x)->rank != 4) return inf_fail(c, "x %s must have rank 4 [B, C, H, W]", inf_tstr(*x));
    if (!ir_dtype_is_float((*x)->dtype)) return inf_fail(c, "x must be fp16 or fp32, got %s", ir_dtype_name((*x)->dtype));
    return 0;
}

int inf_resize(infer_ctx *c) {
    const ir_type *x, *st, *p;
    int64_t rd, sh[IR_MAX_RANK];
    int n;
    const char *im;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "shape", 1, &st) || inf_input(c, "resized_dims", 1, &p) ||
        inf_int_or(c, "resized_dims", 0, &rd) || inf_ints(c, "shape", 1, sh, IR_MAX_RANK, &n) ||
        inf_str(c, "interpolation_mode", &im) || check_sampling_mode(c))
        return -1;
    if (strcmp(im, "LINEAR") && strcmp(im, "NEAREST_NEIGHBOR"))
        return inf_fail(c, "unknown interpolation_mode '%s' (LINEAR or NEAREST_NEIGHBOR)", im);
    if (x->dtype != IR_FP32 && x->dtype != IR_FP16 && x->dtype != IR_INT32)
        return inf_fail(c, "x must be fp16, fp32 or int32, got %s", ir_dtype_name(x->dtype));
    if (st->rank != 1 || !ir_dtype_is_int(st->dtype)) return inf_fail(c, "shape %s must be a 1-D integer tensor", inf_tstr(st));
    int64_t k = n >= 0 ? n : st->dims[0];
    if (rd < 0 || (!IR_IS_SYM(k) && rd > k))
        return inf_fail(c, "resized_dims %lld must be in [0, %lld], the length of shape", (long long)rd, (long long)k);
    if (x->rank < 0) return inf_out(c, *x);
    if ((!IR_IS_SYM(k) && k > x->rank) || rd > x->rank)
        return inf_fail(c, "shape has %lld entries, more than x %s has dims", (long long)k, inf_tstr(x));
    ir_type t = *x;
    for (int64_t i = 0; i < rd; i++) {
        int axis = x->rank - (int)rd + (int)i;
        int64_t v = n >= 0 ? sh[n - rd + i] : inf_fresh(c);
        if (n >= 0 && v < 0) return inf_fail(c, "shape entry %lld is negative", (long long)v);
        t.dims[axis] = v == 0 ? x->dims[axis] : v;
    }
    return inf_out(c, t);
}

int inf_crop_resize(infer_ctx *c) {
    const ir_type *x, *roi, *boxes, *bi, *p;
    int64_t h, w;
    const char *bm;
    double s;
    if (need_float_image(c, &x) || inf_input(c, "roi", 0, &roi) || inf_input(c, "boxes", 0, &boxes) ||
        inf_input(c, "box_indices", 0, &bi) || inf_int(c, "target_height", &h) || inf_int(c, "target_width", &w) ||
        inf_input(c, "normalized_coordinates", 0, &p) || inf_float(c, "spatial_scale", &s) ||
        inf_str(c, "box_coordinate_mode", &bm) || check_sampling_mode(c))
        return -1;
    if (h < 1 || w < 1) return inf_fail(c, "target_height and target_width must be >= 1");
    if (strcmp(bm, "CORNERS_HEIGHT_FIRST") && strcmp(bm, "CORNERS_WIDTH_FIRST") && strcmp(bm, "CENTER_SIZE_HEIGHT_FIRST") &&
        strcmp(bm, "CENTER_SIZE_WIDTH_FIRST"))
        return inf_fail(c, "unknown box_coordinate_mode '%s'", bm);
    if (!roi == !boxes) return inf_fail(c, "needs exactly one of roi (iOS15, iOS16) and boxes (iOS17)");
    ir_type t = *x;
    if (roi) { /* [N, 1, 4 | 5, 1, 1]: 4 coordinates crop every image, 5 start with the image index */
        if (bi) return inf_fail(c, "box_indices goes with boxes (iOS17), not roi");
        if (roi->rank != 5 || (roi->dims[2] != 4 && roi->dims[2] != 5))
            return inf_fail(c, "roi %s must be [N, 1, 4, 1, 1] or [N, 1, 5, 1, 1]", inf_tstr(roi));
        t.rank = 5;
        t.dims[0] = roi->dims[0];
        t.dims[1] = roi->dims[2] == 4 ? x->dims[0] : 1;
        t.dims[2] = x->dims[1];
        t.dims[3] = h;
        t.dims[4] = w;
        return inf_out(c, t);
    }
    if (boxes->rank != 2 || (!IR_IS_SYM(boxes->dims[1]) && boxes->dims[1] != 4))
        return inf_fail(c, "boxes %s must be [N, 4]", inf_tstr(boxes));
    if (bi && (bi->rank != 1 || !ir_dtype_is_int(bi->dtype)))
        return inf_fail(c, "box_indices %s must be a 1-D integer tensor", inf_tstr(bi));
    if (bi && !IR_IS_SYM(bi->dims[0]) && !IR_IS_SYM(boxes->dims[0]) && bi->dims[0] != boxes->dims[0])
        return inf_fail(c, "box_indices %s must have one index per box of %s", inf_tstr(bi), inf_tstr(boxes));
    t.dims[0] = boxes->dims[0];
    t.dims[2] = h;
    t.dims[3] = w;
    return inf_out(c, t);
}

int inf_affine(infer_ctx *c) {
    static const char *const params[] = {"output_height", "output_width", "sampling_mode", "padding_mode",
                                         "padding_value", "coordinates_mode", "align_corners"};
    const ir_type *x, *m, *p;
    if (need_float_image(c, &x) || inf_input(c, "transform_matrix", 1, &m)) return -1;
    for (int i = 0; i < PC_ARRAY_LEN(params); i++)
        if (inf_input(c, params[i], 1, &p)) return -1;
    int64_t h, w;
    const char *sm, *pm, *cm;
    double pv;
    int ac;
    if (inf_int_or(c, "output_height", 1, &h) || inf_int_or(c, "output_width", 1, &w) || inf_str(c, "sampling_mode", &sm) ||
        inf_str(c, "padding_mode", &pm) || inf_str(c, "coordinates_mode", &cm) ||
        inf_float_or(c, "padding_value", 0.0, &pv) || inf_bool_or(c, "align_corners", 0, &ac))
        return -1;
    if (strcasecmp(sm, "bilinear")) return inf_fail(c, "sampling_mode '%s' is not one MIL allows (bilinear)", sm);
    if (strcasecmp(pm, "constant")) return inf_fail(c, "padding_mode '%s' is not one MIL allows (constant)", pm);
    if (strcasecmp(cm, "normalized_minus_one_to_one"))
        return inf_fail(c, "coordinates_mode '%s' is not one MIL allows (normalized_minus_one_to_one)", cm);
    if (h < 1 || w < 1) return inf_fail(c, "output_height and output_width must be >= 1");
    if (m->rank != 2 || (!IR_IS_SYM(m->dims[1]) && m->dims[1] != 6))
        return inf_fail(c, "transform_matrix %s must be [D, 6]", inf_tstr(m));
    if (!IR_IS_SYM(m->dims[0]) && !IR_IS_SYM(x->dims[0]) && m->dims[0] != 1 && m->dims[0] != x->dims[0])
        return inf_fail(c, "transform_matrix %s needs 1 or %lld rows (the batch of x)", inf_tstr(m), (long long)x->dims[0]);
    ir_type t = *x;
    t.dims[2] = h;
    t.dims[3] = w;
    return inf_out(c, t);
}

int inf_conv_quantized(infer_ctx *c) {
    const ir_type *x, *wt, *p;
    const char *qt;
    int64_t nbits;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "weight", 1, &wt) || inf_input(c, "quant_scale", 1, &p) ||
        inf_input(c, "quant_bias", 1, &p) || inf_str(c, "quantization_type", &qt) || inf_int(c, "nbits", &nbits))
        return -1;
    if (strcmp(qt, "linear"))
        return inf_fail(c, "quantization_type '%s' is not supported: MIL's conv_quantized carries no lookup table, "
                           "only 'linear' (weight * quant_scale + quant_bias) runs", qt);
    if (nbits < 1 || nbits > 8) return inf_fail(c, "nbits %lld must be in [1, 8]", (long long)nbits);
    if (wt->dtype != IR_UINT8) return inf_fail(c, "weight must be uint8, got %s", ir_dtype_name(wt->dtype));
    if (!ir_dtype_is_float(x->dtype)) return inf_fail(c, "x must be fp16 or fp32, got %s", ir_dtype_name(x->dtype));
    return inf_conv(c); /* shapes as conv */
}
