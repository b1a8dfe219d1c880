/* Hashed text features for the built-in encoder: words, word bigrams, character n-grams. */
#include <stdlib.h>
#include <string.h>

#include "text_features.h"

#define MAX_WORD 64 /* longer runs are cut: part numbers and URLs, not words */

static int is_word_byte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

#define FNV_OFFSET 1469598103934665603ULL
#define FNV_PRIME 1099511628211ULL

/* FNV-1a state after the bytes s[0..n), for a group seed. */
static uint64_t fnv(const unsigned char *s, size_t n, uint64_t seed) {
    uint64_t h = FNV_OFFSET ^ seed;
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * FNV_PRIME;
    return h;
}

/* A feature hash: the FNV state mixed, with the group in the low 2 bits. */
static uint64_t finish(uint64_t h, int group) { return (lr_mix64(h) & ~(uint64_t)3) | (uint64_t)group; }

static int push(lr_feat_buf *b, uint64_t h) {
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        lr_feat *v = realloc(b->v, cap * sizeof *v);
        if (!v) return -1;
        b->v = v;
        b->cap = cap;
    }
    b->v[b->n++] = (lr_feat){h, 1};
    return 0;
}

int lr_towers_feat_hashes(const char *text, size_t ngram_min, size_t ngram_max, lr_feat_buf *buf) {
    buf->n = 0;
    if (!text) return 0;
    const unsigned char *p = (const unsigned char *)text;
    unsigned char word[MAX_WORD + 2];
    uint64_t prev = 0; /* FNV state of the previous word followed by a space, for bigrams */
    int have_prev = 0;
    while (*p) {
        while (*p && !is_word_byte(*p)) p++;
        if (!*p) break;
        size_t n = 0;
        word[0] = ' ';
        while (*p && is_word_byte(*p)) {
            unsigned char c = *p++;
            if (n < MAX_WORD) word[1 + n++] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
        }
        word[1 + n] = ' ';
        if (push(buf, finish(fnv(word + 1, n, 0x77), LR_FEAT_WORD))) return -1;
        if (have_prev) { /* "prev word": continue the previous word's state over this one */
            uint64_t h = prev;
            for (size_t i = 0; i < n; i++) h = (h ^ word[1 + i]) * FNV_PRIME;
            if (push(buf, finish(h, LR_FEAT_BIGRAM))) return -1;
        }
        prev = (fnv(word + 1, n, 0xb1) ^ ' ') * FNV_PRIME;
        have_prev = 1;
        /* n-grams starting at i grow one byte at a time, so each start hashes its bytes once */
        size_t padded = n + 2;
        for (size_t i = 0; i + ngram_min <= padded; i++) {
            uint64_t h = FNV_OFFSET ^ 0xc4;
            for (size_t g = 1; g <= ngram_max && i + g <= padded; g++) {
                h = (h ^ word[i + g - 1]) * FNV_PRIME;
                if (g >= ngram_min && push(buf, finish(h, LR_FEAT_CHAR))) return -1;
            }
        }
    }
    return 0;
}

static int by_hash(const void *a, const void *b) {
    uint64_t x = ((const lr_feat *)a)->hash, y = ((const lr_feat *)b)->hash;
    return x < y ? -1 : x > y;
}

int lr_towers_feat_extract(const char *text, size_t ngram_min, size_t ngram_max, lr_feat_buf *buf) {
    if (lr_towers_feat_hashes(text, ngram_min, ngram_max, buf)) return -1;
    if (buf->n == 0) return 0;
    qsort(buf->v, buf->n, sizeof *buf->v, by_hash);
    size_t k = 0;
    for (size_t i = 0; i < buf->n; i++) {
        if (k && buf->v[k - 1].hash == buf->v[i].hash) buf->v[k - 1].count++;
        else buf->v[k++] = buf->v[i];
    }
    buf->n = k;
    return 0;
}

void lr_towers_feat_buf_free(lr_feat_buf *buf) {
    free(buf->v);
    memset(buf, 0, sizeof *buf);
}
