/* quant.c: kernels of quantized and compressed tensors. The iOS16 constexpr ops rebuild a
 * constant weight: constexpr_affine_dequantize (scale * (q - zero_point), per tensor or per
 * slice along axis), constexpr_cast (fp16 -> fp32), constexpr_lut_to_dense (n-bit indices
 * packed LSB first into bytes, looked up in a table) and constexpr_sparse_to_dense (a bit
 * mask, LSB first, saying which elements come from nonzero_data, the rest 0). iOS17
 * quantize (clip(round_half_even(x / scale) + zero_point) to int8 / uint8) and dequantize
 * (scale * (q - zero_point)) work on run-time tensors. The iOS18 family works on blocks: a scale,
 * offset or lookup table has one entry per block of the data (each dim of the data a multiple of the
 * table's), and sparse data is a mask (uint1, held as bytes) plus its set values in C order. Shapes and sizes are checked here
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
    if (rt_param_int_or(c, "axis", 0, &axis)) return -1;
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
    const char *dt = rt_param_str(c, "output_dtype");
    if (!x || !dt) return -1;
    ir_dtype od = ir_dtype_from_name(dt);
    if (od != IR_INT8 && od != IR_UINT8) return rt_fail(c, "output_dtype must be 'int8' or 'uint8', got '%s'", dt);
    int64_t axis;
    per_axis s, z;
    if (rt_param_int_or(c, "axis", 0, &axis) || !rt_in_req(c, "scale") ||
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
    const char *dt = rt_param_str(c, "output_dtype");
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

static int lut18(rt_ctx *c);
static int sparse18(rt_ctx *c);

int rt_k_CONSTEXPR_LUT_TO_DENSE(rt_ctx *c) {
    if (!rt_in(c, "shape")) return lut18(c);
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
    if (!rt_in(c, "shape")) return sparse18(c);
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

/* ---- iOS18 ---- */

/* Index into a block table of dims g (rank r) for the element at flat index i of data dims d. */
static int64_t block_of(int64_t i, int r, const int64_t *d, const int64_t *g) {
    int64_t bi = 0, mul = 1;
    for (int k = r - 1; k >= 0; k--) {
        int64_t ck = i % d[k];
        i /= d[k];
        bi += ck / (d[k] / g[k]) * mul;
        mul *= g[k];
    }
    return bi;
}

/* Whether every dim of d (rank r) is a whole number of blocks of g (rank gr). */
static int whole_blocks(rt_ctx *c, int r, const int64_t *d, int gr, const int64_t *g, const char *what) {
    int ok = r == gr;
    for (int k = 0; ok && k < r; k++) ok = g[k] > 0 && d[k] % g[k] == 0;
    return ok ? 0 : rt_fail(c, "%s does not split the data into whole blocks", what);
}

/* scale and optional offset over the block grid of data dims (r, d): fp32 views. */
static int read_scale_offset(rt_ctx *c, int r, const int64_t *d, const rt_tensor **s, const float **sf, const float **of) {
    const rt_tensor *o = rt_in(c, "offset");
    if (!(*s = rt_in_req(c, "scale"))) return -1;
    if ((*s)->dtype != IR_FP16 && (*s)->dtype != IR_FP32) return rt_fail(c, "scale must be fp16 or fp32");
    if (whole_blocks(c, r, d, (*s)->rank, (*s)->dims, "scale")) return -1;
    if (o && (o->rank != (*s)->rank || memcmp(o->dims, (*s)->dims, sizeof(int64_t) * (size_t)o->rank)))
        return rt_fail(c, "offset must have scale's shape");
    *of = NULL;
    return !(*sf = rt_f32(c, *s)) || (o && !(*of = rt_f32(c, o))) ? -1 : 0;
}

int rt_k_CONSTEXPR_BLOCKWISE_SHIFT_SCALE(rt_ctx *c) {
    const rt_tensor *d = rt_in_req(c, "data"), *s;
    const float *sf, *of, *df;
    if (!d || read_scale_offset(c, d->rank, d->dims, &s, &sf, &of) || !(df = rt_f32(c, d))) return -1;
    float *y = rt_out(c, 0, d->rank, d->dims, IR_FP32);
    if (!y) return -1;
    int64_t n = rt_numel(d);
    for (int64_t i = 0; i < n; i++) {
        int64_t b = block_of(i, d->rank, d->dims, s->dims);
        y[i] = sf[b] * (df[i] - (of ? of[b] : 0.0f));
    }
    return 0;
}

/* The lut [groups.., P, V] for index positions of dims (r, d): checks, element size, V and the vector axis. */
static int lut_read(rt_ctx *c, int r, const int64_t *d, const rt_tensor **lut, size_t *es, int64_t *V, int *ax) {
    if (!(*lut = rt_in_req(c, "lut"))) return -1;
    const rt_tensor *l = *lut;
    if (!(*es = elem_size(l->dtype)) || l->rank != r + 2) return rt_fail(c, "lut must have 2 more dims than the indices");
    if (whole_blocks(c, r, d, r, l->dims, "lut")) return -1;
    *V = l->dims[r + 1];
    *ax = 0;
    if (*V == 1) return 0;
    int64_t a;
    if (!rt_in_req(c, "vector_axis") || rt_param_int(c, "vector_axis", &a) || (*ax = rt_axis(c, a, r, "vector_axis")) < 0)
        return -1;
    return 0;
}

/* Entry v of the palette of index position i (dims d) for index value q, written to dst. */
static void lut_get(const rt_tensor *l, size_t es, int r, const int64_t *d, int64_t i, unsigned q, int64_t v, void *dst) {
    int64_t P = l->dims[r], V = l->dims[r + 1], g = block_of(i, r, d, l->dims);
    memcpy(dst, (const char *)l->data + (size_t)((g * P + q) * V + v) * es, es);
}

/* Output flat index of entry v of index position i when dim ax of d grows V times. */
static int64_t vec_pos(int64_t i, int r, const int64_t *d, int ax, int64_t V, int64_t v) {
    int64_t o = 0, mul = 1;
    for (int k = r - 1; k >= 0; k--) {
        int64_t ck = i % d[k], dk = d[k];
        i /= d[k];
        if (k == ax) ck = ck * V + v, dk *= V;
        o += ck * mul;
        mul *= dk;
    }
    return o;
}

static int lut18(rt_ctx *c) {
    const rt_tensor *idx = rt_in_req(c, "indices"), *l;
    size_t es;
    int64_t V;
    int ax;
    if (!idx || lut_read(c, idx->rank, idx->dims, &l, &es, &V, &ax)) return -1;
    if (idx->dtype != IR_UINT8) return rt_fail(c, "indices must be unsigned integers");
    int64_t od[IR_MAX_RANK], P = l->dims[idx->rank];
    memcpy(od, idx->dims, sizeof od);
    od[ax] *= V;
    char *y = rt_out(c, 0, idx->rank, od, l->dtype);
    if (!y) return -1;
    const uint8_t *q = idx->data;
    int64_t n = rt_numel(idx);
    for (int64_t i = 0; i < n; i++) {
        if (q[i] >= P) return rt_fail(c, "index %u past the %lld palette entries", q[i], (long long)P);
        for (int64_t v = 0; v < V; v++)
            lut_get(l, es, idx->rank, idx->dims, i, q[i], v, y + (size_t)vec_pos(i, idx->rank, idx->dims, ax, V, v) * es);
    }
    return 0;
}

/* Set positions of a mask tensor: count, checked against the values that fill them. */
static int mask_count(rt_ctx *c, const rt_tensor *m, int64_t nvals, const char *what) {
    if (m->dtype != IR_UINT8) return rt_fail(c, "the mask must be uint1");
    int64_t n = rt_numel(m), k = 0;
    for (int64_t i = 0; i < n; i++) k += ((const uint8_t *)m->data)[i] != 0;
    return k == nvals ? 0 : rt_fail(c, "the mask sets %lld positions for %lld %s", (long long)k, (long long)nvals, what);
}

static int sparse18(rt_ctx *c) {
    const rt_tensor *nz = rt_in_req(c, "nonzero_data"), *m = nz ? rt_in_req(c, "mask") : NULL;
    if (!m) return -1;
    size_t es = elem_size(nz->dtype);
    if (!es || nz->rank != 1) return rt_fail(c, "nonzero_data must be a vector of int8, uint8, fp16 or fp32");
    if (mask_count(c, m, nz->dims[0], "nonzero_data values")) return -1;
    char *y = rt_out(c, 0, m->rank, m->dims, nz->dtype);
    if (!y) return -1;
    const uint8_t *mk = m->data;
    int64_t n = rt_numel(m), k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (mk[i])
            memcpy(y + (size_t)i * es, (const char *)nz->data + (size_t)k++ * es, es);
        else
            memset(y + (size_t)i * es, 0, es);
    }
    return 0;
}

int rt_k_CONSTEXPR_LUT_TO_SPARSE(rt_ctx *c) {
    const rt_tensor *m = rt_in_req(c, "indices_mask"), *q = m ? rt_in_req(c, "indices_nonzero_data") : NULL, *l;
    size_t es;
    int64_t V;
    int ax;
    if (!q || lut_read(c, m->rank, m->dims, &l, &es, &V, &ax)) return -1;
    if (q->dtype != IR_UINT8 || q->rank != 1) return rt_fail(c, "indices_nonzero_data must be a vector of unsigned integers");
    if (mask_count(c, m, q->dims[0], "indices")) return -1;
    int64_t od[IR_MAX_RANK], nv = q->dims[0] * V, P = l->dims[m->rank];
    memcpy(od, m->dims, sizeof od);
    od[ax] *= V;
    uint8_t *mo = rt_out(c, 0, m->rank, od, IR_UINT8);
    char *vo = mo ? rt_out(c, 1, 1, &nv, l->dtype) : NULL;
    if (!vo) return -1;
    /* walk the expanded layout in C order: position p is entry v of input position i */
    int64_t n = rt_numel(m), no = rt_numel_dims(m->rank, od), k = 0;
    int64_t *rank_of = rt_scratch(c, sizeof(int64_t) * (size_t)(n + 1), 0); /* set positions before i */
    if (!rank_of) return -1;
    const uint8_t *mk = m->data, *qv = q->data;
    for (int64_t i = 0; i < n; i++) rank_of[i] = k, k += mk[i] != 0;
    for (int64_t p = 0, w = 0; p < no; p++) {
        int64_t rem = p, i = 0, mul = 1, v = 0;
        for (int d = m->rank - 1; d >= 0; d--) {
            int64_t ck = rem % od[d];
            rem /= od[d];
            if (d == ax) v = ck % V, ck /= V;
            i += ck * mul;
            mul *= m->dims[d];
        }
        if (!(mo[p] = mk[i] != 0)) continue;
        unsigned qi = qv[rank_of[i]];
        if (qi >= P) return rt_fail(c, "index %u past the %lld palette entries", qi, (long long)P);
        lut_get(l, es, m->rank, m->dims, i, qi, v, vo + (size_t)w++ * es);
    }
    return 0;
}

int rt_k_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE(rt_ctx *c) {
    const rt_tensor *m = rt_in_req(c, "data_mask"), *nz = m ? rt_in_req(c, "nonzero_data") : NULL, *s;
    const float *sf, *of, *df;
    if (!nz || read_scale_offset(c, m->rank, m->dims, &s, &sf, &of) || !(df = rt_f32(c, nz))) return -1;
    if (nz->rank != 1) return rt_fail(c, "nonzero_data must be a vector");
    if (mask_count(c, m, nz->dims[0], "nonzero_data values")) return -1;
    uint8_t *mo = rt_out(c, 0, m->rank, m->dims, IR_UINT8);
    float *y = mo ? rt_out(c, 1, 1, nz->dims, IR_FP32) : NULL;
    if (!y) return -1;
    int64_t n = rt_numel(m), k = 0;
    memcpy(mo, m->data, (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        if (!mo[i]) continue;
        int64_t b = block_of(i, m->rank, m->dims, s->dims);
        y[k] = sf[b] * (df[k] - (of ? of[b] : 0.0f));
        k++;
    }
    return 0;
}
