/* lower.h: TorchScript graph -> IR program (MIL ops).
 *
 * One registry entry per TorchScript op kind (lower/registry.def), each a function
 * in a file of its op family (lower/conv.c, lower/elementwise.c, ...). Before any
 * op is lowered every node kind is checked against the registry, and all missing
 * kinds are reported at once (count and first source location each).
 */
#ifndef LOWER_H
#define LOWER_H

#include "ir/ir.h"
#include "torchscript/ts.h"

typedef struct lower_input {
    const char *name;   /* MIL input name (NULL: derived from the graph input) */
    ir_type type;       /* dtype (fp32, fp16, int32, bool) and shape; dims may be symbolic */
    /* Image preprocessing (ct.ImageType), applied right after the input as Core ML
     * expects of ML Programs: y = x * scale + bias[c] per channel (mul skipped when
     * scale == 1, add when every bias is 0). Zeroed (preprocess = 0): none. */
    int preprocess;     /* 1: apply scale / bias */
    double scale;
    int nbias;          /* channels: 1 (grayscale) or 3 (RGB / BGR) */
    double bias[3];
    int channel_last;   /* the graph wants NHWC: transpose [0,2,3,1] after the scale / bias
                           (the input itself stays NCHW, as Core ML feeds images) */
} lower_input;

/* A state of a stateful model (iOS18): a registered buffer the model reads and writes in place. It
 * is the graph input after the regular ones (the frontend turns the buffer's reads into it); the
 * program reads it with read_state and, when the model wrote it, ends with write_state of its last
 * value, cast to the state's dtype. */
typedef struct lower_state {
    const char *name;   /* the buffer's name (MIL input name) */
    ir_type type;       /* IR_TK_STATE, fp16, fixed shape */
    ir_dtype graph_dtype; /* the buffer's dtype in the graph (fp32 or fp16) */
    const char *buffer; /* the buffer's fully-qualified name, which the torch.export reader makes this graph input
                           of (export.h); NULL for TorchScript, whose frontend already did */
} lower_state;

typedef struct lower_output {
    const char *name;   /* NULL: keep the default name */
} lower_output;

/* A converter written in Python or elsewhere: called for node kinds the
 * registry lacks (or overrides). Returns 1 if it handled the node, 0 if not, -1 on error. */
typedef struct lower_ctx lower_ctx;
typedef int (*lower_external_fn)(void *ud, lower_ctx *cx, const ts_node *n, pc_err *e);

typedef struct lower_opts {
    int ninputs;
    const lower_input *inputs;   /* one per graph input after self, in order */
    int nstates;                 /* graph inputs after the inputs that are states */
    const lower_state *states;
    int noutputs;                /* 0: names from the graph */
    const lower_output *outputs;
    const char *opset;           /* "CoreML5".. */
    int debug;                   /* report each node and the ops it became through debug_print */
    lower_external_fn external;  /* may be NULL */
    void *external_ud;
    int (*external_has)(void *ud, const char *kind); /* does external handle this kind? */
    /* Debug text sink (lines end in '\n'); NULL: debug output is dropped. The C core never
     * prints: the binding turns these into writes to Python's sys.stdout. */
    void (*debug_print)(void *ud, const char *text);
    void *debug_ud;
    pc_progress *progress; /* "lowering ops": top-level TorchScript nodes lowered / all; NULL: none */
} lower_opts;

/* ---- for external converters (lower/external.c) ----
 * A lowered TorchScript value as a plain tree: a tensor (also a scalar known only at
 * run time, as a rank-0 tensor), a compile-time int / float / bool / str / None /
 * device, or a list / tuple of such trees. */
typedef enum {
    LOWER_X_TENSOR = 1, LOWER_X_INT, LOWER_X_FLOAT, LOWER_X_BOOL, LOWER_X_STR, LOWER_X_NONE, LOWER_X_DEVICE,
    LOWER_X_LIST, LOWER_X_TUPLE
} lower_xkind;

typedef struct lower_xv {
    lower_xkind kind;
    ir_value *v;             /* TENSOR */
    int64_t i;               /* INT, BOOL */
    double f;                /* FLOAT */
    const char *s;           /* STR, DEVICE */
    int n;                   /* LIST, TUPLE */
    struct lower_xv *items;  /* n items */
} lower_xv;

/* The program and block new ops go into, the op location string of the node being lowered. */
ir_program *lower_ext_program(lower_ctx *cx);
ir_block *lower_ext_block(lower_ctx *cx);
const char *lower_ext_loc(lower_ctx *cx);
/* A unique MIL-safe value name from `base` (NULL: the node's output name); in the program's arena. */
const char *lower_ext_name(lower_ctx *cx, const char *base);
/* The lowered value of input i of the node being lowered, as a tree in the program's arena. */
int lower_ext_input(lower_ctx *cx, int i, lower_xv **out, pc_err *e);
/* Bind output i of the node being lowered to `val` (copied). */
int lower_ext_bind(lower_ctx *cx, int i, const lower_xv *val, pc_err *e);
int lower_ext_is_bound(lower_ctx *cx, int i);
/* Input i of the node being lowered, a tensor its op writes in place (ts_node.writes: a custom op's
 * mutates_args), holds `val` from now on (copied): later readers of it, and of the tensor it is a slice of,
 * see the new value. An external converter of an op that writes inputs gives each one's new value so. */
int lower_ext_write(lower_ctx *cx, int i, const lower_xv *val, pc_err *e);

/* Lower g into a new program with one function "main". */
int lower_graph(const ts_graph *g, const lower_opts *o, ir_program **out, pc_err *e);

/* A classifier (ct.ClassifierConfig): labels for the probabilities the model returns. */
typedef struct lower_classifier {
    int nlabels;
    int labels_are_int;                 /* int64 labels, else strings */
    const char *const *string_labels;
    const int64_t *int_labels;
    const char *predicted_feature_name; /* NULL: "classLabel"; the probabilities are "<name>_probs" */
    const char *probabilities_output;   /* value holding the probabilities; NULL: the output of the
                                           last non-const op with one output (coremltools' rule) */
} lower_classifier;

/* End main with a MIL `classify` op, as coremltools does for classifiers (after the
 * graph passes): the probabilities (cast to fp32 if needed) and the labels go in;
 * the label (scalar string / int64) and the probabilities dictionary become the
 * first two outputs, replacing the probabilities output. */
int lower_add_classifier(ir_program *p, const lower_classifier *c, pc_err *e);

/* The TorchScript kinds the registry handles, for the op table, docs/ops.md:
 * calls f(kind, note) for each; note says limits ("" if none). */
void lower_list_ops(void (*f)(const char *kind, const char *note, void *ud), void *ud);

/* The registry's rows (registry.def), shared by every frontend: lower_row_lookup gives the row index a
 * name converts with, however it is spelled: a TorchScript kind ("aten::add"), its in-place spelling
 * ("aten::add_", where the row allows it) or torch.export's ("aten.add.Tensor", "aten::add.Tensor": the
 * overload picks a row only when one names it); -1 if none. lower_row_kind(i): row i's kind, in table
 * order (sorted), NULL past the end. */
int lower_row_count(void);
const char *lower_row_kind(int i);
int lower_row_lookup(const char *name);

#endif
