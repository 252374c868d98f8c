/* threads.c: a small parallel-for for the runtime's own kernels (BLAS has its own
 * threads). Threads are started per call and joined before returning, so there is
 * no shared mutable state between concurrent rt_run calls beyond the thread count. */
#include "runtime/rt_internal.h"

#include <pthread.h>
#include <unistd.h>

#define RT_MAX_THREADS 64

static volatile int g_threads; /* 0: not set, use the number of online CPUs */

void rt_threads_set(int n) { g_threads = n > 0 ? PC_MIN(n, RT_MAX_THREADS) : 0; }

int rt_threads(void) {
    int n = g_threads;
    if (n > 0) return n;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus < 1) cpus = 1;
    return (int)PC_MIN(cpus, RT_MAX_THREADS);
}

typedef struct {
    void (*f)(void *, int64_t, int64_t);
    void *ctx;
    int64_t begin, end;
} chunk;

static void *run_chunk(void *arg) {
    chunk *ch = arg;
    if (ch->end > ch->begin) ch->f(ch->ctx, ch->begin, ch->end);
    return NULL;
}

void rt_parallel_for(int64_t n, double cost, void (*f)(void *ctx, int64_t lo, int64_t hi), void *ctx) {
    int nt = rt_threads();
    /* below ~100k flops of total work threads cost more than they save */
    if (nt > 1 && (double)n * cost < 1e5) nt = 1;
    if (nt > n) nt = (int)n;
    if (nt <= 1) {
        if (n > 0) f(ctx, 0, n);
        return;
    }
    chunk ch[RT_MAX_THREADS];
    pthread_t th[RT_MAX_THREADS];
    int started[RT_MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        ch[t].f = f;
        ch[t].ctx = ctx;
        ch[t].begin = n * t / nt;
        ch[t].end = n * (t + 1) / nt;
    }
    for (int t = 1; t < nt; t++) started[t] = pthread_create(&th[t], NULL, run_chunk, &ch[t]) == 0;
    run_chunk(&ch[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else run_chunk(&ch[t]); /* could not start a thread: do its share here */
    }
}
