/* fuzz_weights: weights/weight.bin (MIL blob storage) under the reference
 * package's model.mlmodel, read (not run: fuzz_model runs programs with their
 * weights, and the reader is what this target is about). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"
#include "serialize/ser.h"

static unsigned char *model;
static size_t model_len;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init((*argv)[0]);
    char path[4096];
    snprintf(path, sizeof path, "%s/Data/com.apple.CoreML/model.mlmodel", fz_ref());
    if (!(model = fz_slurp(path, &model_len))) {
        fprintf(stderr, "fuzz_weights: no reference model at %s (run tests/fuzz/make_seeds.py)\n", path);
        exit(1);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write(fz_scratch(), "weights/weight.bin", data, size);
    pc_arena *a = pc_arena_new();
    if (!a) return 0;
    ir_program *p = NULL;
    ser_desc d;
    pc_err e = {0};
    if (ser_read_model_mem(model, model_len, "model.mlmodel", fz_scratch(), a, &p, &d, &e) == 0) ir_program_free(p);
    pc_arena_free(a);
    return 0;
}
