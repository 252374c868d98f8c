/* carry.h: templates and slots for values that cross a block boundary (carry.c), and the bookkeeping of
 * what a block defines and rebinds; shared by branch.c (prim::If), loop.c (prim::Loop), list.c and
 * script.c. Internal to lower/. */
#ifndef LOWER_CARRY_H
#define LOWER_CARRY_H

#include "lower/build.h"

#define LV_SLOT ((lv_kind)64) /* template placeholder: slot number in lv.i */

/* The slots of a template: per slot its kind (element kind for lists), carried type and the leaf on
 * each side. */
typedef struct slots {
    int n, cap;
    lv_kind *kind, *elem;
    ir_type *t;
    int *known;
    lv **a, **b; /* the leaf on each side */
} slots;

/* A number lv (int, float, bool) and the dtype a number kind is carried as. */
int carry_is_num(const lv *l);
ir_dtype carry_num_dtype(lv_kind k);
/* An lv of kind k whose value is the run-time v (NULL for a NULL v). */
lv *carry_dyn_lv(lower_ctx *cx, lv_kind k, lv_kind elem, ir_value *v);
/* A new list / tuple of like's kind and length, its items to be filled (NULL on OOM). */
lv *carry_seq(lower_ctx *cx, const lv *like);
/* The element kind of a list (0 when unknown). */
lv_kind carry_list_elem(const lv *l);
/* Equal compile-time values. */
int carry_same_static(const lv *a, const lv *b);
/* Join type u into *t (dtype and rank must agree; differing dims become symbols). */
int carry_join_type(lower_ctx *cx, ir_type *t, int *known, const ir_type *u, const char *what);
/* Template of a (one side) and b (the other): what is the same stays, the rest becomes slots of s. */
lv *carry_tmpl(lower_ctx *cx, lv *a, lv *b, slots *s, const char *what);
/* The lv a template stands for, with slot k bound to vals[k]. */
lv *carry_instantiate(lower_ctx *cx, lv *t, const slots *s, ir_value *const *vals);
/* Per slot, the value of vals that fills it in templates guess (NULL where the structure differs); NULL on OOM. */
lv **carry_slot_leaves(lower_ctx *cx, lv **guess, lv **vals, int nc, int nslots);
/* Emit (in cx->b) the IR value of a leaf for slot k. */
ir_value *carry_leaf_value(lower_ctx *cx, const slots *s, int k, lv *l);
/* A condition as a rank-0 bool value. */
ir_value *carry_bool_scalar(lower_ctx *cx, lv *c);

/* in[id] = 1 for every TorchScript value block b defines (nested blocks too). */
void carry_mark_defs(const ts_block *b, unsigned char *in);
/* A copy of the value table, and its restoring. */
lv **carry_snapshot(lower_ctx *cx);
void carry_restore(lower_ctx *cx, lv **snap);
/* Ids of outer values whose binding differs from snap (not defined inside: inner[]), appended to *ids. */
int carry_rebound(lower_ctx *cx, lv **snap, const unsigned char *inner, pc_vec *ids);
/* The node being lowered again after a nested block was lowered. */
void carry_restore_node(lower_ctx *cx, const ts_node *n, const char *base, const char *loc);

#endif
