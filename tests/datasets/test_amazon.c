/* Tests for datasets/amazon.c: the Amazon Reviews 2018 loader, on small gzip files written here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "data_internal.h"
#include "lr_test.h"
#include "datasets/fixtures.h"


/* Keeps the first half of the bytes of dir/name, as an interrupted download would. */
static int cut_in_half(const char *dir, const char *name) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    static const size_t cap = 1 << 20;
    char *buf = malloc(cap);
    size_t n = buf ? fread(buf, 1, cap, f) : 0;
    fclose(f);
    int rc = -1;
    f = buf ? fopen(path, "wb") : NULL;
    if (f) {
        rc = fwrite(buf, 1, n / 2, f) == n / 2 ? 0 : -1;
        if (fclose(f) != 0) rc = -1;
    }
    free(buf);
    return rc;
}

/* One review line. */
static void review(char *buf, size_t cap, const char *user, const char *asin, long time) {
    size_t k = strlen(buf);
    snprintf(buf + k, cap - k,
             "{\"overall\": 5.0, \"verified\": true, \"reviewTime\": \"01 2, 2015\", "
             "\"reviewerID\": \"%s\", \"asin\": \"%s\", \"style\": {\"Size:\": \" Large\"}, "
             "\"reviewText\": \"fine\", \"unixReviewTime\": %ld}\n",
             user, asin, time);
}

/* Index of an item by asin, as an int for CHECK_EQ. */
static int item(const lr_data *d, const char *asin) { return (int)lr_data_find_item(d, asin); }

LR_TEST(sequences_sorted_by_time_ties_keep_file_order) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 300);
    review(text, sizeof text, "U2", "B", 50);
    review(text, sizeof text, "U1", "B", 100);
    review(text, sizeof text, "U1", "C", 200);
    review(text, sizeof text, "U1", "D", 200); /* same time as C, later in the file */
    review(text, sizeof text, "U2", "C", 40);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    CHECK_EQ(lr_data_get_format(d), LR_DATA_AMAZON_RAW);
    CHECK_EQ(lr_data_num_users(d), 2);
    CHECK_EQ(lr_data_num_items(d), 4);
    CHECK_STR_EQ(lr_data_user_token(d, 0), "U1");
    CHECK_STR_EQ(lr_data_item_token(d, 1), "B");
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, 0, &n);
    CHECK_EQ(n, 4);
    CHECK_EQ(s[0], item(d, "B"));
    CHECK_EQ(s[1], item(d, "C"));
    CHECK_EQ(s[2], item(d, "D"));
    CHECK_EQ(s[3], item(d, "A"));
    s = lr_data_user_sequence(d, 1, &n);
    CHECK_EQ(n, 2);
    CHECK_EQ(s[0], item(d, "C"));
    CHECK_EQ(s[1], item(d, "B"));
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(long_sequence_sort_is_stable) {
    /* Past the insertion-sort cutoff: 100 reviews with 10 distinct times, newest first. */
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    static char text[32768];
    text[0] = '\0';
    for (int i = 0; i < 100; i++) {
        char asin[16];
        snprintf(asin, sizeof asin, "I%03d", i);
        review(text, sizeof text, "U", asin, 1000 - (i / 10) * 10);
    }
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    size_t n;
    const int32_t *s = lr_data_user_sequence(d, 0, &n);
    CHECK_EQ(n, 100);
    /* Items were indexed in file order, so index i has time 1000 - (i/10)*10. */
    for (size_t k = 0; k < n; k++) CHECK_EQ(s[k], (int)((9 - k / 10) * 10 + k % 10));
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(duplicate_reviews_are_kept) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    review(text, sizeof text, "U1", "B", 2);
    review(text, sizeof text, "U1", "A", 3);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    CHECK_EQ(lr_data_num_items(d), 2);
    CHECK_EQ(lr_data_num_interactions(d), 3);
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(blank_lines_are_skipped_but_counted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "\n";
    review(text, sizeof text, "U1", "A", 1);
    strcat(text, "  \r\n");
    strcat(text, "{\"reviewerID\": \"U1\", \"unixReviewTime\": 2}"); /* line 4, no newline */
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "Tools_5.json.gz:4: expected a JSON object with string \"asin\"");
    CHECK(d == NULL);
    lr_test_rmdir(dir);
}

LR_TEST(item_text_joins_title_brand_category) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    CHECK(lr_test_write_gz(dir, "meta_Tools.json.gz",
                   "{\"category\": [\"Tools & Home\", \"\", \"Power Tools\"], \"tech1\": \"\", "
                   "\"description\": [\"x\"], \"title\": \"  Drill <b>X</b>\\n\", "
                   "\"brand\": \"Acme\", \"feature\": [], \"asin\": \"A\", \"imageURL\": []}\n") ==
          0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    CHECK_STR_EQ(lr_data_item_text(d, 0),
                 "Title: Drill <b>X</b>. Brand: Acme. Category: Tools & Home > Power Tools");
    /* the fields are the cleaned values the text was made of */
    CHECK_STR_EQ(lr_data_item_field(d, 0, LR_FIELD_TITLE), "Drill <b>X</b>");
    CHECK_STR_EQ(lr_data_item_field(d, 0, LR_FIELD_BRAND), "Acme");
    CHECK_STR_EQ(lr_data_item_field(d, 0, LR_FIELD_CATEGORY), "Tools & Home > Power Tools");
    /* attributes: the brand, and each level of the category list that is not empty */
    int brand = lr_data_find_attr(d, "brand"), cat = lr_data_find_attr(d, "category");
    CHECK(brand >= 0 && cat >= 0);
    size_t n;
    const uint32_t *v = lr_data_item_attr(d, 0, (size_t)brand, &n);
    CHECK(n == 1 && strcmp(lr_data_attr_value(d, (size_t)brand, v[0]), "Acme") == 0);
    v = lr_data_item_attr(d, 0, (size_t)cat, &n);
    CHECK_EQ(n, 2);
    CHECK_STR_EQ(lr_data_attr_value(d, (size_t)cat, v[0]), "Tools & Home");
    CHECK_STR_EQ(lr_data_attr_value(d, (size_t)cat, v[1]), "Power Tools");
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(items_without_meta_have_null_text) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    review(text, sizeof text, "U1", "B", 2);
    review(text, sizeof text, "U2", "C", 2);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    CHECK(lr_test_write_gz(dir, "meta_Tools.json.gz",
                   "{\"asin\": \"B\", \"title\": \"Saw\"}\n"
                   "{\"asin\": \"C\", \"title\": \"\", \"brand\": \" \", \"category\": []}\n") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    CHECK(lr_data_item_text(d, (size_t)item(d, "A")) == NULL);
    CHECK_STR_EQ(lr_data_item_text(d, (size_t)item(d, "B")), "Title: Saw.");
    CHECK(lr_data_item_text(d, (size_t)item(d, "C")) == NULL); /* meta with nothing in it */
    CHECK_EQ(lr_data_get_stats(d).items_without_text, 2);
    CHECK_STR_EQ(lr_data_item_field(d, (size_t)item(d, "B"), LR_FIELD_TITLE), "Saw");
    CHECK(lr_data_item_field(d, (size_t)item(d, "B"), LR_FIELD_BRAND) == NULL);
    CHECK(lr_data_item_field(d, (size_t)item(d, "B"), LR_FIELD_CATEGORY) == NULL);
    for (int f = 0; f < LR_DATA_NUM_FIELDS; f++) {
        CHECK(lr_data_item_field(d, (size_t)item(d, "A"), (lr_data_field)f) == NULL); /* no meta */
        CHECK(lr_data_item_field(d, (size_t)item(d, "C"), (lr_data_field)f) == NULL); /* blank ones */
    }
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(missing_meta_file_gives_no_text) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    CHECK(lr_data_item_text(d, 0) == NULL);
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(unknown_meta_asins_are_ignored) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    /* The unknown asin's other fields are never looked at, even when of the wrong type. */
    CHECK(lr_test_write_gz(dir, "meta_Tools.json.gz",
                   "{\"asin\": \"Z\", \"title\": 7}\n{\"asin\": \"A\", \"brand\": \"Acme\"}\n") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    CHECK_EQ(lr_data_num_items(d), 1);
    CHECK_EQ(lr_data_find_item(d, "Z"), -1);
    CHECK_STR_EQ(lr_data_item_text(d, 0), "Brand: Acme.");
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(duplicate_meta_keeps_first) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    CHECK(lr_test_write_gz(dir, "meta_Tools.json.gz",
                   "{\"asin\": \"A\", \"title\": \"First\"}\n"
                   "{\"asin\": \"A\", \"title\": \"Second\"}\n") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    CHECK_STR_EQ(lr_data_item_text(d, 0), "Title: First.");
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(long_title_truncated_at_utf8_boundary) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    /* 999 ASCII bytes, then "é" (2 bytes) straddling the 1,000-byte limit. */
    size_t cap = 4096;
    char *meta = malloc(cap);
    CHECK(meta);
    size_t k = (size_t)snprintf(meta, cap, "{\"asin\": \"A\", \"title\": \"");
    memset(meta + k, 'x', 999);
    k += 999;
    snprintf(meta + k, cap - k, "\xc3\xa9yyyy\"}\n");
    int wrote = lr_test_write_gz(dir, "meta_Tools.json.gz", meta);
    free(meta);
    CHECK(wrote == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    const char *t = lr_data_item_text(d, 0);
    CHECK(t);
    CHECK_EQ(strlen(t), strlen("Title: ") + 999 + 1); /* the title and its period */
    CHECK(t[strlen(t) - 2] == 'x');
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(very_long_meta_line_loads) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    size_t big = 2u << 20;
    char *meta = malloc(big + 256);
    CHECK(meta);
    size_t k = (size_t)snprintf(meta, 256, "{\"description\": [\"");
    memset(meta + k, 'd', big);
    k += big;
    snprintf(meta + k, 256, "\"], \"asin\": \"A\", \"title\": \"Long\"}\n");
    int wrote = lr_test_write_gz(dir, "meta_Tools.json.gz", meta);
    free(meta);
    CHECK(wrote == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_OK(lr_data_load_amazon(dir, "Tools", &d, &err), err);
    CHECK_STR_EQ(lr_data_item_text(d, 0), "Title: Long.");
    lr_data_free(d);
    lr_test_rmdir(dir);
}

LR_TEST(missing_reviews_file_is_not_found) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_gz(dir, "meta_Tools.json.gz", "{\"asin\": \"A\"}\n") == 0);
    lr_data *d = (lr_data *)&d; /* must come back NULL */
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_ENOTFOUND, "Tools_5.json.gz");
    CHECK(d == NULL);
    lr_test_rmdir(dir);
}

LR_TEST(invalid_json_names_line_and_column) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    strcat(text, "{\"reviewerID\": \"U2\", \"asin\": }\n");
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "Tools_5.json.gz:2: invalid JSON at column");
    CHECK(d == NULL);
    lr_test_rmdir(dir);
}

LR_TEST(line_that_is_not_an_object_is_format_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", "[1, 2]\n") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "Tools_5.json.gz:1: expected a JSON object, got an array");
    lr_test_rmdir(dir);
}

LR_TEST(missing_asin_is_format_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    review(text, sizeof text, "U1", "B", 2);
    strcat(text, "{\"reviewerID\": \"U2\", \"unixReviewTime\": 3}\n");
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "Tools_5.json.gz:3: expected a JSON object with string \"asin\", got an object "
              "without \"asin\"");
    CHECK(d == NULL);
    lr_test_rmdir(dir);
}

LR_TEST(non_string_reviewer_is_format_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz",
                   "{\"reviewerID\": 12, \"asin\": \"A\", \"unixReviewTime\": 3}\n") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              ":1: expected a JSON object with string \"reviewerID\", got \"reviewerID\" as an "
              "integer");
    lr_test_rmdir(dir);
}

LR_TEST(non_integer_time_is_format_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz",
                   "{\"reviewerID\": \"U1\", \"asin\": \"A\", \"unixReviewTime\": \"1420156800\"}\n") ==
          0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "Tools_5.json.gz:1: expected a JSON object with integer \"unixReviewTime\", got "
              "\"unixReviewTime\" as a string");
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz",
                   "{\"reviewerID\": \"U1\", \"asin\": \"A\", \"unixReviewTime\": 1.5}\n") == 0);
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "got \"unixReviewTime\" as a real number");
    lr_test_rmdir(dir);
}

LR_TEST(missing_time_is_format_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz",
                   "{\"reviewerID\": \"U1\", \"asin\": \"A\", \"reviewTime\": \"01 2, 2015\"}\n") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "Tools_5.json.gz:1: expected a JSON object with integer \"unixReviewTime\", got an "
              "object without \"unixReviewTime\"");
    lr_test_rmdir(dir);
}

LR_TEST(truncated_gzip_is_io_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    static char text[65536];
    text[0] = '\0';
    for (int i = 0; i < 300; i++) {
        char user[16], asin[16];
        snprintf(user, sizeof user, "U%d", i % 37);
        snprintf(asin, sizeof asin, "B%07d", (i * 7919) % 1009);
        review(text, sizeof text, user, asin, 1400000000L + i * 977L);
    }
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    CHECK(cut_in_half(dir, "Tools_5.json.gz") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EIO,
              "Tools_5.json.gz: the gzip stream ends early");
    CHECK(d == NULL);
    lr_test_rmdir(dir);
}

LR_TEST(truncated_meta_gzip_is_io_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    static char meta[65536];
    meta[0] = '\0';
    for (int i = 0; i < 300; i++) {
        size_t k = strlen(meta);
        snprintf(meta + k, sizeof meta - k, "{\"asin\": \"M%d\", \"title\": \"Thing %d\"}\n", i,
                 i * 31);
    }
    CHECK(lr_test_write_gz(dir, "meta_Tools.json.gz", meta) == 0);
    CHECK(cut_in_half(dir, "meta_Tools.json.gz") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EIO,
              "meta_Tools.json.gz: the gzip stream ends early");
    lr_test_rmdir(dir);
}

LR_TEST(invalid_meta_json_names_meta_file) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    CHECK(lr_test_write_gz(dir, "meta_Tools.json.gz", "{\"asin\": \"A\"}\n{'asin': 'B'}\n") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "meta_Tools.json.gz:2: invalid JSON");
    lr_test_rmdir(dir);
}

LR_TEST(meta_category_not_array_is_format_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", text) == 0);
    CHECK(lr_test_write_gz(dir, "meta_Tools.json.gz", "{\"asin\": \"A\", \"category\": \"Tools\"}\n") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "meta_Tools.json.gz:1: expected \"category\" to be an array of strings, got a "
              "string");
    lr_test_rmdir(dir);
}

LR_TEST(empty_reviews_file_is_format_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", "") == 0);
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon(dir, "Tools", &d, &err), err, LR_EFORMAT,
              "Tools_5.json.gz: no reviews");
    CHECK(d == NULL);
    lr_test_rmdir(dir);
}

LR_TEST(null_arguments_are_invalid) {
    lr_data *d = NULL;
    lr_err err = {0};
    CHECK_ERR(lr_data_load_amazon("/tmp", "", &d, &err), err, LR_EINVAL, "category");
    CHECK_ERR(lr_data_load_amazon(NULL, "Tools", &d, &err), err, LR_EINVAL, "directory");
}

/* lr_data_load on a directory finds the one reviews file; a hidden macOS twin is not counted. */
LR_TEST(load_discovers_the_category_in_a_directory) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char reviews[2048] = "";
    review(reviews, sizeof reviews, "U1", "A1", 10);
    review(reviews, sizeof reviews, "U1", "A2", 20);
    CHECK(lr_test_write_gz(dir, "Industrial_and_Scientific_5.json.gz", reviews) == 0);
    CHECK(lr_test_write_gz(dir, "meta_Industrial_and_Scientific.json.gz",
                   "{\"asin\": \"A1\", \"title\": \"Gloves\"}\n") == 0);
    CHECK(lr_test_write_gz(dir, "._Other_5.json.gz", "") == 0);
    lr_err err = {0};
    lr_data *d = NULL;
    int rc = lr_data_load(dir, &d, &err);
    char meta_path[4200];
    snprintf(meta_path, sizeof meta_path, "%s/meta_Industrial_and_Scientific.json.gz", dir);
    lr_data *d2 = NULL;
    int rc2 = lr_data_load(meta_path, &d2, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_EQ(lr_data_get_format(d), LR_DATA_AMAZON_RAW);
    CHECK_EQ(lr_data_num_items(d), 2);
    CHECK_STR_EQ(lr_data_item_text(d, 0), "Title: Gloves.");
    CHECK_EQ(lr_data_num_interactions(d2), 2);
    lr_data_free(d);
    lr_data_free(d2);
}

LR_TEST(load_refuses_a_directory_with_two_categories) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_gz(dir, "Tools_5.json.gz", "") == 0);
    CHECK(lr_test_write_gz(dir, "Toys_5.json.gz", "") == 0);
    lr_err err = {0};
    lr_data *d = NULL;
    int rc = lr_data_load(dir, &d, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EINVAL, "holds 2 datasets (*_5.json.gz files)");
    CHECK(d == NULL);
}

/* ---- fields through lr_data_write_recbole ------------------------------------------------------ */

/* Items with every field, with some missing, with none (meta without them, or no meta). */
static int write_fielded(const char *dir) {
    char text[4096] = "";
    review(text, sizeof text, "U1", "A", 1);
    review(text, sizeof text, "U1", "B", 2);
    review(text, sizeof text, "U1", "C", 3);
    review(text, sizeof text, "U2", "D", 1);
    review(text, sizeof text, "U2", "E", 2);
    review(text, sizeof text, "U2", "A", 3);
    return lr_test_write_gz(dir, "Tools_5.json.gz", text) ||
           lr_test_write_gz(dir, "meta_Tools.json.gz",
                            "{\"asin\": \"A\", \"title\": \"Drill No. 5.\", \"brand\": \"Acme\", "
                            "\"category\": [\"Tools\", \"Drills\"]}\n"
                            "{\"asin\": \"B\", \"brand\": \"Bosch\", \"category\": [\"Tools\"]}\n"
                            "{\"asin\": \"C\", \"title\": \"Saw\"}\n"
                            "{\"asin\": \"D\", \"category\": []}\n");
}

LR_TEST(fields_build_the_item_text) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_data *d = NULL;
    lr_err err = {0};
    int rc = write_fielded(dir) ? 999 : lr_data_load_amazon(dir, "Tools", &d, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    size_t bad = SIZE_MAX;
    for (size_t i = 0; i < lr_data_num_items(d); i++) {
        const char *t = lr_data_item_field(d, i, LR_FIELD_TITLE);
        const char *b = lr_data_item_field(d, i, LR_FIELD_BRAND);
        const char *c = lr_data_item_field(d, i, LR_FIELD_CATEGORY);
        char *want = lr_data_prompt_text(t, b, c);
        const char *got = lr_data_item_text(d, i);
        if (!want || (want[0] ? !got || strcmp(got, want) != 0 : got != NULL)) bad = bad < i ? bad : i;
        free(want);
    }
    CHECK_STR_EQ(lr_data_item_field(d, (size_t)item(d, "A"), LR_FIELD_TITLE), "Drill No. 5.");
    CHECK_STR_EQ(lr_data_item_field(d, (size_t)item(d, "B"), LR_FIELD_BRAND), "Bosch");
    CHECK(lr_data_item_field(d, (size_t)item(d, "B"), LR_FIELD_TITLE) == NULL);
    lr_data_free(d);
    CHECK_EQ(bad, SIZE_MAX); /* else: the first item whose text is not its fields' prompt */
}

LR_TEST(written_catalogue_loads_back_with_fields) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_data *d = NULL;
    lr_err err = {0};
    int rc = write_fielded(dir) ? 999 : lr_data_load_amazon(dir, "Tools", &d, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    lr_test_check_round_trip(lr_t_, d);
    lr_data_free(d);
}

/* Rewrites dir/name without its second tab-separated column; 0 on success. */
static int drop_second_column(const char *dir, const char *name) {
    size_t cap = 1 << 16;
    char *in = malloc(cap), *out = malloc(cap);
    long n = in && out ? lr_test_read_bytes(dir, name, (unsigned char *)in, cap - 1) : -1;
    int rc = n < 0 || (size_t)n == cap - 1 ? -1 : 0;
    if (!rc) {
        in[n] = '\0';
        size_t k = 0;
        for (char *line = in, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            char *t1 = strchr(line, '\t'), *t2 = t1 && t1 < nl ? strchr(t1 + 1, '\t') : NULL;
            if (!nl || !t2 || t2 > nl) {
                rc = -1;
                break;
            }
            memcpy(out + k, line, (size_t)(t1 - line));
            k += (size_t)(t1 - line);
            memcpy(out + k, t2, (size_t)(nl + 1 - t2));
            k += (size_t)(nl + 1 - t2);
        }
        out[k] = '\0';
    }
    if (!rc) rc = lr_test_write_file(dir, name, out);
    free(in);
    free(out);
    return rc;
}

/* The text column is not needed to get the text back: the loader makes the same prompt from
 * the title, brand and categories columns, byte for byte, also with fields missing. */
LR_TEST(field_columns_alone_rebuild_the_written_text) {
    char *dir = lr_test_tmpdir(), *out = lr_test_tmpdir();
    lr_data *a = NULL, *b = NULL;
    lr_err err = {0};
    int rc = !dir || !out || write_fielded(dir) ? 999 : lr_data_load_amazon(dir, "Tools", &a, &err);
    if (!rc) rc = lr_data_write_recbole(a, out, "copy", &err);
    if (!rc) rc = drop_second_column(out, "copy.item") ? 999 : lr_data_load(out, &b, &err);
    char head[256] = "";
    long hn = rc ? -1 : lr_test_read_bytes(out, "copy.item", (unsigned char *)head, sizeof head - 1);
    if (hn > 0) head[hn] = '\0';
    lr_test_rmdir(dir);
    lr_test_rmdir(out);
    CHECK_OK(rc, err);
    static const char no_text[] = "item_id:token\ttitle:token_seq\tbrand:token\tcategories:token_seq\n";
    CHECK(strncmp(head, no_text, sizeof no_text - 1) == 0);
    CHECK(lr_data_get_stats(a).items_without_text == 2); /* D (blank meta) and E (none) */
    lr_test_check_equal_data(lr_t_, a, b);
    lr_data_free(a);
    lr_data_free(b);
}

LR_TEST_MAIN(LR_CASE(sequences_sorted_by_time_ties_keep_file_order),
             LR_CASE(long_sequence_sort_is_stable), LR_CASE(duplicate_reviews_are_kept),
             LR_CASE(blank_lines_are_skipped_but_counted),
             LR_CASE(item_text_joins_title_brand_category),
             LR_CASE(items_without_meta_have_null_text), LR_CASE(missing_meta_file_gives_no_text),
             LR_CASE(unknown_meta_asins_are_ignored), LR_CASE(duplicate_meta_keeps_first),
             LR_CASE(long_title_truncated_at_utf8_boundary), LR_CASE(very_long_meta_line_loads),
             LR_CASE(missing_reviews_file_is_not_found),
             LR_CASE(invalid_json_names_line_and_column),
             LR_CASE(line_that_is_not_an_object_is_format_error),
             LR_CASE(missing_asin_is_format_error), LR_CASE(non_string_reviewer_is_format_error),
             LR_CASE(non_integer_time_is_format_error), LR_CASE(missing_time_is_format_error),
             LR_CASE(truncated_gzip_is_io_error), LR_CASE(truncated_meta_gzip_is_io_error),
             LR_CASE(invalid_meta_json_names_meta_file),
             LR_CASE(meta_category_not_array_is_format_error),
             LR_CASE(empty_reviews_file_is_format_error), LR_CASE(null_arguments_are_invalid),
             LR_CASE(load_discovers_the_category_in_a_directory),
             LR_CASE(load_refuses_a_directory_with_two_categories),
             LR_CASE(fields_build_the_item_text), LR_CASE(written_catalogue_loads_back_with_fields),
             LR_CASE(field_columns_alone_rebuild_the_written_text))
