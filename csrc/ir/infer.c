/* infer.c: shape inference entry points, the helpers every rule uses, and the
 * rules for elementwise, activation, reduction and small ops. Convolution-like
 * ops live in infer_nn.c, shape-moving ops in infer_shape.c. The rules follow
 * the MIL op definitions (coremltools ops/defs/iOS15): parameter names, their
 * defaults, and dtype promotion for elementwise binary ops.
 */
#include "ir/infer_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- helpers ---- */
int inf_fail(infer_ctx *c, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const ir_op *op = c->op;
    return pc_fail(c->e, PC_E_VALUE, "%s '%s'%s%s: %s", op->type_name ? op->type_name : "?", op->name ? op->name : "",
                   op->loc ? " at " : "", op->loc ? op->loc : "", msg);
}

const char *inf_tstr(const ir_type *t) {
    static _Thread_local char ring[4][160];
    static _Thread_local int k;
    k = (k + 1) % 4;
    return ir_type_str(t, ring[k], sizeof ring[k]);
}

int inf_input(infer_ctx *c, const char *name, int required, const ir_type **t) {
    const ir_arg *a = ir_op_arg(c->op, name);
    *t = NULL;
    if (!a || a->n == 0) return required ? inf_fail(c, "missing required input '%s'", name) : 0;
    if (a->n != 1) return inf_fail(c, "input '%s' takes one value, got %d", name, a->n);
    *t = &a->v[0]->type;
    return 0;
}

/* The const payload of param `name`; NULL with *absent = 1 if the param is not given. */
static const ir_const *param_const(infer_ctx *c, const char *name, int *absent, int *err) {
    const ir_arg *a = ir_op_arg(c->op, name);
    *absent = 0;
    *err = 0;
    if (!a || a->n == 0) {
        *absent = 1;
        return NULL;
    }
    if (a->n != 1 || !a->v[0]->konst) {
        *err = inf_fail(c, "parameter '%s' must be a constant", name);
        return NULL;
    }
    return a->v[0]->konst;
}

int inf_int(infer_ctx *c, const char *name, int64_t dflt, int64_t *v) {
    int absent, err;
    const ir_const *k = param_const(c, name, &absent, &err);
    if (err) return -1;
    if (absent) {
        *v = dflt;
        return 0;
    }
    if (k->count != 1 || k->store == IR_STRING) return inf_fail(c, "parameter '%s' must be one integer", name);
    *v = ir_const_get_i64(k, 0);
    return 0;
}

int inf_float(infer_ctx *c, const char *name, int required, double dflt, double *v) {
    int absent, err;
    const ir_const *k = param_const(c, name, &absent, &err);
    if (err) return -1;
    if (absent) {
        *v = dflt;
        return required ? inf_fail(c, "missing required input '%s'", name) : 0;
    }
    if (k->count != 1 || k->store == IR_STRING) return inf_fail(c, "parameter '%s' must be one number", name);
    *v = ir_const_get_f64(k, 0);
    return 0;
}

int inf_bool(infer_ctx *c, const char *name, int dflt, int *v) {
    int64_t x = 0;
    if (inf_int(c, name, dflt, &x)) return -1;
    *v = x != 0;
    return 0;
}

int inf_str(infer_ctx *c, const char *name, const char *dflt, const char **v) {
    int absent, err;
    const ir_const *k = param_const(c, name, &absent, &err);
    if (err) return -1;
    if (absent) {
        *v = dflt;
        return 0;
    }
    if (k->count != 1 || k->store != IR_STRING) return inf_fail(c, "parameter '%s' must be a string", name);
    *v = ((const char *const *)k->data)[0];
    return 0;
}

int inf_ints(infer_ctx *c, const char *name, int required, int allow_dyn, int64_t *v, int max, int *n) {
    const ir_arg *a = ir_op_arg(c->op, name);
    *n = -1;
    if (!a || a->n == 0) return required ? inf_fail(c, "missing required input '%s'", name) : 0;
    if (a->n != 1) return inf_fail(c, "input '%s' takes one value, got %d", name, a->n);
    const ir_const *k = a->v[0]->konst;
    if (!k) return allow_dyn ? 0 : inf_fail(c, "parameter '%s' must be a constant", name);
    if (k->store == IR_STRING || a->v[0]->type.rank > 1) return inf_fail(c, "parameter '%s' must be a list of integers", name);
    if (k->count > max) return inf_fail(c, "parameter '%s' has %lld entries, at most %d allowed", name, (long long)k->count, max);
    for (int64_t i = 0; i < k->count; i++) v[i] = ir_const_get_i64(k, i);
    *n = (int)k->count;
    return 0;
}

int inf_axis(infer_ctx *c, const char *what, int64_t axis, int rank, int *out) {
    if (axis < -rank || axis >= rank || rank == 0)
        return inf_fail(c, "%s %lld out of range for rank %d", what, (long long)axis, rank);
    *out = (int)(axis < 0 ? axis + rank : axis);
    return 0;
}

int64_t inf_fresh(infer_ctx *c) { return IR_SYM(c->p->next_symbol++); }

int inf_broadcast(infer_ctx *c, const ir_type *a, const ir_type *b, ir_type *out) {
    if (a->rank < 0 || b->rank < 0) {
        out->rank = -1;
        return 0;
    }
    int r = PC_MAX(a->rank, b->rank);
    int64_t dims[IR_MAX_RANK];
    for (int i = 0; i < r; i++) {
        int ia = i - (r - a->rank), ib = i - (r - b->rank);
        int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
        if (da == db || db == 1) dims[i] = da;
        else if (da == 1) dims[i] = db;
        else if (IR_IS_SYM(da) && IR_IS_SYM(db)) dims[i] = inf_fresh(c);
        else if (IR_IS_SYM(da)) dims[i] = db;
        else if (IR_IS_SYM(db)) dims[i] = da;
        else return inf_fail(c, "shapes %s and %s do not broadcast", inf_tstr(a), inf_tstr(b));
    }
    out->rank = r;
    memcpy(out->dims, dims, sizeof(int64_t) * (size_t)r);
    return 0;
}

int inf_out(infer_ctx *c, ir_type t) {
    if (c->nout == c->cap) {
        int cap = c->cap ? c->cap * 2 : 4;
        ir_type *n = pc_alloc(c->p->arena, sizeof(*n) * (size_t)cap);
        if (!n) return pc_fail(c->e, PC_E_NOMEM, "ir_infer: out of memory");
        if (c->nout) memcpy(n, c->out, sizeof(*n) * (size_t)c->nout);
        c->out = n;
        c->cap = cap;
    }
    c->out[c->nout++] = t;
    return 0;
}

int inf_out_shaped(infer_ctx *c, ir_dtype dt, const ir_type *st, const int64_t *sh, int n) {
    ir_type t = ir_tensor_type(dt, 0, NULL);
    if (n >= 0) {
        for (int i = 0; i < n; i++) {
            if (sh[i] < 0) return inf_fail(c, "shape entry %lld is negative", (long long)sh[i]);
            t.dims[i] = sh[i];
        }
        t.rank = n;
    } else if (st->rank == 1 && !IR_IS_SYM(st->dims[0])) {
        if (st->dims[0] > IR_MAX_RANK) return inf_fail(c, "shape %s gives a rank above %d", inf_tstr(st), IR_MAX_RANK);
        t.rank = (int)st->dims[0];
        for (int i = 0; i < t.rank; i++) t.dims[i] = inf_fresh(c);
    } else {
        if (st->rank != 1 && st->rank >= 0) return inf_fail(c, "shape %s must be 1-D", inf_tstr(st));
        t.rank = -1;
    }
    return inf_out(c, t);
}

/* ---- elementwise ---- */
static int dtype_rank(ir_dtype t) {
    if (t == IR_BOOL) return 0;
    if (ir_dtype_is_int(t)) return 1;
    return ir_dtype_is_float(t) ? 2 : -1;
}

/* MIL's promotion for binary ops: bool < integers < floats, the wider within a class. */
static ir_dtype promote(ir_dtype a, ir_dtype b) {
    if (a == b) return a;
    int ra = dtype_rank(a), rb = dtype_rank(b);
    if (ra < 0 || rb < 0) return IR_DT_INVALID;
    if (ra != rb) return ra > rb ? a : b;
    return ir_dtype_size(a) >= ir_dtype_size(b) ? a : b;
}

static int infer_binary(infer_ctx *c, int cmp, int logical) {
    const ir_type *x, *y;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "y", 1, &y)) return -1;
    ir_dtype dt = promote(x->dtype, y->dtype);
    if (dt == IR_DT_INVALID) return inf_fail(c, "incompatible dtypes %s and %s", ir_dtype_name(x->dtype), ir_dtype_name(y->dtype));
    if (logical && (x->dtype != IR_BOOL || y->dtype != IR_BOOL)) return inf_fail(c, "x and y must be bool");
    ir_type t = *x;
    t.kind = IR_TK_TENSOR;
    t.dtype = cmp ? IR_BOOL : dt;
    if (inf_broadcast(c, x, y, &t)) return -1;
    return inf_out(c, t);
}

static int infer_unary(infer_ctx *c, ir_dtype force) {
    const ir_type *x;
    if (inf_input(c, "x", 1, &x)) return -1;
    ir_type t = *x;
    if (force != IR_DT_INVALID) t.dtype = force;
    return inf_out(c, t);
}

/* Activations with scalar const alpha (and beta): same type as x. */
static int infer_act2(infer_ctx *c, int has_beta) {
    const ir_type *x;
    double a, b;
    if (inf_input(c, "x", 1, &x) || inf_float(c, "alpha", 1, 0.0, &a) || (has_beta && inf_float(c, "beta", 1, 0.0, &b)))
        return -1;
    if (!ir_dtype_is_float(x->dtype)) return inf_fail(c, "x must be fp16 or fp32, got %s", ir_dtype_name(x->dtype));
    return inf_out(c, *x);
}

static int infer_select(infer_ctx *c) {
    const ir_type *cond, *a, *b;
    if (inf_input(c, "cond", 1, &cond) || inf_input(c, "a", 1, &a) || inf_input(c, "b", 1, &b)) return -1;
    ir_dtype dt = promote(a->dtype, b->dtype);
    if (dt == IR_DT_INVALID) return inf_fail(c, "incompatible dtypes %s and %s", ir_dtype_name(a->dtype), ir_dtype_name(b->dtype));
    ir_type t = *a, ab;
    if (inf_broadcast(c, a, b, &ab) || inf_broadcast(c, cond, &ab, &t)) return -1;
    t.dtype = dt;
    return inf_out(c, t);
}

static int infer_cast(infer_ctx *c) {
    const ir_type *x;
    const char *dt;
    if (inf_input(c, "x", 1, &x) || inf_str(c, "dtype", NULL, &dt)) return -1;
    if (!dt) return inf_fail(c, "missing required input 'dtype'");
    static const char *const ok[] = {"bool", "fp16", "fp32", "fp64", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32"};
    ir_dtype t = IR_DT_INVALID;
    for (int i = 0; i < PC_ARRAY_LEN(ok); i++)
        if (strcmp(ok[i], dt) == 0) t = ir_dtype_from_name(dt);
    if (t == IR_DT_INVALID) return inf_fail(c, "unknown dtype '%s'", dt);
    ir_type o = *x;
    o.dtype = t;
    return inf_out(c, o);
}

static int infer_axis_op(infer_ctx *c) { /* softmax: same type, axis must be valid */
    const ir_type *x;
    int64_t axis;
    int ax;
    if (inf_input(c, "x", 1, &x) || inf_int(c, "axis", -1, &axis)) return -1;
    if (x->rank >= 0 && inf_axis(c, "axis", axis, x->rank, &ax)) return -1;
    return inf_out(c, *x);
}

/* reduce_*: axes (default all), keep_dims (default false); argmax/argmin: axis, int32 result. */
static int infer_reduce(infer_ctx *c, int arg) {
    const ir_type *x;
    int keep;
    if (inf_input(c, "x", 1, &x) || inf_bool(c, "keep_dims", 0, &keep)) return -1;
    if (x->rank < 0) return inf_fail(c, "x needs a known rank");
    int red[IR_MAX_RANK] = {0};
    int64_t axes[IR_MAX_RANK];
    int n;
    if (arg) {
        if (inf_int(c, "axis", -1, &axes[0])) return -1;
        n = 1;
    } else if (inf_ints(c, "axes", 0, 0, axes, IR_MAX_RANK, &n)) {
        return -1;
    }
    if (n < 0)
        for (int i = 0; i < x->rank; i++) red[i] = 1;
    for (int i = 0; i < n; i++) {
        int a = 0;
        if (inf_axis(c, "axis", axes[i], x->rank, &a)) return -1;
        if (red[a]) return inf_fail(c, "axis %d repeated", a);
        red[a] = 1;
    }
    ir_type t = *x;
    t.rank = 0;
    if (arg) t.dtype = IR_INT32;
    for (int i = 0; i < x->rank; i++) {
        if (!red[i]) t.dims[t.rank++] = x->dims[i];
        else if (keep) t.dims[t.rank++] = 1;
    }
    return inf_out(c, t);
}

/* classify(probabilities: fp32 tensor of N elements, classes: const [N] string or int64)
 * -> (label: scalar of the class dtype, probabilities: dict<class dtype, fp64>). */
static int infer_classify(infer_ctx *c) {
    const ir_type *p, *k;
    if (inf_input(c, "probabilities", 1, &p) || inf_input(c, "classes", 1, &k)) return -1;
    if (p->kind != IR_TK_TENSOR || p->dtype != IR_FP32)
        return inf_fail(c, "probabilities must be an fp32 tensor, got %s", inf_tstr(p));
    const ir_value *cv = ir_op_input(c->op, "classes");
    if (!cv->konst || k->kind != IR_TK_TENSOR || k->rank != 1 || (k->dtype != IR_STRING && k->dtype != IR_INT64))
        return inf_fail(c, "classes must be a const list of string or int64 labels, got %s", inf_tstr(k));
    int64_t n = ir_type_numel(p);
    if (n >= 0 && n != k->dims[0])
        return inf_fail(c, "%lld probabilities (%s) for %lld classes", (long long)n, inf_tstr(p), (long long)k->dims[0]);
    ir_type d = ir_scalar_type(k->dtype);
    d.kind = IR_TK_DICT;
    if (inf_out(c, ir_scalar_type(k->dtype))) return -1;
    return inf_out(c, d);
}

static int infer_shape_op(infer_ctx *c) {
    const ir_type *x;
    if (inf_input(c, "x", 1, &x)) return -1;
    int64_t d = x->rank < 0 ? inf_fresh(c) : x->rank;
    return inf_out(c, ir_tensor_type(IR_INT32, 1, &d));
}

/* read_state(input: state<T>) -> T; write_state(input: state<T>, data: T) -> nothing (iOS18). */
static int infer_state_op(infer_ctx *c, int write) {
    const ir_type *s;
    if (inf_input(c, "input", 1, &s)) return -1;
    if (s->kind != IR_TK_STATE) return inf_fail(c, "input must be a state, got %s", inf_tstr(s));
    ir_type t = *s;
    t.kind = IR_TK_TENSOR;
    if (!write) return inf_out(c, t);
    const ir_type *d;
    if (inf_input(c, "data", 1, &d)) return -1;
    if (d->kind != IR_TK_TENSOR || d->dtype != t.dtype || d->rank != t.rank)
        return inf_fail(c, "data %s does not fit the state's %s", inf_tstr(d), inf_tstr(&t));
    for (int i = 0; i < t.rank; i++)
        if (!IR_IS_SYM(d->dims[i]) && !IR_IS_SYM(t.dims[i]) && d->dims[i] != t.dims[i])
            return inf_fail(c, "data %s does not fit the state's %s", inf_tstr(d), inf_tstr(&t));
    return 0;
}

static int dispatch(infer_ctx *c) {
    switch (c->op->kind) {
    case IR_OP_ADD: case IR_OP_SUB: case IR_OP_MUL: case IR_OP_REAL_DIV: case IR_OP_FLOOR_DIV:
    case IR_OP_MOD: case IR_OP_POW: case IR_OP_MAXIMUM: case IR_OP_MINIMUM:
        return infer_binary(c, 0, 0);
    case IR_OP_EQUAL: case IR_OP_NOT_EQUAL: case IR_OP_GREATER: case IR_OP_GREATER_EQUAL:
    case IR_OP_LESS: case IR_OP_LESS_EQUAL:
        return infer_binary(c, 1, 0);
    case IR_OP_LOGICAL_AND: case IR_OP_LOGICAL_OR: case IR_OP_LOGICAL_XOR:
        return infer_binary(c, 1, 1);
    case IR_OP_LOGICAL_NOT:
        return infer_unary(c, IR_BOOL);
    case IR_OP_ABS: case IR_OP_ACOS: case IR_OP_ASIN: case IR_OP_ATAN: case IR_OP_ATANH: case IR_OP_CEIL: case IR_OP_CLIP:
    case IR_OP_COS: case IR_OP_COSH: case IR_OP_ELU: case IR_OP_ERF: case IR_OP_EXP: case IR_OP_EXP2:
    case IR_OP_FLOOR: case IR_OP_GELU: case IR_OP_IDENTITY: case IR_OP_INVERSE: case IR_OP_LEAKY_RELU:
    case IR_OP_LOG: case IR_OP_RELU: case IR_OP_RELU6: case IR_OP_ROUND: case IR_OP_RSQRT: case IR_OP_SIGMOID:
    case IR_OP_SIGN: case IR_OP_SILU: case IR_OP_SIN: case IR_OP_SINH: case IR_OP_SOFTPLUS: case IR_OP_SQRT:
    case IR_OP_SQUARE: case IR_OP_TAN: case IR_OP_TANH: case IR_OP_SOFTSIGN:
        return infer_unary(c, IR_DT_INVALID);
    case IR_OP_CLAMPED_RELU: case IR_OP_LINEAR_ACTIVATION: case IR_OP_SCALED_TANH: case IR_OP_SIGMOID_HARD:
        return infer_act2(c, 1);
    case IR_OP_THRESHOLD: case IR_OP_THRESHOLDED_RELU:
        return infer_act2(c, 0);
    case IR_OP_SELECT: return infer_select(c);
    case IR_OP_CAST: return infer_cast(c);
    case IR_OP_SOFTMAX: return infer_axis_op(c);
    case IR_OP_SHAPE: return infer_shape_op(c);
    case IR_OP_CLASSIFY: return infer_classify(c);
    case IR_OP_READ_STATE: return infer_state_op(c, 0);
    case IR_OP_WRITE_STATE: return infer_state_op(c, 1);
    case IR_OP_REDUCE_ARGMAX: case IR_OP_REDUCE_ARGMIN:
        return infer_reduce(c, 1);
    case IR_OP_REDUCE_MAX: case IR_OP_REDUCE_MEAN: case IR_OP_REDUCE_MIN: case IR_OP_REDUCE_PROD:
    case IR_OP_REDUCE_SUM: case IR_OP_REDUCE_L1_NORM: case IR_OP_REDUCE_L2_NORM: case IR_OP_REDUCE_LOG_SUM:
    case IR_OP_REDUCE_LOG_SUM_EXP: case IR_OP_REDUCE_SUM_SQUARE:
        return infer_reduce(c, 0);
    case IR_OP_CONV: case IR_OP_CONV_TRANSPOSE: case IR_OP_LINEAR: case IR_OP_MATMUL: case IR_OP_BATCH_NORM:
    case IR_OP_LAYER_NORM: case IR_OP_MAX_POOL: case IR_OP_AVG_POOL: case IR_OP_L2_POOL: case IR_OP_EINSUM: case IR_OP_PRELU:
    case IR_OP_SOFTPLUS_PARAMETRIC: case IR_OP_INSTANCE_NORM: case IR_OP_L2_NORM: case IR_OP_LOCAL_RESPONSE_NORM:
    case IR_OP_SCALED_DOT_PRODUCT_ATTENTION: case IR_OP_LSTM: case IR_OP_GRU: case IR_OP_RNN:
        return inf_nn(c);
    case IR_OP_RESHAPE: case IR_OP_TRANSPOSE: case IR_OP_CONCAT: case IR_OP_SPLIT: case IR_OP_STACK:
    case IR_OP_SQUEEZE: case IR_OP_EXPAND_DIMS: case IR_OP_SLICE_BY_INDEX: case IR_OP_SLICE_UPDATE: case IR_OP_GATHER: case IR_OP_TILE:
    case IR_OP_PAD:
        return inf_shape(c);
    case IR_OP_COND: case IR_OP_WHILE_LOOP:
        return inf_control(c);
    case IR_OP_MAKE_LIST: case IR_OP_LIST_LENGTH: case IR_OP_LIST_READ: case IR_OP_LIST_WRITE: case IR_OP_LIST_GATHER:
    case IR_OP_LIST_SCATTER:
        return inf_list(c);
    case IR_OP_GATHER_ALONG_AXIS: case IR_OP_GATHER_ND: case IR_OP_SCATTER: case IR_OP_SCATTER_ALONG_AXIS:
    case IR_OP_SCATTER_ND: case IR_OP_SLICE_BY_SIZE: case IR_OP_REVERSE: case IR_OP_BAND_PART: case IR_OP_TOPK:
    case IR_OP_ARGSORT: case IR_OP_CUMSUM: case IR_OP_ONE_HOT: case IR_OP_NON_ZERO: case IR_OP_FILL: case IR_OP_FILL_LIKE:
    case IR_OP_RANGE_1D: case IR_OP_FLATTEN2D:
        return inf_index(c);
    case IR_OP_PIXEL_SHUFFLE: case IR_OP_PIXEL_UNSHUFFLE: case IR_OP_DEPTH_TO_SPACE: case IR_OP_SPACE_TO_DEPTH:
    case IR_OP_SPACE_TO_BATCH: case IR_OP_BATCH_TO_SPACE: case IR_OP_UPSAMPLE_NEAREST_NEIGHBOR: case IR_OP_UPSAMPLE_BILINEAR:
    case IR_OP_RESIZE_NEAREST_NEIGHBOR: case IR_OP_RESIZE_BILINEAR: case IR_OP_RESAMPLE:
        return inf_image(c);
    case IR_OP_RANDOM_UNIFORM: case IR_OP_RANDOM_NORMAL: case IR_OP_RANDOM_BERNOULLI: case IR_OP_RANDOM_CATEGORICAL:
    case IR_OP_NON_MAXIMUM_SUPPRESSION:
        return inf_random(c);
    case IR_OP_CONSTEXPR_AFFINE_DEQUANTIZE: case IR_OP_CONSTEXPR_CAST: case IR_OP_CONSTEXPR_LUT_TO_DENSE:
    case IR_OP_CONSTEXPR_SPARSE_TO_DENSE: case IR_OP_QUANTIZE: case IR_OP_DEQUANTIZE:
    case IR_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE: case IR_OP_CONSTEXPR_LUT_TO_SPARSE:
    case IR_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE:
        return inf_quant(c);
    case IR_OP_CROP: case IR_OP_SLIDING_WINDOWS: case IR_OP_REVERSE_SEQUENCE: case IR_OP_RESHAPE_LIKE:
        return inf_window(c);
    case IR_OP_RESIZE: case IR_OP_CROP_RESIZE: case IR_OP_AFFINE: case IR_OP_CONV_QUANTIZED:
        return inf_foreign(c);
    case IR_OP_CONST:
        if (c->op->nout != 1 || !c->op->out[0]->konst) return inf_fail(c, "a const needs its value");
        return inf_out(c, c->op->out[0]->type);
    default:
        return inf_fail(c, "no shape inference for this op type");
    }
}

/* Compute op's output types from its inputs, without changing the op. */
int ir_infer_types(ir_program *p, const ir_op *op, ir_type **out, int *nout, pc_err *e) {
    infer_ctx c = {.p = p, .op = op, .e = e};
    for (int i = 0; i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++)
            if (!op->in[i].v[j]) return inf_fail(&c, "input '%s' is unbound", op->in[i].name);
    if (dispatch(&c)) return -1;
    *out = c.out;
    *nout = c.nout;
    return 0;
}

/* Create op's outputs (or retype the ones it has) from its inputs' types. */
int ir_infer(ir_program *p, ir_op *op, pc_err *e) {
    ir_type *t;
    int n;
    if (ir_infer_types(p, op, &t, &n, e)) return -1;
    if (op->nout == 0) {
        for (int i = 0; i < n; i++)
            if (!ir_op_add_output(op, NULL, t[i])) return pc_fail(e, PC_E_NOMEM, "ir_infer: out of memory");
        return 0;
    }
    if (op->nout != n) {
        infer_ctx c = {.p = p, .op = op, .e = e};
        return inf_fail(&c, "has %d outputs, inference gives %d", op->nout, n);
    }
    for (int i = 0; i < n; i++) op->out[i]->type = t[i];
    return 0;
}
