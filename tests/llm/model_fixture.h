/* A tiny random Llama-family model for tests/llm: its tensors in memory, written as a model
 * directory (config.json and safetensors, in any float dtype, split or W_pack, one file or
 * shards), and a straightforward float64 forward pass over the same tensors that serves as the
 * reference (naive loops, no BLAS, no packing). */
#ifndef LR_TEST_LLM_MODEL_FIXTURE_H
#define LR_TEST_LLM_MODEL_FIXTURE_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lr_data.h"

typedef struct {
    const char *arch; /* "Qwen2ForCausalLM", "LlamaForCausalLM", "BaichuanForCausalLM", ... */
    size_t hidden, layers, heads, kv_heads, head_dim, ffn, vocab, max_pos;
    int qkv_bias;
    double theta, eps;
    /* llama3 rope when factor > 0 */
    double l3_factor, l3_low, l3_high, l3_orig;
    size_t window; /* Mistral sliding_window; 0 for none */
    const char *extra; /* more config.json members ("\"k\": v, "), or NULL */
} fx_spec;

static fx_spec fx_default(void) {
    fx_spec s = {"Qwen2ForCausalLM", 32, 2, 4, 2, 8, 48, 50, 64, 1, 10000.0, 1e-6,
                 0, 0, 0, 0, 0, NULL};
    return s;
}

#define FX_MAX_TENSORS 64

typedef struct {
    char name[96];
    size_t ndim, shape[2];
    float *data;
} fx_tensor;

typedef struct {
    fx_spec spec;
    fx_tensor t[FX_MAX_TENSORS];
    size_t n;
} fx_model;

static uint64_t fx_rng = 88172645463325252ull;
static float fx_uniform(float a) { /* xorshift64: uniform in (-a, a) */
    fx_rng ^= fx_rng << 13;
    fx_rng ^= fx_rng >> 7;
    fx_rng ^= fx_rng << 17;
    return a * (float)((double)(fx_rng >> 11) / 4503599627370496.0 * 2.0 - 1.0);
}

static void fx_add(fx_model *m, const char *name, size_t rows, size_t cols, float center, float a) {
    fx_tensor *t = &m->t[m->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    size_t n = rows * (cols ? cols : 1);
    t->data = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) t->data[i] = center + fx_uniform(a);
}

static const fx_tensor *fx_get(const fx_model *m, const char *name) {
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->t[i].name, name) == 0) return &m->t[i];
    return NULL;
}

/* Random weights of the spec's shapes, Llama names, "model." prefix. */
static void fx_make(fx_model *m, const fx_spec *s, uint64_t seed) {
    memset(m, 0, sizeof *m);
    m->spec = *s;
    fx_rng = seed;
    size_t C = s->hidden, q = s->heads * s->head_dim, kv = s->kv_heads * s->head_dim, F = s->ffn;
    char n[96];
    fx_add(m, "model.embed_tokens.weight", s->vocab, C, 0, 1.0f);
    for (size_t l = 0; l < s->layers; l++) {
#define FX_L(what) (snprintf(n, sizeof n, "model.layers.%zu.%s", l, what), n)
        fx_add(m, FX_L("input_layernorm.weight"), C, 0, 1.0f, 0.2f);
        fx_add(m, FX_L("self_attn.q_proj.weight"), q, C, 0, 0.3f);
        fx_add(m, FX_L("self_attn.k_proj.weight"), kv, C, 0, 0.3f);
        fx_add(m, FX_L("self_attn.v_proj.weight"), kv, C, 0, 0.3f);
        if (s->qkv_bias) {
            fx_add(m, FX_L("self_attn.q_proj.bias"), q, 0, 0, 0.2f);
            fx_add(m, FX_L("self_attn.k_proj.bias"), kv, 0, 0, 0.2f);
            fx_add(m, FX_L("self_attn.v_proj.bias"), kv, 0, 0, 0.2f);
        }
        fx_add(m, FX_L("self_attn.o_proj.weight"), C, q, 0, 0.3f);
        fx_add(m, FX_L("post_attention_layernorm.weight"), C, 0, 1.0f, 0.2f);
        fx_add(m, FX_L("mlp.gate_proj.weight"), F, C, 0, 0.3f);
        fx_add(m, FX_L("mlp.up_proj.weight"), F, C, 0, 0.3f);
        fx_add(m, FX_L("mlp.down_proj.weight"), C, F, 0, 0.25f);
#undef FX_L
    }
    fx_add(m, "model.norm.weight", C, 0, 1.0f, 0.2f);
}

static void fx_free(fx_model *m) {
    for (size_t i = 0; i < m->n; i++) free(m->t[i].data);
    m->n = 0;
}

/* Every weight rounded to dt and back, as a model stored in dt holds it. */
static void fx_round(fx_model *m, lr_data_st_dtype dt) {
    for (size_t i = 0; i < m->n; i++) {
        size_t n = m->t[i].shape[0] * (m->t[i].ndim == 2 ? m->t[i].shape[1] : 1);
        for (size_t k = 0; k < n; k++) {
            float x = m->t[i].data[k];
            m->t[i].data[k] = dt == LR_DATA_ST_F16 ? lr_data_half_to_float(lr_data_float_to_half(x))
                              : dt == LR_DATA_ST_BF16 ? lr_data_bf16_to_float(lr_data_float_to_bf16(x))
                                                      : x;
        }
    }
}

/* ---- writing a model directory ---------------------------------------------------------------- */

static int fx_put(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* config.json for the spec: transformers 5 style (rope_parameters), W_pack models as Baichuan2
 * writes theirs (no rope settings, no num_key_value_heads). */
static int fx_write_config(const char *dir, const fx_spec *s) {
    char rope[512] = "", buf[4096];
    int baichuan = strcmp(s->arch, "BaichuanForCausalLM") == 0;
    if (!baichuan && s->l3_factor > 0)
        snprintf(rope, sizeof rope, "\"rope_parameters\": {\"rope_type\": \"llama3\", "
                 "\"rope_theta\": %.17g, \"factor\": %.17g, \"low_freq_factor\": %.17g, "
                 "\"high_freq_factor\": %.17g, \"original_max_position_embeddings\": %.0f},",
                 s->theta, s->l3_factor, s->l3_low, s->l3_high, s->l3_orig);
    else if (!baichuan)
        snprintf(rope, sizeof rope, "\"rope_parameters\": {\"rope_type\": \"default\", "
                 "\"rope_theta\": %.17g},", s->theta);
    char kv[64] = "", window[64] = "";
    if (!baichuan) snprintf(kv, sizeof kv, "\"num_key_value_heads\": %zu, \"head_dim\": %zu,",
                            s->kv_heads, s->head_dim);
    if (s->window) snprintf(window, sizeof window, "\"sliding_window\": %zu,", s->window);
    snprintf(buf, sizeof buf,
             "{\"architectures\": [\"%s\"], %s \"hidden_size\": %zu, \"num_hidden_layers\": %zu, "
             "\"num_attention_heads\": %zu, %s \"intermediate_size\": %zu, \"vocab_size\": %zu, "
             "\"max_position_embeddings\": %zu, \"rms_norm_eps\": %.17g, %s %s "
             "\"hidden_act\": \"silu\", \"bos_token_id\": 1, \"eos_token_id\": [2, 3]}\n",
             s->arch, s->extra ? s->extra : "", s->hidden, s->layers, s->heads, kv, s->ffn,
             s->vocab, s->max_pos, s->eps, rope, window);
    return fx_put(dir, "config.json", buf);
}

typedef enum { FX_ONE_FILE, FX_SHARDS, FX_WPACK } fx_layout;

/* The model's tensors as lr_data_st_tensor, W_pack fused when asked (into *packs, freed by the
 * caller), skipping a tensor named `skip`. Returns the count. */
static size_t fx_tensors(const fx_model *m, fx_layout layout, const char *skip,
                         lr_data_st_tensor *out, float **packs) {
    size_t n = 0, np = 0;
    for (size_t i = 0; i < m->n; i++) {
        const fx_tensor *t = &m->t[i];
        if (skip && strcmp(t->name, skip) == 0) continue;
        const char *qp = strstr(t->name, "self_attn.q_proj.weight");
        if (layout == FX_WPACK && (strstr(t->name, "k_proj.weight") || strstr(t->name, "v_proj.weight")))
            continue;
        if (layout == FX_WPACK && qp) {
            const fx_tensor *k = t + 1, *v = t + 2; /* fx_make's order: q, k, v */
            size_t C = t->shape[1], rows = t->shape[0] + k->shape[0] + v->shape[0];
            float *p = packs[np++] = malloc(rows * C * sizeof(float));
            memcpy(p, t->data, t->shape[0] * C * sizeof(float));
            memcpy(p + t->shape[0] * C, k->data, k->shape[0] * C * sizeof(float));
            memcpy(p + (t->shape[0] + k->shape[0]) * C, v->data, v->shape[0] * C * sizeof(float));
            static char names[16][96];
            snprintf(names[np - 1], 96, "%.*sW_pack.weight", (int)(qp - t->name) + 10, t->name);
            out[n++] = (lr_data_st_tensor){names[np - 1], p, 2, {rows, C, 0, 0}};
            continue;
        }
        out[n++] = (lr_data_st_tensor){t->name, t->data, t->ndim, {t->shape[0], t->shape[1], 0, 0}};
    }
    return n;
}

/* Writes the tensors (all stored as dt): one file, two shards with an index, or W_pack. */
static int fx_write_weights(const char *dir, const fx_model *m, lr_data_st_dtype dt,
                            fx_layout layout, const char *skip, lr_err *err) {
    lr_data_st_tensor ts[FX_MAX_TENSORS];
    float *packs[16] = {0};
    size_t n = fx_tensors(m, layout, skip, ts, packs);
    lr_data_st_dtype dts[FX_MAX_TENSORS];
    for (size_t i = 0; i < n; i++) dts[i] = dt;
    char path[4200];
    int rc;
    if (layout != FX_SHARDS) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        rc = lr_data_st_write_as(path, ts, dts, n, NULL, NULL, 0, err);
    } else { /* the first half in one shard, the rest in the other; the index lists both */
        snprintf(path, sizeof path, "%s/model-00001-of-00002.safetensors", dir);
        rc = lr_data_st_write_as(path, ts, dts, n / 2, NULL, NULL, 0, err);
        snprintf(path, sizeof path, "%s/model-00002-of-00002.safetensors", dir);
        if (!rc) rc = lr_data_st_write_as(path, ts + n / 2, dts, n - n / 2, NULL, NULL, 0, err);
        char *idx = malloc(65536);
        size_t at = (size_t)snprintf(idx, 65536, "{\"metadata\": {}, \"weight_map\": {");
        for (size_t i = 0; i < n; i++)
            at += (size_t)snprintf(idx + at, 65536 - at, "%s\"%s\": \"model-0000%d-of-00002.safetensors\"",
                                   i ? ", " : "", ts[i].name, i < n / 2 ? 1 : 2);
        snprintf(idx + at, 65536 - at, "}}\n");
        if (!rc) rc = fx_put(dir, "model.safetensors.index.json", idx);
        free(idx);
    }
    for (int i = 0; i < 16; i++) free(packs[i]);
    return rc;
}

/* ---- the float64 reference forward ------------------------------------------------------------ */

static const float *fx_w(const fx_model *m, size_t l, const char *what) {
    char n[96];
    snprintf(n, sizeof n, "model.layers.%zu.%s", l, what);
    const fx_tensor *t = fx_get(m, n);
    return t ? t->data : NULL;
}

/* y (n) = W (n, k) x (k) + b */
static void fx_matvec(double *y, const float *W, const float *b, const double *x, size_t n, size_t k) {
    for (size_t i = 0; i < n; i++) {
        double s = b ? b[i] : 0;
        for (size_t j = 0; j < k; j++) s += (double)W[i * k + j] * x[j];
        y[i] = s;
    }
}

static void fx_rmsnorm(double *y, const double *x, const float *w, size_t C, double eps) {
    double ss = 0;
    for (size_t c = 0; c < C; c++) ss += x[c] * x[c];
    double r = 1.0 / sqrt(ss / (double)C + eps);
    for (size_t c = 0; c < C; c++) y[c] = x[c] * r * w[c];
}

/* The llama3 rule from Meta's reference (apply_scaling in llama/model.py), in double. */
static double fx_inv_freq(const fx_spec *s, size_t i) {
    double inv = pow(s->theta, -(double)(2 * i) / (double)s->head_dim);
    if (s->l3_factor <= 0) return inv;
    double wavelen = 2 * M_PI / inv, lo = s->l3_orig / s->l3_low, hi = s->l3_orig / s->l3_high;
    if (wavelen < hi) return inv;
    if (wavelen > lo) return inv / s->l3_factor;
    double smooth = (s->l3_orig / wavelen - s->l3_low) / (s->l3_high - s->l3_low);
    return (1 - smooth) * inv / s->l3_factor + smooth * inv;
}

static void fx_rope(double *x, size_t heads, size_t D, size_t pos, const fx_spec *s) {
    for (size_t h = 0; h < heads; h++)
        for (size_t i = 0; i < D / 2; i++) {
            double a = (double)pos * fx_inv_freq(s, i), c = cos(a), sn = sin(a);
            double *p = x + h * D, x1 = p[i], x2 = p[i + D / 2];
            p[i] = x1 * c - x2 * sn;
            p[i + D / 2] = x2 * c + x1 * sn;
        }
}

/* Causal attention of one sequence of n tokens: att (n, H D) from q (n, H D), k, v (n, KV D). */
static void fx_attention(double *att, const double *q, const double *k, const double *v, size_t n,
                         const fx_spec *s) {
    size_t H = s->heads, KV = s->kv_heads, D = s->head_dim;
    double *p = malloc(n * sizeof *p);
    for (size_t i = 0; i < n; i++)
        for (size_t h = 0; h < H; h++) {
            size_t g = h / (H / KV), lo = s->window && i >= s->window ? i + 1 - s->window : 0;
            double mx = -INFINITY, sum = 0;
            for (size_t j = lo; j <= i; j++) {
                double d = 0;
                for (size_t e = 0; e < D; e++) d += q[(i * H + h) * D + e] * k[(j * KV + g) * D + e];
                p[j] = d / sqrt((double)D);
                mx = fmax(mx, p[j]);
            }
            for (size_t j = lo; j <= i; j++) sum += (p[j] = exp(p[j] - mx));
            for (size_t e = 0; e < D; e++) {
                double o = 0;
                for (size_t j = lo; j <= i; j++) o += p[j] / sum * v[(j * KV + g) * D + e];
                att[(i * H + h) * D + e] = o;
            }
        }
    free(p);
}

/* One layer on the n rows of x (n, C), in place. */
static void fx_layer(const fx_model *m, size_t l, double *x, size_t n) {
    const fx_spec *s = &m->spec;
    size_t C = s->hidden, D = s->head_dim, Q = s->heads * D, KVD = s->kv_heads * D, F = s->ffn;
    double *h = malloc(C * sizeof *h), *q = malloc(n * Q * sizeof *q), *k = malloc(n * KVD * sizeof *k),
           *v = malloc(n * KVD * sizeof *v), *att = malloc(n * Q * sizeof *att),
           *g = malloc(2 * F * sizeof *g), *o = malloc(C * sizeof *o);
    for (size_t t = 0; t < n; t++) {
        fx_rmsnorm(h, x + t * C, fx_w(m, l, "input_layernorm.weight"), C, s->eps);
        fx_matvec(q + t * Q, fx_w(m, l, "self_attn.q_proj.weight"), fx_w(m, l, "self_attn.q_proj.bias"), h, Q, C);
        fx_matvec(k + t * KVD, fx_w(m, l, "self_attn.k_proj.weight"), fx_w(m, l, "self_attn.k_proj.bias"), h, KVD, C);
        fx_matvec(v + t * KVD, fx_w(m, l, "self_attn.v_proj.weight"), fx_w(m, l, "self_attn.v_proj.bias"), h, KVD, C);
        fx_rope(q + t * Q, s->heads, D, t, s);
        fx_rope(k + t * KVD, s->kv_heads, D, t, s);
    }
    fx_attention(att, q, k, v, n, s);
    for (size_t t = 0; t < n; t++) {
        fx_matvec(o, fx_w(m, l, "self_attn.o_proj.weight"), NULL, att + t * Q, C, Q);
        for (size_t c = 0; c < C; c++) x[t * C + c] += o[c];
        fx_rmsnorm(h, x + t * C, fx_w(m, l, "post_attention_layernorm.weight"), C, s->eps);
        fx_matvec(g, fx_w(m, l, "mlp.gate_proj.weight"), NULL, h, F, C);
        fx_matvec(g + F, fx_w(m, l, "mlp.up_proj.weight"), NULL, h, F, C);
        for (size_t i = 0; i < F; i++) g[i] = g[i] / (1 + exp(-g[i])) * g[F + i];
        fx_matvec(o, fx_w(m, l, "mlp.down_proj.weight"), NULL, g, C, F);
        for (size_t c = 0; c < C; c++) x[t * C + c] += o[c];
    }
    free(h), free(q), free(k), free(v), free(att), free(g), free(o);
}

/* The last hidden states after the final norm, out (n, C), of one sequence. */
static void fx_forward(const fx_model *m, const int32_t *ids, size_t n, double *out) {
    size_t C = m->spec.hidden;
    double *x = malloc((n ? n : 1) * C * sizeof *x);
    const float *E = fx_get(m, "model.embed_tokens.weight")->data;
    for (size_t t = 0; t < n; t++)
        for (size_t c = 0; c < C; c++) x[t * C + c] = E[(size_t)ids[t] * C + c];
    for (size_t l = 0; l < m->spec.layers; l++) fx_layer(m, l, x, n);
    for (size_t t = 0; t < n; t++)
        fx_rmsnorm(out + t * C, x + t * C, fx_get(m, "model.norm.weight")->data, C, m->spec.eps);
    free(x);
}

#endif
