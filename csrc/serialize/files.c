/* files.c: file-system helpers of the package reader and writer: whole-file
 * reads and writes, mkdir -p, removing our own temp trees, and putting a finished
 * package in place without losing the one it replaces. */
#include "serialize/ser_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int ser_read_file(const char *path, size_t max_len, unsigned char **buf, size_t *len, pc_err *e) {
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pc_fail(e, errno == ENOENT ? PC_E_FORMAT : PC_E_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int er = errno;
        close(fd);
        return pc_fail(e, PC_E_IO, "cannot stat %s: %s", path, strerror(er));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pc_fail(e, PC_E_FORMAT, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return pc_fail(e, PC_E_FORMAT, "%s is too large (%lld bytes)", path, (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        close(fd);
        return pc_fail(e, PC_E_NOMEM, "out of memory reading %s (%zu bytes)", path, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int er = r < 0 ? errno : 0;
            free(b);
            close(fd);
            if (r == 0) return pc_fail(e, PC_E_FORMAT, "%s changed size while being read", path);
            return pc_fail(e, PC_E_IO, "cannot read %s: %s", path, strerror(er));
        }
        got += (size_t)r;
    }
    close(fd);
    *buf = b;
    *len = n;
    return 0;
}

int ser_write_file(const char *path, const void *buf, size_t len, pc_err *e) {
    FILE *f = fopen(path, "wbx");
    if (!f) return pc_fail(e, PC_E_IO, "cannot create %s: %s", path, strerror(errno));
    if (len && fwrite(buf, 1, len, f) != len) {
        int er = errno;
        fclose(f);
        return pc_fail(e, PC_E_IO, "cannot write %s: %s", path, strerror(er));
    }
    if (fclose(f) != 0) return pc_fail(e, PC_E_IO, "cannot write %s: %s", path, strerror(errno));
    return 0;
}

int ser_mkdirs(const char *path, pc_err *e) {
    size_t n = strlen(path);
    char *p = malloc(n + 1);
    if (!p) return pc_fail(e, PC_E_NOMEM, "out of memory");
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            int er = errno;
            int r = pc_fail(e, PC_E_IO, "cannot create directory %s: %s", p, strerror(er));
            free(p);
            return r;
        }
        p[i] = c;
    }
    free(p);
    return 0;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)ftw;
    if (flag == FTW_DP) rmdir(path);
    else unlink(path);
    return 0;
}

void ser_rmtree(const char *path) {
    if (!path || !*path) return;
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int exchange(const char *a, const char *b) {
#ifdef SYS_renameat2
    return (int)syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int ser_replace_dir(const char *tmp, const char *dst, pc_err *e) {
    struct stat st;
    if (lstat(dst, &st) != 0) {
        if (errno != ENOENT) return pc_fail(e, PC_E_IO, "cannot inspect %s: %s", dst, strerror(errno));
        if (rename(tmp, dst) != 0) return pc_fail(e, PC_E_IO, "cannot move the package to %s: %s", dst, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return pc_fail(e, PC_E_IO, "cannot save to %s: it exists and is not a directory (a package is one)", dst);
    /* Atomic swap: afterwards tmp holds the old package, which we remove. */
    if (exchange(tmp, dst) == 0) {
        ser_rmtree(tmp);
        return 0;
    }
    if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
        return pc_fail(e, PC_E_IO, "cannot replace %s: %s", dst, strerror(errno));
    /* No exchange on this file system: move the old package aside first. */
    size_t n = strlen(tmp);
    char *old = malloc(n + 5);
    if (!old) return pc_fail(e, PC_E_NOMEM, "out of memory");
    memcpy(old, tmp, n);
    memcpy(old + n, ".old", 5);
    if (rename(dst, old) != 0) {
        int er = errno;
        free(old);
        return pc_fail(e, PC_E_IO, "cannot replace %s: %s", dst, strerror(er));
    }
    if (rename(tmp, dst) != 0) {
        int er = errno;
        rename(old, dst); /* put the old package back */
        free(old);
        return pc_fail(e, PC_E_IO, "cannot move the package to %s: %s", dst, strerror(er));
    }
    ser_rmtree(old);
    free(old);
    return 0;
}
