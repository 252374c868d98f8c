/* manifest.c: the .mlpackage layout. Reading: Manifest.json -> the root model
 * item -> the path of model.mlmodel. Writing: Manifest.json with one entry for
 * the model and one for the weights directory, keyed by fresh UUIDs. And the
 * Model protobuf a package holds, checked and unpacked (ser_read_model_message). */
#include "serialize/ser_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST_MAX_BYTES (1u << 20)

/* A relative path that stays inside its directory (no "..", no absolute path). */
static int safe_relpath(const char *p) {
    if (!*p || p[0] == '/') return 0;
    const char *s = p;
    while (*s) {
        const char *t = strchr(s, '/');
        size_t l = t ? (size_t)(t - s) : strlen(s);
        if (l == 2 && s[0] == '.' && s[1] == '.') return 0;
        if (!t) break;
        s = t + 1;
    }
    return 1;
}

static char *dir_of(pc_arena *a, const char *file) {
    const char *sl = strrchr(file, '/');
    if (!sl) return pc_strdup(a, ".");
    if (sl == file) return pc_strdup(a, "/");
    return pc_strndup(a, file, (size_t)(sl - file));
}

/* Parse "major.minor.patch"; 0 on success. */
static int parse_version(const char *s, long v[3]) {
    for (int i = 0; i < 3; i++) {
        char *end;
        if (*s < '0' || *s > '9') return -1;
        v[i] = strtol(s, &end, 10);
        s = end;
        if (i < 2) {
            if (*s != '.') return -1;
            s++;
        }
    }
    return *s ? -1 : 0;
}

static int locate(const char *path, pc_arena *a, ser_model_loc *loc, pc_err *e) {
    struct stat st;
    if (!path || !*path) return pc_fail(e, PC_E_VALUE, "empty model path");
    if (stat(path, &st) != 0)
        return pc_fail(e, errno == ENOENT ? PC_E_FORMAT : PC_E_IO, "cannot open model %s: %s", path, strerror(errno));
    if (S_ISREG(st.st_mode)) { /* a bare model file: weights are beside it */
        loc->file = pc_strdup(a, path);
        loc->dir = dir_of(a, path);
        if (!loc->file || !loc->dir) return pc_fail(e, PC_E_NOMEM, "out of memory");
        loc->dir_rel = ".";
        loc->rootfd = open(loc->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (loc->rootfd < 0) return pc_fail(e, PC_E_IO, "cannot open directory %s: %s", loc->dir, strerror(errno));
        return 0;
    }
    if (!S_ISDIR(st.st_mode))
        return pc_fail(e, PC_E_FORMAT, "%s is %s, neither an .mlpackage directory nor a model file", path,
                       ser_kind_of(st.st_mode));
    /* the package directory may be a symbolic link; nothing inside it is followed */
    loc->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (loc->rootfd < 0) return pc_fail(e, PC_E_IO, "cannot open directory %s: %s", path, strerror(errno));
    char *mpath = pc_sprintf(a, "%s/Manifest.json", path);
    if (!mpath) return pc_fail(e, PC_E_NOMEM, "out of memory");
    if (fstatat(loc->rootfd, "Manifest.json", &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT)
        return pc_fail(e, PC_E_FORMAT, "%s: Manifest.json is missing (not an .mlpackage?)", path);
    unsigned char *buf;
    size_t len;
    if (ser_read_file(loc->rootfd, "Manifest.json", 1, mpath, MANIFEST_MAX_BYTES, &buf, &len, e)) return -1;
    pc_json *root;
    int r = pc_json_parse((const char *)buf, len, mpath, a, &root, e);
    free(buf);
    if (r) return -1;
    if (root->kind != PC_JS_OBJ) return pc_fail(e, PC_E_FORMAT, "%s: the manifest is not a JSON object", mpath);
    const pc_json *ver = pc_json_get(root, "fileFormatVersion");
    long v[3];
    if (!ver || ver->kind != PC_JS_STR || parse_version(ver->str, v))
        return pc_fail(e, PC_E_FORMAT, "%s: missing or malformed fileFormatVersion", mpath);
    if (v[0] != 1 || v[1] > 0)
        return pc_fail(e, PC_E_FORMAT, "%s: manifest version %s is newer than 1.0.x, which we read", mpath, ver->str);
    const pc_json *entries = pc_json_get(root, "itemInfoEntries");
    const pc_json *rootid = pc_json_get(root, "rootModelIdentifier");
    if (!entries || entries->kind != PC_JS_OBJ) return pc_fail(e, PC_E_FORMAT, "%s: missing itemInfoEntries", mpath);
    if (!rootid || rootid->kind != PC_JS_STR) return pc_fail(e, PC_E_FORMAT, "%s: missing rootModelIdentifier", mpath);
    const pc_json *item = pc_json_get(entries, rootid->str);
    if (!item || item->kind != PC_JS_OBJ)
        return pc_fail(e, PC_E_FORMAT, "%s: rootModelIdentifier '%s' has no entry in itemInfoEntries", mpath, rootid->str);
    const pc_json *ipath = pc_json_get(item, "path");
    if (!ipath || ipath->kind != PC_JS_STR) return pc_fail(e, PC_E_FORMAT, "%s: the root model entry has no path", mpath);
    if (!safe_relpath(ipath->str))
        return pc_fail(e, PC_E_FORMAT, "%s: the root model path '%s' leaves the package", mpath, ipath->str);
    loc->file_rel = pc_sprintf(a, "Data/%s", ipath->str);
    loc->file = pc_sprintf(a, "%s/Data/%s", path, ipath->str);
    loc->dir = loc->file ? dir_of(a, loc->file) : NULL;
    loc->dir_rel = loc->file_rel ? dir_of(a, loc->file_rel) : NULL;
    if (!loc->file_rel || !loc->file || !loc->dir || !loc->dir_rel) return pc_fail(e, PC_E_NOMEM, "out of memory");
    return 0;
}

int ser_locate_model(const char *path, pc_arena *a, ser_model_loc *loc, pc_err *e) {
    memset(loc, 0, sizeof *loc);
    loc->rootfd = -1;
    if (!locate(path, a, loc, e)) return 0;
    ser_model_loc_close(loc);
    return -1;
}

int ser_read_model_file(const ser_model_loc *loc, unsigned char **buf, size_t *len, pc_err *e) {
    if (!loc->file_rel) return ser_read_file(AT_FDCWD, loc->file, 0, loc->file, SER_MAX_MODEL_BYTES, buf, len, e);
    return ser_read_file(loc->rootfd, loc->file_rel, 1, loc->file, SER_MAX_MODEL_BYTES, buf, len, e);
}

void ser_model_loc_close(ser_model_loc *loc) {
    if (loc->rootfd >= 0) close(loc->rootfd);
    loc->rootfd = -1;
}

void ser_uuid(char buf[37]) {
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t r = getrandom(b + got, sizeof b - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got < sizeof b) { /* no entropy source: mix clock and pid (uniqueness is what matters) */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 17);
        static unsigned counter;
        x ^= (uint64_t)(++counter) * 0x9E3779B97F4A7C15ull;
        for (int i = 0; i < 16; i++) {
            x ^= x >> 33;
            x *= 0xFF51AFD7ED558CCDull;
            x ^= x >> 29;
            b[i] = (unsigned char)x;
        }
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    int k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) buf[k++] = '-';
        buf[k++] = hex[b[i] >> 4];
        buf[k++] = hex[b[i] & 15];
    }
    buf[k] = 0;
}

int ser_write_manifest(const char *pkg, pc_err *e) {
    char model_id[37], weights_id[37];
    ser_uuid(model_id);
    do ser_uuid(weights_id);
    while (strcmp(model_id, weights_id) == 0);
    char text[1024];
    int n = snprintf(text, sizeof text,
                     "{\n"
                     "    \"fileFormatVersion\": \"1.0.0\",\n"
                     "    \"itemInfoEntries\": {\n"
                     "        \"%s\": {\n"
                     "            \"author\": \"com.apple.CoreML\",\n"
                     "            \"description\": \"CoreML Model Specification\",\n"
                     "            \"name\": \"model.mlmodel\",\n"
                     "            \"path\": \"com.apple.CoreML/model.mlmodel\"\n"
                     "        },\n"
                     "        \"%s\": {\n"
                     "            \"author\": \"com.apple.CoreML\",\n"
                     "            \"description\": \"CoreML Model Weights\",\n"
                     "            \"name\": \"weights\",\n"
                     "            \"path\": \"com.apple.CoreML/weights\"\n"
                     "        }\n"
                     "    },\n"
                     "    \"rootModelIdentifier\": \"%s\"\n"
                     "}",
                     model_id, weights_id, model_id);
    if (n < 0 || (size_t)n >= sizeof text) return pc_fail(e, PC_E_INTERNAL, "manifest text overflow");
    size_t pl = strlen(pkg);
    char *p = malloc(pl + 16);
    if (!p) return pc_fail(e, PC_E_NOMEM, "out of memory");
    memcpy(p, pkg, pl);
    memcpy(p + pl, "/Manifest.json", 15);
    int r = ser_write_file(p, text, (size_t)n, e);
    free(p);
    return r;
}

ProtobufCMessage *ser_read_model_message(const char *path, unsigned char **bytes, size_t *nbytes, pc_err *e) {
    pc_arena *a = pc_arena_new();
    if (!a) {
        pc_fail(e, PC_E_NOMEM, "out of memory");
        return NULL;
    }
    ser_model_loc loc;
    unsigned char *buf = NULL;
    size_t len = 0;
    Cml__Model *m = NULL;
    if (ser_locate_model(path, a, &loc, e)) goto done;
    int r = ser_read_model_file(&loc, &buf, &len, e) ||
            ser_pb_check(&cml__model__descriptor, buf, len, SER_MAX_PB_DEPTH, loc.file, e);
    ser_model_loc_close(&loc);
    if (r) goto done;
    m = cml__model__unpack(NULL, len, buf);
    if (!m) pc_fail(e, PC_E_FORMAT, "%s: corrupt Model protobuf", loc.file);
    if (m && bytes) {
        *bytes = buf;
        *nbytes = len;
        buf = NULL;
    }
done:
    free(buf);
    pc_arena_free(a);
    return m ? &m->base : NULL;
}
