/* number_names.c: anonymous value names numbered in program order.
 *
 * Values TorchScript leaves unnamed reach the IR as var_<n>, n being TorchScript's running value count (or
 * the IR's, for values the lowering makes), and the consts and ops made for them are named var_<n>_<what>.
 * So the same program got different names depending on how many values were made, and folded away, before
 * it: a model computing its padding from x.size() wrote var_47 where the same model with the padding
 * written as a literal wrote var_14. This pass renames every such root var_<n> to var_<k>, k counting the
 * roots in the order they first appear (function inputs, then ops in order with nested blocks in place,
 * each op's name before its outputs), so the package written depends only on the program it holds.
 *
 * Requires: a well-formed function; runs before fp16 (so that an op selector of fp16 compute sees the names the
 * package will hold), after which passes only derive names from existing ones (<name>_to_fp16, <name>_out) or
 * drop ops. Keeps: function inputs, values the user named (user_named)
 * and every name not of the form var_<digits> or var_<digits>_<rest>; a number a kept name uses is skipped.
 * Breaks: nothing (names stay unique: the renaming maps roots one to one).
 */
#include "passes/passes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the digits of a root var_<digits> at the start of s (followed by the end or '_'), else 0. */
static size_t root_len(const char *s) {
    if (!s || strncmp(s, "var_", 4) != 0) return 0;
    size_t n = 0;
    while (s[4 + n] >= '0' && s[4 + n] <= '9') n++;
    return n && (s[4 + n] == 0 || s[4 + n] == '_') ? n : 0;
}

typedef struct {
    const char **key; /* the digits of an old root (pointer into a name; klen bytes) */
    size_t *klen;
    long *val;        /* its new number; -1: a number a kept name holds */
    size_t cap, n;
    long next;        /* next new number to hand out */
    int oom;
} numbering;

static size_t slot(const numbering *t, const char *k, size_t len) {
    size_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)k[i]) * 1099511628211u;
    size_t m = t->cap - 1, i = h & m;
    while (t->key[i] && !(t->klen[i] == len && memcmp(t->key[i], k, len) == 0)) i = (i + 1) & m;
    return i;
}

static int grow(numbering *t) {
    numbering g = *t;
    g.cap = t->cap ? t->cap * 2 : 64;
    g.key = calloc(g.cap, sizeof *g.key);
    g.klen = calloc(g.cap, sizeof *g.klen);
    g.val = calloc(g.cap, sizeof *g.val);
    if (!g.key || !g.klen || !g.val) {
        free(g.key), free(g.klen), free(g.val);
        return -1;
    }
    for (size_t i = 0; i < t->cap; i++)
        if (t->key[i]) {
            size_t j = slot(&g, t->key[i], t->klen[i]);
            g.key[j] = t->key[i], g.klen[j] = t->klen[i], g.val[j] = t->val[i];
        }
    free(t->key), free(t->klen), free(t->val);
    *t = g;
    return 0;
}

/* The entry of root digits k[0..len), added with value v when absent; NULL on OOM. */
static long *entry(numbering *t, const char *k, size_t len, long v) {
    if ((t->n + 1) * 2 > t->cap && grow(t)) {
        t->oom = 1;
        return NULL;
    }
    size_t i = slot(t, k, len);
    if (!t->key[i]) {
        t->key[i] = k, t->klen[i] = len, t->val[i] = v;
        t->n++;
    }
    return &t->val[i];
}

/* 1 if the number written k[0..len) is held by a kept name (a lookup: nothing is added). */
static int taken(const numbering *t, const char *k, size_t len) {
    return t->cap && t->key[slot(t, k, len)] != NULL;
}

/* Mark the number a kept name (an input or a user's name) holds as taken, its digits as written. */
static void keep(numbering *t, const char *name) {
    size_t n = root_len(name);
    if (n) (void)entry(t, name + 4, n, -1);
}

typedef struct {
    numbering old; /* old root -> new number */
    numbering taken; /* numbers kept names hold */
    ir_program *p;
} renamer;

static const char *renamed(renamer *r, const char *name) {
    size_t n = root_len(name);
    if (!n) return name;
    long *v = entry(&r->old, name + 4, n, -2);
    if (!v) return NULL;
    if (*v == -2) {
        char buf[32];
        for (;;) { /* the next number no kept name holds */
            int k = snprintf(buf, sizeof buf, "%ld", r->old.next++);
            if (!taken(&r->taken, buf, (size_t)k)) break;
        }
        *v = r->old.next - 1;
    }
    return pc_sprintf(r->p->arena, "var_%ld%s", *v, name + 4 + n);
}

static int rename_value(renamer *r, ir_value *v) {
    if (v->user_named) return 0;
    const char *s = renamed(r, v->name);
    if (!s) return -1;
    v->name = s;
    return 0;
}

static int walk(renamer *r, ir_block *b) {
    for (int i = 0; i < b->nin; i++)
        if (rename_value(r, b->in[i])) return -1;
    for (ir_op *op = b->first; op; op = op->next) {
        int same = op->nout && op->name && strcmp(op->name, op->out[0]->name) == 0;
        if (op->name && !same && !(op->name = renamed(r, op->name))) return -1;
        for (int i = 0; i < op->nout; i++)
            if (rename_value(r, op->out[i])) return -1;
        if (same) op->name = op->out[0]->name;
        for (int k = 0; k < op->nblocks; k++)
            if (walk(r, op->blocks[k])) return -1;
    }
    return 0;
}

static void mark_outputs(renamer *r, ir_block *b) {
    for (int i = 0; i < b->nout; i++)
        if (b->out[i]->user_named) keep(&r->taken, b->out[i]->name);
    for (ir_op *op = b->first; op; op = op->next)
        for (int k = 0; k < op->nblocks; k++) mark_outputs(r, op->blocks[k]);
}

int pass_number_names(ir_function *fn, pc_err *e) {
    renamer r = {.p = fn->prog};
    for (int i = 0; i < fn->nin; i++) keep(&r.taken, fn->in[i]->name);
    mark_outputs(&r, fn->body);
    int rc = r.taken.oom ? -1 : walk(&r, fn->body);
    if (rc || r.old.oom || r.taken.oom) rc = pc_fail(e, PC_E_NOMEM, "out of memory");
    free(r.old.key), free(r.old.klen), free(r.old.val);
    free(r.taken.key), free(r.taken.klen), free(r.taken.val);
    return rc;
}
