/* stub.c: placeholders until the real stage code lands (delete entries as they are implemented). */
#include "ir/ir.h"
#include <stdlib.h>
#include <string.h>
int ir_check(const ir_program *p, pc_err *e) { return 0; }
