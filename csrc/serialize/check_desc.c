/* check_desc.c: does a model description (ModelDescription inputs/outputs) say
 * what the program's main function takes and returns? Core ML feeds inputs and
 * reads outputs by the description's names and types, so a package whose
 * description renames, retypes or drops a feature is refused at load, naming the
 * feature, what the description says and what the program has.
 *
 * What coremltools writes is accepted: image inputs (the program takes an fp32
 * NCHW tensor, GRAYSCALE_FLOAT16 an fp16 one), fp16 arrays, flexible dims (a
 * shape range or enumerated shapes in the description, a symbolic dim or any
 * size inside the allowed set in the program), outputs without a shape
 * (scalars, dynamic shapes), classifier outputs (a string / int64 label and a
 * dictionary made by classify). */
#include "serialize/ser_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *color_name(int cs) {
    switch (cs) {
    case SER_GRAYSCALE: return "GRAYSCALE";
    case SER_RGB: return "RGB";
    case SER_BGR: return "BGR";
    default: return "GRAYSCALE_FLOAT16";
    }
}

int64_t ser_feature_lower(const ser_feature *f, int i) { return f->has_lower ? f->lower[i] : f->shape[i]; }

#define APPEND(...) (k += (size_t)snprintf(buf + PC_MIN(k, n), n - PC_MIN(k, n), __VA_ARGS__))

static void dims_str(const ser_feature *f, char *buf, size_t n, size_t k) {
    if (f->nenum > 0) {
        for (int s = 0; s < f->nenum && s < 6; s++) {
            APPEND("%s[", s ? " or " : "of one of the shapes ");
            for (int i = 0; i < f->rank; i++) APPEND("%s%lld", i ? "," : "", (long long)f->enum_shapes[s * f->rank + i]);
            APPEND("]");
        }
        if (f->nenum > 6) APPEND(" or ... (%d shapes)", f->nenum);
        return;
    }
    APPEND("[");
    for (int i = 0; i < f->rank; i++) {
        int64_t lo = ser_feature_lower(f, i), up = f->upper[i];
        if (lo == up) APPEND("%s%lld", i ? "," : "", (long long)lo);
        else if (up < 0) APPEND("%s%lld..", i ? "," : "", (long long)lo);
        else APPEND("%s%lld..%lld", i ? "," : "", (long long)lo, (long long)up);
    }
    APPEND("]");
}

/* What the description says of f, for messages. */
const char *ser_feature_str(const ser_feature *f, char *buf, size_t n) {
    size_t k = 0;
    switch (f->kind) {
    case SER_FEAT_STATE:
    case SER_FEAT_ARRAY:
        APPEND("%s %s ", ir_dtype_name(f->dtype), f->kind == SER_FEAT_STATE ? "state" : "array");
        if (f->rank == 0) APPEND("(shape not given)");
        else dims_str(f, buf, n, k);
        break;
    case SER_FEAT_IMAGE:
        APPEND("%s image %lldx%lld (width x height)", color_name(f->color_space), (long long)f->width,
               (long long)f->height);
        if (f->nenum > 0 && f->rank == 4) {
            APPEND(", sizes");
            for (int j = 0; j < f->nenum && j < 8; j++)
                APPEND("%s %lldx%lld", j ? "," : "", (long long)f->enum_shapes[j * 4 + 3], (long long)f->enum_shapes[j * 4 + 2]);
            if (f->nenum > 8) APPEND(", ...");
        } else if (f->flexible && f->rank == 4) {
            APPEND(", widths %lld..%lld, heights %lld..%lld", (long long)f->shape[3], (long long)f->upper[3],
                   (long long)f->shape[2], (long long)f->upper[2]);
        }
        break;
    case SER_FEAT_INT64: APPEND("int64"); break;
    case SER_FEAT_DOUBLE: APPEND("double"); break;
    case SER_FEAT_STRING: APPEND("string"); break;
    case SER_FEAT_DICT: APPEND("dictionary (%s keys)", f->dict_key_int ? "int64" : "string"); break;
    default: APPEND("a feature type we do not know"); break;
    }
    return buf;
}

#undef APPEND

/* Can a program dim of size d (negative: symbolic) take what the description
 * allows on dim i? A symbolic dim takes anything; a fixed one only its size. */
static int dim_ok(const ser_feature *f, int i, int64_t d) {
    if (IR_IS_SYM(d)) return 1;
    if (f->nenum > 0) {
        for (int s = 0; s < f->nenum; s++)
            if (f->enum_shapes[s * f->rank + i] != d) return 0;
        return 1;
    }
    return ser_feature_lower(f, i) == d && f->upper[i] == d;
}

/* An output's dim: a fixed program size must lie in what the description allows. */
static int out_dim_ok(const ser_feature *f, int i, int64_t d) {
    if (IR_IS_SYM(d)) return 1;
    if (f->nenum > 0) {
        for (int s = 0; s < f->nenum; s++)
            if (f->enum_shapes[s * f->rank + i] == d) return 1;
        return 0;
    }
    return ser_feature_lower(f, i) <= d && (f->upper[i] < 0 || d <= f->upper[i]);
}

static int scalar_like(const ir_type *t) { return t->kind == IR_TK_TENSOR && (t->rank == 0 || (t->rank == 1 && t->dims[0] == 1)); }

/* 1 if value type t is what feature f describes (is_input: the program takes it,
 * so its fixed dims must be exactly the description's). */
static int feature_matches(const ser_feature *f, const ir_type *t, int is_input) {
    switch (f->kind) {
    case SER_FEAT_ARRAY:
        if (t->kind != IR_TK_TENSOR) return 0;
        if (t->dtype != f->dtype && !(f->dtype == IR_FP64 && t->dtype == IR_FP32)) return 0;
        if (f->rank == 0 && f->nenum == 0) return 1; /* no shape given: scalars, dynamic outputs */
        if (t->rank != f->rank) return 0;
        for (int i = 0; i < t->rank; i++)
            if (!(is_input ? dim_ok(f, i, t->dims[i]) : out_dim_ok(f, i, t->dims[i]))) return 0;
        return 1;
    case SER_FEAT_IMAGE: {
        ir_dtype want = f->color_space == SER_GRAYSCALE_FLOAT16 ? IR_FP16 : IR_FP32;
        int ch = (f->color_space == SER_GRAYSCALE || f->color_space == SER_GRAYSCALE_FLOAT16) ? 1 : 3;
        if (t->kind != IR_TK_TENSOR || t->dtype != want || t->rank != 4) return 0;
        if (!IR_IS_SYM(t->dims[0]) && t->dims[0] != 1) return 0;
        if (!IR_IS_SYM(t->dims[1]) && t->dims[1] != ch) return 0;
        for (int i = 2; i < 4; i++)
            if (!(is_input ? dim_ok(f, i, t->dims[i]) : out_dim_ok(f, i, t->dims[i]))) return 0;
        return 1;
    }
    case SER_FEAT_INT64: return scalar_like(t) && ir_dtype_is_int(t->dtype);
    case SER_FEAT_DOUBLE: return scalar_like(t) && (t->dtype == IR_FP64 || t->dtype == IR_FP32);
    case SER_FEAT_STRING: return scalar_like(t) && t->dtype == IR_STRING;
    case SER_FEAT_DICT: return t->kind == IR_TK_DICT && t->dtype == (f->dict_key_int ? IR_INT64 : IR_STRING);
    case SER_FEAT_STATE: /* the state's exact type: fixed shape */
        if (t->kind != IR_TK_STATE || t->dtype != f->dtype || t->rank != f->rank) return 0;
        for (int i = 0; i < t->rank; i++)
            if (t->dims[i] != f->shape[i]) return 0;
        return 1;
    default: return 0;
    }
}

static const ser_feature *find_feature(const ser_feature *fs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (fs[i].name && strcmp(fs[i].name, name) == 0) return &fs[i];
    return NULL;
}

static const ir_value *find_value(ir_value *const *vs, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (strcmp(vs[i]->name, name) == 0) return vs[i];
    return NULL;
}

/* "'a', 'b'" of up to 8 names into buf. */
static const char *value_names(ir_value *const *vs, int n, char *buf, size_t len) {
    size_t k = 0;
    buf[0] = 0;
    for (int i = 0; i < n && k < len; i++)
        k += (size_t)snprintf(buf + k, len - k, "%s'%s'", i ? ", " : "", i < 8 ? vs[i]->name : "...");
    if (n == 0) snprintf(buf, len, "none");
    return buf;
}

/* One side (inputs or outputs): every program value has a feature of its name
 * and type, and every feature a value. */
static int check_side(const char *what, const char *side, ir_value *const *vs, int nv, const ser_feature *fs, int nf,
                      int is_input, pc_err *e) {
    const char *verb = is_input ? "takes" : "returns";
    char names[512], fbuf[512], tbuf[256];
    for (int i = 0; i < nf; i++) {
        for (int j = 0; j < i; j++)
            if (strcmp(fs[i].name, fs[j].name) == 0)
                return pc_fail(e, PC_E_FORMAT, "%s: the model description lists %s '%s' twice", what, side, fs[i].name);
        if (!find_value(vs, nv, fs[i].name))
            return pc_fail(e, PC_E_FORMAT,
                           "%s: the model description's %s '%s' (%s) is not one the program's main function %s "
                           "(it %s %s)",
                           what, side, fs[i].name, ser_feature_str(&fs[i], fbuf, sizeof fbuf), verb, verb,
                           value_names(vs, nv, names, sizeof names));
    }
    for (int i = 0; i < nv; i++) {
        const ser_feature *f = find_feature(fs, nf, vs[i]->name);
        if (!f)
            return pc_fail(e, PC_E_FORMAT,
                           "%s: the program's main function %s %s '%s' (%s), which the model description does not list",
                           what, verb, side, vs[i]->name, ir_type_str(&vs[i]->type, tbuf, sizeof tbuf));
        if (!feature_matches(f, &vs[i]->type, is_input))
            return pc_fail(e, PC_E_FORMAT,
                           "%s: %s '%s': the model description says %s, but the program's main function %s %s", what,
                           side, f->name, ser_feature_str(f, fbuf, sizeof fbuf), verb,
                           ir_type_str(&vs[i]->type, tbuf, sizeof tbuf));
    }
    return 0;
}

int ser_check_desc(const ir_program *p, const ser_desc *d, const char *what, pc_err *e) {
    const ir_function *fn = ir_program_main(p);
    if (!fn) return 0;
    /* the function's state inputs are the description's states, the others its inputs */
    ir_value **ins = malloc(sizeof(ir_value *) * (size_t)(2 * fn->nin + 1)), **sts = ins ? ins + fn->nin : NULL;
    if (!ins) return pc_fail(e, PC_E_NOMEM, "out of memory");
    int nin = 0, nst = 0;
    for (int i = 0; i < fn->nin; i++) {
        if (fn->in[i]->type.kind == IR_TK_STATE) sts[nst++] = fn->in[i];
        else ins[nin++] = fn->in[i];
    }
    int bad = check_side(what, "input", ins, nin, d->inputs, d->ninputs, 1, e) ||
              check_side(what, "state", sts, nst, d->states, d->nstates, 1, e);
    free(ins);
    if (bad || check_side(what, "output", fn->body->out, fn->body->nout, d->outputs, d->noutputs, 0, e)) return -1;
    if (nst > 0 && d->spec_version < 9)
        return pc_fail(e, PC_E_FORMAT, "%s: the program has states, which need specification version 9 (iOS18), "
                       "but the model says %d", what, d->spec_version);
    const char *cls[2] = {d->predicted_feature_name, d->predicted_probabilities_name};
    const char *role[2] = {"predictedFeatureName", "predictedProbabilitiesName"};
    for (int i = 0; i < 2; i++)
        if (cls[i] && *cls[i] && !find_feature(d->outputs, d->noutputs, cls[i]))
            return pc_fail(e, PC_E_FORMAT, "%s: the model description's %s '%s' is not one of its outputs", what,
                           role[i], cls[i]);
    return 0;
}
