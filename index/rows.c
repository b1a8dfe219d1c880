/* What each id of a version stood for: the item's key (its id in the catalogue's files) and a
 * hash of the content the vector was made from. The next rebuild compares them to reuse what did
 * not change. On disk, rows.safetensors: metadata {"format", "rows"} and the tensors key_bytes
 * (U8: the keys, each NUL-terminated, in row order), key_offsets (U64, rows + 1) and hash (U64). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"

#define FORMAT "learnrec-rows-1"

struct lr_index_rows {
    size_t n;
    char **keys;      /* n, malloc'd each (builder) ... */
    char *bytes;      /* ... or one block (loaded) */
    uint64_t *hash;
    int64_t *table;   /* open addressing over keys (loaded): row or -1 */
    size_t cap;
};

int lr_index_rows_new(size_t n, lr_index_rows **out, lr_err *err) {
    lr_index_rows *r = calloc(1, sizeof *r);
    if (r) r->keys = calloc(n ? n : 1, sizeof *r->keys), r->hash = calloc(n ? n : 1, sizeof *r->hash);
    if (!r || !r->keys || !r->hash) {
        lr_index_rows_free(r);
        return lr_err_set(err, LR_ENOMEM, "rows: out of memory for %zu", n);
    }
    r->n = n;
    *out = r;
    return LR_OK;
}

void lr_index_rows_free(lr_index_rows *r) {
    if (!r) return;
    if (!r->bytes)
        for (size_t i = 0; r->keys && i < r->n; i++) free(r->keys[i]);
    free(r->keys);
    free(r->bytes);
    free(r->hash);
    free(r->table);
    free(r);
}

int lr_index_rows_set(lr_index_rows *r, size_t i, const char *key, uint64_t hash, lr_err *err) {
    if (i >= r->n || r->bytes) return lr_err_set(err, LR_EINVAL, "rows: row %zu of %zu, or rows read from a file", i, r->n);
    char *k = strdup(key ? key : "");
    if (!k) return lr_err_set(err, LR_ENOMEM, "rows: out of memory");
    free(r->keys[i]);
    r->keys[i] = k;
    r->hash[i] = hash;
    return LR_OK;
}

size_t lr_index_rows_count(const lr_index_rows *r) { return r->n; }
const char *lr_index_rows_key(const lr_index_rows *r, size_t i) { return i < r->n && r->keys[i] ? r->keys[i] : ""; }
uint64_t lr_index_rows_hash(const lr_index_rows *r, size_t i) { return i < r->n ? r->hash[i] : 0; }

static uint64_t key_hash(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

int64_t lr_index_rows_find(const lr_index_rows *r, const char *key) {
    if (!r->table) {
        for (size_t i = 0; i < r->n; i++)
            if (r->keys[i] && strcmp(r->keys[i], key) == 0) return (int64_t)i;
        return -1;
    }
    for (size_t s = key_hash(key) & (r->cap - 1);; s = (s + 1) & (r->cap - 1)) {
        if (r->table[s] < 0) return -1;
        if (strcmp(r->keys[r->table[s]], key) == 0) return r->table[s];
    }
}

/* The lookup table over the keys; a key twice is a damaged file. */
static int build_table(lr_index_rows *r, const char *path, lr_err *err) {
    r->cap = 16;
    while (r->cap < 2 * r->n) r->cap *= 2;
    if (!(r->table = malloc(r->cap * sizeof *r->table))) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    memset(r->table, 0xff, r->cap * sizeof *r->table);
    for (size_t i = 0; i < r->n; i++) {
        size_t s = key_hash(r->keys[i]) & (r->cap - 1);
        for (; r->table[s] >= 0; s = (s + 1) & (r->cap - 1))
            if (strcmp(r->keys[r->table[s]], r->keys[i]) == 0)
                return lr_err_set(err, LR_EFORMAT, "%s: key '%.60s' appears twice", path, r->keys[i]);
        r->table[s] = (int64_t)i;
    }
    return LR_OK;
}

int lr_index_rows_save(const lr_index_rows *r, const char *path, lr_err *err) {
    size_t total = 0;
    for (size_t i = 0; i < r->n; i++) total += strlen(lr_index_rows_key(r, i)) + 1;
    char *bytes = malloc(total ? total : 1);
    uint64_t *off = malloc((r->n + 1) * sizeof *off);
    if (!bytes || !off) {
        free(bytes), free(off);
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    }
    off[0] = 0;
    for (size_t i = 0; i < r->n; i++) {
        size_t len = strlen(lr_index_rows_key(r, i)) + 1;
        memcpy(bytes + off[i], lr_index_rows_key(r, i), len);
        off[i + 1] = off[i] + len;
    }
    char n[32];
    snprintf(n, sizeof n, "%zu", r->n);
    const char *keys[2] = {"format", "rows"}, *vals[2] = {FORMAT, n};
    lr_data_st_raw t[3] = {{"key_bytes", "U8", bytes, 1, {total}}, {"key_offsets", "U64", off, 1, {r->n + 1}},
                           {"hash", "U64", r->hash, 1, {r->n}}};
    int rc = lr_data_st_write_raw(path, t, 3, keys, vals, 2, err);
    free(bytes), free(off);
    return rc;
}

/* keys[i] into the block, after checking the offsets and the NULs. */
static int point_keys(lr_index_rows *r, const uint64_t *off, size_t n_bytes, const char *path, lr_err *err) {
    int ok = off[0] == 0 && off[r->n] == n_bytes;
    for (size_t i = 0; ok && i < r->n; i++) ok = off[i + 1] > off[i]; /* all of them before any is used */
    if (!ok)
        return lr_err_set(err, LR_EFORMAT, "%s: key offsets do not rise from 0 to %zu", path, n_bytes);
    for (size_t i = 0; i < r->n; i++) {
        if (r->bytes[off[i + 1] - 1] != '\0' || strlen(r->bytes + off[i]) != off[i + 1] - off[i] - 1)
            return lr_err_set(err, LR_EFORMAT, "%s: key %zu is not one NUL-terminated string", path, i);
        r->keys[i] = r->bytes + off[i];
    }
    return LR_OK;
}

int lr_index_rows_load(const char *path, lr_index_rows **out, lr_err *err) {
    *out = NULL;
    lr_data_st_file *f;
    int rc = lr_data_st_open(path, &f, err);
    if (rc) return rc;
    const char *fmt = lr_data_st_meta(f, "format"), *ns = lr_data_st_meta(f, "rows");
    char *end = NULL;
    unsigned long long n = ns ? strtoull(ns, &end, 10) : 0;
    lr_index_rows *r = calloc(1, sizeof *r);
    uint64_t *off = NULL;
    size_t n_bytes = 0;
    if (!r) rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    else if (!fmt || strcmp(fmt, FORMAT) || !ns || !*ns || *end || n >= (1ull << 40))
        rc = lr_err_set(err, LR_EFORMAT, "%s: not a rows file of format " FORMAT, path);
    if (!rc) {
        r->n = (size_t)n;
        if (!(r->keys = calloc(r->n ? r->n : 1, sizeof *r->keys))) rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    }
    if (!rc) rc = lr_index_st_copy(f, path, "key_bytes", "U8", SIZE_MAX, (void **)&r->bytes, &n_bytes, err);
    if (!rc) rc = lr_index_st_copy(f, path, "key_offsets", "U64", r->n + 1, (void **)&off, NULL, err);
    if (!rc) rc = lr_index_st_copy(f, path, "hash", "U64", r->n, (void **)&r->hash, NULL, err);
    if (!rc) rc = point_keys(r, off, n_bytes, path, err);
    if (!rc) rc = build_table(r, path, err);
    free(off);
    lr_data_st_free(f);
    if (rc) {
        if (r && !r->bytes) r->n = 0; /* no keys of its own to free */
        lr_index_rows_free(r);
    } else {
        *out = r;
    }
    return rc;
}
