/* script.c: what scripted code (torch.jit.script, and scripted torch.nn modules such as LSTM, LSTMCell and
 * MultiheadAttention) asks of its environment and of Python's builtins: grad / autocast / nested-tensor
 * queries (answered for inference: a converted model records no gradients, runs no autocast and holds no
 * nested tensors), `x.device.type`, `in` on lists, and the index arithmetic of `for i in range(a, b, s)`. */
#include "lower/carry.h"

#include <string.h>

/* is_grad_enabled(), is_autocast_enabled(), prim::requires_grad(t), prim::is_nested(t), ...: false. */
int lower_query_false(lower_ctx *cx, const ts_node *n) {
    return lower_out(cx, n, 0, lv_bool(cx, 0));
}

/* prim::type(device) -> "cpu" (the type part of "cpu:0"). */
int lower_device_type(lower_ctx *cx, const ts_node *n) {
    lv *d = lower_in(cx, n, 0);
    if (!d) return -1;
    if (d->kind != LV_DEVICE && d->kind != LV_STR) return lower_fail(cx, "expected a device, got %s", lv_kind_name(d->kind));
    const char *s = d->s ? d->s : "cpu";
    const char *colon = strchr(s, ':');
    lv *r = lv_new(cx, LV_STR);
    if (!r || !(r->s = colon ? pc_strndup(cx->p->arena, s, (size_t)(colon - s)) : s)) return -1;
    return lower_out(cx, n, 0, r);
}

static int lv_equal(const lv *a, const lv *b) {
    if ((a->kind == LV_STR || a->kind == LV_DEVICE) && (b->kind == LV_STR || b->kind == LV_DEVICE))
        return a->s && b->s && strcmp(a->s, b->s) == 0;
    if (a->kind == LV_NONE || b->kind == LV_NONE) return a->kind == b->kind;
    double x = a->kind == LV_FLOAT ? a->f : (double)a->i, y = b->kind == LV_FLOAT ? b->f : (double)b->i;
    return x == y;
}

static int is_static_scalar(const lv *l) {
    return !l->dyn && (l->kind == LV_INT || l->kind == LV_FLOAT || l->kind == LV_BOOL || l->kind == LV_STR ||
                       l->kind == LV_DEVICE || l->kind == LV_NONE);
}

/* eq / ne of two lists (or tuples) of values known at conversion time. */
int lower_list_equal(lower_ctx *cx, const ts_node *n, lv *a, lv *b, int negate) {
    if (a->dyn || b->dyn) return lower_fail(cx, "comparing lists known only at run time");
    int same = a->n == b->n;
    for (int i = 0; i < a->n && same; i++) {
        if (!is_static_scalar(a->items[i]) || !is_static_scalar(b->items[i]))
            return lower_fail(cx, "comparing lists whose items are known only at run time");
        same = lv_equal(a->items[i], b->items[i]);
    }
    return lower_out(cx, n, 0, lv_bool(cx, negate ? !same : same));
}

/* aten::__contains__(list, x): `x in [..]` on values known at conversion time. */
int lower_contains(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0), *x = lower_in(cx, n, 1);
    if (!l || !x) return -1;
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->dyn || !is_static_scalar(x))
        return lower_fail(cx, "`in` needs a list and a value known at conversion time");
    int found = 0;
    for (int i = 0; i < l->n && !found; i++) {
        if (!is_static_scalar(l->items[i])) return lower_fail(cx, "`in` on a list of values known only at run time");
        found = lv_equal(l->items[i], x);
    }
    return lower_out(cx, n, 0, lv_bool(cx, found));
}

/* An int operand as a rank-0 int32 tensor. */
static ir_value *int_tensor(lower_ctx *cx, lv *l) {
    return lb_as_tensor(cx, l, IR_INT32);
}

static int out_dyn_int(lower_ctx *cx, const ts_node *n, ir_value *v) { return lower_out(cx, n, 0, lv_dyn(cx, LV_INT, v)); }

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

/* aten::__range_length(lo, hi, step): how many times `for i in range(lo, hi, step)` runs. */
int lower_range_length(lower_ctx *cx, const ts_node *n) {
    lv *lo = lower_in(cx, n, 0), *hi = lower_in(cx, n, 1), *st = lower_in(cx, n, 2);
    if (!lo || !hi || !st) return -1;
    if (st->dyn || st->kind != LV_INT) return lower_fail(cx, "range() needs a step known at conversion time");
    int64_t s = st->i;
    if (s == 0) return lower_fail(cx, "range() step must not be zero");
    if (!lo->dyn && !hi->dyn) {
        int64_t len = s > 0 ? floor_div(hi->i - lo->i + s - 1, s) : floor_div(lo->i - hi->i - s - 1, -s);
        return lower_out(cx, n, 0, lv_int(cx, len < 0 ? 0 : len));
    }
    /* (hi - lo + s - 1) // s for s > 0, (lo - hi - s - 1) // -s for s < 0, at least 0 */
    ir_value *a = int_tensor(cx, s > 0 ? hi : lo), *b = int_tensor(cx, s > 0 ? lo : hi);
    ir_value *d = lb_binary(cx, IR_OP_SUB, a, b, "span");
    int64_t as = s > 0 ? s : -s;
    d = lb_scalar_op(cx, IR_OP_ADD, d, (double)(as - 1));
    d = lb_scalar_op(cx, IR_OP_FLOOR_DIV, d, (double)as);
    d = lb_scalar_op(cx, IR_OP_MAXIMUM, d, 0);
    return out_dyn_int(cx, n, d);
}

/* aten::__derive_index(index, start, step): the loop variable start + index * step. */
int lower_derive_index(lower_ctx *cx, const ts_node *n) {
    lv *ix = lower_in(cx, n, 0), *start = lower_in(cx, n, 1), *st = lower_in(cx, n, 2);
    if (!ix || !start || !st) return -1;
    if (!ix->dyn && !start->dyn && !st->dyn) return lower_out(cx, n, 0, lv_int(cx, start->i + ix->i * st->i));
    ir_value *a = int_tensor(cx, ix), *b = int_tensor(cx, st);
    ir_value *m = lb_binary(cx, IR_OP_MUL, a, b, "offset");
    ir_value *s = int_tensor(cx, start);
    return out_dyn_int(cx, n, lb_binary(cx, IR_OP_ADD, s, m, NULL));
}

/* ---- bool logic on numbers: __and__ / __or__ / __xor__ of bools or ints, known at
 * conversion time or at run time (compare.c calls it for non-tensor operands) ---- */
int lower_logic_scalar(lower_ctx *cx, const ts_node *n) {
    lv *a = lower_in(cx, n, 0), *b = lower_in(cx, n, 1);
    if (!a || !b) return -1;
    int op = cx->row->sub == LOGIC_AND ? 0 : cx->row->sub == LOGIC_OR ? 1 : 2; /* lower_logical's row */
    if (carry_is_num(a) && carry_is_num(b) && !a->dyn && !b->dyn) {
        if (a->kind == LV_FLOAT || b->kind == LV_FLOAT) return lower_fail(cx, "bitwise op on floats");
        int64_t x = a->i, y = b->i, r = op == 0 ? (x & y) : op == 1 ? (x | y) : (x ^ y);
        return lower_out(cx, n, 0, (a->kind == LV_BOOL && b->kind == LV_BOOL) ? lv_bool(cx, (int)r) : lv_int(cx, r));
    }
    int logical = !(cx->row->flags & LR_BITWISE);
    ir_value *x = lb_as_tensor(cx, a, IR_DT_INVALID), *y = lb_as_tensor(cx, b, IR_DT_INVALID);
    if (!y) return -1;
    if (!logical && (x->type.dtype != IR_BOOL || y->type.dtype != IR_BOOL))
        return lower_fail(cx, "bitwise ops on integer tensors have no Core ML op (only bools)");
    if (x->type.dtype != IR_BOOL && !(x = lb_cast(cx, x, IR_BOOL, "bool"))) return -1;
    if (y->type.dtype != IR_BOOL && !(y = lb_cast(cx, y, IR_BOOL, "bool"))) return -1;
    ir_value *r = lb_binary(cx, op == 0 ? IR_OP_LOGICAL_AND : op == 1 ? IR_OP_LOGICAL_OR : IR_OP_NOT_EQUAL, x, y, NULL);
    if (!r) return -1;
    if (a->kind != LV_TENSOR && b->kind != LV_TENSOR) return lower_out(cx, n, 0, carry_dyn_lv(cx, LV_BOOL, 0, r));
    return lower_out_tensor(cx, n, 0, r);
}

/* ---- warnings, uninitialized values, exception messages ---- */
int lower_format(lower_ctx *cx, const ts_node *n) {
    lv *l = lv_new(cx, LV_STR);
    if (!l) return -1;
    l->s = "<formatted message>";
    return lower_out(cx, n, 0, l);
}

int lower_ignore(lower_ctx *cx, const ts_node *n) {
    for (int i = 0; i < n->nout; i++)
        if (lower_out(cx, n, i, lv_none(cx))) return -1;
    return 0;
}

int lower_uninitialized(lower_ctx *cx, const ts_node *n) { return lower_out(cx, n, 0, lv_none(cx)); }
