/* Inside towers/: the PAL model's parameters, gradients and forward/backward passes.
 *
 * Parameters, gradients and AdamW's two moments are each one allocation laid out by one table
 * of named tensors (the safetensors names), so saving, clipping and the update are one loop. */
#ifndef LR_PAL_INTERNAL_H
#define LR_PAL_INTERNAL_H

#include "lr_towers.h"

#define LR_PAL_MAX_LAYERS 16
#define LR_PAL_MAX_TENSORS (8 + 12 * LR_PAL_MAX_LAYERS)

typedef struct {
    char name[40];
    size_t ndim, shape[2];
    size_t offset, numel; /* in floats, within every one of the four blocks */
    int decay;            /* AdamW weight decay applies (matrices and embeddings) */
} lr_pal_tensor;

typedef struct {
    float *ln1_w, *ln1_b, *qkv_w, *qkv_b, *proj_w, *proj_b;
    float *ln2_w, *ln2_b, *fc_w, *fc_b, *fcp_w, *fcp_b;
} lr_pal_layer;

/* Pointers into one block: the parameters, or their gradients. */
typedef struct {
    float *adapt_w, *adapt_b; /* (H, Dc), (H); content and both modes */
    float *item_emb;          /* (n_items, H); id and both modes */
    float *pos_emb;           /* (max_len, H): row 0 is the newest or the oldest item; when enabled */
    lr_pal_layer layer[LR_PAL_MAX_LAYERS];
    float *lnf_w, *lnf_b;     /* (H) */
    float *out_w, *out_b;     /* (D, H), (D) */
} lr_pal_params;

struct lr_pal {
    lr_pal_config cfg;
    lr_pal_tensor tensors[LR_PAL_MAX_TENSORS];
    size_t n_tensors, n_params;
    float *params_block, *grads_block; /* grads_block is NULL until training starts */
    lr_pal_params p, g;
    /* Inference cache: every item's input embedding (adaptor output, plus its id embedding in
     * both mode) for one content matrix, so a request only gathers rows. Dropped by training. */
    float *cache;            /* (cache_rows, H) */
    size_t cache_rows;
    const float *cache_src;  /* the content data it was computed from */
    /* For one-token passes (the item tower), where attention returns its value: per layer the
     * value and output projections folded into one (H, H) matrix and its (H) bias, so a token
     * takes one H x H product instead of two. Made by lr_towers_pal_load; NULL for a model
     * whose weights may still change (new, or in training). */
    float *vp;
};

/* Makes m->vp from the weights as they are (pal.c); training drops it (train.c). */
int lr_towers_pal_fold_values(lr_pal *m, lr_err *err);

/* One layer's activations, each (M, width) but att (see lr_towers_attention_forward) and the
 * per-row layer-norm statistics (M). */
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *att, *atty, *attproj, *attproj_mask, *res2;
    float *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *fcproj, *fcproj_mask, *res3;
} lr_pal_layer_acts;

/* Activations of one forward pass over S packed sequences (M tokens), whose outputs are taken
 * at P token positions. One pass is used by one thread at a time; buffers grow and are kept. */
typedef struct {
    size_t S, M, P, cap_M, cap_P, cap_att, cap_S, cap_fold;
    size_t *seq_off, *att_off; /* S + 1 each */
    size_t *out_tok;           /* P token indexes whose outputs are wanted */
    int32_t *ids;              /* M item ids (-1: none, e.g. a cold-start item) */
    size_t *pos;               /* M position rows: distance from the sequence's newest item */
    /* The batch's distinct items: the adaptor runs once per item, not once per occurrence */
    int32_t *uniq;             /* U distinct ids (-1 among them: tokens without one) */
    size_t U, cap_slot;
    uint32_t *tok_u;           /* M: each token's row in uniq */
    int32_t *slot;             /* id + 1 -> row in uniq, -1 when absent (cap_slot entries) */
    float *content;            /* (U, Dc) the distinct items' content rows */
    float *emb_u, *demb_u;     /* (U, H) their adaptor outputs, and its gradient */
    /* Set by a caller that runs the adaptor itself over the whole catalogue (training with the
     * full softmax: both towers gather from one table): the forward takes token t's adaptor row
     * from table[id], the backward adds its gradient into dtable[id] instead of running the
     * adaptor's backward. Both NULL: the pass runs the adaptor over its own distinct items. */
    const float *table;
    float *dtable;
    float *emb, *emb_mask, *x0; /* (M, H) */
    lr_pal_layer_acts l[LR_PAL_MAX_LAYERS];
    float *sel, *lnf, *lnf_mean, *lnf_rstd, *proj, *norm, *out; /* P rows */
    float *fold; /* 2 * P * heads * H when last_only: the last layer's folded attention */
    /* backward scratch */
    float *dres, *dres2, *dH1, *dH4a, *dH4b, *dqkv, *datt, *dsel, *dlnf, *dproj;
    /* Training in both mode: each token's id embedding is left out with this probability
     * (modality dropout: the content side must carry the item alone); id_kept[t] records it. */
    float id_dropout;
    unsigned char *id_kept; /* M */
    int training; /* dropout on */
    int last_only; /* outputs only at each sequence's last token: inference may skip work */
    int shortcut;  /* the last forward skipped work: its activations cannot feed a backward */
    uint64_t rng;
} lr_pal_pass;

void lr_towers_pal_pass_free(lr_pal_pass *ps);

/* Lays out the batch: S sequences of item ids given by items/offsets (each cut to its newest
 * max_len items), outputs at each sequence's last token. An id of -1 is a token without an id
 * embedding (a cold-start item whose content row comes from lr_towers_pal_forward_rows). */
int lr_towers_pal_pass_setup(const lr_pal *m, lr_pal_pass *ps, const int32_t *items,
                      const size_t *offsets, size_t S, lr_err *err);
/* The same, but sequence s outputs at its last n_out[s] tokens (at least 1, at most its length;
 * NULL: 1 each), P growing to match: with causal attention and positions that do not count
 * from the end, token t's output is exactly the output for the prefix ending at t. */
int lr_towers_pal_pass_setup_ex(const lr_pal *m, lr_pal_pass *ps, const int32_t *items,
                         const size_t *offsets, size_t S, const uint32_t *n_out, lr_err *err);

/* Forward over the laid-out batch; content: (n_items, Dc) (row = item id), or NULL in id mode.
 * Writes P unit-length outputs to ps->out (P, D). */
void lr_towers_pal_forward(const lr_pal *m, lr_pal_pass *ps, const float *content);
/* Forward for tokens whose content rows are given directly (rows: M x Dc, one per token; each
 * token its own item). */
void lr_towers_pal_forward_rows(const lr_pal *m, lr_pal_pass *ps, const float *rows);

/* Backward from dout (P, D) into m->g (accumulating). Needs the pass's forward activations. */
void lr_towers_pal_backward(lr_pal *m, lr_pal_pass *ps, const float *dout);

int lr_towers_pal_alloc_grads(lr_pal *m, lr_err *err);
void lr_towers_pal_zero_grads(lr_pal *m);

/* Normal(0, 1) draws for initialisation, from a splitmix64 state. */
float lr_towers_rand_normal(uint64_t *state);

#endif /* LR_PAL_INTERNAL_H */
