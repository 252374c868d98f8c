/* state.c: the state ops of stateful models (iOS18). A state is a function input whose buffer
 * belongs to the caller (the Python MLState) and lives across runs: read_state copies it into a
 * new tensor, write_state copies a tensor of its dtype and shape into it. */
#include "runtime/rt_internal.h"

static int same_shape(const rt_tensor *a, const rt_tensor *b) {
    if (a->dtype != b->dtype || a->rank != b->rank) return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

int rt_k_READ_STATE(rt_ctx *c) {
    const rt_tensor *s = rt_in_req(c, "input");
    if (!s) return -1;
    void *o = rt_out(c, 0, s->rank, s->dims, s->dtype);
    if (!o) return -1;
    size_t nb = (size_t)rt_numel(s) * ir_dtype_size(s->dtype);
    if (nb) memcpy(o, s->data, nb);
    return 0;
}

int rt_k_WRITE_STATE(rt_ctx *c) {
    const rt_tensor *s = rt_in_req(c, "input"), *d = s ? rt_in_req(c, "data") : NULL;
    if (!d) return -1;
    if (!same_shape(s, d)) {
        char a[200], b[200];
        return rt_fail(c, "data %s%s does not fit the state %s%s", ir_dtype_name(d->dtype),
                       rt_dims_str(d->rank, d->dims, a, sizeof a), ir_dtype_name(s->dtype),
                       rt_dims_str(s->rank, s->dims, b, sizeof b));
    }
    size_t nb = (size_t)rt_numel(s) * ir_dtype_size(s->dtype);
    if (nb && s->data != d->data) memmove(s->data, d->data, nb);
    return 0;
}
