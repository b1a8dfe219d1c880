/* The tokenizer's small tools: the per-call arena, split and range lists, UTF-8, hash maps for
 * the vocabulary and the merges, and JSON checks. */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- arena ------------------------------------------------------------------------------------ */

struct tok_block {
    tok_block *next;
    size_t used, cap;
    _Alignas(max_align_t) unsigned char data[];
};

void *lr_llm_tok_alloc(tok_arena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    tok_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        b = malloc(sizeof *b + cap);
        if (!b) return NULL;
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    return p;
}

void lr_llm_tok_arena_free(tok_arena *a) {
    while (a->head) {
        tok_block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

/* ---- lists ------------------------------------------------------------------------------------ */

static int grow(void **v, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return LR_OK;
    size_t c = *cap ? *cap * 2 : 16;
    while (c < need) c *= 2;
    void *p = realloc(*v, c * elem);
    if (!p) return LR_ENOMEM;
    *v = p;
    *cap = c;
    return LR_OK;
}

int lr_llm_tok_splits_push(tok_splits *l, const char *s, size_t len, int32_t id, int at_origin) {
    if (grow((void **)&l->v, &l->cap, l->n + 1, sizeof *l->v)) return LR_ENOMEM;
    l->v[l->n++] = (tok_split){s, len, id, at_origin};
    return LR_OK;
}

int lr_llm_tok_ranges_push(tok_ranges *r, size_t start, size_t end) {
    if (grow((void **)&r->v, &r->cap, r->n + 1, sizeof *r->v)) return LR_ENOMEM;
    r->v[r->n][0] = start;
    r->v[r->n][1] = end;
    r->n++;
    return LR_OK;
}

int lr_llm_tok_buf_put(tok_buf *b, const void *p, size_t n) {
    if (n == 0) return LR_OK;
    if (grow((void **)&b->p, &b->cap, b->n + n, 1)) return LR_ENOMEM;
    memcpy(b->p + b->n, p, n);
    b->n += n;
    return LR_OK;
}

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

/* Well-formed UTF-8 as Unicode defines it (RFC 3629): no overlong forms, no surrogates, nothing
 * past U+10FFFF; what Rust's str (and so tokenizers) accepts. */
size_t lr_llm_tok_utf8_check(const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 ? 2 : 0;
        if (n == 0 || c > 0xF4 || len - i < n) return i;
        for (size_t k = 1; k < n; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        unsigned c1 = s[i + 1];
        if (c == 0xE0 && c1 < 0xA0) return i; /* overlong */
        if (c == 0xED && c1 >= 0xA0) return i; /* surrogate */
        if (c == 0xF0 && c1 < 0x90) return i; /* overlong */
        if (c == 0xF4 && c1 >= 0x90) return i; /* past U+10FFFF */
        i += n;
    }
    return len;
}

size_t lr_llm_tok_utf8_next(const char *s, size_t len, size_t i) {
    if (i >= len) return len;
    i++;
    while (i < len && ((unsigned char)s[i] & 0xC0) == 0x80) i++;
    return i;
}

int32_t lr_llm_tok_utf8_decode(const char *str, size_t len, size_t i) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[i];
    if (c < 0x80) return (int32_t)c;
    size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (len - i < n) return -1;
    uint32_t cp = c & (0x3F >> (n - 1));
    for (size_t k = 1; k < n; k++) cp = (cp << 6) | (s[i + k] & 0x3F);
    return (int32_t)cp;
}

size_t lr_llm_tok_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* The White_Space property (PropList.txt, unchanged since Unicode 6.3). */
int lr_llm_tok_is_white_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

/* ---- string -> id map ------------------------------------------------------------------------- */

struct tok_str_entry {
    size_t off;
    size_t len;
    uint64_t hash;
    int32_t val;
};

static uint64_t hash_bytes(const char *s, size_t n) { /* FNV-1a, then a final mix */
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    h ^= h >> 29;
    return h * 0xbf58476d1ce4e5b9ull;
}

static int32_t strmap_find(const tok_strmap *m, const char *key, size_t len, uint64_t h,
                           size_t *slot) {
    size_t mask = m->nslots - 1, i = (size_t)h & mask;
    for (;; i = (i + 1) & mask) {
        int32_t e = m->slots[i];
        if (e < 0) break;
        const struct tok_str_entry *en = &m->ents[e];
        if (en->hash == h && en->len == len && memcmp(m->pool + en->off, key, len) == 0) {
            *slot = i;
            return e;
        }
    }
    *slot = i;
    return -1;
}

static int strmap_rehash(tok_strmap *m, size_t nslots) {
    int32_t *slots = malloc(nslots * sizeof *slots);
    if (!slots) return LR_ENOMEM;
    memset(slots, 0xff, nslots * sizeof *slots);
    for (size_t e = 0; e < m->n; e++) {
        size_t i = (size_t)m->ents[e].hash & (nslots - 1);
        while (slots[i] >= 0) i = (i + 1) & (nslots - 1);
        slots[i] = (int32_t)e;
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = nslots;
    return LR_OK;
}

int lr_llm_tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val) {
    if ((m->n + 1) * 2 > m->nslots && strmap_rehash(m, m->nslots ? m->nslots * 2 : 64))
        return LR_ENOMEM;
    uint64_t h = hash_bytes(key, len);
    size_t slot;
    int32_t e = strmap_find(m, key, len, h, &slot);
    if (e >= 0) {
        m->ents[e].val = val;
        return LR_OK;
    }
    if (grow((void **)&m->ents, &m->cap, m->n + 1, sizeof *m->ents)) return LR_ENOMEM;
    if (grow((void **)&m->pool, &m->pool_cap, m->pool_len + len + 1, 1)) return LR_ENOMEM;
    memcpy(m->pool + m->pool_len, key, len);
    m->pool[m->pool_len + len] = '\0';
    m->ents[m->n] = (struct tok_str_entry){m->pool_len, len, h, val};
    m->pool_len += len + 1;
    m->slots[slot] = (int32_t)m->n++;
    return LR_OK;
}

int32_t lr_llm_tok_strmap_get(const tok_strmap *m, const char *key, size_t len) {
    if (!m->nslots) return -1;
    size_t slot;
    int32_t e = strmap_find(m, key, len, hash_bytes(key, len), &slot);
    return e < 0 ? -1 : m->ents[e].val;
}

void lr_llm_tok_strmap_free(tok_strmap *m) {
    free(m->pool);
    free(m->ents);
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- (id, id) -> (rank, id) map for the merges ------------------------------------------------ */

static size_t pair_slot(uint64_t key, size_t mask) {
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    return (size_t)(h ^ (h >> 32)) & mask;
}

int lr_llm_tok_pairmap_init(tok_pairmap *m, size_t count) {
    size_t n = 16;
    while (n < 2 * count + 2) n *= 2;
    m->slots = malloc(n * sizeof *m->slots);
    if (!m->slots) return LR_ENOMEM;
    for (size_t i = 0; i < n; i++) m->slots[i].key = UINT64_MAX;
    m->nslots = n;
    return LR_OK;
}

/* Overwrites an existing pair: a merge listed twice keeps its last rank, as tokenizers' HashMap
 * collect does. The caller sized the map for every merge, so it never fills. */
void lr_llm_tok_pairmap_put(tok_pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = m->nslots - 1, i = pair_slot(key, mask);
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key) i = (i + 1) & mask;
    m->slots[i] = (tok_pair_slot){key, rank, id};
}

const tok_pair_slot *lr_llm_tok_pairmap_get(const tok_pairmap *m, int32_t a, int32_t b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    size_t mask = m->nslots - 1, i = pair_slot(key, mask);
    for (;; i = (i + 1) & mask) {
        if (m->slots[i].key == key) return &m->slots[i];
        if (m->slots[i].key == UINT64_MAX) return NULL;
    }
}

void lr_llm_tok_pairmap_free(tok_pairmap *m) {
    free(m->slots);
    m->slots = NULL;
    m->nslots = 0;
}

/* ---- JSON ------------------------------------------------------------------------------------- */

int lr_llm_tok_json_keys(const json_t *obj, const char *const *known, const char *what,
                         lr_err *err) {
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        int ok = 0;
        for (size_t i = 0; known[i]; i++) ok |= strcmp(key, known[i]) == 0;
        if (!ok)
            return lr_err_set(err, LR_EUNSUPPORTED, "%s: field \"%s\" is not supported", what,
                              key);
    }
    return LR_OK;
}

int lr_llm_tok_json_bool(const json_t *obj, const char *key, int dflt, int *out, const char *what,
                         lr_err *err) {
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = dflt;
        return LR_OK;
    }
    if (!json_is_boolean(v))
        return lr_err_set(err, LR_EFORMAT, "%s: \"%s\" must be true or false", what, key);
    *out = json_is_true(v);
    return LR_OK;
}
