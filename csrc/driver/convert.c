/* convert.c: drv_convert, the conversion pipeline as a list of calls (see
 * driver.h), and drv_run_pass, one pass by name. */
#include "driver/driver.h"
#include "export/export.h"
#include "torchscript/ts.h"

#include <string.h>

/* What both frontends share once their reader has made g (which it frees). */
static int convert_graph(ts_graph *g, const drv_opts *o, ir_program **out, pc_err *e) {
    ir_program *p = NULL;
    int rc = -1;
    int lr = lower_graph(g, &o->lower, &p, e);
    int stop = o->lowered ? o->lowered(o->lowered_ud) : 0;
    if (lr || stop) goto done;
    p->next_symbol = PC_MAX(p->next_symbol, o->next_symbol);
    if (ts_transfer_holds(g, p)) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto done;
    }
    if (pass_pipeline(p, &o->passes, e)) goto done;
    if (o->classifier && lower_add_classifier(p, o->classifier, e)) goto done;
    *out = p;
    p = NULL;
    rc = 0;
done:
    ir_program_free(p);
    ts_graph_free(g);
    return rc;
}

int drv_convert(void *graph, const drv_opts *o, ir_program **out, pc_err *e) {
    *out = NULL;
    ts_graph *g = NULL;
    if (ts_read(graph, &g, e)) return -1;
    return convert_graph(g, o, out, e);
}

int drv_convert_export(const char *json, size_t len, const ex_weights *w, const drv_opts *o, ir_program **out,
                       pc_err *e) {
    *out = NULL;
    ts_graph *g = NULL;
    if (ex_read(json, len, w, &g, e)) return -1;
    return convert_graph(g, o, out, e);
}

int drv_run_pass(ir_program *p, const char *name, pc_err *e) {
    static const struct { const char *name; int (*fn)(ir_function *, pc_err *); } table[] = {
        {"dead_code", pass_dead_code},       {"const_fold", pass_const_fold},
        {"fuse_conv_bn", pass_fuse_conv_bn}, {"fuse_conv_bias", pass_fuse_conv_bias},
        {"fp16", pass_fp16},                 {"dedup_const", pass_dedup_const},
        {"reinfer", pass_reinfer},           {"block_outputs", pass_block_outputs},
        {"fuse_gelu_tanh", pass_fuse_gelu_tanh}, {"noop_elim", pass_noop_elim},
        {"number_names", pass_number_names},
    };
    for (int i = 0; i < PC_ARRAY_LEN(table); i++) {
        if (strcmp(table[i].name, name) != 0) continue;
        for (int f = 0; f < p->nfunc; f++)
            if (table[i].fn(p->funcs[f], e)) return -1;
        return ir_check(p, e);
    }
    return pc_fail(e, PC_E_VALUE, "no pass named '%s'", name);
}
