/* build.c: the small MIL op builders of build.h. */
#include "lower/build.h"

#include <string.h>

int lb_skip(lower_ctx *cx, int n, const void *const *vals) {
    if (!LB_LIVE(cx)) return 1;
    for (int i = 0; i < n; i++)
        if (!vals[i]) {
            lower_fail(cx, "internal: value argument %d of a builder is missing, with no error recorded", i);
            return 1;
        }
    return 0;
}

ir_value *lb_slice(lower_ctx *cx, ir_value *x, int axis, int64_t begin, int64_t end, int end_open, int64_t step,
                   int squeeze) {
    if (LB_SKIP(cx, x)) return NULL;
    int r = x->type.rank;
    int64_t b[IR_MAX_RANK] = {0}, e[IR_MAX_RANK] = {0}, s[IR_MAX_RANK];
    int bm[IR_MAX_RANK], em[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        s[i] = 1;
        bm[i] = em[i] = i != axis;
    }
    int64_t size = x->type.dims[axis];
    if (size >= 0) { /* positive bounds: coremltools' type inference rewrites a negative end of a const in
                      * place, which corrupts the same (deduplicated) const read by another slice */
        if (begin < 0) begin += size;
        if (!end_open && end < 0) end += size;
    }
    b[axis] = begin;
    e[axis] = end;
    em[axis] = end_open;
    s[axis] = step;
    ir_op *op = lb_op(cx, IR_OP_SLICE_BY_INDEX, "slice");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "begin", r, b) ||
        lb_param_i32v(cx, op, "end", r, e) || lb_param_i32v(cx, op, "stride", r, s) ||
        lb_param_boolv(cx, op, "begin_mask", r, bm) || lb_param_boolv(cx, op, "end_mask", r, em))
        return NULL;
    /* the axis is dropped by a squeeze op, not squeeze_mask: coremltools' slice_by_index rewrites the
     * stride of squeezed axes in place, which corrupts constants shared (deduplicated) with other ops */
    ir_value *y = lb_finish(cx, op);
    if (!y || !squeeze) return y;
    if (r == 1) return lb_reshape(cx, y, 0, NULL, "scalar");
    int64_t ax = axis;
    ir_op *sq = lb_op(cx, IR_OP_SQUEEZE, "squeeze");
    if (!sq || ir_op_set_input(sq, "x", y) || lb_param_i32v(cx, sq, "axes", 1, &ax)) return NULL;
    return lb_finish(cx, sq);
}

ir_value *lb_transpose(lower_ctx *cx, ir_value *x, const int64_t *perm) {
    if (LB_SKIP(cx, x)) return NULL;
    int r = x->type.rank, id = 1;
    for (int i = 0; i < r; i++) id &= perm[i] == i;
    if (id) return x;
    ir_op *op = lb_op(cx, IR_OP_TRANSPOSE, "transpose");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "perm", r, perm)) return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_swap(lower_ctx *cx, ir_value *x, int a, int b) {
    if (LB_SKIP(cx, x)) return NULL;
    int64_t perm[IR_MAX_RANK];
    for (int i = 0; i < x->type.rank; i++) perm[i] = i;
    perm[a] = b;
    perm[b] = a;
    return lb_transpose(cx, x, perm);
}

static ir_value *join(lower_ctx *cx, ir_opkind k, int n, ir_value *const *vs, int axis) {
    if (!LB_LIVE(cx)) return NULL;
    for (int i = 0; i < n; i++)
        if (LB_SKIP(cx, vs[i])) return NULL;
    if (n == 1 && k == IR_OP_CONCAT) return vs[0];
    ir_op *op = lb_op(cx, k, k == IR_OP_CONCAT ? "concat" : "stack");
    if (!op || ir_op_set_inputs(op, "values", n, vs) || lb_param_i32(cx, op, "axis", axis)) return NULL;
    if (k == IR_OP_CONCAT && lb_param_bool(cx, op, "interleave", 0)) return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_concat(lower_ctx *cx, int n, ir_value *const *vs, int axis) { return join(cx, IR_OP_CONCAT, n, vs, axis); }
ir_value *lb_stack(lower_ctx *cx, int n, ir_value *const *vs, int axis) { return join(cx, IR_OP_STACK, n, vs, axis); }

static ir_value *axes_op(lower_ctx *cx, ir_opkind k, ir_value *x, int n, const int64_t *axes) {
    if (LB_SKIP(cx, x)) return NULL;
    if (n == 0) return x;
    ir_op *op = lb_op(cx, k, k == IR_OP_SQUEEZE ? "squeeze" : "expand");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", n, axes)) return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_expand(lower_ctx *cx, ir_value *x, int n, const int64_t *axes) { return axes_op(cx, IR_OP_EXPAND_DIMS, x, n, axes); }

ir_value *lb_squeeze(lower_ctx *cx, ir_value *x, int n, const int64_t *axes) {
    if (x && n > 0 && n == x->type.rank) return lb_reshape(cx, x, 0, NULL, "scalar");
    return axes_op(cx, IR_OP_SQUEEZE, x, n, axes);
}

ir_value *lb_reduce(lower_ctx *cx, ir_opkind k, ir_value *x, int n, const int64_t *axes, int keep) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_op *op = lb_op(cx, k, "reduce");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", n, axes) ||
        lb_param_bool(cx, op, "keep_dims", keep))
        return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_matmul(lower_ctx *cx, ir_value *x, ir_value *y, int tx, int ty) {
    if (LB_SKIP(cx, x, y)) return NULL;
    ir_op *op = lb_op(cx, IR_OP_MATMUL, "matmul");
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "y", y) || lb_param_bool(cx, op, "transpose_x", tx) ||
        lb_param_bool(cx, op, "transpose_y", ty))
        return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_gather(lower_ctx *cx, ir_value *x, ir_value *idx, int axis) {
    if (LB_SKIP(cx, x, idx)) return NULL;
    ir_op *op = lb_op(cx, IR_OP_GATHER, "gather");
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "indices", idx) || lb_param_i32(cx, op, "axis", axis))
        return NULL;
    return lb_finish(cx, op);
}

int lb_split(lower_ctx *cx, ir_value *x, int axis, int n, const int64_t *sizes, ir_value **outs) {
    if (LB_SKIP(cx, x)) return -1;
    if (n == 1) {
        outs[0] = x;
        return 0;
    }
    ir_op *op = lb_op(cx, IR_OP_SPLIT, "split");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "split_sizes", n, sizes) ||
        lb_param_i32(cx, op, "axis", axis) || !lb_finish(cx, op))
        return -1;
    if (op->nout != n) return lower_fail(cx, "internal: split made %d outputs for %d pieces", op->nout, n);
    for (int i = 0; i < n; i++) outs[i] = op->out[i];
    return 0;
}

ir_value *lb_tile(lower_ctx *cx, ir_value *x, const int64_t *reps) {
    if (LB_SKIP(cx, x)) return NULL;
    int id = 1;
    for (int i = 0; i < x->type.rank; i++) id &= reps[i] == 1;
    if (id) return x;
    ir_op *op = lb_op(cx, IR_OP_TILE, "tile");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "reps", x->type.rank, reps)) return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_scalar(lower_ctx *cx, lv *l, ir_dtype dt) {
    if (LB_SKIP(cx, l)) return NULL;
    ir_value *v = lb_as_tensor(cx, l, dt);
    if (v && v->type.rank) v = lb_reshape(cx, v, 0, NULL, "scalar");
    return v;
}

ir_value *lb_range(lower_ctx *cx, ir_value *end, int64_t step, const char *suffix) {
    if (LB_SKIP(cx, end)) return NULL;
    ir_value *zero = lb_const_scalar(cx, 0, IR_INT32, "zero");
    ir_value *st = lb_const_scalar(cx, (double)step, IR_INT32, "step");
    ir_op *op = lb_op(cx, IR_OP_RANGE_1D, suffix);
    if (!op || ir_op_set_input(op, "end", end) || ir_op_set_input(op, "start", zero) || ir_op_set_input(op, "step", st))
        return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_cyclic(lower_ctx *cx, ir_value *x, int axis, lv *count, lv *shift) {
    if (LB_SKIP(cx, x, count, shift)) return NULL;
    lv *len = lower_dim_lv(cx, x, axis);
    ir_value *lv_len = lb_scalar(cx, len, IR_INT32), *cv = lb_scalar(cx, count, IR_INT32);
    ir_value *sv = lb_scalar(cx, shift, IR_INT32);
    ir_value *r = lb_range(cx, cv, 1, "positions");
    ir_value *idx = lb_binary(cx, IR_OP_MOD, lb_binary(cx, IR_OP_SUB, r, sv, "shifted"), lv_len, "wrapped");
    return lb_gather(cx, x, idx, axis);
}

ir_value *lb_tile_lv(lower_ctx *cx, ir_value *x, lv *const *reps) {
    if (LB_SKIP(cx, x)) return NULL;
    int64_t st[IR_MAX_RANK];
    int cnt, r = x->type.rank;
    lv *l = lower_list_of(cx, r, reps);
    if (!l) return NULL;
    if (!lv_ints(cx, l, st, IR_MAX_RANK, &cnt)) return lb_tile(cx, x, st);
    ir_value *rv = lb_shape_tensor(cx, l);
    ir_op *op = lb_op(cx, IR_OP_TILE, "tile");
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "reps", rv)) return NULL;
    ir_value *y = lb_finish(cx, op);
    if (y) /* dims tiled a known number of times keep what is known of their size */
        for (int i = 0; i < r; i++) {
            int64_t d = x->type.dims[i], k = reps[i]->i;
            if (!reps[i]->dyn && (k == 1 || !IR_IS_SYM(d))) y->type.dims[i] = IR_IS_SYM(d) ? d : d * k;
        }
    return y;
}

ir_value *lb_const(lower_ctx *cx, ir_dtype dt, int rank, const int64_t *dims, const float *data, const char *suffix) {
    if (!LB_LIVE(cx)) return NULL;
    const char *nm = lower_name(cx, suffix);
    if (!nm) return NULL;
    ir_type t = ir_tensor_type(dt, rank, dims);
    int64_t n = ir_type_numel(&t);
    ir_value *v;
    if (dt == IR_INT32 || dt == IR_BOOL) {
        size_t es = dt == IR_INT32 ? 4 : 1;
        uint8_t *buf = pc_alloc(cx->p->arena, (size_t)(n ? n : 1) * es);
        if (!buf) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"), NULL;
        for (int64_t i = 0; i < n; i++) {
            if (dt == IR_INT32) ((int32_t *)buf)[i] = (int32_t)data[i];
            else buf[i] = data[i] != 0;
        }
        v = ir_const_new(cx->p, cx->b, nm, t, dt, buf, 0); /* arena-owned */
    } else {
        float *buf = pc_alloc(cx->p->arena, (size_t)(n ? n : 1) * sizeof(float));
        if (!buf) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"), NULL;
        memcpy(buf, data, (size_t)n * sizeof(float));
        v = ir_const_new(cx->p, cx->b, nm, t, IR_FP32, buf, 0);
    }
    if (!v) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    v->def->loc = cx->loc;
    return lower_names_add(cx, v->name, v) ? NULL : v;
}

ir_value *lb_const_like(lower_ctx *cx, double v, const ir_value *like, const char *suffix) {
    if (LB_SKIP(cx, like)) return NULL;
    return lb_const_scalar(cx, v, like->type.dtype, suffix);
}

ir_value *lb_scalar_op(lower_ctx *cx, ir_opkind k, ir_value *x, double s) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_value *c = lb_const_scalar(cx, s, x->type.dtype, "c");
    return lb_binary(cx, k, x, c, NULL);
}

ir_value *lb_wrap_index(lower_ctx *cx, ir_value *idx, int64_t size) {
    if (LB_SKIP(cx, idx)) return NULL;
    if (idx->konst && idx->konst->count == ir_type_numel(&idx->type)) {
        int64_t cnt = idx->konst->count, neg = 0;
        for (int64_t i = 0; i < cnt; i++) neg |= ir_const_get_i64(idx->konst, i) < 0;
        if (!neg) return idx;
        float *w = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(cnt ? cnt : 1));
        if (!w) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"), NULL;
        for (int64_t i = 0; i < cnt; i++) {
            int64_t v = ir_const_get_i64(idx->konst, i);
            w[i] = (float)(v < 0 ? v + size : v);
        }
        return lb_const(cx, IR_INT32, idx->type.rank, idx->type.dims, w, "wrapped");
    }
    ir_value *z = lb_const_scalar(cx, 0, IR_INT32, "zero");
    ir_value *lt = lb_binary(cx, IR_OP_LESS, idx, z, "negative");
    ir_value *li = lb_cast(cx, lt, IR_INT32, "negative_int");
    ir_value *off = lb_scalar_op(cx, IR_OP_MUL, li, (double)size);
    return lb_binary(cx, IR_OP_ADD, idx, off, "wrapped");
}

ir_value *lb_affine(lower_ctx *cx, ir_value *x, double a, double b) {
    if (LB_SKIP(cx, x)) return NULL;
    if (a != 1) x = lb_scalar_op(cx, IR_OP_MUL, x, a);
    if (b != 0) x = lb_scalar_op(cx, IR_OP_ADD, x, b);
    return x;
}

ir_value *lb_softmax(lower_ctx *cx, ir_value *x, int axis) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_op *op = lb_op(cx, IR_OP_SOFTMAX, "softmax");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32(cx, op, "axis", axis)) return NULL;
    return lb_finish(cx, op);
}

int lb_static(lower_ctx *cx, ir_value *x, const char *what) {
    if (LB_SKIP(cx, x)) return -1;
    if (!ir_type_is_static(&x->type)) return lower_fail(cx, "%s needs a static shape", what);
    return 0;
}

ir_value *lb_assign(lower_ctx *cx, ir_value *b, ir_value *nv, int a, int64_t begin, int64_t end, int64_t step) {
    if (LB_SKIP(cx, b, nv)) return NULL;
    int64_t size = b->type.dims[a];
    if (size < 0) {
        lower_fail(cx, "assignment into a slice of a symbolic dim");
        return NULL;
    }
    if (step != 1) { /* interleave: gather from concat(base, new) with constant indices */
        ir_value *both[2] = {b, nv};
        ir_value *cat = lb_concat(cx, 2, both, a);
        float *idx = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(size ? size : 1));
        if (!idx) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"), NULL;
        for (int64_t i = 0; i < size; i++) {
            int in = i >= begin && i < end && (i - begin) % step == 0;
            idx[i] = (float)(in ? size + (i - begin) / step : i);
        }
        return lb_gather(cx, cat, lb_const(cx, IR_INT32, 1, &size, idx, "assign_idx"), a);
    }
    ir_value *parts[3];
    int k = 0;
    if (begin > 0) parts[k++] = lb_slice(cx, b, a, 0, begin, 0, 1, 0);
    parts[k++] = nv;
    if (end < size) parts[k++] = lb_slice(cx, b, a, end, size, 0, 1, 0);
    return k == 1 ? lb_unary(cx, IR_OP_IDENTITY, nv, "assigned") : lb_concat(cx, k, parts, a);
}

ir_value *lb_mask_ranks(lower_ctx *cx, ir_value *m) {
    if (LB_SKIP(cx, m)) return NULL;
    if (m->type.dtype != IR_INT32 && !(m = lb_cast(cx, m, IR_INT32, "mask_int"))) return NULL;
    ir_op *op = lb_op(cx, IR_OP_CUMSUM, "ranks");
    if (!op || ir_op_set_input(op, "x", m) || lb_param_i32(cx, op, "axis", 0)) return NULL;
    ir_value *c = lb_scalar_op(cx, IR_OP_SUB, lb_finish(cx, op), 1);
    return lb_scalar_op(cx, IR_OP_MAXIMUM, c, 0);
}

ir_value *lb_broadcast(lower_ctx *cx, ir_value *v, const ir_type *t) {
    if (LB_SKIP(cx, v)) return NULL;
    if (v->type.dtype != t->dtype && !(v = lb_cast(cx, v, t->dtype, "cast"))) return NULL;
    int r = t->rank, vr = v->type.rank;
    if (vr > r) {
        lower_fail(cx, "source of rank %d for a rank-%d target", vr, r);
        return NULL;
    }
    int64_t shape[IR_MAX_RANK], reps[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int vi = i - (r - vr);
        shape[i] = vi >= 0 ? v->type.dims[vi] : 1;
        if (shape[i] != 1 && shape[i] != t->dims[i]) {
            lower_fail(cx, "source does not broadcast to the target");
            return NULL;
        }
        reps[i] = shape[i] == 1 ? t->dims[i] : 1;
    }
    if (vr != r && !(v = lb_reshape(cx, v, r, shape, "src"))) return NULL;
    int any = 0;
    for (int i = 0; i < r; i++) any |= reps[i] != 1;
    if (!any) return lb_unary(cx, IR_OP_IDENTITY, v, NULL);
    return lb_tile(cx, v, reps);
}
static int block_reads(const ts_block *b, const ts_value *v) {
    for (int i = 0; i < b->nout; i++)
        if (b->out[i] == v) return 1;
    for (int i = 0; i < b->nnodes; i++) {
        const ts_node *m = b->nodes[i];
        for (int k = 0; k < m->nin; k++)
            if (m->in[k] == v) return 1;
        for (int k = 0; k < m->nblocks; k++)
            if (block_reads(m->blocks[k], v)) return 1;
    }
    return 0;
}

int lb_used(lower_ctx *cx, const ts_node *n, int i) { return i < n->nout && block_reads(cx->g->top, n->out[i]); }
