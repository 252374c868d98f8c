/* attention.c: aten::scaled_dot_product_attention (bool / float attn_mask, is_causal, scale),
 * aten::_native_multi_head_attention (nn.MultiheadAttention's inference fast path) and
 * aten::_transformer_encoder_layer_fwd (nn.TransformerEncoderLayer's), composed of
 * linear / matmul / softmax / select / layer_norm. */
#include "lower/build.h"

#include <math.h>
#include <string.h>

/* The attention scores q k^T * scale + mask (causal: -inf above the diagonal); q [.., L, E], k [.., S, E]. */
static ir_value *sdpa_scores(lower_ctx *cx, ir_value *q, ir_value *k, ir_value *mask, int causal, double scale) {
    int r = q->type.rank;
    int64_t L = q->type.dims[r - 2], S = k->type.dims[k->type.rank - 2], E = q->type.dims[r - 1];
    if (scale <= 0) {
        if (E < 0) {
            lower_fail(cx, "attention with a symbolic head size needs an explicit scale");
            return NULL;
        }
        scale = 1.0 / sqrt((double)E);
    }
    ir_value *s = lb_matmul(cx, q, k, 0, 1);
    s = lb_scalar_op(cx, IR_OP_MUL, s, scale);
    if (!s) return NULL;
    ir_dtype dt = s->type.dtype;
    if (causal) {
        if (L < 0 || S < 0) {
            lower_fail(cx, "causal attention of symbolic lengths");
            return NULL;
        }
        float *m = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(L * S > 0 ? L * S : 1));
        if (!m) return NULL;
        for (int64_t i = 0; i < L; i++)
            for (int64_t j = 0; j < S; j++) m[i * S + j] = j <= i;
        ir_value *cm = lb_const(cx, IR_BOOL, 2, (int64_t[]){L, S}, m, "causal");
        ir_value *ninf = lb_const_scalar(cx, -INFINITY, dt, "neg_inf");
        ir_op *op = lb_op(cx, IR_OP_SELECT, "causal_scores");
        if (!op || ir_op_set_input(op, "cond", cm) || ir_op_set_input(op, "a", s) || ir_op_set_input(op, "b", ninf))
            return NULL;
        if (!(s = lb_finish(cx, op))) return NULL;
    }
    if (mask) {
        if (mask->type.dtype == IR_BOOL) {
            ir_value *ninf = lb_const_scalar(cx, -INFINITY, dt, "neg_inf");
            ir_op *op = lb_op(cx, IR_OP_SELECT, "masked_scores");
            if (!op || ir_op_set_input(op, "cond", mask) || ir_op_set_input(op, "a", s) || ir_op_set_input(op, "b", ninf))
                return NULL;
            s = lb_finish(cx, op);
        } else {
            if (mask->type.dtype != dt && !(mask = lb_cast(cx, mask, dt, "mask"))) return NULL;
            s = lb_binary(cx, IR_OP_ADD, s, mask, "masked_scores");
        }
        if (!s) return NULL;
    }
    return s;
}

/* softmax(q k^T * scale + mask) v; q [.., L, E], k [.., S, E], v [.., S, Ev]. probs (optional) gets the weights. */
static ir_value *sdpa(lower_ctx *cx, ir_value *q, ir_value *k, ir_value *v, ir_value *mask, int causal, double scale,
                      ir_value **probs) {
    ir_value *s = sdpa_scores(cx, q, k, mask, causal, scale);
    if (!s) return NULL; /* its rank names the softmax axis */
    ir_value *p = lb_softmax(cx, s, s->type.rank - 1);
    if (probs) *probs = p;
    return lb_matmul(cx, p, v, 0, 0);
}

/* enable_gqa: key / value [.., Hkv, S, E] serve q's Hq = g * Hkv heads (axis -3), each kv head read by g
 * consecutive query heads, as torch's repeat_interleave does: a gather along the heads axis. */
static ir_value *gqa_repeat(lower_ctx *cx, ir_value *q, ir_value *kv, const char *what) {
    int rq = q->type.rank, r = kv->type.rank;
    if (rq < 3 || r < 3) return kv; /* no heads axis: nothing to repeat */
    int64_t hq = q->type.dims[rq - 3], hk = kv->type.dims[r - 3];
    if (hq == hk) return kv;
    if (hq < 0 || hk <= 0) {
        lower_fail(cx, "enable_gqa with a symbolic number of heads");
        return NULL;
    }
    if (hq % hk) {
        lower_fail(cx, "enable_gqa: %lld query heads are not a multiple of %lld %s heads", (long long)hq, (long long)hk,
                   what);
        return NULL;
    }
    float *idx = pc_alloc(cx->p->arena, sizeof(float) * (size_t)hq);
    if (!idx) {
        pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        return NULL;
    }
    for (int64_t i = 0; i < hq; i++) idx[i] = (float)(i / (hq / hk));
    ir_value *iv = lb_const(cx, IR_INT32, 1, &hq, idx, "gqa_heads");
    return lb_gather(cx, kv, iv, r - 3);
}

/* scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0, is_causal=False, scale=None, enable_gqa=False) */
int lower_sdpa(lower_ctx *cx, const ts_node *n) {
    ir_value *q = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *k = lower_tensor_in_as(cx, n, 1, q);
    ir_value *v = lower_tensor_in_as(cx, n, 2, q);
    if (!v) return -1;
    ir_value *mask = NULL;
    int causal = 0, gqa = 0;
    double scale = 0;
    if (n->nin > 3 && !lower_is_none(cx, n, 3) && !(mask = lower_tensor_in(cx, n, 3, IR_DT_INVALID))) return -1;
    if (n->nin > 5 && lower_bool_in(cx, n, 5, &causal)) return -1;
    if (n->nin > 6 && !lower_is_none(cx, n, 6) && lower_float_in(cx, n, 6, &scale)) return -1;
    if (n->nin > 7 && lower_bool_in(cx, n, 7, &gqa)) return -1;
    if (q->type.rank < 2 || k->type.rank < 2 || v->type.rank < 2) return lower_fail(cx, "attention inputs need rank >= 2");
    if (gqa && (!(k = gqa_repeat(cx, q, k, "key")) || !(v = gqa_repeat(cx, q, v, "value")))) return -1;
    return lower_out_tensor(cx, n, 0, sdpa(cx, q, k, v, mask, causal, scale, NULL));
}

/* _scaled_dot_product_flash_attention_for_cpu(q, k, v, dropout_p=0, is_causal=False, *, attn_mask=None,
 * scale=None) -> (output, logsumexp): q/k/v [B, H, L|S, E]; logsumexp [B, H, L] is the log of each score
 * row's softmax denominator (fp32, as torch keeps it). */
int lower_sdpa_flash_cpu(lower_ctx *cx, const ts_node *n) {
    ir_value *q = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_value *k = lower_tensor_in_as(cx, n, 1, q);
    ir_value *v = lower_tensor_in_as(cx, n, 2, q);
    if (!v) return -1;
    double drop = 0, scale = 0;
    int causal = 0;
    ir_value *mask = NULL;
    if (n->nin > 3 && lower_float_in(cx, n, 3, &drop)) return -1;
    if (n->nin > 4 && lower_bool_in(cx, n, 4, &causal)) return -1;
    if (n->nin > 5 && !lower_is_none(cx, n, 5) && !(mask = lower_tensor_in(cx, n, 5, IR_DT_INVALID))) return -1;
    if (n->nin > 6 && !lower_is_none(cx, n, 6) && lower_float_in(cx, n, 6, &scale)) return -1;
    if (drop != 0) return lower_fail(cx, "dropout_p = %g (only 0: Core ML has no random dropout)", drop);
    if (q->type.rank != 4 || k->type.rank != 4 || v->type.rank != 4)
        return lower_fail(cx, "needs 4-D query / key / value [batch, heads, length, dim], got ranks %d / %d / %d",
                          q->type.rank, k->type.rank, v->type.rank);
    if (mask && mask->type.dtype == IR_BOOL) return lower_fail(cx, "a bool attn_mask (torch takes a float mask here)");
    ir_value *s = sdpa_scores(cx, q, k, mask, causal, scale);
    ir_value *p = lb_softmax(cx, s, 3);
    if (!p || lower_out_tensor(cx, n, 0, lb_matmul(cx, p, v, 0, 0))) return -1;
    if (s->type.dtype != IR_FP32 && !(s = lb_cast(cx, s, IR_FP32, "scores32"))) return -1;
    int64_t last = 3;
    return lower_out_tensor(cx, n, 1, lb_reduce(cx, IR_OP_REDUCE_LOG_SUM_EXP, s, 1, &last, 0));
}

/* rows [i*E, (i+1)*E) of a packed projection weight / bias (an absent bias: NULL) */
static ir_value *part(lower_ctx *cx, ir_value *w, int i, int64_t E) {
    return w ? lb_slice(cx, w, 0, i * E, (i + 1) * E, 0, 1, 0) : NULL;
}

/* x [B, L, E] -> [B, H, L, E/H] */
static ir_value *heads(lower_ctx *cx, ir_value *x, int64_t H) {
    int64_t B = x->type.dims[0], L = x->type.dims[1], E = x->type.dims[2];
    ir_value *r = lb_reshape(cx, x, 4, (int64_t[]){B, L, H, E / H}, "heads");
    return lb_transpose(cx, r, (int64_t[]){0, 2, 1, 3});
}

static ir_value *proj(lower_ctx *cx, ir_value *x, ir_value *w, ir_value *b) {
    if (LB_SKIP(cx, x, w)) return NULL;
    ir_op *op = lb_op(cx, IR_OP_LINEAR, "proj");
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", w) || (b && ir_op_set_input(op, "bias", b)))
        return NULL;
    return lb_finish(cx, op);
}

/* multi-head attention of batch-first q/k/v inputs [B, L, E] with a packed in-projection;
 * avg_probs (optional) gets the head-averaged attention weights [B, L, S]. */
static ir_value *mha(lower_ctx *cx, ir_value *qi, ir_value *ki, ir_value *vi, int64_t E, int64_t H, ir_value *wqkv,
                     ir_value *bqkv, ir_value *wo, ir_value *bo, ir_value *mask, ir_value **avg_probs) {
    if (lb_static(cx, qi, "attention input") || lb_static(cx, ki, "attention input") || lb_static(cx, vi, "attention input"))
        return NULL;
    if (qi->type.rank != 3 || H < 1 || E % H) {
        lower_fail(cx, "multi-head attention of a rank-%d input / %lld dims in %lld heads", qi->type.rank, (long long)E,
                   (long long)H);
        return NULL;
    }
    ir_value *q = proj(cx, qi, part(cx, wqkv, 0, E), part(cx, bqkv, 0, E));
    ir_value *k = proj(cx, ki, part(cx, wqkv, 1, E), part(cx, bqkv, 1, E));
    ir_value *v = proj(cx, vi, part(cx, wqkv, 2, E), part(cx, bqkv, 2, E));
    if (!q || !k || !v) return NULL;
    ir_value *probs = NULL;
    if (mask && mask->type.rank == 2 && mask->type.dims[0] == qi->type.dims[0] && mask->type.dims[1] == ki->type.dims[1] &&
        mask->type.dims[0] != qi->type.dims[1]) { /* key padding mask [B, S] (True = ignore) -> [B, 1, 1, S] */
        ir_value *m = lb_reshape(cx, mask, 4, (int64_t[]){mask->type.dims[0], 1, 1, mask->type.dims[1]}, "kpm");
        mask = m && m->type.dtype == IR_BOOL ? lb_unary(cx, IR_OP_LOGICAL_NOT, m, "keep") : m;
        if (!mask) return NULL;
    } else if (mask && mask->type.dtype == IR_BOOL) { /* attn_mask: True = ignore */
        if (!(mask = lb_unary(cx, IR_OP_LOGICAL_NOT, mask, "keep"))) return NULL;
    }
    ir_value *o = sdpa(cx, heads(cx, q, H), heads(cx, k, H), heads(cx, v, H), mask, 0, 0, &probs);
    o = lb_transpose(cx, o, (int64_t[]){0, 2, 1, 3});
    o = lb_reshape(cx, o, 3, (int64_t[]){qi->type.dims[0], qi->type.dims[1], E}, "merged");
    if (avg_probs && probs) *avg_probs = lb_reduce(cx, IR_OP_REDUCE_MEAN, probs, 1, (int64_t[]){1}, 0);
    return proj(cx, o, wo, bo);
}

/* _native_multi_head_attention(query, key, value, embed_dim, num_head, qkv_weight, qkv_bias, proj_weight,
 * proj_bias, mask=None, need_weights=True, average_attn_weights=True, mask_type=None) -> (out, weights) */
int lower_native_mha(lower_ctx *cx, const ts_node *n) {
    ir_value *q = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!q) return -1;
    ir_dtype dt = q->type.dtype;
    ir_value *k = lower_tensor_in(cx, n, 1, dt), *v = lower_tensor_in(cx, n, 2, dt);
    int64_t E, H;
    int need = 1, avg = 1;
    if (!v || lower_int_in(cx, n, 3, &E) || lower_int_in(cx, n, 4, &H)) return -1;
    ir_value *w = lower_tensor_in(cx, n, 5, dt), *b = NULL, *wo = NULL, *bo = NULL, *mask = NULL;
    if (!w) return -1;
    if (!lower_is_none(cx, n, 6) && !(b = lower_tensor_in(cx, n, 6, dt))) return -1;
    if (!(wo = lower_tensor_in(cx, n, 7, dt))) return -1;
    if (!lower_is_none(cx, n, 8) && !(bo = lower_tensor_in(cx, n, 8, dt))) return -1;
    if (n->nin > 9 && !lower_is_none(cx, n, 9) && !(mask = lower_tensor_in(cx, n, 9, IR_DT_INVALID))) return -1;
    if (n->nin > 10 && lower_bool_in(cx, n, 10, &need)) return -1;
    if (n->nin > 11 && lower_bool_in(cx, n, 11, &avg)) return -1;
    if (need && !avg) return lower_fail(cx, "per-head attention weights (average_attn_weights=False)");
    int unbatched = q->type.rank == 2;
    if (unbatched) {
        int64_t ax = 0;
        q = lb_expand(cx, q, 1, &ax);
        k = lb_expand(cx, k, 1, &ax);
        v = lb_expand(cx, v, 1, &ax);
    }
    ir_value *probs = NULL;
    ir_value *o = mha(cx, q, k, v, E, H, w, b, wo, bo, mask, need ? &probs : NULL);
    if (o && unbatched) o = lb_squeeze(cx, o, 1, (int64_t[]){0});
    if (lower_out_tensor(cx, n, 0, o)) return -1;
    if (n->nout > 1) {
        if (need && probs && unbatched) probs = lb_squeeze(cx, probs, 1, (int64_t[]){0});
        if (need ? lower_out_tensor(cx, n, 1, probs) : lower_out(cx, n, 1, lv_none(cx))) return -1;
    }
    return 0;
}

static ir_value *lnorm(lower_ctx *cx, ir_value *x, ir_value *g, ir_value *b, double eps) {
    if (LB_SKIP(cx, x)) return NULL;
    int64_t ax = x->type.rank - 1;
    ir_op *op = lb_op(cx, IR_OP_LAYER_NORM, "norm");
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", 1, &ax) || ir_op_set_input(op, "gamma", g) ||
        ir_op_set_input(op, "beta", b) || lb_param_f(cx, op, "epsilon", eps, x->type.dtype))
        return NULL;
    return lb_finish(cx, op);
}

/* _transformer_encoder_layer_fwd(src, embed_dim, num_heads, qkv_weight, qkv_bias, proj_weight, proj_bias,
 * use_gelu, norm_first, eps, norm_weight_1, norm_bias_1, norm_weight_2, norm_bias_2, ffn_weight_1,
 * ffn_bias_1, ffn_weight_2, ffn_bias_2, mask=None, mask_type=None) */
int lower_encoder_layer(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    ir_dtype dt = x->type.dtype;
    int64_t E, H;
    int gelu, first;
    double eps;
    if (lower_int_in(cx, n, 1, &E) || lower_int_in(cx, n, 2, &H) || lower_bool_in(cx, n, 7, &gelu) ||
        lower_bool_in(cx, n, 8, &first) || lower_float_in(cx, n, 9, &eps))
        return -1;
    ir_value *p[18];
    for (int i = 3; i < 18; i++) {
        if (i >= 7 && i <= 9) continue;
        if (!(p[i] = lower_tensor_in(cx, n, i, dt))) return -1;
    }
    ir_value *mask = NULL;
    if (n->nin > 18 && !lower_is_none(cx, n, 18) && !(mask = lower_tensor_in(cx, n, 18, IR_DT_INVALID))) return -1;
    int unbatched = x->type.rank == 2;
    if (unbatched && !(x = lb_expand(cx, x, 1, (int64_t[]){0}))) return -1;
    ir_value *a = first ? lnorm(cx, x, p[10], p[11], eps) : x;
    ir_value *att = mha(cx, a, a, a, E, H, p[3], p[4], p[5], p[6], mask, NULL);
    ir_value *y = lb_binary(cx, IR_OP_ADD, x, att, "res1");
    if (!first) y = lnorm(cx, y, p[10], p[11], eps);
    ir_value *f = first ? lnorm(cx, y, p[12], p[13], eps) : y;
    f = proj(cx, f, p[14], p[15]);
    if (f && gelu) {
        ir_op *op = lb_op(cx, IR_OP_GELU, "gelu");
        if (!op || ir_op_set_input(op, "x", f) || lb_param_str(cx, op, "mode", "EXACT")) return -1;
        f = lb_finish(cx, op);
    } else if (f) {
        f = lb_unary(cx, IR_OP_RELU, f, "relu");
    }
    f = proj(cx, f, p[16], p[17]);
    ir_value *z = lb_binary(cx, IR_OP_ADD, y, f, "res2");
    if (z && !first) z = lnorm(cx, z, p[12], p[13], eps);
    if (z && unbatched) z = lb_squeeze(cx, z, 1, (int64_t[]){0});
    return lower_out_tensor(cx, n, 0, z);
}
