/* random.c: random_uniform, random_normal, random_bernoulli and random_categorical.
 *
 * A counter-based generator: element i of an op's output draws from
 * mix64(key + (i + 1) * golden ratio) (the splitmix64 finalizer), so any element can be
 * computed alone, nothing is carried between calls and no state is shared between
 * threads. The key comes from the op's `seed` (>= 0: the same values on every run of the
 * same program) and the op's name (two ops with one seed still draw different streams);
 * with seed -1 (MIL's default) it also mixes in the clock and addresses of this call, so
 * every run draws new values.
 *
 * uniform: [low, high) also after rounding (an fp16 output draws 11-bit fractions and
 * steps below high if rounding reached it); normal: Box-Muller on pairs of counters;
 * bernoulli: u < prob; categorical: inverse CDF over the normalized row (softmax of
 * logits, or probs / sum), indices written in x's float dtype as MIL declares.
 */
#include "runtime/rt_internal.h"

#include <math.h>
#include <time.h>

#define GOLDEN 0x9E3779B97F4A7C15ull

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t draw(uint64_t key, uint64_t i) { return mix64(key + (i + 1) * GOLDEN); }

/* uniform in [0, 1) with 24 bits / in (0, 1] with 53 bits / in [0, 1) with 53 bits */
static double u24(uint64_t b) { return (double)(b >> 40) * (1.0 / 16777216.0); }
static double u53_open0(uint64_t b) { return (double)((b >> 11) + 1) * (1.0 / 9007199254740992.0); }
static double u53(uint64_t b) { return (double)(b >> 11) * (1.0 / 9007199254740992.0); }

static uint64_t name_hash(const char *s) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (; s && *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ull;
    return h;
}

/* The op's stream key (see the file comment); `salt` is an address of this call. */
static int stream_key(rt_ctx *c, const void *salt, uint64_t *key) {
    int64_t seed;
    if (rt_param_int(c, "seed", &seed)) return -1;
    uint64_t k = name_hash(c->op->name);
    if (seed >= 0) {
        *key = mix64(k ^ mix64((uint64_t)seed + GOLDEN));
        return 0;
    }
    struct timespec r = {0, 0}, m = {0, 0};
    timespec_get(&r, TIME_UTC);
#ifdef CLOCK_MONOTONIC
    clock_gettime(CLOCK_MONOTONIC, &m);
#endif
    uint64_t t = (uint64_t)r.tv_sec * 1000000000ull + (uint64_t)r.tv_nsec;
    uint64_t u = (uint64_t)m.tv_sec * 1000000000ull + (uint64_t)m.tv_nsec;
    *key = mix64(k ^ mix64(t) ^ mix64(u * GOLDEN) ^ mix64((uint64_t)(uintptr_t)salt) ^ (uint64_t)(uintptr_t)&t);
    return 0;
}

/* The output shape from the int32 `shape` input. */
static int out_shape(rt_ctx *c, int *rank, int64_t *dims) {
    const rt_tensor *st = rt_in_req(c, "shape");
    if (!st) return -1;
    if (st->rank != 1) return rt_fail(c, "shape must be 1-D");
    if (st->dims[0] > IR_MAX_RANK) return rt_fail(c, "shape has %lld entries, at most %d allowed", (long long)st->dims[0], IR_MAX_RANK);
    const int64_t *v = rt_i64(c, st);
    if (!v) return -1;
    *rank = (int)st->dims[0];
    for (int i = 0; i < *rank; i++) {
        if (v[i] < 0) return rt_fail(c, "shape entry %d is negative (%lld)", i, (long long)v[i]);
        dims[i] = v[i];
    }
    return 0;
}

/* The largest fp16 value below h (h not -inf). */
static uint16_t f16_below(uint16_t h) {
    if (h == 0x0000 || h == 0x8000) return 0x8001;
    return (h & 0x8000) ? (uint16_t)(h + 1) : (uint16_t)(h - 1);
}

int rt_k_RANDOM_UNIFORM(rt_ctx *c) {
    int rank;
    int64_t dims[IR_MAX_RANK];
    double lo, hi;
    uint64_t key;
    if (out_shape(c, &rank, dims) || rt_param_float(c, "low", &lo) || rt_param_float(c, "high", &hi)) return -1;
    if (!(hi >= lo)) return rt_fail(c, "high (%g) must be >= low (%g)", hi, lo);
    int64_t n = rt_numel_dims(rank, dims);
    if (rt_out_f16(c, 0)) {
        uint16_t *o = rt_out(c, 0, rank, dims, IR_FP16);
        if (!o || stream_key(c, o, &key)) return -1;
        uint16_t top = f16_below(pc_f32_to_f16((float)hi)), bottom = pc_f32_to_f16((float)lo);
        for (int64_t i = 0; i < n; i++) {
            double u = (double)(draw(key, (uint64_t)i) >> 53) * (1.0 / 2048.0);
            uint16_t h = pc_f32_to_f16((float)(lo + (hi - lo) * u));
            if (hi > lo && pc_f16_to_f32(h) >= (float)hi) h = top;
            if (pc_f16_to_f32(h) < (float)lo) h = bottom;
            o[i] = h;
        }
        return 0;
    }
    float *o = rt_out(c, 0, rank, dims, IR_FP32);
    if (!o || stream_key(c, o, &key)) return -1;
    float fhi = (float)hi, below = nextafterf(fhi, -INFINITY);
    for (int64_t i = 0; i < n; i++) {
        float v = (float)(lo + (hi - lo) * u24(draw(key, (uint64_t)i)));
        o[i] = hi > lo && v >= fhi ? below : v;
    }
    return 0;
}

int rt_k_RANDOM_NORMAL(rt_ctx *c) {
    int rank;
    int64_t dims[IR_MAX_RANK];
    double mean, sd;
    uint64_t key;
    if (out_shape(c, &rank, dims) || rt_param_float(c, "mean", &mean) || rt_param_float(c, "stddev", &sd)) return -1;
    int64_t n = rt_numel_dims(rank, dims);
    float *o = rt_out(c, 0, rank, dims, IR_FP32);
    if (!o || stream_key(c, o, &key)) return -1;
    const double two_pi = 6.283185307179586;
    for (int64_t i = 0; i < n; i++) {
        uint64_t j = (uint64_t)i & ~(uint64_t)1;
        double r = sqrt(-2.0 * log(u53_open0(draw(key, j)))), a = two_pi * u53(draw(key, j + 1));
        o[i] = (float)(mean + sd * r * ((i & 1) ? sin(a) : cos(a)));
    }
    return 0;
}

int rt_k_RANDOM_BERNOULLI(rt_ctx *c) {
    int rank;
    int64_t dims[IR_MAX_RANK];
    double p;
    uint64_t key;
    if (out_shape(c, &rank, dims) || rt_param_float(c, "prob", &p)) return -1;
    int64_t n = rt_numel_dims(rank, dims);
    float *o = rt_out(c, 0, rank, dims, IR_FP32);
    if (!o || stream_key(c, o, &key)) return -1;
    for (int64_t i = 0; i < n; i++) o[i] = u24(draw(key, (uint64_t)i)) < p ? 1.0f : 0.0f;
    return 0;
}

int rt_k_RANDOM_CATEGORICAL(rt_ctx *c) {
    const rt_tensor *x = rt_in_req(c, "x");
    if (!x) return -1;
    const char *mode = rt_param_str(c, "mode");
    int64_t size;
    uint64_t key;
    if (!mode || rt_param_int(c, "size", &size)) return -1;
    int logits = strcmp(mode, "logits") == 0;
    if (!logits && strcmp(mode, "probs")) return rt_fail(c, "mode must be 'logits' or 'probs', got '%s'", mode);
    if (x->rank < 1) return rt_fail(c, "x needs rank >= 1");
    if (size < 1) return rt_fail(c, "size must be >= 1");
    int64_t K = x->dims[x->rank - 1], R = K ? rt_numel(x) / K : 0;
    if (K < 1) return rt_fail(c, "x has no categories");
    int64_t od[IR_MAX_RANK];
    for (int i = 0; i < x->rank; i++) od[i] = x->dims[i];
    od[x->rank - 1] = size;
    const float *xf = rt_f32(c, x);
    double *cum = xf ? rt_scratch(c, sizeof(double) * (size_t)K, 0) : NULL;
    float *o = cum ? rt_out(c, 0, x->rank, od, IR_FP32) : NULL;
    if (!o || stream_key(c, o, &key)) return -1;
    for (int64_t r = 0; r < R; r++) {
        const float *row = xf + r * K;
        double m = -INFINITY, total = 0;
        if (logits)
            for (int64_t k = 0; k < K; k++) m = row[k] > m ? row[k] : m;
        for (int64_t k = 0; k < K; k++) {
            double w = logits ? exp((double)row[k] - m) : (double)row[k];
            if (!(w >= 0) || isinf(w)) return rt_fail(c, "row %lld has an invalid %s %g", (long long)r, logits ? "logit" : "probability", (double)row[k]);
            total += w;
            cum[k] = total;
        }
        if (!(total > 0) || isinf(total)) return rt_fail(c, "row %lld has no category with a positive probability", (long long)r);
        for (int64_t s = 0; s < size; s++) {
            double u = u53(draw(key, (uint64_t)(r * size + s))) * total;
            int64_t lo = 0, hi = K - 1; /* first k with cum[k] > u */
            while (lo < hi) {
                int64_t mid = lo + (hi - lo) / 2;
                if (cum[mid] > u) hi = mid;
                else lo = mid + 1;
            }
            o[r * size + s] = (float)lo;
        }
    }
    return 0;
}
