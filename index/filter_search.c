/* Filtered search: the k best items that pass a filter, never fewer when k such items exist.
 * Two ways, chosen per call by what each would cost:
 * - exact: when the filter's smallest allow list is short, its items are scored one by one
 *   against the re-scoring vectors (exact scores; no list is scanned);
 * - in the scan: otherwise the probed lists are scanned with the filter inside (8-bit scalar
 *   codes by learnrec's scan, sq8_scan.c; others by FAISS's with an IDSelector, faiss_shim.cc),
 *   refused ids never entering the results, with nprobe raised for the share of items
 *   the filter keeps, and raised again (x4) while a query has fewer than k results.
 * Indexes that take no selector (fast-scan codes, transforms) over-fetch and deepen instead.
 * docs/benchmarks.md has the measurements behind the policy's defaults. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "faiss_shim.h"
#include "index_internal.h"

lr_index_filter_policy lr_index_filter_policy_default(void) {
    return (lr_index_filter_policy){.exact_ratio = 32.0, .alpha = 0.5};
}

typedef struct {
    const lr_index *ix;
    const lr_index_filter *f;
    const uint64_t *bits; /* the filter over the catalogue's items (NULL: ask f) */
    size_t items;
} sel_ctx;

/* FAISS asks this for every code it scans: a bit test for catalogue items. */
static int allows(const void *ctx, int64_t id) {
    const sel_ctx *c = ctx;
    int ok = c->bits && id >= 0 && (size_t)id < c->items ? (int)(c->bits[id / 64] >> (id % 64) & 1)
                                                          : lr_index_filter_allows(c->f, id);
    return ok && !(c->ix->n_tomb && lr_index_tomb_has(c->ix, id));
}

/* ---- the two ways ---------------------------------------------------------------------------- */

/* Every candidate (all with a re-scoring row) scored exactly, for each query. */
static void exact_over(const lr_index *ix, size_t nq, const float *q, size_t k, const int64_t *cand, size_t m,
                       int64_t *ids, float *scores) {
    for (size_t i = 0; i < nq; i++) {
        lr_index_topk h = {ids + i * k, scores + i * k, 0, k};
        for (size_t j = 0; j < m; j++)
            if (!(ix->n_tomb && lr_index_tomb_has(ix, cand[j])))
                lr_index_topk_push(&h, cand[j], lr_index_rs_dot(ix, q + i * ix->dim, (size_t)cand[j]));
        lr_index_topk_finish(&h);
    }
}

/* One query's kk candidates (FAISS order, -1 padded) re-scored exactly where a row exists, best k
 * kept. */
static void keep_best(const lr_index *ix, const float *q, const int64_t *ci, const float *cs, size_t kk, size_t k,
                      int rescore, int64_t *ids, float *scores) {
    lr_index_topk h = {ids, scores, 0, k};
    size_t rows = ix->rs ? lr_data_matrix_rows(ix->rs) : 0;
    for (size_t j = 0; j < kk; j++) {
        if (ci[j] < 0) continue;
        float s = cs[j];
        if (rescore && (size_t)ci[j] < rows) s = lr_index_rs_dot(ix, q, (size_t)ci[j]);
        lr_index_topk_push(&h, ci[j], s);
    }
    lr_index_topk_finish(&h);
}

static size_t found(const int64_t *ci, size_t kk) {
    size_t n = 0;
    for (size_t j = 0; j < kk; j++) n += ci[j] >= 0;
    return n;
}

/* One query through the scan with the filter inside (learnrec's for 8-bit scalar codes, else
 * FAISS's with a selector): nprobe lists, x4 while fewer than k came back. */
static int scan_one(const lr_index *ix, const sel_ctx *sc, const float *q, size_t k, size_t kk, size_t nprobe,
                    double share, int64_t *ci, float *cs, lr_err *err) {
    size_t nlist = lr_index_nlist(ix);
    for (;;) {
        if (lr_index_sq8_scannable(ix)) { /* learnrec's scan of these codes, as unfiltered */
            int rc = lr_index_sq8_search(ix, 1, q, kk, nprobe, allows, sc, share, ci, cs, err);
            if (rc) return rc;
        } else if (lr_faiss_search_allowed(ix->ix, 1, q, (idx_t)kk, nprobe, allows, sc, cs, (idx_t *)ci)) {
            return lr_index_faiss_fail(err, "filtered search");
        }
        if (found(ci, kk) >= k || !nlist || nprobe >= nlist) return LR_OK;
        nprobe = nprobe * 4 < nlist ? nprobe * 4 : nlist;
    }
}

/* One query where FAISS takes no selector: over-fetch kk2, keep the allowed, x4 while short. */
static int overfetch_one(const lr_index *ix, const sel_ctx *sc, const float *q, size_t kk, size_t want,
                         size_t nprobe, int64_t *ci, float *cs, lr_err *err) {
    size_t count = lr_index_count(ix), kk2 = want;
    for (;;) {
        if (kk2 > count) kk2 = count;
        int64_t *ti = malloc(kk2 * sizeof *ti);
        float *ts = malloc(kk2 * sizeof *ts);
        int rc = !ti || !ts ? lr_err_set(err, LR_ENOMEM, "filtered search: out of memory for %zu candidates", kk2)
                            : lr_index_search_nprobe(ix, 1, q, kk2, nprobe, ti, ts, err);
        size_t m = 0;
        for (size_t j = 0; !rc && j < kk2 && m < kk; j++)
            if (ti[j] >= 0 && allows(sc, ti[j])) ci[m] = ti[j], cs[m++] = ts[j];
        for (size_t j = m; j < kk; j++) ci[j] = -1, cs[j] = -INFINITY;
        free(ti);
        free(ts);
        if (rc || m >= kk || kk2 >= count) return rc;
        kk2 *= 4;
    }
}

int lr_index_search_filter(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                           const lr_index_filter *f, int64_t *ids, float *scores, lr_err *err) {
    if (!f || lr_index_filter_is_empty(f)) return lr_index_search_nprobe(ix, nq, q, k, nprobe, ids, scores, err);
    size_t depth;
    int rc = lr_index_search_prepare(ix, nq, q, k, &nprobe, &depth, err);
    if (rc) return rc;
    lr_index_filter_policy pol = ix->filter_policy_set ? ix->filter_policy : lr_index_filter_policy_default();
    size_t count = lr_index_count(ix), nlist = lr_index_nlist(ix), est = lr_index_filter_estimate(f);
    double share = est >= count || !count ? 1.0 : (double)(est ? est : 1) / (double)count;
    size_t np = nprobe ? nprobe : ix->nprobe, scan_np = np;
    if (nlist && np) {
        double grow = pow(1.0 / share, pol.alpha);
        scan_np = grow * (double)np >= (double)nlist ? nlist : (size_t)ceil(grow * (double)np);
    }
    /* what each way reads: the allowed items' vectors, or the codes of the lists scanned */
    double scan_codes = nlist ? (double)scan_np * (double)count / (double)nlist : (double)count;
    if (ix->rs && est < SIZE_MAX && (double)est * pol.exact_ratio <= scan_codes) {
        int64_t *cand;
        size_t m;
        if ((rc = lr_index_filter_candidates(f, &cand, &m, err))) return rc;
        int rows_for_all = 1;
        for (size_t j = 0; j < m && rows_for_all; j++) rows_for_all = cand[j] >= 0 && (size_t)cand[j] < lr_data_matrix_rows(ix->rs);
        if (rows_for_all) exact_over(ix, nq, q, k, cand, m, ids, scores);
        free(cand);
        if (rows_for_all) return LR_OK;
        scan_np = nlist; /* an added item has no row: scan every list instead */
    }
    int rescore = ix->rs && depth;
    size_t kk = rescore && depth > k ? depth : k;
    int64_t *ci = malloc(kk * sizeof *ci);
    float *cs = malloc(kk * sizeof *cs);
    if (!ci || !cs) rc = lr_err_set(err, LR_ENOMEM, "filtered search: out of memory for %zu candidates", kk);
    const lr_index_attrs *fa = lr_index_filter_attrs(f);
    sel_ctx sc = {ix, f, NULL, fa ? lr_index_attrs_items(fa) : 0};
    uint64_t *bits = NULL;
    if (!rc && fa && (rc = lr_index_filter_bitmap(f, &bits, err))) bits = NULL;
    sc.bits = bits;
    int in_scan = lr_faiss_takes_selector(ix->ix);
    for (size_t i = 0; !rc && i < nq; i++) {
        const float *qi = q + i * ix->dim;
        size_t want = (size_t)ceil((double)kk / share) * 2;
        rc = in_scan ? scan_one(ix, &sc, qi, k, kk, scan_np, share, ci, cs, err)
                     : overfetch_one(ix, &sc, qi, kk, want < kk ? kk : want, nprobe, ci, cs, err);
        if (!rc) keep_best(ix, qi, ci, cs, kk, k, rescore, ids + i * k, scores + i * k);
    }
    free(bits);
    free(ci);
    free(cs);
    return rc;
}

int lr_index_set_filter_policy(lr_index *ix, const lr_index_filter_policy *p, lr_err *err) {
    if (p && (!(p->exact_ratio >= 0) || !(p->alpha >= 0 && p->alpha <= 4)))
        return lr_err_set(err, LR_EINVAL, "filter policy: exact_ratio >= 0 and alpha in [0, 4]");
    ix->filter_policy_set = p != NULL;
    if (p) ix->filter_policy = *p;
    return LR_OK;
}
