/* Allocation-failure loops over every datasets/ loader and constructor (tests/lr_oom.h): each
 * allocation of a small load fails in turn; each failure must come back as a clean error with
 * *out NULL and nothing left allocated. zlib's and jansson's own allocations (the Amazon loader,
 * safetensors headers) are not injected: they are shared libraries (lr_oom.h). The writers run
 * the same loop (nothing to hand out; a failure must leave nothing allocated). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "lr_data.h"
#include "lr_oom.h"
#include "lr_test.h"
#include "datasets/fixtures.h"
#include "npy_fixture.h"

/* ---- adapters: one constructor each, as an lr_oom_call ----------------------------------- */

static void data_free(void *p) { lr_data_free(p); }
static void matrix_free(void *p) { lr_data_matrix_free(p); }
static void st_free(void *p) { lr_data_st_free(p); }
static void nothing_free(void *p) { (void)p; }

/* A writer has no object to hand out: a stand-in marks success. */
static char written_;

static int load(void *path, void **out, lr_err *err) {
    lr_data *d = *out;
    int rc = lr_data_load(path, &d, err);
    *out = d;
    return rc;
}

static int synth(void *cfg, void **out, lr_err *err) {
    lr_data *d = *out;
    int rc = lr_data_synth(cfg, &d, err);
    *out = d;
    return rc;
}

static int matrix_open(void *path, void **out, lr_err *err) {
    lr_data_matrix *m = *out;
    int rc = lr_data_matrix_open(path, 0, &m, err);
    *out = m;
    return rc;
}

static const float k_six[6] = {0.5f, -1.25f, 3.0f, 4.5f, -0.0f, 1e-3f};

static int matrix_from_floats(void *ctx, void **out, lr_err *err) {
    (void)ctx;
    lr_data_matrix *m = *out;
    int rc = lr_data_matrix_from_floats(k_six, 2, 3, &m, err);
    *out = m;
    return rc;
}

static int st_open(void *path, void **out, lr_err *err) {
    lr_data_st_file *f = *out;
    int rc = lr_data_st_open(path, &f, err);
    *out = f;
    return rc;
}

typedef struct {
    const lr_data *d;
    const char *dir;
} write_ctx;

static int write_recbole(void *ctx, void **out, lr_err *err) {
    const write_ctx *w = ctx;
    int rc = lr_data_write_recbole(w->d, w->dir, "W", err);
    *out = rc ? NULL : &written_;
    return rc;
}

static int npy_write(void *path, void **out, lr_err *err) {
    int rc = lr_data_npy_write(path, k_six, 2, 3, LR_NPY_F16, err);
    *out = rc ? NULL : &written_;
    return rc;
}

static int st_write(void *path, void **out, lr_err *err) {
    static const char *const keys[] = {"format", "dim"}, *const vals[] = {"pt", "3"};
    lr_data_st_tensor t[2] = {{"a", k_six, 2, {2, 3}}, {"b", k_six, 1, {3}}};
    int rc = lr_data_st_write(path, t, 2, keys, vals, 2, err);
    *out = rc ? NULL : &written_;
    return rc;
}

/* ---- fixtures ---------------------------------------------------------------------------- */



/* RecBole's benchmark files: item and user tokens, items and their text in .item. */
static int write_benchmark(const char *dir) {
    char train[256], valid[256], test[256];
    snprintf(train, sizeof train, "%sx\ta b\tc\nx\ta\tb\ny\td\te\n", lr_test_seq_header);
    snprintf(valid, sizeof valid, "%sx\ta b c\td\ny\td e\ta\n", lr_test_seq_header);
    snprintf(test, sizeof test, "%sx\ta b c d\te\ny\td e a\tc\n", lr_test_seq_header);
    return lr_test_write_file(dir, "B.item", "item_id:token\ttitle:token_seq\tbrand:token\tsize:token\n"
                                             "a\tAx\tAcme\tL\nb\tBx\t\tM\nc\tCx\tCo\t\nd\tDx\tDo\tS\ne\tEx\tEo\tXL\n") ||
           lr_test_write_file(dir, "B.train.inter", train) ||
           lr_test_write_file(dir, "B.valid.inter", valid) ||
           lr_test_write_file(dir, "B.test.inter", test);
}

/* Ratings with .item and .user files (the ml-100k layout), and bare ratings. */
static int write_ratings(const char *dir) {
    return lr_test_write_file(dir, "M.inter", "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                                              "2\t10\t4\t50\n1\t12\t5\t30\n1\t11\t3\t30\n1\t10\t1\t40\n"
                                              "2\t12\t2\t10\n1\t13\t2\t5\n2\t11\t3\t60\n") ||
           lr_test_write_file(dir, "M.item", "item_id:token\tmovie_title:token_seq\trelease_year:token\t"
                                             "class:token_seq\n10\tToy Story\t1995\tAnimation\n"
                                             "11\tHeat\t1995\tAction\n12\tBabe\t\tDrama\n13\tX\t1996\tY\n") ||
           lr_test_write_file(dir, "M.user", "user_id:token\tage:token\n1\t24\n2\t53\n");
}

static int write_bare_ratings(const char *dir) {
    return lr_test_write_file(dir, "R.inter", "user_id:token\titem_id:token\ttimestamp:float\n"
                                              "u1\ti1\t3\nu2\ti2\t1\nu1\ti3\t2\nu2\ti1\t4\nu1\ti2\t1\n");
}


static int write_amazon(const char *dir) {
    static const char reviews[] =
        "{\"reviewerID\": \"U1\", \"asin\": \"A\", \"unixReviewTime\": 3}\n"
        "{\"reviewerID\": \"U2\", \"asin\": \"B\", \"unixReviewTime\": 1}\n"
        "{\"reviewerID\": \"U1\", \"asin\": \"B\", \"unixReviewTime\": 1}\n"
        "{\"reviewerID\": \"U1\", \"asin\": \"C\", \"unixReviewTime\": 2}\n"
        "{\"reviewerID\": \"U2\", \"asin\": \"C\", \"unixReviewTime\": 2}\n"
        "{\"reviewerID\": \"U2\", \"asin\": \"A\", \"unixReviewTime\": 4}\n";
    static const char meta[] =
        "{\"category\": [\"Tools\", \"Drills\"], \"title\": \"Drill <b>X</b>\", \"brand\": \"Acme\", "
        "\"asin\": \"A\"}\n"
        "{\"title\": \"Saw\", \"asin\": \"B\"}\n"
        "{\"title\": \"Unknown\", \"asin\": \"Z\"}\n";
    return lr_test_write_gz(dir, "Tools_5.json.gz", reviews) || lr_test_write_gz(dir, "meta_Tools.json.gz", meta);
}

/* Runs the loop over lr_data_load(dir/name) after `fixture` wrote the files. */
#define CHECK_LOAD_OOM(what, fixture, name)                                                    \
    do {                                                                                       \
        char *dir_ = lr_test_tmpdir(), path_[4200];                                            \
        lr_oom_steps s_ = {!dir_ || fixture(dir_) != 0, "cannot write the fixture"};           \
        if (dir_) lr_test_path(path_, sizeof path_, dir_, name);                               \
        lr_oom_step(&s_, what, load, path_, data_free);                                        \
        lr_test_rmdir(dir_);                                                                   \
        CHECK_OOM_STEPS(s_);                                                                   \
    } while (0)

/* ---- loaders ----------------------------------------------------------------------------- */

LR_TEST(load_unisrec_split_fails_cleanly_at_every_allocation) {
    CHECK_LOAD_OOM("lr_data_load (UniSRec split)", lr_test_write_small_seq, "D");
}

LR_TEST(load_benchmark_split_fails_cleanly_at_every_allocation) {
    CHECK_LOAD_OOM("lr_data_load (benchmark split)", write_benchmark, "B.train.inter");
}

LR_TEST(load_ratings_fails_cleanly_at_every_allocation) {
    CHECK_LOAD_OOM("lr_data_load (ratings, .item, .user)", write_ratings, "");
}

LR_TEST(load_bare_ratings_fails_cleanly_at_every_allocation) {
    CHECK_LOAD_OOM("lr_data_load (bare ratings)", write_bare_ratings, "R.inter");
}

LR_TEST(load_amazon_fails_cleanly_at_every_allocation) {
    CHECK_LOAD_OOM("lr_data_load (Amazon raw)", write_amazon, "Tools_5.json.gz");
}

LR_TEST(synth_fails_cleanly_at_every_allocation) {
    lr_synth_config c = lr_data_synth_config_default();
    c.items = 1000;
    c.users = 20;
    c.min_seq_len = 3;
    c.mean_seq_len = 5;
    c.max_seq_len = 10;
    CHECK_OOM("lr_data_synth", synth, &c, data_free);
}

/* ---- matrices and safetensors -------------------------------------------------------------- */

LR_TEST(matrix_open_fails_cleanly_at_every_allocation) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char f32[4200], f16[4200], odd[4200], fvecs[4200];
    lr_test_path(f32, sizeof f32, dir, "a.npy");
    lr_test_path(f16, sizeof f16, dir, "h.npy");
    lr_test_path(odd, sizeof odd, dir, "odd.npy");
    lr_test_path(fvecs, sizeof fvecs, dir, "a.fvecs");
    lr_err err = {0, ""};
    unsigned char fv[2 * 16];
    for (int r = 0; r < 2; r++) {
        int32_t d = 3;
        memcpy(fv + 16 * r, &d, 4);
        memcpy(fv + 16 * r + 4, k_six + 3 * r, 12);
    }
    int bad = lr_data_npy_write(f32, k_six, 2, 3, LR_NPY_F32, &err) ||
              lr_data_npy_write(f16, k_six, 2, 3, LR_NPY_F16, &err) ||
              lr_test_write_npy(dir, "odd.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (2, 3), }", 1, k_six, sizeof k_six) ||
              lr_test_put_bytes(dir, "a.fvecs", fv, sizeof fv, 0);
    if (bad) lr_test_rmdir(dir);
    CHECK(!bad);
    CHECK_OOM("lr_data_matrix_open (.npy f32)", matrix_open, f32, matrix_free);
    CHECK_OOM("lr_data_matrix_open (.npy f32, unaligned)", matrix_open, odd, matrix_free);
    CHECK_OOM("lr_data_matrix_open (.npy f16)", matrix_open, f16, matrix_free);
    CHECK_OOM("lr_data_matrix_open (.fvecs)", matrix_open, fvecs, matrix_free);
    lr_test_rmdir(dir);
}

LR_TEST(matrix_from_floats_fails_cleanly_at_every_allocation) {
    CHECK_OOM("lr_data_matrix_from_floats", matrix_from_floats, NULL, matrix_free);
}

LR_TEST(st_open_fails_cleanly_at_every_allocation) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "m.safetensors");
    lr_err err = {0, ""};
    void *ignored = NULL;
    int rc = st_write(path, &ignored, &err);
    if (rc) lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OOM("lr_data_st_open", st_open, path, st_free);
    lr_test_rmdir(dir);
}

/* ---- writers ----------------------------------------------------------------------------- */

LR_TEST(writers_fail_cleanly_at_every_allocation) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    lr_data *d = NULL;
    char path[4200];
    lr_test_path(path, sizeof path, dir, "R");
    int rc = write_bare_ratings(dir) ? LR_EIO : lr_data_load(path, &d, &err);
    lr_data *fielded = NULL; /* items with title and category fields: the wider .item file */
    lr_test_path(path, sizeof path, dir, "M");
    if (!rc) rc = write_ratings(dir) ? LR_EIO : lr_data_load(path, &fielded, &err);
    if (rc) {
        lr_data_free(d);
        lr_test_rmdir(dir);
    }
    CHECK_OK(rc, err);
    write_ctx w = {d, dir}, wf = {fielded, dir};
    char npy[4200], st[4200];
    lr_test_path(npy, sizeof npy, dir, "w.npy");
    lr_test_path(st, sizeof st, dir, "w.safetensors");
    lr_oom_steps s = {0, ""};
    lr_oom_step(&s, "lr_data_write_recbole", write_recbole, &w, nothing_free);
    lr_oom_step(&s, "lr_data_write_recbole (fields)", write_recbole, &wf, nothing_free);
    lr_oom_step(&s, "lr_data_npy_write", npy_write, npy, nothing_free);
    lr_oom_step(&s, "lr_data_st_write", st_write, st, nothing_free);
    lr_data_free(d);
    lr_data_free(fielded);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

LR_TEST_MAIN(LR_CASE(load_unisrec_split_fails_cleanly_at_every_allocation),
             LR_CASE(load_benchmark_split_fails_cleanly_at_every_allocation),
             LR_CASE(load_ratings_fails_cleanly_at_every_allocation),
             LR_CASE(load_bare_ratings_fails_cleanly_at_every_allocation),
             LR_CASE(load_amazon_fails_cleanly_at_every_allocation),
             LR_CASE(synth_fails_cleanly_at_every_allocation),
             LR_CASE(matrix_open_fails_cleanly_at_every_allocation),
             LR_CASE(matrix_from_floats_fails_cleanly_at_every_allocation),
             LR_CASE(st_open_fails_cleanly_at_every_allocation),
             LR_CASE(writers_fail_cleanly_at_every_allocation))
