/* The msgpack-rpc side of the server on arbitrary bytes: the input is what one connection sends.
 * It arrives in pieces, as from a socket (all at once, a few bytes at a time, or a few hundred,
 * chosen from the input's hash), and goes the server's way (rpc/server.c conn_process and
 * handle_frame, rpc/queue.c's workers): frames cut by the resumable scan, each decoded
 * (lr_rpc_job_decode), run against a loaded engine (lr_rpc_job_run: method lookup, params,
 * the engine, the answer's encoding) or answered at once (lr_rpc_job_fail), until the end of
 * the input or a frame the server refuses, after which it reads nothing more.
 *
 * Asserted: the pieces frame exactly as the whole input does; every request gets exactly one
 * answer, a single msgpack object [1, msgid, error, result] with the request's msgid (0 when it
 * had none), error nil or [known code, str], result nil on error and as docs/rpc.md describes on
 * success (hits: at most k, distinct, none excluded); a notification gets none; every str is
 * valid UTF-8 and no bin is sent; no admin method succeeds without the token. Admin calls change
 * the engine, and several frames of one input see each other's changes; the world is reset after
 * each input (fuzz_world_reset), so an input's outcome does not depend on the ones before. */
#include "fuzz_check.h"
#include "fuzz_world.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What the server owes a frame, from the harness's own reading of it. */
typedef struct {
    int answered;   /* a request, or anything that is not a well-formed notification */
    uint32_t msgid;
    int want;       /* the error code the answer must carry, 0 when it may succeed */
    int method;     /* FM_*, -1 when unknown */
    const msgpack_object *params;
} expect;

static void expect_of(const msgpack_object *o, expect *x) {
    *x = (expect){1, 0, LR_RPC_EBAD_REQUEST, -1, NULL};
    const msgpack_object *a = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.ptr : NULL;
    uint32_t n = a ? o->via.array.size : 0;
    int request = n == 4 && a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == 0;
    int notify = n == 3 && a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == 2 && fuzz_is_text(&a[1]);
    if (request) {
        if (a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[1].via.u64 > UINT32_MAX) return;
        x->msgid = (uint32_t)a[1].via.u64;
        if (!fuzz_is_text(&a[2])) return;
    } else if (!notify) {
        return;
    }
    x->answered = request;
    x->params = request ? &a[3] : &a[2];
    x->method = fuzz_method_of(request ? &a[2] : &a[1]);
    x->want = x->method < 0 ? LR_RPC_EUNKNOWN_METHOD : 0;
}

/* Every str in o is UTF-8; no bin, no ext. */
static int text_ok(const msgpack_object *o) {
    switch (o->type) {
    case MSGPACK_OBJECT_STR: return fuzz_utf8_ok((const unsigned char *)o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: case MSGPACK_OBJECT_EXT: return 0;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!text_ok(&o->via.array.ptr[i])) return 0;
        return 1;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (!text_ok(&o->via.map.ptr[i].key) || !text_ok(&o->via.map.ptr[i].val)) return 0;
        return 1;
    default: return 1;
    }
}

static int token_ok(const msgpack_object *params) {
    const msgpack_object *t = fuzz_field(fuzz_params_map(params), "token");
    return t && fuzz_text_is(t, FW_TOKEN);
}

static void check_answer(const char *p, size_t n, const expect *x) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    FUZZ_CHECK(msgpack_unpack_next(&u, p, n, &off) == MSGPACK_UNPACK_SUCCESS && off == n,
               "the answer (%zu bytes) is not one msgpack object", n);
    const msgpack_object *o = &u.data, *a = o->via.array.ptr;
    FUZZ_CHECK(o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == 4, "the answer is not an array of 4");
    FUZZ_CHECK(a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == 1, "the answer's type is not 1");
    FUZZ_CHECK(a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[1].via.u64 == x->msgid, "msgid %u expected", x->msgid);
    FUZZ_CHECK(text_ok(o), "the answer holds a str that is not UTF-8, or a bin");
    int admin = x->method >= FM_ADD;
    if (a[2].type == MSGPACK_OBJECT_NIL) {
        FUZZ_CHECK(x->want == 0, "success where error %d was due", x->want);
        FUZZ_CHECK(!admin || token_ok(x->params), "%s succeeded without the token", fuzz_methods[x->method]);
        fuzz_check_result(x->method, &a[3], x->params, FW_D, 0);
    } else {
        const msgpack_object *e = a[2].via.array.ptr;
        FUZZ_CHECK(a[2].type == MSGPACK_OBJECT_ARRAY && a[2].via.array.size == 2 &&
                       e[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && e[0].via.u64 >= 1 && e[0].via.u64 <= 9 &&
                       e[1].type == MSGPACK_OBJECT_STR && e[1].via.str.size > 0, "error is not [code 1..9, message]");
        FUZZ_CHECK(a[3].type == MSGPACK_OBJECT_NIL, "an error with a result");
        int code = (int)e[0].via.u64;
        if (x->want) FUZZ_CHECK(code == x->want, "error %d where %d was due", code, x->want);
        /* a known method is never unknown; nothing is queued here, so nothing overloads or waits */
        else FUZZ_CHECK(code != LR_RPC_EUNKNOWN_METHOD && code != LR_RPC_EOVERLOADED && code != LR_RPC_EDEADLINE,
                        "error %d from %s", code, fuzz_methods[x->method]);
        if (admin && !token_ok(x->params))
            FUZZ_CHECK(code == LR_RPC_EUNAUTHORIZED || code == LR_RPC_EBAD_REQUEST, "%s without the token: error %d",
                       fuzz_methods[x->method], code);
        if (code == LR_RPC_EUNAUTHORIZED) FUZZ_CHECK(admin && !token_ok(x->params), "unauthorized with the token");
    }
    msgpack_unpacked_destroy(&u);
}

/* One frame as handle_frame and a worker treat it; 1 when it is not msgpack (the server then
 * answers as for bad bytes and reads no more). */
static int handle_frame(fuzz_world *w, const unsigned char *fr, size_t len) {
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    expect x = {0};
    int ok = msgpack_unpack_next(&u, (const char *)fr, len, &off) == MSGPACK_UNPACK_SUCCESS;
    if (ok) expect_of(&u.data, &x);
    FUZZ_CHECK(!ok || off == len, "msgpack-c read %zu bytes of a %zu-byte frame", off, len);
    lr_rpc_job *j = lr_rpc_job_new(LR_JOB_RPC);
    FUZZ_CHECK(j, "out of memory");
    lr_rpc_fail f = {0, ""};
    int rc = lr_rpc_job_decode(j, fr, len, &f);
    FUZZ_CHECK((rc < 0) == !ok, "the server %s a frame msgpack-c %s", rc < 0 ? "refused" : "took", ok ? "reads" : "refuses");
    if (rc >= 0) {
        FUZZ_CHECK(x.answered == (j->kind == LR_JOB_RPC), "a frame taken for a %s", x.answered ? "notification" : "request");
        if (rc == LR_RPC_OK) lr_rpc_job_run(&w->ctx, j);
        else lr_rpc_job_fail(j, &f);
        if (x.answered) check_answer(j->out.data, j->out.size, &x);
        else FUZZ_CHECK(j->out.size == 0, "a notification was answered");
    }
    lr_rpc_job_free(j);
    msgpack_unpacked_destroy(&u);
    return rc < 0;
}

/* The server's answer to bytes it cannot frame, before it stops reading. */
static void frame_refused(long r) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    lr_rpc_pack_response(&sb, 0, LR_RPC_EBAD_REQUEST, lr_rpc_frame_problem(r), NULL);
    expect x = {1, 0, LR_RPC_EBAD_REQUEST, -1, NULL};
    check_answer(sb.data, sb.size, &x);
    msgpack_sbuffer_destroy(&sb);
}

/* The frames of the whole input, scanned in one piece: lengths (> 0), then a negative
 * LR_FRAME_* or, when the input ends inside a frame, LR_FRAME_INCOMPLETE. */
static size_t scan_whole(const uint8_t *d, size_t n, size_t max_frame, long *ev) {
    size_t m = 0;
    for (size_t off = 0; off < n;) {
        lr_frame_scan s = {0};
        long r = lr_rpc_frame_scan_next(&s, d + off, n - off, max_frame);
        ev[m++] = r;
        if (r <= 0) break;
        off += (size_t)r;
    }
    return m;
}

/* How many bytes the next read brings: mode 0 all, 1 up to 8, 2 up to 300. */
static size_t next_piece(uint32_t *rng, int mode, size_t left) {
    if (mode == 0) return left;
    *rng = *rng * 1103515245u + 12345u;
    size_t k = 1 + (*rng >> 16) % (mode == 1 ? 8u : 300u);
    return k < left ? k : left;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_world_get();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_world *w = fuzz_world_get();
    long *ev = malloc((size + 1) * sizeof *ev);
    unsigned char *buf = malloc(size ? size : 1);
    FUZZ_CHECK(ev && buf, "out of memory");
    size_t n_ev = scan_whole(data, size, w->cfg.max_frame, ev), e = 0, len = 0, fed = 0;
    uint32_t rng = 2166136261u; /* FNV-1a of the input: the same pieces on every replay */
    for (size_t i = 0; i < size; i++) rng = (rng ^ data[i]) * 16777619u;
    int mode = (int)(rng % 3);
    lr_frame_scan scan = {0};
    for (;;) { /* conn_process's loop */
        long r = len ? lr_rpc_frame_scan_next(&scan, buf, len, w->cfg.max_frame) : LR_FRAME_INCOMPLETE;
        if (r != LR_FRAME_INCOMPLETE)
            FUZZ_CHECK(e < n_ev && ev[e] == r, "in pieces: %ld, in one piece: %ld", r, e < n_ev ? ev[e] : 0);
        if (r > 0) {
            e++;
            int bad = handle_frame(w, buf, (size_t)r);
            memmove(buf, buf + r, len - (size_t)r);
            len -= (size_t)r;
            scan = (lr_frame_scan){0};
            if (!bad) continue;
            r = LR_FRAME_BAD;
        }
        if (r < 0) {
            frame_refused(r);
            break;
        }
        if (fed == size) {
            FUZZ_CHECK(len ? e + 1 == n_ev && ev[e] == LR_FRAME_INCOMPLETE : e == n_ev, "the input ends differently");
            break;
        }
        size_t k = next_piece(&rng, mode, size - fed);
        memcpy(buf + len, data + fed, k);
        len += k, fed += k;
    }
    free(ev);
    free(buf);
    fuzz_world_reset();
    return 0;
}
