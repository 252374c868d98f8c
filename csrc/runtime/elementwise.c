/* elementwise.c: binary ops with numpy broadcasting (arithmetic, comparison,
 * logical), select, and cast. Float inputs compute in fp32, integer inputs in
 * int64 (python semantics for floor_div and mod); results are rounded into the
 * declared output dtype by the interpreter. */
#include "runtime/rt_internal.h"

#include <math.h>

/* ---- broadcast plan for two inputs: coalesced dims and element strides ---- */
typedef struct {
    int r;
    int64_t d[IR_MAX_RANK], sa[IR_MAX_RANK], sb[IR_MAX_RANK];
} bc2;

static void bc2_plan(bc2 *p, int r, const int64_t *dims, const int64_t *sa, const int64_t *sb) {
    int w = -1;
    for (int i = 0; i < r; i++) {
        if (dims[i] == 1) continue;
        if (w >= 0 && p->sa[w] == sa[i] * dims[i] && p->sb[w] == sb[i] * dims[i]) {
            p->d[w] *= dims[i];
            p->sa[w] = sa[i];
            p->sb[w] = sb[i];
            continue;
        }
        w++;
        p->d[w] = dims[i];
        p->sa[w] = sa[i];
        p->sb[w] = sb[i];
    }
    if (w < 0) { /* a single element */
        w = 0;
        p->d[0] = 1;
        p->sa[0] = p->sb[0] = 0;
    }
    p->r = w + 1;
}

/* One function per (op, element types): inner loop specialised on strides. */
#define DEF_BIN(NAME, TI, TO, EXPR)                                                                             \
    static void NAME(const bc2 *p, const TI *a, const TI *b, void *out) {                                      \
        TO *o = out;                                                                                           \
        int r = p->r;                                                                                          \
        int64_t inner = p->d[r - 1], ia = p->sa[r - 1], ib = p->sb[r - 1], outer = 1;                          \
        for (int k = 0; k < r - 1; k++) outer *= p->d[k];                                                      \
        int64_t idx[IR_MAX_RANK] = {0}, oa = 0, ob = 0;                                                        \
        for (int64_t k = 0; k < outer; k++) {                                                                  \
            const TI *pa = a + oa, *pb = b + ob;                                                               \
            if (ia == 1 && ib == 1) {                                                                          \
                for (int64_t j = 0; j < inner; j++) {                                                          \
                    TI x = pa[j], y = pb[j];                                                                   \
                    o[j] = (TO)(EXPR);                                                                         \
                }                                                                                              \
            } else if (ia == 1 && ib == 0) {                                                                   \
                TI y = pb[0];                                                                                  \
                for (int64_t j = 0; j < inner; j++) {                                                          \
                    TI x = pa[j];                                                                              \
                    o[j] = (TO)(EXPR);                                                                         \
                }                                                                                              \
            } else if (ia == 0 && ib == 1) {                                                                   \
                TI x = pa[0];                                                                                  \
                for (int64_t j = 0; j < inner; j++) {                                                          \
                    TI y = pb[j];                                                                              \
                    o[j] = (TO)(EXPR);                                                                         \
                }                                                                                              \
            } else {                                                                                           \
                for (int64_t j = 0; j < inner; j++) {                                                          \
                    TI x = pa[j * ia], y = pb[j * ib];                                                         \
                    o[j] = (TO)(EXPR);                                                                         \
                }                                                                                              \
            }                                                                                                  \
            o += inner;                                                                                        \
            for (int q = r - 2; q >= 0; q--) {                                                                 \
                oa += p->sa[q];                                                                                \
                ob += p->sb[q];                                                                                \
                if (++idx[q] < p->d[q]) break;                                                                 \
                oa -= p->sa[q] * p->d[q];                                                                      \
                ob -= p->sb[q] * p->d[q];                                                                      \
                idx[q] = 0;                                                                                    \
            }                                                                                                  \
        }                                                                                                      \
    }

static inline float fmod_py(float x, float y) {
    float r = fmodf(x, y);
    if (r != 0.0f && ((r < 0.0f) != (y < 0.0f))) r += y;
    return r;
}
static inline int64_t idiv_py(int64_t x, int64_t y) {
    if (y == 0) return 0;
    if (y == -1) return (int64_t)(0 - (uint64_t)x);
    int64_t q = x / y;
    if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
    return q;
}
static inline int64_t imod_py(int64_t x, int64_t y) {
    if (y == 0 || y == -1) return 0;
    int64_t r = x % y;
    if (r != 0 && ((r < 0) != (y < 0))) r += y;
    return r;
}
static inline int64_t ipow(int64_t b, int64_t e) {
    if (e < 0) return (b == 1) ? 1 : (b == -1) ? ((e & 1) ? -1 : 1) : 0;
    uint64_t r = 1, x = (uint64_t)b;
    while (e) {
        if (e & 1) r *= x;
        x *= x;
        e >>= 1;
    }
    return (int64_t)r;
}

/* float -> float */
DEF_BIN(f_add, float, float, x + y)
DEF_BIN(f_sub, float, float, x - y)
DEF_BIN(f_mul, float, float, x * y)
DEF_BIN(f_div, float, float, x / y)
DEF_BIN(f_max, float, float, (x > y || x != x) ? x : y)
DEF_BIN(f_min, float, float, (x < y || x != x) ? x : y)
DEF_BIN(f_pow, float, float, powf(x, y))
DEF_BIN(f_floordiv, float, float, floorf(x / y))
DEF_BIN(f_mod, float, float, fmod_py(x, y))
/* float -> bool */
DEF_BIN(f_eq, float, uint8_t, x == y)
DEF_BIN(f_ne, float, uint8_t, x != y)
DEF_BIN(f_lt, float, uint8_t, x < y)
DEF_BIN(f_le, float, uint8_t, x <= y)
DEF_BIN(f_gt, float, uint8_t, x > y)
DEF_BIN(f_ge, float, uint8_t, x >= y)
DEF_BIN(f_and, float, uint8_t, (x != 0) & (y != 0))
DEF_BIN(f_or, float, uint8_t, (x != 0) | (y != 0))
DEF_BIN(f_xor, float, uint8_t, (x != 0) ^ (y != 0))
/* int64 -> int64 */
DEF_BIN(i_add, int64_t, int64_t, (int64_t)((uint64_t)x + (uint64_t)y))
DEF_BIN(i_sub, int64_t, int64_t, (int64_t)((uint64_t)x - (uint64_t)y))
DEF_BIN(i_mul, int64_t, int64_t, (int64_t)((uint64_t)x * (uint64_t)y))
DEF_BIN(i_div, int64_t, int64_t, idiv_py(x, y)) /* real_div on ints: floor like numpy int // */
DEF_BIN(i_max, int64_t, int64_t, x > y ? x : y)
DEF_BIN(i_min, int64_t, int64_t, x < y ? x : y)
DEF_BIN(i_pow, int64_t, int64_t, ipow(x, y))
DEF_BIN(i_floordiv, int64_t, int64_t, idiv_py(x, y))
DEF_BIN(i_mod, int64_t, int64_t, imod_py(x, y))
/* int64 -> bool */
DEF_BIN(i_eq, int64_t, uint8_t, x == y)
DEF_BIN(i_ne, int64_t, uint8_t, x != y)
DEF_BIN(i_lt, int64_t, uint8_t, x < y)
DEF_BIN(i_le, int64_t, uint8_t, x <= y)
DEF_BIN(i_gt, int64_t, uint8_t, x > y)
DEF_BIN(i_ge, int64_t, uint8_t, x >= y)
DEF_BIN(i_and, int64_t, uint8_t, (x != 0) & (y != 0))
DEF_BIN(i_or, int64_t, uint8_t, (x != 0) | (y != 0))
DEF_BIN(i_xor, int64_t, uint8_t, (x != 0) ^ (y != 0))

typedef void (*bin_f)(const bc2 *, const float *, const float *, void *);
typedef void (*bin_i)(const bc2 *, const int64_t *, const int64_t *, void *);

/* One float operand of a tiled binary op: fp32 at hand (whole), or fp16 converted
 * per tile of plan rows (s0 = its stride on the plan's dim 0, ext = the span of one
 * row block beyond its first element). */
typedef struct {
    const rt_tensor *t;
    const float *whole; /* fp32 view of every element, or NULL when converted per tile */
    float *buf;
    int64_t s0, ext;
} bin_src;

static int bin_src_init(rt_ctx *c, bin_src *s, const rt_tensor *t, const bc2 *p, int64_t rows) {
    s->t = t;
    s->s0 = p->sa[0]; /* caller swaps sa/sb in */
    s->ext = 0;
    for (int q = 1; q < p->r; q++) s->ext += (p->d[q] - 1) * p->sa[q];
    s->buf = NULL;
    s->whole = NULL;
    if (rt_has_f32(t) || t->dtype != IR_FP16 || s->s0 <= 0 || rt_numel(t) <= RT_F16_TILE) {
        s->whole = rt_f32(c, t);
        return s->whole ? 0 : -1;
    }
    s->buf = rt_scratch(c, sizeof(float) * (size_t)((rows - 1) * s->s0 + s->ext + 1), 0);
    return s->buf ? 0 : -1;
}

static const float *bin_src_rows(const bin_src *s, int64_t k0, int64_t k1) {
    if (s->whole) return s->whole + k0 * s->s0;
    return rt_f32_part(s->t, k0 * s->s0, (k1 - k0 - 1) * s->s0 + s->ext + 1, s->buf);
}

/* Float binary op with an fp16 operand or output: runs the plan in blocks of dim-0
 * rows, converting fp16 operands and the fp16 result through fp32 tiles of about
 * RT_F16_TILE elements, so no tensor-sized fp32 copies are made. */
static int binary_tiled(rt_ctx *c, bin_f ff, const rt_tensor *x, const rt_tensor *y, const bc2 *p, int r,
                        const int64_t *dims, int to_bool) {
    int64_t rowlen = 1;
    for (int q = 1; q < p->r; q++) rowlen *= p->d[q];
    int64_t rows = PC_MAX(1, RT_F16_TILE / PC_MAX(1, rowlen));
    if (rows > p->d[0]) rows = p->d[0];
    bc2 pa = *p, pb = *p;
    memcpy(pb.sa, p->sb, sizeof pb.sa);
    bin_src a, b;
    if (bin_src_init(c, &a, x, &pa, rows) || bin_src_init(c, &b, y, &pb, rows)) return -1;
    int o16 = !to_bool && rt_out_f16(c, 0);
    void *o = rt_out(c, 0, r, dims, to_bool ? IR_BOOL : o16 ? IR_FP16 : IR_FP32);
    float *ob = o && o16 ? rt_scratch(c, sizeof(float) * (size_t)(rows * rowlen), 0) : NULL;
    if (!o || (o16 && !ob)) return -1;
    if (rt_numel_dims(r, dims) == 0) return 0;
    for (int64_t k0 = 0; k0 < p->d[0]; k0 += rows) {
        int64_t k1 = PC_MIN(p->d[0], k0 + rows), n = (k1 - k0) * rowlen;
        bc2 sub = *p;
        sub.d[0] = k1 - k0;
        const float *xa = bin_src_rows(&a, k0, k1), *yb = bin_src_rows(&b, k0, k1);
        if (to_bool) ff(&sub, xa, yb, (uint8_t *)o + k0 * rowlen);
        else if (!o16) ff(&sub, xa, yb, (float *)o + k0 * rowlen);
        else {
            ff(&sub, xa, yb, ob);
            pc_f32_to_f16_n((uint16_t *)o + k0 * rowlen, ob, (size_t)n);
        }
    }
    return 0;
}

static int binary(rt_ctx *c, bin_f ff, bin_i fi, int to_bool) {
    const rt_tensor *x = rt_in_req(c, "x"), *y = x ? rt_in_req(c, "y") : NULL;
    if (!y) return -1;
    int r;
    int64_t dims[IR_MAX_RANK], sa[IR_MAX_RANK], sb[IR_MAX_RANK];
    if (rt_broadcast_shape(c, x->rank, x->dims, y->rank, y->dims, &r, dims)) return -1;
    rt_bcast_strides(x->rank, x->dims, r, dims, sa);
    rt_bcast_strides(y->rank, y->dims, r, dims, sb);
    bc2 p;
    bc2_plan(&p, r, dims, sa, sb);
    int use_float = ir_dtype_is_float(x->dtype) || ir_dtype_is_float(y->dtype);
    int tiled = (x->dtype == IR_FP16 && !rt_has_f32(x)) || (y->dtype == IR_FP16 && !rt_has_f32(y)) ||
                (!to_bool && rt_out_f16(c, 0));
    if (use_float && tiled) return binary_tiled(c, ff, x, y, &p, r, dims, to_bool);
    if (use_float) {
        const float *a = rt_f32(c, x), *b = a ? rt_f32(c, y) : NULL;
        void *o = b ? rt_out(c, 0, r, dims, to_bool ? IR_BOOL : IR_FP32) : NULL;
        if (!o) return -1;
        if (rt_numel_dims(r, dims)) ff(&p, a, b, o);
    } else {
        const int64_t *a = rt_i64(c, x), *b = a ? rt_i64(c, y) : NULL;
        void *o = b ? rt_out(c, 0, r, dims, to_bool ? IR_BOOL : IR_INT64) : NULL;
        if (!o) return -1;
        if (rt_numel_dims(r, dims)) fi(&p, a, b, o);
    }
    return 0;
}

#define BIN_KERNEL(E, FF, FI, B)                                                                               \
    int rt_k_##E(rt_ctx *c) { return binary(c, FF, FI, B); }

BIN_KERNEL(ADD, f_add, i_add, 0)
BIN_KERNEL(SUB, f_sub, i_sub, 0)
BIN_KERNEL(MUL, f_mul, i_mul, 0)
BIN_KERNEL(REAL_DIV, f_div, i_div, 0)
BIN_KERNEL(MAXIMUM, f_max, i_max, 0)
BIN_KERNEL(MINIMUM, f_min, i_min, 0)
BIN_KERNEL(POW, f_pow, i_pow, 0)
BIN_KERNEL(FLOOR_DIV, f_floordiv, i_floordiv, 0)
BIN_KERNEL(MOD, f_mod, i_mod, 0)
BIN_KERNEL(EQUAL, f_eq, i_eq, 1)
BIN_KERNEL(NOT_EQUAL, f_ne, i_ne, 1)
BIN_KERNEL(LESS, f_lt, i_lt, 1)
BIN_KERNEL(LESS_EQUAL, f_le, i_le, 1)
BIN_KERNEL(GREATER, f_gt, i_gt, 1)
BIN_KERNEL(GREATER_EQUAL, f_ge, i_ge, 1)
BIN_KERNEL(LOGICAL_AND, f_and, i_and, 1)
BIN_KERNEL(LOGICAL_OR, f_or, i_or, 1)
BIN_KERNEL(LOGICAL_XOR, f_xor, i_xor, 1)

/* ---- select(cond, a, b): three-way broadcast ---- */
int rt_k_SELECT(rt_ctx *c) {
    const rt_tensor *cond = rt_in_req(c, "cond"), *a = cond ? rt_in_req(c, "a") : NULL,
                    *b = a ? rt_in_req(c, "b") : NULL;
    if (!b) return -1;
    int r1, r;
    int64_t d1[IR_MAX_RANK], dims[IR_MAX_RANK];
    if (rt_broadcast_shape(c, cond->rank, cond->dims, a->rank, a->dims, &r1, d1)) return -1;
    if (rt_broadcast_shape(c, r1, d1, b->rank, b->dims, &r, dims)) return -1;
    int64_t sc[IR_MAX_RANK], sa[IR_MAX_RANK], sb[IR_MAX_RANK];
    rt_bcast_strides(cond->rank, cond->dims, r, dims, sc);
    rt_bcast_strides(a->rank, a->dims, r, dims, sa);
    rt_bcast_strides(b->rank, b->dims, r, dims, sb);
    /* a and b in one dtype (a's); cond as uint8 truth values */
    ir_dtype dt = a->dtype;
    size_t es = ir_dtype_size(dt);
    const void *bd = b->data;
    if (b->dtype != dt) {
        void *t = rt_scratch(c, (size_t)rt_numel(b) * es, 0);
        if (!t) return -1;
        rt_convert(t, dt, b->data, b->dtype, rt_numel(b));
        bd = t;
    }
    const uint8_t *cd = cond->data;
    if (cond->dtype != IR_BOOL) {
        uint8_t *t = rt_scratch(c, (size_t)rt_numel(cond), 0);
        if (!t) return -1;
        rt_convert(t, IR_BOOL, cond->data, cond->dtype, rt_numel(cond));
        cd = t;
    }
    char *o = rt_out(c, 0, r, dims, dt);
    if (!o) return -1;
    int64_t n = rt_numel_dims(r, dims);
    int64_t idx[IR_MAX_RANK] = {0}, oc = 0, oa = 0, ob = 0;
    const char *ad = a->data;
    for (int64_t i = 0; i < n; i++) {
        memcpy(o + i * (int64_t)es, cd[oc] ? ad + oa * (int64_t)es : (const char *)bd + ob * (int64_t)es, es);
        for (int q = r - 1; q >= 0; q--) {
            oc += sc[q];
            oa += sa[q];
            ob += sb[q];
            if (++idx[q] < dims[q]) break;
            oc -= sc[q] * dims[q];
            oa -= sa[q] * dims[q];
            ob -= sb[q] * dims[q];
            idx[q] = 0;
        }
    }
    return 0;
}

/* ---- cast(x, dtype) ---- */
static ir_dtype cast_dtype(const char *s) {
    static const struct { const char *name; ir_dtype dt; } names[] = {
        {"fp32", IR_FP32},   {"fp16", IR_FP16},   {"fp64", IR_FP64},   {"int32", IR_INT32}, {"int64", IR_INT64},
        {"int16", IR_INT16}, {"int8", IR_INT8},   {"uint8", IR_UINT8}, {"uint16", IR_UINT16},
        {"uint32", IR_UINT32}, {"bool", IR_BOOL}, {"float32", IR_FP32}, {"float16", IR_FP16}, {"float64", IR_FP64},
    };
    for (int i = 0; i < PC_ARRAY_LEN(names); i++)
        if (strcmp(names[i].name, s) == 0) return names[i].dt;
    return IR_DT_INVALID;
}

int rt_k_CAST(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    const char *ds = x ? rt_param_str(c, "dtype") : NULL;
    if (!ds) return x ? rt_fail(c, "missing required input 'dtype'") : -1;
    ir_dtype dt = cast_dtype(ds);
    if (dt == IR_DT_INVALID) return rt_fail(c, "unsupported cast dtype '%s'", ds);
    if (x->dtype == IR_STRING) return rt_fail(c, "cannot cast a string tensor");
    void *o = rt_out(c, 0, x->rank, x->dims, dt);
    if (!o) return -1;
    rt_convert(o, dt, x->data, x->dtype, rt_numel(x));
    return 0;
}
