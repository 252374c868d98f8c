/* random.c: sampling ops, lowered to MIL's random_uniform / random_normal / random_bernoulli /
 * random_categorical (coremltools ops/defs/iOS15/random.py; seed left at MIL's -1, a new
 * draw on every prediction, as torch draws on every call).
 *
 *   rand, rand_like, uniform_            random_uniform(shape, low, high)
 *   randn, randn_like, normal (sizes), normal_   random_normal(shape, mean, stddev)
 *   normal(mean, std) with tensors      mean + std * random_normal(shape)
 *   randint, randint_like               floor(random_uniform(low, high)), at most high - 1, cast
 *   bernoulli(p) / bernoulli_(p)        random_bernoulli(prob=p) for a number p, else
 *                                       random_uniform < p for a probability tensor
 *   multinomial                         random_categorical(mode="probs") with replacement (or one
 *                                       sample); without: top-k of p / Exp(1) noise (the same
 *                                       law as drawing one by one without replacement)
 * A torch.Generator argument cannot be converted (its state is not in the graph). Integer
 * results are int32; fp16 compute draws fp16 values (randint exact up to 2048).
 */
#include "lower/build.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Input i must be None (a generator). */
static int no_generator(lower_ctx *cx, const ts_node *n, int i) {
    if (i < n->nin && !lower_is_none(cx, n, i)) return lower_fail(cx, "a torch.Generator argument is not supported");
    return 0;
}

/* dtype at input i (None: dflt). */
static int dtype_in(lower_ctx *cx, const ts_node *n, int i, ir_dtype dflt, ir_dtype *dt) {
    int64_t code;
    *dt = dflt;
    if (i >= n->nin || lower_is_none(cx, n, i)) return 0;
    if (lower_int_in(cx, n, i, &code)) return -1;
    return lower_scalar_type(cx, code, dt);
}

static int float_only(lower_ctx *cx, ir_dtype dt) {
    if (dt != IR_FP32 && dt != IR_FP16) return lower_fail(cx, "random floats of dtype %s", ir_dtype_name(dt));
    return 0;
}

/* x's shape as an int32 [rank] tensor (a const when static). */
static ir_value *shape_of(lower_ctx *cx, ir_value *x) {
    if (!x) return NULL;
    if (ir_type_is_static(&x->type)) return lb_const_i32v(cx, x->type.rank, x->type.dims, "shape");
    ir_op *op = lb_op(cx, IR_OP_SHAPE, "shape");
    if (!op || ir_op_set_input(op, "x", x)) return NULL;
    return lb_finish(cx, op);
}

/* A size list input (static or with run-time entries) as an int32 [rank] tensor. */
static ir_value *size_in(lower_ctx *cx, const ts_node *n, int i) {
    lv *l = lower_in(cx, n, i);
    if (!l) return NULL;
    int64_t d[IR_MAX_RANK];
    int cnt;
    if (lv_ints(cx, l, d, IR_MAX_RANK, &cnt) == 0) {
        for (int k = 0; k < cnt; k++)
            if (d[k] < 0) return lower_fail(cx, "negative size %lld", (long long)d[k]), NULL;
        return lb_const_i32v(cx, cnt, d, "shape");
    }
    return lb_shape_tensor(cx, l);
}

/* random_<k>(shape, p1 = a, p2 = b, seed = -1); names NULL skip a parameter. */
static ir_value *draw(lower_ctx *cx, ir_opkind k, ir_value *shape, const char *p1, double a, const char *p2, double b) {
    ir_op *op = lb_op(cx, k, "random");
    if (!op || ir_op_set_input(op, "shape", shape) || (p1 && lb_param_f(cx, op, p1, a, IR_FP32)) ||
        (p2 && lb_param_f(cx, op, p2, b, IR_FP32)) || lb_param_i32(cx, op, "seed", -1))
        return NULL;
    return lb_finish(cx, op);
}

static ir_value *to_dtype(lower_ctx *cx, ir_value *v, ir_dtype dt) {
    return v && v->type.dtype != dt ? lb_cast(cx, v, dt, "cast") : v;
}

/* rand / randn (size, [generator,] dtype, layout, device, pin_memory) */
int lower_rand(lower_ctx *cx, const ts_node *n) {
    int normal = cx->row->sub == 1, gen = n->nin == 6;
    ir_dtype dt;
    if ((gen && no_generator(cx, n, 1)) || dtype_in(cx, n, gen ? 2 : 1, IR_FP32, &dt) || float_only(cx, dt)) return -1;
    ir_value *s = size_in(cx, n, 0);
    ir_value *y = normal ? draw(cx, IR_OP_RANDOM_NORMAL, s, "mean", 0, "stddev", 1)
                         : draw(cx, IR_OP_RANDOM_UNIFORM, s, "low", 0, "high", 1);
    return lower_out_tensor(cx, n, 0, to_dtype(cx, y, dt));
}

/* rand_like / randn_like (self, dtype, layout, device, pin_memory, memory_format) */
int lower_rand_like(lower_ctx *cx, const ts_node *n) {
    int normal = cx->row->sub == 1;
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    ir_dtype dt;
    if (!x || dtype_in(cx, n, 1, x->type.dtype, &dt) || float_only(cx, dt)) return -1;
    ir_value *s = shape_of(cx, x);
    ir_value *y = normal ? draw(cx, IR_OP_RANDOM_NORMAL, s, "mean", 0, "stddev", 1)
                         : draw(cx, IR_OP_RANDOM_UNIFORM, s, "low", 0, "high", 1);
    return lower_out_tensor(cx, n, 0, to_dtype(cx, y, dt));
}

/* Integers uniform in [lo, hi) of shape s, in dtype dt. */
static ir_value *randint_values(lower_ctx *cx, ir_value *s, int64_t lo, int64_t hi, ir_dtype dt) {
    if (hi <= lo) return lower_fail(cx, "randint needs low < high (got %lld, %lld)", (long long)lo, (long long)hi), NULL;
    if (llabs(lo) > (1 << 24) || llabs(hi) > (1 << 24))
        return lower_fail(cx, "randint bounds beyond 2^24 are not exact in fp32"), NULL;
    ir_value *u = draw(cx, IR_OP_RANDOM_UNIFORM, s, "low", (double)lo, "high", (double)hi);
    ir_value *f = lb_unary(cx, IR_OP_FLOOR, u, "floor");
    f = lb_scalar_op(cx, IR_OP_MINIMUM, f, (double)(hi - 1));
    return to_dtype(cx, f, dt);
}

/* randint(high, size, ...), randint(high, size, generator, ...), randint(low, high, size, ...),
 * randint(low, high, size, generator, ...); then dtype, layout, device, pin_memory. */
int lower_randint(lower_ctx *cx, const ts_node *n) {
    lv *a1 = lower_in(cx, n, 1);
    if (!a1) return -1;
    int with_low = n->nin == 8 || (n->nin == 7 && a1->kind != LV_LIST && a1->kind != LV_TUPLE);
    int gen = n->nin == 8 || (n->nin == 7 && !with_low);
    int size_at = with_low ? 2 : 1;
    int64_t lo = 0, hi;
    ir_dtype dt;
    if ((with_low && lower_int_in(cx, n, 0, &lo)) || lower_int_in(cx, n, with_low ? 1 : 0, &hi) ||
        (gen && no_generator(cx, n, size_at + 1)) || dtype_in(cx, n, size_at + 1 + gen, IR_INT32, &dt))
        return -1;
    return lower_out_tensor(cx, n, 0, randint_values(cx, size_in(cx, n, size_at), lo, hi, dt));
}

/* randint_like(self, high, dtype, ...) / randint_like(self, low, high, dtype, ...); the result has
 * self's dtype unless given. */
int lower_randint_like(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    lv *a2 = lower_in(cx, n, 2);
    if (!a2) return -1;
    int with_low = n->nin >= 8 && a2->kind == LV_INT && !a2->dyn;
    int64_t lo = 0, hi;
    ir_dtype dt;
    lv *h = lower_in(cx, n, with_low ? 2 : 1);
    if (h && (h->kind == LV_TENSOR || h->dyn)) return lower_fail(cx, "randint_like with a bound known only at run time");
    if ((with_low && lower_int_in(cx, n, 1, &lo)) || lower_int_in(cx, n, with_low ? 2 : 1, &hi) ||
        dtype_in(cx, n, with_low ? 3 : 2, x->type.dtype, &dt))
        return -1;
    return lower_out_tensor(cx, n, 0, randint_values(cx, shape_of(cx, x), lo, hi, dt));
}

/* multinomial(self, num_samples, replacement, generator): int32 category indices. */
int lower_multinomial(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    int64_t k;
    int repl;
    if (!x || lower_int_in(cx, n, 1, &k) || lower_bool_in(cx, n, 2, &repl) || no_generator(cx, n, 3)) return -1;
    if (x->type.rank != 1 && x->type.rank != 2) return lower_fail(cx, "multinomial of a rank-%d tensor (1 or 2)", x->type.rank);
    if (!ir_dtype_is_float(x->type.dtype)) return lower_fail(cx, "multinomial of %s weights", ir_dtype_name(x->type.dtype));
    int64_t K = x->type.dims[x->type.rank - 1];
    if (k < 1) return lower_fail(cx, "num_samples must be >= 1");
    if (!repl && !IR_IS_SYM(K) && k > K) return lower_fail(cx, "%lld samples without replacement from %lld categories",
                                                            (long long)k, (long long)K);
    if (repl || k == 1) {
        ir_op *op = lb_op(cx, IR_OP_RANDOM_CATEGORICAL, "categorical");
        if (!op || ir_op_set_input(op, "x", x) || lb_param_str(cx, op, "mode", "probs") ||
            lb_param_i32(cx, op, "size", (int32_t)k) || lb_param_i32(cx, op, "seed", -1))
            return -1;
        return lower_out_tensor(cx, n, 0, lb_cast(cx, lb_finish(cx, op), IR_INT32, "indices"));
    }
    /* without replacement: the k largest of x / E with E ~ Exp(1) = -log(U) */
    ir_value *u = draw(cx, IR_OP_RANDOM_UNIFORM, shape_of(cx, x), "low", 0, "high", 1);
    ir_value *e = lb_scalar_op(cx, IR_OP_MUL, lb_unary(cx, IR_OP_LOG, to_dtype(cx, u, x->type.dtype), "log"), -1);
    ir_value *key = lb_binary(cx, IR_OP_REAL_DIV, x, e, "key");
    ir_op *op = lb_op(cx, IR_OP_TOPK, "topk");
    if (!op || ir_op_set_input(op, "x", key) || lb_param_i32(cx, op, "k", (int32_t)k) ||
        lb_param_i32(cx, op, "axis", -1) || lb_param_bool(cx, op, "ascending", 0) || !lb_finish(cx, op))
        return -1;
    return lower_out_tensor(cx, n, 0, op->out[1]);
}

/* 1 where a uniform draw of x's shape is below p (any tensor broadcasting to x), in x's dtype. */
static ir_value *below(lower_ctx *cx, ir_value *x, ir_value *p) {
    ir_value *u = draw(cx, IR_OP_RANDOM_UNIFORM, shape_of(cx, x), "low", 0, "high", 1);
    if (!u) return NULL; /* its dtype is p's */
    ir_value *pf = to_dtype(cx, p, u->type.dtype);
    ir_value *m = lb_binary(cx, IR_OP_LESS, u, pf, "hit");
    return to_dtype(cx, m, x->type.dtype);
}

/* bernoulli(self, generator), bernoulli(self, p: float, generator), bernoulli_(self, p, generator) */
int lower_bernoulli(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    if (!x || no_generator(cx, n, n->nin - 1)) return -1;
    if (!ir_dtype_is_float(x->type.dtype)) return lower_fail(cx, "bernoulli of a %s tensor", ir_dtype_name(x->type.dtype));
    if (n->nin == 2) return lower_out_tensor(cx, n, 0, below(cx, x, x)); /* x holds the probabilities */
    lv *p = lower_in(cx, n, 1);
    if (!p) return -1;
    if ((p->kind == LV_FLOAT || p->kind == LV_INT) && !p->dyn) {
        double pr = p->kind == LV_FLOAT ? p->f : (double)p->i;
        if (!(pr >= 0 && pr <= 1)) return lower_fail(cx, "bernoulli probability %g is outside [0, 1]", pr);
        ir_value *y = draw(cx, IR_OP_RANDOM_BERNOULLI, shape_of(cx, x), "prob", pr, NULL, 0);
        return lower_out_tensor(cx, n, 0, to_dtype(cx, y, x->type.dtype));
    }
    ir_value *pt = lb_as_tensor(cx, p, IR_FP32);
    return pt ? lower_out_tensor(cx, n, 0, below(cx, x, pt)) : -1;
}

/* normal(mean, std, generator) with tensor / number operands; normal(mean, std, size, generator, dtype,
 * layout, device, pin_memory); normal_(self, mean, std, generator). */
int lower_normal(lower_ctx *cx, const ts_node *n) {
    if (cx->row->sub == 1) { /* normal_ */
        ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
        double m, s;
        if (!x || lower_float_in(cx, n, 1, &m) || lower_float_in(cx, n, 2, &s) || no_generator(cx, n, 3) ||
            float_only(cx, x->type.dtype))
            return -1;
        if (!(s >= 0)) return lower_fail(cx, "normal_ with std %g < 0", s);
        ir_value *y = draw(cx, IR_OP_RANDOM_NORMAL, shape_of(cx, x), "mean", m, "stddev", s);
        return lower_out_tensor(cx, n, 0, to_dtype(cx, y, x->type.dtype));
    }
    if (n->nin == 8) {
        double m, s;
        ir_dtype dt;
        if (lower_float_in(cx, n, 0, &m) || lower_float_in(cx, n, 1, &s) || no_generator(cx, n, 3) ||
            dtype_in(cx, n, 4, IR_FP32, &dt) || float_only(cx, dt))
            return -1;
        if (!(s >= 0)) return lower_fail(cx, "normal with std %g < 0", s);
        ir_value *y = draw(cx, IR_OP_RANDOM_NORMAL, size_in(cx, n, 2), "mean", m, "stddev", s);
        return lower_out_tensor(cx, n, 0, to_dtype(cx, y, dt));
    }
    if (n->nin != 3) return lower_fail(cx, "this overload of normal (%d inputs) is not supported", n->nin);
    lv *lm = lower_in(cx, n, 0), *ls = lower_in(cx, n, 1);
    if (!ls || no_generator(cx, n, 2)) return -1;
    ir_value *m = lb_as_tensor(cx, lm, IR_FP32), *s = lb_as_tensor(cx, ls, IR_FP32);
    if (!s) return -1;
    ir_dtype dt = lm->kind == LV_TENSOR ? m->type.dtype : s->type.dtype;
    if (float_only(cx, dt)) return -1;
    m = to_dtype(cx, m, dt);
    s = to_dtype(cx, s, dt);
    /* the shape of the broadcast of mean and std (a number is rank 0) */
    ir_value *ref = lm->kind != LV_TENSOR ? s : ls->kind != LV_TENSOR ? m : lb_binary(cx, IR_OP_ADD, m, s, "ref");
    ir_value *z = to_dtype(cx, draw(cx, IR_OP_RANDOM_NORMAL, shape_of(cx, ref), "mean", 0, "stddev", 1), dt);
    ir_value *sz = lb_binary(cx, IR_OP_MUL, s, z, "scaled");
    return lower_out_tensor(cx, n, 0, lb_binary(cx, IR_OP_ADD, m, sz, NULL));
}

/* uniform_(self, from, to, generator) */
int lower_uniform_(lower_ctx *cx, const ts_node *n) {
    ir_value *x = lower_tensor_in(cx, n, 0, IR_DT_INVALID);
    double lo, hi;
    if (!x || lower_float_in(cx, n, 1, &lo) || lower_float_in(cx, n, 2, &hi) || no_generator(cx, n, 3) ||
        float_only(cx, x->type.dtype))
        return -1;
    if (!(hi >= lo)) return lower_fail(cx, "uniform_ needs from <= to (got %g, %g)", lo, hi);
    ir_value *y = draw(cx, IR_OP_RANDOM_UNIFORM, shape_of(cx, x), "low", lo, "high", hi);
    return lower_out_tensor(cx, n, 0, to_dtype(cx, y, x->type.dtype));
}
