/* program.c: pt2coreml._core.Program, a compiled ML Program held by the C core, and its methods
 * that read, change and save it (the methods that run it are in run.c). */
#include "python/bounds.h"

#include "driver/driver.h"
#include "runtime/rt.h"
#include "serialize/ser.h"

#include <stdlib.h>
#include <string.h>

PyObject *py_program_wrap(PyObject *module, ir_program *p) {
    py_state *st = PyModule_GetState(module);
    ProgramObject *o = PyObject_New(ProgramObject, st->ProgramType);
    if (!o) {
        ir_program_free(p);
        return NULL;
    }
    o->prog = p;
    o->rt = NULL;
    o->bounds = NULL;
    o->module = Py_NewRef(module);
    return (PyObject *)o;
}

static void program_dealloc(ProgramObject *o) {
    rt_free(o->rt);
    py_bounds_free(o->bounds);
    ir_program_free(o->prog);
    Py_XDECREF(o->module);
    py_free_object((PyObject *)o);
}

static PyObject *program_text(ProgramObject *o, PyObject *args, PyObject *kw) {
    static char *kws[] = {"max_const", NULL};
    int max_const = 16;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|i", kws, &max_const)) return NULL;
    char *s = ir_print_str(o->prog, max_const);
    if (!s) return PyErr_NoMemory();
    PyObject *r = py_str(s);
    free(s);
    return r;
}

PyObject *py_type_tuple(const ir_type *t) {
    if (t->kind == IR_TK_DICT) return Py_BuildValue("(s())", "dict");
    PyObject *shape = PyTuple_New(t->rank < 0 ? 0 : t->rank);
    if (!shape) return NULL;
    for (int i = 0; i < t->rank; i++) {
        PyObject *d = t->dims[i] >= 0 ? PyLong_FromLongLong(t->dims[i]) : Py_NewRef(Py_None);
        if (!d) {
            Py_DECREF(shape);
            return NULL;
        }
        PyTuple_SET_ITEM(shape, i, d);
    }
    return Py_BuildValue("(sN)", ir_dtype_name(t->dtype), shape);
}

/* [(name, (dtype, shape))] of v[0..n); states: -1 all, 0 no state values, 1 only states. */
static PyObject *values_list(int n, ir_value *const *v, int states) {
    PyObject *l = PyList_New(0);
    if (!l) return NULL;
    for (int i = 0; i < n; i++) {
        if (states >= 0 && (v[i]->type.kind == IR_TK_STATE) != states) continue;
        PyObject *t = py_type_tuple(&v[i]->type);
        PyObject *e = t ? Py_BuildValue("(NN)", py_str(v[i]->name), t) : NULL;
        if (!e || PyList_Append(l, e)) {
            Py_XDECREF(e);
            Py_DECREF(l);
            return NULL;
        }
        Py_DECREF(e);
    }
    return l;
}

/* io() -> ([(name, (dtype, shape))], [(name, (dtype, shape))]) of "main"; None dims are symbolic;
 * a dictionary (classify's probabilities) is ("dict", ()). State inputs are left out (states()). */
static PyObject *program_io(ProgramObject *o, PyObject *unused) {
    ir_function *fn = ir_program_main(o->prog);
    if (!fn) return Py_BuildValue("([],[])");
    PyObject *in = values_list(fn->nin, fn->in, 0);
    PyObject *out = in ? values_list(fn->body->nout, fn->body->out, -1) : NULL;
    if (!out) {
        Py_XDECREF(in);
        return NULL;
    }
    return Py_BuildValue("(NN)", in, out);
}

/* states() -> [(name, (dtype, shape))]: the state inputs of "main", in order. */
static PyObject *program_states(ProgramObject *o, PyObject *unused) {
    ir_function *fn = ir_program_main(o->prog);
    return fn ? values_list(fn->nin, fn->in, 1) : PyList_New(0);
}

static int hist_op(ir_op *op, void *ctx) {
    PyObject *d = ctx;
    PyObject *k = py_str(op->type_name);
    if (!k) return -1;
    PyObject *v = PyDict_GetItemWithError(d, k);
    long n = v ? PyLong_AsLong(v) : 0;
    PyObject *nv = (PyErr_Occurred()) ? NULL : PyLong_FromLong(n + 1);
    int r = nv ? PyDict_SetItem(d, k, nv) : -1;
    Py_DECREF(k);
    Py_XDECREF(nv);
    return r;
}

static PyObject *program_histogram(ProgramObject *o, PyObject *unused) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (int i = 0; i < o->prog->nfunc; i++)
        if (ir_walk(o->prog->funcs[i], hist_op, d)) {
            Py_DECREF(d);
            return NULL;
        }
    return d;
}

/* pc_progress callback: calls the Python callable ud(what, done, total) under the GIL (the stages may
 * run without it). A failure in the callable is reported as unraisable: progress never stops a stage,
 * and an exception already pending stays as it was. */
static void progress_call(void *ud, const char *what, int64_t done, int64_t total) {
    PyGILState_STATE g = PyGILState_Ensure();
    PyObject *et, *ev, *tb;
    PyErr_Fetch(&et, &ev, &tb);
    PyObject *r = PyObject_CallFunction((PyObject *)ud, "sLL", what, (long long)done, (long long)total);
    if (r) Py_DECREF(r);
    else PyErr_WriteUnraisable((PyObject *)ud);
    PyErr_Restore(et, ev, tb);
    PyGILState_Release(g);
}

int py_progress_arg(PyObject *cb, pc_progress *pr) {
    memset(pr, 0, sizeof *pr);
    if (cb == Py_None) return 0;
    if (!PyCallable_Check(cb)) {
        PyErr_SetString(PyExc_TypeError, "progress must be a callable(what, done, total) or None");
        return -1;
    }
    pr->fn = progress_call;
    pr->ud = cb;
    return 1;
}

static PyObject *program_save(ProgramObject *o, PyObject *args) {
    const char *path;
    PyObject *desc, *progress = Py_None;
    if (!PyArg_ParseTuple(args, "sO!|O", &path, &PyDict_Type, &desc, &progress)) return NULL;
    pc_progress pr;
    int has_progress = py_progress_arg(progress, &pr);
    if (has_progress < 0) return NULL;
    pc_arena *a = pc_arena_new();
    if (!a) return PyErr_NoMemory();
    ser_desc d;
    if (py_desc_from_dict(desc, &d, a)) {
        pc_arena_free(a);
        return NULL;
    }
    pc_err e = {0};
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = ser_write_package(o->prog, &d, path, has_progress ? &pr : NULL, &e);
    Py_END_ALLOW_THREADS
    pc_arena_free(a);
    if (r) return py_raise(o->module, &e);
    Py_RETURN_NONE;
}

/* cast_output(i, dtype): output i of main returned as dtype under its name (fp16 image outputs). */
static PyObject *program_cast_output(ProgramObject *o, PyObject *args) {
    int i;
    const char *dn;
    if (!PyArg_ParseTuple(args, "is", &i, &dn)) return NULL;
    ir_dtype dt = ir_dtype_from_name(dn);
    if (dt == IR_DT_INVALID) return PyErr_Format(PyExc_ValueError, "unknown dtype '%s'", dn);
    pc_err e = {0};
    rt_free(o->rt);
    o->rt = NULL;
    ir_function *fn = ir_program_main(o->prog);
    if (!fn) return PyErr_Format(PyExc_ValueError, "the program has no main function");
    if (pass_cast_output(fn, i, dt, &e) || ir_check(o->prog, &e)) return py_raise(o->module, &e);
    Py_RETURN_NONE;
}

/* run_pass(name): apply one pass in place (for text-in/text-out tests). */
static PyObject *program_run_pass(ProgramObject *o, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    pc_err e = {0};
    rt_free(o->rt);
    o->rt = NULL;
    if (drv_run_pass(o->prog, name, &e)) return py_raise(o->module, &e);
    Py_RETURN_NONE;
}

static PyObject *program_check(ProgramObject *o, PyObject *unused) {
    pc_err e = {0};
    if (ir_check(o->prog, &e)) return py_raise(o->module, &e);
    Py_RETURN_NONE;
}

/* ops(): every op of main in program order (nested blocks in place) but consts, for the numerical
 * debugger: (name, type, [input value names], [(output name, (dtype, shape), TorchScript value or None)],
 * location or None, depth of nesting). */
typedef struct {
    PyObject *list;
    int depth;
} ops_walk;

static int ops_block(ops_walk *w, const ir_block *b);

static PyObject *names_of_inputs(const ir_op *op) {
    PyObject *l = PyList_New(0);
    for (int i = 0; l && i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++) {
            PyObject *n = op->in[i].v[j] ? py_str(op->in[i].v[j]->name) : Py_NewRef(Py_None);
            if (!n || PyList_Append(l, n)) Py_CLEAR(l);
            Py_XDECREF(n);
            if (!l) break;
        }
    return l;
}

static int ops_block(ops_walk *w, const ir_block *b) {
    for (const ir_op *op = b->first; op; op = op->next) {
        if (op->kind != IR_OP_CONST) {
            PyObject *outs = PyList_New(op->nout);
            for (int i = 0; outs && i < op->nout; i++) {
                const ir_value *v = op->out[i];
                PyObject *t = py_type_tuple(&v->type);
                PyObject *e = t ? Py_BuildValue("(NNN)", py_str(v->name), t,
                                                v->src_name ? py_str(v->src_name) : Py_NewRef(Py_None))
                                : NULL;
                if (!e) Py_CLEAR(outs);
                else PyList_SET_ITEM(outs, i, e);
            }
            PyObject *ins = outs ? names_of_inputs(op) : NULL;
            PyObject *row = ins ? Py_BuildValue("(NNNNNi)", py_str(op->name), py_str(op->type_name), ins, outs,
                                                op->loc ? py_str(op->loc) : Py_NewRef(Py_None), w->depth)
                                : NULL;
            if (!row) {
                Py_XDECREF(outs);
                return -1;
            }
            int r = PyList_Append(w->list, row);
            Py_DECREF(row);
            if (r) return -1;
        }
        w->depth++;
        for (int k = 0; k < op->nblocks; k++)
            if (ops_block(w, op->blocks[k])) return -1;
        w->depth--;
    }
    return 0;
}

static PyObject *program_ops(ProgramObject *o, PyObject *unused) {
    ir_function *fn = ir_program_main(o->prog);
    ops_walk w = {PyList_New(0), 0};
    if (!w.list || !fn) return w.list;
    if (ops_block(&w, fn->body)) Py_CLEAR(w.list);
    return w.list;
}

static PyMethodDef program_methods[] = {
    {"text", (PyCFunction)(void (*)(void))program_text, METH_VARARGS | METH_KEYWORDS,
     "text(max_const=16): the program in our textual MIL form"},
    {"io", (PyCFunction)program_io, METH_NOARGS, "io(): inputs and outputs of main as (name, (dtype, shape))"},
    {"states", (PyCFunction)program_states, METH_NOARGS, "states(): state inputs of main as (name, (dtype, shape))"},
    {"histogram", (PyCFunction)program_histogram, METH_NOARGS, "histogram(): {op type: count}"},
    {"save", (PyCFunction)program_save, METH_VARARGS, "save(path, desc, progress=None): write an .mlpackage; progress(what, done, total) hears of the weight bytes written"},
    {"run", (PyCFunction)py_program_run, METH_VARARGS, "run([arrays]): execute main in the reference runtime"},
    {"run_capture", (PyCFunction)py_program_run_capture, METH_VARARGS,
     "run_capture([arrays], names=None) -> (outputs, {name: array}): run() keeping intermediate values"},
    {"ops", (PyCFunction)program_ops, METH_NOARGS,
     "ops(): [(name, type, [inputs], [(output, (dtype, shape), torch value)], loc, depth)] of main, consts left out"},
    {"set_description", (PyCFunction)py_program_set_description, METH_O,
     "set_description(desc): check the description dict against main; run() then enforces its input bounds"},
    {"memory_plan", (PyCFunction)py_program_memory_plan, METH_NOARGS,
     "memory_plan(): runtime memory figures in bytes (constants, fp32 copies, peak live activations)"},
    {"run_pass", (PyCFunction)program_run_pass, METH_VARARGS, "run_pass(name): apply one graph pass"},
    {"cast_output", (PyCFunction)program_cast_output, METH_VARARGS,
     "cast_output(i, dtype): output i of main returned as dtype under its name"},
    {"check", (PyCFunction)program_check, METH_NOARGS, "check(): run the IR checker"},
    {NULL, NULL, 0, NULL},
};

static PyType_Slot program_slots[] = {
    {Py_tp_dealloc, program_dealloc},
    {Py_tp_methods, program_methods},
    {Py_tp_doc, "A compiled ML Program held by the C core."},
    {0, NULL},
};

static PyType_Spec program_spec = {
    .name = "pt2coreml._core.Program",
    .basicsize = sizeof(ProgramObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
    .slots = program_slots,
};

int py_program_type(PyObject *m) {
    py_state *st = PyModule_GetState(m);
    return py_add_type(m, &program_spec, &st->ProgramType, "Program");
}
