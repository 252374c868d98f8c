/* attention.c: scaled_dot_product_attention (MIL iOS18, coremltools ops/defs/iOS18/transformers.py):
 * per batch item, softmax(Q K^T / sqrt(E) + mask) V, where a bool mask keeps the scores it marks true
 * (the others become -inf) and a float mask is added; the mask broadcasts to [B.., L, S]. A row
 * whose every score is -inf gives NaN, as torch's does. fp16 tensors compute in fp32 and round at
 * the output. Batch items run in parallel, each with its own L x S score block.
 */
#include "runtime/rt_internal.h"

#include <math.h>

typedef struct sdpa_job {
    const float *q, *k, *v;
    const void *mask;         /* NULL: none */
    ir_dtype mdt;
    const float *mf;          /* fp32 view of a float mask */
    int64_t mstr[IR_MAX_RANK]; /* mask element strides over the score dims [B.., L, S], 0 on broadcast */
    int64_t bdims[IR_MAX_RANK];
    int nb;                   /* batch dims */
    int64_t L, S, E, EV;
    float scale;
    float *y, *scores;        /* scores: L * S floats per batch item */
} sdpa_job;

static void sdpa_items(void *ctx, int64_t lo, int64_t hi) {
    const sdpa_job *j = ctx;
    for (int64_t b = lo; b < hi; b++) {
        float *sc = j->scores + b * j->L * j->S;
        int64_t ld = j->E > 0 ? j->E : 1; /* BLAS wants leading dims >= 1 */
        rt_sgemm_serial(0, 1, j->L, j->S, j->E, j->scale, j->q + b * j->L * j->E, ld, j->k + b * j->S * j->E, ld, 0.0f,
                        sc, j->S);
        int64_t mb = 0, rem = b;
        for (int d = j->nb - 1; d >= 0; d--) {
            mb += (rem % j->bdims[d]) * j->mstr[d];
            rem /= j->bdims[d];
        }
        for (int64_t l = 0; l < j->L; l++) {
            float *row = sc + l * j->S, mx = -INFINITY;
            for (int64_t s = 0; s < j->S; s++) {
                if (j->mask) {
                    int64_t mi = mb + l * j->mstr[j->nb] + s * j->mstr[j->nb + 1];
                    if (j->mdt == IR_BOOL)
                        row[s] = ((const uint8_t *)j->mask)[mi] ? row[s] : -INFINITY;
                    else
                        row[s] += j->mf[mi];
                }
                mx = fmaxf(mx, row[s]);
            }
            double sum = 0;
            for (int64_t s = 0; s < j->S; s++) sum += (row[s] = expf(row[s] - mx));
            float inv = (float)(1.0 / sum);
            for (int64_t s = 0; s < j->S; s++) row[s] *= inv;
        }
        rt_sgemm_serial(0, 0, j->L, j->EV, j->S, 1.0f, sc, j->S, j->v + b * j->S * j->EV, j->EV, 0.0f,
                        j->y + b * j->L * j->EV, j->EV);
    }
}

int rt_k_SCALED_DOT_PRODUCT_ATTENTION(rt_ctx *c) {
    const rt_tensor *q = rt_in_req(c, "query"), *k = rt_in_req(c, "key"), *v = rt_in_req(c, "value");
    const rt_tensor *m = rt_in(c, "attn_mask");
    if (!q || !k || !v) return -1;
    int r = q->rank;
    if (r < 3 || k->rank != r || v->rank != r) return rt_fail(c, "query, key and value must have one rank >= 3");
    sdpa_job j = {.nb = r - 2, .L = q->dims[r - 2], .E = q->dims[r - 1], .S = k->dims[r - 2], .EV = v->dims[r - 1]};
    int64_t B = 1;
    for (int i = 0; i < r - 2; i++) {
        if (k->dims[i] != q->dims[i] || v->dims[i] != q->dims[i])
            return rt_fail(c, "query, key and value must have the same batch dims");
        j.bdims[i] = q->dims[i];
        B *= q->dims[i];
    }
    if (k->dims[r - 1] != j.E || v->dims[r - 2] != j.S)
        return rt_fail(c, "key must be [.., S, %lld] and value [.., S, EV] with one S", (long long)j.E);
    j.scale = j.E > 0 ? (float)(1.0 / sqrt((double)j.E)) : 1.0f;
    if (m) {
        int64_t sd[IR_MAX_RANK];
        memcpy(sd, q->dims, sizeof(int64_t) * (size_t)r);
        sd[r - 1] = j.S;
        if (m->rank > r) return rt_fail(c, "attn_mask has a higher rank than the scores");
        for (int i = 0; i < m->rank; i++) {
            int64_t d = m->dims[m->rank - 1 - i], want = sd[r - 1 - i];
            if (d != 1 && d != want) return rt_fail(c, "attn_mask does not broadcast to the scores [.., %lld, %lld]",
                                                    (long long)j.L, (long long)j.S);
        }
        rt_bcast_strides(m->rank, m->dims, r, sd, j.mstr);
        j.mdt = m->dtype;
        if (m->dtype == IR_BOOL)
            j.mask = m->data;
        else if (!(j.mask = j.mf = rt_f32(c, m)))
            return -1;
    }
    int64_t ody[IR_MAX_RANK];
    memcpy(ody, q->dims, sizeof(int64_t) * (size_t)r);
    ody[r - 1] = j.EV;
    j.q = rt_f32(c, q), j.k = j.q ? rt_f32(c, k) : NULL, j.v = j.k ? rt_f32(c, v) : NULL;
    j.scores = j.v ? rt_scratch(c, sizeof(float) * (size_t)(B * j.L * j.S + 1), 0) : NULL;
    j.y = j.scores ? rt_out(c, 0, r, ody, IR_FP32) : NULL;
    if (!j.y) return -1;
    if (B * j.L * j.EV == 0) return 0;
    if (j.S == 0) { /* softmax over nothing: NaN rows, as torch */
        for (int64_t i = 0; i < B * j.L * j.EV; i++) j.y[i] = NAN;
        return 0;
    }
    rt_parallel_for(B, 2.0 * (double)j.L * (double)j.S * (double)(j.E + j.EV), sdpa_items, &j);
    return 0;
}
