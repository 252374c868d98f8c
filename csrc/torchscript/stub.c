/* stub.c: placeholder until the reader lands. */
#include "torchscript/ts.h"
int ts_read(void *g, ts_graph **o, pc_err *e) { return pc_fail(e, PC_E_INTERNAL, "ts_read: not implemented"); }
void ts_graph_free(ts_graph *g) {}
int ts_transfer_holds(ts_graph *g, struct ir_program *p) { return 0; }
