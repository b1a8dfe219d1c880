/* Item attributes: per attribute, the distinct values and each item's value ids (CSR), built
 * once when a dataset is finished, from the brand and category fields and the extra columns a
 * loader declared. Filters and diversity caps downstream work on these ids. */
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

int lr_data_builder_extra_attr(lr_data_builder *b, const char *name, lr_attr_split split,
                               size_t *index, lr_err *err) {
    lr_data *d = b->d;
    for (size_t i = 0; i < d->n_extra; i++)
        if (strcmp(d->extra[i].name, name) == 0) {
            d->extra[i].split = split;
            *index = i;
            return LR_OK;
        }
    /* brand and category take two of the slots a served version has */
    if (d->n_extra >= LR_DATA_MAX_ATTRS - 2)
        return lr_err_set(err, LR_ERANGE, "column '%.60s': more than %d attribute columns", name,
                          LR_DATA_MAX_ATTRS - 2);
    lr_data_attr *a = &d->extra[d->n_extra];
    memset(a, 0, sizeof *a);
    if (!(a->name = strdup(name))) return lr_err_set(err, LR_ENOMEM, "out of memory for column '%.60s'", name);
    a->split = split;
    *index = d->n_extra++;
    return LR_OK;
}

int lr_data_builder_item_extra(lr_data_builder *b, size_t item, size_t extra, const char *value,
                               lr_err *err) {
    lr_strlist *raw = &b->d->extra[extra].raw;
    while (raw->n <= item) {
        int rc = lr_data_strlist_push(raw, NULL, 0, err);
        if (rc) return rc;
    }
    if (!value || !value[0]) return LR_OK;
    return lr_data_strlist_set(raw, item, value, strlen(value), err);
}

/* The next value of s (split as `split`) from *p: its start and length, or 0 at the end. */
static int next_value(const char **p, lr_attr_split split, const char **v, size_t *len) {
    const char *s = *p;
    if (split == LR_ATTR_TOKENS)
        while (*s == ' ') s++;
    if (!*s) return 0;
    const char *end;
    if (split == LR_ATTR_ONE) end = s + strlen(s);
    else if (split == LR_ATTR_TOKENS) end = s + strcspn(s, " ");
    else end = (end = strstr(s, " > ")) ? end : s + strlen(s);
    *v = s;
    *len = (size_t)(end - s);
    *p = !*end ? end : split == LR_ATTR_PATH ? end + 3 : end + 1;
    return 1;
}

/* Appends item's values (from raw, NULL: none) to a, skipping empty and repeated ones. */
static int add_item_values(lr_data_attr *a, const char *raw, size_t *used, size_t *cap, lr_err *err) {
    const char *v;
    size_t len, first = *used;
    for (const char *p = raw; p && next_value(&p, a->split, &v, &len);) {
        if (!len) continue;
        int64_t id;
        int rc = lr_data_strmap_intern(&a->value_index, &a->values, v, len, &id, err);
        if (rc) return rc;
        if (id > (int64_t)UINT32_MAX - 1)
            return lr_err_set(err, LR_ERANGE, "attribute '%s': more than %u distinct values", a->name, UINT32_MAX - 1);
        int seen = 0;
        for (size_t k = first; k < *used && !seen; k++) seen = a->ids[k] == (uint32_t)id;
        if (seen) continue;
        if (*used == *cap) {
            size_t nc = *cap ? *cap * 2 : 1024;
            uint32_t *ids = realloc(a->ids, nc * sizeof *ids);
            if (!ids) return lr_err_set(err, LR_ENOMEM, "attribute '%s': out of memory", a->name);
            a->ids = ids;
            *cap = nc;
        }
        a->ids[(*used)++] = (uint32_t)id;
    }
    return LR_OK;
}

/* Builds attribute a over n items, item i's values split from src's entry i. */
static int build_one(lr_data_attr *a, size_t n, const lr_strlist *src, lr_err *err) {
    size_t used = 0, cap = 0;
    if (!(a->off = malloc((n + 1) * sizeof *a->off)))
        return lr_err_set(err, LR_ENOMEM, "attribute '%s': out of memory", a->name);
    a->off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = add_item_values(a, lr_data_strlist_get(src, i), &used, &cap, err);
        if (rc) return rc;
        a->off[i + 1] = used;
    }
    return LR_OK;
}

static void attr_free(lr_data_attr *a) {
    free(a->name);
    lr_data_strlist_free(&a->raw);
    lr_data_strlist_free(&a->values);
    lr_data_strmap_free(&a->value_index);
    free(a->off);
    free(a->ids);
    memset(a, 0, sizeof *a);
}

/* Adds an attribute named name over n items from src; kept only when some item has a value. */
static int add_attr(lr_data *d, const char *name, lr_attr_split split, const lr_strlist *src, lr_err *err) {
    lr_data_attr *a = &d->attrs[d->n_attrs];
    memset(a, 0, sizeof *a);
    a->split = split;
    if (!(a->name = strdup(name))) return lr_err_set(err, LR_ENOMEM, "out of memory for attribute '%s'", name);
    int rc = build_one(a, d->item_tokens.n, src, err);
    if (rc || a->values.n == 0) {
        attr_free(a);
        return rc;
    }
    d->n_attrs++;
    return LR_OK;
}

int lr_data_attrs_build(lr_data *d, lr_err *err) {
    int rc = add_attr(d, "brand", LR_ATTR_ONE, &d->item_fields[LR_FIELD_BRAND], err);
    if (!rc)
        rc = add_attr(d, "category", d->category_split ? d->category_split : LR_ATTR_PATH,
                      &d->item_fields[LR_FIELD_CATEGORY], err);
    for (size_t i = 0; !rc && i < d->n_extra; i++) {
        if (lr_data_find_attr(d, d->extra[i].name) >= 0) continue; /* a field's name wins */
        rc = add_attr(d, d->extra[i].name, d->extra[i].split, &d->extra[i].raw, err);
    }
    for (size_t i = 0; i < d->n_extra; i++) attr_free(&d->extra[i]);
    d->n_extra = 0;
    return rc;
}

void lr_data_attrs_free(lr_data *d) {
    for (size_t i = 0; i < d->n_attrs; i++) attr_free(&d->attrs[i]);
    for (size_t i = 0; i < d->n_extra; i++) attr_free(&d->extra[i]);
    d->n_attrs = d->n_extra = 0;
}

size_t lr_data_num_attrs(const lr_data *d) { return d->n_attrs; }

const char *lr_data_attr_name(const lr_data *d, size_t attr) {
    return attr < d->n_attrs ? d->attrs[attr].name : NULL;
}

int lr_data_find_attr(const lr_data *d, const char *name) {
    for (size_t i = 0; i < d->n_attrs; i++)
        if (strcmp(d->attrs[i].name, name) == 0) return (int)i;
    return -1;
}

size_t lr_data_attr_num_values(const lr_data *d, size_t attr) {
    return attr < d->n_attrs ? d->attrs[attr].values.n : 0;
}

const char *lr_data_attr_value(const lr_data *d, size_t attr, size_t value) {
    return attr < d->n_attrs ? lr_data_strlist_get(&d->attrs[attr].values, value) : NULL;
}

const uint32_t *lr_data_item_attr(const lr_data *d, size_t item, size_t attr, size_t *n) {
    *n = 0;
    if (attr >= d->n_attrs || item >= d->item_tokens.n) return NULL;
    const lr_data_attr *a = &d->attrs[attr];
    *n = a->off[item + 1] - a->off[item];
    return *n ? a->ids + a->off[item] : NULL;
}
