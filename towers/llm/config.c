/* config.json of a Hugging Face Llama-family model, read with jansson and checked: every value
 * the forward pass uses is present (or has transformers' default) and sane, and every setting
 * that would change the math in a way not implemented here is refused by name. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model_internal.h"

/* Sizes past these are not a model this library could run (and would overflow products). */
#define MAX_WIDTH (1u << 20)
#define MAX_VOCAB (1u << 26)

typedef struct {
    const char *path; /* dir/config.json, for messages */
    const json_t *root;
    lr_err *err;
} cfg_src;

static const struct {
    const char *name, *model_type;
    llm_arch arch;
} archs[] = {
    {"LlamaForCausalLM", "llama", LLM_LLAMA},     {"LlamaModel", NULL, LLM_LLAMA},
    {"MistralForCausalLM", "mistral", LLM_MISTRAL}, {"MistralModel", NULL, LLM_MISTRAL},
    {"Qwen2ForCausalLM", "qwen2", LLM_QWEN2},     {"Qwen2Model", NULL, LLM_QWEN2},
    {"BaichuanForCausalLM", "baichuan", LLM_BAICHUAN},
};
#define N_ARCHS (sizeof archs / sizeof archs[0])

/* An integer setting in [lo, hi]; def when absent or null and def_ok. */
static int get_size(const cfg_src *c, const json_t *obj, const char *key, size_t lo, size_t hi,
                    int def_ok, size_t def, size_t *out) {
    const json_t *v = json_object_get(obj, key);
    if ((!v || json_is_null(v)) && def_ok) {
        *out = def;
        return LR_OK;
    }
    if (!v) return lr_err_set(c->err, LR_EFORMAT, "%s: no \"%s\"", c->path, key);
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
        json_integer_value(v) > (json_int_t)hi)
        return lr_err_set(c->err, LR_EFORMAT, "%s: \"%s\" must be an integer from %zu to %zu", c->path,
                          key, lo, hi);
    *out = (size_t)json_integer_value(v);
    return LR_OK;
}

/* A number setting in (lo, hi); def when absent or null. */
static int get_real(const cfg_src *c, const json_t *obj, const char *key, double lo, double hi,
                    double def, double *out) {
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return LR_OK;
    }
    double x = json_number_value(v);
    if (!json_is_number(v) || !(x > lo && x < hi))
        return lr_err_set(c->err, LR_EFORMAT, "%s: \"%s\" must be a number above %g and below %g",
                          c->path, key, lo, hi);
    *out = x;
    return LR_OK;
}

/* A boolean setting; def when absent or null. */
static int get_bool(const cfg_src *c, const char *key, int def, int *out) {
    const json_t *v = json_object_get(c->root, key);
    if (!v || json_is_null(v)) *out = def;
    else if (json_is_boolean(v)) *out = json_is_true(v);
    else return lr_err_set(c->err, LR_EFORMAT, "%s: \"%s\" must be true or false", c->path, key);
    return LR_OK;
}

/* A token id: an integer, the first of a list (Llama 3 lists several EOS ids), or -1. */
static int get_token(const cfg_src *c, const char *key, int *out) {
    const json_t *v = json_object_get(c->root, key);
    if (json_is_array(v)) v = json_array_get(v, 0);
    *out = -1;
    if (!v || json_is_null(v)) return LR_OK;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
        return lr_err_set(c->err, LR_EFORMAT, "%s: \"%s\" must be a token id", c->path, key);
    *out = (int)json_integer_value(v);
    return LR_OK;
}

/* "architectures"[0], or "model_type" when there is no list. */
static int read_arch(const cfg_src *c, llm_config *cfg) {
    const json_t *list = json_object_get(c->root, "architectures");
    const json_t *mt = json_object_get(c->root, "model_type");
    const char *name = NULL, *type = json_string_value(mt);
    if (list && !json_is_null(list)) {
        name = json_string_value(json_array_get(list, 0));
        if (!name)
            return lr_err_set(c->err, LR_EFORMAT, "%s: \"architectures\" must be a list of names",
                              c->path);
    } else if (!type) {
        return lr_err_set(c->err, LR_EFORMAT, "%s: neither \"architectures\" nor \"model_type\" "
                          "names the model", c->path);
    }
    for (size_t i = 0; i < N_ARCHS; i++) {
        if (name ? strcmp(name, archs[i].name) != 0
                 : !archs[i].model_type || strcmp(type, archs[i].model_type) != 0)
            continue;
        cfg->arch = archs[i].arch;
        snprintf(cfg->architecture, sizeof cfg->architecture, "%s", archs[i].name);
        return LR_OK;
    }
    return lr_err_set(c->err, LR_EUNSUPPORTED, "%s: architecture '%.60s' is not supported (Llama, "
                      "Mistral, Qwen2 and Baichuan2-7B ...ForCausalLM are)", c->path,
                      name ? name : type);
}

/* Widths and counts, with transformers' defaults where its config classes have one. */
static int read_sizes(const cfg_src *c, llm_config *g) {
    const json_t *r = c->root;
    int rc;
    if ((rc = get_size(c, r, "hidden_size", 1, MAX_WIDTH, 0, 0, &g->hidden)) ||
        (rc = get_size(c, r, "num_hidden_layers", 1, 4096, 0, 0, &g->layers)) ||
        (rc = get_size(c, r, "num_attention_heads", 1, 4096, 0, 0, &g->heads)) ||
        (rc = get_size(c, r, "num_key_value_heads", 1, g->heads, 1, g->heads, &g->kv_heads)) ||
        (rc = get_size(c, r, "intermediate_size", 1, MAX_WIDTH, 0, 0, &g->ffn)) ||
        (rc = get_size(c, r, "vocab_size", 1, MAX_VOCAB, 0, 0, &g->vocab)) ||
        (rc = get_size(c, r, "head_dim", 2, 4096, 1, g->hidden / g->heads, &g->head_dim)))
        return rc;
    if (g->heads % g->kv_heads)
        return lr_err_set(c->err, LR_EFORMAT, "%s: num_attention_heads %zu is not a multiple of "
                          "num_key_value_heads %zu", c->path, g->heads, g->kv_heads);
    if (g->head_dim < 2 || g->head_dim % 2)
        return lr_err_set(c->err, LR_EFORMAT, "%s: head_dim %zu (hidden_size / "
                          "num_attention_heads unless given) must be even", c->path, g->head_dim);
    if (g->heads * g->head_dim > MAX_WIDTH)
        return lr_err_set(c->err, LR_EFORMAT, "%s: num_attention_heads x head_dim is too large",
                          c->path);
    return get_real(c, r, "rms_norm_eps", 0, 1, 1e-6, &g->eps);
}

/* Baichuan2-13B shares the architecture name with Baichuan2-7B but replaces RoPE with ALiBi in
 * its own modeling code; its config is told apart by the 13B shape and by having no
 * max_position_embeddings (7B has 4096). */
static int read_positions(const cfg_src *c, llm_config *g) {
    const json_t *mp = json_object_get(c->root, "max_position_embeddings");
    if (g->arch == LLM_BAICHUAN && (!mp || (g->hidden == 5120 && g->layers == 40)))
        return lr_err_set(c->err, LR_EUNSUPPORTED, "%s: Baichuan2-13B (ALiBi position bias instead "
                          "of RoPE: %s) is not supported; Baichuan2-7B is", c->path,
                          !mp ? "no max_position_embeddings" : "hidden_size 5120, 40 layers");
    return get_size(c, c->root, "max_position_embeddings", 1, 1u << 24, 0, 0, &g->max_positions);
}

/* rope_scaling / rope_parameters entries of the llama3 and linear types. */
static int read_rope_factors(const cfg_src *c, const json_t *p, llm_rope *r) {
    int rc = get_real(c, p, "factor", 0, 1e6, NAN, &r->factor);
    if (!rc && isnan(r->factor))
        rc = lr_err_set(c->err, LR_EFORMAT, "%s: rope type needs \"factor\"", c->path);
    if (rc || r->type != LLM_ROPE_LLAMA3) return rc;
    size_t orig;
    if ((rc = get_real(c, p, "low_freq_factor", 0, 1e6, NAN, &r->low_freq_factor)) ||
        (rc = get_real(c, p, "high_freq_factor", 0, 1e6, NAN, &r->high_freq_factor)) ||
        (rc = get_size(c, p, "original_max_position_embeddings", 1, 1u << 24, 0, 0, &orig)))
        return rc;
    r->original_max_positions = (double)orig;
    if (isnan(r->low_freq_factor) || isnan(r->high_freq_factor) ||
        r->high_freq_factor <= r->low_freq_factor)
        return lr_err_set(c->err, LR_EFORMAT, "%s: llama3 rope needs low_freq_factor below "
                          "high_freq_factor", c->path);
    return LR_OK;
}

/* θ and the rope type: "rope_parameters" (transformers 5) or top-level rope_theta with
 * "rope_scaling" (earlier). Baichuan2-7B fixes θ = 10,000 in its code and reads neither. */
static int read_rope(const cfg_src *c, llm_config *g) {
    llm_rope *r = &g->rope;
    r->type = LLM_ROPE_DEFAULT;
    r->theta = 10000.0;
    if (g->arch == LLM_BAICHUAN) return LR_OK;
    const json_t *params = json_object_get(c->root, "rope_parameters"), *scaling = params;
    if (!params || json_is_null(params)) scaling = json_object_get(c->root, "rope_scaling");
    if (scaling && !json_is_null(scaling) && !json_is_object(scaling))
        return lr_err_set(c->err, LR_EFORMAT, "%s: %s must be an object", c->path,
                          scaling == params ? "rope_parameters" : "rope_scaling");
    const json_t *holder = params && json_is_object(params) ? params : c->root;
    int rc = get_real(c, holder, "rope_theta", 0, 1e12, 10000.0, &r->theta);
    double partial;
    if (!rc) rc = get_real(c, holder, "partial_rotary_factor", 0, 2, 1.0, &partial);
    if (!rc && partial != 1.0)
        rc = lr_err_set(c->err, LR_EUNSUPPORTED, "%s: partial_rotary_factor %g is not supported",
                        c->path, partial);
    if (rc || !scaling || json_is_null(scaling)) return rc;
    const json_t *t = json_object_get(scaling, "rope_type");
    if (!t) t = json_object_get(scaling, "type");
    const char *type = t && !json_is_null(t) ? json_string_value(t) : "default";
    if (!type) return lr_err_set(c->err, LR_EFORMAT, "%s: rope type must be a string", c->path);
    if (strcmp(type, "default") == 0) return LR_OK;
    if (strcmp(type, "linear") == 0) r->type = LLM_ROPE_LINEAR;
    else if (strcmp(type, "llama3") == 0) r->type = LLM_ROPE_LLAMA3;
    else
        return lr_err_set(c->err, LR_EUNSUPPORTED, "%s: rope type '%.40s' is not supported "
                          "(default, linear and llama3 are)", c->path, type);
    return read_rope_factors(c, scaling, r);
}

/* Which layers attend within a sliding window: "layer_types" when the config lists them
 * (transformers 5), else Mistral's sliding_window on every layer, Qwen2's on the layers from
 * max_window_layers on when use_sliding_window is true. */
static int read_window(const cfg_src *c, llm_config *g, unsigned char *sliding) {
    const json_t *types = json_object_get(c->root, "layer_types");
    int use = g->arch == LLM_MISTRAL, rc;
    size_t from = 0;
    if (g->arch == LLM_QWEN2 &&
        ((rc = get_bool(c, "use_sliding_window", 0, &use)) ||
         (rc = get_size(c, c->root, "max_window_layers", 0, 1u << 20, 1, 28, &from))))
        return rc;
    if ((rc = get_size(c, c->root, "sliding_window", 1, 1u << 30, 1, 0, &g->window))) return rc;
    for (size_t i = 0; i < g->layers; i++) {
        if (types && !json_is_null(types)) {
            const char *t = json_string_value(json_array_get(types, i));
            if (!json_is_array(types) || json_array_size(types) != g->layers || !t)
                return lr_err_set(c->err, LR_EFORMAT, "%s: \"layer_types\" must list %zu names",
                                  c->path, g->layers);
            if (strcmp(t, "sliding_attention") != 0 && strcmp(t, "full_attention") != 0)
                return lr_err_set(c->err, LR_EUNSUPPORTED, "%s: layer type '%.40s' is not "
                                  "supported", c->path, t);
            sliding[i] = strcmp(t, "sliding_attention") == 0;
        } else {
            sliding[i] = use && g->window && i >= from;
        }
        if (sliding[i] && !g->window)
            return lr_err_set(c->err, LR_EFORMAT, "%s: layer %zu uses sliding attention but "
                              "sliding_window is not set", c->path, i);
    }
    return LR_OK;
}

/* hidden_act, biases and special tokens. */
static int read_misc(const cfg_src *c, llm_config *g) {
    const json_t *act = json_object_get(c->root, "hidden_act");
    if (act && !json_is_null(act) && (!json_is_string(act) || strcmp(json_string_value(act), "silu")))
        return lr_err_set(c->err, LR_EUNSUPPORTED, "%s: hidden_act '%.40s' is not supported (only "
                          "silu)", c->path, json_is_string(act) ? json_string_value(act) : "?");
    int attn_bias, rc;
    if ((rc = get_bool(c, "attention_bias", 0, &attn_bias)) ||
        (rc = get_bool(c, "mlp_bias", 0, &g->mlp_bias)) ||
        (rc = get_token(c, "bos_token_id", &g->bos_id)) ||
        (rc = get_token(c, "eos_token_id", &g->eos_id)))
        return rc;
    g->qkv_bias = attn_bias || g->arch == LLM_QWEN2; /* Qwen2's q/k/v always have biases */
    g->o_bias = attn_bias;
    return LR_OK;
}

static int parse(const cfg_src *c, llm_config *g) {
    int rc;
    if ((rc = read_arch(c, g)) || (rc = read_sizes(c, g)) || (rc = read_positions(c, g)) ||
        (rc = read_rope(c, g)) || (rc = read_misc(c, g)))
        return rc;
    if (!(g->sliding = calloc(g->layers, 1)))
        return lr_err_set(c->err, LR_ENOMEM, "%s: out of memory", c->path);
    return read_window(c, g, g->sliding);
}

int llm_config_read(const char *dir, llm_config *cfg, lr_err *err) {
    memset(cfg, 0, sizeof *cfg);
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s/config.json", dir) >= sizeof path)
        return lr_err_set(err, LR_EINVAL, "%s: directory name too long", dir);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        FILE *f = fopen(path, "rb");
        if (!f) return lr_err_set(err, LR_ENOTFOUND, "%s: cannot open", path);
        fclose(f);
        return lr_err_set(err, LR_EFORMAT, "%s: not valid JSON: %s (line %d, column %d)", path,
                          je.text, je.line, je.column);
    }
    cfg_src c = {path, root, err};
    int rc = json_is_object(root) ? parse(&c, cfg)
                                  : lr_err_set(err, LR_EFORMAT, "%s: not a JSON object", path);
    json_decref(root);
    if (rc) llm_config_free(cfg);
    return rc;
}

void llm_config_free(llm_config *cfg) {
    free(cfg->sliding);
    cfg->sliding = NULL;
}
