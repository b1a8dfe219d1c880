/* Tests of datasets/recbole.c, load.c and write.c: RecBole atomic files, real and malformed.
 * The real datasets (LR_SHARED_CASE) are read from the shared folder; the same loader paths are
 * also covered by small files the tests write, so a clone without that folder still tests them. */
#include "lr_data.h"
#include "lr_test.h"
#include "datasets/fixtures.h"

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


LR_TEST(small_sequence_split_rebuilds_sequences) {
    char *dir = lr_test_tmpdir();
    CHECK(dir && lr_test_write_small_seq(dir) == 0);
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

LR_TEST(small_sequence_split_loads_from_a_file_or_a_prefix) {
    char *dir = lr_test_tmpdir();
    CHECK(dir && lr_test_write_small_seq(dir) == 0);
    char path[4200];
    lr_err err = {0};
    lr_data *d = NULL, *e = NULL;
    lr_test_path(path, sizeof path, dir, "D.text");
    int rc = lr_data_load(path, &d, &err);
    lr_test_path(path, sizeof path, dir, "D");
    int rc2 = rc ? rc : lr_data_load(path, &e, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_EQ(lr_data_get_format(d), LR_DATA_RECBOLE_SEQ);
    CHECK_EQ(lr_data_num_users(d), 2);
    CHECK_EQ(lr_data_num_items(e), 5);
    CHECK_STR_EQ(lr_data_user_token(e, 1), "u1");
    CHECK_EQ(lr_data_find_item(e, "d"), 3);
    CHECK_EQ(lr_data_find_item(e, "zz"), -1);
    lr_data_split sp = lr_data_user_split(e, 0);
    CHECK_EQ(sp.train_len, 3);
    CHECK_EQ(sp.valid_target, 3);
    CHECK_EQ(sp.test_target, 4);
    lr_data_free(d);
    lr_data_free(e);
}

/* The ml-100k layout in small: ratings with .item (title, year, genres) and .user files. Users
 * are numbered in .user's order, not by first rating; ties in time keep file order. */
LR_TEST(small_ratings_with_item_and_user_files) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int bad = lr_test_write_file(dir, "M.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                                 "2\t10\t4\t50\n1\t12\t5\t30\n1\t11\t3\t30\n1\t10\t1\t40\n"
                                                 "2\t12\t2\t10\n1\t13\t2\t5\n2\t11\t3\t60\n") ||
              lr_test_write_file(dir, "M.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\t"
                                                "class:token_seq\n10\tToy Story\t1995\tAnimation Children's "
                                                "Comedy\n11\tHeat\t1995\tAction\n12\tBabe\t\tDrama\n13\tX\t1996\tY\n") ||
              lr_test_write_file(dir, "M.user", "user_id:token\tage:token\tgender:token\n1\t24\tM\n2\t53\tF\n");
    lr_err err = {0};
    lr_data *d = NULL;
    int rc = bad ? 999 : lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    lr_data_stats st = lr_data_get_stats(d);
    CHECK_EQ(lr_data_get_format(d), LR_DATA_RECBOLE_RATING);
    CHECK_EQ(st.users, 2);
    CHECK_EQ(st.items, 4);
    CHECK_EQ(st.interactions, 7);
    CHECK_EQ(st.items_without_text, 0);
    CHECK_STR_EQ(lr_data_item_text(d, (size_t)lr_data_find_item(d, "10")),
                 "Title: Toy Story. Category: Animation Children's Comedy. release_year: 1995.");
    CHECK_STR_EQ(lr_data_item_text(d, (size_t)lr_data_find_item(d, "12")), "Title: Babe. Category: Drama");
    /* movie_title and class are the title and category; release_year joins the text only */
    size_t toy = (size_t)lr_data_find_item(d, "10");
    CHECK_STR_EQ(lr_data_item_field(d, toy, LR_FIELD_TITLE), "Toy Story");
    CHECK(lr_data_item_field(d, toy, LR_FIELD_BRAND) == NULL);
    CHECK_STR_EQ(lr_data_item_field(d, toy, LR_FIELD_CATEGORY), "Animation Children's Comedy");
    /* attributes: class's genres one by one, release_year under its own name, no brand */
    int cat = lr_data_find_attr(d, "category"), year = lr_data_find_attr(d, "release_year");
    CHECK(cat >= 0 && year >= 0);
    CHECK_EQ(lr_data_find_attr(d, "brand"), -1);
    CHECK_EQ(lr_data_num_attrs(d), 2);
    size_t nv;
    const uint32_t *v = lr_data_item_attr(d, toy, (size_t)cat, &nv);
    CHECK_EQ(nv, 3);
    CHECK_STR_EQ(lr_data_attr_value(d, (size_t)cat, v[0]), "Animation");
    CHECK_STR_EQ(lr_data_attr_value(d, (size_t)cat, v[2]), "Comedy");
    v = lr_data_item_attr(d, toy, (size_t)year, &nv);
    CHECK_EQ(nv, 1);
    CHECK_STR_EQ(lr_data_attr_value(d, (size_t)year, v[0]), "1995");
    CHECK(lr_data_item_attr(d, (size_t)lr_data_find_item(d, "12"), (size_t)year, &nv) == NULL && nv == 0);
    CHECK_EQ(lr_data_attr_num_values(d, (size_t)year), 2); /* 1995, 1996 */
    lr_test_check_round_trip(lr_t_, d); /* genres stay tokens, the year its own column */
    CHECK_STR_EQ(lr_data_user_token(d, 0), "1");
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, 0, &n);
    CHECK_EQ(n, 4);
    const char *want[4] = {"13", "12", "11", "10"}; /* 12 and 11 share time 30: file order */
    for (size_t i = 0; i < 4; i++) CHECK_STR_EQ(lr_data_item_token(d, (size_t)s[i]), want[i]);
    lr_data_free(d);
}

/* Writes the small dataset, replaces one file, loads, and expects an error. */
static int load_broken(const char *file, const char *content, lr_err *err) {
    char *dir = lr_test_tmpdir();
    if (!dir || lr_test_write_small_seq(dir) != 0 || lr_test_write_file(dir, file, content) != 0) {
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
    snprintf(t, sizeof t, "%s0\t0 1\t2\n0\t0\n", lr_test_seq_header);
    CHECK_ERR(load_broken("D.train.inter", t, &err), err, LR_EFORMAT,
              "D.train.inter:3: expected 3 tab-separated fields, got 2");
}

LR_TEST(non_numeric_item_id_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 x1\t2\n", lr_test_seq_header);
    CHECK_ERR(load_broken("D.train.inter", t, &err), err, LR_EFORMAT,
              "D.train.inter:2: item_id_list: expected space-separated non-negative integers");
    snprintf(t, sizeof t, "%sbob\t0 1\t2\n", lr_test_seq_header);
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
    snprintf(t, sizeof t, "%s0\t0 1 2 3\t5\n1\t3 4 0\t2\n", lr_test_seq_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_ERANGE,
              "D.test.inter:2: column item_id: 5 is out of range (at most 4)");
    snprintf(t, sizeof t, "%s0\t0 1 7\t3\n1\t3 4\t0\n", lr_test_seq_header);
    CHECK_ERR(load_broken("D.valid.inter", t, &err), err, LR_ERANGE,
              "D.valid.inter:2: item_id_list: item 7 is out of range (5 items)");
}

LR_TEST(user_out_of_range_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 1 2 3\t4\n2\t3 4 0\t2\n", lr_test_seq_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_ERANGE,
              "D.test.inter:3: column user_id: 2 is out of range (at most 1)");
}

LR_TEST(history_that_breaks_the_sequence_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 2 2 3\t4\n1\t3 4 0\t2\n", lr_test_seq_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_EFORMAT,
              "D.test.inter:2: user 0: the history does not end with the user's earlier items");
    snprintf(t, sizeof t, "%s0\t0 1\t2\n0\t1\t1\n1\t3\t4\n", lr_test_seq_header);
    CHECK_ERR(load_broken("D.train.inter", t, &err), err, LR_EFORMAT,
              "D.train.inter:2: user 0: this history does not continue");
}

LR_TEST(user_without_test_row_is_refused) {
    lr_err err = {0};
    char t[256];
    snprintf(t, sizeof t, "%s0\t0 1 2 3\t4\n", lr_test_seq_header);
    CHECK_ERR(load_broken("D.test.inter", t, &err), err, LR_EFORMAT,
              "D.test.inter: user 1 has no row, but has rows in D.valid.inter");
    snprintf(t, sizeof t, "%s0\t0 1 2 3\t4\n0\t0 1 2 3\t4\n1\t3 4 0\t2\n", lr_test_seq_header);
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

/* Found by fuzzing (tests/fuzz/regress/recbole): the table grew to the largest index a line
 * gave, so one line with index 880606923 asked for 8 GB before the gap was noticed. */
LR_TEST(index_far_past_the_line_count_is_a_gap_not_an_allocation) {
    lr_err err = {0};
    CHECK_ERR(load_broken("D.item2index", "a\t0\nb\t2000000000\nc\t2\nd\t3\ne\t4\n", &err), err,
              LR_EFORMAT, "D.item2index: index 1 is missing (indexes must run from 0 to 4 without gaps)");
    CHECK_ERR(load_broken("D.user2index", "u0\t2147483647\nu1\t1\n", &err), err, LR_EFORMAT,
              "D.user2index: index 0 is missing");
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

/* Found while writing the recbole fuzz harness (tests/fuzz/regress/recbole): without a
 * user2index file the users are 0 .. the largest index, so one row of user 2000000000 made two
 * billion users (18 s and 650 MB for ten million). Each user has a test row, so an index at or past
 * the test file's row count is refused. */
LR_TEST(user_index_past_the_test_rows_is_refused_without_user2index) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char test[256], u2i[4200];
    snprintf(test, sizeof test, "%s0\t0 1 2 3\t4\n2000000000\t3 4 0\t2\n", lr_test_seq_header);
    lr_test_path(u2i, sizeof u2i, dir, "D.user2index");
    int rc = lr_test_write_small_seq(dir) || remove(u2i) || lr_test_write_file(dir, "D.test.inter", test);
    lr_err err = {0};
    lr_data *d = NULL;
    if (!rc) rc = lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "D.test.inter:3: user 2000000000, but D.test.inter has 2 rows");
    CHECK(d == NULL);
}

/* Found by the recbole fuzz harness's checks (tests/fuzz/regress/recbole): a split whose three
 * files held headers alone loaded as a dataset of no interactions, which lr_data_write_recbole
 * then wrote as an .inter file the loader refuses. */
LR_TEST(sequence_split_without_rows_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int rc = lr_test_write_small_seq(dir) || lr_test_write_file(dir, "D.train.inter", lr_test_seq_header) ||
             lr_test_write_file(dir, "D.valid.inter", lr_test_seq_header) ||
             lr_test_write_file(dir, "D.test.inter", lr_test_seq_header);
    lr_err err = {0};
    lr_data *d = NULL;
    if (!rc) rc = lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "D.test.inter: no rows after the header, expected one per user");
    CHECK(d == NULL);
}

LR_TEST(written_dataset_loads_back_equal) {
    lr_err err = {0};
    lr_data *a;
    CHECK_OK(lr_data_load(SCI, &a, &err), err);
    lr_test_check_round_trip(lr_t_, a);
    lr_data_free(a);
}

LR_TEST(written_synthetic_catalogue_loads_back_equal) {
    lr_synth_config c = lr_data_synth_config_default();
    c.items = 1000;
    c.users = 300;
    lr_err err = {0};
    lr_data *a;
    CHECK_OK(lr_data_synth(&c, &a, &err), err);
    lr_test_check_round_trip(lr_t_, a);
    lr_data_free(a);
}

/* ---- RecBole benchmark files: the sequence split named by tokens, items from P.item -------- */

/* A small benchmark-file set "B": .inter files hold item tokens (P.item's ids, listed out of
 * sorted order) and user tokens; bob appears first, carol only in valid and test; D03W has no
 * text. Users: bob 0, alice 1, carol 2. Sequences: bob 2 1 0 3, alice 0 1 2 3 0, carol 3 0 2. */
static int write_small_bench(const char *dir) {
    char train[256], valid[256], test[256];
    snprintf(train, sizeof train, "%sbob\tC02Z\tA01Y\nalice\tB00X\tA01Y\nalice\tB00X A01Y\tC02Z\n",
             lr_test_seq_header);
    snprintf(valid, sizeof valid, "%salice\tB00X A01Y C02Z\tD03W\nbob\tC02Z A01Y\tB00X\n"
             "carol\tD03W\tB00X\n", lr_test_seq_header);
    snprintf(test, sizeof test, "%scarol\tD03W B00X\tC02Z\nalice\tB00X A01Y C02Z D03W\tB00X\n"
             "bob\tC02Z A01Y B00X\tD03W\n", lr_test_seq_header);
    return lr_test_write_file(dir, "B.item", "item_id:token\ttitle:token_seq\tbrand:token\t"
                              "categories:token_seq\tsales_type:token\n"
                              "B00X\tBeaker Set\tPyrex\tLab Glass\tIndustrial\n"
                              "A01Y\tPipette\tEppendorf\tLab Tools\t\n"
                              "C02Z\tNitrile Gloves\t\tSafety\t\n"
                              "D03W\t\t\t\t\n") ||
           lr_test_write_file(dir, "B.train.inter", train) ||
           lr_test_write_file(dir, "B.valid.inter", valid) ||
           lr_test_write_file(dir, "B.test.inter", test);
}

/* Writes the benchmark set, replaces (or with content NULL, removes) one file and loads it. */
static int load_bench(const char *file, const char *content, lr_data **d, lr_err *err) {
    *d = NULL;
    char *dir = lr_test_tmpdir();
    char path[4200];
    if (!dir || write_small_bench(dir) != 0 ||
        (file && content && lr_test_write_file(dir, file, content) != 0)) {
        lr_test_rmdir(dir);
        return 999;
    }
    lr_test_path(path, sizeof path, dir, file ? file : "");
    if (file && !content && remove(path) != 0) {
        lr_test_rmdir(dir);
        return 999;
    }
    int rc = lr_data_load(dir, d, err);
    lr_test_rmdir(dir);
    return rc;
}

/* Found by the recbole fuzz harness's checks (tests/fuzz/regress/recbole): an empty id in an item
 * or user file loaded, and the dataset then failed to load back once written (an empty .user
 * line, an empty item in .inter). Every other place already refused empty ids. */
LR_TEST(empty_ids_in_item_and_user_files_are_refused) {
    lr_err err = {0};
    lr_data *d = NULL;
    CHECK_ERR(load_ratings_text("user_id:token\titem_id:token\nu\ta\n",
                                "item_id:token\ttitle:token_seq\n\tNo id\na\tA\n", &d, &err),
              err, LR_EFORMAT, "R.item:2: item_id is empty, expected an item token");
    CHECK(d == NULL);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int rc = lr_test_write_file(dir, "R.inter", "user_id:token\titem_id:token\nu\ta\n") ||
                     lr_test_write_file(dir, "R.user", "user_id:token\tage:token\nu\t30\n\t41\n")
                 ? 999
                 : lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "R.user:3: user_id is empty, expected a user token");
    CHECK(d == NULL);
    CHECK_ERR(load_bench("B.item", "item_id:token\ttitle:token_seq\n\tNo id\n", &d, &err), err, LR_EFORMAT,
              "B.item:2: item_id is empty");
}

static void check_seq(lr_test_ctx *lr_t_, const lr_data *d, size_t user, const int32_t *want,
                      size_t n_want) {
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, user, &n);
    CHECK_EQ(n, n_want);
    for (size_t i = 0; i < n; i++) CHECK_EQ(s[i], want[i]);
}

LR_TEST(benchmark_files_load_with_item_and_user_tokens) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(load_bench(NULL, NULL, &d, &err), err);
    CHECK_EQ(lr_data_get_format(d), LR_DATA_RECBOLE_SEQ);
    CHECK_EQ(lr_data_num_items(d), 4);
    const char *items[4] = {"B00X", "A01Y", "C02Z", "D03W"}; /* P.item's order, not sorted */
    for (size_t i = 0; i < 4; i++) CHECK_STR_EQ(lr_data_item_token(d, i), items[i]);
    CHECK_EQ(lr_data_find_item(d, "C02Z"), 2);
    CHECK_STR_EQ(lr_data_item_text(d, 0),
                 "Title: Beaker Set. Brand: Pyrex. Category: Lab Glass. sales_type: Industrial.");
    CHECK_STR_EQ(lr_data_item_text(d, 2), "Title: Nitrile Gloves. Category: Safety");
    CHECK(lr_data_item_text(d, 3) == NULL);
    CHECK_EQ(lr_data_num_users(d), 3);
    const char *users[3] = {"bob", "alice", "carol"}; /* first appearance: train, valid, test */
    for (size_t u = 0; u < 3; u++) CHECK_STR_EQ(lr_data_user_token(d, u), users[u]);
    static const int32_t bob[] = {2, 1, 0, 3}, alice[] = {0, 1, 2, 3, 0}, carol[] = {3, 0, 2};
    check_seq(lr_t_, d, 0, bob, 4);
    check_seq(lr_t_, d, 1, alice, 5);
    check_seq(lr_t_, d, 2, carol, 3);
    if (lr_t_->failed) {
        lr_data_free(d);
        return;
    }
    lr_data_split sp = lr_data_user_split(d, 1);
    CHECK_EQ(sp.train_len, 3);
    CHECK_EQ(sp.valid_target, 3);
    CHECK_EQ(sp.test_target, 0);
    sp = lr_data_user_split(d, 0);
    CHECK_EQ(sp.valid_target, 0);
    CHECK_EQ(sp.test_target, 3);
    CHECK_EQ(lr_data_num_interactions(d), 12);
    lr_data_free(d);
}

LR_TEST(benchmark_files_load_from_any_file_of_the_set) {
    char *dir = lr_test_tmpdir();
    CHECK(dir && write_small_bench(dir) == 0);
    char path[4200];
    lr_err err = {0};
    lr_data *d = NULL, *e = NULL;
    lr_test_path(path, sizeof path, dir, "B.item");
    int rc = lr_data_load(path, &d, &err);
    lr_test_path(path, sizeof path, dir, "B.valid.inter");
    int rc2 = rc ? rc : lr_data_load(path, &e, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_EQ(lr_data_num_users(d), 3);
    CHECK_EQ(lr_data_num_items(e), 4);
    CHECK_STR_EQ(lr_data_user_token(e, 2), "carol");
    lr_data_free(d);
    lr_data_free(e);
}

/* title, brand and categories columns are the fields; sales_type joins the text only. */
LR_TEST(benchmark_item_columns_give_fields) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(load_bench(NULL, NULL, &d, &err), err);
    static const char *const want[4][3] = {{"Beaker Set", "Pyrex", "Lab Glass"},
                                           {"Pipette", "Eppendorf", "Lab Tools"},
                                           {"Nitrile Gloves", NULL, "Safety"},
                                           {NULL, NULL, NULL}};
    int bad = -1;
    for (size_t i = 0; i < 4; i++)
        for (int f = 0; f < LR_DATA_NUM_FIELDS; f++) {
            const char *got = lr_data_item_field(d, i, (lr_data_field)f), *w = want[i][f];
            if ((!got != !w || (w && strcmp(got, w) != 0)) && bad < 0) bad = (int)i * 10 + f;
        }
    lr_data_free(d);
    CHECK_EQ(bad, -1); /* else: item * 10 + field of the first wrong one */
}

/* A text with more than the fields (sales_type) and items missing fields or text come back as
 * they were: the text column keeps the text, the field columns the fields. */
LR_TEST(written_benchmark_items_load_back_equal) {
    lr_err err = {0};
    lr_data *a;
    CHECK_OK(load_bench(NULL, NULL, &a, &err), err);
    lr_test_check_round_trip(lr_t_, a);
    lr_data_free(a);
}

LR_TEST(benchmark_unknown_item_token_is_refused_with_file_and_line) {
    lr_err err = {0};
    lr_data *d;
    char t[256];
    snprintf(t, sizeof t, "%salice\tB00X A01Y C02Z\tD03W\nbob\tC02Z ZZ9 \tB00X\n", lr_test_seq_header);
    CHECK_ERR(load_bench("B.valid.inter", t, &d, &err), err, LR_EFORMAT,
              "B.valid.inter:3: item_id_list: item 'ZZ9' is not in B.item");
    snprintf(t, sizeof t, "%scarol\tD03W B00X\tb00x\n", lr_test_seq_header);
    CHECK_ERR(load_bench("B.test.inter", t, &d, &err), err, LR_EFORMAT,
              "B.test.inter:2: item_id: item 'b00x' is not in B.item");
    snprintf(t, sizeof t, "%sbob\tC02Z  B00X\tA01Y\n", lr_test_seq_header);
    CHECK_ERR(load_bench("B.train.inter", t, &d, &err), err, LR_EFORMAT,
              "B.train.inter:2: item_id_list: empty item id, expected item tokens separated by "
              "single spaces");
    CHECK(d == NULL);
}

LR_TEST(benchmark_user_without_test_row_is_named_by_token) {
    lr_err err = {0};
    lr_data *d;
    char t[256];
    snprintf(t, sizeof t, "%scarol\tD03W B00X\tC02Z\nalice\tB00X A01Y C02Z D03W\tB00X\n", lr_test_seq_header);
    CHECK_ERR(load_bench("B.test.inter", t, &d, &err), err, LR_EFORMAT,
              "B.test.inter: user 'bob' has no row, but has rows in B.valid.inter");
}

LR_TEST(benchmark_users_come_from_user2index_when_given) {
    lr_err err = {0};
    lr_data *d;
    CHECK_OK(load_bench("B.user2index", "carol\t0\nalice\t1\nbob\t2\n", &d, &err), err);
    CHECK_STR_EQ(lr_data_user_token(d, 0), "carol");
    static const int32_t bob[] = {2, 1, 0, 3};
    check_seq(lr_t_, d, 2, bob, 4);
    lr_data_free(d);
    if (lr_t_->failed) return;
    CHECK_ERR(load_bench("B.user2index", "carol\t0\nalice\t1\n", &d, &err), err, LR_EFORMAT,
              "B.train.inter:2: user 'bob' is not in B.user2index");
}

LR_TEST(sequence_split_without_item2index_or_item_is_refused) {
    lr_err err = {0};
    lr_data *d;
    CHECK_ERR(load_bench("B.item", NULL, &d, &err), err, LR_ENOTFOUND,
              "B.item2index: missing; expected it (item indexes, UniSRec split) or B.item (item "
              "tokens, RecBole benchmark files)");
    CHECK(d == NULL);
}

/* The UniSRec split with a .item beside it: the .inter files still hold indexes into
 * D.item2index, and text still comes from D.text. */
LR_TEST(item2index_is_used_even_with_an_item_file) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int bad = lr_test_write_small_seq(dir) ||
              lr_test_write_file(dir, "D.item", "item_id:token\ttitle:token_seq\ne\tEE\nc\tCC\n");
    lr_err err = {0};
    lr_data *d = NULL;
    int rc = bad ? 999 : lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_EQ(lr_data_num_items(d), 5);
    CHECK_STR_EQ(lr_data_item_token(d, 0), "a");
    CHECK_STR_EQ(lr_data_item_token(d, 4), "e");
    CHECK_STR_EQ(lr_data_item_text(d, 2), "C");
    CHECK_STR_EQ(lr_data_user_token(d, 1), "u1");
    static const int32_t u0[] = {0, 1, 2, 3, 4};
    check_seq(lr_t_, d, 0, u0, 5);
    lr_data_free(d);
}

/* ---- item fields ----------------------------------------------------------------------------- */

/* UniSRec's .text gives one free text column: the items have text and no fields. */
LR_TEST(text_column_alone_gives_no_fields) {
    char *dir = lr_test_tmpdir();
    CHECK(dir && lr_test_write_small_seq(dir) == 0);
    lr_err err = {0};
    lr_data *d;
    int rc = lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    size_t first_with_field = SIZE_MAX;
    for (size_t i = 0; i < lr_data_num_items(d); i++)
        for (int f = 0; f < LR_DATA_NUM_FIELDS; f++)
            if (lr_data_item_field(d, i, (lr_data_field)f) && first_with_field == SIZE_MAX)
                first_with_field = i;
    int text_kept = lr_data_item_text(d, 4) && strcmp(lr_data_item_text(d, 4), "E") == 0;
    const char *past_items = lr_data_item_field(d, 5, LR_FIELD_TITLE);
    const char *past_fields = lr_data_item_field(d, 0, (lr_data_field)LR_DATA_NUM_FIELDS);
    lr_data_free(d);
    CHECK_EQ(first_with_field, SIZE_MAX);
    CHECK(text_kept);
    CHECK(past_items == NULL);
    CHECK(past_fields == NULL);
}

LR_TEST(field_names) {
    CHECK_STR_EQ(lr_data_field_name(LR_FIELD_TITLE), "title");
    CHECK_STR_EQ(lr_data_field_name(LR_FIELD_BRAND), "brand");
    CHECK_STR_EQ(lr_data_field_name(LR_FIELD_CATEGORY), "category");
    CHECK_STR_EQ(lr_data_field_name((lr_data_field)LR_DATA_NUM_FIELDS), "unknown");
}

/* A text column is the text as given; field columns beside it are the fields, and do not
 * change it. An empty value is an absent one. */
LR_TEST(text_column_beside_field_columns_is_the_text) {
    lr_err err = {0};
    lr_data *d;
    const char *inter = "user_id:token\titem_id:token\nu\ta\nu\tb\nu\tc\n";
    const char *item = "item_id:token\ttext:token_seq\ttitle:token_seq\tbrand:token\tcategories:token_seq\n"
                       "a\tFree words\tT\t\tC1 > C2\nb\t\t\tAcme\t\nc\tOnly text\t\t\t\n";
    int rc = load_ratings_text(inter, item, &d, &err);
    CHECK_OK(rc, err);
    CHECK_STR_EQ(lr_data_item_text(d, 0), "Free words");
    CHECK_STR_EQ(lr_data_item_field(d, 0, LR_FIELD_TITLE), "T");
    CHECK(lr_data_item_field(d, 0, LR_FIELD_BRAND) == NULL);
    CHECK_STR_EQ(lr_data_item_field(d, 0, LR_FIELD_CATEGORY), "C1 > C2");
    CHECK(lr_data_item_text(d, 1) == NULL);
    CHECK(lr_data_item_field(d, 1, LR_FIELD_TITLE) == NULL);
    CHECK_STR_EQ(lr_data_item_field(d, 1, LR_FIELD_BRAND), "Acme");
    CHECK_STR_EQ(lr_data_item_text(d, 2), "Only text");
    for (int f = 0; f < LR_DATA_NUM_FIELDS; f++) CHECK(lr_data_item_field(d, 2, (lr_data_field)f) == NULL);
    lr_data_free(d);
}

/* Writes the small UniSRec split (text only) or benchmark set (fields) as "copy" and returns the
 * written copy.item (the caller frees it), or NULL with *rc set. */
static char *written_item_file(int bench, int *rc, lr_err *err) {
    size_t cap = 4096;
    char *dir = lr_test_tmpdir(), *out = NULL, *buf = malloc(cap);
    lr_data *d = NULL;
    *rc = !dir || !buf || (bench ? write_small_bench(dir) : lr_test_write_small_seq(dir)) ? 999
          : lr_data_load(dir, &d, err);
    if (!*rc) *rc = (out = lr_test_tmpdir()) ? lr_data_write_recbole(d, out, "copy", err) : 999;
    long n = *rc ? -1 : lr_test_read_bytes(out, "copy.item", (unsigned char *)buf, cap - 1);
    if (!*rc && (n < 0 || (size_t)n == cap - 1)) *rc = 999;
    if (!*rc) buf[n] = '\0';
    lr_data_free(d);
    lr_test_rmdir(dir);
    lr_test_rmdir(out);
    if (*rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

LR_TEST(dataset_without_fields_writes_only_a_text_column) {
    lr_err err = {0};
    int rc;
    char *got = written_item_file(0, &rc, &err);
    CHECK_OK(rc, err);
    const char *want = "item_id:token\ttext:token_seq\na\tA\nb\tB\nc\tC\nd\tD\ne\tE\n";
    int same = strcmp(got, want) == 0;
    if (!same) fprintf(stderr, "copy.item:\n%s", got);
    free(got);
    CHECK(same);
}

/* Scripts read the text as the second column: it stays there, the fields follow it, then the
 * extra attributes (sales_type). */
LR_TEST(written_item_file_keeps_text_second_and_fields_after) {
    lr_err err = {0};
    int rc;
    char *got = written_item_file(1, &rc, &err);
    CHECK_OK(rc, err);
    const char *want =
        "item_id:token\ttext:token_seq\ttitle:token_seq\tbrand:token\tcategories:token_seq\tsales_type:token\n"
        "B00X\tTitle: Beaker Set. Brand: Pyrex. Category: Lab Glass. sales_type: Industrial."
        "\tBeaker Set\tPyrex\tLab Glass\tIndustrial\n"
        "A01Y\tTitle: Pipette. Brand: Eppendorf. Category: Lab Tools\tPipette\tEppendorf\tLab Tools\t\n"
        "C02Z\tTitle: Nitrile Gloves. Category: Safety\tNitrile Gloves\t\tSafety\t\n"
        "D03W\t\t\t\t\t\n";
    int same = strcmp(got, want) == 0;
    if (!same) fprintf(stderr, "copy.item:\n%s", got);
    free(got);
    CHECK(same);
}

LR_TEST_MAIN(LR_SHARED_CASE(scientific_counts_match_readme, "datasets/amazon-scientific"),
             LR_SHARED_CASE(scientific_split_matches_the_files, "datasets/amazon-scientific"),
             LR_SHARED_CASE(scientific_loads_from_a_file_or_a_prefix, "datasets/amazon-scientific"),
             LR_SHARED_CASE(ml100k_counts_match_readme, "datasets/ml-100k"),
             LR_SHARED_CASE(ml100k_sequences_follow_time_with_ties_in_file_order, "datasets/ml-100k"),
             LR_SHARED_CASE(written_dataset_loads_back_equal, "datasets/amazon-scientific"),
             LR_CASE(small_sequence_split_rebuilds_sequences),
             LR_CASE(small_sequence_split_loads_from_a_file_or_a_prefix),
             LR_CASE(small_ratings_with_item_and_user_files),
             LR_CASE(written_synthetic_catalogue_loads_back_equal),
             LR_CASE(truncated_line_is_refused_with_file_and_line),
             LR_CASE(non_numeric_item_id_is_refused), LR_CASE(missing_column_is_refused),
             LR_CASE(empty_file_is_refused), LR_CASE(item_out_of_range_is_refused),
             LR_CASE(user_out_of_range_is_refused),
             LR_CASE(history_that_breaks_the_sequence_is_refused),
             LR_CASE(user_without_test_row_is_refused), LR_CASE(bad_index_files_are_refused),
             LR_CASE(index_far_past_the_line_count_is_a_gap_not_an_allocation),
             LR_CASE(text_for_unknown_item_is_refused), LR_CASE(missing_dataset_is_not_found),
             LR_CASE(ratings_are_sorted_by_time_per_user), LR_CASE(bad_ratings_are_refused),
             LR_CASE(empty_ids_in_item_and_user_files_are_refused),
             LR_CASE(sequence_split_without_rows_is_refused),
             LR_CASE(user_index_past_the_test_rows_is_refused_without_user2index),
             LR_CASE(benchmark_files_load_with_item_and_user_tokens),
             LR_CASE(benchmark_files_load_from_any_file_of_the_set),
             LR_CASE(benchmark_item_columns_give_fields),
             LR_CASE(written_benchmark_items_load_back_equal),
             LR_CASE(text_column_alone_gives_no_fields), LR_CASE(field_names),
             LR_CASE(text_column_beside_field_columns_is_the_text),
             LR_CASE(dataset_without_fields_writes_only_a_text_column),
             LR_CASE(written_item_file_keeps_text_second_and_fields_after),
             LR_CASE(benchmark_unknown_item_token_is_refused_with_file_and_line),
             LR_CASE(benchmark_user_without_test_row_is_named_by_token),
             LR_CASE(benchmark_users_come_from_user2index_when_given),
             LR_CASE(sequence_split_without_item2index_or_item_is_refused),
             LR_CASE(item2index_is_used_even_with_an_item_file))
