/* stub.c: placeholder until the writer lands. */
#include "serialize/ser.h"
int ser_write_package(const ir_program *p, const ser_desc *d, const char *path, pc_err *e) { return pc_fail(e, PC_E_INTERNAL, "ser_write_package: not implemented"); }
