/* ts_int.h: what the TorchScript reader's files share (not a stage contract: ts.h
 * is): the reader's state, the interned method names it calls, and its error
 * helpers. read.c walks the graph; constants.c reads prim::Constant payloads. */
#ifndef TS_INT_H
#define TS_INT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "torchscript/ts.h"

/* A held Python buffer (obj of a ts_hold, released by ts_pybuf_release). */
typedef struct ts_pybuf {
    Py_buffer view; /* view.obj holds the numpy array, which holds the tensor */
} ts_pybuf;
void ts_pybuf_release(void *obj);

/* Interned method / attribute names, indexed by enum. */
enum {
    N_INPUTS, N_OUTPUTS, N_NODES, N_KIND, N_INPUTS_SIZE, N_INPUTS_AT, N_OUTPUTS_SIZE, N_OUTPUTS_AT,
    N_BLOCKS, N_DEBUG_NAME, N_UNIQUE, N_TYPE, N_SIZES, N_ELEM_TYPE, N_SOURCE_RANGE, N_SCOPE_NAME,
    N_HAS_ATTRIBUTE, N_KIND_OF, N_I, N_F, N_S, N_T, N_IVAL, N_IS, N_FS, N_DETACH, N_IS_CONTIGUOUS,
    N_CONTIGUOUS, N_FLOAT, N_NUMPY, N_DTYPE, N_ATTRIBUTE_NAMES, N_SCHEMA, N_COUNT
};

typedef struct {
    int64_t key;
    ts_value *v;
} vslot;

typedef struct {
    pc_arena *a;
    ts_graph *g;
    pc_err *e;
    PyObject *nm[N_COUNT];
    PyObject *s_value;     /* "value" */
    PyObject *bfloat16;    /* torch.bfloat16 */
    PyObject *getline;     /* linecache.getline */
    vslot *map;            /* open addressing on unique() */
    int64_t mapcap, mapn;
    const char **kinds;    /* interned node kinds */
    int nkinds, kindcap;
    pc_vec writes;         /* read_writes' memo: Node.schema() costs tens of microseconds a call */
    int nodeno;            /* for messages */
} rd;

/* Fail with the pending Python exception's text appended; the exception stays
 * pending (the binding makes it the context of the raised error). `kind` names
 * the node being read (NULL: the graph). */
int ts_py_fail(rd *r, const char *what, const char *kind);

static inline int nomem(rd *r) { return pc_fail(r->e, PC_E_NOMEM, "reading TorchScript graph: out of memory"); }

static inline PyObject *call0(rd *r, PyObject *o, int m) { return PyObject_CallMethodNoArgs(o, r->nm[m]); }
static inline PyObject *call1(rd *r, PyObject *o, int m, PyObject *arg) { return PyObject_CallMethodOneArg(o, r->nm[m], arg); }

/* ---- constants.c ---- */
/* The payload of a prim::Constant node (its output already read) into n->out[0]->konst. */
int ts_read_constant(rd *r, PyObject *pn, ts_node *n);

#endif
