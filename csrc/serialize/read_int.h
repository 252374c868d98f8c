/* read_int.h: what the package reader's files share (not a stage contract: ser.h
 * is): the reader's state, and the types and constant payloads read_values.c
 * reads for read.c, which builds functions, blocks and ops from the Model protobuf. */
#ifndef READ_INT_H
#define READ_INT_H

#include "serialize/ser_int.h"

#define MAX_WEIGHT_FILES 16

/* Names: MIL scopes value names by block (sibling blocks of a while_loop may
 * both call their inputs "x"), our IR wants names unique in a function. So a
 * scoped table maps the file's names to values, and a value whose file name is
 * already taken in the function gets a fresh variant as its IR name. */
typedef struct bind_entry {
    const char *key; /* the name in the file */
    ir_value *v;
    int scope;
    size_t bucket;
    struct bind_entry *next; /* same bucket, older */
} bind_entry;

typedef struct {
    ir_program *p;
    pc_arena *tmp;
    const char *file; /* model.mlmodel, for messages */
    const char *dir;  /* what @model_path stands for */
    ser_model_loc loc;
    pc_err *e;
    /* scoped table: chained buckets; log = live entries in insertion order */
    bind_entry **buckets;
    size_t nbuckets;
    bind_entry **log;
    size_t nlog, caplog;
    int scope, next_scope;
    /* IR names used in the current function (open addressing, insert only) */
    const char **used;
    size_t capused, nused;
    int nfiles;
    int sub_ok; /* reading a constant: sub-byte types allowed (held one byte per element) */
    struct {
        const char *path;
        ser_blobfile bf;
    } files[MAX_WEIGHT_FILES];
} rd;

#define OOM(r) pc_fail((r)->e, PC_E_NOMEM, "out of memory reading %s", (r)->file)

/* ---- read_values.c ---- */
/* A ValueType -> IR type (PC_E_FORMAT naming `ctx` when we cannot hold it). */
int ser_rd_type(rd *r, const Cml__ValueType *vt, ir_type *t, const char *ctx);
/* The payload of a Value (immediate or blob) of type *want (NULL: the value's own type). */
int ser_rd_value(rd *r, const Cml__Value *v, const ir_type *want, const char *ctx, ir_const **out);
/* An immediate list of scalars (classify's `classes`) -> payload of a [N] const of the element dtype (*t). */
int ser_rd_list_value(rd *r, const Cml__Value *v, const char *ctx, ir_type *t, ir_const **out);

#endif
