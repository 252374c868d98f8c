/* check.c: structural invariants of a program (ir_check, see ir.h).
 *
 * Per function: value names are unique (inputs, block inputs, op outputs);
 * every op input is bound to a value defined earlier in an enclosing scope (a
 * value defined inside a nested block is not visible after it); block and
 * function outputs are bound and in scope; op lists are linked consistently;
 * outputs point back at their op; a const has one output whose payload count
 * matches its static type; known ops have the parameters MIL requires
 * (coremltools ops/defs/iOS15, non-optional inputs). Failures are PC_E_INTERNAL.
 */
#include "ir/ir.h"
#include "ir/symtab.h"

#include <string.h>

#define MAX_REQ 7
static const char *const required[IR_OP_COUNT][MAX_REQ] = {
    [IR_OP_ABS] = {"x"},
    [IR_OP_ACOS] = {"x"},
    [IR_OP_ADD] = {"x", "y"},
    [IR_OP_AFFINE] = {"x", "transform_matrix", "output_height", "output_width", "sampling_mode", "padding_mode", "padding_value"},
    [IR_OP_ARGSORT] = {"x"},
    [IR_OP_ASIN] = {"x"},
    [IR_OP_ATAN] = {"x"},
    [IR_OP_ATANH] = {"x"},
    [IR_OP_AVG_POOL] = {"x", "kernel_sizes", "pad_type"},
    [IR_OP_BAND_PART] = {"x"},
    [IR_OP_BATCH_NORM] = {"x", "mean", "variance"},
    [IR_OP_BATCH_TO_SPACE] = {"x", "block_shape", "crops"},
    [IR_OP_CAST] = {"x", "dtype"},
    [IR_OP_CEIL] = {"x"},
    [IR_OP_CLAMPED_RELU] = {"x", "alpha", "beta"},
    [IR_OP_CLASSIFY] = {"probabilities", "classes"},
    [IR_OP_CLIP] = {"x", "alpha", "beta"},
    [IR_OP_CONCAT] = {"values", "axis"},
    [IR_OP_COND] = {"pred"},
    [IR_OP_CONSTEXPR_AFFINE_DEQUANTIZE] = {"quantized_data", "zero_point", "scale", "axis"},
    [IR_OP_CONSTEXPR_BLOCKWISE_SHIFT_SCALE] = {"data", "scale"},
    [IR_OP_CONSTEXPR_CAST] = {"source_val", "output_dtype"},
    [IR_OP_CONSTEXPR_LUT_TO_DENSE] = {"indices", "lut"}, /* iOS16 also "shape" */
    [IR_OP_CONSTEXPR_LUT_TO_SPARSE] = {"indices_mask", "indices_nonzero_data", "lut"},
    [IR_OP_CONSTEXPR_SPARSE_BLOCKWISE_SHIFT_SCALE] = {"data_mask", "nonzero_data", "scale"},
    [IR_OP_CONSTEXPR_SPARSE_TO_DENSE] = {"nonzero_data", "mask"}, /* iOS16 also "shape" */
    [IR_OP_CONV] = {"x", "weight"},
    [IR_OP_CONV_QUANTIZED] = {"x", "weight", "quantization_type", "quant_scale", "quant_bias"},
    [IR_OP_CONV_TRANSPOSE] = {"x", "weight"},
    [IR_OP_COS] = {"x"},
    [IR_OP_COSH] = {"x"},
    [IR_OP_CROP] = {"x", "crop_height", "crop_width"},
    [IR_OP_CROP_RESIZE] = {"x"},
    [IR_OP_CUMSUM] = {"x"},
    [IR_OP_DEPTH_TO_SPACE] = {"x", "block_size"},
    [IR_OP_DEQUANTIZE] = {"input", "scale"},
    [IR_OP_EINSUM] = {"values", "equation"},
    [IR_OP_ELU] = {"x", "alpha"},
    [IR_OP_EQUAL] = {"x", "y"},
    [IR_OP_ERF] = {"x"},
    [IR_OP_EXP] = {"x"},
    [IR_OP_EXP2] = {"x"},
    [IR_OP_EXPAND_DIMS] = {"x", "axes"},
    [IR_OP_FILL] = {"shape"},
    [IR_OP_FILL_LIKE] = {"ref_tensor"},
    [IR_OP_FLATTEN2D] = {"x"},
    [IR_OP_FLOOR] = {"x"},
    [IR_OP_FLOOR_DIV] = {"x", "y"},
    [IR_OP_GATHER] = {"x", "indices"},
    [IR_OP_GATHER_ALONG_AXIS] = {"x", "indices"},
    [IR_OP_GATHER_ND] = {"x", "indices"},
    [IR_OP_GELU] = {"x"},
    [IR_OP_GRU] = {"x", "initial_h", "weight_ih", "weight_hh"},
    [IR_OP_GREATER] = {"x", "y"},
    [IR_OP_GREATER_EQUAL] = {"x", "y"},
    [IR_OP_IDENTITY] = {"x"},
    [IR_OP_INSTANCE_NORM] = {"x"},
    [IR_OP_INVERSE] = {"x"},
    [IR_OP_L2_NORM] = {"x"},
    [IR_OP_L2_POOL] = {"x", "kernel_sizes", "pad_type"},
    [IR_OP_LAYER_NORM] = {"x"},
    [IR_OP_LEAKY_RELU] = {"x", "alpha"},
    [IR_OP_LESS] = {"x", "y"},
    [IR_OP_LESS_EQUAL] = {"x", "y"},
    [IR_OP_LINEAR] = {"x", "weight"},
    [IR_OP_LINEAR_ACTIVATION] = {"x", "alpha", "beta"},
    [IR_OP_LIST_GATHER] = {"ls", "indices"},
    [IR_OP_LIST_LENGTH] = {"ls"},
    [IR_OP_LIST_READ] = {"ls", "index"},
    [IR_OP_LIST_SCATTER] = {"ls", "indices", "value"},
    [IR_OP_LIST_WRITE] = {"ls", "index", "value"},
    [IR_OP_LOCAL_RESPONSE_NORM] = {"x", "size"},
    [IR_OP_LOG] = {"x"},
    [IR_OP_LSTM] = {"x", "initial_h", "initial_c", "weight_ih", "weight_hh"},
    [IR_OP_MAKE_LIST] = {"elem_shape"},
    [IR_OP_LOGICAL_AND] = {"x", "y"},
    [IR_OP_LOGICAL_NOT] = {"x"},
    [IR_OP_LOGICAL_OR] = {"x", "y"},
    [IR_OP_LOGICAL_XOR] = {"x", "y"},
    [IR_OP_MATMUL] = {"x", "y"},
    [IR_OP_MAXIMUM] = {"x", "y"},
    [IR_OP_MAX_POOL] = {"x", "kernel_sizes", "pad_type"},
    [IR_OP_MINIMUM] = {"x", "y"},
    [IR_OP_MOD] = {"x", "y"},
    [IR_OP_MUL] = {"x", "y"},
    [IR_OP_NON_MAXIMUM_SUPPRESSION] = {"boxes", "scores", "iou_threshold", "max_boxes"},
    [IR_OP_NON_ZERO] = {"x"},
    [IR_OP_NOT_EQUAL] = {"x", "y"},
    [IR_OP_ONE_HOT] = {"indices", "one_hot_vector_size"},
    [IR_OP_PAD] = {"x", "pad"},
    [IR_OP_PIXEL_SHUFFLE] = {"x", "upscale_factor"},
    [IR_OP_PIXEL_UNSHUFFLE] = {"x", "downscale_factor"},
    [IR_OP_POW] = {"x", "y"},
    [IR_OP_PRELU] = {"x", "alpha"},
    [IR_OP_QUANTIZE] = {"input", "scale", "output_dtype"},
    [IR_OP_RANDOM_BERNOULLI] = {"shape"},
    [IR_OP_RANDOM_CATEGORICAL] = {"x"},
    [IR_OP_RANDOM_NORMAL] = {"shape"},
    [IR_OP_RANDOM_UNIFORM] = {"shape"},
    [IR_OP_RANGE_1D] = {"end", "start", "step"},
    [IR_OP_READ_STATE] = {"input"},
    [IR_OP_REAL_DIV] = {"x", "y"},
    [IR_OP_REDUCE_ARGMAX] = {"x"},
    [IR_OP_REDUCE_ARGMIN] = {"x"},
    [IR_OP_REDUCE_L1_NORM] = {"x"},
    [IR_OP_REDUCE_L2_NORM] = {"x"},
    [IR_OP_REDUCE_LOG_SUM] = {"x"},
    [IR_OP_REDUCE_LOG_SUM_EXP] = {"x"},
    [IR_OP_REDUCE_MAX] = {"x"},
    [IR_OP_REDUCE_MEAN] = {"x"},
    [IR_OP_REDUCE_MIN] = {"x"},
    [IR_OP_REDUCE_PROD] = {"x"},
    [IR_OP_REDUCE_SUM] = {"x"},
    [IR_OP_REDUCE_SUM_SQUARE] = {"x"},
    [IR_OP_RELU] = {"x"},
    [IR_OP_RELU6] = {"x"},
    [IR_OP_RESAMPLE] = {"x", "coordinates", "sampling_mode", "padding_mode", "padding_value", "coordinates_mode", "align_corners"},
    [IR_OP_RESHAPE] = {"x", "shape"},
    [IR_OP_RESHAPE_LIKE] = {"x", "ref_tensors", "begins", "ends", "end_masks"},
    [IR_OP_RESIZE] = {"x", "shape", "resized_dims"},
    [IR_OP_RESIZE_BILINEAR] = {"x"},
    [IR_OP_RESIZE_NEAREST_NEIGHBOR] = {"x", "target_size_height", "target_size_width"},
    [IR_OP_REVERSE] = {"x"},
    [IR_OP_RNN] = {"x", "initial_h", "weight_ih", "weight_hh"},
    [IR_OP_REVERSE_SEQUENCE] = {"x", "lengths"},
    [IR_OP_ROUND] = {"x"},
    [IR_OP_RSQRT] = {"x"},
    [IR_OP_SCALED_DOT_PRODUCT_ATTENTION] = {"query", "key", "value"},
    [IR_OP_SCALED_TANH] = {"x", "alpha", "beta"},
    [IR_OP_SCATTER] = {"data", "indices", "updates"},
    [IR_OP_SCATTER_ALONG_AXIS] = {"data", "indices", "updates"},
    [IR_OP_SCATTER_ND] = {"data", "indices", "updates"},
    [IR_OP_SELECT] = {"cond", "a", "b"},
    [IR_OP_SHAPE] = {"x"},
    [IR_OP_SIGMOID] = {"x"},
    [IR_OP_SIGMOID_HARD] = {"x", "alpha", "beta"},
    [IR_OP_SIGN] = {"x"},
    [IR_OP_SILU] = {"x"},
    [IR_OP_SIN] = {"x"},
    [IR_OP_SINH] = {"x"},
    [IR_OP_SLIDING_WINDOWS] = {"x", "axis", "size"},
    [IR_OP_SLICE_BY_INDEX] = {"x", "begin", "end"},
    [IR_OP_SLICE_UPDATE] = {"x", "update", "begin", "end"},
    [IR_OP_SLICE_BY_SIZE] = {"x", "begin", "size"},
    [IR_OP_SOFTMAX] = {"x"},
    [IR_OP_SOFTPLUS] = {"x"},
    [IR_OP_SOFTPLUS_PARAMETRIC] = {"x", "alpha", "beta"},
    [IR_OP_SOFTSIGN] = {"x"},
    [IR_OP_SPACE_TO_BATCH] = {"x", "block_shape", "paddings"},
    [IR_OP_SPACE_TO_DEPTH] = {"x", "block_size"},
    [IR_OP_SPLIT] = {"x", "axis"},
    [IR_OP_SQRT] = {"x"},
    [IR_OP_SQUARE] = {"x"},
    [IR_OP_SQUEEZE] = {"x"},
    [IR_OP_STACK] = {"values", "axis"},
    [IR_OP_SUB] = {"x", "y"},
    [IR_OP_TAN] = {"x"},
    [IR_OP_TANH] = {"x"},
    [IR_OP_THRESHOLD] = {"x", "alpha"},
    [IR_OP_THRESHOLDED_RELU] = {"x", "alpha"},
    [IR_OP_TILE] = {"x", "reps"},
    [IR_OP_TOPK] = {"x"},
    [IR_OP_TRANSPOSE] = {"x", "perm"},
    [IR_OP_UPSAMPLE_BILINEAR] = {"x"},
    [IR_OP_UPSAMPLE_NEAREST_NEIGHBOR] = {"x"},
    [IR_OP_WHILE_LOOP] = {"loop_vars"},
    [IR_OP_WRITE_STATE] = {"input", "data"},
};

typedef struct {
    const ir_program *p;
    const ir_function *fn;
    pc_err *e;
    pc_arena *a;
    ir_symtab names;
    unsigned char *live; /* by value id */
    pc_vec defined;      /* values defined, in order (popped at block end) */
    int depth;
} checker;

static int cfail(checker *c, const ir_op *op, const char *fmt, const char *a1, const char *a2) {
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a1 ? a1 : "", a2 ? a2 : "");
    if (op)
        return pc_fail(c->e, PC_E_INTERNAL, "ir_check: func %s: %s '%s': %s", c->fn->name,
                       op->type_name ? op->type_name : "?", op->name ? op->name : "", msg);
    return pc_fail(c->e, PC_E_INTERNAL, "ir_check: func %s: %s", c->fn->name, msg);
}

static int define(checker *c, const ir_op *op, ir_value *v) {
    if (!v || !v->name) return cfail(c, op, "a value without a name", NULL, NULL);
    if (v->id < 0 || v->id >= c->p->next_value_id) return cfail(c, op, "value %%%s has a bad id", v->name, NULL);
    if (ir_symtab_get(&c->names, v->name)) return cfail(c, op, "value name %%%s defined twice", v->name, NULL);
    if (ir_symtab_put(&c->names, v->name, v) || pc_vec_push(c->a, &c->defined, v))
        return pc_fail(c->e, PC_E_NOMEM, "ir_check: out of memory");
    c->live[v->id] = 1;
    return 0;
}

static int in_scope(checker *c, const ir_op *op, const ir_value *v, const char *where) {
    if (!v) return cfail(c, op, "%s is unbound", where, NULL);
    if (v->id < 0 || v->id >= c->p->next_value_id || !c->live[v->id]) {
        if (ir_symtab_get(&c->names, v->name) == v)
            return cfail(c, op, "%s uses %%%s outside its block", where, v->name);
        return cfail(c, op, "%s uses %%%s before its definition (or from elsewhere)", where, v->name);
    }
    return 0;
}

static int check_const(checker *c, const ir_op *op) {
    if (op->nout != 1 || !op->out[0]->konst) return cfail(c, op, "a const needs one output with a payload", NULL, NULL);
    const ir_value *v = op->out[0];
    const ir_const *k = v->konst;
    char t[160];
    ir_type_str(&v->type, t, sizeof t);
    if (!ir_type_is_static(&v->type)) return cfail(c, op, "const type %s is not static", t, NULL);
    if (k->count != ir_type_numel(&v->type)) return cfail(c, op, "payload count does not match type %s", t, NULL);
    if (!k->data && k->count) return cfail(c, op, "payload missing", NULL, NULL);
    if (k->store <= IR_DT_INVALID || k->store >= IR_DT_COUNT || (k->store == IR_STRING) != (v->type.dtype == IR_STRING))
        return cfail(c, op, "payload store %s does not fit type %s", ir_dtype_name(k->store), t);
    return 0;
}

static int check_block(checker *c, const ir_block *b);

/* Block shapes MIL requires of the control-flow ops. */
static int check_control(checker *c, const ir_op *op) {
    if (op->nblocks != 2) return cfail(c, op, "needs 2 blocks%s", op->kind == IR_OP_COND ? " (true, false)" : " (cond, body)", NULL);
    const ir_block *a = op->blocks[0], *b = op->blocks[1];
    if (op->kind == IR_OP_COND) {
        if (a->nin || b->nin) return cfail(c, op, "the blocks of a cond take no inputs", NULL, NULL);
        if (a->nout != op->nout || b->nout != op->nout) return cfail(c, op, "each block must return one value per output", NULL, NULL);
        return 0;
    }
    const ir_arg *lv = ir_op_arg(op, "loop_vars");
    int n = lv ? lv->n : 0;
    if (a->nin != n || b->nin != n) return cfail(c, op, "each block needs one input per loop var", NULL, NULL);
    if (a->nout != 1) return cfail(c, op, "the cond block must return one value", NULL, NULL);
    if (b->nout != n || op->nout != n) return cfail(c, op, "the body and the op need one output per loop var", NULL, NULL);
    return 0;
}

static int check_op(checker *c, const ir_block *b, const ir_op *op) {
    if (op->parent != b || op->prog != c->p) return cfail(c, op, "op linked into the wrong block", NULL, NULL);
    if ((op->next && op->next->prev != op) || (!op->next && b->last != op))
        return cfail(c, op, "broken op list", NULL, NULL);
    for (int i = 0; i < op->nin; i++) {
        const ir_arg *a = &op->in[i];
        if (!a->name) return cfail(c, op, "an input without a parameter name", NULL, NULL);
        for (int j = 0; j < a->n; j++)
            if (in_scope(c, op, a->v[j], a->name)) return -1;
    }
    if (op->kind == IR_OP_CONST) {
        if (check_const(c, op)) return -1;
    } else if (op->kind >= 0 && op->kind < IR_OP_COUNT) {
        for (int r = 0; r < MAX_REQ && required[op->kind][r]; r++)
            if (!ir_op_arg(op, required[op->kind][r])) return cfail(c, op, "missing required input '%s'", required[op->kind][r], NULL);
    }
    if ((op->kind == IR_OP_COND || op->kind == IR_OP_WHILE_LOOP) && check_control(c, op)) return -1;
    for (int k = 0; k < op->nblocks; k++) {
        const ir_block *nb = op->blocks[k];
        if (!nb || nb->parent != op) return cfail(c, op, "nested block not owned by its op", NULL, NULL);
        if (++c->depth > 64) return cfail(c, op, "blocks nested too deeply", NULL, NULL);
        int mark = c->defined.n;
        for (int i = 0; i < nb->nin; i++)
            if (define(c, op, nb->in[i])) return -1;
        if (check_block(c, nb)) return -1;
        while (c->defined.n > mark) c->live[((ir_value *)c->defined.v[--c->defined.n])->id] = 0;
        c->depth--;
    }
    for (int i = 0; i < op->nout; i++) {
        const ir_value *v = op->out[i];
        if (!v || v->def != op || v->def_index != i) return cfail(c, op, "output %s does not point back at its op", v ? v->name : "?", NULL);
        if (op->kind != IR_OP_CONST && v->konst) return cfail(c, op, "a non-const output carries a payload", NULL, NULL);
        if (define(c, op, op->out[i])) return -1;
    }
    return 0;
}

static int check_block(checker *c, const ir_block *b) {
    if (b->first && b->first->prev) return cfail(c, NULL, "broken op list", NULL, NULL);
    for (const ir_op *op = b->first; op; op = op->next)
        if (check_op(c, b, op)) return -1;
    for (int i = 0; i < b->nout; i++)
        if (in_scope(c, b->parent, b->out[i], b->parent ? "block output" : "function output")) return -1;
    return 0;
}

static int check_function(checker *c, const ir_function *fn) {
    c->fn = fn;
    c->defined.n = 0;
    if (ir_symtab_init(&c->names, c->a)) return pc_fail(c->e, PC_E_NOMEM, "ir_check: out of memory");
    memset(c->live, 0, (size_t)c->p->next_value_id);
    if (!fn->body || fn->body->parent) return cfail(c, NULL, "function without a body", NULL, NULL);
    for (int i = 0; i < fn->nin; i++)
        if (define(c, NULL, fn->in[i])) return -1;
    if (check_block(c, fn->body)) return -1;
    if (fn->body->nout < 1) return cfail(c, NULL, "function has no outputs", NULL, NULL);
    return 0;
}

/* Check every function of p; 0 or -1 with the first violation in e. */
int ir_check(const ir_program *p, pc_err *e) {
    checker c = {.p = p, .e = e};
    c.a = pc_arena_new();
    if (!c.a || !(c.live = pc_alloc(c.a, (size_t)p->next_value_id + 1))) {
        pc_arena_free(c.a);
        return pc_fail(e, PC_E_NOMEM, "ir_check: out of memory");
    }
    int r = 0;
    for (int f = 0; f < p->nfunc && !r; f++) r = check_function(&c, p->funcs[f]);
    pc_arena_free(c.a);
    return r;
}
