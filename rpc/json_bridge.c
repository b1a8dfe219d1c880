/* JSON <-> msgpack: jansson values into a msgpack packer, and msgpack objects into new jansson
 * values. Used by the HTTP endpoint and the command line. Both directions recurse once per level
 * of nesting, so both stop at MAX_DEPTH containers. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json_bridge.h"
#include "rpc_internal.h" /* the UTF-8 escaper */

#define MAX_DEPTH 64

/* ---- JSON -> msgpack ------------------------------------------------------------------------ */

static int write_failed(lr_err *err) {
    /* The packer's only failure is its write callback: for an sbuffer, realloc. */
    return lr_err_set(err, LR_ENOMEM, "msgpack: the packer could not write (out of memory)");
}

static int pack_value(msgpack_packer *pk, const json_t *v, int depth, lr_err *err);

/* depth: how many containers enclose `v` (0 at the top). */
static int pack_object(msgpack_packer *pk, const json_t *v, int depth, lr_err *err) {
    json_t *o = (json_t *)v; /* jansson's iterators take a non-const object but do not change it */
    const char *key;
    size_t klen;
    json_t *val;
    if (json_object_size(o) > UINT32_MAX)
        return lr_err_set(err, LR_EINVAL, "JSON object of %zu keys: msgpack allows 2^32 - 1",
                          json_object_size(o));
    if (msgpack_pack_map(pk, json_object_size(o))) return write_failed(err);
    json_object_keylen_foreach(o, key, klen, val) {
        if (klen > UINT32_MAX) return lr_err_set(err, LR_EINVAL, "JSON key longer than 4 GiB");
        if (msgpack_pack_str_with_body(pk, key, klen)) return write_failed(err);
        int rc = pack_value(pk, val, depth + 1, err);
        if (rc) return rc;
    }
    return LR_OK;
}

static int pack_array(msgpack_packer *pk, const json_t *v, int depth, lr_err *err) {
    size_t n = json_array_size(v);
    if (n > UINT32_MAX)
        return lr_err_set(err, LR_EINVAL, "JSON array of %zu values: msgpack allows 2^32 - 1", n);
    if (msgpack_pack_array(pk, n)) return write_failed(err);
    for (size_t i = 0; i < n; i++) {
        int rc = pack_value(pk, json_array_get(v, i), depth + 1, err);
        if (rc) return rc;
    }
    return LR_OK;
}

static int pack_value(msgpack_packer *pk, const json_t *v, int depth, lr_err *err) {
    int bad = 0;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (depth >= MAX_DEPTH)
            return lr_err_set(err, LR_EINVAL, "JSON nested deeper than %d levels", MAX_DEPTH);
        return json_is_object(v) ? pack_object(pk, v, depth, err) : pack_array(pk, v, depth, err);
    case JSON_STRING:
        if (json_string_length(v) > UINT32_MAX)
            return lr_err_set(err, LR_EINVAL, "JSON string longer than 4 GiB");
        bad = msgpack_pack_str_with_body(pk, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER: bad = msgpack_pack_int64(pk, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: bad = msgpack_pack_double(pk, json_real_value(v)); break;
    case JSON_TRUE: bad = msgpack_pack_true(pk); break;
    case JSON_FALSE: bad = msgpack_pack_false(pk); break;
    case JSON_NULL: bad = msgpack_pack_nil(pk); break;
    }
    return bad ? write_failed(err) : LR_OK;
}

int lr_rpc_json_pack(msgpack_packer *pk, const json_t *v, lr_err *err) {
    if (!pk || !v) return lr_err_set(err, LR_EINVAL, "lr_rpc_json_pack: NULL packer or value");
    return pack_value(pk, v, 0, err);
}

/* ---- msgpack -> JSON ------------------------------------------------------------------------ */

static json_t *to_json(const msgpack_object *o, int depth);

/* A str or bin: a JSON string when the bytes are UTF-8, else an array of byte values, since
 * jansson refuses invalid UTF-8 and a JSON string cannot carry raw bytes. */
static json_t *bytes_to_json(const char *p, uint32_t n) {
    json_t *s = json_stringn(p, n);
    if (s) return s;
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_integer((unsigned char)p[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* The object key for a msgpack key: a str (or UTF-8 bin) as it is, any other key as its JSON
 * text, so {1: "a"} becomes {"1": "a"} and nothing is dropped. */
static json_t *key_to_json(const msgpack_object *k, int depth) {
    json_t *j = to_json(k, depth);
    if (!j || json_is_string(j)) return j;
    char *text = json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT);
    json_decref(j);
    if (!text) return NULL;
    json_t *s = json_string(text);
    free(text);
    return s;
}

static json_t *map_to_json(const msgpack_object_map *m, int depth) {
    json_t *obj = json_object();
    for (uint32_t i = 0; obj && i < m->size; i++) {
        json_t *key = key_to_json(&m->ptr[i].key, depth + 1);
        json_t *val = key ? to_json(&m->ptr[i].val, depth + 1) : NULL;
        /* setn_new takes `val` even when it fails; a repeated key keeps the last value */
        int bad = !val || json_object_setn_new(obj, json_string_value(key), json_string_length(key), val);
        json_decref(key);
        if (bad) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}

static json_t *array_to_json(const msgpack_object_array *a, int depth) {
    json_t *arr = json_array();
    for (uint32_t i = 0; arr && i < a->size; i++)
        if (json_array_append_new(arr, to_json(&a->ptr[i], depth + 1))) {
            json_decref(arr); /* append_new also fails, and frees nothing, on a NULL value */
            return NULL;
        }
    return arr;
}

/* depth: how many containers enclose `o` (0 at the top). */
static json_t *to_json(const msgpack_object *o, int depth) {
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        /* jansson's integers are int64: a larger uint64 keeps its magnitude as a real */
        if (o->via.u64 > INT64_MAX) return json_real((double)o->via.u64);
        return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer((json_int_t)o->via.i64);
    case MSGPACK_OBJECT_FLOAT32: /* msgpack-c widens float32 into via.f64 */
    case MSGPACK_OBJECT_FLOAT64:
        /* JSON has no NaN or infinity (json_real refuses them): null says "no number" */
        return isfinite(o->via.f64) ? json_real(o->via.f64) : json_null();
    case MSGPACK_OBJECT_STR: return bytes_to_json(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_BIN: return bytes_to_json(o->via.bin.ptr, o->via.bin.size);
    case MSGPACK_OBJECT_ARRAY:
    case MSGPACK_OBJECT_MAP:
        if (depth >= MAX_DEPTH) return NULL;
        return o->type == MSGPACK_OBJECT_MAP ? map_to_json(&o->via.map, depth)
                                             : array_to_json(&o->via.array, depth);
    case MSGPACK_OBJECT_EXT: return json_null();
    }
    return json_null(); /* a type this msgpack-c does not have yet: as ext */
}

json_t *lr_rpc_msgpack_to_json(const msgpack_object *o) {
    return o ? to_json(o, 0) : NULL;
}

/* ---- strings and errors the HTTP endpoint sends ---------------------------------------------- */

json_t *lr_rpc_json_string(const char *s, size_t len) {
    size_t n = lr_rpc_utf8_escape(NULL, s, len);
    if (n == len) return json_stringn(s, len); /* valid: no copy */
    char *buf = malloc(n);
    if (!buf) return NULL;
    lr_rpc_utf8_escape(buf, s, len);
    json_t *j = json_stringn(buf, n);
    free(buf);
    return j;
}

json_t *lr_rpc_json_error(int code, const char *msg) {
    /* "o" takes the message's reference, also when the pack fails (a NULL message fails it) */
    return json_pack("{s:i, s:s, s:o}", "code", code, "name", lr_rpc_code_name(code), "message",
                     lr_rpc_json_string(msg, strlen(msg)));
}
