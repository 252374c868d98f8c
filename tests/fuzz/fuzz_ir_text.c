/* fuzz_ir_text: the IR text parser (ir_parse); a program it accepts is printed,
 * checked (ir_check) and, when the checker accepts it, run on zero inputs. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "runtime/rt.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init((*argv)[0]);
    rt_set_num_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ir_program *p = NULL;
    pc_err e = {0};
    if (ir_parse(text, &p, &e) == 0) {
        free(ir_print_str(p, -1));
        if (ir_check(p, &e) == 0) fz_run_zero(p);
        ir_program_free(p);
    }
    free(text);
    return 0;
}
