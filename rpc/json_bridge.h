/* JSON <-> msgpack for the HTTP endpoint and the command line (internal to rpc/). */
#ifndef LR_RPC_JSON_BRIDGE_H
#define LR_RPC_JSON_BRIDGE_H

#include <jansson.h>
#include <msgpack.h>

#include "lr_error.h"

/* Packs a JSON value: objects as maps (str keys), arrays, strings as str, integers as int64,
 * reals as float64, true/false, null as nil. Nesting deeper than 64 is refused (LR_EINVAL). */
int lr_rpc_json_pack(msgpack_packer *pk, const json_t *v, lr_err *err);

/* A new JSON value for a msgpack object (NULL on failure: out of memory, nesting deeper than
 * 64). Maps with non-string keys use the key's JSON text; bin (and a str that is not valid
 * UTF-8) becomes a string when it is valid UTF-8, else an array of byte values; ext becomes
 * null; float32 and float64 become reals, NaN and infinities null (JSON has none); a uint64
 * above INT64_MAX becomes an inexact real. */
json_t *lr_rpc_msgpack_to_json(const msgpack_object *o);

/* A new JSON string of s[0 .. len), with what is not UTF-8 escaped as \xNN (lr_rpc_utf8_escape)
 * where json_stringn would return NULL; NULL only when out of memory. */
json_t *lr_rpc_json_string(const char *s, size_t len);

/* The error object the HTTP endpoint sends, {"code": c, "name": "...", "message": "..."}, the
 * message escaped as above; NULL when out of memory. */
json_t *lr_rpc_json_error(int code, const char *msg);

#endif
