/* ser.h: Core ML files. Writes an IR program and its model description as an
 * .mlpackage (Manifest.json, model.mlmodel = Model protobuf with an mlProgram,
 * weights/weight.bin = MIL blob storage) and reads such a package (ours or any
 * tool's) back into IR + description. The protobuf schema is our own subset of
 * Apple's (serialize/coreml.proto), same field numbers and wire types.
 */
#ifndef SER_H
#define SER_H

#include "ir/ir.h"

typedef enum { SER_FEAT_ARRAY = 0, SER_FEAT_IMAGE, SER_FEAT_INT64, SER_FEAT_DOUBLE, SER_FEAT_STRING,
               SER_FEAT_DICT, SER_FEAT_OTHER,
               SER_FEAT_STATE /* a state (iOS18): an fp16 array of fixed shape, described as ARRAY is */ } ser_featkind;

/* Image color spaces as in ImageFeatureType.ColorSpace. */
enum { SER_GRAYSCALE = 10, SER_RGB = 20, SER_BGR = 30, SER_GRAYSCALE_FLOAT16 = 40 };

typedef struct ser_feature {
    const char *name;
    const char *short_description;
    ser_featkind kind;
    /* ARRAY: */
    ir_dtype dtype;             /* FP32, FP16, FP64, INT32 */
    int rank;
    int64_t shape[IR_MAX_RANK]; /* default shape (lower bound for flexible dims) */
    int64_t upper[IR_MAX_RANK]; /* flexible dims: upper bound (-1 unbounded); equal to shape when fixed */
    int flexible;               /* 1 if any dim has a range */
    /* IMAGE: */
    int64_t width, height;
    int color_space;
    /* DICT (classifier probabilities): key kind: 0 string, 1 int64 */
    int dict_key_int;
    int optional;
    /* ARRAY flexibility (added with dynamic shapes; zero keeps the behaviour above): */
    int has_lower;              /* lower[] holds the range's lower bounds; shape[] is then the default shape */
    int64_t lower[IR_MAX_RANK];
    int nenum;                  /* > 0: enumerated shapes, enum_shapes[k * rank + i]; shape[] is the default */
    int64_t *enum_shapes;
    /* ARRAY, optional inputs: the value Core ML fills the array with when the input is not given
     * (default_kind: 0 none, 1 int, 2 float, 3 double: ArrayFeatureType.defaultOptionalValue) */
    int default_kind;
    double default_value;
} ser_feature;

typedef struct ser_kv { const char *key, *value; } ser_kv;

typedef struct ser_desc {
    int spec_version;           /* 6 = iOS15 ... 9 = iOS18 */
    int ninputs, noutputs;
    ser_feature *inputs, *outputs;
    int nstates;                /* a stateful model's states (ModelDescription.state), kind SER_FEAT_STATE */
    ser_feature *states;
    const char *predicted_feature_name;       /* classifiers; NULL otherwise */
    const char *predicted_probabilities_name;
    /* metadata */
    const char *short_description, *version, *author, *license;
    int nuser;
    ser_kv *user;               /* userDefined map */
    /* classifier labels (classLabels oneof of the ML program model), n == 0: none */
    int nlabels;
    int labels_are_int;
    const char **string_labels;
    int64_t *int_labels;
} ser_desc;

/* Write `p` (its "main" function and any others) with description d to `path`
 * (a directory ending in .mlpackage). The package is built beside the target and
 * renamed into place, so an existing package is replaced whole or left as it was. */
int ser_write_package(const ir_program *p, const ser_desc *d, const char *path, pc_progress *progress, pc_err *e);

/* Read a package (or a bare model.mlmodel file that holds an ML Program with no
 * blob weights) into a new program and description. Weights from weight.bin are
 * read into the program's arena. Every length, offset and count is validated:
 * a corrupt or truncated file gives PC_E_FORMAT, never a crash. d's strings and
 * arrays live in `arena`. */
int ser_read_package(const char *path, pc_arena *arena, ir_program **p, ser_desc *d, pc_err *e);
/* The same reader over a Model protobuf in memory (buf[0..len), the fuzz targets' entry):
 * `file` names it in messages, `dir` is what @model_path stands for (weight files). */
int ser_read_model_mem(const unsigned char *buf, size_t len, const char *file, const char *dir, pc_arena *arena,
                       ir_program **p, ser_desc *d, pc_err *e);

/* The Model protobuf of a package (or bare model file) at path, checked like the
 * reader checks it and unpacked: a protobuf-c message (Model of
 * serialize/coreml.proto) to walk through its descriptors (the get_spec() view).
 * Free it with protobuf_c_message_free_unpacked(m, NULL). NULL with e set on failure.
 * With `bytes` non-NULL, *bytes / *nbytes receive the file's bytes too (free() them). */
struct ProtobufCMessage;
struct ProtobufCMessage *ser_read_model_message(const char *path, unsigned char **bytes, size_t *nbytes, pc_err *e);

/* Does description d say what p's main function takes and returns (names,
 * kinds, dtypes, shapes; flexible dims as coremltools writes them)? PC_E_FORMAT
 * naming `what`, the feature, what the description says and what the program
 * has. ser_read_package calls it. */
int ser_check_desc(const ir_program *p, const ser_desc *d, const char *what, pc_err *e);
/* The lower bound of an array / image feature's dim i (its default shape when
 * the feature has no separate lower bounds). */
int64_t ser_feature_lower(const ser_feature *f, int i);
/* What the description says of f ("fp32 array [1,8..64]", "RGB image 4x4 ..."), into buf. */
const char *ser_feature_str(const ser_feature *f, char *buf, size_t n);

#endif
