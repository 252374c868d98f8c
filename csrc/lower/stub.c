/* stub.c: placeholder until lowering lands. */
#include "lower/lower.h"
int lower_graph(const ts_graph *g, const lower_opts *o, ir_program **out, pc_err *e) { return pc_fail(e, PC_E_INTERNAL, "lower_graph: not implemented"); }
void lower_list_ops(void (*f)(const char *, const char *, void *), void *ud) {}
