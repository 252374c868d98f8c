/* unary.c: elementwise unary math and activations (fp32 compute; abs, sign,
 * square and exp2 also on integers), clip, and the parameterised ones
 * (inverse/rsqrt/log epsilon, elu/leaky_relu alpha, gelu mode). */
#include "runtime/rt_internal.h"

#include <math.h>

typedef struct {
    const float *x;
    float *o;
    const uint16_t *x16; /* fp16 input streamed through fp32 tiles (x unused), or NULL */
    uint16_t *o16;       /* fp16 output written tile by tile (o unused), or NULL */
    int64_t n;
    float a, b;
} un_job;

/* Kernel E computes o = EXPR(x, a, b) elementwise over fp32, in parallel chunks;
 * fp16 inputs and outputs go through small fp32 tiles on the stack, so no
 * tensor-sized fp32 copy is made. PARAMS reads a/b from the op's parameters
 * (may return -1). COST: flops per element. */
#define UN_TILE 1024
#define DEF_UNARY_V(E, COST, PARAMS, EXPR, VH)                                                                \
    static void un_span_##E(const float *restrict xp, float *restrict op, int64_t lo, int64_t hi, float a,     \
                            float b) {                                                                         \
        (void)a;                                                                                               \
        (void)b;                                                                                               \
        int64_t i = VH(xp, op, lo, hi, a, b);                                                                  \
        for (; i < hi; i++) {                                                                                  \
            const float x = xp[i];                                                                             \
            op[i] = (EXPR);                                                                                    \
        }                                                                                                      \
    }                                                                                                          \
    static void un_##E(void *ctx, int64_t lo, int64_t hi) {                                                    \
        const un_job *j = ctx;                                                                                 \
        if (!j->x16 && !j->o16) {                                                                              \
            un_span_##E(j->x, j->o, lo, hi, j->a, j->b);                                                       \
            return;                                                                                            \
        }                                                                                                      \
        float bx[UN_TILE], bo[UN_TILE];                                                                        \
        for (int64_t s = lo; s < hi; s += UN_TILE) {                                                           \
            int64_t m = PC_MIN(UN_TILE, hi - s);                                                               \
            if (j->x16) pc_f16_to_f32_n(bx, j->x16 + s, (size_t)m);                                            \
            const float *xs = j->x16 ? bx : j->x + s;                                                          \
            un_span_##E(xs, j->o16 ? bo : j->o + s, 0, m, j->a, j->b);                                         \
            if (j->o16) pc_f32_to_f16_n(j->o16 + s, bo, (size_t)m);                                            \
        }                                                                                                      \
    }                                                                                                          \
    int rt_k_##E(rt_ctx *c) {                                                                                  \
        un_job j = {0};                                                                                        \
        const rt_tensor *t = rt_in_req(c, "x");                                                                \
        if (!t) return -1;                                                                                     \
        PARAMS;                                                                                                \
        if (t->dtype == IR_FP16 && !rt_has_f32(t)) j.x16 = t->data;                                            \
        else if (!(j.x = rt_f32(c, t))) return -1;                                                             \
        int o16 = rt_out_f16(c, 0);                                                                            \
        void *o = rt_out(c, 0, t->rank, t->dims, o16 ? IR_FP16 : IR_FP32);                                     \
        if (!o) return -1;                                                                                     \
        if (o16) j.o16 = o;                                                                                    \
        else j.o = o;                                                                                          \
        j.n = rt_numel(t);                                                                                     \
        rt_parallel_for(j.n, (double)(COST), un_##E, &j);                                                      \
        return 0;                                                                                              \
    }

#define NOPARAM (void)0

/* Vector heads: kernels with a vector form process [lo, lo + 4k) with GCC/clang
 * vector extensions and return where the scalar tail starts; others return lo. */
/* 16-byte vectors: native on every x86-64 (SSE2) and arm64 (NEON); these kernels are memory bound */
typedef float v4 __attribute__((vector_size(16)));
typedef float v4u __attribute__((vector_size(16), aligned(4), may_alias));
typedef int v4i __attribute__((vector_size(16)));
static inline int64_t vhead_none(const float *x, float *o, int64_t lo, int64_t hi, float a, float b) { return lo; }
/* relu: keep x where x > 0 or x is nan, else +0 (bit masks, no branches) */
#define V_RELU(x) ((v4)((v4i)(x) & (((x) > 0.0f) | ((x) != (x)))))
static inline int64_t vhead_RELU(const float *x, float *o, int64_t lo, int64_t hi, float a, float b) {
    for (; lo + 4 <= hi; lo += 4) {
        v4 v = *(const v4u *)(x + lo);
        *(v4u *)(o + lo) = V_RELU(v);
    }
    return lo;
}
static inline int64_t vhead_RELU6(const float *x, float *o, int64_t lo, int64_t hi, float a, float b) {
    const v4 six = {6, 6, 6, 6};
    for (; lo + 4 <= hi; lo += 4) {
        v4 v = *(const v4u *)(x + lo), r = V_RELU(v);
        v4i big = r > six;
        *(v4u *)(o + lo) = (v4)(((v4i)r & ~big) | ((v4i)six & big));
    }
    return lo;
}
/* the plain form: scalar loop only */
#define DEF_UNARY(E, COST, PARAMS, EXPR) DEF_UNARY_V(E, COST, PARAMS, EXPR, vhead_none)
/* Scalar params, defaults and required-ness from the op's ops.def row. */
#define PARAM_A(NAME)                                                                                          \
    do {                                                                                                       \
        double v_;                                                                                             \
        if (rt_param_float(c, NAME, &v_)) return -1;                                                           \
        j.a = (float)v_;                                                                                       \
    } while (0)
#define PARAM_AB                                                                                               \
    do {                                                                                                       \
        double v_;                                                                                             \
        if (rt_param_float(c, "alpha", &v_)) return -1;                                                        \
        j.a = (float)v_;                                                                                       \
        if (rt_param_float(c, "beta", &v_)) return -1;                                                         \
        j.b = (float)v_;                                                                                       \
    } while (0)

static inline float sigm(float x) { return 1.0f / (1.0f + expf(-x)); }
static inline float softplus1(float x) { return log1pf(expf(-fabsf(x))) + (x > 0 ? x : 0.0f); }
static inline float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}
static inline float gelu_exact(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
static inline float signf(float x) { return x > 0 ? 1.0f : x < 0 ? -1.0f : x; /* keeps 0 and nan */ }

DEF_UNARY(ACOS, 20, NOPARAM, acosf(x))
DEF_UNARY(ASIN, 20, NOPARAM, asinf(x))
DEF_UNARY(ATAN, 20, NOPARAM, atanf(x))
DEF_UNARY(ATANH, 20, NOPARAM, atanhf(x))
DEF_UNARY(CEIL, 1, NOPARAM, ceilf(x))
DEF_UNARY(COS, 20, NOPARAM, cosf(x))
DEF_UNARY(COSH, 20, NOPARAM, coshf(x))
DEF_UNARY(ERF, 20, NOPARAM, erff(x))
DEF_UNARY(EXP, 20, NOPARAM, expf(x))
DEF_UNARY(FLOOR, 1, NOPARAM, floorf(x))
DEF_UNARY(ROUND, 1, NOPARAM, rintf(x)) /* half to even, like numpy */
DEF_UNARY(SIN, 20, NOPARAM, sinf(x))
DEF_UNARY(SINH, 20, NOPARAM, sinhf(x))
DEF_UNARY(SQRT, 4, NOPARAM, sqrtf(x))
DEF_UNARY(TAN, 20, NOPARAM, tanf(x))
DEF_UNARY(TANH, 20, NOPARAM, tanhf(x))
DEF_UNARY(INVERSE, 2, PARAM_A("epsilon"), 1.0f / (x + a))
DEF_UNARY(RSQRT, 4, PARAM_A("epsilon"), 1.0f / sqrtf(x + a))
DEF_UNARY(LOG, 20, PARAM_A("epsilon"), logf(x + a))
/* relu/relu6 keep nan and turn -0 into +0 */
DEF_UNARY_V(RELU, 1, NOPARAM, x > 0 ? x : (x == x ? 0.0f : x), vhead_RELU)
DEF_UNARY_V(RELU6, 1, NOPARAM, x > 6.0f ? 6.0f : x > 0 ? x : (x == x ? 0.0f : x), vhead_RELU6)
DEF_UNARY(SIGMOID, 20, NOPARAM, sigm(x))
DEF_UNARY(SILU, 20, NOPARAM, x *sigm(x))
DEF_UNARY(SOFTPLUS, 40, NOPARAM, softplus1(x))
DEF_UNARY(ELU, 20, PARAM_A("alpha"), x > 0 ? x : a * expm1f(x))
DEF_UNARY(LEAKY_RELU, 1, PARAM_A("alpha"), x >= 0 ? x : a * x)
DEF_UNARY(CLIP, 1, PARAM_AB, fminf(fmaxf(x, a), b))

/* scalar-parameter activations (MIL activation.py) */
DEF_UNARY(SOFTSIGN, 2, NOPARAM, x / (1.0f + fabsf(x)))
DEF_UNARY(SIGMOID_HARD, 2, PARAM_AB, fminf(fmaxf(a * x + b, 0.0f), 1.0f))
DEF_UNARY(SCALED_TANH, 20, PARAM_AB, a *tanhf(b * x))
DEF_UNARY(CLAMPED_RELU, 2, PARAM_AB, fminf(x >= 0 ? x : a * x, b))
DEF_UNARY(THRESHOLD, 1, PARAM_A("alpha"), x >= a ? x : (x == x ? a : x)) /* max(x, alpha), nan kept */
DEF_UNARY(THRESHOLDED_RELU, 1, PARAM_A("alpha"), x >= a ? x : (x == x ? 0.0f : x))
DEF_UNARY(LINEAR_ACTIVATION, 1, PARAM_AB, a *x + b)

/* gelu: three modes, chosen once per op */
DEF_UNARY(GELU_EXACT_, 30, NOPARAM, gelu_exact(x))
DEF_UNARY(GELU_TANH_, 30, NOPARAM, gelu_tanh(x))
DEF_UNARY(GELU_SIGMOID_, 20, NOPARAM, x *sigm(1.702f * x))

int rt_k_GELU(rt_ctx *c) {
    const char *mode = rt_param_str(c, "mode");
    if (!mode) return -1;
    if (strcmp(mode, "EXACT") == 0) return rt_k_GELU_EXACT_(c);
    if (strcmp(mode, "TANH_APPROXIMATION") == 0) return rt_k_GELU_TANH_(c);
    if (strcmp(mode, "SIGMOID_APPROXIMATION") == 0) return rt_k_GELU_SIGMOID_(c);
    return rt_fail(c, "unknown gelu mode '%s' (EXACT, TANH_APPROXIMATION or SIGMOID_APPROXIMATION)", mode);
}

/* abs, sign, square, exp2 keep integer inputs integer */
DEF_UNARY(ABS_F_, 1, NOPARAM, fabsf(x))
DEF_UNARY(SIGN_F_, 1, NOPARAM, signf(x))
DEF_UNARY(SQUARE_F_, 1, NOPARAM, x *x)
DEF_UNARY(EXP2_F_, 20, NOPARAM, exp2f(x))

static int int_unary(rt_ctx *c, int (*ff)(rt_ctx *), int which) {
    const rt_tensor *t = rt_in_req(c, "x");
    if (!t) return -1;
    if (ir_dtype_is_float(t->dtype)) return ff(c);
    const int64_t *x = rt_i64(c, t);
    int64_t *o = x ? rt_out(c, 0, t->rank, t->dims, IR_INT64) : NULL;
    if (!o) return -1;
    int64_t n = rt_numel(t);
    for (int64_t i = 0; i < n; i++) {
        int64_t v = x[i];
        switch (which) {
        case 0: o[i] = v < 0 ? (int64_t)(0 - (uint64_t)v) : v; break;
        case 1: o[i] = (v > 0) - (v < 0); break;
        case 2: o[i] = (int64_t)((uint64_t)v * (uint64_t)v); break;
        default: o[i] = (v >= 0 && v < 63) ? ((int64_t)1 << v) : 0; break;
        }
    }
    return 0;
}

int rt_k_ABS(rt_ctx *c) { return int_unary(c, rt_k_ABS_F_, 0); }
int rt_k_SIGN(rt_ctx *c) { return int_unary(c, rt_k_SIGN_F_, 1); }
int rt_k_SQUARE(rt_ctx *c) { return int_unary(c, rt_k_SQUARE_F_, 2); }
int rt_k_EXP2(rt_ctx *c) { return int_unary(c, rt_k_EXP2_F_, 3); }

int rt_k_LOGICAL_NOT(rt_ctx *c) {
    const rt_tensor *t = rt_in_req(c, "x");
    if (!t) return -1;
    int64_t n = rt_numel(t);
    uint8_t *b = rt_scratch(c, (size_t)n, 0);
    uint8_t *o = b ? rt_out(c, 0, t->rank, t->dims, IR_BOOL) : NULL;
    if (!o) return -1;
    rt_convert(b, IR_BOOL, t->data, t->dtype, n);
    for (int64_t i = 0; i < n; i++) o[i] = !b[i];
    return 0;
}
