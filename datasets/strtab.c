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

int64_t lr_data_strmap_find(const lr_strmap *m, const lr_strlist *l, const char *s, size_t len) {
    if (!m->cap) return -1;
    size_t mask = m->cap - 1;
    for (size_t i = hash(s, len) & mask;; i = (i + 1) & mask) {
        int64_t idx = m->slots[i];
        if (idx < 0) return -1;
        if (equal(l, idx, s, len)) return idx;
    }
}

static int rehash(lr_strmap *m, const lr_strlist *l, size_t cap, lr_err *err) {
    int64_t *slots = malloc(cap * sizeof *slots);
    if (!slots) return lr_err_set(err, LR_ENOMEM, "out of memory growing a hash map to %zu slots", cap);
    for (size_t i = 0; i < cap; i++) slots[i] = -1;
    for (size_t j = 0; j < m->cap; j++) {
        int64_t idx = m->slots[j];
        if (idx < 0) continue;
        const char *t = lr_data_strlist_get(l, (size_t)idx);
        size_t i = hash(t, strlen(t)) & (cap - 1);
        while (slots[i] >= 0) i = (i + 1) & (cap - 1);
        slots[i] = idx;
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return LR_OK;
}

int lr_data_strmap_intern(lr_strmap *m, lr_strlist *l, const char *s, size_t len, int64_t *index,
                     lr_err *err) {
    int64_t found = lr_data_strmap_find(m, l, s, len);
    if (found >= 0) {
        *index = found;
        return LR_OK;
    }
    if ((m->n + 1) * 2 > m->cap) { /* load factor at most 1/2 */
        int rc = rehash(m, l, m->cap ? m->cap * 2 : 64, err);
        if (rc) return rc;
    }
    int rc = lr_data_strlist_push(l, s, len, err);
    if (rc) return rc;
    int64_t idx = (int64_t)(l->n - 1);
    size_t i = hash(s, len) & (m->cap - 1);
    while (m->slots[i] >= 0) i = (i + 1) & (m->cap - 1);
    m->slots[i] = idx;
    m->n++;
    *index = idx;
    return LR_OK;
}

void lr_data_strmap_free(lr_strmap *m) {
    free(m->slots);
    memset(m, 0, sizeof *m);
}
