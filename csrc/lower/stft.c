/* stft.c: aten::stft (both overloads) as one strided conv whose weights are the windowed DFT basis
 * (framing and transform at once; a complex signal's real and imaginary parts are its two input
 * channels), and aten::istft as one strided conv_transpose with the windowed inverse basis (inverse transform and overlap-add at once) divided by the window envelope, a constant
 * computed at conversion time. n_fft, hop, window and the signal length must be static. */
#include "lower/cplx.h"

#include <math.h>
#include <string.h>

/* Optional int input i (None: dflt). */
static int opt_int(lower_ctx *cx, const ts_node *n, int i, int64_t dflt, int64_t *out) {
    *out = dflt;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    return lower_int_in(cx, n, i, out);
}

/* Optional bool input i (None: -1). */
static int opt_bool(lower_ctx *cx, const ts_node *n, int i, int *out) {
    *out = -1;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    return lower_bool_in(cx, n, i, out);
}

/* The window (input i: None = ones(win_length)) centered in n_fft values, in the arena. */
static double *window_in(lower_ctx *cx, const ts_node *n, int i, int64_t n_fft, int64_t win_length) {
    if (win_length < 1 || win_length > n_fft) {
        lower_fail(cx, "win_length %lld must be in [1, n_fft = %lld]", (long long)win_length, (long long)n_fft);
        return NULL;
    }
    double *w = pc_alloc(cx->p->arena, sizeof(double) * (size_t)n_fft);
    if (!w) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    int64_t left = (n_fft - win_length) / 2;
    if (i >= n->nin || lower_is_none(cx, n, i)) {
        for (int64_t t = 0; t < win_length; t++) w[left + t] = 1.0;
        return w;
    }
    lv *l = lower_in(cx, n, i);
    if (!l) return NULL;
    if (l->kind == LV_COMPLEX) {
        lower_fail(cx, "a complex window is not supported");
        return NULL;
    }
    ir_value *v = lb_as_tensor(cx, l, IR_DT_INVALID);
    if (!v) return NULL;
    if (!v->konst) {
        lower_fail(cx, "the window must be known at conversion time (a constant tensor)");
        return NULL;
    }
    if (v->type.rank != 1 || v->type.dims[0] != win_length) {
        lower_fail(cx, "the window must be 1-D of win_length = %lld values", (long long)win_length);
        return NULL;
    }
    for (int64_t t = 0; t < win_length; t++) w[left + t] = ir_const_get_f64(v->konst, t);
    return w;
}

/* stft(self, n_fft, hop_length, win_length, window, normalized, onesided, return_complex[, align_to_window]);
 * stft.center(self, n_fft, hop_length, win_length, window, center, pad_mode, normalized, onesided,
 * return_complex[, align_to_window]). */
int lower_stft(lower_ctx *cx, const ts_node *n) {
    int centered_form = n->nin >= 7 && cx->vals[n->in[6]->id] && cx->vals[n->in[6]->id]->kind == LV_STR;
    int64_t n_fft, hop, win;
    int center = 0, normalized = 0, onesided, ret_complex, align;
    const char *pad_mode = "reflect";
    int o = centered_form ? 2 : 0; /* the later inputs move by two in the center form */
    if (lower_int_in(cx, n, 1, &n_fft)) return -1;
    if (n_fft < 1) return lower_fail(cx, "n_fft must be positive, got %lld", (long long)n_fft);
    if (opt_int(cx, n, 2, n_fft / 4, &hop) || opt_int(cx, n, 3, n_fft, &win)) return -1;
    if (hop < 1) return lower_fail(cx, "hop_length must be positive, got %lld", (long long)hop);
    if (centered_form) {
        if (lower_bool_in(cx, n, 5, &center)) return -1;
        pad_mode = cx->vals[n->in[6]->id]->s;
    }
    if (lower_bool_in(cx, n, 5 + o, &normalized) || opt_bool(cx, n, 6 + o, &onesided) ||
        opt_bool(cx, n, 7 + o, &ret_complex) || opt_bool(cx, n, 8 + o, &align))
        return -1;
    if (align == 1) return lower_fail(cx, "align_to_window=True is not supported");
    double *w = window_in(cx, n, 4, n_fft, win);
    lv *xl = lower_in(cx, n, 0);
    if (!xl) return -1;
    int cplx = xl->kind == LV_COMPLEX; /* a complex signal: its (re, im) pair as two input channels */
    ir_value *x = cplx ? xl->v : lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    int r = x->type.rank - cplx;
    if (onesided < 0) onesided = !cplx;
    if (cplx && onesided) return lower_fail(cx, "a onesided stft of a complex signal is not defined (onesided=False)");
    if (cplx && ret_complex == 0) return lower_fail(cx, "the stft of a complex signal needs return_complex=True");
    if (r != 1 && r != 2) return lower_fail(cx, "expects a 1-D or 2-D signal, got rank %d", r);
    if (!ir_dtype_is_float(x->type.dtype) && !(x = lb_cast(cx, x, IR_FP32, "float"))) return -1;
    if (!ir_type_is_static(&x->type)) return lower_fail(cx, "the signal's length must be known at conversion time");
    /* x -> [B, channels, L]: channels 1 (a real signal) or 2 (a complex one's re, im) */
    int64_t cin = 1 + cplx, ax0 = 0, ax1 = 1, pair_first[2] = {1, 0}, pair_mid[3] = {0, 2, 1};
    if (cplx) x = lb_transpose(cx, x, r == 1 ? pair_first : pair_mid); /* [2, L] or [B, 2, L] */
    else x = lb_expand(cx, x, 1, r == 1 ? &ax0 : &ax1);                /* [1, L] or [B, 1, L] */
    if (x && r == 1) x = lb_expand(cx, x, 1, &ax0);
    if (!x) return -1;
    if (center) {
        int64_t pad[2] = {n_fft / 2, n_fft / 2};
        const char *mode = strcmp(pad_mode, "constant") == 0 || strcmp(pad_mode, "reflect") == 0 ? pad_mode
                           : strcmp(pad_mode, "replicate") == 0                                ? "replicate"
                                                                                               : NULL;
        if (!mode) return lower_fail(cx, "pad_mode '%s' is not supported (constant, reflect, replicate)", pad_mode);
        if (!strcmp(mode, "reflect") && pad[0] >= x->type.dims[2])
            return lower_fail(cx, "reflect padding of %lld needs a longer signal than %lld", (long long)pad[0],
                              (long long)x->type.dims[2]);
        ir_op *op = lb_op(cx, IR_OP_PAD, "center");
        if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "pad", 2, pad) ||
            lb_param_str(cx, op, "mode", mode) ||
            (!strcmp(mode, "constant") && lb_param_f(cx, op, "constant_val", 0, x->type.dtype)) ||
            !(x = lb_finish(cx, op)))
            return -1;
    }
    int64_t b = x->type.dims[0], len = x->type.dims[2];
    if (len < n_fft) return lower_fail(cx, "the signal (%lld) is shorter than n_fft (%lld)", (long long)len, (long long)n_fft);
    int64_t bins = onesided ? n_fft / 2 + 1 : n_fft, frames = 1 + (len - n_fft) / hop;
    /* weight [2 bins, cin, n_fft]: output channel 2k + c (re, im) of (a + ib) e^{-i 2 pi k t / n_fft} windowed:
     * re = a cos + b sin, im = b cos - a sin (b = 0 for a real signal) */
    float *wt = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(2 * bins * cin * n_fft));
    if (!wt) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    double sc = normalized ? 1.0 / sqrt((double)n_fft) : 1.0;
    for (int64_t k = 0; k < bins; k++)
        for (int64_t t = 0; t < n_fft; t++) {
            double c = w[t] * sc * lc_cos(k, t, n_fft), sn = w[t] * sc * lc_sin(k, t, n_fft);
            wt[(2 * k * cin) * n_fft + t] = (float)c;
            wt[((2 * k + 1) * cin) * n_fft + t] = (float)-sn;
            if (cplx) {
                wt[(2 * k * cin + 1) * n_fft + t] = (float)sn;
                wt[((2 * k + 1) * cin + 1) * n_fft + t] = (float)c;
            }
        }
    int64_t wd[3] = {2 * bins, cin, n_fft}, one = 1, pads[2] = {0, 0}, ax;
    ir_op *op = lb_op(cx, IR_OP_CONV, "frames");
    ir_value *wv = lc_const(cx, x->type.dtype, 3, wd, wt, "basis");
    if (!wv || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", wv) ||
        lb_conv_params(cx, op, 1, &hop, pads, &one, 1))
        return -1;
    ir_value *y = lb_finish(cx, op); /* [B, 2 bins, frames] */
    int64_t sh[4] = {b, bins, 2, frames}, perm[4] = {0, 1, 3, 2};
    y = lb_transpose(cx, lb_reshape(cx, y, 4, sh, "split"), perm);
    if (y && r == 1) {
        ax = 0;
        y = lb_squeeze(cx, y, 1, &ax);
    }
    if (!y) return -1;
    return ret_complex == 1 ? lower_out(cx, n, 0, lc_new(cx, y)) : lower_out_tensor(cx, n, 0, y);
}

/* istft(self, n_fft, hop_length, win_length, window, center, normalized, onesided, length, return_complex). */
int lower_istft(lower_ctx *cx, const ts_node *n) {
    int64_t n_fft, hop, win, length;
    int center = 1, normalized = 0, onesided, ret_complex;
    if (lower_int_in(cx, n, 1, &n_fft)) return -1;
    if (n_fft < 1) return lower_fail(cx, "n_fft must be positive, got %lld", (long long)n_fft);
    if (opt_int(cx, n, 2, n_fft / 4, &hop) || opt_int(cx, n, 3, n_fft, &win) || lower_bool_in(cx, n, 5, &center) ||
        lower_bool_in(cx, n, 6, &normalized) || opt_bool(cx, n, 7, &onesided) || opt_int(cx, n, 8, -1, &length) ||
        opt_bool(cx, n, 9, &ret_complex))
        return -1;
    if (hop < 1 || hop > win) return lower_fail(cx, "hop_length %lld must be in [1, win_length]", (long long)hop);
    if (!lc_is_complex(cx, n, 0)) return lower_fail(cx, "expects a complex input (return_complex=True stft)");
    ir_value *p = cx->vals[n->in[0]->id]->v;
    int r = p->type.rank - 1;
    if (r != 2 && r != 3) return lower_fail(cx, "expects a 2-D or 3-D complex input, got rank %d", r);
    if (!ir_type_is_static(&p->type)) return lower_fail(cx, "the input's shape must be known at conversion time");
    int64_t ax = 0;
    if (r == 2 && !(p = lb_expand(cx, p, 1, &ax))) return -1;
    int64_t b = p->type.dims[0], bins = p->type.dims[1], frames = p->type.dims[2];
    if (onesided < 0) onesided = bins != n_fft;
    if (ret_complex == 1 && onesided) return lower_fail(cx, "a complex output needs onesided=False");
    if (onesided ? bins != n_fft / 2 + 1 : bins != n_fft)
        return lower_fail(cx, "%lld frequency bins do not match n_fft = %lld (onesided=%s)", (long long)bins,
                          (long long)n_fft, onesided ? "True" : "False");
    double *w = window_in(cx, n, 4, n_fft, win);
    if (!w) return -1;
    /* the real output reads the Hermitian half only (irfft), the complex one every bin (ifft) */
    int cplx_out = ret_complex == 1;
    int64_t used = cplx_out ? bins : n_fft / 2 + 1, cout = cplx_out ? 2 : 1;
    double sc = normalized ? 1.0 / sqrt((double)n_fft) : 1.0 / (double)n_fft;
    /* weight [2 used, cout, n_fft]: Re / Im of X[k] e^{+i 2 pi k t / n} times the window */
    float *wt = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(2 * used * cout * n_fft));
    if (!wt) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t k = 0; k < used; k++) {
        double ck = cplx_out || k == 0 || 2 * k == n_fft ? 1.0 : 2.0;
        for (int64_t t = 0; t < n_fft; t++) {
            double c = lc_cos(k, t, n_fft) * ck * sc * w[t], s = lc_sin(k, t, n_fft) * ck * sc * w[t];
            float *re = wt + (2 * k) * cout * n_fft, *im = wt + (2 * k + 1) * cout * n_fft;
            re[t] = (float)c;
            im[t] = (float)-s;
            if (cplx_out) {
                re[n_fft + t] = (float)s;
                im[n_fft + t] = (float)c;
            }
        }
    }
    /* [B, bins, frames, 2] -> [B, 2 used, frames] */
    int64_t perm[4] = {0, 1, 3, 2}, sh[3] = {b, 2 * used, frames};
    if (used < bins && !(p = lb_slice(cx, p, 1, 0, used, 0, 1, 0))) return -1;
    ir_value *xin = lb_reshape(cx, lb_transpose(cx, p, perm), 3, sh, "channels");
    int64_t wd[3] = {2 * used, cout, n_fft}, one = 1, pads[2] = {0, 0};
    int64_t full = n_fft + hop * (frames - 1);
    ir_op *op = lb_op(cx, IR_OP_CONV_TRANSPOSE, "overlap_add");
    ir_value *wv = lc_const(cx, p->type.dtype, 3, wd, wt, "basis");
    if (!wv || ir_op_set_input(op, "x", xin) || ir_op_set_input(op, "weight", wv) ||
        lb_conv_params(cx, op, 1, &hop, pads, &one, 1))
        return -1;
    ir_value *y = lb_finish(cx, op); /* [B, cout, full] */
    /* trim as torch does, divide by the window envelope (sum of the shifted squared windows) */
    int64_t start = center ? n_fft / 2 : 0;
    int64_t end = length >= 0 ? start + length : center ? full - n_fft / 2 : full;
    int64_t stop = end < full ? end : full;
    if (stop <= start) return lower_fail(cx, "the output would be empty");
    double *env = pc_alloc(cx->p->arena, sizeof(double) * (size_t)full);
    float *inv = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(stop - start));
    if (!env || !inv) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t f = 0; f < frames; f++)
        for (int64_t t = 0; t < n_fft; t++) env[f * hop + t] += w[t] * w[t];
    for (int64_t t = start; t < stop; t++) {
        if (fabs(env[t]) < 1e-11)
            return lower_fail(cx, "window overlap add min is below 1e-11 at sample %lld (torch raises here too)",
                              (long long)(t - start));
        inv[t - start] = (float)(1.0 / env[t]);
    }
    if (y && (start > 0 || stop < full)) y = lb_slice(cx, y, 2, start, stop, 0, 1, 0);
    int64_t ilen = stop - start;
    if (!y) return -1; /* its dtype is the envelope's */
    y = lb_binary(cx, IR_OP_MUL, y, lc_const(cx, y->type.dtype, 1, &ilen, inv, "envelope"), "normed");
    if (y && end > full) { /* zero padding past the frames */
        int64_t pad[2] = {0, end - full};
        ir_op *pop = lb_op(cx, IR_OP_PAD, "tail");
        if (!pop || ir_op_set_input(pop, "x", y) || lb_param_i32v(cx, pop, "pad", 2, pad) ||
            lb_param_str(cx, pop, "mode", "constant") || lb_param_f(cx, pop, "constant_val", 0, y->type.dtype))
            return -1;
        y = lb_finish(cx, pop);
    }
    if (!y) return -1;
    if (cplx_out) { /* [B, 2, T] -> [B, T, 2] */
        if (!(y = lb_swap(cx, y, 1, 2))) return -1;
    } else {
        ax = 1;
        if (!(y = lb_squeeze(cx, y, 1, &ax))) return -1;
    }
    if (r == 2) {
        ax = 0;
        if (!(y = lb_squeeze(cx, y, 1, &ax))) return -1;
    }
    return cplx_out ? lower_out(cx, n, 0, lc_new(cx, y)) : lower_out_tensor(cx, n, 0, y);
}
