/* ir.h: our IR, a MIL-like program. The contract every stage builds on.
 *
 * program -> functions ("main") -> one body block -> ops in order.
 * An op has named inputs (MIL parameter name -> one or more bindings to values),
 * output values, optional nested blocks (cond / while_loop bodies) and a source
 * location for error messages. A value has a type (dtype + shape; dims may be
 * symbolic) and, when it is the output of a `const` op, its constant payload.
 *
 * Memory: everything belongs to the program's arena and is freed by
 * ir_program_free(). Constant payloads may point into memory the program does not
 * own (e.g. a torch tensor's storage, read in place); the owner registers a
 * release callback with ir_program_hold() so it outlives the program.
 */
#ifndef IR_H
#define IR_H

#include "common/pc.h"

#include <stdio.h>

/* ---- op kinds, from the one table ---- */
typedef enum {
#define IR_OP(E, NAME, ...) IR_OP_##E,
#include "ir/ops.def"
#undef IR_OP
    IR_OP_COUNT,
    IR_OP_UNKNOWN = IR_OP_COUNT /* an op type we do not know (read from a file) */
} ir_opkind;

const char *ir_op_kind_name(ir_opkind k);
/* An einsum equation of the form MIL defines ("nchw,nwhu->nchu", "chw,whr->chr" under any letters):
 * 0 with its rank (3 or 4), -1 for any other (infer_nn.c). */
int ir_einsum_rank(const char *eq, int *rank);      /* "conv"; "?" for UNKNOWN */
ir_opkind ir_op_kind_from_name(const char *s); /* IR_OP_UNKNOWN if not in the table */

/* ---- op signatures: the parameter column of ops.def, parsed once (ir/opsig.c) ---- */
typedef enum {
    IR_PT_TENSOR = 0, /* any tensor (the class when a row names none) */
    IR_PT_INT,        /* one integer */
    IR_PT_INTS,       /* a 1-D list of integers */
    IR_PT_BOOL,
    IR_PT_BOOLS,      /* a 1-D list of bools */
    IR_PT_FLOAT,      /* one number */
    IR_PT_STR
} ir_ptype;

typedef enum {
    IR_PD_NONE = 0,   /* no default: required, or absent means "not given" */
    IR_PD_VALUE,      /* num (int / float / bool) or str */
    IR_PD_ONES_S,     /* s ones, s = rank(x) - 2 (strides, dilations) */
    IR_PD_ZEROS_2S    /* 2 * s zeros (pad) */
} ir_pdefault;

typedef struct ir_param {
    char name[40];
    unsigned required : 1, konst : 1, variadic : 1, literal : 1;
    unsigned written : 1; /* the default is written into the op by the Python builder ('=', not '~') */
    ir_ptype type;
    ir_pdefault dflt;
    double num;           /* IR_PD_VALUE of a number or bool */
    char str[24];         /* IR_PD_VALUE of a string */
} ir_param;

typedef struct ir_opsig {
    const char *name;     /* MIL type name */
    int opset;            /* first iOS opset defining it: 15..18 */
    const char *spec;     /* the row's parameter string */
    int nparams;
    const ir_param *params;
} ir_opsig;

/* The row of kind k (NULL for IR_OP_UNKNOWN or out of range). */
const ir_opsig *ir_op_sig(ir_opkind k);
/* Parameter `name` of kind k, or NULL when the row has no such parameter. */
const ir_param *ir_op_param(ir_opkind k, const char *name);
/* p's per-spatial-dim default for s spatial dims into v (s ones, or 2*s zeros): its count, or -1
 * when p (may be NULL) has none. */
int ir_param_spatial_default(const ir_param *p, int s, int64_t *v);
/* NULL when every row parsed; else a message naming the row and the token. */
const char *ir_opsig_error(void);
const char *ir_ptype_name(ir_ptype t); /* "tensor", "int", "ints", ... */

/* ---- types ---- */
typedef enum {
    IR_DT_INVALID = 0,
    IR_BOOL,
    IR_FP16,
    IR_FP32,
    IR_FP64,
    IR_INT8,
    IR_INT16,
    IR_INT32,
    IR_INT64,
    IR_UINT8,
    IR_UINT16,
    IR_UINT32,
    IR_UINT64,
    IR_STRING, /* payload: array of const char* (arena strings) */
    IR_DT_COUNT
} ir_dtype;

const char *ir_dtype_name(ir_dtype t);      /* "fp32", "int32", "bool", "string", ... */
ir_dtype ir_dtype_from_name(const char *s); /* IR_DT_INVALID if unknown */
size_t ir_dtype_size(ir_dtype t);           /* bytes per element; sizeof(char*) for STRING */
int ir_dtype_is_float(ir_dtype t);
int ir_dtype_is_int(ir_dtype t);            /* signed or unsigned integer (not bool) */

#define IR_MAX_RANK 8

typedef enum {
    IR_TK_TENSOR = 0, /* tensor of `dtype`, `rank` dims; rank 0 is a scalar */
    IR_TK_LIST,       /* MIL list (make_list, list_*): elem type in dtype/rank/dims, length not typed; at run
                         time its elements stacked on a new first axis (runtime/list.c) */
    IR_TK_DICT,       /* MIL dictionary, keys of `dtype` (string or int64) -> fp64 values; rank 0
                         (classify's probabilities output) */
    IR_TK_STATE       /* MIL state wrapping a tensor of `dtype`, `rank` dims (a function input of a
                         stateful model, iOS18; read_state / write_state take it) */
} ir_typekind;

/* A dim >= 0 is known. A dim < 0 is symbolic: symbol id = -dim - 1 (printed as s<id>);
 * equal ids are equal sizes. rank == -1 means unknown rank. */
typedef struct ir_type {
    ir_typekind kind;
    ir_dtype dtype;
    int rank;
    int64_t dims[IR_MAX_RANK];
} ir_type;

#define IR_SYM(id) (-(int64_t)(id)-1)
#define IR_IS_SYM(d) ((d) < 0)

ir_type ir_tensor_type(ir_dtype dt, int rank, const int64_t *dims);
ir_type ir_scalar_type(ir_dtype dt);
int ir_type_equal(const ir_type *a, const ir_type *b);
int ir_type_is_static(const ir_type *t); /* known rank and every dim known */
int64_t ir_type_numel(const ir_type *t);  /* -1 if not static */
/* Readers bound declared shapes so that element and byte counts never overflow: 1 when the known
 * dims multiply past IR_MAX_ELEMS. */
#define IR_MAX_ELEMS (INT64_MAX / 16)
int ir_type_too_large(const ir_type *t);
/* "fp32[1,3,224,224]", "int32[]", "fp32[s0,8]"; returns buf. */
char *ir_type_str(const ir_type *t, char *buf, size_t n);

/* ---- constants ---- */
/* Payload of a const: `count` elements stored as `store` at `data`, C order.
 * The logical dtype is the value's type dtype; `store` may differ (fp32 bytes
 * for an fp16 const, int64 bytes for an int32 const) and readers convert with
 * ir_const_read_*(). Payload memory is not owned by the tensor. */
typedef struct ir_const {
    ir_dtype store;
    int64_t count;
    const void *data;
    /* Optional per-slice scale, so folding a per-channel factor into weights (conv +
     * batch_norm) needs no copy of them: element i is data[i] * scale[i / scale_inner].
     * NULL: none. Only float payloads carry a scale; the ir_const_read_* and
     * ir_const_get_f64 readers apply it, so code that uses `data` directly must check
     * ir_const_is_raw() first. */
    const float *scale;
    int64_t scale_inner;
} ir_const;

/* The payload bytes are the values as they are (no scale to apply). */
static inline int ir_const_is_raw(const ir_const *c) { return c->scale == NULL; }

/* Element i of a constant, converted (works for every numeric/bool store dtype). */
double ir_const_get_f64(const ir_const *c, int64_t i);
int64_t ir_const_get_i64(const ir_const *c, int64_t i);
/* Copy all elements converted to the destination type (dst holds count elements). */
void ir_const_read_f32(const ir_const *c, float *dst);
void ir_const_read_i64(const ir_const *c, int64_t *dst);
/* Elements [start, start+n) converted to fp32 (scale applied). */
void ir_const_read_f32_range(const ir_const *c, int64_t start, int64_t n, float *dst);

/* ---- values, ops, blocks ---- */
typedef struct ir_value ir_value;
typedef struct ir_op ir_op;
typedef struct ir_block ir_block;
typedef struct ir_function ir_function;
typedef struct ir_program ir_program;

struct ir_value {
    const char *name;  /* unique within its function */
    ir_type type;
    ir_op *def;        /* defining op; NULL for function / block inputs */
    int def_index;     /* which output of def */
    ir_const *konst;   /* set iff def is a const op */
    int nuses;         /* valid after ir_count_uses() */
    int id;            /* program-unique, dense; for side tables */
    int user_named;    /* the name was given by the user (an output name passed to convert): passes keep it */
    const char *src_name; /* debug info: the TorchScript value (its debug name) this value computes, set by the
                           * lowering; NULL when none. ir_replace_uses hands it to the replacement. */
};

typedef struct ir_arg {
    const char *name; /* MIL parameter name: "x", "weight", "values", ... */
    int n;            /* number of bindings (> 1 only for variadic params like concat.values) */
    ir_value **v;
} ir_arg;

struct ir_op {
    ir_opkind kind;
    const char *type_name; /* MIL type string (table name, or the file's for UNKNOWN) */
    const char *name;      /* MIL "name" attribute */
    int nin;
    ir_arg *in;
    int nout;
    ir_value **out;
    int nblocks;
    ir_block **blocks;
    const char *loc;       /* where it came from, for errors: "aten::conv2d at model.py:12"; may be NULL */
    ir_block *parent;      /* NULL while detached */
    ir_program *prog;
    ir_op *prev, *next;
    int incap;             /* capacity of in[] */
};

struct ir_block {
    int nin;
    ir_value **in;   /* block inputs (loop-carried values); none for a function body */
    ir_op *first, *last;
    int nout;
    ir_value **out;
    ir_op *parent;   /* owning op (NULL for a function body) */
    ir_function *fn; /* may be NULL for a block of a detached op */
    ir_program *prog;
};

struct ir_function {
    const char *name;  /* "main" */
    const char *opset; /* "CoreML5".."CoreML8" */
    int nin;
    ir_value **in;
    ir_block *body;
    ir_program *prog;
};

struct ir_program {
    pc_arena *arena;
    int nfunc;
    ir_function **funcs;
    int next_value_id;  /* ids handed out so far */
    int next_symbol;    /* symbolic dim ids handed out so far */
    int name_counter;   /* for ir_fresh_name */
    struct ir_hold *holds;
};

/* ---- program ---- */
ir_program *ir_program_new(void);              /* NULL on OOM */
void ir_program_free(ir_program *p);           /* runs hold callbacks, frees the arena */
/* Keep `obj` alive as long as p: release(obj) is called by ir_program_free. */
int ir_program_hold(ir_program *p, void *obj, void (*release)(void *));
/* Memory that constants point into and that can give its pages back once they have been
 * read (a mapped file, export/archive.h): writers that stream constants out (the blob
 * writer) call ir_program_pages_done(p, data, n) after reading [data, data + n), which calls
 * pages_done(obj, data, n) of every pager (each ignores memory that is not its own). obj
 * must live as long as p (hold it too). */
int ir_program_add_pager(ir_program *p, void *obj, void (*pages_done)(void *obj, const void *data, size_t n));
void ir_program_pages_done(const ir_program *p, const void *data, size_t n);
ir_function *ir_function_new(ir_program *p, const char *name, const char *opset);
ir_function *ir_program_main(const ir_program *p); /* the function named "main", else the first */
/* A fresh value name "prefix_N", unique in the program. */
const char *ir_fresh_name(ir_program *p, const char *prefix);

/* ---- building ---- */
ir_value *ir_value_new(ir_program *p, const char *name, ir_type t);
ir_value *ir_function_add_input(ir_function *f, const char *name, ir_type t);
ir_block *ir_block_new(ir_program *p, ir_function *fn, ir_op *parent);
ir_value *ir_block_add_input(ir_block *b, const char *name, ir_type t);
int ir_block_set_outputs(ir_block *b, int n, ir_value *const *vals);

/* New op appended at the end of b (b may be NULL: the op is detached; place it
 * with ir_op_insert_before / ir_op_append). `name` is copied; NULL -> fresh name. */
ir_op *ir_op_new(ir_program *p, ir_block *b, ir_opkind k, const char *name);
/* Set input `pname` (copied unless it is a string literal you own; we copy) to one value /
 * to a list of values. Setting a name again replaces its binding. */
int ir_op_set_input(ir_op *op, const char *pname, ir_value *v);
int ir_op_set_inputs(ir_op *op, const char *pname, int n, ir_value *const *v);
/* Add an output value of type t, named `name` (NULL -> the op's name for output 0,
 * "<opname>_<i>" after). */
ir_value *ir_op_add_output(ir_op *op, const char *name, ir_type t);
ir_block *ir_op_add_block(ir_op *op);

ir_value *ir_op_input(const ir_op *op, const char *pname); /* first binding, or NULL */
const ir_arg *ir_op_arg(const ir_op *op, const char *pname);

/* List surgery. */
void ir_op_append(ir_block *b, ir_op *op);
void ir_op_insert_before(ir_op *pos, ir_op *op);
void ir_op_insert_after(ir_op *pos, ir_op *op);
void ir_op_unlink(ir_op *op);                  /* detach from its block (memory stays in arena) */
/* Replace every use of `from` by `to` in the block tree of fn (op inputs, block and
 * function outputs). `to` now stands for `from`, so it takes from's src_name when from has one.
 * Returns the number of uses replaced. */
int ir_replace_uses(ir_function *fn, ir_value *from, ir_value *to);
/* Recompute nuses for every value of fn (op inputs and block outputs count). */
void ir_count_uses(ir_function *fn);

/* ---- constants ---- */
/* A const op at the end of b with output of type t; payload points at data
 * (copy != 0: copied into the arena; otherwise the caller keeps data alive, e.g.
 * with ir_program_hold). For STRING, data is `const char *const *` and strings
 * are always copied. */
ir_value *ir_const_new(ir_program *p, ir_block *b, const char *name, ir_type t,
                       ir_dtype store, const void *data, int copy);
ir_value *ir_const_f32(ir_program *p, ir_block *b, const char *name, float v);   /* scalar */
ir_value *ir_const_i32(ir_program *p, ir_block *b, const char *name, int32_t v); /* scalar */
ir_value *ir_const_bool(ir_program *p, ir_block *b, const char *name, int v);     /* scalar */
ir_value *ir_const_str(ir_program *p, ir_block *b, const char *name, const char *s);
ir_value *ir_const_i32_vec(ir_program *p, ir_block *b, const char *name, int n, const int64_t *v);
ir_value *ir_const_f32_vec(ir_program *p, ir_block *b, const char *name, int n, const float *v);

/* ---- walking ---- */
/* Call f on every op of fn in program order, depth-first into nested blocks
 * (an op is visited before its blocks' ops). Stops and returns f's value if nonzero. */
int ir_walk(ir_function *fn, int (*f)(ir_op *op, void *ctx), void *ctx);

/* ---- shape inference (ir/infer.c) ---- */
/* Create op's outputs from its inputs' types, following the MIL op definition
 * (an op that already has outputs gets them retyped). Fails with PC_E_VALUE naming the op and the mismatch (e.g. conv channels). */
int ir_infer(ir_program *p, ir_op *op, pc_err *e);
/* The same inference without touching the op: *out (n = *nout types, in p's arena).
 * Fresh symbolic dims come from p->next_symbol. */
int ir_infer_types(ir_program *p, const ir_op *op, ir_type **out, int *nout, pc_err *e);

/* ---- text form (ir/print.c, ir/parse.c) ---- */
/* The textual form:
 *   program(CoreML5)
 *   func main(%x: fp32[1,3,8,8]) {
 *     %w: fp32[4,3,3,3] = const(val=[...])          # payload printed in full when small
 *     %y: fp32[1,4,6,6] = conv(x=%x, weight=%w, pad_type=%pt, ...)
 *     %z: fp32[1,4,6,6] = relu(x=%y)
 *   } -> (%z)
 * An op with blocks prints them in braces after its inputs. The parser accepts
 * everything the printer writes when constants are printed in full. */
int ir_print(FILE *f, const ir_program *p, int max_const_elems); /* <0: print all */
char *ir_print_str(const ir_program *p, int max_const_elems);    /* malloc'd; NULL on OOM */
int ir_parse(const char *text, ir_program **out, pc_err *e);
/* One op (with its nested blocks) in the same form, indented by `depth` levels; malloc'd, NULL on OOM. */
char *ir_print_op_str(const ir_op *op, int depth, int max_const_elems);

/* ---- checking (ir/check.c) ---- */
/* Structural invariants: every input defined before use and in scope, names unique,
 * const payloads sized to their type, known ops have their required params.
 * Runs between passes in debug builds (PC_DEBUG). */
int ir_check(const ir_program *p, pc_err *e);

#endif
