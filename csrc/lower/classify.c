/* classify.c: lower_add_classifier (see lower.h), the classifier ending of a
 * program: `classify(probabilities, classes)` with the labels as a const list. */
#include "lower/lower.h"

#include <string.h>

typedef struct {
    const char *name;
    ir_value *found;
} find_ctx;

static int find_in_op(ir_op *op, void *vctx) {
    find_ctx *f = vctx;
    for (int i = 0; i < op->nout && !f->found; i++)
        if (strcmp(op->out[i]->name, f->name) == 0) f->found = op->out[i];
    return 0;
}

/* The value of fn named `name` (an input or an op output), or NULL. */
static ir_value *find_value(ir_function *fn, const char *name) {
    for (int i = 0; i < fn->nin; i++)
        if (strcmp(fn->in[i]->name, name) == 0) return fn->in[i];
    find_ctx f = {name, NULL};
    ir_walk(fn, find_in_op, &f);
    return f.found;
}

/* `base` if no value of fn has that name, else "base_N" for the first free N. */
static const char *free_name(ir_function *fn, const char *base) {
    if (!find_value(fn, base)) return base;
    for (int i = 1;; i++) {
        const char *s = pc_sprintf(fn->prog->arena, "%s_%d", base, i);
        if (!s || !find_value(fn, s)) return s;
    }
}

/* Name the new output `name`: an input of that name is an error; another value
 * holding it is renamed out of the way. */
static int claim_name(ir_function *fn, ir_value *v, const char *name, pc_err *e) {
    ir_value *other = find_value(fn, name);
    if (other && other != v) {
        if (!other->def)
            return pc_fail(e, PC_E_VALUE, "classifier output name '%s' is already the name of a model input", name);
        const char *fresh = free_name(fn, pc_sprintf(fn->prog->arena, "%s_renamed", name));
        if (!fresh) return pc_fail(e, PC_E_NOMEM, "classifier: out of memory");
        other->name = fresh;
    }
    v->name = pc_strdup(fn->prog->arena, name);
    return v->name ? 0 : pc_fail(e, PC_E_NOMEM, "classifier: out of memory");
}

static ir_value *probabilities(ir_function *fn, const lower_classifier *c, pc_err *e) {
    if (c->probabilities_output) {
        ir_value *v = find_value(fn, c->probabilities_output);
        if (!v) pc_fail(e, PC_E_VALUE, "ClassifierConfig: predicted_probabilities_output '%s' is not a value of the program",
                        c->probabilities_output);
        return v;
    }
    for (ir_op *op = fn->body->last; op; op = op->prev)
        if (op->kind != IR_OP_CONST && op->nout == 1) return op->out[0];
    pc_fail(e, PC_E_VALUE, "ClassifierConfig: the program has no op whose output could be the probabilities");
    return NULL;
}

int lower_add_classifier(ir_program *p, const lower_classifier *c, pc_err *e) {
    ir_function *fn = ir_program_main(p);
    if (!fn) return pc_fail(e, PC_E_VALUE, "classifier: the program has no main function");
    if (c->nlabels <= 0) return pc_fail(e, PC_E_VALUE, "ClassifierConfig needs at least one class label");
    ir_block *b = fn->body;
    ir_value *prob = probabilities(fn, c, e);
    if (!prob) return -1;
    char tb[128];
    if (prob->type.kind != IR_TK_TENSOR || !ir_dtype_is_float(prob->type.dtype))
        return pc_fail(e, PC_E_VALUE, "classifier: the probabilities '%s' must be a float tensor, not %s", prob->name,
                       ir_type_str(&prob->type, tb, sizeof tb));
    int64_t n = ir_type_numel(&prob->type);
    if (n >= 0 && n != c->nlabels)
        return pc_fail(e, PC_E_VALUE, "classifier: %d class labels but the probabilities '%s' (%s) have %lld elements",
                       c->nlabels, prob->name, ir_type_str(&prob->type, tb, sizeof tb), (long long)n);
    ir_value *x = prob;
    if (prob->type.dtype != IR_FP32) { /* classify reads fp32 */
        const char *dn = "fp32";
        const char *cn = free_name(fn, pc_sprintf(p->arena, "%s_cast_to_fp32", prob->name));
        const char *dtn = cn ? free_name(fn, pc_sprintf(p->arena, "%s_dtype", cn)) : NULL;
        ir_value *dt = dtn ? ir_const_new(p, b, dtn, ir_scalar_type(IR_STRING), IR_STRING, &dn, 1) : NULL;
        ir_op *cast = dt ? ir_op_new(p, b, IR_OP_CAST, cn) : NULL;
        if (!cast || ir_op_set_input(cast, "x", prob) || ir_op_set_input(cast, "dtype", dt) || ir_infer(p, cast, e))
            return e->kind ? -1 : pc_fail(e, PC_E_NOMEM, "classifier: out of memory");
        x = cast->out[0];
    }
    int64_t nl = c->nlabels;
    ir_dtype kd = c->labels_are_int ? IR_INT64 : IR_STRING;
    const void *data = c->labels_are_int ? (const void *)c->int_labels : (const void *)c->string_labels;
    const char *kn = free_name(fn, "classify_classes");
    ir_value *classes = kn ? ir_const_new(p, b, kn, ir_tensor_type(kd, 1, &nl), kd, data, 1) : NULL;
    const char *on = classes ? free_name(fn, "classify") : NULL;
    ir_op *op = on ? ir_op_new(p, b, IR_OP_CLASSIFY, on) : NULL;
    if (!op || ir_op_set_input(op, "probabilities", x) || ir_op_set_input(op, "classes", classes))
        return pc_fail(e, PC_E_NOMEM, "classifier: out of memory");
    if (ir_infer(p, op, e)) return -1;
    const char *label = c->predicted_feature_name && *c->predicted_feature_name ? c->predicted_feature_name : "classLabel";
    const char *probs = pc_sprintf(p->arena, "%s_probs", label);
    if (!probs || claim_name(fn, op->out[0], label, e) || claim_name(fn, op->out[1], probs, e)) return -1;
    /* outputs: label, probabilities, then the others minus the probabilities tensor */
    ir_value **outs = pc_alloc(p->arena, sizeof(*outs) * (size_t)(b->nout + 2));
    if (!outs) return pc_fail(e, PC_E_NOMEM, "classifier: out of memory");
    int k = 0;
    outs[k++] = op->out[0];
    outs[k++] = op->out[1];
    int removed = 0;
    for (int i = 0; i < b->nout; i++) {
        if (b->out[i] == prob && !removed) {
            removed = 1;
            continue;
        }
        outs[k++] = b->out[i];
    }
    return ir_block_set_outputs(b, k, outs) ? pc_fail(e, PC_E_NOMEM, "classifier: out of memory") : 0;
}
