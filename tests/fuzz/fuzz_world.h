/* Shared by the server harnesses (fuzz_rpc.c, fuzz_http.c): a tiny serving world, built once per
 * process with the libraries' C APIs in a directory of its own under /dev/shm (removed at exit):
 * a synthetic catalogue of 1,000 items written as RecBole files (item text for `item`,
 * popularity for empty histories), a text encoder fitted on its titles (add_items with text),
 * the content matrix it makes, random content-mode towers, and three published index versions
 * so that reload has somewhere to go:
 *   v000001 Flat (nothing to probe), v000002 IVF16,PQ4x4fs with re-scoring (fast-scan: nprobe
 *   is set under the write lock, removals are marks), v000003 IVF8,Flat (current, served).
 * Small on purpose: a request costs microseconds, so the fuzzer runs thousands a second. */
#ifndef LR_FUZZ_WORLD_H
#define LR_FUZZ_WORLD_H

#include <cblas.h>
#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lr_data.h"
#include "lr_index.h"
#include "lr_rpc.h"
#include "lr_towers.h"
#include "server_internal.h"

#define FW_ITEMS 1000
#define FW_DC 16 /* content width */
#define FW_D 8   /* user and item vectors */
#define FW_TOKEN "fuzz"
_Static_assert(FW_ITEMS == FUZZ_WORLD_ITEMS, "fuzz_check.h reads the world's attributes over FW_ITEMS items");

typedef struct {
    char dir[64], data[96], model[96], content[96], encoder[96], index[96];
    lr_rpc_engine *engine;
    lr_towers_ws *ws;
    lr_rpc_server_config cfg;
    lr_rpc_metrics metrics;
    lr_rpc_ctx ctx;
    lr_rpc_engine_stats pristine; /* the served version as opened, for resets */
} fuzz_world;

static fuzz_world fw_;

#if defined(__clang__) && __has_include(<omp-tools.h>)
#include <omp-tools.h>
/* In the fuzz build FAISS's parallel regions (compiled by GCC) run on clang's OpenMP runtime,
 * libomp, which keeps 176 bytes for every nested serialized region (two per search, since a
 * search is one query) unless an OMPT tool is active: over millions of executions that is
 * gigabytes, and libFuzzer's per-input leak check, which wants as many frees as mallocs, would
 * run a full LeakSanitizer scan after nearly every input. With this tool, which observes
 * nothing, libomp frees them. GCC builds use libgomp, which does not need it. */
static int fw_ompt_init_(ompt_function_lookup_t lookup, int device, ompt_data_t *data) {
    (void)lookup, (void)device, (void)data;
    return 1; /* active */
}
static void fw_ompt_fini_(ompt_data_t *data) { (void)data; }
ompt_start_tool_result_t *ompt_start_tool(unsigned int omp_version, const char *runtime_version);
ompt_start_tool_result_t *ompt_start_tool(unsigned int omp_version, const char *runtime_version) {
    static ompt_start_tool_result_t tool = {fw_ompt_init_, fw_ompt_fini_, {0}};
    (void)omp_version, (void)runtime_version;
    return &tool;
}
#endif

/* Removes path and, for a directory, what it holds (no link is followed). */
static void fw_remove_(const char *path) {
    struct stat st;
    DIR *d = lstat(path, &st) == 0 && S_ISDIR(st.st_mode) ? opendir(path) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[512];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        fw_remove_(p);
    }
    if (d) closedir(d);
    remove(path);
}

static void fw_down_(void) {
    lr_rpc_engine_free(fw_.engine);
    lr_towers_ws_free(fw_.ws);
    fw_.engine = NULL, fw_.ws = NULL;
    if (fw_.dir[0]) fw_remove_(fw_.dir);
}

/* Items' texts through a fitted encoder into the content matrix; the encoder saved. */
static int fw_content_(const lr_data *d, lr_err *err) {
    const char *texts[FW_ITEMS];
    for (size_t i = 0; i < FW_ITEMS; i++) texts[i] = lr_data_item_text(d, i);
    lr_text_encoder_config ec = lr_towers_text_encoder_config_default();
    ec.dim = FW_DC, ec.min_df = 1;
    lr_text_encoder *enc = NULL;
    float *c = malloc(FW_ITEMS * FW_DC * sizeof *c);
    int rc = c ? lr_towers_text_encoder_fit(&ec, texts, FW_ITEMS, &enc, err) : lr_err_set(err, LR_ENOMEM, "oom");
    if (!rc) rc = lr_towers_text_encoder_save(enc, fw_.encoder, err);
    if (!rc) rc = lr_towers_text_encoder_encode(enc, texts, FW_ITEMS, c, err);
    if (!rc) rc = lr_data_npy_write(fw_.content, c, FW_ITEMS, FW_DC, LR_NPY_F32, err);
    lr_towers_text_encoder_free(enc);
    free(c);
    return rc;
}

/* Attributes for filters and caps: item i has brand "b<i % 5>" (none when i % 9 == 8) and the
 * categories "c<i % 3>" and "d<i % 7>" (values a fuzzer finds in the seeds: "b1", "c2", ...). */
static int fw_attrs_(lr_index_attrs **out, lr_err *err) {
    static const char *const brands[] = {"b0", "b1", "b2", "b3", "b4"};
    static const char *const cats[] = {"c0", "c1", "c2", "d0", "d1", "d2", "d3", "d4", "d5", "d6"};
    size_t *boff = malloc((FW_ITEMS + 1) * sizeof *boff), *coff = malloc((FW_ITEMS + 1) * sizeof *coff);
    uint32_t *bids = malloc(FW_ITEMS * sizeof *bids), *cids = malloc(2 * FW_ITEMS * sizeof *cids);
    int rc = boff && coff && bids && cids ? lr_index_attrs_new(FW_ITEMS, out, err) : lr_err_set(err, LR_ENOMEM, "oom");
    for (size_t i = 0; !rc && i <= FW_ITEMS; i++) {
        if (i == 0) {
            boff[0] = coff[0] = 0;
            continue;
        }
        size_t it = i - 1;
        boff[i] = boff[it];
        if (it % 9 != 8) bids[boff[i]++] = (uint32_t)(it % 5);
        cids[2 * it] = (uint32_t)(it % 3), cids[2 * it + 1] = (uint32_t)(3 + it % 7), coff[i] = 2 * i;
    }
    if (!rc) rc = lr_index_attrs_add(*out, "brand", brands, 5, boff, bids, err);
    if (!rc) rc = lr_index_attrs_add(*out, "category", cats, 10, coff, cids, err);
    free(boff), free(coff), free(bids), free(cids);
    return rc;
}

/* One index version over the item vectors v, with the model's and content's checksums and the
 * items' attributes. */
static int fw_publish_(const float *v, const char *factory, size_t rescore, lr_err *err) {
    char mcrc[9], ccrc[9];
    lr_index *ix = NULL;
    lr_index_attrs *attrs = NULL;
    int rc = lr_index_file_checksum(fw_.model, mcrc, err);
    if (!rc) rc = lr_index_file_checksum(fw_.content, ccrc, err);
    if (!rc) rc = lr_index_build(v, FW_ITEMS, FW_D, NULL, factory, &ix, err);
    if (!rc) rc = fw_attrs_(&attrs, err);
    if (!rc) lr_index_set_attrs(ix, attrs);
    else lr_index_attrs_free(attrs);
    if (!rc && lr_index_nprobe(ix)) rc = lr_index_set_nprobe(ix, 2, err);
    if (!rc && rescore) rc = lr_index_set_rescore(ix, v, FW_ITEMS, rescore, err);
    lr_index_kv meta[2] = {{"model", mcrc}, {"content", ccrc}};
    lr_index_publish_opts po = {.meta = meta, .n_meta = 2};
    if (!rc) rc = lr_index_publish(ix, fw_.index, &po, NULL, err);
    lr_index_free(ix);
    return rc;
}

/* Towers over the content, their item vectors in three versions. */
static int fw_model_and_index_(lr_err *err) {
    lr_pal_config pc = lr_towers_pal_config_default();
    pc.content_dim = FW_DC, pc.n_items = FW_ITEMS, pc.hidden = 16, pc.heads = 2, pc.out_dim = FW_D;
    pc.max_len = 10, pc.dropout = 0;
    lr_pal *pal = NULL;
    lr_content *ct = NULL;
    float *v = malloc(FW_ITEMS * FW_D * sizeof *v);
    int rc = v ? lr_towers_pal_new(&pc, 3, &pal, err) : lr_err_set(err, LR_ENOMEM, "oom");
    if (!rc) rc = lr_towers_pal_save(pal, fw_.model, NULL, NULL, 0, err);
    if (!rc) rc = lr_data_matrix_open(fw_.content, FW_ITEMS, &ct, err);
    if (!rc) rc = lr_towers_item_embed(pal, ct, NULL, FW_ITEMS, v, err);
    if (!rc) rc = fw_publish_(v, "Flat", 0, err);
    if (!rc) rc = fw_publish_(v, "IVF16,PQ4x4fs", 20, err);
    if (!rc) rc = fw_publish_(v, "IVF8,Flat", 0, err);
    lr_data_matrix_free(ct);
    lr_towers_pal_free(pal);
    free(v);
    return rc;
}

static int fw_build_(lr_err *err) {
    struct stat st;
    snprintf(fw_.dir, sizeof fw_.dir, "%s/lr_fuzz_world_XXXXXX", stat("/dev/shm", &st) == 0 ? "/dev/shm" : "/tmp");
    if (!mkdtemp(fw_.dir)) return fw_.dir[0] = 0, lr_err_set(err, LR_EIO, "mkdtemp %s failed", fw_.dir);
    snprintf(fw_.data, sizeof fw_.data, "%s/data", fw_.dir);
    snprintf(fw_.model, sizeof fw_.model, "%s/model.safetensors", fw_.dir);
    snprintf(fw_.content, sizeof fw_.content, "%s/content.npy", fw_.dir);
    snprintf(fw_.encoder, sizeof fw_.encoder, "%s/encoder.bin", fw_.dir);
    snprintf(fw_.index, sizeof fw_.index, "%s/index", fw_.dir);
    lr_synth_config sc = lr_data_synth_config_default();
    sc.items = FW_ITEMS, sc.users = 200;
    lr_data *d = NULL;
    int rc = lr_data_synth(&sc, &d, err);
    if (!rc) rc = lr_data_write_recbole(d, fw_.data, "synth", err);
    if (!rc) rc = fw_content_(d, err);
    lr_data_free(d);
    if (!rc) rc = fw_model_and_index_(err);
    lr_rpc_engine_config ec = {fw_.index, fw_.model, fw_.content, fw_.data, fw_.encoder, NULL};
    if (!rc) rc = lr_rpc_engine_open(&ec, &fw_.engine, err);
    if (!rc) rc = lr_towers_ws_new(&fw_.ws, err);
    return rc;
}

/* The world, built at the first call (LLVMFuzzerInitialize, or the first input when the
 * regression runner, which has no initializer, replays files). Limits are small so that the
 * fuzzer reaches every too_large: frames of 2 KiB, histories of 64, k up to 50, batches of 8. */
static fuzz_world *fuzz_world_get(void) {
    if (fw_.engine) return &fw_;
    /* the harness is the program: one thread for OpenMP and OpenBLAS, as a server worker */
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    lr_err err = {0, ""};
    atexit(fw_down_);
    if (fw_build_(&err)) {
        fprintf(stderr, "fuzz world: %s\n", err.msg);
        abort();
    }
    fw_.cfg = lr_rpc_server_config_default();
    fw_.cfg.threads = 1, fw_.cfg.max_frame = 2048, fw_.cfg.max_history = 64, fw_.cfg.max_k = 50;
    fw_.cfg.max_batch = 8, fw_.cfg.admin_token = FW_TOKEN;
    fw_.ctx = (lr_rpc_ctx){fw_.engine, fw_.ws, &fw_.cfg, &fw_.metrics, NULL};
    fw_.metrics.started = lr_rpc_now();
    lr_rpc_engine_get_stats(fw_.engine, &fw_.pristine);
    return &fw_;
}

/* Puts the engine back as it was opened when an input changed it (add_items, remove_items,
 * reload), so that no input's outcome depends on the inputs before it: reloading the served
 * version drops added items and removals with the old index, which is cheap on this world.
 * Counters start again from zero. A search with its own nprobe must leave the version's. */
static void fuzz_world_reset(void) {
    fuzz_added_clear();
    lr_rpc_engine_stats st;
    lr_rpc_engine_get_stats(fw_.engine, &st);
    int same = strcmp(st.version, fw_.pristine.version) == 0;
    if (same && st.nprobe != fw_.pristine.nprobe) {
        fprintf(stderr, "fuzz world: nprobe %zu after the input, the version's is %zu\n", st.nprobe, fw_.pristine.nprobe);
        abort();
    }
    if (!same || st.added || st.removed || st.count != fw_.pristine.count) {
        char got[32];
        size_t count;
        lr_rpc_fail f = {0, ""};
        if (lr_rpc_engine_reload(fw_.engine, fw_.pristine.version, got, &count, &f)) {
            fprintf(stderr, "fuzz world: cannot reload %s: %s\n", fw_.pristine.version, f.msg);
            abort();
        }
    }
    double started = fw_.metrics.started;
    memset(&fw_.metrics, 0, sizeof fw_.metrics);
    fw_.metrics.started = started;
}

#endif
