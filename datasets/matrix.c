/* Dense float matrices from .npy, .fvecs or memory: item content embeddings, item vectors. */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>

#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack: one hash state per row, no allocation */
#include <xxhash.h>

#include "npy_internal.h"

/* An .fvecs file has no magic: its first int32 is the dimension. Anything larger than this is
 * taken as "not an .fvecs file" rather than as a dimension. */
#define FVECS_MAX_DIM (1 << 20)

struct lr_data_matrix {
    size_t rows, dim;
    const float *data; /* rows * dim; points into `map` or is `owned`; NULL when `half` */
    const uint16_t *half; /* rows * dim float16 values mapped in place (opened keeping f16) */
    float *owned;      /* decoded or copied data, or NULL when mapped */
    void *map;         /* the whole file, read-only, when the data points into it */
    size_t map_len;
    const char *source;
};

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static int check_rows(size_t rows, size_t expect_rows, const char *name, lr_err *err) {
    if (expect_rows && rows != expect_rows)
        return lr_err_set(err, LR_EMISMATCH, "%s: %zu rows, but the dataset has %zu items (row i "
                          "must be item i)", name, rows, expect_rows);
    return LR_OK;
}

/* Fills c from a mapped .npy file; leaves c->data pointing into `map` (f32, aligned) or into a
 * fresh c->owned buffer. */
static int load_npy(lr_data_matrix *c, const unsigned char *map, size_t size, size_t expect_rows,
                    unsigned flags, const char *name, lr_err *err) {
    lr_npy_info info;
    int rc = lr_data_npy_parse_header(map, size, &info, name, err);
    if (rc) return rc;
    char shape[160];
    lr_data_npy_shape_str(&info, shape, sizeof shape);
    if (info.ndim != 1 && info.ndim != 2)
        return lr_err_set(err, LR_EFORMAT, "%s: shape %s has %zu dimensions: expected a matrix "
                          "(N, D) or one row (D,)", name, shape, info.ndim);
    c->rows = info.ndim == 2 ? info.shape[0] : 1;
    c->dim = info.shape[info.ndim - 1];
    if (info.ndim == 2 && c->rows == 0)
        return lr_err_set(err, LR_EFORMAT, "%s: shape %s has no rows", name, shape);
    if (c->dim == 0)
        return lr_err_set(err, LR_EFORMAT, "%s: shape %s has rows of 0 values (D must be at "
                          "least 1)", name, shape);
    rc = lr_data_npy_check_file_size(&info, size, name, err);
    if (rc) return rc;
    rc = check_rows(c->rows, expect_rows, name, err);
    if (rc) return rc;

    const unsigned char *p = map + info.data_offset;
    if (info.dtype == LR_NPY_F32 && (uintptr_t)p % _Alignof(float) == 0) {
        c->data = (const float *)(const void *)p;
        c->source = "npy-f32 (mapped)";
        return LR_OK;
    }
    if (info.dtype == LR_NPY_F16 && (flags & LR_DATA_MATRIX_KEEP_F16) && (uintptr_t)p % _Alignof(uint16_t) == 0) {
        c->half = (const uint16_t *)(const void *)p; /* .npy is little-endian, as is every target */
        c->source = "npy-f16 (mapped)";
        return LR_OK;
    }
    c->owned = malloc(info.count * sizeof(float));
    if (!c->owned)
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory for %zu x %zu floats", name, c->rows,
                          c->dim);
    if (info.dtype == LR_NPY_F32) {
        /* A header whose length is not a multiple of 4 leaves the floats unaligned. */
        memcpy(c->owned, p, info.data_bytes);
        c->source = "npy-f32 (copied)";
    } else {
        for (size_t i = 0; i < info.count; i++)
            c->owned[i] = lr_data_half_to_float((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        c->source = "npy-f16";
    }
    c->data = c->owned;
    return LR_OK;
}

static int32_t read_i32(const unsigned char *p) {
    uint32_t u = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* Fills c from a mapped .fvecs file: rows of int32 d, then d float32 values, all the same d. */
static int load_fvecs(lr_data_matrix *c, const unsigned char *map, size_t size, size_t expect_rows,
                      const char *name, lr_err *err) {
    int32_t d = read_i32(map);
    size_t row_bytes = 4 * ((size_t)d + 1);
    size_t rows = 0;
    for (size_t off = 0; off < size; off += row_bytes, rows++) {
        if (size - off < 4)
            return lr_err_set(err, LR_EFORMAT, "%s: truncated .fvecs: row %zu has only %zu of the "
                              "4 bytes of its d", name, rows, size - off);
        int32_t dr = read_i32(map + off);
        if (dr != d)
            return lr_err_set(err, LR_EFORMAT, "%s: .fvecs row %zu has d = %ld, but row 0 has "
                              "d = %ld (every row must have the same d)", name, rows, (long)dr,
                              (long)d);
        if (size - off < row_bytes)
            return lr_err_set(err, LR_EFORMAT, "%s: truncated .fvecs: row %zu has %zu of its %zu "
                              "bytes (file size %zu is not a multiple of 4 * (d + 1) = %zu)",
                              name, rows, size - off, row_bytes, size, row_bytes);
    }
    int rc = check_rows(rows, expect_rows, name, err);
    if (rc) return rc;
    c->rows = rows;
    c->dim = (size_t)d;
    c->owned = malloc(rows * c->dim * sizeof(float));
    if (!c->owned)
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory for %zu x %zu floats", name, rows,
                          c->dim);
    for (size_t r = 0; r < rows; r++)
        memcpy(c->owned + r * c->dim, map + r * row_bytes + 4, c->dim * sizeof(float));
    c->data = c->owned;
    c->source = "fvecs";
    return LR_OK;
}

/* The first float16 NaN or infinity (exponent all ones), named as lr_data_check_finite does. */
static int check_finite_half(const uint16_t *h, size_t rows, size_t dim, const char *name, lr_err *err) {
    size_t n = rows * dim, bad = n;
#pragma omp parallel for schedule(static) reduction(min : bad)
    for (size_t i = 0; i < n; i++)
        if ((h[i] & 0x7c00u) == 0x7c00u && i < bad) bad = i;
    if (bad == n) return LR_OK;
    float v = lr_data_half_to_float(h[bad]);
    return lr_err_set(err, LR_EFORMAT, "%s: row %zu, column %zu is %s", name, bad / dim, bad % dim,
                      isnan(v) ? "NaN" : v > 0 ? "Inf" : "-Inf");
}

int lr_data_matrix_open(const char *path, size_t expect_rows, lr_data_matrix **out, lr_err *err) {
    return lr_data_matrix_open_ex(path, expect_rows, 0, out, err);
}

int lr_data_matrix_open_ex(const char *path, size_t expect_rows, unsigned flags, lr_data_matrix **out,
                           lr_err *err) {
    if (!out) return lr_err_set(err, LR_EINVAL, "matrix open: no output pointer");
    *out = NULL;
    if (!path || !path[0]) return lr_err_set(err, LR_EINVAL, "matrix open: no path given");
    const char *name = base_name(path);
    lr_data_matrix *c = NULL;
    void *map = MAP_FAILED;
    size_t size = 0;
    struct stat st;
    int rc = LR_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: cannot open: %s", path,
                        strerror(errno));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        rc = lr_err_set(err, LR_EIO, "fstat(%s): %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = lr_err_set(err, LR_EIO, "%s: not a regular file", path);
        goto fail;
    }
    size = (size_t)st.st_size;
    if (size == 0) {
        rc = lr_err_set(err, LR_EFORMAT, "%s: the file is empty: expected a .npy or .fvecs "
                        "content matrix", name);
        goto fail;
    }
    /* One read-only mapping for every format: float32 .npy data is used in place, the others
     * are decoded from it and the mapping dropped. */
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = lr_err_set(err, LR_EIO, "mmap(%s): %s", path, strerror(errno));
        goto fail;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", name);
        goto fail;
    }
    const unsigned char *bytes = map;
    int32_t first = size >= 4 ? read_i32(bytes) : 0;
    if (size >= 6 && memcmp(bytes, "\x93NUMPY", 6) == 0)
        rc = load_npy(c, bytes, size, expect_rows, flags, name, err);
    else if (first > 0 && first <= FVECS_MAX_DIM)
        rc = load_fvecs(c, bytes, size, expect_rows, name, err);
    else
        rc = lr_err_set(err, LR_EFORMAT, "%s: neither a .npy file (expected the magic \\x93NUMPY) "
                        "nor an .fvecs file (expected a first int32 d between 1 and %d, found "
                        "%ld)", name, FVECS_MAX_DIM, (long)first);
    if (rc) goto fail;
    rc = c->half ? check_finite_half(c->half, c->rows, c->dim, name, err)
                 : lr_data_check_finite(c->data, c->rows, c->dim, LR_EFORMAT, name, err);
    if (rc) goto fail;
    if (c->owned) {
        munmap(map, size);
    } else {
        c->map = map;
        c->map_len = size;
    }
    close(fd);
    *out = c;
    return LR_OK;
fail:
    if (c) free(c->owned);
    free(c);
    if (map != MAP_FAILED) munmap(map, size);
    if (fd >= 0) close(fd);
    return rc;
}

int lr_data_matrix_from_floats(const float *data, size_t rows, size_t dim, lr_data_matrix **out,
                                  lr_err *err) {
    if (!out) return lr_err_set(err, LR_EINVAL, "content from floats: no output pointer");
    *out = NULL;
    if (rows == 0 || dim == 0)
        return lr_err_set(err, LR_EINVAL, "content from floats: %zu x %zu is empty (rows and dim "
                          "must be at least 1)", rows, dim);
    if (!data) return lr_err_set(err, LR_EINVAL, "content from floats: data is NULL");
    if (rows > SIZE_MAX / sizeof(float) / dim)
        return lr_err_set(err, LR_EINVAL, "content from floats: %zu x %zu is too large", rows,
                          dim);
    int rc = lr_data_check_finite(data, rows, dim, LR_EINVAL, "content from floats", err);
    if (rc) return rc;
    lr_data_matrix *c = calloc(1, sizeof *c);
    float *copy = malloc(rows * dim * sizeof(float));
    if (!c || !copy) {
        free(c);
        free(copy);
        return lr_err_set(err, LR_ENOMEM, "content from floats: out of memory for %zu x %zu "
                          "floats", rows, dim);
    }
    memcpy(copy, data, rows * dim * sizeof(float));
    c->rows = rows;
    c->dim = dim;
    c->owned = copy;
    c->data = copy;
    c->source = "memory";
    *out = c;
    return LR_OK;
}

size_t lr_data_matrix_rows(const lr_data_matrix *c) { return c->rows; }
size_t lr_data_matrix_dim(const lr_data_matrix *c) { return c->dim; }
const float *lr_data_matrix_data(const lr_data_matrix *c) { return c->data; }
const uint16_t *lr_data_matrix_half(const lr_data_matrix *c) { return c->half; }
const char *lr_data_matrix_source(const lr_data_matrix *c) { return c->source; }

void lr_data_matrix_row(const lr_data_matrix *c, size_t i, float *out) {
    if (c->data) {
        memcpy(out, c->data + i * c->dim, c->dim * sizeof *out);
        return;
    }
    const uint16_t *h = c->half + i * c->dim;
    for (size_t j = 0; j < c->dim; j++) out[j] = lr_data_half_to_float(h[j]);
}

void lr_data_matrix_free(lr_data_matrix *c) {
    if (!c) return;
    if (c->map) munmap(c->map, c->map_len);
    free(c->owned);
    free(c);
}

void lr_data_l2_normalize_rows(float *x, size_t rows, size_t dim) {
    /* Plain loops, not cblas_snrm2: the sum of squares is kept in double so 1024 float terms
     * lose nothing, and this runs once per load, far from any hot path. */
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * dim;
        double ss = 0.0;
        for (size_t j = 0; j < dim; j++) ss += (double)row[j] * (double)row[j];
        if (ss == 0.0) continue;
        double inv = 1.0 / sqrt(ss);
        for (size_t j = 0; j < dim; j++) row[j] = (float)((double)row[j] * inv);
    }
}

void lr_data_matrix_row_hashes(const lr_data_matrix *m, uint64_t *hash) {
    size_t n = lr_data_matrix_rows(m), dim = lr_data_matrix_dim(m), row = dim * sizeof(float);
    const unsigned char *x = (const unsigned char *)lr_data_matrix_data(m);
    /* rows are independent: the threads the program set share them */
    if (x) {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) hash[i] = XXH3_64bits(x + i * row, row);
        return;
    }
    /* float16 kept as it is: each row widened a piece at a time and streamed into the hash, so
     * the hash is that of the same floats in float32 */
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        XXH3_state_t st;
        float piece[256];
        XXH3_64bits_reset(&st);
        const uint16_t *h = m->half + i * dim;
        for (size_t j = 0; j < dim; j += 256) {
            size_t len = dim - j < 256 ? dim - j : 256;
            for (size_t t = 0; t < len; t++) piece[t] = lr_data_half_to_float(h[j + t]);
            XXH3_64bits_update(&st, piece, len * sizeof(float));
        }
        hash[i] = XXH3_64bits_digest(&st);
    }
}

void lr_data_digest_of_rows(const uint64_t *hash, size_t n, char out[LR_DATA_DIGEST_LEN]) {
    snprintf(out, LR_DATA_DIGEST_LEN, "x%016llx", (unsigned long long)XXH3_64bits(hash, n * sizeof *hash));
}

int lr_data_matrix_digest(const lr_data_matrix *m, char out[LR_DATA_DIGEST_LEN]) {
    size_t n = lr_data_matrix_rows(m);
    uint64_t *hash = malloc((n ? n : 1) * sizeof *hash);
    if (!hash) return LR_ENOMEM;
    lr_data_matrix_row_hashes(m, hash);
    lr_data_digest_of_rows(hash, n, out);
    free(hash);
    return LR_OK;
}
