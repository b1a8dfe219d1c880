/* Training PAL: batches of windows or prefixes (train_layout.c), InfoNCE over cosine logits
 * (train_loss.c) with full, in-batch or sampled negatives, the next-item or the dense all-action
 * objective, AdamW with warm-up and a cosine schedule, clipping, and early stopping on
 * validation Recall@10. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lr_data.h"
#include "layers_internal.h"
#include "pal_internal.h"
#include "train_internal.h"

#define DENSE_ALPHA 10.0
#define DENSE_BETA 10000.0

lr_train_config lr_towers_train_config_default(void) {
    lr_train_config c = {.epochs = 30, .batch_size = 1024, .lr = 1e-3f, .weight_decay = 0.01f,
                         .warmup = 0.05f, .temperature = 0.05f, .clip = 1.0f,
                         .negatives = LR_NEG_AUTO, .sampled = 1024, .dense_all_action = 0, .dense_nh = 10,
                         .dense_nt = 10, .patience = 5, .seed = 1,
                         .progress = NULL, .progress_ctx = NULL, .progress_every = 10};
    return c;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One unit of a batch. Next-item loss: the window of `user`'s newest max_len items before `end`
 * (seq[end - max_len .. end)), whose last n_pred tokens each predict the item after them (each
 * token's output is its prefix's output: causal attention, positions not counted from the end);
 * n_pred is 1 for a single prefix predicting seq[end]. Dense loss: a whole user (end unused). */
typedef struct {
    uint32_t user, end, n_pred;
} example;


typedef struct {
    const lr_train_config *cfg;
    lr_pal *m;
    const lr_data *d;
    const lr_content *ct;          /* the content matrix (NULL in id mode) */
    const float *content;          /* its rows */
    lr_negatives neg;              /* FULL, INBATCH or SAMPLED */
    int full;                      /* neg == LR_NEG_FULL */
    float *logq;                   /* SAMPLED: each item's log chance to be a candidate in a step */
    float *shift;                  /* SAMPLED: the step's candidates' logq */
    size_t shift_cap;
    lr_pal_pass up, ip;            /* user pass, item pass */
    int32_t *items;                /* batch histories, packed */
    size_t *offsets, items_cap, offsets_cap;
    uint32_t *n_out;               /* per batch sequence: outputs at its last n_out tokens */
    size_t n_out_cap, rows;        /* user rows (outputs) laid out so far */
    lr_train_pair *pairs;
    size_t n_pairs, pairs_cap;
    int32_t *cand;                 /* candidate item ids (in-batch) */
    size_t n_cand, cand_cap;
    size_t *cand_off, cand_off_cap; /* the candidates' pass offsets: 0, 1, ..., n_cand */
    int32_t *slot;                 /* item id -> candidate column, -1 if absent (in-batch) */
    float *logits, *dU, *dV;
    size_t logits_cap, dU_cap, dV_cap;
    float *m1, *m2, *best;         /* AdamW moments, best weights */
    float *table, *dtable;         /* full softmax, content: every item's adaptor row, its gradient */
    uint64_t rng;
} trainer;

static int grow(void *pp, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void **p = pp;
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

/* Appends the newest max_len items of seq[0..end) as one sequence of the batch, with outputs at
 * its last n_out tokens. */
static int push_history(trainer *t, const int32_t *seq, size_t end, size_t *n_seq, uint32_t n_out) {
    size_t maxlen = t->m->cfg.max_len, start = end > maxlen ? end - maxlen : 0;
    size_t used = t->offsets[*n_seq];
    if (grow(&t->items, &t->items_cap, used + end - start, sizeof *t->items) ||
        grow(&t->offsets, &t->offsets_cap, *n_seq + 2, sizeof *t->offsets))
        return -1;
    if (grow(&t->n_out, &t->n_out_cap, *n_seq + 1, sizeof *t->n_out)) return -1;
    memcpy(t->items + used, seq + start, (end - start) * sizeof *seq);
    t->n_out[*n_seq] = n_out;
    t->offsets[++*n_seq] = used + end - start;
    return 0;
}

/* The step's candidate column of item (not with the full softmax), added if it is new: -1 when
 * out of memory. */
static int32_t candidate_column(trainer *t, int32_t item) {
    if (t->slot[item] < 0) {
        if (grow(&t->cand, &t->cand_cap, t->n_cand + 1, sizeof *t->cand)) return -1;
        t->slot[item] = (int32_t)t->n_cand;
        t->cand[t->n_cand++] = item;
    }
    return t->slot[item];
}

static int add_pair(trainer *t, size_t row, int32_t item, float w) {
    if (grow(&t->pairs, &t->pairs_cap, t->n_pairs + 1, sizeof *t->pairs)) return -1;
    int32_t col = t->full ? item : candidate_column(t, item); /* in-batch: among the distinct targets */
    if (col < 0) return -1;
    t->pairs[t->n_pairs++] = (lr_train_pair){row, (size_t)col, w};
    return 0;
}

static uint64_t next_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* k distinct sorted values from [lo, hi), all of them when there are at most k. */
static size_t sample_sorted(uint64_t *rng, size_t lo, size_t hi, size_t k, size_t *out) {
    size_t n = hi > lo ? hi - lo : 0;
    if (n <= k) {
        for (size_t i = 0; i < n; i++) out[i] = lo + i;
        return n;
    }
    size_t got = 0; /* selection sampling (Knuth's algorithm S) keeps them sorted */
    for (size_t i = 0; i < n && got < k; i++)
        if (next_u64(rng) % (n - i) < k - got) out[got++] = lo + i;
    return got;
}

/* Lays out user histories and (row, column, weight) pairs from the examples, until the batch
 * holds batch_size predictions (users, for the dense loss). Returns the examples consumed. */
static size_t build_batch(trainer *t, const example *ex, size_t n_ex, size_t *n_seq, int *fail) {
    const lr_train_config *cfg = t->cfg;
    size_t taken = 0, preds = 0;
    *n_seq = 0;
    *fail = 0;
    t->offsets[0] = 0;
    t->n_pairs = 0;
    t->rows = 0;
    for (size_t i = 0; i < t->n_cand; i++) t->slot[t->cand[i]] = -1;
    t->n_cand = 0;
    for (; taken < n_ex && preds < cfg->batch_size; taken++) {
        const example *e = &ex[taken];
        size_t len;
        const int32_t *seq = lr_data_user_sequence(t->d, e->user, &len);
        (void)len;
        if (!cfg->dense_all_action) { /* token i of the window predicts seq[i + 1] */
            if (push_history(t, seq, e->end, n_seq, e->n_pred)) goto oom;
            for (size_t i = e->end - e->n_pred; i < e->end; i++)
                if (add_pair(t, t->rows++, seq[i + 1], 1.0f)) goto oom;
            preds += e->n_pred;
            continue;
        }
        /* Dense all-action: cut the training part at c; N_h prefixes ending at or before c each
         * predict N_t items after it, weighted towards the most recent prefixes. */
        size_t train_len = lr_data_user_split(t->d, e->user).train_len;
        size_t c = 1 + (size_t)(next_u64(&t->rng) % (train_len - 1)); /* 1 .. train_len-1 */
        size_t hist[64], tgt[64];
        size_t nh = sample_sorted(&t->rng, 1, c + 1, cfg->dense_nh, hist);
        size_t nt = sample_sorted(&t->rng, c, train_len, cfg->dense_nt, tgt);
        for (size_t i = 0; i < nh; i++) {
            double w = nh > 1 ? log(DENSE_ALPHA + (double)i * (DENSE_BETA - DENSE_ALPHA) / (double)(nh - 1))
                              : 1.0;
            w /= log(DENSE_BETA);
            if (push_history(t, seq, hist[i], n_seq, 1)) goto oom;
            for (size_t j = 0; j < nt; j++)
                if (add_pair(t, t->rows, seq[tgt[j]], (float)w)) goto oom;
            t->rows++;
        }
        preds++;
    }
    return taken;
oom:
    *fail = 1;
    return taken;
}

static void clip_and_update(trainer *t, size_t step, size_t total_steps) {
    lr_pal *m = t->m;
    const lr_train_config *c = t->cfg;
    float *g = m->grads_block, *p = m->params_block;
    size_t n = m->n_params;
    if (c->clip > 0.0f) {
        double ss = 0.0;
        for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
        double norm = sqrt(ss);
        if (norm > c->clip) {
            float s = (float)(c->clip / norm);
            for (size_t i = 0; i < n; i++) g[i] *= s;
        }
    }
    size_t warm = (size_t)(c->warmup * (float)total_steps);
    if (warm < 1) warm = 1;
    double lr = step < warm ? c->lr * (double)(step + 1) / (double)warm
                            : c->lr * 0.5 * (1.0 + cos(M_PI * (double)(step - warm) /
                                                       (double)(total_steps > warm ? total_steps - warm : 1)));
    const float b1 = 0.9f, b2 = 0.98f, eps = 1e-6f;
    float bc1 = 1.0f - powf(b1, (float)(step + 1)), bc2 = 1.0f - powf(b2, (float)(step + 1));
    for (size_t k = 0; k < m->n_tensors; k++) {
        const lr_pal_tensor *tt = &m->tensors[k];
        float wd = tt->decay ? c->weight_decay : 0.0f;
        for (size_t i = tt->offset; i < tt->offset + tt->numel; i++) {
            float gi = g[i];
            t->m1[i] = b1 * t->m1[i] + (1.0f - b1) * gi;
            t->m2[i] = b2 * t->m2[i] + (1.0f - b2) * gi * gi;
            float mh = t->m1[i] / bc1, vh = t->m2[i] / bc2;
            p[i] -= (float)lr * (mh / (sqrtf(vh) + eps) + wd * p[i]);
        }
    }
}

/* Validation ranks each target among all items; beyond this many (user, item) pairs it takes an
 * evenly spaced sample of the users with a target, so that a 1M-item catalogue validates 10,000
 * users (a 0.64 T multiply-add ranking, seconds) instead of all 200,000 (minutes). */
#define VALID_MAX_PAIRS 1e10

/* Recall@10 on the validation targets (dropout off). */
static int validate(trainer *t, double *recall10, lr_err *err) {
    const lr_pal *m = t->m;
    size_t nu = lr_data_num_users(t->d), ni = lr_data_num_items(t->d), D = m->cfg.out_dim, n = 0;
    size_t cap = (size_t)(VALID_MAX_PAIRS / (double)(ni ? ni : 1)), stride = cap && nu > cap ? (nu + cap - 1) / cap : 1;
    int32_t *hist = NULL, *targets = NULL;
    size_t *off = NULL;
    float *users = NULL, *items = malloc(ni * D * sizeof *items);
    lr_eval_metrics met;
    int rc = lr_towers_split_histories(t->d, LR_SPLIT_VALID, m->cfg.max_len, stride, &hist, &off, &targets, &n, err);
    if (!rc && (!items || !(users = malloc((n ? n : 1) * D * sizeof *users))))
        rc = lr_err_set(err, LR_ENOMEM, "validation: out of memory");
    if (!rc && !(rc = lr_towers_user_embed(m, t->ct, hist, off, n, users, err)) &&
        !(rc = lr_towers_item_embed(m, t->ct, NULL, ni, items, err)) &&
        !(rc = lr_towers_eval_vectors(users, n, targets, items, ni, D, &met, err)))
        *recall10 = met.recall10;
    free(hist), free(off), free(targets), free(users), free(items);
    return rc;
}

static void trainer_free(trainer *t) {
    lr_towers_pal_pass_free(&t->up);
    lr_towers_pal_pass_free(&t->ip);
    free(t->items); free(t->offsets); free(t->n_out); free(t->pairs); free(t->cand); free(t->cand_off); free(t->slot);
    free(t->logits); free(t->dU); free(t->dV); free(t->logq); free(t->shift); free(t->table); free(t->dtable);
    free(t->m1); free(t->m2); free(t->best);
}

static int check_inputs(const lr_pal *m, const lr_data *d, const lr_content *content,
                        const lr_train_config *c, lr_err *err) {
    size_t ni = lr_data_num_items(d);
    if (m->cfg.mode != LR_PAL_ID) {
        if (!content) return lr_err_set(err, LR_EINVAL, "training in %s mode needs content embeddings",
                                        lr_towers_pal_mode_name(m->cfg.mode));
        if (lr_data_matrix_rows(content) != ni || lr_data_matrix_dim(content) != m->cfg.content_dim)
            return lr_err_set(err, LR_EMISMATCH, "content is %zu x %zu; the dataset has %zu items "
                              "and the model reads %zu dimensions", lr_data_matrix_rows(content),
                              lr_data_matrix_dim(content), ni, m->cfg.content_dim);
    }
    if (m->cfg.mode != LR_PAL_CONTENT && m->cfg.n_items != ni)
        return lr_err_set(err, LR_EMISMATCH, "the model has %zu id embeddings, the dataset %zu items",
                          m->cfg.n_items, ni);
    if (c->epochs < 1 || c->batch_size < 1 || !(c->lr > 0) || !(c->temperature > 0) ||
        !(c->weight_decay >= 0) || !(c->warmup >= 0 && c->warmup < 1) || !(c->clip >= 0) ||
        !(c->label_smoothing >= 0 && c->label_smoothing < 1) || !(c->id_dropout >= 0 && c->id_dropout < 1))
        return lr_err_set(err, LR_EINVAL, "training: epochs, batch size, lr and temperature must be "
                          "> 0; weight decay and clip >= 0; warm-up, label smoothing and id dropout in [0, 1)");
    if (c->id_dropout > 0 && m->cfg.mode != LR_PAL_BOTH)
        return lr_err_set(err, LR_EINVAL, "id dropout leaves out an item's id embedding beside its content: "
                          "it needs mode both, and the model is in %s mode", lr_towers_pal_mode_name(m->cfg.mode));
    if (c->dense_all_action && (c->dense_nh < 1 || c->dense_nh > 64 || c->dense_nt < 1 || c->dense_nt > 64))
        return lr_err_set(err, LR_EINVAL, "dense loss: history positions and targets per user must "
                          "be 1 to 64");
    return LR_OK;
}

/* The examples of one epoch, in user order (each epoch shuffles them): *n_pred counts the
 * predictions they make, the windows are lr_towers_train_windows'. */
static int build_examples(const trainer *t, example **out, size_t *n_out, size_t *n_pred, lr_err *err) {
    const lr_train_config *cfg = t->cfg;
    size_t nu = lr_data_num_users(t->d), maxlen = t->m->cfg.max_len, n_ex = 0, longest = 1;
    size_t stride = lr_towers_train_stride(cfg, maxlen);
    int per_prefix = t->m->cfg.pos_emb == LR_POS_NEWEST;
    example *ex = NULL;
    uint32_t *ends = NULL, *preds = NULL;
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        n_ex = 0;
        *n_pred = 0;
        for (size_t u = 0; u < nu; u++) {
            size_t tl = lr_data_user_split(t->d, u).train_len;
            if (tl < 2) continue;
            longest = tl > longest ? tl : longest;
            if (cfg->dense_all_action) {
                if (pass) ex[n_ex] = (example){(uint32_t)u, 0, 0};
                n_ex++;
                (*n_pred)++;
                continue;
            }
            *n_pred += tl - 1;
            size_t w = lr_towers_train_windows(tl, maxlen, stride, per_prefix, pass ? ends : NULL, preds);
            for (size_t i = 0; pass && i < w; i++) ex[n_ex + i] = (example){(uint32_t)u, ends[i], preds[i]};
            n_ex += w;
        }
        if (n_ex == 0) return lr_err_set(err, LR_EINVAL, "training: no user has two training items");
        if (!pass) {
            ex = malloc(n_ex * sizeof *ex);
            ends = malloc(longest * sizeof *ends);
            preds = malloc(longest * sizeof *preds);
            if (!ex || !ends || !preds) {
                free(ex), free(ends), free(preds);
                return lr_err_set(err, LR_ENOMEM, "training: out of memory for %zu examples", n_ex);
            }
        }
    }
    free(ends), free(preds);
    *out = ex;
    *n_out = n_ex;
    return LR_OK;
}

/* The full softmax's item pass has the same layout every step (all items, one token each), so
 * it is set up once. */
static int setup_full_item_pass(trainer *t, lr_err *err) {
    size_t ni = lr_data_num_items(t->d), H = t->m->cfg.hidden;
    if (t->m->cfg.mode != LR_PAL_ID) { /* one adaptor table a step, which both towers read */
        t->table = malloc((ni ? ni : 1) * H * sizeof *t->table);
        t->dtable = malloc((ni ? ni : 1) * H * sizeof *t->dtable);
        if (!t->table || !t->dtable) return lr_err_set(err, LR_ENOMEM, "training: out of memory for the item table");
        t->up.table = t->ip.table = t->table;
        t->up.dtable = t->ip.dtable = t->dtable;
    }
    size_t *off = malloc((ni + 1) * sizeof *off);
    int32_t *ids = malloc((ni ? ni : 1) * sizeof *ids);
    int rc = !off || !ids ? lr_err_set(err, LR_ENOMEM, "training: out of memory") : LR_OK;
    for (size_t i = 0; !rc && i <= ni; i++) off[i] = i;
    for (size_t i = 0; !rc && i < ni; i++) ids[i] = (int32_t)i;
    if (!rc) rc = lr_towers_pal_pass_setup(t->m, &t->ip, ids, off, ni, err);
    free(off);
    free(ids);
    return rc;
}

/* log q_j for sampled negatives: the expected times item j is a candidate in a step, as one of
 * about batch_size targets drawn by popularity (its share of all training targets) or one of
 * `sampled` uniform draws. Subtracting it from j's logits makes the sampled softmax an unbiased
 * estimate of the full one (Bengio & Senecal 2008; Yi et al. 2019's sampling-bias correction):
 * popular items, negatives in almost every batch, are not pushed down for being popular. */
static int candidate_log_chances(trainer *t, lr_err *err) {
    size_t ni = lr_data_num_items(t->d), nu = lr_data_num_users(t->d);
    double *count = calloc(ni ? ni : 1, sizeof *count), total = 0;
    t->logq = malloc((ni ? ni : 1) * sizeof *t->logq);
    if (!count || !t->logq) {
        free(count);
        return lr_err_set(err, LR_ENOMEM, "training: out of memory for %zu items' sampling chances", ni);
    }
    for (size_t u = 0; u < nu; u++) {
        size_t len, tl = lr_data_user_split(t->d, u).train_len;
        const int32_t *seq = lr_data_user_sequence(t->d, u, &len);
        for (size_t i = 1; i < tl; i++) count[seq[i]] += 1, total += 1;
    }
    double per_target = total > 0 ? (double)t->cfg->batch_size / total : 0;
    double uniform = ni ? (double)t->cfg->sampled / (double)ni : 0;
    for (size_t j = 0; j < ni; j++) {
        double q = count[j] * per_target + uniform;
        t->logq[j] = (float)log(q > 1 ? 1 : q > 1e-30 ? q : 1e-30);
    }
    free(count);
    return LR_OK;
}

/* The trainer's fixed state: seeds, the optimiser's moments, the best weights so far. The
 * model's item cache is dropped: the weights are about to change. */
static int trainer_init(trainer *t, lr_pal *m, const lr_data *d, const lr_content *content,
                        const lr_train_config *cfg, lr_err *err) {
    size_t ni = lr_data_num_items(d);
    t->cfg = cfg;
    t->m = m;
    t->d = d;
    t->ct = content;
    t->content = content ? lr_data_matrix_data(content) : NULL;
    t->neg = cfg->negatives != LR_NEG_AUTO ? cfg->negatives
             : ni <= LR_TRAIN_FULL_SOFTMAX_FACTOR * (cfg->batch_size + cfg->sampled) ? LR_NEG_FULL : LR_NEG_SAMPLED;
    t->full = t->neg == LR_NEG_FULL;
    t->rng = cfg->seed * 0x2545f4914f6cdd1dULL + 7;
    t->up.rng = cfg->seed * 0x9e3779b97f4a7c15ULL + 11;
    t->ip.rng = cfg->seed * 0x9e3779b97f4a7c15ULL + 13;
    t->up.training = t->ip.training = 1;
    t->up.id_dropout = t->ip.id_dropout = cfg->id_dropout;
    free(m->cache);
    m->cache = NULL;
    m->cache_rows = 0;
    m->cache_src = NULL;
    free(m->vp); /* the weights will change */
    m->vp = NULL;
    t->slot = malloc((ni ? ni : 1) * sizeof *t->slot);
    t->m1 = calloc(m->n_params, sizeof *t->m1);
    t->m2 = calloc(m->n_params, sizeof *t->m2);
    t->best = malloc(m->n_params * sizeof *t->best);
    t->offsets = malloc(sizeof *t->offsets);
    t->offsets_cap = 1;
    int rc = LR_OK;
    if (!t->slot || !t->m1 || !t->m2 || !t->best || !t->offsets || (rc = lr_towers_pal_alloc_grads(m, err)))
        return rc ? rc : lr_err_set(err, LR_ENOMEM, "training: out of memory");
    for (size_t i = 0; i < ni; i++) t->slot[i] = -1;
    memcpy(t->best, m->params_block, m->n_params * sizeof *t->best);
    if (t->neg == LR_NEG_SAMPLED && (rc = candidate_log_chances(t, err))) return rc;
    return t->full ? setup_full_item_pass(t, err) : LR_OK;
}

/* Sampled negatives: `sampled` uniform draws join the batch's targets as candidates (an item
 * already there is not added twice), and every candidate's log-Q goes into t->shift. */
static int add_uniform_candidates(trainer *t) {
    size_t ni = lr_data_num_items(t->d);
    for (size_t i = 0; i < t->cfg->sampled && ni; i++)
        if (candidate_column(t, (int32_t)(next_u64(&t->rng) % ni)) < 0) return -1;
    if (grow(&t->shift, &t->shift_cap, t->n_cand, sizeof *t->shift)) return -1;
    for (size_t j = 0; j < t->n_cand; j++) t->shift[j] = t->logq[t->cand[j]];
    return 0;
}

/* One optimiser step on the batch starting at ex (*taken gets the examples it used): forward
 * both towers, InfoNCE, backward, clip, AdamW. */
static int train_step(trainer *t, const example *ex, size_t n_ex, size_t step, size_t total,
                      size_t *taken, double *loss, lr_err *err) {
    lr_pal *m = t->m;
    size_t n_seq, D = m->cfg.out_dim;
    int fail, rc;
    *taken = build_batch(t, ex, n_ex, &n_seq, &fail);
    if (fail) return lr_err_set(err, LR_ENOMEM, "training: out of memory building a batch");
    if ((rc = lr_towers_pal_pass_setup_ex(m, &t->up, t->items, t->offsets, n_seq, t->n_out, err))) return rc;
    if (t->neg == LR_NEG_SAMPLED && add_uniform_candidates(t))
        return lr_err_set(err, LR_ENOMEM, "training: out of memory for sampled candidates");
    if (!t->full) { /* the batch's candidates, one token each */
        if (grow(&t->cand_off, &t->cand_off_cap, t->n_cand + 1, sizeof *t->cand_off))
            return lr_err_set(err, LR_ENOMEM, "training: out of memory");
        for (size_t i = 0; i <= t->n_cand; i++) t->cand_off[i] = i;
        if ((rc = lr_towers_pal_pass_setup(m, &t->ip, t->cand, t->cand_off, t->n_cand, err))) return rc;
    }
    size_t P = t->up.P, K = t->ip.P;
    if (grow(&t->logits, &t->logits_cap, P * K, sizeof(float)) ||
        grow(&t->dU, &t->dU_cap, P * D + 2 * P, sizeof(float)) || grow(&t->dV, &t->dV_cap, K * D, sizeof(float)))
        return lr_err_set(err, LR_ENOMEM, "training: out of memory for %zu x %zu logits", P, K);
    if (t->table) /* the full softmax adapts every item anyway: once, for both towers */
        lr_towers_linear_forward(t->table, t->content, m->p.adapt_w, m->p.adapt_b, lr_data_num_items(t->d),
                                 m->cfg.content_dim, m->cfg.hidden);
    lr_towers_pal_forward(m, &t->up, t->content);
    lr_towers_pal_forward(m, &t->ip, t->content);
    *loss = lr_towers_train_infonce(t->up.out, P, t->ip.out, K, D, t->pairs, t->n_pairs, t->cfg->temperature,
                                    t->cfg->label_smoothing, t->neg == LR_NEG_SAMPLED ? t->shift : NULL, t->logits, t->dU + P * D, t->dU,
                                    t->dV);
    lr_towers_pal_zero_grads(m);
    if (t->dtable) memset(t->dtable, 0, lr_data_num_items(t->d) * m->cfg.hidden * sizeof *t->dtable);
    lr_towers_pal_backward(m, &t->ip, t->dV);
    lr_towers_pal_backward(m, &t->up, t->dU);
    if (t->dtable)
        lr_towers_linear_backward(NULL, m->g.adapt_w, m->g.adapt_b, t->dtable, t->content, m->p.adapt_w,
                                  lr_data_num_items(t->d), m->cfg.content_dim, m->cfg.hidden);
    clip_and_update(t, step < total ? step : total - 1, total);
    return LR_OK;
}

/* Where training stands, for progress reports and the final report. */
typedef struct {
    size_t epoch, steps, total, step, s, seen, best_epoch, since_best;
    double best, loss_sum, t_start, valid_s; /* valid_s: time spent validating */
} train_state;

static void report_progress(const trainer *t, const train_state *st, int epoch_done, double r10) {
    const lr_train_config *cfg = t->cfg;
    double el = now_s() - st->t_start, rate = (double)st->seen / (el > 0 ? el : 1e-9);
    size_t left = epoch_done ? (st->total > st->step ? st->total - st->step : 0)
                             : (st->total > st->step + 1 ? st->total - st->step - 1 : 0);
    size_t s_shown = epoch_done ? st->s : st->s + 1;
    double loss = st->loss_sum / (double)(epoch_done ? st->s : st->s + 1);
    lr_train_progress pr = {st->epoch, cfg->epochs, s_shown, st->steps, loss, rate,
                            (double)left * (double)cfg->batch_size / rate, epoch_done, r10, st->best,
                            st->best_epoch};
    cfg->progress(&pr, cfg->progress_ctx);
}

/* One epoch: shuffle (seeded Fisher-Yates), then steps until every example was used. */
static int run_epoch(trainer *t, example *ex, size_t n_ex, train_state *st, lr_err *err) {
    const lr_train_config *cfg = t->cfg;
    for (size_t i = n_ex; i > 1; i--) {
        size_t j = next_u64(&t->rng) % i;
        example tmp = ex[i - 1];
        ex[i - 1] = ex[j];
        ex[j] = tmp;
    }
    st->loss_sum = 0.0;
    st->s = 0;
    for (size_t at = 0; at < n_ex; st->s++, st->step++) {
        size_t taken = 0;
        double loss = 0.0;
        int rc = train_step(t, ex + at, n_ex - at, st->step, st->total, &taken, &loss, err);
        if (rc) return rc;
        at += taken;
        st->loss_sum += loss;
        st->seen += t->n_pairs;
        if (cfg->progress && st->s % (cfg->progress_every ? cfg->progress_every : 1) == 0)
            report_progress(t, st, 0, 0.0);
    }
    return LR_OK;
}

/* Validation after an epoch: keeps the best weights; returns 1 when patience ran out. */
static int end_epoch(trainer *t, train_state *st, int *stop, lr_err *err) {
    double r10 = 0.0, t0 = now_s();
    int rc = validate(t, &r10, err);
    if (rc) return rc;
    st->valid_s += now_s() - t0;
    if (r10 > st->best) {
        st->best = r10;
        st->best_epoch = st->epoch;
        st->since_best = 0;
        memcpy(t->best, t->m->params_block, t->m->n_params * sizeof *t->best);
    } else {
        st->since_best++;
    }
    if (t->cfg->progress) report_progress(t, st, 1, r10);
    *stop = t->cfg->patience && st->since_best >= t->cfg->patience;
    return LR_OK;
}

static void fill_report(const trainer *t, const train_state *st, size_t n_pred, lr_train_report *r) {
    double el = now_s() - st->t_start;
    r->epochs_run = st->epoch > t->cfg->epochs ? t->cfg->epochs : st->epoch;
    r->best_epoch = st->best_epoch;
    r->best_valid_recall10 = st->best;
    r->seconds = el;
    r->examples_per_s = (double)st->seen / (el > 0 ? el : 1e-9);
    r->valid_seconds = st->valid_s;
    r->step_examples_per_s = (double)st->seen / (el - st->valid_s > 0 ? el - st->valid_s : 1e-9);
    r->examples_per_epoch = n_pred;
    r->final_loss = st->loss_sum / (double)(st->s ? st->s : 1);
    r->negatives = t->neg;
}

int lr_towers_train(lr_pal *m, const lr_data *d, const lr_content *content,
                    const lr_train_config *cfg, lr_train_report *report, lr_err *err) {
    int rc = check_inputs(m, d, content, cfg, err);
    if (rc) return rc;
    trainer t = {0};
    example *ex = NULL;
    size_t n_ex = 0, n_pred = 0;
    if ((rc = trainer_init(&t, m, d, content, cfg, err)) || (rc = build_examples(&t, &ex, &n_ex, &n_pred, err)))
        goto done;
    size_t steps = (n_pred + cfg->batch_size - 1) / cfg->batch_size;
    train_state st = {.steps = steps, .total = steps * cfg->epochs, .best = -1.0, .t_start = now_s()};
    for (st.epoch = 1; st.epoch <= cfg->epochs; st.epoch++) {
        int stop = 0;
        if ((rc = run_epoch(&t, ex, n_ex, &st, err)) || (rc = end_epoch(&t, &st, &stop, err))) goto done;
        if (stop) break;
    }
    memcpy(m->params_block, t.best, m->n_params * sizeof *t.best);
    if (report) fill_report(&t, &st, n_pred, report);
done:
    free(ex);
    trainer_free(&t);
    return rc;
}
