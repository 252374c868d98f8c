/* int4.c: int4 weight-only quantized linear layers, torch's CPU int4pack ops.
 *
 * aten::_convert_weight_to_int4pack_for_cpu(w, innerKTiles) packs an [N, K] int weight (values 0..15)
 * into a backend-specific byte layout; aten::_weight_int4pack_mm_for_cpu(x, packed, groupSize,
 * scalesAndZeros) computes x @ W^T with W[n, k] = (q[n, k] - 8) * s[k / groupSize, n] + z[k / groupSize, n],
 * scalesAndZeros being [K / groupSize, N, 2] (scale, zero).
 *
 * In our lowering an int4-packed weight is its plain [N, K] int values: torch's layout is opaque, so the
 * Python frontend (_quant.py) turns each packed constant back into that form with torch's own op, and
 * the convert op on a constant weight is the identity here. The matmul dequantizes the constant weight
 * at conversion time and becomes a MIL linear. Everything must be known at conversion time. */
#include "lower/build.h"

#include <string.h>

/* The [N, K] int weight of input i, checked: a 2-d constant with values 0..15 (K is its dim 1). */
static const ir_const *int4_weight(lower_ctx *cx, const ts_node *n, int i, ir_value **out) {
    ir_value *w = lower_tensor_in(cx, n, i, IR_DT_INVALID);
    if (!w) return NULL;
    if (!w->konst) {
        lower_fail(cx, "input %d (the int4 weight) must be a constant known at conversion time; a weight computed "
                       "by the model at run time is not supported", i);
        return NULL;
    }
    if (w->type.rank != 2 || w->type.dtype != IR_INT32) {
        lower_fail(cx, "input %d (the int4 weight) must be a 2-d int tensor", i);
        return NULL;
    }
    for (int64_t k = 0; k < w->konst->count; k++) {
        int64_t q = ir_const_get_i64(w->konst, k);
        if (q < 0 || q > 15) {
            lower_fail(cx, "input %d (the int4 weight) holds %lld at element %lld: int4 values are 0..15", i,
                       (long long)q, (long long)k);
            return NULL;
        }
    }
    *out = w;
    return w->konst;
}

/* _convert_weight_to_int4pack_for_cpu(w, innerKTiles): the constant weight itself (see the file comment). */
int lower_int4pack_convert(lower_ctx *cx, const ts_node *n) {
    ir_value *w;
    int64_t tiles;
    if (!int4_weight(cx, n, 0, &w)) return -1;
    if (lower_int_in(cx, n, 1, &tiles)) return -1;
    if (tiles != 2 && tiles != 4 && tiles != 8) return lower_fail(cx, "innerKTiles must be 2, 4 or 8, got %lld", (long long)tiles);
    if (w->type.dims[0] % 16 || w->type.dims[1] % 2)
        return lower_fail(cx, "the weight is [%lld, %lld]: N must be a multiple of 16 and K even",
                          (long long)w->type.dims[0], (long long)w->type.dims[1]);
    return lower_out_tensor(cx, n, 0, w);
}

/* _weight_int4pack_mm_for_cpu(x, w, groupSize, scalesAndZeros): linear(x, dequantized W) with W made here. */
int lower_int4pack_mm(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    if (x->type.dtype != IR_FP32 && x->type.dtype != IR_FP16) return lower_fail(cx, "input 0 must be a float tensor");
    if (x->type.rank < 1 || x->type.rank > 3 || x->type.dims[x->type.rank - 1] < 1)
        return lower_fail(cx, "input 0 must have rank 1..3 and a static last dim");
    int64_t kdim = x->type.dims[x->type.rank - 1];
    ir_value *wv = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    if (!wv) return -1;
    if (wv->konst && wv->type.rank == 2 && wv->type.dims[1] * 2 == kdim)
        return lower_fail(cx, "input 1 is an int4 weight in torch's packed byte layout that the converter could not "
                              "unpack (it unpacks packed constants of the CPU form, given a valid group size)");
    const ir_const *wq = int4_weight(cx, n, 1, &wv);
    if (!wq) return -1;
    int64_t nout = wv->type.dims[0];
    if (wv->type.dims[1] != kdim)
        return lower_fail(cx, "the weight is [%lld, %lld] but input 0 has %lld features", (long long)nout,
                          (long long)wv->type.dims[1], (long long)kdim);
    int64_t gs;
    if (lower_int_in(cx, n, 2, &gs)) return -1;
    if (gs != 32 && gs != 64 && gs != 128 && gs != 256)
        return lower_fail(cx, "group size must be 32, 64, 128 or 256, got %lld", (long long)gs);
    if (kdim % gs) return lower_fail(cx, "group size %lld does not divide K = %lld", (long long)gs, (long long)kdim);
    int64_t ng = kdim / gs;
    ir_value *sz = lower_tensor_in(cx, n, 3, IR_DT_INVALID);
    if (!sz) return -1;
    if (!sz->konst) return lower_fail(cx, "input 3 (scales and zeros) must be a constant known at conversion time");
    if (sz->type.rank != 3 || sz->type.dims[0] != ng || sz->type.dims[1] != nout || sz->type.dims[2] != 2)
        return lower_fail(cx, "input 3 (scales and zeros) must be [%lld, %lld, 2]", (long long)ng, (long long)nout);
    if ((uint64_t)nout * (uint64_t)kdim > ((uint64_t)1 << 31)) return lower_fail(cx, "the weight is too large");
    float *w = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(nout * kdim));
    if (!w) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t r = 0; r < nout; r++)
        for (int64_t k = 0; k < kdim; k++) {
            int64_t g = (k / gs) * nout + r;
            float s = (float)ir_const_get_f64(sz->konst, 2 * g), z = (float)ir_const_get_f64(sz->konst, 2 * g + 1);
            float q = (float)(ir_const_get_i64(wq, r * kdim + k) - 8);
            w[r * kdim + k] = q * s + z;
        }
    ir_value *wc = lb_const(cx, x->type.dtype, 2, (int64_t[]){nout, kdim}, w, "weight");
    if (!wc) return -1;
    ir_op *op = lb_op(cx, IR_OP_LINEAR, NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", wc)) return -1;
    return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
}
