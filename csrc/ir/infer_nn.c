/* infer_nn.c: shape inference for conv, conv_transpose, linear, matmul,
 * batch_norm, layer_norm, max_pool and avg_pool (MIL iOS15 definitions:
 * conv weight [Cout, Cin/groups, *K], conv_transpose weight [Cin, Cout/groups, *K],
 * linear weight [out, in], pads as [begin0, end0, begin1, end1, ...]).
 */
#include "ir/infer_int.h"

#include <string.h>

typedef struct {
    int n;                      /* spatial dims */
    int64_t k[IR_MAX_RANK];     /* kernel */
    int64_t s[IR_MAX_RANK];     /* strides */
    int64_t d[IR_MAX_RANK];     /* dilations */
    int64_t pad[2 * IR_MAX_RANK];
    const char *pad_type;
    int ceil_mode;
} window;

/* strides, dilations (conv only), pad_type, pad; defaults per MIL. */
static int read_window(infer_ctx *c, window *w, int dilations) {
    int n;
    for (int i = 0; i < w->n; i++) w->s[i] = w->d[i] = 1;
    memset(w->pad, 0, sizeof w->pad);
    if (inf_ints(c, "strides", 0, 0, w->s, IR_MAX_RANK, &n)) return -1;
    if (n >= 0 && n != w->n) return inf_fail(c, "strides has %d entries, expected %d", n, w->n);
    if (dilations) {
        if (inf_ints(c, "dilations", 0, 0, w->d, IR_MAX_RANK, &n)) return -1;
        if (n >= 0 && n != w->n) return inf_fail(c, "dilations has %d entries, expected %d", n, w->n);
    }
    if (inf_str(c, "pad_type", "valid", &w->pad_type)) return -1;
    if (strcmp(w->pad_type, "valid") && strcmp(w->pad_type, "same") && strcmp(w->pad_type, "custom") &&
        strcmp(w->pad_type, "same_lower"))
        return inf_fail(c, "unknown pad_type '%s'", w->pad_type);
    if (inf_ints(c, "pad", 0, 0, w->pad, 2 * IR_MAX_RANK, &n)) return -1;
    if (!strcmp(w->pad_type, "custom") && n != 2 * w->n)
        return inf_fail(c, "pad has %d entries, expected %d for pad_type custom", n < 0 ? 0 : n, 2 * w->n);
    for (int i = 0; i < w->n; i++) {
        if (w->s[i] < 1 || w->d[i] < 1) return inf_fail(c, "strides and dilations must be >= 1");
        if (w->pad[2 * i] < 0 || w->pad[2 * i + 1] < 0) return inf_fail(c, "pad must be >= 0");
    }
    return 0;
}

/* Output size of spatial dim i (coremltools' spatial_dimensions_out_shape). */
static int window_out(infer_ctx *c, const window *w, int i, int64_t in, int64_t *out) {
    if (IR_IS_SYM(in)) {
        *out = inf_fresh(c);
        return 0;
    }
    int64_t ek = (w->k[i] - 1) * w->d[i] + 1, s = w->s[i], pad = 0;
    if (!strcmp(w->pad_type, "custom")) {
        pad = w->pad[2 * i] + w->pad[2 * i + 1];
    } else if (strcmp(w->pad_type, "valid")) { /* same, same_lower */
        pad = s * ((in + s - 1) / s) - in + ek - s;
        if (pad < 0) pad = 0;
    }
    int64_t o;
    if (!w->ceil_mode) {
        o = (in + pad - ek) >= 0 ? (in + pad - ek) / s + 1 : 0;
    } else {
        int64_t num = in + pad - ek + s - 1;
        o = num >= 0 ? num / s + 1 : 0;
        if (pad > 0 && 2 * (o - 1) * s >= 2 * in + pad) o--; /* the last window starts in the padding */
    }
    if (o <= 0) return inf_fail(c, "spatial dim %d: input %lld with kernel %lld gives no output", i, (long long)in, (long long)ek);
    *out = o;
    return 0;
}

static int infer_conv(infer_ctx *c, int transpose) {
    const ir_type *x, *wt, *b;
    int64_t groups;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "weight", 1, &wt) || inf_input(c, "bias", 0, &b) ||
        inf_int(c, "groups", 1, &groups))
        return -1;
    if (x->rank < 3 || wt->rank != x->rank)
        return inf_fail(c, "x %s and weight %s must have equal rank >= 3", inf_tstr(x), inf_tstr(wt));
    if (groups < 1) return inf_fail(c, "groups must be >= 1");
    window w = {.n = x->rank - 2};
    for (int i = 0; i < w.n; i++) w.k[i] = wt->dims[2 + i];
    if (read_window(c, &w, 1)) return -1;
    int64_t cin = x->dims[1], cout;
    if (!transpose) {
        cout = wt->dims[0];
        if (!IR_IS_SYM(cin) && (cin % groups || cin / groups != wt->dims[1]))
            return inf_fail(c, "x has %lld channels, weight %s expects %lld per group x %lld groups", (long long)cin,
                            inf_tstr(wt), (long long)wt->dims[1], (long long)groups);
    } else {
        cout = IR_IS_SYM(wt->dims[1]) ? wt->dims[1] : wt->dims[1] * groups;
        if (!IR_IS_SYM(cin) && cin != wt->dims[0])
            return inf_fail(c, "x has %lld channels, weight %s expects %lld", (long long)cin, inf_tstr(wt),
                            (long long)wt->dims[0]);
    }
    if (b && (b->rank != 1 || b->dims[0] != cout))
        return inf_fail(c, "bias %s does not match %lld output channels", inf_tstr(b), (long long)cout);
    ir_type t = *x;
    t.dims[1] = cout;
    if (transpose) {
        int64_t os[IR_MAX_RANK];
        int n;
        if (inf_ints(c, "output_shape", 0, 1, os, IR_MAX_RANK, &n)) return -1;
        if (n >= 0) {
            if (n != x->rank) return inf_fail(c, "output_shape has %d entries, expected %d", n, x->rank);
            for (int i = 2; i < n; i++) t.dims[i] = os[i];
            return inf_out(c, t);
        }
        for (int i = 0; i < w.n; i++) {
            int64_t in = x->dims[2 + i], ek = (w.k[i] - 1) * w.d[i] + 1;
            if (IR_IS_SYM(in)) {
                t.dims[2 + i] = inf_fresh(c);
                continue;
            }
            int64_t o;
            if (!strcmp(w.pad_type, "same") || !strcmp(w.pad_type, "same_lower")) o = w.s[i] * in;
            else if (!strcmp(w.pad_type, "valid")) o = w.s[i] * (in - 1) + ek;
            else o = w.s[i] * (in - 1) + ek - w.pad[2 * i] - w.pad[2 * i + 1];
            if (o <= 0) return inf_fail(c, "spatial dim %d has output size %lld", i, (long long)o);
            t.dims[2 + i] = o;
        }
        return inf_out(c, t);
    }
    for (int i = 0; i < w.n; i++)
        if (window_out(c, &w, i, x->dims[2 + i], &t.dims[2 + i])) return -1;
    return inf_out(c, t);
}

static int infer_pool(infer_ctx *c) {
    const ir_type *x;
    if (inf_input(c, "x", 1, &x)) return -1;
    window w = {.n = 0};
    int n;
    if (inf_ints(c, "kernel_sizes", 1, 0, w.k, IR_MAX_RANK, &n)) return -1;
    w.n = n;
    if (x->rank < 0 || x->rank < n + 1 || n < 1)
        return inf_fail(c, "x %s does not fit %d kernel dims", inf_tstr(x), n);
    if (c->op->kind == IR_OP_L2_POOL && (n > 2 || x->rank != n + 2))
        return inf_fail(c, "l2_pool takes 1-D or 2-D windows over x [N, C, ...], got %d for %s", n, inf_tstr(x));
    if (read_window(c, &w, 0) || inf_bool(c, "ceil_mode", 0, &w.ceil_mode)) return -1;
    for (int i = 0; i < n; i++)
        if (w.k[i] < 1) return inf_fail(c, "kernel_sizes must be >= 1");
    ir_type t = *x;
    for (int i = 0; i < n; i++)
        if (window_out(c, &w, i, x->dims[x->rank - n + i], &t.dims[x->rank - n + i])) return -1;
    return inf_out(c, t);
}

static int same_dim(int64_t a, int64_t b) { return a == b || IR_IS_SYM(a) || IR_IS_SYM(b); }

static int infer_linear(infer_ctx *c) {
    const ir_type *x, *w, *b;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "weight", 1, &w) || inf_input(c, "bias", 0, &b)) return -1;
    if (x->rank < 1 || w->rank != 2) return inf_fail(c, "x %s and weight %s: need rank >= 1 and 2", inf_tstr(x), inf_tstr(w));
    if (!same_dim(x->dims[x->rank - 1], w->dims[1]))
        return inf_fail(c, "x %s has %lld features, weight %s expects %lld", inf_tstr(x),
                        (long long)x->dims[x->rank - 1], inf_tstr(w), (long long)w->dims[1]);
    if (b && (b->rank != 1 || !same_dim(b->dims[0], w->dims[0])))
        return inf_fail(c, "bias %s does not match weight %s", inf_tstr(b), inf_tstr(w));
    ir_type t = *x;
    t.dims[t.rank - 1] = w->dims[0];
    return inf_out(c, t);
}

/* lstm / gru / rnn (MIL recurrent.py): x [s, b, I], weight_ih [G*H, I], weight_hh [G*H, H] (G = 4, 3, 1);
 * outputs [s or 1, b, D*H] and the final h (and c for lstm) [b, D*H], D = 2 for a bidirectional lstm. */
static int infer_recurrent(infer_ctx *c) {
    ir_opkind k = c->op->kind;
    int G = k == IR_OP_LSTM ? 4 : k == IR_OP_GRU ? 3 : 1, seq;
    const ir_type *x, *h0, *c0 = NULL, *wi, *wh, *b;
    const char *dir;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "initial_h", 1, &h0) ||
        (k == IR_OP_LSTM && inf_input(c, "initial_c", 1, &c0)) || inf_input(c, "weight_ih", 1, &wi) ||
        inf_input(c, "weight_hh", 1, &wh) || inf_input(c, "bias", 0, &b) || inf_str(c, "direction", "forward", &dir) ||
        inf_bool(c, "output_sequence", 0, &seq))
        return -1;
    int D = strcmp(dir, "bidirectional") == 0 ? 2 : 1;
    if (strcmp(dir, "forward") && strcmp(dir, "reverse") && !(D == 2 && k == IR_OP_LSTM))
        return inf_fail(c, "direction '%s' is not supported (forward, reverse%s)", dir, k == IR_OP_LSTM ? ", bidirectional" : "");
    if (x->rank != 3) return inf_fail(c, "x %s must be [seq, batch, features]", inf_tstr(x));
    if (x->dtype != IR_FP32 && x->dtype != IR_FP16) return inf_fail(c, "x must be fp32 or fp16, got %s", ir_dtype_name(x->dtype));
    if (wi->rank != 2 || wh->rank != 2) return inf_fail(c, "weight_ih %s and weight_hh %s must be rank 2", inf_tstr(wi), inf_tstr(wh));
    int64_t H = wh->dims[1];
    if (IR_IS_SYM(H) || wh->dims[0] != G * H || wi->dims[0] != G * H || !same_dim(wi->dims[1], x->dims[2]))
        return inf_fail(c, "weight_ih %s and weight_hh %s do not fit x %s (need [%d*H, I] and [%d*H, H])", inf_tstr(wi),
                        inf_tstr(wh), inf_tstr(x), G, G);
    if (b && (b->rank != 1 || b->dims[0] != G * H)) return inf_fail(c, "bias %s must be [%lld]", inf_tstr(b), (long long)(G * H));
    for (int i = 0; i < 2; i++) {
        const ir_type *s = i ? c0 : h0;
        if (s && (s->rank != 2 || !same_dim(s->dims[0], x->dims[1]) || !same_dim(s->dims[1], D * H)))
            return inf_fail(c, "%s %s must be [batch, %lld]", i ? "initial_c" : "initial_h", inf_tstr(s), (long long)(D * H));
    }
    if (D == 2) {
        const ir_type *wib, *whb;
        if (inf_input(c, "weight_ih_back", 1, &wib) || inf_input(c, "weight_hh_back", 1, &whb)) return -1;
        if (wib->rank != 2 || whb->rank != 2 || wib->dims[0] != G * H || whb->dims[0] != G * H || whb->dims[1] != H)
            return inf_fail(c, "weight_ih_back %s / weight_hh_back %s do not match the forward weights", inf_tstr(wib), inf_tstr(whb));
    }
    ir_type t = *x;
    t.dims[0] = seq ? x->dims[0] : 1;
    t.dims[2] = D * H;
    ir_type st = t;
    st.rank = 2;
    st.dims[0] = x->dims[1];
    st.dims[1] = D * H;
    if (inf_out(c, t) || inf_out(c, st)) return -1;
    return k == IR_OP_LSTM ? inf_out(c, st) : 0;
}

static int infer_matmul(infer_ctx *c) {
    const ir_type *x, *y;
    int tx, ty;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "y", 1, &y) || inf_bool(c, "transpose_x", 0, &tx) ||
        inf_bool(c, "transpose_y", 0, &ty))
        return -1;
    if (x->rank < 1 || y->rank < 1) return inf_fail(c, "x %s and y %s need rank >= 1", inf_tstr(x), inf_tstr(y));
    if (x->dtype != y->dtype) return inf_fail(c, "x is %s, y is %s", ir_dtype_name(x->dtype), ir_dtype_name(y->dtype));
    ir_type a = *x, b = *y; /* promoted to rank >= 2 */
    if (a.rank == 1) {
        a.rank = 2;
        a.dims[1] = a.dims[0];
        a.dims[0] = 1;
        tx = 0;
    }
    if (b.rank == 1) {
        b.rank = 2;
        b.dims[1] = 1;
        ty = 0;
    }
    int64_t m = a.dims[a.rank - (tx ? 1 : 2)], ka = a.dims[a.rank - (tx ? 2 : 1)];
    int64_t kb = b.dims[b.rank - (ty ? 1 : 2)], n = b.dims[b.rank - (ty ? 2 : 1)];
    if (!same_dim(ka, kb)) return inf_fail(c, "inner dims differ: x %s, y %s", inf_tstr(x), inf_tstr(y));
    ir_type ba = a, bb = b, t = *x;
    ba.rank -= 2;
    bb.rank -= 2;
    if (inf_broadcast(c, &ba, &bb, &t)) return -1;
    if (x->rank > 1) t.dims[t.rank++] = m;
    if (y->rank > 1) t.dims[t.rank++] = n;
    return inf_out(c, t);
}

/* batch_norm: per-channel params of shape [C]; layer_norm: axes valid, gamma/beta over them. */
static int infer_norm(infer_ctx *c, int layer) {
    const ir_type *x;
    if (inf_input(c, "x", 1, &x)) return -1;
    if (!layer) {
        if (x->rank < 2) return inf_fail(c, "x %s needs rank >= 2", inf_tstr(x));
        static const char *const params[] = {"mean", "variance", "gamma", "beta"};
        for (int i = 0; i < 4; i++) {
            const ir_type *p;
            if (inf_input(c, params[i], i < 2, &p)) return -1;
            if (p && (p->rank != 1 || !same_dim(p->dims[0], x->dims[1])))
                return inf_fail(c, "%s %s does not match %lld channels", params[i], inf_tstr(p), (long long)x->dims[1]);
        }
        return inf_out(c, *x);
    }
    int64_t axes[IR_MAX_RANK];
    int n, ax;
    if (inf_ints(c, "axes", 0, 0, axes, IR_MAX_RANK, &n)) return -1;
    for (int i = 0; i < n; i++)
        if (inf_axis(c, "axis", axes[i], x->rank, &ax)) return -1;
    return inf_out(c, *x);
}

/* prelu (alpha [C], rank 3..5; ranks 3 and 5 need one alpha value, as Core ML runs them)
 * and softplus_parametric (alpha, beta [C], rank >= 3): per-channel on dim 1. */
static int infer_channel_act(infer_ctx *c, int softplus) {
    const ir_type *x, *p;
    if (inf_input(c, "x", 1, &x) || inf_input(c, "alpha", 1, &p)) return -1;
    if (!ir_dtype_is_float(x->dtype)) return inf_fail(c, "x must be fp16 or fp32, got %s", ir_dtype_name(x->dtype));
    if (softplus ? x->rank < 3 : (x->rank < 3 || x->rank > 5))
        return inf_fail(c, "x %s must have rank %s", inf_tstr(x), softplus ? ">= 3" : "3, 4 or 5");
    for (int i = 0; i < 1 + softplus; i++) {
        const char *name = i ? "beta" : "alpha";
        if (i && inf_input(c, "beta", 1, &p)) return -1;
        const ir_arg *a = ir_op_arg(c->op, name);
        if (!a->v[0]->konst) return inf_fail(c, "parameter '%s' must be a constant", name);
        if (p->rank != 1 || !same_dim(p->dims[0], x->dims[1]))
            return inf_fail(c, "%s %s does not match %lld channels", name, inf_tstr(p), (long long)x->dims[1]);
        if (!softplus && x->rank != 4) {
            const ir_const *k = a->v[0]->konst;
            for (int64_t j = 1; j < k->count; j++)
                if (ir_const_get_f64(k, j) != ir_const_get_f64(k, 0))
                    return inf_fail(c, "rank-%d x needs one alpha value for all channels", x->rank);
        }
    }
    return inf_out(c, *x);
}

/* instance_norm (gamma / beta [C], rank 3..4), l2_norm (rank >= 3),
 * local_response_norm (size >= 1, rank 3..4): same type as x. */
static int infer_norm2(infer_ctx *c) {
    const ir_type *x;
    if (inf_input(c, "x", 1, &x)) return -1;
    if (x->rank < 0) return inf_fail(c, "x needs a known rank");
    if (!ir_dtype_is_float(x->dtype)) return inf_fail(c, "x must be fp16 or fp32, got %s", ir_dtype_name(x->dtype));
    double eps;
    if (inf_float(c, "epsilon", 0, 1e-5, &eps)) return -1;
    switch (c->op->kind) {
    case IR_OP_INSTANCE_NORM:
        if (x->rank < 3 || x->rank > 4) return inf_fail(c, "x %s must have rank 3 or 4", inf_tstr(x));
        for (int i = 0; i < 2; i++) {
            const ir_type *p;
            if (inf_input(c, i ? "beta" : "gamma", 0, &p)) return -1;
            if (p && (p->rank != 1 || !same_dim(p->dims[0], x->dims[1])))
                return inf_fail(c, "%s %s does not match %lld channels", i ? "beta" : "gamma", inf_tstr(p), (long long)x->dims[1]);
        }
        break;
    case IR_OP_L2_NORM:
        if (x->rank < 3) return inf_fail(c, "x %s must have rank >= 3", inf_tstr(x));
        break;
    default: { /* local_response_norm */
        int64_t size;
        double a, b, k;
        const ir_type *st;
        if (inf_input(c, "size", 1, &st) || inf_int(c, "size", 1, &size) || inf_float(c, "alpha", 0, 1e-4, &a) ||
            inf_float(c, "beta", 0, 0.75, &b) || inf_float(c, "k", 0, 1.0, &k))
            return -1;
        if (x->rank < 3 || x->rank > 4) return inf_fail(c, "x %s must have rank 3 or 4", inf_tstr(x));
        if (size < 1) return inf_fail(c, "size must be >= 1, got %lld", (long long)size);
    }
    }
    return inf_out(c, *x);
}

/* scaled_dot_product_attention (iOS18): query [B.., L, E], key [B.., S, E], value [B.., S, EV], same batch
 * dims, optional attn_mask (bool or float) broadcastable to [B.., L, S] -> [B.., L, EV]. */
static int infer_sdpa(infer_ctx *c) {
    const ir_type *q, *k, *v, *m;
    if (inf_input(c, "query", 1, &q) || inf_input(c, "key", 1, &k) || inf_input(c, "value", 1, &v) ||
        inf_input(c, "attn_mask", 0, &m))
        return -1;
    if (q->dtype != IR_FP16 && q->dtype != IR_FP32) return inf_fail(c, "query must be fp16 or fp32, got %s", inf_tstr(q));
    if (k->dtype != q->dtype || v->dtype != q->dtype) return inf_fail(c, "query, key and value must have one dtype");
    if (m && m->dtype != IR_BOOL && m->dtype != IR_FP16 && m->dtype != IR_FP32)
        return inf_fail(c, "attn_mask must be bool, fp16 or fp32, got %s", inf_tstr(m));
    if (q->rank < 0 || k->rank < 0 || v->rank < 0) return inf_fail(c, "query, key and value need known ranks");
    if (q->rank < 3 || k->rank != q->rank || v->rank != q->rank)
        return inf_fail(c, "query %s, key %s and value %s must have one rank >= 3", inf_tstr(q), inf_tstr(k), inf_tstr(v));
    int r = q->rank;
    for (int i = 0; i < r - 2; i++)
        if ((!IR_IS_SYM(k->dims[i]) && !IR_IS_SYM(q->dims[i]) && k->dims[i] != q->dims[i]) ||
            (!IR_IS_SYM(v->dims[i]) && !IR_IS_SYM(q->dims[i]) && v->dims[i] != q->dims[i]))
            return inf_fail(c, "query %s, key %s and value %s must have the same batch dims", inf_tstr(q), inf_tstr(k), inf_tstr(v));
    if (!IR_IS_SYM(q->dims[r - 1]) && !IR_IS_SYM(k->dims[r - 1]) && q->dims[r - 1] != k->dims[r - 1])
        return inf_fail(c, "query %s and key %s must have one embedding size", inf_tstr(q), inf_tstr(k));
    if (!IR_IS_SYM(k->dims[r - 2]) && !IR_IS_SYM(v->dims[r - 2]) && k->dims[r - 2] != v->dims[r - 2])
        return inf_fail(c, "key %s and value %s must have one sequence length", inf_tstr(k), inf_tstr(v));
    ir_type t = *q;
    t.dims[r - 1] = v->dims[r - 1];
    if (m) {
        ir_type sc = *q, b;
        sc.dims[r - 1] = k->dims[r - 2];
        if (inf_broadcast(c, m, &sc, &b)) return -1;
        if (b.rank != r) return inf_fail(c, "attn_mask %s does not broadcast to the scores %s", inf_tstr(m), inf_tstr(&sc));
    }
    return inf_out(c, t);
}

/* einsum (MIL iOS15): the one family MIL defines, "nchw,nwhu->nchu" (rank 4) and "chw,whr->chr"
 * (rank 3) under any letters: y[b, c, h, u] = sum_w a[b, c, h, w] * b[b, w, h, u], B and H
 * broadcast when 1. The equation's letters are checked for that pattern. */
int ir_einsum_rank(const char *eq, int *rank) {
    char a[8], b[8], o[8];
    int na = 0, nb = 0, no = 0, part = 0;
    for (const char *p = eq; *p; p++) {
        if (*p == ' ') continue;
        if (*p == ',' && part == 0) part = 1;
        else if (*p == '-' && p[1] == '>' && part == 1) part = 2, p++;
        else if (*p >= 'a' && *p <= 'z') {
            if (part == 0 && na < 5) a[na++] = *p;
            else if (part == 1 && nb < 5) b[nb++] = *p;
            else if (part == 2 && no < 5) o[no++] = *p;
            else return -1;
        } else
            return -1;
    }
    if (part != 2 || na != nb || na != no || (na != 3 && na != 4)) return -1;
    int s = na - 3; /* a = [B] c h w, b = [B] w h u, o = [B] c h u */
    char B = s ? a[0] : 0, C = a[s], H = a[s + 1], W = a[s + 2], U = b[s + 2];
    if ((s && (b[0] != B || o[0] != B)) || b[s] != W || b[s + 1] != H || o[s] != C || o[s + 1] != H || o[s + 2] != U)
        return -1;
    const char l[5] = {B ? B : '.', C, H, W, U};
    for (int i = 0; i < 5; i++)
        for (int k = i + 1; k < 5; k++)
            if (l[i] == l[k]) return -1;
    *rank = na;
    return 0;
}

static int infer_einsum(infer_ctx *c) {
    const char *eq;
    const ir_arg *v = ir_op_arg(c->op, "values");
    int rank;
    if (inf_str(c, "equation", NULL, &eq)) return -1;
    if (!eq || !v) return inf_fail(c, "missing required input '%s'", eq ? "values" : "equation");
    if (ir_einsum_rank(eq, &rank)) return inf_fail(c, "equation '%s' is not of the form 'nchw,nwhu->nchu' or 'chw,whr->chr'", eq);
    if (v->n != 2) return inf_fail(c, "values must hold two tensors, got %d", v->n);
    const ir_type *a = &v->v[0]->type, *b = &v->v[1]->type;
    if (a->rank != rank || b->rank != rank) return inf_fail(c, "values %s and %s must have rank %d", inf_tstr(a), inf_tstr(b), rank);
    if ((a->dtype != IR_FP16 && a->dtype != IR_FP32) || b->dtype != a->dtype)
        return inf_fail(c, "values must be both fp16 or both fp32");
    int s = rank - 3;
    if (!same_dim(a->dims[s + 2], b->dims[s])) return inf_fail(c, "values %s and %s do not share the summed size", inf_tstr(a), inf_tstr(b));
    ir_type t = *a;
    for (int i = 0; i < 2; i++) {
        int k = i ? s + 1 : 0;
        if (i == 0 && !s) continue;
        int64_t da = a->dims[k], db = b->dims[k];
        if (!IR_IS_SYM(da) && !IR_IS_SYM(db) && da != db && da != 1 && db != 1)
            return inf_fail(c, "values %s and %s do not broadcast", inf_tstr(a), inf_tstr(b));
        t.dims[k] = da == 1 ? db : da;
    }
    t.dims[s + 2] = b->dims[s + 2];
    return inf_out(c, t);
}

int inf_nn(infer_ctx *c) {
    switch (c->op->kind) {
    case IR_OP_CONV: case IR_OP_CONV_QUANTIZED: return infer_conv(c, 0);
    case IR_OP_CONV_TRANSPOSE: return infer_conv(c, 1);
    case IR_OP_MAX_POOL:
    case IR_OP_AVG_POOL: return infer_pool(c);
    case IR_OP_L2_POOL: return infer_pool(c);
    case IR_OP_EINSUM: return infer_einsum(c);
    case IR_OP_LINEAR: return infer_linear(c);
    case IR_OP_MATMUL: return infer_matmul(c);
    case IR_OP_LSTM: case IR_OP_GRU: case IR_OP_RNN: return infer_recurrent(c);
    case IR_OP_BATCH_NORM: return infer_norm(c, 0);
    case IR_OP_LAYER_NORM: return infer_norm(c, 1);
    case IR_OP_PRELU: return infer_channel_act(c, 0);
    case IR_OP_INSTANCE_NORM: case IR_OP_L2_NORM: case IR_OP_LOCAL_RESPONSE_NORM: return infer_norm2(c);
    case IR_OP_SOFTPLUS_PARAMETRIC: return infer_channel_act(c, 1);
    case IR_OP_SCALED_DOT_PRODUCT_ATTENTION: return infer_sdpa(c);
    default: return inf_fail(c, "not an nn op");
    }
}
