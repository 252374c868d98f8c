/* compare.c: logic on tensors: logical_and/or/xor/not, bitwise ops on bools, where (3-arg),
 * masked_fill, any / all. Comparisons (eq, lt, ...) live with the binary ops in elementwise.c. */
#include "lower/build.h"

#include <string.h>

static int is_num(const lv *l) { return l->kind == LV_INT || l->kind == LV_FLOAT || l->kind == LV_BOOL; }

/* Input i as a bool tensor (numbers and other dtypes: != 0). */
static ir_value *bool_in(lower_ctx *cx, const ts_node *n, int i) {
    ir_value *x = lower_tensor_in(cx, n, i, IR_DT_INVALID);
    if (!x || x->type.dtype == IR_BOOL) return x;
    return lb_cast(cx, x, IR_BOOL, "bool");
}

/* Does broadcasting a and b already give cond's shape? Core ML's select takes its output
 * shape from a and b only, so a cond of a larger shape must be folded into a. */
static int covers(const ir_type *a, const ir_type *b, const ir_type *c) {
    if (c->rank > a->rank && c->rank > b->rank) return 0;
    for (int i = 1; i <= c->rank; i++) {
        int64_t cd = c->dims[c->rank - i];
        int64_t ad = i <= a->rank ? a->dims[a->rank - i] : 1, bd = i <= b->rank ? b->dims[b->rank - i] : 1;
        int64_t o = ad == 1 ? bd : ad;
        if (cd != 1 && cd != o) return 0;
    }
    return 1;
}

/* select(cond, a, b) whose output has the full broadcast shape of all three. */
static ir_value *select_full(lower_ctx *cx, ir_value *c, ir_value *a, ir_value *b, const char *suffix) {
    if (LB_SKIP(cx, c, a, b)) return NULL;
    if (!covers(&a->type, &b->type, &c->type)) { /* a + 0 * cond, in a's dtype (bool via int32) */
        ir_dtype dt = a->type.dtype == IR_BOOL ? IR_INT32 : a->type.dtype;
        ir_value *ai = dt == a->type.dtype ? a : lb_cast(cx, a, dt, "a_int");
        ir_value *cz = lb_cast(cx, c, dt, "cond_num");
        ir_value *z = lb_const_scalar(cx, 0, dt, "zero");
        ir_value *zc = lb_binary(cx, IR_OP_MUL, cz, z, "zeros");
        a = lb_binary(cx, IR_OP_ADD, ai, zc, "a_full");
        if (a && a->type.dtype != b->type.dtype) a = lb_cast(cx, a, b->type.dtype, "a_back");
        if (!a) return NULL;
    }
    return lb_select(cx, c, a, b, suffix);
}

/* a & b, a | b or a ^ b of int32 tensors (bools count as 0 / 1); Core ML has no bit operations. The 31
 * low bits of each operand come out as one trailing axis, mod(floor_div(x, 2^i), 2) (floor division
 * is an arithmetic shift, so negative values give their two's complement bits), are combined (a * b,
 * max, (a + b) mod 2) and summed back with their weights; the sign bit (x < 0) is combined alike and
 * weighs INT32_MIN. */
static ir_value *int_bitwise(lower_ctx *cx, const ts_node *n, int op) {
    ir_value *x[2], *bits[2], *sign[2];
    float w[31];
    for (int i = 0; i < 31; i++) w[i] = (float)((int64_t)1 << i);
    ir_value *weights = lb_const(cx, IR_INT32, 1, (int64_t[]){31}, w, "bit_weights");
    ir_value *two = lb_const_scalar(cx, 2, IR_INT32, "two"), *zero = lb_const_scalar(cx, 0, IR_INT32, "zero");
    for (int i = 0; i < 2; i++) {
        if (!weights || !two || !zero || !(x[i] = lower_tensor_in(cx, n, i, IR_INT32))) return NULL;
        if (x[i]->type.dtype != IR_INT32 && !(x[i] = lb_cast(cx, x[i], IR_INT32, "as_int"))) return NULL;
        ir_value *xe = lb_expand(cx, x[i], 1, (int64_t[]){x[i]->type.rank});
        ir_value *q = lb_binary(cx, IR_OP_FLOOR_DIV, xe, weights, "shifted");
        bits[i] = lb_binary(cx, IR_OP_MOD, q, two, "bits");
        sign[i] = lb_cast(cx, lb_binary(cx, IR_OP_LESS, x[i], zero, "negative"), IR_INT32, "sign_bit");
    }
    ir_value *rb, *rs;
    if (op == LOGIC_AND) {
        rb = lb_binary(cx, IR_OP_MUL, bits[0], bits[1], "and_bits");
        rs = lb_binary(cx, IR_OP_MUL, sign[0], sign[1], "and_sign");
    } else if (op == LOGIC_XOR) {
        rb = lb_binary(cx, IR_OP_MOD, lb_binary(cx, IR_OP_ADD, bits[0], bits[1], "bit_sum"), two, "xor_bits");
        rs = lb_binary(cx, IR_OP_MOD, lb_binary(cx, IR_OP_ADD, sign[0], sign[1], "sign_sum"), two, "xor_sign");
    } else {
        rb = lb_binary(cx, IR_OP_MAXIMUM, bits[0], bits[1], "or_bits");
        rs = lb_binary(cx, IR_OP_MAXIMUM, sign[0], sign[1], "or_sign");
    }
    if (!rb || !rs) return NULL;
    int ax = rb->type.rank - 1;
    ir_value *low = lb_reduce(cx, IR_OP_REDUCE_SUM, lb_binary(cx, IR_OP_MUL, rb, weights, "weighted"), 1, (int64_t[]){ax}, 0);
    ir_value *high = lb_binary(cx, IR_OP_MUL, rs, lb_const_scalar(cx, (double)INT32_MIN, IR_INT32, "int32_min"), "high");
    return lb_binary(cx, IR_OP_ADD, low, high, NULL);
}

/* logical_and / or / xor / not, and the bitwise forms on bools (&, |, ^, ~): the row's .sub is the
 * operator (LOGIC_*), LR_BITWISE the bitwise forms. */
int lower_logical(lower_ctx *cx, const ts_node *n) {
    if (n->nin >= 2 && cx->vals[n->in[0]->id] && cx->vals[n->in[1]->id] && cx->vals[n->in[0]->id]->kind != LV_TENSOR &&
        cx->vals[n->in[1]->id]->kind != LV_TENSOR)
        return lower_logic_scalar(cx, n); /* bools / ints of scripted code (script.c) */
    int op = cx->row->sub, bitwise = (cx->row->flags & LR_BITWISE) != 0;
    if (op == LOGIC_NOT) { /* logical_not, bitwise_not */
        ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
        if (!x) return -1;
        if (bitwise && x->type.dtype != IR_BOOL) { /* ~x == -x - 1 on ints */
            if (ir_dtype_is_float(x->type.dtype)) return lower_fail(cx, "bitwise_not of a float tensor");
            ir_value *m = lb_const_scalar(cx, -1, x->type.dtype, "minus_one");
            ir_value *neg = lb_binary(cx, IR_OP_MUL, x, m, "neg");
            return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_ADD, neg, m, NULL));
        }
        ir_value *b = x->type.dtype == IR_BOOL ? x : lb_cast(cx, x, IR_BOOL, "bool");
        return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_LOGICAL_NOT, b, NULL));
    }
    if (bitwise) { /* bools logically; integers bit by bit (int_bitwise) */
        int any_int = 0;
        for (int i = 0; i < 2; i++) {
            lv *l = lower_in(cx, n, i);
            if (!l) return -1;
            ir_dtype dt = l->kind == LV_TENSOR || l->dyn ? l->v->type.dtype : l->kind == LV_BOOL ? IR_BOOL : IR_INT32;
            if (ir_dtype_is_float(dt)) return lower_fail(cx, "%s on %s values: torch allows only integer and bool tensors", n->kind,
                                                         ir_dtype_name(dt));
            any_int |= dt != IR_BOOL;
        }
        if (any_int) return lower_out_tensor(cx, n, 0, int_bitwise(cx, n, op));
    }
    ir_value *a = bool_in(cx, n, 0), *b = bool_in(cx, n, 1), *r;
    if (op == LOGIC_AND) {
        r = lb_binary(cx, IR_OP_LOGICAL_AND, a, b, NULL);
    } else if (op == LOGIC_XOR) { /* (a or b) and not (a and b) */
        ir_value *o = lb_binary(cx, IR_OP_LOGICAL_OR, a, b, "or");
        ir_value *both = lb_binary(cx, IR_OP_LOGICAL_AND, a, b, "and");
        ir_value *nb = lb_unary(cx, IR_OP_LOGICAL_NOT, both, "nand");
        r = lb_binary(cx, IR_OP_LOGICAL_AND, o, nb, NULL);
    } else {
        r = lb_binary(cx, IR_OP_LOGICAL_OR, a, b, NULL);
    }
    return lower_out_tensor(cx, n, 0, r);
}

/* The dtype two value operands share (torch promotion, int64 as int32). */
static ir_dtype value_dtype(const lv *a, const lv *b) {
    const lv *ops[2] = {a, b};
    ir_dtype t[2];
    int float_num = 0;
    for (int i = 0; i < 2; i++) {
        const lv *l = ops[i];
        t[i] = l->kind == LV_TENSOR || l->dyn ? l->v->type.dtype : IR_DT_INVALID;
        if (t[i] == IR_DT_INVALID && l->kind == LV_FLOAT) float_num = 1;
    }
    if (ir_dtype_is_float(t[0]) || ir_dtype_is_float(t[1])) {
        if (ir_dtype_is_float(t[0]) && ir_dtype_is_float(t[1]) && t[0] != t[1]) return IR_FP32;
        return ir_dtype_is_float(t[0]) ? t[0] : t[1];
    }
    if (float_num) return IR_FP32;
    int nb[2];
    for (int i = 0; i < 2; i++) nb[i] = t[i] == IR_BOOL || (t[i] == IR_DT_INVALID && ops[i]->kind == LV_BOOL);
    if (nb[0] && nb[1]) return IR_BOOL;
    return IR_INT32;
}

static ir_value *value_in(lower_ctx *cx, lv *l, ir_dtype dt, const char *suffix) {
    if (LB_SKIP(cx, l)) return NULL;
    if (l->kind != LV_TENSOR && !is_num(l)) {
        lower_fail(cx, "expected a tensor or a number, got %s", lv_kind_name(l->kind));
        return NULL;
    }
    if (l->kind == LV_TENSOR || l->dyn) return l->v->type.dtype == dt ? l->v : lb_cast(cx, l->v, dt, suffix);
    return lb_const_scalar(cx, l->kind == LV_FLOAT ? l->f : (double)l->i, dt, suffix);
}

/* where(cond, a, b); the 1-arg form (indices of nonzero elements) is mask.c's. */
int lower_where(lower_ctx *cx, const ts_node *n) {
    if (n->nin < 3) return lower_nonzero_tuple(cx, n);
    ir_value *c = bool_in(cx, n, 0);
    lv *a = lower_in(cx, n, 1), *b = lower_in(cx, n, 2);
    if (!b) return -1;
    ir_dtype dt = value_dtype(a, b);
    ir_value *va = value_in(cx, a, dt, "a"), *vb = value_in(cx, b, dt, "b");
    return lower_out_tensor(cx, n, 0, select_full(cx, c, va, vb, NULL));
}

/* masked_fill(x, mask, value): value (a number or a one-element tensor) where mask is true. */
int lower_masked_fill(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *m = bool_in(cx, n, 1);
    lv *v = lower_in(cx, n, 2);
    if (!x || !v) return -1;
    ir_value *fill = value_in(cx, v, x->type.dtype, "value");
    if (!fill) return -1;
    if (fill->type.rank > 0) {
        if (ir_type_numel(&fill->type) != 1) return lower_fail(cx, "masked_fill value must have one element");
        if (!(fill = lb_reshape(cx, fill, 0, NULL, "value_scalar"))) return -1;
    }
    return lower_out_tensor(cx, n, 0, select_full(cx, m, fill, x, NULL));
}

/* any / all (x), (x, dim, keepdim), (x, dims, keepdim): reduce_max / reduce_min (the row's .mil) over
 * int32 truth values. */
int lower_any_all(lower_ctx *cx, const ts_node *n) {
    int is_any = cx->row->mil == IR_OP_REDUCE_MAX;
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if (l->kind == LV_LIST && !l->dyn) { /* any / all of a list of bools (Python's builtins) */
        int known = 1, acc = !is_any;
        for (int i = 0; i < l->n; i++) {
            lv *it = l->items[i];
            if (it->dyn || (it->kind != LV_BOOL && it->kind != LV_INT)) known = 0;
            else if (is_any ? it->i != 0 : it->i == 0) acc = is_any;
        }
        if (known || acc == is_any) return lower_out(cx, n, 0, lv_bool(cx, acc));
        ir_value *t = lb_as_tensor(cx, l, IR_BOOL), *xi = lb_cast(cx, t, IR_INT32, "int");
        int64_t ax = 0;
        ir_value *red = lb_reduce(cx, is_any ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MIN, xi, 1, &ax, 0);
        return lower_out(cx, n, 0, lv_dyn(cx, LV_BOOL, lb_cast(cx, red, IR_BOOL, NULL)));
    }
    ir_value *x = bool_in(cx, n, 0);
    if (!x) return -1;
    int rank = x->type.rank, nax = 0, keep = 0;
    int64_t axes[IR_MAX_RANK];
    if (n->nin > 1 && !lower_is_none(cx, n, 1)) {
        int64_t raw[IR_MAX_RANK];
        int cnt;
        if (lower_ints_in(cx, n, 1, raw, IR_MAX_RANK, &cnt)) return -1;
        for (int i = 0; i < cnt; i++) {
            int a;
            if (lower_axis(cx, raw[i], rank, &a)) return -1;
            axes[nax++] = a;
        }
        if (n->nin > 2 && lower_bool_in(cx, n, 2, &keep)) return -1;
    } else {
        for (nax = 0; nax < rank; nax++) axes[nax] = nax;
    }
    if (rank == 0) return lower_out_tensor(cx, n, 0, x);
    ir_value *xi = lb_cast(cx, x, IR_INT32, "int");
    ir_op *op = lb_op(cx, is_any ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MIN, "reduce");
    if (!op || ir_op_set_input(op, "x", xi) || lb_param_i32v(cx, op, "axes", nax, axes) ||
        lb_param_bool(cx, op, "keep_dims", keep))
        return -1;
    ir_value *r = lb_finish(cx, op);
    return lower_out_tensor(cx, n, 0, lb_cast(cx, r, IR_BOOL, NULL));
}
