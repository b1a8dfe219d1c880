/* learnrec serve: the retrieval server (protocol and limits in docs/rpc.md). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "cli.h"
#include "lr_rpc.h"

typedef struct {
    size_t deadline;
    double frame_s, idle_s, drain_delay_s;
    const char *token_file;
} serve_extra; /* options whose type differs from the config's */

/* serve's options into the engine's and the server's configs; LR_CLI_RUN or an exit code. */
static int serve_args(int argc, char **argv, lr_rpc_engine_config *ec, lr_rpc_server_config *sc,
                      serve_extra *x) {
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("index", &ec->index_dir, "DIR", "the index directory (made by rebuild)"),
         .required = 1},
        {LR_OPT_STRING("model", &ec->model_path, "M", "the towers the index was built with"), .required = 1},
        {LR_OPT_STRING("content", &ec->content_path, "C", "their content embeddings (not in id mode)")},
        {LR_OPT_STRING("data", &ec->data_dir, "DIR", "item text for `item`, popularity for empty histories")},
        {LR_OPT_STRING("encoder", &ec->encoder_path, "E", "the fitted text encoder: add_items with text")},
        {LR_OPT_STRING("llm", &ec->llm_dir, "DIR", "or the LLM the content came from (content llm):\n"
                                                   "add_items with text runs it")},
        {LR_OPT_STRING("listen", &sc->listen, "HOST:PORT", "msgpack-rpc (0.0.0.0:PORT: every interface)")},
        {LR_OPT_STRING("http", &sc->http, "HOST:PORT", "HTTP (off unless given)")},
        {LR_OPT_SIZE("threads", &sc->threads, 1, 256, "N", "worker threads (default: the number of cores)"),
         .dflt = ""},
        /* never shown: --help after --admin-token would print it as the default */
        {LR_OPT_STRING("admin-token", &sc->admin_token, "T",
                       "add_items, remove_items and reload need 'token': T"), .dflt = ""},
        {LR_OPT_STRING("admin-token-file", &x->token_file, "F",
                       "the token from F's first line (out of ps and shell history)")},
        {LR_OPT_SIZE("max-frame", &sc->max_frame, 64, (size_t)1 << 31, "BYTES", "largest request frame")},
        {LR_OPT_SIZE("max-history", &sc->max_history, 1, 1000000, "N", "ids in one history")},
        {LR_OPT_SIZE("max-k", &sc->max_k, 1, 100000, "N", "k of `recommend` and `search`")},
        {LR_OPT_SIZE("max-batch", &sc->max_batch, 1, 100000, "N",
                     "histories or vectors in one call, items in one add_items")},
        {LR_OPT_SIZE("queue", &sc->queue_cap, 1, 1000000, "N",
                     "requests waiting for a worker before `overloaded`")},
        {LR_OPT_SIZE("deadline-ms", &x->deadline, 1, 3600000, "MS",
                     "longest wait in the queue before `deadline_exceeded`")},
        {LR_OPT_SIZE("max-connections", &sc->max_connections, 1, 1000000, "N",
                     "msgpack-rpc connections at once; more are refused")},
        {LR_OPT_SIZE("max-pending-bytes", &sc->max_pending_bytes, 1024, (size_t)1 << 40, "BYTES",
                     "a connection's answers not yet taken by its client\n"
                     "before the server stops reading its requests")},
        {LR_OPT_DOUBLE("frame-timeout", &x->frame_s, 0.001, 3600, "S",
                       "a frame (an HTTP request) must arrive whole within S\n"
                       "seconds of its first byte, or the connection closes")},
        {LR_OPT_DOUBLE("idle-timeout", &x->idle_s, 0.001, 86400, "S",
                       "a connection with nothing in flight, or whose answers\n"
                       "its client does not read, closes after S seconds")},
        {LR_OPT_DOUBLE("drain-delay", &x->drain_delay_s, 0, 3600, "S",
                       "on SIGTERM, answer 503 on /healthz and keep serving\n"
                       "for S seconds before the listeners close, so a load\n"
                       "balancer's checks take the server out first (docs/\n"
                       "operations.md); a second signal does not wait")},
    };
    const lr_cli_spec spec = {
        .cmd = "serve",
        .usage = "learnrec serve --index DIR --model M [--content C] [--data DIR]\n"
                 "                      [--encoder E | --llm DIR] [--listen HOST:PORT]\n"
                 "                      [--http HOST:PORT] [--threads N]\n"
                 "                      [--admin-token T | --admin-token-file F]\n"
                 "                      [--max-frame BYTES] [--max-history N]\n"
                 "                      [--max-k N] [--max-batch N] [--queue N] [--deadline-ms MS]\n"
                 "                      [--max-connections N] [--max-pending-bytes BYTES]\n"
                 "                      [--frame-timeout S] [--idle-timeout S] [--drain-delay S]",
        .description =
            "Serves recommendations over msgpack-rpc (--listen, default 127.0.0.1:7070) and HTTP\n"
            "(--http: GET /healthz, GET /metrics, POST /recommend; off unless given). Loads the\n"
            "current version of the index directory (made by `learnrec rebuild`), checked against\n"
            "the model's and the content's checksums. Port 0 picks a free port; the first line\n"
            "printed names the ports bound. SIGTERM or SIGINT: stop accepting, answer what is in\n"
            "flight, exit 0. Listening on every interface without an admin token is warned about.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    return lr_cli_parse(&spec, argc, argv);
}

/* Each connection takes a file descriptor: the soft limit is raised toward the hard one to hold
 * --max-connections and 64 more (the index's files, the listeners, the loop's own). Short of
 * that, accepting pauses whenever descriptors run out; the warning says so. */
static void fit_descriptors(size_t max_connections) {
    struct rlimit rl;
    rlim_t need = (rlim_t)max_connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= need) return;
    rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    struct rlimit raised = {want, rl.rlim_max};
    if (want > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0) rl.rlim_cur = want;
    if (rl.rlim_cur < need)
        fprintf(stderr, "learnrec serve: warning: --max-connections %zu needs %llu file descriptors, but the "
                "limit is %llu (ulimit -n; LimitNOFILE= under systemd): past it new connections wait\n",
                max_connections, (unsigned long long)need, (unsigned long long)rl.rlim_cur);
}

/* An admin token is what keeps add_items, remove_items and reload to the operator. */
static void warn_if_exposed(const lr_rpc_server_config *sc) {
    int wildcard = 0;
    if (sc->admin_token || lr_rpc_addr_is_wildcard(sc->listen, &wildcard, NULL) || !wildcard) return;
    fprintf(stderr, "learnrec serve: warning: listening on %s, every network interface, without "
            "--admin-token: anyone who can reach the port can add_items, remove_items and reload. "
            "Give a token, or listen on 127.0.0.1\n", sc->listen);
}

static unsigned to_ms(double s) {
    double ms = s * 1000.0 + 0.999;
    return ms < 1 ? 1 : ms > 4e9 ? 4000000000u : (unsigned)ms;
}

int lr_cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    lr_rpc_engine_config ec = {0};
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    serve_extra x = {sc.deadline_ms, sc.frame_timeout_ms / 1000.0, sc.idle_timeout_ms / 1000.0, 0.0, NULL};
    int p = serve_args(argc, argv, &ec, &sc, &x);
    if (p != LR_CLI_RUN) return p;
    if (sc.admin_token && !*sc.admin_token) return lr_cli_usage_error(cmd, "--admin-token must not be empty");
    if (sc.admin_token && x.token_file)
        return lr_cli_usage_error(cmd, "give --admin-token or --admin-token-file, not both");
    sc.deadline_ms = (unsigned)x.deadline;
    sc.frame_timeout_ms = to_ms(x.frame_s);
    sc.idle_timeout_ms = to_ms(x.idle_s);
    sc.drain_delay_ms = x.drain_delay_s > 0 ? to_ms(x.drain_delay_s) : 0;
    lr_err err = {0};
    char *token = NULL;
    if (x.token_file && lr_cli_read_token(x.token_file, &token, &err)) return lr_cli_fail(cmd, &err);
    if (token) sc.admin_token = token;
    warn_if_exposed(&sc);
    fit_descriptors(sc.max_connections);
    lr_cli_set_threads(1, 1); /* the workers are the parallelism; each keeps one OpenMP thread */
    signal(SIGPIPE, SIG_IGN); /* a client that went away is an error on its socket, not our death */
    lr_rpc_engine *e = NULL;
    lr_rpc_server *s = NULL;
    int rc = LR_EXIT_ERROR;
    double t0 = lr_cli_now();
    if (lr_rpc_engine_open(&ec, &e, &err) || lr_rpc_server_new(&sc, e, &s, &err)) goto done;
    char host[256];
    snprintf(host, sizeof host, "%.*s", (int)(strrchr(sc.listen, ':') - sc.listen), sc.listen);
    if (sc.http) {
        char hhost[256];
        snprintf(hhost, sizeof hhost, "%.*s", (int)(strrchr(sc.http, ':') - sc.http), sc.http);
        printf("listening on %s:%d (msgpack-rpc), http %s:%d\n", host, lr_rpc_server_port(s), hhost,
               lr_rpc_server_http_port(s));
    } else {
        printf("listening on %s:%d (msgpack-rpc)\n", host, lr_rpc_server_port(s));
    }
    fflush(stdout);
    fprintf(stderr, "learnrec serve: ready in %.1f s\n", lr_cli_now() - t0);
    if (lr_rpc_server_run(s, 1, &err)) goto done;
    fprintf(stderr, "learnrec serve: stopped\n");
    rc = LR_EXIT_OK;
done:
    if (rc) lr_cli_fail(cmd, &err);
    lr_rpc_server_free(s);
    lr_rpc_engine_free(e);
    free(token);
    return rc;
}
