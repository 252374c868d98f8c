/* progress.c: pc_progress_report, the throttle between a counting stage and its
 * progress callback (see pc.h). Checking the clock only when the percentage moved
 * keeps a report per op or per chunk cheap. */
#include "common/pc.h"

#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void pc_progress_report(pc_progress *p, const char *what, int64_t done, int64_t total) {
    if (!p || !p->fn || total <= 0) return;
    int edge = done <= 0 || done >= total;
    int pct = (int)(done * 100 / total) + 1; /* +1: a zeroed record has reported nothing yet */
    if (!edge && pct == p->last_pct) return;
    double t = now();
    if (!edge && t - p->last_t < PC_PROGRESS_MS * 1e-3) return;
    p->last_pct = pct;
    p->last_t = t;
    p->fn(p->ud, what, done, total);
}
