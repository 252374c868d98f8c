/* fold.c: aten::im2col (F.unfold) and aten::col2im (F.fold) as convolutions with a one-hot kernel.
 *
 * Unfold's row c*kh*kw + i*kw + j holds x[c] at kernel offset (i, j) of every window: a conv grouped by
 * channel whose weight [C*kh*kw, 1, kh, kw] is 1 at (i, j) for that row copies exactly that, with the
 * unfold's stride, padding and dilation; the [N, C*kh*kw, OH, OW] result is reshaped to [N, C*kh*kw, L].
 * Fold is the adjoint: conv_transpose with the same kernel sums every column back into its place
 * (overlaps add up, as in torch); rows no window reaches at the end are zeros (a pad). */
#include "lower/build.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t k[2], d[2], p[2], s[2];
} fold_geom;

/* kernel_size, dilation, padding, stride at inputs i..i+3 (each 1 or 2 ints). */
static int geom_in(lower_ctx *cx, const ts_node *n, int i, fold_geom *g) {
    int64_t *dst[4] = {g->k, g->d, g->p, g->s};
    const char *names[4] = {"kernel_size", "dilation", "padding", "stride"};
    for (int q = 0; q < 4; q++) {
        int64_t v[2];
        int cnt;
        if (lower_ints_in(cx, n, i + q, v, 2, &cnt)) return -1;
        if (cnt < 1) return lower_fail(cx, "%s is empty", names[q]);
        dst[q][0] = v[0];
        dst[q][1] = cnt > 1 ? v[1] : v[0];
        for (int a = 0; a < 2; a++)
            if (dst[q][a] < (q == 2 ? 0 : 1)) return lower_fail(cx, "%s %lld", names[q], (long long)dst[q][a]);
    }
    return 0;
}

/* Blocks along one dim of size in (0 or less: none fit). */
static int64_t blocks(const fold_geom *g, int a, int64_t in) {
    int64_t span = in + 2 * g->p[a] - g->d[a] * (g->k[a] - 1) - 1;
    return span < 0 ? 0 : span / g->s[a] + 1;
}

/* The one-hot weight [C*kh*kw, 1, kh, kw]. */
static ir_value *one_hot_kernel(lower_ctx *cx, int64_t C, const fold_geom *g) {
    int64_t K = g->k[0] * g->k[1], dims[4] = {C * K, 1, g->k[0], g->k[1]};
    if (C * K * K > (1 << 26)) {
        lower_fail(cx, "%lld channels with a %lldx%lld kernel is too large", (long long)C, (long long)g->k[0],
                   (long long)g->k[1]);
        return NULL;
    }
    float *w = calloc((size_t)(C * K * K), sizeof(float));
    if (!w) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t q = 0; q < K; q++) w[(c * K + q) * K + q] = 1;
    ir_value *v = lb_const(cx, IR_FP32, 4, dims, w, "onehot");
    free(w);
    return v;
}

/* pad: [top, bottom, left, right] (for the conv_transpose of fold, what is cropped). */
static int conv_params(lower_ctx *cx, ir_op *op, ir_value *x, ir_value *w, const fold_geom *g, int64_t C, const int64_t *pad) {
    if (ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", w) ||
        lb_conv_params(cx, op, 2, g->s, pad, g->d, C))
        return -1;
    return 0;
}

/* im2col(self, kernel_size, dilation, padding, stride): [N, C, H, W] (or [C, H, W]) -> [N, C*kh*kw, L]. */
int lower_im2col(lower_ctx *cx, const ts_node *n) {
    fold_geom g;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || geom_in(cx, n, 1, &g)) return -1;
    int r = x->type.rank, unb = r == 3;
    if (r != 3 && r != 4) return lower_fail(cx, "unfold of a rank-%d input (3-D or 4-D)", r);
    const int64_t *d = x->type.dims + (unb ? 0 : 1);
    if (d[0] < 0) return lower_fail(cx, "unfold needs a channel count known at conversion time (its kernel is a constant)");
    int sym = d[1] < 0 || d[2] < 0; /* spatial sizes known only at run time: the blocks are counted then */
    int64_t C = d[0], OH = blocks(&g, 0, d[1]), OW = blocks(&g, 1, d[2]), K = g.k[0] * g.k[1];
    if (!sym && (OH < 1 || OW < 1)) return lower_fail(cx, "the kernel does not fit the padded %lldx%lld input", (long long)d[1], (long long)d[2]);
    int64_t ax = 0;
    if (!ir_dtype_is_float(x->type.dtype) && !(x = lb_cast(cx, x, IR_FP32, "fp32"))) return -1;
    if (unb && !(x = lb_expand(cx, x, 1, &ax))) return -1;
    ir_value *w = one_hot_kernel(cx, C, &g);
    ir_op *op = lb_op(cx, IR_OP_CONV, "patches");
    int64_t pad[4] = {g.p[0], g.p[0], g.p[1], g.p[1]};
    if (!op || conv_params(cx, op, x, w, &g, C, pad)) return -1;
    ir_value *y = lb_finish(cx, op);
    if (y && sym) { /* [N, C*K, -1] */
        lv *sh[3] = {unb ? lv_int(cx, 1) : lower_dim_lv(cx, y, 0), lv_int(cx, C * K), lv_int(cx, -1)};
        lv *l = lower_list_of(cx, 3, sh);
        y = lb_reshape_lv(cx, y, l);
    } else {
        int64_t shape[3] = {unb ? 1 : x->type.dims[0] < 0 ? -1 : x->type.dims[0], C * K, OH * OW};
        y = lb_reshape(cx, y, 3, shape, unb ? "cols" : NULL);
    }
    if (y && unb) y = lb_squeeze(cx, y, 1, &ax);
    return lower_out_tensor(cx, n, 0, y);
}

/* col2im(self, output_size, kernel_size, dilation, padding, stride): [N, C*kh*kw, L] (or [C*kh*kw, L])
 * -> [N, C, H, W], overlapping entries summed. */
int lower_col2im(lower_ctx *cx, const ts_node *n) {
    fold_geom g;
    int64_t os[2];
    int cnt;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || lower_ints_in(cx, n, 1, os, 2, &cnt) || geom_in(cx, n, 2, &g)) return -1;
    if (cnt == 1) os[1] = os[0];
    else if (cnt != 2) return lower_fail(cx, "output_size has %d values", cnt);
    int r = x->type.rank, unb = r == 2;
    if (r != 2 && r != 3) return lower_fail(cx, "fold of a rank-%d input (2-D or 3-D)", r);
    const int64_t *d = x->type.dims + (unb ? 0 : 1);
    int64_t K = g.k[0] * g.k[1], OH = blocks(&g, 0, os[0]), OW = blocks(&g, 1, os[1]);
    if (d[0] < 0 || d[1] < 0) return lower_fail(cx, "fold needs static channel and block dims");
    if (d[0] % K) return lower_fail(cx, "%lld rows is not a multiple of the kernel's %lld", (long long)d[0], (long long)K);
    if (OH * OW != d[1] || OH < 1)
        return lower_fail(cx, "%lld blocks given, the output size and kernel make %lldx%lld", (long long)d[1],
                          (long long)OH, (long long)OW);
    int64_t C = d[0] / K, ax = 0, N = unb ? 1 : x->type.dims[0] < 0 ? -1 : x->type.dims[0];
    if (!ir_dtype_is_float(x->type.dtype) && !(x = lb_cast(cx, x, IR_FP32, "fp32"))) return -1;
    int64_t s4[4] = {N, C * K, OH, OW};
    ir_value *w = one_hot_kernel(cx, C, &g);
    ir_value *x4 = lb_reshape(cx, x, 4, s4, "blocks");
    /* The transpose covers the padded rows [0, full); the output is [p, p + os): crop p at the start,
     * what lies past p + os at the end, and add zero rows where no window reaches. */
    int64_t crop[4], pads[4], any = 0;
    for (int a = 0; a < 2; a++) {
        int64_t full = ((a ? OW : OH) - 1) * g.s[a] + g.d[a] * (g.k[a] - 1) + 1, rest = full - g.p[a] - os[a];
        crop[2 * a] = g.p[a];
        crop[2 * a + 1] = rest > 0 ? rest : 0;
        pads[2 * a] = 0;
        pads[2 * a + 1] = rest < 0 ? -rest : 0;
        any |= rest < 0;
    }
    ir_op *op = lb_op(cx, IR_OP_CONV_TRANSPOSE, "folded");
    if (!op || conv_params(cx, op, x4, w, &g, C, crop)) return -1;
    ir_value *y = lb_finish(cx, op);
    if (!y) return -1;
    if (any) {
        ir_op *pd = lb_op(cx, IR_OP_PAD, "tail");
        if (!pd || ir_op_set_input(pd, "x", y) || lb_param_i32v(cx, pd, "pad", 4, pads) ||
            lb_param_str(cx, pd, "mode", "constant") || lb_param_f(cx, pd, "constant_val", 0.0, y->type.dtype))
            return -1;
        y = lb_finish(cx, pd);
    }
    if (y && unb) y = lb_squeeze(cx, y, 1, &ax);
    return lower_out_tensor(cx, n, 0, y);
}
