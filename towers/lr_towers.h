/* The towers library: LEARN's two towers over item content, in five parts:
 * - content: the N x Dc matrix whose row i is item i's content embedding (CEX), an lr_data_matrix
 *   read from .npy / .fvecs or made by
 * - the built-in text encoder (TF-IDF features, projected), fitted on a catalogue, saved, loaded;
 * - PAL: the preference-alignment transformer, its user tower (a history -> one vector) and item
 *   tower (an item -> one vector), saved as safetensors;
 * - training: InfoNCE with AdamW on users' behaviour, early stopping on validation recall;
 * - evaluation: full-ranking Recall/NDCG/MRR, and the baselines the towers must beat.
 * Objects are opaque; each constructor (_new, _open, _load, _fit) has one _free, and _free(NULL)
 * does nothing. A loaded content matrix, text encoder or model is read-only: its getters, encode
 * and embed calls may run from many threads at once (each with its own workspace). The library
 * never changes thread settings: the program does. */
#ifndef LR_TOWERS_H
#define LR_TOWERS_H

#include <stddef.h>
#include <stdint.h>

#include "lr_data.h" /* towers are built on datasets: lr_data, lr_split, lr_data_matrix */
#include "lr_error.h"

/* ---- content matrix ------------------------------------------------------------------------ */

/* A content matrix: an lr_data_matrix (lr_data.h: opened from .npy / .fvecs, checked, mapped)
 * whose row i is item i's content embedding; open it with lr_data_matrix_open(path,
 * n_items, ...) so that its rows must match the catalogue. */
typedef struct lr_data_matrix lr_content;

/* ---- built-in text encoder (the default CEX) ----------------------------------------------- */

/* TF-IDF over word unigrams, word bigrams and character n-grams inside words, each group
 * L2-normalised and weighted, then reduced to `dim` (default 2,048) by a projection learned
 * with an eigen-decomposition, LSA-style, of a sparse random projection to twice that width,
 * or by a random projection alone, and L2-normalised.
 * Fitted on a catalogue's text; saved and loaded, so new text encodes into the same space. */
typedef struct lr_text_encoder lr_text_encoder;

typedef enum { LR_PROJ_RANDOM = 0, LR_PROJ_SVD = 1 } lr_text_projection;

typedef struct {
    size_t dim;                 /* output dimension Dc */
    size_t min_df;              /* features seen in fewer documents are dropped */
    size_t max_features;        /* keep at most this many, the most frequent first */
    size_t char_ngram_min, char_ngram_max; /* character n-grams of words padded with spaces */
    float word_weight, bigram_weight, char_weight; /* relative weights of the feature groups */
    lr_text_projection projection;
    size_t proj_nnz;            /* non-zeros per feature in the random projection */
    size_t svd_input_dim;       /* random-projection width that the learned projection reduces
                                 * (0: twice dim, at most 16,384; a fitted encoder keeps the width) */
    size_t svd_max_rows;        /* rows sampled to learn the projection */
    uint64_t seed;
} lr_text_encoder_config;

lr_text_encoder_config lr_towers_text_encoder_config_default(void);
/* The width the learned projection reduces from: svd_input_dim, or its default for dim. */
size_t lr_towers_text_svd_width(const lr_text_encoder_config *c);

/* Fits on n texts (a NULL text counts as empty). */
int lr_towers_text_encoder_fit(const lr_text_encoder_config *cfg, const char *const *texts,
                               size_t n, lr_text_encoder **out, lr_err *err);
/* out: n * dim floats, each row L2-normalised (an all-zero row when no feature is known). */
int lr_towers_text_encoder_encode(const lr_text_encoder *e, const char *const *texts, size_t n,
                                  float *out, lr_err *err);
size_t lr_towers_text_encoder_dim(const lr_text_encoder *e);
size_t lr_towers_text_encoder_num_features(const lr_text_encoder *e);
lr_text_encoder_config lr_towers_text_encoder_get_config(const lr_text_encoder *e);

/* A binary file with a magic, a version and a CRC-32; written aside and renamed into place. */
int lr_towers_text_encoder_save(const lr_text_encoder *e, const char *path, lr_err *err);
int lr_towers_text_encoder_load(const char *path, lr_text_encoder **out, lr_err *err);
void lr_towers_text_encoder_free(lr_text_encoder *e);

/* ---- PAL: the preference-alignment transformer and its two towers ---------------------------- */

/* What an item is made of at the input: its content (LEARN), a learned id embedding, or both. */
typedef enum { LR_PAL_CONTENT = 0, LR_PAL_ID = 1, LR_PAL_BOTH = 2 } lr_pal_mode;

/* Where position embeddings count from. From the newest item, the item a user acted on last is
 * always at position 0, but every prefix of a training sequence is its own sequence; from the
 * oldest (or without positions), one causal pass over a training sequence yields every prefix's
 * output at once, which makes training several times cheaper. */
typedef enum { LR_POS_NONE = 0, LR_POS_NEWEST = 1, LR_POS_OLDEST = 2 } lr_pos_emb;
/* Not a model's setting: training's choice, lr_towers_train_pick_positions (learnrec train's default). */
#define LR_POS_AUTO 3

typedef struct {
    size_t content_dim; /* Dc, the content embeddings' width (content and both modes) */
    size_t n_items;     /* rows of the id embedding table (id and both modes) */
    size_t hidden;      /* H */
    size_t layers;      /* L causal transformer layers (pre-LN) */
    size_t heads;
    size_t out_dim;     /* D, the towers' output */
    size_t max_len;     /* history items the user tower reads (the newest) */
    lr_pos_emb pos_emb; /* learned position embeddings: LR_POS_NONE, _NEWEST or _OLDEST */
    lr_pal_mode mode;
    float dropout;      /* on the input embedding and both residual branches, training only */
} lr_pal_config;

/* H 256, L 1, 4 heads, D 64, 50 items, positions from the newest, content mode, dropout 0.1;
 * content_dim and n_items must be set by the caller. */
lr_pal_config lr_towers_pal_config_default(void);
const char *lr_towers_pal_mode_name(lr_pal_mode m); /* "content", "id", "both" */

typedef struct lr_pal lr_pal;

int lr_towers_pal_new(const lr_pal_config *cfg, uint64_t seed, lr_pal **out, lr_err *err);
lr_pal_config lr_towers_pal_get_config(const lr_pal *m);
size_t lr_towers_pal_num_params(const lr_pal *m);
void lr_towers_pal_free(lr_pal *m);

/* safetensors: every tensor float32 under its name, the config in __metadata__ (plus the
 * optional key/value strings given here, e.g. the content file's checksum). Loading checks
 * every name, shape and dtype, and refuses a truncated or inconsistent file. */
int lr_towers_pal_save(const lr_pal *m, const char *path, const char *const *meta_keys,
                       const char *const *meta_values, size_t n_meta, lr_err *err);
int lr_towers_pal_load(const char *path, lr_pal **out, lr_err *err);
/* A metadata value of the last loaded/saved file is not kept: read it with this helper. */
int lr_towers_pal_file_meta(const char *path, const char *key, char *value, size_t cap, lr_err *err);

/* Precomputes every item's input embedding for this content matrix (n x H floats) so the towers
 * then only gather rows: the serving path. Optional; dropped by lr_towers_train. Not thread-safe
 * with concurrent embeds: call it before serving. `content` must outlive the cache's use. */
int lr_towers_pal_cache_content(lr_pal *m, const lr_content *content, lr_err *err);

/* User tower: n_users histories (items[offsets[u] .. offsets[u+1]), oldest first; only the newest
 * max_len count), output at the newest item. out: n_users * D, unit rows; an empty history gives
 * a zero row. content: the content matrix (NULL in id mode). Safe from many threads. */
int lr_towers_user_embed(const lr_pal *m, const lr_content *content, const int32_t *items,
                         const size_t *offsets, size_t n_users, float *out, lr_err *err);
/* Scratch for tower inference, reused across calls so a request allocates nothing once warm.
 * One workspace per thread; it grows to the largest batch it has seen. */
typedef struct lr_towers_ws lr_towers_ws;
int lr_towers_ws_new(lr_towers_ws **out, lr_err *err);
void lr_towers_ws_free(lr_towers_ws *ws);
/* lr_towers_user_embed with a caller's workspace (the serving path). */
int lr_towers_user_embed_ws(const lr_pal *m, lr_towers_ws *ws, const lr_content *content,
                            const int32_t *items, const size_t *offsets, size_t n_users,
                            float *out, lr_err *err);

/* Item tower (each item alone, LEARN's variant b) for item ids (NULL: all n items 0..n-1). */
int lr_towers_item_embed(const lr_pal *m, const lr_content *content, const int32_t *items,
                         size_t n, float *out, lr_err *err);
/* Item tower for new items known only by their content rows (n * Dc): cold start. */
int lr_towers_item_embed_content(const lr_pal *m, const float *rows, size_t n, float *out,
                                 lr_err *err);

/* An evaluation split's histories (each user's newest max_len items before the split's target)
 * packed into *items / *off (n + 1 offsets), and the targets: of every user (stride 0; target -1
 * where a user has none), or of every stride-th user that has a target. Each array malloc'd; the
 * caller frees all three, also after an error. */
int lr_towers_split_histories(const struct lr_data *d, lr_split split, size_t max_len, size_t stride,
                              int32_t **items, size_t **off, int32_t **targets, size_t *n, lr_err *err);

/* User-tower outputs for an evaluation split: users_out (n_users * D) from each user's history
 * before the split's target (zero rows for users without one), targets_out (n_users, -1: none). */
int lr_towers_embed_split(const lr_pal *m, const struct lr_data *d, const lr_content *content,
                          lr_split split, float *users_out, int32_t *targets_out, lr_err *err);

/* ---- training --------------------------------------------------------------------------------- */

/* Under LR_NEG_AUTO a catalogue trains with the full softmax while it has at most this many
 * times the candidates a sampled step scores (batch_size + sampled, 2,048 by default: 8,192
 * items). The full softmax runs the item tower over every item each step; on Scientific (4,385
 * items) it scored 3% better than sampled at half the speed, on the long-history set (9,125
 * items) sampled was needed for 10x (docs/benchmarks.md). */
#define LR_TRAIN_FULL_SOFTMAX_FACTOR 4

typedef enum {
    LR_NEG_AUTO = 0,    /* full softmax for small catalogues, sampled beyond (LR_TRAIN_FULL_SOFTMAX_FACTOR) */
    LR_NEG_FULL = 1,    /* every item is a negative: the item tower runs over all items each step */
    LR_NEG_INBATCH = 2, /* the batch's distinct targets are the candidates (same-id negatives drop out) */
    LR_NEG_SAMPLED = 3  /* the batch's distinct targets plus uniformly drawn items, each logit
                         * corrected by the log of its item's chance to be a candidate (log-Q) */
} lr_negatives;

typedef struct {
    size_t epoch, epochs;         /* 1-based epoch */
    size_t step, steps;           /* within the epoch */
    double loss;                  /* running mean over the epoch */
    double examples_per_s, eta_s; /* ETA for the whole run at the current pace */
    int epoch_done;               /* set on the report after each epoch's validation */
    double valid_recall10, best_valid_recall10;
    size_t best_epoch;
} lr_train_progress;

typedef struct {
    size_t epochs;       /* at most */
    size_t batch_size;   /* examples per step (users in the dense all-action loss) */
    float lr, weight_decay, warmup; /* AdamW (0.9, 0.98, 1e-6); warm-up as a share of all steps */
    float temperature;   /* InfoNCE over cosine logits */
    float label_smoothing; /* share of the target's mass spread over all candidates (0: none) */
    float id_dropout;    /* both mode: the chance a token's id embedding is left out (0: never) */
    float clip;          /* global gradient norm; 0 turns clipping off */
    lr_negatives negatives;
    size_t sampled;      /* uniformly drawn candidates per step with sampled negatives */
    int dense_all_action; /* PinnerFormer's dense all-action loss instead of next-item */
    size_t dense_nh, dense_nt; /* history positions and targets per user in that loss (10, 10) */
    size_t window_stride; /* positions not from the newest: items between windows' ends (0: max_len / 2) */
    size_t patience;     /* stop after this many epochs without a better valid Recall@10; 0: never */
    uint64_t seed;
    void (*progress)(const lr_train_progress *p, void *ctx); /* may be NULL */
    void *progress_ctx;
    size_t progress_every; /* steps between progress calls */
} lr_train_config;

/* 30 epochs, batch 1024, lr 1e-3, weight decay 0.01, warm-up 5%, temperature 0.05, clip 1,
 * negatives auto, next-item loss, window stride max_len / 2, patience 5, all cores, seed 1. */
lr_train_config lr_towers_train_config_default(void);
const char *lr_towers_negatives_name(lr_negatives n); /* "all-item", "in-batch", "sampled", "auto" */
/* Positions counted from the newest item (one pass per prefix) when that costs at most
 * LR_TRAIN_PREFIX_MAX_RATIO times the history tokens of windows: short histories, where one pass
 * per prefix scored best (docs/benchmarks.md). Otherwise positions from the oldest item,
 * trained in windows. *ratio (may be NULL) gets the ratio. */
#define LR_TRAIN_PREFIX_MAX_RATIO 5.0
int lr_towers_train_pick_positions(const struct lr_data *d, size_t max_len, const lr_train_config *c,
                                   double *ratio);
/* The window stride training uses for a model reading max_len items: 1 to max_len. */
size_t lr_towers_train_stride(const lr_train_config *c, size_t max_len);

typedef struct {
    size_t epochs_run, best_epoch, examples_per_epoch;
    double best_valid_recall10, seconds, examples_per_s, final_loss;
    /* of seconds, the validation passes; examples/s of the steps alone (what a step costs, as
     * other trainers report it) */
    double valid_seconds, step_examples_per_s;
    lr_negatives negatives; /* which negatives were used: FULL, INBATCH or SAMPLED */
} lr_train_report;

/* Trains the model on the dataset's training part (every prefix of each user's sequence predicts
 * its next item), validating on the valid targets after each epoch; the model ends with the
 * weights of the best epoch. Seeded and repeatable for a fixed thread count. */
int lr_towers_train(lr_pal *m, const struct lr_data *d, const lr_content *content,
                    const lr_train_config *cfg, lr_train_report *report, lr_err *err);

/* ---- full-ranking evaluation ------------------------------------------------------------------ */

/* Metrics averaged over users, each target ranked among all items (design.md section 3).
 * Ties are broken at random in expectation: an item tied with the target counts half. */
typedef struct {
    size_t users;
    double recall10, ndcg10, recall50, ndcg50, mrr;
} lr_eval_metrics;

/* Scores every item for every user by inner product. users: n_users * dim; items: n_items * dim;
 * targets: n_users item indexes (a negative target skips the user). */
int lr_towers_eval_vectors(const float *users, size_t n_users, const int32_t *targets,
                           const float *items, size_t n_items, size_t dim, lr_eval_metrics *out,
                           lr_err *err);

/* Where one user's target landed: `above` items scored higher, `ties` others scored the same
 * (its rank is above + U, U uniform on 0..ties, which the metrics take the expectation of). */
typedef struct {
    size_t above, ties;
} lr_eval_rank;

/* lr_towers_eval_vectors keeping each user's rank (ranks: n_users; users without a target get
 * {SIZE_MAX, 0}) and, when top is not NULL, each user's best top_k items (n_users * top_k ids,
 * best first, ties by lower id; -1 rows for users without a target). With ex_off (n_users + 1
 * offsets into ex_items), user u's items ex_items[ex_off[u] .. ex_off[u + 1]) are left out of
 * the ranking (their history: a target among them ranks last); NULL: none. */
int lr_towers_eval_ranks(const float *users, size_t n_users, const int32_t *targets, const float *items,
                         size_t n_items, size_t dim, const size_t *ex_off, const int32_t *ex_items,
                         lr_eval_rank *ranks, size_t top_k, int32_t *top, lr_err *err);

/* The metrics of the users with a target whose in_slice byte is set (in_slice NULL: all). */
void lr_towers_eval_summarize(const lr_eval_rank *ranks, const int32_t *targets, const unsigned char *in_slice,
                              size_t n_users, lr_eval_metrics *out);

/* One score per item, the same for every user (popularity). */
int lr_towers_eval_scores(const float *scores, size_t n_items, const int32_t *targets,
                          size_t n_users, lr_eval_metrics *out, lr_err *err);

/* ---- baselines the towers must beat ---------------------------------------------------------- */

struct lr_data;

/* LEARN's variant (c), "no PAL": a user is the mean content embedding of the (at most max_hist)
 * items before the split's target. users_out: n_users * dim; targets_out: n_users (-1: none). */
int lr_towers_baseline_mean_content(const struct lr_data *d, const lr_content *content,
                                    lr_split split, size_t max_hist, float *users_out,
                                    int32_t *targets_out, lr_err *err);

/* How often each item occurs in the training part of the sequences. scores_out: n_items. */
void lr_towers_baseline_popularity(const struct lr_data *d, float *scores_out);

#endif /* LR_TOWERS_H */
