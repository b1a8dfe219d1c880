/* Tests of index/sq8_scan.c: learnrec's scan of 8-bit scalar codes against FAISS's own scan of
 * the same index, lists and queries. */
#include <math.h>

#include <faiss/c_api/Index_c.h>

#include "index_internal.h"
#include "lr_index.h"
#include "lr_test.h"

/* n vectors in a narrow cone, like the item tower's: one shared direction plus 30 clusters'
 * offsets and noise, not normalized, so codes, ranges and scores are all uneven. */
static float *cone(size_t n, size_t d, uint64_t seed) {
    float *x = malloc(n * d * sizeof *x), *c = malloc(31 * d * sizeof *c);
    for (size_t i = 0; i < 31 * d; i++) c[i] = lr_test_normal(&seed) * (i < d ? 3.0f : 0.4f);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < d; j++)
            x[i * d + j] = c[j] + c[(1 + i % 30) * d + j] + 0.2f * lr_test_normal(&seed) * (float)(1 + j % 3);
    free(c);
    return x;
}

/* FAISS's scan of the same index at nprobe (set on the index: nothing else searches it). */
static int faiss_scan(lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe, int64_t *ids,
                      float *scores, lr_err *err) {
    int rc = lr_index_set_nprobe(ix, nprobe, err);
    if (!rc && faiss_Index_search(ix->ix, (idx_t)nq, q, (idx_t)k, scores, (idx_t *)ids))
        rc = lr_index_faiss_fail(err, "search");
    return rc;
}

/* Both scans over the same lists: the same k best up to near-ties (at least 98% of the ids), and
 * the score at every rank within tol (the 16-bit rounding of the query's weights). */
static void same_as_faiss(lr_test_ctx *lr_t_, size_t d, size_t nprobe, size_t k) {
    size_t n = 6000, nq = 40;
    float *x = cone(n + nq, d, 17 + d), *q = x + n * d;
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF32,SQ8", &ix, &err), err);
    CHECK(lr_index_sq8_scannable(ix));
    int64_t *a = malloc(nq * k * sizeof *a), *b = malloc(nq * k * sizeof *b);
    float *sa = malloc(nq * k * sizeof *sa), *sb = malloc(nq * k * sizeof *sb);
    CHECK_OK(lr_index_search_nprobe(ix, nq, q, k, nprobe, a, sa, &err), err);
    CHECK_OK(faiss_scan(ix, nq, q, k, nprobe, b, sb, &err), err);
    size_t shared = 0, found = 0;
    double worst = 0;
    for (size_t i = 0; i < nq; i++) {
        double top = fabs(sb[i * k]);
        for (size_t j = 0; j < k; j++) {
            CHECK_EQ(a[i * k + j] < 0, b[i * k + j] < 0);
            if (b[i * k + j] < 0) continue;
            found++;
            double e = fabs((double)sa[i * k + j] - sb[i * k + j]) / (1.0 + top);
            if (e > worst) worst = e;
            for (size_t l = 0; l < k; l++) shared += a[i * k + j] == b[i * k + l];
        }
    }
    printf("  d %zu, nprobe %zu, k %zu: %zu of %zu ids shared, worst score gap %.2e\n", d, nprobe, k, shared,
           found, worst);
    CHECK(found > 0);
    CHECK(shared >= found * 98 / 100);
    CHECK(worst < 2e-5);
    lr_index_free(ix);
    free(x), free(a), free(b), free(sa), free(sb);
}

/* 64 and 48 dimensions take the AVX2 kernel where the CPU has it; 20 the portable loop. */
LR_TEST(the_scan_ranks_as_faiss_does_in_every_kernel) {
    same_as_faiss(lr_t_, 64, 4, 50);
    same_as_faiss(lr_t_, 48, 32, 100);
    same_as_faiss(lr_t_, 20, 8, 10);
    same_as_faiss(lr_t_, 65, 8, 10); /* an AVX2 CPU, a dimension it cannot take in blocks of 16 */
}

/* Fewer codes in the probed lists than k: each one, then -1 / -INFINITY, as FAISS pads. */
LR_TEST(short_lists_are_padded) {
    size_t n = 300, d = 16, k = 100;
    float *x = cone(n + 1, d, 3), *q = x + n * d;
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF16,SQ8", &ix, &err), err);
    int64_t a[100], b[100];
    float sa[100], sb[100];
    CHECK_OK(lr_index_search_nprobe(ix, 1, q, k, 1, a, sa, &err), err);
    CHECK_OK(faiss_scan(ix, 1, q, k, 1, b, sb, &err), err);
    size_t na = 0, nb = 0;
    for (size_t j = 0; j < k; j++) {
        na += a[j] >= 0, nb += b[j] >= 0;
        if (a[j] < 0) CHECK(sa[j] == -INFINITY);
        if (j && a[j] >= 0) CHECK(sa[j] <= sa[j - 1]);
    }
    CHECK_EQ(na, nb);
    CHECK(na > 0 && na < k);
    for (size_t j = na; j < k; j++) CHECK_EQ(a[j], -1);
    lr_index_free(ix);
    free(x);
}

/* A batch (spread over threads) answers each query as it would alone: the same ids, scores
 * within the last bits of the coarse inner product (BLAS sums a batch in another order). */
LR_TEST(a_batch_answers_as_single_queries) {
    size_t n = 4000, d = 32, nq = 33, k = 10;
    float *x = cone(n + nq, d, 5), *q = x + n * d;
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF32,SQ8", &ix, &err), err);
    int64_t *a = malloc(nq * k * sizeof *a), b[10];
    float *sa = malloc(nq * k * sizeof *sa), sb[10];
    CHECK_OK(lr_index_search_nprobe(ix, nq, q, k, 6, a, sa, &err), err);
    for (size_t i = 0; i < nq; i++) {
        CHECK_OK(lr_index_search_nprobe(ix, 1, q + i * d, k, 6, b, sb, &err), err);
        for (size_t j = 0; j < k; j++)
            CHECK(a[i * k + j] == b[j] && fabsf(sa[i * k + j] - sb[j]) <= 1e-6f * (1 + fabsf(sb[j])));
    }
    lr_index_free(ix);
    free(x), free(a), free(sa);
}

static int every_seventh(const void *ctx, int64_t id) {
    (void)ctx;
    return id % 7 == 3;
}

/* With a filter, asked either way: only ids it allows, the same ones FAISS's scan with an
 * IDSelector finds. */
LR_TEST(a_filter_admits_what_faiss_selector_admits) {
    size_t n = 6000, d = 64, nq = 30, k = 20;
    float *x = cone(n + nq, d, 23), *q = x + n * d;
    lr_err err = {0};
    lr_index *ix;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF32,SQ8", &ix, &err), err);
    int64_t *a = malloc(nq * k * sizeof *a), *b = malloc(nq * k * sizeof *b);
    float *sa = malloc(nq * k * sizeof *sa), *sb = malloc(nq * k * sizeof *sb);
    CHECK_EQ(lr_faiss_search_allowed(ix->ix, (idx_t)nq, q, (idx_t)k, 4, every_seventh, NULL, sb, (idx_t *)b), 0);
    const double shares[2] = {1.0 / 7, 1.0 / 700}; /* asked after scoring, and before */
    for (size_t m = 0; m < 2; m++) {
        CHECK_OK(lr_index_sq8_search(ix, nq, q, k, 4, every_seventh, NULL, shares[m], a, sa, &err), err);
        size_t shared = 0;
        for (size_t i = 0; i < nq * k; i++) {
            CHECK(a[i] >= 0 && a[i] % 7 == 3);
            for (size_t l = 0; l < k; l++) shared += a[i] == b[(i / k) * k + l];
        }
        CHECK(shared >= nq * k * 98 / 100);
    }
    lr_index_free(ix);
    free(x), free(a), free(b), free(sa), free(sb);
}

/* Other codes keep FAISS's scan. */
LR_TEST(only_8_bit_scalar_codes_are_scanned_here) {
    size_t n = 2000, d = 16;
    float *x = cone(n, d, 9);
    lr_err err = {0};
    const char *others[] = {"IVF16,Flat", "IVF16,SQ4", "IVF16,PQ8", "Flat"};
    for (size_t i = 0; i < 4; i++) {
        lr_index *ix;
        CHECK_OK(lr_index_build(x, n, d, NULL, others[i], &ix, &err), err);
        CHECK(!lr_index_sq8_scannable(ix));
        lr_index_free(ix);
    }
    free(x);
}

LR_TEST_MAIN(LR_CASE(the_scan_ranks_as_faiss_does_in_every_kernel), LR_CASE(short_lists_are_padded),
             LR_CASE(a_batch_answers_as_single_queries), LR_CASE(a_filter_admits_what_faiss_selector_admits),
             LR_CASE(only_8_bit_scalar_codes_are_scanned_here))
