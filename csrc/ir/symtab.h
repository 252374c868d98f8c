/* symtab.h: a string -> pointer hash table in an arena, private to ir/ (parser, checker). */
#ifndef IR_SYMTAB_H
#define IR_SYMTAB_H

#include "common/pc.h"

typedef struct ir_symtab {
    pc_arena *a;
    const char **keys; /* keys are not copied: they must outlive the table */
    void **vals;
    size_t cap, n;
} ir_symtab;

int ir_symtab_init(ir_symtab *t, pc_arena *a);                  /* 0, -1 on OOM */
void *ir_symtab_get(const ir_symtab *t, const char *key);       /* NULL if absent */
int ir_symtab_put(ir_symtab *t, const char *key, void *val);    /* insert or replace; -1 on OOM */

#endif
