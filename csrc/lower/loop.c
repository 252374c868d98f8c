/* loop.c: prim::Loop. A loop is lowered in passes: the body is lowered with its carried values typed by
 * the current guess; when what comes out does not fit (a compile-time number that changes, a list that
 * grows, a dim that differs between iterations) the guess is widened and the body lowered again. Static
 * unrolling is kept for small known trip counts whose condition stays known; otherwise a while_loop is
 * made. */
#include "lower/carry.h"

#include <string.h>

#define MAX_UNROLL 32         /* unroll only loops this short ... */
#define MAX_UNROLL_NODES 2048 /* ... whose unrolled body stays this small */
#define MAX_PASSES 8

static int oom(lower_ctx *cx) { return cx->e->kind ? -1 : pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"); }

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
    lv **snap = carry_snapshot(cx);
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
        carry_restore_node(cx, n, base, loc);
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
    carry_restore(cx, snap);
    carry_restore_node(cx, n, base, loc);
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
    return a == b || carry_same_static(a, b);
}

/* The first guess: tensors and run-time values are carried, compile-time values stay. */
static lv *first_guess(lower_ctx *cx, lv *e, slots *s) {
    if (e->kind == LV_TUPLE || (e->kind == LV_LIST && !e->dyn)) {
        if (e->kind == LV_LIST && e->n == 0) return e;
        lv *r = carry_seq(cx, e);
        if (!r) return NULL;
        for (int i = 0; i < e->n; i++)
            if (!(r->items[i] = first_guess(cx, e->items[i], s))) return NULL;
        return r;
    }
    if (e->kind == LV_TENSOR || e->dyn) return carry_tmpl(cx, e, e->kind == LV_TENSOR ? lv_tensor(cx, e->v) : carry_dyn_lv(cx, e->kind, e->elem, e->v), s, "a loop-carried value");
    return e;
}

/* Widen template `now` (entry vs exit) with the previous guess's slot types. */
static int widen(lower_ctx *cx, lv *now, slots *sn, const lv *prev, const slots *sp) {
    if (now->kind == LV_SLOT && prev->kind == LV_SLOT) {
        int i = (int)now->i, j = (int)prev->i;
        if (sn->kind[i] == sp->kind[j] && sn->elem[i] == sp->elem[j] && sp->known[j])
            return carry_join_type(cx, &sn->t[i], &sn->known[i], &sp->t[j], "a loop-carried value");
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
    lv **snap = carry_snapshot(cx);
    if (!inner || !snap) return oom(cx);
    carry_mark_defs(b, inner);
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
        carry_restore(cx, snap);
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
        cx->vals[b->in[0]->id] = carry_dyn_lv(cx, LV_INT, 0, bin[0]);
        lv **cur = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)nc);
        if (!cur) return oom(cx);
        for (int i = 0; i < nc; i++) {
            if (!(cur[i] = carry_instantiate(cx, guess[i], &gs, bin + 2))) return -1;
            if (i < ncar) cx->vals[b->in[1 + i]->id] = cur[i];
            else cx->vals[(int)(intptr_t)ids.v[i - ncar]] = cur[i];
        }
        if (lower_block_nodes(cx, b)) {
            cx->b = outer;
            return -1;
        }
        carry_restore_node(cx, n, base, loc);
        int nids = ids.n;
        if (carry_rebound(cx, snap, inner, &ids)) return -1;
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
            if (!(nt[i] = carry_tmpl(cx, ent[i], x, &ns, "a loop-carried value"))) return -1;
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
        if (!(bout[1] = carry_bool_scalar(cx, cexit))) return -1;
        has_cond = cexit->dyn || cexit->kind == LV_TENSOR || !c0_static || cexit->i == 0;
        /* leaves of the exit in the order of the guess's slots */
        lv **leaf = carry_slot_leaves(cx, guess, ex, nc, gs.n);
        if (!leaf) return oom(cx);
        for (int k = 0; k < gs.n; k++) {
            if (!leaf[k]) return lower_fail(cx, "internal: loop slot %d has no exit value", k);
            if (!(bout[2 + k] = carry_leaf_value(cx, &gs, k, leaf[k]))) return -1;
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
    carry_restore(cx, snap);
    int nv = 2 + gs.n;
    ir_value **init = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)nv);
    if (!init) return oom(cx);
    if (!(init[0] = lb_const_scalar(cx, 0, IR_INT32, "iter0")) || !(init[1] = carry_bool_scalar(cx, c0))) return -1;
    {
        lv **eleaf = carry_slot_leaves(cx, guess, ent, nc, gs.n);
        if (!eleaf) return oom(cx);
        for (int k = 0; k < gs.n; k++) {
            if (!eleaf[k]) return lower_fail(cx, "internal: loop slot %d has no entry value", k);
            if (!(init[2 + k] = carry_leaf_value(cx, &gs, k, eleaf[k]))) return -1;
        }
    }
    if (ir_op_set_inputs(op, "loop_vars", nv, init)) return oom(cx);
    if (!lb_finish(cx, op)) return -1;
    for (int i = 0; i < nc; i++) {
        lv *l = carry_instantiate(cx, guess[i], &gs, op->out + 2);
        if (!l) return -1;
        if (i < ncar) {
            if (lower_out(cx, n, i, l)) return -1;
        } else {
            cx->vals[(int)(intptr_t)ids.v[i - ncar]] = l;
        }
    }
    return 0;
}
