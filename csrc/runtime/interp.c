/* interp.c: plan (rt_prepare) and execute (rt_run, rt_eval_op) ML Program functions.
 *
 * Plan: constants are converted once into their logical dtype (plus an fp32 view
 * for float constants, except large fp16 ones, which kernels convert in blocks as
 * they run so fp16 weights are held once, as fp16); the body's non-const ops become steps in program order;
 * each value gets the step after which it is dead, so rt_run frees intermediates
 * as soon as they are no longer needed. Slots are indexed by value id.
 * rt_run keeps all of its state on its own stack/heap: the model is read-only.
 */
#include "runtime/rt_internal.h"

#include <stdio.h>

/* The plan of one block: its non-const ops in order, the plans of their nested
 * blocks, and the values to release after each step. */
typedef struct rt_plan rt_plan;
struct rt_plan {
    const ir_block *b;
    int nsteps;
    const ir_op **steps;
    rt_plan ***subs;      /* [nsteps]: plans of a step's nested blocks (NULL for ops without) */
    int *free_start;      /* [nsteps + 1]: CSR index into free_ids */
    int *free_ids;        /* value ids released after each step */
};

struct rt_model {
    ir_program *prog;
    ir_function *fn;
    int nslots;           /* value ids < nslots */
    rt_val *consts;       /* [nslots]: prepared constants (by value id) */
    void **allocs;        /* buffers owned by the model (plans included) */
    int nallocs, capallocs;
    rt_plan *top;         /* the function body */
    int nout;
    const ir_value **outs;
    rt_mem_plan plan;
};

/* ---- dispatch: one case per op kind, generated from ops.def ---- */
static int dispatch(rt_ctx *c) {
    switch (c->op->kind) {
#define IR_OP(E, NAME, ...)                                                                                  \
    case IR_OP_##E: return rt_k_##E(c);
#include "ir/ops.def"
#undef IR_OP
    case IR_OP_UNKNOWN: break;
    }
    return rt_fail(c, "unsupported op type '%s'", c->op->type_name ? c->op->type_name : "?");
}

static void release_to(rt_bufpool *pool, rt_tensor *t) {
    if (t->owned) rt_pool_put(pool, t->data);
    t->data = NULL;
    t->owned = 0;
}

/* Run one op: kernel, output checks, pending dtype conversions, scratch release.
 * On failure every output is released and the message names the op. */
static int run_op(const ir_op *op, const rt_val *(*lookup)(rt_ctx *, const ir_value *), void *lctx,
                  rt_tensor *outs, rt_bufpool *pool, pc_err *e, rt_plan *const *sub) {
    rt_ctx c;
    memset(&c, 0, sizeof c);
    c.pool = pool;
    c.op = op;
    c.sub = (const void *const *)sub;
    c.e = e;
    c.lookup = lookup;
    c.lookup_ctx = lctx;
    c.outs = outs;
    int r = 0;
    if (op->nout > RT_MAX_OUTS) r = rt_fail(&c, "op has %d outputs (at most %d supported)", op->nout, RT_MAX_OUTS);
    if (!r) r = dispatch(&c);
    for (int i = 0; !r && i < op->nout; i++) {
        if (!outs[i].data) r = rt_fail(&c, "internal: kernel did not produce output %d", i);
        else if (c.pending[i]) rt_convert_par(outs[i].data, outs[i].dtype, c.pending[i], c.pending_dt[i], rt_numel(&outs[i]));
    }
    for (int i = 0; i < c.nscratch; i++) rt_pool_put(pool, c.scratch[i]);
    if (c.scratch != c.scratch0) free(c.scratch);
    if (r) {
        for (int i = 0; i < PC_MIN(op->nout, RT_MAX_OUTS); i++) release_to(pool, &outs[i]);
        if (e) {
            if (e->kind == PC_OK) e->kind = PC_E_RUNTIME;
            pc_prefix(e, "op '%s' (%s)%s%s: ", op->name ? op->name : "?", op->type_name ? op->type_name : "?",
                      op->loc ? " from " : "", op->loc ? op->loc : "");
        }
        return -1;
    }
    return 0;
}

void rt_tensor_release(rt_tensor *t) {
    if (!t) return;
    if (t->owned) free(t->data);
    t->data = NULL;
    t->owned = 0;
}

/* ---- constants ---- */
/* A buffer of n elements of `size` bytes for constant v, appended to allocs[*nallocs..cap). */
static void *const_alloc(const ir_value *v, int64_t n, size_t size, void **allocs, int *nallocs, int cap, pc_err *e) {
    if (*nallocs >= cap) {
        pc_fail(e, PC_E_INTERNAL, "constant '%s' needs more than the %d buffers its caller has room for", v->name, cap);
        return NULL;
    }
    void *p = malloc(n ? (size_t)n * size : 1);
    if (!p) {
        pc_fail(e, PC_E_NOMEM, "out of memory converting constant '%s'", v->name);
        return NULL;
    }
    allocs[(*nallocs)++] = p;
    return p;
}

int rt_const_value(const ir_value *v, rt_val *out, void **allocs, int *nallocs, int cap, pc_err *e) {
    const ir_const *k = v->konst;
    const ir_type *ty = &v->type;
    memset(out, 0, sizeof *out);
    if (!k) return pc_fail(e, PC_E_RUNTIME, "value '%s' is not a constant", v->name);
    if (ty->kind != IR_TK_TENSOR || !ir_type_is_static(ty))
        return pc_fail(e, PC_E_RUNTIME, "constant '%s' has no static tensor type", v->name);
    int64_t n = ir_type_numel(ty);
    if (k->count != n)
        return pc_fail(e, PC_E_RUNTIME, "constant '%s' holds %lld elements but its type needs %lld", v->name,
                       (long long)k->count, (long long)n);
    if (n > 0 && !k->data) return pc_fail(e, PC_E_RUNTIME, "constant '%s' has no payload", v->name);
    ir_dtype dt = ty->dtype;
    out->t.dtype = dt;
    out->t.rank = ty->rank;
    for (int i = 0; i < ty->rank; i++) out->t.dims[i] = ty->dims[i];
    static const uint64_t empty_payload[1];
    if (dt == IR_STRING || k->store == IR_STRING) {
        if (dt != k->store)
            return pc_fail(e, PC_E_RUNTIME, "constant '%s': %s payload for a %s value", v->name,
                           ir_dtype_name(k->store), ir_dtype_name(dt));
        out->t.data = (void *)(n ? k->data : empty_payload);
        return 0;
    }
    if (!ir_dtype_size(dt) || !ir_dtype_size(k->store))
        return pc_fail(e, PC_E_RUNTIME, "constant '%s' has an invalid dtype", v->name);
    if (k->store == dt && ir_const_is_raw(k)) {
        out->t.data = (void *)(n ? k->data : empty_payload);
    } else if (!ir_const_is_raw(k)) { /* scaled payload (folded batch_norm): materialize */
        float *f = const_alloc(v, n, sizeof(float), allocs, nallocs, cap, e);
        if (!f) return -1;
        ir_const_read_f32(k, f);
        if (dt == IR_FP32) {
            out->t.data = f;
        } else {
            void *d = const_alloc(v, n, ir_dtype_size(dt), allocs, nallocs, cap, e);
            if (!d) return -1;
            rt_convert(d, dt, f, IR_FP32, n); /* rounds through fp16 for fp16 values */
            out->t.data = d;
        }
    } else {
        void *d = const_alloc(v, n, ir_dtype_size(dt), allocs, nallocs, cap, e);
        if (!d) return -1;
        /* fp32-stored fp16 constants are rounded through fp16 here */
        rt_convert(d, dt, k->data, k->store, n);
        out->t.data = d;
    }
    if (dt == IR_FP32) {
        out->f32 = out->t.data;
    } else if (ir_dtype_is_float(dt) && !(dt == IR_FP16 && n > RT_F32_COPY_MAX)) {
        float *f = const_alloc(v, n, sizeof(float), allocs, nallocs, cap, e);
        if (!f) return -1;
        rt_convert(f, IR_FP32, out->t.data, dt, n);
        out->f32 = f;
    }
    return 0;
}

static int model_hold(rt_model *m, void *p) {
    if (m->nallocs == m->capallocs) {
        int cap = m->capallocs ? m->capallocs * 2 : 64;
        void **na = realloc(m->allocs, sizeof(void *) * (size_t)cap);
        if (!na) return -1;
        m->allocs = na;
        m->capallocs = cap;
    }
    m->allocs[m->nallocs++] = p;
    return 0;
}

/* ---- prepare ---- */
void rt_free(rt_model *m) {
    if (!m) return;
    for (int i = 0; i < m->nallocs; i++) free(m->allocs[i]);
    free(m->allocs);
    free(m->consts);
    free(m->outs);
    free(m);
}

static int value_ok(const rt_model *m, const ir_value *v, const char *who, pc_err *e) {
    if (!v) return pc_fail(e, PC_E_RUNTIME, "%s: missing value", who);
    if (v->id < 0 || v->id >= m->nslots) return pc_fail(e, PC_E_RUNTIME, "%s: value '%s' has a bad id", who, v->name);
    return 0;
}

static void *model_calloc(rt_model *m, size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    if (p && model_hold(m, p)) {
        free(p);
        p = NULL;
    }
    return p;
}

/* Planning state: per value id whether it is defined (0 undefined, 1 block/function
 * input, 2 const, 3 produced), the block depth that defines it and the step (of
 * that block) after which it is last needed; step[d] is the step being planned at
 * depth d, so a use inside a nested block counts as a use by the op that owns it. */
typedef struct planner {
    rt_model *m;
    pc_err *e;
    int *lastuse;
    char *state;
    int *depth_of;
    int step[65];
} planner;

static int use_value(planner *pl, const ir_value *v, const char *who, const char *what, const char *pname) {
    if (value_ok(pl->m, v, who, pl->e)) return -1;
    if (!pl->state[v->id])
        return pc_fail(pl->e, PC_E_RUNTIME, "%s: %s '%s' (%s) is used before it is defined (or outside its block)", who,
                       what, pname, v->name);
    if (pl->state[v->id] == 3) pl->lastuse[v->id] = pl->step[pl->depth_of[v->id]];
    return 0;
}

static int prepare_const(planner *pl, const ir_op *op) {
    rt_model *m = pl->m;
    for (int i = 0; i < op->nout; i++) {
        const ir_value *v = op->out[i];
        if (value_ok(m, v, op->name, pl->e)) return -1;
        void *al[RT_CONST_ALLOCS];
        int na = 0;
        int r = rt_const_value(v, &m->consts[v->id], al, &na, RT_CONST_ALLOCS, pl->e);
        for (int k = 0; k < na; k++)
            if (model_hold(m, al[k])) {
                for (int j = k; j < na; j++) free(al[j]);
                return pc_fail(pl->e, PC_E_NOMEM, "out of memory preparing the runtime");
            }
        if (r) return -1;
        pl->state[v->id] = 2;
        pl->depth_of[v->id] = 0;
    }
    return 0;
}

/* Plan block b at depth d (0: the function body). */
static rt_plan *plan_block(planner *pl, const ir_block *b, int d) {
    rt_model *m = pl->m;
    pc_err *e = pl->e;
    if (d >= (int)PC_ARRAY_LEN(pl->step) - 1) {
        pc_fail(e, PC_E_UNSUPPORTED, "blocks nested too deeply");
        return NULL;
    }
    int nops = 0;
    for (const ir_op *op = b->first; op; op = op->next) nops++;
    rt_plan *p = model_calloc(m, 1, sizeof *p);
    if (p) {
        p->b = b;
        p->steps = model_calloc(m, (size_t)nops, sizeof(ir_op *));
        p->subs = model_calloc(m, (size_t)nops, sizeof(rt_plan **));
    }
    if (!p || !p->steps || !p->subs) {
        pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
        return NULL;
    }
    for (int i = 0; i < b->nin; i++) {
        if (value_ok(m, b->in[i], "block input", e)) return NULL;
        pl->state[b->in[i]->id] = 1;
        pl->depth_of[b->in[i]->id] = d;
    }
    for (const ir_op *op = b->first; op; op = op->next) {
        const char *tn = op->type_name ? op->type_name : ir_op_kind_name(op->kind);
        if (op->kind == IR_OP_UNKNOWN || op->kind < 0 || op->kind > IR_OP_COUNT) {
            pc_fail(e, PC_E_UNSUPPORTED, "the runtime cannot run op '%s': unknown op type '%s'", op->name, tn);
            return NULL;
        }
        if (op->kind == IR_OP_CONST) {
            if (prepare_const(pl, op)) return NULL;
            continue;
        }
        int step = p->nsteps;
        pl->step[d] = step;
        for (int i = 0; i < op->nin; i++)
            for (int j = 0; j < op->in[i].n; j++)
                if (use_value(pl, op->in[i].v[j], op->name, "input", op->in[i].name)) return NULL;
        if (op->nblocks) {
            if (op->kind != IR_OP_COND && op->kind != IR_OP_WHILE_LOOP) {
                pc_fail(e, PC_E_UNSUPPORTED, "the runtime cannot run op '%s' (%s): it has nested blocks", op->name, tn);
                return NULL;
            }
            p->subs[step] = model_calloc(m, (size_t)op->nblocks, sizeof(rt_plan *));
            if (!p->subs[step]) {
                pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
                return NULL;
            }
            for (int k = 0; k < op->nblocks; k++)
                if (!(p->subs[step][k] = plan_block(pl, op->blocks[k], d + 1))) return NULL;
        }
        for (int i = 0; i < op->nout; i++) {
            const ir_value *v = op->out[i];
            if (value_ok(m, v, op->name, e)) return NULL;
            if (v->type.kind != IR_TK_TENSOR && v->type.kind != IR_TK_LIST &&
                !(op->kind == IR_OP_CLASSIFY && v->type.kind == IR_TK_DICT)) {
                char ts[200];
                pc_fail(e, PC_E_UNSUPPORTED, "op '%s' (%s): an output of type %s is not supported", op->name, tn,
                        ir_type_str(&v->type, ts, sizeof ts));
                return NULL;
            }
            pl->state[v->id] = 3;
            pl->depth_of[v->id] = d;
            pl->lastuse[v->id] = step; /* dead right away unless used later */
        }
        p->steps[p->nsteps++] = op;
    }
    pl->step[d] = p->nsteps;
    for (int i = 0; i < b->nout; i++) {
        const ir_value *v = b->out[i];
        if (use_value(pl, v, b->parent ? b->parent->name : "function", "output", v ? v->name : "?")) return NULL;
        if (pl->state[v->id] == 3 && pl->depth_of[v->id] == d) pl->lastuse[v->id] = p->nsteps; /* kept */
    }
    /* CSR list of this block's produced values to release after each step */
    p->free_start = model_calloc(m, (size_t)p->nsteps + 2, sizeof(int));
    int nfree = 0;
    for (int s = 0; s < p->nsteps; s++)
        for (int i = 0; i < p->steps[s]->nout; i++) {
            int id = p->steps[s]->out[i]->id;
            if (pl->lastuse[id] >= 0 && pl->lastuse[id] < p->nsteps) nfree++;
        }
    p->free_ids = model_calloc(m, (size_t)nfree, sizeof(int));
    int *fill = calloc((size_t)p->nsteps + 1, sizeof(int));
    if (!p->free_start || !p->free_ids || !fill) {
        free(fill);
        pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
        return NULL;
    }
    for (int s = 0; s < p->nsteps; s++)
        for (int i = 0; i < p->steps[s]->nout; i++) {
            int id = p->steps[s]->out[i]->id;
            if (pl->lastuse[id] >= 0 && pl->lastuse[id] < p->nsteps) p->free_start[pl->lastuse[id] + 1]++;
        }
    for (int s = 0; s < p->nsteps; s++) p->free_start[s + 1] += p->free_start[s];
    for (int s = 0; s < p->nsteps; s++)
        for (int i = 0; i < p->steps[s]->nout; i++) {
            int id = p->steps[s]->out[i]->id, lu = pl->lastuse[id];
            if (lu >= 0 && lu < p->nsteps) p->free_ids[p->free_start[lu] + fill[lu]++] = id;
        }
    free(fill);
    if (d > 0) { /* values of a nested block are out of scope after it */
        for (int i = 0; i < b->nin; i++) pl->state[b->in[i]->id] = 0;
        for (int s = 0; s < p->nsteps; s++)
            for (int i = 0; i < p->steps[s]->nout; i++) pl->state[p->steps[s]->out[i]->id] = 0;
    }
    return p;
}

static int64_t value_bytes(const ir_value *v) {
    int64_t n = ir_type_numel(&v->type);
    return n < 0 ? -1 : n * (int64_t)ir_dtype_size(v->type.dtype);
}

/* Static memory figures: constants, and a replay of the body's step schedule summing
 * the activations alive at each step (nested blocks' values are not counted). */
static void plan_memory(rt_model *m, const char *state) {
    rt_mem_plan *p = &m->plan;
    memset(p, 0, sizeof *p);
    for (int i = 0; i < m->nslots; i++) {
        if (state[i] != 2) continue;
        const rt_val *v = &m->consts[i];
        int64_t n = rt_numel(&v->t);
        p->const_bytes += n * (int64_t)ir_dtype_size(v->t.dtype);
        if (v->f32 && (const void *)v->f32 != v->t.data) p->const_f32_bytes += n * (int64_t)sizeof(float);
    }
    int64_t live = 0;
    int unknown = 0;
    for (int i = 0; i < m->fn->nin; i++) {
        int64_t b = value_bytes(m->fn->in[i]);
        if (b < 0) unknown = 1;
        else live += b;
    }
    int64_t *size = calloc((size_t)(m->nslots ? m->nslots : 1), sizeof(int64_t));
    if (!size) unknown = 1;
    for (int s = 0; s < m->top->nsteps && !unknown; s++) {
        const ir_op *op = m->top->steps[s];
        for (int i = 0; i < op->nout; i++) {
            int64_t b = value_bytes(op->out[i]);
            if (b < 0) {
                unknown = 1;
                break;
            }
            size[op->out[i]->id] = b;
            live += b;
            if (b > p->largest_value_bytes) p->largest_value_bytes = b;
        }
        if (live > p->peak_live_bytes) p->peak_live_bytes = live;
        for (int k = m->top->free_start[s]; k < m->top->free_start[s + 1]; k++) live -= size[m->top->free_ids[k]];
    }
    free(size);
    if (unknown) p->peak_live_bytes = p->largest_value_bytes = -1;
}

void rt_memory_plan(const rt_model *m, rt_mem_plan *out) { *out = m->plan; }

int rt_prepare(ir_program *p, const char *fn_name, rt_model **out, pc_err *e) {
    *out = NULL;
    ir_function *fn = NULL;
    if (!p) return pc_fail(e, PC_E_VALUE, "rt_prepare: no program");
    if (fn_name) {
        for (int i = 0; i < p->nfunc; i++)
            if (strcmp(p->funcs[i]->name, fn_name) == 0) fn = p->funcs[i];
    } else {
        fn = ir_program_main(p);
    }
    if (!fn) return pc_fail(e, PC_E_VALUE, "the program has no function '%s'", fn_name ? fn_name : "main");
    rt_model *m = calloc(1, sizeof *m);
    if (!m) return pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
    m->prog = p;
    m->fn = fn;
    m->nslots = p->next_value_id;
    int n = m->nslots ? m->nslots : 1;
    planner pl = {.m = m, .e = e};
    m->consts = calloc((size_t)n, sizeof(rt_val));
    pl.lastuse = malloc(sizeof(int) * (size_t)n);
    pl.state = calloc((size_t)n, 1);
    pl.depth_of = calloc((size_t)n, sizeof(int));
    const ir_block *body = fn->body;
    m->nout = body->nout;
    m->outs = calloc((size_t)(body->nout ? body->nout : 1), sizeof(ir_value *));
    if (!m->consts || !pl.lastuse || !pl.state || !pl.depth_of || !m->outs) {
        pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
        goto fail;
    }
    for (int i = 0; i < n; i++) pl.lastuse[i] = -1;
    for (int i = 0; i < fn->nin; i++) {
        if (value_ok(m, fn->in[i], "function input", e)) goto fail;
        if (fn->in[i]->type.kind != IR_TK_TENSOR && fn->in[i]->type.kind != IR_TK_STATE) {
            pc_fail(e, PC_E_UNSUPPORTED, "function input '%s' is not a tensor or a state", fn->in[i]->name);
            goto fail;
        }
        pl.state[fn->in[i]->id] = 1;
    }
    if (!(m->top = plan_block(&pl, body, 0))) goto fail;
    for (int i = 0; i < body->nout; i++) m->outs[i] = body->out[i];
    plan_memory(m, pl.state);
    free(pl.lastuse);
    free(pl.state);
    free(pl.depth_of);
    *out = m;
    return 0;
fail:
    free(pl.lastuse);
    free(pl.state);
    free(pl.depth_of);
    rt_free(m);
    return -1;
}
int rt_num_inputs(const rt_model *m) { return m ? m->fn->nin : 0; }
const ir_value *rt_input(const rt_model *m, int i) { return (m && i >= 0 && i < m->fn->nin) ? m->fn->in[i] : NULL; }
int rt_num_outputs(const rt_model *m) { return m ? m->nout : 0; }
const ir_value *rt_output(const rt_model *m, int i) { return (m && i >= 0 && i < m->nout) ? m->outs[i] : NULL; }

/* ---- run ---- */
typedef struct run_state {
    const rt_model *m;
    rt_val *vals;      /* [nslots] */
    rt_bufpool *pool;  /* this run's buffer pool */
    const rt_observer *obs; /* the caller's view of every value (NULL: none) */
} run_state;

static const rt_val *run_lookup(rt_ctx *c, const ir_value *v) {
    const run_state *s = c->lookup_ctx;
    if (v->id < 0 || v->id >= s->m->nslots) return NULL;
    if (v->konst) return &s->m->consts[v->id];
    const rt_val *r = &s->vals[v->id];
    return r->t.data ? r : NULL;
}

typedef struct { int64_t sym, size; } sym_binding;

static int check_input(const ir_value *v, const rt_tensor *t, sym_binding *syms, int *nsyms, pc_err *e) {
    const ir_type *ty = &v->type;
    char want[256], got[256];
    ir_type_str(ty, want, sizeof want);
    if (t->rank < 0 || t->rank > IR_MAX_RANK)
        return pc_fail(e, PC_E_VALUE, "input '%s': rank %d is not supported (expected %s)", v->name, t->rank, want);
    ir_type gt = ir_tensor_type(t->dtype, t->rank, t->dims);
    ir_type_str(&gt, got, sizeof got);
    if (t->dtype != ty->dtype)
        return pc_fail(e, PC_E_VALUE, "input '%s': expected dtype %s, got %s (%s)", v->name, ir_dtype_name(ty->dtype),
                       ir_dtype_name(t->dtype), got);
    if (ty->rank >= 0 && t->rank != ty->rank)
        return pc_fail(e, PC_E_VALUE, "input '%s': expected rank %d (%s), got rank %d (%s)", v->name, ty->rank, want,
                       t->rank, got);
    for (int k = 0; ty->rank >= 0 && k < t->rank; k++) {
        int64_t d = ty->dims[k], g = t->dims[k];
        if (g < 0) return pc_fail(e, PC_E_VALUE, "input '%s': negative dim %d", v->name, k);
        if (d >= 0) {
            if (d != g)
                return pc_fail(e, PC_E_VALUE, "input '%s': expected shape %s, got %s (dim %d is %lld, must be %lld)",
                               v->name, want, got, k, (long long)g, (long long)d);
            continue;
        }
        int found = 0;
        for (int s = 0; s < *nsyms; s++) {
            if (syms[s].sym != d) continue;
            found = 1;
            if (syms[s].size != g)
                return pc_fail(e, PC_E_VALUE,
                               "input '%s': dim %d is %lld but symbol s%lld is already bound to %lld by an earlier dim "
                               "(expected %s, got %s)",
                               v->name, k, (long long)g, (long long)(-d - 1), (long long)syms[s].size, want, got);
        }
        if (!found) {
            syms[*nsyms].sym = d;
            syms[*nsyms].size = g;
            (*nsyms)++;
        }
    }
    if (!t->data && rt_numel(t) > 0) return pc_fail(e, PC_E_VALUE, "input '%s' has no data", v->name);
    return 0;
}

static int copy_tensor(rt_tensor *dst, const rt_tensor *src, pc_err *e) {
    *dst = *src;
    size_t nb = (size_t)rt_numel(src) * ir_dtype_size(src->dtype);
    dst->data = malloc(nb ? nb : 1);
    if (!dst->data) return pc_fail(e, PC_E_NOMEM, "out of memory copying an output");
    if (nb) memcpy(dst->data, src->data, nb);
    dst->owned = 1;
    return 0;
}

/* Run the steps of one block plan on the shared slot table. */
static int exec_plan(run_state *st, const rt_plan *p, pc_err *e) {
    rt_val *vals = st->vals;
    for (int s = 0; s < p->nsteps; s++) {
        const ir_op *op = p->steps[s];
        rt_tensor outs[RT_MAX_OUTS];
        memset(outs, 0, sizeof(rt_tensor) * (size_t)PC_MIN(op->nout, RT_MAX_OUTS));
        if (run_op(op, run_lookup, st, outs, st->pool, e, p->subs[s])) return -1;
        for (int i = 0; i < op->nout; i++) {
            rt_val *slot = &vals[op->out[i]->id];
            release_to(st->pool, &slot->t); /* a loop body's value from the previous iteration */
            slot->t = outs[i];
            slot->f32 = NULL;
            if (st->obs && st->obs->fn(st->obs->ud, op->out[i], &slot->t))
                return pc_fail(e, PC_E_NOMEM, "out of memory keeping the value of '%s'", op->out[i]->name);
        }
        for (int k = p->free_start[s]; k < p->free_start[s + 1]; k++) release_to(st->pool, &vals[p->free_ids[k]].t);
    }
    return 0;
}

/* Run nested block k of the current op (see rt_internal.h). */
int rt_block_run(rt_ctx *c, int k, int nin, const rt_tensor *in, rt_tensor *out) {
    if (!c->sub || k < 0 || k >= c->op->nblocks || !c->sub[k]) return rt_fail(c, "internal: block %d has no plan", k);
    run_state *st = c->lookup_ctx;
    const rt_plan *p = c->sub[k];
    const ir_block *b = p->b;
    if (nin != b->nin) return rt_fail(c, "internal: block %d takes %d inputs, got %d", k, b->nin, nin);
    for (int i = 0; i < b->nin; i++) {
        rt_val *slot = &st->vals[b->in[i]->id];
        slot->t = in[i];
        slot->t.owned = 0;
        slot->f32 = NULL;
    }
    for (int i = 0; i < b->nout; i++) memset(&out[i], 0, sizeof out[i]);
    int r = exec_plan(st, p, c->e);
    int done = 0;
    for (; !r && done < b->nout; done++) {
        const ir_value *v = b->out[done];
        int dup = -1;
        for (int j = 0; j < done; j++)
            if (b->out[j] == v) dup = j;
        rt_val *src = v->konst ? &st->m->consts[v->id] : &st->vals[v->id];
        if (dup >= 0) {
            r = copy_tensor(&out[done], &out[dup], c->e);
        } else if (!src->t.data) {
            r = rt_fail(c, "internal: output %d of block %d ('%s') was not computed", done, k, v->name);
        } else if (src->t.owned && v->def && v->def->parent == b) {
            out[done] = src->t; /* hand over */
            src->t.owned = 0;
            src->t.data = NULL;
        } else {
            r = copy_tensor(&out[done], &src->t, c->e);
        }
    }
    if (r)
        for (int i = 0; i < done; i++) rt_tensor_release(&out[i]);
    for (int i = 0; i < b->nin; i++) memset(&st->vals[b->in[i]->id], 0, sizeof(rt_val));
    return r ? -1 : 0;
}

int rt_run(rt_model *m, const rt_tensor *inputs, rt_tensor *outputs, pc_err *e) {
    return rt_run_observed(m, inputs, outputs, NULL, e);
}

int rt_run_observed(rt_model *m, const rt_tensor *inputs, rt_tensor *outputs, const rt_observer *obs, pc_err *e) {
    static uint64_t empty_input[1];
    const ir_function *fn = m->fn;
    for (int i = 0; i < m->nout; i++) memset(&outputs[i], 0, sizeof outputs[i]);
    sym_binding syms[IR_MAX_RANK * 64];
    int nsyms = 0;
    if (fn->nin > 64) {
        /* symbol table sized for 64 inputs; more inputs only check known dims */
    }
    rt_val *vals = calloc((size_t)(m->nslots ? m->nslots : 1), sizeof(rt_val));
    rt_bufpool *pool = calloc(1, sizeof *pool);
    if (!vals || !pool) {
        free(vals);
        free(pool);
        return pc_fail(e, PC_E_NOMEM, "out of memory starting a run");
    }
    int r = 0;
    for (int i = 0; i < fn->nin; i++) {
        const ir_value *v = fn->in[i];
        if (nsyms > (int)PC_ARRAY_LEN(syms) - IR_MAX_RANK) nsyms = 0;
        if (check_input(v, &inputs[i], syms, &nsyms, e)) {
            r = -1;
            goto done;
        }
        vals[v->id].t = inputs[i];
        vals[v->id].t.owned = 0;
        if (!vals[v->id].t.data) vals[v->id].t.data = empty_input;
    }
    run_state st = {m, vals, pool, obs && obs->fn ? obs : NULL};
    if (exec_plan(&st, m->top, e)) {
        r = -1;
        goto done;
    }
    for (int i = 0; i < m->nout; i++) {
        const ir_value *v = m->outs[i];
        rt_val *src = v->konst ? &m->consts[v->id] : &vals[v->id];
        if (src->t.owned) {
            outputs[i] = src->t; /* hand over; a repeated output is copied from it below */
            src->t.owned = 0;
        } else if (copy_tensor(&outputs[i], &src->t, e)) {
            r = -1;
            goto done;
        }
    }
done:
    if (r)
        for (int i = 0; i < m->nout; i++) rt_tensor_release(&outputs[i]);
    for (int i = 0; i < m->nslots; i++)
        if (vals[i].t.owned) free(vals[i].t.data);
    free(vals);
    rt_pool_clear(pool);
    free(pool);
    return r;
}

/* ---- single op on constants ---- */
typedef struct eval_state {
    int n;
    const ir_value **v;
    rt_val *vals;
} eval_state;

static const rt_val *eval_lookup(rt_ctx *c, const ir_value *v) {
    const eval_state *s = c->lookup_ctx;
    for (int i = 0; i < s->n; i++)
        if (s->v[i] == v) return &s->vals[i];
    return NULL;
}

int rt_eval_op(const ir_op *op, rt_tensor *outputs, pc_err *e) {
    for (int i = 0; i < op->nout; i++) memset(&outputs[i], 0, sizeof outputs[i]);
    if (op->kind == IR_OP_UNKNOWN || op->nblocks)
        return pc_fail(e, PC_E_UNSUPPORTED, "cannot evaluate op '%s' (%s)", op->name, op->type_name ? op->type_name : "?");
    int n = 0;
    for (int i = 0; i < op->nin; i++) n += op->in[i].n;
    eval_state st;
    st.n = 0;
    st.v = calloc((size_t)(n ? n : 1), sizeof(ir_value *));
    st.vals = calloc((size_t)(n ? n : 1), sizeof(rt_val));
    int cap = RT_CONST_ALLOCS * (n ? n : 1);
    void **allocs = calloc((size_t)cap, sizeof(void *));
    int nallocs = 0, r = 0;
    if (!st.v || !st.vals || !allocs) {
        r = pc_fail(e, PC_E_NOMEM, "out of memory evaluating op '%s'", op->name);
        goto done;
    }
    for (int i = 0; i < op->nin && !r; i++) {
        for (int j = 0; j < op->in[i].n; j++) {
            const ir_value *v = op->in[i].v[j];
            if (!v || !v->konst) {
                r = pc_fail(e, PC_E_VALUE, "cannot evaluate op '%s' (%s): input '%s' is not a constant", op->name,
                            op->type_name ? op->type_name : "?", op->in[i].name);
                break;
            }
            int seen = 0;
            for (int k = 0; k < st.n; k++) seen |= st.v[k] == v;
            if (seen) continue;
            if (rt_const_value(v, &st.vals[st.n], allocs, &nallocs, cap, e)) {
                r = -1;
                break;
            }
            st.v[st.n++] = v;
        }
    }
    if (!r && op->nout > RT_MAX_OUTS) r = pc_fail(e, PC_E_UNSUPPORTED, "op '%s' has too many outputs", op->name);
    if (!r) r = run_op(op, eval_lookup, &st, outputs, NULL, e, NULL);
done:
    for (int i = 0; i < nallocs; i++) free(allocs[i]);
    free(allocs);
    free(st.v);
    free(st.vals);
    return r;
}

/* The const op itself (rt_eval_op on a const, or a const reached as a step). */
int rt_k_CONST(rt_ctx *c) {
    for (int i = 0; i < c->op->nout; i++) {
        const ir_value *v = c->op->out[i];
        void *al[RT_CONST_ALLOCS];
        int na = 0;
        rt_val cv;
        int r = rt_const_value(v, &cv, al, &na, RT_CONST_ALLOCS, c->e);
        void *d = r ? NULL : rt_out(c, i, cv.t.rank, cv.t.dims, cv.t.dtype);
        if (d) memcpy(d, cv.t.data, (size_t)rt_numel(&cv.t) * ir_dtype_size(cv.t.dtype));
        for (int k = 0; k < na; k++) free(al[k]);
        if (!d) return -1;
    }
    return 0;
}

void rt_set_num_threads(int n) {
    rt_threads_set(n); /* BLAS stays at one thread: rt_sgemm splits GEMMs over ours */
}
