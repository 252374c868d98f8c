/* pass_util.c: helpers shared by the passes (see pass_util.h). */
#include "passes/pass_util.h"

#include <string.h>

static int name_in_block(const ir_block *b, const char *name) {
    for (int i = 0; i < b->nin; i++)
        if (strcmp(b->in[i]->name, name) == 0) return 1;
    for (const ir_op *op = b->first; op; op = op->next) {
        for (int i = 0; i < op->nout; i++)
            if (strcmp(op->out[i]->name, name) == 0) return 1;
        for (int k = 0; k < op->nblocks; k++)
            if (name_in_block(op->blocks[k], name)) return 1;
    }
    return 0;
}

int pass_name_used(ir_function *fn, const char *name) {
    for (int i = 0; i < fn->nin; i++)
        if (strcmp(fn->in[i]->name, name) == 0) return 1;
    return name_in_block(fn->body, name);
}

const char *pass_unique_name(ir_function *fn, const char *base) {
    pc_arena *a = fn->prog->arena;
    if (!pass_name_used(fn, base)) return pc_strdup(a, base);
    for (int i = 1;; i++) {
        const char *s = pc_sprintf(a, "%s_%d", base, i);
        if (!s || !pass_name_used(fn, s)) return s;
    }
}

ir_value *pass_const_before(ir_op *pos, const char *name, ir_type t, ir_dtype store, const void *data) {
    ir_value *v = ir_const_new(pos->prog, NULL, name, t, store, data, 1);
    if (!v) return NULL;
    ir_op_insert_before(pos, v->def);
    return v;
}

void pass_swap_name(ir_value *to, ir_value *from, const char *from_new) {
    const char *name = from->name;
    if (from->def && from->def->name && strcmp(from->def->name, name) == 0 && from_new) from->def->name = from_new;
    if (from_new) from->name = from_new;
    if (to->def && to->def->name && strcmp(to->def->name, to->name) == 0) to->def->name = name;
    to->name = name;
    to->user_named = from->user_named;
    from->user_named = 0;
}

ir_value *pass_const_input(const ir_op *op, const char *name) {
    ir_value *v = ir_op_input(op, name);
    return (v && v->konst) ? v : NULL;
}

static int out_of_block(const ir_block *b, const ir_value *v) {
    for (int i = 0; i < b->nout; i++)
        if (b->out[i] == v) return 1;
    for (const ir_op *op = b->first; op; op = op->next)
        for (int k = 0; k < op->nblocks; k++)
            if (out_of_block(op->blocks[k], v)) return 1;
    return 0;
}

int pass_is_block_output(ir_function *fn, const ir_value *v) { return out_of_block(fn->body, v); }

static int fuse_after_conv(ir_function *fn, ir_block *blk, pass_conv_user user, pass_conv_fuse fuse, pc_err *e) {
    for (ir_op *op = blk->first; op; op = op->next) {
        for (int k = 0; k < op->nblocks; k++)
            if (fuse_after_conv(fn, op->blocks[k], user, fuse, e)) return -1;
        if (op->kind != IR_OP_CONV || op->nout != 1 || op->out[0]->nuses != 1) continue;
        ir_op *u = user(op);
        if (u && fuse(fn, op, u, e) < 0) return -1;
    }
    return 0;
}

int pass_fuse_after_conv(ir_function *fn, pass_conv_user user, pass_conv_fuse fuse, pc_err *e) {
    ir_count_uses(fn);
    return fuse_after_conv(fn, fn->body, user, fuse, e);
}
