/* state.c: the states of a stateful model (iOS18), as coremltools lowers registered buffers a model
 * mutates in place. Each state is a graph input after the regular ones (the frontend replaced the
 * buffer's reads by it) and a function input of type state<fp16[...]>. Its value at the start is
 * read_state, cast to the buffer's dtype; in-place ops and slice assignments on it rebind the graph
 * value as they do for any tensor (lower_node, view.c), so at the end the value it is bound to is the
 * buffer's new content: when that differs from what was read, it is cast back to fp16 and written
 * with write_state. (coremltools writes after each in-place op, coreml_update_state = write_state +
 * read_state; one write of the last value leaves the state and every output the same.) */
#include "lower/build.h"

#include <string.h>

int lower_states_begin(lower_ctx *cx, int first) {
    const lower_opts *o = cx->o;
    if (o->nstates <= 0) return 0;
    cx->state_read = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)o->nstates);
    cx->state_in = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)o->nstates);
    if (!cx->state_read || !cx->state_in) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int i = 0; i < o->nstates; i++) {
        const lower_state *ls = &o->states[i];
        const ts_value *tv = cx->g->top->in[first + i];
        if (tv->ty != TS_TY_TENSOR)
            return pc_fail(cx->e, PC_E_CONVERT, "state '%s' is not a tensor in the graph", ls->name);
        if (!ls->name || lower_names_has(cx, ls->name))
            return pc_fail(cx->e, PC_E_VALUE, "state name '%s' is already used by an input", ls->name ? ls->name : "?");
        ir_value *s = ir_function_add_input(cx->fn, ls->name, ls->type);
        if (!s || lower_names_add(cx, s->name, s)) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        cx->node = NULL;
        cx->base = s->name;
        cx->loc = pc_sprintf(cx->p->arena, "reading state '%s'", s->name);
        ir_op *rd = lb_op(cx, IR_OP_READ_STATE, "read");
        if (!rd || ir_op_set_input(rd, "input", s)) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        ir_value *v = lb_finish(cx, rd);
        cx->state_in[i] = s;
        if (v && ls->graph_dtype != v->type.dtype) v = lb_cast(cx, v, ls->graph_dtype, "cast");
        if (!v || !(cx->vals[tv->id] = lv_tensor(cx, v))) return -1;
        cx->state_read[i] = v;
    }
    return 0;
}

int lower_states_end(lower_ctx *cx, int first) {
    const lower_opts *o = cx->o;
    for (int i = 0; i < o->nstates; i++) {
        const ts_value *tv = cx->g->top->in[first + i];
        ir_value *s = cx->state_in[i];
        lv *l = cx->vals[tv->id];
        if (l && l->kind == LV_TENSOR && l->v == cx->state_read[i]) continue; /* only read */
        cx->node = NULL;
        cx->base = s->name;
        cx->loc = pc_sprintf(cx->p->arena, "writing state '%s'", s->name);
        if (!l || l->kind != LV_TENSOR)
            return pc_fail(cx->e, PC_E_CONVERT, "state '%s' ends up bound to a %s, not a tensor", s->name,
                           l ? lv_kind_name(l->kind) : "nothing");
        ir_value *v = l->v;
        char want[128], got[128];
        if (v->type.rank != s->type.rank || memcmp(v->type.dims, s->type.dims, sizeof(int64_t) * (size_t)v->type.rank))
            return pc_fail(cx->e, PC_E_CONVERT, "the model writes %s into state '%s', which holds %s",
                           ir_type_str(&v->type, got, sizeof got), s->name, ir_type_str(&s->type, want, sizeof want));
        if (v->type.dtype != s->type.dtype && !(v = lb_cast(cx, v, s->type.dtype, "to_state"))) return -1;
        const char *nm = lower_name(cx, "write_state");
        ir_op *wr = nm ? ir_op_new(cx->p, cx->b, IR_OP_WRITE_STATE, nm) : NULL;
        if (!wr || ir_op_set_input(wr, "input", s) || ir_op_set_input(wr, "data", v))
            return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        wr->loc = cx->loc;
        if (ir_infer(cx->p, wr, cx->e)) return -1;
    }
    return 0;
}
