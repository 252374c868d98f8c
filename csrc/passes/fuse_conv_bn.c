/* fuse_conv_bn.c: conv -> batch_norm (constant statistics) becomes one conv.
 *
 * With s[o] = gamma[o] / sqrt(variance[o] + epsilon):
 *   weight'[o, ...] = weight[o, ...] * s[o]
 *   bias'[o]        = (bias[o] - mean[o]) * s[o] + beta[o]
 * Requires: conv weight (and bias, if any) and all batch_norm params constant,
 * float; the conv output used only by the batch_norm; weight [Cout, Cin/g, *K].
 * Keeps: the batch_norm output's name (the conv's output takes it), the conv's
 * other params and the weights' logical dtype. The new weight shares the old
 * payload (often a torch tensor read in place) and carries s as a per-channel
 * scale (ir_const.scale), so folding copies no weights; the new bias is in the arena. Breaks: nothing; the old weight/bias consts are left for dead_code.
 */
#include "passes/pass_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Read a float const of exactly n elements into dst (or fill with dflt when v is NULL). */
static int read_vec(const ir_value *v, int64_t n, float dflt, float *dst) {
    if (!v) {
        for (int64_t i = 0; i < n; i++) dst[i] = dflt;
        return 0;
    }
    if (!v->konst || !ir_dtype_is_float(v->type.dtype) || v->konst->count != n) return -1;
    ir_const_read_f32(v->konst, dst);
    return 0;
}

static int fuse_one(ir_function *fn, ir_op *conv, ir_op *bn, pc_err *e) {
    pc_arena *a = fn->prog->arena;
    ir_value *w = pass_const_input(conv, "weight"), *b = ir_op_input(conv, "bias");
    if (!w || !ir_dtype_is_float(w->type.dtype) || w->type.rank < 3 || (b && !b->konst)) return 0;
    int64_t cout = w->type.dims[0], per = w->konst->count / (cout ? cout : 1);
    ir_value *eps_v = ir_op_input(bn, "epsilon");
    if (eps_v && (!eps_v->konst || eps_v->konst->count != 1)) return 0;
    double eps = eps_v ? ir_const_get_f64(eps_v->konst, 0) : 1e-5;
    float *mean = pc_alloc(a, sizeof(float) * (size_t)cout * 5), *var = mean + cout, *gamma = var + cout,
          *beta = gamma + cout, *bias = beta + cout;
    float *scale = pc_alloc(a, sizeof(float) * (size_t)(cout ? cout : 1));
    if (!mean || !scale) return pc_fail(e, PC_E_NOMEM, "fuse_conv_bn: out of memory");
    if (read_vec(ir_op_input(bn, "mean"), cout, 0, mean) || read_vec(ir_op_input(bn, "variance"), cout, 1, var) ||
        read_vec(ir_op_input(bn, "gamma"), cout, 1, gamma) || read_vec(ir_op_input(bn, "beta"), cout, 0, beta) ||
        read_vec(b, cout, 0, bias) || !ir_op_input(bn, "mean") || !ir_op_input(bn, "variance"))
        return 0;
    const ir_const *wk = w->konst;
    if (wk->scale && wk->scale_inner != per) return 0; /* scaled along another split: leave it */
    for (int64_t o = 0; o < cout; o++) {
        double s = gamma[o] / sqrt((double)var[o] + eps);
        scale[o] = (float)(s * (wk->scale ? wk->scale[o] : 1.0));
        bias[o] = (float)((bias[o] - mean[o]) * s + beta[o]);
    }
    ir_type bt = ir_tensor_type(w->type.dtype, 1, &cout);
    /* The fused weight shares the original payload and carries the per-channel scale
     * (applied by every reader), so no copy of the weights is made. */
    ir_value *nw = ir_const_new(fn->prog, NULL, pass_unique_name(fn, pc_sprintf(a, "%s_weight_fused", conv->name)),
                                w->type, wk->store, wk->data, 0);
    if (nw) {
        nw->konst->scale = scale;
        nw->konst->scale_inner = per ? per : 1;
        ir_op_insert_before(conv, nw->def);
    }
    ir_value *nb = nw ? pass_const_before(conv, pass_unique_name(fn, pc_sprintf(a, "%s_bias_fused", conv->name)),
                                          bt, IR_FP32, bias)
                      : NULL;
    if (!nb || ir_op_set_input(conv, "weight", nw) || ir_op_set_input(conv, "bias", nb))
        return pc_fail(e, PC_E_NOMEM, "fuse_conv_bn: out of memory");
    ir_value *y = conv->out[0], *z = bn->out[0];
    ir_replace_uses(fn, z, y);
    ir_op_unlink(bn);
    pass_swap_name(y, z, NULL);
    return 1;
}

/* The batch_norm after conv (in its block) whose x, and only x, is conv's output. */
static ir_op *bn_user(ir_op *conv) {
    ir_op *bn = conv->next; /* the one user; find it in this block */
    while (bn && !(bn->kind == IR_OP_BATCH_NORM && ir_op_input(bn, "x") == conv->out[0])) bn = bn->next;
    if (!bn || bn->nout != 1 || !ir_type_equal(&bn->out[0]->type, &conv->out[0]->type)) return NULL;
    int uses = 0; /* the conv output must be bn's x only */
    for (int i = 0; i < bn->nin; i++)
        for (int j = 0; j < bn->in[i].n; j++) uses += bn->in[i].v[j] == conv->out[0];
    return uses == 1 ? bn : NULL;
}

int pass_fuse_conv_bn(ir_function *fn, pc_err *e) { return pass_fuse_after_conv(fn, bn_user, fuse_one, e); }
