/* bounds.c: the input sizes a model's description allows (RangeDim bounds,
 * EnumeratedShapes, image size ranges), kept with a Program so that its run()
 * refuses an input outside them, as Core ML does, whoever calls it. The
 * program's own types (dtype, rank, fixed dims) are checked by rt_run. */
#include "python/bounds.h"

#include <stdlib.h>
#include <string.h>

struct py_bounds {
    int n;
    struct in_bound {
        int set;        /* 0: the description says nothing more than the program */
        int rank;
        int64_t lo[IR_MAX_RANK], up[IR_MAX_RANK]; /* up < 0: unbounded */
        int nenum;
        int64_t *enums; /* [nenum * rank] */
        char what[256]; /* the description's words for messages */
    } *in;
};

void py_bounds_free(py_bounds *b) {
    if (!b) return;
    for (int i = 0; i < b->n; i++) free(b->in[i].enums);
    free(b->in);
    free(b);
}

static int bound_from_feature(struct in_bound *ib, const ser_feature *f) {
    if ((f->kind != SER_FEAT_ARRAY && f->kind != SER_FEAT_IMAGE) || f->rank == 0) return 0;
    ib->set = 1;
    ib->rank = f->rank;
    for (int i = 0; i < f->rank; i++) {
        ib->lo[i] = ser_feature_lower(f, i);
        ib->up[i] = f->upper[i];
    }
    if (f->nenum > 0) {
        size_t n = (size_t)f->nenum * (size_t)f->rank;
        if (!(ib->enums = malloc(n * sizeof(int64_t)))) return -1;
        memcpy(ib->enums, f->enum_shapes, n * sizeof(int64_t));
        ib->nenum = f->nenum;
    }
    ser_feature_str(f, ib->what, sizeof ib->what);
    return 0;
}

py_bounds *py_bounds_new(const ir_function *fn, const ser_desc *d) {
    py_bounds *b = calloc(1, sizeof *b);
    if (!b || !(b->in = calloc((size_t)(fn->nin ? fn->nin : 1), sizeof *b->in))) {
        free(b);
        PyErr_NoMemory();
        return NULL;
    }
    b->n = fn->nin;
    for (int i = 0; i < fn->nin; i++)
        for (int k = 0; k < d->ninputs; k++)
            if (d->inputs[k].name && strcmp(d->inputs[k].name, fn->in[i]->name) == 0 &&
                bound_from_feature(&b->in[i], &d->inputs[k])) {
                py_bounds_free(b);
                PyErr_NoMemory();
                return NULL;
            }
    return b;
}

py_bounds *py_bounds_from_dict(PyObject *module, const ir_program *p, PyObject *desc) {
    const ir_function *fn = ir_program_main(p);
    if (!fn) {
        PyErr_SetString(PyExc_ValueError, "the program has no main function");
        return NULL;
    }
    pc_arena *a = pc_arena_new();
    if (!a) return (py_bounds *)PyErr_NoMemory();
    ser_desc d;
    pc_err e = {0};
    py_bounds *b = NULL;
    if (py_desc_from_dict(desc, &d, a) == 0) {
        if (ser_check_desc(p, &d, "the model description", &e)) py_raise(module, &e);
        else b = py_bounds_new(fn, &d);
    }
    pc_arena_free(a);
    return b;
}

static void shape_str(const int64_t *dims, int rank, char *buf, size_t n) {
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int i = 0; i < rank && k < n; i++)
        k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "", (long long)dims[i]);
    if (k < n) snprintf(buf + k, n - k, rank == 1 ? ",)" : ")");
}

int py_bounds_check(const py_bounds *b, int i, const ir_value *v, int rank, const int64_t *dims) {
    if (!b || i < 0 || i >= b->n || !b->in[i].set || b->in[i].rank != rank || v->type.rank != rank) return 0;
    for (int k = 0; k < rank; k++)
        if (!IR_IS_SYM(v->type.dims[k]) && v->type.dims[k] != dims[k]) return 0; /* rt_run says which fixed dim */
    const char *name = v->name;
    const struct in_bound *ib = &b->in[i];
    char got[256];
    if (ib->nenum > 0) {
        for (int s = 0; s < ib->nenum; s++)
            if (memcmp(ib->enums + (size_t)s * (size_t)rank, dims, sizeof(int64_t) * (size_t)rank) == 0) return 0;
        shape_str(dims, rank, got, sizeof got);
        PyErr_Format(PyExc_ValueError, "input '%s' has shape %s, which is not one of the shapes the model allows: %s",
                     name, got, ib->what);
        return -1;
    }
    for (int k = 0; k < rank; k++) {
        if (dims[k] >= ib->lo[k] && (ib->up[k] < 0 || dims[k] <= ib->up[k])) continue;
        shape_str(dims, rank, got, sizeof got);
        if (ib->up[k] < 0)
            PyErr_Format(PyExc_ValueError,
                         "input '%s': dim %d has size %lld, below the lower bound %lld the model allows (given shape %s; "
                         "the model takes %s)",
                         name, k, (long long)dims[k], (long long)ib->lo[k], got, ib->what);
        else
            PyErr_Format(PyExc_ValueError,
                         "input '%s': dim %d has size %lld, outside the range %lld..%lld the model allows (given shape "
                         "%s; the model takes %s)",
                         name, k, (long long)dims[k], (long long)ib->lo[k], (long long)ib->up[k], got, ib->what);
        return -1;
    }
    return 0;
}
