/* Exact re-scoring: IVF-PQ proposes candidates, the stored item vectors rank them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "index_internal.h"

int lr_index_set_rescore(lr_index *ix, const float *vectors, size_t n, size_t depth, lr_err *err) {
    if (depth > LR_INDEX_MAX_RESCORE_DEPTH)
        return lr_err_set(err, LR_EINVAL, "re-scoring depth %zu is above %d", depth,
                          LR_INDEX_MAX_RESCORE_DEPTH);
    if (vectors && n == 0) return lr_err_set(err, LR_EINVAL, "re-scoring needs the item vectors");
    if (depth && !vectors && !ix->rs) return lr_err_set(err, LR_EINVAL, "re-scoring needs the item vectors");
    lr_data_matrix *copy = NULL;
    if (depth && vectors) {
        int rc = lr_data_matrix_from_floats(vectors, n, ix->dim, &copy, err);
        if (rc) return lr_err_prefix(err, "re-scoring vectors: ");
    }
    if (copy || !depth) { /* new vectors replace the old; depth 0 drops them */
        lr_data_matrix_free(ix->rs);
        ix->rs = copy;
    }
    ix->rs_depth = depth;
    return LR_OK;
}

int lr_index_adopt_rescore(lr_index *ix, lr_data_matrix *vectors, size_t depth) {
    lr_data_matrix_free(ix->rs);
    ix->rs = vectors;
    ix->rs_depth = depth;
    return LR_OK;
}

size_t lr_index_rescore_depth(const lr_index *ix) { return ix->rs ? ix->rs_depth : 0; }

const char *lr_index_rescore_source(const lr_index *ix) { return ix->rs ? lr_data_matrix_source(ix->rs) : ""; }

float lr_index_rs_dot(const lr_index *ix, const float *q, size_t id) {
    const float *v = lr_data_matrix_data(ix->rs);
    /* OpenBLAS's dot: a plain loop is one chain of dim dependent adds (C keeps their order) */
    if (v) return cblas_sdot((int)ix->dim, q, 1, v + id * ix->dim, 1);
    return lr_data_half_dot(q, lr_data_matrix_half(ix->rs) + id * ix->dim, ix->dim);
}

typedef struct {
    int64_t id;
    float score;
} cand;

static int by_score_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

int lr_index_rescore_candidates(const lr_index *ix, size_t nq, const float *q, const int64_t *ci, const float *cs,
                                size_t depth, size_t k, int64_t *ids, float *scores, lr_err *err) {
    size_t dim = ix->dim;
    cand *c = malloc((depth ? depth : 1) * sizeof *c);
    if (!c) return lr_err_set(err, LR_ENOMEM, "search: out of memory for %zu candidates", depth);
    size_t rs_n = lr_data_matrix_rows(ix->rs);
    for (size_t i = 0; i < nq; i++) {
        const float *qi = q + i * dim;
        size_t m = 0;
        for (size_t j = 0; j < depth; j++) {
            int64_t id = ci[i * depth + j];
            if (id < 0) continue;
            float s = cs[i * depth + j];
            if ((size_t)id < rs_n) s = lr_index_rs_dot(ix, qi, (size_t)id);
            c[m++] = (cand){id, s};
        }
        qsort(c, m, sizeof *c, by_score_desc);
        for (size_t j = 0; j < k; j++) {
            ids[i * k + j] = j < m ? c[j].id : -1;
            scores[i * k + j] = j < m ? c[j].score : -INFINITY;
        }
    }
    free(c);
    return LR_OK;
}

int lr_index_rescored_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                             size_t depth, int64_t *ids, float *scores, lr_err *err) {
    if (depth < k) depth = k; /* at least k candidates */
    int64_t *ci = malloc(nq * depth * sizeof *ci);
    float *cs = malloc(nq * depth * sizeof *cs);
    int rc = !ci || !cs ? lr_err_set(err, LR_ENOMEM, "search: out of memory for %zu candidates", depth)
                        : lr_index_plain_search(ix, nq, q, depth, nprobe, ci, cs, err);
    if (!rc) rc = lr_index_rescore_candidates(ix, nq, q, ci, cs, depth, k, ids, scores, err);
    free(ci);
    free(cs);
    return rc;
}
