/* Counters for /metrics: bumped by workers with relaxed atomics, rendered as Prometheus text. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

/* upper bounds in seconds; the last bucket is +Inf */
static const double bounds[LR_RPC_N_BUCKETS - 1] = {0.00025, 0.0005, 0.001, 0.002, 0.003, 0.005,
                                                    0.0075, 0.01, 0.025, 0.05, 0.1, 1.0};

void lr_rpc_metrics_observe(lr_rpc_metrics *m, int method, int code, double seconds) {
    if (method < 0 || method >= LR_RPC_N_METHODS) method = LR_RPC_N_METHODS - 1;
    if (code < 0 || code >= LR_RPC_N_CODES) code = LR_RPC_EINTERNAL;
    atomic_fetch_add_explicit(&m->requests[method][code], 1, memory_order_relaxed);
    int b = 0;
    while (b < LR_RPC_N_BUCKETS - 1 && seconds > bounds[b]) b++;
    atomic_fetch_add_explicit(&m->latency[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_us_sum, (unsigned long long)(seconds * 1e6), memory_order_relaxed);
}

typedef struct {
    char *buf;
    size_t len, cap;
    int oom;
} text;

static void put(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(text *t, const char *fmt, ...) {
    for (int tries = 0; tries < 2 && !t->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap + (size_t)n) * 2;
        char *b = realloc(t->buf, cap);
        if (!b) t->oom = 1;
        else t->buf = b, t->cap = cap;
    }
}

char *lr_rpc_metrics_render(const lr_rpc_metrics *m, lr_rpc_engine *e) {
    text t = {malloc(4096), 0, 4096, 0};
    if (!t.buf) return NULL;
    t.buf[0] = 0;
    put(&t, "# HELP learnrec_requests_total Requests answered, by method and status.\n"
            "# TYPE learnrec_requests_total counter\n");
    for (int i = 0; i < LR_RPC_N_METHODS; i++)
        for (int c = 0; c < LR_RPC_N_CODES; c++) {
            unsigned long long v = atomic_load_explicit(&m->requests[i][c], memory_order_relaxed);
            if (v || c == 0)
                put(&t, "learnrec_requests_total{method=\"%s\",status=\"%s\"} %llu\n", lr_rpc_method_name(i),
                    c ? lr_rpc_code_name(c) : "ok", v);
        }
    put(&t, "# HELP learnrec_request_seconds Time from a request's arrival to its answer.\n"
            "# TYPE learnrec_request_seconds histogram\n");
    unsigned long long cum = 0;
    for (int b = 0; b < LR_RPC_N_BUCKETS; b++) {
        cum += atomic_load_explicit(&m->latency[b], memory_order_relaxed);
        if (b < LR_RPC_N_BUCKETS - 1) put(&t, "learnrec_request_seconds_bucket{le=\"%g\"} %llu\n", bounds[b], cum);
        else put(&t, "learnrec_request_seconds_bucket{le=\"+Inf\"} %llu\n", cum);
    }
    put(&t, "learnrec_request_seconds_sum %.6f\nlearnrec_request_seconds_count %llu\n",
        (double)atomic_load(&m->latency_us_sum) * 1e-6, cum);
    lr_rpc_engine_stats st;
    lr_rpc_engine_get_stats(e, &st);
    put(&t, "# HELP learnrec_index_items Items the served index answers with.\n# TYPE learnrec_index_items gauge\n"
            "learnrec_index_items %zu\n", st.count);
    put(&t, "# HELP learnrec_index_info The served index version (value 1).\n# TYPE learnrec_index_info gauge\n"
            "learnrec_index_info{version=\"%s\",factory=\"%s\",nprobe=\"%zu\"} 1\n", st.version, st.factory, st.nprobe);
    put(&t, "# HELP learnrec_queue_depth Requests waiting for a worker.\n# TYPE learnrec_queue_depth gauge\n"
            "learnrec_queue_depth %ld\n", atomic_load(&m->queue_depth));
    put(&t, "# HELP learnrec_unknown_history_ids_total History ids skipped as unknown.\n"
            "# TYPE learnrec_unknown_history_ids_total counter\nlearnrec_unknown_history_ids_total %llu\n",
        atomic_load(&m->unknown_ids));
    put(&t, "# HELP learnrec_connections_total msgpack-rpc connections accepted.\n"
            "# TYPE learnrec_connections_total counter\nlearnrec_connections_total %llu\n",
        atomic_load(&m->connections));
    put(&t, "# HELP learnrec_connections_open msgpack-rpc connections open.\n"
            "# TYPE learnrec_connections_open gauge\nlearnrec_connections_open %ld\n",
        atomic_load(&m->conns_open));
    put(&t, "# HELP learnrec_connections_refused_total Connections refused at --max-connections.\n"
            "# TYPE learnrec_connections_refused_total counter\nlearnrec_connections_refused_total %llu\n",
        atomic_load(&m->conns_refused));
    put(&t, "# HELP learnrec_connections_timed_out_total Connections closed for time: a frame not finished "
            "(frame), nothing to do (idle), answers not taken (write).\n"
            "# TYPE learnrec_connections_timed_out_total counter\n");
    static const char *const reasons[LR_RPC_N_TIMEOUTS] = {"frame", "idle", "write"};
    for (int r = 0; r < LR_RPC_N_TIMEOUTS; r++)
        put(&t, "learnrec_connections_timed_out_total{reason=\"%s\"} %llu\n", reasons[r], atomic_load(&m->timeouts[r]));
    put(&t, "# HELP learnrec_accept_errors_total accept() failures (no file descriptors left); accepting "
            "pauses 100 ms after each.\n# TYPE learnrec_accept_errors_total counter\n"
            "learnrec_accept_errors_total %llu\n", atomic_load(&m->accept_errors));
    put(&t, "# HELP learnrec_output_bytes Answers written by the server and not yet taken by the kernel, "
            "all msgpack-rpc connections.\n# TYPE learnrec_output_bytes gauge\nlearnrec_output_bytes %llu\n",
        atomic_load(&m->output_bytes));
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
