/* fuzz_export: a serialized ExportedProgram (the JSON torch._export.serde writes, a .pt2's
 * models/<name>.json) read by ex_read with zero-filled weights of the sizes the document gives its
 * lifted tensors; a program it accepts is lowered (inputs as its user inputs say, symbolic dims 1),
 * run through the pass pipeline and once on zero inputs. */
#include <stdlib.h>
#include <string.h>

#include "export/ex_int.h"
#include "fuzz_common.h"
#include "lower/lower.h"
#include "passes/passes.h"
#include "runtime/rt.h"

#define MAX_WEIGHT_BYTES (8 << 20)

static unsigned char *zeros; /* every weight's data: zeros */

/* The weights the document's signature lifts, by fully-qualified name: its tensor_values sizes and dtype. */
typedef struct {
    const pc_json *specs, *tvals;
} doc_weights;

static const pc_json *member(const pc_json *j, const char *k) { return pc_json_get(j, k); }

static int weights_get(void *ud, const char *fqn, ex_wkind kind, ts_graph *g, ts_tensor *t, pc_err *e) {
    const doc_weights *d = ud;
    static const char *const names[] = {"parameter_name", "buffer_name", "tensor_constant_name"};
    for (int i = 0; d->specs && i < d->specs->n; i++) {
        const pc_json *s = d->specs->items[i];
        if (s->kind != PC_JS_OBJ || s->n != 1) continue;
        const pc_json *v = s->items[0], *nm = member(v, names[kind]), *arg = member(v, "arg");
        const pc_json *an = arg ? member(arg, "name") : NULL;
        if (!nm || nm->kind != PC_JS_STR || strcmp(nm->str, fqn) != 0 || !an || an->kind != PC_JS_STR) continue;
        const pc_json *meta = member(d->tvals, an->str), *sizes = meta ? member(meta, "sizes") : NULL;
        const pc_json *dt = meta ? member(meta, "dtype") : NULL;
        if (!sizes || sizes->kind != PC_JS_ARR || sizes->n > 8 || !dt || dt->kind != PC_JS_NUM || !dt->is_int) return 1;
        int code = ex_dtype_code(dt->i);
        size_t item = code == TS_DOUBLE || code == TS_INT64 ? 8 : code == TS_FLOAT || code == TS_INT32 ? 4
                    : code == TS_HALF || code == TS_INT16 ? 2 : code < 0 ? 0 : 1;
        if (!item || code == TS_BFLOAT16 || code >= TS_COMPLEX_HALF && code <= TS_COMPLEX_DOUBLE) return 1;
        t->dtype = (ts_scalar_type)code;
        t->rank = sizes->n;
        t->numel = 1;
        for (int k = 0; k < sizes->n; k++) {
            const pc_json *x = sizes->items[k], *iv = x->kind == PC_JS_OBJ ? member(x, "as_int") : NULL;
            if (!iv || iv->kind != PC_JS_NUM || !iv->is_int || iv->i < 0 || iv->i > MAX_WEIGHT_BYTES) return 1;
            t->dims[k] = iv->i;
            t->numel *= iv->i;
            if (t->numel * (int64_t)item > MAX_WEIGHT_BYTES) return 1;
        }
        t->data = zeros;
        (void)g;
        (void)e;
        return 0;
    }
    return 1;
}

typedef struct {
    lower_input in[16];
    int n;
} user_inputs;

static void add_input(void *ud, const char *name, int dtype, int rank, const int64_t *dims) {
    user_inputs *u = ud;
    if (u->n >= 16 || rank > IR_MAX_RANK) {
        u->n = 17; /* too many: skip the program */
        return;
    }
    int64_t d[IR_MAX_RANK];
    for (int i = 0; i < rank; i++) d[i] = dims[i] < 0 ? 1 : dims[i] > 4096 ? 4096 : dims[i];
    ir_dtype t = dtype == TS_BOOL ? IR_BOOL : dtype >= TS_UINT8 && dtype <= TS_INT64 ? IR_INT32 : IR_FP32;
    lower_input *li = &u->in[u->n++];
    memset(li, 0, sizeof *li);
    li->type = ir_tensor_type(t, rank, d);
    (void)name;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    fz_init((*argv)[0]);
    rt_set_num_threads(1);
    zeros = calloc(1, MAX_WEIGHT_BYTES);
    return zeros ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    pc_arena *a = pc_arena_new();
    pc_json *root = NULL;
    pc_err e = {0};
    if (!a) return 0;
    doc_weights d = {0};
    if (pc_json_parse((const char *)data, size, "fuzz input", a, &root, &e) == 0) {
        const pc_json *gm = member(root, "graph_module");
        const pc_json *sig = member(gm, "signature"), *graph = member(gm, "graph");
        d.specs = member(sig, "input_specs");
        d.tvals = member(graph, "tensor_values");
        if (d.specs && d.specs->kind != PC_JS_ARR) d.specs = NULL;
    }
    ex_weights w = {.ud = &d, .get = weights_get};
    ts_graph *g = NULL;
    user_inputs u = {.n = 0};
    /* the custom op make_seeds.py's "mutating" program calls (as exported and through auto_functionalized_v2),
       so that its mutated forms reach export/mutation.c */
    static const ex_oprow rows[] = {{"pt2coreml_seed::scale_into.default", "x:T out:T! k:f=2.0", "T"}};
    ex_opts xo = {.ops = rows, .nops = 1};
    if (ex_read((const char *)data, size, &w, &xo, &g, &e) == 0 &&
        ex_user_inputs((const char *)data, size, add_input, &u, &e) == 0 &&
        u.n <= 16) {
        lower_opts lo = {.ninputs = u.n, .inputs = u.in, .opset = "CoreML7"};
        ir_program *p = NULL;
        if (lower_graph(g, &lo, &p, &e) == 0) {
            pass_opts po = {.precision = PASS_FP16};
            if (pass_pipeline(p, &po, &e) == 0) fz_run_zero(p);
            ir_program_free(p);
        }
    }
    ts_graph_free(g);
    pc_arena_free(a);
    return 0;
}
