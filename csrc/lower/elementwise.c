/* elementwise.c: binary arithmetic / comparison (tensors, scalars, alpha, in-place
 * variants, int arithmetic on compile-time numbers), unary math, clamp. */
#include "lower/build.h"

#include <math.h>
#include <string.h>

typedef lower_binop binop; /* the row's .sub (lower_int.h) */

static int is_cmp(binop op) { return op >= BIN_EQ; }
static int is_num(const lv *l) { return l->kind == LV_INT || l->kind == LV_FLOAT || l->kind == LV_BOOL; }

/* A static number, or a one-element constant tensor read as a number; NULL otherwise. */
static lv *const_number(lower_ctx *cx, lv *l) {
    if (is_num(l) && !l->dyn) return l;
    if (l->kind != LV_TENSOR || !l->v || !l->v->konst || l->v->konst->count != 1) return NULL;
    const ir_value *v = l->v;
    if (ir_dtype_is_float(v->type.dtype)) return lv_float(cx, ir_const_get_f64(v->konst, 0));
    if (v->type.dtype == IR_BOOL) return lv_bool(cx, ir_const_get_i64(v->konst, 0) != 0);
    return lv_int(cx, ir_const_get_i64(v->konst, 0));
}

/* Both operands compile-time numbers: compute (Python/TorchScript semantics). */
static lv *fold(lower_ctx *cx, binop op, const lv *a, const lv *b, double alpha) {
    int fl = a->kind == LV_FLOAT || b->kind == LV_FLOAT || op == BIN_DIV;
    double x = a->kind == LV_FLOAT ? a->f : (double)a->i, y = b->kind == LV_FLOAT ? b->f : (double)b->i;
    int64_t xi = a->i, yi = b->i;
    switch (op) {
    case BIN_ADD: return fl ? lv_float(cx, x + alpha * y) : lv_int(cx, xi + (int64_t)alpha * yi);
    case BIN_SUB: return fl ? lv_float(cx, x - alpha * y) : lv_int(cx, xi - (int64_t)alpha * yi);
    case BIN_RSUB: return fl ? lv_float(cx, y - alpha * x) : lv_int(cx, yi - (int64_t)alpha * xi);
    case BIN_MUL: return fl ? lv_float(cx, x * y) : lv_int(cx, xi * yi);
    case BIN_DIV:
        if (y == 0) break;
        return lv_float(cx, x / y);
    case BIN_FLOORDIV:
        if (y == 0) break;
        if (fl) return lv_float(cx, floor(x / y));
        return lv_int(cx, xi / yi - ((xi % yi != 0) && ((xi < 0) != (yi < 0))));
    case BIN_MOD:
        if (y == 0) break;
        if (fl) return lv_float(cx, x - floor(x / y) * y);
        return lv_int(cx, ((xi % yi) + yi) % yi);
    case BIN_POW:
        if (!fl && yi >= 0) {
            int64_t r = 1;
            for (int64_t k = 0; k < yi && k < 64; k++) r *= xi;
            return lv_int(cx, r);
        }
        return lv_float(cx, pow(x, y));
    case BIN_MAX: return fl ? lv_float(cx, x > y ? x : y) : lv_int(cx, xi > yi ? xi : yi);
    case BIN_MIN: return fl ? lv_float(cx, x < y ? x : y) : lv_int(cx, xi < yi ? xi : yi);
    case BIN_FMOD:
        if (y == 0) break;
        return fl ? lv_float(cx, fmod(x, y)) : lv_int(cx, xi % yi);
    case BIN_ATAN2: return lv_float(cx, atan2(x, y));
    case BIN_FMAX: return fl ? lv_float(cx, fmax(x, y)) : lv_int(cx, xi > yi ? xi : yi);
    case BIN_FMIN: return fl ? lv_float(cx, fmin(x, y)) : lv_int(cx, xi < yi ? xi : yi);
    case BIN_TRUNCDIV:
        if (y == 0) break;
        return fl ? lv_float(cx, trunc(x / y)) : lv_int(cx, xi / yi);
    case BIN_EQ: return lv_bool(cx, x == y);
    case BIN_NE: return lv_bool(cx, x != y);
    case BIN_LT: return lv_bool(cx, x < y);
    case BIN_LE: return lv_bool(cx, x <= y);
    case BIN_GT: return lv_bool(cx, x > y);
    case BIN_GE: return lv_bool(cx, x >= y);
    }
    lower_fail(cx, "division by zero in a constant expression");
    return NULL;
}

/* The dtype of an operand: tensors and run-time scalars have one; static numbers
 * weigh in only as "float" or not. */
static ir_dtype operand_dtype(const lv *l) {
    if (l->kind == LV_TENSOR || l->dyn) return l->v->type.dtype;
    return IR_DT_INVALID;
}

/* Common compute dtype, torch-style: tensor dtypes first, a float number makes ints float. */
static ir_dtype promote(const lv *a, const lv *b, binop op) {
    ir_dtype ta = operand_dtype(a), tb = operand_dtype(b), t;
    if (ta == IR_DT_INVALID) t = tb;
    else if (tb == IR_DT_INVALID) t = ta;
    else if (ir_dtype_is_float(ta) != ir_dtype_is_float(tb)) t = ir_dtype_is_float(ta) ? ta : tb;
    else if (ta == tb) t = ta;
    else t = ir_dtype_is_float(ta) ? IR_FP32 : IR_INT32;
    int float_num = (a->kind == LV_FLOAT && !a->dyn) || (b->kind == LV_FLOAT && !b->dyn);
    if (t == IR_DT_INVALID) t = float_num ? IR_FP32 : IR_INT32;
    if (!ir_dtype_is_float(t) && (float_num || op == BIN_DIV || op == BIN_ATAN2)) t = IR_FP32;
    if (t == IR_BOOL) t = IR_INT32; /* Core ML compares and computes on fp16/fp32/int32 only */
    return t;
}

/* A bool operand: a bool tensor or run-time bool, or a bool number. */
static int is_bool(const lv *l) {
    if (l->kind == LV_TENSOR || l->dyn) return l->v && l->v->type.dtype == IR_BOOL;
    return l->kind == LV_BOOL;
}

static ir_value *operand(lower_ctx *cx, lv *l, ir_dtype dt, const char *suffix) {
    if (LB_SKIP(cx, l)) return NULL;
    if (l->kind == LV_TENSOR || l->dyn) {
        if (l->v->type.dtype == dt) return l->v;
        return lb_cast(cx, l->v, dt, suffix);
    }
    if (!is_num(l)) {
        lower_fail(cx, "operand is a %s", lv_kind_name(l->kind));
        return NULL;
    }
    return lb_const_scalar(cx, l->kind == LV_FLOAT ? l->f : (double)l->i, dt, suffix);
}

static ir_value *trunc_of(lower_ctx *cx, ir_value *x);

static ir_value *with_num(lower_ctx *cx, ir_opkind k, ir_value *x, double c, const char *suffix);
static ir_value *composed_binary(lower_ctx *cx, binop op, ir_value *x, ir_value *y);

/* rsqrt as 1 / sqrt(x): MIL's rsqrt adds epsilon (default 1e-12: rsqrt(0) = 1e6, rsqrt(-0) = +inf;
 * torch gives inf and -inf). */
static ir_value *rsqrt_of(lower_ctx *cx, ir_value *x) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_value *one = lb_const_scalar(cx, 1, x->type.dtype, "one");
    return lb_binary(cx, IR_OP_REAL_DIV, one, lb_unary(cx, IR_OP_SQRT, x, "sqrt"), NULL);
}

/* Float floor division as torch computes it (exact where floor(x / y) rounds wrong, NaN for an
 * infinite x, -1 for x / y = -0 with a nonzero x): m = fmod(x, y); d = (x - m) / y, one less when
 * m != 0 and m, y differ in sign; floor(d), plus 1 when d is more than half above it; x / y where
 * y == 0. */
static ir_value *floor_div_float(lower_ctx *cx, ir_value *x, ir_value *y) {
    ir_dtype dt = x->type.dtype;
    ir_value *m = composed_binary(cx, BIN_FMOD, x, y);
    ir_value *d = lb_binary(cx, IR_OP_REAL_DIV, lb_binary(cx, IR_OP_SUB, x, m, "x_m"), y, "d");
    ir_value *mnz = with_num(cx, IR_OP_NOT_EQUAL, m, 0, "m_nz");
    ir_value *sd = lb_binary(cx, IR_OP_LOGICAL_XOR, with_num(cx, IR_OP_LESS, y, 0, "y_neg"),
                             with_num(cx, IR_OP_LESS, m, 0, "m_neg"), "signs");
    ir_value *adj = lb_cast(cx, lb_binary(cx, IR_OP_LOGICAL_AND, mnz, sd, "adjust"), dt, "adjust_v");
    d = lb_binary(cx, IR_OP_SUB, d, adj, "d_adj");
    ir_value *f = lb_unary(cx, IR_OP_FLOOR, d, "floor");
    ir_value *up = with_num(cx, IR_OP_GREATER, lb_binary(cx, IR_OP_SUB, d, f, "frac"), 0.5, "round_up");
    f = lb_binary(cx, IR_OP_ADD, f, lb_cast(cx, up, dt, "round_up_v"), "floor_adj");
    ir_value *q = lb_binary(cx, IR_OP_REAL_DIV, x, y, "quot");
    ir_value *yz = with_num(cx, IR_OP_EQUAL, y, 0, "y_zero");
    return lb_select(cx, yz, q, f, NULL);
}

/* fmod, atan2, truncating division, float floor division and fmax / fmin, composed from MIL ops (x, y
 * already in one dtype). */
static ir_value *composed_binary(lower_ctx *cx, binop op, ir_value *x, ir_value *y) {
    ir_dtype dt = x->type.dtype;
    if (op == BIN_FMAX || op == BIN_FMIN) { /* NaN is missing data: the other operand where one is NaN */
        ir_value *m = lb_binary(cx, op == BIN_FMAX ? IR_OP_MAXIMUM : IR_OP_MINIMUM, x, y, op == BIN_FMAX ? "max" : "min");
        if (!ir_dtype_is_float(dt) || !m) return m;
        ir_value *xn = lb_binary(cx, IR_OP_NOT_EQUAL, x, x, "x_nan"), *yn = lb_binary(cx, IR_OP_NOT_EQUAL, y, y, "y_nan");
        ir_value *r = lb_select(cx, yn, x, m, "y_missing"); /* a / b broadcast to the full shape */
        return lb_select(cx, xn, y, r, NULL);
    }
    if (op == BIN_FMOD) { /* sign(x) * mod(|x|, |y|): C fmod, exact */
        ir_value *ax = lb_unary(cx, IR_OP_ABS, x, "absx"), *ay = lb_unary(cx, IR_OP_ABS, y, "absy");
        ir_value *m = lb_binary(cx, IR_OP_MOD, ax, ay, "mod");
        ir_value *sg = lb_unary(cx, IR_OP_SIGN, x, "sign");
        return lb_binary(cx, IR_OP_MUL, sg, m, NULL);
    }
    if (op == BIN_TRUNCDIV) {
        if (ir_dtype_is_float(dt)) return trunc_of(cx, lb_binary(cx, IR_OP_REAL_DIV, x, y, "quot"));
        /* ints: sign(x) * sign(y) * (|x| // |y|), exact */
        ir_value *ax = lb_unary(cx, IR_OP_ABS, x, "absx"), *ay = lb_unary(cx, IR_OP_ABS, y, "absy");
        ir_value *q = lb_binary(cx, IR_OP_FLOOR_DIV, ax, ay, "quot");
        ir_value *sx = lb_unary(cx, IR_OP_SIGN, x, "signx"), *sy = lb_unary(cx, IR_OP_SIGN, y, "signy");
        ir_value *s = lb_binary(cx, IR_OP_MUL, sx, sy, "sign");
        return lb_binary(cx, IR_OP_MUL, s, q, NULL);
    }
    if (op == BIN_FLOORDIV) return floor_div_float(cx, x, y);
    return lb_atan2(cx, x, y);
}

/* The row's .sub says what the operator computes, its .mil the MIL op it maps onto (none for the composed
 * ones: fmod, atan2). */
int lower_binary_op(lower_ctx *cx, const ts_node *n) {
    binop op = (binop)cx->row->sub;
    ir_opkind mil = cx->row->mil;
    lv *a = lower_in(cx, n, 0), *b = lower_in(cx, n, 1);
    if (!a || !b) return -1;
    double alpha = 1;
    if ((op == BIN_ADD || op == BIN_SUB || op == BIN_RSUB) && n->nin >= 3 && lower_float_in(cx, n, 2, &alpha)) return -1;
    if (op == BIN_DIV && n->nin >= 3 && !lower_is_none(cx, n, 2)) {
        lv *m = lower_in(cx, n, 2);
        if (!m || m->kind != LV_STR) return lower_fail(cx, "rounding_mode must be a str");
        if (strcmp(m->s, "floor") == 0) op = BIN_FLOORDIV, mil = IR_OP_FLOOR_DIV;
        else if (strcmp(m->s, "trunc") == 0) op = BIN_TRUNCDIV;
        else return lower_fail(cx, "rounding_mode '%s' is not supported (None, 'floor' or 'trunc')", m->s);
    }
    /* list equality (aten::eq.int_list, ne: `x.size() != expected`) */
    if ((op == BIN_EQ || op == BIN_NE) && (a->kind == LV_LIST || a->kind == LV_TUPLE) && (b->kind == LV_LIST || b->kind == LV_TUPLE))
        return lower_list_equal(cx, n, a, b, op == BIN_NE);
    /* list concatenation (aten::add.t) */
    if (op == BIN_ADD && (a->kind == LV_LIST || a->kind == LV_TUPLE) && a->kind == b->kind) {
        lv *l = lv_new(cx, a->kind);
        if (!l) return -1;
        l->n = a->n + b->n;
        l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(l->n ? l->n : 1));
        if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int i = 0; i < a->n; i++) l->items[i] = a->items[i];
        for (int i = 0; i < b->n; i++) l->items[a->n + i] = b->items[i];
        return lower_out(cx, n, 0, l);
    }
    /* list repetition (aten::mul.left_t / right_t: [1] * k), k known at conversion time */
    if (op == BIN_MUL && ((a->kind == LV_LIST && !a->dyn && b->kind == LV_INT && !b->dyn) ||
                        (b->kind == LV_LIST && !b->dyn && a->kind == LV_INT && !a->dyn))) {
        lv *src = a->kind == LV_LIST ? a : b;
        int64_t k = a->kind == LV_LIST ? b->i : a->i;
        if (k < 0) k = 0;
        if (k > 4096 || (int64_t)src->n * k > 65536) return lower_fail(cx, "list repetition too long");
        lv *l = lv_new(cx, LV_LIST);
        if (!l) return -1;
        l->n = (int)(src->n * k);
        l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(l->n ? l->n : 1));
        if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int i = 0; i < l->n; i++) l->items[i] = src->items[i % src->n];
        return lower_out(cx, n, 0, l);
    }
    if (!(a->kind == LV_TENSOR || is_num(a)) || !(b->kind == LV_TENSOR || is_num(b)))
        return lower_fail(cx, "operands are %s and %s", lv_kind_name(a->kind), lv_kind_name(b->kind));
    if (a->kind != LV_TENSOR && b->kind != LV_TENSOR && !a->dyn && !b->dyn) return lower_out(cx, n, 0, fold(cx, op, a, b, alpha));
    /* one-element constant tensors (traced size arithmetic: NumToTensor'd sizes) fold too, so that
     * shapes computed from them stay known at conversion time */
    lv *na = const_number(cx, a), *nb = const_number(cx, b);
    if (na && nb) {
        ir_dtype dt = promote(a, b, op);
        lv *f = fold(cx, op == BIN_RSUB ? BIN_SUB : op, op == BIN_RSUB ? nb : na, op == BIN_RSUB ? na : nb, alpha);
        if (!f) return -1;
        if (f->kind == LV_BOOL) dt = IR_BOOL;
        ir_value *r = lb_const_scalar(cx, f->kind == LV_FLOAT ? f->f : (double)f->i, dt, NULL);
        const ir_type *shaped = a->kind == LV_TENSOR ? &a->v->type : NULL; /* keep the operands' [1, 1, ..] */
        if (b->kind == LV_TENSOR && (!shaped || b->v->type.rank > shaped->rank)) shaped = &b->v->type;
        if (r && shaped && shaped->rank > 0) r = lb_reshape(cx, r, shaped->rank, shaped->dims, "shaped");
        return r ? lower_out_tensor(cx, n, 0, r) : -1;
    }
    int scalar_result = a->kind != LV_TENSOR && b->kind != LV_TENSOR; /* run-time numbers */
    ir_dtype dt = promote(a, b, op);
    /* bool with bool stays bool in torch (add: or, mul: and, max / min, pow); computed on int32 */
    int bool_result = is_bool(a) && is_bool(b) &&
                      (op == BIN_ADD || op == BIN_MUL || op == BIN_MAX || op == BIN_MIN || op == BIN_FMAX || op == BIN_FMIN || op == BIN_POW);
    if (op == BIN_RSUB) { /* other - alpha * self */
        lv *t = a;
        a = b;
        b = t;
        op = BIN_SUB;
    }
    ir_value *x = operand(cx, a, dt, "x"), *y = NULL;
    if (!x) return -1;
    if (alpha != 1 && op == BIN_SUB && !(b->kind == LV_TENSOR || b->dyn)) {
        lv *sb = fold(cx, BIN_MUL, b, lv_float(cx, alpha), 1);
        y = operand(cx, sb, dt, "y");
    } else if (alpha != 1 && (b->kind == LV_TENSOR || b->dyn)) {
        ir_value *yb = operand(cx, b, dt, "y");
        ir_value *al = lb_const_scalar(cx, alpha, dt, "alpha");
        y = lb_binary(cx, IR_OP_MUL, yb, al, "scaled");
    } else if (alpha != 1) {
        lv *sb = fold(cx, BIN_MUL, b, lv_float(cx, alpha), 1);
        y = operand(cx, sb, dt, "y");
    } else {
        y = operand(cx, b, dt, "y");
    }
    if (!y) return -1;
    lv *ny = op == BIN_POW && ir_dtype_is_float(dt) ? const_number(cx, b) : NULL;
    double ey = ny ? (ny->kind == LV_FLOAT ? ny->f : (double)ny->i) : 0;
    if (ny && (ey == 0.5 || ey == -0.5) && !scalar_result) /* torch: sqrt / rsqrt (pow(-inf, 0.5) is NaN, not inf) */
        return lower_out_tensor(cx, n, 0, ey > 0 ? lb_unary(cx, IR_OP_SQRT, x, NULL) : rsqrt_of(cx, x));
    int composed = op == BIN_FMOD || op == BIN_ATAN2 || op == BIN_TRUNCDIV || op == BIN_FMAX || op == BIN_FMIN ||
                   (op == BIN_FLOORDIV && ir_dtype_is_float(dt));
    ir_value *r = composed ? composed_binary(cx, op, x, y) : lb_binary(cx, mil, x, y, NULL);
    if (r && bool_result) r = lb_cast(cx, r, IR_BOOL, "bool");
    if (!r) return -1;
    if (scalar_result) {
        lv *l = lv_new(cx, is_cmp(op) || bool_result ? LV_BOOL : ir_dtype_is_float(r->type.dtype) ? LV_FLOAT : LV_INT);
        if (!l) return -1;
        l->dyn = 1;
        l->v = r;
        return lower_out(cx, n, 0, l);
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* ---- unary ---- */
/* trunc(x) of a float tensor: ceil below zero, floor above. */
static ir_value *trunc_of(lower_ctx *cx, ir_value *x) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_value *z = lb_const_scalar(cx, 0, x->type.dtype, "zero");
    ir_value *neg = lb_binary(cx, IR_OP_LESS, x, z, "negative");
    ir_value *c = lb_unary(cx, IR_OP_CEIL, x, "ceil");
    ir_value *f = lb_unary(cx, IR_OP_FLOOR, x, "floor");
    return lb_select(cx, neg, c, f, NULL);
}

/* x (op) c for a number c in x's dtype. */
static ir_value *with_num(lower_ctx *cx, ir_opkind k, ir_value *x, double c, const char *suffix) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_value *v = lb_const_scalar(cx, c, x->type.dtype, "c");
    return lb_binary(cx, k, x, v, suffix);
}

/* The row's math on a compile-time number; 1 when it has none. */
static int fold_unary(lower_ctx *cx, const ts_node *n, const lower_row *row, const lv *a) {
    double x = a->kind == LV_FLOAT ? a->f : (double)a->i;
    int isf = a->kind == LV_FLOAT;
    if (row->sub == UN_NEG) return lower_out(cx, n, 0, isf ? lv_float(cx, -x) : lv_int(cx, -a->i));
    if (row->sub == UN_ABS) return lower_out(cx, n, 0, isf ? lv_float(cx, fabs(x)) : lv_int(cx, a->i < 0 ? -a->i : a->i));
    if (!row->fold) return 1;
    if (row->flags & LR_FOLD_INT) return lower_out(cx, n, 0, lv_int(cx, (int64_t)row->fold(x)));
    if (row->sub == UN_ROUND && !isf) return lower_out(cx, n, 0, lv_int(cx, a->i));
    return lower_out(cx, n, 0, lv_float(cx, row->fold(x)));
}

/* The row's .sub: UN_MIL / UN_ABS is its .mil on the tensor, the others compose; .flags say what ints do
 * (LR_KEEPS_INT, LR_INT_IDENTITY) and .fold what a number known at conversion time gives. */
int lower_unary_op(lower_ctx *cx, const ts_node *n) {
    const lower_row *row = cx->row;
    lv *a = lower_in(cx, n, 0);
    if (!a) return -1;
    if (is_num(a) && !a->dyn) { /* math on a compile-time number */
        int rc = fold_unary(cx, n, row, a);
        return rc == 1 ? lower_fail(cx, "not supported on a number") : rc;
    }
    ir_value *x = lb_as_tensor(cx, a, IR_DT_INVALID);
    if (!x) return -1;
    ir_dtype dt = x->type.dtype;
    int keeps_int = (row->flags & LR_KEEPS_INT) != 0;
    if ((row->flags & LR_INT_IDENTITY) && !ir_dtype_is_float(dt)) return lower_out(cx, n, 0, a);
    if (!keeps_int && !ir_dtype_is_float(dt)) {
        if (!(x = lb_cast(cx, x, IR_FP32, "float"))) return -1;
        dt = IR_FP32;
    }
    if (keeps_int && dt == IR_BOOL) {
        if (!(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
        dt = IR_INT32;
    }
    ir_value *r;
    switch (row->sub) {
    case UN_NEG: r = with_num(cx, IR_OP_MUL, x, -1, NULL); break;
    case UN_RECIPROCAL: r = lb_binary(cx, IR_OP_REAL_DIV, lb_const_scalar(cx, 1, dt, "one"), x, NULL); break;
    case UN_TRUNC: r = trunc_of(cx, x); break;
    case UN_RSQRT: r = rsqrt_of(cx, x); break;
    case UN_LOGBASE: r = with_num(cx, IR_OP_MUL, lb_unary(cx, IR_OP_LOG, x, "log"), 1.0 / log(row->c), NULL); break;
    case UN_LOG1P: r = lb_log1p(cx, x, NULL); break; /* accurate near 0 (math.c) */
    case UN_EXPM1: { /* 2 exp(x/2) sinh(x/2): no cancellation near 0, no overflow */
        ir_value *h = with_num(cx, IR_OP_MUL, x, 0.5, "half");
        r = with_num(cx, IR_OP_MUL, lb_binary(cx, IR_OP_MUL, lb_unary(cx, IR_OP_EXP, h, "exp"), lb_unary(cx, IR_OP_SINH, h, "sinh"), "prod"), 2, NULL);
        break;
    }
    case UN_ISNAN: r = lb_binary(cx, IR_OP_NOT_EQUAL, x, x, NULL); break;
    case UN_ISINF: r = with_num(cx, IR_OP_EQUAL, lb_unary(cx, IR_OP_ABS, x, "abs"), INFINITY, NULL); break;
    case UN_ISFINITE: r = with_num(cx, IR_OP_EQUAL, lb_binary(cx, IR_OP_SUB, x, x, "diff"), 0, NULL); break; /* x - x is 0 unless inf / nan */
    case UN_ROUND:
        if (n->nin > 1 && !lower_is_none(cx, n, 1)) { /* round(x, decimals) */
            int64_t d;
            if (lower_int_in(cx, n, 1, &d)) return -1;
            double sc = pow(10.0, (double)d);
            r = with_num(cx, IR_OP_REAL_DIV, lb_unary(cx, IR_OP_ROUND, with_num(cx, IR_OP_MUL, x, sc, "scaled"), "round"), sc, NULL);
            break;
        }
        /* fall through */
    default: r = lb_unary(cx, row->mil, x, NULL); break;
    }
    if (!r) return -1;
    if (a->dyn) { /* a run-time number: math.ceil / floor / round of a float give an int */
        if (n->out[0]->ty == TS_TY_INT && ir_dtype_is_float(r->type.dtype) && !(r = lb_cast(cx, r, IR_INT32, "int")))
            return -1;
        lv *l = lv_new(cx, ir_dtype_is_float(r->type.dtype) ? LV_FLOAT : r->type.dtype == IR_BOOL ? LV_BOOL : LV_INT);
        if (!l) return -1;
        l->dyn = 1;
        l->v = r;
        return lower_out(cx, n, 0, l);
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* nan_to_num(x, nan=0, posinf=None, neginf=None): None means the dtype's largest finite value. */
int lower_nan_to_num(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    if (!ir_dtype_is_float(x->type.dtype)) return lower_out_tensor(cx, n, 0, x);
    double big = x->type.dtype == IR_FP16 ? 65504.0 : 3.4028234663852886e38, v[3] = {0, big, -big};
    int dflt[3];
    for (int i = 0; i < 3; i++) {
        dflt[i] = n->nin <= i + 1 || lower_is_none(cx, n, i + 1);
        if (!dflt[i] && lower_float_in(cx, n, i + 1, &v[i])) return -1;
    }
    ir_dtype dt = x->type.dtype;
    /* select(cond[k], value[k], ...) in turn; the last select is the output */
    ir_value *cond[5], *val[5];
    double ovf[5] = {0}; /* +-inf: the condition is r == ovf[k] */
    int k = 0;
    cond[k] = lb_binary(cx, IR_OP_NOT_EQUAL, x, x, "isnan");
    val[k++] = lb_const_scalar(cx, v[0], dt, "nan");
    cond[k] = with_num(cx, IR_OP_EQUAL, x, INFINITY, "isposinf");
    val[k++] = lb_const_scalar(cx, v[1], dt, "posinf");
    cond[k] = with_num(cx, IR_OP_EQUAL, x, -INFINITY, "isneginf");
    val[k++] = lb_const_scalar(cx, v[2], dt, "neginf");
    /* The default replacements are the dtype's largest finite values: under fp16 compute precision
     * fp32's overflow to +-inf, and only they can be infinite after the selects above, so those become
     * fp16's (torch's for half). These selects never fire in fp32. */
    for (int i = 1; i < 3 && dt == IR_FP32; i++)
        if (dflt[i]) {
            cond[k] = NULL;
            ovf[k] = i == 1 ? INFINITY : -INFINITY;
            val[k++] = lb_const_scalar(cx, i == 1 ? 65504.0 : -65504.0, dt, i == 1 ? "half_max" : "half_min");
        }
    ir_value *r = x;
    for (int i = 0; i < k && r; i++) {
        ir_value *c = ovf[i] != 0 ? with_num(cx, IR_OP_EQUAL, r, ovf[i], "overflow") : cond[i];
        r = lb_select(cx, c, val[i], r, i == k - 1 ? NULL : "replaced");
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* lerp(start, end, weight), torch's two forms: start + weight * (end - start) for |weight| < 0.5,
 * else end - (end - start) * (1 - weight) (they differ with infinities, and in rounding); weight a
 * number (the form picked here) or a tensor (a select). */
int lower_lerp(lower_ctx *cx, const ts_node *n) {
    ir_value *a = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!a) return -1;
    ir_dtype dt = ir_dtype_is_float(a->type.dtype) ? a->type.dtype : IR_FP32;
    if (a->type.dtype != dt && !(a = lb_cast(cx, a, dt, "start"))) return -1;
    ir_value *b = lower_tensor_in(cx, n, 1, dt), *w = lower_tensor_in(cx, n, 2, dt);
    if (!b || !w) return -1;
    if (b->type.dtype != dt) b = lb_cast(cx, b, dt, "end");
    if (w->type.dtype != dt) w = lb_cast(cx, w, dt, "weight");
    ir_value *d = lb_binary(cx, IR_OP_SUB, b, a, "diff");
    int small = 0, wnum = w && w->konst && w->konst->count == 1;
    if (wnum) small = fabs(ir_const_get_f64(w->konst, 0)) < 0.5;
    ir_value *lo = NULL, *hi = NULL;
    if (!wnum || small) lo = lb_binary(cx, IR_OP_ADD, a, lb_binary(cx, IR_OP_MUL, w, d, "step"), "from_start");
    if (!wnum || !small) {
        ir_value *rest = lb_affine(cx, w, -1, 1); /* 1 - weight */
        hi = lb_binary(cx, IR_OP_SUB, b, lb_binary(cx, IR_OP_MUL, d, rest, "back"), "from_end");
    }
    if (wnum) return lower_out_tensor(cx, n, 0, small ? lo : hi);
    ir_value *near = with_num(cx, IR_OP_LESS, lb_unary(cx, IR_OP_ABS, w, "absw"), 0.5, "near_start");
    return lower_out_tensor(cx, n, 0, lb_select(cx, near, lo, hi, NULL));
}

/* ---- clamp ---- */
/* One bound: tensor, number, or None (has = 0). */
static int bound(lower_ctx *cx, const ts_node *n, int i, int *has, lv **out) {
    *has = 0;
    *out = NULL;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    if (l->kind != LV_TENSOR && !is_num(l)) return lower_fail(cx, "clamp bound is a %s", lv_kind_name(l->kind));
    *has = 1;
    *out = l;
    return 0;
}

int lower_clamp(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    int hlo, hhi;
    lv *lo, *hi;
    if (cx->row->sub == CLAMP_MIN) {
        if (bound(cx, n, 1, &hlo, &lo)) return -1;
        hhi = 0;
        hi = NULL;
    } else if (cx->row->sub == CLAMP_MAX) {
        if (bound(cx, n, 1, &hhi, &hi)) return -1;
        hlo = 0;
        lo = NULL;
    } else if (bound(cx, n, 1, &hlo, &lo) || bound(cx, n, 2, &hhi, &hi)) {
        return -1;
    }
    ir_dtype dt = x->type.dtype;
    int lo_static = hlo && lo->kind != LV_TENSOR && !lo->dyn, hi_static = hhi && hi->kind != LV_TENSOR && !hi->dyn;
    double vlo = lo_static ? (lo->kind == LV_FLOAT ? lo->f : (double)lo->i) : 0;
    double vhi = hi_static ? (hi->kind == LV_FLOAT ? hi->f : (double)hi->i) : 0;
    ir_value *r;
    if (lo_static && hi_static && ir_dtype_is_float(dt)) {
        ir_op *op;
        if (vlo == 0 && vhi == 6) {
            r = lb_unary(cx, IR_OP_RELU6, x, NULL);
        } else if (!(op = lb_op(cx, IR_OP_CLIP, NULL)) || ir_op_set_input(op, "x", x) ||
                   lb_param_f(cx, op, "alpha", vlo, dt) || lb_param_f(cx, op, "beta", vhi, dt)) {
            return -1;
        } else {
            r = lb_finish(cx, op);
        }
        return lower_out_tensor(cx, n, 0, r);
    }
    if (!hlo && !hhi) return lower_out_tensor(cx, n, 0, x);
    if (lo_static && !hhi && vlo == 0 && ir_dtype_is_float(dt)) return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_RELU, x, NULL));
    r = x;
    if (hlo) {
        ir_value *b = operand(cx, lo, dt, "min");
        if (!b || !(r = lb_binary(cx, IR_OP_MAXIMUM, r, b, hhi ? "lo" : NULL))) return -1;
    }
    if (hhi) {
        ir_value *b = operand(cx, hi, dt, "max");
        if (!b || !(r = lb_binary(cx, IR_OP_MINIMUM, r, b, NULL))) return -1;
    }
    return lower_out_tensor(cx, n, 0, r);
}
