/* control.c: kernels of the control-flow ops, cond and while_loop (MIL iOS15).
 *
 * cond runs its true block (blocks[0]) when the bool scalar `pred` is true, else
 * its false block, and returns that block's outputs. while_loop holds the current
 * loop vars (owned copies), runs the cond block on them and, while it returns
 * true, runs the body block and takes its outputs as the next loop vars. Shapes
 * come from the tensors themselves, so a loop var may grow between iterations;
 * the op's outputs are checked against its declared types (rank, known dims).
 */
#include "runtime/rt_internal.h"

static void release_all(rt_tensor *t, int n) {
    for (int i = 0; i < n; i++) rt_tensor_release(&t[i]);
}

static int dup_tensor(rt_ctx *c, rt_tensor *dst, const rt_tensor *src) {
    *dst = *src;
    size_t nb = (size_t)rt_numel(src) * ir_dtype_size(src->dtype);
    dst->data = malloc(nb ? nb : 1);
    dst->owned = 1;
    if (!dst->data) {
        dst->owned = 0;
        return rt_fail_nomem(c, "copying a loop var");
    }
    if (nb) memcpy(dst->data, src->data, nb);
    return 0;
}

/* Read a bool scalar (any numeric dtype, one element). */
static int read_flag(rt_ctx *c, const rt_tensor *t, const char *what, int *out) {
    if (!t || rt_numel(t) != 1 || t->dtype == IR_STRING) return rt_fail(c, "%s must be one bool", what);
    int64_t v = 0;
    rt_convert(&v, IR_INT64, t->data, t->dtype, 1);
    *out = v != 0;
    return 0;
}

/* Hand res[0..n) to the op's outputs after checking them against the declared types. */
static int set_outputs(rt_ctx *c, rt_tensor *res, int n) {
    const ir_op *op = c->op;
    for (int i = 0; i < n; i++) {
        const ir_type *ty = &op->out[i]->type;
        if (res[i].dtype != ty->dtype || !rt_fits_type(ty, res[i].rank, res[i].dims)) {
            char a[200], b[200];
            ir_type got = ir_tensor_type(res[i].dtype, res[i].rank, res[i].dims);
            rt_fail(c, "output %d ('%s') is %s but the program declares %s", i, op->out[i]->name,
                    ir_type_str(&got, a, sizeof a), ir_type_str(ty, b, sizeof b));
            release_all(res, n);
            return -1;
        }
    }
    for (int i = 0; i < n; i++) c->outs[i] = res[i];
    return 0;
}

int rt_k_COND(rt_ctx *c) {
    int pred;
    int n = c->op->nout;
    if (n > RT_MAX_OUTS) return rt_fail(c, "cond with %d outputs (at most %d)", n, RT_MAX_OUTS);
    if (read_flag(c, rt_in_req(c, "pred"), "pred", &pred)) return -1;
    rt_tensor res[RT_MAX_OUTS];
    if (c->op->nblocks != 2 || c->op->blocks[pred ? 0 : 1]->nout != n) return rt_fail(c, "malformed cond");
    if (rt_block_run(c, pred ? 0 : 1, 0, NULL, res)) return -1;
    return set_outputs(c, res, n);
}

int rt_k_WHILE_LOOP(rt_ctx *c) {
    const ir_op *op = c->op;
    int n = rt_in_count(c, "loop_vars");
    if (n != op->nout || n > RT_MAX_OUTS || op->nblocks != 2 || op->blocks[0]->nout != 1 || op->blocks[1]->nout != n)
        return rt_fail(c, "malformed while_loop (%d loop vars, %d outputs)", n, op->nout);
    rt_tensor cur[RT_MAX_OUTS], nxt[RT_MAX_OUTS], flag;
    int have = 0;
    for (; have < n; have++) {
        const rt_tensor *t = rt_in_at(c, "loop_vars", have);
        if (!t) {
            rt_fail(c, "loop var %d is missing", have);
            goto fail;
        }
        if (dup_tensor(c, &cur[have], t)) goto fail;
    }
    for (;;) {
        int go;
        if (rt_block_run(c, 0, n, cur, &flag)) goto fail;
        int r = read_flag(c, &flag, "the cond block's result", &go);
        rt_tensor_release(&flag);
        if (r) goto fail;
        if (!go) break;
        if (rt_block_run(c, 1, n, cur, nxt)) goto fail;
        release_all(cur, n);
        memcpy(cur, nxt, sizeof(rt_tensor) * (size_t)n);
    }
    return set_outputs(c, cur, n);
fail:
    release_all(cur, have);
    return -1;
}
