/* read_values.c: the reader's MIL types and constant payloads (see read_int.h):
 * ValueTypes as IR types, immediate tensors and lists, blobs of the weight files
 * (opened below the package as needed), sub-byte types unpacked to a byte each. */
#include "serialize/read_int.h"

#include <stdlib.h>
#include <string.h>

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

int ser_rd_type(rd *r, const Cml__ValueType *vt, ir_type *t, const char *ctx) {
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
        if (!dt->keytype || !dt->valuetype || ser_rd_type(r, dt->keytype, &kt, ctx) || ser_rd_type(r, dt->valuetype, &vt2, ctx))
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
int ser_rd_value(rd *r, const Cml__Value *v, const ir_type *want, const char *ctx, ir_const **out) {
    ir_type t;
    if (ser_rd_type(r, v->type, &t, ctx)) return -1;
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

/* An immediate list of scalars (classify's `classes`) -> payload of a [N] const
 * of the element dtype (*t). Every element must be a scalar of the declared type. */
int ser_rd_list_value(rd *r, const Cml__Value *v, const char *ctx, ir_type *t, ir_const **out) {
    const Cml__ListType *lt = v->type->listtype;
    ir_type et;
    if (!lt->type || ser_rd_type(r, lt->type, &et, ctx))
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
        if (ser_rd_value(r, item, &et, ctx, &c1)) return -1;
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
