/* graph.c: what every reader of the ts_graph contract shares, without Python (see ts.h): a graph's holds
 * (what its tensor data lives in), freeing it, node attributes and buffer dtypes. The TorchScript reader (read.c) and the
 * torch.export reader (export/) both make graphs these functions free. */
#include "torchscript/ts.h"
#include "ir/ir.h"

#include <stdlib.h>
#include <string.h>

typedef struct ts_hold {
    struct ts_hold *next;
    void *obj;
    void (*release)(void *obj);
} ts_hold;

int ts_buffer_dtype(const char *fmt, size_t itemsize, ts_scalar_type *out) {
    while (*fmt == '@' || *fmt == '=' || *fmt == '<' || *fmt == '|') fmt++;
    if (fmt[0] == 0 || fmt[1] != 0) return -1;
    switch (fmt[0]) {
    case 'f': *out = TS_FLOAT; return itemsize == 4 ? 0 : -1;
    case 'd': *out = TS_DOUBLE; return itemsize == 8 ? 0 : -1;
    case 'e': *out = TS_HALF; return itemsize == 2 ? 0 : -1;
    case '?': *out = TS_BOOL; return itemsize == 1 ? 0 : -1;
    case 'b': *out = TS_INT8; return 0;
    case 'B': *out = TS_UINT8; return 0;
    case 'h': *out = TS_INT16; return itemsize == 2 ? 0 : -1;
    case 'i': *out = TS_INT32; return itemsize == 4 ? 0 : -1;
    case 'l':
    case 'q':
        if (itemsize == 8) *out = TS_INT64;
        else if (itemsize == 4) *out = TS_INT32;
        else return -1;
        return 0;
    default: return -1;
    }
}

ts_value *ts_value_new(ts_graph *g) {
    ts_value *v = pc_alloc(g->arena, sizeof *v);
    if (!v) return NULL;
    v->id = g->nvalues++;
    v->rank = -1;
    return v;
}

int ts_node_attr_int(const ts_node *n, const char *name, int64_t *out) {
    for (int i = 0; i < n->nattrs; i++)
        if (strcmp(n->attr_names[i], name) == 0) {
            *out = n->attr_ints[i];
            return 0;
        }
    return -1;
}

int ts_graph_hold(ts_graph *g, void *obj, void (*release)(void *obj)) {
    ts_hold *h = malloc(sizeof *h);
    if (!h) {
        release(obj);
        return -1;
    }
    h->obj = obj;
    h->release = release;
    h->next = g->holds;
    g->holds = h;
    return 0;
}

void ts_graph_free(ts_graph *g) {
    if (!g) return;
    for (ts_hold *h = g->holds, *next; h; h = next) {
        next = h->next;
        h->release(h->obj);
        free(h);
    }
    pc_arena_free(g->arena);
}

int ts_transfer_holds(ts_graph *g, struct ir_program *p) {
    while (g->holds) {
        ts_hold *h = g->holds;
        if (ir_program_hold(p, h->obj, h->release)) return -1;
        g->holds = h->next;
        free(h);
    }
    return 0;
}
