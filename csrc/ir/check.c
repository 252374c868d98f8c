/* check.c: structural invariants of a program (ir_check, see ir.h).
 *
 * Per function: value names are unique (inputs, block inputs, op outputs);
 * every op input is bound to a value defined earlier in an enclosing scope (a
 * value defined inside a nested block is not visible after it); block and
 * function outputs are bound and in scope; op lists are linked consistently;
 * outputs point back at their op; a const has one output whose payload count
 * matches its static type; known ops have the parameters their ops.def row marks
 * required (ir_op_sig). Failures are PC_E_INTERNAL.
 */
#include "ir/ir.h"
#include "ir/symtab.h"

#include <string.h>

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
        const ir_opsig *sig = ir_op_sig(op->kind);
        for (int r = 0; r < sig->nparams; r++)
            if (sig->params[r].required && !ir_op_arg(op, sig->params[r].name))
                return cfail(c, op, "missing required input '%s'", sig->params[r].name, NULL);
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
