/* Inside towers/: the PAL transformer's layers, each a forward and a backward over flat buffers.
 *
 * As in llm.c: forward arguments are outputs, values saved for backward, inputs, weights,
 * sizes; backward arguments are the input gradients, then dout, then the forward's inputs and
 * saved values, then sizes. Backward functions ACCUMULATE (+=) into every gradient; the trainer
 * zeroes them once per step. Layers allocate nothing and check shapes only with assert.
 *
 * Sequences are packed without padding: a batch of S sequences has M = sum of lengths tokens,
 * and seq_off[0..S] gives each sequence's first token (seq_off[S] = M). */
#ifndef LR_LAYERS_INTERNAL_H
#define LR_LAYERS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* inp (N,C), w (OC,C), b (OC) or NULL, out (N,OC): out = inp w^T + b. */
void lr_towers_linear_forward(float *out, const float *inp, const float *w, const float *b, size_t N,
                       size_t C, size_t OC);
/* dinp (N,C) or NULL, dw (OC,C), db (OC) or NULL. */
void lr_towers_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, size_t N, size_t C, size_t OC);

/* inp, out (N,C); mean, rstd (N) saved; w, b (C). */
void lr_towers_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                          const float *b, size_t N, size_t C);
void lr_towers_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const float *mean, const float *rstd, size_t N, size_t C);

/* GELU, tanh approximation (as GPT-2): out, inp (n). */
void lr_towers_gelu_forward(float *out, const float *inp, size_t n);
void lr_towers_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);

/* Causal multi-head self-attention within each packed sequence.
 * qkv (M,3H) holds q, k, v side by side; out (M,H); att: probabilities saved for backward,
 * sum over sequences of NH * T * T floats, at att_off[s] for sequence s (T = its length). */
void lr_towers_attention_forward(float *out, float *att, const float *qkv, const size_t *seq_off,
                          const size_t *att_off, size_t S, size_t H, size_t NH);
void lr_towers_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                           const float *att, const size_t *seq_off, const size_t *att_off,
                           size_t S, size_t H, size_t NH);

/* Inference: attention for each sequence's last token only, without projecting every token's
 * key and value. For one query q (a head's slice) q.(Wk ln_t + bk) = (Wk^T q).ln_t + q.bk, and the
 * q.bk term is the same for every t, so softmax drops it; and since the weights a_t sum to one,
 * sum_t a_t (Wv ln_t + bv) = Wv (sum_t a_t ln_t) + bv. So per sequence the key and value weights
 * are applied once (to q and to the mixed ln) rather than once per token: for a history of T items
 * that is 2H^2 instead of 2TH^2 multiply-adds, and a 20-item history no longer packs the key and
 * value weights for a matrix product. Same result up to rounding.
 * The P non-empty sequences are packed back to back and last[i] is sequence i's last token (it
 * starts after last[i-1]). ln (M,H): every token's layer-normed input; q (P,H): the last tokens'
 * queries; wk, wv (H,H) and bv (H): the key and value rows of the qkv projection; out (P,H).
 * fold: 2 * P * NH * H floats of scratch; scratch: M floats. */
void lr_towers_attention_last_forward(float *out, const float *q, const float *ln, const float *wk,
                               const float *wv, const float *bv, float *fold, float *scratch,
                               const size_t *last, size_t P, size_t H, size_t NH);

/* Rows of inp (N,C) scaled to unit length: out (N,C), norm (N) saved (a zero row stays zero). */
void lr_towers_l2norm_forward(float *out, float *norm, const float *inp, size_t N, size_t C);
void lr_towers_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                        size_t N, size_t C);

/* Inverted dropout with a saved mask: mask (n) holds 0 or 1/(1-p); out = inp * mask. */
void lr_towers_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                        uint64_t *rng);
void lr_towers_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n);

/* A uniform float in [0, 1) from a xorshift-style generator state. */
float lr_towers_rand_uniform(uint64_t *state);

#endif /* LR_LAYERS_INTERNAL_H */
