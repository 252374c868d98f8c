/* write.c: ser_write_package: IR program + ser_desc -> .mlpackage.
 *
 * The Model protobuf is built in a scratch arena (ops as MIL Operations: inputs
 * bound by value name, outputs with full types, a `name` attribute on every op,
 * const payloads in attribute `val`). Consts of >= 10 fp16/fp32/uint8/int8
 * elements (from iOS18 also 16/32-bit integers) go to weights/weight.bin as
 * blobs, smaller ones stay inline. The
 * package is assembled in a fresh directory beside the target and then put in
 * place (files.c), so a failed save leaves what was there before. */
#include "serialize/ser_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BLOB_MIN_ELEMS 10

typedef struct {
    pc_arena *a;
    pc_err *e;
    ser_blob *blobs;
    Cml__Value__BlobFileValue **refs; /* the offset each blob's const points at */
    int nblobs, capblobs;
    int spec_version;
} wr;

#define NEW(w, T, INIT) ((T *)new_msg((w)->a, sizeof(T), &(T)INIT))
static void *new_msg(pc_arena *a, size_t n, const void *init) {
    void *p = pc_alloc(a, n);
    if (p) memcpy(p, init, n);
    return p;
}

#define OOM(w) pc_fail((w)->e, PC_E_NOMEM, "out of memory while writing the model")

/* ---- types ---- */

static Cml__TensorType *tensor_type(wr *w, const ir_type *t, const char *what) {
    Cml__TensorType *tt = NEW(w, Cml__TensorType, CML__TENSOR_TYPE__INIT);
    if (!tt) {
        OOM(w);
        return NULL;
    }
    int code = ser_mil_code(t->dtype);
    if (code < 0) {
        pc_fail(w->e, PC_E_VALUE, "%s has dtype %s, which MIL cannot hold", what, ir_dtype_name(t->dtype));
        return NULL;
    }
    if (t->rank < 0 || t->rank > IR_MAX_RANK) {
        pc_fail(w->e, PC_E_VALUE, "%s has unknown rank; Core ML needs the rank of every value", what);
        return NULL;
    }
    tt->datatype = (Cml__DataType)code;
    tt->rank = t->rank;
    tt->n_dimensions = (size_t)t->rank;
    tt->dimensions = pc_alloc(w->a, sizeof(*tt->dimensions) * (size_t)(t->rank ? t->rank : 1));
    if (!tt->dimensions) {
        OOM(w);
        return NULL;
    }
    for (int i = 0; i < t->rank; i++) {
        Cml__Dimension *d = NEW(w, Cml__Dimension, CML__DIMENSION__INIT);
        if (!d) {
            OOM(w);
            return NULL;
        }
        if (t->dims[i] >= 0) {
            d->dimension_case = CML__DIMENSION__DIMENSION_CONSTANT;
            d->constant = NEW(w, Cml__Dimension__ConstantDimension, CML__DIMENSION__CONSTANT_DIMENSION__INIT);
            if (d->constant) d->constant->size = (uint64_t)t->dims[i];
        } else {
            d->dimension_case = CML__DIMENSION__DIMENSION_UNKNOWN;
            d->unknown = NEW(w, Cml__Dimension__UnknownDimension, CML__DIMENSION__UNKNOWN_DIMENSION__INIT);
        }
        if (!d->constant) { /* constant and unknown share the union */
            OOM(w);
            return NULL;
        }
        tt->dimensions[i] = d;
    }
    return tt;
}

static Cml__ValueType *value_type(wr *w, const ir_type *t, const char *what);

/* A dictionary type (classify's probabilities): scalar keys of t->dtype -> scalar fp64. */
static Cml__ValueType *dict_type(wr *w, const ir_type *t, const char *what) {
    Cml__ValueType *vt = NEW(w, Cml__ValueType, CML__VALUE_TYPE__INIT);
    Cml__DictionaryType *dt = NEW(w, Cml__DictionaryType, CML__DICTIONARY_TYPE__INIT);
    if (!vt || !dt) {
        OOM(w);
        return NULL;
    }
    ir_type kt = ir_scalar_type(t->dtype), vt64 = ir_scalar_type(IR_FP64);
    if (!(dt->keytype = value_type(w, &kt, what)) || !(dt->valuetype = value_type(w, &vt64, what))) return NULL;
    vt->type_case = CML__VALUE_TYPE__TYPE_DICTIONARY_TYPE;
    vt->dictionarytype = dt;
    return vt;
}

/* A ValueType holding tensor type tt (NULL on OOM). */
static Cml__ValueType *value_of_tensor(wr *w, Cml__TensorType *tt) {
    Cml__ValueType *vt = NEW(w, Cml__ValueType, CML__VALUE_TYPE__INIT);
    if (!vt) {
        OOM(w);
        return NULL;
    }
    vt->type_case = CML__VALUE_TYPE__TYPE_TENSOR_TYPE;
    vt->tensortype = tt;
    return vt;
}

/* A tensor, a state<tensor> (MIL's StateType wraps the tensor type) or a list of tensors. */
static Cml__ValueType *value_type(wr *w, const ir_type *t, const char *what) {
    if (t->kind == IR_TK_DICT) return dict_type(w, t, what);
    Cml__TensorType *tt = tensor_type(w, t, what);
    Cml__ValueType *inner = tt ? value_of_tensor(w, tt) : NULL;
    if (!inner || t->kind == IR_TK_TENSOR) return inner;
    Cml__ValueType *vt = NEW(w, Cml__ValueType, CML__VALUE_TYPE__INIT);
    if (t->kind == IR_TK_STATE) {
        Cml__StateType *st = NEW(w, Cml__StateType, CML__STATE_TYPE__INIT);
        if (!vt || !st) {
            OOM(w);
            return NULL;
        }
        st->wrappedtype = inner;
        vt->type_case = CML__VALUE_TYPE__TYPE_STATE_TYPE;
        vt->statetype = st;
        return vt;
    }
    Cml__ListType *lt = NEW(w, Cml__ListType, CML__LIST_TYPE__INIT);
    Cml__Dimension *len = NEW(w, Cml__Dimension, CML__DIMENSION__INIT);
    Cml__Dimension__UnknownDimension *u = NEW(w, Cml__Dimension__UnknownDimension, CML__DIMENSION__UNKNOWN_DIMENSION__INIT);
    if (!vt || !lt || !len || !u) {
        OOM(w);
        return NULL;
    }
    len->dimension_case = CML__DIMENSION__DIMENSION_UNKNOWN;
    len->unknown = u;
    lt->type = inner;
    lt->length = len;
    vt->type_case = CML__VALUE_TYPE__TYPE_LIST_TYPE;
    vt->listtype = lt;
    return vt;
}

static Cml__NamedValueType *named(wr *w, const ir_value *v, const char *what) {
    Cml__NamedValueType *nv = NEW(w, Cml__NamedValueType, CML__NAMED_VALUE_TYPE__INIT);
    if (!nv) {
        OOM(w);
        return NULL;
    }
    if (!v->name || !*v->name) {
        pc_fail(w->e, PC_E_VALUE, "%s has no name", what);
        return NULL;
    }
    nv->name = (char *)v->name;
    const char *ctx = pc_sprintf(w->a, "value '%s' (%s)", v->name, what);
    if (!ctx || !(nv->type = value_type(w, &v->type, ctx))) {
        if (!ctx) OOM(w);
        return NULL;
    }
    return nv;
}

/* ---- values ---- */

static int int_range(ir_dtype t, int64_t *lo, int64_t *hi) {
    switch (t) {
    case IR_INT8: *lo = INT8_MIN, *hi = INT8_MAX; return 0;
    case IR_UINT8: *lo = 0, *hi = UINT8_MAX; return 0;
    case IR_INT16: *lo = INT16_MIN, *hi = INT16_MAX; return 0;
    case IR_UINT16: *lo = 0, *hi = UINT16_MAX; return 0;
    case IR_INT32: *lo = INT32_MIN, *hi = INT32_MAX; return 0;
    case IR_UINT32: *lo = 0, *hi = UINT32_MAX; return 0;
    default: *lo = INT64_MIN, *hi = INT64_MAX; return 0;
    }
}

/* Element i of c as integer dtype t, range-checked. */
static int get_int(wr *w, const ir_const *c, ir_dtype t, int64_t i, int64_t *out, const char *what) {
    int64_t v = ir_const_get_i64(c, i), lo, hi;
    int_range(t, &lo, &hi);
    if (c->store == IR_UINT64 && t != IR_UINT64 && ((const uint64_t *)c->data)[i] > (uint64_t)INT64_MAX) v = -1;
    if (v < lo || v > hi)
        return pc_fail(w->e, PC_E_VALUE, "%s: element %lld = %lld does not fit %s", what, (long long)i, (long long)v,
                       ir_dtype_name(t));
    *out = v;
    return 0;
}

/* Raw little-endian bytes of c as dtype t (fp16 or an integer type). */
static void *as_bytes(wr *w, const ir_const *c, ir_dtype t, const char *what) {
    size_t es = ir_dtype_size(t), n = (size_t)c->count;
    if (c->store == t && ir_const_is_raw(c)) return (void *)c->data;
    size_t nb = n * es;
    unsigned char *b = pc_alloc(w->a, nb ? nb : 1);
    if (!b) {
        OOM(w);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (t == IR_FP16) {
            ((uint16_t *)b)[i] = pc_f32_to_f16((float)ir_const_get_f64(c, (int64_t)i));
            continue;
        }
        int64_t v;
        if (get_int(w, c, t, (int64_t)i, &v, what)) return NULL;
        switch (es) {
        case 1: b[i] = (unsigned char)v; break;
        case 2: ((uint16_t *)b)[i] = (uint16_t)v; break;
        case 4: ((uint32_t *)b)[i] = (uint32_t)v; break;
        default: ((uint64_t *)b)[i] = (uint64_t)v; break;
        }
    }
    return b;
}

static Cml__TensorValue *tensor_value(wr *w, const ir_const *c, ir_dtype t, const char *what) {
    Cml__TensorValue *tv = NEW(w, Cml__TensorValue, CML__TENSOR_VALUE__INIT);
    if (!tv) {
        OOM(w);
        return NULL;
    }
    size_t n = (size_t)c->count;
    size_t cap = n ? n : 1;
    switch (t) {
    case IR_FP32: {
        Cml__TensorValue__RepeatedFloats *f = NEW(w, Cml__TensorValue__RepeatedFloats, CML__TENSOR_VALUE__REPEATED_FLOATS__INIT);
        float *v = (c->store == IR_FP32 && ir_const_is_raw(c)) ? (float *)c->data : pc_alloc(w->a, cap * sizeof(float));
        if (!f || !v) goto oom;
        if (c->store != IR_FP32 || !ir_const_is_raw(c))
            for (size_t i = 0; i < n; i++) v[i] = (float)ir_const_get_f64(c, (int64_t)i);
        f->n_values = n;
        f->values = v;
        tv->value_case = CML__TENSOR_VALUE__VALUE_FLOATS;
        tv->floats = f;
        break;
    }
    case IR_FP64: {
        Cml__TensorValue__RepeatedDoubles *f = NEW(w, Cml__TensorValue__RepeatedDoubles, CML__TENSOR_VALUE__REPEATED_DOUBLES__INIT);
        double *v = (c->store == IR_FP64 && ir_const_is_raw(c)) ? (double *)c->data : pc_alloc(w->a, cap * sizeof(double));
        if (!f || !v) goto oom;
        if (c->store != IR_FP64 || !ir_const_is_raw(c))
            for (size_t i = 0; i < n; i++) v[i] = ir_const_get_f64(c, (int64_t)i);
        f->n_values = n;
        f->values = v;
        tv->value_case = CML__TENSOR_VALUE__VALUE_DOUBLES;
        tv->doubles = f;
        break;
    }
    case IR_FP16:
    case IR_INT8:
    case IR_UINT8:
    case IR_UINT32: { /* these go into `bytes`, as MIL reads them */
        Cml__TensorValue__RepeatedBytes *f = NEW(w, Cml__TensorValue__RepeatedBytes, CML__TENSOR_VALUE__REPEATED_BYTES__INIT);
        if (!f) goto oom;
        void *b = as_bytes(w, c, t, what);
        if (!b) return NULL;
        f->values.len = n * ir_dtype_size(t);
        f->values.data = b;
        tv->value_case = CML__TENSOR_VALUE__VALUE_BYTES;
        tv->bytes = f;
        break;
    }
    case IR_INT16:
    case IR_UINT16:
    case IR_INT32: {
        Cml__TensorValue__RepeatedInts *f = NEW(w, Cml__TensorValue__RepeatedInts, CML__TENSOR_VALUE__REPEATED_INTS__INIT);
        int direct = c->store == IR_INT32 && t == IR_INT32;
        int32_t *v = direct ? (int32_t *)c->data : pc_alloc(w->a, cap * sizeof(int32_t));
        if (!f || !v) goto oom;
        if (!direct)
            for (size_t i = 0; i < n; i++) {
                int64_t x;
                if (get_int(w, c, t, (int64_t)i, &x, what)) return NULL;
                v[i] = (int32_t)x;
            }
        f->n_values = n;
        f->values = v;
        tv->value_case = CML__TENSOR_VALUE__VALUE_INTS;
        tv->ints = f;
        break;
    }
    case IR_INT64:
    case IR_UINT64: {
        Cml__TensorValue__RepeatedLongInts *f = NEW(w, Cml__TensorValue__RepeatedLongInts, CML__TENSOR_VALUE__REPEATED_LONG_INTS__INIT);
        int64_t *v = pc_alloc(w->a, cap * sizeof(int64_t));
        if (!f || !v) goto oom;
        for (size_t i = 0; i < n; i++) v[i] = ir_const_get_i64(c, (int64_t)i);
        f->n_values = n;
        f->values = v;
        tv->value_case = CML__TENSOR_VALUE__VALUE_LONG_INTS;
        tv->longints = f;
        break;
    }
    case IR_BOOL: {
        Cml__TensorValue__RepeatedBools *f = NEW(w, Cml__TensorValue__RepeatedBools, CML__TENSOR_VALUE__REPEATED_BOOLS__INIT);
        protobuf_c_boolean *v = pc_alloc(w->a, cap * sizeof(*v));
        if (!f || !v) goto oom;
        for (size_t i = 0; i < n; i++) v[i] = ir_const_get_f64(c, (int64_t)i) != 0.0;
        f->n_values = n;
        f->values = v;
        tv->value_case = CML__TENSOR_VALUE__VALUE_BOOLS;
        tv->bools = f;
        break;
    }
    case IR_STRING: {
        if (c->store != IR_STRING) {
            pc_fail(w->e, PC_E_VALUE, "%s: a string constant whose payload is %s", what, ir_dtype_name(c->store));
            return NULL;
        }
        Cml__TensorValue__RepeatedStrings *f = NEW(w, Cml__TensorValue__RepeatedStrings, CML__TENSOR_VALUE__REPEATED_STRINGS__INIT);
        char **v = pc_alloc(w->a, cap * sizeof(char *));
        if (!f || !v) goto oom;
        for (size_t i = 0; i < n; i++) {
            const char *s = ((const char *const *)c->data)[i];
            v[i] = (char *)(s ? s : "");
        }
        f->n_values = n;
        f->values = v;
        tv->value_case = CML__TENSOR_VALUE__VALUE_STRINGS;
        tv->strings = f;
        break;
    }
    default: pc_fail(w->e, PC_E_VALUE, "%s has dtype %s, which MIL cannot hold", what, ir_dtype_name(t)); return NULL;
    }
    return tv;
oom:
    OOM(w);
    return NULL;
}

static Cml__Value *immediate(wr *w, const ir_type *t, const ir_const *c, const char *what) {
    Cml__Value *v = NEW(w, Cml__Value, CML__VALUE__INIT);
    Cml__Value__ImmediateValue *iv = NEW(w, Cml__Value__ImmediateValue, CML__VALUE__IMMEDIATE_VALUE__INIT);
    if (!v || !iv) {
        OOM(w);
        return NULL;
    }
    if (!(v->type = value_type(w, t, what))) return NULL;
    if (!(iv->tensor = tensor_value(w, c, t->dtype, what))) return NULL;
    iv->value_case = CML__VALUE__IMMEDIATE_VALUE__VALUE_TENSOR;
    v->value_case = CML__VALUE__VALUE_IMMEDIATE_VALUE;
    v->immediatevalue = iv;
    return v;
}

/* A const [N] as an immediate MIL list of N scalars (classify's `classes`, which
 * Core ML wants as a list literal bound to the op, not a const op). */
static Cml__Value *list_value(wr *w, const ir_value *v, const char *what) {
    const ir_const *c = v->konst;
    if (!c || v->type.kind != IR_TK_TENSOR || v->type.rank != 1 || c->count != v->type.dims[0]) {
        pc_fail(w->e, PC_E_VALUE, "%s: a list literal needs a const of rank 1", what);
        return NULL;
    }
    Cml__Value *lv = NEW(w, Cml__Value, CML__VALUE__INIT);
    Cml__Value__ImmediateValue *iv = NEW(w, Cml__Value__ImmediateValue, CML__VALUE__IMMEDIATE_VALUE__INIT);
    Cml__ListValue *l = NEW(w, Cml__ListValue, CML__LIST_VALUE__INIT);
    Cml__ValueType *vt = NEW(w, Cml__ValueType, CML__VALUE_TYPE__INIT);
    Cml__ListType *lt = NEW(w, Cml__ListType, CML__LIST_TYPE__INIT);
    Cml__Dimension *len = NEW(w, Cml__Dimension, CML__DIMENSION__INIT);
    Cml__Dimension__ConstantDimension *cd = NEW(w, Cml__Dimension__ConstantDimension, CML__DIMENSION__CONSTANT_DIMENSION__INIT);
    size_t n = (size_t)c->count;
    Cml__Value **items = pc_alloc(w->a, sizeof(*items) * (n ? n : 1));
    if (!lv || !iv || !l || !vt || !lt || !len || !cd || !items) {
        OOM(w);
        return NULL;
    }
    ir_type et = ir_scalar_type(v->type.dtype);
    if (!(lt->type = value_type(w, &et, what))) return NULL;
    cd->size = (uint64_t)n;
    len->dimension_case = CML__DIMENSION__DIMENSION_CONSTANT;
    len->constant = cd;
    lt->length = len;
    vt->type_case = CML__VALUE_TYPE__TYPE_LIST_TYPE;
    vt->listtype = lt;
    size_t es = ir_dtype_size(c->store);
    for (size_t i = 0; i < n; i++) {
        ir_const one = {.store = c->store, .count = 1, .data = (const char *)c->data + i * es};
        if (!(items[i] = immediate(w, &et, &one, what))) return NULL;
    }
    l->n_values = n;
    l->values = items;
    iv->value_case = CML__VALUE__IMMEDIATE_VALUE__VALUE_LIST;
    iv->list = l;
    lv->type = vt;
    lv->value_case = CML__VALUE__VALUE_IMMEDIATE_VALUE;
    lv->immediatevalue = iv;
    return lv;
}

/* Is parameter `pname` of op written as a literal value (its ops.def row marks it '^': classify's classes)? */
static int is_literal_param(const ir_op *op, const char *pname) {
    const ir_param *p = ir_op_param(op->kind, pname);
    return p && p->literal;
}

/* Is `v` a const read only as literal parameters of ops in b (so it is
 * written as a list literal there and its const op is left out)? */
static int is_classes_literal(const ir_block *b, const ir_value *v) {
    if (!v->konst) return 0;
    int used = 0;
    for (const ir_op *op = b->first; op; op = op->next)
        for (int i = 0; i < op->nin; i++)
            for (int j = 0; j < op->in[i].n; j++) {
                if (op->in[i].v[j] != v) continue;
                if (!is_literal_param(op, op->in[i].name)) return 0;
                used = 1;
            }
    for (int i = 0; i < b->nout; i++)
        if (b->out[i] == v) return 0;
    return used;
}

static Cml__Value *string_value(wr *w, const char *s) {
    ir_const c = {.store = IR_STRING, .count = 1, .data = &s};
    ir_type t = ir_scalar_type(IR_STRING);
    return immediate(w, &t, &c, "a name attribute");
}

/* Which consts go to the weight file: as coremltools decides, >= 10 elements of
 * fp16/fp32/uint8/int8, and from iOS18 (spec 9) also 16/32-bit integers. */
static int is_blob(const wr *w, const ir_type *t, const ir_const *c) {
    if (c->count < BLOB_MIN_ELEMS) return 0;
    switch (t->dtype) {
    case IR_FP16:
    case IR_FP32:
    case IR_UINT8:
    case IR_INT8: return 1;
    case IR_INT16:
    case IR_UINT16:
    case IR_INT32:
    case IR_UINT32: return w->spec_version >= 9;
    default: return 0;
    }
}

/* The `val` of a const: a blob reference (offset filled after layout) or an immediate. */
static Cml__Value *const_value(wr *w, const ir_value *out, const char *what) {
    const ir_const *c = out->konst;
    if (!c) {
        pc_fail(w->e, PC_E_VALUE, "%s has no payload", what);
        return NULL;
    }
    if (out->type.kind != IR_TK_TENSOR || ir_type_numel(&out->type) != c->count) {
        char b[128];
        pc_fail(w->e, PC_E_VALUE, "%s: payload of %lld elements for type %s", what, (long long)c->count,
                ir_type_str(&out->type, b, sizeof b));
        return NULL;
    }
    if (c->count && !c->data) {
        pc_fail(w->e, PC_E_VALUE, "%s has no payload data", what);
        return NULL;
    }
    if (!is_blob(w, &out->type, c)) return immediate(w, &out->type, c, what);
    Cml__Value *v = NEW(w, Cml__Value, CML__VALUE__INIT);
    Cml__Value__BlobFileValue *bv = NEW(w, Cml__Value__BlobFileValue, CML__VALUE__BLOB_FILE_VALUE__INIT);
    if (!v || !bv) {
        OOM(w);
        return NULL;
    }
    if (!(v->type = value_type(w, &out->type, what))) return NULL;
    bv->filename = SER_WEIGHTS_REF;
    v->value_case = CML__VALUE__VALUE_BLOB_FILE_VALUE;
    v->blobfilevalue = bv;
    if (w->nblobs == w->capblobs) {
        int nc = w->capblobs ? w->capblobs * 2 : 64;
        ser_blob *nb = pc_alloc(w->a, sizeof(*nb) * (size_t)nc);
        Cml__Value__BlobFileValue **nr = pc_alloc(w->a, sizeof(*nr) * (size_t)nc);
        if (!nb || !nr) {
            OOM(w);
            return NULL;
        }
        if (w->nblobs) {
            memcpy(nb, w->blobs, sizeof(*nb) * (size_t)w->nblobs);
            memcpy(nr, w->refs, sizeof(*nr) * (size_t)w->nblobs);
        }
        w->blobs = nb;
        w->refs = nr;
        w->capblobs = nc;
    }
    ser_blob *b = &w->blobs[w->nblobs];
    b->c = c;
    b->dtype = out->type.dtype;
    b->nbytes = (uint64_t)c->count * ir_dtype_size(out->type.dtype);
    w->refs[w->nblobs++] = bv;
    return v;
}

/* ---- ops and blocks ---- */

static Cml__ValueEntry *entry(wr *w, const char *key, Cml__Value *v) {
    Cml__ValueEntry *e = v ? NEW(w, Cml__ValueEntry, CML__VALUE_ENTRY__INIT) : NULL;
    if (!e) {
        if (v) OOM(w);
        return NULL;
    }
    e->key = (char *)key;
    e->value = v;
    return e;
}

static Cml__Block *block_msg(wr *w, const ir_block *b, int nested, const char *where);

static Cml__Operation *op_msg(wr *w, const ir_op *op) {
    Cml__Operation *o = NEW(w, Cml__Operation, CML__OPERATION__INIT);
    if (!o) {
        OOM(w);
        return NULL;
    }
    const char *type = op->type_name ? op->type_name : ir_op_kind_name(op->kind);
    if (!type || !*type || strcmp(type, "?") == 0) {
        pc_fail(w->e, PC_E_VALUE, "op '%s' has no MIL type", op->name ? op->name : "?");
        return NULL;
    }
    const char *name = op->name ? op->name : (op->nout ? op->out[0]->name : NULL);
    if (!name || !*name) {
        pc_fail(w->e, PC_E_VALUE, "a %s op has no name", type);
        return NULL;
    }
    const char *what = pc_sprintf(w->a, "op '%s' (%s)", name, type);
    if (!what) {
        OOM(w);
        return NULL;
    }
    o->type = (char *)type;
    const char *sub = ser_subbyte_op(op);
    if (sub) {
        pc_fail(w->e, PC_E_VALUE, "%s: writing %s in a sub-byte type is not supported (the model loads and predicts, "
                "but cannot be saved again)", what, sub);
        return NULL;
    }
    int is_const = op->kind == IR_OP_CONST;
    if (is_const && (op->nout != 1 || op->nin || op->nblocks)) {
        pc_fail(w->e, PC_E_VALUE, "%s must have one output and no inputs or blocks", what);
        return NULL;
    }
    o->n_inputs = (size_t)op->nin;
    o->inputs = pc_alloc(w->a, sizeof(*o->inputs) * (size_t)(op->nin ? op->nin : 1));
    if (!o->inputs) goto oom;
    for (int i = 0; i < op->nin; i++) {
        const ir_arg *a = &op->in[i];
        Cml__Operation__InputEntry *ie = NEW(w, Cml__Operation__InputEntry, CML__OPERATION__INPUT_ENTRY__INIT);
        Cml__Argument *arg = NEW(w, Cml__Argument, CML__ARGUMENT__INIT);
        Cml__Argument__Binding **bs = pc_alloc(w->a, sizeof(*bs) * (size_t)(a->n ? a->n : 1));
        if (!ie || !arg || !bs) goto oom;
        for (int j = 0; j < a->n; j++) {
            if (!a->v[j] || !a->v[j]->name) {
                pc_fail(w->e, PC_E_VALUE, "%s: input '%s' is not bound", what, a->name);
                return NULL;
            }
            bs[j] = NEW(w, Cml__Argument__Binding, CML__ARGUMENT__BINDING__INIT);
            if (!bs[j]) goto oom;
            if (is_literal_param(op, a->name) && op->parent && is_classes_literal(op->parent, a->v[j])) {
                bs[j]->binding_case = CML__ARGUMENT__BINDING__BINDING_VALUE;
                if (!(bs[j]->value = list_value(w, a->v[j], what))) return NULL;
                continue;
            }
            bs[j]->binding_case = CML__ARGUMENT__BINDING__BINDING_NAME;
            bs[j]->name = (char *)a->v[j]->name;
        }
        arg->n_arguments = (size_t)a->n;
        arg->arguments = bs;
        ie->key = (char *)a->name;
        ie->value = arg;
        o->inputs[i] = ie;
    }
    o->n_outputs = (size_t)op->nout;
    o->outputs = pc_alloc(w->a, sizeof(*o->outputs) * (size_t)(op->nout ? op->nout : 1));
    if (!o->outputs) goto oom;
    for (int i = 0; i < op->nout; i++)
        if (!(o->outputs[i] = named(w, op->out[i], what))) return NULL;
    o->n_blocks = (size_t)op->nblocks;
    o->blocks = pc_alloc(w->a, sizeof(*o->blocks) * (size_t)(op->nblocks ? op->nblocks : 1));
    if (!o->blocks) goto oom;
    for (int i = 0; i < op->nblocks; i++)
        if (!(o->blocks[i] = block_msg(w, op->blocks[i], 1, what))) return NULL;
    o->attributes = pc_alloc(w->a, sizeof(*o->attributes) * 2);
    if (!o->attributes) goto oom;
    if (is_const && !(o->attributes[o->n_attributes++] = entry(w, "val", const_value(w, op->out[0], what)))) return NULL;
    if (!(o->attributes[o->n_attributes++] = entry(w, "name", string_value(w, name)))) return NULL;
    return o;
oom:
    OOM(w);
    return NULL;
}

static Cml__Block *block_msg(wr *w, const ir_block *b, int nested, const char *where) {
    Cml__Block *bm = NEW(w, Cml__Block, CML__BLOCK__INIT);
    if (!bm) {
        OOM(w);
        return NULL;
    }
    size_t nops = 0;
    for (const ir_op *op = b->first; op; op = op->next) nops++;
    bm->operations = pc_alloc(w->a, sizeof(*bm->operations) * (nops ? nops : 1));
    bm->outputs = pc_alloc(w->a, sizeof(char *) * (size_t)(b->nout ? b->nout : 1));
    bm->inputs = pc_alloc(w->a, sizeof(*bm->inputs) * (size_t)(b->nin ? b->nin : 1));
    if (!bm->operations || !bm->outputs || !bm->inputs) {
        OOM(w);
        return NULL;
    }
    if (nested) {
        for (int i = 0; i < b->nin; i++)
            if (!(bm->inputs[i] = named(w, b->in[i], where))) return NULL;
        bm->n_inputs = (size_t)b->nin;
    } else if (b->nin) {
        pc_fail(w->e, PC_E_VALUE, "the body of %s has block inputs", where);
        return NULL;
    }
    int has_literal = 0;
    for (const ir_op *op = b->first; op; op = op->next)
        for (int i = 0; i < op->nin && !has_literal; i++) has_literal = is_literal_param(op, op->in[i].name);
    for (const ir_op *op = b->first; op; op = op->next) {
        if (has_literal && op->kind == IR_OP_CONST && op->nout == 1 && is_classes_literal(b, op->out[0]))
            continue; /* bound inline to classify */
        if (!(bm->operations[bm->n_operations++] = op_msg(w, op))) return NULL;
    }
    for (int i = 0; i < b->nout; i++) {
        if (!b->out[i] || !b->out[i]->name) {
            pc_fail(w->e, PC_E_VALUE, "output %d of %s is not bound", i, where);
            return NULL;
        }
        bm->outputs[i] = (char *)b->out[i]->name;
    }
    bm->n_outputs = (size_t)b->nout;
    return bm;
}

static Cml__Function *function_msg(wr *w, const ir_function *fn) {
    Cml__Function *f = NEW(w, Cml__Function, CML__FUNCTION__INIT);
    Cml__Function__BlockEntry *be = NEW(w, Cml__Function__BlockEntry, CML__FUNCTION__BLOCK_ENTRY__INIT);
    const char *where = pc_sprintf(w->a, "function '%s'", fn->name);
    if (!f || !be || !where) {
        OOM(w);
        return NULL;
    }
    f->opset = (char *)(fn->opset && *fn->opset ? fn->opset : "CoreML5");
    f->inputs = pc_alloc(w->a, sizeof(*f->inputs) * (size_t)(fn->nin ? fn->nin : 1));
    f->block_specializations = pc_alloc(w->a, sizeof(*f->block_specializations));
    if (!f->inputs || !f->block_specializations) {
        OOM(w);
        return NULL;
    }
    for (int i = 0; i < fn->nin; i++)
        if (!(f->inputs[i] = named(w, fn->in[i], where))) return NULL;
    f->n_inputs = (size_t)fn->nin;
    be->key = f->opset;
    if (!fn->body || !(be->value = block_msg(w, fn->body, 0, where))) {
        if (!fn->body) pc_fail(w->e, PC_E_VALUE, "%s has no body", where);
        return NULL;
    }
    f->block_specializations[0] = be;
    f->n_block_specializations = 1;
    return f;
}

/* ---- the description ---- */

static const ir_value *find_value(ir_value *const *vs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (vs[i] && vs[i]->name && strcmp(vs[i]->name, name) == 0) return vs[i];
    return NULL;
}

/* Features for values of main when the description lists none: arrays of their
 * dtype and shape, unknown dims flexible from 1 up. */
static int derive_features(wr *w, ir_value *const *vs, int n, ser_feature **out) {
    ser_feature *fs = pc_alloc(w->a, sizeof(*fs) * (size_t)(n ? n : 1));
    if (!fs) return OOM(w);
    for (int i = 0; i < n; i++) {
        const ir_type *t = &vs[i]->type;
        fs[i].name = vs[i]->name;
        fs[i].kind = t->kind == IR_TK_STATE ? SER_FEAT_STATE : SER_FEAT_ARRAY;
        fs[i].dtype = t->dtype;
        fs[i].rank = t->rank < 0 ? 0 : t->rank;
        for (int k = 0; k < fs[i].rank; k++) {
            fs[i].shape[k] = t->dims[k] >= 0 ? t->dims[k] : 1;
            fs[i].upper[k] = t->dims[k] >= 0 ? t->dims[k] : -1;
            if (t->dims[k] < 0) fs[i].flexible = 1;
        }
    }
    *out = fs;
    return 0;
}

/* The inputs of fn that are states (want 1) or not (want 0), into a new arena array; the count. */
static int inputs_of_kind(wr *w, const ir_function *fn, int want, ir_value ***out) {
    int n = 0;
    *out = pc_alloc(w->a, sizeof(ir_value *) * (size_t)(fn->nin ? fn->nin : 1));
    if (!*out) return OOM(w);
    for (int i = 0; i < fn->nin; i++)
        if ((fn->in[i]->type.kind == IR_TK_STATE) == want) (*out)[n++] = fn->in[i];
    return n;
}

/* The description matches main: the same input, state and output names. */
static int check_desc(wr *w, const ser_desc *d, const ir_function *fn) {
    if (d->ninputs + d->nstates != fn->nin)
        return pc_fail(w->e, PC_E_VALUE, "the description lists %d inputs and %d states, function main has %d inputs",
                       d->ninputs, d->nstates, fn->nin);
    for (int i = 0; i < d->nstates; i++) {
        const ir_value *v = d->states[i].name ? find_value(fn->in, fn->nin, d->states[i].name) : NULL;
        if (!v || v->type.kind != IR_TK_STATE)
            return pc_fail(w->e, PC_E_VALUE, "description state '%s' is not a state input of function main",
                           d->states[i].name ? d->states[i].name : "");
    }
    if (d->noutputs != fn->body->nout)
        return pc_fail(w->e, PC_E_VALUE, "the description lists %d outputs, function main has %d", d->noutputs,
                       fn->body->nout);
    for (int i = 0; i < d->ninputs; i++)
        if (!d->inputs[i].name || !find_value(fn->in, fn->nin, d->inputs[i].name))
            return pc_fail(w->e, PC_E_VALUE, "description input '%s' is not an input of function main",
                           d->inputs[i].name ? d->inputs[i].name : "");
    for (int i = 0; i < d->noutputs; i++)
        if (!d->outputs[i].name || !find_value(fn->body->out, fn->body->nout, d->outputs[i].name))
            return pc_fail(w->e, PC_E_VALUE, "description output '%s' is not an output of function main",
                           d->outputs[i].name ? d->outputs[i].name : "");
    return 0;
}

static Cml__Model *model_msg(wr *w, const ir_program *p, const ser_desc *d0) {
    const ir_function *main_fn = ir_program_main(p);
    if (!main_fn) {
        pc_fail(w->e, PC_E_VALUE, "the program has no functions");
        return NULL;
    }
    ser_desc d = *d0;
    for (int st = 0; st < 2; st++) {
        ir_value **vs;
        int n = inputs_of_kind(w, main_fn, st, &vs);
        if (n < 0) return NULL;
        if (n == 0 || (st ? d.nstates : d.ninputs) != 0) continue;
        if (derive_features(w, vs, n, st ? &d.states : &d.inputs)) return NULL;
        *(st ? &d.nstates : &d.ninputs) = n;
    }
    if (d.noutputs == 0 && main_fn->body->nout) {
        if (derive_features(w, main_fn->body->out, main_fn->body->nout, &d.outputs)) return NULL;
        d.noutputs = main_fn->body->nout;
    }
    if (check_desc(w, &d, main_fn)) return NULL;
    if (d.spec_version == 0) d.spec_version = 6;
    w->spec_version = d.spec_version;
    if (d.spec_version < 6) {
        pc_fail(w->e, PC_E_VALUE, "specification version %d cannot hold an ML Program (needs 6 = iOS15 or later)", d.spec_version);
        return NULL;
    }
    Cml__Model *m = NEW(w, Cml__Model, CML__MODEL__INIT);
    Cml__Program *pg = NEW(w, Cml__Program, CML__PROGRAM__INIT);
    if (!m || !pg) {
        OOM(w);
        return NULL;
    }
    m->specificationversion = d.spec_version;
    if (ser_desc_to_proto(&d, w->a, &m->description, w->e)) return NULL;
    pg->version = 1;
    pg->functions = pc_alloc(w->a, sizeof(*pg->functions) * (size_t)p->nfunc);
    if (!pg->functions) {
        OOM(w);
        return NULL;
    }
    for (int i = 0; i < p->nfunc; i++) {
        Cml__Program__FunctionEntry *fe = NEW(w, Cml__Program__FunctionEntry, CML__PROGRAM__FUNCTION_ENTRY__INIT);
        if (!fe) {
            OOM(w);
            return NULL;
        }
        fe->key = (char *)p->funcs[i]->name;
        if (!(fe->value = function_msg(w, p->funcs[i]))) return NULL;
        pg->functions[pg->n_functions++] = fe;
    }
    m->type_case = CML__MODEL__TYPE_ML_PROGRAM;
    m->mlprogram = pg;
    ser_blob_layout(w->blobs, w->nblobs);
    for (int i = 0; i < w->nblobs; i++) w->refs[i]->offset = w->blobs[i].meta_off;
    return m;
}

/* ---- the package ---- */

/* A new, empty directory beside `path` ("<dir>/.<name>.tmp-<uuid>"). */
static char *make_temp_dir(pc_arena *a, const char *path, pc_err *e) {
    const char *sl = strrchr(path, '/');
    const char *base = sl ? sl + 1 : path;
    int dlen = sl ? (int)(sl - path) : 0;
    for (int tries = 0; tries < 8; tries++) {
        char id[37];
        ser_uuid(id);
        char *t = sl ? pc_sprintf(a, "%.*s/.%s.tmp-%s", dlen, path, base, id) : pc_sprintf(a, ".%s.tmp-%s", base, id);
        if (!t) {
            pc_fail(e, PC_E_NOMEM, "out of memory");
            return NULL;
        }
        if (mkdir(t, 0777) == 0) return t;
        if (errno != EEXIST) {
            pc_fail(e, PC_E_IO, "cannot save %s: cannot create a directory beside it: %s", path, strerror(errno));
            return NULL;
        }
    }
    pc_fail(e, PC_E_IO, "cannot save %s: no free temporary name beside it", path);
    return NULL;
}

int ser_write_package(const ir_program *p, const ser_desc *d, const char *path_in, pc_err *e) {
    if (!p || !d || !path_in || !*path_in) return pc_fail(e, PC_E_VALUE, "ser_write_package: missing program, description or path");
    pc_err local;
    if (!e) e = &local;
    wr w = {.e = e};
    w.a = pc_arena_new();
    if (!w.a) return pc_fail(e, PC_E_NOMEM, "out of memory");
    int rc = -1;
    char *tmp = NULL;
    uint8_t *buf = NULL;
    /* the target without trailing slashes */
    size_t pl = strlen(path_in);
    while (pl > 1 && path_in[pl - 1] == '/') pl--;
    char *path = pc_strndup(w.a, path_in, pl);
    if (!path) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto done;
    }
    Cml__Model *m = model_msg(&w, p, d);
    if (!m) goto done;
    size_t len = cml__model__get_packed_size(m);
    buf = malloc(len ? len : 1);
    if (!buf) {
        pc_fail(e, PC_E_NOMEM, "out of memory packing the model (%zu bytes)", len);
        goto done;
    }
    if (cml__model__pack(m, buf) != len) {
        pc_fail(e, PC_E_INTERNAL, "protobuf packing wrote an unexpected size");
        goto done;
    }
    if (!(tmp = make_temp_dir(w.a, path, e))) goto done;
    const char *data_dir = pc_sprintf(w.a, "%s/Data/com.apple.CoreML", tmp);
    const char *wdir = pc_sprintf(w.a, "%s/Data/com.apple.CoreML/weights", tmp);
    const char *wfile = pc_sprintf(w.a, "%s/Data/com.apple.CoreML/weights/weight.bin", tmp);
    const char *mfile = pc_sprintf(w.a, "%s/Data/com.apple.CoreML/model.mlmodel", tmp);
    if (!data_dir || !wdir || !wfile || !mfile) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto done;
    }
    if (ser_mkdirs(wdir, e)) goto done;
    /* like coremltools: no weight.bin when no const went to the blob file */
    if (w.nblobs && ser_blob_write(wfile, w.blobs, w.nblobs, e)) goto done;
    if (ser_write_file(mfile, buf, len, e)) goto done;
    if (ser_write_manifest(tmp, e)) goto done;
    if (ser_replace_dir(tmp, path, e)) goto done;
    tmp = NULL;
    rc = 0;
done:
    if (tmp) ser_rmtree(tmp);
    free(buf);
    pc_arena_free(w.a);
    return rc;
}
