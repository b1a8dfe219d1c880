/* Reading request fields out of decoded msgpack objects, with errors a client can act on. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc_internal.h"

int lr_rpc_failf(lr_rpc_fail *f, int code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->msg, sizeof f->msg, fmt, ap);
    va_end(ap);
    f->code = code;
    return code;
}

int lr_rpc_params_map(const msgpack_object *params, const msgpack_object **map, lr_rpc_fail *f) {
    *map = NULL;
    if (!params || params->type == MSGPACK_OBJECT_NIL) return LR_RPC_OK;
    if (params->type == MSGPACK_OBJECT_ARRAY) {
        if (params->via.array.size == 0) return LR_RPC_OK;
        if (params->via.array.size != 1)
            return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "params must be a map or an array holding one map, got an array of %u",
                                params->via.array.size);
        params = &params->via.array.ptr[0];
    }
    if (params->type == MSGPACK_OBJECT_NIL) return LR_RPC_OK;
    if (params->type != MSGPACK_OBJECT_MAP)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "params must be a map or an array holding one map");
    *map = params;
    return LR_RPC_OK;
}

int lr_rpc_as_str(const msgpack_object *o, const char **s, size_t *len) {
    if (o->type == MSGPACK_OBJECT_STR) {
        *s = o->via.str.ptr, *len = o->via.str.size;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_BIN) {
        *s = o->via.bin.ptr, *len = o->via.bin.size;
        return 1;
    }
    return 0;
}

const msgpack_object *lr_rpc_field(const msgpack_object *map, const char *name) {
    if (!map) return NULL;
    size_t nl = strlen(name);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        const char *k;
        size_t kl;
        if (lr_rpc_as_str(&kv->key, &k, &kl) && kl == nl && memcmp(k, name, nl) == 0)
            return kv->val.type == MSGPACK_OBJECT_NIL ? NULL : &kv->val;
    }
    return NULL;
}

static int as_int(const msgpack_object *o, int64_t *v) {
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > (uint64_t)INT64_MAX) return 0;
        *v = (int64_t)o->via.u64;
        return 1;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *v = o->via.i64;
        return 1;
    }
    return 0;
}

int lr_rpc_get_int(const msgpack_object *map, const char *name, int64_t def, int64_t min, int64_t max,
                   int64_t *out, lr_rpc_fail *f) {
    const msgpack_object *o = lr_rpc_field(map, name);
    if (!o) {
        *out = def;
        return LR_RPC_OK;
    }
    int64_t v;
    if (!as_int(o, &v)) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s' must be an integer", name);
    if (v < min) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s' must be at least %lld, got %lld", name, (long long)min, (long long)v);
    if (v > max) return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "'%s' is %lld, above the limit of %lld", name, (long long)v, (long long)max);
    *out = v;
    return LR_RPC_OK;
}

int lr_rpc_get_bool(const msgpack_object *map, const char *name, int def, int *out, lr_rpc_fail *f) {
    const msgpack_object *o = lr_rpc_field(map, name);
    if (!o) {
        *out = def;
        return LR_RPC_OK;
    }
    if (o->type != MSGPACK_OBJECT_BOOLEAN) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s' must be true or false", name);
    *out = o->via.boolean;
    return LR_RPC_OK;
}

int lr_rpc_get_ids(const msgpack_object *o, const char *what, size_t max, int64_t **ids, size_t *n,
                   lr_rpc_fail *f) {
    *ids = NULL, *n = 0;
    if (!o) return LR_RPC_OK;
    if (o->type != MSGPACK_OBJECT_ARRAY) return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s' must be an array of item ids", what);
    uint32_t m = o->via.array.size;
    if (m > max) return lr_rpc_failf(f, LR_RPC_ETOO_LARGE, "'%s' has %u ids, above the limit of %zu", what, m, max);
    if (m == 0) return LR_RPC_OK;
    int64_t *v = malloc(m * sizeof *v);
    if (!v) return lr_rpc_failf(f, LR_RPC_EINTERNAL, "out of memory for %u ids", m);
    for (uint32_t i = 0; i < m; i++)
        if (!as_int(&o->via.array.ptr[i], &v[i])) {
            free(v);
            return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s'[%u] is not an integer id", what, i);
        }
    *ids = v, *n = m;
    return LR_RPC_OK;
}

int lr_rpc_get_vector(const msgpack_object *o, const char *what, size_t dim, float *out, lr_rpc_fail *f) {
    if (!o || o->type != MSGPACK_OBJECT_ARRAY)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s' must be an array of %zu numbers", what, dim);
    if (o->via.array.size != dim)
        return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s' has %u values, expected %zu", what, o->via.array.size, dim);
    for (size_t i = 0; i < dim; i++) {
        const msgpack_object *x = &o->via.array.ptr[i];
        double v;
        int64_t iv;
        if (x->type == MSGPACK_OBJECT_FLOAT32 || x->type == MSGPACK_OBJECT_FLOAT64) v = x->via.f64;
        else if (as_int(x, &iv)) v = (double)iv;
        else return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s'[%zu] is not a number", what, i);
        if (!isfinite(v) || fabs(v) > 3.4e38)
            return lr_rpc_failf(f, LR_RPC_EBAD_REQUEST, "'%s'[%zu] is NaN, infinite or beyond float32", what, i);
        out[i] = (float)v;
    }
    return LR_RPC_OK;
}
