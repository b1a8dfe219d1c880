/* A probe of any FAISS factory string on given vectors, straight through the FAISS C API (no
 * learnrec code): FAISS's own training on a strided sample of 256,000, then recall@100 and
 * single-query QPS for nprobe 32/64/128 and, for a Refine(...) index, k_factor_rf 1/2/4/8.
 * Used for the codes and list counts learnrec did not adopt (docs/benchmarks.md).
 *
 * usage: probe_factory ITEMS.npy QUERIES.npy FACTORY     (float32 .npy with a 128-byte header,
 *        dimension 64; zero query rows are skipped, at most 1,000 queries are used) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <faiss/c_api/AutoTune_c.h>
#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>
#include <faiss/c_api/index_factory_c.h>
#include <omp.h>

#include "bench_cli.h"

#define DIM 64
#define K 100

static float *read_npy(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f || fseek(f, 0, SEEK_END)) exit((fprintf(stderr, "probe_factory: cannot read %s\n", path), 1));
    long size = ftell(f);
    *n = (size_t)(size - 128) / (DIM * sizeof(float));
    float *x = malloc(*n * DIM * sizeof *x);
    if (!x || fseek(f, 128, SEEK_SET) || fread(x, sizeof *x, *n * DIM, f) != *n * DIM)
        exit((fprintf(stderr, "probe_factory: %s is not a %d-wide float32 .npy\n", path, DIM), 1));
    fclose(f);
    return x;
}

int main(int argc, char **argv) {
    static const char usage[] =
        "usage: probe_factory ITEMS.npy QUERIES.npy FACTORY\n\n"
        "FAISS alone on given vectors (float32 .npy, dimension 64) for any factory string: its own\n"
        "training on a strided sample of 256,000, then recall@100 and one-query QPS for nprobe\n"
        "32/64/128 (and k_factor_rf 1/2/4/8 for a Refine(...) index); no learnrec code between.\n";
    bench_help_exits(argc, argv, usage);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-') bench_refuse("probe_factory", "unknown option '%s'", argv[i]);
    if (argc != 4) bench_refuse("probe_factory", "expected ITEMS.npy QUERIES.npy FACTORY");
    size_t n, nu, nq = 0;
    float *x = read_npy(argv[1], &n), *u = read_npy(argv[2], &nu), *q = malloc(1000 * DIM * sizeof *q);
    for (size_t i = 0; i < nu && nq < 1000; i += nu / 1000 ? nu / 1000 : 1) {
        int zero = 1;
        for (size_t j = 0; j < DIM; j++) zero &= u[i * DIM + j] == 0.0f;
        if (!zero) memcpy(q + nq++ * DIM, u + i * DIM, DIM * sizeof *q);
    }
    openblas_set_num_threads(1);
    idx_t *exact = malloc(nq * K * sizeof *exact), *got = malloc(nq * K * sizeof *got);
    float *s = malloc(nq * K * sizeof *s);
    FaissIndexFlatIP *flat;
    faiss_IndexFlatIP_new_with(&flat, DIM);
    faiss_Index_add((FaissIndex *)flat, (idx_t)n, x);
    faiss_Index_search((FaissIndex *)flat, (idx_t)nq, q, K, s, exact);
    faiss_Index_free((FaissIndex *)flat);
    FaissIndex *ix;
    if (faiss_index_factory(&ix, DIM, argv[3], METRIC_INNER_PRODUCT))
        return fprintf(stderr, "probe_factory: %s\n", faiss_get_last_error()), 1;
    double t0 = bench_now_s();
    size_t m = n < 256000 ? n : 256000;
    float *sample = malloc(m * DIM * sizeof *sample);
    for (size_t i = 0; i < m; i++) memcpy(sample + i * DIM, x + i * (n / m) * DIM, DIM * sizeof *x);
    if (faiss_Index_train(ix, (idx_t)m, sample) || faiss_Index_add(ix, (idx_t)n, x))
        return fprintf(stderr, "probe_factory: %s\n", faiss_get_last_error()), 1;
    printf("%s over %zu x %d: built in %.1f s; %zu queries\n", argv[3], n, DIM, bench_now_s() - t0, nq);
    omp_set_num_threads(1);
    FaissParameterSpace *ps;
    faiss_ParameterSpace_new(&ps);
    const int nprobes[3] = {32, 64, 128}, factors[4] = {1, 2, 4, 8};
    for (int a = 0; a < 3; a++)
        for (int b = 0; b < 4; b++) {
            faiss_ParameterSpace_set_index_parameter(ps, ix, "nprobe", nprobes[a]);
            if (faiss_ParameterSpace_set_index_parameter(ps, ix, "k_factor_rf", factors[b]) && b) break;
            t0 = bench_now_s();
            for (size_t i = 0; i < nq; i++) faiss_Index_search(ix, 1, q + i * DIM, K, s + i * K, got + i * K);
            double qps = (double)nq / (bench_now_s() - t0);
            size_t hit = 0;
            for (size_t i = 0; i < nq; i++)
                for (size_t j = 0; j < K; j++)
                    for (size_t l = 0; l < K; l++)
                        if (got[i * K + j] == exact[i * K + l]) {
                            hit++;
                            break;
                        }
            printf("nprobe %d%s%s: recall@100 %.4f, %.0f QPS\n", nprobes[a], b ? ", k_factor_rf " : "",
                   b ? (const char *[]){"", "2", "4", "8"}[b] : "", (double)hit / (double)(nq * K), qps);
            fflush(stdout);
        }
    faiss_ParameterSpace_free(ps);
    faiss_Index_free(ix);
    free(x), free(u), free(q), free(exact), free(got), free(s), free(sample);
    return 0;
}
