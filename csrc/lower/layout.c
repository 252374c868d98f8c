/* layout.c: shape ops beyond shape.c: expand/expand_as/broadcast_to, repeat/tile, repeat_interleave,
 * flip, roll, unflatten, unbind, narrow, movedim/swapaxes, view_as/reshape_as, hstack/vstack,
 * meshgrid, triu/tril, diag. Static shapes unless noted. */
#include "lower/build.h"

#include <stdlib.h>
#include <string.h>

static ir_value *tin(lower_ctx *cx, const ts_node *n, int i) {
    ir_value *x = lower_tensor_in(cx, n, i, IR_DT_INVALID);
    if (x && x->type.rank < 0) {
        lower_fail(cx, "the input's rank is unknown");
        return NULL;
    }
    return x;
}

/* x broadcast to k dims of sizes want[i] (int lvs, static or run-time; NULL or -1: keep x's dim): leading
 * dims added, size-1 dims tiled (by a run-time count where the size is known only at run time). */
static ir_value *broadcast_to(lower_ctx *cx, ir_value *x, int k, lv *const *want) {
    int r = x->type.rank;
    if (k < r) {
        lower_fail(cx, "expand to %d dims of a rank-%d tensor", k, r);
        return NULL;
    }
    if (k > r) {
        int64_t lead[IR_MAX_RANK];
        for (int i = 0; i < k - r; i++) lead[i] = i;
        if (!(x = lb_expand(cx, x, k - r, lead))) return NULL;
    }
    lv *reps[IR_MAX_RANK], *one = lv_int(cx, 1);
    if (!one) return NULL;
    for (int i = 0; i < k; i++) {
        int64_t d = x->type.dims[i];
        const lv *w = want[i];
        reps[i] = one;
        if (!w || (!w->dyn && (w->i == -1 || w->i == d))) continue;
        if (d != 1) {
            if (w->dyn) continue; /* torch requires the run-time size to equal x's */
            lower_fail(cx, "cannot expand dim %d of size %lld to %lld", i, (long long)d, (long long)w->i);
            return NULL;
        }
        if (!w->dyn && w->i < 0) {
            lower_fail(cx, "cannot expand dim %d to size %lld", i, (long long)w->i);
            return NULL;
        }
        reps[i] = (lv *)w;
    }
    return lb_tile_lv(cx, x, reps);
}

/* An int or a list of ints (each known now or at run time) as up to IR_MAX_RANK int lvs in out; *k: how many.
 * `what` names the argument in failures. */
static int int_lvs(lower_ctx *cx, lv *l, const char *what, lv **out, int *k) {
    int64_t st[IR_MAX_RANK];
    lv_ints(cx, l, st, IR_MAX_RANK, k); /* settles the items that fold */
    if (l->kind == LV_INT) {
        *k = 1;
        out[0] = l;
        return 0;
    }
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->n > IR_MAX_RANK)
        return lower_fail(cx, "%s must be a list of at most %d ints", what, IR_MAX_RANK);
    *k = l->n;
    for (int i = 0; i < l->n; i++)
        if ((out[i] = l->items[i])->kind != LV_INT)
            return lower_fail(cx, "%s: element %d is %s, not an int", what, i, lv_kind_name(out[i]->kind));
    return 0;
}

/* expand(self, size, implicit=False), broadcast_to(self, size), expand_as(self, other) */
int lower_expand(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    if (!x) return -1;
    lv *want[IR_MAX_RANK];
    int k;
    if (cx->row->sub == EXPAND_AS) {
        ir_value *o = tin(cx, n, 1);
        if (!o) return -1;
        k = o->type.rank;
        for (int i = 0; i < k; i++)
            if (!(want[i] = lower_dim_lv(cx, o, i))) return -1;
    } else {
        lv *l = lower_in(cx, n, 1);
        if (!l || int_lvs(cx, l, "expand size", want, &k)) return -1;
    }
    ir_value *y = broadcast_to(cx, x, k, want);
    return lower_out_tensor(cx, n, 0, y);
}

/* repeat(self, repeats), tile(self, dims): counts known at conversion time or at run time */
int lower_repeat(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    lv *l = lower_in(cx, n, 1);
    if (!x || !l) return -1;
    lv *reps[IR_MAX_RANK], *full[IR_MAX_RANK], *one = lv_int(cx, 1);
    int k;
    if (!one || int_lvs(cx, l, "repeats", reps, &k)) return -1;
    int r = x->type.rank;
    int tile = cx->row->sub == REPEAT_TILE;
    if (!tile && k < r) return lower_fail(cx, "repeat with %d sizes for a rank-%d tensor", k, r);
    int m = k > r ? k : r;
    for (int i = 0; i < m; i++) full[i] = i < m - k ? one : reps[i - (m - k)];
    if (m > r) {
        int64_t lead[IR_MAX_RANK];
        for (int i = 0; i < m - r; i++) lead[i] = i;
        if (!(x = lb_expand(cx, x, m - r, lead))) return -1;
    }
    for (int i = 0; i < m; i++)
        if (full[i]->dyn) continue; /* a run-time count: the runtime refuses a negative one */
        else if (full[i]->i < 0) return lower_fail(cx, "negative repeat");
        else if (full[i]->i == 0) return lower_fail(cx, "repeat by 0 (empty result)");
    ir_value *y = lb_tile_lv(cx, x, full);
    if (y == x) y = lb_unary(cx, IR_OP_IDENTITY, x, NULL);
    return lower_out_tensor(cx, n, 0, y);
}

/* repeat_interleave(self, repeats: int | Tensor, dim=None, output_size=None): an int (known now or at run
 * time) repeats via expand_dims + tile + reshape; a tensor of repeats (known at conversion time) via gather.
 * A tensor of counts known only at run time makes a data-dependent shape and fails. */
int lower_repeat_interleave(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    if (!x) return -1;
    int a = 0;
    if (n->nin > 2 && !lower_is_none(cx, n, 2)) {
        int64_t d;
        if (lower_int_in(cx, n, 2, &d) || lower_axis(cx, d, x->type.rank, &a)) return -1;
    } else {
        int64_t all = -1;
        if (!(x = lb_reshape(cx, x, 1, &all, "flat"))) return -1;
    }
    lv *rl = lower_in(cx, n, 1);
    if (!rl) return -1;
    int64_t size = x->type.dims[a], rs;
    int nrs;
    lv_ints(cx, rl, &rs, 1, &nrs); /* settles a count that folds */
    if (rl->kind == LV_INT) { /* one count, known now or at run time: expand_dims + tile + reshape */
        if (!rl->dyn && rl->i < 1) return lower_fail(cx, "repeats must be >= 1");
        int64_t ax = a + 1;
        lv *reps[IR_MAX_RANK], *shape[IR_MAX_RANK], *one = lv_int(cx, 1), *rest = lv_int(cx, -1);
        if (!one || !rest) return -1;
        ir_value *e = lb_expand(cx, x, 1, &ax);
        for (int i = 0; i <= x->type.rank; i++) reps[i] = i == a + 1 ? rl : one;
        for (int i = 0; i < x->type.rank; i++)
            if (!(shape[i] = i == a ? rest : lower_dim_lv(cx, x, i))) return -1;
        ir_value *t = lb_tile_lv(cx, e, reps);
        lv *sl = lower_list_of(cx, x->type.rank, shape);
        ir_value *y = lb_reshape_lv(cx, t, sl);
        if (y && !rl->dyn && size >= 0) y->type.dims[a] = size * rl->i;
        return lower_out_tensor(cx, n, 0, y);
    }
    if (lb_static(cx, x, "repeat_interleave by a tensor of counts")) return -1;
    ir_value *rv = lb_as_tensor(cx, rl, IR_DT_INVALID);
    if (!rv) return -1;
    if (!rv->konst || rv->type.rank > 1)
        return lower_fail(cx, "repeats must be an int or a tensor known at conversion time (counts known only at run "
                              "time give a data-dependent shape)");
    int64_t cnt = rv->konst->count, total = 0;
    if (cnt != 1 && cnt != size) return lower_fail(cx, "%lld repeats for size %lld", (long long)cnt, (long long)size);
    for (int64_t i = 0; i < cnt; i++) total += ir_const_get_i64(rv->konst, i) * (cnt == 1 ? size : 1);
    float *idx = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(total ? total : 1));
    if (!idx) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    int64_t k = 0;
    for (int64_t i = 0; i < size; i++)
        for (int64_t j = 0; j < ir_const_get_i64(rv->konst, cnt == 1 ? 0 : i); j++) idx[k++] = (float)i;
    ir_value *iv = lb_const(cx, IR_INT32, 1, &total, idx, "indices");
    return lower_out_tensor(cx, n, 0, lb_gather(cx, x, iv, a));
}

/* x reversed along axis a (gather with constant reversed indices). */
static ir_value *reverse_axis(lower_ctx *cx, ir_value *x, int a) {
    int64_t size = x->type.dims[a];
    if (size < 0) {
        lower_fail(cx, "flip of a symbolic dim");
        return NULL;
    }
    float *idx = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(size ? size : 1));
    if (!idx) return NULL;
    for (int64_t i = 0; i < size; i++) idx[i] = (float)(size - 1 - i);
    return lb_gather(cx, x, lb_const(cx, IR_INT32, 1, &size, idx, "reversed"), a);
}

/* flip(self, dims), fliplr, flipud */
int lower_flip(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    int64_t dims[IR_MAX_RANK];
    int k = 1;
    if (!x) return -1;
    if (cx->row->sub == FLIP_LR) dims[0] = 1;
    else if (cx->row->sub == FLIP_UD) dims[0] = 0;
    else if (lower_ints_in(cx, n, 1, dims, IR_MAX_RANK, &k)) return -1;
    for (int i = 0; i < k && x; i++) {
        int a;
        if (lower_axis(cx, dims[i], x->type.rank, &a)) return -1;
        x = reverse_axis(cx, x, a);
    }
    return lower_out_tensor(cx, n, 0, x);
}

/* roll(self, shifts, dims=[]): per dim, concat(tail, head); a shift known only at run time or a symbolic dim:
 * a gather at (i - shift) mod size. No dims: over the flattened tensor. */
int lower_roll(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    lv *sl = lower_in(cx, n, 1), *sh[IR_MAX_RANK];
    int64_t dims[IR_MAX_RANK];
    int ns, nd = 0, r = x ? x->type.rank : 0;
    if (!sl || int_lvs(cx, sl, "roll shifts", sh, &ns)) return -1;
    if (n->nin > 2 && lower_ints_in(cx, n, 2, dims, IR_MAX_RANK, &nd)) return -1;
    ir_value *src = x;
    if (nd == 0) {
        int64_t all = -1;
        if (ns != 1) return lower_fail(cx, "roll without dims takes one shift");
        if (!(x = lb_reshape(cx, x, 1, &all, "flat"))) return -1;
        dims[0] = 0;
        nd = 1;
    }
    if (nd != ns) return lower_fail(cx, "%d shifts for %d dims", ns, nd);
    for (int i = 0; i < nd && x; i++) {
        int a;
        if (lower_axis(cx, dims[i], x->type.rank, &a)) return -1;
        int64_t size = x->type.dims[a];
        if (size < 0 || sh[i]->dyn) {
            lv *sz = lower_dim_lv(cx, x, a);
            x = lb_cyclic(cx, x, a, sz, sh[i]);
            continue;
        }
        int64_t s = size ? ((sh[i]->i % size) + size) % size : 0;
        if (!s) continue;
        ir_value *parts[2] = {lb_slice(cx, x, a, size - s, size, 0, 1, 0), lb_slice(cx, x, a, 0, size - s, 0, 1, 0)};
        x = lb_concat(cx, 2, parts, a);
    }
    if (x && x->type.rank != r) {
        lv *shape[IR_MAX_RANK];
        for (int i = 0; i < r; i++)
            if (!(shape[i] = lower_dim_lv(cx, src, i))) return -1;
        lv *l = lower_list_of(cx, r, shape);
        x = lb_reshape_lv(cx, x, l);
    }
    if (x == src) x = lb_unary(cx, IR_OP_IDENTITY, x, NULL);
    return lower_out_tensor(cx, n, 0, x);
}

/* unflatten(self, dim, sizes) */
int lower_unflatten(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    int64_t d, sizes[IR_MAX_RANK], shape[IR_MAX_RANK];
    int k, a;
    if (!x || lower_int_in(cx, n, 1, &d) || lower_ints_in(cx, n, 2, sizes, IR_MAX_RANK, &k) ||
        lower_axis(cx, d, x->type.rank, &a))
        return -1;
    int r = x->type.rank, m = 0;
    if (r - 1 + k > IR_MAX_RANK) return lower_fail(cx, "result rank exceeds %d", IR_MAX_RANK);
    for (int i = 0; i < r; i++) {
        if (i != a) {
            shape[m++] = x->type.dims[i] < 0 ? (i == 0 ? -1 : 0) : x->type.dims[i];
            continue;
        }
        for (int j = 0; j < k; j++) shape[m++] = sizes[j];
    }
    for (int i = 0; i < m; i++)
        if (shape[i] == 0) return lower_fail(cx, "unflatten next to a symbolic dim");
    return lower_out_tensor(cx, n, 0, lb_reshape(cx, x, m, shape, NULL));
}

/* unbind(self, dim=0): a list of the slices along dim, dim dropped. */
int lower_unbind(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    int64_t d = 0;
    int a;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &d)) || lower_axis(cx, d, x->type.rank, &a)) return -1;
    int64_t size = x->type.dims[a];
    if (size < 0 || size > 4096) return lower_fail(cx, "unbind of a symbolic or huge dim");
    lv *l = lv_new(cx, LV_LIST);
    if (!l) return -1;
    l->n = (int)size;
    l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(size ? size : 1));
    if (!l->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t i = 0; i < size; i++)
        if (!(l->items[i] = lv_tensor(cx, lb_slice(cx, x, a, i, i + 1, 0, 1, 1))) || !l->items[i]->v) return -1;
    return lower_out(cx, n, 0, l);
}

/* narrow(self, dim, start, length); start and length may be known only at run time */
int lower_narrow(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    int64_t d, s, len;
    int a;
    if (!x || lower_int_in(cx, n, 1, &d) || lower_axis(cx, d, x->type.rank, &a)) return -1;
    lv *ls = lower_in(cx, n, 2), *ll = lower_in(cx, n, 3);
    if (!ll) return -1;
    if (ls->kind == LV_INT && ll->kind == LV_INT && (ls->dyn || ll->dyn)) { /* end = start + length at run time */
        ir_value *sv = lb_as_tensor(cx, ls, IR_INT32), *lvv = lb_as_tensor(cx, ll, IR_INT32);
        ir_value *ev = lb_binary(cx, IR_OP_ADD, sv, lvv, "end");
        lv *e = lv_dyn(cx, LV_INT, ev);
        if (!e) return -1; /* a NULL end would mean "to the end" */
        return lower_out_tensor(cx, n, 0, lb_slice_dyn(cx, x, a, ls, e, 1));
    }
    if (lower_int_in(cx, n, 2, &s) || lower_int_in(cx, n, 3, &len)) return -1;
    int64_t size = x->type.dims[a];
    if (s < 0) {
        if (size < 0) return lower_fail(cx, "negative start on a symbolic dim");
        s += size;
    }
    return lower_out_tensor(cx, n, 0, lb_slice(cx, x, a, s, s + len, 0, 1, 0));
}

/* movedim / moveaxis(self, source, destination), swapaxes / swapdims(self, a, b) */
int lower_movedim(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    int64_t src[IR_MAX_RANK], dst[IR_MAX_RANK], perm[IR_MAX_RANK];
    int ns, nd, r;
    if (!x || lower_ints_in(cx, n, 1, src, IR_MAX_RANK, &ns) || lower_ints_in(cx, n, 2, dst, IR_MAX_RANK, &nd)) return -1;
    r = x->type.rank;
    if (ns != nd) return lower_fail(cx, "%d source dims for %d destinations", ns, nd);
    int swap = cx->row->sub == MOVE_SWAP;
    int used[IR_MAX_RANK] = {0}, placed[IR_MAX_RANK] = {0};
    for (int i = 0; i < r; i++) perm[i] = -1;
    for (int i = 0; i < ns; i++) {
        int s, d;
        if (lower_axis(cx, src[i], r, &s) || lower_axis(cx, dst[i], r, &d)) return -1;
        if (swap) {
            for (int k = 0; k < r; k++) perm[k] = k;
            perm[s] = d;
            perm[d] = s;
            return lower_out_tensor(cx, n, 0, lb_transpose(cx, x, perm));
        }
        perm[d] = s;
        used[s] = placed[d] = 1;
    }
    int next = 0;
    for (int i = 0; i < r; i++) {
        if (placed[i]) continue;
        while (used[next]) next++;
        perm[i] = next++;
    }
    ir_value *y = lb_transpose(cx, x, perm);
    if (y == x) y = lb_unary(cx, IR_OP_IDENTITY, x, NULL);
    return lower_out_tensor(cx, n, 0, y);
}

/* view_as / reshape_as(self, other) */
int lower_view_as(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0), *o = tin(cx, n, 1);
    if (!x || !o || lb_static(cx, o, "view_as")) return -1;
    return lower_out_tensor(cx, n, 0, lb_reshape(cx, x, o->type.rank, o->type.dims, NULL));
}

/* hstack / vstack / dstack / column_stack (tensors) */
int lower_hvstack(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->n < 1) return lower_fail(cx, "expected a list of tensors");
    char which = (char)cx->row->sub; /* 'h', 'v', 'd' or 'c' (column_stack) */
    ir_value **vs = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)l->n);
    if (!vs) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    int axis = 0;
    for (int i = 0; i < l->n; i++) {
        ir_value *v = lb_as_tensor(cx, l->items[i], IR_DT_INVALID);
        if (!v) return -1;
        int r = v->type.rank;
        if (which == 'v' && r < 2) v = lb_reshape(cx, v, 2, (int64_t[]){1, r ? v->type.dims[0] : 1}, "row");
        if (which == 'h' && r == 0) v = lb_reshape(cx, v, 1, (int64_t[]){1}, "one");
        if (which == 'c' && r < 2) v = lb_reshape(cx, v, 2, (int64_t[]){r ? v->type.dims[0] : 1, 1}, "col");
        if (which == 'd' && r < 3)
            v = lb_reshape(cx, v, 3, r == 2 ? (int64_t[]){v->type.dims[0], v->type.dims[1], 1}
                                               : (int64_t[]){1, r ? v->type.dims[0] : 1, 1}, "depth");
        if (!(vs[i] = v)) return -1;
    }
    if (which == 'h') axis = vs[0]->type.rank == 1 ? 0 : 1;
    else if (which == 'c') axis = 1;
    else if (which == 'd') axis = 2;
    for (int i = 1; i < l->n; i++)
        if (vs[i]->type.dtype != vs[0]->type.dtype && !(vs[i] = lb_cast(cx, vs[i], vs[0]->type.dtype, "cast"))) return -1;
    ir_value *y = lb_concat(cx, l->n, vs, axis);
    if (y == vs[0] && l->n == 1) y = lb_unary(cx, IR_OP_IDENTITY, y, NULL);
    return lower_out_tensor(cx, n, 0, y);
}

/* meshgrid(tensors, indexing="ij"): each 1-D tensor reshaped onto its axis and tiled. */
int lower_meshgrid(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->n < 1 || l->n > IR_MAX_RANK)
        return lower_fail(cx, "expected a list of 1 to %d tensors", IR_MAX_RANK);
    int xy = 0;
    if (n->nin > 1 && !lower_is_none(cx, n, 1)) {
        lv *s = lower_in(cx, n, 1);
        if (!s || s->kind != LV_STR) return lower_fail(cx, "indexing must be a string");
        xy = strcmp(s->s, "xy") == 0;
    }
    int k = l->n;
    ir_value *v[IR_MAX_RANK];
    lv *full[IR_MAX_RANK], *one = lv_int(cx, 1); /* sizes: known now or at run time */
    if (!one) return -1;
    for (int i = 0; i < k; i++) {
        if (!(v[i] = lb_as_tensor(cx, l->items[i], IR_DT_INVALID))) return -1;
        if (v[i]->type.rank > 1) return lower_fail(cx, "meshgrid of a rank-%d tensor (needs 0-D or 1-D)", v[i]->type.rank);
        if (!(full[i] = v[i]->type.rank ? lower_dim_lv(cx, v[i], 0) : one)) return -1;
    }
    if (xy && k >= 2) {
        lv *t = full[0];
        full[0] = full[1];
        full[1] = t;
    }
    lv *out = lv_new(cx, LV_LIST);
    if (!out) return -1;
    out->n = k;
    out->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)k);
    if (!out->items) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int i = 0; i < k; i++) {
        int pos = xy && k >= 2 && i < 2 ? 1 - i : i;
        int64_t axes[IR_MAX_RANK], ones[IR_MAX_RANK];
        lv *reps[IR_MAX_RANK];
        int na = 0;
        for (int j = 0; j < k; j++) {
            reps[j] = j == pos ? one : full[j];
            ones[j] = 1;
            if (j != pos) axes[na++] = j;
        }
        ir_value *placed = !v[i]->type.rank ? lb_reshape(cx, v[i], k, ones, "axis") : na ? lb_expand(cx, v[i], na, axes) : v[i];
        ir_value *y = lb_tile_lv(cx, placed, reps);
        if (y == v[i]) y = lb_unary(cx, IR_OP_IDENTITY, y, NULL);
        if (!(out->items[i] = lv_tensor(cx, y)) || !y) return -1;
    }
    return lower_out(cx, n, 0, out);
}

/* triu / tril(self, diagonal=0): select(mask, x, 0) with a constant mask over the last two dims. */
int lower_tri(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    int64_t k = 0;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &k))) return -1;
    int r = x->type.rank;
    if (r < 2) return lower_fail(cx, "triu/tril of a rank-%d tensor", r);
    int64_t h = x->type.dims[r - 2], w = x->type.dims[r - 1];
    if (h < 0 || w < 0) return lower_fail(cx, "triu/tril of symbolic dims");
    int upper = cx->row->sub == TRI_UPPER;
    float *m = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(h * w > 0 ? h * w : 1));
    if (!m) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < w; j++) m[i * w + j] = upper ? (j - i >= k) : (j - i <= k);
    ir_value *mask = lb_const(cx, IR_BOOL, 2, (int64_t[]){h, w}, m, "mask");
    ir_value *zero = lb_const_scalar(cx, 0, x->type.dtype, "zero");
    return lower_out_tensor(cx, n, 0, lb_select(cx, mask, x, zero, NULL));
}

/* diag(self, diagonal=0): a vector -> a square matrix with it on a diagonal; a matrix -> that diagonal. */
int lower_diag(lower_ctx *cx, const ts_node *n) {
    ir_value *x = tin(cx, n, 0);
    int64_t k = 0;
    if (!x || (n->nin > 1 && lower_int_in(cx, n, 1, &k)) || lb_static(cx, x, "diag")) return -1;
    if (x->type.rank == 1) {
        int64_t len = x->type.dims[0], m = len + (k < 0 ? -k : k);
        ir_value *row = lb_reshape(cx, x, 2, (int64_t[]){1, len}, "row");
        /* eye(len) * row -> diag(len); then pad to m x m at the offset */
        float *e = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(len * len > 0 ? len * len : 1));
        if (!e || !row) return e ? -1 : pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int64_t i = 0; i < len * len; i++) e[i] = i / len == i % len;
        ir_value *eye = lb_const(cx, x->type.dtype, 2, (int64_t[]){len, len}, e, "eye");
        ir_value *d = lb_binary(cx, IR_OP_MUL, eye, row, "d");
        if (!d) return -1;
        if (k == 0) return lower_out_tensor(cx, n, 0, d);
        int64_t pad[4] = {k < 0 ? -k : 0, k < 0 ? 0 : k, k > 0 ? k : 0, k > 0 ? 0 : -k};
        ir_op *op = lb_op(cx, IR_OP_PAD, NULL);
        if (!op || ir_op_set_input(op, "x", d) || lb_param_i32v(cx, op, "pad", 4, pad) ||
            lb_param_str(cx, op, "mode", "constant") || lb_param_f(cx, op, "constant_val", 0, x->type.dtype))
            return -1;
        (void)m;
        return lower_out_tensor(cx, n, 0, lb_finish(cx, op));
    }
    if (x->type.rank != 2) return lower_fail(cx, "diag of a rank-%d tensor", x->type.rank);
    int64_t h = x->type.dims[0], w = x->type.dims[1], cnt = 0;
    float *idx = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(h + w + 1));
    if (!idx) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t i = 0; i < h; i++)
        if (i + k >= 0 && i + k < w) idx[cnt++] = (float)(i * w + i + k);
    if (!cnt) return lower_fail(cx, "empty diagonal");
    int64_t all = -1;
    ir_value *flat = lb_reshape(cx, x, 1, &all, "flat");
    return lower_out_tensor(cx, n, 0, lb_gather(cx, flat, lb_const(cx, IR_INT32, 1, &cnt, idx, "diag_idx"), 0));
}

/* Tensor.unfold(dimension, size, step): the windows x[.., w*step : w*step+size, ..] along dim, the window
 * index in dim's place and the window's elements as a new last dim. One gather with constant indices
 * (w*step + j), a reshape and a transpose. */
/* Tensor.unfold of an input with symbolic dims: window starts range(0, nw * step, step) with
 * nw = (len - size) / step + 1 counted at run time, plus range(size); one gather with these [nw, size]
 * indices puts the window axis after `a`, and a transpose moves it last. */
static ir_value *unfold_dyn(lower_ctx *cx, ir_value *x, int a, int64_t size, int64_t step) {
    int r = x->type.rank;
    if (size < 0 || step <= 0) {
        lower_fail(cx, "unfold size %lld / step %lld", (long long)size, (long long)step);
        return NULL;
    }
    lv *len = lower_dim_lv(cx, x, a);
    if (!len) return NULL;
    ir_value *lenv = lb_scalar(cx, len, IR_INT32);
    ir_value *span = lb_scalar_op(cx, IR_OP_SUB, lenv, (double)size);
    ir_value *nw = lb_scalar_op(cx, IR_OP_ADD, lb_scalar_op(cx, IR_OP_FLOOR_DIV, span, (double)step), 1);
    ir_value *end = lb_scalar_op(cx, IR_OP_MUL, nw, (double)step);
    ir_value *starts = lb_range(cx, end, step, "starts");
    int64_t one = 1;
    starts = lb_expand(cx, starts, 1, &one); /* [nw, 1] */
    float *off = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(size ? size : 1));
    if (!off || !starts) return NULL;
    for (int64_t j = 0; j < size; j++) off[j] = (float)j;
    ir_value *idx = lb_binary(cx, IR_OP_ADD, starts, lb_const(cx, IR_INT32, 1, &size, off, "offsets"), "windows");
    ir_value *g = lb_gather(cx, x, idx, a);
    int64_t perm[IR_MAX_RANK + 1];
    for (int i = 0, k = 0; i <= r; i++)
        if (i != a + 1) perm[k++] = i;
    perm[r] = a + 1;
    return lb_transpose(cx, g, perm);
}

int lower_tensor_unfold(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t dim, size, step;
    int a;
    if (!x || lower_int_in(cx, n, 1, &dim) || lower_int_in(cx, n, 2, &size) || lower_int_in(cx, n, 3, &step)) return -1;
    int r = x->type.rank;
    if (r == 0) { /* a 0-d tensor unfolds to [size] with size 1 */
        if (size != 1) return lower_fail(cx, "size %lld of a 0-d tensor (must be 1)", (long long)size);
        int64_t one = 1;
        return lower_out_tensor(cx, n, 0, lb_reshape(cx, x, 1, &one, NULL));
    }
    if (lower_axis(cx, dim, r, &a)) return -1;
    if (ir_type_numel(&x->type) < 0) return lower_out_tensor(cx, n, 0, unfold_dyn(cx, x, a, size, step));
    int64_t len = x->type.dims[a];
    if (size < 0 || size > len || step <= 0)
        return lower_fail(cx, "size %lld / step %lld do not fit dim %d of size %lld", (long long)size, (long long)step, a,
                          (long long)len);
    int64_t nw = (len - size) / step + 1, m = nw * size;
    if (m == 0 || m > (1 << 24)) return lower_fail(cx, "unfold into %lld x %lld windows", (long long)nw, (long long)size);
    float *ix = pc_alloc(cx->p->arena, sizeof(float) * (size_t)m);
    if (!ix) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t w = 0; w < nw; w++)
        for (int64_t j = 0; j < size; j++) ix[w * size + j] = (float)(w * step + j);
    ir_value *iv = lb_const(cx, IR_INT32, 1, &m, ix, "windows");
    ir_value *g = lb_gather(cx, x, iv, a);
    int64_t shape[IR_MAX_RANK + 1], perm[IR_MAX_RANK + 1];
    for (int i = 0, k = 0; i < r; i++) {
        shape[k++] = i == a ? nw : x->type.dims[i];
        if (i == a) shape[k++] = size;
    }
    for (int i = 0, k = 0; i <= r; i++)
        if (i != a + 1) perm[k++] = i;
    perm[r] = a + 1;
    ir_value *y = lb_reshape(cx, g, r + 1, shape, "windows");
    return lower_out_tensor(cx, n, 0, lb_transpose(cx, y, perm));
}

/* torch's strides of a view of sizes nd[0..nn) over a tensor of sizes od / strides os (rank on), or -1 when
 * that view would need a copy (torch's rule: each run of old dims that are contiguous with one another
 * must map onto whole new dims). */
static int view_strides(const int64_t *od, const int64_t *os, int on, const int64_t *nd, int nn, int64_t *ns) {
    int64_t numel = 1;
    for (int i = 0; i < on; i++) numel *= od[i];
    if (numel == 0 || on == 0) {
        for (int i = nn - 1, st = 1; i >= 0; i--) ns[i] = st, st *= nd[i] > 0 ? nd[i] : 1;
        return 0;
    }
    int v = nn - 1;
    int64_t base = os[on - 1], run = 1, got = 1;
    for (int t = on - 1; t >= 0; t--) {
        run *= od[t];
        if (t == 0 || (od[t - 1] != 1 && os[t - 1] != run * base)) { /* a run of contiguous old dims ends at t */
            while (v >= 0 && (got < run || nd[v] == 1)) {
                ns[v] = got * base;
                got *= nd[v--];
            }
            if (got != run) return -1;
            if (t > 0) base = os[t - 1], run = 1, got = 1;
        }
    }
    return v == -1 ? 0 : -1;
}

/* The storage as_strided reads: walk back from its input through ops that are views in torch (shape
 * changes and transposes) to the last tensor that owns its storage (any other op's result, or a reshape
 * that had to copy), replaying torch's strides forward to tell a viewing reshape from a copying one.
 * Returns that tensor's value, contiguous in its own storage; NULL with the reason in cx->e for a view
 * whose storage offset or layout we do not follow (slices, expand, diagonal, ...). */
static const ts_value *strided_storage(lower_ctx *cx, const ts_value *v) {
    static const char *const shape_views[] = {"view", "reshape", "flatten", "unflatten", "unsqueeze", "squeeze",
                                              "view_as", "reshape_as"};
    static const char *const moves[] = {"transpose", "permute", "t", "movedim", "swapaxes", "swapdims", "numpy_T",
                                        "mT", "T"};
    static const char *const others[] = {"select", "slice", "narrow", "expand", "expand_as", "diagonal", "unfold",
                                         "as_strided", "split", "chunk", "unbind", "indices", "real", "imag", "view_as_real"};
    const ts_value *chain[64];
    int nc = 0;
    for (;;) { /* not dispatch: the kinds of the ops that produced the input, classified by torch's view semantics */
        const char *k = v->def && strncmp(v->def->kind, "aten::", 6) == 0 ? v->def->kind + 6 : "";
        int is_view = 0;
        for (int i = 0; i < PC_ARRAY_LEN(shape_views) && !is_view; i++) is_view = strcmp(k, shape_views[i]) == 0;
        for (int i = 0; i < PC_ARRAY_LEN(moves) && !is_view; i++) is_view = strcmp(k, moves[i]) == 0;
        if (!is_view && (strcmp(k, "detach") == 0 || strcmp(k, "alias") == 0)) is_view = 1;
        for (int i = 0; i < PC_ARRAY_LEN(others); i++)
            if (strcmp(k, others[i]) == 0) {
                lower_fail(cx, "its input is a view made by aten::%s, whose storage layout is not followed (call "
                               ".contiguous() before as_strided)", k);
                return NULL;
            }
        if (!is_view) break;
        if (nc == PC_ARRAY_LEN(chain)) {
            lower_fail(cx, "views nested more than 64 deep");
            return NULL;
        }
        chain[nc++] = v;
        v = v->def->in[0];
    }
    /* replay forward from the owner v: strides of each view; a reshape that cannot view copies */
    const ts_value *owner = v;
    lv *ol = cx->vals[v->id];
    if (!ol || ol->kind != LV_TENSOR) return owner;
    int64_t st[IR_MAX_RANK], dims[IR_MAX_RANK];
    int rank = ol->v->type.rank;
    for (int i = rank - 1, s = 1; i >= 0; i--) dims[i] = ol->v->type.dims[i], st[i] = s, s *= dims[i];
    for (int c = nc - 1; c >= 0; c--) {
        lv *l = cx->vals[chain[c]->id];
        if (!l || l->kind != LV_TENSOR) return owner;
        const ir_type *t = &l->v->type;
        const char *k = chain[c]->def->kind + 6;
        int64_t ns[IR_MAX_RANK];
        int moved = 0;
        for (int i = 0; i < PC_ARRAY_LEN(moves) && !moved; i++) moved = strcmp(k, moves[i]) == 0;
        if (moved) { /* each new dim is some old dim of the same size: strides move with them */
            int used[IR_MAX_RANK] = {0};
            const ts_node *d = chain[c]->def;
            int64_t p[IR_MAX_RANK];
            int np = 0;
            if (strcmp(k, "permute") == 0 && lower_ints_in(cx, d, 1, p, IR_MAX_RANK, &np)) return NULL;
            if ((strcmp(k, "transpose") == 0 || strcmp(k, "swapaxes") == 0 || strcmp(k, "swapdims") == 0 ||
                 strcmp(k, "movedim") == 0)) {
                int64_t a0, a1;
                if (lower_int_in(cx, d, 1, &a0) || lower_int_in(cx, d, 2, &a1)) return NULL;
                a0 = a0 < 0 ? a0 + rank : a0, a1 = a1 < 0 ? a1 + rank : a1;
                np = rank;
                if (strcmp(k, "movedim") == 0) { /* the others in order, a0 inserted at a1 */
                    for (int i = 0, j = 0; j < rank; j++) {
                        if (j == a1) {
                            p[j] = a0;
                            continue;
                        }
                        if (i == a0) i++;
                        p[j] = i++;
                    }
                } else {
                    for (int i = 0; i < rank; i++) p[i] = i == a0 ? a1 : i == a1 ? a0 : i;
                }
            } else if (np == 0) { /* t, mT, T, numpy_T: reverse (the last two for mT) */
                np = rank;
                for (int i = 0; i < rank; i++) p[i] = i;
                int lo = strcmp(k, "mT") == 0 ? rank - 2 : 0;
                for (int i = lo; i < rank; i++) p[i] = lo + rank - 1 - i;
            }
            if (np != rank || t->rank != rank) return owner;
            for (int i = 0; i < rank; i++) {
                int64_t q = p[i] < 0 ? p[i] + rank : p[i];
                if (q < 0 || q >= rank || used[q]) return owner;
                used[q] = 1;
                ns[i] = st[q];
            }
        } else if (view_strides(dims, st, rank, t->dims, t->rank, ns)) { /* a reshape that copies */
            owner = chain[c];
            for (int i = t->rank - 1, s = 1; i >= 0; i--) ns[i] = s, s *= t->dims[i];
        }
        rank = t->rank;
        for (int i = 0; i < rank; i++) dims[i] = t->dims[i], st[i] = ns[i];
    }
    return owner;
}

/* as_strided(x, size, stride, storage_offset): element (i0, .., ik) is x's storage element
 * offset + sum i_j * stride_j: one gather of constant indices from the tensor that owns the storage,
 * flattened (static shapes; longformer's overlapping chunks). */
int lower_as_strided(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t size[IR_MAX_RANK], stride[IR_MAX_RANK], off = 0;
    int ns, nst;
    if (!x || lower_ints_in(cx, n, 1, size, IR_MAX_RANK, &ns) || lower_ints_in(cx, n, 2, stride, IR_MAX_RANK, &nst) ||
        (n->nin > 3 && !lower_is_none(cx, n, 3) && lower_int_in(cx, n, 3, &off)) || lb_static(cx, x, "as_strided's input"))
        return -1;
    if (ns != nst) return lower_fail(cx, "%d sizes but %d strides", ns, nst);
    const ts_value *owner = strided_storage(cx, n->in[0]);
    lv *ol = owner ? cx->vals[owner->id] : NULL;
    if (!ol) return -1;
    if (ol->kind != LV_TENSOR || lb_static(cx, ol->v, "as_strided's storage")) return lower_fail(cx, "as_strided of a non-tensor");
    x = ol->v; /* its storage: element i of the owner flattened */
    int64_t numel = 1, m = 1;
    for (int i = 0; i < x->type.rank; i++) numel *= x->type.dims[i];
    for (int i = 0; i < ns; i++) {
        if (size[i] < 0 || stride[i] < 0) return lower_fail(cx, "negative size or stride");
        m *= size[i];
        if (m > (1 << 24)) return lower_fail(cx, "more than 2^24 elements");
    }
    if (m == 0) return lower_fail(cx, "an empty result");
    float *ix = pc_alloc(cx->p->arena, sizeof(float) * (size_t)m);
    if (!ix) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int64_t e = 0; e < m; e++) {
        int64_t rest = e, at = off;
        for (int i = ns - 1; i >= 0; i--) {
            at += rest % size[i] * stride[i];
            rest /= size[i];
        }
        if (at < 0 || at >= numel)
            return lower_fail(cx, "element %lld reads storage offset %lld, outside the input's %lld elements", (long long)e,
                              (long long)at, (long long)numel);
        ix[e] = (float)at;
    }
    int64_t flat = numel;
    ir_value *xf = lb_reshape(cx, x, 1, &flat, "flat");
    ir_value *iv = lb_const(cx, IR_INT32, ns, size, ix, "strided_index");
    return lower_out_tensor(cx, n, 0, lb_gather(cx, xf, iv, 0));
}
