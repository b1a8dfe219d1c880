/* Tests for the model part of towers/llm: Hugging Face reference outputs (shared fixtures), a
 * float64 reference forward on tiny random models the tests write, storage variants that must
 * not change the result, and refusals that name what is wrong. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lr_test.h"
#include "lr_data.h"
#include "lr_llm.h"
#include "llm/model_fixture.h"

/* ---- helpers --------------------------------------------------------------------------------- */

/* The largest, over rows, of max|a - b| / max|b| within the row (b: the reference). */
static double row_rel_err(const float *a, const double *b, size_t rows, size_t C) {
    double worst = 0;
    for (size_t r = 0; r < rows; r++) {
        double diff = 0, scale = 0;
        for (size_t c = 0; c < C; c++) {
            diff = fmax(diff, fabs((double)a[r * C + c] - b[r * C + c]));
            scale = fmax(scale, fabs(b[r * C + c]));
        }
        worst = fmax(worst, scale > 0 ? diff / scale : diff);
    }
    return worst;
}

static double row_rel_err_f(const float *a, const float *b, size_t rows, size_t C) {
    double *bd = malloc(rows * C * sizeof *bd);
    for (size_t i = 0; i < rows * C; i++) bd[i] = b[i];
    double e = row_rel_err(a, bd, rows, C);
    free(bd);
    return e;
}

/* Writes a random model of spec s in dir: weights stored as dt, in the given layout; *m keeps
 * the (rounded) weights for the reference. */
static int write_model(const char *dir, const fx_spec *s, uint64_t seed, lr_data_st_dtype dt,
                       fx_layout layout, fx_model *m, lr_err *err) {
    fx_make(m, s, seed);
    fx_round(m, dt);
    if (fx_write_config(dir, s)) return lr_err_set(err, LR_EIO, "%s: cannot write config", dir);
    return fx_write_weights(dir, m, dt, layout, NULL, err);
}

/* Loads dir and runs one sequence: out (n, hidden). */
static int run_hidden(const char *dir, lr_llm_weights mode, const int32_t *ids, size_t n,
                      float *out, lr_err *err) {
    lr_llm_model_options opt = {mode};
    lr_llm_model *model = NULL;
    int rc = lr_llm_model_load(dir, &opt, &model, err);
    if (!rc) rc = lr_llm_model_hidden(model, ids, n, out, err);
    lr_llm_model_free(model);
    return rc;
}

static void random_ids(int32_t *ids, size_t n, size_t vocab, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        ids[i] = (int32_t)((seed >> 33) % vocab);
    }
}

/* Loads dir expecting failure; the code is returned and the message left in err. */
static int load_fails(const char *dir, lr_err *err) {
    lr_llm_model *model = (lr_llm_model *)(uintptr_t)1;
    int rc = lr_llm_model_load(dir, NULL, &model, err);
    if (model) {
        lr_llm_model_free(rc ? NULL : model);
        return rc ? 1 : 0; /* a failure must hand out NULL */
    }
    return rc;
}

/* ---- shared fixtures: transformers' outputs -------------------------------------------------- */

typedef struct {
    int32_t **ids;
    size_t *lens, n;
} id_lists;

static void ids_free(id_lists *l) {
    for (size_t i = 0; i < l->n; i++) free(l->ids[i]);
    free(l->ids);
    free(l->lens);
}

/* token_ids.json: a list of lists of ids. */
static int read_ids(const char *path, id_lists *out) {
    json_t *root = json_load_file(path, 0, NULL);
    if (!json_is_array(root)) return json_decref(root), -1;
    out->n = json_array_size(root);
    out->ids = calloc(out->n, sizeof *out->ids);
    out->lens = calloc(out->n, sizeof *out->lens);
    for (size_t i = 0; i < out->n; i++) {
        json_t *row = json_array_get(root, i);
        out->lens[i] = json_array_size(row);
        out->ids[i] = malloc((out->lens[i] + 1) * sizeof(int32_t));
        for (size_t j = 0; j < out->lens[i]; j++)
            out->ids[i][j] = (int32_t)json_integer_value(json_array_get(row, j));
    }
    json_decref(root);
    return 0;
}

/* Sequences [first, first + n) of l embedded in one call into out rows [first, first + n). */
static int embed_range(const lr_llm_model *m, const id_lists *l, size_t first, size_t n,
                       float *out, lr_err *err) {
    size_t C = lr_llm_model_get_info(m).hidden;
    return lr_llm_model_embed(m, (const int32_t *const *)l->ids + first, l->lens + first, n,
                              out + first * C, err);
}

/* Text 0's hidden states and all texts' pooled embeddings (batches of 30, 1 and 7) against the
 * fixture's transformers outputs. */
static void check_fixture(lr_test_ctx *lr_t_, const char *name) {
    char dir[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/fixtures/llm/%s", LR_SHARED_DIR, name);
    lr_err err = {0, ""};
    lr_llm_model *m = NULL;
    CHECK_OK(lr_llm_model_load(dir, NULL, &m, &err), err);
    id_lists l = {0};
    snprintf(path, sizeof path, "%s/token_ids.json", dir);
    int rd = read_ids(path, &l);
    lr_data_matrix *hid = NULL, *pooled = NULL;
    snprintf(path, sizeof path, "%s/last_hidden_0.npy", dir);
    int rc = rd ? -1 : lr_data_matrix_open(path, l.lens[0], &hid, &err);
    snprintf(path, sizeof path, "%s/pooled.npy", dir);
    if (!rc) rc = lr_data_matrix_open(path, l.n, &pooled, &err);
    size_t C = lr_llm_model_get_info(m).hidden;
    float *h = malloc(l.lens[0] * C * sizeof *h), *p[3];
    if (!rc) rc = lr_llm_model_hidden(m, l.ids[0], l.lens[0], h, &err);
    const size_t batch[3] = {30, 1, 7};
    for (int k = 0; k < 3; k++) {
        p[k] = calloc(l.n * C, sizeof(float));
        for (size_t at = 0; at < l.n && !rc; at += batch[k])
            rc = embed_range(m, &l, at, batch[k] < l.n - at ? batch[k] : l.n - at, p[k], &err);
    }
    double eh = rc ? 1 : row_rel_err_f(h, lr_data_matrix_data(hid), l.lens[0], C), ep = 0;
    int zero_rows_ok = 1;
    for (int k = 0; k < 3 && !rc; k++) {
        ep = fmax(ep, row_rel_err_f(p[k], lr_data_matrix_data(pooled), l.n, C));
        for (size_t i = 0; i < l.n; i++)
            for (size_t c = 0; c < C && !l.lens[i]; c++) zero_rows_ok &= p[k][i * C + c] == 0.0f;
    }
    printf("  %s: hidden max rel err %.3g, pooled max rel err %.3g\n", name, eh, ep);
    for (int k = 0; k < 3; k++) free(p[k]);
    free(h);
    lr_data_matrix_free(hid);
    lr_data_matrix_free(pooled);
    ids_free(&l);
    lr_llm_model_free(m);
    CHECK_EQ(rd, 0);
    CHECK_OK(rc, err);
    CHECK(eh < 1e-4);
    CHECK(ep < 1e-4);
    CHECK(zero_rows_ok);
}

LR_TEST(qwen2_matches_transformers) { check_fixture(lr_t_, "qwen2-bytelevel"); }
LR_TEST(llama_matches_transformers) { check_fixture(lr_t_, "llama-spbpe"); }
LR_TEST(baichuan2_wpack_matches_transformers) { check_fixture(lr_t_, "baichuan2-wpack"); }

LR_TEST(fixture_info_comes_from_config) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/fixtures/llm/qwen2-bytelevel", LR_SHARED_DIR);
    lr_err err = {0, ""};
    lr_llm_model *m = NULL;
    CHECK_OK(lr_llm_model_load(dir, NULL, &m, &err), err);
    lr_llm_model_info info = lr_llm_model_get_info(m);
    int arch_ok = strcmp(info.architecture, "Qwen2ForCausalLM") == 0;
    lr_llm_model_free(m);
    CHECK(arch_ok);
    CHECK_EQ(info.hidden, 64);
    CHECK_EQ(info.kv_heads, 2);
    CHECK_EQ(info.head_dim, 16);
    CHECK_EQ(info.vocab, 1000);
    CHECK_EQ(info.bos_id, -1);
    /* embed 1000x64, per layer 2 norms, q 64x64 + 64, k and v 32x64 + 32, o 64x64, mlp 3x176x64;
     * final norm */
    size_t layer = 2 * 64 + 64 * 64 + 64 + 2 * (32 * 64 + 32) + 64 * 64 + 3 * 176 * 64;
    CHECK_EQ(info.n_params, 1000 * 64 + 2 * layer + 64);
}

/* ---- tiny random models against the float64 reference ---------------------------------------- */

#define SEQ 23

/* Writes spec s (weights as dt, layout), runs n random ids, compares with the reference;
 * *err_out: the relative error; out (n, hidden) keeps the library's result. */
static int run_n_vs_reference(const fx_spec *s, lr_data_st_dtype dt, fx_layout layout,
                              lr_llm_weights mode, size_t n, float *out, double *err_out,
                              lr_err *err) {
    char *dir = lr_test_tmpdir();
    if (!dir) return lr_err_set(err, LR_EIO, "no temporary directory");
    fx_model m;
    int32_t *ids = malloc(n * sizeof *ids);
    random_ids(ids, n, s->vocab, 7);
    int rc = write_model(dir, s, 42, dt, layout, &m, err);
    if (!rc) rc = run_hidden(dir, mode, ids, n, out, err);
    double *ref = malloc(n * s->hidden * sizeof *ref);
    fx_forward(&m, ids, n, ref);
    *err_out = rc ? 1 : row_rel_err(out, ref, n, s->hidden);
    free(ref);
    free(ids);
    fx_free(&m);
    lr_test_rmdir(dir);
    return rc;
}

static int run_vs_reference(const fx_spec *s, lr_data_st_dtype dt, fx_layout layout,
                            lr_llm_weights mode, float *out, double *err_out, lr_err *err) {
    return run_n_vs_reference(s, dt, layout, mode, SEQ, out, err_out, err);
}

/* Qwen2-style GQA (4 heads, 2 KV heads) with q/k/v biases, float32 weights used in place. */
LR_TEST(tiny_qwen2_matches_float64_reference) {
    fx_spec s = fx_default();
    float out[SEQ * 32];
    double e;
    lr_err err = {0, ""};
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F32, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, out, &e, &err),
             err);
    printf("  relative error %.3g\n", e);
    CHECK(e < 1e-5);
}

/* F16 and BF16 files give what the same rounded weights give in float32, in both modes. */
LR_TEST(f16_and_bf16_weights_equal_f32_of_rounded_weights) {
    const lr_data_st_dtype dts[2] = {LR_DATA_ST_F16, LR_DATA_ST_BF16};
    fx_spec s = fx_default();
    lr_err err = {0, ""};
    for (int k = 0; k < 2; k++) {
        char *dir = lr_test_tmpdir();
        CHECK(dir);
        fx_model m;
        int32_t ids[SEQ];
        random_ids(ids, SEQ, s.vocab, 3);
        float a[SEQ * 32], b[SEQ * 32], c[SEQ * 32];
        int rc = write_model(dir, &s, 5, dts[k], FX_ONE_FILE, &m, &err);
        if (!rc) rc = run_hidden(dir, LR_LLM_WEIGHTS_MAPPED, ids, SEQ, a, &err);
        if (!rc) rc = run_hidden(dir, LR_LLM_WEIGHTS_F32, ids, SEQ, b, &err);
        /* the same rounded values, stored as float32 */
        if (!rc) rc = fx_write_weights(dir, &m, LR_DATA_ST_F32, FX_ONE_FILE, NULL, &err);
        if (!rc) rc = run_hidden(dir, LR_LLM_WEIGHTS_MAPPED, ids, SEQ, c, &err);
        fx_free(&m);
        lr_test_rmdir(dir);
        CHECK_OK(rc, err);
        CHECK(row_rel_err_f(a, c, SEQ, 32) < 1e-6);
        CHECK(memcmp(a, b, sizeof a) == 0); /* F32 mode: the same numbers through the same products */
    }
}

LR_TEST(f16_model_matches_float64_reference_in_both_modes) {
    fx_spec s = fx_default();
    float out[SEQ * 32];
    double e1, e2;
    lr_err err = {0, ""};
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F16, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, out, &e1, &err),
             err);
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_BF16, FX_ONE_FILE, LR_LLM_WEIGHTS_F32, out, &e2, &err),
             err);
    CHECK(e1 < 1e-5);
    CHECK(e2 < 1e-5);
}

/* Shards listed by model.safetensors.index.json load to the same model. */
LR_TEST(sharded_model_equals_single_file) {
    fx_spec s = fx_default();
    float a[SEQ * 32], b[SEQ * 32];
    double e1, e2;
    lr_err err = {0, ""};
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F32, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, a, &e1, &err),
             err);
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F32, FX_SHARDS, LR_LLM_WEIGHTS_MAPPED, b, &e2, &err),
             err);
    CHECK(memcmp(a, b, sizeof a) == 0);
}

/* Baichuan2's fused W_pack (rows q, k, v) equals the Llama layout of the same weights. */
LR_TEST(baichuan_wpack_equals_split_qkv) {
    fx_spec s = fx_default();
    s.kv_heads = s.heads; /* Baichuan2-7B has no grouped-query attention */
    s.qkv_bias = 0;
    s.arch = "LlamaForCausalLM";
    float a[SEQ * 32], b[SEQ * 32];
    double e1, e2;
    lr_err err = {0, ""};
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F32, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, a, &e1, &err),
             err);
    s.arch = "BaichuanForCausalLM"; /* θ fixed at 10,000, as the spec's */
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F32, FX_WPACK, LR_LLM_WEIGHTS_MAPPED, b, &e2, &err),
             err);
    CHECK(e1 < 1e-5);
    CHECK(e2 < 1e-5);
    CHECK(row_rel_err_f(a, b, SEQ, 32) < 1e-6);
    /* and from BF16, widened per call or at load */
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_BF16, FX_WPACK, LR_LLM_WEIGHTS_MAPPED, a, &e1, &err),
             err);
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_BF16, FX_WPACK, LR_LLM_WEIGHTS_F32, b, &e2, &err), err);
    CHECK(e1 < 1e-5);
    /* one fused product over the widened pack against three: the same sums up to rounding */
    CHECK(row_rel_err_f(a, b, SEQ, 32) < 1e-6);
}

/* Llama 3.1's rope type: frequencies in all three bands of the rule (kept, blended, divided),
 * and a result that differs from the default rope's. */
LR_TEST(llama3_rope_matches_reference_formula) {
    fx_spec s = fx_default();
    s.arch = "LlamaForCausalLM";
    s.qkv_bias = 0;
    s.theta = 100; /* wavelengths 6.3, 20, 63, 199 for head_dim 8 */
    s.l3_factor = 8, s.l3_low = 1, s.l3_high = 4, s.l3_orig = 128; /* bands at 32 and 128 */
    float a[SEQ * 32], b[SEQ * 32];
    double e1, e2;
    lr_err err = {0, ""};
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F32, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, a, &e1, &err),
             err);
    s.l3_factor = 0;
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F32, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, b, &e2, &err),
             err);
    printf("  llama3 relative error %.3g; default rope differs by %.3g\n", e1,
           row_rel_err_f(a, b, SEQ, 32));
    CHECK(e1 < 1e-5);
    CHECK(row_rel_err_f(a, b, SEQ, 32) > 1e-4); /* 10x the tolerance: ignoring llama3 fails */
}

/* Mistral's sliding window: each query sees itself and the window - 1 keys before it. */
LR_TEST(mistral_sliding_window_matches_reference) {
    fx_spec s = fx_default();
    s.arch = "MistralForCausalLM";
    s.qkv_bias = 0;
    s.window = 5;
    float out[SEQ * 32];
    double e;
    lr_err err = {0, ""};
    CHECK_OK(run_vs_reference(&s, LR_DATA_ST_F32, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, out, &e, &err),
             err);
    CHECK(e < 1e-5);
}

/* 300 tokens: attention works in blocks of queries, so the causal mask, and a sliding window of
 * 150, must hold across block edges. */
LR_TEST(long_sequences_match_reference_across_attention_blocks) {
    fx_spec s = fx_default();
    s.max_pos = 512;
    float *out = malloc(300 * 32 * sizeof *out);
    double e1 = 1, e2 = 1;
    lr_err err = {0, ""};
    int rc = run_n_vs_reference(&s, LR_DATA_ST_F32, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, 300, out,
                                &e1, &err);
    s.arch = "MistralForCausalLM";
    s.qkv_bias = 0;
    s.window = 150;
    if (!rc)
        rc = run_n_vs_reference(&s, LR_DATA_ST_BF16, FX_ONE_FILE, LR_LLM_WEIGHTS_MAPPED, 300, out,
                                &e2, &err);
    free(out);
    CHECK_OK(rc, err);
    printf("  relative errors %.3g (causal), %.3g (window 150)\n", e1, e2);
    CHECK(e1 < 1e-5);
    CHECK(e2 < 1e-5);
}

/* ---- packed batches -------------------------------------------------------------------------- */

/* Sequences of lengths 5, 0, 17, 1 and 9 in one batch: each row the mean of that sequence's own
 * hidden states (run alone), L2-normalised; the empty one a zero row. */
LR_TEST(embed_packs_sequences_and_pools_each_alone) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    fx_spec s = fx_default();
    fx_model fm;
    lr_err err = {0, ""};
    int rc = write_model(dir, &s, 11, LR_DATA_ST_BF16, FX_ONE_FILE, &fm, &err);
    fx_free(&fm);
    lr_llm_model *m = NULL;
    if (!rc) rc = lr_llm_model_load(dir, NULL, &m, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    enum { N = 5, C = 32 };
    const size_t lens[N] = {5, 0, 17, 1, 9};
    int32_t all[32];
    random_ids(all, 32, s.vocab, 99);
    const int32_t *ids[N] = {all, NULL, all + 5, all + 22, all + 23};
    float pooled[N * C], h[17 * C];
    double want[N * C];
    rc = lr_llm_model_embed(m, ids, lens, N, pooled, &err);
    for (size_t i = 0; i < N && !rc; i++) {
        double norm = 0;
        rc = lr_llm_model_hidden(m, ids[i], lens[i], h, &err);
        for (size_t c = 0; c < C; c++) {
            double sum = 0;
            for (size_t t = 0; t < lens[i]; t++) sum += h[t * C + c];
            want[i * C + c] = sum;
            norm += sum * sum;
        }
        for (size_t c = 0; c < C; c++) want[i * C + c] = norm > 0 ? want[i * C + c] / sqrt(norm) : 0;
    }
    lr_llm_model_free(m);
    CHECK_OK(rc, err);
    CHECK(row_rel_err(pooled, want, N, C) < 1e-5);
    for (size_t c = 0; c < C; c++) CHECK(pooled[C + c] == 0.0f);
    double n0 = 0;
    for (size_t c = 0; c < C; c++) n0 += (double)pooled[c] * pooled[c];
    CHECK_NEAR(n0, 1.0, 1e-5);
}

typedef struct {
    const lr_llm_model *m;
    const int32_t *const *ids;
    const size_t *lens;
    float out[6 * 32];
    int rc;
} embed_job;

static void *embed_thread(void *arg) {
    embed_job *j = arg;
    for (int rep = 0; rep < 3 && !j->rc; rep++)
        j->rc = lr_llm_model_embed(j->m, j->ids, j->lens, 6, j->out, NULL);
    return NULL;
}

/* Four threads embedding at once on one model get what one thread gets alone. */
LR_TEST(concurrent_embeds_on_one_model_agree) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    fx_spec s = fx_default();
    fx_model fm;
    lr_err err = {0, ""};
    int rc = write_model(dir, &s, 12, LR_DATA_ST_F16, FX_ONE_FILE, &fm, &err);
    fx_free(&fm);
    lr_llm_model *m = NULL;
    if (!rc) rc = lr_llm_model_load(dir, NULL, &m, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    int32_t all[60];
    random_ids(all, 60, s.vocab, 5);
    const size_t lens[6] = {10, 3, 20, 7, 12, 8};
    const int32_t *ids[6] = {all, all + 10, all + 13, all + 33, all + 40, all + 52};
    float alone[6 * 32];
    rc = lr_llm_model_embed(m, ids, lens, 6, alone, &err);
    embed_job jobs[4];
    pthread_t th[4];
    for (int i = 0; i < 4 && !rc; i++) {
        jobs[i] = (embed_job){m, ids, lens, {0}, 0};
        pthread_create(&th[i], NULL, embed_thread, &jobs[i]);
    }
    int same = 1;
    for (int i = 0; i < 4 && !rc; i++) {
        pthread_join(th[i], NULL);
        same &= jobs[i].rc == 0 && memcmp(jobs[i].out, alone, sizeof alone) == 0;
    }
    lr_llm_model_free(m);
    CHECK_OK(rc, err);
    CHECK(same);
}

/* ---- refusals -------------------------------------------------------------------------------- */

/* A model directory for spec s with config text `config` (NULL: the spec's) and weights missing
 * `skip` (NULL: none); returns the load's code, message in err. */
static int load_variant(const fx_spec *s, const char *config, const char *skip, lr_err *err) {
    char *dir = lr_test_tmpdir();
    if (!dir) return 1;
    fx_model m;
    fx_make(&m, s, 1);
    int rc = config ? fx_put(dir, "config.json", config) : fx_write_config(dir, s);
    if (!rc) rc = fx_write_weights(dir, &m, LR_DATA_ST_F32, FX_ONE_FILE, skip, err);
    if (!rc) rc = load_fails(dir, err);
    else rc = 1;
    fx_free(&m);
    lr_test_rmdir(dir);
    return rc;
}

LR_TEST(unknown_architecture_is_refused_by_name) {
    fx_spec s = fx_default();
    s.arch = "GPT2LMHeadModel";
    lr_err err = {0, ""};
    CHECK_ERR(load_variant(&s, NULL, NULL, &err), err, LR_EUNSUPPORTED,
              "architecture 'GPT2LMHeadModel' is not supported");
    CHECK_CONTAINS(err.msg, "config.json");
}

LR_TEST(missing_tensor_is_refused_by_name) {
    fx_spec s = fx_default();
    lr_err err = {0, ""};
    CHECK_ERR(load_variant(&s, NULL, "model.layers.1.mlp.up_proj.weight", &err), err, LR_ENOTFOUND,
              "no tensor 'model.layers.1.mlp.up_proj.weight'");
    lr_err err2 = {0, ""};
    CHECK_ERR(load_variant(&s, NULL, "model.layers.0.self_attn.k_proj.bias", &err2), err2,
              LR_ENOTFOUND, "self_attn.k_proj.bias"); /* Qwen2's biases are required */
}

/* A config whose head count disagrees with the weights: q_proj is then misshapen. */
LR_TEST(misshapen_tensor_is_refused_with_both_shapes) {
    fx_spec s = fx_default();
    fx_spec wrong = s;
    wrong.heads = 2;
    wrong.kv_heads = 2;
    wrong.extra = NULL;
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    fx_model m;
    fx_make(&m, &s, 1);
    lr_err err = {0, ""};
    int rc = fx_write_config(dir, &wrong) ? 1 : fx_write_weights(dir, &m, LR_DATA_ST_F32, FX_ONE_FILE, NULL, &err);
    if (!rc) rc = load_fails(dir, &err);
    fx_free(&m);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EMISMATCH,
              "tensor 'model.layers.0.self_attn.q_proj.weight' has shape [32, 32], expected [16, 32]");
}

LR_TEST(unsupported_rope_type_is_refused_by_name) {
    fx_spec s = fx_default();
    s.arch = "LlamaForCausalLM";
    s.qkv_bias = 0;
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 32, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
             "\"intermediate_size\": 48, \"vocab_size\": 50, \"max_position_embeddings\": 64, "
             "\"rope_theta\": 10000.0, \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0}}");
    lr_err err = {0, ""};
    CHECK_ERR(load_variant(&s, cfg, NULL, &err), err, LR_EUNSUPPORTED, "rope type 'yarn'");
}

LR_TEST(malformed_config_json_is_refused) {
    fx_spec s = fx_default();
    lr_err err = {0, ""};
    CHECK_ERR(load_variant(&s, "{\"hidden_size\": 32,", NULL, &err), err, LR_EFORMAT,
              "config.json: not valid JSON");
    lr_err err2 = {0, ""};
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 32, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 3, "
             "\"intermediate_size\": 48, \"vocab_size\": 50, \"max_position_embeddings\": 64}");
    CHECK_ERR(load_variant(&s, cfg, NULL, &err2), err2, LR_EFORMAT,
              "num_attention_heads 4 is not a multiple of num_key_value_heads 3");
    lr_err err3 = {0, ""};
    CHECK_ERR(load_variant(&s, "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": -1}",
                           NULL, &err3), err3, LR_EFORMAT, "\"hidden_size\" must be an integer");
}

LR_TEST(other_activations_and_baichuan_13b_are_refused_by_name) {
    fx_spec s = fx_default();
    lr_err err = {0, ""};
    char cfg[512];
    snprintf(cfg, sizeof cfg, "{\"architectures\": [\"Qwen2ForCausalLM\"], \"hidden_size\": 32, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
             "\"intermediate_size\": 48, \"vocab_size\": 50, \"max_position_embeddings\": 64, "
             "\"hidden_act\": \"gelu\"}");
    CHECK_ERR(load_variant(&s, cfg, NULL, &err), err, LR_EUNSUPPORTED, "hidden_act 'gelu'");
    lr_err err2 = {0, ""};
    snprintf(cfg, sizeof cfg, "{\"architectures\": [\"BaichuanForCausalLM\"], \"hidden_size\": 32, "
             "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"intermediate_size\": 48, "
             "\"vocab_size\": 50, \"model_max_length\": 4096}");
    CHECK_ERR(load_variant(&s, cfg, NULL, &err2), err2, LR_EUNSUPPORTED, "Baichuan2-13B (ALiBi");
}

LR_TEST(missing_files_are_not_found) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""}, err2 = {0, ""};
    int rc = load_fails(dir, &err);
    fx_spec s = fx_default();
    int rc2 = fx_write_config(dir, &s) ? 1 : load_fails(dir, &err2);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_ENOTFOUND, "config.json: cannot open");
    CHECK_ERR(rc2, err2, LR_ENOTFOUND, "model.safetensors: cannot open");
}

/* A tensor of an integer dtype (here the final norm, in a second file the index lists) and a
 * safetensors file whose header is not JSON are refused naming the file and the tensor. */
LR_TEST(integer_tensor_and_bad_safetensors_header_are_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    fx_spec s = fx_default();
    fx_model m;
    fx_make(&m, &s, 1);
    lr_err err = {0, ""}, err2 = {0, ""};
    int rc = fx_write_config(dir, &s) ? 1
             : fx_write_weights(dir, &m, LR_DATA_ST_F32, FX_ONE_FILE, "model.norm.weight", &err);
    const char *h = "{\"model.norm.weight\":{\"dtype\":\"I32\",\"shape\":[32],\"data_offsets\":[0,128]}}";
    unsigned char file[8 + 96 + 128] = {0};
    uint64_t hl = strlen(h);
    memcpy(file, &hl, 8);
    memcpy(file + 8, h, hl);
    if (!rc) rc = lr_test_put_bytes(dir, "norm.safetensors", file, 8 + hl + 128, 0);
    if (!rc) rc = lr_test_write_file(dir, "model.safetensors.index.json",
                                     "{\"weight_map\": {\"model.embed_tokens.weight\": "
                                     "\"model.safetensors\", \"model.norm.weight\": "
                                     "\"norm.safetensors\"}}");
    if (!rc) rc = load_fails(dir, &err);
    hl = 12; /* the header now claims 12 bytes of "{\"model.norm" */
    memcpy(file, &hl, 8);
    int rc2 = lr_test_put_bytes(dir, "norm.safetensors", file, 8 + 96 + 128, 0);
    if (!rc2) rc2 = load_fails(dir, &err2);
    fx_free(&m);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "norm.safetensors: tensor 'model.norm.weight' has dtype I32, "
              "expected F32, F16 or BF16");
    CHECK_ERR(rc2, err2, LR_EFORMAT, "norm.safetensors: header is not valid JSON");
}

/* Ids outside the vocabulary and sequences longer than max_position_embeddings: LR_ERANGE. */
LR_TEST(out_of_range_ids_and_lengths_are_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    fx_spec s = fx_default();
    fx_model fm;
    lr_err err = {0, ""};
    int rc = write_model(dir, &s, 1, LR_DATA_ST_F32, FX_ONE_FILE, &fm, &err);
    fx_free(&fm);
    lr_llm_model *m = NULL;
    if (!rc) rc = lr_llm_model_load(dir, NULL, &m, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    int32_t ids[65] = {0};
    ids[3] = 50;
    float out[65 * 32], pooled[2 * 32];
    lr_err e1 = {0, ""}, e2 = {0, ""}, e3 = {0, ""};
    int r1 = lr_llm_model_hidden(m, ids, 4, out, &e1);
    ids[3] = 0;
    int r2 = lr_llm_model_hidden(m, ids, 65, out, &e2);
    ids[1] = -1;
    const int32_t *seqs[2] = {ids + 5, ids};
    int r3 = lr_llm_model_embed(m, seqs, (size_t[]){2, 3}, 2, pooled, &e3);
    lr_llm_model_free(m);
    CHECK_ERR(r1, e1, LR_ERANGE, "position 3: token id 50 is outside the vocabulary (vocab_size 50)");
    CHECK_ERR(r2, e2, LR_ERANGE, "sequence 0 has 65 tokens, more than the model's max_position_embeddings (64)");
    CHECK_ERR(r3, e3, LR_ERANGE, "sequence 1, position 1: token id -1");
}

LR_TEST_MAIN(LR_SHARED_CASE(qwen2_matches_transformers, "fixtures/llm/qwen2-bytelevel"),
             LR_SHARED_CASE(llama_matches_transformers, "fixtures/llm/llama-spbpe"),
             LR_SHARED_CASE(baichuan2_wpack_matches_transformers, "fixtures/llm/baichuan2-wpack"),
             LR_SHARED_CASE(fixture_info_comes_from_config, "fixtures/llm/qwen2-bytelevel"),
             LR_CASE(tiny_qwen2_matches_float64_reference),
             LR_CASE(f16_and_bf16_weights_equal_f32_of_rounded_weights),
             LR_CASE(f16_model_matches_float64_reference_in_both_modes),
             LR_CASE(sharded_model_equals_single_file),
             LR_CASE(baichuan_wpack_equals_split_qkv),
             LR_CASE(llama3_rope_matches_reference_formula),
             LR_CASE(mistral_sliding_window_matches_reference),
             LR_CASE(long_sequences_match_reference_across_attention_blocks),
             LR_CASE(embed_packs_sequences_and_pools_each_alone),
             LR_CASE(concurrent_embeds_on_one_model_agree),
             LR_CASE(unknown_architecture_is_refused_by_name),
             LR_CASE(missing_tensor_is_refused_by_name),
             LR_CASE(misshapen_tensor_is_refused_with_both_shapes),
             LR_CASE(unsupported_rope_type_is_refused_by_name),
             LR_CASE(malformed_config_json_is_refused),
             LR_CASE(other_activations_and_baichuan_13b_are_refused_by_name),
             LR_CASE(missing_files_are_not_found),
             LR_CASE(integer_tensor_and_bad_safetensors_header_are_refused),
             LR_CASE(out_of_range_ids_and_lengths_are_refused))
