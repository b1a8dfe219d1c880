/* A map from item id to a row number: open addressing with linear probing, power-of-two size. */
#include <stdlib.h>

#include "rpc_internal.h"

#define EMPTY INT64_MIN /* no item id is INT64_MIN: the protocol's ids are positive or small */

static size_t slot_of(int64_t id, size_t mask) {
    uint64_t z = (uint64_t)id * 0x9e3779b97f4a7c15ULL; /* Fibonacci hashing spreads dense ids */
    return (size_t)(z >> 17) & mask;
}

void lr_rpc_idmap_clear(lr_idmap *m) {
    free(m->keys);
    free(m->vals);
    *m = (lr_idmap){0};
}

int64_t lr_rpc_idmap_get(const lr_idmap *m, int64_t id) {
    if (!m->cap || id == EMPTY) return -1;
    for (size_t i = slot_of(id, m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == id) return m->vals[i];
        if (m->keys[i] == EMPTY) return -1;
    }
}

static void insert(lr_idmap *m, int64_t id, int64_t val) {
    size_t i = slot_of(id, m->cap - 1);
    while (m->keys[i] != EMPTY && m->keys[i] != id) i = (i + 1) & (m->cap - 1);
    m->count += m->keys[i] == EMPTY;
    m->keys[i] = id;
    m->vals[i] = val;
}

int lr_rpc_idmap_put(lr_idmap *m, int64_t id, int64_t val) {
    if (id == EMPTY) return -1;
    if ((m->count + 1) * 2 > m->cap) { /* keep it at most half full */
        size_t cap = m->cap ? m->cap * 2 : 64;
        lr_idmap grown = {malloc(cap * sizeof *grown.keys), malloc(cap * sizeof *grown.vals), 0, cap};
        if (!grown.keys || !grown.vals) {
            free(grown.keys);
            free(grown.vals);
            return -1;
        }
        for (size_t i = 0; i < cap; i++) grown.keys[i] = EMPTY;
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i] != EMPTY && m->vals[i] >= 0) insert(&grown, m->keys[i], m->vals[i]);
        lr_rpc_idmap_clear(m);
        *m = grown;
    }
    insert(m, id, val);
    return 0;
}
