/* Safetensors files: a float writer (F32, F16, BF16), a raw writer (any dtype of the format,
 * elements as given) and a validating reader that widens those
 * dtypes to float32 (header JSON parsed by jansson). */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "lr_data.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the file layout is little-endian");

#define META_KEY "__metadata__"

/* The dtypes of the format and their sizes. F32, F16 and BF16 are readable (as float32), but a
 * file that also holds, say, an I64 table is still a valid file, so every dtype of the format
 * opens. */
static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8}, {"I32", 4},
    {"I16", 2}, {"I8", 1},  {"U8", 1},  {"BOOL", 1}, {"U64", 8}, {"U32", 4},
    {"U16", 2}, {"F8_E4M3", 1}, {"F8_E5M2", 1},
};
#define N_DTYPES (sizeof dtypes / sizeof dtypes[0])

/* One tensor of an opened file. name, dtype and shape point into the file's JSON tree. */
typedef struct {
    const char *name;
    const char *dtype;
    const json_t *shape; /* array of non-negative integers */
    size_t ndim;
    size_t begin, end;   /* byte range within the data section */
} entry;

struct lr_data_st_file {
    char *path;                /* for messages */
    unsigned char *buf;        /* the whole file, mapped read-only */
    size_t len;
    const unsigned char *data; /* buf + 8 + header length */
    json_t *root;              /* the header; owns every string handed out */
    const json_t *meta;        /* "__metadata__" or NULL */
    entry *e;                  /* n entries in header order */
    size_t n;
};

static size_t dtype_size(const char *name);

/* ---- shared helpers ------------------------------------------------------------------------ */

/* a * b into *out; 0 when it overflows. */
static int mul_ok(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Strict UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), checked before a
 * string goes to jansson so that its failures can only mean out of memory. */
static int valid_utf8(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    while (*s) {
        unsigned c = *s++;
        size_t more;
        unsigned cp, min;
        if (c < 0x80) continue;
        if ((c & 0xe0) == 0xc0) more = 1, cp = c & 0x1f, min = 0x80;
        else if ((c & 0xf0) == 0xe0) more = 2, cp = c & 0x0f, min = 0x800;
        else if ((c & 0xf8) == 0xf0) more = 3, cp = c & 0x07, min = 0x10000;
        else return 0;
        for (size_t i = 0; i < more; i++, s++) {
            if ((*s & 0xc0) != 0x80) return 0; /* also stops at the terminating NUL */
            cp = (cp << 6) | (*s & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    }
    return 1;
}

/* Appends printf output to buf (cap bytes) at *len, truncating quietly: for messages. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static void append(char *buf, size_t cap, size_t *len, const char *fmt, ...) {
    if (*len >= cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (k > 0) *len += (size_t)k < cap - *len ? (size_t)k : cap - *len - 1;
}

/* ---- writing --------------------------------------------------------------------------------- */

/* Adds value under key to obj; jansson frees value when that fails (only out of memory). */
static int set(json_t *obj, const char *key, json_t *value) {
    return value && json_object_set_new(obj, key, value) == 0;
}

/* A header that cannot be built for want of memory; every other failure is the caller's input. */
static int header_oom(const char *path, lr_err *err) {
    return lr_err_set(err, LR_ENOMEM, "%s: out of memory building the header", path);
}

/* "__metadata__": the key-values in the given order; keys distinct and not reserved, keys and
 * values valid UTF-8. */
static int add_metadata(json_t *root, const char *path, const char *const *keys,
                        const char *const *values, size_t n_meta, lr_err *err) {
    json_t *meta;
    if (!set(root, META_KEY, (meta = json_object()))) return header_oom(path, err);
    for (size_t i = 0; i < n_meta; i++) {
        const char *k = keys[i], *v = values[i];
        if (!k || !v)
            return lr_err_set(err, LR_EINVAL, "%s: metadata entry %zu has a NULL %s", path, i,
                              k ? "value" : "key");
        if (strncmp(k, "__", 2) == 0)
            return lr_err_set(err, LR_EINVAL,
                              "%s: metadata key '%s' starts with \"__\", which the format reserves",
                              path, k);
        if (!valid_utf8(k) || !valid_utf8(v))
            return lr_err_set(err, LR_EINVAL, "%s: metadata entry %zu is not valid UTF-8", path, i);
        if (json_object_get(meta, k))
            return lr_err_set(err, LR_EINVAL, "%s: metadata key '%s' appears twice", path, k);
        if (!set(meta, k, json_string(v))) return header_oom(path, err);
    }
    return LR_OK;
}

/* Float32 -> the stored 16-bit dtype. */
static uint16_t narrow(lr_data_st_dtype dt, float x) {
    return dt == LR_DATA_ST_F16 ? lr_data_float_to_half(x) : lr_data_float_to_bf16(x);
}

/* A tensor on its way into a file, from floats (narrowed to dt) or from raw elements. */
typedef struct {
    const char *name;
    const char *dtype;    /* as the file names it */
    size_t esize;         /* bytes per element in the file */
    lr_data_st_dtype dt;  /* F32, F16, BF16 for float sources; OTHER for raw ones */
    const float *f;       /* float source */
    const void *raw;      /* raw source: elements as stored */
    size_t ndim;
    const size_t *shape;
} st_src;

/* A finite value that the narrower dtype would store as infinity: refused rather than written. */
static int check_range(const char *path, const st_src *t, size_t numel, lr_err *err) {
    if (t->dt == LR_DATA_ST_F32 || t->dt == LR_DATA_ST_OTHER) return LR_OK;
    for (size_t k = 0; k < numel; k++) {
        uint16_t h = narrow(t->dt, t->f[k]);
        float back = t->dt == LR_DATA_ST_F16 ? lr_data_half_to_float(h) : lr_data_bf16_to_float(h);
        if (isinf(back) && !isinf(t->f[k]))
            return lr_err_set(err, LR_ERANGE, "%s: tensor '%s': value %g at element %zu is beyond "
                              "the range of %s", path, t->name, (double)t->f[k], k, t->dtype);
    }
    return LR_OK;
}

/* Tensor t, the i-th, before it goes in: a valid name not yet in root, at most 4 dimensions,
 * data when it has any, values within its dtype's range, and an end (off + its size) that fits
 * the header's integers. *bytes gets its size. */
static int check_tensor(const json_t *root, const char *path, const st_src *t, size_t i, size_t off,
                        size_t *bytes, lr_err *err) {
    const char *name = t->name;
    if (!name || !valid_utf8(name) || strcmp(name, META_KEY) == 0)
        return lr_err_set(err, LR_EINVAL, "%s: tensor %zu has %s", path, i,
                          !name ? "no name"
                          : strcmp(name, META_KEY) == 0 ? "the reserved name \"" META_KEY "\""
                                                        : "a name that is not valid UTF-8");
    if (json_object_get(root, name))
        return lr_err_set(err, LR_EINVAL, "%s: tensor name '%s' appears twice", path, name);
    if (t->ndim > 4)
        return lr_err_set(err, LR_EINVAL, "%s: tensor '%s' has %zu dimensions, at most 4", path,
                          name, t->ndim);
    if (!t->dtype || !t->esize)
        return lr_err_set(err, LR_EINVAL, "%s: tensor '%s': dtype %s is not one of the format's",
                          path, name, t->dtype ? t->dtype : "(none)");
    size_t numel = 1, b;
    for (size_t d = 0; d < t->ndim; d++)
        if (!mul_ok(numel, t->shape[d], &numel)) numel = SIZE_MAX;
    if (!mul_ok(numel, t->esize, &b)) b = SIZE_MAX;
    /* json_int_t is signed 64-bit: offsets beyond it cannot be written (nor exist). */
    if (b > (size_t)INT64_MAX || off > (size_t)INT64_MAX - b)
        return lr_err_set(err, LR_EINVAL, "%s: tensor '%s' is too large", path, name);
    if (b && !(t->dt == LR_DATA_ST_OTHER ? t->raw : (const void *)t->f))
        return lr_err_set(err, LR_EINVAL, "%s: tensor '%s' has no data", path, name);
    *bytes = b;
    return check_range(path, t, b ? numel : 0, err);
}

/* Tensor t's entry, {"dtype", "shape", "data_offsets"} as the reference writer orders them, its
 * data at [off, off + bytes) of the data section. */
static int add_tensor(json_t *root, const char *path, const st_src *t, size_t off, size_t bytes,
                      lr_err *err) {
    json_t *ent = json_object(), *shape = json_array(), *offs = json_array();
    if (!set(root, t->name, ent)) {
        json_decref(shape);
        json_decref(offs);
        return header_oom(path, err);
    }
    if (!set(ent, "dtype", json_string(t->dtype)) || !set(ent, "shape", shape)) {
        json_decref(offs);
        return header_oom(path, err);
    }
    if (!set(ent, "data_offsets", offs)) return header_oom(path, err);
    for (size_t d = 0; d < t->ndim; d++)
        if (json_array_append_new(shape, json_integer((json_int_t)t->shape[d]))) return header_oom(path, err);
    if (json_array_append_new(offs, json_integer((json_int_t)off)) ||
        json_array_append_new(offs, json_integer((json_int_t)(off + bytes))))
        return header_oom(path, err);
    return LR_OK;
}

/* Builds the header object: "__metadata__" first (when there is any), then the tensors in the
 * given order, each {"dtype", "shape", "data_offsets"} as the reference writer orders them.
 * Sets *data_len to the total size of the tensors' data. */
static int build_header(const char *path, const st_src *t, size_t n, const char *const *keys,
                        const char *const *values, size_t n_meta, json_t **out, size_t *data_len,
                        lr_err *err) {
    json_t *root = json_object();
    int rc = !root ? header_oom(path, err) : n_meta ? add_metadata(root, path, keys, values, n_meta, err)
                                                     : LR_OK;
    size_t off = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        size_t bytes = 0;
        if ((rc = check_tensor(root, path, &t[i], i, off, &bytes, err)) ||
            (rc = add_tensor(root, path, &t[i], off, bytes, err)))
            break;
        off += bytes;
    }
    if (rc) {
        json_decref(root);
        return rc;
    }
    *out = root;
    *data_len = off;
    return LR_OK;
}

/* What a writer puts in the file: the header length, the JSON padded with spaces, then every
 * tensor's values in order. */
typedef struct {
    const char *json;
    size_t jlen, hlen;
    const st_src *tensors;
    size_t n;
} st_body;

/* numel floats of t stored as the 16-bit dtype dt, narrowed a block at a time. */
static int write_narrow(FILE *fp, const float *x, size_t numel, lr_data_st_dtype dt) {
    uint16_t buf[4096];
    for (size_t at = 0; at < numel;) {
        size_t k = numel - at < 4096 ? numel - at : 4096;
        for (size_t j = 0; j < k; j++) buf[j] = narrow(dt, x[at + j]);
        if (fwrite(buf, sizeof buf[0], k, fp) != k) return 0;
        at += k;
    }
    return 1;
}

static int write_body(const char *tmp, void *ctx, lr_err *err) {
    const st_body *b = ctx;
    FILE *fp = fopen(tmp, "wb");
    if (!fp) return lr_err_set(err, LR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    uint64_t len64 = b->hlen;
    static const char spaces[] = "       "; /* the most padding needed: 7 */
    int ok = fwrite(&len64, sizeof len64, 1, fp) == 1 && fwrite(b->json, 1, b->jlen, fp) == b->jlen &&
             fwrite(spaces, 1, b->hlen - b->jlen, fp) == b->hlen - b->jlen;
    for (size_t i = 0; ok && i < b->n; i++) {
        const st_src *t = &b->tensors[i];
        size_t numel = 1;
        for (size_t d = 0; d < t->ndim; d++) numel *= t->shape[d];
        if (!numel) continue;
        if (t->dt == LR_DATA_ST_OTHER) ok = fwrite(t->raw, t->esize, numel, fp) == numel;
        else if (t->dt != LR_DATA_ST_F32) ok = write_narrow(fp, t->f, numel, t->dt);
        else ok = fwrite(t->f, sizeof(float), numel, fp) == numel;
    }
    int saved_errno = errno;
    if (fclose(fp) != 0 && ok) {
        ok = 0;
        saved_errno = errno;
    }
    return ok ? LR_OK : lr_err_set(err, LR_EIO, "%s: write failed: %s", tmp, strerror(saved_errno));
}

/* Header, then the file through lr_data_write_aside. */
static int write_file(const char *path, const st_src *t, size_t n, const char *const *meta_keys,
                      const char *const *meta_values, size_t n_meta, lr_err *err) {
    json_t *root = NULL;
    char *json = NULL;
    size_t data_len = 0;
    int rc = build_header(path, t, n, meta_keys, meta_values, n_meta, &root, &data_len, err);
    if (rc) goto done;
    /* Compact, in insertion order: the same bytes the reference writer produces. */
    json = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!json) {
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory writing the header", path);
        goto done;
    }
    size_t jlen = strlen(json);
    /* Spaces up to a multiple of 8, so the data (at 8 + hlen) is 8-byte aligned. */
    size_t hlen = (jlen + 7) / 8 * 8;
    if (hlen > LR_DATA_ST_MAX_HEADER) {
        rc = lr_err_set(err, LR_EINVAL, "%s: header of %zu bytes is over the %u-byte limit", path,
                        hlen, LR_DATA_ST_MAX_HEADER);
        goto done;
    }
    st_body body = {json, jlen, hlen, t, n};
    rc = lr_data_write_aside(path, write_body, &body, err);
done:
    free(json);
    json_decref(root);
    return rc;
}

static int bad_args(const char *path, size_t n, const void *tensors, size_t n_meta, const void *keys,
                    const void *values, lr_err *err) {
    if (!path || (n && !tensors) || (n_meta && (!keys || !values)))
        return lr_err_set(err, LR_EINVAL, "lr_data_st_write: NULL %s",
                          !path ? "path" : (n && !tensors) ? "tensors" : "metadata arrays");
    return LR_OK;
}

int lr_data_st_write(const char *path, const lr_data_st_tensor *tensors, size_t n,
                const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                lr_err *err) {
    return lr_data_st_write_as(path, tensors, NULL, n, meta_keys, meta_values, n_meta, err);
}

int lr_data_st_write_as(const char *path, const lr_data_st_tensor *tensors,
                        const lr_data_st_dtype *dtypes, size_t n, const char *const *meta_keys,
                        const char *const *meta_values, size_t n_meta, lr_err *err) {
    static const char *const names[] = {"F32", "F16", "BF16"};
    int rc = bad_args(path, n, tensors, n_meta, meta_keys, meta_values, err);
    if (rc) return rc;
    st_src *t = calloc(n ? n : 1, sizeof *t);
    if (!t) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) {
        lr_data_st_dtype dt = dtypes ? dtypes[i] : LR_DATA_ST_F32;
        int known = (unsigned)dt < LR_DATA_ST_OTHER;
        t[i] = (st_src){tensors[i].name, known ? names[dt] : NULL, !known ? 0 : dt == LR_DATA_ST_F32 ? 4 : 2,
                        known ? dt : LR_DATA_ST_F32, tensors[i].data, NULL, tensors[i].ndim, tensors[i].shape};
        if (!known) {
            free(t);
            return lr_err_set(err, LR_EINVAL, "%s: tensor '%s': dtype %d is not F32, F16 or BF16", path,
                              tensors[i].name ? tensors[i].name : "(no name)", (int)dt);
        }
    }
    rc = write_file(path, t, n, meta_keys, meta_values, n_meta, err);
    free(t);
    return rc;
}

int lr_data_st_write_raw(const char *path, const lr_data_st_raw *tensors, size_t n,
                         const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                         lr_err *err) {
    int rc = bad_args(path, n, tensors, n_meta, meta_keys, meta_values, err);
    if (rc) return rc;
    st_src *t = calloc(n ? n : 1, sizeof *t);
    if (!t) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++)
        t[i] = (st_src){tensors[i].name, tensors[i].dtype, tensors[i].dtype ? dtype_size(tensors[i].dtype) : 0,
                        LR_DATA_ST_OTHER, NULL, tensors[i].data, tensors[i].ndim, tensors[i].shape};
    rc = write_file(path, t, n, meta_keys, meta_values, n_meta, err);
    free(t);
    return rc;
}

/* ---- reading --------------------------------------------------------------------------------- */

/* Maps the whole file read-only: an LLM's weights are gigabytes, read a tensor at a time. */
static int map_file(const char *path, unsigned char **map, size_t *len, lr_err *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: cannot open: %s",
                          path, strerror(errno));
    struct stat st;
    int rc = LR_OK;
    if (fstat(fd, &st) != 0) rc = lr_err_set(err, LR_EIO, "%s: fstat: %s", path, strerror(errno));
    else if (!S_ISREG(st.st_mode)) rc = lr_err_set(err, LR_EIO, "%s: not a regular file", path);
    else if ((size_t)st.st_size < 8)
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu bytes is too short for a safetensors file (at "
                        "least 8)", path, (size_t)st.st_size);
    if (!rc) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) rc = lr_err_set(err, LR_EIO, "mmap(%s): %s", path, strerror(errno));
        else *map = m, *len = (size_t)st.st_size;
    }
    close(fd);
    return rc;
}

/* A non-negative JSON integer as size_t; 0 when v is anything else. */
static int get_size(const json_t *v, size_t *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0) return 0;
    *out = (size_t)json_integer_value(v);
    return 1;
}

static size_t dtype_size(const char *name) {
    for (size_t i = 0; i < N_DTYPES; i++)
        if (strcmp(dtypes[i].name, name) == 0) return dtypes[i].size;
    return 0;
}

/* Checks one tensor's header entry against the data section (data_len bytes) and fills *e. */
static int parse_entry(const char *path, const char *name, const json_t *v, size_t data_len,
                       entry *e, lr_err *err) {
    if (!json_is_object(v))
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s': entry is not an object", path, name);
    const json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"),
                 *of = json_object_get(v, "data_offsets");
    const char *missing = !dt ? "dtype" : !sh ? "shape" : !of ? "data_offsets" : NULL;
    if (missing)
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s' has no \"%s\"", path, name, missing);
    if (!json_is_string(dt))
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s': dtype is not a string", path, name);
    size_t item = dtype_size(json_string_value(dt));
    if (!item)
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s' has unknown dtype '%s'", path, name,
                          json_string_value(dt));
    if (!json_is_array(sh))
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s': shape is not an array", path, name);
    size_t bytes = item, dim;
    int overflow = 0;
    for (size_t i = 0; i < json_array_size(sh); i++) {
        if (!get_size(json_array_get(sh, i), &dim))
            return lr_err_set(err, LR_EFORMAT,
                              "%s: tensor '%s': shape[%zu] is not a non-negative integer", path,
                              name, i);
        if (!mul_ok(bytes, dim, &bytes)) overflow = 1;
    }
    if (overflow)
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s': shape is too large", path, name);
    size_t b, end;
    if (!json_is_array(of) || json_array_size(of) != 2 || !get_size(json_array_get(of, 0), &b) ||
        !get_size(json_array_get(of, 1), &end))
        return lr_err_set(err, LR_EFORMAT,
                          "%s: tensor '%s': data_offsets is not [begin, end] of non-negative "
                          "integers", path, name);
    if (b > end)
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s': data_offsets [%zu, %zu] end before "
                          "they begin", path, name, b, end);
    if (end - b != bytes)
        return lr_err_set(err, LR_EFORMAT,
                          "%s: tensor '%s': data_offsets [%zu, %zu] span %zu bytes, but its dtype "
                          "and shape need %zu", path, name, b, end, end - b, bytes);
    if (end > data_len)
        return lr_err_set(err, LR_EFORMAT,
                          "%s: truncated: tensor '%s' ends at byte %zu of the data, but the file "
                          "holds only %zu bytes of data", path, name, end, data_len);
    e->name = name;
    e->dtype = json_string_value(dt);
    e->shape = sh;
    e->ndim = json_array_size(sh);
    e->begin = b;
    e->end = end;
    return LR_OK;
}

static int check_meta(const char *path, const json_t *meta, lr_err *err) {
    if (!json_is_object(meta))
        return lr_err_set(err, LR_EFORMAT, "%s: \"" META_KEY "\" is not an object", path);
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)meta, k, v) {
        if (!json_is_string(v))
            return lr_err_set(err, LR_EFORMAT, "%s: metadata value of '%s' is not a string", path, k);
    }
    return LR_OK;
}

static int by_offsets(const void *a, const void *b) {
    const entry *x = *(const entry *const *)a, *y = *(const entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* The tensors must index the data section completely: sorted by offsets, each starts where the
 * previous ended, the last ends at data_len. Empty tensors may sit anywhere along the way. */
static int check_coverage(const char *path, entry *e, size_t n, size_t data_len, lr_err *err) {
    if (!n) {
        if (data_len)
            return lr_err_set(err, LR_EFORMAT, "%s: %zu bytes after the header but no tensors", path,
                              data_len);
        return LR_OK;
    }
    const entry **order = malloc(n * sizeof *order);
    if (!order) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) order[i] = &e[i];
    qsort(order, n, sizeof *order, by_offsets);
    int rc = LR_OK;
    size_t at = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const entry *x = order[i];
        if (x->begin < at)
            rc = lr_err_set(err, LR_EFORMAT,
                            "%s: tensors '%s' [%zu, %zu] and '%s' [%zu, %zu] overlap", path,
                            order[i - 1]->name, order[i - 1]->begin, order[i - 1]->end, x->name,
                            x->begin, x->end);
        else if (x->begin > at)
            rc = lr_err_set(err, LR_EFORMAT,
                            "%s: %zu unused bytes before tensor '%s' (the data must have no gaps)",
                            path, x->begin - at, x->name);
        at = x->end;
    }
    if (!rc && at < data_len)
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu bytes after the last tensor", path, data_len - at);
    free(order);
    return rc;
}

int lr_data_st_open(const char *path, lr_data_st_file **out, lr_err *err) {
    if (out) *out = NULL;
    if (!path || !out)
        return lr_err_set(err, LR_EINVAL, "lr_data_st_open: NULL %s", path ? "out" : "path");
    int rc = LR_ENOMEM;
    size_t plen = strlen(path);
    lr_data_st_file *f = calloc(1, sizeof *f);
    if (!f || !(f->path = malloc(plen + 1))) {
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    memcpy(f->path, path, plen + 1);
    if ((rc = map_file(path, &f->buf, &f->len, err))) goto fail;
    size_t len = f->len;
    uint64_t hlen;
    memcpy(&hlen, f->buf, 8);
    if (hlen > LR_DATA_ST_MAX_HEADER) {
        rc = lr_err_set(err, LR_EFORMAT,
                        "%s: header length %llu is over the %u-byte limit (not a safetensors file?)",
                        path, (unsigned long long)hlen, LR_DATA_ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > len - 8) {
        rc = lr_err_set(err, LR_EFORMAT,
                        "%s: header length %llu is larger than the file (%zu bytes after the "
                        "length)", path, (unsigned long long)hlen, len - 8);
        goto fail;
    }
    f->data = f->buf + 8 + hlen;
    size_t data_len = len - 8 - (size_t)hlen;
    json_error_t je;
    /* Duplicate names would otherwise be kept silently as the last one. */
    f->root = json_loadb((const char *)f->buf + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &je);
    if (!f->root) {
        /* jansson leaves the error blank for some of its allocation failures (see
         * towers/llm/json_oom.h): a valid header must not be called broken then. */
        if (json_error_code(&je) == json_error_out_of_memory || je.text[0] == '\0')
            rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory reading the header", path);
        else
            rc = lr_err_set(err, LR_EFORMAT, "%s: header is not valid JSON: %s (line %d, column %d, "
                            "byte %d of the header)", path, je.text, je.line, je.column, je.position);
        goto fail;
    }
    if (!json_is_object(f->root)) {
        rc = lr_err_set(err, LR_EFORMAT, "%s: header is not a JSON object", path);
        goto fail;
    }
    if (!(f->e = calloc(json_object_size(f->root) + 1, sizeof *f->e))) {
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    const char *key;
    json_t *v;
    json_object_foreach(f->root, key, v) {
        if (strcmp(key, META_KEY) == 0) {
            if ((rc = check_meta(path, v, err))) goto fail;
            f->meta = v;
        } else {
            if ((rc = parse_entry(path, key, v, data_len, &f->e[f->n], err))) goto fail;
            f->n++;
        }
    }
    if ((rc = check_coverage(path, f->e, f->n, data_len, err))) goto fail;
    *out = f;
    return LR_OK;
fail:
    lr_data_st_free(f);
    return rc;
}

size_t lr_data_st_count(const lr_data_st_file *f) { return f ? f->n : 0; }

const char *lr_data_st_name(const lr_data_st_file *f, size_t i) {
    return f && i < f->n ? f->e[i].name : NULL;
}

const char *lr_data_st_meta(const lr_data_st_file *f, const char *key) {
    if (!f || !f->meta || !key) return NULL;
    return json_string_value(json_object_get(f->meta, key));
}

static size_t entry_dim(const entry *e, size_t i) {
    return (size_t)json_integer_value(json_array_get(e->shape, i));
}

static const entry *find_entry(const lr_data_st_file *f, const char *name) {
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->e[i].name, name) == 0) return &f->e[i];
    return NULL;
}

static lr_data_st_dtype dtype_of(const char *name) {
    return strcmp(name, "F32") == 0    ? LR_DATA_ST_F32
           : strcmp(name, "F16") == 0  ? LR_DATA_ST_F16
           : strcmp(name, "BF16") == 0 ? LR_DATA_ST_BF16
                                       : LR_DATA_ST_OTHER;
}

int lr_data_st_get(const lr_data_st_file *f, const char *name, lr_data_st_view *out, lr_err *err) {
    if (!f || !name || !out)
        return lr_err_set(err, LR_EINVAL, "lr_data_st_get: NULL %s",
                          !f ? "file" : !name ? "name" : "out");
    const entry *e = find_entry(f, name);
    if (!e)
        return lr_err_set(err, LR_ENOTFOUND, "%s: no tensor '%s' (the file holds %zu)", f->path,
                          name, f->n);
    lr_data_st_view v = {e->dtype, dtype_of(e->dtype), e->ndim, {0}, 1, f->data + e->begin,
                         e->end - e->begin};
    for (size_t i = 0; i < e->ndim; i++) {
        if (i < LR_DATA_ST_MAX_NDIM) v.shape[i] = entry_dim(e, i);
        v.numel *= entry_dim(e, i); /* no overflow: the byte size was checked at open */
    }
    *out = v;
    return LR_OK;
}

/* Widening runs on every weight of a model at every forward pass (LR_LLM_WEIGHTS_MAPPED), so
 * these loops are inline bit operations rather than a call per element: about a nanosecond per
 * element or less. Both are exact, as lr_data_half_to_float / lr_data_bf16_to_float. */
static void widen_bf16(float *dst, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2); /* little-endian, as the file */
        uint32_t bits = (uint32_t)h << 16;
        memcpy(&dst[i], &bits, 4);
    }
}

/* Normal halves by moving the fields (rebias 15 -> 127); zero, subnormals, Inf and NaN, rare in
 * weights, through lr_data_half_to_float. */
static void widen_f16(float *dst, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint16_t h;
        memcpy(&h, p + 2 * i, 2);
        uint32_t e = h & 0x7c00u;
        if (e == 0 || e == 0x7c00u) {
            dst[i] = lr_data_half_to_float(h);
            continue;
        }
        uint32_t bits = ((uint32_t)(h & 0x8000u) << 16) | (((uint32_t)(h & 0x7fffu) << 13) + (112u << 23));
        memcpy(&dst[i], &bits, 4);
    }
}

int lr_data_st_widen(const lr_data_st_view *v, size_t first, size_t count, float *dst,
                     lr_err *err) {
    if (!v || (count && !dst))
        return lr_err_set(err, LR_EINVAL, "lr_data_st_widen: NULL %s", !v ? "view" : "dst");
    if (v->type == LR_DATA_ST_OTHER)
        return lr_err_set(err, LR_EFORMAT, "tensor of dtype %s cannot be read as float32",
                          v->dtype);
    if (first > v->numel || count > v->numel - first)
        return lr_err_set(err, LR_ERANGE, "elements [%zu, %zu) are past the tensor's %zu", first,
                          first + count, v->numel);
    if (v->type == LR_DATA_ST_F32) {
        if (count) memcpy(dst, (const unsigned char *)v->data + 4 * first, 4 * count);
        return LR_OK;
    }
    const unsigned char *p = (const unsigned char *)v->data + 2 * first;
    if (v->type == LR_DATA_ST_BF16) widen_bf16(dst, p, count);
    else widen_f16(dst, p, count);
    return LR_OK;
}

/* "<path>: tensor 'w' has shape [2, 3], expected [3, 2]" */
static int shape_mismatch(const lr_data_st_file *f, const char *name, const entry *e, size_t ndim,
                          const size_t *shape, lr_err *err) {
    char have[96], want[96];
    size_t hl = 0, wl = 0;
    append(have, sizeof have, &hl, "[");
    for (size_t i = 0; i < e->ndim; i++)
        append(have, sizeof have, &hl, "%s%zu", i ? ", " : "", entry_dim(e, i));
    append(have, sizeof have, &hl, "]");
    append(want, sizeof want, &wl, "[");
    for (size_t i = 0; i < ndim; i++) append(want, sizeof want, &wl, "%s%zu", i ? ", " : "", shape[i]);
    append(want, sizeof want, &wl, "]");
    return lr_err_set(err, LR_EMISMATCH, "%s: tensor '%s' has shape %s, expected %s", f->path, name,
                      have, want);
}

int lr_data_st_read_f32(const lr_data_st_file *f, const char *name, size_t ndim, const size_t *shape,
                   float *dst, lr_err *err) {
    if (!f || !name || (ndim && !shape))
        return lr_err_set(err, LR_EINVAL, "lr_data_st_read_f32: NULL %s",
                          !f ? "file" : !name ? "name" : "shape");
    const entry *e = find_entry(f, name);
    if (!e)
        return lr_err_set(err, LR_ENOTFOUND, "%s: no tensor '%s' (the file holds %zu)", f->path,
                          name, f->n);
    if (dtype_of(e->dtype) == LR_DATA_ST_OTHER)
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                          f->path, name, e->dtype);
    int same = e->ndim == ndim;
    for (size_t i = 0; same && i < ndim; i++) same = entry_dim(e, i) == shape[i];
    if (!same) return shape_mismatch(f, name, e, ndim, shape, err);
    if (e->end > e->begin && !dst) return lr_err_set(err, LR_EINVAL, "lr_data_st_read_f32: NULL dst");
    lr_data_st_view v;
    int rc = lr_data_st_get(f, name, &v, err);
    return rc ? rc : lr_data_st_widen(&v, 0, v.numel, dst, err);
}

void lr_data_st_free(lr_data_st_file *f) {
    if (!f) return;
    free(f->e);
    json_decref(f->root);
    if (f->buf) munmap(f->buf, f->len);
    free(f->path);
    free(f);
}
