/* pt2.c: the .pt2 archive reader (export/archive.h) seen from Python, for tests and
 * inspection: _core.pt2_archive(path) lists it, _core.pt2_tensor(path, fqn) reads one
 * tensor as numpy (a copy). The conversion of an archive goes through convert. */
#include "python/py.h"

#include "export/archive.h"

#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL pt2coreml_ARRAY_API
#include <numpy/arrayobject.h>

#include <string.h>

static exa_archive *open_arg(PyObject *m, PyObject *path) {
    PyObject *b = NULL;
    if (!PyUnicode_FSConverter(path, &b)) return NULL;
    exa_archive *a = NULL;
    pc_err e = {0};
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = exa_open(PyBytes_AS_STRING(b), &a, &e);
    Py_END_ALLOW_THREADS
    Py_DECREF(b);
    if (r) py_raise(m, &e);
    return r ? NULL : a;
}

/* pt2_archive(path) -> {"root", "model", "torch_version", "entries": [(name, offset, size)], "tensors": [fqn]} */
PyObject *py_pt2_archive(PyObject *m, PyObject *args) {
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O", &path)) return NULL;
    exa_archive *a = open_arg(m, path);
    if (!a) return NULL;
    PyObject *d = NULL, *ents = PyList_New(exa_entry_count(a)), *ts = PyList_New(exa_tensor_count(a));
    if (!ents || !ts) goto done;
    for (int i = 0; i < exa_entry_count(a); i++) {
        PyObject *t = Py_BuildValue("(NKK)", py_str(exa_entry_name(a, i)), (unsigned long long)exa_entry_offset(a, i),
                                    (unsigned long long)exa_entry_size(a, i));
        if (!t) goto done;
        PyList_SET_ITEM(ents, i, t);
    }
    for (int i = 0; i < exa_tensor_count(a); i++) {
        PyObject *s = py_str(exa_tensor_name(a, i));
        if (!s) goto done;
        PyList_SET_ITEM(ts, i, s);
    }
    d = Py_BuildValue("{sNsNsNsOsO}", "root", py_str(exa_root(a)), "model", py_str(exa_model(a)), "torch_version",
                      py_str(exa_torch_version(a)), "entries", ents, "tensors", ts);
done:
    Py_XDECREF(ents);
    Py_XDECREF(ts);
    exa_close(a);
    return d;
}

static int npy_of(ts_scalar_type t) {
    switch (t) {
    case TS_UINT8: return NPY_UINT8;
    case TS_INT8: return NPY_INT8;
    case TS_INT16: return NPY_INT16;
    case TS_INT32: return NPY_INT32;
    case TS_INT64: return NPY_INT64;
    case TS_HALF: return NPY_FLOAT16;
    case TS_FLOAT: return NPY_FLOAT32;
    case TS_DOUBLE: return NPY_FLOAT64;
    case TS_COMPLEX_FLOAT: return NPY_COMPLEX64;
    case TS_COMPLEX_DOUBLE: return NPY_COMPLEX128;
    case TS_BOOL: return NPY_BOOL;
    default: return -1;
    }
}

/* pt2_tensor(path, fqn) -> (numpy array (a copy), whether the reader copied it out of the mapping) */
PyObject *py_pt2_tensor(PyObject *m, PyObject *args) {
    PyObject *path;
    const char *fqn;
    if (!PyArg_ParseTuple(args, "Os", &path, &fqn)) return NULL;
    exa_archive *a = open_arg(m, path);
    if (!a) return NULL;
    ts_tensor t;
    int copied = 0;
    pc_err e = {0};
    PyObject *arr = NULL;
    if (exa_tensor(a, fqn, &t, &copied, &e)) {
        py_raise(m, &e);
        goto done;
    }
    int npt = npy_of(t.dtype);
    if (npt < 0) {
        PyErr_Format(PyExc_TypeError, "pt2_tensor: '%s' has a dtype numpy has no type for", fqn);
        goto done;
    }
    npy_intp dims[8];
    for (int i = 0; i < t.rank; i++) dims[i] = (npy_intp)t.dims[i];
    arr = PyArray_SimpleNew(t.rank, dims, npt);
    if (arr && t.numel) memcpy(PyArray_DATA((PyArrayObject *)arr), t.data, (size_t)PyArray_NBYTES((PyArrayObject *)arr));
done:
    exa_close(a);
    return arr ? Py_BuildValue("(NO)", arr, copied ? Py_True : Py_False) : NULL;
}
