/* The built-in text encoder: TF-IDF over hashed word, bigram and character n-gram features,
 * reduced by a sparse random projection (or a learned LSA-style projection on top of one). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "lr_data.h"
#include "lr_towers.h"
#include "text_encoder_internal.h"
#include "text_features.h"

lr_text_encoder_config lr_towers_text_encoder_config_default(void) {
    lr_text_encoder_config c = {
        .dim = 2048,
        .min_df = 2,
        .max_features = 1000000,
        .char_ngram_min = 3,
        .char_ngram_max = 5,
        .word_weight = 1.0f,
        .bigram_weight = 0.5f,
        .char_weight = 1.0f,
        /* the towers learn most from a learned projection to 2,048 dimensions: valid Recall@10
         * 0.1305 over 3 seeds against 0.1263 for the random one to 1,024 (docs/benchmarks.md,
         * issue 16); the random projection stays the cheaper choice to encode */
        .projection = LR_PROJ_SVD,
        .proj_nnz = 4,
        .svd_input_dim = 0, /* twice dim */
        .svd_max_rows = 100000,
        .seed = 1,
    };
    return c;
}

int lr_towers_text_config_check(const lr_text_encoder_config *c, lr_err *err) {
    if (c->dim < 1 || c->dim > 65536)
        return lr_err_set(err, LR_EINVAL, "text encoder: dim must be 1 to 65536, got %zu", c->dim);
    if (c->char_ngram_min < 1 || c->char_ngram_max > 10 || c->char_ngram_min > c->char_ngram_max + 1)
        return lr_err_set(err, LR_EINVAL, "text encoder: character n-grams must lie within 1..10 "
                          "(min %zu, max %zu; min = max + 1 turns them off)", c->char_ngram_min,
                          c->char_ngram_max);
    if (c->min_df < 1 || c->max_features < 1)
        return lr_err_set(err, LR_EINVAL, "text encoder: min_df and max_features must be >= 1");
    if (c->proj_nnz < 1 || c->proj_nnz > 64)
        return lr_err_set(err, LR_EINVAL, "text encoder: proj_nnz must be 1 to 64, got %zu", c->proj_nnz);
    if (!(c->word_weight >= 0 && c->bigram_weight >= 0 && c->char_weight >= 0) ||
        !isfinite(c->word_weight) || !isfinite(c->bigram_weight) || !isfinite(c->char_weight) ||
        c->word_weight + c->bigram_weight + c->char_weight <= 0)
        return lr_err_set(err, LR_EINVAL, "text encoder: group weights must be finite, >= 0, "
                          "and not all 0");
    if (c->projection != LR_PROJ_RANDOM && c->projection != LR_PROJ_SVD)
        return lr_err_set(err, LR_EINVAL, "text encoder: unknown projection %d", (int)c->projection);
    size_t width = lr_towers_text_svd_width(c);
    if (c->projection == LR_PROJ_SVD && (width < c->dim || width > 16384 || c->svd_max_rows < 1))
        return lr_err_set(err, LR_EINVAL, "text encoder: the learned projection needs dim <= "
                          "svd_input_dim <= 16384 (dim %zu, svd_input_dim %zu)", c->dim, width);
    return LR_OK;
}

/* ---- feature lookup --------------------------------------------------------------------------- */

int lr_towers_text_build_lookup(lr_text_encoder *e, lr_err *err) {
    size_t cap = 16;
    while (cap < e->n_features * 2) cap *= 2;
    e->slots = malloc(cap * sizeof *e->slots);
    if (!e->slots) return lr_err_set(err, LR_ENOMEM, "text encoder: out of memory (%zu slots)", cap);
    for (size_t i = 0; i < cap; i++) e->slots[i] = -1;
    e->slot_mask = cap - 1;
    for (size_t f = 0; f < e->n_features; f++) {
        size_t i = (size_t)lr_mix64(e->hashes[f]) & e->slot_mask;
        while (e->slots[i] >= 0) {
            if (e->hashes[e->slots[i]] == e->hashes[f])
                return lr_err_set(err, LR_EFORMAT, "text encoder: feature %zu is listed twice", f);
            i = (i + 1) & e->slot_mask;
        }
        e->slots[i] = (int32_t)f;
    }
    return LR_OK;
}

static int32_t lookup(const lr_text_encoder *e, uint64_t h) {
    for (size_t i = (size_t)lr_mix64(h) & e->slot_mask;; i = (i + 1) & e->slot_mask) {
        int32_t f = e->slots[i];
        if (f < 0 || e->hashes[f] == h) return f;
    }
}

/* ---- encoding --------------------------------------------------------------------------------- */

size_t lr_towers_text_svd_width(const lr_text_encoder_config *c) {
    if (c->svd_input_dim) return c->svd_input_dim;
    return c->dim <= 8192 ? 2 * c->dim : c->dim > 16384 ? c->dim : 16384;
}

/* Width of the random projection: the output itself, or the input of the learned projection. */
size_t lr_towers_text_random_width(const lr_text_encoder_config *c) {
    return c->projection == LR_PROJ_SVD ? lr_towers_text_svd_width(c) : c->dim;
}

/* Per-call scratch: term counts by feature index (zero between texts) and the features touched. */
typedef struct {
    float *tf;       /* n_features */
    int32_t *touched; /* up to n_features */
    float *w;        /* weight of each touched feature */
    lr_feat_buf fb;
} scratch;

/* One text into out[width] (zeroed here): weighted TF-IDF, each group L2-normalised, then the
 * sparse random projection. Counting goes through a dense array instead of sorting the text's
 * n-grams: this is the encoder's hot loop. */
static int encode_random(const lr_text_encoder *e, scratch *sc, const char *text, float *out) {
    const lr_text_encoder_config *c = &e->cfg;
    size_t width = lr_towers_text_random_width(c), nt = 0;
    memset(out, 0, width * sizeof *out);
    if (lr_towers_feat_hashes(text, c->char_ngram_min, c->char_ngram_max, &sc->fb)) return -1;
    for (size_t i = 0; i < sc->fb.n; i++) {
        int32_t f = lookup(e, sc->fb.v[i].hash);
        if (f < 0) continue;
        if (sc->tf[f] == 0) sc->touched[nt++] = f;
        sc->tf[f] += 1;
    }
    double gsum[LR_FEAT_GROUPS] = {0};
    for (size_t k = 0; k < nt; k++) {
        int32_t f = sc->touched[k];
        float w = (1.0f + logf(sc->tf[f])) * e->idf[f];
        sc->tf[f] = 0;
        sc->w[k] = w;
        gsum[lr_towers_feat_group(e->hashes[f])] += (double)w * w;
    }
    const float gw[LR_FEAT_GROUPS] = {c->word_weight, c->bigram_weight, c->char_weight};
    float scale[LR_FEAT_GROUPS];
    for (int g = 0; g < LR_FEAT_GROUPS; g++)
        scale[g] = gsum[g] > 0 ? gw[g] / (float)sqrt(gsum[g]) / sqrtf((float)c->proj_nnz) : 0.0f;
    for (size_t k = 0; k < nt; k++) {
        uint64_t h = e->hashes[sc->touched[k]];
        float w = sc->w[k] * scale[lr_towers_feat_group(h)];
        for (size_t j = 0; j < c->proj_nnz; j++) {
            uint64_t r = lr_mix64(h ^ (c->seed + 0x9e3779b97f4a7c15ULL * (j + 1)));
            out[(r >> 1) % width] += (r & 1) ? w : -w;
        }
    }
    return 0;
}

#define ENCODE_BATCH 256

int lr_towers_text_encode_raw(const lr_text_encoder *e, const char *const *texts, size_t n, float *out,
                       lr_err *err) {
    const lr_text_encoder_config *c = &e->cfg;
    size_t width = lr_towers_text_random_width(c), dim = c->dim;
    int svd = c->projection == LR_PROJ_SVD;
    scratch sc = {0};
    float *wide = NULL;
    int rc = LR_OK;
    sc.tf = calloc(e->n_features, sizeof *sc.tf);
    sc.touched = malloc(e->n_features * sizeof *sc.touched);
    sc.w = malloc(e->n_features * sizeof *sc.w);
    if (!sc.tf || !sc.touched || !sc.w || (svd && !(wide = malloc(ENCODE_BATCH * width * sizeof *wide)))) {
        rc = lr_err_set(err, LR_ENOMEM, "text encoder: out of memory");
        goto done;
    }
    for (size_t start = 0; start < n; start += ENCODE_BATCH) {
        size_t m = n - start < ENCODE_BATCH ? n - start : ENCODE_BATCH;
        for (size_t r = 0; r < m; r++)
            if (encode_random(e, &sc, texts[start + r], svd ? wide + r * width : out + (start + r) * dim)) {
                rc = lr_err_set(err, LR_ENOMEM, "text encoder: out of memory");
                goto done;
            }
        if (svd) /* out (m, dim) = wide (m, width) @ proj (width, dim) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)dim, (int)width,
                        1.0f, wide, (int)width, e->proj, (int)dim, 0.0f, out + start * dim,
                        (int)dim);
    }
done:
    lr_towers_feat_buf_free(&sc.fb);
    free(sc.tf);
    free(sc.touched);
    free(sc.w);
    free(wide);
    return rc;
}

int lr_towers_text_encoder_encode(const lr_text_encoder *e, const char *const *texts, size_t n,
                                  float *out, lr_err *err) {
    int rc = lr_towers_text_encode_raw(e, texts, n, out, err);
    if (rc) return rc;
    lr_data_l2_normalize_rows(out, n, e->cfg.dim);
    return LR_OK;
}

size_t lr_towers_text_encoder_dim(const lr_text_encoder *e) { return e->cfg.dim; }
size_t lr_towers_text_encoder_num_features(const lr_text_encoder *e) { return e->n_features; }
lr_text_encoder_config lr_towers_text_encoder_get_config(const lr_text_encoder *e) { return e->cfg; }

void lr_towers_text_encoder_free(lr_text_encoder *e) {
    if (!e) return;
    free(e->hashes);
    free(e->idf);
    free(e->slots);
    free(e->proj);
    free(e);
}
