/* Allocation-failure loops over the towers/ constructors (tests/lr_oom.h): the text encoder's
 * fit and load, the PAL model's new and load, the workspace; the savers and the embedding calls
 * run the same loop, and a workspace that saw a failure must still compute the right answer.
 * OpenBLAS, LAPACK and OpenMP allocate in shared libraries: not injected (lr_oom.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lr_data.h"
#include "lr_oom.h"
#include "lr_test.h"
#include "lr_towers.h"
#include "pal_internal.h" /* the model's item cache, dropped between rounds */

static const char *k_texts[] = {
    "Title: Nitrile Gloves, Large. Brand: SafeHands. Category: Safety > Gloves",
    "Title: Nitrile Gloves, Small. Brand: SafeHands. Category: Safety > Gloves",
    "Title: Latex Gloves. Brand: Gripper. Category: Safety > Gloves",
    "Title: Digital Caliper 6-Inch. Brand: Mitutoyo. Category: Test & Measurement > Calipers",
    "Title: Glass Beaker 250 ml. Brand: Pyrex. Category: Lab Supplies > Beakers",
    NULL,
};
#define N_TEXTS (sizeof k_texts / sizeof k_texts[0])

#define N_ITEMS 12
#define DC 8

/* A writer or an embedding call has no object to hand out: a stand-in marks success. */
static char done_;
static void nothing_free(void *p) { (void)p; }
static void encoder_free(void *p) { lr_towers_text_encoder_free(p); }
static void pal_free(void *p) { lr_towers_pal_free(p); }
static void ws_free(void *p) { lr_towers_ws_free(p); }
static void content_free(void *p) { lr_data_matrix_free(p); }

static lr_text_encoder_config encoder_config(lr_text_projection proj) {
    lr_text_encoder_config c = lr_towers_text_encoder_config_default();
    c.dim = 16;
    c.min_df = 1;
    c.projection = proj;
    c.svd_input_dim = 32;
    return c;
}

static lr_pal_config pal_config(lr_pal_mode mode) {
    lr_pal_config c = lr_towers_pal_config_default();
    c.content_dim = DC;
    c.n_items = N_ITEMS;
    c.hidden = 16;
    c.heads = 2;
    c.layers = 2;
    c.out_dim = 8;
    c.max_len = 6;
    c.mode = mode;
    return c;
}

static float *content_values(void) {
    static float c[N_ITEMS * DC];
    uint64_t s = 5;
    for (size_t i = 0; i < N_ITEMS * DC; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        c[i] = (float)((s >> 33) % 2001) / 1000.0f - 1.0f;
    }
    return c;
}

/* ---- adapters ---------------------------------------------------------------------------- */

static int encoder_fit(void *cfg, void **out, lr_err *err) {
    lr_text_encoder *e = *out;
    int rc = lr_towers_text_encoder_fit(cfg, k_texts, N_TEXTS, &e, err);
    *out = e;
    return rc;
}

static int encoder_load(void *path, void **out, lr_err *err) {
    lr_text_encoder *e = *out;
    int rc = lr_towers_text_encoder_load(path, &e, err);
    *out = e;
    return rc;
}

typedef struct {
    const lr_text_encoder *e;
    const char *path;
} encoder_ctx;

static int encoder_save(void *ctx, void **out, lr_err *err) {
    const encoder_ctx *c = ctx;
    int rc = lr_towers_text_encoder_save(c->e, c->path, err);
    *out = rc ? NULL : &done_;
    return rc;
}

static int encoder_encode(void *ctx, void **out, lr_err *err) {
    const encoder_ctx *c = ctx;
    float v[N_TEXTS * 16];
    int rc = lr_towers_text_encoder_encode(c->e, k_texts, N_TEXTS, v, err);
    *out = rc ? NULL : &done_;
    return rc;
}

static int pal_new(void *cfg, void **out, lr_err *err) {
    lr_pal *m = *out;
    int rc = lr_towers_pal_new(cfg, 7, &m, err);
    *out = m;
    return rc;
}

static int pal_load(void *path, void **out, lr_err *err) {
    lr_pal *m = *out;
    int rc = lr_towers_pal_load(path, &m, err);
    *out = m;
    return rc;
}

static int ws_new(void *ctx, void **out, lr_err *err) {
    (void)ctx;
    lr_towers_ws *ws = *out;
    int rc = lr_towers_ws_new(&ws, err);
    *out = ws;
    return rc;
}

static int content_from_floats(void *ctx, void **out, lr_err *err) {
    (void)ctx;
    lr_content *c = *out;
    int rc = lr_data_matrix_from_floats(content_values(), N_ITEMS, DC, &c, err);
    *out = c;
    return rc;
}

typedef struct {
    lr_pal *m;
    const lr_content *content;
    const char *path;
} pal_ctx;

static int pal_save(void *ctx, void **out, lr_err *err) {
    const pal_ctx *c = ctx;
    static const char *const keys[] = {"content"}, *const vals[] = {"1a2b3c4d"};
    int rc = lr_towers_pal_save(c->m, c->path, keys, vals, 1, err);
    *out = rc ? NULL : &done_;
    return rc;
}

static const int32_t k_hist[] = {1, 4, 2, 9, 3, 0, 7, 11, 5, 6, 8, 10, 2, 2};
static const size_t k_off[] = {0, 3, 3, 10, 14}; /* four users, one without history */
#define N_USERS 4

static int user_embed(void *ctx, void **out, lr_err *err) {
    const pal_ctx *c = ctx;
    float v[N_USERS * 8];
    int rc = lr_towers_user_embed(c->m, c->content, k_hist, k_off, N_USERS, v, err);
    *out = rc ? NULL : &done_;
    return rc;
}

static int item_embed(void *ctx, void **out, lr_err *err) {
    const pal_ctx *c = ctx;
    float v[N_ITEMS * 8];
    int rc = lr_towers_item_embed(c->m, c->content, NULL, N_ITEMS, v, err);
    *out = rc ? NULL : &done_;
    return rc;
}

/* The cache lives in the model: "freeing" the result drops it again. */
static int cache_content(void *ctx, void **out, lr_err *err) {
    const pal_ctx *c = ctx;
    int rc = lr_towers_pal_cache_content(c->m, c->content, err);
    *out = rc ? NULL : c->m;
    return rc;
}

static void drop_cache(void *p) {
    lr_pal *m = p;
    free(m->cache);
    m->cache = NULL;
    m->cache_rows = 0;
    m->cache_src = NULL;
}

/* ---- the text encoder -------------------------------------------------------------------- */

LR_TEST(text_encoder_fit_fails_cleanly_at_every_allocation) {
    lr_text_encoder_config r = encoder_config(LR_PROJ_RANDOM), s = encoder_config(LR_PROJ_SVD);
    CHECK_OOM("lr_towers_text_encoder_fit (random projection)", encoder_fit, &r, encoder_free);
    CHECK_OOM("lr_towers_text_encoder_fit (learned projection)", encoder_fit, &s, encoder_free);
}

static void encoder_round(lr_test_ctx *lr_t_, lr_text_projection proj, const char *save_what,
                          const char *load_what, const char *encode_what) {
    lr_text_encoder_config c = encoder_config(proj);
    lr_text_encoder *e = NULL;
    lr_err err = {0, ""};
    CHECK_OK(lr_towers_text_encoder_fit(&c, k_texts, N_TEXTS, &e, &err), err);
    char *dir = lr_test_tmpdir();
    char path[4200];
    if (dir) lr_test_path(path, sizeof path, dir, "enc.bin");
    encoder_ctx ctx = {e, path};
    lr_oom_steps s = {!dir, "no temporary directory"};
    lr_oom_step(&s, save_what, encoder_save, &ctx, nothing_free);
    lr_oom_step(&s, load_what, encoder_load, path, encoder_free);
    lr_oom_step(&s, encode_what, encoder_encode, &ctx, nothing_free);
    lr_towers_text_encoder_free(e);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

LR_TEST(text_encoder_save_load_encode_fail_cleanly_at_every_allocation) {
    encoder_round(lr_t_, LR_PROJ_RANDOM, "lr_towers_text_encoder_save (random projection)",
                  "lr_towers_text_encoder_load (random projection)",
                  "lr_towers_text_encoder_encode (random projection)");
    if (lr_t_->failed) return;
    encoder_round(lr_t_, LR_PROJ_SVD, "lr_towers_text_encoder_save (learned projection)",
                  "lr_towers_text_encoder_load (learned projection)",
                  "lr_towers_text_encoder_encode (learned projection)");
}

/* ---- PAL ----------------------------------------------------------------------------------- */

LR_TEST(pal_new_fails_cleanly_at_every_allocation) {
    lr_pal_config c = pal_config(LR_PAL_CONTENT), i = pal_config(LR_PAL_ID);
    lr_pal_config b = pal_config(LR_PAL_BOTH);
    CHECK_OOM("lr_towers_pal_new (content)", pal_new, &c, pal_free);
    CHECK_OOM("lr_towers_pal_new (id)", pal_new, &i, pal_free);
    CHECK_OOM("lr_towers_pal_new (both)", pal_new, &b, pal_free);
}

LR_TEST(content_and_workspace_fail_cleanly_at_every_allocation) {
    CHECK_OOM("lr_data_matrix_from_floats", content_from_floats, NULL, content_free);
    CHECK_OOM("lr_towers_ws_new", ws_new, NULL, ws_free);
}

LR_TEST(pal_save_load_and_embed_fail_cleanly_at_every_allocation) {
    lr_pal_config cfg = pal_config(LR_PAL_BOTH);
    lr_pal *m = NULL;
    lr_content *ct = NULL;
    lr_err err = {0, ""};
    CHECK_OK(lr_towers_pal_new(&cfg, 3, &m, &err), err);
    int rc = lr_data_matrix_from_floats(content_values(), N_ITEMS, DC, &ct, &err);
    char *dir = rc ? NULL : lr_test_tmpdir();
    char path[4200];
    if (dir) lr_test_path(path, sizeof path, dir, "m.safetensors");
    pal_ctx ctx = {m, ct, path};
    lr_oom_steps s = {!dir, ""};
    snprintf(s.why, sizeof s.why, "setup: %s", rc ? err.msg : "no temporary directory");
    lr_oom_step(&s, "lr_towers_pal_save", pal_save, &ctx, nothing_free);
    lr_oom_step(&s, "lr_towers_pal_load", pal_load, path, pal_free);
    lr_oom_step(&s, "lr_towers_user_embed", user_embed, &ctx, nothing_free);
    lr_oom_step(&s, "lr_towers_item_embed", item_embed, &ctx, nothing_free);
    lr_oom_step(&s, "lr_towers_pal_cache_content", cache_content, &ctx, drop_cache);
    lr_towers_pal_free(m);
    lr_data_matrix_free(ct);
    lr_test_rmdir(dir);
    CHECK_OOM_STEPS(s);
}

/* A workspace is kept across calls (one per server worker): after a call that ran out of memory
 * part way through growing it, the next call must compute the same vectors as a fresh one. */
LR_TEST(workspace_after_a_failed_call_still_embeds_right) {
    lr_pal_config cfg = pal_config(LR_PAL_CONTENT);
    lr_pal *m = NULL;
    lr_content *ct = NULL;
    lr_err err = {0, ""};
    CHECK_OK(lr_towers_pal_new(&cfg, 3, &m, &err), err);
    int rc = lr_data_matrix_from_floats(content_values(), N_ITEMS, DC, &ct, &err);
    float want[N_USERS * 8], got[N_USERS * 8];
    if (!rc) rc = lr_towers_user_embed(m, ct, k_hist, k_off, N_USERS, want, &err);
    size_t fails = 0, wrong = 0;
    for (size_t n = 1; !rc; n++) {
        lr_towers_ws *ws = NULL;
        if ((rc = lr_towers_ws_new(&ws, &err))) break;
        lr_oom_arm(n, LR_OOM_ONCE);
        int first = lr_towers_user_embed_ws(m, ws, ct, k_hist, k_off, N_USERS, got, &err);
        lr_oom_stats st = lr_oom_disarm();
        if (st.failed == 0) { /* fewer than n allocations: done */
            lr_towers_ws_free(ws);
            rc = first;
            break;
        }
        if (first) fails++;
        memset(got, 0, sizeof got);
        rc = lr_towers_user_embed_ws(m, ws, ct, k_hist, k_off, N_USERS, got, &err);
        if (!rc && memcmp(got, want, sizeof got) != 0) wrong++;
        lr_towers_ws_free(ws);
    }
    lr_towers_pal_free(m);
    lr_data_matrix_free(ct);
    CHECK_OK(rc, err);
    CHECK(fails > 0);
    CHECK_EQ(wrong, 0);
}

LR_TEST_MAIN(LR_CASE(text_encoder_fit_fails_cleanly_at_every_allocation),
             LR_CASE(text_encoder_save_load_encode_fail_cleanly_at_every_allocation),
             LR_CASE(pal_new_fails_cleanly_at_every_allocation),
             LR_CASE(content_and_workspace_fail_cleanly_at_every_allocation),
             LR_CASE(pal_save_load_and_embed_fail_cleanly_at_every_allocation),
             LR_CASE(workspace_after_a_failed_call_still_embeds_right))
