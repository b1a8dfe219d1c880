/* The HTTP side (evhttp, on the same loop): /healthz, /metrics, and POST /recommend with JSON for
 * curl users, which goes through the same queue and method code as msgpack-rpc. */
#include <stdlib.h>
#include <string.h>

#include "json_bridge.h"
#include "server_internal.h"

static void reply_text(struct evhttp_request *req, int status, const char *type, const char *body) {
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_add(b, body, strlen(body));
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", b);
    evbuffer_free(b);
}

static void reply_json_error(struct evhttp_request *req, int status, int code, const char *msg) {
    json_t *o = json_pack("{s:o}", "error", lr_rpc_json_error(code, msg));
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    reply_text(req, status, "application/json", text ? text : "{}");
    free(text);
    json_decref(o);
}

/* The client went away before its answer: the job must not touch the freed request. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg) {
    (void)evcon;
    lr_rpc_job *j = arg;
    j->req = NULL;
}

int lr_rpc_http_job_decode(lr_rpc_job *j, const char *body, size_t len, size_t max_frame, lr_rpc_fail *f) {
    if (len > max_frame)
        return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "request body larger than the server's limit (--max-frame)");
    json_error_t jerr;
    json_t *params = json_loadb(body, len, 0, &jerr);
    if (!params || !json_is_object(params)) {
        json_decref(params);
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "the body must be a JSON object: %s",
                            params ? "got another JSON value" : jerr.text);
    }
    lr_err err = {0, ""};
    msgpack_packer pk;
    msgpack_packer_init(&pk, &j->params_buf, msgpack_sbuffer_write);
    size_t off = 0;
    int rc = LR_RPC_OK;
    if (lr_rpc_json_pack(&pk, params, &err) ||
        msgpack_unpack_next(&j->msg, j->params_buf.data, j->params_buf.size, &off) != MSGPACK_UNPACK_SUCCESS)
        rc = lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "%s", err.msg[0] ? err.msg : "cannot read the JSON body");
    json_decref(params);
    if (rc) return rc;
    j->params = &j->msg.data;
    j->method = lr_rpc_method_find("recommend", 9);
    return LR_RPC_OK;
}

static void post_recommend(lr_rpc_server *s, struct evhttp_request *req) {
    struct evbuffer *body = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body);
    lr_rpc_job *j = lr_rpc_job_new(LR_JOB_HTTP);
    if (!j) {
        reply_json_error(req, 500, LR_RPC_EINTERNAL, "out of memory");
        return;
    }
    lr_rpc_fail f = {0, ""};
    /* evhttp refuses a body above max_frame + 1 bytes, so pulling it up costs at most that */
    if (lr_rpc_http_job_decode(j, (const char *)evbuffer_pullup(body, -1), len, s->cfg.max_frame, &f)) {
        lr_rpc_job_fail(j, &f); /* the JSON error body and its status */
        j->req = req;
        lr_rpc_http_finish(s, j);
        return;
    }
    j->req = req;
    if (lr_rpc_enqueue(s, j) != LR_RPC_OK) {
        lr_rpc_metrics_observe(&s->metrics, j->method, LR_RPC_EOVERLOADED, 0.0);
        lr_rpc_job_free(j);
        reply_json_error(req, 503, LR_RPC_EOVERLOADED, "the server's queue is full; retry later");
        return;
    }
    evhttp_connection_set_closecb(evhttp_request_get_connection(req), on_conn_close, j);
}

void lr_rpc_http_finish(lr_rpc_server *s, lr_rpc_job *j) {
    (void)s;
    if (j->req) {
        evhttp_connection_set_closecb(evhttp_request_get_connection(j->req), NULL, NULL);
        struct evbuffer *b = evbuffer_new();
        if (b) {
            evbuffer_add(b, j->out.data, j->out.size);
            evhttp_add_header(evhttp_request_get_output_headers(j->req), "Content-Type", "application/json");
            evhttp_send_reply(j->req, j->http_status, j->http_status == 200 ? "OK" : "Error", b);
            evbuffer_free(b);
        } else {
            evhttp_send_error(j->req, 500, "out of memory");
        }
    }
    lr_rpc_job_free(j);
}

static void on_request(struct evhttp_request *req, void *arg) {
    lr_rpc_server *s = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (!path) path = "";
    if (strcmp(path, "/healthz") == 0 && cmd == EVHTTP_REQ_GET) {
        /* 200 "ok VERSION" only when the server takes new work on its version; a load balancer
         * takes it out of rotation on 503 (docs/operations.md) */
        lr_rpc_engine_stats st;
        lr_rpc_engine_get_stats(s->engine, &st);
        const char *unready = lr_rpc_engine_unready(s->engine, &s->leaving);
        char body[96];
        snprintf(body, sizeof body, "%s %s\n", unready ? unready : "ok", st.version);
        reply_text(req, unready ? 503 : 200, "text/plain", body);
    } else if (strcmp(path, "/metrics") == 0 && cmd == EVHTTP_REQ_GET) {
        unsigned long long out = 0; /* the connections are the loop thread's, as is this call */
        for (const lr_rpc_conn *c = s->conns; c; c = c->next)
            out += evbuffer_get_length(bufferevent_get_output(c->bev));
        atomic_store(&s->metrics.output_bytes, out);
        char *text = lr_rpc_metrics_render(&s->metrics, s->engine);
        if (text) reply_text(req, 200, "text/plain; version=0.0.4", text);
        else evhttp_send_error(req, 500, "out of memory");
        free(text);
    } else if (strcmp(path, "/recommend") == 0 && cmd == EVHTTP_REQ_POST) {
        if (s->draining) reply_json_error(req, 503, LR_RPC_EOVERLOADED, "the server is shutting down");
        else post_recommend(s, req);
    } else if (!strcmp(path, "/healthz") || !strcmp(path, "/metrics") || !strcmp(path, "/recommend")) {
        evhttp_send_error(req, 405, "method not allowed: GET /healthz, GET /metrics, POST /recommend");
    } else {
        evhttp_send_error(req, 404, "not found: GET /healthz, GET /metrics, POST /recommend");
    }
}

int lr_rpc_http_start(lr_rpc_server *s, lr_err *err) {
    char host[256], digits[32], *end;
    int rc = lr_rpc_split_addr(s->http_addr, host, sizeof host, digits, sizeof digits, err);
    if (rc) return rc;
    long port = strtol(digits, &end, 10);
    if (*end || port < 0 || port > 65535) return lr_err_set(err, LR_EINVAL, "'%s': the port must be 0 .. 65535", s->http_addr);
    if (!(s->http = evhttp_new(s->base))) return lr_err_set(err, LR_ENOMEM, "cannot create the HTTP server");
    evhttp_set_max_body_size(s->http, (ev_ssize_t)s->cfg.max_frame + 1);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_gencb(s->http, on_request, s);
    /* evhttp's one timeout closes a connection that neither sends nor takes bytes for this long,
     * between requests too: HTTP is for probes, scrapes and curl, which reconnect at no cost,
     * so it gets the short frame timeout, not the keep-alive one (its default: none at all) */
    struct timeval tv = {s->cfg.frame_timeout_ms / 1000, (s->cfg.frame_timeout_ms % 1000) * 1000};
    evhttp_set_timeout_tv(s->http, &tv);
    if (!(s->http_sock = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port)))
        return lr_err_set(err, LR_EIO, "cannot listen for HTTP on %s", s->http_addr);
    s->http_port = lr_rpc_bound_port(evhttp_bound_socket_get_fd(s->http_sock));
    return LR_OK;
}
