/* list.c: kernels of MIL's list ops. At run time a list is one tensor of its elements stacked on a new
 * first axis ([length, *elem]); each op that changes it makes a new one (MIL lists are values).
 * make_list holds init_length zero elements; a size of elem_shape known only at run time (a string)
 * is 0 until the first write, which then gives the elements their shape. A write or scatter past the
 * end grows the list, zero-filling any gap; reads and gathers must name existing elements. */
#include "runtime/rt_internal.h"

static const rt_tensor *list_in(rt_ctx *c) {
    const rt_tensor *ls = rt_in_req(c, "ls");
    if (ls && ls->rank < 1) return rt_fail(c, "ls is not a list value"), NULL;
    return ls;
}

/* Bytes of one element of list ls. */
static size_t elem_bytes(const rt_tensor *ls) {
    return (size_t)rt_numel_dims(ls->rank - 1, ls->dims + 1) * ir_dtype_size(ls->dtype);
}

static int index_param(rt_ctx *c, const char *name, int64_t *i) {
    return !rt_in_req(c, name) || rt_param_int_or(c, name, 0, i) ? -1 : 0;
}

int rt_k_MAKE_LIST(rt_ctx *c) {
    const ir_type *ty = &c->op->out[0]->type;
    int ne = rt_in_count(c, "elem_shape");
    int64_t n, od[IR_MAX_RANK];
    char buf[200];
    if (rt_param_int(c, "init_length", &n)) return -1;
    if (n < 0) return rt_fail(c, "init_length %lld is negative", (long long)n);
    if (ty->kind != IR_TK_LIST || ne != ty->rank || ne + 1 > IR_MAX_RANK)
        return rt_fail(c, "elem_shape has %d entries for a list declared %s", ne, ir_type_str(ty, buf, sizeof buf));
    od[0] = n;
    for (int i = 0; i < ne; i++) {
        const rt_tensor *d = rt_in_at(c, "elem_shape", i);
        if (!d || rt_numel(d) != 1) return rt_fail(c, "elem_shape entry %d must be one value", i);
        if (d->dtype == IR_STRING) { /* known at the first write */
            od[1 + i] = ty->dims[i] >= 0 ? ty->dims[i] : 0;
            continue;
        }
        rt_convert(&od[1 + i], IR_INT64, d->data, d->dtype, 1);
        if (od[1 + i] < 0) return rt_fail(c, "elem_shape entry %d is negative", i);
    }
    void *y = rt_out(c, 0, ne + 1, od, ty->dtype);
    if (!y) return -1;
    memset(y, 0, (size_t)rt_numel_dims(ne + 1, od) * ir_dtype_size(ty->dtype));
    return 0;
}

int rt_k_LIST_LENGTH(rt_ctx *c) {
    const rt_tensor *ls = list_in(c);
    int32_t *y = ls ? rt_out(c, 0, 0, NULL, IR_INT32) : NULL;
    if (!y) return -1;
    if (ls->dims[0] > INT32_MAX) return rt_fail(c, "list length %lld does not fit int32", (long long)ls->dims[0]);
    *y = (int32_t)ls->dims[0];
    return 0;
}

/* out[j] = ls[idx[j]] for j < k (stacked when `stack`, else the one element). */
static int take(rt_ctx *c, const rt_tensor *ls, const int64_t *idx, int64_t k, int stack) {
    int64_t od[IR_MAX_RANK];
    od[0] = k;
    memcpy(od + 1, ls->dims + 1, sizeof(int64_t) * (size_t)(ls->rank - 1));
    char *y = rt_out(c, 0, stack ? ls->rank : ls->rank - 1, stack ? od : od + 1, ls->dtype);
    if (!y) return -1;
    size_t eb = elem_bytes(ls);
    for (int64_t j = 0; j < k; j++) {
        if (idx[j] < 0 || idx[j] >= ls->dims[0])
            return rt_fail(c, "index %lld is outside the list of %lld elements", (long long)idx[j], (long long)ls->dims[0]);
        memcpy(y + (size_t)j * eb, (const char *)ls->data + (size_t)idx[j] * eb, eb);
    }
    return 0;
}

int rt_k_LIST_READ(rt_ctx *c) {
    const rt_tensor *ls = list_in(c);
    int64_t i;
    if (!ls || index_param(c, "index", &i)) return -1;
    return take(c, ls, &i, 1, 0);
}

int rt_k_LIST_GATHER(rt_ctx *c) {
    const rt_tensor *ls = list_in(c), *ix = ls ? rt_in_req(c, "indices") : NULL;
    const int64_t *idx = ix ? rt_i64(c, ix) : NULL;
    if (!idx) return -1;
    if (ix->rank != 1) return rt_fail(c, "indices must be 1-D");
    if (ls->rank + 1 > IR_MAX_RANK) return rt_fail(c, "elements of rank %d cannot be stacked", ls->rank);
    return take(c, ls, idx, ix->dims[0], 1);
}

/* A copy of ls with element idx[j] set to value j of v (v stacked when `stack`, else one element). */
static int put(rt_ctx *c, const rt_tensor *ls, const int64_t *idx, int64_t k, const rt_tensor *v, int stack) {
    int er = v->rank - stack;
    const int64_t *ed = v->dims + stack;
    if (v->dtype != ls->dtype) return rt_fail(c, "value is %s, the list holds %s", ir_dtype_name(v->dtype), ir_dtype_name(ls->dtype));
    if (er < 0 || er + 1 > IR_MAX_RANK || (stack && v->dims[0] != k))
        return rt_fail(c, "value needs one element per index (%lld)", (long long)k);
    int same = er == ls->rank - 1;
    for (int i = 0; same && i < er; i++) same = ed[i] == ls->dims[1 + i];
    if (!same && rt_numel(ls) != 0) {
        char a[200], b[200];
        return rt_fail(c, "value element %s does not fit the list's elements %s", rt_dims_str(er, ed, a, sizeof a),
                       rt_dims_str(ls->rank - 1, ls->dims + 1, b, sizeof b));
    }
    int64_t n = ls->dims[0], od[IR_MAX_RANK];
    for (int64_t j = 0; j < k; j++) {
        if (idx[j] < 0) return rt_fail(c, "index %lld is negative", (long long)idx[j]);
        if (idx[j] >= n) n = idx[j] + 1;
    }
    od[0] = n;
    memcpy(od + 1, ed, sizeof(int64_t) * (size_t)er);
    char *y = rt_out(c, 0, er + 1, od, ls->dtype);
    if (!y) return -1;
    size_t eb = (size_t)rt_numel_dims(er, ed) * ir_dtype_size(v->dtype);
    memset(y, 0, (size_t)n * eb);
    if (same) memcpy(y, ls->data, (size_t)ls->dims[0] * eb);
    for (int64_t j = 0; j < k; j++) memcpy(y + (size_t)idx[j] * eb, (const char *)v->data + (size_t)j * eb, eb);
    return 0;
}

int rt_k_LIST_WRITE(rt_ctx *c) {
    const rt_tensor *ls = list_in(c), *v = ls ? rt_in_req(c, "value") : NULL;
    int64_t i;
    if (!v || index_param(c, "index", &i)) return -1;
    return put(c, ls, &i, 1, v, 0);
}

int rt_k_LIST_SCATTER(rt_ctx *c) {
    const rt_tensor *ls = list_in(c), *ix = ls ? rt_in_req(c, "indices") : NULL, *v = ix ? rt_in_req(c, "value") : NULL;
    const int64_t *idx = v ? rt_i64(c, ix) : NULL;
    if (!idx) return -1;
    if (ix->rank != 1) return rt_fail(c, "indices must be 1-D");
    return put(c, ls, idx, ix->dims[0], v, 1);
}
