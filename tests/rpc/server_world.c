/* The world the server tests run in: server_world.h. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lr_test.h"
#include "server_internal.h" /* the queue's test hooks */
#include "server_world.h"

double world_clock(void *arg) { return (double)atomic_load(&((world *)arg)->now_ms) / 1000.0; }

static void *run_loop(void *arg) {
    world *w = arg;
    lr_err err = {0};
    w->run_rc = lr_rpc_server_run(w->server, 0, &err);
    return NULL;
}

/* Item i: brand "b<i % 7>" (none when i % 10 == 9), category levels "top<i % 3>" and
 * "sub<i % 11>": world_attr_has tells which item has which value. */
static int world_attrs(lr_index_attrs **out, lr_err *err) {
    static const char *const brands[] = {"b0", "b1", "b2", "b3", "b4", "b5", "b6"};
    static const char *const cats[] = {"top0", "top1", "top2", "sub0", "sub1", "sub2", "sub3", "sub4", "sub5",
                                       "sub6", "sub7", "sub8", "sub9", "sub10"};
    size_t boff[N_ITEMS + 1], coff[N_ITEMS + 1];
    uint32_t bids[N_ITEMS], cids[2 * N_ITEMS];
    boff[0] = coff[0] = 0;
    for (size_t i = 0; i < N_ITEMS; i++) {
        boff[i + 1] = boff[i];
        if (i % 10 != 9) bids[boff[i + 1]++] = (uint32_t)(i % 7);
        cids[2 * i] = (uint32_t)(i % 3), cids[2 * i + 1] = (uint32_t)(3 + i % 11);
        coff[i + 1] = 2 * (i + 1);
    }
    int rc = lr_index_attrs_new(N_ITEMS, out, err);
    if (!rc) rc = lr_index_attrs_add(*out, "brand", brands, 7, boff, bids, err);
    if (!rc) rc = lr_index_attrs_add(*out, "category", cats, 14, coff, cids, err);
    return rc;
}

int world_attr_has(int64_t id, const char *attr, const char *value) {
    char want[16];
    if (id < 0 || id >= N_ITEMS) return 0;
    if (strcmp(attr, "brand") == 0) {
        snprintf(want, sizeof want, "b%d", (int)(id % 7));
        return id % 10 != 9 && strcmp(value, want) == 0;
    }
    snprintf(want, sizeof want, "top%d", (int)(id % 3));
    if (strcmp(value, want) == 0) return 1;
    snprintf(want, sizeof want, "sub%d", (int)(id % 11));
    return strcmp(value, want) == 0;
}

int publish(world *w, const char *factory, lr_err *err) {
    char mcrc[9], ccrc[9];
    lr_index *ix = NULL;
    lr_index_attrs *attrs = NULL;
    int rc = lr_index_file_checksum(w->model, mcrc, err);
    if (!rc) rc = lr_index_file_checksum(w->content, ccrc, err);
    if (!rc) rc = lr_index_build(w->items, N_ITEMS, 16, NULL, factory, &ix, err);
    if (!rc) rc = world_attrs(&attrs, err);
    if (!rc) lr_index_set_attrs(ix, attrs);
    else lr_index_attrs_free(attrs);
    if (!rc && lr_index_nprobe(ix)) rc = lr_index_set_nprobe(ix, 8, err);
    lr_index_kv meta[2] = {{"model", mcrc}, {"content", ccrc}};
    lr_index_publish_opts po = {.meta = meta, .n_meta = 2};
    if (!rc) rc = lr_index_publish(ix, w->index, &po, NULL, err);
    lr_index_free(ix);
    return rc;
}

/* Random towers, random content, the item tower's outputs in an IVF-Flat index, a server. */
int world_up(world *w, lr_rpc_server_config sc, lr_err *err) {
    memset(w, 0, sizeof *w);
    if (!(w->dir = lr_test_tmpdir())) return lr_err_set(err, LR_EIO, "no temporary directory");
    lr_test_path(w->model, sizeof w->model, w->dir, "m.safetensors");
    lr_test_path(w->content, sizeof w->content, w->dir, "c.npy");
    lr_test_path(w->index, sizeof w->index, w->dir, "ix");
    lr_pal_config cfg = lr_towers_pal_config_default();
    cfg.content_dim = DC, cfg.hidden = 32, cfg.heads = 2, cfg.out_dim = 16, cfg.max_len = 20, cfg.dropout = 0;
    float *c = malloc(N_ITEMS * DC * sizeof *c);
    uint64_t s = 7;
    for (size_t i = 0; c && i < N_ITEMS * DC; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        c[i] = (float)((s >> 33) % 2001) / 1000.0f - 1.0f;
    }
    int rc = c ? lr_towers_pal_new(&cfg, 3, &w->pal, err) : lr_err_set(err, LR_ENOMEM, "oom");
    if (!rc) rc = lr_towers_pal_save(w->pal, w->model, NULL, NULL, 0, err);
    if (!rc) rc = lr_data_npy_write(w->content, c, N_ITEMS, DC, LR_NPY_F32, err);
    free(c);
    if (!rc) rc = lr_data_matrix_open(w->content, N_ITEMS, &w->ct, err);
    if (!rc) rc = lr_towers_item_embed(w->pal, w->ct, NULL, N_ITEMS, w->items, err);
    if (!rc) rc = publish(w, "IVF8,Flat", err);
    lr_rpc_engine_config ec = {w->index, w->model, w->content, NULL, NULL, NULL};
    if (!rc) rc = lr_rpc_engine_open(&ec, &w->engine, err);
    sc.listen = "127.0.0.1:0";
    sc.http = "127.0.0.1:0";
    if (!rc) rc = lr_rpc_server_new(&sc, w->engine, &w->server, err);
    if (!rc && pthread_create(&w->loop, NULL, run_loop, w)) rc = lr_err_set(err, LR_EIO, "no thread");
    return rc;
}

void world_down(world *w) {
    if (w->server) {
        lr_rpc_workers_release(w->server, LR_RPC_RELEASE_ALL); /* a case may have held them */
        lr_rpc_server_stop(w->server);
        pthread_join(w->loop, NULL);
    }
    lr_rpc_server_free(w->server);
    lr_rpc_engine_free(w->engine);
    lr_data_matrix_free(w->ct);
    lr_towers_pal_free(w->pal);
    if (w->dir) lr_test_rmdir(w->dir);
}

/* ---- a raw client: frames by hand, answers decoded with msgpack-c ------------------------- */


int raw_open(raw *r, int port) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    r->fd = socket(AF_INET, SOCK_STREAM, 0);
    msgpack_unpacker_init(&r->up, 1 << 16);
    return connect(r->fd, (struct sockaddr *)&a, sizeof a);
}

void raw_close(raw *r) {
    close(r->fd);
    msgpack_unpacker_destroy(&r->up);
}

void raw_send(raw *r, const void *buf, size_t n) {
    const char *p = buf;
    while (n) {
        ssize_t k = send(r->fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return;
        p += k, n -= (size_t)k;
    }
}

/* The next decoded object (into res, which the caller destroys); 0 on EOF or 5 s of silence. */
int raw_next(raw *r, msgpack_unpacked *res) {
    for (;;) {
        if (msgpack_unpacker_next(&r->up, res) == MSGPACK_UNPACK_SUCCESS) return 1;
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) return 0;
        msgpack_unpacker_reserve_buffer(&r->up, 65536);
        ssize_t k = recv(r->fd, msgpack_unpacker_buffer(&r->up), 65536, 0);
        if (k <= 0) return 0;
        msgpack_unpacker_buffer_consumed(&r->up, (size_t)k);
    }
}

void pk_str(msgpack_packer *pk, const char *s) {
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

/* [0, msgid, method, {history: h, k: k}] */
void pack_recommend(msgpack_packer *pk, uint32_t msgid, const int64_t *h, size_t n, int k) {
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 0);
    msgpack_pack_uint32(pk, msgid);
    pk_str(pk, "recommend");
    msgpack_pack_map(pk, 2);
    pk_str(pk, "history");
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) msgpack_pack_int64(pk, h[i]);
    pk_str(pk, "k");
    msgpack_pack_int(pk, k);
}

/* n recommend requests for the same history in one write, msgids 0 .. n-1. */
void pipeline_recommends(raw *r, size_t n, const int64_t *h, size_t len, int k) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (uint32_t i = 0; i < n; i++) pack_recommend(&pk, i, h, len, k);
    raw_send(r, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Sends one frame built by `build` and returns its answer's error code (0: ok); the result is
 * left in res for the caller. */

int call(raw *r, build_fn build, void *arg, msgpack_unpacked *res) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    build(&pk, arg);
    raw_send(r, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    if (!raw_next(r, res)) return -1;
    const msgpack_object *o = &res->data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4) return -2;
    const msgpack_object *e = &o->via.array.ptr[2];
    if (e->type == MSGPACK_OBJECT_NIL) return 0;
    return e->type == MSGPACK_OBJECT_ARRAY && e->via.array.size == 2 ? (int)e->via.array.ptr[0].via.i64 : -3;
}

const msgpack_object *result_of(const msgpack_unpacked *res) { return &res->data.via.array.ptr[3]; }


void build_req(msgpack_packer *pk, void *arg) {
    const req *q = arg;
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 0);
    msgpack_pack_uint32(pk, 42);
    if (q->as_bin) {
        msgpack_pack_bin(pk, strlen(q->method));
        msgpack_pack_bin_body(pk, q->method, strlen(q->method));
    } else {
        pk_str(pk, q->method);
    }
    if (q->wrap) msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, q->n_fields);
    for (size_t i = 0; i < q->n_fields; i++) {
        pk_str(pk, q->f[i].key);
        switch (q->f[i].type) {
        case 'i': msgpack_pack_int64(pk, q->f[i].i); break;
        case 's': pk_str(pk, q->f[i].s); break;
        case 'b': q->f[i].i ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
        case 'h':
            msgpack_pack_array(pk, q->f[i].n);
            for (size_t j = 0; j < q->f[i].n; j++) msgpack_pack_int64(pk, q->f[i].ids[j]);
            break;
        case 'f':
            msgpack_pack_array(pk, q->f[i].n);
            for (size_t j = 0; j < q->f[i].n; j++) msgpack_pack_float(pk, q->f[i].f[j]);
            break;
        }
    }
}

int hits_of(const msgpack_object *o, int64_t *ids, float *scores, size_t cap) {
    if (o->type != MSGPACK_OBJECT_ARRAY) return -1;
    size_t n = o->via.array.size < cap ? o->via.array.size : cap;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *p = o->via.array.ptr[i].via.array.ptr;
        ids[i] = p[0].via.i64;
        scores[i] = (float)p[1].via.f64;
    }
    return (int)n;
}

/* The next answer's msgid and error code (0: ok; -1: no answer), its error message into msg. */
int next_answer(raw *r, uint32_t *msgid, char *msg, size_t cap) {
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    int code = -1;
    msg[0] = 0;
    if (raw_next(r, &res) && res.data.type == MSGPACK_OBJECT_ARRAY && res.data.via.array.size == 4) {
        const msgpack_object *a = res.data.via.array.ptr, *e = &a[2];
        *msgid = (uint32_t)a[1].via.u64;
        code = e->type == MSGPACK_OBJECT_NIL ? 0 : (int)e->via.array.ptr[0].via.i64;
        if (code) snprintf(msg, cap, "%.*s", (int)e->via.array.ptr[1].via.str.size, e->via.array.ptr[1].via.str.ptr);
    }
    msgpack_unpacked_destroy(&res);
    return code;
}

int http_get(int port, const char *request, char *out, size_t cap) {
    raw r;
    if (raw_open(&r, port)) return -1;
    raw_send(&r, request, strlen(request));
    size_t len = 0;
    for (;;) {
        struct pollfd p = {r.fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0) break;
        ssize_t k = recv(r.fd, out + len, cap - 1 - len, 0);
        if (k <= 0) break;
        len += (size_t)k;
    }
    out[len] = 0;
    raw_close(&r);
    return (int)len;
}
