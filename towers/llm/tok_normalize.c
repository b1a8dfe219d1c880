/* tokenizer.json normalizers: NFC, NFD, NFKC, NFKD (Debian's libutf8proc), Lowercase, Strip,
 * Prepend, Replace and Sequence; any other type is refused by name. Each works on one split of
 * text (tokenizers normalizes the pieces between added tokens one by one). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

enum { N_SEQ, N_UNICODE, N_LOWER, N_STRIP, N_PREPEND, N_REPLACE };

struct tok_normalizer {
    int kind;
    int uflags;          /* N_UNICODE: utf8proc options */
    int left, right;     /* N_STRIP */
    char *str;           /* N_PREPEND: the prefix; N_REPLACE: the content */
    size_t str_len;
    tok_pattern *pat;    /* N_REPLACE */
    tok_normalizer **kids; /* N_SEQ */
    size_t nkids;
};

void lr_llm_tok_normalizer_free(tok_normalizer *n) {
    if (!n) return;
    for (size_t i = 0; i < n->nkids; i++) lr_llm_tok_normalizer_free(n->kids[i]);
    free(n->kids);
    free(n->str);
    lr_llm_tok_pattern_free(n->pat);
    free(n);
}

static int take_string(const json_t *j, const char *key, tok_normalizer *n, const char *what,
                       lr_err *err) {
    json_t *v = json_object_get(j, key);
    if (!json_is_string(v))
        return lr_err_set(err, LR_EFORMAT, "normalizer %s: \"%s\" must be a string", what, key);
    n->str_len = json_string_length(v);
    n->str = malloc(n->str_len + 1);
    if (!n->str) return lr_err_set(err, LR_ENOMEM, "normalizer %s: out of memory", what);
    memcpy(n->str, json_string_value(v), n->str_len + 1);
    return LR_OK;
}

static int parse_seq(const json_t *j, tok_normalizer *n, lr_err *err) {
    static const char *const keys[] = {"type", "normalizers", NULL};
    int rc = lr_llm_tok_json_keys(j, keys, "normalizer Sequence", err);
    if (rc) return rc;
    json_t *arr = json_object_get(j, "normalizers");
    if (!json_is_array(arr))
        return lr_err_set(err, LR_EFORMAT, "normalizer Sequence: \"normalizers\" must be a list");
    n->kids = calloc(json_array_size(arr) + 1, sizeof *n->kids);
    if (!n->kids) return lr_err_set(err, LR_ENOMEM, "normalizer Sequence: out of memory");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if ((rc = lr_llm_tok_normalizer_parse(json_array_get(arr, i), &n->kids[i], err)))
            return rc;
        n->nkids++;
    }
    return LR_OK;
}

static int parse_unicode(const char *type, tok_normalizer *n) {
    static const struct { const char *name; int flags; } forms[] = {
        {"NFC", UTF8PROC_STABLE | UTF8PROC_COMPOSE},
        {"NFD", UTF8PROC_STABLE | UTF8PROC_DECOMPOSE},
        {"NFKC", UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT},
        {"NFKD", UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT},
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
        if (strcmp(type, forms[i].name) == 0) {
            n->kind = N_UNICODE;
            n->uflags = forms[i].flags;
            return 1;
        }
    return 0;
}

static int parse_kind(const json_t *j, const char *type, tok_normalizer *n, lr_err *err) {
    static const char *const only_type[] = {"type", NULL};
    static const char *const strip[] = {"type", "strip_left", "strip_right", NULL};
    static const char *const prepend[] = {"type", "prepend", NULL};
    static const char *const replace[] = {"type", "pattern", "content", NULL};
    int rc;
    if (strcmp(type, "Sequence") == 0) return n->kind = N_SEQ, parse_seq(j, n, err);
    if (parse_unicode(type, n)) return lr_llm_tok_json_keys(j, only_type, type, err);
    if (strcmp(type, "Lowercase") == 0)
        return n->kind = N_LOWER, lr_llm_tok_json_keys(j, only_type, type, err);
    if (strcmp(type, "Strip") == 0) {
        n->kind = N_STRIP;
        if ((rc = lr_llm_tok_json_keys(j, strip, "normalizer Strip", err))) return rc;
        if ((rc = lr_llm_tok_json_bool(j, "strip_left", 0, &n->left, "normalizer Strip", err)))
            return rc;
        return lr_llm_tok_json_bool(j, "strip_right", 0, &n->right, "normalizer Strip", err);
    }
    if (strcmp(type, "Prepend") == 0) {
        n->kind = N_PREPEND;
        if ((rc = lr_llm_tok_json_keys(j, prepend, "normalizer Prepend", err))) return rc;
        return take_string(j, "prepend", n, "Prepend", err);
    }
    if (strcmp(type, "Replace") == 0) {
        n->kind = N_REPLACE;
        if ((rc = lr_llm_tok_json_keys(j, replace, "normalizer Replace", err))) return rc;
        if ((rc = take_string(j, "content", n, "Replace", err))) return rc;
        return lr_llm_tok_pattern_parse(json_object_get(j, "pattern"), &n->pat,
                                        "normalizer Replace", err);
    }
    return lr_err_set(err, LR_EUNSUPPORTED, "normalizer \"%s\" is not supported", type);
}

int lr_llm_tok_normalizer_parse(const json_t *j, tok_normalizer **out, lr_err *err) {
    *out = NULL;
    if (json_is_null(j)) return LR_OK;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) return lr_err_set(err, LR_EFORMAT, "normalizer: missing \"type\"");
    tok_normalizer *n = calloc(1, sizeof *n);
    if (!n) return lr_err_set(err, LR_ENOMEM, "normalizer: out of memory");
    int rc = parse_kind(j, type, n, err);
    if (rc) {
        lr_llm_tok_normalizer_free(n);
        return rc;
    }
    *out = n;
    return LR_OK;
}

/* ---- applying --------------------------------------------------------------------------------- */

static char *arena_copy(tok_arena *a, const void *p, size_t n) {
    char *d = lr_llm_tok_alloc(a, n + 1);
    if (d) {
        if (n) memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

static int apply_unicode(int flags, tok_arena *a, const char *s, size_t len, const char **o,
                         size_t *on) {
    size_t i = 0;
    while (i < len && (unsigned char)s[i] < 0x80) i++;
    if (i == len) { /* ASCII is the same in every normalization form */
        *o = s;
        *on = len;
        return LR_OK;
    }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &dst,
                                      (utf8proc_option_t)flags);
    if (n < 0) return n == UTF8PROC_ERROR_NOMEM ? LR_ENOMEM : LR_EINVAL;
    *o = arena_copy(a, dst, (size_t)n);
    *on = (size_t)n;
    free(dst);
    return *o ? LR_OK : LR_ENOMEM;
}

/* Rust's char::to_lowercase: utf8proc's simple mapping, plus U+0130's two-character one (the
 * only unconditional multi-character lowercase in SpecialCasing.txt). */
static int apply_lower(tok_arena *a, const char *s, size_t len, const char **o, size_t *on) {
    char *d = lr_llm_tok_alloc(a, len * 3 / 2 + 4);
    if (!d) return LR_ENOMEM;
    size_t k = 0;
    for (size_t i = 0; i < len; i = lr_llm_tok_utf8_next(s, len, i)) {
        int32_t cp = lr_llm_tok_utf8_decode(s, len, i);
        if (cp == 0x130) {
            memcpy(d + k, "i\xCC\x87", 3);
            k += 3;
            continue;
        }
        k += lr_llm_tok_utf8_encode((uint32_t)utf8proc_tolower(cp), d + k);
    }
    *o = d;
    *on = k;
    return LR_OK;
}

static int apply_strip(const tok_normalizer *n, const char *s, size_t len, const char **o,
                       size_t *on) {
    size_t b = 0, e = len;
    while (n->left && b < e && lr_llm_tok_is_white_space((uint32_t)lr_llm_tok_utf8_decode(s, len, b)))
        b = lr_llm_tok_utf8_next(s, len, b);
    while (n->right && e > b) {
        size_t p = e - 1;
        while (p > b && ((unsigned char)s[p] & 0xC0) == 0x80) p--;
        if (!lr_llm_tok_is_white_space((uint32_t)lr_llm_tok_utf8_decode(s, len, p))) break;
        e = p;
    }
    *o = s + b;
    *on = e - b;
    return LR_OK;
}

static int apply_replace(const tok_normalizer *n, tok_arena *a, const char *s, size_t len,
                         const char **o, size_t *on, lr_err *err) {
    tok_ranges m = {0};
    int rc = lr_llm_tok_pattern_find(n->pat, s, len, &m, err);
    if (rc || m.n == 0) {
        free(m.v);
        *o = s;
        *on = len;
        return rc;
    }
    /* Replaces chained in a Sequence multiply a text's length (a space made into thirty spaces,
     * four times over, is 810,000 of them): a tokenizer.json must not be able to ask for
     * unbounded memory, so a normalized text is held to LR_LLM_MAX_NORMALIZED bytes. */
    if (n->str_len && m.n > (LR_LLM_MAX_NORMALIZED - len) / n->str_len) {
        free(m.v);
        return lr_err_set(err, LR_ERANGE, "normalizer Replace: the text would grow past %d MiB "
                          "(%zu replacements of %zu bytes): the tokenizer's normalizers multiply it",
                          LR_LLM_MAX_NORMALIZED >> 20, m.n, n->str_len);
    }
    size_t cap = len + m.n * n->str_len, k = 0, at = 0;
    char *d = lr_llm_tok_alloc(a, cap + 1);
    if (!d) rc = lr_err_set(err, LR_ENOMEM, "normalizer Replace: out of memory");
    for (size_t i = 0; d && i < m.n; i++) {
        memcpy(d + k, s + at, m.v[i][0] - at);
        k += m.v[i][0] - at;
        memcpy(d + k, n->str, n->str_len);
        k += n->str_len;
        at = m.v[i][1];
    }
    if (d) {
        memcpy(d + k, s + at, len - at);
        *o = d;
        *on = k + len - at;
    }
    free(m.v);
    return rc;
}

int lr_llm_tok_normalize(const tok_normalizer *n, tok_arena *a, const char *s, size_t len,
                         const char **o, size_t *on, lr_err *err) {
    *o = s;
    *on = len;
    if (!n) return LR_OK;
    int rc = LR_OK;
    switch (n->kind) {
    case N_SEQ:
        for (size_t i = 0; i < n->nkids && rc == LR_OK; i++)
            rc = lr_llm_tok_normalize(n->kids[i], a, *o, *on, o, on, err);
        return rc;
    case N_UNICODE: rc = apply_unicode(n->uflags, a, s, len, o, on); break;
    case N_LOWER: rc = apply_lower(a, s, len, o, on); break;
    case N_STRIP: rc = apply_strip(n, s, len, o, on); break;
    case N_PREPEND:
        if (len == 0) return LR_OK; /* tokenizers prepends only to non-empty text */
        {
            if (len > LR_LLM_MAX_NORMALIZED - n->str_len)
                return lr_err_set(err, LR_ERANGE, "normalizer Prepend: the text would grow past %d MiB",
                                  LR_LLM_MAX_NORMALIZED >> 20);
            char *d = lr_llm_tok_alloc(a, n->str_len + len + 1);
            if (!d) return lr_err_set(err, LR_ENOMEM, "normalizer Prepend: out of memory");
            memcpy(d, n->str, n->str_len);
            memcpy(d + n->str_len, s, len);
            *o = d;
            *on = n->str_len + len;
        }
        return LR_OK;
    case N_REPLACE: return apply_replace(n, a, s, len, o, on, err);
    }
    if (rc == LR_ENOMEM) return lr_err_set(err, rc, "normalizer: out of memory");
    if (rc) return lr_err_set(err, rc, "normalizer: utf8proc refused the text");
    return LR_OK;
}
