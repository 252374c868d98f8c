/* fuzz_pt2: the .pt2 archive reader (export/archive.c) on a fuzzed archive, read
 * from memory: the zip directory (ZIP64 too), the pt2 markers, the program's
 * schema version, the payload configs, then every tensor the configs name, each
 * byte of it read (a pointer into the input, or the reader's copy). Seeds are
 * small archives torch.export.save wrote (make_seeds.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/archive.h"

static size_t elem_size(ts_scalar_type t) {
    switch (t) {
    case TS_UINT8: case TS_INT8: case TS_BOOL: return 1;
    case TS_INT16: case TS_HALF: case TS_BFLOAT16: return 2;
    case TS_INT32: case TS_FLOAT: case TS_COMPLEX_HALF: return 4;
    case TS_COMPLEX_DOUBLE: return 16;
    default: return 8;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a copy of exactly `size` bytes, so that reading past the input is caught */
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    exa_archive *a = NULL;
    pc_err e = {0};
    if (exa_open_mem(buf, size, "fuzz.pt2", &a, &e) == 0) {
        const char *json;
        size_t len;
        exa_program_json(a, &json, &len);
        volatile unsigned sum = 0;
        for (size_t i = 0; i < len; i++) sum += (unsigned char)json[i];
        for (int i = 0; i < exa_entry_count(a); i++) {
            const void *d;
            uint64_t n;
            if (exa_entry(a, exa_entry_name(a, i), &d, &n, &e) == 0 && n) sum += ((const unsigned char *)d)[n - 1];
        }
        for (int i = 0; i < exa_tensor_count(a); i++) {
            ts_tensor t;
            pc_err te = {0};
            if (exa_tensor(a, exa_tensor_name(a, i), &t, NULL, &te) != 0 || t.numel > (1 << 24)) continue;
            const unsigned char *p = t.data;
            size_t nb = (size_t)t.numel * elem_size(t.dtype);
            for (size_t k = 0; k < nb; k++) sum += p[k];
            exa_pages_done(a, t.data, nb); /* memory it does not map: nothing happens */
        }
        (void)sum;
        exa_close(a);
    }
    free(buf);
    return 0;
}
