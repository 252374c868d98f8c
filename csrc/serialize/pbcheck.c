/* pbcheck.c: a pre-pass over protobuf wire data, before protobuf-c unpacks it.
 * protobuf-c validates lengths but recurses into nested messages without a
 * limit and reports failure without a reason; this walk gives the reason and
 * the byte offset (truncation, bad tag, bad wire type) and bounds the depth.
 * String fields must be UTF-8 (as protobuf requires) without NUL characters
 * (C strings would silently end there). */
#include "serialize/ser_int.h"

typedef struct {
    const uint8_t *buf;
    const char *what;
    int max_depth;
    pc_err *e;
} pbw;

static int varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *out) {
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (*pos >= len) return -1;
        uint8_t b = p[(*pos)++];
        if (i == 9 && b > 1) return -1; /* more than 64 bits */
        v |= (uint64_t)(b & 0x7F) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Length of the valid UTF-8 prefix of s[0..n) without NULs (n when all is valid). */
static size_t utf8_ok_prefix(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c == 0) return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) k = 1, cp = c & 0x1F, min = 0x80;
        else if ((c & 0xF0) == 0xE0) k = 2, cp = c & 0x0F, min = 0x800;
        else if ((c & 0xF8) == 0xF0) k = 3, cp = c & 0x07, min = 0x10000;
        else return i;
        if (n - i <= k) return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i; /* overlong, surrogate */
        i += k + 1;
    }
    return n;
}

static int walk(pbw *w, const ProtobufCMessageDescriptor *d, size_t start, size_t len, int depth) {
    const uint8_t *p = w->buf + start;
    size_t pos = 0;
    while (pos < len) {
        size_t at = start + pos;
        uint64_t tag, v;
        if (varint(p, len, &pos, &tag))
            return pc_fail(w->e, PC_E_FORMAT, "%s: truncated or corrupt protobuf (bad field tag at byte %zu)", w->what, at);
        uint32_t num = (uint32_t)(tag >> 3);
        int wt = (int)(tag & 7);
        if (num == 0 || (tag >> 3) > 0x1FFFFFFF)
            return pc_fail(w->e, PC_E_FORMAT, "%s: corrupt protobuf (field number %llu at byte %zu)", w->what,
                           (unsigned long long)(tag >> 3), at);
        switch (wt) {
        case 0:
            if (varint(p, len, &pos, &v))
                return pc_fail(w->e, PC_E_FORMAT, "%s: truncated protobuf (varint of field %u at byte %zu)", w->what, num, at);
            break;
        case 1:
        case 5: {
            size_t n = wt == 1 ? 8 : 4;
            if (len - pos < n)
                return pc_fail(w->e, PC_E_FORMAT, "%s: truncated protobuf (field %u at byte %zu)", w->what, num, at);
            pos += n;
            break;
        }
        case 2: {
            if (varint(p, len, &pos, &v))
                return pc_fail(w->e, PC_E_FORMAT, "%s: truncated protobuf (length of field %u at byte %zu)", w->what, num, at);
            if (v > len - pos)
                return pc_fail(w->e, PC_E_FORMAT,
                               "%s: truncated protobuf (field %u at byte %zu claims %llu bytes, %zu remain)", w->what, num,
                               at, (unsigned long long)v, len - pos);
            const ProtobufCFieldDescriptor *f = d ? protobuf_c_message_descriptor_get_field(d, num) : NULL;
            if (f && f->type == PROTOBUF_C_TYPE_STRING) {
                size_t ok = utf8_ok_prefix(p + pos, (size_t)v);
                if (ok < v)
                    return pc_fail(w->e, PC_E_FORMAT, "%s: string field '%s' at byte %zu (\"%.*s...\") has %s at its byte %zu",
                                   w->what, f->name, at, (int)PC_MIN(ok, 64), (const char *)p + pos,
                                   p[pos + ok] ? "invalid UTF-8" : "a NUL character", ok);
            }
            if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
                if (depth + 1 > w->max_depth)
                    return pc_fail(w->e, PC_E_FORMAT, "%s: messages nested deeper than %d (byte %zu)", w->what,
                                   w->max_depth, at);
                if (walk(w, f->descriptor, start + pos, (size_t)v, depth + 1)) return -1;
            }
            pos += (size_t)v;
            break;
        }
        default:
            return pc_fail(w->e, PC_E_FORMAT, "%s: corrupt protobuf (wire type %d of field %u at byte %zu)", w->what, wt,
                           num, at);
        }
    }
    return 0;
}

int ser_pb_check(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len, int max_depth, const char *what,
                 pc_err *e) {
    pbw w = {.buf = buf, .what = what, .max_depth = max_depth, .e = e};
    return walk(&w, d, 0, len, 0);
}
