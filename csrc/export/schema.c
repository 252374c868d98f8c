/* schema.c: the aten schema rows (aten_schemas.def, see tools/gen_aten_schemas.py) and the parse of
 * a row's arguments into ex_arg records (ex_int.h). */
#include "export/ex_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *key, *args, *returns;
} schema_row;

static const schema_row rows[] = {
#define EX_SCHEMA(KEY, ARGS, RETURNS) {KEY, ARGS, RETURNS},
#include "export/aten_schemas.def"
#undef EX_SCHEMA
};

static int row_cmp(const void *key, const void *row) { return strcmp(key, ((const schema_row *)row)->key); }

static const schema_row *find_row(const char *key) {
    return bsearch(key, rows, PC_ARRAY_LEN(rows), sizeof rows[0], row_cmp);
}

int ex_schema_lookup(const char *name, const char **args, const char **returns) {
    char buf[256];
    const schema_row *r = NULL;
    if (strlen(name) + 9 >= sizeof buf) return -1;
    const char *sep = strstr(name, "::");
    if (sep && strchr(sep, '.')) {
        r = find_row(name);
    } else if (sep) {
        snprintf(buf, sizeof buf, "%s.default", name);
        r = find_row(buf);
    }
    if (!r) return -1;
    if (args) *args = r->args;
    if (returns) *returns = r->returns;
    return 0;
}

int ex_find_row(const ex_opts *o, const char *key, int custom_first, const char **args, const char **returns) {
    if (!custom_first && ex_schema_lookup(key, args, returns) == 0) return 0;
    size_t n = strlen(key);
    int plain = strchr(strstr(key, "::") ? strstr(key, "::") : key, '.') == NULL;
    for (int i = 0; o && i < o->nops; i++) {
        const char *k = o->ops[i].key;
        if (strcmp(k, key) == 0 || (plain && strncmp(k, key, n) == 0 && strcmp(k + n, ".default") == 0)) {
            if (args) *args = o->ops[i].args;
            if (returns) *returns = o->ops[i].returns;
            return 0;
        }
    }
    return custom_first ? ex_schema_lookup(key, args, returns) : -1;
}

/* One type code ("i[2]?", "T?[]", "dtype?") into a. */
static void parse_type(const char *s, size_t n, ex_arg *a) {
    static const struct { const char *code; ex_base base; } bases[] = {
        {"T", EX_T_TENSOR},   {"i", EX_T_INT},       {"f", EX_T_FLOAT},       {"b", EX_T_BOOL},
        {"s", EX_T_STR},      {"S", EX_T_SCALAR},    {"dtype", EX_T_DTYPE},   {"layout", EX_T_LAYOUT},
        {"device", EX_T_DEVICE}, {"mformat", EX_T_MFORMAT}, {"gen", EX_T_OTHER}, {"complex", EX_T_FLOAT},
    };
    size_t k = 0;
    while (k < n && s[k] != '[' && s[k] != '?' && s[k] != '!') k++;
    a->base = EX_T_OTHER;
    for (int i = 0; i < PC_ARRAY_LEN(bases); i++)
        if (strlen(bases[i].code) == k && memcmp(bases[i].code, s, k) == 0) a->base = bases[i].base;
    for (size_t i = k; i < n; i++) {
        if (s[i] == '[') {
            a->list = 1;
            a->elem_optional = a->optional; /* T?[]: the elements are optional */
            a->optional = 0;
            a->fixed = (int)strtol(s + i + 1, NULL, 10);
        } else if (s[i] == '?') {
            a->optional = 1;
        } else if (s[i] == '!') {
            a->written = 1;
        }
    }
}

int ex_schema_args(pc_arena *a, const char *spec, ex_arg **out, int *n_out) {
    int cap = 1;
    for (const char *p = spec; *p; p++) cap += *p == ' ';
    ex_arg *args = pc_alloc(a, sizeof *args * (size_t)cap);
    if (!args) return -1;
    int n = 0, kw = 0;
    const char *p = spec;
    while (*p) {
        while (*p == ' ') p++;
        if (!*p) break;
        const char *end = p + strcspn(p, " ");
        if (end - p == 1 && *p == '*') {
            kw = 1;
            p = end;
            continue;
        }
        /* inside a list default there are no spaces (the generator writes "[1,1]") */
        const char *colon = memchr(p, ':', (size_t)(end - p));
        if (!colon) return -1;
        const char *eq = memchr(colon, '=', (size_t)(end - colon));
        ex_arg *x = &args[n++];
        memset(x, 0, sizeof *x);
        x->name = pc_strndup(a, p, (size_t)(colon - p));
        parse_type(colon + 1, (size_t)((eq ? eq : end) - colon - 1), x);
        x->kwarg_only = kw;
        if (eq) {
            x->has_default = 1;
            x->def = pc_strndup(a, eq + 1, (size_t)(end - eq - 1));
        }
        if (!x->name || (eq && !x->def)) return -1;
        p = end;
    }
    *out = args;
    *n_out = n;
    return 0;
}

int ex_schema_nreturns(const char *returns) {
    if (!*returns) return 0;
    int n = 1;
    for (const char *p = returns; *p; p++) n += *p == ',';
    return n;
}
