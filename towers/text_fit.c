/* Fitting the built-in text encoder: document frequencies, IDF, and the learned projection. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "lr_data.h"
#include "text_encoder_internal.h"
#include "text_features.h"

/* LAPACK's symmetric eigensolver (Fortran ABI; trailing lengths of the character arguments). */
extern void ssyevr_(const char *jobz, const char *range, const char *uplo, const int *n, float *a,
                    const int *lda, const float *vl, const float *vu, const int *il, const int *iu,
                    const float *abstol, int *m, float *w, float *z, const int *ldz, int *isuppz,
                    float *work, const int *lwork, int *iwork, const int *liwork, int *info,
                    size_t, size_t, size_t);

/* Document frequency per feature hash: open addressing, count 0 marks an empty slot. */
typedef struct {
    uint64_t *keys;
    uint32_t *counts;
    size_t cap, n;
} df_map;

static int df_grow(df_map *m) {
    size_t cap = m->cap ? m->cap * 2 : 1 << 16;
    uint64_t *keys = malloc(cap * sizeof *keys);
    uint32_t *counts = calloc(cap, sizeof *counts);
    if (!keys || !counts) {
        free(keys);
        free(counts);
        return -1;
    }
    for (size_t j = 0; j < m->cap; j++) {
        if (!m->counts[j]) continue;
        size_t i = (size_t)lr_mix64(m->keys[j]) & (cap - 1);
        while (counts[i]) i = (i + 1) & (cap - 1);
        keys[i] = m->keys[j];
        counts[i] = m->counts[j];
    }
    free(m->keys);
    free(m->counts);
    m->keys = keys;
    m->counts = counts;
    m->cap = cap;
    return 0;
}

static int df_add(df_map *m, uint64_t h) {
    if ((m->n + 1) * 2 > m->cap && df_grow(m)) return -1;
    size_t i = (size_t)lr_mix64(h) & (m->cap - 1);
    while (m->counts[i] && m->keys[i] != h) i = (i + 1) & (m->cap - 1);
    if (!m->counts[i]) {
        m->keys[i] = h;
        m->n++;
    }
    m->counts[i]++;
    return 0;
}

typedef struct {
    uint64_t hash;
    uint32_t df;
} feat_df;

static int by_df_desc(const void *a, const void *b) {
    const feat_df *x = a, *y = b;
    if (x->df != y->df) return x->df > y->df ? -1 : 1;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

static int by_hash(const void *a, const void *b) {
    const feat_df *x = a, *y = b;
    return x->hash < y->hash ? -1 : x->hash > y->hash;
}

/* The top `dim` eigenvectors of X^T X for a sample of encoded rows: an LSA projection that
 * keeps the directions in which the catalogue's texts vary most. */
static int learn_projection(lr_text_encoder *e, const char *const *texts, size_t n, lr_err *err) {
    const lr_text_encoder_config *c = &e->cfg;
    size_t width = c->svd_input_dim, dim = c->dim;
    size_t rows = n < c->svd_max_rows ? n : c->svd_max_rows;
    size_t stride = n / (rows ? rows : 1);
    const char **sample = malloc((rows ? rows : 1) * sizeof *sample);
    float *x = malloc((rows ? rows : 1) * width * sizeof *x);
    float *cov = calloc(width * width, sizeof *cov);
    float *w = malloc(width * sizeof *w), *z = malloc(width * dim * sizeof *z);
    int *isuppz = malloc(2 * dim * sizeof *isuppz), *iwork = NULL;
    float *work = NULL;
    int rc = LR_OK;
    if (!sample || !x || !cov || !w || !z || !isuppz) {
        rc = lr_err_set(err, LR_ENOMEM, "text encoder: out of memory learning a %zu x %zu "
                        "projection", width, dim);
        goto done;
    }
    for (size_t r = 0; r < rows; r++) sample[r] = texts[r * stride];
    /* Encode the sample through the random projection alone (proj is still NULL). */
    lr_text_encoder_config saved = e->cfg;
    e->cfg.projection = LR_PROJ_RANDOM;
    e->cfg.dim = width;
    rc = lr_towers_text_encode_raw(e, sample, rows, x, err);
    e->cfg = saved;
    if (rc) goto done;
    lr_data_l2_normalize_rows(x, rows, width);
    cblas_ssyrk(CblasColMajor, CblasUpper, CblasNoTrans, (int)width, (int)rows, 1.0f, x,
                (int)width, 0.0f, cov, (int)width);
    int N = (int)width, il = (int)(width - dim + 1), iu = (int)width, m = 0, info = 0;
    int lwork = -1, liwork = -1, iwq = 0;
    float vl = 0, vu = 0, abstol = 0, wq = 0;
    ssyevr_("V", "I", "U", &N, cov, &N, &vl, &vu, &il, &iu, &abstol, &m, w, z, &N, isuppz, &wq,
            &lwork, &iwq, &liwork, &info, 1, 1, 1);
    lwork = (int)wq;
    liwork = iwq;
    work = malloc((size_t)lwork * sizeof *work);
    iwork = malloc((size_t)liwork * sizeof *iwork);
    if (info || !work || !iwork) {
        rc = lr_err_set(err, info ? LR_EINVAL : LR_ENOMEM, "text encoder: eigensolver workspace "
                        "query failed (info %d)", info);
        goto done;
    }
    ssyevr_("V", "I", "U", &N, cov, &N, &vl, &vu, &il, &iu, &abstol, &m, w, z, &N, isuppz, work,
            &lwork, iwork, &liwork, &info, 1, 1, 1);
    if (info || (size_t)m != dim) {
        rc = lr_err_set(err, LR_EINVAL, "text encoder: eigensolver failed (info %d, %d of %zu "
                        "vectors)", info, m, dim);
        goto done;
    }
    e->proj = malloc(width * dim * sizeof *e->proj);
    if (!e->proj) {
        rc = lr_err_set(err, LR_ENOMEM, "text encoder: out of memory");
        goto done;
    }
    /* z holds eigenvectors as columns, eigenvalues ascending: output dim k is the k-th largest. */
    for (size_t i = 0; i < width; i++)
        for (size_t k = 0; k < dim; k++) e->proj[i * dim + k] = z[(dim - 1 - k) * width + i];
done:
    free(sample);
    free(x);
    free(cov);
    free(w);
    free(z);
    free(isuppz);
    free(work);
    free(iwork);
    return rc;
}

int lr_towers_text_encoder_fit(const lr_text_encoder_config *cfg, const char *const *texts,
                               size_t n, lr_text_encoder **out, lr_err *err) {
    *out = NULL;
    int rc = lr_towers_text_config_check(cfg, err);
    if (rc) return rc;
    if (n == 0) return lr_err_set(err, LR_EINVAL, "text encoder: no texts to fit on");
    lr_text_encoder *e = calloc(1, sizeof *e);
    df_map df = {0};
    lr_feat_buf fb = {0};
    feat_df *cand = NULL;
    if (!e) return lr_err_set(err, LR_ENOMEM, "text encoder: out of memory");
    e->cfg = *cfg;
    e->cfg.svd_input_dim = lr_towers_text_svd_width(cfg); /* the width this encoder keeps */
    e->n_docs = n;
    for (size_t i = 0; i < n; i++) {
        if (lr_towers_feat_extract(texts[i], cfg->char_ngram_min, cfg->char_ngram_max, &fb)) goto oom;
        for (size_t j = 0; j < fb.n; j++)
            if (df_add(&df, fb.v[j].hash)) goto oom;
    }
    size_t nc = 0;
    cand = malloc((df.n ? df.n : 1) * sizeof *cand);
    if (!cand) goto oom;
    for (size_t i = 0; i < df.cap; i++)
        if (df.counts[i] >= cfg->min_df) cand[nc++] = (feat_df){df.keys[i], df.counts[i]};
    if (nc == 0) {
        rc = lr_err_set(err, LR_EINVAL, "text encoder: no feature occurs in %zu or more of the "
                        "%zu texts; lower min_df", cfg->min_df, n);
        goto fail;
    }
    if (nc > cfg->max_features) {
        qsort(cand, nc, sizeof *cand, by_df_desc);
        nc = cfg->max_features;
    }
    qsort(cand, nc, sizeof *cand, by_hash);
    e->n_features = nc;
    e->hashes = malloc(nc * sizeof *e->hashes);
    e->idf = malloc(nc * sizeof *e->idf);
    if (!e->hashes || !e->idf) goto oom;
    for (size_t i = 0; i < nc; i++) { /* smooth IDF, as scikit-learn's default */
        e->hashes[i] = cand[i].hash;
        e->idf[i] = logf((float)(n + 1) / (float)(cand[i].df + 1)) + 1.0f;
    }
    if ((rc = lr_towers_text_build_lookup(e, err))) goto fail;
    if (cfg->projection == LR_PROJ_SVD && (rc = learn_projection(e, texts, n, err))) goto fail;
    free(df.keys);
    free(df.counts);
    free(cand);
    lr_towers_feat_buf_free(&fb);
    *out = e;
    return LR_OK;
oom:
    rc = lr_err_set(err, LR_ENOMEM, "text encoder: out of memory fitting on %zu texts", n);
fail:
    free(df.keys);
    free(df.counts);
    free(cand);
    lr_towers_feat_buf_free(&fb);
    lr_towers_text_encoder_free(e);
    return rc;
}
