/* tokenizer.json pre-tokenizers: Split, ByteLevel, Metaspace, Digits and Sequence; any other type
 * is refused by name. Each one cuts every text split into smaller ones exactly as tokenizers'
 * PreTokenizedString::split does: the pattern's matches, then the delimiter behaviour, then empty
 * pieces dropped. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tok_internal.h"

enum { P_SEQ, P_SPLIT, P_BYTELEVEL, P_METASPACE, P_DIGITS };
enum { B_REMOVED, B_ISOLATED, B_PREVIOUS, B_NEXT, B_CONTIGUOUS };
enum { PREPEND_NEVER, PREPEND_FIRST, PREPEND_ALWAYS };

/* GPT-2's pre-tokenizer regex, which ByteLevel with use_regex applies. */
static const char gpt2_regex[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

struct tok_pretok {
    int kind;
    tok_pattern *pat;           /* P_SPLIT, P_BYTELEVEL with use_regex */
    int behavior, invert;       /* P_SPLIT; Digits and Metaspace set their own */
    int add_prefix_space;       /* P_BYTELEVEL */
    char bytemap[256][2];       /* P_BYTELEVEL: GPT-2's bytes_to_unicode, UTF-8, 2 bytes each */
    unsigned char bytemap_len[256];
    char repl[4];               /* P_METASPACE: the replacement character */
    size_t repl_len;
    int prepend, split;         /* P_METASPACE */
    int individual;             /* P_DIGITS */
    tok_pretok **kids;          /* P_SEQ */
    size_t nkids;
};

void lr_llm_tok_pretok_free(tok_pretok *p) {
    if (!p) return;
    for (size_t i = 0; i < p->nkids; i++) lr_llm_tok_pretok_free(p->kids[i]);
    free(p->kids);
    lr_llm_tok_pattern_free(p->pat);
    free(p);
}

/* ---- parsing ---------------------------------------------------------------------------------- */

static int parse_seq(const json_t *j, tok_pretok *p, lr_err *err) {
    static const char *const keys[] = {"type", "pretokenizers", NULL};
    int rc = lr_llm_tok_json_keys(j, keys, "pre-tokenizer Sequence", err);
    if (rc) return rc;
    json_t *arr = json_object_get(j, "pretokenizers");
    if (!json_is_array(arr))
        return lr_err_set(err, LR_EFORMAT,
                          "pre-tokenizer Sequence: \"pretokenizers\" must be a list");
    p->kids = calloc(json_array_size(arr) + 1, sizeof *p->kids);
    if (!p->kids) return lr_err_set(err, LR_ENOMEM, "pre-tokenizer Sequence: out of memory");
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if ((rc = lr_llm_tok_pretok_parse(json_array_get(arr, i), &p->kids[i], err))) return rc;
        p->nkids++;
    }
    return LR_OK;
}

static int parse_split(const json_t *j, tok_pretok *p, lr_err *err) {
    static const char *const keys[] = {"type", "pattern", "behavior", "invert", NULL};
    static const char *const names[] = {"Removed", "Isolated", "MergedWithPrevious",
                                        "MergedWithNext", "Contiguous"};
    int rc = lr_llm_tok_json_keys(j, keys, "pre-tokenizer Split", err);
    if (rc) return rc;
    const char *b = json_string_value(json_object_get(j, "behavior"));
    p->behavior = -1;
    for (int i = 0; b && i < 5; i++)
        if (strcmp(b, names[i]) == 0) p->behavior = i;
    if (p->behavior < 0)
        return lr_err_set(err, LR_EUNSUPPORTED, "pre-tokenizer Split: behavior \"%s\" is not "
                          "supported", b ? b : "(missing)");
    if ((rc = lr_llm_tok_json_bool(j, "invert", 0, &p->invert, "pre-tokenizer Split", err)))
        return rc;
    return lr_llm_tok_pattern_parse(json_object_get(j, "pattern"), &p->pat,
                                    "pre-tokenizer Split", err);
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes
 * for U+0100 onwards in byte order. */
static void make_bytemap(tok_pretok *p) {
    uint32_t next = 256;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
        char tmp[4];
        size_t n = lr_llm_tok_utf8_encode(printable ? (uint32_t)b : next++, tmp);
        memcpy(p->bytemap[b], tmp, n);
        p->bytemap_len[b] = (unsigned char)n;
    }
}

static int parse_bytelevel(const json_t *j, tok_pretok *p, lr_err *err) {
    static const char *const keys[] = {"type", "add_prefix_space", "trim_offsets", "use_regex",
                                       NULL};
    const char *what = "pre-tokenizer ByteLevel";
    int rc = lr_llm_tok_json_keys(j, keys, what, err), use_regex, trim;
    if (rc || (rc = lr_llm_tok_json_bool(j, "add_prefix_space", 1, &p->add_prefix_space, what, err)) ||
        (rc = lr_llm_tok_json_bool(j, "use_regex", 1, &use_regex, what, err)) ||
        (rc = lr_llm_tok_json_bool(j, "trim_offsets", 1, &trim, what, err))) /* offsets only */
        return rc;
    make_bytemap(p);
    return use_regex ? lr_llm_tok_pattern_regex(gpt2_regex, &p->pat, what, err) : LR_OK;
}

static int parse_metaspace(const json_t *j, tok_pretok *p, lr_err *err) {
    static const char *const keys[] = {"type", "replacement", "prepend_scheme", "split",
                                       "add_prefix_space", "str_rep", NULL};
    const char *what = "pre-tokenizer Metaspace";
    int rc = lr_llm_tok_json_keys(j, keys, what, err), aps;
    if (rc) return rc;
    const char *r = json_string_value(json_object_get(j, "replacement"));
    size_t rn = r ? strlen(r) : 0;
    if (!r || rn == 0 || rn > 4 || lr_llm_tok_utf8_next(r, rn, 0) != rn)
        return lr_err_set(err, LR_EFORMAT, "%s: \"replacement\" must be one character", what);
    memcpy(p->repl, r, rn);
    p->repl_len = rn;
    if ((rc = lr_llm_tok_json_bool(j, "split", 1, &p->split, what, err)) ||
        (rc = lr_llm_tok_json_bool(j, "add_prefix_space", 1, &aps, what, err)))
        return rc;
    json_t *ps = json_object_get(j, "prepend_scheme");
    const char *s = json_string_value(ps);
    if (!ps || json_is_null(ps)) p->prepend = aps ? PREPEND_ALWAYS : PREPEND_NEVER;
    else if (s && strcmp(s, "always") == 0) p->prepend = PREPEND_ALWAYS;
    else if (s && strcmp(s, "first") == 0) p->prepend = PREPEND_FIRST;
    else if (s && strcmp(s, "never") == 0) p->prepend = PREPEND_NEVER;
    else return lr_err_set(err, LR_EUNSUPPORTED, "%s: prepend_scheme \"%s\" is not supported",
                           what, s ? s : "(not a string)");
    p->behavior = B_NEXT;
    return LR_OK;
}

static int parse_kind(const json_t *j, const char *type, tok_pretok *p, lr_err *err) {
    static const char *const digits[] = {"type", "individual_digits", NULL};
    if (strcmp(type, "Sequence") == 0) return p->kind = P_SEQ, parse_seq(j, p, err);
    if (strcmp(type, "Split") == 0) return p->kind = P_SPLIT, parse_split(j, p, err);
    if (strcmp(type, "ByteLevel") == 0) return p->kind = P_BYTELEVEL, parse_bytelevel(j, p, err);
    if (strcmp(type, "Metaspace") == 0) return p->kind = P_METASPACE, parse_metaspace(j, p, err);
    if (strcmp(type, "Digits") == 0) {
        p->kind = P_DIGITS;
        int rc = lr_llm_tok_json_keys(j, digits, "pre-tokenizer Digits", err);
        if (rc) return rc;
        rc = lr_llm_tok_json_bool(j, "individual_digits", 0, &p->individual,
                                  "pre-tokenizer Digits", err);
        p->behavior = p->individual ? B_ISOLATED : B_CONTIGUOUS;
        return rc;
    }
    return lr_err_set(err, LR_EUNSUPPORTED, "pre-tokenizer \"%s\" is not supported", type);
}

int lr_llm_tok_pretok_parse(const json_t *j, tok_pretok **out, lr_err *err) {
    *out = NULL;
    if (json_is_null(j)) return LR_OK;
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type) return lr_err_set(err, LR_EFORMAT, "pre-tokenizer: missing \"type\"");
    tok_pretok *p = calloc(1, sizeof *p);
    if (!p) return lr_err_set(err, LR_ENOMEM, "pre-tokenizer: out of memory");
    int rc = parse_kind(j, type, p, err);
    if (rc) {
        lr_llm_tok_pretok_free(p);
        return rc;
    }
    *out = p;
    return LR_OK;
}

/* ---- splitting -------------------------------------------------------------------------------- */

typedef struct {
    size_t s, e;
    int match;
} piece;

/* The matches m of sp's text into pieces cut by `behavior` (tokenizers'
 * SplitDelimiterBehavior), pushed onto out; empty pieces are dropped. */
static int cut(const tok_split *sp, const tok_ranges *m, int behavior, int invert,
               tok_splits *out) {
    piece *v = malloc((2 * m->n + 2) * sizeof *v);
    if (!v) return LR_ENOMEM;
    size_t n = 0, prev = 0;
    for (size_t i = 0; i < m->n; i++) {
        if (prev != m->v[i][0]) v[n++] = (piece){prev, m->v[i][0], invert};
        v[n++] = (piece){m->v[i][0], m->v[i][1], !invert};
        prev = m->v[i][1];
    }
    if (prev != sp->len || sp->len == 0) v[n++] = (piece){prev, sp->len, invert};
    size_t k = 0;
    int prev_match = 0;
    if (behavior == B_NEXT) { /* tokenizers folds from the right, so mirror the walk */
        for (size_t i = n; i-- > 0;) {
            if (v[i].match && !prev_match && k > 0) v[n - k].s = v[i].s;
            else v[n - 1 - k++] = v[i];
            prev_match = v[i].match;
        }
        memmove(v, v + n - k, k * sizeof *v);
    } else {
        for (size_t i = 0; i < n; i++) {
            int merge = behavior == B_PREVIOUS ? v[i].match && !prev_match
                        : behavior == B_CONTIGUOUS ? v[i].match == prev_match : 0;
            if (merge && k > 0) v[k - 1].e = v[i].e;
            else if (!(behavior == B_REMOVED && v[i].match)) v[k++] = v[i];
            prev_match = v[i].match;
        }
    }
    int rc = LR_OK;
    for (size_t i = 0; i < k && rc == LR_OK; i++)
        if (v[i].e > v[i].s)
            rc = lr_llm_tok_splits_push(out, sp->s + v[i].s, v[i].e - v[i].s, -1,
                                        sp->at_origin && v[i].s == 0);
    free(v);
    return rc;
}

static int find_digits(const char *s, size_t len, tok_ranges *m) {
    m->n = 0;
    for (size_t i = 0; i < len;) {
        size_t j = lr_llm_tok_utf8_next(s, len, i);
        utf8proc_category_t c = utf8proc_category(lr_llm_tok_utf8_decode(s, len, i));
        if ((c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO) &&
            lr_llm_tok_ranges_push(m, i, j))
            return LR_ENOMEM;
        i = j;
    }
    return LR_OK;
}

/* ByteLevel's last step: every byte of the piece becomes its bytes_to_unicode character. */
static int map_bytes(const tok_pretok *p, tok_arena *a, tok_splits *l, size_t from) {
    for (size_t i = from; i < l->n; i++) {
        const unsigned char *s = (const unsigned char *)l->v[i].s;
        char *d = lr_llm_tok_alloc(a, 2 * l->v[i].len + 1);
        if (!d) return LR_ENOMEM;
        size_t k = 0;
        for (size_t j = 0; j < l->v[i].len; j++) {
            memcpy(d + k, p->bytemap[s[j]], p->bytemap_len[s[j]]);
            k += p->bytemap_len[s[j]];
        }
        l->v[i].s = d;
        l->v[i].len = k;
    }
    return LR_OK;
}

/* NormalizedString::prepend, which leaves empty text empty. */
static int prepend(tok_arena *a, tok_split *sp, const char *pre, size_t n) {
    if (sp->len == 0) return LR_OK;
    char *d = lr_llm_tok_alloc(a, n + sp->len + 1);
    if (!d) return LR_ENOMEM;
    memcpy(d, pre, n);
    memcpy(d + n, sp->s, sp->len);
    sp->s = d;
    sp->len += n;
    return LR_OK;
}

/* Metaspace: spaces become the replacement, which is prepended as the scheme says. */
static int metaspace(const tok_pretok *p, tok_arena *a, tok_split *sp) {
    size_t spaces = 0;
    for (size_t i = 0; i < sp->len; i++) spaces += sp->s[i] == ' ';
    if (spaces) {
        char *d = lr_llm_tok_alloc(a, sp->len + spaces * p->repl_len + 1);
        if (!d) return LR_ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < sp->len; i++) {
            if (sp->s[i] == ' ') memcpy(d + k, p->repl, p->repl_len), k += p->repl_len;
            else d[k++] = sp->s[i];
        }
        sp->s = d;
        sp->len = k;
    }
    int starts = sp->len >= p->repl_len && memcmp(sp->s, p->repl, p->repl_len) == 0;
    if (!starts && (p->prepend == PREPEND_ALWAYS || (p->prepend == PREPEND_FIRST && sp->at_origin)))
        return prepend(a, sp, p->repl, p->repl_len);
    return LR_OK;
}

static int pretok_one(const tok_pretok *p, tok_arena *a, tok_split sp, tok_ranges *m,
                      tok_splits *out, lr_err *err) {
    int rc = LR_OK;
    m->n = 0;
    switch (p->kind) {
    case P_SPLIT:
        if ((rc = lr_llm_tok_pattern_find(p->pat, sp.s, sp.len, m, err))) return rc;
        return cut(&sp, m, p->behavior, p->invert, out);
    case P_DIGITS:
        if (find_digits(sp.s, sp.len, m)) return LR_ENOMEM;
        return cut(&sp, m, p->behavior, 0, out);
    case P_METASPACE:
        if ((rc = metaspace(p, a, &sp))) return rc;
        if (!p->split) return sp.len ? lr_llm_tok_splits_push(out, sp.s, sp.len, -1, sp.at_origin) : 0;
        for (size_t i = 0; i + p->repl_len <= sp.len; i++)
            if (memcmp(sp.s + i, p->repl, p->repl_len) == 0 &&
                lr_llm_tok_ranges_push(m, i, i + p->repl_len))
                return LR_ENOMEM;
        return cut(&sp, m, B_NEXT, 0, out);
    case P_BYTELEVEL: {
        size_t from = out->n;
        if (p->add_prefix_space && !(sp.len && sp.s[0] == ' ') && (rc = prepend(a, &sp, " ", 1)))
            return rc;
        if (p->pat) {
            if ((rc = lr_llm_tok_pattern_find(p->pat, sp.s, sp.len, m, err))) return rc;
            rc = cut(&sp, m, B_ISOLATED, 0, out);
        } else if (sp.len) {
            rc = lr_llm_tok_splits_push(out, sp.s, sp.len, -1, sp.at_origin);
        }
        return rc ? rc : map_bytes(p, a, out, from);
    }
    }
    return LR_OK;
}

int lr_llm_tok_pretokenize(const tok_pretok *p, tok_arena *a, tok_splits *l, lr_err *err) {
    if (!p) return LR_OK;
    if (p->kind == P_SEQ) {
        for (size_t i = 0; i < p->nkids; i++) {
            int rc = lr_llm_tok_pretokenize(p->kids[i], a, l, err);
            if (rc) return rc;
        }
        return LR_OK;
    }
    tok_splits out = {0};
    tok_ranges m = {0};
    int rc = LR_OK;
    for (size_t i = 0; i < l->n && rc == LR_OK; i++)
        rc = l->v[i].id >= 0 ? lr_llm_tok_splits_push(&out, l->v[i].s, l->v[i].len, l->v[i].id, 0)
                             : pretok_one(p, a, l->v[i], &m, &out, err);
    free(m.v);
    if (rc) {
        free(out.v);
        if (rc == LR_ENOMEM) return lr_err_set(err, rc, "pre-tokenizer: out of memory");
        return rc;
    }
    free(l->v);
    *l = out;
    return LR_OK;
}
