/* control.c: prim::If and prim::Loop whose conditions are known only at run time
 * (MIL cond / while_loop), list values built at run time, and the scalar /
 * Optional plumbing that scripted code needs around them.
 *
 * Values crossing a block boundary (branch outputs, loop-carried values, and outer
 * values a block rebinds, such as a list appended to inside a loop) are matched
 * up by a template: parts that are the same on both sides stay compile-time
 * values, the rest become "slots", each one IR value per side: a tensor, a rank-0
 * int32/fp32/bool for a number, or a tensor [n, ...] for a list that grows (its
 * elements stacked along a new first axis; an int list is int32 [n]).
 *
 * A loop is lowered in passes: the body is lowered with its carried values typed
 * by the current guess; when what comes out does not fit (a compile-time number
 * that changes, a list that grows, a dim that differs between iterations) the
 * guess is widened and the body lowered again. Static unrolling is kept for small
 * known trip counts whose condition stays known; otherwise a while_loop is made.
 */
#include "lower/build.h"

#include <stdio.h>
#include <string.h>

#define LV_SLOT ((lv_kind)64) /* template placeholder: slot number in lv.i */
#define MAX_UNROLL 32         /* unroll only loops this short ... */
#define MAX_UNROLL_NODES 2048 /* ... whose unrolled body stays this small */
#define MAX_PASSES 8

static int oom(lower_ctx *cx) { return cx->e->kind ? -1 : pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"); }

/* Walk the loop-carried templates (guess) against values of the same structure and
 * return, per slot, the value that fills it (NULL where the structure differs).
 * NULL on OOM. */
static lv **slot_leaves(lower_ctx *cx, lv **guess, lv **vals, int nc, int nslots) {
    pc_arena *a = cx->p->arena;
    lv **leaf = pc_alloc(a, sizeof(lv *) * (size_t)(nslots ? nslots : 1)); /* zeroed */
    pc_vec stack_t = {0}, stack_x = {0};
    if (!leaf) return NULL;
    for (int i = 0; i < nc; i++)
        if (pc_vec_push(a, &stack_t, guess[i]) || pc_vec_push(a, &stack_x, vals[i])) return NULL;
    while (stack_t.n) {
        lv *t = stack_t.v[--stack_t.n], *x = stack_x.v[--stack_x.n];
        if (t->kind == LV_SLOT) {
            leaf[t->i] = x;
        } else if ((t->kind == LV_TUPLE || t->kind == LV_LIST) && !t->dyn && x->kind == t->kind && x->n == t->n) {
            for (int i = 0; i < t->n; i++)
                if (pc_vec_push(a, &stack_t, t->items[i]) || pc_vec_push(a, &stack_x, x->items[i])) return NULL;
        }
    }
    return leaf;
}


static int is_num(const lv *l) { return l->kind == LV_INT || l->kind == LV_FLOAT || l->kind == LV_BOOL; }

static ir_dtype num_dtype(lv_kind k) { return k == LV_FLOAT ? IR_FP32 : k == LV_BOOL ? IR_BOOL : IR_INT32; }

static lv *dyn_lv(lower_ctx *cx, lv_kind k, lv_kind elem, ir_value *v) {
    if (!v) return NULL;
    if (k == LV_TENSOR) return lv_tensor(cx, v);
    lv *l = lv_new(cx, k);
    if (l) {
        l->dyn = 1;
        l->v = v;
        l->elem = elem;
    }
    return l;
}

/* ---- slots ---- */
typedef struct slots {
    int n, cap;
    lv_kind *kind, *elem;
    ir_type *t;
    int *known;
    lv **a, **b; /* the leaf on each side */
} slots;

static int slot_add(lower_ctx *cx, slots *s, lv_kind kind, lv_kind elem, lv *a, lv *b) {
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 8;
        lv_kind *k = pc_alloc(cx->p->arena, sizeof(*k) * (size_t)cap), *el = pc_alloc(cx->p->arena, sizeof(*el) * (size_t)cap);
        ir_type *t = pc_alloc(cx->p->arena, sizeof(*t) * (size_t)cap);
        int *kn = pc_alloc(cx->p->arena, sizeof(*kn) * (size_t)cap);
        lv **pa = pc_alloc(cx->p->arena, sizeof(*pa) * (size_t)cap), **pb = pc_alloc(cx->p->arena, sizeof(*pb) * (size_t)cap);
        if (!k || !el || !t || !kn || !pa || !pb) return oom(cx);
        if (s->n) {
            memcpy(k, s->kind, sizeof(*k) * (size_t)s->n);
            memcpy(el, s->elem, sizeof(*el) * (size_t)s->n);
            memcpy(t, s->t, sizeof(*t) * (size_t)s->n);
            memcpy(kn, s->known, sizeof(*kn) * (size_t)s->n);
            memcpy(pa, s->a, sizeof(*pa) * (size_t)s->n);
            memcpy(pb, s->b, sizeof(*pb) * (size_t)s->n);
        }
        s->kind = k, s->elem = el, s->t = t, s->known = kn, s->a = pa, s->b = pb, s->cap = cap;
    }
    s->kind[s->n] = kind;
    s->elem[s->n] = elem;
    s->known[s->n] = 0;
    memset(&s->t[s->n], 0, sizeof s->t[0]);
    s->a[s->n] = a;
    s->b[s->n] = b;
    return s->n++;
}

/* Join type u into *t (dtype and rank must agree; differing dims become symbols). */
static int join_type(lower_ctx *cx, ir_type *t, int *known, const ir_type *u, const char *what) {
    if (!*known) {
        *t = *u;
        *known = 1;
        return 0;
    }
    if (t->dtype != u->dtype || t->rank != u->rank) {
        char a[160], b[160];
        return lower_fail(cx, "%s is %s on one path and %s on the other; Core ML needs one dtype and rank", what,
                          ir_type_str(t, a, sizeof a), ir_type_str(u, b, sizeof b));
    }
    for (int i = 0; i < t->rank; i++)
        if (t->dims[i] != u->dims[i] && !IR_IS_SYM(t->dims[i])) t->dims[i] = IR_SYM(cx->p->next_symbol++);
    return 0;
}

/* Type of a leaf as the slot would carry it; *known = 0 for an empty static list. */
static int leaf_type(lower_ctx *cx, const lv *l, lv_kind kind, lv_kind elem, ir_type *t, int *known, const char *what) {
    *known = 0;
    if (kind == LV_TENSOR) {
        if (l->kind != LV_TENSOR) return lower_fail(cx, "%s is a tensor on one path and a %s on the other", what, lv_kind_name(l->kind));
        *t = l->v->type;
        *known = 1;
        return 0;
    }
    if (kind != LV_LIST) {
        if (!is_num(l)) return lower_fail(cx, "%s is a number on one path and a %s on the other", what, lv_kind_name(l->kind));
        *t = ir_scalar_type(num_dtype(kind));
        *known = 1;
        return 0;
    }
    if (l->kind != LV_LIST) return lower_fail(cx, "%s is a list on one path and a %s on the other", what, lv_kind_name(l->kind));
    if (l->dyn) {
        *t = l->v->type;
        *known = 1;
        return 0;
    }
    for (int i = 0; i < l->n; i++) {
        const lv *x = l->items[i];
        ir_type u;
        if (elem == LV_TENSOR) {
            if (x->kind != LV_TENSOR) return lower_fail(cx, "%s: a list mixing tensors and %ss", what, lv_kind_name(x->kind));
            if (x->v->type.rank + 1 > IR_MAX_RANK) return lower_fail(cx, "%s: list elements of rank %d", what, x->v->type.rank);
            u = ir_tensor_type(x->v->type.dtype, x->v->type.rank + 1, NULL);
            u.dims[0] = l->n;
            for (int k = 0; k < x->v->type.rank; k++) u.dims[k + 1] = x->v->type.dims[k];
        } else {
            if (!is_num(x)) return lower_fail(cx, "%s: a list mixing numbers and %ss", what, lv_kind_name(x->kind));
            int64_t d = l->n;
            u = ir_tensor_type(num_dtype(elem), 1, &d);
        }
        if (join_type(cx, t, known, &u, what)) return -1;
    }
    return 0;
}

static int same_static(const lv *a, const lv *b) {
    if (a == b) return 1;
    if (a->dyn || b->dyn) return 0;
    if (is_num(a) && is_num(b)) return a->kind == b->kind && (a->kind == LV_FLOAT ? a->f == b->f : a->i == b->i);
    if (a->kind == LV_NONE && b->kind == LV_NONE) return 1;
    if ((a->kind == LV_STR || a->kind == LV_DEVICE) && a->kind == b->kind) return a->s && b->s && strcmp(a->s, b->s) == 0;
    if ((a->kind == LV_LIST || a->kind == LV_TUPLE) && a->kind == b->kind && a->n == b->n) {
        for (int i = 0; i < a->n; i++)
            if (!same_static(a->items[i], b->items[i])) return 0;
        return 1;
    }
    return 0;
}

static lv_kind list_elem(const lv *l) {
    if (l->dyn) return l->elem;
    for (int i = 0; i < l->n; i++) {
        lv_kind k = l->items[i]->kind;
        if (k == LV_TENSOR) return LV_TENSOR;
        if (is_num(l->items[i])) return k;
    }
    return 0;
}

/* Template of a (one side) and b (the other): what is the same stays, the rest becomes slots. */
static lv *tmpl(lower_ctx *cx, lv *a, lv *b, slots *s, const char *what) {
    if (same_static(a, b)) return a;
    if ((a->kind == LV_TUPLE && b->kind == LV_TUPLE && a->n == b->n) ||
        (a->kind == LV_LIST && b->kind == LV_LIST && !a->dyn && !b->dyn && a->n == b->n && a->n > 0)) {
        lv *r = lv_new(cx, a->kind);
        if (!r) return NULL;
        r->n = a->n;
        r->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)a->n);
        if (!r->items) return oom(cx), NULL;
        for (int i = 0; i < a->n; i++)
            if (!(r->items[i] = tmpl(cx, a->items[i], b->items[i], s, what))) return NULL;
        return r;
    }
    lv_kind kind, elem = 0;
    if (a->kind == LV_TENSOR && b->kind == LV_TENSOR) {
        kind = LV_TENSOR;
    } else if (is_num(a) && is_num(b)) {
        kind = (a->kind == LV_FLOAT || b->kind == LV_FLOAT) ? LV_FLOAT : (a->kind == LV_BOOL && b->kind == LV_BOOL) ? LV_BOOL : LV_INT;
    } else if (a->kind == LV_LIST && b->kind == LV_LIST) {
        lv_kind ea = list_elem(a), eb = list_elem(b);
        kind = LV_LIST;
        elem = ea ? ea : eb;
        if (ea && eb && (ea == LV_TENSOR) != (eb == LV_TENSOR))
            return lower_fail(cx, "%s: a list of tensors on one path, of numbers on the other", what), NULL;
        if (!elem) elem = LV_TENSOR;
    } else {
        lower_fail(cx, "%s is a %s on one path and a %s on the other; Core ML needs one type", what, lv_kind_name(a->kind),
                   lv_kind_name(b->kind));
        return NULL;
    }
    int k = slot_add(cx, s, kind, elem, a, b);
    if (k < 0) return NULL;
    ir_type t;
    int known;
    if (leaf_type(cx, a, kind, elem, &t, &known, what)) return NULL;
    if (known && join_type(cx, &s->t[k], &s->known[k], &t, what)) return NULL;
    if (leaf_type(cx, b, kind, elem, &t, &known, what)) return NULL;
    if (known && join_type(cx, &s->t[k], &s->known[k], &t, what)) return NULL;
    lv *r = lv_new(cx, LV_SLOT);
    if (r) r->i = k;
    return r;
}

/* Build the lv a template stands for, with slot k bound to vals[k]. */
static lv *instantiate(lower_ctx *cx, lv *t, const slots *s, ir_value *const *vals) {
    if (t->kind == LV_SLOT) return dyn_lv(cx, s->kind[t->i], s->elem[t->i], vals[t->i]);
    if (t->kind != LV_TUPLE && t->kind != LV_LIST) return t;
    if (t->dyn) return t;
    lv *r = lv_new(cx, t->kind);
    if (!r) return NULL;
    r->n = t->n;
    r->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(t->n ? t->n : 1));
    if (!r->items) return oom(cx), NULL;
    for (int i = 0; i < t->n; i++)
        if (!(r->items[i] = instantiate(cx, t->items[i], s, vals))) return NULL;
    return r;
}

/* Emit (in cx->b) the IR value of a leaf for slot k. */
static ir_value *leaf_value(lower_ctx *cx, const slots *s, int k, lv *l) {
    const ir_type *t = &s->t[k];
    ir_value *v = NULL;
    if (s->kind[k] == LV_LIST && !l->dyn) {
        if (l->n == 0) {
            if (!s->known[k] || t->rank < 1) return lower_fail(cx, "internal: empty list of unknown type"), NULL;
            ir_type e = *t;
            e.dims[0] = 0;
            if (!ir_type_is_static(&e))
                return lower_fail(cx, "an empty list of tensors whose shape is known only at run time cannot start a "
                                      "loop-carried list"),
                       NULL;
            static const uint64_t none[1];
            v = ir_const_new(cx->p, cx->b, lower_name(cx, "empty"), e, e.dtype, none, 1);
            if (!v || lower_names_add(cx, v->name, v)) return oom(cx), NULL;
            return v;
        }
        ir_value **items = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)l->n);
        if (!items) return oom(cx), NULL;
        for (int i = 0; i < l->n; i++)
            if (!(items[i] = lb_as_tensor(cx, l->items[i], t->dtype))) return NULL;
        ir_op *op = lb_op(cx, IR_OP_STACK, "stacked");
        if (!op || ir_op_set_inputs(op, "values", l->n, items) || lb_param_i32(cx, op, "axis", 0)) return NULL;
        return lb_finish(cx, op);
    }
    v = lb_as_tensor(cx, l, t->dtype);
    if (v && v->type.dtype != t->dtype) v = lb_cast(cx, v, t->dtype, "cast");
    if (v && s->kind[k] != LV_TENSOR && s->kind[k] != LV_LIST && v->type.rank != 0) v = lb_reshape(cx, v, 0, NULL, "scalar");
    return v;
}

/* ---- which TorchScript values a block defines; what it rebinds ---- */
static void mark_defs(const ts_block *b, unsigned char *in) {
    for (int i = 0; i < b->nin; i++) in[b->in[i]->id] = 1;
    for (int i = 0; i < b->nnodes; i++) {
        const ts_node *n = b->nodes[i];
        for (int k = 0; k < n->nout; k++) in[n->out[k]->id] = 1;
        for (int k = 0; k < n->nblocks; k++) mark_defs(n->blocks[k], in);
    }
}

static lv **snapshot(lower_ctx *cx) {
    size_t n = (size_t)(cx->g->nvalues ? cx->g->nvalues : 1);
    lv **s = pc_alloc(cx->p->arena, sizeof(lv *) * n);
    if (!s) return oom(cx), NULL;
    memcpy(s, cx->vals, sizeof(lv *) * (size_t)cx->g->nvalues);
    return s;
}

static void restore(lower_ctx *cx, lv **snap) { memcpy(cx->vals, snap, sizeof(lv *) * (size_t)cx->g->nvalues); }

/* Ids of outer values whose binding differs from snap (not defined inside: inner[]), appended to *ids. */
static int rebound(lower_ctx *cx, lv **snap, const unsigned char *inner, pc_vec *ids) {
    for (int i = 0; i < cx->g->nvalues; i++) {
        if (inner[i] || !snap[i] || cx->vals[i] == snap[i]) continue;
        int seen = 0;
        for (int k = 0; k < ids->n; k++) seen |= (int)(intptr_t)ids->v[k] == i;
        if (!seen && pc_vec_push(cx->p->arena, ids, (void *)(intptr_t)i)) return oom(cx);
    }
    return 0;
}

/* A block that raises: its last meaningful node is prim::RaiseException. */
static int block_raises(const ts_block *b) {
    for (int i = 0; i < b->nnodes; i++)
        if (strcmp(b->nodes[i]->kind, "prim::RaiseException") == 0) return 1;
    return 0;
}

static void restore_node(lower_ctx *cx, const ts_node *n, const char *base, const char *loc) {
    cx->node = n;
    cx->base = base;
    cx->loc = loc;
}

static ir_value *bool_scalar(lower_ctx *cx, lv *c) {
    ir_value *v = lb_as_tensor(cx, c, IR_BOOL);
    if (v && v->type.rank != 0) {
        if (ir_type_numel(&v->type) != 1) return lower_fail(cx, "the condition must have one element"), NULL;
        v = lb_reshape(cx, v, 0, NULL, "pred");
    }
    return v;
}

/* ---- prim::If ---- */
static int inline_branch(lower_ctx *cx, const ts_node *n, const ts_block *b) {
    const char *base = cx->base, *loc = cx->loc;
    if (lower_block_nodes(cx, b)) return -1;
    restore_node(cx, n, base, loc);
    if (b->nout != n->nout) return lower_fail(cx, "branch returns %d values for %d outputs", b->nout, n->nout);
    for (int i = 0; i < n->nout; i++) {
        lv *l = cx->vals[b->out[i]->id];
        if (!l) return lower_fail(cx, "branch output %d has no value", i);
        if (lower_out(cx, n, i, l)) return -1;
    }
    return 0;
}

int lower_if(lower_ctx *cx, const ts_node *n) {
    if (n->nblocks != 2) return lower_fail(cx, "prim::If with %d blocks", n->nblocks);
    lv *cond = lower_in(cx, n, 0);
    if (!cond) return -1;
    if (!cond->dyn && cond->kind != LV_TENSOR) {
        int c;
        if (lower_bool_in(cx, n, 0, &c)) return -1;
        return inline_branch(cx, n, n->blocks[c ? 0 : 1]);
    }
    if (cond->kind == LV_TENSOR && cond->v->konst) return inline_branch(cx, n, n->blocks[ir_const_get_f64(cond->v->konst, 0) != 0 ? 0 : 1]);
    int r0 = block_raises(n->blocks[0]), r1 = block_raises(n->blocks[1]);
    if (r0 || r1) {
        if (r0 && r1) return lower_fail(cx, "both branches raise an exception");
        if (cx->o->debug)
            fprintf(stderr, "[lower] %s%s%s: the branch that raises an exception is dropped (Core ML has no exceptions)\n",
                    n->kind, n->loc ? " at " : "", n->loc ? n->loc : "");
        return inline_branch(cx, n, n->blocks[r0 ? 1 : 0]);
    }
    const char *base = cx->base, *loc = cx->loc;
    ir_value *pred = bool_scalar(cx, cond);
    if (!pred) return -1;
    unsigned char *inner = pc_alloc(cx->p->arena, (size_t)cx->g->nvalues + 1);
    lv **snap = snapshot(cx);
    if (!inner || !snap) return oom(cx);
    mark_defs(n->blocks[0], inner);
    mark_defs(n->blocks[1], inner);
    ir_block *outer = cx->b;
    ir_op *op = lb_op(cx, IR_OP_COND, NULL);
    if (!op || ir_op_set_input(op, "pred", pred)) return oom(cx);
    ir_block *blk[2];
    lv **res[2];
    pc_vec ids = {0};
    lv **after0 = NULL;
    for (int k = 0; k < 2; k++) {
        if (!(blk[k] = ir_op_add_block(op))) return oom(cx);
        blk[k]->fn = cx->fn;
        cx->b = blk[k];
        if (k == 1) restore(cx, snap);
        if (lower_block_nodes(cx, n->blocks[k])) {
            cx->b = outer;
            return -1;
        }
        restore_node(cx, n, base, loc);
        const ts_block *tb = n->blocks[k];
        if (tb->nout != n->nout) return lower_fail(cx, "branch returns %d values for %d outputs", tb->nout, n->nout);
        res[k] = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(n->nout ? n->nout : 1));
        if (!res[k]) return oom(cx);
        for (int i = 0; i < n->nout; i++)
            if (!(res[k][i] = cx->vals[tb->out[i]->id])) return lower_fail(cx, "branch %d output %d has no value", k, i);
        if (rebound(cx, snap, inner, &ids)) return -1;
        if (k == 0 && !(after0 = snapshot(cx))) return -1;
    }
    /* templates: the node's outputs, then each rebound outer value */
    int nt = n->nout + ids.n;
    lv **tm = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(nt ? nt : 1));
    slots s = {0};
    if (!tm) return oom(cx);
    for (int i = 0; i < nt; i++) {
        int id = i < n->nout ? -1 : (int)(intptr_t)ids.v[i - n->nout];
        lv *a = id < 0 ? res[0][i] : after0[id], *b = id < 0 ? res[1][i] : cx->vals[id];
        const char *what = id < 0 ? pc_sprintf(cx->p->arena, "output %d of the if", i) : "a value a branch changes";
        if (!(tm[i] = tmpl(cx, a, b, &s, what))) return -1;
    }
    for (int k = 0; k < s.n; k++)
        if (!s.known[k]) return lower_fail(cx, "an empty list on both paths of a run-time if cannot be typed");
    /* branches that only pick between values made outside: one select per value, no cond */
    int simple = !blk[0]->first && !blk[1]->first && s.n > 0;
    for (int k = 0; k < s.n && simple; k++)
        simple = s.kind[k] != LV_LIST && (s.kind[k] != LV_TENSOR || ir_type_equal(&s.a[k]->v->type, &s.b[k]->v->type));
    if (simple) {
        cx->b = outer;
        ir_value **outs = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)s.n);
        if (!outs) return oom(cx);
        for (int k = 0; k < s.n; k++) {
            ir_value *va = leaf_value(cx, &s, k, s.a[k]), *vb = va ? leaf_value(cx, &s, k, s.b[k]) : NULL;
            ir_op *sel = vb ? lb_op(cx, IR_OP_SELECT, "picked") : NULL;
            if (!sel || ir_op_set_input(sel, "cond", pred) || ir_op_set_input(sel, "a", va) || ir_op_set_input(sel, "b", vb) ||
                !(outs[k] = lb_finish(cx, sel)))
                return -1;
        }
        for (int i = 0; i < nt; i++) {
            lv *l = instantiate(cx, tm[i], &s, outs);
            if (!l) return -1;
            if (i < n->nout) {
                if (lower_out(cx, n, i, l)) return -1;
            } else {
                cx->vals[(int)(intptr_t)ids.v[i - n->nout]] = l;
            }
        }
        return 0;
    }
    for (int side = 0; side < 2; side++) {
        ir_value **outs = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)(s.n ? s.n : 1));
        if (!outs) return oom(cx);
        cx->b = blk[side];
        for (int k = 0; k < s.n; k++)
            if (!(outs[k] = leaf_value(cx, &s, k, side ? s.b[k] : s.a[k]))) return -1;
        if (ir_block_set_outputs(blk[side], s.n, outs)) return oom(cx);
    }
    cx->b = outer;
    if (s.n == 0) { /* nothing flows out: the branches only computed compile-time values */
        for (int i = 0; i < n->nout; i++)
            if (lower_out(cx, n, i, tm[i])) return -1;
        for (int i = n->nout; i < nt; i++) cx->vals[(int)(intptr_t)ids.v[i - n->nout]] = tm[i];
        return 0;
    }
    if (!lb_finish(cx, op)) return -1;
    for (int i = 0; i < nt; i++) {
        lv *l = instantiate(cx, tm[i], &s, op->out);
        if (!l) return -1;
        if (i < n->nout) {
            if (lower_out(cx, n, i, l)) return -1;
        } else {
            cx->vals[(int)(intptr_t)ids.v[i - n->nout]] = l;
        }
    }
    return 0;
}

/* ---- prim::Loop ---- */
static int count_nodes(const ts_block *b) {
    int k = b->nnodes;
    for (int i = 0; i < b->nnodes; i++)
        for (int j = 0; j < b->nodes[i]->nblocks; j++) k += count_nodes(b->nodes[i]->blocks[j]);
    return k;
}

/* Unroll when the trip count (or the condition) ends the loop within MAX_UNROLL iterations
 * known at conversion time; 1 done, 0 not possible (state restored), -1 error. */
static int try_unroll(lower_ctx *cx, const ts_node *n, int64_t trips) {
    const ts_block *b = n->blocks[0];
    int ncar = n->nin - 2, per = count_nodes(b);
    lv **snap = snapshot(cx);
    lv **car = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(ncar ? ncar : 1));
    if (!snap || !car) return oom(cx);
    const char *base = cx->base, *loc = cx->loc;
    ir_op *mark = cx->b->last;
    for (int i = 0; i < ncar; i++)
        if (!(car[i] = lower_in(cx, n, 2 + i))) return -1;
    int cond = 1;
    for (int64_t it = 0; it < trips && cond; it++) {
        if (it >= MAX_UNROLL || (it + 1) * per > MAX_UNROLL_NODES) goto undo;
        if (!(cx->vals[b->in[0]->id] = lv_int(cx, it))) return -1;
        for (int i = 0; i < ncar; i++) cx->vals[b->in[1 + i]->id] = car[i];
        if (lower_block_nodes(cx, b)) return -1;
        restore_node(cx, n, base, loc);
        lv *c = cx->vals[b->out[0]->id];
        if (!c) return lower_fail(cx, "the loop condition has no value");
        if (c->dyn || c->kind == LV_TENSOR) goto undo; /* known only at run time */
        if (c->kind != LV_BOOL && c->kind != LV_INT) return lower_fail(cx, "the loop condition is a %s", lv_kind_name(c->kind));
        cond = c->i != 0;
        for (int i = 0; i < ncar; i++) car[i] = cx->vals[b->out[1 + i]->id];
    }
    for (int i = 0; i < ncar; i++)
        if (lower_out(cx, n, i, car[i])) return -1;
    return 1;
undo: /* make a while_loop instead */
    while (cx->b->last != mark) ir_op_unlink(cx->b->last);
    restore(cx, snap);
    restore_node(cx, n, base, loc);
    return 0;
}

/* Structural equality of two loop templates (slots compared by kind and type). */
static int tmpl_equal(const lv *a, const slots *sa, const lv *b, const slots *sb) {
    if (a->kind == LV_SLOT || b->kind == LV_SLOT) {
        if (a->kind != b->kind) return 0;
        int i = (int)a->i, j = (int)b->i;
        if (sa->kind[i] != sb->kind[j] || sa->elem[i] != sb->elem[j] || sa->known[i] != sb->known[j]) return 0;
        if (!sa->known[i]) return 1;
        const ir_type *x = &sa->t[i], *y = &sb->t[j];
        if (x->dtype != y->dtype || x->rank != y->rank) return 0;
        for (int d = 0; d < x->rank; d++) /* any symbol matches any symbol */
            if (x->dims[d] != y->dims[d] && !(IR_IS_SYM(x->dims[d]) && IR_IS_SYM(y->dims[d]))) return 0;
        return 1;
    }
    if ((a->kind == LV_TUPLE || a->kind == LV_LIST) && !a->dyn && a->kind == b->kind && !b->dyn && a->n == b->n) {
        for (int i = 0; i < a->n; i++)
            if (!tmpl_equal(a->items[i], sa, b->items[i], sb)) return 0;
        return 1;
    }
    return a == b || same_static(a, b);
}

/* The first guess: tensors and run-time values are carried, compile-time values stay. */
static lv *first_guess(lower_ctx *cx, lv *e, slots *s) {
    if (e->kind == LV_TUPLE || (e->kind == LV_LIST && !e->dyn)) {
        if (e->kind == LV_LIST && e->n == 0) return e;
        lv *r = lv_new(cx, e->kind);
        if (!r) return NULL;
        r->n = e->n;
        r->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(e->n ? e->n : 1));
        if (!r->items) return oom(cx), NULL;
        for (int i = 0; i < e->n; i++)
            if (!(r->items[i] = first_guess(cx, e->items[i], s))) return NULL;
        return r;
    }
    if (e->kind == LV_TENSOR || e->dyn) return tmpl(cx, e, e->kind == LV_TENSOR ? lv_tensor(cx, e->v) : dyn_lv(cx, e->kind, e->elem, e->v), s, "a loop-carried value");
    return e;
}

/* Widen template `now` (entry vs exit) with the previous guess's slot types. */
static int widen(lower_ctx *cx, lv *now, slots *sn, const lv *prev, const slots *sp) {
    if (now->kind == LV_SLOT && prev->kind == LV_SLOT) {
        int i = (int)now->i, j = (int)prev->i;
        if (sn->kind[i] == sp->kind[j] && sn->elem[i] == sp->elem[j] && sp->known[j])
            return join_type(cx, &sn->t[i], &sn->known[i], &sp->t[j], "a loop-carried value");
        return 0;
    }
    if ((now->kind == LV_TUPLE || now->kind == LV_LIST) && !now->dyn && now->kind == prev->kind && !prev->dyn && now->n == prev->n)
        for (int i = 0; i < now->n; i++)
            if (widen(cx, now->items[i], sn, prev->items[i], sp)) return -1;
    return 0;
}

int lower_loop(lower_ctx *cx, const ts_node *n) {
    if (n->nblocks != 1 || n->nin < 2) return lower_fail(cx, "malformed prim::Loop");
    const ts_block *b = n->blocks[0];
    int ncar = n->nin - 2;
    if (b->nin != ncar + 1 || b->nout != ncar + 1 || n->nout != ncar) return lower_fail(cx, "malformed prim::Loop");
    lv *trip = lower_in(cx, n, 0), *c0 = lower_in(cx, n, 1);
    if (!trip || !c0) return -1;
    if (trip->kind != LV_INT && trip->kind != LV_BOOL) return lower_fail(cx, "the trip count is a %s", lv_kind_name(trip->kind));
    int c0_static = !c0->dyn && c0->kind != LV_TENSOR;
    if (!trip->dyn && c0_static) {
        if (trip->i <= 0 || c0->i == 0) { /* never runs */
            for (int i = 0; i < ncar; i++)
                if (lower_out(cx, n, i, lower_in(cx, n, 2 + i))) return -1;
            return 0;
        }
        int r = try_unroll(cx, n, trip->i);
        if (r) return r < 0 ? -1 : 0;
    }
    const char *base = cx->base, *loc = cx->loc;
    int infinite = !trip->dyn && trip->i >= INT32_MAX;
    unsigned char *inner = pc_alloc(cx->p->arena, (size_t)cx->g->nvalues + 1);
    lv **snap = snapshot(cx);
    if (!inner || !snap) return oom(cx);
    mark_defs(b, inner);
    /* carried: the explicit loop values, then outer values the body rebinds */
    pc_vec ids = {0};
    lv **ent = NULL, **guess = NULL;
    slots gs = {0};
    int nc = 0;
    ir_block *outer = cx->b;
    ir_op *op = NULL;
    ir_block *cb = NULL, *bb = NULL;
    int has_cond = 0;
    for (int pass = 0;; pass++) {
        if (pass == MAX_PASSES) return lower_fail(cx, "the loop's carried values do not settle on one type");
        int nnew = ncar + ids.n;
        if (nnew != nc) { /* (re)build the guess for new carried values */
            lv **ne = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(nnew ? nnew : 1));
            lv **ng = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(nnew ? nnew : 1));
            if (!ne || !ng) return oom(cx);
            for (int i = 0; i < nnew; i++) {
                ne[i] = i < ncar ? snap[n->in[2 + i]->id] : snap[(int)(intptr_t)ids.v[i - ncar]];
                if (!ne[i]) return lower_fail(cx, "loop input %d has no value", i);
                if (i < nc) ng[i] = guess[i];
                else if (!(ng[i] = first_guess(cx, ne[i], &gs))) return -1;
            }
            ent = ne, guess = ng, nc = nnew;
        }
        /* the cond var exists when the loop condition may be computed at run time */
        restore(cx, snap);
        op = lb_op(cx, IR_OP_WHILE_LOOP, NULL);
        if (!op || !(cb = ir_op_add_block(op)) || !(bb = ir_op_add_block(op))) return oom(cx);
        cb->fn = bb->fn = cx->fn;
        int nv = 2 + gs.n; /* iteration, condition, slots */
        ir_value **bin = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)nv);
        ir_value **cin = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)nv);
        if (!bin || !cin) return oom(cx);
        for (int k = 0; k < nv; k++) {
            ir_type t = k == 0 ? ir_scalar_type(IR_INT32) : k == 1 ? ir_scalar_type(IR_BOOL) : gs.t[k - 2];
            if (k >= 2 && !gs.known[k - 2]) return lower_fail(cx, "an empty list carried by a loop that never adds to it");
            cx->base = op->name;
            const char *nb = lower_name(cx, k == 0 ? "iter" : k == 1 ? "cond" : "var");
            const char *nc2 = lower_name(cx, k == 0 ? "iter_c" : k == 1 ? "cond_c" : "var_c");
            if (!nb || !nc2 || !(bin[k] = ir_block_add_input(bb, nb, t)) || !(cin[k] = ir_block_add_input(cb, nc2, t)))
                return oom(cx);
            lower_names_add(cx, nb, bin[k]);
            lower_names_add(cx, nc2, cin[k]);
        }
        /* lower the body */
        cx->b = bb;
        cx->vals[b->in[0]->id] = dyn_lv(cx, LV_INT, 0, bin[0]);
        lv **cur = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)nc);
        if (!cur) return oom(cx);
        for (int i = 0; i < nc; i++) {
            if (!(cur[i] = instantiate(cx, guess[i], &gs, bin + 2))) return -1;
            if (i < ncar) cx->vals[b->in[1 + i]->id] = cur[i];
            else cx->vals[(int)(intptr_t)ids.v[i - ncar]] = cur[i];
        }
        if (lower_block_nodes(cx, b)) {
            cx->b = outer;
            return -1;
        }
        restore_node(cx, n, base, loc);
        int nids = ids.n;
        if (rebound(cx, snap, inner, &ids)) return -1;
        /* what comes out: entry vs exit templates */
        lv **ex = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(ncar + ids.n));
        if (!ex) return oom(cx);
        for (int i = 0; i < ncar + ids.n; i++) {
            ex[i] = i < ncar ? cx->vals[b->out[1 + i]->id] : cx->vals[(int)(intptr_t)ids.v[i - ncar]];
            if (!ex[i]) return lower_fail(cx, "loop output %d has no value", i);
        }
        lv *cexit = cx->vals[b->out[0]->id];
        if (!cexit) return lower_fail(cx, "the loop condition has no value");
        if (ids.n != nids) { /* the body rebinds outer values: carry them too */
            cx->b = outer;
            continue;
        }
        slots ns = {0};
        lv **nt = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)nc);
        if (!nt) return oom(cx);
        int same = 1;
        for (int i = 0; i < nc; i++) {
            /* the exit of an unchanged carried value is its block-input lv: compare with the entry then */
            lv *x = ex[i] == cur[i] ? ent[i] : ex[i];
            if (!(nt[i] = tmpl(cx, ent[i], x, &ns, "a loop-carried value"))) return -1;
            if (widen(cx, nt[i], &ns, guess[i], &gs)) return -1;
        }
        for (int i = 0; i < nc && same; i++) same = tmpl_equal(nt[i], &ns, guess[i], &gs);
        if (!same) {
            guess = nt;
            gs = ns;
            cx->b = outer;
            continue;
        }
        /* converged: body outputs (iteration + 1, condition, slot values) */
        cx->b = bb;
        ir_value **bout = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)nv);
        if (!bout) return oom(cx);
        ir_value *one = lb_const_scalar(cx, 1, IR_INT32, "one");
        if (!one || !(bout[0] = lb_binary(cx, IR_OP_ADD, bin[0], one, "next_iter"))) return -1;
        if (!(bout[1] = bool_scalar(cx, cexit))) return -1;
        has_cond = cexit->dyn || cexit->kind == LV_TENSOR || !c0_static || cexit->i == 0;
        /* leaves of the exit in the order of the guess's slots */
        lv **leaf = slot_leaves(cx, guess, ex, nc, gs.n);
        if (!leaf) return oom(cx);
        for (int k = 0; k < gs.n; k++) {
            if (!leaf[k]) return lower_fail(cx, "internal: loop slot %d has no exit value", k);
            if (!(bout[2 + k] = leaf_value(cx, &gs, k, leaf[k]))) return -1;
            if (bout[2 + k]->type.dtype != gs.t[k].dtype || bout[2 + k]->type.rank != gs.t[k].rank)
                return lower_fail(cx, "internal: loop slot %d changes type (%s -> %s)", k, ir_type_str(&gs.t[k], (char[160]){0}, 160), ir_type_str(&bout[2 + k]->type, (char[160]){0}, 160));
        }
        if (ir_block_set_outputs(bb, nv, bout)) return oom(cx);
        break;
    }
    /* the cond block: iteration < trips (when finite), and the condition */
    cx->b = cb;
    ir_value *go = NULL;
    if (!infinite) {
        ir_value *lim = lb_as_tensor(cx, trip, IR_INT32);
        if (!lim || !(go = lb_binary(cx, IR_OP_LESS, cb->in[0], lim, "in_range"))) return -1;
    }
    if (has_cond) go = go ? lb_binary(cx, IR_OP_LOGICAL_AND, go, cb->in[1], "go") : cb->in[1];
    if (!go) return lower_fail(cx, "the loop never ends (no trip count and a condition that stays true)");
    if (go->def == NULL || go->def->parent != cb) go = lb_unary(cx, IR_OP_IDENTITY, go, "go");
    if (!go || ir_block_set_outputs(cb, 1, &go)) return -1;
    /* entry values, then the op itself */
    cx->b = outer;
    restore(cx, snap);
    int nv = 2 + gs.n;
    ir_value **init = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)nv);
    if (!init) return oom(cx);
    if (!(init[0] = lb_const_scalar(cx, 0, IR_INT32, "iter0")) || !(init[1] = bool_scalar(cx, c0))) return -1;
    {
        lv **eleaf = slot_leaves(cx, guess, ent, nc, gs.n);
        if (!eleaf) return oom(cx);
        for (int k = 0; k < gs.n; k++) {
            if (!eleaf[k]) return lower_fail(cx, "internal: loop slot %d has no entry value", k);
            if (!(init[2 + k] = leaf_value(cx, &gs, k, eleaf[k]))) return -1;
        }
    }
    if (ir_op_set_inputs(op, "loop_vars", nv, init)) return oom(cx);
    if (!lb_finish(cx, op)) return -1;
    for (int i = 0; i < nc; i++) {
        lv *l = instantiate(cx, guess[i], &gs, op->out + 2);
        if (!l) return -1;
        if (i < ncar) {
            if (lower_out(cx, n, i, l)) return -1;
        } else {
            cx->vals[(int)(intptr_t)ids.v[i - ncar]] = l;
        }
    }
    return 0;
}

/* ---- lists known only at run time ---- */
/* Dimension d of x: a compile-time int, or a run-time int32 scalar. */
static lv *dim_of(lower_ctx *cx, ir_value *x, int d) {
    if (x->type.dims[d] >= 0) return lv_int(cx, x->type.dims[d]);
    ir_value *s = lb_unary(cx, IR_OP_SHAPE, x, "shape");
    ir_value *idx = s ? lb_const_scalar(cx, d, IR_INT32, "index") : NULL;
    ir_op *op = idx ? lb_op(cx, IR_OP_GATHER, "dim") : NULL;
    if (!op || ir_op_set_input(op, "x", s) || ir_op_set_input(op, "indices", idx) || lb_param_i32(cx, op, "axis", 0))
        return NULL;
    return dyn_lv(cx, LV_INT, 0, lb_finish(cx, op));
}

/* The elements of a list as one tensor [n, ...] (ints: int32 [n]). */
static ir_value *list_tensor(lower_ctx *cx, lv *l) {
    if (l->dyn) return l->v;
    if (l->n == 0) return lower_fail(cx, "an empty list has no elements to read"), NULL;
    lv_kind ek = list_elem(l);
    if (ek != LV_TENSOR) {
        ir_dtype dt = num_dtype(ek);
        for (int i = 0; i < l->n; i++)
            if (l->items[i]->kind == LV_FLOAT) dt = IR_FP32;
        return lb_as_tensor(cx, l, dt);
    }
    ir_value **items = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)l->n);
    if (!items) return oom(cx), NULL;
    for (int i = 0; i < l->n; i++)
        if (!(items[i] = lb_as_tensor(cx, l->items[i], IR_DT_INVALID))) return NULL;
    ir_op *op = lb_op(cx, IR_OP_STACK, "stacked");
    if (!op || ir_op_set_inputs(op, "values", l->n, items) || lb_param_i32(cx, op, "axis", 0)) return NULL;
    return lb_finish(cx, op);
}

lv *lower_list_len(lower_ctx *cx, lv *l) {
    if (l->kind != LV_LIST) return lower_fail(cx, "len() of a %s", lv_kind_name(l->kind)), NULL;
    if (!l->dyn) return lv_int(cx, l->n);
    return dim_of(cx, l->v, 0);
}

lv *lower_list_item(lower_ctx *cx, lv *l, lv *idx) {
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) return lower_fail(cx, "cannot index a %s", lv_kind_name(l->kind)), NULL;
    if (idx->kind != LV_INT && idx->kind != LV_BOOL) return lower_fail(cx, "a list index must be an int"), NULL;
    if (l->kind == LV_TUPLE && idx->dyn) return lower_fail(cx, "a tuple indexed at run time"), NULL;
    ir_value *v = list_tensor(cx, l);
    if (!v) return NULL;
    ir_value *i;
    if (!idx->dyn && idx->i < 0) { /* from the end */
        lv *len = lower_list_len(cx, l);
        ir_value *lt = len ? lb_as_tensor(cx, len, IR_INT32) : NULL;
        ir_value *off = lt ? lb_const_scalar(cx, (double)idx->i, IR_INT32, "index") : NULL;
        i = off ? lb_binary(cx, IR_OP_ADD, lt, off, "index") : NULL;
    } else {
        i = lb_as_tensor(cx, idx, IR_INT32);
    }
    ir_op *op = i ? lb_op(cx, IR_OP_GATHER, "item") : NULL;
    if (!op || ir_op_set_input(op, "x", v) || ir_op_set_input(op, "indices", i) || lb_param_i32(cx, op, "axis", 0))
        return NULL;
    ir_value *r = lb_finish(cx, op);
    lv_kind ek = l->dyn ? l->elem : list_elem(l);
    if (!r) return NULL;
    if (ek == LV_TENSOR) return lv_tensor(cx, r);
    return dyn_lv(cx, ir_dtype_is_float(r->type.dtype) ? LV_FLOAT : ek ? ek : LV_INT, 0, r);
}

/* cat (elements joined along dim) or stack (along a new dim) of a list. */
ir_value *lb_list_cat(lower_ctx *cx, lv *l, int64_t dim, int stack) {
    ir_value *v = list_tensor(cx, l);
    if (!v) return NULL;
    int r = v->type.rank - 1, d; /* element rank */
    if (r < 0 || lower_axis(cx, dim, stack ? r + 1 : r, &d)) return NULL;
    int64_t perm[IR_MAX_RANK];
    int k = 0;
    for (int i = 1; i <= d; i++) perm[k++] = i;
    perm[k++] = 0;
    for (int i = d + 1; i <= r; i++) perm[k++] = i;
    ir_value *t = v;
    if (d > 0) {
        ir_op *op = lb_op(cx, IR_OP_TRANSPOSE, "moved");
        if (!op || ir_op_set_input(op, "x", v) || lb_param_i32v(cx, op, "perm", r + 1, perm) || !(t = lb_finish(cx, op)))
            return NULL;
    }
    if (stack) return t;
    /* merge the list axis (now d) with the element's axis d (now d + 1) */
    lv *shape = lv_new(cx, LV_LIST);
    if (!shape || !(shape->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)r))) return oom(cx), NULL;
    for (int i = 0; i <= r; i++) {
        if (i == d + 1) continue;
        lv *x = i == d ? lv_int(cx, -1) : dim_of(cx, t, i);
        if (!x) return NULL;
        shape->items[shape->n++] = x;
    }
    ir_value *s = lb_shape_tensor(cx, shape);
    ir_op *op = s ? lb_op(cx, IR_OP_RESHAPE, NULL) : NULL;
    if (!op || ir_op_set_input(op, "x", t) || ir_op_set_input(op, "shape", s)) return NULL;
    return lb_finish(cx, op);
}

/* list.append(x): a new list bound to the list's value (the mutation) and the output. */
int lower_append(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0), *x = lower_in(cx, n, 1);
    if (!l || !x) return -1;
    if (l->kind != LV_LIST) return lower_fail(cx, "append to a %s", lv_kind_name(l->kind));
    lv *r = lv_new(cx, LV_LIST);
    if (!r) return -1;
    if (!l->dyn) {
        r->n = l->n + 1;
        r->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)r->n);
        if (!r->items) return oom(cx);
        for (int i = 0; i < l->n; i++) r->items[i] = l->items[i];
        r->items[l->n] = x;
    } else {
        ir_value *e = lb_as_tensor(cx, x, l->v->type.dtype);
        int64_t ax = 0;
        ir_op *op = e ? lb_op(cx, IR_OP_EXPAND_DIMS, "item") : NULL;
        if (!op || ir_op_set_input(op, "x", e) || lb_param_i32v(cx, op, "axes", 1, &ax)) return -1;
        ir_value *vs[2] = {l->v, lb_finish(cx, op)};
        ir_op *cat = vs[1] ? lb_op(cx, IR_OP_CONCAT, NULL) : NULL;
        if (!cat || ir_op_set_inputs(cat, "values", 2, vs) || lb_param_i32(cx, cat, "axis", 0) ||
            lb_param_bool(cx, cat, "interleave", 0) || !(r->v = lb_finish(cx, cat)))
            return -1;
        r->dyn = 1;
        r->elem = l->elem;
    }
    cx->vals[n->in[0]->id] = r;
    return lower_out(cx, n, 0, r);
}

/* ---- bool logic on numbers: __and__ / __or__ / __xor__ of bools or ints, known at
 * conversion time or at run time (compare.c calls it for non-tensor operands) ---- */
int lower_logic_scalar(lower_ctx *cx, const ts_node *n) {
    lv *a = lower_in(cx, n, 0), *b = lower_in(cx, n, 1);
    if (!a || !b) return -1;
    const char *k = strstr(n->kind, "::");
    k = k ? k + 2 : n->kind;
    while (*k == '_') k++;
    if (strncmp(k, "logical_", 8) == 0) k += 8;
    int op = k[0] == 'a' ? 0 : k[0] == 'o' ? 1 : 2;
    if (is_num(a) && is_num(b) && !a->dyn && !b->dyn) {
        if (a->kind == LV_FLOAT || b->kind == LV_FLOAT) return lower_fail(cx, "bitwise op on floats");
        int64_t x = a->i, y = b->i, r = op == 0 ? (x & y) : op == 1 ? (x | y) : (x ^ y);
        return lower_out(cx, n, 0, (a->kind == LV_BOOL && b->kind == LV_BOOL) ? lv_bool(cx, (int)r) : lv_int(cx, r));
    }
    int logical = strncmp(n->kind + 6, "logical_", 8) == 0;
    ir_value *x = lb_as_tensor(cx, a, IR_DT_INVALID), *y = x ? lb_as_tensor(cx, b, IR_DT_INVALID) : NULL;
    if (!y) return -1;
    if (!logical && (x->type.dtype != IR_BOOL || y->type.dtype != IR_BOOL))
        return lower_fail(cx, "bitwise ops on integer tensors have no Core ML op (only bools)");
    if (x->type.dtype != IR_BOOL && !(x = lb_cast(cx, x, IR_BOOL, "bool"))) return -1;
    if (y->type.dtype != IR_BOOL && !(y = lb_cast(cx, y, IR_BOOL, "bool"))) return -1;
    ir_value *r = lb_binary(cx, op == 0 ? IR_OP_LOGICAL_AND : op == 1 ? IR_OP_LOGICAL_OR : IR_OP_NOT_EQUAL, x, y, NULL);
    if (!r) return -1;
    if (a->kind != LV_TENSOR && b->kind != LV_TENSOR) return lower_out(cx, n, 0, dyn_lv(cx, LV_BOOL, 0, r));
    return lower_out_tensor(cx, n, 0, r);
}

/* ---- warnings, uninitialized values, exception messages ---- */
int lower_format(lower_ctx *cx, const ts_node *n) {
    lv *l = lv_new(cx, LV_STR);
    if (!l) return -1;
    l->s = "<formatted message>";
    return lower_out(cx, n, 0, l);
}

int lower_ignore(lower_ctx *cx, const ts_node *n) {
    for (int i = 0; i < n->nout; i++)
        if (lower_out(cx, n, i, lv_none(cx))) return -1;
    return 0;
}

int lower_uninitialized(lower_ctx *cx, const ts_node *n) { return lower_out(cx, n, 0, lv_none(cx)); }
