/* blob.c: MIL blob storage (weights/weight.bin).
 *
 * Layout (little-endian): a 64-byte header {u32 count, u32 version = 2, 7 x u64
 * reserved}, then per blob a 64-byte metadata record {u32 sentinel 0xDEADBEEF,
 * u32 dtype, u64 size in bytes, u64 absolute data offset, u64 padding bits,
 * 4 x u64 reserved} directly followed by the data. Records start 64-byte
 * aligned, so data is 64-byte aligned too. Programs refer to a blob by the
 * offset of its metadata record. */
#include "serialize/ser_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_BYTES 64u
#define META_BYTES 64u
#define CHUNK_ELEMS 16384

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }

static void wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static void wr64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static const char *blob_code_name(int code) {
    static const char *names[] = {"?", "fp16", "fp32", "uint8", "int8", "bf16", "int16", "uint16",
                                  "int4", "uint1", "uint2", "uint4", "uint3", "uint6", "int32", "uint32"};
    return (code >= 0 && code < PC_ARRAY_LEN(names)) ? names[code] : "unknown";
}

/* ---- reading ---- */

int ser_blob_open(ser_blobfile *bf, int fd, const char *path, pc_err *e) {
    memset(bf, 0, sizeof *bf);
    bf->path = path;
    bf->f = fdopen(fd, "rb");
    if (!bf->f) {
        int er = errno;
        close(fd);
        return pc_fail(e, PC_E_IO, "cannot open weight file %s: %s", path, strerror(er));
    }
    struct stat st;
    if (fstat(fileno(bf->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        ser_blob_close(bf);
        return pc_fail(e, PC_E_FORMAT, "%s is not a regular file", path);
    }
    bf->size = (uint64_t)st.st_size;
    unsigned char h[HEADER_BYTES];
    if (bf->size < HEADER_BYTES || fread(h, 1, sizeof h, bf->f) != sizeof h) {
        ser_blob_close(bf);
        return pc_fail(e, PC_E_FORMAT, "%s: truncated weight file (%llu bytes, the header alone is 64)", path,
                       (unsigned long long)st.st_size);
    }
    uint32_t version = rd32(h + 4);
    if (version != SER_BLOB_VERSION) {
        ser_blob_close(bf);
        return pc_fail(e, PC_E_FORMAT, "%s: weight file version %u, expected %u", path, version, SER_BLOB_VERSION);
    }
    return 0;
}

void ser_blob_close(ser_blobfile *bf) {
    if (bf->f) fclose(bf->f);
    bf->f = NULL;
}

int ser_blob_read(ser_blobfile *bf, uint64_t meta_off, int code, uint64_t nbytes, void *dst, pc_err *e) {
    if (meta_off < HEADER_BYTES || meta_off > bf->size || bf->size - meta_off < META_BYTES)
        return pc_fail(e, PC_E_FORMAT, "%s: blob offset %llu is out of range (file has %llu bytes)", bf->path,
                       (unsigned long long)meta_off, (unsigned long long)bf->size);
    unsigned char m[META_BYTES];
    if (fseeko(bf->f, (off_t)meta_off, SEEK_SET) != 0 || fread(m, 1, sizeof m, bf->f) != sizeof m)
        return pc_fail(e, PC_E_IO, "%s: cannot read the blob record at %llu", bf->path, (unsigned long long)meta_off);
    uint32_t sentinel = rd32(m);
    if (sentinel != SER_BLOB_SENTINEL)
        return pc_fail(e, PC_E_FORMAT, "%s: bad sentinel 0x%08X in the blob record at offset %llu (expected 0x%08X)",
                       bf->path, sentinel, (unsigned long long)meta_off, SER_BLOB_SENTINEL);
    uint32_t dt = rd32(m + 4);
    uint64_t size = rd64(m + 8), data = rd64(m + 16);
    if ((int)dt != code)
        return pc_fail(e, PC_E_FORMAT, "%s: the blob at offset %llu holds %s data (code %u) but the const is %s", bf->path,
                       (unsigned long long)meta_off, blob_code_name((int)dt), dt, blob_code_name(code));
    if (size != nbytes)
        return pc_fail(e, PC_E_FORMAT, "%s: the blob at offset %llu holds %llu bytes, its const needs %llu", bf->path,
                       (unsigned long long)meta_off, (unsigned long long)size, (unsigned long long)nbytes);
    if (data < HEADER_BYTES || data > bf->size || bf->size - data < size)
        return pc_fail(e, PC_E_FORMAT,
                       "%s: the data of the blob at offset %llu (%llu bytes at %llu) lies outside the file (%llu bytes)",
                       bf->path, (unsigned long long)meta_off, (unsigned long long)size, (unsigned long long)data,
                       (unsigned long long)bf->size);
    if (size == 0) return 0;
    if (fseeko(bf->f, (off_t)data, SEEK_SET) != 0 || fread(dst, 1, (size_t)size, bf->f) != (size_t)size)
        return pc_fail(e, PC_E_IO, "%s: cannot read %llu bytes of blob data at %llu", bf->path, (unsigned long long)size,
                       (unsigned long long)data);
    return 0;
}

/* ---- writing ---- */

void ser_blob_layout(ser_blob *blobs, int n) {
    uint64_t pos = HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        pos = (pos + SER_BLOB_ALIGN - 1) & ~(uint64_t)(SER_BLOB_ALIGN - 1);
        blobs[i].meta_off = pos;
        pos += META_BYTES + blobs[i].nbytes;
    }
}

/* Convert elements [i0, i0+n) of c into dst as dtype t. */
static int convert(const ir_const *c, ir_dtype t, int64_t i0, int64_t n, void *dst, pc_err *e) {
    if (!ir_const_is_raw(c) && (t == IR_FP16 || t == IR_FP32)) { /* scaled payload: through fp32 */
        float *f = t == IR_FP32 ? dst : malloc((size_t)(n ? n : 1) * sizeof(float));
        if (!f) return pc_fail(e, PC_E_NOMEM, "blob writer: out of memory");
        ir_const_read_f32_range(c, i0, n, f);
        if (t == IR_FP16) {
            pc_f32_to_f16_n(dst, f, (size_t)n);
            free(f);
        }
        return 0;
    }
    if (t == IR_FP16 && c->store == IR_FP32) {
        pc_f32_to_f16_n(dst, (const float *)c->data + i0, (size_t)n);
        return 0;
    }
    if (t == IR_FP32 && c->store == IR_FP16) {
        pc_f16_to_f32_n(dst, (const uint16_t *)c->data + i0, (size_t)n);
        return 0;
    }
    for (int64_t k = 0; k < n; k++) {
        int64_t i = i0 + k;
        if (t == IR_FP16) {
            ((uint16_t *)dst)[k] = pc_f32_to_f16((float)ir_const_get_f64(c, i));
            continue;
        }
        if (t == IR_FP32) {
            ((float *)dst)[k] = (float)ir_const_get_f64(c, i);
            continue;
        }
        int64_t v = ir_const_get_i64(c, i), lo, hi;
        switch (t) {
        case IR_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
        case IR_UINT8: lo = 0, hi = UINT8_MAX; break;
        case IR_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
        case IR_UINT16: lo = 0, hi = UINT16_MAX; break;
        case IR_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
        case IR_UINT32: lo = 0, hi = UINT32_MAX; break;
        default: return pc_fail(e, PC_E_INTERNAL, "blob writer: no conversion to %s", ir_dtype_name(t));
        }
        if (v < lo || v > hi)
            return pc_fail(e, PC_E_VALUE, "constant element %lld = %lld does not fit %s", (long long)i, (long long)v,
                           ir_dtype_name(t));
        switch (t) {
        case IR_INT8: ((int8_t *)dst)[k] = (int8_t)v; break;
        case IR_UINT8: ((uint8_t *)dst)[k] = (uint8_t)v; break;
        case IR_INT16: ((int16_t *)dst)[k] = (int16_t)v; break;
        case IR_UINT16: ((uint16_t *)dst)[k] = (uint16_t)v; break;
        case IR_INT32: ((int32_t *)dst)[k] = (int32_t)v; break;
        default: ((uint32_t *)dst)[k] = (uint32_t)v; break;
        }
    }
    return 0;
}

static int put(FILE *f, const void *p, size_t n, const char *path, pc_err *e) {
    if (n && fwrite(p, 1, n, f) != n) return pc_fail(e, PC_E_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

#define RAW_CHUNK (1u << 24) /* bytes written between progress reports when no conversion is needed */

static int write_blobs(FILE *f, const char *path, const ser_blob *blobs, int n, const ir_program *p, void *buf,
                       pc_progress *progress,
                       pc_err *e) {
    unsigned char h[HEADER_BYTES] = {0}, zeros[SER_BLOB_ALIGN] = {0};
    int64_t total = 0, done = 0;
    for (int i = 0; i < n; i++) total += (int64_t)blobs[i].nbytes;
    pc_progress_report(progress, "writing weights", 0, total);
    wr32(h, (uint32_t)n);
    wr32(h + 4, SER_BLOB_VERSION);
    if (put(f, h, sizeof h, path, e)) return -1;
    uint64_t pos = HEADER_BYTES;
    for (int i = 0; i < n; i++) {
        const ser_blob *b = &blobs[i];
        int code = ser_blob_code(b->dtype);
        size_t es = ir_dtype_size(b->dtype);
        if (code < 0 || b->meta_off < pos || b->meta_off - pos >= SER_BLOB_ALIGN ||
            b->nbytes != (uint64_t)b->c->count * es)
            return pc_fail(e, PC_E_INTERNAL, "blob writer: inconsistent layout of blob %d", i);
        if (put(f, zeros, (size_t)(b->meta_off - pos), path, e)) return -1;
        unsigned char m[META_BYTES] = {0};
        wr32(m, SER_BLOB_SENTINEL);
        wr32(m + 4, (uint32_t)code);
        wr64(m + 8, b->nbytes);
        wr64(m + 16, b->meta_off + META_BYTES);
        if (put(f, m, sizeof m, path, e)) return -1;
        if (b->c->store == b->dtype && ir_const_is_raw(b->c)) {
            const unsigned char *src = b->c->data;
            for (uint64_t o = 0; o < b->nbytes; o += RAW_CHUNK) {
                size_t k = (size_t)PC_MIN((uint64_t)RAW_CHUNK, b->nbytes - o);
                if (put(f, src + o, k, path, e)) return -1;
                pc_progress_report(progress, "writing weights", done + (int64_t)(o + k), total);
            }
        } else {
            for (int64_t i0 = 0; i0 < b->c->count; i0 += CHUNK_ELEMS) {
                int64_t k = PC_MIN((int64_t)CHUNK_ELEMS, b->c->count - i0);
                if (convert(b->c, b->dtype, i0, k, buf, e)) return -1;
                if (put(f, buf, (size_t)k * es, path, e)) return -1;
                pc_progress_report(progress, "writing weights", done + (i0 + k) * (int64_t)es, total);
            }
        }
        done += (int64_t)b->nbytes;
        pc_progress_report(progress, "writing weights", done, total);
        ir_program_pages_done(p, b->c->data, (size_t)b->c->count * ir_dtype_size(b->c->store));
        pos = b->meta_off + META_BYTES + b->nbytes;
    }
    return 0;
}

int ser_blob_write(const char *path, const ser_blob *blobs, int n, const ir_program *p, pc_progress *progress,
                   pc_err *e) {
    if (n < 0) return pc_fail(e, PC_E_INTERNAL, "blob writer: negative blob count");
    FILE *f = fopen(path, "wbx");
    if (!f) return pc_fail(e, PC_E_IO, "cannot create %s: %s", path, strerror(errno));
    void *iobuf = malloc(1u << 20), *buf = malloc((size_t)CHUNK_ELEMS * 8);
    if (!iobuf || !buf) {
        free(iobuf);
        free(buf);
        fclose(f);
        return pc_fail(e, PC_E_NOMEM, "out of memory writing %s", path);
    }
    setvbuf(f, iobuf, _IOFBF, 1u << 20);
    int r = write_blobs(f, path, blobs, n, p, buf, progress, e);
    if (fclose(f) != 0 && r == 0) r = pc_fail(e, PC_E_IO, "cannot write %s: %s", path, strerror(errno));
    free(iobuf);
    free(buf);
    return r;
}
