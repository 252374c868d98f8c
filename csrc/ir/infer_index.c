/* infer_index.c: shape inference for indexing and tensor-building ops:
 * gather_along_axis, gather_nd, scatter, scatter_along_axis, scatter_nd,
 * slice_by_size, reverse, band_part, topk, argsort, cumsum, one_hot, non_zero,
 * fill, fill_like, range_1d, flatten2d (MIL iOS15 definitions, with iOS16
 * gather_nd.batch_dims, fill_like and topk.sort / return_indices, iOS17
 * topk.output_indices_dtype and k = -1). Sizes that depend on data (non_zero,
 * a non-const fill shape or range bounds) become fresh symbols.
 */
#include "ir/infer_int.h"

#include <math.h>
#include <string.h>

static int need_rank(infer_ctx *c, const char *what, const ir_type *t) {
    return t->rank < 0 ? inf_fail(c, "%s needs a known rank", what) : 0;
}

static int compat(int64_t a, int64_t b) { return a == b || IR_IS_SYM(a) || IR_IS_SYM(b); }

static int int_indices(infer_ctx *c, const ir_type *idx) {
    if (!ir_dtype_is_int(idx->dtype)) return inf_fail(c, "indices must be integers, got %s", ir_dtype_name(idx->dtype));
    return need_rank(c, "indices", idx);
}

static int check_mode(infer_ctx *c) {
    const char *mode;
    static const char *const modes[] = {"update", "add", "sub", "mul", "div", "max", "min"};
    if (inf_str(c, "mode", &mode)) return -1;
    for (int i = 0; i < PC_ARRAY_LEN(modes); i++)
        if (strcmp(mode, modes[i]) == 0) return 0;
    return inf_fail(c, "unknown mode '%s' (update, add, sub, mul, div, max or min)", mode);
}

/* `got` must match `want` (rank want_rank) dim by dim where both are known. */
static int check_shape(infer_ctx *c, const char *what, const ir_type *got, int want_rank, const int64_t *want) {
    int bad = got->rank != want_rank;
    for (int i = 0; !bad && i < want_rank; i++) bad = !compat(got->dims[i], want[i]);
    if (!bad) return 0;
    ir_type w = *got;
    w.rank = want_rank;
    memcpy(w.dims, want, sizeof(int64_t) * (size_t)want_rank);
    return inf_fail(c, "%s %s should have shape %s", what, inf_tstr(got), inf_tstr(&w));
}

int inf_gather_along_axis(infer_ctx *c) {
    const ir_type *x, *idx;
    int64_t axis;
    int ax;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "indices", 1, &idx) || need_rank(c, "x", x) || int_indices(c, idx) ||
        inf_int(c, "axis", &axis) || inf_axis(c, "axis", axis, x->rank, &ax))
        return -1;
    if (idx->rank != x->rank) return inf_fail(c, "indices %s and x %s differ in rank", inf_tstr(idx), inf_tstr(x));
    for (int i = 0; i < x->rank; i++)
        if (i != ax && !compat(x->dims[i], idx->dims[i]))
            return inf_fail(c, "indices %s and x %s differ in dim %d", inf_tstr(idx), inf_tstr(x), i);
    ir_type t = *idx;
    t.dtype = x->dtype;
    return inf_out(c, t);
}

int inf_gather_nd(infer_ctx *c) {
    const ir_type *x, *idx;
    int64_t bd;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "indices", 1, &idx) || need_rank(c, "x", x) || int_indices(c, idx) ||
        inf_int(c, "batch_dims", &bd))
        return -1;
    if (idx->rank < 1 || IR_IS_SYM(idx->dims[idx->rank - 1]))
        return inf_fail(c, "indices %s needs a known last dim", inf_tstr(idx));
    int64_t K = idx->dims[idx->rank - 1];
    if (bd < 0 || bd >= idx->rank || K + bd > x->rank)
        return inf_fail(c, "indices %s with batch_dims %lld do not fit x %s", inf_tstr(idx), (long long)bd, inf_tstr(x));
    for (int i = 0; i < bd; i++)
        if (!compat(x->dims[i], idx->dims[i])) return inf_fail(c, "batch dim %d differs between x and indices", i);
    int rank = idx->rank - 1 + x->rank - (int)(bd + K);
    if (rank > IR_MAX_RANK) return inf_fail(c, "result rank exceeds %d", IR_MAX_RANK);
    ir_type t = *x;
    t.rank = 0;
    for (int i = 0; i < idx->rank - 1; i++) t.dims[t.rank++] = idx->dims[i];
    for (int i = (int)(bd + K); i < x->rank; i++) t.dims[t.rank++] = x->dims[i];
    return inf_out(c, t);
}

/* scatter (kind 0), scatter_along_axis (1), scatter_nd (2): result typed like data. */
static int infer_scatter(infer_ctx *c, int kind) {
    const ir_type *d, *idx, *u;
    if (inf_input(c, "data", 1, &d) || inf_input(c, "indices", 1, &idx) || inf_input(c, "updates", 1, &u) ||
        need_rank(c, "data", d) || int_indices(c, idx) || need_rank(c, "updates", u) || check_mode(c))
        return -1;
    int64_t want[2 * IR_MAX_RANK];
    int n = 0;
    if (kind == 2) {
        if (idx->rank < 1 || IR_IS_SYM(idx->dims[idx->rank - 1]) || idx->dims[idx->rank - 1] > d->rank)
            return inf_fail(c, "indices %s do not fit data %s", inf_tstr(idx), inf_tstr(d));
        for (int i = 0; i < idx->rank - 1; i++) want[n++] = idx->dims[i];
        for (int i = (int)idx->dims[idx->rank - 1]; i < d->rank; i++) want[n++] = d->dims[i];
    } else {
        int64_t axis;
        int ax;
        if (inf_int(c, "axis", &axis) || inf_axis(c, "axis", axis, d->rank, &ax)) return -1;
        if (kind == 1) {
            if (idx->rank != d->rank) return inf_fail(c, "indices %s and data %s differ in rank", inf_tstr(idx), inf_tstr(d));
            for (int i = 0; i < d->rank; i++)
                if (i != ax && !compat(d->dims[i], idx->dims[i]))
                    return inf_fail(c, "indices %s and data %s differ in dim %d", inf_tstr(idx), inf_tstr(d), i);
            for (int i = 0; i < idx->rank; i++) want[n++] = idx->dims[i];
        } else {
            for (int i = 0; i < ax; i++) want[n++] = d->dims[i];
            for (int i = 0; i < idx->rank; i++) want[n++] = idx->dims[i];
            for (int i = ax + 1; i < d->rank; i++) want[n++] = d->dims[i];
        }
    }
    if (n > IR_MAX_RANK) return inf_fail(c, "updates rank exceeds %d", IR_MAX_RANK);
    if (check_shape(c, "updates", u, n, want)) return -1;
    return inf_out(c, *d);
}

int inf_slice_by_size(infer_ctx *c) {
    const ir_type *x, *bt, *st;
    int64_t b[IR_MAX_RANK], s[IR_MAX_RANK];
    int nb, ns;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "begin", 1, &bt) || inf_input(c, "size", 1, &st) ||
        need_rank(c, "x", x) || inf_ints(c, "begin", 1, b, IR_MAX_RANK, &nb) ||
        inf_ints(c, "size", 1, s, IR_MAX_RANK, &ns))
        return -1;
    if (bt->rank != 1 || st->rank != 1 || !compat(bt->dims[0], x->rank) || !compat(st->dims[0], x->rank))
        return inf_fail(c, "begin %s and size %s must be 1-D with %d entries", inf_tstr(bt), inf_tstr(st), x->rank);
    if ((nb >= 0 && nb != x->rank) || (ns >= 0 && ns != x->rank))
        return inf_fail(c, "begin and size must have %d entries", x->rank);
    ir_type t = *x;
    for (int i = 0; i < x->rank; i++) {
        int64_t d = x->dims[i];
        if (ns < 0) {
            t.dims[i] = inf_fresh(c);
            continue;
        }
        if (s[i] < -1) return inf_fail(c, "size entry %lld is invalid", (long long)s[i]);
        if (nb >= 0 && !IR_IS_SYM(d)) {
            int64_t bi = b[i] < 0 ? b[i] + d : b[i];
            if (bi < 0 || bi > d || (s[i] >= 0 && bi + s[i] > d))
                return inf_fail(c, "begin %lld size %lld out of range for dim %d of size %lld", (long long)b[i],
                                (long long)s[i], i, (long long)d);
            t.dims[i] = s[i] >= 0 ? s[i] : d - bi;
        } else {
            t.dims[i] = s[i] >= 0 ? s[i] : (nb >= 0 && b[i] == 0 ? d : inf_fresh(c));
        }
    }
    return inf_out(c, t);
}

/* reverse, band_part, cumsum, argsort: the shape of x (argsort gives int32). */
static int same_shape_x(infer_ctx *c, const ir_type **x) { return inf_input(c, "x", 1, x) || need_rank(c, "x", *x); }

int inf_reverse(infer_ctx *c) {
    const ir_type *x;
    int64_t v[IR_MAX_RANK];
    int n, ax, seen[IR_MAX_RANK] = {0};
    if (same_shape_x(c, &x) || inf_ints(c, "axes", 0, v, IR_MAX_RANK, &n)) return -1;
    for (int i = 0; i < n; i++) {
        if (inf_axis(c, "axis", v[i], x->rank, &ax)) return -1;
        if (seen[ax]++) return inf_fail(c, "axis %d repeated", ax);
    }
    return inf_out(c, *x);
}

int inf_band_part(infer_ctx *c) {
    const ir_type *x;
    int64_t lo, up;
    if (same_shape_x(c, &x) || inf_int(c, "lower", &lo) || inf_int(c, "upper", &up)) return -1;
    if (x->rank < 2) return inf_fail(c, "x %s needs rank >= 2", inf_tstr(x));
    return inf_out(c, *x);
}

int inf_cumsum(infer_ctx *c) {
    const ir_type *x;
    int64_t axis;
    int k;
    if (same_shape_x(c, &x) || inf_int(c, "axis", &axis) || inf_bool(c, "exclusive", &k) || inf_bool(c, "reverse", &k)) return -1;
    if (axis < -1 || axis >= x->rank) return inf_fail(c, "axis %lld must be in [-1, %d]", (long long)axis, x->rank - 1);
    return inf_out(c, *x);
}

int inf_argsort(infer_ctx *c) {
    const ir_type *x;
    int64_t axis;
    int ax, k;
    if (same_shape_x(c, &x) || inf_int(c, "axis", &axis) || inf_axis(c, "axis", axis, x->rank, &ax) || inf_bool(c, "ascending", &k))
        return -1;
    ir_type t = *x;
    t.dtype = IR_INT32;
    return inf_out(c, t);
}

int inf_topk(infer_ctx *c) {
    const ir_type *x;
    int64_t k, axis;
    int ax, asc, sort, ret_idx;
    const char *idt;
    if (inf_input(c, "x", 1, &x) || need_rank(c, "x", x) || inf_int(c, "k", &k) || inf_int(c, "axis", &axis) ||
        inf_axis(c, "axis", axis, x->rank, &ax) || inf_bool(c, "ascending", &asc) || inf_bool(c, "sort", &sort) ||
        inf_bool(c, "return_indices", &ret_idx) || inf_str(c, "output_indices_dtype", &idt))
        return -1;
    if (strcmp(idt, "int32") && strcmp(idt, "uint16"))
        return inf_fail(c, "output_indices_dtype must be int32 or uint16, got '%s'", idt);
    int64_t d = x->dims[ax];
    if (k < -1 || k == 0 || (!IR_IS_SYM(d) && k > d))
        return inf_fail(c, "k = %lld is invalid for axis %d of size %lld", (long long)k, ax, (long long)d);
    ir_type t = *x;
    t.dims[ax] = k == -1 ? d : k;
    if (inf_out(c, t)) return -1;
    if (!ret_idx) return 0;
    t.dtype = strcmp(idt, "int32") ? IR_UINT16 : IR_INT32;
    return inf_out(c, t);
}

int inf_one_hot(infer_ctx *c) {
    const ir_type *idx, *n;
    int64_t axis, depth;
    if (inf_input(c, "indices", 1, &idx) || inf_input(c, "one_hot_vector_size", 1, &n) || int_indices(c, idx) ||
        inf_int(c, "axis", &axis))
        return -1;
    const ir_arg *na = ir_op_arg(c->op, "one_hot_vector_size");
    if (na->v[0]->konst) {
        if (inf_int(c, "one_hot_vector_size", &depth)) return -1;
        if (depth < 0) return inf_fail(c, "one_hot_vector_size must be >= 0, got %lld", (long long)depth);
    } else {
        depth = inf_fresh(c);
    }
    int r = idx->rank;
    if (axis < -r - 1 || axis > r) return inf_fail(c, "axis %lld out of range for rank %d indices", (long long)axis, r);
    if (r + 1 > IR_MAX_RANK) return inf_fail(c, "result rank exceeds %d", IR_MAX_RANK);
    int cut = (int)(axis < 0 ? r + axis + 1 : axis);
    const ir_type *on, *off;
    if (inf_input(c, "on_value", 0, &on) || inf_input(c, "off_value", 0, &off)) return -1;
    ir_dtype dt = on ? on->dtype : off ? off->dtype : IR_INT32;
    if (on && off && on->dtype != off->dtype) return inf_fail(c, "on_value and off_value must have one dtype");
    ir_type t = ir_tensor_type(dt, 0, NULL);
    for (int i = 0; i <= r; i++) t.dims[t.rank++] = i == cut ? depth : idx->dims[i < cut ? i : i - 1];
    return inf_out(c, t);
}

int inf_non_zero(infer_ctx *c) {
    const ir_type *x;
    if (inf_input(c, "x", 1, &x) || need_rank(c, "x", x)) return -1;
    int64_t d[2] = {inf_fresh(c), x->rank};
    return inf_out(c, ir_tensor_type(IR_INT32, 2, d));
}

/* dtype of the optional const `value` (MIL default 0.0: fp32). */
static int value_dtype(infer_ctx *c, ir_dtype *dt) {
    const ir_type *v;
    if (inf_input(c, "value", 0, &v)) return -1;
    double dummy;
    if (v && inf_float(c, "value", &dummy)) return -1;
    *dt = v ? v->dtype : IR_FP32;
    return 0;
}

int inf_fill(infer_ctx *c) {
    const ir_type *st;
    int64_t sh[IR_MAX_RANK];
    int n;
    ir_dtype dt;
    if (inf_input(c, "shape", 1, &st) || inf_ints(c, "shape", 1, sh, IR_MAX_RANK, &n) || value_dtype(c, &dt)) return -1;
    if (!ir_dtype_is_int(st->dtype)) return inf_fail(c, "shape must be integers, got %s", ir_dtype_name(st->dtype));
    return inf_out_shaped(c, dt, st, sh, n);
}

int inf_fill_like(infer_ctx *c) {
    const ir_type *r;
    ir_dtype dt;
    if (inf_input(c, "ref_tensor", 1, &r) || value_dtype(c, &dt)) return -1;
    ir_type t = *r;
    t.dtype = dt;
    return inf_out(c, t);
}

int inf_range_1d(infer_ctx *c) {
    const ir_type *s, *e, *st;
    if (inf_input(c, "start", 1, &s) || inf_input(c, "end", 1, &e) || inf_input(c, "step", 1, &st)) return -1;
    if (s->dtype != e->dtype || s->dtype != st->dtype)
        return inf_fail(c, "start, end and step must have one dtype (%s, %s, %s)", ir_dtype_name(s->dtype),
                        ir_dtype_name(e->dtype), ir_dtype_name(st->dtype));
    if (ir_type_numel(s) > 1 || ir_type_numel(e) > 1 || ir_type_numel(st) > 1)
        return inf_fail(c, "start, end and step must be scalars");
    int64_t len;
    if (ir_op_input(c->op, "start")->konst && ir_op_input(c->op, "end")->konst && ir_op_input(c->op, "step")->konst) {
        double a, b, d;
        if (inf_float(c, "start", &a) || inf_float(c, "end", &b) || inf_float(c, "step", &d)) return -1;
        if (d == 0) return inf_fail(c, "step is 0");
        double n = ceil((b - a) / d);
        len = n > 0 ? (int64_t)n : 0;
    } else {
        len = inf_fresh(c);
    }
    return inf_out(c, ir_tensor_type(s->dtype, 1, &len));
}

int inf_flatten2d(infer_ctx *c) {
    const ir_type *x;
    int64_t axis;
    if (inf_input(c, "x", 1, &x) || need_rank(c, "x", x) || inf_int(c, "axis", &axis)) return -1;
    if (axis < -x->rank || axis > x->rank) return inf_fail(c, "axis %lld out of range for rank %d", (long long)axis, x->rank);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    int64_t d[2] = {1, 1};
    for (int i = 0; i < x->rank; i++) {
        int64_t *p = &d[i >= a];
        if (IR_IS_SYM(*p)) continue;
        *p = IR_IS_SYM(x->dims[i]) ? inf_fresh(c) : *p * x->dims[i];
    }
    return inf_out(c, ir_tensor_type(x->dtype, 2, d));
}

int inf_scatter(infer_ctx *c) { return infer_scatter(c, 0); }
int inf_scatter_along_axis(infer_ctx *c) { return infer_scatter(c, 1); }
int inf_scatter_nd(infer_ctx *c) { return infer_scatter(c, 2); }
