/* threads.c: the parallel-for that every multi-threaded kernel of the runtime
 * uses, GEMMs included (gemm.c).
 *
 * A process-wide pool of workers, started on first use, runs the loops. Kernels of
 * one run come back to back, so a worker spins for a short while after each job
 * before it sleeps on a condition variable, and the caller spins the same way while
 * it waits: a parallel-for then costs a few microseconds instead of a thread start
 * and join. A loop is cut into a few chunks per thread that threads claim as they
 * come, the caller included, so a worker the system has not scheduled yet (a shared
 * machine, another busy process) delays nothing. One parallel-for owns the pool at
 * a time; a concurrent call (another rt_run on another thread, or a parallel-for
 * inside a chunk) that finds it busy starts threads of its own for that call, as
 * does any call when the pool's workers cannot be started. A forked child starts
 * with an empty pool. */
#include "runtime/rt_internal.h"

#include <pthread.h>
#include <sched.h>
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

/* ---- the pool ----
 * A job is split into nchunks chunks that threads claim one at a time: the caller
 * publishes the job in `claim` (its tag, chunk count and next chunk in one word),
 * wakes the workers, and claims chunks itself like any worker. A worker that the
 * system has not yet scheduled (the machine is shared, or another process holds the
 * other core) then just claims nothing, and the caller waits only for chunks that
 * are already running. A worker reads the job's fields only after claiming one of
 * its chunks, and the caller cannot start another job before that chunk is done, so
 * a late worker never sees a half-written job. */
#define TAG_SHIFT 32
#define NCH_SHIFT 16
#define FIELD_MASK 0xffffu
#define MAX_CHUNKS 0xffff
#define CHUNKS_PER_THREAD 4

static struct {
    pthread_mutex_t owner;         /* held by the parallel-for using the pool */
    pthread_mutex_t mu;            /* with wake / done: sleeping and waking */
    pthread_cond_t wake, done;
    int nworkers;                  /* started */
    atomic_ulong gen;              /* job generation: a new value means a new job */
    atomic_uint_least64_t claim;   /* (tag << 32) | (nchunks << 16) | next chunk */
    atomic_int finished;           /* chunks of the current job done */
    atomic_int active;             /* workers 0 .. active - 1 take part in the current job */
    atomic_int caller_cpu;         /* the CPU the current job's caller published it from */
    void (*f)(void *, int64_t, int64_t); /* the current job, published by `claim` */
    void *ctx;
    int64_t n;
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

/* One step of a spin loop: whether SPIN_NS from `until` has passed (the clock is
 * read every 64 steps). Yielding the core now and then was tried: it made a 2-thread
 * 1x1 conv 25 % slower and did not help on a loaded machine, where chunk claiming
 * already keeps the caller from waiting on an unscheduled worker. */
static int spin_step(int i, int64_t until) {
    cpu_relax();
    return (i & 63) == 63 && now_ns() > until;
}

/* Spin until gen differs from seen or SPIN_NS pass; whether it changed. */
static int spin_gen(unsigned long seen) {
    int64_t until = now_ns() + SPIN_NS;
    for (int i = 0;; i++) {
        if (atomic_load_explicit(&g_pool.gen, memory_order_acquire) != seen) return 1;
        if (spin_step(i, until)) return 0;
    }
}

/* Claim and run chunks of the job tagged `tag` until none is left. */
static void run_chunks(uint32_t tag) {
    for (;;) {
        uint64_t w = atomic_load_explicit(&g_pool.claim, memory_order_acquire);
        if ((uint32_t)(w >> TAG_SHIFT) != tag) return; /* another job's word */
        int64_t nch = (int64_t)((w >> NCH_SHIFT) & FIELD_MASK), i = (int64_t)(w & FIELD_MASK);
        if (i >= nch) return;
        if (!atomic_compare_exchange_weak_explicit(&g_pool.claim, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_relaxed))
            continue;
        int64_t n = g_pool.n, lo = n * i / nch, hi = n * (i + 1) / nch;
        if (hi > lo) g_pool.f(g_pool.ctx, lo, hi);
        if (atomic_fetch_add_explicit(&g_pool.finished, 1, memory_order_acq_rel) + 1 == nch) {
            pthread_mutex_lock(&g_pool.mu);
            pthread_cond_signal(&g_pool.done);
            pthread_mutex_unlock(&g_pool.mu);
        }
    }
}

/* A worker woken onto the CPU its caller runs on (the scheduler likes to place a
 * woken thread beside its waker) would only take turns with the caller there while
 * another CPU idles: it moves itself off that CPU (and lets the scheduler place it
 * anywhere again afterwards). */
static void leave_cpu(int cpu, const cpu_set_t *all) {
    if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getcpu() != cpu || !CPU_ISSET(cpu, all) || CPU_COUNT(all) < 2) return;
    cpu_set_t other = *all;
    CPU_CLR(cpu, &other);
    if (sched_setaffinity(0, sizeof other, &other) == 0) sched_setaffinity(0, sizeof *all, all);
}

static void *worker(void *arg) {
    int k = (int)(intptr_t)arg;
    cpu_set_t all;
    if (sched_getaffinity(0, sizeof all, &all) != 0) CPU_ZERO(&all);
    /* the generation when this worker was started: a job published before the
     * thread first runs still has a newer one */
    unsigned long seen = g_pool.start_gen[k];
    for (;;) {
        if (!spin_gen(seen)) {
            pthread_mutex_lock(&g_pool.mu);
            while (atomic_load(&g_pool.gen) == seen) pthread_cond_wait(&g_pool.wake, &g_pool.mu);
            pthread_mutex_unlock(&g_pool.mu);
        }
        seen = atomic_load_explicit(&g_pool.gen, memory_order_acquire);
        if (k < atomic_load_explicit(&g_pool.active, memory_order_relaxed)) {
            leave_cpu(atomic_load_explicit(&g_pool.caller_cpu, memory_order_relaxed), &all);
            run_chunks((uint32_t)seen);
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
    atomic_store(&g_pool.claim, 0);
    atomic_store(&g_pool.finished, 0);
    atomic_store(&g_pool.active, 0);
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

/* With the pool owned: run f over [0, n) in nch chunks on this thread and nt - 1
 * workers, and wait until every chunk is done. */
static void pool_run(int nt, int64_t n, int64_t nch, void (*f)(void *, int64_t, int64_t), void *ctx) {
    atomic_store_explicit(&g_pool.active, nt - 1, memory_order_relaxed);
    atomic_store_explicit(&g_pool.caller_cpu, sched_getcpu(), memory_order_relaxed);
    g_pool.f = f;
    g_pool.ctx = ctx;
    g_pool.n = n;
    atomic_store_explicit(&g_pool.finished, 0, memory_order_relaxed);
    uint32_t tag = (uint32_t)(atomic_load(&g_pool.gen) + 1);
    atomic_store_explicit(&g_pool.claim, ((uint64_t)tag << TAG_SHIFT) | ((uint64_t)nch << NCH_SHIFT),
                          memory_order_release);
    pthread_mutex_lock(&g_pool.mu);
    atomic_fetch_add_explicit(&g_pool.gen, 1, memory_order_release);
    pthread_cond_broadcast(&g_pool.wake);
    pthread_mutex_unlock(&g_pool.mu);
    run_chunks(tag);
    int64_t until = now_ns() + SPIN_NS;
    for (int i = 0; atomic_load_explicit(&g_pool.finished, memory_order_acquire) < nch; i++) {
        if (spin_step(i, until)) {
            pthread_mutex_lock(&g_pool.mu);
            while (atomic_load(&g_pool.finished) < nch) pthread_cond_wait(&g_pool.done, &g_pool.mu);
            pthread_mutex_unlock(&g_pool.mu);
            break;
        }
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
    if (pthread_mutex_trylock(&g_pool.owner) == 0) {
        if (pool_grow(nt - 1) >= nt - 1) {
            /* a few chunks per thread, so a late or slow thread leaves its share to the others */
            pool_run(nt, n, PC_MIN(n, PC_MIN((int64_t)nt * CHUNKS_PER_THREAD, MAX_CHUNKS)), f, ctx);
            pthread_mutex_unlock(&g_pool.owner);
            return;
        }
        pthread_mutex_unlock(&g_pool.owner);
    }
    chunk ch[RT_MAX_THREADS];
    for (int t = 0; t < nt; t++) {
        ch[t].f = f;
        ch[t].ctx = ctx;
        ch[t].begin = n * t / nt;
        ch[t].end = n * (t + 1) / nt;
    }
    spawn_run(ch, nt);
}
