/* Benchmark of the built-in text encoder on a real dataset: fit time, single-core encode
 * throughput, and the full-ranking quality of LEARN's variant (c) ("no PAL": a user is the mean
 * content embedding of its history) next to popularity.
 *
 * usage: bench_content DATASET [CONFIG ...]
 *   CONFIG is PROJECTION:DIM[:CHAR_WEIGHT[:BIGRAM_WEIGHT]], e.g. random:1024 svd:256
 *   (default: random:256 random:512 random:1024 random:2048 svd:256 svd:1024) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>

#include "bench_cli.h"
#include "lr_data.h"
#include "lr_towers.h"

int main(int argc, char **argv) {
    static const char usage[] =
        "usage: bench_content DATASET [PROJECTION:DIM[:CHAR_W[:BIGRAM_W]] ...]\n\n"
        "The built-in text encoder on a dataset: fit time, one-core encode throughput, and the\n"
        "full-ranking quality of content without PAL next to popularity, per configuration\n"
        "(default: random:256 random:512 random:1024 random:2048 svd:256 svd:1024).\n";
    bench_help_exits(argc, argv, usage);
    if (argc < 2) bench_refuse("bench_content", "missing DATASET");
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-') bench_refuse("bench_content", "unknown option '%s'", argv[i]);
    static const char *defaults[] = {"random:256", "random:512", "random:1024", "random:2048",
                                     "svd:256", "svd:1024"};
    const char **configs = argc > 2 ? (const char **)argv + 2 : defaults;
    size_t n_configs = argc > 2 ? (size_t)argc - 2 : sizeof defaults / sizeof defaults[0];
    openblas_set_num_threads(1); /* single-core numbers */
    lr_err err = {0};
    lr_data *d;
    if (lr_data_load(argv[1], &d, &err)) {
        fprintf(stderr, "bench_content: %s\n", err.msg);
        return 1;
    }
    size_t n = lr_data_num_items(d), nu = lr_data_num_users(d);
    const char **texts = malloc(n * sizeof *texts);
    float *pop = malloc(n * sizeof *pop);
    int32_t *targets = malloc(nu * sizeof *targets);
    for (size_t i = 0; i < n; i++) texts[i] = lr_data_item_text(d, i);
    for (size_t u = 0; u < nu; u++) {
        const int32_t *h;
        size_t len;
        targets[u] = lr_data_user_history(d, u, LR_SPLIT_TEST, 50, &h, &len);
    }
    lr_towers_baseline_popularity(d, pop);
    lr_eval_metrics pm;
    lr_towers_eval_scores(pop, n, targets, nu, &pm, &err);
    printf("dataset: %s (%zu items, %zu users), test split, full ranking\n\n", argv[1], n, nu);
    printf("| content (variant c) | fit s | encode items/s (1 core) | R@10 | N@10 | R@50 | N@50 | MRR |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    printf("| popularity | - | - | %.4f | %.4f | %.4f | %.4f | %.4f |\n", pm.recall10, pm.ndcg10,
           pm.recall50, pm.ndcg50, pm.mrr);
    for (size_t k = 0; k < n_configs; k++) {
        lr_text_encoder_config cfg = lr_towers_text_encoder_config_default();
        char proj[16] = "";
        float cw = cfg.char_weight, bw = cfg.bigram_weight;
        size_t dim = 0;
        if (sscanf(configs[k], "%15[a-z]:%zu:%f:%f", proj, &dim, &cw, &bw) < 2 || dim == 0) {
            fprintf(stderr, "bench_content: bad config '%s'\n", configs[k]);
            return 2;
        }
        cfg.dim = dim;
        cfg.char_weight = cw;
        cfg.bigram_weight = bw;
        cfg.projection = strcmp(proj, "svd") == 0 ? LR_PROJ_SVD : LR_PROJ_RANDOM;
        if (cfg.projection == LR_PROJ_SVD && cfg.svd_input_dim < dim) cfg.svd_input_dim = 4 * dim;
        lr_text_encoder *enc;
        double t0 = bench_now_s();
        if (lr_towers_text_encoder_fit(&cfg, texts, n, &enc, &err)) {
            fprintf(stderr, "bench_content: %s\n", err.msg);
            return 1;
        }
        double t1 = bench_now_s();
        float *emb = malloc(n * dim * sizeof *emb);
        lr_towers_text_encoder_encode(enc, texts, n, emb, &err);
        double t2 = bench_now_s();
        lr_content *ct;
        lr_data_matrix_from_floats(emb, n, dim, &ct, &err);
        float *users = malloc(nu * dim * sizeof *users);
        lr_towers_baseline_mean_content(d, ct, LR_SPLIT_TEST, 50, users, targets, &err);
        lr_eval_metrics m;
        lr_towers_eval_vectors(users, nu, targets, emb, n, dim, &m, &err);
        printf("| %s (cw %.2g, bw %.2g, %zu features) | %.2f | %.0f | %.4f | %.4f | %.4f | %.4f | %.4f |\n",
               configs[k], (double)cw, (double)bw, lr_towers_text_encoder_num_features(enc), t1 - t0,
               (double)n / (t2 - t1), m.recall10, m.ndcg10, m.recall50, m.ndcg50, m.mrr);
        fflush(stdout);
        free(users);
        free(emb);
        lr_data_matrix_free(ct);
        lr_towers_text_encoder_free(enc);
    }
    free(texts);
    free(pop);
    free(targets);
    lr_data_free(d);
    return 0;
}
