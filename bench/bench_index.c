/* Benchmark of learnrec's index on clustered unit vectors: build time and memory, then recall@100
 * against exact search versus queries per second on one thread, one query at a time and in
 * batches of 64, over a grid of nprobe and re-scoring depth. Writes the curves as CSV and SVG.
 *
 * usage: bench_index [--n N] [--dim D] [--queries Q] [--factory STR] [--out PREFIX] [--save 1]
 *   defaults: 1,000,000 x 64, 1,000 queries, the default factory, PREFIX bench_index
 * The vectors: 1,000 random centres, each point a centre plus noise, normalised. Queries come
 * from the same distribution (fresh draws, not points of the set). With --save 1 the vectors
 * and queries are written as PREFIX_x.npy and PREFIX_q.npy for bench/peers_index.py. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "lr_index.h"
#include "lr_towers.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double rss_mb(void) { /* resident set size from /proc */
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return (double)rss * 4096.0 / 1048576.0;
}

static float gauss(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    double u1 = ((double)(z >> 11) + 1.0) / 9007199254740993.0;
    z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    double u2 = (double)(z >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

static void draw(float *x, size_t n, size_t dim, const float *centres, size_t nc, uint64_t *s) {
    for (size_t i = 0; i < n; i++) {
        const float *c = centres + (size_t)(gauss(s) * 1e6 + 1e9) % nc * dim;
        double norm = 0;
        for (size_t j = 0; j < dim; j++) {
            x[i * dim + j] = c[j] + 0.35f * gauss(s);
            norm += (double)x[i * dim + j] * x[i * dim + j];
        }
        for (size_t j = 0; j < dim; j++) x[i * dim + j] /= (float)sqrt(norm);
    }
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

int main(int argc, char **argv) {
    size_t n = 1000000, dim = 64, nq = 1000, k = 100;
    const char *factory = NULL, *prefix = "bench_index";
    int save = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--n")) n = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--dim")) dim = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--queries")) nq = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--factory")) factory = argv[i + 1];
        else if (!strcmp(argv[i], "--out")) prefix = argv[i + 1];
        else if (!strcmp(argv[i], "--save")) save = atoi(argv[i + 1]);
    }
    uint64_t seed = 42;
    float *centres = malloc(1000 * dim * sizeof *centres), *x = malloc(n * dim * sizeof *x);
    float *q = malloc(nq * dim * sizeof *q), *s = malloc(nq * k * sizeof *s);
    int64_t *exact = malloc(nq * k * sizeof *exact), *got = malloc(nq * k * sizeof *got);
    for (size_t i = 0; i < 1000 * dim; i++) centres[i] = gauss(&seed);
    draw(x, n, dim, centres, 1000, &seed);
    draw(q, nq, dim, centres, 1000, &seed);
    lr_err err = {0};
    if (save) {
        char px[512], pq[512];
        snprintf(px, sizeof px, "%s_x.npy", prefix);
        snprintf(pq, sizeof pq, "%s_q.npy", prefix);
        if (lr_towers_npy_write(px, x, n, dim, LR_NPY_F32, &err) ||
            lr_towers_npy_write(pq, q, nq, dim, LR_NPY_F32, &err)) {
            fprintf(stderr, "bench_index: %s\n", err.msg);
            return 1;
        }
    }
    double t0 = now_s();
    if (lr_index_exact_search(x, n, dim, q, nq, k, exact, s, &err)) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        return 1;
    }
    printf("data: %zu x %zu clustered unit vectors, %zu queries; exact top-%zu in %.1f s\n", n, dim, nq, k, now_s() - t0);
    double rss0 = rss_mb();
    t0 = now_s();
    lr_index *ix;
    if (lr_index_build(x, n, dim, NULL, factory, &ix, &err)) {
        fprintf(stderr, "bench_index: %s\n", err.msg);
        return 1;
    }
    double build = now_s() - t0, rss1 = rss_mb();
    printf("learnrec index %s: built in %.1f s (both cores), resident memory +%.0f MB (%.1f bytes per vector)\n",
           lr_index_factory(ix), build, rss1 - rss0, (rss1 - rss0) * 1048576.0 / (double)n);
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    size_t nlist = 1;
    sscanf(lr_index_factory(ix), "IVF%zu", &nlist);
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
        for (size_t p = 1; p <= nlist && np < 64; p *= 2) {
            if (nlist > 1 && lr_index_set_nprobe(ix, p, &err)) break;
            size_t reps = nq;
            t0 = now_s();
            for (size_t i = 0; i < reps; i++) lr_index_search(ix, 1, q + i * dim, k, got + i * k, s + i * k, &err);
            double qps1 = (double)reps / (now_s() - t0);
            double rec = recall_at(got, exact, nq, k);
            t0 = now_s();
            for (size_t i = 0; i + 64 <= nq; i += 64) lr_index_search(ix, 64, q + i * dim, k, got + i * k, s + i * k, &err);
            double qps64 = (double)(nq / 64 * 64) / (now_s() - t0);
            pts[np++] = (point){p, depths[di], rec, qps1, qps64};
            printf("| %zu | %zu | %.4f | %.0f | %.0f |\n", p, depths[di], rec, qps1, qps64);
            fprintf(out, "learnrec,%zu,%zu,%.4f,%.1f,%.1f\n", p, depths[di], rec, qps1, qps64);
            fflush(stdout);
            if (rec > 0.995 || nlist == 1) break;
            if (np >= 2 && pts[np - 2].depth == depths[di] && rec <= pts[np - 2].recall + 1e-4) break;
        }
    }
    fclose(out);
    char svg[512], title[256];
    snprintf(svg, sizeof svg, "%s.svg", prefix);
    snprintf(title, sizeof title, "learnrec %s, %zu x %zu, one thread: recall@100 vs QPS", lr_index_factory(ix), n, dim);
    write_svg(svg, pts, np, title);
    printf("\nwrote %s and %s\n", csv, svg);
    lr_index_free(ix);
    free(centres); free(x); free(q); free(s); free(exact); free(got);
    return 0;
}
