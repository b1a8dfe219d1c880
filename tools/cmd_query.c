/* learnrec query: one call to a running server, from the command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "lr_rpc.h"

/* "1,2,3" into a new array (NULL for ""): LR_EINVAL when malformed. */
static int parse_history(const char *s, int64_t **out, size_t *n, lr_err *err) {
    *out = NULL;
    *n = 0;
    if (!*s) return LR_OK;
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int64_t *h = malloc(cap * sizeof *h);
    if (!h) return lr_err_set(err, LR_ENOMEM, "out of memory for a history of %zu ids", cap);
    for (const char *p = s;; p++) {
        char *end;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || (*end != ',' && *end)) {
            free(h);
            return lr_err_set(err, LR_EINVAL, "--history expects item ids separated by commas, got '%s'", s);
        }
        h[(*n)++] = v;
        if (!*end) break;
        p = end;
    }
    *out = h;
    return LR_OK;
}

static int print_hits(const lr_rpc_hit *hits, size_t n, int json) {
    if (!json) {
        printf("%4s  %12s  %s\n", "rank", "id", "score");
        for (size_t i = 0; i < n; i++)
            printf("%4zu  %12lld  %.6f\n", i + 1, (long long)hits[i].id, (double)hits[i].score);
        return LR_EXIT_OK;
    }
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(rows, json_pack("[I, f]", (json_int_t)hits[i].id, (double)hits[i].score));
    json_t *o = json_pack("{s:o}", "results", rows);
    /* 9 significant digits give back every float exactly, without 17-digit noise */
    int bad = !o || json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(9)) != 0;
    printf("\n");
    json_decref(o);
    return bad ? LR_EXIT_ERROR : LR_EXIT_OK;
}

/* The table with each item's text, asked of the server one `item` call at a time. */
static int print_hits_with_text(lr_rpc_client *c, const lr_rpc_hit *hits, size_t n, lr_err *err) {
    printf("%4s  %12s  %9s  %s\n", "rank", "id", "score", "text");
    for (size_t i = 0; i < n; i++) {
        char params[64], *result = NULL;
        snprintf(params, sizeof params, "{\"id\": %lld}", (long long)hits[i].id);
        int rc = lr_rpc_client_call_json(c, "item", params, &result, NULL, err);
        json_t *v = rc ? NULL : json_loads(result, 0, NULL);
        const char *text = json_string_value(json_object_get(v, "text"));
        if (!rc) printf("%4zu  %12lld  %9.6f  %s\n", i + 1, (long long)hits[i].id, (double)hits[i].score, text ? text : "-");
        json_decref(v);
        free(result);
        if (rc) return rc;
    }
    return LR_OK;
}

static int run_recommend(lr_rpc_client *c, const int64_t *h, size_t n, size_t k, int json, int text,
                         lr_err *err) {
    lr_rpc_hit *hits = malloc((k ? k : 1) * sizeof *hits);
    size_t got = 0;
    if (!hits) return lr_err_set(err, LR_ENOMEM, "out of memory for %zu hits", k);
    int rc = lr_rpc_client_recommend(c, h, n, k, hits, &got, NULL, err);
    if (!rc && text && !json) rc = print_hits_with_text(c, hits, got, err);
    else if (!rc && print_hits(hits, got, json)) rc = lr_err_set(err, LR_EIO, "cannot write the results");
    free(hits);
    return rc;
}

/* A JSON object option (--filter, --max-per) into p under key; LR_EINVAL naming the option. */
static int set_object(json_t *p, const char *key, const char *opt, const char *text, lr_err *err) {
    json_error_t je;
    json_t *v = json_loads(text, 0, &je);
    if (!json_is_object(v)) {
        json_decref(v);
        return lr_err_set(err, LR_EINVAL, "%s must be a JSON object, e.g. %s", opt,
                          strcmp(key, "filter") == 0 ? "'{\"category\": [\"Lab Supplies\"]}'" : "'{\"brand\": 2}'");
    }
    json_object_set_new(p, key, v);
    return LR_OK;
}

typedef struct {
    const char *filter, *max_per; /* JSON objects, or NULL */
    long long similar;            /* the item of --similar */
    int has_similar;
} query_extras;

/* --params with --history, -k, --filter, --max-per and --similar folded in, as JSON text (caller
 * frees). */
static char *merged_params(const char *params, const int64_t *h, size_t n, int has_h, size_t k,
                           int has_k, const char *token, const query_extras *x, lr_err *err) {
    json_error_t je;
    json_t *p = params ? json_loads(params, 0, &je) : json_object();
    if (!p) {
        lr_err_set(err, LR_EINVAL, "--params: %s (line %d, column %d)", je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(p)) {
        json_decref(p);
        lr_err_set(err, LR_EINVAL, "--params must be a JSON object, e.g. '{\"id\": 3}'");
        return NULL;
    }
    if (has_h) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer(h[i]));
        json_object_set_new(p, "history", a);
    }
    if (has_k) json_object_set_new(p, "k", json_integer((json_int_t)k));
    if (token) json_object_set_new(p, "token", json_string(token));
    if (x->has_similar) json_object_set_new(p, "id", json_integer(x->similar));
    if ((x->filter && set_object(p, "filter", "--filter", x->filter, err)) ||
        (x->max_per && set_object(p, "max_per", "--max-per", x->max_per, err))) {
        json_decref(p);
        return NULL;
    }
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    if (!text) lr_err_set(err, LR_ENOMEM, "out of memory for the params");
    return text;
}

/* Prints a result's JSON text: indented, or as it came with --json. */
static int print_json_text(const char *text, int compact) {
    json_t *v = compact ? NULL : json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v) return printf("%s\n", text) < 0;
    int bad = json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_REAL_PRECISION(9)) != 0;
    printf("\n");
    json_decref(v);
    return bad;
}

static int run_method(lr_rpc_client *c, const char *method, const char *params, int json, lr_err *err) {
    char *result = NULL;
    int rc = lr_rpc_client_call_json(c, method, params, &result, NULL, err);
    if (!rc && print_json_text(result, json)) rc = lr_err_set(err, LR_EIO, "cannot write the result");
    free(result);
    return rc;
}

/* --similar's item id into x; 0 when it is not one. */
static int parse_similar(const char *s, query_extras *x) {
    char *end;
    errno = 0;
    x->similar = strtoll(s, &end, 10);
    x->has_similar = end != s && !*end && !errno;
    return x->has_similar;
}

/* recommend or similar through the JSON bridge (for --filter, --max-per, --similar), printed as
 * the table (or --json) of a plain recommend. */
static int run_hits_json(lr_rpc_client *c, const char *method, const char *params, int json, int text, lr_err *err) {
    char *result = NULL;
    int rc = lr_rpc_client_call_json(c, method, params, &result, NULL, err);
    json_t *v = rc ? NULL : json_loads(result, 0, NULL);
    free(result);
    size_t n = json_array_size(v);
    lr_rpc_hit *hits = malloc((n ? n : 1) * sizeof *hits);
    if (!rc && !hits) rc = lr_err_set(err, LR_ENOMEM, "out of memory for %zu hits", n);
    for (size_t i = 0; !rc && i < n; i++) {
        json_t *row = json_array_get(v, i);
        hits[i] = (lr_rpc_hit){json_integer_value(json_array_get(row, 0)), (float)json_number_value(json_array_get(row, 1))};
    }
    if (!rc && text && !json) rc = print_hits_with_text(c, hits, n, err);
    else if (!rc && print_hits(hits, n, json)) rc = lr_err_set(err, LR_EIO, "cannot write the results");
    json_decref(v);
    free(hits);
    return rc;
}

int lr_cmd_query(int argc, char **argv) {
    const char *cmd = "query", *addr = NULL, *hist = NULL, *method = NULL, *params = NULL;
    const char *token_file = NULL;
    size_t k = 10, timeout = 10000;
    int json = 0, has_k = 0, text = 0;
    query_extras x = {0};
    const char *similar = NULL;
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("connect", &addr, "HOST:PORT", "the server"), .required = 1},
        {LR_OPT_STRING("history", &hist, "1,2,3", "item ids, oldest first; \"\" for none")},
        {LR_OPT_SIZE("k", &k, 1, 1000000, "K", "results"), .short_name = 'k', .given = &has_k},
        {LR_OPT_FLAG("json", &json, "print JSON instead of a table (a method's result: compact)")},
        {LR_OPT_STRING("method", &method, "M", "call this method instead of recommend")},
        {LR_OPT_STRING("params", &params, "JSON", "the method's params, a JSON object"), .dflt = "{}"},
        {LR_OPT_FLAG("text", &text, "add each item's text to the table (the `item` method; the server\n"
                     "needs --data)")},
        {LR_OPT_SIZE("timeout", &timeout, 1, 3600000, "MS", "bound on connecting and on the call")},
        {LR_OPT_STRING("similar", &similar, "ID", "the items nearest item ID (the `similar` method) instead of\n"
                       "a history's recommendations")},
        {LR_OPT_STRING("filter", &x.filter, "JSON", "only items that pass, e.g. '{\"category\": [\"Lab Supplies\"],\n"
                       "\"not\": {\"brand\": [\"X\"]}}' (docs/rpc.md)")},
        {LR_OPT_STRING("max-per", &x.max_per, "JSON", "at most N results sharing a value, e.g. '{\"category\": 2}'")},
        {LR_OPT_STRING("admin-token-file", &token_file, "F",
                       "add 'token' from F's first line to the params (admin methods)")},
    };
    const lr_cli_spec spec = {
        .cmd = cmd,
        .usage = "learnrec query --connect HOST:PORT --history 1,2,3 [-k K] [--json] [--filter JSON] [--max-per JSON]\n"
                 "       learnrec query --connect HOST:PORT --similar ID [-k K] [--filter JSON] [--max-per JSON]\n"
                 "       learnrec query --connect HOST:PORT --method M [--params JSON] [--history ...] [-k K]\n"
                 "                      [--admin-token-file F]",
        .description =
            "Asks a running `learnrec serve` for the top K items (default 10) after a history\n"
            "(item ids, oldest first; \"\" for none) and prints them as a table: rank, id, score.\n"
            "--json prints {\"results\": [[id, score], ...]} instead. --similar ID lists the items\n"
            "nearest item ID instead. --filter keeps only items that pass (attribute values, ids,\n"
            "\"not\"), --max-per caps how many results share a value (docs/rpc.md).\n\n"
            "--method calls any method (ping, stats, item, encode_user, search, ...; docs/rpc.md)\n"
            "with --params, a JSON object (default {}), and prints the result as JSON; --history\n"
            "and -k, when given, are added to the params. Server errors print as \"name: message\".\n"
            "--admin-token-file adds the server's admin token (add_items, remove_items, reload)\n"
            "without it appearing on the command line.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    if (similar && !parse_similar(similar, &x)) return lr_cli_usage_error(cmd, "--similar expects an item id, got '%s'", similar);
    if (similar && (method || hist)) return lr_cli_usage_error(cmd, "--similar goes without --history and --method");
    if (!method && !hist && !similar) return lr_cli_usage_error(cmd, "--history, --similar or --method is required");
    if (!method && params) return lr_cli_usage_error(cmd, "--params goes with --method");
    if (!method && token_file) return lr_cli_usage_error(cmd, "--admin-token-file goes with --method");
    lr_err err = {0};
    char *token = NULL;
    int64_t *h = NULL;
    size_t n = 0;
    lr_rpc_client *cl = NULL;
    char *merged = NULL;
    int rc = hist ? parse_history(hist, &h, &n, &err) : LR_OK;
    if (!rc && token_file && (rc = lr_cli_read_token(token_file, &token, &err)) == LR_EIO) {
        free(h);
        return lr_cli_fail(cmd, &err);
    }
    int via_json = !method && (x.has_similar || x.filter || x.max_per);
    if (!rc && (method || via_json) &&
        !(merged = merged_params(params, h, n, hist != NULL, k, has_k || via_json, token, &x, &err)))
        rc = err.code;
    free(token);
    if (rc == LR_EINVAL) { /* the arguments are wrong, not the server */
        free(h);
        return lr_cli_usage_error(cmd, "%s", err.msg);
    }
    if (!rc) rc = lr_rpc_client_connect(addr, (unsigned)timeout, &cl, &err);
    if (!rc && method) rc = run_method(cl, method, merged, json, &err);
    else if (!rc && via_json) rc = run_hits_json(cl, x.has_similar ? "similar" : "recommend", merged, json, text, &err);
    else if (!rc) rc = run_recommend(cl, h, n, k, json, text, &err);
    lr_rpc_client_close(cl);
    free(merged);
    free(h);
    return rc ? lr_cli_fail(cmd, &err) : LR_EXIT_OK;
}
