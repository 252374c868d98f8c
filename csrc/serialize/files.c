/* files.c: file-system helpers of the package reader and writer: whole-file
 * reads and writes, mkdir -p, removing our own temp trees, and putting a finished
 * package in place without losing the one it replaces. */
#include "serialize/ser_int.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

const char *ser_kind_of(unsigned mode) {
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISLNK(mode)) return "a symbolic link";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    return "not a regular file";
}

/* Why openat(dirfd, name) failed with er, as a message naming `shown`. */
static int open_failed(int dirfd, const char *name, int er, const char *shown, const char *want, pc_err *e) {
    struct stat st;
    if (er == ENOENT) return pc_fail(e, PC_E_FORMAT, "%s is missing", shown);
    if ((er == ELOOP || er == ENOTDIR) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode))
            return pc_fail(e, PC_E_FORMAT, "%s is a symbolic link (links inside a package are not followed)", shown);
        return pc_fail(e, PC_E_FORMAT, "%s is %s, not %s", shown, ser_kind_of(st.st_mode), want);
    }
    return pc_fail(e, PC_E_IO, "cannot open %s: %s", shown, strerror(er));
}

/* fd was opened non-blocking: keep it only if it is a regular file, then make it blocking. */
static int regular_only(int fd, const char *shown, pc_err *e) {
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int er = errno;
        close(fd);
        return pc_fail(e, PC_E_IO, "cannot stat %s: %s", shown, strerror(er));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pc_fail(e, PC_E_FORMAT, "%s is %s, not a regular file", shown, ser_kind_of(st.st_mode));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int er = errno;
        close(fd);
        return pc_fail(e, PC_E_IO, "cannot read %s: %s", shown, strerror(er));
    }
    return fd;
}

int ser_open_file(int dirfd, const char *rel, int beneath, const char *shown, pc_err *e) {
    enum { FILE_FLAGS = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK };
    if (!beneath) {
        int fd = openat(dirfd, rel, FILE_FLAGS);
        if (fd < 0) return open_failed(dirfd, rel, errno, shown, "a regular file", e);
        return regular_only(fd, shown, e);
    }
    size_t n = strlen(rel);
    char *p = malloc(n + 1);
    if (!p) return pc_fail(e, PC_E_NOMEM, "out of memory");
    memcpy(p, rel, n + 1);
    int cur = dirfd, r = -1;
    char *s = p;
    for (;;) {
        char *t = strchr(s, '/');
        if (t) *t = 0;
        if (!*s || strcmp(s, ".") == 0) { /* empty or "." component */
        } else if (strcmp(s, "..") == 0) {
            r = pc_fail(e, PC_E_FORMAT, "%s leaves its package", shown);
            break;
        } else if (!t) { /* the file itself */
            int fd = openat(cur, s, FILE_FLAGS | O_NOFOLLOW);
            r = fd < 0 ? open_failed(cur, s, errno, shown, "a regular file", e) : regular_only(fd, shown, e);
            break;
        } else {
            int fd = openat(cur, s, O_RDONLY | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW);
            if (fd < 0) { /* name the component: shown ends with rel */
                int er = errno;
                size_t sl = strlen(shown);
                size_t keep = sl >= n && strcmp(shown + sl - n, rel) == 0 ? sl - n + (size_t)(t - p) : sl;
                char *comp = malloc(keep + 1);
                if (!comp) {
                    r = pc_fail(e, PC_E_NOMEM, "out of memory");
                    break;
                }
                memcpy(comp, shown, keep);
                comp[keep] = 0;
                r = open_failed(cur, s, er, comp, "a directory", e);
                free(comp);
                break;
            }
            if (cur != dirfd) close(cur);
            cur = fd;
        }
        if (!t) {
            r = pc_fail(e, PC_E_FORMAT, "%s names no file", shown);
            break;
        }
        s = t + 1;
    }
    if (cur != dirfd) close(cur);
    free(p);
    return r;
}

int ser_read_file(int dirfd, const char *rel, int beneath, const char *shown, size_t max_len, unsigned char **buf,
                  size_t *len, pc_err *e) {
    *buf = NULL;
    *len = 0;
    int fd = ser_open_file(dirfd, rel, beneath, shown, e);
    if (fd < 0) return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int er = errno;
        close(fd);
        return pc_fail(e, PC_E_IO, "cannot stat %s: %s", shown, strerror(er));
    }
    if ((uint64_t)st.st_size > max_len) {
        close(fd);
        return pc_fail(e, PC_E_FORMAT, "%s is too large (%lld bytes)", shown, (long long)st.st_size);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        close(fd);
        return pc_fail(e, PC_E_NOMEM, "out of memory reading %s (%zu bytes)", shown, n);
    }
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, b + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int er = r < 0 ? errno : 0;
            free(b);
            close(fd);
            if (r == 0) return pc_fail(e, PC_E_FORMAT, "%s changed size while being read", shown);
            return pc_fail(e, PC_E_IO, "cannot read %s: %s", shown, strerror(er));
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

/* Whether directory dst may be replaced: a Core ML package (a Manifest.json regular
 * file inside) or an empty directory (*empty set). Anything else is a user's
 * directory, which save() must not delete: 0 with PC_E_IO. */
static int is_package(const char *dst, int *empty, pc_err *e) {
    int dfd = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) {
        pc_fail(e, PC_E_IO, "cannot inspect %s: %s", dst, strerror(errno));
        return 0;
    }
    struct stat st;
    if (fstatat(dfd, "Manifest.json", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode)) {
        close(dfd);
        return 1;
    }
    DIR *d = fdopendir(dfd);
    if (!d) {
        pc_fail(e, PC_E_IO, "cannot inspect %s: %s", dst, strerror(errno));
        close(dfd);
        return 0;
    }
    int n = 0;
    for (struct dirent *de; (de = readdir(d));)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) n++;
    closedir(d);
    if (n) {
        pc_fail(e, PC_E_IO,
                "cannot save to %s: it is a directory that is not a Core ML package (no Manifest.json); "
                "its %d entr%s would be deleted, so it is left as it is",
                dst, n, n == 1 ? "y" : "ies");
        return 0;
    }
    *empty = 1;
    return 1;
}

int ser_replace_dir(const char *tmp, const char *dst, pc_err *e) {
    struct stat st;
    if (lstat(dst, &st) != 0) {
        if (errno != ENOENT) return pc_fail(e, PC_E_IO, "cannot inspect %s: %s", dst, strerror(errno));
        if (rename(tmp, dst) != 0) return pc_fail(e, PC_E_IO, "cannot move the package to %s: %s", dst, strerror(errno));
        return 0;
    }
    if (S_ISLNK(st.st_mode))
        return pc_fail(e, PC_E_IO, "cannot save to %s: it is a symbolic link (save to the path it points to, or remove it)",
                       dst);
    if (!S_ISDIR(st.st_mode))
        return pc_fail(e, PC_E_IO, "cannot save to %s: it exists and is %s, not a directory (a package is one)", dst,
                       ser_kind_of(st.st_mode));
    int empty = 0;
    if (!is_package(dst, &empty, e)) return -1;
    /* Atomic swap: afterwards tmp holds the old package (or empty directory), which we remove. */
    if (exchange(tmp, dst) == 0) {
        if (empty) rmdir(tmp); /* left in place if files appeared in it meanwhile */
        else ser_rmtree(tmp);
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
    if (empty) rmdir(old);
    else ser_rmtree(old);
    free(old);
    return 0;
}
