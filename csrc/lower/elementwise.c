/* elementwise.c: binary arithmetic / comparison (tensors, scalars, alpha, in-place
 * variants, int arithmetic on compile-time numbers), unary math, clamp. */
#include "lower/lower_int.h"

#include <math.h>
#include <string.h>

typedef enum { B_ADD, B_SUB, B_RSUB, B_MUL, B_DIV, B_FLOORDIV, B_MOD, B_POW, B_MAX, B_MIN, B_EQ, B_NE, B_LT, B_LE, B_GT, B_GE } binop;

static int parse_binop(const char *kind, binop *op) {
    static const struct { const char *name; binop op; } tab[] = {
        {"add", B_ADD}, {"sub", B_SUB}, {"rsub", B_RSUB}, {"mul", B_MUL}, {"div", B_DIV}, {"true_divide", B_DIV},
        {"floor_divide", B_FLOORDIV}, {"floordiv", B_FLOORDIV}, {"remainder", B_MOD}, {"pow", B_POW},
        {"maximum", B_MAX}, {"minimum", B_MIN}, {"eq", B_EQ}, {"ne", B_NE}, {"lt", B_LT}, {"le", B_LE},
        {"gt", B_GT}, {"ge", B_GE},
    };
    const char *k = strstr(kind, "::");
    k = k ? k + 2 : kind;
    size_t len = strlen(k);
    if (len && k[len - 1] == '_') len--;
    for (int i = 0; i < PC_ARRAY_LEN(tab); i++)
        if (strlen(tab[i].name) == len && strncmp(tab[i].name, k, len) == 0) {
            *op = tab[i].op;
            return 0;
        }
    return -1;
}

static int is_cmp(binop op) { return op >= B_EQ; }
static int is_num(const lv *l) { return l->kind == LV_INT || l->kind == LV_FLOAT || l->kind == LV_BOOL; }

static ir_opkind ir_kind_of(binop op) {
    switch (op) {
    case B_ADD: return IR_OP_ADD;
    case B_SUB:
    case B_RSUB: return IR_OP_SUB;
    case B_MUL: return IR_OP_MUL;
    case B_DIV: return IR_OP_REAL_DIV;
    case B_FLOORDIV: return IR_OP_FLOOR_DIV;
    case B_MOD: return IR_OP_MOD;
    case B_POW: return IR_OP_POW;
    case B_MAX: return IR_OP_MAXIMUM;
    case B_MIN: return IR_OP_MINIMUM;
    case B_EQ: return IR_OP_EQUAL;
    case B_NE: return IR_OP_NOT_EQUAL;
    case B_LT: return IR_OP_LESS;
    case B_LE: return IR_OP_LESS_EQUAL;
    case B_GT: return IR_OP_GREATER;
    case B_GE: return IR_OP_GREATER_EQUAL;
    }
    return IR_OP_ADD;
}

/* Both operands compile-time numbers: compute (Python/TorchScript semantics). */
static lv *fold(lower_ctx *cx, binop op, const lv *a, const lv *b, double alpha) {
    int fl = a->kind == LV_FLOAT || b->kind == LV_FLOAT || op == B_DIV;
    double x = a->kind == LV_FLOAT ? a->f : (double)a->i, y = b->kind == LV_FLOAT ? b->f : (double)b->i;
    int64_t xi = a->i, yi = b->i;
    switch (op) {
    case B_ADD: return fl ? lv_float(cx, x + alpha * y) : lv_int(cx, xi + (int64_t)alpha * yi);
    case B_SUB: return fl ? lv_float(cx, x - alpha * y) : lv_int(cx, xi - (int64_t)alpha * yi);
    case B_RSUB: return fl ? lv_float(cx, y - alpha * x) : lv_int(cx, yi - (int64_t)alpha * xi);
    case B_MUL: return fl ? lv_float(cx, x * y) : lv_int(cx, xi * yi);
    case B_DIV:
        if (y == 0) break;
        return lv_float(cx, x / y);
    case B_FLOORDIV:
        if (y == 0) break;
        if (fl) return lv_float(cx, floor(x / y));
        return lv_int(cx, xi / yi - ((xi % yi != 0) && ((xi < 0) != (yi < 0))));
    case B_MOD:
        if (y == 0) break;
        if (fl) return lv_float(cx, x - floor(x / y) * y);
        return lv_int(cx, ((xi % yi) + yi) % yi);
    case B_POW:
        if (!fl && yi >= 0) {
            int64_t r = 1;
            for (int64_t k = 0; k < yi && k < 64; k++) r *= xi;
            return lv_int(cx, r);
        }
        return lv_float(cx, pow(x, y));
    case B_MAX: return fl ? lv_float(cx, x > y ? x : y) : lv_int(cx, xi > yi ? xi : yi);
    case B_MIN: return fl ? lv_float(cx, x < y ? x : y) : lv_int(cx, xi < yi ? xi : yi);
    case B_EQ: return lv_bool(cx, x == y);
    case B_NE: return lv_bool(cx, x != y);
    case B_LT: return lv_bool(cx, x < y);
    case B_LE: return lv_bool(cx, x <= y);
    case B_GT: return lv_bool(cx, x > y);
    case B_GE: return lv_bool(cx, x >= y);
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
    if (!ir_dtype_is_float(t) && (float_num || op == B_DIV)) t = IR_FP32;
    if (t == IR_BOOL && !is_cmp(op)) t = IR_INT32;
    return t;
}

static ir_value *operand(lower_ctx *cx, lv *l, ir_dtype dt, const char *suffix) {
    if (l->kind == LV_TENSOR || l->dyn) {
        if (l->v->type.dtype == dt) return l->v;
        return lower_cast(cx, l->v, dt, suffix);
    }
    if (!is_num(l)) {
        lower_fail(cx, "operand is a %s", lv_kind_name(l->kind));
        return NULL;
    }
    return lower_const_scalar(cx, l->kind == LV_FLOAT ? l->f : (double)l->i, dt, suffix);
}

int lower_binary_op(lower_ctx *cx, const ts_node *n) {
    binop op;
    if (parse_binop(n->kind, &op)) return lower_fail(cx, "internal: unknown binary op");
    lv *a = lower_in(cx, n, 0), *b = lower_in(cx, n, 1);
    if (!a || !b) return -1;
    double alpha = 1;
    if ((op == B_ADD || op == B_SUB || op == B_RSUB) && n->nin >= 3 && lower_float_in(cx, n, 2, &alpha)) return -1;
    if (op == B_DIV && n->nin >= 3 && !lower_is_none(cx, n, 2)) {
        lv *m = lower_in(cx, n, 2);
        if (!m || m->kind != LV_STR) return lower_fail(cx, "rounding_mode must be a str");
        if (strcmp(m->s, "floor") == 0) op = B_FLOORDIV;
        else return lower_fail(cx, "rounding_mode '%s' is not supported (only None and 'floor')", m->s);
    }
    /* list concatenation (aten::add.t) */
    if (op == B_ADD && (a->kind == LV_LIST || a->kind == LV_TUPLE) && a->kind == b->kind) {
        lv *l = lv_new(cx, a->kind);
        if (!l) return -1;
        l->n = a->n + b->n;
        l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(l->n ? l->n : 1));
        if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int i = 0; i < a->n; i++) l->items[i] = a->items[i];
        for (int i = 0; i < b->n; i++) l->items[a->n + i] = b->items[i];
        return lower_out(cx, n, 0, l);
    }
    if (!(a->kind == LV_TENSOR || is_num(a)) || !(b->kind == LV_TENSOR || is_num(b)))
        return lower_fail(cx, "operands are %s and %s", lv_kind_name(a->kind), lv_kind_name(b->kind));
    if (a->kind != LV_TENSOR && b->kind != LV_TENSOR && !a->dyn && !b->dyn) return lower_out(cx, n, 0, fold(cx, op, a, b, alpha));
    int scalar_result = a->kind != LV_TENSOR && b->kind != LV_TENSOR; /* run-time numbers */
    ir_dtype dt = promote(a, b, op);
    if (op == B_RSUB) { /* other - alpha * self */
        lv *t = a;
        a = b;
        b = t;
        op = B_SUB;
    }
    ir_value *x = operand(cx, a, dt, "x"), *y = NULL;
    if (!x) return -1;
    if (alpha != 1 && op == B_SUB && !(b->kind == LV_TENSOR || b->dyn)) {
        lv *sb = fold(cx, B_MUL, b, lv_float(cx, alpha), 1);
        y = sb ? operand(cx, sb, dt, "y") : NULL;
    } else if (alpha != 1 && (b->kind == LV_TENSOR || b->dyn)) {
        ir_value *yb = operand(cx, b, dt, "y");
        ir_value *al = yb ? lower_const_scalar(cx, alpha, dt, "alpha") : NULL;
        y = al ? lower_binary(cx, IR_OP_MUL, yb, al, "scaled") : NULL;
    } else if (alpha != 1) {
        lv *sb = fold(cx, B_MUL, b, lv_float(cx, alpha), 1);
        y = sb ? operand(cx, sb, dt, "y") : NULL;
    } else {
        y = operand(cx, b, dt, "y");
    }
    if (!y) return -1;
    ir_value *r = lower_binary(cx, ir_kind_of(op), x, y, NULL);
    if (!r) return -1;
    if (scalar_result) {
        lv *l = lv_new(cx, is_cmp(op) ? LV_BOOL : ir_dtype_is_float(r->type.dtype) ? LV_FLOAT : LV_INT);
        if (!l) return -1;
        l->dyn = 1;
        l->v = r;
        return lower_out(cx, n, 0, l);
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* ---- unary ---- */
int lower_unary_op(lower_ctx *cx, const ts_node *n) {
    const char *k = n->kind + 6;
    lv *a = lower_in(cx, n, 0);
    if (!a) return -1;
    if (is_num(a) && !a->dyn) { /* math on a compile-time number */
        double x = a->kind == LV_FLOAT ? a->f : (double)a->i, r;
        if (strcmp(k, "neg") == 0) return lower_out(cx, n, 0, a->kind == LV_FLOAT ? lv_float(cx, -x) : lv_int(cx, -a->i));
        if (strcmp(k, "abs") == 0) return lower_out(cx, n, 0, a->kind == LV_FLOAT ? lv_float(cx, fabs(x)) : lv_int(cx, a->i < 0 ? -a->i : a->i));
        if (strcmp(k, "floor") == 0) return lower_out(cx, n, 0, lv_int(cx, (int64_t)floor(x)));
        if (strcmp(k, "ceil") == 0) return lower_out(cx, n, 0, lv_int(cx, (int64_t)ceil(x)));
        if (strcmp(k, "sqrt") == 0) r = sqrt(x);
        else if (strcmp(k, "exp") == 0) r = exp(x);
        else if (strcmp(k, "log") == 0) r = log(x);
        else if (strcmp(k, "sin") == 0) r = sin(x);
        else if (strcmp(k, "cos") == 0) r = cos(x);
        else return lower_fail(cx, "not supported on a number");
        return lower_out(cx, n, 0, lv_float(cx, r));
    }
    ir_value *x = lower_as_tensor(cx, a, IR_DT_INVALID);
    if (!x) return -1;
    ir_dtype dt = x->type.dtype;
    int needs_float = strcmp(k, "neg") != 0 && strcmp(k, "abs") != 0 && strcmp(k, "square") != 0;
    if (needs_float && !ir_dtype_is_float(dt)) {
        if (strcmp(k, "floor") == 0 || strcmp(k, "ceil") == 0) return lower_out(cx, n, 0, a);
        if (!(x = lower_cast(cx, x, IR_FP32, "float"))) return -1;
        dt = IR_FP32;
    }
    ir_value *r;
    if (strcmp(k, "neg") == 0) {
        ir_value *m = lower_const_scalar(cx, -1, dt, "minus_one");
        r = m ? lower_binary(cx, IR_OP_MUL, x, m, NULL) : NULL;
    } else if (strcmp(k, "reciprocal") == 0) {
        ir_value *one = lower_const_scalar(cx, 1, dt, "one");
        r = one ? lower_binary(cx, IR_OP_REAL_DIV, one, x, NULL) : NULL;
    } else {
        static const struct { const char *name; ir_opkind k; } tab[] = {
            {"sqrt", IR_OP_SQRT}, {"rsqrt", IR_OP_RSQRT}, {"exp", IR_OP_EXP},   {"log", IR_OP_LOG},
            {"abs", IR_OP_ABS},   {"floor", IR_OP_FLOOR}, {"ceil", IR_OP_CEIL}, {"sin", IR_OP_SIN},
            {"cos", IR_OP_COS},   {"erf", IR_OP_ERF},    {"square", IR_OP_SQUARE},
        };
        int i = 0;
        while (i < PC_ARRAY_LEN(tab) && strcmp(tab[i].name, k) != 0) i++;
        if (i == PC_ARRAY_LEN(tab)) return lower_fail(cx, "internal: unknown unary op");
        r = lower_unary(cx, tab[i].k, x, NULL);
    }
    if (!r) return -1;
    if (a->dyn) {
        lv *l = lv_new(cx, ir_dtype_is_float(r->type.dtype) ? LV_FLOAT : LV_INT);
        if (!l) return -1;
        l->dyn = 1;
        l->v = r;
        return lower_out(cx, n, 0, l);
    }
    return lower_out_tensor(cx, n, 0, r);
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
    const char *k = n->kind + 6;
    if (strcmp(k, "clamp_min") == 0) {
        if (bound(cx, n, 1, &hlo, &lo)) return -1;
        hhi = 0;
        hi = NULL;
    } else if (strcmp(k, "clamp_max") == 0) {
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
            r = lower_unary(cx, IR_OP_RELU6, x, NULL);
        } else if (!(op = lower_op(cx, IR_OP_CLIP, NULL)) || ir_op_set_input(op, "x", x) ||
                   lower_param_f(cx, op, "alpha", vlo, dt) || lower_param_f(cx, op, "beta", vhi, dt)) {
            return -1;
        } else {
            r = lower_finish(cx, op);
        }
        return lower_out_tensor(cx, n, 0, r);
    }
    if (!hlo && !hhi) return lower_out_tensor(cx, n, 0, x);
    if (lo_static && !hhi && vlo == 0 && ir_dtype_is_float(dt)) return lower_out_tensor(cx, n, 0, lower_unary(cx, IR_OP_RELU, x, NULL));
    r = x;
    if (hlo) {
        ir_value *b = operand(cx, lo, dt, "min");
        if (!b || !(r = lower_binary(cx, IR_OP_MAXIMUM, r, b, hhi ? "lo" : NULL))) return -1;
    }
    if (hhi) {
        ir_value *b = operand(cx, hi, dt, "max");
        if (!b || !(r = lower_binary(cx, IR_OP_MINIMUM, r, b, NULL))) return -1;
    }
    return lower_out_tensor(cx, n, 0, r);
}
