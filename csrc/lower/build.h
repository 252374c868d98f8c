/* build.h: small MIL op builders shared by the coverage lowering files (pad.c, layout.c,
 * index.c, einsum.c, rnn.c, attention.c, and the norm/pool/linear extensions).
 * Each returns the op's output 0, or NULL with cx->e set. Not a stage contract. */
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
/* Batch norm on the batch's own statistics (norm_ext.c): x (N, C, *) normalized per channel over every
 * other dim (biased variance, eps), then the optional [C] scale g and shift b; mean / rstd (kept dims) are
 * computed only when both pointers are given. */
ir_value *lower_bn_batch_stats(lower_ctx *cx, ir_value *x, ir_value *g, ir_value *b, double eps, ir_value **mean,
                               ir_value **rstd);
/* 1 when output i of n is read by some node or returned by a block of the graph (nested blocks too). */
int lb_used(lower_ctx *cx, const ts_node *n, int i);

#endif
