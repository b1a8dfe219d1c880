/* The msgpack-rpc server: a libevent loop that accepts connections, cuts frames, decodes
 * requests and queues them; answers are written back as the workers finish them, in any order. */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/thread.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "server_internal.h"

#define READ_CHUNK 65536
#define CONN_INFLIGHT 256 /* a connection's requests in flight before it is read no further */
#define DRAIN_SECONDS 30  /* longest graceful shutdown before the loop is left anyway */
#define ACCEPT_PAUSE_MS 100 /* after accept() failed (no descriptors left) */

lr_rpc_server_config lr_rpc_server_config_default(void) {
    lr_rpc_server_config c = {0};
    c.listen = "127.0.0.1:7070";
    c.max_frame = 8u << 20;
    c.max_history = 10000;
    c.max_k = 1000;
    c.max_batch = 256;
    c.queue_cap = 1024;
    c.deadline_ms = 1000;
    c.worker_omp_threads = 1;
    c.max_connections = 1024;
    c.max_pending_bytes = 1u << 20;
    c.frame_timeout_ms = 5000;
    c.idle_timeout_ms = 300000;
    return c;
}

static struct timeval ms_tv(unsigned ms) { return (struct timeval){ms / 1000, (ms % 1000) * 1000}; }

/* Leaves the loop once everything is answered. HTTP replies are written by evhttp after the
 * callback that sent them: a moment's grace lets the last ones reach their sockets. */
static void drained_exit(lr_rpc_server *s) {
    struct timeval grace = {0, 50000};
    event_base_loopexit(s->base, s->http ? &grace : NULL);
}

/* ---- connections -------------------------------------------------------------------------- */

static void conn_release(lr_rpc_conn *c) {
    if (--c->refs > 0) return;
    free(c->buf);
    free(c);
}

static size_t out_len(const lr_rpc_conn *c) { return evbuffer_get_length(bufferevent_get_output(c->bev)); }

static void conn_close(lr_rpc_conn *c) {
    if (!c->bev) return;
    lr_rpc_server *s = c->s;
    bufferevent_free(c->bev);
    c->bev = NULL;
    event_free(c->timer);
    c->timer = NULL;
    if (c->prev) c->prev->next = c->next;
    else s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    s->n_conns--;
    atomic_fetch_sub(&s->metrics.conns_open, 1);
    conn_release(c);
    if (s->draining && !s->conns && !s->jobs_out) drained_exit(s);
}

/* Reads no more; closes once the answers still due are written. */
static void conn_close_after_write(lr_rpc_conn *c) {
    c->closing = 1;
    bufferevent_disable(c->bev, EV_READ);
    evtimer_del(c->timer); /* what remains is writing, which the write timeout bounds */
    c->clock = LR_CLOCK_NONE;
    if (c->inflight == 0 && out_len(c) == 0) conn_close(c);
}

/* [1, msgid, [code, msg], nil] into sb (initialised here; the caller destroys it). */
static void pack_error(msgpack_sbuffer *sb, uint32_t msgid, int code, const char *msg) {
    msgpack_sbuffer_init(sb);
    lr_rpc_pack_response(sb, msgid, code, msg, NULL);
}

static void send_error(lr_rpc_conn *c, uint32_t msgid, int code, const char *msg) {
    msgpack_sbuffer sb;
    pack_error(&sb, msgid, code, msg);
    bufferevent_write(c->bev, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* A last word on a socket about to be closed, written straight to it without waiting: a
 * socket that cannot take a few dozen bytes at once loses it (the close says enough). */
static void say_on_socket(evutil_socket_t fd, int code, const char *msg) {
    msgpack_sbuffer sb;
    pack_error(&sb, 0, code, msg);
    (void)send(fd, sb.data, sb.size, MSG_NOSIGNAL | MSG_DONTWAIT);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- time limits ---------------------------------------------------------------------------
 * One timer a connection. With nothing in flight and nothing to write, it runs the frame timeout
 * while a frame has begun (so a client that sends part of a frame, or drips it a byte at a time,
 * is closed frame_timeout_ms after the frame began) and the idle timeout otherwise. Requests in
 * flight stop it: such a connection is not idle. Answers waiting to be written stop it too: the
 * bufferevent's write timeout (idle_timeout_ms without progress) watches those. */

/* fresh: something happened (a frame completed, answers went out): a running clock restarts. */
static void conn_arm(lr_rpc_conn *c, int fresh) {
    if (!c->bev) return;
    int clock = LR_CLOCK_NONE;
    if (!c->closing && !c->read_paused && c->inflight == 0 && out_len(c) == 0)
        clock = c->len ? LR_CLOCK_FRAME : LR_CLOCK_IDLE;
    if (clock == LR_CLOCK_NONE) {
        evtimer_del(c->timer);
    } else if (clock != c->clock || fresh) {
        struct timeval tv = ms_tv(clock == LR_CLOCK_FRAME ? c->s->cfg.frame_timeout_ms : c->s->cfg.idle_timeout_ms);
        evtimer_add(c->timer, &tv);
    }
    c->clock = clock;
}

static void on_conn_timer(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    lr_rpc_conn *c = arg;
    lr_rpc_server *s = c->s;
    int frame = c->clock == LR_CLOCK_FRAME;
    atomic_fetch_add(&s->metrics.timeouts[frame ? LR_RPC_TIMEOUT_FRAME : LR_RPC_TIMEOUT_IDLE], 1);
    if (frame) { /* the client may be waiting for an answer: tell it why there is none */
        char msg[128];
        snprintf(msg, sizeof msg, "no whole frame within %u ms of its first byte (--frame-timeout); closing",
                 s->cfg.frame_timeout_ms);
        say_on_socket(bufferevent_getfd(c->bev), LR_RPC_EBAD_REQUEST, msg);
    }
    conn_close(c); /* an idle connection just closes, as a pooled client expects */
}

int lr_rpc_job_decode(lr_rpc_job *j, const unsigned char *buf, size_t len, lr_rpc_fail *f) {
    /* msgpack-c's objects point into the bytes they were decoded from (str and bin are not
     * copied): the job decodes its own copy, since the connection's buffer moves on */
    size_t off = 0;
    if (msgpack_sbuffer_write(&j->params_buf, (const char *)buf, len) ||
        msgpack_unpack_next(&j->msg, j->params_buf.data, len, &off) != MSGPACK_UNPACK_SUCCESS)
        return -1;
    const msgpack_object *o = &j->msg.data;
    const msgpack_object *a = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.ptr : NULL;
    uint32_t n = a ? o->via.array.size : 0;
    int request = n == 4 && a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == 0;
    int notify = n == 3 && a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == 2;
    const msgpack_object *name = request ? &a[2] : notify ? &a[1] : NULL;
    const char *mname = NULL;
    size_t mlen = 0;
    j->kind = LR_JOB_RPC; /* what is not a well-formed notification is answered */
    j->msgid = 0;
    if (request && (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].via.u64 > UINT32_MAX))
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "msgid must be an unsigned 32-bit integer");
    if (request) j->msgid = (uint32_t)a[1].via.u64;
    if (!name || !lr_rpc_as_str(name, &mname, &mlen))
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST,
                            "expected a request [0, msgid, method, params] or a notification [2, method, params]");
    j->kind = request ? LR_JOB_RPC : LR_JOB_NOTIFY;
    j->method = lr_rpc_method_find(mname, mlen);
    j->params = request ? &a[3] : &a[2];
    if (j->method == LR_RPC_N_METHODS - 1)
        /* the name's bytes as sent (the answer escapes what is not UTF-8), at most 64 of them,
         * cut between characters so that a valid name is not shown half-escaped */
        return lr_rpc_failf(f, LR_RPC_EUNKNOWN_METHOD, "unknown method '%.*s'",
                            (int)lr_rpc_utf8_cut(mname, mlen, 64), mname);
    return LR_RPC_OK;
}

/* Decodes a frame and queues it (or answers at once). 0, or -1 when the frame is not msgpack
 * at all and the connection must close. */
static int handle_frame(lr_rpc_conn *c, const unsigned char *buf, size_t len) {
    lr_rpc_server *s = c->s;
    lr_rpc_job *j = lr_rpc_job_new(LR_JOB_RPC);
    if (!j) {
        send_error(c, 0, LR_RPC_EINTERNAL, "out of memory");
        return 0;
    }
    lr_rpc_fail f = {0, ""};
    int rc = lr_rpc_job_decode(j, buf, len, &f);
    if (rc < 0) {
        lr_rpc_job_free(j);
        return -1;
    }
    if (rc == LR_RPC_OK) {
        j->conn = c;
        if (lr_rpc_enqueue(s, j) == LR_RPC_OK) {
            c->refs++;
            c->inflight++;
            return 0;
        }
        rc = lr_rpc_failf(&f, LR_RPC_EOVERLOADED, "the server's queue is full; retry later");
        lr_rpc_metrics_observe(&s->metrics, j->method, rc, 0.0);
    } else if (rc == LR_RPC_EUNKNOWN_METHOD) {
        lr_rpc_metrics_observe(&s->metrics, j->method, rc, lr_rpc_now() - j->arrived);
    }
    lr_rpc_job_fail(j, &f); /* a response frame, or nothing for a notification */
    if (j->out.size) bufferevent_write(c->bev, j->out.data, j->out.size);
    lr_rpc_job_free(j);
    return 0;
}

/* Cuts and handles the complete frames in c->buf, reading more from the socket as it goes:
 * 1 when a frame completed, 0 when none did, -1 when the connection is closing (and may be gone). */
static int conn_frames(lr_rpc_conn *c) {
    lr_rpc_server *s = c->s;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    int progress = 0;
    for (;;) {
        /* back-pressure: leave the rest in the socket while this connection has many requests
         * in flight or many answers its client has not taken */
        if (c->inflight >= CONN_INFLIGHT || out_len(c) > s->cfg.max_pending_bytes || s->draining) {
            c->read_paused = 1;
            bufferevent_disable(c->bev, EV_READ);
            return progress;
        }
        long r = c->len ? lr_rpc_frame_scan_next(&c->scan, c->buf, c->len, s->cfg.max_frame) : LR_FRAME_INCOMPLETE;
        if (r > 0) {
            int bad = handle_frame(c, c->buf, (size_t)r);
            memmove(c->buf, c->buf + r, c->len - (size_t)r);
            c->len -= (size_t)r;
            c->scan = (lr_frame_scan){0};
            progress = 1;
            if (bad) r = LR_FRAME_BAD;
            else continue;
        }
        if (r < 0) {
            send_error(c, 0, LR_RPC_EBAD_REQUEST, lr_rpc_frame_problem(r));
            conn_close_after_write(c);
            return -1;
        }
        size_t avail = evbuffer_get_length(in);
        if (avail == 0) return progress;
        size_t want = avail < READ_CHUNK ? avail : READ_CHUNK;
        if (c->len + want > c->cap) {
            size_t cap = (c->len + want) * 2;
            unsigned char *b = realloc(c->buf, cap);
            if (!b) {
                send_error(c, 0, LR_RPC_EINTERNAL, "out of memory");
                conn_close_after_write(c);
                return -1;
            }
            c->buf = b, c->cap = cap;
        }
        c->len += (size_t)evbuffer_remove(in, c->buf + c->len, want);
    }
}

static void conn_process(lr_rpc_conn *c) {
    int progress = conn_frames(c);
    if (progress >= 0) conn_arm(c, progress);
}

/* Reads again once the requests in flight are down to half the cap and the unwritten answers
 * to half the limit; 1 when it did (and set the clock). */
static int conn_resume(lr_rpc_conn *c) {
    lr_rpc_server *s = c->s;
    if (!c->bev || !c->read_paused || c->closing || s->draining || c->inflight >= CONN_INFLIGHT / 2 ||
        out_len(c) > s->cfg.max_pending_bytes / 2)
        return 0;
    c->read_paused = 0;
    bufferevent_enable(c->bev, EV_READ);
    conn_process(c); /* frames already buffered are not announced again */
    return 1;
}

static void on_read(struct bufferevent *bev, void *arg) {
    (void)bev;
    conn_process(arg);
}

/* The output is written out (the write callback's low-water mark is 0). */
static void on_write(struct bufferevent *bev, void *arg) {
    (void)bev;
    lr_rpc_conn *c = arg;
    if (c->closing) {
        if (c->inflight == 0) conn_close(c);
    } else if (!conn_resume(c)) {
        conn_arm(c, 1);
    }
}

static void on_event(struct bufferevent *bev, short what, void *arg) {
    (void)bev;
    lr_rpc_conn *c = arg;
    if (what & BEV_EVENT_TIMEOUT) { /* answers the client has not taken for idle_timeout_ms */
        atomic_fetch_add(&c->s->metrics.timeouts[LR_RPC_TIMEOUT_WRITE], 1);
        conn_close(c);
    } else if (what & BEV_EVENT_ERROR) {
        conn_close(c);
    } else if (what & BEV_EVENT_EOF) {
        conn_close_after_write(c); /* a half-closed client still gets its answers; a half-sent
                                    * frame dies with it */
    }
}

void lr_rpc_conn_job_done(lr_rpc_conn *c, lr_rpc_job *j) {
    if (c->bev && j->kind == LR_JOB_RPC) bufferevent_write(c->bev, j->out.data, j->out.size);
    lr_rpc_job_free(j);
    c->inflight--;
    if (c->bev && c->closing && c->inflight == 0 && out_len(c) == 0)
        conn_close(c); /* nothing left to write (a notification), so no write callback will come */
    else if (c->bev && !conn_resume(c))
        conn_arm(c, 0);
    conn_release(c); /* the job's reference: c stays valid until here */
}

/* Beyond max_connections a new connection is told why and closed at once, so a client sees
 * `overloaded` (retry later, as for a full queue) instead of a connection that hangs. */
static int refuse(lr_rpc_server *s, evutil_socket_t fd) {
    if (s->n_conns < s->cfg.max_connections) return 0;
    atomic_fetch_add(&s->metrics.conns_refused, 1);
    char msg[160];
    snprintf(msg, sizeof msg, "the server has %zu connections open, its limit (--max-connections); retry later",
             s->n_conns);
    say_on_socket(fd, LR_RPC_EOVERLOADED, msg);
    evutil_closesocket(fd);
    return 1;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg) {
    (void)l, (void)sa, (void)salen;
    lr_rpc_server *s = arg;
    if (refuse(s, fd)) return;
    lr_rpc_conn *c = calloc(1, sizeof *c);
    struct bufferevent *bev = c ? bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE) : NULL;
    struct event *timer = bev ? evtimer_new(s->base, on_conn_timer, c) : NULL;
    if (!timer) {
        if (bev) bufferevent_free(bev);
        else evutil_closesocket(fd);
        free(c);
        return;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    *c = (lr_rpc_conn){.s = s, .bev = bev, .timer = timer, .refs = 1, .next = s->conns};
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->n_conns++;
    atomic_fetch_add(&s->metrics.connections, 1);
    atomic_fetch_add(&s->metrics.conns_open, 1);
    struct timeval write_tv = ms_tv(s->cfg.idle_timeout_ms);
    bufferevent_set_timeouts(bev, NULL, &write_tv);
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    bufferevent_enable(bev, EV_READ);
    conn_arm(c, 1);
}

/* accept() failed for a reason other than a passing one, most likely no file descriptors
 * left: the listener would stay readable and the loop spin on it, so accepting pauses a
 * moment; the connections already open are served meanwhile. */
static void on_accept_error(struct evconnlistener *l, void *arg) {
    lr_rpc_server *s = arg;
    atomic_fetch_add(&s->metrics.accept_errors, 1);
    evconnlistener_disable(l);
    struct timeval tv = ms_tv(ACCEPT_PAUSE_MS);
    event_add(s->accept_retry, &tv);
}

static void on_accept_retry(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    lr_rpc_server *s = arg;
    if (!s->draining) evconnlistener_enable(s->listener);
}

/* ---- shutdown ----------------------------------------------------------------------------- */

void lr_rpc_check_drained(lr_rpc_server *s) {
    if (!s->draining || s->jobs_out) return;
    /* everything answered: close each connection once its answers are written (conn_close
     * unlinks only the connection it closes, so `next` stays valid) */
    for (lr_rpc_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        conn_close_after_write(c);
    }
    if (!s->conns) drained_exit(s);
}

static void begin_drain(lr_rpc_server *s) {
    if (s->draining) return;
    s->draining = 1;
    if (s->listener) evconnlistener_disable(s->listener);
    if (s->http_sock) {
        evhttp_del_accept_socket(s->http, s->http_sock);
        s->http_sock = NULL;
    }
    for (lr_rpc_conn *c = s->conns; c; c = c->next) bufferevent_disable(c->bev, EV_READ);
    struct timeval tv = {DRAIN_SECONDS, 0};
    event_add(s->drain_timer, &tv);
    lr_rpc_check_drained(s);
}

static void on_leave_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    begin_drain(arg);
}

/* Not ready at once (/healthz 503); after drain_delay the listeners close and what is in flight
 * is answered. */
static void on_stop(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    lr_rpc_server *s = arg;
    if (atomic_load(&s->leaving)) { /* a second stop does not wait */
        begin_drain(s);
        return;
    }
    atomic_store(&s->leaving, 1);
    if (!s->cfg.drain_delay_ms) {
        begin_drain(s);
        return;
    }
    struct timeval tv = ms_tv(s->cfg.drain_delay_ms);
    event_add(s->leave_timer, &tv);
}

static void on_drain_timeout(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    lr_rpc_server *s = arg;
    event_base_loopexit(s->base, NULL);
}

void lr_rpc_server_stop(lr_rpc_server *s) { event_active(s->stop_ev, EV_READ, 0); }

/* ---- setup -------------------------------------------------------------------------------- */

int lr_rpc_bound_port(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len)) return -1;
    return ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                    : ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static int setup(lr_rpc_server *s, lr_err *err) {
    if (evthread_use_pthreads()) return lr_err_set(err, LR_EINVAL, "libevent has no pthreads support");
    if (!(s->base = event_base_new())) return lr_err_set(err, LR_ENOMEM, "cannot create the event loop");
    s->done_ev = event_new(s->base, -1, 0, lr_rpc_on_done, s);
    s->stop_ev = event_new(s->base, -1, 0, on_stop, s);
    s->drain_timer = evtimer_new(s->base, on_drain_timeout, s);
    s->leave_timer = evtimer_new(s->base, on_leave_timeout, s);
    s->accept_retry = evtimer_new(s->base, on_accept_retry, s);
    if (!s->done_ev || !s->stop_ev || !s->drain_timer || !s->leave_timer || !s->accept_retry)
        return lr_err_set(err, LR_ENOMEM, "out of memory");
    struct sockaddr_storage ss;
    unsigned len = 0;
    int rc = lr_rpc_listen_addr(s->listen, &ss, &len, err);
    if (rc) return rc;
    s->listener = evconnlistener_new_bind(s->base, on_accept, s, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 128,
                                          (struct sockaddr *)&ss, (int)len);
    if (!s->listener) return lr_err_set(err, LR_EIO, "cannot listen on %s: %s", s->listen, strerror(errno));
    evconnlistener_set_error_cb(s->listener, on_accept_error);
    s->port = lr_rpc_bound_port(evconnlistener_get_fd(s->listener));
    if (s->http_addr && (rc = lr_rpc_http_start(s, err))) return rc;
    return lr_rpc_workers_start(s, err);
}

int lr_rpc_server_new(const lr_rpc_server_config *cfg, lr_rpc_engine *engine, lr_rpc_server **out, lr_err *err) {
    *out = NULL;
    if (!cfg->listen || !cfg->max_frame || !cfg->max_history || !cfg->max_k || !cfg->max_batch || !cfg->queue_cap ||
        !cfg->max_connections || !cfg->max_pending_bytes || !cfg->frame_timeout_ms || !cfg->idle_timeout_ms)
        return lr_err_set(err, LR_EINVAL, "server limits must be at least 1");
    lr_rpc_server *s = calloc(1, sizeof *s);
    if (!s) return lr_err_set(err, LR_ENOMEM, "out of memory");
    s->cfg = *cfg;
    s->engine = engine;
    s->metrics.started = lr_rpc_now();
    if (!s->cfg.threads) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        s->cfg.threads = n > 0 ? (size_t)n : 1;
    }
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->qcond, NULL);
    pthread_mutex_init(&s->dlock, NULL);
    s->listen = strdup(cfg->listen);
    s->http_addr = cfg->http ? strdup(cfg->http) : NULL;
    s->admin_token = cfg->admin_token ? strdup(cfg->admin_token) : NULL;
    s->cfg.listen = s->listen, s->cfg.http = s->http_addr, s->cfg.admin_token = s->admin_token;
    int rc = !s->listen || (cfg->http && !s->http_addr) || (cfg->admin_token && !s->admin_token)
                 ? lr_err_set(err, LR_ENOMEM, "out of memory") : setup(s, err);
    if (rc) {
        lr_rpc_server_free(s);
        return rc;
    }
    *out = s;
    return LR_OK;
}

int lr_rpc_server_port(const lr_rpc_server *s) { return s->port; }
int lr_rpc_server_http_port(const lr_rpc_server *s) { return s->http_port; }

int lr_rpc_server_run(lr_rpc_server *s, int handle_signals, lr_err *err) {
    if (handle_signals) {
        s->sig_term = evsignal_new(s->base, SIGTERM, on_stop, s);
        s->sig_int = evsignal_new(s->base, SIGINT, on_stop, s);
        if (!s->sig_term || !s->sig_int || event_add(s->sig_term, NULL) || event_add(s->sig_int, NULL))
            return lr_err_set(err, LR_EIO, "cannot watch for SIGTERM and SIGINT");
    }
    if (event_base_dispatch(s->base) < 0) return lr_err_set(err, LR_EIO, "the event loop failed");
    return LR_OK;
}

void lr_rpc_server_free(lr_rpc_server *s) {
    if (!s) return;
    lr_rpc_workers_stop(s);
    while (s->conns) { /* connections still open (a drain that timed out): jobs are gone */
        lr_rpc_conn *c = s->conns;
        c->refs = 1;
        conn_close(c);
    }
    for (lr_rpc_job *j = s->qhead, *next; j; j = next) {
        next = j->next;
        lr_rpc_job_free(j);
    }
    if (s->http) evhttp_free(s->http);
    if (s->listener) evconnlistener_free(s->listener);
    if (s->done_ev) event_free(s->done_ev);
    if (s->stop_ev) event_free(s->stop_ev);
    if (s->drain_timer) event_free(s->drain_timer);
    if (s->leave_timer) event_free(s->leave_timer);
    if (s->accept_retry) event_free(s->accept_retry);
    if (s->sig_term) event_free(s->sig_term);
    if (s->sig_int) event_free(s->sig_int);
    if (s->base) event_base_free(s->base);
    pthread_mutex_destroy(&s->qlock);
    pthread_cond_destroy(&s->qcond);
    pthread_mutex_destroy(&s->dlock);
    free(s->listen);
    free(s->http_addr);
    free(s->admin_token);
    free(s);
}
