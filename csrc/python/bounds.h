/* bounds.h: input sizes a model's description allows, checked on every run. */
#ifndef PY_BOUNDS_H
#define PY_BOUNDS_H

#include "python/py.h"
#include "serialize/ser.h"

typedef struct py_bounds py_bounds;

/* The bounds description d declares for each input of fn (matched by name); a
 * Python error is set on failure (NULL). */
py_bounds *py_bounds_new(const ir_function *fn, const ser_desc *d);
/* The same from a description dict (see desc.c), checked against p's main
 * function first (ser_check_desc). */
py_bounds *py_bounds_from_dict(PyObject *module, const ir_program *p, PyObject *desc);
void py_bounds_free(py_bounds *b);
/* Input i (program value v) given with `rank` dims: 0 if its sizes are allowed,
 * else -1 with a ValueError naming the input, the dim, the size and the range
 * or shapes allowed. A rank or fixed dim other than v's type says is left to
 * rt_run, which names it. */
int py_bounds_check(const py_bounds *b, int i, const ir_value *v, int rank, const int64_t *dims);

#endif
