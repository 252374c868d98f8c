/* lower.c: the lowering driver (see lower.h).
 *
 * 1. Every node kind (nested blocks too) is checked against the registry and the
 *    external converter; all missing kinds are reported at once.
 * 2. Graph inputs after `self` become function inputs typed from lower_opts;
 *    image inputs get their scale / bias ops right after them.
 * 3. Nodes are lowered in order; each maps its outputs to lowered values (lv).
 * 4. Graph outputs (tuples flattened) become the function's outputs; an identity
 *    is inserted where an output would otherwise be a function input, a const or
 *    a value already returned.
 */
#include "lower/build.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- registry ---- */
static const lower_row registry[] = {
#define LOWER_OP(KIND, FN, ...) {.kind = KIND, .fn = FN, .note = __VA_ARGS__},
#include "lower/registry.def"
#undef LOWER_OP
};

/* torch's in-place spelling: "op_" (not a dunder such as "__and__"). */
static int inplace_spelling(const char *op, size_t len) { return len > 2 && op[len - 1] == '_' && op[len - 2] != '_'; }

/* The row of exactly "ns::op", by binary search (the rows are sorted by kind, tests/test_lower_registry.py). */
static int row_cmp(const void *kind, const void *row) { return strcmp(kind, ((const lower_row *)row)->kind); }

static const lower_row *row_exact(const char *kind) {
    return bsearch(kind, registry, PC_ARRAY_LEN(registry), sizeof registry[0], row_cmp);
}

/* A name as TorchScript ("ns::op"), torch.export ("ns.op.overload", "ns::op.overload") or torch.ops
 * ("torch.ops.ns.op.overload") spell it: a row of the overload when there is one, else the op's; the
 * in-place "op_" finds the row of op when the row allows it (LR_INPLACE). */
const lower_row *lower_row_find(const char *name) {
    char buf[160], *op;
    if (strncmp(name, "torch.ops.", 10) == 0) name += 10;
    const char *sep = strstr(name, "::");
    size_t nslen = sep ? (size_t)(sep - name) : strcspn(name, ".");
    if (!name[nslen] || nslen + 2 + strlen(name + nslen) >= sizeof buf) return NULL;
    memcpy(buf, name, nslen);
    memcpy(buf + nslen, "::", 2);
    op = buf + nslen + 2;
    strcpy(op, name + nslen + (sep ? 2 : 1));
    const lower_row *r = row_exact(buf);
    if (r) return r;
    char *dot = strchr(op, '.'); /* the overload */
    if (dot) {
        *dot = 0;
        if ((r = row_exact(buf))) return r;
    }
    size_t len = strlen(op);
    if (!inplace_spelling(op, len)) return NULL;
    op[len - 1] = 0;
    r = row_exact(buf);
    return r && (r->flags & LR_INPLACE) ? r : NULL;
}

lower_fn lower_find(const char *kind) {
    const lower_row *r = lower_row_find(kind);
    return r ? r->fn : NULL;
}

void lower_list_ops(void (*f)(const char *kind, const char *note, void *ud), void *ud) {
    char buf[160];
    for (int i = 0; i < PC_ARRAY_LEN(registry); i++) {
        const lower_row *r = &registry[i];
        f(r->kind, r->note, ud);
        if (r->flags & LR_INPLACE) {
            snprintf(buf, sizeof buf, "%s_", r->kind);
            f(buf, r->inplace_note ? r->inplace_note : r->note, ud);
        }
    }
}

int lower_row_count(void) { return PC_ARRAY_LEN(registry); }

const char *lower_row_kind(int i) { return i >= 0 && i < PC_ARRAY_LEN(registry) ? registry[i].kind : NULL; }

int lower_row_lookup(const char *name) {
    const lower_row *r = lower_row_find(name);
    return r ? (int)(r - registry) : -1;
}

/* ---- unique names (open addressing, arena storage) ---- */
struct lower_names {
    const char **key;
    ir_value **val;
    int *next; /* per taken name: the first "_<i>" suffix lower_name has not tried for it yet */
    int cap, n;
};

static uint64_t str_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int names_slot(const lower_names *t, const char *s) {
    int m = t->cap - 1, h = (int)(str_hash(s) & (uint64_t)m);
    while (t->key[h] && strcmp(t->key[h], s) != 0) h = (h + 1) & m;
    return h;
}

int lower_names_has(lower_ctx *cx, const char *name) {
    lower_names *t = cx->names;
    return t->key[names_slot(t, name)] != NULL;
}

int lower_names_add(lower_ctx *cx, const char *name, ir_value *v) {
    lower_names *t = cx->names;
    if ((t->n + 1) * 2 > t->cap) {
        lower_names nt = {.cap = t->cap * 2};
        nt.key = pc_alloc(cx->p->arena, sizeof(*nt.key) * (size_t)nt.cap);
        nt.val = pc_alloc(cx->p->arena, sizeof(*nt.val) * (size_t)nt.cap);
        nt.next = pc_alloc(cx->p->arena, sizeof(*nt.next) * (size_t)nt.cap);
        if (!nt.key || !nt.val || !nt.next) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int i = 0; i < t->cap; i++)
            if (t->key[i]) {
                int h = names_slot(&nt, t->key[i]);
                nt.key[h] = t->key[i];
                nt.val[h] = t->val[i];
                nt.next[h] = t->next[i];
            }
        nt.n = t->n;
        *t = nt;
    }
    int h = names_slot(t, name);
    if (!t->key[h]) t->n++;
    t->key[h] = name;
    if (v || !t->val[h]) t->val[h] = v;
    return 0;
}

static ir_value *names_value(lower_ctx *cx, const char *name) {
    lower_names *t = cx->names;
    int h = names_slot(t, name);
    return t->key[h] ? t->val[h] : NULL;
}

/* A MIL-safe identifier from a TorchScript debug name ("input.1" -> "input_1"). */
static char *sanitize(pc_arena *a, const char *s) {
    size_t n = strlen(s);
    char *o = pc_alloc(a, n + 5);
    if (!o) return NULL;
    size_t k = 0;
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) {
        memcpy(o, "var_", 4);
        k = 4;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        o[k++] = ok ? c : '_';
    }
    o[k] = 0;
    return o;
}

char *lower_sanitize(pc_arena *a, const char *s) { return sanitize(a, s); }

const char *lower_name(lower_ctx *cx, const char *suffix) {
    const char *base = cx->base ? cx->base : "var";
    char *s = suffix ? pc_sprintf(cx->p->arena, "%s_%s", base, suffix) : pc_strdup(cx->p->arena, base);
    if (!s) return NULL;
    lower_names *nt = cx->names;
    int h = names_slot(nt, s);
    if (nt->key[h]) {
        /* the search for a free "_<i>" resumes where the last one for this name stopped: an unrolled
           loop asks for the same name thousands of times, and starting at 1 each time is quadratic */
        char *t = NULL;
        int i = nt->next[h] > 0 ? nt->next[h] : 1;
        for (;; i++) {
            t = pc_sprintf(cx->p->arena, "%s_%d", s, i);
            if (!t || !lower_names_has(cx, t)) break;
        }
        nt->next[h] = i + 1;
        s = t;
    }
    if (!s || lower_names_add(cx, s, NULL)) return NULL;
    return s;
}

int lower_fail(lower_ctx *cx, const char *fmt, ...) {
    char buf[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const ts_node *n = cx->node;
    if (!n) return pc_fail(cx->e, PC_E_CONVERT, "%s", buf);
    return pc_fail(cx->e, PC_E_CONVERT, "%s (output %%%s)%s%s%s%s: %s", n->kind, n->nout ? n->out[0]->name : "?",
                   n->loc ? " at " : "", n->loc ? n->loc : "", n->src ? ": " : "", n->src ? n->src : "", buf);
}

/* ---- checking kinds ---- */
typedef struct {
    const char *kind;
    int count;
    const ts_node *first;
} missing;

static int collect_missing(const lower_opts *o, const ts_block *b, missing *m, int *nm, int cap) {
    for (int i = 0; i < b->nnodes; i++) {
        const ts_node *n = b->nodes[i];
        int ext = o->external && o->external_has && o->external_has(o->external_ud, n->kind);
        if (!ext && !lower_find(n->kind)) {
            int k = 0;
            while (k < *nm && m[k].kind != n->kind) k++;
            if (k == *nm && *nm < cap) m[(*nm)++] = (missing){n->kind, 0, n};
            if (k < *nm) m[k].count++;
        }
        for (int j = 0; j < n->nblocks; j++) collect_missing(o, n->blocks[j], m, nm, cap);
    }
    return 0;
}

static int check_kinds(const ts_graph *g, const lower_opts *o, pc_err *e) {
    missing m[64];
    int nm = 0;
    collect_missing(o, g->top, m, &nm, PC_ARRAY_LEN(m));
    if (!nm) return 0;
    char msg[sizeof e->msg];
    /* the torch.export reader gives every op node its overload (ts_node.schema), TorchScript's never */
    const char *what = m[0].first->schema ? "op" : "TorchScript op kind";
    int k = snprintf(msg, sizeof msg, "%d %s%s cannot be converted:", nm, what, nm > 1 ? "s" : "");
    for (int i = 0; i < nm && k < (int)sizeof msg; i++) {
        const ts_node *n = m[i].first;
        k += snprintf(msg + k, sizeof msg - (size_t)k, "\n  %s (%d use%s%s%s%s%s)", m[i].kind, m[i].count,
                      m[i].count > 1 ? "s" : "", n->loc ? ", first at " : "", n->loc ? n->loc : "",
                      n->loc && n->src ? ": " : "", n->loc && n->src ? n->src : "");
    }
    if (k < (int)sizeof msg)
        snprintf(msg + k, sizeof msg - (size_t)k,
                 "\nRegister a converter for each with @pt2coreml.register_torch_op (see docs/troubleshooting.md).");
    return pc_fail(e, PC_E_UNSUPPORTED, "%s", msg);
}

/* ---- debug output (lower_opts.debug): text through o->debug_print, never stdio ---- */
static void debug_emit(lower_ctx *cx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void debug_emit(lower_ctx *cx, const char *fmt, ...) {
    if (!cx->o->debug_print) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    cx->o->debug_print(cx->o->debug_ud, buf);
}

static void debug_node_head(lower_ctx *cx, const ts_node *n, const char *what) {
    debug_emit(cx, "%s%s", what, n->kind);
    for (int i = 0; i < n->nout; i++) debug_emit(cx, "%s%%%s", i ? ", " : " -> ", n->out[i]->name);
    if (n->loc) debug_emit(cx, "  (%s%s%s)", n->loc, n->src ? ": " : "", n->src ? n->src : "");
    debug_emit(cx, "\n");
}

/* The node and the MIL ops it added to blk after `before` (NULL: from the start). */
static void debug_node(lower_ctx *cx, const ts_node *n, ir_block *blk, ir_op *before) {
    if (!cx->o->debug_print) return;
    debug_node_head(cx, n, "[lower] ");
    int any = 0;
    for (ir_op *op = before ? before->next : blk->first; op; op = op->next) {
        char *s = ir_print_op_str(op, 1, 8);
        if (!s) return;
        cx->o->debug_print(cx->o->debug_ud, s);
        free(s);
        any = 1;
    }
    if (!any) {
        debug_emit(cx, "    (no ops:");
        for (int i = 0; i < n->nout; i++) {
            lv *l = cx->vals[n->out[i]->id];
            debug_emit(cx, " %s", l->kind == LV_TENSOR || l->dyn ? l->v->name : lv_kind_name(l->kind));
        }
        debug_emit(cx, ")\n");
    }
}

/* On failure: the program built so far and the node that failed. */
static void debug_failure(lower_ctx *cx) {
    if (!cx->o->debug || !cx->o->debug_print) return;
    char *s = ir_print_str(cx->p, 8);
    if (s) {
        debug_emit(cx, "[lower] conversion failed; the program so far:\n");
        cx->o->debug_print(cx->o->debug_ud, s);
        debug_emit(cx, "\n");
        free(s);
    }
    if (cx->node) debug_node_head(cx, cx->node, "[lower] failing node: ");
}

/* ---- lowering nodes ---- */

/* Debug info for the numerical debugger: each tensor output's value records the TorchScript value it
 * computes, unless it already stands for an earlier one (a view or no-op returns its input's value). */
static int record_sources(lower_ctx *cx, const ts_node *n) {
    for (int i = 0; i < n->nout; i++) {
        lv *l = cx->vals[n->out[i]->id];
        if (!l || l->kind != LV_TENSOR || !l->v || l->v->konst || l->v->src_name) continue;
        if (!(l->v->src_name = pc_strdup(cx->p->arena, n->out[i]->name)))
            return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    }
    return 0;
}

int lower_write_input(lower_ctx *cx, const ts_value *in, lv *l) {
    const ts_value *root = cx->inplace_of && cx->inplace_of[in->id] ? cx->inplace_of[in->id] : in;
    cx->vals[in->id] = cx->vals[root->id] = l;
    if (!cx->inplace_of &&
        !(cx->inplace_of = pc_alloc(cx->p->arena, sizeof(*cx->inplace_of) * (size_t)(cx->g->nvalues ? cx->g->nvalues : 1))))
        return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    return lower_view_writeback(cx, root); /* slice assignment: update the viewed tensor */
}

/* A registry op that writes inputs other than an in-place op's self (an out= variant, `Tensor(a!) out`):
 * each written input, in order, is the op's output of the same rank in order. */
static int out_variant_writes(lower_ctx *cx, const ts_node *n) {
    for (int i = 0, k = 0; i < n->nin && i < 64; i++) {
        if (!((n->writes >> i) & 1) || (cx->via_inplace && i == 0)) continue;
        lv *w = cx->vals[n->in[i]->id];
        if (!w || w->kind != LV_TENSOR) continue; /* an optional out= left None */
        if (k >= n->nout)
            return lower_fail(cx, "the op writes its input %d in place and has no result left to write there", i);
        if (lower_write_input(cx, n->in[i], cx->vals[n->out[k++]->id])) return -1;
    }
    return 0;
}

static int lower_node(lower_ctx *cx, const ts_node *n) {
    cx->node = n;
    cx->base = NULL;
    if (n->nout > 0) {
        cx->base = sanitize(cx->p->arena, n->out[0]->name);
        if (!cx->base) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    }
    cx->loc = n->loc ? pc_sprintf(cx->p->arena, "%s at %s", n->kind, n->loc) : n->kind;
    cx->row = lower_row_find(n->kind);
    cx->via_inplace = cx->row && strcmp(cx->row->kind, n->kind) != 0;
    const lower_opts *o = cx->o;
    ir_block *blk = cx->b;
    ir_op *before = blk->last; /* ops after it are this node's (debug) */
    lv *qsaved = NULL; /* quant.c: an averaging op's quantized input, swapped for its integer steps */
    if (lower_quant_before(cx, n, &qsaved)) return -1;
    if (o->external && o->external_has && o->external_has(o->external_ud, n->kind)) {
        cx->ext_written = 0;
        int r = o->external(o->external_ud, cx, n, cx->e);
        if (r < 0) return -1;
        if (r > 0) {
            for (int i = 0; i < n->nin && i < 64; i++)
                if ((n->writes >> i) & 1 && !((cx->ext_written >> i) & 1) && cx->vals[n->in[i]->id] &&
                    (cx->vals[n->in[i]->id]->kind == LV_TENSOR ||
                     (cx->vals[n->in[i]->id]->kind == LV_LIST && !cx->vals[n->in[i]->id]->dyn)))
                    return lower_fail(cx, "the op writes its input %d (%%%s) in place, and its converter did not give "
                                      "the new value: context.add(new_value, torch_name=node.inputs[%d])", i,
                                      n->in[i]->name, i);
            goto bound;
        }
    }
    int hooked = lower_complex_node(cx, n); /* complex inputs: complex.c lowers the node or refuses it */
    if (hooked < 0) return -1;
    if (hooked > 0) goto bound;
    if (!cx->row) return lower_fail(cx, "no converter for this op");
    if (cx->row->fn(cx, n)) return -1;
    if (out_variant_writes(cx, n)) return -1;
bound:
    for (int i = 0; i < n->nout; i++)
        if (!cx->vals[n->out[i]->id]) return lower_fail(cx, "internal: output %d was not bound", i);
    if (lower_quant_after(cx, n, qsaved)) return -1;
    /* in-place ops (add_, relu_, ...) also rebind the mutated input; their output is that tensor too, so
     * a chained one (x.mul_(a).add_(b)) rebinds x as well */
    if (inplace_spelling(n->kind, strlen(n->kind)) && n->nin > 0 && n->nout > 0) {
        const ts_value *in = n->in[0], *root = cx->inplace_of && cx->inplace_of[in->id] ? cx->inplace_of[in->id] : in;
        lv *self = cx->vals[in->id];
        if (self && (self->kind == LV_TENSOR || self->kind == LV_COMPLEX)) {
            if (lower_write_input(cx, in, cx->vals[n->out[0]->id])) return -1;
            cx->inplace_of[n->out[0]->id] = root;
        } else if (lower_view_writeback(cx, root)) {
            return -1;
        }
    }
    if (record_sources(cx, n)) return -1;
    if (o->debug) debug_node(cx, n, blk, before);
    return 0;
}

int lower_block_nodes(lower_ctx *cx, const ts_block *b) {
    for (int i = 0; i < b->nnodes; i++)
        if (lower_node(cx, b->nodes[i])) return -1;
    return 0;
}

/* The graph's own nodes, counted for the progress report (nested blocks lower inside their node). */
static int lower_top_nodes(lower_ctx *cx, const ts_block *b, pc_progress *progress) {
    pc_progress_report(progress, "lowering ops", 0, b->nnodes);
    for (int i = 0; i < b->nnodes; i++) {
        if (lower_node(cx, b->nodes[i])) return -1;
        pc_progress_report(progress, "lowering ops", i + 1, b->nnodes);
    }
    return 0;
}

/* ---- inputs and outputs ---- */

/* An image input's preprocessing, as coremltools emits it for ML Programs:
 * `<x>__scaled__ = mul(x, scale)` (a scalar of the input's dtype), then
 * `<x>__biased__ = add(., bias)` with bias shaped [1, C, 1, 1] (C = 3) or [1]
 * (grayscale); a channel-last graph then gets a transpose to NHWC. Returns the
 * value the graph should read instead of x. */
static ir_value *preprocess_image(lower_ctx *cx, const lower_input *li, ir_value *x) {
    const ir_type *t = &x->type;
    if (!ir_dtype_is_float(t->dtype)) {
        pc_fail(cx->e, PC_E_VALUE, "image input '%s' must be fp32 or fp16, not %s", x->name, ir_dtype_name(t->dtype));
        return NULL;
    }
    if (li->nbias != 1 && li->nbias != 3) {
        pc_fail(cx->e, PC_E_VALUE, "image input '%s': bias needs 1 or 3 values, got %d", x->name, li->nbias);
        return NULL;
    }
    if (t->rank != 4 || (t->dims[1] >= 0 && t->dims[1] != li->nbias)) {
        char b[128];
        pc_fail(cx->e, PC_E_VALUE, "image input '%s' has type %s; an image is [1, %d, H, W]", x->name,
                ir_type_str(t, b, sizeof b), li->nbias);
        return NULL;
    }
    cx->node = NULL;
    cx->base = x->name;
    cx->loc = pc_sprintf(cx->p->arena, "preprocessing of image input '%s'", x->name);
    ir_value *y = x;
    if (li->scale != 1.0) {
        ir_value *s = lb_const_scalar(cx, li->scale, t->dtype, "_scale__");
        if (!s || !(y = lb_binary(cx, IR_OP_MUL, y, s, "_scaled__"))) return NULL;
    }
    int any = 0;
    for (int c = 0; c < li->nbias; c++) any |= li->bias[c] != 0.0;
    if (any) {
        float bv[3];
        for (int c = 0; c < li->nbias; c++) bv[c] = (float)li->bias[c];
        int64_t dims[4] = {1, li->nbias, 1, 1}, one = 1;
        ir_type bt = li->nbias == 3 ? ir_tensor_type(t->dtype, 4, dims) : ir_tensor_type(t->dtype, 1, &one);
        const char *nm = lower_name(cx, "_bias__");
        ir_value *b = nm ? ir_const_new(cx->p, cx->b, nm, bt, IR_FP32, bv, 1) : NULL;
        if (!b || lower_names_add(cx, b->name, b)) {
            pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
            return NULL;
        }
        if (!(y = lb_binary(cx, IR_OP_ADD, y, b, "_biased__"))) return NULL;
    }
    if (li->channel_last) {
        static const int64_t perm[4] = {0, 2, 3, 1};
        ir_op *tr = lb_op(cx, IR_OP_TRANSPOSE, "_channel_last__");
        if (!tr || ir_op_set_input(tr, "x", y) || lb_param_i32v(cx, tr, "perm", 4, perm)) return NULL;
        y = lb_finish(cx, tr);
    }
    return y;
}
static int add_inputs(lower_ctx *cx) {
    const ts_block *top = cx->g->top;
    int first = cx->g->has_self ? 1 : 0, n = top->nin - first - cx->o->nstates;
    if (n != cx->o->ninputs)
        return pc_fail(cx->e, PC_E_VALUE, "the model's forward takes %d input%s but %d input type%s given", n,
                       n == 1 ? "" : "s", cx->o->ninputs, cx->o->ninputs == 1 ? " was" : "s were");
    for (int i = 0; i < n; i++) {
        const ts_value *tv = top->in[first + i];
        const lower_input *li = &cx->o->inputs[i];
        if (tv->ty != TS_TY_TENSOR)
            return pc_fail(cx->e, PC_E_CONVERT, "input %d ('%s') has type %s; only tensor inputs can be converted",
                           i, tv->name, tv->type_str ? tv->type_str : "?");
        const char *name = li->name ? li->name : sanitize(cx->p->arena, tv->name);
        if (!name) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        if (lower_names_has(cx, name))
            return pc_fail(cx->e, PC_E_VALUE, "two inputs are named '%s'", name);
        ir_type t = li->type;
        for (int d = 0; d < t.rank; d++) /* symbols handed out by the caller stay reserved */
            if (IR_IS_SYM(t.dims[d]) && (int)(-t.dims[d]) > cx->p->next_symbol) cx->p->next_symbol = (int)(-t.dims[d]);
        if (t.dtype == IR_INT64) t.dtype = IR_INT32; /* Core ML has no int64 tensors */
        if (t.dtype == IR_FP64) t.dtype = IR_FP32;
        ir_value *v = ir_function_add_input(cx->fn, name, t);
        if (!v || lower_names_add(cx, v->name, v)) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        if (li->preprocess && !(v = preprocess_image(cx, li, v))) return -1;
        if (!v->src_name && !(v->src_name = pc_strdup(cx->p->arena, tv->name)))
            return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        if (!(cx->vals[tv->id] = lv_tensor(cx, v))) return -1;
    }
    return lower_states_begin(cx, first + n);
}

typedef struct {
    lv **leaf;
    const ts_value **from;
    int n, cap;
} leaves;

static int flatten_out(lower_ctx *cx, lv *l, const ts_value *from, leaves *o) {
    if (l->kind == LV_TUPLE || l->kind == LV_LIST) {
        for (int i = 0; i < l->n; i++)
            if (flatten_out(cx, l->items[i], from, o)) return -1;
        return 0;
    }
    if (o->n == o->cap) {
        int cap = o->cap ? o->cap * 2 : 8;
        lv **nl = pc_alloc(cx->p->arena, sizeof(*nl) * (size_t)cap);
        const ts_value **nf = pc_alloc(cx->p->arena, sizeof(*nf) * (size_t)cap);
        if (!nl || !nf) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        if (o->n) {
            memcpy(nl, o->leaf, sizeof(*nl) * (size_t)o->n);
            memcpy(nf, o->from, sizeof(*nf) * (size_t)o->n);
        }
        o->leaf = nl;
        o->from = nf;
        o->cap = cap;
    }
    o->leaf[o->n] = l;
    o->from[o->n++] = from;
    return 0;
}

/* Give v the name `name`: a value already holding it is renamed first. */
static int rename_value(lower_ctx *cx, ir_value *v, const char *name) {
    if (strcmp(v->name, name) == 0) return 0;
    if (lower_names_has(cx, name)) {
        ir_value *other = names_value(cx, name);
        if (!other || other->def == NULL)
            return pc_fail(cx->e, PC_E_VALUE, "output name '%s' is already used by an input or op", name);
        cx->base = name;
        const char *fresh = lower_name(cx, "renamed");
        if (!fresh) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        other->name = fresh;
        if (lower_names_add(cx, fresh, other)) return -1;
    }
    v->name = pc_strdup(cx->p->arena, name);
    if (!v->name) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    return lower_names_add(cx, v->name, v);
}

static int add_outputs(lower_ctx *cx) {
    const ts_block *top = cx->g->top;
    leaves lf = {0};
    cx->node = NULL;
    for (int i = 0; i < top->nout; i++)
        if (flatten_out(cx, cx->vals[top->out[i]->id], top->out[i], &lf)) return -1;
    if (cx->o->noutputs && cx->o->noutputs != lf.n)
        return pc_fail(cx->e, PC_E_VALUE, "%d output name%s given but the model returns %d tensor%s", cx->o->noutputs,
                       cx->o->noutputs == 1 ? " was" : "s were", lf.n, lf.n == 1 ? "" : "s");
    ir_value **outs = pc_alloc(cx->p->arena, sizeof(*outs) * (size_t)(lf.n ? lf.n : 1));
    if (!outs) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    for (int i = 0; i < lf.n; i++) {
        lv *l = lf.leaf[i];
        if (l->kind == LV_COMPLEX)
            return pc_fail(cx->e, PC_E_CONVERT,
                           "output %d (%%%s) is a complex tensor; Core ML has no complex type: return "
                           "torch.view_as_real(x), x.real / x.imag or x.abs() instead", i, lf.from[i]->name);
        if (l->kind == LV_STR || l->kind == LV_NONE || l->kind == LV_DEVICE)
            return pc_fail(cx->e, PC_E_CONVERT, "output %d (%%%s) is a %s; Core ML outputs must be tensors", i,
                           lf.from[i]->name, lv_kind_name(l->kind));
        if (lower_quant_check_output(cx, l, i)) return -1;
        const char *want = cx->o->noutputs && cx->o->outputs[i].name ? cx->o->outputs[i].name : NULL;
        cx->base = sanitize(cx->p->arena, lf.from[i]->name);
        if (!cx->base) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        ir_value *v = lb_as_tensor(cx, l, IR_DT_INVALID);
        if (!v) return -1;
        int used = 0;
        for (int k = 0; k < i; k++) used |= outs[k] == v;
        if (v->type.kind == IR_TK_TENSOR && v->type.dtype == IR_BOOL) {
            /* Core ML arrays hold no bools: the output is cast to fp32 (0 / 1), as coremltools does,
             * and the cast takes the output's name */
            const char *name = want ? want : v->def && v->def->kind != IR_OP_CONST ? v->name : NULL;
            v = lb_cast(cx, v, IR_FP32, "out_fp32");
            if (!v || (name && rename_value(cx, v, name))) return -1;
        } else if (!v->def || v->def->kind == IR_OP_CONST || used) {
            v = lb_unary(cx, IR_OP_IDENTITY, v, "out");
            if (!v) return -1;
        }
        if (want && rename_value(cx, v, want)) return -1;
        v->user_named = want != NULL;
        outs[i] = v;
    }
    if (ir_block_set_outputs(cx->fn->body, lf.n, outs)) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
    return 0;
}

int lower_graph(const ts_graph *g, const lower_opts *o, ir_program **out, pc_err *e) {
    *out = NULL;
    if (check_kinds(g, o, e)) return -1;
    ir_program *p = ir_program_new();
    if (!p) return pc_fail(e, PC_E_NOMEM, "lowering: out of memory");
    lower_names names = {.cap = 256};
    lower_ctx cx = {.p = p, .g = g, .o = o, .e = e, .names = &names};
    names.key = pc_alloc(p->arena, sizeof(*names.key) * (size_t)names.cap);
    names.val = pc_alloc(p->arena, sizeof(*names.val) * (size_t)names.cap);
    names.next = pc_alloc(p->arena, sizeof(*names.next) * (size_t)names.cap);
    cx.vals = pc_alloc(p->arena, sizeof(*cx.vals) * (size_t)(g->nvalues ? g->nvalues : 1));
    cx.fn = ir_function_new(p, "main", o->opset ? o->opset : "CoreML5");
    if (!names.key || !names.val || !names.next || !cx.vals || !cx.fn) {
        ir_program_free(p);
        return pc_fail(e, PC_E_NOMEM, "lowering: out of memory");
    }
    cx.b = cx.fn->body;
    int first_state = g->top->nin - o->nstates;
    if (add_inputs(&cx) || lower_top_nodes(&cx, g->top, o->progress) || lower_states_end(&cx, first_state) ||
        add_outputs(&cx)) {
        debug_failure(&cx);
        ir_program_free(p);
        return -1;
    }
    *out = p;
    return 0;
}
