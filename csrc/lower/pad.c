/* pad.c: constant_pad_nd, pad (constant / reflect / replicate / circular), reflection_pad1d/2d/3d,
 * replication_pad1d/2d/3d. torch pads list the LAST dim first as (left, right) pairs; negative
 * amounts crop. -> MIL pad (its pad list runs over the last dims, first dim first), slices for
 * crops, slices + concat for circular. A complex tensor (cplx.h) pads its pair tensor. */
#include "lower/cplx.h"

#include <string.h>

/* Crop negative amounts (slices), then pad the rest with MIL pad in `mode`. */
static ir_value *pad_nd(lower_ctx *cx, ir_value *x, int np, const int64_t *tp, const char *mode, double value) {
    if (LB_SKIP(cx, x)) return NULL;
    int r = x->type.rank, nd = np / 2;
    if (np % 2 || nd > r) {
        lower_fail(cx, "pad of %d values for a rank-%d tensor", np, r);
        return NULL;
    }
    int64_t mp[2 * IR_MAX_RANK];
    int any = 0;
    for (int i = 0; i < nd; i++) { /* torch pair i is dim r-1-i */
        int d = r - 1 - i;
        int64_t lo = tp[2 * i], hi = tp[2 * i + 1];
        if (lo < 0 || hi < 0) {
            int64_t size = x->type.dims[d];
            if (size < 0) {
                lower_fail(cx, "negative padding of a symbolic dim");
                return NULL;
            }
            int64_t b = lo < 0 ? -lo : 0, e = hi < 0 ? size + hi : size;
            if (!(x = lb_slice(cx, x, d, b, e, 0, 1, 0))) return NULL;
        }
        mp[2 * (d - (r - nd))] = lo > 0 ? lo : 0;
        mp[2 * (d - (r - nd)) + 1] = hi > 0 ? hi : 0;
        any |= lo > 0 || hi > 0;
    }
    if (!any) return x;
    if (strcmp(mode, "circular") == 0) { /* wrap: concat(tail, x, head) per dim */
        for (int i = 0; i < nd; i++) {
            int d = r - 1 - i;
            int64_t lo = mp[2 * (d - (r - nd))], hi = mp[2 * (d - (r - nd)) + 1], size = x->type.dims[d];
            if (!lo && !hi) continue;
            if (size < 0 || lo > size || hi > size) {
                lower_fail(cx, "circular padding larger than the (known) dim");
                return NULL;
            }
            ir_value *parts[3];
            int k = 0;
            if (lo) parts[k++] = lb_slice(cx, x, d, size - lo, size, 0, 1, 0);
            parts[k++] = x;
            if (hi) parts[k++] = lb_slice(cx, x, d, 0, hi, 0, 1, 0);
            if (!(x = lb_concat(cx, k, parts, d))) return NULL;
        }
        return x;
    }
    int lead = 0; /* MIL pads the last dims given; skip leading zero pairs */
    while (lead < nd && mp[2 * lead] == 0 && mp[2 * lead + 1] == 0) lead++;
    if (strcmp(mode, "constant") != 0 && nd - lead > 2) {
        /* reflect / replicate over more than 2 dims: one pad per dim */
        for (int i = lead; i < nd; i++) {
            int64_t one[2] = {mp[2 * i], mp[2 * i + 1]};
            if (!one[0] && !one[1]) continue;
            int d = r - nd + i;
            int64_t perm[IR_MAX_RANK];
            for (int k = 0; k < r; k++) perm[k] = k;
            perm[d] = r - 1;
            perm[r - 1] = d;
            ir_value *t = lb_transpose(cx, x, perm);
            ir_op *op = lb_op(cx, IR_OP_PAD, "pad");
            if (!op || ir_op_set_input(op, "x", t) || lb_param_i32v(cx, op, "pad", 2, one) ||
                lb_param_str(cx, op, "mode", mode))
                return NULL;
            if (!(x = lb_transpose(cx, lb_finish(cx, op), perm))) return NULL;
        }
        return x;
    }
    ir_op *op = lb_op(cx, IR_OP_PAD, NULL);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "pad", 2 * (nd - lead), mp + 2 * lead) ||
        lb_param_str(cx, op, "mode", mode))
        return NULL;
    if (strcmp(mode, "constant") == 0 && lb_param_f(cx, op, "constant_val", value, x->type.dtype)) return NULL;
    return lb_finish(cx, op);
}

/* Amounts known only at run time (sizes computed from x.size()): one MIL pad whose pad input is built at run
 * time, two entries per dim of x as MIL requires of a non-constant pad. Run-time amounts must be >= 0 (the
 * runtime refuses a negative one); circular padding gathers at wrapped positions (negative amounts crop). */
static ir_value *pad_dyn(lower_ctx *cx, ir_value *x, lv *l, const char *mode, double value) {
    int r = x->type.rank, np = l->n;
    if (np % 2 || np / 2 > r) {
        lower_fail(cx, "pad of %d values for a rank-%d tensor", np, r);
        return NULL;
    }
    if (strcmp(mode, "circular") == 0) { /* per dim: a gather at (i - before) mod size */
        for (int i = 0; i < np / 2 && x; i++) {
            int d = r - 1 - i;
            lv *lo = l->items[2 * i], *hi = l->items[2 * i + 1], *size = lower_dim_lv(cx, x, d);
            if (!size) return NULL;
            if (!lo->dyn && !hi->dyn && lo->i == 0 && hi->i == 0) continue;
            ir_value *c = lb_scalar(cx, size, IR_INT32);
            c = lb_binary(cx, IR_OP_ADD, c, lb_scalar(cx, lo, IR_INT32), "count");
            c = lb_binary(cx, IR_OP_ADD, c, lb_scalar(cx, hi, IR_INT32), "count");
            lv *cnt = lv_dyn(cx, LV_INT, c);
            if (!cnt) return NULL;
            x = lb_cyclic(cx, x, d, cnt, lo);
        }
        return x;
    }
    lv *zero = lv_int(cx, 0), *m = lv_new(cx, LV_LIST);
    lv **items = m ? pc_alloc(cx->p->arena, sizeof(lv *) * 2 * (size_t)r) : NULL;
    if (!zero || !items) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int d = 0; d < r; d++) { /* torch pair i is dim r-1-i */
        int i = r - 1 - d;
        items[2 * d] = i < np / 2 ? l->items[2 * i] : zero;
        items[2 * d + 1] = i < np / 2 ? l->items[2 * i + 1] : zero;
    }
    m->n = 2 * r;
    m->items = items;
    ir_value *pv = lb_shape_tensor(cx, m);
    ir_op *op = lb_op(cx, IR_OP_PAD, NULL);
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "pad", pv) || lb_param_str(cx, op, "mode", mode))
        return NULL;
    if (strcmp(mode, "constant") == 0 && lb_param_f(cx, op, "constant_val", value, x->type.dtype)) return NULL;
    return lb_finish(cx, op);
}

/* constant_pad_nd(self, pad, value=0); pad(self, pad, mode="constant", value=None);
 * reflection_padNd / replication_padNd(self, padding). */
int lower_pad(lower_ctx *cx, const ts_node *n) {
    lv *xl = lower_in(cx, n, 0);
    int cplx = xl && xl->kind == LV_COMPLEX; /* the pair tensor, its trailing (re, im) axis not padded */
    ir_value *x = !xl ? NULL : cplx ? xl->v : lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t tp[2 * IR_MAX_RANK + 2] = {0, 0};
    int np;
    lv *pl = lower_in(cx, n, 1);
    if (!x || !pl) return -1;
    /* pad amounts known only at run time (not for complex inputs, whose pair axis comes first in tp) */
    int dyn = !cplx && (pl->kind == LV_LIST || pl->kind == LV_TUPLE) && lv_ints(cx, pl, tp, 2 * IR_MAX_RANK, &np);
    if (!dyn && lower_ints_in(cx, n, 1, tp + 2 * cplx, 2 * IR_MAX_RANK, &np)) return -1;
    if (!dyn) np += 2 * cplx;
    if (x->type.rank < 0) return lower_fail(cx, "the input's rank is unknown");
    const char *mode = "constant";
    double value = 0;
    int sub = cx->row->sub; /* the mode a kind fixes (PAD_*) */
    if (sub == PAD_REFLECT) {
        mode = "reflect";
    } else if (sub == PAD_REPLICATE) {
        mode = "replicate";
    } else if (sub == PAD_CIRCULAR) {
        mode = "circular";
    } else if (sub == PAD_CONSTANT) {
        if (n->nin > 2 && lower_float_in(cx, n, 2, &value)) return -1;
    } else { /* aten::pad */
        if (n->nin > 2 && !lower_is_none(cx, n, 2)) {
            lv *m = lower_in(cx, n, 2);
            if (!m) return -1;
            if (m->kind != LV_STR) return lower_fail(cx, "pad mode must be a string");
            mode = m->s;
        }
        if (n->nin > 3 && !lower_is_none(cx, n, 3) && lower_float_in(cx, n, 3, &value)) return -1;
        if (strcmp(mode, "reflect") && strcmp(mode, "replicate") && strcmp(mode, "constant") && strcmp(mode, "circular"))
            return lower_fail(cx, "pad mode '%s'", mode);
    }
    if (dyn) return lower_out_tensor(cx, n, 0, pad_dyn(cx, x, pl, mode, value));
    if (!cplx) return lower_out_tensor(cx, n, 0, pad_nd(cx, x, np, tp, mode, value));
    ir_value *y;
    if (value == 0) {
        y = pad_nd(cx, x, np, tp, mode, 0);
    } else { /* the fill is value + 0i: the parts padded apart */
        int last = x->type.rank - 1;
        ir_value *re = lb_slice(cx, x, last, 0, 1, 0, 1, 1), *im = lb_slice(cx, x, last, 1, 2, 0, 1, 1);
        ir_value *parts[2] = {pad_nd(cx, re, np - 2, tp + 2, mode, value), NULL};
        parts[1] = pad_nd(cx, im, np - 2, tp + 2, mode, 0);
        y = lb_stack(cx, 2, parts, last);
    }
    return y ? lower_out(cx, n, 0, lc_new(cx, y)) : -1;
}
