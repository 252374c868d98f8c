/* math.c: elementwise math MIL has no single op for, composed from MIL ops: inverse hyperbolic
 * functions (accurate near 0 through a log1p), frac, sinc, deg2rad / rad2deg, logit, sgn,
 * xlogy, hypot, logaddexp(2), copysign, heaviside, float_power, addcmul / addcdiv; and
 * is_floating_point plus the window functions (constants made at conversion time). */
#include "lower/build.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define PI 3.14159265358979323846

/* ---- helpers ---- */
/* x (k) c for a number c in x's dtype, named by suffix. */
static ir_value *with_c(lower_ctx *cx, ir_opkind k, ir_value *x, double c, const char *suffix) {
    ir_value *v = lb_const_like(cx, c, x, "c");
    return lb_binary(cx, k, x, v, suffix);
}

/* See math.h. */
ir_value *lb_log(lower_ctx *cx, ir_value *x, const char *suffix) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_op *op = lb_op(cx, IR_OP_LOG, suffix);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_f(cx, op, "epsilon", 0, x->type.dtype)) return NULL;
    return lb_finish(cx, op);
}

/* See math.h. */
ir_value *lb_select(lower_ctx *cx, ir_value *c, ir_value *a, ir_value *b, const char *suffix) {
    if (LB_SKIP(cx, c, a, b)) return NULL;
    ir_op *op = lb_op(cx, IR_OP_SELECT, suffix);
    if (!op || ir_op_set_input(op, "cond", c) || ir_op_set_input(op, "a", a) || ir_op_set_input(op, "b", b)) return NULL;
    return lb_finish(cx, op);
}

/* See math.h. */
ir_value *lb_log1p(lower_ctx *cx, ir_value *u, const char *suffix) {
    if (LB_SKIP(cx, u)) return NULL;
    ir_value *w = with_c(cx, IR_OP_ADD, u, 1, "w");
    ir_value *d = with_c(cx, IR_OP_SUB, w, 1, "wm1");
    ir_value *q = lb_binary(cx, IR_OP_MUL, lb_log(cx, w, "logw"), u, "logw_u");
    ir_value *r = lb_binary(cx, IR_OP_REAL_DIV, q, d, "ratio");
    ir_value *one = with_c(cx, IR_OP_EQUAL, w, 1, "tiny");
    return lb_select(cx, one, u, r, suffix);
}

/* The sign bit of x as bool: x < 0 or 1 / x < 0 (so -0.0 counts; NaN does not). */
static ir_value *signbit_of(lower_ctx *cx, ir_value *x, const char *suffix) {
    ir_value *lt = with_c(cx, IR_OP_LESS, x, 0, "lt0");
    ir_value *one = lb_const_like(cx, 1, x, "one");
    ir_value *inv = lb_binary(cx, IR_OP_REAL_DIV, one, x, "inv");
    return lb_binary(cx, IR_OP_LOGICAL_OR, lt, with_c(cx, IR_OP_LESS, inv, 0, "inv_lt0"), suffix);
}

/* See math.h. t = min(|x|, |y|) / max(|x|, |y|) in [0, 1] (0 for two zeros, 1 for two infinities),
 * a = atan(t), pi/2 - a when |y| > |x|, pi - a when x's sign bit is set, negated when y's is; NaN
 * propagates through max / min. (select's a and b carry the full shape: Core ML's select does not
 * broadcast them to cond's.) */
ir_value *lb_atan2(lower_ctx *cx, ir_value *y, ir_value *x) {
    if (LB_SKIP(cx, y, x)) return NULL;
    ir_dtype dt = y->type.dtype;
    ir_value *ay = lb_unary(cx, IR_OP_ABS, y, "absy"), *ax = lb_unary(cx, IR_OP_ABS, x, "absx");
    ir_value *mx = lb_binary(cx, IR_OP_MAXIMUM, ay, ax, "max");
    ir_value *mn = lb_binary(cx, IR_OP_MINIMUM, ay, ax, "min");
    ir_value *t = lb_binary(cx, IR_OP_REAL_DIV, mn, mx, "ratio");
    ir_value *zero = lb_const_scalar(cx, 0, dt, "zero"), *one = lb_const_scalar(cx, 1, dt, "one");
    ir_value *infs = with_c(cx, IR_OP_EQUAL, mn, INFINITY, "infs");
    t = lb_select(cx, infs, one, t, "ratio_inf");
    ir_value *zeros = with_c(cx, IR_OP_EQUAL, mx, 0, "zeros");
    t = lb_select(cx, zeros, zero, t, "ratio_zero");
    ir_value *a = lb_unary(cx, IR_OP_ATAN, t, "atan");
    ir_value *steep = lb_binary(cx, IR_OP_GREATER, ay, ax, "steep");
    ir_value *comp = lb_affine(cx, a, -1, PI / 2);
    a = lb_select(cx, steep, comp, a, "octant");
    ir_value *left = signbit_of(cx, x, "left");
    ir_value *back = lb_affine(cx, a, -1, PI);
    a = lb_select(cx, left, back, a, "half");
    ir_value *below = signbit_of(cx, y, "below");
    ir_value *neg = with_c(cx, IR_OP_MUL, a, -1, "neg");
    return lb_select(cx, below, neg, a, NULL);
}

/* See math.h. */
ir_value *lower_float_tensor_in(lower_ctx *cx, const ts_node *n, int i) {
    ir_value *x = lower_tensor_in(cx, n, i, IR_FP32);
    if (x && !ir_dtype_is_float(x->type.dtype)) x = lb_cast(cx, x, IR_FP32, i ? "y_float" : "float");
    return x;
}

/* The dtype of an operand: a tensor's, or IR_DT_INVALID for a number (float numbers set *fnum). */
static ir_dtype lv_dtype(const lv *l, int *fnum) {
    if (l->kind == LV_TENSOR || l->dyn) return l->v->type.dtype;
    if (l->kind == LV_FLOAT) *fnum = 1;
    return IR_DT_INVALID;
}

/* See math.h. */
int lower_common_in(lower_ctx *cx, const ts_node *n, int first, int cnt, int want_float, ir_value **out) {
    ir_dtype dt = IR_DT_INVALID;
    int fnum = 0;
    for (int i = 0; i < cnt; i++) {
        lv *l = lower_in(cx, n, first + i);
        if (!l) return -1;
        ir_dtype t = lv_dtype(l, &fnum);
        if (t == IR_DT_INVALID) continue;
        if (t == IR_BOOL) t = IR_INT32;
        if (dt == IR_DT_INVALID || (ir_dtype_is_float(t) && !ir_dtype_is_float(dt))) dt = t;
        else if (ir_dtype_is_float(t) && t != dt) dt = IR_FP32;
    }
    if (dt == IR_DT_INVALID) dt = IR_INT32;
    if (!ir_dtype_is_float(dt) && (fnum || want_float)) dt = IR_FP32;
    for (int i = 0; i < cnt; i++) {
        ir_value *v = lower_tensor_in(cx, n, first + i, dt);
        if (v && v->type.dtype != dt) v = lb_cast(cx, v, dt, "cast");
        if (!(out[i] = v)) return -1;
    }
    return 0;
}

/* ---- unary ---- */
/* acosh: below 2, log1p((x - 1) + sqrt((x - 1)(x + 1))) (x - 1 is exact there); from 2 on,
 * log(x) + log(1 + sqrt((1 - 1/x)(1 + 1/x))), which cannot overflow. */
static ir_value *acosh_of(lower_ctx *cx, ir_value *x) {
    ir_value *d = with_c(cx, IR_OP_SUB, x, 1, "xm1");
    ir_value *pr = lb_binary(cx, IR_OP_MUL, d, with_c(cx, IR_OP_ADD, x, 1, "xp1"), "prod");
    ir_value *u = lb_binary(cx, IR_OP_ADD, d, lb_unary(cx, IR_OP_SQRT, pr, "root"), "u");
    ir_value *nearv = lb_log1p(cx, u, "near");
    ir_value *inv = lb_binary(cx, IR_OP_REAL_DIV, lb_const_like(cx, 1, x, "one"), x, "inv");
    ir_value *pf = lb_binary(cx, IR_OP_MUL, lb_affine(cx, inv, -1, 1), with_c(cx, IR_OP_ADD, inv, 1, "inv_p1"), "prod_far");
    ir_value *lf = lb_log(cx, with_c(cx, IR_OP_ADD, lb_unary(cx, IR_OP_SQRT, pf, "root_far"), 1, "one_plus"), "log_far");
    ir_value *far = lb_binary(cx, IR_OP_ADD, lb_log(cx, x, "logx"), lf, "far");
    ir_value *small = with_c(cx, IR_OP_LESS, x, 2, "below2");
    return lb_select(cx, small, nearv, far, NULL);
}

/* asinh: sign(x) * log1p(a + a / (1/a + sqrt(1 + 1/a^2))), a = |x| (a^2 / (1 + sqrt(1 + a^2))
 * divided through by a, so nothing overflows; a = 0 gives 0). */
static ir_value *asinh_of(lower_ctx *cx, ir_value *x) {
    ir_value *a = lb_unary(cx, IR_OP_ABS, x, "abs");
    ir_value *inv = lb_binary(cx, IR_OP_REAL_DIV, lb_const_like(cx, 1, x, "one"), a, "inv");
    ir_value *rt = lb_unary(cx, IR_OP_SQRT, with_c(cx, IR_OP_ADD, lb_unary(cx, IR_OP_SQUARE, inv, "inv_sq"), 1, "inv_sq_p1"), "root");
    ir_value *q = lb_binary(cx, IR_OP_REAL_DIV, a, lb_binary(cx, IR_OP_ADD, inv, rt, "den"), "q");
    ir_value *l = lb_log1p(cx, lb_binary(cx, IR_OP_ADD, a, q, "u"), "log1p");
    return lb_binary(cx, IR_OP_MUL, lb_unary(cx, IR_OP_SIGN, x, "sign"), l, NULL);
}

/* atanh: (log1p(x) - log1p(-x)) / 2; +-1 give +-inf, |x| > 1 NaN. */
static ir_value *atanh_of(lower_ctx *cx, ir_value *x) {
    ir_value *p = lb_log1p(cx, x, "log1p_pos");
    ir_value *m = lb_log1p(cx, with_c(cx, IR_OP_MUL, x, -1, "neg"), "log1p_neg");
    return with_c(cx, IR_OP_MUL, lb_binary(cx, IR_OP_SUB, p, m, "diff"), 0.5, NULL);
}

/* acosh / asinh / atanh / frac / sinc / deg2rad / rad2deg (x times the row's .c) / logit(x, eps) / sgn:
 * the row's .sub (MU_*). */
int lower_math_unary(lower_ctx *cx, const ts_node *n) {
    int sub = cx->row->sub;
    if (sub == MU_SGN) { /* real tensors: sign, ints stay ints */
        ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
        if (x && x->type.dtype == IR_BOOL) return lower_out_tensor(cx, n, 0, x);
        return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_SIGN, x, NULL));
    }
    ir_value *x = lower_float_tensor_in(cx, n, 0), *r = NULL;
    if (!x) return -1;
    if (sub == MU_ACOSH) {
        r = acosh_of(cx, x);
    } else if (sub == MU_ASINH) {
        r = asinh_of(cx, x);
    } else if (sub == MU_ATANH) {
        r = atanh_of(cx, x);
    } else if (sub == MU_FRAC) { /* x - sign(x) * floor(|x|) */
        ir_value *f = lb_unary(cx, IR_OP_FLOOR, lb_unary(cx, IR_OP_ABS, x, "abs"), "floor");
        ir_value *t = lb_binary(cx, IR_OP_MUL, lb_unary(cx, IR_OP_SIGN, x, "sign"), f, "trunc");
        r = lb_binary(cx, IR_OP_SUB, x, t, NULL);
    } else if (sub == MU_SINC) { /* sin(pi x) / (pi x), 1 at 0 */
        ir_value *px = with_c(cx, IR_OP_MUL, x, PI, "pix");
        ir_value *q = lb_binary(cx, IR_OP_REAL_DIV, lb_unary(cx, IR_OP_SIN, px, "sin"), px, "ratio");
        ir_value *z = with_c(cx, IR_OP_EQUAL, x, 0, "zero");
        r = lb_select(cx, z, lb_const_like(cx, 1, x, "one"), q, NULL);
    } else if (sub == MU_SCALE) {
        r = with_c(cx, IR_OP_MUL, x, cx->row->c, NULL);
    } else if (sub == MU_LOGIT) { /* log(z / (1 - z)), z = clamp(x, eps, 1 - eps) when eps given */
        ir_value *z = x;
        if (n->nin > 1 && !lower_is_none(cx, n, 1)) {
            double eps;
            if (lower_float_in(cx, n, 1, &eps)) return -1;
            ir_op *op = lb_op(cx, IR_OP_CLIP, "clamped");
            if (!op || ir_op_set_input(op, "x", x) || lb_param_f(cx, op, "alpha", eps, x->type.dtype) ||
                lb_param_f(cx, op, "beta", 1 - eps, x->type.dtype) || !(z = lb_finish(cx, op)))
                return -1;
        }
        ir_value *om = lb_affine(cx, z, -1, 1);
        r = lb_log(cx, lb_binary(cx, IR_OP_REAL_DIV, z, om, "odds"), NULL);
    } else {
        return lower_fail(cx, "internal: unknown math op");
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* ---- binary ---- */
/* xlogy / hypot / logaddexp / logaddexp2 / copysign / heaviside / float_power (tensor or
 * number operands, broadcast): the row's .sub (MB_*). */
int lower_math_binary(lower_ctx *cx, const ts_node *n) {
    int sub = cx->row->sub;
    ir_value *v[2], *r = NULL;
    int keep_int = sub == MB_HEAVISIDE;
    if (lower_common_in(cx, n, 0, 2, !keep_int, v)) return -1;
    ir_value *x = v[0], *y = v[1];
    if (sub == MB_FLOAT_POWER) {
        r = lb_binary(cx, IR_OP_POW, x, y, NULL);
    } else if (sub == MB_XLOGY) { /* x * log(y), 0 where x == 0 and y is not NaN */
        ir_value *p = lb_binary(cx, IR_OP_MUL, x, lb_log(cx, y, "log"), "prod");
        ir_value *z = with_c(cx, IR_OP_EQUAL, x, 0, "x_zero");
        ir_value *c = lb_binary(cx, IR_OP_LOGICAL_AND, z, lb_binary(cx, IR_OP_EQUAL, y, y, "y_num"), "zero");
        r = lb_select(cx, c, lb_const_like(cx, 0, x, "zero_v"), p, NULL);
    } else if (sub == MB_HYPOT) {
        /* m sqrt(1 + (n / m)^2) with m, n = max, min of |x|, |y|: no overflow of the squares; 0 for two
         * zeros, inf where either is infinite (even with a NaN), else NaN propagates */
        ir_value *ax = lb_unary(cx, IR_OP_ABS, x, "absx"), *ay = lb_unary(cx, IR_OP_ABS, y, "absy");
        ir_value *m = lb_binary(cx, IR_OP_MAXIMUM, ax, ay, "max");
        ir_value *q = lb_binary(cx, IR_OP_REAL_DIV, lb_binary(cx, IR_OP_MINIMUM, ax, ay, "min"), m, "ratio");
        ir_value *mz = with_c(cx, IR_OP_EQUAL, m, 0, "zeros");
        q = lb_select(cx, mz, lb_const_like(cx, 0, q, "zero"), q, "ratio_z");
        ir_value *s = lb_unary(cx, IR_OP_SQRT, with_c(cx, IR_OP_ADD, lb_unary(cx, IR_OP_SQUARE, q, "sq"), 1, "one_sq"), "root");
        ir_value *h = lb_binary(cx, IR_OP_MUL, m, s, "scaled");
        ir_value *inf = lb_binary(cx, IR_OP_LOGICAL_OR, with_c(cx, IR_OP_EQUAL, ax, INFINITY, "x_inf"),
                                  with_c(cx, IR_OP_EQUAL, ay, INFINITY, "y_inf"), "inf");
        r = lb_select(cx, inf, lb_const_like(cx, INFINITY, h, "inf_v"), h, NULL);
    } else if (sub == MB_LOGADDEXP || sub == MB_LOGADDEXP2) {
        /* max + softplus(-|x - y| c) / c, c = 1 or ln 2 */
        double c = sub == MB_LOGADDEXP2 ? log(2.0) : 1.0;
        ir_value *m = lb_binary(cx, IR_OP_MAXIMUM, x, y, "max");
        ir_value *d = lb_unary(cx, IR_OP_ABS, lb_binary(cx, IR_OP_SUB, x, y, "diff"), "absdiff");
        ir_value *eq = lb_binary(cx, IR_OP_EQUAL, x, y, "same"); /* equal infinities: d = 0, not NaN */
        d = lb_select(cx, eq, lb_const_like(cx, 0, d, "zero"), d, "absdiff_eq");
        ir_value *sp = lb_unary(cx, IR_OP_SOFTPLUS, with_c(cx, IR_OP_MUL, d, -c, "neg"), "softplus");
        if (c != 1.0) sp = with_c(cx, IR_OP_MUL, sp, 1 / c, "log2");
        r = lb_binary(cx, IR_OP_ADD, m, sp, NULL);
    } else if (sub == MB_COPYSIGN) { /* |x| * (1 - 2 [y's sign bit]): -0.0 counts as negative */
        ir_value *any = signbit_of(cx, y, "negative");
        ir_value *f = lb_affine(cx, lb_cast(cx, any, x->type.dtype, "flag"), -2, 1);
        r = lb_binary(cx, IR_OP_MUL, lb_unary(cx, IR_OP_ABS, x, "abs"), f, NULL);
    } else if (sub == MB_HEAVISIDE) { /* values where x == 0, else [x > 0] (values may be inf / NaN) */
        ir_value *pos = lb_cast(cx, with_c(cx, IR_OP_GREATER, x, 0, "pos"), x->type.dtype, "pos_v");
        r = lb_select(cx, with_c(cx, IR_OP_EQUAL, x, 0, "zero"), y, pos, NULL);
        ir_value *t0 = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
        if (t0 && t0->type.dtype == IR_BOOL) r = lb_cast(cx, r, IR_BOOL, "bool"); /* torch: bools stay bool */
    } else {
        return lower_fail(cx, "internal: unknown math op");
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* addcmul(self, t1, t2, value=1) = self + value * t1 * t2; addcdiv: self + value * t1 / t2 (the row's
 * .mil: mul or real_div). */
int lower_addc(lower_ctx *cx, const ts_node *n) {
    int is_div = cx->row->mil == IR_OP_REAL_DIV;
    ir_value *v[3];
    double value = 1;
    if (lower_common_in(cx, n, 0, 3, is_div, v) || (n->nin > 3 && lower_float_in(cx, n, 3, &value))) return -1;
    ir_value *t = lb_binary(cx, cx->row->mil, v[1], v[2], is_div ? "quot" : "prod");
    if (t && value != 1) t = with_c(cx, IR_OP_MUL, t, value, "scaled");
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_ADD, v[0], t, NULL));
}

/* is_floating_point(x): known from x's dtype at conversion time. */
int lower_is_floating_point(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    return x ? lower_out(cx, n, 0, lv_bool(cx, ir_dtype_is_float(x->type.dtype))) : -1;
}

/* ---- windows ---- */
/* The modified Bessel function I0 (power series; converges for the betas windows use). */
static double bessel_i0(double x) {
    double s = 1, t = 1, q = x * x / 4;
    for (int k = 1; k < 500 && t > 1e-17 * s; k++) {
        t *= q / ((double)k * k);
        s += t;
    }
    return s;
}

/* hann / hamming / blackman / bartlett / kaiser_window(L[, periodic[, alpha / beta[, beta]]],
 * dtype, layout, device, pin_memory): a constant; L known at conversion time. Periodic (the
 * default) is the symmetric window of L + 1 without its last value. The row's .sub is the window,
 * .c its first parameter's default (hamming's alpha, kaiser's beta). */
int lower_window(lower_ctx *cx, const ts_node *n) {
    int sub = cx->row->sub;
    int64_t len;
    int periodic = 1, extra = n->nin - 5; /* inputs between L and dtype */
    double a = cx->row->c, b = 0.46;
    if (extra < 0 || extra > 3) return lower_fail(cx, "unexpected window signature (%d inputs)", n->nin);
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->kind != LV_INT || l->dyn) return lower_fail(cx, "the window length must be known at conversion time");
    len = l->i;
    if (extra >= 1 && lower_bool_in(cx, n, 1, &periodic)) return -1;
    if (extra >= 2 && lower_float_in(cx, n, 2, &a)) return -1;
    if (extra >= 3 && lower_float_in(cx, n, 3, &b)) return -1;
    if (len <= 0) return lower_fail(cx, "window length %lld: an empty window cannot be converted", (long long)len);
    if (len > (1 << 24)) return lower_fail(cx, "window length %lld is too large", (long long)len);
    ir_dtype dt = IR_FP32;
    int di = 1 + extra;
    if (!lower_is_none(cx, n, di)) {
        int64_t code;
        if (lower_int_in(cx, n, di, &code) || lower_scalar_type(cx, code, &dt)) return -1;
        if (!ir_dtype_is_float(dt)) return lower_fail(cx, "window dtype must be floating point");
    }
    float *w = pc_alloc(cx->p->arena, (size_t)len * sizeof(float));
    if (!w) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    double N = (double)(periodic ? len : len - 1);
    for (int64_t i = 0; i < len; i++) {
        double t = len == 1 ? 0 : (double)i / N, v;
        if (len == 1) v = 1;
        else if (sub == WIN_HANN) v = 0.5 - 0.5 * cos(2 * PI * t);
        else if (sub == WIN_HAMMING) v = a - b * cos(2 * PI * t);
        else if (sub == WIN_BLACKMAN) v = 0.42 - 0.5 * cos(2 * PI * t) + 0.08 * cos(4 * PI * t);
        else if (sub == WIN_BARTLETT) v = 1 - fabs(2 * t - 1);
        else { /* kaiser, beta in a */
            double r = 2 * t - 1;
            v = bessel_i0(a * sqrt(fmax(0.0, 1 - r * r))) / bessel_i0(a);
        }
        w[i] = (float)v;
    }
    return lower_out_tensor(cx, n, 0, lb_const(cx, dt, 1, &len, w, NULL));
}
