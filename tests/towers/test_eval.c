/* Tests of towers/eval.c and towers/baselines.c: metrics on cases worked out by hand. */
#include <math.h>

#include "lr_data.h"
#include "lr_test.h"
#include "lr_towers.h"

/* Items on the unit circle; user 0 points at item 0 (rank 0), user 1 at item 2 but its target
 * is item 1, which two items beat (rank 2). */
LR_TEST(ranks_give_the_textbook_metrics) {
    const float items[] = {1, 0, 0.8f, 0.6f, 0.6f, 0.8f, 0, 1};
    const float users[] = {1, 0, 0.6f, 0.8f};
    const int32_t targets[] = {0, 0};
    lr_eval_metrics m;
    lr_err err = {0};
    /* user 1: scores 0.6, 0.96, 1.0, 0.8 -> target item 0 (0.6) has 3 above: rank 3 */
    CHECK_OK(lr_towers_eval_vectors(users, 2, targets, items, 4, 2, &m, &err), err);
    CHECK_EQ(m.users, 2);
    CHECK_NEAR(m.recall10, 1.0, 1e-12);
    CHECK_NEAR(m.ndcg10, (1.0 + 1.0 / log2(5.0)) / 2, 1e-9);
    CHECK_NEAR(m.mrr, (1.0 + 0.25) / 2, 1e-9);
}

LR_TEST(ties_count_as_random_order) {
    float scores[20] = {0};
    const int32_t targets[] = {3};
    lr_eval_metrics m;
    lr_err err = {0};
    CHECK_OK(lr_towers_eval_scores(scores, 20, targets, 1, &m, &err), err);
    CHECK_NEAR(m.recall10, 0.5, 1e-12); /* 10 of the 20 equally likely ranks are < 10 */
    CHECK_NEAR(m.recall50, 1.0, 1e-12);
    double mrr = 0;
    for (int r = 1; r <= 20; r++) mrr += 1.0 / r;
    CHECK_NEAR(m.mrr, mrr / 20, 1e-12);
}

LR_TEST(large_ties_keep_mrr_exact_enough) {
    size_t n = 100000;
    float *scores = calloc(n, sizeof *scores);
    const int32_t targets[] = {7};
    lr_eval_metrics m;
    lr_err err = {0};
    CHECK_OK(lr_towers_eval_scores(scores, n, targets, 1, &m, &err), err);
    double mrr = 0;
    for (size_t r = 1; r <= n; r++) mrr += 1.0 / (double)r;
    CHECK_NEAR(m.mrr, mrr / (double)n, 1e-7);
    CHECK_NEAR(m.recall10, 10.0 / (double)n, 1e-12);
    free(scores);
}

LR_TEST(negative_targets_are_skipped_and_bad_ones_refused) {
    float scores[3] = {3, 2, 1};
    int32_t targets[] = {-1, 2};
    lr_eval_metrics m;
    lr_err err = {0};
    CHECK_OK(lr_towers_eval_scores(scores, 3, targets, 2, &m, &err), err);
    CHECK_EQ(m.users, 1);
    CHECK_NEAR(m.mrr, 1.0 / 3, 1e-12);
    targets[0] = 3;
    CHECK_ERR(lr_towers_eval_scores(scores, 3, targets, 2, &m, &err), err, LR_ERANGE,
              "target 3 of user 0 is outside the 3 items");
}

/* One user a b c d e: train a b c, valid target d (history a b c), test target e. */
LR_TEST(baselines_use_only_what_comes_before_the_target) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_file(dir, "B.inter", "user_id:token\titem_id:token\ttimestamp:float\n"
                                             "u\ta\t1\nu\tb\t2\nu\tc\t3\nu\td\t4\nu\te\t5\n"
                                             "v\ta\t1\nv\tb\t2\n") == 0);
    lr_err err = {0};
    lr_data *d;
    int rc = lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    float pop[5];
    lr_towers_baseline_popularity(d, pop);
    CHECK_NEAR(pop[0], 2, 0); /* a: u's train part, and v has < 3 items so all of it trains */
    CHECK_NEAR(pop[2], 1, 0);
    CHECK_NEAR(pop[3], 0, 0);
    const float c[] = {1, 0, 0, 1, 1, 1, 5, 5, 9, 9}; /* 5 items x 2 */
    lr_content *ct;
    CHECK_OK(lr_data_matrix_from_floats(c, 5, 2, &ct, &err), err);
    float users[4];
    int32_t targets[2];
    CHECK_OK(lr_towers_baseline_mean_content(d, ct, LR_SPLIT_TEST, 2, users, targets, &err), err);
    CHECK_EQ(targets[0], 4);
    CHECK_EQ(targets[1], -1);
    CHECK_NEAR(users[0], 3, 1e-6); /* mean of c and d, the newest 2 before e */
    CHECK_NEAR(users[1], 3, 1e-6);
    CHECK_OK(lr_towers_baseline_mean_content(d, ct, LR_SPLIT_VALID, 50, users, targets, &err), err);
    CHECK_EQ(targets[0], 3);
    CHECK_NEAR(users[0], 2.0 / 3, 1e-6);
    lr_data_matrix_free(ct);
    lr_data_free(d);
}

/* Ranks kept per user give the same metrics as the aggregate, per slice too, and the top lists
 * are the best items (ties by lower id). */
LR_TEST(per_user_ranks_and_top_lists) {
    const float items[] = {1, 0, 0.8f, 0.6f, 0.6f, 0.8f, 0, 1, 0.8f, 0.6f};
    const float users[] = {1, 0, 0.6f, 0.8f, 0, 1};
    const int32_t targets[] = {0, 0, -1};
    lr_eval_rank ranks[3];
    int32_t top[9];
    lr_eval_metrics all, agg, first;
    lr_err err = {0};
    CHECK_OK(lr_towers_eval_ranks(users, 3, targets, items, 5, 2, NULL, NULL, ranks, 3, top, &err), err);
    CHECK(ranks[0].above == 0 && ranks[0].ties == 0);
    CHECK(ranks[1].above == 4 && ranks[1].ties == 0); /* 0.96, 1.0, 0.8, 0.96 beat 0.6 */
    CHECK(ranks[2].above == SIZE_MAX);
    CHECK(top[0] == 0 && top[1] == 1 && top[2] == 4); /* 1.0, then 0.8 twice: ids 1 and 4 */
    CHECK(top[3] == 2 && top[4] == 1 && top[5] == 4);
    CHECK(top[6] == -1 && top[8] == -1);
    lr_towers_eval_summarize(ranks, targets, NULL, 3, &all);
    CHECK_OK(lr_towers_eval_vectors(users, 3, targets, items, 5, 2, &agg, &err), err);
    CHECK(all.users == 2 && fabs(all.mrr - agg.mrr) < 1e-12 && fabs(all.ndcg10 - agg.ndcg10) < 1e-12);
    const unsigned char only_first[3] = {1, 0, 1};
    lr_towers_eval_summarize(ranks, targets, only_first, 3, &first);
    CHECK(first.users == 1 && first.mrr == 1.0);
    CHECK_ERR(lr_towers_eval_ranks(users, 3, targets, items, 5, 2, NULL, NULL, ranks, 6, top, &err), err, LR_EINVAL, "top 6 of 5");
}

/* Items left out of a user's ranking (its history) neither beat the target nor fill its top list;
 * a target among them ranks last. */
LR_TEST(excluded_items_leave_the_ranking) {
    const float items[] = {1, 0, 0.8f, 0.6f, 0.6f, 0.8f, 0, 1, 0.8f, 0.6f};
    const float users[] = {1, 0, 0.6f, 0.8f};
    const int32_t targets[] = {0, 0};
    const size_t off[] = {0, 1, 3};
    const int32_t ex[] = {0, 1, 2}; /* user 0: its own target; user 1: items 1 and 2 */
    lr_eval_rank ranks[2];
    int32_t top[6];
    lr_err err = {0};
    CHECK_OK(lr_towers_eval_ranks(users, 2, targets, items, 5, 2, off, ex, ranks, 3, top, &err), err);
    CHECK(ranks[0].above == 4 && ranks[0].ties == 0);
    CHECK(ranks[1].above == 2 && ranks[1].ties == 0); /* 0.96 (item 4) and 0.8 (item 3) beat 0.6 */
    CHECK(top[0] == 1 && top[1] == 4 && top[2] == 2);
    CHECK(top[3] == 4 && top[4] == 3 && top[5] == 0);
}

LR_TEST_MAIN(LR_CASE(ranks_give_the_textbook_metrics), LR_CASE(excluded_items_leave_the_ranking), LR_CASE(ties_count_as_random_order),
             LR_CASE(large_ties_keep_mrr_exact_enough),
             LR_CASE(negative_targets_are_skipped_and_bad_ones_refused),
             LR_CASE(baselines_use_only_what_comes_before_the_target), LR_CASE(per_user_ranks_and_top_lists))
