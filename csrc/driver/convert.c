/* convert.c: drv_convert, the conversion pipeline as a list of calls (see
 * driver.h), and drv_run_pass, one pass by name. */
#include "driver/driver.h"
#include "export/archive.h"
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
    if (ts_transfer_holds(g, p) || (o->pages_done && ir_program_add_pager(p, o->pager, o->pages_done))) {
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
    const char *buffers[64];
    int ns = o->lower.nstates;
    if (ns > PC_ARRAY_LEN(buffers)) return pc_fail(e, PC_E_VALUE, "at most %d states", PC_ARRAY_LEN(buffers));
    for (int i = 0; i < ns; i++)
        if (!(buffers[i] = o->lower.states[i].buffer))
            return pc_fail(e, PC_E_VALUE, "state '%s' names no buffer of the exported program", o->lower.states[i].name);
    ex_opts xo = {.states = buffers, .nstates = ns, .ops = o->ops, .nops = o->nops};
    if (ex_read(json, len, w, &xo, &g, e)) return -1;
    return convert_graph(g, o, out, e);
}

/* ex_weights over an archive: the archive is handed to the graph (ts_graph_hold) on the first tensor
 * read, from where it moves to the program with the graph's other holds. */
typedef struct {
    exa_archive *a;
    int held;
} pt2_weights;

static int pt2_get(void *ud, const char *fqn, ex_wkind kind, ts_graph *g, ts_tensor *t, pc_err *e) {
    pt2_weights *w = ud;
    (void)kind;
    if (!exa_has_tensor(w->a, fqn)) return 1;
    if (!w->held) {
        w->held = 1; /* also on failure: ts_graph_hold has released it then */
        if (ts_graph_hold(g, w->a, exa_release)) return pc_fail(e, PC_E_NOMEM, "out of memory");
    }
    return exa_tensor(w->a, fqn, t, NULL, e);
}

int drv_convert_pt2(const char *path, const drv_opts *o, ir_program **out, pc_err *e) {
    *out = NULL;
    exa_archive *a;
    if (exa_open(path, &a, e)) return -1;
    pt2_weights pw = {a, 0};
    ex_weights w = {.ud = &pw, .get = pt2_get};
    const char *json;
    size_t len;
    exa_program_json(a, &json, &len);
    drv_opts po = *o; /* the archive pages its weights out once they are read (passes, then the blob writer) */
    po.pager = a;
    po.pages_done = exa_pages_done;
    if (drv_convert_export(json, len, &w, &po, out, e)) {
        if (!pw.held) exa_close(a);
        return -1;
    }
    /* a program without weights never handed the archive over: the program holds it now */
    if (!pw.held && ir_program_hold(*out, a, exa_release)) {
        exa_close(a);
        ir_program_free(*out);
        *out = NULL;
        return pc_fail(e, PC_E_NOMEM, "out of memory");
    }
    return 0;
}

int drv_run_pass(ir_program *p, const char *name, pc_err *e) {
    static const struct { const char *name; int (*fn)(ir_function *, pc_err *); } table[] = {
        {"dead_code", pass_dead_code},       {"const_fold", pass_const_fold},
        {"fuse_conv_bn", pass_fuse_conv_bn}, {"fuse_conv_bias", pass_fuse_conv_bias},
        {"fp16", pass_fp16},                 {"dedup_const", pass_dedup_const},
        {"reinfer", pass_reinfer},           {"block_outputs", pass_block_outputs},
        {"fuse_gelu_tanh", pass_fuse_gelu_tanh}, {"noop_elim", pass_noop_elim},
        {"number_names", pass_number_names}, {"fp32_compute", pass_fp32_compute},
    };
    for (int i = 0; i < PC_ARRAY_LEN(table); i++) {
        if (strcmp(table[i].name, name) != 0) continue;
        for (int f = 0; f < p->nfunc; f++)
            if (table[i].fn(p->funcs[f], e)) return -1;
        return ir_check(p, e);
    }
    return pc_fail(e, PC_E_VALUE, "no pass named '%s'", name);
}
