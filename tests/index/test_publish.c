/* Tests of index/publish.c: versioned index directories, manifests and atomic publishing. */
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <jansson.h>

#include "lr_index.h"
#include "index_internal.h"
#include "lr_test.h"

static lr_index *small_index(size_t n, size_t d, float shift) {
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = sinf((float)i * 0.37f + shift);
    lr_index *ix = NULL;
    lr_err err;
    lr_index_build(x, n, d, NULL, "IVF8,Flat", &ix, &err);
    free(x);
    return ix;
}

LR_TEST(published_index_opens_with_its_manifest) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_index *ix = small_index(2000, 8, 0), *back = NULL;
    CHECK(ix);
    lr_err err = {0};
    lr_index_kv meta[2] = {{"model", "model-abc"}, {"content", "content-xyz"}};
    lr_index_publish_opts o = {.meta = meta, .n_meta = 2, .keep_versions = 3};
    lr_index_manifest m, m2;
    int rc = lr_index_publish(ix, dir, &o, &m, &err);
    int rc2 = rc ? rc : lr_index_open(dir, NULL, 8, meta, 1, &back, &m2, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_STR_EQ(m.version, "v000001");
    CHECK_STR_EQ(m2.version, "v000001");
    CHECK_EQ(m2.dim, 8);
    CHECK_EQ(m2.count, 2000);
    CHECK_EQ(m2.nprobe, 8); /* the build's default of 16, clamped to the 8 lists */
    CHECK_STR_EQ(m2.factory, "IVF8,Flat");
    CHECK_STR_EQ(lr_index_manifest_meta(&m2, "content"), "content-xyz");
    CHECK_STR_EQ(lr_index_manifest_meta(&m2, "model"), "model-abc");
    CHECK(lr_index_manifest_meta(&m2, "other") == NULL);
    CHECK_EQ(m2.index_crc32, m.index_crc32);
    CHECK_STR_EQ(lr_index_factory(back), "IVF8,Flat");
    CHECK_EQ(lr_index_count(back), 2000);
    lr_index_free(ix);
    lr_index_free(back);
}

LR_TEST(newer_versions_become_current_and_old_ones_are_pruned) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0};
    lr_index_publish_opts o = {.keep_versions = 2};
    int rc = LR_OK;
    for (int v = 0; v < 4 && !rc; v++) {
        lr_index *ix = small_index(1000 + 100 * (size_t)v, 8, (float)v);
        rc = lr_index_publish(ix, dir, &o, NULL, &err);
        lr_index_free(ix);
    }
    lr_index *cur = NULL, *old = NULL;
    lr_index_manifest m;
    int rc2 = rc ? rc : lr_index_open(dir, NULL, 0, NULL, 0, &cur, &m, &err);
    int rc3 = lr_index_open(dir, "v000003", 0, NULL, 0, &old, NULL, &err);
    char p[4200];
    lr_test_path(p, sizeof p, dir, "versions/v000001");
    struct stat st;
    int pruned = stat(p, &st) != 0;
    lr_test_path(p, sizeof p, dir, "versions/.tmp-pruned-v000001"); /* renamed aside, then deleted */
    pruned &= stat(p, &st) != 0;
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_OK(rc3, err);
    CHECK_STR_EQ(m.version, "v000004");
    CHECK_EQ(lr_index_count(cur), 1300);
    CHECK_EQ(lr_index_count(old), 1200);
    CHECK(pruned);
    lr_index_free(cur);
    lr_index_free(old);
}

/* A crash after any step of publishing leaves the previous version the one that opens. */
LR_TEST(a_crash_at_any_step_leaves_the_previous_version_loadable) {
    for (int step = 1; step <= 4; step++) {
        char *dir = lr_test_tmpdir();
        CHECK(dir);
        lr_err err = {0};
        lr_index *a = small_index(1000, 8, 0), *b = small_index(1500, 8, 1), *got = NULL;
        lr_index_publish_opts crash = {.keep_versions = 3};
        int rc = lr_index_publish(a, dir, NULL, NULL, &err);
        int rc2 = rc ? rc : lr_index_publish_until(b, dir, &crash, step, NULL, &err);
        lr_index_manifest m;
        int rc3 = rc2 ? rc2 : lr_index_open(dir, NULL, 8, NULL, 0, &got, &m, &err);
        /* and the next publish still works after the debris */
        lr_index_manifest m2;
        int rc4 = rc3 ? rc3 : lr_index_publish(b, dir, NULL, &m2, &err);
        lr_test_rmdir(dir);
        CHECK_OK(rc, err);
        CHECK_OK(rc2, err);
        CHECK_OK(rc3, err);
        CHECK_OK(rc4, err);
        if (step < 4) {
            CHECK_STR_EQ(m.version, "v000001");
            CHECK_EQ(lr_index_count(got), 1000);
        } else { /* the swap happened: the new version is complete and current */
            CHECK_STR_EQ(m.version, "v000002");
            CHECK_EQ(lr_index_count(got), 1500);
        }
        lr_index_free(a);
        lr_index_free(b);
        lr_index_free(got);
    }
}

static int corrupt(const char *dir, const char *file, long at) {
    char p[4200];
    snprintf(p, sizeof p, "%s/current/%s", dir, file);
    FILE *f = fopen(p, "rb+");
    if (!f) return -1;
    fseek(f, at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, at, SEEK_SET);
    fputc(c ^ 0x55, f);
    return fclose(f);
}

LR_TEST(damaged_or_mismatched_indexes_are_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_index *ix = small_index(1000, 8, 0), *got = NULL;
    lr_err err = {0}, e1 = {0}, e2 = {0}, e3 = {0}, e4 = {0};
    lr_index_kv model1 = {"model", "model-1"}, model2 = {"model", "model-2"};
    lr_index_publish_opts o = {.meta = &model1, .n_meta = 1, .keep_versions = 3};
    int rc = lr_index_publish(ix, dir, &o, NULL, &err);
    int dim = lr_index_open(dir, NULL, 64, NULL, 0, &got, NULL, &e1);
    int model = lr_index_open(dir, NULL, 8, &model2, 1, &got, NULL, &e2);
    int bytes = corrupt(dir, "index.faiss", 200) == 0 ? lr_index_open(dir, NULL, 8, NULL, 0, &got, NULL, &e3) : 999;
    int missing = lr_index_open(dir, "v000009", 0, NULL, 0, &got, NULL, &e4);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_ERR(dim, e1, LR_EMISMATCH, "holds 8-d vectors, expected 64");
    CHECK_ERR(model, e2, LR_EMISMATCH, "built for model model-1, not model-2");
    CHECK_ERR(bytes, e3, LR_EFORMAT, "the file is damaged");
    CHECK_ERR(missing, e4, LR_ENOTFOUND, "v000009/manifest.json");
    CHECK(got == NULL);
    lr_index_free(ix);
}

/* Re-scoring vectors travel with the version (float32 mapped, or float16) and give the same
 * answers after opening; damaged vectors are refused like a damaged index. */
static void rescoring_round_trip(lr_test_ctx *lr_t_, int f16) {
    size_t n = 3000, d = 8;
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = sinf((float)i * 0.37f);
    lr_err err = {0}, e2 = {0};
    lr_index *ix, *back = NULL, *bad = NULL;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF16,PQ4x4fs", &ix, &err), err);
    CHECK_OK(lr_index_set_rescore(ix, x, n, 50, &err), err);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_index_publish_opts o = {.keep_versions = 3, .vectors_f16 = f16};
    lr_index_manifest m;
    int rc = lr_index_publish(ix, dir, &o, NULL, &err);
    int rc2 = rc ? rc : lr_index_open(dir, NULL, d, NULL, 0, &back, &m, &err);
    int64_t a[10], b[10];
    float sa[10], sb[10];
    int rc3 = rc2 ? rc2 : lr_index_search(ix, 1, x + 5 * d, 10, a, sa, &err);
    int rc4 = rc3 ? rc3 : lr_index_search(back, 1, x + 5 * d, 10, b, sb, &err);
    int damaged = corrupt(dir, "vectors.npy", 300) == 0 ? lr_index_open(dir, NULL, d, NULL, 0, &bad, NULL, &e2) : 999;
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_OK(rc3, err);
    CHECK_OK(rc4, err);
    CHECK_EQ(m.rescore_depth, 50);
    CHECK_STR_EQ(m.vectors_dtype, f16 ? "f16" : "f32");
    CHECK_EQ(lr_index_rescore_depth(back), 50);
    /* float16 stays float16 in memory: half the bytes, read in place */
    CHECK_STR_EQ(lr_index_rescore_source(back), f16 ? "npy-f16 (mapped)" : "npy-f32 (mapped)");
    CHECK_STR_EQ(lr_index_rescore_source(ix), "memory");
    for (int i = 0; i < 10; i++) {
        if (!f16) CHECK_EQ(a[i], b[i]);
        CHECK_NEAR(sa[i], sb[i], f16 ? 2e-3 : 1e-6);
    }
    CHECK_ERR(damaged, e2, LR_EFORMAT, "vectors.npy: checksum");
    lr_index_free(ix);
    lr_index_free(back);
    free(x);
}

LR_TEST(rescoring_vectors_travel_with_the_version) { rescoring_round_trip(lr_t_, 0); }

/* A version opened with float16 vectors (kept mapped) published again carries the same vectors:
 * its answers are the first version's, bit for bit. */
LR_TEST(an_opened_float16_version_publishes_again_unchanged) {
    size_t n = 3000, d = 8;
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = sinf((float)i * 0.37f);
    lr_err err = {0};
    lr_index *ix, *one = NULL, *two = NULL;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF16,SQ8", &ix, &err), err);
    CHECK_OK(lr_index_set_rescore(ix, x, n, 40, &err), err);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_index_publish_opts o = {.keep_versions = 3, .vectors_f16 = 1};
    int rc = lr_index_publish(ix, dir, &o, NULL, &err);
    if (!rc) rc = lr_index_open(dir, NULL, d, NULL, 0, &one, NULL, &err);
    if (!rc) rc = lr_index_publish(one, dir, &o, NULL, &err);
    if (!rc) rc = lr_index_open(dir, NULL, d, NULL, 0, &two, NULL, &err);
    CHECK_OK(rc, err);
    for (size_t t = 0; !rc && t < 20; t++) {
        int64_t a[10], b[10];
        float sa[10], sb[10];
        CHECK_OK(lr_index_search(one, 1, x + t * 97 * d, 10, a, sa, &err), err);
        CHECK_OK(lr_index_search(two, 1, x + t * 97 * d, 10, b, sb, &err), err);
        CHECK(memcmp(a, b, sizeof a) == 0);
        CHECK(memcmp(sa, sb, sizeof sa) == 0);
    }
    if (two) CHECK_STR_EQ(lr_index_rescore_source(two), "npy-f16 (mapped)");
    lr_test_rmdir(dir);
    lr_index_free(ix);
    lr_index_free(one);
    lr_index_free(two);
    free(x);
}

LR_TEST(removed_ids_travel_with_the_version) {
    size_t n = 3000, d = 8;
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = sinf((float)i * 0.37f);
    lr_err err = {0};
    lr_index *ix, *back = NULL;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF16,PQ8x4fs", &ix, &err), err);
    int64_t gone[2] = {5, 1234};
    CHECK_OK(lr_index_remove(ix, 2, gone, NULL, &err), err);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_index_manifest m;
    int rc = lr_index_publish(ix, dir, NULL, NULL, &err);
    int rc2 = rc ? rc : lr_index_open(dir, NULL, d, NULL, 0, &back, &m, &err);
    int64_t got[5];
    float s[5];
    int rc3 = rc2 ? rc2 : lr_index_search(back, 1, x + 5 * d, 5, got, s, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_OK(rc3, err);
    CHECK_EQ(m.removed_count, 2);
    CHECK_EQ(lr_index_removed_count(back), 2);
    for (int i = 0; i < 5; i++) CHECK(got[i] != 5 && got[i] != 1234);
    lr_index_free(ix);
    lr_index_free(back);
    free(x);
}
LR_TEST(rescoring_vectors_in_float16_travel_with_the_version) { rescoring_round_trip(lr_t_, 1); }

/* A version published after removals from a list index (FAISS drops the vectors: count falls)
 * keeps one re-scoring row per id and opens, without the removed ids. */
LR_TEST(a_version_with_ids_removed_keeps_its_rescoring_vectors) {
    size_t n = 3000, d = 8;
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = sinf((float)i * 0.37f);
    lr_err err = {0};
    lr_index *ix, *back = NULL;
    CHECK_OK(lr_index_build(x, n, d, NULL, "IVF16,SQ8", &ix, &err), err);
    CHECK_OK(lr_index_set_rescore(ix, x, n, 20, &err), err);
    int64_t gone[2] = {5, 1234};
    size_t removed = 0;
    CHECK_OK(lr_index_remove(ix, 2, gone, &removed, &err), err);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_index_manifest m;
    int rc = lr_index_publish(ix, dir, NULL, NULL, &err);
    int rc2 = rc ? rc : lr_index_open(dir, NULL, d, NULL, 0, &back, &m, &err);
    int64_t got[5];
    float s[5];
    int rc3 = rc2 ? rc2 : lr_index_search(back, 1, x + 5 * d, 5, got, s, &err);
    lr_test_rmdir(dir);
    CHECK_EQ(removed, 2);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_OK(rc3, err);
    CHECK_EQ(m.count, n - 2);
    CHECK_EQ(m.rescore_depth, 20);
    CHECK_EQ(lr_index_rescore_depth(back), 20);
    for (int i = 0; i < 5; i++) CHECK(got[i] != 5 && got[i] != 1234);
    lr_index_free(ix);
    lr_index_free(back);
    free(x);
}

/* Operating points and what they were tuned on are kept in the manifest and set again on open. */
LR_TEST(operating_points_travel_with_the_version) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_index *ix = small_index(2000, 8, 0), *back = NULL;
    CHECK(ix);
    lr_err err = {0};
    lr_index_tune pts[2] = {{10, 2, 0, 0.951, 1}, {100, 4, 0, 0.93, 0}};
    CHECK_OK(lr_index_set_points(ix, pts, 2, &err), err);
    lr_index_publish_opts o = {.keep_versions = 3, .tuned_on = "2000 items, each left out"};
    lr_index_manifest m;
    int rc = lr_index_publish(ix, dir, &o, NULL, &err);
    int rc2 = rc ? rc : lr_index_open(dir, NULL, 0, NULL, 0, &back, &m, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_EQ(m.format, 3);
    CHECK_STR_EQ(m.tuned_on, "2000 items, each left out");
    CHECK_EQ(m.n_points, 2);
    CHECK_EQ(m.nprobe, 4);
    size_t n;
    const lr_index_tune *got = lr_index_points(back, &n);
    CHECK_EQ(n, 2);
    for (size_t i = 0; i < 2; i++) {
        CHECK_EQ(got[i].k, pts[i].k);
        CHECK_EQ(got[i].nprobe, pts[i].nprobe);
        CHECK_EQ(got[i].depth, pts[i].depth);
        CHECK_NEAR(got[i].recall, pts[i].recall, 1e-12);
        CHECK_EQ(got[i].reached, pts[i].reached);
    }
    CHECK_EQ(lr_index_nprobe(back), 4);
    lr_index_free(ix);
    lr_index_free(back);
}

/* A version published before operating points (manifest format 1) still opens: one nprobe. */
LR_TEST(format_1_manifests_still_open) {
    char *dir = lr_test_tmpdir(), path[4200];
    CHECK(dir);
    lr_index *ix = small_index(2000, 8, 0), *back = NULL;
    lr_err err = {0};
    lr_index_manifest m;
    int rc = lr_index_publish(ix, dir, NULL, NULL, &err);
    snprintf(path, sizeof path, "%s/current/manifest.json", dir);
    json_t *o = rc ? NULL : json_load_file(path, 0, NULL);
    /* as format 1 wrote it: no points, the checksums as fields of their own ("" for none), no
     * checksum of its own */
    int bad = !o || json_object_del(o, "operating_points") || json_object_del(o, "manifest_crc32") || json_object_del(o, "tuned_on") ||
              json_object_del(o, "metadata") || json_object_set_new(o, "model_checksum", json_string("m-old")) ||
              json_object_set_new(o, "content_checksum", json_string("")) ||
              json_object_set_new(o, "format_version", json_integer(1)) || json_object_set_new(o, "nprobe", json_integer(3)) ||
              json_dump_file(o, path, JSON_INDENT(2)) != 0;
    json_decref(o);
    int rc2 = rc || bad ? 1 : lr_index_open(dir, NULL, 0, NULL, 0, &back, &m, &err);
    json_t *v2 = json_load_file(path, 0, NULL); /* format 9 is refused by name */
    json_object_set_new(v2, "format_version", json_integer(9));
    json_dump_file(v2, path, 0);
    json_decref(v2);
    lr_index *none = NULL;
    int rc3 = lr_index_open(dir, NULL, 0, NULL, 0, &none, NULL, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK(!bad);
    CHECK_OK(rc2, err);
    CHECK_EQ(m.format, 1);
    CHECK_EQ(m.n_points, 0);
    CHECK_STR_EQ(lr_index_manifest_meta(&m, "model"), "m-old");
    CHECK(lr_index_manifest_meta(&m, "content") == NULL);
    CHECK_EQ(lr_index_nprobe(back), 3);
    CHECK_ERR(rc3, err, LR_EFORMAT, "manifest format 9, this learnrec reads 1 to 3");
    lr_index_free(ix);
    lr_index_free(back);
}

/* Found with the manifest harness (the input is in tests/fuzz/regress/manifest): the manifest's
 * rescore_depth reached the index unchecked, and the first search asked for that many candidates
 * (800 GB for 10^11). */
LR_TEST(manifest_rescore_depth_past_the_limit_is_refused) {
    size_t n = 2000, d = 8;
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = sinf((float)i * 0.37f);
    char *dir = lr_test_tmpdir(), path[4200];
    CHECK(dir);
    lr_index *ix = small_index(n, d, 0), *back = NULL;
    CHECK(ix);
    lr_err err = {0};
    int rc = lr_index_set_rescore(ix, x, n, 50, &err);
    if (!rc) rc = lr_index_publish(ix, dir, NULL, NULL, &err);
    snprintf(path, sizeof path, "%s/current/manifest.json", dir);
    json_t *o = rc ? NULL : json_load_file(path, 0, NULL);
    /* the damage a checksum would not catch: a manifest sealed again after the edit */
    int bad = !o || json_object_set_new(o, "rescore_depth", json_integer(100000000000LL)) ||
              json_object_del(o, "manifest_crc32");
    char *body = bad ? NULL : json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    bad = bad || !body || lr_index_manifest_write_sealed(path, body, &err) != LR_OK;
    free(body);
    json_decref(o);
    int rc2 = rc || bad ? 1 : lr_index_open(dir, NULL, 0, NULL, 0, &back, NULL, &err);
    lr_test_rmdir(dir);
    free(x);
    lr_index_free(ix);
    CHECK_OK(rc, err);
    CHECK(!bad);
    CHECK(!back);
    CHECK_ERR(rc2, err, LR_EFORMAT, "manifest.json: rescore_depth 100000000000 is above 100000");
}

/* A directory with no index: the path and the reason, no parser position. */
LR_TEST(missing_index_names_the_path) {
    lr_err err = {0};
    lr_index *ix;
    CHECK_ERR(lr_index_open("/nonexistent/ix", NULL, 0, NULL, 0, &ix, NULL, &err), err, LR_ENOTFOUND,
              "/nonexistent/ix/current/manifest.json: no index there (No such file or directory)");
    CHECK(!strstr(err.msg, "line"));
}

/* A rollback: an older version becomes current again, verified first; the list shows it. */
LR_TEST(use_makes_an_older_version_current_again) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0};
    lr_index *a = small_index(1000, 8, 0), *b = small_index(1500, 8, 1), *got = NULL;
    int rc = lr_index_publish(a, dir, NULL, NULL, &err);
    if (!rc) rc = lr_index_publish(b, dir, NULL, NULL, &err);
    lr_index_manifest m, m2;
    int rc2 = rc ? rc : lr_index_use(dir, "v000001", &m, &err);
    int rc3 = rc2 ? rc2 : lr_index_open(dir, NULL, 8, NULL, 0, &got, &m2, &err);
    lr_index_version_list l = {0};
    int rc4 = rc3 ? rc3 : lr_index_versions(dir, &l, &err);
    lr_err e1 = {0}, e2 = {0}, e3 = {0};
    int bad_name = lr_index_use(dir, "../v000001", NULL, &e1);
    int missing = lr_index_use(dir, "v000009", NULL, &e2);
    int bad_read = lr_index_read_manifest(dir, "v1/../..", &m, &e3);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_OK(rc3, err);
    CHECK_OK(rc4, err);
    CHECK_STR_EQ(m.version, "v000001");
    CHECK_STR_EQ(m2.version, "v000001");
    CHECK_EQ(lr_index_count(got), 1000);
    CHECK_EQ(l.n, 2);
    CHECK_STR_EQ(l.names[0], "v000001");
    CHECK_STR_EQ(l.names[1], "v000002");
    CHECK_STR_EQ(l.current, "v000001");
    CHECK_EQ(bad_name, LR_EINVAL);
    CHECK(strstr(e1.msg, "not a version name"));
    CHECK_EQ(missing, LR_ENOTFOUND);
    CHECK_EQ(bad_read, LR_EINVAL);
    lr_index_versions_free(&l);
    lr_index_free(a);
    lr_index_free(b);
    lr_index_free(got);
}

/* A damaged version is refused as a rollback target, and `current` stays where it was. */
LR_TEST(use_refuses_a_damaged_version) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0};
    lr_index *a = small_index(1000, 8, 0), *b = small_index(1500, 8, 1);
    int rc = lr_index_publish(a, dir, NULL, NULL, &err);
    if (!rc) rc = lr_index_publish(b, dir, NULL, NULL, &err);
    char p[4200];
    snprintf(p, sizeof p, "%s/versions/v000001/index.faiss", dir);
    FILE *f = fopen(p, "rb+");
    if (f) fseek(f, 100, SEEK_SET), fputc(0x5a, f), fclose(f);
    lr_err e = {0};
    int used = lr_index_use(dir, "v000001", NULL, &e);
    lr_index_version_list l = {0};
    int rc2 = lr_index_versions(dir, &l, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK(f != NULL);
    CHECK_EQ(used, LR_EFORMAT);
    CHECK(strstr(e.msg, "index.faiss"));
    CHECK_STR_EQ(l.current, "v000002");
    lr_index_versions_free(&l);
    lr_index_free(a);
    lr_index_free(b);
}

/* One publisher at a time: a second one is told who holds the directory, not let in to clear
 * the first one's temporary version as debris. */
LR_TEST(a_second_publisher_is_refused_while_the_first_holds_the_lock) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0}, e = {0};
    lr_index *a = small_index(1000, 8, 0);
    int rc = lr_index_publish(a, dir, NULL, NULL, &err);
    int fd = -1;
    int rc2 = rc ? rc : lr_index_publish_lock(dir, &fd, &err);
    int second = lr_index_publish(a, dir, NULL, NULL, &e);
    int used = lr_index_use(dir, "v000001", NULL, &e);
    lr_index_publish_unlock(fd);
    lr_err e3 = {0};
    int after = lr_index_publish(a, dir, NULL, NULL, &e3);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_EQ(second, LR_EBUSY);
    CHECK_EQ(used, LR_EBUSY);
    CHECK(strstr(e.msg, ".publish.lock"));
    CHECK_OK(after, e3);
    lr_index_free(a);
}

/* ---- faults: a full disk during publish, a version damaged after it ------------------------- */

/* A version that holds every file a version can: a fast-scan index (index.faiss), re-scoring
 * vectors (vectors.npy), ids marked removed (removed.txt) and the manifest. n * d floats in *x. */
static lr_index *full_index(size_t n, size_t d, float **x) {
    *x = malloc(n * d * sizeof **x);
    for (size_t i = 0; i < n * d; i++) (*x)[i] = sinf((float)i * 0.37f);
    lr_index *ix = NULL;
    lr_err err;
    int64_t gone[3] = {5, 77, 1234};
    if (lr_index_build(*x, n, d, NULL, "IVF16,PQ4x4fs", &ix, &err) || lr_index_set_rescore(ix, *x, n, 40, &err) ||
        lr_index_remove(ix, 3, gone, NULL, &err)) {
        lr_index_free(ix);
        return NULL;
    }
    return ix;
}

/* Entries of `path` whose name starts with `prefix`. */
static int count_entries(const char *path, const char *prefix) {
    DIR *d = opendir(path);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d) closedir(d);
    return n;
}

static long file_size(const char *dir, const char *rel) {
    char p[4200];
    struct stat st;
    lr_test_path(p, sizeof p, dir, rel);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

/* Publishes ix under a file size limit (RLIMIT_FSIZE with SIGXFSZ ignored: writes past it fail
 * with EFBIG, as on a full disk) swept across every file of the version: each failure names a
 * file and its cause, leaves no temporary and no new version, and the previous version stays
 * current and opens; the first limit past every file publishes a whole version. */
static void publish_under_limits(lr_test_ctx *lr_t_, const lr_index *ix, size_t d) {
    char *dir = lr_test_tmpdir(), versions[4200];
    CHECK(dir);
    lr_test_path(versions, sizeof versions, dir, "versions");
    lr_err err = {0};
    lr_index_publish_opts o = {.keep_versions = 3};
    int rc = lr_index_publish(ix, dir, &o, NULL, &err);
    long biggest = 0;
    const char *files[4] = {"index.faiss", "vectors.npy", "removed.txt", "manifest.json"};
    for (int i = 0; i < 4; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "current/%s", files[i]);
        long s = file_size(dir, rel);
        if (s > biggest) biggest = s;
    }
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    int failures = 0, bad = 0, published = 0;
    char first_bad[1200] = "";
    lr_index_manifest m;
    lr_index *got = NULL;
    for (long limit = 0; !rc && limit <= biggest + 512 && !bad && !published; limit += 256) {
        struct rlimit r = {(rlim_t)limit, old.rlim_max};
        lr_err e = {0};
        setrlimit(RLIMIT_FSIZE, &r);
        int prc = lr_index_publish(ix, dir, &o, NULL, &e);
        setrlimit(RLIMIT_FSIZE, &old);
        int orc = lr_index_open(dir, NULL, d, NULL, 0, &got, &m, &err);
        int debris = count_entries(versions, ".tmp-") + count_entries(dir, ".current.tmp");
        if (prc == LR_OK) { /* the limit is past every file: the new version is whole */
            published = 1;
            bad = orc || strcmp(m.version, "v000002") != 0 || debris || limit < biggest;
        } else {
            failures++;
            bad = prc != LR_EIO || !strstr(e.msg, dir) || !strstr(e.msg, "File too large");
            bad |= orc || strcmp(m.version, "v000001") != 0 || debris || file_size(dir, "versions/v000002") >= 0;
        }
        if (bad)
            snprintf(first_bad, sizeof first_bad, "limit %ld of %ld: publish %d (%s), open %d (%s), current %s, "
                     "debris %d", limit, biggest, prc, e.msg, orc, orc ? err.msg : "", orc ? "-" : m.version, debris);
        lr_index_free(got);
        got = NULL;
    }
    signal(SIGXFSZ, was);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    if (bad) LR_FAIL_("%.400s", first_bad);
    CHECK(published);
    CHECK(failures >= (int)(biggest / 256)); /* every limit below the biggest file failed */
}

LR_TEST(publishing_onto_a_full_disk_fails_cleanly) {
    float *x;
    lr_index *full = full_index(3000, 8, &x), *plain = small_index(2000, 8, 0);
    CHECK(full && plain);
    publish_under_limits(lr_t_, full, 8); /* vectors.npy the biggest file */
    if (!lr_t_->failed) publish_under_limits(lr_t_, plain, 8); /* index.faiss the biggest, and the only data file */
    lr_index_free(full);
    lr_index_free(plain);
    free(x);
}

/* Rewrites dir/rel as buf[0..n). */
static int put_file(const char *dir, const char *rel, const unsigned char *buf, size_t n) {
    return lr_test_put_bytes(dir, rel, buf, n, 0);
}

/* Opens dir's current version, v000001, after one file was damaged: refused as damaged
 * (LR_EFORMAT), the file named by its version's name. A description of a failure into why. */
static int refused(const char *dir, const char *file, const char *how, long at, char *why, size_t cap) {
    lr_index *ix = NULL;
    lr_err err = {0};
    char named[64];
    snprintf(named, sizeof named, "/versions/v000001/%s", file);
    int rc = lr_index_open(dir, NULL, 0, NULL, 0, &ix, NULL, &err);
    lr_index_free(ix);
    if (rc == LR_EFORMAT && strstr(err.msg, named)) return 1;
    snprintf(why, cap, "%s %s at %ld: open returned %d: %s", file, how, at, rc, err.msg);
    return 0;
}

/* Damage in any file of a version (index.faiss, vectors.npy, removed.txt, manifest.json),
 * truncated or with a byte flipped, is refused with the file named. The manifest and removed.txt
 * are small: every byte of them is flipped (in one bit and in all), every length tried; the big
 * files at their first and last bytes and evenly spread places between. */
LR_TEST(a_damaged_file_in_a_version_is_refused_by_name) {
    float *x;
    size_t n = 3000, d = 8;
    lr_index *ix = full_index(n, d, &x);
    CHECK(ix);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0};
    int rc = lr_index_publish(ix, dir, NULL, NULL, &err);
    const char *files[4] = {"index.faiss", "vectors.npy", "removed.txt", "manifest.json"};
    int ok = !rc;
    long tried = 0, small = 0; /* damaged files opened; bytes of the files damaged at every byte */
    char why[600] = "";
    for (int f = 0; f < 4 && ok; f++) {
        char rel[64];
        snprintf(rel, sizeof rel, "current/%s", files[f]);
        long size = file_size(dir, rel);
        unsigned char *orig = size > 0 ? malloc((size_t)size) : NULL, *buf = size > 0 ? malloc((size_t)size) : NULL;
        ok = orig && buf && lr_test_read_bytes(dir, rel, orig, (size_t)size) == size;
        int every = size < 4096;
        if (every) small += size;
        long step = every ? 1 : size / 61;
        for (long at = 0; ok && at < size; at += (!every && (at < 8 || at >= size - 8)) ? 1 : step) {
            for (int flip = 0; flip < 2 && ok; flip++) { /* one bit, then the whole byte */
                memcpy(buf, orig, (size_t)size);
                buf[at] ^= flip ? 0xff : 0x01;
                ok = put_file(dir, rel, buf, (size_t)size) == 0 && refused(dir, files[f], "flipped", at, why, sizeof why);
                tried++;
            }
            ok = ok && put_file(dir, rel, orig, (size_t)at) == 0 && refused(dir, files[f], "truncated", at, why, sizeof why);
            tried++;
        }
        if (ok && put_file(dir, rel, orig, (size_t)size) != 0) ok = 0; /* whole again */
        free(orig);
        free(buf);
    }
    lr_index *back = NULL;
    int rc2 = ok ? lr_index_open(dir, NULL, d, NULL, 0, &back, NULL, &err) : LR_OK; /* restored: opens */
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    if (!ok) LR_FAIL_("%.400s", why[0] ? why : "could not read or rewrite a file");
    CHECK_OK(rc2, err);
    CHECK(small > 300 && tried >= 3 * small); /* the manifest and removed.txt at every byte */
    lr_index_free(back);
    lr_index_free(ix);
    free(x);
}

LR_TEST_MAIN(LR_CASE(operating_points_travel_with_the_version), LR_CASE(format_1_manifests_still_open),
             LR_CASE(missing_index_names_the_path), LR_CASE(manifest_rescore_depth_past_the_limit_is_refused),
             LR_CASE(rescoring_vectors_travel_with_the_version), LR_CASE(an_opened_float16_version_publishes_again_unchanged),
             LR_CASE(removed_ids_travel_with_the_version),
             LR_CASE(a_version_with_ids_removed_keeps_its_rescoring_vectors),
             LR_CASE(rescoring_vectors_in_float16_travel_with_the_version),
             LR_CASE(published_index_opens_with_its_manifest),
             LR_CASE(newer_versions_become_current_and_old_ones_are_pruned),
             LR_CASE(a_crash_at_any_step_leaves_the_previous_version_loadable),
             LR_CASE(damaged_or_mismatched_indexes_are_refused),
             LR_CASE(use_makes_an_older_version_current_again), LR_CASE(use_refuses_a_damaged_version),
             LR_CASE(a_second_publisher_is_refused_while_the_first_holds_the_lock),
             LR_CASE(publishing_onto_a_full_disk_fails_cleanly),
             LR_CASE(a_damaged_file_in_a_version_is_refused_by_name))
