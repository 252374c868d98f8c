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
 * (a repeated field), SpecMap (a map field), and the descriptors SpecDescriptor /
 * SpecFieldDescriptor / SpecOneofDescriptor (spec_descriptor.c). They share one capsule
 * that owns the unpacked message. The text format (str(spec)) is spec_text.c's. */
#include "python/py.h"
#include "serialize/ser.h"

#include <protobuf-c/protobuf-c.h>

#include <stdlib.h>
#include <string.h>

#define SPEC_ONEOF_ROW_LIST const struct py_spec_oneof py_spec_oneofs[]
#include "spec_oneofs.h"
#undef SPEC_ONEOF_ROW_LIST
const size_t py_spec_n_oneofs = sizeof py_spec_oneofs / sizeof py_spec_oneofs[0];

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

static py_state *state_of(PyObject *o) { return PyType_GetModuleState(Py_TYPE(o)); }

/* ------------------------------------------------------------------ schema facts */

int py_spec_is_map_entry(const ProtobufCMessageDescriptor *d) {
    return d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0 &&
           d->fields[0].type == PROTOBUF_C_TYPE_STRING;
}

int py_spec_is_map(const ProtobufCFieldDescriptor *f) {
    return f->label == PROTOBUF_C_LABEL_REPEATED && f->type == PROTOBUF_C_TYPE_MESSAGE && py_spec_is_map_entry(f->descriptor);
}

static int has_oneof(const ProtobufCMessageDescriptor *d, const char *name) {
    for (size_t i = 0; i < py_spec_n_oneofs; i++)
        if (strcmp(py_spec_oneofs[i].oneof, name) == 0 && strcmp(py_spec_oneofs[i].message, d->name) == 0) return 1;
    return 0;
}

size_t py_spec_elem_size(const ProtobufCFieldDescriptor *f) {
    switch (f->type) {
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

/* Is a singular field set (proto3: a message or oneof member present, a scalar not its default)? */
int py_spec_field_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f) {
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
        size_t n = py_spec_elem_size(f);
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
PyObject *py_spec_scalar(py_state *st, PyObject *owner, const ProtobufCFieldDescriptor *f, const void *p) {
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
        PyObject *k = py_spec_scalar(st, owner, kf, e + kf->offset);
        PyObject *v = k ? py_spec_scalar(st, owner, vf, e + vf->offset) : NULL;
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
        if (py_spec_is_map(f)) return map_value(st, owner, f, n, arr);
        SpecRepeated *r = PyObject_New(SpecRepeated, st->SpecRepeatedType);
        if (!r) return NULL;
        r->owner = Py_NewRef(owner);
        r->f = f;
        r->n = n;
        r->arr = arr;
        r->items = NULL;
        return (PyObject *)r;
    }
    if (!py_spec_field_present(m, f) && (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF || !m))
        return f->type == PROTOBUF_C_TYPE_MESSAGE ? message_new(st, owner, f->descriptor, NULL) : py_spec_scalar(st, owner, f, NULL);
    return py_spec_scalar(st, owner, f, base + f->offset);
}

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
    Py_XDECREF(o->owner);
    Py_XDECREF(o->raw);
    Py_XDECREF(o->cache);
    py_free_object((PyObject *)o);
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
        for (size_t i = 0; i < py_spec_n_oneofs; i++)
            if (strcmp(py_spec_oneofs[i].oneof, s) == 0 && strcmp(py_spec_oneofs[i].message, o->desc->name) == 0 &&
                py_spec_field_present(o->msg, protobuf_c_message_descriptor_get_field(o->desc, py_spec_oneofs[i].field)))
                return 1;
        return 0;
    }
    if (f->label == PROTOBUF_C_LABEL_REPEATED ||
        (f->type != PROTOBUF_C_TYPE_MESSAGE && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
         f->label != PROTOBUF_C_LABEL_OPTIONAL)) {
        PyErr_Format(PyExc_ValueError, "Field %s.%s does not have presence.", o->desc->name, s);
        return -1;
    }
    return py_spec_field_present(o->msg, f);
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
    for (size_t i = 0; i < py_spec_n_oneofs; i++) {
        if (strcmp(py_spec_oneofs[i].oneof, s) != 0 || strcmp(py_spec_oneofs[i].message, o->desc->name) != 0) continue;
        const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field(o->desc, py_spec_oneofs[i].field);
        if (f && py_spec_field_present(o->msg, f)) return PyUnicode_FromString(f->name);
    }
    Py_RETURN_NONE;
}

/* ListFields(): [(field descriptor, value)] of the fields set, by field number */
static PyObject *message_ListFields(SpecMessage *o, PyObject *unused) {
    py_state *st = state_of((PyObject *)o);
    PyObject *out = PyList_New(0);
    for (unsigned i = 0; out && i < o->desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &o->desc->fields[i];
        if (!py_spec_field_present(o->msg, f)) continue;
        PyObject *name = PyUnicode_FromString(f->name);
        PyObject *v = name ? message_getattro(o, name) : NULL;
        PyObject *fd = v ? py_spec_field_descriptor_new(st, o->desc, f) : NULL;
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

static PyObject *message_descriptor(SpecMessage *o, void *c) { return py_spec_descriptor_new(state_of((PyObject *)o), o->desc); }

static PyObject *message_str(SpecMessage *o) { return py_spec_text(o->msg, o->desc); }

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
        if (py_spec_put(out, o->desc->fields[i].name)) Py_CLEAR(out);
    static const char *const methods[] = {"ByteSize", "DESCRIPTOR", "HasField", "IsInitialized", "ListFields",
                                          "SerializeToString", "WhichOneof"};
    for (size_t i = 0; out && i < sizeof methods / sizeof methods[0]; i++)
        if (py_spec_put(out, methods[i])) Py_CLEAR(out);
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
    Py_XDECREF(o->owner);
    Py_XDECREF(o->items);
    py_free_object((PyObject *)o);
}

static PyObject *repeated_items(SpecRepeated *o) {
    if (o->items) return o->items;
    py_state *st = state_of((PyObject *)o);
    PyObject *l = PyList_New((Py_ssize_t)o->n);
    if (!l) return NULL;
    size_t es = py_spec_elem_size(o->f);
    for (size_t i = 0; i < o->n; i++) {
        PyObject *v = py_spec_scalar(st, o->owner, o->f, o->arr + i * es);
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
    Py_XDECREF(o->proxy);
    Py_XDECREF(o->dflt);
    py_free_object((PyObject *)o);
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

int py_spec_types(PyObject *m) {
    py_state *st = PyModule_GetState(m);
    if (py_add_type(m, &message_spec, &st->SpecMessageType, NULL) ||
        py_add_type(m, &repeated_spec, &st->SpecRepeatedType, NULL) || py_add_type(m, &map_spec, &st->SpecMapType, NULL))
        return -1;
    return py_spec_descriptor_types(m);
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
