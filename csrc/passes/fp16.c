/* fp16.c: fp16 compute precision, coremltools' default for ML Programs.
 *
 * - each fp32 function input x gets `%x_to_fp16 = cast(x=%x, dtype="fp16")` at the
 *   top of the body, and every use of x reads the cast instead;
 * - every other fp32 value (op outputs, consts, block inputs) becomes fp16; a
 *   const only changes its logical dtype (its payload stays fp32, readers
 *   convert); a `cast(dtype="fp32")` inside the graph becomes a cast to fp16;
 * - resample's coordinates stay fp32 (iOS15 takes no fp16 grid): a cast back to fp32 before it;
 * - lstm, gru and rnn take fp16 only from iOS17 (opset CoreML7): before that they stay fp32, their
 *   tensor inputs cast to fp32 (constant weights keep fp32, as MIL wants them constant) and their
 *   outputs cast back to fp16 (the fp32 output gets a new name, the fp16 cast the old one);
 * - index arithmetic stays fp32: a float computed from ints (a cast of a rank-0 / 1 int value) and one-element
 *   constants through elementwise ops (the source positions of a resize to a run-time size) would round
 *   in fp16 and pick other pixels than torch; it keeps fp32, and any other op that reads it (an fp16
 *   computation, a nested block's output) reads a cast to fp16;
 * - an op reading an fp32 constant with a finite value past fp16's range (|v| > 65504, below 1e38) computes in
 *   fp32 as coremltools' fp16_overflow rule has it, like the kept ops below;
 * - ops an op selector keeps (coremltools' FP16ComputePrecision(op_selector): False keeps the op fp32) compute
 *   in fp32 as the recurrent ops above do, their outputs keeping their names and cast to fp16 (<name>_to_fp16)
 *   for fp16 readers; a kept op reading another's output, or a function input, reads the fp32 value, not its
 *   fp16 cast;
 * - each fp32 function output gets `cast(x=..., dtype="fp32")` at the end, and
 *   the cast's output carries the output's original name (the fp16 value is
 *   renamed <name>_cast_fp16), so output names and dtypes do not change.
 * Requires: a well-formed function. Keeps: the interface (input and output names
 * and dtypes), every non-fp32 value. Breaks: nothing; dedup_const merges the
 * dtype string consts it adds.
 */
#include "passes/pass_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    ir_function *fn;
    unsigned char *converted; /* by value id */
    unsigned char *index;     /* by value id: fp32 index arithmetic that stays fp32 */
    int nids;                 /* ids the tables cover (values made by the pass come after) */
    pc_err *e;
    int (*select)(void *ud, const ir_op *op); /* 1: the op computes in fp16, 0: it stays fp32; NULL: all fp16 */
    void *select_ud;
    int recurrent_fp32;       /* lstm / gru / rnn stay fp32 (opsets before CoreML7) */
    ir_value **made, **made_from; /* step 4's casts to fp16 of kept ops' outputs, and those fp32 outputs */
    int nmade, capmade;
} fp16_ctx;

static int is_index(const fp16_ctx *c, const ir_value *v) { return v->id >= 0 && v->id < c->nids && c->index[v->id]; }

/* A string const named after `base`, placed before pos (or appended to b when pos is NULL). */
static ir_value *str_const(ir_function *fn, ir_block *b, ir_op *pos, const char *base, const char *s) {
    const char *name = pass_unique_name(fn, base);
    if (!name) return NULL;
    ir_value *v = ir_const_new(fn->prog, NULL, name, ir_scalar_type(IR_STRING), IR_STRING, &s, 1);
    if (!v) return NULL;
    if (pos) ir_op_insert_before(pos, v->def);
    else ir_op_append(b, v->def);
    return v;
}

/* cast(x, dtype) named `name`, placed like str_const. */
static ir_value *cast_op(ir_function *fn, ir_block *b, ir_op *pos, const char *name, ir_value *x, ir_dtype to) {
    ir_program *p = fn->prog;
    const char *dn = ir_dtype_name(to);
    ir_value *dt = str_const(fn, b, pos, pc_sprintf(p->arena, "%s_dtype", name), dn);
    ir_op *op = dt ? ir_op_new(p, NULL, IR_OP_CAST, name) : NULL;
    if (!op) return NULL;
    ir_type t = x->type;
    t.dtype = to;
    ir_value *y = ir_op_add_output(op, name, t);
    if (!y || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "dtype", dt)) return NULL;
    if (pos) ir_op_insert_before(pos, op);
    else ir_op_append(b, op);
    return y;
}

static void to_fp16(fp16_ctx *c, ir_value *v) {
    if (v->type.dtype != IR_FP32 || is_index(c, v)) return;
    v->type.dtype = IR_FP16;
    c->converted[v->id] = 1;
}

static int index_kind(ir_opkind k) {
    return k == IR_OP_ADD || k == IR_OP_SUB || k == IR_OP_MUL || k == IR_OP_REAL_DIV || k == IR_OP_FLOOR ||
           k == IR_OP_CEIL || k == IR_OP_MAXIMUM || k == IR_OP_MINIMUM || k == IR_OP_EXPAND_DIMS;
}

/* Marks the fp32 outputs of index arithmetic (ops in program order: inputs are marked before readers). */
static int mark_index(ir_op *op, void *vctx) {
    fp16_ctx *c = vctx;
    if (op->nout != 1 || op->out[0]->type.dtype != IR_FP32) return 0;
    if (op->kind == IR_OP_CAST) {
        ir_value *x = ir_op_input(op, "x");
        if (x && x->type.dtype != IR_STRING && !ir_dtype_is_float(x->type.dtype) && x->type.rank >= 0 && x->type.rank <= 1)
            c->index[op->out[0]->id] = 1; /* sizes and positions (rank 0 / 1), not int data */
        return 0;
    }
    if (!index_kind(op->kind)) return 0;
    int any = 0;
    for (int i = 0; i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++) {
            const ir_value *v = op->in[i].v[j];
            if (v->type.dtype != IR_FP32) continue; /* axes, ints */
            if (is_index(c, v)) any = 1;
            else if (!v->konst || ir_type_numel(&v->type) != 1) return 0;
        }
    if (!any) return 0;
    for (int i = 0; i < op->nin; i++) /* its one-element constants stay fp32 with it */
        for (int j = 0; j < op->in[i].n; j++)
            if (op->in[i].v[j]->type.dtype == IR_FP32) c->index[op->in[i].v[j]->id] = 1;
    c->index[op->out[0]->id] = 1;
    return 0;
}

/* An fp32 index value v read where fp16 is expected: a cast to fp16 placed before `pos` (or at the end of b). */
static ir_value *index_to_fp16(fp16_ctx *c, ir_block *b, ir_op *pos, ir_value *v) {
    ir_program *p = c->fn->prog;
    ir_value *y = cast_op(c->fn, b, pos, pass_unique_name(c->fn, pc_sprintf(p->arena, "%s_to_fp16", v->name)), v, IR_FP16);
    if (!y) pc_fail(c->e, PC_E_NOMEM, "fp16: out of memory");
    return y;
}

/* Readers of index values other than index arithmetic and casts read them cast to fp16. */
static int index_readers(ir_op *op, void *vctx) {
    fp16_ctx *c = vctx;
    int reader = !(op->kind == IR_OP_CAST || (op->nout == 1 && is_index(c, op->out[0])));
    for (int i = 0; reader && i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++) {
            ir_value *v = op->in[i].v[j];
            if (v->type.dtype != IR_FP32 || !is_index(c, v)) continue;
            if (!(op->in[i].v[j] = index_to_fp16(c, NULL, op, v))) return -1;
        }
    for (int k = 0; k < op->nblocks; k++) { /* a nested block's outputs are typed as the op's (fp16) */
        ir_block *b = op->blocks[k];
        for (int i = 0; i < b->nout; i++)
            if (b->out[i]->type.dtype == IR_FP32 && is_index(c, b->out[i]) && !(b->out[i] = index_to_fp16(c, b, NULL, b->out[i])))
                return -1;
    }
    return 0;
}

static int convert_op(ir_op *op, void *vctx) {
    fp16_ctx *c = vctx;
    if (op->kind == IR_OP_CAST && !(op->nout == 1 && is_index(c, op->out[0]))) {
        ir_value *dt = ir_op_input(op, "dtype");
        if (dt && dt->konst && dt->konst->store == IR_STRING && dt->konst->count == 1 &&
            strcmp(((const char *const *)dt->konst->data)[0], "fp32") == 0) {
            ir_value *n = str_const(c->fn, NULL, op, pc_sprintf(c->fn->prog->arena, "%s_dtype_fp16", op->name), "fp16");
            if (!n || ir_op_set_input(op, "dtype", n)) return pc_fail(c->e, PC_E_NOMEM, "fp16: out of memory");
        }
    }
    for (int i = 0; i < op->nout; i++) to_fp16(c, op->out[i]);
    for (int k = 0; k < op->nblocks; k++)
        for (int i = 0; i < op->blocks[k]->nin; i++) to_fp16(c, op->blocks[k]->in[i]);
    return 0;
}

/* resample's coordinates are fp32 or int32 before iOS16: an fp16 grid is cast back to fp32 for it. */
static int fp32_coordinates(ir_op *op, void *vctx) {
    fp16_ctx *c = vctx;
    ir_value *g = op->kind == IR_OP_RESAMPLE ? ir_op_input(op, "coordinates") : NULL;
    if (!g || g->type.dtype != IR_FP16) return 0;
    ir_program *p = c->fn->prog;
    ir_value *y = cast_op(c->fn, NULL, op, pass_unique_name(c->fn, pc_sprintf(p->arena, "%s_coordinates_fp32", op->name)),
                          g, IR_FP32);
    if (!y || ir_op_set_input(op, "coordinates", y)) return pc_fail(c->e, PC_E_NOMEM, "fp16: out of memory");
    return 0;
}

static int is_recurrent(const ir_op *op) { return op->kind == IR_OP_LSTM || op->kind == IR_OP_GRU || op->kind == IR_OP_RNN; }

/* The fp32 value an fp16 cast this pass made stands for (a function input, or a kept op's output when
 * `kept_only`), or NULL. */
static ir_value *fp32_source_of(const fp16_ctx *c, const ir_value *v, int kept_only) {
    for (int i = 0; i < c->nmade; i++)
        if (c->made[i] == v) return kept_only && !c->made_from[i]->def ? NULL : c->made_from[i];
    return NULL;
}

static ir_value *fp32_source(const fp16_ctx *c, const ir_value *v) { return fp32_source_of(c, v, 0); }

static int remember(fp16_ctx *c, ir_value *y, ir_value *v) {
    if (c->nmade == c->capmade) {
        int cap = c->capmade ? c->capmade * 2 : 16;
        ir_value **a = pc_alloc(c->fn->prog->arena, sizeof(*a) * (size_t)cap);
        ir_value **b = pc_alloc(c->fn->prog->arena, sizeof(*b) * (size_t)cap);
        if (!a || !b) return -1;
        if (c->nmade) {
            memcpy(a, c->made, sizeof(*a) * (size_t)c->nmade);
            memcpy(b, c->made_from, sizeof(*b) * (size_t)c->nmade);
        }
        c->made = a, c->made_from = b, c->capmade = cap;
    }
    c->made[c->nmade] = y;
    c->made_from[c->nmade++] = v;
    return 0;
}

/* Op back to fp32 (a recurrent op before iOS17, or one the op selector keeps): its fp16 tensor inputs read
 * fp32 (the fp32 value behind a cast this step made for another kept op, the op's own constant retyped, a
 * shared constant copied, else a cast to fp32) and its outputs turn fp32, each followed by a cast to fp16 that
 * its readers read. `swap`: the fp16 cast takes the output's name and the fp32 output becomes <name>_fp32
 * (the recurrent ops' naming); otherwise names stay and the cast is <name>_to_fp16. */
static int fp32_op(fp16_ctx *c, ir_op *op, int swap) {
    ir_function *fn = c->fn;
    ir_program *p = fn->prog;
    for (int i = 0; i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++) {
            ir_value *v = op->in[i].v[j], *nv = NULL;
            if (!v || v->type.dtype != IR_FP16) continue;
            if ((nv = fp32_source(c, v))) {
                op->in[i].v[j] = nv;
                continue;
            }
            const char *nm = pass_unique_name(fn, pc_sprintf(p->arena, "%s_fp32", v->name));
            if (!nm) return pc_fail(c->e, PC_E_NOMEM, "fp16: out of memory");
            if (v->konst && v->nuses == 1 && op->in[i].n == 1) { /* the op's own constant: its payload is fp32 anyway */
                v->type.dtype = IR_FP32;
                continue;
            }
            if (v->konst) { /* shared: an fp32 copy of the values for this op */
                int64_t n = ir_type_numel(&v->type);
                float *f = pc_alloc(p->arena, sizeof(float) * (size_t)(n + 1));
                ir_type t = v->type;
                t.dtype = IR_FP32;
                if (f) ir_const_read_f32(v->konst, f);
                if (f && (nv = ir_const_new(p, NULL, nm, t, IR_FP32, f, 0))) ir_op_insert_before(op, nv->def);
            } else {
                nv = cast_op(fn, NULL, op, nm, v, IR_FP32);
            }
            if (!nv) return pc_fail(c->e, PC_E_NOMEM, "fp16: out of memory");
            op->in[i].v[j] = nv;
        }
    for (int i = op->nout - 1; i >= 0; i--) {
        ir_value *v = op->out[i];
        if (v->type.dtype != IR_FP16) continue;
        v->type.dtype = IR_FP32;
        const char *src = v->src_name;
        const char *nm = swap ? pass_unique_name(fn, pc_sprintf(p->arena, "%s_fp32", v->name)) : "";
        const char *cn = nm ? pass_unique_name(fn, pc_sprintf(p->arena, swap ? "%s_fp16" : "%s_to_fp16", v->name)) : NULL;
        ir_value *y = cn ? cast_op(fn, op->parent, op->next, cn, v, IR_FP16) : NULL;
        if (!y || remember(c, y, v)) return pc_fail(c->e, PC_E_NOMEM, "fp16: out of memory");
        ir_replace_uses(fn, v, y);
        ir_op_set_input(y->def, "x", v); /* the cast itself reads the fp32 output */
        y->src_name = NULL;                /* the fp32 value is the one computed (the debugger compares it) */
        v->src_name = src;
        if (swap) pass_swap_name(y, v, nm);
    }
    return 0;
}

/* The largest |p[k]| below `limit` (0 if none); eight running maxima, so that the loop runs at the speed of
 * memory (weights of a large model are scanned whole). */
static float max_abs_below(const float *p, int64_t n, float limit) {
    float m[8] = {0};
    int64_t k = 0;
    for (; k + 8 <= n; k += 8)
        for (int j = 0; j < 8; j++) {
            float a = fabsf(p[k + j]);
            a = a < limit ? a : 0.0f;
            m[j] = m[j] > a ? m[j] : a;
        }
    for (; k < n; k++) {
        float a = fabsf(p[k]);
        a = a < limit ? a : 0.0f;
        m[0] = m[0] > a ? m[0] : a;
    }
    for (int j = 1; j < 8; j++) m[0] = m[0] > m[j] ? m[0] : m[j];
    return m[0];
}

/* A value of constant c in [at, at + n) past fp16's range: |v| > 65504 and below 1e38 (read converted). */
static int range_past_fp16(const ir_const *c, int64_t at, int64_t n) {
    float buf[1024];
    for (int64_t i = at; i < at + n; i += PC_ARRAY_LEN(buf)) {
        int64_t k = PC_MIN((int64_t)PC_ARRAY_LEN(buf), at + n - i);
        ir_const_read_f32_range(c, i, k, buf);
        if (max_abs_below(buf, k, 1e38f) > 65504.0f) return 1;
    }
    return 0;
}

/* Constant c holds a finite value past fp16's range (|v| > 65504, below 1e38: larger ones stand for infinity,
 * as attention masks' float32 minimum does, and may round to fp16's). A raw fp32 payload is scanned in place;
 * a scaled one (a folded batch norm) slice by slice, exactly only where its largest value times the scale
 * passes 65504. */
static int past_fp16(const ir_const *c) {
    if (c->store == IR_FP32 && !c->scale) return max_abs_below(c->data, c->count, 1e38f) > 65504.0f;
    if (c->store == IR_FP32 && c->scale_inner > 0) {
        for (int64_t s = 0; s * c->scale_inner < c->count; s++) {
            int64_t at = s * c->scale_inner, n = PC_MIN(c->scale_inner, c->count - at);
            if (max_abs_below((const float *)c->data + at, n, INFINITY) * fabsf(c->scale[s]) > 65504.0f &&
                range_past_fp16(c, at, n))
                return 1;
        }
        return 0;
    }
    return range_past_fp16(c, 0, c->count);
}

/* An fp32 constant input of op past fp16's range: coremltools keeps such an op in fp32 (its fp16_overflow
 * rule), where fp16 would compute with inf. */
static int overflows_fp16(const fp16_ctx *c, const ir_op *op) {
    for (int i = 0; i < op->nin; i++)
        for (int j = 0; j < op->in[i].n; j++) {
            const ir_value *v = op->in[i].v[j];
            if (!v || !v->konst || (v->konst->store != IR_FP32 && v->konst->store != IR_FP64) || v->id < 0 ||
                v->id >= c->nids || !c->converted[v->id])
                continue;
            int past = past_fp16(v->konst);
            /* weights mapped from a file (a .pt2) are paged in by the scan: give the pages back */
            ir_program_pages_done(c->fn->prog, v->konst->data, (size_t)v->konst->count * ir_dtype_size(v->konst->store));
            if (past) return 1;
        }
    return 0;
}

/* Step 4: which ops go back to fp32, in program order: recurrent ops before iOS17, the ops the caller's
 * selector keeps, and a cast to fp32 of a value a kept op computed reads that value itself (a kept op's
 * output returned by the function is not rounded to fp16 on its way out). */
static int fp32_ops(ir_op *op, void *vctx) {
    fp16_ctx *c = vctx;
    if (op->kind == IR_OP_CAST) {
        ir_value *x = ir_op_input(op, "x"), *src = x ? fp32_source_of(c, x, 1) : NULL;
        if (src && op->nout == 1 && op->out[0]->type.dtype == IR_FP32) ir_op_set_input(op, "x", src);
        return 0;
    }
    if (op->kind == IR_OP_CONST || op->nblocks) return 0;
    int fp16_out = 0;
    for (int i = 0; i < op->nout; i++) fp16_out |= op->out[i]->type.dtype == IR_FP16 && op->out[i]->id < c->nids;
    if (!fp16_out) return 0; /* computes no fp16 (or was made by this pass) */
    if (is_recurrent(op) && c->recurrent_fp32) return fp32_op(c, op, 1);
    if (overflows_fp16(c, op)) return fp32_op(c, op, 0);
    if (!c->select) return 0;
    int r = c->select(c->select_ud, op);
    if (r < 0) return pc_fail(c->e, PC_E_VALUE, "compute_precision's op_selector failed on op '%s' (%s)", op->name,
                              op->type_name);
    return r ? 0 : fp32_op(c, op, 0);
}

int pass_fp16(ir_function *fn, pc_err *e) { return pass_fp16_select(fn, NULL, NULL, e); }

int pass_fp16_select(ir_function *fn, int (*select)(void *ud, const ir_op *op), void *ud, pc_err *e) {
    ir_program *p = fn->prog;
    ir_block *body = fn->body;
    fp16_ctx c = {.fn = fn, .e = e, .select = select, .select_ud = ud};
    /* 1. convert the graph (before adding casts, whose types are already right) */
    c.converted = pc_alloc(p->arena, (size_t)p->next_value_id + 1);
    c.index = pc_alloc(p->arena, (size_t)p->next_value_id + 1);
    if (!c.converted || !c.index) return pc_fail(e, PC_E_NOMEM, "fp16: out of memory");
    memset(c.index, 0, (size_t)p->next_value_id + 1);
    c.nids = p->next_value_id;
    size_t nconv = (size_t)p->next_value_id;
    if (ir_walk(fn, mark_index, &c) || ir_walk(fn, convert_op, &c) || ir_walk(fn, index_readers, &c)) return -1;
    /* 2. inputs: cast to fp16 at the top */
    ir_op *anchor = body->first;
    for (int i = 0; i < fn->nin; i++) {
        ir_value *x = fn->in[i];
        if (x->type.dtype != IR_FP32 || x->type.kind != IR_TK_TENSOR) continue;
        ir_value *y = cast_op(fn, body, anchor, pass_unique_name(fn, pc_sprintf(p->arena, "%s_to_fp16", x->name)), x,
                              IR_FP16);
        if (!y || remember(&c, y, x)) return pc_fail(e, PC_E_NOMEM, "fp16: out of memory");
        ir_replace_uses(fn, x, y);
        ir_op_set_input(y->def, "x", x); /* the cast itself reads the input */
        for (int k = 0; k < body->nout; k++) /* an input returned as is stays itself */
            if (body->out[k] == y) body->out[k] = x;
    }
    if (ir_walk(fn, fp32_coordinates, &c)) return -1;
    /* 3. outputs: cast back to fp32 under the original name */
    ir_value **orig = pc_alloc(p->arena, sizeof(*orig) * (size_t)(body->nout + 1));
    if (!orig) return pc_fail(e, PC_E_NOMEM, "fp16: out of memory");
    for (int i = 0; i < body->nout; i++) {
        ir_value *v = orig[i] = body->out[i];
        if (v->id < 0 || (size_t)v->id >= nconv || !c.converted[v->id]) continue;
        ir_value *y = NULL;
        for (int k = 0; k < i && !y; k++) /* the same value returned twice: one cast */
            if (orig[k] == v) y = body->out[k];
        if (!y) {
            y = cast_op(fn, body, NULL, pass_unique_name(fn, pc_sprintf(p->arena, "%s_to_fp32", v->name)), v, IR_FP32);
            const char *nn = y ? pass_unique_name(fn, pc_sprintf(p->arena, "%s_cast_fp16", v->name)) : NULL;
            if (!nn) return pc_fail(e, PC_E_NOMEM, "fp16: out of memory");
            pass_swap_name(y, v, nn);
        }
        body->out[i] = y;
    }
    /* 4. lstm / gru / rnn before iOS17, and the ops the selector keeps: back to fp32 */
    c.recurrent_fp32 = !fn->opset || strncmp(fn->opset, "CoreML", 6) != 0 || atoi(fn->opset + 6) < 7;
    ir_count_uses(fn);
    return ir_walk(fn, fp32_ops, &c);
}

/* Output i of fn returned as dtype dt (a GRAYSCALE_FLOAT16 image output is fp16): a cast at the end that takes
 * over the output's name. An input returned as is, or a value returned twice, cannot be renamed: refused. */
int pass_cast_output(ir_function *fn, int i, ir_dtype dt, pc_err *e) {
    ir_block *body = fn->body;
    if (i < 0 || i >= body->nout) return pc_fail(e, PC_E_VALUE, "the program has no output %d", i);
    ir_value *v = body->out[i];
    if (v->type.kind != IR_TK_TENSOR || !ir_dtype_is_float(v->type.dtype) || !ir_dtype_is_float(dt))
        return pc_fail(e, PC_E_VALUE, "output '%s' is not a float tensor", v->name);
    if (v->type.dtype == dt) return 0;
    for (int k = 0; k < fn->nin; k++)
        if (fn->in[k] == v) return pc_fail(e, PC_E_VALUE, "output '%s' is an input returned as is", v->name);
    for (int k = 0; k < body->nout; k++)
        if (k != i && body->out[k] == v) return pc_fail(e, PC_E_VALUE, "output '%s' is returned twice", v->name);
    ir_program *p = fn->prog;
    const char *name = pass_unique_name(fn, pc_sprintf(p->arena, "%s_to_%s", v->name, ir_dtype_name(dt)));
    ir_value *y = name ? cast_op(fn, body, NULL, name, v, dt) : NULL;
    const char *nn = y ? pass_unique_name(fn, pc_sprintf(p->arena, "%s_%s", v->name, ir_dtype_name(v->type.dtype))) : NULL;
    if (!nn) return pc_fail(e, PC_E_NOMEM, "out of memory");
    pass_swap_name(y, v, nn);
    body->out[i] = y;
    return 0;
}
