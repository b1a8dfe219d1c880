/* The in-engine LLM: LEARN's content extractor (CEX) run from a Hugging Face model directory.
 *
 * Three parts, each usable alone:
 * - tokenizer: text -> token ids, from `tokenizer.json` (byte-level BPE as GPT-2 / Llama-3 /
 *   Qwen2 write it, SentencePiece-style BPE with byte fallback as Llama-2 / Baichuan2 write it) or
 *   from a SentencePiece `tokenizer.model`; the ids equal those of the reference implementations
 *   (Hugging Face tokenizers, sentencepiece) id for id;
 * - model: a Llama-family decoder (Llama, Mistral, Qwen2, Baichuan2) read from `config.json` and
 *   safetensors files (one, or shards listed in model.safetensors.index.json), weights memory-mapped
 *   and widened to float32 one layer at a time; prefill only (no generation, no KV cache);
 * - encoder: both of the above plus LEARN's pooling: the last hidden states after the final norm,
 *   averaged over the text's tokens and L2-normalised, for many texts at once.
 *
 * Every function that can fail returns LR_OK or a negative LR_E* code and writes a message naming
 * the file, the tensor or the setting at fault. Loaded objects are read-only: concurrent calls on
 * one tokenizer, model or encoder from many threads are safe (each call allocates its own
 * scratch). The library sets no process-wide state; matrix products, attention's included, run on
 * OpenBLAS's threads as the program configured them, the rest on the calling thread. */
#ifndef LR_LLM_H
#define LR_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"

/* ---- tokenizer ------------------------------------------------------------------------------ */

typedef struct lr_llm_tokenizer lr_llm_tokenizer;

/* Loads a tokenizer from `path`:
 * - a directory: its tokenizer.json, else its tokenizer.model (then tokenizer_config.json, when
 *   present, decides add_bos_token / add_eos_token as the model's Python tokenizer would; without
 *   it BOS is added and EOS is not, LlamaTokenizer's defaults);
 * - a file ending in .json: a `tokenizers` JSON file;
 * - any other file: a SentencePiece model, encoding exactly as sentencepiece's encode() (no BOS).
 * Anything in a tokenizer file that this library does not implement (a model type, normalizer,
 * pre-tokenizer, post-processor, option value) is refused with LR_EUNSUPPORTED naming it. */
int lr_llm_tokenizer_load(const char *path, lr_llm_tokenizer **out, lr_err *err);
void lr_llm_tokenizer_free(lr_llm_tokenizer *t); /* NULL is a no-op */

/* Token ids of the UTF-8 text[0..len) (NUL bytes allowed), as the tokenizer's pipeline makes them:
 * normalizer, added/special tokens matched in the text, pre-tokenizer, BPE, post-processor (BOS
 * and EOS as its files say). *ids is malloc'd (the caller frees it; NULL when *n is 0). Invalid
 * UTF-8 is LR_EINVAL. */
int lr_llm_tokenize(const lr_llm_tokenizer *t, const char *text, size_t len, int32_t **ids,
                    size_t *n, lr_err *err);

/* Number of ids the tokenizer can produce (vocabulary plus added tokens): every id is below it. */
size_t lr_llm_tokenizer_vocab_size(const lr_llm_tokenizer *t);

/* ---- model ---------------------------------------------------------------------------------- */

typedef struct lr_llm_model lr_llm_model;

typedef enum {
    LR_LLM_WEIGHTS_MAPPED = 0, /* default: weights stay as stored; float32 ones are used in place,
                                  float16 / bfloat16 ones widened a 16 MB panel at a time per call */
    LR_LLM_WEIGHTS_F32 = 1,    /* widened once at load and kept (4 bytes per parameter of memory;
                                  the embedding table stays mapped: a batch reads only its rows) */
} lr_llm_weights;

typedef struct {
    lr_llm_weights weights;
} lr_llm_model_options;

/* Loads dir/config.json and dir/model.safetensors (or the shards that
 * dir/model.safetensors.index.json lists); tensor names with or without the "model." prefix.
 * Architectures: LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM (and their ...Model
 * forms), BaichuanForCausalLM as Baichuan2-7B (fused W_pack q/k/v, θ 10,000). RoPE types
 * default, linear and llama3; sliding windows as transformers applies them (layer_types, else
 * Mistral's sliding_window on every layer, Qwen2's when use_sliding_window). Weights F32, F16 or
 * BF16. Refused by name: any other architecture (Baichuan2-13B's ALiBi included), rope type or
 * hidden_act, a malformed config value, a missing, misshapen or non-float tensor, a malformed
 * safetensors file. opt may be NULL (defaults). */
int lr_llm_model_load(const char *dir, const lr_llm_model_options *opt, lr_llm_model **out,
                      lr_err *err);
void lr_llm_model_free(lr_llm_model *m); /* NULL is a no-op */

typedef struct {
    const char *architecture; /* as config.json names it, e.g. "Qwen2ForCausalLM" */
    size_t hidden;            /* hidden_size: the width of the embeddings made */
    size_t layers, heads, kv_heads, head_dim, ffn, vocab;
    size_t max_positions;     /* max_position_embeddings */
    size_t n_params;          /* parameters read from the files */
    int bos_id, eos_id;       /* from config.json; -1 when unset */
} lr_llm_model_info;

lr_llm_model_info lr_llm_model_get_info(const lr_llm_model *m);

/* The last hidden states after the final norm of one sequence: out is n * hidden floats.
 * Ids must be below the vocabulary size and n at most max_positions (LR_ERANGE otherwise). */
int lr_llm_model_hidden(const lr_llm_model *m, const int32_t *ids, size_t n, float *out,
                        lr_err *err);

/* LEARN's pooled embeddings of n_seq sequences in one batch: row s of out (n_seq * hidden floats)
 * is the mean over sequence s's last hidden states, L2-normalised; a zero row for an empty
 * sequence. The sequences are packed (no padding): each attends only to its own earlier tokens. */
int lr_llm_model_embed(const lr_llm_model *m, const int32_t *const *ids, const size_t *lens,
                       size_t n_seq, float *out, lr_err *err);

/* ---- encoder: texts -> pooled embeddings ---------------------------------------------------- */

typedef struct lr_llm_encoder lr_llm_encoder;

typedef struct {
    size_t max_tokens;          /* texts are cut to their first max_tokens ids; default 512 */
    size_t batch;               /* texts per forward pass; default 32 */
    lr_llm_model_options model; /* how the weights are held */
} lr_llm_encoder_options;

lr_llm_encoder_options lr_llm_encoder_options_default(void);

/* The model and tokenizer of one directory (tokenizer as lr_llm_tokenizer_load(dir)). */
int lr_llm_encoder_open(const char *dir, const lr_llm_encoder_options *opt, lr_llm_encoder **out,
                        lr_err *err);
void lr_llm_encoder_free(lr_llm_encoder *e); /* NULL is a no-op */

size_t lr_llm_encoder_dim(const lr_llm_encoder *e); /* the model's hidden size */
const lr_llm_model *lr_llm_encoder_model(const lr_llm_encoder *e);
const lr_llm_tokenizer *lr_llm_encoder_tokenizer(const lr_llm_encoder *e);

/* Pooled embeddings of n texts (texts[i] NUL-terminated), n * dim floats, in batches of
 * opt.batch. A text with no tokens gets a zero row. */
int lr_llm_encode(const lr_llm_encoder *e, const char *const *texts, size_t n, float *out,
                  lr_err *err);

#endif
