/* Small datasets the datasets/ tests write for themselves: the same loader paths as the real
 * data in ../shared, in a few lines each. */
#ifndef LR_TEST_DATASET_FIXTURES_H
#define LR_TEST_DATASET_FIXTURES_H

#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "lr_test.h"

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

#endif /* LR_TEST_DATASET_FIXTURES_H */
