/* ex_int.h: what the torch.export reader's files share (not a stage contract: export.h is): a schema
 * row's arguments (schema.c) and the reader's state (read.c, args.c). */
#ifndef EX_INT_H
#define EX_INT_H

#include "common/json.h"
#include "export/export.h"

/* The base type of a schema argument (its row's type code without [] and ?). */
typedef enum {
    EX_T_TENSOR, EX_T_INT, EX_T_FLOAT, EX_T_BOOL, EX_T_STR, EX_T_SCALAR, EX_T_DTYPE, EX_T_LAYOUT, EX_T_DEVICE,
    EX_T_MFORMAT, EX_T_OTHER
} ex_base;

typedef struct ex_arg {
    const char *name;
    ex_base base;
    int list;          /* a list of base */
    int fixed;         /* a list's fixed length (int[2]), 0 if none */
    int optional;      /* the argument may be None */
    int elem_optional; /* Tensor?[] */
    int kwarg_only;
    int has_default;
    int written;       /* the op writes this tensor (a custom op's row: "out:T!") */
    const char *def;   /* the default as the row writes it ("None", "[1,1]", "'mean'", "1e-05") */
} ex_arg;

/* A row's argument string -> ex_arg records in a; -1 on a malformed row or out of memory. */
int ex_schema_args(pc_arena *a, const char *spec, ex_arg **out, int *n);
/* The row of `key` ("ns::op.overload", or "ns::op" for .default): the aten table's, else a custom op's
 * (o->ops, o may be NULL); `custom_first` looks in the custom rows first (their written tensors are marked). 0, or -1
 * when neither has one. */
int ex_find_row(const ex_opts *o, const char *key, int custom_first, const char **args, const char **returns);
/* The number of returns of a row's return string. */
int ex_schema_nreturns(const char *returns);

/* A string -> pointer map (open addressing), storage in an arena. */
typedef struct ex_map {
    const char **key;
    void **val;
    int cap, n;
} ex_map;
int ex_map_put(pc_arena *a, ex_map *m, const char *key, void *val);
void *ex_map_get(const ex_map *m, const char *key);

/* The reader's state. */
typedef struct exr {
    pc_arena *a;          /* the graph's arena */
    ts_graph *g;
    pc_err *e;
    const ex_weights *w;
    ex_map values;        /* value name -> ts_value */
    ex_map tmeta;         /* tensor value name -> its TensorMeta (graph.tensor_values) */
    ex_map kinds;         /* interned node kinds */
    pc_vec nodes;         /* the top block's nodes, in order */
    pc_vec bufs;          /* (value, buffer fqn, the lifted buffer's value) triples: lifted buffers and views of
                             them, so that an in-place write of a buffer that is not a state fails (read.c) */
    const ex_opts *o;     /* states, custom ops' rows */
    /* arguments ex_read_args takes from here, by name, instead of the serialized node (mutation.c) */
    int npre;
    const char **pre_name;
    ts_value **pre_val;
    const char *target;   /* the node being read (messages) */
    ts_node *cur;         /* ... and its ts_node, for loc / src in messages */
} exr;

/* A new node (kind interned) with room for nin inputs and nout outputs, appended to the top block. */
ts_node *ex_node(exr *r, const char *kind, int nin, int nout);
/* A prim::Constant node holding c; its output (named `name`, NULL: anonymous) is returned. */
ts_value *ex_const(exr *r, const char *name, const ts_const *c);
/* A node of `kind` over in[0..nin) with one anonymous output of kind ty (named stem<id>), located where
 * r->cur is (control.c). */
ts_value *ex_add_node(exr *r, const char *kind, ts_value **in, int nin, ts_tykind ty, const char *stem);
/* The value named `name` (failing when it is not defined yet). */
ts_value *ex_value(exr *r, const char *name);
/* torch.export's ScalarType code -> TorchScript's (ts_scalar_type); -1 when Core ML has no such type. */
int ex_dtype_code(int64_t serde);

/* JSON of the serialized program (read.c): a union ({"as_tensor": {...}}): its one member's key, *val its
 * value (NULL: not a union); an integer; a float as torch writes it (a number, or "Infinity" / "-Infinity" /
 * "NaN"). The numbers: 0, or -1 when j is not one. */
const char *ex_union_of(const pc_json *j, const pc_json **val);
int ex_json_int(const pc_json *j, int64_t *out);
int ex_json_float(const pc_json *j, double *out);

/* n's inputs from the serialized NamedArguments `inputs` (args.c): in the order of the row's arguments
 * `schema_args` (its defaults filling those left out; r->pre_* taking precedence by name), each a row marks
 * written setting its bit of n->writes; NULL schema_args: the serialized order. */
int ex_read_args(exr *r, ts_node *n, const pc_json *inputs, const char *schema_args);
/* Read one serialized node (read.c) into the current node vector; its outputs (read.c: tensors, symbolic
 * scalars, lists) onto n. */
int ex_read_node(exr *r, const pc_json *jn);
int ex_read_outputs(exr *r, ts_node *n, const pc_json *outs);
/* A higher-order op (torch.ops.higher_order.<op>: cond, while_loop, map_impl) as TorchScript control
 * flow (control.c); `where` holds its location. */
int ex_read_hop(exr *r, const char *op, const pc_json *jn, const ts_node *where);
/* torch.ops.higher_order.auto_functionalized / auto_functionalized_v2 (mutation.c): the mutating op it
 * wraps, called on copies of the written bases (see export.h). */
int ex_read_auto_functionalized(exr *r, int v2, const pc_json *jn, const ts_node *where);
/* The symbolic-int nodes read.c's operator table leaves out (symint.c): the aten sym queries lowering has no
 * row of (sym_numel as a product of sizes, sym_storage_offset as 0), operator.pos, math.trunc. 0 read, 1 not
 * such a node, -1 error. */
int ex_read_symbolic(exr *r, const char *target, const pc_json *jn, const ts_node *where);

/* Fail naming the node being read and its source line. */
int ex_fail(exr *r, pc_errkind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* buffers.c: after node n (op `opname`) is read, a view of a lifted buffer is tracked as one too, and an
 * in-place op on one fails (ex_how_to_declare: the message naming the states= to declare, shape "(1, 3)"). */
int ex_buffer_write(exr *r, const ts_node *n, const char *opname);
int ex_how_to_declare(exr *r, const char *fqn, const char *shape);

#endif
