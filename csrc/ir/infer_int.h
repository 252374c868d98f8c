/* infer_int.h: helpers shared by the shape-inference files (ir/infer*.c), private to ir/.
 * Each helper returns 0 or -1 with the error (naming the op) in c->e. */
#ifndef IR_INFER_INT_H
#define IR_INFER_INT_H

#include "ir/ir.h"

typedef struct infer_ctx {
    ir_program *p;
    const ir_op *op;
    pc_err *e;
    ir_type *out; /* output types (arena) */
    int nout, cap;
} infer_ctx;

int inf_fail(infer_ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Type of input `name`; a missing required input is an error, a missing optional one gives *t = NULL. */
int inf_input(infer_ctx *c, const char *name, int required, const ir_type **t);
/* Const params (scalar or 1-element). Absent -> the default. Present but not const -> error. */
int inf_int(infer_ctx *c, const char *name, int64_t dflt, int64_t *v);
int inf_bool(infer_ctx *c, const char *name, int dflt, int *v);
/* Const number (int or float payload); a missing required one is an error. */
int inf_float(infer_ctx *c, const char *name, int required, double dflt, double *v);
int inf_str(infer_ctx *c, const char *name, const char *dflt, const char **v);
/* Const int vector: *n = element count, or -1 when absent (optional) or not const (when allow_dyn). */
int inf_ints(infer_ctx *c, const char *name, int required, int allow_dyn, int64_t *v, int max, int *n);
/* Normalize an axis into [0, rank). */
int inf_axis(infer_ctx *c, const char *what, int64_t axis, int rank, int *out);
int64_t inf_fresh(infer_ctx *c); /* a new symbolic dim */
/* numpy broadcasting of a and b into out (dtype of out untouched). */
int inf_broadcast(infer_ctx *c, const ir_type *a, const ir_type *b, ir_type *out);
int inf_out(infer_ctx *c, ir_type t); /* append an output type */
/* Append a dt tensor type shaped by a `shape` input st with n values sh (n < 0: values unknown at
 * conversion; then fresh symbols of its static length, else unknown rank). */
int inf_out_shaped(infer_ctx *c, ir_dtype dt, const ir_type *st, const int64_t *sh, int n);
/* "fp32[1,3,8,8]" into a static per-call buffer ring (for messages). */
const char *inf_tstr(const ir_type *t);

int inf_nn(infer_ctx *c);    /* conv, conv_transpose, linear, matmul, norms, pools, per-channel activations (infer_nn.c) */
int inf_shape(infer_ctx *c); /* reshape, transpose, concat, split, ... (infer_shape.c) */
int inf_control(infer_ctx *c); /* cond, while_loop: types from their blocks (infer_control.c) */
int inf_image(infer_ctx *c); /* pixel rearranging and image resampling ops (infer_image.c) */
int inf_index(infer_ctx *c); /* gather/scatter families, topk, cumsum, fill, range_1d, ... (infer_index.c) */
int inf_quant(infer_ctx *c); /* constexpr_* (iOS16), quantize, dequantize (infer_quant.c) */
int inf_window(infer_ctx *c); /* crop, sliding_windows, reverse_sequence, reshape_like (infer_window.c) */
int inf_random(infer_ctx *c); /* random_*, non_maximum_suppression (infer_random.c) */
int inf_list(infer_ctx *c); /* make_list and the list_* ops (infer_list.c) */
int inf_foreign(infer_ctx *c); /* resize, crop_resize, affine, conv_quantized (infer_foreign.c) */

#endif
