/* The methods of docs/rpc.md: read params, ask the engine, pack the result. Runs on workers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

typedef int (*method_fn)(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f);

typedef struct {
    const char *name;
    method_fn run;
    int admin;
} method;

static int cmp_id(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Escaped where it is not UTF-8: an item's text is whatever bytes its dataset held. */
static void pack_str(msgpack_packer *pk, const char *s) { lr_rpc_pack_str(pk, s, strlen(s)); }

static void pack_hits(msgpack_packer *pk, const lr_rpc_hit *hits, size_t n) {
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_array(pk, 2);
        msgpack_pack_int64(pk, hits[i].id);
        msgpack_pack_float(pk, hits[i].score);
    }
}

/* 1 while the server takes new work; `overloaded` while it drains or loads a version, as
 * /healthz's 503: a load balancer's check in the protocol itself takes it out of rotation. */
static int m_ping(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    (void)map;
    const char *unready = lr_rpc_engine_unready(c->engine, c->leaving);
    if (unready)
        return lr_rpc_failf(f, LR_RPC_EOVERLOADED, "%s: %s", unready,
                            strcmp(unready, "draining") == 0 ? "the server is shutting down"
                                                                : "loading another index version");
    msgpack_pack_int(pk, 1);
    return LR_RPC_OK;
}

/* ---- recommend and encode_user -------------------------------------------------------------- */

typedef struct {
    size_t k, nprobe;
    int exclude_history, report;
    int64_t *exclude; /* sorted */
    size_t n_exclude;
    lr_rpc_filter filter;
} rec_opts;

/* The history (`history`) or histories (`histories`) of a request. */
static int histories_of(lr_rpc_ctx *c, const msgpack_object *map, const msgpack_object **list, size_t *n,
                        int *batch, lr_rpc_fail *f) {
    const msgpack_object *one = lr_rpc_field(map, "history"), *many = lr_rpc_field(map, "histories");
    if (!one == !many) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "give either 'history' (an array of item ids) or 'histories'");
    *batch = many != NULL;
    if (one) {
        *list = one, *n = 1;
        return LR_RPC_OK;
    }
    if (many->type != MSGPACK_OBJECT_ARRAY) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'histories' must be an array of arrays of item ids");
    if (many->via.array.size > c->cfg->max_batch)
        return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "%u histories, above the limit of %zu", many->via.array.size, c->cfg->max_batch);
    *list = many->via.array.ptr, *n = many->via.array.size;
    return LR_RPC_OK;
}

/* A history (an array of ids) through the user tower into vec. *hist and *unknown (the ids
 * skipped, *nu of them) are malloc'd for the caller, also on failure. */
static int encode_history(lr_rpc_ctx *c, const msgpack_object *h, float *vec, int64_t **hist, size_t *len,
                          int64_t **unknown, size_t *nu, int *empty, lr_rpc_fail *f) {
    *unknown = NULL, *nu = 0;
    int rc = lr_rpc_get_ids(h, "history", c->cfg->max_history, hist, len, f);
    if (!rc && !(*unknown = malloc((*len ? *len : 1) * sizeof **unknown)))
        rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    if (!rc) rc = lr_rpc_engine_encode(c->engine, c->ws, *hist, *len, vec, *unknown, nu, empty, f);
    return rc;
}

/* The request's exclusions plus n more ids, sorted, into a fresh *out (*n_out ids). */
static int excluding_too(const rec_opts *o, const int64_t *more, size_t n, int64_t **out, size_t *n_out,
                         lr_rpc_fail *f) {
    if (!(*out = malloc((o->n_exclude + n + 1) * sizeof **out))) return lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    if (o->n_exclude) memcpy(*out, o->exclude, o->n_exclude * sizeof **out);
    if (n) memcpy(*out + o->n_exclude, more, n * sizeof **out);
    *n_out = o->n_exclude + n;
    qsort(*out, *n_out, sizeof **out, cmp_id);
    return LR_RPC_OK;
}

/* One history's answer: the towers and the index, or popularity when nothing is left to read. */
static int recommend_one(lr_rpc_ctx *c, const msgpack_object *h, const rec_opts *o, msgpack_packer *pk,
                         char served[32], lr_rpc_fail *f) {
    size_t len = 0, nu = 0, n_hits = 0, D = lr_rpc_engine_dim(c->engine);
    int64_t *hist = NULL, *unknown = NULL, *ex = NULL;
    float *vec = malloc(D * sizeof *vec);
    lr_rpc_hit *hits = malloc(o->k * sizeof *hits);
    int empty = 0, rc = vec && hits ? LR_RPC_OK : lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    if (!rc) rc = encode_history(c, h, vec, &hist, &len, &unknown, &nu, &empty, f);
    size_t n_ex = o->n_exclude;
    if (!rc && o->exclude_history && len) rc = excluding_too(o, hist, len, &ex, &n_ex, f);
    const int64_t *exclude = ex ? ex : o->exclude;
    if (!rc && empty) rc = lr_rpc_engine_popular(c->engine, o->k, &o->filter, exclude, n_ex, hits, &n_hits, served, f);
    else if (!rc) rc = lr_rpc_engine_search(c->engine, vec, o->k, o->nprobe, &o->filter, exclude, n_ex, hits, &n_hits, served, f);
    if (!rc) {
        atomic_fetch_add(&c->metrics->unknown_ids, nu);
        if (o->report) {
            msgpack_pack_map(pk, 3);
            pack_str(pk, "items");
        }
        pack_hits(pk, hits, n_hits);
        if (o->report) {
            pack_str(pk, "unknown");
            msgpack_pack_array(pk, nu);
            for (size_t i = 0; i < nu; i++) msgpack_pack_int64(pk, unknown[i]);
            pack_str(pk, "version");
            pack_str(pk, served);
        }
    }
    free(hist);
    free(unknown);
    free(ex);
    free(vec);
    free(hits);
    return rc;
}

/* One answer of a batch into pk: item i; served gets the version that answered it. */
typedef int (*answer_fn)(lr_rpc_ctx *c, size_t i, void *arg, msgpack_packer *pk, char served[32], lr_rpc_fail *f);

#define BATCH_PASSES 3

/* A batch of n answers (an array) from one version, never a mix: the answers are packed aside and
 * packed again from the start when a reload came between two of them. A reload is seconds
 * apart from the next and a batch takes milliseconds, so the second pass nearly always sees one
 * version; after BATCH_PASSES the request is refused as overloaded, which clients send again. */
static int answer_batch(lr_rpc_ctx *c, size_t n, answer_fn fn, void *arg, msgpack_packer *pk, lr_rpc_fail *f) {
    msgpack_sbuffer aside;
    msgpack_sbuffer_init(&aside);
    int rc = LR_RPC_OK, mixed = 0;
    for (int pass = 0; pass < BATCH_PASSES && (pass == 0 || mixed) && !rc; pass++) {
        msgpack_sbuffer_clear(&aside);
        msgpack_packer apk;
        msgpack_packer_init(&apk, &aside, msgpack_sbuffer_write);
        msgpack_pack_array(&apk, n);
        char first[32] = "", served[32] = "";
        mixed = 0;
        for (size_t i = 0; !rc && i < n; i++) {
            rc = fn(c, i, arg, &apk, served, f);
            if (!rc && i == 0) memcpy(first, served, sizeof first);
            if (!rc && strcmp(first, served) != 0) mixed = 1;
        }
    }
    if (!rc && mixed)
        rc = lr_rpc_failf(f, LR_RPC_EOVERLOADED, "the served version changed during the batch %d times; send it again",
                          BATCH_PASSES);
    if (!rc && aside.size && pk->callback(pk->data, aside.data, aside.size) != 0)
        rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    msgpack_sbuffer_destroy(&aside);
    return rc;
}

/* On failure o->k and o->nprobe are 0 (a get that fails leaves its output unset). */
static int read_search_opts(lr_rpc_ctx *c, const msgpack_object *map, rec_opts *o, lr_rpc_fail *f) {
    int64_t k = 0, nprobe = 0;
    int rc = lr_rpc_get_int(map, "k", 10, 1, (int64_t)c->cfg->max_k, &k, f);
    if (!rc) rc = lr_rpc_get_int(map, "nprobe", 0, 0, 1 << 20, &nprobe, f);
    if (!rc) rc = lr_rpc_get_ids(lr_rpc_field(map, "exclude"), "exclude", c->cfg->max_history, &o->exclude, &o->n_exclude, f);
    if (!rc && o->n_exclude) qsort(o->exclude, o->n_exclude, sizeof *o->exclude, cmp_id);
    if (!rc) rc = lr_rpc_filter_read(lr_rpc_field(map, "filter"), c->cfg->max_history, &o->filter, f);
    if (!rc) rc = lr_rpc_caps_read(lr_rpc_field(map, "max_per"), &o->filter, f);
    o->k = (size_t)k, o->nprobe = (size_t)nprobe;
    return rc;
}

typedef struct {
    const msgpack_object *list;
    const rec_opts *o;
} rec_batch;

static int recommend_nth(lr_rpc_ctx *c, size_t i, void *arg, msgpack_packer *pk, char served[32], lr_rpc_fail *f) {
    const rec_batch *b = arg;
    return recommend_one(c, &b->list[i], b->o, pk, served, f);
}

static int m_recommend(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    rec_opts o = {0};
    const msgpack_object *list;
    size_t n;
    int batch;
    int rc = histories_of(c, map, &list, &n, &batch, f);
    if (!rc) rc = read_search_opts(c, map, &o, f);
    if (!rc) rc = lr_rpc_get_bool(map, "exclude_history", 0, &o.exclude_history, f);
    if (!rc) rc = lr_rpc_get_bool(map, "report", 0, &o.report, f);
    char served[32];
    rec_batch b = {list, &o};
    if (!rc) rc = batch ? answer_batch(c, n, recommend_nth, &b, pk, f) : recommend_one(c, list, &o, pk, served, f);
    free(o.exclude);
    lr_rpc_filter_free(&o.filter);
    return rc;
}

static int m_encode_user(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    const msgpack_object *list;
    size_t n, D = lr_rpc_engine_dim(c->engine);
    int batch;
    int rc = histories_of(c, map, &list, &n, &batch, f);
    float *vec = malloc(D * sizeof *vec);
    if (!rc && !vec) rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    if (!rc && batch) msgpack_pack_array(pk, n);
    for (size_t i = 0; !rc && i < n; i++) {
        int64_t *hist = NULL, *unknown = NULL;
        size_t len = 0, nu = 0;
        int empty;
        rc = encode_history(c, &list[i], vec, &hist, &len, &unknown, &nu, &empty, f);
        if (!rc) {
            atomic_fetch_add(&c->metrics->unknown_ids, nu);
            msgpack_pack_array(pk, D);
            for (size_t j = 0; j < D; j++) msgpack_pack_float(pk, vec[j]);
        }
        free(hist);
        free(unknown);
    }
    free(vec);
    return rc;
}

/* ---- search, item ------------------------------------------------------------------------- */

/* Item vectors are unit rows (the towers end in an L2 norm), so a query scores at most its own
 * length: a longer query than this could score infinity, and its hits would come in no order. */
#define MAX_QUERY_LENGTH 1e38

static int check_query_length(const float *v, size_t D, lr_rpc_fail *f) {
    double s = 0.0;
    for (size_t j = 0; j < D; j++) s += (double)v[j] * v[j];
    if (sqrt(s) <= MAX_QUERY_LENGTH) return LR_RPC_OK;
    return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'vector' has length %.3g, above %.0g: its scores would overflow float32",
                        sqrt(s), MAX_QUERY_LENGTH);
}

typedef struct {
    const msgpack_object *vectors;
    const rec_opts *o;
    float *vec;       /* D floats of room */
    lr_rpc_hit *hits; /* k of room */
} search_batch;

static int search_nth(lr_rpc_ctx *c, size_t i, void *arg, msgpack_packer *pk, char served[32], lr_rpc_fail *f) {
    const search_batch *b = arg;
    size_t D = lr_rpc_engine_dim(c->engine), n_hits = 0;
    int rc = lr_rpc_get_vector(&b->vectors[i], "vector", D, b->vec, f);
    if (!rc) rc = check_query_length(b->vec, D, f);
    if (!rc) rc = lr_rpc_engine_search(c->engine, b->vec, b->o->k, b->o->nprobe, &b->o->filter, b->o->exclude,
                                       b->o->n_exclude, b->hits, &n_hits, served, f);
    if (!rc) pack_hits(pk, b->hits, n_hits);
    return rc;
}

static int m_search(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    const msgpack_object *one = lr_rpc_field(map, "vector"), *many = lr_rpc_field(map, "vectors");
    if (!one == !many) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "give either 'vector' (an array of numbers) or 'vectors'");
    if (many && many->type != MSGPACK_OBJECT_ARRAY) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'vectors' must be an array of vectors");
    size_t n = one ? 1 : many->via.array.size, D = lr_rpc_engine_dim(c->engine);
    if (n > c->cfg->max_batch) return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "%zu vectors, above the limit of %zu", n, c->cfg->max_batch);
    rec_opts o = {0};
    int rc = read_search_opts(c, map, &o, f);
    float *vec = rc ? NULL : malloc(D * sizeof *vec);
    lr_rpc_hit *hits = rc ? NULL : malloc(o.k * sizeof *hits);
    if (!rc && (!vec || !hits)) rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    search_batch b = {one ? one : many ? many->via.array.ptr : NULL, &o, vec, hits};
    char served[32];
    if (!rc) rc = many ? answer_batch(c, n, search_nth, &b, pk, f) : search_nth(c, 0, &b, pk, served, f);
    free(o.exclude);
    lr_rpc_filter_free(&o.filter);
    free(vec);
    free(hits);
    return rc;
}

/* Items near one item (or the mean direction of several): item-to-item candidates. The given
 * items are never among the results. */
static int m_similar(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    const msgpack_object *one = lr_rpc_field(map, "id"), *many = lr_rpc_field(map, "ids");
    if (!one == !many) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "give either 'id' (an item id) or 'ids' (an array of them)");
    int64_t *ids = NULL, *ex = NULL;
    size_t n = 0, D = lr_rpc_engine_dim(c->engine), n_hits = 0, n_ex = 0;
    rec_opts o = {0};
    int rc = LR_RPC_OK;
    if (one) {
        int64_t id;
        rc = lr_rpc_get_int(map, "id", 0, INT64_MIN, INT64_MAX, &id, f);
        if (!rc && !(ids = malloc(sizeof *ids))) rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
        if (!rc) ids[0] = id, n = 1;
    } else {
        rc = lr_rpc_get_ids(many, "ids", c->cfg->max_history, &ids, &n, f);
        if (!rc && !n) rc = lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'ids' must name at least one item");
    }
    if (!rc) rc = read_search_opts(c, map, &o, f);
    float *vecs = rc ? NULL : malloc(n * D * sizeof *vecs), *q = rc ? NULL : calloc(D, sizeof *q);
    lr_rpc_hit *hits = rc ? NULL : malloc(o.k * sizeof *hits);
    if (!rc && (!vecs || !q || !hits)) rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    if (!rc) rc = excluding_too(&o, ids, n, &ex, &n_ex, f); /* never the items asked about */
    if (!rc) rc = lr_rpc_engine_item_vectors(c->engine, ids, n, vecs, f);
    if (!rc) { /* the items' unit vectors summed, then made unit: their mean direction */
        double norm = 0;
        for (size_t i = 0; i < n * D; i++) q[i % D] += vecs[i];
        for (size_t d = 0; d < D; d++) norm += (double)q[d] * q[d];
        for (size_t d = 0; norm > 0 && d < D; d++) q[d] = (float)(q[d] / sqrt(norm));
        rc = lr_rpc_engine_search(c->engine, q, o.k, o.nprobe, &o.filter, ex, n_ex, hits, &n_hits, NULL, f);
    }
    if (!rc) pack_hits(pk, hits, n_hits);
    free(ids), free(ex), free(vecs), free(q), free(hits), free(o.exclude);
    lr_rpc_filter_free(&o.filter);
    return rc;
}

static int m_item(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    int64_t id;
    if (!lr_rpc_field(map, "id")) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'id' is required");
    int rc = lr_rpc_get_int(map, "id", 0, INT64_MIN, INT64_MAX, &id, f);
    if (rc) return rc;
    lr_rpc_item_info info;
    msgpack_sbuffer attrs;
    msgpack_sbuffer_init(&attrs);
    int oom = lr_rpc_engine_item(c->engine, id, &info, &attrs);
    if (oom || !info.known) {
        msgpack_sbuffer_destroy(&attrs);
        return oom ? lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory for item %lld's attributes", (long long)id)
                   : lr_rpc_failf(f, LR_RPC_ENOT_FOUND, "item %lld is not known to this server", (long long)id);
    }
    msgpack_pack_map(pk, 3 + (info.text != NULL) + (attrs.size > 0));
    pack_str(pk, "id");
    msgpack_pack_int64(pk, id);
    pack_str(pk, "in_index");
    info.in_index ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    pack_str(pk, "added");
    info.added ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    if (info.text) {
        pack_str(pk, "text");
        pack_str(pk, info.text);
    }
    if (attrs.size) { /* packed under the engine's lock, appended as they are */
        pack_str(pk, "attributes");
        pk->callback(pk->data, attrs.data, attrs.size);
    }
    msgpack_sbuffer_destroy(&attrs);
    return LR_RPC_OK;
}

/* ---- admin: add, remove, reload ----------------------------------------------------------- */

static int m_add_items(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    const msgpack_object *items = lr_rpc_field(map, "items");
    if (!items || items->type != MSGPACK_OBJECT_ARRAY)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'items' must be an array of {id, text or content, attributes?} maps");
    size_t n = items->via.array.size, dc = lr_rpc_engine_content_dim(c->engine);
    if (n > c->cfg->max_batch) return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "%zu items, above the limit of %zu", n, c->cfg->max_batch);
    int64_t *ids = calloc(n ? n : 1, sizeof *ids);
    const char **texts = calloc(n ? n : 1, sizeof *texts);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    float **contents = calloc(n ? n : 1, sizeof *contents);
    int rc = ids && texts && lens && contents ? LR_RPC_OK : lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    for (size_t i = 0; !rc && i < n; i++) {
        const msgpack_object *it = &items->via.array.ptr[i], *text, *content;
        if (it->type != MSGPACK_OBJECT_MAP || !lr_rpc_field(it, "id")) {
            rc = lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "items[%zu] must be a map with an 'id'", i);
            break;
        }
        if ((rc = lr_rpc_get_int(it, "id", 0, 0, INT64_MAX, &ids[i], f))) break;
        text = lr_rpc_field(it, "text"), content = lr_rpc_field(it, "content");
        if (!text == !content) {
            rc = lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "items[%zu] needs either 'text' or 'content'", i);
        } else if (text && !lr_rpc_as_str(text, &texts[i], &lens[i])) {
            rc = lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "items[%zu].text must be a string", i);
        } else if (content) {
            if (!dc) rc = lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "this model reads no content");
            else if (!(contents[i] = malloc(dc * sizeof **contents))) rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
            else rc = lr_rpc_get_vector(content, "content", dc, contents[i], f);
        }
    }
    lr_rpc_added_attrs attrs = {0};
    if (!rc) rc = lr_rpc_added_attrs_read(items, c->cfg->max_history, &attrs, f);
    if (!rc) rc = lr_rpc_engine_add(c->engine, n, ids, texts, lens, (const float *const *)contents, &attrs, f);
    lr_rpc_added_attrs_free(&attrs);
    if (!rc) {
        msgpack_pack_map(pk, 1);
        pack_str(pk, "added");
        msgpack_pack_uint64(pk, n);
    }
    for (size_t i = 0; contents && i < n; i++) free(contents[i]);
    free(contents);
    free(ids);
    free(texts);
    free(lens);
    return rc;
}

static int m_remove_items(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    int64_t *ids;
    size_t n, removed;
    if (!lr_rpc_field(map, "ids")) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'ids' is required");
    int rc = lr_rpc_get_ids(lr_rpc_field(map, "ids"), "ids", c->cfg->max_history, &ids, &n, f);
    if (!rc) rc = lr_rpc_engine_remove(c->engine, n, ids, &removed, f);
    if (!rc) {
        msgpack_pack_map(pk, 1);
        pack_str(pk, "removed");
        msgpack_pack_uint64(pk, removed);
    }
    free(ids);
    return rc;
}

static int m_reload(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    const msgpack_object *v = lr_rpc_field(map, "version");
    char version[32] = "", got[32];
    const char *s;
    size_t len, count;
    if (v) { /* a version name, never a path: "v" and digits */
        int ok = lr_rpc_as_str(v, &s, &len) && len >= 2 && len < sizeof version && s[0] == 'v';
        for (size_t i = 1; ok && i < len; i++) ok = s[i] >= '0' && s[i] <= '9';
        if (!ok) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'version' must name a version such as \"v000003\"");
        memcpy(version, s, len);
        version[len] = 0;
    }
    int rc = lr_rpc_engine_reload(c->engine, v ? version : NULL, got, &count, f);
    if (rc) return rc;
    msgpack_pack_map(pk, 2);
    pack_str(pk, "version");
    pack_str(pk, got);
    pack_str(pk, "count");
    msgpack_pack_uint64(pk, count);
    return LR_RPC_OK;
}

static int m_stats(lr_rpc_ctx *c, const msgpack_object *map, msgpack_packer *pk, lr_rpc_fail *f) {
    (void)map, (void)f;
    lr_rpc_engine_stats st;
    lr_rpc_engine_get_stats(c->engine, &st);
    unsigned long long requests = 0;
    for (int i = 0; i < LR_RPC_N_METHODS; i++)
        for (int k = 0; k < LR_RPC_N_CODES; k++) requests += atomic_load(&c->metrics->requests[i][k]);
    msgpack_pack_map(pk, 14);
    pack_str(pk, "version"), pack_str(pk, st.version);
    pack_str(pk, "factory"), pack_str(pk, st.factory);
    pack_str(pk, "count"), msgpack_pack_uint64(pk, st.count);
    pack_str(pk, "catalogue_items"), msgpack_pack_uint64(pk, st.n_items);
    pack_str(pk, "dim"), msgpack_pack_uint64(pk, st.dim);
    pack_str(pk, "nprobe"), msgpack_pack_uint64(pk, st.nprobe);
    pack_str(pk, "rescore_depth"), msgpack_pack_uint64(pk, st.depth);
    pack_str(pk, "added"), msgpack_pack_uint64(pk, st.added);
    pack_str(pk, "removed"), msgpack_pack_uint64(pk, st.removed);
    pack_str(pk, "model_checksum"), pack_str(pk, st.model_checksum);
    pack_str(pk, "threads"), msgpack_pack_uint64(pk, c->cfg->threads);
    pack_str(pk, "queue_depth"), msgpack_pack_int64(pk, atomic_load(&c->metrics->queue_depth));
    pack_str(pk, "uptime_s"), msgpack_pack_double(pk, lr_rpc_now() - c->metrics->started);
    pack_str(pk, "requests"), msgpack_pack_uint64(pk, requests); /* answered before this one */
    return LR_RPC_OK;
}

static const method methods[LR_RPC_N_METHODS - 1] = {
    {"ping", m_ping, 0},           {"recommend", m_recommend, 0},   {"encode_user", m_encode_user, 0},
    {"search", m_search, 0},       {"item", m_item, 0},             {"add_items", m_add_items, 1},
    {"remove_items", m_remove_items, 1}, {"reload", m_reload, 1},   {"stats", m_stats, 0},
    {"similar", m_similar, 0},
};

int lr_rpc_method_find(const char *name, size_t len) {
    for (int i = 0; i < LR_RPC_N_METHODS - 1; i++)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, name, len) == 0) return i;
    return LR_RPC_N_METHODS - 1;
}

const char *lr_rpc_method_name(int method) {
    return method >= 0 && method < LR_RPC_N_METHODS - 1 ? methods[method].name : "unknown";
}

/* Constant time: every byte of the server's token is compared, whatever matched before, and a
 * token of another length takes the same path (compared against zero bytes past its end), so
 * the time taken tells nothing of the token's bytes or length; it depends only on the length of
 * the server's own. The accumulator is volatile so that the compiler cannot stop at the first
 * difference. */
static int token_ok(const msgpack_object *map, const char *want) {
    const msgpack_object *t = lr_rpc_field(map, "token");
    const char *s = "";
    size_t len = 0, wl = strlen(want);
    int bad = !t || !lr_rpc_as_str(t, &s, &len); /* missing, or not a str or bin */
    if (bad) s = "", len = 0;
    volatile unsigned char diff = (unsigned char)(bad | (len != wl));
    for (size_t i = 0; i < wl; i++) {
        unsigned char got = i < len ? (unsigned char)s[i] : 0;
        diff |= (unsigned char)(got ^ (unsigned char)want[i]);
    }
    return diff == 0;
}

int lr_rpc_method_run(lr_rpc_ctx *c, int method, const msgpack_object *params, msgpack_packer *pk,
                      lr_rpc_fail *f) {
    if (method < 0 || method >= LR_RPC_N_METHODS - 1) return lr_rpc_failf(f, LR_RPC_EUNKNOWN_METHOD, "no such method");
    const msgpack_object *map;
    int rc = lr_rpc_params_map(params, &map, f);
    if (rc) return rc;
    if (methods[method].admin && c->cfg->admin_token && !token_ok(map, c->cfg->admin_token))
        return lr_rpc_failf(f, LR_RPC_EUNAUTHORIZED, "%s needs the admin token ('token' in params)", methods[method].name);
    return methods[method].run(c, map, pk, f);
}
