/* pool.c: max/avg pooling (1d, 2d, 3d), adaptive average / max pooling (global -> reduce,
 * evenly dividing -> pool, otherwise per-window slices + reduce + concat, one axis at a time),
 * and the mean / sum reductions. */
#include "lower/build.h"

#include <string.h>

static int list_param(lower_ctx *cx, const ts_node *n, int i, int sp, int64_t dflt, int64_t *out, int *given) {
    int64_t v[8];
    int cnt = 0;
    *given = 0;
    if (i < n->nin && !lower_is_none(cx, n, i) && lower_ints_in(cx, n, i, v, 8, &cnt)) return -1;
    for (int k = 0; k < sp; k++) out[k] = cnt == 0 ? dflt : cnt == 1 ? v[0] : v[k];
    if (cnt > 1 && cnt != sp) return lower_fail(cx, "input %d has %d values for %d spatial dims", i, cnt, sp);
    *given = cnt > 0;
    return 0;
}

/* x with exactly sp + 2 dims: an unbatched input gets a batch dim (*added = 1). */
static ir_value *batched(lower_ctx *cx, ir_value *x, int sp, int *added) {
    *added = 0;
    if (x->type.rank == sp + 2) return x;
    if (x->type.rank != sp + 1) {
        lower_fail(cx, "input of rank %d for %dd pooling", x->type.rank, sp);
        return NULL;
    }
    int64_t ax = 0;
    ir_op *e = lb_op(cx, IR_OP_EXPAND_DIMS, "batched");
    if (!e || ir_op_set_input(e, "x", x) || lb_param_i32v(cx, e, "axes", 1, &ax)) return NULL;
    *added = 1;
    return lb_finish(cx, e);
}

static ir_value *unbatch(lower_ctx *cx, ir_value *y, int added) {
    if (!y || !added) return y;
    int64_t ax = 0;
    ir_op *s = lb_op(cx, IR_OP_SQUEEZE, NULL);
    if (!s || ir_op_set_input(s, "x", y) || lb_param_i32v(cx, s, "axes", 1, &ax)) return NULL;
    return lb_finish(cx, s);
}

/* x, kernel, strides, pads, ceil_mode of a pooling op. torch drops a last ceil_mode window that starts
 * past the input (+ left padding) where MIL keeps it when there is no padding: floor mode is used
 * wherever both agree on the size. Core ML has no ceil_mode for 3-D pooling: there the extra windows
 * come from end padding instead (*end_padded = 1). */
static int pool_common(lower_ctx *cx, ir_op *op, ir_value *x, int sp, const int64_t *k, const int64_t *s,
                       const int64_t *p, int ceil_mode, int *end_padded) {
    int64_t pad[6], extra[3] = {0, 0, 0};
    int need_ceil = 0;
    if (end_padded) *end_padded = 0;
    for (int d = 0; d < sp && ceil_mode; d++) {
        int64_t in = x->type.dims[x->type.rank - sp + d];
        if (in < 0) {
            need_ceil = 1;
            continue;
        }
        int64_t span = in + 2 * p[d] - k[d], fl = span / s[d] + 1, ce = (span + s[d] - 1) / s[d] + 1;
        if ((ce - 1) * s[d] >= in + p[d]) ce--;
        need_ceil |= ce != fl;
        extra[d] = ce != fl ? (ce - 1) * s[d] + k[d] - (in + 2 * p[d]) : 0;
    }
    ceil_mode = need_ceil;
    if (ceil_mode && sp == 3) {
        for (int d = 0; d < sp; d++)
            if (x->type.dims[x->type.rank - sp + d] < 0) return lower_fail(cx, "3-D ceil_mode pooling of a symbolic dim");
        ceil_mode = 0;
        if (end_padded) *end_padded = 1;
    }
    for (int d = 0; d < sp; d++) {
        pad[2 * d] = p[d];
        pad[2 * d + 1] = p[d] + (ceil_mode ? 0 : extra[d]);
    }
    if (ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "kernel_sizes", sp, k) ||
        lb_param_i32v(cx, op, "strides", sp, s) || lb_param_str(cx, op, "pad_type", "custom") ||
        lb_param_i32v(cx, op, "pad", 2 * sp, pad) || (sp < 3 && lb_param_bool(cx, op, "ceil_mode", ceil_mode)))
        return -1;
    return 0;
}

/* max_pool{1,2}d(self, kernel_size, stride=[], padding=0, dilation=1, ceil_mode=False) */
int lower_max_pool(lower_ctx *cx, const ts_node *n) {
    int sp = cx->row->sub, given, ceil_mode = 0, added;
    int64_t k[3], s[3], p[3], dil[3];
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || list_param(cx, n, 1, sp, 1, k, &given) || list_param(cx, n, 2, sp, 0, s, &given)) return -1;
    if (!given) memcpy(s, k, sizeof s);
    if (list_param(cx, n, 3, sp, 0, p, &given) || list_param(cx, n, 4, sp, 1, dil, &given)) return -1;
    if (n->nin > 5 && lower_bool_in(cx, n, 5, &ceil_mode)) return -1;
    for (int d = 0; d < sp; d++)
        if (dil[d] != 1) return lower_max_pool_indices(cx, n); /* window decomposition (pool_idx.c) */
    if (!(x = batched(cx, x, sp, &added))) return -1;
    ir_op *op = lb_op(cx, IR_OP_MAX_POOL, added ? "pool" : NULL);
    if (!op || pool_common(cx, op, x, sp, k, s, p, ceil_mode, NULL)) return -1;
    return lower_out_tensor(cx, n, 0, unbatch(cx, lb_finish(cx, op), added));
}

/* avg_pool{1,2}d(self, kernel_size, stride=[], padding=0, ceil_mode=False, count_include_pad=True,
 * divisor_override=None (2d only)) */
int lower_avg_pool(lower_ctx *cx, const ts_node *n) {
    int sp = cx->row->sub, given, ceil_mode = 0, include_pad = 1, added;
    int64_t k[3], s[3], p[3], divisor = 0;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || list_param(cx, n, 1, sp, 1, k, &given) || list_param(cx, n, 2, sp, 0, s, &given)) return -1;
    if (!given) memcpy(s, k, sizeof s);
    if (list_param(cx, n, 3, sp, 0, p, &given)) return -1;
    if (n->nin > 4 && lower_bool_in(cx, n, 4, &ceil_mode)) return -1;
    if (n->nin > 5 && lower_bool_in(cx, n, 5, &include_pad)) return -1;
    if (n->nin > 6 && !lower_is_none(cx, n, 6) && lower_int_in(cx, n, 6, &divisor)) return -1;
    int padded = 0;
    int64_t window = 1;
    for (int d = 0; d < sp; d++) {
        padded |= p[d] != 0;
        window *= k[d];
    }
    if (divisor && (ceil_mode || (padded && !include_pad)))
        return lower_fail(cx, "divisor_override together with ceil_mode or count_include_pad=False cannot be expressed");
    if (!(x = batched(cx, x, sp, &added))) return -1;
    ir_op *op = lb_op(cx, IR_OP_AVG_POOL, added || (divisor && divisor != window) ? "pool" : NULL);
    int end_padded;
    if (!op || pool_common(cx, op, x, sp, k, s, p, ceil_mode, &end_padded)) return -1;
    if (end_padded && include_pad && padded) /* torch counts the real padding but not the ceil overhang */
        return lower_fail(cx, "3-D average pooling with ceil_mode, padding and count_include_pad cannot be expressed");
    if (lb_param_bool(cx, op, "exclude_padding_from_average", !include_pad || end_padded)) return -1;
    ir_value *y = lb_finish(cx, op);
    if (y && divisor && divisor != window) { /* sum / divisor = mean * window / divisor */
        ir_value *c = lb_const_scalar(cx, (double)window / (double)divisor, y->type.dtype, "scale");
        y = lb_binary(cx, IR_OP_MUL, y, c, added ? "scaled" : NULL);
    }
    return lower_out_tensor(cx, n, 0, unbatch(cx, y, added));
}

static ir_value *reduce(lower_ctx *cx, ir_opkind kind, ir_value *x, int nax, const int64_t *axes, int keep,
                        const char *suffix) {
    ir_op *op = lb_op(cx, kind, suffix);
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", nax, axes) ||
        lb_param_bool(cx, op, "keep_dims", keep))
        return NULL;
    return lb_finish(cx, op);
}

/* One spatial axis of adaptive pooling with uneven windows: torch's window i spans
 * [floor(i*in/out), ceil((i+1)*in/out)); each is sliced, reduced, and the pieces concatenated. */
static ir_value *adaptive_axis(lower_ctx *cx, ir_value *x, int axis, int64_t out, int is_max) {
    int64_t in = x->type.dims[axis];
    if (in == out) return x;
    ir_value **parts = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)out);
    if (!parts) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < out; i++) {
        int64_t b = i * in / out, e = ((i + 1) * in + out - 1) / out;
        int64_t ax = axis;
        ir_value *w = lb_slice(cx, x, axis, b, e, 0, 1, 0);
        if (!(parts[i] = lb_reduce(cx, is_max ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MEAN, w, 1, &ax, 1))) return NULL;
    }
    return lb_concat(cx, (int)out, parts, axis);
}

/* adaptive_avg_pool{1,2,3}d(self, output_size), adaptive_max_pool{1,2,3}d(self, output_size) -> (values, indices);
 * when the indices are read, pool_idx.c computes both. */
int lower_adaptive_pool(lower_ctx *cx, const ts_node *n) {
    int sp = cx->row->sub, added, is_max = cx->row->mil == IR_OP_MAX_POOL;
    int64_t out[3];
    if (is_max && lb_used(cx, n, 1)) return lower_max_pool_indices(cx, n); /* indices read: pool_idx.c */
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    lv *ol = lower_in(cx, n, 1);
    if (!ol) return -1;
    int r = x->type.rank;
    if (r < sp + 1) return lower_fail(cx, "input of rank %d", r);
    for (int d = 0; d < sp; d++) { /* None entries keep the input size */
        lv *e = ol->kind == LV_LIST || ol->kind == LV_TUPLE ? (d < ol->n ? ol->items[d] : NULL) : ol;
        if (e && e->kind == LV_NONE) out[d] = x->type.dims[r - sp + d];
        else if (e && e->kind == LV_INT && !e->dyn) out[d] = e->i;
        else return lower_fail(cx, "output_size must be known at conversion time");
    }
    int global = 1, even = 1;
    int64_t k[3];
    for (int d = 0; d < sp; d++) {
        int64_t in = x->type.dims[r - sp + d];
        global &= out[d] == 1;
        if (in < 0 || out[d] <= 0 || in % out[d]) even = 0;
        else k[d] = in / out[d];
    }
    ir_opkind red = is_max ? IR_OP_REDUCE_MAX : IR_OP_REDUCE_MEAN;
    if (global) {
        int64_t axes[3];
        for (int d = 0; d < sp; d++) axes[d] = r - sp + d;
        if (is_max && n->nout > 1 && lower_out(cx, n, 1, lv_none(cx))) return -1; /* indices: not computed */
        return lower_out_tensor(cx, n, 0, lb_reduce(cx, red, x, sp, axes, 1));
    }
    if (!even) {
        for (int d = 0; d < sp; d++) {
            int64_t in = x->type.dims[r - sp + d];
            if (in < 0) return lower_fail(cx, "adaptive pooling of a symbolic spatial dim to a size other than 1");
            if (out[d] <= 0 || out[d] > 4096) return lower_fail(cx, "adaptive pooling to size %lld", (long long)out[d]);
            if (!(x = adaptive_axis(cx, x, r - sp + d, out[d], is_max))) return -1;
        }
        if (is_max && n->nout > 1 && lower_out(cx, n, 1, lv_none(cx))) return -1; /* indices: not computed */
        return lower_out_tensor(cx, n, 0, x);
    }
    int64_t zero[3] = {0, 0, 0};
    if (is_max && n->nout > 1 && lower_out(cx, n, 1, lv_none(cx))) return -1; /* indices: not computed */
    if (!(x = batched(cx, x, sp, &added))) return -1;
    ir_op *op = lb_op(cx, is_max ? IR_OP_MAX_POOL : IR_OP_AVG_POOL, added ? "pool" : NULL);
    if (!op || pool_common(cx, op, x, sp, k, k, zero, 0, NULL) ||
        (!is_max && lb_param_bool(cx, op, "exclude_padding_from_average", 0)))
        return -1;
    return lower_out_tensor(cx, n, 0, unbatch(cx, lb_finish(cx, op), added));
}

/* mean / sum (self, dim?, keepdim=False, dtype=None), or (self, dtype=None) over all dims. */
int lower_reduce(lower_ctx *cx, const ts_node *n) {
    ir_opkind kind = cx->row->mil;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    int r = x->type.rank, nax = 0, keep = 0;
    int64_t axes[IR_MAX_RANK];
    lv *d = n->nin > 1 ? lower_in(cx, n, 1) : NULL;
    int all = n->nin <= 2 || !d || d->kind == LV_NONE;
    if (!all) {
        int cnt;
        int64_t raw[IR_MAX_RANK];
        if (lower_ints_in(cx, n, 1, raw, IR_MAX_RANK, &cnt)) return -1;
        all = cnt == 0;
        for (int i = 0; i < cnt; i++) {
            int a;
            if (lower_axis(cx, raw[i], r, &a)) return -1;
            axes[nax++] = a;
        }
    }
    if (n->nin > 2 && !lower_is_none(cx, n, 2) && lower_bool_in(cx, n, 2, &keep)) return -1;
    if (all)
        for (nax = 0; nax < r; nax++) axes[nax] = nax;
    int dt_i = n->nin <= 2 ? 1 : 3; /* sum(x, dtype) / sum(x, dim, keepdim, dtype) */
    if (dt_i < n->nin && !lower_is_none(cx, n, dt_i)) {
        int64_t code;
        ir_dtype dt;
        if (lower_int_in(cx, n, dt_i, &code) || lower_scalar_type(cx, code, &dt)) return -1;
        if (dt != x->type.dtype && !(x = lb_cast(cx, x, dt, "dtype"))) return -1;
    }
    if (x->type.dtype == IR_BOOL && !(x = lb_cast(cx, x, IR_INT32, "int"))) return -1;
    if (kind == IR_OP_REDUCE_MEAN && !ir_dtype_is_float(x->type.dtype) && !(x = lb_cast(cx, x, IR_FP32, "float")))
        return -1;
    if (r == 0) return lower_out_tensor(cx, n, 0, x);
    return lower_out_tensor(cx, n, 0, reduce(cx, kind, x, nax, axes, keep, NULL));
}
