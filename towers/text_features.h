/* Inside towers/: turning a text into hashed features for the built-in encoder. */
#ifndef LR_TEXT_FEATURES_H
#define LR_TEXT_FEATURES_H

#include <stddef.h>
#include <stdint.h>

enum { LR_FEAT_WORD = 0, LR_FEAT_BIGRAM = 1, LR_FEAT_CHAR = 2, LR_FEAT_GROUPS = 3 };

/* A feature: a 64-bit hash whose low 2 bits hold its group, and how often it occurs. */
typedef struct {
    uint64_t hash;
    uint32_t count;
} lr_feat;

/* A reusable buffer of one text's features; grows as needed. */
typedef struct {
    lr_feat *v;
    size_t n, cap;
} lr_feat_buf;

static inline int lr_towers_feat_group(uint64_t hash) { return (int)(hash & 3u); }

/* Extracts the distinct features of `text` (NULL is empty) with their counts, sorted by hash:
 * lowercased ASCII words (runs of letters and digits; bytes >= 0x80 count as letters), word
 * bigrams, and character n-grams of each word padded with a space on both sides.
 * Returns 0, or -1 when out of memory. */
int lr_towers_feat_extract(const char *text, size_t ngram_min, size_t ngram_max, lr_feat_buf *buf);

/* The same features unsorted, one entry per occurrence (count 1): the encoder's fast path. */
int lr_towers_feat_hashes(const char *text, size_t ngram_min, size_t ngram_max, lr_feat_buf *buf);

void lr_towers_feat_buf_free(lr_feat_buf *buf);

/* A well-mixed 64-bit function of x (splitmix64's finaliser). */
static inline uint64_t lr_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

#endif /* LR_TEXT_FEATURES_H */
