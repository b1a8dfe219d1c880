/* The tokenizer's patterns: a literal string, or a regex written for Oniguruma (what tokenizers
 * compiles them with: Ruby syntax, UTF-8) run through PCRE2 (UTF and UCP: \p{L}, \p{N}, (?i:...)
 * and lookaheads behave the same).
 *
 * Where the two dialects differ, the pattern is rewritten or refused: Oniguruma's \s is the
 * White_Space property, while PCRE2's also takes U+180E, so \s and \S are spelled out as the
 * property's list; Oniguruma's \v is the vertical tab alone (PCRE2: any vertical space); \h is a
 * hex digit in Ruby but horizontal space in PCRE2, and Ruby's (?m) is PCRE2's (?s): both refused
 * rather than guessed. ^ and $ are line anchors in Ruby, hence PCRE2_MULTILINE. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

struct tok_pattern {
    char *lit; /* a literal, or NULL for a regex */
    size_t lit_len;
    pcre2_code *re;
};

#define WS_LIST "\\t\\n\\x0B\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}" \
                "\\x{202F}\\x{205F}\\x{3000}"

/* The escape at re[i] == '\\' rewritten for PCRE2 into b; *i moves past what was read. */
static int translate_escape(const char *re, size_t n, size_t *i, int in_class, tok_buf *b,
                            const char *what, lr_err *err) {
    char c = *i + 1 < n ? re[*i + 1] : '\0';
    *i += 2;
    int rc = LR_OK;
    if (c == 's')
        rc = lr_llm_tok_buf_put(b, in_class ? WS_LIST : "[" WS_LIST "]",
                                strlen(in_class ? WS_LIST : "[" WS_LIST "]"));
    else if (c == 'S' && !in_class)
        rc = lr_llm_tok_buf_put(b, "[^" WS_LIST "]", strlen("[^" WS_LIST "]"));
    else if (c == 'S' || c == 'h' || c == 'H')
        return lr_err_set(err, LR_EUNSUPPORTED,
                          "%s: the regex escape \\%c%s is not supported", what, c,
                          c == 'S' ? " inside a character class" : " (a hex digit in Oniguruma)");
    else if (c == 'v')
        rc = lr_llm_tok_buf_put(b, "\\x0B", 4);
    else if (c == '\0')
        return lr_err_set(err, LR_EFORMAT, "%s: the regex ends with a backslash", what);
    else
        rc = lr_llm_tok_buf_put(b, re + *i - 2, 2);
    return rc == LR_OK ? LR_OK : lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
}

/* A group's inline flags, "(?i:" or "(?im)": m means dotall in Ruby. */
static int check_flags(const char *re, size_t n, size_t i, const char *what, lr_err *err) {
    if (i + 2 >= n || re[i + 1] != '?') return LR_OK;
    for (size_t k = i + 2; k < n && re[k] != ':' && re[k] != ')'; k++) {
        if (re[k] == 'm')
            return lr_err_set(err, LR_EUNSUPPORTED,
                              "%s: the regex flag (?m) (Ruby's dot-matches-newline) is not "
                              "supported", what);
        if (!(re[k] >= 'a' && re[k] <= 'z') && re[k] != '-') break;
    }
    return LR_OK;
}

static int translate(const char *re, size_t n, tok_buf *b, const char *what, lr_err *err) {
    int in_class = 0;
    for (size_t i = 0; i < n;) {
        int rc;
        if (re[i] == '\\') {
            if ((rc = translate_escape(re, n, &i, in_class, b, what, err))) return rc;
            continue;
        }
        if (re[i] == '[' && in_class && !(i + 1 < n && re[i + 1] == ':'))
            return lr_err_set(err, LR_EUNSUPPORTED,
                              "%s: nested character classes in a regex are not supported", what);
        if (re[i] == '&' && in_class && i + 1 < n && re[i + 1] == '&')
            return lr_err_set(err, LR_EUNSUPPORTED,
                              "%s: class intersection && in a regex is not supported", what);
        if (re[i] == '(' && !in_class && (rc = check_flags(re, n, i, what, err))) return rc;
        if (re[i] == '[' && !in_class) {
            in_class = 1; /* a ']' right after '[' or '[^' is a literal */
            size_t k = i + 1;
            if (k < n && re[k] == '^') k++;
            if (k < n && re[k] == ']') k++;
            if (lr_llm_tok_buf_put(b, re + i, k - i))
                return lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
            i = k;
            continue;
        }
        if (re[i] == ']' && in_class) in_class = 0;
        if (re[i] == '[' && in_class) { /* a POSIX class [:alpha:] */
            const char *end = strstr(re + i, ":]");
            size_t k = end ? (size_t)(end - re) + 2 : n;
            if (lr_llm_tok_buf_put(b, re + i, k - i))
                return lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
            i = k;
            continue;
        }
        if (lr_llm_tok_buf_put(b, re + i, 1))
            return lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
        i++;
    }
    return LR_OK;
}

static int compile(const char *re, size_t n, pcre2_code **out, const char *what, lr_err *err) {
    tok_buf b = {0};
    int rc = translate(re, n, &b, what, err);
    if (rc) {
        free(b.p);
        return rc;
    }
    pcre2_compile_context *cc = pcre2_compile_context_create(NULL);
    if (!cc) {
        free(b.p);
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
    }
    pcre2_set_newline(cc, PCRE2_NEWLINE_LF);
    int ecode;
    PCRE2_SIZE eoff;
    *out = pcre2_compile((PCRE2_SPTR)(b.p ? b.p : ""), b.n,
                         PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE | PCRE2_NO_UTF_CHECK, &ecode,
                         &eoff, cc);
    pcre2_compile_context_free(cc);
    free(b.p);
    if (!*out) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(ecode, msg, sizeof msg);
        return lr_err_set(err, ecode == PCRE2_ERROR_NOMEMORY ? LR_ENOMEM : LR_EUNSUPPORTED,
                          "%s: regex not accepted: %s", what, (const char *)msg);
    }
    pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE); /* a speed-up only: without JIT it interprets */
    return LR_OK;
}

int lr_llm_tok_pattern_regex(const char *re, tok_pattern **out, const char *what, lr_err *err) {
    *out = NULL;
    tok_pattern *p = calloc(1, sizeof *p);
    if (!p) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
    int rc = compile(re, strlen(re), &p->re, what, err);
    if (rc) {
        free(p);
        return rc;
    }
    *out = p;
    return LR_OK;
}

int lr_llm_tok_pattern_parse(const json_t *j, tok_pattern **out, const char *what, lr_err *err) {
    *out = NULL;
    json_t *s = json_object_get(j, "String"), *r = json_object_get(j, "Regex");
    if (!json_is_object(j) || json_object_size(j) != 1 || (!json_is_string(s) && !json_is_string(r)))
        return lr_err_set(err, LR_EFORMAT, "%s: pattern must be {\"String\": ...} or "
                          "{\"Regex\": ...}", what);
    if (r) return lr_llm_tok_pattern_regex(json_string_value(r), out, what, err);
    tok_pattern *p = calloc(1, sizeof *p);
    size_t n = json_string_length(s);
    if (p) p->lit = malloc(n + 1);
    if (!p || !p->lit) {
        free(p);
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory", what);
    }
    memcpy(p->lit, json_string_value(s), n + 1);
    p->lit_len = n;
    *out = p;
    return LR_OK;
}

void lr_llm_tok_pattern_free(tok_pattern *p) {
    if (!p) return;
    free(p->lit);
    pcre2_code_free(p->re);
    free(p);
}

static int find_literal(const tok_pattern *p, const char *s, size_t len, tok_ranges *out) {
    if (p->lit_len == 0) return LR_OK; /* tokenizers: an empty string pattern never matches */
    for (size_t i = 0; i + p->lit_len <= len;) {
        const char *hit = memchr(s + i, p->lit[0], len - i - p->lit_len + 1);
        if (!hit) break;
        size_t at = (size_t)(hit - s);
        if (memcmp(hit, p->lit, p->lit_len) != 0) {
            i = at + 1;
            continue;
        }
        if (lr_llm_tok_ranges_push(out, at, at + p->lit_len)) return LR_ENOMEM;
        i = at + p->lit_len;
    }
    return LR_OK;
}

/* Oniguruma's find_iter (the onig crate): an empty match right where the previous match ended
 * is skipped by moving one character on; every other match is taken. */
static int find_regex(const tok_pattern *p, const char *s, size_t len, tok_ranges *out,
                      lr_err *err) {
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return lr_err_set(err, LR_ENOMEM, "regex: out of memory");
    size_t at = 0, last_end = SIZE_MAX;
    int rc = LR_OK;
    while (at <= len) {
        int m = pcre2_match(p->re, (PCRE2_SPTR)s, len, at, PCRE2_NO_UTF_CHECK, md, NULL);
        if (m == PCRE2_ERROR_NOMATCH) break;
        if (m < 0) {
            PCRE2_UCHAR msg[120];
            pcre2_get_error_message(m, msg, sizeof msg);
            rc = lr_err_set(err, m == PCRE2_ERROR_NOMEMORY ? LR_ENOMEM : LR_EUNSUPPORTED,
                            "regex match failed: %s", (const char *)msg);
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if (ms == me && me == last_end) {
            if (at >= len) break;
            at = lr_llm_tok_utf8_next(s, len, at);
            continue;
        }
        if (lr_llm_tok_ranges_push(out, ms, me)) {
            rc = lr_err_set(err, LR_ENOMEM, "regex: out of memory");
            break;
        }
        at = last_end = me;
    }
    pcre2_match_data_free(md);
    return rc;
}

int lr_llm_tok_pattern_find(const tok_pattern *p, const char *s, size_t len, tok_ranges *out,
                            lr_err *err) {
    out->n = 0;
    if (p->lit) {
        if (find_literal(p, s, len, out)) return lr_err_set(err, LR_ENOMEM, "out of memory");
        return LR_OK;
    }
    return find_regex(p, s, len, out, err);
}
