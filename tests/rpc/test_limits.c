/* Clients that hold on to the server, and what a request may reach (docs/reliability.md, Hostile
 * clients and Security defaults). Each case makes its situation happen for real, over sockets,
 * with short limits set here (hundreds of milliseconds), and waits generously for the outcome, so
 * a loaded machine makes it slower, never wrong: a time is only ever checked as a lower bound. */
#define _GNU_SOURCE /* memmem */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lr_test.h"
#include "server_internal.h" /* the queue's test hooks, lr_rpc_version_resolve */
#include "server_world.h"

#define WAIT_MS 20000 /* the longest a case waits for something that must happen */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Reads r until the server closes it (EOF or reset): 1 then, 0 when still open after
 * timeout_ms. What arrived before the close is kept in seen (NUL-terminated, cut to cap). */
static int wait_closed(raw *r, int timeout_ms, char *seen, size_t cap) {
    size_t len = 0;
    double end = now_ms() + timeout_ms;
    for (;;) {
        int left = (int)(end - now_ms());
        if (left <= 0) break;
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0) continue;
        char buf[4096];
        ssize_t k = recv(r->fd, buf, sizeof buf, 0);
        if (k == 0 || (k < 0 && errno != EAGAIN && errno != EINTR)) {
            if (seen) seen[len] = 0;
            return 1;
        }
        for (ssize_t i = 0; seen && k > 0 && i < k && len + 1 < cap; i++) seen[len++] = buf[i] ? buf[i] : '.';
    }
    if (seen) seen[len] = 0;
    return 0;
}

/* 1 when the connection is still open and has nothing to read. */
static int still_open(raw *r) {
    char c;
    ssize_t k = recv(r->fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* A value from /metrics: the first line that starts with `name` (labels included) and a space;
 * -1 when there is none. */
static double metric(world *w, const char *name) {
    char *buf = malloc(1 << 16);
    double v = -1;
    if (buf && http_get(lr_rpc_server_http_port(w->server), "GET /metrics HTTP/1.0\r\n\r\n", buf, 1 << 16) > 0) {
        size_t n = strlen(name);
        for (const char *l = buf; l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
            if (strncmp(l, name, n) == 0 && l[n] == ' ') {
                v = strtod(l + n + 1, NULL);
                break;
            }
    }
    free(buf);
    return v;
}

/* Polls a metric until it reaches at least `want` (or WAIT_MS passes); its last value. */
static double wait_metric(world *w, const char *name, double want) {
    double v = -1, end = now_ms() + WAIT_MS;
    while ((v = metric(w, name)) < want && now_ms() < end) sleep_ms(50);
    return v;
}

static req ping = {"ping", 0, 0, 0, {{0}}};

/* A ping on a fresh connection is answered. */
static int fresh_ping_ok(world *w) {
    raw r;
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    int ok = raw_open(&r, lr_rpc_server_port(w->server)) == 0 && call(&r, build_req, &ping, &res) == 0;
    msgpack_unpacked_destroy(&res);
    raw_close(&r);
    return ok;
}

static lr_rpc_server_config limits(unsigned frame_ms, unsigned idle_ms) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.frame_timeout_ms = frame_ms, sc.idle_timeout_ms = idle_ms;
    return sc;
}

/* ---- hostile clients ---------------------------------------------------------------------- */

/* Slow-loris: part of a frame and then nothing, or a frame dripped a byte at a time, is closed
 * --frame-timeout after the frame began (with a last error frame saying why); the idle timeout,
 * a minute here, plays no part, and a connection alongside is answered throughout. On the HTTP
 * side, a request cut short and a connection that sends nothing are closed as well. */
LR_TEST(a_frame_that_does_not_arrive_whole_in_time_is_closed) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, limits(300, 60000), &err), err);
    int port = lr_rpc_server_port(w.server);
    raw stall, drip, good;
    CHECK(raw_open(&good, port) == 0 && raw_open(&stall, port) == 0 && raw_open(&drip, port) == 0);
    char seen[256];
    double t0 = now_ms();
    raw_send(&stall, "\x94\x00\x01", 3); /* [0, 1, ... and no more */
    CHECK(wait_closed(&stall, WAIT_MS, seen, sizeof seen));
    double took = now_ms() - t0;
    printf("     a partial frame closed after %.0f ms (--frame-timeout 300 ms)\n", took);
    CHECK(took >= 250); /* not before its time (less a timer's slack) */
    CHECK_CONTAINS(seen, "--frame-timeout");
    /* a ping, then a frame claiming a 60 kB bin whose bytes come one per 50 ms: progress, but
     * the frame cannot finish in time */
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    CHECK_EQ(call(&drip, build_req, &ping, &res), 0);
    t0 = now_ms();
    raw_send(&drip, "\x94\x00\x02\xa4ping\xc5\xea\x60", 10);
    int closed = 0;
    for (double end = t0 + WAIT_MS; !closed && now_ms() < end;) {
        raw_send(&drip, "x", 1);
        closed = wait_closed(&drip, 50, NULL, 0);
    }
    CHECK(closed);
    CHECK(now_ms() - t0 >= 250);
    CHECK_EQ(call(&good, build_req, &ping, &res), 0);
    msgpack_unpacked_destroy(&res);
    /* HTTP: a request's head cut short, and a connection that never sends, take evhttp's
     * timeout, which is set to the frame timeout */
    raw head, mute;
    int hp = lr_rpc_server_http_port(w.server);
    CHECK(raw_open(&head, hp) == 0 && raw_open(&mute, hp) == 0);
    t0 = now_ms();
    raw_send(&head, "GET /healthz HTTP/1.1\r\nHost: x", 31);
    CHECK(wait_closed(&head, WAIT_MS, NULL, 0));
    CHECK(wait_closed(&mute, WAIT_MS, NULL, 0));
    CHECK(now_ms() - t0 >= 250);
    raw_close(&head), raw_close(&mute);
    CHECK_EQ(metric(&w, "learnrec_connections_timed_out_total{reason=\"frame\"}"), 2);
    CHECK_EQ(metric(&w, "learnrec_connections_timed_out_total{reason=\"idle\"}"), 0);
    raw_close(&stall), raw_close(&drip), raw_close(&good);
    world_down(&w);
}

/* A connection that never sends, and one that goes quiet after its answer, are closed after
 * --idle-timeout, without a word (a pooled client expects a plain close); one whose request is
 * still being worked on is not idle, however long that takes. */
LR_TEST(an_idle_connection_is_closed_but_not_one_with_a_request_in_flight) {
    world w;
    lr_err err = {0};
    lr_rpc_server_config sc = limits(60000, 300);
    sc.deadline_ms = 60000; /* the request held below must not be refused for its wait */
    CHECK_OK(world_up(&w, sc, &err), err);
    int port = lr_rpc_server_port(w.server);
    raw silent, quiet, busy;
    CHECK(raw_open(&silent, port) == 0 && raw_open(&quiet, port) == 0);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    CHECK_EQ(call(&quiet, build_req, &ping, &res), 0);
    double t0 = now_ms();
    char seen[64];
    CHECK(wait_closed(&silent, WAIT_MS, seen, sizeof seen));
    CHECK_STR_EQ(seen, "");
    CHECK(wait_closed(&quiet, WAIT_MS, seen, sizeof seen));
    CHECK_STR_EQ(seen, "");
    CHECK(now_ms() - t0 >= 250);
    /* the worker held: the ping waits in the queue for four idle timeouts */
    lr_rpc_workers_hold(w.server);
    CHECK(raw_open(&busy, port) == 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    build_req(&pk, &ping);
    raw_send(&busy, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    sleep_ms(1200);
    CHECK(still_open(&busy));
    lr_rpc_workers_release(w.server, LR_RPC_RELEASE_ALL);
    CHECK(raw_next(&busy, &res));
    CHECK(res.data.via.array.ptr[2].type == MSGPACK_OBJECT_NIL);
    msgpack_unpacked_destroy(&res);
    CHECK(wait_closed(&busy, WAIT_MS, NULL, 0)); /* and once answered, it is idle */
    CHECK_EQ(wait_metric(&w, "learnrec_connections_timed_out_total{reason=\"idle\"}", 3), 3);
    CHECK_EQ(metric(&w, "learnrec_connections_timed_out_total{reason=\"frame\"}"), 0);
    raw_close(&silent), raw_close(&quiet), raw_close(&busy);
    world_down(&w);
}

/* n searches for the k = 320 nearest (answers of about 3 kB), msgids 0 .. n-1, written while the
 * socket takes them (a server that stops reading stops taking them: whatever is left after
 * 2 s without progress is not sent); how many were sent. */
static size_t flood_searches(raw *r, size_t n, const float *v) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    size_t *ends = malloc(n * sizeof *ends);
    for (uint32_t i = 0; ends && i < n; i++) {
        msgpack_pack_array(&pk, 4), msgpack_pack_int(&pk, 0), msgpack_pack_uint32(&pk, i), pk_str(&pk, "search");
        msgpack_pack_map(&pk, 2), pk_str(&pk, "vector"), msgpack_pack_array(&pk, 16);
        for (int j = 0; j < 16; j++) msgpack_pack_float(&pk, v[j]);
        pk_str(&pk, "k"), msgpack_pack_int(&pk, N_ITEMS);
        ends[i] = sb.size;
    }
    size_t off = 0;
    while (ends && off < sb.size) {
        struct pollfd p = {r->fd, POLLOUT, 0};
        if (poll(&p, 1, 2000) <= 0) break;
        ssize_t k = send(r->fd, sb.data + off, sb.size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno != EAGAIN) break;
        if (k > 0) off += (size_t)k;
    }
    size_t sent = 0;
    while (ends && sent < n && ends[sent] <= off) sent++;
    free(ends);
    msgpack_sbuffer_destroy(&sb);
    return sent;
}

/* A socket whose receive buffer is small, so that what the server writes stays on its side. */
static int raw_open_small(raw *r, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    msgpack_unpacker_init(&r->up, 1 << 16);
    int small = 4096;
    setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    return connect(r->fd, (struct sockaddr *)&a, sizeof a);
}

/* Waits until the searches answered stop growing for 2 s: that count. */
static double answered_when_settled(world *w) {
    const char *name = "learnrec_requests_total{method=\"search\",status=\"ok\"}";
    double last = -1, v, since = now_ms(), end = now_ms() + 60000;
    while (now_ms() < end) {
        v = metric(w, name);
        if (v != last) last = v, since = now_ms();
        else if (now_ms() - since >= 2000) break;
        sleep_ms(100);
    }
    return last;
}

#define FLOOD 6000

/* A client that pipelines thousands of searches and reads none of the answers (about 19 MB of
 * them, far more than the kernel's socket buffers hold): once 64 kB of its answers wait in the
 * server, its requests are no longer read; the server's buffer stays bounded, other connections
 * are answered, and when the client reads at last every request gets its answer. */
LR_TEST(a_client_that_does_not_read_its_answers_is_no_longer_read) {
    lr_rpc_server_config sc = limits(60000, 60000);
    sc.max_pending_bytes = 64 << 10;
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    raw r;
    CHECK(raw_open_small(&r, lr_rpc_server_port(w.server)) == 0);
    size_t sent = flood_searches(&r, FLOOD, w.items); /* all of them, unless reading stopped early */
    CHECK(sent > 0);
    double answered = answered_when_settled(&w);
    /* A server that read on would answer all it was sent, and be sent all: it stops instead
     * once the kernel holds what it can of the answers (the send buffer grows to 4 MB at most
     * here: tcp_wmem) and it holds 64 kB more, plus the answers to the requests in flight then
     * (256 at most on a connection), fewer than 1,600 answers of 3 kB in all. */
    CHECK(answered > 0 && answered < FLOOD / 2);
    double out = metric(&w, "learnrec_output_bytes");
    printf("     %zu searches sent, %.0f answered before reading stopped, %.0f bytes of answers held\n", sent,
           answered, out);
    CHECK(out > 0 && out <= (64 << 10) + 256 * 8192);
    CHECK(fresh_ping_ok(&w));
    /* reading at last: every request sent is answered, once */
    char *seen = calloc(FLOOD, 1);
    uint32_t id;
    char msg[256];
    size_t got = 0;
    while (seen && got < sent && next_answer(&r, &id, msg, sizeof msg) == 0 && id < FLOOD && !seen[id]++) got++;
    free(seen);
    CHECK_EQ(got, sent);
    CHECK_EQ(metric(&w, "learnrec_connections_timed_out_total{reason=\"write\"}"), 0);
    raw_close(&r);
    world_down(&w);
}

/* The same client, never reading: its answers make no progress for --idle-timeout, and the
 * connection is closed, which frees what it held. */
LR_TEST(a_client_that_never_reads_is_closed_after_the_idle_timeout) {
    lr_rpc_server_config sc = limits(60000, 500);
    sc.max_pending_bytes = 64 << 10;
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    raw r;
    CHECK(raw_open_small(&r, lr_rpc_server_port(w.server)) == 0);
    CHECK(flood_searches(&r, FLOOD, w.items) > 0);
    CHECK_EQ(wait_metric(&w, "learnrec_connections_timed_out_total{reason=\"write\"}", 1), 1);
    CHECK_EQ(wait_metric(&w, "learnrec_connections_open", 0), 0); /* -1 would be a missing line */
    CHECK_EQ(metric(&w, "learnrec_output_bytes"), 0);
    CHECK(fresh_ping_ok(&w));
    CHECK(wait_closed(&r, WAIT_MS, NULL, 0)); /* what the kernel held is read, then the end */
    raw_close(&r);
    world_down(&w);
}

/* Beyond --max-connections a connection gets `overloaded` and is closed at once; the open ones
 * are answered, /metrics counts the refusal, and a closed connection frees its place. */
LR_TEST(connections_beyond_the_limit_are_refused_and_the_rest_answered) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.max_connections = 4;
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    int port = lr_rpc_server_port(w.server);
    raw open[4], extra;
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    for (int i = 0; i < 4; i++) { /* answered: accepted, and counted */
        CHECK(raw_open(&open[i], port) == 0);
        CHECK_EQ(call(&open[i], build_req, &ping, &res), 0);
    }
    CHECK(raw_open(&extra, port) == 0);
    CHECK(raw_next(&extra, &res));
    const msgpack_object *a = res.data.via.array.ptr;
    CHECK(a[1].via.u64 == 0 && a[2].type == MSGPACK_OBJECT_ARRAY);
    CHECK_EQ(a[2].via.array.ptr[0].via.i64, LR_RPC_EOVERLOADED);
    char msg[256];
    snprintf(msg, sizeof msg, "%.*s", (int)a[2].via.array.ptr[1].via.str.size, a[2].via.array.ptr[1].via.str.ptr);
    CHECK_CONTAINS(msg, "--max-connections");
    CHECK(wait_closed(&extra, WAIT_MS, NULL, 0));
    raw_close(&extra);
    for (int i = 0; i < 4; i++) CHECK_EQ(call(&open[i], build_req, &ping, &res), 0);
    CHECK_EQ(metric(&w, "learnrec_connections_refused_total"), 1);
    CHECK_EQ(metric(&w, "learnrec_connections_open"), 4);
    /* the C client sees the refusal as the server's error */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    lr_rpc_client *c = NULL;
    int code = 0;
    char *json = NULL;
    CHECK_OK(lr_rpc_client_connect(addr, 5000, &c, &err), err);
    CHECK_ERR(lr_rpc_client_call_json(c, "ping", NULL, &json, &code, &err), err, LR_ERPC, "overloaded");
    lr_rpc_client_close(c);
    raw_close(&open[3]); /* a place frees once the server has seen the close */
    int ok = 0;
    for (double end = now_ms() + WAIT_MS; !ok && now_ms() < end; sleep_ms(50)) ok = fresh_ping_ok(&w);
    CHECK(ok);
    for (int i = 0; i < 3; i++) CHECK_EQ(call(&open[i], build_req, &ping, &res), 0);
    msgpack_unpacked_destroy(&res);
    for (int i = 0; i < 3; i++) raw_close(&open[i]);
    world_down(&w);
}

/* The descriptors below `limit` that are free. */
static int free_below(rlim_t limit) {
    int n = 0;
    for (rlim_t fd = 0; fd < limit; fd++) n += fcntl((int)fd, F_GETFD) < 0;
    return n;
}

/* Out of file descriptors, accept() fails while the listener stays readable: the server pauses
 * accepting 100 ms at a time rather than spin on it (a few failures a second, not thousands),
 * answers its open connections meanwhile, and takes the waiting ones once descriptors free. */
LR_TEST(out_of_descriptors_accepting_pauses_and_the_open_connections_are_answered) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    int port = lr_rpc_server_port(w.server);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    raw first;
    CHECK(raw_open(&first, port) == 0);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    CHECK_EQ(call(&first, build_req, &ping, &res), 0);
    int fds[6];
    for (int i = 0; i < 6; i++) CHECK((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
    struct rlimit saved, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &saved) == 0);
    low = saved;
    low.rlim_cur = 3;
    while (free_below(low.rlim_cur) < 2) low.rlim_cur++; /* room for two accepted connections */
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    int connected = 0;
    for (int i = 0; i < 6; i++) connected += connect(fds[i], (struct sockaddr *)&a, sizeof a) == 0;
    sleep_ms(1000);
    int answered = call(&first, build_req, &ping, &res) == 0;
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    CHECK_EQ(connected, 6); /* the kernel completes them; the server cannot take four */
    CHECK(answered);
    double errors = metric(&w, "learnrec_accept_errors_total");
    printf("     %.0f accept() failures in the second without descriptors\n", errors);
    CHECK(errors >= 1 && errors <= 50);
    for (int i = 0; i < 6; i++) { /* each taken now, and answered */
        raw r = {fds[i], {0}};
        msgpack_unpacker_init(&r.up, 1 << 16);
        CHECK_EQ(call(&r, build_req, &ping, &res), 0);
        raw_close(&r);
    }
    msgpack_unpacked_destroy(&res);
    raw_close(&first);
    world_down(&w);
}

/* ---- security defaults ---------------------------------------------------------------------- */

/* Listening defaults to loopback, HTTP to off; every spelling of "every interface" is known, so
 * `learnrec serve` can warn about it (tests/tools/test_serve_security.sh checks the warning). */
LR_TEST(the_default_address_is_loopback_and_wildcards_are_recognised) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    CHECK_STR_EQ(sc.listen, "127.0.0.1:7070");
    CHECK(sc.http == NULL);
    CHECK(sc.admin_token == NULL);
    const char *any[] = {"0.0.0.0:7070", "[::]:7070", "0:7070", "[0:0:0:0:0:0:0:0]:1", "[::0]:1"};
    const char *one[] = {"127.0.0.1:7070", "[::1]:7070", "localhost:7070", "10.1.2.3:1", "[fe80::1]:1"};
    lr_err err = {0};
    for (size_t i = 0; i < sizeof any / sizeof any[0]; i++) {
        int wild = -1;
        CHECK_OK(lr_rpc_addr_is_wildcard(any[i], &wild, &err), err);
        if (wild != 1) LR_FAIL_("%s is every interface", any[i]);
    }
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++) {
        int wild = -1;
        CHECK_OK(lr_rpc_addr_is_wildcard(one[i], &wild, &err), err);
        if (wild != 0) LR_FAIL_("%s is one interface", one[i]);
    }
    int wild;
    CHECK_ERR(lr_rpc_addr_is_wildcard("no-port", &wild, &err), err, LR_EINVAL, "expected HOST:PORT");
}

/* [0, 7, "remove_items", {ids: [17], token: <len bytes of tok, as str or bin, or an int>}] */
static void pack_token_call(msgpack_packer *pk, const char *tok, size_t len, char type) {
    msgpack_pack_array(pk, 4), msgpack_pack_int(pk, 0), msgpack_pack_int(pk, 7), pk_str(pk, "remove_items");
    msgpack_pack_map(pk, 2), pk_str(pk, "ids"), msgpack_pack_array(pk, 1), msgpack_pack_int(pk, 17);
    pk_str(pk, "token");
    if (type == 'i') {
        msgpack_pack_int(pk, 42);
    } else if (type == 'b') {
        msgpack_pack_bin(pk, len);
        msgpack_pack_bin_body(pk, tok, len);
    } else {
        msgpack_pack_str(pk, len);
        msgpack_pack_str_body(pk, tok, len);
    }
}

/* The error code of a remove_items with that token; its message appended to all (cap 4096). */
static int token_call(raw *r, const char *tok, size_t len, char type, char *all) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_token_call(&pk, tok, len, type);
    raw_send(r, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    uint32_t id;
    char msg[256];
    int code = next_answer(r, &id, msg, sizeof msg);
    if (strlen(all) + strlen(msg) + 2 < 4096) strcat(strcat(all, msg), "\n");
    return code;
}

#define TOKEN "tok-8d3f1c"

/* Only the exact token opens the admin methods: not a prefix, a longer one, one that differs in
 * its last byte, one with a NUL after it, an empty one or another type. And no answer, error
 * or stats or /metrics, ever shows it. (That the comparison takes the same time whatever the
 * bytes is not measured here: a timing test would be flaky; methods.c's token_ok reads every
 * byte of the server's token whatever it meets.) */
LR_TEST(only_the_exact_admin_token_is_accepted_and_none_is_ever_echoed) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.admin_token = TOKEN;
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    char *all = calloc(1, 4096);
    CHECK(all);
    const char *wrong[] = {"tok-8d3f1", TOKEN "!", "tok-8d3f1d", "Tok-8d3f1c", "", "x"};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++)
        CHECK_EQ(token_call(&r, wrong[i], strlen(wrong[i]), 's', all), LR_RPC_EUNAUTHORIZED);
    CHECK_EQ(token_call(&r, TOKEN "\0", sizeof TOKEN, 's', all), LR_RPC_EUNAUTHORIZED);
    CHECK_EQ(token_call(&r, NULL, 0, 'i', all), LR_RPC_EUNAUTHORIZED);
    CHECK_EQ(token_call(&r, TOKEN, strlen(TOKEN), 's', all), 0);
    CHECK_EQ(token_call(&r, TOKEN, strlen(TOKEN), 'b', all), 0); /* a bin is a str here, as for names */
    CHECK_CONTAINS(all, "needs the admin token");
    CHECK(!strstr(all, TOKEN));
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    req stats = {"stats", 0, 0, 0, {{0}}};
    CHECK_EQ(call(&r, build_req, &stats, &res), 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, res.data);
    CHECK(!memmem(sb.data, sb.size, TOKEN, strlen(TOKEN)));
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&res);
    free(all);
    all = malloc(1 << 16);
    CHECK(all);
    CHECK(http_get(lr_rpc_server_http_port(w.server), "GET /metrics HTTP/1.0\r\n\r\n", all, 1 << 16) > 0);
    CHECK_CONTAINS(all, "learnrec_output_bytes"); /* the last line: all of it was read */
    CHECK(!strstr(all, TOKEN));
    free(all);
    raw_close(&r);
    world_down(&w);
}

/* The code and message of a reload of version (len bytes; NULL: none, i.e. `current`). */
static int reload_as(raw *r, const char *version, size_t len, char *msg, size_t cap) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4), msgpack_pack_int(&pk, 0), msgpack_pack_int(&pk, 5), pk_str(&pk, "reload");
    msgpack_pack_map(&pk, version ? 1 : 0);
    if (version) {
        pk_str(&pk, "version");
        msgpack_pack_str(&pk, len);
        msgpack_pack_str_body(&pk, version, len);
    }
    raw_send(r, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    uint32_t id;
    return next_answer(r, &id, msg, cap);
}

/* The version being served, from stats. */
static void served(raw *r, char out[32]) {
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    req stats = {"stats", 0, 0, 0, {{0}}};
    out[0] = 0;
    if (call(r, build_req, &stats, &res) == 0) {
        const msgpack_object *v = lr_rpc_field(result_of(&res), "version");
        if (v && v->type == MSGPACK_OBJECT_STR) snprintf(out, 32, "%.*s", (int)v->via.str.size, v->via.str.ptr);
    }
    msgpack_unpacked_destroy(&res);
}

/* A valid version published into another directory, `other`, for links to lead to. */
static int publish_elsewhere(world *w, char other[4200], lr_err *err) {
    lr_test_path(other, 4200, w->dir, "other");
    char keep[4200];
    memcpy(keep, w->index, sizeof keep);
    memcpy(w->index, other, 4200);
    int rc = publish(w, "Flat", err);
    memcpy(w->index, keep, sizeof keep);
    return rc;
}

/* reload takes a plain version name: paths are refused as bad_request, and a version (or
 * `current`) that is a symbolic link leading out of IXDIR/versions as not_found, even to a
 * valid version; the served version stays. A link that stays inside is fine. */
LR_TEST(reload_reaches_only_versions_inside_the_index_directory) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    char other[4200], link[4300], target[4300], msg[256], v[32];
    CHECK_OK(publish_elsewhere(&w, other, &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    const char *paths[] = {"../x", "/etc", "a/b", "..", "", "v000001/../v000001", "v000001/", "%s%n%s"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        CHECK_EQ(reload_as(&r, paths[i], strlen(paths[i]), msg, sizeof msg), LR_RPC_EBAD_REQUEST);
    CHECK_EQ(reload_as(&r, "v000001\0x", 9, msg, sizeof msg), LR_RPC_EBAD_REQUEST); /* a NUL inside */
    CHECK_CONTAINS(msg, "'version' must name a version");
    /* links in versions/ to the valid version outside: absolute and relative */
    snprintf(link, sizeof link, "%s/versions/v000098", w.index);
    snprintf(target, sizeof target, "%s/versions/v000001", other);
    CHECK(symlink(target, link) == 0);
    snprintf(link, sizeof link, "%s/versions/v000099", w.index);
    CHECK(symlink("../../other/versions/v000001", link) == 0);
    CHECK_EQ(reload_as(&r, "v000098", 7, msg, sizeof msg), LR_RPC_ENOT_FOUND);
    CHECK_CONTAINS(msg, "leads outside");
    CHECK(!strstr(msg, other)); /* where it leads is not said */
    CHECK_EQ(reload_as(&r, "v000099", 7, msg, sizeof msg), LR_RPC_ENOT_FOUND);
    CHECK_CONTAINS(msg, "leads outside");
    /* a link that stays inside is a version like any other */
    snprintf(link, sizeof link, "%s/versions/v000097", w.index);
    CHECK(symlink("v000001", link) == 0);
    CHECK_EQ(reload_as(&r, "v000097", 7, msg, sizeof msg), 0);
    /* `current` made to lead outside: refused on reload, and at a server's start */
    snprintf(link, sizeof link, "%s/current", w.index);
    CHECK(unlink(link) == 0 && symlink(target, link) == 0);
    CHECK_EQ(reload_as(&r, NULL, 0, msg, sizeof msg), LR_RPC_ENOT_FOUND);
    CHECK_CONTAINS(msg, "current leads outside");
    served(&r, v);
    CHECK_STR_EQ(v, "v000001");
    lr_rpc_engine_config ec = {w.index, w.model, w.content, NULL, NULL, NULL};
    lr_rpc_engine *e = NULL;
    CHECK_ERR(lr_rpc_engine_open(&ec, &e, &err), err, LR_ENOTFOUND, "leads outside");
    CHECK(unlink(link) == 0 && symlink("versions/v000001", link) == 0);
    CHECK_EQ(reload_as(&r, NULL, 0, msg, sizeof msg), 0);
    raw_close(&r);
    world_down(&w);
}

/* Bytes a request sends are data wherever they go: printf directives in a method name, an HTTP
 * body or a field come back as the characters sent (the build's -Wformat=2 keeps any format
 * string from being anything but a literal). */
LR_TEST(printf_directives_in_a_request_are_just_text) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    req q = {"%s%n%s%n%p", 0, 0, 0, {{0}}};
    CHECK_EQ(call(&r, build_req, &q, &res), LR_RPC_EUNKNOWN_METHOD);
    char msg[256];
    const msgpack_object *m = &res.data.via.array.ptr[2].via.array.ptr[1];
    snprintf(msg, sizeof msg, "%.*s", (int)m->via.str.size, m->via.str.ptr);
    CHECK_CONTAINS(msg, "unknown method '%s%n%s%n%p'");
    req rec = {"recommend", 0, 0, 1, {{"history", 's', 0, 0, NULL, NULL, "%s%s%s%n"}}};
    CHECK_EQ(call(&r, build_req, &rec, &res), LR_RPC_EBAD_REQUEST);
    msgpack_unpacked_destroy(&res);
    char *buf = malloc(65536);
    CHECK(buf);
    const char *body = "{\"history\": \"%s%n%s%n\"}";
    char post[256];
    snprintf(post, sizeof post, "POST /recommend HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    CHECK(http_get(lr_rpc_server_http_port(w.server), post, buf, 65536) > 0);
    CHECK_CONTAINS(buf, "400");
    free(buf);
    CHECK(fresh_ping_ok(&w));
    raw_close(&r);
    world_down(&w);
}

LR_TEST_MAIN(LR_CASE(a_frame_that_does_not_arrive_whole_in_time_is_closed),
             LR_CASE(an_idle_connection_is_closed_but_not_one_with_a_request_in_flight),
             LR_CASE(a_client_that_does_not_read_its_answers_is_no_longer_read),
             LR_CASE(a_client_that_never_reads_is_closed_after_the_idle_timeout),
             LR_CASE(connections_beyond_the_limit_are_refused_and_the_rest_answered),
             LR_CASE(out_of_descriptors_accepting_pauses_and_the_open_connections_are_answered),
             LR_CASE(the_default_address_is_loopback_and_wildcards_are_recognised),
             LR_CASE(only_the_exact_admin_token_is_accepted_and_none_is_ever_echoed),
             LR_CASE(reload_reaches_only_versions_inside_the_index_directory),
             LR_CASE(printf_directives_in_a_request_are_just_text))
