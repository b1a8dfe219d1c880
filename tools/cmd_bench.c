/* learnrec bench: a load generator for `learnrec serve` over msgpack-rpc.
 *
 * Open loop by default: request i is due at t0 + i / R, requests go round-robin over C
 * connections, each pipelining on one non-blocking socket, and a request's latency runs from when
 * it was DUE to its answer. A server that stalls thus makes every request queued behind the stall
 * late, and that lateness is measured instead of hidden (no coordinated omission). --rate 0 is
 * closed loop: each connection sends its next request as soon as the last is answered, which
 * measures peak throughput. A connection that drops is dialled again at once and its requests in
 * flight are sent again on it (every method bench sends changes nothing on the server), their
 * latencies still counted from when they were due; a request dropped three times is lost. One thread:
 * poll() over the sockets plus a timerfd that wakes it at
 * the next due time with microsecond precision (poll's millisecond timeout would add up to 1 ms
 * of our own lateness to every latency). Requests are recommend calls for random histories unless
 * --mix draws among recommend, search, item and stats; bench_report.c prints and records what
 * was measured. */
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

#include "bench.h"
#include "cli.h"
#include "lr_rpc.h"

#define DRAIN_S 5.0                      /* longest wait for answers after the last request */
#define MAX_BUFFERED ((size_t)256 << 20) /* per connection, as in rpc/client.c */
#define N_VECTORS 256                    /* query vectors of search, made at the start */
#define REDIAL_MS 1000u                  /* the longest a dropped connection's new dial may take */

typedef lr_cli_bench bench;
typedef lr_cli_bench_conn conn;

/* ---- connections ---------------------------------------------------------------------------- */

static int pack_request(bench *b, conn *c, uint32_t msgid, int m);
static void conn_flush(bench *b, conn *c);

/* A new connection for c after a drop, with nothing of the old stream left. */
static int redial(bench *b, conn *c) {
    lr_err e = {0};
    c->out.size = c->out_off = 0;
    msgpack_unpacker_destroy(&c->in);
    if (!msgpack_unpacker_init(&c->in, (size_t)64 << 10)) {
        c->in.buffer = NULL; /* not initialised: bench_main skips it */
        return -1;
    }
    return lr_rpc_dial(b->addr, REDIAL_MS, &c->fd, &e) ? -1 : 0;
}

/* The connection failed. It is dialled again and what it had in flight is sent again; a request
 * already sent again twice, or everything when the server cannot be reached, is lost
 * (counted at the end as sent - answered). */
static void conn_fail(bench *b, conn *c) {
    close(c->fd);
    c->fd = -1;
    b->conn_failures++;
    int up = c->in.buffer && redial(b, c) == 0;
    if (up) b->redials++;
    for (size_t i = b->oldest; c->in_flight && i < b->sent; i++) /* a rare event: a scan is fine */
        if (b->req[i].state == LR_BENCH_PENDING && b->req[i].conn == (uint32_t)(c - b->conns)) {
            if (up && b->req[i].resent < LR_RPC_CLIENT_MAX_RESENDS && pack_request(b, c, (uint32_t)i + 1, b->req[i].method) == LR_OK) {
                b->req[i].resent++;
                b->resent++;
                continue;
            }
            b->req[i].state = LR_BENCH_LOST;
            c->in_flight--;
            b->outstanding--;
        }
    if (up) conn_flush(b, c);
    else b->live--; /* a failed dial left c->fd at -1 */
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

/* Room for one more request in req, lat and lat_method. */
static int grow(bench *b) {
    size_t cap = b->cap ? 2 * b->cap : 4096;
    lr_cli_bench_req *r = realloc(b->req, cap * sizeof *r);
    if (r) b->req = r;
    double *l = r ? realloc(b->lat, cap * sizeof *l) : NULL;
    if (l) b->lat = l;
    uint8_t *m = l ? realloc(b->lat_method, cap) : NULL;
    if (!m) return LR_ENOMEM;
    b->lat_method = m;
    b->cap = cap;
    return LR_OK;
}

/* A method drawn by the --mix weights; no draw when there is one method, so that a run of
 * recommend alone sends the same histories for a seed as it did before --mix. */
static int pick_method(bench *b) {
    for (int m = 0; m < LR_BENCH_METHODS; m++)
        if (b->mix[m] == b->mix_total) return m;
    uint64_t r = next_rand(&b->rng) % b->mix_total;
    int m = 0;
    while (r >= b->mix[m]) r -= b->mix[m++];
    return m;
}

/* The params map of one request of method m. */
static int pack_params(bench *b, msgpack_packer *pk, int m) {
    size_t n = (m == LR_BENCH_RECOMMEND || m == LR_BENCH_SEARCH ? 2 : m == LR_BENCH_ITEM) +
               (b->nprobe && m <= LR_BENCH_SEARCH);
    int bad = msgpack_pack_map(pk, n);
    if (m == LR_BENCH_RECOMMEND) {
        bad |= msgpack_pack_str_with_body(pk, "history", 7) | msgpack_pack_array(pk, b->hist_len);
        for (size_t i = 0; i < b->hist_len; i++)
            bad |= msgpack_pack_uint64(pk, next_rand(&b->rng) % b->items);
    } else if (m == LR_BENCH_SEARCH) {
        const float *v = b->vectors + next_rand(&b->rng) % b->n_vectors * b->dim;
        bad |= msgpack_pack_str_with_body(pk, "vector", 6) | msgpack_pack_array(pk, b->dim);
        for (size_t i = 0; i < b->dim; i++) bad |= msgpack_pack_float(pk, v[i]);
    } else if (m == LR_BENCH_ITEM) {
        bad |= msgpack_pack_str_with_body(pk, "id", 2) | msgpack_pack_uint64(pk, next_rand(&b->rng) % b->items);
    }
    if (m <= LR_BENCH_SEARCH) bad |= msgpack_pack_str_with_body(pk, "k", 1) | msgpack_pack_uint64(pk, b->k);
    if (m <= LR_BENCH_SEARCH && b->nprobe)
        bad |= msgpack_pack_str_with_body(pk, "nprobe", 6) | msgpack_pack_uint64(pk, b->nprobe);
    return bad;
}

/* Packs request msgid (method m, fresh random parameters) onto c's output. */
static int pack_request(bench *b, conn *c, uint32_t msgid, int m) {
    const char *name = lr_cli_bench_method_name(m);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->out, msgpack_sbuffer_write);
    if (msgpack_pack_array(&pk, 4) | msgpack_pack_int(&pk, 0) | msgpack_pack_uint32(&pk, msgid) |
        msgpack_pack_str_with_body(&pk, name, strlen(name)) | pack_params(b, &pk, m))
        return LR_ENOMEM;
    return LR_OK;
}

/* Packs one request (a method drawn by the mix) onto c, due at `due`; LR_ENOMEM when memory
 * runs out. */
static int send_request(bench *b, conn *c, double due) {
    if (b->sent >= UINT32_MAX) return LR_ENOMEM; /* msgids are uint32; req and lat hold 140 GB by then */
    if (b->sent == b->cap && grow(b)) return LR_ENOMEM;
    int m = pick_method(b);
    uint32_t msgid = (uint32_t)++b->sent;
    b->req[msgid - 1] = (lr_cli_bench_req){due, lr_cli_now(), (uint32_t)(c - b->conns), (uint8_t)m, LR_BENCH_PENDING, 0};
    if (pack_request(b, c, msgid, m)) return LR_ENOMEM;
    b->by_method[m].sent++;
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
        b->req[a[1].via.u64 - 1].state != LR_BENCH_PENDING) {
        b->errors[0]++; /* no answer to anything in flight, e.g. [1, 0, error] before a close */
        return;
    }
    uint32_t msgid = (uint32_t)a[1].via.u64;
    lr_cli_bench_req *r = &b->req[msgid - 1];
    if (a[2].type == MSGPACK_OBJECT_NIL) {
        b->lat_method[b->completed] = r->method;
        b->lat[b->completed++] = now - r->due;
        b->by_method[r->method].ok++;
        lr_cli_bench_record(b, msgid, now, "ok", &a[3]);
    } else {
        const msgpack_object *e = a[2].via.array.ptr;
        int ok = a[2].type == MSGPACK_OBJECT_ARRAY && a[2].via.array.size >= 1 &&
                 e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[0].via.u64 < LR_BENCH_CODES;
        int code = ok ? (int)e[0].via.u64 : 0;
        b->errors[code]++;
        b->error_answers++;
        b->by_method[r->method].errors++;
        lr_cli_bench_record(b, msgid, now, code ? lr_rpc_code_name(code) : "other", NULL);
    }
    r->state = LR_BENCH_ANSWERED;
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
    b->tick_at = b->interval > 0 ? b->t0 + b->interval : INFINITY;
    double stop_at = b->t0 + b->duration, end_at = stop_at + DRAIN_S;
    size_t i = 0;
    conn *c;
    for (size_t j = 0; b->rate == 0 && j < b->n_conns; j++)
        if (send_request(b, &b->conns[j], b->t0)) return lr_err_set(err, LR_ENOMEM, "out of memory");
    for (;;) {
        double now = lr_cli_now(), next = b->rate > 0 ? b->t0 + (double)i / b->rate : INFINITY;
        for (; now >= b->tick_at; b->tick_at += b->interval) lr_cli_bench_interval(b, b->tick_at, 0);
        for (; next <= now && next < stop_at && (c = next_live(b)); next = b->t0 + (double)++i / b->rate)
            if (send_request(b, c, next)) return lr_err_set(err, LR_ENOMEM, "out of memory");
        if (!b->live) /* the report still shows what was measured */
            return lr_err_set(err, LR_EIO, "%s: all %zu connections failed", b->addr, b->n_conns);
        if (now >= end_at || (now >= stop_at && b->outstanding == 0)) return LR_OK;
        double wake = next < stop_at ? next : now < stop_at ? stop_at : end_at;
        arm(tfd, wake < b->tick_at ? wake : b->tick_at);
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

/* The n vectors of an encode_user answer r, appended to b->vectors. */
static int take_vectors(bench *b, const json_t *r, size_t n, lr_err *err) {
    size_t dim = json_array_size(json_array_get(r, 0));
    if (json_array_size(r) != n || !dim || (b->dim && dim != b->dim))
        return lr_err_set(err, LR_EFORMAT, "%s: encode_user did not answer %zu vectors of one dimension", b->addr, n);
    float *v = realloc(b->vectors, (b->n_vectors + n) * dim * sizeof *v);
    if (!v) return lr_err_set(err, LR_ENOMEM, "out of memory");
    b->vectors = v;
    b->dim = dim;
    for (size_t i = 0; i < n; i++) {
        const json_t *row = json_array_get(r, i);
        for (size_t j = 0; j < dim; j++) {
            const json_t *x = json_array_get(row, j);
            if (json_array_size(row) != dim || !json_is_number(x))
                return lr_err_set(err, LR_EFORMAT, "%s: encode_user answered a vector that is not %zu numbers",
                                  b->addr, dim);
            v[(b->n_vectors + i) * dim + j] = (float)json_number_value(x);
        }
    }
    b->n_vectors += n;
    return LR_OK;
}

/* The query vectors of search: the user tower's for N_VECTORS random histories of L ids (at
 * least 1), asked 64 at a time (below the server's --max-batch), so that searches look like
 * what recommend searches with. */
static int user_vectors(bench *b, lr_err *err) {
    lr_rpc_client *c;
    int rc = lr_rpc_client_connect(b->addr, 10000, &c, err);
    size_t len = b->hist_len ? b->hist_len : 1;
    for (size_t done = 0; !rc && done < N_VECTORS; done += 64) {
        json_t *hs = json_array(), *params = json_pack("{s:o}", "histories", hs), *r = NULL;
        for (size_t i = 0; i < 64; i++) {
            json_t *h = json_array();
            for (size_t j = 0; j < len; j++) json_array_append_new(h, json_integer((json_int_t)(next_rand(&b->rng) % b->items)));
            json_array_append_new(hs, h);
        }
        char *pj = json_dumps(params, JSON_COMPACT), *text = NULL;
        json_decref(params);
        rc = pj ? lr_rpc_client_call_json(c, "encode_user", pj, &text, NULL, err)
                : lr_err_set(err, LR_ENOMEM, "out of memory");
        if (!rc && !(r = json_loads(text, JSON_DECODE_ANY, NULL)))
            rc = lr_err_set(err, LR_EFORMAT, "%s: encode_user's answer is not JSON", b->addr);
        if (!rc) rc = take_vectors(b, r, 64, err);
        json_decref(r);
        free(text);
        free(pj);
    }
    lr_rpc_client_close(c); /* NULL when connecting failed */
    return rc;
}

/* --mix recommend=70,search=20,item=8,stats=2: the weights of the methods (unsigned[4]). */
static int parse_mix(const char *cmd, const char *opt, const char *s, void *dest) {
    unsigned *w = dest, seen = 0;
    unsigned long total = 0;
    memset(w, 0, LR_BENCH_METHODS * sizeof *w);
    for (const char *p = s; *p;) {
        size_t len = strcspn(p, "=,");
        int m = 0;
        while (m < LR_BENCH_METHODS && (strlen(lr_cli_bench_method_name(m)) != len ||
                                        strncmp(p, lr_cli_bench_method_name(m), len)))
            m++;
        char *end = (char *)p;
        unsigned long v = 0;
        if (p[len] == '=' && p[len + 1] >= '0' && p[len + 1] <= '9') v = strtoul(p + len + 1, &end, 10);
        if (m == LR_BENCH_METHODS || end == p || (*end && *end != ',') || v > 1000000 || (seen >> m & 1))
            return lr_cli_usage_error(cmd, "%s expects METHOD=WEIGHT,... with each of recommend, search, "
                                      "item, stats at most once and weights in 0..1000000, got '%s'", opt, s);
        seen |= 1u << m;
        w[m] = (unsigned)v;
        total += v;
        p = *end ? end + 1 : end;
    }
    if (!total) return lr_cli_usage_error(cmd, "%s: give at least one method a weight above 0, got '%s'", opt, s);
    return 0;
}

/* The command line into b, whose fields hold the defaults; LR_CLI_RUN or an exit code. */
static int parse_args(bench *b, int argc, char **argv) {
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("connect", &b->addr, "HOST:PORT", "the server"), .required = 1},
        {LR_OPT_SIZE("concurrency", &b->n_conns, 1, 1024, "C", "connections")},
        {LR_OPT_DOUBLE("rate", &b->rate, 0, 1e7, "R", "requests per second, 0 = closed loop")},
        {LR_OPT_DOUBLE("duration", &b->duration, 0.001, 86400, "S", "seconds of sending")},
        {LR_OPT_CUSTOM("mix", b->mix, parse_mix, "LIST", "the methods sent and their weights, e.g.\n"
                       "recommend=70,search=20,item=8,stats=2"), .dflt = "recommend=100"},
        {LR_OPT_SIZE("k", &b->k, 1, 1000000, "K", "results per call"), .short_name = 'k'},
        {LR_OPT_SIZE("nprobe", &b->nprobe, 1, 1000000, "P",
                     "lists each call probes (default: the served version's own)"), .dflt = ""},
        {LR_OPT_SIZE("history-len", &b->hist_len, 0, 1000000, "L", "ids per history")},
        {LR_OPT_SIZE("items", &b->items, 1, (size_t)INT64_MAX, "N",
                     "ids are drawn from [0, N) (default: the server's stats \"count\")"), .dflt = ""},
        {LR_OPT_U64("seed", &b->rng, "S", "seed of the random histories")},
        {LR_OPT_DOUBLE("interval", &b->interval, 0, 86400, "S", "print a line every S seconds (0: none)")},
        {LR_OPT_STRING("json", &b->json_path, "F", "also write the report to F as JSON")},
        {LR_OPT_STRING("record-ids", &b->record_path, "F", "write a line per request to F: its ids\n"
                       "answered and its times (see above)")},
    };
    const lr_cli_spec spec = {
        .cmd = "bench",
        .usage = "learnrec bench --connect HOST:PORT [--concurrency C] [--rate R] [--duration S]\n"
                 "                      [--mix LIST] [-k K] [--nprobe P] [--history-len L] [--items N]\n"
                 "                      [--seed S] [--interval S] [--json F] [--record-ids F]",
        .description =
            "Load-tests a running `learnrec serve`, by default with recommend calls for random\n"
            "histories: L ids drawn uniformly from [0, N), N by default the server's stats \"count\".\n"
            "--mix draws each request's method by weight: recommend; search with the user vector of\n"
            "one of 256 random histories (encode_user at the start); item of a random id in [0, N);\n"
            "stats. With --rate R, R requests per second in total are due at fixed times, spread over\n"
            "C pipelining connections, and latency runs from when a request was due (not when it\n"
            "could be sent) to its answer, so a stalling server is not flattered. --rate 0 keeps\n"
            "one request in flight per connection: the peak throughput. After S seconds sending\n"
            "stops and answers are awaited for up to 5 s. Prints sent, completed, errors by code,\n"
            "unanswered, throughput and latency percentiles of the successful calls, per method\n"
            "when mixed; --json F writes them. --interval S adds a line per S seconds: requests\n"
            "sent, answers and errors received and their latencies, requests pending.\n"
            "--record-ids F writes, per request, \"msgid method due sent received status ...\"\n"
            "(monotonic seconds, as CLOCK_MONOTONIC; status ok or the error's name) followed by the\n"
            "ids answered (recommend, search) or the version (stats); an unanswered request has\n"
            "received \"-\" and status unanswered.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    return lr_cli_parse(&spec, argc, argv);
}

/* Whether nothing happened since the last interval line. */
static int idle_since_tick(const bench *b) {
    size_t e = 0;
    for (int i = 0; i < LR_BENCH_CODES; i++) e += b->errors[i] - b->tick_errors[i];
    return b->sent == b->tick_sent && b->completed == b->tick_completed && !e;
}

/* Opens the connections, the timer and the record; runs, reports; frees all of it. */
static int bench_main(bench *b, lr_err *err) {
    int tfd = -1, rc = LR_OK;
    struct pollfd *pfd = malloc((b->n_conns + 1) * sizeof *pfd);
    b->conns = calloc(b->n_conns, sizeof *b->conns);
    b->intervals = json_array();
    if (!pfd || !b->conns || !b->intervals) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
    for (size_t j = 0; b->conns && j < b->n_conns; j++) b->conns[j].fd = -1;
    for (size_t j = 0; !rc && j < b->n_conns; j++) {
        conn *c = &b->conns[j];
        msgpack_sbuffer_init(&c->out);
        if (!msgpack_unpacker_init(&c->in, (size_t)64 << 10)) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        else rc = lr_rpc_dial(b->addr, 5000, &c->fd, err);
    }
    if (!rc && (tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC)) < 0)
        rc = lr_err_set(err, LR_EIO, "timerfd_create: %s", strerror(errno));
    if (!rc && b->record_path && !(b->record = fopen(b->record_path, "w")))
        rc = lr_err_set(err, LR_EIO, "cannot write %s: %s", b->record_path, strerror(errno));
    if (b->record) fprintf(b->record, "# learnrec bench: msgid method due sent received status [ids | version]\n");
    if (!rc) rc = run(b, tfd, pfd, err);
    if (b->sent && b->interval > 0 && !idle_since_tick(b)) lr_cli_bench_interval(b, lr_cli_now(), 1);
    if (b->sent && lr_cli_bench_report(b) && !rc) /* a run cut short still shows what it measured */
        rc = lr_err_set(err, LR_EIO, "cannot write %s", b->json_path);
    lr_cli_bench_record_unanswered(b);
    if (b->record && (ferror(b->record) | fclose(b->record)) && !rc)
        rc = lr_err_set(err, LR_EIO, "cannot write %s", b->record_path);
    for (size_t j = 0; b->conns && j < b->n_conns; j++) {
        if (b->conns[j].fd >= 0) close(b->conns[j].fd);
        msgpack_sbuffer_destroy(&b->conns[j].out);
        if (b->conns[j].in.buffer) msgpack_unpacker_destroy(&b->conns[j].in); /* was initialised */
    }
    if (tfd >= 0) close(tfd);
    free(b->conns);
    free(pfd);
    return rc;
}

int lr_cmd_bench(int argc, char **argv) {
    bench b = {.n_conns = 4, .k = 10, .hist_len = 20, .duration = 10, .rng = 1, .mix = {100}};
    int p = parse_args(&b, argc, argv);
    if (p != LR_CLI_RUN) return p;
    for (int m = 0; m < LR_BENCH_METHODS; m++) b.mix_total += b.mix[m];
    lr_err err = {0};
    int rc = b.items ? LR_OK : items_from_stats(b.addr, &b.items, &err);
    if (!rc && b.mix[LR_BENCH_SEARCH]) rc = user_vectors(&b, &err);
    if (!rc) rc = bench_main(&b, &err);
    free(b.vectors);
    free(b.req);
    free(b.lat);
    free(b.lat_method);
    json_decref(b.intervals);
    return rc ? lr_cli_fail("bench", &err) : LR_EXIT_OK;
}
