/* add_items' `attributes`: per item an optional map {name: value or [values]}, read into the flat
 * arrays lr_index_set_added_attrs takes. Names and values are checked against the served version
 * later, under the engine's lock; here only their form: strings, valid UTF-8 (`item` sends them
 * back), at most LR_INDEX_MAX_ATTRS names and `max` values per name. */
#include <stdlib.h>
#include <string.h>

#include "lr_index.h"
#include "rpc_internal.h"

void lr_rpc_added_attrs_free(lr_rpc_added_attrs *a) {
    free(a->entries);
    free(a->off);
    free(a->values);
    free(a->lens);
    memset(a, 0, sizeof *a);
}

/* One value of items[i].attributes.name: a UTF-8 str (or bin) into s, len. */
static int read_value(const msgpack_object *o, size_t i, const char *name, size_t nlen, const char **s, size_t *len,
                      lr_rpc_fail *f) {
    if (!lr_rpc_as_str(o, s, len))
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "items[%zu].attributes.'%.*s': values must be strings", i,
                            (int)lr_rpc_utf8_cut(name, nlen, 63), name);
    if (lr_rpc_utf8_valid(*s, *len) != *len)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "items[%zu].attributes.'%.*s': a value is not UTF-8", i,
                            (int)lr_rpc_utf8_cut(name, nlen, 63), name);
    return LR_RPC_OK;
}

/* items[i]'s map checked; its counts added to *entries and *values. */
static int count_item(const msgpack_object *m, size_t i, size_t max, size_t *entries, size_t *values, lr_rpc_fail *f) {
    if (m->type != MSGPACK_OBJECT_MAP)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "items[%zu].attributes must be a map {name: value or [values]}", i);
    if (m->via.map.size > LR_INDEX_MAX_ATTRS)
        return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "items[%zu].attributes: more than %d names", i, LR_INDEX_MAX_ATTRS);
    for (uint32_t j = 0; j < m->via.map.size; j++) {
        const msgpack_object *k = &m->via.map.ptr[j].key, *v = &m->via.map.ptr[j].val;
        const char *name, *s;
        size_t nlen, len;
        if (!lr_rpc_as_str(k, &name, &nlen) || lr_rpc_utf8_valid(name, nlen) != nlen)
            return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "items[%zu].attributes: names must be UTF-8 strings", i);
        uint32_t n = v->type == MSGPACK_OBJECT_ARRAY ? v->via.array.size : 1;
        if (n > max)
            return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "items[%zu].attributes.'%.*s': %u values, above the limit of %zu",
                                i, (int)lr_rpc_utf8_cut(name, nlen, 63), name, n, max);
        for (uint32_t t = 0; t < n; t++) {
            int rc = read_value(v->type == MSGPACK_OBJECT_ARRAY ? &v->via.array.ptr[t] : v, i, name, nlen, &s, &len, f);
            if (rc) return rc;
        }
        *values += n;
    }
    *entries += m->via.map.size;
    return LR_RPC_OK;
}

/* items[i]'s map into the arrays, from entry e and value t on. */
static void fill_item(const msgpack_object *m, lr_rpc_added_attrs *a, size_t *e, size_t *t) {
    for (uint32_t j = 0; m && j < m->via.map.size; j++) {
        const msgpack_object *k = &m->via.map.ptr[j].key, *v = &m->via.map.ptr[j].val;
        lr_index_item_values *x = &a->entries[(*e)++];
        lr_rpc_as_str(k, &x->name, &x->name_len);
        uint32_t n = v->type == MSGPACK_OBJECT_ARRAY ? v->via.array.size : 1;
        x->values = a->values + *t, x->lens = a->lens + *t, x->n = n;
        for (uint32_t u = 0; u < n; u++, (*t)++)
            lr_rpc_as_str(v->type == MSGPACK_OBJECT_ARRAY ? &v->via.array.ptr[u] : v, &a->values[*t], &a->lens[*t]);
    }
}

int lr_rpc_added_attrs_read(const msgpack_object *items, size_t max, lr_rpc_added_attrs *a, lr_rpc_fail *f) {
    memset(a, 0, sizeof *a);
    size_t n = items->via.array.size, entries = 0, values = 0;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *m = lr_rpc_field(&items->via.array.ptr[i], "attributes");
        int rc = m ? count_item(m, i, max, &entries, &values, f) : LR_RPC_OK;
        if (rc) return rc;
    }
    a->off = calloc(n + 1, sizeof *a->off);
    a->entries = malloc((entries ? entries : 1) * sizeof *a->entries);
    a->values = malloc((values ? values : 1) * sizeof *a->values);
    a->lens = malloc((values ? values : 1) * sizeof *a->lens);
    if (!a->off || !a->entries || !a->values || !a->lens) {
        lr_rpc_added_attrs_free(a);
        return lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory");
    }
    size_t e = 0, t = 0;
    for (size_t i = 0; i < n; i++) {
        fill_item(lr_rpc_field(&items->via.array.ptr[i], "attributes"), a, &e, &t);
        a->off[i + 1] = e;
    }
    return LR_RPC_OK;
}
