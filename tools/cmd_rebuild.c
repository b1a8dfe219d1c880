/* learnrec rebuild: the offline index job. Every step prints a line (and the item tower a bar on a
 * terminal). Unless --full, it starts from the version `current` names when that was built by the
 * same model: items whose key and content hash are unchanged keep their vectors
 * (rebuild_reuse.c), the index keeps its trained quantizer and the codes of those items
 * (renumbered), only new and changed items go through the item tower and into the index, and the
 * operating points are tuned again only when their recall fell below the target. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "lr_data.h"
#include "lr_index.h"
#include "lr_towers.h"

typedef struct {
    const char *data, *model, *content, *out, *factory;
    double target;
    size_t keep, threads;
    lr_cli_tune_ks tk;
    int full, f16;
} rebuild_opts;

static int rebuild_args(int argc, char **argv, rebuild_opts *o) {
    *o = (rebuild_opts){.target = 0.95, .keep = 3, .tk = {{10, 100}, 2}, .f16 = -1};
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("data", &o->data, "DIR", "the dataset"), .required = 1},
        {LR_OPT_STRING("model", &o->model, "M", "the towers"), .required = 1},
        {LR_OPT_STRING("content", &o->content, "C", "the content embeddings (not read in id mode)")},
        {LR_OPT_STRING("out", &o->out, "DIR", "the index directory to publish into"), .required = 1},
        {LR_OPT_STRING("index", &o->factory, "STR", "any FAISS factory string (default: IVF with about\n"
                       "4 sqrt(N) lists and 8-bit scalar codes, SQ8)")},
        {LR_OPT_DOUBLE("target-recall", &o->target, 0, 1, "R", "the recall@k each k is tuned to reach"),
         .lo_open = 1},
        {LR_OPT_CUSTOM("tune-k", &o->tk, lr_cli_parse_tune_k, "LIST", "the values of k to tune for, ascending"),
         .dflt = "10,100"},
        {LR_OPT_CHOICE("vectors-dtype", &o->f16, lr_cli_vectors_dtypes,
                       "how the item vectors (re-scoring, reuse) are stored and\n"
                       "held in memory: f16 takes half of f32; auto: f16 once\n"
                       "f32 would take 1 GiB (about 4M items at 64 dimensions)")},
        {LR_OPT_SIZE("keep", &o->keep, 0, 1000, "K", "versions kept")},
        {LR_OPT_FLAG("full", &o->full, "build everything again, reusing nothing of the current version")},
        {LR_OPT_SIZE("threads", &o->threads, 1, 1024, "N", "cores for OpenBLAS and OpenMP (default: all)"), .dflt = ""},
    };
    const lr_cli_spec spec = {
        .cmd = "rebuild",
        .usage = "learnrec rebuild --data DIR --model M --content C --out DIR [--index STR]\n"
                 "                        [--target-recall R] [--tune-k LIST] [--vectors-dtype T] [--keep K]\n"
                 "                        [--full] [--threads N]",
        .description =
            "The offline index job in one command: the item tower over every item, an index\n"
            "over its outputs (as build-index), nprobe and re-scoring depth tuned for each k\n"
            "of LIST (default 10,100) so that the recall@k of users' own vectors (up to 2,000\n"
            "validation histories through the user tower) against exact search reaches R,\n"
            "then published as the next version of DIR with the model's and the content's\n"
            "checksums, the items' attributes, and each item's key and content hash.\n\n"
            "When the current version of DIR was built by the same model (and --index, if\n"
            "given, names its factory), only what changed is redone: items whose key and\n"
            "content row are unchanged keep their vectors and codes, the trained quantizer\n"
            "is kept, new and edited items are embedded and added, removed ones dropped, and\n"
            "the operating points are tuned again only if their recall fell below R. The\n"
            "manifest records what was reused. --full builds everything again.\n\n"
            "Progress goes to stderr: a line per step with the time so far, and a bar for the\n"
            "item tower when stderr is a terminal.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    return lr_cli_parse(&spec, argc, argv);
}

/* The item tower over the n items listed into items (row = item), in chunks with a bar on a
 * terminal. */
static int embed_with_progress(const lr_pal *m, const lr_content *ct, const int32_t *list, size_t n, size_t D,
                               float *items, double t0, lr_err *err) {
    enum { CHUNK = 65536, WIDTH = 30 };
    int tty = isatty(2);
    float *out = malloc((n < CHUNK ? n : CHUNK) * D * sizeof *out + 1);
    int rc = out ? LR_OK : lr_err_set(err, LR_ENOMEM, "out of memory");
    for (size_t s = 0; !rc && s < n; s += CHUNK) {
        size_t c = n - s < CHUNK ? n - s : CHUNK;
        rc = lr_towers_item_embed(m, ct, list + s, c, out, err);
        for (size_t i = 0; !rc && i < c; i++) memcpy(items + (size_t)list[s + i] * D, out + i * D, D * sizeof *out);
        if (tty) {
            size_t done = s + c, filled = done * WIDTH / n;
            fprintf(stderr, "\r      [%.*s%.*s] %3zu%% %zu/%zu items (%.1f s so far)", (int)filled,
                    "##############################", (int)(WIDTH - filled), "..............................",
                    done * 100 / n, done, n, lr_cli_now() - t0);
        }
    }
    if (tty && n) fprintf(stderr, "\n");
    free(out);
    return rc;
}

/* The tuning queries: users' validation histories through the user tower, from users with one,
 * at most max of them, evenly spread, into users (*nq rows of D); tuned_on gets `cap` bytes. Only
 * the chosen users go through the tower. */
static int tuning_queries(const lr_pal *m, const lr_data *d, const lr_content *ct, size_t max, float *users,
                          size_t *nq, char *tuned_on, size_t cap, lr_err *err) {
    size_t nu = lr_data_num_users(d), step = nu > max ? nu / max : 1, max_len = lr_towers_pal_get_config(m).max_len;
    size_t *off = malloc((max + 1) * sizeof *off), total = 0, n = 0;
    int32_t *items = NULL;
    const int32_t *h;
    size_t len;
    for (size_t u = 0; off && u < nu && n < max; u += step)
        if (lr_data_user_history(d, u, LR_SPLIT_VALID, max_len, &h, &len) >= 0 && len) total += len, n++;
    if (!off || !(items = malloc((total ? total : 1) * sizeof *items))) {
        free(off);
        return lr_err_set(err, LR_ENOMEM, "out of memory for the tuning queries");
    }
    off[0] = 0, n = 0;
    for (size_t u = 0; u < nu && n < max; u += step)
        if (lr_data_user_history(d, u, LR_SPLIT_VALID, max_len, &h, &len) >= 0 && len) {
            memcpy(items + off[n], h, len * sizeof *items);
            off[n + 1] = off[n] + len, n++;
        }
    int rc = n ? lr_towers_user_embed(m, ct, items, off, n, users, err)
               : lr_err_set(err, LR_EINVAL, "no user has a history to tune with");
    *nq = n;
    snprintf(tuned_on, cap, "%zu users' validation histories through the user tower", n);
    free(off);
    free(items);
    return rc;
}

/* Everything rebuild holds; freed by rebuild_free. */
typedef struct {
    lr_data *d;
    lr_pal *m;
    lr_content *ct;
    lr_index *ix;
    float *items, *users;
    int32_t *todo;
    uint64_t *hash;
    lr_cli_prev prev;
    lr_index_tune pts[LR_INDEX_MAX_POINTS];
    size_t npts, n_todo;
    lr_index_reuse reused;
    char model_crc[9], content_crc[LR_DATA_DIGEST_LEN], tuned_on[128];
    double t0; /* when the job started, for the progress lines */
} rebuild_state;

static void rebuild_free(rebuild_state *s) {
    free(s->items), free(s->users), free(s->todo), free(s->hash);
    lr_cli_prev_close(&s->prev);
    lr_index_free(s->ix);
    lr_data_matrix_free(s->ct);
    lr_towers_pal_free(s->m);
    lr_data_free(s->d);
}

/* Step 3: the index, from the previous one's quantizer and codes when they can be kept. */
static int build_step(rebuild_state *s, const rebuild_opts *o, size_t ni, size_t D, lr_err *err) {
    if (s->prev.usable && s->prev.codes_usable && (!o->factory || !strcmp(o->factory, s->prev.man.factory))) {
        size_t kept = 0;
        int rc = lr_cli_prev_index(&s->prev, o->out, &s->ix, err);
        if (!rc) rc = lr_index_remap(s->ix, s->prev.old_to_new, s->prev.n_old, &kept, err);
        float *add = rc ? NULL : malloc(s->n_todo * D * sizeof *add + 1);
        int64_t *ids = rc ? NULL : malloc(s->n_todo * sizeof *ids + 1);
        if (!rc && (!add || !ids)) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        for (size_t i = 0; !rc && i < s->n_todo; i++) {
            memcpy(add + i * D, s->items + (size_t)s->todo[i] * D, D * sizeof *add);
            ids[i] = s->todo[i];
        }
        if (!rc && s->n_todo) rc = lr_index_add(s->ix, s->n_todo, add, ids, err);
        free(add), free(ids);
        if (!rc) s->reused.codes = kept, s->reused.quantizer = 1;
        return rc;
    }
    return lr_index_build(s->items, ni, D, NULL, o->factory, &s->ix, err);
}

/* Step 4: the previous points kept when they still reach the target, else tuned again. */
static int tune_step(rebuild_state *s, const rebuild_opts *o, size_t ni, lr_err *err) {
    size_t nq = 0;
    int rc = LR_OK;
    if (s->reused.quantizer && s->prev.man.n_points) {
        /* the check: 1,000 users tell whether the points still hold (the user tower over their
         * histories and the exact search are most of its cost) */
        size_t nc;
        int ok = 0;
        if ((rc = tuning_queries(s->m, s->d, s->ct, 1000, s->users, &nc, s->tuned_on, sizeof s->tuned_on, err)))
            return rc;
        fprintf(stderr, "      %zu users' histories through the user tower; measuring the points (%.1f s so far)\n", nc,
                lr_cli_now() - s->t0);
        rc = lr_index_set_points(s->ix, s->prev.man.points, s->prev.man.n_points, err);
        if (!rc) rc = lr_index_check_points(s->ix, s->items, ni, s->users, nc, o->target, s->pts, &ok, err);
        if (!rc && ok) {
            s->npts = s->prev.man.n_points;
            s->reused.points = 1;
            snprintf(s->tuned_on, sizeof s->tuned_on, "%zu users' validation histories through the user tower "
                     "(the points of %s, measured again)", nc, s->reused.from);
            fprintf(stderr, "      the operating points still reach %.3f: kept\n", o->target);
            return LR_OK;
        }
        if (!rc) fprintf(stderr, "      the operating points fell below %.3f: tuning again\n", o->target);
    }
    if (!rc) rc = tuning_queries(s->m, s->d, s->ct, 2000, s->users, &nq, s->tuned_on, sizeof s->tuned_on, err);
    if (!rc) rc = lr_index_autotune(s->ix, s->items, ni, s->users, nq, o->tk.k, o->tk.n, o->target, s->pts, &s->npts, err);
    return rc;
}

/* Step 5: attributes, rows, vectors and manifest, published. */
static int publish_step(rebuild_state *s, const rebuild_opts *o, lr_index_manifest *man, lr_err *err) {
    lr_index_attrs *attrs;
    lr_index_rows *rows;
    int rc = lr_cli_attrs_of(s->d, &attrs, err);
    if (rc) return rc;
    lr_index_set_attrs(s->ix, attrs);
    if ((rc = lr_cli_rows_of(s->d, s->hash, &rows, err))) return rc;
    lr_index_set_rows(s->ix, rows);
    lr_index_kv meta[2] = {{"model", s->model_crc}, {"content", s->content_crc}}; /* no content in id mode */
    lr_index_publish_opts po = {.meta = meta, .n_meta = s->content_crc[0] ? 2 : 1, .keep_versions = o->keep,
                                .tuned_on = s->tuned_on, .vectors = s->items, .n_vectors = lr_data_num_items(s->d),
                                .vectors_f16 = o->f16 < 0 ? lr_index_default_vectors_f16(lr_data_num_items(s->d),
                                                                                          lr_index_dim(s->ix))
                                                          : o->f16,
                                .reused = s->reused.from[0] ? &s->reused : NULL};
    return lr_index_publish(s->ix, o->out, &po, man, err);
}

static void report(const rebuild_state *s, const rebuild_opts *o, const lr_index_manifest *man) {
    printf("rebuilt %s over %zu items (model %s); published %s/versions/%s\n", man->factory, man->count,
           s->model_crc, o->out, man->version);
    if (s->reused.from[0])
        printf("reused from %s: %zu item vectors, %zu codes, the quantizer %s, the operating points %s\n",
               s->reused.from, s->reused.vectors, s->reused.codes, s->reused.quantizer ? "kept" : "trained again",
               s->reused.points ? "kept" : "tuned again");
    const lr_index_attrs *attrs = lr_index_get_attrs(s->ix);
    for (size_t k = 0; attrs && k < lr_index_attrs_count(attrs); k++)
        printf("%s %s (%zu values)%s", k ? "," : "attributes:", lr_index_attrs_name(attrs, k),
               lr_index_attrs_num_values(attrs, k), k + 1 == lr_index_attrs_count(attrs) ? "\n" : "");
    if (s->npts) printf("tuned on %s, against exact search:\n", s->tuned_on);
    else printf("no nprobe to tune\n");
    lr_cli_print_points(s->pts, s->npts, o->target);
}

int lr_cmd_rebuild(int argc, char **argv) {
    rebuild_opts o;
    int p = rebuild_args(argc, argv, &o);
    if (p != LR_CLI_RUN) return p;
    /* every core for OpenBLAS and OpenMP: FAISS's k-means, assignment and exact search are BLAS
     * calls it does not split itself, and with idle OpenMP threads waiting passively the two
     * pools no longer fight (docs/benchmarks.md, Rebuild) */
    lr_cli_set_threads(o.threads, o.threads);
    lr_err err = {0};
    rebuild_state s = {0};
    double t0 = s.t0 = lr_cli_now();
    fprintf(stderr, "[1/5] loading %s, %s\n", o.data, o.model);
    if (lr_cli_open_towers(o.data, o.model, o.content, &s.d, &s.m, &s.ct, &err) ||
        lr_index_file_checksum(o.model, s.model_crc, &err))
        goto fail;

    size_t ni = lr_data_num_items(s.d), nu = lr_data_num_users(s.d), D = lr_towers_pal_get_config(s.m).out_dim;
    s.items = malloc(ni * D * sizeof *s.items);
    s.users = malloc((nu < 2000 ? nu : 2000) * D * sizeof *s.users + 1);
    s.todo = malloc(ni * sizeof *s.todo + 1);
    s.hash = malloc(ni * sizeof *s.hash + 1);
    if (!s.items || !s.users || !s.todo || !s.hash) {
        lr_err_set(&err, LR_ENOMEM, "out of memory");
        goto fail;
    }
    lr_cli_content_hashes(s.ct, ni, s.hash);
    if (s.ct) lr_data_digest_of_rows(s.hash, ni, s.content_crc); /* the content's name, from the same pass */
    if (!o.full && lr_cli_prev_open(o.out, s.model_crc, D, s.d, s.hash, s.items, s.todo, &s.n_todo, &s.prev, &err))
        goto fail;
    if (s.prev.usable) {
        snprintf(s.reused.from, sizeof s.reused.from, "%.7s", s.prev.man.version);
        s.reused.vectors = ni - s.n_todo;
        fprintf(stderr, "[2/5] item tower over %zu new or changed items of %zu; %zu kept from %s (%.1f s so far)\n",
                s.n_todo, ni, s.reused.vectors, s.prev.man.version, lr_cli_now() - t0);
    } else {
        if (s.prev.why[0]) fprintf(stderr, "      %s: building everything\n", s.prev.why);
        s.n_todo = ni;
        for (size_t i = 0; i < ni; i++) s.todo[i] = (int32_t)i;
        fprintf(stderr, "[2/5] item tower over %zu items (%.1f s so far)\n", ni, lr_cli_now() - t0);
    }
    if (embed_with_progress(s.m, s.ct, s.todo, s.n_todo, D, s.items, t0, &err)) goto fail;
    fprintf(stderr, "[3/5] %s the index (%.1f s so far)\n", s.prev.usable && s.prev.codes_usable ? "updating" : "building",
            lr_cli_now() - t0);
    if (build_step(&s, &o, ni, D, &err)) goto fail;
    /* the item vectors are offered for re-scoring; the points keep them only if they pay */
    if (lr_index_nprobe(s.ix) && lr_index_set_rescore(s.ix, s.items, ni, 1, &err)) goto fail;
    if (lr_index_nprobe(s.ix)) {
        fprintf(stderr, "[4/5] tuning on the users' validation histories (%.1f s so far)\n", lr_cli_now() - t0);
        if (tune_step(&s, &o, ni, &err)) goto fail;
    }
    fprintf(stderr, "[5/5] publishing (%.1f s so far)\n", lr_cli_now() - t0);
    lr_index_manifest man;
    if (publish_step(&s, &o, &man, &err)) goto fail;
    fprintf(stderr, "done in %.1f s\n", lr_cli_now() - t0);
    report(&s, &o, &man);
    rebuild_free(&s);
    return LR_EXIT_OK;
fail:
    lr_cli_fail("rebuild", &err);
    rebuild_free(&s);
    return LR_EXIT_ERROR;
}
