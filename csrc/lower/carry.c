/* carry.c: values crossing a block boundary (branch outputs, loop-carried values, and outer values a
 * block rebinds, such as a list appended to inside a loop), matched up by a template: parts that are the
 * same on both sides stay compile-time values, the rest become "slots", each one IR value per side: a
 * tensor, a rank-0 int32/fp32/bool for a number, or a tensor [n, ...] for a list that grows (its elements
 * stacked along a new first axis; an int list is int32 [n]). branch.c (prim::If) and loop.c (prim::Loop)
 * use it. */
#include "lower/carry.h"

#include <string.h>

static int oom(lower_ctx *cx) { return cx->e->kind ? -1 : pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"); }

/* Walk the loop-carried templates (guess) against values of the same structure and
 * return, per slot, the value that fills it (NULL where the structure differs).
 * NULL on OOM. */
lv **carry_slot_leaves(lower_ctx *cx, lv **guess, lv **vals, int nc, int nslots) {
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

int carry_is_num(const lv *l) { return l->kind == LV_INT || l->kind == LV_FLOAT || l->kind == LV_BOOL; }

ir_dtype carry_num_dtype(lv_kind k) { return k == LV_FLOAT ? IR_FP32 : k == LV_BOOL ? IR_BOOL : IR_INT32; }

lv *carry_dyn_lv(lower_ctx *cx, lv_kind k, lv_kind elem, ir_value *v) {
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

lv *carry_seq(lower_ctx *cx, const lv *like) {
    lv *r = lv_new(cx, like->kind);
    if (!r) return NULL;
    r->n = like->n;
    r->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(like->n ? like->n : 1));
    if (!r->items) return oom(cx), NULL;
    return r;
}

/* ---- slots ---- */
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
int carry_join_type(lower_ctx *cx, ir_type *t, int *known, const ir_type *u, const char *what) {
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
        if (!carry_is_num(l)) return lower_fail(cx, "%s is a number on one path and a %s on the other", what, lv_kind_name(l->kind));
        *t = ir_scalar_type(carry_num_dtype(kind));
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
            if (!carry_is_num(x)) return lower_fail(cx, "%s: a list mixing numbers and %ss", what, lv_kind_name(x->kind));
            int64_t d = l->n;
            u = ir_tensor_type(carry_num_dtype(elem), 1, &d);
        }
        if (carry_join_type(cx, t, known, &u, what)) return -1;
    }
    return 0;
}

int carry_same_static(const lv *a, const lv *b) {
    if (a == b) return 1;
    if (a->dyn || b->dyn) return 0;
    if (carry_is_num(a) && carry_is_num(b)) return a->kind == b->kind && (a->kind == LV_FLOAT ? a->f == b->f : a->i == b->i);
    if (a->kind == LV_NONE && b->kind == LV_NONE) return 1;
    if ((a->kind == LV_STR || a->kind == LV_DEVICE) && a->kind == b->kind) return a->s && b->s && strcmp(a->s, b->s) == 0;
    if ((a->kind == LV_LIST || a->kind == LV_TUPLE) && a->kind == b->kind && a->n == b->n) {
        for (int i = 0; i < a->n; i++)
            if (!carry_same_static(a->items[i], b->items[i])) return 0;
        return 1;
    }
    return 0;
}

lv_kind carry_list_elem(const lv *l) {
    if (l->dyn) return l->elem;
    for (int i = 0; i < l->n; i++) {
        lv_kind k = l->items[i]->kind;
        if (k == LV_TENSOR) return LV_TENSOR;
        if (carry_is_num(l->items[i])) return k;
    }
    return 0;
}

/* Template of a (one side) and b (the other): what is the same stays, the rest becomes slots. */
lv *carry_tmpl(lower_ctx *cx, lv *a, lv *b, slots *s, const char *what) {
    if (carry_same_static(a, b)) return a;
    if ((a->kind == LV_TUPLE && b->kind == LV_TUPLE && a->n == b->n) ||
        (a->kind == LV_LIST && b->kind == LV_LIST && !a->dyn && !b->dyn && a->n == b->n && a->n > 0)) {
        lv *r = carry_seq(cx, a);
        if (!r) return NULL;
        for (int i = 0; i < a->n; i++)
            if (!(r->items[i] = carry_tmpl(cx, a->items[i], b->items[i], s, what))) return NULL;
        return r;
    }
    lv_kind kind, elem = 0;
    if (a->kind == LV_TENSOR && b->kind == LV_TENSOR) {
        kind = LV_TENSOR;
    } else if (carry_is_num(a) && carry_is_num(b)) {
        kind = (a->kind == LV_FLOAT || b->kind == LV_FLOAT) ? LV_FLOAT : (a->kind == LV_BOOL && b->kind == LV_BOOL) ? LV_BOOL : LV_INT;
    } else if (a->kind == LV_LIST && b->kind == LV_LIST) {
        lv_kind ea = carry_list_elem(a), eb = carry_list_elem(b);
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
    if (known && carry_join_type(cx, &s->t[k], &s->known[k], &t, what)) return NULL;
    if (leaf_type(cx, b, kind, elem, &t, &known, what)) return NULL;
    if (known && carry_join_type(cx, &s->t[k], &s->known[k], &t, what)) return NULL;
    lv *r = lv_new(cx, LV_SLOT);
    if (r) r->i = k;
    return r;
}

/* Build the lv a template stands for, with slot k bound to vals[k]. */
lv *carry_instantiate(lower_ctx *cx, lv *t, const slots *s, ir_value *const *vals) {
    if (t->kind == LV_SLOT) return carry_dyn_lv(cx, s->kind[t->i], s->elem[t->i], vals[t->i]);
    if (t->kind != LV_TUPLE && t->kind != LV_LIST) return t;
    if (t->dyn) return t;
    lv *r = carry_seq(cx, t);
    if (!r) return NULL;
    for (int i = 0; i < t->n; i++)
        if (!(r->items[i] = carry_instantiate(cx, t->items[i], s, vals))) return NULL;
    return r;
}

/* Emit (in cx->b) the IR value of a leaf for slot k. */
ir_value *carry_leaf_value(lower_ctx *cx, const slots *s, int k, lv *l) {
    if (LB_SKIP(cx, l)) return NULL;
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
void carry_mark_defs(const ts_block *b, unsigned char *in) {
    for (int i = 0; i < b->nin; i++) in[b->in[i]->id] = 1;
    for (int i = 0; i < b->nnodes; i++) {
        const ts_node *n = b->nodes[i];
        for (int k = 0; k < n->nout; k++) in[n->out[k]->id] = 1;
        for (int k = 0; k < n->nblocks; k++) carry_mark_defs(n->blocks[k], in);
    }
}

lv **carry_snapshot(lower_ctx *cx) {
    size_t n = (size_t)(cx->g->nvalues ? cx->g->nvalues : 1);
    lv **s = pc_alloc(cx->p->arena, sizeof(lv *) * n);
    if (!s) return oom(cx), NULL;
    memcpy(s, cx->vals, sizeof(lv *) * (size_t)cx->g->nvalues);
    return s;
}

void carry_restore(lower_ctx *cx, lv **snap) { memcpy(cx->vals, snap, sizeof(lv *) * (size_t)cx->g->nvalues); }

/* Ids of outer values whose binding differs from snap (not defined inside: inner[]), appended to *ids. */
int carry_rebound(lower_ctx *cx, lv **snap, const unsigned char *inner, pc_vec *ids) {
    for (int i = 0; i < cx->g->nvalues; i++) {
        if (inner[i] || !snap[i] || cx->vals[i] == snap[i]) continue;
        int seen = 0;
        for (int k = 0; k < ids->n; k++) seen |= (int)(intptr_t)ids->v[k] == i;
        if (!seen && pc_vec_push(cx->p->arena, ids, (void *)(intptr_t)i)) return oom(cx);
    }
    return 0;
}

void carry_restore_node(lower_ctx *cx, const ts_node *n, const char *base, const char *loc) {
    cx->node = n;
    cx->base = base;
    cx->loc = loc;
}

ir_value *carry_bool_scalar(lower_ctx *cx, lv *c) {
    ir_value *v = lb_as_tensor(cx, c, IR_BOOL);
    if (v && v->type.rank != 0) {
        if (ir_type_numel(&v->type) != 1) return lower_fail(cx, "the condition must have one element"), NULL;
        v = lb_reshape(cx, v, 0, NULL, "pred");
    }
    return v;
}
