/* pipeline.c: the graph passes convert() runs, in order. In debug builds
 * (PC_DEBUG) the IR checker runs after every pass and names the pass that broke it.
 */
#include "passes/passes.h"

static int run(ir_program *p, const char *name, int (*pass)(ir_function *, pc_err *), pc_err *e) {
    for (int f = 0; f < p->nfunc; f++)
        if (pass(p->funcs[f], e)) return pc_prefix(e, "pass %s: ", name);
#ifdef PC_DEBUG
    if (ir_check(p, e)) return pc_prefix(e, "after pass %s: ", name);
#endif
    return 0;
}

static int run_fp16(ir_program *p, const pass_opts *o, pc_err *e) {
    for (int f = 0; f < p->nfunc; f++)
        if (pass_fp16_select(p->funcs[f], o->fp16_select, o->fp16_select_ud, e)) return pc_prefix(e, "pass fp16: ");
#ifdef PC_DEBUG
    if (ir_check(p, e)) return pc_prefix(e, "after pass fp16: ");
#endif
    return 0;
}

int pass_pipeline(ir_program *p, const pass_opts *o, pc_err *e) {
    if (run(p, "dead_code", pass_dead_code, e)) return -1;
    if (run(p, "const_fold", pass_const_fold, e)) return -1;
    if (run(p, "dead_code", pass_dead_code, e)) return -1;
    if (run(p, "fuse_conv_bn", pass_fuse_conv_bn, e)) return -1;
    if (run(p, "fuse_conv_bias", pass_fuse_conv_bias, e)) return -1;
    if (run(p, "fuse_gelu_tanh", pass_fuse_gelu_tanh, e)) return -1;
    if (run(p, "noop_elim", pass_noop_elim, e)) return -1;
    if (run(p, "dead_code", pass_dead_code, e)) return -1;
    if (run(p, "number_names", pass_number_names, e)) return -1; /* before fp16: its op selector sees final names */
    if (o && o->precision == PASS_FP16 && run_fp16(p, o, e)) return -1;
    if (run(p, "dedup_const", pass_dedup_const, e)) return -1;
    if (run(p, "dead_code", pass_dead_code, e)) return -1;
    if (run(p, "block_outputs", pass_block_outputs, e)) return -1;
    return 0;
}
