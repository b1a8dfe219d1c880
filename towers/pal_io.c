/* PAL weights as safetensors: every tensor float32 under its table name, the config in
 * __metadata__ so a file describes the model it holds. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pal_internal.h"
#include "lr_data.h"

#define FORMAT_KEY "learnrec.format"
#define FORMAT_VALUE "pal-1"
#define N_CFG 10

static const char *const cfg_keys[N_CFG] = {"content_dim", "n_items", "hidden", "layers", "heads",
                                            "out_dim", "max_len", "pos_emb", "mode", "dropout"};

static void cfg_values(const lr_pal_config *c, char v[N_CFG][32]) {
    snprintf(v[0], 32, "%zu", c->content_dim);
    snprintf(v[1], 32, "%zu", c->n_items);
    snprintf(v[2], 32, "%zu", c->hidden);
    snprintf(v[3], 32, "%zu", c->layers);
    snprintf(v[4], 32, "%zu", c->heads);
    snprintf(v[5], 32, "%zu", c->out_dim);
    snprintf(v[6], 32, "%zu", c->max_len);
    snprintf(v[7], 32, "%d", c->pos_emb);
    snprintf(v[8], 32, "%s", lr_towers_pal_mode_name(c->mode));
    snprintf(v[9], 32, "%.9g", (double)c->dropout);
}

int lr_towers_pal_save(const lr_pal *m, const char *path, const char *const *meta_keys,
                       const char *const *meta_values, size_t n_meta, lr_err *err) {
    size_t nk = 1 + N_CFG + n_meta;
    const char **keys = malloc(nk * sizeof *keys), **vals = malloc(nk * sizeof *vals);
    lr_data_st_tensor *ts = malloc(m->n_tensors * sizeof *ts);
    char v[N_CFG][32];
    int rc;
    if (!keys || !vals || !ts) {
        rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    cfg_values(&m->cfg, v);
    keys[0] = FORMAT_KEY;
    vals[0] = FORMAT_VALUE;
    for (size_t i = 0; i < N_CFG; i++) keys[1 + i] = cfg_keys[i], vals[1 + i] = v[i];
    for (size_t i = 0; i < n_meta; i++) keys[1 + N_CFG + i] = meta_keys[i], vals[1 + N_CFG + i] = meta_values[i];
    for (size_t k = 0; k < m->n_tensors; k++) {
        const lr_pal_tensor *t = &m->tensors[k];
        ts[k] = (lr_data_st_tensor){t->name, m->params_block + t->offset, t->ndim, {t->shape[0], t->shape[1], 0, 0}};
    }
    rc = lr_data_st_write(path, ts, m->n_tensors, keys, vals, nk, err);
done:
    free(keys);
    free(vals);
    free(ts);
    return rc;
}

static int meta_size(const lr_data_st_file *f, const char *path, const char *key, size_t *out, lr_err *err) {
    const char *s = lr_data_st_meta(f, key);
    char *end;
    errno = 0;
    unsigned long long v = s ? strtoull(s, &end, 10) : 0;
    if (!s || !*s || *end || errno || s[0] == '-')
        return lr_err_set(err, LR_EFORMAT, "%s: metadata '%s' is %s%s%s, expected a non-negative "
                          "integer", path, key, s ? "'" : "missing", s ? s : "", s ? "'" : "");
    *out = (size_t)v;
    return LR_OK;
}

static int config_from_meta(const lr_data_st_file *f, const char *path, lr_pal_config *c, lr_err *err) {
    const char *fmt = lr_data_st_meta(f, FORMAT_KEY);
    if (!fmt || strcmp(fmt, FORMAT_VALUE) != 0)
        return lr_err_set(err, LR_EFORMAT, "%s: not learnrec PAL weights (metadata %s is %s, "
                          "expected %s)", path, FORMAT_KEY, fmt ? fmt : "missing", FORMAT_VALUE);
    size_t pos;
    int rc;
    if ((rc = meta_size(f, path, "content_dim", &c->content_dim, err)) ||
        (rc = meta_size(f, path, "n_items", &c->n_items, err)) ||
        (rc = meta_size(f, path, "hidden", &c->hidden, err)) ||
        (rc = meta_size(f, path, "layers", &c->layers, err)) ||
        (rc = meta_size(f, path, "heads", &c->heads, err)) ||
        (rc = meta_size(f, path, "out_dim", &c->out_dim, err)) ||
        (rc = meta_size(f, path, "max_len", &c->max_len, err)) ||
        (rc = meta_size(f, path, "pos_emb", &pos, err)))
        return rc;
    c->pos_emb = (int)pos;
    const char *mode = lr_data_st_meta(f, "mode"), *drop = lr_data_st_meta(f, "dropout");
    if (!mode || (strcmp(mode, "content") && strcmp(mode, "id") && strcmp(mode, "both")))
        return lr_err_set(err, LR_EFORMAT, "%s: metadata 'mode' is %s, expected content, id or both",
                          path, mode ? mode : "missing");
    c->mode = strcmp(mode, "id") == 0 ? LR_PAL_ID : strcmp(mode, "both") == 0 ? LR_PAL_BOTH : LR_PAL_CONTENT;
    char *end;
    c->dropout = drop ? strtof(drop, &end) : -1.0f;
    if (!drop || *end)
        return lr_err_set(err, LR_EFORMAT, "%s: metadata 'dropout' is missing or not a number", path);
    return LR_OK;
}

int lr_towers_pal_load(const char *path, lr_pal **out, lr_err *err) {
    *out = NULL;
    lr_data_st_file *f = NULL;
    lr_pal *m = NULL;
    int rc = lr_data_st_open(path, &f, err);
    if (rc) return rc;
    lr_pal_config c = lr_towers_pal_config_default();
    if ((rc = config_from_meta(f, path, &c, err))) goto done;
    if ((rc = lr_towers_pal_new(&c, 0, &m, err))) { /* a config the file names is bad input */
        lr_err_prefix(err, "%s: ", path);
        if (rc != LR_ENOMEM) rc = err ? (err->code = LR_EFORMAT) : LR_EFORMAT;
        goto done;
    }
    if (lr_data_st_count(f) != m->n_tensors) {
        rc = lr_err_set(err, LR_EFORMAT, "%s: %zu tensors, a model with this config has %zu",
                        path, lr_data_st_count(f), m->n_tensors);
        goto done;
    }
    for (size_t k = 0; k < m->n_tensors; k++) {
        const lr_pal_tensor *t = &m->tensors[k];
        if ((rc = lr_data_st_read_f32(f, t->name, t->ndim, t->shape, m->params_block + t->offset, err)))
            goto done;
    }
    for (size_t i = 0; i < m->n_params; i++)
        if (!isfinite(m->params_block[i])) {
            rc = lr_err_set(err, LR_EFORMAT, "%s: parameter %zu is not finite", path, i);
            goto done;
        }
    if ((rc = lr_towers_pal_fold_values(m, err))) goto done;
    *out = m;
    m = NULL;
done:
    lr_towers_pal_free(m);
    lr_data_st_free(f);
    return rc;
}

int lr_towers_pal_file_meta(const char *path, const char *key, char *value, size_t cap, lr_err *err) {
    lr_data_st_file *f = NULL;
    int rc = lr_data_st_open(path, &f, err);
    if (rc) return rc;
    const char *v = lr_data_st_meta(f, key);
    if (!v) rc = lr_err_set(err, LR_ENOTFOUND, "%s: no metadata '%s'", path, key);
    else if (strlen(v) >= cap) rc = lr_err_set(err, LR_ERANGE, "%s: metadata '%s' is too long", path, key);
    else memcpy(value, v, strlen(v) + 1);
    lr_data_st_free(f);
    return rc;
}
