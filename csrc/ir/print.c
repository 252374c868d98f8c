/* print.c: the textual form of a program (see ir.h; ir/parse.c reads it back).
 *
 *   program(CoreML5)
 *   func main(%x: fp32[1,3,8,8]) {
 *     %c: int32[2] = const(val=[1, 2])
 *     %y: fp32[1,4,6,6] = conv(x=%x, weight=%w, pad=%c)
 *     (%a: fp32[2], %b: fp32[2]) = split(x=%v, num_splits=%n, axis=%ax)
 *     %z: fp32[3] = concat(values=(%a, %b), axis=%ax, interleave=%f)
 *     %r: fp32[2] = cond(pred=%p) {
 *       block() {
 *         ...
 *       } -> (%t)
 *       block() {
 *       } -> (%e)
 *     }
 *   } -> (%z)
 *
 * A function whose opset differs from the program's (the first function's) is
 * written `func name<CoreML6>(...)`. An op whose MIL name differs from its first
 * output's name carries ` [name="..."]` after its arguments. Value names made of
 * [A-Za-z0-9_.] print bare, others quoted (%"a b"). Const payloads print flat in
 * C order; floats in the shortest %g form (at most %.9g, fp64 %.17g) that reads
 * back exactly.
 */
#include "ir/ir.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1) cap *= 2;
        char *ns = realloc(b->s, cap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void sb_puts(sbuf *b, const char *s) { sb_putn(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) {
        sb_putn(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    sb_putn(b, big, (size_t)n);
    free(big);
}

static void indent(sbuf *b, int depth) {
    for (int i = 0; i < depth; i++) sb_puts(b, "  ");
}

/* A quoted string with \" \\ \n \t \r and \xHH escapes. */
static void put_quoted(sbuf *b, const char *s) {
    sb_puts(b, "\"");
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        switch (*c) {
        case '"': sb_puts(b, "\\\""); break;
        case '\\': sb_puts(b, "\\\\"); break;
        case '\n': sb_puts(b, "\\n"); break;
        case '\t': sb_puts(b, "\\t"); break;
        case '\r': sb_puts(b, "\\r"); break;
        default:
            if (*c < 0x20 || *c == 0x7f) sb_printf(b, "\\x%02x", *c);
            else sb_putn(b, (const char *)c, 1);
        }
    }
    sb_puts(b, "\"");
}

static int bare_name(const char *s) {
    if (!s || !*s) return 0;
    for (const char *c = s; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
              *c == '.'))
            return 0;
    return 1;
}

static void put_name(sbuf *b, const char *s) {
    sb_puts(b, "%");
    if (bare_name(s)) sb_puts(b, s);
    else put_quoted(b, s);
}

static void put_type(sbuf *b, const ir_type *t) {
    char buf[256];
    sb_puts(b, ir_type_str(t, buf, sizeof buf));
}

static void put_decl(sbuf *b, const ir_value *v) {
    put_name(b, v->name);
    sb_puts(b, ": ");
    put_type(b, &v->type);
}

static void put_float(sbuf *b, double d, int dbl) {
    if (isnan(d)) sb_puts(b, "nan");
    else if (isinf(d)) sb_puts(b, d < 0 ? "-inf" : "inf");
    else { /* the shortest %g form that reads back to the same value */
        char tmp[40];
        for (int prec = dbl ? 15 : 6; prec <= (dbl ? 17 : 9); prec++) {
            snprintf(tmp, sizeof tmp, "%.*g", prec, d);
            if (dbl ? strtod(tmp, NULL) == d : strtof(tmp, NULL) == (float)d) break;
        }
        sb_puts(b, tmp);
    }
}

static void put_elem(sbuf *b, const ir_value *v, int64_t i) {
    const ir_const *c = v->konst;
    ir_dtype dt = v->type.dtype;
    if (dt == IR_STRING || c->store == IR_STRING) {
        put_quoted(b, c->store == IR_STRING ? ((const char *const *)c->data)[i] : "");
    } else if (dt == IR_BOOL) {
        sb_puts(b, ir_const_get_f64(c, i) != 0.0 ? "true" : "false");
    } else if (ir_dtype_is_float(dt)) {
        put_float(b, ir_const_get_f64(c, i), dt == IR_FP64);
    } else if (dt == IR_UINT64 && c->store == IR_UINT64) {
        sb_printf(b, "%llu", (unsigned long long)((const uint64_t *)c->data)[i]);
    } else {
        sb_printf(b, "%lld", (long long)ir_const_get_i64(c, i));
    }
}

static void put_payload(sbuf *b, const ir_value *v, int max_const) {
    const ir_const *c = v->konst;
    if (!c || !c->data) {
        sb_puts(b, "<no payload>");
        return;
    }
    int is_str = v->type.dtype == IR_STRING;
    if (max_const >= 0 && c->count > max_const && !is_str) {
        sb_printf(b, "<%lld elements>", (long long)c->count);
        return;
    }
    if (v->type.rank == 0 && c->count == 1) {
        put_elem(b, v, 0);
        return;
    }
    sb_puts(b, "[");
    for (int64_t i = 0; i < c->count && !b->oom; i++) {
        if (i) sb_puts(b, ", ");
        put_elem(b, v, i);
    }
    sb_puts(b, "]");
}

static void put_block(sbuf *b, const ir_block *blk, int depth, int max_const);

static void put_op(sbuf *b, const ir_op *op, int depth, int max_const) {
    indent(b, depth);
    if (op->nout == 1) {
        put_decl(b, op->out[0]);
    } else {
        sb_puts(b, "(");
        for (int i = 0; i < op->nout; i++) {
            if (i) sb_puts(b, ", ");
            put_decl(b, op->out[i]);
        }
        sb_puts(b, ")");
    }
    sb_printf(b, " = %s(", op->type_name ? op->type_name : ir_op_kind_name(op->kind));
    int first = 1;
    if (op->kind == IR_OP_CONST && op->nout == 1) {
        sb_puts(b, "val=");
        put_payload(b, op->out[0], max_const);
        first = 0;
    }
    for (int i = 0; i < op->nin; i++) {
        const ir_arg *a = &op->in[i];
        if (!first) sb_puts(b, ", ");
        first = 0;
        sb_printf(b, "%s=", a->name);
        if (a->n == 1) {
            put_name(b, a->v[0]->name);
        } else {
            sb_puts(b, "(");
            for (int j = 0; j < a->n; j++) {
                if (j) sb_puts(b, ", ");
                put_name(b, a->v[j]->name);
            }
            sb_puts(b, ")");
        }
    }
    sb_puts(b, ")");
    if (op->name && (op->nout == 0 || strcmp(op->name, op->out[0]->name) != 0)) {
        sb_puts(b, " [name=");
        put_quoted(b, op->name);
        sb_puts(b, "]");
    }
    if (op->nblocks) {
        sb_puts(b, " {\n");
        for (int k = 0; k < op->nblocks; k++) {
            const ir_block *blk = op->blocks[k];
            indent(b, depth + 1);
            sb_puts(b, "block(");
            for (int i = 0; i < blk->nin; i++) {
                if (i) sb_puts(b, ", ");
                put_decl(b, blk->in[i]);
            }
            sb_puts(b, ")");
            put_block(b, blk, depth + 1, max_const);
            sb_puts(b, "\n");
        }
        indent(b, depth);
        sb_puts(b, "}");
    }
    sb_puts(b, "\n");
}

/* " {\n" ops "} -> (outs)" with the closing brace at `depth`. */
static void put_block(sbuf *b, const ir_block *blk, int depth, int max_const) {
    sb_puts(b, " {\n");
    for (const ir_op *op = blk->first; op && !b->oom; op = op->next) put_op(b, op, depth + 1, max_const);
    indent(b, depth);
    sb_puts(b, "} -> (");
    for (int i = 0; i < blk->nout; i++) {
        if (i) sb_puts(b, ", ");
        put_name(b, blk->out[i]->name);
    }
    sb_puts(b, ")");
}

/* The program as text into a malloc'd string; NULL on OOM. */
char *ir_print_str(const ir_program *p, int max_const) {
    sbuf b = {0};
    const char *opset = p->nfunc ? p->funcs[0]->opset : "CoreML5";
    sb_printf(&b, "program(%s)\n", opset);
    for (int f = 0; f < p->nfunc; f++) {
        const ir_function *fn = p->funcs[f];
        sb_printf(&b, "func %s", fn->name);
        if (strcmp(fn->opset, opset) != 0) sb_printf(&b, "<%s>", fn->opset);
        sb_puts(&b, "(");
        for (int i = 0; i < fn->nin; i++) {
            if (i) sb_puts(&b, ", ");
            put_decl(&b, fn->in[i]);
        }
        sb_puts(&b, ")");
        put_block(&b, fn->body, 0, max_const);
        sb_puts(&b, "\n");
    }
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* One op as text into a malloc'd string; NULL on OOM. */
char *ir_print_op_str(const ir_op *op, int depth, int max_const) {
    sbuf b = {0};
    put_op(&b, op, depth, max_const);
    if (b.oom) {
        free(b.s);
        return NULL;
    }
    return b.s;
}

/* Write the text form to f; 0 or -1 (OOM or write error). */
int ir_print(FILE *f, const ir_program *p, int max_const) {
    char *s = ir_print_str(p, max_const);
    if (!s) return -1;
    int r = fputs(s, f) < 0 ? -1 : 0;
    free(s);
    return r;
}
