/* interp.c: interpolation as one linear map per spatial axis, computed at conversion time with
 * torch's own index and weight formulas (UpSample.h conventions, single precision where torch uses it):
 * upsample_nearest1d/3d, _upsample_nearest_exact1d/2d/3d, upsample_linear1d, upsample_trilinear3d,
 * upsample_bicubic2d, _upsample_bilinear2d_aa, _upsample_bicubic2d_aa, and the 2-D bilinear / nearest
 * sizes MIL's resize ops map differently (fractional scale factors, from resample.c).
 *
 * Each axis's map is a matrix [out, in]. Rows with at most 4 nonzero weights (everything but
 * antialiased downsampling) become that many gathers along the axis, each times a per-row weight
 * (nearest: one gather, no weight); denser maps become a matmul with the matrix. The axes are
 * independent, so any scale, align_corners and size combination torch accepts is exact. */
#include "lower/build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { IM_NEAREST, IM_NEAREST_EXACT, IM_LINEAR, IM_CUBIC, IM_LINEAR_AA, IM_CUBIC_AA } interp_mode;

#define MAX_TAPS 4
#define MAX_MAP (1 << 24) /* matrix entries per axis */

/* torch's compute_scales_value / area_pixel_compute_scale in float. */
static float scale_value(int has, double s, int64_t in, int64_t out) {
    return has && s > 0 ? (float)(1.0 / s) : (float)in / (float)out;
}
static float area_scale(int64_t in, int64_t out, int ac, int has, double s) {
    if (ac) return out > 1 ? (float)(in - 1) / (float)(out - 1) : 0.0f;
    return scale_value(has, s, in, out);
}

static double cubic1(double x, double a) { return ((a + 2) * x - (a + 3)) * x * x + 1; }
static double cubic2(double x, double a) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; }

static double aa_filter(interp_mode m, double x) {
    x = fabs(x);
    if (m == IM_LINEAR_AA) return x < 1 ? 1 - x : 0;
    return x < 1 ? cubic1(x, -0.5) : x < 2 ? cubic2(x, -0.5) : 0; /* Keys' a = -0.5 */
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Fill M [out, in] (zeroed) with torch's weights for one axis. */
static void axis_map(interp_mode m, int64_t in, int64_t out, int ac, int has, double s, float *M) {
    for (int64_t o = 0; o < out; o++) {
        float *row = M + o * in;
        switch (m) {
        case IM_NEAREST: {
            int64_t src;
            if (out == in) src = o;
            else if (out == 2 * in) src = o >> 1;
            else src = (int64_t)floorf((float)o * scale_value(has, s, in, out));
            row[clamp64(src, 0, in - 1)] = 1;
            break;
        }
        case IM_NEAREST_EXACT: {
            float sc = scale_value(has, s, in, out);
            int64_t src = (int64_t)floorf((float)(((double)o + 0.5) * sc));
            row[clamp64(src, 0, in - 1)] = 1;
            break;
        }
        case IM_LINEAR:
        case IM_CUBIC: {
            float sc = area_scale(in, out, ac, has, s);
            float real = ac ? sc * (float)o : sc * ((float)o + 0.5f) - 0.5f;
            if (m == IM_LINEAR && real < 0) real = 0;
            int64_t i0 = (int64_t)floorf(real);
            if (i0 > in - 1) i0 = in - 1;
            float t = real - (float)i0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            if (m == IM_LINEAR) {
                row[i0] += 1.0f - t;
                row[i0 + (i0 < in - 1 ? 1 : 0)] += t;
            } else {
                const double A = -0.75;
                double c[4] = {cubic2(t + 1.0, A), cubic1(t, A), cubic1(1.0 - t, A), cubic2(2.0 - t, A)};
                for (int j = 0; j < 4; j++) row[clamp64(i0 - 1 + j, 0, in - 1)] += (float)c[j];
            }
            break;
        }
        case IM_LINEAR_AA:
        case IM_CUBIC_AA: {
            double sc = area_scale(in, out, ac, has, s), half = m == IM_LINEAR_AA ? 1.0 : 2.0;
            double support = sc >= 1.0 ? half * sc : half, inv = sc >= 1.0 ? 1.0 / sc : 1.0;
            double center = sc * ((double)o + 0.5), total = 0;
            int64_t lo = (int64_t)(center - support + 0.5), hi = (int64_t)(center + support + 0.5);
            lo = lo < 0 ? 0 : lo;
            hi = hi > in ? in : hi;
            for (int64_t j = lo; j < hi; j++) total += aa_filter(m, ((double)j - center + 0.5) * inv);
            for (int64_t j = lo; j < hi && total != 0; j++)
                row[j] = (float)(aa_filter(m, ((double)j - center + 0.5) * inv) / total);
            break;
        }
        }
    }
}

/* Apply M [out, in] along axis a of x. */
static ir_value *apply_map(lower_ctx *cx, ir_value *x, int a, int64_t in, int64_t out, const float *M) {
    int r = x->type.rank, T = 0, identity = out == in;
    for (int64_t o = 0; o < out; o++) {
        int nz = 0;
        for (int64_t i = 0; i < in; i++)
            if (M[o * in + i] != 0) {
                nz++;
                identity &= i == o && M[o * in + i] == 1.0f;
            }
        identity &= nz == 1;
        if (nz > T) T = nz;
    }
    if (identity) return x;
    if (T > MAX_TAPS) { /* a dense map: matmul on the last two axes */
        int64_t md[2] = {out, in}, perm[IR_MAX_RANK];
        ir_value *mc = lb_const(cx, x->type.dtype, 2, md, M, "map");
        if (!mc) return NULL;
        if (a == r - 1) return lb_matmul(cx, x, mc, 0, 1);
        if (a == r - 2) return lb_matmul(cx, mc, x, 0, 0);
        for (int i = 0; i < r; i++) perm[i] = i;
        perm[a] = r - 1;
        perm[r - 1] = a;
        ir_value *y = lb_matmul(cx, lb_transpose(cx, x, perm), mc, 0, 1);
        return lb_transpose(cx, y, perm);
    }
    float *idx = malloc(sizeof(float) * (size_t)out), *w = malloc(sizeof(float) * (size_t)out);
    ir_value *acc = NULL;
    int64_t wd[IR_MAX_RANK];
    wd[0] = out;
    for (int i = 1; i < r - a; i++) wd[i] = 1;
    if (!idx || !w) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        goto done;
    }
    for (int t = 0; t < T; t++) {
        int ones = 1;
        for (int64_t o = 0; o < out; o++) { /* the t-th nonzero of row o, or its first with weight 0 */
            const float *row = M + o * in;
            int64_t first = -1, hit = -1;
            for (int64_t i = 0, k = 0; i < in && hit < 0; i++)
                if (row[i] != 0) {
                    if (first < 0) first = i;
                    if (k++ == t) hit = i;
                }
            idx[o] = (float)(hit >= 0 ? hit : first);
            w[o] = hit >= 0 ? row[hit] : 0.0f;
            ones &= w[o] == 1.0f;
        }
        int64_t n = out;
        ir_value *ic = lb_const(cx, IR_INT32, 1, &n, idx, "taps");
        ir_value *g = lb_gather(cx, x, ic, a);
        if (g && !ones) {
            ir_value *wc = lb_const(cx, x->type.dtype, r - a, wd, w, "weights");
            g = lb_binary(cx, IR_OP_MUL, g, wc, "tap");
        }
        if (!g) {
            acc = NULL;
            goto done;
        }
        acc = acc ? lb_binary(cx, IR_OP_ADD, acc, g, "sum") : g;
        if (!acc) goto done;
    }
done:
    free(idx);
    free(w);
    return acc;
}

/* Resample the last sp axes of x from in[] to out[]. */
static ir_value *interp_axes(lower_ctx *cx, ir_value *x, int sp, interp_mode m, const int64_t *out, int ac,
                             const int *has, const double *s) {
    int r = x->type.rank;
    for (int d = sp - 1; d >= 0 && x; d--) {
        int a = r - sp + d;
        int64_t in = x->type.dims[a];
        if (in < 1 || out[d] < 1 || in * out[d] > MAX_MAP) {
            lower_fail(cx, "interpolating %lld to %lld elements is out of range", (long long)in, (long long)out[d]);
            return NULL;
        }
        float *M = calloc((size_t)(in * out[d]), sizeof(float));
        if (!M) {
            pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
            return NULL;
        }
        axis_map(m, in, out[d], ac, has[d], s[d], M);
        x = apply_map(cx, x, a, in, out[d], M);
        free(M);
    }
    return x;
}

/* The kind's mode and spatial rank. */
static int kind_mode(const char *k, interp_mode *m, int *sp) {
    *sp = strstr(k, "1d") ? 1 : strstr(k, "3d") ? 3 : 2;
    if (strstr(k, "nearest_exact")) *m = IM_NEAREST_EXACT;
    else if (strstr(k, "nearest")) *m = IM_NEAREST;
    else if (strstr(k, "bicubic")) *m = strstr(k, "_aa") ? IM_CUBIC_AA : IM_CUBIC;
    else if (strstr(k, "linear")) *m = strstr(k, "_aa") ? IM_LINEAR_AA : IM_LINEAR;
    else return -1;
    return 0;
}

/* upsample_<mode>(self, output_size, [align_corners,] scales_1?, .., scales_sp?) and the .vec overloads
 * upsample_<mode>.vec(input, output_size?, [align_corners,] scale_factors?): sizes and scales known at
 * conversion time; out = floor(in * scale) when only scales are given. */
int lower_interp(lower_ctx *cx, const ts_node *n) {
    interp_mode m;
    int sp;
    if (kind_mode(n->kind, &m, &sp)) return lower_fail(cx, "not an interpolation kind");
    int has_ac = m != IM_NEAREST && m != IM_NEAREST_EXACT, ac = 0, i_sc = has_ac ? 3 : 2, has[3] = {0, 0, 0};
    double s[3] = {0, 0, 0};
    int64_t out[3];
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || (has_ac && lower_bool_in(cx, n, 2, &ac))) return -1;
    int r = x->type.rank;
    if (r != sp + 2) return lower_fail(cx, "input of rank %d for %dd interpolation (N, C and %d spatial dims)", r, sp, sp);
    for (int d = 0; d < sp; d++)
        if (x->type.dims[2 + d] < 0) return lower_fail(cx, "interpolation needs static spatial dims");
    lv *sl = i_sc < n->nin ? lower_in(cx, n, i_sc) : NULL;
    if (sl && (sl->kind == LV_LIST || sl->kind == LV_TUPLE)) { /* .vec: scale_factors */
        if (sl->n != sp) return lower_fail(cx, "scale_factors has %d values for %d spatial dims", sl->n, sp);
        for (int d = 0; d < sp; d++) {
            lv *e = sl->items[d];
            if (e->dyn || (e->kind != LV_FLOAT && e->kind != LV_INT))
                return lower_fail(cx, "scale factors must be known at conversion time");
            s[d] = e->kind == LV_FLOAT ? e->f : (double)e->i;
            has[d] = 1;
        }
    } else {
        for (int d = 0; d < sp; d++) {
            int i = i_sc + d;
            if (i >= n->nin || lower_is_none(cx, n, i)) continue;
            if (lower_float_in(cx, n, i, &s[d])) return -1;
            has[d] = 1;
        }
    }
    if (!lower_is_none(cx, n, 1)) {
        int cnt;
        if (lower_ints_in(cx, n, 1, out, 3, &cnt)) return -1;
        if (cnt != sp) return lower_fail(cx, "output_size has %d values for %d spatial dims", cnt, sp);
    } else {
        for (int d = 0; d < sp; d++) {
            if (!has[d]) return lower_fail(cx, "neither output_size nor scale factors are given");
            out[d] = (int64_t)((double)x->type.dims[2 + d] * s[d]);
        }
    }
    for (int d = 0; d < sp; d++)
        if (has[d] && !(s[d] > 0)) has[d] = 0; /* torch ignores non-positive scales */
    if (!ir_dtype_is_float(x->type.dtype) && !(x = lb_cast(cx, x, IR_FP32, "fp32"))) return -1;
    return lower_out_tensor(cx, n, 0, interp_axes(cx, x, sp, m, out, ac, has, s));
}
