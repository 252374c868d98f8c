/* write_values.c: the writer's MIL types and values (see write_int.h): IR types as
 * ValueTypes, constants as immediate tensors or lists, and the consts that go to
 * weights/weight.bin as blob references (their offsets filled once the blobs are laid out). */
#include "serialize/write_int.h"

#include <stdlib.h>
#include <string.h>

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

Cml__NamedValueType *ser_wr_named(wr *w, const ir_value *v, const char *what) {
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
Cml__Value *ser_wr_list_value(wr *w, const ir_value *v, const char *what) {
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
int ser_wr_is_literal_param(const ir_op *op, const char *pname) {
    const ir_param *p = ir_op_param(op->kind, pname);
    return p && p->literal;
}

/* Is `v` a const read only as literal parameters of ops in b (so it is
 * written as a list literal there and its const op is left out)? */
int ser_wr_is_classes_literal(const ir_block *b, const ir_value *v) {
    if (!v->konst) return 0;
    int used = 0;
    for (const ir_op *op = b->first; op; op = op->next)
        for (int i = 0; i < op->nin; i++)
            for (int j = 0; j < op->in[i].n; j++) {
                if (op->in[i].v[j] != v) continue;
                if (!ser_wr_is_literal_param(op, op->in[i].name)) return 0;
                used = 1;
            }
    for (int i = 0; i < b->nout; i++)
        if (b->out[i] == v) return 0;
    return used;
}

Cml__Value *ser_wr_string_value(wr *w, const char *s) {
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
Cml__Value *ser_wr_const_value(wr *w, const ir_value *out, const char *what) {
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
