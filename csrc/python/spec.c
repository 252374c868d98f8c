/* spec.c: get_spec() view of a saved package: the Model protobuf as nested dicts
 * and lists named like Apple's fields (placeholder until the serializer lands). */
#include "python/py.h"

PyObject *py_read_spec(PyObject *module, PyObject *args) {
    PyErr_SetString(PyExc_NotImplementedError, "read_spec: not implemented yet");
    return NULL;
}
