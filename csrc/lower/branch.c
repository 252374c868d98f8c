/* branch.c: prim::If. A condition known at conversion time lowers the taken branch inline; a run-time one
 * becomes MIL cond (both branches lowered into its blocks) or, when the branches only pick between values
 * made outside, one select per value. A branch that raises an exception is dropped. */
#include "lower/carry.h"

#include <stdio.h>
#include <string.h>

static int oom(lower_ctx *cx) { return cx->e->kind ? -1 : pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"); }

/* A block that raises: its last meaningful node is prim::RaiseException. */
static int block_raises(const ts_block *b) {
    for (int i = 0; i < b->nnodes; i++)
        if (strcmp(b->nodes[i]->kind, "prim::RaiseException") == 0) return 1;
    return 0;
}

static int inline_branch(lower_ctx *cx, const ts_node *n, const ts_block *b) {
    const char *base = cx->base, *loc = cx->loc;
    if (lower_block_nodes(cx, b)) return -1;
    carry_restore_node(cx, n, base, loc);
    if (b->nout != n->nout) return lower_fail(cx, "branch returns %d values for %d outputs", b->nout, n->nout);
    for (int i = 0; i < n->nout; i++) {
        lv *l = cx->vals[b->out[i]->id];
        if (!l) return lower_fail(cx, "branch output %d has no value", i);
        if (lower_out(cx, n, i, l)) return -1;
    }
    return 0;
}

/* The if's outputs and the outer values its branches rebind (ids, after the outputs in tm), from templates
 * with slot k bound to vals[k]. */
static int bind_results(lower_ctx *cx, const ts_node *n, lv **tm, int nt, const pc_vec *ids, const slots *s,
                        ir_value *const *vals) {
    for (int i = 0; i < nt; i++) {
        lv *l = carry_instantiate(cx, tm[i], s, vals);
        if (!l) return -1;
        if (i < n->nout) {
            if (lower_out(cx, n, i, l)) return -1;
        } else {
            cx->vals[(int)(intptr_t)ids->v[i - n->nout]] = l;
        }
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
    ir_value *pred = carry_bool_scalar(cx, cond);
    if (!pred) return -1;
    unsigned char *inner = pc_alloc(cx->p->arena, (size_t)cx->g->nvalues + 1);
    lv **snap = carry_snapshot(cx);
    if (!inner || !snap) return oom(cx);
    carry_mark_defs(n->blocks[0], inner);
    carry_mark_defs(n->blocks[1], inner);
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
        if (k == 1) carry_restore(cx, snap);
        if (lower_block_nodes(cx, n->blocks[k])) {
            cx->b = outer;
            return -1;
        }
        carry_restore_node(cx, n, base, loc);
        const ts_block *tb = n->blocks[k];
        if (tb->nout != n->nout) return lower_fail(cx, "branch returns %d values for %d outputs", tb->nout, n->nout);
        res[k] = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(n->nout ? n->nout : 1));
        if (!res[k]) return oom(cx);
        for (int i = 0; i < n->nout; i++)
            if (!(res[k][i] = cx->vals[tb->out[i]->id])) return lower_fail(cx, "branch %d output %d has no value", k, i);
        if (carry_rebound(cx, snap, inner, &ids)) return -1;
        if (k == 0 && !(after0 = carry_snapshot(cx))) return -1;
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
        if (!(tm[i] = carry_tmpl(cx, a, b, &s, what))) return -1;
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
            ir_value *va = carry_leaf_value(cx, &s, k, s.a[k]), *vb = carry_leaf_value(cx, &s, k, s.b[k]);
            ir_op *sel = lb_op(cx, IR_OP_SELECT, "picked");
            if (!sel || ir_op_set_input(sel, "cond", pred) || ir_op_set_input(sel, "a", va) || ir_op_set_input(sel, "b", vb) ||
                !(outs[k] = lb_finish(cx, sel)))
                return -1;
        }
        return bind_results(cx, n, tm, nt, &ids, &s, outs);
    }
    for (int side = 0; side < 2; side++) {
        ir_value **outs = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)(s.n ? s.n : 1));
        if (!outs) return oom(cx);
        cx->b = blk[side];
        for (int k = 0; k < s.n; k++)
            if (!(outs[k] = carry_leaf_value(cx, &s, k, side ? s.b[k] : s.a[k]))) return -1;
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
    return bind_results(cx, n, tm, nt, &ids, &s, op->out);
}
