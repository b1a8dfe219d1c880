/* The blocking msgpack-rpc client: one TCP connection, one call at a time (docs/rpc.md).
 *
 * The socket is non-blocking underneath and every wait goes through poll(), so one deadline
 * bounds a call's connect, send and receive alike. Answers are matched by msgid: the late
 * answer of a call that timed out is read and dropped by the next call.
 *
 * A dropped connection (a replica killed or restarted behind a load balancer) is dialled again
 * by the next call. A call of a method that changes nothing (recommend, search, similar, item,
 * stats, ping) whose connection dropped before its answer is sent again on a new connection
 * (at most LR_RPC_CLIENT_MAX_RESENDS times), within a fresh timeout; any other method reports
 * the drop, since the server may have done it. Timeouts are never retried: a slow server would only get the work twice. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <msgpack.h>

#include "json_bridge.h"
#include "lr_rpc.h"
#include "rpc_internal.h"

#define DEFAULT_TIMEOUT_MS 10000u
#define MAX_BUFFERED ((size_t)256 << 20) /* a larger answer is a broken or hostile server */
#define READ_CHUNK ((size_t)64 << 10)

struct lr_rpc_client {
    int fd;              /* -1 while not connected */
    unsigned timeout_ms;
    uint32_t next_msgid; /* never 0: the server answers unparsable frames with msgid 0 */
    int broken;          /* the byte stream is out of step (partial send, bad frame, EOF) */
    int up_ok;           /* up is initialised (a failed re-initialisation leaves it not) */
    size_t reconnects, retries;
    msgpack_unpacker up;
    char addr[300];      /* "HOST:PORT" as given, for messages */
};

const char *lr_rpc_code_name(int code) {
    switch (code) {
#define XX(num, name, str) case num: return str;
        LR_RPC_ERROR_MAP(XX)
#undef XX
    default: return "unknown";
    }
}

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- connecting ----------------------------------------------------------------------------- */

/* Waits for `events` on fd until `deadline`; 1 when ready, 0 on timeout, -1 on a poll error. */
static int wait_fd(int fd, short events, int64_t deadline) {
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0) return 0;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
        if (n > 0) return 1; /* POLLERR/POLLHUP too: the next send/recv says what happened */
        if (n < 0 && errno != EINTR) return -1;
    }
}

/* One address: a non-blocking connect finished by poll. Returns the fd, or -1 with errno set
 * (ETIMEDOUT when the deadline passed). */
static int connect_one(const struct addrinfo *ai, int64_t deadline) {
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) return -1;
    int e = 0, one = 1;
    socklen_t elen = sizeof e;
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) || fcntl(fd, F_SETFL, O_NONBLOCK)) goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        if (errno != EINPROGRESS) goto fail;
        int r = wait_fd(fd, POLLOUT, deadline);
        if (r <= 0) {
            if (r == 0) errno = ETIMEDOUT;
            goto fail;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0) goto fail;
        if (e) {
            errno = e;
            goto fail;
        }
    }
    /* requests are small and latency-bound: don't let Nagle hold them back */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0) goto fail;
    return fd;
fail:
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

int lr_rpc_dial(const char *addr, unsigned timeout_ms, int *fd, lr_err *err) {
    char host[256], port[32];
    int rc = lr_rpc_split_addr(addr, host, sizeof host, port, sizeof port, err);
    if (rc) return rc;
    struct addrinfo hints = {0}, *res;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, port, &hints, &res);
    if (g) return lr_err_set(err, LR_EIO, "%s: cannot resolve '%s': %s", addr, host, gai_strerror(g));
    int64_t deadline = now_ms() + timeout_ms;
    int e = 0;
    *fd = -1;
    for (struct addrinfo *ai = res; ai && *fd < 0 && e != ETIMEDOUT; ai = ai->ai_next)
        if ((*fd = connect_one(ai, deadline)) < 0) e = errno;
    freeaddrinfo(res);
    if (*fd >= 0) return LR_OK;
    if (e == ETIMEDOUT)
        return lr_err_set(err, LR_ETIMEOUT, "connect(%s): no connection within %u ms", addr, timeout_ms);
    return lr_err_set(err, LR_EIO, "connect(%s): %s", addr, strerror(e));
}

int lr_rpc_client_connect(const char *addr, unsigned timeout_ms, lr_rpc_client **out, lr_err *err) {
    *out = NULL;
    if (!addr) return lr_err_set(err, LR_EINVAL, "lr_rpc_client_connect: NULL address");
    if (strlen(addr) >= sizeof((lr_rpc_client *)0)->addr)
        return lr_err_set(err, LR_EINVAL, "address too long: %.40s...", addr);
    lr_rpc_client *c = calloc(1, sizeof *c);
    if (!c || !msgpack_unpacker_init(&c->up, READ_CHUNK)) {
        free(c);
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory for the client", addr);
    }
    c->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
    c->next_msgid = 1;
    c->up_ok = 1;
    strcpy(c->addr, addr);
    int rc = lr_rpc_dial(addr, c->timeout_ms, &c->fd, err);
    if (rc) {
        msgpack_unpacker_destroy(&c->up);
        free(c);
        return rc;
    }
    *out = c;
    return LR_OK;
}

void lr_rpc_client_close(lr_rpc_client *c) {
    if (!c) return;
    if (c->fd >= 0) close(c->fd);
    if (c->up_ok) msgpack_unpacker_destroy(&c->up);
    free(c);
}

size_t lr_rpc_client_reconnects(const lr_rpc_client *c) { return c->reconnects; }
size_t lr_rpc_client_retries(const lr_rpc_client *c) { return c->retries; }

/* A new connection to the same address, with nothing of the old stream left buffered. */
static int reconnect(lr_rpc_client *c, lr_err *err) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->broken = 1;
    if (c->up_ok) msgpack_unpacker_destroy(&c->up);
    c->up_ok = msgpack_unpacker_init(&c->up, READ_CHUNK);
    if (!c->up_ok) return lr_err_set(err, LR_ENOMEM, "%s: out of memory reconnecting", c->addr);
    int rc = lr_rpc_dial(c->addr, c->timeout_ms, &c->fd, err);
    if (rc) return rc;
    c->broken = 0;
    c->reconnects++;
    return LR_OK;
}

/* 1 when the server has closed a connection that is waiting for a call (its idle timeout, a
 * restart): then nothing is lost by dialling again before sending, whatever the method. */
static int peer_closed(const lr_rpc_client *c) {
    struct pollfd p = {c->fd, POLLIN, 0};
    char b;
    if (poll(&p, 1, 0) <= 0) return 0;
    ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Methods that change nothing on the server, so a dropped call may be sent again. */
static int idempotent(const char *method) {
    static const char *const safe[] = {"recommend", "search", "similar", "item", "stats", "ping"};
    for (size_t i = 0; i < sizeof safe / sizeof *safe; i++)
        if (strcmp(method, safe[i]) == 0) return 1;
    return 0;
}

/* ---- one call: send the request, read until its answer ------------------------------------- */

/* The request being packed. Packing failures stick, so the packing code stays straight-line and
 * is checked once at the end. */
typedef struct {
    msgpack_sbuffer sb;
    int failed;
} req_buf;

static int req_write(void *data, const char *buf, size_t len) {
    req_buf *r = data;
    if (!r->failed && msgpack_sbuffer_write(&r->sb, buf, len)) r->failed = 1;
    return r->failed ? -1 : 0;
}

/* Packs [0, msgid, method, ...]; the caller packs the params map next. */
static uint32_t start_request(lr_rpc_client *c, msgpack_packer *pk, const char *method) {
    uint32_t id = c->next_msgid++;
    if (c->next_msgid == 0) c->next_msgid = 1;
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 0);
    msgpack_pack_uint32(pk, id);
    msgpack_pack_str_with_body(pk, method, strlen(method));
    return id;
}

static int send_all(lr_rpc_client *c, const char *buf, size_t len, int64_t deadline,
                    const char *method, lr_err *err) {
    for (size_t off = 0; off < len;) {
        ssize_t n = send(c->fd, buf + off, len - off, MSG_NOSIGNAL);
        if (n >= 0) {
            off += (size_t)n;
            continue;
        }
        int r = 1;
        if (errno == EAGAIN || errno == EWOULDBLOCK) r = wait_fd(c->fd, POLLOUT, deadline);
        else if (errno != EINTR) r = -1;
        if (r == 1) continue;
        c->broken = 1; /* part of a frame may be out: the stream is out of step */
        if (r == 0)
            return lr_err_set(err, LR_ETIMEOUT, "%s: could not send %s within %u ms", c->addr,
                              method, c->timeout_ms);
        return lr_err_set(err, LR_EIO, "send(%s): %s", c->addr, strerror(errno));
    }
    return LR_OK;
}

/* Reads what has arrived into the unpacker, waiting for it until `deadline`. */
static int read_some(lr_rpc_client *c, int64_t deadline, const char *method, lr_err *err) {
    if (msgpack_unpacker_message_size(&c->up) > MAX_BUFFERED) {
        c->broken = 1;
        return lr_err_set(err, LR_EFORMAT, "%s: the answer to %s is larger than %zu MiB",
                          c->addr, method, MAX_BUFFERED >> 20);
    }
    if (!msgpack_unpacker_reserve_buffer(&c->up, READ_CHUNK))
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory reading the answer to %s", c->addr, method);
    int r = wait_fd(c->fd, POLLIN, deadline);
    if (r == 0)
        return lr_err_set(err, LR_ETIMEOUT, "%s: no answer to %s within %u ms", c->addr, method,
                          c->timeout_ms);
    if (r < 0) return lr_err_set(err, LR_EIO, "poll(%s): %s", c->addr, strerror(errno));
    ssize_t n = recv(c->fd, msgpack_unpacker_buffer(&c->up), msgpack_unpacker_buffer_capacity(&c->up), 0);
    if (n > 0) {
        msgpack_unpacker_buffer_consumed(&c->up, (size_t)n);
        return LR_OK;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) return LR_OK;
    c->broken = 1;
    if (n == 0)
        return lr_err_set(err, LR_EIO, "%s: the server closed the connection before answering %s",
                          c->addr, method);
    return lr_err_set(err, LR_EIO, "recv(%s): %s", c->addr, strerror(errno));
}

static int is_uint(const msgpack_object *o) { return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER; }

/* 1 when the frame in u answers `msgid`, 0 for a frame to skip, else an error. Frame-level
 * errors come with msgid 0 (docs/rpc.md: the server then closes): they answer whatever we sent. */
static int check_frame(lr_rpc_client *c, const msgpack_object *f, uint32_t msgid, lr_err *err) {
    const msgpack_object *a = f->via.array.ptr;
    if (f->type == MSGPACK_OBJECT_ARRAY && f->via.array.size == 3 && is_uint(&a[0]) && a[0].via.u64 == 2)
        return 0; /* a notification: nothing asked for it */
    if (f->type != MSGPACK_OBJECT_ARRAY || f->via.array.size != 4 || !is_uint(&a[0]) ||
        a[0].via.u64 != 1 || !is_uint(&a[1]) || a[1].via.u64 > UINT32_MAX) {
        c->broken = 1;
        return lr_err_set(err, LR_EFORMAT, "%s: the server sent a frame that is not a response",
                          c->addr);
    }
    return a[1].via.u64 == msgid || (a[1].via.u64 == 0 && a[2].type != MSGPACK_OBJECT_NIL);
}

/* Reads frames until the answer to `msgid` is in u. */
static int await_answer(lr_rpc_client *c, uint32_t msgid, int64_t deadline, const char *method,
                        msgpack_unpacked *u, lr_err *err) {
    for (;;) {
        msgpack_unpack_return r = msgpack_unpacker_next(&c->up, u);
        if (r == MSGPACK_UNPACK_SUCCESS) {
            int m = check_frame(c, &u->data, msgid, err);
            if (m) return m < 0 ? m : LR_OK;
            continue;
        }
        if (r == MSGPACK_UNPACK_NOMEM_ERROR) {
            c->broken = 1; /* the unpacker's state is lost with the frame */
            return lr_err_set(err, LR_ENOMEM, "%s: out of memory unpacking the answer to %s", c->addr, method);
        }
        if (r != MSGPACK_UNPACK_CONTINUE) {
            c->broken = 1;
            return lr_err_set(err, LR_EFORMAT, "%s: the answer to %s is not valid msgpack", c->addr, method);
        }
        int rc = read_some(c, deadline, method, err);
        if (rc) return rc;
    }
}

/* [code, message] (anything else is shown as JSON) into LR_ERPC with "name: message". */
static int server_error(const msgpack_object *e, int *rpc_code, lr_err *err) {
    const msgpack_object *a = e->via.array.ptr;
    if (e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 2 && is_uint(&a[0]) &&
        a[0].via.u64 <= 1000 && a[1].type == MSGPACK_OBJECT_STR) {
        int code = (int)a[0].via.u64;
        if (rpc_code) *rpc_code = code;
        return lr_err_set(err, LR_ERPC, "%s: %.*s", lr_rpc_code_name(code), (int)a[1].via.str.size,
                          a[1].via.str.ptr);
    }
    json_t *j = lr_rpc_msgpack_to_json(e);
    char *text = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    lr_err_set(err, LR_ERPC, "unknown: %s", text ? text : "(an error the client cannot show)");
    free(text);
    json_decref(j);
    return LR_ERPC;
}

/* Sends the packed request `id` and waits for its answer in u. On success *result points into
 * u (valid until u is destroyed); a server error becomes LR_ERPC. */
static int call(lr_rpc_client *c, const char *method, const req_buf *req, uint32_t id,
                msgpack_unpacked *u, const msgpack_object **result, int *rpc_code, lr_err *err) {
    if (rpc_code) *rpc_code = 0;
    if (req->failed) return lr_err_set(err, LR_ENOMEM, "%s: out of memory packing %s", c->addr, method);
    int rc = c->broken || c->fd < 0 || peer_closed(c) ? reconnect(c, err) : LR_OK;
    for (int resends = 0; !rc; resends++) {
        int64_t deadline = now_ms() + c->timeout_ms;
        rc = send_all(c, req->sb.data, req->sb.size, deadline, method, err);
        if (!rc) rc = await_answer(c, id, deadline, method, u, err);
        if (!(rc == LR_EIO && c->broken && idempotent(method) && resends < LR_RPC_CLIENT_MAX_RESENDS)) break;
        if (!(rc = reconnect(c, err))) c->retries++; /* dropped: again on a new connection */
    }
    if (rc) return rc;
    const msgpack_object *f = u->data.via.array.ptr;
    if (f[2].type != MSGPACK_OBJECT_NIL) return server_error(&f[2], rpc_code, err);
    *result = &f[3];
    return LR_OK;
}

/* ---- the methods ---------------------------------------------------------------------------- */

static int malformed(const lr_rpc_client *c, const char *what, lr_err *err) {
    return lr_err_set(err, LR_EFORMAT, "%s: recommend answered with %s", c->addr, what);
}

/* [[id, score], ...] into hits (k long). */
static int parse_hits(const lr_rpc_client *c, const msgpack_object *r, size_t k, lr_rpc_hit *hits,
                      size_t *n_hits, lr_err *err) {
    if (r->type != MSGPACK_OBJECT_ARRAY) return malformed(c, "a result that is not a list", err);
    if (r->via.array.size > k) return malformed(c, "more hits than k", err);
    for (uint32_t i = 0; i < r->via.array.size; i++) {
        const msgpack_object *h = &r->via.array.ptr[i], *p = h->via.array.ptr;
        if (h->type != MSGPACK_OBJECT_ARRAY || h->via.array.size != 2)
            return malformed(c, "a hit that is not [id, score]", err);
        if (p[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && p[0].via.u64 <= INT64_MAX)
            hits[i].id = (int64_t)p[0].via.u64;
        else if (p[0].type == MSGPACK_OBJECT_NEGATIVE_INTEGER) hits[i].id = p[0].via.i64;
        else return malformed(c, "an id that is not an int64", err);
        if (p[1].type == MSGPACK_OBJECT_FLOAT32 || p[1].type == MSGPACK_OBJECT_FLOAT64)
            hits[i].score = (float)p[1].via.f64;
        else if (p[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER) hits[i].score = (float)p[1].via.u64;
        else if (p[1].type == MSGPACK_OBJECT_NEGATIVE_INTEGER) hits[i].score = (float)p[1].via.i64;
        else return malformed(c, "a score that is not a number", err);
    }
    *n_hits = r->via.array.size;
    return LR_OK;
}

int lr_rpc_client_recommend(lr_rpc_client *c, const int64_t *history, size_t len, size_t k,
                            lr_rpc_hit *hits, size_t *n_hits, int *rpc_code, lr_err *err) {
    *n_hits = 0;
    if (rpc_code) *rpc_code = 0;
    if (len > UINT32_MAX || (len && !history) || (k && !hits))
        return lr_err_set(err, LR_EINVAL, "recommend: NULL history or hits, or a history over 2^32");
    req_buf req = {{0}, 0};
    msgpack_sbuffer_init(&req.sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &req, req_write);
    uint32_t id = start_request(c, &pk, "recommend");
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "history", 7);
    msgpack_pack_array(&pk, len);
    for (size_t i = 0; i < len; i++) msgpack_pack_int64(&pk, history[i]);
    msgpack_pack_str_with_body(&pk, "k", 1);
    msgpack_pack_uint64(&pk, k);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    const msgpack_object *result;
    int rc = call(c, "recommend", &req, id, &u, &result, rpc_code, err);
    if (!rc) rc = parse_hits(c, result, k, hits, n_hits, err);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&req.sb);
    return rc;
}

/* params_json (NULL: none) as a msgpack map into pk. */
static int pack_json_params(msgpack_packer *pk, const char *params_json, lr_err *err) {
    if (!params_json) {
        msgpack_pack_map(pk, 0); /* a failed write sticks in the req_buf */
        return LR_OK;
    }
    json_error_t je;
    json_t *p = json_loads(params_json, 0, &je);
    if (!p)
        return lr_err_set(err, LR_EINVAL, "params: %s (line %d, column %d)", je.text, je.line,
                          je.column);
    int rc = json_is_object(p) ? lr_rpc_json_pack(pk, p, err)
                               : lr_err_set(err, LR_EINVAL, "params must be a JSON object");
    json_decref(p);
    return rc;
}

int lr_rpc_client_call_json(lr_rpc_client *c, const char *method, const char *params_json,
                            char **result_json, int *rpc_code, lr_err *err) {
    *result_json = NULL;
    if (rpc_code) *rpc_code = 0;
    if (!method || !method[0]) return lr_err_set(err, LR_EINVAL, "call: no method name");
    req_buf req = {{0}, 0};
    msgpack_sbuffer_init(&req.sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &req, req_write);
    uint32_t id = start_request(c, &pk, method);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    const msgpack_object *result;
    int rc = pack_json_params(&pk, params_json, err);
    if (!rc) rc = call(c, method, &req, id, &u, &result, rpc_code, err);
    if (!rc) {
        json_t *j = lr_rpc_msgpack_to_json(result);
        *result_json = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
        json_decref(j);
        if (!*result_json)
            rc = lr_err_set(err, LR_ENOMEM, "%s: out of memory turning the answer to %s into JSON",
                            c->addr, method);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&req.sb);
    return rc;
}
