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
        ir_value *b = bl->v, *nv = lower_as_tensor(cx, nl, b->type.dtype);
        if (!nv) return -1;
        if (nv->type.dtype != b->type.dtype && !(nv = lower_cast(cx, nv, b->type.dtype, "cast"))) return -1;
        int a = w->axis;
        int64_t size = b->type.dims[a];
        if (size < 0) return lower_fail(cx, "assignment into a slice of a symbolic dim");
        if (w->squeeze) {
            int64_t ax = a;
            if (!(nv = lb_expand(cx, nv, 1, &ax))) return -1;
        }
        if (w->step != 1) {
            /* strided: interleave by gathering from concat(base, new) with constant indices */
            ir_value *both[2] = {b, nv};
            ir_value *cat = lb_concat(cx, 2, both, a);
            float *idx = cat ? pc_alloc(cx->p->arena, sizeof(float) * (size_t)size) : NULL;
            if (!idx) return -1;
            for (int64_t i = 0; i < size; i++) {
                int in = i >= w->begin && i < w->end && (i - w->begin) % w->step == 0;
                idx[i] = (float)(in ? size + (i - w->begin) / w->step : i);
            }
            b = lb_gather(cx, cat, lb_const(cx, IR_INT32, 1, &size, idx, "assign_idx"), a);
        } else {
            ir_value *parts[3];
            int k = 0;
            if (w->begin > 0) parts[k++] = lb_slice(cx, b, a, 0, w->begin, 0, 1, 0);
            parts[k++] = nv;
            if (w->end < size) parts[k++] = lb_slice(cx, b, a, w->end, size, 0, 1, 0);
            b = k == 1 ? lower_unary(cx, IR_OP_IDENTITY, nv, "assigned") : lb_concat(cx, k, parts, a);
        }
        if (!b || !(cx->vals[w->base->id] = lv_tensor(cx, b))) return -1;
        view = w->base;
    }
    return lower_fail(cx, "views nested more than 64 deep");
}
