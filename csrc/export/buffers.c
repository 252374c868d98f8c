/* buffers.c: writes of lifted buffers while a program is read. A lifted buffer is a constant of the
 * converted model unless convert() declares it a state; the reader tracks the views of each buffer
 * (r->bufs: triples of view value, fully-qualified name, buffer value) so that an in-place write through
 * any of them fails saying how to declare the state, as the TorchScript path does. */
#include "export/ex_int.h"

#include <stdio.h>
#include <string.h>

static const char *const view_ops[] = {"alias", "as_strided", "detach", "diagonal", "expand", "narrow", "permute",
                                       "select", "slice", "squeeze", "t", "transpose", "unflatten", "unsqueeze",
                                       "view", "view_as"};

static int buffer_of(const exr *r, const ts_value *v) {
    for (int i = 0; v && i + 2 < r->bufs.n; i += 3)
        if (r->bufs.v[i] == v) return i;
    return -1;
}

int ex_how_to_declare(exr *r, const char *fqn, const char *shape) {
    return ex_fail(r, PC_E_VALUE, "the model updates its buffer '%s' in place; a Core ML model keeps such a buffer "
                   "between predictions only as a state (iOS18): convert with states=[ct.StateType(wrapped_type="
                   "ct.TensorType(shape=%s, dtype=np.float16), name='%s')] and minimum_deployment_target="
                   "ct.target.iOS18, then predict with state=mlmodel.make_state()", fqn, shape, fqn);
}

/* "(1, 3)" / "(1,)" of dims[0..rank). */
static const char *dims_text(int rank, const int64_t *dims, char *buf, size_t cap) {
    size_t at = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < rank && at < cap; i++)
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (at < cap) snprintf(buf + at, cap - at, rank == 1 ? ",)" : ")");
    return buf;
}

/* After node n (op `opname`) is read: a view of a lifted buffer is one too; an in-place op on one (a
 * program torch.export left unfunctionalized writes buffers with add_, copy_, index_put_ ...) fails, since the
 * buffer is a constant: only a state keeps what the model writes. */
int ex_buffer_write(exr *r, const ts_node *n, const char *opname) {
    for (int i = 0; i < n->nin && i < 64; i++) { /* an argument the op writes (a custom op's mutates_args) */
        int w = (n->writes >> i) & 1 ? buffer_of(r, n->in[i]) : -1;
        if (w >= 0) {
            const ts_value *base = r->bufs.v[w + 2];
            char shape[160];
            return ex_how_to_declare(r, r->bufs.v[w + 1], dims_text(base->rank, base->dims, shape, sizeof shape));
        }
    }
    int at = n->nin > 0 && n->nout > 0 ? buffer_of(r, n->in[0]) : -1;
    if (at < 0) return 0;
    size_t len = strlen(opname);
    if (len > 1 && opname[len - 1] == '_' && strncmp(opname, "__", 2) != 0) {
        const ts_value *base = r->bufs.v[at + 2];
        char shape[160];
        return ex_how_to_declare(r, r->bufs.v[at + 1], dims_text(base->rank, base->dims, shape, sizeof shape));
    }
    for (int i = 0; i < PC_ARRAY_LEN(view_ops); i++)
        if (strcmp(view_ops[i], opname) == 0) {
            if (pc_vec_push(r->a, &r->bufs, n->out[0]) || pc_vec_push(r->a, &r->bufs, r->bufs.v[at + 1]) ||
                pc_vec_push(r->a, &r->bufs, r->bufs.v[at + 2]))
                return ex_fail(r, PC_E_NOMEM, "reading the exported program: out of memory");
            break;
        }
    return 0;
}
