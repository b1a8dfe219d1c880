/* The model's public calls: load, free, info, and the two ways to run it (one sequence's hidden
 * states, many sequences' pooled embeddings). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

int lr_llm_model_load(const char *dir, const lr_llm_model_options *opt, lr_llm_model **out,
                      lr_err *err) {
    if (out) *out = NULL;
    if (!dir || !out)
        return lr_err_set(err, LR_EINVAL, "lr_llm_model_load: NULL %s", dir ? "out" : "dir");
    lr_llm_weights mode = opt ? opt->weights : LR_LLM_WEIGHTS_MAPPED;
    if (mode != LR_LLM_WEIGHTS_MAPPED && mode != LR_LLM_WEIGHTS_F32)
        return lr_err_set(err, LR_EINVAL, "lr_llm_model_load: weights option %d is neither "
                          "LR_LLM_WEIGHTS_MAPPED nor LR_LLM_WEIGHTS_F32", (int)mode);
    lr_llm_model *m = calloc(1, sizeof *m);
    if (!m) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", dir);
    m->weights = mode;
    int rc = llm_config_read(dir, &m->cfg, err);
    if (!rc) rc = llm_weights_load(m, dir, err);
    if (!rc && !(m->inv_freq = malloc(m->cfg.head_dim / 2 * sizeof *m->inv_freq)))
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", dir);
    if (rc) { /* every message names the file at fault */
        lr_llm_model_free(m);
        return rc;
    }
    llm_rope_inv_freq(&m->cfg.rope, m->cfg.head_dim, m->inv_freq);
    *out = m;
    return LR_OK;
}

void lr_llm_model_free(lr_llm_model *m) {
    if (!m) return;
    llm_weights_free(m);
    llm_config_free(&m->cfg);
    free(m->inv_freq);
    free(m);
}

lr_llm_model_info lr_llm_model_get_info(const lr_llm_model *m) {
    lr_llm_model_info info = {0};
    if (!m) return info;
    const llm_config *c = &m->cfg;
    info = (lr_llm_model_info){c->architecture, c->hidden, c->layers, c->heads, c->kv_heads,
                               c->head_dim, c->ffn, c->vocab, c->max_positions, m->n_params,
                               c->bos_id, c->eos_id};
    return info;
}

int lr_llm_model_hidden(const lr_llm_model *m, const int32_t *ids, size_t n, float *out,
                        lr_err *err) {
    if (!m || (n && (!ids || !out)))
        return lr_err_set(err, LR_EINVAL, "lr_llm_model_hidden: NULL %s",
                          !m ? "model" : !ids ? "ids" : "out");
    size_t start;
    llm_batch b = {&ids, &n, &start, 1, 0, 0};
    int rc = llm_batch_plan(m, &b, err);
    return rc ? rc : llm_forward(m, &b, out, err);
}

/* Row s of out: the mean of sequence s's rows of hidden, in double, L2-normalised. acc: C. */
static void pool(const llm_batch *b, const float *hidden, size_t C, double *acc, float *out) {
    for (size_t s = 0; s < b->n_seq; s++) {
        for (size_t c = 0; c < C; c++) acc[c] = 0;
        for (size_t j = 0; j < b->len[s]; j++) {
            const float *row = hidden + (b->start[s] + j) * C;
            for (size_t c = 0; c < C; c++) acc[c] += row[c];
        }
        double norm = 0;
        for (size_t c = 0; c < C; c++) norm += acc[c] * acc[c]; /* the sum's norm: n x the mean's */
        norm = sqrt(norm);
        for (size_t c = 0; c < C; c++) out[s * C + c] = norm > 0 ? (float)(acc[c] / norm) : 0.0f;
    }
}

int lr_llm_model_embed(const lr_llm_model *m, const int32_t *const *ids, const size_t *lens,
                       size_t n_seq, float *out, lr_err *err) {
    if (!m || (n_seq && (!ids || !lens || !out)))
        return lr_err_set(err, LR_EINVAL, "lr_llm_model_embed: NULL %s",
                          !m ? "model" : !ids ? "ids" : !lens ? "lens" : "out");
    size_t C = m->cfg.hidden;
    size_t *start = malloc((n_seq ? n_seq : 1) * sizeof *start);
    double *acc = malloc(C * sizeof *acc);
    llm_batch b = {ids, lens, start, n_seq, 0, 0};
    float *hidden = NULL;
    int rc = !start || !acc ? lr_err_set(err, LR_ENOMEM, "out of memory") : llm_batch_plan(m, &b, err);
    if (!rc && !(hidden = malloc((b.T ? b.T : 1) * C * sizeof *hidden)))
        rc = lr_err_set(err, LR_ENOMEM, "out of memory for the hidden states of %zu tokens", b.T);
    if (!rc) rc = llm_forward(m, &b, hidden, err);
    if (!rc) pool(&b, hidden, C, acc, out);
    free(hidden);
    free(acc);
    free(start);
    return rc;
}
