/* arena.c: chunked bump allocator and pointer vectors (see pc.h). */
#include "common/pc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_SIZE (64 * 1024)

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
} chunk;

struct pc_arena {
    chunk *head;   /* current chunk for small allocations */
    chunk *big;    /* chunks of single large allocations */
    size_t total;
};

pc_arena *pc_arena_new(void) { return calloc(1, sizeof(pc_arena)); }

static void free_list(chunk *c) {
    while (c) {
        chunk *n = c->next;
        free(c);
        c = n;
    }
}

void pc_arena_free(pc_arena *a) {
    if (!a) return;
    free_list(a->head);
    free_list(a->big);
    free(a);
}

static chunk *new_chunk(size_t size) {
    chunk *c = malloc(sizeof(chunk) + size);
    if (!c) return NULL;
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

void *pc_alloc_aligned(pc_arena *a, size_t n, size_t align) {
    if (!a) return NULL;
    if (align < 16) align = 16;
    if (n == 0) n = 1;
    if (n + align >= CHUNK_SIZE) {
        chunk *c = new_chunk(n + align);
        if (!c) return NULL;
        c->next = a->big;
        a->big = c;
        a->total += n + align;
        uintptr_t p = ((uintptr_t)c->data + align - 1) & ~(uintptr_t)(align - 1);
        memset((void *)p, 0, n);
        return (void *)p;
    }
    chunk *c = a->head;
    uintptr_t p = 0;
    if (c) {
        p = ((uintptr_t)(c->data + c->used) + align - 1) & ~(uintptr_t)(align - 1);
        if (p + n > (uintptr_t)(c->data + c->size)) c = NULL;
    }
    if (!c) {
        c = new_chunk(CHUNK_SIZE);
        if (!c) return NULL;
        c->next = a->head;
        a->head = c;
        a->total += CHUNK_SIZE;
        p = ((uintptr_t)c->data + align - 1) & ~(uintptr_t)(align - 1);
    }
    c->used = (size_t)(p + n - (uintptr_t)c->data);
    memset((void *)p, 0, n);
    return (void *)p;
}

void *pc_alloc(pc_arena *a, size_t n) { return pc_alloc_aligned(a, n, 16); }

size_t pc_arena_bytes(const pc_arena *a) { return a ? a->total : 0; }

char *pc_strndup(pc_arena *a, const char *s, size_t n) {
    if (!s) return NULL;
    char *d = pc_alloc(a, n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *pc_strdup(pc_arena *a, const char *s) { return s ? pc_strndup(a, s, strlen(s)) : NULL; }

char *pc_strndup_trim(pc_arena *a, const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\t')) s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r')) end--;
    return s < end ? pc_strndup(a, s, (size_t)(end - s)) : NULL;
}

const char *pc_path_base(const char *p, const char *end) {
    const char *b = p;
    for (const char *q = p; q < end; q++)
        if (*q == '/' || *q == '\\') b = q + 1;
    return b;
}

char *pc_sprintf(pc_arena *a, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *d = pc_alloc(a, (size_t)n + 1);
    if (!d) return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

int pc_vec_push(pc_arena *a, pc_vec *vec, void *p) {
    if (vec->n == vec->cap) {
        int cap = vec->cap ? vec->cap * 2 : 8;
        void **v = pc_alloc(a, sizeof(void *) * (size_t)cap);
        if (!v) return -1;
        if (vec->n) memcpy(v, vec->v, sizeof(void *) * (size_t)vec->n);
        vec->v = v;
        vec->cap = cap;
    }
    vec->v[vec->n++] = p;
    return 0;
}
