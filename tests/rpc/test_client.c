/* Tests of the client's reconnection (rpc/client.c) against a scripted server: a thread that
 * accepts connections one after another and, per connection, drops the first request, answers
 * every request, or closes before reading anything. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <msgpack.h>

#include "lr_rpc.h"
#include "lr_test.h"

typedef enum { DROP, ANSWER, CLOSE_IDLE } conn_act;

typedef struct {
    int listen_fd, port;
    conn_act script[4];
    size_t n_script;
    size_t requests; /* frames read, over all connections */
    char methods[8][32];
} fake_server;

/* Reads one request frame; its msgid and method into *id / m. 0 at EOF or on a bad frame. */
static int read_request(int fd, msgpack_unpacker *up, uint32_t *id, char *m, size_t cap) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    for (;;) {
        if (msgpack_unpacker_next(up, &u) == MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *a = u.data.via.array.ptr;
            *id = (uint32_t)a[1].via.u64;
            size_t n = a[2].via.str.size < cap - 1 ? a[2].via.str.size : cap - 1;
            memcpy(m, a[2].via.str.ptr, n);
            m[n] = 0;
            msgpack_unpacked_destroy(&u);
            return 1;
        }
        msgpack_unpacker_reserve_buffer(up, 4096);
        ssize_t n = recv(fd, msgpack_unpacker_buffer(up), msgpack_unpacker_buffer_capacity(up), 0);
        if (n <= 0) {
            msgpack_unpacked_destroy(&u);
            return 0;
        }
        msgpack_unpacker_buffer_consumed(up, (size_t)n);
    }
}

/* [1, id, nil, result]: [[7, 0.5]] for recommend, "pong" for ping, "ok" otherwise. */
static void answer(int fd, uint32_t id, const char *method) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_uint32(&pk, id);
    msgpack_pack_nil(&pk);
    if (strcmp(method, "recommend") == 0) {
        msgpack_pack_array(&pk, 1);
        msgpack_pack_array(&pk, 2);
        msgpack_pack_int(&pk, 7);
        msgpack_pack_float(&pk, 0.5f);
    } else {
        const char *r = strcmp(method, "ping") == 0 ? "pong" : "ok";
        msgpack_pack_str_with_body(&pk, r, strlen(r));
    }
    (void)!send(fd, sb.data, sb.size, MSG_NOSIGNAL);
    msgpack_sbuffer_destroy(&sb);
}

static void *serve(void *arg) {
    fake_server *f = arg;
    for (size_t k = 0; k < f->n_script; k++) {
        int fd = accept(f->listen_fd, NULL, NULL);
        if (fd < 0) break;
        msgpack_unpacker up;
        msgpack_unpacker_init(&up, 4096);
        uint32_t id;
        char m[32];
        if (f->script[k] != CLOSE_IDLE)
            while (read_request(fd, &up, &id, m, sizeof m)) {
                if (f->requests < 8) strcpy(f->methods[f->requests], m);
                f->requests++;
                if (f->script[k] == DROP) break;
                answer(fd, id, m);
            }
        msgpack_unpacker_destroy(&up);
        close(fd);
    }
    return NULL;
}

static int start(fake_server *f, pthread_t *th) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (f->listen_fd < 0 || bind(f->listen_fd, (struct sockaddr *)&a, sizeof a) || listen(f->listen_fd, 8) ||
        getsockname(f->listen_fd, (struct sockaddr *)&a, &len))
        return -1;
    f->port = ntohs(a.sin_port);
    return pthread_create(th, NULL, serve, f);
}

/* A scripted server on its thread and a client connected to it. */
typedef struct {
    fake_server f;
    pthread_t th;
    lr_rpc_client *c;
} scene;

/* The server takes connections with the actions of script in turn (n of them, at most 4). */
static int scene_up(scene *s, const conn_act *script, size_t n, lr_err *err) {
    s->f = (fake_server){.n_script = n};
    memcpy(s->f.script, script, n * sizeof *script);
    s->c = NULL;
    if (start(&s->f, &s->th)) return lr_err_set(err, LR_EIO, "cannot start the scripted server");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s->f.port);
    return lr_rpc_client_connect(addr, 2000, &s->c, err);
}

/* Closes the client, then waits for the server's thread (it ends after its script). */
static void scene_down(scene *s) {
    lr_rpc_client_close(s->c);
    pthread_join(s->th, NULL);
    close(s->f.listen_fd);
}

LR_TEST(a_dropped_recommend_is_sent_once_more_on_a_new_connection) {
    scene s;
    lr_err err = {0};
    CHECK_OK(scene_up(&s, (conn_act[]){DROP, ANSWER}, 2, &err), err);
    const int64_t hist[] = {1, 2};
    lr_rpc_hit hits[3];
    size_t n = 0;
    CHECK_OK(lr_rpc_client_recommend(s.c, hist, 2, 3, hits, &n, NULL, &err), err);
    CHECK(n == 1 && hits[0].id == 7);
    CHECK_EQ(lr_rpc_client_retries(s.c), 1);
    CHECK_EQ(lr_rpc_client_reconnects(s.c), 1);
    scene_down(&s);
    CHECK_EQ(s.f.requests, 2);
}

/* add_items may have been done before the drop: reported, not repeated; the next call dials
 * again. */
LR_TEST(a_dropped_call_that_changes_the_server_is_reported_not_repeated) {
    scene s;
    lr_err err = {0};
    char *res = NULL;
    CHECK_OK(scene_up(&s, (conn_act[]){DROP, ANSWER}, 2, &err), err);
    CHECK_ERR(lr_rpc_client_call_json(s.c, "add_items", "{\"items\": []}", &res, NULL, &err), err, LR_EIO,
              "closed the connection before answering add_items");
    CHECK_EQ(lr_rpc_client_retries(s.c), 0);
    CHECK_OK(lr_rpc_client_call_json(s.c, "ping", NULL, &res, NULL, &err), err);
    CHECK(res && strcmp(res, "\"pong\"") == 0);
    free(res);
    CHECK_EQ(lr_rpc_client_reconnects(s.c), 1);
    scene_down(&s);
    CHECK(s.f.requests == 2 && strcmp(s.f.methods[0], "add_items") == 0 && strcmp(s.f.methods[1], "ping") == 0);
}

/* A connection the server closed while it waited (idle timeout, restart) is dialled again before
 * anything is sent: then even add_items is safe to send. */
LR_TEST(a_connection_closed_while_idle_is_dialled_again_before_sending) {
    scene s;
    lr_err err = {0};
    char *res = NULL;
    CHECK_OK(scene_up(&s, (conn_act[]){CLOSE_IDLE, ANSWER}, 2, &err), err);
    usleep(100 * 1000); /* the server closes it meanwhile */
    CHECK_OK(lr_rpc_client_call_json(s.c, "add_items", "{\"items\": []}", &res, NULL, &err), err);
    free(res);
    CHECK_EQ(lr_rpc_client_retries(s.c), 0);
    CHECK_EQ(lr_rpc_client_reconnects(s.c), 1);
    scene_down(&s);
    CHECK_EQ(s.f.requests, 1);
}

/* Two resends, not more: a call dropped three times fails. */
LR_TEST(a_call_dropped_three_times_fails) {
    scene s;
    lr_err err = {0};
    char *res = NULL;
    CHECK_OK(scene_up(&s, (conn_act[]){DROP, DROP, DROP}, 3, &err), err);
    CHECK_ERR(lr_rpc_client_call_json(s.c, "stats", NULL, &res, NULL, &err), err, LR_EIO,
              "closed the connection before answering stats");
    CHECK_EQ(lr_rpc_client_retries(s.c), 2);
    scene_down(&s);
    CHECK_EQ(s.f.requests, 3);
}

LR_TEST_MAIN(LR_CASE(a_dropped_recommend_is_sent_once_more_on_a_new_connection),
             LR_CASE(a_dropped_call_that_changes_the_server_is_reported_not_repeated),
             LR_CASE(a_connection_closed_while_idle_is_dialled_again_before_sending),
             LR_CASE(a_call_dropped_three_times_fails))
