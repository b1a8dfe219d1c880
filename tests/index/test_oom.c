/* Allocation-failure loops over the index/ constructors (tests/lr_oom.h): lr_index_build,
 * lr_index_load and lr_index_open on small IVF indexes; publishing and searching (re-scored,
 * with removed ids) run the same loop. Only learnrec's own allocations fail: FAISS allocates
 * with operator new (libstdc++, a shared library) and posix_memalign, jansson in its shared
 * library, and neither is injected (lr_oom.h). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lr_index.h"
#include "lr_oom.h"
#include "lr_test.h"

#define N 700
#define D 8

static float k_x[N * D];

static void fill(void) {
    for (size_t i = 0; i < N * D; i++) k_x[i] = sinf((float)i * 0.37f);
}

/* A publisher or a search has no object to hand out: a stand-in marks success. */
static char done_;
static void nothing_free(void *p) { (void)p; }
static void index_free(void *p) { lr_index_free(p); }

/* ---- adapters ---------------------------------------------------------------------------- */

static int build(void *factory, void **out, lr_err *err) {
    lr_index *ix = *out;
    int rc = lr_index_build(k_x, N, D, NULL, factory, &ix, err);
    *out = ix;
    return rc;
}

static int load(void *path, void **out, lr_err *err) {
    lr_index *ix = *out;
    int rc = lr_index_load(path, &ix, err);
    *out = ix;
    return rc;
}

static const lr_index_kv k_meta[2] = {{"model", "1a2b3c4d"}, {"content", "5e6f7a8b"}};

static int open_current(void *dir, void **out, lr_err *err) {
    lr_index *ix = *out;
    lr_index_manifest m;
    int rc = lr_index_open(dir, NULL, D, k_meta, 2, &ix, &m, err);
    *out = ix;
    return rc;
}

typedef struct {
    const lr_index *ix;
    const char *dir;
} publish_ctx;

static int publish(void *ctx, void **out, lr_err *err) {
    const publish_ctx *p = ctx;
    lr_index_publish_opts o = {.meta = k_meta, .n_meta = 2, .keep_versions = 2, .vectors_f16 = 1};
    int rc = lr_index_publish(p->ix, p->dir, &o, NULL, err);
    *out = rc ? NULL : &done_;
    return rc;
}

static int search(void *ix, void **out, lr_err *err) {
    int64_t ids[3 * 10];
    float scores[3 * 10];
    int rc = lr_index_search(ix, 3, k_x + 5 * D, 10, ids, scores, err);
    *out = rc ? NULL : &done_;
    return rc;
}

/* ---- cases ------------------------------------------------------------------------------- */

LR_TEST(build_fails_cleanly_at_every_allocation) {
    fill();
    CHECK_OOM("lr_index_build (IVF4,Flat, a training sample)", build, "IVF4,Flat", index_free);
    CHECK_OOM("lr_index_build (IVF8,SQ8)", build, "IVF8,SQ8", index_free);
    CHECK_OOM("lr_index_build (default: Flat under an IDMap)", build, NULL, index_free);
}

LR_TEST(load_fails_cleanly_at_every_allocation) {
    fill();
    lr_index *ix = NULL;
    lr_err err = {0, ""};
    CHECK_OK(lr_index_build(k_x, N, D, NULL, "IVF8,Flat", &ix, &err), err);
    char *dir = lr_test_tmpdir();
    char path[4200];
    if (dir) lr_test_path(path, sizeof path, dir, "ix.faiss");
    int rc = dir ? lr_index_save(ix, path, &err) : lr_err_set(&err, LR_EIO, "no temporary directory");
    lr_index_free(ix);
    if (rc) lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OOM("lr_index_load", load, path, index_free);
    lr_test_rmdir(dir);
}

/* A fast-scan index with removed ids and float16 re-scoring vectors: every part of a version. */
LR_TEST(publish_open_and_search_fail_cleanly_at_every_allocation) {
    fill();
    lr_index *ix = NULL;
    lr_err err = {0, ""};
    int64_t gone[2] = {5, 321};
    CHECK_OK(lr_index_build(k_x, N, D, NULL, "IVF10,PQ4x4fs", &ix, &err), err);
    int rc = lr_index_remove(ix, 2, gone, NULL, &err);
    if (!rc) rc = lr_index_set_rescore(ix, k_x, N, 20, &err);
    char *dir = rc ? NULL : lr_test_tmpdir();
    if (!rc && !dir) rc = lr_err_set(&err, LR_EIO, "no temporary directory");
    if (rc) lr_index_free(ix);
    CHECK_OK(rc, err);
    publish_ctx p = {ix, dir};
    lr_index *back = NULL;
    lr_oom_steps s = {0, ""};
    lr_oom_step(&s, "lr_index_publish", publish, &p, nothing_free);
    lr_oom_step(&s, "lr_index_open", open_current, dir, index_free);
    lr_oom_step(&s, "lr_index_search (removed ids, re-scored)", search, ix, nothing_free);
    if (!s.failed && lr_index_open(dir, NULL, D, k_meta, 2, &back, NULL, &err) != 0) {
        s.failed = 1;
        snprintf(s.why, sizeof s.why, "reopening: %s", err.msg);
    }
    if (!s.failed && lr_index_removed_count(back) != 2) {
        s.failed = 1;
        snprintf(s.why, sizeof s.why, "the opened index has %zu removed ids, not 2",
                 lr_index_removed_count(back));
    }
    lr_oom_step(&s, "lr_index_search (opened: removed ids, re-scored from f16)", search, back,
                nothing_free);
    lr_index_free(back);
    lr_index_free(ix);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

LR_TEST_MAIN(LR_CASE(build_fails_cleanly_at_every_allocation),
             LR_CASE(load_fails_cleanly_at_every_allocation),
             LR_CASE(publish_open_and_search_fail_cleanly_at_every_allocation))
