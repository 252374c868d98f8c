/* parse.c: read the textual form written by ir/print.c back into a program.
 *
 * Grammar (`#` starts a comment to the end of the line):
 *   program := "program" "(" IDENT ")" func*
 *   func    := "func" IDENT ["<" IDENT ">"] "(" [decl ("," decl)*] ")" body
 *   body    := "{" stmt* "}" "->" "(" [ref ("," ref)*] ")"
 *   stmt    := (decl | "(" [decl ("," decl)*] ")") "=" IDENT "(" [arg ("," arg)*] ")"
 *              ["[" "name" "=" STRING "]"] ["{" ("block" "(" decls ")" body)* "}"]
 *   arg     := IDENT "=" (ref | "(" [ref ("," ref)*] ")" | literal)   # literal: const's val only
 *   decl    := ref ":" type;  ref := "%" (NAME | STRING)
 *   type    := ["list" "<"] DTYPE "[" ("*" | [dim ("," dim)*]) "]" [">"];  dim := INT | s<INT>
 * Names are unique per function; a reference must name a value defined earlier
 * in an enclosing scope. Errors give line:column and never abort.
 */
#include "ir/ir.h"
#include "ir/symtab.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { T_EOF, T_IDENT, T_NUM, T_STR, T_VAR, T_ARROW, T_PUNCT, T_BAD };

typedef struct {
    int kind;
    const char *start;
    size_t len;
    int line, col;
    const char *str; /* decoded text of STR / VAR / IDENT / NUM (arena) */
} token;

typedef struct { ir_value *v; int live; } binding;

typedef struct {
    const char *s;
    size_t pos;
    int line, col;
    token tok;
    ir_program *p;
    pc_err *e;
    int failed;
    ir_symtab names; /* name -> binding, per function */
    pc_vec scope;    /* bindings defined, in order; popped when a block ends */
    int depth;
} parser;

#define MAX_DEPTH 64

static int fail_at(parser *ps, const token *t, const char *what) {
    if (ps->failed) return -1;
    ps->failed = 1;
    if (t->kind == T_EOF)
        return pc_fail(ps->e, PC_E_VALUE, "ir_parse: line %d:%d: %s, got end of text", t->line, t->col, what);
    return pc_fail(ps->e, PC_E_VALUE, "ir_parse: line %d:%d: %s, got '%.*s'", t->line, t->col, what,
                   (int)PC_MIN(t->len, 40), t->start);
}

static int oom(parser *ps) {
    if (!ps->failed) pc_fail(ps->e, PC_E_NOMEM, "ir_parse: out of memory");
    ps->failed = 1;
    return -1;
}

static void adv(parser *ps, size_t n) {
    for (size_t i = 0; i < n && ps->s[ps->pos]; i++) {
        if (ps->s[ps->pos] == '\n') {
            ps->line++;
            ps->col = 1;
        } else {
            ps->col++;
        }
        ps->pos++;
    }
}

static int is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Decode a quoted string starting at s[0] == '"'; sets *len to the source length. */
static const char *lex_string(parser *ps, const char *s, size_t *len) {
    size_t i = 1, n = 0, end = 1;
    while (s[end] && s[end] != '"' && s[end] != '\n') end += (s[end] == '\\' && s[end + 1]) ? 2 : 1;
    char *out = pc_alloc(ps->p->arena, end); /* decoded text is never longer than the source */
    if (!out) return NULL;
    while (s[i] && s[i] != '"' && s[i] != '\n') {
        char c = s[i++];
        if (c == '\\') {
            char d = s[i] ? s[i++] : 0;
            switch (d) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case '"': c = '"'; break;
            case '\\': c = '\\'; break;
            case 'x':
                if (hexval(s[i]) < 0 || hexval(s[i + 1]) < 0) return NULL;
                c = (char)(hexval(s[i]) * 16 + hexval(s[i + 1]));
                i += 2;
                break;
            default: return NULL;
            }
        }
        out[n++] = c;
    }
    if (s[i] != '"') return NULL;
    *len = i + 1;
    return out;
}

static void next(parser *ps) {
    for (;;) { /* skip space and comments */
        char c = ps->s[ps->pos];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') adv(ps, 1);
        else if (c == '#')
            while (ps->s[ps->pos] && ps->s[ps->pos] != '\n') adv(ps, 1);
        else break;
    }
    token *t = &ps->tok;
    const char *s = ps->s + ps->pos;
    t->start = s;
    t->line = ps->line;
    t->col = ps->col;
    t->str = NULL;
    t->len = 1;
    char c = *s;
    if (!c) {
        t->kind = T_EOF;
        t->len = 0;
    } else if (c == '-' && s[1] == '>') {
        t->kind = T_ARROW;
        t->len = 2;
    } else if (c == '%') {
        t->kind = T_VAR;
        if (s[1] == '"') {
            size_t n;
            t->str = lex_string(ps, s + 1, &n);
            t->len = t->str ? n + 1 : 1;
            if (!t->str) t->kind = T_BAD;
        } else {
            size_t n = 1;
            while (is_word(s[n])) n++;
            t->len = n;
            t->str = n > 1 ? pc_strndup(ps->p->arena, s + 1, n - 1) : NULL;
            if (!t->str) t->kind = T_BAD;
        }
    } else if (c == '"') {
        t->kind = T_STR;
        size_t n;
        t->str = lex_string(ps, s, &n);
        t->len = t->str ? n : 1;
        if (!t->str) t->kind = T_BAD;
    } else if ((c >= '0' && c <= '9') || c == '-' || c == '+' || (c == '.' && s[1] >= '0' && s[1] <= '9')) {
        size_t n = 1;
        while (is_word(s[n]) || ((s[n] == '-' || s[n] == '+') && (s[n - 1] == 'e' || s[n - 1] == 'E'))) n++;
        t->kind = T_NUM;
        t->len = n;
        t->str = pc_strndup(ps->p->arena, s, n);
    } else if (is_word(c)) {
        size_t n = 1;
        while (is_word(s[n])) n++;
        t->kind = T_IDENT;
        t->len = n;
        t->str = pc_strndup(ps->p->arena, s, n);
    } else if (strchr("()[]{},:=<>*", c)) {
        t->kind = T_PUNCT;
    } else {
        t->kind = T_BAD;
    }
    if ((t->kind == T_NUM || t->kind == T_IDENT) && !t->str) {
        oom(ps);
        t->kind = T_EOF;
        return;
    }
    adv(ps, t->len);
}

static int is_punct(const parser *ps, char c) { return ps->tok.kind == T_PUNCT && ps->tok.start[0] == c; }
static int is_ident(const parser *ps, const char *w) { return ps->tok.kind == T_IDENT && strcmp(ps->tok.str, w) == 0; }

static int expect_punct(parser *ps, char c) {
    if (ps->failed) return -1;
    if (!is_punct(ps, c)) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return fail_at(ps, &ps->tok, what);
    }
    next(ps);
    return 0;
}

static const char *expect_ident(parser *ps, const char *what) {
    if (ps->failed) return NULL;
    if (ps->tok.kind != T_IDENT) {
        fail_at(ps, &ps->tok, what);
        return NULL;
    }
    const char *s = ps->tok.str;
    next(ps);
    return s;
}

/* ---- types ---- */
static int parse_type(parser *ps, ir_type *t) {
    memset(t, 0, sizeof *t);
    int list = 0;
    if (is_ident(ps, "dict")) { /* dict<key dtype,fp64> */
        next(ps);
        if (expect_punct(ps, '<')) return -1;
        token kt = ps->tok;
        const char *key = expect_ident(ps, "expected the key dtype of a dict (string or int64)");
        if (!key) return -1;
        t->kind = IR_TK_DICT;
        t->dtype = ir_dtype_from_name(key);
        if (t->dtype != IR_STRING && t->dtype != IR_INT64) return fail_at(ps, &kt, "dict keys are string or int64");
        if (expect_punct(ps, ',')) return -1;
        token vt = ps->tok;
        const char *val = expect_ident(ps, "expected the value dtype of a dict (fp64)");
        if (!val) return -1;
        if (strcmp(val, "fp64") != 0) return fail_at(ps, &vt, "dict values are fp64");
        return expect_punct(ps, '>');
    }
    if (is_ident(ps, "list") || is_ident(ps, "state")) {
        list = is_ident(ps, "list") ? 1 : 2;
        next(ps);
        if (expect_punct(ps, '<')) return -1;
    }
    token dt_tok = ps->tok;
    const char *dt = expect_ident(ps, "expected a dtype (fp32, int32, ...)");
    if (!dt) return -1;
    t->kind = list == 1 ? IR_TK_LIST : list == 2 ? IR_TK_STATE : IR_TK_TENSOR;
    t->dtype = ir_dtype_from_name(dt);
    if (t->dtype == IR_DT_INVALID) return fail_at(ps, &dt_tok, "unknown dtype");
    if (expect_punct(ps, '[')) return -1;
    if (is_punct(ps, '*')) {
        t->rank = -1;
        next(ps);
    } else {
        while (!is_punct(ps, ']') && !ps->failed) {
            if (t->rank && expect_punct(ps, ',')) return -1;
            if (t->rank == IR_MAX_RANK) return fail_at(ps, &ps->tok, "rank exceeds 8");
            token dk = ps->tok;
            char *end = NULL;
            errno = 0;
            if (dk.kind == T_NUM) {
                long long d = strtoll(dk.str, &end, 10);
                if (*end || errno || d < 0) return fail_at(ps, &dk, "expected a dimension (size >= 0 or s<N>)");
                t->dims[t->rank++] = d;
            } else if (dk.kind == T_IDENT && dk.str[0] == 's' && dk.str[1] >= '0' && dk.str[1] <= '9') {
                long long id = strtoll(dk.str + 1, &end, 10);
                if (*end || errno || id > 1000000) return fail_at(ps, &dk, "bad symbolic dimension");
                t->dims[t->rank++] = IR_SYM(id);
                if (ps->p->next_symbol <= id) ps->p->next_symbol = (int)id + 1;
            } else {
                return fail_at(ps, &dk, "expected a dimension (size >= 0 or s<N>)");
            }
            next(ps);
        }
    }
    if (!ps->failed && ir_type_too_large(t)) return fail_at(ps, &dt_tok, "shape too large (element count overflows)");
    if (expect_punct(ps, ']')) return -1;
    if (list && expect_punct(ps, '>')) return -1;
    return ps->failed ? -1 : 0;
}

/* ---- names and scopes ---- */
static int define(parser *ps, const token *at, ir_value *v) {
    if (ir_symtab_get(&ps->names, v->name)) return fail_at(ps, at, "duplicate value name");
    binding *b = pc_alloc(ps->p->arena, sizeof *b);
    if (!b || ir_symtab_put(&ps->names, v->name, b) || pc_vec_push(ps->p->arena, &ps->scope, b)) return oom(ps);
    b->v = v;
    b->live = 1;
    return 0;
}

static void pop_scope(parser *ps, int mark) {
    while (ps->scope.n > mark) ((binding *)ps->scope.v[--ps->scope.n])->live = 0;
}

static ir_value *parse_ref(parser *ps) {
    if (ps->failed) return NULL;
    if (ps->tok.kind != T_VAR) {
        fail_at(ps, &ps->tok, "expected a %value");
        return NULL;
    }
    binding *b = ir_symtab_get(&ps->names, ps->tok.str);
    if (!b) {
        fail_at(ps, &ps->tok, "undefined value");
        return NULL;
    }
    if (!b->live) {
        fail_at(ps, &ps->tok, "value used out of its block's scope");
        return NULL;
    }
    next(ps);
    return b->v;
}

/* decl := %name ":" type; name is returned with its token for errors. */
static int parse_decl(parser *ps, const char **name, token *at, ir_type *t) {
    if (ps->failed) return -1;
    if (ps->tok.kind != T_VAR) return fail_at(ps, &ps->tok, "expected a %value declaration");
    *at = ps->tok;
    *name = ps->tok.str;
    next(ps);
    if (expect_punct(ps, ':')) return -1;
    return parse_type(ps, t);
}

/* "(" [ref ("," ref)*] ")" into a vector. */
static int parse_ref_list(parser *ps, pc_vec *out) {
    if (expect_punct(ps, '(')) return -1;
    while (!is_punct(ps, ')') && !ps->failed) {
        if (out->n && expect_punct(ps, ',')) return -1;
        ir_value *v = parse_ref(ps);
        if (!v) return -1;
        if (pc_vec_push(ps->p->arena, out, v)) return oom(ps);
    }
    return expect_punct(ps, ')');
}

/* ---- const literals ---- */
static ir_dtype store_of(ir_dtype dt) { return dt == IR_FP16 ? IR_FP32 : dt; }

static int parse_elem(parser *ps, ir_dtype dt, void *dst) {
    token t = ps->tok;
    char *end = NULL;
    errno = 0;
    if (dt == IR_STRING) {
        if (t.kind != T_STR) return fail_at(ps, &t, "expected a string");
        *(const char **)dst = t.str;
    } else if (dt == IR_BOOL) {
        if (t.kind != T_IDENT || (strcmp(t.str, "true") && strcmp(t.str, "false")))
            return fail_at(ps, &t, "expected true or false");
        *(uint8_t *)dst = t.str[0] == 't';
    } else if (ir_dtype_is_float(dt)) {
        if (t.kind != T_NUM && !(t.kind == T_IDENT && (!strcmp(t.str, "inf") || !strcmp(t.str, "nan"))))
            return fail_at(ps, &t, "expected a number");
        double d = strtod(t.str, &end);
        if (*end) return fail_at(ps, &t, "expected a number");
        if (dt == IR_FP64) *(double *)dst = d;
        else *(float *)dst = (float)d;
    } else if (dt == IR_UINT64) {
        if (t.kind != T_NUM || t.str[0] == '-') return fail_at(ps, &t, "expected an unsigned integer");
        unsigned long long u = strtoull(t.str, &end, 10);
        if (*end || errno) return fail_at(ps, &t, "expected an unsigned integer");
        *(uint64_t *)dst = u;
    } else {
        if (t.kind != T_NUM) return fail_at(ps, &t, "expected an integer");
        long long v = strtoll(t.str, &end, 10);
        if (*end || errno) return fail_at(ps, &t, "expected an integer");
        static const struct { ir_dtype dt; long long lo, hi; } lim[] = {
            {IR_INT8, INT8_MIN, INT8_MAX},    {IR_INT16, INT16_MIN, INT16_MAX}, {IR_INT32, INT32_MIN, INT32_MAX},
            {IR_INT64, INT64_MIN, INT64_MAX}, {IR_UINT8, 0, UINT8_MAX},         {IR_UINT16, 0, UINT16_MAX},
            {IR_UINT32, 0, UINT32_MAX},
        };
        for (int i = 0; i < PC_ARRAY_LEN(lim); i++)
            if (lim[i].dt == dt && (v < lim[i].lo || v > lim[i].hi)) return fail_at(ps, &t, "integer out of range");
        switch (dt) {
        case IR_INT8: *(int8_t *)dst = (int8_t)v; break;
        case IR_INT16: *(int16_t *)dst = (int16_t)v; break;
        case IR_INT32: *(int32_t *)dst = (int32_t)v; break;
        case IR_INT64: *(int64_t *)dst = (int64_t)v; break;
        case IR_UINT8: *(uint8_t *)dst = (uint8_t)v; break;
        case IR_UINT16: *(uint16_t *)dst = (uint16_t)v; break;
        case IR_UINT32: *(uint32_t *)dst = (uint32_t)v; break;
        default: return fail_at(ps, &t, "unsupported const dtype");
        }
    }
    next(ps);
    return 0;
}

/* A scalar or "[" elems "]" of type t; payload in the arena. */
static const void *parse_literal(parser *ps, const ir_type *t, ir_dtype *store) {
    token at = ps->tok;
    if (t->kind != IR_TK_TENSOR || !ir_type_is_static(t)) {
        fail_at(ps, &at, "a const needs a static tensor type");
        return NULL;
    }
    if (is_punct(ps, '<')) {
        fail_at(ps, &at, "elided const payload cannot be read back (print with max_const=-1)");
        return NULL;
    }
    int64_t numel = ir_type_numel(t);
    *store = store_of(t->dtype);
    size_t es = ir_dtype_size(*store);
    int64_t cap = 16, n = 0;
    unsigned char *buf = pc_alloc(ps->p->arena, es * (size_t)cap);
    if (!buf || !es) return oom(ps), NULL;
    int bracket = is_punct(ps, '[');
    if (bracket) next(ps);
    while (!ps->failed && !(bracket && is_punct(ps, ']'))) {
        if (n && bracket && expect_punct(ps, ',')) return NULL;
        if (n == numel) {
            fail_at(ps, &ps->tok, "more const elements than the type holds");
            return NULL;
        }
        if (n == cap) { /* grow; old storage stays in the arena */
            unsigned char *nb = pc_alloc(ps->p->arena, es * (size_t)cap * 2);
            if (!nb) return oom(ps), NULL;
            memcpy(nb, buf, es * (size_t)cap);
            buf = nb;
            cap *= 2;
        }
        if (parse_elem(ps, t->dtype, buf + es * (size_t)n)) return NULL;
        n++;
        if (!bracket) break;
    }
    if (bracket && expect_punct(ps, ']')) return NULL;
    if (!ps->failed && n != numel) {
        char msg[128];
        snprintf(msg, sizeof msg, "const has %lld elements, its type holds %lld", (long long)n, (long long)numel);
        fail_at(ps, &at, msg);
    }
    return ps->failed ? NULL : buf;
}

/* ---- ops and blocks ---- */
static int parse_body(parser *ps, ir_block *b, int mark);

static int parse_blocks(parser *ps, ir_op *op) {
    if (expect_punct(ps, '{')) return -1;
    while (is_ident(ps, "block") && !ps->failed) {
        next(ps);
        ir_block *b = ir_op_add_block(op);
        if (!b) return oom(ps);
        int mark = ps->scope.n;
        if (expect_punct(ps, '(')) return -1;
        while (!is_punct(ps, ')') && !ps->failed) {
            if (b->nin && expect_punct(ps, ',')) return -1;
            const char *nm;
            token at;
            ir_type t;
            if (parse_decl(ps, &nm, &at, &t)) return -1;
            ir_value *v = ir_block_add_input(b, nm, t);
            if (!v) return oom(ps);
            if (define(ps, &at, v)) return -1;
        }
        if (expect_punct(ps, ')') || parse_body(ps, b, mark)) return -1;
    }
    return expect_punct(ps, '}');
}

static int parse_stmt(parser *ps, ir_block *blk) {
    pc_arena *a = ps->p->arena;
    pc_vec names = {0}, toks = {0}, types = {0};
    if (is_punct(ps, '(')) {
        next(ps);
        while (!is_punct(ps, ')') && !ps->failed) {
            if (names.n && expect_punct(ps, ',')) return -1;
            const char *nm;
            token *at = pc_alloc(a, sizeof *at);
            ir_type *t = pc_alloc(a, sizeof *t);
            if (!at || !t) return oom(ps);
            if (parse_decl(ps, &nm, at, t)) return -1;
            if (pc_vec_push(a, &names, (void *)nm) || pc_vec_push(a, &toks, at) || pc_vec_push(a, &types, t))
                return oom(ps);
        }
        if (expect_punct(ps, ')')) return -1;
    } else {
        const char *nm;
        token *at = pc_alloc(a, sizeof *at);
        ir_type *t = pc_alloc(a, sizeof *t);
        if (!at || !t) return oom(ps);
        if (parse_decl(ps, &nm, at, t)) return -1;
        if (pc_vec_push(a, &names, (void *)nm) || pc_vec_push(a, &toks, at) || pc_vec_push(a, &types, t))
            return oom(ps);
    }
    if (expect_punct(ps, '=')) return -1;
    token type_tok = ps->tok;
    const char *type = expect_ident(ps, "expected an op type");
    if (!type) return -1;
    ir_opkind kind = ir_op_kind_from_name(type);
    int is_const = kind == IR_OP_CONST;
    if (is_const && names.n != 1) return fail_at(ps, &type_tok, "a const has exactly one output");
    /* the op is created now (named later) so inputs can be bound while reading */
    ir_op *op = NULL;
    const void *payload = NULL;
    ir_dtype store = IR_DT_INVALID;
    if (!is_const) {
        op = ir_op_new(ps->p, blk, kind, names.n ? (const char *)names.v[0] : type);
        if (!op) return oom(ps);
        if (kind == IR_OP_UNKNOWN && !(op->type_name = pc_strdup(a, type))) return oom(ps);
    }
    if (expect_punct(ps, '(')) return -1;
    int nargs = 0;
    while (!is_punct(ps, ')') && !ps->failed) {
        if (nargs++ && expect_punct(ps, ',')) return -1;
        token at = ps->tok;
        const char *pname = expect_ident(ps, "expected a parameter name");
        if (!pname || expect_punct(ps, '=')) return -1;
        if (is_const) {
            if (strcmp(pname, "val") || payload) return fail_at(ps, &at, "a const takes one parameter, val");
            if (!(payload = parse_literal(ps, (ir_type *)types.v[0], &store))) return -1;
        } else if (ir_op_arg(op, pname)) {
            return fail_at(ps, &at, "parameter given twice");
        } else if (is_punct(ps, '(')) {
            pc_vec refs = {0};
            if (parse_ref_list(ps, &refs) || ir_op_set_inputs(op, pname, refs.n, (ir_value **)refs.v)) return -1;
        } else {
            ir_value *v = parse_ref(ps);
            if (!v) return -1;
            if (ir_op_set_input(op, pname, v)) return oom(ps);
        }
    }
    if (expect_punct(ps, ')')) return -1;
    if (is_const && !payload) return fail_at(ps, &type_tok, "a const needs val=...");
    const char *opname = names.n ? (const char *)names.v[0] : NULL;
    if (is_punct(ps, '[')) {
        next(ps);
        if (!is_ident(ps, "name")) return fail_at(ps, &ps->tok, "expected name=\"...\"");
        next(ps);
        if (expect_punct(ps, '=')) return -1;
        if (ps->tok.kind != T_STR) return fail_at(ps, &ps->tok, "expected a quoted op name");
        opname = ps->tok.str;
        next(ps);
        if (expect_punct(ps, ']')) return -1;
    }
    if (is_const) {
        ir_value *v = ir_const_new(ps->p, blk, opname, *(ir_type *)types.v[0], store, payload, 0);
        if (!v) return oom(ps);
        v->name = names.v[0];
        op = v->def;
    } else {
        if (opname && !(op->name = pc_strdup(a, opname))) return oom(ps);
        for (int i = 0; i < names.n; i++)
            if (!ir_op_add_output(op, names.v[i], *(ir_type *)types.v[i])) return oom(ps);
        if (is_punct(ps, '{')) {
            if (++ps->depth > MAX_DEPTH) return fail_at(ps, &ps->tok, "blocks nested too deeply");
            if (parse_blocks(ps, op)) return -1;
            ps->depth--;
        }
    }
    for (int i = 0; i < op->nout; i++)
        if (define(ps, (token *)toks.v[i], op->out[i])) return -1;
    return 0;
}

/* "{" stmt* "}" "->" "(" refs ")"; ends the scope opened at `mark`. */
static int parse_body(parser *ps, ir_block *b, int mark) {
    if (expect_punct(ps, '{')) return -1;
    while (!is_punct(ps, '}') && !ps->failed) {
        if (ps->tok.kind == T_EOF) return fail_at(ps, &ps->tok, "expected '}'");
        if (parse_stmt(ps, b)) return -1;
    }
    if (expect_punct(ps, '}')) return -1;
    if (ps->tok.kind != T_ARROW) return fail_at(ps, &ps->tok, "expected '-> (outputs)'");
    next(ps);
    pc_vec outs = {0};
    if (parse_ref_list(ps, &outs)) return -1;
    if (ir_block_set_outputs(b, outs.n, (ir_value **)outs.v)) return oom(ps);
    pop_scope(ps, mark);
    return 0;
}

static int parse_func(parser *ps, const char *opset) {
    const char *name = expect_ident(ps, "expected a function name");
    if (!name) return -1;
    if (is_punct(ps, '<')) {
        next(ps);
        if (!(opset = expect_ident(ps, "expected an opset")) || expect_punct(ps, '>')) return -1;
    }
    for (int i = 0; i < ps->p->nfunc; i++)
        if (strcmp(ps->p->funcs[i]->name, name) == 0) return fail_at(ps, &ps->tok, "duplicate function name");
    ir_function *fn = ir_function_new(ps->p, name, opset);
    if (!fn || ir_symtab_init(&ps->names, ps->p->arena)) return oom(ps);
    ps->scope.n = 0;
    if (expect_punct(ps, '(')) return -1;
    while (!is_punct(ps, ')') && !ps->failed) {
        if (fn->nin && expect_punct(ps, ',')) return -1;
        const char *nm;
        token at;
        ir_type t;
        if (parse_decl(ps, &nm, &at, &t)) return -1;
        ir_value *v = ir_function_add_input(fn, nm, t);
        if (!v) return oom(ps);
        if (define(ps, &at, v)) return -1;
    }
    if (expect_punct(ps, ')')) return -1;
    return parse_body(ps, fn->body, 0);
}

/* Parse a whole program; on failure *out is NULL and e says where. */
int ir_parse(const char *text, ir_program **out, pc_err *e) {
    *out = NULL;
    if (!text) return pc_fail(e, PC_E_VALUE, "ir_parse: no text");
    parser ps;
    memset(&ps, 0, sizeof ps);
    ps.s = text;
    ps.line = ps.col = 1;
    ps.e = e;
    ps.p = ir_program_new();
    if (!ps.p) return pc_fail(e, PC_E_NOMEM, "ir_parse: out of memory");
    next(&ps);
    const char *opset = NULL;
    if (!is_ident(&ps, "program")) fail_at(&ps, &ps.tok, "expected 'program(<opset>)'");
    else next(&ps);
    if (!expect_punct(&ps, '(')) opset = expect_ident(&ps, "expected an opset");
    expect_punct(&ps, ')');
    while (!ps.failed && is_ident(&ps, "func")) {
        next(&ps);
        parse_func(&ps, opset);
    }
    if (!ps.failed && ps.tok.kind != T_EOF) fail_at(&ps, &ps.tok, "expected 'func' or end of text");
    if (ps.failed) {
        ir_program_free(ps.p);
        return -1;
    }
    *out = ps.p;
    return 0;
}
