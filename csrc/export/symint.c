/* symint.c: the symbolic-int queries and operators of a program exported with dynamic shapes that the
 * reader's table of Python operators (read.c: operator.mul as aten::mul.int, ...) does not cover. The aten
 * queries without a lowering row of their own: sym_numel as the product of the sizes (run-time ints on a
 * RangeDim input, folded when static), sym_storage_offset as 0 (a converted program's tensors are
 * contiguous); operator.pos as the identity, math.trunc as aten::Int, torch.sym_max / sym_min as prim::max / min. */
#include "export/ex_int.h"

#include <stdio.h>
#include <string.h>

/* Python op targets the reader's own table (read.c) leaves out -> TorchScript kind (sorted by target;
 * "": the identity). torch.sym_max / sym_min are read here as prim::max / prim::min on their two operands
 * (aten_schemas.def has no prim:: rows to read them through read.c's table). */
static const struct { const char *target, *kind; } PYOPS[] = {
    {"_operator.pos", ""}, {"math.trunc", "aten::Int"}, {"operator.pos", ""},
    {"torch.sym_max", "prim::max"}, {"torch.sym_min", "prim::min"},
};

/* A scalar argument: a symbolic value by name, or a constant. */
static ts_value *scalar_arg(exr *r, const pc_json *arg, int i) {
    const pc_json *v, *x;
    const char *k = ex_union_of(arg, &v);
    ts_const c = {.kind = TS_C_NONE};
    if (k && strncmp(k, "as_sym_", 7) == 0) {
        const char *sk = ex_union_of(v, &x);
        if (sk && strcmp(sk, "as_name") == 0 && x->kind == PC_JS_STR) return ex_value(r, x->str);
        k = sk, v = x;
    }
    if (k && strcmp(k, "as_int") == 0 && v->kind == PC_JS_NUM && v->is_int) c.kind = TS_C_INT, c.i = v->i;
    else if (k && strcmp(k, "as_float") == 0 && v->kind == PC_JS_NUM) c.kind = TS_C_FLOAT, c.f = v->num;
    else if (k && strcmp(k, "as_bool") == 0 && v->kind == PC_JS_BOOL) c.kind = TS_C_BOOL, c.i = v->b;
    else return ex_fail(r, PC_E_UNSUPPORTED, "argument %d is a %s; symbolic arithmetic on ints, floats and bools "
                        "can be converted", i, k ? k + 3 : "?"), NULL;
    return ex_const(r, NULL, &c);
}

static int nomem(exr *r) { return pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory"); }

/* The name of the node's single symbolic output. */
static const char *sym_out_name(const pc_json *outs) {
    const pc_json *v, *x;
    if (!outs || outs->kind != PC_JS_ARR || outs->n != 1) return NULL;
    const char *k = ex_union_of(outs->items[0], &v);
    if (!k || strncmp(k, "as_sym_", 7) != 0) return NULL;
    x = pc_json_get(v, "as_name");
    return x && x->kind == PC_JS_STR ? x->str : NULL;
}

static ts_node *new_node(exr *r, const char *kind, int nin, const ts_node *where) {
    ts_node *n = ex_node(r, kind, nin, 0);
    if (n) n->loc = where->loc, n->src = where->src, n->scope = where->scope;
    return n;
}

/* sym_numel(self): size(self, 0) * size(self, 1) * ... (the rank from the tensor's recorded sizes). */
static int read_numel(exr *r, const pc_json *inputs, const pc_json *outs, const ts_node *where) {
    const pc_json *a = inputs->n == 1 ? pc_json_get(inputs->items[0], "arg") : NULL, *v;
    const char *k = ex_union_of(a, &v);
    const pc_json *nm = k && strcmp(k, "as_tensor") == 0 ? pc_json_get(v, "name") : NULL;
    if (!nm || nm->kind != PC_JS_STR) return ex_fail(r, PC_E_FORMAT, "sym_numel of something other than a tensor");
    ts_value *self = ex_value(r, nm->str);
    const pc_json *meta = ex_map_get(&r->tmeta, nm->str), *sizes = meta ? pc_json_get(meta, "sizes") : NULL;
    if (!self) return -1;
    if (!sizes || sizes->kind != PC_JS_ARR) return ex_fail(r, PC_E_FORMAT, "sym_numel of a tensor of unknown rank");
    ts_value *acc = NULL;
    ts_const one = {.kind = TS_C_INT, .i = 1};
    if (!sizes->n && !(acc = ex_const(r, NULL, &one))) return -1;
    for (int d = 0; d < sizes->n; d++) {
        ts_const dc = {.kind = TS_C_INT, .i = d};
        ts_value *dv = ex_const(r, NULL, &dc);
        ts_node *sz = dv ? new_node(r, "aten::size", 2, where) : NULL;
        if (!sz) return -1;
        sz->in[0] = self, sz->in[1] = dv;
        const pc_json *o = d == sizes->n - 1 && !acc ? outs->items[0] : NULL;
        if (o) { /* a rank-1 tensor: the size is the result */
            pc_json arr = {.kind = PC_JS_ARR, .n = 1, .items = (pc_json **)&o};
            return ex_read_outputs(r, sz, &arr);
        }
        ts_value *s = ts_value_new(r->g);
        if (!s) return nomem(r);
        s->ty = TS_TY_INT, s->type_str = "int";
        if (!(s->name = pc_sprintf(r->a, "numel_d%d_%d", d, s->id))) return nomem(r);
        sz->nout = 1, sz->out[0] = s, s->def = sz;
        if (!acc) {
            acc = s;
            continue;
        }
        ts_node *mul = new_node(r, "aten::mul", 2, where);
        if (!mul) return -1;
        mul->in[0] = acc, mul->in[1] = s;
        if (d == sizes->n - 1) return ex_read_outputs(r, mul, outs);
        ts_value *p = ts_value_new(r->g);
        if (!p) return nomem(r);
        p->ty = TS_TY_INT, p->type_str = "int";
        if (!(p->name = pc_sprintf(r->a, "numel_p%d_%d", d, p->id))) return nomem(r);
        mul->nout = 1, mul->out[0] = p, p->def = mul;
        acc = p;
    }
    /* rank 0: numel 1, bound to the output's name */
    const char *on = sym_out_name(outs);
    const char *key = on ? pc_strdup(r->a, on) : NULL;
    if (!key) return ex_fail(r, PC_E_FORMAT, "sym_numel without a symbolic output");
    return ex_map_put(r->a, &r->values, key, acc) ? nomem(r) : 0;
}

int ex_read_symbolic(exr *r, const char *target, const pc_json *jn, const ts_node *where) {
    const pc_json *inputs = pc_json_get(jn, "inputs"), *outs = pc_json_get(jn, "outputs");
    if (!inputs || inputs->kind != PC_JS_ARR || !outs || outs->kind != PC_JS_ARR) return 1;
    if (strncmp(target, "torch.ops.aten.", 15) == 0) {
        const char *op = target + 15;
        if (strcmp(op, "sym_numel.default") == 0) return read_numel(r, inputs, outs, where);
        if (strcmp(op, "sym_storage_offset.default") == 0) {
            const char *on = sym_out_name(outs);
            ts_const c = {.kind = TS_C_INT, .i = 0};
            if (!on) return ex_fail(r, PC_E_FORMAT, "sym_storage_offset without a symbolic output");
            return ex_const(r, on, &c) ? 0 : -1;
        }
        return 1;
    }
    if (strncmp(target, "torch.ops.", 10) == 0) return 1;
    int lo = 0, hi = (int)PC_ARRAY_LEN(PYOPS) - 1, row = -1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(target, PYOPS[mid].target);
        if (!c) {
            row = mid;
            break;
        }
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    if (row < 0) return 1; /* the reader's own message names it */
    ts_value **in = pc_alloc(r->a, sizeof(*in) * (size_t)(inputs->n ? inputs->n : 1));
    if (!in) return nomem(r);
    for (int i = 0; i < inputs->n; i++) {
        const pc_json *a = inputs->items[i]->kind == PC_JS_OBJ ? pc_json_get(inputs->items[i], "arg") : NULL;
        if (!(in[i] = scalar_arg(r, a, i))) return -1;
    }
    if (!*PYOPS[row].kind) { /* the identity: the output names the input */
        const char *on = sym_out_name(outs);
        if (inputs->n != 1 || !on) return ex_fail(r, PC_E_FORMAT, "a malformed %s", target);
        const char *key = pc_strdup(r->a, on);
        return !key || ex_map_put(r->a, &r->values, key, in[0]) ? nomem(r) : 0;
    }
    ts_node *n = new_node(r, PYOPS[row].kind, inputs->n, where);
    if (!n) return -1;
    memcpy(n->in, in, sizeof(*in) * (size_t)inputs->n);
    return ex_read_outputs(r, n, outs);
}
