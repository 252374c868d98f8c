/* json.c: a strict JSON reader (RFC 8259), see json.h. Integer literals are also kept exactly
 * (int64); duplicate keys of a large object are found through a hash of its keys. */
#include "common/json.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define JS_MAX_DEPTH 64

typedef struct {
    const char *s, *end, *p;
    const char *what;
    pc_arena *a;
    pc_err *e;
} jsp;

static int js_fail(jsp *j, const char *msg) {
    int line = 1, col = 1;
    for (const char *q = j->s; q < j->p && q < j->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return pc_fail(j->e, PC_E_FORMAT, "%s: bad JSON at line %d, column %d: %s", j->what, line, col, msg);
}

static void js_ws(jsp *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int js_hex4(jsp *j, unsigned *out) {
    if (j->end - j->p < 4) return js_fail(j, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return js_fail(j, "bad hex digit in \\u escape");
    }
    j->p += 4;
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the valid UTF-8 sequence at p (0 if invalid). */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned c = p[0];
    size_t n;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) n = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800;
    else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000;
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    unsigned cp = c & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

/* A string starting at the opening quote; result NUL-terminated in the arena. */
static int js_string(jsp *j, const char **out) {
    j->p++; /* opening quote */
    const char *start = j->p;
    /* decoded text is never longer than the source */
    const char *q = start;
    while (q < j->end && *q != '"') q += (*q == '\\' && q + 1 < j->end) ? 2 : 1;
    if (q >= j->end) return js_fail(j, "unterminated string");
    char *buf = pc_alloc(j->a, (size_t)(q - start) + 1);
    if (!buf) return pc_fail(j->e, PC_E_NOMEM, "%s: out of memory reading JSON", j->what);
    size_t n = 0;
    while (*j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) return js_fail(j, "control character in string");
        if (c != '\\') {
            size_t l = utf8_len((const unsigned char *)j->p, (const unsigned char *)j->end);
            if (!l) return js_fail(j, "invalid UTF-8 in string");
            memcpy(buf + n, j->p, l);
            n += l;
            j->p += l;
            continue;
        }
        j->p++;
        char esc = *j->p++;
        switch (esc) {
        case '"': buf[n++] = '"'; break;
        case '\\': buf[n++] = '\\'; break;
        case '/': buf[n++] = '/'; break;
        case 'b': buf[n++] = '\b'; break;
        case 'f': buf[n++] = '\f'; break;
        case 'n': buf[n++] = '\n'; break;
        case 'r': buf[n++] = '\r'; break;
        case 't': buf[n++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (js_hex4(j, &cp)) return -1;
            if (cp >= 0xDC00 && cp <= 0xDFFF) return js_fail(j, "lone low surrogate in \\u escape");
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (j->end - j->p < 2 || j->p[0] != '\\' || j->p[1] != 'u')
                    return js_fail(j, "lone high surrogate in \\u escape");
                j->p += 2;
                if (js_hex4(j, &lo)) return -1;
                if (lo < 0xDC00 || lo > 0xDFFF) return js_fail(j, "bad surrogate pair in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            if (cp == 0) return js_fail(j, "NUL character in string");
            n += put_utf8(buf + n, cp);
            break;
        }
        default: j->p--; return js_fail(j, "bad escape in string");
        }
    }
    j->p++; /* closing quote */
    buf[n] = 0;
    *out = buf;
    return 0;
}

static int js_number(jsp *j, pc_json *v) {
    double *out = &v->num;
    const char *st = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    if (j->p >= j->end) return js_fail(j, "truncated number");
    if (*j->p == '0') {
        j->p++;
    } else if (*j->p >= '1' && *j->p <= '9') {
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    } else {
        return js_fail(j, "bad number");
    }
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return js_fail(j, "bad number: digit expected after '.'");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-')) j->p++;
        if (j->p >= j->end || *j->p < '0' || *j->p > '9') return js_fail(j, "bad number: digit expected in exponent");
        while (j->p < j->end && *j->p >= '0' && *j->p <= '9') j->p++;
    }
    char tmp[64];
    size_t l = (size_t)(j->p - st);
    int integral = 1;
    for (const char *q = st; q < j->p; q++)
        if (*q == '.' || *q == 'e' || *q == 'E') integral = 0;
    if (integral && l < sizeof tmp) {
        memcpy(tmp, st, l);
        tmp[l] = 0;
        errno = 0;
        long long x = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            v->is_int = 1;
            v->i = x;
        }
    }
    if (l >= sizeof tmp) {
        *out = 0; /* absurdly long literal: value irrelevant for our documents */
        char *big = pc_strndup(j->a, st, l);
        if (big) *out = strtod(big, NULL);
        return 0;
    }
    memcpy(tmp, st, l);
    tmp[l] = 0;
    *out = strtod(tmp, NULL);
    return 0;
}

static int js_literal(jsp *j, const char *word) {
    size_t l = strlen(word);
    if ((size_t)(j->end - j->p) < l || memcmp(j->p, word, l) != 0) return js_fail(j, "unexpected character");
    j->p += l;
    return 0;
}

static int js_value(jsp *j, pc_json **out, int depth);

static int js_push(jsp *j, pc_json *v, int *cap, const char *key, pc_json *item) {
    if (v->n == *cap) {
        int nc = *cap ? *cap * 2 : 4;
        pc_json **ni = pc_alloc(j->a, sizeof(*ni) * (size_t)nc);
        const char **nk = v->kind == PC_JS_OBJ ? pc_alloc(j->a, sizeof(*nk) * (size_t)nc) : NULL;
        if (!ni || (v->kind == PC_JS_OBJ && !nk)) return pc_fail(j->e, PC_E_NOMEM, "%s: out of memory reading JSON", j->what);
        if (v->n) {
            memcpy(ni, v->items, sizeof(*ni) * (size_t)v->n);
            if (nk) memcpy(nk, v->keys, sizeof(*nk) * (size_t)v->n);
        }
        v->items = ni;
        if (nk) v->keys = nk;
        *cap = nc;
    }
    if (key) v->keys[v->n] = key;
    v->items[v->n++] = item;
    return 0;
}

static uint64_t key_hash(const char *s) {
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

/* Is `key` already a key of object v? A linear search while v is small; from JS_HASH_MIN keys on, an
 * open-addressing set of key indexes (*set, *setcap; rebuilt as the object grows). */
#define JS_HASH_MIN 16
static int js_dup_key(jsp *j, const pc_json *v, const char *key, int **set, int *setcap, int *err) {
    if (v->n < JS_HASH_MIN) {
        for (int i = 0; i < v->n; i++)
            if (strcmp(v->keys[i], key) == 0) return 1;
        return 0;
    }
    if ((v->n + 1) * 2 > *setcap) {
        int cap = *setcap ? *setcap * 2 : 4 * JS_HASH_MIN;
        while ((v->n + 1) * 2 > cap) cap *= 2;
        int *ns = pc_alloc(j->a, sizeof(int) * (size_t)cap);
        if (!ns) {
            *err = 1;
            return 0;
        }
        for (int i = 0; i < cap; i++) ns[i] = -1;
        for (int i = 0; i < v->n; i++) {
            size_t h = key_hash(v->keys[i]) & (size_t)(cap - 1);
            while (ns[h] >= 0) h = (h + 1) & (size_t)(cap - 1);
            ns[h] = i;
        }
        *set = ns;
        *setcap = cap;
    }
    size_t h = key_hash(key) & (size_t)(*setcap - 1);
    for (; (*set)[h] >= 0; h = (h + 1) & (size_t)(*setcap - 1))
        if (strcmp(v->keys[(*set)[h]], key) == 0) return 1;
    (*set)[h] = v->n; /* the key about to be pushed */
    return 0;
}

static int js_container(jsp *j, pc_json *v, int depth) {
    int obj = v->kind == PC_JS_OBJ, cap = 0, *set = NULL, setcap = 0;
    char close = obj ? '}' : ']';
    j->p++;
    js_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        const char *key = NULL;
        js_ws(j);
        if (j->p >= j->end) return js_fail(j, obj ? "unterminated object" : "unterminated array");
        if (obj) {
            if (j->p >= j->end || *j->p != '"') return js_fail(j, "object key (a string) expected");
            if (js_string(j, &key)) return -1;
            int err = 0;
            if (js_dup_key(j, v, key, &set, &setcap, &err)) return js_fail(j, "duplicate object key");
            if (err) return pc_fail(j->e, PC_E_NOMEM, "%s: out of memory reading JSON", j->what);
            js_ws(j);
            if (j->p >= j->end || *j->p != ':') return js_fail(j, "':' expected after object key");
            j->p++;
        }
        pc_json *item;
        if (js_value(j, &item, depth + 1)) return -1;
        if (js_push(j, v, &cap, key, item)) return -1;
        js_ws(j);
        if (j->p >= j->end) return js_fail(j, obj ? "unterminated object" : "unterminated array");
        if (*j->p == ',') {
            j->p++;
            continue;
        }
        if (*j->p == close) {
            j->p++;
            return 0;
        }
        return js_fail(j, obj ? "',' or '}' expected" : "',' or ']' expected");
    }
}

static int js_value(jsp *j, pc_json **out, int depth) {
    if (depth > JS_MAX_DEPTH) return js_fail(j, "nesting too deep");
    js_ws(j);
    if (j->p >= j->end) return js_fail(j, "unexpected end of document");
    pc_json *v = pc_alloc(j->a, sizeof *v);
    if (!v) return pc_fail(j->e, PC_E_NOMEM, "%s: out of memory reading JSON", j->what);
    *out = v;
    switch (*j->p) {
    case '{': v->kind = PC_JS_OBJ; return js_container(j, v, depth);
    case '[': v->kind = PC_JS_ARR; return js_container(j, v, depth);
    case '"': v->kind = PC_JS_STR; return js_string(j, &v->str);
    case 't': v->kind = PC_JS_BOOL; v->b = 1; return js_literal(j, "true");
    case 'f': v->kind = PC_JS_BOOL; return js_literal(j, "false");
    case 'n': v->kind = PC_JS_NULL; return js_literal(j, "null");
    default:
        if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
            v->kind = PC_JS_NUM;
            return js_number(j, v);
        }
        return js_fail(j, "unexpected character");
    }
}

int pc_json_parse(const char *text, size_t len, const char *what, pc_arena *a, pc_json **out, pc_err *e) {
    jsp j = {.s = text, .end = text + len, .p = text, .what = what, .a = a, .e = e};
    if (memchr(text, 0, len)) {
        j.p = memchr(text, 0, len);
        return js_fail(&j, "NUL byte in document");
    }
    if (js_value(&j, out, 0)) return -1;
    js_ws(&j);
    if (j.p != j.end) return js_fail(&j, "trailing characters after the document");
    return 0;
}

const pc_json *pc_json_get(const pc_json *j, const char *key) {
    if (!j || j->kind != PC_JS_OBJ) return NULL;
    for (int i = 0; i < j->n; i++)
        if (strcmp(j->keys[i], key) == 0) return j->items[i];
    return NULL;
}
