/* control.c: torch.export's higher-order control flow as the TorchScript control flow the lowering knows
 * (lower/branch.c, lower/loop.c). A subgraph argument (as_graph) is a closed graph with its own inputs,
 * outputs and tensor_values; it is read with its inputs bound to the values the node passes (operands,
 * lifted weights included), in a scope of its own (its names may repeat the outer graph's).
 * - higher_order.cond(pred, true_graph, false_graph, operands) -> prim::If with one block per branch;
 * - higher_order.while_loop(cond_graph, body_graph, carried, additional) -> the condition computed once
 *   before the loop, then prim::Loop(max, cond0, *carried) whose body is body_graph followed by
 *   cond_graph on its results: (iter, *carried) -> (cond, *carried);
 * - higher_order.map_impl(body_graph, xs, args) -> prim::Loop over xs[0].size(0): each iteration selects
 *   row i of every xs, runs the body and appends each result to a list, stacked after the loop.
 */
#include "export/ex_int.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const pc_json *obj_arr(const pc_json *j, const char *key) {
    const pc_json *v = pc_json_get(j, key);
    return v && v->kind == PC_JS_ARR ? v : NULL;
}

static int nomem(exr *r) { return pc_fail(r->e, PC_E_NOMEM, "reading the exported program: out of memory"); }

/* An anonymous value of kind ty (the output of a node this file adds). */
static ts_value *anon(exr *r, ts_tykind ty, const char *stem) {
    static const char *const tystr[] = {[TS_TY_TENSOR] = "Tensor", [TS_TY_INT] = "int", [TS_TY_BOOL] = "bool",
                                        [TS_TY_LIST] = "Tensor[]"};
    ts_value *v = ts_value_new(r->g);
    if (!v) return nomem(r), NULL;
    v->ty = ty;
    v->elem = ty == TS_TY_LIST ? TS_TY_TENSOR : TS_TY_OTHER;
    v->type_str = ty < (int)PC_ARRAY_LEN(tystr) && tystr[ty] ? tystr[ty] : "object";
    if (!(v->name = pc_sprintf(r->a, "%s%d", stem, v->id))) return nomem(r), NULL;
    return v;
}

ts_value *ex_add_node(exr *r, const char *kind, ts_value **in, int nin, ts_tykind ty, const char *stem) {
    ts_node *n = ex_node(r, kind, nin, 1);
    ts_value *o = n ? anon(r, ty, stem) : NULL;
    if (!o) return NULL;
    if (nin) memcpy(n->in, in, sizeof(ts_value *) * (size_t)nin);
    if (r->cur) n->loc = r->cur->loc, n->src = r->cur->src, n->scope = r->cur->scope;
    n->out[0] = o;
    o->def = n;
    return o;
}

static ts_value *int_const(exr *r, int64_t i) {
    ts_const c = {.kind = TS_C_INT, .i = i};
    return ex_const(r, NULL, &c);
}

static ts_value *bool_const(exr *r, int b) {
    ts_const c = {.kind = TS_C_BOOL, .i = b};
    return ex_const(r, NULL, &c);
}

/* The positional argument i of the hop's inputs (serialized NamedArguments with empty names). */
static const pc_json *hop_arg(const pc_json *inputs, int i) {
    return i < inputs->n && inputs->items[i]->kind == PC_JS_OBJ ? pc_json_get(inputs->items[i], "arg") : NULL;
}

/* A value argument: a tensor, a (symbolic) int or bool, a constant. */
static ts_value *value_arg(exr *r, const pc_json *arg, const char *what) {
    const pc_json *v, *x;
    const char *k = ex_union_of(arg, &v);
    if (!k) return ex_fail(r, PC_E_FORMAT, "%s is not a serialized argument", what), NULL;
    if (strcmp(k, "as_tensor") == 0) {
        const pc_json *nm = pc_json_get(v, "name");
        if (nm && nm->kind == PC_JS_STR) return ex_value(r, nm->str);
    } else if (strcmp(k, "as_bool") == 0 && v->kind == PC_JS_BOOL) {
        return bool_const(r, v->b);
    } else if (strcmp(k, "as_int") == 0 && v->kind == PC_JS_NUM && v->is_int) {
        return int_const(r, v->i);
    } else if (strcmp(k, "as_sym_bool") == 0 || strcmp(k, "as_sym_int") == 0) {
        const char *sk = ex_union_of(v, &x);
        if (sk && strcmp(sk, "as_name") == 0 && x->kind == PC_JS_STR) return ex_value(r, x->str);
        if (sk && strcmp(sk, "as_bool") == 0 && x->kind == PC_JS_BOOL) return bool_const(r, x->b);
        if (sk && strcmp(sk, "as_int") == 0 && x->kind == PC_JS_NUM && x->is_int) return int_const(r, x->i);
    } else {
        return ex_fail(r, PC_E_UNSUPPORTED, "%s is a %s; only tensors, ints and bools can be converted", what, k + 3),
               NULL;
    }
    return ex_fail(r, PC_E_FORMAT, "%s (%s) is malformed", what, k), NULL;
}

/* A list argument (operands, carried values): its values into *out (count *n). */
static int values_arg(exr *r, const pc_json *arg, const char *what, ts_value ***out, int *n) {
    const pc_json *v;
    const char *k = ex_union_of(arg, &v);
    if (!k || v->kind != PC_JS_ARR) return ex_fail(r, PC_E_FORMAT, "%s is not a list of values", what);
    int tensors = strcmp(k, "as_tensors") == 0;
    if (!tensors && strcmp(k, "as_sym_ints") != 0 && strcmp(k, "as_ints") != 0)
        return ex_fail(r, PC_E_UNSUPPORTED, "%s is a %s; lists of tensors or ints can be converted", what, k + 3);
    ts_value **vs = pc_alloc(r->a, sizeof(*vs) * (size_t)(v->n ? v->n : 1));
    if (!vs) return nomem(r);
    for (int i = 0; i < v->n; i++) {
        const pc_json *x = v->items[i], *y;
        if (tensors) {
            const pc_json *nm = x->kind == PC_JS_OBJ ? pc_json_get(x, "name") : NULL;
            if (!nm || nm->kind != PC_JS_STR) return ex_fail(r, PC_E_FORMAT, "%s: a tensor without a name", what);
            vs[i] = ex_value(r, nm->str);
        } else if (x->kind == PC_JS_NUM && x->is_int) {
            vs[i] = int_const(r, x->i);
        } else {
            const char *sk = ex_union_of(x, &y);
            if (sk && strcmp(sk, "as_name") == 0 && y->kind == PC_JS_STR) vs[i] = ex_value(r, y->str);
            else if (sk && strcmp(sk, "as_int") == 0 && y->kind == PC_JS_NUM && y->is_int) vs[i] = int_const(r, y->i);
            else return ex_fail(r, PC_E_FORMAT, "%s: a malformed int", what);
        }
        if (!vs[i]) return -1;
    }
    *out = vs;
    *n = v->n;
    return 0;
}

/* The serialized Graph of a subgraph argument (and its name, for messages). */
static const pc_json *graph_arg(exr *r, const pc_json *arg, const char *what, const char **name) {
    const pc_json *v;
    const char *k = ex_union_of(arg, &v);
    const pc_json *g = k && strcmp(k, "as_graph") == 0 ? pc_json_get(v, "graph") : NULL;
    const pc_json *nm = g ? pc_json_get(v, "name") : NULL;
    if (!g || g->kind != PC_JS_OBJ) return ex_fail(r, PC_E_FORMAT, "%s is not a subgraph", what), NULL;
    *name = nm && nm->kind == PC_JS_STR ? nm->str : what;
    return g;
}

/* Read subgraph jg with its inputs bound to bind[0..nb), its nodes appended to *into, its outputs into
 * *outs (*nout of them). Its names live in a scope of their own. */
static int read_graph(exr *r, const pc_json *jg, const char *gname, ts_value **bind, int nb, pc_vec *into,
                      ts_value ***outs, int *nout) {
    const pc_json *ins = obj_arr(jg, "inputs"), *jo = obj_arr(jg, "outputs"), *nodes = obj_arr(jg, "nodes");
    const pc_json *tv = pc_json_get(jg, "tensor_values");
    if (!ins || !jo || !nodes || !tv || tv->kind != PC_JS_OBJ)
        return ex_fail(r, PC_E_FORMAT, "the subgraph %s has no inputs, outputs, nodes or tensor_values", gname);
    if (ins->n != nb)
        return ex_fail(r, PC_E_FORMAT, "the subgraph %s takes %d inputs but is given %d", gname, ins->n, nb);
    ex_map sv = r->values, st = r->tmeta;
    pc_vec sn = r->nodes;
    const char *target = r->target;
    ts_node *cur = r->cur;
    int rc = -1;
    r->values = (ex_map){0};
    r->tmeta = (ex_map){0};
    r->nodes = *into;
    for (int i = 0; i < nb; i++) {
        const pc_json *v, *x;
        const char *k = ex_union_of(ins->items[i], &v), *nm = NULL;
        if (k && strcmp(k, "as_tensor") == 0 && (x = pc_json_get(v, "name")) && x->kind == PC_JS_STR) nm = x->str;
        else if (k && strncmp(k, "as_sym_", 7) == 0 && (x = pc_json_get(v, "as_name")) && x->kind == PC_JS_STR)
            nm = x->str;
        if (!nm) {
            ex_fail(r, PC_E_UNSUPPORTED, "input %d of the subgraph %s is a %s; only tensors and ints can be converted",
                    i, gname, k ? k + 3 : "?");
            goto done;
        }
        const char *key = pc_strdup(r->a, nm);
        if (!key || ex_map_put(r->a, &r->values, key, bind[i])) {
            nomem(r);
            goto done;
        }
    }
    for (int i = 0; i < tv->n; i++)
        if (ex_map_put(r->a, &r->tmeta, tv->keys[i], tv->items[i])) {
            nomem(r);
            goto done;
        }
    for (int i = 0; i < nodes->n; i++)
        if (ex_read_node(r, nodes->items[i])) goto done;
    r->target = target;
    r->cur = cur;
    ts_value **o = pc_alloc(r->a, sizeof(*o) * (size_t)(jo->n ? jo->n : 1));
    if (!o) {
        nomem(r);
        goto done;
    }
    for (int i = 0; i < jo->n; i++) {
        char what[64];
        snprintf(what, sizeof what, "output %d of the subgraph", i);
        if (!(o[i] = value_arg(r, jo->items[i], what))) goto done;
    }
    *outs = o;
    *nout = jo->n;
    rc = 0;
done:;
    pc_vec grown = r->nodes; /* into may be &r->nodes: restore first */
    r->nodes = sn;
    *into = grown;
    r->values = sv;
    r->tmeta = st;
    if (!rc) r->target = target, r->cur = cur;
    return rc;
}

static ts_block *new_block(exr *r, ts_value **in, int nin, const pc_vec *nodes, ts_value **out, int nout) {
    ts_block *b = pc_alloc(r->a, sizeof *b);
    if (!b) return nomem(r), NULL;
    b->nin = nin;
    b->nnodes = nodes->n;
    b->nout = nout;
    /* in and out are copied (callers may pass arrays of their own) */
    b->in = pc_alloc(r->a, sizeof(ts_value *) * (size_t)(nin ? nin : 1));
    b->out = pc_alloc(r->a, sizeof(ts_value *) * (size_t)(nout ? nout : 1));
    b->nodes = nodes->n ? (ts_node **)nodes->v : pc_alloc(r->a, sizeof(ts_node *));
    if (!b->in || !b->nodes || !b->out) return nomem(r), NULL;
    if (nin) memcpy(b->in, in, sizeof(ts_value *) * (size_t)nin);
    if (nout) memcpy(b->out, out, sizeof(ts_value *) * (size_t)nout);
    return b;
}

/* A new node with blocks whose outputs are read from the hop's JSON outputs. */
static ts_node *hop_node(exr *r, const char *kind, ts_value **in, int nin, ts_block **blocks, int nblocks,
                         const pc_json *outs, const ts_node *where) {
    ts_node *n = ex_node(r, kind, nin, 0);
    if (!n) return NULL;
    memcpy(n->in, in, sizeof(ts_value *) * (size_t)nin);
    n->loc = where->loc, n->src = where->src, n->scope = where->scope;
    n->nblocks = nblocks;
    n->blocks = pc_alloc(r->a, sizeof(ts_block *) * (size_t)nblocks);
    if (!n->blocks) return nomem(r), NULL;
    memcpy(n->blocks, blocks, sizeof(ts_block *) * (size_t)nblocks);
    if (outs && ex_read_outputs(r, n, outs)) return NULL;
    return n;
}

/* cond(pred, true_graph, false_graph, operands) -> prim::If */
static int read_cond(exr *r, const pc_json *inputs, const pc_json *outs, const ts_node *where) {
    if (inputs->n != 4) return ex_fail(r, PC_E_FORMAT, "cond takes 4 arguments, the node has %d", inputs->n);
    ts_value *pred = value_arg(r, hop_arg(inputs, 0), "the predicate");
    ts_value **ops;
    int nops;
    if (!pred || values_arg(r, hop_arg(inputs, 3), "the operands", &ops, &nops)) return -1;
    if (pred->ty == TS_TY_TENSOR && !(pred = ex_add_node(r, "aten::Bool", &pred, 1, TS_TY_BOOL, "pred"))) return -1;
    ts_block *blk[2];
    for (int k = 0; k < 2; k++) {
        const char *gname;
        const pc_json *jg = graph_arg(r, hop_arg(inputs, 1 + k), k ? "the false branch" : "the true branch", &gname);
        pc_vec nodes = {0};
        ts_value **bo;
        int nbo;
        if (!jg || read_graph(r, jg, gname, ops, nops, &nodes, &bo, &nbo)) return -1;
        if (nbo != outs->n)
            return ex_fail(r, PC_E_FORMAT, "the branch %s returns %d values for %d outputs", gname, nbo, outs->n);
        if (!(blk[k] = new_block(r, NULL, 0, &nodes, bo, nbo))) return -1;
    }
    return hop_node(r, "prim::If", &pred, 1, blk, 2, outs, where) ? 0 : -1;
}

/* Concatenation of two value arrays. */
static ts_value **cat2(exr *r, ts_value **a, int na, ts_value **b, int nb) {
    ts_value **v = pc_alloc(r->a, sizeof(*v) * (size_t)(na + nb ? na + nb : 1));
    if (!v) return nomem(r), NULL;
    if (na) memcpy(v, a, sizeof(*v) * (size_t)na);
    if (nb) memcpy(v + na, b, sizeof(*v) * (size_t)nb);
    return v;
}

/* The loop condition: cond_graph on vals (carried ++ additional), as a bool, its nodes appended to *into. */
static ts_value *loop_cond(exr *r, const pc_json *jcond, const char *cname, ts_value **vals, int nv, pc_vec *into) {
    ts_value **co;
    int nco;
    if (read_graph(r, jcond, cname, vals, nv, into, &co, &nco)) return NULL;
    if (nco != 1) return ex_fail(r, PC_E_FORMAT, "the loop condition %s returns %d values", cname, nco), NULL;
    if (co[0]->ty != TS_TY_TENSOR) return co[0];
    pc_vec sn = r->nodes;
    r->nodes = *into;
    ts_value *b = ex_add_node(r, "aten::Bool", co, 1, TS_TY_BOOL, "cond");
    pc_vec grown = r->nodes;
    r->nodes = sn;
    *into = grown;
    return b;
}

/* A block input standing for a carried value v. */
static ts_value *carried_in(exr *r, const ts_value *v) {
    ts_value *b = anon(r, v->ty, "carried");
    if (b) {
        b->type_str = v->type_str, b->elem = v->elem;
        b->rank = v->rank;
        memcpy(b->dims, v->dims, sizeof b->dims);
    }
    return b;
}

/* while_loop(cond_graph, body_graph, carried, additional) -> prim::Loop */
static int read_while(exr *r, const pc_json *inputs, const pc_json *outs, const ts_node *where) {
    if (inputs->n != 4) return ex_fail(r, PC_E_FORMAT, "while_loop takes 4 arguments, the node has %d", inputs->n);
    const char *cname, *bname;
    const pc_json *jc = graph_arg(r, hop_arg(inputs, 0), "the condition", &cname);
    const pc_json *jb = graph_arg(r, hop_arg(inputs, 1), "the body", &bname);
    ts_value **car, **add;
    int nc, na;
    if (!jc || !jb || values_arg(r, hop_arg(inputs, 2), "the carried values", &car, &nc) ||
        values_arg(r, hop_arg(inputs, 3), "the additional inputs", &add, &na))
        return -1;
    if (outs->n != nc) return ex_fail(r, PC_E_FORMAT, "while_loop carries %d values but has %d outputs", nc, outs->n);
    ts_value **all = cat2(r, car, nc, add, na);
    if (!all) return -1;
    /* the condition before the first iteration, in the outer graph */
    ts_value *c0 = loop_cond(r, jc, cname, all, nc + na, &r->nodes);
    ts_value *trip = c0 ? int_const(r, INT64_MAX) : NULL;
    if (!trip) return -1;
    /* the body: (iter, *carried) -> (cond, *carried) */
    ts_value **bin = pc_alloc(r->a, sizeof(*bin) * (size_t)(nc + 1));
    if (!bin || !(bin[0] = anon(r, TS_TY_INT, "iter"))) return bin ? -1 : nomem(r);
    for (int i = 0; i < nc; i++)
        if (!(bin[1 + i] = carried_in(r, car[i]))) return -1;
    ts_value **ball = cat2(r, bin + 1, nc, add, na), **bo;
    pc_vec nodes = {0};
    int nbo;
    if (!ball || read_graph(r, jb, bname, ball, nc + na, &nodes, &bo, &nbo)) return -1;
    if (nbo != nc) return ex_fail(r, PC_E_FORMAT, "the loop body %s returns %d values for %d carried", bname, nbo, nc);
    ts_value **nall = cat2(r, bo, nc, add, na);
    ts_value *cb = nall ? loop_cond(r, jc, cname, nall, nc + na, &nodes) : NULL;
    ts_value **bout = cb ? cat2(r, &cb, 1, bo, nc) : NULL;
    ts_block *blk = bout ? new_block(r, bin, nc + 1, &nodes, bout, nc + 1) : NULL;
    ts_value **lin = blk ? cat2(r, (ts_value *[]){trip, c0}, 2, car, nc) : NULL;
    return lin && hop_node(r, "prim::Loop", lin, nc + 2, &blk, 1, outs, where) ? 0 : -1;
}

/* map_impl(body_graph, xs, args) -> prim::Loop over the rows of xs, results appended to lists, stacked */
static int read_map(exr *r, const pc_json *inputs, const pc_json *outs, const ts_node *where) {
    if (inputs->n != 3) return ex_fail(r, PC_E_FORMAT, "map_impl takes 3 arguments, the node has %d", inputs->n);
    const char *bname;
    const pc_json *jb = graph_arg(r, hop_arg(inputs, 0), "the body", &bname);
    ts_value **xs, **args;
    int nx, na, no = outs->n;
    if (!jb || values_arg(r, hop_arg(inputs, 1), "the mapped tensors", &xs, &nx) ||
        values_arg(r, hop_arg(inputs, 2), "the other arguments", &args, &na))
        return -1;
    if (nx < 1) return ex_fail(r, PC_E_FORMAT, "map_impl over no tensors");
    ts_value *zero = int_const(r, 0);
    ts_value *trip = zero ? ex_add_node(r, "aten::size", (ts_value *[]){xs[0], zero}, 2, TS_TY_INT, "trips") : NULL;
    ts_value *always = trip ? bool_const(r, 1) : NULL;
    ts_value **lists = always ? pc_alloc(r->a, sizeof(*lists) * (size_t)(no ? no : 1)) : NULL;
    if (!lists) return always ? nomem(r) : -1;
    for (int k = 0; k < no; k++)
        if (!(lists[k] = ex_add_node(r, "prim::ListConstruct", NULL, 0, TS_TY_LIST, "results"))) return -1;
    /* the body: row i of each xs, the subgraph, the appends */
    ts_value *iter = anon(r, TS_TY_INT, "iter");
    ts_value **bind = iter ? pc_alloc(r->a, sizeof(*bind) * (size_t)(nx + na)) : NULL;
    if (!bind) return iter ? nomem(r) : -1;
    pc_vec nodes = {0}, sn = r->nodes;
    r->nodes = nodes;
    for (int j = 0; j < nx; j++)
        if (!(bind[j] = ex_add_node(r, "aten::select", (ts_value *[]){xs[j], zero, iter}, 3, TS_TY_TENSOR, "row"))) {
            r->nodes = sn;
            return -1;
        }
    nodes = r->nodes;
    r->nodes = sn;
    if (na) memcpy(bind + nx, args, sizeof(*bind) * (size_t)na);
    ts_value **bo;
    int nbo;
    if (read_graph(r, jb, bname, bind, nx + na, &nodes, &bo, &nbo)) return -1;
    if (nbo != no) return ex_fail(r, PC_E_FORMAT, "the map body %s returns %d values for %d outputs", bname, nbo, no);
    r->nodes = nodes;
    ts_value *go = NULL;
    int ok = 1;
    for (int k = 0; k < no && ok; k++)
        ok = ex_add_node(r, "aten::append", (ts_value *[]){lists[k], bo[k]}, 2, TS_TY_LIST, "appended") != NULL;
    if (ok) go = bool_const(r, 1);
    nodes = r->nodes;
    r->nodes = sn;
    ts_block *blk = go ? new_block(r, &iter, 1, &nodes, &go, 1) : NULL;
    if (!blk || !hop_node(r, "prim::Loop", (ts_value *[]){trip, always}, 2, &blk, 1, NULL, where)) return -1;
    /* the results, stacked along a new leading dim */
    for (int k = 0; k < no; k++) {
        ts_node *st = ex_node(r, "aten::stack", 2, 0);
        const pc_json *one = outs->items[k];
        pc_json arr = {.kind = PC_JS_ARR, .n = 1, .items = (pc_json **)&one};
        if (!st) return -1;
        st->in[0] = lists[k];
        if (!(st->in[1] = int_const(r, 0))) return -1;
        /* the constant went in after the node: move the node last */
        r->nodes.v[r->nodes.n - 2] = r->nodes.v[r->nodes.n - 1];
        r->nodes.v[r->nodes.n - 1] = st;
        st->loc = where->loc, st->src = where->src, st->scope = where->scope;
        if (ex_read_outputs(r, st, &arr)) return -1;
    }
    return 0;
}

int ex_read_hop(exr *r, const char *op, const pc_json *jn, const ts_node *where) {
    const pc_json *inputs = obj_arr(jn, "inputs"), *outs = obj_arr(jn, "outputs");
    if (!inputs || !outs) return ex_fail(r, PC_E_FORMAT, "a node without inputs or outputs");
    if (strcmp(op, "cond") == 0) return read_cond(r, inputs, outs, where);
    if (strcmp(op, "while_loop") == 0) return read_while(r, inputs, outs, where);
    if (strcmp(op, "map_impl") == 0) return read_map(r, inputs, outs, where);
    if (strcmp(op, "auto_functionalized") == 0 || strcmp(op, "auto_functionalized_v2") == 0)
        return ex_read_auto_functionalized(r, op[19] == '_', jn, where);
    return ex_fail(r, PC_E_UNSUPPORTED, "the higher-order op %s cannot be converted (cond, while_loop, map and "
                   "auto_functionalized can)", op);
}
