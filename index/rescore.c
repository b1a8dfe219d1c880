/* Exact re-scoring: IVF-PQ proposes candidates, the stored item vectors rank them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index_internal.h"
#include "lr_towers.h"

int lr_index_set_rescore(lr_index *ix, const float *vectors, size_t n, size_t depth, lr_err *err) {
    if (depth && (!vectors || n == 0))
        return lr_err_set(err, LR_EINVAL, "re-scoring needs the item vectors");
    if (depth > 100000) return lr_err_set(err, LR_EINVAL, "re-scoring depth %zu is above 100000", depth);
    if (vectors != ix->rs_vecs || !depth) { /* a new matrix replaces an owned one */
        if (!ix->rs_content || lr_towers_content_data(ix->rs_content) != vectors) {
            lr_towers_content_free(ix->rs_content);
            ix->rs_content = NULL;
        }
    }
    ix->rs_vecs = depth ? vectors : NULL;
    ix->rs_n = depth ? n : 0;
    ix->rs_depth = depth;
    return LR_OK;
}

size_t lr_index_rescore_depth(const lr_index *ix) { return ix->rs_vecs ? ix->rs_depth : 0; }

typedef struct {
    int64_t id;
    float score;
} cand;

static int by_score_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int lr_index_rescored_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                             size_t depth, int64_t *ids, float *scores, lr_err *err) {
    size_t dim = ix->dim;
    if (depth < k) depth = k; /* at least k candidates */
    int64_t *ci = malloc(nq * depth * sizeof *ci);
    float *cs = malloc(nq * depth * sizeof *cs);
    cand *c = malloc(depth * sizeof *c);
    int rc = LR_OK;
    if (!ci || !cs || !c) {
        rc = lr_err_set(err, LR_ENOMEM, "search: out of memory for %zu candidates", depth);
        goto done;
    }
    const float *vecs = ix->rs_vecs;
    if ((rc = lr_index_plain_search(ix, nq, q, depth, nprobe, ci, cs, err))) goto done;
    for (size_t i = 0; i < nq; i++) {
        const float *qi = q + i * dim;
        size_t m = 0;
        for (size_t j = 0; j < depth; j++) {
            int64_t id = ci[i * depth + j];
            if (id < 0) continue;
            float s = cs[i * depth + j];
            if ((size_t)id < ix->rs_n) {
                const float *v = vecs + (size_t)id * dim;
                s = 0.0f;
                for (size_t d = 0; d < dim; d++) s += qi[d] * v[d];
            }
            c[m++] = (cand){id, s};
        }
        qsort(c, m, sizeof *c, by_score_desc);
        for (size_t j = 0; j < k; j++) {
            ids[i * k + j] = j < m ? c[j].id : -1;
            scores[i * k + j] = j < m ? c[j].score : -INFINITY;
        }
    }
done:
    free(ci);
    free(cs);
    free(c);
    return rc;
}
