/* strings.c: C strings across the boundary with Python, both ways checked: out of
 * the core (names read from files, error messages) invalid UTF-8 is replaced, into
 * the core a str with an embedded NUL (where C would cut it short) is refused. */
#include "python/py.h"

#include <string.h>

PyObject *py_str(const char *s) {
    if (!s) s = "";
    return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
}

const char *py_cstr(PyObject *o, const char *what) {
    if (!PyUnicode_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str, got %s", what, Py_TYPE(o)->tp_name);
        return NULL;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(o, &n);
    if (!s) return NULL;
    if ((size_t)n != strlen(s)) {
        PyErr_Format(PyExc_ValueError, "%s %R contains a NUL character", what, o);
        return NULL;
    }
    return s;
}
