/* run.c: Program.run() and what it needs: numpy arrays in (dtype checked, the
 * description's input bounds enforced), the runtime run with the GIL released,
 * numpy arrays (or a classifier's label / probabilities) out; memory_plan() and
 * set_description(). */
#include "python/bounds.h"

#define NO_IMPORT_ARRAY
#define PY_ARRAY_UNIQUE_SYMBOL pt2coreml_ARRAY_API
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include "runtime/rt.h"

#include <stdlib.h>
#include <string.h>

static int np_to_ir_dtype(int t) {
    switch (t) {
    case NPY_FLOAT32: return IR_FP32;
    case NPY_FLOAT16: return IR_FP16;
    case NPY_FLOAT64: return IR_FP64;
    case NPY_INT32: return IR_INT32;
    case NPY_INT64: return IR_INT64;
    case NPY_INT8: return IR_INT8;
    case NPY_UINT8: return IR_UINT8;
    case NPY_BOOL: return IR_BOOL;
    case NPY_INT16: return IR_INT16;
    case NPY_UINT16: return IR_UINT16;
    default: return IR_DT_INVALID;
    }
}

static int ir_to_np_dtype(ir_dtype t) {
    switch (t) {
    case IR_FP32: return NPY_FLOAT32;
    case IR_FP16: return NPY_FLOAT16;
    case IR_FP64: return NPY_FLOAT64;
    case IR_INT32: return NPY_INT32;
    case IR_INT64: return NPY_INT64;
    case IR_INT8: return NPY_INT8;
    case IR_UINT8: return NPY_UINT8;
    case IR_BOOL: return NPY_BOOL;
    case IR_INT16: return NPY_INT16;
    case IR_UINT16: return NPY_UINT16;
    default: return -1;
    }
}

static int ensure_rt(ProgramObject *o) {
    if (o->rt) return 0;
    pc_err e = {0};
    if (rt_prepare(o->prog, "main", &o->rt, &e)) {
        py_raise(o->module, &e);
        return -1;
    }
    return 0;
}

static void free_capsule(PyObject *cap) { free(PyCapsule_GetPointer(cap, "pt2coreml.buffer")); }

/* A numpy array over a runtime output: takes ownership of runtime-allocated data
 * (freed with the array), copies otherwise. */
static PyObject *output_array(rt_tensor *t, npy_intp *dims, int npt) {
    if (t->owned && t->data) {
        PyObject *arr = PyArray_SimpleNewFromData(t->rank, dims, npt, t->data);
        if (!arr) return NULL;
        PyObject *cap = PyCapsule_New(t->data, "pt2coreml.buffer", free_capsule);
        if (!cap) {
            Py_DECREF(arr);
            return NULL;
        }
        t->owned = 0; /* the capsule frees it now */
        if (PyArray_SetBaseObject((PyArrayObject *)arr, cap) < 0) { /* steals cap */
            Py_DECREF(arr);
            return NULL;
        }
        return arr;
    }
    PyObject *arr = PyArray_SimpleNew(t->rank, dims, npt);
    if (!arr) return NULL;
    size_t nb = (size_t)PyArray_NBYTES((PyArrayObject *)arr);
    if (nb && t->data) memcpy(PyArray_DATA((PyArrayObject *)arr), t->data, nb);
    return arr;
}

/* A classify output: the label (str or int) for a rank-0 string/int64 tensor, or
 * {label: probability} for the dictionary, keyed by the producing op's classes. */
static PyObject *classifier_output(const ir_value *v, const rt_tensor *t) {
    if (v->type.kind == IR_TK_DICT) {
        const ir_value *cv = v->def ? ir_op_input(v->def, "classes") : NULL;
        const ir_const *k = cv ? cv->konst : NULL;
        if (!k || t->dtype != IR_FP64 || t->rank != 1 || k->count != t->dims[0]) {
            PyErr_Format(PyExc_RuntimeError, "output '%s': a dictionary without its class labels", v->name);
            return NULL;
        }
        PyObject *d = PyDict_New();
        for (int64_t i = 0; d && i < k->count; i++) {
            PyObject *key = k->store == IR_STRING ? py_str(((const char *const *)k->data)[i])
                                                  : PyLong_FromLongLong(ir_const_get_i64(k, i));
            PyObject *val = key ? PyFloat_FromDouble(((const double *)t->data)[i]) : NULL;
            if (!val || PyDict_SetItem(d, key, val) < 0) Py_CLEAR(d);
            Py_XDECREF(key);
            Py_XDECREF(val);
        }
        return d;
    }
    if (t->dtype == IR_STRING) return py_str(((const char *const *)t->data)[0]);
    return PyLong_FromLongLong(((const int64_t *)t->data)[0]);
}

/* An input as an array of its declared dtype (same-kind casts only: fp64 -> fp32, not fp32 -> int32). */
static PyObject *input_array(const ir_value *v, PyObject *given) {
    int npt = ir_to_np_dtype(v->type.dtype);
    if (npt < 0) {
        PyErr_Format(PyExc_TypeError, "input '%s' has dtype %s, which predict() cannot feed", v->name,
                     ir_dtype_name(v->type.dtype));
        return NULL;
    }
    if (PyArray_Check(given)) {
        PyArray_Descr *want = PyArray_DescrFromType(npt);
        int ok = want && PyArray_CanCastTypeTo(PyArray_DESCR((PyArrayObject *)given), want, NPY_SAME_KIND_CASTING);
        Py_XDECREF(want);
        if (!ok) {
            int gt = np_to_ir_dtype(PyArray_TYPE((PyArrayObject *)given));
            PyErr_Format(PyExc_TypeError, "input '%s' must be %s, got %s", v->name, ir_dtype_name(v->type.dtype),
                         gt != IR_DT_INVALID ? ir_dtype_name((ir_dtype)gt) :
                         PyArray_DESCR((PyArrayObject *)given)->typeobj->tp_name);
            return NULL;
        }
    }
    return PyArray_FROMANY(given, npt, 0, IR_MAX_RANK, NPY_ARRAY_C_CONTIGUOUS | NPY_ARRAY_ALIGNED | NPY_ARRAY_FORCECAST);
}

/* A state's buffer, updated in place by the run: an ndarray of exactly the state's dtype, C-contiguous,
 * aligned and writeable (the MLState's own array). */
static PyObject *state_array(const ir_value *v, PyObject *given) {
    int npt = ir_to_np_dtype(v->type.dtype);
    if (!PyArray_Check(given) || PyArray_TYPE((PyArrayObject *)given) != npt ||
        !PyArray_ISCARRAY((PyArrayObject *)given)) {
        PyErr_Format(PyExc_TypeError, "state '%s' must be a writeable C-contiguous %s numpy array", v->name,
                     ir_dtype_name(v->type.dtype));
        return NULL;
    }
    return Py_NewRef(given);
}

/* run([ndarray], [state ndarray]) -> [ndarray]: inputs in declared order, already of the declared
 * dtype (the Python layer converts and checks names); a stateful model's states in the order of
 * states(), updated in place. Releases the GIL. A classifier's label is a str / int and its
 * probabilities a dict. */
static PyObject *run_with(ProgramObject *o, PyObject *seq_in, PyObject *st_in, const rt_observer *obs) {
    PyObject *seq = PySequence_Fast(seq_in, "run() takes a list of arrays");
    if (!seq) return NULL;
    int nin = rt_num_inputs(o->rt), nout = rt_num_outputs(o->rt), nst = 0;
    for (int i = 0; i < nin; i++) nst += rt_input(o->rt, i)->type.kind == IR_TK_STATE;
    Py_ssize_t ngiven_st = st_in && st_in != Py_None ? PySequence_Size(st_in) : 0;
    if (ngiven_st < 0) {
        Py_DECREF(seq);
        return NULL;
    }
    if (PySequence_Fast_GET_SIZE(seq) != nin - nst || ngiven_st != nst) {
        if (ngiven_st != nst)
            PyErr_Format(PyExc_ValueError, "the model has %d state(s), got %zd", nst, ngiven_st);
        else
            PyErr_Format(PyExc_ValueError, "the model takes %d inputs, got %zd", nin - nst, PySequence_Fast_GET_SIZE(seq));
        Py_DECREF(seq);
        return NULL;
    }
    PyObject **arrs = calloc((size_t)(nin ? nin : 1), sizeof(PyObject *));
    rt_tensor *ins = calloc((size_t)(nin ? nin : 1), sizeof(rt_tensor));
    rt_tensor *outs = calloc((size_t)(nout ? nout : 1), sizeof(rt_tensor));
    PyObject *result = NULL;
    if (!arrs || !ins || !outs) {
        PyErr_NoMemory();
        goto done;
    }
    for (int i = 0, k = 0, ks = 0; i < nin; i++) {
        const ir_value *v = rt_input(o->rt, i);
        if (v->type.kind == IR_TK_STATE) {
            PyObject *given = PySequence_GetItem(st_in, ks++);
            arrs[i] = given ? state_array(v, given) : NULL;
            Py_XDECREF(given);
        } else {
            arrs[i] = input_array(v, PySequence_Fast_GET_ITEM(seq, k++));
        }
        if (!arrs[i]) goto done;
        PyArrayObject *a = (PyArrayObject *)arrs[i];
        ins[i].dtype = (ir_dtype)np_to_ir_dtype(PyArray_TYPE(a));
        ins[i].rank = PyArray_NDIM(a);
        for (int d = 0; d < ins[i].rank; d++) ins[i].dims[d] = PyArray_DIM(a, d);
        ins[i].data = PyArray_DATA(a);
        if (py_bounds_check(o->bounds, i, v, ins[i].rank, ins[i].dims)) goto done;
    }
    pc_err e = {0};
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = rt_run_observed(o->rt, ins, outs, obs, &e);
    Py_END_ALLOW_THREADS
    if (r) {
        py_raise(o->module, &e);
        goto done;
    }
    result = PyList_New(nout);
    if (!result) goto done;
    for (int i = 0; i < nout; i++) {
        const ir_value *ov = rt_output(o->rt, i);
        if (ov && (ov->type.kind == IR_TK_DICT || (ov->type.rank == 0 && outs[i].dtype == IR_STRING) ||
                   (ov->def && ov->def->kind == IR_OP_CLASSIFY))) {
            PyObject *x = classifier_output(ov, &outs[i]);
            if (!x) {
                Py_CLEAR(result);
                goto done;
            }
            PyList_SET_ITEM(result, i, x);
            continue;
        }
        int npt = ir_to_np_dtype(outs[i].dtype);
        if (npt < 0) {
            PyErr_Format(PyExc_TypeError, "output %d has dtype %s, which numpy cannot hold", i,
                         ir_dtype_name(outs[i].dtype));
            Py_CLEAR(result);
            goto done;
        }
        npy_intp dims[IR_MAX_RANK];
        for (int k = 0; k < outs[i].rank; k++) dims[k] = (npy_intp)outs[i].dims[k];
        PyObject *arr = output_array(&outs[i], dims, npt);
        if (!arr) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, arr);
    }
done:
    if (outs)
        for (int i = 0; i < nout; i++) rt_tensor_release(&outs[i]);
    if (arrs)
        for (int i = 0; i < nin; i++) Py_XDECREF(arrs[i]);
    free(arrs);
    free(ins);
    free(outs);
    Py_DECREF(seq);
    return result;
}

PyObject *py_program_run(ProgramObject *o, PyObject *args) {
    PyObject *seq_in, *st_in = NULL;
    if (!PyArg_ParseTuple(args, "O|O", &seq_in, &st_in)) return NULL;
    if (ensure_rt(o)) return NULL;
    return run_with(o, seq_in, st_in, NULL);
}

/* ---- run_capture: the numerical debugger's view of every intermediate value ---- */
typedef struct capture {
    int nids;
    const ir_value **want; /* by value id: the values to keep (NULL: not wanted) */
    rt_tensor *kept;       /* by value id: the last value computed (a loop body's: its last iteration) */
} capture;

/* rt_observer.fn (runs without the GIL): a copy of each wanted value. */
static int capture_value(void *ud, const ir_value *v, const rt_tensor *t) {
    capture *c = ud;
    if (v->id < 0 || v->id >= c->nids || !c->want[v->id] || ir_to_np_dtype(t->dtype) < 0) return 0;
    rt_tensor *k = &c->kept[v->id];
    free(k->data);
    *k = *t;
    size_t nb = ir_dtype_size(t->dtype);
    for (int d = 0; d < t->rank; d++) nb *= (size_t)t->dims[d];
    k->owned = 1;
    if (!(k->data = malloc(nb ? nb : 1))) return -1;
    if (nb && t->data) memcpy(k->data, t->data, nb);
    return 0;
}

typedef struct {
    capture *c;
    PyObject *names; /* set of the names still to find, or NULL: every non-const op output */
} want_walk;

static int want_op(ir_op *op, void *ud) {
    want_walk *w = ud;
    if (op->kind == IR_OP_CONST) return 0;
    for (int i = 0; i < op->nout; i++) {
        const ir_value *v = op->out[i];
        if (v->id < 0 || v->id >= w->c->nids) continue;
        if (w->names) {
            PyObject *k = py_str(v->name);
            int hit = k ? PySet_Discard(w->names, k) : -1; /* 1: it was asked for */
            Py_XDECREF(k);
            if (hit < 0) return -1;
            if (!hit) continue;
        }
        w->c->want[v->id] = v;
    }
    return 0;
}

/* run_capture([ndarray], names=None) -> ([outputs], {name: ndarray}): run() that also returns the value of
 * every op output named in names (None: every non-const op output) as computed; a value inside a loop body
 * is its last iteration's. A name no op output has is a KeyError. */
PyObject *py_program_run_capture(ProgramObject *o, PyObject *args) {
    PyObject *seq_in, *names_in = Py_None;
    if (!PyArg_ParseTuple(args, "O|O", &seq_in, &names_in)) return NULL;
    if (ensure_rt(o)) return NULL;
    ir_function *fn = ir_program_main(o->prog);
    if (!fn) return PyErr_Format(PyExc_ValueError, "the program has no main function");
    capture c = {.nids = o->prog->next_value_id};
    c.want = calloc((size_t)(c.nids ? c.nids : 1), sizeof(*c.want));
    c.kept = calloc((size_t)(c.nids ? c.nids : 1), sizeof(rt_tensor));
    want_walk w = {.c = &c};
    PyObject *result = NULL, *outs = NULL, *dict = NULL;
    if (!c.want || !c.kept) {
        PyErr_NoMemory();
        goto done;
    }
    if (names_in != Py_None && !(w.names = PySet_New(names_in))) goto done;
    if (ir_walk(fn, want_op, &w)) goto done;
    if (w.names && PySet_GET_SIZE(w.names)) {
        PyObject *left = PySequence_List(w.names);
        if (left && !PyList_Sort(left)) PyErr_Format(PyExc_KeyError, "no op output named %R in the program", left);
        Py_XDECREF(left);
        goto done;
    }
    rt_observer obs = {capture_value, &c};
    if (!(outs = run_with(o, seq_in, Py_None, &obs)) || !(dict = PyDict_New())) goto done;
    for (int i = 0; i < c.nids; i++) {
        rt_tensor *k = &c.kept[i];
        if (!k->data || !c.want[i]) continue;
        npy_intp dims[IR_MAX_RANK];
        for (int d = 0; d < k->rank; d++) dims[d] = (npy_intp)k->dims[d];
        PyObject *arr = output_array(k, dims, ir_to_np_dtype(k->dtype)); /* takes k's buffer */
        PyObject *key = arr ? py_str(c.want[i]->name) : NULL;
        int r = key ? PyDict_SetItem(dict, key, arr) : -1;
        Py_XDECREF(key);
        Py_XDECREF(arr);
        if (r) goto done;
    }
    result = PyTuple_Pack(2, outs, dict);
done:
    if (c.kept)
        for (int i = 0; i < c.nids; i++)
            if (c.kept[i].owned) free(c.kept[i].data);
    free(c.kept);
    free(c.want);
    Py_XDECREF(w.names);
    Py_XDECREF(outs);
    Py_XDECREF(dict);
    return result;
}

/* memory_plan() -> dict of the runtime's static memory figures (bytes). */
PyObject *py_program_memory_plan(ProgramObject *o, PyObject *unused) {
    if (ensure_rt(o)) return NULL;
    rt_mem_plan mp;
    rt_memory_plan(o->rt, &mp);
    return Py_BuildValue("{sLsLsLsL}", "const_bytes", (long long)mp.const_bytes, "const_f32_bytes",
                         (long long)mp.const_f32_bytes, "peak_live_bytes", (long long)mp.peak_live_bytes,
                         "largest_value_bytes", (long long)mp.largest_value_bytes);
}

/* set_description(desc): check desc against main and enforce its input bounds in run(). */
PyObject *py_program_set_description(ProgramObject *o, PyObject *desc) {
    py_bounds *b = py_bounds_from_dict(o->module, o->prog, desc);
    if (!b) return NULL;
    py_bounds_free(o->bounds);
    o->bounds = b;
    Py_RETURN_NONE;
}
