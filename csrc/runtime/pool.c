/* pool.c: max_pool and avg_pool over 1-3 spatial dims (kernel_sizes, strides,
 * pad_type / pad, ceil_mode; avg_pool's exclude_padding_from_average). Windows
 * that run past the padded input in ceil_mode are clipped; the average divides by
 * the window clipped to the padded extent (PyTorch's count_include_pad) or by the
 * number of real inputs when padding is excluded. Planes run in parallel; fp16
 * tensors are converted a plane at a time. */
#include "runtime/rt_internal.h"

#include <math.h>

typedef struct {
    const float *x;
    float *y;
    const uint16_t *x16; /* fp16 x / y (x, y unused): converted a plane at a time */
    uint16_t *y16;
    rt_geom g;
    int is_max, exclude, failed;
} pool_job;

static void pool_range(void *ctx, int64_t lo, int64_t hi) {
    const pool_job *j = ctx;
    const rt_geom *g = &j->g;
    int64_t D = g->in[0], H = g->in[1], W = g->in[2], OD = g->out[0], OH = g->out[1], OW = g->out[2];
    float *buf = NULL;
    if (j->x16 || j->y16) {
        buf = malloc(sizeof(float) * (size_t)(D * H * W + OD * OH * OW));
        if (!buf) {
            ((pool_job *)ctx)->failed = 1;
            return;
        }
    }
    for (int64_t p = lo; p < hi; p++) {
        const float *x;
        float *y = j->y16 ? buf + D * H * W : j->y + p * OD * OH * OW;
        if (j->x16) {
            pc_f16_to_f32_n(buf, j->x16 + p * D * H * W, (size_t)(D * H * W));
            x = buf;
        } else {
            x = j->x + p * D * H * W;
        }
        for (int64_t od = 0; od < OD; od++) {
            int64_t d0 = od * g->s[0] - g->pb[0], d1 = PC_MIN(d0 + g->k[0], D + g->pa[0]);
            int64_t dn = d1 - d0, da = PC_MAX(d0, 0), db = PC_MIN(d1, D);
            for (int64_t oh = 0; oh < OH; oh++) {
                int64_t h0 = oh * g->s[1] - g->pb[1], h1 = PC_MIN(h0 + g->k[1], H + g->pa[1]);
                int64_t hn = h1 - h0, ha = PC_MAX(h0, 0), hb = PC_MIN(h1, H);
                float *yr = y + (od * OH + oh) * OW;
                for (int64_t ow = 0; ow < OW; ow++) {
                    int64_t w0 = ow * g->s[2] - g->pb[2], w1 = PC_MIN(w0 + g->k[2], W + g->pa[2]);
                    int64_t wn = w1 - w0, wa = PC_MAX(w0, 0), wb = PC_MIN(w1, W);
                    if (j->is_max) {
                        float m = -INFINITY;
                        for (int64_t d = da; d < db; d++)
                            for (int64_t h = ha; h < hb; h++) {
                                const float *xr = x + (d * H + h) * W;
                                for (int64_t w = wa; w < wb; w++) {
                                    float v = xr[w];
                                    if (v > m || v != v) m = v;
                                    if (m != m) break;
                                }
                            }
                        yr[ow] = m;
                    } else {
                        float s = 0.0f;
                        for (int64_t d = da; d < db; d++)
                            for (int64_t h = ha; h < hb; h++) {
                                const float *xr = x + (d * H + h) * W;
                                for (int64_t w = wa; w < wb; w++) s += xr[w];
                            }
                        int64_t cnt = j->exclude ? PC_MAX(db - da, 0) * PC_MAX(hb - ha, 0) * PC_MAX(wb - wa, 0) : dn * hn * wn;
                        yr[ow] = cnt > 0 ? s / (float)cnt : 0.0f;
                    }
                }
            }
        }
        if (j->y16) pc_f32_to_f16_n(j->y16 + p * OD * OH * OW, y, (size_t)(OD * OH * OW));
    }
    free(buf);
}

static int pool(rt_ctx *c, int is_max) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    int64_t ks[IR_MAX_RANK];
    int nk, ceil_mode, exclude = 0;
    if (rt_param_ints(c, "kernel_sizes", ks, IR_MAX_RANK, &nk)) return -1;
    if (nk < 0) return rt_fail(c, "missing required input 'kernel_sizes'");
    if (nk != x->rank - 2) return rt_fail(c, "kernel_sizes has %d entries for rank-%d x", nk, x->rank);
    if (rt_param_bool(c, "ceil_mode", 0, &ceil_mode)) return -1;
    if (!is_max && rt_param_bool(c, "exclude_padding_from_average", 0, &exclude)) return -1;
    pool_job j;
    j.is_max = is_max;
    j.exclude = exclude;
    if (rt_geom_read(c, x, ks, 0, &j.g) || rt_geom_out(c, &j.g, ceil_mode)) return -1;
    int64_t od[5];
    od[0] = j.g.N;
    od[1] = j.g.C;
    for (int i = 0; i < j.g.nsp; i++) od[2 + i] = j.g.out[3 - j.g.nsp + i];
    j.x = NULL;
    j.x16 = NULL;
    j.y = NULL;
    j.y16 = NULL;
    j.failed = 0;
    if (x->dtype == IR_FP16 && !rt_has_f32(x)) j.x16 = x->data;
    else if (!(j.x = rt_f32(c, x))) return -1;
    int o16 = rt_out_f16(c, 0);
    void *y = rt_out(c, 0, x->rank, od, o16 ? IR_FP16 : IR_FP32);
    if (!y) return -1;
    if (o16) j.y16 = y;
    else j.y = y;
    int64_t K = j.g.k[0] * j.g.k[1] * j.g.k[2], OSP = j.g.out[0] * j.g.out[1] * j.g.out[2];
    rt_parallel_for(j.g.N * j.g.C, (double)(K * OSP), pool_range, &j);
    if (j.failed) {
        rt_fail(c, "out of memory (pool plane buffer)");
        c->e->kind = PC_E_NOMEM;
        return -1;
    }
    return 0;
}

int rt_k_MAX_POOL(rt_ctx *c) { return pool(c, 1); }
int rt_k_AVG_POOL(rt_ctx *c) { return pool(c, 0); }
