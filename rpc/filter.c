/* A request's `filter`, read from msgpack, then compiled against the served version's attributes
 * under the engine's lock (the version may change between requests, not during one):
 *   {"category": ["Lab Supplies"], "brand": "Pyrex", "ids": [1, 2],
 *    "not": {"brand": ["X"], "ids": [7]}}
 * Each attribute key allows the items holding any of its values; keys combine (all must hold);
 * "ids" allows only those ids; "not" holds clauses that must not hold. */
#include <stdlib.h>
#include <string.h>

#include "lr_index.h"
#include "rpc_internal.h"

void lr_rpc_filter_free(lr_rpc_filter *flt) {
    free(flt->allow_ids);
    free(flt->deny_ids);
    memset(flt, 0, sizeof *flt);
}

static int key_is(const char *s, size_t len, const char *name) {
    return len == strlen(name) && memcmp(s, name, len) == 0;
}

/* One attribute clause: a str, or an array of them (at most max). */
static int read_clause(lr_rpc_filter *flt, const char *key, size_t klen, const msgpack_object *v, int deny,
                       size_t max, lr_rpc_fail *f) {
    const char *where = deny ? "'filter'.'not'" : "'filter'";
    if (flt->n == LR_RPC_MAX_CLAUSES)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "%s: more than %d attribute clauses", where, LR_RPC_MAX_CLAUSES);
    if (klen == 0 || klen > 63)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "%s: an attribute name of 1 to 63 bytes is needed", where);
    const char *s;
    size_t len;
    int one = lr_rpc_as_str(v, &s, &len);
    if (!one && v->type != MSGPACK_OBJECT_ARRAY)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "%s.'%.*s' must be a string or an array of strings", where,
                            (int)klen, key);
    uint32_t n = one ? 1 : v->via.array.size;
    if (n > max)
        return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "%s.'%.*s' has %u values, above the limit of %zu", where,
                            (int)klen, key, n, max);
    for (uint32_t i = 0; !one && i < n; i++)
        if (!lr_rpc_as_str(&v->via.array.ptr[i], &s, &len))
            return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "%s.'%.*s'[%u] is not a string", where, (int)klen, key, i);
    lr_rpc_clause *c = &flt->clause[flt->n++];
    memcpy(c->attr, key, klen);
    c->attr[klen] = '\0';
    c->values = v;
    c->deny = deny;
    return LR_RPC_OK;
}

/* The clauses of one map (the filter, or its "not"). */
static int read_map(lr_rpc_filter *flt, const msgpack_object *m, int deny, size_t max, lr_rpc_fail *f) {
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object_kv *kv = &m->via.map.ptr[i];
        const char *key;
        size_t klen;
        if (!lr_rpc_as_str(&kv->key, &key, &klen))
            return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'filter': keys must be strings");
        int rc;
        if (key_is(key, klen, "ids")) {
            int64_t **ids = deny ? &flt->deny_ids : &flt->allow_ids;
            size_t *n = deny ? &flt->n_deny : &flt->n_allow;
            if (*ids || (!deny && flt->has_allow)) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'filter': 'ids' given twice");
            rc = lr_rpc_get_ids(&kv->val, deny ? "filter.not.ids" : "filter.ids", max, ids, n, f);
            if (!deny) flt->has_allow = 1;
        } else if (key_is(key, klen, "not") && !deny) {
            if (kv->val.type != MSGPACK_OBJECT_MAP)
                return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'filter'.'not' must be a map like the filter's");
            rc = read_map(flt, &kv->val, 1, max, f);
        } else {
            rc = read_clause(flt, key, klen, &kv->val, deny, max, f);
        }
        if (rc) return rc;
    }
    return LR_RPC_OK;
}

int lr_rpc_filter_read(const msgpack_object *o, size_t max, lr_rpc_filter *flt, lr_rpc_fail *f) {
    memset(flt, 0, sizeof *flt);
    if (!o) return LR_RPC_OK;
    if (o->type != MSGPACK_OBJECT_MAP)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'filter' must be a map of attribute: [values], 'ids' and 'not'");
    flt->present = 1;
    int rc = read_map(flt, o, 0, max, f);
    if (rc) lr_rpc_filter_free(flt);
    return rc;
}

/* One clause into the index's filter: its strings as (pointer, length) pairs. */
static int compile_clause(lr_index_filter *xf, const lr_rpc_clause *c, lr_err *err) {
    const msgpack_object *v = c->values;
    uint32_t n = v->type == MSGPACK_OBJECT_ARRAY ? v->via.array.size : 1;
    const char **s = malloc((n ? n : 1) * sizeof *s);
    size_t *lens = malloc((n ? n : 1) * sizeof *lens);
    int rc = !s || !lens ? lr_err_set(err, LR_ENOMEM, "out of memory for the filter") : LR_OK;
    for (uint32_t i = 0; !rc && i < n; i++)
        lr_rpc_as_str(v->type == MSGPACK_OBJECT_ARRAY ? &v->via.array.ptr[i] : v, &s[i], &lens[i]);
    if (!rc) rc = lr_index_filter_values(xf, c->attr, s, lens, n, c->deny, err);
    free(s);
    free(lens);
    return rc;
}

int lr_rpc_filter_compile(const lr_rpc_filter *flt, const lr_index_attrs *attrs, const int64_t *exclude,
                          size_t n_exclude, lr_index_filter **out, lr_err *err) {
    lr_index_filter *xf = NULL;
    int64_t *deny = NULL;
    size_t n_deny = flt->n_deny + n_exclude;
    int rc = lr_index_filter_new(attrs, &xf, err);
    for (size_t i = 0; !rc && i < flt->n; i++) rc = compile_clause(xf, &flt->clause[i], err);
    if (!rc && flt->has_allow) rc = lr_index_filter_ids(xf, flt->allow_ids, flt->n_allow, 0, err);
    if (!rc && n_deny) { /* the filter's denied ids and the request's exclusions: one list */
        if (!(deny = malloc(n_deny * sizeof *deny))) rc = lr_err_set(err, LR_ENOMEM, "out of memory for the filter");
        if (!rc && flt->n_deny) memcpy(deny, flt->deny_ids, flt->n_deny * sizeof *deny);
        if (!rc && n_exclude) memcpy(deny + flt->n_deny, exclude, n_exclude * sizeof *deny);
        if (!rc) rc = lr_index_filter_ids(xf, deny, n_deny, 1, err);
    }
    free(deny);
    if (rc) lr_index_filter_free(xf);
    else *out = xf;
    return rc;
}

int lr_rpc_caps_read(const msgpack_object *o, lr_rpc_filter *flt, lr_rpc_fail *f) {
    flt->n_caps = 0;
    if (!o) return LR_RPC_OK;
    if (o->type != MSGPACK_OBJECT_MAP || o->via.map.size > 16)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'max_per' must be a map of at most 16 attribute: cap entries");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        const char *key;
        size_t klen;
        if (!lr_rpc_as_str(&kv->key, &key, &klen) || !klen || klen > 63)
            return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'max_per': keys must be attribute names of 1 to 63 bytes");
        if (kv->val.type != MSGPACK_OBJECT_POSITIVE_INTEGER || kv->val.via.u64 < 1 || kv->val.via.u64 > 1000000)
            return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'max_per'.'%.*s' must be an integer from 1 to 1000000", (int)klen, key);
        memcpy(flt->cap_attr[i], key, klen);
        flt->cap_attr[i][klen] = '\0';
        flt->cap_max[i] = (size_t)kv->val.via.u64;
        flt->n_caps = i + 1;
    }
    return LR_RPC_OK;
}
