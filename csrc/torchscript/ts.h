/* ts.h: a TorchScript graph, read in C from a live torch._C.Graph through the
 * Python C API (no libtorch linkage). The reader copies structure into an arena
 * and reads tensor constants in place (buffer protocol on a numpy view of the
 * tensor); it holds references to those buffers until ts_graph_free().
 *
 * The graph handed in is the forward graph of a frozen, inlined module (Python
 * prepares it: torch._C._freeze_module + inlining), so parameters are
 * prim::Constant tensors and there are no submodule calls. The first graph input
 * is `self` when its type is a module class; ts_graph records that.
 */
#ifndef TS_H
#define TS_H

#include "common/pc.h"

typedef enum {
    TS_TY_TENSOR,
    TS_TY_INT,
    TS_TY_FLOAT,
    TS_TY_BOOL,
    TS_TY_NONE,
    TS_TY_STR,
    TS_TY_DEVICE,
    TS_TY_LIST,     /* List[T]: elem in ts_value.elem */
    TS_TY_TUPLE,
    TS_TY_OPTIONAL,
    TS_TY_NUMBER,   /* Scalar */
    TS_TY_OTHER     /* module class, dtype/layout/memory-format ints are TS_TY_INT */
} ts_tykind;

/* Constant payload of a prim::Constant output. */
typedef enum {
    TS_C_NONE,
    TS_C_INT,
    TS_C_FLOAT,
    TS_C_BOOL,
    TS_C_STR,
    TS_C_DEVICE,  /* s holds "cpu" etc. */
    TS_C_INTS,
    TS_C_FLOATS,
    TS_C_BOOLS,
    TS_C_STRS,    /* a list of str: strs[n] */
    TS_C_TENSOR,
    TS_C_OTHER    /* something we keep opaque (s holds its repr) */
} ts_ckind;

/* torch dtypes as the ScalarType codes TorchScript uses in aten:: args. */
typedef enum {
    TS_UINT8 = 0, TS_INT8 = 1, TS_INT16 = 2, TS_INT32 = 3, TS_INT64 = 4, TS_HALF = 5,
    TS_FLOAT = 6, TS_DOUBLE = 7, TS_COMPLEX_HALF = 8, TS_COMPLEX_FLOAT = 9, TS_COMPLEX_DOUBLE = 10, TS_BOOL = 11,
    TS_BFLOAT16 = 15
} ts_scalar_type;

typedef struct ts_tensor {
    ts_scalar_type dtype;  /* of the bytes at data (bfloat16 is widened to float when read) */
    int rank;
    int64_t dims[8];
    int64_t numel;
    const void *data;      /* contiguous, C order; owned by a held Python buffer */
} ts_tensor;

typedef struct ts_const {
    ts_ckind kind;
    int64_t i;       /* INT, BOOL */
    double f;        /* FLOAT */
    const char *s;   /* STR, DEVICE, OTHER */
    int n;           /* INTS, FLOATS, BOOLS */
    int64_t *ints;   /* INTS, BOOLS */
    double *floats;  /* FLOATS */
    const char **strs; /* STRS */
    ts_tensor t;     /* TENSOR */
} ts_const;

typedef struct ts_node ts_node;
typedef struct ts_block ts_block;

typedef struct ts_value {
    const char *name;     /* debugName, e.g. "input.1" */
    ts_tykind ty;
    ts_tykind elem;       /* LIST / OPTIONAL: element kind */
    const char *type_str; /* str(value.type()), e.g. "Tensor", "int[]", "Float(1, 3, strides=..)" */
    int rank;             /* for complete tensor types (traced): rank and sizes, else -1 */
    int64_t dims[8];
    ts_node *def;         /* NULL for graph / block inputs */
    int index;            /* output index in def */
    const ts_const *konst;/* payload when def is prim::Constant */
    int id;               /* dense, graph-unique */
} ts_value;

struct ts_node {
    const char *kind;     /* "aten::conv2d", "prim::Constant", ... (interned in the arena) */
    int nin;
    ts_value **in;
    int nout;
    ts_value **out;
    int nblocks;
    ts_block **blocks;
    const char *loc;      /* "file.py:12" of the innermost user frame, or NULL */
    const char *src;      /* the source line text when known, or NULL */
    const char *scope;    /* module scope ("__module.layer1.0.conv1") when known */
    const char *schema;   /* overload schema string when available (may be NULL); the torch.export reader
                           * puts the overload there ("aten::conv2d.default") */
    uint64_t writes;      /* bit i: the op writes input i in place (its schema's `Tensor(a!)` argument: a custom
                           * op's mutates_args); set for ops other than aten's in-place spellings (add_ etc.,
                           * which the lowering knows by name); inputs past 63 are never marked */
    int nattrs;           /* int attributes, read only for the kinds that carry their arguments as
                           * attributes (prim::ConstantChunk: chunks, dim); 0 for all others */
    const char **attr_names;
    int64_t *attr_ints;
};

struct ts_block {
    int nin;
    ts_value **in;
    int nnodes;
    ts_node **nodes;
    int nout;
    ts_value **out;
};

typedef struct ts_graph {
    pc_arena *arena;
    ts_block *top;        /* graph inputs are top->in (self first when has_self) */
    int has_self;
    int nvalues;
    struct ts_hold *holds;/* what tensor data lives in (Python buffers, mapped files), see ts_graph_hold */
} ts_graph;

/* Read `graph` (a torch._C.Graph). On failure returns -1 with e set (a Python
 * exception may also be pending; the binding clears it in favour of e). */
int ts_read(void *py_graph, ts_graph **out, pc_err *e);
void ts_graph_free(ts_graph *g);
/* Keep `obj` (what some tensor data of g lives in) until the graph is freed, or, after
 * ts_transfer_holds, the program: release(obj) is called then (it may take the GIL). 0, or -1
 * when out of memory (release(obj) is called at once then). Other readers of the ts_graph
 * contract (export/) hold their buffers this way. */
int ts_graph_hold(ts_graph *g, void *obj, void (*release)(void *obj));
/* A new value of g in its arena: the next id, rank unknown, the rest zero. NULL when out of memory. */
ts_value *ts_value_new(ts_graph *g);
/* The int attribute `name` of n (see ts_node.nattrs): 0 and *out set, or -1 when n has none. */
int ts_node_attr_int(const ts_node *n, const char *name, int64_t *out);
/* The dtype of a buffer-protocol format ("f", "<e", "q", ...) of items of itemsize bytes: 0, or -1
 * when it is none of ts_scalar_type. */
int ts_buffer_dtype(const char *fmt, size_t itemsize, ts_scalar_type *out);
#ifdef Py_PYTHON_H
/* t (dtype, rank, dims, numel, data) over the C-contiguous buffer-protocol view v (constants.c), its memory
 * borrowed: 0, -1 when its rank is above 8, -2 when its format is none of ts_scalar_type. */
int ts_buffer_tensor(const Py_buffer *v, ts_tensor *t);
#endif
/* Move the graph's holds (tensor buffers) to p: they stay alive as long as the IR
 * program whose constants point into them. */
struct ir_program;
int ts_transfer_holds(ts_graph *g, struct ir_program *p);

#endif
