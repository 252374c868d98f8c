/* spec_descriptor.c: the descriptors of get_spec()'s messages (spec.c), as protobuf's Python
 * descriptors answer: SpecDescriptor (a message type: name, fields, fields_by_name,
 * oneofs_by_name), SpecFieldDescriptor (a field: number, type, label, containing_oneof, and
 * protobuf's TYPE_* / CPPTYPE_* / LABEL_* constants) and SpecOneofDescriptor (a oneof group).
 * All from protobuf-c's descriptors plus setup.py's table of oneof names. */
#include "python/py.h"

#include <protobuf-c/protobuf-c.h>

#include <string.h>

typedef struct {
    PyObject_HEAD
    const ProtobufCMessageDescriptor *desc;
} SpecDescriptor;

typedef struct {
    PyObject_HEAD
    const ProtobufCMessageDescriptor *desc;
    const ProtobufCFieldDescriptor *f;
} SpecFieldDescriptor;

typedef struct {
    PyObject_HEAD
    const ProtobufCMessageDescriptor *desc;
    const char *name;
} SpecOneofDescriptor;

static py_state *state_of(PyObject *o) { return PyType_GetModuleState(Py_TYPE(o)); }

/* The oneof group of field f of message d (NULL: none). */
static const char *oneof_of(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f) {
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) return NULL;
    for (size_t i = 0; i < py_spec_n_oneofs; i++)
        if (py_spec_oneofs[i].field == f->id && strcmp(py_spec_oneofs[i].message, d->name) == 0)
            return py_spec_oneofs[i].oneof;
    return NULL;
}

/* protobuf's FieldDescriptor.TYPE_* and CPPTYPE_* codes of a protobuf-c type */
static int pb_type(ProtobufCType t) {
    static const int codes[] = {
        [PROTOBUF_C_TYPE_INT32] = 5,   [PROTOBUF_C_TYPE_SINT32] = 17, [PROTOBUF_C_TYPE_SFIXED32] = 15,
        [PROTOBUF_C_TYPE_INT64] = 3,   [PROTOBUF_C_TYPE_SINT64] = 18, [PROTOBUF_C_TYPE_SFIXED64] = 16,
        [PROTOBUF_C_TYPE_UINT32] = 13, [PROTOBUF_C_TYPE_FIXED32] = 7, [PROTOBUF_C_TYPE_UINT64] = 4,
        [PROTOBUF_C_TYPE_FIXED64] = 6, [PROTOBUF_C_TYPE_FLOAT] = 2,   [PROTOBUF_C_TYPE_DOUBLE] = 1,
        [PROTOBUF_C_TYPE_BOOL] = 8,    [PROTOBUF_C_TYPE_ENUM] = 14,   [PROTOBUF_C_TYPE_STRING] = 9,
        [PROTOBUF_C_TYPE_BYTES] = 12,  [PROTOBUF_C_TYPE_MESSAGE] = 11,
    };
    return (unsigned)t < sizeof codes / sizeof codes[0] ? codes[t] : 0;
}

static int pb_cpptype(ProtobufCType t) {
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32: return 1;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return 2;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return 3;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 4;
    case PROTOBUF_C_TYPE_DOUBLE: return 5;
    case PROTOBUF_C_TYPE_FLOAT: return 6;
    case PROTOBUF_C_TYPE_BOOL: return 7;
    case PROTOBUF_C_TYPE_ENUM: return 8;
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_BYTES: return 9;
    case PROTOBUF_C_TYPE_MESSAGE: return 10;
    }
    return 0;
}

/* ------------------------------------------------------------------ descriptors */

PyObject *py_spec_descriptor_new(py_state *st, const ProtobufCMessageDescriptor *d) {
    SpecDescriptor *o = PyObject_New(SpecDescriptor, st->SpecDescriptorType);
    if (o) o->desc = d;
    return (PyObject *)o;
}

PyObject *py_spec_field_descriptor_new(py_state *st, const ProtobufCMessageDescriptor *d,
                                       const ProtobufCFieldDescriptor *f) {
    SpecFieldDescriptor *o = PyObject_New(SpecFieldDescriptor, st->SpecFieldDescriptorType);
    if (o) {
        o->desc = d;
        o->f = f;
    }
    return (PyObject *)o;
}

static PyObject *oneof_descriptor_new(py_state *st, const ProtobufCMessageDescriptor *d, const char *name) {
    SpecOneofDescriptor *o = PyObject_New(SpecOneofDescriptor, st->SpecOneofDescriptorType);
    if (o) {
        o->desc = d;
        o->name = name;
        for (size_t i = 0; i < py_spec_n_oneofs; i++) /* the first row's copy of the name: one pointer per oneof */
            if (strcmp(py_spec_oneofs[i].oneof, name) == 0 && strcmp(py_spec_oneofs[i].message, d->name) == 0) {
                o->name = py_spec_oneofs[i].oneof;
                break;
            }
    }
    return (PyObject *)o;
}

static PyObject *desc_name(SpecDescriptor *o, void *c) { return PyUnicode_FromString(o->desc->short_name); }
static PyObject *desc_full_name(SpecDescriptor *o, void *c) { return PyUnicode_FromString(o->desc->name); }

/* fields (list), fields_by_name, fields_by_number (dicts) */
static PyObject *desc_fields_as(SpecDescriptor *o, void *how) {
    py_state *st = state_of((PyObject *)o);
    intptr_t kind = (intptr_t)how;
    PyObject *out = kind == 0 ? PyList_New(0) : PyDict_New();
    if (!out) return NULL;
    for (unsigned i = 0; i < o->desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &o->desc->fields[i];
        PyObject *fd = py_spec_field_descriptor_new(st, o->desc, f), *key = NULL;
        int r = -1;
        if (fd) {
            if (kind == 0) r = PyList_Append(out, fd);
            else if ((key = kind == 1 ? PyUnicode_FromString(f->name) : PyLong_FromUnsignedLong(f->id)))
                r = PyDict_SetItem(out, key, fd);
        }
        Py_XDECREF(key);
        Py_XDECREF(fd);
        if (r) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static PyObject *desc_oneofs_by_name(SpecDescriptor *o, void *c) {
    py_state *st = state_of((PyObject *)o);
    PyObject *out = PyDict_New();
    for (size_t i = 0; out && i < py_spec_n_oneofs; i++) {
        if (strcmp(py_spec_oneofs[i].message, o->desc->name) != 0) continue;
        PyObject *od = oneof_descriptor_new(st, o->desc, py_spec_oneofs[i].oneof);
        if (!od || PyDict_SetItemString(out, py_spec_oneofs[i].oneof, od)) Py_CLEAR(out);
        Py_XDECREF(od);
    }
    return out;
}

static PyObject *desc_repr(SpecDescriptor *o) { return PyUnicode_FromFormat("<Descriptor %s>", o->desc->name); }

static PyGetSetDef desc_getset[] = {
    {"name", (getter)desc_name, NULL, NULL, NULL},
    {"full_name", (getter)desc_full_name, NULL, NULL, NULL},
    {"fields", (getter)desc_fields_as, NULL, NULL, (void *)0},
    {"fields_by_name", (getter)desc_fields_as, NULL, NULL, (void *)1},
    {"fields_by_number", (getter)desc_fields_as, NULL, NULL, (void *)2},
    {"oneofs_by_name", (getter)desc_oneofs_by_name, NULL, NULL, NULL},
    {NULL},
};

static PyObject *fd_name(SpecFieldDescriptor *o, void *c) { return PyUnicode_FromString(o->f->name); }
static PyObject *fd_full_name(SpecFieldDescriptor *o, void *c) {
    return PyUnicode_FromFormat("%s.%s", o->desc->name, o->f->name);
}
static PyObject *fd_number(SpecFieldDescriptor *o, void *c) { return PyLong_FromUnsignedLong(o->f->id); }
static PyObject *fd_type(SpecFieldDescriptor *o, void *c) { return PyLong_FromLong(pb_type(o->f->type)); }
static PyObject *fd_cpp_type(SpecFieldDescriptor *o, void *c) { return PyLong_FromLong(pb_cpptype(o->f->type)); }
static PyObject *fd_label(SpecFieldDescriptor *o, void *c) {
    return PyLong_FromLong(o->f->label == PROTOBUF_C_LABEL_REPEATED ? 3 : o->f->label == PROTOBUF_C_LABEL_REQUIRED ? 2 : 1);
}
static PyObject *fd_is_repeated(SpecFieldDescriptor *o, void *c) {
    return PyBool_FromLong(o->f->label == PROTOBUF_C_LABEL_REPEATED);
}
static PyObject *fd_has_presence(SpecFieldDescriptor *o, void *c) {
    const ProtobufCFieldDescriptor *f = o->f;
    return PyBool_FromLong(f->label != PROTOBUF_C_LABEL_REPEATED &&
                           (f->type == PROTOBUF_C_TYPE_MESSAGE || (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
                            f->label == PROTOBUF_C_LABEL_OPTIONAL));
}
static PyObject *fd_message_type(SpecFieldDescriptor *o, void *c) {
    if (o->f->type != PROTOBUF_C_TYPE_MESSAGE) Py_RETURN_NONE;
    return py_spec_descriptor_new(state_of((PyObject *)o), o->f->descriptor);
}
static PyObject *fd_containing_type(SpecFieldDescriptor *o, void *c) {
    return py_spec_descriptor_new(state_of((PyObject *)o), o->desc);
}
static PyObject *fd_containing_oneof(SpecFieldDescriptor *o, void *c) {
    const char *g = oneof_of(o->desc, o->f);
    if (!g) Py_RETURN_NONE;
    return oneof_descriptor_new(state_of((PyObject *)o), o->desc, g);
}
static PyObject *fd_repr(SpecFieldDescriptor *o) {
    return PyUnicode_FromFormat("<FieldDescriptor %s.%s = %u>", o->desc->name, o->f->name, o->f->id);
}

static PyGetSetDef fd_getset[] = {
    {"name", (getter)fd_name, NULL, NULL, NULL},
    {"full_name", (getter)fd_full_name, NULL, NULL, NULL},
    {"number", (getter)fd_number, NULL, NULL, NULL},
    {"type", (getter)fd_type, NULL, NULL, NULL},
    {"cpp_type", (getter)fd_cpp_type, NULL, NULL, NULL},
    {"label", (getter)fd_label, NULL, NULL, NULL},
    {"is_repeated", (getter)fd_is_repeated, NULL, NULL, NULL},
    {"has_presence", (getter)fd_has_presence, NULL, NULL, NULL},
    {"message_type", (getter)fd_message_type, NULL, NULL, NULL},
    {"containing_type", (getter)fd_containing_type, NULL, NULL, NULL},
    {"containing_oneof", (getter)fd_containing_oneof, NULL, NULL, NULL},
    {NULL},
};

static PyObject *od_name(SpecOneofDescriptor *o, void *c) { return PyUnicode_FromString(o->name); }
static PyObject *od_full_name(SpecOneofDescriptor *o, void *c) {
    return PyUnicode_FromFormat("%s.%s", o->desc->name, o->name);
}
static PyObject *od_containing_type(SpecOneofDescriptor *o, void *c) {
    return py_spec_descriptor_new(state_of((PyObject *)o), o->desc);
}
static PyObject *od_fields(SpecOneofDescriptor *o, void *c) {
    py_state *st = state_of((PyObject *)o);
    PyObject *out = PyList_New(0);
    for (size_t i = 0; out && i < py_spec_n_oneofs; i++) {
        if (strcmp(py_spec_oneofs[i].message, o->desc->name) != 0 || strcmp(py_spec_oneofs[i].oneof, o->name) != 0) continue;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(o->desc, py_spec_oneofs[i].field);
        PyObject *fd = f ? py_spec_field_descriptor_new(st, o->desc, f) : NULL;
        if (!fd || PyList_Append(out, fd)) Py_CLEAR(out);
        Py_XDECREF(fd);
    }
    return out;
}

static PyGetSetDef od_getset[] = {
    {"name", (getter)od_name, NULL, NULL, NULL},
    {"full_name", (getter)od_full_name, NULL, NULL, NULL},
    {"containing_type", (getter)od_containing_type, NULL, NULL, NULL},
    {"fields", (getter)od_fields, NULL, NULL, NULL},
    {NULL},
};

/* Descriptors are equal when they describe the same thing (each access makes a new object): the key of
 * each is its message descriptor plus the field or the oneof name (interned in the oneof table). */
static const void *descr_key(PyObject *o, const void **extra) {
    py_state *st = state_of(o);
    *extra = NULL;
    if (Py_TYPE(o) == st->SpecFieldDescriptorType) *extra = ((SpecFieldDescriptor *)o)->f;
    if (Py_TYPE(o) == st->SpecOneofDescriptorType) *extra = ((SpecOneofDescriptor *)o)->name;
    return ((SpecDescriptor *)o)->desc; /* desc is the first member of all three */
}

static PyObject *descr_richcompare(PyObject *a, PyObject *b, int op) {
    if ((op != Py_EQ && op != Py_NE) || Py_TYPE(a) != Py_TYPE(b)) Py_RETURN_NOTIMPLEMENTED;
    const void *xa, *xb;
    int same = descr_key(a, &xa) == descr_key(b, &xb) && xa == xb;
    return PyBool_FromLong(op == Py_EQ ? same : !same);
}

static Py_hash_t descr_hash(PyObject *o) {
    const void *x;
    Py_hash_t h = (Py_hash_t)((uintptr_t)descr_key(o, &x) >> 4) ^ (Py_hash_t)((uintptr_t)x >> 3);
    return h == -1 ? -2 : h;
}

#define DESCRIPTOR_TYPE(cname, pyname, getset, repr)                                                            \
    static PyType_Slot cname##_slots[] = {                                                                      \
        {Py_tp_dealloc, py_free_object}, {Py_tp_getset, getset}, {Py_tp_repr, repr},                             \
        {Py_tp_richcompare, descr_richcompare}, {Py_tp_hash, descr_hash}, {0, NULL}};                           \
    static PyType_Spec cname##_spec = {"pt2coreml._core." pyname, sizeof(cname), 0,                             \
                                       Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, cname##_slots};
DESCRIPTOR_TYPE(SpecDescriptor, "SpecDescriptor", desc_getset, desc_repr)
DESCRIPTOR_TYPE(SpecFieldDescriptor, "SpecFieldDescriptor", fd_getset, fd_repr)
DESCRIPTOR_TYPE(SpecOneofDescriptor, "SpecOneofDescriptor", od_getset, NULL)

/* protobuf's FieldDescriptor constants, so that `fd.type == fd.TYPE_MESSAGE` reads as it does there */
static int field_constants(PyTypeObject *t) {
    static const struct {
        const char *name;
        int v;
    } c[] = {{"TYPE_DOUBLE", 1},    {"TYPE_FLOAT", 2},     {"TYPE_INT64", 3},       {"TYPE_UINT64", 4},
             {"TYPE_INT32", 5},     {"TYPE_FIXED64", 6},   {"TYPE_FIXED32", 7},     {"TYPE_BOOL", 8},
             {"TYPE_STRING", 9},    {"TYPE_MESSAGE", 11},  {"TYPE_BYTES", 12},      {"TYPE_UINT32", 13},
             {"TYPE_ENUM", 14},     {"TYPE_SFIXED32", 15}, {"TYPE_SFIXED64", 16},   {"TYPE_SINT32", 17},
             {"TYPE_SINT64", 18},   {"CPPTYPE_INT32", 1},  {"CPPTYPE_INT64", 2},    {"CPPTYPE_UINT32", 3},
             {"CPPTYPE_UINT64", 4}, {"CPPTYPE_DOUBLE", 5}, {"CPPTYPE_FLOAT", 6},    {"CPPTYPE_BOOL", 7},
             {"CPPTYPE_ENUM", 8},   {"CPPTYPE_STRING", 9}, {"CPPTYPE_MESSAGE", 10}, {"LABEL_OPTIONAL", 1},
             {"LABEL_REQUIRED", 2}, {"LABEL_REPEATED", 3}};
    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++) {
        PyObject *v = PyLong_FromLong(c[i].v);
        int r = v ? PyObject_SetAttrString((PyObject *)t, c[i].name, v) : -1;
        Py_XDECREF(v);
        if (r) return -1;
    }
    PyType_Modified(t);
    return 0;
}

int py_spec_descriptor_types(PyObject *m) {
    py_state *st = PyModule_GetState(m);
    if (py_add_type(m, &SpecDescriptor_spec, &st->SpecDescriptorType, NULL) ||
        py_add_type(m, &SpecFieldDescriptor_spec, &st->SpecFieldDescriptorType, NULL) ||
        py_add_type(m, &SpecOneofDescriptor_spec, &st->SpecOneofDescriptorType, NULL))
        return -1;
    return field_constants(st->SpecFieldDescriptorType);
}
