/* threads.c: the parallel-for that every multi-threaded kernel of the runtime
 * uses, GEMMs included (gemm.c).
 *
 * A process-wide pool of workers, started on first use, runs the chunks. Kernels of
 * one run come back to back, so a worker spins for a short while after each job
 * before it sleeps on a condition variable, and the caller spins the same way while
 * it waits for the workers: a parallel-for then costs a few microseconds instead of
 * a thread start and join. One parallel-for owns the pool at a time; a concurrent
 * call (another rt_run on another thread, or a parallel-for inside a chunk) that
 * finds it busy starts threads of its own for that call, as does any call when the
 * pool's workers cannot be started. A forked child starts with an empty pool. */
#include "runtime/rt_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define RT_MAX_THREADS 64
/* How long an idle worker, or a waiting caller, spins before sleeping: long enough
 * to bridge the serial stretches between the parallel loops of one predict (a
 * worker asleep takes tens of microseconds to wake), short enough not to burn a
 * core for long after a predict. Nothing else in the runtime wants the cores in
 * between: BLAS runs single-threaded inside our loops (gemm.c). resnet50 fp16 at 2
 * threads, ours / torch, median of 45 interleaved runs: 1.35 with a 5 us spin,
 * 0.96 with 300 us, 0.97 with 1 ms. */
#define SPIN_NS 500000

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

/* ---- the pool ---- */
static struct {
    pthread_mutex_t owner;         /* held by the parallel-for using the pool */
    pthread_mutex_t mu;            /* with wake / done: sleeping and waking */
    pthread_cond_t wake, done;
    int nworkers;                  /* started (worker k runs jobs[k + 1]) */
    atomic_ulong gen;              /* job generation: a new value means new jobs */
    atomic_int pending;            /* workers that have not finished this generation */
    chunk jobs[RT_MAX_THREADS];    /* jobs[0] is the caller's; empty ones have end <= begin */
    unsigned long start_gen[RT_MAX_THREADS]; /* gen when worker k was started */
} g_pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
            PTHREAD_COND_INITIALIZER};
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Spin until *gen differs from seen or SPIN_NS pass; whether it changed. */
static int spin_gen(unsigned long seen) {
    int64_t until = now_ns() + SPIN_NS;
    for (int i = 0;; i++) {
        if (atomic_load_explicit(&g_pool.gen, memory_order_acquire) != seen) return 1;
        if ((i & 63) == 63 && now_ns() > until) return 0;
        cpu_relax();
    }
}

static void *worker(void *arg) {
    int k = (int)(intptr_t)arg;
    /* the generation when this worker was started: a job dispatched before the
     * thread first runs still has a newer one */
    unsigned long seen = g_pool.start_gen[k];
    for (;;) {
        if (!spin_gen(seen)) {
            pthread_mutex_lock(&g_pool.mu);
            while (atomic_load(&g_pool.gen) == seen) pthread_cond_wait(&g_pool.wake, &g_pool.mu);
            pthread_mutex_unlock(&g_pool.mu);
        }
        seen = atomic_load_explicit(&g_pool.gen, memory_order_acquire);
        run_chunk(&g_pool.jobs[k + 1]);
        if (atomic_fetch_sub_explicit(&g_pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&g_pool.mu);
            pthread_cond_signal(&g_pool.done);
            pthread_mutex_unlock(&g_pool.mu);
        }
    }
    return NULL;
}

/* In a forked child the workers do not exist and the locks may be held: start over. */
static void pool_after_fork(void) {
    pthread_mutex_init(&g_pool.owner, NULL);
    pthread_mutex_init(&g_pool.mu, NULL);
    pthread_cond_init(&g_pool.wake, NULL);
    pthread_cond_init(&g_pool.done, NULL);
    g_pool.nworkers = 0;
    atomic_store(&g_pool.gen, 0);
    atomic_store(&g_pool.pending, 0);
}

static void pool_register_fork(void) { pthread_atfork(NULL, NULL, pool_after_fork); }

/* With the pool owned: make sure n workers run (started detached); how many do. */
static int pool_grow(int n) {
    pthread_once(&g_atfork_once, pool_register_fork);
    while (g_pool.nworkers < n) {
        pthread_attr_t at;
        pthread_t th;
        if (pthread_attr_init(&at)) break;
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        g_pool.start_gen[g_pool.nworkers] = atomic_load(&g_pool.gen);
        int bad = pthread_create(&th, &at, worker, (void *)(intptr_t)g_pool.nworkers);
        pthread_attr_destroy(&at);
        if (bad) break;
        g_pool.nworkers++;
    }
    return g_pool.nworkers;
}

/* With the pool owned and nt - 1 workers running: run ch[0..nt) and wait for all. */
static void pool_run(const chunk *ch, int nt) {
    int nw = g_pool.nworkers;
    for (int k = 0; k < nw; k++) g_pool.jobs[k + 1] = k + 1 < nt ? ch[k + 1] : (chunk){NULL, NULL, 0, 0};
    atomic_store(&g_pool.pending, nw);
    pthread_mutex_lock(&g_pool.mu);
    atomic_fetch_add_explicit(&g_pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.mu);
    run_chunk((chunk *)&ch[0]);
    int64_t until = now_ns() + SPIN_NS;
    for (int i = 0; atomic_load_explicit(&g_pool.pending, memory_order_acquire) > 0; i++) {
        if ((i & 63) == 63 && now_ns() > until) {
            pthread_mutex_lock(&g_pool.mu);
            while (atomic_load(&g_pool.pending) > 0) pthread_cond_wait(&g_pool.done, &g_pool.mu);
            pthread_mutex_unlock(&g_pool.mu);
            break;
        }
        cpu_relax();
    }
}

/* ---- parallel-for ---- */

/* Threads of this call only: the fallback when the pool is busy or cannot start. */
static void spawn_run(chunk *ch, int nt) {
    pthread_t th[RT_MAX_THREADS];
    int started[RT_MAX_THREADS];
    for (int t = 1; t < nt; t++) started[t] = pthread_create(&th[t], NULL, run_chunk, &ch[t]) == 0;
    run_chunk(&ch[0]);
    for (int t = 1; t < nt; t++) {
        if (started[t]) pthread_join(th[t], NULL);
        else run_chunk(&ch[t]); /* could not start a thread: do its share here */
    }
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
    for (int t = 0; t < nt; t++) {
        ch[t].f = f;
        ch[t].ctx = ctx;
        ch[t].begin = n * t / nt;
        ch[t].end = n * (t + 1) / nt;
    }
    if (pthread_mutex_trylock(&g_pool.owner) == 0) {
        if (pool_grow(nt - 1) >= nt - 1) {
            pool_run(ch, nt);
            pthread_mutex_unlock(&g_pool.owner);
            return;
        }
        pthread_mutex_unlock(&g_pool.owner);
    }
    spawn_run(ch, nt);
}
