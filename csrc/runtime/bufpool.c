/* bufpool.c: per-run reuse of large buffers (op outputs, scratch), so a run does not
 * malloc/free (and page-fault) every intermediate. A pool belongs to one rt_run call
 * (no locking); blocks are ordinary malloc blocks, so one handed to the caller is
 * released with free(). Idle memory is capped at the largest block requested so far,
 * so a run's peak stays near its live set plus one activation. */
#include "runtime/rt_internal.h"

#include <malloc.h>

static size_t block_cap(void *p) { return malloc_usable_size(p); }

void *rt_pool_get(rt_bufpool *bp, size_t bytes) {
    if (!bytes) bytes = 1;
    if (!bp || bytes < RT_POOL_MIN) return malloc(bytes);
    if (bytes > bp->limit) bp->limit = bytes;
    int best = -1;
    for (int i = 0; i < bp->n; i++)
        if (bp->cap[i] >= bytes && (best < 0 || bp->cap[i] < bp->cap[best])) best = i;
    if (best >= 0) {
        void *p = bp->p[best];
        bp->idle -= bp->cap[best];
        bp->n--;
        bp->p[best] = bp->p[bp->n];
        bp->cap[best] = bp->cap[bp->n];
        return p;
    }
    /* no idle block is big enough: give the smaller ones back so malloc can merge them */
    int w = 0;
    for (int i = 0; i < bp->n; i++) {
        if (bp->cap[i] < bytes) {
            bp->idle -= bp->cap[i];
            free(bp->p[i]);
            continue;
        }
        bp->p[w] = bp->p[i];
        bp->cap[w++] = bp->cap[i];
    }
    bp->n = w;
    return malloc(bytes);
}

void rt_pool_put(rt_bufpool *bp, void *p) {
    if (!p) return;
    size_t cap;
    if (!bp || (cap = block_cap(p)) < RT_POOL_MIN || bp->n == RT_POOL_SLOTS || bp->idle + cap > bp->limit) {
        free(p);
        return;
    }
    bp->p[bp->n] = p;
    bp->cap[bp->n++] = cap;
    bp->idle += cap;
}

void rt_pool_clear(rt_bufpool *bp) {
    for (int i = 0; i < bp->n; i++) free(bp->p[i]);
    bp->n = 0;
    bp->idle = 0;
}
