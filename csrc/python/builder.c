/* builder.c: Python converters for TorchScript ops (register_torch_op) and the
 * `mb` op builder they use.
 *
 * During convert() the C driver calls a Python handler for each node kind the
 * Python registry claims (lower_opts.external). The handler gets a Builder: it
 * creates MIL ops in the program being lowered (op(), const()), with shape
 * inference at build time, and binds the node's outputs (bind()). Values come
 * back to Python as Var objects. A Builder only touches C memory while the
 * conversion that made it is running: afterwards its Vars keep their cached
 * name/shape/dtype but cannot be used to build ops.
 *
 * A Python exception raised by a handler is stashed (not left pending while C
 * unwinds) and restored by py_ext_end, so convert() raises ConversionError
 * naming the node with the handler's exception as its context.
 */
#include "python/py.h"

#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL pt2coreml_ARRAY_API
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include "lower/lower.h"
#include "torchscript/ts.h"

#include <string.h>

typedef struct {
    PyObject_HEAD
    lower_ctx *cx;    /* set only while a handler runs */
    ir_program *prog; /* the program being lowered; NULL once convert() is done */
    PyObject *module;
} BuilderObject;

typedef struct {
    PyObject_HEAD
    PyObject *builder; /* BuilderObject */
    ir_value *v;       /* valid while builder->prog is set */
    PyObject *name, *shape, *dtype;
} VarObject;

static py_state *state_of(PyObject *module) { return (py_state *)PyModule_GetState(module); }

/* ---- Var ---- */
static PyObject *var_new(BuilderObject *b, ir_value *v) {
    py_state *st = state_of(b->module);
    VarObject *o = PyObject_New(VarObject, st->VarType);
    if (!o) return NULL;
    o->builder = Py_NewRef((PyObject *)b);
    o->v = v;
    o->name = py_str(v->name);
    o->dtype = PyUnicode_FromString(ir_dtype_name(v->type.dtype));
    o->shape = NULL;
    if (v->type.rank >= 0) {
        o->shape = PyTuple_New(v->type.rank);
        for (int i = 0; o->shape && i < v->type.rank; i++) {
            PyObject *d = v->type.dims[i] >= 0 ? PyLong_FromLongLong(v->type.dims[i]) : Py_NewRef(Py_None);
            if (!d) Py_CLEAR(o->shape);
            else PyTuple_SET_ITEM(o->shape, i, d);
        }
    } else {
        o->shape = Py_NewRef(Py_None);
    }
    if (!o->name || !o->dtype || !o->shape) {
        Py_DECREF(o);
        return NULL;
    }
    return (PyObject *)o;
}

static void var_dealloc(VarObject *o) {
    Py_XDECREF(o->builder);
    Py_XDECREF(o->name);
    Py_XDECREF(o->shape);
    Py_XDECREF(o->dtype);
    py_free_object((PyObject *)o);
}

static PyObject *var_get_name(VarObject *o, void *c) { return Py_NewRef(o->name); }
static PyObject *var_get_shape(VarObject *o, void *c) { return Py_NewRef(o->shape); }
static PyObject *var_get_dtype(VarObject *o, void *c) { return Py_NewRef(o->dtype); }
static PyObject *var_get_rank(VarObject *o, void *c) {
    return o->shape == Py_None ? Py_NewRef(Py_None) : PyLong_FromSsize_t(PyTuple_GET_SIZE(o->shape));
}

/* val: the payload of a const Var as a numpy array (None when not a const). */
static PyObject *var_get_val(VarObject *o, void *c) {
    BuilderObject *b = (BuilderObject *)o->builder;
    if (!b->prog) {
        PyErr_SetString(PyExc_RuntimeError, "this Var belongs to a conversion that has finished");
        return NULL;
    }
    const ir_value *v = o->v;
    if (!v->konst || v->type.rank < 0 || v->konst->store == IR_STRING) {
        if (v->konst && v->konst->store == IR_STRING && v->konst->count == 1)
            return py_str(((const char *const *)v->konst->data)[0]);
        Py_RETURN_NONE;
    }
    npy_intp dims[IR_MAX_RANK];
    for (int i = 0; i < v->type.rank; i++) dims[i] = (npy_intp)v->type.dims[i];
    int isf = ir_dtype_is_float(v->type.dtype);
    PyObject *arr = PyArray_SimpleNew(v->type.rank, dims, isf ? NPY_FLOAT32 : NPY_INT64);
    if (!arr) return NULL;
    if (isf) ir_const_read_f32(v->konst, PyArray_DATA((PyArrayObject *)arr));
    else ir_const_read_i64(v->konst, PyArray_DATA((PyArrayObject *)arr));
    return arr;
}

/* op_type: the MIL type of the op that defines the Var ("const", "conv", ...); None for an input. */
static PyObject *var_get_op_type(VarObject *o, void *c) {
    BuilderObject *b = (BuilderObject *)o->builder;
    if (!b->prog || !o->v->def) Py_RETURN_NONE;
    return py_str(o->v->def->type_name ? o->v->def->type_name : ir_op_kind_name(o->v->def->kind));
}

static PyObject *var_repr(VarObject *o) {
    char buf[200];
    BuilderObject *b = (BuilderObject *)o->builder;
    if (!b->prog) return PyUnicode_FromFormat("Var(%U)", o->name); /* the program may be gone */
    ir_type t = o->v->type;
    return PyUnicode_FromFormat("Var(%U: %s)", o->name, ir_type_str(&t, buf, sizeof buf));
}

static PyGetSetDef var_getset[] = {
    {"name", (getter)var_get_name, NULL, "the MIL value name", NULL},
    {"shape", (getter)var_get_shape, NULL, "tuple of dims (None for a symbolic dim); None for unknown rank", NULL},
    {"dtype", (getter)var_get_dtype, NULL, "MIL dtype name: 'fp32', 'int32', 'bool', ...", NULL},
    {"rank", (getter)var_get_rank, NULL, "number of dims (None when unknown)", NULL},
    {"op_type", (getter)var_get_op_type, NULL, "MIL type of the defining op ('const', ...); None for inputs", NULL},
    {"val", (getter)var_get_val, NULL, "the value of a const Var as a numpy array, else None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot var_slots[] = {
    {Py_tp_dealloc, var_dealloc},
    {Py_tp_getset, var_getset},
    {Py_tp_repr, var_repr},
    {Py_tp_doc, "A value of the MIL program being built (output of an op, a const or a model input)."},
    {0, NULL},
};

static PyType_Spec var_spec = {
    .name = "pt2coreml._core.Var",
    .basicsize = sizeof(VarObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = var_slots,
};

/* ---- Builder ---- */
static void builder_dealloc(BuilderObject *o) {
    Py_XDECREF(o->module);
    py_free_object((PyObject *)o);
}

static int builder_live(BuilderObject *b) {
    if (b->cx) return 0;
    PyErr_SetString(PyExc_RuntimeError,
                    b->prog ? "mb ops can only be built while a converter registered with register_torch_op runs"
                            : "this conversion has finished; mb ops can only be built inside a converter");
    return -1;
}

/* The ir_value of a Var of this builder's program. */
static ir_value *var_value(BuilderObject *b, PyObject *obj, const char *op, const char *pname) {
    py_state *st = state_of(b->module);
    if (!PyObject_TypeCheck(obj, st->VarType)) {
        PyErr_Format(PyExc_TypeError, "%s: input '%s' must be a Var (or a constant), got %s", op, pname,
                     Py_TYPE(obj)->tp_name);
        return NULL;
    }
    VarObject *v = (VarObject *)obj;
    if (v->builder != (PyObject *)b || !b->prog) {
        PyErr_Format(PyExc_ValueError, "%s: input '%s' (%U) belongs to another conversion", op, pname, v->name);
        return NULL;
    }
    return v->v;
}

/* op(type, name|None, {param: Var | [Var]}) -> tuple of Vars */
static PyObject *builder_op(BuilderObject *b, PyObject *args) {
    const char *type;
    PyObject *name, *inputs;
    if (!PyArg_ParseTuple(args, "sOO!", &type, &name, &PyDict_Type, &inputs)) return NULL;
    if (builder_live(b)) return NULL;
    ir_opkind k = ir_op_kind_from_name(type);
    if (k == IR_OP_UNKNOWN || k == IR_OP_CONST) {
        PyErr_Format(PyExc_ValueError, "no MIL op named '%s'", type);
        return NULL;
    }
    const char *base = NULL;
    if (name != Py_None && !(base = py_cstr(name, "op name"))) return NULL;
    ir_program *p = lower_ext_program(b->cx);
    const char *nm = lower_ext_name(b->cx, base);
    ir_op *op = nm ? ir_op_new(p, NULL, k, nm) : NULL; /* detached until inferred: a failed op never lands */
    if (!op) return PyErr_NoMemory();
    op->loc = lower_ext_loc(b->cx);
    PyObject *key, *val;
    Py_ssize_t pos = 0;
    while (PyDict_Next(inputs, &pos, &key, &val)) {
        const char *pname = py_cstr(key, "parameter name");
        if (!pname) return NULL;
        if (PyList_Check(val) || PyTuple_Check(val)) {
            Py_ssize_t n = PySequence_Fast_GET_SIZE(val);
            ir_value **vs = pc_alloc(p->arena, sizeof(ir_value *) * (size_t)(n ? n : 1));
            if (!vs) return PyErr_NoMemory();
            for (Py_ssize_t i = 0; i < n; i++)
                if (!(vs[i] = var_value(b, PySequence_Fast_GET_ITEM(val, i), type, pname))) return NULL;
            if (ir_op_set_inputs(op, pname, (int)n, vs)) return PyErr_NoMemory();
        } else {
            ir_value *v = var_value(b, val, type, pname);
            if (!v) return NULL;
            if (ir_op_set_input(op, pname, v)) return PyErr_NoMemory();
        }
    }
    pc_err e = {0};
    if (ir_infer(p, op, &e)) return py_raise(b->module, &e);
    ir_op_append(lower_ext_block(b->cx), op);
    PyObject *t = PyTuple_New(op->nout);
    for (int i = 0; t && i < op->nout; i++) {
        PyObject *v = var_new(b, op->out[i]);
        if (!v) Py_CLEAR(t);
        else PyTuple_SET_ITEM(t, i, v);
    }
    return t;
}

static ir_dtype np_dtype(int t) {
    switch (t) {
    case NPY_FLOAT32: return IR_FP32;
    case NPY_FLOAT16: return IR_FP16;
    case NPY_INT32: return IR_INT32;
    case NPY_INT16: return IR_INT16;
    case NPY_INT8: return IR_INT8;
    case NPY_UINT8: return IR_UINT8;
    case NPY_UINT16: return IR_UINT16;
    case NPY_BOOL: return IR_BOOL;
    default: return IR_DT_INVALID;
    }
}

/* const(ndarray | str, name|None) -> Var: a const op (payload copied into the program). */
static PyObject *builder_const(BuilderObject *b, PyObject *args) {
    PyObject *val, *name;
    if (!PyArg_ParseTuple(args, "OO", &val, &name)) return NULL;
    if (builder_live(b)) return NULL;
    const char *base = NULL;
    if (name != Py_None && !(base = py_cstr(name, "const name"))) return NULL;
    ir_program *p = lower_ext_program(b->cx);
    ir_block *blk = lower_ext_block(b->cx);
    const char *nm = lower_ext_name(b->cx, base);
    if (!nm) return PyErr_NoMemory();
    ir_value *v = NULL;
    if (PyUnicode_Check(val)) {
        const char *s = py_cstr(val, "string const");
        if (!s) return NULL;
        v = ir_const_str(p, blk, nm, s);
    } else {
        if (!PyArray_Check(val)) {
            PyErr_Format(PyExc_TypeError, "const(): expected a numpy array or str, got %s", Py_TYPE(val)->tp_name);
            return NULL;
        }
        PyArrayObject *a = (PyArrayObject *)val;
        ir_dtype dt = np_dtype(PyArray_TYPE(a));
        if (dt == IR_DT_INVALID) {
            PyErr_Format(PyExc_TypeError, "const(): numpy dtype %s has no MIL equivalent here",
                         PyArray_DESCR(a)->typeobj->tp_name);
            return NULL;
        }
        if (PyArray_NDIM(a) > IR_MAX_RANK) {
            PyErr_Format(PyExc_ValueError, "const(): rank %d exceeds %d", PyArray_NDIM(a), IR_MAX_RANK);
            return NULL;
        }
        if (!PyArray_IS_C_CONTIGUOUS(a) || !PyArray_ISALIGNED(a)) {
            PyErr_SetString(PyExc_ValueError, "const(): the array must be C-contiguous and aligned");
            return NULL;
        }
        int64_t dims[IR_MAX_RANK];
        for (int i = 0; i < PyArray_NDIM(a); i++) dims[i] = PyArray_DIM(a, i);
        v = ir_const_new(p, blk, nm, ir_tensor_type(dt, PyArray_NDIM(a), dims), dt, PyArray_DATA(a), 1);
    }
    if (!v) return PyErr_NoMemory();
    if (v->def) v->def->loc = lower_ext_loc(b->cx);
    return var_new(b, v);
}

/* Python -> lower_xv (items in the program's arena). */
static int to_xv(BuilderObject *b, PyObject *o, lower_xv *x) {
    py_state *st = state_of(b->module);
    memset(x, 0, sizeof *x);
    if (PyObject_TypeCheck(o, st->VarType)) {
        x->kind = LOWER_X_TENSOR;
        return (x->v = var_value(b, o, "context.add", "value")) ? 0 : -1;
    }
    if (o == Py_None) {
        x->kind = LOWER_X_NONE;
        return 0;
    }
    if (PyBool_Check(o)) {
        x->kind = LOWER_X_BOOL;
        x->i = o == Py_True;
        return 0;
    }
    if (PyLong_Check(o)) {
        x->kind = LOWER_X_INT;
        x->i = PyLong_AsLongLong(o);
        return x->i == -1 && PyErr_Occurred() ? -1 : 0;
    }
    if (PyFloat_Check(o)) {
        x->kind = LOWER_X_FLOAT;
        x->f = PyFloat_AS_DOUBLE(o);
        return 0;
    }
    if (PyUnicode_Check(o)) {
        x->kind = LOWER_X_STR;
        return (x->s = py_cstr(o, "string")) ? 0 : -1; /* copied by lower_ext_bind */
    }
    if (PyList_Check(o) || PyTuple_Check(o)) {
        x->kind = PyList_Check(o) ? LOWER_X_LIST : LOWER_X_TUPLE;
        x->n = (int)PySequence_Fast_GET_SIZE(o);
        x->items = pc_alloc(lower_ext_program(b->cx)->arena, sizeof(lower_xv) * (size_t)(x->n ? x->n : 1));
        if (!x->items) {
            PyErr_NoMemory();
            return -1;
        }
        for (int i = 0; i < x->n; i++)
            if (to_xv(b, PySequence_Fast_GET_ITEM(o, i), &x->items[i])) return -1;
        return 0;
    }
    PyErr_Format(PyExc_TypeError,
                 "context.add: a node output must be a Var, an int/float/bool/str/None or a list/tuple of them, got %s",
                 Py_TYPE(o)->tp_name);
    return -1;
}

/* (i, value) -> set(cx, i, value): bind() and write() below. */
static PyObject *builder_set(BuilderObject *b, PyObject *args,
                             int (*set)(lower_ctx *cx, int i, const lower_xv *val, pc_err *e)) {
    int i;
    PyObject *val;
    if (!PyArg_ParseTuple(args, "iO", &i, &val)) return NULL;
    if (builder_live(b)) return NULL;
    lower_xv x;
    if (to_xv(b, val, &x)) return NULL;
    pc_err e = {0};
    if (set(b->cx, i, &x, &e)) return py_raise(b->module, &e);
    Py_RETURN_NONE;
}

/* bind(i, value): output i of the node being converted becomes value. */
static PyObject *builder_bind(BuilderObject *b, PyObject *args) { return builder_set(b, args, lower_ext_bind); }

/* write(i, value): input i of the node, which its op writes in place, holds value from now on. */
static PyObject *builder_write(BuilderObject *b, PyObject *args) { return builder_set(b, args, lower_ext_write); }

static PyMethodDef builder_methods[] = {
    {"op", (PyCFunction)builder_op, METH_VARARGS, "op(type, name, {param: Var | [Var]}) -> tuple of output Vars"},
    {"const", (PyCFunction)builder_const, METH_VARARGS, "const(ndarray | str, name) -> Var"},
    {"bind", (PyCFunction)builder_bind, METH_VARARGS, "bind(i, value): bind output i of the node"},
    {"write", (PyCFunction)builder_write, METH_VARARGS, "write(i, value): the new value of input i, which the op writes"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot builder_slots[] = {
    {Py_tp_dealloc, builder_dealloc},
    {Py_tp_methods, builder_methods},
    {Py_tp_doc, "Builds MIL ops into the program being converted (used by pt2coreml.mb)."},
    {0, NULL},
};

static PyType_Spec builder_spec = {
    .name = "pt2coreml._core.Builder",
    .basicsize = sizeof(BuilderObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = builder_slots,
};

int py_builder_types(PyObject *m) {
    py_state *st = state_of(m);
    if (py_add_type(m, &var_spec, &st->VarType, "Var")) return -1;
    return py_add_type(m, &builder_spec, &st->BuilderType, "Builder");
}

/* ---- the lower_opts.external hooks ---- */
static int ext_has(void *ud, const char *kind) {
    py_ext *x = ud;
    PyObject *h = PyDict_GetItemString(x->handlers, kind); /* borrowed; never raises */
    return h != NULL;
}

static void stash(py_ext *x) {
    if (!x->etype) PyErr_Fetch(&x->etype, &x->evalue, &x->etb);
    else PyErr_Clear();
}

static PyObject *xv_to_py(BuilderObject *b, const lower_xv *v) {
    switch (v->kind) {
    case LOWER_X_TENSOR: return var_new(b, v->v);
    case LOWER_X_INT: return PyLong_FromLongLong(v->i);
    case LOWER_X_BOOL: return PyBool_FromLong((long)v->i);
    case LOWER_X_FLOAT: return PyFloat_FromDouble(v->f);
    case LOWER_X_STR:
    case LOWER_X_DEVICE: return py_str(v->s);
    case LOWER_X_NONE: Py_RETURN_NONE;
    case LOWER_X_LIST:
    case LOWER_X_TUPLE: {
        PyObject *l = v->kind == LOWER_X_LIST ? PyList_New(v->n) : PyTuple_New(v->n);
        for (int i = 0; l && i < v->n; i++) {
            PyObject *it = xv_to_py(b, &v->items[i]);
            if (!it) {
                Py_CLEAR(l);
                break;
            }
            if (v->kind == LOWER_X_LIST) PyList_SET_ITEM(l, i, it);
            else PyTuple_SET_ITEM(l, i, it);
        }
        return l;
    }
    }
    PyErr_SetString(PyExc_RuntimeError, "a lowered value of unknown kind");
    return NULL;
}

static PyObject *names_tuple(int n, ts_value *const *v) {
    PyObject *t = PyTuple_New(n);
    for (int i = 0; t && i < n; i++) {
        PyObject *s = py_str(v[i]->name);
        if (!s) Py_CLEAR(t);
        else PyTuple_SET_ITEM(t, i, s);
    }
    return t;
}

/* The indices of the inputs n's op writes (ts_node.writes). */
static PyObject *written_tuple(const ts_node *n) {
    int k = 0;
    for (int i = 0; i < n->nin && i < 64; i++) k += (int)((n->writes >> i) & 1);
    PyObject *t = PyTuple_New(k);
    for (int i = 0, j = 0; t && i < n->nin && i < 64; i++) {
        if (!((n->writes >> i) & 1)) continue;
        PyObject *x = PyLong_FromLong(i);
        if (!x) Py_CLEAR(t);
        else PyTuple_SET_ITEM(t, j++, x);
    }
    return t;
}

/* (kind, input names, output names, loc, src, input values, written input indices) for the Python handler. */
static PyObject *node_info(BuilderObject *b, const ts_node *n, pc_err *e) {
    PyObject *vals = PyList_New(n->nin);
    for (int i = 0; vals && i < n->nin; i++) {
        lower_xv *xv;
        if (lower_ext_input(b->cx, i, &xv, e)) {
            Py_DECREF(vals);
            return NULL;
        }
        PyObject *o = xv_to_py(b, xv);
        if (!o) Py_CLEAR(vals);
        else PyList_SET_ITEM(vals, i, o);
    }
    if (!vals) return NULL;
    return Py_BuildValue("(sNNzzNN)", n->kind, names_tuple(n->nin, n->in), names_tuple(n->nout, n->out), n->loc,
                         n->src, vals, written_tuple(n));
}

static int node_fail(const ts_node *n, pc_err *e, const char *fmt, const char *detail) {
    char what[1200];
    snprintf(what, sizeof what, fmt, detail);
    return pc_fail(e, PC_E_CONVERT, "%s (output %%%s)%s%s%s%s: %s", n->kind, n->nout ? n->out[0]->name : "?",
                   n->loc ? " at " : "", n->loc ? n->loc : "", n->src ? ": " : "", n->src ? n->src : "", what);
}

static int ext_call(void *ud, lower_ctx *cx, const ts_node *n, pc_err *e) {
    py_ext *x = ud;
    BuilderObject *b = (BuilderObject *)x->builder;
    PyObject *h = PyDict_GetItemString(x->handlers, n->kind);
    if (!h) return 0;
    Py_INCREF(h);
    b->cx = cx;
    b->prog = lower_ext_program(cx);
    int rc = -1;
    PyObject *info = node_info(b, n, e);
    if (!info) {
        if (PyErr_Occurred()) {
            stash(x);
            node_fail(n, e, "%s", "could not pass the node to its Python converter");
        }
        goto done;
    }
    PyObject *r = PyObject_CallFunctionObjArgs(h, x->builder, info, NULL);
    Py_DECREF(info);
    if (!r) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        PyObject *s = v ? PyObject_Str(v) : NULL;
        const char *msg = s ? PyUnicode_AsUTF8(s) : NULL;
        char detail[1000];
        snprintf(detail, sizeof detail, "%s: %s", t ? ((PyTypeObject *)t)->tp_name : "error", msg ? msg : "?");
        Py_XDECREF(s);
        PyErr_Clear();
        PyErr_Restore(t, v, tb);
        stash(x);
        node_fail(n, e, "its Python converter raised %s", detail);
        goto done;
    }
    Py_DECREF(r);
    for (int i = 0; i < n->nout; i++)
        if (!lower_ext_is_bound(cx, i)) {
            char detail[300];
            snprintf(detail, sizeof detail, "%d (%%%s)", i, n->out[i]->name);
            node_fail(n, e, "its Python converter did not bind output %s: call context.add(var) for each output",
                      detail);
            goto done;
        }
    rc = 1;
done:
    b->cx = NULL;
    Py_DECREF(h);
    return rc;
}

int py_ext_begin(py_ext *x, PyObject *module, PyObject *handlers, lower_opts *o) {
    memset(x, 0, sizeof *x);
    py_state *st = state_of(module);
    x->handlers = handlers;
    BuilderObject *b = PyObject_New(BuilderObject, st->BuilderType);
    if (!b) return -1;
    b->cx = NULL;
    b->prog = NULL;
    b->module = Py_NewRef(module);
    x->builder = (PyObject *)b;
    o->external = ext_call;
    o->external_has = ext_has;
    o->external_ud = x;
    return 0;
}

void py_ext_end(py_ext *x) {
    if (x->builder) {
        BuilderObject *b = (BuilderObject *)x->builder;
        b->cx = NULL;
        b->prog = NULL; /* Vars still around keep their cached name/shape/dtype only */
        Py_CLEAR(x->builder);
    }
    if (x->etype) PyErr_Restore(x->etype, x->evalue, x->etb);
    x->etype = x->evalue = x->etb = NULL;
}

/* ---- debug text: written to Python's sys.stdout (Jupyter shows it) ---- */
void py_debug_print(void *ud, const char *text) {
    py_ext *x = ud; /* a stashed exception is not pending: writing is safe */
    PyObject *out = PySys_GetObject("stdout"); /* borrowed */
    if (!out || out == Py_None) return;
    PyObject *r = PyObject_CallMethod(out, "write", "s", text);
    if (!r) {
        if (x) stash(x);
        else PyErr_Clear();
        return;
    }
    Py_DECREF(r);
}
