/* Benchmark of filtered search on a published index: queries per second on one thread and
 * recall@k against an exact filtered search, at filters keeping 50%, 10%, 1% and 0.1% of the
 * items, for each way of filtering:
 *   policy   lr_index_search_filter as served (it chooses per call)
 *   in-scan  the IDSelector inside FAISS's scan, forced (exact_ratio 0)
 *   exact    the allowed items scored one by one, forced (when the index has vectors)
 *   post     what a caller without filters does: search k / share * 2 unfiltered, then drop
 * and the unfiltered search of the same index as the peer of the same run.
 * The filter is an attribute drawn per item from a hash of its id (so it is independent of
 * where the item's vector lies): value "p50" on 50% of the items, "p10", "p1" and "p01" on
 * nested subsets of 10%, 1% and 0.1%.
 *
 * usage: bench_filter --index DIR --queries Q.npy [--n-queries N] [-k K] [--only p50|p10|p1|p01] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench_cli.h"
#include "lr_data.h"
#include "lr_index.h"

static const char k_usage[] =
    "usage: bench_filter --index DIR --queries Q.npy [--n-queries N] [-k K] [--only V]\n\n"
    "Filtered search on the current version of the index directory DIR (its re-scoring vectors\n"
    "are the exact vectors): QPS on one thread and recall@k against exact filtered search, at\n"
    "filters keeping 50%, 10%, 1% and 0.1% of the items, for the served policy, the in-scan\n"
    "selector, the exact path and post-filtering, beside the unfiltered search.\n"
    "  Q.npy         query vectors (e.g. `learnrec embed-users` output; zero rows are skipped)\n"
    "  --n-queries   at most this many queries, evenly spread (default 200)\n"
    "  -k            results per query (default 10)\n"
    "  --only V      only the filter on value V (p50, p10, p1 or p01)\n";

static uint64_t mix(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const char *const k_values[4] = {"p50", "p10", "p1", "p01"};
static const unsigned k_per_mille[4] = {500, 100, 10, 1};

/* Item i holds every value whose per-mille share is above its hash's draw (nested subsets). */
static lr_index_attrs *bucket_attrs(size_t n) {
    size_t *off = malloc((n + 1) * sizeof *off);
    uint32_t *ids = malloc(4 * n * sizeof *ids);
    off[0] = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned draw = (unsigned)(mix(i + 1) % 1000);
        off[i + 1] = off[i];
        for (uint32_t v = 0; v < 4; v++)
            if (draw < k_per_mille[v]) ids[off[i + 1]++] = v;
    }
    lr_index_attrs *a = NULL;
    lr_err err = {0};
    if (lr_index_attrs_new(n, &a, &err) || lr_index_attrs_add(a, "bucket", k_values, 4, off, ids, &err)) {
        fprintf(stderr, "bench_filter: %s\n", err.msg);
        exit(1);
    }
    free(off);
    free(ids);
    return a;
}

/* The exact filtered top k of each query over the allowed rows of x (n * d): want (nq * k). */
static void exact_truth(const float *x, size_t d, const int64_t *allowed, size_t m, const float *q, size_t nq,
                        size_t k, int64_t *want) {
    float *s = malloc(m * sizeof *s);
    for (size_t i = 0; i < nq; i++) {
        for (size_t j = 0; j < m; j++) s[j] = cblas_sdot((int)d, q + i * d, 1, x + (size_t)allowed[j] * d, 1);
        for (size_t t = 0; t < k; t++) { /* k passes: k is small */
            size_t best = SIZE_MAX;
            for (size_t j = 0; j < m; j++)
                if (s[j] > -INFINITY && (best == SIZE_MAX || s[j] > s[best])) best = j;
            want[i * k + t] = best == SIZE_MAX ? -1 : allowed[best];
            if (best != SIZE_MAX) s[best] = -INFINITY;
        }
    }
    free(s);
}

static double recall(const int64_t *got, const int64_t *want, size_t nq, size_t k) {
    size_t hit = 0, total = 0;
    for (size_t i = 0; i < nq * k; i += k)
        for (size_t a = 0; a < k; a++) {
            if (want[i + a] < 0) continue;
            total++;
            for (size_t b = 0; b < k; b++) hit += got[i + b] == want[i + a];
        }
    return total ? (double)hit / (double)total : 1.0;
}

typedef enum { WAY_POLICY, WAY_SCAN, WAY_EXACT, WAY_POST, WAY_NONE } way;
static const char *const k_way_names[] = {"policy", "in-scan", "exact", "post-filter", "unfiltered"};

/* Runs every query one at a time the given way (alpha > 0: the scan's nprobe growth); *qps, and
 * the ids into got (nq * k). */
static int run_way(lr_index *ix, way w, double alpha, const lr_index_filter *f, double share, const float *q,
                   size_t nq, size_t d, size_t k, int64_t *got, double *qps) {
    lr_index_filter_policy p = lr_index_filter_policy_default();
    if (alpha > 0) p.alpha = alpha;
    if (w == WAY_SCAN) p.exact_ratio = 1e300; /* the exact path never looks cheaper */
    if (w == WAY_EXACT) p.exact_ratio = 0;    /* always does */
    lr_err err = {0};
    lr_index_set_filter_policy(ix, w == WAY_POLICY && alpha <= 0 ? NULL : &p, &err);
    /* every way starts with cold caches, as a request for a filter nobody asked for lately does:
     * a warm cache would flatter the exact path (its rows are the same from query to query here) */
    unsigned char *evict = malloc(256u << 20);
    if (evict) {
        memset(evict, 1, 256u << 20);
        __asm__ volatile("" : : "r"(evict) : "memory"); /* the stores happen */
        free(evict);
    }
    size_t post_k = (size_t)ceil((double)k / share * 2.0);
    int64_t *ids = malloc(post_k * sizeof *ids);
    float *scores = malloc(post_k * sizeof *scores);
    double t0 = bench_now_s();
    int rc = 0;
    for (size_t i = 0; i < nq && !rc; i++) {
        const float *qi = q + i * d;
        if (w == WAY_POST) {
            rc = lr_index_search(ix, 1, qi, post_k, ids, scores, &err);
            size_t m = 0;
            for (size_t j = 0; j < post_k && m < k; j++)
                if (ids[j] >= 0 && lr_index_filter_allows(f, ids[j])) got[i * k + m++] = ids[j];
            for (; m < k; m++) got[i * k + m] = -1;
        } else if (w == WAY_NONE) {
            rc = lr_index_search(ix, 1, qi, k, got + i * k, scores, &err);
        } else {
            rc = lr_index_search_filter(ix, 1, qi, k, 0, f, got + i * k, scores, &err);
        }
    }
    *qps = (double)nq / (bench_now_s() - t0);
    if (rc) fprintf(stderr, "bench_filter: %s\n", err.msg);
    free(ids);
    free(scores);
    lr_index_set_filter_policy(ix, NULL, &err);
    return rc;
}

int main(int argc, char **argv) {
    bench_help_exits(argc, argv, k_usage);
    const char *dir = NULL, *qpath = NULL, *only = NULL;
    size_t want_q = 200, k = 10;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--index")) dir = bench_value("bench_filter", argc, argv, &i);
        else if (!strcmp(argv[i], "--queries")) qpath = bench_value("bench_filter", argc, argv, &i);
        else if (!strcmp(argv[i], "--n-queries")) want_q = bench_size("bench_filter", "--n-queries", bench_value("bench_filter", argc, argv, &i), 1, 100000);
        else if (!strcmp(argv[i], "--only")) only = bench_value("bench_filter", argc, argv, &i);
        else if (!strcmp(argv[i], "-k")) k = bench_size("bench_filter", "-k", bench_value("bench_filter", argc, argv, &i), 1, 1000);
        else bench_refuse("bench_filter", "unknown option '%s'", argv[i]);
    }
    if (!dir || !qpath) bench_refuse("bench_filter", "--index and --queries are required");
    openblas_set_num_threads(1);
    lr_err err = {0};
    lr_index *ix = NULL;
    lr_index_manifest man;
    lr_data_matrix *qm = NULL, *xm = NULL;
    char vpath[4200];
    snprintf(vpath, sizeof vpath, "%s/current/vectors.npy", dir);
    if (lr_index_open(dir, NULL, 0, NULL, 0, &ix, &man, &err) || lr_data_matrix_open(qpath, 0, &qm, &err) ||
        lr_data_matrix_open(vpath, 0, &xm, &err)) {
        fprintf(stderr, "bench_filter: %s (the version needs its re-scoring vectors: they are the exact ones)\n", err.msg);
        return 1;
    }
    size_t n = lr_index_count(ix), d = lr_index_dim(ix), rows = lr_data_matrix_rows(qm), nq = 0;
    float *q = malloc(want_q * d * sizeof *q);
    for (size_t i = 0; i < want_q && rows; i++) { /* evenly spread, zero rows skipped */
        const float *r = lr_data_matrix_data(qm) + (i * rows / want_q) * d;
        float norm = cblas_snrm2((int)d, r, 1);
        if (norm > 0) memcpy(q + nq++ * d, r, d * sizeof *q);
    }
    lr_index_set_attrs(ix, bucket_attrs(n));
    printf("index %s (%s, %zu x %zu, nprobe %zu, re-scoring depth %zu), %zu queries from %s, k = %zu, one thread\n",
           dir, man.factory, n, d, lr_index_nprobe(ix), lr_index_rescore_depth(ix), nq, qpath, k);
    int64_t *got = malloc(nq * k * sizeof *got), *want = malloc(nq * k * sizeof *want);
    double qps_none;
    run_way(ix, WAY_NONE, 0, NULL, 1.0, q, nq, d, k, got, &qps_none);
    printf("unfiltered: %.0f QPS\n\n", qps_none);
    printf("| keeps | way | QPS | x unfiltered | recall@%zu |\n|---|---|---|---|---|\n", k);
    for (int v = 0; v < 4; v++) {
        if (only && strcmp(only, k_values[v])) continue;
        lr_index_filter *f = NULL;
        size_t len = strlen(k_values[v]);
        lr_index_filter_new(lr_index_get_attrs(ix), &f, &err);
        lr_index_filter_values(f, "bucket", &k_values[v], &len, 1, 0, &err);
        size_t n_allowed = 0;
        for (size_t i = 0; i < n; i++) n_allowed += lr_index_filter_allows(f, (int64_t)i);
        int64_t *allowed = malloc(n_allowed * sizeof *allowed);
        for (size_t i = 0, m = 0; i < n; i++)
            if (lr_index_filter_allows(f, (int64_t)i)) allowed[m++] = (int64_t)i;
        exact_truth(lr_data_matrix_data(xm), d, allowed, n_allowed, q, nq, k, want);
        double share = (double)n_allowed / (double)n;
        static const double alphas[] = {0, 0.5, 0.75};
        for (way w = WAY_POLICY; w <= WAY_POST; w++)
            for (size_t a = 0; a < (w == WAY_SCAN ? 3 : 1); a++) {
                double qps;
                if (run_way(ix, w, alphas[a], f, share, q, nq, d, k, got, &qps)) return 1;
                char name[64];
                snprintf(name, sizeof name, a ? "%s, alpha %.2g" : "%s", k_way_names[w], alphas[a]);
                printf("| %.1f%% (%zu) | %s | %.0f | %.2f | %.4f |\n", 100.0 * share, n_allowed, name, qps, qps / qps_none,
                       recall(got, want, nq, k));
                fflush(stdout);
            }
        free(allowed);
        lr_index_filter_free(f);
    }
    free(got), free(want), free(q);
    lr_data_matrix_free(qm);
    lr_data_matrix_free(xm);
    lr_index_free(ix);
    return 0;
}
