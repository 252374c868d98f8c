/* build.h: the builder vocabulary of lower/ (prefix lb_): functions that add MIL ops to the block
 * being lowered and return the op's output 0 (or an int status).
 *
 * Sticky errors: once cx->e holds an error, every builder returns NULL (or -1) without adding
 * anything, and every builder accepts NULL for a value argument (the result of a failed builder, see
 * LB_SKIP).
 * A lowering function can therefore chain builders without checking each result and check once,
 * at its end (lower_out / lower_out_tensor fail on a NULL value or a held error). Not a stage contract
 * (lower.h is). */
#ifndef LOWER_BUILD_H
#define LOWER_BUILD_H

#include "lower/lower_int.h"

/* x[begin:end:step] along one axis (end_open: to the end); squeeze drops the axis. */
ir_value *lb_slice(lower_ctx *cx, ir_value *x, int axis, int64_t begin, int64_t end, int end_open, int64_t step,
                   int squeeze);
/* transpose by perm (identity perm returns x). */
ir_value *lb_transpose(lower_ctx *cx, ir_value *x, const int64_t *perm);
/* swap two axes. */
ir_value *lb_swap(lower_ctx *cx, ir_value *x, int a, int b);
/* concat / stack of n values along axis. */
ir_value *lb_concat(lower_ctx *cx, int n, ir_value *const *vs, int axis);
ir_value *lb_stack(lower_ctx *cx, int n, ir_value *const *vs, int axis);
/* expand_dims / squeeze of the given axes. */
ir_value *lb_expand(lower_ctx *cx, ir_value *x, int n, const int64_t *axes);
ir_value *lb_squeeze(lower_ctx *cx, ir_value *x, int n, const int64_t *axes);
/* reduce_<kind>(x, axes, keep_dims). */
ir_value *lb_reduce(lower_ctx *cx, ir_opkind k, ir_value *x, int n, const int64_t *axes, int keep);
/* matmul(x, y, transpose_x, transpose_y). */
ir_value *lb_matmul(lower_ctx *cx, ir_value *x, ir_value *y, int tx, int ty);
/* gather(x, indices, axis). */
ir_value *lb_gather(lower_ctx *cx, ir_value *x, ir_value *idx, int axis);
/* split x into n pieces of the given sizes along axis; outs[i] receives each piece. */
int lb_split(lower_ctx *cx, ir_value *x, int axis, int n, const int64_t *sizes, ir_value **outs);
/* tile(x, reps). */
ir_value *lb_tile(lower_ctx *cx, ir_value *x, const int64_t *reps);
/* tile(x, reps) with reps as int lvs (one per dim of x), built at run time when some are run-time ints. */
ir_value *lb_tile_lv(lower_ctx *cx, ir_value *x, lv *const *reps);
/* A rank-0 value of the number lv l (static or run-time) as dtype dt. */
ir_value *lb_scalar(lower_ctx *cx, lv *l, ir_dtype dt);
/* range_1d(0, end, step) with end a rank-0 int32 value (known now or at run time). */
ir_value *lb_range(lower_ctx *cx, ir_value *end, int64_t step, const char *suffix);
/* x gathered along axis at (i - shift) mod size for i in [0, count), size x's dim there: roll (count = size)
 * and circular padding (count = size + before + after, shift = before); count and shift are int lvs. */
ir_value *lb_cyclic(lower_ctx *cx, ir_value *x, int axis, lv *count, lv *shift);
/* A constant tensor of dtype dt (fp32/fp16/int32/bool) from float data. */
ir_value *lb_const(lower_ctx *cx, ir_dtype dt, int rank, const int64_t *dims, const float *data, const char *suffix);
/* x * a + b for scalars (skips the identities). */
ir_value *lb_affine(lower_ctx *cx, ir_value *x, double a, double b);
/* A binary op with a scalar right operand of x's dtype. */
ir_value *lb_scalar_op(lower_ctx *cx, ir_opkind k, ir_value *x, double s);
/* An int32 index with its negative entries counted from the end of a dim of `size` (idx + size where
 * idx < 0): a constant index is wrapped at conversion time, a run-time one by ops. */
ir_value *lb_wrap_index(lower_ctx *cx, ir_value *idx, int64_t size);
/* softmax(x, axis). */
ir_value *lb_softmax(lower_ctx *cx, ir_value *x, int axis);
/* Static dims of x, or a failure naming what. */
int lb_static(lower_ctx *cx, ir_value *x, const char *what);
/* base with base[begin:end:step] along axis replaced by nv (nv keeps the axis, in base's dtype;
 * 0 <= begin <= end <= size, step >= 1): concat of the pieces, or for step > 1 a gather from
 * concat(base, nv) with constant indices. */
ir_value *lb_assign(lower_ctx *cx, ir_value *base, ir_value *nv, int axis, int64_t begin, int64_t end, int64_t step);
/* v (any static-broadcastable shape) cast to t's dtype and tiled to t's static shape (a new
 * value: identity when nothing changes). */
ir_value *lb_broadcast(lower_ctx *cx, ir_value *v, const ir_type *t);
/* For a flattened mask (any dtype, nonzero = true): int32 positions where the k-th true element
 * reads element k of a packed source (cumsum - 1, clamped at 0 before the first true one). */
ir_value *lb_mask_ranks(lower_ctx *cx, ir_value *mask_flat);
/* Batch norm on the batch's own statistics (norm.c): x (N, C, *) normalized per channel over every
 * other dim (biased variance, eps), then the optional [C] scale g and shift b; mean / rstd (kept dims) are
 * computed only when both pointers are given. */
ir_value *lb_bn_batch_stats(lower_ctx *cx, ir_value *x, ir_value *g, ir_value *b, double eps, ir_value **mean,
                               ir_value **rstd);
/* 1 when output i of n is read by some node or returned by a block of the graph (nested blocks too). */
int lb_used(lower_ctx *cx, const ts_node *n, int i);

/* 1 while cx holds no error: a builder without value arguments tests it before it builds. */
#define LB_LIVE(cx) ((cx)->e->kind == PC_OK)
/* 1 when a builder must not build: cx holds an error, or one of the n value arguments (ir_value * or lv *)
 * is NULL. A NULL value is the result of a failed builder, so it comes with an error; one without is a bug
 * of its caller, recorded here as an internal error. Every builder with value arguments starts with
 * LB_SKIP, so none dereferences NULL and a NULL result always comes with an error. */
int lb_skip(lower_ctx *cx, int n, const void *const *vals);
#define LB_SKIP(cx, ...) \
    lb_skip((cx), (int)(sizeof((const void *[]){__VA_ARGS__}) / sizeof(void *)), (const void *[]){__VA_ARGS__})

/* ---- ops and their parameters ---- */
/* A unique name "<base><suffix>" (suffix may be NULL). */
const char *lower_name(lower_ctx *cx, const char *suffix);
/* A new op named lower_name(suffix), detached: lb_finish appends it to the current block (so the
 * const params made in between come first), infers its outputs and returns output 0. */
ir_op *lb_op(lower_ctx *cx, ir_opkind k, const char *suffix);
/* Infer op's outputs (ir_infer) and return output 0 (NULL on error). */
ir_value *lb_finish(lower_ctx *cx, ir_op *op);
/* Const parameters named "<op>_<param>", bound to op's param. */
int lb_param_i32(lower_ctx *cx, ir_op *op, const char *pname, int32_t v);
int lb_param_i32v(lower_ctx *cx, ir_op *op, const char *pname, int n, const int64_t *v);
int lb_param_f(lower_ctx *cx, ir_op *op, const char *pname, double v, ir_dtype dt);
int lb_param_bool(lower_ctx *cx, ir_op *op, const char *pname, int v);
int lb_param_boolv(lower_ctx *cx, ir_op *op, const char *pname, int n, const int *v);
int lb_param_str(lower_ctx *cx, ir_op *op, const char *pname, const char *s);
/* conv / conv_transpose geometry over sp spatial dims: strides, pad_type "custom", pad (2 * sp:
 * before/after per dim), dilations, groups. */
int lb_conv_params(lower_ctx *cx, ir_op *op, int sp, const int64_t *strides, const int64_t *pad, const int64_t *dil,
                      int64_t groups);
/* Const values (not bound). */
ir_value *lb_const_scalar(lower_ctx *cx, double v, ir_dtype dt, const char *suffix);
ir_value *lb_const_i32v(lower_ctx *cx, int n, const int64_t *v, const char *suffix);
/* A rank-0 constant v of like's dtype (a NULL like: NULL, as for any value argument). */
ir_value *lb_const_like(lower_ctx *cx, double v, const ir_value *like, const char *suffix);

/* Common one-liners: op(x=x) and op(x=x, y=y). */
ir_value *lb_unary(lower_ctx *cx, ir_opkind k, ir_value *x, const char *suffix);
ir_value *lb_binary(lower_ctx *cx, ir_opkind k, ir_value *x, ir_value *y, const char *suffix);
ir_value *lb_cast(lower_ctx *cx, ir_value *x, ir_dtype dt, const char *suffix);
ir_value *lb_reshape(lower_ctx *cx, ir_value *x, int n, const int64_t *shape, const char *suffix);


/* ---- values from lowered values (lvs) ---- */
ir_value *lb_as_tensor(lower_ctx *cx, lv *l, ir_dtype dt);
/* An int list (static or with run-time elements) as an int32 [n] tensor. */
ir_value *lb_shape_tensor(lower_ctx *cx, lv *l);
/* reshape of x to a shape given as an int list lv (static: a const shape; else built at run time) (shape.c). */
ir_value *lb_reshape_lv(lower_ctx *cx, ir_value *x, lv *shape);
/* slice_by_index of x over one axis with bounds known at run time (int lvs; NULL end: to the end) (shape.c). */
ir_value *lb_slice_dyn(lower_ctx *cx, ir_value *x, int axis, lv *b, lv *e, int64_t step);
ir_value *lb_list_cat(lower_ctx *cx, lv *l, int64_t dim, int stack);

/* ---- math (math.c, matrix.c, lu.c; lb_pnorm in reduce.c) ---- */
/* log(x) with epsilon 0 (MIL's default 1e-45 makes log(0) finite; torch gives -inf). */
ir_value *lb_log(lower_ctx *cx, ir_value *x, const char *suffix);
/* select(cond, a, b). */
ir_value *lb_select(lower_ctx *cx, ir_value *c, ir_value *a, ir_value *b, const char *suffix);
/* log(1 + u), accurate for small u: log(w) * u / (w - 1) with w = 1 + u rounded (the rounding
 * error of w cancels in the ratio), or u where w == 1. */
ir_value *lb_log1p(lower_ctx *cx, ir_value *u, const char *suffix);
/* C's atan2(y, x) of two float tensors of one dtype (signed zeros, infinities and NaN as in C). */
ir_value *lb_atan2(lower_ctx *cx, ir_value *y, ir_value *x);
/* The p-norm of x over the given axes: 2, 1, +-inf, 0 (count of nonzeros) or any p. */
ir_value *lb_pnorm(lower_ctx *cx, ir_value *x, double p, int nax, const int64_t *axes, int keep);

/* Matrices up to this size are inverted / factored by unrolled elimination (lu.c). */
#define LB_ELIM_MAX 32
/* The inverse of a [.., n, n] float tensor (static n <= LB_ELIM_MAX) by Gauss-Jordan elimination with
 * partial pivoting; a singular matrix gives inf / NaN. */
ir_value *lb_elim_inverse(lower_ctx *cx, ir_value *a);
/* det, sign(det) and log|det| (each optional: NULL skips it) of a [.., n, n] float tensor, shaped [..],
 * by LU with partial pivoting. */
int lb_elim_det(lower_ctx *cx, ir_value *a, ir_value **det, ir_value **sign, ir_value **logabs);


#endif
