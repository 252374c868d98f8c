/* classify.c: the classify op, the end of a classifier ML Program.
 *
 * Output 0 is the label of the most probable class (the first on ties): a rank-0
 * string tensor whose one element points at the label inside the program's
 * classes constant (valid while the program lives), or a rank-0 int64 tensor.
 * Output 1, the probabilities dictionary, is carried as fp64 [N] in class order;
 * its keys are the op's `classes` (the binding pairs them into a dict).
 */
#include "runtime/rt_internal.h"

int rt_k_CLASSIFY(rt_ctx *c) {
    const rt_tensor *p = rt_in_req(c, "probabilities"), *k = p ? rt_in_req(c, "classes") : NULL;
    if (!k) return -1;
    if (k->rank != 1 || (k->dtype != IR_STRING && k->dtype != IR_INT64))
        return rt_fail(c, "classes must be a list of string or int64 labels, got a %s tensor of rank %d",
                       ir_dtype_name(k->dtype), k->rank);
    int64_t n = k->dims[0];
    if (rt_numel(p) != n)
        return rt_fail(c, "%lld probabilities for %lld classes", (long long)rt_numel(p), (long long)n);
    if (n == 0) return rt_fail(c, "no classes");
    if (c->op->nout != 2) return rt_fail(c, "classify has 2 outputs, this op declares %d", c->op->nout);
    const float *f = rt_f32(c, p);
    if (!f) return -1;
    int64_t best = 0;
    for (int64_t i = 1; i < n; i++)
        if (f[i] > f[best]) best = i;
    rt_tensor *label = &c->outs[0], *probs = &c->outs[1];
    label->data = malloc(8);
    probs->data = malloc((size_t)n * sizeof(double));
    if (!label->data || !probs->data) {
        free(label->data);
        free(probs->data);
        label->data = probs->data = NULL;
        return rt_fail_nomem(c, "classifier outputs");
    }
    label->owned = probs->owned = 1;
    label->rank = 0;
    label->dtype = k->dtype;
    if (k->dtype == IR_STRING) ((const char **)label->data)[0] = ((const char *const *)k->data)[best];
    else ((int64_t *)label->data)[0] = ((const int64_t *)k->data)[best];
    probs->dtype = IR_FP64;
    probs->rank = 1;
    probs->dims[0] = n;
    for (int64_t i = 0; i < n; i++) ((double *)probs->data)[i] = f[i];
    return 0;
}
