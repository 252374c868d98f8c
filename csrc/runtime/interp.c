/* interp.c: plan (rt_prepare) and execute (rt_run, rt_eval_op) ML Program functions.
 *
 * Plan: constants are converted once into their logical dtype (plus an fp32 view
 * for float constants); the body's non-const ops become steps in program order;
 * each value gets the step after which it is dead, so rt_run frees intermediates
 * as soon as they are no longer needed. Slots are indexed by value id.
 * rt_run keeps all of its state on its own stack/heap: the model is read-only.
 */
#include "runtime/rt_internal.h"

#include <cblas.h>
#include <stdio.h>

struct rt_model {
    ir_program *prog;
    ir_function *fn;
    int nslots;           /* value ids < nslots */
    rt_val *consts;       /* [nslots]: prepared constants (by value id) */
    void **allocs;        /* buffers owned by the model */
    int nallocs, capallocs;
    int nsteps;
    const ir_op **steps;
    int *free_start;      /* [nsteps + 1]: CSR index into free_ids */
    int *free_ids;        /* value ids released after each step */
    int nout;
    const ir_value **outs;
};

/* ---- dispatch: one case per op kind, generated from ops.def ---- */
static int dispatch(rt_ctx *c) {
    switch (c->op->kind) {
#define IR_OP(E, NAME)                                                                                  \
    case IR_OP_##E: return rt_k_##E(c);
#include "ir/ops.def"
#undef IR_OP
    case IR_OP_UNKNOWN: break;
    }
    return rt_fail(c, "unsupported op type '%s'", c->op->type_name ? c->op->type_name : "?");
}

/* Run one op: kernel, output checks, pending dtype conversions, scratch release.
 * On failure every output is released and the message names the op. */
static int run_op(const ir_op *op, const rt_val *(*lookup)(rt_ctx *, const ir_value *), void *lctx,
                  rt_tensor *outs, pc_err *e) {
    rt_ctx c;
    memset(&c, 0, sizeof c);
    c.op = op;
    c.e = e;
    c.lookup = lookup;
    c.lookup_ctx = lctx;
    c.outs = outs;
    int r = 0;
    if (op->nout > RT_MAX_OUTS) r = rt_fail(&c, "op has %d outputs (at most %d supported)", op->nout, RT_MAX_OUTS);
    if (!r) r = dispatch(&c);
    for (int i = 0; !r && i < op->nout; i++) {
        if (!outs[i].data) r = rt_fail(&c, "internal: kernel did not produce output %d", i);
        else if (c.pending[i]) rt_convert(outs[i].data, outs[i].dtype, c.pending[i], c.pending_dt[i], rt_numel(&outs[i]));
    }
    for (int i = 0; i < c.nscratch; i++) free(c.scratch[i]);
    if (c.scratch != c.scratch0) free(c.scratch);
    if (r) {
        for (int i = 0; i < op->nout; i++) rt_tensor_release(&outs[i]);
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
int rt_const_value(const ir_value *v, rt_val *out, void **allocs, int *nallocs, pc_err *e) {
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
        float *f = malloc(n ? (size_t)n * sizeof(float) : 1);
        if (!f) return pc_fail(e, PC_E_NOMEM, "out of memory converting constant '%s'", v->name);
        allocs[(*nallocs)++] = f;
        ir_const_read_f32(k, f);
        if (dt == IR_FP32) {
            out->t.data = f;
        } else {
            void *d = malloc(n ? (size_t)n * ir_dtype_size(dt) : 1);
            if (!d) return pc_fail(e, PC_E_NOMEM, "out of memory converting constant '%s'", v->name);
            allocs[(*nallocs)++] = d;
            rt_convert(d, dt, f, IR_FP32, n); /* rounds through fp16 for fp16 values */
            out->t.data = d;
        }
    } else {
        void *d = malloc(n ? (size_t)n * ir_dtype_size(dt) : 1);
        if (!d) return pc_fail(e, PC_E_NOMEM, "out of memory converting constant '%s'", v->name);
        allocs[(*nallocs)++] = d;
        /* fp32-stored fp16 constants are rounded through fp16 here */
        rt_convert(d, dt, k->data, k->store, n);
        out->t.data = d;
    }
    if (dt == IR_FP32) {
        out->f32 = out->t.data;
    } else if (ir_dtype_is_float(dt)) {
        float *f = malloc(n ? (size_t)n * sizeof(float) : 1);
        if (!f) return pc_fail(e, PC_E_NOMEM, "out of memory converting constant '%s'", v->name);
        allocs[(*nallocs)++] = f;
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
    free(m->steps);
    free(m->free_start);
    free(m->free_ids);
    free(m->outs);
    free(m);
}

static int value_ok(const rt_model *m, const ir_value *v, const char *who, pc_err *e) {
    if (!v) return pc_fail(e, PC_E_RUNTIME, "%s: missing value", who);
    if (v->id < 0 || v->id >= m->nslots) return pc_fail(e, PC_E_RUNTIME, "%s: value '%s' has a bad id", who, v->name);
    return 0;
}

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
    int nops = 0;
    for (const ir_op *op = fn->body->first; op; op = op->next) nops++;
    m->consts = calloc((size_t)n, sizeof(rt_val));
    m->steps = calloc((size_t)(nops ? nops : 1), sizeof(ir_op *));
    int *lastuse = malloc(sizeof(int) * (size_t)n);
    char *state = calloc((size_t)n, 1); /* 0 undefined, 1 input, 2 const, 3 produced */
    const ir_block *body = fn->body;
    m->nout = body->nout;
    m->outs = calloc((size_t)(body->nout ? body->nout : 1), sizeof(ir_value *));
    if (!m->consts || !m->steps || !lastuse || !state || !m->outs) {
        pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
        goto fail;
    }
    for (int i = 0; i < n; i++) lastuse[i] = -1;
    for (int i = 0; i < fn->nin; i++) {
        if (value_ok(m, fn->in[i], "function input", e)) goto fail;
        if (fn->in[i]->type.kind != IR_TK_TENSOR) {
            pc_fail(e, PC_E_UNSUPPORTED, "function input '%s' is not a tensor", fn->in[i]->name);
            goto fail;
        }
        state[fn->in[i]->id] = 1;
    }
    for (const ir_op *op = body->first; op; op = op->next) {
        const char *tn = op->type_name ? op->type_name : ir_op_kind_name(op->kind);
        if (op->kind == IR_OP_UNKNOWN || op->kind < 0 || op->kind > IR_OP_COUNT) {
            pc_fail(e, PC_E_UNSUPPORTED, "the runtime cannot run op '%s': unknown op type '%s'", op->name, tn);
            goto fail;
        }
        if (op->nblocks) {
            pc_fail(e, PC_E_UNSUPPORTED, "the runtime cannot run op '%s' (%s): ops with nested blocks are not supported yet",
                    op->name, tn);
            goto fail;
        }
        if (op->kind == IR_OP_CONST) {
            for (int i = 0; i < op->nout; i++) {
                const ir_value *v = op->out[i];
                if (value_ok(m, v, op->name, e)) goto fail;
                void *al[2];
                int na = 0;
                int r = rt_const_value(v, &m->consts[v->id], al, &na, e);
                for (int k = 0; k < na; k++)
                    if (model_hold(m, al[k])) {
                        for (int j = k; j < na; j++) free(al[j]);
                        pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
                        goto fail;
                    }
                if (r) goto fail;
                state[v->id] = 2;
            }
            continue;
        }
        int step = m->nsteps;
        for (int i = 0; i < op->nin; i++) {
            for (int j = 0; j < op->in[i].n; j++) {
                const ir_value *v = op->in[i].v[j];
                if (value_ok(m, v, op->name, e)) goto fail;
                if (!state[v->id]) {
                    pc_fail(e, PC_E_RUNTIME, "op '%s' (%s): input '%s' (%s) is used before it is defined", op->name, tn,
                            op->in[i].name, v->name);
                    goto fail;
                }
                lastuse[v->id] = step;
            }
        }
        for (int i = 0; i < op->nout; i++) {
            if (value_ok(m, op->out[i], op->name, e)) goto fail;
            if (op->out[i]->type.kind != IR_TK_TENSOR && !(op->kind == IR_OP_CLASSIFY && op->out[i]->type.kind == IR_TK_DICT)) {
                pc_fail(e, PC_E_UNSUPPORTED, "op '%s' (%s): list outputs are not supported", op->name, tn);
                goto fail;
            }
            state[op->out[i]->id] = 3;
            lastuse[op->out[i]->id] = step; /* dead right away unless used later */
        }
        m->steps[m->nsteps++] = op;
    }
    for (int i = 0; i < body->nout; i++) {
        const ir_value *v = body->out[i];
        if (value_ok(m, v, "function output", e)) goto fail;
        if (!state[v->id]) {
            pc_fail(e, PC_E_RUNTIME, "function output '%s' is never defined", v->name);
            goto fail;
        }
        m->outs[i] = v;
        lastuse[v->id] = m->nsteps; /* never released by the loop */
    }
    /* CSR list of produced values to release after each step */
    m->free_start = calloc((size_t)m->nsteps + 2, sizeof(int));
    int nfree = 0;
    for (int i = 0; i < n; i++)
        if (state[i] == 3 && lastuse[i] >= 0 && lastuse[i] < m->nsteps) nfree++;
    m->free_ids = malloc(sizeof(int) * (size_t)(nfree ? nfree : 1));
    if (!m->free_start || !m->free_ids) {
        pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
        goto fail;
    }
    for (int i = 0; i < n; i++)
        if (state[i] == 3 && lastuse[i] >= 0 && lastuse[i] < m->nsteps) m->free_start[lastuse[i] + 1]++;
    for (int s = 0; s < m->nsteps; s++) m->free_start[s + 1] += m->free_start[s];
    {
        int *fill = calloc((size_t)m->nsteps + 1, sizeof(int));
        if (!fill) {
            pc_fail(e, PC_E_NOMEM, "out of memory preparing the runtime");
            goto fail;
        }
        for (int i = 0; i < n; i++)
            if (state[i] == 3 && lastuse[i] >= 0 && lastuse[i] < m->nsteps)
                m->free_ids[m->free_start[lastuse[i]] + fill[lastuse[i]]++] = i;
        free(fill);
    }
    free(lastuse);
    free(state);
    *out = m;
    return 0;
fail:
    free(lastuse);
    free(state);
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
    rt_val *vals; /* [nslots] */
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

int rt_run(rt_model *m, const rt_tensor *inputs, rt_tensor *outputs, pc_err *e) {
    static uint64_t empty_input[1];
    const ir_function *fn = m->fn;
    for (int i = 0; i < m->nout; i++) memset(&outputs[i], 0, sizeof outputs[i]);
    sym_binding syms[IR_MAX_RANK * 64];
    int nsyms = 0;
    if (fn->nin > 64) {
        /* symbol table sized for 64 inputs; more inputs only check known dims */
    }
    rt_val *vals = calloc((size_t)(m->nslots ? m->nslots : 1), sizeof(rt_val));
    if (!vals) return pc_fail(e, PC_E_NOMEM, "out of memory starting a run");
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
    run_state st = {m, vals};
    for (int s = 0; s < m->nsteps; s++) {
        const ir_op *op = m->steps[s];
        rt_tensor outs[RT_MAX_OUTS];
        memset(outs, 0, sizeof(rt_tensor) * (size_t)PC_MIN(op->nout, RT_MAX_OUTS));
        if (run_op(op, run_lookup, &st, outs, e)) {
            r = -1;
            goto done;
        }
        for (int i = 0; i < op->nout; i++) vals[op->out[i]->id].t = outs[i];
        for (int k = m->free_start[s]; k < m->free_start[s + 1]; k++) rt_tensor_release(&vals[m->free_ids[k]].t);
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
    void **allocs = calloc((size_t)(2 * n + 1), sizeof(void *));
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
            if (rt_const_value(v, &st.vals[st.n], allocs, &nallocs, e)) {
                r = -1;
                break;
            }
            st.v[st.n++] = v;
        }
    }
    if (!r && op->nout > RT_MAX_OUTS) r = pc_fail(e, PC_E_UNSUPPORTED, "op '%s' has too many outputs", op->name);
    if (!r) r = run_op(op, eval_lookup, &st, outputs, e);
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
        void *al[2];
        int na = 0;
        rt_val cv;
        int r = rt_const_value(v, &cv, al, &na, c->e);
        void *d = r ? NULL : rt_out(c, i, cv.t.rank, cv.t.dims, cv.t.dtype);
        if (d) memcpy(d, cv.t.data, (size_t)rt_numel(&cv.t) * ir_dtype_size(cv.t.dtype));
        for (int k = 0; k < na; k++) free(al[k]);
        if (!d) return -1;
    }
    return 0;
}

void rt_set_num_threads(int n) {
    rt_threads_set(n);
    openblas_set_num_threads(n > 0 ? n : rt_threads());
}
