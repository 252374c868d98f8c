/* pc.h: what every stage shares: arenas, the error record, fp16 conversion.
 *
 * Conventions (all of csrc/):
 * - A function that can fail returns int: 0 on success, -1 on failure with the
 *   reason written into a pc_err. It never prints and never aborts.
 * - Graphs and everything in them live in an arena, freed in one call.
 * - Module prefixes: pc_ (common), ir_, ts_, ex_ (export), lower_, pass_, ser_, rt_, py_.
 */
#ifndef PC_H
#define PC_H

#include <stddef.h>
#include <stdint.h>

/* ---- errors ---- */
typedef enum {
    PC_OK = 0,
    PC_E_VALUE,       /* bad argument or mismatched shapes  -> ValueError       */
    PC_E_TYPE,        /* wrong kind of object                -> TypeError        */
    PC_E_CONVERT,     /* cannot convert this model           -> ConversionError  */
    PC_E_UNSUPPORTED, /* op(s) we do not lower               -> ConversionError  */
    PC_E_IO,          /* file system error                   -> OSError          */
    PC_E_FORMAT,      /* corrupt or unreadable Core ML file  -> ValueError       */
    PC_E_RUNTIME,     /* failure while executing a model     -> RuntimeError     */
    PC_E_NOMEM,       /* allocation failed                   -> MemoryError      */
    PC_E_INTERNAL     /* a bug of ours (IR checker)          -> RuntimeError     */
} pc_errkind;

typedef struct pc_err {
    pc_errkind kind;
    char msg[2048];
} pc_err;

/* Record an error (printf-style) and return -1, so callers can write
 * `return pc_fail(e, PC_E_VALUE, "...", ...);`. A NULL e is allowed. */
int pc_fail(pc_err *e, pc_errkind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefix the message already in e with more context ("while lowering %x: ..."). */
int pc_prefix(pc_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- arenas ---- */
/* Bump allocator in chunks. Allocations are 16-byte aligned and zeroed.
 * Large requests (>= 64 KiB) get a chunk of their own. */
typedef struct pc_arena pc_arena;

pc_arena *pc_arena_new(void);
void pc_arena_free(pc_arena *a);                       /* frees every allocation */
void *pc_alloc(pc_arena *a, size_t n);                 /* NULL on OOM */
void *pc_alloc_aligned(pc_arena *a, size_t n, size_t align); /* align: power of two, <= 4096 */
char *pc_strdup(pc_arena *a, const char *s);           /* NULL s -> NULL */
char *pc_strndup(pc_arena *a, const char *s, size_t n);
/* [s, end) without the spaces and tabs at both ends (and a CR at the end); NULL when nothing is left */
char *pc_strndup_trim(pc_arena *a, const char *s, const char *end);
/* The file name of path [p, end): what follows its last '/' or '\\' */
const char *pc_path_base(const char *p, const char *end);
char *pc_sprintf(pc_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
size_t pc_arena_bytes(const pc_arena *a);              /* bytes reserved so far */

/* Growable array of pointers, storage in an arena (old storage is abandoned
 * on growth; arenas are freed whole). */
typedef struct { void **v; int n, cap; } pc_vec;
int pc_vec_push(pc_arena *a, pc_vec *vec, void *p);    /* 0 ok, -1 OOM */

/* ---- fp16 (IEEE binary16, round to nearest even) ---- */
uint16_t pc_f32_to_f16(float f);
float pc_f16_to_f32(uint16_t h);
void pc_f32_to_f16_n(uint16_t *dst, const float *src, size_t n);
void pc_f16_to_f32_n(float *dst, const uint16_t *src, size_t n);
/* The CPU has F16C (x86; read from CPUID: clang before 15 has no "f16c" for __builtin_cpu_supports). */
int pc_cpu_has_f16c(void);

/* ---- progress of a long stage (progress.c) ----
 * A stage that counts its work (ops lowered, weight bytes written) reports it through
 * pc_progress_report; the report reaches `fn` throttled: when the whole percentage moved
 * and PC_PROGRESS_MS passed since the last call, and always at the first and the last
 * unit. `fn` cannot stop the stage. A NULL pc_progress (or fn) reports nothing. */
#define PC_PROGRESS_MS 50
typedef struct pc_progress {
    void (*fn)(void *ud, const char *what, int64_t done, int64_t total);
    void *ud;
    int last_pct;  /* throttle state: zero-initialise */
    double last_t; /* seconds, monotonic */
} pc_progress;
void pc_progress_report(pc_progress *p, const char *what, int64_t done, int64_t total);

/* ---- small utilities ---- */
#define PC_ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define PC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define PC_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
