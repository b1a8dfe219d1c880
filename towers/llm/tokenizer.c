/* The tokenizer's public calls (lr_llm.h): which file a path means, the BOS/EOS the model's
 * Python tokenizer adds, and the two engines behind one handle: a tokenizer.json pipeline
 * (tok_json.c) or a SentencePiece model (spm_shim.cc). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lr_llm.h"
#include "json_oom.h"
#include "spm_shim.h"
#include "tok_internal.h"

struct lr_llm_tokenizer {
    tok_json *json;   /* one of json and spm */
    lr_llm_spm *spm;
    int32_t *pre, *post; /* ids put around every text's own */
    size_t npre, npost;
    size_t vocab_size;
};

void lr_llm_tokenizer_free(lr_llm_tokenizer *t) {
    if (!t) return;
    lr_llm_tok_json_free(t->json);
    lr_llm_spm_free(t->spm);
    free(t->pre);
    free(t->post);
    free(t);
}

size_t lr_llm_tokenizer_vocab_size(const lr_llm_tokenizer *t) { return t ? t->vocab_size : 0; }

/* ---- BOS and EOS as the Python tokenizer adds them -------------------------------------------- */

/* What a model directory's tokenizer_config.json and config.json say about BOS and EOS. */
typedef struct {
    int llama_like;       /* the Python class is Llama's (or Baichuan's): it decides BOS/EOS */
    int add_bos, add_eos; /* -1 when the files do not say */
    char bos[128], eos[128];
} bos_policy;

static json_t *load_optional(const char *dir, const char *name, lr_err *err, int *rc) {
    char path[4096];
    struct stat st;
    *rc = LR_OK;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (stat(path, &st) != 0) return NULL;
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j && llm_json_oom(&je)) {
        *rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory reading it", path);
    } else if (!j || !json_is_object(j)) {
        json_decref(j);
        *rc = lr_err_set(err, LR_EFORMAT, "%s:%d: %s", path, je.line, j ? "not an object" : je.text);
    }
    return j;
}

static void token_string(const json_t *v, char *out, size_t cap) {
    const char *s = json_is_object(v) ? json_string_value(json_object_get(v, "content"))
                                      : json_string_value(v);
    if (s) snprintf(out, cap, "%s", s);
}

/* The class transformers would build: tokenizer_config's tokenizer_class, else config.json's,
 * else the one of config.json's model_type. Llama's classes default to BOS and no EOS and
 * rebuild the post-processor from add_bos_token / add_eos_token (update_post_processor), so for
 * them those settings replace what tokenizer.json's post-processor says. */
static int read_policy(const char *dir, bos_policy *p, lr_err *err) {
    int rc;
    *p = (bos_policy){0, -1, -1, "<s>", "</s>"};
    json_t *tc = load_optional(dir, "tokenizer_config.json", err, &rc);
    if (rc) return rc;
    json_t *cf = load_optional(dir, "config.json", err, &rc);
    if (rc) {
        json_decref(tc);
        return rc;
    }
    const char *cls = json_string_value(json_object_get(tc, "tokenizer_class"));
    if (!cls) cls = json_string_value(json_object_get(cf, "tokenizer_class"));
    const char *mt = json_string_value(json_object_get(cf, "model_type"));
    static const char *const llama[] = {"LlamaTokenizer", "LlamaTokenizerFast",
                                        "CodeLlamaTokenizer", "CodeLlamaTokenizerFast",
                                        "BaichuanTokenizer", NULL};
    for (size_t i = 0; cls && llama[i]; i++) p->llama_like |= strcmp(cls, llama[i]) == 0;
    if (!cls && mt)
        p->llama_like = !strcmp(mt, "llama") || !strcmp(mt, "mistral") || !strcmp(mt, "baichuan");
    json_t *b = json_object_get(tc, "add_bos_token"), *e = json_object_get(tc, "add_eos_token");
    if (json_is_boolean(b)) p->add_bos = json_is_true(b);
    if (json_is_boolean(e)) p->add_eos = json_is_true(e);
    token_string(json_object_get(tc, "bos_token"), p->bos, sizeof p->bos);
    token_string(json_object_get(tc, "eos_token"), p->eos, sizeof p->eos);
    json_decref(tc);
    json_decref(cf);
    return LR_OK;
}

static int set_one(int32_t **v, size_t *n, int32_t id) {
    free(*v);
    *n = 0;
    *v = malloc(sizeof **v);
    if (!*v) return LR_ENOMEM;
    (*v)[0] = id;
    *n = 1;
    return LR_OK;
}

/* A Llama-like directory's BOS/EOS replace the template's; other classes keep the file's. */
static int apply_json_policy(lr_llm_tokenizer *t, const bos_policy *p, const char *dir,
                             lr_err *err) {
    if (!p->llama_like) return LR_OK;
    const char *names[2] = {p->bos, p->eos};
    int want[2] = {p->add_bos != 0, p->add_eos == 1}; /* defaults: BOS yes, EOS no */
    int32_t **v[2] = {&t->pre, &t->post};
    size_t *n[2] = {&t->npre, &t->npost};
    for (int k = 0; k < 2; k++) {
        free(*v[k]);
        *v[k] = NULL;
        *n[k] = 0;
        if (!want[k]) continue;
        int32_t id = lr_llm_tok_json_token_id(t->json, names[k]);
        if (id < 0)
            return lr_err_set(err, LR_EFORMAT, "%s: the %s token \"%s\" is not in tokenizer.json",
                              dir, k ? "EOS" : "BOS", names[k]);
        if (set_one(v[k], n[k], id)) return lr_err_set(err, LR_ENOMEM, "out of memory");
    }
    return LR_OK;
}

static int apply_spm_policy(lr_llm_tokenizer *t, const bos_policy *p, const char *dir,
                            lr_err *err) {
    int ids[2] = {lr_llm_spm_bos_id(t->spm), lr_llm_spm_eos_id(t->spm)};
    int want[2] = {p->add_bos != 0, p->add_eos == 1};
    int explicit_[2] = {p->add_bos == 1, p->add_eos == 1};
    for (int k = 0; k < 2; k++) {
        if (!want[k]) continue;
        if (ids[k] < 0) {
            if (!explicit_[k]) continue; /* the default BOS of a model without one */
            return lr_err_set(err, LR_EFORMAT, "%s: tokenizer_config.json adds %s but "
                              "tokenizer.model has no such token", dir, k ? "EOS" : "BOS");
        }
        if (set_one(k ? &t->post : &t->pre, k ? &t->npost : &t->npre, ids[k]))
            return lr_err_set(err, LR_ENOMEM, "out of memory");
    }
    return LR_OK;
}

/* ---- loading ---------------------------------------------------------------------------------- */

static int copy_template(lr_llm_tokenizer *t) {
    const int32_t *pre, *post;
    lr_llm_tok_json_template(t->json, &pre, &t->npre, &post, &t->npost);
    t->pre = malloc((t->npre + 1) * sizeof *t->pre);
    t->post = malloc((t->npost + 1) * sizeof *t->post);
    if (!t->pre || !t->post) return LR_ENOMEM;
    if (t->npre) memcpy(t->pre, pre, t->npre * sizeof *pre);
    if (t->npost) memcpy(t->post, post, t->npost * sizeof *post);
    return LR_OK;
}

static void set_vocab_size(lr_llm_tokenizer *t) {
    int64_t m = t->json ? lr_llm_tok_json_max_id(t->json)
                        : (int64_t)lr_llm_spm_piece_size(t->spm) - 1;
    for (size_t i = 0; i < t->npre; i++) m = t->pre[i] > m ? t->pre[i] : m;
    for (size_t i = 0; i < t->npost; i++) m = t->post[i] > m ? t->post[i] : m;
    t->vocab_size = (size_t)(m + 1);
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), k = strlen(tail);
    return n >= k && strcmp(s + n - k, tail) == 0;
}

/* `file` inside directory `dir` (or the file `path` itself when dir is NULL). */
static int load_into(lr_llm_tokenizer *t, const char *path, const char *dir, lr_err *err) {
    bos_policy pol;
    int rc = LR_OK;
    if (dir && (rc = read_policy(dir, &pol, err))) return rc;
    if (ends_with(path, ".json")) {
        if ((rc = lr_llm_tok_json_load(path, &t->json, err))) return rc;
        if (copy_template(t)) return lr_err_set(err, LR_ENOMEM, "out of memory");
        if (dir) rc = apply_json_policy(t, &pol, dir, err);
    } else {
        if ((rc = lr_llm_spm_load(path, &t->spm, err))) return rc;
        if (dir) rc = apply_spm_policy(t, &pol, dir, err);
    }
    return rc;
}

int lr_llm_tokenizer_load(const char *path, lr_llm_tokenizer **out, lr_err *err) {
    if (!out) return lr_err_set(err, LR_EINVAL, "lr_llm_tokenizer_load: out is NULL");
    *out = NULL;
    if (!path) return lr_err_set(err, LR_EINVAL, "lr_llm_tokenizer_load: path is NULL");
    struct stat st;
    if (stat(path, &st) != 0) return lr_err_set(err, LR_EIO, "%s: no such file or directory", path);
    char file[4096];
    const char *dir = NULL;
    if (S_ISDIR(st.st_mode)) {
        dir = path;
        snprintf(file, sizeof file, "%s/tokenizer.json", path);
        if (stat(file, &st) != 0) snprintf(file, sizeof file, "%s/tokenizer.model", path);
        if (stat(file, &st) != 0)
            return lr_err_set(err, LR_ENOTFOUND, "%s: neither tokenizer.json nor "
                              "tokenizer.model is there", path);
    } else {
        snprintf(file, sizeof file, "%s", path);
    }
    lr_llm_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return lr_err_set(err, LR_ENOMEM, "out of memory");
    int rc = load_into(t, file, dir, err);
    if (rc) {
        lr_llm_tokenizer_free(t);
        return rc;
    }
    set_vocab_size(t);
    *out = t;
    return LR_OK;
}

/* ---- tokenizing ------------------------------------------------------------------------------- */

int lr_llm_tokenize(const lr_llm_tokenizer *t, const char *text, size_t len, int32_t **ids,
                    size_t *n, lr_err *err) {
    if (!ids || !n) return lr_err_set(err, LR_EINVAL, "lr_llm_tokenize: ids or n is NULL");
    *ids = NULL;
    *n = 0;
    if (!t || (!text && len)) return lr_err_set(err, LR_EINVAL, "lr_llm_tokenize: NULL argument");
    size_t bad = len ? lr_llm_tok_utf8_check(text, len) : 0;
    if (bad != len)
        return lr_err_set(err, LR_EINVAL, "text is not valid UTF-8 (byte %zu of %zu)", bad, len);
    tok_buf b = {0};
    size_t cnt = 0, cap = 0;
    int rc = lr_llm_tok_buf_put(&b, t->pre, t->npre * sizeof *t->pre) ? LR_ENOMEM : LR_OK;
    if (rc) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    } else if (t->json) {
        rc = lr_llm_tok_json_encode(t->json, text ? text : "", len, &b, err);
    } else {
        int32_t *v = (int32_t *)(void *)b.p;
        cnt = b.n / sizeof *v;
        cap = b.cap / sizeof *v;
        rc = lr_llm_spm_encode(t->spm, text ? text : "", len, &v, &cnt, &cap, err);
        b.p = (char *)v;
        b.n = cnt * sizeof *v;
        b.cap = cap * sizeof *v;
    }
    if (!rc && lr_llm_tok_buf_put(&b, t->post, t->npost * sizeof *t->post))
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    if (rc || b.n == 0) {
        free(b.p);
        return rc;
    }
    *ids = (int32_t *)(void *)b.p;
    *n = b.n / sizeof **ids;
    return LR_OK;
}
