/* String tables for datasets: an arena list of strings and a hash map from string to index. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

static int grow(void **p, size_t *cap, size_t need, size_t elem, lr_err *err) {
    if (need <= *cap) return LR_OK;
    size_t c = *cap ? *cap : 16;
    while (c < need) c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q) return lr_err_set(err, LR_ENOMEM, "out of memory growing a string table to %zu entries", c);
    *p = q;
    *cap = c;
    return LR_OK;
}

int lr_data_strlist_push(lr_strlist *l, const char *s, size_t len, lr_err *err) {
    int rc = grow((void **)&l->off, &l->cap_n, l->n + 1, sizeof *l->off, err);
    if (rc) return rc;
    if (!s) {
        l->off[l->n++] = SIZE_MAX;
        return LR_OK;
    }
    rc = grow((void **)&l->buf, &l->cap, l->used + len + 1, 1, err);
    if (rc) return rc;
    memcpy(l->buf + l->used, s, len);
    l->buf[l->used + len] = '\0';
    l->off[l->n++] = l->used;
    l->used += len + 1;
    return LR_OK;
}

/* The old string stays in the arena: replacing is rare (text arriving after the token). */
int lr_data_strlist_set(lr_strlist *l, size_t i, const char *s, size_t len, lr_err *err) {
    if (i >= l->n) return lr_err_set(err, LR_ERANGE, "string %zu is past the end (%zu)", i, l->n);
    int rc = grow((void **)&l->buf, &l->cap, l->used + len + 1, 1, err);
    if (rc) return rc;
    memcpy(l->buf + l->used, s, len);
    l->buf[l->used + len] = '\0';
    l->off[i] = l->used;
    l->used += len + 1;
    return LR_OK;
}

const char *lr_data_strlist_get(const lr_strlist *l, size_t i) {
    if (i >= l->n || l->off[i] == SIZE_MAX) return NULL;
    return l->buf + l->off[i];
}

void lr_data_strlist_free(lr_strlist *l) {
    free(l->buf);
    free(l->off);
    memset(l, 0, sizeof *l);
}

/* FNV-1a: short keys, no adversary (keys come from the operator's own files). */
static uint64_t hash(const char *s, size_t len) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static int equal(const lr_strlist *l, int64_t idx, const char *s, size_t len) {
    const char *t = lr_data_strlist_get(l, (size_t)idx);
    return t && strncmp(t, s, len) == 0 && t[len] == '\0';
}

/* The slot holding s (hash h), or the empty slot where it would go. */
static size_t probe(const lr_strmap *m, const lr_strlist *l, const char *s, size_t len, uint64_t h) {
    size_t mask = m->cap - 1, i = h & mask;
    while (m->slots[i].idx >= 0 && !(m->slots[i].hash == h && equal(l, m->slots[i].idx, s, len))) i = (i + 1) & mask;
    return i;
}

int64_t lr_data_strmap_find(const lr_strmap *m, const lr_strlist *l, const char *s, size_t len) {
    return m->cap ? m->slots[probe(m, l, s, len, hash(s, len))].idx : -1;
}

static int rehash(lr_strmap *m, size_t cap, lr_err *err) {
    lr_strmap_slot *slots = malloc(cap * sizeof *slots);
    if (!slots) return lr_err_set(err, LR_ENOMEM, "out of memory growing a hash map to %zu slots", cap);
    for (size_t i = 0; i < cap; i++) slots[i].idx = -1;
    for (size_t j = 0; j < m->cap; j++) {
        if (m->slots[j].idx < 0) continue;
        size_t i = m->slots[j].hash & (cap - 1);
        while (slots[i].idx >= 0) i = (i + 1) & (cap - 1);
        slots[i] = m->slots[j];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return LR_OK;
}

int lr_data_strmap_intern(lr_strmap *m, lr_strlist *l, const char *s, size_t len, int64_t *index,
                     lr_err *err) {
    uint64_t h = hash(s, len);
    size_t at = m->cap ? probe(m, l, s, len, h) : 0;
    if (m->cap && m->slots[at].idx >= 0) {
        *index = m->slots[at].idx;
        return LR_OK;
    }
    if ((m->n + 1) * 2 > m->cap) { /* load factor at most 1/2 */
        int rc = rehash(m, m->cap ? m->cap * 2 : 64, err);
        if (rc) return rc;
        at = probe(m, l, s, len, h);
    }
    int rc = lr_data_strlist_push(l, s, len, err);
    if (rc) return rc;
    int64_t idx = (int64_t)(l->n - 1);
    m->slots[at] = (lr_strmap_slot){idx, h};
    m->n++;
    *index = idx;
    return LR_OK;
}

void lr_data_strmap_free(lr_strmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}
