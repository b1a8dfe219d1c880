/* The bounded work queue and the worker threads: the event loop queues decoded requests, workers
 * run them (towers and search) and hand the finished jobs back through an event. */
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json_bridge.h"
#include "lr_towers.h"
#include "server_internal.h"

double lr_rpc_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The clock the deadline is measured on. Both readers (enqueue, and a worker after taking a job)
 * hold or have just held qlock, under which lr_rpc_queue_set_clock wrote the hook. */
static double queue_now(const lr_rpc_server *s) { return s->clock ? s->clock(s->clock_arg) : lr_rpc_now(); }

void lr_rpc_queue_set_clock(lr_rpc_server *s, lr_rpc_clock_fn clock, void *arg) {
    pthread_mutex_lock(&s->qlock);
    s->clock = clock;
    s->clock_arg = arg;
    pthread_mutex_unlock(&s->qlock);
}

void lr_rpc_workers_hold(lr_rpc_server *s) {
    pthread_mutex_lock(&s->qlock);
    s->held = 1;
    s->passes = 0;
    pthread_mutex_unlock(&s->qlock);
}

void lr_rpc_workers_release(lr_rpc_server *s, size_t passes) {
    pthread_mutex_lock(&s->qlock);
    if (passes == LR_RPC_RELEASE_ALL) s->held = 0, s->passes = 0;
    else s->passes += passes;
    pthread_cond_broadcast(&s->qcond); /* any worker may take a pass */
    pthread_mutex_unlock(&s->qlock);
}

lr_rpc_job *lr_rpc_job_new(lr_rpc_job_kind kind) {
    lr_rpc_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->kind = kind;
    msgpack_unpacked_init(&j->msg);
    msgpack_sbuffer_init(&j->params_buf);
    msgpack_sbuffer_init(&j->out);
    j->arrived = lr_rpc_now();
    return j;
}

void lr_rpc_job_free(lr_rpc_job *j) {
    if (!j) return;
    msgpack_unpacked_destroy(&j->msg);
    msgpack_sbuffer_destroy(&j->params_buf);
    msgpack_sbuffer_destroy(&j->out);
    free(j);
}

int lr_rpc_enqueue(lr_rpc_server *s, lr_rpc_job *j) {
    /* a bound on memory as well as on count: many large frames decode into many large trees */
    if (s->bytes_out + j->params_buf.size > LR_RPC_QUEUED_FRAMES * s->cfg.max_frame && s->jobs_out)
        return LR_RPC_EOVERLOADED;
    pthread_mutex_lock(&s->qlock);
    if (s->qlen >= s->cfg.queue_cap) {
        pthread_mutex_unlock(&s->qlock);
        return LR_RPC_EOVERLOADED;
    }
    j->queued = queue_now(s);
    j->next = NULL;
    if (s->qtail) s->qtail->next = j;
    else s->qhead = j;
    s->qtail = j;
    s->qlen++;
    atomic_fetch_add(&s->metrics.queue_depth, 1);
    pthread_cond_signal(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
    s->jobs_out++;
    s->bytes_out += j->params_buf.size;
    return LR_RPC_OK;
}

void lr_rpc_pack_response(msgpack_sbuffer *out, uint32_t msgid, int code, const char *msg,
                          const msgpack_sbuffer *result) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_uint32(&pk, msgid);
    if (code) {
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, code);
        lr_rpc_pack_str(&pk, msg, strlen(msg)); /* a message may quote what the client sent */
        msgpack_pack_nil(&pk);
    } else {
        msgpack_pack_nil(&pk);
        msgpack_sbuffer_write(out, result->data, result->size);
    }
}

static int http_status_of(int code) {
    switch (code) {
    case LR_RPC_OK: return 200;
    case LR_RPC_EUNAUTHORIZED: return 401;
    case LR_RPC_ENOT_FOUND: return 404;
    case LR_RPC_ETOO_LARGE: return 413;
    case LR_RPC_EOVERLOADED: case LR_RPC_EDEADLINE: return 503;
    case LR_RPC_EINTERNAL: return 500;
    default: return 400;
    }
}

/* {"results": ...} or {"error": {"code", "name", "message"}} for curl users. */
static void json_response(lr_rpc_job *j, int code, const lr_rpc_fail *f, const msgpack_sbuffer *result) {
    json_t *o = json_object();
    if (!code) {
        msgpack_unpacked r;
        msgpack_unpacked_init(&r);
        size_t off = 0;
        json_t *v = msgpack_unpack_next(&r, result->data, result->size, &off) == MSGPACK_UNPACK_SUCCESS
                        ? lr_rpc_msgpack_to_json(&r.data) : NULL;
        msgpack_unpacked_destroy(&r);
        if (v) json_object_set_new(o, "results", v);
        else code = LR_RPC_EINTERNAL;
    }
    if (code)
        json_object_set_new(o, "error", lr_rpc_json_error(code, code == LR_RPC_EINTERNAL && !f->msg[0]
                                                                    ? "cannot render the result as JSON" : f->msg));
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9)) /* float32 exactly */;
    if (text) {
        msgpack_sbuffer_write(&j->out, text, strlen(text));
        msgpack_sbuffer_write(&j->out, "\n", 1);
    }
    free(text);
    json_decref(o);
    j->http_status = http_status_of(code);
}

/* The answer a job's kind gets: a response frame, a JSON body and status, or none. */
static void answer(lr_rpc_job *j, int code, const lr_rpc_fail *f, const msgpack_sbuffer *result) {
    if (j->kind == LR_JOB_RPC) lr_rpc_pack_response(&j->out, j->msgid, code, f->msg, result);
    else if (j->kind == LR_JOB_HTTP) json_response(j, code, f, result);
}

int lr_rpc_job_run(lr_rpc_ctx *ctx, lr_rpc_job *j) {
    lr_rpc_fail f = {0, ""};
    msgpack_sbuffer result;
    msgpack_sbuffer_init(&result);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &result, msgpack_sbuffer_write);
    int code = lr_rpc_method_run(ctx, j->method, j->params, &pk, &f);
    answer(j, code, &f, &result);
    msgpack_sbuffer_destroy(&result);
    return code;
}

void lr_rpc_job_fail(lr_rpc_job *j, const lr_rpc_fail *f) {
    msgpack_sbuffer none;
    msgpack_sbuffer_init(&none);
    answer(j, f->code, f, &none);
}

static void run_job(lr_rpc_server *s, lr_rpc_ctx *ctx, lr_rpc_job *j) {
    lr_rpc_fail f = {0, ""};
    double waited = queue_now(s) - j->queued;
    int code;
    if (waited * 1000.0 > s->cfg.deadline_ms) {
        code = lr_rpc_failf(&f, LR_RPC_EDEADLINE, "waited %.0f ms in the queue, past the %u ms deadline",
                            waited * 1000.0, s->cfg.deadline_ms);
        lr_rpc_job_fail(j, &f);
    } else {
        code = lr_rpc_job_run(ctx, j);
    }
    lr_rpc_metrics_observe(&s->metrics, j->method, code, lr_rpc_now() - j->arrived);
}

typedef struct {
    lr_rpc_server *s;
    size_t index;
} worker_arg;

/* The next job for a worker, waiting for one and, while the workers are held, for a pass; NULL
 * once the workers stop with nothing left. A stopping server runs what is left whatever the
 * gate says, so that a test that fails while holding the workers still shuts down. */
static lr_rpc_job *take_job(lr_rpc_server *s) {
    pthread_mutex_lock(&s->qlock);
    while (!s->workers_stop && (!s->qhead || (s->held && !s->passes))) pthread_cond_wait(&s->qcond, &s->qlock);
    lr_rpc_job *j = s->qhead;
    if (j) {
        if (s->held && s->passes) s->passes--;
        s->qhead = j->next;
        if (!s->qhead) s->qtail = NULL;
        s->qlen--;
        atomic_fetch_sub(&s->metrics.queue_depth, 1);
    }
    pthread_mutex_unlock(&s->qlock);
    return j;
}

static void *worker_main(void *arg) {
    worker_arg *w = arg;
    lr_rpc_server *s = w->s;
    lr_rpc_ctx ctx = {s->engine, s->ws[w->index], &s->cfg, &s->metrics, &s->leaving};
    free(w);
    /* the worker's own OpenMP setting (a thread's, not the process's): by default no OpenMP team
     * per request, since the workers are the parallelism */
    omp_set_num_threads((int)(s->cfg.worker_omp_threads ? s->cfg.worker_omp_threads : 1));
    for (;;) {
        lr_rpc_job *j = take_job(s);
        if (!j) return NULL; /* stopping, and nothing left to do */
        run_job(s, &ctx, j);
        pthread_mutex_lock(&s->dlock);
        j->next = s->dhead;
        s->dhead = j;
        pthread_mutex_unlock(&s->dlock);
        event_active(s->done_ev, EV_READ, 0);
    }
}

int lr_rpc_workers_start(lr_rpc_server *s, lr_err *err) {
    size_t n = s->cfg.threads;
    s->workers = calloc(n, sizeof *s->workers);
    s->ws = calloc(n, sizeof *s->ws);
    if (!s->workers || !s->ws) return lr_err_set(err, LR_ENOMEM, "out of memory for %zu workers", n);
    for (size_t i = 0; i < n; i++) {
        int rc = lr_towers_ws_new(&s->ws[i], err);
        if (rc) return rc;
        worker_arg *w = malloc(sizeof *w);
        if (!w) return lr_err_set(err, LR_ENOMEM, "out of memory");
        *w = (worker_arg){s, i};
        if (pthread_create(&s->workers[i], NULL, worker_main, w)) {
            free(w);
            return lr_err_set(err, LR_ENOMEM, "cannot start worker thread %zu", i);
        }
        s->n_workers++;
    }
    return LR_OK;
}

void lr_rpc_workers_stop(lr_rpc_server *s) {
    pthread_mutex_lock(&s->qlock);
    s->workers_stop = 1;
    pthread_cond_broadcast(&s->qcond);
    pthread_mutex_unlock(&s->qlock);
    for (size_t i = 0; i < s->n_workers; i++) pthread_join(s->workers[i], NULL);
    s->n_workers = 0;
    for (size_t i = 0; s->ws && i < s->cfg.threads; i++) lr_towers_ws_free(s->ws[i]);
    free(s->ws);
    free(s->workers);
    s->ws = NULL;
    s->workers = NULL;
    /* jobs that finished after the loop stopped */
    for (lr_rpc_job *j = s->dhead, *next; j; j = next) {
        next = j->next;
        lr_rpc_job_free(j);
    }
    s->dhead = NULL;
}

lr_rpc_job *lr_rpc_done_take(lr_rpc_server *s) {
    pthread_mutex_lock(&s->dlock);
    lr_rpc_job *list = s->dhead;
    s->dhead = NULL;
    pthread_mutex_unlock(&s->dlock);
    return list;
}

void lr_rpc_job_settle(lr_rpc_server *s, lr_rpc_job *j) {
    s->jobs_out--;
    s->bytes_out -= j->params_buf.size;
}

void lr_rpc_on_done(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    lr_rpc_server *s = arg;
    lr_rpc_job *list = lr_rpc_done_take(s);
    while (list) {
        lr_rpc_job *j = list;
        list = j->next;
        /* one job at a time: answering one may read more frames, which meet the bounds as
         * they stand with the later jobs of this batch still counted */
        lr_rpc_job_settle(s, j);
        if (j->kind == LR_JOB_HTTP) lr_rpc_http_finish(s, j);
        else lr_rpc_conn_job_done(j->conn, j);
    }
    lr_rpc_check_drained(s);
}
