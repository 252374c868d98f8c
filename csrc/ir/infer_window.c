/* infer_window.c: shape inference for the data-moving ops other tools write and our lowering does
 * not: crop (trim the last two dims), sliding_windows (a window dim after `axis`), reverse_sequence
 * (x's type) and reshape_like (iOS16: the shape taken from slices of reference tensors' shapes).
 * Definitions: coremltools ops/defs iOS15/image_resizing.py, iOS15 and iOS16 tensor_transformation.py.
 */
#include "ir/infer_int.h"

int inf_crop(infer_ctx *c) {
    const ir_type *x;
    int64_t h[2], w[2];
    int nh, nw;
    if (inf_input(c, "x", 1, &x) || inf_ints(c, "crop_height", 0, h, 2, &nh) || inf_ints(c, "crop_width", 0, w, 2, &nw))
        return -1;
    if (x->rank < 3) return inf_fail(c, "x %s needs rank >= 3", inf_tstr(x));
    if (x->dtype != IR_FP16 && x->dtype != IR_FP32) return inf_fail(c, "x must be fp16 or fp32, got %s", inf_tstr(x));
    if (nh != 2 || nw != 2 || h[0] < 0 || h[1] < 0 || w[0] < 0 || w[1] < 0)
        return inf_fail(c, "crop_height and crop_width must be 2 amounts >= 0 each");
    ir_type t = *x;
    int64_t *H = &t.dims[t.rank - 2], *W = &t.dims[t.rank - 1];
    if (!IR_IS_SYM(*H) && *H - h[0] - h[1] < 0) return inf_fail(c, "crop_height removes more than the %lld rows", (long long)*H);
    if (!IR_IS_SYM(*W) && *W - w[0] - w[1] < 0) return inf_fail(c, "crop_width removes more than the %lld columns", (long long)*W);
    *H = IR_IS_SYM(*H) ? (h[0] + h[1] ? inf_fresh(c) : *H) : *H - h[0] - h[1];
    *W = IR_IS_SYM(*W) ? (w[0] + w[1] ? inf_fresh(c) : *W) : *W - w[0] - w[1];
    return inf_out(c, t);
}

int inf_sliding_windows(infer_ctx *c) {
    const ir_type *x;
    int64_t axis, size, stride;
    int ax;
    if (inf_input(c, "x", 1, &x) || inf_int(c, "axis", &axis) || inf_int(c, "size", &size) ||
        inf_int(c, "stride", &stride))
        return -1;
    if (!ir_op_arg(c->op, "axis") || !ir_op_arg(c->op, "size")) return inf_fail(c, "missing required input 'axis' or 'size'");
    if (x->rank < 0 || x->rank >= IR_MAX_RANK) return inf_fail(c, "x %s needs a known rank below %d", inf_tstr(x), IR_MAX_RANK);
    if (inf_axis(c, "axis", axis, x->rank, &ax)) return -1;
    if (size < 1 || stride < 1) return inf_fail(c, "size and stride must be >= 1");
    int64_t d = x->dims[ax];
    if (!IR_IS_SYM(d) && d < size) return inf_fail(c, "size %lld is larger than dim %d of %s", (long long)size, ax, inf_tstr(x));
    ir_type t = *x;
    t.rank = x->rank + 1;
    t.dims[ax] = IR_IS_SYM(d) ? inf_fresh(c) : (d - size) / stride + 1;
    t.dims[ax + 1] = size;
    for (int i = ax + 1; i < x->rank; i++) t.dims[i + 1] = x->dims[i];
    return inf_out(c, t);
}

int inf_reverse_sequence(infer_ctx *c) {
    const ir_type *x, *len;
    int64_t sa, ba;
    int s, b;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "lengths", 1, &len) || inf_int(c, "seq_axis", &sa) ||
        inf_int(c, "batch_axis", &ba))
        return -1;
    if (x->rank < 0) return inf_fail(c, "x needs a known rank");
    if (inf_axis(c, "seq_axis", sa, x->rank, &s) || inf_axis(c, "batch_axis", ba, x->rank, &b)) return -1;
    if (!ir_dtype_is_int(len->dtype) || len->rank != 1) return inf_fail(c, "lengths %s must be an int vector", inf_tstr(len));
    return inf_out(c, *x);
}

int inf_reshape_like(infer_ctx *c) {
    const ir_type *x;
    const ir_arg *refs = ir_op_arg(c->op, "ref_tensors"), *bs = ir_op_arg(c->op, "begins"), *es = ir_op_arg(c->op, "ends"),
                 *ms = ir_op_arg(c->op, "end_masks");
    if (inf_input(c, "x", 1, &x)) return -1;
    if (!refs || !bs || !es || !ms) return inf_fail(c, "missing required input 'ref_tensors', 'begins', 'ends' or 'end_masks'");
    if (bs->n != refs->n || es->n != refs->n || ms->n != refs->n)
        return inf_fail(c, "ref_tensors, begins, ends and end_masks must have one entry each");
    ir_type t = *x;
    t.rank = 0;
    int64_t known = 1, any_sym = 0;
    for (int i = 0; i < refs->n; i++) {
        const ir_type *r = &refs->v[i]->type;
        if (!bs->v[i]->konst || !es->v[i]->konst || !ms->v[i]->konst) return inf_fail(c, "begins, ends and end_masks must be constants");
        if (r->rank < 0) return inf_fail(c, "ref_tensors[%d] needs a known rank", i);
        int64_t b = ir_const_get_i64(bs->v[i]->konst, 0), e = ir_const_get_i64(es->v[i]->konst, 0);
        if (ir_const_get_i64(ms->v[i]->konst, 0)) e = r->rank;
        if (b < 0) b += r->rank;
        if (e < 0) e += r->rank;
        if (b < 0 || e > r->rank || b > e) return inf_fail(c, "begins/ends [%lld, %lld) out of range for ref_tensors[%d] %s",
                                                         (long long)b, (long long)e, i, inf_tstr(r));
        for (int64_t k = b; k < e; k++) {
            if (t.rank == IR_MAX_RANK) return inf_fail(c, "result rank exceeds %d", IR_MAX_RANK);
            int64_t d = r->dims[k];
            t.dims[t.rank++] = d;
            if (IR_IS_SYM(d)) any_sym = 1; else known *= d;
        }
    }
    int64_t n = ir_type_numel(x);
    if (!any_sym && n >= 0 && n != known)
        return inf_fail(c, "x %s has %lld elements, the shape from ref_tensors %lld", inf_tstr(x), (long long)n, (long long)known);
    return inf_out(c, t);
}
