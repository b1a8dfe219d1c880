/* Small datasets the datasets/ tests write for themselves: the same loader paths as the real
 * data in ../shared, in a few lines each. */
#ifndef LR_TEST_DATASET_FIXTURES_H
#define LR_TEST_DATASET_FIXTURES_H

#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "lr_data.h"
#include "lr_test.h"
#include "attr_compare.h"

/* The header of a sequence split's .inter files. */
static const char lr_test_seq_header[] = "user_id:token\titem_id_list:token_seq\titem_id:token\n";

/* A UniSRec sequence split "D" in dir: 5 items a..e (text A..E), users u0 (0 1 2 3 4) and
 * u1 (3 4 0 2), integer indexes mapped by D.item2index and D.user2index. 0 on success. */
static inline int lr_test_write_small_seq(const char *dir) {
    char train[256], valid[256], test[256];
    snprintf(train, sizeof train, "%s0\t0 1\t2\n0\t0\t1\n1\t3\t4\n", lr_test_seq_header);
    snprintf(valid, sizeof valid, "%s0\t0 1 2\t3\n1\t3 4\t0\n", lr_test_seq_header);
    snprintf(test, sizeof test, "%s0\t0 1 2 3\t4\n1\t3 4 0\t2\n", lr_test_seq_header);
    return lr_test_write_file(dir, "D.item2index", "a\t0\nb\t1\nc\t2\nd\t3\ne\t4\n") ||
           lr_test_write_file(dir, "D.user2index", "u0\t0\nu1\t1\n") ||
           lr_test_write_file(dir, "D.text", "item_id:token\ttext:token_seq\na\tA\nb\tB\nc\tC\nd\tD\ne\tE\n") ||
           lr_test_write_file(dir, "D.train.inter", train) || lr_test_write_file(dir, "D.valid.inter", valid) ||
           lr_test_write_file(dir, "D.test.inter", test);
}

/* Writes `text` gzip'd to dir/name; 0 on success. */
static inline int lr_test_write_gz(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    gzFile f = gzopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = n == 0 || gzwrite(f, text, (unsigned)n) == (int)n;
    return (gzclose(f) == Z_OK && ok) ? 0 : -1;
}

/* Checks that b holds what a holds: every item's token, text, fields and attributes, every user's token
 * and sequence. */
static inline void lr_test_check_equal_data(lr_test_ctx *lr_t_, const lr_data *a, const lr_data *b) {
    CHECK_EQ(lr_data_num_items(b), lr_data_num_items(a));
    CHECK_EQ(lr_data_num_users(b), lr_data_num_users(a));
    CHECK_EQ(lr_data_num_interactions(b), lr_data_num_interactions(a));
    for (size_t i = 0; i < lr_data_num_items(a); i++) {
        CHECK_STR_EQ(lr_data_item_token(b, i), lr_data_item_token(a, i));
        const char *ta = lr_data_item_text(a, i), *tb = lr_data_item_text(b, i);
        if (!ta != !tb) LR_FAIL_("item %zu: text '%s' became '%s'", i, ta ? ta : "(null)", tb ? tb : "(null)");
        if (ta) CHECK_STR_EQ(tb, ta);
        for (int f = 0; f < LR_DATA_NUM_FIELDS; f++) {
            const char *fa = lr_data_item_field(a, i, (lr_data_field)f);
            const char *fb = lr_data_item_field(b, i, (lr_data_field)f);
            if (!fa != !fb)
                LR_FAIL_("item %zu: %s '%s' became '%s'", i, lr_data_field_name((lr_data_field)f),
                         fa ? fa : "(null)", fb ? fb : "(null)");
            if (fa) CHECK_STR_EQ(fb, fa);
        }
    }
    char why[256];
    if (lr_test_attrs_differ(a, b, why, sizeof why)) LR_FAIL_("%s", why);
    for (size_t u = 0; u < lr_data_num_users(a); u++) {
        size_t na, nb;
        const int32_t *sa = lr_data_user_sequence(a, u, &na), *sb = lr_data_user_sequence(b, u, &nb);
        CHECK_EQ(na, nb);
        CHECK(na == 0 || memcmp(sa, sb, na * sizeof *sa) == 0);
        CHECK_STR_EQ(lr_data_user_token(b, u), lr_data_user_token(a, u));
    }
}

/* Writes a as RecBole files "copy.*" into a fresh directory, loads them back and checks that the
 * copy equals a (lr_test_check_equal_data). */
static inline void lr_test_check_round_trip(lr_test_ctx *lr_t_, const lr_data *a) {
    lr_err err = {0};
    lr_data *b = NULL;
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int rc = lr_data_write_recbole(a, dir, "copy", &err);
    int rc2 = rc ? rc : lr_data_load(dir, &b, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    lr_test_check_equal_data(lr_t_, a, b);
    lr_data_free(b);
}

#endif /* LR_TEST_DATASET_FIXTURES_H */
