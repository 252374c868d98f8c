/* ser_int.h: pieces shared inside serialize/: the package
 * layout, MIL blob storage, type-code tables, file helpers and the
 * feature-description conversions. Not a stage contract: ser.h is.
 */
#ifndef SER_INT_H
#define SER_INT_H

#include "serialize/ser.h"
#include "common/json.h"

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>

#include "coreml.pb-c.h"

/* ---- package layout (manifest.c) ---- */
/* Where a model's files are. Files inside a package are opened below rootfd
 * without following symbolic links (the package directory itself may be one). */
typedef struct ser_model_loc {
    int rootfd;           /* the package directory, or a bare model file's directory (close it) */
    const char *file;     /* the Model protobuf file, for messages */
    const char *file_rel; /* ... below rootfd; NULL for a bare file, opened by its path */
    const char *dir;      /* what "@model_path" stands for, for messages */
    const char *dir_rel;  /* ... below rootfd ("." for rootfd itself) */
} ser_model_loc;

/* Resolve what `path` names (an .mlpackage directory, or a bare model.mlmodel)
 * into loc (strings in a; loc->rootfd is -1 on failure). */
int ser_locate_model(const char *path, pc_arena *a, ser_model_loc *loc, pc_err *e);
/* Read the Model protobuf file loc names (malloc'd; free() it). */
int ser_read_model_file(const ser_model_loc *loc, unsigned char **buf, size_t *len, pc_err *e);
/* Close loc->rootfd. */
void ser_model_loc_close(ser_model_loc *loc);
/* Write Manifest.json into package directory `pkg` (model and weights entries,
 * fresh random UUIDs). */
int ser_write_manifest(const char *pkg, pc_err *e);
/* A random (version 4) UUID, lower case, into buf[37]. */
void ser_uuid(char buf[37]);

/* ---- files (files.c) ---- */
/* Open rel (relative to directory fd dirfd, or AT_FDCWD) for reading without
 * blocking on a FIFO or device: regular files only (PC_E_FORMAT naming `shown` and
 * what it is otherwise). beneath: no component of rel may be a symbolic link, "..",
 * or leave dirfd. Returns a (blocking) fd, or -1. */
int ser_open_file(int dirfd, const char *rel, int beneath, const char *shown, pc_err *e);
/* Read a whole file so opened into malloc'd memory (*buf, *len; free() it). Files
 * larger than max_len fail with PC_E_FORMAT. */
int ser_read_file(int dirfd, const char *rel, int beneath, const char *shown, size_t max_len, unsigned char **buf,
                  size_t *len, pc_err *e);
/* "a directory", "a FIFO", "a symbolic link", ... for a st_mode. */
const char *ser_kind_of(unsigned mode);
/* Write len bytes to a new file at path. */
int ser_write_file(const char *path, const void *buf, size_t len, pc_err *e);
/* mkdir -p for a path inside a directory we own. */
int ser_mkdirs(const char *path, pc_err *e);
/* Remove a directory tree we created (no error if it does not exist). */
void ser_rmtree(const char *path);
/* Put the finished package directory `tmp` at `dst`: renamed into place when dst
 * is absent, exchanged with an existing package or empty directory (the old one
 * is then removed). A symbolic link, a file or a directory that is not a package
 * (no Manifest.json) at dst is refused with PC_E_IO and left alone. On failure
 * dst is as it was and tmp still exists. */
int ser_replace_dir(const char *tmp, const char *dst, pc_err *e);

/* ---- protobuf helpers (pbcheck.c) ---- */
/* Walk an encoded message with its descriptor before unpacking it: checks every
 * tag, varint and length against the buffer and bounds the nesting of messages
 * at max_depth (a crafted file must not exhaust the stack). PC_E_FORMAT naming
 * `what` and the byte offset of the problem. */
int ser_pb_check(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, int max_depth,
                 const char *what, pc_err *e);

/* ---- type codes (types.c) ---- */
int ser_mil_code(ir_dtype t);             /* MIL DataType code; -1 if none */
ir_dtype ser_mil_dtype(int code);         /* IR dtype of a MIL code; IR_DT_INVALID if we cannot hold it */
const char *ser_mil_code_name(int code);  /* "fp32", "int4", ...; NULL if the code is not a MIL type */
int ser_blob_code(ir_dtype t);            /* blob storage dtype code; -1 if not storable */
/* Bits of a sub-byte MIL type (int4, uint1/2/3/4/6), its signedness and blob code; 0 for other codes. */
int ser_mil_subbyte(int code, int *sgn, int *blob_code);
/* What of an iOS18 compressed-weight op Core ML wants in a sub-byte type (uint1..uint6), which we hold as
 * bytes and cannot write back yet ("its mask"); NULL when the op writes as it is. */
const char *ser_subbyte_op(const ir_op *op);
/* n packed elements of `bits` bits (LSB first, ceil(n * bits / 8) bytes) -> one byte each (sign-extended when sgn). */
void ser_unpack_bits(const uint8_t *src, int64_t n, int bits, int sgn, uint8_t *dst);
ir_dtype ser_blob_dtype(int code);        /* IR dtype of a blob code; IR_DT_INVALID if none we hold */
int ser_array_code(ir_dtype t);           /* ArrayFeatureType.ArrayDataType; -1 if none */
ir_dtype ser_array_dtype(int code);       /* IR dtype of an ArrayDataType; IR_DT_INVALID if unknown */

/* ---- MIL blob storage (blob.c) ---- */
#define SER_BLOB_SENTINEL 0xDEADBEEFu
#define SER_BLOB_VERSION 2u
#define SER_BLOB_ALIGN 64u
#define SER_WEIGHTS_REF "@model_path/weights/weight.bin"

typedef struct ser_blobfile {
    const char *path; /* for messages */
    FILE *f;
    uint64_t size;
} ser_blobfile;

/* Take over fd (a regular file opened for reading; closed on failure too) as the
 * weight file named path and check its header (size, version 2). */
int ser_blob_open(ser_blobfile *bf, int fd, const char *path, pc_err *e);
void ser_blob_close(ser_blobfile *bf);
/* Read the blob whose metadata record is at `meta_off` into dst (nbytes bytes).
 * Checks the record lies in the file, its sentinel, that its dtype code is
 * `code` and its size is nbytes, and that the data lies in the file. */
int ser_blob_read(ser_blobfile *bf, uint64_t meta_off, int code, uint64_t nbytes, void *dst, pc_err *e);

/* One blob to write: payload c (converted to dtype on the way out). */
typedef struct ser_blob {
    const ir_const *c;
    ir_dtype dtype;
    uint64_t nbytes;   /* count * size of dtype */
    uint64_t meta_off; /* where its metadata record goes (filled by ser_blob_layout) */
} ser_blob;

/* Assign metadata offsets to blobs[0..n) in order, 64-byte aligned after the header. */
void ser_blob_layout(ser_blob *blobs, int n);
/* Write the weight file: header, then per blob its metadata and data. Payloads
 * whose store differs from dtype are converted through a small buffer. The bytes
 * written are reported to `progress` ("writing weights", may be NULL). After each
 * payload is written its memory is handed to ir_program_pages_done(p, ...) (p may be
 * NULL), so weights read from a mapped file do not stay resident. */
int ser_blob_write(const char *path, const ser_blob *blobs, int n, const ir_program *p, pc_progress *progress,
                   pc_err *e);

/* ---- feature descriptions (features.c) ---- */
/* Model.description -> d (strings copied into a). `what` names the file. */
int ser_desc_from_proto(const Cml__Model *m, pc_arena *a, ser_desc *d, const char *what, pc_err *e);
/* d -> a ModelDescription allocated in a (for packing); d->spec_version must be
 * set (fp16 inputs/outputs need 7 or more). */
int ser_desc_to_proto(const ser_desc *d, pc_arena *a, Cml__ModelDescription **out, pc_err *e);

/* Max bytes of a model.mlmodel we accept (protobuf messages stop at 2 GiB). */
#define SER_MAX_MODEL_BYTES ((size_t)2 << 30)
#define SER_MAX_PB_DEPTH 100

#endif
