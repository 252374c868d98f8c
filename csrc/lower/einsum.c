/* einsum.c: aten::einsum(equation, tensors, path=None), composed of
 * reduce_sum (indices summed out of one operand), transpose + reshape + matmul (pairwise
 * contraction: batch, kept and contracted indices) and a final transpose to the output order.
 * '...' is expanded to fresh indices; operands are contracted left to right. An index repeated
 * within one operand reads the diagonal (diagonals()). Sizes known only at run time (symbolic dims) make
 * the reshapes' shapes at run time. */
#include "lower/build.h"

#include <stdio.h>
#include <string.h>

#define EMAX 16 /* indices per operand (>= IR_MAX_RANK: a term's indices are its value's dims) */
_Static_assert(EMAX >= IR_MAX_RANK, "einsum index buffers hold a tensor's dims");

typedef struct {
    ir_value *v;
    char ix[3 * EMAX + 1]; /* one char per dim (rank <= EMAX after each step) */
} term;

/* Expand '...' in spec s (for an operand of `rank` dims, or the output with `ell` dims) into
 * the letters 'A'.. (ellipsis dims right-aligned). */
static int expand_ellipsis(lower_ctx *cx, const char *s, size_t len, int rank, int *ell, char *out) {
    const char *dots = NULL;
    for (size_t i = 0; i + 3 <= len; i++)
        if (s[i] == '.' && s[i + 1] == '.' && s[i + 2] == '.') {
            dots = s + i;
            break;
        }
    int k = 0;
    if (!dots) {
        if ((int)len > EMAX) return lower_fail(cx, "einsum term with more than %d indices", EMAX);
        for (size_t i = 0; i < len; i++) {
            if (s[i] == ' ') continue;
            if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
                return lower_fail(cx, "einsum: bad index '%c'", s[i]);
            out[k++] = s[i];
        }
        out[k] = 0;
        if (rank >= 0 && k != rank) return lower_fail(cx, "einsum term '%.*s' for a rank-%d operand", (int)len, s, rank);
        return 0;
    }
    int named = (int)len - 3;
    int ne = rank >= 0 ? rank - named : *ell;
    if (ne < 0) return lower_fail(cx, "einsum term '%.*s' for a rank-%d operand", (int)len, s, rank);
    if (rank >= 0 && ne > *ell) *ell = ne;
    if (named + ne > EMAX) return lower_fail(cx, "einsum term with more than %d indices", EMAX);
    for (const char *p = s; p < dots; p++) out[k++] = *p;
    for (int i = 0; i < ne; i++) out[k++] = (char)('0' + (*ell - ne) + i); /* ellipsis dims: '0'.. */
    for (const char *p = dots + 3; p < s + len; p++) out[k++] = *p;
    out[k] = 0;
    return 0;
}

static int has(const char *s, char c) { return c && strchr(s, c) != NULL; }

static int64_t dim_of(const term *t, char c) {
    const char *p = strchr(t->ix, c);
    return p ? t->v->type.dims[p - t->ix] : 1;
}

/* An index repeated within one operand ("ii->i", "jiii,ijjk->jk") reads its diagonal: for each repeat,
 * the two axes move last, merge into one of n * n and a gather keeps elements 0, n + 1, 2 (n + 1), ..;
 * the index then stands once, last. */
static int diagonals(lower_ctx *cx, term *t) {
    for (;;) {
        int r = (int)strlen(t->ix), a = -1, b = -1;
        for (int i = 0; i < r && a < 0; i++) {
            const char *q = strchr(t->ix + i + 1, t->ix[i]);
            if (q) a = i, b = (int)(q - t->ix);
        }
        if (a < 0) return 0;
        int64_t nd = t->v->type.dims[a];
        if (nd < 0 || t->v->type.dims[b] != nd)
            return lower_fail(cx, "einsum: index '%c' repeated over dims of sizes %lld and %lld", t->ix[a], (long long)nd,
                              (long long)t->v->type.dims[b]);
        int64_t perm[EMAX], shape[EMAX];
        char ix[3 * EMAX + 1];
        int k = 0;
        for (int i = 0; i < r; i++)
            if (i != a && i != b) {
                shape[k] = t->v->type.dims[i];
                ix[k] = t->ix[i];
                perm[k++] = i;
            }
        perm[k] = a;
        perm[k + 1] = b;
        shape[k] = nd * nd;
        ix[k] = t->ix[a];
        ix[k + 1] = 0;
        float *idx = pc_alloc(cx->p->arena, sizeof(float) * (size_t)(nd > 0 ? nd : 1));
        if (!idx) return pc_fail(cx->e, PC_E_NOMEM, "lowering: out of memory");
        for (int64_t i = 0; i < nd; i++) idx[i] = (float)(i * (nd + 1));
        ir_value *x = lb_transpose(cx, t->v, perm);
        x = lb_reshape(cx, x, k + 1, shape, "pairs");
        ir_value *iv = lb_const(cx, IR_INT32, 1, &nd, idx, "diagonal");
        if (!iv || !(t->v = lb_gather(cx, x, iv, k))) return -1;
        memcpy(t->ix, ix, (size_t)k + 2);
    }
}

/* Sum out of t the indices not in `keep`. */
static int sum_out(lower_ctx *cx, term *t, const char *keep) {
    int64_t axes[EMAX];
    int na = 0, k = 0;
    char nix[EMAX + 1];
    for (int i = 0; t->ix[i]; i++) {
        if (has(keep, t->ix[i])) nix[k++] = t->ix[i];
        else axes[na++] = i;
    }
    nix[k] = 0;
    if (!na) return 0;
    if (!(t->v = lb_reduce(cx, IR_OP_REDUCE_SUM, t->v, na, axes, 0))) return -1;
    strcpy(t->ix, nix);
    return 0;
}

/* t transposed to the index order `order` (a permutation of t->ix). */
static int reorder(lower_ctx *cx, term *t, const char *order) {
    int64_t perm[EMAX];
    int r = (int)strlen(order);
    for (int i = 0; i < r; i++) perm[i] = strchr(t->ix, order[i]) - t->ix;
    if (!(t->v = lb_transpose(cx, t->v, perm))) return -1;
    strcpy(t->ix, order);
    return 0;
}

/* The product of the sizes of indices cs in t (an index t lacks counts 1): an int known now, or one
 * computed at run time from t's shape. */
static lv *size_of(lower_ctx *cx, const term *t, const char *cs) {
    int64_t prod = 1;
    ir_value *dyn = NULL;
    for (const char *c = cs; *c; c++) {
        const char *p = strchr(t->ix, *c);
        if (!p) continue;
        int d = (int)(p - t->ix);
        if (t->v->type.dims[d] >= 0) {
            prod *= t->v->type.dims[d];
            continue;
        }
        lv *l = lower_dim_lv(cx, t->v, d);
        if (!l || !(dyn = dyn ? lb_binary(cx, IR_OP_MUL, dyn, l->v, "size") : l->v)) return NULL;
    }
    if (!dyn) return lv_int(cx, prod);
    if (prod != 1 && !(dyn = lb_scalar_op(cx, IR_OP_MUL, dyn, (double)prod))) return NULL;
    lv *r = lv_new(cx, LV_INT);
    if (r) {
        r->dyn = 1;
        r->v = dyn;
    }
    return r;
}

/* x reshaped to n sizes (int lvs). */
static ir_value *reshape_to(lower_ctx *cx, ir_value *x, int n, lv *const *sizes) {
    for (int i = 0; i < n; i++)
        if (LB_SKIP(cx, sizes[i])) return NULL;
    lv *l = lower_list_of(cx, n, sizes);
    return lb_reshape_lv(cx, x, l);
}

/* contract()'s matmul when some dims are symbolic: a is [bat, ao, con], b is [bat, con, bo]. */
static ir_value *contract_dyn(lower_ctx *cx, term *a, term *b, int nb, const char *ao, const char *con, const char *bo) {
    lv *sa[EMAX + 2], *sb[EMAX + 2], *so[IR_MAX_RANK];
    int na = (int)strlen(ao), nc = (int)strlen(con), nbo = (int)strlen(bo);
    for (int i = 0; i < nb; i++) {
        sa[i] = lower_dim_lv(cx, a->v, i);
        sb[i] = lower_dim_lv(cx, b->v, i);
    }
    sa[nb] = size_of(cx, a, ao);
    sa[nb + 1] = size_of(cx, a, con);
    sb[nb] = size_of(cx, b, con);
    sb[nb + 1] = size_of(cx, b, bo);
    ir_value *ra = reshape_to(cx, a->v, nb + 2, sa), *rb = reshape_to(cx, b->v, nb + 2, sb);
    ir_value *m = lb_matmul(cx, ra, rb, 0, 0);
    if (!m) return NULL;
    int k = 0;
    for (int i = 0; i < nb; i++) so[k++] = lower_dim_lv(cx, m, i); /* batch dims as the matmul broadcast them */
    for (int i = 0; i < na; i++) so[k++] = lower_dim_lv(cx, a->v, nb + i);
    for (int i = 0; i < nbo; i++) so[k++] = lower_dim_lv(cx, b->v, nb + nc + i);
    return reshape_to(cx, m, k, so);
}

/* Contract a and b into a term holding exactly the indices of `keep` present in a or b. */
static int contract(lower_ctx *cx, term *a, term *b, const char *keep, term *out) {
    char ka[EMAX + 1] = "", kb[EMAX + 1] = "";
    /* indices only in one operand and not kept: sum them out first */
    int k = 0;
    for (int i = 0; a->ix[i]; i++)
        if (has(keep, a->ix[i]) || has(b->ix, a->ix[i])) ka[k++] = a->ix[i];
    ka[k] = 0;
    k = 0;
    for (int i = 0; b->ix[i]; i++)
        if (has(keep, b->ix[i]) || has(a->ix, b->ix[i])) kb[k++] = b->ix[i];
    kb[k] = 0;
    if (sum_out(cx, a, ka) || sum_out(cx, b, kb)) return -1;
    char bat[EMAX + 1], ao[EMAX + 1], bo[EMAX + 1], con[EMAX + 1]; /* each a subset of one operand */
    int nb = 0, na = 0, nbo = 0, nc = 0;
    for (int i = 0; a->ix[i]; i++) {
        char c = a->ix[i];
        if (has(b->ix, c)) {
            if (has(keep, c)) bat[nb++] = c;
            else con[nc++] = c;
        } else {
            ao[na++] = c;
        }
    }
    for (int i = 0; b->ix[i]; i++)
        if (!has(a->ix, b->ix[i])) bo[nbo++] = b->ix[i];
    bat[nb] = ao[na] = bo[nbo] = con[nc] = 0;
    int64_t pa = 1, pb = 1, pc = 1, shape[EMAX + 2];
    for (int i = 0; i < na; i++) pa *= dim_of(a, ao[i]);
    for (int i = 0; i < nbo; i++) pb *= dim_of(b, bo[i]);
    for (int i = 0; i < nc; i++) {
        int64_t da = dim_of(a, con[i]), db = dim_of(b, con[i]);
        if (da != db && da >= 0 && db >= 0) return lower_fail(cx, "einsum: index '%c' has sizes %lld and %lld", con[i], (long long)da, (long long)db);
        pc *= da;
    }
    char oa[3 * EMAX + 1], ob[3 * EMAX + 1];
    snprintf(oa, sizeof oa, "%s%s%s", bat, ao, con);
    snprintf(ob, sizeof ob, "%s%s%s", bat, con, bo);
    if (reorder(cx, a, oa) || reorder(cx, b, ob)) return -1;
    if (nb + na + nbo > IR_MAX_RANK) return lower_fail(cx, "einsum: intermediate of rank %d", nb + na + nbo);
    if (ir_type_numel(&a->v->type) < 0 || ir_type_numel(&b->v->type) < 0) {
        if (!(out->v = contract_dyn(cx, a, b, nb, ao, con, bo))) return -1;
        snprintf(out->ix, sizeof out->ix, "%s%s%s", bat, ao, bo);
        return 0;
    }
    /* batch dims broadcast: take the larger size */
    int64_t bd[EMAX];
    for (int i = 0; i < nb; i++) {
        int64_t da = dim_of(a, bat[i]), db = dim_of(b, bat[i]);
        if (da != db && da != 1 && db != 1)
            return lower_fail(cx, "einsum: index '%c' has sizes %lld and %lld", bat[i], (long long)da, (long long)db);
        bd[i] = da > db ? da : db;
    }
    for (int i = 0; i < nb; i++) shape[i] = a->v->type.dims[i];
    shape[nb] = pa;
    shape[nb + 1] = pc;
    ir_value *ra = lb_reshape(cx, a->v, nb + 2, shape, "lhs");
    for (int i = 0; i < nb; i++) shape[i] = b->v->type.dims[i];
    shape[nb] = pc;
    shape[nb + 1] = pb;
    ir_value *rb = lb_reshape(cx, b->v, nb + 2, shape, "rhs");
    ir_value *m = lb_matmul(cx, ra, rb, 0, 0);
    if (!m) return -1;
    int k2 = 0;
    for (int i = 0; i < nb; i++) shape[k2++] = bd[i];
    for (int i = 0; i < na; i++) shape[k2++] = dim_of(a, ao[i]);
    for (int i = 0; i < nbo; i++) shape[k2++] = dim_of(b, bo[i]);
    if (!(out->v = lb_reshape(cx, m, k2, shape, "contracted"))) return -1;
    snprintf(out->ix, sizeof out->ix, "%s%s%s", bat, ao, bo);
    return 0;
}

int lower_einsum(lower_ctx *cx, const ts_node *n) {
    lv *eq = lower_in(cx, n, 0), *ops = lower_in(cx, n, 1);
    if (!ops) return -1;
    if (eq->kind != LV_STR) return lower_fail(cx, "einsum equation must be a string");
    if ((ops->kind != LV_LIST && ops->kind != LV_TUPLE) || ops->n < 1 || ops->n > 8)
        return lower_fail(cx, "einsum of 1 to 8 operands");
    term t[8];
    const char *s = eq->s, *arrow = strstr(s, "->"), *tp[8];
    size_t tl[8];
    int ell = 0;
    const char *p = s;
    for (int i = 0; i < ops->n; i++) { /* split the terms; ellipsis width = the widest operand's */
        if (!(t[i].v = lb_as_tensor(cx, ops->items[i], IR_DT_INVALID))) return -1;
        if (t[i].v->type.rank < 0) return lower_fail(cx, "einsum operand %d has an unknown rank", i);
        const char *end = p;
        while (*end && *end != ',' && (!arrow || end < arrow)) end++;
        while (*p == ' ') p++;
        size_t len = (size_t)(end - p);
        while (len && p[len - 1] == ' ') len--;
        tp[i] = p;
        tl[i] = len;
        if (memchr(p, '.', len) && t[i].v->type.rank - ((int)len - 3) > ell) ell = t[i].v->type.rank - ((int)len - 3);
        if (i + 1 < ops->n) {
            if (*end != ',') return lower_fail(cx, "einsum equation '%s' has fewer terms than operands", s);
            p = end + 1;
        } else if (*end == ',') {
            return lower_fail(cx, "einsum equation '%s' has more terms than operands", s);
        }
    }
    for (int i = 0; i < ops->n; i++) {
        if (expand_ellipsis(cx, tp[i], tl[i], t[i].v->type.rank, &ell, t[i].ix)) return -1;
    }
    ir_dtype dt = t[0].v->type.dtype;
    for (int i = 1; i < ops->n; i++)
        if (t[i].v->type.dtype != dt && !(t[i].v = lb_cast(cx, t[i].v, dt, "cast"))) return -1;
    char outix[EMAX + 1];
    if (arrow) {
        const char *o = arrow + 2;
        while (*o == ' ') o++;
        size_t len = strlen(o);
        while (len && o[len - 1] == ' ') len--;
        if (expand_ellipsis(cx, o, len, -1, &ell, outix)) return -1;
    } else { /* implicit: ellipsis dims, then indices seen once, alphabetically */
        int k = 0;
        for (int i = 0; i < ell; i++) outix[k++] = (char)('0' + i);
        for (char c = 'A'; c <= 'z'; c++) {
            int cnt = 0;
            for (int i = 0; i < ops->n; i++)
                for (const char *q = t[i].ix; *q; q++) cnt += *q == c; /* "ii" has i twice: a trace */
            if (cnt == 1) outix[k++] = c;
        }
        outix[k] = 0;
    }
    for (int i = 0; i < ops->n; i++)
        if (diagonals(cx, &t[i])) return -1;
    term acc = t[0];
    for (int i = 1; i < ops->n; i++) {
        char keep[EMAX * 8 + 1];
        snprintf(keep, sizeof keep, "%s", outix); /* output indices and those later operands use */
        for (int j = i + 1; j < ops->n; j++) strncat(keep, t[j].ix, sizeof keep - strlen(keep) - 1);
        term r;
        if (contract(cx, &acc, &t[i], keep, &r)) return -1;
        acc = r;
    }
    if (sum_out(cx, &acc, outix)) return -1;
    if ((int)strlen(acc.ix) != (int)strlen(outix)) return lower_fail(cx, "einsum: output indices '%s' not all in the inputs", outix);
    if (reorder(cx, &acc, outix)) return -1;
    if (acc.v == t[0].v && ops->n == 1) acc.v = lb_unary(cx, IR_OP_IDENTITY, acc.v, NULL);
    return lower_out_tensor(cx, n, 0, acc.v);
}
