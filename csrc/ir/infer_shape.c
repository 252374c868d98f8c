/* infer_shape.c: shape inference for ops that move data without arithmetic:
 * reshape, transpose, concat, split, stack, squeeze, expand_dims,
 * slice_by_index, gather, tile, pad (MIL iOS15 definitions; gather also takes
 * iOS16's batch_dims). A dim that cannot be known statically becomes a fresh symbol.
 */
#include "ir/infer_int.h"

#include <string.h>

static int need_rank(infer_ctx *c, const ir_type *x) {
    return x->rank < 0 ? inf_fail(c, "x needs a known rank") : 0;
}

int inf_reshape(infer_ctx *c) {
    const ir_type *x, *st;
    int64_t sh[IR_MAX_RANK];
    int n;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "shape", 1, &st)) return -1;
    if (inf_ints(c, "shape", 1, sh, IR_MAX_RANK, &n)) return -1;
    ir_type t = *x;
    if (n < 0) { /* dynamic shape: rank from the shape tensor's length */
        if (st->rank != 1 || IR_IS_SYM(st->dims[0]) || st->dims[0] > IR_MAX_RANK)
            return inf_fail(c, "shape %s must be a 1-D tensor of known length", inf_tstr(st));
        t.rank = (int)st->dims[0];
        for (int i = 0; i < t.rank; i++) t.dims[i] = inf_fresh(c);
        return inf_out(c, t);
    }
    t.rank = n;
    int infer_at = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        int64_t d = sh[i];
        if (d == 0 && x->rank == n) d = x->dims[i];
        else if (d == -1) {
            if (infer_at >= 0) return inf_fail(c, "shape has more than one -1");
            infer_at = i;
            continue;
        } else if (d < 0) {
            return inf_fail(c, "shape entry %lld is invalid", (long long)d);
        }
        t.dims[i] = d;
        if (!IR_IS_SYM(d)) known *= d;
    }
    int64_t numel = ir_type_numel(x);
    int static_out = 1;
    for (int i = 0; i < n; i++)
        if (i != infer_at && IR_IS_SYM(t.dims[i])) static_out = 0;
    if (infer_at >= 0) {
        if (numel >= 0 && static_out) {
            if (known == 0 || numel % known) return inf_fail(c, "cannot reshape %s to the given shape", inf_tstr(x));
            t.dims[infer_at] = numel / known;
        } else {
            t.dims[infer_at] = inf_fresh(c);
        }
    } else if (numel >= 0 && static_out && numel != known) {
        return inf_fail(c, "cannot reshape %s (%lld elements) to %lld elements", inf_tstr(x), (long long)numel,
                        (long long)known);
    }
    return inf_out(c, t);
}

int inf_transpose(infer_ctx *c) {
    const ir_type *x;
    int64_t perm[IR_MAX_RANK];
    int n, seen[IR_MAX_RANK] = {0};
    if (inf_input(c, "x", 1, &x) || need_rank(c, x) || inf_ints(c, "perm", 0, perm, IR_MAX_RANK, &n)) return -1;
    if (n != x->rank) return inf_fail(c, "perm has %d entries for rank %d", n, x->rank);
    ir_type t = *x;
    for (int i = 0; i < n; i++) {
        int a = 0;
        if (inf_axis(c, "perm entry", perm[i], n, &a)) return -1;
        if (seen[a]++) return inf_fail(c, "perm repeats axis %d", a);
        t.dims[i] = x->dims[a];
    }
    return inf_out(c, t);
}

/* concat (stack = 0) or stack (stack = 1) of `values` along `axis`. */
static int infer_join(infer_ctx *c, int stack) {
    const ir_arg *v = ir_op_arg(c->op, "values");
    int64_t axis;
    int interleave = 0, ax;
    if (!v || v->n < 1) return inf_fail(c, "needs at least one value in 'values'");
    if (inf_int(c, "axis", &axis) || (!stack && inf_bool(c, "interleave", &interleave))) return -1;
    const ir_type *x0 = &v->v[0]->type;
    if (need_rank(c, x0) || inf_axis(c, "axis", axis, x0->rank + stack, &ax)) return -1;
    ir_type t = *x0;
    int64_t sum = 0;
    for (int i = 0; i < v->n; i++) {
        const ir_type *xi = &v->v[i]->type;
        if (xi->rank != x0->rank) return inf_fail(c, "values %s and %s differ in rank", inf_tstr(x0), inf_tstr(xi));
        for (int k = 0; k < x0->rank; k++) {
            if (!stack && k == ax) continue;
            if (xi->dims[k] != x0->dims[k] && !IR_IS_SYM(xi->dims[k]) && !IR_IS_SYM(x0->dims[k]))
                return inf_fail(c, "values %s and %s differ off the axis", inf_tstr(x0), inf_tstr(xi));
        }
        if (!stack) {
            if (interleave && xi->dims[ax] != x0->dims[ax]) return inf_fail(c, "interleave needs equal sizes");
            sum = (sum < 0 || IR_IS_SYM(xi->dims[ax])) ? -1 : sum + xi->dims[ax];
        }
    }
    if (stack) {
        for (int k = x0->rank; k > ax; k--) t.dims[k] = x0->dims[k - 1];
        t.dims[ax] = v->n;
        t.rank = x0->rank + 1;
        if (t.rank > IR_MAX_RANK) return inf_fail(c, "result rank exceeds %d", IR_MAX_RANK);
    } else {
        t.dims[ax] = v->n == 1 ? x0->dims[ax] : sum < 0 ? inf_fresh(c) : sum;
    }
    return inf_out(c, t);
}

int inf_split(infer_ctx *c) {
    const ir_type *x;
    int64_t axis, nsplit, sizes[1024];
    int ax, n;
    if (inf_input(c, "x", 1, &x) || need_rank(c, x) || inf_int(c, "axis", &axis) ||
        inf_axis(c, "axis", axis, x->rank, &ax) || inf_int_or(c, "num_splits", -1, &nsplit) ||
        inf_ints(c, "split_sizes", 0, sizes, PC_ARRAY_LEN(sizes), &n))
        return -1;
    int64_t d = x->dims[ax];
    if (n < 0) {
        if (nsplit < 1 || nsplit > PC_ARRAY_LEN(sizes)) return inf_fail(c, "needs num_splits (1..1024) or split_sizes");
        if (!IR_IS_SYM(d) && d % nsplit) return inf_fail(c, "num_splits %lld does not divide %lld", (long long)nsplit, (long long)d);
        n = (int)nsplit;
        for (int i = 0; i < n; i++) sizes[i] = IR_IS_SYM(d) ? (n == 1 ? d : inf_fresh(c)) : d / nsplit;
    } else {
        int64_t s = 0;
        for (int i = 0; i < n; i++) {
            if (sizes[i] < 0) return inf_fail(c, "split_sizes entry %lld is negative", (long long)sizes[i]);
            s += sizes[i];
        }
        if (!IR_IS_SYM(d) && s != d) return inf_fail(c, "split_sizes sum to %lld, axis has %lld", (long long)s, (long long)d);
    }
    for (int i = 0; i < n; i++) {
        ir_type t = *x;
        t.dims[ax] = sizes[i];
        if (inf_out(c, t)) return -1;
    }
    return 0;
}

/* squeeze (expand = 0) or expand_dims (expand = 1) over `axes`. */
static int infer_squeeze(infer_ctx *c, int expand) {
    const ir_type *x;
    int64_t axes[IR_MAX_RANK];
    int n, mark[IR_MAX_RANK] = {0};
    if (inf_input(c, "x", 1, &x) || need_rank(c, x) || inf_ints(c, "axes", 0, axes, IR_MAX_RANK, &n)) return -1;
    int out_rank = expand ? x->rank + n : x->rank;
    if (out_rank > IR_MAX_RANK) return inf_fail(c, "result rank exceeds %d", IR_MAX_RANK);
    for (int i = 0; i < n; i++) {
        int a = 0;
        if (inf_axis(c, "axis", axes[i], out_rank, &a)) return -1;
        if (mark[a]++) return inf_fail(c, "axis %d repeated", a);
        if (!expand && x->dims[a] != 1 && !IR_IS_SYM(x->dims[a]))
            return inf_fail(c, "cannot squeeze axis %d of %s", a, inf_tstr(x));
    }
    ir_type t = *x;
    t.rank = 0;
    if (expand) {
        for (int i = 0, j = 0; i < out_rank; i++) t.dims[t.rank++] = mark[i] ? 1 : x->dims[j++];
    } else {
        for (int i = 0; i < x->rank; i++)
            if (n < 0 ? x->dims[i] != 1 : !mark[i]) t.dims[t.rank++] = x->dims[i];
    }
    return inf_out(c, t);
}

/* Length of x[b:e:s] over a dim of size d (Python slice rules, with masks). */
static int64_t slice_len(int64_t d, int64_t b, int64_t e, int64_t s, int bm, int em) {
    if (s > 0) {
        b = bm ? 0 : b < 0 ? b + d : b;
        e = em ? d : e < 0 ? e + d : e;
        b = PC_MIN(PC_MAX(b, 0), d);
        e = PC_MIN(PC_MAX(e, 0), d);
        return e > b ? (e - b + s - 1) / s : 0;
    }
    b = bm ? d - 1 : b < 0 ? b + d : b;
    e = em ? -1 : e < 0 ? e + d : e;
    b = PC_MIN(PC_MAX(b, -1), d - 1);
    e = PC_MIN(PC_MAX(e, -1), d - 1);
    return b > e ? (b - e + (-s) - 1) / (-s) : 0;
}

int inf_slice_by_index(infer_ctx *c) {
    const ir_type *x;
    int64_t b[IR_MAX_RANK], e[IR_MAX_RANK], s[IR_MAX_RANK], bm[IR_MAX_RANK] = {0}, em[IR_MAX_RANK] = {0},
        sq[IR_MAX_RANK] = {0};
    int nb, ne, ns, nbm, nem, nsq;
    if (inf_input(c, "x", 1, &x) || need_rank(c, x) || inf_ints(c, "begin", 1, b, IR_MAX_RANK, &nb) ||
        inf_ints(c, "end", 1, e, IR_MAX_RANK, &ne) || inf_ints(c, "stride", 0, s, IR_MAX_RANK, &ns) ||
        inf_ints(c, "begin_mask", 0, bm, IR_MAX_RANK, &nbm) || inf_ints(c, "end_mask", 0, em, IR_MAX_RANK, &nem) ||
        inf_ints(c, "squeeze_mask", 0, sq, IR_MAX_RANK, &nsq))
        return -1;
    int r = x->rank;
    if ((nb >= 0 && nb != r) || (ne >= 0 && ne != r) || (ns >= 0 && ns != r) || (nbm >= 0 && nbm != r) ||
        (nem >= 0 && nem != r) || (nsq >= 0 && nsq != r))
        return inf_fail(c, "begin/end/stride/masks must have %d entries", r);
    if (ns < 0)
        for (int i = 0; i < r; i++) s[i] = 1;
    ir_type t = *x;
    t.rank = 0;
    for (int i = 0; i < r; i++) {
        if (s[i] == 0) return inf_fail(c, "stride 0 on axis %d", i);
        if (sq[i]) continue;
        int64_t d = x->dims[i], o;
        if (IR_IS_SYM(d) || nb < 0 || ne < 0) { /* known only when the whole axis is taken */
            o = (s[i] == 1 && bm[i] && em[i]) ? d : inf_fresh(c);
        } else {
            o = slice_len(d, b[i], e[i], s[i], bm[i] != 0, em[i] != 0);
        }
        t.dims[t.rank++] = o;
    }
    return inf_out(c, t);
}

/* slice_update: x's type, once update has the slice's shape. */
int inf_slice_update(infer_ctx *c) {
    const ir_type *x, *u;
    if (inf_input(c, "update", 1, &u) || inf_slice_by_index(c)) return -1;
    x = &ir_op_arg(c->op, "x")->v[0]->type;
    ir_type *s = &c->out[--c->nout];
    if (u->dtype != x->dtype) return inf_fail(c, "update is %s, x %s", ir_dtype_name(u->dtype), ir_dtype_name(x->dtype));
    int ok = u->rank < 0 || u->rank == s->rank;
    for (int i = 0; ok && u->rank > 0 && i < s->rank; i++)
        ok = IR_IS_SYM(u->dims[i]) || IR_IS_SYM(s->dims[i]) || u->dims[i] == s->dims[i];
    if (!ok) return inf_fail(c, "update %s does not have the slice's shape %s", inf_tstr(u), inf_tstr(s));
    return inf_out(c, *x);
}

int inf_gather(infer_ctx *c) {
    const ir_type *x, *idx;
    int64_t axis, bd;
    int ax;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "indices", 1, &idx) || need_rank(c, x) ||
        inf_int(c, "axis", &axis) || inf_int(c, "batch_dims", &bd) || inf_axis(c, "axis", axis, x->rank, &ax))
        return -1;
    if (!ir_dtype_is_int(idx->dtype)) return inf_fail(c, "indices must be integers, got %s", ir_dtype_name(idx->dtype));
    if (idx->rank < 0) return inf_fail(c, "indices need a known rank");
    if (bd < 0 || bd > ax || bd > idx->rank) return inf_fail(c, "batch_dims %lld is invalid", (long long)bd);
    int rank = x->rank - 1 + idx->rank - (int)bd;
    if (rank > IR_MAX_RANK) return inf_fail(c, "result rank exceeds %d", IR_MAX_RANK);
    ir_type t = *x;
    t.rank = 0;
    for (int i = 0; i < ax; i++) t.dims[t.rank++] = x->dims[i];
    for (int i = (int)bd; i < idx->rank; i++) t.dims[t.rank++] = idx->dims[i];
    for (int i = ax + 1; i < x->rank; i++) t.dims[t.rank++] = x->dims[i];
    return inf_out(c, t);
}

/* The length of a run-time int vector input `name` (a 1-D tensor of known length), or -1 with c failed. */
static int dyn_len(infer_ctx *c, const char *name) {
    const ir_type *t;
    if (inf_input(c, name, 1, &t)) return -1;
    if (t->rank != 1 || IR_IS_SYM(t->dims[0]) || ir_dtype_is_float(t->dtype))
        return inf_fail(c, "run-time '%s' %s must be a 1-D int tensor of known length", name, inf_tstr(t));
    return (int)t->dims[0];
}

int inf_tile(infer_ctx *c) {
    const ir_type *x;
    int64_t reps[IR_MAX_RANK];
    int n;
    if (inf_input(c, "x", 1, &x) || need_rank(c, x) || inf_ints(c, "reps", 1, reps, IR_MAX_RANK, &n)) return -1;
    ir_type t = *x;
    if (n < 0) { /* run-time reps: every dim may change */
        if ((n = dyn_len(c, "reps")) < 0) return -1;
        if (n != x->rank) return inf_fail(c, "reps has %d entries for rank %d", n, x->rank);
        for (int i = 0; i < n; i++) t.dims[i] = inf_fresh(c);
        return inf_out(c, t);
    }
    if (n != x->rank) return inf_fail(c, "reps has %d entries for rank %d", n, x->rank);
    for (int i = 0; i < n; i++) {
        if (reps[i] < 1) return inf_fail(c, "reps entry %lld must be >= 1", (long long)reps[i]);
        t.dims[i] = IR_IS_SYM(x->dims[i]) ? (reps[i] == 1 ? x->dims[i] : inf_fresh(c)) : x->dims[i] * reps[i];
    }
    return inf_out(c, t);
}

int inf_pad(infer_ctx *c) {
    const ir_type *x;
    int64_t pad[2 * IR_MAX_RANK];
    int n;
    const char *mode;
    if (inf_input(c, "x", 1, &x) || need_rank(c, x) || inf_ints(c, "pad", 1, pad, 2 * IR_MAX_RANK, &n) ||
        inf_str(c, "mode", &mode))
        return -1;
    if (strcmp(mode, "constant") && strcmp(mode, "reflect") && strcmp(mode, "replicate"))
        return inf_fail(c, "unknown mode '%s'", mode);
    ir_type t = *x;
    if (n < 0) { /* run-time amounts: MIL wants two per dim of x */
        if ((n = dyn_len(c, "pad")) < 0) return -1;
        if (n != 2 * x->rank) return inf_fail(c, "run-time pad has %d entries, needs %d (two per dim)", n, 2 * x->rank);
        for (int i = 0; i < x->rank; i++) t.dims[i] = inf_fresh(c);
        return inf_out(c, t);
    }
    if (n % 2 || n / 2 > x->rank) return inf_fail(c, "pad has %d entries for rank %d", n, x->rank);
    for (int i = 0; i < n / 2; i++) {
        int k = x->rank - n / 2 + i;
        int64_t d = x->dims[k], lo = pad[2 * i], hi = pad[2 * i + 1];
        if (lo < 0 || hi < 0) return inf_fail(c, "pad must be >= 0");
        if (!IR_IS_SYM(d) && strcmp(mode, "reflect") == 0 && (lo >= d || hi >= d))
            return inf_fail(c, "reflect pad %lld/%lld too large for size %lld", (long long)lo, (long long)hi, (long long)d);
        t.dims[k] = IR_IS_SYM(d) ? (lo + hi == 0 ? d : inf_fresh(c)) : d + lo + hi;
    }
    return inf_out(c, t);
}

int inf_concat(infer_ctx *c) { return infer_join(c, 0); }
int inf_stack(infer_ctx *c) { return infer_join(c, 1); }
int inf_squeeze(infer_ctx *c) { return infer_squeeze(c, 0); }
int inf_expand_dims(infer_ctx *c) { return infer_squeeze(c, 1); }
