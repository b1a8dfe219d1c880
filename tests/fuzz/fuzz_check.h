/* Shared by the server harnesses: what a caller relies on in an answer, checked on the decoded
 * result of a method, independently of the server's own code (its own UTF-8 check, its own
 * reading of the request's params). A failed check prints what broke and aborts, which
 * libFuzzer reports as a crash. */
#ifndef LR_FUZZ_CHECK_H
#define LR_FUZZ_CHECK_H

#include <math.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz check failed (%s:%d): ", __FILE__, __LINE__);                    \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The methods of docs/rpc.md, in no particular order; the last three need the admin token. */
enum { FM_PING, FM_RECOMMEND, FM_ENCODE_USER, FM_SEARCH, FM_ITEM, FM_STATS, FM_SIMILAR, FM_ADD, FM_REMOVE, FM_RELOAD, FM_N };
static const char *const fuzz_methods[FM_N] = {"ping", "recommend", "encode_user", "search", "item",
                                               "stats", "similar", "add_items", "remove_items", "reload"};

/* Well-formed UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF, nothing cut. */
static inline int fuzz_utf8_ok(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], cp, min;
        size_t len;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) len = 2, min = 0x80;
        else if ((c & 0xf0) == 0xe0) len = 3, min = 0x800;
        else if ((c & 0xf8) == 0xf0) len = 4, min = 0x10000;
        else return 0;
        if (len > n - i) return 0;
        cp = c & (0x7fu >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
        i += len;
    }
    return 1;
}

static inline int fuzz_is_text(const msgpack_object *o) {
    return o->type == MSGPACK_OBJECT_STR || o->type == MSGPACK_OBJECT_BIN;
}

static inline int fuzz_text_is(const msgpack_object *o, const char *s) {
    size_t n = strlen(s);
    return fuzz_is_text(o) && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0; /* bin shares the layout */
}

static inline int fuzz_is_int(const msgpack_object *o) {
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

static inline int fuzz_method_of(const msgpack_object *name) {
    for (int m = 0; m < FM_N; m++)
        if (fuzz_text_is(name, fuzz_methods[m])) return m;
    return -1;
}

/* The map of a request's params (a map, or an array holding one; NULL for none), and a field
 * of it as the server reads fields: the first key equal to `key`, a nil value counting as absent. */
static inline const msgpack_object *fuzz_params_map(const msgpack_object *p) {
    if (p && p->type == MSGPACK_OBJECT_ARRAY && p->via.array.size == 1) p = &p->via.array.ptr[0];
    return p && p->type == MSGPACK_OBJECT_MAP ? p : NULL;
}

static inline const msgpack_object *fuzz_field(const msgpack_object *map, const char *key) {
    for (uint32_t i = 0; map && map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++)
        if (fuzz_text_is(&map->via.map.ptr[i].key, key))
            return map->via.map.ptr[i].val.type == MSGPACK_OBJECT_NIL ? NULL : &map->via.map.ptr[i].val;
    return NULL;
}

static inline int64_t fuzz_int_field(const msgpack_object *map, const char *key, int64_t def) {
    const msgpack_object *o = fuzz_field(map, key);
    return o && fuzz_is_int(o) ? o->via.i64 : def;
}

/* Whether id is one of the integers of an array (NULL: none). */
static inline int fuzz_in_ids(const msgpack_object *a, int64_t id) {
    for (uint32_t i = 0; a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size; i++)
        if (fuzz_is_int(&a->via.array.ptr[i]) && a->via.array.ptr[i].via.i64 == id) return 1;
    return 0;
}

/* ---- the world's attributes, and filters and caps read over them as docs/rpc.md says ---------- */

#define FUZZ_WORLD_ITEMS 1000 /* fuzz_world.h's FW_ITEMS, checked there */

/* Items an input added (add_items succeeded), with the attributes it gave them, as the harness
 * read them from the request: up to 8 values of up to 23 bytes for each of the world's two
 * attributes. An item with more, or more items than the table holds, is "unknown": hits of it
 * are not checked against filters. A reload drops them, as the server does. */
enum { FUZZ_ADDED_MAX = 32, FUZZ_VALS = 8, FUZZ_VAL_LEN = 24 };
typedef struct {
    int64_t id;
    int unknown;
    uint8_t n[2];
    char val[2][FUZZ_VALS][FUZZ_VAL_LEN];
    uint8_t len[2][FUZZ_VALS];
} fuzz_added_item;
static fuzz_added_item fuzz_added_[FUZZ_ADDED_MAX];
static size_t fuzz_n_added_, fuzz_added_overflow_;

static inline void fuzz_added_clear(void) { fuzz_n_added_ = 0, fuzz_added_overflow_ = 0; }

/* The added item's record, NULL when id was not added by this input. */
static inline const fuzz_added_item *fuzz_added_find(int64_t id) {
    for (size_t i = 0; i < fuzz_n_added_; i++)
        if (fuzz_added_[i].id == id) return &fuzz_added_[i];
    return NULL;
}

/* Whether hits of id cannot be checked against attributes: added beyond what the table holds. */
static inline int fuzz_added_unknown(int64_t id) {
    const fuzz_added_item *it = fuzz_added_find(id);
    return it ? it->unknown : id >= FUZZ_WORLD_ITEMS && fuzz_added_overflow_;
}

static inline void fuzz_added_values(fuzz_added_item *it, int a, const msgpack_object *v) {
    uint32_t n = v->type == MSGPACK_OBJECT_ARRAY ? v->via.array.size : 1;
    for (uint32_t t = 0; t < n; t++) {
        const msgpack_object *x = v->type == MSGPACK_OBJECT_ARRAY ? &v->via.array.ptr[t] : v;
        if (!fuzz_is_text(x) || x->via.str.size >= FUZZ_VAL_LEN || it->n[a] == FUZZ_VALS) {
            it->unknown = 1;
            return;
        }
        memcpy(it->val[a][it->n[a]], x->via.str.ptr, x->via.str.size);
        it->len[a][it->n[a]++] = (uint8_t)x->via.str.size;
    }
}

/* A successful add_items: each item's attributes recorded (replacing an earlier record). */
static inline void fuzz_added_record(const msgpack_object *map) {
    const msgpack_object *items = fuzz_field(map, "items");
    for (uint32_t i = 0; items && items->type == MSGPACK_OBJECT_ARRAY && i < items->via.array.size; i++) {
        const msgpack_object *it = &items->via.array.ptr[i], *attrs = fuzz_field(it, "attributes");
        int64_t id = fuzz_int_field(it, "id", -1);
        fuzz_added_item *rec = (fuzz_added_item *)fuzz_added_find(id);
        if (!rec && fuzz_n_added_ == FUZZ_ADDED_MAX) {
            fuzz_added_overflow_ = 1;
            continue;
        }
        if (!rec) rec = &fuzz_added_[fuzz_n_added_++];
        memset(rec, 0, sizeof *rec);
        rec->id = id;
        for (uint32_t j = 0; attrs && attrs->type == MSGPACK_OBJECT_MAP && j < attrs->via.map.size; j++) {
            const msgpack_object *k = &attrs->via.map.ptr[j].key;
            int a = fuzz_text_is(k, "brand") ? 0 : fuzz_text_is(k, "category") ? 1 : -1;
            if (a < 0) rec->unknown = 1; /* the server would have refused it */
            else fuzz_added_values(rec, a, &attrs->via.map.ptr[j].val);
        }
    }
}

/* Whether item id holds value v of attribute a (fuzz_world.h fw_attrs_: brand "b<i % 5>" unless
 * i % 9 == 8; category "c<i % 3>" and "d<i % 7>"; added items what they were given). */
static inline int fuzz_item_has(int64_t id, const msgpack_object *a, const msgpack_object *v) {
    const fuzz_added_item *it = fuzz_added_find(id);
    if (it) {
        int k = fuzz_text_is(a, "brand") ? 0 : fuzz_text_is(a, "category") ? 1 : -1;
        for (int t = 0; k >= 0 && fuzz_is_text(v) && t < it->n[k]; t++)
            if (v->via.str.size == it->len[k][t] && memcmp(v->via.str.ptr, it->val[k][t], it->len[k][t]) == 0) return 1;
        return 0;
    }
    if (id < 0 || id >= FUZZ_WORLD_ITEMS || !fuzz_is_text(v)) return 0;
    char w1[8], w2[8];
    if (fuzz_text_is(a, "brand")) {
        snprintf(w1, sizeof w1, "b%d", (int)(id % 5));
        return id % 9 != 8 && fuzz_text_is(v, w1);
    }
    if (!fuzz_text_is(a, "category")) return 0;
    snprintf(w1, sizeof w1, "c%d", (int)(id % 3));
    snprintf(w2, sizeof w2, "d%d", (int)(id % 7));
    return fuzz_text_is(v, w1) || fuzz_text_is(v, w2);
}

/* Whether id holds any of a clause's values (a str, or an array of them). */
static inline int fuzz_holds_any(int64_t id, const msgpack_object *a, const msgpack_object *vals) {
    if (vals->type != MSGPACK_OBJECT_ARRAY) return fuzz_item_has(id, a, vals);
    for (uint32_t i = 0; i < vals->via.array.size; i++)
        if (fuzz_item_has(id, a, &vals->via.array.ptr[i])) return 1;
    return 0;
}

static inline int fuzz_in_ids(const msgpack_object *a, int64_t id);

/* Whether id passes a filter map the server accepted: every clause of it (deny: of its "not"). */
static inline int fuzz_passes(const msgpack_object *flt, int64_t id, int deny) {
    for (uint32_t i = 0; flt && flt->type == MSGPACK_OBJECT_MAP && i < flt->via.map.size; i++) {
        const msgpack_object *k = &flt->via.map.ptr[i].key, *v = &flt->via.map.ptr[i].val;
        int ok;
        if (fuzz_text_is(k, "ids")) ok = fuzz_in_ids(v, id) != deny;
        else if (fuzz_text_is(k, "not") && !deny) ok = fuzz_passes(v, id, 1);
        else ok = fuzz_holds_any(id, k, v) != deny;
        if (!ok) return 0;
    }
    return 1;
}

/* max_per: no value of a capped attribute held by more hits than its cap. */
static inline void fuzz_check_caps(const msgpack_object *r, const msgpack_object *caps) {
    static const char *const values[] = {"b0", "b1", "b2", "b3", "b4", "c0", "c1", "c2", "d0", "d1", "d2", "d3", "d4", "d5", "d6"};
    for (uint32_t c = 0; caps && caps->type == MSGPACK_OBJECT_MAP && c < caps->via.map.size; c++) {
        const msgpack_object *a = &caps->via.map.ptr[c].key, *cap = &caps->via.map.ptr[c].val;
        if (cap->type != MSGPACK_OBJECT_POSITIVE_INTEGER) continue;
        for (size_t v = 0; v < sizeof values / sizeof *values; v++) {
            msgpack_object val = {.type = MSGPACK_OBJECT_STR, .via.str = {(uint32_t)strlen(values[v]), values[v]}};
            uint64_t n = 0;
            for (uint32_t h = 0; h < r->via.array.size; h++) n += fuzz_item_has(r->via.array.ptr[h].via.array.ptr[0].via.i64, a, &val);
            FUZZ_CHECK(n <= cap->via.u64, "max_per: %llu hits hold %s, the cap is %llu", (unsigned long long)n, values[v],
                       (unsigned long long)cap->via.u64);
        }
    }
}

/* One list of hits: at most k [id, score] pairs, ids distinct, none the request excluded, each
 * score a finite float32 (a float64 after a trip through JSON, json: 1) so that the order means
 * something. */
static inline void fuzz_check_hits(const msgpack_object *r, const msgpack_object *map, const msgpack_object *history,
                                   int json) {
    int64_t k = fuzz_int_field(map, "k", 10);
    const msgpack_object *ex = fuzz_field(map, "exclude"), *eh = fuzz_field(map, "exclude_history");
    int ex_hist = eh && eh->type == MSGPACK_OBJECT_BOOLEAN && eh->via.boolean;
    const msgpack_object *flt = fuzz_field(map, "filter"), *no = flt ? fuzz_field(flt, "not") : NULL;
    const msgpack_object *allow = flt ? fuzz_field(flt, "ids") : NULL, *deny = no ? fuzz_field(no, "ids") : NULL;
    FUZZ_CHECK(r->type == MSGPACK_OBJECT_ARRAY && (int64_t)r->via.array.size <= k, "hits: not a list of at most k");
    for (uint32_t i = 0; i < r->via.array.size; i++) {
        const msgpack_object *h = &r->via.array.ptr[i];
        FUZZ_CHECK(h->type == MSGPACK_OBJECT_ARRAY && h->via.array.size == 2 &&
                       h->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER, "hit %u is not [id, score]", i);
        msgpack_object_type st = h->via.array.ptr[1].type;
        FUZZ_CHECK(st == (json ? MSGPACK_OBJECT_FLOAT64 : MSGPACK_OBJECT_FLOAT32) && isfinite(h->via.array.ptr[1].via.f64),
                   "hit %u: a score of type %d that is not a finite number", i, (int)st);
        int64_t id = h->via.array.ptr[0].via.i64;
        FUZZ_CHECK(!fuzz_in_ids(ex, id), "hit %lld was excluded", (long long)id);
        FUZZ_CHECK(!allow || fuzz_in_ids(allow, id), "hit %lld is not among the filter's ids", (long long)id);
        FUZZ_CHECK(!fuzz_in_ids(deny, id), "hit %lld is among the filter's denied ids", (long long)id);
        FUZZ_CHECK(fuzz_added_unknown(id) || fuzz_passes(flt, id, 0), "hit %lld does not pass the filter", (long long)id);
        FUZZ_CHECK(!(ex_hist && fuzz_in_ids(history, id)), "hit %lld is in the history", (long long)id);
        for (uint32_t j = 0; j < i; j++)
            FUZZ_CHECK(r->via.array.ptr[j].via.array.ptr[0].via.i64 != id, "hit %lld twice", (long long)id);
    }
    fuzz_check_caps(r, fuzz_field(map, "max_per"));
}

/* recommend's answer for one history: hits, or {items: hits, unknown: [id], version} with report. */
static inline void fuzz_check_rec_one(const msgpack_object *r, const msgpack_object *map, const msgpack_object *history,
                                      int json) {
    const msgpack_object *rep = fuzz_field(map, "report");
    if (!(rep && rep->type == MSGPACK_OBJECT_BOOLEAN && rep->via.boolean)) {
        fuzz_check_hits(r, map, history, json);
        return;
    }
    FUZZ_CHECK(r->type == MSGPACK_OBJECT_MAP && r->via.map.size == 3, "report: not a map of three");
    const msgpack_object *items = fuzz_field(r, "items"), *unknown = fuzz_field(r, "unknown"),
                         *version = fuzz_field(r, "version");
    FUZZ_CHECK(items && unknown && unknown->type == MSGPACK_OBJECT_ARRAY, "report: no items or unknown");
    FUZZ_CHECK(version && version->type == MSGPACK_OBJECT_STR && version->via.str.size == 7 && version->via.str.ptr[0] == 'v',
               "report: no version name");
    fuzz_check_hits(items, map, history, json);
    for (uint32_t i = 0; i < unknown->via.array.size; i++)
        FUZZ_CHECK(fuzz_is_int(&unknown->via.array.ptr[i]) && fuzz_in_ids(history, unknown->via.array.ptr[i].via.i64),
                   "report: unknown[%u] is not an id of the history", i);
}

static inline void fuzz_check_vector(const msgpack_object *r, size_t dim) {
    FUZZ_CHECK(r->type == MSGPACK_OBJECT_ARRAY && r->via.array.size == dim, "user vector: not %zu floats", dim);
    for (uint32_t i = 0; i < dim; i++)
        FUZZ_CHECK(r->via.array.ptr[i].type == MSGPACK_OBJECT_FLOAT32 && isfinite(r->via.array.ptr[i].via.f64),
                   "user vector[%u] is not a finite float32", i);
}

/* recommend, encode_user, search: one answer, or one per history / vector of a batch. */
static inline void fuzz_check_queries(int m, const msgpack_object *r, const msgpack_object *map, size_t dim, int json) {
    const msgpack_object *many = fuzz_field(map, m == FM_SEARCH ? "vectors" : "histories");
    const msgpack_object *one = many ? NULL : r, *hist = fuzz_field(map, "history");
    uint32_t n = many ? many->via.array.size : 1;
    if (many) FUZZ_CHECK(r->type == MSGPACK_OBJECT_ARRAY && r->via.array.size == n, "batch: not %u answers", n);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *ri = one ? one : &r->via.array.ptr[i], *hi = many ? &many->via.array.ptr[i] : hist;
        if (m == FM_ENCODE_USER) fuzz_check_vector(ri, dim);
        else if (m == FM_RECOMMEND) fuzz_check_rec_one(ri, map, hi, json);
        else fuzz_check_hits(ri, map, NULL, json);
        if (i && many && m == FM_RECOMMEND && ri->type == MSGPACK_OBJECT_MAP) { /* one version per response */
            const msgpack_object *v0 = fuzz_field(&r->via.array.ptr[0], "version"), *vi = fuzz_field(ri, "version");
            FUZZ_CHECK(v0 && vi && !memcmp(v0->via.str.ptr, vi->via.str.ptr, 7), "batch: answers from two versions");
        }
    }
}

/* A method's result, as docs/rpc.md describes it (json: 1 after a trip through JSON). */
static inline void fuzz_check_result(int m, const msgpack_object *r, const msgpack_object *params, size_t dim,
                                     int json) {
    const msgpack_object *map = fuzz_params_map(params), *a, *b;
    switch (m) {
    case FM_PING: FUZZ_CHECK(r->type == MSGPACK_OBJECT_POSITIVE_INTEGER && r->via.u64 == 1, "ping: not 1"); break;
    case FM_RECOMMEND: case FM_ENCODE_USER: case FM_SEARCH: fuzz_check_queries(m, r, map, dim, json); break;
    case FM_ITEM:
        a = fuzz_field(r, "in_index"), b = fuzz_field(r, "added");
        FUZZ_CHECK(r->type == MSGPACK_OBJECT_MAP && fuzz_field(r, "id") && a && a->type == MSGPACK_OBJECT_BOOLEAN &&
                       b && b->type == MSGPACK_OBJECT_BOOLEAN, "item: not {id, in_index, added, text?}");
        FUZZ_CHECK(fuzz_field(r, "id")->via.i64 == fuzz_int_field(map, "id", -1), "item: another id");
        break;
    case FM_SIMILAR: /* hits, never the items asked about */
        fuzz_check_hits(r, map, NULL, json);
        for (uint32_t i = 0; r->type == MSGPACK_OBJECT_ARRAY && i < r->via.array.size; i++) {
            int64_t id = r->via.array.ptr[i].via.array.ptr[0].via.i64;
            FUZZ_CHECK(id != fuzz_int_field(map, "id", INT64_MIN) && !fuzz_in_ids(fuzz_field(map, "ids"), id),
                       "similar: hit %lld is an item asked about", (long long)id);
        }
        break;
    case FM_STATS: FUZZ_CHECK(r->type == MSGPACK_OBJECT_MAP && r->via.map.size == 14, "stats: not a map of 14"); break;
    case FM_ADD: case FM_REMOVE:
        a = r->type == MSGPACK_OBJECT_MAP ? fuzz_field(r, m == FM_ADD ? "added" : "removed") : NULL;
        FUZZ_CHECK(r->type == MSGPACK_OBJECT_MAP && r->via.map.size == 1 && a &&
                       a->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "%s: not {n}", fuzz_methods[m]);
        if (m == FM_ADD) fuzz_added_record(map);
        break;
    case FM_RELOAD:
        a = r->type == MSGPACK_OBJECT_MAP ? fuzz_field(r, "version") : NULL;
        FUZZ_CHECK(a && a->type == MSGPACK_OBJECT_STR && fuzz_field(r, "count"), "reload: not {version, count}");
        fuzz_added_clear();
        break;
    }
}

#endif
