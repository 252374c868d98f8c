/* shape.c: ops that move data without arithmetic: reshape (0 copies a dim, -1
 * infers one), transpose, squeeze, expand_dims, shape (int32), identity, concat
 * (with interleave), split (num_splits or split_sizes) and stack. All work on
 * element bytes, so every dtype goes through unchanged. */
#include "runtime/rt_internal.h"

static size_t esize(const rt_tensor *t) { return ir_dtype_size(t->dtype); }

/* Output 0 as a byte copy of x with a new shape. */
static int copy_as(rt_ctx *c, const rt_tensor *x, int rank, const int64_t *dims) {
    void *o = rt_out(c, 0, rank, dims, x->dtype);
    if (!o) return -1;
    memcpy(o, x->data, (size_t)rt_numel(x) * esize(x));
    return 0;
}

int rt_k_IDENTITY(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    return x ? copy_as(c, x, x->rank, x->dims) : -1;
}

int rt_k_RESHAPE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *sh = x ? rt_in_req(c, "shape") : NULL;
    if (!sh) return -1;
    int64_t d[IR_MAX_RANK];
    int n;
    if (rt_param_ints(c, "shape", d, IR_MAX_RANK, &n)) return -1;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < n; i++) {
        if (d[i] == 0) {
            if (i >= x->rank) return rt_fail(c, "shape[%d] = 0 but x has rank %d", i, x->rank);
            d[i] = x->dims[i];
        }
        if (d[i] == -1) {
            if (infer >= 0) return rt_fail(c, "shape has more than one -1");
            infer = i;
            continue;
        }
        if (d[i] < 0) return rt_fail(c, "invalid shape entry %lld", (long long)d[i]);
        known *= d[i];
    }
    int64_t total = rt_numel(x);
    if (infer >= 0) {
        if (known == 0 || total % known) {
            char s[200];
            return rt_fail(c, "cannot reshape %lld elements (x%s) with a -1 entry", (long long)total,
                           rt_dims_str(x->rank, x->dims, s, sizeof s));
        }
        d[infer] = total / known;
    } else if (known != total) {
        char s1[200], s2[200];
        return rt_fail(c, "cannot reshape x%s (%lld elements) to %s", rt_dims_str(x->rank, x->dims, s1, sizeof s1),
                       (long long)total, rt_dims_str(n, d, s2, sizeof s2));
    }
    return copy_as(c, x, n, d);
}

int rt_k_TRANSPOSE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t perm[IR_MAX_RANK];
    int n;
    if (rt_param_ints(c, "perm", perm, IR_MAX_RANK, &n)) return -1;
    if (n < 0) return rt_fail(c, "missing required input 'perm'");
    if (n != x->rank) return rt_fail(c, "perm has %d entries for a rank-%d x", n, x->rank);
    int64_t st[IR_MAX_RANK], acc = 1, d[IR_MAX_RANK], s[IR_MAX_RANK];
    int seen[IR_MAX_RANK] = {0};
    for (int i = x->rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= x->dims[i];
    }
    for (int i = 0; i < n; i++) {
        int a = rt_axis(c, perm[i], x->rank, "perm entry");
        if (a < 0) return -1;
        if (seen[a]++) return rt_fail(c, "perm repeats axis %d", a);
        d[i] = x->dims[a];
        s[i] = st[a];
    }
    void *o = rt_out(c, 0, n, d, x->dtype);
    if (!o) return -1;
    rt_strided_copy(o, x->data, esize(x), n, d, s);
    return 0;
}

int rt_k_SQUEEZE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t ax[IR_MAX_RANK * 2];
    int n, drop[IR_MAX_RANK] = {0};
    if (rt_param_ints(c, "axes", ax, IR_MAX_RANK * 2, &n)) return -1;
    if (n < 0) {
        for (int i = 0; i < x->rank; i++) drop[i] = x->dims[i] == 1;
    } else {
        for (int i = 0; i < n; i++) {
            int a = rt_axis(c, ax[i], x->rank, "axis");
            if (a < 0) return -1;
            if (x->dims[a] != 1) return rt_fail(c, "cannot squeeze axis %d of size %lld", a, (long long)x->dims[a]);
            drop[a] = 1;
        }
    }
    int64_t d[IR_MAX_RANK];
    int r = 0;
    for (int i = 0; i < x->rank; i++)
        if (!drop[i]) d[r++] = x->dims[i];
    return copy_as(c, x, r, d);
}

int rt_k_EXPAND_DIMS(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t ax[IR_MAX_RANK];
    int n;
    if (rt_param_ints(c, "axes", ax, IR_MAX_RANK, &n)) return -1;
    if (n < 0) return rt_fail(c, "missing required input 'axes'");
    int out_rank = x->rank + n;
    if (out_rank > IR_MAX_RANK) return rt_fail(c, "result rank %d exceeds %d", out_rank, IR_MAX_RANK);
    int ins[IR_MAX_RANK] = {0};
    for (int i = 0; i < n; i++) {
        int a = rt_axis(c, ax[i], out_rank, "axis");
        if (a < 0) return -1;
        if (ins[a]++) return rt_fail(c, "axis %d repeated", a);
    }
    int64_t d[IR_MAX_RANK];
    for (int i = 0, k = 0; i < out_rank; i++) d[i] = ins[i] ? 1 : x->dims[k++];
    return copy_as(c, x, out_rank, d);
}

int rt_k_SHAPE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t n = x->rank;
    int64_t *o = rt_out(c, 0, 1, &n, IR_INT64);
    if (!o) return -1;
    for (int i = 0; i < x->rank; i++) o[i] = x->dims[i];
    return 0;
}

/* Input j of a variadic parameter converted to dtype dt (scratch when it differs). */
static const void *as_dtype(rt_ctx *c, const rt_tensor *t, ir_dtype dt) {
    if (t->dtype == dt) return t->data;
    void *p = rt_scratch(c, (size_t)rt_numel(t) * ir_dtype_size(dt), 0);
    if (p) rt_convert(p, dt, t->data, t->dtype, rt_numel(t));
    return p;
}

int rt_k_CONCAT(rt_ctx *c) {
    int nv = rt_in_count(c, "values");
    if (nv < 1) return rt_fail(c, "missing required input 'values'");
    int64_t axis;
    int inter;
    if (rt_param_int(c, "axis", &axis) || rt_param_bool(c, "interleave", &inter)) return -1;
    const rt_tensor *v0 = rt_in_at(c, "values", 0);
    if (!v0) return rt_fail(c, "missing values[0]");
    int rank = v0->rank ? v0->rank : 1;
    int64_t one = 1;
    const int64_t *d0 = v0->rank ? v0->dims : &one;
    int ax = rt_axis(c, axis, rank, "axis");
    if (ax < 0) return -1;
    int64_t od[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) od[i] = d0[i];
    od[ax] = 0;
    for (int j = 0; j < nv; j++) {
        const rt_tensor *v = rt_in_at(c, "values", j);
        if (!v) return rt_fail(c, "missing values[%d]", j);
        int vr = v->rank ? v->rank : 1;
        const int64_t *vd = v->rank ? v->dims : &one;
        if (vr != rank) return rt_fail(c, "values[%d] has rank %d, values[0] has rank %d", j, vr, rank);
        for (int i = 0; i < rank; i++)
            if (i != ax && vd[i] != d0[i])
                return rt_fail(c, "values[%d] has size %lld at dim %d, values[0] has %lld", j, (long long)vd[i], i,
                               (long long)d0[i]);
        if (inter && vd[ax] != d0[ax]) return rt_fail(c, "interleave needs equal sizes along the axis");
        od[ax] += vd[ax];
    }
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++) outer *= od[i];
    for (int i = ax + 1; i < rank; i++) inner *= od[i];
    ir_dtype dt = v0->dtype;
    size_t es = ir_dtype_size(dt);
    char *o = rt_out(c, 0, rank, od, dt);
    if (!o) return -1;
    int64_t orow = od[ax] * inner * (int64_t)es; /* bytes per outer index in the output */
    int64_t off = 0;
    for (int j = 0; j < nv; j++) {
        const rt_tensor *v = rt_in_at(c, "values", j);
        const char *src = as_dtype(c, v, dt);
        if (!src) return -1;
        int64_t a = v->rank ? v->dims[ax] : 1;
        if (!inter) {
            int64_t blk = a * inner * (int64_t)es;
            for (int64_t p = 0; p < outer; p++) memcpy(o + p * orow + off, src + p * blk, (size_t)blk);
            off += blk;
        } else {
            int64_t ib = inner * (int64_t)es;
            for (int64_t p = 0; p < outer; p++)
                for (int64_t i = 0; i < a; i++)
                    memcpy(o + p * orow + (i * nv + j) * ib, src + (p * a + i) * ib, (size_t)ib);
        }
    }
    return 0;
}

int rt_k_SPLIT(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t axis, ns;
    if (rt_param_int(c, "axis", &axis) || rt_param_int_or(c, "num_splits", -1, &ns)) return -1;
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    int nout = c->op->nout;
    if (nout > RT_MAX_OUTS) return rt_fail(c, "too many outputs");
    int64_t sizes[RT_MAX_OUTS];
    int n;
    if (rt_param_ints(c, "split_sizes", sizes, RT_MAX_OUTS, &n)) return -1;
    int64_t D = x->dims[ax];
    if (n < 0) {
        int64_t k = ns > 0 ? ns : nout;
        if (k != nout) return rt_fail(c, "num_splits is %lld but the op has %d outputs", (long long)k, nout);
        if (D % k) return rt_fail(c, "num_splits %lld does not divide the axis size %lld", (long long)k, (long long)D);
        for (int i = 0; i < nout; i++) sizes[i] = D / k;
        n = nout;
    }
    if (n != nout) return rt_fail(c, "split_sizes has %d entries but the op has %d outputs", n, nout);
    int64_t sum = 0;
    for (int i = 0; i < n; i++) {
        if (sizes[i] < 0) return rt_fail(c, "negative split size");
        sum += sizes[i];
    }
    if (sum != D) return rt_fail(c, "split sizes sum to %lld, the axis has %lld", (long long)sum, (long long)D);
    int64_t outer = 1, inner = 1;
    for (int i = 0; i < ax; i++) outer *= x->dims[i];
    for (int i = ax + 1; i < x->rank; i++) inner *= x->dims[i];
    size_t es = esize(x);
    int64_t irow = D * inner * (int64_t)es, off = 0;
    for (int k = 0; k < nout; k++) {
        int64_t d[IR_MAX_RANK];
        for (int i = 0; i < x->rank; i++) d[i] = x->dims[i];
        d[ax] = sizes[k];
        char *o = rt_out(c, k, x->rank, d, x->dtype);
        if (!o) return -1;
        int64_t blk = sizes[k] * inner * (int64_t)es;
        for (int64_t p = 0; p < outer; p++) memcpy(o + p * blk, (const char *)x->data + p * irow + off, (size_t)blk);
        off += blk;
    }
    return 0;
}

int rt_k_STACK(rt_ctx *c) {
    int nv = rt_in_count(c, "values");
    if (nv < 1) return rt_fail(c, "missing required input 'values'");
    int64_t axis;
    if (rt_param_int(c, "axis", &axis)) return -1;
    const rt_tensor *v0 = rt_in_at(c, "values", 0);
    if (!v0) return rt_fail(c, "missing values[0]");
    int rank = v0->rank + 1;
    if (rank > IR_MAX_RANK) return rt_fail(c, "result rank %d exceeds %d", rank, IR_MAX_RANK);
    int ax = rt_axis(c, axis, rank, "axis");
    if (ax < 0) return -1;
    for (int j = 1; j < nv; j++) {
        const rt_tensor *v = rt_in_at(c, "values", j);
        if (!v) return rt_fail(c, "missing values[%d]", j);
        int same = v->rank == v0->rank;
        for (int i = 0; same && i < v->rank; i++) same = v->dims[i] == v0->dims[i];
        if (!same) return rt_fail(c, "values[%d] differs in shape from values[0]", j);
    }
    int64_t od[IR_MAX_RANK], outer = 1, inner = 1;
    for (int i = 0, k = 0; i < rank; i++) od[i] = i == ax ? nv : v0->dims[k++];
    for (int i = 0; i < ax; i++) outer *= v0->dims[i];
    for (int i = ax; i < v0->rank; i++) inner *= v0->dims[i];
    ir_dtype dt = v0->dtype;
    size_t es = ir_dtype_size(dt);
    char *o = rt_out(c, 0, rank, od, dt);
    if (!o) return -1;
    int64_t ib = inner * (int64_t)es;
    for (int j = 0; j < nv; j++) {
        const char *src = as_dtype(c, rt_in_at(c, "values", j), dt);
        if (!src) return -1;
        for (int64_t p = 0; p < outer; p++) memcpy(o + (p * nv + j) * ib, src + p * ib, (size_t)ib);
    }
    return 0;
}
