/* A whole tokenizer.json: its sections parsed into the pipeline's stages, anything this library
 * does not implement refused by name, and the pipeline run on one text (tokenizers'
 * Tokenizer::encode of a single sequence with add_special_tokens). */
#include <stdlib.h>
#include <string.h>

#include "json_oom.h"
#include "tok_internal.h"

struct tok_json {
    tok_normalizer *norm;
    tok_pretok *pretok;
    tok_bpe *bpe;
    tok_added *added;
    int32_t *pre, *post; /* the post-processor's ids around the sequence */
    size_t npre, npost;
};

void lr_llm_tok_json_free(tok_json *t) {
    if (!t) return;
    lr_llm_tok_normalizer_free(t->norm);
    lr_llm_tok_pretok_free(t->pretok);
    lr_llm_tok_bpe_free(t->bpe);
    lr_llm_tok_added_free(t->added);
    free(t->pre);
    free(t->post);
    free(t);
}

/* ---- post-processors -------------------------------------------------------------------------- */

/* Adds k ids at the front or the back of *v. */
static int add_ids(int32_t **v, size_t *n, const int32_t *src, size_t k, int front) {
    int32_t *p = realloc(*v, (*n + k + 1) * sizeof *p);
    if (!p) return LR_ENOMEM;
    *v = p;
    if (front) memmove(p + k, p, *n * sizeof *p);
    if (k) memcpy(p + (front ? 0 : *n), src, k * sizeof *p);
    *n += k;
    return LR_OK;
}

/* The ids of one {"SpecialToken": {"id": name}} of a template, from its special_tokens table,
 * appended to *v. */
static int special_ids(const json_t *piece, const json_t *table, int32_t **v, size_t *n,
                       lr_err *err) {
    const char *what = "post-processor TemplateProcessing";
    const char *name = json_string_value(json_object_get(json_object_get(piece, "SpecialToken"), "id"));
    const json_t *ids = json_object_get(json_object_get(table, name ? name : ""), "ids");
    if (!name || !json_is_array(ids))
        return lr_err_set(err, LR_EFORMAT, "%s: special token \"%s\" has no ids in "
                          "special_tokens", what, name ? name : "(unnamed)");
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *x = json_array_get(ids, i);
        if (!json_is_integer(x) || json_integer_value(x) < 0 || json_integer_value(x) > INT32_MAX)
            return lr_err_set(err, LR_EFORMAT, "%s: special token \"%s\" has an invalid id",
                              what, name);
        int32_t id = (int32_t)json_integer_value(x);
        if (add_ids(v, n, &id, 1, 0)) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
    }
    return LR_OK;
}

/* A template wraps what earlier processors made: its ids go outside theirs. Only the single
 * template matters (one sequence at a time), and only sequence A in it. */
static int parse_template(const json_t *j, tok_json *t, lr_err *err) {
    static const char *const keys[] = {"type", "single", "pair", "special_tokens", NULL};
    const char *what = "post-processor TemplateProcessing";
    int rc = lr_llm_tok_json_keys(j, keys, what, err);
    if (rc) return rc;
    const json_t *single = json_object_get(j, "single"), *table = json_object_get(j, "special_tokens");
    int32_t *pre = NULL, *post = NULL;
    size_t npre = 0, npost = 0, seen_a = 0;
    for (size_t i = 0; !rc && i < json_array_size(single); i++) {
        json_t *piece = json_array_get(single, i), *seq = json_object_get(piece, "Sequence");
        const char *sid = json_string_value(json_object_get(seq, "id"));
        if (seq && sid && strcmp(sid, "A") == 0 && !seen_a) seen_a = 1;
        else if (seq)
            rc = lr_err_set(err, LR_EUNSUPPORTED, "%s: a single template with sequence \"%s\" "
                            "is not supported (only one A)", what, sid ? sid : "?");
        else
            rc = seen_a ? special_ids(piece, table, &post, &npost, err)
                        : special_ids(piece, table, &pre, &npre, err);
    }
    if (!rc && (!json_is_array(single) || !seen_a))
        rc = lr_err_set(err, LR_EFORMAT, "%s: \"single\" must be a list holding sequence A", what);
    if (!rc && (add_ids(&t->pre, &t->npre, pre, npre, 1) ||
                add_ids(&t->post, &t->npost, post, npost, 0)))
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
    free(pre);
    free(post);
    return rc;
}

static int parse_post(const json_t *j, tok_json *t, lr_err *err) {
    static const char *const bytelevel[] = {"type", "add_prefix_space", "trim_offsets",
                                            "use_regex", NULL};
    static const char *const seq[] = {"type", "processors", NULL};
    if (!j || json_is_null(j)) return LR_OK;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) return lr_err_set(err, LR_EFORMAT, "post-processor: missing \"type\"");
    if (strcmp(type, "ByteLevel") == 0) /* changes offsets only, never ids */
        return lr_llm_tok_json_keys(j, bytelevel, "post-processor ByteLevel", err);
    if (strcmp(type, "TemplateProcessing") == 0) return parse_template(j, t, err);
    if (strcmp(type, "Sequence") == 0) {
        int rc = lr_llm_tok_json_keys(j, seq, "post-processor Sequence", err);
        const json_t *list = json_object_get(j, "processors");
        if (!rc && !json_is_array(list))
            return lr_err_set(err, LR_EFORMAT, "post-processor Sequence: \"processors\" must be "
                              "a list");
        for (size_t i = 0; !rc && i < json_array_size(list); i++)
            rc = parse_post(json_array_get(list, i), t, err);
        return rc;
    }
    return lr_err_set(err, LR_EUNSUPPORTED, "post-processor \"%s\" is not supported", type);
}

/* ---- the file --------------------------------------------------------------------------------- */

static int parse_model(const json_t *m, tok_json *t, lr_err *err) {
    if (!json_is_object(m)) return lr_err_set(err, LR_EFORMAT, "\"model\" must be an object");
    const char *type = json_string_value(json_object_get(m, "type"));
    if (!type && json_object_get(m, "merges")) type = "BPE"; /* older files leave it implied */
    if (!type || strcmp(type, "BPE") != 0)
        return lr_err_set(err, LR_EUNSUPPORTED, "model \"%s\" is not supported (only BPE)",
                          type ? type : "(no type)");
    return lr_llm_tok_bpe_parse(m, &t->bpe, err);
}

static int parse_all(const json_t *root, tok_json *t, lr_err *err) {
    static const char *const keys[] = {"version", "truncation", "padding", "added_tokens",
                                       "normalizer", "pre_tokenizer", "model", "post_processor",
                                       "decoder", NULL};
    int rc = lr_llm_tok_json_keys(root, keys, "tokenizer", err);
    if (rc) return rc;
    const char *cut[] = {"truncation", "padding"};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(root, cut[i]);
        if (v && !json_is_null(v))
            return lr_err_set(err, LR_EUNSUPPORTED, "\"%s\" must be null (it would change the "
                              "ids; cut them in the caller)", cut[i]);
    }
    json_t *dec = json_object_get(root, "decoder"); /* never used: we do not decode */
    if (dec && !json_is_null(dec) && !json_is_string(json_object_get(dec, "type")))
        return lr_err_set(err, LR_EFORMAT, "\"decoder\" must be null or have a \"type\"");
    json_t *v;
    if ((rc = lr_llm_tok_normalizer_parse((v = json_object_get(root, "normalizer")) ? v : json_null(), &t->norm, err)) ||
        (rc = lr_llm_tok_pretok_parse((v = json_object_get(root, "pre_tokenizer")) ? v : json_null(), &t->pretok, err)) ||
        (rc = parse_model(json_object_get(root, "model"), t, err)) ||
        (rc = lr_llm_tok_added_parse(json_object_get(root, "added_tokens"), t->norm, &t->added, err)))
        return rc;
    return parse_post(json_object_get(root, "post_processor"), t, err);
}

int lr_llm_tok_json_load(const char *path, tok_json **out, lr_err *err) {
    *out = NULL;
    json_error_t je;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &je);
    if (!root) {
        if (llm_json_oom(&je))
            return lr_err_set(err, LR_ENOMEM, "%s: out of memory reading it", path);
        int code = je.position == 0 && je.line <= 0 ? LR_EIO : LR_EFORMAT;
        return lr_err_set(err, code, "%s:%d: %s", path, je.line, je.text);
    }
    tok_json *t = calloc(1, sizeof *t);
    int rc = t ? parse_all(root, t, err) : lr_err_set(err, LR_ENOMEM, "out of memory");
    json_decref(root);
    if (rc) {
        lr_llm_tok_json_free(t);
        return lr_err_prefix(err, "%s: ", path);
    }
    *out = t;
    return LR_OK;
}

int32_t lr_llm_tok_json_max_id(const tok_json *t) {
    int32_t m = lr_llm_tok_bpe_max_id(t->bpe), a = lr_llm_tok_added_max_id(t->added);
    if (a > m) m = a;
    for (size_t i = 0; i < t->npre; i++) m = t->pre[i] > m ? t->pre[i] : m;
    for (size_t i = 0; i < t->npost; i++) m = t->post[i] > m ? t->post[i] : m;
    return m;
}

int32_t lr_llm_tok_json_token_id(const tok_json *t, const char *token) {
    int32_t id = lr_llm_tok_added_id(t->added, token);
    return id >= 0 ? id : lr_llm_tok_bpe_id(t->bpe, token, strlen(token));
}

void lr_llm_tok_json_template(const tok_json *t, const int32_t **pre, size_t *npre,
                              const int32_t **post, size_t *npost) {
    *pre = t->pre;
    *npre = t->npre;
    *post = t->post;
    *npost = t->npost;
}

/* ---- encoding --------------------------------------------------------------------------------- */

/* Added tokens in the raw text, then each remaining piece normalized and searched for the
 * normalized added tokens (tokenizers' AddedVocabulary::extract_and_normalize). */
static int extract_and_normalize(const tok_json *t, tok_arena *a, const char *text, size_t len,
                                 tok_splits *out, lr_err *err) {
    tok_splits raw = {0};
    int rc = lr_llm_tok_added_split(t->added, 0, text, len, 1, &raw);
    for (size_t i = 0; rc == LR_OK && i < raw.n; i++) {
        const tok_split *sp = &raw.v[i];
        if (sp->id >= 0) {
            rc = lr_llm_tok_splits_push(out, sp->s, sp->len, sp->id, 0);
            continue;
        }
        const char *o;
        size_t on;
        if ((rc = lr_llm_tok_normalize(t->norm, a, sp->s, sp->len, &o, &on, err))) break;
        rc = lr_llm_tok_added_split(t->added, 1, o, on, sp->at_origin, out);
    }
    free(raw.v);
    if (rc == LR_ENOMEM) return lr_err_set(err, rc, "tokenizer: out of memory");
    return rc;
}

int lr_llm_tok_json_encode(const tok_json *t, const char *text, size_t len, tok_buf *ids,
                           lr_err *err) {
    tok_arena a = {0};
    tok_splits l = {0};
    int rc = extract_and_normalize(t, &a, text, len, &l, err);
    if (!rc) rc = lr_llm_tok_pretokenize(t->pretok, &a, &l, err);
    for (size_t i = 0; rc == LR_OK && i < l.n; i++) {
        if (l.v[i].id >= 0) {
            if (lr_llm_tok_buf_put(ids, &l.v[i].id, sizeof l.v[i].id))
                rc = lr_err_set(err, LR_ENOMEM, "tokenizer: out of memory");
        } else {
            rc = lr_llm_tok_bpe_encode(t->bpe, l.v[i].s, l.v[i].len, ids, err);
        }
    }
    free(l.v);
    lr_llm_tok_arena_free(&a);
    return rc;
}
