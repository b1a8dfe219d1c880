/* The text encoder's file: magic, version, config, features, IDF, projection, CRC-32. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "lr_data.h"
#include "text_encoder_internal.h"

#define MAGIC "LRTXTENC"
#define VERSION 1u
#define N_U64_FIELDS 12

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "the file layout is little-endian");

/* Fields in file order; the loader reads them back in the same order. */
static void config_fields(const lr_text_encoder *e, uint64_t f[N_U64_FIELDS]) {
    const lr_text_encoder_config *c = &e->cfg;
    uint64_t v[N_U64_FIELDS] = {c->dim, c->min_df, c->max_features, c->char_ngram_min,
                                c->char_ngram_max, (uint64_t)c->projection, c->proj_nnz,
                                c->svd_input_dim, c->svd_max_rows, c->seed, e->n_docs,
                                e->n_features};
    memcpy(f, v, sizeof v);
}

typedef struct {
    FILE *f;
    uLong crc;
    int failed;
} writer;

static void put(writer *w, const void *p, size_t n) {
    if (w->failed || !n) return;
    if (fwrite(p, 1, n, w->f) != n) w->failed = 1;
    w->crc = crc32(w->crc, p, (uInt)n);
}

/* Large arrays go through crc32 in pieces: its length argument is 32-bit. */
static void put_big(writer *w, const void *p, size_t n) {
    const unsigned char *b = p;
    while (n) {
        size_t k = n < (1u << 30) ? n : (1u << 30);
        put(w, b, k);
        b += k;
        n -= k;
    }
}

static int write_encoder(const char *tmp, void *ctx, lr_err *err) {
    const lr_text_encoder *e = ctx;
    writer w = {fopen(tmp, "wb"), crc32(0, NULL, 0), 0};
    if (!w.f) return lr_err_set(err, LR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
    uint32_t version = VERSION;
    uint64_t fields[N_U64_FIELDS];
    config_fields(e, fields);
    float weights[3] = {e->cfg.word_weight, e->cfg.bigram_weight, e->cfg.char_weight};
    put(&w, MAGIC, 8);
    put(&w, &version, sizeof version);
    put(&w, fields, sizeof fields);
    put(&w, weights, sizeof weights);
    put_big(&w, e->hashes, e->n_features * sizeof *e->hashes);
    put_big(&w, e->idf, e->n_features * sizeof *e->idf);
    if (e->proj) put_big(&w, e->proj, e->cfg.svd_input_dim * e->cfg.dim * sizeof *e->proj);
    uint32_t crc = (uint32_t)w.crc;
    if (!w.failed && fwrite(&crc, sizeof crc, 1, w.f) != 1) w.failed = 1;
    if (!w.failed && fflush(w.f) != 0) w.failed = 1;
    int saved_errno = errno;
    if (fclose(w.f) != 0) w.failed = 1;
    return w.failed ? lr_err_set(err, LR_EIO, "%s: write failed: %s", tmp, strerror(saved_errno)) : LR_OK;
}

int lr_towers_text_encoder_save(const lr_text_encoder *e, const char *path, lr_err *err) {
    return lr_data_write_aside(path, write_encoder, (void *)e, err);
}

static int read_all(const char *path, unsigned char **buf, size_t *len, lr_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    unsigned char *b = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 20;
            unsigned char *p = realloc(b, cap);
            if (!p) {
                free(b);
                fclose(f);
                return lr_err_set(err, LR_ENOMEM, "%s: out of memory reading it", path);
            }
            b = p;
        }
        size_t k = fread(b + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return lr_err_set(err, LR_EIO, "%s: read error", path);
    }
    *buf = b;
    *len = n;
    return LR_OK;
}

/* The fixed part before the features: magic, version, the config fields and three weights. */
#define HEAD_BYTES ((size_t)(8 + 4 + N_U64_FIELDS * 8 + 3 * 4))

/* The magic, a whole head, and a version this code reads. */
static int check_head(const char *path, const unsigned char *b, size_t len, lr_err *err) {
    if (len < 8 || memcmp(b, MAGIC, 8) != 0)
        return lr_err_set(err, LR_EFORMAT, "%s: not a learnrec text encoder (no %s magic)", path, MAGIC);
    if (len < HEAD_BYTES + 4)
        return lr_err_set(err, LR_EFORMAT, "%s: truncated: %zu bytes is shorter than the header", path, len);
    uint32_t version;
    memcpy(&version, b + 8, 4);
    if (version != VERSION)
        return lr_err_set(err, LR_EFORMAT, "%s: format version %u, this learnrec reads version %u",
                          path, version, VERSION);
    return LR_OK;
}

/* The config and counts from the head, in config_fields' order. A config that fit would have
 * refused is a damaged file, so its error becomes LR_EFORMAT. */
static int read_config(const char *path, const unsigned char *b, lr_text_encoder *e, lr_err *err) {
    uint64_t f[N_U64_FIELDS];
    memcpy(f, b + 12, sizeof f);
    float weights[3];
    memcpy(weights, b + 12 + sizeof f, sizeof weights);
    lr_text_encoder_config *c = &e->cfg;
    c->dim = f[0]; c->min_df = f[1]; c->max_features = f[2]; c->char_ngram_min = f[3];
    c->char_ngram_max = f[4]; c->projection = (lr_text_projection)f[5]; c->proj_nnz = f[6];
    c->svd_input_dim = f[7]; c->svd_max_rows = f[8]; c->seed = f[9];
    e->n_docs = f[10];
    e->n_features = f[11];
    c->word_weight = weights[0]; c->bigram_weight = weights[1]; c->char_weight = weights[2];
    if (lr_towers_text_config_check(c, err)) {
        lr_err_prefix(err, "%s: ", path);
        if (err) err->code = LR_EFORMAT;
        return LR_EFORMAT;
    }
    return LR_OK;
}

/* Floats in the learned projection: (svd_input_dim, dim), none for a random one. */
static size_t proj_floats(const lr_text_encoder_config *c) {
    return c->projection == LR_PROJ_SVD ? c->svd_input_dim * c->dim : 0;
}

/* The length the config implies, then the CRC-32 over everything before it. */
static int check_body(const char *path, const unsigned char *b, size_t len, const lr_text_encoder *e,
                      lr_err *err) {
    size_t nf = e->n_features;
    if (nf == 0 || nf > ((size_t)1 << 34))
        return lr_err_set(err, LR_EFORMAT, "%s: implausible feature count %zu", path, nf);
    size_t want = HEAD_BYTES + nf * 12 + proj_floats(&e->cfg) * 4 + 4;
    if (len != want)
        return lr_err_set(err, LR_EFORMAT, "%s: %s: %zu bytes, expected %zu for %zu features", path,
                          len < want ? "truncated" : "trailing bytes", len, want, nf);
    uint32_t crc_stored;
    memcpy(&crc_stored, b + len - 4, 4);
    uLong crc = crc32(0, NULL, 0);
    for (size_t off = 0; off < len - 4;) { /* crc32's length argument is 32-bit */
        size_t k = len - 4 - off < (1u << 30) ? len - 4 - off : (1u << 30);
        crc = crc32(crc, b + off, (uInt)k);
        off += k;
    }
    if ((uint32_t)crc != crc_stored)
        return lr_err_set(err, LR_EFORMAT, "%s: checksum mismatch (the file is damaged)", path);
    return LR_OK;
}

/* The features' hashes (strictly ascending) and IDF (positive, finite), and the projection. */
static int read_arrays(const char *path, const unsigned char *b, lr_text_encoder *e, lr_err *err) {
    size_t nf = e->n_features, proj = proj_floats(&e->cfg);
    e->hashes = malloc(nf * sizeof *e->hashes);
    e->idf = malloc(nf * sizeof *e->idf);
    if (proj) e->proj = malloc(proj * sizeof *e->proj);
    if (!e->hashes || !e->idf || (proj && !e->proj))
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    memcpy(e->hashes, b + HEAD_BYTES, nf * 8);
    memcpy(e->idf, b + HEAD_BYTES + nf * 8, nf * 4);
    if (proj) memcpy(e->proj, b + HEAD_BYTES + nf * 12, proj * 4);
    for (size_t i = 0; i < nf; i++)
        if (!(e->idf[i] > 0) || !isfinite(e->idf[i]) || (i && e->hashes[i] <= e->hashes[i - 1]))
            return lr_err_set(err, LR_EFORMAT, "%s: feature %zu is invalid", path, i);
    return LR_OK;
}

int lr_towers_text_encoder_load(const char *path, lr_text_encoder **out, lr_err *err) {
    *out = NULL;
    unsigned char *b = NULL;
    size_t len = 0;
    int rc = read_all(path, &b, &len, err);
    if (rc) return rc;
    lr_text_encoder *e = NULL;
    if ((rc = check_head(path, b, len, err))) goto fail;
    e = calloc(1, sizeof *e);
    if (!e) {
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = read_config(path, b, e, err)) || (rc = check_body(path, b, len, e, err)) ||
        (rc = read_arrays(path, b, e, err)) || (rc = lr_towers_text_build_lookup(e, err)))
        goto fail;
    free(b);
    *out = e;
    return LR_OK;
fail:
    free(b);
    lr_towers_text_encoder_free(e);
    return rc;
}
