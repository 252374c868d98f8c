/* weights.c: the live torch.export path's ex_weights (export/export.h): parameters, buffers and tensor
 * constants looked up by fully-qualified name in a dict {name: array} that _export.py makes from
 * ep.state_dict and ep.constants (numpy views of the tensors, contiguous, bfloat16 widened), read in
 * place through the buffer protocol and held until the program is freed. */
#include "python/py.h"
#include "export/export.h"

#include <stdlib.h>

typedef struct {
    Py_buffer view;
} held_buffer;

static void release_buffer(void *obj) {
    held_buffer *h = obj;
    PyGILState_STATE st = PyGILState_Ensure();
    PyBuffer_Release(&h->view);
    PyGILState_Release(st);
    free(h);
}

static int dict_get(void *ud, const char *fqn, ex_wkind kind, ts_graph *g, ts_tensor *t, pc_err *e) {
    PyObject *x = PyDict_GetItemString((PyObject *)ud, fqn); /* borrowed */
    if (!x) return 1;
    held_buffer *h = calloc(1, sizeof *h);
    if (!h) return pc_fail(e, PC_E_NOMEM, "reading the exported program: out of memory");
    if (PyObject_GetBuffer(x, &h->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)) {
        free(h);
        PyErr_Clear();
        return pc_fail(e, PC_E_VALUE, "reading the exported program: the weight '%s' is not a contiguous array", fqn);
    }
    Py_buffer *v = &h->view;
    if (ts_graph_hold(g, h, release_buffer)) return pc_fail(e, PC_E_NOMEM, "reading the exported program: out of memory");
    int bad = ts_buffer_tensor(v, t);
    if (bad == -1)
        return pc_fail(e, PC_E_CONVERT, "reading the exported program: the weight '%s' has rank %d (at most 8)", fqn,
                       v->ndim);
    if (bad)
        return pc_fail(e, PC_E_CONVERT, "reading the exported program: the weight '%s' has an unsupported dtype ('%s')",
                       fqn, v->format ? v->format : "?");
    (void)kind;
    return 0;
}

void py_weights_dict(ex_weights *w, PyObject *dict) {
    w->ud = dict;
    w->get = dict_get;
}
