/* err.c: the error record (see pc.h). */
#include "common/pc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int pc_fail(pc_err *e, pc_errkind kind, const char *fmt, ...) {
    if (!e) return -1;
    e->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int pc_prefix(pc_err *e, const char *fmt, ...) {
    if (!e) return -1;
    char head[512], old[sizeof e->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    size_t hl = strlen(head);
    if (hl >= sizeof e->msg) hl = sizeof e->msg - 1;
    memcpy(e->msg, head, hl);
    size_t ol = strlen(old);
    if (hl + ol >= sizeof e->msg) ol = sizeof e->msg - 1 - hl;
    memcpy(e->msg + hl, old, ol);
    e->msg[hl + ol] = 0;
    return -1;
}
