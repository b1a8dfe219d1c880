/* Inside the server: connections, jobs and the work queue, shared by server.c, queue.c and http.c.
 *
 * Threads: one event-loop thread owns every libevent object, connection and reference count;
 * workers only pop jobs, run a method and push the finished job back, waking the loop through an
 * event. So a connection is never touched off the loop thread. */
#ifndef LR_RPC_SERVER_INTERNAL_H
#define LR_RPC_SERVER_INTERNAL_H

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <pthread.h>

#include "rpc_internal.h"

typedef struct lr_rpc_conn lr_rpc_conn;

/* What a connection's timer is timing: nothing (requests in flight, or answers being written,
 * which the write timeout watches), a frame begun, or a connection with nothing to do. */
enum { LR_CLOCK_NONE, LR_CLOCK_FRAME, LR_CLOCK_IDLE };

struct lr_rpc_conn {
    lr_rpc_server *s;
    struct bufferevent *bev; /* NULL once closed */
    unsigned char *buf;      /* bytes read but not yet framed */
    size_t len, cap;
    lr_frame_scan scan;
    int refs;        /* 1 while open, plus one per job that still has to come back */
    int closing;     /* close once the output is written */
    int read_paused; /* too many requests in flight, or too many answers unwritten */
    size_t inflight;
    struct event *timer; /* the frame or idle timeout, whichever `clock` says runs */
    int clock;           /* LR_CLOCK_* */
    lr_rpc_conn *prev, *next; /* the open connections */
};

/* A clock for the queue: seconds on any scale that never goes back. */
typedef double (*lr_rpc_clock_fn)(void *arg);

typedef enum { LR_JOB_RPC, LR_JOB_NOTIFY, LR_JOB_HTTP } lr_rpc_job_kind;

typedef struct lr_rpc_job lr_rpc_job;

struct lr_rpc_job {
    lr_rpc_job *next;
    lr_rpc_job_kind kind;
    uint32_t msgid;
    int method;
    msgpack_unpacked msg;        /* owns the decoded request */
    msgpack_sbuffer params_buf;  /* the bytes msg was decoded from (and points into) */
    const msgpack_object *params;
    lr_rpc_conn *conn;           /* RPC */
    struct evhttp_request *req;  /* HTTP; NULL once its connection closed */
    double arrived;              /* lr_rpc_now() when made: the latency the metrics report */
    double queued;               /* the queue's clock when queued: the deadline counts from here */
    msgpack_sbuffer out;         /* the response frame, or for HTTP the JSON body */
    int http_status;
};

struct lr_rpc_server {
    lr_rpc_server_config cfg;
    char *listen, *http_addr, *admin_token; /* copies the config points to */
    lr_rpc_engine *engine;
    struct event_base *base;
    struct evconnlistener *listener;
    struct evhttp *http;
    struct evhttp_bound_socket *http_sock;
    struct event *done_ev, *stop_ev, *sig_term, *sig_int, *drain_timer, *accept_retry, *leave_timer;
    int port, http_port;
    /* the work queue */
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    lr_rpc_job *qhead, *qtail;
    size_t qlen;
    int workers_stop;
    /* Hooks that let a test drive the queue (lr_rpc_queue_set_clock, lr_rpc_workers_hold); all
     * zero, as lr_rpc_server_new leaves them, is production: lr_rpc_now and no gate. Guarded by
     * qlock. */
    lr_rpc_clock_fn clock; /* NULL: lr_rpc_now */
    void *clock_arg;
    int held;      /* workers take a job only against a pass */
    size_t passes; /* jobs the held workers may still take */
    pthread_t *workers;
    size_t n_workers;
    lr_towers_ws **ws;
    /* finished jobs on their way back to the loop */
    pthread_mutex_t dlock;
    lr_rpc_job *dhead;
    /* loop thread only */
    size_t jobs_out;  /* queued or running */
    size_t bytes_out; /* request bytes those jobs hold: decoded, up to 24 times as much */
    lr_rpc_conn *conns;
    size_t n_conns;
    atomic_int leaving; /* SIGTERM came: not ready (/healthz, ping); draining follows after drain_delay */
    int draining;
    lr_rpc_metrics metrics;
};

lr_rpc_job *lr_rpc_job_new(lr_rpc_job_kind kind);
void lr_rpc_job_free(lr_rpc_job *j);

/* One request's way through the server, without sockets or threads: the loop decodes a frame
 * (lr_rpc_job_decode) or an HTTP body (lr_rpc_http_job_decode) into a job, a worker runs it
 * (lr_rpc_job_run), and what cannot run is answered with lr_rpc_job_fail. The fuzz harnesses
 * (tests/fuzz/fuzz_rpc.c, fuzz_http.c) call these directly, so they drive the server's code. */

/* A frame (buf[0 .. len), one msgpack object as lr_rpc_frame_scan_next cut it) into j, which
 * keeps its own copy of the bytes: kind (a request, else a notification), msgid, method and
 * params. Returns LR_RPC_OK when j is to run; -1 when the bytes are not msgpack (the server
 * answers with msgid 0 and closes the connection); else a wire code with f filled, to answer at
 * once with lr_rpc_job_fail (which sends nothing for a notification: j->kind says which). */
int lr_rpc_job_decode(lr_rpc_job *j, const unsigned char *buf, size_t len, lr_rpc_fail *f);
/* The JSON body of POST /recommend (body[0 .. len)) into j, an LR_JOB_HTTP job: its params,
 * packed from the JSON object, and the method. LR_RPC_OK, or a wire code with f filled
 * (LR_RPC_ETOO_LARGE above max_frame bytes, else LR_RPC_EBAD_REQUEST). */
int lr_rpc_http_job_decode(lr_rpc_job *j, const char *body, size_t len, size_t max_frame, lr_rpc_fail *f);
/* Runs j's method with ctx and appends its answer to j->out: the response frame of a request,
 * the JSON body (and j->http_status) of an HTTP job, nothing for a notification. Returns the
 * wire code (0: ok). */
int lr_rpc_job_run(lr_rpc_ctx *ctx, lr_rpc_job *j);
/* Appends the answer to a job that does not run (f->code != 0) to j->out, as lr_rpc_job_run. */
void lr_rpc_job_fail(lr_rpc_job *j, const lr_rpc_fail *f);
/* A response frame [1, msgid, error, result] into out: error [code, msg] (msg escaped where it
 * is not UTF-8) and result nil when code != 0, else error nil and result the packed bytes of
 * `result` (not read when code != 0, so NULL may be passed). */
void lr_rpc_pack_response(msgpack_sbuffer *out, uint32_t msgid, int code, const char *msg,
                          const msgpack_sbuffer *result);
/* Queues a job for the workers (loop thread) and stamps j->queued; LR_RPC_EOVERLOADED when
 * queue_cap jobs are waiting, or when the requests waiting and running would hold more than
 * QUEUED_FRAMES frames' worth of bytes (one job alone is always let in). On LR_RPC_EOVERLOADED
 * the job stays the caller's. A job that waited more than deadline_ms by the queue's clock when
 * a worker takes it is answered LR_RPC_EDEADLINE without being run. */
#define LR_RPC_QUEUED_FRAMES 8
int lr_rpc_enqueue(lr_rpc_server *s, lr_rpc_job *j);
int lr_rpc_workers_start(lr_rpc_server *s, lr_err *err);
/* Runs what is still queued (whatever the gate below says), then joins the workers. */
void lr_rpc_workers_stop(lr_rpc_server *s);
/* The jobs finished since the last call (loop thread), linked through next, newest first. For
 * each, the caller calls lr_rpc_job_settle (after which what the job held no longer counts
 * against the queue's bounds), then answers and frees it. */
lr_rpc_job *lr_rpc_done_take(lr_rpc_server *s);
void lr_rpc_job_settle(lr_rpc_server *s, lr_rpc_job *j);
/* The loop's side of a finished job (done_ev's callback). */
void lr_rpc_on_done(evutil_socket_t fd, short what, void *arg);

/* For tests, which need the queue's outcomes not to depend on scheduling. The clock replaces
 * lr_rpc_now for the deadline (set it before any job is queued; arg is borrowed). While held,
 * the workers take no new job (one already running finishes); each pass lets one more through,
 * LR_RPC_RELEASE_ALL opens the gate again. Safe from any thread. */
#define LR_RPC_RELEASE_ALL ((size_t)-1)
void lr_rpc_queue_set_clock(lr_rpc_server *s, lr_rpc_clock_fn clock, void *arg);
void lr_rpc_workers_hold(lr_rpc_server *s);
void lr_rpc_workers_release(lr_rpc_server *s, size_t passes);

/* http.c */
int lr_rpc_http_start(lr_rpc_server *s, lr_err *err);
void lr_rpc_http_finish(lr_rpc_server *s, lr_rpc_job *j); /* sends the reply, frees the job */
/* server.c */
int lr_rpc_bound_port(int fd); /* the port a bound socket got, -1 on error */
void lr_rpc_conn_job_done(lr_rpc_conn *c, lr_rpc_job *j); /* writes the reply, frees the job */
void lr_rpc_check_drained(lr_rpc_server *s);

#endif
