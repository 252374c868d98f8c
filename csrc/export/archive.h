/* archive.h: a .pt2 archive (torch.export.save) read in C, without torch.
 *
 * Two layers, prefix exa_, both in archive.c:
 * - the zip container: the file is mapped read-only and its central
 *   directory read (ZIP64 too), every offset and length checked against the file;
 *   entries must be stored (uncompressed, as torch's writer stores every record):
 *   a compressed or encrypted entry fails naming it. An entry's bytes are a
 *   pointer into the mapping, never a copy.
 * - the pt2 layout: `<root>/archive_format` ("pt2"),
 *   `<root>/archive_version`, `<root>/byteorder` (little only), the program JSON
 *   `<root>/models/<model>.json` and the payload configs
 *   `<root>/data/{weights,constants}/<model>_{weights,constants}_config.json`
 *   that map a parameter / buffer / constant's fully-qualified name to its record
 *   (`data/weights/weight_N`) and tensor metadata (export's ScalarType code,
 *   sizes, strides, storage offset). exa_tensor resolves a name to a ts_tensor
 *   whose data points into the mapping when the tensor is contiguous and aligned;
 *   otherwise (strided, offset into a misaligned record, bfloat16 widened to
 *   float) it is copied once, into memory the archive owns.
 *
 * Memory: the archive owns the mapping and every copy until exa_close. Pages of
 * the mapping are read from the file when touched; exa_pages_done(a, p, n) gives
 * those of [p, p + n) back (madvise MADV_DONTNEED: the mapping is read-only, so
 * a later touch reads them from the file again), so a writer that streams the
 * weights out keeps only what it is writing resident.
 */
#ifndef EXA_ARCHIVE_H
#define EXA_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "common/pc.h"
#include "torchscript/ts.h"

typedef struct exa_archive exa_archive;

/* Open and check `path`: the zip directory, the pt2 markers, the program's
 * schema version (a major version we do not read fails naming it) and the
 * payload configs. Errors: PC_E_IO (cannot open / map), PC_E_FORMAT (not a zip,
 * corrupt, not a pt2 archive, a version we do not read), naming the file and
 * the entry. */
int exa_open(const char *path, exa_archive **out, pc_err *e);
/* Same, over bytes already in memory (kept by the caller until exa_close; the fuzz target). */
int exa_open_mem(const void *data, size_t len, const char *what, exa_archive **out, pc_err *e);
void exa_close(exa_archive *a);
/* exa_close with the signature of an ir_program_hold release callback. */
void exa_release(void *a);

/* ---- the zip container ---- */
int exa_entry_count(const exa_archive *a);
/* Entry i (in name order): its name, its size and where its bytes are (stored, in the mapping). */
const char *exa_entry_name(const exa_archive *a, int i);
uint64_t exa_entry_size(const exa_archive *a, int i);
uint64_t exa_entry_offset(const exa_archive *a, int i); /* of the data in the file */
/* The bytes of the entry called `name` (full path in the zip): 0 and *data, *len
 * set; -1 with PC_E_FORMAT when absent. */
int exa_entry(const exa_archive *a, const char *name, const void **data, uint64_t *len, pc_err *e);

/* ---- the pt2 layout ---- */
const char *exa_root(const exa_archive *a);  /* the archive's top folder */
const char *exa_model(const exa_archive *a); /* the program's name ("model") */
/* The serialized ExportedProgram (models/<model>.json), in the mapping. */
void exa_program_json(const exa_archive *a, const char **json, size_t *len);
/* Its "torch_version" (e.g. "2.14.1+cpu"), or "" when absent. */
const char *exa_torch_version(const exa_archive *a);
/* The names the payload configs list: weights (parameters and buffers) first, then constants. */
int exa_tensor_count(const exa_archive *a);
const char *exa_tensor_name(const exa_archive *a, int i);
int exa_has_tensor(const exa_archive *a, const char *fqn);
/* The tensor called `fqn` ("conv1.weight"): 0 and *out set; -1 (PC_E_FORMAT,
 * PC_E_UNSUPPORTED for a pickled tensor subclass, a custom object, a dtype we do
 * not read; PC_E_VALUE when no payload has that name). *copied says whether its
 * data is a copy rather than a pointer into the mapping (may be NULL). */
int exa_tensor(exa_archive *a, const char *fqn, ts_tensor *out, int *copied, pc_err *e);
/* Give back the mapped pages of [p, p + n) (no-op for memory outside the mapping). */
void exa_pages_done(void *a, const void *p, size_t n);

#endif
