/* learnrec bench's outputs: the interval lines, the record of every answer, the final report. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "cli.h"
#include "lr_rpc.h"

const char *lr_cli_bench_method_name(int method) {
    static const char *const names[LR_BENCH_METHODS] = {"recommend", "search", "item", "stats"};
    return method >= 0 && method < LR_BENCH_METHODS ? names[method] : "unknown";
}

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double pct_ms(const double *v, size_t n, double p) { /* nearest rank */
    if (!n) return 0;
    size_t r = (size_t)ceil(p * (double)n);
    return 1e3 * v[r ? r - 1 : 0];
}

static const char *code_name(int code) { return code ? lr_rpc_code_name(code) : "other"; }

/* ---- intervals ------------------------------------------------------------------------------ */

/* p50, p99 and max of v (n, sorted here) into o's "latency_ms", and into p[3]. */
static void small_percentiles(double *v, size_t n, json_t *o, double p[3]) {
    qsort(v, n, sizeof *v, cmp_double);
    p[0] = pct_ms(v, n, 0.5), p[1] = pct_ms(v, n, 0.99), p[2] = pct_ms(v, n, 1.0);
    json_object_set_new(o, "latency_ms", json_pack("{s:f, s:f, s:f}", "p50", p[0], "p99", p[1], "max", p[2]));
}

void lr_cli_bench_interval(lr_cli_bench *b, double at, int partial) {
    size_t n = b->completed - b->tick_completed, n_err = 0;
    double *v = malloc((n ? n : 1) * sizeof *v), p[3], oldest_ms = 0;
    if (!v) n = 0; /* out of memory: the line shows no latencies rather than none at all */
    else memcpy(v, b->lat + b->tick_completed, n * sizeof *v);
    json_t *o = json_pack("{s:f, s:I, s:I}", "t_s", at - b->t0, "sent", (json_int_t)(b->sent - b->tick_sent),
                          "ok", (json_int_t)n), *codes = json_object();
    char by_code[256] = "";
    size_t len = 0;
    for (int i = 0; i < LR_BENCH_CODES; i++) {
        size_t d = b->errors[i] - b->tick_errors[i];
        if (!d) continue;
        n_err += d;
        json_object_set_new(codes, code_name(i), json_integer((json_int_t)d));
        if (len < sizeof by_code)
            len += (size_t)snprintf(by_code + len, sizeof by_code - len, "%s%s %zu", len ? ", " : " (", code_name(i), d);
    }
    if (len && len < sizeof by_code - 1) strcat(by_code, ")");
    while (b->oldest < b->sent && b->req[b->oldest].state != LR_BENCH_PENDING) b->oldest++;
    if (b->outstanding && b->oldest < b->sent) oldest_ms = 1e3 * (lr_cli_now() - b->req[b->oldest].due);
    small_percentiles(v ? v : p, n, o, p);
    json_object_set_new(o, "errors", json_integer((json_int_t)n_err));
    json_object_set_new(o, "errors_by_code", codes);
    json_object_set_new(o, "pending", json_integer((json_int_t)b->outstanding));
    json_object_set_new(o, "oldest_pending_ms", json_real(oldest_ms));
    json_object_set_new(o, "partial", json_boolean(partial));
    json_array_append_new(b->intervals, o);
    printf("[%7.1f s%s] sent %zu, ok %zu, errors %zu%s, pending %zu (oldest %.1f ms); latency ms p50 %.3f "
           "p99 %.3f max %.3f\n", at - b->t0, partial ? ", partial" : "", b->sent - b->tick_sent, n, n_err, by_code, b->outstanding,
           oldest_ms, p[0], p[1], p[2]);
    fflush(stdout);
    free(v);
    b->tick_sent = b->sent;
    b->tick_completed = b->completed;
    memcpy(b->tick_errors, b->errors, sizeof b->errors);
}

/* ---- the record ----------------------------------------------------------------------------- */

/* The ids of a recommend or search answer ([[id, score], ...]), or the version of a stats one. */
static void record_result(FILE *f, const msgpack_object *r) {
    if (r->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < r->via.array.size; i++) {
            const msgpack_object *h = &r->via.array.ptr[i];
            if (h->type != MSGPACK_OBJECT_ARRAY || h->via.array.size < 1) continue;
            const msgpack_object *id = &h->via.array.ptr[0];
            if (id->type == MSGPACK_OBJECT_POSITIVE_INTEGER) fprintf(f, " %llu", (unsigned long long)id->via.u64);
            else if (id->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) fprintf(f, " %lld", (long long)id->via.i64);
        }
    } else if (r->type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < r->via.map.size; i++) {
            const msgpack_object *k = &r->via.map.ptr[i].key, *v = &r->via.map.ptr[i].val;
            if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == 7 && !memcmp(k->via.str.ptr, "version", 7) &&
                v->type == MSGPACK_OBJECT_STR)
                fprintf(f, " %.*s", (int)v->via.str.size, v->via.str.ptr);
        }
    }
}

void lr_cli_bench_record(lr_cli_bench *b, uint32_t msgid, double now, const char *status,
                         const msgpack_object *result) {
    if (!b->record) return;
    const lr_cli_bench_req *r = &b->req[msgid - 1];
    fprintf(b->record, "%u %s %.6f %.6f %.6f %s", msgid, lr_cli_bench_method_name(r->method), r->due,
            r->sent, now, status);
    if (result && r->method != LR_BENCH_ITEM) record_result(b->record, result);
    fputc('\n', b->record);
}

void lr_cli_bench_record_unanswered(lr_cli_bench *b) {
    for (size_t i = 0; b->record && i < b->sent; i++)
        if (b->req[i].state != LR_BENCH_ANSWERED)
            fprintf(b->record, "%zu %s %.6f %.6f - unanswered\n", i + 1,
                    lr_cli_bench_method_name(b->req[i].method), b->req[i].due, b->req[i].sent);
}

/* ---- the report ----------------------------------------------------------------------------- */

/* Per method: counts and latencies (p50, p99, max into pm[m]). Reads lat in answer order, so
 * it runs before lat is sorted. */
static json_t *methods_report(lr_cli_bench *b, double pm[LR_BENCH_METHODS][3]) {
    json_t *all = json_object();
    double *v = malloc((b->completed ? b->completed : 1) * sizeof *v);
    for (int m = 0; m < LR_BENCH_METHODS; m++) {
        const lr_cli_bench_count *c = &b->by_method[m];
        if (!c->sent) continue;
        size_t n = 0;
        for (size_t i = 0; v && i < b->completed; i++)
            if (b->lat_method[i] == m) v[n++] = b->lat[i];
        json_t *o = json_pack("{s:I, s:I, s:I}", "sent", (json_int_t)c->sent, "ok", (json_int_t)c->ok,
                              "errors", (json_int_t)c->errors);
        small_percentiles(v ? v : pm[m], n, o, pm[m]);
        json_object_set_new(all, lr_cli_bench_method_name(m), o);
    }
    free(v);
    return all;
}

static int mixed(const lr_cli_bench *b) { return b->mix[LR_BENCH_RECOMMEND] != b->mix_total; }

/* The run's first line: what was sent, how. */
static void print_setup(const lr_cli_bench *b) {
    printf("%s: ", b->addr);
    if (mixed(b)) {
        printf("mix");
        for (int m = 0; m < LR_BENCH_METHODS; m++)
            if (b->mix[m]) printf(" %s=%u", lr_cli_bench_method_name(m), b->mix[m]);
        printf(", k=%zu", b->k);
    } else {
        printf("recommend k=%zu", b->k);
    }
    if (b->nprobe) printf(" nprobe=%zu", b->nprobe);
    printf(", histories of %zu among %zu items, %zu connections, %s", b->hist_len, b->items, b->n_conns,
           b->rate > 0 ? "open loop" : "closed loop");
    if (b->rate > 0) printf(" at %.0f req/s", b->rate);
    printf(", %.1f s\n", b->duration);
}

/* What the run adds to the JSON beyond the totals: the mix, the methods, the intervals. */
static void add_json_extras(const lr_cli_bench *b, json_t *o, json_t *methods) {
    json_t *mix = json_object();
    for (int m = 0; m < LR_BENCH_METHODS; m++)
        if (b->mix[m]) json_object_set_new(mix, lr_cli_bench_method_name(m), json_integer(b->mix[m]));
    json_object_set_new(o, "mix", mix);
    json_object_set_new(o, "methods", methods);
    json_object_set_new(o, "interval_s", json_real(b->interval));
    json_object_set_new(o, "started_monotonic_s", json_real(b->t0)); /* to align with other logs */
    json_object_set(o, "intervals", b->intervals); /* b owns it: a reference */
}

int lr_cli_bench_report(lr_cli_bench *b) {
    static const double ps[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    static const char *names[] = {"p50", "p90", "p99", "p99.9", "max"};
    double pm[LR_BENCH_METHODS][3];
    json_t *errs = json_object(), *lat = json_object(), *methods = methods_report(b, pm);
    print_setup(b);
    double elapsed = b->completed ? b->t_last - b->t0 : b->duration;
    size_t n_err = 0;
    for (int i = 0; i < LR_BENCH_CODES; i++) n_err += b->errors[i];
    printf("sent %zu, completed %zu, errors %zu", b->sent, b->completed, n_err);
    for (int i = 0; i < LR_BENCH_CODES; i++) {
        if (b->errors[i]) printf(" %s %zu", code_name(i), b->errors[i]);
        if (b->errors[i]) json_object_set_new(errs, code_name(i), json_integer((json_int_t)b->errors[i]));
    }
    size_t lost = b->sent - b->completed - b->error_answers;
    printf(", unanswered %zu, failed connections %zu (dialled again %zu, requests sent again %zu)\n"
           "throughput %.1f req/s over %.2f s\nlatency ms:", lost, b->conn_failures, b->redials, b->resent,
           (double)b->completed / elapsed, elapsed);
    qsort(b->lat, b->completed, sizeof *b->lat, cmp_double);
    for (int i = 0; i < 5; i++) {
        printf(" %s %.3f", names[i], pct_ms(b->lat, b->completed, ps[i]));
        json_object_set_new(lat, names[i], json_real(pct_ms(b->lat, b->completed, ps[i])));
    }
    printf("\n");
    for (int m = 0; mixed(b) && m < LR_BENCH_METHODS; m++)
        if (b->by_method[m].sent)
            printf("  %-9s sent %zu, ok %zu, errors %zu; latency ms p50 %.3f p99 %.3f max %.3f\n",
                   lr_cli_bench_method_name(m), b->by_method[m].sent, b->by_method[m].ok,
                   b->by_method[m].errors, pm[m][0], pm[m][1], pm[m][2]);
    json_t *o = json_pack("{s:s, s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:f, s:f, s:o}",
                          "connect", b->addr, "concurrency", (json_int_t)b->n_conns, "rate", b->rate,
                          "duration_s", b->duration, "k", (json_int_t)b->k, "nprobe", (json_int_t)b->nprobe,
                          "history_len", (json_int_t)b->hist_len, "items", (json_int_t)b->items, "sent",
                          (json_int_t)b->sent, "completed", (json_int_t)b->completed, "errors",
                          (json_int_t)n_err, "errors_by_code", errs, "unanswered", (json_int_t)lost,
                          "failed_connections", (json_int_t)b->conn_failures, "elapsed_s", elapsed,
                          "throughput", (double)b->completed / elapsed, "latency_ms", lat);
    if (o) {
        json_object_set_new(o, "redials", json_integer((json_int_t)b->redials));
        json_object_set_new(o, "resent", json_integer((json_int_t)b->resent));
        add_json_extras(b, o, methods);
    }
    else json_decref(methods);
    fflush(stdout);
    int bad = b->json_path && (!o || json_dump_file(o, b->json_path, JSON_INDENT(2)) != 0);
    json_decref(o);
    return bad;
}
