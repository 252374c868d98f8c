/* symtab.c: open-addressing string hash table (see symtab.h). */
#include "ir/symtab.h"

#include <string.h>

static uint64_t hash_str(const char *s) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int alloc_slots(ir_symtab *t, size_t cap) {
    t->keys = pc_alloc(t->a, sizeof(*t->keys) * cap);
    t->vals = pc_alloc(t->a, sizeof(*t->vals) * cap);
    t->cap = cap;
    t->n = 0;
    return (t->keys && t->vals) ? 0 : -1;
}

int ir_symtab_init(ir_symtab *t, pc_arena *a) {
    t->a = a;
    return alloc_slots(t, 64);
}

static size_t find_slot(const char **keys, size_t cap, const char *key) {
    size_t i = (size_t)hash_str(key) & (cap - 1);
    while (keys[i] && strcmp(keys[i], key) != 0) i = (i + 1) & (cap - 1);
    return i;
}

void *ir_symtab_get(const ir_symtab *t, const char *key) {
    size_t i = find_slot(t->keys, t->cap, key);
    return t->keys[i] ? t->vals[i] : NULL;
}

int ir_symtab_put(ir_symtab *t, const char *key, void *val) {
    if ((t->n + 1) * 2 > t->cap) { /* keep load <= 1/2; old slots are abandoned in the arena */
        const char **ok = t->keys;
        void **ov = t->vals;
        size_t oc = t->cap;
        if (alloc_slots(t, oc * 2)) return -1;
        for (size_t i = 0; i < oc; i++)
            if (ok[i]) {
                size_t j = find_slot(t->keys, t->cap, ok[i]);
                t->keys[j] = ok[i];
                t->vals[j] = ov[i];
                t->n++;
            }
    }
    size_t i = find_slot(t->keys, t->cap, key);
    if (!t->keys[i]) {
        t->keys[i] = key;
        t->n++;
    }
    t->vals[i] = val;
    return 0;
}
