/* conv_quant.c: kernel of conv_quantized (iOS15), a conv whose uint8 weight is dequantized per output
 * channel as q * quant_scale + quant_bias (each holds 1 or C_out values) before conv runs on it.
 * quantization_type "linear" only: MIL's op has no input for a lookup table. nbits (1-8) says how the
 * NeuralNetwork format packs the weight; in an ML Program it is one byte per value either way. */
#include "runtime/rt_internal.h"

int rt_k_CONV_QUANTIZED(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x"), *w = x ? rt_in_req(c, "weight") : NULL;
    const rt_tensor *qs = w ? rt_in_req(c, "quant_scale") : NULL, *qb = qs ? rt_in_req(c, "quant_bias") : NULL;
    if (!qb) return -1;
    const char *qt = rt_param_str(c, "quantization_type");
    int64_t nbits;
    if (!qt || rt_param_int(c, "nbits", &nbits)) return -1;
    if (strcmp(qt, "linear")) return rt_fail(c, "quantization_type '%s' is not supported (only 'linear')", qt);
    if (nbits < 1 || nbits > 8) return rt_fail(c, "nbits %lld must be in [1, 8]", (long long)nbits);
    if (w->dtype != IR_UINT8 || w->rank < 3) return rt_fail(c, "weight must be a uint8 tensor [C_out, C_in / groups, *kernel]");
    int64_t cout = w->dims[0], ns = rt_numel(qs), nb = rt_numel(qb), n = rt_numel(w);
    if ((ns != 1 && ns != cout) || (nb != 1 && nb != cout))
        return rt_fail(c, "quant_scale (%lld values) and quant_bias (%lld) need 1 or %lld (the output channels)", (long long)ns,
                       (long long)nb, (long long)cout);
    const float *sf = rt_f32(c, qs), *bf = sf ? rt_f32(c, qb) : NULL;
    float *wf = bf ? rt_scratch(c, sizeof(float) * (size_t)(n ? n : 1), 0) : NULL;
    if (!wf) return -1;
    const uint8_t *q = w->data;
    int64_t per = cout ? n / cout : 0;
    for (int64_t co = 0; co < cout; co++) {
        float s = sf[ns == 1 ? 0 : co], z = bf[nb == 1 ? 0 : co];
        for (int64_t i = co * per; i < (co + 1) * per; i++) wf[i] = (float)q[i] * s + z;
    }
    rt_val wv = {.t = {.dtype = IR_FP32, .rank = w->rank, .data = wf}};
    memcpy(wv.t.dims, w->dims, sizeof(int64_t) * (size_t)w->rank);
    return rt_conv_run(c, x, &wv.t, rt_in(c, "bias"));
}
