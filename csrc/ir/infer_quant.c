/* infer_quant.c: shape inference for quantized and compressed tensors: the iOS16 constexpr ops
 * (constexpr_affine_dequantize, constexpr_cast, constexpr_lut_to_dense, constexpr_sparse_to_dense,
 * whose inputs are all constants) and iOS17 quantize / dequantize (a run-time input, const scale
 * and zero point, scalar or one per slice along `axis`), and the iOS18 family: lut_to_dense and
 * sparse_to_dense redefined (told apart from iOS16's by having no `shape`), blockwise_shift_scale,
 * lut_to_sparse and sparse_blockwise_shift_scale (the last two give a mask and nonzero values for a
 * following sparse_to_dense). Sub-byte inputs (int4, uint1..uint6) are held one byte per element.
 * Definitions: coremltools ops/defs iOS16/constexpr_ops.py, iOS17/quantization_ops.py, iOS18/compression.py.
 */
#include "ir/infer_int.h"

#include <string.h>

/* Input `name`, which must be a constant. */
static int const_input(infer_ctx *c, const char *name, int required, const ir_type **t) {
    if (inf_input(c, name, required, t)) return -1;
    if (*t && !ir_op_arg(c->op, name)->v[0]->konst) return inf_fail(c, "parameter '%s' must be a constant", name);
    return 0;
}

static int is_q8(ir_dtype t) { return t == IR_INT8 || t == IR_UINT8; }
static int is_fp(ir_dtype t) { return t == IR_FP16 || t == IR_FP32; }

/* scale / zero_point: a scalar, or a vector of x's size along axis (axis required then). */
static int per_axis(infer_ctx *c, const ir_type *x, const ir_type *p, const char *name, int axis_required) {
    if (!p) return 0;
    if (p->rank == 0) return 0;
    if (p->rank != 1) return inf_fail(c, "%s %s must be a scalar or a vector", name, inf_tstr(p));
    const ir_type *at;
    int64_t axis;
    if (inf_input(c, "axis", axis_required, &at)) return -1;
    if (!at) return inf_fail(c, "%s is a vector, so axis is required", name);
    if (inf_int(c, "axis", &axis)) return -1;
    int ax;
    if (x->rank < 0) return 0;
    if (inf_axis(c, "axis", axis, x->rank, &ax)) return -1;
    if (x->dims[ax] >= 0 && p->dims[0] != x->dims[ax])
        return inf_fail(c, "%s has %lld values for the %lld slices of %s along axis %d", name, (long long)p->dims[0],
                        (long long)x->dims[ax], inf_tstr(x), ax);
    return 0;
}

int inf_constexpr_affine_dequantize(infer_ctx *c) {
    const ir_type *q, *zp, *s, *at;
    int64_t axis;
    if (const_input(c, "quantized_data", 1, &q) || const_input(c, "zero_point", 1, &zp) ||
        const_input(c, "scale", 1, &s) || const_input(c, "axis", 1, &at) || inf_int(c, "axis", &axis))
        return -1;
    if (!is_q8(q->dtype)) return inf_fail(c, "quantized_data must be int8 or uint8, got %s", ir_dtype_name(q->dtype));
    if (!is_q8(zp->dtype) && zp->dtype != IR_FP32)
        return inf_fail(c, "zero_point must be int8, uint8 or fp32, got %s", ir_dtype_name(zp->dtype));
    if (!is_fp(s->dtype)) return inf_fail(c, "scale must be fp16 or fp32, got %s", ir_dtype_name(s->dtype));
    int ax;
    if (inf_axis(c, "axis", axis, q->rank, &ax) || per_axis(c, q, s, "scale", 1) || per_axis(c, q, zp, "zero_point", 1))
        return -1;
    ir_type t = *q;
    t.dtype = s->dtype;
    return inf_out(c, t);
}

int inf_constexpr_cast(infer_ctx *c) {
    const ir_type *x;
    const char *dt;
    if (const_input(c, "source_val", 1, &x) || inf_str(c, "output_dtype", &dt)) return -1;
    if (!dt) return inf_fail(c, "missing required input 'output_dtype'");
    if (x->dtype != IR_FP16) return inf_fail(c, "source_val must be fp16, got %s", ir_dtype_name(x->dtype));
    if (strcmp(dt, "fp32")) return inf_fail(c, "output_dtype must be 'fp32', got '%s'", dt);
    ir_type t = *x;
    t.dtype = IR_FP32;
    return inf_out(c, t);
}

/* The output shape of the lut / sparse ops: the const `shape` (uint32), and its element count. */
static int packed_shape(infer_ctx *c, ir_type *t, int64_t *numel) {
    const ir_type *st;
    int64_t sh[IR_MAX_RANK];
    int n;
    if (const_input(c, "shape", 1, &st) || inf_ints(c, "shape", 0, sh, IR_MAX_RANK, &n)) return -1;
    if (st->rank != 1) return inf_fail(c, "shape %s must be 1-D", inf_tstr(st));
    *numel = 1;
    for (int i = 0; i < n; i++) {
        if (sh[i] < 0 || sh[i] > IR_MAX_ELEMS || (sh[i] && *numel > IR_MAX_ELEMS / sh[i]))
            return inf_fail(c, "shape has an invalid or too large dim %lld", (long long)sh[i]);
        *numel *= sh[i];
    }
    *t = ir_tensor_type(IR_FP32, n, sh);
    return 0;
}

static int lut_dtype_ok(ir_dtype t) { return is_q8(t) || is_fp(t); }

static int infer_lut_to_dense(infer_ctx *c) {
    const ir_type *idx, *lut;
    ir_type t;
    int64_t n;
    if (const_input(c, "indices", 1, &idx) || const_input(c, "lut", 1, &lut) || packed_shape(c, &t, &n)) return -1;
    if (idx->dtype != IR_UINT8 || idx->rank != 1) return inf_fail(c, "indices %s must be a uint8 vector", inf_tstr(idx));
    if (lut->rank != 1 || !lut_dtype_ok(lut->dtype))
        return inf_fail(c, "lut %s must be a vector of int8, uint8, fp16 or fp32", inf_tstr(lut));
    int bits = 0;
    while (bits < 9 && ((int64_t)1 << bits) != lut->dims[0]) bits++;
    if (bits != 1 && bits != 2 && bits != 4 && bits != 6 && bits != 8)
        return inf_fail(c, "lut has %lld entries; 2, 4, 16, 64 or 256 allowed", (long long)lut->dims[0]);
    if (idx->dims[0] != (n * bits + 7) / 8)
        return inf_fail(c, "indices has %lld bytes, %lld %d-bit indices need %lld", (long long)idx->dims[0],
                        (long long)n, bits, (long long)((n * bits + 7) / 8));
    t.dtype = lut->dtype;
    return inf_out(c, t);
}

static int infer_sparse_to_dense(infer_ctx *c) {
    const ir_type *nz, *mask;
    ir_type t;
    int64_t n;
    if (const_input(c, "nonzero_data", 1, &nz) || const_input(c, "mask", 1, &mask) || packed_shape(c, &t, &n))
        return -1;
    if (nz->rank != 1 || !lut_dtype_ok(nz->dtype))
        return inf_fail(c, "nonzero_data %s must be a vector of int8, uint8, fp16 or fp32", inf_tstr(nz));
    if (mask->dtype != IR_UINT8 || mask->rank != 1) return inf_fail(c, "mask %s must be a uint8 vector", inf_tstr(mask));
    if (mask->dims[0] != (n + 7) / 8)
        return inf_fail(c, "mask has %lld bytes, %lld elements need %lld", (long long)mask->dims[0], (long long)n,
                        (long long)((n + 7) / 8));
    const ir_const *m = ir_op_arg(c->op, "mask")->v[0]->konst;
    int64_t set = 0;
    for (int64_t i = 0; i < m->count; i++) {
        int64_t byte = ir_const_get_i64(m, i);
        for (int b = 0; b < 8; b++) {
            if (!(byte >> b & 1)) continue;
            if (i * 8 + b >= n) return inf_fail(c, "mask sets a padding bit past its %lld elements", (long long)n);
            set++;
        }
    }
    if (set != nz->dims[0])
        return inf_fail(c, "mask sets %lld bits for %lld nonzero_data values", (long long)set, (long long)nz->dims[0]);
    t.dtype = nz->dtype;
    return inf_out(c, t);
}

/* ---- iOS18 ---- */

/* Every dim of x a multiple of the block grid g's (same rank). */
static int blocks_ok(infer_ctx *c, const ir_type *x, const char *xn, const ir_type *g, const char *gn, int grank) {
    if (x->rank < 0 || g->rank < 0) return inf_fail(c, "%s and %s need known ranks", xn, gn);
    if (grank != x->rank) return inf_fail(c, "%s %s and %s %s do not have matching ranks", xn, inf_tstr(x), gn, inf_tstr(g));
    for (int i = 0; i < x->rank; i++)
        if (!IR_IS_SYM(x->dims[i]) && !IR_IS_SYM(g->dims[i]) && (g->dims[i] == 0 || x->dims[i] % g->dims[i]))
            return inf_fail(c, "%s %s is not made of whole blocks of %s %s", xn, inf_tstr(x), gn, inf_tstr(g));
    return 0;
}

static int scale_offset(infer_ctx *c, const ir_type *x, const char *xn, const ir_type **s) {
    const ir_type *o;
    if (inf_input(c, "scale", 1, s) || inf_input(c, "offset", 0, &o)) return -1;
    if (!is_fp((*s)->dtype)) return inf_fail(c, "scale must be fp16 or fp32, got %s", inf_tstr(*s));
    int same = o ? o->rank == (*s)->rank : 1;
    for (int i = 0; same && i < (*s)->rank; i++) same = o->dims[i] == (*s)->dims[i];
    if (!same) return inf_fail(c, "offset %s must have scale's shape %s", inf_tstr(o), inf_tstr(*s));
    return x ? blocks_ok(c, x, xn, *s, "scale", (*s)->rank) : 0;
}

int inf_constexpr_blockwise_shift_scale(infer_ctx *c) {
    const ir_type *d, *s;
    if (inf_input(c, "data", 1, &d) || scale_offset(c, d, "data", &s)) return -1;
    ir_type t = *d;
    t.dtype = s->dtype;
    return inf_out(c, t);
}

/* lut [groups.., palettes, V] for positions of shape x: the output shape (dims[vector_axis] *= V). */
static int lut_out(infer_ctx *c, const ir_type *x, const char *xn, ir_type *t) {
    const ir_type *lut;
    if (inf_input(c, "lut", 1, &lut)) return -1;
    if (!lut_dtype_ok(lut->dtype)) return inf_fail(c, "lut must be int8, uint8, fp16 or fp32, got %s", inf_tstr(lut));
    if (x->rank < 0 || lut->rank != x->rank + 2)
        return inf_fail(c, "lut %s needs 2 more dims than %s %s", inf_tstr(lut), xn, inf_tstr(x));
    if (blocks_ok(c, x, xn, lut, "lut", x->rank)) return -1;
    *t = *x;
    t->dtype = lut->dtype;
    int64_t V = lut->dims[lut->rank - 1], axis;
    if (V == 1 || IR_IS_SYM(V)) return 0;
    const ir_type *at;
    int ax;
    if (inf_input(c, "vector_axis", 1, &at) || inf_int(c, "vector_axis", &axis) || inf_axis(c, "vector_axis", axis, x->rank, &ax))
        return -1;
    if (!IR_IS_SYM(t->dims[ax])) t->dims[ax] *= V;
    return 0;
}

static int infer_lut18(infer_ctx *c) {
    const ir_type *idx;
    ir_type t;
    if (inf_input(c, "indices", 1, &idx) || lut_out(c, idx, "indices", &t)) return -1;
    if (idx->dtype != IR_UINT8) return inf_fail(c, "indices must be unsigned (uint1..uint8), got %s", inf_tstr(idx));
    return inf_out(c, t);
}

static int infer_sparse18(infer_ctx *c) {
    const ir_type *nz, *mask;
    if (inf_input(c, "nonzero_data", 1, &nz) || inf_input(c, "mask", 1, &mask)) return -1;
    if (nz->rank != 1) return inf_fail(c, "nonzero_data %s must be a vector", inf_tstr(nz));
    if (mask->dtype != IR_UINT8) return inf_fail(c, "mask must be uint1, got %s", inf_tstr(mask));
    ir_type t = *mask;
    t.dtype = nz->dtype;
    return inf_out(c, t);
}

int inf_constexpr_lut_to_sparse(infer_ctx *c) {
    const ir_type *mask, *nz;
    ir_type t;
    if (inf_input(c, "indices_mask", 1, &mask) || inf_input(c, "indices_nonzero_data", 1, &nz) ||
        lut_out(c, mask, "indices_mask", &t))
        return -1;
    if (nz->rank != 1) return inf_fail(c, "indices_nonzero_data %s must be a vector", inf_tstr(nz));
    const ir_type *lut = &ir_op_arg(c->op, "lut")->v[0]->type;
    int64_t V = lut->dims[lut->rank - 1], n = IR_IS_SYM(nz->dims[0]) || IR_IS_SYM(V) ? inf_fresh(c) : nz->dims[0] * V;
    ir_dtype vdt = t.dtype;
    t.dtype = IR_UINT8;
    if (inf_out(c, t)) return -1;
    return inf_out(c, ir_tensor_type(vdt, 1, &n));
}

int inf_constexpr_sparse_blockwise_shift_scale(infer_ctx *c) {
    const ir_type *mask, *nz, *s;
    if (inf_input(c, "data_mask", 1, &mask) || inf_input(c, "nonzero_data", 1, &nz) || scale_offset(c, mask, "data_mask", &s))
        return -1;
    if (nz->rank != 1) return inf_fail(c, "nonzero_data %s must be a vector", inf_tstr(nz));
    ir_type t = *mask;
    t.dtype = IR_UINT8;
    if (inf_out(c, t)) return -1;
    t = *nz;
    t.dtype = s->dtype;
    return inf_out(c, t);
}

int inf_quantize(infer_ctx *c) {
    const ir_type *x, *zp, *s;
    const char *dt;
    if (inf_input(c, "input", 1, &x) || const_input(c, "zero_point", 0, &zp) || const_input(c, "scale", 1, &s) ||
        inf_str(c, "output_dtype", &dt))
        return -1;
    if (!dt) return inf_fail(c, "missing required input 'output_dtype'");
    ir_dtype out = ir_dtype_from_name(dt);
    if (!is_q8(out)) return inf_fail(c, "output_dtype must be 'int8' or 'uint8', got '%s'", dt);
    if (!is_fp(x->dtype) || s->dtype != x->dtype)
        return inf_fail(c, "input and scale must be both fp16 or both fp32, got %s and %s", ir_dtype_name(x->dtype),
                        ir_dtype_name(s->dtype));
    if (zp && zp->dtype != out) return inf_fail(c, "zero_point is %s, output_dtype %s", ir_dtype_name(zp->dtype), dt);
    if (per_axis(c, x, s, "scale", 0) || per_axis(c, x, zp, "zero_point", 0)) return -1;
    ir_type t = *x;
    t.dtype = out;
    return inf_out(c, t);
}

int inf_dequantize(infer_ctx *c) {
    const ir_type *x, *zp, *s;
    if (inf_input(c, "input", 1, &x) || const_input(c, "zero_point", 0, &zp) || const_input(c, "scale", 1, &s)) return -1;
    if (!is_q8(x->dtype)) return inf_fail(c, "input must be int8 or uint8, got %s", ir_dtype_name(x->dtype));
    if (!is_fp(s->dtype)) return inf_fail(c, "scale must be fp16 or fp32, got %s", ir_dtype_name(s->dtype));
    if (zp && zp->dtype != x->dtype) return inf_fail(c, "zero_point is %s, input %s", ir_dtype_name(zp->dtype), ir_dtype_name(x->dtype));
    if (per_axis(c, x, s, "scale", 0) || per_axis(c, x, zp, "zero_point", 0)) return -1;
    ir_type t = *x;
    t.dtype = s->dtype;
    return inf_out(c, t);
}

/* iOS16 and iOS18 forms under one name: iOS16's has a shape input. */
int inf_constexpr_lut_to_dense(infer_ctx *c) { return ir_op_arg(c->op, "shape") ? infer_lut_to_dense(c) : infer_lut18(c); }
int inf_constexpr_sparse_to_dense(infer_ctx *c) { return ir_op_arg(c->op, "shape") ? infer_sparse_to_dense(c) : infer_sparse18(c); }
