/* index.c: index_select, embedding, gather / take_along_dim (flat-index gather for static shapes),
 * aten::index (advanced indexing with int tensors and bool masks: constant positions, or non_zero
 * at run time), copy_ / fill_ (slice assignment, see view.c). index_put is put.c's. */
#include "lower/build.h"

#include <string.h>

static ir_value *as_index(lower_ctx *cx, ir_value *i) {
    if (LB_SKIP(cx, i)) return NULL;
    if (i->type.dtype == IR_INT32) return i;
    if (i->type.dtype == IR_BOOL) {
        lower_fail(cx, "a bool index here");
        return NULL;
    }
    return lb_cast(cx, i, IR_INT32, "index");
}

/* index_select(self, dim, index) */
int lower_index_select(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t d;
    int a;
    if (!x || lower_int_in(cx, n, 1, &d) || lower_axis(cx, d, x->type.rank, &a)) return -1;
    ir_value *idx = as_index(cx, lower_tensor_in(cx, n, 2, IR_DT_INVALID));
    if (idx && idx->type.rank == 0) idx = lb_reshape(cx, idx, 1, (int64_t[]){1}, "index1");
    return lower_out_tensor(cx, n, 0, lb_gather(cx, x, idx, a));
}

/* embedding(weight, indices, padding_idx=-1, scale_grad_by_freq, sparse): rows of weight. */
int lower_embedding(lower_ctx *cx, const ts_node *n) {
    ir_value *w = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *idx = as_index(cx, lower_tensor_in(cx, n, 1, IR_DT_INVALID));
    return lower_out_tensor(cx, n, 0, lb_gather(cx, w, idx, 0));
}

/* x gathered along axis a at run-time indices idx (same rank, idx dims <= x dims off the axis):
 * flat = idx * stride[a] + offset(position), gathered from x flattened. */
static ir_value *gather_along(lower_ctx *cx, ir_value *x, ir_value *idx, int a) {
    if (lb_static(cx, x, "gather") || lb_static(cx, idx, "gather indices")) return NULL;
    int r = x->type.rank;
    if (idx->type.rank != r) {
        lower_fail(cx, "gather indices of rank %d for a rank-%d input", idx->type.rank, r);
        return NULL;
    }
    int64_t stride[IR_MAX_RANK], cnt = ir_type_numel(&idx->type);
    stride[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--) stride[i] = stride[i + 1] * x->type.dims[i + 1];
    for (int i = 0; i < r; i++)
        if (i != a && idx->type.dims[i] > x->type.dims[i]) {
            lower_fail(cx, "gather index dim %d larger than the input's", i);
            return NULL;
        }
    float *off = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(cnt ? cnt : 1));
    if (!off) return NULL;
    for (int64_t p = 0; p < cnt; p++) {
        int64_t rem = p, o = 0;
        for (int i = r - 1; i >= 0; i--) {
            int64_t c = rem % idx->type.dims[i];
            rem /= idx->type.dims[i];
            if (i != a) o += c * stride[i];
        }
        off[p] = (float)o;
    }
    if (stride[a] * x->type.dims[a] > (1 << 24)) {
        lower_fail(cx, "gather over more than 2^24 elements");
        return NULL;
    }
    ir_value *offs = lb_const(cx, IR_INT32, r, idx->type.dims, off, "offsets");
    ir_value *w = lb_wrap_index(cx, idx, x->type.dims[a]); /* take_along_dim's -1 is the last */
    ir_value *sc = lb_scalar_op(cx, IR_OP_MUL, w, (double)stride[a]);
    ir_value *flat_idx = lb_binary(cx, IR_OP_ADD, sc, offs, "flat_index");
    int64_t all = -1;
    ir_value *flat = lb_reshape(cx, x, 1, &all, "flat");
    return lb_gather(cx, flat, flat_idx, 0);
}

/* gather(self, dim, index, sparse_grad=False), take_along_dim(self, indices, dim) */
int lower_gather_op(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int take = cx->row->sub == 1;
    int64_t d = 0;
    int a;
    if (!x) return -1;
    ir_value *idx = as_index(cx, lower_tensor_in(cx, n, take ? 1 : 2, IR_DT_INVALID));
    if (!idx) return -1;
    if (take && (n->nin < 3 || lower_is_none(cx, n, 2))) {
        int64_t all = -1;
        x = lb_reshape(cx, x, 1, &all, "flat");
        idx = lb_reshape(cx, idx, 1, &all, "flat_idx");
        return lower_out_tensor(cx, n, 0, lb_gather(cx, x, idx, 0));
    }
    if (lower_int_in(cx, n, take ? 2 : 1, &d) || lower_axis(cx, d, x->type.rank, &a)) return -1;
    if (take && x->type.rank == idx->type.rank) { /* take_along_dim broadcasts x and idx off the axis */
        if (lb_static(cx, x, "take_along_dim input") || lb_static(cx, idx, "take_along_dim indices")) return -1;
        int64_t xd[IR_MAX_RANK], id[IR_MAX_RANK];
        for (int i = 0; i < x->type.rank; i++) {
            int64_t p = x->type.dims[i], q = idx->type.dims[i];
            if (i != a && p != q && p != 1 && q != 1)
                return lower_fail(cx, "take_along_dim: dim %d of sizes %lld and %lld do not broadcast", i, (long long)p, (long long)q);
            xd[i] = i == a ? p : p > q ? p : q;
            id[i] = i == a ? q : xd[i];
        }
        ir_type xt = ir_tensor_type(x->type.dtype, x->type.rank, xd), it = ir_tensor_type(IR_INT32, idx->type.rank, id);
        if (!ir_type_equal(&xt, &x->type) && !(x = lb_broadcast(cx, x, &xt))) return -1;
        if (!ir_type_equal(&it, &idx->type) && !(idx = lb_broadcast(cx, idx, &it))) return -1;
    }
    return lower_out_tensor(cx, n, 0, gather_along(cx, x, idx, a));
}

/* The int32 positions of a bool mask, flattened over its dims: constants for a constant mask,
 * else non_zero of the flattened mask at run time ([N], N known only at run time). */
static ir_value *mask_positions(lower_ctx *cx, ir_value *m, int64_t *count) {
    if (lb_static(cx, m, "bool index")) return NULL;
    if (!m->konst) {
        int64_t all = -1;
        ir_value *flat = lb_reshape(cx, m, 1, &all, "mask_flat");
        ir_op *op = lb_op(cx, IR_OP_NON_ZERO, "mask_nz");
        if (!op || ir_op_set_input(op, "x", flat)) return NULL;
        ir_value *nz = lb_finish(cx, op);
        *count = -1;
        return lb_reshape(cx, nz, 1, &all, "mask_pos");
    }
    int64_t total = ir_type_numel(&m->type), k = 0;
    float *pos = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(total ? total : 1));
    if (!pos) return NULL;
    for (int64_t i = 0; i < total; i++)
        if (ir_const_get_i64(m->konst, i)) pos[k++] = (float)i;
    if (!k) {
        lower_fail(cx, "bool mask selects nothing");
        return NULL;
    }
    *count = k;
    return lb_const(cx, IR_INT32, 1, &k, pos, "mask_pos");
}

/* index(self, indices: Tensor?[]): the indexed dims (int tensors, broadcast together) are merged
 * into one and gathered with a flat index; non-adjacent indexed dims put the result dims first,
 * like torch. A bool mask covering k dims becomes those dims' flat positions (constants, or
 * non_zero at run time). */
static int index_impl(lower_ctx *cx, const ts_node *n, ir_value *x);

int lower_index(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || x->type.dtype != IR_BOOL) return x ? index_impl(cx, n, x) : -1;
    /* MIL gathers take no bools: index an int32 copy, cast back */
    if (index_impl(cx, n, lb_cast(cx, x, IR_INT32, "int"))) return -1;
    lv *r = cx->vals[n->out[0]->id];
    return lower_out_tensor(cx, n, 0, lb_cast(cx, r->v, IR_BOOL, "restored"));
}

static int index_impl(lower_ctx *cx, const ts_node *n, ir_value *x) {
    lv *l = lower_in(cx, n, 1);
    if (!l) return -1;
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE)) return lower_fail(cx, "indices must be a list");
    int r = x->type.rank, nd = 0, first = -1, last = -1, dim = 0;
    int64_t axes[IR_MAX_RANK];
    ir_value *idx[IR_MAX_RANK];
    int from_mask[IR_MAX_RANK]; /* mask positions are never negative */
    for (int i = 0; i < l->n; i++) {
        lv *e = l->items[i];
        if (e->kind == LV_NONE) {
            dim++;
            continue;
        }
        ir_value *t = lb_as_tensor(cx, e, IR_DT_INVALID);
        if (!t) return -1;
        if (nd == IR_MAX_RANK || dim >= r) return lower_fail(cx, "too many indices for a rank-%d tensor", r);
        if (t->type.dtype == IR_BOOL) { /* a mask over t.rank dims -> flat positions over them */
            int k = t->type.rank;
            if (dim + k > r) return lower_fail(cx, "bool mask of rank %d at dim %d of a rank-%d tensor", k, dim, r);
            for (int j = 0; j < k; j++)
                if (t->type.dims[j] != x->type.dims[dim + j]) return lower_fail(cx, "bool mask shape does not match");
            int64_t cnt;
            ir_value *pos = mask_positions(cx, t, &cnt);
            if (!pos) return -1;
            if (k != 1) { /* merge the masked dims of x */
                int64_t shape[IR_MAX_RANK], m = 0, prod = 1;
                for (int j = 0; j < r; j++) {
                    if (j >= dim && j < dim + k) {
                        prod *= x->type.dims[j];
                        if (j == dim + k - 1) shape[m++] = prod;
                    } else {
                        shape[m++] = x->type.dims[j];
                    }
                }
                if (lb_static(cx, x, "bool indexing") || !(x = lb_reshape(cx, x, (int)m, shape, "merged"))) return -1;
                r = (int)m;
            }
            idx[nd] = pos;
            from_mask[nd] = 1;
            axes[nd++] = dim;
            if (first < 0) first = dim;
            last = dim;
            dim++;
            continue;
        }
        if (!(t = as_index(cx, t))) return -1;
        idx[nd] = t;
        from_mask[nd] = 0;
        axes[nd++] = dim;
        if (first < 0) first = dim;
        last = dim;
        dim++;
    }
    if (nd == 0) return lower_out_tensor(cx, n, 0, lb_unary(cx, IR_OP_IDENTITY, x, NULL));
    if (nd == 1) return lower_out_tensor(cx, n, 0, lb_gather(cx, x, idx[0], (int)axes[0]));
    int adjacent = last - first + 1 == nd;
    /* move the indexed dims to the front (in order), merge them, gather on axis 0 */
    int64_t perm[IR_MAX_RANK], shape[IR_MAX_RANK];
    int m = 0;
    for (int i = 0; i < nd; i++) perm[m++] = axes[i];
    for (int i = 0; i < r; i++) {
        int used = 0;
        for (int j = 0; j < nd; j++) used |= axes[j] == i;
        if (!used) perm[m++] = i;
    }
    if (lb_static(cx, x, "advanced indexing")) return -1;
    ir_value *xt = lb_transpose(cx, x, perm);
    int64_t prod = 1;
    for (int i = 0; i < nd; i++) prod *= x->type.dims[axes[i]];
    shape[0] = prod;
    for (int i = nd; i < r; i++) shape[i - nd + 1] = x->type.dims[perm[i]];
    ir_value *xm = lb_reshape(cx, xt, r - nd + 1, shape, "merged");
    ir_value *flat = NULL;
    int64_t stride = 1;
    for (int i = nd - 1; i >= 0; i--) { /* negative entries count from the end of their own dim */
        ir_value *w = from_mask[i] ? idx[i] : lb_wrap_index(cx, idx[i], x->type.dims[axes[i]]);
        ir_value *t = stride == 1 || !w ? w : lb_scalar_op(cx, IR_OP_MUL, w, (double)stride);
        flat = flat ? lb_binary(cx, IR_OP_ADD, t, flat, "flat_index") : t;
        if (!flat) return -1;
        stride *= x->type.dims[axes[i]];
    }
    ir_value *g = lb_gather(cx, xm, flat, 0);
    if (!g) return -1;
    if (adjacent && first > 0) { /* the result dims go where the indexed dims were */
        int br = flat->type.rank, gr = g->type.rank;
        int64_t p2[IR_MAX_RANK];
        int k = 0;
        for (int i = 0; i < first; i++) p2[k++] = br + i;
        for (int i = 0; i < br; i++) p2[k++] = i;
        for (int i = br + first; i < gr; i++) p2[k++] = i;
        g = lb_transpose(cx, g, p2);
    }
    return lower_out_tensor(cx, n, 0, g);
}

/* value (scalar or tensor) broadcast to x's shape and dtype */
static ir_value *fill_like(lower_ctx *cx, ir_value *x, lv *val) {
    ir_value *v = lb_as_tensor(cx, val, x->type.dtype);
    if (!v || lb_static(cx, x, "fill / copy target")) return NULL;
    return lb_broadcast(cx, v, &x->type);
}

/* copy_(self, src, non_blocking=False), fill_(self, value): the new value of self (view.c writes it back). */
int lower_copy_fill(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    lv *val = lower_in(cx, n, 1);
    return val ? lower_out_tensor(cx, n, 0, fill_like(cx, x, val)) : -1;
}
