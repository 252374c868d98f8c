/* pass_util.h: small helpers shared by the passes (private to passes/). */
#ifndef PASS_UTIL_H
#define PASS_UTIL_H

#include "passes/passes.h"

/* 1 if some value of fn (input, block input, op output) is named `name`. */
int pass_name_used(ir_function *fn, const char *name);
/* `base` if unused in fn, else base_1, base_2, ... (arena string); NULL on OOM. */
const char *pass_unique_name(ir_function *fn, const char *base);
/* A const placed right before `pos` (in pos's block), payload copied into the arena. */
ir_value *pass_const_before(ir_op *pos, const char *name, ir_type t, ir_dtype store, const void *data);
/* `to` takes over `from`'s name (and its op's name when that op was named after it);
 * `from` gets `from_new` (may be NULL when `from` is about to be removed). */
void pass_swap_name(ir_value *to, ir_value *from, const char *from_new);
/* The const value bound to param `name` of op, or NULL. */
ir_value *pass_const_input(const ir_op *op, const char *name);
/* 1 if v is an output of fn's body or of any nested block. */
int pass_is_block_output(ir_function *fn, const ir_value *v);
/* Fusing an op that follows a conv into it: for every conv of fn (nested blocks included) whose output has
 * one use, `user` finds that op after it in its block (NULL: none) and `fuse` folds it into the conv
 * (1 fused, 0 left, -1 error). Uses are counted first. */
typedef ir_op *(*pass_conv_user)(ir_op *conv);
typedef int (*pass_conv_fuse)(ir_function *fn, ir_op *conv, ir_op *user, pc_err *e);
int pass_fuse_after_conv(ir_function *fn, pass_conv_user user, pass_conv_fuse fuse, pc_err *e);

#endif
