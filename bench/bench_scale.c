/* Index codes at catalogue sizes past one million (issue 17, item 7): a catalogue grown from the
 * item tower's own outputs, each candidate index built, published and opened as the server opens
 * it, then searched one query at a time on one core for recall@k against exact search.
 *
 *   bench_scale prepare --items X.npy --query-vectors Q.npy --n N --out DIR [--seed S]
 *       DIR/x.npy: N unit vectors. The first min(N, rows of X) are X's rows; each further one is
 *       a row of X drawn at random plus Gaussian noise of norm h, normalised (a smoothed
 *       bootstrap: h is the median distance from a row of X to its nearest neighbour, so the
 *       grown catalogue is as dense, around each real item, as the items are around each other).
 *       DIR/q.npy: 2 x 1,000 user-tower rows of Q (the first 1,000 tune, the others test; no
 *       row twice). DIR/gt.bin: their exact top 100 over x.
 *   bench_scale build --dir DIR --factory F --vectors f16|f32 --out VDIR
 *       Builds F over DIR/x.npy on both cores and publishes it to VDIR with re-scoring vectors
 *       in the dtype asked: build time and peak memory.
 *   bench_scale republish --index VDIR --vectors f16|f32 --out VDIR2
 *       The version in VDIR published again with its re-scoring vectors in the other dtype (the
 *       same codes: one build measured, both dtypes searched).
 *   bench_scale search --dir DIR --index VDIR [--k 10] [--target 0.95] [--max-depth D]
 *       Opens VDIR as `serve` does: the memory it adds (codes and lists; vectors mapped). Then on
 *       one core, for nprobe (powers of two and their 1.5x) and re-scoring depth (0, 2k, 5k, 10k,
 *       20k, 40k), recall@k and QPS on the tune queries; the setting with the most QPS whose recall
 *       reaches the target is then measured on the test queries, which chose nothing. --max-depth
 *       leaves out deeper re-scoring (0: none, what an index serving without its vectors does). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "bench_cli.h"
#include "lr_data.h"
#include "lr_index.h"

#define NQ_HALF 1000
#define GT_K 100

static const char k_usage[] =
    "usage: bench_scale prepare --items X.npy --query-vectors Q.npy --n N --out DIR [--seed S]\n"
    "       bench_scale build --dir DIR --factory F --vectors f16|f32 --out VDIR\n"
    "       bench_scale republish --index VDIR --vectors f16|f32 --out VDIR2\n"
    "       bench_scale search --dir DIR --index VDIR [--k K] [--target R] [--max-depth D]\n\n"
    "Index codes at catalogue sizes past one million: a catalogue of N vectors grown from the item\n"
    "tower's outputs X (a smoothed bootstrap), 2 x 1,000 user-tower queries from Q and their exact\n"
    "top 100 (prepare); an index built and published with float16 or float32 re-scoring vectors\n"
    "(build: time, peak memory); opened as serve opens it and searched on one core (search: the\n"
    "memory it adds; the setting of most QPS at recall@K >= R on the tune queries, measured again\n"
    "on the test queries; --max-depth 0: without re-scoring). Defaults: K 10, R 0.95, seed 7.\n";

static const char *prog = "bench_scale";

static void die(const lr_err *err) {
    fprintf(stderr, "%s: %s\n", prog, err->msg);
    exit(1);
}

/* Resident memory from /proc/self/status: anonymous (the heap: codes, lists), file-backed
 * (mapped files' pages in memory) and the peak, in MB. */
static void mem_mb(double *anon, double *file, double *peak) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long a = 0, fi = 0, p = 0;
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "RssAnon: %ld", &a);
        sscanf(line, "RssFile: %ld", &fi);
        sscanf(line, "VmHWM: %ld", &p);
    }
    if (f) fclose(f);
    if (anon) *anon = (double)a / 1024.0;
    if (file) *file = (double)fi / 1024.0;
    if (peak) *peak = (double)p / 1024.0;
}

static lr_data_matrix *open_or_die(const char *path) {
    lr_err err = {0};
    lr_data_matrix *m;
    if (lr_data_matrix_open(path, 0, &m, &err)) die(&err);
    return m;
}

static void path_in(char *buf, size_t cap, const char *dir, const char *name) { snprintf(buf, cap, "%s/%s", dir, name); }

static int prepare(const char *items, const char *queries, size_t n, const char *dir, uint64_t seed) {
    lr_err err = {0};
    lr_data_matrix *base = open_or_die(items), *qm = open_or_die(queries);
    size_t nb = lr_data_matrix_rows(base), d = lr_data_matrix_dim(base);
    const float *b = lr_data_matrix_data(base);
    if (lr_data_matrix_dim(qm) != d) {
        fprintf(stderr, "%s: items have %zu dimensions, queries %zu\n", prog, d, lr_data_matrix_dim(qm));
        return 1;
    }
    /* the bandwidth: median distance from 1,000 rows of X to their nearest other row */
    size_t ns = nb < 1000 ? nb : 1000;
    float *sq = malloc(ns * d * sizeof *sq), *ss = malloc(ns * 2 * sizeof *ss);
    int64_t *si = malloc(ns * 2 * sizeof *si);
    for (size_t i = 0; i < ns; i++) memcpy(sq + i * d, b + (i * (nb / ns)) * d, d * sizeof *sq);
    if (lr_index_exact_search(b, nb, d, sq, ns, 2, si, ss, &err)) die(&err);
    double *dist = malloc(ns * sizeof *dist);
    for (size_t i = 0; i < ns; i++) dist[i] = sqrt(fmax(0.0, 2.0 - 2.0 * (double)ss[i * 2 + 1])); /* [0] is itself */
    for (size_t i = 1; i < ns; i++) /* insertion sort: 1,000 values */
        for (size_t j = i; j > 0 && dist[j - 1] > dist[j]; j--) {
            double t = dist[j];
            dist[j] = dist[j - 1], dist[j - 1] = t;
        }
    double h = dist[ns / 2];
    float *x = malloc(n * d * sizeof *x);
    if (!x) {
        fprintf(stderr, "%s: out of memory for %zu x %zu floats\n", prog, n, d);
        return 1;
    }
    size_t kept = n < nb ? n : nb;
    memcpy(x, b, kept * d * sizeof *x);
    float per = (float)(h / sqrt((double)d));
    for (size_t i = kept; i < n; i++) {
        uint64_t s = seed * 0x100000001b3ULL + i; /* each row its own stream: the same rows whatever the threads */
        const float *src = b + (bench_splitmix(&s) % nb) * d;
        float *row = x + i * d;
        double norm = 0;
        for (size_t j = 0; j < d; j++) {
            row[j] = src[j] + per * bench_gauss(&s);
            norm += (double)row[j] * row[j];
        }
        for (size_t j = 0; j < d; j++) row[j] = (float)(row[j] / sqrt(norm));
    }
    /* queries: 2 x 1,000 non-zero user rows, evenly spread, none twice */
    size_t nqm = lr_data_matrix_rows(qm), nq = 0;
    const float *qv = lr_data_matrix_data(qm);
    float *q = malloc(2 * NQ_HALF * d * sizeof *q);
    size_t step = nqm / (2 * NQ_HALF) ? nqm / (2 * NQ_HALF) : 1;
    for (size_t i = 0; i < nqm && nq < 2 * NQ_HALF; i += step) {
        double norm = cblas_sdot((int)d, qv + i * d, 1, qv + i * d, 1);
        if (norm > 0) memcpy(q + nq++ * d, qv + i * d, d * sizeof *q);
    }
    if (nq < 2 * NQ_HALF) {
        fprintf(stderr, "%s: %s has %zu non-zero rows at a stride of %zu; 2,000 are needed\n", prog, queries, nq, step);
        return 1;
    }
    char path[4200];
    path_in(path, sizeof path, dir, "x.npy");
    if (lr_data_npy_write(path, x, n, d, LR_NPY_F32, &err)) die(&err);
    path_in(path, sizeof path, dir, "q.npy");
    if (lr_data_npy_write(path, q, nq, d, LR_NPY_F32, &err)) die(&err);
    double t0 = bench_now_s();
    int64_t *gt = malloc(nq * GT_K * sizeof *gt);
    float *gs = malloc(nq * GT_K * sizeof *gs);
    if (lr_index_exact_search(x, n, d, q, nq, GT_K, gt, gs, &err)) die(&err);
    path_in(path, sizeof path, dir, "gt.bin");
    FILE *f = fopen(path, "wb");
    uint64_t head[2] = {nq, GT_K};
    if (!f || fwrite(head, sizeof head, 1, f) != 1 || fwrite(gt, sizeof *gt, nq * GT_K, f) != nq * GT_K || fclose(f)) {
        fprintf(stderr, "%s: cannot write %s\n", prog, path);
        return 1;
    }
    printf("prepared %zu x %zu in %s: %zu rows of %s, %zu grown from them with noise of norm %.4f (the median "
           "nearest-neighbour distance); %zu queries from %s; exact top %d in %.1f s\n",
           n, d, dir, kept, items, n - kept, h, nq, queries, GT_K, bench_now_s() - t0);
    free(sq), free(ss), free(si), free(dist), free(x), free(q), free(gt), free(gs);
    lr_data_matrix_free(base);
    lr_data_matrix_free(qm);
    return 0;
}

static int build(const char *dir, const char *factory, int f16, const char *out) {
    lr_err err = {0};
    char path[4200];
    path_in(path, sizeof path, dir, "x.npy");
    lr_data_matrix *xm = open_or_die(path);
    size_t n = lr_data_matrix_rows(xm), d = lr_data_matrix_dim(xm);
    double t0 = bench_now_s();
    lr_index *ix;
    if (lr_index_build(lr_data_matrix_data(xm), n, d, NULL, factory, &ix, &err)) die(&err);
    double built = bench_now_s() - t0, peak;
    mem_mb(NULL, NULL, &peak);
    t0 = bench_now_s();
    /* depth 1 records that the version re-scores; search sets the depth it measures */
    lr_index_publish_opts o = {.keep_versions = 1, .vectors_f16 = f16};
    if (lr_index_set_rescore(ix, lr_data_matrix_data(xm), n, 1, &err) || lr_index_publish(ix, out, &o, NULL, &err))
        die(&err);
    printf("build %s over %zu x %zu: %.1f s on both cores (peak resident %.0f MB, the %.0f MB of vectors "
           "included); published with %s vectors in %.1f s\n",
           lr_index_factory(ix), n, d, built, peak, (double)n * (double)d * 4.0 / 1048576.0, f16 ? "float16" : "float32",
           bench_now_s() - t0);
    lr_index_free(ix);
    lr_data_matrix_free(xm);
    return 0;
}

/* A published version again, its re-scoring vectors in another dtype: the same codes, so the
 * same build, without building it again. */
static int republish(const char *vdir, int f16, const char *out) {
    lr_err err = {0};
    lr_index *ix;
    lr_index_manifest m;
    double t0 = bench_now_s();
    if (lr_index_open(vdir, NULL, 0, NULL, 0, &ix, &m, &err)) die(&err);
    lr_index_publish_opts o = {.keep_versions = 1, .vectors_f16 = f16};
    if (lr_index_publish(ix, out, &o, NULL, &err)) die(&err);
    printf("republished %s (%s) to %s with %s vectors in %.1f s\n", vdir, m.factory, out, f16 ? "float16" : "float32",
           bench_now_s() - t0);
    lr_index_free(ix);
    return 0;
}

static double recall_at(const int64_t *got, const int64_t *gt, size_t nq, size_t k) {
    size_t hit = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                if (got[q * k + j] == gt[q * GT_K + i]) {
                    hit++;
                    break;
                }
    return (double)hit / (double)(nq * k);
}

typedef struct {
    size_t nprobe, depth;
    double recall, qps;
} setting;

/* One pass over nq queries one at a time: QPS, and recall@k into *recall. */
/* The setting goes in as the index's one operating point, as a tuned version serves it. */
static double pass(lr_index *ix, const float *q, size_t nq, size_t d, size_t k, size_t nprobe, size_t depth,
                   const int64_t *gt, double *recall) {
    lr_err err = {0};
    int64_t *got = malloc(nq * k * sizeof *got);
    float *s = malloc(nq * k * sizeof *s);
    lr_index_tune point = {k, nprobe, depth, 0, 0};
    if (lr_index_set_points(ix, &point, 1, &err)) die(&err);
    double t0 = bench_now_s();
    for (size_t i = 0; i < nq; i++)
        if (lr_index_search(ix, 1, q + i * d, k, got + i * k, s + i * k, &err)) die(&err);
    double qps = (double)nq / (bench_now_s() - t0);
    *recall = recall_at(got, gt, nq, k);
    free(got);
    free(s);
    return qps;
}

static int search(const char *dir, const char *vdir, size_t k, double target, size_t max_depth) {
    lr_err err = {0};
    char path[4200];
    path_in(path, sizeof path, dir, "q.npy");
    lr_data_matrix *qm = open_or_die(path);
    size_t d = lr_data_matrix_dim(qm);
    path_in(path, sizeof path, dir, "gt.bin");
    FILE *f = fopen(path, "rb");
    uint64_t head[2] = {0, 0};
    if (!f || fread(head, sizeof head, 1, f) != 1 || head[0] != 2 * NQ_HALF || head[1] != GT_K) {
        fprintf(stderr, "%s: %s is not this bench's ground truth (run prepare)\n", prog, path);
        return 1;
    }
    int64_t *gt = malloc(head[0] * GT_K * sizeof *gt);
    if (fread(gt, sizeof *gt, head[0] * GT_K, f) != head[0] * GT_K) {
        fprintf(stderr, "%s: %s is truncated\n", prog, path);
        return 1;
    }
    fclose(f);
    double a0, f0, a1, f1;
    mem_mb(&a0, &f0, NULL);
    double t0 = bench_now_s();
    lr_index *ix;
    lr_index_manifest m;
    if (lr_index_open(vdir, NULL, d, NULL, 0, &ix, &m, &err)) die(&err);
    double opened = bench_now_s() - t0;
    mem_mb(&a1, &f1, NULL);
    printf("opened %s (%s, %zu items, vectors %s, held as %s) in %.1f s: +%.0f MB anonymous (%.1f B per item), "
           "+%.0f MB of mapped file pages\n",
           vdir, m.factory, m.count, m.vectors_dtype, lr_index_rescore_source(ix), opened, a1 - a0,
           (a1 - a0) * 1048576.0 / (double)m.count, f1 - f0);
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    const float *tune = lr_data_matrix_data(qm), *test = tune + NQ_HALF * d;
    size_t nlist = lr_index_nlist(ix), depths[6] = {0, 2 * k, 5 * k, 10 * k, 20 * k, 40 * k};
    setting best = {0, 0, 0, 0};
    printf("\n| nprobe | re-score depth | recall@%zu (tune) | QPS, 1 query, 1 core |\n|---|---|---|---|\n", k);
    for (size_t di = 0; di < 6 && depths[di] <= max_depth; di++) {
        double last = -1;
        for (size_t p = 1; p <= nlist; p = p < 2 ? 2 : (p & (p - 1)) ? p / 3 * 4 : p / 2 * 3) {
            double rec, qps = pass(ix, tune, NQ_HALF, d, k, p, depths[di], gt, &rec);
            printf("| %zu | %zu | %.4f | %.0f |\n", p, depths[di], rec, qps);
            fflush(stdout);
            if (rec >= target && qps > best.qps) best = (setting){p, depths[di], rec, qps};
            /* more probes only cost now, or a pass would take over 20 s */
            if (rec >= target || qps < best.qps / 2 || rec <= last + 1e-4 || qps < 50) break;
            last = rec;
        }
    }
    if (!best.qps) {
        printf("\nno setting reached recall@%zu %.2f on the tune queries\n", k, target);
        return 0;
    }
    double rec, qps[3];
    for (int r = 0; r < 3; r++) qps[r] = pass(ix, test, NQ_HALF, d, k, best.nprobe, best.depth, gt + NQ_HALF * GT_K, &rec);
    for (int i = 1; i < 3; i++) /* the median of three */
        for (int j = i; j > 0 && qps[j - 1] > qps[j]; j--) {
            double t = qps[j];
            qps[j] = qps[j - 1], qps[j - 1] = t;
        }
    double a2, f2;
    mem_mb(&a2, &f2, NULL);
    printf("\nchosen on the tune queries: nprobe %zu, re-score depth %zu (recall@%zu %.4f, %.0f QPS)\n"
           "on the test queries: recall@%zu %.4f, %.0f QPS (median of 3 passes), %.3f ms a query\n"
           "resident after the searches: +%.0f MB anonymous, +%.0f MB of mapped file pages\n"
           "RESULT factory=%s items=%zu vectors=%s nprobe=%zu depth=%zu recall_tune=%.4f recall_test=%.4f qps=%.0f "
           "anon_mb=%.0f file_mb=%.0f\n",
           best.nprobe, best.depth, k, best.recall, best.qps, k, rec, qps[1], 1000.0 / qps[1], a2 - a0, f2 - f0,
           m.factory, m.count, m.vectors_dtype, best.nprobe, best.depth, best.recall, rec, qps[1], a1 - a0, f2 - f0);
    lr_index_free(ix);
    lr_data_matrix_free(qm);
    free(gt);
    return 0;
}

int main(int argc, char **argv) {
    bench_help_exits(argc, argv, k_usage);
    if (argc < 2) bench_refuse(prog, "which step: prepare, build or search");
    const char *step = argv[1], *items = NULL, *queries = NULL, *out = NULL, *dir = NULL, *factory = NULL,
               *vectors = NULL, *index = NULL;
    size_t n = 0, k = 10, max_depth = SIZE_MAX;
    uint64_t seed = 7;
    double target = 0.95;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--items")) items = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--query-vectors")) queries = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--n")) n = bench_size(prog, o, bench_value(prog, argc, argv, &i), 1000, 200000000);
        else if (!strcmp(o, "--out")) out = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--seed")) seed = bench_size(prog, o, bench_value(prog, argc, argv, &i), 0, 1u << 30);
        else if (!strcmp(o, "--dir")) dir = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--factory")) factory = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--vectors")) vectors = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--index")) index = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--max-depth")) max_depth = bench_size(prog, o, bench_value(prog, argc, argv, &i), 0, 1u << 20);
        else if (!strcmp(o, "--k")) k = bench_size(prog, o, bench_value(prog, argc, argv, &i), 1, GT_K);
        else if (!strcmp(o, "--target")) {
            const char *v = bench_value(prog, argc, argv, &i);
            char *end;
            target = strtod(v, &end);
            if (*end || !(target > 0 && target <= 1)) bench_refuse(prog, "--target expects a recall in (0, 1], got '%s'", v);
        } else bench_refuse(prog, "unknown option '%s'", o);
    }
    if (!strcmp(step, "prepare")) {
        if (!items || !queries || !n || !out) bench_refuse(prog, "prepare needs --items, --query-vectors, --n and --out");
        return prepare(items, queries, n, out, seed);
    }
    if (!strcmp(step, "build")) {
        if (!dir || !factory || !vectors || !out) bench_refuse(prog, "build needs --dir, --factory, --vectors and --out");
        if (strcmp(vectors, "f16") && strcmp(vectors, "f32")) bench_refuse(prog, "--vectors is f16 or f32, not '%s'", vectors);
        return build(dir, factory, !strcmp(vectors, "f16"), out);
    }
    if (!strcmp(step, "republish")) {
        if (!index || !vectors || !out) bench_refuse(prog, "republish needs --index, --vectors and --out");
        if (strcmp(vectors, "f16") && strcmp(vectors, "f32")) bench_refuse(prog, "--vectors is f16 or f32, not '%s'", vectors);
        return republish(index, !strcmp(vectors, "f16"), out);
    }
    if (!strcmp(step, "search")) {
        if (!dir || !index) bench_refuse(prog, "search needs --dir and --index");
        return search(dir, index, k, target, max_depth);
    }
    bench_refuse(prog, "unknown step '%s': prepare, build or search", step);
    return 2;
}
