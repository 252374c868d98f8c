/* fft.c: torch.fft's transforms (aten::fft_fft, fft_ifft, fft_rfft, fft_irfft, fft_hfft, fft_ihfft, their 2-d
 * and n-d forms) as matmuls with constant DFT matrices, one per transformed axis, over the pair layout of
 * cplx.h. Lengths are static: a transform of length n is an [n_in, n_out] matrix of cos / sin values. */
#include "lower/cplx.h"

#include <math.h>
#include <string.h>

lv *lc_new(lower_ctx *cx, ir_value *pair) {
    if (!pair) return NULL;
    lv *l = lv_new(cx, LV_COMPLEX);
    if (l) l->v = pair;
    return l;
}

int lc_is_complex(lower_ctx *cx, const ts_node *n, int i) {
    return i < n->nin && cx->vals[n->in[i]->id] && cx->vals[n->in[i]->id]->kind == LV_COMPLEX;
}

/* 2 pi r / n for r = k t mod n, with the exact zeros of cos and sin kept exact. */
double lc_cos(int64_t k, int64_t t, int64_t n) {
    int64_t r = (k % n) * (t % n) % n;
    if (4 * r == n || 4 * r == 3 * n) return 0.0;
    return cos(2.0 * M_PI * (double)r / (double)n);
}

double lc_sin(int64_t k, int64_t t, int64_t n) {
    int64_t r = (k % n) * (t % n) % n;
    if (r == 0 || 2 * r == n) return 0.0;
    return sin(2.0 * M_PI * (double)r / (double)n);
}

ir_value *lc_const(lower_ctx *cx, ir_dtype dt, int rank, const int64_t *dims, float *data, const char *suffix) {
    if (!LB_LIVE(cx)) return NULL;
    const char *nm = lower_name(cx, suffix);
    ir_value *v = nm ? ir_const_new(cx->p, cx->b, nm, ir_tensor_type(dt, rank, dims), IR_FP32, data, 0) : NULL;
    if (!v || lower_names_add(cx, v->name, v)) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    v->def->loc = cx->loc;
    return v;
}

int lc_norm(lower_ctx *cx, const ts_node *n, int i, int64_t len, int inverse, double *scale) {
    const char *mode = "backward";
    if (i < n->nin && !lower_is_none(cx, n, i)) {
        lv *m = lower_in(cx, n, i);
        if (!m) return -1;
        if (m->kind != LV_STR) return lower_fail(cx, "norm must be a str or None, got %s", lv_kind_name(m->kind));
        mode = m->s;
    }
    if (strcmp(mode, "ortho") == 0) *scale = 1.0 / sqrt((double)len);
    else if (strcmp(mode, "backward") == 0) *scale = inverse ? 1.0 / (double)len : 1.0;
    else if (strcmp(mode, "forward") == 0) *scale = inverse ? 1.0 : 1.0 / (double)len;
    else return lower_fail(cx, "norm '%s' is not one of 'backward', 'forward', 'ortho'", mode);
    return 0;
}

/* The matrix of one transform: rows are the input positions used (two rows each, re and im, when the
 * input is a pair), columns the outputs (two each, re and im, unless C2R). */
static float *dft_matrix(lower_ctx *cx, lc_kind kind, int sign, int64_t n, int64_t rows, int cin, int64_t cols,
                         int cout, double scale) {
    int64_t width = cols * cout;
    float *w = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(rows * cin * width));
    if (!w) return NULL;
    for (int64_t a = 0; a < rows; a++) {
        float *re = w + a * cin * width, *im = re + width;
        for (int64_t b = 0; b < cols; b++) {
            double c = lc_cos(a, b, n) * scale, s = sign * lc_sin(a, b, n) * scale;
            if (kind == LC_C2R) { /* x[b] = sum_a c_a Re(X[a] e^{sign i theta}), c_a = 2 but for DC and Nyquist */
                double ca = (a == 0 || 2 * a == n) ? 1.0 : 2.0;
                re[b] = (float)(ca * c);
                if (cin == 2) im[b] = (float)(-ca * s);
            } else { /* (xr + i xi)(c + i s) */
                re[2 * b] = (float)c;
                re[2 * b + 1] = (float)s;
                if (cin == 2) {
                    im[2 * b] = (float)-s;
                    im[2 * b + 1] = (float)c;
                }
            }
        }
    }
    return w;
}

ir_value *lc_dft(lower_ctx *cx, ir_value *x, int in_pair, int axis, int64_t n, lc_kind kind, int sign, double scale) {
    if (!x) return NULL;
    int r = x->type.rank - (in_pair ? 1 : 0);
    if (r < 1 || axis < 0 || axis >= r) {
        lower_fail(cx, "cannot transform dim %d of a rank-%d tensor", axis, r);
        return NULL;
    }
    if (!ir_type_is_static(&x->type)) {
        lower_fail(cx, "the transformed tensor's shape must be known at conversion time (a DFT of static length)");
        return NULL;
    }
    if (n < 1) {
        lower_fail(cx, "invalid number of data points (%lld)", (long long)n);
        return NULL;
    }
    if (!ir_dtype_is_float(x->type.dtype) && !(x = lb_cast(cx, x, IR_FP32, "float"))) return NULL;
    int64_t len = x->type.dims[axis];
    int64_t rows = kind == LC_C2R ? n / 2 + 1 : n, cols = kind == LC_C2R ? n : kind == LC_R2C ? n / 2 + 1 : n;
    if (rows > len) rows = len; /* zero padding: the missing rows contribute nothing */
    int cin = in_pair ? 2 : 1, cout = kind == LC_C2R ? 1 : 2;
    if ((double)rows * cin * cols * cout > 64.0 * 1024 * 1024) {
        lower_fail(cx, "a DFT of length %lld is too large for a dense matrix", (long long)n);
        return NULL;
    }
    /* the axis last (before the pair axis), cropped, pairs flattened into the row axis */
    int64_t perm[IR_MAX_RANK], inv[IR_MAX_RANK], shape[IR_MAX_RANK];
    int j = 0;
    for (int i = 0; i < r; i++)
        if (i != axis) perm[j++] = i;
    perm[j++] = axis;
    if (in_pair) perm[j++] = r;
    ir_value *t = lb_transpose(cx, x, perm);
    if (!t) return NULL; /* no DFT matrix computed for nothing */
    if (rows < len) t = lb_slice(cx, t, r - 1, 0, rows, 0, 1, 0);
    for (int i = 0; i < r - 1; i++) shape[i] = x->type.dims[perm[i]];
    if (in_pair) {
        shape[r - 1] = rows * 2;
        t = lb_reshape(cx, t, r, shape, "rows");
    }
    float *w = dft_matrix(cx, kind, sign, n, rows, cin, cols, cout, scale);
    if (!w) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    int64_t wd[2] = {rows * cin, cols * cout};
    ir_value *y = lb_matmul(cx, t, lc_const(cx, x->type.dtype, 2, wd, w, "dft"), 0, 0);
    if (y && cout == 2) {
        shape[r - 1] = cols;
        shape[r] = 2;
        y = lb_reshape(cx, y, r + 1, shape, "pairs");
    }
    for (int i = 0; i < r; i++) inv[perm[i]] = i;
    inv[r] = r;
    return lb_transpose(cx, y, inv);
}

/* ---- the torch.fft kinds ---- */

typedef struct {
    const char *name; /* after "aten::fft_" */
    lc_kind kind;
    int sign, inverse, nd; /* nd: 0 one dim, 1 n-d, 2 the 2-d form (dims default to the last two) */
} fft_spec;

/* indexed by the row's .sub (FFT_*, registry.h) */
static const fft_spec SPECS[] = {
    [FFT_FFT] = {"fft", LC_C2C, -1, 0, 0},
    [FFT_IFFT] = {"ifft", LC_C2C, 1, 1, 0},
    [FFT_RFFT] = {"rfft", LC_R2C, -1, 0, 0},
    [FFT_IRFFT] = {"irfft", LC_C2R, 1, 1, 0},
    [FFT_HFFT] = {"hfft", LC_C2R, -1, 0, 0},
    [FFT_IHFFT] = {"ihfft", LC_R2C, 1, 1, 0},
    [FFT_FFTN] = {"fftn", LC_C2C, -1, 0, 1},
    [FFT_IFFTN] = {"ifftn", LC_C2C, 1, 1, 1},
    [FFT_RFFTN] = {"rfftn", LC_R2C, -1, 0, 1},
    [FFT_IRFFTN] = {"irfftn", LC_C2R, 1, 1, 1},
    [FFT_FFT2] = {"fft2", LC_C2C, -1, 0, 2},
    [FFT_IFFT2] = {"ifft2", LC_C2C, 1, 1, 2},
    [FFT_RFFT2] = {"rfft2", LC_R2C, -1, 0, 2},
    [FFT_IRFFT2] = {"irfft2", LC_C2R, 1, 1, 2},
};

/* One axis: the pair (or real) x transformed; *pair says what x is before and after. */
static ir_value *one_axis(lower_ctx *cx, const ts_node *n, ir_value *x, int *pair, int axis, int64_t len,
                          const fft_spec *sp, lc_kind kind) {
    double scale;
    if (kind == LC_C2R && len < 1) {
        lower_fail(cx, "invalid number of data points (%lld)", (long long)len);
        return NULL;
    }
    if (lc_norm(cx, n, 3, len, sp->inverse, &scale)) return NULL;
    ir_value *y = lc_dft(cx, x, *pair, axis, len, kind, sp->sign, scale);
    *pair = kind != LC_C2R;
    return y;
}

/* fft_<kind>(self, n=None, dim=-1, norm=None) and fft_<kind>n / fft_<kind>2(self, s=None, dim=None, norm=None). */
int lower_fft(lower_ctx *cx, const ts_node *n) {
    const fft_spec *sp = &SPECS[cx->row->sub];
    lv *xl = lower_in(cx, n, 0);
    if (!xl) return -1;
    int pair = xl->kind == LV_COMPLEX;
    ir_value *x = pair ? xl->v : lb_as_tensor(cx, xl, IR_DT_INVALID);
    if (!x) return -1;
    if (pair && sp->kind == LC_R2C)
        return lower_fail(cx, "fft_%s expects a real input, got a complex tensor", sp->name);
    int rank = x->type.rank - pair;
    if (rank < 0) return lower_fail(cx, "the input's rank is unknown");
    int64_t s[IR_MAX_RANK], dimv[IR_MAX_RANK];
    int ns = 0, nd = 0, axes[IR_MAX_RANK];
    if (!sp->nd) { /* n, dim */
        int64_t d = -1;
        if (n->nin > 2 && !lower_is_none(cx, n, 2) && lower_int_in(cx, n, 2, &d)) return -1;
        dimv[nd++] = d;
        if (n->nin > 1 && !lower_is_none(cx, n, 1)) {
            if (lower_int_in(cx, n, 1, &s[0])) return -1;
            ns = 1;
        }
    } else {
        if (n->nin > 1 && !lower_is_none(cx, n, 1) && lower_ints_in(cx, n, 1, s, IR_MAX_RANK, &ns)) return -1;
        if (n->nin > 2 && !lower_is_none(cx, n, 2)) {
            if (lower_ints_in(cx, n, 2, dimv, IR_MAX_RANK, &nd)) return -1;
        } else if (sp->nd == 2) {
            dimv[0] = -2;
            dimv[1] = -1;
            nd = 2;
        } else { /* all dims, or the last len(s) */
            nd = ns ? ns : rank;
            for (int i = 0; i < nd; i++) dimv[i] = rank - nd + i;
        }
        if (ns && ns != nd) return lower_fail(cx, "s has %d sizes but dim has %d dims", ns, nd);
        if (nd == 0) return lower_fail(cx, "no dims to transform");
    }
    for (int i = 0; i < nd; i++) {
        if (lower_axis(cx, dimv[i], rank, &axes[i])) return -1;
        for (int k = 0; k < i; k++)
            if (axes[k] == axes[i]) return lower_fail(cx, "dim %d is repeated", axes[i]);
        if (x->type.dims[axes[i]] < 0)
            return lower_fail(cx, "the length of dim %d must be known at conversion time (a DFT of static length)",
                              axes[i]);
    }
    /* lengths: -1 (or no s) is the input's own length; C2R's default is 2 * (bins - 1) */
    int64_t len[IR_MAX_RANK];
    for (int i = 0; i < nd; i++) {
        int last = i == nd - 1;
        int64_t own = x->type.dims[axes[i]];
        len[i] = ns && s[i] != -1 ? s[i] : (sp->kind == LC_C2R && last ? 2 * (own - 1) : own);
        if (len[i] < 1) return lower_fail(cx, "invalid number of data points (%lld) for dim %d", (long long)len[i], axes[i]);
    }
    /* R2C: the last dim first, then C2C on the others; C2R: C2C on the others first, the last dim last */
    if (sp->kind == LC_R2C && !(x = one_axis(cx, n, x, &pair, axes[nd - 1], len[nd - 1], sp, LC_R2C))) return -1;
    for (int i = 0; i < nd - (sp->kind != LC_C2C); i++)
        if (!(x = one_axis(cx, n, x, &pair, axes[i], len[i], sp, LC_C2C))) return -1;
    if (sp->kind == LC_C2R && !(x = one_axis(cx, n, x, &pair, axes[nd - 1], len[nd - 1], sp, LC_C2R))) return -1;
    return pair ? lower_out(cx, n, 0, lc_new(cx, x)) : lower_out_tensor(cx, n, 0, x);
}

/* fft_fftshift / fft_ifftshift(self, dim=None): a roll by n / 2 (ifftshift: by -(n / 2)) of each dim (all dims
 * when None), as two slices and a concat; complex tensors roll their pairs. */
int lower_fftshift(lower_ctx *cx, const ts_node *n) {
    int inv = cx->row->sub == 1; /* ifftshift */
    lv *xl = lower_in(cx, n, 0);
    if (!xl) return -1;
    int pair = xl->kind == LV_COMPLEX;
    ir_value *x = pair ? xl->v : lb_as_tensor(cx, xl, IR_DT_INVALID);
    if (!x) return -1;
    int rank = x->type.rank - pair, nd = 0;
    int64_t dimv[IR_MAX_RANK];
    if (rank < 0) return lower_fail(cx, "the input's rank is unknown");
    if (n->nin > 1 && !lower_is_none(cx, n, 1)) {
        if (lower_ints_in(cx, n, 1, dimv, IR_MAX_RANK, &nd)) return -1;
    } else {
        for (int i = 0; i < rank; i++) dimv[nd++] = i;
    }
    for (int i = 0; i < nd && x; i++) {
        int a;
        if (lower_axis(cx, dimv[i], rank, &a)) return -1;
        int64_t size = x->type.dims[a];
        if (size < 0) return lower_fail(cx, "the size of dim %d must be known at conversion time", a);
        int64_t cut = inv ? size / 2 : size - size / 2; /* the first `cut` values move to the end */
        if (cut == 0 || cut == size) continue;
        ir_value *parts[2] = {lb_slice(cx, x, a, cut, size, 0, 1, 0), lb_slice(cx, x, a, 0, cut, 0, 1, 0)};
        x = lb_concat(cx, 2, parts, a);
    }
    if (!x) return -1;
    return pair ? lower_out(cx, n, 0, lc_new(cx, x)) : lower_out_tensor(cx, n, 0, x);
}

/* fft_fftfreq / fft_rfftfreq(n, d=1.0, dtype, layout, device, pin_memory): the sample frequencies, a constant. */
int lower_fftfreq(lower_ctx *cx, const ts_node *n) {
    int rf = cx->row->sub == 1; /* rfftfreq */
    int64_t len, code;
    double d = 1.0;
    ir_dtype dt = IR_FP32;
    if (lower_int_in(cx, n, 0, &len)) return -1;
    if (n->nin > 1 && !lower_is_none(cx, n, 1) && lower_float_in(cx, n, 1, &d)) return -1;
    if (n->nin > 2 && !lower_is_none(cx, n, 2) && (lower_int_in(cx, n, 2, &code) || lower_scalar_type(cx, code, &dt)))
        return -1;
    if (!ir_dtype_is_float(dt)) return lower_fail(cx, "fftfreq needs a floating point dtype");
    if (len < 1 || len > (1 << 24)) return lower_fail(cx, "n must be in [1, 2^24], got %lld", (long long)len);
    int64_t cnt = rf ? len / 2 + 1 : len;
    float *v = pc_alloc(cx->p->arena, sizeof(float) * (size_t)cnt);
    if (!v) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t k = 0; k < cnt; k++) {
        int64_t f = rf || k <= (len - 1) / 2 ? k : k - len;
        v[k] = (float)((double)f / (d * (double)len));
    }
    return lower_out_tensor(cx, n, 0, lc_const(cx, dt, 1, &cnt, v, NULL));
}
