/* fuzz_weights: the MIL blob storage reader (serialize/blob.c) on a fuzzed
 * weights/weight.bin. Each input is opened as the model reader opens it and read
 * through two sets of blob records: the reference package's (offset, dtype, size),
 * as its model.mlmodel asks for them, and the records the input itself chains
 * from the header (each next record 64-byte aligned after the previous data), as a
 * model written for that file would ask for them. Reading the model around the
 * weights is fuzz_model's part (its inputs carry a weight.bin too); parsing the
 * same model.mlmodel again on every input here cost four fifths of the time. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "serialize/ser_int.h"

#define MAX_BLOBS 64
#define MAX_BLOB_BYTES ((uint64_t)1 << 24)

typedef struct {
    uint64_t meta_off, nbytes;
    int code;
} blob_ref;

static blob_ref ref_blobs[MAX_BLOBS];
static int n_ref;
static char path[4096 + 64];

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* The records of a weight file in memory, chained from the header; at most `cap`. */
static int chain(const unsigned char *d, size_t size, blob_ref *out, int cap) {
    int n = 0;
    uint64_t off = 64;
    while (n < cap && off <= size && size - off >= 64 && le(d + off, 4) == SER_BLOB_SENTINEL) {
        uint64_t bytes = le(d + off + 8, 8), data = le(d + off + 16, 8);
        out[n++] = (blob_ref){off, bytes, (int)le(d + off + 4, 4)};
        if (data > size || bytes > size - data) break;
        off = (data + bytes + 63) & ~(uint64_t)63;
    }
    return n;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init((*argv)[0]);
    char ref[4096];
    snprintf(ref, sizeof ref, "%s/Data/com.apple.CoreML/weights/weight.bin", fz_ref());
    size_t len;
    unsigned char *w = fz_slurp(ref, &len);
    if (!w) {
        fprintf(stderr, "fuzz_weights: no reference weights at %s (run tests/fuzz/make_seeds.py)\n", ref);
        exit(1);
    }
    n_ref = chain(w, len, ref_blobs, MAX_BLOBS);
    free(w);
    snprintf(path, sizeof path, "%s/weight.bin", fz_scratch());
    return 0;
}

static void read_all(const blob_ref *b, int n) {
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return;
    ser_blobfile bf;
    pc_err e = {0};
    if (ser_blob_open(&bf, fd, path, &e)) return; /* closes fd */
    for (int i = 0; i < n; i++) {
        if (b[i].nbytes > MAX_BLOB_BYTES) continue; /* the model reader bounds a const by its declared shape */
        void *dst = malloc(b[i].nbytes ? b[i].nbytes : 1);
        if (!dst) break;
        pc_err be = {0};
        ser_blob_read(&bf, b[i].meta_off, b[i].code, b[i].nbytes, dst, &be);
        free(dst);
    }
    ser_blob_close(&bf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write(fz_scratch(), "weight.bin", data, size);
    read_all(ref_blobs, n_ref);
    blob_ref own[MAX_BLOBS];
    read_all(own, chain(data, size, own, MAX_BLOBS));
    return 0;
}
