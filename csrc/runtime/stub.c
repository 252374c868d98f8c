/* stub.c: placeholder until the runtime lands. */
#include "runtime/rt.h"
int rt_prepare(ir_program *p, const char *fn, rt_model **out, pc_err *e) { return pc_fail(e, PC_E_INTERNAL, "rt_prepare: not implemented"); }
void rt_free(rt_model *m) {}
int rt_num_inputs(const rt_model *m) { return 0; }
const ir_value *rt_input(const rt_model *m, int i) { return 0; }
int rt_num_outputs(const rt_model *m) { return 0; }
const ir_value *rt_output(const rt_model *m, int i) { return 0; }
int rt_run(rt_model *m, const rt_tensor *in, rt_tensor *out, pc_err *e) { return pc_fail(e, PC_E_INTERNAL, "rt_run: not implemented"); }
void rt_tensor_release(rt_tensor *t) {}
int rt_eval_op(const ir_op *op, rt_tensor *o, pc_err *e) { return pc_fail(e, PC_E_INTERNAL, "rt_eval_op: not implemented"); }
void rt_set_num_threads(int n) {}
