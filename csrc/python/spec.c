/* spec.c: the get_spec() view of a saved package: the Model protobuf as nested
 * dicts and lists with Apple's field names ("specificationVersion",
 * "description" -> "input"[i] -> "type" -> "multiArrayType" -> "shape", ...,
 * "mlProgram" -> "functions"["main"] -> "block_specializations"[opset] ->
 * "operations"[i] -> "type" / "inputs" / "outputs" / "attributes").
 *
 * The conversion walks protobuf-c's descriptors, so it covers the whole schema
 * of serialize/coreml.proto: scalars always appear (with their default when not
 * set, as protobuf getters give), sub-messages only when present, a oneof only
 * with its set member, enums as ints, bytes as bytes, and map fields (repeated
 * entries with a string key and a value) as dicts. Fields of model kinds our
 * schema does not declare are not shown. */
#include "python/py.h"
#include "serialize/ser.h"

#include <protobuf-c/protobuf-c.h>

#include <stdlib.h>
#include <string.h>

static PyObject *message_dict(const ProtobufCMessage *m);

static int is_map_entry(const ProtobufCMessageDescriptor *d) {
    return d->n_fields == 2 && strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0 &&
           d->fields[0].type == PROTOBUF_C_TYPE_STRING;
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

/* One value of field type t stored at p. */
static PyObject *scalar(ProtobufCType t, const void *p) {
    switch (t) {
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
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (!s) s = "";
        return PyUnicode_DecodeUTF8(s, (Py_ssize_t)strlen(s), "replace");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return PyBytes_FromStringAndSize((const char *)b->data, (Py_ssize_t)b->len);
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        if (!m) Py_RETURN_NONE;
        return message_dict(m);
    }
    }
    PyErr_SetString(PyExc_RuntimeError, "read_spec: unknown protobuf field type");
    return NULL;
}

/* A repeated field: a list, or a dict for map entries. */
static PyObject *repeated(const ProtobufCFieldDescriptor *f, size_t n, const char *arr) {
    size_t es = elem_size(f->type);
    if (f->type == PROTOBUF_C_TYPE_MESSAGE && is_map_entry(f->descriptor)) {
        PyObject *d = PyDict_New();
        if (!d) return NULL;
        const ProtobufCFieldDescriptor *kf = &((const ProtobufCMessageDescriptor *)f->descriptor)->fields[0];
        const ProtobufCFieldDescriptor *vf = &((const ProtobufCMessageDescriptor *)f->descriptor)->fields[1];
        for (size_t i = 0; i < n; i++) {
            const char *e = *(const char *const *)(arr + i * es);
            PyObject *k = scalar(kf->type, e + kf->offset);
            PyObject *v = k ? scalar(vf->type, e + vf->offset) : NULL;
            int r = v ? PyDict_SetItem(d, k, v) : -1;
            Py_XDECREF(k);
            Py_XDECREF(v);
            if (r) {
                Py_DECREF(d);
                return NULL;
            }
        }
        return d;
    }
    PyObject *l = PyList_New((Py_ssize_t)n);
    if (!l) return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *v = scalar(f->type, arr + i * es);
        if (!v) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, v);
    }
    return l;
}

static PyObject *message_dict(const ProtobufCMessage *m) {
    if (Py_EnterRecursiveCall(" in read_spec")) return NULL;
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    PyObject *out = PyDict_New();
    if (!out) goto fail;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        PyObject *v = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)(base + f->quantifier_offset);
            v = repeated(f, n, *(const char *const *)(base + f->offset));
        } else {
            if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
                if (*(const uint32_t *)(base + f->quantifier_offset) != f->id) continue;
            } else if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_MESSAGE &&
                       f->type != PROTOBUF_C_TYPE_STRING && !*(const protobuf_c_boolean *)(base + f->quantifier_offset)) {
                continue;
            }
            if (f->type == PROTOBUF_C_TYPE_MESSAGE && !*(ProtobufCMessage *const *)(base + f->offset)) continue;
            v = scalar(f->type, base + f->offset);
        }
        if (!v) goto fail;
        int r = PyDict_SetItemString(out, f->name, v);
        Py_DECREF(v);
        if (r) goto fail;
    }
    Py_LeaveRecursiveCall();
    return out;
fail:
    Py_XDECREF(out);
    Py_LeaveRecursiveCall();
    return NULL;
}

/* read_spec(path) -> dict */
PyObject *py_read_spec(PyObject *module, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path)) return NULL;
    pc_err e = {0};
    ProtobufCMessage *m;
    Py_BEGIN_ALLOW_THREADS
    m = ser_read_model_message(path, &e);
    Py_END_ALLOW_THREADS
    if (!m) return py_raise(module, &e);
    PyObject *r = message_dict(m);
    protobuf_c_message_free_unpacked(m, NULL);
    return r;
}
