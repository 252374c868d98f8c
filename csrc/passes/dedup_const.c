/* dedup_const.c: share identical small constants.
 *
 * Two consts of one block with equal type, payload store and payload (at most
 * 65536 elements) are one: uses of the later are rebound to the earlier, which
 * is defined before them. Consts of nested blocks are merged within their block.
 * Requires: a well-formed function. Keeps: every value that is a block or
 * function output (its name is part of the interface). Breaks: nothing; the
 * duplicates lose all uses and are left for dead_code.
 */
#include "passes/pass_util.h"

#include <string.h>

#define DEDUP_MAX_ELEMS 65536

static size_t payload_bytes(const ir_const *k) { return ir_dtype_size(k->store) * (size_t)k->count; }

static uint64_t const_hash(const ir_value *v) {
    const ir_const *k = v->konst;
    uint64_t h = 1469598103934665603ull;
#define MIX(byte) (h = (h ^ (unsigned char)(byte)) * 1099511628211ull)
    MIX(v->type.dtype);
    MIX(v->type.rank);
    MIX(k->store);
    for (int i = 0; i < v->type.rank; i++) MIX(v->type.dims[i]);
    if (k->store == IR_STRING) {
        for (int64_t i = 0; i < k->count; i++)
            for (const char *s = ((const char *const *)k->data)[i]; *s; s++) MIX(*s);
    } else {
        const unsigned char *d = k->data;
        for (size_t i = 0, n = payload_bytes(k); i < n; i++) MIX(d[i]);
    }
#undef MIX
    return h;
}

static int const_equal(const ir_value *a, const ir_value *b) {
    const ir_const *x = a->konst, *y = b->konst;
    if (!ir_type_equal(&a->type, &b->type) || x->store != y->store || x->count != y->count) return 0;
    if (x->store != IR_STRING) return memcmp(x->data, y->data, payload_bytes(x)) == 0;
    for (int64_t i = 0; i < x->count; i++)
        if (strcmp(((const char *const *)x->data)[i], ((const char *const *)y->data)[i])) return 0;
    return 1;
}

static int dedup_block(ir_function *fn, ir_block *b, pc_err *e) {
    pc_arena *a = fn->prog->arena;
    size_t cap = 64, n = 0;
    ir_value **tab = pc_alloc(a, sizeof(*tab) * cap);
    uint64_t *hs = pc_alloc(a, sizeof(*hs) * cap);
    if (!tab || !hs) return pc_fail(e, PC_E_NOMEM, "dedup_const: out of memory");
    for (ir_op *op = b->first; op; op = op->next) {
        for (int k = 0; k < op->nblocks; k++)
            if (dedup_block(fn, op->blocks[k], e)) return -1;
        if (op->kind != IR_OP_CONST || op->nout != 1 || !op->out[0]->konst) continue;
        ir_value *v = op->out[0];
        if (v->konst->count > DEDUP_MAX_ELEMS || (!v->konst->data && v->konst->count) || !ir_const_is_raw(v->konst))
            continue;
        uint64_t h = const_hash(v);
        size_t i = (size_t)h & (cap - 1);
        while (tab[i] && !(hs[i] == h && const_equal(tab[i], v))) i = (i + 1) & (cap - 1);
        if (tab[i]) {
            if (!pass_is_block_output(fn, v)) ir_replace_uses(fn, v, tab[i]);
            continue;
        }
        tab[i] = v;
        hs[i] = h;
        if (++n * 2 > cap) { /* grow; old slots stay in the arena */
            size_t nc = cap * 2;
            ir_value **nt = pc_alloc(a, sizeof(*nt) * nc);
            uint64_t *nh = pc_alloc(a, sizeof(*nh) * nc);
            if (!nt || !nh) return pc_fail(e, PC_E_NOMEM, "dedup_const: out of memory");
            for (size_t j = 0; j < cap; j++)
                if (tab[j]) {
                    size_t s = (size_t)hs[j] & (nc - 1);
                    while (nt[s]) s = (s + 1) & (nc - 1);
                    nt[s] = tab[j];
                    nh[s] = hs[j];
                }
            tab = nt;
            hs = nh;
            cap = nc;
        }
    }
    return 0;
}

int pass_dedup_const(ir_function *fn, pc_err *e) { return dedup_block(fn, fn->body, e); }
