/* Autotune: the cheapest nprobe that reaches a target recall against exact search. */
#include <stdio.h>
#include <stdlib.h>

#include "lr_index.h"

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

int lr_index_autotune(lr_index *ix, const float *x, size_t n, const float *q, size_t nq, size_t k,
                      double target, lr_index_tune *out, lr_err *err) {
    size_t nlist = 0;
    if (sscanf(lr_index_factory(ix), "IVF%zu", &nlist) != 1)
        return lr_err_set(err, LR_EUNSUPPORTED, "autotune: index '%s' has no nprobe to tune",
                          lr_index_factory(ix));
    if (!(target > 0 && target <= 1) || nq == 0 || k == 0)
        return lr_err_set(err, LR_EINVAL, "autotune: target recall must be in (0, 1], with queries and k >= 1");
    int64_t *exact = malloc(nq * k * sizeof *exact), *approx = malloc(nq * k * sizeof *approx);
    float *s = malloc(nq * k * sizeof *s);
    int rc = LR_OK;
    if (!exact || !approx || !s) {
        rc = lr_err_set(err, LR_ENOMEM, "autotune: out of memory");
        goto done;
    }
    if ((rc = lr_index_exact_search(x, n, lr_index_dim(ix), q, nq, k, exact, s, err))) goto done;
    lr_index_tune best = {0, -1.0, 0};
    for (size_t p = 1;; p = p * 2 > nlist ? nlist : p * 2) {
        double r;
        if ((rc = lr_index_set_nprobe(ix, p, err)) ||
            (rc = lr_index_search(ix, nq, q, k, approx, s, err)))
            goto done;
        r = recall_at(approx, exact, nq, k);
        if (r > best.recall) best = (lr_index_tune){p, r, r >= target};
        if (r >= target || p == nlist) break;
    }
    rc = lr_index_set_nprobe(ix, best.nprobe, err);
    if (!rc && out) *out = best;
done:
    free(exact);
    free(approx);
    free(s);
    return rc;
}
