/* Item attributes as a version stores them: per attribute, its distinct values sorted bytewise
 * (so a filter's strings are found by binary search) and each item's value ids (CSR). On disk,
 * attributes.safetensors: metadata {"format", "items", "attributes", "name.K"} and, per
 * attribute K, the tensors K.bytes (U8: the values, each NUL-terminated), K.value_offsets (U32,
 * values + 1), K.item_offsets (U32, items + 1) and K.item_values (U32). Everything is checked
 * when it is read: a damaged file that slipped past the checksum still cannot index outside. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"

int lr_index_attrs_new(size_t n_items, lr_index_attrs **out, lr_err *err) {
    if (n_items >= UINT32_MAX) return lr_err_set(err, LR_ERANGE, "attributes: %zu items, at most %u", n_items, UINT32_MAX - 1);
    if (!(*out = calloc(1, sizeof **out))) return lr_err_set(err, LR_ENOMEM, "attributes: out of memory");
    (*out)->n_items = n_items;
    return LR_OK;
}

void lr_index_attr_free(lr_index_attr *x) {
    free(x->bytes);
    free(x->voff);
    free(x->ioff);
    free(x->ids);
    free(x->poff);
    free(x->post);
    for (size_t v = 0; x->vbits && v < x->n_values; v++) free(x->vbits[v]);
    free(x->vbits);
    for (size_t j = 0; j < x->n_xval; j++) free(x->xval[j]);
    free(x->xval);
}

int lr_index_attr_postings(lr_index_attr *x, size_t n_items, lr_err *err) {
    size_t refs = x->ioff[n_items];
    x->poff = calloc(x->n_values + 1, sizeof *x->poff);
    x->post = malloc((refs ? refs : 1) * sizeof *x->post);
    if (!x->poff || !x->post) return lr_err_set(err, LR_ENOMEM, "attribute '%s': out of memory", x->name);
    for (size_t j = 0; j < refs; j++) x->poff[x->ids[j] + 1]++;
    for (size_t v = 0; v < x->n_values; v++) x->poff[v + 1] += x->poff[v];
    /* items in ascending order land in ascending order within each value */
    for (size_t i = 0; i < n_items; i++)
        for (uint32_t j = x->ioff[i]; j < x->ioff[i + 1]; j++) x->post[x->poff[x->ids[j]]++] = (uint32_t)i;
    for (size_t v = x->n_values; v > 0; v--) x->poff[v] = x->poff[v - 1];
    x->poff[0] = 0;
    if (!(x->vbits = calloc(x->n_values ? x->n_values : 1, sizeof *x->vbits)))
        return lr_err_set(err, LR_ENOMEM, "attribute '%s': out of memory", x->name);
    size_t words = (n_items + 63) / 64;
    for (size_t v = 0; v < x->n_values; v++) {
        if ((size_t)(x->poff[v + 1] - x->poff[v]) * 64 < n_items) continue;
        if (!(x->vbits[v] = calloc(words, sizeof **x->vbits)))
            return lr_err_set(err, LR_ENOMEM, "attribute '%s': out of memory", x->name);
        for (uint32_t j = x->poff[v]; j < x->poff[v + 1]; j++) x->vbits[v][x->post[j] / 64] |= 1ull << (x->post[j] % 64);
    }
    return LR_OK;
}

void lr_index_attrs_free(lr_index_attrs *a) {
    if (!a) return;
    for (size_t k = 0; k < a->n; k++) lr_index_attr_free(&a->a[k]);
    free(a->added);
    free(a->pool);
    free(a);
}

typedef struct {
    const char *s;
    uint32_t id;
} value_ref;

static int by_value(const void *x, const void *y) {
    return strcmp(((const value_ref *)x)->s, ((const value_ref *)y)->s);
}

/* The name's checks: 1 to LR_INDEX_ATTR_NAME_MAX bytes, new. */
static int check_name(const lr_index_attrs *a, const char *name, lr_err *err) {
    size_t len = name ? strlen(name) : 0;
    if (!len || len > LR_INDEX_ATTR_NAME_MAX)
        return lr_err_set(err, LR_EINVAL, "attributes: a name of 1 to %d bytes is needed, not '%.80s'",
                          LR_INDEX_ATTR_NAME_MAX, name ? name : "");
    if (lr_index_attrs_find(a, name) >= 0) return lr_err_set(err, LR_EINVAL, "attributes: '%s' given twice", name);
    if (a->n == LR_INDEX_MAX_ATTRS)
        return lr_err_set(err, LR_ERANGE, "attributes: '%s' would be one more than %d", name, LR_INDEX_MAX_ATTRS);
    return LR_OK;
}

/* Copies the values in ascending order into x; rank[old id] gets the new one. */
static int copy_sorted_values(lr_index_attr *x, const char *const *values, size_t n_values, uint32_t *rank, lr_err *err) {
    value_ref *order = malloc((n_values ? n_values : 1) * sizeof *order);
    size_t total = 0;
    for (size_t v = 0; v < n_values; v++) total += strlen(values[v]) + 1;
    x->voff = malloc((n_values + 1) * sizeof *x->voff);
    x->bytes = malloc(total ? total : 1);
    if (!order || !x->voff || !x->bytes || total > UINT32_MAX) {
        free(order);
        return lr_err_set(err, total > UINT32_MAX ? LR_ERANGE : LR_ENOMEM, "attribute '%s': %zu bytes of values",
                          x->name, total);
    }
    for (size_t v = 0; v < n_values; v++) order[v] = (value_ref){values[v], (uint32_t)v};
    qsort(order, n_values, sizeof *order, by_value);
    size_t at = 0;
    int rc = LR_OK;
    for (size_t r = 0; r < n_values && !rc; r++) {
        const char *s = order[r].s;
        if (!s[0] || (r && strcmp(s, order[r - 1].s) == 0))
            rc = lr_err_set(err, LR_EINVAL, "attribute '%s': value '%.60s' is %s", x->name, s,
                            s[0] ? "given twice" : "empty");
        rank[order[r].id] = (uint32_t)r;
        x->voff[r] = (uint32_t)at;
        size_t len = strlen(s) + 1;
        memcpy(x->bytes + at, s, len);
        at += len;
    }
    x->voff[n_values] = (uint32_t)at;
    x->n_values = n_values;
    free(order);
    return rc;
}

int lr_index_attrs_add(lr_index_attrs *a, const char *name, const char *const *values, size_t n_values,
                       const size_t *off, const uint32_t *ids, lr_err *err) {
    int rc = check_name(a, name, err);
    if (rc) return rc;
    size_t refs = off[a->n_items];
    if (n_values >= UINT32_MAX || refs >= UINT32_MAX || off[0] != 0)
        return lr_err_set(err, LR_ERANGE, "attribute '%s': %zu values, %zu item values", name, n_values, refs);
    lr_index_attr x = {0};
    snprintf(x.name, sizeof x.name, "%s", name);
    uint32_t *rank = malloc((n_values ? n_values : 1) * sizeof *rank);
    x.ioff = malloc((a->n_items + 1) * sizeof *x.ioff);
    x.ids = malloc((refs ? refs : 1) * sizeof *x.ids);
    rc = !rank || !x.ioff || !x.ids ? lr_err_set(err, LR_ENOMEM, "attribute '%s': out of memory", name)
                                    : copy_sorted_values(&x, values, n_values, rank, err);
    for (size_t i = 0; !rc && i < a->n_items; i++) {
        if (off[i + 1] < off[i]) rc = lr_err_set(err, LR_EINVAL, "attribute '%s': item %zu's offsets go back", name, i);
        x.ioff[i] = (uint32_t)off[i];
        for (size_t j = off[i]; !rc && j < off[i + 1]; j++) {
            if (ids[j] >= n_values)
                rc = lr_err_set(err, LR_EINVAL, "attribute '%s': item %zu has value %u of %zu", name, i, ids[j], n_values);
            else x.ids[j] = rank[ids[j]];
        }
    }
    x.ioff[a->n_items] = (uint32_t)refs;
    free(rank);
    if (!rc) rc = lr_index_attr_postings(&x, a->n_items, err);
    if (rc) {
        lr_index_attr_free(&x);
        return rc;
    }
    a->a[a->n++] = x;
    return LR_OK;
}

size_t lr_index_attrs_items(const lr_index_attrs *a) { return a->n_items; }
size_t lr_index_attrs_count(const lr_index_attrs *a) { return a->n; }
const char *lr_index_attrs_name(const lr_index_attrs *a, size_t k) { return k < a->n ? a->a[k].name : NULL; }

int lr_index_attrs_find(const lr_index_attrs *a, const char *name) {
    for (size_t k = 0; k < a->n; k++)
        if (strcmp(a->a[k].name, name) == 0) return (int)k;
    return -1;
}

size_t lr_index_attrs_num_values(const lr_index_attrs *a, size_t k) {
    return k < a->n ? a->a[k].n_values + a->a[k].n_xval : 0;
}

const char *lr_index_attrs_value(const lr_index_attrs *a, size_t k, size_t v) {
    if (k >= a->n) return NULL;
    const lr_index_attr *x = &a->a[k];
    return v < x->n_values ? x->bytes + x->voff[v] : v - x->n_values < x->n_xval ? x->xval[v - x->n_values] : NULL;
}

int64_t lr_index_attrs_find_value(const lr_index_attrs *a, size_t k, const char *s, size_t len) {
    if (k >= a->n) return -1;
    const lr_index_attr *x = &a->a[k];
    size_t lo = 0, hi = x->n_values;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *m = x->bytes + x->voff[mid];
        size_t mlen = x->voff[mid + 1] - x->voff[mid] - 1;
        int c = memcmp(m, s, mlen < len ? mlen : len);
        if (!c) c = (mlen > len) - (mlen < len);
        if (!c) return (int64_t)mid;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    for (size_t j = 0; j < x->n_xval; j++) /* values first seen on added items: few */
        if (strlen(x->xval[j]) == len && memcmp(x->xval[j], s, len) == 0) return (int64_t)(x->n_values + j);
    return -1;
}

const uint64_t *lr_index_attrs_value_bits(const lr_index_attrs *a, size_t k, size_t v) {
    return k < a->n && v < a->a[k].n_values ? a->a[k].vbits[v] : NULL;
}

const uint32_t *lr_index_attrs_items_with(const lr_index_attrs *a, size_t k, size_t v, size_t *n) {
    *n = 0;
    if (k >= a->n || v >= a->a[k].n_values) return NULL;
    const lr_index_attr *x = &a->a[k];
    *n = x->poff[v + 1] - x->poff[v];
    return *n ? x->post + x->poff[v] : NULL;
}

const uint32_t *lr_index_attrs_of(const lr_index_attrs *a, size_t k, int64_t item, size_t *n) {
    *n = 0;
    const lr_index_added_ref *g = k < a->n ? lr_index_attrs_added_of(a, item) : NULL;
    if (g) {
        *n = g[k].n;
        return *n ? a->pool + g[k].off : NULL;
    }
    if (k >= a->n || item < 0 || (uint64_t)item >= a->n_items) return NULL;
    const lr_index_attr *x = &a->a[k];
    *n = x->ioff[item + 1] - x->ioff[item];
    return *n ? x->ids + x->ioff[item] : NULL;
}
