/* Autotune: the cheapest nprobe that reaches a target recall against exact search. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "index_internal.h"

/* Share of the exact top-k (per query) that the approximate top-k contains. */
static double recall_at(const int64_t *approx, const int64_t *exact, size_t nq, size_t k) {
    size_t hit = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                if (exact[q * k + i] >= 0 && approx[q * k + j] == exact[q * k + i]) {
                    hit++;
                    break;
                }
    return nq && k ? (double)hit / (double)(nq * k) : 0.0;
}

/* Bytes one stored code takes, from the factory string: the cost model's unit. */
static double code_bytes(const char *factory, size_t dim) {
    size_t m = 0;
    const char *pq = strstr(factory, "PQ"), *sq = strstr(factory, "SQ");
    if (pq && sscanf(pq, "PQ%zu", &m) == 1 && m) return strstr(pq, "x4") ? (double)m / 2.0 : (double)m;
    if (sq && strncmp(sq, "SQfp16", 6) == 0) return 2.0 * (double)dim;
    if (sq && sscanf(sq, "SQ%zu", &m) == 1 && m) return (double)dim * (double)m / 8.0;
    return 4.0 * (double)dim; /* Flat and others: full vectors */
}

int lr_index_autotune(lr_index *ix, const float *x, size_t n, const float *q, size_t nq, size_t k,
                      double target, lr_index_tune *out, lr_err *err) {
    size_t nlist = lr_index_nlist(ix), dim = lr_index_dim(ix);
    if (!nlist)
        return lr_err_set(err, LR_EUNSUPPORTED, "autotune: index '%s' has no nprobe to tune",
                          lr_index_factory(ix));
    if (!(target > 0 && target <= 1) || nq == 0 || k == 0)
        return lr_err_set(err, LR_EINVAL, "autotune: target recall must be in (0, 1], with queries and k >= 1");
    const float *vecs = ix->rs_vecs;
    size_t vec_n = ix->rs_n, depths[5] = {0, 2 * k, 5 * k, 10 * k, 20 * k};
    size_t n_depths = vecs ? 5 : 1;
    int64_t *exact = malloc(nq * k * sizeof *exact), *approx = malloc(nq * k * sizeof *approx);
    float *s = malloc(nq * k * sizeof *s);
    int rc = LR_OK;
    if (!exact || !approx || !s) {
        rc = lr_err_set(err, LR_ENOMEM, "autotune: out of memory");
        goto done;
    }
    if ((rc = lr_index_exact_search(x, n, dim, q, nq, k, exact, s, err))) goto done;
    lr_index_tune best = {0, 0, -1.0, 0};
    double best_cost = INFINITY, per_list = (double)lr_index_count(ix) / (double)nlist * code_bytes(lr_index_factory(ix), dim);
    for (size_t di = 0; di < n_depths; di++) {
        double depth_cost = (double)depths[di] * (double)dim * 4.0;
        if (best.reached && per_list + depth_cost >= best_cost) break; /* deeper only costs more */
        if ((rc = lr_index_set_rescore(ix, vecs, vec_n, depths[di], err))) goto done;
        for (size_t p = 1;; p = p * 2 > nlist ? nlist : p * 2) {
            double cost = (double)p * per_list + depth_cost;
            if (best.reached && cost >= best_cost) break;
            if ((rc = lr_index_set_nprobe(ix, p, err)) ||
                (rc = lr_index_search(ix, nq, q, k, approx, s, err)))
                goto done;
            double r = recall_at(approx, exact, nq, k);
            int reached = r >= target;
            if ((reached && (!best.reached || cost < best_cost)) || (!best.reached && !reached && r > best.recall)) {
                best = (lr_index_tune){p, depths[di], r, reached};
                best_cost = cost;
            }
            if (reached || p == nlist) break;
        }
    }
    if (!(rc = lr_index_set_rescore(ix, vecs, vec_n, best.depth, err)))
        rc = lr_index_set_nprobe(ix, best.nprobe, err);
    if (!rc && out) *out = best;
done:
    free(exact);
    free(approx);
    free(s);
    return rc;
}
