/* Framing: msgpack-rpc has no length prefix, so a frame ends where its msgpack object ends.
 * msgpack-c's streaming unpacker would buffer (and, for array headers, allocate) whatever a
 * header claims; this scan walks only the headers, so a limit is enforced before any of it. */
#include "rpc_internal.h"

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v = v << 8 | p[i];
    return v;
}

/* One object's header at b: its size h (type byte and length bytes), the bytes that follow it
 * (payload) or, for a container, its element count. Returns 0 when the type byte is invalid,
 * -1 when the header is not all in the buffer yet, 1 otherwise. */
static int header(const unsigned char *b, size_t avail, size_t *h, uint64_t *payload, uint64_t *count,
                  int *container) {
    unsigned t = b[0];
    int lenbytes = 0; /* width of the big-endian length that follows the type byte */
    *h = 1, *payload = 0, *count = 0, *container = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) return 1;
    if (t >= 0x80 && t <= 0x8f) return *container = 1, *count = 2 * (t & 0x0f), 1;
    if (t >= 0x90 && t <= 0x9f) return *container = 1, *count = t & 0x0f, 1;
    if (t >= 0xa0 && t <= 0xbf) return *payload = t & 0x1f, 1;
    switch (t) {
    case 0xca: *payload = 4; return 1;
    case 0xcb: *payload = 8; return 1;
    case 0xcc: case 0xd0: *payload = 1; return 1;
    case 0xcd: case 0xd1: *payload = 2; return 1;
    case 0xce: case 0xd2: *payload = 4; return 1;
    case 0xcf: case 0xd3: *payload = 8; return 1;
    case 0xd4: *payload = 2; return 1; /* fixext: type byte + data */
    case 0xd5: *payload = 3; return 1;
    case 0xd6: *payload = 5; return 1;
    case 0xd7: *payload = 9; return 1;
    case 0xd8: *payload = 17; return 1;
    case 0xc4: case 0xd9: lenbytes = 1; break;
    case 0xc5: case 0xda: lenbytes = 2; break;
    case 0xc6: case 0xdb: lenbytes = 4; break;
    case 0xc7: lenbytes = 1; break;
    case 0xc8: lenbytes = 2; break;
    case 0xc9: lenbytes = 4; break;
    case 0xdc: case 0xde: lenbytes = 2; *container = 1; break;
    case 0xdd: case 0xdf: lenbytes = 4; *container = 1; break;
    default: return 0; /* 0xc1: never used */
    }
    if (avail < 1 + (size_t)lenbytes) return -1;
    uint64_t n = be(b + 1, lenbytes);
    *h = 1 + (size_t)lenbytes;
    if (*container) *count = (t == 0xde || t == 0xdf) ? 2 * n : n;
    else *payload = n + (t >= 0xc7 && t <= 0xc9); /* ext: one more byte for its type */
    return 1;
}

/* An object ended: it counts against the innermost open container, which may end in turn. */
static int object_done(lr_frame_scan *s) {
    while (s->depth > 0) {
        if (--s->remaining[s->depth - 1] > 0) return 0;
        s->depth--;
    }
    return 1;
}

long lr_rpc_frame_scan_next(lr_frame_scan *s, const unsigned char *buf, size_t len, size_t max_frame) {
    for (;;) {
        if (s->pos >= len) return s->pos >= max_frame ? LR_FRAME_TOO_LARGE : LR_FRAME_INCOMPLETE;
        size_t h;
        uint64_t payload, count;
        int container, r = header(buf + s->pos, len - s->pos, &h, &payload, &count, &container);
        if (r == 0) return LR_FRAME_BAD;
        if (r < 0) return LR_FRAME_INCOMPLETE;
        /* every element takes at least a byte: a count beyond the limit cannot fit either */
        if (payload > max_frame || count > max_frame || s->pos + h + payload > max_frame)
            return LR_FRAME_TOO_LARGE;
        if (container && count > 0) {
            if (s->depth == LR_FRAME_MAX_DEPTH) return LR_FRAME_TOO_DEEP;
            s->remaining[s->depth++] = count;
            s->pos += h;
            continue;
        }
        if (s->pos + h + payload > len) return LR_FRAME_INCOMPLETE;
        s->pos += h + (size_t)payload;
        if (object_done(s)) return (long)s->pos;
    }
}

const char *lr_rpc_frame_problem(long r) {
    switch (r) {
    case LR_FRAME_TOO_LARGE: return "frame larger than the server's limit (--max-frame)";
    case LR_FRAME_TOO_DEEP: return "frame nested deeper than 32 levels";
    default: return "bytes that are not msgpack";
    }
}
