/* opsig.c: _core.mil_op_signatures(), the ops.def rows as Python data for the `mb` builder
 * (python/pt2coreml/_mb.py) and the tests:
 *   {op: {"opset": 15, "params": [{"name", "required", "const", "variadic", "literal", "type",
 *                                  "default", "default_spatial", "written"}, ...]}}
 * in row order. "default" is the value (int, float, bool or str) or None; "default_spatial" is
 * "ones(s)" / "zeros(2s)" for a default per spatial dim of x, else None; "written": the builder
 * writes the default into the op. A row that does not parse raises RuntimeError. */
#include "python/py.h"

static PyObject *param_dict(const ir_param *p) {
    PyObject *dflt;
    if (p->dflt != IR_PD_VALUE) dflt = Py_NewRef(Py_None);
    else if (p->type == IR_PT_STR) dflt = PyUnicode_FromString(p->str);
    else if (p->type == IR_PT_BOOL) dflt = PyBool_FromLong(p->num != 0);
    else if (p->type == IR_PT_INT) dflt = PyLong_FromLongLong((long long)p->num);
    else dflt = PyFloat_FromDouble(p->num);
    if (!dflt) return NULL;
    const char *spatial = p->dflt == IR_PD_ONES_S ? "ones(s)" : p->dflt == IR_PD_ZEROS_2S ? "zeros(2s)" : NULL;
    return Py_BuildValue("{s:s,s:O,s:O,s:O,s:O,s:s,s:N,s:z,s:O}", "name", p->name, "required", p->required ? Py_True : Py_False,
                         "const", p->konst ? Py_True : Py_False, "variadic", p->variadic ? Py_True : Py_False, "literal",
                         p->literal ? Py_True : Py_False, "type", ir_ptype_name(p->type), "default", dflt,
                         "default_spatial", spatial, "written", p->written ? Py_True : Py_False);
}

PyObject *py_mil_op_signatures(PyObject *m, PyObject *unused) {
    const char *err = ir_opsig_error();
    if (err) return PyErr_Format(PyExc_RuntimeError, "%s", err);
    PyObject *d = PyDict_New();
    for (int k = 0; d && k < IR_OP_COUNT; k++) {
        const ir_opsig *s = ir_op_sig((ir_opkind)k);
        PyObject *params = PyList_New(s->nparams);
        for (int i = 0; params && i < s->nparams; i++) {
            PyObject *pd = param_dict(&s->params[i]);
            if (!pd) Py_CLEAR(params);
            else PyList_SET_ITEM(params, i, pd);
        }
        PyObject *row = params ? Py_BuildValue("{s:i,s:N}", "opset", s->opset, "params", params) : NULL;
        if (!row || PyDict_SetItemString(d, s->name, row)) Py_CLEAR(d);
        Py_XDECREF(row);
    }
    return d;
}
