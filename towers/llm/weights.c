/* The model's tensors: the safetensors files of a model directory (model.safetensors, or the
 * shards model.safetensors.index.json lists), each tensor found by its Hugging Face name (with or
 * without the "model." prefix), checked against the configuration's shapes, and kept as stored
 * in the mapping (LR_LLM_WEIGHTS_MAPPED) or widened once to float32 (LR_LLM_WEIGHTS_F32). Norm
 * weights and biases, a few thousand floats, are always widened at load. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model_internal.h"

/* Records a block the model owns, or frees it when the list cannot grow. */
static int own(lr_llm_model *m, void *p, lr_err *err) {
    if (m->n_owned == m->cap_owned) {
        size_t cap = m->cap_owned ? 2 * m->cap_owned : 64;
        void **grown = realloc(m->owned, cap * sizeof *grown);
        if (!grown) {
            free(p);
            return lr_err_set(err, LR_ENOMEM, "out of memory loading the weights");
        }
        m->owned = grown;
        m->cap_owned = cap;
    }
    m->owned[m->n_owned++] = p;
    return LR_OK;
}

/* Opens dir/name as the next file of the model, unless it is open already. */
static int open_file(lr_llm_model *m, const char *dir, const char *name, lr_err *err) {
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return lr_err_set(err, LR_EINVAL, "%s: path too long", dir);
    for (size_t i = 0; i < m->n_files; i++)
        if (strcmp(m->file_names[i], path) == 0) return LR_OK;
    size_t n = m->n_files;
    lr_data_st_file **files = realloc(m->files, (n + 1) * sizeof *files);
    if (files) m->files = files;
    char **names = files ? realloc(m->file_names, (n + 1) * sizeof *names) : NULL;
    if (names) m->file_names = names;
    char *copy = names ? strdup(path) : NULL;
    if (!copy) return lr_err_set(err, LR_ENOMEM, "%s: out of memory", path);
    int rc = lr_data_st_open(path, &m->files[n], err);
    if (rc) {
        free(copy);
        return rc;
    }
    m->file_names[n] = copy;
    m->n_files = n + 1;
    return LR_OK;
}

/* Every distinct file the index's weight_map names, in order of first mention. */
static int open_shards(lr_llm_model *m, const char *dir, const char *index, const json_t *map,
                       lr_err *err) {
    const char *tensor;
    const json_t *v;
    json_object_foreach((json_t *)map, tensor, v) {
        const char *file = json_string_value(v);
        if (!file || !file[0] || strchr(file, '/'))
            return lr_err_set(err, LR_EFORMAT, "%s: weight_map entry '%.60s' must name a file "
                              "in the directory", index, tensor);
        int rc = open_file(m, dir, file, err);
        if (rc) return rc;
    }
    if (!m->n_files) return lr_err_set(err, LR_EFORMAT, "%s: weight_map is empty", index);
    return LR_OK;
}

/* model.safetensors.index.json when the directory has one, else model.safetensors. */
static int open_files(lr_llm_model *m, const char *dir, lr_err *err) {
    char index[4096];
    if ((size_t)snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir) >= sizeof index)
        return lr_err_set(err, LR_EINVAL, "%s: path too long", dir);
    FILE *probe = fopen(index, "rb");
    if (!probe) return open_file(m, dir, "model.safetensors", err);
    fclose(probe);
    json_error_t je;
    json_t *root = json_load_file(index, 0, &je);
    if (!root)
        return lr_err_set(err, LR_EFORMAT, "%s: not valid JSON: %s (line %d, column %d)", index,
                          je.text, je.line, je.column);
    const json_t *map = json_object_get(root, "weight_map");
    int rc = json_is_object(map) ? open_shards(m, dir, index, map, err)
                                 : lr_err_set(err, LR_EFORMAT, "%s: no \"weight_map\" object", index);
    json_decref(root);
    return rc;
}

/* Tensor "model.<name>", else "<name>", in any of the files. *which: its file. */
static int find(const lr_llm_model *m, const char *name, lr_data_st_view *v, size_t *which,
                char *full, size_t cap, lr_err *err) {
    for (int bare = 0; bare < 2; bare++) {
        snprintf(full, cap, "%s%s", bare ? "" : "model.", name);
        for (size_t i = 0; i < m->n_files; i++)
            if (lr_data_st_get(m->files[i], full, v, NULL) == LR_OK) {
                *which = i;
                return LR_OK;
            }
    }
    snprintf(full, cap, "model.%s", name);
    if (m->n_files == 1)
        return lr_err_set(err, LR_ENOTFOUND, "%s: no tensor '%s' (nor without \"model.\")",
                          m->file_names[0], full);
    return lr_err_set(err, LR_ENOTFOUND, "no tensor '%s' (nor without \"model.\") in %s nor the "
                      "%zu other shards of the index", full, m->file_names[0], m->n_files - 1);
}

/* Tensor `name` with exactly the shape rows x cols (cols 0: a vector of rows). */
static int get_checked(lr_llm_model *m, const char *name, size_t rows, size_t cols,
                       lr_data_st_view *v, lr_err *err) {
    char full[256];
    size_t i = 0;
    int rc = find(m, name, v, &i, full, sizeof full, err);
    if (rc) return rc;
    const char *file = m->file_names[i];
    if (v->type == LR_DATA_ST_OTHER)
        return lr_err_set(err, LR_EFORMAT, "%s: tensor '%s' has dtype %s, expected F32, F16 or "
                          "BF16", file, full, v->dtype);
    size_t nd = cols ? 2 : 1;
    if (v->ndim != nd || v->shape[0] != rows || (cols && v->shape[1] != cols)) {
        char got[64] = "[", want[64];
        for (size_t d = 0; d < v->ndim && d < 4; d++)
            snprintf(got + strlen(got), sizeof got - strlen(got), "%s%zu", d ? ", " : "", v->shape[d]);
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s]", v->ndim > 4 ? ", ..." : "");
        if (cols) snprintf(want, sizeof want, "[%zu, %zu]", rows, cols);
        else snprintf(want, sizeof want, "[%zu]", rows);
        return lr_err_set(err, LR_EMISMATCH, "%s: tensor '%s' has shape %s, expected %s (from "
                          "config.json)", file, full, got, want);
    }
    m->n_params += v->numel;
    return LR_OK;
}

/* A float32 copy of the whole view, owned by the model. */
static int widen_owned(lr_llm_model *m, const lr_data_st_view *v, float **out, lr_err *err) {
    float *p = malloc((v->numel ? v->numel : 1) * sizeof *p);
    if (!p) return lr_err_set(err, LR_ENOMEM, "out of memory widening %zu weights", v->numel);
    int rc = own(m, p, err);
    if (!rc) rc = lr_data_st_widen(v, 0, v->numel, p, err);
    if (!rc) *out = p;
    return rc;
}

/* Matrix (rows, cols): kept as stored, or widened once in LR_LLM_WEIGHTS_F32. */
static int get_mat(lr_llm_model *m, const char *name, size_t rows, size_t cols, llm_mat *out,
                   lr_err *err) {
    lr_data_st_view v;
    int rc = get_checked(m, name, rows, cols, &v, err);
    if (rc) return rc;
    *out = (llm_mat){v.data, v.type, rows, cols};
    if (m->weights == LR_LLM_WEIGHTS_F32 && !llm_mat_in_place(out)) {
        float *p;
        if ((rc = widen_owned(m, &v, &p, err))) return rc;
        *out = (llm_mat){p, LR_DATA_ST_F32, rows, cols};
    }
    if (!llm_mat_in_place(out) && cols > m->max_mat_cols) m->max_mat_cols = cols;
    return LR_OK;
}

/* A vector of n (norm weight, bias), always widened; *out stays NULL when !want. */
static int get_vec(lr_llm_model *m, const char *name, size_t n, int want, const float **out,
                   lr_err *err) {
    *out = NULL;
    if (!want) return LR_OK;
    lr_data_st_view v;
    float *p;
    int rc = get_checked(m, name, n, 0, &v, err);
    if (!rc && !(rc = widen_owned(m, &v, &p, err))) *out = p;
    return rc;
}

/* Rows [r0, r0 + n) of a matrix as a matrix of their own. */
static llm_mat slice(const llm_mat *w, size_t r0, size_t n) {
    size_t elem = w->dtype == LR_DATA_ST_F32 ? 4 : 2;
    return (llm_mat){(const unsigned char *)w->data + r0 * w->cols * elem, w->dtype, n, w->cols};
}

/* "layers.<i>.<what>" into buf. */
static const char *lname(char *buf, size_t cap, size_t i, const char *what) {
    snprintf(buf, cap, "layers.%zu.%s", i, what);
    return buf;
}

/* q, k and v: Baichuan's fused W_pack (rows q, then k, then v, as its attention splits them),
 * or three projections. */
static int load_qkv(lr_llm_model *m, size_t i, llm_layer *l, lr_err *err) {
    const llm_config *c = &m->cfg;
    size_t q = c->heads * c->head_dim, kv = c->kv_heads * c->head_dim;
    char n[128];
    int rc;
    if (c->arch == LLM_BAICHUAN) {
        llm_mat pack;
        if ((rc = get_mat(m, lname(n, sizeof n, i, "self_attn.W_pack.weight"), q + 2 * kv,
                          c->hidden, &pack, err)))
            return rc;
        l->q = slice(&pack, 0, q);
        l->k = slice(&pack, q, kv);
        l->v = slice(&pack, q + kv, kv);
        return LR_OK;
    }
    int b = c->qkv_bias;
    if ((rc = get_mat(m, lname(n, sizeof n, i, "self_attn.q_proj.weight"), q, c->hidden, &l->q, err)) ||
        (rc = get_mat(m, lname(n, sizeof n, i, "self_attn.k_proj.weight"), kv, c->hidden, &l->k, err)) ||
        (rc = get_mat(m, lname(n, sizeof n, i, "self_attn.v_proj.weight"), kv, c->hidden, &l->v, err)) ||
        (rc = get_vec(m, lname(n, sizeof n, i, "self_attn.q_proj.bias"), q, b, &l->bq, err)) ||
        (rc = get_vec(m, lname(n, sizeof n, i, "self_attn.k_proj.bias"), kv, b, &l->bk, err)))
        return rc;
    return get_vec(m, lname(n, sizeof n, i, "self_attn.v_proj.bias"), kv, b, &l->bv, err);
}

static int load_layer(lr_llm_model *m, size_t i, llm_layer *l, lr_err *err) {
    const llm_config *c = &m->cfg;
    size_t h = c->hidden, f = c->ffn, q = c->heads * c->head_dim;
    char n[128];
    int rc, mb = c->mlp_bias;
    if ((rc = get_vec(m, lname(n, sizeof n, i, "input_layernorm.weight"), h, 1, &l->attn_norm, err)) ||
        (rc = get_vec(m, lname(n, sizeof n, i, "post_attention_layernorm.weight"), h, 1,
                      &l->mlp_norm, err)) ||
        (rc = load_qkv(m, i, l, err)) ||
        (rc = get_mat(m, lname(n, sizeof n, i, "self_attn.o_proj.weight"), h, q, &l->o, err)) ||
        (rc = get_vec(m, lname(n, sizeof n, i, "self_attn.o_proj.bias"), h, c->o_bias, &l->bo, err)) ||
        (rc = get_mat(m, lname(n, sizeof n, i, "mlp.gate_proj.weight"), f, h, &l->gate, err)) ||
        (rc = get_mat(m, lname(n, sizeof n, i, "mlp.up_proj.weight"), f, h, &l->up, err)) ||
        (rc = get_mat(m, lname(n, sizeof n, i, "mlp.down_proj.weight"), h, f, &l->down, err)) ||
        (rc = get_vec(m, lname(n, sizeof n, i, "mlp.gate_proj.bias"), f, mb, &l->bgate, err)) ||
        (rc = get_vec(m, lname(n, sizeof n, i, "mlp.up_proj.bias"), f, mb, &l->bup, err)))
        return rc;
    return get_vec(m, lname(n, sizeof n, i, "mlp.down_proj.bias"), h, mb, &l->bdown, err);
}

int llm_weights_load(lr_llm_model *m, const char *dir, lr_err *err) {
    const llm_config *c = &m->cfg;
    int rc = open_files(m, dir, err);
    if (rc) return rc;
    lr_data_st_view v;
    /* The embedding table stays as stored in both modes: a batch reads only its ids' rows. */
    if ((rc = get_checked(m, "embed_tokens.weight", c->vocab, c->hidden, &v, err))) return rc;
    m->embed = (llm_mat){v.data, v.type, c->vocab, c->hidden};
    if ((rc = get_vec(m, "norm.weight", c->hidden, 1, &m->final_norm, err))) return rc;
    if (!(m->layer = calloc(c->layers, sizeof *m->layer)))
        return lr_err_set(err, LR_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->layers; i++)
        if ((rc = load_layer(m, i, &m->layer[i], err))) return rc;
    return LR_OK;
}

void llm_weights_free(lr_llm_model *m) {
    for (size_t i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    for (size_t i = 0; i < m->n_files; i++) {
        lr_data_st_free(m->files[i]);
        free(m->file_names[i]);
    }
    free(m->files);
    free(m->file_names);
    free(m->layer);
}
