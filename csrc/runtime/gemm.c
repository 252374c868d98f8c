/* gemm.c: the runtime's one way into BLAS.
 *
 * rt_sgemm splits C into one block of columns (or rows) per thread of the
 * runtime's pool (threads.c) and runs each block as a single-threaded BLAS call,
 * so one set of threads serves every kernel. Letting OpenBLAS thread its own GEMMs
 * instead leaves its workers spinning for a while after each call, on the cores the
 * direct kernels (depthwise, pools, elementwise) that follow need. OpenBLAS is
 * therefore kept at one thread, set before the first call. rt_sgemm_serial is the
 * plain call, for callers that already run inside a parallel loop (and the one
 * place that calls BLAS). */
#include "runtime/rt_internal.h"

#include <cblas.h>
#include <pthread.h>

static pthread_once_t g_blas_once = PTHREAD_ONCE_INIT;

static void blas_one_thread(void) { openblas_set_num_threads(1); }

void rt_sgemm_serial(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                     const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    pthread_once(&g_blas_once, blas_one_thread);
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K,
                alpha, A, (int)lda, B, (int)ldb, beta, C, (int)ldc);
}

typedef struct {
    int ta, tb, by_cols;
    int64_t M, N, K, lda, ldb, ldc, parts, align;
    float alpha, beta;
    const float *A, *B;
    float *C;
} gemm_job;

/* Part p of `parts` covers [len * p / parts, len * (p + 1) / parts) of the split
 * dim, rounded to `align` so the BLAS micro-kernels see whole blocks. */
static int64_t part_edge(const gemm_job *j, int64_t len, int64_t p) {
    if (p >= j->parts) return len;
    int64_t e = len * p / j->parts;
    e -= e % j->align;
    return e;
}

static void gemm_parts(void *ctx, int64_t p0, int64_t p1) {
    const gemm_job *j = ctx;
    for (int64_t p = p0; p < p1; p++) {
        if (j->by_cols) {
            int64_t n0 = part_edge(j, j->N, p), n1 = part_edge(j, j->N, p + 1);
            const float *B = j->tb ? j->B + n0 * j->ldb : j->B + n0;
            rt_sgemm_serial(j->ta, j->tb, j->M, n1 - n0, j->K, j->alpha, j->A, j->lda, B, j->ldb, j->beta, j->C + n0,
                            j->ldc);
        } else {
            int64_t m0 = part_edge(j, j->M, p), m1 = part_edge(j, j->M, p + 1);
            const float *A = j->ta ? j->A + m0 : j->A + m0 * j->lda;
            rt_sgemm_serial(j->ta, j->tb, m1 - m0, j->N, j->K, j->alpha, A, j->lda, j->B, j->ldb, j->beta,
                            j->C + m0 * j->ldc, j->ldc);
        }
    }
}

/* Below this many multiply-adds a GEMM runs on the calling thread. */
#define GEMM_PAR_MIN (1 << 18)

void rt_sgemm(int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
              const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (M <= 0 || N <= 0) return;
    int nt = rt_threads();
    double work = (double)M * (double)N * (double)(K > 0 ? K : 1);
    /* split the larger side; columns in blocks of 16 floats, rows in blocks of 4 */
    int by_cols = N >= M;
    int64_t len = by_cols ? N : M, align = by_cols ? 16 : 4;
    int64_t parts = PC_MIN((int64_t)nt, len / align);
    if (parts <= 1 || work < GEMM_PAR_MIN) {
        rt_sgemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    gemm_job j = {ta, tb, by_cols, M, N, K, lda, ldb, ldc, parts, align, alpha, beta, A, B, C};
    rt_parallel_for(parts, 2.0 * work / (double)parts, gemm_parts, &j);
}
