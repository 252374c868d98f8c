/* passes.h: graph passes on the IR. One pass per file (passes/<name>.c), each
 * opening with what it requires, keeps and breaks. The pipeline (passes/pipeline.c)
 * is one function that reads as a list of calls; in debug builds (PC_DEBUG) the IR
 * checker runs after every pass.
 */
#ifndef PASSES_H
#define PASSES_H

#include "ir/ir.h"

typedef enum { PASS_FP32 = 0, PASS_FP16 = 1 } pass_precision;

typedef struct pass_opts {
    pass_precision precision;  /* FP16: fp16 compute with fp32 inputs/outputs (coremltools' default) */
    /* FP16 only: which ops compute in fp16 (coremltools' FP16ComputePrecision op_selector), asked once per op
     * the fp16 pass made compute fp16 (consts, casts and ops with blocks are not asked), with its final name
     * (number_names runs before fp16): 1 fp16, 0 the op stays fp32, -1 stop (the caller's error, e.g. a
     * pending Python exception). NULL: every op fp16. */
    int (*fp16_select)(void *ud, const ir_op *op);
    void *fp16_select_ud;
} pass_opts;

int pass_pipeline(ir_program *p, const pass_opts *o, pc_err *e);

/* Individual passes (each returns 0 or -1 with e set). */
int pass_dead_code(ir_function *fn, pc_err *e);       /* drop ops whose outputs are unused */
int pass_const_fold(ir_function *fn, pc_err *e);      /* evaluate ops whose inputs are all const */
int pass_fuse_conv_bn(ir_function *fn, pc_err *e);    /* conv -> batch_norm into one conv */
int pass_fuse_conv_bias(ir_function *fn, pc_err *e);  /* conv -> add(const) into conv bias */
int pass_noop_elim(ir_function *fn, pc_err *e);        /* add 0, mul 1, same-shape reshape, identity transpose */
int pass_fuse_gelu_tanh(ir_function *fn, pc_err *e);  /* written-out tanh GELU -> gelu(TANH_APPROXIMATION) */
int pass_fp16(ir_function *fn, pc_err *e);            /* fp32 -> fp16 compute, casts at the edges */
/* pass_fp16 with an op selector (pass_opts.fp16_select; NULL: every op) */
int pass_fp16_select(ir_function *fn, int (*select)(void *ud, const ir_op *op), void *ud, pc_err *e);
int pass_fp32_compute(ir_function *fn, pc_err *e);    /* fp16 values computed in fp32 (the debugger's reference) */
int pass_cast_output(ir_function *fn, int i, ir_dtype dt, pc_err *e); /* output i returned as dt (fp16.c) */
int pass_dedup_const(ir_function *fn, pc_err *e);     /* share identical small consts */
int pass_reinfer(ir_function *fn, pc_err *e);         /* check declared types against ir_infer */
int pass_block_outputs(ir_function *fn, pc_err *e);   /* nested block outputs made inside their block */
int pass_number_names(ir_function *fn, pc_err *e);    /* anonymous names var_<n> numbered in program order */

#endif
