/* Strings the server sends are valid UTF-8. A client may put any bytes in a method name (and a
 * dataset's texts may hold any bytes), while a strict reader (python-msgpack with raw=False,
 * jansson) refuses a whole response over one bad str, so the client could not even read the
 * error that names its mistake. Every byte outside a well-formed sequence is sent as the four
 * characters \xNN instead. */
#include <string.h>

#include "rpc_internal.h"

/* The length of the well-formed sequence at p (n bytes left), 0 when there is none. Unicode's
 * table 3-7: the second byte's range rules out overlongs (E0, F0), surrogates U+D800..DFFF (ED)
 * and code points above U+10FFFF (F4); C0, C1 and F5..FF never start a sequence. */
static size_t seq_len(const unsigned char *p, size_t n) {
    unsigned c = p[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2;
    else if (c >= 0xe0 && c <= 0xef) len = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
    else return 0;
    if (n < len || p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xc0) != 0x80) return 0;
    return len;
}

size_t lr_rpc_utf8_valid(const char *s, size_t len) {
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, k;
    while (i < len && (k = seq_len(p + i, len - i))) i += k;
    return i;
}

size_t lr_rpc_utf8_cut(const char *s, size_t len, size_t max) {
    if (len <= max) return len;
    /* s[max] continues a character that began at most 3 bytes before: cut before that one */
    size_t cut = max;
    while (cut > 0 && max - cut < 3 && ((unsigned char)s[cut] & 0xc0) == 0x80) cut--;
    return ((unsigned char)s[cut] & 0xc0) == 0x80 ? max : cut; /* stray continuation bytes: as is */
}

/* b as the four characters \xNN (lowercase hex) at e. */
static void escape_byte(char *e, unsigned char b) {
    static const char hex[] = "0123456789abcdef";
    e[0] = '\\', e[1] = 'x', e[2] = hex[b >> 4], e[3] = hex[b & 15];
}

size_t lr_rpc_utf8_escape(char *out, const char *s, size_t len) {
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t v = lr_rpc_utf8_valid(s + i, len - i);
        if (out && v) memcpy(out + n, s + i, v);
        n += v, i += v;
        if (i < len) {
            if (out) escape_byte(out + n, (unsigned char)s[i]);
            n += 4, i++;
        }
    }
    return n;
}

int lr_rpc_pack_str(msgpack_packer *pk, const char *s, size_t len) {
    if (lr_rpc_utf8_valid(s, len) == len) /* the usual case: one walk, packed as it is */
        return msgpack_pack_str(pk, len) || msgpack_pack_str_body(pk, s, len);
    size_t n = lr_rpc_utf8_escape(NULL, s, len);
    int bad = msgpack_pack_str(pk, n);
    /* the valid runs and the escapes go into the packer one by one: nothing to allocate */
    for (size_t i = 0; !bad && i < len;) {
        size_t v = lr_rpc_utf8_valid(s + i, len - i);
        if (v) bad = msgpack_pack_str_body(pk, s + i, v);
        i += v;
        if (!bad && i < len) {
            char e[4];
            escape_byte(e, (unsigned char)s[i++]);
            bad = msgpack_pack_str_body(pk, e, 4);
        }
    }
    return bad;
}
