/* sort.c: topk (k largest or smallest along an axis, values plus indices; k = -1
 * takes the whole axis) and argsort. The order is total and deterministic: nan
 * counts as larger than every number (as torch does), equal values keep their
 * original order. Values are copied in x's dtype; indices are int32 (or the
 * declared uint16 of iOS17 topk). */
#include "runtime/rt_internal.h"

#include <stdlib.h>

typedef struct {
    double f; /* float key */
    int64_t i; /* integer key */
    int64_t pos;
} skey;

static int cmp_pos(const skey *a, const skey *b) { return (a->pos > b->pos) - (a->pos < b->pos); }

/* ascending float order with nan last */
static int cmp_f_asc(const void *pa, const void *pb) {
    const skey *a = pa, *b = pb;
    int na = a->f != a->f, nb = b->f != b->f;
    if (na != nb) return na - nb;
    if (!na && a->f != b->f) return a->f < b->f ? -1 : 1;
    return cmp_pos(a, b);
}

static int cmp_f_desc(const void *pa, const void *pb) {
    const skey *a = pa, *b = pb;
    int na = a->f != a->f, nb = b->f != b->f;
    if (na != nb) return nb - na;
    if (!na && a->f != b->f) return a->f > b->f ? -1 : 1;
    return cmp_pos(a, b);
}

static int cmp_i_asc(const void *pa, const void *pb) {
    const skey *a = pa, *b = pb;
    if (a->i != b->i) return a->i < b->i ? -1 : 1;
    return cmp_pos(a, b);
}

static int cmp_i_desc(const void *pa, const void *pb) {
    const skey *a = pa, *b = pb;
    if (a->i != b->i) return a->i > b->i ? -1 : 1;
    return cmp_pos(a, b);
}

/* Sort every row of x along `ax` and emit the first k of each: values (output
 * `vout`, or -1 for none) and indices (output `iout`, or -1: scratch). */
static int sort_rows(rt_ctx *c, const rt_tensor *x, int ax, int64_t k, int ascending, int vout, int iout) {
    int64_t O = 1, R = x->dims[ax], I = 1;
    for (int i = 0; i < ax; i++) O *= x->dims[i];
    for (int i = ax + 1; i < x->rank; i++) I *= x->dims[i];
    int64_t od[IR_MAX_RANK];
    for (int i = 0; i < x->rank; i++) od[i] = i == ax ? k : x->dims[i];
    int is_float = ir_dtype_is_float(x->dtype);
    const float *xf = NULL;
    const int64_t *xi = NULL;
    if (is_float) xf = rt_f32(c, x);
    else xi = rt_i64(c, x);
    skey *keys = (xf || xi) ? rt_scratch(c, sizeof(skey) * (size_t)(R ? R : 1), 0) : NULL;
    if (!keys) return -1;
    char *vo = NULL;
    if (vout >= 0 && !(vo = rt_out(c, vout, x->rank, od, x->dtype))) return -1;
    int32_t *io = iout >= 0 ? rt_out(c, iout, x->rank, od, IR_INT32)
                            : rt_scratch(c, sizeof(int32_t) * (size_t)(rt_numel_dims(x->rank, od) + 1), 0);
    if (!io) return -1;
    int (*cmp)(const void *, const void *) =
        is_float ? (ascending ? cmp_f_asc : cmp_f_desc) : (ascending ? cmp_i_asc : cmp_i_desc);
    size_t es = ir_dtype_size(x->dtype);
    const char *xd = x->data;
    for (int64_t p = 0; p < O; p++)
        for (int64_t j = 0; j < I; j++) {
            for (int64_t r = 0; r < R; r++) {
                int64_t at = (p * R + r) * I + j;
                keys[r].pos = r;
                if (is_float) keys[r].f = xf[at];
                else keys[r].i = xi[at];
            }
            qsort(keys, (size_t)R, sizeof(skey), cmp);
            for (int64_t r = 0; r < k; r++) {
                int64_t at = (p * k + r) * I + j;
                io[at] = (int32_t)keys[r].pos;
                if (vo) memcpy(vo + at * (int64_t)es, xd + ((p * R + keys[r].pos) * I + j) * (int64_t)es, es);
            }
        }
    return 0;
}

int rt_k_TOPK(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t k, axis;
    int asc, ret_idx;
    if (rt_param_int(c, "k", &k) || rt_param_int(c, "axis", &axis) || rt_param_bool(c, "ascending", &asc) ||
        rt_param_bool(c, "return_indices", &ret_idx))
        return -1;
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    if (x->rank == 0) return rt_fail(c, "x must have rank >= 1");
    if (k == -1) k = x->dims[ax];
    if (k < 0 || k > x->dims[ax])
        return rt_fail(c, "k = %lld is invalid for axis %d of size %lld", (long long)k, ax, (long long)x->dims[ax]);
    if (c->op->nout != (ret_idx ? 2 : 1))
        return rt_fail(c, "has %d outputs, expected %d (return_indices = %d)", c->op->nout, ret_idx ? 2 : 1, ret_idx);
    return sort_rows(c, x, ax, k, asc, 0, ret_idx ? 1 : -1);
}

int rt_k_ARGSORT(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t axis;
    int asc;
    if (rt_param_int(c, "axis", &axis) || rt_param_bool(c, "ascending", &asc)) return -1;
    int ax = rt_axis(c, axis, x->rank, "axis");
    if (ax < 0) return -1;
    if (x->rank == 0) return rt_fail(c, "x must have rank >= 1");
    return sort_rows(c, x, ax, x->dims[ax], asc, -1, 0);
}
