/* NumPy .npy files: a strict header parser, a writer, and float16 <-> float32 conversion. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy_internal.h"

/* Data is read and written as the host's floats, and .npy data here is little-endian. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "datasets/npy.c assumes a little-endian host"
#endif

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* ---- float16 ------------------------------------------------------------------------------ */

float lr_data_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0) {
        /* Zero or subnormal: man * 2^-24, exact in float32. */
        float v = ldexpf((float)man, -24);
        return sign ? -v : v;
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13); /* man != 0 keeps it a NaN */
    } else {
        bits = sign | ((exp + 112u) << 23) | (man << 13); /* rebias 15 -> 127 */
    }
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

float lr_data_bf16_to_float(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16; /* bfloat16 is float32's top half */
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

uint16_t lr_data_float_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
    /* Round to nearest even on the 16 bits dropped; a carry moves into the exponent, and from
     * the largest finite values on into infinity, as it should. */
    x += 0x7fffu + ((x >> 16) & 1u);
    return (uint16_t)(x >> 16);
}

uint16_t lr_data_float_to_half(float f) {
    uint32_t x;
    memcpy(&x, &f, sizeof x);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {
        if (ax == 0x7f800000u) return sign | 0x7c00u;
        /* NaN: keep the top payload bits, and set the quiet bit so it can't become Inf. */
        return (uint16_t)(sign | 0x7e00u | ((ax >> 13) & 0x3ffu));
    }
    /* 65520 is halfway between 65504 (odd mantissa) and 65536: ties to even go to infinity. */
    if (ax >= 0x477ff000u) return sign | 0x7c00u;
    if (ax < 0x38800000u) {
        /* Below 2^-14: a half subnormal, counted in units of 2^-24. */
        uint32_t e = ax >> 23;
        if (e < 102) return sign; /* below 2^-25: rounds to zero (also float subnormals) */
        uint32_t m = (ax & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e; /* 14 .. 24 */
        uint32_t r = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (r & 1u))) r++; /* may carry to 0x400: 2^-14 */
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((ax >> 23) - 112u) << 10 | ((ax & 0x7fffffu) >> 13);
    uint32_t rem = ax & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (r & 1u))) r++; /* a carry bumps the exponent */
    return (uint16_t)(sign | r);
}

/* ---- finite check -------------------------------------------------------------------------- */

/* Whether any of n floats is NaN or infinite: all exponent bits set, which is the one exponent
 * that carries into bit 31 when 1 is added to it. Eight lanes of and, add and or a step, which
 * GCC's -O2 turns into vector code (a compare per value, or a branch, stayed scalar: 1 ns a
 * value, 1.1 s of a 1M-item rebuild's 4 GB of content). */
static int any_not_finite(const float *x, size_t n) {
    uint32_t acc[8] = {0}, hit = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint32_t u[8];
        memcpy(u, x + i, sizeof u);
        for (int j = 0; j < 8; j++) acc[j] |= (u[j] & 0x7f800000u) + 0x00800000u;
    }
    for (; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        hit |= (u & 0x7f800000u) + 0x00800000u;
    }
    for (int j = 0; j < 8; j++) hit |= acc[j];
    return (hit & 0x80000000u) != 0;
}

int lr_data_check_finite(const float *x, size_t rows, size_t dim, int code, const char *name,
                         lr_err *err) {
    size_t n = rows * dim, block = 1u << 16;
    for (size_t b = 0; b < n; b += block) { /* blocks: the scan stops near the first bad value */
        size_t m = n - b < block ? n - b : block;
        if (!any_not_finite(x + b, m)) continue;
        for (size_t i = b; i < b + m; i++) {
            if (isfinite(x[i])) continue;
            const char *what = isnan(x[i]) ? "NaN" : x[i] > 0 ? "Inf" : "-Inf";
            return lr_err_set(err, code, "%s: row %zu, column %zu is %s", name, i / dim, i % dim, what);
        }
    }
    return LR_OK;
}

/* ---- header parsing ------------------------------------------------------------------------ */

/* A cursor over the header dict; `name` and `start` are for messages. */
typedef struct {
    const unsigned char *p, *end, *start;
    const char *name;
    unsigned version;
    lr_err *err;
} cursor;

/* Python's whitespace inside brackets (newlines included: the dict is one bracketed literal). */
static void skip_ws(cursor *c) {
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' || *c->p == '\f' ||
            *c->p == '\v'))
        c->p++;
}

/* Every malformed header gets the same prefix and the offset into the dict. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static int bad(cursor *c, const char *fmt, ...) {
    char what[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return lr_err_set(c->err, LR_EFORMAT, "%s: malformed .npy header: %s (at byte %zu of the dict)",
                      c->name, what, (size_t)(c->p - c->start));
}

static int unterminated(cursor *c) {
    return lr_err_set(c->err, LR_EFORMAT,
                      "%s: malformed .npy header: unterminated dict (the header ends before its "
                      "closing '}')", c->name);
}

/* A plain Python string literal, 'x' or "x", without escapes (no header needs them). */
static int parse_string(cursor *c, char *out, size_t cap) {
    if (c->p >= c->end) return unterminated(c);
    unsigned char q = *c->p;
    if (q != '\'' && q != '"') return bad(c, "expected a quoted string");
    const unsigned char *s = ++c->p;
    while (c->p < c->end && *c->p != q) {
        if (*c->p == '\\' || *c->p == '\n' || *c->p < 0x20)
            return bad(c, "unexpected character 0x%02x in a string", *c->p);
        c->p++;
    }
    if (c->p >= c->end) return unterminated(c);
    size_t n = (size_t)(c->p - s);
    c->p++;
    if (n >= cap) n = cap - 1; /* long strings are never valid keys or dtypes; kept for messages */
    memcpy(out, s, n);
    out[n] = '\0';
    return LR_OK;
}

static bool is_ident(unsigned char ch) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_';
}

static int parse_bool(cursor *c, bool *out) {
    const unsigned char *s = c->p;
    while (c->p < c->end && is_ident(*c->p)) c->p++;
    size_t n = (size_t)(c->p - s);
    if (n == 4 && memcmp(s, "True", 4) == 0) *out = true;
    else if (n == 5 && memcmp(s, "False", 5) == 0) *out = false;
    else if (c->p >= c->end) return unterminated(c);
    else {
        c->p = s;
        return bad(c, "'fortran_order' must be True or False");
    }
    return LR_OK;
}

/* A non-negative decimal integer; Python 2 writers of versions 1.0 and 2.0 added an L. */
static int parse_int(cursor *c, size_t *out) {
    if (c->p >= c->end) return unterminated(c);
    if (*c->p < '0' || *c->p > '9') return bad(c, "expected a non-negative integer in 'shape'");
    size_t v = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        size_t digit = (size_t)(*c->p - '0');
        if (v > (SIZE_MAX - digit) / 10) return bad(c, "a dimension in 'shape' is too large");
        v = v * 10 + digit;
        c->p++;
    }
    if (c->version <= 2 && c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
    if (c->p < c->end && is_ident(*c->p))
        return bad(c, "expected a non-negative integer in 'shape'");
    *out = v;
    return LR_OK;
}

/* A tuple of integers: (), (N,), (N, D), ... ; (N) is just N in Python, not a tuple. */
static int parse_shape(cursor *c, lr_npy_info *info) {
    if (c->p >= c->end) return unterminated(c);
    if (*c->p != '(') return bad(c, "'shape' must be a tuple such as (4385, 1024)");
    c->p++;
    info->ndim = 0;
    bool comma = false;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end) return unterminated(c);
        if (*c->p == ')') {
            if (info->ndim == 1 && !comma)
                return bad(c, "'shape' (%zu) is not a tuple: expected (%zu,)", info->shape[0],
                           info->shape[0]);
            c->p++;
            return LR_OK;
        }
        if (info->ndim > 0 && !comma) return bad(c, "expected ',' or ')' in 'shape'");
        if (info->ndim == LR_NPY_MAX_DIMS)
            return bad(c, "'shape' has more than %d dimensions", LR_NPY_MAX_DIMS);
        int rc = parse_int(c, &info->shape[info->ndim]);
        if (rc) return rc;
        info->ndim++;
        skip_ws(c);
        comma = c->p < c->end && *c->p == ',';
        if (comma) c->p++;
    }
}

static int parse_descr(cursor *c, lr_npy_info *info) {
    if (c->p < c->end && *c->p == '[')
        return lr_err_set(c->err, LR_EUNSUPPORTED, "%s: a structured dtype is not supported: "
                          "expected float32 ('<f4') or float16 ('<f2')", c->name);
    char descr[32];
    int rc = parse_string(c, descr, sizeof descr);
    if (rc) return rc;
    /* '=' is native order, which is little-endian on every host this builds on. */
    if ((descr[0] == '<' || descr[0] == '=') && strcmp(descr + 1, "f4") == 0) {
        info->dtype = LR_NPY_F32;
        info->itemsize = 4;
    } else if ((descr[0] == '<' || descr[0] == '=') && strcmp(descr + 1, "f2") == 0) {
        info->dtype = LR_NPY_F16;
        info->itemsize = 2;
    } else {
        return lr_err_set(c->err, LR_EUNSUPPORTED, "%s: dtype '%s' is not supported: expected "
                          "float32 ('<f4') or float16 ('<f2')", c->name, descr);
    }
    return LR_OK;
}

static int parse_dict(cursor *c, lr_npy_info *info) {
    bool have_descr = false, have_order = false, have_shape = false, fortran = false;
    skip_ws(c);
    if (c->p >= c->end) return unterminated(c);
    if (*c->p != '{') return bad(c, "expected a dict starting with '{'");
    c->p++;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end) return unterminated(c);
        if (*c->p == '}') {
            c->p++;
            break;
        }
        char key[32];
        int rc = parse_string(c, key, sizeof key);
        if (rc) return rc;
        bool *seen = strcmp(key, "descr") == 0           ? &have_descr
                     : strcmp(key, "fortran_order") == 0 ? &have_order
                     : strcmp(key, "shape") == 0         ? &have_shape
                                                         : NULL;
        if (!seen)
            return bad(c, "unexpected key '%s' (expected exactly 'descr', 'fortran_order' and "
                       "'shape')", key);
        if (*seen) return bad(c, "key '%s' appears twice", key);
        *seen = true;
        skip_ws(c);
        if (c->p >= c->end) return unterminated(c);
        if (*c->p != ':') return bad(c, "expected ':' after '%s'", key);
        c->p++;
        skip_ws(c);
        if (seen == &have_descr) rc = parse_descr(c, info);
        else if (seen == &have_order) rc = parse_bool(c, &fortran);
        else rc = parse_shape(c, info);
        if (rc) return rc;
        skip_ws(c);
        if (c->p >= c->end) return unterminated(c);
        if (*c->p == ',') c->p++;
        else if (*c->p != '}') return bad(c, "expected ',' or '}' after the value of '%s'", key);
    }
    skip_ws(c);
    if (c->p < c->end) return bad(c, "unexpected text after the dict");
    const char *missing = !have_descr ? "descr" : !have_order ? "fortran_order"
                        : !have_shape ? "shape" : NULL;
    if (missing)
        return lr_err_set(c->err, LR_EFORMAT, "%s: malformed .npy header: the dict has no '%s' "
                          "(expected 'descr', 'fortran_order' and 'shape')", c->name, missing);
    if (fortran)
        return lr_err_set(c->err, LR_EUNSUPPORTED, "%s: the array is in Fortran order; save it "
                          "with np.save(path, np.ascontiguousarray(a))", c->name);
    return LR_OK;
}

int lr_data_npy_parse_header(const unsigned char *buf, size_t len, lr_npy_info *info, const char *name,
                        lr_err *err) {
    memset(info, 0, sizeof *info);
    if (len < sizeof npy_magic || memcmp(buf, npy_magic, sizeof npy_magic) != 0)
        return lr_err_set(err, LR_EFORMAT, "%s: not a .npy file: expected the magic \\x93NUMPY",
                          name);
    if (len < 8)
        return lr_err_set(err, LR_EFORMAT, "%s: truncated .npy header: the file ends after %zu "
                          "bytes", name, len);
    unsigned major = buf[6], minor = buf[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return lr_err_set(err, LR_EUNSUPPORTED, "%s: .npy format version %u.%u is not supported "
                          "(expected 1.0, 2.0 or 3.0)", name, major, minor);
    /* 1.0 has a 2-byte header length; 2.0 (long headers) and 3.0 (utf-8 headers) 4 bytes. */
    size_t prefix = major == 1 ? 10 : 12;
    if (len < prefix)
        return lr_err_set(err, LR_EFORMAT, "%s: truncated .npy header: the file ends after %zu "
                          "bytes", name, len);
    size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    if (major != 1) hlen |= (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (hlen > len - prefix)
        return lr_err_set(err, LR_EFORMAT, "%s: .npy header length %zu runs past the end of the "
                          "file (%zu bytes)", name, hlen, len);
    cursor c = {buf + prefix, buf + prefix + hlen, buf + prefix, name, major, err};
    info->version = major;
    int rc = parse_dict(&c, info);
    if (rc) {
        memset(info, 0, sizeof *info);
        return rc;
    }
    info->data_offset = prefix + hlen;
    info->count = 1;
    for (size_t i = 0; i < info->ndim; i++) {
        if (info->shape[i] && info->count > SIZE_MAX / info->shape[i]) goto too_large;
        info->count *= info->shape[i];
    }
    if (info->count > SIZE_MAX / info->itemsize) goto too_large;
    info->data_bytes = info->count * info->itemsize;
    return LR_OK;
too_large:;
    char shape[160];
    lr_data_npy_shape_str(info, shape, sizeof shape);
    memset(info, 0, sizeof *info);
    return lr_err_set(err, LR_EFORMAT, "%s: shape %s is too large", name, shape);
}

int lr_data_npy_check_file_size(const lr_npy_info *info, size_t file_size, const char *name,
                           lr_err *err) {
    size_t have = file_size > info->data_offset ? file_size - info->data_offset : 0;
    if (have < info->data_bytes)
        return lr_err_set(err, LR_EFORMAT, "%s: truncated: expected %zu bytes of data, found %zu",
                          name, info->data_bytes, have);
    if (have > info->data_bytes)
        return lr_err_set(err, LR_EFORMAT, "%s: %zu bytes after the data (expected %zu bytes of "
                          "data after a %zu-byte header)", name, have - info->data_bytes,
                          info->data_bytes, info->data_offset);
    return LR_OK;
}

const char *lr_data_npy_shape_str(const lr_npy_info *info, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = '\0';
    k += (size_t)snprintf(buf, cap, "(");
    for (size_t i = 0; i < info->ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%zu", i ? ", " : "", info->shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "%s)", info->ndim == 1 ? "," : "");
    return buf;
}

/* ---- writing --------------------------------------------------------------------------------- */

size_t lr_data_npy_header_format(unsigned char *buf, lr_npy_dtype dtype, size_t rows, size_t cols) {
    char dict[LR_NPY_HEADER_MAX];
    int n;
    /* numpy's own layout, so `cmp` against a file numpy saved finds no difference. */
    if (cols)
        n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu, "
                     "%zu), }", dtype == LR_NPY_F16 ? "<f2" : "<f4", rows, cols);
    else
        n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%zu,)"
                     ", }", dtype == LR_NPY_F16 ? "<f2" : "<f4", rows);
    size_t used = 10 + (size_t)n + 1; /* prefix, dict, '\n' */
    size_t total = (used + 63) / 64 * 64;
    size_t hlen = total - 10;
    memcpy(buf, npy_magic, sizeof npy_magic);
    buf[6] = 1;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, dict, (size_t)n);
    memset(buf + 10 + n, ' ', total - 10 - (size_t)n - 1);
    buf[total - 1] = '\n';
    return total;
}

/* Refuses what the file could not hold; runs before any file is created. */
static int check_values(const char *path, const float *data, size_t rows, size_t cols,
                        lr_npy_dtype dtype, lr_err *err) {
    size_t width = cols ? cols : 1, n = rows * width;
    for (size_t i = 0; i < n; i++) {
        float v = data[i];
        if (isfinite(v) && (dtype != LR_NPY_F16 || fabsf(v) <= 65504.0f)) continue;
        char where[64]; /* only for the message: formatting it for every value cost seconds */
        if (cols) snprintf(where, sizeof where, "row %zu, column %zu", i / width, i % width);
        else snprintf(where, sizeof where, "element %zu", i);
        if (!isfinite(v))
            return lr_err_set(err, LR_EINVAL, "%s: %s is %s, which a content matrix cannot hold",
                              path, where, isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf");
        if (dtype == LR_NPY_F16 && fabsf(v) > 65504.0f)
            return lr_err_set(err, LR_ERANGE, "%s: %s is %g, beyond float16's range (+-65504); "
                              "write float32 or rescale", path, where, (double)v);
    }
    return LR_OK;
}

static int write_data(FILE *f, const float *data, size_t n, lr_npy_dtype dtype) {
    if (n == 0) return 0; /* an empty array may come with data == NULL */
    if (dtype == LR_NPY_F32) return fwrite(data, sizeof *data, n, f) == n ? 0 : -1;
    unsigned char buf[8192];
    size_t per = sizeof buf / 2;
    for (size_t i = 0; i < n; i += per) {
        size_t m = n - i < per ? n - i : per;
        for (size_t j = 0; j < m; j++) {
            uint16_t h = lr_data_float_to_half(data[i + j]);
            buf[2 * j] = (unsigned char)(h & 0xff);
            buf[2 * j + 1] = (unsigned char)(h >> 8);
        }
        if (fwrite(buf, 2, m, f) != m) return -1;
    }
    return 0;
}

/* What lr_data_npy_write puts in the file: the header, then the values in the dtype. */
typedef struct {
    const unsigned char *header;
    size_t hlen, n;
    const float *data;
    lr_npy_dtype dtype;
} npy_body;

static int write_body(const char *tmp, void *ctx, lr_err *err) {
    const npy_body *b = ctx;
    FILE *f = fopen(tmp, "wb");
    if (!f) return lr_err_set(err, LR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    if (fwrite(b->header, 1, b->hlen, f) != b->hlen || write_data(f, b->data, b->n, b->dtype) != 0 ||
        fflush(f) != 0) {
        int rc = lr_err_set(err, LR_EIO, "%s: write failed: %s", tmp, strerror(errno));
        fclose(f);
        return rc;
    }
    if (fclose(f) != 0) return lr_err_set(err, LR_EIO, "%s: close failed: %s", tmp, strerror(errno));
    return LR_OK;
}

int lr_data_npy_write(const char *path, const float *data, size_t rows, size_t cols,
                      lr_npy_dtype dtype, lr_err *err) {
    if (!path || !path[0]) return lr_err_set(err, LR_EINVAL, "npy write: no path given");
    if (dtype != LR_NPY_F32 && dtype != LR_NPY_F16)
        return lr_err_set(err, LR_EINVAL, "%s: unknown dtype %d (expected LR_NPY_F32 or "
                          "LR_NPY_F16)", path, (int)dtype);
    size_t width = cols ? cols : 1;
    if (rows > SIZE_MAX / 4 / width)
        return lr_err_set(err, LR_EINVAL, "%s: %zu x %zu values is too large", path, rows, cols);
    size_t n = rows * width;
    if (n && !data) return lr_err_set(err, LR_EINVAL, "%s: no data given for %zu values", path, n);
    int rc = check_values(path, data, rows, cols, dtype, err);
    if (rc) return rc;
    unsigned char header[LR_NPY_HEADER_MAX];
    npy_body body = {header, lr_data_npy_header_format(header, dtype, rows, cols), n, data, dtype};
    return lr_data_write_aside(path, write_body, &body, err);
}
