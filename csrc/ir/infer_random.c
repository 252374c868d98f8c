/* infer_random.c: shape inference for the sampling and box-selection ops: random_uniform,
 * random_normal, random_bernoulli (an int32 `shape`; the output dtype is that of the
 * distribution's const parameters, fp32 when absent), random_categorical (x[..., K] ->
 * x[..., size], x's dtype) and non_maximum_suppression (MIL iOS15: boxes [n, B, 4],
 * scores [n, B, K], four outputs; MIL iOS17, told apart by having no score_threshold:
 * boxes [n, 4, B], scores [n, K, B], three outputs). Definitions: coremltools ops/defs
 * iOS15/random.py, iOS15 and iOS17 tensor_operation.py.
 */
#include "ir/infer_int.h"

#include <string.h>

static int float_dt(infer_ctx *c, const char *name, ir_dtype *dt) {
    const ir_type *t;
    if (inf_input(c, name, 0, &t)) return -1;
    if (!t) return 0;
    double v;
    if (inf_float(c, name, &v)) return -1;
    if (t->dtype != IR_FP32 && t->dtype != IR_FP16)
        return inf_fail(c, "%s must be fp16 or fp32, got %s", name, ir_dtype_name(t->dtype));
    if (*dt != IR_DT_INVALID && *dt != t->dtype) return inf_fail(c, "%s has another dtype than the other parameter", name);
    *dt = t->dtype;
    return 0;
}

static int seed_ok(infer_ctx *c) {
    int64_t seed;
    return inf_int(c, "seed", &seed);
}

/* The output type from the int32 `shape` (const: its values; else fresh symbols of its length). */
static int shaped_out(infer_ctx *c, ir_dtype dt) {
    const ir_type *st;
    int64_t sh[IR_MAX_RANK];
    int n;
    if (inf_input(c, "shape", 1, &st) || inf_ints(c, "shape", 1, sh, IR_MAX_RANK, &n)) return -1;
    if (st->dtype != IR_INT32) return inf_fail(c, "shape must be int32, got %s", ir_dtype_name(st->dtype));
    if (st->rank != 1) return inf_fail(c, "shape %s must be 1-D", inf_tstr(st));
    return inf_out_shaped(c, dt, st, sh, n);
}

static int infer_dist(infer_ctx *c, const char *p1, const char *p2) {
    ir_dtype dt = IR_DT_INVALID;
    if (float_dt(c, p1, &dt) || (p2 && float_dt(c, p2, &dt)) || seed_ok(c)) return -1;
    return shaped_out(c, dt == IR_DT_INVALID ? IR_FP32 : dt);
}

int inf_random_categorical(infer_ctx *c) {
    const ir_type *x;
    const char *mode;
    int64_t size;
    if (inf_input(c, "x", 1, &x) || inf_str(c, "mode", &mode) || inf_int(c, "size", &size) || seed_ok(c))
        return -1;
    if (x->dtype != IR_FP32 && x->dtype != IR_FP16) return inf_fail(c, "x must be fp16 or fp32, got %s", ir_dtype_name(x->dtype));
    if (x->rank < 1) return inf_fail(c, "x %s needs rank >= 1", inf_tstr(x));
    if (strcmp(mode, "logits") && strcmp(mode, "probs")) return inf_fail(c, "mode must be 'logits' or 'probs', got '%s'", mode);
    if (size < 1) return inf_fail(c, "size must be >= 1, got %lld", (long long)size);
    ir_type t = *x;
    t.dims[t.rank - 1] = size;
    return inf_out(c, t);
}

int inf_nms(infer_ctx *c) {
    const ir_type *b, *s, *st, *it;
    int64_t maxb;
    int per_class;
    double iou;
    if (inf_input(c, "boxes", 1, &b) || inf_input(c, "scores", 1, &s) || inf_input(c, "score_threshold", 0, &st) ||
        inf_input(c, "iou_threshold", 1, &it) || inf_float(c, "iou_threshold", &iou) || inf_int(c, "max_boxes", &maxb) ||
        inf_bool(c, "per_class_suppression", &per_class))
        return -1;
    double sthr;
    if (st && inf_float(c, "score_threshold", &sthr)) return -1;
    if (!ir_op_input(c->op, "max_boxes")) return inf_fail(c, "missing required input 'max_boxes'");
    if (maxb < 1) return inf_fail(c, "max_boxes must be >= 1, got %lld", (long long)maxb);
    if (b->rank != 3 || s->rank != 3) return inf_fail(c, "boxes %s and scores %s must have rank 3", inf_tstr(b), inf_tstr(s));
    if ((b->dtype != IR_FP32 && b->dtype != IR_FP16) || s->dtype != b->dtype)
        return inf_fail(c, "boxes and scores must be both fp16 or both fp32 (%s, %s)", ir_dtype_name(b->dtype),
                        ir_dtype_name(s->dtype));
    int ios17 = st == NULL; /* iOS17: boxes [n, 4, B], scores [n, K, B] */
    int bax = ios17 ? 2 : 1, cax = ios17 ? 1 : 2;
    if (b->dims[cax] != 4) return inf_fail(c, "boxes %s must hold 4 coordinates on axis %d", inf_tstr(b), cax);
    for (int i = 0; i < 3; i++) {
        if (i == cax) continue;
        if (!IR_IS_SYM(b->dims[i]) && !IR_IS_SYM(s->dims[i]) && b->dims[i] != s->dims[i])
            return inf_fail(c, "boxes %s and scores %s differ on axis %d", inf_tstr(b), inf_tstr(s), i);
    }
    (void)bax;
    int64_t n = b->dims[0], K = s->dims[cax];
    int64_t d[3] = {n, ios17 ? 4 : maxb, ios17 ? maxb : 4};
    if (inf_out(c, ir_tensor_type(b->dtype, 3, d))) return -1;
    d[1] = ios17 ? K : maxb;
    d[2] = ios17 ? maxb : K;
    if (inf_out(c, ir_tensor_type(s->dtype, 3, d))) return -1;
    d[1] = maxb;
    if (inf_out(c, ir_tensor_type(IR_INT32, 2, d))) return -1;
    return ios17 ? 0 : inf_out(c, ir_tensor_type(IR_INT32, 1, &n));
}

int inf_random_uniform(infer_ctx *c) { return infer_dist(c, "low", "high"); }
int inf_random_normal(infer_ctx *c) { return infer_dist(c, "mean", "stddev"); }
int inf_random_bernoulli(infer_ctx *c) { return infer_dist(c, "prob", NULL); }
