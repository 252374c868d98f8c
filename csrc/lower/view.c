/* view.c: slice assignment in traced code. aten::slice / aten::select outputs are views of their
 * input in torch; an in-place op on a view (copy_, fill_, add_, index_put_, ...) changes the base.
 * The lowering notes each static slice / select as a view (lower_view_note) and, after an in-place
 * op, writes the view's new value back into its base (lower_view_writeback): the base is rebuilt as
 * concat(before, new, after) along the view's axis, and so on up the chain of views. */
#include "lower/build.h"

#include <string.h>

struct lower_view {
    const ts_value *base;
    int axis, squeeze;
    int64_t begin, end, step;
};

int lower_view_note(lower_ctx *cx, const ts_value *view, const ts_value *base, int axis, int64_t begin, int64_t end,
                    int64_t step, int squeeze) {
    if (!cx->views) {
        cx->views = pc_alloc(cx->p->arena, sizeof(*cx->views) * (size_t)(cx->g->nvalues ? cx->g->nvalues : 1));
        if (!cx->views) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    }
    lower_view *v = pc_alloc(cx->p->arena, sizeof *v);
    if (!v) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    *v = (lower_view){.base = base, .axis = axis, .squeeze = squeeze, .begin = begin, .end = end, .step = step};
    cx->views[view->id] = v;
    return 0;
}

int lower_view_writeback(lower_ctx *cx, const ts_value *view) {
    for (int depth = 0; depth < 64; depth++) {
        lower_view *w = cx->views ? cx->views[view->id] : NULL;
        if (!w) return 0;
        lv *bl = cx->vals[w->base->id], *nl = cx->vals[view->id];
        if (!bl || bl->kind != LV_TENSOR || !nl) return 0;
        ir_value *b = bl->v, *nv = lb_as_tensor(cx, nl, b->type.dtype);
        if (!nv) return -1;
        if (nv->type.dtype != b->type.dtype && !(nv = lb_cast(cx, nv, b->type.dtype, "cast"))) return -1;
        int a = w->axis;
        if (w->squeeze) {
            int64_t ax = a;
            if (!(nv = lb_expand(cx, nv, 1, &ax))) return -1;
        }
        b = lb_assign(cx, b, nv, a, w->begin, w->end, w->step);
        if (!b || !(cx->vals[w->base->id] = lv_tensor(cx, b))) return -1;
        view = w->base;
    }
    return lower_fail(cx, "views nested more than 64 deep");
}

int lower_view_refresh(lower_ctx *cx, const ts_value *view) {
    const ts_value *chain[64];
    int n = 0;
    for (const ts_value *v = view; cx->views && cx->views[v->id] && n < 64; v = cx->views[v->id]->base) chain[n++] = v;
    for (int k = n - 1; k >= 1; k--) { /* from the view next to the root down to the one view reads */
        lower_view *w = cx->views[chain[k]->id];
        lv *bl = cx->vals[w->base->id];
        if (!bl || bl->kind != LV_TENSOR) return 0;
        ir_value *b = bl->v, *s = b;
        if (!(w->begin == 0 && w->end == b->type.dims[w->axis] && w->step == 1 && !w->squeeze))
            s = lb_slice(cx, b, w->axis, w->begin, w->end, 0, w->step, w->squeeze);
        if (!s || !(cx->vals[chain[k]->id] = lv_tensor(cx, s))) return -1;
    }
    return 0;
}
