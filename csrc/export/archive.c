/* archive.c: a .pt2 archive read without torch (see archive.h): the zip
 * container, then the pt2 layout on top of it.
 *
 * The file is untrusted: every offset and length read from it is checked against
 * the mapping before use (64-bit arithmetic, overflow checked), names must be
 * non-empty and free of NUL bytes, entries must not repeat, and a failure names
 * the file and the entry. */
#include "export/archive.h"

#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* The program schema and archive versions we read (torch/_export/serde/schema.py's
 * SCHEMA_VERSION major; torch/csrc/export/pt2_archive_constants.h's ARCHIVE_VERSION_VALUE). */
#define EXA_SCHEMA_MAJOR 8
#define EXA_ARCHIVE_VERSION_MAX 0

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_EOCD64_LOC 0x07064b50u

typedef struct {
    const char *name;
    uint64_t off, size; /* of the data, in the file */
    uint32_t crc;
} zent;

typedef struct {
    const char *fqn;
    const char *record; /* full entry name of its payload */
    int use_pickle;
    const pc_json *meta; /* tensor_meta (NULL: a custom object) */
} payload;

struct exa_archive {
    pc_arena *arena;
    const char *what; /* the file, for messages */
    const unsigned char *base;
    size_t size;
    size_t map_len; /* 0: memory the caller owns */
    int n;
    zent *ents; /* sorted by name */
    const char *root, *model, *torch_version;
    const char *json;
    size_t json_len;
    int npay;
    payload *pay; /* weights, then constants */
    const payload **by_fqn; /* pay sorted by fqn (then by position: a name given twice finds its first) */
};

static uint16_t r16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t r32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t r64(const unsigned char *p) { return (uint64_t)r32(p) | (uint64_t)r32(p + 4) << 32; }

static int zfail(const exa_archive *a, pc_err *e, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int zfail(const exa_archive *a, pc_err *e, const char *fmt, ...) {
    char msg[1536];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return pc_fail(e, PC_E_FORMAT, "%s: %s", a->what, msg);
}

static __attribute__((unused)) uint32_t crc32_of(const unsigned char *p, uint64_t n) {
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t c = 0xFFFFFFFFu;
    for (uint64_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ---- the zip container ---- */

static int cmp_ent(const void *x, const void *y) { return strcmp(((const zent *)x)->name, ((const zent *)y)->name); }

static const zent *find_ent(const exa_archive *a, const char *name) {
    int lo = 0, hi = a->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(a->ents[mid].name, name);
        if (c == 0) return &a->ents[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

/* The end of central directory record (and the ZIP64 one when present): where the
 * directory is and how many entries it has. */
static int read_eocd(const exa_archive *a, uint64_t *cd_off, uint64_t *cd_size, uint64_t *count, pc_err *e) {
    const unsigned char *p = a->base;
    size_t size = a->size;
    if (size < 22) return zfail(a, e, "not a zip archive (%zu bytes, too short for one)", size);
    size_t lo = size - 22 > 65535 ? size - 22 - 65535 : 0, at = (size_t)-1;
    for (size_t i = size - 22;; i--) {
        if (r32(p + i) == SIG_EOCD && i + 22 + r16(p + i + 20) == size) {
            at = i;
            break;
        }
        if (i == lo) break;
    }
    if (at == (size_t)-1)
        return zfail(a, e, "not a zip archive (no end of central directory record: truncated or not a .pt2 file)");
    const unsigned char *q = p + at;
    uint64_t n = r16(q + 10), csize = r32(q + 12), coff = r32(q + 16), limit = at;
    int disk = r16(q + 4), cd_disk = r16(q + 6);
    if (at >= 20 && r32(p + at - 20) == SIG_EOCD64_LOC) {
        const unsigned char *l = p + at - 20;
        uint64_t off64 = r64(l + 8);
        if (r32(l + 4) != 0 || r32(l + 16) > 1) return zfail(a, e, "a multi-disk zip archive (not supported)");
        if (off64 > at - 20 || at - 20 - off64 < 56 || r32(p + off64) != SIG_EOCD64)
            return zfail(a, e, "corrupt ZIP64 end of central directory (its record at %llu is not there)",
                         (unsigned long long)off64);
        q = p + off64;
        disk = (int)r32(q + 16);
        cd_disk = (int)r32(q + 20);
        n = r64(q + 32);
        csize = r64(q + 40);
        coff = r64(q + 48);
        limit = off64;
    } else if (n == 0xFFFF || csize == 0xFFFFFFFFu || coff == 0xFFFFFFFFu) {
        return zfail(a, e, "corrupt zip archive (ZIP64 fields without a ZIP64 end of central directory)");
    }
    if (disk != 0 || cd_disk != 0) return zfail(a, e, "a multi-disk zip archive (not supported)");
    if (coff > limit || csize > limit - coff)
        return zfail(a, e, "corrupt zip archive (central directory at %llu, %llu bytes, beyond its end record at %llu)",
                     (unsigned long long)coff, (unsigned long long)csize, (unsigned long long)limit);
    if (n > csize / 46)
        return zfail(a, e, "corrupt zip archive (%llu entries cannot fit a %llu-byte central directory)",
                     (unsigned long long)n, (unsigned long long)csize);
    *cd_off = coff;
    *cd_size = csize;
    *count = n;
    return 0;
}

static int read_directory(exa_archive *a, pc_err *e) {
    uint64_t pos = 0, csize = 0, n = 0;
    if (read_eocd(a, &pos, &csize, &n, e)) return -1;
    if (n == 0) return zfail(a, e, "an empty zip archive (no entries)");
    if (n > INT32_MAX / 2) return zfail(a, e, "too many entries (%llu)", (unsigned long long)n);
    a->ents = pc_alloc(a->arena, sizeof *a->ents * (size_t)n);
    if (!a->ents) return pc_fail(e, PC_E_NOMEM, "%s: out of memory reading the zip directory", a->what);
    const unsigned char *p = a->base;
    uint64_t end = pos + csize;
    for (uint64_t k = 0; k < n; k++) {
        if (end - pos < 46 || r32(p + pos) != SIG_CENTRAL)
            return zfail(a, e, "corrupt zip directory (entry %llu at %llu is not a directory record)",
                         (unsigned long long)k, (unsigned long long)pos);
        const unsigned char *c = p + pos;
        unsigned flags = r16(c + 8), method = r16(c + 10), nlen = r16(c + 28), xlen = r16(c + 30), clen = r16(c + 32);
        uint64_t comp = r32(c + 20), usize = r32(c + 24), loff = r32(c + 42);
        uint32_t disk = r16(c + 34);
        if (end - pos - 46 < (uint64_t)nlen + xlen + clen)
            return zfail(a, e, "corrupt zip directory (entry %llu runs past the directory's end)", (unsigned long long)k);
        const char *raw = (const char *)c + 46;
        if (nlen == 0 || memchr(raw, 0, nlen))
            return zfail(a, e, "corrupt zip directory (entry %llu has an empty name or one with a NUL byte)",
                         (unsigned long long)k);
        char *name = pc_strndup(a->arena, raw, nlen);
        if (!name) return pc_fail(e, PC_E_NOMEM, "%s: out of memory reading the zip directory", a->what);
        /* ZIP64 extended information: the saturated fields, in this order */
        const unsigned char *x = c + 46 + nlen, *xend = x + xlen;
        while (xend - x >= 4) {
            unsigned id = r16(x), len = r16(x + 2);
            if ((size_t)(xend - x - 4) < len)
                return zfail(a, e, "entry '%s': corrupt extra field in the zip directory", name);
            if (id == 1) {
                const unsigned char *f = x + 4, *fend = f + len;
                uint64_t *fields[3] = {&usize, &comp, &loff};
                for (int i = 0; i < 3; i++) {
                    if (*fields[i] != 0xFFFFFFFFu) continue;
                    if (fend - f < 8) return zfail(a, e, "entry '%s': truncated ZIP64 extra field", name);
                    *fields[i] = r64(f);
                    f += 8;
                }
                if (disk == 0xFFFF) {
                    if (fend - f < 4) return zfail(a, e, "entry '%s': truncated ZIP64 extra field", name);
                    disk = r32(f);
                }
            }
            x += 4 + len;
        }
        if (disk != 0) return zfail(a, e, "entry '%s' is on another disk (multi-disk zip archives are not supported)", name);
        if (flags & 1) return zfail(a, e, "entry '%s' is encrypted", name);
        if (method != 0)
            return zfail(a, e,
                         "entry '%s' is compressed (zip method %u): pt2coreml reads stored entries only, as "
                         "torch.export.save writes them (re-save the program with torch.export.save)",
                         name, method);
        if (comp != usize)
            return zfail(a, e, "entry '%s': stored entry with compressed size %llu != size %llu", name,
                         (unsigned long long)comp, (unsigned long long)usize);
        if (loff > a->size || a->size - loff < 30 || r32(p + loff) != SIG_LOCAL)
            return zfail(a, e, "entry '%s': no local header at offset %llu", name, (unsigned long long)loff);
        unsigned lnlen = r16(p + loff + 26), lxlen = r16(p + loff + 28);
        if (a->size - loff - 30 < (uint64_t)lnlen + lxlen)
            return zfail(a, e, "entry '%s': local header runs past the end of the file", name);
        if (lnlen != nlen || memcmp(p + loff + 30, raw, nlen) != 0)
            return zfail(a, e, "entry '%s': its local header names another entry", name);
        uint64_t data = loff + 30 + lnlen + lxlen;
        if (usize > a->size - data)
            return zfail(a, e, "entry '%s': its %llu bytes at offset %llu run past the end of the file (%zu bytes): "
                         "truncated archive", name, (unsigned long long)usize, (unsigned long long)data, a->size);
        a->ents[k] = (zent){name, data, usize, r32(c + 16)};
        pos += 46 + (uint64_t)nlen + xlen + clen;
    }
    a->n = (int)n;
    qsort(a->ents, (size_t)a->n, sizeof *a->ents, cmp_ent);
    for (int i = 1; i < a->n; i++)
        if (strcmp(a->ents[i - 1].name, a->ents[i].name) == 0)
            return zfail(a, e, "entry '%s' appears twice in the zip directory", a->ents[i].name);
    return 0;
}

int exa_entry_count(const exa_archive *a) { return a->n; }
const char *exa_entry_name(const exa_archive *a, int i) { return i >= 0 && i < a->n ? a->ents[i].name : NULL; }
uint64_t exa_entry_size(const exa_archive *a, int i) { return i >= 0 && i < a->n ? a->ents[i].size : 0; }
uint64_t exa_entry_offset(const exa_archive *a, int i) { return i >= 0 && i < a->n ? a->ents[i].off : 0; }

int exa_entry(const exa_archive *a, const char *name, const void **data, uint64_t *len, pc_err *e) {
    const zent *z = find_ent(a, name);
    if (!z) return zfail(a, e, "no entry '%s' in the archive", name);
    *data = a->base + z->off;
    *len = z->size;
    return 0;
}

/* A small entry we parse: present (or absent when optional: *data NULL) and its CRC right. */
static int small_entry(const exa_archive *a, const char *rel, int optional, const char **data, size_t *len, pc_err *e) {
    char name[1024];
    snprintf(name, sizeof name, "%s/%s", a->root, rel);
    const zent *z = find_ent(a, name);
    *data = NULL;
    *len = 0;
    if (!z) return optional ? 0 : zfail(a, e, "not a pt2 archive: no entry '%s'", name);
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION /* the fuzz build: let mutated documents through */
    if (crc32_of(a->base + z->off, z->size) != z->crc)
        return zfail(a, e, "entry '%s' is corrupt (its CRC-32 does not match)", name);
#endif
    *data = (const char *)a->base + z->off;
    *len = (size_t)z->size;
    return 0;
}

/* ---- the pt2 layout ---- */

/* An entry holding one word ("pt2", "0", "little"), trailing whitespace ignored. */
static int word_eq(const char *d, size_t n, const char *w) {
    while (n && (d[n - 1] == '\n' || d[n - 1] == '\r' || d[n - 1] == ' ')) n--;
    return n == strlen(w) && memcmp(d, w, n) == 0;
}

static int check_markers(exa_archive *a, pc_err *e) {
    const char *d;
    size_t n;
    if (small_entry(a, "archive_format", 0, &d, &n, e)) return -1;
    if (!word_eq(d, n, "pt2"))
        return zfail(a, e, "entry '%s/archive_format' says '%.*s', not 'pt2': not an archive of torch.export.save",
                     a->root, (int)PC_MIN(n, 32), d);
    if (small_entry(a, "archive_version", 1, &d, &n, e)) return -1;
    if (d) { /* absent: written before archive versions existed (version 0) */
        long v = 0;
        size_t i = 0;
        for (; i < n && d[i] >= '0' && d[i] <= '9' && v < 1000000; i++) v = v * 10 + (d[i] - '0');
        if (i == 0 || !word_eq(d + i, n - i, ""))
            return zfail(a, e, "entry '%s/archive_version' is not a number", a->root);
        if (v > EXA_ARCHIVE_VERSION_MAX)
            return zfail(a, e, "pt2 archive version %ld: pt2coreml reads archive versions up to %d", v,
                         EXA_ARCHIVE_VERSION_MAX);
    }
    if (small_entry(a, "byteorder", 1, &d, &n, e)) return -1;
    if (d && !word_eq(d, n, "little")) {
        if (word_eq(d, n, "big"))
            return zfail(a, e, "the archive was written on a big-endian machine (byteorder 'big'): pt2coreml reads "
                         "little-endian archives only (re-save it with torch.export.save on a little-endian one)");
        return zfail(a, e, "entry '%s/byteorder' is neither 'little' nor 'big'", a->root);
    }
    return 0;
}

/* The root folder (that of the first record in the file) and the program's name. */
static int find_root_and_model(exa_archive *a, pc_err *e) {
    const zent *first = &a->ents[0];
    for (int i = 1; i < a->n; i++)
        if (a->ents[i].off < first->off) first = &a->ents[i];
    const char *slash = strchr(first->name, '/');
    if (!slash || slash == first->name)
        return zfail(a, e, "not a pt2 archive: its first record '%s' is not in a folder", first->name);
    if (!(a->root = pc_strndup(a->arena, first->name, (size_t)(slash - first->name))))
        return pc_fail(e, PC_E_NOMEM, "%s: out of memory", a->what);
    char pre[1024];
    snprintf(pre, sizeof pre, "%s/models/", a->root);
    size_t pl = strlen(pre);
    int count = 0, has_model = 0;
    const char *only = NULL;
    for (int i = 0; i < a->n; i++) {
        const char *nm = a->ents[i].name;
        size_t l = strlen(nm);
        if (strncmp(nm, pre, pl) != 0 || l <= pl + 5 || strcmp(nm + l - 5, ".json") != 0 || strchr(nm + pl, '/'))
            continue;
        count++;
        only = nm + pl;
        if (strcmp(nm + pl, "model.json") == 0) has_model = 1;
    }
    if (count == 0) return zfail(a, e, "no exported program in the archive (no '%s*.json'): an AOTInductor-only package?", pre);
    if (count > 1 && !has_model)
        return zfail(a, e, "the archive holds %d exported programs and none is called 'model': pt2coreml converts one", count);
    const char *m = has_model ? "model.json" : only;
    if (!(a->model = pc_strndup(a->arena, m, strlen(m) - 5))) return pc_fail(e, PC_E_NOMEM, "%s: out of memory", a->what);
    return 0;
}

static int read_program(exa_archive *a, pc_err *e) {
    char rel[512];
    snprintf(rel, sizeof rel, "models/%s.json", a->model);
    if (small_entry(a, rel, 0, &a->json, &a->json_len, e)) return -1;
    pc_arena *tmp = pc_arena_new();
    if (!tmp) return pc_fail(e, PC_E_NOMEM, "out of memory");
    char what[1300];
    snprintf(what, sizeof what, "%s: entry '%s/%s'", a->what, a->root, rel);
    pc_json *j;
    int rc = -1;
    if (pc_json_parse(a->json, a->json_len, what, tmp, &j, e)) goto done;
    const pc_json *sv = pc_json_get(j, "schema_version"), *mj = pc_json_get(sv, "major"), *mn = pc_json_get(sv, "minor");
    if (!mj || mj->kind != PC_JS_NUM || (mn && mn->kind != PC_JS_NUM)) {
        pc_fail(e, PC_E_FORMAT, "%s: no schema_version {major, minor}: not a serialized ExportedProgram", what);
        goto done;
    }
    if (mj->num != EXA_SCHEMA_MAJOR) {
        pc_fail(e, PC_E_FORMAT,
                "%s: exported program schema version %.0f.%.0f: pt2coreml reads schema version %d.x (torch 2.x's "
                "torch.export.save); re-save the program with such a torch",
                what, mj->num, mn ? mn->num : 0.0, EXA_SCHEMA_MAJOR);
        goto done;
    }
    const pc_json *tv = pc_json_get(j, "torch_version");
    a->torch_version = pc_strdup(a->arena, tv && tv->kind == PC_JS_STR ? tv->str : "");
    if (!a->torch_version) pc_fail(e, PC_E_NOMEM, "out of memory");
    else rc = 0;
done:
    pc_arena_free(tmp);
    return rc;
}

/* Payload config `rel` (weights or constants): its entries appended to a->pay. The
 * parsed tree stays in the archive's arena (exa_tensor reads the tensor metadata). */
static int read_config(exa_archive *a, const char *rel, const char *dir, pc_vec *out, pc_err *e) {
    const char *d;
    size_t n;
    if (small_entry(a, rel, 1, &d, &n, e)) return -1;
    if (!d) return 0; /* no such payloads */
    char what[1300];
    snprintf(what, sizeof what, "%s: entry '%s/%s'", a->what, a->root, rel);
    const char *w = pc_strdup(a->arena, what);
    pc_json *j;
    if (!w) return pc_fail(e, PC_E_NOMEM, "out of memory");
    if (pc_json_parse(d, n, w, a->arena, &j, e)) return -1;
    const pc_json *cfg = pc_json_get(j, "config");
    if (!cfg || cfg->kind != PC_JS_OBJ) return pc_fail(e, PC_E_FORMAT, "%s: no \"config\" object", w);
    for (int i = 0; i < cfg->n; i++) {
        const pc_json *m = cfg->items[i], *pn = pc_json_get(m, "path_name"), *up = pc_json_get(m, "use_pickle"),
                       *tm = pc_json_get(m, "tensor_meta");
        if (!pn || pn->kind != PC_JS_STR || (up && up->kind != PC_JS_BOOL) ||
            (tm && tm->kind != PC_JS_OBJ && tm->kind != PC_JS_NULL))
            return pc_fail(e, PC_E_FORMAT, "%s: the entry of '%s' has no path_name or a malformed one", w, cfg->keys[i]);
        payload *p = pc_alloc(a->arena, sizeof *p);
        if (!p || !(p->record = pc_sprintf(a->arena, "%s/%s/%s", a->root, dir, pn->str)) || pc_vec_push(a->arena, out, p))
            return pc_fail(e, PC_E_NOMEM, "out of memory");
        p->fqn = cfg->keys[i];
        p->use_pickle = up && up->b;
        p->meta = tm && tm->kind == PC_JS_OBJ ? tm : NULL;
    }
    return 0;
}

static int cmp_pay(const void *x, const void *y) {
    const payload *p = *(const payload *const *)x, *q = *(const payload *const *)y;
    int c = strcmp(p->fqn, q->fqn);
    return c ? c : (p > q) - (p < q);
}

static int open_common(exa_archive *a, exa_archive **out, pc_err *e) {
    if (read_directory(a, e) || find_root_and_model(a, e) || check_markers(a, e) || read_program(a, e)) goto fail;
    pc_vec pays = {0};
    char rel[600];
    snprintf(rel, sizeof rel, "data/weights/%s_weights_config.json", a->model);
    if (read_config(a, rel, "data/weights", &pays, e)) goto fail;
    snprintf(rel, sizeof rel, "data/constants/%s_constants_config.json", a->model);
    if (read_config(a, rel, "data/constants", &pays, e)) goto fail;
    a->npay = pays.n;
    a->pay = pc_alloc(a->arena, sizeof *a->pay * (size_t)(pays.n ? pays.n : 1));
    if (!a->pay) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < pays.n; i++) a->pay[i] = *(payload *)pays.v[i];
    if (!(a->by_fqn = pc_alloc(a->arena, sizeof *a->by_fqn * (size_t)(pays.n ? pays.n : 1)))) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < pays.n; i++) a->by_fqn[i] = &a->pay[i];
    qsort(a->by_fqn, (size_t)pays.n, sizeof *a->by_fqn, cmp_pay);
    *out = a;
    return 0;
fail:
    exa_close(a);
    return -1;
}

static exa_archive *new_archive(const char *what) {
    pc_arena *ar = pc_arena_new();
    if (!ar) return NULL;
    exa_archive *a = pc_alloc(ar, sizeof *a);
    if (!a || !(a->what = pc_strdup(ar, what))) {
        pc_arena_free(ar);
        return NULL;
    }
    a->arena = ar;
    return a;
}

int exa_open_mem(const void *data, size_t len, const char *what, exa_archive **out, pc_err *e) {
    *out = NULL;
    exa_archive *a = new_archive(what ? what : "<memory>");
    if (!a) return pc_fail(e, PC_E_NOMEM, "out of memory");
    a->base = data;
    a->size = len;
    return open_common(a, out, e);
}

int exa_open(const char *path, exa_archive **out, pc_err *e) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return pc_fail(e, PC_E_IO, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return pc_fail(e, PC_E_IO, "%s: not a regular file", path);
    }
    if (st.st_size <= 0 || (uint64_t)st.st_size > SIZE_MAX / 2) {
        close(fd);
        return pc_fail(e, PC_E_FORMAT, "%s: not a zip archive (%lld bytes)", path, (long long)st.st_size);
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int err = errno;
    close(fd);
    if (m == MAP_FAILED) return pc_fail(e, PC_E_IO, "cannot map %s: %s", path, strerror(err));
    exa_archive *a = new_archive(path);
    if (!a) {
        munmap(m, (size_t)st.st_size);
        return pc_fail(e, PC_E_NOMEM, "out of memory");
    }
    a->base = m;
    a->size = a->map_len = (size_t)st.st_size;
    return open_common(a, out, e);
}

void exa_close(exa_archive *a) {
    if (!a) return;
    if (a->map_len) munmap((void *)a->base, a->map_len);
    pc_arena_free(a->arena);
}

void exa_release(void *a) { exa_close(a); }

const char *exa_root(const exa_archive *a) { return a->root; }
const char *exa_model(const exa_archive *a) { return a->model; }
const char *exa_torch_version(const exa_archive *a) { return a->torch_version; }
void exa_program_json(const exa_archive *a, const char **json, size_t *len) {
    *json = a->json;
    *len = a->json_len;
}
int exa_tensor_count(const exa_archive *a) { return a->npay; }
const char *exa_tensor_name(const exa_archive *a, int i) { return i >= 0 && i < a->npay ? a->pay[i].fqn : NULL; }

/* ---- tensors ---- */

/* export's ScalarType (torch/_export/serde/schema.py) -> ours and the element size. */
static int scalar_type(int code, ts_scalar_type *t, int *es) {
    static const struct { int code; ts_scalar_type t; int es; } map[] = {
        {1, TS_UINT8, 1},          {2, TS_INT8, 1},           {3, TS_INT16, 2},           {4, TS_INT32, 4},
        {5, TS_INT64, 8},          {6, TS_HALF, 2},           {7, TS_FLOAT, 4},           {8, TS_DOUBLE, 8},
        {9, TS_COMPLEX_HALF, 4},   {10, TS_COMPLEX_FLOAT, 8}, {11, TS_COMPLEX_DOUBLE, 16}, {12, TS_BOOL, 1},
        {13, TS_BFLOAT16, 2},
    };
    for (int i = 0; i < PC_ARRAY_LEN(map); i++)
        if (map[i].code == code) {
            *t = map[i].t;
            *es = map[i].es;
            return 0;
        }
    return -1;
}

/* {"as_int": n} with 0 <= n < 2^53. */
static int as_int(const pc_json *j, int64_t *v) {
    const pc_json *x = pc_json_get(j, "as_int");
    if (!x || x->kind != PC_JS_NUM || !(x->num >= 0 && x->num < 9007199254740992.0) || x->num != (double)(int64_t)x->num)
        return -1;
    *v = (int64_t)x->num;
    return 0;
}

static const payload *find_payload(const exa_archive *a, const char *fqn) {
    int lo = 0, hi = a->npay - 1, at = -1;
    while (lo <= hi) { /* the first of the names equal to fqn */
        int mid = lo + (hi - lo) / 2, c = strcmp(a->by_fqn[mid]->fqn, fqn);
        if (c >= 0) hi = mid - 1;
        else lo = mid + 1;
        if (c == 0) at = mid;
    }
    return at >= 0 ? a->by_fqn[at] : NULL;
}

int exa_has_tensor(const exa_archive *a, const char *fqn) { return find_payload(a, fqn) != NULL; }

static float bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

int exa_tensor(exa_archive *a, const char *fqn, ts_tensor *out, int *copied, pc_err *e) {
    memset(out, 0, sizeof *out);
    if (copied) *copied = 0;
    const payload *p = find_payload(a, fqn);
    if (!p) return pc_fail(e, PC_E_VALUE, "%s: no parameter, buffer or constant '%s' in the archive", a->what, fqn);
    if (p->use_pickle)
        return pc_fail(e, PC_E_UNSUPPORTED, "%s: '%s' is a pickled tensor subclass (record '%s'): pt2coreml reads plain "
                       "tensors only", a->what, fqn, p->record);
    if (!p->meta)
        return pc_fail(e, PC_E_UNSUPPORTED, "%s: '%s' is a custom object (record '%s'), not a tensor", a->what, fqn,
                       p->record);
    const pc_json *dt = pc_json_get(p->meta, "dtype"), *sz = pc_json_get(p->meta, "sizes"),
                   *st = pc_json_get(p->meta, "strides"), *so = pc_json_get(p->meta, "storage_offset"),
                   *lay = pc_json_get(p->meta, "layout");
    if (!dt || dt->kind != PC_JS_NUM || !sz || sz->kind != PC_JS_ARR || !st || st->kind != PC_JS_ARR ||
        st->n != sz->n || !so)
        return zfail(a, e, "the tensor metadata of '%s' is malformed (dtype, sizes, strides, storage_offset)", fqn);
    if (lay && !(lay->kind == PC_JS_NUM && lay->num == 7))
        return pc_fail(e, PC_E_UNSUPPORTED, "%s: '%s' is not a strided (dense) tensor", a->what, fqn);
    ts_scalar_type t;
    int es;
    if (scalar_type((int)dt->num, &t, &es) || dt->num != (double)(int)dt->num)
        return pc_fail(e, PC_E_UNSUPPORTED, "%s: '%s' has dtype code %g (export's ScalarType), which pt2coreml does not "
                       "read", a->what, fqn, dt->num);
    if (sz->n > 8) return pc_fail(e, PC_E_UNSUPPORTED, "%s: '%s' has rank %d (at most 8)", a->what, fqn, sz->n);
    int64_t sizes[8], strides[8], off, numel = 1, last = 0;
    if (as_int(so, &off)) return zfail(a, e, "'%s': its storage_offset is not a non-negative integer", fqn);
    for (int i = 0; i < sz->n; i++) {
        if (as_int(sz->items[i], &sizes[i]) || as_int(st->items[i], &strides[i]))
            return zfail(a, e, "'%s': size or stride %d is not a non-negative integer (a symbolic size?)", fqn, i);
        if (__builtin_mul_overflow(numel, sizes[i], &numel))
            return zfail(a, e, "'%s': its element count overflows", fqn);
    }
    const zent *z = find_ent(a, p->record);
    if (!z) return zfail(a, e, "'%s': its record '%s' is missing", fqn, p->record);
    if (numel > 0) { /* the last element it reads, within the record */
        last = off;
        for (int i = 0; i < sz->n; i++) {
            int64_t step;
            if (__builtin_mul_overflow(sizes[i] - 1, strides[i], &step) || __builtin_add_overflow(last, step, &last))
                return zfail(a, e, "'%s': its strides overflow", fqn);
        }
        if ((uint64_t)last >= z->size / (uint64_t)es)
            return zfail(a, e, "'%s': sizes, strides and storage offset reach element %lld, past the %llu bytes of "
                         "record '%s'", fqn, (long long)last, (unsigned long long)z->size, p->record);
    }
    out->rank = sz->n;
    out->numel = numel;
    memcpy(out->dims, sizes, sizeof(int64_t) * (size_t)sz->n);
    const unsigned char *src = a->base + z->off + (numel > 0 ? (uint64_t)off * (uint64_t)es : 0);
    int contiguous = 1;
    int64_t want = 1;
    for (int i = sz->n - 1; i >= 0; i--) {
        if (sizes[i] != 1 && strides[i] != want) contiguous = 0;
        want *= sizes[i] ? sizes[i] : 1;
    }
    int align = es > 8 ? 8 : (t == TS_COMPLEX_HALF ? 2 : es);
    if (t != TS_BFLOAT16 && contiguous && ((uintptr_t)src % (uintptr_t)align) == 0) {
        out->dtype = t;
        out->data = src;
        return 0;
    }
    /* a copy: gathered by strides, bfloat16 widened to float */
    int oes = t == TS_BFLOAT16 ? 4 : es;
    unsigned char *dst = pc_alloc_aligned(a->arena, (size_t)(numel ? numel : 1) * (size_t)oes, 64);
    if (!dst) return pc_fail(e, PC_E_NOMEM, "%s: out of memory copying '%s'", a->what, fqn);
    int64_t idx[8] = {0};
    for (int64_t k = 0; k < numel; k++) {
        int64_t at = 0;
        for (int i = 0; i < sz->n; i++) at += idx[i] * strides[i];
        const unsigned char *s = src + at * es;
        if (t == TS_BFLOAT16) {
            float f = bf16_to_f32((uint16_t)(s[0] | s[1] << 8));
            memcpy(dst + k * 4, &f, 4);
        } else {
            memcpy(dst + k * es, s, (size_t)es);
        }
        for (int i = sz->n - 1; i >= 0; i--) {
            if (++idx[i] < sizes[i]) break;
            idx[i] = 0;
        }
    }
    out->dtype = t == TS_BFLOAT16 ? TS_FLOAT : t;
    out->data = dst;
    if (copied) *copied = 1;
    return 0;
}

void exa_pages_done(void *arch, const void *p, size_t n) {
    exa_archive *a = arch;
    if (!a || !a->map_len || !n) return;
    uintptr_t b = (uintptr_t)a->base, s = (uintptr_t)p;
    if (s < b || s - b >= a->size) return;
    uintptr_t pg = (uintptr_t)sysconf(_SC_PAGESIZE), end = s + PC_MIN(n, a->size - (s - b));
    uintptr_t lo = s & ~(pg - 1), hi = (end + pg - 1) & ~(pg - 1);
    madvise((void *)lo, hi - lo, MADV_DONTNEED); /* read-only file pages: touched again, they are read again */
}
