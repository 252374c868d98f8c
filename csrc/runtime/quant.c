/* quant.c: kernels of quantized and compressed tensors. The iOS16 constexpr ops rebuild a
 * constant weight: constexpr_affine_dequantize (scale * (q - zero_point), per tensor or per
 * slice along axis), constexpr_cast (fp16 -> fp32), constexpr_lut_to_dense (n-bit indices
 * packed LSB first into bytes, looked up in a table) and constexpr_sparse_to_dense (a bit
 * mask, LSB first, saying which elements come from nonzero_data, the rest 0). iOS17
 * quantize (clip(round_half_even(x / scale) + zero_point) to int8 / uint8) and dequantize
 * (scale * (q - zero_point)) work on run-time tensors. Shapes and sizes are checked here
 * again: a package's declared types are not trusted to match its payloads.
 */
#include "runtime/rt_internal.h"

#include <math.h>

/* A scale or zero point: scalar (n == 1) or one value per slice along axis of x. */
typedef struct per_axis {
    const float *v; /* fp32 values, NULL: all zero */
    int64_t n, inner;
} per_axis;

static int per_axis_read(rt_ctx *c, const rt_tensor *x, const char *name, int64_t axis, int have_axis, per_axis *p) {
    const rt_tensor *t = rt_in(c, name);
    p->v = NULL, p->n = 1, p->inner = 1;
    if (!t) return 0;
    if (t->rank > 1) return rt_fail(c, "%s must be a scalar or a vector", name);
    p->n = rt_numel(t);
    if (!(p->v = rt_f32(c, t))) return -1;
    if (t->rank == 0) return 0;
    if (!have_axis) return rt_fail(c, "%s is a vector, so axis is required", name);
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    if (p->n != x->dims[ax])
        return rt_fail(c, "%s has %lld values for the %lld slices along axis %d", name, (long long)p->n,
                       (long long)x->dims[ax], ax);
    for (int i = ax + 1; i < x->rank; i++) p->inner *= x->dims[i];
    return 0;
}

static inline float at(const per_axis *p, int64_t i) {
    return p->v ? p->v[p->n == 1 ? 0 : (i / p->inner) % p->n] : 0.0f;
}

/* y = scale * (x - zero_point) for the int8 / uint8 tensor in `xname`. */
static int dequant(rt_ctx *c, const char *xname, int axis_required) {
    const rt_tensor *x = rt_in_req(c, xname);
    if (!x) return -1;
    if (x->dtype != IR_INT8 && x->dtype != IR_UINT8) return rt_fail(c, "%s must be int8 or uint8", xname);
    int64_t axis;
    int have_axis = rt_in(c, "axis") != NULL;
    if (axis_required && !rt_in_req(c, "axis")) return -1;
    if (rt_param_int(c, "axis", 0, &axis)) return -1;
    per_axis s, z;
    if (!rt_in_req(c, "scale") || per_axis_read(c, x, "scale", axis, have_axis, &s) ||
        per_axis_read(c, x, "zero_point", axis, have_axis, &z))
        return -1;
    float *y = rt_out(c, 0, x->rank, x->dims, IR_FP32);
    if (!y) return -1;
    int64_t n = rt_numel(x);
    for (int64_t i = 0; i < n; i++) {
        float q = x->dtype == IR_INT8 ? (float)((const int8_t *)x->data)[i] : (float)((const uint8_t *)x->data)[i];
        y[i] = at(&s, i) * (q - at(&z, i));
    }
    return 0;
}

int rt_k_CONSTEXPR_AFFINE_DEQUANTIZE(rt_ctx *c) { return dequant(c, "quantized_data", 1); }
int rt_k_DEQUANTIZE(rt_ctx *c) { return dequant(c, "input", 0); }

int rt_k_QUANTIZE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "input");
    const char *dt = rt_param_str(c, "output_dtype", "");
    if (!x || !dt) return -1;
    ir_dtype od = ir_dtype_from_name(dt);
    if (od != IR_INT8 && od != IR_UINT8) return rt_fail(c, "output_dtype must be 'int8' or 'uint8', got '%s'", dt);
    int64_t axis;
    per_axis s, z;
    if (rt_param_int(c, "axis", 0, &axis) || !rt_in_req(c, "scale") ||
        per_axis_read(c, x, "scale", axis, rt_in(c, "axis") != NULL, &s) ||
        per_axis_read(c, x, "zero_point", axis, rt_in(c, "axis") != NULL, &z))
        return -1;
    const float *xf = rt_f32(c, x);
    void *y = xf ? rt_out(c, 0, x->rank, x->dims, od) : NULL;
    if (!y) return -1;
    float lo = od == IR_INT8 ? -128.0f : 0.0f, hi = od == IR_INT8 ? 127.0f : 255.0f;
    int64_t n = rt_numel(x);
    for (int64_t i = 0; i < n; i++) {
        float q = rintf(xf[i] / at(&s, i)) + at(&z, i);
        q = q != q ? 0.0f : fminf(fmaxf(q, lo), hi);
        if (od == IR_INT8)
            ((int8_t *)y)[i] = (int8_t)q;
        else
            ((uint8_t *)y)[i] = (uint8_t)q;
    }
    return 0;
}

int rt_k_CONSTEXPR_CAST(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "source_val");
    const char *dt = rt_param_str(c, "output_dtype", "");
    if (!x || !dt) return -1;
    if (x->dtype != IR_FP16 || strcmp(dt, "fp32")) return rt_fail(c, "casts fp16 to fp32 only");
    float *y = rt_out(c, 0, x->rank, x->dims, IR_FP32);
    if (!y) return -1;
    rt_convert_par(y, IR_FP32, x->data, IR_FP16, rt_numel(x));
    return 0;
}

/* The output shape from the `shape` input; *n its element count. */
static int packed_shape(rt_ctx *c, int *rank, int64_t *dims, int64_t *n) {
    const rt_tensor *st = rt_in_req(c, "shape");
    if (!st) return -1;
    if (st->rank != 1 || st->dims[0] > IR_MAX_RANK) return rt_fail(c, "shape must be a vector of at most %d dims", IR_MAX_RANK);
    *rank = (int)st->dims[0];
    rt_convert(dims, IR_INT64, st->data, st->dtype, *rank);
    *n = 1;
    for (int i = 0; i < *rank; i++) {
        if (dims[i] < 0 || (dims[i] && *n > IR_MAX_ELEMS / dims[i])) return rt_fail(c, "shape has an invalid dim");
        *n *= dims[i];
    }
    return 0;
}

/* Element byte size of a table / data dtype these ops take (int8, uint8, fp16, fp32), 0 otherwise. */
static size_t elem_size(ir_dtype t) {
    return t == IR_INT8 || t == IR_UINT8 ? 1 : t == IR_FP16 ? 2 : t == IR_FP32 ? 4 : 0;
}

int rt_k_CONSTEXPR_LUT_TO_DENSE(rt_ctx *c) {
    const rt_tensor *idx = rt_in_req(c, "indices"), *lut = rt_in_req(c, "lut");
    int rank;
    int64_t dims[IR_MAX_RANK], n;
    if (!idx || !lut || packed_shape(c, &rank, dims, &n)) return -1;
    size_t es = elem_size(lut->dtype);
    int bits = 0;
    while (bits < 9 && lut->rank == 1 && ((int64_t)1 << bits) != lut->dims[0]) bits++;
    if (!es || bits > 8 || bits == 0) return rt_fail(c, "lut must be a vector of 2, 4, 16, 64 or 256 int8/uint8/fp16/fp32 values");
    if (idx->dtype != IR_UINT8 || idx->rank != 1 || idx->dims[0] != (n * bits + 7) / 8)
        return rt_fail(c, "indices must be %lld uint8 bytes", (long long)((n * bits + 7) / 8));
    unsigned char *y = rt_out(c, 0, rank, dims, lut->dtype);
    if (!y) return -1;
    const uint8_t *p = idx->data;
    const unsigned char *tab = lut->data;
    for (int64_t i = 0; i < n; i++) {
        uint64_t bit = (uint64_t)i * (uint64_t)bits, byte = bit / 8;
        unsigned v = p[byte] | (byte + 1 < (uint64_t)idx->dims[0] ? (unsigned)p[byte + 1] << 8 : 0u);
        v = (v >> (bit % 8)) & ((1u << bits) - 1);
        memcpy(y + (size_t)i * es, tab + (size_t)v * es, es);
    }
    return 0;
}

int rt_k_CONSTEXPR_SPARSE_TO_DENSE(rt_ctx *c) {
    const rt_tensor *nz = rt_in_req(c, "nonzero_data"), *mask = rt_in_req(c, "mask");
    int rank;
    int64_t dims[IR_MAX_RANK], n;
    if (!nz || !mask || packed_shape(c, &rank, dims, &n)) return -1;
    size_t es = elem_size(nz->dtype);
    if (!es || nz->rank != 1) return rt_fail(c, "nonzero_data must be a vector of int8, uint8, fp16 or fp32");
    if (mask->dtype != IR_UINT8 || mask->rank != 1 || mask->dims[0] != (n + 7) / 8)
        return rt_fail(c, "mask must be %lld uint8 bytes", (long long)((n + 7) / 8));
    unsigned char *y = rt_out(c, 0, rank, dims, nz->dtype);
    if (!y) return -1;
    const uint8_t *m = mask->data;
    const unsigned char *src = nz->data;
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (m[i / 8] >> (i % 8) & 1) {
            if (k >= nz->dims[0]) return rt_fail(c, "mask sets more bits than nonzero_data has values");
            memcpy(y + (size_t)i * es, src + (size_t)k++ * es, es);
        } else {
            memset(y + (size_t)i * es, 0, es);
        }
    }
    if (k != nz->dims[0]) return rt_fail(c, "mask sets %lld bits for %lld nonzero_data values", (long long)k, (long long)nz->dims[0]);
    return 0;
}
