/* layout.c: ops that move elements in x's own dtype: slice_by_size (begin and
 * size may be run-time tensors; size -1 runs to the end; negative begin counts
 * from the end), reverse (axes, default all), band_part (keeps a band of the
 * last two dims, zeroes the rest) and flatten2d (axis). */
#include "runtime/rt_internal.h"

static size_t esize(const rt_tensor *t) { return ir_dtype_size(t->dtype); }

int rt_k_SLICE_BY_SIZE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x || !rt_in_req(c, "begin") || !rt_in_req(c, "size")) return -1;
    int64_t b[IR_MAX_RANK], s[IR_MAX_RANK], st[IR_MAX_RANK], od[IR_MAX_RANK], off = 0;
    int nb, ns;
    if (rt_param_ints(c, "begin", b, IR_MAX_RANK, &nb) || rt_param_ints(c, "size", s, IR_MAX_RANK, &ns)) return -1;
    if (nb != x->rank || ns != x->rank)
        return rt_fail(c, "begin and size have %d and %d entries, x has rank %d", nb, ns, x->rank);
    rt_c_strides(x, st);
    for (int i = 0; i < x->rank; i++) {
        int64_t d = x->dims[i], bi = b[i] < 0 ? b[i] + d : b[i];
        int64_t n = s[i] == -1 ? d - bi : s[i];
        if (bi < 0 || bi > d || n < 0 || bi + n > d)
            return rt_fail(c, "begin %lld size %lld out of range for dim %d of size %lld", (long long)b[i], (long long)s[i],
                           i, (long long)d);
        od[i] = n;
        off += bi * st[i];
    }
    char *o = rt_out(c, 0, x->rank, od, x->dtype);
    if (!o) return -1;
    if (rt_numel_dims(x->rank, od) > 0)
        rt_strided_copy(o, (const char *)x->data + off * (int64_t)esize(x), esize(x), x->rank, od, st);
    return 0;
}

int rt_k_REVERSE(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t ax[IR_MAX_RANK * 2], st[IR_MAX_RANK], off = 0;
    int n, rev[IR_MAX_RANK];
    if (rt_param_ints(c, "axes", ax, IR_MAX_RANK * 2, &n)) return -1;
    for (int i = 0; i < x->rank; i++) rev[i] = n < 0;
    for (int i = 0; i < n; i++) {
        int a = rt_axis(c, ax[i], x->rank, "axis");
        if (a < 0) return -1;
        rev[a] = 1;
    }
    rt_c_strides(x, st);
    for (int i = 0; i < x->rank; i++)
        if (rev[i] && x->dims[i] > 0) {
            off += (x->dims[i] - 1) * st[i];
            st[i] = -st[i];
        }
    char *o = rt_out(c, 0, x->rank, x->dims, x->dtype);
    if (!o) return -1;
    if (rt_numel(x) > 0) rt_strided_copy(o, (const char *)x->data + off * (int64_t)esize(x), esize(x), x->rank, x->dims, st);
    return 0;
}

int rt_k_BAND_PART(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t lower, upper;
    if (rt_param_int(c, "lower", &lower) || rt_param_int(c, "upper", &upper)) return -1;
    if (x->rank < 2) return rt_fail(c, "x must have rank >= 2, got %d", x->rank);
    char *o = rt_out(c, 0, x->rank, x->dims, x->dtype);
    if (!o) return -1;
    size_t es = esize(x);
    int64_t M = x->dims[x->rank - 2], N = x->dims[x->rank - 1], total = rt_numel(x);
    if (total == 0) return 0;
    memcpy(o, x->data, (size_t)total * es);
    for (int64_t b = 0; b < total / (M * N); b++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t n = 0; n < N; n++) {
                int keep = (lower < 0 || m - n <= lower) && (upper < 0 || n - m <= upper);
                if (!keep) memset(o + ((b * M + m) * N + n) * (int64_t)es, 0, es);
            }
    return 0;
}

int rt_k_FLATTEN2D(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t axis;
    if (rt_param_int(c, "axis", &axis)) return -1;
    if (axis < -x->rank || axis > x->rank) return rt_fail(c, "axis %lld out of range for rank %d", (long long)axis, x->rank);
    int a = (int)(axis < 0 ? axis + x->rank : axis);
    int64_t od[2] = {1, 1};
    for (int i = 0; i < x->rank; i++) od[i >= a] *= x->dims[i];
    char *o = rt_out(c, 0, 2, od, x->dtype);
    if (!o) return -1;
    memcpy(o, x->data, (size_t)rt_numel(x) * esize(x));
    return 0;
}
