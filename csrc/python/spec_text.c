/* spec_text.c: protobuf's text format of a get_spec() message (str(spec), spec.c): the
 * fields set, strings and bytes C-escaped as text_format.CEscape writes them, floats in
 * the shortest form that gives the same float32, map entries sorted by key. */
#include "python/py.h"

#include <protobuf-c/protobuf-c.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int py_spec_put(PyObject *parts, const char *s) {
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
        if (py_spec_put(parts, " {\n") || text_message(parts, sub, sd, indent + 2, py_spec_is_map_entry(sd))) return -1;
        return put_indent(parts, indent) || py_spec_put(parts, "}\n");
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        if (!s) s = "";
        return py_spec_put(parts, ": ") || put_escaped(parts, (const unsigned char *)s, strlen(s)) || py_spec_put(parts, "\n");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return py_spec_put(parts, ": ") || put_escaped(parts, b->data, b->len) || py_spec_put(parts, "\n");
    }
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        PyObject *u = ev ? PyUnicode_FromFormat(": %s\n", ev->name) : PyUnicode_FromFormat(": %d\n", (int)v);
        return put_obj(parts, u);
    }
    case PROTOBUF_C_TYPE_BOOL: return py_spec_put(parts, *(const protobuf_c_boolean *)p ? ": true\n" : ": false\n");
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE: {
        double v = f->type == PROTOBUF_C_TYPE_FLOAT ? *(const float *)p : *(const double *)p;
        return py_spec_put(parts, ": ") || put_obj(parts, float_text(v, f->type == PROTOBUF_C_TYPE_FLOAT)) || py_spec_put(parts, "\n");
    }
    default: {
        PyObject *v = py_spec_scalar(NULL, NULL, f, p), *u = v ? PyObject_Str(v) : NULL;
        Py_XDECREF(v);
        return py_spec_put(parts, ": ") || put_obj(parts, u) || py_spec_put(parts, "\n");
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
        if (!(all_fields && m) && !py_spec_field_present(m, f)) continue;
        const char *base = (const char *)m;
        size_t n = 1, es = py_spec_elem_size(f);
        const char *arr = base + f->offset;
        const char **sorted = NULL;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + f->quantifier_offset);
            arr = *(const char *const *)(base + f->offset);
            if (py_spec_is_map(f) && n > 1) {
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
            r = put_indent(parts, indent) || py_spec_put(parts, f->name) || text_value(parts, f, p, indent);
        }
        free(sorted);
    }
    Py_LeaveRecursiveCall();
    return r;
}

PyObject *py_spec_text(const ProtobufCMessage *m, const ProtobufCMessageDescriptor *d) {
    PyObject *parts = PyList_New(0);
    if (!parts) return NULL;
    if (text_message(parts, m, d, 0, 0)) {
        Py_DECREF(parts);
        return NULL;
    }
    PyObject *empty = PyUnicode_FromString("");
    PyObject *s = empty ? PyUnicode_Join(empty, parts) : NULL;
    Py_XDECREF(empty);
    Py_DECREF(parts);
    return s;
}
