/* Tests of rpc/queue.c through its internal header: the bounded queue and its worker, without
 * sockets. The test thread plays the event loop (it queues ping jobs and takes the finished ones
 * back through done_ev), the worker is held behind a gate that the test opens a job at a time,
 * and the deadline is read on a clock that the test advances by hand: every count below is
 * exact, however loaded the machine. */
#include <event2/event.h>
#include <event2/thread.h>
#include <stdatomic.h>

#include "lr_test.h"
#include "server_internal.h"

#define MAX_JOBS 64
#define T0_MS 1000000 /* the test clock's start: not 0, so a job stamped with 0 would show */

typedef struct {
    lr_rpc_server *s;
    struct event_base *base;
    struct event *guard;
    atomic_llong now_ms;  /* the test's clock */
    int code[MAX_JOBS];   /* each msgid's answer: an LR_RPC_* code, -1 while none came */
    int result_nil[MAX_JOBS];
    char msg[MAX_JOBS][128];
    size_t answered;
    int timed_out, bad_answer;
} rig;

static double rig_clock(void *arg) {
    rig *r = arg;
    return (double)atomic_load(&r->now_ms) / 1000.0;
}

/* Reads one answer, [1, msgid, nil or [code, message], result], into the rig. */
static void record(rig *r, const lr_rpc_job *j) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    const msgpack_object *a = NULL;
    if (msgpack_unpack_next(&u, j->out.data, j->out.size, &off) == MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 4)
        a = u.data.via.array.ptr;
    if (!a || a[1].via.u64 >= MAX_JOBS || r->code[a[1].via.u64] != -1) {
        r->bad_answer = 1; /* unreadable, or a msgid answered twice */
    } else {
        size_t id = a[1].via.u64;
        r->result_nil[id] = a[3].type == MSGPACK_OBJECT_NIL;
        if (a[2].type == MSGPACK_OBJECT_NIL) {
            r->code[id] = LR_RPC_OK;
        } else {
            const msgpack_object *e = a[2].via.array.ptr;
            r->code[id] = (int)e[0].via.i64;
            snprintf(r->msg[id], sizeof r->msg[id], "%.*s", (int)e[1].via.str.size, e[1].via.str.ptr);
        }
    }
    msgpack_unpacked_destroy(&u);
}

/* done_ev's callback: what lr_rpc_on_done does, with the answer kept instead of sent. */
static void on_done(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    rig *r = arg;
    for (lr_rpc_job *j = lr_rpc_done_take(r->s), *next; j; j = next) {
        next = j->next;
        lr_rpc_job_settle(r->s, j);
        record(r, j);
        r->answered++;
        lr_rpc_job_free(j);
    }
}

static void on_guard(evutil_socket_t fd, short what, void *arg) {
    (void)fd, (void)what;
    ((rig *)arg)->timed_out = 1;
}

/* The queue part of a server, set up as lr_rpc_server_new does minus the sockets: one worker,
 * held before it starts; the test's clock at T0_MS unless real_clock. */
static int rig_up(rig *r, size_t queue_cap, unsigned deadline_ms, size_t max_frame, int real_clock, lr_err *err) {
    memset(r, 0, sizeof *r);
    for (int i = 0; i < MAX_JOBS; i++) r->code[i] = -1;
    atomic_store(&r->now_ms, T0_MS);
    if (evthread_use_pthreads()) return lr_err_set(err, LR_EINVAL, "libevent has no pthreads support");
    lr_rpc_server *s = r->s = calloc(1, sizeof *s);
    if (!s) return lr_err_set(err, LR_ENOMEM, "out of memory");
    s->cfg = lr_rpc_server_config_default();
    s->cfg.threads = 1, s->cfg.queue_cap = queue_cap, s->cfg.deadline_ms = deadline_ms, s->cfg.max_frame = max_frame;
    pthread_mutex_init(&s->qlock, NULL);
    pthread_cond_init(&s->qcond, NULL);
    pthread_mutex_init(&s->dlock, NULL);
    r->base = event_base_new();
    s->done_ev = r->base ? event_new(r->base, -1, 0, on_done, r) : NULL;
    r->guard = r->base ? evtimer_new(r->base, on_guard, r) : NULL;
    if (!s->done_ev || !r->guard) return lr_err_set(err, LR_ENOMEM, "cannot make the test's event loop");
    if (!real_clock) lr_rpc_queue_set_clock(s, rig_clock, r);
    lr_rpc_workers_hold(s);
    return lr_rpc_workers_start(s, err);
}

static void rig_down(rig *r) {
    lr_rpc_server *s = r->s;
    if (!s) return;
    lr_rpc_workers_release(s, LR_RPC_RELEASE_ALL);
    lr_rpc_workers_stop(s); /* runs what is queued; frees the jobs finished but not taken back */
    for (lr_rpc_job *j = s->qhead, *next; j; j = next) { /* only if no worker ever started */
        next = j->next;
        lr_rpc_job_free(j);
    }
    if (s->done_ev) event_free(s->done_ev);
    if (r->guard) event_free(r->guard);
    if (r->base) event_base_free(r->base);
    pthread_mutex_destroy(&s->qlock);
    pthread_cond_destroy(&s->qcond);
    pthread_mutex_destroy(&s->dlock);
    free(s);
}

/* Queues a ping whose request takes `bytes` bytes (a nil params, padded), as the loop does with
 * a frame; the job is freed here when refused. Returns what lr_rpc_enqueue said. */
static int push(rig *r, uint32_t msgid, size_t bytes, lr_rpc_job **queued) {
    lr_rpc_job *j = lr_rpc_job_new(LR_JOB_RPC);
    if (!j) return -1;
    j->msgid = msgid;
    j->method = lr_rpc_method_find("ping", 4);
    static const char nil = (char)0xc0, pad[256] = {0};
    msgpack_sbuffer_write(&j->params_buf, &nil, 1);
    for (size_t left = bytes - 1; left; left -= left < sizeof pad ? left : sizeof pad)
        msgpack_sbuffer_write(&j->params_buf, pad, left < sizeof pad ? left : sizeof pad);
    size_t off = 0;
    msgpack_unpack_next(&j->msg, j->params_buf.data, 1, &off);
    j->params = &j->msg.data;
    int rc = lr_rpc_enqueue(r->s, j);
    if (rc) lr_rpc_job_free(j);
    else if (queued) *queued = j;
    return rc;
}

/* Lets n more jobs through the gate and runs the loop until `total` answers have come back in
 * all; 0 if they did not within 10 s (a stuck worker fails the test instead of hanging it). */
static int release_and_wait(rig *r, size_t n, size_t total) {
    lr_rpc_workers_release(r->s, n);
    struct timeval tv = {10, 0};
    evtimer_add(r->guard, &tv);
    while (r->answered < total && !r->timed_out) event_base_loop(r->base, EVLOOP_ONCE);
    evtimer_del(r->guard);
    return r->answered == total && !r->bad_answer;
}

static size_t waiting(rig *r) {
    pthread_mutex_lock(&r->s->qlock);
    size_t n = r->s->qlen;
    pthread_mutex_unlock(&r->s->qlock);
    return n;
}

/* ---- the cases ---------------------------------------------------------------------------- */

/* With the worker held, exactly queue_cap jobs wait and every later one is refused at once;
 * released, the worker runs the waiting ones, and the queue takes as many again. */
LR_TEST(a_held_queue_takes_queue_cap_jobs_and_refuses_the_rest_at_once) {
    rig r;
    lr_err err = {0};
    CHECK_OK(rig_up(&r, 4, 1000, 1 << 20, 0, &err), err);
    int accepted = 0, overloaded = 0;
    for (uint32_t i = 0; i < 10; i++) {
        int rc = push(&r, i, 16, NULL);
        CHECK_EQ(rc, i < 4 ? LR_RPC_OK : LR_RPC_EOVERLOADED); /* the first four, whatever the order */
        accepted += rc == LR_RPC_OK, overloaded += rc == LR_RPC_EOVERLOADED;
    }
    CHECK_EQ(accepted, 4);
    CHECK_EQ(overloaded, 6);
    CHECK_EQ(waiting(&r), 4);
    CHECK_EQ(atomic_load(&r.s->metrics.queue_depth), 4);
    CHECK_EQ(atomic_load(&r.s->metrics.requests[lr_rpc_method_find("ping", 4)][LR_RPC_OK]), 0); /* none ran */
    CHECK(release_and_wait(&r, LR_RPC_RELEASE_ALL, 4));
    for (int i = 0; i < 4; i++) CHECK_EQ(r.code[i], LR_RPC_OK);
    for (int i = 4; i < 10; i++) CHECK_EQ(r.code[i], -1); /* refused jobs are never run */
    CHECK_EQ(r.s->jobs_out, 0);
    CHECK_EQ(r.s->bytes_out, 0);
    lr_rpc_workers_hold(r.s);
    for (uint32_t i = 10; i < 15; i++) CHECK_EQ(push(&r, i, 16, NULL), i < 14 ? LR_RPC_OK : LR_RPC_EOVERLOADED);
    CHECK(release_and_wait(&r, LR_RPC_RELEASE_ALL, 8));
    rig_down(&r);
}

/* A job taken by a worker exactly at its deadline has not waited past it: it runs. */
LR_TEST(jobs_released_by_their_deadline_run_and_answer_ok) {
    rig r;
    lr_err err = {0};
    CHECK_OK(rig_up(&r, 4, 1000, 1 << 20, 0, &err), err);
    for (uint32_t i = 0; i < 4; i++) CHECK_EQ(push(&r, i, 16, NULL), LR_RPC_OK);
    atomic_store(&r.now_ms, T0_MS + 1000); /* whole seconds: the wait is exactly 1000.0 ms */
    CHECK(release_and_wait(&r, LR_RPC_RELEASE_ALL, 4));
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(r.code[i], LR_RPC_OK);
        CHECK(!r.result_nil[i]); /* ping's 1 */
    }
    CHECK_EQ(atomic_load(&r.s->metrics.requests[lr_rpc_method_find("ping", 4)][LR_RPC_OK]), 4);
    rig_down(&r);
}

/* Two jobs run before the clock moves; then the clock passes the deadline of the two still
 * waiting, which are answered deadline_exceeded without being run, while a job queued after
 * the clock moved is not late and runs. */
LR_TEST(jobs_that_waited_past_the_deadline_answer_deadline_exceeded_unrun) {
    rig r;
    lr_err err = {0};
    CHECK_OK(rig_up(&r, 8, 1000, 1 << 20, 0, &err), err);
    for (uint32_t i = 0; i < 4; i++) CHECK_EQ(push(&r, i, 16, NULL), LR_RPC_OK);
    CHECK(release_and_wait(&r, 2, 2));
    CHECK_EQ(r.code[0], LR_RPC_OK);
    CHECK_EQ(r.code[1], LR_RPC_OK);
    CHECK_EQ(waiting(&r), 2); /* two passes, two jobs taken */
    atomic_store(&r.now_ms, T0_MS + 1001);
    CHECK_EQ(push(&r, 4, 16, NULL), LR_RPC_OK);
    CHECK(release_and_wait(&r, LR_RPC_RELEASE_ALL, 5));
    for (int i = 2; i < 4; i++) {
        CHECK_EQ(r.code[i], LR_RPC_EDEADLINE);
        CHECK(r.result_nil[i]);
        CHECK_CONTAINS(r.msg[i], "waited 1001 ms in the queue, past the 1000 ms deadline");
    }
    CHECK_EQ(r.code[4], LR_RPC_OK);
    int ping = lr_rpc_method_find("ping", 4);
    CHECK_EQ(atomic_load(&r.s->metrics.requests[ping][LR_RPC_OK]), 3);
    CHECK_EQ(atomic_load(&r.s->metrics.requests[ping][LR_RPC_EDEADLINE]), 2);
    rig_down(&r);
}

/* Requests waiting and running may hold 8 frames' worth of bytes (800 here): a job that brings
 * the total to exactly that is let in, one byte more is not, and the bytes count until the loop
 * takes the answer back. One job alone is let in whatever its size. */
LR_TEST(in_flight_bytes_are_refused_one_byte_past_the_bound) {
    rig r;
    lr_err err = {0};
    CHECK_OK(rig_up(&r, 16, 1000, 100, 0, &err), err);
    for (uint32_t i = 0; i < 3; i++) CHECK_EQ(push(&r, i, 200, NULL), LR_RPC_OK);
    CHECK_EQ(push(&r, 3, 201, NULL), LR_RPC_EOVERLOADED); /* 801 */
    CHECK_EQ(push(&r, 4, 200, NULL), LR_RPC_OK);          /* 800 */
    CHECK_EQ(push(&r, 5, 1, NULL), LR_RPC_EOVERLOADED);
    CHECK_EQ(r.s->bytes_out, 800);
    CHECK(release_and_wait(&r, 1, 1)); /* job 0 answered and taken back: 600 */
    CHECK_EQ(r.s->bytes_out, 600);
    CHECK_EQ(push(&r, 6, 201, NULL), LR_RPC_EOVERLOADED);
    CHECK_EQ(push(&r, 7, 200, NULL), LR_RPC_OK);
    CHECK(release_and_wait(&r, LR_RPC_RELEASE_ALL, 5));
    CHECK_EQ(r.s->bytes_out, 0);
    lr_rpc_workers_hold(r.s);
    CHECK_EQ(push(&r, 8, 5000, NULL), LR_RPC_OK); /* alone, above the bound */
    CHECK_EQ(push(&r, 9, 1, NULL), LR_RPC_EOVERLOADED);
    CHECK(release_and_wait(&r, LR_RPC_RELEASE_ALL, 6));
    for (int i = 0; i < 10; i++)
        CHECK_EQ(r.code[i], i == 3 || i == 5 || i == 6 || i == 9 ? -1 : LR_RPC_OK);
    rig_down(&r);
}

/* Without a test's clock, a job is stamped with lr_rpc_now, the server's monotonic clock. */
LR_TEST(the_queue_reads_the_monotonic_clock_by_default) {
    rig r;
    lr_err err = {0};
    CHECK_OK(rig_up(&r, 4, 1000, 1 << 20, 1, &err), err);
    lr_rpc_job *j = NULL;
    double before = lr_rpc_now();
    CHECK_EQ(push(&r, 0, 16, &j), LR_RPC_OK);
    double after = lr_rpc_now();
    CHECK(j && j->queued >= before && j->queued <= after); /* held: the job is still queued */
    CHECK(release_and_wait(&r, LR_RPC_RELEASE_ALL, 1)); /* its answer depends on time: not checked */
    rig_down(&r);
}

LR_TEST_MAIN(LR_CASE(a_held_queue_takes_queue_cap_jobs_and_refuses_the_rest_at_once),
             LR_CASE(jobs_released_by_their_deadline_run_and_answer_ok),
             LR_CASE(jobs_that_waited_past_the_deadline_answer_deadline_exceeded_unrun),
             LR_CASE(in_flight_bytes_are_refused_one_byte_past_the_bound),
             LR_CASE(the_queue_reads_the_monotonic_clock_by_default))
