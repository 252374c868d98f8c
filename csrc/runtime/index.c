/* index.c: slice_by_index (python slice rules per dim, masks) and slice_update, gather (axis,
 * batch_dims, negative indices), tile and pad (constant / reflect / replicate). */
#include "runtime/rt_internal.h"

static size_t esize(const rt_tensor *t) { return ir_dtype_size(t->dtype); }

/* ---- slice_by_index ---- */
static int read_mask(rt_ctx *c, const char *name, int rank, int *m) {
    int64_t v[IR_MAX_RANK];
    int n;
    if (rt_param_ints(c, name, v, IR_MAX_RANK, &n)) return -1;
    for (int i = 0; i < rank; i++) m[i] = i < n ? v[i] != 0 : 0;
    return 0;
}

/* The slice x[begin:end:stride] (with masks): per dim of x its element count cnt and step in
 * elements ostr, the offset of its first element, and the result's dims od[*ro] (squeezed dims
 * left out). */
typedef struct slice_plan {
    int64_t cnt[IR_MAX_RANK], ostr[IR_MAX_RANK], off, od[IR_MAX_RANK];
    int ro;
} slice_plan;

static int plan_slice(rt_ctx *c, const rt_tensor *x, slice_plan *p) {
    int r = x->rank;
    int64_t b[IR_MAX_RANK], e[IR_MAX_RANK], s[IR_MAX_RANK];
    int nb, ne, ns, bm[IR_MAX_RANK], em[IR_MAX_RANK], sm[IR_MAX_RANK];
    if (rt_param_ints(c, "begin", b, IR_MAX_RANK, &nb) || rt_param_ints(c, "end", e, IR_MAX_RANK, &ne) ||
        rt_param_ints(c, "stride", s, IR_MAX_RANK, &ns) || read_mask(c, "begin_mask", r, bm) ||
        read_mask(c, "end_mask", r, em) || read_mask(c, "squeeze_mask", r, sm))
        return -1;
    if (nb < 0 || ne < 0) return rt_fail(c, "missing required input '%s'", nb < 0 ? "begin" : "end");
    int64_t st[IR_MAX_RANK];
    rt_c_strides(x, st);
    p->off = 0, p->ro = 0;
    for (int i = 0; i < r; i++) {
        int64_t D = x->dims[i], step = (ns > i) ? s[i] : 1;
        if (step == 0) return rt_fail(c, "stride[%d] is 0", i);
        int64_t lo, hi, n;
        int hb = i < nb && !bm[i], he = i < ne && !em[i];
        if (sm[i]) {
            lo = (i < nb && !bm[i]) ? b[i] : 0;
            if (lo < 0) lo += D;
            if (lo < 0 || lo >= D)
                return rt_fail(c, "squeezed index %lld out of range for dim %d of size %lld", (long long)(i < nb ? b[i] : 0),
                               i, (long long)D);
            n = 1;
            step = 1;
        } else if (step > 0) {
            lo = hb ? b[i] : 0;
            hi = he ? e[i] : D;
            if (lo < 0) lo += D;
            if (hi < 0) hi += D;
            lo = lo < 0 ? 0 : lo > D ? D : lo;
            hi = hi < 0 ? 0 : hi > D ? D : hi;
            n = hi > lo ? (hi - lo + step - 1) / step : 0;
        } else {
            lo = hb ? b[i] : D - 1;
            hi = he ? e[i] : -1;
            if (hb && lo < 0) lo += D;
            if (he && hi < 0) hi += D;
            lo = lo < -1 ? -1 : lo > D - 1 ? D - 1 : lo;
            hi = hi < -1 ? -1 : hi > D - 1 ? D - 1 : hi;
            n = lo > hi ? (lo - hi + (-step) - 1) / (-step) : 0;
        }
        p->cnt[i] = n;
        p->ostr[i] = step * st[i];
        if (n > 0) p->off += lo * st[i];
        if (!sm[i]) p->od[p->ro++] = n;
    }
    return 0;
}

int rt_k_SLICE_BY_INDEX(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    slice_plan p;
    if (!x || plan_slice(c, x, &p)) return -1;
    void *o = rt_out(c, 0, p.ro, p.od, x->dtype);
    if (!o) return -1;
    if (rt_numel_dims(x->rank, p.cnt) > 0)
        rt_strided_copy(o, (const char *)x->data + p.off * (int64_t)esize(x), esize(x), x->rank, p.cnt, p.ostr);
    return 0;
}

/* ---- slice_update (iOS18): x with x[begin:end:stride] = update ---- */
int rt_k_SLICE_UPDATE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *u = x ? rt_in_req(c, "update") : NULL;
    slice_plan p;
    if (!u || plan_slice(c, x, &p)) return -1;
    if (u->dtype != x->dtype) return rt_fail(c, "update is %s, x %s", ir_dtype_name(u->dtype), ir_dtype_name(x->dtype));
    int same = u->rank == p.ro;
    for (int i = 0; same && i < p.ro; i++) same = u->dims[i] == p.od[i];
    if (!same) {
        char a[96], b[96];
        return rt_fail(c, "update has shape %s, the slice %s", rt_dims_str(u->rank, u->dims, a, sizeof a),
                       rt_dims_str(p.ro, p.od, b, sizeof b));
    }
    size_t es = esize(x);
    char *o = rt_out(c, 0, x->rank, x->dims, x->dtype);
    if (!o) return -1;
    memcpy(o, x->data, (size_t)rt_numel(x) * es);
    int64_t n = rt_numel_dims(x->rank, p.cnt), idx[IR_MAX_RANK] = {0}, pos = p.off;
    const char *src = u->data;
    for (int64_t k = 0; k < n; k++) { /* walk the slice in C order, as update is laid out */
        memcpy(o + pos * (int64_t)es, src + k * (int64_t)es, es);
        for (int d = x->rank - 1; d >= 0; d--) {
            pos += p.ostr[d];
            if (++idx[d] < p.cnt[d]) break;
            pos -= p.ostr[d] * p.cnt[d];
            idx[d] = 0;
        }
    }
    return 0;
}

/* ---- gather ---- */
int rt_k_GATHER(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *ind = x ? rt_in_req(c, "indices") : NULL;
    if (!ind) return -1;
    int64_t axis, bd;
    if (rt_param_int(c, "axis", &axis) || rt_param_int(c, "batch_dims", &bd)) return -1;
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    if (bd < 0) bd += ind->rank;
    if (bd < 0 || bd > ax || bd > ind->rank) return rt_fail(c, "invalid batch_dims %lld", (long long)bd);
    for (int i = 0; i < bd; i++)
        if (x->dims[i] != ind->dims[i]) return rt_fail(c, "batch dim %d differs between x and indices", i);
    int ro = x->rank - 1 + ind->rank - (int)bd;
    if (ro > IR_MAX_RANK) return rt_fail(c, "result rank %d exceeds %d", ro, IR_MAX_RANK);
    int64_t od[IR_MAX_RANK];
    int k = 0;
    for (int i = 0; i < ax; i++) od[k++] = x->dims[i];
    for (int i = (int)bd; i < ind->rank; i++) od[k++] = ind->dims[i];
    for (int i = ax + 1; i < x->rank; i++) od[k++] = x->dims[i];
    int64_t B = 1, O = 1, J = 1, A = x->dims[ax], inner = 1;
    for (int i = 0; i < bd; i++) B *= x->dims[i];
    for (int i = (int)bd; i < ax; i++) O *= x->dims[i];
    for (int i = (int)bd; i < ind->rank; i++) J *= ind->dims[i];
    for (int i = ax + 1; i < x->rank; i++) inner *= x->dims[i];
    const int64_t *idx = rt_i64(c, ind);
    char *o = idx ? rt_out(c, 0, ro, od, x->dtype) : NULL;
    if (!o) return -1;
    size_t es = esize(x);
    int64_t ib = inner * (int64_t)es;
    const char *xd = x->data;
    for (int64_t b = 0; b < B; b++)
        for (int64_t p = 0; p < O; p++)
            for (int64_t j = 0; j < J; j++) {
                int64_t q = idx[b * J + j];
                if (q < 0) q += A;
                if (q < 0 || q >= A)
                    return rt_fail(c, "index %lld out of range for axis %d of size %lld", (long long)idx[b * J + j], ax,
                                   (long long)A);
                memcpy(o + ((b * O + p) * J + j) * ib, xd + ((b * O + p) * A + q) * ib, (size_t)ib);
            }
    return 0;
}

/* ---- tile ---- */
int rt_k_TILE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t reps[IR_MAX_RANK];
    int n;
    if (rt_param_ints(c, "reps", reps, IR_MAX_RANK, &n)) return -1;
    if (n < 0) return rt_fail(c, "missing required input 'reps'");
    if (n != x->rank) return rt_fail(c, "reps has %d entries for a rank-%d x", n, x->rank);
    int64_t st[IR_MAX_RANK], od[IR_MAX_RANK], d2[2 * IR_MAX_RANK], s2[2 * IR_MAX_RANK];
    rt_c_strides(x, st);
    for (int i = 0; i < n; i++) {
        if (reps[i] < 0) return rt_fail(c, "negative reps[%d]", i);
        od[i] = x->dims[i] * reps[i];
        d2[2 * i] = reps[i];
        s2[2 * i] = 0;
        d2[2 * i + 1] = x->dims[i];
        s2[2 * i + 1] = st[i];
    }
    void *o = rt_out(c, 0, n, od, x->dtype);
    if (!o) return -1;
    rt_strided_copy(o, x->data, esize(x), 2 * n, d2, s2);
    return 0;
}

/* ---- pad ---- */
enum { PAD_CONST, PAD_REFLECT, PAD_REPLICATE };

static int64_t pad_src(int64_t i, int64_t D, int mode) {
    if (i >= 0 && i < D) return i;
    if (mode == PAD_CONST) return -1;
    if (mode == PAD_REPLICATE) return i < 0 ? 0 : D - 1;
    if (D == 1) return 0;
    int64_t period = 2 * (D - 1);
    int64_t m = i % period;
    if (m < 0) m += period;
    return m < D ? m : period - m;
}

int rt_k_PAD(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t pv[2 * IR_MAX_RANK];
    int n;
    if (rt_param_ints(c, "pad", pv, 2 * IR_MAX_RANK, &n)) return -1;
    if (n < 0) return rt_fail(c, "missing required input 'pad'");
    if (n % 2 || n / 2 > x->rank) return rt_fail(c, "pad has %d entries for a rank-%d x", n, x->rank);
    const char *ms = rt_param_str(c, "mode");
    if (!ms) return -1;
    int mode = strcmp(ms, "constant") == 0 ? PAD_CONST : strcmp(ms, "reflect") == 0 ? PAD_REFLECT
               : strcmp(ms, "replicate") == 0                                      ? PAD_REPLICATE
                                                                                   : -1;
    if (mode < 0) return rt_fail(c, "unknown pad mode '%s' (constant, reflect or replicate)", ms);
    double cv;
    if (rt_param_float(c, "constant_val", &cv)) return -1;
    int r = x->rank;
    int64_t before[IR_MAX_RANK] = {0}, od[IR_MAX_RANK];
    int first = r - n / 2;
    for (int i = 0; i < r; i++) {
        int64_t pb = 0, pa = 0;
        if (i >= first) {
            pb = pv[2 * (i - first)];
            pa = pv[2 * (i - first) + 1];
        }
        if (pb < 0 || pa < 0) return rt_fail(c, "negative padding is not supported");
        if (mode == PAD_REFLECT && (pb >= x->dims[i] || pa >= x->dims[i]) && (pb || pa))
            return rt_fail(c, "reflect padding %lld/%lld must be smaller than dim %d (%lld)", (long long)pb, (long long)pa,
                           i, (long long)x->dims[i]);
        if (mode != PAD_CONST && x->dims[i] == 0 && (pb || pa)) return rt_fail(c, "cannot %s-pad an empty dim", ms);
        before[i] = pb;
        od[i] = x->dims[i] + pb + pa;
    }
    size_t es = esize(x);
    char *o = rt_out(c, 0, r, od, x->dtype);
    if (!o) return -1;
    int64_t total = rt_numel_dims(r, od);
    if (total == 0) return 0;
    /* the constant in x's dtype */
    char cval[16] = {0};
    rt_convert(cval, x->dtype, &cv, IR_FP64, 1);
    if (r == 0) {
        memcpy(o, x->data, es);
        return 0;
    }
    int64_t st[IR_MAX_RANK];
    rt_c_strides(x, st);
    int64_t W = od[r - 1], Din = x->dims[r - 1], pl = before[r - 1];
    int64_t rows = total / W, idx[IR_MAX_RANK] = {0};
    const char *xd = x->data;
    for (int64_t row = 0; row < rows; row++) {
        char *orow = o + row * W * (int64_t)es;
        int64_t src = 0, valid = 1;
        for (int i = 0; i < r - 1; i++) {
            int64_t s = pad_src(idx[i] - before[i], x->dims[i], mode);
            if (s < 0) valid = 0;
            else src += s * st[i];
        }
        if (!valid) {
            for (int64_t j = 0; j < W; j++) memcpy(orow + j * (int64_t)es, cval, es);
        } else {
            const char *srow = xd + src * (int64_t)es;
            for (int64_t j = 0; j < pl && j < W; j++) {
                int64_t s = pad_src(j - pl, Din, mode);
                memcpy(orow + j * (int64_t)es, s < 0 ? cval : srow + s * (int64_t)es, es);
            }
            if (Din) memcpy(orow + pl * (int64_t)es, srow, (size_t)Din * es);
            for (int64_t j = pl + Din; j < W; j++) {
                int64_t s = pad_src(j - pl, Din, mode);
                memcpy(orow + j * (int64_t)es, s < 0 ? cval : srow + s * (int64_t)es, es);
            }
        }
        for (int i = r - 2; i >= 0; i--) {
            if (++idx[i] < od[i]) break;
            idx[i] = 0;
        }
    }
    return 0;
}
