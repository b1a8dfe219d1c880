/* Filters over items: allow and deny clauses on attribute values and on ids, compiled against one
 * version's attributes into bitsets over each attribute's values, so that the check FAISS makes
 * for every code it scans is a few loads. */
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"

#define MAX_CLAUSES (2 * LR_INDEX_MAX_ATTRS)

typedef struct {
    size_t attr;
    int deny;
    uint64_t *bits;  /* over the attribute's values */
    size_t estimate; /* allow: items holding one of the values (an upper bound: an item may hold several) */
    uint32_t *values; /* the values set, for enumerating their items */
    size_t n_values;
} clause;

struct lr_index_filter {
    const lr_index_attrs *a;
    clause c[MAX_CLAUSES];
    size_t n;
    int64_t *allow_ids, *deny_ids; /* sorted, distinct */
    size_t n_allow, n_deny;
    int has_allow_ids;
};

int lr_index_filter_new(const lr_index_attrs *attrs, lr_index_filter **out, lr_err *err) {
    if (!(*out = calloc(1, sizeof **out))) return lr_err_set(err, LR_ENOMEM, "filter: out of memory");
    (*out)->a = attrs;
    return LR_OK;
}

void lr_index_filter_free(lr_index_filter *f) {
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        free(f->c[i].bits);
        free(f->c[i].values);
    }
    free(f->allow_ids);
    free(f->deny_ids);
    free(f);
}

/* The attribute's names for a message: "brand, category" (or "none"). */
static void attr_names(const lr_index_attrs *a, char *out, size_t cap) {
    size_t at = 0;
    out[0] = '\0';
    for (size_t k = 0; a && k < lr_index_attrs_count(a) && at < cap; k++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", k ? ", " : "", lr_index_attrs_name(a, k));
    if (!out[0]) snprintf(out, cap, "none");
}

int lr_index_filter_values(lr_index_filter *f, const char *attr, const char *const *values, const size_t *lens,
                           size_t n, int deny, lr_err *err) {
    int k = f->a ? lr_index_attrs_find(f->a, attr) : -1;
    if (k < 0) {
        char names[256];
        attr_names(f->a, names, sizeof names);
        return lr_err_set(err, LR_EINVAL, "filter: no attribute '%.60s' in the served version (it has: %s)", attr, names);
    }
    if (f->n == MAX_CLAUSES) return lr_err_set(err, LR_EINVAL, "filter: more than %d clauses", MAX_CLAUSES);
    size_t nv = lr_index_attrs_num_values(f->a, (size_t)k);
    clause c = {(size_t)k, deny, calloc((nv + 63) / 64 + 1, sizeof(uint64_t)), 0,
                malloc((n ? n : 1) * sizeof(uint32_t)), 0};
    if (!c.bits || !c.values) {
        free(c.bits);
        free(c.values);
        return lr_err_set(err, LR_ENOMEM, "filter: out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        int64_t v = lr_index_attrs_find_value(f->a, (size_t)k, values[i], lens[i]);
        if (v < 0 || (c.bits[v / 64] >> (v % 64) & 1)) continue; /* a value no item holds matches none */
        c.bits[v / 64] |= 1ull << (v % 64);
        c.values[c.n_values++] = (uint32_t)v;
        size_t m;
        lr_index_attrs_items_with(f->a, (size_t)k, (size_t)v, &m);
        c.estimate += m;
    }
    c.estimate += lr_index_attrs_added_holding(f->a, (size_t)k, c.bits, NULL);
    f->c[f->n++] = c;
    return LR_OK;
}

static int cmp_i64(const void *x, const void *y) {
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

/* Sorts n ids in place and drops repeats; returns how many stay. */
static size_t sort_unique(int64_t *ids, size_t n) {
    qsort(ids, n, sizeof *ids, cmp_i64);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (!w || ids[i] != ids[w - 1]) ids[w++] = ids[i];
    return w;
}

/* ids sorted and made distinct into a fresh array (*out, *m). */
static int sorted_ids(const int64_t *ids, size_t n, int64_t **out, size_t *m, lr_err *err) {
    int64_t *s = malloc((n ? n : 1) * sizeof *s);
    if (!s) return lr_err_set(err, LR_ENOMEM, "filter: out of memory for %zu ids", n);
    if (n) memcpy(s, ids, n * sizeof *s);
    *m = sort_unique(s, n);
    *out = s;
    return LR_OK;
}

static int has_id(const int64_t *s, size_t n, int64_t id) {
    return n && bsearch(&id, s, n, sizeof *s, cmp_i64) != NULL;
}

int lr_index_filter_ids(lr_index_filter *f, const int64_t *ids, size_t n, int deny, lr_err *err) {
    int64_t **dst = deny ? &f->deny_ids : &f->allow_ids, *s = NULL;
    size_t *dn = deny ? &f->n_deny : &f->n_allow, m = 0;
    if (*dst) return lr_err_set(err, LR_EINVAL, "filter: the %s ids are given twice", deny ? "denied" : "allowed");
    int rc = sorted_ids(ids, n, &s, &m, err);
    if (rc) return rc;
    *dst = s;
    *dn = m;
    if (!deny) f->has_allow_ids = 1;
    return LR_OK;
}

int lr_index_filter_allows(const lr_index_filter *f, int64_t id) {
    if (f->has_allow_ids && !has_id(f->allow_ids, f->n_allow, id)) return 0;
    if (has_id(f->deny_ids, f->n_deny, id)) return 0;
    for (size_t i = 0; i < f->n; i++) {
        const clause *c = &f->c[i];
        size_t n;
        const uint32_t *v = lr_index_attrs_of(f->a, c->attr, id, &n);
        int hit = 0;
        for (size_t j = 0; j < n && !hit; j++) hit = c->bits[v[j] / 64] >> (v[j] % 64) & 1;
        if (hit == c->deny) return 0;
    }
    return 1;
}

const lr_index_attrs *lr_index_filter_attrs(const lr_index_filter *f) { return f->a; }

int lr_index_filter_is_empty(const lr_index_filter *f) {
    return !f->n && !f->has_allow_ids && !f->n_deny;
}

/* The allow source with the fewest items: an attribute clause (index) or the allowed ids (-1);
 * -2 when nothing bounds the allowed set. *estimate gets its size. */
static int smallest_source(const lr_index_filter *f, size_t *estimate) {
    int best = -2;
    *estimate = SIZE_MAX;
    if (f->has_allow_ids) best = -1, *estimate = f->n_allow;
    for (size_t i = 0; i < f->n; i++)
        if (!f->c[i].deny && f->c[i].estimate < *estimate) best = (int)i, *estimate = f->c[i].estimate;
    return best;
}

size_t lr_index_filter_estimate(const lr_index_filter *f) {
    size_t e;
    smallest_source(f, &e);
    return e;
}

int lr_index_filter_candidates(const lr_index_filter *f, int64_t **out, size_t *n, lr_err *err) {
    size_t e;
    int src = smallest_source(f, &e);
    *out = NULL;
    *n = 0;
    if (src == -2) return lr_err_set(err, LR_EINVAL, "filter: no allow list bounds the items");
    int64_t *ids = malloc((e ? e : 1) * sizeof *ids);
    if (!ids) return lr_err_set(err, LR_ENOMEM, "filter: out of memory for %zu candidates", e);
    size_t m = 0;
    if (src == -1) {
        memcpy(ids, f->allow_ids, e * sizeof *ids);
        m = e;
    } else {
        const clause *c = &f->c[src];
        for (size_t j = 0; j < c->n_values; j++) {
            size_t cnt;
            const uint32_t *items = lr_index_attrs_items_with(f->a, c->attr, c->values[j], &cnt);
            for (size_t t = 0; t < cnt; t++) ids[m++] = items[t];
        }
        size_t added = lr_index_attrs_added_holding(f->a, c->attr, c->bits, ids + m);
        m += added;
        if (c->n_values > 1 || added) m = sort_unique(ids, m); /* an item may hold two of the values */
    }
    size_t w = 0; /* the other clauses */
    for (size_t i = 0; i < m; i++)
        if (lr_index_filter_allows(f, ids[i])) ids[w++] = ids[i];
    *out = ids;
    *n = w;
    return LR_OK;
}

/* ORs clause c's values into bits (words long). */
static void clause_union(const lr_index_filter *f, const clause *c, uint64_t *bits, size_t words) {
    memset(bits, 0, words * sizeof *bits);
    for (size_t j = 0; j < c->n_values; j++) {
        const uint64_t *vb = lr_index_attrs_value_bits(f->a, c->attr, c->values[j]);
        if (vb) {
            for (size_t w = 0; w < words; w++) bits[w] |= vb[w];
            continue;
        }
        size_t cnt;
        const uint32_t *items = lr_index_attrs_items_with(f->a, c->attr, c->values[j], &cnt);
        for (size_t t = 0; t < cnt; t++) bits[items[t] / 64] |= 1ull << (items[t] % 64);
    }
}

int lr_index_filter_bitmap(const lr_index_filter *f, uint64_t **out, lr_err *err) {
    size_t items = f->a ? lr_index_attrs_items(f->a) : 0, words = (items + 63) / 64;
    uint64_t *bits = malloc((words ? words : 1) * sizeof *bits), *tmp = malloc((words ? words : 1) * sizeof *tmp);
    if (!bits || !tmp) {
        free(bits);
        free(tmp);
        return lr_err_set(err, LR_ENOMEM, "filter: out of memory for a bitmap of %zu items", items);
    }
    memset(bits, 0xff, words * sizeof *bits);
    if (items % 64) bits[words - 1] = (1ull << (items % 64)) - 1;
    for (size_t i = 0; i < f->n; i++) {
        clause_union(f, &f->c[i], tmp, words);
        for (size_t w = 0; w < words; w++) bits[w] &= f->c[i].deny ? ~tmp[w] : tmp[w];
    }
    if (f->has_allow_ids) {
        memset(tmp, 0, words * sizeof *tmp);
        for (size_t j = 0; j < f->n_allow; j++)
            if (f->allow_ids[j] >= 0 && (size_t)f->allow_ids[j] < items) tmp[f->allow_ids[j] / 64] |= 1ull << (f->allow_ids[j] % 64);
        for (size_t w = 0; w < words; w++) bits[w] &= tmp[w];
    }
    for (size_t j = 0; j < f->n_deny; j++)
        if (f->deny_ids[j] >= 0 && (size_t)f->deny_ids[j] < items) bits[f->deny_ids[j] / 64] &= ~(1ull << (f->deny_ids[j] % 64));
    /* an added item under a catalogue item's id: its own attributes decide */
    const lr_index_attrs *a = f->a;
    for (size_t g = 0; a && a->n && g < a->n_added; g += a->n) {
        int64_t id = a->added[g].id;
        if (id < 0 || (size_t)id >= items) continue;
        if (lr_index_filter_allows(f, id)) bits[id / 64] |= 1ull << (id % 64);
        else bits[id / 64] &= ~(1ull << (id % 64));
    }
    free(tmp);
    *out = bits;
    return LR_OK;
}
