/* lower_int.h: what the lowering files share (not a stage contract; lower.h is).
 *
 * Every TorchScript value maps to a lowered value (lv): an IR tensor, a
 * compile-time scalar (int/float/bool, or a run-time scalar held in a rank-0
 * IR tensor when `dyn`), a str / None / device, or a list / tuple of lvs.
 * A lowering function reads its node's inputs as lvs and binds its outputs.
 */
#ifndef LOWER_INT_H
#define LOWER_INT_H

#include "lower/lower.h"

typedef enum { LV_TENSOR = 1, LV_INT, LV_FLOAT, LV_BOOL, LV_STR, LV_NONE, LV_DEVICE, LV_LIST, LV_TUPLE,
               LV_COMPLEX /* a complex tensor: v is a real tensor of its shape + [2] (re, im), see cplx.h */
} lv_kind;

typedef struct lv {
    lv_kind kind;
    ir_value *v;       /* TENSOR, COMPLEX; INT/FLOAT/BOOL when dyn (rank-0 tensor) */
    int dyn;           /* scalar known only at run time */
    int64_t i;         /* INT, BOOL */
    double f;          /* FLOAT */
    const char *s;     /* STR, DEVICE */
    int n;             /* LIST, TUPLE */
    struct lv **items;
    lv_kind elem;      /* LIST when dyn: element kind; v is the elements stacked on a new axis 0 */
    const struct lower_qp *q; /* TENSOR holding a quantized tensor's real values (quant.c), else NULL */
} lv;

/* Quantization parameters of a quantized tensor (quant.c). The lowered tensor holds its real values,
 * (q - zero_point) * scale in fp32, already on the quantization grid. */
typedef struct lower_qp {
    int axis;             /* -1: per tensor */
    int n;                /* scales / zero points: 1, or the size of axis */
    const double *scale;
    const int64_t *zp;
    int64_t qmin, qmax;   /* integer range of the quantized dtype */
    int qtype;            /* torch ScalarType: 12 qint8, 13 quint8, 14 qint32 */
} lower_qp;

#include "lower/registry.h"

typedef struct lower_names lower_names;
typedef struct lower_view lower_view;

struct lower_ctx {
    ir_program *p;
    ir_function *fn;
    ir_block *b;            /* where new ops go */
    const ts_graph *g;
    const lower_opts *o;
    pc_err *e;
    lv **vals;              /* by ts_value id */
    const ts_node *node;    /* being lowered */
    const lower_row *row;   /* its registry row (NULL for kinds converted from Python) */
    int via_inplace;        /* the node is the in-place spelling "op_" of its row (LR_INPLACE) */
    const char *base;       /* name base for the node's ops (sanitized output name) */
    const char *loc;        /* "aten::conv2d at model.py:12" */
    lower_names *names;
    lower_view **views;     /* by ts_value id: what a slice/select output is a view of (view.c), lazily made */
    const ts_value **inplace_of; /* by ts_value id: the tensor an in-place op's output is (lower_node), lazily made */
    uint64_t ext_written;   /* inputs of the node whose new value its external converter gave (lower_ext_write) */
    ir_value **state_in;    /* by state (lower_opts.states): the state function input (state.c) */
    ir_value **state_read;  /* by state: the value read at the start, in the buffer's dtype */
};

/* ---- the registry's functions (registry.def) ---- */
#define LOWER_OP(KIND, FN, ...) int FN(lower_ctx *cx, const ts_node *n);
#include "lower/registry.def"
#undef LOWER_OP
/* The lowering function of a kind (lower_row_find's row), NULL if none. */
lower_fn lower_find(const char *kind);
/* Input `in` of the node being lowered now holds l (an in-place write): its readers from here on, the
 * tensor it is an in-place result of, and the base it is a view of (view.c) see the new value (lower.c). */
int lower_write_input(lower_ctx *cx, const ts_value *in, lv *l);
/* eq / ne of two lists known at conversion time (script.c; lower_binary_op's list form). */
int lower_list_equal(lower_ctx *cx, const ts_node *n, lv *a, lv *b, int negate);

/* ---- lowered values ---- */
lv *lv_new(lower_ctx *cx, lv_kind k);
lv *lv_tensor(lower_ctx *cx, ir_value *v);
/* A number (kind k) known only at run time, the rank-0 value v; NULL when v is (a failed builder's). */
lv *lv_dyn(lower_ctx *cx, lv_kind k, ir_value *v);
lv *lv_int(lower_ctx *cx, int64_t i);
lv *lv_float(lower_ctx *cx, double f);
lv *lv_bool(lower_ctx *cx, int b);
lv *lv_none(lower_ctx *cx);
const char *lv_kind_name(lv_kind k);

/* Input i of n (fails naming the node when missing). */
lv *lower_in(lower_ctx *cx, const ts_node *n, int i);
/* Bind output i of n to v: the lowering function's one check at its end, failing (-1) when v is NULL or the
 * context holds an error (a builder failed on the way). */
int lower_out(lower_ctx *cx, const ts_node *n, int i, lv *v);
int lower_out_tensor(lower_ctx *cx, const ts_node *n, int i, ir_value *v);
/* Fail (PC_E_CONVERT) naming the node; returns -1. */
int lower_fail(lower_ctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Typed reads of node inputs (fail when the input is not of that kind or not static). */
int lower_is_none(lower_ctx *cx, const ts_node *n, int i);      /* 1/0 (0 also for a missing input) */
int lower_int_in(lower_ctx *cx, const ts_node *n, int i, int64_t *out);
int lower_float_in(lower_ctx *cx, const ts_node *n, int i, double *out); /* int or float */
int lower_bool_in(lower_ctx *cx, const ts_node *n, int i, int *out);
/* A static int list (a single int is a list of one). *cnt = elements; max: capacity. */
int lower_ints_in(lower_ctx *cx, const ts_node *n, int i, int64_t *out, int max, int *cnt);
int lv_ints(lower_ctx *cx, const lv *l, int64_t *out, int max, int *cnt); /* -1 (no error set) if not static */
/* Input i as an IR tensor; scalars become consts of dtype dt (IR_DT_INVALID: their own). */
ir_value *lower_tensor_in(lower_ctx *cx, const ts_node *n, int i, ir_dtype dt);
/* Input i as a tensor of like's dtype; NULL (the error kept) when like is NULL, a failed read before it. */
ir_value *lower_tensor_in_as(lower_ctx *cx, const ts_node *n, int i, const ir_value *like);
/* Input i as a float tensor: ints and bools cast to fp32, numbers become fp32 constants. */
ir_value *lower_float_tensor_in(lower_ctx *cx, const ts_node *n, int i);
/* Inputs first .. first+cnt-1 as tensors of one dtype, torch-style: a float tensor's dtype (fp32
 * when float tensors differ), else int32 (bools count as ints) unless a float number or
 * want_float makes it fp32. */
int lower_common_in(lower_ctx *cx, const ts_node *n, int first, int cnt, int want_float, ir_value **out);
/* A list lv of n items (the array is copied). */
lv *lower_list_of(lower_ctx *cx, int n, lv *const *items);
/* Dimension d of x as an lv: a compile-time int, or a run-time int32 scalar (shape.c). */
lv *lower_dim_lv(lower_ctx *cx, ir_value *x, int d);

/* Normalize a possibly negative axis against rank; fails when out of range. */
int lower_axis(lower_ctx *cx, int64_t axis, int rank, int *out);
/* The IR dtype a torch ScalarType code maps to (int64 -> int32, double -> fp32). */
int lower_scalar_type(lower_ctx *cx, int64_t code, ir_dtype *out);

/* Names (lower.c). lower_sanitize: a MIL-safe identifier from a TorchScript debug name. */
char *lower_sanitize(pc_arena *a, const char *s);
int lower_names_add(lower_ctx *cx, const char *name, ir_value *v);
int lower_names_has(lower_ctx *cx, const char *name);

/* Views (view.c): note that `view` is base[begin:end:step] along axis (squeeze: a select); after an
 * in-place op on `view`, write its new value back into its base (and so on up the chain). */
int lower_view_note(lower_ctx *cx, const ts_value *view, const ts_value *base, int axis, int64_t begin, int64_t end,
                    int64_t step, int squeeze);
int lower_view_writeback(lower_ctx *cx, const ts_value *view);
/* The views between `view` and the tensor it is (through views) a view of, read again from that tensor's
 * current value: a node that writes several views of one tensor read them all before its first write. */
int lower_view_refresh(lower_ctx *cx, const ts_value *view);

/* Lists known only at run time (list.c): length, element i, all elements concatenated. */
lv *lower_list_len(lower_ctx *cx, lv *l);
lv *lower_list_item(lower_ctx *cx, lv *l, lv *idx);
/* aten::arange with bounds known only at run time (transformer.c). */
int lower_arange_dyn(lower_ctx *cx, const ts_node *n);
/* __and__ / __or__ / __xor__ of two numbers (compile-time or run-time bools / ints). */
int lower_logic_scalar(lower_ctx *cx, const ts_node *n);

/* Complex values (complex.c), called by the driver before lowering a node with a complex input:
 * 1 when it lowered the node, 0 when the node's own function takes complex values, -1 on failure
 * (a kind that cannot take them fails naming the node). */
int lower_complex_node(lower_ctx *cx, const ts_node *n);

/* Quantized values (quant.c), around each registered node's lowering: before, an averaging op (mean,
 * avg pools) on a quantized tensor is given its integer steps instead (*saved: the real input, restored
 * after, NULL otherwise); after, the tensor outputs of a non-quantized op that read a quantized tensor
 * get the quantization torch gives them (requantizing where the op rounds). lower_quant_check_output
 * fails for a quantized tensor returned by the model. */
int lower_quant_before(lower_ctx *cx, const ts_node *n, lv **saved);
int lower_quant_after(lower_ctx *cx, const ts_node *n, lv *saved);
int lower_quant_check_output(lower_ctx *cx, const lv *l, int i);

/* States (state.c): the graph inputs from `first` on are the states; begin makes their function inputs
 * and reads, end writes back each state the model changed. */
int lower_states_begin(lower_ctx *cx, int first);
int lower_states_end(lower_ctx *cx, int first);

/* Blocks of control flow (branch.c and loop.c use it): lower every node of b, in order. */
int lower_block_nodes(lower_ctx *cx, const ts_block *b);

#endif
