/* Allocation-failure loops over the rpc/ constructors (tests/lr_oom.h): lr_rpc_engine_open on a
 * small world with every optional part (model, content, index version, dataset, text encoder),
 * and lr_rpc_server_new over it (sockets, HTTP, worker threads). Only learnrec's own allocations
 * fail: libevent, msgpack-c, jansson, FAISS's operator new and the C library's thread stacks
 * are not injected (lr_oom.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lr_data.h"
#include "lr_index.h"
#include "lr_oom.h"
#include "lr_rpc.h"
#include "lr_test.h"
#include "lr_towers.h"

#define N_ITEMS 40
#define DC 16
#define D 8

typedef struct {
    char *dir;
    char model[4200], content[4200], index[4200], data[4200], encoder[4200];
} world;

static const char *const k_words[] = {"red", "blue", "green", "drill", "saw", "glove", "beaker", "lamp"};

/* A ratings dataset of N_ITEMS items with text, and everything the engine opens built from it. */
static int world_up(world *w, lr_err *err) {
    memset(w, 0, sizeof *w);
    if (!(w->dir = lr_test_tmpdir())) return lr_err_set(err, LR_EIO, "no temporary directory");
    lr_test_path(w->model, sizeof w->model, w->dir, "m.safetensors");
    lr_test_path(w->content, sizeof w->content, w->dir, "c.npy");
    lr_test_path(w->index, sizeof w->index, w->dir, "ix");
    lr_test_path(w->data, sizeof w->data, w->dir, "R");
    lr_test_path(w->encoder, sizeof w->encoder, w->dir, "enc.bin");
    char items[N_ITEMS * 48] = "item_id:token\ttitle:token_seq\n", inter[N_ITEMS * 3 * 32] =
        "user_id:token\titem_id:token\ttimestamp:float\n";
    const char *texts[N_ITEMS];
    char text_buf[N_ITEMS][40];
    for (size_t i = 0; i < N_ITEMS; i++) {
        snprintf(text_buf[i], sizeof text_buf[i], "%s %s %zu", k_words[i % 8], k_words[(i / 8) % 8], i);
        texts[i] = text_buf[i];
        size_t k = strlen(items);
        snprintf(items + k, sizeof items - k, "i%zu\t%s\n", i, text_buf[i]);
    }
    for (size_t u = 0; u < 10; u++)
        for (size_t t = 0; t < 6; t++) {
            size_t k = strlen(inter);
            snprintf(inter + k, sizeof inter - k, "u%zu\ti%zu\t%zu\n", u, (u * 7 + t * 3) % N_ITEMS, t);
        }
    if (lr_test_write_file(w->dir, "R.item", items) || lr_test_write_file(w->dir, "R.inter", inter))
        return lr_err_set(err, LR_EIO, "cannot write the dataset");

    lr_text_encoder_config ec = lr_towers_text_encoder_config_default();
    ec.dim = DC;
    ec.min_df = 1;
    lr_text_encoder *enc = NULL;
    lr_pal *pal = NULL;
    lr_content *ct = NULL;
    lr_index *ix = NULL;
    float c[N_ITEMS * DC], v[N_ITEMS * D];
    lr_pal_config pc = lr_towers_pal_config_default();
    pc.content_dim = DC, pc.n_items = N_ITEMS, pc.hidden = 16, pc.heads = 2, pc.out_dim = D;
    pc.max_len = 10, pc.dropout = 0;
    char mcrc[9], ccrc[9];
    int rc = lr_towers_text_encoder_fit(&ec, texts, N_ITEMS, &enc, err);
    if (!rc) rc = lr_towers_text_encoder_save(enc, w->encoder, err);
    if (!rc) rc = lr_towers_text_encoder_encode(enc, texts, N_ITEMS, c, err);
    if (!rc) rc = lr_data_npy_write(w->content, c, N_ITEMS, DC, LR_NPY_F32, err);
    if (!rc) rc = lr_towers_pal_new(&pc, 3, &pal, err);
    if (!rc) rc = lr_towers_pal_save(pal, w->model, NULL, NULL, 0, err);
    if (!rc) rc = lr_data_matrix_open(w->content, N_ITEMS, &ct, err);
    if (!rc) rc = lr_towers_item_embed(pal, ct, NULL, N_ITEMS, v, err);
    if (!rc) rc = lr_index_file_checksum(w->model, mcrc, err);
    if (!rc) rc = lr_index_file_checksum(w->content, ccrc, err);
    if (!rc) rc = lr_index_build(v, N_ITEMS, D, NULL, NULL, &ix, err);
    lr_index_kv meta[2] = {{"model", mcrc}, {"content", ccrc}};
    lr_index_publish_opts po = {.meta = meta, .n_meta = 2};
    if (!rc) rc = lr_index_publish(ix, w->index, &po, NULL, err);
    lr_index_free(ix);
    lr_data_matrix_free(ct);
    lr_towers_pal_free(pal);
    lr_towers_text_encoder_free(enc);
    return rc;
}

/* ---- adapters ---------------------------------------------------------------------------- */

static void engine_free(void *p) { lr_rpc_engine_free(p); }
static void server_free(void *p) { lr_rpc_server_free(p); }

static int engine_open(void *cfg, void **out, lr_err *err) {
    lr_rpc_engine *e = *out;
    int rc = lr_rpc_engine_open(cfg, &e, err);
    *out = e;
    return rc;
}

typedef struct {
    lr_rpc_server_config cfg;
    lr_rpc_engine *engine;
} server_ctx;

static int server_new(void *ctx, void **out, lr_err *err) {
    server_ctx *c = ctx;
    lr_rpc_server *s = *out;
    int rc = lr_rpc_server_new(&c->cfg, c->engine, &s, err);
    *out = s;
    return rc;
}

/* ---- cases ------------------------------------------------------------------------------- */

LR_TEST(engine_open_fails_cleanly_at_every_allocation) {
    world w;
    lr_err err = {0, ""};
    int rc = world_up(&w, &err);
    if (rc) lr_test_rmdir(w.dir);
    CHECK_OK(rc, err);
    lr_rpc_engine_config bare = {w.index, w.model, w.content, NULL, NULL, NULL};
    lr_rpc_engine_config full = {w.index, w.model, w.content, w.data, w.encoder, NULL};
    lr_oom_steps s = {0, ""};
    lr_oom_step(&s, "lr_rpc_engine_open (model, content, index)", engine_open, &bare, engine_free);
    lr_oom_step(&s, "lr_rpc_engine_open (and a dataset, an encoder)", engine_open, &full,
                engine_free);
    lr_test_rmdir(w.dir);
    CHECK_OOM_STEPS(s);
}

LR_TEST(server_new_fails_cleanly_at_every_allocation) {
    world w;
    lr_err err = {0, ""};
    int rc = world_up(&w, &err);
    lr_rpc_engine_config ec = {w.index, w.model, w.content, NULL, NULL, NULL};
    server_ctx sc = {lr_rpc_server_config_default(), NULL};
    if (!rc) rc = lr_rpc_engine_open(&ec, &sc.engine, &err);
    if (rc) lr_test_rmdir(w.dir);
    CHECK_OK(rc, err);
    sc.cfg.listen = "127.0.0.1:0";
    sc.cfg.http = "127.0.0.1:0";
    sc.cfg.admin_token = "secret";
    sc.cfg.threads = 2;
    lr_oom_steps s = {0, ""};
    lr_oom_step(&s, "lr_rpc_server_new (HTTP, two workers)", server_new, &sc, server_free);
    lr_rpc_engine_free(sc.engine);
    lr_test_rmdir(w.dir);
    CHECK_OOM_STEPS(s);
}

LR_TEST_MAIN(LR_CASE(engine_open_fails_cleanly_at_every_allocation),
             LR_CASE(server_new_fails_cleanly_at_every_allocation))
