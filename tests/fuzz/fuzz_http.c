/* The HTTP side of the server on arbitrary bytes: the input is the body of POST /recommend (the
 * only request of rpc/http.c that has a body; /healthz and /metrics take none). It goes the
 * server's way: the JSON read and bridged into msgpack params (lr_rpc_http_job_decode), run by
 * the recommend method against a loaded engine and the result bridged back into JSON
 * (lr_rpc_job_run), or refused with a JSON error (lr_rpc_job_fail).
 *
 * Asserted: the body sent back is one JSON object and a newline, valid UTF-8 (jansson reads it
 * strictly), holding exactly one of "results" (status 200; hits as docs/rpc.md describes: at most
 * k, distinct, none excluded) or "error" {code 1..9, its name, a message} with the status of that
 * code. recommend changes nothing in the engine, so inputs cannot affect each other. */
#include "fuzz_check.h"
#include "fuzz_world.h"
#include "json_bridge.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int status_of(int code) {
    switch (code) {
    case LR_RPC_EUNAUTHORIZED: return 401;
    case LR_RPC_ENOT_FOUND: return 404;
    case LR_RPC_ETOO_LARGE: return 413;
    case LR_RPC_EOVERLOADED: case LR_RPC_EDEADLINE: return 503;
    case LR_RPC_EINTERNAL: return 500;
    default: return 400;
    }
}

static void check_error(const json_t *err, int status) {
    const json_t *code = json_object_get(err, "code"), *name = json_object_get(err, "name"),
                 *msg = json_object_get(err, "message");
    FUZZ_CHECK(json_is_object(err) && json_object_size(err) == 3 && json_is_integer(code) && json_is_string(name) &&
                   json_is_string(msg) && json_string_length(msg) > 0, "error is not {code, name, message}");
    json_int_t c = json_integer_value(code);
    FUZZ_CHECK(c >= 1 && c <= 9, "error code %lld", (long long)c);
    FUZZ_CHECK(strcmp(json_string_value(name), lr_rpc_code_name((int)c)) == 0, "error %lld named %s", (long long)c,
               json_string_value(name));
    FUZZ_CHECK(status == status_of((int)c), "status %d for error %lld", status, (long long)c);
    FUZZ_CHECK(c != LR_RPC_EUNKNOWN_METHOD && c != LR_RPC_EOVERLOADED && c != LR_RPC_EDEADLINE &&
                   c != LR_RPC_EUNAUTHORIZED, "error %lld from recommend", (long long)c);
}

/* The results checked as the msgpack-rpc harness checks recommend's: the JSON goes back to
 * msgpack (the bridge's other direction) and the request's params are the body's. */
static void check_results(const json_t *results, const lr_rpc_job *j) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    lr_err err = {0, ""};
    FUZZ_CHECK(lr_rpc_json_pack(&pk, results, &err) == LR_OK, "results cannot be packed: %s", err.msg);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    FUZZ_CHECK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS, "results do not unpack");
    fuzz_check_result(FM_RECOMMEND, &u.data, j->params, FW_D, 1);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_world_get();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_world *w = fuzz_world_get();
    lr_rpc_job *j = lr_rpc_job_new(LR_JOB_HTTP);
    FUZZ_CHECK(j, "out of memory");
    lr_rpc_fail f = {0, ""};
    if (lr_rpc_http_job_decode(j, (const char *)data, size, w->cfg.max_frame, &f)) lr_rpc_job_fail(j, &f);
    else lr_rpc_job_run(&w->ctx, j);
    FUZZ_CHECK(j->out.size > 0 && j->out.data[j->out.size - 1] == '\n', "the body does not end in a newline");
    json_error_t jerr;
    json_t *body = json_loadb(j->out.data, j->out.size - 1, 0, &jerr);
    FUZZ_CHECK(body && json_is_object(body) && json_object_size(body) == 1, "the body is not a JSON object of one key: %s",
               body ? "" : jerr.text);
    const json_t *results = json_object_get(body, "results"), *err = json_object_get(body, "error");
    FUZZ_CHECK(results || err, "the body has neither results nor error");
    if (results) {
        FUZZ_CHECK(j->http_status == 200, "results with status %d", j->http_status);
        check_results(results, j);
    } else {
        check_error(err, j->http_status);
    }
    json_decref(body);
    lr_rpc_job_free(j);
    fuzz_world_reset();
    return 0;
}
