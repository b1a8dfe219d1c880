/* Tests of datasets/recbole.c, load.c and write.c: RecBole atomic files, real and malformed. */
#include "lr_data.h"
#include "lr_test.h"

#define SCI LR_SHARED_DIR "/datasets/amazon-scientific"
#define ML LR_SHARED_DIR "/datasets/ml-100k"

LR_TEST(scientific_counts_match_readme) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(lr_data_load(SCI, &d, &err), err);
    lr_data_stats st = lr_data_get_stats(d);
    CHECK_EQ(lr_data_get_format(d), LR_DATA_RECBOLE_SEQ);
    CHECK_EQ(st.users, 8442);
    CHECK_EQ(st.items, 4385);
    CHECK_EQ(st.interactions, 59427);
    CHECK_EQ(st.users_with_targets, 8442);
    CHECK_EQ(st.items_without_text, 0);
    CHECK_NEAR(st.mean_seq_len, 7.04, 0.005);
    lr_data_free(d);
}

/* Test row of user 0: history 0..12, target 13; valid: 0..11 -> 12 (first lines of the files). */
LR_TEST(scientific_split_matches_the_files) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(lr_data_load(SCI, &d, &err), err);
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, 0, &n);
    CHECK_EQ(n, 14);
    for (size_t i = 0; i < n; i++) CHECK_EQ(s[i], i);
    lr_data_split sp = lr_data_user_split(d, 0);
    CHECK_EQ(sp.train_len, 12);
    CHECK_EQ(sp.valid_target, 12);
    CHECK_EQ(sp.test_target, 13);
    CHECK_STR_EQ(lr_data_user_token(d, 0), "ABW8NXS7SV55K");
    CHECK_STR_EQ(lr_data_item_token(d, 0), "B00TNNWMXI");
    CHECK_EQ(lr_data_find_item(d, "B00IBZE2EQ"), 1);
    CHECK_EQ(lr_data_find_item(d, "NOT-AN-ASIN"), -1);
    CHECK_CONTAINS(lr_data_item_text(d, (size_t)lr_data_find_item(d, "B0000223SI")),
                   "PORTER-CABLE 740000801");
    lr_data_free(d);
}

LR_TEST(scientific_loads_from_a_file_or_a_prefix) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(lr_data_load(SCI "/Scientific.text", &d, &err), err);
    CHECK_EQ(lr_data_num_users(d), 8442);
    lr_data_free(d);
    CHECK_OK(lr_data_load(SCI "/Scientific", &d, &err), err);
    CHECK_EQ(lr_data_num_items(d), 4385);
    lr_data_free(d);
}

LR_TEST(ml100k_counts_match_readme) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(lr_data_load(ML, &d, &err), err);
    lr_data_stats st = lr_data_get_stats(d);
    CHECK_EQ(lr_data_get_format(d), LR_DATA_RECBOLE_RATING);
    CHECK_EQ(st.users, 943);
    CHECK_EQ(st.items, 1682);
    CHECK_EQ(st.interactions, 100000);
    CHECK_EQ(st.items_without_text, 0);
    CHECK_STR_EQ(lr_data_item_text(d, (size_t)lr_data_find_item(d, "1")),
                 "Title: Toy Story. Category: Animation Children's Comedy. release_year: 1995.");
    lr_data_free(d);
}

/* User 1 in ml-100k: 168 and 172 share the first timestamp (874965478), 168 comes first in the
 * file; 102 is the last. Checked with
 * `awk '$1==1' ml-100k.inter | sort -k4n,4 -s | head`: ties keep file order. */
LR_TEST(ml100k_sequences_follow_time_with_ties_in_file_order) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(lr_data_load(ML "/ml-100k.inter", &d, &err), err);
    size_t n;
    /* user tokens come from ml-100k.user, in its order: "1" is user index 0 */
    CHECK_STR_EQ(lr_data_user_token(d, 0), "1");
    const int32_t *s = lr_data_user_sequence(d, 0, &n);
    CHECK_EQ(n, 272);
    CHECK_STR_EQ(lr_data_item_token(d, (size_t)s[0]), "168");
    CHECK_STR_EQ(lr_data_item_token(d, (size_t)s[n - 1]), "102");
    lr_data_free(d);
}

/* ---- malformed input ----------------------------------------------------------------------- */

static const char *k_header = "user_id:token\titem_id_list:token_seq\titem_id:token\n";

/* A small valid sequence dataset "D" in dir; callers then break one file. */
static int write_small_seq(const char *dir) {
    char train[256], valid[256], test[256];
    snprintf(train, sizeof train, "%s0\t0 1\t2\n0\t0\t1\n1\t3\t4\n", k_header);
    snprintf(valid, sizeof valid, "%s0\t0 1 2\t3\n1\t3 4\t0\n", k_header);
    snprintf(test, sizeof test, "%s0\t0 1 2 3\t4\n1\t3 4 0\t2\n", k_header);
    return lr_test_write_file(dir, "D.item2index", "a\t0\nb\t1\nc\t2\nd\t3\ne\t4\n") ||
           lr_test_write_file(dir, "D.user2index", "u0\t0\nu1\t1\n") ||
           lr_test_write_file(dir, "D.text", "item_id:token\ttext:token_seq\na\tA\nb\tB\nc\tC\nd\tD\ne\tE\n") ||
           lr_test_write_file(dir, "D.train.inter", train) ||
           lr_test_write_file(dir, "D.valid.inter", valid) ||
           lr_test_write_file(dir, "D.test.inter", test);
}

LR_TEST(small_sequence_split_rebuilds_sequences) {
    char *dir = lr_test_tmpdir();
    CHECK(dir && write_small_seq(dir) == 0);
    lr_err err = {0};
    lr_data *d;
    int rc = lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, 0, &n);
    CHECK_EQ(n, 5);
    for (size_t i = 0; i < 5; i++) CHECK_EQ(s[i], i);
    s = lr_data_user_sequence(d, 1, &n);
    CHECK_EQ(n, 4);
    CHECK_EQ(s[0], 3);
    CHECK_EQ(s[1], 4);
    CHECK_EQ(s[2], 0);
    CHECK_EQ(s[3], 2);
    CHECK_STR_EQ(lr_data_item_text(d, 2), "C");
    lr_data_free(d);
}

/* Writes the small dataset, replaces one file, loads, and expects an error. */
static int load_broken(const char *file, const char *content, lr_err *err) {
    char *dir = lr_test_tmpdir();
    if (!dir || write_small_seq(dir) != 0 || lr_test_write_file(dir, file, content) != 0) {
        lr_test_rmdir(dir);
        return 999;
    }
    lr_data *d = (lr_data *)&d;
    int rc = lr_data_load(dir, &d, err);
    lr_test_rmdir(dir);
    if (d != NULL) { /* a failed load must not hand out anything */
        lr_data_free(rc ? NULL : d);
        return rc ? 998 : rc;
    }
    return rc;
}

LR_TEST(truncated_line_is_refused_with_file_and_line) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 1\t2\n0\t0\n", k_header);
    CHECK_ERR(load_broken("D.train.inter", t, &err), err, LR_EFORMAT,
              "D.train.inter:3: expected 3 tab-separated fields, got 2");
}

LR_TEST(non_numeric_item_id_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 x1\t2\n", k_header);
    CHECK_ERR(load_broken("D.train.inter", t, &err), err, LR_EFORMAT,
              "D.train.inter:2: item_id_list: expected space-separated non-negative integers");
    snprintf(t, sizeof t, "%sbob\t0 1\t2\n", k_header);
    CHECK_ERR(load_broken("D.train.inter", t, &err), err, LR_EFORMAT,
              "D.train.inter:2: column user_id: expected a non-negative integer, got 'bob'");
}

LR_TEST(missing_column_is_refused) {
    lr_err err = {0};
    CHECK_ERR(load_broken("D.valid.inter", "user_id:token\titem_id:token\n0\t1\n", &err), err,
              LR_EFORMAT, "D.valid.inter:1: expected a column 'item_id_list', the header has: user_id, item_id");
}

LR_TEST(empty_file_is_refused) {
    lr_err err = {0};
    CHECK_ERR(load_broken("D.test.inter", "", &err), err, LR_EFORMAT,
              "D.test.inter:1: expected a header line");
    CHECK_ERR(load_broken("D.item2index", "", &err), err, LR_EFORMAT, "D.item2index: empty");
}

LR_TEST(item_out_of_range_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 1 2 3\t5\n1\t3 4 0\t2\n", k_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_ERANGE,
              "D.test.inter:2: column item_id: 5 is out of range (at most 4)");
    snprintf(t, sizeof t, "%s0\t0 1 7\t3\n1\t3 4\t0\n", k_header);
    CHECK_ERR(load_broken("D.valid.inter", t, &err), err, LR_ERANGE,
              "D.valid.inter:2: item_id_list: item 7 is out of range (5 items)");
}

LR_TEST(user_out_of_range_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 1 2 3\t4\n2\t3 4 0\t2\n", k_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_ERANGE,
              "D.test.inter:3: column user_id: 2 is out of range (at most 1)");
}

LR_TEST(history_that_breaks_the_sequence_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 2 2 3\t4\n1\t3 4 0\t2\n", k_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_EFORMAT,
              "D.test.inter:2: user 0: the history does not end with the user's earlier items");
    snprintf(t, sizeof t, "%s0\t0 1\t2\n0\t1\t1\n1\t3\t4\n", k_header);
    CHECK_ERR(load_broken("D.train.inter", t, &err), err, LR_EFORMAT,
              "D.train.inter:2: user 0: this history does not continue");
}

LR_TEST(user_without_test_row_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 1 2 3\t4\n", k_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_EFORMAT,
              "D.test.inter: user 1 has no row, but has rows in D.valid.inter");
    snprintf(t, sizeof t, "%s0\t0 1 2 3\t4\n0\t0 1 2 3\t4\n1\t3 4 0\t2\n", k_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_EFORMAT,
              "D.test.inter:3: user 0 already has a row on line 2");
}

LR_TEST(bad_index_files_are_refused) {
    lr_err err = {0};
    CHECK_ERR(load_broken("D.item2index", "a\t0\nb\t1\nc\t2\nd\t4\ne\t5\n", &err), err,
              LR_EFORMAT, "D.item2index: index 3 is missing");
    CHECK_ERR(load_broken("D.item2index", "a\t0\nb\t1\nc\t1\n", &err), err, LR_EFORMAT,
              "D.item2index:3: index 1 was already given on line 2");
    CHECK_ERR(load_broken("D.item2index", "a\t0\nb\t1\na\t2\nd\t3\ne\t4\n", &err), err,
              LR_EFORMAT, "D.item2index:3: token 'a' is listed twice (also line 1)");
    CHECK_ERR(load_broken("D.user2index", "u0 0\n", &err), err, LR_EFORMAT,
              "D.user2index:1: expected 'token<TAB>index'");
    CHECK_ERR(load_broken("D.user2index", "u0\t-1\n", &err), err, LR_EFORMAT,
              "D.user2index:1: expected a non-negative integer index, got '-1'");
}

LR_TEST(text_for_unknown_item_is_refused) {
    lr_err err = {0};
    CHECK_ERR(load_broken("D.text", "item_id:token\ttext:token_seq\na\tA\nzz\tZ\n", &err), err,
              LR_EFORMAT, "D.text:3: item 'zz' is not in the item index file");
    CHECK_ERR(load_broken("D.text", "item_id:token\ttext:token_seq\na\tA\na\tB\n", &err), err,
              LR_EFORMAT, "D.text:3: item 'a' has a second text line");
    CHECK_ERR(load_broken("D.text", "item_id\ttext:token_seq\na\tA\n", &err), err, LR_EFORMAT,
              "D.text:1: column 1 is 'item_id', expected name:type");
}

LR_TEST(missing_dataset_is_not_found) {
    lr_err err = {0};
    lr_data *d;
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int rc = lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_ENOTFOUND, "no dataset found");
    CHECK(d == NULL);
    CHECK_ERR(lr_data_load("/nonexistent/X", &d, &err), err, LR_ENOTFOUND,
              "expected X.train.inter (sequence split) or X.inter (ratings)");
}

/* ---- ratings ------------------------------------------------------------------------------- */

static int load_ratings_text(const char *inter, const char *item, lr_data **d, lr_err *err) {
    char *dir = lr_test_tmpdir();
    if (!dir || lr_test_write_file(dir, "R.inter", inter) != 0 ||
        (item && lr_test_write_file(dir, "R.item", item) != 0)) {
        lr_test_rmdir(dir);
        return 999;
    }
    int rc = lr_data_load(dir, d, err);
    lr_test_rmdir(dir);
    return rc;
}

LR_TEST(ratings_are_sorted_by_time_per_user) {
    lr_err err = {0};
    lr_data *d;
    const char *inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                        "u\tb\t5\t20\nv\ta\t1\t3\nu\ta\t4\t10\nu\tc\t3\t20\nu\td\t3\t5\n";
    CHECK_OK(load_ratings_text(inter, NULL, &d, &err), err);
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, 0, &n);
    CHECK_EQ(n, 4);
    CHECK_STR_EQ(lr_data_item_token(d, (size_t)s[0]), "d");
    CHECK_STR_EQ(lr_data_item_token(d, (size_t)s[1]), "a");
    CHECK_STR_EQ(lr_data_item_token(d, (size_t)s[2]), "b"); /* tie at 20: file order */
    CHECK_STR_EQ(lr_data_item_token(d, (size_t)s[3]), "c");
    CHECK(lr_data_item_text(d, 0) == NULL);
    CHECK_EQ(lr_data_get_stats(d).items_without_text, 4);
    lr_data_free(d);
}

LR_TEST(bad_ratings_are_refused) {
    lr_err err = {0};
    lr_data *d;
    CHECK_ERR(load_ratings_text("user_id:token\titem_id:token\ttimestamp:float\nu\ta\tsoon\n", NULL,
                                &d, &err),
              err, LR_EFORMAT, "R.inter:2: column timestamp: expected a number, got 'soon'");
    CHECK_ERR(load_ratings_text("user_id:token\ttimestamp:float\nu\t1\n", NULL, &d, &err), err,
              LR_EFORMAT, "R.inter:1: expected a column 'item_id'");
    CHECK_ERR(load_ratings_text("user_id:token\titem_id:token\n", NULL, &d, &err), err, LR_EFORMAT,
              "R.inter: no interactions after the header");
    CHECK_ERR(load_ratings_text("user_id:token\titem_id:token\nu\tq\n",
                                "item_id:token\ttitle:token_seq\na\tA\n", &d, &err),
              err, LR_EFORMAT, "R.inter:2: item 'q' is not in R.item");
    CHECK_ERR(load_ratings_text("user_id:token\titem_id:token\nu\ta\n\nu\ta\n", NULL, &d, &err),
              err, LR_EFORMAT, "R.inter:3: empty line");
    CHECK(d == NULL);
}

LR_TEST(written_dataset_loads_back_equal) {
    lr_err err = {0};
    lr_data *a, *b;
    CHECK_OK(lr_data_load(SCI, &a, &err), err);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int rc = lr_data_write_recbole(a, dir, "copy", &err);
    int rc2 = rc ? rc : lr_data_load(dir, &b, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_EQ(lr_data_num_items(b), lr_data_num_items(a));
    CHECK_EQ(lr_data_num_users(b), lr_data_num_users(a));
    CHECK_EQ(lr_data_num_interactions(b), lr_data_num_interactions(a));
    for (size_t i = 0; i < lr_data_num_items(a); i++) {
        CHECK_STR_EQ(lr_data_item_token(b, i), lr_data_item_token(a, i));
        CHECK_STR_EQ(lr_data_item_text(b, i), lr_data_item_text(a, i));
    }
    for (size_t u = 0; u < lr_data_num_users(a); u++) {
        size_t na, nb;
        const int32_t *sa = lr_data_user_sequence(a, u, &na), *sb = lr_data_user_sequence(b, u, &nb);
        CHECK_EQ(na, nb);
        CHECK(memcmp(sa, sb, na * sizeof *sa) == 0);
        CHECK_STR_EQ(lr_data_user_token(b, u), lr_data_user_token(a, u));
    }
    lr_data_free(a);
    lr_data_free(b);
}

LR_TEST_MAIN(LR_CASE(scientific_counts_match_readme), LR_CASE(scientific_split_matches_the_files),
             LR_CASE(scientific_loads_from_a_file_or_a_prefix), LR_CASE(ml100k_counts_match_readme),
             LR_CASE(ml100k_sequences_follow_time_with_ties_in_file_order),
             LR_CASE(small_sequence_split_rebuilds_sequences),
             LR_CASE(truncated_line_is_refused_with_file_and_line),
             LR_CASE(non_numeric_item_id_is_refused), LR_CASE(missing_column_is_refused),
             LR_CASE(empty_file_is_refused), LR_CASE(item_out_of_range_is_refused),
             LR_CASE(user_out_of_range_is_refused),
             LR_CASE(history_that_breaks_the_sequence_is_refused),
             LR_CASE(user_without_test_row_is_refused), LR_CASE(bad_index_files_are_refused),
             LR_CASE(text_for_unknown_item_is_refused), LR_CASE(missing_dataset_is_not_found),
             LR_CASE(ratings_are_sorted_by_time_per_user), LR_CASE(bad_ratings_are_refused),
             LR_CASE(written_dataset_loads_back_equal))
