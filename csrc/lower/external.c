/* external.c: what converters outside the registry (Python) see of the
 * lowering context (see lower.h "for external converters"): the program and
 * block to build into, unique names, and the node's inputs and outputs as plain
 * trees (lower_xv) converted from and to lowered values (lv).
 */
#include "lower/build.h"

#include <string.h>

ir_program *lower_ext_program(lower_ctx *cx) { return cx->p; }
ir_block *lower_ext_block(lower_ctx *cx) { return cx->b; }
const char *lower_ext_loc(lower_ctx *cx) { return cx->loc; }

const char *lower_ext_name(lower_ctx *cx, const char *base) {
    const char *saved = cx->base;
    if (base) {
        cx->base = lower_sanitize(cx->p->arena, base);
        if (!cx->base) {
            cx->base = saved;
            return NULL;
        }
    }
    const char *s = lower_name(cx, NULL);
    cx->base = saved;
    return s;
}

static int oom(pc_err *e) { return pc_fail(e, PC_E_NOMEM, "lowering: out of memory"); }

/* lv -> lower_xv (deep; items in the arena). */
static int to_x(lower_ctx *cx, const lv *l, lower_xv *x, pc_err *e) {
    memset(x, 0, sizeof *x);
    if (l->dyn || l->kind == LV_TENSOR) {
        x->kind = LOWER_X_TENSOR;
        x->v = l->v;
        return 0;
    }
    switch (l->kind) {
    case LV_INT: x->kind = LOWER_X_INT; x->i = l->i; return 0;
    case LV_BOOL: x->kind = LOWER_X_BOOL; x->i = l->i; return 0;
    case LV_FLOAT: x->kind = LOWER_X_FLOAT; x->f = l->f; return 0;
    case LV_STR: x->kind = LOWER_X_STR; x->s = l->s; return 0;
    case LV_DEVICE: x->kind = LOWER_X_DEVICE; x->s = l->s; return 0;
    case LV_NONE: x->kind = LOWER_X_NONE; return 0;
    case LV_COMPLEX:
        return pc_fail(e, PC_E_CONVERT, "%s: a complex tensor cannot be passed to a Python converter (Core ML has "
                       "no complex type)", cx->loc ? cx->loc : "lowering");
    case LV_LIST:
    case LV_TUPLE:
        x->kind = l->kind == LV_LIST ? LOWER_X_LIST : LOWER_X_TUPLE;
        x->n = l->n;
        x->items = pc_alloc(cx->p->arena, sizeof(lower_xv) * (size_t)(l->n ? l->n : 1));
        if (!x->items) return oom(e);
        for (int i = 0; i < l->n; i++)
            if (to_x(cx, l->items[i], &x->items[i], e)) return -1;
        return 0;
    default: return pc_fail(e, PC_E_INTERNAL, "lowering: a value of unknown kind");
    }
}

int lower_ext_input(lower_ctx *cx, int i, lower_xv **out, pc_err *e) {
    const ts_node *n = cx->node;
    *out = NULL;
    if (!n || i < 0 || i >= n->nin) return pc_fail(e, PC_E_VALUE, "lowering: no input %d", i);
    lv *l = cx->vals[n->in[i]->id];
    if (!l) return pc_fail(e, PC_E_CONVERT, "input %d (%%%s) has no lowered value", i, n->in[i]->name);
    lower_xv *x = pc_alloc(cx->p->arena, sizeof *x);
    if (!x) return oom(e);
    if (to_x(cx, l, x, e)) return -1;
    *out = x;
    return 0;
}

/* lower_xv -> lv (deep). */
static lv *from_x(lower_ctx *cx, const lower_xv *x, pc_err *e) {
    static const lv_kind map[] = {
        [LOWER_X_TENSOR] = LV_TENSOR, [LOWER_X_INT] = LV_INT,   [LOWER_X_FLOAT] = LV_FLOAT,
        [LOWER_X_BOOL] = LV_BOOL,     [LOWER_X_STR] = LV_STR,   [LOWER_X_NONE] = LV_NONE,
        [LOWER_X_DEVICE] = LV_DEVICE, [LOWER_X_LIST] = LV_LIST, [LOWER_X_TUPLE] = LV_TUPLE,
    };
    if ((int)x->kind < LOWER_X_TENSOR || (int)x->kind > LOWER_X_TUPLE) {
        pc_fail(e, PC_E_VALUE, "lowering: a value of unknown kind %d", (int)x->kind);
        return NULL;
    }
    if (x->kind == LOWER_X_TENSOR && !x->v) {
        pc_fail(e, PC_E_VALUE, "lowering: a tensor without a value");
        return NULL;
    }
    lv *l = lv_new(cx, map[x->kind]);
    if (!l) return NULL;
    l->v = x->v;
    l->i = x->i;
    l->f = x->f;
    if (x->s && !(l->s = pc_strdup(cx->p->arena, x->s))) {
        oom(e);
        return NULL;
    }
    if (x->kind == LOWER_X_LIST || x->kind == LOWER_X_TUPLE) {
        l->n = x->n;
        l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(x->n ? x->n : 1));
        if (!l->items) {
            oom(e);
            return NULL;
        }
        for (int i = 0; i < x->n; i++)
            if (!(l->items[i] = from_x(cx, &x->items[i], e))) return NULL;
    }
    return l;
}

int lower_ext_bind(lower_ctx *cx, int i, const lower_xv *val, pc_err *e) {
    const ts_node *n = cx->node;
    if (!n || i < 0 || i >= n->nout) return pc_fail(e, PC_E_VALUE, "lowering: no output %d", i);
    lv *l = from_x(cx, val, e);
    if (!l) return -1;
    cx->vals[n->out[i]->id] = l;
    return 0;
}

int lower_ext_is_bound(lower_ctx *cx, int i) {
    const ts_node *n = cx->node;
    return n && i >= 0 && i < n->nout && cx->vals[n->out[i]->id] != NULL;
}

/* The new value l of the tensor `in` (an input the op writes, or an element of a written list). */
static int write_tensor(lower_ctx *cx, const ts_value *in, lv *l, pc_err *e) {
    pc_err *saved = cx->e;
    cx->e = e;
    /* an earlier write of this node may have changed what the views between this input and its base read */
    int rc = (cx->ext_written && lower_view_refresh(cx, in)) || lower_write_input(cx, in, l);
    cx->e = saved;
    return rc;
}

int lower_ext_write(lower_ctx *cx, int i, const lower_xv *val, pc_err *e) {
    const ts_node *n = cx->node;
    if (!n || i < 0 || i >= n->nin) return pc_fail(e, PC_E_VALUE, "lowering: no input %d", i);
    const ts_value *in = n->in[i];
    if (i >= 64 || !((n->writes >> i) & 1))
        return pc_fail(e, PC_E_VALUE, "input %d (%%%s) is not one the op writes (its schema marks the tensors it "
                       "writes, Tensor(a!))", i, in->name);
    lv *old = cx->vals[in->id];
    if (old && old->kind == LV_LIST && !old->dyn) { /* Tensor(a!)[]: each element, as the list was built */
        const ts_node *def = in->def;
        if (!def || strcmp(def->kind, "prim::ListConstruct") != 0 || def->nin != old->n)
            return pc_fail(e, PC_E_VALUE, "input %d (%%%s): a written list must be built in the model (a list "
                           "of tensors)", i, in->name);
        if ((val->kind != LOWER_X_LIST && val->kind != LOWER_X_TUPLE) || val->n != old->n)
            return pc_fail(e, PC_E_VALUE, "the new value of input %d (%%%s) must be a list of %d tensors", i,
                           in->name, old->n);
        lv *l = from_x(cx, val, e);
        if (!l) return -1;
        for (int k = 0; k < l->n; k++) {
            if (l->items[k]->kind != LV_TENSOR || !cx->vals[def->in[k]->id] ||
                cx->vals[def->in[k]->id]->kind != LV_TENSOR)
                return pc_fail(e, PC_E_VALUE, "input %d (%%%s), element %d: only tensors are written", i, in->name, k);
            if (write_tensor(cx, def->in[k], l->items[k], e)) return -1;
            cx->ext_written |= (uint64_t)1 << i; /* the next element's views are read again */
        }
        l->kind = LV_LIST;
        cx->vals[in->id] = l;
        return 0;
    }
    if (!old || old->kind != LV_TENSOR)
        return pc_fail(e, PC_E_VALUE, "input %d (%%%s) is not a tensor here: only tensors are written", i, in->name);
    if (val->kind != LOWER_X_TENSOR || !val->v)
        return pc_fail(e, PC_E_VALUE, "the new value of input %d (%%%s) must be a tensor", i, in->name);
    lv *l = from_x(cx, val, e);
    if (!l || write_tensor(cx, in, l, e)) return -1;
    cx->ext_written |= (uint64_t)1 << i;
    return 0;
}
