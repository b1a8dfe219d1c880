/* Tests of index/index.c: build, search, add, remove, save and load through the FAISS C API. */
#include <math.h>

#include "lr_index.h"
#include "lr_test.h"

/* The default 4-bit PQ (32 sub-quantizers) on noisy 32-d clusters, no re-scoring: measured 0.481
 * on 2026-11-29 (chance is 10 / 20,000; with 16 sub-quantizers it was 0.212); re-scoring the
 * best 100 exactly: 0.949 (0.672 with 16). */
#define RECALL_BOUND 0.35
#define RESCORED_BOUND 0.85

/* n unit vectors of dimension d around 20 cluster centres: what item towers produce. */
static float *clustered(size_t n, size_t d, uint64_t seed) {
    float *x = malloc(n * d * sizeof *x), *c = malloc(20 * d * sizeof *c);
    for (size_t i = 0; i < 20 * d; i++) c[i] = lr_test_normal(&seed);
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) {
            x[i * d + j] = c[(i % 20) * d + j] + 0.5f * lr_test_normal(&seed);
            s += (double)x[i * d + j] * x[i * d + j];
        }
        for (size_t j = 0; j < d; j++) x[i * d + j] /= (float)sqrt(s);
    }
    free(c);
    return x;
}

/* Autotune for one k. */
static int tune1(lr_index *ix, const float *x, size_t n, const float *q, size_t nq, size_t k,
                 double target, lr_index_tune *t, lr_err *err) {
    return lr_index_autotune(ix, x, n, q, nq, &k, 1, target, t, NULL, err);
}

/* Share of the exact top k that the index's top k holds, over nq queries. */
static double index_recall(const lr_index *ix, const float *x, size_t n, const float *q, size_t nq,
                           size_t k, lr_err *err) {
    size_t d = lr_index_dim(ix), hit = 0;
    int64_t *a = malloc(nq * k * sizeof *a), *b = malloc(nq * k * sizeof *b);
    float *sa = malloc(nq * k * sizeof *sa), *sb = malloc(nq * k * sizeof *sb);
    int rc = lr_index_search(ix, nq, q, k, a, sa, err) || lr_index_exact_search(x, n, d, q, nq, k, b, sb, err);
    for (size_t i = 0; !rc && i < nq; i++)
        for (size_t j = 0; j < k; j++)
            for (size_t l = 0; l < k; l++) hit += b[i * k + j] == a[i * k + l];
    free(a); free(b); free(sa); free(sb);
    return rc ? -1.0 : (double)hit / (double)(nq * k);
}

LR_TEST(default_factory_scales_with_the_catalogue) {
    char f[64];
    lr_index_default_factory(500, 64, f, sizeof f);
    CHECK_STR_EQ(f, "Flat");
    lr_index_default_factory(100000, 64, f, sizeof f);
    CHECK_STR_EQ(f, "IVF1264,SQ8");
    lr_index_default_factory(2000, 64, f, sizeof f);
    CHECK_STR_EQ(f, "IVF51,SQ8"); /* 4 sqrt(2000) = 178 lists would have < 39 points each */
    lr_index_default_factory(2000, 33, f, sizeof f);
    CHECK_STR_EQ(f, "IVF51,SQ8"); /* scalar codes take any dimension */
    lr_index_default_factory(10000000, 64, f, sizeof f);
    CHECK_STR_EQ(f, "IVF12649,SQ8"); /* measured against PQ at 10M: still SQ8 (docs/scaling.md) */
}

/* Re-scoring vectors turn float16 from 1 GiB of float32 on. */
LR_TEST(default_vectors_dtype_turns_f16_at_one_gib) {
    CHECK_EQ(lr_index_default_vectors_f16(1000000, 64), 0);     /* 244 MiB */
    CHECK_EQ(lr_index_default_vectors_f16(4194303, 64), 0);     /* just under 1 GiB */
    CHECK_EQ(lr_index_default_vectors_f16(4194304, 64), 1);     /* 1 GiB */
    CHECK_EQ(lr_index_default_vectors_f16(10000000, 64), 1);
    CHECK_EQ(lr_index_default_vectors_f16(300000, 1024), 1);    /* wide vectors reach it sooner */
}

/* With IVF-Flat and nprobe = nlist every list is scanned exactly: the results are exact. */
LR_TEST(ivf_flat_probing_every_list_equals_exact_search) {
    size_t n = 3000, d = 16, k = 10, nq = 20;
    float *x = clustered(n, d, 1);
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF16,Flat", &ix, &err), err);
    CHECK_OK(lr_index_set_nprobe(ix, 16, &err), err);
    int64_t a[20 * 10], b[20 * 10];
    float sa[20 * 10], sb[20 * 10];
    CHECK_OK(lr_index_search(ix, nq, x, k, a, sa, &err), err);
    CHECK_OK(lr_index_exact_search(x, n, d, x, nq, k, b, sb, &err), err);
    for (size_t i = 0; i < nq * k; i++) {
        CHECK_EQ(a[i], b[i]);
        CHECK_NEAR(sa[i], sb[i], 1e-5);
    }
    CHECK_EQ(a[0], 0); /* a vector is its own nearest neighbour */
    lr_index_free(ix);
    free(x);
}

LR_TEST(ivf_pq_finds_exact_neighbours_far_above_chance) {
    size_t n = 20000, d = 32, k = 10, nq = 100;
    float *x = clustered(n, d, 2);
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF512,PQ32x4fs", &ix, &err), err);
    CHECK_EQ(lr_index_count(ix), n);
    int64_t *a = malloc(nq * k * sizeof *a), *b = malloc(nq * k * sizeof *b);
    float *sa = malloc(nq * k * sizeof *sa), *sb = malloc(nq * k * sizeof *sb);
    CHECK_OK(lr_index_set_nprobe(ix, 64, &err), err);
    CHECK_OK(lr_index_search(ix, nq, x + 5000 * d, k, a, sa, &err), err);
    CHECK_OK(lr_index_exact_search(x, n, d, x + 5000 * d, nq, k, b, sb, &err), err);
    size_t hit = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++) hit += a[q * k + i] == b[q * k + j];
    double recall = (double)hit / (double)(nq * k);
    /* exact re-scoring of the best 100 candidates */
    CHECK_OK(lr_index_set_rescore(ix, x, n, 100, &err), err);
    CHECK_OK(lr_index_search(ix, nq, x + 5000 * d, k, a, sa, &err), err);
    hit = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++) hit += a[q * k + i] == b[q * k + j];
    double rescored = (double)hit / (double)(nq * k);
    printf("  recall@10 against exact, nprobe 64: IVF-PQ %.3f, re-scoring 100 candidates %.3f\n",
           recall, rescored);
    CHECK(recall > RECALL_BOUND);
    CHECK(rescored > RESCORED_BOUND);
    CHECK_NEAR(sa[0], sb[0], 1e-5); /* re-scored scores are exact */
    lr_index_tune t;
    CHECK_OK(tune1(ix, x, n, x + 5000 * d, nq, k, 0.8, &t, &err), err);
    printf("  autotune for 0.8: nprobe %zu, depth %zu, recall %.3f\n", t.nprobe, t.depth, t.recall);
    CHECK(t.reached && t.depth > 0);
    free(a); free(b); free(sa); free(sb);
    lr_index_free(ix);
    free(x);
}

/* A call's own nprobe, below, at and above the index's setting (above it the lists are scanned
 * in passes and merged), gives what setting nprobe on the index gives, with and without
 * re-scoring, and leaves the index's setting alone. */
LR_TEST(per_call_nprobe_equals_setting_it_and_leaves_the_index_alone) {
    size_t n = 5000, d = 16, k = 50, nq = 70; /* more queries than one round of 64 */
    float *x = clustered(n, d, 7), *q = clustered(nq, d, 8); /* queries off the data: wide top k */
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF64,SQ8", &ix, &err), err);
    CHECK_OK(lr_index_set_nprobe(ix, 8, &err), err);
    int64_t *a = malloc(nq * k * sizeof *a), *b = malloc(nq * k * sizeof *b);
    float *sa = malloc(nq * k * sizeof *sa), *sb = malloc(nq * k * sizeof *sb);
    int64_t *own = malloc(nq * k * sizeof *own);
    const size_t probes[] = {1, 3, 8, 20, 64, 500};
    for (int rescore = 0; rescore <= 1; rescore++) {
        CHECK_OK(lr_index_set_rescore(ix, x, n, rescore ? 80 : 0, &err), err);
        CHECK_OK(lr_index_search(ix, nq, q, k, own, sb, &err), err);
        for (size_t t = 0; t < sizeof probes / sizeof *probes; t++) {
            CHECK_OK(lr_index_search_nprobe(ix, nq, q, k, probes[t], a, sa, &err), err);
            CHECK_EQ(lr_index_nprobe(ix), 8);
            CHECK_OK(lr_index_set_nprobe(ix, probes[t], &err), err);
            CHECK_OK(lr_index_search(ix, nq, q, k, b, sb, &err), err);
            CHECK_OK(lr_index_set_nprobe(ix, 8, &err), err);
            size_t differ = 0; /* from the index's own 8 lists: the call's nprobe did something */
            for (size_t i = 0; i < nq * k; i++) {
                CHECK_EQ(a[i], b[i]);
                if (a[i] >= 0) CHECK_NEAR(sa[i], sb[i], 1e-6);
                else CHECK(sa[i] == -INFINITY && sb[i] == -INFINITY); /* fewer than k in 1 list */
                differ += a[i] != own[i];
            }
            CHECK(probes[t] == 8 ? differ == 0 : differ > 0);
            /* the last query of each round of 64 too (merging is per query) */
            CHECK(a[63 * k + k - 1] == b[63 * k + k - 1] && a[69 * k + k - 1] == b[69 * k + k - 1]);
        }
        /* 0 is the index's own setting */
        CHECK_OK(lr_index_search_nprobe(ix, nq, q, k, 0, a, sa, &err), err);
        for (size_t i = 0; i < nq * k; i++) CHECK_EQ(a[i], own[i]);
    }
    free(own);
    free(q);
    lr_index_free(ix);
    /* fast-scan lists and flat indexes cannot take one */
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF64,PQ8x4fs", &ix, &err), err);
    CHECK_ERR(lr_index_search_nprobe(ix, 1, x, k, 4, a, sa, &err), err, LR_EUNSUPPORTED, "fast-scan");
    lr_index_free(ix);
    CHECK_OK(lr_index_build(x, n, d, NULL, "Flat", &ix, &err), err);
    CHECK_ERR(lr_index_search_nprobe(ix, 1, x, k, 4, a, sa, &err), err, LR_EUNSUPPORTED, "not an IVF index");
    CHECK_OK(lr_index_search_nprobe(ix, 1, x, k, 0, a, sa, &err), err);
    CHECK_EQ(a[0], 0);
    lr_index_free(ix);
    free(a); free(b); free(sa); free(sb);
    free(x);
}

/* The default 8-bit scalar codes rank almost exactly: recall needs no re-scoring vectors. */
LR_TEST(default_index_is_near_exact_without_rescoring) {
    size_t n = 20000, d = 32, k = 10, nq = 100;
    float *x = clustered(n, d, 2);
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, NULL, &ix, &err), err);
    CHECK_STR_EQ(lr_index_factory(ix), "IVF512,SQ8");
    lr_index_tune t;
    CHECK_OK(tune1(ix, x, n, x + 5000 * d, nq, k, 0.95, &t, &err), err);
    printf("  default index, autotune for recall@10 0.95: nprobe %zu, recall %.3f\n", t.nprobe, t.recall);
    CHECK(t.reached && t.depth == 0);
    CHECK(t.nprobe < 512); /* not a full scan */
    lr_index_free(ix);
    free(x);
}

/* Scalar-code lists support FAISS's own removal: no tombstones, and the id can come back. */
LR_TEST(default_index_removes_natively_and_takes_the_id_back) {
    size_t n = 3000, d = 16;
    float *x = clustered(n, d, 11);
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, NULL, &ix, &err), err);
    CHECK_OK(lr_index_set_nprobe(ix, 1000, &err), err);
    int64_t got[5], id = 7;
    float s[5];
    size_t removed = 0;
    CHECK_OK(lr_index_remove(ix, 1, &id, &removed, &err), err);
    CHECK_EQ(removed, 1);
    CHECK_EQ(lr_index_removed_count(ix), 0);
    CHECK_EQ(lr_index_count(ix), n - 1);
    CHECK_OK(lr_index_search(ix, 1, x + 7 * d, 5, got, s, &err), err);
    for (int i = 0; i < 5; i++) CHECK(got[i] != 7);
    CHECK_OK(lr_index_add(ix, 1, x + 7 * d, &id, &err), err);
    CHECK_OK(lr_index_search(ix, 1, x + 7 * d, 5, got, s, &err), err);
    CHECK_EQ(got[0], 7);
    lr_index_free(ix);
    free(x);
}

LR_TEST(ids_are_the_callers_and_results_are_padded) {
    size_t n = 50, d = 8;
    float *x = clustered(n, d, 3);
    int64_t ids[50];
    for (size_t i = 0; i < n; i++) ids[i] = (int64_t)i * 1000 + 7;
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, ids, NULL, &ix, &err), err);
    CHECK_STR_EQ(lr_index_factory(ix), "Flat");
    int64_t got[60];
    float s[60];
    CHECK_OK(lr_index_search(ix, 1, x + 3 * d, 60, got, s, &err), err);
    CHECK_EQ(got[0], 3007);
    CHECK_EQ(got[49] % 1000, 7);
    CHECK_EQ(got[50], -1);
    CHECK(isinf(s[59]) && s[59] < 0);
    lr_index_free(ix);
    free(x);
}

/* A cold-start item added after the build is found at once; a removed one is gone. */
LR_TEST(added_items_are_found_and_removed_ones_are_not) {
    size_t n = 3000, d = 16;
    float *x = clustered(n + 1, d, 4);
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF16,Flat", &ix, &err), err);
    int64_t new_id = 123456789, got[5];
    float s[5];
    CHECK_OK(lr_index_add(ix, 1, x + n * d, &new_id, &err), err);
    CHECK_EQ(lr_index_count(ix), n + 1);
    CHECK_OK(lr_index_set_nprobe(ix, 16, &err), err);
    CHECK_OK(lr_index_search(ix, 1, x + n * d, 5, got, s, &err), err);
    CHECK_EQ(got[0], new_id);
    size_t removed = 0;
    int64_t gone[2] = {new_id, 424242}; /* the second is not in the index */
    CHECK_OK(lr_index_remove(ix, 2, gone, &removed, &err), err);
    CHECK_EQ(removed, 1);
    CHECK_OK(lr_index_search(ix, 1, x + n * d, 5, got, s, &err), err);
    for (int i = 0; i < 5; i++) CHECK(got[i] != new_id);
    lr_index_free(ix);
    free(x);
}

LR_TEST(saved_index_loads_and_answers_the_same) {
    size_t n = 5000, d = 16;
    float *x = clustered(n, d, 5);
    lr_err err = {0};
    lr_index *ix, *back = NULL;
    CHECK_OK(lr_index_build(x, n, d, NULL, NULL, &ix, &err), err);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "items.faiss");
    int rc = lr_index_save(ix, path, &err);
    int rc2 = rc ? rc : lr_index_load(path, &back, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_EQ(lr_index_dim(back), d);
    CHECK_EQ(lr_index_count(back), n);
    CHECK_OK(lr_index_set_nprobe(back, lr_index_nprobe(ix), &err), err);
    int64_t a[10], b[10];
    float sa[10], sb[10];
    CHECK_OK(lr_index_search(ix, 1, x + 77 * d, 10, a, sa, &err), err);
    CHECK_OK(lr_index_search(back, 1, x + 77 * d, 10, b, sb, &err), err);
    CHECK(memcmp(a, b, sizeof a) == 0);
    lr_index_free(ix);
    lr_index_free(back);
    free(x);
}

/* The setting chosen reaches the target, and the next cheaper one (half the lists) does not. */
LR_TEST(autotune_picks_the_cheapest_nprobe_reaching_the_target) {
    size_t n = 4000, d = 16, nq = 50, k = 10;
    float *x = clustered(n + nq, d, 6), *q = x + n * d; /* queries: fresh draws, not items */
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF32,Flat", &ix, &err), err);
    const double targets[] = {0.999, 0.9, 0.6};
    size_t last = 1000;
    for (size_t i = 0; i < 3; i++) {
        lr_index_tune t;
        CHECK_OK(tune1(ix, x, n, q, nq, k, targets[i], &t, &err), err);
        CHECK(t.reached && t.k == k && t.depth == 0);
        CHECK_EQ(lr_index_nprobe(ix), t.nprobe);
        CHECK_NEAR(index_recall(ix, x, n, q, nq, k, &err), t.recall, 1e-12); /* what searches get */
        CHECK(t.recall >= targets[i]);
        CHECK(t.nprobe <= last); /* an easier target never costs more */
        last = t.nprobe;
        if (t.nprobe > 1) { /* cheapest: half the lists miss the target */
            lr_index_tune cheaper = t;
            cheaper.nprobe /= 2;
            CHECK_OK(lr_index_set_points(ix, &cheaper, 1, &err), err);
            double r = index_recall(ix, x, n, q, nq, k, &err);
            printf("  target %.3f: nprobe %zu gives %.3f, nprobe %zu gives %.3f\n", targets[i], t.nprobe,
                   t.recall, cheaper.nprobe, r);
            CHECK(r < targets[i]);
        }
    }
    CHECK(last < 32); /* the loosest target does not scan everything */
    lr_index *flat;
    lr_index_tune t;
    CHECK_OK(lr_index_build(x, 100, d, NULL, "Flat", &flat, &err), err);
    CHECK_ERR(tune1(flat, x, 100, x, 5, 5, 0.9, &t, &err), err, LR_EUNSUPPORTED, "no nprobe to tune");
    lr_index_free(flat);
    lr_index_free(ix);
    free(x);
}

/* Several k at once (each tuned against its own exact top k, in one call): each point is still
 * the cheapest, half its lists missing the target. */
LR_TEST(autotune_points_for_several_k_are_each_the_cheapest) {
    size_t n = 4000, d = 16, nq = 50, ks[2] = {5, 50};
    float *x = clustered(n + nq, d, 6), *q = x + n * d;
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF32,Flat", &ix, &err), err);
    lr_index_tune pts[2];
    size_t np;
    CHECK_OK(lr_index_autotune(ix, x, n, q, nq, ks, 2, 0.9, pts, &np, &err), err);
    CHECK_EQ(np, 2);
    for (size_t j = 0; j < np; j++) {
        CHECK(pts[j].reached && pts[j].k == ks[j] && pts[j].recall >= 0.9);
        if (pts[j].nprobe < 2) continue;
        lr_index_tune cheaper = pts[j];
        cheaper.nprobe /= 2;
        CHECK_OK(lr_index_set_points(ix, &cheaper, 1, &err), err);
        double r = index_recall(ix, x, n, q, nq, ks[j], &err);
        printf("  k %zu: nprobe %zu gives %.3f, nprobe %zu gives %.3f\n", ks[j], pts[j].nprobe, pts[j].recall,
               cheaper.nprobe, r);
        CHECK(r < 0.9);
    }
    lr_index_free(ix);
    free(x);
}

/* An IVF index whose coarse quantizer is an HNSW graph probes the lists nprobe asks for: with
 * every list probed, the index's own search, a per-call nprobe and a filtered search are all
 * exact (FAISS's graph search alone would stop at its efSearch of 16). */
LR_TEST(a_graph_quantizer_probes_every_list_asked_for) {
    size_t n = 170000, d = 16, nq = 20, k = 20;
    float *x = clustered(n + nq, d, 5), *q = x + n * d;
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF4096_HNSW32,Flat", &ix, &err), err);
    CHECK_OK(lr_index_set_nprobe(ix, 4096, &err), err);
    CHECK_NEAR(index_recall(ix, x, n, q, nq, k, &err), 1.0, 1e-12);
    CHECK_OK(lr_index_set_nprobe(ix, 4, &err), err);
    int64_t got[20], want[20];
    float s1[20], s2[20];
    double hit = 0;
    for (size_t i = 0; i < nq; i++) {
        CHECK_OK(lr_index_search_nprobe(ix, 1, q + i * d, k, 4096, got, s1, &err), err); /* per call */
        CHECK_OK(lr_index_exact_search(x, n, d, q + i * d, 1, k, want, s2, &err), err);
        for (size_t a = 0; a < k; a++)
            for (size_t b = 0; b < k; b++) hit += got[a] == want[b];
    }
    CHECK_NEAR(hit / (double)(nq * k), 1.0, 1e-12);
    lr_index_free(ix);
    free(x);
}

/* The promise users read: tuned with no queries given (items left out of their own results), the
 * recall@10 and recall@100 that fresh queries from the items' distribution get at the chosen
 * settings is within 0.01 of the target. Items with noise added, the old tuning queries, found
 * themselves and made a single list look like enough. */
LR_TEST(default_tuning_holds_on_fresh_queries_at_k_10_and_100) {
    size_t n = 20000, d = 32, nq = 1000, ks[2] = {10, 100};
    float *x = clustered(n + nq, d, 12), *fresh = x + n * d; /* the fresh queries are not indexed */
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, NULL, &ix, &err), err);
    CHECK_OK(lr_index_set_rescore(ix, x, n, 1, &err), err);
    const double targets[] = {0.95, 0.9};
    for (size_t i = 0; i < 2; i++) {
        lr_index_tune pts[2];
        size_t np;
        CHECK_OK(lr_index_autotune(ix, x, n, NULL, 1000, ks, 2, targets[i], pts, &np, &err), err);
        CHECK_EQ(np, 2);
        for (size_t j = 0; j < 2; j++) {
            double r = index_recall(ix, x, n, fresh, nq, ks[j], &err);
            printf("  target %.2f, k %zu: nprobe %zu, depth %zu, tuned %.3f, fresh queries %.3f\n", targets[i],
                   ks[j], pts[j].nprobe, pts[j].depth, pts[j].recall, r);
            CHECK(pts[j].reached && pts[j].k == ks[j]);
            CHECK(r >= targets[i] - 0.01);
        }
    }
    lr_index_free(ix);
    free(x);
}

/* A search takes the operating point of its k: the first point whose k is at least its k, the
 * last one above them all; a call's explicit nprobe still wins. */
LR_TEST(search_follows_the_operating_point_of_its_k) {
    size_t n = 5000, d = 16, nq = 20;
    float *x = clustered(n + nq, d, 9), *q = x + n * d;
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF64,SQ8", &ix, &err), err);
    CHECK_OK(lr_index_set_rescore(ix, x, n, 1, &err), err);
    lr_index_tune pts[2] = {{10, 2, 0, 0.9, 1}, {100, 16, 300, 0.9, 1}};
    CHECK_OK(lr_index_set_points(ix, pts, 2, &err), err);
    CHECK_EQ(lr_index_nprobe(ix), 16); /* the deepest point is the index's own setting */
    CHECK_EQ(lr_index_rescore_depth(ix), 300);
    const size_t ks[4] = {5, 10, 50, 400}, want_probe[4] = {2, 2, 16, 16}, want_depth[4] = {0, 0, 300, 300};
    int64_t *a = malloc(nq * 400 * sizeof *a), *b = malloc(nq * 400 * sizeof *b);
    float *sa = malloc(nq * 400 * sizeof *sa), *sb = malloc(nq * 400 * sizeof *sb);
    lr_index *bare; /* the same index with no points: nprobe and depth set by hand */
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF64,SQ8", &bare, &err), err);
    for (size_t t = 0; t < 4; t++) {
        size_t k = ks[t];
        CHECK_OK(lr_index_search(ix, nq, q, k, a, sa, &err), err);
        CHECK_OK(lr_index_set_rescore(bare, x, n, want_depth[t], &err), err);
        CHECK_OK(lr_index_search_nprobe(bare, nq, q, k, want_probe[t], b, sb, &err), err);
        for (size_t i = 0; i < nq * k; i++) CHECK_EQ(a[i], b[i]);
        /* an explicit nprobe overrides the point's, the point's depth stays */
        CHECK_OK(lr_index_search_nprobe(ix, nq, q, k, 64, a, sa, &err), err);
        CHECK_OK(lr_index_search_nprobe(bare, nq, q, k, 64, b, sb, &err), err);
        for (size_t i = 0; i < nq * k; i++) CHECK_EQ(a[i], b[i]);
    }
    size_t np;
    CHECK(lr_index_points(ix, &np)[1].depth == 300 && np == 2);
    lr_index_tune bad[2] = {{100, 4, 0, 0.9, 1}, {10, 4, 0, 0.9, 1}};
    CHECK_ERR(lr_index_set_points(ix, bad, 2, &err), err, LR_EINVAL, "k must ascend");
    /* points that do not re-score keep the vectors (filters still score with them), and later
     * points may re-score again */
    lr_index_tune shallow[2] = {{10, 2, 0, 0.9, 1}, {100, 16, 0, 0.9, 1}};
    CHECK_OK(lr_index_set_points(ix, shallow, 2, &err), err);
    CHECK_EQ(lr_index_rescore_depth(ix), 0);
    CHECK_STR_EQ(lr_index_rescore_source(ix), "memory");
    CHECK_OK(lr_index_set_points(ix, pts, 2, &err), err);
    CHECK_EQ(lr_index_rescore_depth(ix), 300);
    CHECK_OK(lr_index_set_rescore(bare, NULL, 0, 0, &err), err);
    CHECK_ERR(lr_index_set_points(bare, pts, 2, &err), err, LR_EINVAL, "no re-scoring vectors");
    free(a); free(b); free(sa); free(sb);
    lr_index_free(bare);
    lr_index_free(ix);
    free(x);
}

LR_TEST(removed_ids_of_a_fast_scan_index_are_never_returned) {
    size_t n = 3000, d = 16;
    float *x = clustered(n, d, 10);
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF16,PQ16x4fs", &ix, &err), err);
    int64_t before[10], after[10];
    float s[10];
    CHECK_OK(lr_index_search(ix, 1, x + 7 * d, 10, before, s, &err), err);
    size_t removed = 0;
    CHECK_OK(lr_index_remove(ix, 3, before, &removed, &err), err); /* the 3 best */
    CHECK_EQ(removed, 3);
    CHECK_OK(lr_index_remove(ix, 1, before, &removed, &err), err);
    CHECK_EQ(removed, 0); /* already removed */
    CHECK_EQ(lr_index_removed_count(ix), 3);
    CHECK_OK(lr_index_search(ix, 1, x + 7 * d, 10, after, s, &err), err);
    for (int i = 0; i < 10; i++) {
        CHECK(after[i] >= 0);
        for (int j = 0; j < 3; j++) CHECK(after[i] != before[j]);
    }
    CHECK_EQ(after[0], before[3]); /* the rest keep their order */
    lr_index_free(ix);
    free(x);
}

LR_TEST(bad_input_is_refused) {
    lr_err err = {0};
    lr_index *ix = (lr_index *)&ix;
    float x[4 * 4] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
    CHECK_ERR(lr_index_build(x, 4, 4, NULL, "NoSuchIndex", &ix, &err), err, LR_EFAISS,
              "'NoSuchIndex': index: the factory string was refused");
    CHECK(ix == NULL);
    x[5] = NAN;
    CHECK_ERR(lr_index_build(x, 4, 4, NULL, NULL, &ix, &err), err, LR_EINVAL, "vector 1 has a NaN");
    x[5] = 1;
    CHECK_OK(lr_index_build(x, 4, 4, NULL, NULL, &ix, &err), err);
    float q[4] = {INFINITY, 0, 0, 0};
    int64_t id;
    float s;
    CHECK_ERR(lr_index_search(ix, 1, q, 1, &id, &s, &err), err, LR_EINVAL, "query 0 has a NaN or Inf");
    CHECK_ERR(lr_index_set_nprobe(ix, 4, &err), err, LR_EUNSUPPORTED, "not an IVF index");
    lr_index_free(ix);
    /* a removed id of a fast-scan index cannot come back before a rebuild */
    float *big = clustered(2000, 16, 9);
    CHECK_OK(lr_index_build(big, 2000, 16, NULL, "IVF16,PQ16x4fs", &ix, &err), err);
    int64_t gone = 5;
    CHECK_OK(lr_index_remove(ix, 1, &gone, NULL, &err), err);
    CHECK_ERR(lr_index_add(ix, 1, big, &gone, &err), err, LR_EINVAL, "rebuild to reuse the id");
    lr_index_free(ix);
    free(big);
    lr_index *l;
    CHECK_ERR(lr_index_load("/nonexistent/items.faiss", &l, &err), err, LR_ENOTFOUND, "/nonexistent");
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_file(dir, "junk.faiss", "this is not an index") == 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "junk.faiss");
    int rc = lr_index_load(path, &l, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFAISS, "reading the index");
}

/* ---- the exact-search oracle against a naive loop --------------------------------------------- */

typedef struct {
    double score;
    int64_t id;
} scored;

static int best_first(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* The reference: q's inner product with each of the n rows of x (n * d) in double, into
 * by_id (n), and the rows sorted best first into rank (n). */
static void naive_rank(const float *x, size_t n, size_t d, const float *q, double *by_id, scored *rank) {
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (double)q[j] * (double)x[i * d + j];
        by_id[i] = s;
        rank[i] = (scored){s, (int64_t)i};
    }
    qsort(rank, n, sizeof *rank, best_first);
}

/* One query's answer (ids, scores: k each) against the reference: the same id at each rank
 * whose score is not within 1e-6 of a neighbour's (where it is, FAISS may order the tie either
 * way: an id scoring as much will do), no id twice, scores within 1e-5, -1 / -INFINITY past the
 * n rows. 0 when they agree, else 1 with the first difference in why; *strict counts the ranks
 * whose id had to be equal. */
static int differs(const double *by_id, const scored *rank, size_t n, const int64_t *ids, const float *scores,
                   size_t k, size_t *strict, char *why, size_t cap) {
    for (size_t j = 0; j < k; j++) {
        if (j >= n) {
            if (ids[j] == -1 && isinf(scores[j]) && scores[j] < 0) continue;
            snprintf(why, cap, "rank %zu of %zu rows: id %lld score %g, expected -1 and -inf", j, n,
                     (long long)ids[j], (double)scores[j]);
            return 1;
        }
        int tied = (j > 0 && rank[j - 1].score - rank[j].score <= 1e-6) ||
                   (j + 1 < n && rank[j].score - rank[j + 1].score <= 1e-6);
        int bad_id = ids[j] < 0 || ids[j] >= (int64_t)n ||
                     (tied ? fabs(by_id[ids[j]] - rank[j].score) > 1e-5 : ids[j] != rank[j].id);
        for (size_t l = 0; l < j && !bad_id; l++) bad_id = ids[l] == ids[j];
        if (bad_id || fabs((double)scores[j] - rank[j].score) > 1e-5) {
            snprintf(why, cap, "rank %zu: id %lld score %.9g, the naive loop has id %lld score %.9g%s", j,
                     (long long)ids[j], (double)scores[j], (long long)rank[j].id, rank[j].score,
                     tied ? " (tied)" : "");
            return 1;
        }
        *strict += !tied;
    }
    return 0;
}

/* lr_index_exact_search is the ground truth of autotune and of the tests, so it is checked once
 * against the plainest computation there is: on 400 unit vectors, one row a copy of another (a
 * true tie, and query 0 is that row), 200 queries, k from 1 to beyond the number of rows. */
LR_TEST(exact_search_equals_a_naive_double_precision_loop) {
    size_t n = 400, d = 32, nq = 200, ks[4] = {1, 10, 100, 450};
    float *x = clustered(n, d, 5), *q = clustered(nq, d, 6), *scores = malloc(nq * 450 * sizeof *scores);
    int64_t *ids = malloc(nq * 450 * sizeof *ids);
    double *by_id = malloc(n * sizeof *by_id);
    scored *rank = malloc(n * sizeof *rank);
    CHECK(x && q && scores && ids && by_id && rank);
    memcpy(x + 300 * d, x + 7 * d, d * sizeof *x);
    memcpy(q, x + 7 * d, d * sizeof *q);
    lr_err err = {0};
    char why[256];
    size_t strict = 0, checked = 0;
    for (size_t t = 0; t < 4; t++) {
        size_t k = ks[t];
        CHECK_OK(lr_index_exact_search(x, n, d, q, nq, k, ids, scores, &err), err);
        for (size_t i = 0; i < nq; i++) {
            naive_rank(x, n, d, q + i * d, by_id, rank);
            if (differs(by_id, rank, n, ids + i * k, scores + i * k, k, &strict, why, sizeof why))
                LR_FAIL_("k %zu, query %zu: %s", k, i, why);
            checked += k < n ? k : n;
        }
    }
    CHECK(ids[0] == 7 || ids[0] == 300); /* query 0's tie, either way round */
    CHECK(strict > checked * 9 / 10);    /* the ties, which only need a score, are the exception */
    /* fewer rows than k: the answer is every row, then padding */
    CHECK_OK(lr_index_exact_search(x, 7, d, q, nq, 12, ids, scores, &err), err);
    for (size_t i = 0; i < nq; i++) {
        naive_rank(x, 7, d, q + i * d, by_id, rank);
        if (differs(by_id, rank, 7, ids + i * 12, scores + i * 12, 12, &strict, why, sizeof why))
            LR_FAIL_("7 rows, k 12, query %zu: %s", i, why);
    }
    free(x), free(q), free(scores), free(ids), free(by_id), free(rank);
}

LR_TEST_MAIN(LR_CASE(default_factory_scales_with_the_catalogue), LR_CASE(default_vectors_dtype_turns_f16_at_one_gib),
             LR_CASE(ivf_flat_probing_every_list_equals_exact_search),
             LR_CASE(ivf_pq_finds_exact_neighbours_far_above_chance),
             LR_CASE(per_call_nprobe_equals_setting_it_and_leaves_the_index_alone),
             LR_CASE(default_index_is_near_exact_without_rescoring),
             LR_CASE(default_index_removes_natively_and_takes_the_id_back),
             LR_CASE(ids_are_the_callers_and_results_are_padded),
             LR_CASE(added_items_are_found_and_removed_ones_are_not),
             LR_CASE(saved_index_loads_and_answers_the_same),
             LR_CASE(autotune_picks_the_cheapest_nprobe_reaching_the_target),
             LR_CASE(autotune_points_for_several_k_are_each_the_cheapest),
             LR_CASE(a_graph_quantizer_probes_every_list_asked_for),
             LR_CASE(default_tuning_holds_on_fresh_queries_at_k_10_and_100),
             LR_CASE(search_follows_the_operating_point_of_its_k),
             LR_CASE(removed_ids_of_a_fast_scan_index_are_never_returned),
             LR_CASE(bad_input_is_refused),
             LR_CASE(exact_search_equals_a_naive_double_precision_loop))
