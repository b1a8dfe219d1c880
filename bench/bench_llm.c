/* Speed of the in-engine LLM's prefill (lr_llm_model_embed: ids -> LEARN's pooled embeddings)
 * at batch 1 and 32 on 1 and 2 threads, against OpenBLAS's own sgemm rate on this machine
 * measured in the same run (square 2048 matrices, and the model's own GEMM shapes at the same
 * number of tokens), so the efficiency is a ratio of two numbers taken minutes apart.
 *
 * FLOPs counted per call (stated, not measured): 2 per multiply-add of the seven linear layers
 * of each decoder layer (q, k, v, o, gate, up, down) for every token, plus causal attention,
 * 4 * head_dim per (query, key) pair with key <= query, per head and layer (scores and the
 * weighted sum of values). Embedding lookup, norms, RoPE, SiLU, biases and pooling are not
 * counted (under 1% here); no LM head runs.
 *
 * One JSON line per (threads, batch) on stdout; bench/llm_speed.sh makes the table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "bench_cli.h"
#include "lr_data.h"
#include "lr_llm.h"

#define MAX_LIST 8

typedef struct {
    const char *dir, *out;
    size_t threads[MAX_LIST], n_threads, batch[MAX_LIST], n_batch;
    size_t tokens, runs, seed;
    lr_llm_weights weights;
    int sgemm; /* measure OpenBLAS's sgemm too */
} opts;

static const char usage[] =
    "usage: bench_llm MODELDIR [--threads N[,N...]] [--batch B[,B...]] [--tokens T] [--runs R]\n"
    "                 [--seed S] [--weights mapped|f32] [--out POOLED.npy] [--no-sgemm]\n\n"
    "Times lr_llm_model_embed (prefill + LEARN's pooling) of the model in MODELDIR (config.json +\n"
    "safetensors, e.g. made by bench/llm_gen.py) on deterministic random ids, every sequence T\n"
    "tokens long (default 40), for each thread count (default 1,2) and batch size (default\n"
    "1,32): one warm-up call, then the best and median of R calls (default 3). Prints one JSON\n"
    "line per configuration: tokens/s, GFLOP/s, OpenBLAS's sgemm GFLOP/s in the same run on\n"
    "square 2048 matrices and on the model's own GEMM shapes at the same number of tokens, the\n"
    "ratio, the RSS after the calls and the peak RSS so far. --weights f32 widens the weights\n"
    "once at load (default: mapped, widened layer by layer per call). --out writes the pooled\n"
    "rows of the largest batch on the first thread count (for bench/llm_torch.py --check).\n"
    "The ids: the i-th token of a batch is splitmix64(S + (i+1) * 0x9E3779B97F4A7C15) mod vocab,\n"
    "S from --seed (default 1).\n";

static const char *prog = "bench_llm";

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double peak_rss_mib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0; /* Linux: KiB */
}

/* The resident set now (weights mapped and touched count, as in peak RSS), -1 if unknown. */
static double rss_now_mib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = -1, resident = -1;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
        fclose(f);
    }
    return resident < 0 ? -1.0 : (double)resident * 4096.0 / (1024.0 * 1024.0);
}

/* "1,2" -> {1, 2}, each in [1, max]. */
static size_t parse_list(const char *opt, const char *s, size_t *out, size_t max) {
    char buf[256];
    if (strlen(s) >= sizeof buf) bench_refuse(prog, "%s: list too long", opt);
    strcpy(buf, s);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == MAX_LIST) bench_refuse(prog, "%s: at most %d values", opt, MAX_LIST);
        out[n++] = bench_size(prog, opt, tok, 1, max);
    }
    if (!n) bench_refuse(prog, "%s expects a list like 1,2", opt);
    return n;
}

static opts parse_args(int argc, char **argv) {
    opts o = {.threads = {1, 2}, .n_threads = 2, .batch = {1, 32}, .n_batch = 2, .tokens = 40,
              .runs = 3, .seed = 1, .weights = LR_LLM_WEIGHTS_MAPPED, .sgemm = 1};
    bench_help_exits(argc, argv, usage);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--threads")) o.n_threads = parse_list(a, bench_value(prog, argc, argv, &i), o.threads, 256);
        else if (!strcmp(a, "--batch")) o.n_batch = parse_list(a, bench_value(prog, argc, argv, &i), o.batch, 4096);
        else if (!strcmp(a, "--tokens")) o.tokens = bench_size(prog, a, bench_value(prog, argc, argv, &i), 1, 1 << 20);
        else if (!strcmp(a, "--runs")) o.runs = bench_size(prog, a, bench_value(prog, argc, argv, &i), 1, 1000);
        else if (!strcmp(a, "--seed")) o.seed = bench_size(prog, a, bench_value(prog, argc, argv, &i), 0, (size_t)-1);
        else if (!strcmp(a, "--out")) o.out = bench_value(prog, argc, argv, &i);
        else if (!strcmp(a, "--no-sgemm")) o.sgemm = 0;
        else if (!strcmp(a, "--weights")) {
            const char *v = bench_value(prog, argc, argv, &i);
            if (!strcmp(v, "mapped")) o.weights = LR_LLM_WEIGHTS_MAPPED;
            else if (!strcmp(v, "f32")) o.weights = LR_LLM_WEIGHTS_F32;
            else bench_refuse(prog, "--weights expects mapped or f32, got '%s'", v);
        } else if (a[0] == '-') bench_refuse(prog, "unknown option '%s'", a);
        else if (!o.dir) o.dir = a;
        else bench_refuse(prog, "unexpected argument '%s'", a);
    }
    if (!o.dir) bench_refuse(prog, "missing MODELDIR");
    return o;
}

/* The ids of n_seq sequences of t tokens, as bench/llm_torch.py makes them. */
static int32_t *make_ids(size_t n_seq, size_t t, size_t vocab, uint64_t seed) {
    int32_t *ids = malloc(n_seq * t * sizeof *ids);
    for (size_t i = 0; ids && i < n_seq * t; i++) {
        uint64_t z = seed + (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        ids[i] = (int32_t)(z % vocab);
    }
    return ids;
}

/* Best seconds of `reps` calls (after one warm-up) of Y (m,n) = X (m,k) W (n,k)^T, the layout
 * of a linear layer over Hugging Face's (out, in) weights. */
static double sgemm_best_s(size_t m, size_t n, size_t k, size_t reps) {
    float *x = malloc(m * k * sizeof *x), *w = malloc(n * k * sizeof *w), *y = malloc(m * n * sizeof *y);
    double best = INFINITY;
    if (x && w && y) {
        for (size_t i = 0; i < m * k; i++) x[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
        for (size_t i = 0; i < n * k; i++) w[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
        for (size_t r = 0; r <= reps; r++) {
            double t0 = bench_now_s();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, x,
                        (int)k, w, (int)k, 0.0f, y, (int)n);
            double dt = bench_now_s() - t0;
            if (r && dt < best) best = dt; /* r == 0 is the warm-up */
        }
    }
    free(x);
    free(w);
    free(y);
    return best;
}

/* Linear-layer multiply-adds per token of one decoder layer, by shape: q and o, k and v, gate
 * and up, down (each shape (out, in) appears `count` times). */
typedef struct {
    size_t out, in, count;
} gemm_shape;

static size_t model_shapes(const lr_llm_model_info *mi, gemm_shape s[4]) {
    size_t q = mi->heads * mi->head_dim, kv = mi->kv_heads * mi->head_dim;
    s[0] = (gemm_shape){q, mi->hidden, 1};          /* q_proj */
    s[1] = (gemm_shape){kv, mi->hidden, 2};         /* k_proj, v_proj */
    s[2] = (gemm_shape){mi->hidden, q, 1};          /* o_proj */
    s[3] = (gemm_shape){mi->ffn, mi->hidden, 2};    /* gate_proj, up_proj */
    return 4;
}

static double call_flops(const lr_llm_model_info *mi, size_t n_seq, size_t t) {
    gemm_shape s[4];
    size_t n = model_shapes(mi, s);
    double per_token = 2.0 * (double)mi->hidden * (double)mi->ffn; /* down_proj */
    for (size_t i = 0; i < n; i++) per_token += 2.0 * (double)(s[i].out * s[i].in * s[i].count);
    double attn = 4.0 * (double)(mi->heads * mi->head_dim) * (double)(t * (t + 1) / 2);
    return (double)mi->layers * (double)n_seq * ((double)t * per_token + attn);
}

/* GFLOP/s of OpenBLAS over one decoder layer's seven products at m tokens, each timed alone:
 * what the linear layers would reach if every product ran at sgemm's own speed. */
static double sgemm_model_gflops(const lr_llm_model_info *mi, size_t m, size_t reps) {
    gemm_shape s[4];
    size_t n = model_shapes(mi, s);
    double flops = 2.0 * (double)(m * mi->hidden * mi->ffn);
    double secs = sgemm_best_s(m, mi->hidden, mi->ffn, reps); /* down_proj */
    for (size_t i = 0; i < n; i++) {
        flops += 2.0 * (double)(m * s[i].out * s[i].in * s[i].count);
        secs += (double)s[i].count * sgemm_best_s(m, s[i].out, s[i].in, reps);
    }
    return flops / secs * 1e-9;
}

/* Times lr_llm_model_embed on n_seq sequences of t ids; writes best and median seconds and
 * leaves the pooled rows in `out`. */
static int time_embed(const lr_llm_model *m, const int32_t *ids, size_t n_seq, size_t t,
                      size_t runs, float *out, double *best, double *median, lr_err *err) {
    const int32_t **seqs = malloc(n_seq * sizeof *seqs);
    size_t *lens = malloc(n_seq * sizeof *lens);
    double *times = malloc(runs * sizeof *times);
    int rc = LR_ENOMEM;
    if (!seqs || !lens || !times) goto done;
    for (size_t s = 0; s < n_seq; s++) seqs[s] = ids + s * t, lens[s] = t;
    for (size_t r = 0; r <= runs; r++) {
        double t0 = bench_now_s();
        if ((rc = lr_llm_model_embed(m, seqs, lens, n_seq, out, err))) goto done;
        if (r) times[r - 1] = bench_now_s() - t0; /* r == 0 is the warm-up */
    }
    qsort(times, runs, sizeof *times, cmp_double);
    *best = times[0];
    *median = times[runs / 2];
done:
    free(seqs);
    free(lens);
    free(times);
    return rc;
}

static const char *base_name(const char *dir) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    const char *p = dir + n;
    while (p > dir && p[-1] != '/') p--;
    static char buf[256];
    snprintf(buf, sizeof buf, "%.*s", (int)(dir + n - p), p);
    return buf;
}

/* One configuration: times, measures sgemm, prints the JSON line. */
static int run_config(const opts *o, const lr_llm_model *m, const lr_llm_model_info *mi,
                      size_t threads, size_t batch, double load_s, lr_err *err) {
    openblas_set_num_threads((int)threads);
    omp_set_num_threads((int)threads);
    int32_t *ids = make_ids(batch, o->tokens, mi->vocab, o->seed);
    float *out = malloc(batch * mi->hidden * sizeof *out);
    double best = 0, median = 0;
    int rc = ids && out ? time_embed(m, ids, batch, o->tokens, o->runs, out, &best, &median, err) : LR_ENOMEM;
    size_t largest = 0;
    for (size_t j = 0; j < o->n_batch; j++) largest = o->batch[j] > largest ? o->batch[j] : largest;
    if (rc == LR_OK && o->out && batch == largest && threads == o->threads[0])
        rc = lr_data_npy_write(o->out, out, batch, mi->hidden, LR_NPY_F32, err);
    free(ids);
    free(out);
    if (rc) return rc;
    double flops = call_flops(mi, batch, o->tokens), gflops = flops / best * 1e-9;
    printf("{\"side\": \"c\", \"model\": \"%s\", \"weights\": \"%s\", \"threads\": %zu, "
           "\"batch\": %zu, \"tokens\": %zu, \"runs\": %zu, \"best_s\": %.6f, \"median_s\": %.6f, "
           "\"tokens_per_s\": %.2f, \"gflop_per_call\": %.4f, \"gflops\": %.3f, ",
           base_name(o->dir), o->weights == LR_LLM_WEIGHTS_F32 ? "f32" : "mapped", threads, batch,
           o->tokens, o->runs, best, median, (double)(batch * o->tokens) / best, flops * 1e-9, gflops);
    if (o->sgemm) {
        double sq = 2.0 * 2048.0 * 2048.0 * 2048.0 / sgemm_best_s(2048, 2048, 2048, 3) * 1e-9;
        double shapes = sgemm_model_gflops(mi, batch * o->tokens, 3);
        printf("\"sgemm_square_gflops\": %.3f, \"sgemm_model_gflops\": %.3f, "
               "\"efficiency\": %.4f, ", sq, shapes, gflops / shapes);
    }
    printf("\"load_s\": %.3f, \"rss_mib\": %.1f, \"peak_rss_mib\": %.1f}\n", load_s, rss_now_mib(),
           peak_rss_mib());
    fflush(stdout);
    return LR_OK;
}

int main(int argc, char **argv) {
    opts o = parse_args(argc, argv);
    lr_err err = {0};
    lr_llm_model *m;
    lr_llm_model_options mo = {.weights = o.weights};
    double t0 = bench_now_s();
    if (lr_llm_model_load(o.dir, &mo, &m, &err)) {
        fprintf(stderr, "%s: %s\n", prog, err.msg);
        return 1;
    }
    double load_s = bench_now_s() - t0;
    lr_llm_model_info mi = lr_llm_model_get_info(m);
    fprintf(stderr, "%s: %s (%s), hidden %zu, %zu layers, %zu/%zu heads of %zu, FFN %zu, vocab %zu, "
            "%zu parameters; loaded in %.2f s\n", prog, o.dir, mi.architecture, mi.hidden, mi.layers,
            mi.heads, mi.kv_heads, mi.head_dim, mi.ffn, mi.vocab, mi.n_params, load_s);
    int rc = LR_OK;
    for (size_t i = 0; i < o.n_threads && rc == LR_OK; i++)
        for (size_t j = 0; j < o.n_batch && rc == LR_OK; j++)
            rc = run_config(&o, m, &mi, o.threads[i], o.batch[j], load_s, &err);
    if (rc) fprintf(stderr, "%s: %s\n", prog, err.msg);
    lr_llm_model_free(m);
    return rc ? 1 : 0;
}
