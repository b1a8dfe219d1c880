/* Attributes of items added while serving: an overlay on a version's attributes, whose own arrays
 * (and files) stay as they were loaded. An added item has one ref per attribute of the version,
 * in attribute order, so its refs are a group found by one binary search over the ids; the refs
 * point into a pool of value ids. Values the version never saw are appended to the attribute's
 * xval list and get the ids after its own. Replacing an item's attributes leaves its old values
 * in the pool until the next version is loaded: the overlay lives only as long as the version. */
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"

const lr_index_added_ref *lr_index_attrs_added_of(const lr_index_attrs *a, int64_t id) {
    if (!a->n_added || !a->n) return NULL;
    size_t lo = 0, hi = a->n_added / a->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int64_t m = a->added[mid * a->n].id;
        if (m == id) return a->added + mid * a->n;
        if (m < id) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

size_t lr_index_attrs_added_holding(const lr_index_attrs *a, size_t k, const uint64_t *bits, int64_t *out) {
    size_t m = 0;
    for (size_t g = 0; a->n && k < a->n && g < a->n_added; g += a->n) {
        const lr_index_added_ref *r = &a->added[g + k];
        for (uint32_t j = 0; j < r->n; j++) {
            uint32_t v = a->pool[r->off + j];
            if (!(bits[v / 64] >> (v % 64) & 1)) continue;
            if (out) out[m] = r->id;
            m++;
            break;
        }
    }
    return m;
}

/* The attribute an entry names, or -1. */
static int attr_of(const lr_index_attrs *a, const lr_index_item_values *e) {
    char name[LR_INDEX_ATTR_NAME_MAX + 1];
    if (e->name_len == 0 || e->name_len > LR_INDEX_ATTR_NAME_MAX || memchr(e->name, 0, e->name_len)) return -1;
    memcpy(name, e->name, e->name_len);
    name[e->name_len] = '\0';
    return lr_index_attrs_find(a, name);
}

static int check_entries(const lr_index_attrs *a, size_t item, const lr_index_item_values *v, size_t n, lr_err *err) {
    uint32_t seen = 0;
    for (size_t j = 0; j < n; j++) {
        int k = attr_of(a, &v[j]);
        if (k < 0)
            return lr_err_set(err, LR_EINVAL, "items[%zu]: no attribute '%.*s' in the served version", item,
                              (int)(v[j].name_len < 64 ? v[j].name_len : 64), v[j].name);
        if (seen >> k & 1) return lr_err_set(err, LR_EINVAL, "items[%zu]: attribute '%s' given twice", item, a->a[k].name);
        seen |= 1u << k;
        for (size_t t = 0; t < v[j].n; t++)
            if (!v[j].lens[t] || v[j].lens[t] > LR_INDEX_ATTR_VALUE_MAX || memchr(v[j].values[t], 0, v[j].lens[t]))
                return lr_err_set(err, LR_EINVAL, "items[%zu].%s: a value must be 1 to %d bytes without NUL", item,
                                  a->a[k].name, LR_INDEX_ATTR_VALUE_MAX);
    }
    return LR_OK;
}

int lr_index_check_added_attrs(const lr_index *ix, size_t n, const size_t *off, const lr_index_item_values *v,
                               lr_err *err) {
    const lr_index_attrs *a = ix->attrs;
    if (!a || !a->n)
        return off[n] ? lr_err_set(err, LR_EUNSUPPORTED, "the served version has no item attributes") : LR_OK;
    for (size_t i = 0; i < n; i++) {
        int rc = check_entries(a, i, v + off[i], off[i + 1] - off[i], err);
        if (rc) return rc;
    }
    return LR_OK;
}

/* The id of value s (len bytes) of attribute k, interned among the added values when new. */
static int value_id(lr_index_attr *x, const lr_index_attrs *a, size_t k, const char *s, size_t len, uint32_t *id,
                    lr_err *err) {
    int64_t v = lr_index_attrs_find_value(a, k, s, len);
    if (v >= 0) return *id = (uint32_t)v, LR_OK;
    if (x->n_values + x->n_xval >= UINT32_MAX - 1) return lr_err_set(err, LR_ERANGE, "attribute '%s': too many values", x->name);
    if (x->n_xval == x->cap_xval) {
        size_t cap = x->cap_xval ? 2 * x->cap_xval : 16;
        char **grown = realloc(x->xval, cap * sizeof *grown);
        if (!grown) return lr_err_set(err, LR_ENOMEM, "attribute '%s': out of memory", x->name);
        x->xval = grown, x->cap_xval = cap;
    }
    char *copy = malloc(len + 1);
    if (!copy) return lr_err_set(err, LR_ENOMEM, "attribute '%s': out of memory", x->name);
    memcpy(copy, s, len);
    copy[len] = '\0';
    x->xval[x->n_xval] = copy;
    *id = (uint32_t)(x->n_values + x->n_xval++);
    return LR_OK;
}

/* Item i's group (a->n refs) into g, its value ids appended to the pool (capacity checked). */
static int make_group(lr_index_attrs *a, int64_t id, const lr_index_item_values *v, size_t nv, lr_index_added_ref *g,
                      lr_err *err) {
    for (size_t k = 0; k < a->n; k++) g[k] = (lr_index_added_ref){id, (uint32_t)k, 0, 0};
    for (size_t j = 0; j < nv; j++) {
        size_t k = (size_t)attr_of(a, &v[j]);
        g[k].off = (uint32_t)a->n_pool;
        for (size_t t = 0; t < v[j].n; t++) {
            uint32_t vid = 0;
            int rc = value_id(&a->a[k], a, k, v[j].values[t], v[j].lens[t], &vid, err);
            if (rc) return rc;
            int dup = 0; /* a value given twice counts once */
            for (uint32_t u = 0; u < g[k].n && !dup; u++) dup = a->pool[g[k].off + u] == vid;
            if (!dup) a->pool[a->n_pool++] = vid, g[k].n++;
        }
    }
    return LR_OK;
}

/* By id, then by position in the call (kept in attr): a later group of an id sorts after. */
static int by_id_then_position(const void *x, const void *y) {
    const lr_index_added_ref *a = x, *b = y;
    if (a->id != b->id) return (a->id > b->id) - (a->id < b->id);
    return (a->attr > b->attr) - (a->attr < b->attr);
}

/* The old groups and the new (sorted, ids distinct) merged by id into a fresh array; a new group
 * replaces an old one of its id. */
static int merge_groups(lr_index_attrs *a, lr_index_added_ref *fresh, size_t n_new, lr_err *err) {
    size_t G = a->n, n_old = a->n_added / G, i = 0, j = 0, w = 0;
    lr_index_added_ref *out = malloc((n_old + n_new) * G * sizeof *out);
    if (!out) return lr_err_set(err, LR_ENOMEM, "attributes of added items: out of memory");
    while (i < n_old || j < n_new) {
        int64_t oi = i < n_old ? a->added[i * G].id : INT64_MAX, nj = j < n_new ? fresh[j * G].id : INT64_MAX;
        int take_new = j < n_new && nj <= oi;
        memcpy(out + w * G, take_new ? fresh + j * G : a->added + i * G, G * sizeof *out);
        w++;
        if (take_new && nj == oi) i++; /* replaced */
        if (take_new) j++;
        else i++;
    }
    free(a->added);
    a->added = out;
    a->n_added = w * G;
    return LR_OK;
}

int lr_index_set_added_attrs(lr_index *ix, size_t n, const int64_t *ids, const size_t *off,
                             const lr_index_item_values *v, lr_err *err) {
    int rc = lr_index_check_added_attrs(ix, n, off, v, err);
    lr_index_attrs *a = ix->attrs;
    if (rc || !a || !a->n || !n) return rc;
    size_t values = 0, G = a->n;
    for (size_t j = 0; j < off[n]; j++) values += v[j].n;
    uint32_t *pool = realloc(a->pool, (a->n_pool + values + 1) * sizeof *pool);
    lr_index_added_ref *fresh = malloc(n * G * sizeof *fresh);
    if (pool) a->pool = pool;
    if (!pool || !fresh || a->n_pool + values >= UINT32_MAX) {
        free(fresh);
        return lr_err_set(err, LR_ENOMEM, "attributes of added items: out of memory");
    }
    for (size_t i = 0; !rc && i < n; i++) rc = make_group(a, ids[i], v + off[i], off[i + 1] - off[i], fresh + i * G, err);
    /* groups sorted by id (a stable order inside each: G refs move as one), ids distinct */
    lr_index_added_ref *order = rc ? NULL : malloc(n * sizeof *order);
    if (!rc && !order) rc = lr_err_set(err, LR_ENOMEM, "attributes of added items: out of memory");
    size_t m = 0;
    if (!rc) {
        for (size_t i = 0; i < n; i++) order[i] = (lr_index_added_ref){fresh[i * G].id, (uint32_t)i, 0, 0};
        qsort(order, n, sizeof *order, by_id_then_position);
        lr_index_added_ref *sorted = malloc(n * G * sizeof *sorted);
        if (!sorted) rc = lr_err_set(err, LR_ENOMEM, "attributes of added items: out of memory");
        for (size_t i = 0; !rc && i < n; i++) {
            if (m && sorted[(m - 1) * G].id == order[i].id) m--; /* the later of an id's groups wins */
            memcpy(sorted + m++ * G, fresh + (size_t)order[i].attr * G, G * sizeof *sorted);
        }
        if (!rc) free(fresh), fresh = sorted;
    }
    if (!rc) rc = merge_groups(a, fresh, m, err);
    free(order);
    free(fresh);
    return rc;
}
