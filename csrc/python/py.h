/* py.h: the Python binding stage (module pt2coreml._core). Module state holds
 * the exception types; only PyInit__core is exported. */
#ifndef PY_H
#define PY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "common/pc.h"
#include "ir/ir.h"

typedef struct py_state {
    PyObject *ConversionError; /* subclass of ValueError? no: of Exception, like coremltools' */
    PyTypeObject *ProgramType;
} py_state;

/* Raise the Python exception that matches e->kind (a pending Python error wins when
 * e->kind is PC_OK). Returns NULL for convenience. */
PyObject *py_raise(PyObject *module, const pc_err *e);

/* ir_program_hold release callback for a PyObject (takes the GIL). */
void py_release_object(void *obj);

#endif
