/* The rpc library: the retrieval engine behind the server, the libevent msgpack-rpc server with
 * its HTTP side, and a small blocking client. The protocol, methods, errors and limits are in
 * docs/rpc.md. */
#ifndef LR_RPC_H
#define LR_RPC_H

#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"

/* ---- error codes on the wire: [code, message] (docs/rpc.md) --------------------------------- */

#define LR_RPC_ERROR_MAP(XX)                                                        \
    XX(1, BAD_REQUEST, "bad_request")                                             \
    XX(2, UNKNOWN_METHOD, "unknown_method")                                       \
    XX(3, NOT_FOUND, "not_found")                                                 \
    XX(4, TOO_LARGE, "too_large")                                                 \
    XX(5, UNAUTHORIZED, "unauthorized")                                           \
    XX(6, OVERLOADED, "overloaded")                                               \
    XX(7, DEADLINE, "deadline_exceeded")                                          \
    XX(8, CONFLICT, "conflict")                                                   \
    XX(9, INTERNAL, "internal")

typedef enum {
    LR_RPC_OK = 0,
#define XX(code, name, str) LR_RPC_E##name = code,
    LR_RPC_ERROR_MAP(XX)
#undef XX
} lr_rpc_code;

const char *lr_rpc_code_name(int code); /* "bad_request", ...; "unknown" for others */

/* ---- the engine: model, content, index, what the methods do ------------------------------- */

typedef struct lr_rpc_engine lr_rpc_engine;

typedef struct {
    const char *index_dir;    /* a published index directory (lr_index_publish) */
    const char *model_path;   /* the towers' safetensors */
    const char *content_path; /* the content matrix the items were embedded from (NULL: id mode) */
    const char *data_dir;     /* optional: item text for `item`, popularity for empty histories */
    const char *encoder_path; /* optional: the fitted text encoder, for add_items with text */
    const char *llm_dir;      /* or optional: the LLM's model directory (towers/llm), the same */
} lr_rpc_engine_config;

int lr_rpc_engine_open(const lr_rpc_engine_config *cfg, lr_rpc_engine **out, lr_err *err);
void lr_rpc_engine_free(lr_rpc_engine *e);

/* ---- the server ---------------------------------------------------------------------------- */

typedef struct {
    const char *listen;     /* "HOST:PORT" for msgpack-rpc (port 0: any free port) */
    const char *http;       /* "HOST:PORT" for HTTP, NULL: none */
    size_t threads;         /* workers; 0: the number of cores */
    size_t worker_omp_threads; /* OpenMP threads a worker's own calls may use (default 1: the
                                * workers are the parallelism). The server changes no
                                * process-wide setting: keep OpenBLAS at one thread (design.md
                                * section 4), as learnrec serve does. */
    const char *admin_token; /* NULL: admin methods are open */
    size_t max_frame, max_history, max_k, max_batch, queue_cap;
    unsigned deadline_ms;
    /* Clients that hold on to the server (docs/rpc.md, Limits); each at least 1. */
    size_t max_connections;    /* msgpack-rpc connections open at once; more are refused */
    size_t max_pending_bytes;  /* a connection's unwritten answers past which it is not read */
    unsigned frame_timeout_ms; /* a frame begun must arrive whole within this (HTTP: requests) */
    unsigned idle_timeout_ms;  /* a connection with nothing to do, or whose answers the client
                                * does not take, is closed after this */
    unsigned drain_delay_ms;   /* after a stop, how long /healthz answers 503 while everything
                                * is still served, so a load balancer's checks take the server
                                * out before it stops accepting (0: stop accepting at once) */
} lr_rpc_server_config;

lr_rpc_server_config lr_rpc_server_config_default(void); /* the defaults of docs/rpc.md */

typedef struct lr_rpc_server lr_rpc_server;

/* Binds both listeners (errors name the address) and starts the workers; `engine` is borrowed
 * and must outlive the server. */
int lr_rpc_server_new(const lr_rpc_server_config *cfg, lr_rpc_engine *engine, lr_rpc_server **out,
                      lr_err *err);
/* The ports actually bound (useful with port 0). */
int lr_rpc_server_port(const lr_rpc_server *s);
int lr_rpc_server_http_port(const lr_rpc_server *s);
/* 1 when addr ("HOST:PORT", as --listen takes it) names every interface (0.0.0.0, ::), 0 when
 * it names one, an error when it cannot be resolved: lets a program warn before it binds. */
int lr_rpc_addr_is_wildcard(const char *addr, int *wildcard, lr_err *err);
/* Runs the event loop until lr_rpc_server_stop or SIGTERM/SIGINT (when handle_signals): stops
 * accepting, lets the requests in flight finish and their answers be written, then returns. */
int lr_rpc_server_run(lr_rpc_server *s, int handle_signals, lr_err *err);
void lr_rpc_server_stop(lr_rpc_server *s); /* safe from any thread */
void lr_rpc_server_free(lr_rpc_server *s);

/* ---- the client: blocking, one connection, one call at a time ------------------------------ */

typedef struct lr_rpc_client lr_rpc_client;

/* "HOST:PORT"; timeout_ms bounds connect and each call (0: 10 s). A connection that dropped is
 * dialled again by the next call; recommend, search, similar, item, stats and ping calls whose
 * connection dropped before the answer are sent again on a new connection (within a fresh
 * timeout, twice at most); other methods report the drop. Timeouts are not retried. */
int lr_rpc_client_connect(const char *addr, unsigned timeout_ms, lr_rpc_client **out, lr_err *err);
void lr_rpc_client_close(lr_rpc_client *c);
/* How often a dropped idempotent call is sent again, by this client and by learnrec bench. Twice,
 * not once: a replica killed with SIGKILL can still complete the handshake of the very next
 * connection while the kernel tears it down, and drop that one too (seen behind HAProxy,
 * tests/tools/test_replicas.sh). */
#define LR_RPC_CLIENT_MAX_RESENDS 2
/* How many times the client dialled again, and how many times it sent a call again. */
size_t lr_rpc_client_reconnects(const lr_rpc_client *c);
size_t lr_rpc_client_retries(const lr_rpc_client *c);

/* A connected TCP socket to "HOST:PORT" (the first resolved address that accepts within
 * timeout_ms), non-blocking, close-on-exec, TCP_NODELAY: for callers that run their own I/O,
 * such as the load generator. Errors name addr (LR_ETIMEOUT when the time ran out). */
int lr_rpc_dial(const char *addr, unsigned timeout_ms, int *fd, lr_err *err);

typedef struct {
    int64_t id;
    float score;
} lr_rpc_hit;

/* recommend for one history: at most k hits into `hits` (caller's, k long), *n_hits how many.
 * A server error comes back as LR_ERPC with err->msg "name: message" (e.g. "overloaded: ...")
 * and *rpc_code set (rpc_code may be NULL). msgids start at 1: 0 is the server's for frames it
 * could not read. */
int lr_rpc_client_recommend(lr_rpc_client *c, const int64_t *history, size_t len, size_t k,
                            lr_rpc_hit *hits, size_t *n_hits, int *rpc_code, lr_err *err);
/* Any method with params given as a JSON object text (NULL: none); the result as JSON text
 * (malloc'd, the caller frees). The JSON bridge serves the command line and tests. */
int lr_rpc_client_call_json(lr_rpc_client *c, const char *method, const char *params_json,
                            char **result_json, int *rpc_code, lr_err *err);

#endif
