/* fuzz_weights: weights/weight.bin (MIL blob storage) under the reference
 * package's model.mlmodel, read (not run: fuzz_model runs programs with their
 * weights, and the reader is what this target is about). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"

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
    fz_read(model, model_len, 0);
    return 0;
}
