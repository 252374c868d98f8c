/* recurrent.c: lstm, gru and rnn (MIL recurrent.py), x [s, b, I] time-major.
 *
 * Per direction, the input projections of every step are one GEMM (x [s*b, I] by weight_ih^T, plus
 * bias), then each step adds h [b, H] by weight_hh^T (a GEMM of b rows) and applies the gate math:
 * - lstm, gates in MIL order [i, f, o, z]: i, f from c_{t-1} peepholes, c_t = f c_{t-1} + i z clipped
 *   to [-clip, clip], o from the c_t peephole, h_t = o * activation(c_t); bidirectional runs the
 *   `_back` weights over the reversed sequence and writes its half of every output at the step's
 *   own time index;
 * - gru, gates [r, o, z]: the reset gate scales h before its product with the output gate's
 *   weights, o = activation(W_o x + R_o (r * h) + b_o), h_t = (1 - z) o + z h (Core ML's form, not
 *   torch's r * (R_o h + b_ho));
 * - rnn: h_t = activation(W x + R h + b).
 * direction "reverse" reads the sequence from its end and writes the output sequence in the order
 * of the steps taken. Everything computes in fp32 (rt_out rounds into an fp16 program's types). */
#include "runtime/rt_internal.h"

#include <math.h>

typedef enum { ACT_SIGMOID, ACT_TANH, ACT_RELU, ACT_LINEAR, ACT_HARD_SIGMOID } rec_act;

static int read_act(rt_ctx *c, const char *name, rec_act *out) {
    const char *s = rt_param_str(c, name);
    if (!s) return -1;
    if (!strcmp(s, "sigmoid")) *out = ACT_SIGMOID;
    else if (!strcmp(s, "tanh") || !strcmp(s, "scaled_tanh")) *out = ACT_TANH; /* default alpha = beta = 1 */
    else if (!strcmp(s, "relu")) *out = ACT_RELU;
    else if (!strcmp(s, "linear")) *out = ACT_LINEAR;
    else if (!strcmp(s, "hard_sigmoid") || !strcmp(s, "sigmoid_hard")) *out = ACT_HARD_SIGMOID;
    else return rt_fail(c, "%s '%s' is not supported (sigmoid, tanh, scaled_tanh, relu, linear, hard_sigmoid)", name, s);
    return 0;
}

static inline float act(rec_act a, float v) {
    switch (a) {
    case ACT_SIGMOID: return 1.0f / (1.0f + expf(-v));
    case ACT_TANH: return tanhf(v);
    case ACT_RELU: return v > 0 ? v : 0.0f;
    case ACT_HARD_SIGMOID: return fminf(1.0f, fmaxf(0.0f, 0.2f * v + 0.5f));
    default: return v;
    }
}

typedef struct {
    ir_opkind kind;
    int G, D, seq_all;     /* gates per unit, directions, output_sequence */
    int64_t T, B, I, H;
    const float *x;        /* [T, B, I] */
    rec_act ract, cact, oact;
    float clip;            /* lstm: > 0 clips c */
    float *seq, *hT, *cT;  /* outputs: [T or 1, B, D*H], [B, D*H] (x2) */
} rec_job;

/* Direction d (reverse when rev) with its weights; h0 / c0 [B, D*H] give this direction's half. */
static int run_dir(rt_ctx *c, const rec_job *j, int d, int rev, const float *wi, const float *wh, const float *bias,
                   const float *peep, const float *h0, const float *c0) {
    int64_t T = j->T, B = j->B, I = j->I, H = j->H, GH = j->G * H, DH = j->D * H;
    float *G = rt_scratch(c, sizeof(float) * (size_t)PC_MAX(1, T * B * GH), 0);
    float *h = rt_scratch(c, sizeof(float) * (size_t)PC_MAX(1, B * H), 0);
    float *cs = j->kind == IR_OP_LSTM ? rt_scratch(c, sizeof(float) * (size_t)PC_MAX(1, B * H), 0) : h;
    float *g = rt_scratch(c, sizeof(float) * (size_t)PC_MAX(1, B * GH), 0);
    float *rh = j->kind == IR_OP_GRU ? rt_scratch(c, sizeof(float) * (size_t)PC_MAX(1, B * H), 0) : g;
    if (!G || !h || !cs || !g || !rh) return -1;
    for (int64_t r = 0; r < T * B; r++)
        for (int64_t q = 0; q < GH; q++) G[r * GH + q] = bias ? bias[q] : 0.0f;
    if (T * B > 0 && I > 0) rt_sgemm(0, 1, T * B, GH, I, 1.0f, j->x, I, wi, I, 1.0f, G, GH);
    for (int64_t b = 0; b < B; b++) {
        memcpy(h + b * H, h0 + b * DH + d * H, sizeof(float) * (size_t)H);
        if (j->kind == IR_OP_LSTM) memcpy(cs + b * H, c0 + b * DH + d * H, sizeof(float) * (size_t)H);
    }
    for (int64_t k = 0; k < T; k++) {
        int64_t t = rev ? T - 1 - k : k;
        memcpy(g, G + t * B * GH, sizeof(float) * (size_t)(B * GH));
        if (j->kind == IR_OP_GRU) { /* r and z from h, then o from r * h */
            rt_sgemm(0, 1, B, H, H, 1.0f, h, H, wh, H, 1.0f, g, GH);
            rt_sgemm(0, 1, B, H, H, 1.0f, h, H, wh + 2 * H * H, H, 1.0f, g + 2 * H, GH);
            for (int64_t b = 0; b < B; b++)
                for (int64_t u = 0; u < H; u++) {
                    float *gr = g + b * GH;
                    gr[u] = act(j->ract, gr[u]);
                    gr[2 * H + u] = act(j->ract, gr[2 * H + u]);
                    rh[b * H + u] = gr[u] * h[b * H + u];
                }
            rt_sgemm(0, 1, B, H, H, 1.0f, rh, H, wh + H * H, H, 1.0f, g + H, GH);
            for (int64_t b = 0; b < B; b++)
                for (int64_t u = 0; u < H; u++) {
                    const float *gr = g + b * GH;
                    float o = act(j->oact, gr[H + u]), z = gr[2 * H + u];
                    h[b * H + u] = (1.0f - z) * o + z * h[b * H + u];
                }
        } else {
            rt_sgemm(0, 1, B, GH, H, 1.0f, h, H, wh, H, 1.0f, g, GH);
            for (int64_t b = 0; b < B; b++) {
                const float *gr = g + b * GH;
                for (int64_t u = 0; u < H; u++) {
                    if (j->kind == IR_OP_RNN) {
                        h[b * H + u] = act(j->oact, gr[u]);
                        continue;
                    }
                    float cp = cs[b * H + u];
                    float gi = gr[u], gf = gr[H + u], go = gr[2 * H + u], gz = gr[3 * H + u];
                    if (peep) {
                        gi += peep[u] * cp;
                        gf += peep[H + u] * cp;
                    }
                    float cn = act(j->ract, gf) * cp + act(j->ract, gi) * act(j->cact, gz);
                    if (j->clip > 0) cn = fminf(j->clip, fmaxf(-j->clip, cn));
                    if (peep) go += peep[2 * H + u] * cn;
                    cs[b * H + u] = cn;
                    h[b * H + u] = act(j->ract, go) * act(j->oact, cn);
                }
            }
        }
        if (j->seq_all || k == T - 1) { /* bidirectional: each half at the step's time; reverse alone: in step order */
            int64_t pos = !j->seq_all ? 0 : j->D == 2 ? t : k;
            for (int64_t b = 0; b < B; b++)
                memcpy(j->seq + (pos * B + b) * DH + d * H, h + b * H, sizeof(float) * (size_t)H);
        }
    }
    for (int64_t b = 0; b < B; b++) {
        memcpy(j->hT + b * DH + d * H, h + b * H, sizeof(float) * (size_t)H);
        if (j->kind == IR_OP_LSTM) memcpy(j->cT + b * DH + d * H, cs + b * H, sizeof(float) * (size_t)H);
    }
    return 0;
}

/* A const vector input of n values in fp32, or NULL (absent); *bad set on a wrong size / failure. */
static const float *vec_in(rt_ctx *c, const char *name, int64_t n, int *bad) {
    const rt_tensor *t = rt_in(c, name);
    if (!t) return NULL;
    if (rt_numel(t) != n) {
        *bad = rt_fail(c, "%s has %lld values, expected %lld", name, (long long)rt_numel(t), (long long)n);
        return NULL;
    }
    const float *f = rt_f32(c, t);
    if (!f) *bad = -1;
    return f;
}

static const float *weight_in(rt_ctx *c, const char *name, int64_t rows, int64_t cols) {
    const rt_tensor *w = rt_in_req(c, name);
    if (!w) return NULL;
    if (w->rank != 2 || w->dims[0] != rows || w->dims[1] != cols) {
        char s[200];
        rt_fail(c, "%s is %s, expected [%lld, %lld]", name, rt_dims_str(w->rank, w->dims, s, sizeof s), (long long)rows,
                (long long)cols);
        return NULL;
    }
    return rt_f32(c, w);
}

static const float *state_in(rt_ctx *c, const char *name, int64_t B, int64_t DH) {
    const rt_tensor *s = rt_in_req(c, name);
    if (!s) return NULL;
    if (rt_numel(s) != B * DH || s->rank != 2) {
        char b[200];
        rt_fail(c, "%s is %s, expected [%lld, %lld]", name, rt_dims_str(s->rank, s->dims, b, sizeof b), (long long)B,
                (long long)DH);
        return NULL;
    }
    return rt_f32(c, s);
}

static int recurrent(rt_ctx *c, ir_opkind kind) {
    rec_job j = {.kind = kind, .G = kind == IR_OP_LSTM ? 4 : kind == IR_OP_GRU ? 3 : 1, .D = 1};
    const rt_tensor *x = rt_in_req(c, "x"), *wh = x ? rt_in_req(c, "weight_hh") : NULL;
    if (!wh) return -1;
    if (x->rank != 3) return rt_fail(c, "x must be [seq, batch, features], got rank %d", x->rank);
    if (wh->rank != 2) return rt_fail(c, "weight_hh must be rank 2");
    const char *dir = rt_param_str(c, "direction");
    double clip = 0;
    j.ract = ACT_SIGMOID, j.cact = ACT_TANH;
    if (!dir || rt_param_bool(c, "output_sequence", &j.seq_all) || read_act(c, "activation", &j.oact) ||
        (kind != IR_OP_RNN && read_act(c, "recurrent_activation", &j.ract)) ||
        (kind == IR_OP_LSTM && (read_act(c, "cell_activation", &j.cact) || rt_param_float_or(c, "clip", 0.0, &clip))))
        return -1; /* rnn has no recurrent_activation, only lstm has cell_activation and clip ("not given": none) */
    int rev = !strcmp(dir, "reverse");
    if (!strcmp(dir, "bidirectional") && kind == IR_OP_LSTM) j.D = 2;
    else if (!rev && strcmp(dir, "forward")) return rt_fail(c, "direction '%s' is not supported", dir);
    j.T = x->dims[0], j.B = x->dims[1], j.I = x->dims[2], j.H = wh->dims[1], j.clip = (float)clip;
    int64_t GH = j.G * j.H, DH = j.D * j.H;
    int bad = 0;
    const float *wi = weight_in(c, "weight_ih", GH, j.I), *whf = wi ? weight_in(c, "weight_hh", GH, j.H) : NULL;
    const float *h0 = whf ? state_in(c, "initial_h", j.B, DH) : NULL;
    const float *c0 = h0 && kind == IR_OP_LSTM ? state_in(c, "initial_c", j.B, DH) : h0;
    if (!c0) return -1;
    const float *bias = vec_in(c, "bias", GH, &bad), *peep = bad ? NULL : vec_in(c, "peephole", 3 * j.H, &bad);
    if (bad || !(j.x = rt_f32(c, x))) return -1;
    int64_t od[3] = {j.seq_all ? j.T : 1, j.B, DH}, sd[2] = {j.B, DH};
    if (!(j.seq = rt_out(c, 0, 3, od, IR_FP32)) || !(j.hT = rt_out(c, 1, 2, sd, IR_FP32))) return -1;
    if (kind == IR_OP_LSTM && !(j.cT = rt_out(c, 2, 2, sd, IR_FP32))) return -1;
    if (!j.seq_all || j.T == 0) /* a final-step output of an empty sequence: the initial state */
        for (int64_t b = 0; b < j.B; b++) memcpy(j.seq + b * DH, h0 + b * DH, sizeof(float) * (size_t)DH);
    if (run_dir(c, &j, 0, rev, wi, whf, bias, peep, h0, c0)) return -1;
    if (j.D == 2) {
        const float *wib = weight_in(c, "weight_ih_back", GH, j.I), *whb = wib ? weight_in(c, "weight_hh_back", GH, j.H) : NULL;
        if (!whb) return -1;
        const float *bb = vec_in(c, "bias_back", GH, &bad), *pb = bad ? NULL : vec_in(c, "peephole_back", 3 * j.H, &bad);
        if (bad || run_dir(c, &j, 1, 1, wib, whb, bb, pb, h0, c0)) return -1;
    }
    return 0;
}

int rt_k_LSTM(rt_ctx *c) { return recurrent(c, IR_OP_LSTM); }
int rt_k_GRU(rt_ctx *c) { return recurrent(c, IR_OP_GRU); }
int rt_k_RNN(rt_ctx *c) { return recurrent(c, IR_OP_RNN); }
