/* Internals of the tokenizer (tokenizer*.c, tok_*.c): the stages of a Hugging Face `tokenizers`
 * pipeline read from tokenizer.json, and the scratch one lr_llm_tokenize call works in.
 *
 * Text moves through the stages as a list of splits. A split is either text still to be
 * processed or an id already decided (an added token matched in the text); only text splits are
 * normalized, pre-tokenized and given to BPE, as in tokenizers' PreTokenizedString. Every string
 * a call makes lives in its arena and is freed at once when the call ends. */
#ifndef LR_LLM_TOK_INTERNAL_H
#define LR_LLM_TOK_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"

/* ---- per-call scratch (tok_util.c) ------------------------------------------------------------ */

typedef struct tok_block tok_block;
typedef struct {
    tok_block *head;
} tok_arena;

void *lr_llm_tok_alloc(tok_arena *a, size_t n); /* NULL when out of memory */
void lr_llm_tok_arena_free(tok_arena *a);

typedef struct {
    const char *s;
    size_t len;
    int32_t id;    /* -1: text; else an added token's id */
    int at_origin; /* the split starts at offset 0 of the original text (Metaspace "first") */
} tok_split;

typedef struct {
    tok_split *v;
    size_t n, cap;
} tok_splits;

int lr_llm_tok_splits_push(tok_splits *l, const char *s, size_t len, int32_t id, int at_origin);

/* Byte ranges [start, end) of a text, e.g. a pattern's matches. */
typedef struct {
    size_t (*v)[2];
    size_t n, cap;
} tok_ranges;

int lr_llm_tok_ranges_push(tok_ranges *r, size_t start, size_t end);

typedef struct {
    char *p;
    size_t n, cap;
} tok_buf; /* a growing byte string (malloc'd; freed by its owner) */

int lr_llm_tok_buf_put(tok_buf *b, const void *p, size_t n);

/* ---- Unicode helpers (tok_util.c) ------------------------------------------------------------- */

/* len when s is well-formed UTF-8, else the offset of the first ill-formed sequence */
size_t lr_llm_tok_utf8_check(const char *s, size_t len);
size_t lr_llm_tok_utf8_next(const char *s, size_t len, size_t i); /* offset of the next char */
int32_t lr_llm_tok_utf8_decode(const char *s, size_t len, size_t i); /* the code point at i */
size_t lr_llm_tok_utf8_encode(uint32_t cp, char out[4]);
int lr_llm_tok_is_white_space(uint32_t cp); /* Unicode White_Space, as Rust's char::is_whitespace */

/* ---- hash maps (tok_util.c) ------------------------------------------------------------------- */

typedef struct {
    char *pool;                 /* the keys, back to back */
    size_t pool_len, pool_cap;
    struct tok_str_entry *ents; /* one per key */
    size_t n, cap;
    int32_t *slots;             /* open addressing, -1 empty; nslots a power of two */
    size_t nslots;
} tok_strmap;

/* Adds or overwrites key -> val (LR_ENOMEM). */
int lr_llm_tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val);
int32_t lr_llm_tok_strmap_get(const tok_strmap *m, const char *key, size_t len); /* -1: absent */
void lr_llm_tok_strmap_free(tok_strmap *m);

typedef struct {
    uint64_t key; /* (left id << 32) | right id; UINT64_MAX empty */
    int32_t rank, id;
} tok_pair_slot;

typedef struct {
    tok_pair_slot *slots;
    size_t nslots; /* a power of two, at least twice the count */
} tok_pairmap;

int lr_llm_tok_pairmap_init(tok_pairmap *m, size_t count);
void lr_llm_tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
const tok_pair_slot *lr_llm_tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b);
void lr_llm_tok_pairmap_free(tok_pairmap *m);

/* ---- JSON helpers (tok_util.c) ---------------------------------------------------------------- */

/* Refuses any key of obj not in the NULL-terminated list `known`, naming it and `what`. */
int lr_llm_tok_json_keys(const json_t *obj, const char *const *known, const char *what,
                         lr_err *err);
/* obj[key] as a boolean; absent or null gives `dflt`; another type is LR_EFORMAT. */
int lr_llm_tok_json_bool(const json_t *obj, const char *key, int dflt, int *out, const char *what,
                         lr_err *err);

/* ---- patterns: a literal string or a regex (tok_regex.c) -------------------------------------- */

typedef struct tok_pattern tok_pattern;

/* From tokenizers' {"String": s} or {"Regex": r}. `what` names the setting in messages. */
int lr_llm_tok_pattern_parse(const json_t *j, tok_pattern **out, const char *what, lr_err *err);
int lr_llm_tok_pattern_regex(const char *re, tok_pattern **out, const char *what, lr_err *err);
void lr_llm_tok_pattern_free(tok_pattern *p);
/* Every match of p in s[0..len), left to right, as Oniguruma's find_iter gives them. */
int lr_llm_tok_pattern_find(const tok_pattern *p, const char *s, size_t len, tok_ranges *out,
                            lr_err *err);

/* ---- normalizers (tok_normalize.c) ------------------------------------------------------------ */

typedef struct tok_normalizer tok_normalizer;

/* The most bytes a normalized text may hold (LR_ERANGE beyond): Replace and Prepend can grow a
 * text, and chained they multiply it. Real tokenizers grow it by a few times at most. */
#define LR_LLM_MAX_NORMALIZED (64 << 20)

int lr_llm_tok_normalizer_parse(const json_t *j, tok_normalizer **out, lr_err *err);
void lr_llm_tok_normalizer_free(tok_normalizer *n);
/* The normalized s[0..len) into *out (arena memory); NULL normalizer copies nothing. */
int lr_llm_tok_normalize(const tok_normalizer *n, tok_arena *a, const char *s, size_t len,
                         const char **out, size_t *out_len, lr_err *err);

/* ---- pre-tokenizers (tok_pretok.c) ------------------------------------------------------------ */

typedef struct tok_pretok tok_pretok;

int lr_llm_tok_pretok_parse(const json_t *j, tok_pretok **out, lr_err *err);
void lr_llm_tok_pretok_free(tok_pretok *p);
/* Splits every text split of *l further; splits holding ids pass through. */
int lr_llm_tok_pretokenize(const tok_pretok *p, tok_arena *a, tok_splits *l, lr_err *err);

/* ---- the BPE model (tok_bpe.c) ---------------------------------------------------------------- */

typedef struct tok_bpe tok_bpe;

int lr_llm_tok_bpe_parse(const json_t *j, tok_bpe **out, lr_err *err);
void lr_llm_tok_bpe_free(tok_bpe *b);
int32_t lr_llm_tok_bpe_max_id(const tok_bpe *b);
int32_t lr_llm_tok_bpe_id(const tok_bpe *b, const char *tok, size_t len); /* -1: absent */
/* Appends the ids of one pre-token s[0..len) to *ids. */
int lr_llm_tok_bpe_encode(const tok_bpe *b, const char *s, size_t len, tok_buf *ids, lr_err *err);

/* ---- added tokens (tok_added.c) --------------------------------------------------------------- */

typedef struct tok_added tok_added;

/* Reads "added_tokens"; tokens with normalized true are matched in normalized text, so their
 * content goes through `norm` once here, as tokenizers' AddedVocabulary does. */
int lr_llm_tok_added_parse(const json_t *j, const tok_normalizer *norm, tok_added **out,
                           lr_err *err);
void lr_llm_tok_added_free(tok_added *t);
int32_t lr_llm_tok_added_max_id(const tok_added *t);
int32_t lr_llm_tok_added_id(const tok_added *t, const char *content); /* -1: absent */
/* Splits s[0..len) on the added tokens (normalized: those matched after normalization, else
 * those matched in the raw text) into *l. `origin`: s starts the original text. */
int lr_llm_tok_added_split(const tok_added *t, int normalized, const char *s, size_t len,
                           int origin, tok_splits *l);

/* ---- a whole tokenizer.json (tok_json.c) ------------------------------------------------------ */

typedef struct tok_json tok_json;

int lr_llm_tok_json_load(const char *path, tok_json **out, lr_err *err);
void lr_llm_tok_json_free(tok_json *t);
int32_t lr_llm_tok_json_max_id(const tok_json *t);
int32_t lr_llm_tok_json_token_id(const tok_json *t, const char *token); /* added, then vocab */
/* The ids the post-processor puts before and after a single sequence (add_special_tokens). */
void lr_llm_tok_json_template(const tok_json *t, const int32_t **pre, size_t *npre,
                              const int32_t **post, size_t *npost);
/* Appends the ids of text[0..len) (valid UTF-8) without the post-processor's. */
int lr_llm_tok_json_encode(const tok_json *t, const char *text, size_t len, tok_buf *ids,
                           lr_err *err);

#endif
