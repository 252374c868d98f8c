/* read.c: ex_read, a serialized ExportedProgram (JSON) read into a ts_graph (see export.h).
 *
 * The document is parsed into a temporary arena; what the graph keeps (names, kinds, constants,
 * locations) is copied into the graph's arena. The graph's inputs are the user inputs; parameters,
 * buffers and tensor constants become prim::Constant nodes at the top, their data resolved through
 * ex_weights (read in place); each op node becomes a ts_node whose inputs args.c builds in schema
 * order, defaults filled in.
 */
#include "export/ex_int.h"
#include "lower/lower.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the string map ---- */

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

int ex_map_put(pc_arena *a, ex_map *m, const char *key, void *val) {
    if ((m->n + 1) * 2 > m->cap) {
        ex_map nm = {.cap = m->cap ? m->cap * 2 : 256};
        nm.key = pc_alloc(a, sizeof(*nm.key) * (size_t)nm.cap);
        nm.val = pc_alloc(a, sizeof(*nm.val) * (size_t)nm.cap);
        if (!nm.key || !nm.val) return -1;
        for (int i = 0; i < m->cap; i++)
            if (m->key[i]) {
                int h = (int)(str_hash(m->key[i]) & (uint64_t)(nm.cap - 1));
                while (nm.key[h]) h = (h + 1) & (nm.cap - 1);
                nm.key[h] = m->key[i];
                nm.val[h] = m->val[i];
            }
        nm.n = m->n;
        *m = nm;
    }
    int h = (int)(str_hash(key) & (uint64_t)(m->cap - 1));
    while (m->key[h] && strcmp(m->key[h], key) != 0) h = (h + 1) & (m->cap - 1);
    if (!m->key[h]) m->n++;
    m->key[h] = key;
    m->val[h] = val;
    return 0;
}

void *ex_map_get(const ex_map *m, const char *key) {
    if (!m->cap) return NULL;
    int h = (int)(str_hash(key) & (uint64_t)(m->cap - 1));
    while (m->key[h]) {
        if (strcmp(m->key[h], key) == 0) return m->val[h];
        h = (h + 1) & (m->cap - 1);
    }
    return NULL;
}

/* ---- errors ---- */

int ex_fail(exr *r, pc_errkind kind, const char *fmt, ...) {
    char buf[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!r->target) return pc_fail(r->e, kind, "reading the exported program: %s", buf);
    const ts_node *n = r->cur;
    return pc_fail(r->e, kind, "reading the exported program: %s%s%s%s%s: %s", r->target,
                   n && n->loc ? " at " : "", n && n->loc ? n->loc : "", n && n->src ? ": " : "",
                   n && n->src ? n->src : "", buf);
}

static int nomem(exr *r) { return pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory"); }

static int bad(exr *r, const char *what) {
    return pc_fail(r->e, PC_E_FORMAT, "reading the exported program: not a serialized ExportedProgram (%s)", what);
}

/* ---- JSON helpers ---- */

static const pc_json *obj_get(const pc_json *j, const char *key, pc_jskind kind) {
    const pc_json *v = pc_json_get(j, key);
    return v && v->kind == kind ? v : NULL;
}

static const char *obj_str(const pc_json *j, const char *key) {
    const pc_json *v = obj_get(j, key, PC_JS_STR);
    return v ? v->str : NULL;
}

const char *ex_union_of(const pc_json *j, const pc_json **val) {
    if (!j || j->kind != PC_JS_OBJ || j->n != 1) return NULL;
    *val = j->items[0];
    return j->keys[0];
}

int ex_json_int(const pc_json *j, int64_t *out) {
    if (!j || j->kind != PC_JS_NUM) return -1;
    *out = j->is_int ? j->i : (int64_t)j->num;
    return 0;
}

int ex_json_float(const pc_json *j, double *out) {
    if (j && j->kind == PC_JS_NUM) {
        *out = j->num;
        return 0;
    }
    if (j && j->kind == PC_JS_STR) {
        if (strcmp(j->str, "Infinity") == 0) *out = INFINITY;
        else if (strcmp(j->str, "-Infinity") == 0) *out = -INFINITY;
        else if (strcmp(j->str, "NaN") == 0) *out = NAN;
        else return -1;
        return 0;
    }
    return -1;
}

/* ---- codes ---- */

/* torch.export's ScalarType (schema.py) -> TorchScript's code; -1 for a dtype Core ML cannot hold. */
int ex_dtype_code(int64_t serde) {
    static const int map[] = {
        [1] = TS_UINT8, [2] = TS_INT8, [3] = TS_INT16, [4] = TS_INT32, [5] = TS_INT64, [6] = TS_HALF,
        [7] = TS_FLOAT, [8] = TS_DOUBLE, [9] = TS_COMPLEX_HALF, [10] = TS_COMPLEX_FLOAT,
        [11] = TS_COMPLEX_DOUBLE, [12] = TS_BOOL, [13] = TS_BFLOAT16,
    };
    if (serde < 1 || serde >= PC_ARRAY_LEN(map)) return -1;
    return serde == 1 ? TS_UINT8 : map[serde] ? map[serde] : -1;
}

/* ---- values and nodes ---- */

static ts_value *new_value(exr *r, const char *name, ts_tykind ty) {
    ts_value *v = ts_value_new(r->g);
    if (!v) {
        nomem(r);
        return NULL;
    }
    v->ty = ty;
    static const char *const tystr[] = {[TS_TY_TENSOR] = "Tensor", [TS_TY_INT] = "int", [TS_TY_FLOAT] = "float",
                                        [TS_TY_BOOL] = "bool", [TS_TY_NONE] = "NoneType", [TS_TY_STR] = "str",
                                        [TS_TY_DEVICE] = "Device", [TS_TY_LIST] = "list", [TS_TY_TUPLE] = "tuple",
                                        [TS_TY_OPTIONAL] = "Optional", [TS_TY_NUMBER] = "Scalar",
                                        [TS_TY_OTHER] = "object"};
    v->type_str = tystr[ty];
    if (name) {
        if (ex_map_get(&r->values, name)) {
            ex_fail(r, PC_E_FORMAT, "the value '%s' is defined twice", name);
            return NULL;
        }
        if (!(v->name = pc_strdup(r->a, name)) || ex_map_put(r->a, &r->values, v->name, v)) {
            nomem(r);
            return NULL;
        }
    }
    return v;
}

/* A tensor value named `name`, typed from graph.tensor_values when it is there. */
static ts_value *new_tensor(exr *r, const char *name) {
    ts_value *v = new_value(r, name, TS_TY_TENSOR);
    if (!v) return NULL;
    const pc_json *meta = ex_map_get(&r->tmeta, name);
    const pc_json *sizes = meta ? obj_get(meta, "sizes", PC_JS_ARR) : NULL;
    if (sizes && sizes->n <= 8) {
        int ok = 1;
        for (int i = 0; i < sizes->n && ok; i++) {
            const pc_json *d;
            const char *k = ex_union_of(sizes->items[i], &d);
            ok = k && strcmp(k, "as_int") == 0 && !ex_json_int(d, &v->dims[i]) && v->dims[i] >= 0;
        }
        if (ok) v->rank = sizes->n;
    }
    return v;
}

/* Kinds are interned (one string per kind, as the TorchScript reader's: the lowering compares pointers). */
static const char *intern_kind(exr *r, const char *kind) {
    const char *k = ex_map_get(&r->kinds, kind);
    if (k) return k;
    char *c = pc_strdup(r->a, kind);
    return c && !ex_map_put(r->a, &r->kinds, c, c) ? c : NULL;
}

ts_node *ex_node(exr *r, const char *kind, int nin, int nout) {
    ts_node *n = pc_alloc(r->a, sizeof *n);
    if (!n || !(n->kind = intern_kind(r, kind))) goto oom;
    n->nin = nin;
    n->nout = nout;
    n->in = pc_alloc(r->a, sizeof(*n->in) * (size_t)(nin ? nin : 1));
    n->out = pc_alloc(r->a, sizeof(*n->out) * (size_t)(nout ? nout : 1));
    if (!n->in || !n->out || pc_vec_push(r->a, &r->nodes, n)) goto oom;
    return n;
oom:
    nomem(r);
    return NULL;
}

static void set_out(ts_node *n, int i, ts_value *v) {
    n->out[i] = v;
    v->def = n;
    v->index = i;
}

/* A prim::Constant node whose output (named `name`, NULL: anonymous) holds c. */
ts_value *ex_const(exr *r, const char *name, const ts_const *c) {
    ts_tykind ty;
    switch (c->kind) {
    case TS_C_NONE: ty = TS_TY_NONE; break;
    case TS_C_INT: ty = TS_TY_INT; break;
    case TS_C_FLOAT: ty = TS_TY_FLOAT; break;
    case TS_C_BOOL: ty = TS_TY_BOOL; break;
    case TS_C_STR: ty = TS_TY_STR; break;
    case TS_C_DEVICE: ty = TS_TY_DEVICE; break;
    case TS_C_TENSOR: ty = TS_TY_TENSOR; break;
    case TS_C_INTS: case TS_C_FLOATS: case TS_C_BOOLS: case TS_C_STRS: ty = TS_TY_LIST; break;
    default: ty = TS_TY_OTHER; break;
    }
    ts_value *v = new_value(r, name, ty);
    ts_const *k = v ? pc_alloc(r->a, sizeof *k) : NULL;
    ts_node *n = k ? ex_node(r, "prim::Constant", 0, 1) : NULL;
    if (!n) {
        if (v && !k) nomem(r);
        return NULL;
    }
    *k = *c;
    v->konst = k;
    v->elem = c->kind == TS_C_INTS ? TS_TY_INT : c->kind == TS_C_FLOATS ? TS_TY_FLOAT
            : c->kind == TS_C_BOOLS ? TS_TY_BOOL : c->kind == TS_C_STRS ? TS_TY_STR : TS_TY_OTHER;
    if (c->kind == TS_C_TENSOR) {
        v->rank = c->t.rank;
        memcpy(v->dims, c->t.dims, sizeof v->dims);
    }
    if (!v->name && !(v->name = pc_sprintf(r->a, "c%d", v->id))) {
        nomem(r);
        return NULL;
    }
    set_out(n, 0, v);
    return v;
}

ts_value *ex_value(exr *r, const char *name) {
    ts_value *v = ex_map_get(&r->values, name);
    if (!v) ex_fail(r, PC_E_FORMAT, "the value '%s' is used before it is defined", name);
    return v;
}

/* ---- source locations ---- */

/* stack_trace: 'File "path", line N, in fn\n    code' per frame, outermost first. The innermost frame
 * outside torch's own package is the user's line; code torch generated ("<eval_with_key>.5", a higher-order
 * op's body) only when there is no other. */
static void parse_stack(exr *r, const char *st, ts_node *n) {
    const char *best = NULL, *generated = NULL;
    for (const char *f = strstr(st, "File \""); f; f = strstr(f + 6, "File \"")) {
        const char *p = f + 6, *pe = strchr(p, '"');
        if (!pe) break;
        int in_torch = 0;
        for (const char *q = p; q + 7 <= pe; q++)
            if (memcmp(q, "/torch/", 7) == 0 || memcmp(q, "\\torch\\", 7) == 0) in_torch = 1;
        if (!in_torch && *p == '<') generated = f;
        else if (!in_torch) best = f;
    }
    if (!best) best = generated;
    if (!best) return;
    const char *p = best + 6, *pe = strchr(p, '"');
    const char *ln = strstr(pe, ", line ");
    if (!ln) return;
    long line = strtol(ln + 7, NULL, 10);
    const char *b = pc_path_base(p, pe);
    n->loc = pc_sprintf(r->a, "%.*s:%ld", (int)(pe - b), b, line);
    const char *nl = strchr(ln, '\n');
    if (nl) {
        const char *s = nl + 1, *e = strchr(s, '\n');
        if (!e) e = s + strlen(s);
        if (!(e - s >= 7 && memcmp(s + strspn(s, " "), "File \"", 6) == 0)) n->src = pc_strndup_trim(r->a, s, e);
    }
}

/* nn_module_stack: "key,fqn,class;key,fqn,class" outermost first -> "__module.<innermost fqn>". */
static void parse_scope(exr *r, const char *ms, ts_node *n) {
    const char *last = ms;
    for (const char *p = ms; *p; p++)
        if (*p == ';') last = p + 1;
    const char *c1 = strchr(last, ',');
    const char *c2 = c1 ? strchr(c1 + 1, ',') : NULL;
    if (!c2) return;
    n->scope = c2 > c1 + 1 ? pc_sprintf(r->a, "__module.%.*s", (int)(c2 - c1 - 1), c1 + 1) : "__module";
}

/* ---- nodes ---- */


/* Ops that only check (or constrain symbols) and compute nothing a converted model needs. */
static int dropped(const char *op) {
    return strncmp(op, "_assert_", 8) == 0 || strncmp(op, "sym_constrain_range", 19) == 0 ||
           strncmp(op, "_functional_sym_constrain_range", 31) == 0 || strcmp(op, "_functional_assert_async") == 0 ||
           strcmp(op, "_functional_assert_scalar") == 0;
}

/* The outputs of node n (JSON array `outs`): tensors, symbolic scalars, lists of tensors (a list value
 * and a prim::ListUnpack after n). */
static int read_outputs(exr *r, ts_node *n, const pc_json *outs) {
    int k = outs ? outs->n : 0;
    n->nout = k;
    if (!(n->out = pc_alloc(r->a, sizeof(*n->out) * (size_t)(k ? k : 1)))) return nomem(r);
    for (int i = 0; i < k; i++) {
        const pc_json *v;
        const char *u = ex_union_of(outs->items[i], &v);
        ts_value *o = NULL;
        const char *nm;
        if (!u) return ex_fail(r, PC_E_FORMAT, "output %d is not an argument", i);
        if (strcmp(u, "as_tensor") == 0 && (nm = obj_str(v, "name"))) {
            o = new_tensor(r, nm);
        } else if ((strcmp(u, "as_sym_int") == 0 || strcmp(u, "as_sym_bool") == 0 || strcmp(u, "as_sym_float") == 0) &&
                   (nm = obj_str(v, "as_name"))) {
            o = new_value(r, nm, u[7] == 'i' ? TS_TY_INT : u[7] == 'b' ? TS_TY_BOOL : TS_TY_FLOAT);
        } else if (strcmp(u, "as_tensors") == 0 && v->kind == PC_JS_ARR) {
            o = new_value(r, NULL, TS_TY_LIST);
            if (!o) return -1;
            o->elem = TS_TY_TENSOR;
            const char *first = v->n ? obj_str(v->items[0], "name") : NULL;
            if (!(o->name = pc_sprintf(r->a, "%s_list", first ? first : "empty"))) return nomem(r);
            ts_node *un = ex_node(r, "prim::ListUnpack", 1, v->n);
            if (!un) return -1;
            un->in[0] = o;
            un->loc = n->loc, un->src = n->src, un->scope = n->scope;
            for (int j = 0; j < v->n; j++) {
                const char *en = obj_str(v->items[j], "name");
                if (!en) return ex_fail(r, PC_E_FORMAT, "output %d: a list element without a name", i);
                ts_value *ev = new_tensor(r, en);
                if (!ev) return -1;
                set_out(un, j, ev);
            }
        } else if (strcmp(u, "as_none") == 0) {
            o = new_value(r, NULL, TS_TY_NONE);
            if (o && !(o->name = pc_sprintf(r->a, "none%d", o->id))) return nomem(r);
        } else {
            return ex_fail(r, PC_E_UNSUPPORTED, "an output of kind %s cannot be read yet", u);
        }
        if (!o) return -1;
        set_out(n, i, o);
    }
    return 0;
}

/* node n's location from its metadata */
static void read_metadata(exr *r, const pc_json *jn, ts_node *n) {
    const pc_json *md = obj_get(jn, "metadata", PC_JS_OBJ);
    const char *st = md ? obj_str(md, "stack_trace") : NULL;
    const char *ms = md ? obj_str(md, "nn_module_stack") : NULL;
    if (st) parse_stack(r, st, n);
    if (ms) parse_scope(r, ms, n);
}

/* Python's operators on symbolic sizes (operator.mul(s0, 2), math.ceil, torch.sym_max) as the TorchScript
 * kinds of the same arithmetic on ints: the registry lowers those, folding what is known at conversion time. */
static const struct { const char *target, *key; } sym_ops[] = {
    {"_operator.add", "aten::add.int"},          {"_operator.sub", "aten::sub.int"},
    {"_operator.mul", "aten::mul.int"},          {"_operator.floordiv", "aten::floordiv.int"},
    {"_operator.mod", "aten::remainder.int"},    {"_operator.truediv", "aten::div.int"},
    {"_operator.pow", "aten::pow.int"},          {"_operator.neg", "aten::neg.int"},
    {"_operator.eq", "aten::eq.int"},            {"_operator.ne", "aten::ne.int"},
    {"_operator.lt", "aten::lt.int"},            {"_operator.le", "aten::le.int"},
    {"_operator.gt", "aten::gt.int"},            {"_operator.ge", "aten::ge.int"},
    {"_operator.and_", "aten::__and__.bool"},    {"_operator.or_", "aten::__or__.bool"},
    {"_operator.not_", "aten::__not__.default"}, {"torch.sym_not", "aten::__not__.default"},
    {"torch.sym_max", "prim::max.int"},          {"torch.sym_min", "prim::min.int"},
    {"torch.sym_float", "aten::Float.Scalar"},   {"torch.sym_int", "aten::Int.Scalar"},
    {"math.ceil", "aten::ceil.float"},           {"math.floor", "aten::floor.float"},
};

static int read_node(exr *r, const pc_json *jn) {
    const char *target = obj_str(jn, "target");
    const pc_json *inputs = obj_get(jn, "inputs", PC_JS_ARR), *outs = obj_get(jn, "outputs", PC_JS_ARR);
    if (!target || !inputs || !outs) return bad(r, "a node without target, inputs or outputs");
    r->target = target;
    ts_node tmp = {0}; /* the location, before the node exists (messages about its arguments) */
    read_metadata(r, jn, &tmp);
    r->cur = &tmp;
    int sym = ex_read_symbolic(r, target, jn, &tmp);
    if (sym <= 0) return sym;
    const char *name = target + 10;
    char mapped[96];
    if (strncmp(target, "torch.ops.", 10) != 0) {
        const char *key = NULL;
        for (int i = 0; i < PC_ARRAY_LEN(sym_ops) && !key; i++)
            if (strcmp(sym_ops[i].target, target) == 0 || (strncmp(target, "operator.", 9) == 0 &&
                                                           strcmp(sym_ops[i].target + 1, target) == 0))
                key = sym_ops[i].key;
        if (!key)
            return ex_fail(r, PC_E_UNSUPPORTED, "'%s' is not an operator torch.ops names; only aten ops, registered "
                           "custom ops and arithmetic on sizes can be converted", target);
        /* "ns::op.overload" spelled as the torch.ops tail "ns.op.overload" for the parse below */
        snprintf(mapped, sizeof mapped, "%s", key);
        char *sep = strstr(mapped, "::");
        memmove(sep + 1, sep + 2, strlen(sep + 2) + 1);
        *sep = '.';
        name = mapped;
    }
    const char *dot = strchr(name, '.');
    if (!dot) return ex_fail(r, PC_E_FORMAT, "a target without a namespace");
    const char *op = dot + 1, *ov = strrchr(op, '.');
    if (!ov) ov = op + strlen(op);
    char ns[64], opname[160], key[256];
    if (dot - name >= (long)sizeof ns || ov - op >= (long)sizeof opname)
        return ex_fail(r, PC_E_FORMAT, "an operator name too long");
    memcpy(ns, name, (size_t)(dot - name));
    ns[dot - name] = 0;
    memcpy(opname, op, (size_t)(ov - op));
    opname[ov - op] = 0;
    if (strcmp(ns, "higher_order") == 0) return ex_read_hop(r, opname, jn, &tmp);
    if (strcmp(ns, "aten") == 0 && dropped(opname)) return 0;
    snprintf(key, sizeof key, "%s::%s.%s", ns, opname, *ov ? ov + 1 : "default");
    /* the kind: "ns::op", or "ns::op.overload" when the registry has a row of that overload */
    const char *kind = NULL;
    int row = lower_row_lookup(key);
    if (row >= 0 && strchr(lower_row_kind(row), '.')) kind = lower_row_kind(row);
    char plain[230];
    snprintf(plain, sizeof plain, "%s::%s", ns, opname);
    if (!kind) kind = plain;
    const char *args = NULL, *rets = NULL;
    /* a kind the registry lowers is read with its schema (its functions index the arguments TorchScript gives
       them); an op without a row is a custom op, for a register_torch_op converter, arguments in order */
    if (ex_find_row(r->o, key, 0, &args, &rets) && row >= 0)
        return ex_fail(r, PC_E_UNSUPPORTED, "%s has no row in csrc/export/aten_schemas.def, so its left-out "
                       "arguments cannot be filled in", key);
    if (rets) {
        int want = ex_schema_nreturns(rets);
        if (outs->n != want)
            return ex_fail(r, PC_E_FORMAT, "%d outputs where the op's schema returns %d", outs->n, want);
    }
    ts_node *n = ex_node(r, kind, 0, 0);
    if (!n) return -1;
    n->loc = tmp.loc, n->src = tmp.src, n->scope = tmp.scope;
    if (!(n->schema = pc_strdup(r->a, key))) return nomem(r);
    /* the node goes after the constants its arguments make: take it out, read the arguments, put it back */
    r->nodes.n--;
    r->cur = n;
    if (ex_read_args(r, n, inputs, args)) return -1;
    if (pc_vec_push(r->a, &r->nodes, n)) return nomem(r);
    if (read_outputs(r, n, outs)) return -1;
    return ex_buffer_write(r, n, opname);
}

int ex_read_node(exr *r, const pc_json *jn) { return read_node(r, jn); }
int ex_read_outputs(exr *r, ts_node *n, const pc_json *outs) { return read_outputs(r, n, outs); }

/* ---- inputs, lifted tensors, outputs ---- */

static int lifted(exr *r, const char *arg, const char *fqn, ex_wkind kind) {
    ts_const c = {.kind = TS_C_TENSOR};
    if (!r->w || !r->w->get) return ex_fail(r, PC_E_VALUE, "no weights were given to resolve '%s'", fqn);
    int rc = r->w->get(r->w->ud, fqn, kind, r->g, &c.t, r->e);
    if (rc < 0) return -1;
    static const char *const what[] = {"parameter", "buffer", "tensor constant"};
    if (rc > 0) return ex_fail(r, PC_E_VALUE, "the %s '%s' is not among the program's weights", what[kind], fqn);
    const pc_json *meta = ex_map_get(&r->tmeta, arg);
    const pc_json *sizes = meta ? obj_get(meta, "sizes", PC_JS_ARR) : NULL;
    if (sizes) {
        int ok = sizes->n == c.t.rank;
        for (int i = 0; ok && i < sizes->n; i++) {
            const pc_json *d;
            int64_t x;
            const char *k = ex_union_of(sizes->items[i], &d);
            ok = k && strcmp(k, "as_int") == 0 && !ex_json_int(d, &x) && x == c.t.dims[i];
        }
        if (!ok) return ex_fail(r, PC_E_VALUE, "the %s '%s' has another shape than the program says", what[kind], fqn);
    }
    ts_value *v = ex_const(r, NULL, &c);
    if (!v) return -1;
    /* the MIL const is named after the fully-qualified name; the graph refers to it by the arg name */
    if (!(v->name = pc_strdup(r->a, fqn)) || ex_map_put(r->a, &r->values, pc_strdup(r->a, arg), v)) return nomem(r);
    if (kind == EX_W_BUFFER && (pc_vec_push(r->a, &r->bufs, v) || pc_vec_push(r->a, &r->bufs, (void *)v->name) ||
                                pc_vec_push(r->a, &r->bufs, v)))
        return nomem(r);
    return 0;
}

/* The states: the buffers (fully-qualified names) the caller keeps as Core ML states, and the graph input each
 * becomes (set by read_inputs). */
typedef struct {
    const char *const *names;
    int n;
    ts_value **in;
} ex_states;

static int state_index(const ex_states *st, const char *fqn) {
    for (int i = 0; fqn && i < st->n; i++)
        if (strcmp(st->names[i], fqn) == 0) return i;
    return -1;
}

/* The buffer's shape as "(1, 3)" (symbolic dims as -1), for messages. */
static const char *shape_text(exr *r, const char *arg, char *buf, size_t cap) {
    const pc_json *meta = arg ? ex_map_get(&r->tmeta, arg) : NULL;
    const pc_json *sizes = meta ? obj_get(meta, "sizes", PC_JS_ARR) : NULL;
    size_t at = 0;
    at += (size_t)snprintf(buf, cap, "(");
    for (int i = 0; sizes && i < sizes->n && at < cap; i++) {
        const pc_json *d;
        int64_t x = -1;
        const char *k = ex_union_of(sizes->items[i], &d);
        if (!k || strcmp(k, "as_int") != 0 || ex_json_int(d, &x)) x = -1;
        at += (size_t)snprintf(buf + at, cap - at, "%s%lld", i ? ", " : "", (long long)x);
    }
    if (at < cap) snprintf(buf + at, cap - at, sizes && sizes->n == 1 ? ",)" : ")");
    return buf;
}

static int read_inputs(exr *r, const pc_json *specs, pc_vec *user, ex_states *st) {
    for (int i = 0; i < specs->n; i++) {
        const pc_json *s;
        const char *k = ex_union_of(specs->items[i], &s);
        if (!k || s->kind != PC_JS_OBJ) return bad(r, "an input spec is not a union");
        const pc_json *arg = pc_json_get(s, "arg"), *av = NULL;
        const char *argname = NULL;
        if (strcmp(k, "user_input") == 0) {
            const char *ak = ex_union_of(arg, &av);
            if (ak && strcmp(ak, "as_tensor") == 0 && (argname = obj_str(av, "name"))) {
                ts_value *v = new_tensor(r, argname);
                if (!v || pc_vec_push(r->a, user, v)) return v ? nomem(r) : -1;
            } else if (ak && (strcmp(ak, "as_sym_int") == 0 || strcmp(ak, "as_int") == 0)) {
                return ex_fail(r, PC_E_CONVERT, "user input %d is an int; only tensor inputs can be converted", user->n);
            } else {
                return ex_fail(r, PC_E_CONVERT, "user input %d is a %s; only tensor inputs can be converted", user->n,
                               ak ? ak + 3 : "?");
            }
            continue;
        }
        argname = obj_str(arg, "name");
        if (strcmp(k, "parameter") == 0 || strcmp(k, "buffer") == 0 || strcmp(k, "tensor_constant") == 0) {
            const char *fqn = obj_str(s, k[0] == 'p' ? "parameter_name" : k[0] == 'b' ? "buffer_name"
                                                                                      : "tensor_constant_name");
            if (!argname || !fqn) return bad(r, "a lifted input without its names");
            int si = k[0] == 'b' ? state_index(st, fqn) : -1;
            if (si >= 0) { /* a state: a graph input after the user inputs */
                if (st->in[si]) return ex_fail(r, PC_E_FORMAT, "the buffer '%s' is lifted twice", fqn);
                if (!(st->in[si] = new_tensor(r, argname))) return -1;
                continue;
            }
            if (lifted(r, argname, fqn, k[0] == 'p' ? EX_W_PARAMETER : k[0] == 'b' ? EX_W_BUFFER : EX_W_CONSTANT))
                return -1;
        } else if (strcmp(k, "constant_input") == 0) {
            const char *nm = obj_str(s, "name");
            const pc_json *val = pc_json_get(s, "value"), *cv;
            const char *ck = ex_union_of(val, &cv);
            ts_const c = {.kind = TS_C_NONE};
            if (!nm || !ck) return bad(r, "a constant input without name or value");
            if (strcmp(ck, "as_int") == 0 && !ex_json_int(cv, &c.i)) c.kind = TS_C_INT;
            else if (strcmp(ck, "as_float") == 0 && !ex_json_float(cv, &c.f)) c.kind = TS_C_FLOAT;
            else if (strcmp(ck, "as_bool") == 0 && cv->kind == PC_JS_BOOL) c.kind = TS_C_BOOL, c.i = cv->b;
            else if (strcmp(ck, "as_string") == 0 && cv->kind == PC_JS_STR) c.kind = TS_C_STR, c.s = pc_strdup(r->a, cv->str);
            if (!ex_const(r, nm, &c)) return -1;
        } else if (strcmp(k, "custom_obj") == 0) {
            return ex_fail(r, PC_E_UNSUPPORTED, "the program takes a script object (torchbind class); those cannot be "
                           "converted");
        } else if (strcmp(k, "token") == 0) {
            return ex_fail(r, PC_E_UNSUPPORTED, "the program threads effect tokens (ops with side effects); those "
                           "cannot be converted");
        } else {
            return ex_fail(r, PC_E_FORMAT, "an input spec of kind '%s'", k);
        }
    }
    return 0;
}

/* A buffer_mutation output: the buffer's new value, copied onto its state input (aten::copy_, which the
 * lowering's in-place rule rebinds the state with); a buffer that is not a state fails. */
static int buffer_mutation(exr *r, const pc_json *s, const pc_json *ispecs, ex_states *st) {
    const char *fqn = obj_str(s, "buffer_name"), *val = obj_str(pc_json_get(s, "arg"), "name"); /* a TensorArgument */
    if (!fqn || !val) return bad(r, "a buffer mutation without its buffer or value");
    int si = state_index(st, fqn);
    if (si < 0) {
        const char *arg = NULL; /* the buffer's lifted input, for its shape */
        for (int i = 0; i < ispecs->n && !arg; i++) {
            const pc_json *is;
            const char *k = ex_union_of(ispecs->items[i], &is);
            if (k && strcmp(k, "buffer") == 0 && obj_str(is, "buffer_name") && strcmp(obj_str(is, "buffer_name"), fqn) == 0)
                arg = obj_str(pc_json_get(is, "arg"), "name");
        }
        char shape[160];
        return ex_how_to_declare(r, fqn, shape_text(r, arg, shape, sizeof shape));
    }
    ts_value *state = st->in[si], *v = ex_value(r, val);
    if (!v) return -1;
    ts_const f = {.kind = TS_C_BOOL, .i = 0};
    ts_value *nb = ex_const(r, NULL, &f);
    ts_node *n = nb ? ex_node(r, "aten::copy_", 3, 1) : NULL;
    ts_value *o = n ? new_value(r, NULL, TS_TY_TENSOR) : NULL;
    if (!o) return -1;
    if (!(n->schema = pc_strdup(r->a, "aten::copy_.default")) || !(o->name = pc_sprintf(r->a, "%s_new", state->name)))
        return nomem(r);
    n->in[0] = state, n->in[1] = v, n->in[2] = nb;
    o->rank = state->rank;
    memcpy(o->dims, state->dims, sizeof o->dims);
    set_out(n, 0, o);
    return 0;
}

static int read_outputs_spec(exr *r, const pc_json *specs, const pc_json *ispecs, pc_vec *outs, ex_states *st) {
    for (int i = 0; i < specs->n; i++) {
        const pc_json *s, *av;
        const char *k = ex_union_of(specs->items[i], &s);
        if (!k || s->kind != PC_JS_OBJ) return bad(r, "an output spec is not a union");
        if (strcmp(k, "buffer_mutation") == 0) {
            if (buffer_mutation(r, s, ispecs, st)) return -1;
            continue;
        }
        if (strcmp(k, "user_output") != 0) continue; /* user input mutations: a Core ML input is not written back */
        const char *ak = ex_union_of(pc_json_get(s, "arg"), &av);
        ts_value *v = NULL;
        if (ak && strcmp(ak, "as_tensor") == 0 && obj_str(av, "name")) {
            v = ex_value(r, obj_str(av, "name"));
        } else if (ak && (strcmp(ak, "as_sym_int") == 0 || strcmp(ak, "as_sym_float") == 0) && obj_str(av, "as_name")) {
            v = ex_value(r, obj_str(av, "as_name"));
        } else if (ak && strcmp(ak, "as_none") == 0) {
            ts_const c = {.kind = TS_C_NONE};
            v = ex_const(r, NULL, &c);
        } else {
            ts_const c = {.kind = TS_C_NONE};
            if (ak && strcmp(ak, "as_int") == 0 && !ex_json_int(av, &c.i)) c.kind = TS_C_INT;
            else if (ak && strcmp(ak, "as_float") == 0 && !ex_json_float(av, &c.f)) c.kind = TS_C_FLOAT;
            else return ex_fail(r, PC_E_UNSUPPORTED, "output %d is a %s; only tensors can be outputs", outs->n, ak ? ak + 3 : "?");
            v = ex_const(r, NULL, &c);
        }
        if (!v || pc_vec_push(r->a, outs, v)) return v ? nomem(r) : -1;
    }
    return 0;
}

static int index_tensor_values(exr *r, const pc_json *tv) {
    for (int i = 0; i < tv->n; i++)
        if (ex_map_put(r->a, &r->tmeta, tv->keys[i], tv->items[i])) return nomem(r);
    return 0;
}

/* The parts of a serialized ExportedProgram the readers use: the signature's input (and output) specs, the
 * graph's tensor_values (and nodes). whole: the outputs and nodes are needed too. -1 with e set when the JSON
 * does not parse or a part is missing. */
typedef struct {
    const pc_json *ispecs, *ospecs, *nodes, *tv;
} ex_doc;

static int parse_doc(exr *r, const char *json, size_t len, pc_arena *tmp, int whole, ex_doc *d) {
    pc_json *root;
    if (pc_json_parse(json, len, "the serialized exported program", tmp, &root, r->e)) return -1;
    const pc_json *gm = obj_get(root, "graph_module", PC_JS_OBJ);
    const pc_json *graph = gm ? obj_get(gm, "graph", PC_JS_OBJ) : NULL;
    const pc_json *sig = gm ? obj_get(gm, "signature", PC_JS_OBJ) : NULL;
    d->ispecs = sig ? obj_get(sig, "input_specs", PC_JS_ARR) : NULL;
    d->ospecs = sig ? obj_get(sig, "output_specs", PC_JS_ARR) : NULL;
    d->nodes = graph ? obj_get(graph, "nodes", PC_JS_ARR) : NULL;
    d->tv = graph ? obj_get(graph, "tensor_values", PC_JS_OBJ) : NULL;
    if (!d->ispecs || !d->tv || (whole && (!d->nodes || !d->ospecs)))
        return bad(r, "no graph_module with a graph and a signature");
    return 0;
}

int ex_read(const char *json, size_t len, const ex_weights *w, const ex_opts *o, ts_graph **out, pc_err *e) {
    static const ex_opts none = {0};
    if (!o) o = &none;
    const char *const *states = o->states;
    int nstates = o->nstates;
    *out = NULL;
    pc_arena *a = pc_arena_new(), *tmp = pc_arena_new();
    ts_graph *g = a ? pc_alloc(a, sizeof *g) : NULL;
    if (!g || !tmp) {
        pc_arena_free(a);
        pc_arena_free(tmp);
        return pc_fail(e, PC_E_NOMEM, "reading the exported program: out of memory");
    }
    g->arena = a;
    exr r = {.a = a, .g = g, .e = e, .w = w, .o = o};
    pc_vec user = {0}, outs = {0};
    int rc = -1;
    ex_doc d;
    if (parse_doc(&r, json, len, tmp, 1, &d)) goto done;
    const pc_json *ispecs = d.ispecs, *ospecs = d.ospecs, *nodes = d.nodes, *tv = d.tv;
    /* lifted tensors become constants (the graph's tensors read from the serialized weights' owner) */
    r.tmeta.cap = 0;
    ex_states st = {states, nstates > 0 ? nstates : 0, pc_alloc(a, sizeof(ts_value *) * (size_t)(nstates > 0 ? nstates : 1))};
    if (!st.in) {
        nomem(&r);
        goto done;
    }
    if (index_tensor_values(&r, tv) || read_inputs(&r, ispecs, &user, &st)) goto done;
    for (int i = 0; i < st.n; i++)
        if (!st.in[i]) {
            ex_fail(&r, PC_E_VALUE, "state '%s' is not a buffer of the exported program", st.names[i]);
            goto done;
        }
    for (int i = 0; i < nodes->n; i++)
        if (read_node(&r, nodes->items[i])) goto done;
    r.target = NULL;
    r.cur = NULL;
    if (read_outputs_spec(&r, ospecs, ispecs, &outs, &st)) goto done;
    for (int i = 0; i < st.n; i++) /* the states follow the user inputs */
        if (pc_vec_push(a, &user, st.in[i])) {
            nomem(&r);
            goto done;
        }
    if (!(g->top = pc_alloc(a, sizeof *g->top))) {
        nomem(&r);
        goto done;
    }
    g->top->nin = user.n;
    g->top->in = (ts_value **)user.v;
    g->top->nnodes = r.nodes.n;
    g->top->nodes = (ts_node **)r.nodes.v;
    g->top->nout = outs.n;
    g->top->out = (ts_value **)outs.v;
    if (!g->top->in && !(g->top->in = pc_alloc(a, sizeof(ts_value *)))) {
        nomem(&r);
        goto done;
    }
    rc = 0;
done:
    pc_arena_free(tmp);
    if (rc) {
        ts_graph_free(g);
        return -1;
    }
    *out = g;
    return 0;
}

/* ---- user inputs without the graph ---- */

int ex_user_inputs(const char *json, size_t len,
                   void (*f)(void *ud, const char *name, int dtype, int rank, const int64_t *dims), void *ud,
                   pc_err *e) {
    pc_arena *tmp = pc_arena_new();
    if (!tmp) return pc_fail(e, PC_E_NOMEM, "reading the exported program: out of memory");
    exr r = {.a = tmp, .e = e};
    int rc = -1;
    ex_doc d;
    if (parse_doc(&r, json, len, tmp, 0, &d)) goto done;
    const pc_json *ispecs = d.ispecs, *tv = d.tv;
    for (int i = 0; i < ispecs->n; i++) {
        const pc_json *s, *av;
        const char *k = ex_union_of(ispecs->items[i], &s);
        if (!k || strcmp(k, "user_input") != 0) continue;
        const char *ak = ex_union_of(pc_json_get(s, "arg"), &av);
        const char *nm = ak && strcmp(ak, "as_tensor") == 0 ? obj_str(av, "name") : NULL;
        const pc_json *meta = nm ? pc_json_get(tv, nm) : NULL;
        const pc_json *sizes = meta ? obj_get(meta, "sizes", PC_JS_ARR) : NULL;
        int64_t dims[8], dt = -1;
        if (!sizes || sizes->n > 8) {
            bad(&r, "a user input without a tensor type");
            goto done;
        }
        for (int d = 0; d < sizes->n; d++) {
            const pc_json *x;
            const char *dk = ex_union_of(sizes->items[d], &x);
            if (!dk || strcmp(dk, "as_int") != 0 || ex_json_int(x, &dims[d])) dims[d] = -1;
        }
        ex_json_int(pc_json_get(meta, "dtype"), &dt);
        f(ud, nm, ex_dtype_code(dt), sizes->n, dims);
    }
    rc = 0;
done:
    pc_arena_free(tmp);
    return rc;
}
