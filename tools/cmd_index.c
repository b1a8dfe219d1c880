/* learnrec build-index, index info and search: the item index from the command line. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "lr_data.h"
#include "lr_index.h"
#include "lr_towers.h"

/* Held-out queries for autotune when no model is given: items moved off their spot by noise of
 * about a third of a vector's length, renormalised (towers' vectors are unit length). */
static float *perturbed_queries(const float *x, size_t n, size_t dim, size_t nq, uint64_t seed) {
    float *q = malloc(nq * dim * sizeof *q);
    if (!q) return NULL;
    for (size_t i = 0; i < nq; i++) {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        const float *src = x + (size_t)(seed >> 33) % n * dim;
        double s = 0;
        for (size_t j = 0; j < dim; j++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            double u = (double)(seed >> 11) / 9007199254740992.0 - 0.5; /* uniform, variance 1/12 */
            q[i * dim + j] = src[j] + (float)(u * 2.0 / sqrt((double)dim));
            s += (double)q[i * dim + j] * q[i * dim + j];
        }
        for (size_t j = 0; j < dim && s > 0; j++) q[i * dim + j] /= (float)sqrt(s);
    }
    return q;
}

/* --target-recall of build-index and rebuild: a recall in (0, 1]; -1 with a usage error otherwise. */
static int parse_target_recall(const char *cmd, const char *s, double *out) {
    char *end;
    double v = strtod(s, &end);
    if (*end || !(v > 0 && v <= 1)) {
        lr_cli_usage_error(cmd, "--target-recall expects a number in (0, 1], got '%s'", s);
        return -1;
    }
    *out = v;
    return 0;
}

int lr_cmd_build_index(int argc, char **argv) {
    enum { O_TARGET = 256, O_MODEL, O_KEEP, O_RESCORE, O_F16 };
    static const struct option opts[] = {
        {"items", required_argument, NULL, 'i'}, {"out", required_argument, NULL, 'o'},
        {"index", required_argument, NULL, 'x'}, {"target-recall", required_argument, NULL, O_TARGET},
        {"model-checksum", required_argument, NULL, O_MODEL}, {"keep", required_argument, NULL, O_KEEP},
        {"rescore", required_argument, NULL, O_RESCORE}, {"vectors-f16", no_argument, NULL, O_F16},
        {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "build-index", *items = NULL, *out = NULL, *factory = NULL, *model = NULL;
    double target = 0.95;
    size_t keep = 3;
    int rescore = 1, f16 = 0;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': items = optarg; break;
        case 'o': out = optarg; break;
        case 'x': factory = optarg; break;
        case O_MODEL: model = optarg; break;
        case O_F16: f16 = 1; break;
        case O_RESCORE:
            if (strcmp(optarg, "auto") == 0) rescore = 1;
            else if (strcmp(optarg, "off") == 0) rescore = 0;
            else return lr_cli_usage_error(cmd, "--rescore expects auto or off, got '%s'", optarg);
            break;
        case O_KEEP: if (lr_cli_parse_size(cmd, "--keep", optarg, 0, 1000, &keep)) return LR_EXIT_USAGE; break;
        case O_TARGET: if (parse_target_recall(cmd, optarg, &target)) return LR_EXIT_USAGE; break;
        case 'h':
            printf("usage: learnrec build-index --items items.npy --out DIR [--index STR]\n"
                   "                            [--target-recall R] [--keep K] [--model-checksum S]\n\n"
                   "Builds a FAISS index over item embeddings (row i = item i, inner product),\n"
                   "tunes nprobe to the cheapest value whose recall@10 against exact search reaches\n"
                   "R on held-out queries (perturbed item vectors), and publishes it as the next\n"
                   "version of DIR (DIR/versions/vNNNNNN, DIR/current swapped atomically).\n\n"
                   "  --index STR          any FAISS factory string (default: IVF with about\n"
                   "                       4 sqrt(N) lists and 8-bit scalar codes, SQ8)\n"
                   "  --target-recall R    (default 0.95)\n"
                   "  --rescore auto|off   keep the item vectors and let autotune choose how many\n"
                   "                       candidates to re-score exactly (default auto)\n"
                   "  --vectors-f16        store those vectors as float16 (half the disk and memory)\n"
                   "  --keep K             versions kept (default 3)\n");
            return LR_EXIT_OK;
        case ':': return lr_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return lr_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc || !items || !out) return lr_cli_usage_error(cmd, "--items and --out are required");
    lr_err err = {0};
    lr_content *x = NULL;
    lr_index *ix = NULL;
    float *q = NULL;
    int rc = LR_EXIT_ERROR;
    if (lr_towers_content_open(items, 0, &x, &err)) goto fail;
    size_t n = lr_towers_content_rows(x), dim = lr_towers_content_dim(x);
    if (lr_index_build(lr_towers_content_data(x), n, dim, NULL, factory, &ix, &err)) goto fail;
    lr_index_tune t = {lr_index_nprobe(ix), 0, 0.0, 0};
    if (rescore && lr_index_set_rescore(ix, lr_towers_content_data(x), n, 1, &err)) goto fail;
    if (lr_index_nprobe(ix)) {
        size_t nq = n < 500 ? n : 500;
        if (!(q = perturbed_queries(lr_towers_content_data(x), n, dim, nq, 7))) {
            lr_err_set(&err, LR_ENOMEM, "out of memory");
            goto fail;
        }
        if (lr_index_autotune(ix, lr_towers_content_data(x), n, q, nq, 10, target, &t, &err)) goto fail;
    }
    lr_index_publish_opts po = {model, NULL, keep, 0, f16};
    lr_index_manifest m;
    if (lr_index_publish(ix, out, &po, &m, &err)) goto fail;
    printf("built %s over %zu x %zu", m.factory, m.count, m.dim);
    if (m.nprobe)
        printf("; nprobe %zu, re-scoring depth %zu: recall@10 %.3f on held-out queries (target "
               "%.3f%s)", m.nprobe, m.rescore_depth, t.recall, target, t.reached ? "" : ", NOT reached");
    printf("; published %s/versions/%s\n", out, m.version);
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    free(q);
    lr_index_free(ix);
    lr_towers_content_free(x);
    return rc;
}

static int index_info(int argc, char **argv) {
    const char *cmd = "index info";
    int json = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: learnrec index info DIR [--json]\n\n"
                   "Opens the current version of an index directory, verifying its manifest and\n"
                   "checksum, and prints the manifest.\n");
            return LR_EXIT_OK;
        }
        if (!strcmp(argv[i], "--json")) json = 1;
        else if (!dir) dir = argv[i];
        else return lr_cli_usage_error(cmd, "unexpected argument '%s'", argv[i]);
    }
    if (!dir) return lr_cli_usage_error(cmd, "missing DIR");
    lr_err err = {0};
    lr_index *ix;
    lr_index_manifest m;
    if (lr_index_open(dir, NULL, 0, NULL, &ix, &m, &err)) return lr_cli_fail(cmd, &err);
    lr_index_free(ix);
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:s, s:I}", "dir", dir,
                              "version", m.version, "dim", (json_int_t)m.dim, "count",
                              (json_int_t)m.count, "factory", m.factory, "nprobe",
                              (json_int_t)m.nprobe, "model_checksum", m.model_checksum, "created",
                              m.created, "format_version", (json_int_t)m.format);
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(o);
    } else {
        printf("dir: %s\nversion: %s\nvectors: %zu\ndim: %zu\nindex: %s\nnprobe: %zu\n"
               "rescore depth: %zu%s%s\nmodel checksum: %s\ncreated: %s\nindex crc32: %08x (verified)\n",
               dir, m.version, m.count, m.dim, m.factory, m.nprobe, m.rescore_depth,
               m.rescore_depth ? ", vectors " : "", m.rescore_depth ? m.vectors_dtype : "",
               m.model_checksum[0] ? m.model_checksum : "-", m.created, m.index_crc32);
    }
    return LR_EXIT_OK;
}

int lr_cmd_index(int argc, char **argv) {
    static const lr_cli_command cmds[] = {
        {"info", index_info, "verify and describe an index directory"},
    };
    return lr_cli_dispatch(cmds, sizeof cmds / sizeof cmds[0], "learnrec index <command> [options]",
                           argc - 1, argv + 1);
}

int lr_cmd_search(int argc, char **argv) {
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'x'}, {"vectors", required_argument, NULL, 'v'},
        {"k", required_argument, NULL, 'k'},     {"json", required_argument, NULL, 'j'},
        {"nprobe", required_argument, NULL, 'p'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "search", *dir = NULL, *vp = NULL, *jp = NULL;
    size_t k = 10, nprobe = 0;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":hk:", opts, NULL)) != -1) {
        switch (c) {
        case 'x': dir = optarg; break;
        case 'v': vp = optarg; break;
        case 'j': jp = optarg; break;
        case 'k': if (lr_cli_parse_size(cmd, "-k", optarg, 1, 100000, &k)) return LR_EXIT_USAGE; break;
        case 'p': if (lr_cli_parse_size(cmd, "--nprobe", optarg, 1, 1 << 20, &nprobe)) return LR_EXIT_USAGE; break;
        case 'h':
            printf("usage: learnrec search --index DIR --vectors q.npy -k K [--nprobe P] [--json F]\n\n"
                   "Searches the current version of an index for each row of q.npy and prints\n"
                   "the top K [id, score] per query; --json F writes {\"results\": [[[id, score],\n"
                   "...], ...]}, one list per query row.\n");
            return LR_EXIT_OK;
        case ':': return lr_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return lr_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc || !dir || !vp) return lr_cli_usage_error(cmd, "--index and --vectors are required");
    lr_err err = {0};
    lr_index *ix = NULL;
    lr_content *q = NULL;
    int64_t *ids = NULL;
    float *s = NULL;
    int rc = LR_EXIT_ERROR;
    if (lr_index_open(dir, NULL, 0, NULL, &ix, NULL, &err) || lr_towers_content_open(vp, 0, &q, &err))
        goto fail;
    size_t nq = lr_towers_content_rows(q);
    if (lr_towers_content_dim(q) != lr_index_dim(ix)) {
        lr_err_set(&err, LR_EMISMATCH, "%s has %zu-d rows, the index %zu-d vectors", vp,
                   lr_towers_content_dim(q), lr_index_dim(ix));
        goto fail;
    }
    if (nprobe && lr_index_set_nprobe(ix, nprobe, &err)) goto fail;
    ids = malloc(nq * k * sizeof *ids);
    s = malloc(nq * k * sizeof *s);
    if (!ids || !s) {
        lr_err_set(&err, LR_ENOMEM, "out of memory");
        goto fail;
    }
    if (lr_index_search(ix, nq, lr_towers_content_data(q), k, ids, s, &err)) goto fail;
    json_t *all = json_array();
    for (size_t i = 0; i < nq; i++) {
        json_t *row = json_array();
        for (size_t j = 0; j < k && ids[i * k + j] >= 0; j++)
            json_array_append_new(row, json_pack("[I, f]", (json_int_t)ids[i * k + j], (double)s[i * k + j]));
        json_array_append_new(all, row);
        if (!jp) {
            printf("query %zu:", i);
            for (size_t j = 0; j < k && ids[i * k + j] >= 0; j++)
                printf(" %lld:%.4f", (long long)ids[i * k + j], (double)s[i * k + j]);
            printf("\n");
        }
    }
    json_t *o = json_pack("{s:o}", "results", all);
    int bad = jp && json_dump_file(o, jp, JSON_COMPACT) != 0;
    json_decref(o);
    if (bad) {
        lr_err_set(&err, LR_EIO, "%s: cannot write the results", jp);
        goto fail;
    }
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    free(ids);
    free(s);
    lr_towers_content_free(q);
    lr_index_free(ix);
    return rc;
}

/* The item tower over every item in chunks, drawing a progress bar on a terminal (the step that
 * takes longest in a rebuild: half a minute for a million items on two cores). */
static int embed_with_progress(const lr_pal *m, const lr_content *ct, size_t ni, size_t D, float *items,
                               double t0, lr_err *err) {
    enum { CHUNK = 65536, WIDTH = 30 };
    int tty = isatty(2);
    int32_t *ids = malloc((ni < CHUNK ? ni : CHUNK) * sizeof *ids);
    if (!ids) return lr_err_set(err, LR_ENOMEM, "out of memory");
    int rc = LR_OK;
    for (size_t s = 0; !rc && s < ni; s += CHUNK) {
        size_t n = ni - s < CHUNK ? ni - s : CHUNK;
        for (size_t i = 0; i < n; i++) ids[i] = (int32_t)(s + i);
        rc = lr_towers_item_embed(m, ct, ids, n, items + s * D, err);
        if (tty) {
            size_t done = s + n, filled = done * WIDTH / ni;
            fprintf(stderr, "\r      [%.*s%.*s] %3zu%% %zu/%zu items (%.1f s so far)", (int)filled,
                    "##############################", (int)(WIDTH - filled), "..............................",
                    done * 100 / ni, done, ni, lr_cli_now() - t0);
        }
    }
    if (tty) fprintf(stderr, "\n");
    free(ids);
    return rc;
}

/* learnrec rebuild: the offline job. Item tower over every item, build, tune against user-tower
 * queries, publish. */
int lr_cmd_rebuild(int argc, char **argv) {
    enum { O_TARGET = 256, O_KEEP };
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},    {"model", required_argument, NULL, 'm'},
        {"content", required_argument, NULL, 'c'}, {"out", required_argument, NULL, 'o'},
        {"index", required_argument, NULL, 'x'},   {"target-recall", required_argument, NULL, O_TARGET},
        {"keep", required_argument, NULL, O_KEEP}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "rebuild", *data = NULL, *mp = NULL, *cp = NULL, *out = NULL, *factory = NULL;
    double target = 0.95;
    size_t keep = 3;
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'm': mp = optarg; break;
        case 'c': cp = optarg; break;
        case 'o': out = optarg; break;
        case 'x': factory = optarg; break;
        case O_KEEP: if (lr_cli_parse_size(cmd, "--keep", optarg, 0, 1000, &keep)) return LR_EXIT_USAGE; break;
        case O_TARGET: if (parse_target_recall(cmd, optarg, &target)) return LR_EXIT_USAGE; break;
        case 'h':
            printf("usage: learnrec rebuild --data DIR --model M --content C --out DIR [--index STR]\n"
                   "                        [--target-recall R] [--keep K]\n\n"
                   "The offline index job in one command: the item tower over every item, an index\n"
                   "over its outputs (as build-index), nprobe and re-scoring depth tuned so that the\n"
                   "recall@10 of users' own vectors (validation histories through the user tower)\n"
                   "against exact search reaches R, then published as the next version of DIR with\n"
                   "the model's and the content's checksums in its manifest. Progress goes to\n"
                   "stderr: a line per step with the time so far, and a bar for the item tower\n"
                   "when stderr is a terminal.\n");
            return LR_EXIT_OK;
        case ':': return lr_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return lr_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc || !data || !mp || !out) return lr_cli_usage_error(cmd, "--data, --model and --out are required");
    lr_err err = {0};
    lr_data *d = NULL;
    lr_pal *m = NULL;
    lr_content *ct = NULL;
    lr_index *ix = NULL;
    float *items = NULL, *users = NULL;
    int32_t *targets = NULL;
    int rc = LR_EXIT_ERROR;
    char model_crc[9], content_crc[9] = "";
    double t0 = lr_cli_now();
    fprintf(stderr, "[1/5] loading %s, %s\n", data, mp);
    if (lr_cli_open_towers(data, mp, cp, &d, &m, &ct, &err) || lr_index_file_checksum(mp, model_crc, &err) ||
        (cp && lr_index_file_checksum(cp, content_crc, &err)))
        goto fail;
    lr_pal_config mc = lr_towers_pal_get_config(m);
    size_t ni = lr_data_num_items(d), nu = lr_data_num_users(d), D = mc.out_dim;
    items = malloc(ni * D * sizeof *items);
    users = malloc(nu * D * sizeof *users);
    targets = malloc(nu * sizeof *targets);
    if (!items || !users || !targets) {
        lr_err_set(&err, LR_ENOMEM, "out of memory");
        goto fail;
    }
    fprintf(stderr, "[2/5] item tower over %zu items (%.1f s so far)\n", ni, lr_cli_now() - t0);
    if (embed_with_progress(m, ct, ni, D, items, t0, &err)) goto fail;
    fprintf(stderr, "[3/5] building the index (%.1f s so far)\n", lr_cli_now() - t0);
    if (lr_index_build(items, ni, D, NULL, factory, &ix, &err)) goto fail;
    /* the item vectors are offered for re-scoring; autotune keeps them only if they pay */
    if (lr_index_nprobe(ix) && lr_index_set_rescore(ix, items, ni, 1, &err)) goto fail;
    lr_index_tune t = {lr_index_nprobe(ix), 0, 0.0, 0};
    if (lr_index_nprobe(ix)) {
        fprintf(stderr, "[4/5] tuning on the users' validation histories (%.1f s so far)\n", lr_cli_now() - t0);
        if (lr_towers_embed_split(m, d, ct, LR_SPLIT_VALID, users, targets, &err)) goto fail;
        size_t nq = 0; /* users with a history, at most 2,000 of them, evenly spread */
        size_t step = nu > 2000 ? nu / 2000 : 1;
        for (size_t u = 0; u < nu && nq < 2000; u += step)
            if (targets[u] >= 0) memmove(users + nq++ * D, users + u * D, D * sizeof *users);
        if (nq == 0 || lr_index_autotune(ix, items, ni, users, nq, 10, target, &t, &err)) {
            if (nq == 0) lr_err_set(&err, LR_EINVAL, "no user has a history to tune with");
            goto fail;
        }
    }
    fprintf(stderr, "[5/5] publishing (%.1f s so far)\n", lr_cli_now() - t0);
    lr_index_publish_opts po = {model_crc, content_crc, keep, 0, 0};
    lr_index_manifest man;
    if (lr_index_publish(ix, out, &po, &man, &err)) goto fail;
    fprintf(stderr, "done in %.1f s\n", lr_cli_now() - t0);
    printf("rebuilt %s over %zu items (model %s); ", man.factory, man.count, model_crc);
    if (man.nprobe)
        printf("nprobe %zu, re-scoring depth %zu: recall@10 %.3f of user vectors against exact search "
               "(target %.3f%s); ", man.nprobe, man.rescore_depth, t.recall, target, t.reached ? "" : ", NOT reached");
    else
        printf("no nprobe to tune; ");
    printf("published %s/versions/%s\n", out, man.version);
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    free(items);
    free(users);
    free(targets);
    lr_index_free(ix);
    lr_towers_content_free(ct);
    lr_towers_pal_free(m);
    lr_data_free(d);
    return rc;
}
