/* matmul.c: linear (y = x W^T + b, W [out, in]) and matmul (numpy matmul with
 * transpose_x / transpose_y, rank-1 operands, batch broadcasting), as
 * rt_sgemm calls; batches of x against one shared y fold into one GEMM. */
#include "runtime/rt_internal.h"

#define LIN_W_BLOCK (256 << 10) /* floats of an fp16 weight converted at a time */

int rt_k_LINEAR(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *w = x ? rt_in_req(c, "weight") : NULL;
    if (!w) return -1;
    const rt_tensor *b = rt_in(c, "bias");
    if (w->rank != 2) return rt_fail(c, "weight must be rank 2, got rank %d", w->rank);
    if (x->rank < 1) return rt_fail(c, "x must have rank >= 1");
    int64_t In = x->dims[x->rank - 1], Out = w->dims[0];
    if (w->dims[1] != In) return rt_fail(c, "x has %lld features, weight expects %lld", (long long)In, (long long)w->dims[1]);
    if (b && rt_numel(b) != Out) return rt_fail(c, "bias has %lld values for %lld outputs", (long long)rt_numel(b), (long long)Out);
    int64_t od[IR_MAX_RANK];
    for (int i = 0; i < x->rank; i++) od[i] = x->dims[i];
    od[x->rank - 1] = Out;
    int64_t M = rt_numel(x) / (In ? In : 1);
    if (In == 0) M = rt_numel_dims(x->rank - 1, x->dims);
    /* an fp16 weight without an fp32 copy is converted a block of rows at a time */
    int64_t mb = rt_has_f32(w) ? Out : PC_MAX(1, PC_MIN(Out, LIN_W_BLOCK / PC_MAX(1, In)));
    const float *xf = rt_f32(c, x), *wf = xf && mb == Out ? rt_f32(c, w) : NULL, *bf = (xf && b) ? rt_f32(c, b) : NULL;
    float *wbuf = xf && mb < Out ? rt_scratch(c, sizeof(float) * (size_t)(mb * In), 0) : NULL;
    if (!xf || (!wf && !wbuf) || (b && !bf)) return -1;
    float *y = rt_out(c, 0, x->rank, od, IR_FP32);
    if (!y) return -1;
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < Out; j++) y[i * Out + j] = bf ? bf[j] : 0.0f;
    if (M && Out && In)
        for (int64_t j0 = 0; j0 < Out; j0 += mb) {
            int64_t mc = PC_MIN(mb, Out - j0);
            const float *wr = wf ? wf + j0 * In : rt_f32_part(w, j0 * In, mc * In, wbuf);
            rt_sgemm(0, 1, M, mc, In, 1.0f, xf, In, wr, In, 1.0f, y + j0, Out);
        }
    return 0;
}

int rt_k_MATMUL(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *yv = x ? rt_in_req(c, "y") : NULL;
    if (!yv) return -1;
    int tx, ty;
    if (rt_param_bool(c, "transpose_x", &tx) || rt_param_bool(c, "transpose_y", &ty)) return -1;
    if (x->rank < 1 || yv->rank < 1) return rt_fail(c, "matmul operands must have rank >= 1");
    /* view rank-1 operands as matrices: x [K] -> [1, K], y [K] -> [K, 1] */
    int64_t xd[IR_MAX_RANK + 1], yd[IR_MAX_RANK + 1];
    int xr = x->rank, yr = yv->rank;
    if (xr == 1) {
        if (tx) return rt_fail(c, "transpose_x is not allowed for a rank-1 x");
        xd[0] = 1;
        xd[1] = x->dims[0];
        xr = 2;
    } else {
        memcpy(xd, x->dims, sizeof(int64_t) * (size_t)xr);
    }
    if (yr == 1) {
        yd[0] = yv->dims[0];
        yd[1] = 1;
        yr = 2;
        ty = 0;
    } else {
        memcpy(yd, yv->dims, sizeof(int64_t) * (size_t)yr);
    }
    int64_t M = tx ? xd[xr - 1] : xd[xr - 2], Kx = tx ? xd[xr - 2] : xd[xr - 1];
    int64_t Ky = ty ? yd[yr - 1] : yd[yr - 2], N = ty ? yd[yr - 2] : yd[yr - 1];
    if (Kx != Ky) {
        char s1[200], s2[200];
        return rt_fail(c, "inner dims differ: x%s%s and y%s%s", rt_dims_str(x->rank, x->dims, s1, sizeof s1),
                       tx ? " (transposed)" : "", rt_dims_str(yv->rank, yv->dims, s2, sizeof s2), ty ? " (transposed)" : "");
    }
    int64_t K = Kx;
    /* batch dims broadcast */
    int br;
    int64_t bd[IR_MAX_RANK], sxb[IR_MAX_RANK], syb[IR_MAX_RANK];
    if (rt_broadcast_shape(c, xr - 2, xd, yr - 2, yd, &br, bd)) return -1;
    rt_bcast_strides(xr - 2, xd, br, bd, sxb);
    rt_bcast_strides(yr - 2, yd, br, bd, syb);
    int64_t od[IR_MAX_RANK + 2];
    int orank = 0;
    for (int i = 0; i < br; i++) od[orank++] = bd[i];
    if (x->rank > 1) od[orank++] = M;
    if (yv->rank > 1) od[orank++] = N;
    if (orank > IR_MAX_RANK) return rt_fail(c, "result rank exceeds %d", IR_MAX_RANK);
    const float *xf = rt_f32(c, x), *yf = xf ? rt_f32(c, yv) : NULL;
    float *o = yf ? rt_out(c, 0, orank, od, IR_FP32) : NULL;
    if (!o) return -1;
    int64_t B = rt_numel_dims(br, bd), MN = M * N, MK = M * K, KN = K * N;
    if (B * MN == 0) return 0;
    if (K == 0) {
        memset(o, 0, sizeof(float) * (size_t)(B * MN));
        return 0;
    }
    int64_t lda = tx ? M : K, ldb = ty ? K : N;
    /* y shared by every batch and x not transposed: one GEMM with M' = B * M */
    int y_shared = 1, x_dense = 1;
    for (int i = 0; i < br; i++) y_shared &= syb[i] == 0;
    int64_t expect = 1;
    for (int i = br - 1; i >= 0; i--) {
        x_dense &= sxb[i] == expect || bd[i] == 1;
        expect *= bd[i];
    }
    if (y_shared && x_dense && !tx) {
        rt_sgemm(0, ty, B * M, N, K, 1.0f, xf, lda, yf, ldb, 0.0f, o, N);
        return 0;
    }
    int64_t idx[IR_MAX_RANK] = {0}, ox = 0, oy = 0;
    for (int64_t bi = 0; bi < B; bi++) {
        rt_sgemm(tx, ty, M, N, K, 1.0f, xf + ox * MK, lda, yf + oy * KN, ldb, 0.0f, o + bi * MN, N);
        for (int q = br - 1; q >= 0; q--) {
            ox += sxb[q];
            oy += syb[q];
            if (++idx[q] < bd[q]) break;
            ox -= sxb[q] * bd[q];
            oy -= syb[q] * bd[q];
            idx[q] = 0;
        }
    }
    return 0;
}

/* einsum (MIL iOS15): y[b, c, h, u] = sum_w a[b, c, h, w] * b[b, w, h, u], B and H broadcast when 1
 * (the equation checked by ir_einsum_rank). */
int rt_k_EINSUM(rt_ctx *c) {
    const char *eq = rt_param_str(c, "equation");
    int rank;
    if (!eq) return rt_fail(c, "missing required input 'equation'");
    if (ir_einsum_rank(eq, &rank)) return rt_fail(c, "equation '%s' is not of the form 'nchw,nwhu->nchu' or 'chw,whr->chr'", eq);
    if (rt_in_count(c, "values") != 2) return rt_fail(c, "values must hold two tensors");
    const rt_tensor *a = rt_in_at(c, "values", 0), *b = rt_in_at(c, "values", 1);
    if (a->rank != rank || b->rank != rank) return rt_fail(c, "values must have rank %d", rank);
    int s = rank - 3;
    int64_t Ba = s ? a->dims[0] : 1, Bb = s ? b->dims[0] : 1, C = a->dims[s], Ha = a->dims[s + 1], W = a->dims[s + 2];
    int64_t Hb = b->dims[s + 1], U = b->dims[s + 2];
    if (b->dims[s] != W || (Ba != Bb && Ba != 1 && Bb != 1) || (Ha != Hb && Ha != 1 && Hb != 1))
        return rt_fail(c, "values do not fit the equation (sizes or broadcast)");
    int64_t Bo = Ba == 1 ? Bb : Ba, Ho = Ha == 1 ? Hb : Ha, od[4];
    const float *af = rt_f32(c, a), *bf = af ? rt_f32(c, b) : NULL;
    if (s) od[0] = Bo;
    od[s] = C, od[s + 1] = Ho, od[s + 2] = U;
    float *y = bf ? rt_out(c, 0, rank, od, IR_FP32) : NULL;
    if (!y) return -1;
    for (int64_t n = 0; n < Bo; n++)
        for (int64_t ci = 0; ci < C; ci++)
            for (int64_t h = 0; h < Ho; h++) {
                const float *ar = af + (((Ba == 1 ? 0 : n) * C + ci) * Ha + (Ha == 1 ? 0 : h)) * W;
                for (int64_t u = 0; u < U; u++) {
                    double acc = 0;
                    for (int64_t w = 0; w < W; w++)
                        acc += (double)ar[w] * bf[(((Bb == 1 ? 0 : n) * W + w) * Hb + (Hb == 1 ? 0 : h)) * U + u];
                    y[((n * C + ci) * Ho + h) * U + u] = (float)acc;
                }
            }
    return 0;
}
