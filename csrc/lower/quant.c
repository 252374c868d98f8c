/* quant.c: quantized TorchScript ops (eager-mode post-training quantization) as fp32 simulation.
 *
 * A quantized tensor is lowered to its real values, (q - zero_point) * scale in fp32, and its lv carries
 * the quantization parameters (lower_qp). Quantizing is torch's arithmetic:
 *   q = clamp(round_half_even(x * (1 / scale)) + zero_point, qmin, qmax)
 * so the real value is clip(round(x * inv_scale), qmin - zp, qmax - zp) * scale (mul, round, clip, mul).
 * A quantized op (quantized::conv2d, add, ...) computes in fp32 on the real values of its inputs and
 * requantizes to its output scale / zero point; dequantize is then the identity. Weights of packed
 * parameters arrive as fp32 constants already dequantized by the Python frontend (_quant.py), which turns
 * each packed object into a tuple (weight, bias, stride, padding, dilation, groups, transposed) or
 * (weight, bias) for linear. quantized_decomposed::* ops work on plain integer tensors (int32 here).
 * Other aten ops on quantized tensors get torch's output quantization in lower_quant_after. */
#include "lower/build.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* ---- quantization parameters ---- */

static int qrange(lower_ctx *cx, int64_t qtype, int64_t *lo, int64_t *hi) {
    switch (qtype) {
    case 12: *lo = -128; *hi = 127; return 0;                 /* qint8 */
    case 13: *lo = 0; *hi = 255; return 0;                    /* quint8 */
    case 14: *lo = INT32_MIN; *hi = INT32_MAX; return 0;      /* qint32 */
    case 16: *lo = 0; *hi = 15; return 0;                     /* quint4x2 */
    case 17: *lo = 0; *hi = 3; return 0;                      /* quint2x4 */
    default: return lower_fail(cx, "torch dtype code %lld is not a quantized dtype (quint8, qint8, qint32)",
                               (long long)qtype);
    }
}

static lower_qp *qp_new(lower_ctx *cx, int n, int axis, int qtype, int64_t lo, int64_t hi) {
    lower_qp *q = pc_alloc(cx->p->arena, sizeof *q);
    double *s = pc_alloc(cx->p->arena, sizeof(double) * (size_t)n);
    int64_t *z = pc_alloc(cx->p->arena, sizeof(int64_t) * (size_t)n);
    if (!q || !s || !z) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    q->axis = axis;
    q->n = n;
    q->scale = s;
    q->zp = z;
    q->qmin = lo;
    q->qmax = hi;
    q->qtype = qtype;
    return q;
}

static const lower_qp *qp_tensor(lower_ctx *cx, double scale, int64_t zp, int qtype) {
    int64_t lo = 0, hi = 0;
    if (qrange(cx, qtype, &lo, &hi)) return NULL;
    if (!(scale > 0) || !isfinite(scale)) {
        lower_fail(cx, "quantization scale %g must be positive", scale);
        return NULL;
    }
    lower_qp *q = qp_new(cx, 1, -1, qtype, lo, hi);
    if (!q) return NULL;
    ((double *)q->scale)[0] = scale;
    ((int64_t *)q->zp)[0] = zp;
    return q;
}

/* Compile-time numbers of input i: a number, a number list or a const tensor (up to max values). */
static int const_nums(lower_ctx *cx, const ts_node *n, int i, double *out, int max, int *cnt) {
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    if ((l->kind == LV_INT || l->kind == LV_FLOAT || l->kind == LV_BOOL) && !l->dyn) {
        out[0] = l->kind == LV_FLOAT ? l->f : (double)l->i;
        *cnt = 1;
        return 0;
    }
    if (l->kind == LV_TENSOR && l->v && l->v->konst) {
        int64_t m = l->v->konst->count;
        if (m > max) return lower_fail(cx, "input %d has %lld values (at most %d)", i, (long long)m, max);
        for (int64_t k = 0; k < m; k++) out[k] = ir_const_get_f64(l->v->konst, k);
        *cnt = (int)m;
        return 0;
    }
    if (l->kind == LV_LIST && !l->dyn && l->n <= max) {
        for (int k = 0; k < l->n; k++) {
            lv *it = l->items[k];
            if (it->dyn || (it->kind != LV_INT && it->kind != LV_FLOAT)) break;
            out[k] = it->kind == LV_FLOAT ? it->f : (double)it->i;
            if (k == l->n - 1) {
                *cnt = l->n;
                return 0;
            }
        }
    }
    return lower_fail(cx, "input %d (quantization parameters) must be known at conversion time, got a %s", i,
                      l->kind == LV_TENSOR ? "tensor computed at run time" : lv_kind_name(l->kind));
}

static int const_num(lower_ctx *cx, const ts_node *n, int i, double *out) {
    int cnt = 0;
    if (const_nums(cx, n, i, out, 1, &cnt)) return -1;
    if (cnt != 1) return lower_fail(cx, "input %d must be one number", i);
    return 0;
}

/* Input i as a quantized tensor (per tensor unless per_channel_ok); *q receives its parameters. */
static ir_value *qin(lower_ctx *cx, const ts_node *n, int i, const lower_qp **q, int per_channel_ok) {
    lv *l = lower_in(cx, n, i);
    if (!l) return NULL;
    if (l->kind != LV_TENSOR || !l->q) {
        lower_fail(cx, "input %d is not a quantized tensor: quantize it in the model first (QuantStub or "
                       "torch.quantize_per_tensor); quantized tensors as model inputs are not supported", i);
        return NULL;
    }
    if (l->q->axis >= 0 && !per_channel_ok) {
        lower_fail(cx, "input %d is quantized per channel; this op takes per-tensor quantized activations", i);
        return NULL;
    }
    *q = l->q;
    return l->v;
}

/* An output quantized like q's dtype with scale / zero point from inputs si / zi. */
static const lower_qp *qout(lower_ctx *cx, const ts_node *n, int si, int zi, const lower_qp *like) {
    double s, z;
    if (const_num(cx, n, si, &s) || const_num(cx, n, zi, &z)) return NULL;
    return qp_tensor(cx, s, (int64_t)z, like->qtype);
}

/* ---- building ---- */

static ir_value *clip(lower_ctx *cx, ir_value *x, double lo, double hi, const char *suffix) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_op *op = lb_op(cx, IR_OP_CLIP, suffix);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_f(cx, op, "alpha", lo, x->type.dtype) ||
        lb_param_f(cx, op, "beta", hi, x->type.dtype))
        return NULL;
    return lb_finish(cx, op);
}

/* A [n] vector as a const shaped to broadcast along `axis` of a rank-`rank` tensor. */
static ir_value *axis_const(lower_ctx *cx, const float *v, int n, int axis, int rank, const char *suffix) {
    int64_t dims[8];
    for (int d = 0; d < rank; d++) dims[d] = d == axis ? n : 1;
    return lb_const(cx, IR_FP32, rank, dims, v, suffix);
}

/* Real values of x quantized by q (relu: also clamped at 0): see the file comment. */
static ir_value *fake_quant(lower_ctx *cx, ir_value *x, const lower_qp *q, int relu) {
    if (!x) return NULL;
    if (x->type.dtype != IR_FP32 && x->type.dtype != IR_FP16 && !(x = lb_cast(cx, x, IR_FP32, "f32")))
        return NULL;
    int uniform = 1;
    for (int k = 1; k < q->n; k++) uniform &= q->zp[k] == q->zp[0];
    if (q->axis < 0 || q->n == 1) {
        float s = (float)q->scale[0];
        ir_value *t = lb_scalar_op(cx, IR_OP_MUL, x, (double)(1.0f / s));
        ir_value *r = lb_unary(cx, IR_OP_ROUND, t, "qround");
        double lo = (double)(q->qmin - q->zp[0]), hi = (double)(q->qmax - q->zp[0]);
        if (relu && lo < 0) lo = 0;
        ir_value *c = clip(cx, r, lo, hi, "qclip");
        return lb_scalar_op(cx, IR_OP_MUL, c, (double)s);
    }
    int rank = x->type.rank;
    if (q->axis >= rank) {
        lower_fail(cx, "per-channel axis %d of a rank-%d tensor", q->axis, rank);
        return NULL;
    }
    if (x->type.dims[q->axis] >= 0 && x->type.dims[q->axis] != q->n) {
        lower_fail(cx, "%d per-channel scales for axis %d of size %lld", q->n, q->axis,
                   (long long)x->type.dims[q->axis]);
        return NULL;
    }
    float *inv = pc_alloc(cx->p->arena, sizeof(float) * (size_t)q->n * 4);
    if (!inv) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    float *sc = inv + q->n, *lo = sc + q->n, *hi = lo + q->n;
    for (int k = 0; k < q->n; k++) {
        sc[k] = (float)q->scale[k];
        inv[k] = 1.0f / sc[k];
        lo[k] = (float)(q->qmin - q->zp[k]);
        hi[k] = (float)(q->qmax - q->zp[k]);
        if (relu && lo[k] < 0) lo[k] = 0;
    }
    ir_value *iv = axis_const(cx, inv, q->n, q->axis, rank, "qinv");
    ir_value *t = lb_binary(cx, IR_OP_MUL, x, iv, "qscaled");
    ir_value *r = lb_unary(cx, IR_OP_ROUND, t, "qround");
    if (!r) return NULL;
    ir_value *c;
    if (uniform) {
        c = clip(cx, r, lo[0], hi[0], "qclip");
    } else {
        ir_value *lv_ = axis_const(cx, lo, q->n, q->axis, rank, "qlo");
        ir_value *hv = axis_const(cx, hi, q->n, q->axis, rank, "qhi");
        ir_value *m = lb_binary(cx, IR_OP_MAXIMUM, r, lv_, "qmax");
        c = lb_binary(cx, IR_OP_MINIMUM, m, hv, "qclip");
    }
    ir_value *sv = axis_const(cx, sc, q->n, q->axis, rank, "qscale");
    return lb_binary(cx, IR_OP_MUL, c, sv, NULL);
}

static int out_q(lower_ctx *cx, const ts_node *n, int i, ir_value *v, const lower_qp *q) {
    if (!v) return -1;
    lv *l = lv_tensor(cx, v);
    if (!l) return -1;
    l->q = q;
    return lower_out(cx, n, i, l);
}

/* ---- aten:: quantize / dequantize ---- */

/* aten::quantize_per_tensor(x, scale, zero_point, dtype) (scale / zero point numbers or const tensors). */
int lower_quantize_per_tensor(lower_ctx *cx, const ts_node *n) {
    lv *x0 = lower_in(cx, n, 0);
    if (!x0) return -1;
    if (x0->kind == LV_LIST) return lower_fail(cx, "the list form of quantize_per_tensor is not supported");
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    double s, z, t;
    if (!x || const_num(cx, n, 1, &s) || const_num(cx, n, 2, &z) || const_num(cx, n, 3, &t)) return -1;
    const lower_qp *q = qp_tensor(cx, s, (int64_t)z, (int)t);
    return q ? out_q(cx, n, 0, fake_quant(cx, x, q, 0), q) : -1;
}

/* aten::quantize_per_channel(x, scales, zero_points, axis, dtype). */
int lower_quantize_per_channel(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    enum { MAXC = 1 << 16 };
    int ns = 0, nz = 0, axis;
    int64_t ax = 0, lo = 0, hi = 0, t = 0;
    double *s = pc_alloc(cx->p->arena, sizeof(double) * MAXC * 2);
    if (!s) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    double *z = s + MAXC;
    if (const_nums(cx, n, 1, s, MAXC, &ns) || const_nums(cx, n, 2, z, MAXC, &nz) || lower_int_in(cx, n, 3, &ax) ||
        lower_int_in(cx, n, 4, &t) || qrange(cx, t, &lo, &hi) || lower_axis(cx, ax, x->type.rank, &axis))
        return -1;
    if (ns != nz || ns < 1) return lower_fail(cx, "%d scales but %d zero points", ns, nz);
    lower_qp *q = qp_new(cx, ns, axis, (int)t, lo, hi);
    if (!q) return -1;
    for (int k = 0; k < ns; k++) {
        if (!(s[k] > 0)) return lower_fail(cx, "quantization scale %g must be positive", s[k]);
        ((double *)q->scale)[k] = s[k];
        ((int64_t *)q->zp)[k] = (int64_t)z[k];
    }
    return out_q(cx, n, 0, fake_quant(cx, x, q, 0), q);
}

/* aten::dequantize(x): the real values themselves (a float tensor passes through). */
int lower_dequantize(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->kind == LV_LIST) return lower_fail(cx, "the list form of dequantize is not supported");
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    return lower_out_tensor(cx, n, 0, x);
}

/* aten::q_scale / q_zero_point / int_repr of a per-tensor quantized tensor. */
int lower_qparam(lower_ctx *cx, const ts_node *n) {
    const lower_qp *q;
    ir_value *x = qin(cx, n, 0, &q, 0);
    if (!x) return -1;
    if (cx->row->sub == QP_SCALE) return lower_out(cx, n, 0, lv_float(cx, q->scale[0]));
    if (cx->row->sub == QP_ZERO_POINT) return lower_out(cx, n, 0, lv_int(cx, q->zp[0]));
    /* int_repr: round(x / scale) + zero_point, exact for values on the grid */
    ir_value *r = lb_unary(cx, IR_OP_ROUND, lb_scalar_op(cx, IR_OP_MUL, x, (double)(1.0f / (float)q->scale[0])), "k");
    r = lb_scalar_op(cx, IR_OP_ADD, r, (double)q->zp[0]);
    return lower_out_tensor(cx, n, 0, lb_cast(cx, r, IR_INT32, NULL));
}

/* ---- packed parameters ---- */

static lv *packed(lower_ctx *cx, const ts_node *n, int i, int want) {
    lv *p = lower_in(cx, n, i);
    if (!p) return NULL;
    if ((p->kind != LV_TUPLE && p->kind != LV_LIST) || p->n < want) {
        lower_fail(cx, "input %d (packed weights) could not be read: the quantized module's packed parameters "
                       "were not unpacked (got a %s)", i, lv_kind_name(p->kind));
        return NULL;
    }
    if (p->items[0]->kind != LV_TENSOR) {
        lower_fail(cx, "input %d: packed weight is a %s", i, lv_kind_name(p->items[0]->kind));
        return NULL;
    }
    return p;
}

/* quantized::linear_prepack(w, b) / conv*_prepack(w, b, stride, padding, dilation, groups): the tuple
 * the quantized ops read (the same layout the frontend gives unpacked modules). */
int lower_qprepack(lower_ctx *cx, const ts_node *n) {
    int conv = cx->row->sub == 1; /* conv*_prepack */
    int m = conv ? 7 : 2;
    if (n->nin < (conv ? 6 : 1)) return lower_fail(cx, "%d inputs", n->nin);
    lv *t = lv_new(cx, LV_TUPLE);
    lv **items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)m);
    if (!t || !items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int k = 0; k < m; k++) {
        if (conv && k == 6) items[k] = lv_bool(cx, 0);
        else if (k >= n->nin) items[k] = lv_none(cx);
        else items[k] = lower_in(cx, n, k);
        if (!items[k]) return -1;
    }
    t->n = m;
    t->items = items;
    return lower_out(cx, n, 0, t);
}

static ir_value *weight_of(lower_ctx *cx, lv *p, ir_value **bias) {
    *bias = NULL;
    lv *b = p->items[1];
    if (b->kind == LV_TENSOR) *bias = b->v;
    else if (b->kind != LV_NONE) {
        lower_fail(cx, "packed bias is a %s", lv_kind_name(b->kind));
        return NULL;
    }
    return p->items[0]->v;
}

static int ints_item(lower_ctx *cx, lv *p, int k, int sp, int64_t *out) {
    int64_t v[8];
    int cnt = 0;
    if (lv_ints(cx, p->items[k], v, 8, &cnt) || (cnt != 1 && cnt < sp))
        return lower_fail(cx, "packed parameter %d is not a list of %d ints", k, sp);
    for (int d = 0; d < sp; d++) out[d] = cnt == 1 ? v[0] : v[cnt - sp + d];
    return 0;
}

/* quantized::conv1d/2d/3d[_relu](x, packed, scale, zero_point). */
int lower_qconv(lower_ctx *cx, const ts_node *n) {
    const lower_qp *qx;
    ir_value *x = qin(cx, n, 0, &qx, 0);
    lv *p = packed(cx, n, 1, 6);
    if (!x || !p) return -1;
    const lower_qp *qo = qout(cx, n, 2, 3, qx);
    if (!qo) return -1;
    ir_value *bias, *w = weight_of(cx, p, &bias);
    if (!w) return -1;
    if (p->n > 6 && p->items[6]->kind == LV_BOOL && p->items[6]->i)
        return lower_fail(cx, "quantized transposed convolution is not supported");
    int sp = x->type.rank - 2;
    if (sp < 1 || sp > 3) return lower_fail(cx, "input of rank %d", x->type.rank);
    if (w->type.rank == sp + 3 && w->type.dims[2] == 1) { /* conv1d weights are packed as 2d (O, I, 1, K) */
        int64_t shape[3] = {w->type.dims[0], w->type.dims[1], w->type.dims[3]};
        if (!(w = lb_reshape(cx, w, 3, shape, "w1d"))) return -1;
    }
    if (w->type.rank != sp + 2) return lower_fail(cx, "weight of rank %d for a rank-%d input", w->type.rank, x->type.rank);
    int64_t stride[3], pad[3], dil[3], mil_pad[6], groups;
    if (ints_item(cx, p, 2, sp, stride) || ints_item(cx, p, 3, sp, pad) || ints_item(cx, p, 4, sp, dil)) return -1;
    if (p->items[5]->kind != LV_INT || p->items[5]->dyn) return lower_fail(cx, "packed groups is not an int");
    groups = p->items[5]->i;
    for (int d = 0; d < sp; d++) mil_pad[2 * d] = mil_pad[2 * d + 1] = pad[d];
    ir_op *op = lb_op(cx, IR_OP_CONV, "conv");
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", w) ||
        (bias && bias->konst && ir_op_set_input(op, "bias", bias)) ||
        lb_conv_params(cx, op, sp, stride, mil_pad, dil, groups))
        return -1;
    ir_value *y = lb_finish(cx, op);
    if (y && bias && !bias->konst) {
        int64_t shape[4] = {bias->type.dims[0], 1, 1, 1};
        ir_value *b = lb_reshape(cx, bias, sp + 1, shape, "bias");
        y = lb_binary(cx, IR_OP_ADD, y, b, "biased");
    }
    int relu = (cx->row->flags & LR_RELU) != 0;
    return out_q(cx, n, 0, fake_quant(cx, y, qo, relu), qo);
}

/* quantized::linear[_relu](x, packed, scale, zero_point). */
int lower_qlinear(lower_ctx *cx, const ts_node *n) {
    const lower_qp *qx;
    ir_value *x = qin(cx, n, 0, &qx, 0);
    lv *p = packed(cx, n, 1, 2);
    if (!x || !p) return -1;
    const lower_qp *qo = qout(cx, n, 2, 3, qx);
    if (!qo) return -1;
    ir_value *bias, *w = weight_of(cx, p, &bias);
    if (!w) return -1;
    if (w->type.rank != 2) return lower_fail(cx, "weight of rank %d", w->type.rank);
    ir_value *y;
    if (w->konst && (!bias || bias->konst) && x->type.rank >= 1 && x->type.rank <= 3) {
        ir_op *op = lb_op(cx, IR_OP_LINEAR, "linear");
        if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", w) ||
            (bias && ir_op_set_input(op, "bias", bias)))
            return -1;
        y = lb_finish(cx, op);
    } else {
        y = lb_matmul(cx, x, w, 0, 1);
        if (y && bias) y = lb_binary(cx, IR_OP_ADD, y, bias, "biased");
    }
    int relu = (cx->row->flags & LR_RELU) != 0;
    return out_q(cx, n, 0, fake_quant(cx, y, qo, relu), qo);
}

/* ---- quantized elementwise and friends ---- */

/* quantized::add / add_relu / mul / mul_relu / matmul (qa, qb, scale, zero_point): the row's .mil. */
int lower_qbinary(lower_ctx *cx, const ts_node *n) {
    ir_opkind mil = cx->row->mil;
    if (n->nin < 4) return lower_fail(cx, "the Scalar form (add_scalar / mul_scalar) is not supported");
    const lower_qp *qa, *qb;
    ir_value *a = qin(cx, n, 0, &qa, 0);
    ir_value *b = qin(cx, n, 1, &qb, 0);
    if (!a || !b) return -1;
    const lower_qp *qo = qout(cx, n, 2, 3, qa);
    if (!qo) return -1;
    ir_value *y;
    if (mil == IR_OP_MATMUL) y = lb_matmul(cx, a, b, 0, 0);
    else y = lb_binary(cx, mil, a, b, mil == IR_OP_MUL ? "qmul" : "qadd");
    return out_q(cx, n, 0, fake_quant(cx, y, qo, (cx->row->flags & LR_RELU) != 0), qo);
}

/* quantized::cat / cat_relu(tensors, dim, scale?, zero_point?): the first input's quantization when
 * scale / zero point are None. */
int lower_qcat(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->kind != LV_LIST || l->dyn || l->n < 1) return lower_fail(cx, "input 0 must be a list of quantized tensors");
    ir_value **vs = pc_alloc(cx->p->arena, sizeof(*vs) * (size_t)l->n);
    if (!vs) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int k = 0; k < l->n; k++) {
        if (l->items[k]->kind != LV_TENSOR || !l->items[k]->q || l->items[k]->q->axis >= 0)
            return lower_fail(cx, "item %d is not a per-tensor quantized tensor", k);
        vs[k] = l->items[k]->v;
    }
    int64_t dim;
    int axis;
    if (lower_int_in(cx, n, 1, &dim) || lower_axis(cx, dim, vs[0]->type.rank, &axis)) return -1;
    const lower_qp *qo = l->items[0]->q;
    if (n->nin > 3 && !lower_is_none(cx, n, 2) && !(qo = qout(cx, n, 2, 3, qo))) return -1;
    ir_value *y = lb_concat(cx, l->n, vs, axis);
    return out_q(cx, n, 0, fake_quant(cx, y, qo, (cx->row->flags & LR_RELU) != 0), qo);
}

/* quantized::hardswish(x, scale, zp), sigmoid(x, scale, zp), leaky_relu(x, slope, inplace, scale, zp),
 * relu6(x, inplace) (keeps x's quantization). */
int lower_qactivation(lower_ctx *cx, const ts_node *n) {
    const lower_row *row = cx->row; /* .sub: ACT_*, .mil for ACT_MIL */
    const lower_qp *qx;
    ir_value *x = qin(cx, n, 0, &qx, 0);
    if (!x) return -1;
    ir_value *y;
    const lower_qp *qo;
    if (row->sub == ACT_MIL && row->mil == IR_OP_RELU6) { /* the input's quantization */
        qo = qx;
        y = lb_unary(cx, IR_OP_RELU6, x, "relu6");
    } else if (row->sub == ACT_LEAKY_RELU) {
        double slope;
        if (const_num(cx, n, 1, &slope) || !(qo = qout(cx, n, 3, 4, qx))) return -1;
        ir_op *op = lb_op(cx, IR_OP_LEAKY_RELU, "lrelu");
        if (!op || ir_op_set_input(op, "x", x) || lb_param_f(cx, op, "alpha", slope, x->type.dtype)) return -1;
        y = lb_finish(cx, op);
    } else {
        if (!(qo = qout(cx, n, 1, 2, qx))) return -1;
        if (row->sub == ACT_MIL && row->mil == IR_OP_SIGMOID) {
            y = lb_unary(cx, IR_OP_SIGMOID, x, "sig");
        } else { /* hardswish: x * relu6(x + 3) / 6 */
            ir_value *r6 = lb_unary(cx, IR_OP_RELU6, lb_scalar_op(cx, IR_OP_ADD, x, 3.0), "relu6");
            ir_value *m = lb_binary(cx, IR_OP_MUL, x, r6, "xr6");
            y = lb_scalar_op(cx, IR_OP_REAL_DIV, m, 6.0);
        }
    }
    return out_q(cx, n, 0, fake_quant(cx, y, qo, 0), qo);
}

/* quantized::batch_norm1d/2d/3d[_relu] and batch_norm(x, weight, bias, mean, var, eps, scale, zp):
 * x * a + b per channel, a = weight / sqrt(var + eps), b = bias - mean * a. */
int lower_qbatch_norm(lower_ctx *cx, const ts_node *n) {
    const lower_qp *qx;
    ir_value *x = qin(cx, n, 0, &qx, 0);
    if (!x) return -1;
    const lower_qp *qo = qout(cx, n, 6, 7, qx);
    if (!qo) return -1;
    if (x->type.rank < 2 || x->type.dims[1] < 1) return lower_fail(cx, "input needs a static channel dim");
    int c = (int)x->type.dims[1];
    double eps;
    if (const_num(cx, n, 5, &eps)) return -1;
    float *a = pc_alloc(cx->p->arena, sizeof(float) * (size_t)c * 2);
    if (!a) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    float *b = a + c;
    const ir_const *pw[4] = {0};
    for (int i = 1; i <= 4; i++) {
        if (lower_is_none(cx, n, i)) continue;
        ir_value *v = lower_tensor_in(cx, n, i, IR_DT_INVALID);
        if (!v) return -1;
        if (!v->konst || v->konst->count != c) return lower_fail(cx, "input %d must be a constant of %d values", i, c);
        pw[i - 1] = v->konst;
    }
    if (!pw[2] || !pw[3]) return lower_fail(cx, "running mean and variance are required");
    for (int k = 0; k < c; k++) {
        double w = pw[0] ? ir_const_get_f64(pw[0], k) : 1.0, bb = pw[1] ? ir_const_get_f64(pw[1], k) : 0.0;
        double s = w / sqrt(ir_const_get_f64(pw[3], k) + eps);
        a[k] = (float)s;
        b[k] = (float)(bb - ir_const_get_f64(pw[2], k) * s);
    }
    ir_value *av = axis_const(cx, a, c, 1, x->type.rank, "bn_a");
    ir_value *bv = axis_const(cx, b, c, 1, x->type.rank, "bn_b");
    ir_value *y = lb_binary(cx, IR_OP_MUL, x, av, "bn_scaled");
    y = lb_binary(cx, IR_OP_ADD, y, bv, "bn");
    return out_q(cx, n, 0, fake_quant(cx, y, qo, (cx->row->flags & LR_RELU) != 0), qo);
}

/* quantized::embedding_byte / embedding_4bit(weight, indices, pruned_weights): a gather of the
 * dequantized rows (float output). */
int lower_qembedding(lower_ctx *cx, const ts_node *n) {
    ir_value *w = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *idx = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    if (!idx) return -1;
    if (!w->konst || w->type.rank != 2)
        return lower_fail(cx, "input 0 (packed embedding weights) could not be read as a 2-d constant");
    int pruned = 0;
    if (n->nin > 2 && !lower_is_none(cx, n, 2) && lower_bool_in(cx, n, 2, &pruned)) return -1;
    if (pruned) return lower_fail(cx, "pruned embedding weights are not supported");
    if (idx->type.dtype != IR_INT32 && !(idx = lb_cast(cx, idx, IR_INT32, "idx"))) return -1;
    return lower_out_tensor(cx, n, 0, lb_gather(cx, w, idx, 0));
}

/* ---- quantized_decomposed:: (integer tensors, parameters as arguments) ---- */

/* A scale or zero point argument as a tensor broadcasting against x (along axis when axis >= 0,
 * else as given: a number, or a per-token tensor). */
static ir_value *param_tensor(lower_ctx *cx, const ts_node *n, int i, int axis, int rank) {
    lv *l = lower_in(cx, n, i);
    if (!l) return NULL;
    ir_value *v = lb_as_tensor(cx, l, IR_FP32);
    if (!v) return NULL;
    if (v->type.dtype != IR_FP32 && !(v = lb_cast(cx, v, IR_FP32, "f32"))) return NULL;
    if (axis >= 0) {
        int64_t dims[8];
        for (int d = 0; d < rank; d++) dims[d] = d == axis ? -1 : 1;
        if (!(v = lb_reshape(cx, v, rank, dims, "axis"))) return NULL;
    }
    return v;
}

/* quantize_per_tensor / quantize_per_channel / quantize_per_token (x, scale(s), zero point(s), [axis,]
 * qmin, qmax, dtype) -> int32 and dequantize_* (q, scale(s), zero point(s), [axis,] qmin, qmax, dtype
 * [, out dtype]) -> fp32. torch rounds before adding the zero point except per token. */
int lower_qdecomposed(lower_ctx *cx, const ts_node *n) {
    int deq = (cx->row->sub & QD_DEQUANTIZE) != 0;
    int channel = (cx->row->sub & QD_CHANNEL) != 0, token = (cx->row->sub & QD_TOKEN) != 0; /* else per tensor */
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    int axis = -1, b = channel ? 4 : 3;
    int64_t ax, qmin, qmax;
    if (channel && (lower_int_in(cx, n, 3, &ax) || lower_axis(cx, ax, x->type.rank, &axis))) return -1;
    if (lower_int_in(cx, n, b, &qmin) || lower_int_in(cx, n, b + 1, &qmax)) return -1;
    if (x->type.dtype != IR_FP32 && !(x = lb_cast(cx, x, IR_FP32, "xf"))) return -1;
    ir_value *s = param_tensor(cx, n, 1, axis, x->type.rank);
    ir_value *z = lower_is_none(cx, n, 2) ? NULL : param_tensor(cx, n, 2, axis, x->type.rank); /* optional */
    if (!s || (!z && !lower_is_none(cx, n, 2))) return -1;
    ir_value *y;
    if (deq) {
        y = z ? lb_binary(cx, IR_OP_SUB, x, z, "centered") : x;
        return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_MUL, y, s, NULL));
    }
    ir_value *one = lb_const_scalar(cx, 1.0, IR_FP32, "one");
    ir_value *inv = lb_binary(cx, IR_OP_REAL_DIV, one, s, "inv");
    y = lb_binary(cx, IR_OP_MUL, x, inv, "scaled");
    if (token) {
        if (z) y = lb_binary(cx, IR_OP_ADD, y, z, "shifted");
        y = lb_unary(cx, IR_OP_ROUND, y, "rounded");
    } else {
        y = lb_unary(cx, IR_OP_ROUND, y, "rounded");
        if (z) y = lb_binary(cx, IR_OP_ADD, y, z, "shifted");
    }
    y = clip(cx, y, (double)qmin, (double)qmax, "clipped");
    return lower_out_tensor(cx, n, 0, lb_cast(cx, y, IR_INT32, NULL));
}

/* quantized_decomposed::choose_qparams_per_token_asymmetric(x, dtype) -> (scales, zero points) over the
 * last dim, torch's formula for the int8 range [-128, 127]. */
int lower_qchoose_per_token(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    if (x->type.dtype != IR_FP32 && !(x = lb_cast(cx, x, IR_FP32, "xf"))) return -1;
    int64_t last = x->type.rank - 1;
    ir_value *mn = lb_reduce(cx, IR_OP_REDUCE_MIN, x, 1, &last, 1);
    ir_value *mx = lb_reduce(cx, IR_OP_REDUCE_MAX, x, 1, &last, 1);
    mn = lb_scalar_op(cx, IR_OP_MINIMUM, mn, 0.0);
    mx = lb_scalar_op(cx, IR_OP_MAXIMUM, mx, 0.0);
    ir_value *s = lb_binary(cx, IR_OP_SUB, mx, mn, "range");
    s = lb_scalar_op(cx, IR_OP_REAL_DIV, s, 255.0);
    s = lb_scalar_op(cx, IR_OP_MAXIMUM, s, (double)1.1920928955078125e-07);
    ir_value *dmin = lb_binary(cx, IR_OP_REAL_DIV, mn, s, "dmin");
    ir_value *dmax = lb_binary(cx, IR_OP_REAL_DIV, mx, s, "dmax");
    /* (qmin + dmin) + (qmax + dmax) > 0 ? qmin - dmin : qmax - dmax */
    ir_value *emin = lb_scalar_op(cx, IR_OP_ADD, dmin, -128.0);
    ir_value *emax = lb_scalar_op(cx, IR_OP_ADD, dmax, 127.0);
    ir_value *sum = lb_binary(cx, IR_OP_ADD, emin, emax, "errsum");
    ir_value *cond = lb_scalar_op(cx, IR_OP_GREATER, sum, 0.0);
    ir_value *za = lb_affine(cx, dmin, -1.0, -128.0);
    ir_value *zb = lb_affine(cx, dmax, -1.0, 127.0);
    ir_op *sel = lb_op(cx, IR_OP_SELECT, "zsel");
    if (!sel || ir_op_set_input(sel, "cond", cond) || ir_op_set_input(sel, "a", za) || ir_op_set_input(sel, "b", zb))
        return -1;
    ir_value *z = lb_finish(cx, sel);
    z = clip(cx, z, -128.0, 127.0, "zclip");
    z = lb_unary(cx, IR_OP_ROUND, z, "zround");
    z = lb_cast(cx, z, IR_INT32, "zp");
    if (!z || lower_out_tensor(cx, n, 0, s)) return -1;
    return lower_out_tensor(cx, n, 1, z);
}

/* ---- aten ops reading quantized tensors ---- */

/* Kinds whose result is on the input's grid already (no requantize needed). */
static const char *const exact_kinds[] = {
    "relu", "relu_", "reshape", "view", "flatten", "permute", "transpose", "t", "contiguous", "clone", "detach",
    "dropout", "dropout_", "feature_dropout", "squeeze", "unsqueeze", "slice", "select", "narrow", "chunk",
    "split", "unbind", "expand", "expand_as", "repeat", "flip", "max_pool1d", "max_pool2d", "max_pool3d",
    "adaptive_max_pool2d", "upsample_nearest1d", "upsample_nearest2d", "upsample_nearest3d", "pixel_shuffle",
    "pixel_unshuffle", "channel_shuffle", "__getitem__", "to", "type_as", "max", "min", "amax", "amin",
    "identity", NULL,
};

static int in_list(const char *k, const char *const *l) {
    for (; *l; l++)
        if (strcmp(k, *l) == 0) return 1;
    return 0;
}

static const lower_qp *first_q(lower_ctx *cx, const ts_node *n) {
    for (int i = 0; i < n->nin; i++) {
        lv *l = cx->vals[n->in[i]->id];
        if (!l) continue;
        if (l->kind == LV_TENSOR && l->q) return l->q;
        if ((l->kind == LV_LIST || l->kind == LV_TUPLE) && !l->dyn)
            for (int k = 0; k < l->n; k++)
                if (l->items[k]->kind == LV_TENSOR && l->items[k]->q) return l->items[k]->q;
    }
    return NULL;
}

static int give_q(lower_ctx *cx, lv *l, const lower_qp *q, int exact, int *slot_changed, lv **out) {
    *out = l;
    *slot_changed = 0;
    if (l->kind == LV_LIST || l->kind == LV_TUPLE) {
        if (l->dyn) return 0;
        for (int k = 0; k < l->n; k++) {
            int ch;
            lv *nl;
            if (give_q(cx, l->items[k], q, exact, &ch, &nl)) return -1;
            l->items[k] = nl;
        }
        return 0;
    }
    if (l->kind != LV_TENSOR || l->q || !l->v || (l->v->type.dtype != IR_FP32 && l->v->type.dtype != IR_FP16))
        return 0;
    lv *nl = lv_tensor(cx, exact ? l->v : fake_quant(cx, l->v, q, 0));
    if (!nl || !nl->v) return -1;
    nl->q = q;
    *out = nl;
    *slot_changed = 1;
    return 0;
}

/* Averages of a quantized tensor: torch sums the integer steps exactly and rounds the mean half to even,
 * so a mean that is a tie (sum / count = n + 0.5, common for small windows) must stay one. Summing the
 * real values k * scale in fp32 would nudge it either way; the op runs on k instead. */
static const char *const averaging_kinds[] = {
    "mean", "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_avg_pool3d", NULL,
};

/* lower_quant_before / _after are not dispatch: lower_node runs them on every node, in-place spellings and kinds
 * without rows (Python's) included, and they match kinds as torch's quantization rules name them. */
int lower_quant_before(lower_ctx *cx, const ts_node *n, lv **saved) {
    *saved = NULL;
    if (strncmp(n->kind, "aten::", 6) != 0 || !in_list(n->kind + 6, averaging_kinds) || n->nin < 1) return 0;
    lv *l = cx->vals[n->in[0]->id];
    if (!l || l->kind != LV_TENSOR || !l->q || l->q->axis >= 0) return 0;
    ir_value *k = lb_scalar_op(cx, IR_OP_MUL, l->v, (double)(1.0f / (float)l->q->scale[0]));
    k = lb_unary(cx, IR_OP_ROUND, k, "steps");
    if (!k) return -1; /* lv_tensor would wrap NULL */
    lv *kl = lv_tensor(cx, k);
    if (!kl) return -1;
    *saved = l;
    cx->vals[n->in[0]->id] = kl;
    return 0;
}

/* The output of an averaging op run on integer steps: rounded, clamped and scaled back (q of saved). */
static int finish_average(lower_ctx *cx, const ts_node *n, lv *saved) {
    const lower_qp *q = saved->q;
    cx->vals[n->in[0]->id] = saved;
    for (int i = 0; i < n->nout; i++) {
        lv *l = cx->vals[n->out[i]->id];
        if (l->kind != LV_TENSOR || !l->v) continue;
        ir_value *r = lb_unary(cx, IR_OP_ROUND, l->v, "qround");
        r = clip(cx, r, (double)(q->qmin - q->zp[0]), (double)(q->qmax - q->zp[0]), "qclip");
        r = lb_scalar_op(cx, IR_OP_MUL, r, (double)(float)q->scale[0]);
        if (!r) return -1; /* lv_tensor would wrap NULL */
        lv *nl = lv_tensor(cx, r);
        if (!nl) return -1;
        nl->q = q;
        cx->vals[n->out[i]->id] = nl;
    }
    return 0;
}

int lower_quant_after(lower_ctx *cx, const ts_node *n, lv *saved) {
    if (saved) return finish_average(cx, n, saved);
    const char *k = n->kind;
    if (strncmp(k, "aten::", 6) != 0) return 0; /* prim:: plumbing keeps lvs; quantized:: ops set their own */
    k += 6;
    if (strcmp(k, "quantize_per_tensor") == 0 || strcmp(k, "quantize_per_channel") == 0 ||
        strcmp(k, "dequantize") == 0 || strcmp(k, "int_repr") == 0)
        return 0;
    const lower_qp *q = first_q(cx, n);
    if (!q) return 0;
    int exact = in_list(k, exact_kinds);
    if (q->axis >= 0 && !exact)
        return lower_fail(cx, "reads a per-channel quantized tensor; only dequantize and quantized ops taking "
                              "weights read those");
    const lower_qp *oq = q;
    int fixed_sig = strcmp(k, "sigmoid") == 0 || strcmp(k, "sigmoid_") == 0 || strcmp(k, "hardsigmoid") == 0 ||
                    strcmp(k, "hardsigmoid_") == 0;
    int fixed_tanh = strcmp(k, "tanh") == 0 || strcmp(k, "tanh_") == 0;
    if (fixed_sig || fixed_tanh) { /* torch's fixed output quantization of these */
        int s8 = q->qtype == 12;
        oq = qp_tensor(cx, fixed_sig ? 1.0 / 256 : 2.0 / 256, fixed_sig ? (s8 ? -128 : 0) : (s8 ? 0 : 128), q->qtype);
        if (!oq) return -1;
    }
    for (int i = 0; i < n->nout; i++) {
        lv *l = cx->vals[n->out[i]->id], *nl;
        int ch;
        if (give_q(cx, l, oq, exact, &ch, &nl)) return -1;
        if (ch) cx->vals[n->out[i]->id] = nl;
    }
    return 0;
}

int lower_quant_check_output(lower_ctx *cx, const lv *l, int i) {
    if (l->kind == LV_TENSOR && l->q)
        return pc_fail(cx->e, PC_E_CONVERT,
                       "output %d is a quantized tensor; Core ML outputs are float: dequantize it in the model "
                       "(DeQuantStub or x.dequantize()) before returning it", i);
    return 0;
}
