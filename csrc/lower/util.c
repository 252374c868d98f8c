/* util.c: lowered values, typed input reads and op building shared by the op files. */
#include "lower/build.h"
#include "runtime/rt.h"

#include <math.h>
#include <string.h>

static int oom(lower_ctx *cx) { return cx->e->kind ? -1 : pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"); }

/* ---- lowered values ---- */
lv *lv_new(lower_ctx *cx, lv_kind k) {
    lv *l = pc_alloc(cx->p->arena, sizeof *l);
    if (!l) {
        oom(cx);
        return NULL;
    }
    l->kind = k;
    return l;
}

lv *lv_tensor(lower_ctx *cx, ir_value *v) {
    lv *l = lv_new(cx, LV_TENSOR);
    if (l) l->v = v;
    return l;
}

lv *lv_dyn(lower_ctx *cx, lv_kind k, ir_value *v) {
    if (LB_SKIP(cx, v)) return NULL;
    lv *l = lv_new(cx, k);
    if (l) {
        l->dyn = 1;
        l->v = v;
    }
    return l;
}

lv *lv_int(lower_ctx *cx, int64_t i) {
    lv *l = lv_new(cx, LV_INT);
    if (l) l->i = i;
    return l;
}

lv *lv_float(lower_ctx *cx, double f) {
    lv *l = lv_new(cx, LV_FLOAT);
    if (l) l->f = f;
    return l;
}

lv *lv_bool(lower_ctx *cx, int b) {
    lv *l = lv_new(cx, LV_BOOL);
    if (l) l->i = b != 0;
    return l;
}

lv *lv_none(lower_ctx *cx) { return lv_new(cx, LV_NONE); }

const char *lv_kind_name(lv_kind k) {
    switch (k) {
    case LV_TENSOR: return "tensor";
    case LV_INT: return "int";
    case LV_FLOAT: return "float";
    case LV_BOOL: return "bool";
    case LV_STR: return "str";
    case LV_NONE: return "None";
    case LV_DEVICE: return "device";
    case LV_LIST: return "list";
    case LV_TUPLE: return "tuple";
    case LV_COMPLEX: return "complex tensor";
    }
    return "?";
}

lv *lower_in(lower_ctx *cx, const ts_node *n, int i) {
    if (!LB_LIVE(cx)) return NULL; /* sticky, as the builders: reads after a failure give nothing */
    if (i >= n->nin) {
        lower_fail(cx, "expected at least %d inputs, got %d", i + 1, n->nin);
        return NULL;
    }
    lv *l = cx->vals[n->in[i]->id];
    if (!l) lower_fail(cx, "input %d (%%%s) has no lowered value", i, n->in[i]->name);
    return l;
}

int lower_out(lower_ctx *cx, const ts_node *n, int i, lv *v) {
    if (LB_SKIP(cx, v)) return -1; /* the lowering function's one check: nothing failed on the way to v */
    if (i >= n->nout) return lower_fail(cx, "internal: output %d of %d", i, n->nout);
    cx->vals[n->out[i]->id] = v;
    return 0;
}

int lower_out_tensor(lower_ctx *cx, const ts_node *n, int i, ir_value *v) {
    if (LB_SKIP(cx, v)) return -1;
    return lower_out(cx, n, i, lv_tensor(cx, v));
}

/* ---- folding run-time scalars built from constants ----
 * Traced size arithmetic (x.shape[1] // 4 through NumToTensor / floor_divide / Int) becomes IR ops on
 * rank-0 consts; where an int is needed at conversion time it is evaluated here. */
static int fold_scalar(const ir_value *v, double *out, int depth) {
    if (!v || depth > 32) return -1;
    if (v->konst) {
        if (v->konst->count != 1) return -1;
        *out = ir_const_get_f64(v->konst, 0);
        return 0;
    }
    const ir_op *op = v->def;
    if (!op || v->type.rank < 0 || ir_type_numel(&v->type) != 1) return -1;
    double a, b;
    switch (op->kind) {
    case IR_OP_IDENTITY:
    case IR_OP_RESHAPE:
    case IR_OP_SQUEEZE:
    case IR_OP_EXPAND_DIMS:
    case IR_OP_CAST:
        if (fold_scalar(ir_op_input(op, "x"), &a, depth + 1)) return -1;
        if (v->type.dtype == IR_INT32) a = trunc(a);
        else if (v->type.dtype == IR_BOOL) a = a != 0;
        *out = a;
        return 0;
    case IR_OP_ADD:
    case IR_OP_SUB:
    case IR_OP_MUL:
    case IR_OP_REAL_DIV:
    case IR_OP_FLOOR_DIV:
    case IR_OP_MAXIMUM:
    case IR_OP_MINIMUM:
        if (fold_scalar(ir_op_input(op, "x"), &a, depth + 1) || fold_scalar(ir_op_input(op, "y"), &b, depth + 1)) return -1;
        switch (op->kind) {
        case IR_OP_ADD: *out = a + b; break;
        case IR_OP_SUB: *out = a - b; break;
        case IR_OP_MUL: *out = a * b; break;
        case IR_OP_REAL_DIV:
            if (b == 0) return -1;
            *out = a / b;
            if (v->type.dtype == IR_INT32) *out = trunc(*out);
            break;
        case IR_OP_FLOOR_DIV:
            if (b == 0) return -1;
            *out = floor(a / b);
            break;
        case IR_OP_MAXIMUM: *out = a > b ? a : b; break;
        default: *out = a < b ? a : b; break;
        }
        return 0;
    case IR_OP_FLOOR: /* interpolate(recompute_scale_factor=True): floor(size * scale) */
    case IR_OP_CEIL:
        if (fold_scalar(ir_op_input(op, "x"), &a, depth + 1)) return -1;
        *out = op->kind == IR_OP_FLOOR ? floor(a) : ceil(a);
        return 0;
    case IR_OP_GATHER: { /* shape(x)[i] of a statically known dim */
        const ir_value *src = ir_op_input(op, "x"), *idx = ir_op_input(op, "indices");
        if (!src || !src->def || src->def->kind != IR_OP_SHAPE || fold_scalar(idx, &a, depth + 1)) return -1;
        const ir_value *x = ir_op_input(src->def, "x");
        int r = x ? x->type.rank : -1, i = (int)a;
        if (r < 0 || i < -r || i >= r) return -1;
        if (i < 0) i += r;
        if (x->type.dims[i] < 0) return -1;
        *out = (double)x->type.dims[i];
        return 0;
    }
    default:
        return -1;
    }
}

/* A dyn int / float lv whose value can be computed now becomes static (in place). */
static void settle(lv *l) {
    double d;
    if (!l || !l->dyn || !l->v || fold_scalar(l->v, &d, 0)) return;
    l->dyn = 0;
    if (l->kind == LV_FLOAT) l->f = d;
    else l->i = (int64_t)d;
}

/* ---- typed reads ---- */
int lower_is_none(lower_ctx *cx, const ts_node *n, int i) {
    if (i >= n->nin) return 0;
    lv *l = cx->vals[n->in[i]->id];
    return l && l->kind == LV_NONE;
}

int lower_int_in(lower_ctx *cx, const ts_node *n, int i, int64_t *out) {
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    settle(l);
    if ((l->kind == LV_INT || l->kind == LV_BOOL) && !l->dyn) {
        *out = l->i;
        return 0;
    }
    if (l->kind == LV_LIST && l->n == 1 && l->items[0]->kind == LV_INT && !l->items[0]->dyn) {
        *out = l->items[0]->i;
        return 0;
    }
    return lower_fail(cx, "input %d (%%%s) must be an int known at conversion time (got %s%s)", i, n->in[i]->name,
                      l->dyn ? "run-time " : "", lv_kind_name(l->kind));
}

int lower_float_in(lower_ctx *cx, const ts_node *n, int i, double *out) {
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    settle(l);
    if (!l->dyn && (l->kind == LV_INT || l->kind == LV_BOOL)) {
        *out = (double)l->i;
        return 0;
    }
    if (!l->dyn && l->kind == LV_FLOAT) {
        *out = l->f;
        return 0;
    }
    return lower_fail(cx, "input %d (%%%s) must be a number known at conversion time (got %s%s)", i, n->in[i]->name,
                      l->dyn ? "run-time " : "", lv_kind_name(l->kind));
}

int lower_bool_in(lower_ctx *cx, const ts_node *n, int i, int *out) {
    int64_t v;
    if (lower_int_in(cx, n, i, &v)) return -1;
    *out = v != 0;
    return 0;
}

int lv_ints(lower_ctx *cx, const lv *l, int64_t *out, int max, int *cnt) {
    settle((lv *)l);
    if ((l->kind == LV_LIST || l->kind == LV_TUPLE))
        for (int k = 0; k < l->n; k++) settle(l->items[k]);
    if ((l->kind == LV_INT || l->kind == LV_BOOL) && !l->dyn) {
        if (max < 1) return -1;
        out[0] = l->i;
        *cnt = 1;
        return 0;
    }
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) return -1;
    if (l->n > max) return -1;
    for (int k = 0; k < l->n; k++) {
        const lv *x = l->items[k];
        if ((x->kind != LV_INT && x->kind != LV_BOOL) || x->dyn) return -1;
        out[k] = x->i;
    }
    *cnt = l->n;
    return 0;
}

int lower_ints_in(lower_ctx *cx, const ts_node *n, int i, int64_t *out, int max, int *cnt) {
    lv *l = lower_in(cx, n, i);
    if (!l) return -1;
    if (lv_ints(cx, l, out, max, cnt))
        return lower_fail(cx, "input %d (%%%s) must be a list of at most %d ints known at conversion time", i,
                          n->in[i]->name, max);
    return 0;
}

ir_value *lb_as_tensor(lower_ctx *cx, lv *l, ir_dtype dt) {
    if (LB_SKIP(cx, l)) return NULL;
    switch (l->kind) {
    case LV_TENSOR:
        return l->v;
    case LV_INT:
    case LV_BOOL:
    case LV_FLOAT:
        if (l->dyn) {
            if (dt == IR_DT_INVALID || l->v->type.dtype == dt) return l->v;
            return lb_cast(cx, l->v, dt, "cast");
        }
        if (dt == IR_DT_INVALID) dt = l->kind == LV_FLOAT ? IR_FP32 : l->kind == LV_BOOL ? IR_BOOL : IR_INT32;
        return lb_const_scalar(cx, l->kind == LV_FLOAT ? l->f : (double)l->i, dt, "const");
    case LV_LIST:
    case LV_TUPLE: {
        if (l->dyn) /* a list built at run time: its elements stacked */
            return dt == IR_DT_INVALID || l->v->type.dtype == dt ? l->v : lb_cast(cx, l->v, dt, "cast");
        int64_t iv[64];
        int cnt;
        if (!lv_ints(cx, l, iv, 64, &cnt) && (dt == IR_DT_INVALID || dt == IR_INT32))
            return lb_const_i32v(cx, cnt, iv, "const");
        int all_num = l->n <= 64;
        float fv[64];
        for (int k = 0; k < l->n && all_num; k++) {
            lv *x = l->items[k];
            all_num = !x->dyn && (x->kind == LV_INT || x->kind == LV_FLOAT || x->kind == LV_BOOL);
            if (all_num) fv[k] = x->kind == LV_FLOAT ? (float)x->f : (float)x->i;
        }
        if (all_num) {
            int64_t d = l->n;
            ir_type t = ir_tensor_type(dt == IR_DT_INVALID ? IR_FP32 : dt, 1, &d);
            ir_value *v = ir_const_new(cx->p, cx->b, lower_name(cx, "const"), t, IR_FP32, fv, 1);
            if (!v) oom(cx);
            else lower_names_add(cx, v->name, v);
            return v;
        }
        if (dt == IR_DT_INVALID || dt == IR_INT32) return lb_shape_tensor(cx, l);
        break;
    }
    default:
        break;
    }
    lower_fail(cx, "expected a tensor, got %s", lv_kind_name(l->kind));
    return NULL;
}

ir_value *lower_tensor_in(lower_ctx *cx, const ts_node *n, int i, ir_dtype dt) {
    lv *l = lower_in(cx, n, i);
    return lb_as_tensor(cx, l, dt);
}

ir_value *lower_tensor_in_as(lower_ctx *cx, const ts_node *n, int i, const ir_value *like) {
    if (LB_SKIP(cx, like)) return NULL;
    return lower_tensor_in(cx, n, i, like->type.dtype);
}

lv *lower_list_of(lower_ctx *cx, int n, lv *const *items) {
    lv *l = lv_new(cx, LV_LIST);
    lv **it = l ? pc_alloc(cx->p->arena, sizeof(lv *) * (size_t)(n ? n : 1)) : NULL;
    if (!it) {
        oom(cx);
        return NULL;
    }
    for (int i = 0; i < n; i++) it[i] = items[i];
    l->n = n;
    l->items = it;
    return l;
}

ir_value *lb_shape_tensor(lower_ctx *cx, lv *l) {
    if (LB_SKIP(cx, l)) return NULL;
    int64_t iv[IR_MAX_RANK * 8];
    int cnt;
    if (!lv_ints(cx, l, iv, PC_ARRAY_LEN(iv), &cnt)) return lb_const_i32v(cx, cnt, iv, "shape");
    if (l->kind != LV_LIST && l->kind != LV_TUPLE) {
        if ((l->kind == LV_INT) && l->dyn) {
            int64_t ax = 0;
            ir_op *op = lb_op(cx, IR_OP_EXPAND_DIMS, "expand");
            if (!op || ir_op_set_input(op, "x", l->v) || lb_param_i32v(cx, op, "axes", 1, &ax)) return NULL;
            return lb_finish(cx, op);
        }
        lower_fail(cx, "expected a list of ints, got %s", lv_kind_name(l->kind));
        return NULL;
    }
    /* mixed static / run-time elements: concat of [1]-shaped pieces */
    ir_value *parts[64];
    int np = 0;
    if (l->n > 64) {
        lower_fail(cx, "list of %d ints is too long", l->n);
        return NULL;
    }
    for (int k = 0; k < l->n; k++) {
        lv *x = l->items[k];
        if (x->kind != LV_INT && x->kind != LV_BOOL) {
            lower_fail(cx, "expected a list of ints, element %d is %s", k, lv_kind_name(x->kind));
            return NULL;
        }
        ir_value *piece;
        if (x->dyn) {
            int64_t ax = 0;
            ir_value *s = x->v->type.dtype == IR_INT32 ? x->v : lb_cast(cx, x->v, IR_INT32, "cast");
            ir_op *op = lb_op(cx, IR_OP_EXPAND_DIMS, "expand");
            if (!op || ir_op_set_input(op, "x", s) || lb_param_i32v(cx, op, "axes", 1, &ax)) return NULL;
            piece = lb_finish(cx, op);
        } else {
            piece = lb_const_i32v(cx, 1, &x->i, "dim");
        }
        if (!piece) return NULL;
        parts[np++] = piece;
    }
    ir_op *op = lb_op(cx, IR_OP_CONCAT, "shape");
    if (!op || ir_op_set_inputs(op, "values", np, parts) || lb_param_i32(cx, op, "axis", 0) ||
        lb_param_bool(cx, op, "interleave", 0))
        return NULL;
    return lb_finish(cx, op);
}

/* ---- building ops ---- */
ir_op *lb_op(lower_ctx *cx, ir_opkind k, const char *suffix) {
    if (cx->e->kind != PC_OK) return NULL; /* sticky: nothing is built after a failure */
    const char *name = lower_name(cx, suffix);
    ir_op *op = name ? ir_op_new(cx->p, NULL, k, name) : NULL; /* placed by lb_finish, after its params */
    if (!op) {
        oom(cx);
        return NULL;
    }
    op->loc = cx->loc;
    return op;
}

/* Size arithmetic is folded as it is lowered: an op of at most LOWER_FOLD_MAX elements whose inputs are
 * all constants (x.size() turned into tensors by tracing, then divided, ceiled, clamped, as timm's "same"
 * padding does) becomes a constant at once, so aten::Int and the ops that need numbers known at conversion
 * time read it as one, exactly as if the model had written the number. */
#define LOWER_FOLD_MAX 16

/* 1 with *c the constant that replaces op, 0 when op stays, -1 on error. */
static int fold_small(lower_ctx *cx, ir_op *op, ir_value **c) {
    if (op->nout != 1 || op->nblocks || op->kind == IR_OP_CONST || op->kind == IR_OP_UNKNOWN ||
        op->kind == IR_OP_RANDOM_BERNOULLI || op->kind == IR_OP_RANDOM_CATEGORICAL || op->kind == IR_OP_RANDOM_NORMAL ||
        op->kind == IR_OP_RANDOM_UNIFORM)
        return 0;
    const ir_type *t = &op->out[0]->type;
    int64_t n = ir_type_is_static(t) ? ir_type_numel(t) : -1;
    if (n < 0 || n > LOWER_FOLD_MAX || t->dtype == IR_STRING) return 0;
    for (int i = 0; i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++)
            if (!op->in[i].v[j] || !op->in[i].v[j]->konst) return 0;
    rt_tensor out;
    pc_err ignored = {0};
    if (rt_eval_op(op, &out, &ignored)) {
        rt_tensor_release(&out);
        return 0; /* the runtime cannot evaluate it: the op stays */
    }
    int ok = out.data && out.rank == t->rank && (out.dtype == t->dtype || (t->dtype == IR_FP16 && out.dtype == IR_FP32));
    for (int k = 0; ok && k < t->rank; k++) ok = out.dims[k] == t->dims[k];
    if (ok) {
        ir_op_unlink(op);
        if (!(*c = ir_const_new(cx->p, cx->b, op->out[0]->name, *t, out.dtype, out.data, 1))) ok = -1;
        else (*c)->def->loc = op->loc;
    }
    rt_tensor_release(&out);
    return ok < 0 ? pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory") : ok;
}

ir_value *lb_finish(lower_ctx *cx, ir_op *op) {
    if (!op || cx->e->kind != PC_OK) return NULL;
    for (int i = 0; i < op->nin; i++) /* a NULL bound to a param: the result of a failed builder */
        for (int j = 0; j < op->in[i].n; j++)
            if (!op->in[i].v[j]) {
                lower_fail(cx, "internal: %s has no value for %s", ir_op_kind_name(op->kind), op->in[i].name);
                return NULL;
            }
    if (!op->parent) ir_op_append(cx->b, op);
    if (ir_infer(cx->p, op, cx->e)) {
        const ts_node *n = cx->node;
        if (n)
            pc_prefix(cx->e, "%s (output %%%s)%s%s%s%s: ", n->kind, n->nout ? n->out[0]->name : "?",
                      n->loc ? " at " : "", n->loc ? n->loc : "", n->src ? ": " : "", n->src ? n->src : "");
        return NULL;
    }
    ir_value *folded = NULL;
    int f = fold_small(cx, op, &folded);
    if (f < 0) return NULL;
    if (f) return lower_names_add(cx, folded->name, folded) ? NULL : folded;
    for (int i = 0; i < op->nout; i++) {
        ir_value *v = op->out[i];
        if (i > 0 && lower_names_has(cx, v->name)) {
            const char *nm = lower_name(cx, "out");
            if (!nm) return NULL;
            v->name = nm;
        }
        if (lower_names_add(cx, v->name, v)) return NULL;
    }
    if (op->nout < 1) {
        lower_fail(cx, "internal: %s produced no output", ir_op_kind_name(op->kind));
        return NULL;
    }
    return op->out[0];
}

static ir_value *named_const(lower_ctx *cx, ir_value *v) {
    if (!v) {
        oom(cx);
        return NULL;
    }
    v->def->loc = cx->loc;
    if (lower_names_add(cx, v->name, v)) return NULL;
    return v;
}

static const char *param_name(lower_ctx *cx, ir_op *op, const char *pname) {
    if (!op || cx->e->kind != PC_OK) return NULL;
    const char *save = cx->base;
    cx->base = op->name;
    const char *nm = lower_name(cx, pname);
    cx->base = save;
    return nm;
}

static int bind(lower_ctx *cx, ir_op *op, const char *pname, ir_value *v) {
    if (LB_SKIP(cx, v)) return -1;
    if (ir_op_set_input(op, pname, v)) return oom(cx);
    return 0;
}

int lb_param_i32(lower_ctx *cx, ir_op *op, const char *pname, int32_t v) {
    const char *nm = param_name(cx, op, pname);
    return nm ? bind(cx, op, pname, named_const(cx, ir_const_i32(cx->p, cx->b, nm, v))) : -1;
}

int lb_param_i32v(lower_ctx *cx, ir_op *op, const char *pname, int n, const int64_t *v) {
    const char *nm = param_name(cx, op, pname);
    return nm ? bind(cx, op, pname, named_const(cx, ir_const_i32_vec(cx->p, cx->b, nm, n, v))) : -1;
}

int lb_param_f(lower_ctx *cx, ir_op *op, const char *pname, double v, ir_dtype dt) {
    const char *nm = param_name(cx, op, pname);
    float f = (float)v;
    ir_value *c = nm ? ir_const_new(cx->p, cx->b, nm, ir_scalar_type(dt == IR_FP16 ? IR_FP16 : IR_FP32), IR_FP32, &f, 1)
                     : NULL;
    return nm ? bind(cx, op, pname, named_const(cx, c)) : -1;
}

int lb_param_bool(lower_ctx *cx, ir_op *op, const char *pname, int v) {
    const char *nm = param_name(cx, op, pname);
    return nm ? bind(cx, op, pname, named_const(cx, ir_const_bool(cx->p, cx->b, nm, v))) : -1;
}

int lb_param_boolv(lower_ctx *cx, ir_op *op, const char *pname, int n, const int *v) {
    const char *nm = param_name(cx, op, pname);
    uint8_t b[IR_MAX_RANK];
    if (n > IR_MAX_RANK) return lower_fail(cx, "internal: mask of %d", n);
    for (int i = 0; i < n; i++) b[i] = v[i] != 0;
    int64_t d = n;
    return nm ? bind(cx, op, pname, named_const(cx, ir_const_new(cx->p, cx->b, nm, ir_tensor_type(IR_BOOL, 1, &d), IR_BOOL, b, 1)))
              : -1;
}

int lb_param_str(lower_ctx *cx, ir_op *op, const char *pname, const char *s) {
    const char *nm = param_name(cx, op, pname);
    return nm ? bind(cx, op, pname, named_const(cx, ir_const_str(cx->p, cx->b, nm, s))) : -1;
}

int lb_conv_params(lower_ctx *cx, ir_op *op, int sp, const int64_t *strides, const int64_t *pad, const int64_t *dil,
                      int64_t groups) {
    if (lb_param_i32v(cx, op, "strides", sp, strides) || lb_param_str(cx, op, "pad_type", "custom") ||
        lb_param_i32v(cx, op, "pad", 2 * sp, pad) || lb_param_i32v(cx, op, "dilations", sp, dil) ||
        lb_param_i32(cx, op, "groups", (int32_t)groups))
        return -1;
    return 0;
}

ir_value *lb_const_scalar(lower_ctx *cx, double v, ir_dtype dt, const char *suffix) {
    if (!LB_LIVE(cx)) return NULL;
    const char *nm = lower_name(cx, suffix);
    if (!nm) return NULL;
    ir_value *c;
    if (ir_dtype_is_float(dt)) {
        float f = (float)v;
        c = ir_const_new(cx->p, cx->b, nm, ir_scalar_type(dt == IR_FP16 ? IR_FP16 : IR_FP32), IR_FP32, &f, 1);
    } else if (dt == IR_BOOL) {
        c = ir_const_bool(cx->p, cx->b, nm, v != 0);
    } else {
        double lim = 2147483647.0;
        c = ir_const_i32(cx->p, cx->b, nm, (int32_t)(v > lim ? lim : v < -lim - 1 ? -lim - 1 : v));
    }
    return named_const(cx, c);
}

ir_value *lb_const_i32v(lower_ctx *cx, int n, const int64_t *v, const char *suffix) {
    if (!LB_LIVE(cx)) return NULL;
    const char *nm = lower_name(cx, suffix);
    return nm ? named_const(cx, ir_const_i32_vec(cx->p, cx->b, nm, n, v)) : NULL;
}

ir_value *lb_unary(lower_ctx *cx, ir_opkind k, ir_value *x, const char *suffix) {
    ir_op *op = lb_op(cx, k, suffix);
    if (!op || bind(cx, op, "x", x)) return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_binary(lower_ctx *cx, ir_opkind k, ir_value *x, ir_value *y, const char *suffix) {
    ir_op *op = lb_op(cx, k, suffix);
    if (!op || bind(cx, op, "x", x) || bind(cx, op, "y", y)) return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_cast(lower_ctx *cx, ir_value *x, ir_dtype dt, const char *suffix) {
    ir_op *op = lb_op(cx, IR_OP_CAST, suffix);
    if (!op || bind(cx, op, "x", x) || lb_param_str(cx, op, "dtype", ir_dtype_name(dt))) return NULL;
    return lb_finish(cx, op);
}

ir_value *lb_reshape(lower_ctx *cx, ir_value *x, int n, const int64_t *shape, const char *suffix) {
    ir_op *op = lb_op(cx, IR_OP_RESHAPE, suffix);
    if (!op || bind(cx, op, "x", x) || lb_param_i32v(cx, op, "shape", n, shape)) return NULL;
    return lb_finish(cx, op);
}

int lower_axis(lower_ctx *cx, int64_t axis, int rank, int *out) {
    if (rank < 0) return lower_fail(cx, "the input's rank is unknown");
    int64_t a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= (rank ? rank : 1)) return lower_fail(cx, "dim %lld is out of range for rank %d", (long long)axis, rank);
    *out = (int)a;
    return 0;
}

int lower_scalar_type(lower_ctx *cx, int64_t code, ir_dtype *out) {
    switch (code) {
    case TS_UINT8: /* Core ML (iOS15) casts only to int32/fp16/fp32/bool */
    case TS_INT8:
    case TS_INT16:
    case TS_INT32:
    case TS_INT64: *out = IR_INT32; return 0;
    case TS_HALF: *out = IR_FP16; return 0;
    case TS_FLOAT:
    case TS_DOUBLE:
    case TS_BFLOAT16: *out = IR_FP32; return 0;
    case TS_BOOL: *out = IR_BOOL; return 0;
    default: return lower_fail(cx, "torch dtype code %lld has no Core ML equivalent", (long long)code);
    }
}
