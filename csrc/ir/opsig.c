/* opsig.c: the parameter column of ops.def, parsed once into ir_opsig rows (see ir.h and the
 * format at the top of ops.def). The rows are constants of the program text; the parsed form
 * is built on first use under pthread_once and never changes after, like a const table. A row
 * that does not parse leaves its op without parameters and ir_opsig_error() says why
 * (tests/test_opsig.py reads it through _core.mil_op_signatures()). */
#include "ir/ir.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int opset;
    const char *spec;
} rows[IR_OP_COUNT] = {
#define IR_OP(E, NAME, OPSET, RULE, SPEC, ...) [IR_OP_##E] = {NAME, OPSET, SPEC},
#include "ir/ops.def"
#undef IR_OP
};

#define MAX_PARAMS 1024

static struct {
    ir_opsig sig[IR_OP_COUNT];
    ir_param params[MAX_PARAMS];
    int used;
    char err[256];
} tab;
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static const char *const ptype_names[] = {
    [IR_PT_TENSOR] = "tensor", [IR_PT_INT] = "int",     [IR_PT_INTS] = "ints", [IR_PT_BOOL] = "bool",
    [IR_PT_BOOLS] = "bools",   [IR_PT_FLOAT] = "float", [IR_PT_STR] = "str",
};

const char *ir_ptype_name(ir_ptype t) { return t >= 0 && t <= IR_PT_STR ? ptype_names[t] : "?"; }

static int bad(const char *op, const char *tok, int len, const char *why) {
    if (!tab.err[0]) snprintf(tab.err, sizeof tab.err, "ops.def row '%s': parameter '%.*s': %s", op, len, tok, why);
    return -1;
}

/* The default value text v[0..n) of p. */
static int parse_default(const char *op, const char *tok, int len, ir_param *p, const char *v, int n) {
    char buf[64];
    if (n <= 0 || n >= (int)sizeof buf) return bad(op, tok, len, "empty or overlong default");
    memcpy(buf, v, (size_t)n);
    buf[n] = 0;
    p->dflt = IR_PD_VALUE;
    if (!strcmp(buf, "ones(s)") || !strcmp(buf, "zeros(2s)")) {
        if (p->type != IR_PT_INTS) return bad(op, tok, len, "a per-spatial-dim default needs type ints");
        p->dflt = buf[0] == 'o' ? IR_PD_ONES_S : IR_PD_ZEROS_2S;
        return 0;
    }
    if (p->type == IR_PT_STR) {
        if (n >= (int)sizeof p->str) return bad(op, tok, len, "string default too long");
        memcpy(p->str, buf, (size_t)n + 1);
        return 0;
    }
    if (p->type == IR_PT_BOOL) {
        if (strcmp(buf, "true") && strcmp(buf, "false")) return bad(op, tok, len, "a bool default is true or false");
        p->num = buf[0] == 't';
        return 0;
    }
    char *end;
    p->num = strtod(buf, &end);
    if (*end || end == buf) return bad(op, tok, len, "default is not a number");
    if (p->type == IR_PT_INT && p->num != (double)(int64_t)p->num) return bad(op, tok, len, "int default not whole");
    if (p->type != IR_PT_INT && p->type != IR_PT_FLOAT && p->type != IR_PT_TENSOR)
        return bad(op, tok, len, "a number default needs type int, float or tensor");
    return 0;
}

static int parse_param(const char *op, const char *tok, int len, ir_param *p) {
    memset(p, 0, sizeof *p);
    p->required = 1;
    int i = 0;
    while (i < len && ((tok[i] >= 'a' && tok[i] <= 'z') || (tok[i] >= '0' && tok[i] <= '9') || tok[i] == '_')) i++;
    if (i == 0 || i >= (int)sizeof p->name) return bad(op, tok, len, "bad name");
    memcpy(p->name, tok, (size_t)i);
    for (; i < len && strchr("?!*^", tok[i]); i++) {
        if (tok[i] == '?') p->required = 0;
        if (tok[i] == '!') p->konst = 1;
        if (tok[i] == '*') p->variadic = 1;
        if (tok[i] == '^') p->literal = 1;
    }
    if (i < len && tok[i] == ':') {
        int j = ++i;
        while (i < len && tok[i] >= 'a' && tok[i] <= 'z') i++;
        int found = 0;
        for (int t = 0; t <= IR_PT_STR; t++)
            if ((int)strlen(ptype_names[t]) == i - j && !strncmp(ptype_names[t], tok + j, (size_t)(i - j))) {
                p->type = (ir_ptype)t;
                found = 1;
            }
        if (!found) return bad(op, tok, len, "unknown type class");
    }
    if (i < len && (tok[i] == '=' || tok[i] == '~')) {
        p->written = tok[i] == '=';
        if (p->required && p->written) return bad(op, tok, len, "a required parameter's default is not written ('~')");
        return parse_default(op, tok, len, p, tok + i + 1, len - i - 1);
    }
    return i == len ? 0 : bad(op, tok, len, "unexpected characters");
}

static void parse_all(void) {
    for (int k = 0; k < IR_OP_COUNT; k++) {
        ir_opsig *s = &tab.sig[k];
        s->name = rows[k].name;
        s->opset = rows[k].opset;
        s->spec = rows[k].spec;
        s->params = tab.params + tab.used;
        if (s->opset < 15 || s->opset > 18) bad(s->name, "", 0, "first opset must be 15..18");
        for (const char *c = s->spec; *c;) {
            while (*c == ' ') c++;
            if (!*c) break;
            int len = (int)strcspn(c, " ");
            if (tab.used == MAX_PARAMS) {
                bad(s->name, c, len, "too many parameters in ops.def (MAX_PARAMS)");
                break;
            }
            ir_param *p = &tab.params[tab.used];
            if (parse_param(s->name, c, len, p) == 0) {
                for (int j = 0; j < s->nparams; j++)
                    if (!strcmp(s->params[j].name, p->name)) bad(s->name, c, len, "named twice");
                tab.used++;
                s->nparams++;
            }
            c += len;
        }
    }
}

static void init(void) { pthread_once(&tab_once, parse_all); }

const ir_opsig *ir_op_sig(ir_opkind k) {
    if (k < 0 || k >= IR_OP_COUNT) return NULL;
    init();
    return &tab.sig[k];
}

const ir_param *ir_op_param(ir_opkind k, const char *name) {
    const ir_opsig *s = ir_op_sig(k);
    if (!s || !name) return NULL;
    for (int i = 0; i < s->nparams; i++)
        if (!strcmp(s->params[i].name, name)) return &s->params[i];
    return NULL;
}

int ir_param_spatial_default(const ir_param *p, int s, int64_t *v) {
    if (!p || (p->dflt != IR_PD_ONES_S && p->dflt != IR_PD_ZEROS_2S)) return -1;
    int n = p->dflt == IR_PD_ONES_S ? s : 2 * s;
    for (int i = 0; i < n; i++) v[i] = p->dflt == IR_PD_ONES_S;
    return n;
}

const char *ir_opsig_error(void) {
    init();
    return tab.err[0] ? tab.err : NULL;
}
