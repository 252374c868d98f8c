/* constants.c: the payloads of prim::Constant nodes (see ts_int.h): numbers,
 * strings, devices, lists, and tensors read in place (a numpy view of each
 * tensor whose Py_buffer is held until the graph or program lets it go). */
#include "torchscript/ts_int.h"

#include <stdlib.h>
#include <string.h>

int ts_buffer_tensor(const Py_buffer *v, ts_tensor *t) {
    if (v->ndim > 8) return -1;
    if (ts_buffer_dtype(v->format ? v->format : "B", (size_t)v->itemsize, &t->dtype)) return -2;
    t->rank = v->ndim;
    t->numel = 1;
    for (int i = 0; i < v->ndim; i++) {
        t->dims[i] = v->shape[i];
        t->numel *= v->shape[i];
    }
    t->data = v->buf;
    return 0;
}

/* A tensor constant read in place: detach (+contiguous, bfloat16 -> float), numpy(), buffer. */
static int read_tensor(rd *r, PyObject *t, ts_tensor *out, const char *kind) {
    PyObject *d = call0(r, t, N_DETACH), *x;
    if (!d) return ts_py_fail(r, "Tensor.detach()", kind);
    PyObject *dt = PyObject_GetAttr(d, r->nm[N_DTYPE]);
    int is_bf16 = dt && r->bfloat16 && dt == r->bfloat16;
    Py_XDECREF(dt);
    if (!dt) goto fail;
    if (is_bf16) {
        x = call0(r, d, N_FLOAT);
        Py_DECREF(d);
        if (!(d = x)) return ts_py_fail(r, "Tensor.float()", kind);
    }
    x = call0(r, d, N_IS_CONTIGUOUS);
    if (!x) goto fail;
    int contig = PyObject_IsTrue(x);
    Py_DECREF(x);
    if (contig < 0) goto fail;
    if (!contig) {
        x = call0(r, d, N_CONTIGUOUS);
        Py_DECREF(d);
        if (!(d = x)) return ts_py_fail(r, "Tensor.contiguous()", kind);
    }
    PyObject *arr = call0(r, d, N_NUMPY);
    Py_DECREF(d);
    if (!arr) return ts_py_fail(r, "Tensor.numpy()", kind);
    ts_pybuf *h = calloc(1, sizeof *h);
    if (!h) {
        Py_DECREF(arr);
        return nomem(r);
    }
    if (PyObject_GetBuffer(arr, &h->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)) {
        free(h);
        Py_DECREF(arr);
        return ts_py_fail(r, "reading a tensor constant's buffer", kind);
    }
    Py_DECREF(arr); /* the view keeps it */
    if (ts_graph_hold(r->g, h, ts_pybuf_release)) return nomem(r);
    Py_buffer *v = &h->view;
    int bad = ts_buffer_tensor(v, out);
    if (bad == -1)
        return pc_fail(r->e, PC_E_CONVERT, "reading TorchScript node %d (%s): tensor constant of rank %d (max 8)",
                       r->nodeno, kind, v->ndim);
    if (bad)
        return pc_fail(r->e, PC_E_CONVERT, "reading TorchScript node %d (%s): tensor constant of unsupported dtype '%s'",
                       r->nodeno, kind, v->format ? v->format : "?");
    return 0;
fail:
    Py_XDECREF(d);
    return ts_py_fail(r, "reading a tensor constant", kind);
}

/* A Python list of ints / floats / bools / strs -> INTS / FLOATS / BOOLS / STRS; else OTHER. */
static int read_list(rd *r, PyObject *l, ts_const *c, ts_tykind elem) {
    Py_ssize_t n = PyList_GET_SIZE(l);
    int all_bool = 1, all_int = 1, all_num = 1, all_str = n > 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyList_GET_ITEM(l, i);
        if (!PyBool_Check(x)) all_bool = 0;
        if (!PyLong_Check(x) || PyBool_Check(x)) all_int = 0;
        if (!PyLong_Check(x) && !PyFloat_Check(x)) all_num = 0;
        if (!PyUnicode_Check(x)) all_str = 0;
    }
    if (all_str) {
        c->kind = TS_C_STRS;
        c->n = (int)n;
        if (!(c->strs = pc_alloc(r->a, sizeof(char *) * (size_t)n))) return nomem(r);
        for (Py_ssize_t i = 0; i < n; i++) {
            const char *s = PyUnicode_AsUTF8(PyList_GET_ITEM(l, i));
            if (!s) return -1;
            if (!(c->strs[i] = pc_strdup(r->a, s))) return nomem(r);
        }
        return 0;
    }
    if (n == 0) {
        all_bool = elem == TS_TY_BOOL;
        all_int = elem != TS_TY_FLOAT && !all_bool;
    }
    if (!all_num) return 1;
    c->n = (int)n;
    c->kind = all_bool ? TS_C_BOOLS : all_int ? TS_C_INTS : TS_C_FLOATS;
    if (c->kind == TS_C_FLOATS) {
        c->floats = pc_alloc(r->a, sizeof(double) * (size_t)(n ? n : 1));
        if (!c->floats) return nomem(r);
        for (Py_ssize_t i = 0; i < n; i++) c->floats[i] = PyFloat_AsDouble(PyList_GET_ITEM(l, i));
    } else {
        c->ints = pc_alloc(r->a, sizeof(int64_t) * (size_t)(n ? n : 1));
        if (!c->ints) return nomem(r);
        for (Py_ssize_t i = 0; i < n; i++) c->ints[i] = PyLong_AsLongLong(PyList_GET_ITEM(l, i));
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* Keep repr(x) as an opaque payload. */
static int read_other(rd *r, PyObject *x, ts_const *c) {
    c->kind = TS_C_OTHER;
    PyObject *s = PyObject_Repr(x);
    const char *t = s ? PyUnicode_AsUTF8(s) : NULL;
    c->s = t ? pc_strdup(r->a, t) : NULL;
    Py_XDECREF(s);
    return c->s ? 0 : -1;
}

/* An ival payload (a generic IValue converted to Python). */
static int read_ival(rd *r, PyObject *x, ts_const *c, const ts_value *out, const char *kind) {
    if (x == Py_None) {
        c->kind = TS_C_NONE;
    } else if (PyBool_Check(x)) {
        c->kind = TS_C_BOOL;
        c->i = x == Py_True;
    } else if (PyLong_Check(x)) {
        c->kind = TS_C_INT;
        c->i = PyLong_AsLongLong(x);
        if (c->i == -1 && PyErr_Occurred()) return -1;
    } else if (PyFloat_Check(x)) {
        c->kind = TS_C_FLOAT;
        c->f = PyFloat_AsDouble(x);
    } else if (PyUnicode_Check(x)) {
        c->kind = out->ty == TS_TY_DEVICE ? TS_C_DEVICE : TS_C_STR;
        const char *s = PyUnicode_AsUTF8(x);
        if (!s || !(c->s = pc_strdup(r->a, s))) return -1;
    } else if (PyList_Check(x)) {
        int rc = read_list(r, x, c, out->elem);
        if (rc < 0) return -1;
        if (rc > 0) return read_other(r, x, c);
    } else if (out->ty == TS_TY_DEVICE) {
        PyObject *s = PyObject_Str(x);
        const char *t = s ? PyUnicode_AsUTF8(s) : NULL;
        c->kind = TS_C_DEVICE;
        c->s = t ? pc_strdup(r->a, t) : NULL;
        Py_XDECREF(s);
        if (!c->s) return -1;
    } else {
        return read_other(r, x, c);
    }
    return 0;
}

/* The payload of a prim::Constant node (output already read). */
int ts_read_constant(rd *r, PyObject *pn, ts_node *n) {
    ts_value *out = n->out[0];
    ts_const *c = pc_alloc(r->a, sizeof *c);
    if (!c) return nomem(r);
    out->konst = c;
    PyObject *has = call1(r, pn, N_HAS_ATTRIBUTE, r->s_value);
    if (!has) return ts_py_fail(r, "Node.hasAttribute('value')", n->kind);
    int h = PyObject_IsTrue(has);
    Py_DECREF(has);
    if (h < 0) return ts_py_fail(r, "Node.hasAttribute('value')", n->kind);
    if (!h) {
        c->kind = TS_C_NONE;
        return 0;
    }
    PyObject *k = call1(r, pn, N_KIND_OF, r->s_value);
    const char *ks = k ? PyUnicode_AsUTF8(k) : NULL;
    if (!ks) {
        Py_XDECREF(k);
        return ts_py_fail(r, "Node.kindOf('value')", n->kind);
    }
    int m = strcmp(ks, "i") == 0 ? N_I : strcmp(ks, "f") == 0 ? N_F : strcmp(ks, "s") == 0 ? N_S
          : strcmp(ks, "t") == 0 ? N_T : strcmp(ks, "ival") == 0 ? N_IVAL : strcmp(ks, "is") == 0 ? N_IS
          : strcmp(ks, "fs") == 0 ? N_FS : -1;
    char kname[16];
    snprintf(kname, sizeof kname, "%s", ks);
    Py_DECREF(k);
    if (m < 0) {
        c->kind = TS_C_OTHER;
        c->s = pc_sprintf(r->a, "<attribute of kind %s>", kname);
        return c->s ? 0 : nomem(r);
    }
    PyObject *x = call1(r, pn, m, r->s_value);
    if (!x) return ts_py_fail(r, "reading the constant's value", n->kind);
    int rc = 0;
    switch (m) {
    case N_I:
        c->i = PyLong_AsLongLong(x);
        c->kind = out->ty == TS_TY_BOOL ? TS_C_BOOL : TS_C_INT;
        if (c->kind == TS_C_BOOL) c->i = c->i != 0;
        rc = (c->i == -1 && PyErr_Occurred()) ? -1 : 0;
        break;
    case N_F:
        c->kind = TS_C_FLOAT;
        c->f = PyFloat_AsDouble(x);
        rc = PyErr_Occurred() ? -1 : 0;
        break;
    case N_T:
        c->kind = TS_C_TENSOR;
        rc = read_tensor(r, x, &c->t, n->kind);
        Py_DECREF(x);
        return rc;
    default:
        rc = read_ival(r, x, c, out, n->kind);
        if (!rc && m == N_S && c->kind == TS_C_STR && out->ty == TS_TY_DEVICE) c->kind = TS_C_DEVICE;
        break;
    }
    Py_DECREF(x);
    return rc ? ts_py_fail(r, "reading the constant's value", n->kind) : 0;
}
