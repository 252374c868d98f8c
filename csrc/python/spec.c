/* spec.c: get_spec(), the Model protobuf of a package as a read-only message that
 * answers as Apple's protobuf objects do, so coremltools' code that reads specs runs
 * unchanged: `spec.description.input[0].type.multiArrayType.shape`,
 * `spec.WhichOneof("Type")`, `HasField`, `ListFields`, `SerializeToString()` (the
 * root gives the file's own bytes), `DESCRIPTOR`, `str(spec)` (protobuf's text format).
 *
 * Everything comes from protobuf-c's descriptors of serialize/coreml.proto (field
 * names are Apple's), plus the oneof names, which protobuf-c does not keep: setup.py
 * writes them from the .proto into build/gen/spec_oneofs.h. Proto3 rules: a scalar
 * reads as its default when unset, an unset sub-message as an empty message, map
 * fields (repeated "...Entry" messages of a string key and a value) as read-only
 * mappings. Fields of model kinds our schema does not declare are not shown.
 *
 * Objects: SpecMessage (a message or an unset sub-message, msg NULL), SpecRepeated
 * (a repeated field), and the descriptors SpecDescriptor / SpecFieldDescriptor /
 * SpecOneofDescriptor. They share one capsule that owns the unpacked message. */
#include "python/py.h"
#include "serialize/ser.h"

#include <protobuf-c/protobuf-c.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct spec_oneof_row {
    const char *message, *oneof;
    unsigned field;
};
#define SPEC_ONEOF_ROW_LIST static const struct spec_oneof_row SPEC_ONEOFS[]
#include "spec_oneofs.h"
#undef SPEC_ONEOF_ROW_LIST
#define N_ONEOFS (sizeof SPEC_ONEOFS / sizeof SPEC_ONEOFS[0])

typedef struct {
    PyObject_HEAD
    PyObject *owner; /* capsule owning the root message */
    PyObject *raw;   /* the root: the file's bytes; NULL below it */
    const ProtobufCMessageDescriptor *desc;
    const ProtobufCMessage *msg; /* NULL: an unset sub-message */
    PyObject *cache;             /* field name -> value built (the message never changes) */
} SpecMessage;

typedef struct {
    PyObject_HEAD
    PyObject *owner;
    const ProtobufCFieldDescriptor *f;
    size_t n;
    const char *arr;
    PyObject *items; /* the elements, built on first use */
} SpecRepeated;

typedef struct {
    PyObject_HEAD
    PyObject *proxy; /* read-only mapping key -> value */
    PyObject *dflt;  /* what a missing key reads as: the value's default, as protobuf's maps answer */
} SpecMap;

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

/* ------------------------------------------------------------------ schema facts */

static int is_map_entry(const ProtobufCMessageDescriptor *d) {
    return d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0 &&
           d->fields[0].type == PROTOBUF_C_TYPE_STRING;
}

static int is_map(const ProtobufCFieldDescriptor *f) {
    return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor);
}

/* The oneof group of field f of message d (NULL: none). */
static const char *oneof_of(const ProtobufCMessageDescriptor *d, const ProtobufCFieldDescriptor *f) {
    if (!(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)) return NULL;
    for (size_t i = 0; i < N_ONEOFS; i++)
        if (SPEC_ONEOFS[i].field == f->id && strcmp(SPEC_ONEOFS[i].message, d->name) == 0) return SPEC_ONEOFS[i].oneof;
    return NULL;
}

static int has_oneof(const ProtobufCMessageDescriptor *d, const char *name) {
    for (size_t i = 0; i < N_ONEOFS; i++)
        if (strcmp(SPEC_ONEOFS[i].oneof, name) == 0 && strcmp(SPEC_ONEOFS[i].message, d->name) == 0) return 1;
    return 0;
}

static size_t elem_size(ProtobufCType t) {
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM: return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return 8;
    case PROTOBUF_C_TYPE_FLOAT: return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE: return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL: return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING: return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES: return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE: return sizeof(ProtobufCMessage *);
    }
    return 0;
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

/* Is a singular field set (proto3: a message or oneof member present, a scalar not its default)? */
static int field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
    if (!m) return 0;
    const char *base = (const char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) return *(const size_t *)(base + f->quantifier_offset) != 0;
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE && f->type != PROTOBUF_C_TYPE_STRING)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    const void *p = base + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE: return *(ProtobufCMessage *const *)p != NULL;
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s && *s;
    }
    case PROTOBUF_C_TYPE_BYTES: return ((const ProtobufCBinaryData *)p)->len != 0;
    case PROTOBUF_C_TYPE_FLOAT: {
        uint32_t u;
        memcpy(&u, p, 4);
        return u != 0; /* -0.0 is set, as protobuf says */
    }
    case PROTOBUF_C_TYPE_DOUBLE: {
        uint64_t u;
        memcpy(&u, p, 8);
        return u != 0;
    }
    default: {
        size_t n = elem_size(f->type);
        static const char zero[8];
        return memcmp(p, zero, n) != 0;
    }
    }
}

/* ------------------------------------------------------------------ values */

static PyObject *message_new(py_state *st, PyObject *owner, const ProtobufCMessageDescriptor *d,
                             const ProtobufCMessage *m);

static PyObject *field_value(py_state *st, PyObject *owner, const ProtobufCMessage *m,
                             const ProtobufCFieldDescriptor *f);

/* One value of field f stored at p (NULL: the field's default). */
static PyObject *scalar(py_state *st, PyObject *owner, const ProtobufCFieldDescriptor *f, const void *p) {
    static const char zero[sizeof(ProtobufCBinaryData)];
    if (!p) p = zero;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM: return PyLong_FromLong(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32: return PyLong_FromUnsignedLong(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64: return PyLong_FromLongLong(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: return PyLong_FromUnsignedLongLong(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT: return PyFloat_FromDouble(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE: return PyFloat_FromDouble(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL: return PyBool_FromLong(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_STRING: return py_str(*(char *const *)p);
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return PyBytes_FromStringAndSize(b->len ? (const char *)b->data : "", (Py_ssize_t)b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: return message_new(st, owner, f->descriptor, *(ProtobufCMessage *const *)p);
    }
    PyErr_SetString(PyExc_RuntimeError, "get_spec: unknown protobuf field type");
    return NULL;
}

/* A map field: a read-only mapping key -> value (a missing key reads as the value's default). */
static PyObject *map_value(py_state *st, PyObject *owner, const ProtobufCFieldDescriptor *f, size_t n,
                           const char *arr) {
    const ProtobufCMessageDescriptor *ed = f->descriptor;
    const ProtobufCFieldDescriptor *kf = &ed->fields[0], *vf = &ed->fields[1];
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    for (size_t i = 0; i < n; i++) {
        const char *e = ((const char *const *)arr)[i];
        PyObject *k = scalar(st, owner, kf, e + kf->offset);
        PyObject *v = k ? scalar(st, owner, vf, e + vf->offset) : NULL;
        int r = v ? PyDict_SetItem(d, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (r) {
            Py_DECREF(d);
            return NULL;
        }
    }
    SpecMap *o = PyObject_New(SpecMap, st->SpecMapType);
    if (o) {
        o->proxy = PyDictProxy_New(d);
        o->dflt = o->proxy ? field_value(st, owner, NULL, vf) : NULL;
        if (!o->dflt) Py_CLEAR(o);
    }
    Py_DECREF(d);
    return (PyObject *)o;
}

/* The value of field f of message m (NULL: an unset message, every field its default). */
static PyObject *field_value(py_state *st, PyObject *owner, const ProtobufCMessage *m,
                             const ProtobufCFieldDescriptor *f) {
    const char *base = (const char *)m;
    if (f->label == PROTOBUF_C_LABEL_REPEATED) {
        size_t n = m ? *(const size_t *)(base + f->quantifier_offset) : 0;
        const char *arr = m ? *(const char *const *)(base + f->offset) : NULL;
        if (is_map(f)) return map_value(st, owner, f, n, arr);
        SpecRepeated *r = PyObject_New(SpecRepeated, st->SpecRepeatedType);
        if (!r) return NULL;
        r->owner = Py_NewRef(owner);
        r->f = f;
        r->n = n;
        r->arr = arr;
        r->items = NULL;
        return (PyObject *)r;
    }
    if (!field_present(m, f) && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF || !m))
        return f->type == PROTOBUF_C_TYPE_MESSAGE ? message_new(st, owner, f->descriptor, NULL) : scalar(st, owner, f, NULL);
    return scalar(st, owner, f, base + f->offset);
}

/* ------------------------------------------------------------------ descriptors */

static PyObject *descriptor_new(py_state *st, const ProtobufCMessageDescriptor *d) {
    SpecDescriptor *o = PyObject_New(SpecDescriptor, st->SpecDescriptorType);
    if (o) o->desc = d;
    return (PyObject *)o;
}

static PyObject *field_descriptor_new(py_state *st, const ProtobufCMessageDescriptor *d,
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
        for (size_t i = 0; i < N_ONEOFS; i++) /* the first row's copy of the name: one pointer per oneof */
            if (strcmp(SPEC_ONEOFS[i].oneof, name) == 0 && strcmp(SPEC_ONEOFS[i].message, d->name) == 0) {
                o->name = SPEC_ONEOFS[i].oneof;
                break;
            }
    }
    return (PyObject *)o;
}

static void plain_dealloc(PyObject *o) {
    PyTypeObject *t = Py_TYPE(o);
    PyObject_Free(o);
    Py_DECREF(t);
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
        PyObject *fd = field_descriptor_new(st, o->desc, f), *key = NULL;
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
    for (size_t i = 0; out && i < N_ONEOFS; i++) {
        if (strcmp(SPEC_ONEOFS[i].message, o->desc->name) != 0) continue;
        PyObject *od = oneof_descriptor_new(st, o->desc, SPEC_ONEOFS[i].oneof);
        if (!od || PyDict_SetItemString(out, SPEC_ONEOFS[i].oneof, od)) Py_CLEAR(out);
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
    return descriptor_new(state_of((PyObject *)o), o->f->descriptor);
}
static PyObject *fd_containing_type(SpecFieldDescriptor *o, void *c) {
    return descriptor_new(state_of((PyObject *)o), o->desc);
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
    return descriptor_new(state_of((PyObject *)o), o->desc);
}
static PyObject *od_fields(SpecOneofDescriptor *o, void *c) {
    py_state *st = state_of((PyObject *)o);
    PyObject *out = PyList_New(0);
    for (size_t i = 0; out && i < N_ONEOFS; i++) {
        if (strcmp(SPEC_ONEOFS[i].message, o->desc->name) != 0 || strcmp(SPEC_ONEOFS[i].oneof, o->name) != 0) continue;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(o->desc, SPEC_ONEOFS[i].field);
        PyObject *fd = f ? field_descriptor_new(st, o->desc, f) : NULL;
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

/* ------------------------------------------------------------------ messages */

static PyObject *message_new(py_state *st, PyObject *owner, const ProtobufCMessageDescriptor *d,
                             const ProtobufCMessage *m) {
    SpecMessage *o = PyObject_New(SpecMessage, st->SpecMessageType);
    if (!o) return NULL;
    o->owner = Py_NewRef(owner);
    o->raw = NULL;
    o->desc = d;
    o->msg = m;
    o->cache = NULL;
    return (PyObject *)o;
}

static void message_dealloc(SpecMessage *o) {
    PyTypeObject *t = Py_TYPE(o);
    Py_XDECREF(o->owner);
    Py_XDECREF(o->raw);
    Py_XDECREF(o->cache);
    PyObject_Free(o);
    Py_DECREF(t);
}

static const ProtobufCFieldDescriptor *find_field(const ProtobufCMessageDescriptor *d, PyObject *name) {
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!s) {
        PyErr_Clear();
        return NULL;
    }
    return protobuf_c_message_descriptor_get_field_by_name(d, s);
}

static PyObject *message_getattro(SpecMessage *o, PyObject *name) {
    const ProtobufCFieldDescriptor *f = find_field(o->desc, name);
    if (!f) return PyObject_GenericGetAttr((PyObject *)o, name);
    if (o->cache) {
        PyObject *v = PyDict_GetItemWithError(o->cache, name);
        if (v) return Py_NewRef(v);
        if (PyErr_Occurred()) return NULL;
    } else if (!(o->cache = PyDict_New())) {
        return NULL;
    }
    PyObject *v = field_value(state_of((PyObject *)o), o->owner, o->msg, f);
    if (v && PyDict_SetItem(o->cache, name, v)) Py_CLEAR(v);
    return v;
}

static int message_setattro(SpecMessage *o, PyObject *name, PyObject *v) {
    PyErr_Format(PyExc_AttributeError,
                 "get_spec() returns a read-only message (setting %R); edit metadata through MLModel's properties", name);
    return -1;
}

static int no_field(SpecMessage *o, const char *name) {
    PyErr_Format(PyExc_ValueError, "Protocol message %s has no \"%s\" field.", o->desc->short_name, name);
    return -1;
}

/* HasField(name): 1 / 0, -1 with ValueError as protobuf raises it */
static int has_field(SpecMessage *o, PyObject *name) {
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!s) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "HasField() takes a field name (str)");
        return -1;
    }
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(o->desc, s);
    if (!f) {
        if (!has_oneof(o->desc, s)) return no_field(o, s);
        for (size_t i = 0; i < N_ONEOFS; i++)
            if (strcmp(SPEC_ONEOFS[i].oneof, s) == 0 && strcmp(SPEC_ONEOFS[i].message, o->desc->name) == 0 &&
                field_present(o->msg, protobuf_c_message_descriptor_get_field(o->desc, SPEC_ONEOFS[i].field)))
                return 1;
        return 0;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED ||
        (f->type != PROTOBUF_C_TYPE_MESSAGE && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
         f->label != PROTOBUF_C_LABEL_OPTIONAL)) {
        PyErr_Format(PyExc_ValueError, "Field %s.%s does not have presence.", o->desc->name, s);
        return -1;
    }
    return field_present(o->msg, f);
}

static PyObject *message_HasField(SpecMessage *o, PyObject *name) {
    int r = has_field(o, name);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static int message_contains(SpecMessage *o, PyObject *name) { return has_field(o, name); }

static PyObject *message_WhichOneof(SpecMessage *o, PyObject *name) {
    const char *s = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!s) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "WhichOneof() takes a oneof name (str)");
        return NULL;
    }
    if (!has_oneof(o->desc, s)) return no_field(o, s), NULL;
    for (size_t i = 0; i < N_ONEOFS; i++) {
        if (strcmp(SPEC_ONEOFS[i].oneof, s) != 0 || strcmp(SPEC_ONEOFS[i].message, o->desc->name) != 0) continue;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(o->desc, SPEC_ONEOFS[i].field);
        if (f && field_present(o->msg, f)) return PyUnicode_FromString(f->name);
    }
    Py_RETURN_NONE;
}

/* ListFields(): [(field descriptor, value)] of the fields set, by field number */
static PyObject *message_ListFields(SpecMessage *o, PyObject *unused) {
    py_state *st = state_of((PyObject *)o);
    PyObject *out = PyList_New(0);
    for (unsigned i = 0; out && i < o->desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &o->desc->fields[i];
        if (!field_present(o->msg, f)) continue;
        PyObject *name = PyUnicode_FromString(f->name);
        PyObject *v = name ? message_getattro(o, name) : NULL;
        PyObject *fd = v ? field_descriptor_new(st, o->desc, f) : NULL;
        PyObject *pair = fd ? PyTuple_Pack(2, fd, v) : NULL;
        if (!pair || PyList_Append(out, pair)) Py_CLEAR(out);
        Py_XDECREF(name);
        Py_XDECREF(v);
        Py_XDECREF(fd);
        Py_XDECREF(pair);
    }
    return out;
}

static PyObject *message_SerializeToString(SpecMessage *o, PyObject *unused) {
    if (o->raw) return Py_NewRef(o->raw);
    if (!o->msg) return PyBytes_FromStringAndSize(NULL, 0);
    size_t n = protobuf_c_message_get_packed_size(o->msg);
    PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (b) protobuf_c_message_pack(o->msg, (uint8_t *)PyBytes_AS_STRING(b));
    return b;
}

static PyObject *message_serialize(SpecMessage *o, PyObject *args, PyObject *kw) {
    return message_SerializeToString(o, NULL); /* deterministic=... changes nothing: one order only */
}

static PyObject *message_ByteSize(SpecMessage *o, PyObject *unused) {
    if (o->raw) return PyLong_FromSsize_t(PyBytes_GET_SIZE(o->raw));
    return PyLong_FromSize_t(o->msg ? protobuf_c_message_get_packed_size(o->msg) : 0);
}

static PyObject *message_IsInitialized(SpecMessage *o, PyObject *unused) { Py_RETURN_TRUE; }

/* copy.copy / copy.deepcopy: the message never changes, so it is its own copy */
static PyObject *message_copy(SpecMessage *o, PyObject *unused) { return Py_NewRef(o); }

static PyObject *message_descriptor(SpecMessage *o, void *c) { return descriptor_new(state_of((PyObject *)o), o->desc); }

/* ---- protobuf's text format (str(spec)) ---- */

static int put(PyObject *parts, const char *s) {
    PyObject *u = PyUnicode_FromString(s);
    int r = u ? PyList_Append(parts, u) : -1;
    Py_XDECREF(u);
    return r;
}

static int put_obj(PyObject *parts, PyObject *u) {
    int r = u ? PyList_Append(parts, u) : -1;
    Py_XDECREF(u);
    return r;
}

static int put_indent(PyObject *parts, int indent) {
    static const char spaces[] = "                                                                ";
    for (; indent > 0; indent -= (int)sizeof spaces - 1) {
        int k = indent < (int)sizeof spaces - 1 ? indent : (int)sizeof spaces - 1;
        if (put_obj(parts, PyUnicode_FromStringAndSize(spaces, k))) return -1;
    }
    return 0;
}

/* C-escaped bytes, as text_format.CEscape(as_utf8=False) writes them */
static int put_escaped(PyObject *parts, const unsigned char *s, size_t n) {
    char *buf = malloc(4 * n + 3);
    if (!buf) {
        PyErr_NoMemory();
        return -1;
    }
    size_t k = 0;
    buf[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        const char *esc = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : c == '"' ? "\\\"" : c == '\'' ? "\\'" : c == '\\' ? "\\\\" : NULL;
        if (esc) {
            memcpy(buf + k, esc, 2);
            k += 2;
        } else if (c < 32 || c >= 127) {
            k += (size_t)snprintf(buf + k, 5, "\\%03o", c);
        } else {
            buf[k++] = (char)c;
        }
    }
    buf[k++] = '"';
    PyObject *u = PyUnicode_DecodeASCII(buf, (Py_ssize_t)k, "strict");
    free(buf);
    return put_obj(parts, u);
}

/* a float as protobuf prints it: the shortest %g that gives the same float32, then Python's str() */
static PyObject *float_text(double v, int is_float) {
    if (isnan(v)) return PyUnicode_FromString("nan");
    if (isinf(v)) return PyUnicode_FromString(v > 0 ? "inf" : "-inf");
    double shortest = v;
    if (is_float) {
        for (int prec = 6; prec < 18; prec++) {
            char *s = PyOS_double_to_string(v, 'g', prec, 0, NULL);
            if (!s) return NULL;
            double r = PyOS_string_to_double(s, NULL, NULL);
            PyMem_Free(s);
            if (r == -1.0 && PyErr_Occurred()) return NULL;
            if ((float)r == (float)v) {
                shortest = r;
                break;
            }
        }
    }
    PyObject *f = PyFloat_FromDouble(shortest);
    PyObject *u = f ? PyObject_Str(f) : NULL;
    Py_XDECREF(f);
    return u;
}

static int text_message(PyObject *parts, const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, int indent,
                        int all_fields);

static int text_value(PyObject *parts, const ProtobufCFieldDescriptor *f, const void *p, int indent) {
    switch (f->type) {
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *sub = *(ProtobufCMessage *const *)p;
        const ProtobufCMessageDescriptor *sd = f->descriptor;
        if (put(parts, " {\n") || text_message(parts, sub, sd, indent + 2, is_map_entry(sd))) return -1;
        return put_indent(parts, indent) || put(parts, "}\n");
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (!s) s = "";
        return put(parts, ": ") || put_escaped(parts, (const unsigned char *)s, strlen(s)) || put(parts, "\n");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return put(parts, ": ") || put_escaped(parts, b->data, b->len) || put(parts, "\n");
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        PyObject *u = ev ? PyUnicode_FromFormat(": %s\n", ev->name) : PyUnicode_FromFormat(": %d\n", (int)v);
        return put_obj(parts, u);
    }
    case PROTOBUF_C_TYPE_BOOL: return put(parts, *(const protobuf_c_boolean *)p ? ": true\n" : ": false\n");
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;
        return put(parts, ": ") || put_obj(parts, float_text(v, f->type == PROTOBUF_C_TYPE_FLOAT)) || put(parts, "\n");
    }
    default: {
        PyObject *v = scalar(NULL, NULL, f, p), *u = v ? PyObject_Str(v) : NULL;
        Py_XDECREF(v);
        return put(parts, ": ") || put_obj(parts, u) || put(parts, "\n");
    }
    }
}

/* Sort map entries (pointers to entry messages) by their string key, stored at key_offset. */
static void sort_entries(const char **e, size_t n, size_t key_offset) {
    for (size_t i = 1; i < n; i++) {
        const char *x = e[i], *kx = *(char *const *)(x + key_offset);
        size_t j = i;
        for (; j > 0; j--) {
            const char *ky = *(char *const *)(e[j - 1] + key_offset);
            if (strcmp(ky ? ky : "", kx ? kx : "") <= 0) break;
            e[j] = e[j - 1];
        }
        e[j] = x;
    }
}

/* Map entries print sorted by key (as C++ protobuf prints them; Python's order is its hash table's), with both
 * fields even at their defaults. */
static int text_message(PyObject *parts, const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d, int indent,
                        int all_fields) {
    if (Py_EnterRecursiveCall(" in get_spec text")) return -1;
    int r = 0;
    for (unsigned i = 0; !r && i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (!(all_fields && m) && !field_present(m, f)) continue;
        const char *base = (const char *)m;
        size_t n = 1, es = elem_size(f->type);
        const char *arr = base + f->offset;
        const char **sorted = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + f->quantifier_offset);
            arr = *(const char *const *)(base + f->offset);
            if (is_map(f) && n > 1) {
                if (!(sorted = malloc(n * sizeof *sorted))) {
                    PyErr_NoMemory();
                    r = -1;
                    break;
                }
                memcpy(sorted, arr, n * sizeof *sorted);
                sort_entries(sorted, n, ((const ProtobufCMessageDescriptor *)f->descriptor)->fields[0].offset);
                arr = (const char *)sorted;
            }
        }
        for (size_t k = 0; !r && k < n; k++) {
            const void *p = arr + k * es;
            r = put_indent(parts, indent) || put(parts, f->name) || text_value(parts, f, p, indent);
        }
        free(sorted);
    }
    Py_LeaveRecursiveCall();
    return r;
}

static PyObject *message_str(SpecMessage *o) {
    PyObject *parts = PyList_New(0);
    if (!parts) return NULL;
    if (text_message(parts, o->msg, o->desc, 0, 0)) {
        Py_DECREF(parts);
        return NULL;
    }
    PyObject *empty = PyUnicode_FromString("");
    PyObject *s = empty ? PyUnicode_Join(empty, parts) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(parts);
    return s;
}

static PyObject *message_richcompare(PyObject *a, PyObject *b, int op) {
    if ((op != Py_EQ && op != Py_NE) || Py_TYPE(a) != Py_TYPE(b)) Py_RETURN_NOTIMPLEMENTED;
    SpecMessage *x = (SpecMessage *)a, *y = (SpecMessage *)b;
    if (x->desc != y->desc) return PyBool_FromLong(op == Py_NE);
    PyObject *bx = message_SerializeToString(x, NULL), *by = bx ? message_SerializeToString(y, NULL) : NULL;
    PyObject *r = by ? PyObject_RichCompare(bx, by, op) : NULL;
    Py_XDECREF(bx);
    Py_XDECREF(by);
    return r;
}

static PyObject *message_dir(SpecMessage *o, PyObject *unused) {
    PyObject *out = PyList_New(0);
    for (unsigned i = 0; out && i < o->desc->n_fields; i++)
        if (put(out, o->desc->fields[i].name)) Py_CLEAR(out);
    static const char *const methods[] = {"ByteSize", "DESCRIPTOR", "HasField", "IsInitialized", "ListFields",
                                          "SerializeToString", "WhichOneof"};
    for (size_t i = 0; out && i < sizeof methods / sizeof methods[0]; i++)
        if (put(out, methods[i])) Py_CLEAR(out);
    return out;
}

static PyMethodDef message_methods[] = {
    {"HasField", (PyCFunction)message_HasField, METH_O, "HasField(name): is the field (or oneof) set?"},
    {"WhichOneof", (PyCFunction)message_WhichOneof, METH_O, "WhichOneof(group): the name of the member set, or None"},
    {"ListFields", (PyCFunction)message_ListFields, METH_NOARGS, "[(field descriptor, value)] of the fields set"},
    {"SerializeToString", (PyCFunction)(void (*)(void))message_serialize, METH_VARARGS | METH_KEYWORDS,
     "the message's protobuf bytes (the root: the file's own bytes)"},
    {"ByteSize", (PyCFunction)message_ByteSize, METH_NOARGS, "length of SerializeToString()"},
    {"IsInitialized", (PyCFunction)message_IsInitialized, METH_NOARGS, "True (proto3 has no required fields)"},
    {"__dir__", (PyCFunction)message_dir, METH_NOARGS, NULL},
    {"__copy__", (PyCFunction)message_copy, METH_NOARGS, NULL},
    {"__deepcopy__", (PyCFunction)message_copy, METH_O, NULL},
    {NULL},
};

static PyGetSetDef message_getset[] = {
    {"DESCRIPTOR", (getter)message_descriptor, NULL, "the message type's descriptor", NULL},
    {NULL},
};

/* ------------------------------------------------------------------ repeated fields */

static void repeated_dealloc(SpecRepeated *o) {
    PyTypeObject *t = Py_TYPE(o);
    Py_XDECREF(o->owner);
    Py_XDECREF(o->items);
    PyObject_Free(o);
    Py_DECREF(t);
}

static PyObject *repeated_items(SpecRepeated *o) {
    if (o->items) return o->items;
    py_state *st = state_of((PyObject *)o);
    PyObject *l = PyList_New((Py_ssize_t)o->n);
    if (!l) return NULL;
    size_t es = elem_size(o->f->type);
    for (size_t i = 0; i < o->n; i++) {
        PyObject *v = scalar(st, o->owner, o->f, o->arr + i * es);
        if (!v) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    return o->items = l;
}

static Py_ssize_t repeated_len(SpecRepeated *o) { return (Py_ssize_t)o->n; }

static PyObject *repeated_item(SpecRepeated *o, Py_ssize_t i) {
    PyObject *l = repeated_items(o);
    if (!l) return NULL;
    if (i < 0 || i >= PyList_GET_SIZE(l)) {
        PyErr_SetString(PyExc_IndexError, "list index out of range");
        return NULL;
    }
    return Py_NewRef(PyList_GET_ITEM(l, i));
}

static PyObject *repeated_subscript(SpecRepeated *o, PyObject *key) {
    PyObject *l = repeated_items(o);
    return l ? PyObject_GetItem(l, key) : NULL;
}

static PyObject *repeated_richcompare(PyObject *a, PyObject *b, int op) {
    PyObject *la = repeated_items((SpecRepeated *)a);
    if (!la) return NULL;
    if (Py_TYPE(b) == Py_TYPE(a)) {
        b = repeated_items((SpecRepeated *)b);
        if (!b) return NULL;
    } else if (!PyList_Check(b)) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    return PyObject_RichCompare(la, b, op);
}

static PyObject *repeated_repr(SpecRepeated *o) {
    PyObject *l = repeated_items(o);
    return l ? PyObject_Repr(l) : NULL;
}

static PyObject *repeated_iter(SpecRepeated *o) {
    PyObject *l = repeated_items(o);
    return l ? PyObject_GetIter(l) : NULL;
}

/* ------------------------------------------------------------------ maps */

static void map_dealloc(SpecMap *o) {
    PyTypeObject *t = Py_TYPE(o);
    Py_XDECREF(o->proxy);
    Py_XDECREF(o->dflt);
    PyObject_Free(o);
    Py_DECREF(t);
}

static Py_ssize_t map_len(SpecMap *o) { return PyObject_Length(o->proxy); }

static PyObject *map_subscript(SpecMap *o, PyObject *key) {
    PyObject *v = PyObject_GetItem(o->proxy, key);
    if (v || !PyErr_ExceptionMatches(PyExc_KeyError)) return v;
    PyErr_Clear();
    return Py_NewRef(o->dflt);
}

static int map_contains(SpecMap *o, PyObject *key) { return PySequence_Contains(o->proxy, key); }
static PyObject *map_iter(SpecMap *o) { return PyObject_GetIter(o->proxy); }
static PyObject *map_repr(SpecMap *o) { return PyObject_Repr(o->proxy); }

/* get, keys, values, items, copy: the mapping's own */
static PyObject *map_getattro(SpecMap *o, PyObject *name) {
    PyObject *v = PyObject_GenericGetAttr((PyObject *)o, name);
    if (v || !PyErr_ExceptionMatches(PyExc_AttributeError)) return v;
    PyErr_Clear();
    return PyObject_GetAttr(o->proxy, name);
}

static PyObject *map_richcompare(PyObject *a, PyObject *b, int op) {
    PyObject *pa = ((SpecMap *)a)->proxy;
    if (Py_TYPE(b) == Py_TYPE(a)) b = ((SpecMap *)b)->proxy;
    return PyObject_RichCompare(pa, b, op);
}

/* ------------------------------------------------------------------ types and entry */

static PyType_Slot message_slots[] = {
    {Py_tp_dealloc, message_dealloc},
    {Py_tp_getattro, message_getattro},
    {Py_tp_setattro, message_setattro},
    {Py_tp_methods, message_methods},
    {Py_tp_getset, message_getset},
    {Py_tp_str, message_str},
    {Py_tp_repr, message_str},
    {Py_tp_richcompare, message_richcompare},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_sq_contains, message_contains},
    {Py_tp_doc, "A Core ML protobuf message, read-only (get_spec())."},
    {0, NULL},
};
static PyType_Spec message_spec = {"pt2coreml._core.SpecMessage", sizeof(SpecMessage), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, message_slots};

static PyType_Slot repeated_slots[] = {
    {Py_tp_dealloc, repeated_dealloc},
    {Py_sq_length, repeated_len},
    {Py_sq_item, repeated_item},
    {Py_mp_length, repeated_len},
    {Py_mp_subscript, repeated_subscript},
    {Py_tp_iter, repeated_iter},
    {Py_tp_richcompare, repeated_richcompare},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_repr, repeated_repr},
    {Py_tp_doc, "A repeated field of a get_spec() message (read-only sequence)."},
    {0, NULL},
};
static PyType_Spec repeated_spec = {"pt2coreml._core.SpecRepeated", sizeof(SpecRepeated), 0,
                                    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_SEQUENCE,
                                    repeated_slots};

static PyType_Slot map_slots[] = {
    {Py_tp_dealloc, map_dealloc},
    {Py_mp_length, map_len},
    {Py_mp_subscript, map_subscript},
    {Py_sq_contains, map_contains},
    {Py_tp_iter, map_iter},
    {Py_tp_getattro, map_getattro},
    {Py_tp_richcompare, map_richcompare},
    {Py_tp_hash, PyObject_HashNotImplemented},
    {Py_tp_repr, map_repr},
    {Py_tp_doc, "A map field of a get_spec() message (read-only mapping; a missing key reads as the default)."},
    {0, NULL},
};
static PyType_Spec map_spec = {"pt2coreml._core.SpecMap", sizeof(SpecMap), 0,
                               Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION | Py_TPFLAGS_MAPPING, map_slots};

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
        {Py_tp_dealloc, plain_dealloc}, {Py_tp_getset, getset}, {Py_tp_repr, repr},                             \
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

int py_spec_types(PyObject *m) {
    py_state *st = PyModule_GetState(m);
    if (!(st->SpecMessageType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &message_spec, NULL)) ||
        !(st->SpecRepeatedType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &repeated_spec, NULL)) ||
        !(st->SpecMapType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &map_spec, NULL)) ||
        !(st->SpecDescriptorType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &SpecDescriptor_spec, NULL)) ||
        !(st->SpecFieldDescriptorType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &SpecFieldDescriptor_spec, NULL)) ||
        !(st->SpecOneofDescriptorType = (PyTypeObject *)PyType_FromModuleAndSpec(m, &SpecOneofDescriptor_spec, NULL)))
        return -1;
    return field_constants(st->SpecFieldDescriptorType);
}

static void owner_free(PyObject *capsule) {
    ProtobufCMessage *m = PyCapsule_GetPointer(capsule, "pt2coreml.spec");
    if (m) protobuf_c_message_free_unpacked(m, NULL);
}

/* read_spec(path) -> the Model message */
PyObject *py_read_spec(PyObject *module, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    pc_err e = {0};
    ProtobufCMessage *m;
    unsigned char *bytes = NULL;
    size_t n = 0;
    Py_BEGIN_ALLOW_THREADS
    m = ser_read_model_message(path, &bytes, &n, &e);
    Py_END_ALLOW_THREADS
    if (!m) return py_raise(module, &e);
    PyObject *raw = PyBytes_FromStringAndSize((const char *)bytes, (Py_ssize_t)n);
    free(bytes);
    PyObject *owner = raw ? PyCapsule_New(m, "pt2coreml.spec", owner_free) : NULL;
    if (!owner) {
        protobuf_c_message_free_unpacked(m, NULL);
        Py_XDECREF(raw);
        return NULL;
    }
    SpecMessage *o = (SpecMessage *)message_new(PyModule_GetState(module), owner, m->descriptor, m);
    Py_DECREF(owner);
    if (!o) {
        Py_DECREF(raw);
        return NULL;
    }
    o->raw = raw;
    return (PyObject *)o;
}
