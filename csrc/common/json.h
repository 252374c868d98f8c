/* json.h: a strict JSON reader (RFC 8259), shared by the stages that read JSON documents: a package's
 * Manifest.json (serialize/manifest.c) and torch.export's serialized programs (export/).
 *
 * It rejects what a lenient parser would guess at: trailing commas, comments, control characters and
 * bad escapes in strings, lone surrogates, embedded NULs, duplicate object keys, trailing garbage,
 * nesting deeper than 64. The tree lives in the caller's arena.
 */
#ifndef PC_JSON_H
#define PC_JSON_H

#include "common/pc.h"

typedef enum { PC_JS_NULL, PC_JS_BOOL, PC_JS_NUM, PC_JS_STR, PC_JS_ARR, PC_JS_OBJ } pc_jskind;

typedef struct pc_json {
    pc_jskind kind;
    int b;                   /* BOOL */
    double num;              /* NUM */
    int is_int;              /* NUM: an integer literal that fits int64 (exact in i) */
    int64_t i;               /* NUM when is_int */
    const char *str;         /* STR (NUL-terminated; embedded NULs are rejected) */
    int n;                   /* ARR / OBJ: number of items */
    const char **keys;       /* OBJ: keys, in document order (unique) */
    struct pc_json **items;  /* ARR / OBJ: values */
} pc_json;

/* Parse text[0..len) into a tree in `a`. Errors are PC_E_FORMAT naming `what`
 * (the file) and the line/column of the problem. */
int pc_json_parse(const char *text, size_t len, const char *what, pc_arena *a, pc_json **out, pc_err *e);
/* Member `key` of an object (NULL if absent or j is not an object); a linear search. */
const pc_json *pc_json_get(const pc_json *j, const char *key);

#endif
