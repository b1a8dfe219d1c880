/* The retrieval engine behind the server: towers, content, the served index version, items added
 * and removed while serving. Queries share a read lock; add, remove and the reload swap take the
 * write lock (writers are preferred, so a stream of queries cannot starve them). */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include <math.h>
#ifdef __GLIBC__
#include <malloc.h> /* malloc_trim */
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lr_data.h"
#include "lr_index.h"
#include "lr_llm.h"
#include "lr_towers.h"
#include "rpc_internal.h"

#define MAX_FETCH 100000 /* candidates one search may ask the index for */

struct lr_rpc_engine {
    pthread_rwlock_t lock;
    char *index_dir;
    lr_pal *model;
    lr_pal_config mc;
    lr_content *content; /* NULL in id mode */
    size_t n_items, dc;  /* catalogue items (ids 0 .. n_items-1), content dimension */
    lr_data *data;       /* optional */
    lr_text_encoder *enc; /* optional: new items' text through the built-in encoder ... */
    lr_llm_encoder *llm;  /* ... or through the LLM the content came from (at most one of them) */
    char model_crc[9];
    lr_index *ix;
    lr_index_manifest man;
    int64_t *popular; /* catalogue ids by training popularity, most popular first */
    float *pop_share; /* their share of training interactions */
    size_t n_popular;
    lr_idmap added;     /* id -> row of added_content */
    float *added_content;
    size_t n_added, cap_added;
    lr_idmap removed;   /* ids removed while serving (value 1) */
    size_t n_removed;
    atomic_int reloading; /* a reload is loading its version: /healthz answers not ready */
};

static int fail_from(lr_rpc_fail *f, const lr_err *err) {
    int code = LR_RPC_EINTERNAL;
    if (err->code == LR_EINVAL) code = LR_RPC_EBAD_REQUEST;
    else if (err->code == LR_ENOTFOUND) code = LR_RPC_ENOT_FOUND;
    return lr_rpc_failf(f, code, "%s", err->msg);
}

static int by_share_desc(const void *a, const void *b, void *scores) {
    const float *s = scores;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    if (s[x] != s[y]) return s[x] > s[y] ? -1 : 1;
    return x < y ? -1 : x > y;
}

static int load_popularity(lr_rpc_engine *e, lr_err *err) {
    size_t n = lr_data_num_items(e->data);
    float *scores = malloc(n * sizeof *scores);
    e->popular = malloc(n * sizeof *e->popular);
    e->pop_share = malloc(n * sizeof *e->pop_share);
    if (!scores || !e->popular || !e->pop_share) {
        free(scores);
        return lr_err_set(err, LR_ENOMEM, "out of memory for the popularity of %zu items", n);
    }
    lr_towers_baseline_popularity(e->data, scores);
    double total = 0;
    for (size_t i = 0; i < n; i++) total += scores[i], e->popular[i] = (int64_t)i;
    qsort_r(e->popular, n, sizeof *e->popular, by_share_desc, scores);
    for (size_t i = 0; i < n; i++) e->pop_share[i] = total > 0 ? (float)(scores[e->popular[i]] / total) : 0.0f;
    e->n_popular = n;
    free(scores);
    return LR_OK;
}

/* What turns a new item's text into content: the built-in encoder or the LLM, whose output width
 * must be the content width the towers were trained on. */
static int open_text_side(const lr_rpc_engine_config *cfg, lr_rpc_engine *e, lr_err *err) {
    int rc = LR_OK;
    if (cfg->encoder_path && cfg->llm_dir)
        return lr_err_set(err, LR_EINVAL, "give a text encoder or an LLM for new items' text, not both");
    if (cfg->encoder_path) {
        if ((rc = lr_towers_text_encoder_load(cfg->encoder_path, &e->enc, err))) return rc;
        if (lr_towers_text_encoder_dim(e->enc) != e->dc)
            return lr_err_set(err, LR_EMISMATCH, "the encoder %s makes %zu-dimensional content, the model reads %zu",
                              cfg->encoder_path, lr_towers_text_encoder_dim(e->enc), e->dc);
    }
    if (cfg->llm_dir) {
        if ((rc = lr_llm_encoder_open(cfg->llm_dir, NULL, &e->llm, err))) return rc;
        if (lr_llm_encoder_dim(e->llm) != e->dc)
            return lr_err_set(err, LR_EMISMATCH,
                              "the LLM in %s makes %zu-dimensional content, but the towers were trained on "
                              "%zu-dimensional content: serve the LLM whose output the content file holds",
                              cfg->llm_dir, lr_llm_encoder_dim(e->llm), e->dc);
    }
    return LR_OK;
}

static int open_parts(const lr_rpc_engine_config *cfg, lr_rpc_engine *e, lr_err *err) {
    if (!cfg->index_dir || !cfg->model_path)
        return lr_err_set(err, LR_EINVAL, "the engine needs an index directory and a model");
    if (!(e->index_dir = strdup(cfg->index_dir))) return lr_err_set(err, LR_ENOMEM, "out of memory");
    int rc = lr_towers_pal_load(cfg->model_path, &e->model, err);
    if (rc || (rc = lr_index_file_checksum(cfg->model_path, e->model_crc, err))) return rc;
    e->mc = lr_towers_pal_get_config(e->model);
    if (e->mc.mode != LR_PAL_ID) {
        if (!cfg->content_path)
            return lr_err_set(err, LR_EINVAL, "a %s-mode model needs its content matrix (--content)",
                              lr_towers_pal_mode_name(e->mc.mode));
        if ((rc = lr_data_matrix_open(cfg->content_path, e->mc.mode == LR_PAL_BOTH ? e->mc.n_items : 0,
                                         &e->content, err)))
            return rc;
        e->n_items = lr_data_matrix_rows(e->content);
        e->dc = lr_data_matrix_dim(e->content);
    } else {
        e->n_items = e->mc.n_items;
    }
    lr_index_kv model = {"model", e->model_crc};
    char version[LR_RPC_VERSION_NAME];
    if ((rc = lr_rpc_version_resolve(cfg->index_dir, NULL, version, err)) ||
        (rc = lr_index_open(cfg->index_dir, version, e->mc.out_dim, &model, 1, &e->ix, &e->man, err)))
        return rc;
    const char *built_from = lr_index_manifest_meta(&e->man, "content");
    if (e->content && built_from) { /* the index must come from this content */
        char crc[LR_DATA_DIGEST_LEN];
        /* versions before digests named the content by its file's CRC-32 (8 hex digits) */
        if (strlen(built_from) == 8) rc = lr_index_file_checksum(cfg->content_path, crc, err);
        else if (lr_data_matrix_digest(e->content, crc)) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
        if (rc) return rc;
        if (strcmp(crc, built_from) != 0)
            return lr_err_set(err, LR_EMISMATCH, "%s has checksum %s, but index version %s was built from content %s",
                              cfg->content_path, crc, e->man.version, built_from);
    }
    if (cfg->data_dir) {
        if ((rc = lr_data_load(cfg->data_dir, &e->data, err))) return rc;
        if (lr_data_num_items(e->data) != e->n_items)
            return lr_err_set(err, LR_EMISMATCH, "%s has %zu items, the content/model %zu", cfg->data_dir,
                              lr_data_num_items(e->data), e->n_items);
        if ((rc = load_popularity(e, err))) return rc;
    }
    if ((rc = open_text_side(cfg, e, err))) return rc;
    /* the item cache makes the user tower gather rows instead of running the adaptor */
    return e->content ? lr_towers_pal_cache_content(e->model, e->content, err) : LR_OK;
}

int lr_rpc_engine_open(const lr_rpc_engine_config *cfg, lr_rpc_engine **out, lr_err *err) {
    *out = NULL;
    lr_rpc_engine *e = calloc(1, sizeof *e);
    if (!e) return lr_err_set(err, LR_ENOMEM, "out of memory");
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&e->lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    int rc = open_parts(cfg, e, err);
    if (rc) {
        lr_rpc_engine_free(e);
        return rc;
    }
    *out = e;
    return LR_OK;
}

void lr_rpc_engine_free(lr_rpc_engine *e) {
    if (!e) return;
    lr_index_free(e->ix);
    lr_towers_text_encoder_free(e->enc);
    lr_llm_encoder_free(e->llm);
    lr_data_free(e->data);
    lr_data_matrix_free(e->content);
    lr_towers_pal_free(e->model);
    free(e->index_dir);
    free(e->popular);
    free(e->pop_share);
    free(e->added_content);
    lr_rpc_idmap_clear(&e->added);
    lr_rpc_idmap_clear(&e->removed);
    pthread_rwlock_destroy(&e->lock);
    free(e);
}

size_t lr_rpc_engine_dim(const lr_rpc_engine *e) { return e->mc.out_dim; }
size_t lr_rpc_engine_content_dim(const lr_rpc_engine *e) { return e->dc; }
size_t lr_rpc_engine_max_len(const lr_rpc_engine *e) { return e->mc.max_len; }

/* ---- queries ------------------------------------------------------------------------------ */

/* The user tower over a window that holds added items: their content rows are not in the
 * catalogue's matrix, so the window's rows are gathered into a small matrix of their own. */
static int embed_with_added(lr_rpc_engine *e, lr_towers_ws *ws, const int64_t *win, size_t w, float *out,
                            lr_err *err) {
    float *rows = malloc(w * e->dc * sizeof *rows);
    int32_t *seq = malloc(w * sizeof *seq);
    lr_content *tmp = NULL;
    int rc = rows && seq ? LR_OK : lr_err_set(err, LR_ENOMEM, "out of memory");
    for (size_t i = 0; !rc && i < w; i++) {
        const float *src = win[i] >= 0 && (size_t)win[i] < e->n_items
                               ? lr_data_matrix_data(e->content) + (size_t)win[i] * e->dc
                               : e->added_content + (size_t)lr_rpc_idmap_get(&e->added, win[i]) * e->dc;
        memcpy(rows + i * e->dc, src, e->dc * sizeof *rows);
        seq[i] = (int32_t)i;
    }
    size_t offsets[2] = {0, w};
    if (!rc && !(rc = lr_data_matrix_from_floats(rows, w, e->dc, &tmp, err)))
        rc = lr_towers_user_embed_ws(e->model, ws, tmp, seq, offsets, 1, out, err);
    lr_data_matrix_free(tmp);
    free(rows);
    free(seq);
    return rc;
}

int lr_rpc_engine_item_vectors(lr_rpc_engine *e, const int64_t *ids, size_t n, float *out, lr_rpc_fail *f) {
    lr_err err = {0};
    int rc = LR_OK, unknown = -1;
    size_t D = e->mc.out_dim;
    pthread_rwlock_rdlock(&e->lock); /* added rows move when add_items grows them */
    for (size_t i = 0; !rc && unknown < 0 && i < n; i++) {
        int64_t row = lr_rpc_idmap_get(&e->added, ids[i]);
        if (ids[i] >= 0 && (size_t)ids[i] < e->n_items) {
            int32_t item = (int32_t)ids[i];
            rc = lr_towers_item_embed(e->model, e->content, &item, 1, out + i * D, &err);
        } else if (row >= 0) {
            rc = lr_towers_item_embed_content(e->model, e->added_content + (size_t)row * e->dc, 1, out + i * D, &err);
        } else {
            unknown = (int)i;
        }
    }
    pthread_rwlock_unlock(&e->lock);
    if (unknown >= 0) return lr_rpc_failf(f, LR_RPC_ENOT_FOUND, "item %lld is not known to this server", (long long)ids[unknown]);
    return rc ? fail_from(f, &err) : LR_RPC_OK;
}

int lr_rpc_engine_encode(lr_rpc_engine *e, lr_towers_ws *ws, const int64_t *hist, size_t len,
                         float *out, int64_t *unknown, size_t *n_unknown, int *empty, lr_rpc_fail *f) {
    int64_t *known = malloc((len ? len : 1) * sizeof *known);
    int32_t *seq = malloc((len ? len : 1) * sizeof *seq);
    if (!known || !seq) {
        free(known);
        free(seq);
        return lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory for a history of %zu", len);
    }
    pthread_rwlock_rdlock(&e->lock);
    size_t m = 0, nu = 0;
    for (size_t i = 0; i < len; i++) {
        int64_t id = hist[i];
        /* an added item can be read only through its content (an id-mode model has none) */
        if ((id >= 0 && (size_t)id < e->n_items) || (e->mc.mode == LR_PAL_CONTENT && lr_rpc_idmap_get(&e->added, id) >= 0))
            known[m++] = id;
        else
            unknown[nu++] = id;
    }
    *n_unknown = nu;
    size_t start = m > e->mc.max_len ? m - e->mc.max_len : 0, w = m - start, D = e->mc.out_dim;
    *empty = w == 0;
    int rc = LR_RPC_OK;
    lr_err err = {0};
    if (w == 0) {
        memset(out, 0, D * sizeof *out);
    } else {
        int has_added = 0;
        for (size_t i = start; i < m; i++) has_added |= (size_t)known[i] >= e->n_items;
        if (has_added) {
            if (embed_with_added(e, ws, known + start, w, out, &err)) rc = fail_from(f, &err);
        } else {
            for (size_t i = 0; i < w; i++) seq[i] = (int32_t)known[start + i];
            size_t offsets[2] = {0, w};
            if (lr_towers_user_embed_ws(e->model, ws, e->content, seq, offsets, 1, out, &err))
                rc = fail_from(f, &err);
        }
    }
    pthread_rwlock_unlock(&e->lock);
    free(known);
    free(seq);
    return rc;
}

static int excluded(int64_t id, const int64_t *ex, size_t n) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ex[mid] == id) return 1;
        if (ex[mid] < id) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

/* The request's max_per as the index takes it (caps: 16 long); how many. */
static size_t caps_of(const lr_rpc_filter *flt, lr_index_cap *caps) {
    size_t n = flt ? flt->n_caps : 0;
    for (size_t i = 0; i < n; i++) caps[i] = (lr_index_cap){flt->cap_attr[i], flt->cap_max[i]};
    return n;
}

/* The search under the engine's lock (held by the caller as `write` says): the request's filter
 * compiled against the version now served, then the index searched. */
static int search_locked(lr_rpc_engine *e, const float *vec, size_t fetch, size_t nprobe, int write,
                         const lr_rpc_filter *flt, const int64_t *exclude, size_t n_exclude, int64_t *ids,
                         float *scores, lr_err *err) {
    lr_index_filter *xf = NULL;
    int rc = flt && (flt->present || (flt->n_caps && n_exclude))
                 ? lr_rpc_filter_compile(flt, lr_index_get_attrs(e->ix), exclude, n_exclude, &xf, err)
                 : LR_OK;
    if (!lr_index_nprobe(e->ix)) nprobe = 0; /* not an IVF index: nothing to probe */
    lr_index_cap caps[16];
    size_t n_caps = caps_of(flt, caps);
    if (!rc && !write) rc = lr_index_search_capped(e->ix, vec, fetch, nprobe, xf, caps, n_caps, ids, scores, err);
    if (!rc && write) { /* the request's nprobe set on the index, the version's put back */
        size_t own = lr_index_nprobe(e->ix);
        rc = lr_index_set_nprobe(e->ix, nprobe, err) ||
             lr_index_search_capped(e->ix, vec, fetch, 0, xf, caps, n_caps, ids, scores, err);
        lr_err ignored;
        lr_index_set_nprobe(e->ix, own, &ignored);
    }
    lr_index_filter_free(xf);
    return rc;
}

int lr_rpc_engine_search(lr_rpc_engine *e, const float *vec, size_t k, size_t nprobe, const lr_rpc_filter *flt,
                         const int64_t *exclude, size_t n_exclude, lr_rpc_hit *hits, size_t *n_hits,
                         char served[32], lr_rpc_fail *f) {
    int filtered = flt && (flt->present || flt->n_caps);
    /* unfiltered, the excluded ids are dropped afterwards; a filter denies them during the search */
    size_t fetch = filtered ? k : k + n_exclude > MAX_FETCH ? MAX_FETCH : k + n_exclude;
    int64_t *ids = malloc(fetch * sizeof *ids);
    float *scores = malloc(fetch * sizeof *scores);
    *n_hits = 0;
    if (!ids || !scores) {
        free(ids);
        free(scores);
        return lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory for %zu candidates", fetch);
    }
    lr_err err = {0};
    pthread_rwlock_rdlock(&e->lock);
    int rc = search_locked(e, vec, fetch, nprobe, 0, flt, exclude, n_exclude, ids, scores, &err);
    if (served) memcpy(served, e->man.version, 32);
    pthread_rwlock_unlock(&e->lock);
    if (rc == LR_EUNSUPPORTED && nprobe) {
        /* an index that cannot take a per-call nprobe (fast-scan codes): the request sets it on
         * the index, alone under the write lock (the version may have changed meanwhile: all
         * is done again) */
        pthread_rwlock_wrlock(&e->lock);
        rc = search_locked(e, vec, fetch, nprobe, 1, flt, exclude, n_exclude, ids, scores, &err);
        if (served) memcpy(served, e->man.version, 32);
        pthread_rwlock_unlock(&e->lock);
    }
    for (size_t i = 0; !rc && i < fetch && *n_hits < k; i++)
        if (ids[i] >= 0 && !excluded(ids[i], exclude, n_exclude)) hits[(*n_hits)++] = (lr_rpc_hit){ids[i], scores[i]};
    free(ids);
    free(scores);
    return rc ? fail_from(f, &err) : LR_RPC_OK;
}

int lr_rpc_engine_popular(lr_rpc_engine *e, size_t k, const lr_rpc_filter *flt, const int64_t *exclude,
                          size_t n_exclude, lr_rpc_hit *hits, size_t *n_hits, char served[32], lr_rpc_fail *f) {
    *n_hits = 0;
    lr_err err = {0};
    lr_index_filter *xf = NULL;
    pthread_rwlock_rdlock(&e->lock);
    int rc = flt && flt->present ? lr_rpc_filter_compile(flt, lr_index_get_attrs(e->ix), NULL, 0, &xf, &err) : LR_OK;
    lr_index_cap caps[16];
    size_t n_caps = caps_of(flt, caps), m = 0;
    /* with caps, every passing item is a candidate (the caps may skip many); else k are enough */
    size_t want = n_caps ? e->n_popular : k;
    int64_t *ci = malloc((want ? want : 1) * sizeof *ci);
    float *cs = malloc((want ? want : 1) * sizeof *cs);
    if (!rc && (!ci || !cs)) rc = lr_err_set(&err, LR_ENOMEM, "out of memory for the popular items");
    for (size_t i = 0; !rc && i < e->n_popular && m < want; i++) {
        int64_t id = e->popular[i];
        if (!excluded(id, exclude, n_exclude) && lr_rpc_idmap_get(&e->removed, id) < 0 &&
            (!xf || lr_index_filter_allows(xf, id)))
            ci[m] = id, cs[m++] = e->pop_share[i];
    }
    if (!rc && n_caps) {
        int64_t *ids = malloc(k * sizeof *ids);
        float *scores = malloc(k * sizeof *scores);
        rc = !ids || !scores ? lr_err_set(&err, LR_ENOMEM, "out of memory for %zu hits", k)
                             : lr_index_caps_pick(lr_index_get_attrs(e->ix), caps, n_caps, ci, cs, m, k, ids, scores, n_hits, &err);
        for (size_t i = 0; !rc && i < *n_hits; i++) hits[i] = (lr_rpc_hit){ids[i], scores[i]};
        free(ids);
        free(scores);
    } else {
        for (size_t i = 0; !rc && i < m && i < k; i++) hits[(*n_hits)++] = (lr_rpc_hit){ci[i], cs[i]};
    }
    if (served) memcpy(served, e->man.version, 32);
    pthread_rwlock_unlock(&e->lock);
    lr_index_filter_free(xf);
    free(ci);
    free(cs);
    return rc ? fail_from(f, &err) : LR_RPC_OK;
}

/* {name: [value, ...]} of every attribute a has, item's values in each; nonzero when the buffer
 * could not grow. */
static int pack_attrs(const lr_index_attrs *a, int64_t id, msgpack_sbuffer *out) {
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    int bad = msgpack_pack_map(&pk, lr_index_attrs_count(a));
    for (size_t k = 0; !bad && k < lr_index_attrs_count(a); k++) {
        const char *name = lr_index_attrs_name(a, k);
        size_t n;
        const uint32_t *v = lr_index_attrs_of(a, k, id, &n);
        bad = lr_rpc_pack_str(&pk, name, strlen(name)) || msgpack_pack_array(&pk, n);
        for (size_t j = 0; !bad && j < n; j++) {
            const char *s = lr_index_attrs_value(a, k, v[j]);
            bad = lr_rpc_pack_str(&pk, s, strlen(s));
        }
    }
    return bad;
}

int lr_rpc_engine_item(lr_rpc_engine *e, int64_t id, lr_rpc_item_info *info, msgpack_sbuffer *attrs) {
    pthread_rwlock_rdlock(&e->lock);
    int catalogue = id >= 0 && (size_t)id < e->n_items;
    info->added = lr_rpc_idmap_get(&e->added, id) >= 0;
    info->known = catalogue || info->added;
    info->in_index = info->known && lr_rpc_idmap_get(&e->removed, id) < 0;
    info->text = catalogue && e->data ? lr_data_item_text(e->data, (size_t)id) : NULL;
    const lr_index_attrs *a = lr_index_get_attrs(e->ix);
    int bad = a && attrs && info->known ? pack_attrs(a, id, attrs) : 0;
    pthread_rwlock_unlock(&e->lock);
    return bad ? -1 : 0;
}

const char *lr_rpc_engine_unready(lr_rpc_engine *e, const atomic_int *leaving) {
    if (leaving && atomic_load(leaving)) return "draining";
    if (e && atomic_load(&e->reloading)) return "reloading";
    return NULL;
}

void lr_rpc_engine_get_stats(lr_rpc_engine *e, lr_rpc_engine_stats *st) {
    pthread_rwlock_rdlock(&e->lock);
    memcpy(st->version, e->man.version, sizeof st->version);
    memcpy(st->factory, e->man.factory, sizeof st->factory);
    st->count = lr_index_count(e->ix) - lr_index_removed_count(e->ix);
    st->dim = e->mc.out_dim;
    st->nprobe = lr_index_nprobe(e->ix);
    st->depth = lr_index_rescore_depth(e->ix);
    st->added = e->n_added;
    st->removed = e->n_removed;
    st->n_items = e->n_items;
    st->model_checksum = e->model_crc;
    pthread_rwlock_unlock(&e->lock);
}

/* ---- changes while serving ------------------------------------------------------------------ */

static int check_new_ids(lr_rpc_engine *e, size_t n, const int64_t *ids, lr_rpc_fail *f) {
    for (size_t i = 0; i < n; i++) {
        int catalogue = ids[i] >= 0 && (size_t)ids[i] < e->n_items;
        int known = catalogue || lr_rpc_idmap_get(&e->added, ids[i]) >= 0;
        if (known && lr_rpc_idmap_get(&e->removed, ids[i]) < 0)
            return lr_rpc_failf(f, LR_RPC_ECONFLICT, "item %lld is already in the index", (long long)ids[i]);
        if (catalogue) /* its catalogue row is its content: the call's would disagree with it */
            return lr_rpc_failf(f, LR_RPC_ECONFLICT, "item %lld is a catalogue item; it comes back with a rebuild",
                                (long long)ids[i]);
        for (size_t j = 0; j < i; j++)
            if (ids[j] == ids[i])
                return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "item %lld appears twice in the call", (long long)ids[i]);
    }
    return LR_RPC_OK;
}

/* The texts of the items without a content row, through the server's encoder: all of them in
 * one call, so the LLM runs them as one batch. */
static int encode_texts(lr_rpc_engine *e, size_t n, char *const *copies, const float *const *contents,
                        float *rows, lr_rpc_fail *f) {
    size_t m = 0;
    for (size_t i = 0; i < n; i++) m += !contents[i];
    const char **texts = calloc(m ? m : 1, sizeof *texts);
    float *out = malloc((m ? m : 1) * e->dc * sizeof *out);
    int rc = texts && out ? LR_RPC_OK : lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    for (size_t i = 0, k = 0; !rc && i < n; i++)
        if (!contents[i]) texts[k++] = copies[i];
    lr_err err = {0};
    if (!rc && m && (e->llm ? lr_llm_encode(e->llm, texts, m, out, &err)
                            : lr_towers_text_encoder_encode(e->enc, texts, m, out, &err)))
        rc = fail_from(f, &err);
    for (size_t i = 0, k = 0; !rc && i < n; i++)
        if (!contents[i]) memcpy(rows + i * e->dc, out + k++ * e->dc, e->dc * sizeof *rows);
    free(texts);
    free(out);
    return rc;
}

/* Content rows for the new items: given, or the server's encoder over their text. */
static int new_content(lr_rpc_engine *e, size_t n, const char *const *texts, const size_t *text_lens,
                       const float *const *contents, float *rows, lr_rpc_fail *f) {
    char **copies = calloc(n ? n : 1, sizeof *copies);
    if (!copies) return lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    int rc = LR_RPC_OK, any_text = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        if (contents[i]) {
            memcpy(rows + i * e->dc, contents[i], e->dc * sizeof *rows);
        } else if (!e->enc && !e->llm) {
            rc = lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "item %zu has text, but the server has no text encoder "
                              "(start it with --encoder or --llm); send 'content' instead", i);
        } else if (!(copies[i] = strndup(texts[i], text_lens[i]))) {
            rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
        } else {
            any_text = 1;
        }
    }
    if (!rc && any_text) rc = encode_texts(e, n, copies, contents, rows, f);
    for (size_t i = 0; i < n; i++) free(copies[i]);
    free(copies);
    return rc;
}

static int keep_added(lr_rpc_engine *e, size_t n, const int64_t *ids, const float *rows, lr_rpc_fail *f) {
    if (e->n_added + n > e->cap_added) {
        size_t cap = (e->n_added + n) * 2;
        float *grown = realloc(e->added_content, cap * e->dc * sizeof *grown);
        if (!grown) return lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory for %zu added items", cap);
        e->added_content = grown;
        e->cap_added = cap;
    }
    for (size_t i = 0; i < n; i++) {
        if (lr_rpc_idmap_put(&e->added, ids[i], (int64_t)(e->n_added + i)))
            return lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
        if (lr_rpc_idmap_get(&e->removed, ids[i]) >= 0) {
            lr_rpc_idmap_put(&e->removed, ids[i], -1);
            e->n_removed--;
        }
    }
    memcpy(e->added_content + e->n_added * e->dc, rows, n * e->dc * sizeof *rows);
    e->n_added += n;
    return LR_RPC_OK;
}

/* The items' attributes onto the served version's (every item gets a set, empty when it has none
 * given, so that an id added again does not keep what it held before). */
static int set_added_attrs(lr_rpc_engine *e, size_t n, const int64_t *ids, const lr_rpc_added_attrs *attrs,
                           lr_rpc_fail *f) {
    lr_err err = {0};
    int rc = lr_index_set_added_attrs(e->ix, n, ids, attrs->off, attrs->entries, &err);
    if (!rc) return LR_RPC_OK;
    return lr_rpc_failf(f, err.code == LR_EINVAL || err.code == LR_EUNSUPPORTED ? LR_RPC_EBAD_REQUEST : LR_RPC_EINTERNAL,
                        "%s", err.msg);
}

int lr_rpc_engine_add(lr_rpc_engine *e, size_t n, const int64_t *ids, const char *const *texts,
                      const size_t *text_lens, const float *const *contents, const lr_rpc_added_attrs *attrs,
                      lr_rpc_fail *f) {
    if (e->mc.mode != LR_PAL_CONTENT)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "a %s-mode model cannot embed new items: only content "
                            "mode reads items by their content", lr_towers_pal_mode_name(e->mc.mode));
    size_t D = e->mc.out_dim;
    float *rows = malloc((n ? n : 1) * e->dc * sizeof *rows), *vecs = malloc((n ? n : 1) * D * sizeof *vecs);
    int rc = rows && vecs ? LR_RPC_OK : lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory for %zu items", n);
    lr_err err = {0};
    /* the slow part (encoder, item tower) runs before the lock */
    if (!rc) rc = new_content(e, n, texts, text_lens, contents, rows, f);
    if (!rc && lr_towers_item_embed_content(e->model, rows, n, vecs, &err)) rc = fail_from(f, &err);
    if (!rc) {
        pthread_rwlock_wrlock(&e->lock);
        rc = check_new_ids(e, n, ids, f);
        /* attributes first: they are checked whole, and an id whose add then fails is in no
         * answer, whatever attributes it has */
        if (!rc) rc = set_added_attrs(e, n, ids, attrs, f);
        if (!rc && lr_index_add(e->ix, n, vecs, ids, &err))
            rc = lr_rpc_failf(f, err.code == LR_EINVAL ? LR_RPC_ECONFLICT : LR_RPC_EINTERNAL, "%s", err.msg);
        if (!rc) rc = keep_added(e, n, ids, rows, f);
        pthread_rwlock_unlock(&e->lock);
    }
    free(rows);
    free(vecs);
    return rc;
}

int lr_rpc_engine_remove(lr_rpc_engine *e, size_t n, const int64_t *ids, size_t *removed, lr_rpc_fail *f) {
    lr_err err = {0};
    *removed = 0;
    pthread_rwlock_wrlock(&e->lock);
    int rc = lr_index_remove(e->ix, n, ids, removed, &err) ? fail_from(f, &err) : LR_RPC_OK;
    for (size_t i = 0; !rc && i < n; i++) {
        int known = (ids[i] >= 0 && (size_t)ids[i] < e->n_items) || lr_rpc_idmap_get(&e->added, ids[i]) >= 0;
        if (known && lr_rpc_idmap_get(&e->removed, ids[i]) < 0) {
            if (lr_rpc_idmap_put(&e->removed, ids[i], 1)) rc = lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
            else e->n_removed++;
        }
    }
    pthread_rwlock_unlock(&e->lock);
    return rc;
}

int lr_rpc_engine_reload(lr_rpc_engine *e, const char *version, char version_out[32], size_t *count,
                         lr_rpc_fail *f) {
    lr_index *ix = NULL;
    lr_index_manifest man;
    lr_err err = {0};
    /* load and verify beside the serving version; only the swap holds the lock */
    lr_index_kv model = {"model", e->model_crc};
    char name[LR_RPC_VERSION_NAME]; /* what `version` or `current` leads to, inside versions/ */
    atomic_store(&e->reloading, 1);
    if (lr_rpc_version_resolve(e->index_dir, version, name, &err) ||
        lr_index_open(e->index_dir, name, e->mc.out_dim, &model, 1, &ix, &man, &err)) {
        atomic_store(&e->reloading, 0);
        return fail_from(f, &err);
    }
    pthread_rwlock_wrlock(&e->lock);
    lr_index *old = e->ix;
    e->ix = ix;
    e->man = man;
    lr_rpc_idmap_clear(&e->added); /* added items and removals belonged to the old version */
    lr_rpc_idmap_clear(&e->removed);
    float *old_added = e->added_content; /* their rows too: memory returns to its level */
    e->added_content = NULL;
    e->n_added = e->n_removed = e->cap_added = 0;
    memcpy(version_out, man.version, 32);
    *count = lr_index_count(ix) - lr_index_removed_count(ix);
    pthread_rwlock_unlock(&e->lock);
    atomic_store(&e->reloading, 0);
    free(old_added);
    lr_index_free(old);
#ifdef __GLIBC__
    /* The new version was allocated while the old one lived, so the old one's freed lists lie
     * between live blocks, where glibc keeps them: resident memory after reloads would stay at
     * two versions' worth (1M items: +266 MB after 10 reloads under load, docs/reliability.md).
     * This hands the free pages back; it walks every arena under its lock, a few ms. */
    malloc_trim(0);
#endif
    return LR_RPC_OK;
}
