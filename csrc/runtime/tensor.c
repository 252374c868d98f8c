/* tensor.c: dtype conversion, shapes and broadcasting, strided copies (runtime helpers). */
#include "runtime/rt_internal.h"

#include <math.h>
#include <stdio.h>

int64_t rt_numel_dims(int rank, const int64_t *dims) {
    int64_t n = 1;
    for (int i = 0; i < rank; i++) n *= dims[i];
    return n;
}

void rt_c_strides(const rt_tensor *t, int64_t *st) {
    int64_t acc = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        st[i] = acc;
        acc *= t->dims[i];
    }
}

int64_t rt_numel(const rt_tensor *t) { return rt_numel_dims(t->rank, t->dims); }

int rt_axis(rt_ctx *c, int64_t axis, int rank, const char *what) {
    if (axis < -rank || axis >= (rank ? rank : 1) || (rank == 0 && axis != 0 && axis != -1))
        return rt_fail(c, "%s %lld is out of range for rank %d", what, (long long)axis, rank);
    if (rank == 0) return 0;
    return (int)(axis < 0 ? axis + rank : axis);
}

const char *rt_dims_str(int rank, const int64_t *dims, char *buf, size_t n) {
    size_t k = 0;
    k += (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? "," : "", (long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

/* ---- conversion ---- */
/* fp16 <-> fp32 bulk conversion is pc_f32_to_f16_n / pc_f16_to_f32_n (common/fp16.c:
 * F16C where the CPU has it); rt_convert_par splits large arrays over threads. */

typedef struct {
    void *dst;
    const void *src;
    int to_half;
} h_job;

static void h_range(void *ctx, int64_t lo, int64_t hi) {
    const h_job *j = ctx;
    if (j->to_half) pc_f32_to_f16_n((uint16_t *)j->dst + lo, (const float *)j->src + lo, (size_t)(hi - lo));
    else pc_f16_to_f32_n((float *)j->dst + lo, (const uint16_t *)j->src + lo, (size_t)(hi - lo));
}

void rt_convert_par(void *dst, ir_dtype ddt, const void *src, ir_dtype sdt, int64_t n) {
    int half = (ddt == IR_FP16 && sdt == IR_FP32) || (ddt == IR_FP32 && sdt == IR_FP16);
    if (!half || n < 65536) {
        rt_convert(dst, ddt, src, sdt, n);
        return;
    }
    h_job j = {dst, src, ddt == IR_FP16};
    rt_parallel_for(n, 1.0, h_range, &j);
}

static double load_f64(const void *p, ir_dtype dt, int64_t i) {
    switch (dt) {
    case IR_BOOL: return ((const uint8_t *)p)[i] ? 1.0 : 0.0;
    case IR_FP16: return pc_f16_to_f32(((const uint16_t *)p)[i]);
    case IR_FP32: return ((const float *)p)[i];
    case IR_FP64: return ((const double *)p)[i];
    case IR_INT8: return ((const int8_t *)p)[i];
    case IR_INT16: return ((const int16_t *)p)[i];
    case IR_INT32: return ((const int32_t *)p)[i];
    case IR_INT64: return (double)((const int64_t *)p)[i];
    case IR_UINT8: return ((const uint8_t *)p)[i];
    case IR_UINT16: return ((const uint16_t *)p)[i];
    case IR_UINT32: return ((const uint32_t *)p)[i];
    case IR_UINT64: return (double)((const uint64_t *)p)[i];
    default: return 0.0;
    }
}

static int64_t load_i64(const void *p, ir_dtype dt, int64_t i) {
    switch (dt) {
    case IR_BOOL: return ((const uint8_t *)p)[i] ? 1 : 0;
    case IR_INT8: return ((const int8_t *)p)[i];
    case IR_INT16: return ((const int16_t *)p)[i];
    case IR_INT32: return ((const int32_t *)p)[i];
    case IR_INT64: return ((const int64_t *)p)[i];
    case IR_UINT8: return ((const uint8_t *)p)[i];
    case IR_UINT16: return ((const uint16_t *)p)[i];
    case IR_UINT32: return ((const uint32_t *)p)[i];
    case IR_UINT64: return (int64_t)((const uint64_t *)p)[i];
    default: {
        double d = load_f64(p, dt, i);
        if (d != d) return 0;
        if (d >= 9.2233720368547758e18) return INT64_MAX;
        if (d <= -9.2233720368547758e18) return INT64_MIN;
        return (int64_t)d; /* truncation toward zero */
    }
    }
}

static void store_i64(void *p, ir_dtype dt, int64_t i, int64_t v) {
    switch (dt) {
    case IR_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case IR_INT8: ((int8_t *)p)[i] = (int8_t)(uint8_t)v; break;
    case IR_INT16: ((int16_t *)p)[i] = (int16_t)(uint16_t)v; break;
    case IR_INT32: ((int32_t *)p)[i] = (int32_t)(uint32_t)v; break;
    case IR_INT64: ((int64_t *)p)[i] = v; break;
    case IR_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case IR_UINT16: ((uint16_t *)p)[i] = (uint16_t)v; break;
    case IR_UINT32: ((uint32_t *)p)[i] = (uint32_t)v; break;
    case IR_UINT64: ((uint64_t *)p)[i] = (uint64_t)v; break;
    default: break;
    }
}

void rt_convert(void *dst, ir_dtype ddt, const void *src, ir_dtype sdt, int64_t n) {
    if (n <= 0) return;
    if (ddt == sdt) {
        memcpy(dst, src, ir_dtype_size(ddt) * (size_t)n);
        return;
    }
    if ((ddt == IR_FP32 && sdt == IR_FP16) || (ddt == IR_FP16 && sdt == IR_FP32)) {
        h_job j = {dst, src, ddt == IR_FP16};
        h_range(&j, 0, n);
        return;
    }
    if (ddt == IR_FP32 && sdt == IR_INT32) {
        float *d = dst;
        const int32_t *s = src;
        for (int64_t i = 0; i < n; i++) d[i] = (float)s[i];
        return;
    }
    if (ddt == IR_INT32 && sdt == IR_INT64) {
        int32_t *d = dst;
        const int64_t *s = src;
        for (int64_t i = 0; i < n; i++) d[i] = (int32_t)(uint32_t)s[i];
        return;
    }
    if (ddt == IR_FP32 || ddt == IR_FP64 || ddt == IR_FP16) {
        for (int64_t i = 0; i < n; i++) {
            double v = load_f64(src, sdt, i);
            if (ddt == IR_FP32) ((float *)dst)[i] = (float)v;
            else if (ddt == IR_FP64) ((double *)dst)[i] = v;
            else ((uint16_t *)dst)[i] = pc_f32_to_f16((float)v);
        }
        return;
    }
    if (ddt == IR_BOOL && ir_dtype_is_float(sdt)) {
        for (int64_t i = 0; i < n; i++) ((uint8_t *)dst)[i] = load_f64(src, sdt, i) != 0.0;
        return;
    }
    for (int64_t i = 0; i < n; i++) store_i64(dst, ddt, i, load_i64(src, sdt, i));
}

/* ---- broadcasting ---- */
int rt_broadcast_shape(rt_ctx *c, int ra, const int64_t *da, int rb, const int64_t *db, int *rank,
                       int64_t *dims) {
    int r = PC_MAX(ra, rb);
    for (int i = 0; i < r; i++) {
        int ia = i - (r - ra), ib = i - (r - rb);
        int64_t a = ia >= 0 ? da[ia] : 1, b = ib >= 0 ? db[ib] : 1;
        if (a != b && a != 1 && b != 1) {
            char sa[160], sb[160];
            return rt_fail(c, "shapes %s and %s do not broadcast (dim %d: %lld vs %lld)",
                           rt_dims_str(ra, da, sa, sizeof sa), rt_dims_str(rb, db, sb, sizeof sb), i,
                           (long long)a, (long long)b);
        }
        dims[i] = a == 1 ? b : a;
    }
    *rank = r;
    return 0;
}

void rt_bcast_strides(int ra, const int64_t *da, int r, const int64_t *dout, int64_t *strides) {
    int64_t s = 1;
    for (int i = r - 1; i >= 0; i--) {
        int ia = i - (r - ra);
        if (ia < 0) {
            strides[i] = 0;
            continue;
        }
        strides[i] = (da[ia] == 1 && dout[i] != 1) ? 0 : s;
        s *= da[ia];
    }
}

/* Merge adjacent dims that are contiguous in the strided source (and the output). */
static int coalesce(int rank, int64_t *dims, int64_t *strides) {
    if (rank == 0) return 0;
    int w = 0;
    for (int i = 1; i < rank; i++) {
        if (strides[w] == strides[i] * dims[i]) {
            dims[w] *= dims[i];
            strides[w] = strides[i];
        } else {
            w++;
            dims[w] = dims[i];
            strides[w] = strides[i];
        }
    }
    return w + 1;
}

void rt_strided_copy(void *out, const void *in, size_t elem, int rank, const int64_t *dims,
                     const int64_t *strides) {
    int64_t d[2 * IR_MAX_RANK], s[2 * IR_MAX_RANK];
    int r = 0;
    for (int i = 0; i < rank && i < 2 * IR_MAX_RANK; i++) {
        if (dims[i] == 0) return;
        if (dims[i] == 1) continue; /* size-1 dims do not move anything */
        d[r] = dims[i];
        s[r] = strides[i];
        r++;
    }
    r = coalesce(r, d, s);
    if (r == 0) {
        memcpy(out, in, elem);
        return;
    }
    int64_t inner = d[r - 1], is = s[r - 1];
    int64_t outer = 1;
    for (int i = 0; i < r - 1; i++) outer *= d[i];
    int64_t idx[2 * IR_MAX_RANK] = {0};
    int64_t off = 0;
    char *o = out;
    const char *src = in;
    for (int64_t k = 0; k < outer; k++) {
        if (is == 1) {
            memcpy(o, src + off * (int64_t)elem, (size_t)inner * elem);
        } else if (elem == 4) {
            const uint32_t *sp = (const uint32_t *)src + off;
            uint32_t *op = (uint32_t *)o;
            for (int64_t j = 0; j < inner; j++) op[j] = sp[j * is];
        } else if (elem == 2) {
            const uint16_t *sp = (const uint16_t *)src + off;
            uint16_t *op = (uint16_t *)o;
            for (int64_t j = 0; j < inner; j++) op[j] = sp[j * is];
        } else {
            for (int64_t j = 0; j < inner; j++) memcpy(o + j * (int64_t)elem, src + (off + j * is) * (int64_t)elem, elem);
        }
        o += inner * (int64_t)elem;
        for (int i = r - 2; i >= 0; i--) {
            idx[i]++;
            off += s[i];
            if (idx[i] < d[i]) break;
            off -= s[i] * d[i];
            idx[i] = 0;
        }
    }
}
