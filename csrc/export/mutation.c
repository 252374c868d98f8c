/* mutation.c: ops that write their arguments, in the functional form run_decompositions() leaves them in.
 * torch.ops.higher_order.auto_functionalized_v2(op, **kwargs) stands for a call of `op` (a custom op with
 * mutates_args, or an in-place op torch has no functional variant of) whose written arguments are views of
 * `_all_bases`: for an argument `x` the op writes, `_x_base_index` names its base (None: x is None) and
 * `_x_alias`, `_x_slice_dim/_start/_end` or `_x_size/_stride/_storage_offset` how x views it (none of them:
 * x is the base). The node returns the op's results, then each base's new value.
 * auto_functionalized(op, **kwargs) (v1, torch before 2.6) passes every argument by name and returns the
 * op's results, then the new value of each written argument in schema order.
 *
 * Both become the op's own node on a copy of each written base (aten::clone; a slice of it where the op
 * writes a slice), with the written inputs marked in ts_node.writes: the op's converter gives their new
 * values (lower.h), the lowering rebinds the copy (through the slice: lower/view.c), and the node's base
 * results are the copy. The base itself keeps its value, as the functional graph says. Where the written
 * arguments go among the op's arguments is in its schema row (ex_find_row: torch's, passed by the binding). */
#include "export/ex_int.h"
#include "lower/lower.h"

#include <stdio.h>
#include <string.h>

static int nomem(exr *r) { return pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory"); }

static const pc_json *named(const pc_json *inputs, const char *name) {
    for (int i = 0; i < inputs->n; i++) {
        const pc_json *na = inputs->items[i], *nm = na->kind == PC_JS_OBJ ? pc_json_get(na, "name") : NULL;
        if (nm && nm->kind == PC_JS_STR && strcmp(nm->str, name) == 0) return pc_json_get(na, "arg");
    }
    return NULL;
}

/* The view kwarg `_<arg>_<what>` of a written argument (its "arg" union), NULL when absent. */
static const pc_json *view_arg(const pc_json *inputs, const char *arg, const char *what) {
    char key[200];
    snprintf(key, sizeof key, "_%s_%s", arg, what);
    return named(inputs, key);
}

/* An int kwarg's value: 0; 1 when it is None; -1 when it is not an int. */
static int int_arg(const pc_json *a, int64_t *out) {
    const pc_json *v;
    const char *k = a ? ex_union_of(a, &v) : NULL;
    if (k && strcmp(k, "as_none") == 0) return 1;
    if (k && strcmp(k, "as_int") == 0 && !ex_json_int(v, out)) return 0;
    return -1;
}

static ts_value *int_const(exr *r, int64_t i) {
    ts_const c = {.kind = TS_C_INT, .i = i};
    return ex_const(r, NULL, &c);
}

/* "torch.ops.ns.op.overload" -> "ns::op.overload" in buf; -1 when malformed. */
static int op_key(const char *target, char *buf, size_t cap) {
    if (strncmp(target, "torch.ops.", 10) != 0) return -1;
    const char *name = target + 10, *dot = strchr(name, '.');
    if (!dot || !dot[1]) return -1;
    int k = snprintf(buf, cap, "%.*s::%s", (int)(dot - name), name, dot + 1);
    if (k < 0 || (size_t)k >= cap) return -1;
    if (!strchr(strstr(buf, "::") + 2, '.')) {
        if ((size_t)k + 9 > cap) return -1;
        strcat(buf, ".default");
    }
    return 0;
}

/* The kind the op's node gets, as read.c names it: "ns::op", or the registry's "ns::op.overload" row. */
static const char *kind_of(exr *r, const char *key) {
    int row = lower_row_lookup(key);
    if (row >= 0 && strchr(lower_row_kind(row), '.')) return lower_row_kind(row);
    const char *dot = strchr(strstr(key, "::") + 2, '.');
    return pc_strndup(r->a, key, dot ? (size_t)(dot - key) : strlen(key));
}

/* The copy of `base` the op writes, its output read from `out` (the hop's output naming the new value). */
static ts_value *copy_of(exr *r, ts_value *base, const pc_json *out) {
    ts_const none = {.kind = TS_C_NONE};
    ts_value *in[2] = {base, ex_const(r, NULL, &none)};
    if (!in[1]) return NULL;
    ts_node *n = ex_node(r, "aten::clone", 2, 0);
    if (!n) return NULL;
    memcpy(n->in, in, sizeof in);
    if (r->cur) n->loc = r->cur->loc, n->src = r->cur->src, n->scope = r->cur->scope;
    pc_json one = {.kind = PC_JS_ARR, .n = 1, .items = (pc_json **)&out};
    if (ex_read_outputs(r, n, &one)) return NULL;
    if (n->nout != 1 || n->out[0]->ty != TS_TY_TENSOR)
        return ex_fail(r, PC_E_FORMAT, "a written base's result is not a tensor"), NULL;
    return n->out[0];
}

/* v2: the value the op writes for argument `arg` (a view of its copied base), or a None constant. */
static ts_value *written_view(exr *r, const pc_json *inputs, const char *arg, ts_value **copies, int nbases) {
    int64_t bi = 0, dim, start, end;
    int k = int_arg(view_arg(inputs, arg, "base_index"), &bi);
    if (k == 1) {
        ts_const none = {.kind = TS_C_NONE};
        return ex_const(r, NULL, &none);
    }
    if (k < 0 || bi < 0 || bi >= nbases)
        return ex_fail(r, PC_E_FORMAT, "the written argument '%s' has no base among the %d given", arg, nbases), NULL;
    ts_value *base = copies[bi];
    if (view_arg(inputs, arg, "alias")) return base;
    if (view_arg(inputs, arg, "slice_dim")) {
        if (int_arg(view_arg(inputs, arg, "slice_dim"), &dim) || int_arg(view_arg(inputs, arg, "slice_start"), &start) ||
            int_arg(view_arg(inputs, arg, "slice_end"), &end))
            return ex_fail(r, PC_E_FORMAT, "the written argument '%s': a slice view without its bounds", arg), NULL;
        ts_value *in[5] = {base, int_const(r, dim), int_const(r, start), int_const(r, end), int_const(r, 1)};
        for (int i = 1; i < 5; i++)
            if (!in[i]) return NULL;
        return ex_add_node(r, "aten::slice", in, 5, TS_TY_TENSOR, "written");
    }
    const pc_json *size = view_arg(inputs, arg, "size");
    if (size || view_arg(inputs, arg, "storage_offset")) {
        /* as_strided: only the whole base, contiguous, is followed */
        const pc_json *sz, *st;
        const char *ks = ex_union_of(size, &sz), *kt = ex_union_of(view_arg(inputs, arg, "stride"), &st);
        int64_t off = -1, want = 1;
        int whole = ks && kt && strcmp(ks, "as_ints") == 0 && strcmp(kt, "as_ints") == 0 && sz->n == st->n &&
                    base->rank == sz->n && int_arg(view_arg(inputs, arg, "storage_offset"), &off) == 0 && off == 0;
        for (int i = sz && whole ? sz->n - 1 : -1; i >= 0 && whole; i--) {
            int64_t s = 0, t = 0;
            whole = !ex_json_int(sz->items[i], &s) && !ex_json_int(st->items[i], &t) && s == base->dims[i] &&
                    (s == 1 || t == want);
            want *= s;
        }
        if (!whole)
            return ex_fail(r, PC_E_UNSUPPORTED, "the op writes '%s', a strided view of its base (as_strided); only "
                           "slices of a base and whole bases can be written", arg), NULL;
        return base;
    }
    return base;
}

int ex_read_auto_functionalized(exr *r, int v2, const pc_json *jn, const ts_node *where) {
    const pc_json *inputs = pc_json_get(jn, "inputs"), *outs = pc_json_get(jn, "outputs");
    if (!inputs || inputs->kind != PC_JS_ARR || inputs->n < 1 || !outs || outs->kind != PC_JS_ARR)
        return ex_fail(r, PC_E_FORMAT, "an auto_functionalized node without its op, arguments or outputs");
    const pc_json *opv, *first = pc_json_get(inputs->items[0], "arg");
    const char *u = first ? ex_union_of(first, &opv) : NULL;
    char key[256];
    if (!u || strcmp(u, "as_operator") != 0 || opv->kind != PC_JS_STR || op_key(opv->str, key, sizeof key))
        return ex_fail(r, PC_E_FORMAT, "an auto_functionalized node whose first argument is not an operator");
    const char *args = NULL, *rets = NULL;
    if (ex_find_row(r->o, key, 1, &args, &rets))
        return ex_fail(r, PC_E_UNSUPPORTED, "%s writes its arguments (it is called through auto_functionalized), and "
                       "where they go among its arguments is in its schema, which the program does not hold: "
                       "convert with torch imported and the op registered (import the module that defines it)", key);
    ex_arg *sa;
    int ns;
    if (ex_schema_args(r->a, args, &sa, &ns)) return ex_fail(r, PC_E_INTERNAL, "%s: its schema row cannot be read", key);
    int nret = ex_schema_nreturns(rets);
    int lead = 0; /* an op that returns nothing: the hop's first result is None */
    /* the written arguments and the copies of what they write */
    const char **pre_name = pc_alloc(r->a, sizeof(char *) * (size_t)(ns ? ns : 1));
    ts_value **pre_val = pc_alloc(r->a, sizeof(ts_value *) * (size_t)(ns ? ns : 1));
    char *written = pc_alloc(r->a, (size_t)(ns ? ns : 1));
    if (!pre_name || !pre_val || !written) return nomem(r);
    int npre = 0, nw = 0;
    if (v2) {
        const pc_json *bl, *ab = named(inputs, "_all_bases");
        const char *k = ab ? ex_union_of(ab, &bl) : NULL;
        if (!k || strcmp(k, "as_tensors") != 0 || bl->kind != PC_JS_ARR)
            return ex_fail(r, PC_E_FORMAT, "auto_functionalized_v2 without _all_bases");
        lead = nret == 0 && outs->n == bl->n + 1;
        if (outs->n != nret + lead + bl->n)
            return ex_fail(r, PC_E_FORMAT, "%d outputs where %s returns %d and writes %d bases", outs->n, key, nret,
                           bl->n);
        ts_value **copies = pc_alloc(r->a, sizeof(ts_value *) * (size_t)(bl->n ? bl->n : 1));
        if (!copies) return nomem(r);
        for (int b = 0; b < bl->n; b++) {
            const pc_json *nm = pc_json_get(bl->items[b], "name");
            ts_value *base = nm && nm->kind == PC_JS_STR ? ex_value(r, nm->str) : NULL;
            if (!base || !(copies[b] = copy_of(r, base, outs->items[nret + lead + b]))) return -1;
        }
        for (int a = 0; a < ns; a++) {
            const pc_json *len = view_arg(inputs, sa[a].name, "length");
            if (len) { /* Tensor(a!)[]: `_<arg>_length`, then each element's view as `_<arg>_<i>_...` */
                int64_t k = 0;
                int none = int_arg(len, &k);
                pre_name[npre] = sa[a].name;
                if (none == 1) {
                    ts_const c = {.kind = TS_C_NONE};
                    if (!(pre_val[npre++] = ex_const(r, NULL, &c))) return -1;
                    continue;
                }
                if (none < 0 || k < 0 || k > 4096)
                    return ex_fail(r, PC_E_FORMAT, "the written list '%s' has no valid length", sa[a].name);
                ts_node *ln = ex_node(r, "prim::ListConstruct", (int)k, 1);
                ts_value *lv = ln ? ts_value_new(r->g) : NULL;
                if (!lv) return ln ? nomem(r) : -1;
                for (int i = 0; i < k; i++) {
                    char el[200];
                    snprintf(el, sizeof el, "%s_%d", sa[a].name, i);
                    r->nodes.n--; /* the element's view goes before the list */
                    ts_value *ev = written_view(r, inputs, el, copies, bl->n);
                    if (!ev) return -1;
                    if (pc_vec_push(r->a, &r->nodes, ln)) return nomem(r);
                    if (ev->ty != TS_TY_TENSOR)
                        return ex_fail(r, PC_E_UNSUPPORTED, "%s: element %d of the written list '%s' is None", key, i,
                                       sa[a].name);
                    ln->in[i] = ev;
                }
                if (r->cur) ln->loc = r->cur->loc, ln->src = r->cur->src, ln->scope = r->cur->scope;
                ln->out[0] = lv;
                lv->def = ln;
                lv->ty = TS_TY_LIST;
                lv->elem = TS_TY_TENSOR;
                lv->type_str = "Tensor[]";
                if (!(lv->name = pc_sprintf(r->a, "written%d", lv->id))) return nomem(r);
                written[a] = 1;
                pre_val[npre++] = lv;
                continue;
            }
            if (!view_arg(inputs, sa[a].name, "base_index")) continue;
            int64_t bi;
            written[a] = int_arg(view_arg(inputs, sa[a].name, "base_index"), &bi) == 0;
            pre_name[npre] = sa[a].name;
            if (!(pre_val[npre++] = written_view(r, inputs, sa[a].name, copies, bl->n))) return -1;
        }
    } else {
        for (int a = 0; a < ns; a++) nw += sa[a].written;
        lead = nret == 0 && outs->n == nw + 1;
        if (outs->n != nret + lead + nw)
            return ex_fail(r, PC_E_FORMAT, "%d outputs where %s returns %d and writes %d arguments", outs->n, key,
                           nret, nw);
        for (int a = 0, j = 0; a < ns; a++) {
            if (!sa[a].written) continue;
            const pc_json *v, *arg = named(inputs, sa[a].name);
            const char *k = arg ? ex_union_of(arg, &v) : NULL;
            const pc_json *nm = k && strcmp(k, "as_tensor") == 0 ? pc_json_get(v, "name") : NULL;
            ts_value *base = nm && nm->kind == PC_JS_STR ? ex_value(r, nm->str) : NULL;
            if (!base)
                return ex_fail(r, PC_E_UNSUPPORTED, "%s writes '%s', which is not a tensor here", key, sa[a].name);
            written[a] = 1;
            pre_name[npre] = sa[a].name;
            if (!(pre_val[npre++] = copy_of(r, base, outs->items[nret + lead + j++]))) return -1;
        }
    }
    /* the op's own arguments: the hop's kwargs but its view bookkeeping (names starting "_" that are none of
       the op's arguments) */
    pc_json own = {.kind = PC_JS_ARR};
    if (!(own.items = pc_alloc(r->a, sizeof(pc_json *) * (size_t)inputs->n))) return nomem(r);
    for (int i = 1; i < inputs->n; i++) {
        const pc_json *nm = pc_json_get(inputs->items[i], "name");
        const char *s = nm && nm->kind == PC_JS_STR ? nm->str : "";
        int own_arg = s[0] != '_';
        for (int a = 0; a < ns && !own_arg; a++) own_arg = strcmp(sa[a].name, s) == 0;
        if (own_arg) own.items[own.n++] = inputs->items[i];
    }
    ts_node *n = ex_node(r, kind_of(r, key), 0, 0);
    if (!n || !n->kind) return n ? nomem(r) : -1;
    n->loc = where->loc, n->src = where->src, n->scope = where->scope;
    if (!(n->schema = pc_strdup(r->a, key))) return nomem(r);
    r->nodes.n--; /* after the constants its arguments make */
    r->cur = n;
    r->npre = npre, r->pre_name = pre_name, r->pre_val = pre_val;
    int rc = ex_read_args(r, n, &own, args);
    r->npre = 0, r->pre_name = NULL, r->pre_val = NULL;
    if (rc) return -1;
    for (int a = 0; a < ns && a < 64; a++)
        if (written[a]) n->writes |= (uint64_t)1 << a;
        else if (v2) n->writes &= ~((uint64_t)1 << a); /* a row's mark, but the program passes None */
    if (pc_vec_push(r->a, &r->nodes, n)) return nomem(r);
    pc_json res = {.kind = PC_JS_ARR, .n = nret, .items = outs->items};
    return ex_read_outputs(r, n, &res);
}

/* ---- the custom ops a program calls ---- */

typedef struct {
    void (*f)(void *ud, const char *key);
    void *ud;
    pc_vec seen;
    pc_arena *a;
} op_walk;

static int report(op_walk *w, const char *target) {
    char key[256];
    if (op_key(target, key, sizeof key) || strncmp(key, "higher_order::", 14) == 0) return 0;
    if (strncmp(key, "aten::", 6) == 0 || strncmp(key, "prim::", 6) == 0) return 0;
    for (int i = 0; i < w->seen.n; i++)
        if (strcmp(w->seen.v[i], key) == 0) return 0;
    char *k = pc_strdup(w->a, key);
    if (!k || pc_vec_push(w->a, &w->seen, k)) return -1;
    w->f(w->ud, key);
    return 0;
}

static int walk_graph(op_walk *w, const pc_json *graph, int depth) {
    const pc_json *nodes = graph && graph->kind == PC_JS_OBJ ? pc_json_get(graph, "nodes") : NULL;
    if (!nodes || nodes->kind != PC_JS_ARR || depth > 32) return 0;
    for (int i = 0; i < nodes->n; i++) {
        const pc_json *t = pc_json_get(nodes->items[i], "target"), *ins = pc_json_get(nodes->items[i], "inputs");
        if (t && t->kind == PC_JS_STR && report(w, t->str)) return -1;
        for (int j = 0; ins && ins->kind == PC_JS_ARR && j < ins->n; j++) {
            const pc_json *v, *arg = pc_json_get(ins->items[j], "arg");
            const char *k = arg ? ex_union_of(arg, &v) : NULL;
            if (!k) continue;
            if (strcmp(k, "as_operator") == 0 && v->kind == PC_JS_STR && report(w, v->str)) return -1;
            if (strcmp(k, "as_graph") == 0 && walk_graph(w, pc_json_get(v, "graph"), depth + 1)) return -1;
        }
    }
    return 0;
}

int ex_custom_ops(const char *json, size_t len, void (*f)(void *ud, const char *key), void *ud, pc_err *e) {
    pc_arena *a = pc_arena_new();
    pc_json *doc;
    if (!a) return pc_fail(e, PC_E_NOMEM, "out of memory");
    int rc = pc_json_parse(json, len, "the exported program", a, &doc, e);
    if (!rc) {
        const pc_json *gm = pc_json_get(doc, "graph_module");
        op_walk w = {f, ud, {0}, a};
        if (walk_graph(&w, gm ? pc_json_get(gm, "graph") : NULL, 0)) rc = pc_fail(e, PC_E_NOMEM, "out of memory");
    }
    pc_arena_free(a);
    return rc;
}
