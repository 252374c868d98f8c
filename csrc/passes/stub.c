/* stub.c: placeholder until the passes land. */
#include "passes/passes.h"
int pass_pipeline(ir_program *p, const pass_opts *o, pc_err *e) { return 0; }
int pass_dead_code(ir_function *fn, pc_err *e) { return 0; }
int pass_const_fold(ir_function *fn, pc_err *e) { return 0; }
int pass_fuse_conv_bn(ir_function *fn, pc_err *e) { return 0; }
int pass_fuse_conv_bias(ir_function *fn, pc_err *e) { return 0; }
int pass_fp16(ir_function *fn, pc_err *e) { return 0; }
int pass_dedup_const(ir_function *fn, pc_err *e) { return 0; }
