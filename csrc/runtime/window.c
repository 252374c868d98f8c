/* window.c: kernels of crop (x[..., top:H-bottom, left:W-right]), sliding_windows (windows of
 * `size` elements every `stride` along axis, on a new dim after it), reverse_sequence (per batch item,
 * the first lengths[b] elements along seq_axis reversed, the rest kept) and reshape_like (x's data in
 * the shape sliced from the reference tensors' shapes). Definitions: coremltools ops/defs iOS15
 * image_resizing.py and tensor_transformation.py, iOS16 tensor_transformation.py.
 */
#include "runtime/rt_internal.h"

int rt_k_CROP(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    int64_t h[2], w[2];
    int nh, nw;
    if (!x || rt_param_ints(c, "crop_height", h, 2, &nh) || rt_param_ints(c, "crop_width", w, 2, &nw)) return -1;
    if (nh != 2 || nw != 2 || x->rank < 3) return rt_fail(c, "needs x of rank >= 3 and 2 amounts in crop_height and crop_width");
    int r = x->rank;
    int64_t od[IR_MAX_RANK], st[IR_MAX_RANK];
    memcpy(od, x->dims, sizeof od);
    od[r - 2] -= h[0] + h[1], od[r - 1] -= w[0] + w[1];
    if (h[0] < 0 || h[1] < 0 || w[0] < 0 || w[1] < 0 || od[r - 2] < 0 || od[r - 1] < 0)
        return rt_fail(c, "crop amounts out of range for the %lld x %lld plane", (long long)x->dims[r - 2], (long long)x->dims[r - 1]);
    rt_c_strides(x, st);
    size_t es = ir_dtype_size(x->dtype);
    char *y = rt_out(c, 0, r, od, x->dtype);
    if (!y) return -1;
    if (rt_numel_dims(r, od) > 0)
        rt_strided_copy(y, (const char *)x->data + (size_t)(h[0] * st[r - 2] + w[0]) * es, es, r, od, st);
    return 0;
}

int rt_k_SLIDING_WINDOWS(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    int64_t axis, size, stride;
    if (!x || !rt_in_req(c, "axis") || !rt_in_req(c, "size") || rt_param_int(c, "axis", &axis) ||
        rt_param_int(c, "size", &size) || rt_param_int(c, "stride", &stride))
        return -1;
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    if (x->rank >= IR_MAX_RANK) return rt_fail(c, "the result would have rank above %d", IR_MAX_RANK);
    if (size < 1 || stride < 1 || size > x->dims[ax]) return rt_fail(c, "size must be in [1, %lld] and stride >= 1", (long long)x->dims[ax]);
    int64_t st[IR_MAX_RANK], od[IR_MAX_RANK], ost[IR_MAX_RANK];
    rt_c_strides(x, st);
    for (int i = 0, j = 0; i < x->rank; i++, j++) {
        od[j] = x->dims[i], ost[j] = st[i];
        if (i == ax) {
            od[j] = (x->dims[ax] - size) / stride + 1, ost[j] = st[ax] * stride;
            j++;
            od[j] = size, ost[j] = st[ax];
        }
    }
    size_t es = ir_dtype_size(x->dtype);
    void *y = rt_out(c, 0, x->rank + 1, od, x->dtype);
    if (!y) return -1;
    if (rt_numel_dims(x->rank + 1, od) > 0) rt_strided_copy(y, x->data, es, x->rank + 1, od, ost);
    return 0;
}

int rt_k_REVERSE_SEQUENCE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *len = x ? rt_in_req(c, "lengths") : NULL;
    int64_t sa, ba;
    if (!len || rt_param_int(c, "seq_axis", &sa) || rt_param_int(c, "batch_axis", &ba)) return -1;
    int s = rt_axis(c, sa, x->rank, "seq_axis"), b = s < 0 ? -1 : rt_axis(c, ba, x->rank, "batch_axis");
    if (b < 0) return -1;
    const int64_t *L = rt_i64(c, len);
    if (!L) return -1;
    if (len->rank != 1 || len->dims[0] != x->dims[b])
        return rt_fail(c, "lengths must have one entry per batch item (%lld)", (long long)x->dims[b]);
    for (int64_t i = 0; i < len->dims[0]; i++)
        if (L[i] < 0 || L[i] > x->dims[s]) return rt_fail(c, "lengths[%lld] = %lld is outside [0, %lld]", (long long)i, (long long)L[i], (long long)x->dims[s]);
    size_t es = ir_dtype_size(x->dtype);
    char *y = rt_out(c, 0, x->rank, x->dims, x->dtype);
    if (!y) return -1;
    int64_t st[IR_MAX_RANK], n = rt_numel(x);
    rt_c_strides(x, st);
    const char *src = x->data;
    for (int64_t i = 0; i < n; i++) {
        int64_t cs = i / st[s] % x->dims[s], cb = i / st[b] % x->dims[b], j = i;
        if (cs < L[cb]) j += (L[cb] - 1 - 2 * cs) * st[s];
        memcpy(y + (size_t)i * es, src + (size_t)j * es, es);
    }
    return 0;
}

int rt_k_RESHAPE_LIKE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    int nref = rt_in_count(c, "ref_tensors");
    if (!x) return -1;
    if (!nref || rt_in_count(c, "begins") != nref || rt_in_count(c, "ends") != nref || rt_in_count(c, "end_masks") != nref)
        return rt_fail(c, "ref_tensors, begins, ends and end_masks must have one entry each");
    int64_t od[IR_MAX_RANK];
    int r = 0;
    for (int i = 0; i < nref; i++) {
        const rt_tensor *ref = rt_in_at(c, "ref_tensors", i), *bt = rt_in_at(c, "begins", i), *et = rt_in_at(c, "ends", i),
                        *mt = rt_in_at(c, "end_masks", i);
        int64_t b, e, m;
        if (rt_numel(bt) != 1 || rt_numel(et) != 1 || rt_numel(mt) != 1) return rt_fail(c, "begins, ends and end_masks hold scalars");
        rt_convert(&b, IR_INT64, bt->data, bt->dtype, 1);
        rt_convert(&e, IR_INT64, et->data, et->dtype, 1);
        rt_convert(&m, IR_INT64, mt->data, mt->dtype, 1);
        if (m) e = ref->rank;
        if (b < 0) b += ref->rank;
        if (e < 0) e += ref->rank;
        if (b < 0 || e > ref->rank || b > e || r + (e - b) > IR_MAX_RANK) return rt_fail(c, "begins/ends out of range for ref_tensors[%d]", i);
        for (int64_t k = b; k < e; k++) od[r++] = ref->dims[k];
    }
    if (rt_numel_dims(r, od) != rt_numel(x)) return rt_fail(c, "x's %lld elements do not fill the shape from ref_tensors", (long long)rt_numel(x));
    void *y = rt_out(c, 0, r, od, x->dtype);
    if (!y) return -1;
    memcpy(y, x->data, (size_t)rt_numel(x) * ir_dtype_size(x->dtype));
    return 0;
}
