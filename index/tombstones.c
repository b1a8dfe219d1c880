/* Removal from fast-scan indexes: FAISS 1.7.3 cannot remove from their lists, so removed ids
 * are kept in a sorted set that searches skip, until the next rebuild drops them for good. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"

/* Searches over-fetch by the number of removed ids, up to this many extra candidates; past it
 * a query may return fewer than k results, and the answer is a rebuild. */
#define MAX_EXTRA 4096

static int cmp_id(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int lr_index_tomb_has(const lr_index *ix, int64_t id) {
    return ix->n_tomb && bsearch(&id, ix->tomb, ix->n_tomb, sizeof id, cmp_id) != NULL;
}

int lr_index_tomb_add(lr_index *ix, size_t n, const int64_t *ids, size_t *added, lr_err *err) {
    if (ix->n_tomb + n > ix->cap_tomb) {
        size_t cap = ix->cap_tomb ? ix->cap_tomb : 64;
        while (cap < ix->n_tomb + n) cap *= 2;
        int64_t *t = realloc(ix->tomb, cap * sizeof *t);
        if (!t) return lr_err_set(err, LR_ENOMEM, "remove: out of memory for %zu removed ids", cap);
        ix->tomb = t;
        ix->cap_tomb = cap;
    }
    size_t before = ix->n_tomb;
    for (size_t i = 0; i < n; i++)
        if (!lr_index_tomb_has(ix, ids[i])) {
            ix->tomb[ix->n_tomb++] = ids[i];
            qsort(ix->tomb, ix->n_tomb, sizeof *ix->tomb, cmp_id); /* n is small: removals are rare */
        }
    if (added) *added = ix->n_tomb - before;
    return LR_OK;
}

int lr_index_filtered_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                             size_t depth, int64_t *ids, float *scores, lr_err *err) {
    size_t extra = ix->n_tomb < MAX_EXTRA ? ix->n_tomb : MAX_EXTRA, kk = k + extra;
    int64_t *ci = malloc(nq * kk * sizeof *ci);
    float *cs = malloc(nq * kk * sizeof *cs);
    int rc = !ci || !cs ? lr_err_set(err, LR_ENOMEM, "search: out of memory") : LR_OK;
    if (!rc) rc = lr_index_unfiltered_search(ix, nq, q, kk, nprobe, depth, ci, cs, err);
    for (size_t i = 0; !rc && i < nq; i++) {
        size_t m = 0;
        for (size_t j = 0; j < kk && m < k; j++) {
            int64_t id = ci[i * kk + j];
            if (id < 0 || lr_index_tomb_has(ix, id)) continue;
            ids[i * k + m] = id;
            scores[i * k + m++] = cs[i * kk + j];
        }
        for (; m < k; m++) {
            ids[i * k + m] = -1;
            scores[i * k + m] = -INFINITY;
        }
    }
    free(ci);
    free(cs);
    return rc;
}
