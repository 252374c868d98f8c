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
/* Const params (scalar or 1-element) read through the op's ops.def row. Absent -> the row's
 * default; absent and required -> an error; present but not const -> an error. A name the row
 * lacks, or an absent optional param the row gives no default, is an internal error: use the
 * _or forms, whose default is given here, for a default the row cannot state (computed from
 * another input, or a value meaning "not given"). */
int inf_int(infer_ctx *c, const char *name, int64_t *v);
int inf_bool(infer_ctx *c, const char *name, int *v);
int inf_float(infer_ctx *c, const char *name, double *v); /* int or float payload */
int inf_str(infer_ctx *c, const char *name, const char **v); /* NULL: absent, no default */
int inf_int_or(infer_ctx *c, const char *name, int64_t dflt, int64_t *v);
int inf_bool_or(infer_ctx *c, const char *name, int dflt, int *v);
int inf_float_or(infer_ctx *c, const char *name, double dflt, double *v);
/* Const int vector: *n = element count, or -1 when absent (optional in the row) or not const
 * (when allow_dyn). Per-spatial-dim defaults (ones(s), zeros(2s)) are the caller's to apply. */
int inf_ints(infer_ctx *c, const char *name, int allow_dyn, int64_t *v, int max, int *n);
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

/* The shape rules, one per ops.def row (ir/infer*.c; declared from the table, so a row naming a
 * rule that does not exist fails to link). */
#define IR_OP(E, NAME, OPSET, RULE, ...) int RULE(infer_ctx *c);
#include "ir/ops.def"
#undef IR_OP

#endif
