/* learnrec bench: a load generator for `learnrec serve` over msgpack-rpc.
 *
 * Open loop by default: request i is due at t0 + i / R, requests go round-robin over C
 * connections, each pipelining on one non-blocking socket, and a request's latency runs from when
 * it was DUE to its answer. A server that stalls thus makes every request queued behind the stall
 * late, and that lateness is measured instead of hidden (no coordinated omission). --rate 0 is
 * closed loop: each connection sends its next request as soon as the last is answered, which
 * measures peak throughput. One thread: poll() over the sockets plus a timerfd that wakes it at
 * the next due time with microsecond precision (poll's millisecond timeout would add up to 1 ms
 * of our own lateness to every latency). */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <jansson.h>
#include <msgpack.h>

#include "cli.h"
#include "lr_rpc.h"

#define DRAIN_S 5.0                      /* longest wait for answers after the last request */
#define MAX_BUFFERED ((size_t)256 << 20) /* per connection, as in rpc/client.c */
#define N_CODES 10                       /* errors[0]: malformed or unknown code; 1..9: docs/rpc.md */

typedef struct {
    int fd;               /* -1 once the connection failed */
    msgpack_sbuffer out;  /* packed requests; [out_off, out.size) not yet written */
    size_t out_off, in_flight;
    msgpack_unpacker in;
} conn;

typedef struct {
    const char *addr, *json_path;
    size_t n_conns, k, hist_len, items, nprobe; /* nprobe 0: the server's own */
    double rate, duration;
    uint64_t rng;
    conn *conns;
    size_t rr, live;      /* the next connection to send on (open loop); how many are open */
    double *due;          /* due[msgid - 1]: when request msgid was due; NAN once answered */
    double *lat;          /* seconds, one per successful answer */
    size_t cap, sent, completed, outstanding, conn_failures;
    size_t errors[N_CODES], error_answers; /* by code; error_answers: those that answered a request */
    double t0, t_last;
} bench;

/* ---- connections ---------------------------------------------------------------------------- */

/* The connection failed: what it had in flight is lost (counted at the end as sent - answered). */
static void conn_fail(bench *b, conn *c) {
    close(c->fd);
    c->fd = -1;
    b->outstanding -= c->in_flight;
    c->in_flight = 0;
    b->conn_failures++;
    b->live--;
}

/* Writes what the socket takes now; the rest waits for POLLOUT. */
static void conn_flush(bench *b, conn *c) {
    while (c->fd >= 0 && c->out_off < c->out.size) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.size - c->out_off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n < 0) {
            conn_fail(b, c);
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->out_off && (c->out_off == c->out.size || c->out_off > ((size_t)1 << 20))) { /* compact */
        memmove(c->out.data, c->out.data + c->out_off, c->out.size - c->out_off);
        c->out.size -= c->out_off;
        c->out_off = 0;
    }
}

/* ---- requests and answers ------------------------------------------------------------------- */

static uint64_t next_rand(uint64_t *s) { /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Packs one recommend of a random history onto c, due at `due`; LR_ENOMEM when memory runs out. */
static int send_request(bench *b, conn *c, double due) {
    if (b->sent >= UINT32_MAX) return LR_ENOMEM; /* msgids are uint32; due and lat hold 64 GB by then */
    if (b->sent == b->cap) {
        size_t cap = b->cap ? 2 * b->cap : 4096;
        double *d = realloc(b->due, cap * sizeof *d), *l = d ? realloc(b->lat, cap * sizeof *l) : NULL;
        if (d) b->due = d;
        if (!l) return LR_ENOMEM;
        b->lat = l;
        b->cap = cap;
    }
    uint32_t msgid = (uint32_t)++b->sent;
    b->due[msgid - 1] = due;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->out, msgpack_sbuffer_write);
    int bad = msgpack_pack_array(&pk, 4) | msgpack_pack_int(&pk, 0) | msgpack_pack_uint32(&pk, msgid) |
              msgpack_pack_str_with_body(&pk, "recommend", 9) | msgpack_pack_map(&pk, b->nprobe ? 3 : 2) |
              msgpack_pack_str_with_body(&pk, "history", 7) | msgpack_pack_array(&pk, b->hist_len);
    for (size_t i = 0; i < b->hist_len; i++)
        bad |= msgpack_pack_uint64(&pk, next_rand(&b->rng) % b->items);
    bad |= msgpack_pack_str_with_body(&pk, "k", 1) | msgpack_pack_uint64(&pk, b->k);
    if (b->nprobe) bad |= msgpack_pack_str_with_body(&pk, "nprobe", 6) | msgpack_pack_uint64(&pk, b->nprobe);
    if (bad) return LR_ENOMEM;
    c->in_flight++;
    b->outstanding++;
    conn_flush(b, c);
    return LR_OK;
}

/* One response frame: its latency, or its error code. */
static void on_answer(bench *b, conn *c, const msgpack_object *f, double now) {
    const msgpack_object *a = f->via.array.ptr;
    if (f->type != MSGPACK_OBJECT_ARRAY || f->via.array.size != 4 ||
        a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].via.u64 == 0 || a[1].via.u64 > b->sent ||
        isnan(b->due[a[1].via.u64 - 1])) {
        b->errors[0]++; /* no answer to anything in flight, e.g. [1, 0, error] before a close */
        return;
    }
    size_t i = (size_t)a[1].via.u64 - 1;
    if (a[2].type == MSGPACK_OBJECT_NIL) {
        b->lat[b->completed++] = now - b->due[i];
    } else {
        const msgpack_object *e = a[2].via.array.ptr;
        int ok = a[2].type == MSGPACK_OBJECT_ARRAY && a[2].via.array.size >= 1 &&
                 e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[0].via.u64 < N_CODES;
        b->errors[ok ? e[0].via.u64 : 0]++;
        b->error_answers++;
    }
    b->due[i] = NAN;
    b->t_last = now;
    c->in_flight--;
    b->outstanding--;
}

/* Reads and handles what arrived on c; closed loop refills c while the run lasts. */
static int conn_read(bench *b, conn *c, double stop_at) {
    if (msgpack_unpacker_message_size(&c->in) > MAX_BUFFERED ||
        !msgpack_unpacker_reserve_buffer(&c->in, (size_t)64 << 10)) {
        conn_fail(b, c);
        return LR_OK;
    }
    ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->in), msgpack_unpacker_buffer_capacity(&c->in), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return LR_OK;
    if (n <= 0) { /* closed, or a reset: the server is gone for this connection */
        conn_fail(b, c);
        return LR_OK;
    }
    msgpack_unpacker_buffer_consumed(&c->in, (size_t)n);
    double now = lr_cli_now();
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    msgpack_unpack_return r = MSGPACK_UNPACK_CONTINUE;
    int rc = LR_OK;
    while (!rc && (r = msgpack_unpacker_next(&c->in, &u)) == MSGPACK_UNPACK_SUCCESS) {
        on_answer(b, c, &u.data, now);
        if (b->rate == 0 && now < stop_at && c->in_flight == 0) rc = send_request(b, c, now);
    }
    msgpack_unpacked_destroy(&u);
    if (!rc && r != MSGPACK_UNPACK_CONTINUE) conn_fail(b, c); /* the stream is out of step */
    return rc;
}

/* ---- the run -------------------------------------------------------------------------------- */

static void arm(int tfd, double at) {
    struct itimerspec its = {{0, 0}, {(time_t)at, (long)((at - floor(at)) * 1e9)}};
    if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0) its.it_value.tv_nsec = 1;
    timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

/* The next connection still open, round-robin; NULL when every one failed. */
static conn *next_live(bench *b) {
    for (size_t j = 0; j < b->n_conns; j++) {
        conn *c = &b->conns[b->rr++ % b->n_conns];
        if (c->fd >= 0) return c;
    }
    return NULL;
}

/* Sends for `duration` seconds and waits up to DRAIN_S for the answers. */
static int run(bench *b, int tfd, struct pollfd *pfd, lr_err *err) {
    b->t0 = lr_cli_now();
    b->live = b->n_conns;
    double stop_at = b->t0 + b->duration, end_at = stop_at + DRAIN_S;
    size_t i = 0;
    conn *c;
    for (size_t j = 0; b->rate == 0 && j < b->n_conns; j++)
        if (send_request(b, &b->conns[j], b->t0)) return lr_err_set(err, LR_ENOMEM, "out of memory");
    for (;;) {
        double now = lr_cli_now(), next = b->rate > 0 ? b->t0 + (double)i / b->rate : INFINITY;
        for (; next <= now && next < stop_at && (c = next_live(b)); next = b->t0 + (double)++i / b->rate)
            if (send_request(b, c, next)) return lr_err_set(err, LR_ENOMEM, "out of memory");
        if (!b->live) /* the report still shows what was measured */
            return lr_err_set(err, LR_EIO, "%s: all %zu connections failed", b->addr, b->n_conns);
        if (now >= end_at || (now >= stop_at && b->outstanding == 0)) return LR_OK;
        arm(tfd, next < stop_at ? next : now < stop_at ? stop_at : end_at);
        for (size_t j = 0; j < b->n_conns; j++) {
            c = &b->conns[j];
            pfd[j] = (struct pollfd){c->fd, (short)(POLLIN | (c->out_off < c->out.size ? POLLOUT : 0)), 0};
        }
        pfd[b->n_conns] = (struct pollfd){tfd, POLLIN, 0};
        if (poll(pfd, b->n_conns + 1, -1) < 0 && errno != EINTR)
            return lr_err_set(err, LR_EIO, "poll: %s", strerror(errno));
        if (pfd[b->n_conns].revents) {
            uint64_t ticks; /* the timer fired: clear it; the loop's top sends what is due */
            ssize_t r = read(tfd, &ticks, sizeof ticks);
            (void)r;
        }
        for (size_t j = 0; j < b->n_conns; j++) {
            c = &b->conns[j];
            if (c->fd >= 0 && (pfd[j].revents & POLLOUT)) conn_flush(b, c);
            if (c->fd >= 0 && (pfd[j].revents & (POLLIN | POLLERR | POLLHUP)) && conn_read(b, c, stop_at))
                return lr_err_set(err, LR_ENOMEM, "out of memory");
        }
    }
}

/* ---- the report ----------------------------------------------------------------------------- */

static int cmp_double(const void *x, const void *y) {
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

static double pct_ms(const double *v, size_t n, double p) { /* nearest rank */
    if (!n) return 0;
    size_t r = (size_t)ceil(p * (double)n);
    return 1e3 * v[r ? r - 1 : 0];
}

static int report(bench *b) {
    static const double ps[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    static const char *names[] = {"p50", "p90", "p99", "p99.9", "max"};
    qsort(b->lat, b->completed, sizeof *b->lat, cmp_double);
    double elapsed = b->completed ? b->t_last - b->t0 : b->duration;
    size_t n_err = 0;
    for (int i = 0; i < N_CODES; i++) n_err += b->errors[i];
    json_t *errs = json_object(), *lat = json_object();
    printf("%s: recommend k=%zu", b->addr, b->k);
    if (b->nprobe) printf(" nprobe=%zu", b->nprobe);
    printf(", histories of %zu among %zu items, %zu connections, %s", b->hist_len, b->items, b->n_conns,
           b->rate > 0 ? "open loop" : "closed loop");
    if (b->rate > 0) printf(" at %.0f req/s", b->rate);
    printf(", %.1f s\nsent %zu, completed %zu, errors %zu", b->duration, b->sent, b->completed, n_err);
    for (int i = 0; i < N_CODES; i++) {
        const char *name = i ? lr_rpc_code_name(i) : "other";
        if (b->errors[i]) printf(" %s %zu", name, b->errors[i]);
        if (b->errors[i]) json_object_set_new(errs, name, json_integer((json_int_t)b->errors[i]));
    }
    size_t lost = b->sent - b->completed - b->error_answers;
    printf(", unanswered %zu, failed connections %zu\nthroughput %.1f req/s over %.2f s\nlatency ms:",
           lost, b->conn_failures, (double)b->completed / elapsed, elapsed);
    for (int i = 0; i < 5; i++) {
        printf(" %s %.3f", names[i], pct_ms(b->lat, b->completed, ps[i]));
        json_object_set_new(lat, names[i], json_real(pct_ms(b->lat, b->completed, ps[i])));
    }
    printf("\n");
    json_t *o = json_pack("{s:s, s:I, s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:I, s:f, s:f, s:o}",
                          "connect", b->addr, "concurrency", (json_int_t)b->n_conns, "rate", b->rate,
                          "duration_s", b->duration, "k", (json_int_t)b->k, "nprobe", (json_int_t)b->nprobe,
                          "history_len",
                          (json_int_t)b->hist_len, "items", (json_int_t)b->items, "sent",
                          (json_int_t)b->sent, "completed", (json_int_t)b->completed, "errors",
                          (json_int_t)n_err, "errors_by_code", errs, "unanswered", (json_int_t)lost,
                          "failed_connections", (json_int_t)b->conn_failures, "elapsed_s", elapsed,
                          "throughput", (double)b->completed / elapsed, "latency_ms", lat);
    int bad = b->json_path && (!o || json_dump_file(o, b->json_path, JSON_INDENT(2)) != 0);
    json_decref(o);
    return bad;
}

/* ---- the command ---------------------------------------------------------------------------- */

/* The catalogue size from the server's stats, to draw history ids from. */
static int items_from_stats(const char *addr, size_t *items, lr_err *err) {
    lr_rpc_client *c;
    char *text = NULL;
    int rc = lr_rpc_client_connect(addr, 10000, &c, err);
    if (!rc) rc = lr_rpc_client_call_json(c, "stats", NULL, &text, NULL, err);
    lr_rpc_client_close(c); /* NULL when connecting failed */
    if (rc) return rc;
    json_t *s = json_loads(text, JSON_DECODE_ANY, NULL), *count = json_object_get(s, "count");
    rc = json_is_integer(count) && json_integer_value(count) > 0
             ? (*items = (size_t)json_integer_value(count), LR_OK)
             : lr_err_set(err, LR_EFORMAT, "%s: stats has no positive \"count\"; give --items", addr);
    json_decref(s);
    free(text);
    return rc;
}

/* The command line into b, whose fields hold the defaults; LR_CLI_RUN or an exit code. */
static int parse_args(bench *b, int argc, char **argv) {
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("connect", &b->addr, "HOST:PORT", "the server"), .required = 1},
        {LR_OPT_SIZE("concurrency", &b->n_conns, 1, 1024, "C", "connections")},
        {LR_OPT_DOUBLE("rate", &b->rate, 0, 1e7, "R", "requests per second, 0 = closed loop")},
        {LR_OPT_DOUBLE("duration", &b->duration, 0.001, 86400, "S", "seconds of sending")},
        {LR_OPT_SIZE("k", &b->k, 1, 1000000, "K", "results per call"), .short_name = 'k'},
        {LR_OPT_SIZE("nprobe", &b->nprobe, 1, 1000000, "P",
                     "lists each call probes (default: the served version's own)"), .dflt = ""},
        {LR_OPT_SIZE("history-len", &b->hist_len, 0, 1000000, "L", "ids per history")},
        {LR_OPT_SIZE("items", &b->items, 1, (size_t)INT64_MAX, "N",
                     "ids are drawn from [0, N) (default: the server's stats \"count\")"), .dflt = ""},
        {LR_OPT_U64("seed", &b->rng, "S", "seed of the random histories")},
        {LR_OPT_STRING("json", &b->json_path, "F", "also write the report to F as JSON")},
    };
    const lr_cli_spec spec = {
        .cmd = "bench",
        .usage = "learnrec bench --connect HOST:PORT [--concurrency C] [--rate R] [--duration S]\n"
                 "                      [-k K] [--nprobe P] [--history-len L] [--items N] [--seed S]\n"
                 "                      [--json F]",
        .description =
            "Load-tests a running `learnrec serve` with recommend calls for random histories: L ids\n"
            "drawn uniformly from [0, N), N by default the server's stats \"count\".\n"
            "With --rate R, R requests per second in total are due at fixed times, spread over C\n"
            "pipelining connections, and latency runs from when a request was due (not when it\n"
            "could be sent) to its answer, so a stalling server is not flattered. --rate 0 keeps\n"
            "one request in flight per connection: the peak throughput. After S seconds sending\n"
            "stops and answers are awaited for up to 5 s. Prints sent, completed, errors by code,\n"
            "throughput and latency percentiles of the successful calls; --json F writes them.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    return lr_cli_parse(&spec, argc, argv);
}

/* Opens the connections and the timer, runs, reports; frees all of it. */
static int bench_main(bench *b, lr_err *err) {
    int tfd = -1, rc = LR_OK;
    struct pollfd *pfd = malloc((b->n_conns + 1) * sizeof *pfd);
    b->conns = calloc(b->n_conns, sizeof *b->conns);
    if (!pfd || !b->conns) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    for (size_t j = 0; b->conns && j < b->n_conns; j++) b->conns[j].fd = -1;
    for (size_t j = 0; !rc && j < b->n_conns; j++) {
        conn *c = &b->conns[j];
        msgpack_sbuffer_init(&c->out);
        if (!msgpack_unpacker_init(&c->in, (size_t)64 << 10)) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        else rc = lr_rpc_dial(b->addr, 5000, &c->fd, err);
    }
    if (!rc && (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0)
        rc = lr_err_set(err, LR_EIO, "timerfd_create: %s", strerror(errno));
    if (!rc) rc = run(b, tfd, pfd, err);
    if (b->sent && report(b) && !rc) /* a run cut short still shows what it measured */
        rc = lr_err_set(err, LR_EIO, "cannot write %s", b->json_path);
    for (size_t j = 0; b->conns && j < b->n_conns; j++) {
        if (b->conns[j].fd >= 0) close(b->conns[j].fd);
        msgpack_sbuffer_destroy(&b->conns[j].out);
        if (b->conns[j].in.buffer) msgpack_unpacker_destroy(&b->conns[j].in); /* was initialised */
    }
    if (tfd >= 0) close(tfd);
    free(b->conns);
    free(pfd);
    free(b->due);
    free(b->lat);
    return rc;
}

int lr_cmd_bench(int argc, char **argv) {
    bench b = {.n_conns = 4, .k = 10, .hist_len = 20, .duration = 10, .rng = 1};
    int p = parse_args(&b, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_err err = {0};
    if (!b.items && items_from_stats(b.addr, &b.items, &err)) return lr_cli_fail("bench", &err);
    return bench_main(&b, &err) ? lr_cli_fail("bench", &err) : LR_EXIT_OK;
}
