/* learnrec bench's state, shared by its load loop (cmd_bench.c) and its reports and records
 * (bench_report.c). One thread owns all of it. */
#ifndef LR_CLI_BENCH_H
#define LR_CLI_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>
#include <msgpack.h>

#define LR_BENCH_CODES 10 /* errors[0]: malformed or unknown code; 1..9: docs/rpc.md */

/* The methods a run mixes (--mix), and the states of a request. */
enum { LR_BENCH_RECOMMEND, LR_BENCH_SEARCH, LR_BENCH_ITEM, LR_BENCH_STATS, LR_BENCH_METHODS };
enum { LR_BENCH_PENDING, LR_BENCH_ANSWERED, LR_BENCH_LOST }; /* lost: its connection failed */

typedef struct {
    int fd;              /* -1 once the connection failed */
    msgpack_sbuffer out; /* packed requests; [out_off, out.size) not yet written */
    size_t out_off, in_flight;
    msgpack_unpacker in;
} lr_cli_bench_conn;

typedef struct {
    double due, sent; /* when it was due; when it was packed to go (monotonic seconds) */
    uint32_t conn;    /* index into conns */
    uint8_t method, state;
    uint8_t resent;   /* times sent again after its connection dropped (LR_RPC_CLIENT_MAX_RESENDS at most) */
} lr_cli_bench_req;

typedef struct {
    size_t sent, ok, errors;
} lr_cli_bench_count;

typedef struct {
    /* the options */
    const char *addr, *json_path, *record_path;
    size_t n_conns, k, hist_len, items, nprobe; /* nprobe 0: the server's own */
    double rate, duration, interval;            /* interval 0: no interval lines */
    unsigned mix[LR_BENCH_METHODS], mix_total;  /* weights of the methods */
    uint64_t rng;
    /* the query vectors of search: n_vectors * dim, the user tower's for random histories */
    float *vectors;
    size_t n_vectors, dim;
    /* the run */
    lr_cli_bench_conn *conns;
    size_t rr, live;         /* the next connection to send on (open loop); how many are open */
    lr_cli_bench_req *req;   /* req[msgid - 1] */
    double *lat;             /* seconds from due to answer, one per successful answer, in order */
    uint8_t *lat_method;     /* the method of each lat */
    size_t cap, sent, completed, outstanding, conn_failures;
    size_t redials, resent; /* connections dialled again after a drop; requests sent again on them */
    size_t oldest;           /* no request before req[oldest] is pending */
    size_t errors[LR_BENCH_CODES], error_answers; /* by code; error_answers: those that answered a request */
    lr_cli_bench_count by_method[LR_BENCH_METHODS];
    FILE *record;            /* --record-ids, or NULL */
    /* the interval under way (--interval) */
    double tick_at;          /* when it ends */
    size_t tick_sent, tick_completed, tick_errors[LR_BENCH_CODES];
    json_t *intervals;       /* an array, one object per interval printed */
    double t0, t_last;
} lr_cli_bench;

const char *lr_cli_bench_method_name(int method); /* "recommend", "search", "item", "stats" */

/* Prints the line of the interval ending at `at` (the tick just passed; or now, for the partial
 * interval after the last tick, `partial` nonzero), appends it to b->intervals and starts the
 * next one. */
void lr_cli_bench_interval(lr_cli_bench *b, double at, int partial);

/* One line into the record file (when there is one) for the answer to msgid: its method, due,
 * sent and received times, status ("ok" or the error's name), and for a successful recommend or
 * search the ids answered, for stats the version served. */
void lr_cli_bench_record(lr_cli_bench *b, uint32_t msgid, double now, const char *status,
                         const msgpack_object *result);
/* A line for every request never answered (status "unanswered", received "-"). */
void lr_cli_bench_record_unanswered(lr_cli_bench *b);

/* The summary on stdout and, with --json, as JSON; nonzero when the JSON cannot be written. */
int lr_cli_bench_report(lr_cli_bench *b);

#endif
