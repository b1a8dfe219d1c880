/* learnrec train, embed-items, embed-users and eval: the PAL towers from the command line. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "lr_data.h"
#include "lr_index.h"
#include "lr_towers.h"

/* ---- train ------------------------------------------------------------------------------------ */

/* A bar redrawn in place on a terminal; one line per epoch otherwise (logs stay readable). */
static void show_progress(const lr_train_progress *p, void *ctx) {
    int tty = *(int *)ctx;
    char eta[32];
    lr_cli_fmt_duration(p->eta_s, eta, sizeof eta);
    if (p->epoch_done) {
        fprintf(stderr, "%sepoch %zu/%zu  loss %.4f  valid R@10 %.4f  best %.4f (epoch %zu)  "
                "%.0f ex/s  ETA %s\n", tty ? "\r\033[K" : "", p->epoch, p->epochs, p->loss,
                p->valid_recall10, p->best_valid_recall10, p->best_epoch, p->examples_per_s, eta);
        return;
    }
    if (!tty) return;
    int width = 24, done = (int)((double)width * (double)p->step / (double)(p->steps ? p->steps : 1));
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < done ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r\033[Kepoch %zu/%zu [%s] step %zu/%zu  loss %.4f  %.0f ex/s  ETA %s",
            p->epoch, p->epochs, bar, p->step, p->steps, p->loss, p->examples_per_s, eta);
}

/* train's options into its configs; LR_CLI_RUN or an exit code. */
static int train_args(int argc, char **argv, const char **data, const char **cpath, const char **out,
                      lr_pal_config *mc, lr_train_config *tc, size_t *threads) {
    static const lr_cli_choice modes[] = {
        {"content", LR_PAL_CONTENT}, {"id", LR_PAL_ID}, {"both", LR_PAL_BOTH}, {NULL, 0}};
    static const lr_cli_choice positions[] = {
        {"newest", LR_POS_NEWEST}, {"oldest", LR_POS_OLDEST}, {"none", LR_POS_NONE}, {"auto", LR_POS_AUTO},
        {NULL, 0}};
    static const lr_cli_choice negatives[] = {
        {"auto", LR_NEG_AUTO}, {"full", LR_NEG_FULL}, {"inbatch", LR_NEG_INBATCH},
        {"sampled", LR_NEG_SAMPLED}, {NULL, 0}};
    static const lr_cli_choice losses[] = {{"next", 0}, {"dense", 1}, {NULL, 0}};
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("data", data, "DIR", "the dataset")},
        {LR_OPT_STRING("content", cpath, "C", "its content embeddings (not read in id mode)")},
        {LR_OPT_STRING("out", out, "model.safetensors", "the trained towers")},
        {LR_OPT_SIZE("epochs", &tc->epochs, 1, 100000, "N", "at most N epochs")},
        {LR_OPT_CHOICE("mode", LR_CLI_ENUM(&mc->mode), modes, "what an item is made of")},
        {LR_OPT_SIZE("threads", threads, 1, 1024, "N", "cores to use (default: all)"), .dflt = ""},
        {LR_OPT_SIZE("layers", &mc->layers, 0, 16, "L", "transformer layers")},
        {LR_OPT_SIZE("hidden", &mc->hidden, 1, 4096, "H", "hidden width")},
        {LR_OPT_SIZE("heads", &mc->heads, 1, 64, "A", "attention heads")},
        {LR_OPT_SIZE("dim", &mc->out_dim, 1, 4096, "D", "output dimension")},
        {LR_OPT_SIZE("max-len", &mc->max_len, 1, 4096, "T", "history items the user tower reads")},
        {LR_OPT_CHOICE("positions", LR_CLI_ENUM(&mc->pos_emb), positions,
                       "position embeddings counted from the newest item\n"
                       "(one pass per prefix), the oldest or none (one pass\n"
                       "per window: faster); auto: newest for short\n"
                       "histories, else oldest")},
        {LR_OPT_SET("no-pos", LR_CLI_ENUM(&mc->pos_emb), LR_POS_NONE, "the same as --positions none")},
        {LR_OPT_SIZE("window-stride", &tc->window_stride, 1, 4096, "S",
                     "positions oldest or none: one pass per window of\n"
                     "--max-len items, windows ending S items apart\n(default: max-len / 2)"), .dflt = ""},
        {LR_OPT_FLOAT("dropout", &mc->dropout, 0, 1, "P", "dropout rate"), .hi_open = 1},
        {LR_OPT_SIZE("batch", &tc->batch_size, 1, 1 << 20, "B", "examples per step")},
        {LR_OPT_FLOAT("lr", &tc->lr, 0, INFINITY, "R", "AdamW learning rate"), .lo_open = 1, .hi_open = 1},
        {LR_OPT_FLOAT("weight-decay", &tc->weight_decay, 0, INFINITY, "W", "AdamW weight decay"),
         .hi_open = 1},
        {LR_OPT_FLOAT("temperature", &tc->temperature, 0, INFINITY, "T", "InfoNCE temperature"),
         .lo_open = 1, .hi_open = 1},
        {LR_OPT_FLOAT("label-smoothing", &tc->label_smoothing, 0, 1, "E",
                      "share of the target's probability spread over\nall candidates"), .hi_open = 1},
        {LR_OPT_FLOAT("id-dropout", &tc->id_dropout, 0, 1, "P",
                      "mode both: chance that a token's id embedding is\nleft out in training (modality dropout)"),
         .hi_open = 1},
        {LR_OPT_U64("seed", &tc->seed, "S", "random seed")},
        {LR_OPT_SIZE("patience", &tc->patience, 0, 100000, "N",
                     "stop after N epochs without a better valid Recall@10;\n0: never")},
        {LR_OPT_CHOICE("negatives", LR_CLI_ENUM(&tc->negatives), negatives,
                       "full: every item; inbatch: the batch's targets;\n"
                       "sampled: those and --sampled uniform draws, log-Q\n"
                       "corrected; auto: full up to 4 x (--batch + --sampled)\n"
                       "items, else sampled")},
        {LR_OPT_SIZE("sampled", &tc->sampled, 0, 1 << 20, "N", "uniform draws per step with sampled negatives")},
        {LR_OPT_CHOICE("loss", &tc->dense_all_action, losses, "next-item or the dense all-action loss")},
    };
    const lr_cli_spec spec = {
        .cmd = "train", .usage = "learnrec train --data DIR --content C --out model.safetensors [options]",
        .description =
            "Trains the PAL towers (LEARN): content embeddings -> adaptor -> causal\n"
            "transformer -> unit vectors of --dim dimensions. Every prefix of each user's\n"
            "training part predicts its next item with InfoNCE at --temperature; the epoch\n"
            "with the best validation Recall@10 is kept.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    return lr_cli_parse(&spec, argc, argv);
}

int lr_cmd_train(int argc, char **argv) {
    const char *cmd = "train", *data = NULL, *cpath = NULL, *out = NULL;
    lr_pal_config mc = lr_towers_pal_config_default();
    lr_train_config tc = lr_towers_train_config_default();
    mc.pos_emb = LR_POS_AUTO;
    size_t threads = 0;
    int p = train_args(argc, argv, &data, &cpath, &out, &mc, &tc, &threads);
    if (p != LR_CLI_RUN) return p;
    lr_cli_set_threads(threads, threads);
    if (!data || !out || (!cpath && mc.mode != LR_PAL_ID))
        return lr_cli_usage_error(cmd, "--data, --out and (except in id mode) --content are required");
    lr_err err = {0};
    lr_data *d = NULL;
    lr_content *ct = NULL;
    lr_pal *m = NULL;
    int rc = LR_EXIT_ERROR, tty = isatty(2);
    if (lr_data_load(data, &d, &err)) goto fail;
    if (cpath && lr_data_matrix_open(cpath, lr_data_num_items(d), &ct, &err)) goto fail;
    mc.content_dim = ct ? lr_data_matrix_dim(ct) : 0;
    mc.n_items = lr_data_num_items(d);
    double ratio = 0;
    if ((int)mc.pos_emb == LR_POS_AUTO) {
        mc.pos_emb = lr_towers_train_pick_positions(d, mc.max_len, &tc, &ratio);
        fprintf(stderr, "positions: %s (one pass per prefix reads %.1fx the tokens of windows)\n",
                mc.pos_emb == LR_POS_NEWEST ? "newest" : "oldest", ratio);
    }
    if (lr_towers_pal_new(&mc, tc.seed, &m, &err)) goto fail;
    tc.progress = show_progress;
    tc.progress_ctx = &tty;
    fprintf(stderr, "training %s-mode towers: %zu parameters, %zu users, %zu items; ",
            lr_towers_pal_mode_name(mc.mode), lr_towers_pal_num_params(m), lr_data_num_users(d),
            lr_data_num_items(d));
    if (mc.pos_emb == LR_POS_NEWEST || tc.dense_all_action)
        fprintf(stderr, "one pass per prefix\n");
    else
        fprintf(stderr, "one pass per window of %zu items, windows ending %zu apart\n", mc.max_len,
                lr_towers_train_stride(&tc, mc.max_len));
    lr_train_report rep;
    if (lr_towers_train(m, d, ct, &tc, &rep, &err)) goto fail;
    const char *keys[] = {"train.best_epoch", "train.best_valid_recall10"};
    char v0[32], v1[32];
    snprintf(v0, sizeof v0, "%zu", rep.best_epoch);
    snprintf(v1, sizeof v1, "%.6f", rep.best_valid_recall10);
    const char *vals[] = {v0, v1};
    if (lr_towers_pal_save(m, out, keys, vals, 2, &err)) goto fail;
    printf("trained %zu epochs in %.1f s (%.0f examples/s; %.0f in the steps, validation took %.1f s; "
           "%zu examples per epoch, %s negatives); best valid Recall@10 %.4f at epoch %zu; wrote %s\n",
           rep.epochs_run, rep.seconds, rep.examples_per_s, rep.step_examples_per_s, rep.valid_seconds,
           rep.examples_per_epoch, lr_towers_negatives_name(rep.negatives), rep.best_valid_recall10,
           rep.best_epoch, out);
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    lr_towers_pal_free(m);
    lr_data_matrix_free(ct);
    lr_data_free(d);
    return rc;
}

/* ---- embed-items -------------------------------------------------------------------------------- */

int lr_cmd_embed_items(int argc, char **argv) {
    const char *cmd = "embed-items", *mp = NULL, *cp = NULL, *out = NULL;
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("model", &mp, "M", "the towers"), .required = 1},
        {LR_OPT_STRING("content", &cp, "C", "the content embeddings (not read in id mode)")},
        {LR_OPT_STRING("out", &out, "items.npy", "the item embeddings"), .required = 1},
    };
    const lr_cli_spec spec = {
        .cmd = cmd, .usage = "learnrec embed-items --model M --content C --out items.npy",
        .description =
            "Runs the item tower over every item (each item alone, LEARN's variant b) and\n"
            "writes the unit-length item embeddings (row i = item i), the input of the index.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_err err = {0};
    lr_pal *m = NULL;
    lr_content *ct = NULL;
    float *v = NULL;
    int rc = LR_EXIT_ERROR;
    if (lr_towers_pal_load(mp, &m, &err)) goto fail;
    lr_pal_config mc = lr_towers_pal_get_config(m);
    if (mc.mode != LR_PAL_ID) {
        if (!cp) {
            lr_err_set(&err, LR_EINVAL, "--content is required for a %s-mode model", lr_towers_pal_mode_name(mc.mode));
            goto fail;
        }
        if (lr_data_matrix_open(cp, mc.mode == LR_PAL_BOTH ? mc.n_items : 0, &ct, &err)) goto fail;
    }
    size_t n = ct ? lr_data_matrix_rows(ct) : mc.n_items;
    v = malloc(n * mc.out_dim * sizeof *v);
    if (!v) {
        lr_err_set(&err, LR_ENOMEM, "out of memory for %zu x %zu embeddings", n, mc.out_dim);
        goto fail;
    }
    if (lr_towers_item_embed(m, ct, NULL, n, v, &err) ||
        lr_data_npy_write(out, v, n, mc.out_dim, LR_NPY_F32, &err))
        goto fail;
    printf("wrote %s: %zu items x %zu\n", out, n, mc.out_dim);
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    free(v);
    lr_data_matrix_free(ct);
    lr_towers_pal_free(m);
    return rc;
}

/* --split of embed-users and eval: whose target, and the history before it. */
static const lr_cli_choice splits[] = {{"valid", LR_SPLIT_VALID}, {"test", LR_SPLIT_TEST}, {NULL, 0}};

/* ---- embed-users -------------------------------------------------------------------------------- */

int lr_cmd_embed_users(int argc, char **argv) {
    const char *cmd = "embed-users", *data = NULL, *mp = NULL, *cp = NULL, *out = NULL;
    lr_split split = LR_SPLIT_TEST;
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("data", &data, "DIR", "the dataset"), .required = 1},
        {LR_OPT_STRING("model", &mp, "M", "the towers"), .required = 1},
        {LR_OPT_STRING("content", &cp, "C", "the content embeddings (not read in id mode)")},
        {LR_OPT_CHOICE("split", LR_CLI_ENUM(&split), splits, "the histories before this split's targets")},
        {LR_OPT_STRING("out", &out, "users.npy", "the user vectors"), .required = 1},
    };
    const lr_cli_spec spec = {
        .cmd = cmd,
        .usage = "learnrec embed-users --data DIR --model M --content C [--split valid|test]\n"
                 "                            --out users.npy",
        .description =
            "Runs the user tower over each user's history as eval sees it (the items before\n"
            "the split's target, at most the model's max_len, newest last) and writes the\n"
            "unit-length user vectors: float32, row u = user u, a zero row for a user with\n"
            "no target in the split. These are the queries the server answers online.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_err err = {0};
    lr_data *d = NULL;
    lr_pal *m = NULL;
    lr_content *ct = NULL;
    float *users = NULL;
    int32_t *targets = NULL;
    int rc = LR_EXIT_ERROR;
    if (lr_cli_open_towers(data, mp, cp, &d, &m, &ct, &err)) goto fail;
    size_t nu = lr_data_num_users(d), with = 0;
    lr_pal_config mc = lr_towers_pal_get_config(m);
    users = malloc(nu * mc.out_dim * sizeof *users);
    targets = malloc(nu * sizeof *targets);
    if (!users || !targets) {
        lr_err_set(&err, LR_ENOMEM, "out of memory for %zu users", nu);
        goto fail;
    }
    if (lr_towers_embed_split(m, d, ct, split, users, targets, &err)) goto fail;
    for (size_t u = 0; u < nu; u++) {
        if (targets[u] < 0) memset(users + u * mc.out_dim, 0, mc.out_dim * sizeof *users);
        with += targets[u] >= 0;
    }
    if (lr_data_npy_write(out, users, nu, mc.out_dim, LR_NPY_F32, &err)) goto fail;
    printf("wrote %s: %zu users x %zu (%zu with a %s target)\n", out, nu, mc.out_dim, with,
           split == LR_SPLIT_TEST ? "test" : "valid");
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    free(users);
    free(targets);
    lr_data_matrix_free(ct);
    lr_towers_pal_free(m);
    lr_data_free(d);
    return rc;
}

/* ---- eval ---------------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    lr_eval_metrics all, cold;
    int have;
} eval_row;

static void print_row(const eval_row *r) {
    printf("| %-28s | %6zu | %.4f | %.4f | %.4f | %.4f | %.4f | %5zu | %.4f | %.4f |\n", r->name,
           r->all.users, r->all.recall10, r->all.ndcg10, r->all.recall50, r->all.ndcg50, r->all.mrr,
           r->cold.users, r->cold.recall10, r->cold.ndcg10);
}

static json_t *metrics_json(const lr_eval_metrics *m) {
    return json_pack("{s:I, s:f, s:f, s:f, s:f, s:f}", "users", (json_int_t)m->users, "recall@10",
                     m->recall10, "ndcg@10", m->ndcg10, "recall@50", m->recall50, "ndcg@50",
                     m->ndcg50, "mrr", m->mrr);
}

/* Through the index: the share of the exact top-K (flat inner product over the item vectors) that
 * the index returns (ANN recall), and the metrics of the index's own top 50 (MRR counts ranks
 * below 50 as 0). Users without a target are skipped. */
typedef struct {
    double ann10, ann50;
    lr_eval_metrics e2e;
} index_eval;

static int eval_index(const char *dir, const char *model_path, const float *users, size_t nu,
                      const int32_t *targets, const float *items, size_t ni, size_t D,
                      index_eval *out, lr_err *err) {
    char crc[9];
    lr_index *ix = NULL;
    size_t K = 50, nq = 0;
    float *q = malloc(nu * D * sizeof *q), *sa = malloc(nu * K * sizeof *sa), *se = malloc(nu * K * sizeof *se);
    int64_t *a = malloc(nu * K * sizeof *a), *e = malloc(nu * K * sizeof *e);
    int32_t *tg = malloc(nu * sizeof *tg);
    int rc = !q || !sa || !se || !a || !e || !tg ? lr_err_set(err, LR_ENOMEM, "out of memory") : LR_OK;
    if (!rc) rc = lr_index_file_checksum(model_path, crc, err);
    lr_index_kv model = {"model", crc};
    if (!rc) rc = lr_index_open(dir, NULL, D, &model, 1, &ix, NULL, err);
    for (size_t u = 0; !rc && u < nu; u++)
        if (targets[u] >= 0) {
            memcpy(q + nq * D, users + u * D, D * sizeof *q);
            tg[nq++] = targets[u];
        }
    if (!rc) rc = lr_index_search(ix, nq, q, K, a, sa, err);
    if (!rc) rc = lr_index_exact_search(items, ni, D, q, nq, K, e, se, err);
    if (!rc) {
        double h10 = 0, h50 = 0, r10 = 0, n10 = 0, r50 = 0, n50 = 0, mrr = 0;
        for (size_t i = 0; i < nq; i++) {
            for (size_t x = 0; x < K; x++)
                for (size_t y = 0; y < K; y++)
                    if (e[i * K + x] == a[i * K + y] && e[i * K + x] >= 0) {
                        h50 += 1;
                        if (x < 10 && y < 10) h10 += 1;
                        break;
                    }
            for (size_t y = 0; y < K; y++)
                if (a[i * K + y] == tg[i]) {
                    double g = 1.0 / log2((double)y + 2.0);
                    if (y < 10) r10 += 1, n10 += g;
                    r50 += 1, n50 += g, mrr += 1.0 / ((double)y + 1.0);
                    break;
                }
        }
        double n = nq ? (double)nq : 1.0;
        out->ann10 = h10 / (n * 10);
        out->ann50 = h50 / (n * (double)K);
        out->e2e = (lr_eval_metrics){nq, r10 / n, n10 / n, r50 / n, n50 / n, mrr / n};
    }
    lr_index_free(ix);
    free(q); free(sa); free(se); free(a); free(e); free(tg);
    return rc;
}

/* Scores users' vectors (or one shared score row) for all targets and for the cold slice. */
static int eval_both(const float *users, const float *items, const float *scores, size_t nu,
                     size_t ni, size_t dim, const int32_t *targets, const int32_t *cold,
                     eval_row *row, lr_err *err) {
    int rc = users ? lr_towers_eval_vectors(users, nu, targets, items, ni, dim, &row->all, err)
                   : lr_towers_eval_scores(scores, ni, targets, nu, &row->all, err);
    if (!rc)
        rc = users ? lr_towers_eval_vectors(users, nu, cold, items, ni, dim, &row->cold, err)
                   : lr_towers_eval_scores(scores, ni, cold, nu, &row->cold, err);
    row->have = rc == LR_OK;
    return rc;
}

/* eval's options (parse: its step 1); LR_CLI_RUN or an exit code. */
typedef struct {
    const char *data, *model, *content, *index, *json, *per_user;
    size_t per_user_k;
    lr_split split;
    int exclude_history;
} eval_opts;

static int eval_args(int argc, char **argv, eval_opts *o) {
    *o = (eval_opts){.split = LR_SPLIT_TEST, .per_user_k = 10};
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("data", &o->data, "DIR", "the dataset"), .required = 1},
        {LR_OPT_STRING("model", &o->model, "M", "the towers"), .required = 1},
        {LR_OPT_STRING("content", &o->content, "C", "the content embeddings (not read in id mode)")},
        {LR_OPT_CHOICE("split", LR_CLI_ENUM(&o->split), splits, "rank this split's targets")},
        {LR_OPT_STRING("index", &o->index, "DIR",
                       "also search the users' vectors in the index published in DIR\n"
                       "(built for this model): ANN recall@10/50 against exact search,\n"
                       "and the metrics of the index's own top 50")},
        {LR_OPT_STRING("json", &o->json, "F", "also write the metrics to F as JSON, with slices by history\n"
                       "length, by the target's popularity and cold start (docs/eval.md)")},
        {LR_OPT_STRING("per-user", &o->per_user, "F", "also write one JSON line per user with a target to F: the\n"
                       "target's rank and the towers' top items (docs/eval.md)")},
        {LR_OPT_SIZE("per-user-k", &o->per_user_k, 1, 1000, "K", "items in each --per-user line")},
        {LR_OPT_FLAG("exclude-history", &o->exclude_history,
                     "leave each user's history out of the towers' ranking (as serve's\n"
                     "exclude_history does), for data whose targets do not repeat the\n"
                     "history; a target in the history then ranks last")},
    };
    const lr_cli_spec spec = {
        .cmd = "eval",
        .usage = "learnrec eval --data DIR --model M --content C [--split valid|test]\n"
                 "                     [--index DIR] [--json F] [--per-user F [--per-user-k K]]\n"
                 "                     [--exclude-history]",
        .description =
            "Leave-one-out, full ranking over all items: each user's target (the last item\n"
            "for test, the one before for valid) is ranked among every item given the user's\n"
            "history before it (at most the model's max_len items). Reports Recall@10/50,\n"
            "NDCG@10/50 and MRR for the towers, for popularity and for LEARN's variant (c)\n"
            "(mean content of the history, no PAL), overall and on the cold-start slice\n"
            "(targets that no user's training part contains).",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    return lr_cli_parse(&spec, argc, argv);
}

/* What eval measures: the split's targets, the towers' vectors (which the index step searches
 * again) and the rows of the table. The buffers are the caller's to free, also after a failure. */
typedef struct {
    lr_pal_config mc;
    size_t nu, ni;
    float *users, *items; /* nu*D, ni*D; D = mc.out_dim */
    int32_t *targets;     /* nu: the split's target, -1 for a user without one */
    eval_row rows[3];     /* the towers, popularity, variant (c) (filled only with content) */
    lr_eval_rank *ranks;  /* nu: where the towers put each target */
    int32_t *top;         /* nu * top_k: the towers' best items (with --per-user), else NULL */
    size_t top_k;
    int exclude_history;  /* the towers' ranking leaves each user's history out */
} eval_run;

/* The cold-start slice: a user's target when no user's training part holds it, else -1.
 * seen: ni counts, zeroed; cold: nu. */
static void cold_slice(const lr_data *d, const int32_t *targets, size_t *seen, int32_t *cold) {
    size_t nu = lr_data_num_users(d);
    lr_cli_train_counts(d, seen);
    for (size_t u = 0; u < nu; u++) cold[u] = targets[u] >= 0 && !seen[targets[u]] ? targets[u] : -1;
}

/* compute, eval's step 2: the towers' rows, popularity's, and with content variant (c)'s.
 * Every buffer is allocated before any work, so that running out of memory costs no time. */
static int eval_compute(const lr_data *d, const lr_pal *m, const lr_content *ct, lr_split split,
                        eval_run *r, lr_err *err) {
    r->mc = lr_towers_pal_get_config(m);
    size_t nu = r->nu = lr_data_num_users(d), ni = r->ni = lr_data_num_items(d), D = r->mc.out_dim;
    r->users = malloc(nu * D * sizeof *r->users);
    r->items = malloc(ni * D * sizeof *r->items);
    r->targets = malloc(nu * sizeof *r->targets);
    float *pop = malloc(ni * sizeof *pop), *cusers = NULL;
    int32_t *cold = malloc(nu * sizeof *cold), *hist = NULL;
    size_t *hist_off = NULL;
    size_t *seen = calloc(ni ? ni : 1, sizeof *seen);
    int rc = LR_OK;
    if (!r->users || !r->items || !pop || !r->targets || !cold || !seen) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        goto done;
    }
    if ((rc = lr_towers_embed_split(m, d, ct, split, r->users, r->targets, err)) ||
        (rc = lr_towers_item_embed(m, ct, NULL, ni, r->items, err)))
        goto done;
    cold_slice(d, r->targets, seen, cold);
    /* the towers' row from each user's rank, which the slices and --per-user read again */
    if (r->top_k > ni) r->top_k = ni;
    r->ranks = malloc(nu * sizeof *r->ranks);
    if (r->top_k && !(r->top = malloc(nu * r->top_k * sizeof *r->top))) r->top_k = 0, rc = LR_ENOMEM;
    if (!r->ranks || rc) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        goto done;
    }
    if (r->exclude_history) { /* every item before the target, also beyond what the towers read */
        size_t n_hist = 0;
        int32_t *hist_targets = NULL;
        rc = lr_towers_split_histories(d, split, SIZE_MAX, 0, &hist, &hist_off, &hist_targets, &n_hist, err);
        free(hist_targets);
        if (rc) goto done;
    }
    if ((rc = lr_towers_eval_ranks(r->users, nu, r->targets, r->items, ni, D, hist_off, hist, r->ranks, r->top_k,
                                   r->top, err)))
        goto done;
    lr_towers_eval_summarize(r->ranks, r->targets, NULL, nu, &r->rows[0].all);
    lr_towers_eval_summarize(r->ranks, cold, NULL, nu, &r->rows[0].cold);
    r->rows[0].have = 1;
    lr_towers_baseline_popularity(d, pop);
    if ((rc = eval_both(NULL, NULL, pop, nu, ni, 0, r->targets, cold, &r->rows[1], err))) goto done;
    if (ct) {
        size_t Dc = lr_data_matrix_dim(ct);
        cusers = malloc(nu * Dc * sizeof *cusers);
        if (!cusers) {
            rc = lr_err_set(err, LR_ENOMEM, "out of memory");
            goto done;
        }
        if ((rc = lr_towers_baseline_mean_content(d, ct, split, r->mc.max_len, cusers, r->targets, err)) ||
            (rc = eval_both(cusers, lr_data_matrix_data(ct), NULL, nu, ni, Dc, r->targets, cold,
                            &r->rows[2], err)))
            goto done;
    }
done:
    free(pop);
    free(cold);
    free(seen);
    free(cusers);
    free(hist);
    free(hist_off);
    return rc;
}

/* print, eval's step 3: what was ranked, then the table's rows that have metrics. */
static void eval_print(const eval_run *r, lr_split split) {
    printf("%s split, %zu users with a target, full ranking over %zu items (%s-mode model)\n\n",
           split == LR_SPLIT_TEST ? "test" : "valid", r->rows[0].all.users, r->ni,
           lr_towers_pal_mode_name(r->mc.mode));
    printf("| model | users | R@10 | N@10 | R@50 | N@50 | MRR | cold users | cold R@10 | cold N@10 |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|\n");
    for (int i = 0; i < 3; i++)
        if (r->rows[i].have) print_row(&r->rows[i]);
}

/* The index's row, last in the table, and its ANN recall below it. */
static void eval_print_index(const index_eval *ie, const char *dir) {
    printf("| %-28s | %6zu | %.4f | %.4f | %.4f | %.4f | %.4f |       |        |        |\n",
           "PAL towers through the index", ie->e2e.users, ie->e2e.recall10, ie->e2e.ndcg10,
           ie->e2e.recall50, ie->e2e.ndcg50, ie->e2e.mrr);
    printf("\nANN recall against exact search: @10 %.4f, @50 %.4f (%s)\n", ie->ann10, ie->ann50, dir);
}

/* write_json, eval's last step: the towers' metrics, their cold slice, the baselines and, when ie
 * is not NULL, what the index gave. */
static int eval_write_json(const char *path, const lr_data *d, const eval_run *r, lr_split split,
                           const index_eval *ie, lr_err *err) {
    json_t *o = metrics_json(&r->rows[0].all);
    json_object_set_new(o, "split", json_string(split == LR_SPLIT_TEST ? "test" : "valid"));
    json_object_set_new(o, "mode", json_string(lr_towers_pal_mode_name(r->mc.mode)));
    json_object_set_new(o, "exclude_history", json_boolean(r->exclude_history));
    json_object_set_new(o, "cold_start", metrics_json(&r->rows[0].cold));
    json_t *base = json_object();
    json_object_set_new(base, "popularity", metrics_json(&r->rows[1].all));
    if (r->rows[2].have) json_object_set_new(base, "content_no_pal", metrics_json(&r->rows[2].all));
    json_object_set_new(o, "baselines", base);
    json_t *slices = lr_cli_eval_slices(d, split, r->targets, r->ranks);
    if (!slices) {
        json_decref(o);
        return lr_err_set(err, LR_ENOMEM, "out of memory for the slices");
    }
    json_object_set_new(o, "slices", slices);
    if (ie) {
        json_object_set_new(o, "ann_recall@10", json_real(ie->ann10));
        json_object_set_new(o, "ann_recall@50", json_real(ie->ann50));
        json_object_set_new(o, "through_index", metrics_json(&ie->e2e));
    }
    int rc = json_dump_file(o, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0
                 ? lr_err_set(err, LR_EIO, "%s: cannot write the JSON report", path)
                 : LR_OK;
    json_decref(o);
    return rc;
}

int lr_cmd_eval(int argc, char **argv) {
    const char *cmd = "eval";
    eval_opts o;
    int p = eval_args(argc, argv, &o);
    if (p != LR_CLI_RUN) return p;
    if (o.index) lr_cli_set_threads(1, 0); /* FAISS searches: one OpenBLAS thread */
    lr_err err = {0};
    lr_data *d = NULL;
    lr_pal *m = NULL;
    lr_content *ct = NULL;
    eval_run r = {.rows = {{"PAL towers", {0}, {0}, 0}, {"popularity", {0}, {0}, 0},
                           {"variant (c): content, no PAL", {0}, {0}, 0}},
                  .top_k = o.per_user ? o.per_user_k : 0};
    index_eval ie = {0};
    int rc = LR_EXIT_ERROR;
    r.exclude_history = o.exclude_history;
    if (o.exclude_history) r.rows[0].name = "PAL towers, history left out";
    if (lr_cli_open_towers(o.data, o.model, o.content, &d, &m, &ct, &err) ||
        eval_compute(d, m, ct, o.split, &r, &err))
        goto fail;
    eval_print(&r, o.split);
    /* The index comes after the table: the towers' rows are shown even when the index turns out
     * to be missing or built for another model. */
    if (o.index) {
        if (eval_index(o.index, o.model, r.users, r.nu, r.targets, r.items, r.ni, r.mc.out_dim, &ie, &err))
            goto fail;
        eval_print_index(&ie, o.index);
    }
    if (o.json && eval_write_json(o.json, d, &r, o.split, o.index ? &ie : NULL, &err)) goto fail;
    if (o.per_user && lr_cli_eval_per_user(o.per_user, d, o.split, r.targets, r.ranks, r.top, r.top_k, &err)) goto fail;
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    free(r.users);
    free(r.items);
    free(r.targets);
    free(r.ranks);
    free(r.top);
    lr_data_matrix_free(ct);
    lr_towers_pal_free(m);
    lr_data_free(d);
    return rc;
}
