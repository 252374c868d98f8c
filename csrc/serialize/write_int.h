/* write_int.h: what the package writer's files share (not a stage contract: ser.h
 * is): the writer's state and the Model protobuf pieces write.c assembles from
 * write_values.c (types, named values, constants as immediates or blob references). */
#ifndef WRITE_INT_H
#define WRITE_INT_H

#include "serialize/ser_int.h"

#include <string.h>

#define BLOB_MIN_ELEMS 10

typedef struct {
    pc_arena *a;
    pc_err *e;
    ser_blob *blobs;
    Cml__Value__BlobFileValue **refs; /* the offset each blob's const points at */
    int nblobs, capblobs;
    int spec_version;
} wr;

#define NEW(w, T, INIT) ((T *)new_msg((w)->a, sizeof(T), &(T)INIT))
static inline void *new_msg(pc_arena *a, size_t n, const void *init) {
    void *p = pc_alloc(a, n);
    if (p) memcpy(p, init, n);
    return p;
}

#define OOM(w) pc_fail((w)->e, PC_E_NOMEM, "out of memory while writing the model")

/* ---- write_values.c ---- */
/* A named value with its full type (function inputs, op outputs); `what` names it in errors. */
Cml__NamedValueType *ser_wr_named(wr *w, const ir_value *v, const char *what);
/* A const [N] as an immediate MIL list of N scalars (classify's `classes`). */
Cml__Value *ser_wr_list_value(wr *w, const ir_value *v, const char *what);
/* Is `v` a const read only as the `classes` of classify ops in b (written as a list literal there)? */
int ser_wr_is_classes_literal(const ir_block *b, const ir_value *v);
/* 1 if parameter pname of op is written as a literal value (its ops.def row marks it '^'). */
int ser_wr_is_literal_param(const ir_op *op, const char *pname);
/* A string immediate (an op's `name` attribute). */
Cml__Value *ser_wr_string_value(wr *w, const char *s);
/* The `val` of a const: a blob reference (offset filled after layout) or an immediate. */
Cml__Value *ser_wr_const_value(wr *w, const ir_value *out, const char *what);

#endif
