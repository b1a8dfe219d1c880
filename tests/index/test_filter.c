/* Tests of index/filter.c and filter_search.c: filtered search against an exact filtered search. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lr_index.h"
#include "lr_test.h"

#define N 6000
#define D 16

/* Vectors in 20 loose clusters, unit length, and attributes that cut across them:
 * "shelf" s<i % 100> (1% each), "half" h<i % 2> (50%), "tag" rare for i % 1000 == 0 (0.1%)
 * and common for i % 10 == 1; items i % 7 == 0 have no shelf. */
static float *vectors(void) {
    float *x = malloc(N * D * sizeof *x);
    uint64_t s = 11;
    for (size_t i = 0; i < N; i++) {
        float norm = 0;
        for (size_t d = 0; d < D; d++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            float noise = (float)((s >> 33) % 2001) / 1000.0f - 1.0f;
            x[i * D + d] = sinf((float)((i % 20) * 7 + d)) + 0.6f * noise;
            norm += x[i * D + d] * x[i * D + d];
        }
        for (size_t d = 0; d < D; d++) x[i * D + d] /= sqrtf(norm);
    }
    return x;
}

static lr_index_attrs *attributes(lr_err *err) {
    static char shelf_names[100][16];
    const char *shelves[100], *halves[2] = {"h0", "h1"}, *tags[2] = {"rare", "common"};
    for (int v = 0; v < 100; v++) snprintf(shelf_names[v], 16, "s%d", v), shelves[v] = shelf_names[v];
    size_t *so = malloc((N + 1) * sizeof *so), *ho = malloc((N + 1) * sizeof *ho), *to = malloc((N + 1) * sizeof *to);
    uint32_t *si = malloc(N * sizeof *si), *hi = malloc(N * sizeof *hi), *ti = malloc(N * sizeof *ti);
    so[0] = ho[0] = to[0] = 0;
    for (size_t i = 0; i < N; i++) {
        so[i + 1] = so[i], to[i + 1] = to[i];
        if (i % 7) si[so[i + 1]++] = (uint32_t)(i % 100);
        hi[i] = (uint32_t)(i % 2), ho[i + 1] = i + 1;
        if (i % 1000 == 0) ti[to[i + 1]++] = 0;
        else if (i % 10 == 1) ti[to[i + 1]++] = 1;
    }
    lr_index_attrs *a = NULL;
    int rc = lr_index_attrs_new(N, &a, err);
    if (!rc) rc = lr_index_attrs_add(a, "shelf", shelves, 100, so, si, err);
    if (!rc) rc = lr_index_attrs_add(a, "half", halves, 2, ho, hi, err);
    if (!rc) rc = lr_index_attrs_add(a, "tag", tags, 2, to, ti, err);
    free(so), free(ho), free(to), free(si), free(hi), free(ti);
    if (rc) lr_index_attrs_free(a);
    return rc ? NULL : a;
}

/* The index over vectors() with attributes() and, with rescore, re-scoring vectors. */
static lr_index *world(const float *x, const char *factory, size_t nprobe, int rescore, lr_err *err) {
    lr_index *ix = NULL;
    int rc = lr_index_build(x, N, D, NULL, factory, &ix, err);
    if (!rc && nprobe) rc = lr_index_set_nprobe(ix, nprobe, err);
    if (!rc && rescore) rc = lr_index_set_rescore(ix, x, N, 20, err);
    lr_index_attrs *a = rc ? NULL : attributes(err);
    if (!rc && !a) rc = err->code ? err->code : LR_ENOMEM;
    if (rc) {
        lr_index_free(ix);
        return NULL;
    }
    lr_index_set_attrs(ix, a);
    return ix;
}

/* The exact filtered top k of query q (ties by id), *n of them. */
static void exact_filtered(const float *x, const float *q, const lr_index_filter *f, size_t k, int64_t *ids, size_t *n) {
    float *best = malloc(k * sizeof *best);
    *n = 0;
    for (int64_t i = 0; i < N; i++) {
        if (!lr_index_filter_allows(f, i)) continue;
        float s = 0;
        for (size_t d = 0; d < D; d++) s += q[d] * x[i * D + d];
        size_t at = *n < k ? (*n)++ : k;
        while (at > 0 && best[at - 1] < s) {
            if (at < k) best[at] = best[at - 1], ids[at] = ids[at - 1];
            at--;
        }
        if (at < k) best[at] = s, ids[at] = i;
    }
    free(best);
}

/* Over 40 queries (items' own vectors, slightly moved): every result passes, as many results as
 * pass up to k, and *recall the share of the exact filtered top k found. */
static void check_filter(lr_test_ctx *lr_t_, const lr_index *ix, const float *x, const lr_index_filter *f, size_t k,
                         double *recall) {
    int64_t ids[100], want[100];
    float scores[100], q[D];
    size_t hit = 0, total = 0, bad = 0, short_of = 0;
    lr_err err = {0};
    for (size_t t = 0; t < 40; t++) {
        for (size_t d = 0; d < D; d++) q[d] = x[(t * 149 % N) * D + d] + 0.05f * sinf((float)(t + d));
        CHECK_OK(lr_index_search_filter(ix, 1, q, k, 0, f, ids, scores, &err), err);
        size_t n;
        exact_filtered(x, q, f, k, want, &n);
        size_t got = 0;
        for (size_t j = 0; j < k; j++) {
            if (ids[j] < 0) continue;
            got++;
            bad += !lr_index_filter_allows(f, ids[j]);
            for (size_t w = 0; w < n; w++) hit += want[w] == ids[j];
        }
        short_of += got < n;
        total += n;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(short_of, 0);
    *recall = total ? (double)hit / (double)total : 1.0;
}

static lr_index_filter *filter_on(const lr_index *ix, const char *attr, const char *value, int deny) {
    lr_index_filter *f = NULL;
    lr_err err = {0};
    size_t len = strlen(value);
    if (lr_index_filter_new(lr_index_get_attrs(ix), &f, &err) ||
        lr_index_filter_values(f, attr, &value, &len, 1, deny, &err)) {
        lr_index_filter_free(f);
        return NULL;
    }
    return f;
}

/* In the scan (50%), exact (1%, 0.1%), a deny clause, on IVF with SQ codes and re-scoring. */
LR_TEST(filtered_results_pass_and_match_an_exact_filtered_search) {
    float *x = vectors();
    lr_err err = {0};
    lr_index *ix = world(x, "IVF32,SQ8", 4, 1, &err);
    CHECK_OK(ix ? LR_OK : err.code, err);
    struct { const char *attr, *value; int deny; double min_recall; } cases[] = {
        {"half", "h1", 0, 0.9}, {"shelf", "s7", 0, 0.999}, {"tag", "rare", 0, 0.999}, {"half", "h0", 1, 0.9},
        {"tag", "common", 0, 0.9}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        lr_index_filter *f = filter_on(ix, cases[c].attr, cases[c].value, cases[c].deny);
        CHECK(f);
        double r;
        check_filter(lr_t_, ix, x, f, 10, &r);
        if (r < cases[c].min_recall) LR_FAIL_("%s %s%s: recall@10 %.3f", cases[c].attr, cases[c].deny ? "not " : "", cases[c].value, r);
        lr_index_filter_free(f);
    }
    lr_index_free(ix);
    free(x);
}

/* Without re-scoring vectors, a narrow filter is found in the scan, probing more lists. */
LR_TEST(narrow_filters_without_vectors_probe_more_lists) {
    float *x = vectors();
    lr_err err = {0};
    lr_index *ix = world(x, "IVF32,Flat", 2, 0, &err);
    CHECK_OK(ix ? LR_OK : err.code, err);
    lr_index_filter *f = filter_on(ix, "shelf", "s3", 0);
    double r;
    check_filter(lr_t_, ix, x, f, 10, &r);
    CHECK(r >= 0.95);
    lr_index_filter_free(f);
    f = filter_on(ix, "tag", "rare", 0); /* 6 items: all of them, then -1 */
    check_filter(lr_t_, ix, x, f, 10, &r);
    CHECK(r == 1.0);
    lr_index_filter_free(f);
    lr_index_free(ix);
    free(x);
}

/* Fast-scan codes take no selector: over-fetch and deepen, still k results that pass. */
LR_TEST(fast_scan_indexes_over_fetch_instead) {
    float *x = vectors();
    lr_err err = {0};
    lr_index *ix = world(x, "IVF16,PQ8x4fs", 4, 1, &err);
    CHECK_OK(ix ? LR_OK : err.code, err);
    lr_index_filter *f = NULL;
    CHECK_OK(lr_index_filter_new(lr_index_get_attrs(ix), &f, &err), err);
    double plain, r;
    check_filter(lr_t_, ix, x, f, 10, &plain); /* no clause: the index's own recall */
    lr_index_filter_free(f);
    f = filter_on(ix, "half", "h0", 0);
    check_filter(lr_t_, ix, x, f, 10, &r);
    /* the lists probed are the index's (no per-call nprobe here): as good as unfiltered */
    if (r < plain - 0.05) LR_FAIL_("recall@10 %.3f filtered, %.3f unfiltered", r, plain);
    lr_index_filter_free(f);
    f = filter_on(ix, "shelf", "s42", 0);
    check_filter(lr_t_, ix, x, f, 10, &r);
    CHECK(r >= 0.99); /* exact over its 51 items */
    lr_index_filter_free(f);
    lr_index_free(ix);
    free(x);
}

/* Clauses combine: two values of one attribute (either), two attributes (both), ids allowed and
 * denied; items without the attribute pass its deny clause, not its allow clause. */
LR_TEST(clauses_combine_as_documented) {
    float *x = vectors();
    lr_err err = {0};
    lr_index *ix = world(x, "Flat", 0, 0, &err);
    CHECK_OK(ix ? LR_OK : err.code, err);
    lr_index_filter *f = NULL;
    CHECK_OK(lr_index_filter_new(lr_index_get_attrs(ix), &f, &err), err);
    const char *two[2] = {"s1", "s2"}, *h1 = "h1", *none = "s999";
    size_t lens[2] = {2, 2}, one = 2, n4 = 4;
    CHECK_OK(lr_index_filter_values(f, "shelf", two, lens, 2, 0, &err), err);
    CHECK_OK(lr_index_filter_values(f, "half", &h1, &one, 1, 0, &err), err);
    CHECK_OK(lr_index_filter_values(f, "shelf", &none, &n4, 1, 1, &err), err); /* denies nothing */
    int64_t deny[2] = {101, 1}, allow[4] = {1, 101, 102, 201};
    CHECK_OK(lr_index_filter_ids(f, deny, 2, 1, &err), err);
    CHECK(lr_index_filter_allows(f, 201));   /* s1, h1 */
    CHECK(!lr_index_filter_allows(f, 101));  /* s1, h1, denied by id */
    CHECK(!lr_index_filter_allows(f, 102));  /* s2 but h0 */
    CHECK(!lr_index_filter_allows(f, 301 * 7)); /* no shelf: fails the allow clause */
    size_t on_s1_s2 = 0;
    for (size_t i = 0; i < N; i++) on_s1_s2 += i % 7 && (i % 100 == 1 || i % 100 == 2);
    CHECK_EQ(lr_index_filter_estimate(f), on_s1_s2); /* the allow list on shelf bounds it */
    double r;
    check_filter(lr_t_, ix, x, f, 10, &r);
    CHECK(r == 1.0);
    CHECK_OK(lr_index_filter_ids(f, allow, 4, 0, &err), err);
    CHECK_EQ(lr_index_filter_estimate(f), 4);
    int64_t ids[10];
    float scores[10], q[D] = {1};
    CHECK_OK(lr_index_search_filter(ix, 1, q, 10, 0, f, ids, scores, &err), err);
    CHECK(ids[0] == 201 && ids[1] == -1); /* 1 and 101 denied, 102 fails half */
    CHECK_ERR(lr_index_filter_ids(f, allow, 1, 0, &err), err, LR_EINVAL, "the allowed ids are given twice");
    lr_index_filter_free(f);
    f = filter_on(ix, "shelf", "s5", 1); /* not s5: items without a shelf pass */
    CHECK(lr_index_filter_allows(f, 7) && !lr_index_filter_allows(f, 5));
    lr_index_filter_free(f);
    CHECK_OK(lr_index_filter_new(lr_index_get_attrs(ix), &f, &err), err);
    CHECK_ERR(lr_index_filter_values(f, "colour", two, lens, 1, 0, &err), err, LR_EINVAL,
              "no attribute 'colour' in the served version (it has: shelf, half, tag)");
    lr_index_filter_free(f);
    lr_index_free(ix);
    free(x);
}

/* The first k results of q under a one-clause filter into ids. */
static void search_on(lr_test_ctx *lr_t_, const lr_index *ix, const float *q, const char *attr, const char *value,
                      int deny, size_t k, int64_t *ids) {
    lr_index_filter *f = filter_on(ix, attr, value, deny);
    float scores[16];
    lr_err err = {0};
    CHECK(f != NULL);
    if (f) CHECK_OK(lr_index_search_filter(ix, 1, q, k, 0, f, ids, scores, &err), err);
    lr_index_filter_free(f);
}

/* Items added with attributes: new values and known ones, seen by every way a filter runs (exact
 * candidates, the scan's bitmap, the per-id check), replaced when set again; a catalogue id given
 * attributes holds those, not its own. */
LR_TEST(added_items_carry_their_attributes) {
    float *x = vectors();
    lr_err err = {0};
    lr_index *ix = world(x, "IVF32,SQ8", 4, 1, &err);
    CHECK_OK(ix ? LR_OK : err.code, err);
    int64_t ids[3] = {N + 1, N + 2, N + 3};
    float add[3 * D];
    memcpy(add, x + 5 * D, D * sizeof *add), memcpy(add + D, x + 6 * D, D * sizeof *add), memcpy(add + 2 * D, x + 8 * D, D * sizeof *add);
    const char *v_new[1] = {"s_new"}, *v_h1[1] = {"h1"}, *v_s3[2] = {"s3", "s3"};
    size_t l5[2] = {5, 5}, l2[2] = {2, 2};
    lr_index_item_values e[3] = {{"shelf", 5, v_new, l5, 1}, {"half", 4, v_h1, l2, 1}, {"shelf", 5, v_s3, l2, 2}};
    size_t off[4] = {0, 2, 3, 3};
    CHECK_OK(lr_index_set_added_attrs(ix, 3, ids, off, e, &err), err);
    CHECK_OK(lr_index_add(ix, 3, add, ids, &err), err);
    const lr_index_attrs *a = lr_index_get_attrs(ix);
    size_t n;
    const uint32_t *v = lr_index_attrs_of(a, 0, N + 1, &n);
    CHECK(n == 1 && strcmp(lr_index_attrs_value(a, 0, v[0]), "s_new") == 0);
    CHECK_EQ(lr_index_attrs_num_values(a, 0), 101);
    lr_index_attrs_of(a, 0, N + 2, &n);
    CHECK_EQ(n, 1); /* s3 given twice counts once */
    lr_index_attrs_of(a, 1, N + 3, &n);
    CHECK_EQ(n, 0);
    int64_t got[4];
    search_on(lr_t_, ix, x + 5 * D, "shelf", "s_new", 0, 3, got); /* 1 item: exact candidates, no row: scanned */
    CHECK(got[0] == N + 1 && got[1] == -1);
    search_on(lr_t_, ix, x + 6 * D, "shelf", "s3", 0, 2, got);
    CHECK_EQ(got[0], N + 2);
    search_on(lr_t_, ix, x + 5 * D, "half", "h1", 0, 2, got); /* 50%: in the scan */
    CHECK((got[0] == 5 && got[1] == N + 1) || (got[0] == N + 1 && got[1] == 5));
    search_on(lr_t_, ix, x + 5 * D, "shelf", "s_new", 1, 3, got);
    for (size_t j = 0; j < 3; j++) CHECK(got[j] != N + 1);
    /* a catalogue id with attributes of its own; the scan's bitmap only (exact ratio 0) */
    int64_t ten = 10;
    size_t off1[2] = {0, 1};
    CHECK_OK(lr_index_set_added_attrs(ix, 1, &ten, off1, e, &err), err);
    lr_index_filter_policy scan_only = {0.0, 0.5};
    CHECK_OK(lr_index_set_filter_policy(ix, &scan_only, &err), err);
    search_on(lr_t_, ix, x + 10 * D, "shelf", "s_new", 0, 3, got);
    CHECK(got[0] == 10 && got[1] == N + 1 && got[2] == -1);
    search_on(lr_t_, ix, x + 10 * D, "shelf", "s10", 0, 3, got);
    for (size_t j = 0; j < 3; j++) CHECK(got[j] != 10);
    /* set again with nothing: holds nothing */
    size_t off0[2] = {0, 0};
    CHECK_OK(lr_index_set_added_attrs(ix, 1, ids, off0, e, &err), err);
    lr_index_attrs_of(a, 0, N + 1, &n);
    CHECK_EQ(n, 0);
    lr_index_attrs_of(a, 0, N + 2, &n);
    CHECK_EQ(n, 1);
    /* refused whole */
    lr_index_item_values bad[2] = {{"colour", 6, v_new, l5, 1}, {"shelf", 5, v_new, l5, 1}};
    CHECK_ERR(lr_index_check_added_attrs(ix, 1, off1, bad, &err), err, LR_EINVAL, "items[0]: no attribute 'colour'");
    size_t zero = 0;
    lr_index_item_values empty = {"shelf", 5, v_new, &zero, 1};
    CHECK_ERR(lr_index_set_added_attrs(ix, 1, ids, off1, &empty, &err), err, LR_EINVAL, "a value must be 1 to 1024 bytes");
    lr_index_item_values twice[2] = {{"shelf", 5, v_new, l5, 1}, {"shelf", 5, v_new, l5, 1}};
    size_t off2[2] = {0, 2};
    CHECK_ERR(lr_index_check_added_attrs(ix, 1, off2, twice, &err), err, LR_EINVAL, "attribute 'shelf' given twice");
    lr_index_free(ix);
    free(x);
}

/* Caps: on a flat index, the greedy pass over the exact ranking; items without the attribute
 * uncapped; a cap the catalogue cannot fill gives fewer, never a broken cap. */
LR_TEST(caps_take_the_best_that_fit) {
    float *x = vectors();
    lr_err err = {0};
    lr_index *ix = world(x, "Flat", 0, 0, &err);
    CHECK_OK(ix ? LR_OK : err.code, err);
    const lr_index_attrs *a = lr_index_get_attrs(ix);
    float q[D];
    for (size_t d = 0; d < D; d++) q[d] = x[77 * D + d];
    int64_t ids[40], all[N];
    float scores[40];
    lr_index_cap one_shelf = {"shelf", 1};
    CHECK_OK(lr_index_search_capped(ix, q, 40, 0, NULL, &one_shelf, 1, ids, scores, &err), err);
    /* the expectation: every item by exact score, then greedily under the cap */
    lr_index_filter *none = NULL;
    CHECK_OK(lr_index_filter_new(a, &none, &err), err);
    size_t n;
    exact_filtered(x, q, none, N, all, &n);
    lr_index_filter_free(none);
    int used[100] = {0};
    size_t w = 0;
    for (size_t j = 0; j < n && w < 40; j++) {
        size_t nv;
        const uint32_t *v = lr_index_attrs_of(a, 0, all[j], &nv);
        if (nv && used[v[0]]) continue;
        if (nv) used[v[0]] = 1;
        if (ids[w] != all[j]) LR_FAIL_("result %zu is %lld, the greedy pass takes %lld", w, (long long)ids[w], (long long)all[j]);
        w++;
    }
    CHECK_EQ(w, 40);
    lr_index_cap half = {"half", 3};
    CHECK_OK(lr_index_search_capped(ix, q, 40, 0, NULL, &half, 1, ids, scores, &err), err);
    size_t got = 0;
    for (size_t j = 0; j < 40; j++) got += ids[j] >= 0;
    CHECK_EQ(got, 6); /* two values, three each: all the catalogue has */
    lr_index_cap bad = {"colour", 1};
    CHECK_ERR(lr_index_search_capped(ix, q, 10, 0, NULL, &bad, 1, ids, scores, &err), err, LR_EINVAL, "no attribute 'colour'");
    lr_index_free(ix);
    free(x);
}

LR_TEST_MAIN(LR_CASE(filtered_results_pass_and_match_an_exact_filtered_search),
             LR_CASE(narrow_filters_without_vectors_probe_more_lists), LR_CASE(fast_scan_indexes_over_fetch_instead),
             LR_CASE(clauses_combine_as_documented), LR_CASE(caps_take_the_best_that_fit),
             LR_CASE(added_items_carry_their_attributes))
