/* stub.c: placeholders until the real stage code lands (delete entries as they are implemented). */
#include "ir/ir.h"
#include <stdlib.h>
#include <string.h>
int ir_infer(ir_program *p, ir_op *op, pc_err *e) { return pc_fail(e, PC_E_INTERNAL, "ir_infer: not implemented"); }
int ir_check(const ir_program *p, pc_err *e) { return 0; }
