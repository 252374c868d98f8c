/* read.c: ts_read, a torch._C.Graph walked through the Python C API (see ts.h).
 *
 * Structure (nodes, values, types, constants, source locations) is copied into
 * the graph's arena; constants.c reads the constants' payloads. Tensor
 * constants are not copied: the reader takes a numpy view of each tensor and
 * keeps the Py_buffer (a ts_hold, malloc'd) until ts_graph_free() or
 * ts_transfer_holds().
 *
 * Values are matched by Value.unique(), which is graph-unique. Method names are
 * interned Python strings created once per read, so the per-node cost is the
 * method calls themselves.
 */
#include "torchscript/ts_int.h"
#include "ir/ir.h"

#include <stdlib.h>
#include <string.h>

static const char *const method_names[N_COUNT] = {
    "inputs", "outputs", "nodes", "kind", "inputsSize", "inputsAt", "outputsSize", "outputsAt",
    "blocks", "debugName", "unique", "type", "sizes", "getElementType", "sourceRange", "scopeName",
    "hasAttribute", "kindOf", "i", "f", "s", "t", "ival", "is_", "fs", "detach", "is_contiguous",
    "contiguous", "float", "numpy", "dtype", "attributeNames", "schema",
};

/* ---- errors ---- */

/* Fail with the pending Python exception's text appended; the exception stays
 * pending (the binding makes it the context of the raised error). */
int ts_py_fail(rd *r, const char *what, const char *kind) {
    char buf[600] = "";
    if (PyErr_Occurred()) {
        PyObject *t, *v, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyObject *s = v ? PyObject_Str(v) : NULL;
        const char *c = s ? PyUnicode_AsUTF8(s) : NULL;
        if (c) snprintf(buf, sizeof buf, ": %s", c);
        else PyErr_Clear();
        Py_XDECREF(s);
        PyErr_Restore(t, v, tb);
    }
    if (kind)
        return pc_fail(r->e, PC_E_CONVERT, "reading TorchScript node %d (%s): %s failed%s", r->nodeno, kind, what, buf);
    return pc_fail(r->e, PC_E_CONVERT, "reading TorchScript graph: %s failed%s", what, buf);
}

/* ---- small helpers ---- */

static int call_long(rd *r, PyObject *o, int m, int64_t *out) {
    PyObject *x = call0(r, o, m);
    if (!x) return -1;
    *out = PyLong_AsLongLong(x);
    Py_DECREF(x);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* A str result copied into the arena (NULL result -> -1). */
static int call_str(rd *r, PyObject *o, int m, const char **out) {
    PyObject *x = call0(r, o, m);
    if (!x) return -1;
    const char *s = PyUnicode_Check(x) ? PyUnicode_AsUTF8(x) : NULL;
    if (!s) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "expected a str");
        Py_DECREF(x);
        return -1;
    }
    *out = pc_strdup(r->a, s);
    Py_DECREF(x);
    if (!*out) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static const char *intern_kind(rd *r, const char *s) {
    for (int i = r->nkinds - 1; i >= 0; i--)
        if (strcmp(r->kinds[i], s) == 0) return r->kinds[i];
    if (r->nkinds == r->kindcap) {
        int cap = r->kindcap ? r->kindcap * 2 : 32;
        const char **k = pc_alloc(r->a, sizeof(*k) * (size_t)cap);
        if (!k) return NULL;
        if (r->nkinds) memcpy(k, r->kinds, sizeof(*k) * (size_t)r->nkinds);
        r->kinds = k;
        r->kindcap = cap;
    }
    const char *c = pc_strdup(r->a, s);
    if (c) r->kinds[r->nkinds++] = c;
    return c;
}

/* ---- value map ---- */

static uint64_t hash64(int64_t k) {
    uint64_t x = (uint64_t)k * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

static int map_grow(rd *r) {
    int64_t cap = r->mapcap ? r->mapcap * 2 : 1024;
    vslot *m = calloc((size_t)cap, sizeof *m);
    if (!m) return -1;
    for (int64_t i = 0; i < r->mapcap; i++) {
        if (!r->map[i].v) continue;
        uint64_t h = hash64(r->map[i].key) & (uint64_t)(cap - 1);
        while (m[h].v) h = (h + 1) & (uint64_t)(cap - 1);
        m[h] = r->map[i];
    }
    free(r->map);
    r->map = m;
    r->mapcap = cap;
    return 0;
}

static int map_put(rd *r, int64_t key, ts_value *v) {
    if ((r->mapn + 1) * 2 > r->mapcap && map_grow(r)) return -1;
    uint64_t h = hash64(key) & (uint64_t)(r->mapcap - 1);
    while (r->map[h].v && r->map[h].key != key) h = (h + 1) & (uint64_t)(r->mapcap - 1);
    if (!r->map[h].v) r->mapn++;
    r->map[h].key = key;
    r->map[h].v = v;
    return 0;
}

static ts_value *map_get(rd *r, int64_t key) {
    if (!r->mapcap) return NULL;
    uint64_t h = hash64(key) & (uint64_t)(r->mapcap - 1);
    while (r->map[h].v) {
        if (r->map[h].key == key) return r->map[h].v;
        h = (h + 1) & (uint64_t)(r->mapcap - 1);
    }
    return NULL;
}

/* ---- types ---- */

static ts_tykind kind_of_name(const char *k) {
    static const struct { const char *name; ts_tykind kind; } tab[] = {
        {"TensorType", TS_TY_TENSOR}, {"IntType", TS_TY_INT},          {"FloatType", TS_TY_FLOAT},
        {"BoolType", TS_TY_BOOL},     {"NoneType", TS_TY_NONE},        {"StringType", TS_TY_STR},
        {"DeviceObjType", TS_TY_DEVICE}, {"ListType", TS_TY_LIST},     {"TupleType", TS_TY_TUPLE},
        {"OptionalType", TS_TY_OPTIONAL}, {"NumberType", TS_TY_NUMBER}, {"ScalarTypeType", TS_TY_INT},
        {"LayoutType", TS_TY_INT},    {"MemoryFormatType", TS_TY_INT},
    };
    for (int i = 0; i < PC_ARRAY_LEN(tab); i++)
        if (strcmp(tab[i].name, k) == 0) return tab[i].kind;
    return TS_TY_OTHER;
}

static const char *simple_type_str(ts_tykind k) {
    switch (k) {
    case TS_TY_INT: return "int";
    case TS_TY_FLOAT: return "float";
    case TS_TY_BOOL: return "bool";
    case TS_TY_NONE: return "NoneType";
    case TS_TY_STR: return "str";
    case TS_TY_DEVICE: return "Device";
    case TS_TY_NUMBER: return "Scalar";
    default: return NULL;
    }
}

/* type.kind() of a type object -> ts_tykind. */
static int type_kind(rd *r, PyObject *ty, ts_tykind *out) {
    PyObject *k = call0(r, ty, N_KIND);
    if (!k) return -1;
    const char *s = PyUnicode_AsUTF8(k);
    if (!s) {
        Py_DECREF(k);
        return -1;
    }
    *out = kind_of_name(s);
    Py_DECREF(k);
    return 0;
}

/* Complete tensor sizes, or rank -1 when the type is incomplete. */
static int tensor_sizes(rd *r, PyObject *ty, ts_value *v) {
    v->rank = -1;
    PyObject *sz = call0(r, ty, N_SIZES);
    if (!sz) { /* incomplete types may throw */
        PyErr_Clear();
        return 0;
    }
    if (PyList_Check(sz) && PyList_GET_SIZE(sz) <= 8) {
        Py_ssize_t n = PyList_GET_SIZE(sz);
        int ok = 1;
        for (Py_ssize_t i = 0; i < n && ok; i++) {
            PyObject *d = PyList_GET_ITEM(sz, i);
            if (!PyLong_Check(d)) {
                ok = 0;
                break;
            }
            v->dims[i] = PyLong_AsLongLong(d);
            if (v->dims[i] < 0) ok = 0;
        }
        if (PyErr_Occurred()) PyErr_Clear();
        if (ok) v->rank = (int)n;
    }
    Py_DECREF(sz);
    return 0;
}

/* A new ts_value for a torch Value (name, type, shape) registered under its unique(). */
static ts_value *read_value(rd *r, PyObject *pv, const char *kind) {
    ts_value *v = ts_value_new(r->g);
    if (!v) {
        nomem(r);
        return NULL;
    }
    int64_t uniq;
    if (call_str(r, pv, N_DEBUG_NAME, &v->name) || call_long(r, pv, N_UNIQUE, &uniq)) {
        ts_py_fail(r, "Value.debugName()/unique()", kind);
        return NULL;
    }
    PyObject *ty = call0(r, pv, N_TYPE);
    if (!ty || type_kind(r, ty, &v->ty)) {
        Py_XDECREF(ty);
        ts_py_fail(r, "Value.type()", kind);
        return NULL;
    }
    int rc = 0;
    if (v->ty == TS_TY_LIST || v->ty == TS_TY_OPTIONAL) {
        PyObject *el = call0(r, ty, N_ELEM_TYPE);
        rc = (!el || type_kind(r, el, &v->elem)) ? -1 : 0;
        Py_XDECREF(el);
    } else if (v->ty == TS_TY_TENSOR) {
        rc = tensor_sizes(r, ty, v);
    }
    v->type_str = simple_type_str(v->ty);
    if (!rc && !v->type_str) {
        PyObject *s = PyObject_Str(ty);
        const char *c = s ? PyUnicode_AsUTF8(s) : NULL;
        v->type_str = c ? pc_strdup(r->a, c) : NULL;
        rc = v->type_str ? 0 : -1;
        Py_XDECREF(s);
    }
    Py_DECREF(ty);
    if (rc) {
        ts_py_fail(r, "reading a value's type", kind);
        return NULL;
    }
    if (map_put(r, uniq, v)) {
        nomem(r);
        return NULL;
    }
    return v;
}

static ts_value *lookup_value(rd *r, PyObject *pv, const char *kind) {
    int64_t uniq;
    if (call_long(r, pv, N_UNIQUE, &uniq)) {
        ts_py_fail(r, "Value.unique()", kind);
        return NULL;
    }
    ts_value *v = map_get(r, uniq);
    if (!v) pc_fail(r->e, PC_E_CONVERT, "reading TorchScript node %d (%s): an input is used before it is defined", r->nodeno, kind);
    return v;
}

/* ---- source locations ---- */

/* Scripted ranges: '  File "path", line N\n<context>\n<~~~ markers>'. */
static void parse_scripted(rd *r, const char *sr, ts_node *n) {
    const char *f = strstr(sr, "File \"");
    if (!f) return;
    f += 6;
    const char *fe = strchr(f, '"');
    if (!fe) return;
    const char *ln = strstr(fe, ", line ");
    if (!ln) return;
    long line = strtol(ln + 7, NULL, 10);
    const char *b = pc_path_base(f, fe);
    n->loc = pc_sprintf(r->a, "%.*s:%ld", (int)(fe - b), b, line);
    /* the source line is the one right above the first marker line */
    const char *prev = NULL, *prev_end = NULL;
    const char *p = strchr(ln, '\n');
    while (p && *p) {
        const char *s = p + 1, *e = strchr(s, '\n');
        if (!e) e = s + strlen(s);
        const char *q = s;
        while (q < e && *q == ' ') q++;
        if (q < e && *q == '~') {
            if (prev) n->src = pc_strndup_trim(r->a, prev, prev_end);
            return;
        }
        prev = s;
        prev_end = e;
        p = *e ? e : NULL;
    }
}

/* Traced ranges: one "path(LINE): func" per frame, innermost first. Keep the
 * innermost frame outside torch's own package. */
static void parse_traced(rd *r, const char *sr, ts_node *n) {
    for (const char *s = sr; s && *s;) {
        const char *e = strchr(s, '\n');
        if (!e) e = s + strlen(s);
        const char *lp = NULL;
        for (const char *q = s; q < e; q++)
            if (*q == '(') lp = q;
        if (lp && lp > s) {
            int in_torch = 0;
            for (const char *q = s; q + 7 <= lp; q++)
                if (memcmp(q, "/torch/", 7) == 0 || memcmp(q, "\\torch\\", 7) == 0) in_torch = 1;
            if (!in_torch) {
                long line = strtol(lp + 1, NULL, 10);
                const char *b = pc_path_base(s, lp);
                n->loc = pc_sprintf(r->a, "%.*s:%ld", (int)(lp - b), b, line);
                if (r->getline) {
                    PyObject *path = PyUnicode_FromStringAndSize(s, lp - s);
                    PyObject *txt = path ? PyObject_CallFunction(r->getline, "Ol", path, line) : NULL;
                    const char *c = txt && PyUnicode_Check(txt) ? PyUnicode_AsUTF8(txt) : NULL;
                    if (c) n->src = pc_strndup_trim(r->a, c, c + strcspn(c, "\n"));
                    if (!c) PyErr_Clear();
                    Py_XDECREF(txt);
                    Py_XDECREF(path);
                }
                return;
            }
        }
        s = *e ? e + 1 : NULL;
    }
}

/* node.sourceRange() and node.scopeName(): best effort (never fails the read). */
static void read_location(rd *r, PyObject *pn, ts_node *n) {
    PyObject *sr = call0(r, pn, N_SOURCE_RANGE);
    const char *s = sr && PyUnicode_Check(sr) ? PyUnicode_AsUTF8(sr) : NULL;
    if (s && *s) {
        if (strstr(s, "File \"")) parse_scripted(r, s, n);
        else parse_traced(r, s, n);
    }
    Py_XDECREF(sr);
    PyObject *sc = call0(r, pn, N_SCOPE_NAME);
    const char *c = sc && PyUnicode_Check(sc) ? PyUnicode_AsUTF8(sc) : NULL;
    if (c && *c) n->scope = pc_strdup(r->a, c);
    Py_XDECREF(sc);
    if (PyErr_Occurred()) PyErr_Clear();
}

/* ---- nodes and blocks ---- */

/* Kinds whose arguments are node attributes rather than inputs (all int-valued). */
static int has_int_attrs(const char *kind) { return strcmp(kind, "prim::ConstantChunk") == 0; }

/* The int attributes of n (has_int_attrs kinds): names and values into the arena. */
static int read_int_attrs(rd *r, PyObject *pn, ts_node *n) {
    PyObject *names = call0(r, pn, N_ATTRIBUTE_NAMES);
    PyObject *seq = names ? PySequence_Fast(names, "attribute names") : NULL;
    Py_XDECREF(names);
    if (!seq) return ts_py_fail(r, "Node.attributeNames()", n->kind);
    Py_ssize_t k = PySequence_Fast_GET_SIZE(seq);
    n->attr_names = pc_alloc(r->a, sizeof(*n->attr_names) * (size_t)(k ? k : 1));
    n->attr_ints = pc_alloc(r->a, sizeof(*n->attr_ints) * (size_t)(k ? k : 1));
    if (!n->attr_names || !n->attr_ints) {
        Py_DECREF(seq);
        return nomem(r);
    }
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *nm = PySequence_Fast_GET_ITEM(seq, i);
        const char *s = PyUnicode_Check(nm) ? PyUnicode_AsUTF8(nm) : NULL;
        PyObject *kd = s ? call1(r, pn, N_KIND_OF, nm) : NULL;
        const char *ks = kd ? PyUnicode_AsUTF8(kd) : NULL;
        int is_int = ks && strcmp(ks, "i") == 0;
        Py_XDECREF(kd);
        if (!s || !ks) {
            Py_DECREF(seq);
            return ts_py_fail(r, "reading the node's attributes", n->kind);
        }
        if (!is_int) continue; /* only int attributes are read */
        PyObject *v = call1(r, pn, N_I, nm);
        int64_t x = v ? PyLong_AsLongLong(v) : -1;
        Py_XDECREF(v);
        if (!v || (x == -1 && PyErr_Occurred())) {
            Py_DECREF(seq);
            return ts_py_fail(r, "reading an int attribute", n->kind);
        }
        if (!(n->attr_names[n->nattrs] = pc_strdup(r->a, s))) {
            Py_DECREF(seq);
            return nomem(r);
        }
        n->attr_ints[n->nattrs++] = x;
    }
    Py_DECREF(seq);
    return 0;
}

static int read_block_body(rd *r, PyObject *nodes_iter, PyObject *outs, ts_block *b);

/* Kinds that never carry blocks: skip the (costly) blocks() call for them. */
static int may_have_blocks(const char *kind) {
    if (strncmp(kind, "aten::", 6) == 0) return 0;
    static const char *const none[] = {"prim::Constant", "prim::ListConstruct", "prim::ListUnpack",
                                       "prim::TupleConstruct", "prim::TupleUnpack", "prim::NumToTensor",
                                       "prim::GetAttr", "prim::dtype", "prim::device"};
    for (int i = 0; i < PC_ARRAY_LEN(none); i++)
        if (strcmp(kind, none[i]) == 0) return 0;
    return 1;
}

/* A list of values from an iterable of torch Values, looked up (or created when make). */
static int read_value_seq(rd *r, PyObject *seq_obj, int make, int *n_out, ts_value ***out, const char *kind) {
    PyObject *seq = PySequence_Fast(seq_obj, "expected an iterable of values");
    if (!seq) return ts_py_fail(r, "listing values", kind);
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    ts_value **vs = pc_alloc(r->a, sizeof(*vs) * (size_t)(n ? n : 1));
    if (!vs) {
        Py_DECREF(seq);
        return nomem(r);
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *pv = PySequence_Fast_GET_ITEM(seq, i);
        vs[i] = make ? read_value(r, pv, kind) : lookup_value(r, pv, kind);
        if (!vs[i]) {
            Py_DECREF(seq);
            return -1;
        }
    }
    Py_DECREF(seq);
    *n_out = (int)n;
    *out = vs;
    return 0;
}

/* One value list via size + at(i) calls (cheaper than the iterator for nodes). */
static int read_node_values(rd *r, PyObject *pn, int msize, int mat, int make, int *n_out, ts_value ***out,
                            const char *kind) {
    int64_t n;
    if (call_long(r, pn, msize, &n)) return ts_py_fail(r, "Node.inputsSize()/outputsSize()", kind);
    ts_value **vs = pc_alloc(r->a, sizeof(*vs) * (size_t)(n ? n : 1));
    if (!vs) return nomem(r);
    for (int64_t i = 0; i < n; i++) {
        PyObject *idx = PyLong_FromLongLong(i);
        PyObject *pv = idx ? call1(r, pn, mat, idx) : NULL;
        Py_XDECREF(idx);
        if (!pv) return ts_py_fail(r, "Node.inputsAt()/outputsAt()", kind);
        vs[i] = make ? read_value(r, pv, kind) : lookup_value(r, pv, kind);
        Py_DECREF(pv);
        if (!vs[i]) return -1;
    }
    *n_out = (int)n;
    *out = vs;
    return 0;
}

static ts_block *read_block(rd *r, PyObject *pb, const char *kind) {
    ts_block *b = pc_alloc(r->a, sizeof *b);
    if (!b) {
        nomem(r);
        return NULL;
    }
    PyObject *ins = call0(r, pb, N_INPUTS);
    int rc = ins ? read_value_seq(r, ins, 1, &b->nin, &b->in, kind) : ts_py_fail(r, "Block.inputs()", kind);
    Py_XDECREF(ins);
    if (rc) return NULL;
    PyObject *nodes = call0(r, pb, N_NODES);
    PyObject *outs = nodes ? call0(r, pb, N_OUTPUTS) : NULL;
    rc = outs ? read_block_body(r, nodes, outs, b) : ts_py_fail(r, "Block.nodes()/outputs()", kind);
    Py_XDECREF(nodes);
    Py_XDECREF(outs);
    return rc ? NULL : b;
}

/* The arguments a schema string marks written ("t::op(Tensor x, Tensor(a1!) out, float k) -> Tensor": bit 1):
 * an argument's type (its text before the first space at depth 0) holds a '!'. */
static uint64_t schema_writes(const char *s, int kwarg_only) {
    const char *p = strchr(s, '(');
    uint64_t w = 0;
    if (!p) return 0;
    int arg = 0, depth = 0, in_type = 1, star = 0, kw = 0;
    char quote = 0;
    for (p++; *p && arg < 64; p++) {
        char c = *p;
        if (quote) {
            if (c == quote) quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '(' || c == '[') {
            depth++;
        } else if (c == ')' || c == ']') {
            if (depth-- == 0) break;
        } else if (depth == 0 && c == ',') {
            arg += !star; /* "*, Scalar alpha": the marker is no argument */
            star = 0;
            in_type = 1;
        } else if (depth == 0 && c == '*') {
            star = kw = 1;
        } else if (depth == 0 && c == ' ' && p[-1] != ',') {
            in_type = 0;
        } else if (c == '!' && in_type && (kw || !kwarg_only)) {
            w |= (uint64_t)1 << arg;
        }
    }
    return w;
}

/* read_writes' memo: the overload a node calls follows from its kind, its number of inputs and its last
 * input's type (an out= variant takes one more tensor, or a tensor where another overload takes a str). */
typedef struct {
    const char *kind; /* interned */
    int nin;
    ts_tykind last;
    uint64_t writes;
} writes_memo;

/* The inputs n's op writes (ts_node.writes) from Node.schema(): a custom op's, and an out= variant's
 * (keyword-only) `out`; aten's in-place ops (self) are known by name, and a few aten ops write positional
 * arguments the lowering does not follow (native_batch_norm's running stats, at inference unchanged). */
static int read_writes(rd *r, PyObject *pn, ts_node *n) {
    if (strncmp(n->kind, "prim::", 6) == 0) return 0;
    int aten = strncmp(n->kind, "aten::", 6) == 0;
    ts_tykind last = n->nin ? n->in[n->nin - 1]->ty : TS_TY_NONE;
    for (int i = 0; i < r->writes.n; i++) {
        const writes_memo *m = r->writes.v[i];
        if (m->kind == n->kind && m->nin == n->nin && m->last == last) {
            n->writes = m->writes;
            return 0;
        }
    }
    writes_memo *m = pc_alloc(r->a, sizeof *m);
    if (!m || pc_vec_push(r->a, &r->writes, m)) return nomem(r);
    *m = (writes_memo){n->kind, n->nin, last, 0};
    PyObject *s = call0(r, pn, N_SCHEMA);
    const char *str = s ? PyUnicode_AsUTF8(s) : NULL;
    if (!str) {
        Py_XDECREF(s);
        PyErr_Clear(); /* a node without a schema writes nothing we know of */
        return 0;
    }
    n->writes = m->writes = schema_writes(str, aten);
    Py_DECREF(s);
    return 0;
}

static ts_node *read_node(rd *r, PyObject *pn) {
    ts_node *n = pc_alloc(r->a, sizeof *n);
    if (!n) {
        nomem(r);
        return NULL;
    }
    r->nodeno++;
    PyObject *k = call0(r, pn, N_KIND);
    const char *ks = k ? PyUnicode_AsUTF8(k) : NULL;
    n->kind = ks ? intern_kind(r, ks) : NULL;
    Py_XDECREF(k);
    if (!n->kind) {
        if (!ks) ts_py_fail(r, "Node.kind()", NULL);
        else nomem(r);
        return NULL;
    }
    if (read_node_values(r, pn, N_INPUTS_SIZE, N_INPUTS_AT, 0, &n->nin, &n->in, n->kind)) return NULL;
    if (read_writes(r, pn, n)) return NULL;
    if (may_have_blocks(n->kind)) {
        PyObject *bl = call0(r, pn, N_BLOCKS);
        PyObject *seq = bl ? PySequence_Fast(bl, "blocks") : NULL;
        Py_XDECREF(bl);
        if (!seq) {
            ts_py_fail(r, "Node.blocks()", n->kind);
            return NULL;
        }
        n->nblocks = (int)PySequence_Fast_GET_SIZE(seq);
        n->blocks = pc_alloc(r->a, sizeof(*n->blocks) * (size_t)(n->nblocks ? n->nblocks : 1));
        if (!n->blocks) {
            Py_DECREF(seq);
            nomem(r);
            return NULL;
        }
        for (int i = 0; i < n->nblocks; i++) {
            n->blocks[i] = read_block(r, PySequence_Fast_GET_ITEM(seq, i), n->kind);
            if (!n->blocks[i]) {
                Py_DECREF(seq);
                return NULL;
            }
        }
        Py_DECREF(seq);
    }
    if (read_node_values(r, pn, N_OUTPUTS_SIZE, N_OUTPUTS_AT, 1, &n->nout, &n->out, n->kind)) return NULL;
    for (int i = 0; i < n->nout; i++) {
        n->out[i]->def = n;
        n->out[i]->index = i;
    }
    int is_const = strcmp(n->kind, "prim::Constant") == 0;
    if (is_const && n->nout == 1 && ts_read_constant(r, pn, n)) return NULL;
    if (!is_const && has_int_attrs(n->kind) && read_int_attrs(r, pn, n)) return NULL;
    if (!is_const) read_location(r, pn, n);
    return n;
}

static int read_block_body(rd *r, PyObject *nodes_iter, PyObject *outs, ts_block *b) {
    PyObject *it = PyObject_GetIter(nodes_iter);
    if (!it) return ts_py_fail(r, "iterating nodes", NULL);
    pc_vec v = {0};
    PyObject *pn;
    while ((pn = PyIter_Next(it))) {
        ts_node *n = read_node(r, pn);
        Py_DECREF(pn);
        if (!n || pc_vec_push(r->a, &v, n)) {
            Py_DECREF(it);
            return n ? nomem(r) : -1;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) return ts_py_fail(r, "iterating nodes", NULL);
    b->nnodes = v.n;
    b->nodes = (ts_node **)v.v;
    return read_value_seq(r, outs, 0, &b->nout, &b->out, "return");
}

static void rd_clear(rd *r) {
    for (int i = 0; i < N_COUNT; i++) Py_XDECREF(r->nm[i]);
    Py_XDECREF(r->s_value);
    Py_XDECREF(r->bfloat16);
    Py_XDECREF(r->getline);
    free(r->map);
}

static int rd_init(rd *r) {
    for (int i = 0; i < N_COUNT; i++)
        if (!(r->nm[i] = PyUnicode_InternFromString(method_names[i]))) return -1;
    if (!(r->s_value = PyUnicode_InternFromString("value"))) return -1;
    PyObject *torch = PyImport_ImportModule("torch");
    if (!torch) return -1;
    r->bfloat16 = PyObject_GetAttrString(torch, "bfloat16");
    Py_DECREF(torch);
    if (!r->bfloat16) return -1;
    PyObject *lc = PyImport_ImportModule("linecache");
    if (lc) {
        r->getline = PyObject_GetAttrString(lc, "getline");
        Py_DECREF(lc);
    }
    if (!r->getline) PyErr_Clear(); /* source text is optional */
    return 0;
}

int ts_read(void *py_graph, ts_graph **out, pc_err *e) {
    PyObject *graph = py_graph;
    *out = NULL;
    pc_arena *a = pc_arena_new();
    ts_graph *g = a ? pc_alloc(a, sizeof *g) : NULL;
    if (!g) {
        pc_arena_free(a);
        return pc_fail(e, PC_E_NOMEM, "reading TorchScript graph: out of memory");
    }
    g->arena = a;
    rd r = {.a = a, .g = g, .e = e};
    int rc = -1;
    int gc_was_on = PyGC_Disable(); /* the read makes many short-lived objects and no cycles */
    if (rd_init(&r)) {
        ts_py_fail(&r, "setting up the reader (import torch)", NULL);
        goto done;
    }
    g->top = pc_alloc(a, sizeof *g->top);
    if (!g->top) {
        nomem(&r);
        goto done;
    }
    PyObject *ins = call0(&r, graph, N_INPUTS);
    if (!ins) {
        ts_py_fail(&r, "Graph.inputs() (is this a torch._C.Graph?)", NULL);
        goto done;
    }
    rc = read_value_seq(&r, ins, 1, &g->top->nin, &g->top->in, "graph input");
    Py_DECREF(ins);
    if (rc) goto done;
    rc = -1;
    PyObject *nodes = call0(&r, graph, N_NODES);
    PyObject *outs = nodes ? call0(&r, graph, N_OUTPUTS) : NULL;
    if (!outs) {
        Py_XDECREF(nodes);
        ts_py_fail(&r, "Graph.nodes()/outputs()", NULL);
        goto done;
    }
    rc = read_block_body(&r, nodes, outs, g->top);
    Py_DECREF(nodes);
    Py_DECREF(outs);
    if (rc) goto done;
    g->has_self = g->top->nin > 0 && g->top->in[0]->ty == TS_TY_OTHER;
    rc = 0;
done:
    rd_clear(&r);
    if (gc_was_on) PyGC_Enable();
    if (rc) {
        ts_graph_free(g);
        return -1;
    }
    *out = g;
    return 0;
}

void ts_pybuf_release(void *obj) {
    ts_pybuf *h = obj;
    PyGILState_STATE st = PyGILState_Ensure();
    PyBuffer_Release(&h->view);
    PyGILState_Release(st);
    free(h);
}

