/* fuzz_common.h: helpers the libFuzzer targets share: a scratch directory in
 * /dev/shm (removed at exit), whole-file writes, the reference package the
 * targets that fuzz one file take the others from, and a zero-input run of a
 * program in the runtime. Built by `make fuzz` (tests/fuzz/build.sh). */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "ir/ir.h"

/* Call from LLVMFuzzerInitialize: makes the scratch directory and finds the
 * reference package (`ref/` beside the executable, or $PT2COREML_FUZZ_REF). */
void fz_init(const char *argv0);
const char *fz_scratch(void);  /* the scratch directory */
const char *fz_ref(void);      /* the reference .mlpackage directory (may not exist) */
/* Write len bytes to dir/rel (replacing it); aborts on I/O errors (the harness's, not the reader's). */
void fz_write(const char *dir, const char *rel, const void *data, size_t len);
/* Read a whole file (malloc'd; NULL if missing). */
unsigned char *fz_slurp(const char *path, size_t *len);
/* Prepare p's main function and run it once on zero inputs (symbolic dims = 1).
 * Errors are expected and ignored; crashes and sanitizer reports are the finding.
 * Inputs larger than 1M elements, string inputs and unknown ranks are skipped, and so are programs whose
 * declared values (rt_memory_plan) exceed 256 MB each or 512 MB live at once. */
void fz_run_zero(ir_program *p);
/* Read model[0..len) (its weight files under the scratch directory) or, model NULL, the package that
 * is the scratch directory; with run, run what was read through fz_run_zero. */
void fz_read(const unsigned char *model, size_t len, int run);

#endif
