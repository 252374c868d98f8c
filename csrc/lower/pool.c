/* pool.c: max/avg pooling (1d, 2d), adaptive average pooling (global -> reduce_mean,
 * evenly dividing -> avg_pool), and the mean / sum reductions. */
#include "lower/lower_int.h"

#include <string.h>

static int spatial_of(const char *kind) { return strstr(kind, "1d") ? 1 : 2; }

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
    ir_op *e = lower_op(cx, IR_OP_EXPAND_DIMS, "batched");
    if (!e || ir_op_set_input(e, "x", x) || lower_param_i32v(cx, e, "axes", 1, &ax)) return NULL;
    *added = 1;
    return lower_finish(cx, e);
}

static ir_value *unbatch(lower_ctx *cx, ir_value *y, int added) {
    if (!y || !added) return y;
    int64_t ax = 0;
    ir_op *s = lower_op(cx, IR_OP_SQUEEZE, NULL);
    if (!s || ir_op_set_input(s, "x", y) || lower_param_i32v(cx, s, "axes", 1, &ax)) return NULL;
    return lower_finish(cx, s);
}

static int pool_common(lower_ctx *cx, ir_op *op, ir_value *x, int sp, const int64_t *k, const int64_t *s,
                       const int64_t *p, int ceil_mode) {
    int64_t pad[4];
    for (int d = 0; d < sp; d++) pad[2 * d] = pad[2 * d + 1] = p[d];
    if (ir_op_set_input(op, "x", x) || lower_param_i32v(cx, op, "kernel_sizes", sp, k) ||
        lower_param_i32v(cx, op, "strides", sp, s) || lower_param_str(cx, op, "pad_type", "custom") ||
        lower_param_i32v(cx, op, "pad", 2 * sp, pad) || lower_param_bool(cx, op, "ceil_mode", ceil_mode))
        return -1;
    return 0;
}

/* max_pool{1,2}d(self, kernel_size, stride=[], padding=0, dilation=1, ceil_mode=False) */
int lower_max_pool(lower_ctx *cx, const ts_node *n) {
    int sp = spatial_of(n->kind), given, ceil_mode = 0, added;
    int64_t k[2], s[2], p[2], dil[2];
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || list_param(cx, n, 1, sp, 1, k, &given) || list_param(cx, n, 2, sp, 0, s, &given)) return -1;
    if (!given) memcpy(s, k, sizeof s);
    if (list_param(cx, n, 3, sp, 0, p, &given) || list_param(cx, n, 4, sp, 1, dil, &given)) return -1;
    if (n->nin > 5 && lower_bool_in(cx, n, 5, &ceil_mode)) return -1;
    for (int d = 0; d < sp; d++)
        if (dil[d] != 1) return lower_fail(cx, "max pooling with dilation %lld is not supported", (long long)dil[d]);
    if (!(x = batched(cx, x, sp, &added))) return -1;
    ir_op *op = lower_op(cx, IR_OP_MAX_POOL, added ? "pool" : NULL);
    if (!op || pool_common(cx, op, x, sp, k, s, p, ceil_mode)) return -1;
    return lower_out_tensor(cx, n, 0, unbatch(cx, lower_finish(cx, op), added));
}

/* avg_pool{1,2}d(self, kernel_size, stride=[], padding=0, ceil_mode=False, count_include_pad=True,
 * divisor_override=None (2d only)) */
int lower_avg_pool(lower_ctx *cx, const ts_node *n) {
    int sp = spatial_of(n->kind), given, ceil_mode = 0, include_pad = 1, added;
    int64_t k[2], s[2], p[2], divisor = 0;
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
    ir_op *op = lower_op(cx, IR_OP_AVG_POOL, added || (divisor && divisor != window) ? "pool" : NULL);
    if (!op || pool_common(cx, op, x, sp, k, s, p, ceil_mode) ||
        lower_param_bool(cx, op, "exclude_padding_from_average", !include_pad))
        return -1;
    ir_value *y = lower_finish(cx, op);
    if (y && divisor && divisor != window) { /* sum / divisor = mean * window / divisor */
        ir_value *c = lower_const_scalar(cx, (double)window / (double)divisor, y->type.dtype, "scale");
        y = c ? lower_binary(cx, IR_OP_MUL, y, c, added ? "scaled" : NULL) : NULL;
    }
    return lower_out_tensor(cx, n, 0, unbatch(cx, y, added));
}

static ir_value *reduce(lower_ctx *cx, ir_opkind kind, ir_value *x, int nax, const int64_t *axes, int keep,
                        const char *suffix) {
    ir_op *op = lower_op(cx, kind, suffix);
    if (!op || ir_op_set_input(op, "x", x) || lower_param_i32v(cx, op, "axes", nax, axes) ||
        lower_param_bool(cx, op, "keep_dims", keep))
        return NULL;
    return lower_finish(cx, op);
}

/* adaptive_avg_pool{1,2}d(self, output_size) */
int lower_adaptive_avg_pool(lower_ctx *cx, const ts_node *n) {
    int sp = spatial_of(n->kind), added;
    int64_t out[2];
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
    int64_t k[2];
    for (int d = 0; d < sp; d++) {
        int64_t in = x->type.dims[r - sp + d];
        global &= out[d] == 1;
        if (in < 0 || out[d] <= 0 || in % out[d]) even = 0;
        else k[d] = in / out[d];
    }
    if (global) {
        int64_t axes[2];
        for (int d = 0; d < sp; d++) axes[d] = r - sp + d;
        return lower_out_tensor(cx, n, 0, reduce(cx, IR_OP_REDUCE_MEAN, x, sp, axes, 1, NULL));
    }
    if (!even)
        return lower_fail(cx, "adaptive pooling to a size that does not evenly divide the (known) input size");
    int64_t zero[2] = {0, 0};
    if (!(x = batched(cx, x, sp, &added))) return -1;
    ir_op *op = lower_op(cx, IR_OP_AVG_POOL, added ? "pool" : NULL);
    if (!op || pool_common(cx, op, x, sp, k, k, zero, 0) || lower_param_bool(cx, op, "exclude_padding_from_average", 0))
        return -1;
    return lower_out_tensor(cx, n, 0, unbatch(cx, lower_finish(cx, op), added));
}

/* mean / sum (self, dim?, keepdim=False, dtype=None), or (self, dtype=None) over all dims. */
int lower_reduce(lower_ctx *cx, const ts_node *n) {
    ir_opkind kind = strcmp(n->kind, "aten::mean") == 0 ? IR_OP_REDUCE_MEAN : IR_OP_REDUCE_SUM;
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
        if (dt != x->type.dtype && !(x = lower_cast(cx, x, dt, "dtype"))) return -1;
    }
    if (x->type.dtype == IR_BOOL && !(x = lower_cast(cx, x, IR_INT32, "int"))) return -1;
    if (kind == IR_OP_REDUCE_MEAN && !ir_dtype_is_float(x->type.dtype) && !(x = lower_cast(cx, x, IR_FP32, "float")))
        return -1;
    if (r == 0) return lower_out_tensor(cx, n, 0, x);
    return lower_out_tensor(cx, n, 0, reduce(cx, kind, x, nax, axes, keep, NULL));
}
