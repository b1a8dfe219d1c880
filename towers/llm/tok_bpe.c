/* The BPE model of a tokenizer.json, as tokenizers' BPE::tokenize without dropout: each
 * character of a pre-token looked up (with byte fallback to <0xNN> tokens and the unk token),
 * then merges applied lowest rank first, ties to the leftmost, from a heap of candidate pairs
 * (tokenizers' Word::merge_all). A word of n characters costs O(n log n): the 1,000-letter word
 * makes no quadratic walk over its pairs. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

struct tok_bpe {
    tok_strmap vocab;
    tok_pairmap merges;
    int32_t unk;     /* -1: no unk token; -2: named but not in the vocabulary */
    char *unk_name;
    int fuse_unk, byte_fallback, ignore_merges;
    char *prefix, *suffix; /* continuing_subword_prefix, end_of_word_suffix, or NULL */
    size_t prefix_len, suffix_len;
    int32_t byte_ids[256]; /* <0xNN> tokens, -1 when absent */
    int32_t max_id;
};

void lr_llm_tok_bpe_free(tok_bpe *b) {
    if (!b) return;
    lr_llm_tok_strmap_free(&b->vocab);
    lr_llm_tok_pairmap_free(&b->merges);
    free(b->unk_name);
    free(b->prefix);
    free(b->suffix);
    free(b);
}

int32_t lr_llm_tok_bpe_max_id(const tok_bpe *b) { return b->max_id; }

int32_t lr_llm_tok_bpe_id(const tok_bpe *b, const char *tok, size_t len) {
    return lr_llm_tok_strmap_get(&b->vocab, tok, len);
}

/* ---- loading ---------------------------------------------------------------------------------- */

static int opt_string(const json_t *j, const char *key, char **out, size_t *len, lr_err *err) {
    json_t *v = json_object_get(j, key);
    if (!v || json_is_null(v)) return LR_OK;
    if (!json_is_string(v))
        return lr_err_set(err, LR_EFORMAT, "model BPE: \"%s\" must be a string or null", key);
    *out = strdup(json_string_value(v));
    if (!*out) return lr_err_set(err, LR_ENOMEM, "model BPE: out of memory");
    if (len) *len = strlen(*out);
    return LR_OK;
}

static int load_vocab(const json_t *vocab, tok_bpe *b, lr_err *err) {
    if (!json_is_object(vocab))
        return lr_err_set(err, LR_EFORMAT, "model BPE: \"vocab\" must be an object");
    const char *key;
    json_t *v;
    b->max_id = -1;
    json_object_foreach((json_t *)vocab, key, v) {
        json_int_t id = json_integer_value(v);
        if (!json_is_integer(v) || id < 0 || id > INT32_MAX)
            return lr_err_set(err, LR_EFORMAT, "model BPE: vocab \"%s\" has no valid id", key);
        if (lr_llm_tok_strmap_put(&b->vocab, key, strlen(key), (int32_t)id))
            return lr_err_set(err, LR_ENOMEM, "model BPE: out of memory");
        if (id > b->max_id) b->max_id = (int32_t)id;
    }
    for (int i = 0; i < 256; i++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", i); /* Rust's format!("<{b:#04X}>") */
        b->byte_ids[i] = lr_llm_tok_strmap_get(&b->vocab, name, 6);
    }
    return LR_OK;
}

/* One merge, [a, b] or "a b", as its two tokens (pointers into j or into buf). */
static int merge_parts(const json_t *m, size_t i, char *buf, size_t cap, const char **a,
                       const char **bp, lr_err *err) {
    if (json_is_array(m) && json_array_size(m) == 2 && json_is_string(json_array_get(m, 0)) &&
        json_is_string(json_array_get(m, 1))) {
        *a = json_string_value(json_array_get(m, 0));
        *bp = json_string_value(json_array_get(m, 1));
        return LR_OK;
    }
    const char *s = json_string_value(m), *sp = s ? strchr(s, ' ') : NULL;
    if (!s || !sp || strchr(sp + 1, ' ') || strlen(s) >= cap)
        return lr_err_set(err, LR_EFORMAT, "model BPE: merge %zu is neither [a, b] nor \"a b\"",
                          i);
    memcpy(buf, s, strlen(s) + 1);
    buf[sp - s] = '\0';
    *a = buf;
    *bp = buf + (sp - s) + 1;
    return LR_OK;
}

static int load_merges(const json_t *merges, tok_bpe *b, lr_err *err) {
    if (!json_is_array(merges))
        return lr_err_set(err, LR_EFORMAT, "model BPE: \"merges\" must be a list");
    size_t n = json_array_size(merges);
    if (n > INT32_MAX) return lr_err_set(err, LR_EFORMAT, "model BPE: too many merges");
    if (lr_llm_tok_pairmap_init(&b->merges, n))
        return lr_err_set(err, LR_ENOMEM, "model BPE: out of memory");
    char buf[1024], joined[1024];
    for (size_t i = 0; i < n; i++) {
        const char *x = NULL, *y = NULL;
        int rc = merge_parts(json_array_get(merges, i), i, buf, sizeof buf, &x, &y, err);
        if (rc) return rc;
        size_t xn = strlen(x), yn = strlen(y);
        int32_t xi = lr_llm_tok_strmap_get(&b->vocab, x, xn);
        int32_t yi = lr_llm_tok_strmap_get(&b->vocab, y, yn);
        if (xi < 0 || yi < 0)
            return lr_err_set(err, LR_EFORMAT, "model BPE: merge %zu: \"%s\" is not in the "
                              "vocabulary", i, xi < 0 ? x : y);
        if (yn < b->prefix_len || xn + yn - b->prefix_len >= sizeof joined)
            return lr_err_set(err, LR_EFORMAT, "model BPE: merge %zu: \"%s\" is too short or "
                              "too long", i, y);
        memcpy(joined, x, xn); /* tokenizers: a + b[prefix_len..] */
        memcpy(joined + xn, y + b->prefix_len, yn - b->prefix_len);
        int32_t id = lr_llm_tok_strmap_get(&b->vocab, joined, xn + yn - b->prefix_len);
        if (id < 0)
            return lr_err_set(err, LR_EFORMAT, "model BPE: merge %zu: \"%.*s\" is not in the "
                              "vocabulary", i, (int)(xn + yn - b->prefix_len), joined);
        lr_llm_tok_pairmap_put(&b->merges, xi, yi, (int32_t)i, id);
    }
    return LR_OK;
}

static int load_options(const json_t *j, tok_bpe *b, lr_err *err) {
    static const char *const keys[] = {"type", "dropout", "unk_token", "continuing_subword_prefix",
                                       "end_of_word_suffix", "fuse_unk", "byte_fallback",
                                       "ignore_merges", "vocab", "merges", NULL};
    const char *what = "model BPE";
    int rc = lr_llm_tok_json_keys(j, keys, what, err);
    json_t *d = json_object_get(j, "dropout");
    if (!rc && d && !json_is_null(d))
        return lr_err_set(err, LR_EUNSUPPORTED, "model BPE: dropout must be null (BPE dropout "
                          "is random, not supported)");
    if (rc || (rc = lr_llm_tok_json_bool(j, "fuse_unk", 0, &b->fuse_unk, what, err)) ||
        (rc = lr_llm_tok_json_bool(j, "byte_fallback", 0, &b->byte_fallback, what, err)) ||
        (rc = lr_llm_tok_json_bool(j, "ignore_merges", 0, &b->ignore_merges, what, err)) ||
        (rc = opt_string(j, "unk_token", &b->unk_name, NULL, err)) ||
        (rc = opt_string(j, "continuing_subword_prefix", &b->prefix, &b->prefix_len, err)) ||
        (rc = opt_string(j, "end_of_word_suffix", &b->suffix, &b->suffix_len, err)))
        return rc;
    return LR_OK;
}

int lr_llm_tok_bpe_parse(const json_t *j, tok_bpe **out, lr_err *err) {
    *out = NULL;
    tok_bpe *b = calloc(1, sizeof *b);
    if (!b) return lr_err_set(err, LR_ENOMEM, "model BPE: out of memory");
    int rc = load_options(j, b, err);
    if (!rc) rc = load_vocab(json_object_get(j, "vocab"), b, err);
    if (!rc) rc = load_merges(json_object_get(j, "merges"), b, err);
    if (rc) {
        lr_llm_tok_bpe_free(b);
        return rc;
    }
    b->unk = !b->unk_name ? -1 : lr_llm_tok_strmap_get(&b->vocab, b->unk_name, strlen(b->unk_name));
    if (b->unk_name && b->unk < 0) b->unk = -2;
    *out = b;
    return LR_OK;
}

/* ---- encoding --------------------------------------------------------------------------------- */

typedef struct {
    int32_t c, prev, next;
    int alive;
} symbol;

typedef struct {
    int32_t rank, pos, id;
} merge;

static int merge_before(merge x, merge y) {
    return x.rank != y.rank ? x.rank < y.rank : x.pos < y.pos;
}

static void heap_push(merge *h, size_t *n, merge m) {
    size_t i = (*n)++;
    while (i > 0 && merge_before(m, h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = m;
}

static merge heap_pop(merge *h, size_t *n) {
    merge top = h[0], last = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && merge_before(h[c + 1], h[c])) c++;
        if (!merge_before(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = last;
    return top;
}

static void push_pair(const tok_bpe *b, const symbol *sym, int32_t pos, merge *h, size_t *nh) {
    int32_t nx = sym[pos].next;
    if (nx < 0) return;
    const tok_pair_slot *m = lr_llm_tok_pairmap_get(&b->merges, sym[pos].c, sym[nx].c);
    if (m) heap_push(h, nh, (merge){m->rank, pos, m->id});
}

/* Word::merge_all: stale heap entries (a side already merged away) are skipped when popped. */
static void merge_all(const tok_bpe *b, symbol *sym, int32_t n, merge *h) {
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < n; i++) push_pair(b, sym, i, h, &nh);
    while (nh) {
        merge top = heap_pop(h, &nh);
        symbol *cur = &sym[top.pos];
        if (!cur->alive || cur->next < 0) continue;
        symbol right = sym[cur->next];
        const tok_pair_slot *m = lr_llm_tok_pairmap_get(&b->merges, cur->c, right.c);
        if (!m || m->id != top.id) continue;
        sym[cur->next].alive = 0;
        cur->c = top.id;
        cur->next = right.next;
        if (right.next >= 0) sym[right.next].prev = top.pos;
        if (cur->prev >= 0) push_pair(b, sym, cur->prev, h, &nh);
        push_pair(b, sym, top.pos, h, &nh);
    }
}

static void add_symbol(symbol *sym, int32_t *n, int32_t id) {
    sym[*n] = (symbol){id, *n - 1, -1, 1};
    if (*n > 0) sym[*n - 1].next = *n;
    (*n)++;
}

/* The characters of s as symbols (merge_word's first half); byte fallback and unk as
 * tokenizers does them, including a pending unk that waits for the next known character. */
static int initial_symbols(const tok_bpe *b, const char *s, size_t len, symbol *sym, int32_t *n,
                           char *scratch, lr_err *err) {
    int32_t unk = -1;
    *n = 0;
    for (size_t i = 0; i < len;) {
        size_t j = lr_llm_tok_utf8_next(s, len, i), k = 0;
        if (i > 0 && b->prefix) memcpy(scratch, b->prefix, b->prefix_len), k = b->prefix_len;
        memcpy(scratch + k, s + i, j - i), k += j - i;
        if (j == len && b->suffix) memcpy(scratch + k, b->suffix, b->suffix_len), k += b->suffix_len;
        i = j;
        int32_t id = lr_llm_tok_strmap_get(&b->vocab, scratch, k);
        if (id >= 0) {
            if (unk >= 0) add_symbol(sym, n, unk), unk = -1;
            add_symbol(sym, n, id);
            continue;
        }
        size_t have = 0;
        for (size_t q = 0; b->byte_fallback && q < k; q++) have += b->byte_ids[(unsigned char)scratch[q]] >= 0;
        if (b->byte_fallback && have == k) {
            for (size_t q = 0; q < k; q++) add_symbol(sym, n, b->byte_ids[(unsigned char)scratch[q]]);
            continue;
        }
        if (b->unk == -2)
            return lr_err_set(err, LR_EFORMAT, "model BPE: unk_token \"%s\" is not in the "
                              "vocabulary", b->unk_name);
        if (b->unk >= 0 && !(unk >= 0 && b->fuse_unk)) {
            if (unk >= 0) add_symbol(sym, n, unk);
            unk = b->unk;
        }
    }
    if (unk >= 0) add_symbol(sym, n, unk);
    return LR_OK;
}

int lr_llm_tok_bpe_encode(const tok_bpe *b, const char *s, size_t len, tok_buf *ids, lr_err *err) {
    if (len == 0) return LR_OK;
    if (b->ignore_merges) {
        int32_t id = lr_llm_tok_strmap_get(&b->vocab, s, len);
        if (id >= 0 && lr_llm_tok_buf_put(ids, &id, sizeof id))
            return lr_err_set(err, LR_ENOMEM, "BPE: out of memory");
        if (id >= 0) return LR_OK;
    }
    /* at most one symbol per byte (byte fallback), counting a prefix before every character and
     * the suffix; the heap holds the first pairs plus two per merge */
    if (len > INT32_MAX / 4 / (1 + b->prefix_len))
        return lr_err_set(err, LR_EINVAL, "model BPE: pre-token too long");
    size_t cap = len * (1 + b->prefix_len) + b->suffix_len + 1;
    symbol sym_small[128];
    merge heap_small[3 * 128];
    char scratch_small[128];
    symbol *sym = cap <= 128 ? sym_small : malloc(cap * sizeof *sym);
    merge *heap = cap <= 128 ? heap_small : malloc(3 * cap * sizeof *heap);
    char *scratch = cap <= 128 ? scratch_small : malloc(cap);
    int32_t n = 0;
    int rc = sym && heap && scratch ? LR_OK : lr_err_set(err, LR_ENOMEM, "BPE: out of memory");
    if (!rc) rc = initial_symbols(b, s, len, sym, &n, scratch, err);
    if (!rc) merge_all(b, sym, n, heap);
    for (int32_t i = 0; !rc && i < n; i++)
        if (sym[i].alive && lr_llm_tok_buf_put(ids, &sym[i].c, sizeof sym[i].c))
            rc = lr_err_set(err, LR_ENOMEM, "BPE: out of memory");
    if (sym != sym_small) free(sym);
    if (heap != heap_small) free(heap);
    if (scratch != scratch_small) free(scratch);
    return rc;
}
