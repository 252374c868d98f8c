/* complex.c: complex tensors as pairs (cplx.h). The kinds that make or read them (aten::complex, polar,
 * view_as_complex, view_as_real, real, imag, angle, conj and its internal spellings), and the driver's
 * hook for nodes with a complex input: arithmetic (add / sub / rsub / mul / div with complex, real tensor
 * and number operands), abs, neg, size / dim and list plumbing; any other kind fails naming the node. */
#include "lower/cplx.h"
#include "lower/build.h"

#include <math.h>

/* The pair tensor of input i (complex), or NULL with a failure. */
static ir_value *pair_in(lower_ctx *cx, const ts_node *n, int i) {
    lv *l = lower_in(cx, n, i);
    if (!l) return NULL;
    if (l->kind != LV_COMPLEX) {
        lower_fail(cx, "input %d must be a complex tensor, got %s", i, lv_kind_name(l->kind));
        return NULL;
    }
    return l->v;
}

/* x[..., k:k+1] of a pair (keeps the pair axis, size 1). */
static ir_value *part(lower_ctx *cx, ir_value *p, int k) {
    if (LB_SKIP(cx, p)) return NULL;
    return lb_slice(cx, p, p->type.rank - 1, k, k + 1, 0, 1, 0);
}

/* A [2] const (a, b) of dtype dt: broadcasts against the pair axis. */
static ir_value *pair_const(lower_ctx *cx, ir_dtype dt, double a, double b, const char *suffix) {
    float *d = pc_alloc(cx->p->arena, 2 * sizeof(float));
    if (!d) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    d[0] = (float)a;
    d[1] = (float)b;
    int64_t two = 2;
    return lc_const(cx, dt, 1, &two, d, suffix);
}

static ir_value *conj_of(lower_ctx *cx, ir_value *p) {
    if (LB_SKIP(cx, p)) return NULL;
    return lb_binary(cx, IR_OP_MUL, p, pair_const(cx, p->type.dtype, 1, -1, "conj_sign"), "conj");
}

/* |p|^2 with the pair axis kept (size 1). */
static ir_value *abs2_keep(lower_ctx *cx, ir_value *p) {
    if (LB_SKIP(cx, p)) return NULL;
    int64_t ax = p->type.rank - 1;
    return lb_reduce(cx, IR_OP_REDUCE_SUM_SQUARE, p, 1, &ax, 1);
}

/* Zeros shaped like x, exactly (x * 0 is NaN for inf): x - x where that is 0, else 0. */
static ir_value *zeros_of(lower_ctx *cx, ir_value *x) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_value *d = lb_binary(cx, IR_OP_SUB, x, x, "diff");
    ir_value *ok = lb_binary(cx, IR_OP_EQUAL, d, d, "finite");
    return lb_select(cx, ok, d, lb_const_scalar(cx, 0, x->type.dtype, "zero"), "zeros");
}

/* A real operand shaped [..., 1] as the pair (x, 0). */
static ir_value *real_pair(lower_ctx *cx, ir_value *x) {
    if (LB_SKIP(cx, x)) return NULL;
    ir_value *parts[2] = {x, zeros_of(cx, x)};
    return lb_concat(cx, 2, parts, x->type.rank - 1);
}

/* a * b of two pairs: (ar br - ai bi, ar bi + ai br). */
static ir_value *cmul(lower_ctx *cx, ir_value *a, ir_value *b) {
    ir_value *ar = part(cx, a, 0), *ai = part(cx, a, 1), *br = part(cx, b, 0), *bi = part(cx, b, 1);
    if (!ar || !ai || !br || !bi) return NULL;
    ir_value *re = lb_binary(cx, IR_OP_SUB, lb_binary(cx, IR_OP_MUL, ar, br, "rr"),
                                lb_binary(cx, IR_OP_MUL, ai, bi, "ii"), "re");
    ir_value *im = lb_binary(cx, IR_OP_ADD, lb_binary(cx, IR_OP_MUL, ar, bi, "ri"),
                             lb_binary(cx, IR_OP_MUL, ai, br, "ir"), "im");
    if (!re) return NULL; /* its rank names the pair axis */
    ir_value *parts[2] = {re, im};
    return lb_concat(cx, 2, parts, re->type.rank - 1);
}

/* ---- kinds that make or read complex values ---- */

/* complex(real, imag); polar(abs, angle): broadcast, then interleaved as pairs. */
int lower_complex(lower_ctx *cx, const ts_node *n) {
    ir_value *a = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *b = lower_tensor_in(cx, n, 1, IR_DT_INVALID);
    if (!b) return -1;
    if (!ir_dtype_is_float(a->type.dtype) || !ir_dtype_is_float(b->type.dtype))
        return lower_fail(cx, "expects float tensors, got %s and %s", ir_dtype_name(a->type.dtype),
                          ir_dtype_name(b->type.dtype));
    ir_dtype dt = a->type.dtype;
    if (b->type.dtype != dt && !(b = lb_cast(cx, b, dt, "cast"))) return -1;
    if (cx->row->sub == 1) { /* polar */
        ir_value *c = lb_unary(cx, IR_OP_COS, b, "cos"), *s = lb_unary(cx, IR_OP_SIN, b, "sin");
        ir_value *re = lb_binary(cx, IR_OP_MUL, a, c, "re");
        ir_value *im = lb_binary(cx, IR_OP_MUL, a, s, "im");
        if (!im) return -1;
        a = re;
        b = im;
    }
    /* stacked on a new last axis (not masked products: inf * 0 would be NaN), broadcast together first
     * by adding the other's zeros */
    if (!ir_type_equal(&a->type, &b->type)) {
        ir_value *za = zeros_of(cx, a), *zb = zeros_of(cx, b);
        a = lb_binary(cx, IR_OP_ADD, a, zb, "re_b");
        b = lb_binary(cx, IR_OP_ADD, b, za, "im_b");
        if (!b) return -1;
    }
    ir_value *parts[2] = {a, b};
    return lower_out(cx, n, 0, lc_new(cx, lb_stack(cx, 2, parts, a->type.rank)));
}

/* view_as_complex(x): a float tensor whose last dim is 2. */
int lower_view_as_complex(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    int r = x->type.rank;
    if (r < 1 || x->type.dims[r - 1] != 2 || !ir_dtype_is_float(x->type.dtype))
        return lower_fail(cx, "expects a float tensor whose last dim is 2");
    return lower_out(cx, n, 0, lc_new(cx, lb_unary(cx, IR_OP_IDENTITY, x, NULL)));
}

/* view_as_real(z): the pair itself. */
int lower_view_as_real(lower_ctx *cx, const ts_node *n) {
    ir_value *p = pair_in(cx, n, 0);
    return p ? lower_out_tensor(cx, n, 0, p) : -1;
}

/* real(z) / imag(z): one half of the pair (real of a real tensor is itself). */
int lower_real_imag(lower_ctx *cx, const ts_node *n) {
    int im = cx->row->sub == 1;
    if (!lc_is_complex(cx, n, 0)) {
        if (im) return lower_fail(cx, "imag is not implemented for real tensors");
        lv *l = lower_in(cx, n, 0);
        return l ? lower_out(cx, n, 0, l) : -1;
    }
    ir_value *p = pair_in(cx, n, 0);
    return p ? lower_out_tensor(cx, n, 0, lb_slice(cx, p, p->type.rank - 1, im, im + 1, 0, 1, 1)) : -1;
}

/* conj / _conj / conj_physical / resolve_conj / resolve_neg: conjugate pairs, pass real tensors. */
int lower_conj(lower_ctx *cx, const ts_node *n) {
    lv *l = lower_in(cx, n, 0);
    if (!l) return -1;
    int resolve = cx->row->sub == 1;
    if (l->kind != LV_COMPLEX || resolve) return lower_out(cx, n, 0, l);
    return lower_out(cx, n, 0, lc_new(cx, conj_of(cx, l->v)));
}

/* angle(z) = atan2(im, re); of a real x: pi where x < 0, NaN for NaN, else 0. */
int lower_angle(lower_ctx *cx, const ts_node *n) {
    if (!lc_is_complex(cx, n, 0)) {
        ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
        if (!x) return -1;
        ir_dtype dt = ir_dtype_is_float(x->type.dtype) ? x->type.dtype : IR_FP32;
        ir_value *neg = lb_binary(cx, IR_OP_LESS, x, lb_const_scalar(cx, 0, x->type.dtype, "zero"), "neg");
        ir_value *f = lb_cast(cx, neg, dt, "negf");
        ir_value *a = lb_scalar_op(cx, IR_OP_MUL, f, M_PI);
        if (a && ir_dtype_is_float(x->type.dtype)) /* NaN stays NaN */
            a = lb_select(cx, lb_binary(cx, IR_OP_NOT_EQUAL, x, x, "isnan"), x, a, NULL);
        return a ? lower_out_tensor(cx, n, 0, a) : -1;
    }
    ir_value *p = pair_in(cx, n, 0);
    if (!p) return -1;
    int r = p->type.rank - 1;
    ir_value *re = lb_slice(cx, p, r, 0, 1, 0, 1, 1), *im = lb_slice(cx, p, r, 1, 2, 0, 1, 1);
    return im ? lower_out_tensor(cx, n, 0, lb_atan2(cx, im, re)) : -1;
}

/* ---- the driver's hook: other kinds with a complex input ---- */

/* abs(z) = sqrt(re^2 + im^2); neg(z); reciprocal(z) = conj(z) / |z|^2. */
static int complex_unary(lower_ctx *cx, const ts_node *n) {
    ir_value *p = pair_in(cx, n, 0);
    if (!p) return -1;
    if (cx->row->sub == UN_NEG) return lower_out(cx, n, 0, lc_new(cx, lb_scalar_op(cx, IR_OP_MUL, p, -1)));
    if (cx->row->sub == UN_RECIPROCAL) {
        ir_value *c = conj_of(cx, p), *d = abs2_keep(cx, p);
        return lower_out(cx, n, 0, lc_new(cx, lb_binary(cx, IR_OP_REAL_DIV, c, d, NULL)));
    }
    int64_t ax = p->type.rank - 1;
    return lower_out_tensor(cx, n, 0, lb_reduce(cx, IR_OP_REDUCE_L2_NORM, p, 1, &ax, 0));
}

/* An operand of complex arithmetic as a pair (*is_pair = 1) or as a real tensor / number shaped to
 * broadcast against pairs (trailing axis of size 1, *is_pair = 0), in dtype dt. */
static ir_value *operand(lower_ctx *cx, lv *l, ir_dtype dt, int *is_pair) {
    if (LB_SKIP(cx, l)) return NULL;
    *is_pair = l->kind == LV_COMPLEX;
    if (*is_pair) return l->v->type.dtype == dt ? l->v : lb_cast(cx, l->v, dt, "cast");
    if (l->kind != LV_TENSOR && l->kind != LV_INT && l->kind != LV_FLOAT && l->kind != LV_BOOL) {
        lower_fail(cx, "cannot combine a complex tensor with a %s", lv_kind_name(l->kind));
        return NULL;
    }
    ir_value *x = lb_as_tensor(cx, l, dt);
    if (x && x->type.dtype != dt) x = lb_cast(cx, x, dt, "cast");
    int64_t ax = -1;
    return lb_expand(cx, x, 1, &ax);
}

/* add / sub / rsub (alpha) / mul / div of complex with complex, real or number operands. */
static int complex_binary(lower_ctx *cx, const ts_node *n) {
    int op = cx->row->sub; /* BIN_ADD, BIN_SUB, BIN_RSUB, BIN_MUL or BIN_DIV */
    lv *al = lower_in(cx, n, 0), *bl = lower_in(cx, n, 1);
    if (!bl) return -1;
    ir_dtype dt = (al->kind == LV_COMPLEX ? al : bl)->v->type.dtype;
    double alpha = 1;
    int has_alpha = op == BIN_ADD || op == BIN_SUB || op == BIN_RSUB;
    if (has_alpha && n->nin >= 3 && lower_float_in(cx, n, 2, &alpha)) return -1;
    if (op == BIN_DIV && n->nin >= 3 && !lower_is_none(cx, n, 2))
        return lower_fail(cx, "rounding_mode is not defined for complex tensors");
    if (op == BIN_RSUB) { /* other - alpha * self */
        lv *t = al;
        al = bl;
        bl = t;
    }
    int pa, pb;
    ir_value *a = operand(cx, al, dt, &pa), *b = operand(cx, bl, dt, &pb);
    if (!a || !b) return -1;
    ir_value *y = NULL;
    if (has_alpha) {
        if (alpha != 1.0 && !(b = lb_scalar_op(cx, IR_OP_MUL, b, alpha))) return -1;
        /* a real operand joins as (x, 0): as x * (1, 0), which is what torch computes (x + alpha * y
         * multiplies in complex: an infinite real part gives a NaN imaginary one) */
        if (!pa && !(a = lb_binary(cx, IR_OP_MUL, a, pair_const(cx, dt, 1, 0, "re_only"), "as_pair"))) return -1;
        if (!pb && !(b = lb_binary(cx, IR_OP_MUL, b, pair_const(cx, dt, 1, 0, "re_only"), "as_pair"))) return -1;
        y = lb_binary(cx, op == BIN_ADD ? IR_OP_ADD : IR_OP_SUB, a, b, NULL);
    } else if (op == BIN_MUL) {
        y = pa && pb ? cmul(cx, a, b) : lb_binary(cx, IR_OP_MUL, a, b, NULL);
    } else if (op == BIN_DIV) {
        if (!pb) {
            y = lb_binary(cx, IR_OP_REAL_DIV, a, b, NULL);
        } else { /* a * conj(b) / |b|^2 */
            ir_value *num = pa ? cmul(cx, a, conj_of(cx, b)) : lb_binary(cx, IR_OP_MUL, a, conj_of(cx, b), "num");
            ir_value *den = abs2_keep(cx, b);
            y = lb_binary(cx, IR_OP_REAL_DIV, num, den, NULL);
        }
    } else {
        return lower_fail(cx, "is not supported for complex tensors");
    }
    return y ? lower_out(cx, n, 0, lc_new(cx, y)) : -1;
}

/* size(z[, dim]) / dim(z): of the complex shape. */
static int complex_shape(lower_ctx *cx, const ts_node *n) {
    ir_value *p = pair_in(cx, n, 0);
    if (!p) return -1;
    int r = p->type.rank - 1;
    if ((cx->row->cplx & ~CPLX_INPLACE) == CPLX_DIM) return lower_out(cx, n, 0, lv_int(cx, r));
    if (n->nin >= 2) {
        int64_t d;
        int ax;
        if (lower_int_in(cx, n, 1, &d) || lower_axis(cx, d, r, &ax)) return -1;
        if (p->type.dims[ax] < 0) return lower_fail(cx, "the size of a complex tensor must be known at conversion time");
        return lower_out(cx, n, 0, lv_int(cx, p->type.dims[ax]));
    }
    lv *l = lv_new(cx, LV_LIST);
    if (!l || !(l->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(r ? r : 1))))
        return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    l->n = r;
    for (int i = 0; i < r; i++) {
        if (p->type.dims[i] < 0) return lower_fail(cx, "the size of a complex tensor must be known at conversion time");
        if (!(l->items[i] = lv_int(cx, p->type.dims[i]))) return -1;
    }
    return lower_out(cx, n, 0, l);
}

/* ---- view and layout ops: the registry's function on the pair tensor, dims mapped ----
 * The pair axis stays last, so a dim of the complex shape (made non-negative) names the same axis of
 * the pair tensor; permute gains the pair axis, a reshape's shape gains [2]; cat / stack items are
 * pairs (real items join as (x, 0)). The node's inputs are rebound for the call and restored after. */

typedef struct {
    signed char dim[2]; /* inputs holding dims (int or int list), -1: none */
    char plus1;         /* dims count one more axis (unsqueeze, stack) */
    char what;          /* 'p' permute, 's' a shape, 'l' a list of tensors as input 0 */
} view_spec;

/* by the row's .cplx: select, slice, narrow, squeeze, unbind; transpose, movedim, flatten; ... */
static const view_spec VIEWS[] = {
    [CPLX_VIEW_DIM] = {{1, -1}, 0, 0},       [CPLX_VIEW_DIMS] = {{1, 2}, 0, 0},      [CPLX_VIEW_UNSQUEEZE] = {{1, -1}, 1, 0},
    [CPLX_VIEW_PERMUTE] = {{1, -1}, 0, 'p'}, [CPLX_VIEW_SHAPE] = {{-1, -1}, 0, 's'}, [CPLX_VIEW_CAT] = {{1, -1}, 0, 'l'},
    [CPLX_VIEW_STACK] = {{1, -1}, 1, 'l'},
};

/* A dim (or a list of them) normalized against rank; `append` adds one more int (permute's pair axis). */
static lv *norm_dims(lower_ctx *cx, lv *l, int rank, int append) {
    if (l->kind == LV_INT && !l->dyn && !append) {
        int a;
        return lower_axis(cx, l->i, rank, &a) ? NULL : lv_int(cx, a);
    }
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->dyn) {
        lower_fail(cx, "the dims of an op on a complex tensor must be known at conversion time");
        return NULL;
    }
    lv *o = lv_new(cx, l->kind);
    if (!o || !(o->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(l->n + 1)))) return NULL;
    o->n = l->n + (append != 0);
    for (int i = 0; i < l->n; i++) {
        lv *it = l->items[i];
        int a;
        if (it->kind != LV_INT || it->dyn) {
            lower_fail(cx, "the dims of an op on a complex tensor must be known at conversion time");
            return NULL;
        }
        if (lower_axis(cx, it->i, rank, &a) || !(o->items[i] = lv_int(cx, a))) return NULL;
    }
    if (append && !(o->items[l->n] = lv_int(cx, rank))) return NULL;
    return o;
}

/* A shape list with 2 appended. */
static lv *pair_shape(lower_ctx *cx, lv *l) {
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->dyn) {
        lower_fail(cx, "the shape of a complex tensor must be a list known at conversion time");
        return NULL;
    }
    lv *o = lv_new(cx, l->kind);
    if (!o || !(o->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(l->n + 1)))) return NULL;
    o->n = l->n + 1;
    for (int i = 0; i < l->n; i++) o->items[i] = l->items[i];
    return (o->items[l->n] = lv_int(cx, 2)) ? o : NULL;
}

/* cat / stack items as pair tensors (LV_TENSOR lvs); *rank: the complex rank. */
static lv *pair_items(lower_ctx *cx, lv *l, int *rank) {
    if ((l->kind != LV_LIST && l->kind != LV_TUPLE) || l->dyn || l->n < 1) {
        lower_fail(cx, "expects a list of tensors known at conversion time");
        return NULL;
    }
    ir_dtype dt = IR_FP32;
    for (int i = 0; i < l->n; i++)
        if (l->items[i]->kind == LV_COMPLEX) {
            dt = l->items[i]->v->type.dtype;
            *rank = l->items[i]->v->type.rank - 1;
        }
    lv *o = lv_new(cx, l->kind);
    if (!o || !(o->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)l->n))) return NULL;
    o->n = l->n;
    for (int i = 0; i < l->n; i++) {
        int is_pair;
        ir_value *v = operand(cx, l->items[i], dt, &is_pair);
        if (v && !is_pair) v = real_pair(cx, v);
        if (!v || !(o->items[i] = lv_tensor(cx, v))) return NULL;
    }
    return o;
}

/* Tensor results of the call become complex (lists item by item). */
static lv *as_complex(lower_ctx *cx, lv *l) {
    if (l->kind == LV_TENSOR) return lc_new(cx, l->v);
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) return l;
    lv *o = lv_new(cx, l->kind);
    if (!o || !(o->items = pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(l->n ? l->n : 1)))) return NULL;
    o->n = l->n;
    o->dyn = l->dyn;
    o->v = l->v;
    o->elem = l->elem;
    for (int i = 0; i < l->n; i++)
        if (!(o->items[i] = as_complex(cx, l->items[i]))) return NULL;
    return o;
}

static int complex_view(lower_ctx *cx, const ts_node *n) {
    const view_spec *sp = &VIEWS[cx->row->cplx & ~CPLX_INPLACE];
    lower_fn fn = cx->row->fn;
    lv *x = lower_in(cx, n, 0);
    if (!x) return -1;
    int rank = x->kind == LV_COMPLEX ? x->v->type.rank - 1 : 0;
    lv *nx = sp->what == 'l' ? pair_items(cx, x, &rank) : lv_tensor(cx, x->v);
    if (!nx) return -1;
    /* rebind: input 0, the dims / shape; restored in reverse order */
    int ids[3], k = 0, rc = 0;
    lv *saved[3], *repl[3];
    repl[k] = nx;
    ids[k++] = n->in[0]->id;
    for (int j = 0; j < 2 && !rc; j++) {
        int i = sp->what == 's' ? (j == 0 ? 1 : -1) : sp->dim[j];
        if (i < 0 || i >= n->nin || lower_is_none(cx, n, i)) continue;
        lv *l = lower_in(cx, n, i);
        lv *m = !l ? NULL : sp->what == 's' ? pair_shape(cx, l) : norm_dims(cx, l, rank + sp->plus1, sp->what == 'p');
        if (!m) return -1;
        repl[k] = m;
        ids[k++] = n->in[i]->id;
    }
    for (int i = 0; i < k; i++) {
        saved[i] = cx->vals[ids[i]];
        cx->vals[ids[i]] = repl[i];
    }
    rc = fn(cx, n);
    for (int i = k - 1; i >= 0; i--) cx->vals[ids[i]] = saved[i];
    if (rc) return -1;
    for (int i = 0; i < n->nout; i++) {
        lv *o = cx->vals[n->out[i]->id];
        if (o && !(cx->vals[n->out[i]->id] = as_complex(cx, o))) return -1;
        if (cx->views) cx->views[n->out[i]->id] = NULL; /* no slice assignment through complex views */
    }
    return 1;
}

/* to(z, device), to(z, complex dtype), to(z, other complex tensor): z itself; to a real dtype (or like a
 * real tensor): the real part in that dtype, as torch does (it warns that the imaginary part is lost). */
static int complex_to(lower_ctx *cx, const ts_node *n) {
    lv *z = lower_in(cx, n, 0);
    if (!z) return -1;
    ir_dtype dt = IR_DT_INVALID;
    for (int i = 1; i < n->nin && i < 3 && dt == IR_DT_INVALID; i++) {
        lv *l = lower_in(cx, n, i);
        if (!l) return -1;
        if (l->kind == LV_COMPLEX) break;
        if (l->kind == LV_TENSOR) {
            dt = l->v->type.dtype;
        } else if (l->kind == LV_INT && !l->dyn) {
            if (l->i >= TS_COMPLEX_HALF && l->i <= TS_COMPLEX_DOUBLE) break;
            if (lower_scalar_type(cx, l->i, &dt)) return -1;
        }
    }
    if (dt == IR_DT_INVALID) return lower_out(cx, n, 0, z);
    ir_value *p = z->v, *re = lb_slice(cx, p, p->type.rank - 1, 0, 1, 0, 1, 1);
    return lower_out_tensor(cx, n, 0, re && re->type.dtype != dt ? lb_cast(cx, re, dt, NULL) : re);
}


int lower_complex_node(lower_ctx *cx, const ts_node *n) {
    int first = -1;
    for (int i = 0; i < n->nin && first < 0; i++) {
        const lv *l = cx->vals[n->in[i]->id];
        if (l && l->kind == LV_COMPLEX) first = i;
        /* aten::cat([z, ...]); not dispatch: a list's items count for aten ops, prim ops (rowless ones too) move lists */
        if (l && (l->kind == LV_LIST || l->kind == LV_TUPLE) && n->kind[0] == 'a')
            for (int k = 0; k < l->n && first < 0; k++)
                if (l->items[k]->kind == LV_COMPLEX) first = i;
    }
    if (first < 0) return 0;
    int how = !cx->row || (cx->via_inplace && !(cx->row->cplx & CPLX_INPLACE)) ? 0 : cx->row->cplx & ~CPLX_INPLACE;
    switch (how) {
    case CPLX_OWN: return 0;
    case CPLX_UNARY: return complex_unary(cx, n) ? -1 : 1;
    case CPLX_BINARY: return complex_binary(cx, n) ? -1 : 1;
    case CPLX_SIZE:
    case CPLX_DIM: return complex_shape(cx, n) ? -1 : 1;
    case CPLX_TO: return complex_to(cx, n) ? -1 : 1;
    case 0: break;
    default: return complex_view(cx, n);
    }
    return lower_fail(cx, "input %d (%%%s) is a complex tensor, which this op cannot take (Core ML has no complex "
                          "type; complex values convert through torch.fft / stft, arithmetic, abs, angle, real, imag "
                          "and view_as_real)",
                      first, n->in[first]->name);
}
