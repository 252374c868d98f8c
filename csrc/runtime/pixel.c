/* pixel.c: rank-4 NCHW rearrangements, each one strided copy in x's dtype.
 * pixel_shuffle / pixel_unshuffle use torch's channel order (c * f^2 + i * f + j);
 * depth_to_space / space_to_depth use TensorFlow's ((i * b + j) * C + c), which is
 * what MIL's ops follow. space_to_batch pads with zeros and puts block offset
 * (i, j) at batch (i * b1 + j) * N + n; batch_to_space inverts it and crops. */
#include "runtime/rt_internal.h"

static size_t esize(const rt_tensor *t) { return ir_dtype_size(t->dtype); }

static const rt_tensor *rank4(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (x && x->rank != 4) return rt_fail(c, "x must have rank 4, got %d", x->rank), NULL;
    return x;
}

static int factor(rt_ctx *c, const char *name, int64_t *f) {
    if (!rt_in_req(c, name) || rt_param_int(c, name, f)) return -1;
    if (*f < 1) return rt_fail(c, "%s must be >= 1, got %lld", name, (long long)*f);
    return 0;
}

/* up: depth -> space; dcr: TensorFlow channel order (else torch's). */
static int pixel(rt_ctx *c, const char *param, int up, int dcr) {
    const rt_tensor *x = rank4(c);
    int64_t f;
    if (!x || factor(c, param, &f)) return -1;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3], HW = H * W, od[4];
    int64_t d[6], s[6];
    if (up) {
        if (C % (f * f)) return rt_fail(c, "%lld channels are not divisible by %lld", (long long)C, (long long)(f * f));
        int64_t Co = C / (f * f);
        od[0] = N, od[1] = Co, od[2] = H * f, od[3] = W * f;
        int64_t dd[6] = {N, Co, H, f, W, f};
        int64_t ss[6] = {C * HW, dcr ? HW : f * f * HW, W, dcr ? f * Co * HW : f * HW, 1, dcr ? Co * HW : HW};
        memcpy(d, dd, sizeof d);
        memcpy(s, ss, sizeof s);
    } else {
        if (H % f || W % f)
            return rt_fail(c, "spatial dims %lldx%lld are not divisible by %lld", (long long)H, (long long)W, (long long)f);
        int64_t Ho = H / f, Wo = W / f;
        od[0] = N, od[1] = C * f * f, od[2] = Ho, od[3] = Wo;
        if (dcr) { /* out channel (i * f + j) * C + c */
            int64_t dd[6] = {N, f, f, C, Ho, Wo}, ss[6] = {C * HW, W, 1, HW, f * W, f};
            memcpy(d, dd, sizeof d);
            memcpy(s, ss, sizeof s);
        } else { /* out channel c * f * f + i * f + j */
            int64_t dd[6] = {N, C, f, f, Ho, Wo}, ss[6] = {C * HW, HW, W, 1, f * W, f};
            memcpy(d, dd, sizeof d);
            memcpy(s, ss, sizeof s);
        }
    }
    void *o = rt_out(c, 0, 4, od, x->dtype);
    if (!o) return -1;
    if (rt_numel(x) > 0) rt_strided_copy(o, x->data, esize(x), 6, d, s);
    return 0;
}

int rt_k_PIXEL_SHUFFLE(rt_ctx *c) { return pixel(c, "upscale_factor", 1, 0); }
int rt_k_PIXEL_UNSHUFFLE(rt_ctx *c) { return pixel(c, "downscale_factor", 0, 0); }
int rt_k_DEPTH_TO_SPACE(rt_ctx *c) { return pixel(c, "block_size", 1, 1); }
int rt_k_SPACE_TO_DEPTH(rt_ctx *c) { return pixel(c, "block_size", 0, 1); }

/* block_shape [2] and paddings / crops [2, 2] (all >= 0). */
static int block_params(rt_ctx *c, const char *pname, int64_t *b, int64_t *p) {
    int nb, np;
    if (!rt_in_req(c, "block_shape") || !rt_in_req(c, pname) || rt_param_ints(c, "block_shape", b, 2, &nb) ||
        rt_param_ints(c, pname, p, 4, &np))
        return -1;
    if (nb != 2 || np != 4) return rt_fail(c, "block_shape needs 2 entries and %s 2x2", pname);
    if (b[0] < 1 || b[1] < 1) return rt_fail(c, "block_shape entries must be >= 1");
    for (int i = 0; i < 4; i++)
        if (p[i] < 0) return rt_fail(c, "%s must be >= 0", pname);
    return 0;
}

int rt_k_SPACE_TO_BATCH(rt_ctx *c) {
    const rt_tensor *x = rank4(c);
    int64_t b[2], p[4];
    if (!x || block_params(c, "paddings", b, p)) return -1;
    int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    int64_t Hp = H + p[0] + p[1], Wp = W + p[2] + p[3];
    if (Hp % b[0] || Wp % b[1]) return rt_fail(c, "padded spatial dims %lldx%lld are not divisible by the block", (long long)Hp, (long long)Wp);
    size_t es = esize(x);
    char *pad = rt_scratch(c, (size_t)(N * C * Hp * Wp) * es, 1);
    int64_t od[4] = {N * b[0] * b[1], C, Hp / b[0], Wp / b[1]};
    char *o = pad ? rt_out(c, 0, 4, od, x->dtype) : NULL;
    if (!o) return -1;
    if (rt_numel(x) == 0 || rt_numel_dims(4, od) == 0) return 0;
    for (int64_t q = 0; q < N * C; q++)
        for (int64_t h = 0; h < H; h++)
            memcpy(pad + ((q * Hp + h + p[0]) * Wp + p[2]) * (int64_t)es, (const char *)x->data + (q * H + h) * W * (int64_t)es,
                   (size_t)W * es);
    int64_t d[6] = {b[0], b[1], N, C, od[2], od[3]}, s[6] = {Wp, 1, C * Hp * Wp, Hp * Wp, b[0] * Wp, b[1]};
    rt_strided_copy(o, pad, es, 6, d, s);
    return 0;
}

int rt_k_BATCH_TO_SPACE(rt_ctx *c) {
    const rt_tensor *x = rank4(c);
    int64_t b[2], p[4];
    if (!x || block_params(c, "crops", b, p)) return -1;
    int64_t B = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
    if (B % (b[0] * b[1])) return rt_fail(c, "batch %lld is not divisible by the block", (long long)B);
    int64_t N = B / (b[0] * b[1]), Hf = H * b[0], Wf = W * b[1], CHW = C * H * W;
    int64_t od[4] = {N, C, Hf - p[0] - p[1], Wf - p[2] - p[3]};
    if (od[2] < 0 || od[3] < 0) return rt_fail(c, "crops remove more than the spatial dims hold");
    size_t es = esize(x);
    char *full = rt_scratch(c, (size_t)(N * C * Hf * Wf) * es, 0);
    char *o = full ? rt_out(c, 0, 4, od, x->dtype) : NULL;
    if (!o) return -1;
    if (rt_numel(x) == 0 || rt_numel_dims(4, od) == 0) return 0;
    int64_t d[6] = {N, C, H, b[0], W, b[1]}, s[6] = {CHW, H * W, W, b[1] * N * CHW, 1, N * CHW};
    rt_strided_copy(full, x->data, es, 6, d, s);
    int64_t cs[4] = {C * Hf * Wf, Hf * Wf, Wf, 1};
    rt_strided_copy(o, full + (p[0] * Wf + p[2]) * (int64_t)es, es, 4, od, cs);
    return 0;
}
