/* driver.h: the conversion pipeline in plain C, the sequence of stages that
 * convert() runs: read the TorchScript graph (torchscript/) or the torch.export program
 * (export/), lower it to MIL
 * (lower/), run the graph passes (passes/), add the classifier. The binding
 * (python/module.c) only parses arguments into drv_opts and turns a failure into
 * a Python exception.
 */
#ifndef DRIVER_H
#define DRIVER_H

#include "common/pc.h"
#include "ir/ir.h"
#include "lower/lower.h"
#include "passes/passes.h"

struct ex_oprow;

typedef struct drv_opts {
    lower_opts lower;                     /* inputs, states, outputs, opset, debug, external converters */
    pass_opts passes;                     /* precision */
    const lower_classifier *classifier;   /* NULL: not a classifier */
    int next_symbol;                      /* symbolic dim ids the input shapes used so far */
    /* Called once lowering has ended (whether or not it succeeded), before the passes
     * run: the binding ends its converter session here. Nonzero stops the pipeline
     * (e left as it is: a caller-side error such as debug text that could not be
     * written). NULL: none. */
    int (*lowered)(void *ud);
    void *lowered_ud;
    const struct ex_oprow *ops;           /* torch.export: custom ops' schema rows (export.h), nops of them */
    int nops;
    /* A pager of the weights' memory (ir_program_add_pager), registered on the program before the passes run,
     * so that a pass reading every weight (fp16's overflow check) gives its pages back. NULL: none. */
    void *pager;
    void (*pages_done)(void *obj, const void *data, size_t n);
} drv_opts;

/* Convert `graph` (a torch._C.Graph of a frozen, inlined module, see ts.h) into a
 * new program: ts_read -> lower_graph -> pass_pipeline -> lower_add_classifier.
 * On failure returns -1 with e set (or e untouched when o->lowered stopped it). */
int drv_convert(void *graph, const drv_opts *o, ir_program **out, pc_err *e);

/* The same pipeline for a torch.export program: ex_read (export/export.h: the serialized
 * ExportedProgram json[0..len), its weights resolved through w) -> lower_graph -> ... */
struct ex_weights;
int drv_convert_export(const char *json, size_t len, const struct ex_weights *w, const drv_opts *o, ir_program **out,
                       pc_err *e);

/* The same for a .pt2 archive (torch.export.save) at `path`: its program and weights read by
 * export/archive.h, the weights in place in the archive's mapping. The program holds the archive
 * and has it as a pager, so that writing the package gives each weight's pages back. */
int drv_convert_pt2(const char *path, const drv_opts *o, ir_program **out, pc_err *e);

/* Apply the graph pass called `name` to every function of p, then check p
 * (text-in / text-out tests run passes one at a time this way). */
int drv_run_pass(ir_program *p, const char *name, pc_err *e);

#endif
