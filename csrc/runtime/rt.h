/* rt.h: the reference runtime, an interpreter for ML Programs.
 *
 * rt_prepare() takes an IR function (ours after convert(), or one read from any
 * .mlpackage) and plans it: converts constants to the layout kernels want,
 * checks that every op is one it can run. rt_run() executes it on caller
 * buffers; it allocates its own workspace per call, so concurrent rt_run calls on
 * one model are safe. fp16 values are stored as fp16 and rounded at op
 * boundaries exactly where the program says fp16.
 */
#ifndef RT_H
#define RT_H

#include "ir/ir.h"

typedef struct rt_tensor {
    ir_dtype dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
    void *data;     /* C-contiguous */
    int owned;      /* data allocated by the runtime (free with rt_tensor_release) */
} rt_tensor;

typedef struct rt_model rt_model;

int rt_prepare(ir_program *p, const char *fn_name, rt_model **out, pc_err *e);
void rt_free(rt_model *m);

int rt_num_inputs(const rt_model *m);
const ir_value *rt_input(const rt_model *m, int i);   /* name and declared type */
int rt_num_outputs(const rt_model *m);
const ir_value *rt_output(const rt_model *m, int i);

/* Run with inputs in declared order (dtype and shape checked against the
 * function's input types; symbolic dims bind to the given sizes). Outputs are
 * allocated by the runtime (owned = 1); the caller releases them. */
int rt_run(rt_model *m, const rt_tensor *inputs, rt_tensor *outputs, pc_err *e);
void rt_tensor_release(rt_tensor *t);

/* What rt_run_observed shows its caller: fn is called after every op (nested blocks included, once per
 * iteration of a loop body) for each output value, with the tensor as computed (valid during the call
 * only: copy what you keep). A nonzero return stops the run as out of memory (the observer's copies). */
typedef struct rt_observer {
    int (*fn)(void *ud, const ir_value *v, const rt_tensor *t);
    void *ud;
} rt_observer;
/* rt_run, showing every intermediate value to obs (NULL: rt_run). The numerical debugger's capture. */
int rt_run_observed(rt_model *m, const rt_tensor *inputs, rt_tensor *outputs, const rt_observer *obs, pc_err *e);

/* Evaluate one op whose inputs are all constant (constant folding reuses the
 * kernels). Outputs are allocated (owned = 1). Returns -1 with e set when the op
 * cannot be evaluated (unknown op kind, non-const input). */
int rt_eval_op(const ir_op *op, rt_tensor *outputs, pc_err *e);

/* Static memory figures of a prepared function, in bytes (from the IR value
 * types; peak_live_bytes is -1 when a shape is symbolic). */
typedef struct rt_mem_plan {
    int64_t const_bytes;     /* constants as the model holds them (logical dtype) */
    int64_t const_f32_bytes; /* fp32 working copies of small non-fp32 float constants */
    int64_t peak_live_bytes; /* largest set of activations alive at one step: function
                              * inputs, live intermediates and the step's outputs */
    int64_t largest_value_bytes; /* the largest single activation */
} rt_mem_plan;
void rt_memory_plan(const rt_model *m, rt_mem_plan *out);

/* Threads used for BLAS and parallel kernels (0 = library default). */
void rt_set_num_threads(int n);

/* Whether 3x3 stride-1 convs may use Winograd F(4x4, 3x3) where it pays (default 1;
 * 0 forces im2col + GEMM, for comparisons). Returns the previous setting. */
int rt_set_winograd(int on);

#endif
