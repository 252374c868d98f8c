/* conv.c: aten::_convolution (all flags), conv1d/2d/3d, conv_transpose1d/2d/3d ->
 * MIL conv / conv_transpose with pad_type "custom" and explicit pads. */
#include "lower/build.h"

#include <string.h>

/* Expand a torch int list param (one value means "all dims") to `sp` values. */
static int spatial_param(lower_ctx *cx, const ts_node *n, int i, int sp, int64_t dflt, int64_t *out) {
    int cnt = 0;
    int64_t v[8];
    if (i >= n->nin || lower_is_none(cx, n, i)) {
        for (int k = 0; k < sp; k++) out[k] = dflt;
        return 0;
    }
    if (lower_ints_in(cx, n, i, v, 8, &cnt)) return -1;
    if (cnt == 0) {
        for (int k = 0; k < sp; k++) out[k] = dflt;
    } else if (cnt == 1) {
        for (int k = 0; k < sp; k++) out[k] = v[0];
    } else if (cnt == sp) {
        memcpy(out, v, sizeof(int64_t) * (size_t)sp);
    } else {
        return lower_fail(cx, "input %d has %d values for %d spatial dims", i, cnt, sp);
    }
    return 0;
}

/* y (N, C, *sp) + bias (C), the bias reshaped to broadcast over the spatial dims. */
static ir_value *add_bias(lower_ctx *cx, ir_value *y, int sp, ir_value *bias) {
    int64_t shape[5] = {bias->type.dims[0], 1, 1, 1, 1};
    ir_value *b = lb_reshape(cx, bias, sp + 1, shape, "bias");
    return lb_binary(cx, IR_OP_ADD, y, b, "biased");
}

/* y (N, C, *sp) padded with zeros at the end of each spatial dim by extra[d], then + bias (C). */
static ir_value *pad_end(lower_ctx *cx, ir_value *y, int sp, const int64_t *extra, ir_value *bias) {
    int64_t pads[6];
    for (int d = 0; d < sp; d++) {
        pads[2 * d] = 0;
        pads[2 * d + 1] = extra[d];
    }
    ir_op *op = lb_op(cx, IR_OP_PAD, "outpad");
    if (!op || ir_op_set_input(op, "x", y) || lb_param_i32v(cx, op, "pad", 2 * sp, pads) ||
        lb_param_str(cx, op, "mode", "constant") || lb_param_f(cx, op, "constant_val", 0.0, y->type.dtype))
        return NULL;
    y = lb_finish(cx, op);
    return y && bias ? add_bias(cx, y, sp, bias) : y;
}

int lower_convolution(lower_ctx *cx, const ts_node *n) {
    int transposed = 0;
    /* argument positions per overload (the row's .sub) */
    int i_stride = 3, i_pad = 4, i_dil = 5, i_groups = 6, i_outpad = -1;
    if (cx->row->sub == CONV_GENERIC) {
        i_outpad = 7;
        i_groups = 8;
        if (lower_bool_in(cx, n, 6, &transposed)) return -1;
    } else if (cx->row->sub == CONV_TRANSPOSE) {
        transposed = 1;
        i_outpad = 5;
        i_groups = 6;
        i_dil = 7;
    }
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *w = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    if (!x || !w) return -1;
    int sp = w->type.rank - 2;
    if (sp < 1 || sp > 3) return lower_fail(cx, "weight of rank %d", w->type.rank);
    if (transposed && !w->konst)
        return lower_fail(cx, "Core ML's conv_transpose takes its weight at compile time, but this weight is computed "
                              "at run time (make it a parameter or buffer of the module)");
    int64_t stride[3], pad[3], dil[3], outpad[3] = {0, 0, 0}, groups = 1;
    if (spatial_param(cx, n, i_stride, sp, 1, stride) || spatial_param(cx, n, i_dil, sp, 1, dil)) return -1;
    if (i_groups < n->nin && lower_int_in(cx, n, i_groups, &groups)) return -1;
    if (i_outpad >= 0 && transposed && spatial_param(cx, n, i_outpad, sp, 0, outpad)) return -1;
    int64_t mil_pad[6], extra[3] = {0, 0, 0}; /* extra: output rows past the kernel's reach (output_padding > padding) */
    int any_extra = 0;
    lv *pl = lower_in(cx, n, i_pad);
    if (!pl) return -1;
    if (pl->kind == LV_STR) { /* conv2d.padding: "same" / "valid" */
        for (int d = 0; d < sp; d++) {
            int64_t total = strcmp(pl->s, "same") == 0 ? dil[d] * (w->type.dims[2 + d] - 1) : 0;
            if (strcmp(pl->s, "same") != 0 && strcmp(pl->s, "valid") != 0)
                return lower_fail(cx, "padding='%s'", pl->s);
            mil_pad[2 * d] = total / 2;
            mil_pad[2 * d + 1] = total - total / 2;
        }
    } else {
        if (spatial_param(cx, n, i_pad, sp, 0, pad)) return -1;
        for (int d = 0; d < sp; d++) {
            mil_pad[2 * d] = pad[d];
            mil_pad[2 * d + 1] = pad[d] - outpad[d]; /* transposed: output_padding adds at the end */
            if (mil_pad[2 * d + 1] < 0) { /* rows no input reaches: zeros (then the bias), added with a pad op */
                extra[d] = -mil_pad[2 * d + 1];
                mil_pad[2 * d + 1] = 0;
                any_extra = 1;
            }
        }
    }
    /* unbatched input: add the batch dim around the op */
    int unbatched = x->type.rank == sp + 1;
    if (unbatched) {
        int64_t ax = 0;
        ir_op *e = lb_op(cx, IR_OP_EXPAND_DIMS, "batched");
        if (!e || ir_op_set_input(e, "x", x) || lb_param_i32v(cx, e, "axes", 1, &ax) || !(x = lb_finish(cx, e)))
            return -1;
    } else if (x->type.rank != sp + 2) {
        return lower_fail(cx, "input of rank %d for a %dd convolution", x->type.rank, sp);
    }
    ir_op *op = lb_op(cx, transposed ? IR_OP_CONV_TRANSPOSE : IR_OP_CONV, unbatched ? "conv" : NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", w)) return -1;
    ir_value *bias = NULL;
    int late_bias = any_extra; /* Core ML's conv bias is a compile-time const: a run-time bias is added after */
    if (!lower_is_none(cx, n, 2)) {
        bias = lower_tensor_in(cx, n, 2, IR_DT_INVALID);
        late_bias |= bias && !bias->konst;
        if (!bias || (!late_bias && ir_op_set_input(op, "bias", bias))) return -1;
    }
    if (lb_conv_params(cx, op, sp, stride, mil_pad, dil, groups)) return -1;
    ir_value *r = lb_finish(cx, op);
    if (r && any_extra) r = pad_end(cx, r, sp, extra, bias);
    else if (r && late_bias) r = add_bias(cx, r, sp, bias);
    if (r && unbatched) {
        int64_t ax = 0;
        ir_op *s = lb_op(cx, IR_OP_SQUEEZE, NULL);
        if (!s || ir_op_set_input(s, "x", r) || lb_param_i32v(cx, s, "axes", 1, &ax)) return -1;
        r = lb_finish(cx, s);
    }
    return lower_out_tensor(cx, n, 0, r);
}
