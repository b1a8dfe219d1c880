/* Benchmark of the user tower's inference on one core: the latency of encoding one history of
 * 50 items (the serving path, with and without the item cache), and batched throughput.
 *
 * usage: bench_towers CONTENT.npy [MODEL.safetensors] [--layers L]
 * Without a model, one with the default configuration (or L layers) is created at random:
 * the cost does not depend on the weights' values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "bench_cli.h"
#include "lr_towers.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Times `reps` single-history encodes; prints mean, p50 and p99 in milliseconds. */
static void latency(const char *name, const lr_pal *m, const lr_content *ct, const int32_t *hist,
                    size_t len, size_t reps) {
    double *t = malloc(reps * sizeof *t);
    size_t off[2] = {0, len};
    float out[4096];
    lr_err err;
    lr_towers_ws *ws;
    lr_towers_ws_new(&ws, &err); /* one per serving thread, warm after the first request */
    for (size_t i = 0; i < 20; i++) lr_towers_user_embed_ws(m, ws, ct, hist, off, 1, out, &err);
    double sum = 0;
    for (size_t i = 0; i < reps; i++) {
        double t0 = bench_now_s();
        lr_towers_user_embed_ws(m, ws, ct, hist + (i % 7), off, 1, out, &err);
        t[i] = (bench_now_s() - t0) * 1e3;
        sum += t[i];
    }
    lr_towers_ws_free(ws);
    qsort(t, reps, sizeof *t, cmp_double);
    printf("| %s | %zu | %.3f | %.3f | %.3f |\n", name, len, sum / (double)reps, t[reps / 2],
           t[reps * 99 / 100]);
    free(t);
}

int main(int argc, char **argv) {
    static const char usage[] =
        "usage: bench_towers CONTENT.npy [MODEL.safetensors] [--layers L]\n\n"
        "The user tower's inference on one core: the latency of one history of 20 and 50 items\n"
        "(the serving path, with and without the item cache) and batched throughput. Without\n"
        "MODEL, one of the default configuration (or L layers) is made at random: the cost does\n"
        "not depend on the weights' values.\n";
    const char *prog = "bench_towers";
    bench_help_exits(argc, argv, usage);
    if (argc >= 2 && argv[1][0] == '-') bench_refuse(prog, "unknown option '%s'", argv[1]);
    if (argc < 2) bench_refuse(prog, "missing CONTENT.npy");
    size_t layers = 0;
    const char *model_path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--layers") == 0) layers = bench_size(prog, "--layers", bench_value(prog, argc, argv, &i), 1, 64);
        else if (argv[i][0] == '-') bench_refuse(prog, "unknown option '%s'", argv[i]);
        else if (!model_path) model_path = argv[i];
        else bench_refuse(prog, "unexpected argument '%s'", argv[i]);
    }
    openblas_set_num_threads(1);
    omp_set_num_threads(1);
    lr_err err = {0};
    lr_content *ct;
    lr_pal *m;
    if (lr_data_matrix_open(argv[1], 0, &ct, &err)) {
        fprintf(stderr, "bench_towers: %s\n", err.msg);
        return 1;
    }
    if (model_path) {
        if (lr_towers_pal_load(model_path, &m, &err)) {
            fprintf(stderr, "bench_towers: %s\n", err.msg);
            return 1;
        }
    } else {
        lr_pal_config c = lr_towers_pal_config_default();
        c.content_dim = lr_data_matrix_dim(ct);
        if (layers) c.layers = layers;
        if (lr_towers_pal_new(&c, 1, &m, &err)) {
            fprintf(stderr, "bench_towers: %s\n", err.msg);
            return 1;
        }
    }
    lr_pal_config c = lr_towers_pal_get_config(m);
    size_t n = lr_data_matrix_rows(ct);
    int32_t hist[64];
    for (size_t i = 0; i < 64; i++) hist[i] = (int32_t)((i * 2654435761u) % n);
    printf("model: %s mode, H %zu, %zu layer(s), %zu heads, D %zu, content %zu x %zu; one core\n\n",
           lr_towers_pal_mode_name(c.mode), c.hidden, c.layers, c.heads, c.out_dim, n, c.content_dim);
    printf("| user tower, one history | items | mean ms | p50 ms | p99 ms |\n|---|---|---|---|---|\n");
    latency("content through the adaptor", m, ct, hist, 50, 2000);
    latency("content through the adaptor", m, ct, hist, 20, 2000);
    latency("content through the adaptor", m, ct, hist, 5, 2000);
    if (lr_towers_pal_cache_content(m, ct, &err) == LR_OK) {
        latency("item cache (serving path)", m, ct, hist, 50, 2000);
        latency("item cache (serving path)", m, ct, hist, 20, 2000); /* learnrec bench's default */
        latency("item cache (serving path)", m, ct, hist, 5, 2000);
    }
    /* batched: 1024 users of 50 items */
    size_t B = 1024;
    int32_t *items = malloc(B * 50 * sizeof *items);
    size_t *off = malloc((B + 1) * sizeof *off);
    float *out = malloc(B * c.out_dim * sizeof *out);
    for (size_t i = 0; i < B * 50; i++) items[i] = (int32_t)((i * 2654435761u) % n);
    for (size_t u = 0; u <= B; u++) off[u] = u * 50;
    double t0 = bench_now_s();
    for (int r = 0; r < 3; r++) lr_towers_user_embed(m, ct, items, off, B, out, &err);
    double dt = (bench_now_s() - t0) / 3;
    printf("\nbatched: %zu users x 50 items in %.3f s: %.0f users/s on one core (item cache on)\n",
           B, dt, (double)B / dt);
    float *iv = malloc(n * c.out_dim * sizeof *iv);
    t0 = bench_now_s();
    lr_towers_item_embed(m, ct, NULL, n, iv, &err);
    dt = bench_now_s() - t0;
    printf("item tower: %zu items in %.3f s: %.0f items/s on one core\n", n, dt, (double)n / dt);
    free(iv);
    free(items);
    free(off);
    free(out);
    lr_towers_pal_free(m);
    lr_data_matrix_free(ct);
    return 0;
}
