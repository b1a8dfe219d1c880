/* The server in-process, driven over real sockets with hand-made msgpack frames: results against
 * the offline path, pipelining, typed errors, bad bytes, admin methods, reload, overload, HTTP, a
 * graceful stop, and answers in valid UTF-8 whatever bytes came in (with the escaper of
 * rpc/utf8.c, which has no test file of its own). The world is small: random towers over 320
 * random items, an IVF-Flat index. */
#include <arpa/inet.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "lr_data.h"
#include "lr_index.h"
#include "lr_rpc.h"
#include "lr_test.h"
#include "lr_towers.h"
#include "json_bridge.h"  /* jansson, which lr_rpc links, to parse the HTTP bodies */
#include "server_internal.h" /* lr_rpc_field; the UTF-8 escaper; the queue's test hooks */
#include "server_world.h"    /* the world, the raw client, the request builder */

/* ---- the cases ---------------------------------------------------------------------------- */

/* recommend = encode_user + search = the towers and exact search run offline. */
LR_TEST(recommend_equals_encode_then_search_and_the_offline_path) {
    world w;
    lr_err err = {0};
    int rc = world_up(&w, lr_rpc_server_config_default(), &err);
    raw r = {-1, {0}};
    int64_t hist[5] = {3, 17, 250, 4, 99};
    if (!rc) rc = raw_open(&r, lr_rpc_server_port(w.server));
    msgpack_unpacked a, b, c;
    msgpack_unpacked_init(&a), msgpack_unpacked_init(&b), msgpack_unpacked_init(&c);
    int64_t ids_a[10], ids_c[10], exact[10];
    float sa[10], sc_[10], se[10], u[16], v[16];
    int na = -1, nc = -1;
    if (!rc) {
        req rq = {"recommend", 0, 0, 2, {{"history", 'h', 0, 5, hist, NULL, NULL}, {"k", 'i', 10, 0, NULL, NULL, NULL}}};
        CHECK_EQ(call(&r, build_req, &rq, &a), 0);
        na = hits_of(result_of(&a), ids_a, sa, 10);
        req re = {"encode_user", 0, 0, 1, {{"history", 'h', 0, 5, hist, NULL, NULL}}};
        CHECK_EQ(call(&r, build_req, &re, &b), 0);
        const msgpack_object *vo = result_of(&b);
        CHECK_EQ(vo->via.array.size, 16);
        for (int i = 0; i < 16; i++) u[i] = (float)vo->via.array.ptr[i].via.f64;
        req rs = {"search", 0, 0, 2, {{"vector", 'f', 0, 16, NULL, u, NULL}, {"k", 'i', 10, 0, NULL, NULL, NULL}}};
        CHECK_EQ(call(&r, build_req, &rs, &c), 0);
        nc = hits_of(result_of(&c), ids_c, sc_, 10);
        /* offline: the towers on the same history, exact search over the item vectors */
        int32_t h32[5] = {3, 17, 250, 4, 99};
        size_t off[2] = {0, 5};
        CHECK_OK(lr_towers_user_embed(w.pal, w.ct, h32, off, 1, v, &err), err);
        CHECK_OK(lr_index_exact_search(w.items, N_ITEMS, 16, v, 1, 10, exact, se, &err), err);
    }
    CHECK_OK(rc, err);
    CHECK_EQ(na, 10);
    CHECK_EQ(nc, 10);
    for (int i = 0; i < 16; i++) CHECK_NEAR(u[i], v[i], 1e-6); /* the same code, the same floats */
    for (int i = 0; i < 10; i++) {
        CHECK_EQ(ids_a[i], ids_c[i]);
        CHECK_EQ(ids_a[i], exact[i]); /* IVF-Flat probing all 8 lists is exact */
        CHECK_NEAR(sa[i], se[i], 1e-5); /* the index sums in its own order */
    }
    msgpack_unpacked_destroy(&a), msgpack_unpacked_destroy(&b), msgpack_unpacked_destroy(&c);
    raw_close(&r);
    world_down(&w);
}

/* A request's nprobe probes that many lists for that request alone: requests with and without
 * one, pipelined so the workers run them together, each get what the index gives with that
 * setting, and the served setting stays. */
/* A version tuned per k: a search without nprobe takes the operating point of its k (one list
 * for k up to 10, all eight above), as the same version searched offline does. */
LR_TEST(a_search_takes_the_operating_point_of_its_k) {
    world w;
    lr_err err = {0};
    int rc = world_up(&w, lr_rpc_server_config_default(), &err);
    lr_index *ix = NULL, *offline = NULL;
    raw r = {-1, {0}};
    lr_index_tune pts[2] = {{10, 1, 0, 0.9, 1}, {40, 8, 0, 0.99, 1}};
    if (!rc) rc = lr_index_build(w.items, N_ITEMS, 16, NULL, "IVF8,Flat", &ix, &err);
    if (!rc) rc = lr_index_set_points(ix, pts, 2, &err);
    char mcrc[9] = "";
    if (!rc) rc = lr_index_file_checksum(w.model, mcrc, &err);
    lr_index_kv model = {"model", mcrc};
    lr_index_publish_opts po = {.meta = &model, .n_meta = 1, .keep_versions = 3};
    if (!rc) rc = lr_index_publish(ix, w.index, &po, NULL, &err);
    lr_rpc_fail f = {0};
    char version[32];
    size_t count;
    if (!rc && lr_rpc_engine_reload(w.engine, NULL, version, &count, &f))
        rc = lr_err_set(&err, LR_EIO, "reload: %s", f.msg);
    if (!rc) rc = lr_index_open(w.index, NULL, 16, NULL, 0, &offline, NULL, &err);
    if (!rc) rc = raw_open(&r, lr_rpc_server_port(w.server));
    CHECK_OK(rc, err);
    float u[16];
    for (int i = 0; i < 16; i++) u[i] = (float)((i * 7) % 5) - 2.0f;
    const size_t ks[3] = {5, 10, 40}, probes[3] = {1, 1, 8};
    for (int t = 0; t < 3; t++) {
        int64_t want[40], got[40];
        float ws[40], gs[40];
        CHECK_OK(lr_index_search_nprobe(offline, 1, u, ks[t], probes[t], want, ws, &err), err);
        req q = {"search", 0, 0, 2, {{"vector", 'f', 0, 16, NULL, u, NULL}, {"k", 'i', (int64_t)ks[t], 0, NULL, NULL, NULL}}};
        msgpack_unpacked res;
        msgpack_unpacked_init(&res);
        CHECK_EQ(call(&r, build_req, &q, &res), 0);
        int n = hits_of(result_of(&res), got, gs, 40);
        msgpack_unpacked_destroy(&res);
        size_t have = 0;
        while (have < ks[t] && want[have] >= 0) have++;
        CHECK_EQ(n, have);
        for (int i = 0; i < n; i++) CHECK_EQ(got[i], want[i]);
    }
    /* the point for 10 probes one list, which misses some of the best 10 that all eight hold */
    int64_t one[10], all[10];
    float s1[10], s8[10];
    CHECK_OK(lr_index_search_nprobe(offline, 1, u, 10, 1, one, s1, &err), err);
    CHECK_OK(lr_index_search_nprobe(offline, 1, u, 10, 8, all, s8, &err), err);
    CHECK(memcmp(one, all, sizeof one) != 0);
    raw_close(&r);
    lr_index_free(ix);
    lr_index_free(offline);
    world_down(&w);
}

LR_TEST(a_requests_nprobe_applies_to_it_alone) {
    world w;
    lr_err err = {0};
    int rc = world_up(&w, lr_rpc_server_config_default(), &err);
    lr_index *ix = NULL;
    raw r = {-1, {0}};
    enum { K = 40, N = 32 };
    float u[16];
    int64_t want[2][K], got[K];
    float ws[2][K], gs[K];
    for (int i = 0; i < 16; i++) u[i] = (float)((i * 7) % 5) - 2.0f;
    /* offline: the served version with its own nprobe (8, every list) and with 1 */
    if (!rc) rc = lr_index_open(w.index, NULL, 16, NULL, 0, &ix, NULL, &err);
    if (!rc) rc = lr_index_search(ix, 1, u, K, want[0], ws[0], &err);
    if (!rc) rc = lr_index_set_nprobe(ix, 1, &err);
    if (!rc) rc = lr_index_search(ix, 1, u, K, want[1], ws[1], &err);
    if (!rc) rc = raw_open(&r, lr_rpc_server_port(w.server));
    CHECK_OK(rc, err);
    size_t differ = 0;
    for (int i = 0; i < K; i++) differ += want[0][i] != want[1][i];
    CHECK(differ > 0); /* one list of eight holds fewer than the best 40 */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (uint32_t m = 0; m < N; m++) { /* odd msgids ask for 1 list */
        msgpack_pack_array(&pk, 4);
        msgpack_pack_int(&pk, 0);
        msgpack_pack_uint32(&pk, m);
        pk_str(&pk, "search");
        msgpack_pack_map(&pk, m % 2 ? 3 : 2);
        pk_str(&pk, "vector");
        msgpack_pack_array(&pk, 16);
        for (int i = 0; i < 16; i++) msgpack_pack_float(&pk, u[i]);
        pk_str(&pk, "k");
        msgpack_pack_int(&pk, K);
        if (m % 2) {
            pk_str(&pk, "nprobe");
            msgpack_pack_int(&pk, 1);
        }
    }
    raw_send(&r, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    int answered = 0;
    while (answered < N && raw_next(&r, &res)) {
        const msgpack_object *o = res.data.via.array.ptr;
        int odd = (int)(o[1].via.u64 % 2);
        CHECK(o[2].type == MSGPACK_OBJECT_NIL);
        int n = hits_of(&o[3], got, gs, K), expect = 0;
        while (expect < K && want[odd][expect] >= 0) expect++;
        CHECK_EQ(n, expect);
        for (int i = 0; i < n; i++) CHECK_EQ(got[i], want[odd][i]);
        answered++;
    }
    CHECK_EQ(answered, N);
    req stats = {"stats", 0, 0, 0, {{0}}};
    CHECK_EQ(call(&r, build_req, &stats, &res), 0);
    const msgpack_object *served_nprobe = lr_rpc_field(result_of(&res), "nprobe");
    CHECK(served_nprobe && served_nprobe->type == MSGPACK_OBJECT_POSITIVE_INTEGER);
    CHECK_EQ(served_nprobe->via.u64, 8);
    msgpack_unpacked_destroy(&res);
    raw_close(&r);
    lr_index_free(ix);
    world_down(&w);
}

/* 64 requests in one write: every msgid is answered once, whatever order the workers finish. */
LR_TEST(pipelined_requests_are_each_answered_once) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (uint32_t i = 0; i < 64; i++) {
        int64_t h[3] = {i, i + 1, i + 2};
        pack_recommend(&pk, 1000 + i, h, 3, 5);
    }
    raw_send(&r, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    int seen[64] = {0}, got = 0;
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    while (got < 64 && raw_next(&r, &res)) {
        const msgpack_object *a = res.data.via.array.ptr;
        CHECK(res.data.via.array.size == 4 && a[0].via.u64 == 1 && a[2].type == MSGPACK_OBJECT_NIL);
        uint64_t id = a[1].via.u64;
        CHECK(id >= 1000 && id < 1064);
        seen[id - 1000]++;
        CHECK_EQ(a[3].via.array.size, 5);
        got++;
    }
    msgpack_unpacked_destroy(&res);
    CHECK_EQ(got, 64);
    for (int i = 0; i < 64; i++) CHECK_EQ(seen[i], 1);
    raw_close(&r);
    world_down(&w);
}

/* The values of attribute `name` in an item answer, joined by '|' ("-" when the answer has no
 * attributes or no such attribute). */
static void item_attr(const msgpack_object *item, const char *name, char *out, size_t cap) {
    snprintf(out, cap, "-");
    for (uint32_t i = 0; item->type == MSGPACK_OBJECT_MAP && i < item->via.map.size; i++) {
        const msgpack_object_kv *kv = &item->via.map.ptr[i];
        if (kv->key.via.str.size != 10 || memcmp(kv->key.via.str.ptr, "attributes", 10) != 0) continue;
        for (uint32_t a = 0; a < kv->val.via.map.size; a++) {
            const msgpack_object_kv *av = &kv->val.via.map.ptr[a];
            if (av->key.via.str.size != strlen(name) || memcmp(av->key.via.str.ptr, name, strlen(name)) != 0) continue;
            size_t at = 0;
            out[0] = '\0';
            for (uint32_t j = 0; j < av->val.via.array.size && at < cap; j++)
                at += (size_t)snprintf(out + at, cap - at, "%s%.*s", j ? "|" : "", (int)av->val.via.array.ptr[j].via.str.size,
                                       av->val.via.array.ptr[j].via.str.ptr);
        }
    }
}

/* item: every attribute of the served version, with the item's values (none: an empty list). */
LR_TEST(item_returns_the_served_versions_attributes) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    char got[64];
    req item3 = {"item", 0, 0, 1, {{"id", 'i', 3, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &item3, &res), 0);
    item_attr(result_of(&res), "brand", got, sizeof got);
    CHECK_STR_EQ(got, "b3");
    item_attr(result_of(&res), "category", got, sizeof got);
    CHECK_STR_EQ(got, "top0|sub3");
    req item9 = {"item", 0, 0, 1, {{"id", 'i', 9, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &item9, &res), 0);
    item_attr(result_of(&res), "brand", got, sizeof got);
    CHECK_STR_EQ(got, ""); /* the attribute is there, the item has no brand */
    item_attr(result_of(&res), "colour", got, sizeof got);
    CHECK_STR_EQ(got, "-");
    msgpack_unpacked_destroy(&res);
    raw_close(&r);
    world_down(&w);
}

/* The ids of a JSON answer [[id, score], ...] (or {"items": [...]}) into ids; their count. */
static size_t json_hits(const char *json, int64_t *ids, size_t cap) {
    json_error_t je;
    json_t *o = json_loads(json, 0, &je), *list = json_is_object(o) ? json_object_get(o, "items") : o;
    size_t n = 0;
    for (size_t i = 0; list && i < json_array_size(list) && n < cap; i++)
        ids[n++] = json_integer_value(json_array_get(json_array_get(list, i), 0));
    json_decref(o);
    return n;
}

/* The exact top k of item `of`'s vector among the items allowed by pred, *n of them. */
static void exact_top(const world *w, size_t of, size_t k, int (*pred)(int64_t), int64_t *ids, size_t *n) {
    float best[64];
    *n = 0;
    for (int64_t i = 0; i < N_ITEMS; i++) {
        if (!pred(i)) continue;
        float s = 0;
        for (size_t d = 0; d < 16; d++) s += w->items[of * 16 + d] * w->items[i * 16 + d];
        size_t at = *n < k ? (*n)++ : k;
        while (at > 0 && best[at - 1] < s) {
            if (at < k) best[at] = best[at - 1], ids[at] = ids[at - 1];
            at--;
        }
        if (at < k) best[at] = s, ids[at] = i;
    }
}

static int top1_not_sub3(int64_t id) { return world_attr_has(id, "category", "top1") && !world_attr_has(id, "category", "sub3"); }
static int brand_b2_or_b5(int64_t id) { return world_attr_has(id, "brand", "b2") || world_attr_has(id, "brand", "b5"); }

/* filter on search and recommend: every hit passes, k of them, the exact filtered top k (the
 * world's index probes all its lists); errors name what is wrong. */
LR_TEST(filters_apply_during_search_and_recommend) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    char addr[64], params[2048], *json = NULL;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", lr_rpc_server_port(w.server));
    lr_rpc_client *c = NULL;
    CHECK_OK(lr_rpc_client_connect(addr, 5000, &c, &err), err);
    int code = 0;
    int64_t got[64], want[64];
    size_t n, nw;
    struct { const char *filter; int (*pred)(int64_t); } cases[] = {
        {"{\"category\": \"top1\", \"not\": {\"category\": [\"sub3\"]}}", top1_not_sub3},
        {"{\"brand\": [\"b2\", \"b5\"]}", brand_b2_or_b5}};
    for (size_t t = 0; t < 2; t++) {
        int at = snprintf(params, sizeof params, "{\"k\": 10, \"filter\": %s, \"vector\": [", cases[t].filter);
        for (size_t d = 0; d < 16; d++) at += snprintf(params + at, sizeof params - (size_t)at, "%s%.9g", d ? "," : "", (double)w.items[40 * 16 + d]);
        snprintf(params + at, sizeof params - (size_t)at, "]}");
        CHECK_OK(lr_rpc_client_call_json(c, "search", params, &json, &code, &err), err);
        n = json_hits(json, got, 64);
        free(json);
        exact_top(&w, 40, 10, cases[t].pred, want, &nw);
        CHECK_EQ(n, 10);
        for (size_t j = 0; j < n && j < nw; j++) CHECK_EQ(got[j], want[j]);
    }
    /* recommend: the history's items excluded and the filter's ids */
    const char *p = "{\"history\": [3, 4, 5], \"k\": 5, \"exclude_history\": true, "
                    "\"filter\": {\"ids\": [3, 4, 7, 8, 9, 10], \"not\": {\"ids\": [8]}}}";
    CHECK_OK(lr_rpc_client_call_json(c, "recommend", p, &json, &code, &err), err);
    n = json_hits(json, got, 64);
    free(json);
    CHECK_EQ(n, 3); /* 7, 9, 10: 3 and 4 are in the history, 8 denied */
    for (size_t j = 0; j < n; j++) CHECK(got[j] == 7 || got[j] == 9 || got[j] == 10);
    p = "{\"vector\": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1], \"filter\": {\"colour\": \"red\"}}";
    CHECK_ERR(lr_rpc_client_call_json(c, "search", p, &json, &code, &err), err, LR_ERPC,
              "no attribute 'colour' in the served version (it has: brand, category)");
    CHECK_EQ(code, LR_RPC_EBAD_REQUEST);
    p = "{\"history\": [1], \"filter\": [\"brand\"]}";
    CHECK_ERR(lr_rpc_client_call_json(c, "recommend", p, &json, &code, &err), err, LR_ERPC, "'filter' must be a map");
    p = "{\"history\": [1], \"filter\": {\"brand\": [1]}}";
    CHECK_ERR(lr_rpc_client_call_json(c, "recommend", p, &json, &code, &err), err, LR_ERPC,
              "'filter'.'brand'[0] is not a string");
    lr_rpc_client_close(c);
    world_down(&w);
}

static int any_item(int64_t id) { return id != 40; }

/* similar: the items nearest an item's own vector, never the item itself; max_per caps every
 * value of an attribute (each item holds a top and a sub category here). */
LR_TEST(similar_items_and_diversity_caps) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    char addr[64], *json = NULL;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", lr_rpc_server_port(w.server));
    lr_rpc_client *c = NULL;
    CHECK_OK(lr_rpc_client_connect(addr, 5000, &c, &err), err);
    int code = 0;
    int64_t got[64], want[64];
    size_t n, nw;
    const char *p = "{\"id\": 40, \"k\": 8}";
    CHECK_OK(lr_rpc_client_call_json(c, "similar", p, &json, &code, &err), err);
    n = json_hits(json, got, 64);
    free(json);
    exact_top(&w, 40, 8, any_item, want, &nw);
    CHECK_EQ(n, 8);
    for (size_t j = 0; j < n; j++) CHECK_EQ(got[j], want[j]);
    p = "{\"ids\": [40, 41], \"k\": 5, \"filter\": {\"brand\": \"b2\"}}";
    CHECK_OK(lr_rpc_client_call_json(c, "similar", p, &json, &code, &err), err);
    n = json_hits(json, got, 64);
    free(json);
    CHECK_EQ(n, 5);
    for (size_t j = 0; j < n; j++) CHECK(world_attr_has(got[j], "brand", "b2") && got[j] != 40 && got[j] != 41);
    CHECK_ERR(lr_rpc_client_call_json(c, "similar", "{\"id\": 99999}", &json, &code, &err), err, LR_ERPC, "not_found: item 99999");
    CHECK_ERR(lr_rpc_client_call_json(c, "similar", "{\"k\": 3}", &json, &code, &err), err, LR_ERPC, "give either 'id'");
    /* caps: 4 per value of category; 3 tops, so 10 fit; and 1 per value: one per top, 3 in all */
    p = "{\"id\": 40, \"k\": 10, \"max_per\": {\"category\": 4}}";
    CHECK_OK(lr_rpc_client_call_json(c, "similar", p, &json, &code, &err), err);
    n = json_hits(json, got, 64);
    free(json);
    CHECK_EQ(n, 10);
    int tops[3] = {0}, subs[11] = {0};
    for (size_t j = 0; j < n; j++) tops[got[j] % 3]++, subs[got[j] % 11]++;
    for (int t = 0; t < 3; t++) CHECK(tops[t] <= 4);
    for (int t = 0; t < 11; t++) CHECK(subs[t] <= 4);
    p = "{\"history\": [1, 2], \"k\": 10, \"max_per\": {\"category\": 1}}";
    CHECK_OK(lr_rpc_client_call_json(c, "recommend", p, &json, &code, &err), err);
    n = json_hits(json, got, 64);
    free(json);
    CHECK_EQ(n, 3);
    CHECK(got[0] % 3 != got[1] % 3 && got[1] % 3 != got[2] % 3 && got[0] % 3 != got[2] % 3);
    p = "{\"vector\": [0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1], \"max_per\": {\"brand\": 0}}";
    CHECK_ERR(lr_rpc_client_call_json(c, "search", p, &json, &code, &err), err, LR_ERPC,
              "'max_per'.'brand' must be an integer from 1");
    lr_rpc_client_close(c);
    world_down(&w);
}

LR_TEST(malformed_requests_get_typed_errors) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    int64_t h[2] = {1, 2};
    float nan_vec[16];
    for (int i = 0; i < 16; i++) nan_vec[i] = i == 3 ? NAN : 0.1f;
    req unknown = {"no_such_method", 0, 0, 0, {{0}}};
    CHECK_EQ(call(&r, build_req, &unknown, &res), LR_RPC_EUNKNOWN_METHOD);
    req missing = {"recommend", 0, 0, 1, {{"k", 'i', 5, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &missing, &res), LR_RPC_EBAD_REQUEST);
    req wrong = {"recommend", 0, 0, 1, {{"history", 's', 0, 0, NULL, NULL, "1,2"}}};
    CHECK_EQ(call(&r, build_req, &wrong, &res), LR_RPC_EBAD_REQUEST);
    req big_k = {"recommend", 0, 0, 2, {{"history", 'h', 0, 2, h, NULL, NULL}, {"k", 'i', 100000, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &big_k, &res), LR_RPC_ETOO_LARGE);
    req nan = {"search", 0, 0, 1, {{"vector", 'f', 0, 16, NULL, nan_vec, NULL}}};
    CHECK_EQ(call(&r, build_req, &nan, &res), LR_RPC_EBAD_REQUEST);
    CHECK_CONTAINS(res.data.via.array.ptr[2].via.array.ptr[1].via.str.ptr, "'vector'[3] is NaN");
    req short_vec = {"search", 0, 0, 1, {{"vector", 'f', 0, 5, NULL, nan_vec + 4, NULL}}};
    CHECK_EQ(call(&r, build_req, &short_vec, &res), LR_RPC_EBAD_REQUEST);
    /* a k that is not a number: the answer says so (search once sized its buffers by k anyway,
     * uninitialised; clang found it building fuzz/rpc: regress/rpc/search_k_not_an_integer) */
    float ok_vec[16] = {0.1f};
    req text_k = {"search", 0, 0, 2, {{"vector", 'f', 0, 16, NULL, ok_vec, NULL}, {"k", 's', 0, 0, NULL, NULL, "ten"}}};
    CHECK_EQ(call(&r, build_req, &text_k, &res), LR_RPC_EBAD_REQUEST);
    CHECK_CONTAINS(res.data.via.array.ptr[2].via.array.ptr[1].via.str.ptr, "'k' must be an integer");
    /* finite values whose length overflows a score (item vectors are unit rows): refused, where
     * the hits once came back with infinite scores in no order (regress/rpc) */
    float long_vec[16];
    for (int i = 0; i < 16; i++) long_vec[i] = 1e38f;
    req too_long = {"search", 0, 0, 1, {{"vector", 'f', 0, 16, NULL, long_vec, NULL}}};
    CHECK_EQ(call(&r, build_req, &too_long, &res), LR_RPC_EBAD_REQUEST);
    CHECK_CONTAINS(res.data.via.array.ptr[2].via.array.ptr[1].via.str.ptr, "'vector' has length 4e+38");
    req no_item = {"item", 0, 0, 1, {{"id", 'i', 123456, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &no_item, &res), LR_RPC_ENOT_FOUND);
    /* accepted shapes: the method as bin, the params as [map] */
    req bin = {"recommend", 1, 1, 2, {{"history", 'h', 0, 2, h, NULL, NULL}, {"k", 'i', 3, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &bin, &res), 0);
    CHECK_EQ(result_of(&res)->via.array.size, 3);
    /* an empty history without --data: an empty answer, documented */
    req empty = {"recommend", 0, 0, 1, {{"history", 'h', 0, 0, h, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &empty, &res), 0);
    CHECK_EQ(result_of(&res)->via.array.size, 0);
    /* unknown ids are skipped and reported */
    int64_t mixed[3] = {5, 777777, -4};
    req rep = {"recommend", 0, 0, 2, {{"history", 'h', 0, 3, mixed, NULL, NULL}, {"report", 'b', 1, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &rep, &res), 0);
    const msgpack_object *m = result_of(&res);
    CHECK(m->type == MSGPACK_OBJECT_MAP);
    CHECK_EQ(m->via.map.size, 3);
    CHECK_EQ(m->via.map.ptr[1].val.via.array.size, 2);
    /* and the version that answered */
    CHECK_EQ(m->via.map.ptr[2].key.via.str.size, 7);
    CHECK(!strncmp(m->via.map.ptr[2].key.via.str.ptr, "version", 7));
    CHECK(m->via.map.ptr[2].val.type == MSGPACK_OBJECT_STR && !strncmp(m->via.map.ptr[2].val.via.str.ptr, "v000001", 7));
    msgpack_unpacked_destroy(&res);
    raw_close(&r);
    world_down(&w);
}

/* Bytes that are not a request close that connection only. */
LR_TEST(bad_bytes_close_only_their_connection) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    int port = lr_rpc_server_port(w.server);
    raw good, bad, huge;
    CHECK(raw_open(&good, port) == 0 && raw_open(&bad, port) == 0 && raw_open(&huge, port) == 0);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    raw_send(&bad, "\xc1\xc1\xc1", 3);
    CHECK(raw_next(&bad, &res)); /* a best-effort error first */
    CHECK_EQ(res.data.via.array.ptr[2].via.array.ptr[0].via.i64, LR_RPC_EBAD_REQUEST);
    CHECK(!raw_next(&bad, &res)); /* then the connection closes */
    raw_send(&huge, "\x94\x00\x01\xa4ping\xc6\x7f\xff\xff\xff", 13); /* a 2 GB bin claimed */
    CHECK(raw_next(&huge, &res));
    CHECK_CONTAINS(res.data.via.array.ptr[2].via.array.ptr[1].via.str.ptr, "--max-frame");
    CHECK(!raw_next(&huge, &res));
    req ping = {"ping", 0, 0, 0, {{0}}};
    CHECK_EQ(call(&good, build_req, &ping, &res), 0);
    CHECK_EQ(result_of(&res)->via.i64, 1);
    /* a frame that is msgpack but not a request is answered and the connection stays */
    raw_send(&good, "\x93\x01\x02\x03", 4);
    CHECK(raw_next(&good, &res));
    CHECK_EQ(res.data.via.array.ptr[2].via.array.ptr[0].via.i64, LR_RPC_EBAD_REQUEST);
    CHECK_EQ(call(&good, build_req, &ping, &res), 0);
    msgpack_unpacked_destroy(&res);
    raw_close(&good), raw_close(&bad), raw_close(&huge);
    world_down(&w);
}

/* add_items params for item `id` with item `like`'s content and the given attributes (JSON). */
static void add_params(const world *w, int64_t id, size_t like, const char *attrs, char *out, size_t cap) {
    int at = snprintf(out, cap, "{\"token\": \"s3cret\", \"items\": [{\"id\": %lld, %s%s%s\"content\": [", (long long)id,
                      attrs ? "\"attributes\": " : "", attrs ? attrs : "", attrs ? ", " : "");
    const float *row = lr_data_matrix_data(w->ct) + like * DC;
    for (int d = 0; d < DC; d++) at += snprintf(out + at, cap - (size_t)at, "%s%.9g", d ? "," : "", (double)row[d]);
    snprintf(out + at, cap - (size_t)at, "]}]}");
}

/* Items added with attributes are filtered and capped by them at once, `item` returns them, and
 * a call naming an attribute the version lacks adds nothing. */
LR_TEST(added_items_are_filtered_by_their_attributes) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.admin_token = "s3cret";
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    char addr[64], params[8192], near42[1024], *json = NULL;
    snprintf(addr, sizeof addr, "127.0.0.1:%d", lr_rpc_server_port(w.server));
    lr_rpc_client *c = NULL;
    CHECK_OK(lr_rpc_client_connect(addr, 5000, &c, &err), err);
    int code = 0;
    int64_t got[64];
    add_params(&w, 6000, 42, "{\"brand\": \"newbrand\", \"category\": [\"top1\", \"sub3\"]}", params, sizeof params);
    CHECK_OK(lr_rpc_client_call_json(c, "add_items", params, &json, &code, &err), err);
    free(json);
    int at = snprintf(near42, sizeof near42, "{\"k\": 3, \"vector\": [");
    for (size_t d = 0; d < 16; d++) at += snprintf(near42 + at, sizeof near42 - (size_t)at, "%s%.9g", d ? "," : "", (double)w.items[42 * 16 + d]);
    const char *filters[4] = {"{\"brand\": \"newbrand\"}", "{\"category\": \"top1\"}",
                              "{\"not\": {\"brand\": \"newbrand\"}}", "{\"category\": \"top0\"}"};
    for (int t = 0; t < 4; t++) {
        snprintf(params, sizeof params, "%.*s], \"filter\": %s}", at, near42, filters[t]);
        CHECK_OK(lr_rpc_client_call_json(c, "search", params, &json, &code, &err), err);
        size_t n = json_hits(json, got, 64);
        free(json);
        if (t == 0) CHECK(n == 1 && got[0] == 6000); /* the only item of a new value */
        if (t == 1) CHECK(n == 3 && got[0] == 6000); /* 42 is top0; its twin is top1 now */
        if (t >= 2) CHECK(n == 3 && got[0] == 42 && got[1] != 6000 && got[2] != 6000);
    }
    snprintf(params, sizeof params, "%.*s], \"k\": 10, \"max_per\": {\"brand\": 1}, \"filter\": {\"category\": \"sub3\"}}", at, near42);
    CHECK_OK(lr_rpc_client_call_json(c, "search", params, &json, &code, &err), err);
    size_t n = json_hits(json, got, 64);
    free(json);
    CHECK(n >= 2 && got[0] == 6000);
    for (size_t j = 1; j < n; j++) CHECK(got[j] != 6000 && world_attr_has(got[j], "category", "sub3"));
    CHECK_OK(lr_rpc_client_call_json(c, "item", "{\"id\": 6000}", &json, &code, &err), err);
    CHECK(strstr(json, "\"brand\":[\"newbrand\"]") && strstr(json, "\"category\":[\"top1\",\"sub3\"]"));
    free(json);
    add_params(&w, 6001, 43, "{\"colour\": \"red\"}", params, sizeof params);
    CHECK_ERR(lr_rpc_client_call_json(c, "add_items", params, &json, &code, &err), err, LR_ERPC,
              "items[0]: no attribute 'colour' in the served version");
    CHECK_EQ(code, LR_RPC_EBAD_REQUEST);
    CHECK_ERR(lr_rpc_client_call_json(c, "item", "{\"id\": 6001}", &json, &code, &err), err, LR_ERPC, "not_found"); /* nothing added */
    add_params(&w, 6001, 43, "{\"brand\": [\"ok\", 7]}", params, sizeof params);
    CHECK_ERR(lr_rpc_client_call_json(c, "add_items", params, &json, &code, &err), err, LR_ERPC, "values must be strings");
    add_params(&w, 6002, 43, NULL, params, sizeof params); /* none given: holds none */
    CHECK_OK(lr_rpc_client_call_json(c, "add_items", params, &json, &code, &err), err);
    free(json);
    CHECK_OK(lr_rpc_client_call_json(c, "item", "{\"id\": 6002}", &json, &code, &err), err);
    CHECK(strstr(json, "\"brand\":[]") != NULL);
    free(json);
    lr_rpc_client_close(c);
    world_down(&w);
}

LR_TEST(admin_methods_need_the_token_and_change_what_is_served) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.admin_token = "s3cret";
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    int64_t gone[1] = {17};
    req no_token = {"remove_items", 0, 0, 1, {{"ids", 'h', 0, 1, gone, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &no_token, &res), LR_RPC_EUNAUTHORIZED);
    req bad_token = {"remove_items", 0, 0, 2, {{"ids", 'h', 0, 1, gone, NULL, NULL}, {"token", 's', 0, 0, NULL, NULL, "s3creT"}}};
    CHECK_EQ(call(&r, build_req, &bad_token, &res), LR_RPC_EUNAUTHORIZED);
    /* item 17's own vector finds it first; removed, it is gone */
    req find = {"search", 0, 0, 2, {{"vector", 'f', 0, 16, NULL, w.items + 17 * 16, NULL}, {"k", 'i', 5, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &find, &res), 0);
    CHECK_EQ(result_of(&res)->via.array.ptr[0].via.array.ptr[0].via.i64, 17);
    req rm = {"remove_items", 0, 0, 2, {{"ids", 'h', 0, 1, gone, NULL, NULL}, {"token", 's', 0, 0, NULL, NULL, "s3cret"}}};
    CHECK_EQ(call(&r, build_req, &rm, &res), 0);
    CHECK_EQ(call(&r, build_req, &find, &res), 0);
    for (uint32_t i = 0; i < result_of(&res)->via.array.size; i++)
        CHECK(result_of(&res)->via.array.ptr[i].via.array.ptr[0].via.i64 != 17);
    /* a new item given by its content is found by its own item vector at once */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4), msgpack_pack_int(&pk, 0), msgpack_pack_int(&pk, 9), pk_str(&pk, "add_items");
    msgpack_pack_map(&pk, 2), pk_str(&pk, "token"), pk_str(&pk, "s3cret"), pk_str(&pk, "items");
    msgpack_pack_array(&pk, 1), msgpack_pack_map(&pk, 2), pk_str(&pk, "id"), msgpack_pack_int64(&pk, 5000);
    pk_str(&pk, "content"), msgpack_pack_array(&pk, DC);
    const float *row = lr_data_matrix_data(w.ct) + 42 * DC; /* item 42's content, under a new id */
    for (int i = 0; i < DC; i++) msgpack_pack_float(&pk, row[i]);
    raw_send(&r, sb.data, sb.size);
    msgpack_sbuffer add_frame = sb; /* sent again below */
    CHECK(raw_next(&r, &res));
    CHECK(res.data.via.array.ptr[2].type == MSGPACK_OBJECT_NIL);
    req find42 = {"search", 0, 0, 2, {{"vector", 'f', 0, 16, NULL, w.items + 42 * 16, NULL}, {"k", 'i', 2, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &find42, &res), 0);
    int64_t top2[2] = {result_of(&res)->via.array.ptr[0].via.array.ptr[0].via.i64,
                       result_of(&res)->via.array.ptr[1].via.array.ptr[0].via.i64};
    CHECK((top2[0] == 42 && top2[1] == 5000) || (top2[0] == 5000 && top2[1] == 42));
    /* the added item can be part of a history; adding it again is a conflict */
    int64_t with_new[2] = {3, 5000};
    req rec = {"recommend", 0, 0, 2, {{"history", 'h', 0, 2, with_new, NULL, NULL}, {"report", 'b', 1, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &rec, &res), 0);
    CHECK_EQ(result_of(&res)->via.map.ptr[1].val.via.array.size, 0); /* nothing unknown */
    req item = {"item", 0, 0, 1, {{"id", 'i', 5000, 0, NULL, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &item, &res), 0);
    /* removed, an added item can be added again (the index removes natively here) */
    int64_t added_id[1] = {5000};
    req rm_added = {"remove_items", 0, 0, 2, {{"ids", 'h', 0, 1, added_id, NULL, NULL}, {"token", 's', 0, 0, NULL, NULL, "s3cret"}}};
    CHECK_EQ(call(&r, build_req, &rm_added, &res), 0);
    CHECK_EQ(call(&r, build_req, &find42, &res), 0);
    CHECK_EQ(result_of(&res)->via.array.ptr[0].via.array.ptr[0].via.i64, 42);
    CHECK(result_of(&res)->via.array.ptr[1].via.array.ptr[0].via.i64 != 5000);
    raw_send(&r, add_frame.data, add_frame.size);
    CHECK(raw_next(&r, &res));
    CHECK(res.data.via.array.ptr[2].type == MSGPACK_OBJECT_NIL);
    CHECK_EQ(call(&r, build_req, &find42, &res), 0);
    top2[0] = result_of(&res)->via.array.ptr[0].via.array.ptr[0].via.i64;
    top2[1] = result_of(&res)->via.array.ptr[1].via.array.ptr[0].via.i64;
    CHECK((top2[0] == 42 && top2[1] == 5000) || (top2[0] == 5000 && top2[1] == 42));
    raw_send(&r, add_frame.data, add_frame.size); /* present again: a conflict */
    CHECK(raw_next(&r, &res));
    CHECK_EQ(res.data.via.array.ptr[2].via.array.ptr[0].via.i64, LR_RPC_ECONFLICT);
    /* reload drops what was changed since the version was loaded */
    req reload = {"reload", 0, 0, 1, {{"token", 's', 0, 0, NULL, NULL, "s3cret"}}};
    CHECK_EQ(call(&r, build_req, &reload, &res), 0);
    CHECK_EQ(call(&r, build_req, &item, &res), LR_RPC_ENOT_FOUND);
    CHECK_EQ(call(&r, build_req, &find, &res), 0);
    CHECK_EQ(result_of(&res)->via.array.ptr[0].via.array.ptr[0].via.i64, 17);
    /* added again after the reload (its content in a new buffer), it reads as item 42's content:
     * a history with it gets the scores of one with 42 */
    raw_send(&r, add_frame.data, add_frame.size);
    CHECK(raw_next(&r, &res));
    CHECK(res.data.via.array.ptr[2].type == MSGPACK_OBJECT_NIL);
    msgpack_sbuffer_destroy(&add_frame);
    int64_t with_42[2] = {3, 42};
    req rec42 = {"recommend", 0, 0, 1, {{"history", 'h', 0, 2, with_42, NULL, NULL}}};
    req rec_new = {"recommend", 0, 0, 1, {{"history", 'h', 0, 2, with_new, NULL, NULL}}};
    CHECK_EQ(call(&r, build_req, &rec42, &res), 0);
    double top42 = result_of(&res)->via.array.ptr[0].via.array.ptr[1].via.f64;
    CHECK_EQ(call(&r, build_req, &rec_new, &res), 0);
    CHECK_NEAR(result_of(&res)->via.array.ptr[0].via.array.ptr[1].via.f64, top42, 1e-5);
    msgpack_unpacked_destroy(&res);
    raw_close(&r);
    world_down(&w);
}

LR_TEST(reload_swaps_versions_and_refuses_bad_names) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    CHECK_OK(publish(&w, "Flat", &err), err); /* v000002, while v000001 is served */
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    req stats = {"stats", 0, 0, 0, {{0}}};
    CHECK_EQ(call(&r, build_req, &stats, &res), 0);
    CHECK_EQ(strncmp(result_of(&res)->via.map.ptr[0].val.via.str.ptr, "v000001", 7), 0);
    req to2 = {"reload", 0, 0, 1, {{"version", 's', 0, 0, NULL, NULL, "v000002"}}};
    CHECK_EQ(call(&r, build_req, &to2, &res), 0);
    CHECK_EQ(call(&r, build_req, &stats, &res), 0);
    CHECK_EQ(strncmp(result_of(&res)->via.map.ptr[0].val.via.str.ptr, "v000002", 7), 0);
    req missing = {"reload", 0, 0, 1, {{"version", 's', 0, 0, NULL, NULL, "v000009"}}};
    CHECK_EQ(call(&r, build_req, &missing, &res), LR_RPC_ENOT_FOUND);
    req path = {"reload", 0, 0, 1, {{"version", 's', 0, 0, NULL, NULL, "../../etc"}}};
    CHECK_EQ(call(&r, build_req, &path, &res), LR_RPC_EBAD_REQUEST);
    CHECK_EQ(call(&r, build_req, &stats, &res), 0); /* still serving v000002 */
    CHECK_EQ(strncmp(result_of(&res)->via.map.ptr[0].val.via.str.ptr, "v000002", 7), 0);
    msgpack_unpacked_destroy(&res);
    raw_close(&r);
    world_down(&w);
}


/* A full queue answers `overloaded` at once; a request that waited past its deadline is answered
 * `deadline_exceeded` without being run. The worker is held and the queue reads the test's clock
 * (rpc/queue.c's hooks; tests/rpc/test_queue.c checks the queue itself), so what each request
 * gets is known in advance, however busy the machine. */
LR_TEST(a_full_queue_and_an_old_request_get_typed_errors) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.threads = 1, sc.queue_cap = 4, sc.deadline_ms = 1000;
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    atomic_store(&w.now_ms, 1000000);
    lr_rpc_queue_set_clock(w.server, world_clock, &w);
    lr_rpc_workers_hold(w.server);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    int64_t h[20];
    for (int i = 0; i < 20; i++) h[i] = i * 7;
    pipeline_recommends(&r, 10, h, 20, 50);
    char msg[256];
    uint32_t id = 0;
    for (uint32_t i = 4; i < 10; i++) { /* 0 .. 3 wait; the rest are refused as they are read */
        CHECK_EQ(next_answer(&r, &id, msg, sizeof msg), LR_RPC_EOVERLOADED);
        CHECK_EQ(id, i);
        CHECK_CONTAINS(msg, "queue is full");
    }
    /* answers that finish together are written in any order: each phase checks its set of ids */
    unsigned seen = 0;
    lr_rpc_workers_release(w.server, 2);
    for (int i = 0; i < 2; i++) { /* the first two in the queue, run on time */
        CHECK_EQ(next_answer(&r, &id, msg, sizeof msg), 0);
        CHECK(id < 10);
        seen |= 1u << id;
    }
    CHECK_EQ(seen, 0x3);
    atomic_store(&w.now_ms, 1000000 + 1001); /* the two still waiting are now late */
    lr_rpc_workers_release(w.server, LR_RPC_RELEASE_ALL);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(next_answer(&r, &id, msg, sizeof msg), LR_RPC_EDEADLINE);
        CHECK(id < 10);
        seen |= 1u << id;
        CHECK_CONTAINS(msg, "past the 1000 ms deadline");
    }
    CHECK_EQ(seen, 0xf);
    raw_close(&r);
    world_down(&w);
}

/* Waiting requests are bounded in bytes too: with the worker held, frames are let in until the
 * next would take the requests in flight past 8 KB (8 x max_frame), and the rest are refused. */
LR_TEST(queued_bytes_are_bounded_as_well_as_queued_requests) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.threads = 1, sc.max_frame = 1024;
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    lr_rpc_workers_hold(w.server);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    int64_t h[100];
    for (int i = 0; i < 100; i++) h[i] = 200 + i; /* 3-byte ids: frames of about 330 bytes */
    msgpack_sbuffer one;
    msgpack_sbuffer_init(&one);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &one, msgpack_sbuffer_write);
    pack_recommend(&pk, 0, h, 100, 10); /* msgids below 128 take one byte: every frame this size */
    uint32_t fit = (uint32_t)(LR_RPC_QUEUED_FRAMES * sc.max_frame / one.size);
    msgpack_sbuffer_destroy(&one);
    CHECK(fit >= 2 && fit < 100);
    pipeline_recommends(&r, 100, h, 100, 10);
    char msg[256];
    uint32_t id = 0;
    for (uint32_t i = fit; i < 100; i++) {
        CHECK_EQ(next_answer(&r, &id, msg, sizeof msg), LR_RPC_EOVERLOADED);
        CHECK_EQ(id, i);
    }
    lr_rpc_workers_release(w.server, LR_RPC_RELEASE_ALL);
    int seen[100] = {0}; /* in any order: answers that finish together go out newest first */
    for (uint32_t i = 0; i < fit; i++) {
        CHECK_EQ(next_answer(&r, &id, msg, sizeof msg), 0);
        CHECK(id < fit);
        CHECK_EQ(seen[id]++, 0);
    }
    raw_close(&r);
    world_down(&w);
}


LR_TEST(http_health_metrics_and_json_recommend) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    int hp = lr_rpc_server_http_port(w.server);
    char *buf = malloc(65536); /* on the heap: the failure message prints it, truncated */
    CHECK(buf);
    CHECK(http_get(hp, "GET /healthz HTTP/1.0\r\n\r\n", buf, 65536) > 0);
    CHECK_CONTAINS(buf, "200 OK");
    CHECK_CONTAINS(buf, "ok v000001");
    const char *body = "{\"history\": [3, 17, 250, 4, 99], \"k\": 3}";
    char post[512];
    snprintf(post, sizeof post, "POST /recommend HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    CHECK(http_get(hp, post, buf, 65536) > 0);
    CHECK_CONTAINS(buf, "200 OK");
    CHECK_CONTAINS(buf, "{\"results\":[[");
    snprintf(post, sizeof post, "POST /recommend HTTP/1.0\r\nContent-Length: 9\r\n\r\n{\"k\": 3}x");
    CHECK(http_get(hp, post, buf, 65536) > 0);
    CHECK_CONTAINS(buf, "400");
    CHECK_CONTAINS(buf, "\"name\":\"bad_request\"");
    CHECK(http_get(hp, "GET /metrics HTTP/1.0\r\n\r\n", buf, 65536) > 0);
    CHECK_CONTAINS(buf, "learnrec_requests_total{method=\"recommend\",status=\"ok\"} 1");
    CHECK_CONTAINS(buf, "learnrec_request_seconds_bucket{le=\"+Inf\"}");
    CHECK_CONTAINS(buf, "learnrec_index_items 320");
    CHECK(http_get(hp, "GET /nowhere HTTP/1.0\r\n\r\n", buf, 65536) > 0);
    CHECK_CONTAINS(buf, "404");
    free(buf);
    world_down(&w);
}

/* Stopping while requests are in flight: each is answered, then the connection closes. */
LR_TEST(a_stop_answers_what_is_in_flight_then_closes) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.threads = 1;
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    int64_t h[3] = {1, 2, 3};
    pipeline_recommends(&r, 30, h, 3, 10);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    CHECK(raw_next(&r, &res)); /* the server has the requests */
    lr_rpc_server_stop(w.server);
    int got = 1;
    while (raw_next(&r, &res)) got++;
    msgpack_unpacked_destroy(&res);
    CHECK_EQ(got, 30);
    pthread_join(w.loop, NULL);
    CHECK_EQ(w.run_rc, 0);
    lr_rpc_server_free(w.server);
    w.server = NULL;
    raw_close(&r);
    world_down(&w);
}

static double mono_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* With a drain delay, a stop first turns /healthz to 503 "draining" while new connections and
 * requests are still served (a load balancer's checks take the server out meanwhile); the loop
 * ends only after the delay. */
LR_TEST(a_drain_delay_keeps_serving_while_health_says_draining) {
    lr_rpc_server_config sc = lr_rpc_server_config_default();
    sc.drain_delay_ms = 700;
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, sc, &err), err);
    int hp = lr_rpc_server_http_port(w.server), port = lr_rpc_server_port(w.server);
    char *buf = malloc(65536), addr[64];
    CHECK(buf);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    double t0 = mono_s();
    lr_rpc_server_stop(w.server);
    usleep(50 * 1000);
    CHECK(http_get(hp, "GET /healthz HTTP/1.0\r\n\r\n", buf, 65536) > 0);
    CHECK_CONTAINS(buf, "503");
    CHECK_CONTAINS(buf, "draining v000001");
    lr_rpc_client *c;
    CHECK_OK(lr_rpc_client_connect(addr, 2000, &c, &err), err); /* still accepting */
    const int64_t h[] = {3, 17};
    lr_rpc_hit hits[5];
    size_t n = 0;
    CHECK_OK(lr_rpc_client_recommend(c, h, 2, 5, hits, &n, NULL, &err), err);
    CHECK_EQ(n, 5);
    char *res = NULL; /* ping, a load balancer's check in the protocol, says not ready too */
    int code = 0;
    CHECK_ERR(lr_rpc_client_call_json(c, "ping", NULL, &res, &code, &err), err, LR_ERPC, "overloaded: draining");
    CHECK_EQ(code, LR_RPC_EOVERLOADED);
    lr_rpc_client_close(c);
    pthread_join(w.loop, NULL);
    CHECK(mono_s() - t0 >= 0.6);
    CHECK_EQ(w.run_rc, 0);
    lr_rpc_server_free(w.server);
    w.server = NULL;
    free(buf);
    world_down(&w);
}

/* The C client library against the same server: results, JSON calls, server errors by code. */
LR_TEST(the_client_library_gets_results_and_typed_errors) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", lr_rpc_server_port(w.server));
    lr_rpc_client *c = NULL;
    CHECK_OK(lr_rpc_client_connect(addr, 5000, &c, &err), err);
    int64_t hist[3] = {3, 17, 250};
    lr_rpc_hit hits[7];
    size_t n = 0;
    int code = -1;
    CHECK_OK(lr_rpc_client_recommend(c, hist, 3, 7, hits, &n, &code, &err), err);
    CHECK_EQ(n, 7);
    for (size_t i = 1; i < n; i++) CHECK(hits[i - 1].score >= hits[i].score);
    char *json = NULL;
    CHECK_OK(lr_rpc_client_call_json(c, "item", "{\"id\": 5}", &json, &code, &err), err);
    CHECK_CONTAINS(json, "\"in_index\":true");
    free(json);
    json = NULL;
    CHECK_ERR(lr_rpc_client_call_json(c, "item", "{\"id\": 99999}", &json, &code, &err), err, LR_ERPC,
              "not_found: item 99999");
    CHECK_EQ(code, LR_RPC_ENOT_FOUND);
    CHECK(json == NULL);
    lr_rpc_hit *many = malloc(5000 * sizeof *many);
    CHECK(many);
    int rc = lr_rpc_client_recommend(c, hist, 3, 5000, many, &n, &code, &err);
    free(many);
    CHECK_ERR(rc, err, LR_ERPC, "too_large");
    CHECK_OK(lr_rpc_client_recommend(c, hist, 3, 2, hits, &n, &code, &err), err); /* still usable */
    lr_rpc_client_close(c);
    lr_rpc_client *none = NULL;
    CHECK_ERR(lr_rpc_client_connect("127.0.0.1:1", 2000, &none, &err), err, LR_EIO, "127.0.0.1:1");
    world_down(&w);
}

/* ---- every str the server sends is valid UTF-8 ----------------------------------------------- */

/* 1 when in[0 .. len) escapes to want[0 .. wl), both into a buffer and through the packer. */
static int escapes_to(const char *in, size_t len, const char *want, size_t wl) {
    char out[256];
    size_t n = lr_rpc_utf8_escape(NULL, in, len);
    if (n != wl || n > sizeof out || lr_rpc_utf8_escape(out, in, len) != n || memcmp(out, want, n)) return 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    int ok = lr_rpc_pack_str(&pk, in, len) == 0 &&
             msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS && off == sb.size &&
             u.data.type == MSGPACK_OBJECT_STR && u.data.via.str.size == wl &&
             (wl == 0 || !memcmp(u.data.via.str.ptr, want, wl)); /* an empty str's ptr is NULL */
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return ok;
}

/* 1 when s[0 .. len) is valid UTF-8 and comes out of the escaper unchanged. */
static int passes(const char *s, size_t len) {
    return lr_rpc_utf8_valid(s, len) == len && escapes_to(s, len, s, len);
}

#define BYTES(lit) lit, sizeof lit - 1 /* a literal as (bytes, length), NUL bytes included */

LR_TEST(utf8_escape_keeps_valid_text_and_writes_each_bad_byte_as_hex) {
    CHECK(passes(BYTES("")));
    CHECK(passes(BYTES("plain ASCII, a backslash \\ and \\xff as text stay as they are")));
    /* e-acute, euro sign, G clef (4 bytes); U+D7FF, U+E000, U+FFFF, U+10FFFF; a NUL */
    CHECK(passes(BYTES("caf\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e")));
    CHECK(passes(BYTES("\xed\x9f\xbf \xee\x80\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf")));
    CHECK(passes(BYTES("a\0b")));
    CHECK(escapes_to(BYTES("\xff\xfe"), BYTES("\\xff\\xfe")));
    /* a 3-byte sequence cut short, at the end and before more text */
    CHECK(escapes_to(BYTES("a\xe2\x82"), BYTES("a\\xe2\\x82")));
    CHECK(escapes_to(BYTES("\xe2\x82z\xc3"), BYTES("\\xe2\\x82z\\xc3")));
    /* overlong forms: NUL in 2 bytes, '/' in 3, U+FFFF in 4 */
    CHECK(escapes_to(BYTES("\xc0\x80"), BYTES("\\xc0\\x80")));
    CHECK(escapes_to(BYTES("\xe0\x80\xaf"), BYTES("\\xe0\\x80\\xaf")));
    CHECK(escapes_to(BYTES("\xf0\x8f\xbf\xbf"), BYTES("\\xf0\\x8f\\xbf\\xbf")));
    /* the surrogate U+D800; U+110000 and a lead byte beyond any code point */
    CHECK(escapes_to(BYTES("\xed\xa0\x80"), BYTES("\\xed\\xa0\\x80")));
    CHECK(escapes_to(BYTES("\xf4\x90\x80\x80"), BYTES("\\xf4\\x90\\x80\\x80")));
    CHECK(escapes_to(BYTES("\xf5\x80\x80\x80"), BYTES("\\xf5\\x80\\x80\\x80")));
    /* continuation bytes alone; good text on both sides of a bad byte */
    CHECK(escapes_to(BYTES("\x80\xbf"), BYTES("\\x80\\xbf")));
    CHECK(escapes_to(BYTES("\xc3\xa9\xff\xc3\xa9"), BYTES("\xc3\xa9\\xff\xc3\xa9")));
    CHECK_EQ(lr_rpc_utf8_valid(BYTES("ok\xff\xc3\xa9")), 2);
}

LR_TEST(utf8_cut_never_splits_a_character) {
    char name[81] = "a"; /* "a" and 40 e-acutes: byte 64 is the second half of the 32nd */
    for (int i = 0; i < 40; i++) memcpy(name + 1 + 2 * i, "\xc3\xa9", 2);
    CHECK_EQ(lr_rpc_utf8_cut(name, 81, 64), 63);
    CHECK_EQ(lr_rpc_utf8_cut(name + 1, 80, 64), 64);
    CHECK_EQ(lr_rpc_utf8_cut(name, 81, 100), 81);
    CHECK_EQ(lr_rpc_utf8_cut(BYTES("\xf0\x9d\x84\x9e"), 3), 0);
    CHECK_EQ(lr_rpc_utf8_cut(BYTES("\x80\x80\x80\x80\x80\x80"), 4), 4); /* no character to keep whole */
}

/* The error of a call by a method name given as raw bytes (str or bin): its code, and the
 * message copied into msg (NUL-terminated); -1 when the answer is not [code, str]. */
static int method_error(raw *r, const char *name, int as_bin, char *msg, size_t cap, size_t *len) {
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    req q = {name, as_bin, 0, 0, {{0}}};
    int code = call(r, build_req, &q, &res);
    const msgpack_object *m = code > 0 ? &res.data.via.array.ptr[2].via.array.ptr[1] : NULL;
    if (m && m->type == MSGPACK_OBJECT_STR && m->via.str.size < cap) {
        *len = m->via.str.size;
        memcpy(msg, m->via.str.ptr, *len);
        msg[*len] = 0;
    } else {
        code = -1;
    }
    msgpack_unpacked_destroy(&res);
    return code;
}

/* A strict client (python-msgpack with raw=False) refuses a response whose str is not UTF-8, so
 * it could not read the error naming its own bad method name. */
LR_TEST(a_method_name_that_is_not_utf8_gets_an_error_in_valid_utf8) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    raw r;
    CHECK(raw_open(&r, lr_rpc_server_port(w.server)) == 0);
    char *msg = malloc(512); /* on the heap: the failure message prints it, truncated */
    size_t len = 0;
    CHECK(msg);
    for (int as_bin = 0; as_bin < 2; as_bin++) {
        CHECK_EQ(method_error(&r, "\xff\xfe", as_bin, msg, 512, &len), LR_RPC_EUNKNOWN_METHOD);
        CHECK_EQ(lr_rpc_utf8_valid(msg, len), len);
        CHECK_CONTAINS(msg, "unknown method '\\xff\\xfe'");
    }
    /* a valid name longer than the 64 bytes shown is cut between characters, not inside one */
    char name[82] = "a";
    for (int i = 0; i < 40; i++) memcpy(name + 1 + 2 * i, "\xc3\xa9", 2);
    CHECK_EQ(method_error(&r, name, 0, msg, 512, &len), LR_RPC_EUNKNOWN_METHOD);
    CHECK_EQ(lr_rpc_utf8_valid(msg, len), len);
    CHECK(!strstr(msg, "\\x"));
    CHECK_CONTAINS(msg, "'a\xc3\xa9");
    free(msg);
    req ping = {"ping", 0, 0, 0, {{0}}}; /* the connection carries on */
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    CHECK_EQ(call(&r, build_req, &ping, &res), 0);
    msgpack_unpacked_destroy(&res);
    raw_close(&r);
    world_down(&w);
}

/* POSTs body to /recommend: the whole response into buf, its body parsed as JSON (NULL when the
 * body is not valid UTF-8 or not JSON). */
static json_t *http_post_json(int port, const char *body, char *buf, size_t cap) {
    char post[1024];
    snprintf(post, sizeof post, "POST /recommend HTTP/1.0\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
    if (http_get(port, post, buf, cap) <= 0) return NULL;
    const char *start = strstr(buf, "\r\n\r\n");
    if (!start) return NULL;
    start += 4;
    size_t n = strlen(start);
    return lr_rpc_utf8_valid(start, n) == n ? json_loadb(start, n, 0, NULL) : NULL;
}

/* jansson's own parse errors may quote half a character of the body (its "near '...'"), and
 * json_pack refused the message: the client got "{}". */
LR_TEST(http_errors_are_valid_utf8_json_whatever_the_body_holds) {
    world w;
    lr_err err = {0};
    CHECK_OK(world_up(&w, lr_rpc_server_config_default(), &err), err);
    int hp = lr_rpc_server_http_port(w.server);
    char *buf = malloc(65536);
    CHECK(buf);
    /* an escape of a multi-byte character: jansson's message ends in its first byte alone */
    json_t *o = http_post_json(hp, "{\"history\": \"\\\xc3\xa9\"}", buf, 65536);
    CHECK_CONTAINS(buf, "400");
    const char *m = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
    CHECK_CONTAINS(m, "\\xc3"); /* "invalid escape near '\"\\\\xc3'" with jansson 2.14 */
    CHECK_EQ(json_integer_value(json_object_get(json_object_get(o, "error"), "code")), LR_RPC_EBAD_REQUEST);
    json_decref(o);
    /* bytes that are not UTF-8 at all */
    o = http_post_json(hp, "{\"history\": [1], \"k\": \"\xff\xfe\"}", buf, 65536);
    CHECK_CONTAINS(buf, "400");
    CHECK(json_string_value(json_object_get(json_object_get(o, "error"), "message")));
    json_decref(o);
    free(buf);
    world_down(&w);
}

/* ---- one version per answer ------------------------------------------------------------------ */

typedef struct {
    lr_rpc_engine *e;
    atomic_int stop;
    int reloads, failed;
} flipper;

static void *flip_versions(void *arg) {
    flipper *fl = arg;
    const char *names[2] = {"v000002", "v000001"};
    for (int i = 0; !atomic_load(&fl->stop); i++) {
        lr_rpc_fail f = {0};
        char version[32];
        size_t count;
        if (lr_rpc_engine_reload(fl->e, names[i % 2], version, &count, &f)) fl->failed++;
        else fl->reloads++;
        nanosleep(&(struct timespec){0, 2000000}, NULL); /* 2 ms: a reload every batch or two */
    }
    return NULL;
}

#define BATCH 48

typedef struct {
    const float *q;
    int report;
    const int64_t *hist; /* BATCH histories of 3 ids, for recommend */
} batch_req;

/* [0, 42, "search", {vectors: [BATCH of them], k: 5}] or recommend {histories, k: 5, report} */
static void build_batch(msgpack_packer *pk, void *arg) {
    const batch_req *b = arg;
    msgpack_pack_array(pk, 4);
    msgpack_pack_int(pk, 0);
    msgpack_pack_uint32(pk, 42);
    pk_str(pk, b->hist ? "recommend" : "search");
    msgpack_pack_map(pk, b->hist ? 3 : 2);
    pk_str(pk, b->hist ? "histories" : "vectors");
    msgpack_pack_array(pk, BATCH);
    for (size_t i = 0; i < BATCH; i++) {
        msgpack_pack_array(pk, b->hist ? 3 : 16);
        for (size_t j = 0; j < (b->hist ? 3u : 16u); j++)
            b->hist ? msgpack_pack_int64(pk, b->hist[i * 3 + j]) : msgpack_pack_float(pk, b->q[i * 16 + j]);
    }
    pk_str(pk, "k");
    msgpack_pack_int(pk, 5);
    if (b->hist) {
        pk_str(pk, "report");
        b->report ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    }
}

/* Batches answered while another thread reloads between two versions as fast as it can: the
 * answers of one batch all come from one version (v000002 holds the items' vectors negated, so
 * every query's best items differ between the two), and a report names that version. */
LR_TEST(a_batch_is_answered_by_one_version_never_a_mix) {
    world w;
    lr_err err = {0};
    int rc = world_up(&w, lr_rpc_server_config_default(), &err);
    static float saved[N_ITEMS * 16], q[BATCH * 16];
    memcpy(saved, w.items, sizeof saved);
    for (size_t i = 0; i < N_ITEMS * 16; i++) w.items[i] = -w.items[i];
    if (!rc) rc = publish(&w, "Flat", &err); /* v000002: the items negated */
    memcpy(w.items, saved, sizeof saved);
    for (size_t i = 0; i < BATCH * 16; i++) q[i] = sinf((float)i * 1.7f + 0.3f);
    /* each query's exact top 5 under both versions (v000001 probes all its lists: exact) */
    static int64_t want[2][BATCH * 5];
    static float ws[BATCH * 5], neg[N_ITEMS * 16];
    for (size_t i = 0; i < N_ITEMS * 16; i++) neg[i] = -w.items[i];
    if (!rc) rc = lr_index_exact_search(w.items, N_ITEMS, 16, q, BATCH, 5, want[0], ws, &err);
    if (!rc) rc = lr_index_exact_search(neg, N_ITEMS, 16, q, BATCH, 5, want[1], ws, &err);
    raw r = {-1, {0}};
    if (!rc) rc = raw_open(&r, lr_rpc_server_port(w.server));
    CHECK_OK(rc, err);
    flipper fl = {w.engine, 0, 0, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, flip_versions, &fl) == 0);
    int seen[2] = {0, 0}, mixed = 0, refused = 0, mislabelled = 0;
    static int64_t hist[BATCH * 3];
    for (size_t i = 0; i < BATCH * 3; i++) hist[i] = (int64_t)((i * 37) % N_ITEMS);
    msgpack_unpacked res;
    msgpack_unpacked_init(&res);
    for (int round = 0; round < 300; round++) {
        batch_req b = {q, 0, NULL};
        int code = call(&r, build_batch, &b, &res);
        if (code == LR_RPC_EOVERLOADED) { /* three reloads in one batch: allowed, counted */
            refused++;
            continue;
        }
        CHECK_EQ(code, 0);
        const msgpack_object *a = result_of(&res);
        CHECK(a->type == MSGPACK_OBJECT_ARRAY && a->via.array.size == BATCH);
        int from[2] = {0, 0};
        for (size_t i = 0; code == 0 && i < BATCH; i++) {
            int64_t ids[5];
            float sc[5];
            CHECK_EQ(hits_of(&a->via.array.ptr[i], ids, sc, 5), 5);
            for (int v = 0; v < 2; v++) from[v] += memcmp(ids, want[v] + i * 5, sizeof ids) == 0;
        }
        CHECK(from[0] + from[1] == BATCH); /* every answer is one version's */
        if (from[0] && from[1]) mixed++;
        else seen[from[1] ? 1 : 0]++;
        /* recommend batches with a report: one version named throughout */
        batch_req rb = {NULL, 1, hist};
        code = call(&r, build_batch, &rb, &res);
        if (code == LR_RPC_EOVERLOADED) {
            refused++;
            continue;
        }
        CHECK_EQ(code, 0);
        a = result_of(&res);
        const char *first = NULL;
        for (size_t i = 0; code == 0 && i < a->via.array.size; i++) {
            const msgpack_object *m = &a->via.array.ptr[i];
            CHECK(m->type == MSGPACK_OBJECT_MAP && m->via.map.size == 3);
            const char *v = m->via.map.ptr[2].val.via.str.ptr;
            if (!first) first = v;
            mislabelled += strncmp(first, v, 7) != 0;
        }
    }
    atomic_store(&fl.stop, 1);
    pthread_join(t, NULL);
    printf("  %d reloads; batches from v000001 %d, from v000002 %d, refused after three passes %d\n", fl.reloads,
           seen[0], seen[1], refused);
    CHECK_EQ(mixed, 0);
    CHECK_EQ(mislabelled, 0);
    CHECK_EQ(fl.failed, 0);
    /* the reloads did land between requests: both versions answered whole batches */
    CHECK(seen[0] > 0 && seen[1] > 0);
    CHECK(fl.reloads > 20);
    CHECK(refused < 100);
    msgpack_unpacked_destroy(&res);
    raw_close(&r);
    world_down(&w);
}

LR_TEST_MAIN(LR_CASE(recommend_equals_encode_then_search_and_the_offline_path),
             LR_CASE(the_client_library_gets_results_and_typed_errors),
             LR_CASE(pipelined_requests_are_each_answered_once), LR_CASE(malformed_requests_get_typed_errors),
             LR_CASE(item_returns_the_served_versions_attributes), LR_CASE(added_items_are_filtered_by_their_attributes), LR_CASE(filters_apply_during_search_and_recommend),
             LR_CASE(similar_items_and_diversity_caps),
             LR_CASE(a_requests_nprobe_applies_to_it_alone),
             LR_CASE(a_search_takes_the_operating_point_of_its_k),
             LR_CASE(bad_bytes_close_only_their_connection),
             LR_CASE(admin_methods_need_the_token_and_change_what_is_served),
             LR_CASE(reload_swaps_versions_and_refuses_bad_names), LR_CASE(a_batch_is_answered_by_one_version_never_a_mix),
             LR_CASE(a_full_queue_and_an_old_request_get_typed_errors),
             LR_CASE(queued_bytes_are_bounded_as_well_as_queued_requests),
             LR_CASE(http_health_metrics_and_json_recommend), LR_CASE(a_drain_delay_keeps_serving_while_health_says_draining), LR_CASE(a_stop_answers_what_is_in_flight_then_closes),
             LR_CASE(utf8_escape_keeps_valid_text_and_writes_each_bad_byte_as_hex),
             LR_CASE(utf8_cut_never_splits_a_character),
             LR_CASE(a_method_name_that_is_not_utf8_gets_an_error_in_valid_utf8),
             LR_CASE(http_errors_are_valid_utf8_json_whatever_the_body_holds))
