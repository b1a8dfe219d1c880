/* What eval writes for scripts: its metrics by slice (history length, the target's popularity,
 * cold start) and one JSON line per user. The schema is in docs/eval.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lr_data.h"
#include "lr_towers.h"

/* Items the user saw before the split's target (0 without a target). */
static size_t history_length(const lr_data *d, size_t u, lr_split split) {
    lr_data_split sp = lr_data_user_split(d, u);
    if (sp.valid_target < 0) return 0;
    return split == LR_SPLIT_TEST ? sp.train_len + 1 : sp.train_len;
}

void lr_cli_train_counts(const lr_data *d, size_t *counts) {
    for (size_t u = 0; u < lr_data_num_users(d); u++) {
        size_t len;
        const int32_t *s = lr_data_user_sequence(d, u, &len);
        size_t tl = lr_data_user_split(d, u).train_len;
        for (size_t i = 0; i < tl && i < len; i++) counts[s[i]]++;
    }
}

typedef struct {
    const char *name;
    size_t lo, hi; /* inclusive */
} bucket;

static const bucket k_history[] = {{"1-2", 1, 2}, {"3-5", 3, 5}, {"6-10", 6, 10}, {"11-20", 11, 20},
                                   {"21-50", 21, 50}, {"51+", 51, SIZE_MAX}};
static const bucket k_popularity[] = {{"0", 0, 0}, {"1-4", 1, 4}, {"5-19", 5, 19}, {"20-99", 20, 99},
                                      {"100+", 100, SIZE_MAX}};

static json_t *metrics_object(const char *bucket_name, const lr_eval_metrics *m) {
    return json_pack("{s:s, s:I, s:f, s:f, s:f, s:f, s:f}", "bucket", bucket_name, "users", (json_int_t)m->users,
                     "recall@10", m->recall10, "ndcg@10", m->ndcg10, "recall@50", m->recall50, "ndcg@50", m->ndcg50,
                     "mrr", m->mrr);
}

/* One array of buckets: users whose value[u] falls in each. */
static json_t *by_buckets(const bucket *b, size_t nb, const size_t *value, const int32_t *targets,
                          const lr_eval_rank *ranks, size_t nu, unsigned char *in) {
    json_t *a = json_array();
    for (size_t i = 0; a && i < nb; i++) {
        for (size_t u = 0; u < nu; u++) in[u] = value[u] >= b[i].lo && value[u] <= b[i].hi;
        lr_eval_metrics m;
        lr_towers_eval_summarize(ranks, targets, in, nu, &m);
        if (json_array_append_new(a, metrics_object(b[i].name, &m))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

json_t *lr_cli_eval_slices(const lr_data *d, lr_split split, const int32_t *targets, const lr_eval_rank *ranks) {
    size_t nu = lr_data_num_users(d), ni = lr_data_num_items(d);
    size_t *hist = malloc((nu ? nu : 1) * sizeof *hist), *pop = malloc((nu ? nu : 1) * sizeof *pop);
    size_t *counts = calloc(ni ? ni : 1, sizeof *counts);
    unsigned char *in = malloc(nu ? nu : 1);
    json_t *o = NULL;
    if (hist && pop && counts && in) {
        lr_cli_train_counts(d, counts);
        for (size_t u = 0; u < nu; u++) {
            hist[u] = history_length(d, u, split);
            pop[u] = targets[u] >= 0 ? counts[targets[u]] : 0;
        }
        lr_eval_metrics cold;
        for (size_t u = 0; u < nu; u++) in[u] = pop[u] == 0;
        lr_towers_eval_summarize(ranks, targets, in, nu, &cold);
        o = json_pack("{s:o*, s:o*, s:o*}", "history_length",
                      by_buckets(k_history, sizeof k_history / sizeof *k_history, hist, targets, ranks, nu, in),
                      "target_popularity",
                      by_buckets(k_popularity, sizeof k_popularity / sizeof *k_popularity, pop, targets, ranks, nu, in),
                      "cold_start", metrics_object("0", &cold));
    }
    free(hist), free(pop), free(counts), free(in);
    return o;
}

typedef struct {
    const lr_data *d;
    lr_split split;
    const int32_t *targets;
    const lr_eval_rank *ranks;
    const int32_t *top;
    size_t k;
} per_user_ctx;

/* One line per user with a target: {"user", "user_index", "target", "target_index", "rank",
 * "ties", "history_length", "target_popularity", "top"}. */
static int write_lines(const char *tmp, void *arg, lr_err *err) {
    const per_user_ctx *c = arg;
    size_t nu = lr_data_num_users(c->d), *counts = calloc(lr_data_num_items(c->d) + 1, sizeof *counts);
    FILE *f = counts ? fopen(tmp, "w") : NULL;
    if (!f) {
        free(counts);
        return lr_err_set(err, LR_EIO, "%s: cannot write", tmp);
    }
    lr_cli_train_counts(c->d, counts);
    int bad = 0;
    for (size_t u = 0; u < nu && !bad; u++) {
        if (c->targets[u] < 0) continue;
        json_t *top = json_array();
        for (size_t j = 0; j < c->k; j++)
            if (c->top[u * c->k + j] >= 0) json_array_append_new(top, json_integer(c->top[u * c->k + j]));
        int32_t t = c->targets[u];
        json_t *o = json_pack("{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:o}", "user", lr_data_user_token(c->d, u),
                              "user_index", (json_int_t)u, "target", lr_data_item_token(c->d, (size_t)t), "target_index",
                              (json_int_t)t, "rank", (json_int_t)(c->ranks[u].above + 1), "ties",
                              (json_int_t)c->ranks[u].ties, "history_length",
                              (json_int_t)history_length(c->d, u, c->split), "target_popularity",
                              (json_int_t)counts[t], "top", top);
        bad = !o || json_dumpf(o, f, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0 || fputc('\n', f) == EOF;
        json_decref(o);
    }
    free(counts);
    if (fclose(f) != 0) bad = 1;
    return bad ? lr_err_set(err, LR_EIO, "%s: write failed", tmp) : LR_OK;
}

int lr_cli_eval_per_user(const char *path, const lr_data *d, lr_split split, const int32_t *targets,
                         const lr_eval_rank *ranks, const int32_t *top, size_t k, lr_err *err) {
    per_user_ctx c = {d, split, targets, ranks, top, k};
    return lr_data_write_aside(path, write_lines, &c, err);
}
