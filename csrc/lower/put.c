/* put.c: index_put / index_put_ (x[indices] = values, accumulate=False), static x.
 * - one bool mask over k dims (constant or run-time): select(mask, values, x); values that hold one
 *   entry per selected element (their count known only at run time) are placed by the mask's
 *   ranks (cumsum) through a gather, so every shape stays static;
 * - one constant int index vector without repeats: gather from concat(x, values);
 * - int index tensors (run-time or not, broadcast together): scatter on one dim, scatter_nd with
 *   coordinate tuples for several (indexed dims moved to the front), mode add when accumulating.
 * Negative indices count from the end. */
#include "lower/build.h"

#include <string.h>

static ir_value *select_op(lower_ctx *cx, ir_value *c, ir_value *a, ir_value *b) {
    ir_op *op = lb_op(cx, IR_OP_SELECT, NULL);
    if (!op || ir_op_set_input(op, "cond", c) || ir_op_set_input(op, "a", a) || ir_op_set_input(op, "b", b)) return NULL;
    return lb_finish(cx, op);
}

/* x[..., mask, ...] = v with the mask over dims [dim, dim + k). torch's target shape is
 * x.dims[:dim] + [N] + x.dims[dim+k:]; v broadcasts to it. */
static ir_value *masked_put(lower_ctx *cx, ir_value *x, ir_value *mask, int dim, ir_value *v, int acc) {
    if (LB_SKIP(cx, x, mask, v)) return NULL;
    int r = x->type.rank, k = mask->type.rank, rest = r - dim - k;
    if (lb_static(cx, mask, "bool index")) return NULL;
    if (k == 0 || rest < 0) {
        lower_fail(cx, "bool mask of rank %d at dim %d of a rank-%d tensor", k, dim, r);
        return NULL;
    }
    for (int j = 0; j < k; j++)
        if (mask->type.dims[j] != x->type.dims[dim + j]) {
            lower_fail(cx, "bool mask shape does not match the indexed dims");
            return NULL;
        }
    int64_t ms[IR_MAX_RANK];
    for (int i = 0; i < r; i++) ms[i] = i < dim || i >= dim + k ? 1 : x->type.dims[i];
    ir_value *mb = k == r ? mask : lb_reshape(cx, mask, r, ms, "mask_b");
    if (!mb) return NULL;
    if (v->type.dtype != x->type.dtype && !(v = lb_cast(cx, v, x->type.dtype, "values"))) return NULL;
    if (v->type.rank > rest && ir_type_numel(&v->type) == 1) v = lb_reshape(cx, v, 0, NULL, "value");
    if (v && v->type.rank > rest) { /* v has an axis for the selected elements */
        int a = v->type.rank - rest - 1;
        if (a > dim) {
            lower_fail(cx, "values of rank %d do not broadcast to the indexed shape", v->type.rank);
            return NULL;
        }
        for (int i = 0; i < v->type.rank; i++)
            if (i != a && IR_IS_SYM(v->type.dims[i])) {
                lower_fail(cx, "values need static dims off the selected axis");
                return NULL;
            }
        int64_t shape[IR_MAX_RANK], m = 0;
        for (int i = 0; i < a; i++) shape[m++] = v->type.dims[i];
        if (v->type.dims[a] == 1) { /* one row for every selected element */
            for (int j = 0; j < k; j++) shape[m++] = 1;
        } else { /* one row per selected element, in order: row rank(p) at mask position p */
            int64_t all = -1;
            ir_value *flat = lb_reshape(cx, mask, 1, &all, "mask_flat");
            if (!(v = lb_gather(cx, v, lb_mask_ranks(cx, flat), a))) return NULL;
            for (int j = 0; j < k; j++) shape[m++] = mask->type.dims[j];
        }
        for (int i = a + 1; i < v->type.rank; i++) shape[m++] = v->type.dims[i];
        if (m > IR_MAX_RANK) {
            lower_fail(cx, "values rank exceeds %d", IR_MAX_RANK);
            return NULL;
        }
        v = lb_reshape(cx, v, (int)m, shape, "placed");
    }
    if (!v) return NULL;
    for (int i = 1; i <= v->type.rank; i++) { /* v must now broadcast to x */
        int64_t vd = v->type.dims[v->type.rank - i], xd = x->type.dims[r - i];
        if (vd != 1 && vd != xd) {
            lower_fail(cx, "values do not broadcast to the indexed shape");
            return NULL;
        }
    }
    if (acc) v = lb_binary(cx, IR_OP_ADD, x, v, "accumulated");
    return select_op(cx, mb, v, x);
}

/* One constant int index vector with distinct entries on dim: gather from concat(x, values). */
static ir_value *const_put(lower_ctx *cx, ir_value *x, ir_value *t, int dim, lv *vl, int acc) {
    int64_t size = x->type.dims[dim], cnt = t->konst->count;
    int64_t vshape[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++) vshape[i] = i == dim ? cnt : x->type.dims[i];
    ir_type bt = ir_tensor_type(x->type.dtype, x->type.rank, vshape);
    ir_value *v = lb_broadcast(cx, lb_as_tensor(cx, vl, x->type.dtype), &bt);
    float *idx = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(size ? size : 1));
    if (!idx) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"), NULL;
    for (int64_t i = 0; i < size; i++) idx[i] = (float)i;
    for (int64_t j = 0; j < cnt; j++) {
        int64_t p = ir_const_get_i64(t->konst, j);
        if (p < 0) p += size;
        idx[p] = (float)(size + j);
    }
    if (acc) { /* x at the indices + v */
        ir_value *cur = lb_gather(cx, x, lb_wrap_index(cx, t->type.dtype == IR_INT32 ? t : lb_cast(cx, t, IR_INT32, "idx"), size), dim);
        if (!(v = lb_binary(cx, IR_OP_ADD, cur, v, "accumulated"))) return NULL;
    }
    ir_value *both[2] = {x, v};
    ir_value *cat = lb_concat(cx, 2, both, dim);
    return lb_gather(cx, cat, lb_const(cx, IR_INT32, 1, &size, idx, "put_idx"), dim);
}

/* Does a constant index vector qualify for const_put (in range, no repeats)? */
static int const_ok(lower_ctx *cx, ir_value *t, int64_t size) {
    if (!t->konst || t->type.rank > 1) return 0;
    unsigned char *seen = pc_alloc(cx->p->arena, (size_t)(size ? size : 1));
    if (!seen) return 0;
    for (int64_t j = 0; j < t->konst->count; j++) {
        int64_t p = ir_const_get_i64(t->konst, j);
        if (p < 0) p += size;
        if (p < 0 || p >= size || seen[p]++) return 0;
    }
    return 1;
}

/* x[i0, i1, ...] = v with int index tensors on dims d[0..nd) (broadcast together to B): the indexed
 * dims go to the front of x, v (broadcast to torch's target shape) is arranged as B + the other
 * dims, then scatter (one index) or scatter_nd (coordinate tuples); x's order is restored. */
static ir_value *scatter_put(lower_ctx *cx, ir_value *x, int nd, const int *d, ir_value **ix, lv *vl, int acc) {
    int r = x->type.rank;
    /* B: the indices broadcast together */
    int br = 0;
    int64_t B[IR_MAX_RANK];
    for (int i = 0; i < nd; i++) {
        if (lb_static(cx, ix[i], "index")) return NULL;
        if (ix[i]->type.rank > br) br = ix[i]->type.rank;
    }
    for (int j = 0; j < br; j++) {
        B[j] = 1;
        for (int i = 0; i < nd; i++) {
            int o = j - (br - ix[i]->type.rank);
            int64_t dd = o >= 0 ? ix[i]->type.dims[o] : 1;
            if (dd != 1 && B[j] != 1 && dd != B[j]) {
                lower_fail(cx, "index tensors do not broadcast together");
                return NULL;
            }
            if (dd != 1) B[j] = dd;
        }
    }
    int adjacent = d[nd - 1] - d[0] + 1 == nd, first = d[0];
    /* x with the indexed dims first */
    int64_t perm[IR_MAX_RANK], inv[IR_MAX_RANK], others[IR_MAX_RANK];
    int m = 0, no = 0;
    for (int i = 0; i < nd; i++) perm[m++] = d[i];
    for (int i = 0; i < r; i++) {
        int used = 0;
        for (int j = 0; j < nd; j++) used |= d[j] == i;
        if (!used) perm[m++] = others[no++] = i;
    }
    for (int i = 0; i < r; i++) inv[perm[i]] = i;
    if (br + no > IR_MAX_RANK) {
        lower_fail(cx, "indexed shape rank exceeds %d", IR_MAX_RANK);
        return NULL;
    }
    ir_dtype back = x->type.dtype;
    ir_value *data = back == IR_INT32 || back == IR_FP32 || back == IR_FP16
                         ? x
                         : lb_cast(cx, x, ir_dtype_is_float(back) ? IR_FP32 : IR_INT32, "data");
    ir_value *xt = lb_transpose(cx, data, perm);
    if (!xt) return NULL;
    /* torch's target shape P: B in place of adjacent indexed dims, else B first */
    int64_t P[IR_MAX_RANK];
    int pr = 0, at = adjacent ? first : 0;
    for (int i = 0; i < no + 1; i++) {
        if (i == at)
            for (int j = 0; j < br; j++) P[pr++] = B[j];
        if (i < no) P[pr++] = x->type.dims[others[i]];
    }
    ir_type pt = ir_tensor_type(data->type.dtype, pr, P);
    ir_value *v = lb_broadcast(cx, lb_as_tensor(cx, vl, data->type.dtype), &pt);
    if (!v) return NULL;
    if (at > 0) { /* B to the front: updates are B + the other dims */
        int64_t vp[IR_MAX_RANK];
        int k = 0;
        for (int j = 0; j < br; j++) vp[k++] = at + j;
        for (int j = 0; j < at; j++) vp[k++] = j;
        for (int j = at + br; j < pr; j++) vp[k++] = j;
        if (!(v = lb_transpose(cx, v, vp))) return NULL;
    }
    const char *mode = acc ? "add" : "update";
    ir_value *out;
    if (nd == 1) { /* scatter along axis 0 with the index flattened */
        int64_t all = -1, L = 1, us[IR_MAX_RANK];
        for (int j = 0; j < br; j++) L *= B[j];
        int k = 0;
        us[k++] = L;
        for (int i = 0; i < no; i++) us[k++] = x->type.dims[others[i]];
        ir_value *fi = lb_reshape(cx, ix[0], 1, &all, "index_flat");
        fi = lb_wrap_index(cx, fi, x->type.dims[d[0]]);
        if (br != 1 && !(v = lb_reshape(cx, v, k, us, "updates"))) return NULL;
        ir_op *op = lb_op(cx, IR_OP_SCATTER, NULL);
        if (!op || ir_op_set_input(op, "data", xt) || ir_op_set_input(op, "indices", fi) || ir_op_set_input(op, "updates", v) ||
            lb_param_i32(cx, op, "axis", 0) || lb_param_str(cx, op, "mode", mode))
            return NULL;
        out = lb_finish(cx, op);
    } else {
        ir_value *cols[IR_MAX_RANK];
        ir_type bt = ir_tensor_type(IR_INT32, br, B);
        for (int i = 0; i < nd; i++)
            if (!(cols[i] = lb_broadcast(cx, lb_wrap_index(cx, ix[i], x->type.dims[d[i]]), &bt))) return NULL;
        ir_value *coords = lb_stack(cx, nd, cols, br);
        ir_op *op = lb_op(cx, IR_OP_SCATTER_ND, NULL);
        if (!op || ir_op_set_input(op, "data", xt) || ir_op_set_input(op, "indices", coords) ||
            ir_op_set_input(op, "updates", v) || lb_param_str(cx, op, "mode", mode))
            return NULL;
        out = lb_finish(cx, op);
    }
    out = lb_transpose(cx, out, inv);
    return out && out->type.dtype != back ? lb_cast(cx, out, back, "restored") : out;
}

/* index_put / index_put_(self, indices, values, accumulate=False) */
int lower_index_put(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    lv *l = lower_in(cx, n, 1);
    lv *vl = lower_in(cx, n, 2);
    int acc = 0;
    if (!vl || (n->nin > 3 && lower_bool_in(cx, n, 3, &acc))) return -1;
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE)) return lower_fail(cx, "indices must be a list");
    if (lb_static(cx, x, "index_put target")) return -1;
    int nd = 0, dims[IR_MAX_RANK], nbool = 0;
    ir_value *ix[IR_MAX_RANK];
    for (int i = 0; i < l->n; i++) {
        if (l->items[i]->kind == LV_NONE) continue;
        if (nd == IR_MAX_RANK || i >= x->type.rank) return lower_fail(cx, "too many indices for a rank-%d tensor", x->type.rank);
        if (!(ix[nd] = lb_as_tensor(cx, l->items[i], IR_DT_INVALID))) return -1;
        nbool += ix[nd]->type.dtype == IR_BOOL;
        dims[nd++] = i;
    }
    if (nd == 0) return lower_fail(cx, "index_put without index tensors");
    if (nbool) {
        if (nd != 1) return lower_fail(cx, "index_put mixing a bool mask with other index tensors");
        ir_dtype back = x->type.dtype, dt = back == IR_BOOL ? IR_INT32 : back; /* gathers take no bools */
        ir_value *xd = dt == back ? x : lb_cast(cx, x, dt, "data");
        ir_value *v = lb_as_tensor(cx, vl, dt);
        ir_value *r = masked_put(cx, xd, ix[0], dims[0], v, acc);
        return lower_out_tensor(cx, n, 0, dt != back ? lb_cast(cx, r, back, "restored") : r);
    }
    for (int i = 0; i < nd; i++) {
        if (ir_dtype_is_float(ix[i]->type.dtype)) return lower_fail(cx, "a float index tensor");
        if (ix[i]->type.dtype != IR_INT32 && !(ix[i] = lb_cast(cx, ix[i], IR_INT32, "idx"))) return -1;
    }
    if (nd == 1 && const_ok(cx, ix[0], x->type.dims[dims[0]]))
        return lower_out_tensor(cx, n, 0, const_put(cx, x, ix[0], dims[0], vl, acc));
    return lower_out_tensor(cx, n, 0, scatter_put(cx, x, nd, dims, ix, vl, acc));
}
