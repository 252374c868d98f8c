/* read.c: ser_read_package: an .mlpackage (or a bare model.mlmodel) -> IR + ser_desc.
 *
 * The Model protobuf is checked (pbcheck.c) and unpacked with protobuf-c, then
 * each MIL function becomes an ir_function: inputs, ops in order with their
 * declared output types, const payloads from immediate values or weight blobs,
 * nested blocks. Names are resolved through a per-function hash table. Anything
 * we cannot represent or that does not add up fails with PC_E_FORMAT naming the
 * file and the op. Ops we do not know stay as IR_OP_UNKNOWN with their type name.
 * Attributes other than `name` on non-const ops (older constexpr ops) become
 * const inputs of that parameter name. */
#include "serialize/ser_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WEIGHT_FILES 16

/* Names: MIL scopes value names by block (sibling blocks of a while_loop may
 * both call their inputs "x"), our IR wants names unique in a function. So a
 * scoped table maps the file's names to values, and a value whose file name is
 * already taken in the function gets a fresh variant as its IR name. */
typedef struct bind_entry {
    const char *key; /* the name in the file */
    ir_value *v;
    int scope;
    size_t bucket;
    struct bind_entry *next; /* same bucket, older */
} bind_entry;

typedef struct {
    ir_program *p;
    pc_arena *tmp;
    const char *file; /* model.mlmodel, for messages */
    const char *dir;  /* what @model_path stands for */
    ser_model_loc loc;
    pc_err *e;
    /* scoped table: chained buckets; log = live entries in insertion order */
    bind_entry **buckets;
    size_t nbuckets;
    bind_entry **log;
    size_t nlog, caplog;
    int scope, next_scope;
    /* IR names used in the current function (open addressing, insert only) */
    const char **used;
    size_t capused, nused;
    int nfiles;
    int sub_ok; /* reading a constant: sub-byte types allowed (held one byte per element) */
    struct {
        const char *path;
        ser_blobfile bf;
    } files[MAX_WEIGHT_FILES];
} rd;

#define OOM(r) pc_fail((r)->e, PC_E_NOMEM, "out of memory reading %s", (r)->file)

/* ---- names ---- */

static uint64_t hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int is_used(rd *r, const char *name) {
    if (!r->capused) return 0;
    for (size_t i = hash(name) & (r->capused - 1);; i = (i + 1) & (r->capused - 1)) {
        if (!r->used[i]) return 0;
        if (strcmp(r->used[i], name) == 0) return 1;
    }
}

static int mark_used(rd *r, const char *name) {
    if ((r->nused + 1) * 2 > r->capused) {
        size_t nc = r->capused ? r->capused * 2 : 256;
        const char **nu = calloc(nc, sizeof *nu);
        if (!nu) return OOM(r);
        for (size_t i = 0; i < r->capused; i++) {
            if (!r->used[i]) continue;
            size_t j = hash(r->used[i]) & (nc - 1);
            while (nu[j]) j = (j + 1) & (nc - 1);
            nu[j] = r->used[i];
        }
        free(r->used);
        r->used = nu;
        r->capused = nc;
    }
    size_t i = hash(name) & (r->capused - 1);
    while (r->used[i]) {
        if (strcmp(r->used[i], name) == 0) return 0;
        i = (i + 1) & (r->capused - 1);
    }
    r->used[i] = name;
    r->nused++;
    return 0;
}

/* The IR name for a value the file calls `name`: itself, or name_1, name_2, ...
 * when the function already has a value of that name. Copied into the program. */
static const char *ir_name(rd *r, const char *name) {
    if (!is_used(r, name)) return pc_strdup(r->p->arena, name);
    for (int i = 1;; i++) {
        const char *s = pc_sprintf(r->tmp, "%s_%d", name, i);
        if (!s) return NULL;
        if (!is_used(r, s)) return pc_strdup(r->p->arena, s);
    }
}

static ir_value *lookup(rd *r, const char *name) {
    if (!r->nbuckets) return NULL;
    for (bind_entry *b = r->buckets[hash(name) & (r->nbuckets - 1)]; b; b = b->next)
        if (strcmp(b->key, name) == 0) return b->v;
    return NULL;
}

static void push_bucket(rd *r, bind_entry *b) {
    b->bucket = hash(b->key) & (r->nbuckets - 1);
    b->next = r->buckets[b->bucket];
    r->buckets[b->bucket] = b;
}

/* Make `name` (a file name) refer to v in the current scope. */
static int bind(rd *r, const char *name, ir_value *v) {
    for (bind_entry *b = r->nbuckets ? r->buckets[hash(name) & (r->nbuckets - 1)] : NULL; b; b = b->next)
        if (b->scope == r->scope && strcmp(b->key, name) == 0)
            return pc_fail(r->e, PC_E_FORMAT, "%s: the value name '%s' is defined twice", r->file, name);
    if (mark_used(r, v->name)) return -1;
    if (r->nlog == r->caplog) {
        size_t nc = r->caplog ? r->caplog * 2 : 256;
        bind_entry **nl = realloc(r->log, nc * sizeof *nl);
        if (!nl) return OOM(r);
        r->log = nl;
        r->caplog = nc;
    }
    if (r->nlog + 1 > r->nbuckets) { /* grow and rehash in insertion order */
        size_t nb = r->nbuckets ? r->nbuckets * 2 : 256;
        bind_entry **bk = calloc(nb, sizeof *bk);
        if (!bk) return OOM(r);
        free(r->buckets);
        r->buckets = bk;
        r->nbuckets = nb;
        for (size_t i = 0; i < r->nlog; i++) push_bucket(r, r->log[i]);
    }
    bind_entry *b = pc_alloc(r->tmp, sizeof *b);
    if (!b || !(b->key = pc_strdup(r->tmp, name))) return OOM(r);
    b->v = v;
    b->scope = r->scope;
    push_bucket(r, b);
    r->log[r->nlog++] = b;
    return 0;
}

/* Enter a block scope; returns the mark scope_end needs. */
static size_t scope_begin(rd *r, int *saved) {
    *saved = r->scope;
    r->scope = ++r->next_scope;
    return r->nlog;
}

/* Leave a scope: its names are no longer visible (entries go LIFO, so each
 * one is at the head of its bucket when removed). */
static void scope_end(rd *r, size_t mark, int saved) {
    while (r->nlog > mark) {
        bind_entry *b = r->log[--r->nlog];
        r->buckets[b->bucket] = b->next;
    }
    r->scope = saved;
}

static void reset_names(rd *r) {
    if (r->buckets) memset(r->buckets, 0, sizeof(*r->buckets) * r->nbuckets);
    if (r->used) memset(r->used, 0, sizeof(*r->used) * r->capused);
    r->nlog = r->nused = 0;
    r->scope = ++r->next_scope;
}

/* ---- types ---- */

static int read_tensor_type(rd *r, const Cml__TensorType *tt, ir_type *t, const char *ctx) {
    memset(t, 0, sizeof *t);
    t->kind = IR_TK_TENSOR;
    int code = (int)tt->datatype;
    t->dtype = ser_mil_dtype(code);
    int sgn, bcode;
    if (t->dtype == IR_DT_INVALID && r->sub_ok && ser_mil_subbyte(code, &sgn, &bcode)) t->dtype = sgn ? IR_INT8 : IR_UINT8;
    if (t->dtype == IR_DT_INVALID) {
        const char *nm = ser_mil_code_name(code);
        if (nm) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has data type %s, which we do not support", r->file, ctx, nm);
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s has unknown data type code %d", r->file, ctx, code);
    }
    if (tt->rank < 0 && tt->n_dimensions == 0) {
        t->rank = -1;
        return 0;
    }
    if (tt->rank != (int64_t)tt->n_dimensions)
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s has rank %lld but %zu dimensions", r->file, ctx, (long long)tt->rank,
                       tt->n_dimensions);
    if (tt->rank > IR_MAX_RANK)
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s has rank %lld (at most %d)", r->file, ctx, (long long)tt->rank, IR_MAX_RANK);
    t->rank = (int)tt->rank;
    for (int i = 0; i < t->rank; i++) {
        const Cml__Dimension *d = tt->dimensions[i];
        if (d->dimension_case == CML__DIMENSION__DIMENSION_CONSTANT && d->constant) {
            if (d->constant->size > (uint64_t)INT64_MAX)
                return pc_fail(r->e, PC_E_FORMAT, "%s: %s has dimension %d too large", r->file, ctx, i);
            t->dims[i] = (int64_t)d->constant->size;
        } else if (d->dimension_case == CML__DIMENSION__DIMENSION_UNKNOWN) {
            t->dims[i] = IR_SYM(r->p->next_symbol++);
        } else {
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s has dimension %d with no size", r->file, ctx, i);
        }
    }
    if (ir_type_too_large(t)) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has an absurdly large shape", r->file, ctx);
    return 0;
}

static int read_type(rd *r, const Cml__ValueType *vt, ir_type *t, const char *ctx) {
    if (!vt) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no type", r->file, ctx);
    switch (vt->type_case) {
    case CML__VALUE_TYPE__TYPE_TENSOR_TYPE: return read_tensor_type(r, vt->tensortype, t, ctx);
    case CML__VALUE_TYPE__TYPE_LIST_TYPE:
        if (!vt->listtype->type || vt->listtype->type->type_case != CML__VALUE_TYPE__TYPE_TENSOR_TYPE)
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s is a list whose elements are not tensors", r->file, ctx);
        if (read_tensor_type(r, vt->listtype->type->tensortype, t, ctx)) return -1;
        t->kind = IR_TK_LIST;
        return 0;
    case CML__VALUE_TYPE__TYPE_TUPLE_TYPE: return pc_fail(r->e, PC_E_FORMAT, "%s: %s has a tuple type, which we do not support", r->file, ctx);
    case CML__VALUE_TYPE__TYPE_DICTIONARY_TYPE: { /* classify's probabilities: scalar string/int64 -> scalar fp64/fp32 */
        const Cml__DictionaryType *dt = vt->dictionarytype;
        ir_type kt, vt2;
        if (!dt->keytype || !dt->valuetype || read_type(r, dt->keytype, &kt, ctx) || read_type(r, dt->valuetype, &vt2, ctx))
            return r->e->kind ? -1 : pc_fail(r->e, PC_E_FORMAT, "%s: %s has a dictionary type without key or value type", r->file, ctx);
        if (kt.kind != IR_TK_TENSOR || kt.rank != 0 || (kt.dtype != IR_STRING && kt.dtype != IR_INT64) ||
            vt2.kind != IR_TK_TENSOR || vt2.rank != 0 || (vt2.dtype != IR_FP64 && vt2.dtype != IR_FP32))
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s has a dictionary type other than string/int64 -> fp64, which we do not support",
                           r->file, ctx);
        *t = ir_scalar_type(kt.dtype);
        t->kind = IR_TK_DICT;
        return 0;
    }
    case CML__VALUE_TYPE__TYPE_STATE_TYPE: /* a stateful model's state input: state<tensor> */
        if (!vt->statetype->wrappedtype || vt->statetype->wrappedtype->type_case != CML__VALUE_TYPE__TYPE_TENSOR_TYPE)
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s is a state that does not wrap a tensor", r->file, ctx);
        if (read_tensor_type(r, vt->statetype->wrappedtype->tensortype, t, ctx)) return -1;
        t->kind = IR_TK_STATE;
        return 0;
    default: return pc_fail(r->e, PC_E_FORMAT, "%s: %s has an empty type", r->file, ctx);
    }
}

/* Element count of a static tensor type, with overflow checks. */
static int numel(rd *r, const ir_type *t, const char *ctx, int64_t *n) {
    if (t->kind != IR_TK_TENSOR || !ir_type_is_static(t))
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s is a constant without a static tensor shape", r->file, ctx);
    int64_t c = 1;
    for (int i = 0; i < t->rank; i++) {
        if (t->dims[i] != 0 && c > INT64_MAX / 16 / t->dims[i])
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s has an absurdly large shape", r->file, ctx);
        c *= t->dims[i];
    }
    *n = c;
    return 0;
}

/* ---- constant payloads ---- */

static int put_int(rd *r, ir_dtype t, void *dst, int64_t i, int64_t v, const char *ctx) {
    int64_t lo = 0, hi = 0;
    switch (t) {
    case IR_INT8: lo = INT8_MIN, hi = INT8_MAX; break;
    case IR_UINT8: hi = UINT8_MAX; break;
    case IR_INT16: lo = INT16_MIN, hi = INT16_MAX; break;
    case IR_UINT16: hi = UINT16_MAX; break;
    case IR_INT32: lo = INT32_MIN, hi = INT32_MAX; break;
    case IR_UINT32: hi = UINT32_MAX; break;
    case IR_INT64: ((int64_t *)dst)[i] = v; return 0;
    case IR_UINT64: ((uint64_t *)dst)[i] = (uint64_t)v; return 0;
    default: return -1;
    }
    if (v < lo || v > hi)
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s element %lld = %lld does not fit %s", r->file, ctx, (long long)i,
                       (long long)v, ir_dtype_name(t));
    switch (t) {
    case IR_INT8: ((int8_t *)dst)[i] = (int8_t)v; break;
    case IR_UINT8: ((uint8_t *)dst)[i] = (uint8_t)v; break;
    case IR_INT16: ((int16_t *)dst)[i] = (int16_t)v; break;
    case IR_UINT16: ((uint16_t *)dst)[i] = (uint16_t)v; break;
    case IR_INT32: ((int32_t *)dst)[i] = (int32_t)v; break;
    default: ((uint32_t *)dst)[i] = (uint32_t)v; break;
    }
    return 0;
}

static int mismatch(rd *r, const char *ctx, ir_dtype t, const char *field) {
    return pc_fail(r->e, PC_E_FORMAT, "%s: %s: a %s value stored as %s (dtype mismatch)", r->file, ctx, ir_dtype_name(t), field);
}

static int count_mismatch(rd *r, const char *ctx, size_t got, int64_t want) {
    return pc_fail(r->e, PC_E_FORMAT, "%s: %s holds %zu values, its type has %lld elements", r->file, ctx, got, (long long)want);
}

/* An immediate tensor of type t (count elements) -> payload in the program arena. */
static int read_tensor_value(rd *r, const Cml__TensorValue *tv, ir_dtype t, int64_t count, const char *ctx, void **out) {
    size_t es = ir_dtype_size(t);
    void *dst = NULL;
#define ALLOC()                                                                        \
    do {                                                                               \
        dst = pc_alloc_aligned(r->p->arena, (size_t)count * es, 64);                   \
        if (!dst) return OOM(r);                                                       \
    } while (0)
    switch (tv ? tv->value_case : CML__TENSOR_VALUE__VALUE__NOT_SET) {
    case CML__TENSOR_VALUE__VALUE_FLOATS:
        if (t != IR_FP32) return mismatch(r, ctx, t, "floats");
        if (tv->floats->n_values != (size_t)count) return count_mismatch(r, ctx, tv->floats->n_values, count);
        ALLOC();
        if (count) memcpy(dst, tv->floats->values, (size_t)count * es);
        break;
    case CML__TENSOR_VALUE__VALUE_DOUBLES:
        if (t != IR_FP64) return mismatch(r, ctx, t, "doubles");
        if (tv->doubles->n_values != (size_t)count) return count_mismatch(r, ctx, tv->doubles->n_values, count);
        ALLOC();
        if (count) memcpy(dst, tv->doubles->values, (size_t)count * es);
        break;
    case CML__TENSOR_VALUE__VALUE_INTS:
        if (!ir_dtype_is_int(t)) return mismatch(r, ctx, t, "ints");
        if (tv->ints->n_values != (size_t)count) return count_mismatch(r, ctx, tv->ints->n_values, count);
        ALLOC();
        for (int64_t i = 0; i < count; i++)
            if (put_int(r, t, dst, i, tv->ints->values[i], ctx)) return -1;
        break;
    case CML__TENSOR_VALUE__VALUE_LONG_INTS:
        if (!ir_dtype_is_int(t)) return mismatch(r, ctx, t, "longInts");
        if (tv->longints->n_values != (size_t)count) return count_mismatch(r, ctx, tv->longints->n_values, count);
        ALLOC();
        for (int64_t i = 0; i < count; i++)
            if (put_int(r, t, dst, i, tv->longints->values[i], ctx)) return -1;
        break;
    case CML__TENSOR_VALUE__VALUE_BOOLS:
        if (t != IR_BOOL) return mismatch(r, ctx, t, "bools");
        if (tv->bools->n_values != (size_t)count) return count_mismatch(r, ctx, tv->bools->n_values, count);
        ALLOC();
        for (int64_t i = 0; i < count; i++) ((uint8_t *)dst)[i] = tv->bools->values[i] ? 1 : 0;
        break;
    case CML__TENSOR_VALUE__VALUE_STRINGS: {
        if (t != IR_STRING) return mismatch(r, ctx, t, "strings");
        if (tv->strings->n_values != (size_t)count) return count_mismatch(r, ctx, tv->strings->n_values, count);
        ALLOC();
        const char **ss = dst;
        for (int64_t i = 0; i < count; i++)
            if (!(ss[i] = pc_strdup(r->p->arena, tv->strings->values[i]))) return OOM(r);
        break;
    }
    case CML__TENSOR_VALUE__VALUE_BYTES: {
        if (t == IR_STRING || t == IR_BOOL) return mismatch(r, ctx, t, "bytes");
        size_t len = tv->bytes->values.len;
        if (len != (size_t)count * es)
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s holds %zu bytes, its type needs %lld", r->file, ctx, len,
                           (long long)count * (long long)es);
        ALLOC();
        if (len) memcpy(dst, tv->bytes->values.data, len);
        break;
    }
    default:
        if (count != 0) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no values", r->file, ctx);
        ALLOC();
        break;
    }
#undef ALLOC
    *out = dst;
    return 0;
}

static ser_blobfile *weight_file(rd *r, const char *ref, const char *ctx) {
    static const char prefix[] = "@model_path/";
    if (strncmp(ref, prefix, sizeof prefix - 1) != 0) {
        pc_fail(r->e, PC_E_FORMAT, "%s: %s refers to weight file '%s', which is not under @model_path/", r->file, ctx, ref);
        return NULL;
    }
    const char *rel = ref + sizeof prefix - 1;
    int ok = *rel && rel[0] != '/';
    for (const char *s = rel; ok && *s;) { /* no ".." components */
        const char *t = strchr(s, '/');
        size_t l = t ? (size_t)(t - s) : strlen(s);
        if (l == 2 && s[0] == '.' && s[1] == '.') ok = 0;
        s = t ? t + 1 : s + l;
    }
    if (!ok) {
        pc_fail(r->e, PC_E_FORMAT, "%s: %s refers to weight file '%s' outside the model", r->file, ctx, ref);
        return NULL;
    }
    const char *path = pc_sprintf(r->tmp, "%s/%s", r->dir, rel);
    if (!path) {
        OOM(r);
        return NULL;
    }
    for (int i = 0; i < r->nfiles; i++)
        if (strcmp(r->files[i].path, path) == 0) return &r->files[i].bf;
    if (r->nfiles == MAX_WEIGHT_FILES) {
        pc_fail(r->e, PC_E_FORMAT, "%s: more than %d weight files", r->file, MAX_WEIGHT_FILES);
        return NULL;
    }
    const char *below = pc_sprintf(r->tmp, "%s/%s", r->loc.dir_rel, rel);
    if (!below) {
        OOM(r);
        return NULL;
    }
    int fd = ser_open_file(r->loc.rootfd, below, 1, path, r->e);
    if (fd < 0 || ser_blob_open(&r->files[r->nfiles].bf, fd, path, r->e)) return NULL;
    r->files[r->nfiles].path = path;
    return &r->files[r->nfiles++].bf;
}

/* Sub-byte values (iOS18 compressed weights): packed bytes, immediate or in a blob, unpacked to one byte each. */
static int read_packed(rd *r, const Cml__Value *v, int64_t count, int bits, int sgn, int bcode, const char *ctx, void **out) {
    uint64_t nbytes = ((uint64_t)count * (uint64_t)bits + 7) / 8;
    const uint8_t *src = NULL;
    if (v->value_case == CML__VALUE__VALUE_IMMEDIATE_VALUE) {
        const Cml__Value__ImmediateValue *iv = v->immediatevalue;
        if (iv->value_case != CML__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR || !iv->tensor ||
            iv->tensor->value_case != CML__TENSOR_VALUE__VALUE_BYTES || iv->tensor->bytes->values.len != nbytes)
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s: %lld %d-bit values must be %llu packed bytes", r->file, ctx,
                           (long long)count, bits, (unsigned long long)nbytes);
        src = iv->tensor->bytes->values.data;
    } else if (v->value_case == CML__VALUE__VALUE_BLOB_FILE_VALUE) {
        ser_blobfile *bf = weight_file(r, v->blobfilevalue->filename, ctx);
        if (!bf) return -1;
        if (nbytes > bf->size)
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s needs %llu bytes of weights but %s has only %llu", r->file, ctx,
                           (unsigned long long)nbytes, bf->path, (unsigned long long)bf->size);
        uint8_t *tmp = pc_alloc(r->tmp, (size_t)nbytes + 1);
        if (!tmp) return OOM(r);
        if (ser_blob_read(bf, v->blobfilevalue->offset, bcode, nbytes, tmp, r->e)) return pc_prefix(r->e, "%s: ", ctx);
        src = tmp;
    } else {
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no value", r->file, ctx);
    }
    uint8_t *dst = pc_alloc_aligned(r->p->arena, (size_t)count + 1, 64);
    if (!dst) return OOM(r);
    ser_unpack_bits(src, count, bits, sgn, dst);
    *out = dst;
    return 0;
}

/* The payload of a Value of tensor type *t (which must match the value's own type). */
static int read_value(rd *r, const Cml__Value *v, const ir_type *want, const char *ctx, ir_const **out) {
    ir_type t;
    if (read_type(r, v->type, &t, ctx)) return -1;
    int64_t count = 0;
    if (numel(r, &t, ctx, &count)) return -1;
    if (want && !ir_type_equal(&t, want)) {
        char a[128], b[128];
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s: its value has type %s but the op declares %s (dtype/shape mismatch)",
                       r->file, ctx, ir_type_str(&t, a, sizeof a), ir_type_str(want, b, sizeof b));
    }
    void *data = NULL;
    int sgn = 0, bcode = 0;
    int bits = v->type->type_case == CML__VALUE_TYPE__TYPE_TENSOR_TYPE
                   ? ser_mil_subbyte((int)v->type->tensortype->datatype, &sgn, &bcode) : 0;
    if (bits) {
        if (read_packed(r, v, count, bits, sgn, bcode, ctx, &data)) return -1;
    } else if (v->value_case == CML__VALUE__VALUE_IMMEDIATE_VALUE) {
        const Cml__Value__ImmediateValue *iv = v->immediatevalue;
        if (iv->value_case != CML__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR)
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s holds a %s value, which we do not support", r->file, ctx,
                           iv->value_case == CML__VALUE__IMMEDIATE_VALUE__VALUE_TUPLE  ? "tuple"
                           : iv->value_case == CML__VALUE__IMMEDIATE_VALUE__VALUE_LIST ? "list"
                           : iv->value_case == CML__VALUE__IMMEDIATE_VALUE__VALUE_DICTIONARY ? "dictionary"
                                                                                          : "empty");
        if (read_tensor_value(r, iv->tensor, t.dtype, count, ctx, &data)) return -1;
    } else if (v->value_case == CML__VALUE__VALUE_BLOB_FILE_VALUE) {
        int code = ser_blob_code(t.dtype);
        if (code < 0)
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s: %s data cannot be stored in a weight file", r->file, ctx,
                           ir_dtype_name(t.dtype));
        ser_blobfile *bf = weight_file(r, v->blobfilevalue->filename, ctx);
        if (!bf) return -1;
        uint64_t nbytes = (uint64_t)count * ir_dtype_size(t.dtype);
        if (nbytes > bf->size)
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s needs %llu bytes of weights but %s has only %llu", r->file, ctx,
                           (unsigned long long)nbytes, bf->path, (unsigned long long)bf->size);
        data = pc_alloc_aligned(r->p->arena, (size_t)nbytes, 64);
        if (!data) return OOM(r);
        if (ser_blob_read(bf, v->blobfilevalue->offset, code, nbytes, data, r->e))
            return pc_prefix(r->e, "%s: ", ctx);
    } else {
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no value", r->file, ctx);
    }
    ir_const *c = pc_alloc(r->p->arena, sizeof *c);
    if (!c) return OOM(r);
    c->store = t.dtype;
    c->count = count;
    c->data = data;
    *out = c;
    return 0;
}

/* A const op at the end of b named `name`, output `outname` of type t. */
/* A const op at the end of b named `name`, output of type t named `outname` in
 * the file (bound in the current scope) or, with outname NULL, an internal
 * const named after `name`. */
static ir_value *add_const(rd *r, ir_block *b, const char *name, const char *outname, ir_type t, ir_const *c) {
    const char *vn = ir_name(r, outname ? outname : name);
    ir_op *op = vn ? ir_op_new(r->p, b, IR_OP_CONST, outname ? name : vn) : NULL;
    ir_value *v = op ? ir_op_add_output(op, vn, t) : NULL;
    if (!v) {
        OOM(r);
        return NULL;
    }
    v->konst = c;
    if (outname ? bind(r, outname, v) : mark_used(r, v->name)) return NULL;
    return v;
}

/* An immediate list of scalars (classify's `classes`) -> payload of a [N] const
 * of the element dtype (*t). Every element must be a scalar of the declared type. */
static int read_list_value(rd *r, const Cml__Value *v, const char *ctx, ir_type *t, ir_const **out) {
    const Cml__ListType *lt = v->type->listtype;
    ir_type et;
    if (!lt->type || read_type(r, lt->type, &et, ctx))
        return r->e->kind ? -1 : pc_fail(r->e, PC_E_FORMAT, "%s: %s is a list without an element type", r->file, ctx);
    if (et.kind != IR_TK_TENSOR || et.rank != 0)
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s is a list literal whose elements are not scalars, which we do not support",
                       r->file, ctx);
    const Cml__ListValue *l = v->immediatevalue->list;
    size_t n = l ? l->n_values : 0;
    if (lt->length && lt->length->dimension_case == CML__DIMENSION__DIMENSION_CONSTANT && lt->length->constant &&
        lt->length->constant->size != (uint64_t)n)
        return pc_fail(r->e, PC_E_FORMAT, "%s: %s is a list of declared length %llu holding %zu values", r->file, ctx,
                       (unsigned long long)lt->length->constant->size, n);
    size_t es = ir_dtype_size(et.dtype);
    if (!es) return pc_fail(r->e, PC_E_FORMAT, "%s: %s is a list of %s", r->file, ctx, ir_dtype_name(et.dtype));
    char *data = pc_alloc(r->p->arena, (n ? n : 1) * es);
    if (!data) return OOM(r);
    for (size_t i = 0; i < n; i++) {
        const Cml__Value *item = l->values[i];
        ir_const *c1;
        if (read_value(r, item, &et, ctx, &c1)) return -1;
        memcpy(data + i * es, c1->data, es);
    }
    int64_t dn = (int64_t)n;
    *t = ir_tensor_type(et.dtype, 1, &dn);
    ir_const *c = pc_alloc(r->p->arena, sizeof *c);
    if (!c) return OOM(r);
    c->store = et.dtype;
    c->count = dn;
    c->data = data;
    *out = c;
    return 0;
}

/* An inline Value (binding or attribute) -> a new const op before the op being read. */
static ir_value *inline_const(rd *r, ir_block *b, const char *opname, const char *param, const Cml__Value *val) {
    const char *ctx = pc_sprintf(r->tmp, "op '%s' input '%s'", opname, param);
    const char *base = pc_sprintf(r->tmp, "%s_%s", opname, param);
    if (!ctx || !base) {
        OOM(r);
        return NULL;
    }
    ir_const *c = NULL;
    ir_type t;
    if (val->type && val->type->type_case == CML__VALUE_TYPE__TYPE_LIST_TYPE &&
        val->value_case == CML__VALUE__VALUE_IMMEDIATE_VALUE &&
        val->immediatevalue->value_case == CML__VALUE__IMMEDIATE_VALUE__VALUE_LIST) {
        if (read_list_value(r, val, ctx, &t, &c)) return NULL;
        return add_const(r, b, base, NULL, t, c);
    }
    r->sub_ok = 1;
    int bad = read_value(r, val, NULL, ctx, &c) || read_type(r, val->type, &t, ctx);
    r->sub_ok = 0;
    return bad ? NULL : add_const(r, b, base, NULL, t, c);
}

/* ---- ops and blocks ---- */

static int read_block(rd *r, ir_block *b, const Cml__Block *bs, int nested, const char *ctx);

static const char *name_attr(const Cml__Operation *o) {
    for (size_t i = 0; i < o->n_attributes; i++) {
        const Cml__ValueEntry *a = o->attributes[i];
        if (strcmp(a->key, "name") != 0 || !a->value) continue;
        const Cml__Value *v = a->value;
        if (v->value_case == CML__VALUE__VALUE_IMMEDIATE_VALUE &&
            v->immediatevalue->value_case == CML__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR &&
            v->immediatevalue->tensor->value_case == CML__TENSOR_VALUE__VALUE_STRINGS &&
            v->immediatevalue->tensor->strings->n_values == 1)
            return v->immediatevalue->tensor->strings->values[0];
    }
    return NULL;
}

static const Cml__Value *attr(const Cml__Operation *o, const char *key) {
    for (size_t i = 0; i < o->n_attributes; i++)
        if (strcmp(o->attributes[i]->key, key) == 0) return o->attributes[i]->value;
    return NULL;
}

static int read_const_op(rd *r, ir_block *b, const Cml__Operation *o, const char *name) {
    const char *ctx = pc_sprintf(r->tmp, "const '%s'", name);
    if (!ctx) return OOM(r);
    if (o->n_outputs != 1) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has %zu outputs, not 1", r->file, ctx, o->n_outputs);
    if (o->n_inputs || o->n_blocks) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has inputs or blocks", r->file, ctx);
    const Cml__Value *val = attr(o, "val");
    if (!val) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no 'val' attribute", r->file, ctx);
    const Cml__NamedValueType *out = o->outputs[0];
    if (!out->name || !*out->name) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has an unnamed output", r->file, ctx);
    ir_type t;
    ir_const *c;
    r->sub_ok = 1;
    int bad = read_type(r, out->type, &t, ctx) || read_value(r, val, &t, ctx, &c);
    r->sub_ok = 0;
    return !bad && add_const(r, b, name, out->name, t, c) ? 0 : -1;
}

static int read_op(rd *r, ir_block *b, const Cml__Operation *o) {
    if (!o->type || !*o->type) return pc_fail(r->e, PC_E_FORMAT, "%s: an op has no type", r->file);
    const char *name = name_attr(o);
    if (!name && o->n_outputs) name = o->outputs[0]->name;
    if (!name || !*name) name = ir_fresh_name(r->p, o->type);
    if (!name) return OOM(r);
    if (strcmp(o->type, "const") == 0) return read_const_op(r, b, o, name);

    /* inputs first: inline values become const ops placed before this op */
    size_t nattr = 0;
    for (size_t i = 0; i < o->n_attributes; i++)
        if (strcmp(o->attributes[i]->key, "name") != 0) nattr++;
    size_t nin = o->n_inputs + nattr;
    ir_value ***vals = pc_alloc(r->tmp, sizeof(*vals) * (nin ? nin : 1));
    int *counts = pc_alloc(r->tmp, sizeof(int) * (nin ? nin : 1));
    const char **pnames = pc_alloc(r->tmp, sizeof(char *) * (nin ? nin : 1));
    if (!vals || !counts || !pnames) return OOM(r);
    size_t k = 0;
    for (size_t i = 0; i < o->n_inputs; i++, k++) {
        const Cml__Operation__InputEntry *in = o->inputs[i];
        const Cml__Argument *arg = in->value;
        pnames[k] = in->key;
        for (size_t j = 0; j < k; j++)
            if (strcmp(pnames[j], in->key) == 0)
                return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' (%s) binds input '%s' twice", r->file, name, o->type, in->key);
        size_t n = arg ? arg->n_arguments : 0;
        vals[k] = pc_alloc(r->tmp, sizeof(ir_value *) * (n ? n : 1));
        if (!vals[k]) return OOM(r);
        counts[k] = (int)n;
        for (size_t j = 0; j < n; j++) {
            const Cml__Argument__Binding *bd = arg->arguments[j];
            if (bd->binding_case == CML__ARGUMENT__BINDING__BINDING_NAME) {
                vals[k][j] = lookup(r, bd->name);
                if (!vals[k][j])
                    return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' (%s): input '%s' refers to unknown value '%s'", r->file,
                                   name, o->type, in->key, bd->name);
            } else if (bd->binding_case == CML__ARGUMENT__BINDING__BINDING_VALUE) {
                if (!(vals[k][j] = inline_const(r, b, name, in->key, bd->value))) return -1;
            } else {
                return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' (%s): input '%s' has an empty binding", r->file, name,
                               o->type, in->key);
            }
        }
    }
    for (size_t i = 0; i < o->n_attributes; i++) {
        const Cml__ValueEntry *a = o->attributes[i];
        if (strcmp(a->key, "name") == 0) continue;
        for (size_t j = 0; j < k; j++)
            if (strcmp(pnames[j], a->key) == 0)
                return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' (%s) has both an input and an attribute '%s'", r->file,
                               name, o->type, a->key);
        if (!a->value) return pc_fail(r->e, PC_E_FORMAT, "%s: op '%s' attribute '%s' is empty", r->file, name, a->key);
        pnames[k] = a->key;
        counts[k] = 1;
        vals[k] = pc_alloc(r->tmp, sizeof(ir_value *));
        if (!vals[k]) return OOM(r);
        if (!(vals[k][0] = inline_const(r, b, name, a->key, a->value))) return -1;
        k++;
    }

    ir_opkind kind = ir_op_kind_from_name(o->type);
    ir_op *op = ir_op_new(r->p, b, kind, name);
    if (!op) return OOM(r);
    if (kind == IR_OP_UNKNOWN && !(op->type_name = pc_strdup(r->p->arena, o->type))) return OOM(r);
    for (size_t i = 0; i < k; i++)
        if (ir_op_set_inputs(op, pnames[i], counts[i], vals[i])) return OOM(r);
    for (size_t i = 0; i < o->n_blocks; i++) {
        ir_block *nb = ir_op_add_block(op);
        if (!nb) return OOM(r);
        nb->fn = b->fn;
        const char *ctx = pc_sprintf(r->tmp, "block %zu of op '%s'", i, name);
        if (!ctx) return OOM(r);
        if (read_block(r, nb, o->blocks[i], 1, ctx)) return -1;
    }
    for (size_t i = 0; i < o->n_outputs; i++) {
        const Cml__NamedValueType *nv = o->outputs[i];
        const char *ctx = pc_sprintf(r->tmp, "output %zu of op '%s' (%s)", i, name, o->type);
        if (!ctx) return OOM(r);
        if (!nv->name || !*nv->name) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no name", r->file, ctx);
        ir_type t;
        r->sub_ok = strncmp(o->type, "constexpr_", 10) == 0; /* sparse masks of the iOS18 constexpr ops are uint1 */
        int bad = read_type(r, nv->type, &t, ctx);
        r->sub_ok = 0;
        if (bad) return -1;
        const char *vn = ir_name(r, nv->name);
        ir_value *v = vn ? ir_op_add_output(op, vn, t) : NULL;
        if (!v) return OOM(r);
        if (bind(r, nv->name, v)) return -1;
    }
    return 0;
}

static int read_named_input(rd *r, const Cml__NamedValueType *nv, ir_function *fn, ir_block *b, const char *ctx) {
    if (!nv->name || !*nv->name) return pc_fail(r->e, PC_E_FORMAT, "%s: an input of %s has no name", r->file, ctx);
    const char *c2 = pc_sprintf(r->tmp, "input '%s' of %s", nv->name, ctx);
    if (!c2) return OOM(r);
    ir_type t;
    if (read_type(r, nv->type, &t, c2)) return -1;
    const char *vn = ir_name(r, nv->name);
    ir_value *v = !vn ? NULL : fn ? ir_function_add_input(fn, vn, t) : ir_block_add_input(b, vn, t);
    if (!v) return OOM(r);
    return bind(r, nv->name, v);
}

static int read_block(rd *r, ir_block *b, const Cml__Block *bs, int nested, const char *ctx) {
    if (!bs) return pc_fail(r->e, PC_E_FORMAT, "%s: %s is missing", r->file, ctx);
    if (!nested && bs->n_inputs) return pc_fail(r->e, PC_E_FORMAT, "%s: the body of %s has block inputs", r->file, ctx);
    int saved = 0;
    size_t mark = nested ? scope_begin(r, &saved) : 0;
    for (size_t i = 0; i < bs->n_inputs; i++)
        if (read_named_input(r, bs->inputs[i], NULL, b, ctx)) return -1;
    for (size_t i = 0; i < bs->n_operations; i++)
        if (read_op(r, b, bs->operations[i])) return -1;
    ir_value **outs = pc_alloc(r->tmp, sizeof(*outs) * (bs->n_outputs ? bs->n_outputs : 1));
    if (!outs) return OOM(r);
    for (size_t i = 0; i < bs->n_outputs; i++)
        if (!(outs[i] = lookup(r, bs->outputs[i])))
            return pc_fail(r->e, PC_E_FORMAT, "%s: %s outputs unknown value '%s'", r->file, ctx, bs->outputs[i]);
    if (ir_block_set_outputs(b, (int)bs->n_outputs, outs)) return OOM(r);
    if (nested) scope_end(r, mark, saved);
    return 0;
}

static int read_function(rd *r, const char *fname, const Cml__Function *fs) {
    const char *ctx = pc_sprintf(r->tmp, "function '%s'", fname);
    if (!ctx) return OOM(r);
    if (!fs) return pc_fail(r->e, PC_E_FORMAT, "%s: %s is empty", r->file, ctx);
    if (!fs->opset || !*fs->opset) return pc_fail(r->e, PC_E_FORMAT, "%s: %s names no opset", r->file, ctx);
    for (int i = 0; i < r->p->nfunc; i++)
        if (strcmp(r->p->funcs[i]->name, fname) == 0) return pc_fail(r->e, PC_E_FORMAT, "%s: %s appears twice", r->file, ctx);
    ir_function *fn = ir_function_new(r->p, fname, fs->opset);
    if (!fn) return OOM(r);
    reset_names(r);
    for (size_t i = 0; i < fs->n_inputs; i++)
        if (read_named_input(r, fs->inputs[i], fn, NULL, ctx)) return -1;
    const Cml__Block *body = NULL;
    for (size_t i = 0; i < fs->n_block_specializations; i++)
        if (strcmp(fs->block_specializations[i]->key, fs->opset) == 0) body = fs->block_specializations[i]->value;
    if (!body) return pc_fail(r->e, PC_E_FORMAT, "%s: %s has no block for its opset %s", r->file, ctx, fs->opset);
    return read_block(r, fn->body, body, 0, ctx);
}

/* Which model kind the Model.Type oneof holds, by field number (for messages). */
static const char *model_kind(const Cml__Model *m) {
    static const struct { uint32_t num; const char *name; } kinds[] = {
        {200, "pipelineClassifier"}, {201, "pipelineRegressor"}, {202, "pipeline"}, {300, "glmRegressor"},
        {301, "supportVectorRegressor"}, {302, "treeEnsembleRegressor"}, {303, "neuralNetworkRegressor"},
        {400, "glmClassifier"}, {401, "supportVectorClassifier"}, {402, "treeEnsembleClassifier"},
        {403, "neuralNetworkClassifier"}, {404, "kNearestNeighborsClassifier"}, {500, "neuralNetwork"},
        {555, "customModel"}, {556, "linkedModel"}, {2000, "textClassifier"}, {2001, "wordTagger"},
    };
    for (unsigned i = 0; i < m->base.n_unknown_fields; i++)
        for (int k = 0; k < PC_ARRAY_LEN(kinds); k++)
            if (m->base.unknown_fields[i].tag == kinds[k].num) return kinds[k].name;
    return NULL;
}

static int read_model(rd *r, const Cml__Model *m) {
    if (m->type_case != CML__MODEL__TYPE_ML_PROGRAM || !m->mlprogram) {
        const char *k = model_kind(m);
        if (k) return pc_fail(r->e, PC_E_FORMAT, "%s holds a %s model, not an ML Program (the only kind we read)", r->file, k);
        return pc_fail(r->e, PC_E_FORMAT, "%s holds no ML Program", r->file);
    }
    const Cml__Program *pg = m->mlprogram;
    if (pg->version != 1)
        return pc_fail(r->e, PC_E_FORMAT, "%s: ML Program version %lld, expected 1", r->file, (long long)pg->version);
    if (pg->n_functions == 0) return pc_fail(r->e, PC_E_FORMAT, "%s: the ML Program has no functions", r->file);
    for (size_t i = 0; i < pg->n_functions; i++)
        if (read_function(r, pg->functions[i]->key, pg->functions[i]->value)) return -1;
    return 0;
}

/* Unpack and read buf[0..len) (the Model protobuf of r->file). */
static int read_buffer(rd *r, const unsigned char *buf, size_t len, pc_arena *arena, ser_desc *d) {
    if (len == 0) return pc_fail(r->e, PC_E_FORMAT, "%s is empty", r->file);
    if (len > SER_MAX_MODEL_BYTES) return pc_fail(r->e, PC_E_FORMAT, "%s is too large (%zu bytes)", r->file, len);
    if (ser_pb_check(&cml__model__descriptor, buf, len, SER_MAX_PB_DEPTH, r->file, r->e)) return -1;
    Cml__Model *m = cml__model__unpack(NULL, len, buf);
    if (!m)
        return pc_fail(r->e, PC_E_FORMAT, "%s: corrupt Model protobuf (a field has the wrong wire type or bad UTF-8)", r->file);
    int rc = read_model(r, m) || ser_desc_from_proto(m, arena, d, r->file, r->e) || ser_check_desc(r->p, d, r->file, r->e) ? -1 : 0;
    cml__model__free_unpacked(m, NULL);
    return rc;
}

/* The reader over the package or model file at `path` or, path NULL, over the model in mem
 * (named `file` in messages, its weight files under `dir`). */
static int read_any(const char *path, const unsigned char *mem, size_t memlen, const char *file, const char *dir,
                    pc_arena *arena, ir_program **out, ser_desc *d, pc_err *e) {
    *out = NULL;
    memset(d, 0, sizeof *d);
    rd r = {.e = e, .loc = {.rootfd = -1}};
    r.tmp = pc_arena_new();
    r.p = ir_program_new();
    unsigned char *buf = NULL;
    int rc = -1;
    if (!r.tmp || !r.p) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto done;
    }
    size_t len = memlen;
    if (path) {
        if (ser_locate_model(path, r.tmp, &r.loc, e)) goto done;
        r.file = r.loc.file;
        r.dir = r.loc.dir;
        if (ser_read_model_file(&r.loc, &buf, &len, e)) goto done;
        mem = buf;
    } else { /* weight files below dir, opened as a package's are */
        r.file = r.loc.file = file;
        r.dir = r.loc.dir = dir;
        r.loc.dir_rel = ".";
        r.loc.rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (r.loc.rootfd < 0) {
            pc_fail(e, PC_E_IO, "cannot open directory %s: %s", dir, strerror(errno));
            goto done;
        }
    }
    if (read_buffer(&r, mem, len, arena, d)) goto done;
    *out = r.p;
    r.p = NULL;
    rc = 0;
done:
    free(buf);
    for (int i = 0; i < r.nfiles; i++) ser_blob_close(&r.files[i].bf);
    ser_model_loc_close(&r.loc);
    free(r.buckets);
    free(r.log);
    free(r.used);
    ir_program_free(r.p);
    pc_arena_free(r.tmp);
    if (rc) memset(d, 0, sizeof *d);
    return rc;
}

int ser_read_package(const char *path, pc_arena *arena, ir_program **out, ser_desc *d, pc_err *e) {
    return read_any(path, NULL, 0, NULL, NULL, arena, out, d, e);
}

int ser_read_model_mem(const unsigned char *buf, size_t len, const char *file, const char *dir, pc_arena *arena,
                       ir_program **out, ser_desc *d, pc_err *e) {
    return read_any(NULL, buf, len, file, dir, arena, out, d, e);
}
