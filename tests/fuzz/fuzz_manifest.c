/* fuzz_manifest: Manifest.json of a package whose model and weights are the
 * reference package's; the whole package is read (ser_read_package). */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init((*argv)[0]);
    static const char *files[] = {"Data/com.apple.CoreML/model.mlmodel", "Data/com.apple.CoreML/weights/weight.bin"};
    for (int i = 0; i < 2; i++) {
        char path[4096];
        size_t n = 0;
        snprintf(path, sizeof path, "%s/%s", fz_ref(), files[i]);
        unsigned char *b = fz_slurp(path, &n);
        if (!b) {
            fprintf(stderr, "fuzz_manifest: no reference file %s (run tests/fuzz/make_seeds.py)\n", path);
            exit(1);
        }
        fz_write(fz_scratch(), files[i], b, n);
        free(b);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write(fz_scratch(), "Manifest.json", data, size);
    fz_read(NULL, 0, 0);
    return 0;
}
