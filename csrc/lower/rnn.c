/* rnn.c: aten::lstm, aten::gru, aten::rnn_tanh, aten::rnn_relu (the (input, hx, params, has_biases,
 * num_layers, dropout, train, bidirectional, batch_first) overloads).
 *
 * LSTM and simple RNN layers become MIL `lstm` / `rnn` ops, one per layer (MIL has no num_layers),
 * a bidirectional LSTM layer one `lstm` with direction "bidirectional", a bidirectional RNN layer a
 * forward and a "reverse" `rnn` (MIL rnn has no bidirectional form; its reverse output runs in step
 * order, so it is reversed back). The time axis may be symbolic (a RangeDim). LSTM weights go from
 * torch's gate order [i, f, g, o] to MIL's [i, f, o, z], and b_ih + b_hh becomes the one MIL bias.
 *
 * GRU layers become a while_loop per layer and direction over the time axis (gru_loop; any length too):
 * MIL gru applies the reset gate to h before the output gate's weights (R_o (r * h)), torch to the
 * product (r * (W_hn h + b_hn)), so no MIL gru computes torch's GRU; coremltools loops the same way.
 *
 * The rest is unrolled over the static sequence length: one linear for the input projection of every
 * step, then per step a linear of the hidden state and the gate math (sigmoid/tanh/mul/add). That is
 * - LSTM with proj_size (MIL lstm has no projection of h);
 * - packed sequences (below: MIL lstm has no per-sequence lengths);
 * - weights computed at run time (MIL takes constant weights) and fp16 source models.
 *
 * The data overloads (data, batch_sizes, hx, params, has_biases, num_layers, dropout, train,
 * bidirectional) run over packed sequences (packed.h): the same unrolled steps over the padded
 * time-major tensor behind the data, where a sequence past its length keeps its state (a select
 * on the step's mask), so the reverse direction starts at each sequence's own last step and the
 * final states are those at each sequence's length; the output is packed again with the input's
 * indices. */
#include "lower/build.h"
#include "lower/packed.h"

#include <string.h>

typedef int cell_kind; /* CELL_* (registry.h): the row's .sub */

static ir_value *linear(lower_ctx *cx, ir_value *x, ir_value *w, ir_value *b) {
    ir_op *op = lb_op(cx, IR_OP_LINEAR, "linear");
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "weight", w) || (b && ir_op_set_input(op, "bias", b)))
        return NULL;
    return lb_finish(cx, op);
}

static ir_value *act(lower_ctx *cx, ir_opkind k, ir_value *x) { return lb_unary(cx, k, x, NULL); }

/* One direction of one layer over xs[0..T) ([B, I] each); h, c: [B, H] initial states (c LSTM only).
 * ms: NULL, or per step a bool [B, 1] (off: the state does not change). Writes hs[t] and the final h / c. */
static int run_dir(lower_ctx *cx, cell_kind ck, int T, ir_value **xs, ir_value *wih, ir_value *whh, ir_value *bih,
                   ir_value *bhh, ir_value *whr, int reverse, ir_value **h, ir_value **c, ir_value **hs, ir_value **ms) {
    int G = ck == CELL_LSTM ? 4 : ck == CELL_GRU ? 3 : 1;
    int64_t H = wih->type.dims[0] / G; /* whh is [G*H, H], or [G*H, P] when an LSTM projects h to P */
    int64_t sizes[4] = {H, H, H, H};
    for (int s = 0; s < T; s++) {
        int t = reverse ? T - 1 - s : s;
        ir_value *hp = *h, *cp = c ? *c : NULL;
        ir_value *gx = linear(cx, xs[t], wih, bih);
        ir_value *gh = linear(cx, *h, whh, bhh);
        if (!gx || !gh) return -1;
        if (ck == CELL_TANH || ck == CELL_RELU) {
            *h = act(cx, ck == CELL_TANH ? IR_OP_TANH : IR_OP_RELU, lb_binary(cx, IR_OP_ADD, gx, gh, "pre"));
        } else if (ck == CELL_LSTM) {
            ir_value *g[4];
            if (lb_split(cx, lb_binary(cx, IR_OP_ADD, gx, gh, "gates"), 1, G, sizes, g)) return -1;
            ir_value *i = act(cx, IR_OP_SIGMOID, g[0]), *f = act(cx, IR_OP_SIGMOID, g[1]);
            ir_value *gg = act(cx, IR_OP_TANH, g[2]), *o = act(cx, IR_OP_SIGMOID, g[3]);
            ir_value *fc = lb_binary(cx, IR_OP_MUL, f, *c, "fc");
            ir_value *ig = lb_binary(cx, IR_OP_MUL, i, gg, "ig");
            *c = lb_binary(cx, IR_OP_ADD, fc, ig, "c");
            ir_value *tc = act(cx, IR_OP_TANH, *c);
            *h = lb_binary(cx, IR_OP_MUL, o, tc, "h");
            if (whr && *h) *h = linear(cx, *h, whr, NULL); /* proj_size: h = W_hr (o * tanh(c)) */
        } else { /* GRU: r, z, n; n uses r * (W_hn h + b_hn) */
            ir_value *a[3], *b[3];
            if (lb_split(cx, gx, 1, 3, sizes, a) || lb_split(cx, gh, 1, 3, sizes, b)) return -1;
            ir_value *r = act(cx, IR_OP_SIGMOID, lb_binary(cx, IR_OP_ADD, a[0], b[0], "r"));
            ir_value *z = act(cx, IR_OP_SIGMOID, lb_binary(cx, IR_OP_ADD, a[1], b[1], "z"));
            ir_value *rn = lb_binary(cx, IR_OP_MUL, r, b[2], "rn");
            ir_value *nn = act(cx, IR_OP_TANH, lb_binary(cx, IR_OP_ADD, a[2], rn, "n"));
            /* h' = n + z * (h - n) */
            ir_value *d = lb_binary(cx, IR_OP_SUB, *h, nn, "hn");
            ir_value *zd = lb_binary(cx, IR_OP_MUL, z, d, "zd");
            *h = lb_binary(cx, IR_OP_ADD, nn, zd, "h");
        }
        if (!*h) return -1;
        if (ms) {
            if (!(*h = lb_select(cx, ms[t], *h, hp, "keep"))) return -1;
            if (ck == CELL_LSTM && !(*c = lb_select(cx, ms[t], *c, cp, "keep"))) return -1;
        }
        hs[t] = *h;
    }
    return 0;
}

static ir_value *tensor_of(lower_ctx *cx, lv *l, ir_dtype dt) {
    ir_value *v = lb_as_tensor(cx, l, dt);
    if (v && v->type.dtype != dt) v = lb_cast(cx, v, dt, "cast");
    return v;
}

/* A weight (or the sum of two biases when b2) as a new constant, gate blocks in MIL's order for an
 * LSTM ([i, f, g, o] -> [i, f, o, z]). */
static ir_value *mil_weight(lower_ctx *cx, cell_kind ck, ir_value *w, ir_value *b2, ir_dtype dt) {
    int64_t n = ir_type_numel(&w->type);
    float *src = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(n + 1) * 3), *add = src + n + 1, *dst = add + n + 1;
    if (!src) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"), NULL;
    ir_const_read_f32(w->konst, src);
    if (b2) {
        ir_const_read_f32(b2->konst, add);
        for (int64_t i = 0; i < n; i++) src[i] += add[i];
    }
    static const int order[4] = {0, 1, 3, 2};
    int64_t blk = ck == CELL_LSTM ? n / 4 : n;
    for (int q = 0; q < (ck == CELL_LSTM ? 4 : 1); q++) memcpy(dst + q * blk, src + order[q] * blk, sizeof(float) * (size_t)blk);
    return lb_const(cx, dt, w->type.rank, w->type.dims, dst, b2 ? "bias" : "weight");
}

static ir_value *reverse_time(lower_ctx *cx, ir_value *x) {
    ir_op *op = lb_op(cx, IR_OP_REVERSE, "reverse");
    int64_t ax = 0;
    if (!op || ir_op_set_input(op, "x", x) || lb_param_i32v(cx, op, "axes", 1, &ax)) return NULL;
    return lb_finish(cx, op);
}

/* A new input of block b like v (named after what), known to the lowering's names. */
static ir_value *block_var(lower_ctx *cx, ir_block *b, ir_value *v, const char *what) {
    const char *nm = lower_name(cx, what);
    ir_value *in = nm ? ir_block_add_input(b, nm, v->type) : NULL;
    if (!in || lower_names_add(cx, nm, in)) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory"), NULL;
    return in;
}

/* One GRU direction over x [T, B, I] (any T) as a while_loop: the input projections G = x W_ih^T + b_ih
 * [T, B, 3H] outside, and per iteration step i of G, h W_hh^T + b_hh and torch's gate math, the new h
 * scattered into row i of a [T, B, H] loop var. reverse: G reversed in time before, the rows after. */
static int gru_loop(lower_ctx *cx, ir_value *x, ir_value *h, ir_value *const *w, int reverse, ir_value **seq, ir_value **hT) {
    int64_t H = w[1]->type.dims[1], ax0 = 0, sizes[3] = {H, H, H};
    ir_value *G = linear(cx, x, w[0], w[2]);
    if (reverse) G = reverse_time(cx, G);
    ir_value *like = lb_slice(cx, G, 2, 0, H, 0, 1, 0), *shp = lb_unary(cx, IR_OP_SHAPE, like, "shape");
    ir_op *f = lb_op(cx, IR_OP_FILL, "steps");
    if (!f || ir_op_set_input(f, "shape", shp) || lb_param_f(cx, f, "value", 0.0, x->type.dtype)) return -1;
    ir_value *buf = lb_finish(cx, f), *sx = lb_unary(cx, IR_OP_SHAPE, x, "shape");
    ir_value *T = lb_gather(cx, sx, lb_const_scalar(cx, 0, IR_INT32, "time_axis"), 0);
    ir_value *init[3] = {lb_const_scalar(cx, 0, IR_INT32, "step0"), h, buf}, *ci[3], *bi[3], *bo[3];
    ir_op *op = lb_op(cx, IR_OP_WHILE_LOOP, "gru");
    if (!op) return -1;
    ir_block *cb = ir_op_add_block(op), *bb = ir_op_add_block(op), *outer = cx->b;
    if (!cb || !bb) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    cb->fn = bb->fn = cx->fn;
    for (int k = 0; k < 3; k++)
        if (!(ci[k] = block_var(cx, cb, init[k], "gru_c")) || !(bi[k] = block_var(cx, bb, init[k], "gru_v"))) return -1;
    cx->b = cb;
    ir_value *go = lb_binary(cx, IR_OP_LESS, ci[0], T, "go");
    cx->b = bb;
    if (!go || ir_block_set_outputs(cb, 1, &go)) return cx->b = outer, -1;
    ir_value *a[3], *b[3], *gx = lb_gather(cx, G, bi[0], 0), *gh = linear(cx, bi[1], w[1], w[3]);
    if (lb_split(cx, gx, 1, 3, sizes, a) || lb_split(cx, gh, 1, 3, sizes, b)) return cx->b = outer, -1; /* a, b unset */
    ir_value *r = act(cx, IR_OP_SIGMOID, lb_binary(cx, IR_OP_ADD, a[0], b[0], "r"));
    ir_value *z = act(cx, IR_OP_SIGMOID, lb_binary(cx, IR_OP_ADD, a[1], b[1], "z"));
    ir_value *rn = lb_binary(cx, IR_OP_MUL, r, b[2], "rn");
    ir_value *nn = act(cx, IR_OP_TANH, lb_binary(cx, IR_OP_ADD, a[2], rn, "n"));
    ir_value *d = lb_binary(cx, IR_OP_SUB, bi[1], nn, "hn"); /* h' = n + z * (h - n) */
    ir_value *zd = lb_binary(cx, IR_OP_MUL, z, d, "zd");
    ir_value *hn = lb_binary(cx, IR_OP_ADD, nn, zd, "h");
    ir_value *upd = lb_expand(cx, hn, 1, &ax0), *at = lb_expand(cx, bi[0], 1, &ax0);
    ir_op *sc = lb_op(cx, IR_OP_SCATTER, "step_out");
    if (!sc || ir_op_set_input(sc, "data", bi[2]) || ir_op_set_input(sc, "indices", at) || ir_op_set_input(sc, "updates", upd) ||
        lb_param_i32(cx, sc, "axis", 0) || lb_param_str(cx, sc, "mode", "update") || !(bo[2] = lb_finish(cx, sc)))
        return cx->b = outer, -1;
    bo[0] = lb_binary(cx, IR_OP_ADD, bi[0], lb_const_scalar(cx, 1, IR_INT32, "one"), "next_step");
    bo[1] = hn;
    cx->b = outer;
    if (!bo[0] || ir_block_set_outputs(bb, 3, bo) || ir_op_set_inputs(op, "loop_vars", 3, init) || !lb_finish(cx, op)) return -1;
    *hT = op->out[1];
    *seq = reverse ? reverse_time(cx, op->out[2]) : op->out[2];
    return *seq ? 0 : -1;
}

/* One MIL lstm / rnn op over x [T, B, I]; w: weight_ih, weight_hh, bias (or NULL), then the same for the
 * backward direction of a bidirectional lstm (or NULLs). outs: sequence, h, c. */
static int mil_op(lower_ctx *cx, cell_kind ck, ir_value *x, ir_value *h, ir_value *c, ir_value *const *w, const char *dir,
                  ir_value **outs) {
    static const char *const names[6] = {"weight_ih", "weight_hh", "bias", "weight_ih_back", "weight_hh_back", "bias_back"};
    ir_op *op = lb_op(cx, ck == CELL_LSTM ? IR_OP_LSTM : IR_OP_RNN, ck == CELL_LSTM ? "lstm" : "rnn");
    if (!op || ir_op_set_input(op, "x", x) || ir_op_set_input(op, "initial_h", h) || (c && ir_op_set_input(op, "initial_c", c)))
        return -1;
    for (int i = 0; i < 6; i++)
        if (w[i] && ir_op_set_input(op, names[i], w[i])) return -1;
    if (lb_param_str(cx, op, "direction", dir) || lb_param_bool(cx, op, "output_sequence", 1)) return -1;
    if (ck == CELL_LSTM ? lb_param_str(cx, op, "recurrent_activation", "sigmoid") ||
                              lb_param_str(cx, op, "cell_activation", "tanh") || lb_param_str(cx, op, "activation", "tanh")
                        : lb_param_str(cx, op, "activation", ck == CELL_RELU ? "relu" : "tanh"))
        return -1;
    if (!lb_finish(cx, op)) return -1;
    for (int i = 0; i < op->nout; i++) outs[i] = op->out[i];
    return 0;
}

/* The layers as MIL lstm / rnn ops: x [T, B, I] (T may be symbolic), h0 / c0 [L*D, B, H].
 * 1 when the form needs the unrolled path (nothing emitted), 0 done (seq, fin filled), -1 error. */
static int lower_rnn_mil(lower_ctx *cx, cell_kind ck, ir_value *x, ir_value **h0, lv *params, int64_t layers, int D, int per,
                         ir_dtype dt, ir_value **seq, ir_value **fin) {
    if (dt != IR_FP32 || layers * D > 64) return 1;
    int npar = (int)(layers * D * per);
    ir_value **w = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)(npar + 1));
    if (!w) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int k = 0; k < npar; k++) {
        if (!(w[k] = tensor_of(cx, params->items[k], dt))) return -1;
        if (!w[k]->konst || !ir_type_is_static(&w[k]->type)) return 1;
    }
    int nf = 0;
    for (int L = 0; L < layers; L++) {
        ir_value *mw[2][6] = {{NULL}}, *st[2][2] = {{NULL}}, *o[2][3];
        if (ck == CELL_GRU) { /* torch's weights as they are, in a loop per direction */
            ir_value *ys[2];
            for (int d = 0; d < D; d++) {
                ir_value *h = lb_slice(cx, h0[0], 0, L * D + d, L * D + d + 1, 0, 1, 1);
                ir_value *gw[4] = {w[(L * D + d) * per], w[(L * D + d) * per + 1], per == 4 ? w[(L * D + d) * per + 2] : NULL,
                                   per == 4 ? w[(L * D + d) * per + 3] : NULL};
                if (!h || gru_loop(cx, x, h, gw, d == 1, &ys[d], &fin[nf + d])) return -1;
            }
            if (!(x = D == 2 ? lb_concat(cx, 2, ys, 2) : ys[0])) return -1;
            nf += D;
            continue;
        }
        for (int d = 0; d < D; d++) {
            ir_value **pw = w + (L * D + d) * per;
            int k = ck == CELL_LSTM ? d * 3 : 0; /* a bidirectional lstm takes both directions' weights */
            if (!(mw[d][k] = mil_weight(cx, ck, pw[0], NULL, dt)) || !(mw[d][k + 1] = mil_weight(cx, ck, pw[1], NULL, dt)) ||
                (per == 4 && !(mw[d][k + 2] = mil_weight(cx, ck, pw[2], pw[3], dt))))
                return -1;
            for (int s = 0; s < (ck == CELL_LSTM ? 2 : 1); s++)
                if (!(st[s][d] = lb_slice(cx, h0[s], 0, L * D + d, L * D + d + 1, 0, 1, 1))) return -1;
        }
        if (ck == CELL_LSTM) {
            for (int k = 0; k < 3; k++) mw[0][3 + k] = mw[1][3 + k];
            ir_value *hi = D == 2 ? lb_concat(cx, 2, st[0], 1) : st[0][0], *ci = D == 2 ? lb_concat(cx, 2, st[1], 1) : st[1][0];
            if (!hi || !ci || mil_op(cx, ck, x, hi, ci, mw[0], D == 2 ? "bidirectional" : "forward", o[0])) return -1;
            x = o[0][0];
            for (int s = 0; s < 2; s++) /* [B, D*H] -> D states [B, H] */
                for (int d = 0; d < D; d++) {
                    int64_t H = o[0][1 + s]->type.dims[1] / D;
                    if (!(fin[s * 64 + nf + d] = D == 2 ? lb_slice(cx, o[0][1 + s], 1, d * H, (d + 1) * H, 0, 1, 0) : o[0][1 + s]))
                        return -1;
                }
        } else {
            ir_value *ys[2];
            for (int d = 0; d < D; d++) {
                if (mil_op(cx, ck, x, st[0][d], NULL, mw[d], d ? "reverse" : "forward", o[d])) return -1;
                fin[nf + d] = o[d][1];
                ys[d] = o[d][0];
            }
            if (D == 2 && !(ys[1] = reverse_time(cx, ys[1]))) return -1; /* the reverse op runs in step order */
            if (!(x = D == 2 ? lb_concat(cx, 2, ys, 2) : ys[0])) return -1;
        }
        nf += D;
    }
    *seq = x;
    return 0;
}

/* The node's outputs from the sequence [T, B, D*H] and the final states fin[k][0..LD) [B, H]. */
static int rnn_outputs(lower_ctx *cx, const ts_node *n, ir_value *seq, ir_value *fin[2][64], int LD, int nh, int unbatched,
                       int batch_first, int packed, ir_value *nz) {
    int64_t ax = 1;
    if (unbatched) seq = lb_squeeze(cx, seq, 1, &ax);
    else if (batch_first) seq = lb_swap(cx, seq, 0, 1);
    if (packed) seq = lower_packed_data(cx, seq, nz);
    if (!seq || lower_out_tensor(cx, n, 0, seq)) return -1;
    for (int k = 0; k < nh; k++) {
        ir_value *st = lb_stack(cx, LD, fin[k], 0);
        if (st && unbatched) st = lb_squeeze(cx, st, 1, &ax);
        if (lower_out_tensor(cx, n, 1 + k, st)) return -1;
    }
    return 0;
}

int lower_rnn(lower_ctx *cx, const ts_node *n) {
    cell_kind ck = cx->row->sub;
    if (n->nin != 9) return lower_fail(cx, "only the (input, hx, params, ...) and (data, batch_sizes, hx, params, ...) overloads are supported");
    lv *a3 = lower_in(cx, n, 3);
    if (!a3) return -1;
    int packed = a3->kind == LV_LIST || a3->kind == LV_TUPLE, o = packed; /* data overload: inputs shift by one */
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID), *mask = NULL, *nz = NULL;
    if (x && packed && lower_packed_parts(cx, x, &x, &mask, &nz)) return -1;
    lv *hx = lower_in(cx, n, 1 + o), *params = lower_in(cx, n, 2 + o);
    int has_b, bidir, batch_first = 0, train;
    int64_t layers;
    if (!params || lower_bool_in(cx, n, 3 + o, &has_b) || lower_int_in(cx, n, 4 + o, &layers) ||
        lower_bool_in(cx, n, 6 + o, &train) || lower_bool_in(cx, n, 7 + o, &bidir) ||
        (!packed && lower_bool_in(cx, n, 8, &batch_first)))
        return -1;
    if (packed && x->type.rank != 3) return lower_fail(cx, "packed data of %d-D sequences (needs [T, B, features])", x->type.rank);
    int unbatched = x->type.rank == 2;
    if (!unbatched && x->type.rank != 3) return lower_fail(cx, "input of rank %d", x->type.rank);
    ir_dtype dt = x->type.dtype;
    if (unbatched) {
        int64_t ax = 1;
        x = lb_expand(cx, x, 1, &ax); /* (T, I) -> (T, 1, I) */
    } else if (batch_first) {
        x = lb_swap(cx, x, 0, 1);
    }
    if (!x) return -1;
    int D = bidir ? 2 : 1, per = has_b ? 4 : 2, proj = 0;
    int64_t B = x->type.dims[1];
    if (params->kind != LV_LIST && params->kind != LV_TUPLE) return lower_fail(cx, "params must be a list");
    if (ck == CELL_LSTM && params->n == layers * D * (per + 1)) proj = 1; /* w_hr after the biases (proj_size) */
    if (params->n != layers * D * (per + proj)) return lower_fail(cx, "%d params for %lld layers", params->n, (long long)layers);
    per += proj;
    /* initial states: [L*D, B, H] (unbatched: [L*D, H]) */
    int nh = ck == CELL_LSTM ? 2 : 1;
    ir_value *h0[2] = {NULL, NULL};
    if (ck == CELL_LSTM) {
        if ((hx->kind != LV_LIST && hx->kind != LV_TUPLE) || hx->n != 2) return lower_fail(cx, "lstm hx must be (h0, c0)");
        h0[0] = tensor_of(cx, hx->items[0], dt);
        h0[1] = tensor_of(cx, hx->items[1], dt);
    } else {
        h0[0] = tensor_of(cx, hx, dt);
    }
    for (int k = 0; k < nh; k++) {
        if (!h0[k]) return -1;
        if (packed) { /* its batch size came from batch_sizes[0]: a run-time number, here B */
            ir_value *whh = tensor_of(cx, params->items[1], dt);
            int64_t hs3[3] = {layers * D, B, whh ? whh->type.dims[1] : 0};
            if (!whh || !(h0[k] = lb_reshape(cx, h0[k], 3, hs3, "h0"))) return -1;
        }
        if (unbatched) {
            int64_t ax = 1;
            if (!(h0[k] = lb_expand(cx, h0[k], 1, &ax))) return -1;
        }
    }
    ir_value *fin[2][64], *seq = NULL;
    int mil = packed || proj ? 1 : lower_rnn_mil(cx, ck, x, h0, params, layers, D, per, dt, &seq, &fin[0][0]);
    if (mil < 0) return -1;
    if (mil == 0) return rnn_outputs(cx, n, seq, fin, (int)(layers * D), nh, unbatched, batch_first, packed, NULL);
    if (lb_static(cx, x, "a recurrent layer's input")) return -1;
    int T = (int)x->type.dims[0];
    if (T < 1 || T > 4096) return lower_fail(cx, "sequence length %d cannot be unrolled", T);
    ir_value **xs = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)T * 3);
    if (!xs) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    if (layers * D > 64) return lower_fail(cx, "more than 64 layer directions");
    ir_value **hs[2] = {xs + T, xs + 2 * T};
    int64_t *ones = pc_alloc(cx->p->arena, sizeof(int64_t) * (size_t)T);
    if (!ones) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int t = 0; t < T; t++) ones[t] = 1;
    /* the steps of the input */
    {
        ir_value **pieces = hs[0];
        if (lb_split(cx, x, 0, T, ones, pieces)) return -1;
        for (int t = 0; t < T; t++) {
            int64_t ax = 0;
            if (!(xs[t] = lb_squeeze(cx, pieces[t], 1, &ax))) return -1;
        }
    }
    ir_value **ms = NULL; /* packed: per step the mask of the sequences still running, [B, 1] */
    if (packed) {
        int64_t ax2 = 2, ax0 = 0;
        ir_value *m3 = lb_expand(cx, mask, 1, &ax2), **pieces = xs + T; /* hs[0] as scratch */
        if (!(ms = pc_alloc(cx->p->arena, sizeof(ir_value *) * (size_t)T))) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        if (!m3 || lb_split(cx, m3, 0, T, ones, pieces)) return -1;
        for (int t = 0; t < T; t++)
            if (!(ms[t] = lb_squeeze(cx, pieces[t], 1, &ax0))) return -1;
    }
    for (int L = 0; L < layers; L++) {
        for (int d = 0; d < D; d++) {
            int pi = (L * D + d) * per;
            ir_value *w[5] = {NULL, NULL, NULL, NULL, NULL}, *whr = NULL;
            for (int k = 0; k < per; k++)
                if (!(w[k] = tensor_of(cx, params->items[pi + k], dt))) return -1;
            if (proj) {
                whr = w[per - 1];
                w[per - 1] = NULL;
            }
            int idx = L * D + d;
            ir_value *h = lb_slice(cx, h0[0], 0, idx, idx + 1, 0, 1, 1), *c = NULL;
            if (ck == CELL_LSTM && !(c = lb_slice(cx, h0[1], 0, idx, idx + 1, 0, 1, 1))) return -1;
            if (!h || run_dir(cx, ck, T, xs, w[0], w[1], w[2], w[3], whr, d == 1, &h, &c, hs[d], ms)) return -1;
            fin[0][idx] = h;
            fin[1][idx] = c;
        }
        /* this layer's output per step: [B, D*H] */
        for (int t = 0; t < T; t++) {
            ir_value *both[2] = {hs[0][t], D == 2 ? hs[1][t] : NULL};
            if (!(xs[t] = D == 2 ? lb_concat(cx, 2, both, 1) : hs[0][t])) return -1;
        }
    }
    if (!(seq = lb_stack(cx, T, xs, 0))) return -1; /* [T, B, D*H] */
    return rnn_outputs(cx, n, seq, fin, (int)(layers * D), nh, unbatched, batch_first, packed, nz);
}

/* lstm_cell(input, hx: [h, c], w_ih, w_hh, b_ih=None, b_hh=None) -> (h, c); gru_cell / rnn_tanh_cell /
 * rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None) -> h: one step of the layers above.
 * input [B, I] or unbatched [I]; hx None means zeros. */
int lower_rnn_cell(lower_ctx *cx, const ts_node *n) {
    cell_kind ck = cx->row->sub;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x) return -1;
    ir_dtype dt = x->type.dtype;
    ir_value *w[4] = {NULL, NULL, NULL, NULL};
    for (int i = 0; i < 4; i++) {
        if (i >= 2 && (n->nin <= 2 + i || lower_is_none(cx, n, 2 + i))) continue;
        lv *l = lower_in(cx, n, 2 + i);
        if (!l || !(w[i] = tensor_of(cx, l, dt))) return -1;
    }
    if (w[0]->type.rank != 2 || w[1]->type.rank != 2) return lower_fail(cx, "cell weights must be 2-D");
    int unbatched = x->type.rank == 1;
    if (!unbatched && x->type.rank != 2) return lower_fail(cx, "cell input of rank %d (needs [batch, features] or [features])", x->type.rank);
    int64_t ax0 = 0;
    if (unbatched && !(x = lb_expand(cx, x, 1, &ax0))) return -1;
    if (lb_static(cx, x, "a recurrent cell's input")) return -1;
    int64_t B = x->type.dims[0], H = w[1]->type.dims[1];
    ir_value *st[2] = {NULL, NULL};
    int ns = ck == CELL_LSTM ? 2 : 1;
    lv *hx = lower_in(cx, n, 1);
    if (!hx) return -1;
    for (int i = 0; i < ns; i++) {
        lv *item = hx->kind == LV_NONE ? NULL : ck == CELL_LSTM ? (hx->kind == LV_LIST || hx->kind == LV_TUPLE) && hx->n == 2 ? hx->items[i] : NULL : hx;
        if (hx->kind != LV_NONE && !item) return lower_fail(cx, "lstm_cell hx must be [h, c]");
        if (item) {
            if (!(st[i] = tensor_of(cx, item, dt))) return -1;
            if (unbatched && !(st[i] = lb_expand(cx, st[i], 1, &ax0))) return -1;
        } else {
            int64_t dims[2] = {B, H};
            float *z = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(B * H > 0 ? B * H : 1));
            if (!z || !(st[i] = lb_const(cx, dt, 2, dims, z, "zeros"))) return -1;
        }
    }
    ir_value *hs[1];
    if (run_dir(cx, ck, 1, &x, w[0], w[1], w[2], w[3], NULL, 0, &st[0], ns > 1 ? &st[1] : NULL, hs, NULL)) return -1;
    for (int i = 0; i < ns; i++) {
        if (unbatched && !(st[i] = lb_squeeze(cx, st[i], 1, &ax0))) return -1;
        if (lower_out_tensor(cx, n, i, st[i])) return -1;
    }
    return 0;
}
