/* module.c: pt2coreml._core, the binding between Python and the C stages.
 *
 * Python stays thin: it prepares the TorchScript graph (freeze, inline) and
 * calls convert(); everything else (reading the graph, lowering, passes,
 * serialization, execution) happens in the C stages. This file only parses
 * arguments into their options, calls the stages (convert()'s pipeline is
 * drv_convert, driver/convert.c) and turns their errors into exceptions; the
 * Program type the functions return is program.c's.
 * Module state, no globals; only PyInit__core is exported.
 */
#include "python/bounds.h"

#define PY_ARRAY_UNIQUE_SYMBOL pt2coreml_ARRAY_API
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include "driver/driver.h"
#include "export/export.h"
#include "runtime/rt.h"
#include "serialize/ser.h"
#include "torchscript/ts.h"

#include <stdlib.h>
#include <string.h>


static py_state *get_state(PyObject *module) { return (py_state *)PyModule_GetState(module); }

PyObject *py_raise(PyObject *module, const pc_err *e) {
    if (e->kind == PC_OK) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_RuntimeError, "pt2coreml: unknown error");
        return NULL;
    }
    PyObject *cause = NULL, *ctype = NULL, *ctb = NULL;
    PyErr_Fetch(&ctype, &cause, &ctb); /* a pending Python error becomes context */
    PyObject *type;
    switch (e->kind) {
    case PC_E_VALUE:
    case PC_E_FORMAT: type = PyExc_ValueError; break;
    case PC_E_TYPE: type = PyExc_TypeError; break;
    case PC_E_CONVERT:
    case PC_E_UNSUPPORTED: type = get_state(module)->ConversionError; break;
    case PC_E_IO: type = PyExc_OSError; break;
    case PC_E_NOMEM: type = PyExc_MemoryError; break;
    default: type = PyExc_RuntimeError; break;
    }
    PyObject *msg = py_str(e->msg);
    if (!msg) return NULL;
    PyErr_SetObject(type, msg);
    Py_DECREF(msg);
    if (ctype) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        PyErr_NormalizeException(&ctype, &cause, &ctb);
        if (cause) PyException_SetContext(v, cause); /* steals cause */
        else Py_XDECREF(cause);
        Py_XDECREF(ctype);
        Py_XDECREF(ctb);
        PyErr_Restore(t, v, tb);
    }
    return NULL;
}

int py_add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **slot, const char *name) {
    *slot = (PyTypeObject *)PyType_FromModuleAndSpec(module, spec, NULL);
    if (!*slot || (name && PyModule_AddObjectRef(module, name, (PyObject *)*slot) < 0)) return -1;
    return 0;
}

void py_free_object(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    PyObject_Free(o);
    Py_DECREF(t);
}

void py_release_object(void *obj) {
    PyGILState_STATE g = PyGILState_Ensure();
    Py_XDECREF((PyObject *)obj);
    PyGILState_Release(g);
}


/* ---- module functions ---- */

/* parse(text) -> Program */
static PyObject *mod_parse(PyObject *m, PyObject *args) {
    const char *text;
    if (!PyArg_ParseTuple(args, "s", &text)) return NULL;
    pc_err e = {0};
    ir_program *p = NULL;
    if (ir_parse(text, &p, &e)) return py_raise(m, &e);
    return py_program_wrap(m, p);
}

/* load(path) -> (Program, desc dict) */
static PyObject *mod_load(PyObject *m, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    pc_arena *a = pc_arena_new();
    if (!a) return PyErr_NoMemory();
    pc_err e = {0};
    ir_program *p = NULL;
    ser_desc d;
    memset(&d, 0, sizeof d);
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = ser_read_package(path, a, &p, &d, &e);
    Py_END_ALLOW_THREADS
    if (r) {
        pc_arena_free(a);
        return py_raise(m, &e);
    }
    PyObject *dd = py_desc_to_dict(&d);
    py_bounds *b = dd ? py_bounds_new(ir_program_main(p), &d) : NULL;
    pc_arena_free(a);
    if (!b) {
        Py_XDECREF(dd);
        ir_program_free(p);
        return NULL;
    }
    PyObject *prog = py_program_wrap(m, p);
    if (!prog) {
        py_bounds_free(b);
        Py_DECREF(dd);
        return NULL;
    }
    ((ProgramObject *)prog)->bounds = b;
    return Py_BuildValue("(NN)", prog, dd);
}

/* Image preprocessing (scale, [bias per channel][, channel_last]) of an input, or None. */
static int parse_preprocess(PyObject *pre, lower_input *in) {
    PyObject *bias;
    int channel_last = 0;
    if (!pre || pre == Py_None) return 0;
    if (!PyArg_ParseTuple(pre, "dO|p", &in->scale, &bias, &channel_last)) return -1;
    in->channel_last = channel_last;
    PyObject *seq = PySequence_Fast(bias, "image bias must be a sequence");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != 1 && n != 3) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "image bias needs 1 or 3 values, got %zd", n);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        in->bias[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
        if (in->bias[i] == -1.0 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    in->nbias = (int)n;
    in->preprocess = 1;
    return 0;
}

static int parse_input(PyObject *spec, lower_input *in, ir_program *symbols, pc_arena *a);

/* The states: [(name, buffer dtype, shape[, buffer fully-qualified name: an exported program's])], one per
 * graph input after the inputs; each a fp16
 * state of that shape, read and written as the buffer's dtype. */
static int parse_states(PyObject *states, lower_opts *lo, ir_program *symbols, pc_arena *a) {
    PyObject *seq = PySequence_Fast(states, "states must be a list");
    if (!seq) return -1;
    lo->nstates = (int)PySequence_Fast_GET_SIZE(seq);
    lower_state *ls = pc_alloc(a, sizeof(lower_state) * (size_t)(lo->nstates ? lo->nstates : 1));
    if (!ls) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < lo->nstates; i++) {
        lower_input in;
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i), *head = NULL;
        ls[i].buffer = NULL;
        if (PyTuple_Check(item) && PyTuple_GET_SIZE(item) == 4) { /* (name, dtype, shape, buffer fqn) */
            const char *fqn = py_cstr(PyTuple_GET_ITEM(item, 3), "state buffer name");
            if (!fqn || !(ls[i].buffer = pc_strdup(a, fqn)) || !(head = PyTuple_GetSlice(item, 0, 3))) {
                Py_DECREF(seq);
                if (!PyErr_Occurred()) PyErr_NoMemory();
                return -1;
            }
            item = head;
        }
        int bad = parse_input(item, &in, symbols, a);
        Py_XDECREF(head);
        if (bad) {
            Py_DECREF(seq);
            return -1;
        }
        ls[i].name = in.name;
        ls[i].graph_dtype = in.type.dtype;
        ls[i].type = in.type;
        ls[i].type.kind = IR_TK_STATE;
        ls[i].type.dtype = IR_FP16;
    }
    Py_DECREF(seq);
    lo->states = ls;
    return 0;
}

/* Parse one input spec (name|None, dtype str, shape sequence of int|None[, preprocess]). */
static int parse_input(PyObject *spec, lower_input *in, ir_program *symbols, pc_arena *a) {
    PyObject *name, *shape, *pre = NULL;
    const char *dt;
    memset(in, 0, sizeof *in);
    if (!PyArg_ParseTuple(spec, "OsO|O", &name, &dt, &shape, &pre)) return -1;
    if (parse_preprocess(pre, in)) return -1;
    in->name = NULL;
    if (name != Py_None) {
        const char *s = py_cstr(name, "input name");
        if (!s) return -1;
        if (!(in->name = pc_strdup(a, s))) {
            PyErr_NoMemory();
            return -1;
        }
    }
    ir_dtype t = ir_dtype_from_name(dt);
    if (t == IR_DT_INVALID) {
        PyErr_Format(PyExc_ValueError, "unknown input dtype '%s'", dt);
        return -1;
    }
    PyObject *seq = PySequence_Fast(shape, "input shape must be a sequence");
    if (!seq) return -1;
    Py_ssize_t r = PySequence_Fast_GET_SIZE(seq);
    if (r > IR_MAX_RANK) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "input rank %zd exceeds %d", r, IR_MAX_RANK);
        return -1;
    }
    int64_t dims[IR_MAX_RANK];
    for (Py_ssize_t i = 0; i < r; i++) {
        PyObject *d = PySequence_Fast_GET_ITEM(seq, i);
        if (d == Py_None) {
            dims[i] = IR_SYM(symbols->next_symbol++);
        } else {
            dims[i] = PyLong_AsLongLong(d);
            if (dims[i] == -1 && PyErr_Occurred()) {
                Py_DECREF(seq);
                return -1;
            }
        }
    }
    Py_DECREF(seq);
    in->type = ir_tensor_type(t, (int)r, dims);
    return 0;
}

/* Classifier spec (labels: [str] | [int], predicted_feature_name|None, probabilities output|None). */
static int parse_classifier(PyObject *spec, lower_classifier *c, pc_arena *a) {
    PyObject *labels, *pfn, *pout;
    memset(c, 0, sizeof *c);
    if (!PyArg_ParseTuple(spec, "OOO", &labels, &pfn, &pout)) return -1;
    PyObject *seq = PySequence_Fast(labels, "class labels must be a list");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    c->nlabels = (int)n;
    c->labels_are_int = n > 0 && PyLong_Check(PySequence_Fast_GET_ITEM(seq, 0));
    const char **ss = pc_alloc(a, sizeof(char *) * (size_t)(n ? n : 1));
    int64_t *is = pc_alloc(a, sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!ss || !is) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
        if (c->labels_are_int != (PyLong_Check(it) && !PyBool_Check(it)) || (!c->labels_are_int && !PyUnicode_Check(it))) {
            Py_DECREF(seq);
            PyErr_Format(PyExc_TypeError, "class labels must be all str or all int; label %zd is %s", i, Py_TYPE(it)->tp_name);
            return -1;
        }
        if (c->labels_are_int) {
            is[i] = PyLong_AsLongLong(it);
            if (is[i] == -1 && PyErr_Occurred()) {
                Py_DECREF(seq);
                return -1;
            }
        } else {
            const char *s = py_cstr(it, "class label");
            if (!s || !(ss[i] = pc_strdup(a, s))) {
                Py_DECREF(seq);
                if (!PyErr_Occurred()) PyErr_NoMemory();
                return -1;
            }
        }
    }
    Py_DECREF(seq);
    c->string_labels = ss;
    c->int_labels = is;
    if (pfn != Py_None && !(c->predicted_feature_name = py_cstr(pfn, "predicted_feature_name"))) return -1;
    if (pout != Py_None && !(c->probabilities_output = py_cstr(pout, "predicted_probabilities_output"))) return -1;
    return 0;
}

/* drv_opts.lowered: the converters' session ends with lowering (a converter's exception is
 * pending again from here); debug text that could not be written stops the conversion. */
static int convert_lowered(void *ud) {
    py_ext_end(ud);
    return PyErr_Occurred() ? -1 : 0;
}

/* pass_opts.fp16_select over a Python callable(op_type, name, {param: [(value, (dtype, shape))]},
 * [(output, (dtype, shape))]) -> truthy for fp16 (_convert.py wraps the user's op_selector). */
static PyObject *typed_values(int n, ir_value *const *v) {
    PyObject *l = PyList_New(n);
    for (int i = 0; l && i < n; i++) {
        PyObject *t = v[i] ? py_type_tuple(&v[i]->type) : Py_BuildValue("(s())", "?");
        PyObject *e = t ? Py_BuildValue("(NN)", v[i] ? py_str(v[i]->name) : Py_NewRef(Py_None), t) : NULL;
        if (!e) Py_CLEAR(l);
        else PyList_SET_ITEM(l, i, e);
    }
    return l;
}

static int py_fp16_select(void *ud, const ir_op *op) {
    PyObject *ins = PyDict_New();
    for (int i = 0; ins && i < op->nin; i++) {
        PyObject *vals = typed_values(op->in[i].n, op->in[i].v);
        if (!vals || PyDict_SetItemString(ins, op->in[i].name, vals)) Py_CLEAR(ins);
        Py_XDECREF(vals);
    }
    PyObject *outs = ins ? typed_values(op->nout, op->out) : NULL;
    PyObject *r = outs ? PyObject_CallFunction((PyObject *)ud, "NNOO", py_str(op->type_name), py_str(op->name), ins, outs) : NULL;
    Py_XDECREF(ins);
    Py_XDECREF(outs);
    if (!r) return -1;
    int t = PyObject_IsTrue(r);
    Py_DECREF(r);
    return t < 0 ? -1 : t;
}

/* custom_ops: [(key, arguments, returns)], custom ops' schema rows for the torch.export reader (export.h). */
static int parse_op_rows(PyObject *list, ex_oprow **out, int *n, pc_arena *a) {
    PyObject *seq = PySequence_Fast(list, "custom_ops must be a list of (key, arguments, returns)");
    if (!seq) return -1;
    *n = (int)PySequence_Fast_GET_SIZE(seq);
    ex_oprow *rows = pc_alloc(a, sizeof *rows * (size_t)(*n ? *n : 1));
    if (!rows) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (int i = 0; i < *n; i++) {
        const char *k, *ar, *r;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "sss", &k, &ar, &r) ||
            !(rows[i].key = pc_strdup(a, k)) || !(rows[i].args = pc_strdup(a, ar)) ||
            !(rows[i].returns = pc_strdup(a, r))) {
            Py_DECREF(seq);
            if (!PyErr_Occurred()) PyErr_NoMemory();
            return -1;
        }
    }
    Py_DECREF(seq);
    *out = rows;
    return 0;
}

/* convert(graph, inputs, outputs, opset, precision, debug, converters, classifier) -> Program
 *   classifier: None or (labels, predicted_feature_name|None, probabilities output name|None)
 *   graph: torch._C.Graph of a frozen, inlined module, or the bytes of a serialized ExportedProgram
 *          (torch._export.serde's JSON) whose weights= dict {fully-qualified name: array} resolves its
 *          parameters, buffers and tensor constants; ignored when archive= names a .pt2 file (torch.export.save),
 *          whose program and weights the C core reads itself
 *   inputs: [(name|None, dtype, shape[, (scale, [bias])])], one per graph input after self;
 *           the optional 4th item is image preprocessing (None: none)
 *   outputs: [name|None] or None
 *   precision: "fp16" | "fp32"
 *   fp16_selector: None, or a callable(op_type, name, inputs, outputs) -> bool: False keeps the op fp32
 *   custom_ops: None, or [(key, arguments, returns)] schema rows of the custom ops an exported program calls */
static PyObject *mod_convert(PyObject *m, PyObject *args, PyObject *kw) {
    static char *kws[] = {"graph", "inputs", "outputs", "opset", "precision", "debug", "converters", "classifier",
                          "states", "fp16_selector", "progress", "weights", "archive", "custom_ops", NULL};
    PyObject *graph, *inputs, *outputs = Py_None, *converters = Py_None, *classifier = Py_None, *states = Py_None,
             *selector = Py_None, *progress = Py_None;
    PyObject *weights = Py_None, *archive = NULL; /* archive: a .pt2 path (bytes, from PyUnicode_FSConverter) */
    PyObject *custom_ops = Py_None;
    const char *opset = "CoreML5", *precision = "fp16";
    int debug = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|OsspOOOOOOO&O", kws, &graph, &inputs, &outputs, &opset, &precision,
                                     &debug, &converters, &classifier, &states, &selector, &progress, &weights,
                                     PyUnicode_FSConverter, &archive, &custom_ops))
        return NULL;
    if (selector != Py_None && !PyCallable_Check(selector)) {
        PyErr_SetString(PyExc_TypeError, "fp16_selector must be callable or None");
        Py_XDECREF(archive);
        return NULL;
    }
    if (!archive && PyBytes_Check(graph) && !PyDict_Check(weights)) {
        PyErr_SetString(PyExc_TypeError, "an exported program (JSON bytes) needs weights= a dict {name: array}");
        return NULL;
    }
    pc_progress pr;
    int has_progress = py_progress_arg(progress, &pr);
    if (has_progress < 0) {
        Py_XDECREF(archive);
        return NULL;
    }
    if (converters != Py_None && !PyDict_Check(converters)) {
        PyErr_SetString(PyExc_TypeError, "converters must be a dict {TorchScript kind: callable} or None");
        Py_XDECREF(archive);
        return NULL;
    }
    pass_opts po = {.precision = strcmp(precision, "fp32") == 0 ? PASS_FP32 : PASS_FP16};
    if (selector != Py_None) {
        po.fp16_select = py_fp16_select;
        po.fp16_select_ud = selector;
    }
    pc_arena *a = pc_arena_new();
    ir_program *sym = ir_program_new(); /* hands out symbol ids; copied into the result */
    if (!a || !sym) {
        pc_arena_free(a);
        ir_program_free(sym);
        Py_XDECREF(archive);
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    ir_program *p = NULL;
    pc_err e = {0};
    lower_opts lo = {.opset = opset, .debug = debug, .debug_print = py_debug_print};
    py_ext ext;
    memset(&ext, 0, sizeof ext);
    lo.debug_ud = &ext;
    lo.progress = has_progress ? &pr : NULL;
    PyObject *iseq = PySequence_Fast(inputs, "inputs must be a list");
    if (!iseq) goto done;
    lo.ninputs = (int)PySequence_Fast_GET_SIZE(iseq);
    lower_input *li = pc_alloc(a, sizeof(lower_input) * (size_t)(lo.ninputs ? lo.ninputs : 1));
    if (!li) {
        PyErr_NoMemory();
        Py_DECREF(iseq);
        goto done;
    }
    for (int i = 0; i < lo.ninputs; i++)
        if (parse_input(PySequence_Fast_GET_ITEM(iseq, i), &li[i], sym, a)) {
            Py_DECREF(iseq);
            goto done;
        }
    Py_DECREF(iseq);
    lo.inputs = li;
    if (states != Py_None && parse_states(states, &lo, sym, a)) goto done;
    if (outputs != Py_None) {
        PyObject *oseq = PySequence_Fast(outputs, "outputs must be a list");
        if (!oseq) goto done;
        lo.noutputs = (int)PySequence_Fast_GET_SIZE(oseq);
        lower_output *lout = pc_alloc(a, sizeof(lower_output) * (size_t)(lo.noutputs ? lo.noutputs : 1));
        if (!lout) {
            Py_DECREF(oseq);
            PyErr_NoMemory();
            goto done;
        }
        for (int i = 0; i < lo.noutputs; i++) {
            PyObject *nm = PySequence_Fast_GET_ITEM(oseq, i);
            if (nm != Py_None) {
                const char *s = py_cstr(nm, "output name");
                if (!s || !(lout[i].name = pc_strdup(a, s))) {
                    Py_DECREF(oseq);
                    if (!PyErr_Occurred()) PyErr_NoMemory();
                    goto done;
                }
            }
        }
        Py_DECREF(oseq);
        lo.outputs = lout;
    }
    lower_classifier lc;
    if (classifier != Py_None && parse_classifier(classifier, &lc, a)) goto done;
    ex_oprow *rows = NULL;
    int nrows = 0;
    if (custom_ops != Py_None && parse_op_rows(custom_ops, &rows, &nrows, a)) goto done;
    if (converters != Py_None && PyDict_GET_SIZE(converters) && py_ext_begin(&ext, m, converters, &lo)) goto done;
    drv_opts o = {.lower = lo, .passes = po, .classifier = classifier != Py_None ? &lc : NULL,
                  .next_symbol = sym->next_symbol, .lowered = convert_lowered, .lowered_ud = &ext, .ops = rows,
                  .nops = nrows};
    int failed;
    if (archive) {
        failed = drv_convert_pt2(PyBytes_AS_STRING(archive), &o, &p, &e);
    } else if (PyBytes_Check(graph)) {
        ex_weights w;
        py_weights_dict(&w, weights);
        failed = drv_convert_export(PyBytes_AS_STRING(graph), (size_t)PyBytes_GET_SIZE(graph), &w, &o, &p, &e);
    } else {
        failed = drv_convert(graph, &o, &p, &e);
    }
    if (failed) {
        py_ext_end(&ext); /* when the pipeline stopped before lowering */
        py_raise(m, &e);
        goto done;
    }
    result = py_program_wrap(m, p);
    p = NULL;
done:
    Py_XDECREF(archive);
    ir_program_free(p);
    ir_program_free(sym);
    pc_arena_free(a);
    return result;
}

static void add_op_row(const char *kind, const char *note, void *ud) {
    PyObject *l = ud;
    if (PyErr_Occurred()) return;
    PyObject *t = Py_BuildValue("(ss)", kind, note ? note : "");
    if (t) {
        PyList_Append(l, t);
        Py_DECREF(t);
    }
}

/* lowered_ops() -> [(torchscript kind, note)] from the lowering registry */
static PyObject *mod_lowered_ops(PyObject *m, PyObject *unused) {
    PyObject *l = PyList_New(0);
    if (!l) return NULL;
    lower_list_ops(add_op_row, l);
    if (PyErr_Occurred()) {
        Py_DECREF(l);
        return NULL;
    }
    return l;
}

/* [name(0), ..., name(n - 1)] */
static PyObject *names_list(int n, const char *(*name)(int i)) {
    PyObject *l = PyList_New(n);
    if (!l) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *s = PyUnicode_FromString(name(i));
        if (!s) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, i, s);
    }
    return l;
}

/* registry_rows() -> [kind] of the lowering registry's rows, in table order */
static PyObject *mod_registry_rows(PyObject *m, PyObject *unused) { return names_list(lower_row_count(), lower_row_kind); }

/* registry_row(name) -> the row index a TorchScript kind or torch.export op name lowers with, or None */
static PyObject *mod_registry_row(PyObject *m, PyObject *args) {
    const char *name;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    int i = lower_row_lookup(name);
    if (i < 0) Py_RETURN_NONE;
    return PyLong_FromLong(i);
}

/* export_schema(name) -> (arguments, returns) of the aten schema row the torch.export reader uses, or None */
static PyObject *mod_export_schema(PyObject *m, PyObject *args) {
    const char *name, *a, *r;
    if (!PyArg_ParseTuple(args, "s", &name)) return NULL;
    if (ex_schema_lookup(name, &a, &r)) Py_RETURN_NONE;
    return Py_BuildValue("(ss)", a, r);
}

static void py_add_key(void *ud, const char *key) {
    if (PyErr_Occurred()) return; /* an earlier key failed: the caller raises it */
    PyObject *s = PyUnicode_FromString(key);
    if (s) PyList_Append(ud, s);
    Py_XDECREF(s);
}

/* A list the walker fills from a serialized ExportedProgram (args: its JSON bytes): the walker appends to the
 * list through its callback, which stops adding once a Python error is pending. */
typedef int (*json_walker)(const char *json, size_t len, PyObject *list, pc_err *e);

static PyObject *json_list(PyObject *m, PyObject *args, json_walker walk) {
    const char *json;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "y#", &json, &len)) return NULL;
    PyObject *l = PyList_New(0);
    pc_err e = {0};
    if (!l) return NULL;
    if (walk(json, (size_t)len, l, &e)) {
        Py_DECREF(l);
        return py_raise(m, &e);
    }
    if (PyErr_Occurred()) Py_CLEAR(l);
    return l;
}

static int walk_custom_ops(const char *json, size_t len, PyObject *l, pc_err *e) {
    return ex_custom_ops(json, len, py_add_key, l, e);
}

static int walk_user_inputs(const char *json, size_t len, PyObject *l, pc_err *e) {
    return ex_user_inputs(json, len, py_add_user_input, l, e);
}

/* export_custom_ops(json) -> ["ns::op.overload"] of the custom ops a serialized ExportedProgram calls */
static PyObject *mod_export_custom_ops(PyObject *m, PyObject *args) { return json_list(m, args, walk_custom_ops); }

/* export_inputs(json) -> [(name, TorchScript dtype code or -1, shape with None for symbolic dims)]: the user
 * inputs of a serialized ExportedProgram */
static PyObject *mod_export_inputs(PyObject *m, PyObject *args) { return json_list(m, args, walk_user_inputs); }

static const char *op_kind_name(int i) { return ir_op_kind_name((ir_opkind)i); }

/* mil_ops() -> [MIL op type] the IR (and runtime) knows */
static PyObject *mod_mil_ops(PyObject *m, PyObject *unused) { return names_list(IR_OP_COUNT, op_kind_name); }

static PyObject *mod_set_num_threads(PyObject *m, PyObject *args) {
    int n;
    if (!PyArg_ParseTuple(args, "i", &n)) return NULL;
    rt_set_num_threads(n);
    Py_RETURN_NONE;
}

static PyObject *mod_set_winograd(PyObject *m, PyObject *args) {
    int on;
    if (!PyArg_ParseTuple(args, "p", &on)) return NULL;
    return PyBool_FromLong(rt_set_winograd(on));
}

/* graph_sources(graph) -> {TorchScript value name: (node kind, "file.py:12" or None, source line or None)}:
 * where each node output of a torch._C.Graph comes from, read as convert() reads it (torchscript/read.c). */
static int sources_block(PyObject *d, const ts_block *b) {
    for (int i = 0; i < b->nnodes; i++) {
        const ts_node *n = b->nodes[i];
        for (int k = 0; k < n->nout; k++) {
            PyObject *row = Py_BuildValue("(NNN)", py_str(n->kind), n->loc ? py_str(n->loc) : Py_NewRef(Py_None),
                                          n->src ? py_str(n->src) : Py_NewRef(Py_None));
            int r = row ? PyDict_SetItemString(d, n->out[k]->name, row) : -1;
            Py_XDECREF(row);
            if (r) return -1;
        }
        for (int k = 0; k < n->nblocks; k++)
            if (sources_block(d, n->blocks[k])) return -1;
    }
    return 0;
}

static PyObject *mod_graph_sources(PyObject *m, PyObject *args) {
    PyObject *graph;
    if (!PyArg_ParseTuple(args, "O", &graph)) return NULL;
    ts_graph *g = NULL;
    pc_err e = {0};
    if (ts_read(graph, &g, &e)) return py_raise(m, &e);
    PyObject *d = PyDict_New();
    if (d && sources_block(d, g->top)) Py_CLEAR(d);
    ts_graph_free(g);
    return d;
}

static PyMethodDef mod_methods[] = {
    {"convert", (PyCFunction)(void (*)(void))mod_convert, METH_VARARGS | METH_KEYWORDS,
     "convert(graph, inputs, outputs=None, opset='CoreML5', precision='fp16', debug=False, converters=None, classifier=None, "
     "states=None, fp16_selector=None, progress=None) -> Program; progress(what, done, total) hears of the ops lowered"},
    {"parse", mod_parse, METH_VARARGS, "parse(text) -> Program"},
    {"graph_sources", mod_graph_sources, METH_VARARGS,
     "graph_sources(graph) -> {value name: (kind, loc, source line)} of a torch._C.Graph's nodes"},
    {"load", mod_load, METH_VARARGS, "load(path) -> (Program, description dict)"},
    {"pt2_archive", py_pt2_archive, METH_VARARGS, "pt2_archive(path) -> what a .pt2 archive holds (entries, tensors)"},
    {"pt2_tensor", py_pt2_tensor, METH_VARARGS, "pt2_tensor(path, fqn) -> (numpy copy of a tensor, copied by the reader)"},
    {"read_spec", py_read_spec, METH_VARARGS, "read_spec(path) -> the Model protobuf as a read-only message (get_spec())"},
    {"lowered_ops", mod_lowered_ops, METH_NOARGS, "TorchScript ops the converter lowers"},
    {"registry_rows", mod_registry_rows, METH_NOARGS, "the lowering registry's rows (kinds), in table order"},
    {"registry_row", mod_registry_row, METH_VARARGS, "registry_row(name) -> row index of a kind or export op name, or None"},
    {"export_custom_ops", mod_export_custom_ops, METH_VARARGS,
     "export_custom_ops(json) -> the custom ops ('ns::op.overload') a serialized ExportedProgram calls"},
    {"export_schema", mod_export_schema, METH_VARARGS,
     "export_schema(name) -> (arguments, returns) of csrc/export/aten_schemas.def's row, or None"},
    {"export_inputs", mod_export_inputs, METH_VARARGS,
     "export_inputs(json) -> [(name, dtype code, shape)] of a serialized ExportedProgram's user inputs"},
    {"mil_ops", mod_mil_ops, METH_NOARGS, "MIL op types the IR and runtime know"},
    {"mil_op_signatures", py_mil_op_signatures, METH_NOARGS, "the ops.def rows: {op: {opset, params}}"},
    {"set_num_threads", mod_set_num_threads, METH_VARARGS, "threads for the runtime's BLAS"},
    {"set_winograd", mod_set_winograd, METH_VARARGS, "set_winograd(on) -> previous: allow Winograd for 3x3 convs"},
    {NULL, NULL, 0, NULL},
};

static int mod_exec(PyObject *m) {
    py_state *st = get_state(m);
    import_array1(-1);
    st->ConversionError = PyErr_NewExceptionWithDoc(
        "pt2coreml.ConversionError", "A model (or part of it) cannot be converted to Core ML.", PyExc_Exception, NULL);
    if (!st->ConversionError || PyModule_AddObjectRef(m, "ConversionError", st->ConversionError) < 0) return -1;
    if (py_program_type(m) || py_builder_types(m) || py_spec_types(m)) return -1;
    return 0;
}

static int mod_traverse(PyObject *m, visitproc visit, void *arg) {
    py_state *st = get_state(m);
#define VISIT_REF(f) Py_VISIT(st->f);
    PY_STATE_REFS(VISIT_REF)
#undef VISIT_REF
    return 0;
}

static int mod_clear(PyObject *m) {
    py_state *st = get_state(m);
#define CLEAR_REF(f) Py_CLEAR(st->f);
    PY_STATE_REFS(CLEAR_REF)
#undef CLEAR_REF
    return 0;
}

static PyModuleDef_Slot mod_slots[] = {
    {Py_mod_exec, mod_exec},
    {0, NULL},
};

static struct PyModuleDef moddef = {
    PyModuleDef_HEAD_INIT,
    .m_name = "pt2coreml._core",
    .m_doc = "C core of pt2coreml: TorchScript reader, lowering, passes, Core ML writer/reader, runtime.",
    .m_size = sizeof(py_state),
    .m_methods = mod_methods,
    .m_slots = mod_slots,
    .m_traverse = mod_traverse,
    .m_clear = mod_clear,
};

__attribute__((visibility("default"))) PyMODINIT_FUNC PyInit__core(void) { return PyModuleDef_Init(&moddef); }
