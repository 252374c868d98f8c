/* fuzz_model: model.mlmodel (and its weight file) -> reader, then the runtime on zero inputs.
 * An input is a Model protobuf, optionally followed by FZ_MARK and the bytes of
 * weights/weight.bin (a separator rather than a length, so that mutations which
 * insert or delete bytes keep the two apart). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "runtime/rt.h"

#define FZ_MARK "\n--pt2coreml-weight.bin--\n"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init((*argv)[0]);
    rt_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t ml = sizeof FZ_MARK - 1, model_len = size;
    const uint8_t *weights = NULL;
    size_t wlen = 0;
    const uint8_t *mark = memmem(data, size, FZ_MARK, ml); /* one call: a memcmp per offset costs libFuzzer's hooks */
    if (mark) {
        model_len = (size_t)(mark - data);
        weights = mark + ml;
        wlen = size - model_len - ml;
    }
    fz_write(fz_scratch(), "weights/weight.bin", weights ? weights : (const uint8_t *)"", wlen);
    fz_read(data, model_len, 1);
    return 0;
}
