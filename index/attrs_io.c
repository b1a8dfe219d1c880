/* attributes.safetensors: writing the attributes and reading them back, checking everything a
 * search will index with (the layout is in attrs.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"

#define FORMAT "learnrec-attributes-1"

int lr_index_attrs_save(const lr_index_attrs *a, const char *path, lr_err *err) {
    lr_data_st_raw t[4 * LR_INDEX_MAX_ATTRS];
    char names[4 * LR_INDEX_MAX_ATTRS][32], meta_names[LR_INDEX_MAX_ATTRS][32], items[32], count[32];
    const char *keys[3 + LR_INDEX_MAX_ATTRS] = {"format", "items", "attributes"};
    const char *vals[3 + LR_INDEX_MAX_ATTRS] = {FORMAT, items, count};
    snprintf(items, sizeof items, "%zu", a->n_items);
    snprintf(count, sizeof count, "%zu", a->n);
    for (size_t k = 0; k < a->n; k++) {
        const lr_index_attr *x = &a->a[k];
        static const char *const part[4] = {"bytes", "value_offsets", "item_offsets", "item_values"};
        for (int p = 0; p < 4; p++) snprintf(names[4 * k + p], sizeof names[0], "%zu.%s", k, part[p]);
        t[4 * k + 0] = (lr_data_st_raw){names[4 * k + 0], "U8", x->bytes, 1, {x->voff[x->n_values]}};
        t[4 * k + 1] = (lr_data_st_raw){names[4 * k + 1], "U32", x->voff, 1, {x->n_values + 1}};
        t[4 * k + 2] = (lr_data_st_raw){names[4 * k + 2], "U32", x->ioff, 1, {a->n_items + 1}};
        t[4 * k + 3] = (lr_data_st_raw){names[4 * k + 3], "U32", x->ids, 1, {x->ioff[a->n_items]}};
        snprintf(meta_names[k], sizeof meta_names[k], "name.%zu", k);
        keys[3 + k] = meta_names[k];
        vals[3 + k] = x->name;
    }
    return lr_data_st_write_raw(path, t, 4 * a->n, keys, vals, 3 + a->n, err);
}

/* A whole decimal number below limit from the metadata, or LR_EFORMAT. */
static int meta_size(const lr_data_st_file *f, const char *path, const char *key, size_t limit, size_t *out,
                     lr_err *err) {
    const char *s = lr_data_st_meta(f, key);
    char *end;
    errno = 0;
    unsigned long long v = s && s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
    if (!s || s[0] < '0' || s[0] > '9' || *end || errno || v >= limit)
        return lr_err_set(err, LR_EFORMAT, "%s: metadata '%s' is %s, expected a count below %zu", path, key,
                          s ? s : "missing", limit);
    *out = (size_t)v;
    return LR_OK;
}

int lr_index_st_copy(const lr_data_st_file *f, const char *path, const char *name, const char *dtype, size_t want,
                     void **out, size_t *n, lr_err *err) {
    lr_data_st_view v;
    int rc = lr_data_st_get(f, name, &v, err);
    if (rc) return rc == LR_ENOTFOUND ? lr_err_set(err, LR_EFORMAT, "%s: no tensor '%s'", path, name) : rc;
    if (strcmp(v.dtype, dtype) != 0 || v.ndim != 1 || (want != SIZE_MAX && v.numel != want)) {
        char expected[32] = "n";
        if (want != SIZE_MAX) snprintf(expected, sizeof expected, "%zu", want);
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s' is %s of %zu dimensions and %zu elements, expected %s[%s]",
                          path, name, v.dtype, v.ndim, v.numel, dtype, expected);
    }
    if (!(*out = malloc(v.bytes ? v.bytes : 1))) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    if (v.bytes) memcpy(*out, v.data, v.bytes); /* a copy: the file's alignment is its own */
    if (n) *n = v.numel;
    return LR_OK;
}

/* Tensor "K.part" of attribute K (U8 when u8, else U32). */
static int read_part(const lr_data_st_file *f, const char *path, size_t k, const char *part, int u8, size_t want,
                     void **out, size_t *n, lr_err *err) {
    char name[64];
    snprintf(name, sizeof name, "%zu.%s", k, part);
    return lr_index_st_copy(f, path, name, u8 ? "U8" : "U32", want, out, n, err);
}

/* Offsets from 0, never decreasing, ending at total. */
static int offsets_ok(const uint32_t *off, size_t n, size_t total) {
    if (off[0] != 0 || off[n] != total) return 0;
    for (size_t i = 0; i < n; i++)
        if (off[i + 1] < off[i]) return 0;
    return 1;
}

/* The values: each non-empty, NUL-terminated with no NUL inside, strictly ascending. */
static int values_ok(const lr_index_attr *x, size_t n_bytes) {
    if (!offsets_ok(x->voff, x->n_values, n_bytes)) return 0;
    for (size_t v = 0; v < x->n_values; v++) {
        size_t len = x->voff[v + 1] - x->voff[v];
        const char *s = x->bytes + x->voff[v];
        if (len < 2 || s[len - 1] != '\0' || strlen(s) != len - 1) return 0;
        if (v && strcmp(x->bytes + x->voff[v - 1], s) >= 0) return 0;
    }
    return 1;
}

static int read_attr(const lr_data_st_file *f, const char *path, size_t k, size_t items, lr_index_attr *x,
                     lr_err *err) {
    char key[32];
    snprintf(key, sizeof key, "name.%zu", k);
    const char *name = lr_data_st_meta(f, key);
    if (!name || !name[0] || strlen(name) > LR_INDEX_ATTR_NAME_MAX)
        return lr_err_set(err, LR_EFORMAT, "%s: metadata '%s' is not a name of 1 to %d bytes", path, key,
                          LR_INDEX_ATTR_NAME_MAX);
    snprintf(x->name, sizeof x->name, "%s", name);
    size_t n_bytes, n_voff, n_ioff, n_ids;
    int rc = read_part(f, path, k, "bytes", 1, SIZE_MAX, (void **)&x->bytes, &n_bytes, err);
    if (!rc) rc = read_part(f, path, k, "value_offsets", 0, SIZE_MAX, (void **)&x->voff, &n_voff, err);
    if (!rc) rc = read_part(f, path, k, "item_offsets", 0, items + 1, (void **)&x->ioff, &n_ioff, err);
    if (!rc) rc = read_part(f, path, k, "item_values", 0, SIZE_MAX, (void **)&x->ids, &n_ids, err);
    if (rc) return rc;
    x->n_values = n_voff ? n_voff - 1 : 0;
    if (!n_voff || !values_ok(x, n_bytes))
        return lr_err_set(err, LR_EFORMAT, "%s: attribute '%s': the values are not distinct, sorted, non-empty "
                          "strings", path, name);
    if (!offsets_ok(x->ioff, items, n_ids))
        return lr_err_set(err, LR_EFORMAT, "%s: attribute '%s': item offsets do not run from 0 to %zu", path, name,
                          n_ids);
    for (size_t j = 0; j < n_ids; j++)
        if (x->ids[j] >= x->n_values)
            return lr_err_set(err, LR_EFORMAT, "%s: attribute '%s': value id %u of %zu", path, name, x->ids[j],
                              x->n_values);
    return lr_index_attr_postings(x, items, err);
}

int lr_index_attrs_load(const char *path, lr_index_attrs **out, lr_err *err) {
    *out = NULL;
    lr_data_st_file *f;
    int rc = lr_data_st_open(path, &f, err);
    if (rc) return rc;
    const char *fmt = lr_data_st_meta(f, "format");
    size_t items = 0, n = 0;
    if (!fmt || strcmp(fmt, FORMAT) != 0)
        rc = lr_err_set(err, LR_EFORMAT, "%s: format '%s', expected '" FORMAT "'", path, fmt ? fmt : "(none)");
    if (!rc) rc = meta_size(f, path, "items", UINT32_MAX, &items, err);
    if (!rc) rc = meta_size(f, path, "attributes", LR_INDEX_MAX_ATTRS + 1, &n, err);
    if (!rc && lr_data_st_count(f) != 4 * n)
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu tensors for %zu attributes (4 each)", path, lr_data_st_count(f), n);
    lr_index_attrs *a = NULL;
    if (!rc) rc = lr_index_attrs_new(items, &a, err);
    for (size_t k = 0; !rc && k < n; k++) {
        rc = read_attr(f, path, k, items, &a->a[k], err);
        a->n = k + 1; /* owned from here, freed with a on failure */
        if (!rc && lr_index_attrs_find(a, a->a[k].name) != (int)k)
            rc = lr_err_set(err, LR_EFORMAT, "%s: attribute '%s' appears twice", path, a->a[k].name);
    }
    lr_data_st_free(f);
    if (rc) lr_index_attrs_free(a);
    else *out = a;
    return rc;
}
