/* The encoder: a model directory's tokenizer and model together, texts in, LEARN's pooled
 * content embeddings out. */
#include <stdlib.h>
#include <string.h>

#include "lr_llm.h"

struct lr_llm_encoder {
    lr_llm_tokenizer *tok;
    lr_llm_model *model;
    lr_llm_encoder_options opt;
};

lr_llm_encoder_options lr_llm_encoder_options_default(void) {
    return (lr_llm_encoder_options){.max_tokens = 512, .batch = 32,
                                    .model = {.weights = LR_LLM_WEIGHTS_MAPPED}};
}

/* A tokenizer that can produce ids the embedding table lacks would fail at the first such text,
 * perhaps hours into a catalogue: refuse the pair up front instead. */
static int check_pair(const char *dir, const lr_llm_tokenizer *t, const lr_llm_model *m, lr_err *err) {
    size_t tv = lr_llm_tokenizer_vocab_size(t), mv = lr_llm_model_get_info(m).vocab;
    if (tv > mv)
        return lr_err_set(err, LR_EMISMATCH,
                          "%s: the tokenizer has %zu ids but the model's embedding table only %zu "
                          "rows: the tokenizer belongs to another model",
                          dir, tv, mv);
    return LR_OK;
}

int lr_llm_encoder_open(const char *dir, const lr_llm_encoder_options *opt, lr_llm_encoder **out,
                        lr_err *err) {
    *out = NULL;
    lr_llm_encoder_options o = opt ? *opt : lr_llm_encoder_options_default();
    if (o.max_tokens == 0 || o.batch == 0)
        return lr_err_set(err, LR_EINVAL, "max_tokens and batch must be at least 1");
    lr_llm_encoder *e = calloc(1, sizeof *e);
    if (!e) return lr_err_set(err, LR_ENOMEM, "out of memory opening %s", dir);
    e->opt = o;
    int rc = lr_llm_tokenizer_load(dir, &e->tok, err);
    if (!rc) rc = lr_llm_model_load(dir, &o.model, &e->model, err);
    if (!rc) rc = check_pair(dir, e->tok, e->model, err);
    if (rc) {
        lr_llm_encoder_free(e);
        return rc;
    }
    size_t maxpos = lr_llm_model_get_info(e->model).max_positions;
    if (maxpos && e->opt.max_tokens > maxpos) e->opt.max_tokens = maxpos;
    *out = e;
    return LR_OK;
}

void lr_llm_encoder_free(lr_llm_encoder *e) {
    if (!e) return;
    lr_llm_tokenizer_free(e->tok);
    lr_llm_model_free(e->model);
    free(e);
}

size_t lr_llm_encoder_dim(const lr_llm_encoder *e) { return lr_llm_model_get_info(e->model).hidden; }
size_t lr_llm_encoder_max_tokens(const lr_llm_encoder *e) { return e->opt.max_tokens; }
const lr_llm_model *lr_llm_encoder_model(const lr_llm_encoder *e) { return e->model; }
const lr_llm_tokenizer *lr_llm_encoder_tokenizer(const lr_llm_encoder *e) { return e->tok; }

/* One batch: tokenize, cut at max_tokens, one packed forward pass. */
static int encode_batch(const lr_llm_encoder *e, const char *const *texts, size_t first, size_t n,
                        float *out, int32_t **ids, size_t *lens, lr_err *err) {
    int rc = LR_OK;
    size_t done = 0;
    for (; done < n && !rc; done++) {
        const char *t = texts[done] ? texts[done] : "";
        rc = lr_llm_tokenize(e->tok, t, strlen(t), &ids[done], &lens[done], err);
        if (rc) {
            if (err) { /* say which text: a catalogue has millions */
                lr_err inner = *err;
                lr_err_set(err, rc, "text %zu: %s", first + done, inner.msg);
            }
            break;
        }
        if (lens[done] > e->opt.max_tokens) lens[done] = e->opt.max_tokens;
    }
    if (!rc) rc = lr_llm_model_embed(e->model, (const int32_t *const *)ids, lens, n, out, err);
    for (size_t i = 0; i < done; i++) {
        free(ids[i]);
        ids[i] = NULL;
    }
    return rc;
}

int lr_llm_encode(const lr_llm_encoder *e, const char *const *texts, size_t n, float *out,
                  lr_err *err) {
    size_t b = e->opt.batch < n ? e->opt.batch : n, dim = lr_llm_encoder_dim(e);
    if (n == 0) return LR_OK;
    int32_t **ids = calloc(b, sizeof *ids);
    size_t *lens = calloc(b, sizeof *lens);
    int rc = ids && lens ? LR_OK : lr_err_set(err, LR_ENOMEM, "out of memory");
    for (size_t s = 0; !rc && s < n; s += b) {
        size_t m = n - s < b ? n - s : b;
        rc = encode_batch(e, texts + s, s, m, out + s * dim, ids, lens, err);
    }
    free(ids);
    free(lens);
    return rc;
}
