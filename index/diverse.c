/* Diversity caps: the best k results of which at most `max` share a value of an attribute. The
 * candidates come best first from the (filtered) search; each is taken when none of its values
 * has reached its cap, greedily, and the search deepens (x4) while fewer than k were taken and
 * the index has more to give. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"

/* How many results hold each (attribute, value): open addressing over keys attr << 32 | value. */
typedef struct {
    uint64_t *keys; /* UINT64_MAX: empty */
    uint32_t *counts;
    size_t cap;
} tally;

static int tally_init(tally *t, size_t want) {
    t->cap = 64;
    while (t->cap < 2 * want) t->cap *= 2;
    t->keys = malloc(t->cap * sizeof *t->keys);
    t->counts = calloc(t->cap, sizeof *t->counts);
    if (!t->keys || !t->counts) return -1;
    memset(t->keys, 0xff, t->cap * sizeof *t->keys);
    return 0;
}

static uint32_t *tally_slot(tally *t, uint64_t key) {
    size_t i = (size_t)(key * 0x9E3779B97F4A7C15ull >> 20) & (t->cap - 1);
    while (t->keys[i] != UINT64_MAX && t->keys[i] != key) i = (i + 1) & (t->cap - 1);
    t->keys[i] = key;
    return &t->counts[i];
}

static void tally_free(tally *t) {
    free(t->keys);
    free(t->counts);
}

/* Takes candidates (m, best first) into ids/scores (k) while they fit under the caps; *taken. */
static void take_under_caps(const lr_index_attrs *a, const size_t *attr, const size_t *max, size_t n_caps,
                            const int64_t *ci, const float *cs, size_t m, size_t k, tally *t, int64_t *ids,
                            float *scores, size_t *taken) {
    *taken = 0;
    for (size_t j = 0; j < m && *taken < k; j++) {
        if (ci[j] < 0) continue;
        int fits = 1;
        for (size_t c = 0; c < n_caps && fits; c++) {
            size_t n;
            const uint32_t *v = lr_index_attrs_of(a, attr[c], ci[j], &n);
            for (size_t i = 0; i < n && fits; i++) fits = *tally_slot(t, (uint64_t)attr[c] << 32 | v[i]) < max[c];
        }
        if (!fits) continue;
        for (size_t c = 0; c < n_caps; c++) {
            size_t n;
            const uint32_t *v = lr_index_attrs_of(a, attr[c], ci[j], &n);
            for (size_t i = 0; i < n; i++) (*tally_slot(t, (uint64_t)attr[c] << 32 | v[i]))++;
        }
        ids[*taken] = ci[j], scores[(*taken)++] = cs[j];
    }
}

/* The caps' attributes resolved against a version's attributes (a NULL: it has none). */
static int resolve(const lr_index_attrs *a, const lr_index_cap *caps, size_t n_caps, size_t *attr, size_t *max,
                   lr_err *err) {
    if (n_caps > LR_INDEX_MAX_ATTRS) return lr_err_set(err, LR_EINVAL, "max_per: more than %d caps", LR_INDEX_MAX_ATTRS);
    for (size_t c = 0; c < n_caps; c++) {
        int k = a ? lr_index_attrs_find(a, caps[c].attr) : -1;
        if (k < 0) return lr_err_set(err, LR_EINVAL, "max_per: no attribute '%.60s' in the served version", caps[c].attr);
        if (!caps[c].max) return lr_err_set(err, LR_EINVAL, "max_per: '%.60s' must be at least 1", caps[c].attr);
        attr[c] = (size_t)k, max[c] = caps[c].max;
    }
    return LR_OK;
}

int lr_index_caps_pick(const lr_index_attrs *a, const lr_index_cap *caps, size_t n_caps, const int64_t *ci,
                       const float *cs, size_t m, size_t k, int64_t *ids, float *scores, size_t *taken, lr_err *err) {
    size_t attr[LR_INDEX_MAX_ATTRS], max[LR_INDEX_MAX_ATTRS];
    int rc = resolve(a, caps, n_caps, attr, max, err);
    tally t = {0};
    if (!rc && tally_init(&t, k * 4)) rc = lr_err_set(err, LR_ENOMEM, "max_per: out of memory");
    if (!rc) take_under_caps(a, attr, max, n_caps, ci, cs, m, k, &t, ids, scores, taken);
    tally_free(&t);
    return rc;
}

int lr_index_search_capped(const lr_index *ix, const float *q, size_t k, size_t nprobe, const lr_index_filter *f,
                           const lr_index_cap *caps, size_t n_caps, int64_t *ids, float *scores, lr_err *err) {
    if (!n_caps) return lr_index_search_filter(ix, 1, q, k, nprobe, f, ids, scores, err);
    size_t attr[LR_INDEX_MAX_ATTRS], max[LR_INDEX_MAX_ATTRS], count = lr_index_count(ix), taken = 0;
    int rc = resolve(ix->attrs, caps, n_caps, attr, max, err); /* refused before any search */
    for (size_t fetch = k * 4; !rc;) {
        if (fetch > count) fetch = count ? count : 1;
        int64_t *ci = malloc(fetch * sizeof *ci);
        float *cs = malloc(fetch * sizeof *cs);
        rc = !ci || !cs ? lr_err_set(err, LR_ENOMEM, "max_per: out of memory for %zu candidates", fetch)
                        : lr_index_search_filter(ix, 1, q, fetch, nprobe, f, ci, cs, err);
        if (!rc) rc = lr_index_caps_pick(ix->attrs, caps, n_caps, ci, cs, fetch, k, ids, scores, &taken, err);
        size_t got = 0;
        for (size_t j = 0; !rc && j < fetch; j++) got += ci[j] >= 0;
        free(ci);
        free(cs);
        if (rc || taken == k || fetch >= count || got < fetch) break; /* got < fetch: nothing more passes */
        fetch *= 4;
    }
    for (size_t j = taken; !rc && j < k; j++) ids[j] = -1, scores[j] = -INFINITY;
    return rc;
}
