/* args.c: a node's arguments (the serialized NamedArguments) as TorchScript inputs: in the order of the
 * op's schema row (aten_schemas.def), each argument the serializer left out taking the row's default, and
 * every non-tensor argument a prim::Constant (or a prim::ListConstruct of values) as a frozen TorchScript
 * graph has it. An op without a row (a custom op) keeps the serialized order. */
#include "export/ex_int.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ts_value *cnst(exr *r, const ts_const *c) { return ex_const(r, NULL, c); }

/* ---- list arguments ---- */

/* A prim::ListConstruct of vals (elements of kind elem). */
static ts_value *list_of(exr *r, ts_value **vals, int n, ts_tykind elem) {
    ts_node *ln = ex_node(r, "prim::ListConstruct", n, 1);
    ts_value *v = ln ? ts_value_new(r->g) : NULL;
    if (!v) {
        if (ln) pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory");
        return NULL;
    }
    memcpy(ln->in, vals, sizeof(ts_value *) * (size_t)n);
    ln->out[0] = v;
    if (r->cur) ln->loc = r->cur->loc, ln->src = r->cur->src, ln->scope = r->cur->scope;
    v->def = ln;
    v->ty = TS_TY_LIST;
    v->elem = elem;
    v->type_str = "list";
    v->name = pc_sprintf(r->a, "l%d", v->id);
    if (!v->name) {
        pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory");
        return NULL;
    }
    return v;
}

static ts_value **value_array(exr *r, int n) {
    ts_value **vs = pc_alloc(r->a, sizeof(*vs) * (size_t)(n ? n : 1));
    if (!vs) pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory");
    return vs;
}

/* as_sym_ints / as_sym_bools / as_sym_floats: constants when every element is one, else a ListConstruct. */
static ts_value *sym_list(exr *r, const pc_json *v, ts_tykind elem, const ex_arg *sa) {
    int all_const = 1;
    for (int i = 0; i < v->n; i++) {
        const pc_json *x = NULL;
        const char *k = ex_union_of(v->items[i], &x);
        if (!k) return ex_fail(r, PC_E_FORMAT, "a malformed list element"), NULL;
        if (strcmp(k, "as_name") == 0) all_const = 0;
    }
    if (all_const) {
        ts_const c = {.kind = elem == TS_TY_FLOAT ? TS_C_FLOATS : elem == TS_TY_BOOL ? TS_C_BOOLS : TS_C_INTS, .n = v->n};
        c.ints = pc_alloc(r->a, sizeof(int64_t) * (size_t)(v->n ? v->n : 1));
        c.floats = pc_alloc(r->a, sizeof(double) * (size_t)(v->n ? v->n : 1));
        if (!c.ints || !c.floats) return pc_fail(r->e, PC_E_NOMEM, "out of memory"), NULL;
        for (int i = 0; i < v->n; i++) {
            const pc_json *x = NULL;
            const char *k = ex_union_of(v->items[i], &x);
            if (!k) return NULL;
            if (elem == TS_TY_FLOAT ? ex_json_float(x, &c.floats[i]) : elem == TS_TY_BOOL ? (x->kind != PC_JS_BOOL)
                                                                                    : ex_json_int(x, &c.ints[i]))
                return ex_fail(r, PC_E_FORMAT, "a malformed %s list element", k), NULL;
            if (elem == TS_TY_BOOL) c.ints[i] = x->b;
        }
        return cnst(r, &c);
    }
    ts_value **vs = value_array(r, v->n);
    if (!vs) return NULL;
    for (int i = 0; i < v->n; i++) {
        const pc_json *x = NULL;
        const char *k = ex_union_of(v->items[i], &x);
        if (!k) return NULL;
        if (strcmp(k, "as_name") == 0) {
            if (x->kind != PC_JS_STR || !(vs[i] = ex_value(r, x->str))) return NULL;
            continue;
        }
        ts_const c = {.kind = elem == TS_TY_FLOAT ? TS_C_FLOAT : elem == TS_TY_BOOL ? TS_C_BOOL : TS_C_INT};
        if (elem == TS_TY_FLOAT ? ex_json_float(x, &c.f) : elem == TS_TY_BOOL ? (x->kind != PC_JS_BOOL) : ex_json_int(x, &c.i))
            return ex_fail(r, PC_E_FORMAT, "a malformed list element"), NULL;
        if (elem == TS_TY_BOOL) c.i = x->b;
        if (!(vs[i] = cnst(r, &c))) return NULL;
    }
    (void)sa;
    return list_of(r, vs, v->n, elem);
}

/* ---- one serialized argument ---- */

static ts_value *read_arg(exr *r, const pc_json *arg, const ex_arg *sa, const char *aname) {
    const pc_json *v;
    const char *k = ex_union_of(arg, &v);
    if (!k) return ex_fail(r, PC_E_FORMAT, "argument '%s' is not a serialized Argument", aname), NULL;
    ts_const c = {.kind = TS_C_NONE};
    int want_float = sa && sa->base == EX_T_FLOAT; /* an int written for a float parameter stays a float */
    if (strcmp(k, "as_tensor") == 0) {
        const char *nm = v->kind == PC_JS_OBJ && v->n == 1 && v->items[0]->kind == PC_JS_STR ? v->items[0]->str : NULL;
        return nm ? ex_value(r, nm) : (ex_fail(r, PC_E_FORMAT, "argument '%s': a tensor without a name", aname), NULL);
    }
    if (strcmp(k, "as_none") == 0) return cnst(r, &c);
    if (strcmp(k, "as_int") == 0) {
        if (ex_json_int(v, &c.i)) goto malformed;
        if (want_float) c.kind = TS_C_FLOAT, c.f = (double)c.i;
        else c.kind = TS_C_INT;
        return cnst(r, &c);
    }
    if (strcmp(k, "as_float") == 0) {
        if (ex_json_float(v, &c.f)) goto malformed;
        c.kind = TS_C_FLOAT;
        return cnst(r, &c);
    }
    if (strcmp(k, "as_bool") == 0) {
        if (v->kind != PC_JS_BOOL) goto malformed;
        c.kind = TS_C_BOOL, c.i = v->b;
        return cnst(r, &c);
    }
    if (strcmp(k, "as_string") == 0) {
        if (v->kind != PC_JS_STR) goto malformed;
        c.kind = TS_C_STR;
        if (!(c.s = pc_strdup(r->a, v->str))) goto oom;
        return cnst(r, &c);
    }
    if (strcmp(k, "as_scalar_type") == 0 || strcmp(k, "as_layout") == 0 || strcmp(k, "as_memory_format") == 0) {
        int64_t x;
        if (ex_json_int(v, &x)) goto malformed;
        c.kind = TS_C_INT;
        if (k[3] == 's') { /* ScalarType */
            c.i = ex_dtype_code(x);
            if (c.i < 0) return ex_fail(r, PC_E_UNSUPPORTED, "argument '%s': dtype code %lld has no Core ML type", aname,
                                        (long long)x), NULL;
        } else if (k[3] == 'l') { /* Layout: Strided (7) is torch.strided (0) */
            c.i = x == 7 ? 0 : x;
        } else { /* MemoryFormat: Contiguous 1, ChannelsLast 2, ChannelsLast3d 3, Preserve 4 -> c10's 0, 2, 3, 1 */
            static const int mf[] = {0, 0, 2, 3, 1};
            c.i = x >= 0 && x < 5 ? mf[x] : 0;
        }
        return cnst(r, &c);
    }
    if (strcmp(k, "as_device") == 0) {
        const pc_json *ty = pc_json_get(v, "type"), *ix = pc_json_get(v, "index");
        int64_t i;
        if (!ty || ty->kind != PC_JS_STR) goto malformed;
        c.kind = TS_C_DEVICE;
        c.s = ix && !ex_json_int(ix, &i) ? pc_sprintf(r->a, "%s:%lld", ty->str, (long long)i) : pc_strdup(r->a, ty->str);
        if (!c.s) goto oom;
        return cnst(r, &c);
    }
    if (strcmp(k, "as_ints") == 0 || strcmp(k, "as_floats") == 0 || strcmp(k, "as_bools") == 0) {
        if (v->kind != PC_JS_ARR) goto malformed;
        int fl = k[3] == 'f' || want_float, bo = k[3] == 'b';
        c.kind = fl ? TS_C_FLOATS : bo ? TS_C_BOOLS : TS_C_INTS;
        c.n = v->n;
        c.ints = pc_alloc(r->a, sizeof(int64_t) * (size_t)(v->n ? v->n : 1));
        c.floats = pc_alloc(r->a, sizeof(double) * (size_t)(v->n ? v->n : 1));
        if (!c.ints || !c.floats) goto oom;
        for (int i = 0; i < v->n; i++) {
            int64_t x;
            if (bo) {
                if (v->items[i]->kind != PC_JS_BOOL) goto malformed;
                c.ints[i] = v->items[i]->b;
            } else if (fl) {
                if (ex_json_float(v->items[i], &c.floats[i])) goto malformed;
            } else {
                if (ex_json_int(v->items[i], &x)) goto malformed;
                c.ints[i] = x;
            }
        }
        return cnst(r, &c);
    }
    if (strcmp(k, "as_strings") == 0) {
        if (v->kind != PC_JS_ARR) goto malformed;
        c.kind = TS_C_STRS;
        c.n = v->n;
        if (!(c.strs = pc_alloc(r->a, sizeof(char *) * (size_t)(v->n ? v->n : 1)))) goto oom;
        for (int i = 0; i < v->n; i++) {
            if (v->items[i]->kind != PC_JS_STR) goto malformed;
            if (!(c.strs[i] = pc_strdup(r->a, v->items[i]->str))) goto oom;
        }
        return cnst(r, &c);
    }
    if (strcmp(k, "as_tensors") == 0 || strcmp(k, "as_optional_tensors") == 0) {
        if (v->kind != PC_JS_ARR) goto malformed;
        ts_value **vs = value_array(r, v->n);
        if (!vs) return NULL;
        for (int i = 0; i < v->n; i++) {
            const pc_json *x = v->items[i];
            if (k[3] == 'o') { /* {"as_tensor": {...}} or {"as_none": true} */
                if (!(vs[i] = read_arg(r, x, NULL, aname))) return NULL;
            } else {
                const pc_json *nm = x->kind == PC_JS_OBJ ? pc_json_get(x, "name") : NULL;
                if (!nm || nm->kind != PC_JS_STR) goto malformed;
                if (!(vs[i] = ex_value(r, nm->str))) return NULL;
            }
        }
        return list_of(r, vs, v->n, k[3] == 'o' ? TS_TY_OPTIONAL : TS_TY_TENSOR);
    }
    if (strcmp(k, "as_optional_tensor") == 0) return read_arg(r, v, sa, aname);
    if (strcmp(k, "as_sym_int") == 0 || strcmp(k, "as_sym_bool") == 0 || strcmp(k, "as_sym_float") == 0) {
        const pc_json *x;
        const char *sk = ex_union_of(v, &x);
        if (!sk) goto malformed;
        if (strcmp(sk, "as_name") == 0) return x->kind == PC_JS_STR ? ex_value(r, x->str) : NULL;
        int kind = k[7]; /* i, b, f */
        if (kind == 'b') {
            if (x->kind != PC_JS_BOOL) goto malformed;
            c.kind = TS_C_BOOL, c.i = x->b;
        } else if (kind == 'f' || want_float) {
            if (ex_json_float(x, &c.f)) goto malformed;
            c.kind = TS_C_FLOAT;
        } else {
            if (ex_json_int(x, &c.i)) goto malformed;
            c.kind = TS_C_INT;
        }
        return cnst(r, &c);
    }
    if (strcmp(k, "as_sym_ints") == 0 || strcmp(k, "as_sym_floats") == 0 || strcmp(k, "as_sym_bools") == 0) {
        if (v->kind != PC_JS_ARR) goto malformed;
        return sym_list(r, v, k[7] == 'f' ? TS_TY_FLOAT : k[7] == 'b' ? TS_TY_BOOL : TS_TY_INT, sa);
    }
    if (strcmp(k, "as_graph") == 0)
        return ex_fail(r, PC_E_UNSUPPORTED, "argument '%s' is a subgraph (control flow); it cannot be converted yet",
                       aname), NULL;
    return ex_fail(r, PC_E_UNSUPPORTED, "argument '%s' of kind %s cannot be read yet", aname, k), NULL;
malformed:
    return ex_fail(r, PC_E_FORMAT, "argument '%s' (%s) is malformed", aname, k), NULL;
oom:
    pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory");
    return NULL;
}

/* ---- defaults ---- */

static int parse_number(const char *s, int64_t *i, double *f, int *is_float) {
    char *end;
    if (strcmp(s, "inf") == 0) return *f = INFINITY, *is_float = 1, 0;
    if (strcmp(s, "-inf") == 0) return *f = -INFINITY, *is_float = 1, 0;
    if (strcmp(s, "nan") == 0) return *f = NAN, *is_float = 1, 0;
    *is_float = strpbrk(s, ".eE") != NULL;
    if (*is_float) {
        *f = strtod(s, &end);
    } else {
        *i = strtoll(s, &end, 10);
        *f = (double)*i;
    }
    return *end || end == s ? -1 : 0;
}

/* The row's default of sa as a constant. */
static ts_value *default_arg(exr *r, const ex_arg *sa) {
    const char *d = sa->def;
    ts_const c = {.kind = TS_C_NONE};
    if (strcmp(d, "None") == 0) return cnst(r, &c);
    if (strcmp(d, "True") == 0 || strcmp(d, "False") == 0) {
        c.kind = TS_C_BOOL, c.i = d[0] == 'T';
        return cnst(r, &c);
    }
    if (d[0] == '\'') {
        size_t n = strlen(d);
        c.kind = TS_C_STR;
        if (n < 2 || d[n - 1] != '\'' || !(c.s = pc_strndup(r->a, d + 1, n - 2))) goto bad;
        return cnst(r, &c);
    }
    if (d[0] == '[') {
        int n = 0;
        for (const char *p = d + 1; *p && *p != ']'; p++)
            if (p == d + 1 || *p == ',') n++;
        c.n = n;
        c.kind = sa->base == EX_T_FLOAT ? TS_C_FLOATS : sa->base == EX_T_BOOL ? TS_C_BOOLS : TS_C_INTS;
        c.ints = pc_alloc(r->a, sizeof(int64_t) * (size_t)(n ? n : 1));
        c.floats = pc_alloc(r->a, sizeof(double) * (size_t)(n ? n : 1));
        if (!c.ints || !c.floats) goto bad;
        const char *p = d + 1;
        for (int i = 0; i < n; i++) {
            char tok[64];
            size_t l = strcspn(p, ",]");
            if (l >= sizeof tok) goto bad;
            memcpy(tok, p, l);
            tok[l] = 0;
            int isf;
            if (c.kind == TS_C_BOOLS) c.ints[i] = strcmp(tok, "True") == 0;
            else if (parse_number(tok, &c.ints[i], &c.floats[i], &isf)) goto bad;
            p += l + 1;
        }
        return cnst(r, &c);
    }
    int isf;
    if (parse_number(d, &c.i, &c.f, &isf)) goto bad;
    c.kind = isf || sa->base == EX_T_FLOAT ? TS_C_FLOAT : TS_C_INT;
    return cnst(r, &c);
bad:
    return ex_fail(r, PC_E_INTERNAL, "argument '%s': the schema row's default '%s' cannot be read", sa->name, d), NULL;
}

/* ---- the node's inputs ---- */

int ex_read_args(exr *r, ts_node *n, const pc_json *inputs, const char *schema_args) {
    ex_arg *sa = NULL;
    int ns = 0;
    if (schema_args && ex_schema_args(r->a, schema_args, &sa, &ns))
        return ex_fail(r, PC_E_INTERNAL, "its row in aten_schemas.def cannot be read");
    int nin = schema_args ? ns : inputs->n;
    ts_value **in = value_array(r, nin);
    if (!in) return -1;
    /* the serialized arguments by name */
    const pc_json **given = pc_alloc(r->a, sizeof(*given) * (size_t)(inputs->n ? inputs->n : 1));
    const char **gname = pc_alloc(r->a, sizeof(*gname) * (size_t)(inputs->n ? inputs->n : 1));
    char *used = pc_alloc(r->a, (size_t)(inputs->n ? inputs->n : 1));
    if (!given || !gname || !used) return pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory");
    for (int i = 0; i < inputs->n; i++) {
        const pc_json *na = inputs->items[i];
        const pc_json *nm = na->kind == PC_JS_OBJ ? pc_json_get(na, "name") : NULL;
        given[i] = na->kind == PC_JS_OBJ ? pc_json_get(na, "arg") : NULL;
        gname[i] = nm && nm->kind == PC_JS_STR ? nm->str : "";
        if (!given[i]) return ex_fail(r, PC_E_FORMAT, "input %d is not a named argument", i);
    }
    if (!schema_args) {
        for (int i = 0; i < inputs->n; i++)
            if (!(in[i] = read_arg(r, given[i], NULL, gname[i]))) return -1;
    } else {
        for (int a = 0; a < ns; a++) {
            int k = -1, pre = -1;
            for (int i = 0; i < r->npre && pre < 0; i++)
                if (strcmp(r->pre_name[i], sa[a].name) == 0) pre = i;
            for (int i = 0; i < inputs->n && k < 0; i++)
                if (!used[i] && strcmp(gname[i], sa[a].name) == 0) k = i;
            if (k >= 0) used[k] = 1; /* a pre-made value replaces the serialized one */
            if (sa[a].written && a < 64) n->writes |= (uint64_t)1 << a;
            if (pre >= 0) {
                in[a] = r->pre_val[pre];
            } else if (k >= 0) {
                in[a] = read_arg(r, given[k], &sa[a], sa[a].name);
            } else if (sa[a].has_default) {
                in[a] = default_arg(r, &sa[a]);
            } else if (sa[a].optional) {
                ts_const c = {.kind = TS_C_NONE};
                in[a] = cnst(r, &c);
            } else {
                return ex_fail(r, PC_E_FORMAT, "the argument '%s' is missing (the op's schema requires it)", sa[a].name);
            }
            if (!in[a]) return -1;
        }
        for (int i = 0; i < inputs->n; i++)
            if (!used[i])
                return ex_fail(r, PC_E_FORMAT, "an argument named '%s' that the op's schema does not have", gname[i]);
    }
    n->nin = nin;
    n->in = in;
    return 0;
}
