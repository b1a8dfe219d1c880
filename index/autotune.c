/* Autotune: for each k asked, the cheapest nprobe and re-scoring depth that reach a target
 * recall against exact search, kept on the index as its operating points. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <faiss/c_api/IndexIVF_c.h>

#include "faiss_shim.h"
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

/* Lists of k + 1 per query (ids, scores: nq * (k + 1)) compacted in place to k per query, each
 * without the query's own id self[q]: the item a query was taken from is no answer to it. Where
 * the id is absent (a missed item, or k + 1 equal scores) the last entry goes instead. */
static void drop_self(int64_t *ids, float *scores, size_t nq, size_t k, const int64_t *self) {
    for (size_t q = 0; q < nq; q++) {
        const int64_t *from = ids + q * (k + 1);
        const float *from_s = scores + q * (k + 1);
        size_t m = 0;
        for (size_t j = 0; j <= k && m < k; j++) {
            if (from[j] == self[q]) continue;
            ids[q * k + m] = from[j]; /* q * k + m <= q * (k + 1) + j: never ahead of the reads */
            scores[q * k + m++] = from_s[j];
        }
    }
}

/* The tuning queries' coarse lists, best first, asked once for the most lists a setting has
 * needed so far (doubling): FAISS's own search asks the quantizer again at every setting of the
 * grid, a heap of nprobe over every list for every query each time. */
typedef struct {
    idx_t *lists;
    float *dis;
    size_t width;
} coarse;

static void coarse_free(coarse *c) {
    free(c->lists);
    free(c->dis);
}

static int coarse_widen(const lr_index *ix, size_t nq, const float *q, size_t p, coarse *c, lr_err *err) {
    if (p <= c->width) return LR_OK;
    size_t nlist = lr_index_nlist(ix), w = 2 * p < nlist ? 2 * p : nlist;
    free(c->lists), free(c->dis);
    c->lists = malloc(nq * w * sizeof *c->lists), c->dis = malloc(nq * w * sizeof *c->dis), c->width = 0;
    if (!c->lists || !c->dis) return lr_err_set(err, LR_ENOMEM, "autotune: out of memory for %zu lists per query", w);
    if (lr_faiss_coarse_search(ix->ix, (idx_t)nq, q, (idx_t)w, c->dis, c->lists))
        return lr_index_faiss_fail(err, "autotune: the coarse quantizer");
    c->width = w;
    return LR_OK;
}

/* Whether one coarse search can serve every setting: plain IVF without removal marks, and not
 * a graph quantizer, whose lists depend on the efSearch each nprobe gets (faiss_shim.h). */
static int lists_reusable(const lr_index *ix) {
    return !ix->n_tomb && lr_index_takes_call_nprobe(ix) && !lr_faiss_coarse_is_graph(ix->ix);
}

/* search_at's way with the lists known: FAISS scans the first nprobe of each query's lists
 * (search_preassigned reads nprobe, the index's own, as the row length), fetching depth
 * candidates to re-score when the setting re-scores. */
static int preassigned_at(lr_index *ix, size_t nq, const float *q, size_t kk, size_t nprobe, size_t depth,
                          int64_t *ids, float *scores, coarse *c, lr_err *err) {
    int rescore = ix->rs && depth;
    size_t fetch = rescore && depth > kk ? depth : kk;
    int rc = coarse_widen(ix, nq, q, nprobe, c, err);
    if (rc) return rc;
    idx_t *keys = malloc(nq * nprobe * sizeof *keys);
    float *key_dis = malloc(nq * nprobe * sizeof *key_dis), *cs = rescore ? malloc(nq * fetch * sizeof *cs) : NULL;
    int64_t *ci = rescore ? malloc(nq * fetch * sizeof *ci) : NULL;
    if (!keys || !key_dis || (rescore && (!ci || !cs)))
        rc = lr_err_set(err, LR_ENOMEM, "autotune: out of memory for %zu queries", nq);
    for (size_t i = 0; !rc && i < nq; i++) {
        memcpy(keys + i * nprobe, c->lists + i * c->width, nprobe * sizeof *keys);
        memcpy(key_dis + i * nprobe, c->dis + i * c->width, nprobe * sizeof *key_dis);
    }
    int64_t *out_i = ci ? ci : ids;
    float *out_s = cs ? cs : scores;
    if (!rc && lr_index_sq8_scannable(ix)) /* serving's own scan, over the same lists */
        rc = lr_index_sq8_scan(ix, nq, q, fetch, nprobe, nprobe, keys, key_dis, NULL, NULL, 1.0, out_i, out_s, err);
    else if (!rc && faiss_IndexIVF_search_preassigned(faiss_IndexIVF_cast(ix->ix), (idx_t)nq, q, (idx_t)fetch, keys, key_dis,
                                                 out_s, (idx_t *)out_i, 0))
        rc = lr_index_faiss_fail(err, "autotune: search");
    for (size_t i = 0; !rc && i < nq * fetch; i++)
        if (out_i[i] < 0) out_s[i] = -INFINITY;
    if (!rc && ci) rc = lr_index_rescore_candidates(ix, nq, q, ci, cs, fetch, kk, ids, scores, err);
    free(keys), free(key_dis), free(ci), free(cs);
    return rc;
}

/* The search autotune measures, at a given nprobe and depth. It sets the index's own nprobe
 * (autotune may: no search runs beside it) rather than passing a per-call one: FAISS's own search
 * spreads all nq queries over its threads at once, where the per-call path goes 64 queries and
 * one pass of lists at a time (4x slower here on 2,000 queries at nprobe 64). With c, the lists
 * come from c (plain IVF indexes without removal marks). Results: nq * k, or nq * (k + 1)
 * narrowed to k when self is given. */
static int search_at(lr_index *ix, size_t nq, const float *q, size_t k, const int64_t *self,
                     size_t nprobe, size_t depth, int64_t *ids, float *scores, coarse *c, lr_err *err) {
    size_t kk = self ? k + 1 : k;
    int rc = lr_index_set_nprobe(ix, nprobe, err);
    if (!rc && c && lists_reusable(ix))
        rc = preassigned_at(ix, nq, q, kk, ix->nprobe, depth, ids, scores, c, err);
    else if (!rc) rc = ix->n_tomb ? lr_index_filtered_search(ix, nq, q, kk, 0, depth, ids, scores, err)
                                  : lr_index_unfiltered_search(ix, nq, q, kk, 0, depth, ids, scores, err);
    if (!rc && self) drop_self(ids, scores, nq, k, self);
    return rc;
}

/* An upper bound on recall@k at each nprobe: the share of the exact top k that lies in the
 * first nprobe lists of its query. An item outside the probed lists is never found, whatever the
 * re-scoring, so settings whose bound is below the target need no search. */
typedef struct {
    int32_t *list_of; /* n: the list holding each id (-1: none) */
    size_t n;
    size_t *hist;  /* width + 1: neighbours whose list is j-th in their query's order; the rest last */
    size_t width, k; /* the coarse width and the k hist was counted at (0: not yet) */
    int32_t *pos;  /* nlist scratch: a list's place in one query's order, -1 elsewhere */
} probe_bound;

static void bound_free(probe_bound *b) {
    free(b->list_of), free(b->hist), free(b->pos);
}

/* The lists of ids 0 .. n-1, from the index's inverted lists. */
static int bound_init(const lr_index *ix, size_t n, probe_bound *b, lr_err *err) {
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(ix->ix);
    size_t nlist = lr_index_nlist(ix), longest = 0;
    for (size_t l = 0; l < nlist; l++) {
        size_t sz = faiss_IndexIVF_get_list_size(ivf, l);
        longest = sz > longest ? sz : longest;
    }
    idx_t *ids = malloc((longest ? longest : 1) * sizeof *ids);
    b->list_of = malloc((n ? n : 1) * sizeof *b->list_of), b->n = n;
    b->pos = malloc(nlist * sizeof *b->pos);
    if (!ids || !b->list_of || !b->pos) {
        free(ids);
        return lr_err_set(err, LR_ENOMEM, "autotune: out of memory for the lists of %zu ids", n);
    }
    for (size_t i = 0; i < n; i++) b->list_of[i] = -1;
    for (size_t l = 0; l < nlist; l++) {
        b->pos[l] = -1;
        size_t sz = faiss_IndexIVF_get_list_size(ivf, l);
        faiss_IndexIVF_invlists_get_ids(ivf, l, ids);
        for (size_t j = 0; j < sz; j++)
            if (ids[j] >= 0 && (size_t)ids[j] < n) b->list_of[ids[j]] = (int32_t)l;
    }
    free(ids);
    return LR_OK;
}

/* The bound at nprobe p (p <= c->width) for the exact top k, counting again when the coarse
 * lists widened or k changed. */
static double bound_at(probe_bound *b, const coarse *c, size_t nq, const int64_t *exact, size_t k, size_t p) {
    if (b->width != c->width || b->k != k) {
        size_t *h = realloc(b->hist, (c->width + 1) * sizeof *h);
        if (!h) return 1.0; /* no bound: every setting is searched */
        b->hist = h, b->width = c->width, b->k = k;
        memset(h, 0, (c->width + 1) * sizeof *h);
        for (size_t q = 0; q < nq; q++) {
            const idx_t *lists = c->lists + q * c->width;
            for (size_t j = 0; j < c->width; j++) b->pos[lists[j]] = (int32_t)j;
            for (size_t i = 0; i < k; i++) {
                int64_t id = exact[q * k + i];
                int32_t l = id >= 0 && (size_t)id < b->n ? b->list_of[id] : -1, j = l >= 0 ? b->pos[l] : -1;
                if (id >= 0) h[j >= 0 ? (size_t)j : c->width]++;
            }
            for (size_t j = 0; j < c->width; j++) b->pos[lists[j]] = -1;
        }
    }
    size_t in = 0;
    for (size_t j = 0; j < p && j < b->width; j++) in += b->hist[j];
    return nq && k ? (double)in / (double)(nq * k) : 1.0;
}

/* The nprobe tried after p: 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (steps of 1.5x and 1.33x), then
 * nlist. Powers of two alone overshoot: at 10M items 48 lists reached recall@10 0.95 where the
 * next power of two, 64, reads a third more codes (docs/scaling.md). */
static size_t next_nprobe(size_t p, size_t nlist) {
    size_t next = p < 2 ? 2 : (p & (p - 1)) ? p / 3 * 4 : p / 2 * 3;
    return next > nlist ? nlist : next;
}

/* The cheapest (nprobe, depth) reaching `target` for recall@k, or the best recall tried.
 * exact: the true top k of each query (nq * k); ids, scores: scratch of nq * (k + 1). */
static int tune_one(lr_index *ix, size_t nq, const float *q, const int64_t *self, size_t k,
                    const int64_t *exact, double target, int64_t *ids, float *scores, coarse *c,
                    probe_bound *b, lr_index_tune *out, lr_err *err) {
    size_t nlist = lr_index_nlist(ix), dim = lr_index_dim(ix);
    size_t depths[5] = {0, 2 * k, 5 * k, 10 * k, 20 * k}, n_depths = ix->rs ? 5 : 1;
    double per_list = (double)lr_index_count(ix) / (double)nlist * code_bytes(lr_index_factory(ix), dim);
    lr_index_tune best = {k, 0, 0, -1.0, 0};
    double best_cost = INFINITY;
    for (size_t di = 0; di < n_depths; di++) {
        double depth_cost = (double)depths[di] * (double)dim * 4.0;
        if (best.reached && per_list + depth_cost >= best_cost) break; /* deeper only costs more */
        for (size_t p = 1;; p = next_nprobe(p, nlist)) {
            double cost = (double)p * per_list + depth_cost;
            if (best.reached && cost >= best_cost) break;
            int rc = b ? coarse_widen(ix, nq, q, p, c, err) : LR_OK;
            if (rc) return rc;
            if (b && p < nlist && bound_at(b, c, nq, exact, k, p) < target) continue; /* cannot reach it */
            rc = search_at(ix, nq, q, k, self, p, depths[di], ids, scores, c, err);
            if (rc) return rc;
            double r = recall_at(ids, exact, nq, k);
            int reached = r >= target;
            if ((reached && (!best.reached || cost < best_cost)) || (!best.reached && !reached && r > best.recall)) {
                best = (lr_index_tune){k, p, depths[di], r, reached};
                best_cost = cost;
            }
            if (reached || p == nlist) break;
        }
    }
    *out = best;
    return LR_OK;
}

/* nq rows of x (copied into q, their row numbers into self): all of them when nq = n, else drawn
 * at random with a fixed seed. Not every (n / nq)-th row: a catalogue written in some order
 * (by category, by cluster) would hand the tuning a slice of one kind of item. */
static void sample_rows(const float *x, size_t n, size_t dim, size_t nq, float *q, int64_t *self) {
    uint64_t state = 0x5eed;
    for (size_t i = 0; i < nq; i++) {
        uint64_t z = (state += 0x9e3779b97f4a7c15ULL); /* splitmix64 */
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        z ^= z >> 31;
        size_t row = nq == n ? i : (size_t)(z % n);
        memcpy(q + i * dim, x + row * dim, dim * sizeof *q);
        self[i] = (int64_t)row;
    }
}

int lr_index_autotune(lr_index *ix, const float *x, size_t n, const float *q, size_t nq,
                      const size_t *ks, size_t nk, double target, lr_index_tune *points,
                      size_t *n_points, lr_err *err) {
    size_t dim = lr_index_dim(ix);
    if (n_points) *n_points = 0;
    if (!lr_index_nlist(ix))
        return lr_err_set(err, LR_EUNSUPPORTED, "autotune: index '%s' has no nprobe to tune",
                          lr_index_factory(ix));
    if (!(target > 0 && target <= 1) || nq == 0 || nk == 0 || nk > LR_INDEX_MAX_POINTS)
        return lr_err_set(err, LR_EINVAL, "autotune: target recall must be in (0, 1], with queries "
                          "and 1 to %d values of k", LR_INDEX_MAX_POINTS);
    for (size_t i = 0; i < nk; i++)
        if (ks[i] == 0 || (i && ks[i] <= ks[i - 1]))
            return lr_err_set(err, LR_EINVAL, "autotune: the values of k must be ascending and at least 1");
    if (!q && nq > n) nq = n;
    size_t kmax = ks[nk - 1] < n ? ks[nk - 1] : n;
    float *own_q = q ? NULL : malloc(nq * dim * sizeof *own_q), *s = malloc(nq * (kmax + 1) * sizeof *s);
    int64_t *self = q ? NULL : malloc(nq * sizeof *self);
    int64_t *exact = malloc(nq * kmax * sizeof *exact), *approx = malloc(nq * (kmax + 1) * sizeof *approx);
    int64_t *truth = malloc(nq * (kmax + 1) * sizeof *truth);
    lr_index_tune chosen[LR_INDEX_MAX_POINTS];
    coarse lists = {0};
    probe_bound bound = {0};
    size_t m = 0;
    int rc = LR_OK;
    if ((!q && (!own_q || !self)) || !s || !exact || !approx || !truth) {
        rc = lr_err_set(err, LR_ENOMEM, "autotune: out of memory for %zu queries", nq);
        goto done;
    }
    if (!q) sample_rows(x, n, dim, nq, own_q, self);
    const float *queries = q ? q : own_q;
    /* the exact top kmax once: each k's truth is its first k */
    if ((rc = lr_index_exact_search(x, n, dim, queries, nq, self ? kmax + 1 : kmax, truth, s, err))) goto done;
    if (self) drop_self(truth, s, nq, kmax, self);
    /* the bound needs the coarse lists search_at reuses (lists_reusable) */
    int bounded = lists_reusable(ix);
    if (bounded && (rc = bound_init(ix, n, &bound, err))) goto done;
    for (size_t i = 0; i < nk && ks[i] < n; i++) { /* a k of n or more: every item, nothing to tune */
        size_t k = ks[i];
        for (size_t j = 0; j < nq; j++) memcpy(exact + j * k, truth + j * kmax, k * sizeof *exact);
        if ((rc = tune_one(ix, nq, queries, self, k, exact, target, approx, s, &lists, bounded ? &bound : NULL,
                           &chosen[m], err)))
            goto done;
        m++;
    }
    if (m && (rc = lr_index_set_points(ix, chosen, m, err))) goto done;
    if (points) memcpy(points, chosen, m * sizeof *points);
    if (n_points) *n_points = m;
done:
    coarse_free(&lists);
    bound_free(&bound);
    free(own_q);
    free(self);
    free(s);
    free(exact);
    free(approx);
    free(truth);
    return rc;
}

int lr_index_set_points(lr_index *ix, const lr_index_tune *points, size_t n, lr_err *err) {
    if (n > LR_INDEX_MAX_POINTS)
        return lr_err_set(err, LR_EINVAL, "%zu operating points, at most %d", n, LR_INDEX_MAX_POINTS);
    size_t max_probe = 0, max_depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (points[i].k == 0 || (i && points[i].k <= points[i - 1].k) || points[i].nprobe == 0)
            return lr_err_set(err, LR_EINVAL, "operating point %zu: k must ascend from 1 and nprobe "
                              "be at least 1 (k %zu, nprobe %zu)", i, points[i].k, points[i].nprobe);
        if (points[i].depth && !ix->rs)
            return lr_err_set(err, LR_EINVAL, "operating point for k %zu re-scores %zu candidates, "
                              "but the index has no re-scoring vectors", points[i].k, points[i].depth);
        if (points[i].nprobe > max_probe) max_probe = points[i].nprobe;
        if (points[i].depth > max_depth) max_depth = points[i].depth;
    }
    int rc = LR_OK;
    /* the deepest point is the index's own setting: what serves every k without a per-call nprobe */
    if (n && (rc = lr_index_set_nprobe(ix, max_probe, err))) return rc;
    /* the depth alone: points that do not re-score keep the vectors, which filtered searches
     * still score with exactly (lr_index_set_rescore with depth 0 would drop them) */
    if (n && ix->rs) ix->rs_depth = max_depth;
    memcpy(ix->points, points, n * sizeof *points);
    for (size_t i = 0; i < n; i++) /* as set_nprobe clamps */
        if (ix->points[i].nprobe > ix->nprobe) ix->points[i].nprobe = ix->nprobe;
    ix->n_points = n;
    return LR_OK;
}

const lr_index_tune *lr_index_points(const lr_index *ix, size_t *n) {
    *n = ix->n_points;
    return ix->points;
}

int lr_index_check_points(lr_index *ix, const float *x, size_t n, const float *q, size_t nq, double target,
                          lr_index_tune *measured, int *all_reached, lr_err *err) {
    size_t np = ix->n_points, dim = lr_index_dim(ix), kmax = 0;
    lr_index_tune pts[LR_INDEX_MAX_POINTS];
    memcpy(pts, ix->points, np * sizeof *pts);
    *all_reached = np > 0;
    for (size_t i = 0; i < np; i++) kmax = pts[i].k > kmax ? pts[i].k : kmax;
    if (kmax > n) kmax = n;
    size_t cells = nq * kmax + 1;
    int64_t *truth = malloc(cells * sizeof *truth), *exact = malloc(cells * sizeof *exact);
    int64_t *approx = malloc(cells * sizeof *approx);
    float *s = malloc(cells * sizeof *s);
    coarse lists = {0};
    int rc = !truth || !exact || !approx || !s ? lr_err_set(err, LR_ENOMEM, "checking the operating points: out of memory") : LR_OK;
    if (!rc && np) rc = lr_index_exact_search(x, n, dim, q, nq, kmax, truth, s, err);
    for (size_t i = 0; !rc && i < np; i++) {
        size_t k = pts[i].k < n ? pts[i].k : n;
        for (size_t j = 0; j < nq; j++) memcpy(exact + j * k, truth + j * kmax, k * sizeof *exact);
        rc = search_at(ix, nq, q, k, NULL, pts[i].nprobe, pts[i].depth, approx, s, &lists, err);
        if (rc) break;
        measured[i] = pts[i];
        measured[i].recall = recall_at(approx, exact, nq, k);
        measured[i].reached = measured[i].recall >= target;
        if (!measured[i].reached) *all_reached = 0;
    }
    if (!rc && np) rc = lr_index_set_points(ix, measured, np, err); /* back to the points, recall as measured now */
    free(truth), free(exact), free(approx), free(s);
    coarse_free(&lists);
    return rc;
}
