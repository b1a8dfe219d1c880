/* The decoder's prefill forward pass over packed sequences: every token of every sequence is one
 * row of a (T, hidden) matrix, so each linear layer is one sgemm over the whole batch; only RoPE
 * positions and attention look at sequence boundaries. All activations live in one per-call
 * block, so concurrent calls share nothing but the read-only model. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

/* Per-call scratch; shapes for T tokens, the longest sequence L. */
typedef struct {
    float *x;     /* (T, hidden): the residual stream */
    float *h;     /* (T, hidden): its normed copy, the layers' input */
    float *qkv;   /* (T, (H + 2 KV) D): queries, keys, values */
    float *att;   /* (T, H D): attention output */
    float *gu;    /* (T, 2 ffn): gate | up, then silu(gate) * up in the gate half */
    float *panel; /* panel_cap floats: weights widened per product */
    float *cos_t, *sin_t; /* (L, D / 2) */
    float *work;  /* attention scores of one block of queries */
    size_t panel_cap;
    float *block;
} scratch;

int llm_batch_plan(const lr_llm_model *m, llm_batch *b, lr_err *err) {
    size_t T = 0, max_len = 0;
    for (size_t s = 0; s < b->n_seq; s++) {
        size_t n = b->len[s];
        if (n > m->cfg.max_positions)
            return lr_err_set(err, LR_ERANGE, "sequence %zu has %zu tokens, more than the model's "
                              "max_position_embeddings (%zu)", s, n, m->cfg.max_positions);
        if (n && !b->ids[s]) return lr_err_set(err, LR_EINVAL, "sequence %zu: NULL ids", s);
        for (size_t j = 0; j < n; j++)
            if (b->ids[s][j] < 0 || (size_t)b->ids[s][j] >= m->cfg.vocab)
                return lr_err_set(err, LR_ERANGE, "sequence %zu, position %zu: token id %d is "
                                  "outside the vocabulary (vocab_size %zu)", s, j,
                                  (int)b->ids[s][j], m->cfg.vocab);
        b->start[s] = T;
        T += n;
        max_len = n > max_len ? n : max_len;
    }
    /* sgemm takes int sizes: T rows of at most 2^20-wide layers must stay below INT_MAX. */
    if (T > INT_MAX / 2)
        return lr_err_set(err, LR_ERANGE, "%zu tokens in one batch is too many", T);
    b->T = T;
    b->max_len = max_len;
    return LR_OK;
}

/* total += a * k, or 0 on overflow. */
static int grow(size_t *total, size_t a, size_t k) {
    if (k && a > SIZE_MAX / k) return 0;
    if (a * k > SIZE_MAX - *total) return 0;
    *total += a * k;
    return 1;
}

static int scratch_alloc(const lr_llm_model *m, const llm_batch *b, scratch *s, lr_err *err) {
    const llm_config *c = &m->cfg;
    size_t T = b->T, D = c->head_dim, H = c->heads, KV = c->kv_heads;
    s->panel_cap = llm_panel_floats(m->max_mat_cols);
    size_t sizes[8] = {T * c->hidden, T * c->hidden, T * (H + 2 * KV) * D, T * H * D,
                       2 * T * c->ffn, s->panel_cap, b->max_len * D / 2, b->max_len * D / 2};
    size_t total = 0;
    int ok = grow(&total, llm_attention_floats(b->max_len), 1);
    for (int i = 0; i < 8 && ok; i++) ok = grow(&total, sizes[i], 1);
    if (ok) ok = total <= SIZE_MAX / sizeof(float) && (s->block = malloc(total * sizeof(float)));
    if (!ok)
        return lr_err_set(err, LR_ENOMEM, "out of memory for the activations of %zu tokens", T);
    float **at[8] = {&s->x, &s->h, &s->qkv, &s->att, &s->gu, &s->panel, &s->cos_t, &s->sin_t};
    float *p = s->block;
    for (int i = 0; i < 8; i++) {
        *at[i] = p;
        p += sizes[i];
    }
    s->work = p;
    return LR_OK;
}

/* x rows = the embeddings of the batch's ids, widened from the table as stored. */
static void embed(const lr_llm_model *m, const llm_batch *b, float *x) {
    size_t C = m->cfg.hidden, elem = m->embed.dtype == LR_DATA_ST_F32 ? 4 : 2;
    lr_data_st_view v = {NULL, m->embed.dtype, 2, {m->cfg.vocab, C}, m->cfg.vocab * C,
                         m->embed.data, m->cfg.vocab * C * elem};
    for (size_t s = 0; s < b->n_seq; s++)
        for (size_t j = 0; j < b->len[s]; j++) /* ids were checked: cannot fail */
            (void)lr_data_st_widen(&v, (size_t)b->ids[s][j] * C, C, x + (b->start[s] + j) * C, NULL);
}

/* Whether b's rows follow a's in memory (W_pack's q, k, v): then one product does both. */
static int follows(const llm_mat *a, const llm_mat *b) {
    return llm_mat_in_place(a) && llm_mat_in_place(b) && a->cols == b->cols &&
           (const float *)a->data + a->rows * a->cols == (const float *)b->data;
}

/* qkv = h [Wq; Wk; Wv]^T + biases, then RoPE on queries and keys at each token's position. */
static void project_qkv(const lr_llm_model *m, const llm_layer *l, const llm_batch *b,
                        scratch *s) {
    const llm_config *c = &m->cfg;
    size_t T = b->T, D = c->head_dim, H = c->heads, KV = c->kv_heads, ld = (H + 2 * KV) * D;
    if (follows(&l->q, &l->k) && follows(&l->k, &l->v)) {
        llm_mat all = {l->q.data, LR_DATA_ST_F32, ld, c->hidden};
        llm_linear(s->qkv, ld, 0.0f, s->h, c->hidden, T, &all, s->panel, s->panel_cap);
    } else {
        llm_linear(s->qkv, ld, 0.0f, s->h, c->hidden, T, &l->q, s->panel, s->panel_cap);
        llm_linear(s->qkv + H * D, ld, 0.0f, s->h, c->hidden, T, &l->k, s->panel, s->panel_cap);
        llm_linear(s->qkv + (H + KV) * D, ld, 0.0f, s->h, c->hidden, T, &l->v, s->panel,
                   s->panel_cap);
    }
    if (l->bq) llm_add_bias(s->qkv, ld, l->bq, T, H * D);
    if (l->bk) llm_add_bias(s->qkv + H * D, ld, l->bk, T, KV * D);
    if (l->bv) llm_add_bias(s->qkv + (H + KV) * D, ld, l->bv, T, KV * D);
    size_t half = D / 2;
    for (size_t q = 0; q < b->n_seq; q++)
        for (size_t j = 0; j < b->len[q]; j++) {
            float *row = s->qkv + (b->start[q] + j) * ld; /* H query heads, then KV key heads */
            llm_rope_apply(row, H + KV, D, s->cos_t + j * half, s->sin_t + j * half);
        }
}

/* x += attention(norm(x)) Wo^T (+ bo). */
static void attention_block(const lr_llm_model *m, size_t i, const llm_batch *b, scratch *s) {
    const llm_config *c = &m->cfg;
    const llm_layer *l = &m->layer[i];
    size_t T = b->T, D = c->head_dim, H = c->heads, KV = c->kv_heads;
    llm_rmsnorm(s->h, s->x, l->attn_norm, T, c->hidden, (float)c->eps);
    project_qkv(m, l, b, s);
    llm_attention(s->att, s->qkv, (H + 2 * KV) * D, b->start, b->len, b->n_seq, H, KV, D,
                  c->sliding[i] ? c->window : 0, s->work);
    llm_linear(s->x, c->hidden, 1.0f, s->att, H * D, T, &l->o, s->panel, s->panel_cap);
    if (l->bo) llm_add_bias(s->x, c->hidden, l->bo, T, c->hidden);
}

/* x += (silu(norm(x) Wg^T) * norm(x) Wu^T) Wd^T, with biases where the model has them. */
static void mlp_block(const lr_llm_model *m, const llm_layer *l, size_t T, scratch *s) {
    const llm_config *c = &m->cfg;
    size_t C = c->hidden, F = c->ffn;
    llm_rmsnorm(s->h, s->x, l->mlp_norm, T, C, (float)c->eps);
    llm_linear(s->gu, 2 * F, 0.0f, s->h, C, T, &l->gate, s->panel, s->panel_cap);
    llm_linear(s->gu + F, 2 * F, 0.0f, s->h, C, T, &l->up, s->panel, s->panel_cap);
    if (l->bgate) llm_add_bias(s->gu, 2 * F, l->bgate, T, F);
    if (l->bup) llm_add_bias(s->gu + F, 2 * F, l->bup, T, F);
    llm_swiglu(s->gu, 2 * F, T, F);
    llm_linear(s->x, C, 1.0f, s->gu, 2 * F, T, &l->down, s->panel, s->panel_cap);
    if (l->bdown) llm_add_bias(s->x, C, l->bdown, T, C);
}

int llm_forward(const lr_llm_model *m, const llm_batch *b, float *out, lr_err *err) {
    if (!b->T) return LR_OK;
    scratch s = {0};
    int rc = scratch_alloc(m, b, &s, err);
    if (rc) return rc;
    embed(m, b, s.x);
    llm_rope_tables(m->inv_freq, m->cfg.head_dim / 2, b->max_len, s.cos_t, s.sin_t);
    for (size_t i = 0; i < m->cfg.layers; i++) {
        attention_block(m, i, b, &s);
        mlp_block(m, &m->layer[i], b->T, &s);
    }
    llm_rmsnorm(out, s.x, m->final_norm, b->T, m->cfg.hidden, (float)m->cfg.eps);
    free(s.block);
    return LR_OK;
}
