/* features.c: the model description (inputs, outputs, metadata) between the
 * Model protobuf and ser_desc. */
#include "serialize/ser_int.h"

#include <string.h>

/* ---- reading ---- */

static const char *dup_or_null(pc_arena *a, const char *s) { return (s && *s) ? pc_strdup(a, s) : NULL; }

static int valid_color(int c) {
    return c == SER_GRAYSCALE || c == SER_RGB || c == SER_BGR || c == SER_GRAYSCALE_FLOAT16;
}

static int feature_from_proto(const Cml__FeatureDescription *fd, ser_feature *f, pc_arena *a, const char *what,
                              pc_err *e) {
    memset(f, 0, sizeof *f);
    f->name = pc_strdup(a, fd->name ? fd->name : "");
    f->short_description = pc_strdup(a, fd->shortdescription ? fd->shortdescription : "");
    if (!f->name || !f->short_description) return pc_fail(e, PC_E_NOMEM, "out of memory");
    const Cml__FeatureType *t = fd->type;
    if (!t || t->type_case == CML__FEATURE_TYPE__TYPE__NOT_SET)
        return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has no type", what, f->name);
    f->optional = t->isoptional ? 1 : 0;
    f->dtype = IR_FP32;
    switch (t->type_case) {
    case CML__FEATURE_TYPE__TYPE_STATE_TYPE:
    case CML__FEATURE_TYPE__TYPE_MULTI_ARRAY_TYPE: {
        int state = t->type_case == CML__FEATURE_TYPE__TYPE_STATE_TYPE;
        if (state && (!t->statetype->arraytype || t->statetype->type_case != CML__STATE_FEATURE_TYPE__TYPE_ARRAY_TYPE))
            return pc_fail(e, PC_E_FORMAT, "%s: state '%s' does not wrap an array type", what, f->name);
        const Cml__ArrayFeatureType *at = state ? t->statetype->arraytype : t->multiarraytype;
        f->kind = state ? SER_FEAT_STATE : SER_FEAT_ARRAY;
        f->dtype = ser_array_dtype((int)at->datatype);
        if (f->dtype == IR_DT_INVALID)
            return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has unknown array data type code %d", what, f->name,
                           (int)at->datatype);
        size_t rank = at->n_shape;
        const Cml__ArrayFeatureType__ShapeRange *sr =
            at->shape_flexibility_case == CML__ARRAY_FEATURE_TYPE__SHAPE_FLEXIBILITY_SHAPE_RANGE ? at->shaperange : NULL;
        if (sr && rank == 0) rank = sr->n_sizeranges;
        if (rank > IR_MAX_RANK)
            return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has rank %zu (at most %d)", what, f->name, rank, IR_MAX_RANK);
        if (sr && sr->n_sizeranges != rank)
            return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has %zu size ranges for rank %zu", what, f->name,
                           sr->n_sizeranges, rank);
        f->rank = (int)rank;
        for (size_t i = 0; i < rank; i++) {
            f->shape[i] = i < at->n_shape ? at->shape[i] : 0;
            f->upper[i] = f->shape[i];
            if (sr) {
                const Cml__SizeRange *r = sr->sizeranges[i];
                if (r->lowerbound > INT64_MAX || (r->upperbound >= 0 && (uint64_t)r->upperbound < r->lowerbound) ||
                    r->upperbound < -1)
                    return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has a bad size range on dim %zu", what, f->name, i);
                int64_t def = f->shape[i];
                f->shape[i] = (int64_t)r->lowerbound;
                f->upper[i] = r->upperbound;
                f->lower[i] = f->shape[i];
                if (f->upper[i] != f->shape[i]) f->flexible = 1;
                if (i < at->n_shape && def > f->shape[i] && (f->upper[i] < 0 || def <= f->upper[i])) { /* a default */
                    f->shape[i] = def;
                    f->has_lower = 1;
                }
            }
            if (f->shape[i] < 0)
                return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has a negative dimension", what, f->name);
        }
        if (at->shape_flexibility_case == CML__ARRAY_FEATURE_TYPE__SHAPE_FLEXIBILITY_ENUMERATED_SHAPES && at->enumeratedshapes &&
            at->enumeratedshapes->n_shapes > 0) {
            const Cml__ArrayFeatureType__EnumeratedShapes *es = at->enumeratedshapes;
            if (es->n_shapes > 4096) return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has too many shapes", what, f->name);
            f->enum_shapes = pc_alloc(a, sizeof(int64_t) * es->n_shapes * (rank ? rank : 1));
            if (!f->enum_shapes) return pc_fail(e, PC_E_NOMEM, "out of memory");
            for (size_t k = 0; k < es->n_shapes; k++) {
                if (!es->shapes[k] || es->shapes[k]->n_shape != rank)
                    return pc_fail(e, PC_E_FORMAT, "%s: feature '%s': enumerated shape %zu has the wrong rank", what, f->name, k);
                for (size_t i = 0; i < rank; i++) {
                    int64_t d = es->shapes[k]->shape[i];
                    if (d < 0) return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has a negative dimension", what, f->name);
                    f->enum_shapes[k * rank + i] = d;
                    if (d != f->shape[i]) f->flexible = 1;
                }
            }
            f->nenum = (int)es->n_shapes;
        }
        switch (at->default_optional_value_case) {
        case CML__ARRAY_FEATURE_TYPE__DEFAULT_OPTIONAL_VALUE_INT_DEFAULT_VALUE:
            f->default_kind = 1, f->default_value = at->intdefaultvalue;
            break;
        case CML__ARRAY_FEATURE_TYPE__DEFAULT_OPTIONAL_VALUE_FLOAT_DEFAULT_VALUE:
            f->default_kind = 2, f->default_value = at->floatdefaultvalue;
            break;
        case CML__ARRAY_FEATURE_TYPE__DEFAULT_OPTIONAL_VALUE_DOUBLE_DEFAULT_VALUE:
            f->default_kind = 3, f->default_value = at->doubledefaultvalue;
            break;
        default: break;
        }
        break;
    }
    case CML__FEATURE_TYPE__TYPE_IMAGE_TYPE: {
        const Cml__ImageFeatureType *it = t->imagetype;
        f->kind = SER_FEAT_IMAGE;
        f->width = it->width;
        f->height = it->height;
        f->color_space = (int)it->colorspace;
        if (!valid_color(f->color_space))
            return pc_fail(e, PC_E_FORMAT, "%s: image feature '%s' has unknown color space %d", what, f->name,
                           f->color_space);
        if (f->width < 0 || f->height < 0)
            return pc_fail(e, PC_E_FORMAT, "%s: image feature '%s' has a negative size", what, f->name);
        int ch = (f->color_space == SER_GRAYSCALE || f->color_space == SER_GRAYSCALE_FLOAT16) ? 1 : 3;
        if (f->color_space == SER_GRAYSCALE_FLOAT16) f->dtype = IR_FP16;
        f->rank = 4;
        int64_t dims[4] = {1, ch, f->height, f->width};
        for (int i = 0; i < 4; i++) f->shape[i] = f->upper[i] = dims[i];
        if (it->size_flexibility_case == CML__IMAGE_FEATURE_TYPE__SIZE_FLEXIBILITY_IMAGE_SIZE_RANGE && it->imagesizerange) {
            const Cml__SizeRange *wr = it->imagesizerange->widthrange, *hr = it->imagesizerange->heightrange;
            if (hr) {
                f->shape[2] = (int64_t)hr->lowerbound;
                f->upper[2] = hr->upperbound;
            }
            if (wr) {
                f->shape[3] = (int64_t)wr->lowerbound;
                f->upper[3] = wr->upperbound;
            }
            for (int i = 2; i < 4; i++) {
                if (f->shape[i] < 0 || f->upper[i] < -1)
                    return pc_fail(e, PC_E_FORMAT, "%s: image feature '%s' has a bad size range", what, f->name);
                if (f->upper[i] != f->shape[i]) f->flexible = 1;
            }
        }
        if (it->size_flexibility_case == CML__IMAGE_FEATURE_TYPE__SIZE_FLEXIBILITY_ENUMERATED_SIZES && it->enumeratedsizes &&
            it->enumeratedsizes->n_sizes > 0) {
            const Cml__ImageFeatureType__EnumeratedImageSizes *es = it->enumeratedsizes;
            if (es->n_sizes > 4096) return pc_fail(e, PC_E_FORMAT, "%s: feature '%s' has too many sizes", what, f->name);
            if (!(f->enum_shapes = pc_alloc(a, sizeof(int64_t) * 4 * es->n_sizes)))
                return pc_fail(e, PC_E_NOMEM, "out of memory");
            for (size_t k = 0; k < es->n_sizes; k++) {
                const Cml__ImageFeatureType__ImageSize *sz = es->sizes[k];
                if (!sz || sz->width > INT32_MAX || sz->height > INT32_MAX)
                    return pc_fail(e, PC_E_FORMAT, "%s: image feature '%s' has a bad enumerated size", what, f->name);
                int64_t d[4] = {1, ch, (int64_t)sz->height, (int64_t)sz->width};
                for (int i = 0; i < 4; i++) f->enum_shapes[k * 4 + (size_t)i] = d[i];
                for (int i = 2; i < 4; i++) { /* shape keeps the default size; upper the largest */
                    if (d[i] != f->shape[i]) f->flexible = 1;
                    if (d[i] > f->upper[i]) f->upper[i] = d[i];
                }
            }
            f->nenum = (int)es->n_sizes;
        }
        break;
    }
    case CML__FEATURE_TYPE__TYPE_INT64_TYPE: f->kind = SER_FEAT_INT64; f->dtype = IR_INT64; break;
    case CML__FEATURE_TYPE__TYPE_DOUBLE_TYPE: f->kind = SER_FEAT_DOUBLE; f->dtype = IR_FP64; break;
    case CML__FEATURE_TYPE__TYPE_STRING_TYPE: f->kind = SER_FEAT_STRING; f->dtype = IR_STRING; break;
    case CML__FEATURE_TYPE__TYPE_DICTIONARY_TYPE:
        f->kind = SER_FEAT_DICT;
        f->dict_key_int = t->dictionarytype->key_type_case == CML__DICTIONARY_FEATURE_TYPE__KEY_TYPE_INT64_KEY_TYPE;
        break;
    default: f->kind = SER_FEAT_OTHER; break;
    }
    return 0;
}

static int features_from_proto(Cml__FeatureDescription *const *fds, size_t n, ser_feature **out, int *nout,
                               pc_arena *a, const char *what, pc_err *e) {
    *out = pc_alloc(a, sizeof(ser_feature) * (n ? n : 1));
    if (!*out) return pc_fail(e, PC_E_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++)
        if (feature_from_proto(fds[i], &(*out)[i], a, what, e)) return -1;
    *nout = (int)n;
    return 0;
}

int ser_desc_from_proto(const Cml__Model *m, pc_arena *a, ser_desc *d, const char *what, pc_err *e) {
    memset(d, 0, sizeof *d);
    d->spec_version = m->specificationversion;
    const Cml__ModelDescription *md = m->description;
    if (!md) return 0;
    if (features_from_proto(md->input, md->n_input, &d->inputs, &d->ninputs, a, what, e)) return -1;
    if (features_from_proto(md->output, md->n_output, &d->outputs, &d->noutputs, a, what, e)) return -1;
    if (features_from_proto(md->state, md->n_state, &d->states, &d->nstates, a, what, e)) return -1;
    for (int i = 0; i < d->nstates; i++)
        if (d->states[i].kind != SER_FEAT_STATE)
            return pc_fail(e, PC_E_FORMAT, "%s: the model description's state '%s' is not of state type", what,
                           d->states[i].name);
    d->predicted_feature_name = dup_or_null(a, md->predictedfeaturename);
    d->predicted_probabilities_name = dup_or_null(a, md->predictedprobabilitiesname);
    const Cml__Metadata *meta = md->metadata;
    if (meta) {
        d->short_description = dup_or_null(a, meta->shortdescription);
        d->version = dup_or_null(a, meta->versionstring);
        d->author = dup_or_null(a, meta->author);
        d->license = dup_or_null(a, meta->license);
        d->user = pc_alloc(a, sizeof(ser_kv) * (meta->n_userdefined ? meta->n_userdefined : 1));
        if (!d->user) return pc_fail(e, PC_E_NOMEM, "out of memory");
        for (size_t i = 0; i < meta->n_userdefined; i++) {
            const Cml__StringPair *kv = meta->userdefined[i];
            /* a repeated key in a map: the last one wins, as in protobuf maps */
            int k = d->nuser;
            for (int j = 0; j < d->nuser; j++)
                if (strcmp(d->user[j].key, kv->key) == 0) k = j;
            d->user[k].key = pc_strdup(a, kv->key);
            d->user[k].value = pc_strdup(a, kv->value);
            if (!d->user[k].key || !d->user[k].value) return pc_fail(e, PC_E_NOMEM, "out of memory");
            if (k == d->nuser) d->nuser++;
        }
    }
    return 0;
}

/* ---- writing ---- */

#define NEW(a, T, INIT) new_msg(a, sizeof(T), &(T)INIT)
static void *new_msg(pc_arena *a, size_t n, const void *init) {
    void *p = pc_alloc(a, n);
    if (p) memcpy(p, init, n);
    return p;
}

static char *s_or_empty(const char *s) { return (char *)(s ? s : ""); }

static Cml__SizeRange *size_range(pc_arena *a, int64_t lo, int64_t hi) {
    Cml__SizeRange *r = NEW(a, Cml__SizeRange, CML__SIZE_RANGE__INIT);
    if (r) {
        r->lowerbound = (uint64_t)lo;
        r->upperbound = hi;
    }
    return r;
}

static int feature_to_proto(const ser_feature *f, pc_arena *a, Cml__FeatureDescription **out, pc_err *e) {
    const char *nm = f->name ? f->name : "?";
    Cml__FeatureDescription *fd = NEW(a, Cml__FeatureDescription, CML__FEATURE_DESCRIPTION__INIT);
    Cml__FeatureType *t = NEW(a, Cml__FeatureType, CML__FEATURE_TYPE__INIT);
    if (!fd || !t) return pc_fail(e, PC_E_NOMEM, "out of memory");
    if (!f->name || !*f->name) return pc_fail(e, PC_E_VALUE, "a model input/output has no name");
    fd->name = (char *)f->name;
    fd->shortdescription = s_or_empty(f->short_description);
    fd->type = t;
    t->isoptional = f->optional ? 1 : 0;
    if (f->rank < 0 || f->rank > IR_MAX_RANK)
        return pc_fail(e, PC_E_VALUE, "feature '%s' has rank %d (0..%d)", nm, f->rank, IR_MAX_RANK);
    for (int i = 0; i < f->rank; i++)
        if (f->shape[i] < 0 || f->upper[i] < -1 || (f->upper[i] >= 0 && f->upper[i] < f->shape[i]) ||
            (f->has_lower && (f->lower[i] < 0 || f->lower[i] > f->shape[i])))
            return pc_fail(e, PC_E_VALUE, "feature '%s' has a bad size on dim %d (%lld..%lld)", nm, i,
                           (long long)f->shape[i], (long long)f->upper[i]);
    switch (f->kind) {
    case SER_FEAT_STATE:
    case SER_FEAT_ARRAY: {
        Cml__ArrayFeatureType *at = NEW(a, Cml__ArrayFeatureType, CML__ARRAY_FEATURE_TYPE__INIT);
        if (!at) return pc_fail(e, PC_E_NOMEM, "out of memory");
        int code = ser_array_code(f->dtype);
        if (code < 0)
            return pc_fail(e, PC_E_VALUE, "feature '%s': Core ML arrays hold fp32, fp16, fp64, int32 or int8, not %s", nm,
                           ir_dtype_name(f->dtype));
        at->datatype = (Cml__ArrayFeatureType__ArrayDataType)code;
        at->n_shape = (size_t)f->rank;
        at->shape = pc_alloc(a, sizeof(int64_t) * (size_t)(f->rank ? f->rank : 1));
        if (!at->shape) return pc_fail(e, PC_E_NOMEM, "out of memory");
        memcpy(at->shape, f->shape, sizeof(int64_t) * (size_t)f->rank);
        if (f->nenum > 0) {
            Cml__ArrayFeatureType__EnumeratedShapes *es =
                NEW(a, Cml__ArrayFeatureType__EnumeratedShapes, CML__ARRAY_FEATURE_TYPE__ENUMERATED_SHAPES__INIT);
            Cml__ArrayFeatureType__Shape **ss = pc_alloc(a, sizeof(*ss) * (size_t)f->nenum);
            if (!es || !ss || !f->enum_shapes) return pc_fail(e, PC_E_NOMEM, "out of memory");
            for (int k = 0; k < f->nenum; k++) {
                ss[k] = NEW(a, Cml__ArrayFeatureType__Shape, CML__ARRAY_FEATURE_TYPE__SHAPE__INIT);
                int64_t *d = pc_alloc(a, sizeof(int64_t) * (size_t)(f->rank ? f->rank : 1));
                if (!ss[k] || !d) return pc_fail(e, PC_E_NOMEM, "out of memory");
                for (int i = 0; i < f->rank; i++) {
                    d[i] = f->enum_shapes[(size_t)k * (size_t)f->rank + (size_t)i];
                    if (d[i] < 0) return pc_fail(e, PC_E_VALUE, "feature '%s': enumerated shape %d has a negative size", nm, k);
                }
                ss[k]->n_shape = (size_t)f->rank;
                ss[k]->shape = d;
            }
            es->n_shapes = (size_t)f->nenum;
            es->shapes = ss;
            at->shape_flexibility_case = CML__ARRAY_FEATURE_TYPE__SHAPE_FLEXIBILITY_ENUMERATED_SHAPES;
            at->enumeratedshapes = es;
        } else if (f->flexible) {
            Cml__ArrayFeatureType__ShapeRange *sr =
                NEW(a, Cml__ArrayFeatureType__ShapeRange, CML__ARRAY_FEATURE_TYPE__SHAPE_RANGE__INIT);
            Cml__SizeRange **rs = pc_alloc(a, sizeof(*rs) * (size_t)(f->rank ? f->rank : 1));
            if (!sr || !rs) return pc_fail(e, PC_E_NOMEM, "out of memory");
            for (int i = 0; i < f->rank; i++)
                if (!(rs[i] = size_range(a, f->has_lower ? f->lower[i] : f->shape[i], f->upper[i])))
                    return pc_fail(e, PC_E_NOMEM, "out of memory");
            sr->n_sizeranges = (size_t)f->rank;
            sr->sizeranges = rs;
            at->shape_flexibility_case = CML__ARRAY_FEATURE_TYPE__SHAPE_FLEXIBILITY_SHAPE_RANGE;
            at->shaperange = sr;
        }
        if (f->default_kind == 1) {
            at->default_optional_value_case = CML__ARRAY_FEATURE_TYPE__DEFAULT_OPTIONAL_VALUE_INT_DEFAULT_VALUE;
            at->intdefaultvalue = (int32_t)f->default_value;
        } else if (f->default_kind == 2) {
            at->default_optional_value_case = CML__ARRAY_FEATURE_TYPE__DEFAULT_OPTIONAL_VALUE_FLOAT_DEFAULT_VALUE;
            at->floatdefaultvalue = (float)f->default_value;
        } else if (f->default_kind == 3) {
            at->default_optional_value_case = CML__ARRAY_FEATURE_TYPE__DEFAULT_OPTIONAL_VALUE_DOUBLE_DEFAULT_VALUE;
            at->doubledefaultvalue = f->default_value;
        }
        if (f->kind == SER_FEAT_STATE) {
            Cml__StateFeatureType *st = NEW(a, Cml__StateFeatureType, CML__STATE_FEATURE_TYPE__INIT);
            if (!st) return pc_fail(e, PC_E_NOMEM, "out of memory");
            st->type_case = CML__STATE_FEATURE_TYPE__TYPE_ARRAY_TYPE;
            st->arraytype = at;
            t->type_case = CML__FEATURE_TYPE__TYPE_STATE_TYPE;
            t->statetype = st;
            break;
        }
        t->type_case = CML__FEATURE_TYPE__TYPE_MULTI_ARRAY_TYPE;
        t->multiarraytype = at;
        break;
    }
    case SER_FEAT_IMAGE: {
        Cml__ImageFeatureType *it = NEW(a, Cml__ImageFeatureType, CML__IMAGE_FEATURE_TYPE__INIT);
        if (!it) return pc_fail(e, PC_E_NOMEM, "out of memory");
        if (!valid_color(f->color_space))
            return pc_fail(e, PC_E_VALUE, "image feature '%s' has unknown color space %d", nm, f->color_space);
        if (f->width <= 0 || f->height <= 0)
            return pc_fail(e, PC_E_VALUE, "image feature '%s' needs a positive width and height", nm);
        it->width = f->width;
        it->height = f->height;
        it->colorspace = (Cml__ImageFeatureType__ColorSpace)f->color_space;
        if (f->nenum > 0 && f->rank == 4) { /* EnumeratedShapes: the (width, height) of each */
            Cml__ImageFeatureType__EnumeratedImageSizes *es =
                NEW(a, Cml__ImageFeatureType__EnumeratedImageSizes, CML__IMAGE_FEATURE_TYPE__ENUMERATED_IMAGE_SIZES__INIT);
            Cml__ImageFeatureType__ImageSize **ss = pc_alloc(a, sizeof(*ss) * (size_t)f->nenum);
            if (!es || !ss || !f->enum_shapes) return pc_fail(e, PC_E_NOMEM, "out of memory");
            for (int k = 0; k < f->nenum; k++) {
                const int64_t *d = f->enum_shapes + (size_t)k * 4;
                if (!(ss[k] = NEW(a, Cml__ImageFeatureType__ImageSize, CML__IMAGE_FEATURE_TYPE__IMAGE_SIZE__INIT)))
                    return pc_fail(e, PC_E_NOMEM, "out of memory");
                if (d[2] <= 0 || d[3] <= 0)
                    return pc_fail(e, PC_E_VALUE, "image feature '%s': enumerated size %d is not positive", nm, k);
                ss[k]->height = (uint64_t)d[2];
                ss[k]->width = (uint64_t)d[3];
            }
            es->n_sizes = (size_t)f->nenum;
            es->sizes = ss;
            it->size_flexibility_case = CML__IMAGE_FEATURE_TYPE__SIZE_FLEXIBILITY_ENUMERATED_SIZES;
            it->enumeratedsizes = es;
        } else if (f->flexible && f->rank == 4) {
            Cml__ImageFeatureType__ImageSizeRange *r =
                NEW(a, Cml__ImageFeatureType__ImageSizeRange, CML__IMAGE_FEATURE_TYPE__IMAGE_SIZE_RANGE__INIT);
            if (!r || !(r->heightrange = size_range(a, ser_feature_lower(f, 2), f->upper[2])) ||
                !(r->widthrange = size_range(a, ser_feature_lower(f, 3), f->upper[3])))
                return pc_fail(e, PC_E_NOMEM, "out of memory");
            it->size_flexibility_case = CML__IMAGE_FEATURE_TYPE__SIZE_FLEXIBILITY_IMAGE_SIZE_RANGE;
            it->imagesizerange = r;
        }
        t->type_case = CML__FEATURE_TYPE__TYPE_IMAGE_TYPE;
        t->imagetype = it;
        break;
    }
    case SER_FEAT_INT64:
        t->type_case = CML__FEATURE_TYPE__TYPE_INT64_TYPE;
        if (!(t->int64type = NEW(a, Cml__Int64FeatureType, CML__INT64_FEATURE_TYPE__INIT))) return pc_fail(e, PC_E_NOMEM, "out of memory");
        break;
    case SER_FEAT_DOUBLE:
        t->type_case = CML__FEATURE_TYPE__TYPE_DOUBLE_TYPE;
        if (!(t->doubletype = NEW(a, Cml__DoubleFeatureType, CML__DOUBLE_FEATURE_TYPE__INIT))) return pc_fail(e, PC_E_NOMEM, "out of memory");
        break;
    case SER_FEAT_STRING:
        t->type_case = CML__FEATURE_TYPE__TYPE_STRING_TYPE;
        if (!(t->stringtype = NEW(a, Cml__StringFeatureType, CML__STRING_FEATURE_TYPE__INIT))) return pc_fail(e, PC_E_NOMEM, "out of memory");
        break;
    case SER_FEAT_DICT: {
        Cml__DictionaryFeatureType *dt = NEW(a, Cml__DictionaryFeatureType, CML__DICTIONARY_FEATURE_TYPE__INIT);
        if (!dt) return pc_fail(e, PC_E_NOMEM, "out of memory");
        if (f->dict_key_int) {
            dt->key_type_case = CML__DICTIONARY_FEATURE_TYPE__KEY_TYPE_INT64_KEY_TYPE;
            dt->int64keytype = NEW(a, Cml__Int64FeatureType, CML__INT64_FEATURE_TYPE__INIT);
        } else {
            dt->key_type_case = CML__DICTIONARY_FEATURE_TYPE__KEY_TYPE_STRING_KEY_TYPE;
            dt->stringkeytype = NEW(a, Cml__StringFeatureType, CML__STRING_FEATURE_TYPE__INIT);
        }
        if (!dt->int64keytype && !dt->stringkeytype) return pc_fail(e, PC_E_NOMEM, "out of memory");
        t->type_case = CML__FEATURE_TYPE__TYPE_DICTIONARY_TYPE;
        t->dictionarytype = dt;
        break;
    }
    default: return pc_fail(e, PC_E_VALUE, "feature '%s' has a kind we cannot write", nm);
    }
    *out = fd;
    return 0;
}

/* Core ML reads fp16 model inputs/outputs (arrays, GRAYSCALE_FLOAT16 images) from iOS16 = spec 7 on. */
static int check_fp16_io(const ser_feature *f, int spec_version, pc_err *e) {
    int fp16 = (f->kind == SER_FEAT_ARRAY && f->dtype == IR_FP16) ||
               (f->kind == SER_FEAT_IMAGE && f->color_space == SER_GRAYSCALE_FLOAT16);
    if (fp16 && spec_version < 7)
        return pc_fail(e, PC_E_VALUE, "feature '%s' is fp16, which Core ML allows from iOS16 (specification version 7), not %d",
                       f->name ? f->name : "?", spec_version);
    return 0;
}

static int features_to_proto(const ser_feature *fs, int n, int spec_version, pc_arena *a,
                             Cml__FeatureDescription ***out, size_t *nout, pc_err *e) {
    *out = pc_alloc(a, sizeof(**out) * (size_t)(n > 0 ? n : 1));
    if (!*out) return pc_fail(e, PC_E_NOMEM, "out of memory");
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < i; j++)
            if (fs[i].name && fs[j].name && strcmp(fs[i].name, fs[j].name) == 0)
                return pc_fail(e, PC_E_VALUE, "two features are named '%s'", fs[i].name);
        if (check_fp16_io(&fs[i], spec_version, e) || feature_to_proto(&fs[i], a, &(*out)[i], e)) return -1;
    }
    *nout = (size_t)(n > 0 ? n : 0);
    return 0;
}

int ser_desc_to_proto(const ser_desc *d, pc_arena *a, Cml__ModelDescription **out, pc_err *e) {
    Cml__ModelDescription *md = NEW(a, Cml__ModelDescription, CML__MODEL_DESCRIPTION__INIT);
    Cml__Metadata *meta = NEW(a, Cml__Metadata, CML__METADATA__INIT);
    if (!md || !meta) return pc_fail(e, PC_E_NOMEM, "out of memory");
    if (features_to_proto(d->inputs, d->ninputs, d->spec_version, a, &md->input, &md->n_input, e)) return pc_prefix(e, "model input: ");
    if (features_to_proto(d->outputs, d->noutputs, d->spec_version, a, &md->output, &md->n_output, e)) return pc_prefix(e, "model output: ");
    if (d->nstates > 0 && d->spec_version < 9)
        return pc_fail(e, PC_E_VALUE, "model states need iOS18 (specification version 9), not %d", d->spec_version);
    for (int i = 0; i < d->nstates; i++)
        if (d->states[i].kind != SER_FEAT_STATE || d->states[i].dtype != IR_FP16 || d->states[i].flexible)
            return pc_fail(e, PC_E_VALUE, "model state '%s': Core ML states are fp16 arrays of fixed shape",
                           d->states[i].name ? d->states[i].name : "?");
    if (features_to_proto(d->states, d->nstates, d->spec_version, a, &md->state, &md->n_state, e)) return pc_prefix(e, "model state: ");
    md->predictedfeaturename = s_or_empty(d->predicted_feature_name);
    md->predictedprobabilitiesname = s_or_empty(d->predicted_probabilities_name);
    meta->shortdescription = s_or_empty(d->short_description);
    meta->versionstring = s_or_empty(d->version);
    meta->author = s_or_empty(d->author);
    meta->license = s_or_empty(d->license);
    if (d->nuser > 0) {
        meta->userdefined = pc_alloc(a, sizeof(*meta->userdefined) * (size_t)d->nuser);
        if (!meta->userdefined) return pc_fail(e, PC_E_NOMEM, "out of memory");
        for (int i = 0; i < d->nuser; i++) {
            Cml__StringPair *kv = NEW(a, Cml__StringPair, CML__STRING_PAIR__INIT);
            if (!kv) return pc_fail(e, PC_E_NOMEM, "out of memory");
            if (!d->user[i].key) return pc_fail(e, PC_E_VALUE, "user_defined metadata entry %d has no key", i);
            kv->key = (char *)d->user[i].key;
            kv->value = s_or_empty(d->user[i].value);
            meta->userdefined[i] = kv;
        }
        meta->n_userdefined = (size_t)d->nuser;
    }
    md->metadata = meta;
    *out = md;
    return 0;
}
