/* pt2.c: the .pt2 archive reader (export/archive.h) seen from Python, for tests and
 * inspection: _core.pt2_archive(path) lists it, _core.pt2_tensor(path, fqn) reads one
 * tensor as numpy (a copy). The conversion of an archive goes through convert. */
#include "python/py.h"

#include "export/archive.h"
#include "export/export.h"

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

void py_add_user_input(void *ud, const char *name, int dtype, int rank, const int64_t *dims) {
    PyObject *l = ud, *shape = PyErr_Occurred() ? NULL : PyList_New(rank);
    if (!shape) return;
    for (int i = 0; i < rank; i++) {
        PyObject *d = dims[i] < 0 ? Py_NewRef(Py_None) : PyLong_FromLongLong(dims[i]);
        if (!d) {
            Py_DECREF(shape);
            return;
        }
        PyList_SET_ITEM(shape, i, d);
    }
    PyObject *t = Py_BuildValue("(NiN)", py_str(name), dtype, shape);
    if (t) {
        PyList_Append(l, t);
        Py_DECREF(t);
    }
}

/* pt2_archive(path) -> {"root", "model", "torch_version", "entries": [(name, offset, size)], "tensors": [fqn],
 *                       "inputs": [(name, TorchScript dtype code, shape with None for symbolic dims)],
 *                       "program": the program's JSON (bytes: its range constraints give symbolic dims' ranges)} */
PyObject *py_pt2_archive(PyObject *m, PyObject *args) {
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O", &path)) return NULL;
    exa_archive *a = open_arg(m, path);
    PyObject *path_b = NULL;
    if (!a || !PyUnicode_FSConverter(path, &path_b)) {
        exa_close(a);
        return NULL;
    }
    PyObject *ins = NULL, *d = NULL, *ents = PyList_New(exa_entry_count(a)), *ts = PyList_New(exa_tensor_count(a));
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
    const char *json;
    size_t len;
    exa_program_json(a, &json, &len);
    pc_err e = {0};
    if (!(ins = PyList_New(0))) goto done;
    if (ex_user_inputs(json, len, py_add_user_input, ins, &e)) {
        pc_prefix(&e, "%s: ", PyBytes_AS_STRING(path_b));
        py_raise(m, &e);
        goto done;
    }
    if (PyErr_Occurred()) goto done;
    d = Py_BuildValue("{sNsNsNsOsOsOsy#}", "root", py_str(exa_root(a)), "model", py_str(exa_model(a)),
                      "torch_version", py_str(exa_torch_version(a)), "entries", ents, "tensors", ts, "inputs", ins,
                      "program", json, (Py_ssize_t)len);
done:
    Py_XDECREF(ents);
    Py_XDECREF(ts);
    Py_XDECREF(ins);
    Py_XDECREF(path_b);
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
