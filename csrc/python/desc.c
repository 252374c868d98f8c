/* desc.c: model description dict <-> ser_desc (see serialize/ser.h).
 *
 * The dict, as python/pt2coreml builds and reads it:
 *   {"spec_version": 6, "inputs": [feature], "outputs": [feature], "states": [feature] (optional, kind "state"),
 *    "predicted_feature_name": str|None, "predicted_probabilities_name": str|None,
 *    "short_description": str, "version": str, "author": str, "license": str,
 *    "user_defined": {str: str}, "class_labels": [str] | [int] | None}
 *   feature = {"name": str, "short_description": str, "kind": "array"|"image"|"int64"|
 *              "double"|"string"|"dict"|"state", "dtype": "fp32"|"fp16"|"fp64"|"int32",
 *              "shape": [int], "upper": [int] (optional, -1 = unbounded),
 *              "width": int, "height": int, "color_space": int,
 *              "dict_key_int": bool, "optional": bool,
 *              "default_value": number, "default_type": "int"|"float"|"double" (optional arrays only)}
 */
#include "python/py.h"
#include "serialize/ser.h"

#include <string.h>

static const char *kind_names[] = {"array", "image", "int64", "double", "string", "dict", "other", "state"};
_Static_assert(PC_ARRAY_LEN(kind_names) == SER_FEAT_STATE + 1, "kind_names and ser_featkind disagree");

static const char *get_str(PyObject *d, const char *key, pc_arena *a, int *err) {
    PyObject *v = PyDict_GetItemString(d, key); /* borrowed */
    if (!v || v == Py_None) return NULL;
    const char *s = py_cstr(v, key);
    if (!s) {
        *err = 1;
        return NULL;
    }
    char *r = pc_strdup(a, s);
    if (!r) {
        PyErr_NoMemory();
        *err = 1;
    }
    return r;
}

static long long get_int(PyObject *d, const char *key, long long dflt, int *err) {
    PyObject *v = PyDict_GetItemString(d, key);
    if (!v || v == Py_None) return dflt;
    long long x = PyLong_AsLongLong(v);
    if (x == -1 && PyErr_Occurred()) *err = 1;
    return x;
}

static int int_list(PyObject *d, const char *key, int64_t *out, int max, int *err) {
    PyObject *v = PyDict_GetItemString(d, key);
    if (!v || v == Py_None) return -1;
    PyObject *seq = PySequence_Fast(v, "shape must be a sequence");
    if (!seq) {
        *err = 1;
        return -1;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > max) {
        PyErr_Format(PyExc_ValueError, "rank %zd exceeds the maximum of %d", n, max);
        Py_DECREF(seq);
        *err = 1;
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (out[i] == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            *err = 1;
            return -1;
        }
    }
    Py_DECREF(seq);
    return (int)n;
}

static int feature_from_dict(PyObject *d, ser_feature *f, pc_arena *a) {
    int err = 0;
    if (!PyDict_Check(d)) {
        PyErr_SetString(PyExc_TypeError, "feature description must be a dict");
        return -1;
    }
    f->name = get_str(d, "name", a, &err);
    f->short_description = get_str(d, "short_description", a, &err);
    const char *kind = get_str(d, "kind", a, &err);
    if (err) return -1;
    if (!f->name) {
        PyErr_SetString(PyExc_ValueError, "feature description needs a name");
        return -1;
    }
    f->kind = SER_FEAT_ARRAY;
    if (kind) {
        int found = 0;
        for (int i = 0; i < PC_ARRAY_LEN(kind_names); i++)
            if (strcmp(kind, kind_names[i]) == 0) {
                f->kind = (ser_featkind)i;
                found = 1;
            }
        if (!found) {
            PyErr_Format(PyExc_ValueError, "unknown feature kind '%s'", kind);
            return -1;
        }
    }
    const char *dt = get_str(d, "dtype", a, &err);
    if (err) return -1;
    f->dtype = dt ? ir_dtype_from_name(dt) : IR_FP32;
    if (f->dtype == IR_DT_INVALID) {
        PyErr_Format(PyExc_ValueError, "unknown dtype '%s'", dt);
        return -1;
    }
    int r = int_list(d, "shape", f->shape, IR_MAX_RANK, &err);
    if (err) return -1;
    f->rank = r < 0 ? 0 : r;
    int ru = int_list(d, "upper", f->upper, IR_MAX_RANK, &err);
    if (err) return -1;
    if (ru < 0) {
        for (int i = 0; i < f->rank; i++) f->upper[i] = f->shape[i];
    } else if (ru != f->rank) {
        PyErr_SetString(PyExc_ValueError, "'upper' must have the rank of 'shape'");
        return -1;
    }
    for (int i = 0; i < f->rank; i++)
        if (f->upper[i] != f->shape[i]) f->flexible = 1;
    int rl = int_list(d, "lower", f->lower, IR_MAX_RANK, &err);
    if (err) return -1;
    if (rl >= 0) {
        if (rl != f->rank) {
            PyErr_SetString(PyExc_ValueError, "'lower' must have the rank of 'shape'");
            return -1;
        }
        f->has_lower = 1;
        for (int i = 0; i < f->rank; i++)
            if (f->lower[i] != f->upper[i]) f->flexible = 1;
    }
    PyObject *en = PyDict_GetItemString(d, "enumerated");
    if (en && en != Py_None) {
        PyObject *seq = PySequence_Fast(en, "'enumerated' must be a list of shapes");
        if (!seq) return -1;
        Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
        f->enum_shapes = k > 0 && k <= 4096 ? pc_alloc(a, sizeof(int64_t) * (size_t)k * (size_t)(f->rank ? f->rank : 1)) : NULL;
        if (k > 0 && !f->enum_shapes) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "'enumerated': 1 to 4096 shapes");
            return -1;
        }
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *one = PyDict_New();
            int64_t dims[IR_MAX_RANK];
            int bad = !one || PyDict_SetItemString(one, "s", PySequence_Fast_GET_ITEM(seq, j));
            int rk = bad ? -1 : int_list(one, "s", dims, IR_MAX_RANK, &err);
            Py_XDECREF(one);
            if (bad || err || rk != f->rank) {
                Py_DECREF(seq);
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "each enumerated shape must have the rank of 'shape'");
                return -1;
            }
            for (int i = 0; i < f->rank; i++) f->enum_shapes[j * f->rank + i] = dims[i];
        }
        Py_DECREF(seq);
        f->nenum = (int)k;
        if (k > 1) f->flexible = 1;
    }
    f->width = get_int(d, "width", 0, &err);
    f->height = get_int(d, "height", 0, &err);
    f->color_space = (int)get_int(d, "color_space", SER_RGB, &err);
    f->dict_key_int = (int)get_int(d, "dict_key_int", 0, &err);
    f->optional = (int)get_int(d, "optional", 0, &err);
    PyObject *dv = PyDict_GetItemString(d, "default_value");
    if (!err && dv && dv != Py_None) {
        const char *dk = get_str(d, "default_type", a, &err);
        f->default_value = PyFloat_AsDouble(dv);
        if (err || (f->default_value == -1.0 && PyErr_Occurred())) return -1;
        f->default_kind = !dk || strcmp(dk, "float") == 0 ? 2 : strcmp(dk, "int") == 0 ? 1 : strcmp(dk, "double") == 0 ? 3 : 0;
        if (!f->default_kind) {
            PyErr_Format(PyExc_ValueError, "feature '%s': default_type must be 'int', 'float' or 'double'", f->name);
            return -1;
        }
    }
    return err ? -1 : 0;
}

static int features_from_list(PyObject *d, const char *key, ser_feature **out, int *n, pc_arena *a) {
    PyObject *v = PyDict_GetItemString(d, key);
    *n = 0;
    *out = NULL;
    if (!v || v == Py_None) return 0;
    PyObject *seq = PySequence_Fast(v, "features must be a list");
    if (!seq) return -1;
    Py_ssize_t m = PySequence_Fast_GET_SIZE(seq);
    *out = pc_alloc(a, sizeof(ser_feature) * (size_t)(m ? m : 1));
    if (!*out) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < m; i++)
        if (feature_from_dict(PySequence_Fast_GET_ITEM(seq, i), &(*out)[i], a)) {
            Py_DECREF(seq);
            return -1;
        }
    *n = (int)m;
    Py_DECREF(seq);
    return 0;
}

/* Fill d from a Python dict; strings are copied into a. Returns -1 with a Python error set. */
int py_desc_from_dict(PyObject *dict, ser_desc *d, pc_arena *a) {
    int err = 0;
    memset(d, 0, sizeof *d);
    if (!PyDict_Check(dict)) {
        PyErr_SetString(PyExc_TypeError, "model description must be a dict");
        return -1;
    }
    d->spec_version = (int)get_int(dict, "spec_version", 6, &err);
    if (err) return -1;
    if (features_from_list(dict, "inputs", &d->inputs, &d->ninputs, a)) return -1;
    if (features_from_list(dict, "outputs", &d->outputs, &d->noutputs, a)) return -1;
    if (features_from_list(dict, "states", &d->states, &d->nstates, a)) return -1;
    d->predicted_feature_name = get_str(dict, "predicted_feature_name", a, &err);
    d->predicted_probabilities_name = get_str(dict, "predicted_probabilities_name", a, &err);
    d->short_description = get_str(dict, "short_description", a, &err);
    d->version = get_str(dict, "version", a, &err);
    d->author = get_str(dict, "author", a, &err);
    d->license = get_str(dict, "license", a, &err);
    if (err) return -1;
    PyObject *ud = PyDict_GetItemString(dict, "user_defined");
    if (ud && ud != Py_None) {
        if (!PyDict_Check(ud)) {
            PyErr_SetString(PyExc_TypeError, "user_defined metadata must be a dict of str to str");
            return -1;
        }
        Py_ssize_t n = PyDict_Size(ud), pos = 0, i = 0;
        d->user = pc_alloc(a, sizeof(ser_kv) * (size_t)(n ? n : 1));
        if (!d->user) {
            PyErr_NoMemory();
            return -1;
        }
        PyObject *k, *v;
        while (PyDict_Next(ud, &pos, &k, &v)) {
            if (!PyUnicode_Check(k) || !PyUnicode_Check(v)) {
                PyErr_SetString(PyExc_TypeError, "user_defined metadata keys and values must be str");
                return -1;
            }
            const char *ks = py_cstr(k, "user_defined metadata key"), *vs = ks ? py_cstr(v, "user_defined metadata value") : NULL;
            if (!vs) return -1;
            d->user[i].key = pc_strdup(a, ks);
            d->user[i].value = pc_strdup(a, vs);
            if (!d->user[i].key || !d->user[i].value) {
                PyErr_NoMemory();
                return -1;
            }
            i++;
        }
        d->nuser = (int)i;
    }
    PyObject *labels = PyDict_GetItemString(dict, "class_labels");
    if (labels && labels != Py_None) {
        PyObject *seq = PySequence_Fast(labels, "class_labels must be a list");
        if (!seq) return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        d->nlabels = (int)n;
        d->labels_are_int = n > 0 && PyLong_Check(PySequence_Fast_GET_ITEM(seq, 0));
        if (d->labels_are_int) d->int_labels = pc_alloc(a, sizeof(int64_t) * (size_t)(n ? n : 1));
        else d->string_labels = pc_alloc(a, sizeof(char *) * (size_t)(n ? n : 1));
        if (!d->int_labels && !d->string_labels) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *it = PySequence_Fast_GET_ITEM(seq, i);
            if (d->labels_are_int) {
                d->int_labels[i] = PyLong_AsLongLong(it);
                if (d->int_labels[i] == -1 && PyErr_Occurred()) {
                    Py_DECREF(seq);
                    return -1;
                }
            } else {
                const char *s = PyUnicode_Check(it) ? py_cstr(it, "class label") : NULL;
                if (!s) {
                    Py_DECREF(seq);
                    if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "class labels must be all str or all int");
                    return -1;
                }
                d->string_labels[i] = pc_strdup(a, s);
            }
        }
        Py_DECREF(seq);
    }
    return 0;
}

static int set_str(PyObject *d, const char *key, const char *s) {
    PyObject *v = s ? py_str(s) : Py_NewRef(Py_None);
    if (!v) return -1;
    int r = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return r;
}

static int set_int(PyObject *d, const char *key, long long x) {
    PyObject *v = PyLong_FromLongLong(x);
    if (!v) return -1;
    int r = PyDict_SetItemString(d, key, v);
    Py_DECREF(v);
    return r;
}

static PyObject *int_tuple(const int64_t *v, int n) {
    PyObject *t = PyList_New(n);
    if (!t) return NULL;
    for (int i = 0; i < n; i++) {
        PyObject *x = PyLong_FromLongLong(v[i]);
        if (!x) {
            Py_DECREF(t);
            return NULL;
        }
        PyList_SET_ITEM(t, i, x);
    }
    return t;
}

static PyObject *feature_to_dict(const ser_feature *f) {
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (set_str(d, "name", f->name) || set_str(d, "short_description", f->short_description ? f->short_description : "") ||
        set_str(d, "kind", kind_names[f->kind]) || set_str(d, "dtype", ir_dtype_name(f->dtype)) ||
        set_int(d, "width", f->width) || set_int(d, "height", f->height) || set_int(d, "color_space", f->color_space) ||
        set_int(d, "dict_key_int", f->dict_key_int) || set_int(d, "optional", f->optional))
        goto fail;
    if (f->default_kind) {
        static const char *kinds[] = {"", "int", "float", "double"};
        PyObject *v = PyFloat_FromDouble(f->default_value);
        int r = !v || PyDict_SetItemString(d, "default_value", v) || set_str(d, "default_type", kinds[f->default_kind]);
        Py_XDECREF(v);
        if (r) goto fail;
    }
    PyObject *s = int_tuple(f->shape, f->rank);
    if (!s || PyDict_SetItemString(d, "shape", s)) {
        Py_XDECREF(s);
        goto fail;
    }
    Py_DECREF(s);
    s = int_tuple(f->upper, f->rank);
    if (!s || PyDict_SetItemString(d, "upper", s)) {
        Py_XDECREF(s);
        goto fail;
    }
    Py_DECREF(s);
    if (f->has_lower) {
        s = int_tuple(f->lower, f->rank);
        if (!s || PyDict_SetItemString(d, "lower", s)) {
            Py_XDECREF(s);
            goto fail;
        }
        Py_DECREF(s);
    }
    if (f->nenum > 0) {
        PyObject *l = PyList_New(f->nenum);
        if (!l) goto fail;
        for (int k = 0; k < f->nenum; k++) {
            PyObject *t = int_tuple(f->enum_shapes + (size_t)k * (size_t)f->rank, f->rank);
            if (!t) {
                Py_DECREF(l);
                goto fail;
            }
            PyList_SET_ITEM(l, k, t);
        }
        int r = PyDict_SetItemString(d, "enumerated", l);
        Py_DECREF(l);
        if (r) goto fail;
    }
    return d;
fail:
    Py_DECREF(d);
    return NULL;
}

static int set_features(PyObject *d, const char *key, const ser_feature *fs, int n) {
    PyObject *l = PyList_New(n);
    if (!l) return -1;
    for (int i = 0; i < n; i++) {
        PyObject *f = feature_to_dict(&fs[i]);
        if (!f) {
            Py_DECREF(l);
            return -1;
        }
        PyList_SET_ITEM(l, i, f);
    }
    int r = PyDict_SetItemString(d, key, l);
    Py_DECREF(l);
    return r;
}

PyObject *py_desc_to_dict(const ser_desc *d) {
    PyObject *r = PyDict_New();
    if (!r) return NULL;
    if (set_int(r, "spec_version", d->spec_version) || set_features(r, "inputs", d->inputs, d->ninputs) ||
        set_features(r, "outputs", d->outputs, d->noutputs) || set_features(r, "states", d->states, d->nstates) ||
        set_str(r, "predicted_feature_name", d->predicted_feature_name) ||
        set_str(r, "predicted_probabilities_name", d->predicted_probabilities_name) ||
        set_str(r, "short_description", d->short_description ? d->short_description : "") ||
        set_str(r, "version", d->version ? d->version : "") || set_str(r, "author", d->author ? d->author : "") ||
        set_str(r, "license", d->license ? d->license : ""))
        goto fail;
    PyObject *ud = PyDict_New();
    if (!ud) goto fail;
    for (int i = 0; i < d->nuser; i++)
        if (set_str(ud, d->user[i].key, d->user[i].value)) {
            Py_DECREF(ud);
            goto fail;
        }
    if (PyDict_SetItemString(r, "user_defined", ud)) {
        Py_DECREF(ud);
        goto fail;
    }
    Py_DECREF(ud);
    if (d->nlabels > 0) {
        PyObject *l = PyList_New(d->nlabels);
        if (!l) goto fail;
        for (int i = 0; i < d->nlabels; i++) {
            PyObject *x = d->labels_are_int ? PyLong_FromLongLong(d->int_labels[i])
                                            : py_str(d->string_labels[i]);
            if (!x) {
                Py_DECREF(l);
                goto fail;
            }
            PyList_SET_ITEM(l, i, x);
        }
        int rr = PyDict_SetItemString(r, "class_labels", l);
        Py_DECREF(l);
        if (rr) goto fail;
    } else if (PyDict_SetItemString(r, "class_labels", Py_None)) {
        goto fail;
    }
    return r;
fail:
    Py_DECREF(r);
    return NULL;
}
