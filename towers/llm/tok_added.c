/* tokenizer.json's added_tokens (special or not), matched in the text before the rest of the
 * pipeline as tokenizers' AddedVocabulary does: leftmost-longest, non-overlapping, first those
 * with normalized false in the raw text, then those with normalized true in each normalized
 * piece; lstrip and rstrip take the whitespace beside a match into it. single_word is refused.
 *
 * Matching indexes the tokens by first byte, longest first, and tries them at each position: a
 * text costs its length times the tokens sharing a first byte (typically '<', rare in text),
 * which for a few hundred special tokens stays below an Aho-Corasick automaton's set-up cost. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

typedef struct {
    char *content; /* as written */
    char *match;   /* what is searched: content, or content normalized when normalized is true */
    size_t content_len, match_len;
    int32_t id;
    int lstrip, rstrip, normalized;
} added_token;

struct tok_added {
    added_token *v;
    size_t n;
    int32_t *order[2];   /* per pass (0 raw, 1 normalized): token indexes by first byte */
    size_t start[2][257]; /* order[p][start[p][b] .. start[p][b + 1]) begin with byte b */
    int32_t max_id;
};

void lr_llm_tok_added_free(tok_added *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) {
        if (t->v[i].match != t->v[i].content) free(t->v[i].match);
        free(t->v[i].content);
    }
    free(t->v);
    free(t->order[0]);
    free(t->order[1]);
    free(t);
}

int32_t lr_llm_tok_added_max_id(const tok_added *t) { return t ? t->max_id : -1; }

int32_t lr_llm_tok_added_id(const tok_added *t, const char *content) {
    for (size_t i = 0; t && i < t->n; i++)
        if (t->v[i].content_len == strlen(content) && strcmp(t->v[i].content, content) == 0)
            return t->v[i].id;
    return -1;
}

/* By first byte, then longest first, then the earlier token (qsort has no context argument,
 * and a static one would be global state): an insertion sort, run once per load. */
static void sort_indexes(const tok_added *t, int32_t *ix, size_t n) {
    for (size_t i = 1; i < n; i++) {
        int32_t x = ix[i];
        size_t j = i;
        while (j > 0) {
            const added_token *a = &t->v[x], *b = &t->v[ix[j - 1]];
            unsigned char ca = (unsigned char)a->match[0], cb = (unsigned char)b->match[0];
            int before = ca != cb ? ca < cb
                         : a->match_len != b->match_len ? a->match_len > b->match_len
                                                        : x < ix[j - 1];
            if (!before) break;
            ix[j] = ix[j - 1];
            j--;
        }
        ix[j] = x;
    }
}

static int build_index(tok_added *t) {
    for (int p = 0; p < 2; p++) {
        t->order[p] = malloc((t->n + 1) * sizeof *t->order[p]);
        if (!t->order[p]) return LR_ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < t->n; i++)
            if (t->v[i].normalized == p && t->v[i].match_len > 0) t->order[p][k++] = (int32_t)i;
        sort_indexes(t, t->order[p], k);
        size_t at = 0;
        for (int b = 0; b <= 256; b++) {
            while (at < k && (unsigned char)t->v[t->order[p][at]].match[0] < b) at++;
            t->start[p][b] = b == 256 ? k : at;
        }
    }
    return LR_OK;
}

static int parse_token(const json_t *j, const tok_normalizer *norm, added_token *a, lr_err *err) {
    static const char *const keys[] = {"id", "content", "single_word", "lstrip", "rstrip",
                                       "normalized", "special", NULL};
    const char *what = "added_tokens";
    json_t *content = json_object_get(j, "content"), *id = json_object_get(j, "id");
    if (!json_is_string(content) || !json_is_integer(id) || json_integer_value(id) < 0 ||
        json_integer_value(id) > INT32_MAX || json_string_length(content) == 0)
        return lr_err_set(err, LR_EFORMAT, "added_tokens: each needs an id and a non-empty "
                          "content");
    int rc = lr_llm_tok_json_keys(j, keys, what, err), single;
    if (rc || (rc = lr_llm_tok_json_bool(j, "single_word", 0, &single, what, err)) ||
        (rc = lr_llm_tok_json_bool(j, "lstrip", 0, &a->lstrip, what, err)) ||
        (rc = lr_llm_tok_json_bool(j, "rstrip", 0, &a->rstrip, what, err)) ||
        (rc = lr_llm_tok_json_bool(j, "normalized", 1, &a->normalized, what, err)))
        return rc;
    if (single)
        return lr_err_set(err, LR_EUNSUPPORTED, "added_tokens: \"%s\": single_word true is not "
                          "supported", json_string_value(content));
    a->id = (int32_t)json_integer_value(id);
    a->content_len = json_string_length(content);
    a->content = malloc(a->content_len + 1);
    if (!a->content) return lr_err_set(err, LR_ENOMEM, "added_tokens: out of memory");
    memcpy(a->content, json_string_value(content), a->content_len + 1);
    a->match = a->content;
    a->match_len = a->content_len;
    if (!a->normalized || !norm) return LR_OK;
    tok_arena arena = {0}; /* the normalizer's output lives in an arena: copy it out */
    const char *o;
    size_t on;
    rc = lr_llm_tok_normalize(norm, &arena, a->content, a->content_len, &o, &on, err);
    if (!rc && !(a->match = malloc(on + 1))) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    if (!rc) {
        memcpy(a->match, o, on);
        a->match[on] = '\0';
        a->match_len = on;
    } else {
        a->match = a->content;
    }
    lr_llm_tok_arena_free(&arena);
    return rc;
}

int lr_llm_tok_added_parse(const json_t *j, const tok_normalizer *norm, tok_added **out,
                           lr_err *err) {
    *out = NULL;
    if (!j || json_is_null(j)) return LR_OK;
    if (!json_is_array(j)) return lr_err_set(err, LR_EFORMAT, "\"added_tokens\" must be a list");
    tok_added *t = calloc(1, sizeof *t);
    if (t) t->v = calloc(json_array_size(j) + 1, sizeof *t->v);
    if (!t || !t->v) {
        free(t);
        return lr_err_set(err, LR_ENOMEM, "added_tokens: out of memory");
    }
    t->max_id = -1;
    int rc = LR_OK;
    for (size_t i = 0; i < json_array_size(j) && rc == LR_OK; i++) {
        rc = parse_token(json_array_get(j, i), norm, &t->v[i], err);
        if (t->v[i].content) t->n++;
        if (t->v[i].id > t->max_id) t->max_id = t->v[i].id;
    }
    if (!rc && build_index(t)) rc = lr_err_set(err, LR_ENOMEM, "added_tokens: out of memory");
    if (rc) {
        lr_llm_tok_added_free(t);
        return rc;
    }
    *out = t;
    return LR_OK;
}

/* ---- splitting -------------------------------------------------------------------------------- */

/* The longest token of pass p matching at s[i], or -1. */
static int32_t match_at(const tok_added *t, int p, const char *s, size_t len, size_t i) {
    unsigned char c = (unsigned char)s[i];
    for (size_t k = t->start[p][c]; k < t->start[p][c + 1]; k++) {
        const added_token *a = &t->v[t->order[p][k]];
        if (a->match_len <= len - i && memcmp(s + i, a->match, a->match_len) == 0)
            return t->order[p][k];
    }
    return -1;
}

static size_t strip_left(const char *s, size_t start) {
    while (start > 0) {
        size_t p = start - 1;
        while (p > 0 && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        if (!lr_llm_tok_is_white_space((uint32_t)lr_llm_tok_utf8_decode(s, start, p))) break;
        start = p;
    }
    return start;
}

static size_t strip_right(const char *s, size_t len, size_t stop) {
    while (stop < len && lr_llm_tok_is_white_space((uint32_t)lr_llm_tok_utf8_decode(s, len, stop)))
        stop = lr_llm_tok_utf8_next(s, len, stop);
    return stop;
}

int lr_llm_tok_added_split(const tok_added *t, int p, const char *s, size_t len, int origin,
                           tok_splits *l) {
    size_t done = 0; /* tokenizers' start_offset */
    for (size_t i = 0; t && i < len;) {
        int32_t k = match_at(t, p, s, len, i);
        if (k < 0) {
            i++;
            continue;
        }
        size_t start = i, stop = i + t->v[k].match_len;
        i = stop; /* the search resumes after the match itself, whatever rstrip takes */
        if (t->v[k].lstrip) {
            size_t ns = strip_left(s, start);
            start = ns > done ? ns : done;
        }
        if (t->v[k].rstrip) stop = strip_right(s, len, stop);
        if (done < start && lr_llm_tok_splits_push(l, s + done, start - done, -1, origin && done == 0))
            return LR_ENOMEM;
        if (lr_llm_tok_splits_push(l, s + start, stop - start, t->v[k].id, 0)) return LR_ENOMEM;
        done = stop;
    }
    if (done < len && lr_llm_tok_splits_push(l, s + done, len - done, -1, origin && done == 0))
        return LR_ENOMEM;
    return LR_OK;
}
