/* learnrec serve: the retrieval server (protocol and limits in docs/rpc.md). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lr_rpc.h"

/* serve's options into the engine's and the server's configs; LR_CLI_RUN or an exit code. */
static int serve_args(int argc, char **argv, lr_rpc_engine_config *ec, lr_rpc_server_config *sc,
                      size_t *deadline) {
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("index", &ec->index_dir, "DIR", "the index directory (made by rebuild)"),
         .required = 1},
        {LR_OPT_STRING("model", &ec->model_path, "M", "the towers the index was built with"), .required = 1},
        {LR_OPT_STRING("content", &ec->content_path, "C", "their content embeddings (not in id mode)")},
        {LR_OPT_STRING("data", &ec->data_dir, "DIR", "item text for `item`, popularity for empty histories")},
        {LR_OPT_STRING("encoder", &ec->encoder_path, "E", "the fitted text encoder: add_items with text")},
        {LR_OPT_STRING("llm", &ec->llm_dir, "DIR", "or the LLM the content came from (content llm):\n"
                                                   "add_items with text runs it")},
        {LR_OPT_STRING("listen", &sc->listen, "HOST:PORT", "msgpack-rpc")},
        {LR_OPT_STRING("http", &sc->http, "HOST:PORT", "HTTP (off unless given)")},
        {LR_OPT_SIZE("threads", &sc->threads, 1, 256, "N", "worker threads (default: the number of cores)"),
         .dflt = ""},
        {LR_OPT_STRING("admin-token", &sc->admin_token, "T",
                       "add_items, remove_items and reload need 'token': T")},
        {LR_OPT_SIZE("max-frame", &sc->max_frame, 64, (size_t)1 << 31, "BYTES", "largest request frame")},
        {LR_OPT_SIZE("max-history", &sc->max_history, 1, 1000000, "N", "ids in one history")},
        {LR_OPT_SIZE("max-k", &sc->max_k, 1, 100000, "N", "k of `recommend` and `search`")},
        {LR_OPT_SIZE("max-batch", &sc->max_batch, 1, 100000, "N",
                     "histories or vectors in one call, items in one add_items")},
        {LR_OPT_SIZE("queue", &sc->queue_cap, 1, 1000000, "N",
                     "requests waiting for a worker before `overloaded`")},
        {LR_OPT_SIZE("deadline-ms", deadline, 1, 3600000, "MS",
                     "longest wait in the queue before `deadline_exceeded`")},
    };
    const lr_cli_spec spec = {
        .cmd = "serve",
        .usage = "learnrec serve --index DIR --model M [--content C] [--data DIR]\n"
                 "                      [--encoder E | --llm DIR] [--listen HOST:PORT]\n"
                 "                      [--http HOST:PORT] [--threads N] [--admin-token T]\n"
                 "                      [--max-frame BYTES] [--max-history N]\n"
                 "                      [--max-k N] [--max-batch N] [--queue N] [--deadline-ms MS]",
        .description =
            "Serves recommendations over msgpack-rpc (--listen, default 127.0.0.1:7070) and HTTP\n"
            "(--http: GET /healthz, GET /metrics, POST /recommend; off unless given). Loads the\n"
            "current version of the index directory (made by `learnrec rebuild`), checked against\n"
            "the model's and the content's checksums. Port 0 picks a free port; the first line\n"
            "printed names the ports bound. SIGTERM or SIGINT: stop accepting, answer what is in\n"
            "flight, exit 0.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    return lr_cli_parse(&spec, argc, argv);
}

int lr_cmd_serve(int argc, char **argv) {
    const char *cmd = "serve";
    lr_rpc_engine_config ec = {0};
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    size_t deadline = sc.deadline_ms;
    int p = serve_args(argc, argv, &ec, &sc, &deadline);
    if (p != LR_CLI_RUN) return p;
    if (sc.admin_token && !*sc.admin_token) return lr_cli_usage_error(cmd, "--admin-token must not be empty");
    sc.deadline_ms = (unsigned)deadline;
    lr_cli_set_threads(1, 1); /* the workers are the parallelism; each keeps one OpenMP thread */
    signal(SIGPIPE, SIG_IGN); /* a client that went away is an error on its socket, not our death */
    lr_err err = {0};
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
    return rc;
}
