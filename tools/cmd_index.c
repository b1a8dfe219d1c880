/* learnrec build-index, index info and search: the item index from the command line. */
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

enum { MAX_TUNING_QUERIES = 2000 };

const lr_cli_choice lr_cli_vectors_dtypes[] = {{"auto", -1}, {"f32", 0}, {"f16", 1}, {NULL, 0}};

int lr_cli_parse_tune_k(const char *cmd, const char *opt, const char *s, void *dest) {
    size_t *ks = ((lr_cli_tune_ks *)dest)->k, *nk = &((lr_cli_tune_ks *)dest)->n;
    *nk = 0;
    for (const char *p = s; *p;) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10);
        if (end == p || (*end && *end != ',') || *p == '-' || v == 0 || v > 100000 ||
            *nk == LR_INDEX_MAX_POINTS || (*nk && v <= ks[*nk - 1])) {
            lr_cli_usage_error(cmd, "%s expects 1 to %d ascending values of k in 1..100000, "
                               "comma-separated, got '%s'", opt, LR_INDEX_MAX_POINTS, s);
            return -1;
        }
        ks[(*nk)++] = (size_t)v;
        p = *end ? end + 1 : end;
    }
    if (*nk == 0) {
        lr_cli_usage_error(cmd, "%s expects at least one value of k", opt);
        return -1;
    }
    return 0;
}

void lr_cli_print_points(const lr_index_tune *pts, size_t n, double target) {
    for (size_t i = 0; i < n; i++)
        printf("  k <= %-6zu nprobe %-5zu re-scoring depth %-6zu recall@%zu %.3f%s\n", pts[i].k,
               pts[i].nprobe, pts[i].depth, pts[i].k, pts[i].recall, pts[i].reached ? "" : " (target NOT reached)");
    if (n) printf("  (target %.3f; a larger k uses the last line)\n", target);
}

/* The tuning queries of build-index --queries: non-zero rows (users without a history embed to
 * zero), at most MAX_TUNING_QUERIES of them, evenly spread. */
static int read_queries(const char *path, size_t dim, float **out, size_t *nq, lr_err *err) {
    lr_content *c = NULL;
    int rc = lr_data_matrix_open(path, 0, &c, err);
    if (rc) return rc;
    size_t n = lr_data_matrix_rows(c), m = 0;
    const float *x = lr_data_matrix_data(c);
    float *q = NULL;
    if (lr_data_matrix_dim(c) != dim)
        rc = lr_err_set(err, LR_EMISMATCH, "%s has %zu-d rows, the items %zu-d", path,
                        lr_data_matrix_dim(c), dim);
    else if (!(q = malloc((n < MAX_TUNING_QUERIES ? n : MAX_TUNING_QUERIES) * dim * sizeof *q + 1)))
        rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    size_t step = n > MAX_TUNING_QUERIES ? n / MAX_TUNING_QUERIES : 1;
    for (size_t i = 0; !rc && i < n && m < MAX_TUNING_QUERIES; i += step) {
        int zero = 1;
        for (size_t j = 0; j < dim && zero; j++) zero = x[i * dim + j] == 0.0f;
        if (!zero) memcpy(q + m++ * dim, x + i * dim, dim * sizeof *q);
    }
    if (!rc && m == 0) rc = lr_err_set(err, LR_EINVAL, "%s: no non-zero query vector to tune with", path);
    lr_data_matrix_free(c);
    if (rc) {
        free(q);
        return rc;
    }
    *out = q;
    *nq = m;
    return LR_OK;
}

/* build-index's options; LR_CLI_RUN or an exit code. */
typedef struct {
    const char *items, *out, *factory, *model, *queries;
    double target;
    size_t keep;
    lr_cli_tune_ks tk;
    int rescore, f16;
} build_index_opts;

static int build_index_args(int argc, char **argv, build_index_opts *o) {
    static const lr_cli_choice rescores[] = {{"auto", 1}, {"off", 0}, {NULL, 0}};
    *o = (build_index_opts){.target = 0.95, .keep = 3, .tk = {{10, 100}, 2}, .rescore = 1, .f16 = -1};
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("items", &o->items, "items.npy", "the item embeddings, row i = item i"), .required = 1},
        {LR_OPT_STRING("out", &o->out, "DIR", "the index directory to publish into"), .required = 1},
        {LR_OPT_STRING("index", &o->factory, "STR", "any FAISS factory string (default: IVF with about\n"
                       "4 sqrt(N) lists and 8-bit scalar codes, SQ8)")},
        {LR_OPT_STRING("queries", &o->queries, "Q.npy", "tune on these query vectors (e.g. user-tower outputs;\n"
                       "zero rows are skipped, at most 2,000 rows used). Without\n"
                       "it: 2,000 items, each searched with itself left out of\n"
                       "its results and of the truth, which behave as fresh\n"
                       "queries from the items' own distribution")},
        {LR_OPT_DOUBLE("target-recall", &o->target, 0, 1, "R", "the recall@k each k is tuned to reach"),
         .lo_open = 1},
        {LR_OPT_CUSTOM("tune-k", &o->tk, lr_cli_parse_tune_k, "LIST", "the values of k to tune for, ascending"),
         .dflt = "10,100"},
        {LR_OPT_CHOICE("rescore", &o->rescore, rescores,
                       "keep the item vectors and let autotune choose how many\n"
                       "candidates to re-score exactly")},
        {LR_OPT_CHOICE("vectors-dtype", &o->f16, lr_cli_vectors_dtypes,
                       "how those vectors are stored and held in memory: f16\n"
                       "takes half of f32; auto: f16 once f32 would take 1 GiB\n"
                       "(about 4M items at 64 dimensions)")},
        {LR_OPT_SIZE("keep", &o->keep, 0, 1000, "K", "versions kept")},
        {LR_OPT_STRING("model-checksum", &o->model, "S", "the towers' checksum, recorded in the manifest")},
    };
    const lr_cli_spec spec = {
        .cmd = "build-index",
        .usage = "learnrec build-index --items items.npy --out DIR [--index STR]\n"
                 "                            [--queries Q.npy] [--target-recall R] [--tune-k LIST]\n"
                 "                            [--vectors-dtype T] [--keep K] [--model-checksum S]",
        .description =
            "Builds a FAISS index over item embeddings (row i = item i, inner product),\n"
            "tunes it for each k of LIST (default 10,100) to the cheapest nprobe and\n"
            "re-scoring depth whose recall@k against exact search reaches R, and publishes\n"
            "it as the next version of DIR (DIR/versions/vNNNNNN, DIR/current swapped\n"
            "atomically). Searches then use the setting tuned for their k (a larger k: the\n"
            "last one).",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    return lr_cli_parse(&spec, argc, argv);
}

int lr_cmd_build_index(int argc, char **argv) {
    const char *cmd = "build-index";
    build_index_opts o;
    int p = build_index_args(argc, argv, &o);
    if (p != LR_CLI_RUN) return p;
    lr_cli_set_threads(1, 0); /* FAISS: one OpenBLAS thread beside its OpenMP ones */
    lr_err err = {0};
    lr_content *x = NULL;
    lr_index *ix = NULL;
    float *q = NULL;
    int rc = LR_EXIT_ERROR;
    char tuned_on[128] = "";
    lr_index_tune pts[LR_INDEX_MAX_POINTS];
    size_t npts = 0;
    if (lr_data_matrix_open(o.items, 0, &x, &err)) goto fail;
    size_t n = lr_data_matrix_rows(x), dim = lr_data_matrix_dim(x), nq = 0;
    if (lr_index_build(lr_data_matrix_data(x), n, dim, NULL, o.factory, &ix, &err)) goto fail;
    if (o.rescore && lr_index_set_rescore(ix, lr_data_matrix_data(x), n, 1, &err)) goto fail;
    if (lr_index_nprobe(ix)) {
        if (o.queries && read_queries(o.queries, dim, &q, &nq, &err)) goto fail;
        if (!o.queries) nq = n < MAX_TUNING_QUERIES ? n : MAX_TUNING_QUERIES;
        if (o.queries) snprintf(tuned_on, sizeof tuned_on, "%zu query vectors from %.80s", nq, o.queries);
        else snprintf(tuned_on, sizeof tuned_on, "%zu items, each left out of its own results", nq);
        if (lr_index_autotune(ix, lr_data_matrix_data(x), n, q, nq, o.tk.k, o.tk.n, o.target, pts, &npts,
                              &err))
            goto fail;
    }
    lr_index_kv meta = {"model", o.model}; /* what --model-checksum names, when given */
    lr_index_publish_opts po = {.meta = &meta, .n_meta = o.model ? 1 : 0, .keep_versions = o.keep,
                                .vectors_f16 = o.f16 < 0 ? lr_index_default_vectors_f16(n, dim) : o.f16,
                                .tuned_on = tuned_on};
    lr_index_manifest m;
    if (lr_index_publish(ix, o.out, &po, &m, &err)) goto fail;
    printf("built %s over %zu x %zu; published %s/versions/%s\n", m.factory, m.count, m.dim, o.out, m.version);
    if (npts) printf("tuned on %s:\n", tuned_on);
    lr_cli_print_points(pts, npts, o.target);
    rc = LR_EXIT_OK;
fail:
    if (rc) lr_cli_fail(cmd, &err);
    free(q);
    lr_index_free(ix);
    lr_data_matrix_free(x);
    return rc;
}

static int index_info(int argc, char **argv) {
    const char *cmd = "index info", *dir = NULL;
    int json = 0;
    const lr_cli_option opts[] = {{LR_OPT_FLAG("json", &json, "print the manifest as one JSON object")}};
    const lr_cli_spec spec = {
        .cmd = cmd, .usage = "learnrec index info DIR [--json]",
        .description =
            "Opens the current version of an index directory, verifying its manifest and\n"
            "checksum, and prints the manifest with its operating points: for each k tuned,\n"
            "the nprobe and re-scoring depth searches up to that k use, and the recall@k\n"
            "measured when it was tuned.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts), .positional = "DIR", .positional_dest = &dir};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_cli_set_threads(1, 0); /* FAISS: one OpenBLAS thread beside its OpenMP ones */
    lr_err err = {0};
    lr_index *ix;
    lr_index_manifest m;
    if (lr_index_open(dir, NULL, 0, NULL, 0, &ix, &m, &err)) return lr_cli_fail(cmd, &err);
    lr_index_free(ix);
    const char *model = lr_index_manifest_meta(&m, "model");
    if (json) {
        json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:s, s:I, s:s, s:s, s:I}", "dir", dir,
                              "version", m.version, "dim", (json_int_t)m.dim, "count",
                              (json_int_t)m.count, "factory", m.factory, "nprobe",
                              (json_int_t)m.nprobe, "model_checksum", model ? model : "", "created",
                              m.created, "format_version", (json_int_t)m.format);
        json_t *pts = json_array();
        for (size_t i = 0; i < m.n_points; i++)
            json_array_append_new(pts, json_pack("{s:I, s:I, s:I, s:f, s:b}", "k", (json_int_t)m.points[i].k,
                                                 "nprobe", (json_int_t)m.points[i].nprobe, "rescore_depth",
                                                 (json_int_t)m.points[i].depth, "recall", m.points[i].recall,
                                                 "reached", m.points[i].reached));
        json_object_set_new(o, "operating_points", pts);
        json_object_set_new(o, "tuned_on", json_string(m.tuned_on));
        json_object_set_new(o, "vectors_dtype", json_string(m.vectors_dtype)); /* "" when it has none */
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(o);
    } else {
        printf("dir: %s\nversion: %s\nvectors: %zu\ndim: %zu\nindex: %s\nnprobe: %zu\n"
               "rescore depth: %zu%s%s\nmodel checksum: %s\ncreated: %s\nindex crc32: %08x (verified)\n",
               dir, m.version, m.count, m.dim, m.factory, m.nprobe, m.rescore_depth,
               m.rescore_depth ? ", vectors " : "", m.rescore_depth ? m.vectors_dtype : "",
               model ? model : "-", m.created, m.index_crc32);
        if (m.n_points) {
            printf("operating points (tuned on %s):\n     k  nprobe  rescore depth  recall@k\n",
                   m.tuned_on[0] ? m.tuned_on : "queries not recorded");
            for (size_t i = 0; i < m.n_points; i++)
                printf("%6zu  %6zu  %13zu  %8.3f%s\n", m.points[i].k, m.points[i].nprobe, m.points[i].depth,
                       m.points[i].recall, m.points[i].reached ? "" : "  (target not reached)");
        } else if (m.nprobe) {
            printf("operating points: none (published before per-k tuning: nprobe %zu for every k)\n", m.nprobe);
        }
    }
    return LR_EXIT_OK;
}

int lr_cmd_index(int argc, char **argv) {
    static const lr_cli_command cmds[] = {
        {"info", index_info, "verify and describe an index directory"},
        {"list", lr_cmd_index_list, "list its versions, which is current (--verify: check each)"},
        {"use", lr_cmd_index_use, "make an earlier version current again (a rollback)"},
    };
    return lr_cli_dispatch(cmds, sizeof cmds / sizeof cmds[0], "learnrec index <command> [options]",
                           argc - 1, argv + 1);
}

int lr_cmd_search(int argc, char **argv) {
    const char *cmd = "search", *dir = NULL, *vp = NULL, *jp = NULL;
    size_t k = 10, nprobe = 0;
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("index", &dir, "DIR", "the index directory"), .required = 1},
        {LR_OPT_STRING("vectors", &vp, "q.npy", "the queries, one per row"), .required = 1},
        {LR_OPT_SIZE("k", &k, 1, 100000, "K", "results per query"), .short_name = 'k'},
        {LR_OPT_SIZE("nprobe", &nprobe, 1, 1 << 20, "P", "lists to probe, instead of the operating point's"),
         .dflt = ""},
        {LR_OPT_STRING("json", &jp, "F", "write the results to F instead of printing them")},
    };
    const lr_cli_spec spec = {
        .cmd = cmd, .usage = "learnrec search --index DIR --vectors q.npy -k K [--nprobe P] [--json F]",
        .description =
            "Searches the current version of an index for each row of q.npy and prints\n"
            "the top K [id, score] per query; --json F writes {\"results\": [[[id, score],\n"
            "...], ...]}, one list per query row. The index's operating point for K sets\n"
            "nprobe and re-scoring (index info lists them); --nprobe P overrides nprobe.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_cli_set_threads(1, 0); /* FAISS: one OpenBLAS thread beside its OpenMP ones */
    lr_err err = {0};
    lr_index *ix = NULL;
    lr_content *q = NULL;
    int64_t *ids = NULL;
    float *s = NULL;
    int rc = LR_EXIT_ERROR;
    if (lr_index_open(dir, NULL, 0, NULL, 0, &ix, NULL, &err) || lr_data_matrix_open(vp, 0, &q, &err))
        goto fail;
    size_t nq = lr_data_matrix_rows(q);
    if (lr_data_matrix_dim(q) != lr_index_dim(ix)) {
        lr_err_set(&err, LR_EMISMATCH, "%s has %zu-d rows, the index %zu-d vectors", vp,
                   lr_data_matrix_dim(q), lr_index_dim(ix));
        goto fail;
    }
    ids = malloc(nq * k * sizeof *ids);
    s = malloc(nq * k * sizeof *s);
    if (!ids || !s) {
        lr_err_set(&err, LR_ENOMEM, "out of memory");
        goto fail;
    }
    /* --nprobe for this search alone; an index that cannot take it per call has it set */
    int src = lr_index_search_nprobe(ix, nq, lr_data_matrix_data(q), k, nprobe, ids, s, &err);
    if (src == LR_EUNSUPPORTED && nprobe)
        src = lr_index_set_nprobe(ix, nprobe, &err) || lr_index_search(ix, nq, lr_data_matrix_data(q), k, ids, s, &err);
    if (src) goto fail;
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
    lr_data_matrix_free(q);
    lr_index_free(ix);
    return rc;
}

