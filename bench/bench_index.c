/* Benchmark of learnrec's index on clustered unit vectors: build time and memory, then recall@100
 * against exact search versus queries per second on one thread, one query at a time and in
 * batches of 64, over a grid of nprobe and re-scoring depth. Writes the curves as CSV and SVG.
 *
 * The same run times raw FAISS on the same index (saved and read back through the FAISS C API of
 * the same build, searched with no learnrec code in between) to measure learnrec's overhead.
 *
 * usage: bench_index [--n N] [--dim D] [--queries Q] [--factory STR] [--out PREFIX] [--save 1]
 *                    [--items X.npy --query-vectors Q.npy] [--nprobe-max P]
 *                    [--per-list S] [--kmeans-rounds R]
 *   defaults: 1,000,000 x 64, 1,000 queries, the default factory, PREFIX bench_index
 * The vectors: 1,000 random centres, each point a centre plus noise, normalised. Queries come
 * from the same distribution (fresh draws, not points of the set). With --items and
 * --query-vectors they are read instead (e.g. item- and user-tower outputs; zero query rows are
 * dropped, at most --queries rows are used, evenly spread). With --save 1 the vectors and
 * queries are written as PREFIX_x.npy and PREFIX_q.npy for bench/peers_index.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/index_io_c.h>
#include <omp.h>

#include "bench_cli.h"
#include "lr_index.h"
#include "lr_data.h"

static const char k_usage[] =
    "usage: bench_index [--n N] [--dim D] [--queries Q] [--factory STR] [--out PREFIX] [--save 1]\n"
    "                   [--items X.npy --query-vectors Q.npy] [--nprobe-max P]\n"
    "                   [--per-list S] [--kmeans-rounds R]\n\n"
    "learnrec's index against raw FAISS (the same build) on clustered unit vectors: build time and\n"
    "memory, then recall@100 against exact search versus queries per second over a grid of nprobe\n"
    "and re-scoring depth; curves as PREFIX.csv and PREFIX.svg.\n"
    "  defaults: 1,000,000 x 64 vectors, 1,000 queries, the default factory, PREFIX bench_index\n"
    "  --items/--query-vectors   read the vectors instead (e.g. item- and user-tower outputs)\n"
    "  --save 1                  also write PREFIX_x.npy and PREFIX_q.npy (for peers_index.py)\n"
    "  --nprobe-max P            sweep nprobe up to P (default: every power of two to the lists)\n"
    "  --per-list S, --kmeans-rounds R   train the lists on S samples per list in R rounds\n"
    "                            (default: the engine's, 64 and 10)\n";

static double rss_mb(void) { /* resident set size from /proc */
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (double)rss * 4096.0 / 1048576.0;
}

static void draw(float *x, size_t n, size_t dim, const float *centres, size_t nc, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {
        const float *c = centres + (size_t)(bench_gauss(s) * 1e6 + 1e9) % nc * dim;
        double norm = 0;
        for (size_t j = 0; j < dim; j++) {
            x[i * dim + j] = c[j] + 0.35f * bench_gauss(s);
            norm += (double)x[i * dim + j] * x[i * dim + j];
        }
        for (size_t j = 0; j < dim; j++) x[i * dim + j] /= (float)sqrt(norm);
    }
}

/* Reads rows of an .npy (copied: the bench owns its buffers). Drops all-zero rows when asked and
 * keeps at most `cap` rows, evenly spread. */
static float *read_rows(const char *path, size_t cap, int drop_zero, size_t *n, size_t *dim) {
    lr_err err = {0};
    lr_data_matrix *c;
    if (lr_data_matrix_open(path, 0, &c, &err)) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        exit(1);
    }
    size_t rows = lr_data_matrix_rows(c), d = lr_data_matrix_dim(c), m = 0;
    const float *src = lr_data_matrix_data(c);
    size_t live = 0;
    for (size_t i = 0; i < rows; i++) {
        int zero = 1;
        for (size_t j = 0; j < d && zero; j++) zero = src[i * d + j] == 0.0f;
        live += !(drop_zero && zero);
    }
    size_t want = cap && cap < live ? cap : live, step = live / (want ? want : 1), seen = 0;
    float *x = malloc((want ? want : 1) * d * sizeof *x);
    for (size_t i = 0; i < rows && m < want; i++) {
        int zero = 1;
        for (size_t j = 0; j < d && zero; j++) zero = src[i * d + j] == 0.0f;
        if (drop_zero && zero) continue;
        if (seen++ % step == 0) memcpy(x + m++ * d, src + i * d, d * sizeof *x);
    }
    lr_data_matrix_free(c);
    *n = m;
    *dim = d;
    return x;
}

typedef struct {
    size_t nprobe, depth;
    double recall, qps1, qps64;
} point;

static double recall_at(const int64_t *a, const int64_t *e, size_t nq, size_t k) {
    size_t hit = 0;
    for (size_t q = 0; q < nq; q++)
        for (size_t i = 0; i < k; i++)
            for (size_t j = 0; j < k; j++)
                if (a[q * k + j] == e[q * k + i]) {
                    hit++;
                    break;
                }
    return (double)hit / (double)(nq * k);
}

static void write_svg(const char *path, const point *p, size_t n, const char *title) {
    FILE *f = fopen(path, "w");
    if (!f) return;
    double W = 720, H = 480, L = 70, R = 20, T = 40, B = 60, maxq = 1;
    for (size_t i = 0; i < n; i++) maxq = fmax(maxq, fmax(p[i].qps1, p[i].qps64));
    double lmax = ceil(log10(maxq)), lmin = lmax - 4;
    fprintf(f, "<svg xmlns='http://www.w3.org/2000/svg' width='%.0f' height='%.0f' font-family='sans-serif' font-size='12'>\n", W, H);
    fprintf(f, "<rect width='100%%' height='100%%' fill='white'/><text x='%.0f' y='24' font-size='14'>%s</text>\n", L, title);
    for (int d = 0; d <= 4; d++) { /* y: log10 QPS */
        double y = T + (H - T - B) * (1.0 - d / 4.0);
        fprintf(f, "<line x1='%.0f' y1='%.1f' x2='%.0f' y2='%.1f' stroke='#ddd'/><text x='5' y='%.1f'>1e%.0f</text>\n",
                L, y, W - R, y, y + 4, lmin + d);
    }
    for (int r = 0; r <= 10; r += 2) { /* x: recall 0.5 .. 1 */
        double x = L + (W - L - R) * (r / 10.0);
        fprintf(f, "<line x1='%.1f' y1='%.0f' x2='%.1f' y2='%.0f' stroke='#ddd'/><text x='%.1f' y='%.0f'>%.1f</text>\n",
                x, T, x, H - B, x - 8, H - B + 18, 0.5 + r / 20.0);
    }
    fprintf(f, "<text x='%.0f' y='%.0f'>recall@100</text><text x='5' y='%.0f'>QPS</text>\n", W / 2, H - 20, T - 8);
    const char *colours[2] = {"#1f77b4", "#d62728"};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < n; i++) {
            double q = s ? p[i].qps64 : p[i].qps1;
            if (q <= 0 || p[i].recall < 0.5) continue;
            double x = L + (W - L - R) * (p[i].recall - 0.5) / 0.5;
            double y = T + (H - T - B) * (1.0 - (log10(q) - lmin) / 4.0);
            fprintf(f, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s'><title>nprobe %zu, depth %zu</title></circle>\n",
                    x, y, colours[s], p[i].nprobe, p[i].depth);
        }
    fprintf(f, "<text x='%.0f' y='%.0f' fill='%s'>one query at a time</text><text x='%.0f' y='%.0f' fill='%s'>batches of 64</text>\n",
            W - 220, T + 16, colours[0], W - 220, T + 32, colours[1]);
    fprintf(f, "</svg>\n");
    fclose(f);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Single-query QPS of one pass over the queries, through learnrec or straight into FAISS. */
static double pass_qps(lr_index *ix, FaissIndex *raw, const float *q, size_t nq, size_t dim, size_t k,
                       int64_t *got, float *s) {
    lr_err err = {0};
    double t0 = bench_now_s();
    for (size_t j = 0; j < nq; j++) {
        if (raw) faiss_Index_search(raw, 1, q + j * dim, (idx_t)k, s + j * k, got + j * k);
        else lr_index_search(ix, 1, q + j * dim, k, got + j * k, s + j * k, &err);
    }
    return (double)nq / (bench_now_s() - t0);
}

/* Raw FAISS on the same index: the file learnrec saved, read back through the C API and searched
 * directly, for each nprobe learnrec measured without re-scoring. learnrec's overhead comes from
 * paired passes, learnrec and raw FAISS alternating three times (medians), so a machine whose
 * speed drifts during the sweep does not show up as overhead. Returns the index file's size. */
static long raw_faiss(lr_index *ix, const char *prefix, const float *q, size_t nq, size_t dim,
                      size_t k, const int64_t *exact, const point *pts, size_t np, FILE *out) {
    char path[512];
    snprintf(path, sizeof path, "%s.faiss", prefix);
    lr_err err = {0};
    if (lr_index_save(ix, path, &err)) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        return -1;
    }
    FILE *f = fopen(path, "rb");
    long bytes = -1;
    if (f && fseek(f, 0, SEEK_END) == 0) bytes = ftell(f);
    if (f) fclose(f);
    FaissIndex *raw = NULL;
    FaissParameterSpace *ps = NULL;
    if (faiss_read_index_fname(path, 0, &raw) || faiss_ParameterSpace_new(&ps)) {
        fprintf(stderr, "bench_index: raw FAISS could not read %s\n", path);
        return bytes;
    }
    int64_t *got = malloc(nq * k * sizeof *got);
    float *s = malloc(nq * k * sizeof *s);
    lr_index_set_rescore(ix, NULL, 0, 0, &err);
    printf("\nraw FAISS (same build, C API, same index file), paired with learnrec (medians of 3):\n\n"
           "| nprobe | recall@100 | raw QPS, 1 query | raw QPS, batches of 64 | learnrec QPS, 1 query | learnrec's overhead |\n"
           "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < np; i++) {
        if (pts[i].depth) continue;
        if (pts[i].nprobe && (faiss_ParameterSpace_set_index_parameter(ps, raw, "nprobe", (double)pts[i].nprobe) ||
                              lr_index_set_nprobe(ix, pts[i].nprobe, &err)))
            break;
        double mine[3], theirs[3];
        for (int r = 0; r < 3; r++) {
            mine[r] = pass_qps(ix, NULL, q, nq, dim, k, got, s);
            theirs[r] = pass_qps(NULL, raw, q, nq, dim, k, got, s);
        }
        qsort(mine, 3, sizeof *mine, cmp_double);
        qsort(theirs, 3, sizeof *theirs, cmp_double);
        double rec = recall_at(got, exact, nq, k);
        double t0 = bench_now_s();
        for (size_t j = 0; j + 64 <= nq; j += 64) faiss_Index_search(raw, 64, q + j * dim, (idx_t)k, s + j * k, got + j * k);
        double qps64 = (double)(nq / 64 * 64) / (bench_now_s() - t0);
        printf("| %zu | %.4f | %.0f | %.0f | %.0f | %+.1f%% |\n", pts[i].nprobe, rec, theirs[1], qps64, mine[1],
               100.0 * (theirs[1] / mine[1] - 1.0));
        fprintf(out, "faiss-c,%zu,0,%.4f,%.1f,%.1f\n", pts[i].nprobe, rec, theirs[1], qps64);
        fflush(stdout);
        if (theirs[1] < 300) break; /* slow settings: their pairs would take minutes */
    }
    free(got);
    free(s);
    faiss_ParameterSpace_free(ps);
    faiss_Index_free(raw);
    return bytes;
}

int main(int argc, char **argv) {
    size_t n = 1000000, dim = 64, nq = 1000, k = 100;
    const char *factory = NULL, *prefix = "bench_index", *items_path = NULL, *queries_path = NULL;
    int save = 0;
    lr_index_train_opts train = {0, 0};
    size_t nprobe_max = SIZE_MAX;
    const char *prog = "bench_index";
    bench_help_exits(argc, argv, k_usage);
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "--n")) n = bench_size(prog, o, bench_value(prog, argc, argv, &i), 1000, 100000000);
        else if (!strcmp(o, "--dim")) dim = bench_size(prog, o, bench_value(prog, argc, argv, &i), 1, 4096);
        else if (!strcmp(o, "--queries")) nq = bench_size(prog, o, bench_value(prog, argc, argv, &i), 1, 1000000);
        else if (!strcmp(o, "--factory")) factory = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--out")) prefix = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--save")) save = (int)bench_size(prog, o, bench_value(prog, argc, argv, &i), 0, 1);
        else if (!strcmp(o, "--items")) items_path = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--query-vectors")) queries_path = bench_value(prog, argc, argv, &i);
        else if (!strcmp(o, "--nprobe-max")) nprobe_max = bench_size(prog, o, bench_value(prog, argc, argv, &i), 1, 1 << 20);
        else if (!strcmp(o, "--per-list")) train.samples_per_list = bench_size(prog, o, bench_value(prog, argc, argv, &i), 1, 4096);
        else if (!strcmp(o, "--kmeans-rounds")) train.kmeans_rounds = bench_size(prog, o, bench_value(prog, argc, argv, &i), 1, 100);
        else bench_refuse(prog, "unknown option '%s'", o);
    }
    if (!items_path != !queries_path) {
        fprintf(stderr, "bench_index: --items and --query-vectors go together\n");
        return 2;
    }
    uint64_t seed = 42;
    float *centres = NULL, *x, *q;
    if (items_path) {
        size_t qd;
        x = read_rows(items_path, 0, 0, &n, &dim);
        q = read_rows(queries_path, nq, 1, &nq, &qd);
        if (qd != dim) {
            fprintf(stderr, "bench_index: items have %zu dimensions, queries %zu\n", dim, qd);
            return 1;
        }
    } else {
        centres = malloc(1000 * dim * sizeof *centres);
        x = malloc(n * dim * sizeof *x);
        q = malloc(nq * dim * sizeof *q);
        for (size_t i = 0; i < 1000 * dim; i++) centres[i] = bench_gauss(&seed);
        draw(x, n, dim, centres, 1000, &seed);
        draw(q, nq, dim, centres, 1000, &seed);
    }
    float *s = malloc(nq * k * sizeof *s);
    int64_t *exact = malloc(nq * k * sizeof *exact), *got = malloc(nq * k * sizeof *got);
    lr_err err = {0};
    if (save) {
        char px[512], pq[512];
        snprintf(px, sizeof px, "%s_x.npy", prefix);
        snprintf(pq, sizeof pq, "%s_q.npy", prefix);
        if (lr_data_npy_write(px, x, n, dim, LR_NPY_F32, &err) ||
            lr_data_npy_write(pq, q, nq, dim, LR_NPY_F32, &err)) {
            fprintf(stderr, "bench_index: %s\n", err.msg);
            return 1;
        }
    }
    double t0 = bench_now_s();
    if (lr_index_exact_search(x, n, dim, q, nq, k, exact, s, &err)) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        return 1;
    }
    printf("data: %zu x %zu %s, %zu queries; exact top-%zu in %.1f s\n", n, dim,
           items_path ? items_path : "clustered unit vectors", nq, k, bench_now_s() - t0);
    double rss0 = rss_mb();
    t0 = bench_now_s();
    lr_index *ix;
    if (lr_index_build_ex(x, n, dim, NULL, factory, &train, &ix, &err)) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        return 1;
    }
    double build = bench_now_s() - t0, rss1 = rss_mb();
    printf("learnrec index %s: built in %.1f s (both cores; %zu k-means rounds over %zu samples per list), "
           "resident memory +%.0f MB (%.1f bytes per vector)\n", lr_index_factory(ix), build,
           train.kmeans_rounds ? train.kmeans_rounds : LR_INDEX_KMEANS_ROUNDS,
           train.samples_per_list ? train.samples_per_list : LR_INDEX_SAMPLES_PER_LIST, rss1 - rss0,
           (rss1 - rss0) * 1048576.0 / (double)n);
    char fname[160];
    snprintf(fname, sizeof fname, "%s", lr_index_factory(ix));
    { /* measure the index as the server has it: read back from its file (lists laid out once,
       * not grown batch by batch), exactly what raw FAISS reads below */
        char path[512];
        lr_index *back;
        snprintf(path, sizeof path, "%s.faiss", prefix);
        if (lr_index_save(ix, path, &err) || lr_index_load(path, &back, &err)) {
            fprintf(stderr, "bench_index: %s\n", err.msg);
            return 1;
        }
        lr_index_free(ix);
        ix = back;
    }
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    size_t nlist = 1;
    sscanf(fname, "IVF%zu", &nlist);
    size_t depths[4] = {0, 400, 800, 1600};
    point pts[64];
    size_t np = 0;
    char csv[512];
    snprintf(csv, sizeof csv, "%s.csv", prefix);
    FILE *out = fopen(csv, "w");
    fprintf(out, "engine,nprobe,depth,recall@100,qps_single,qps_batch64\n");
    printf("\n| nprobe | re-score depth | recall@100 | QPS, 1 query | QPS, batches of 64 |\n|---|---|---|---|---|\n");
    for (size_t di = 0; di < 4; di++) {
        if (depths[di] && lr_index_set_rescore(ix, x, n, depths[di], &err)) break;
        if (!depths[di]) lr_index_set_rescore(ix, NULL, 0, 0, &err);
        for (size_t p = 1; p <= nlist && p <= nprobe_max && np < 64; p *= 2) {
            if (nlist > 1 && lr_index_set_nprobe(ix, p, &err)) break;
            size_t reps = nq;
            t0 = bench_now_s();
            for (size_t i = 0; i < reps; i++) lr_index_search(ix, 1, q + i * dim, k, got + i * k, s + i * k, &err);
            double qps1 = (double)reps / (bench_now_s() - t0);
            double rec = recall_at(got, exact, nq, k);
            t0 = bench_now_s();
            for (size_t i = 0; i + 64 <= nq; i += 64) lr_index_search(ix, 64, q + i * dim, k, got + i * k, s + i * k, &err);
            double qps64 = (double)(nq / 64 * 64) / (bench_now_s() - t0);
            pts[np++] = (point){p, depths[di], rec, qps1, qps64};
            printf("| %zu | %zu | %.4f | %.0f | %.0f |\n", p, depths[di], rec, qps1, qps64);
            fprintf(out, "learnrec,%zu,%zu,%.4f,%.1f,%.1f\n", p, depths[di], rec, qps1, qps64);
            fflush(stdout);
            if (rec > 0.995 || nlist == 1) break;
            if (np >= 2 && pts[np - 2].depth == depths[di] && rec <= pts[np - 2].recall + 1e-4) break;
        }
    }
    long bytes = raw_faiss(ix, prefix, q, nq, dim, k, exact, pts, np, out);
    printf("\nindex file: %.1f MB (%.1f bytes per vector)\n", (double)bytes / 1048576.0, (double)bytes / (double)n);
    fclose(out);
    char svg[512], title[256];
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    snprintf(title, sizeof title, "learnrec %s, %zu x %zu, one thread: recall@100 vs QPS", fname, n, dim);
    write_svg(svg, pts, np, title);
    printf("\nwrote %s and %s\n", csv, svg);
    lr_index_free(ix);
    free(centres); free(x); free(q); free(s); free(exact); free(got);
    return 0;
}
