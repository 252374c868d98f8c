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
    PyTypeObject *VarType;     /* builder.c: a value of the program being built */
    PyTypeObject *BuilderType; /* builder.c: what Python converters build ops with */
    /* spec.c, spec_descriptor.c: get_spec()'s message, repeated field, map and descriptor types */
    PyTypeObject *SpecMessageType, *SpecRepeatedType, *SpecMapType, *SpecDescriptorType, *SpecFieldDescriptorType,
        *SpecOneofDescriptorType;
} py_state;
/* The references py_state holds, each visited by the module's traverse and cleared by its clear. */
#define PY_STATE_REFS(X)                                                                                        \
    X(ConversionError) X(ProgramType) X(VarType) X(BuilderType) X(SpecMessageType) X(SpecRepeatedType)          \
        X(SpecMapType) X(SpecDescriptorType) X(SpecFieldDescriptorType) X(SpecOneofDescriptorType)

/* Create the type of spec into *slot of the module state (module exec) and, when name is not NULL, add it
 * to the module under name: 0, or -1 with an exception. */
int py_add_type(PyObject *module, PyType_Spec *spec, PyTypeObject **slot, const char *name);

/* Raise the Python exception that matches e->kind (a pending Python error wins when
 * e->kind is PC_OK). Returns NULL for convenience. */
PyObject *py_raise(PyObject *module, const pc_err *e);

/* ---- strings.c ---- */
/* A C string from a file or the core as a str: invalid UTF-8 is replaced (U+FFFD)
 * rather than raising a UnicodeDecodeError that would hide the real error. NULL -> "". */
PyObject *py_str(const char *s);
/* The UTF-8 of str o for the core (valid while o lives). An embedded NUL, where C
 * would cut the string short, is a ValueError naming `what` and the string. NULL
 * with an exception on failure (also when o is not a str). */
const char *py_cstr(PyObject *o, const char *what);
/* A compiled program (pt2coreml._core.Program). */
struct rt_model;
struct py_bounds;
typedef struct {
    PyObject_HEAD
    ir_program *prog;
    struct rt_model *rt;      /* prepared lazily, under the GIL */
    PyObject *module;         /* strong ref: reaches the module state */
    struct py_bounds *bounds; /* input sizes the description allows (NULL: only the program's types) */
} ProgramObject;

/* program.c: the Program type (module exec creates it) and the helpers module.c's functions share with it */
int py_program_type(PyObject *module);
/* A new Program owning p (freed on failure). */
PyObject *py_program_wrap(PyObject *module, ir_program *p);
/* (dtype, shape) of a type, None for symbolic dims; ("dict", ()) for a dictionary. */
PyObject *py_type_tuple(const ir_type *t);
/* A progress= argument (callable(what, done, total) or None) into pr: 1 set, 0 None, -1 TypeError. */
int py_progress_arg(PyObject *cb, pc_progress *pr);

/* run.c: the Program methods that run it */
PyObject *py_program_run(ProgramObject *o, PyObject *args);
PyObject *py_program_run_capture(ProgramObject *o, PyObject *args);
PyObject *py_program_memory_plan(ProgramObject *o, PyObject *unused);
PyObject *py_program_set_description(ProgramObject *o, PyObject *desc);

/* desc.c: model description dict <-> ser_desc (serialize/ser.h). */
struct ser_desc;
int py_desc_from_dict(PyObject *dict, struct ser_desc *d, pc_arena *a);
PyObject *py_desc_to_dict(const struct ser_desc *d);

/* weights.c: an ex_weights (export/export.h) over dict {fully-qualified name: array}, borrowed. */
struct ex_weights;
void py_weights_dict(struct ex_weights *w, PyObject *dict);

/* The end of every dealloc of the module's (heap) types: free o, then drop its reference to its type. */
void py_free_object(PyObject *o);

/* ir_program_hold release callback for a PyObject (takes the GIL). */
void py_release_object(void *obj);

/* pt2.c: _core.pt2_archive(path) and _core.pt2_tensor(path, fqn), the .pt2 reader seen from Python */
PyObject *py_pt2_archive(PyObject *m, PyObject *args);
PyObject *py_pt2_tensor(PyObject *m, PyObject *args);
/* ex_user_inputs' callback: (name, dtype code, shape with None for symbolic dims) appended to list ud */
void py_add_user_input(void *ud, const char *name, int dtype, int rank, const int64_t *dims);

/* _core.mil_op_signatures(): the ops.def rows (opsig.c) */
PyObject *py_mil_op_signatures(PyObject *m, PyObject *unused);

/* ---- spec.c: get_spec() ---- */
int py_spec_types(PyObject *module);                  /* create the Spec* types (module exec) */
PyObject *py_read_spec(PyObject *module, PyObject *args); /* read_spec(path) -> the Model message */
/* spec.c's facts of the schema (protobuf-c's descriptors), shared with spec_descriptor.c and spec_text.c */
struct ProtobufCMessage;
struct ProtobufCMessageDescriptor;
struct ProtobufCFieldDescriptor;
/* The oneof groups of the .proto (protobuf-c keeps no oneof names): setup.py's table, one row per member. */
struct py_spec_oneof {
    const char *message, *oneof;
    unsigned field;
};
extern const struct py_spec_oneof py_spec_oneofs[];
extern const size_t py_spec_n_oneofs;
/* A map entry message (string key, value) / a map field (repeated map entries). */
int py_spec_is_map_entry(const struct ProtobufCMessageDescriptor *d);
int py_spec_is_map(const struct ProtobufCFieldDescriptor *f);
/* Bytes one element of field f takes in its message or repeated array. */
size_t py_spec_elem_size(const struct ProtobufCFieldDescriptor *f);
/* Is field f of m set (proto3: a message or oneof member present, a scalar not its default)? m NULL: no. */
int py_spec_field_present(const struct ProtobufCMessage *m, const struct ProtobufCFieldDescriptor *f);
/* One value of field f stored at p (NULL: the field's default); a message value needs st and its owner. */
PyObject *py_spec_scalar(py_state *st, PyObject *owner, const struct ProtobufCFieldDescriptor *f, const void *p);
/* Append str s to list parts: 0, or -1 with an exception. */
int py_spec_put(PyObject *parts, const char *s);
/* spec_descriptor.c: the descriptor objects (their types are created by py_spec_types) */
int py_spec_descriptor_types(PyObject *module);
PyObject *py_spec_descriptor_new(py_state *st, const struct ProtobufCMessageDescriptor *d);
PyObject *py_spec_field_descriptor_new(py_state *st, const struct ProtobufCMessageDescriptor *d,
                                       const struct ProtobufCFieldDescriptor *f);
/* spec_text.c: protobuf's text format of message m of type d (m NULL: an unset message) */
PyObject *py_spec_text(const struct ProtobufCMessage *m, const struct ProtobufCMessageDescriptor *d);

/* ---- builder.c: Python converters (register_torch_op) and the mb builder ---- */
struct lower_opts;
int py_builder_types(PyObject *module); /* create Var and Builder types (module exec) */

/* One convert() call's hookup of Python converters: handlers maps a TorchScript kind
 * to a callable(builder, node_info). py_ext_begin sets o->external*; py_ext_end
 * invalidates the builder and restores a Python exception a handler raised (so it
 * becomes the context of the error convert() raises). */
typedef struct py_ext {
    PyObject *handlers;            /* borrowed dict */
    PyObject *builder;
    PyObject *etype, *evalue, *etb; /* stashed exception */
} py_ext;
int py_ext_begin(py_ext *x, PyObject *module, PyObject *handlers, struct lower_opts *o);
void py_ext_end(py_ext *x);
/* lower_opts.debug_print: writes to sys.stdout (ud: the py_ext, may be zeroed). */
void py_debug_print(void *ud, const char *text);

#endif
