/* The model part of lr_llm, privately: its configuration, its weights and the forward pass, shared
 * by config.c, weights.c, rope.c, kernels.c, linear.c, attention.c, forward.c and model.c. */
#ifndef LR_LLM_MODEL_INTERNAL_H
#define LR_LLM_MODEL_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lr_data.h"
#include "lr_llm.h"

typedef enum { LLM_LLAMA, LLM_MISTRAL, LLM_QWEN2, LLM_BAICHUAN } llm_arch;

typedef enum { LLM_ROPE_DEFAULT, LLM_ROPE_LINEAR, LLM_ROPE_LLAMA3 } llm_rope_type;

/* RoPE's frequencies as transformers computes them (modeling_rope_utils.py). */
typedef struct {
    llm_rope_type type;
    double theta;
    double factor;                 /* linear, llama3 */
    double low_freq_factor, high_freq_factor, original_max_positions; /* llama3 */
} llm_rope;

/* What config.json says, checked. */
typedef struct {
    char architecture[64];
    llm_arch arch;
    size_t hidden, layers, heads, kv_heads, head_dim, ffn, vocab, max_positions;
    double eps;           /* rms_norm_eps */
    llm_rope rope;
    int qkv_bias, o_bias, mlp_bias;
    size_t window;        /* sliding_window; 0 when no layer uses one */
    unsigned char *sliding; /* layers flags, malloc'd: 1 where the layer attends within window */
    int bos_id, eos_id;
} llm_config;

/* Reads and checks dir/config.json (LR_EFORMAT for malformed values, LR_EUNSUPPORTED for
 * architectures and settings not implemented, naming them). On failure nothing is allocated. */
int llm_config_read(const char *dir, llm_config *cfg, lr_err *err);
void llm_config_free(llm_config *cfg);

/* A weight matrix (rows, cols), row-major, as stored: in the file's mapping or, widened at load,
 * in memory the model owns. */
typedef struct {
    const void *data;
    lr_data_st_dtype dtype; /* F32, F16 or BF16 */
    size_t rows, cols;
} llm_mat;

/* Whether a matrix can go to sgemm as it is (float32, float-aligned). */
int llm_mat_in_place(const llm_mat *w);

/* The rows of w [r0, r0 + n) as float32 into dst (n * cols floats). */
void llm_mat_widen_rows(const llm_mat *w, size_t r0, size_t n, float *dst);

typedef struct {
    const float *attn_norm, *mlp_norm; /* hidden */
    llm_mat q, k, v, o, gate, up, down;
    const float *bq, *bk, *bv, *bo, *bgate, *bup, *bdown; /* NULL where the layer has none */
} llm_layer;

struct lr_llm_model {
    llm_config cfg;
    lr_llm_weights weights;
    lr_data_st_file **files; /* n_files opened safetensors files (the shards) */
    char **file_names;       /* their paths, for messages */
    size_t n_files;
    llm_mat embed;           /* vocab x hidden, always as stored: only a batch's rows are read */
    const float *final_norm; /* hidden */
    llm_layer *layer;        /* cfg.layers */
    float *inv_freq;         /* head_dim / 2 */
    void **owned;            /* n_owned blocks: widened tensors */
    size_t n_owned, cap_owned;
    size_t n_params;
    size_t max_mat_cols;     /* the widest matrix that is widened per call (0 when none is) */
};

/* Opens dir's safetensors files and reads every tensor the configuration needs (weights.c). */
int llm_weights_load(lr_llm_model *m, const char *dir, lr_err *err);
void llm_weights_free(lr_llm_model *m);

/* inv_freq[i], i < head_dim / 2, exactly as transformers' rope init functions make it, in
 * float32 (rope.c). */
void llm_rope_inv_freq(const llm_rope *r, size_t head_dim, float *inv_freq);
/* cos and sin tables (n_pos, head_dim / 2) for positions 0 .. n_pos - 1. */
void llm_rope_tables(const float *inv_freq, size_t half, size_t n_pos, float *cos_t, float *sin_t);
/* Rotates n_heads heads of x (head_dim each, contiguous) for one position (cos_t, sin_t: half
 * floats), as transformers' apply_rotary_pos_emb with rotate_half. */
void llm_rope_apply(float *x, size_t n_heads, size_t head_dim, const float *cos_t,
                    const float *sin_t);

/* ---- kernels (kernels.c): out, inputs, weights, sizes ---- */

/* out (T, C) = x * rsqrt(mean(x^2) + eps) * w; x (T, C); out may be x. */
void llm_rmsnorm(float *out, const float *x, const float *w, size_t T, size_t C, float eps);
/* gu (T, ld): columns [0, F) the gate, [F, 2F) up; gate becomes silu(gate) * up. */
void llm_swiglu(float *gu, size_t ld, size_t T, size_t F);
/* out (T, ld): columns [0, n) += b. */
void llm_add_bias(float *out, size_t ld, const float *b, size_t T, size_t n);

/* out (T, ldc) columns [0, W.rows) = X (T, W.cols; lda) W^T + beta * out, by cblas_sgemm: a
 * float32 W in place, others widened panel by panel into panel (panel_cap floats). linear.c */
void llm_linear(float *out, size_t ldc, float beta, const float *X, size_t lda, size_t T,
                const llm_mat *W, float *panel, size_t panel_cap);

/* Floats of panel scratch llm_linear needs for matrices up to `cols` wide (0 when none). */
size_t llm_panel_floats(size_t cols);

/* ---- attention (attention.c) ---- */

/* Causal grouped-query attention of n_seq packed sequences. qkv (T, ld): per token H query heads,
 * then KV key heads, then KV value heads, head_dim D each, RoPE applied. att (T, H * D).
 * start[s], len[s]: sequence s's rows. window: 0, or how many keys (itself included) a query
 * sees. work: llm_attention_floats(longest len) floats. */
void llm_attention(float *att, const float *qkv, size_t ld, const size_t *start,
                   const size_t *len, size_t n_seq, size_t H, size_t KV, size_t D, size_t window,
                   float *work);
size_t llm_attention_floats(size_t max_len);

/* ---- the forward pass (forward.c) ---- */

/* Packed sequences: sequence s is ids[s][0 .. len[s]), its rows start[s] .. of the T rows. */
typedef struct {
    const int32_t *const *ids;
    const size_t *len;
    size_t *start; /* n_seq, filled by llm_batch_plan */
    size_t n_seq, T, max_len;
} llm_batch;

/* Checks ids and lengths (LR_ERANGE naming the sequence and position) and fills start, T and
 * max_len. */
int llm_batch_plan(const lr_llm_model *m, llm_batch *b, lr_err *err);

/* The last hidden states after the final norm of every token: out (b->T, hidden). */
int llm_forward(const lr_llm_model *m, const llm_batch *b, float *out, lr_err *err);

#endif
