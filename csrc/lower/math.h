/* math.h: helpers the math lowering files share (math.c, matrix.c, loss.c; lower_pnorm is in
 * reduce.c). Not a stage contract. Each returns its result, or NULL / -1 with cx->e set. */
#ifndef LOWER_MATH_H
#define LOWER_MATH_H

#include "lower/build.h"

/* log(x) with epsilon 0 (MIL's default 1e-45 makes log(0) finite; torch gives -inf). */
ir_value *lm_log(lower_ctx *cx, ir_value *x, const char *suffix);
/* select(cond, a, b). */
ir_value *lm_select(lower_ctx *cx, ir_value *c, ir_value *a, ir_value *b, const char *suffix);
/* log(1 + u), accurate for small u: log(w) * u / (w - 1) with w = 1 + u rounded (the rounding
 * error of w cancels in the ratio), or u where w == 1. */
ir_value *lm_log1p(lower_ctx *cx, ir_value *u, const char *suffix);
/* Input i as a float tensor: ints and bools cast to fp32, numbers become fp32 constants. */
ir_value *lm_float_in(lower_ctx *cx, const ts_node *n, int i);
/* Inputs first .. first+cnt-1 as tensors of one dtype, torch-style: a float tensor's dtype (fp32
 * when float tensors differ), else int32 (bools count as ints) unless a float number or
 * want_float makes it fp32. */
int lm_common_in(lower_ctx *cx, const ts_node *n, int first, int cnt, int want_float, ir_value **out);
/* C's atan2(y, x) of two float tensors of one dtype (signed zeros, infinities and NaN as in C). */
ir_value *lm_atan2(lower_ctx *cx, ir_value *y, ir_value *x);
/* The p-norm of x over the given axes: 2, 1, +-inf, 0 (count of nonzeros) or any p. */
ir_value *lower_pnorm(lower_ctx *cx, ir_value *x, double p, int nax, const int64_t *axes, int keep);

/* Matrices up to this size are inverted / factored by unrolled elimination (lu.c). */
#define LM_ELIM_MAX 32
/* The inverse of a [.., n, n] float tensor (static n <= LM_ELIM_MAX) by Gauss-Jordan elimination with
 * partial pivoting; a singular matrix gives inf / NaN. */
ir_value *lm_elim_inverse(lower_ctx *cx, ir_value *a);
/* det, sign(det) and log|det| (each optional: NULL skips it) of a [.., n, n] float tensor, shaped [..],
 * by LU with partial pivoting. */
int lm_elim_det(lower_ctx *cx, ir_value *a, ir_value **det, ir_value **sign, ir_value **logabs);

#endif
