/* Tests of towers/pal_io.c: PAL weights as safetensors. */
#include "lr_test.h"
#include "pal_internal.h"
#include "lr_data.h"

static lr_pal *model(lr_pal_mode mode) {
    lr_pal_config c = lr_towers_pal_config_default();
    c.content_dim = 12;
    c.n_items = 9;
    c.hidden = 16;
    c.heads = 2;
    c.layers = 2;
    c.out_dim = 8;
    c.mode = mode;
    c.pos_emb = LR_POS_OLDEST;
    lr_pal *m = NULL;
    lr_err err;
    return lr_towers_pal_new(&c, 11, &m, &err) ? NULL : m;
}

LR_TEST(saved_weights_load_back_identical) {
    lr_pal *m = model(LR_PAL_BOTH);
    CHECK(m);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    lr_err err = {0};
    const char *k[] = {"content.sha256"}, *v[] = {"abc123"};
    int rc = lr_towers_pal_save(m, path, k, v, 1, &err);
    lr_pal *b = NULL;
    int rc2 = rc ? rc : lr_towers_pal_load(path, &b, &err);
    char meta[64] = "";
    int rc3 = rc2 ? rc2 : lr_towers_pal_file_meta(path, "content.sha256", meta, sizeof meta, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rc2, err);
    CHECK_OK(rc3, err);
    CHECK_STR_EQ(meta, "abc123");
    CHECK_EQ(b->n_params, m->n_params);
    CHECK(memcmp(b->params_block, m->params_block, m->n_params * sizeof(float)) == 0);
    lr_pal_config cb = lr_towers_pal_get_config(b);
    CHECK_EQ(cb.mode, LR_PAL_BOTH);
    CHECK_EQ(cb.pos_emb, LR_POS_OLDEST);
    CHECK_EQ(cb.layers, 2);
    CHECK_NEAR(cb.dropout, 0.1, 1e-7);
    lr_towers_pal_free(b);
    lr_towers_pal_free(m);
}

/* Writes `m`, lets `damage` rewrite the file, then loads it. */
static int load_after(lr_pal *m, int (*damage)(const char *path, const lr_pal *m), lr_err *err) {
    char *dir = lr_test_tmpdir();
    if (!dir) return 996;
    char path[4200];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    int rc = lr_towers_pal_save(m, path, NULL, NULL, 0, err);
    if (!rc && damage(path, m)) rc = 999;
    lr_pal *b = (lr_pal *)&b;
    if (!rc) rc = lr_towers_pal_load(path, &b, err);
    lr_test_rmdir(dir);
    if (!rc) {
        lr_towers_pal_free(b);
        return 998;
    }
    return b == NULL ? rc : 997;
}

static int truncate_file(const char *path, const lr_pal *m) {
    (void)m;
    FILE *f = fopen(path, "rb+");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return truncate(path, n - 100);
}

/* The same tensors with a config that claims another hidden size. */
static int wrong_config(const char *path, const lr_pal *m) {
    lr_data_st_tensor ts[LR_PAL_MAX_TENSORS];
    for (size_t k = 0; k < m->n_tensors; k++)
        ts[k] = (lr_data_st_tensor){m->tensors[k].name, m->params_block + m->tensors[k].offset,
                               m->tensors[k].ndim, {m->tensors[k].shape[0], m->tensors[k].shape[1], 0, 0}};
    const char *k[] = {"learnrec.format", "content_dim", "n_items", "hidden", "layers", "heads",
                       "out_dim", "max_len", "pos_emb", "mode", "dropout"};
    const char *v[] = {"pal-1", "12", "9", "32", "2", "2", "8", "50", "2", "both", "0.1"};
    lr_err err;
    return lr_data_st_write(path, ts, m->n_tensors, k, v, 11, &err);
}

/* One tensor fewer than the config needs. */
static int missing_tensor(const char *path, const lr_pal *m) {
    lr_data_st_tensor ts[LR_PAL_MAX_TENSORS];
    for (size_t k = 0; k < m->n_tensors; k++)
        ts[k] = (lr_data_st_tensor){m->tensors[k].name, m->params_block + m->tensors[k].offset,
                               m->tensors[k].ndim, {m->tensors[k].shape[0], m->tensors[k].shape[1], 0, 0}};
    const char *k[] = {"learnrec.format", "content_dim", "n_items", "hidden", "layers", "heads",
                       "out_dim", "max_len", "pos_emb", "mode", "dropout"};
    const char *v[] = {"pal-1", "12", "9", "16", "2", "2", "8", "50", "2", "both", "0.1"};
    lr_err err;
    return lr_data_st_write(path, ts, m->n_tensors - 1, k, v, 11, &err);
}

static int no_metadata(const char *path, const lr_pal *m) {
    lr_data_st_tensor t = {"x", m->params_block, 1, {4, 0, 0, 0}};
    lr_err err;
    return lr_data_st_write(path, &t, 1, NULL, NULL, 0, &err);
}

LR_TEST(damaged_or_inconsistent_weights_are_refused) {
    lr_pal *m = model(LR_PAL_BOTH);
    CHECK(m);
    lr_err err = {0};
    CHECK_ERR(load_after(m, truncate_file, &err), err, LR_EFORMAT, "truncated");
    CHECK_ERR(load_after(m, wrong_config, &err), err, LR_EMISMATCH, "expected [32");
    CHECK_ERR(load_after(m, missing_tensor, &err), err, LR_EFORMAT, "tensors, a model with this config has");
    CHECK_ERR(load_after(m, no_metadata, &err), err, LR_EFORMAT, "not learnrec PAL weights");
    lr_pal *b;
    CHECK_ERR(lr_towers_pal_load("/nonexistent/m.safetensors", &b, &err), err, LR_ENOTFOUND,
              "/nonexistent/m.safetensors");
    lr_towers_pal_free(m);
}

/* Any safetensors reader can read the file: check the layout with Python's json and struct. */
LR_TEST(weights_are_plain_safetensors) {
    lr_pal *m = model(LR_PAL_CONTENT);
    CHECK(m);
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200], cmd[4600];
    snprintf(path, sizeof path, "%s/m.safetensors", dir);
    lr_err err = {0};
    int rc = lr_towers_pal_save(m, path, NULL, NULL, 0, &err);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c \"import json,struct; f=open('%s','rb'); n=struct.unpack('<Q',"
             "f.read(8))[0]; h=json.loads(f.read(n)); w=h['layers.0.qkv.weight']; "
             "print(w['dtype'], w['shape'], h['__metadata__']['mode'], len(h)-1)\"", path);
    FILE *p = popen(cmd, "r");
    char line[200] = "";
    if (!p || !fgets(line, sizeof line, p)) line[0] = '\0';
    if (p) pclose(p);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    char want[64];
    snprintf(want, sizeof want, "F32 [48, 16] content %zu", m->n_tensors);
    CHECK_CONTAINS(line, want);
    lr_towers_pal_free(m);
}

LR_TEST_MAIN(LR_CASE(saved_weights_load_back_identical),
             LR_CASE(damaged_or_inconsistent_weights_are_refused),
             LR_CASE(weights_are_plain_safetensors))
