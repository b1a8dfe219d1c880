/* learnrec serve: the retrieval server (protocol and limits in docs/rpc.md). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "lr_rpc.h"

static void usage(void) {
    printf("usage: learnrec serve --index DIR --model M [--content C] [--data DIR] [--encoder E]\n"
           "                      [--listen HOST:PORT] [--http HOST:PORT] [--threads N]\n"
           "                      [--admin-token T] [--max-frame BYTES] [--max-history N]\n"
           "                      [--max-k N] [--max-batch N] [--queue N] [--deadline-ms MS]\n\n"
           "Serves recommendations over msgpack-rpc (--listen, default 127.0.0.1:7070) and HTTP\n"
           "(--http: GET /healthz, GET /metrics, POST /recommend; off unless given). Loads the\n"
           "current version of the index directory (made by `learnrec rebuild`), checked against\n"
           "the model's and the content's checksums. Port 0 picks a free port; the first line\n"
           "printed names the ports bound. SIGTERM or SIGINT: stop accepting, answer what is in\n"
           "flight, exit 0.\n\n"
           "  --data DIR       item text for `item`, popularity for empty histories\n"
           "  --encoder E      the fitted text encoder: add_items with text\n"
           "  --threads N      worker threads (default: the number of cores)\n"
           "  --admin-token T  add_items, remove_items and reload need 'token': T\n"
           "  limits           --max-frame 8388608, --max-history 10000, --max-k 1000,\n"
           "                   --max-batch 256, --queue 1024, --deadline-ms 1000\n");
}

int lr_cmd_serve(int argc, char **argv) {
    enum { O_MAXF = 256, O_MAXH, O_MAXK, O_MAXB, O_QUEUE, O_DEADLINE, O_TOKEN, O_ENCODER };
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'x'},   {"model", required_argument, NULL, 'm'},
        {"content", required_argument, NULL, 'c'}, {"data", required_argument, NULL, 'd'},
        {"encoder", required_argument, NULL, O_ENCODER}, {"listen", required_argument, NULL, 'l'},
        {"http", required_argument, NULL, 'H'},    {"threads", required_argument, NULL, 't'},
        {"admin-token", required_argument, NULL, O_TOKEN}, {"max-frame", required_argument, NULL, O_MAXF},
        {"max-history", required_argument, NULL, O_MAXH}, {"max-k", required_argument, NULL, O_MAXK},
        {"max-batch", required_argument, NULL, O_MAXB}, {"queue", required_argument, NULL, O_QUEUE},
        {"deadline-ms", required_argument, NULL, O_DEADLINE}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    const char *cmd = "serve";
    lr_rpc_engine_config ec = {0};
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    size_t deadline = sc.deadline_ms;
    int c, bad = 0;
    opterr = 0;
    optind = 1;
    while (!bad && (c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'x': ec.index_dir = optarg; break;
        case 'm': ec.model_path = optarg; break;
        case 'c': ec.content_path = optarg; break;
        case 'd': ec.data_dir = optarg; break;
        case O_ENCODER: ec.encoder_path = optarg; break;
        case 'l': sc.listen = optarg; break;
        case 'H': sc.http = optarg; break;
        case O_TOKEN: sc.admin_token = optarg; break;
        case 't': bad = lr_cli_parse_size(cmd, "--threads", optarg, 1, 256, &sc.threads); break;
        case O_MAXF: bad = lr_cli_parse_size(cmd, "--max-frame", optarg, 64, (size_t)1 << 31, &sc.max_frame); break;
        case O_MAXH: bad = lr_cli_parse_size(cmd, "--max-history", optarg, 1, 1000000, &sc.max_history); break;
        case O_MAXK: bad = lr_cli_parse_size(cmd, "--max-k", optarg, 1, 100000, &sc.max_k); break;
        case O_MAXB: bad = lr_cli_parse_size(cmd, "--max-batch", optarg, 1, 100000, &sc.max_batch); break;
        case O_QUEUE: bad = lr_cli_parse_size(cmd, "--queue", optarg, 1, 1000000, &sc.queue_cap); break;
        case O_DEADLINE: bad = lr_cli_parse_size(cmd, "--deadline-ms", optarg, 1, 3600000, &deadline); break;
        case 'h': usage(); return LR_EXIT_OK;
        case ':': return lr_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return lr_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (bad) return LR_EXIT_USAGE;
    if (optind < argc || !ec.index_dir || !ec.model_path) return lr_cli_usage_error(cmd, "--index and --model are required");
    if (sc.admin_token && !*sc.admin_token) return lr_cli_usage_error(cmd, "--admin-token must not be empty");
    sc.deadline_ms = (unsigned)deadline;
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
