/* pool_idx.c: max pooling that MIL's max_pool cannot express: the indices output of
 * max_pool{1,2,3}d_with_indices and adaptive_max_pool{1,2,3}d (torch's flat index of the maximum
 * within each input plane), dilated max pooling, and max_unpool{2,3}d (scatter by those indices).
 *
 * Window decomposition, one spatial axis at a time from the last: every window of the axis is a row
 * of a constant table of input positions (windows shorter than the longest repeat one of their own
 * positions; positions in the padding repeat the nearest real position of the window, so a repeated
 * element never changes the maximum nor which element is first). gather by the table, reshape to
 * [.., out, L, ..], reduce_max gives the values and reduce_argmax (first maximum, as torch's scan)
 * the slot, mapped back to a position by a gather from the table. The index found for the later
 * axes rides along: gathered the same way and picked with gather_along_axis at the slot. The row-major
 * first maximum of a box is the first row holding the maximum, and in it the first column holding it. */
#include "lower/build.h"

#include <stdlib.h>
#include <string.h>

/* Windows of one axis: out rows of L input positions. */
typedef struct {
    int64_t in, out, L;
    float *pos; /* [out * L], valid positions in [0, in) */
} win_axis;

/* Regular pooling windows (torch's output size, ceil_mode included). Fails naming the problem. */
static int regular_windows(lower_ctx *cx, win_axis *w, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                           int ceil_mode) {
    if (k < 1 || s < 1 || d < 1 || p < 0 || 2 * p > (k - 1) * d + 1)
        return lower_fail(cx, "pooling with kernel %lld, stride %lld, padding %lld, dilation %lld", (long long)k,
                          (long long)s, (long long)p, (long long)d);
    int64_t span = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    if (span < 0) return lower_fail(cx, "pooling window larger than the padded input (%lld)", (long long)in);
    int64_t out = span / s + 1;
    if (ceil_mode && (out - 1) * s >= in + p) out--;
    if (out < 1 || out * k > (1 << 24)) return lower_fail(cx, "pooling to %lld outputs", (long long)out);
    w->in = in;
    w->out = out;
    w->L = k;
    if (!(w->pos = malloc(sizeof(float) * (size_t)(out * k)))) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t o = 0; o < out; o++) {
        int64_t first = -1, last = -1;
        for (int64_t l = 0; l < k; l++) {
            int64_t q = o * s - p + l * d;
            if (q >= 0 && q < in) {
                if (first < 0) first = q;
                last = q;
            }
        }
        if (first < 0) return lower_fail(cx, "pooling window %lld covers only padding", (long long)o);
        for (int64_t l = 0; l < k; l++) {
            int64_t q = o * s - p + l * d;
            w->pos[o * k + l] = (float)(q < 0 ? first : q >= in ? last : q);
        }
    }
    return 0;
}

/* Adaptive windows: row o spans [floor(o*in/out), ceil((o+1)*in/out)). */
static int adaptive_windows(lower_ctx *cx, win_axis *w, int64_t in, int64_t out) {
    if (in < 1 || out < 1 || out > 4096) return lower_fail(cx, "adaptive pooling from %lld to %lld", (long long)in, (long long)out);
    int64_t L = 1;
    for (int64_t o = 0; o < out; o++) {
        int64_t b = o * in / out, e = ((o + 1) * in + out - 1) / out;
        if (e - b > L) L = e - b;
    }
    w->in = in;
    w->out = out;
    w->L = L;
    if (!(w->pos = malloc(sizeof(float) * (size_t)(out * L)))) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t o = 0; o < out; o++) {
        int64_t b = o * in / out, e = ((o + 1) * in + out - 1) / out;
        for (int64_t l = 0; l < L; l++) w->pos[o * L + l] = (float)(b + l < e ? b + l : e - 1);
    }
    return 0;
}

/* x with axis `a` (size in) split into [.., out, L, ..] by gathering the table. */
static ir_value *gather_windows(lower_ctx *cx, ir_value *x, int a, const win_axis *w, ir_value *tab) {
    ir_value *g = lb_gather(cx, x, tab, a);
    if (!g) return NULL;
    int r = g->type.rank, nsym = 0;
    int64_t shape[IR_MAX_RANK];
    if (r + 1 > IR_MAX_RANK) {
        lower_fail(cx, "rank %d is too large", r);
        return NULL;
    }
    for (int i = 0, k = 0; i < r; i++) {
        if (i == a) {
            shape[k++] = w->out;
            shape[k++] = w->L;
            continue;
        }
        int64_t d = g->type.dims[i];
        if (d < 0) nsym++;
        shape[k++] = d < 0 ? -1 : d;
    }
    if (nsym > 1) {
        lower_fail(cx, "max pooling with indices needs at most one symbolic dim");
        return NULL;
    }
    return lb_reshape(cx, g, r + 1, shape, "windows");
}

/* Pool x over its last sp axes by the windows; *idx (when idx != NULL) receives the int32 flat index
 * within each input plane. Returns the values. */
static ir_value *window_max(lower_ctx *cx, ir_value *x, int sp, const win_axis *ws, ir_value **idx) {
    int r = x->type.rank;
    ir_value *ix = NULL;
    int64_t inner = 1;
    for (int d = sp - 1; d >= 0; d--) {
        const win_axis *w = &ws[d];
        int a = r - sp + d;
        int64_t n = w->out * w->L, ax = a + 1;
        ir_value *tab = lb_const(cx, IR_INT32, 1, &n, w->pos, "window");
        ir_value *g = gather_windows(cx, x, a, w, tab);
        if (!g) return NULL;
        x = lb_reduce(cx, IR_OP_REDUCE_MAX, g, 1, &ax, 0);
        if (!x) return NULL;
        if (!idx) continue;
        ir_op *am = lb_op(cx, IR_OP_REDUCE_ARGMAX, "slot");
        if (!am || ir_op_set_input(am, "x", g) || lb_param_i32(cx, am, "axis", a + 1) ||
            lb_param_bool(cx, am, "keep_dims", 1))
            return NULL;
        ir_value *slot = lb_finish(cx, am);
        /* slot + o * L indexes the flat table: the position along this axis */
        int64_t tr = r + 1 - a, odims[IR_MAX_RANK];
        float *off = malloc(sizeof(float) * (size_t)w->out);
        if (!off) {
            pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
            return NULL;
        }
        for (int64_t o = 0; o < w->out; o++) off[o] = (float)(o * w->L);
        odims[0] = w->out;
        for (int i = 1; i < tr; i++) odims[i] = 1;
        ir_value *oc = lb_const(cx, IR_INT32, (int)tr, odims, off, "row");
        free(off);
        ir_value *pos = lb_gather(cx, tab, lb_binary(cx, IR_OP_ADD, slot, oc, "flat_slot"), 0);
        if (!pos) return NULL;
        if (ix) {
            ir_value *ig = gather_windows(cx, ix, a, w, tab);
            ir_op *ga = lb_op(cx, IR_OP_GATHER_ALONG_AXIS, "picked");
            if (!ga || ir_op_set_input(ga, "x", ig) || ir_op_set_input(ga, "indices", slot) ||
                lb_param_i32(cx, ga, "axis", a + 1))
                return NULL;
            ir_value *pick = lb_finish(cx, ga);
            pos = lb_binary(cx, IR_OP_ADD, lb_scalar_op(cx, IR_OP_MUL, pos, (double)inner), pick, "flat");
        }
        if (!(ix = lb_squeeze(cx, pos, 1, &ax))) return NULL;
        inner *= w->in;
    }
    if (idx) *idx = ix;
    return x;
}

static int spatial_list(lower_ctx *cx, const ts_node *n, int i, int sp, int64_t dflt, int64_t *out, int *given) {
    int64_t v[8];
    int cnt = 0;
    *given = 0;
    if (i < n->nin && !lower_is_none(cx, n, i) && lower_ints_in(cx, n, i, v, 8, &cnt)) return -1;
    if (cnt > 1 && cnt != sp) return lower_fail(cx, "input %d has %d values for %d spatial dims", i, cnt, sp);
    for (int k = 0; k < sp; k++) out[k] = cnt == 0 ? dflt : cnt == 1 ? v[0] : v[k];
    *given = cnt > 0;
    return 0;
}

/* x of rank sp + 1 or sp + 2 with static spatial dims. */
static ir_value *pool_input(lower_ctx *cx, const ts_node *n, int sp) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return NULL;
    int r = x->type.rank;
    if (r != sp + 1 && r != sp + 2) {
        lower_fail(cx, "input of rank %d for %dd pooling", r, sp);
        return NULL;
    }
    for (int d = 0; d < sp; d++)
        if (x->type.dims[r - sp + d] < 0) {
            lower_fail(cx, "max pooling with indices or dilation needs static spatial dims");
            return NULL;
        }
    return x;
}

static int finish(lower_ctx *cx, const ts_node *n, ir_value *v, ir_value *ix, win_axis *ws, int sp) {
    for (int d = 0; d < sp; d++) free(ws[d].pos);
    if (!v || lower_out_tensor(cx, n, 0, v)) return -1;
    if (n->nout > 1) return ix ? lower_out_tensor(cx, n, 1, ix) : lower_out(cx, n, 1, lv_none(cx));
    return 0;
}

/* adaptive_max_pool{1,2,3}d(self, output_size) -> (values, indices) with the indices used. */
static int adaptive_indices(lower_ctx *cx, const ts_node *n) {
    int sp = cx->row->sub;
    ir_value *x = pool_input(cx, n, sp), *ix = NULL;
    lv *ol = lower_in(cx, n, 1);
    if (!ol) return -1;
    int r = x->type.rank;
    win_axis ws[3] = {{0}};
    ir_value *v = NULL;
    for (int d = 0; d < sp; d++) {
        lv *e = ol->kind == LV_LIST || ol->kind == LV_TUPLE ? (d < ol->n ? ol->items[d] : NULL) : ol;
        int64_t out;
        if (e && e->kind == LV_NONE) out = x->type.dims[r - sp + d];
        else if (e && e->kind == LV_INT && !e->dyn) out = e->i;
        else goto fail_msg;
        if (adaptive_windows(cx, &ws[d], x->type.dims[r - sp + d], out)) goto fail;
    }
    v = window_max(cx, x, sp, ws, &ix);
    return finish(cx, n, v, ix, ws, sp);
fail_msg:
    lower_fail(cx, "output_size must be known at conversion time");
fail:
    for (int d = 0; d < sp; d++) free(ws[d].pos);
    return -1;
}

/* max_pool{1,2,3}d_with_indices(self, kernel_size, stride=[], padding=0, dilation=1, ceil_mode=False)
 * -> (values, indices); also max_pool{1,2,3}d with a dilation (values only, from pool.c) and the adaptive
 * max pools whose indices are read (from pool.c). Without dilation and with the indices unused: MIL max_pool. */
int lower_max_pool_indices(lower_ctx *cx, const ts_node *n) {
    if (cx->row->flags & LR_ADAPTIVE) return adaptive_indices(cx, n);
    int sp = cx->row->sub, given, ceil_mode = 0, want_idx = n->nout > 1 && lb_used(cx, n, 1), dilated = 0;
    int64_t k[3], s[3], p[3], dil[3];
    if (spatial_list(cx, n, 1, sp, 1, k, &given) || spatial_list(cx, n, 2, sp, 0, s, &given)) return -1;
    if (!given) memcpy(s, k, sizeof s);
    if (spatial_list(cx, n, 3, sp, 0, p, &given) || spatial_list(cx, n, 4, sp, 1, dil, &given)) return -1;
    if (n->nin > 5 && lower_bool_in(cx, n, 5, &ceil_mode)) return -1;
    for (int d = 0; d < sp; d++) dilated |= dil[d] != 1;
    if (!want_idx && !dilated) {
        if (lower_max_pool(cx, n)) return -1;
        return n->nout > 1 ? lower_out(cx, n, 1, lv_none(cx)) : 0;
    }
    ir_value *x = pool_input(cx, n, sp), *ix = NULL;
    if (!x) return -1;
    win_axis ws[3] = {{0}};
    int r = x->type.rank;
    for (int d = 0; d < sp; d++)
        if (regular_windows(cx, &ws[d], x->type.dims[r - sp + d], k[d], s[d], p[d], dil[d], ceil_mode)) {
            for (int j = 0; j < sp; j++) free(ws[j].pos);
            return -1;
        }
    ir_value *v = window_max(cx, x, sp, ws, want_idx ? &ix : NULL);
    return finish(cx, n, v, ix, ws, sp);
}

/* max_unpool2d(self, indices, output_size) / max_unpool3d(self, indices, output_size, stride, padding):
 * every value written at its flat index of an output plane of zeros (scatter_along_axis). */
int lower_max_unpool(lower_ctx *cx, const ts_node *n) {
    int sp = cx->row->sub, cnt;
    int64_t os[3];
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *ix = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    if (!x || !ix || lower_ints_in(cx, n, 2, os, 3, &cnt)) return -1;
    if (cnt != sp) return lower_fail(cx, "output_size has %d values for %d spatial dims", cnt, sp);
    int r = x->type.rank, lead = r - sp, nsym = 0;
    if (r != sp + 1 && r != sp + 2) return lower_fail(cx, "input of rank %d for %dd unpooling", r, sp);
    if (ix->type.rank != r) return lower_fail(cx, "indices of rank %d for an input of rank %d", ix->type.rank, r);
    int64_t plane = 1, oplane = 1, flat[IR_MAX_RANK], back[IR_MAX_RANK];
    for (int d = 0; d < sp; d++) {
        int64_t dd = x->type.dims[lead + d];
        if (dd < 0) return lower_fail(cx, "max_unpool needs static spatial dims");
        if (os[d] < 1) return lower_fail(cx, "output size %lld", (long long)os[d]);
        plane *= dd;
        oplane *= os[d];
        back[lead + d] = os[d];
    }
    for (int i = 0; i < lead; i++) {
        int64_t d = x->type.dims[i];
        nsym += d < 0;
        flat[i] = back[i] = d < 0 ? -1 : d;
    }
    if (nsym > 1) return lower_fail(cx, "max_unpool needs at most one symbolic dim");
    flat[lead] = plane;
    if (ix->type.dtype != IR_INT32 && !(ix = lb_cast(cx, ix, IR_INT32, "int"))) return -1;
    ir_value *xf = lb_reshape(cx, x, lead + 1, flat, "flat"), *if_ = lb_reshape(cx, ix, lead + 1, flat, "flat_idx");
    ir_value *shp = lb_unary(cx, IR_OP_SHAPE, xf, "shape"); /* fill_like is iOS16 */
    ir_op *z = lb_op(cx, IR_OP_FILL, "zeros");
    if (!z || ir_op_set_input(z, "shape", shp) || lb_param_f(cx, z, "value", 0.0, x->type.dtype)) return -1;
    ir_value *zeros = lb_finish(cx, z);
    if (!zeros) return -1;
    if (oplane != plane) {
        ir_op *pd;
        int64_t pads[2] = {0, oplane - plane};
        if (oplane > plane) {
            pd = lb_op(cx, IR_OP_PAD, "plane");
            if (!pd || ir_op_set_input(pd, "x", zeros) || lb_param_i32v(cx, pd, "pad", 2, pads) ||
                lb_param_str(cx, pd, "mode", "constant") || lb_param_f(cx, pd, "constant_val", 0.0, x->type.dtype))
                return -1;
            zeros = lb_finish(cx, pd);
        } else {
            zeros = lb_slice(cx, zeros, lead, 0, oplane, 0, 1, 0);
        }
        if (!zeros) return -1;
    }
    ir_op *sc = lb_op(cx, IR_OP_SCATTER_ALONG_AXIS, "scatter");
    if (!sc || ir_op_set_input(sc, "data", zeros) || ir_op_set_input(sc, "indices", if_) ||
        ir_op_set_input(sc, "updates", xf) || lb_param_i32(cx, sc, "axis", lead) ||
        lb_param_str(cx, sc, "mode", "update"))
        return -1;
    ir_value *y = lb_finish(cx, sc);
    return lower_out_tensor(cx, n, 0, lb_reshape(cx, y, r, back, NULL));
}
