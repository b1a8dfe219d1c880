/* The world the server tests run in (test_server.c, test_limits.c): random towers over 320
 * random items, an IVF-Flat index, a server on 127.0.0.1 with its loop on a thread; a raw
 * client that writes frames by hand and decodes answers with msgpack-c; a request builder. */
#ifndef LR_TEST_SERVER_WORLD_H
#define LR_TEST_SERVER_WORLD_H

#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>

#include "lr_data.h"
#include "lr_index.h"
#include "lr_rpc.h"
#include "lr_towers.h"

#define N_ITEMS 320
#define DC 24

typedef struct {
    char *dir;
    char model[4200], content[4200], index[4200];
    lr_pal *pal;
    lr_content *ct;
    float items[N_ITEMS * 16];
    lr_rpc_engine *engine;
    lr_rpc_server *server;
    pthread_t loop;
    int run_rc;
    atomic_llong now_ms; /* the queue's clock, for the cases that install it (world_clock) */
} world;

/* The queue's clock for the cases that install it (lr_rpc_queue_set_clock(s, world_clock, w)). */
double world_clock(void *arg);
/* Publishes the world's item vectors with `factory` as the next version of w->index. */
/* Whether the world's item id has value for attr ("brand", "category"). */
int world_attr_has(int64_t id, const char *attr, const char *value);
int publish(world *w, const char *factory, lr_err *err);
/* Random towers, random content, the item tower's outputs in an IVF-Flat index, a server with
 * config sc listening on 127.0.0.1:0 (msgpack-rpc and HTTP). */
int world_up(world *w, lr_rpc_server_config sc, lr_err *err);
void world_down(world *w);

/* ---- a raw client: frames by hand, answers decoded with msgpack-c ------------------------- */

typedef struct {
    int fd;
    msgpack_unpacker up;
} raw;

int raw_open(raw *r, int port); /* 0 once connected */
void raw_close(raw *r);
void raw_send(raw *r, const void *buf, size_t n);
/* The next decoded object (into res, which the caller destroys); 0 on EOF or 5 s of silence. */
int raw_next(raw *r, msgpack_unpacked *res);
void pk_str(msgpack_packer *pk, const char *s);
/* [0, msgid, method, {history: h, k: k}] */
void pack_recommend(msgpack_packer *pk, uint32_t msgid, const int64_t *h, size_t n, int k);
/* n recommend requests for the same history in one write, msgids 0 .. n-1. */
void pipeline_recommends(raw *r, size_t n, const int64_t *h, size_t len, int k);

/* Sends one frame built by `build` and returns its answer's error code (0: ok); the result is
 * left in res for the caller. */
typedef void (*build_fn)(msgpack_packer *pk, void *arg);
int call(raw *r, build_fn build, void *arg, msgpack_unpacked *res);
const msgpack_object *result_of(const msgpack_unpacked *res);

/* A request from a format and arguments: "m" method, then a map of "key": value pairs with
 * i = int64, f = float vector (n, ptr), h = id array (n, ptr), s = str, b = bool. */
typedef struct {
    const char *method;
    int as_bin, wrap;
    size_t n_fields;
    struct {
        const char *key;
        char type;
        int64_t i;
        size_t n;
        const int64_t *ids;
        const float *f;
        const char *s;
    } f[6];
} req;

void build_req(msgpack_packer *pk, void *arg); /* a build_fn for a req */
/* The hits [[id, score], ...] of a result, at most cap of them; -1 when it is not an array. */
int hits_of(const msgpack_object *o, int64_t *ids, float *scores, size_t cap);
/* The next answer's msgid and error code (0: ok; -1: no answer), its error message into msg. */
int next_answer(raw *r, uint32_t *msgid, char *msg, size_t cap);
/* Sends `request` to 127.0.0.1:port and reads until the server closes or 5 s of silence: the
 * bytes read, into out (NUL-terminated), or -1 when it cannot connect. */
int http_get(int port, const char *request, char *out, size_t cap);

#endif
