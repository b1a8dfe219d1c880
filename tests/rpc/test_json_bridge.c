/* Tests of rpc/json_bridge.c: JSON -> msgpack -> JSON round trips, the conversions that are not
 * one-to-one (bin, non-string keys, big uint64, float32, NaN, ext), the nesting limit and the
 * HTTP error object. */
#include <stdint.h>

#include "json_bridge.h"
#include "lr_rpc.h"
#include "lr_test.h"

/* Packs JSON text into sb; 0 on success. */
static int pack_text(const char *text, msgpack_sbuffer *sb, lr_err *err) {
    json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (!v) return lr_err_set(err, LR_EFORMAT, "test JSON does not parse: %s", text);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int rc = lr_rpc_json_pack(&pk, v, err);
    json_decref(v);
    return rc;
}

/* JSON text through msgpack and back: a new value, or NULL. */
static json_t *round_trip(const char *text) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    lr_err err = {0};
    json_t *back = NULL;
    if (pack_text(text, &sb, &err) == 0) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        if (msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS && off == sb.size)
            back = lr_rpc_msgpack_to_json(&u.data);
        msgpack_unpacked_destroy(&u);
    }
    msgpack_sbuffer_destroy(&sb);
    return back;
}

/* 1 when text survives a round trip as an equal JSON value. */
static int survives(const char *text) {
    json_t *a = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL), *b = round_trip(text);
    int same = a && b && json_equal(a, b);
    json_decref(a);
    json_decref(b);
    return same;
}

/* The compact JSON text of a msgpack object (caller frees), or NULL. */
static char *as_text(const msgpack_object *o) {
    json_t *j = lr_rpc_msgpack_to_json(o);
    char *s = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return s;
}

LR_TEST(nested_objects_round_trip) {
    CHECK(survives("{\"a\": {\"b\": [1, {\"c\": null, \"d\": [true, false]}], \"e\": {}}, \"f\": []}"));
    CHECK(survives("[[], [[]], {\"x\": [[{\"y\": \"z\"}]]}]"));
    CHECK(survives("{\"history\": [1, 2, 3], \"k\": 10, \"token\": \"s3cret\"}"));
}

LR_TEST(scalars_round_trip_at_the_top) {
    CHECK(survives("1"));
    CHECK(survives("null"));
    CHECK(survives("true"));
    CHECK(survives("\"just a string\""));
}

LR_TEST(integers_keep_sign_and_all_64_bits) {
    CHECK(survives("[0, -1, 127, 128, -32, -33, 255, 65536, -2147483649]"));
    CHECK(survives("[4294967296, 4294967301, -4294967301]")); /* beyond 2^32 */
    CHECK(survives("[9223372036854775807, -9223372036854775808]"));
    json_t *j = round_trip("4294967301");
    CHECK(json_is_integer(j) && json_integer_value(j) == 4294967301LL);
    json_decref(j);
}

LR_TEST(reals_stay_reals_and_exact) {
    CHECK(survives("[0.1, -1.5, 1e300, -2.5e-300, 3.0]"));
    json_t *j = round_trip("3.0"); /* a real with no fraction is still a real */
    CHECK(json_is_real(j) && json_real_value(j) == 3.0);
    json_decref(j);
}

LR_TEST(strings_keep_unicode_and_nul_bytes) {
    CHECK(survives("[\"caf\\u00e9\", \"\\ud83d\\ude00\", \"a\\u0000b\", \"\"]"));
    json_t *j = round_trip("\"a\\u0000b\"");
    CHECK(json_is_string(j) && json_string_length(j) == 3);
    json_decref(j);
}

/* jansson's parser refuses NUL in keys, but its objects hold them: both directions count bytes */
LR_TEST(map_keys_with_nul_bytes_keep_their_length) {
    msgpack_object_kv kv = {{.type = MSGPACK_OBJECT_STR, .via.str = {3, "a\0b"}},
                            {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 1}};
    msgpack_object m = {.type = MSGPACK_OBJECT_MAP, .via.map = {1, &kv}};
    json_t *j = lr_rpc_msgpack_to_json(&m);
    CHECK(j && json_object_getn(j, "a\0b", 3) && !json_object_get(j, "a"));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    lr_err err = {0};
    CHECK_OK(lr_rpc_json_pack(&pk, j, &err), err);
    json_decref(j);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK_EQ(u.data.via.map.ptr[0].key.via.str.size, 3);
    CHECK(memcmp(u.data.via.map.ptr[0].key.via.str.ptr, "a\0b", 3) == 0);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

LR_TEST(integers_pack_as_the_matching_msgpack_kind) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    lr_err err = {0};
    CHECK_OK(pack_text("[4294967301, -5, 0.5]", &sb, &err), err);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    CHECK(msgpack_unpack_next(&u, sb.data, sb.size, &off) == MSGPACK_UNPACK_SUCCESS);
    msgpack_object *a = u.data.via.array.ptr;
    CHECK_EQ(a[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    CHECK(a[0].via.u64 == 4294967301ULL);
    CHECK_EQ(a[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    CHECK_EQ(a[1].via.i64, -5);
    CHECK_EQ(a[2].type, MSGPACK_OBJECT_FLOAT64);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

LR_TEST(uint64_above_int64_max_becomes_a_real) {
    msgpack_object o = {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = UINT64_MAX};
    json_t *j = lr_rpc_msgpack_to_json(&o);
    CHECK(json_is_real(j));
    CHECK_NEAR(json_real_value(j), 18446744073709551615.0, 1e5);
    json_decref(j);
}

LR_TEST(float32_becomes_a_real_and_nan_becomes_null) {
    msgpack_object f = {.type = MSGPACK_OBJECT_FLOAT32, .via.f64 = 0.25};
    json_t *j = lr_rpc_msgpack_to_json(&f);
    CHECK(json_is_real(j) && json_real_value(j) == 0.25);
    json_decref(j);
    msgpack_object nan = {.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = NAN};
    j = lr_rpc_msgpack_to_json(&nan);
    CHECK(json_is_null(j)); /* JSON has no NaN */
    json_decref(j);
}

LR_TEST(bin_becomes_a_string_when_utf8_else_bytes) {
    msgpack_object b = {.type = MSGPACK_OBJECT_BIN, .via.bin = {5, "hello"}};
    char *s = as_text(&b);
    CHECK_STR_EQ(s, "\"hello\"");
    free(s);
    msgpack_object raw = {.type = MSGPACK_OBJECT_BIN, .via.bin = {3, "\xff\x00\x41"}};
    s = as_text(&raw);
    CHECK_STR_EQ(s, "[255,0,65]");
    free(s);
    msgpack_object bad = {.type = MSGPACK_OBJECT_STR, .via.str = {2, "\xc3\x28"}};
    s = as_text(&bad); /* a str that is not UTF-8 is shown the same way */
    CHECK_STR_EQ(s, "[195,40]");
    free(s);
}

LR_TEST(ext_becomes_null) {
    msgpack_object e = {.type = MSGPACK_OBJECT_EXT, .via.ext = {1, 2, "ab"}};
    char *s = as_text(&e);
    CHECK_STR_EQ(s, "null");
    free(s);
}

LR_TEST(non_string_map_keys_become_their_json_text) {
    msgpack_object arr[2] = {{.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 1},
                             {.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = -2}};
    msgpack_object_kv kv[6] = {
        {{.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 7}, {.type = MSGPACK_OBJECT_NIL}},
        {{.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = -3}, {.type = MSGPACK_OBJECT_BOOLEAN}},
        {{.type = MSGPACK_OBJECT_ARRAY, .via.array = {2, arr}}, {.type = MSGPACK_OBJECT_NIL}},
        {{.type = MSGPACK_OBJECT_NIL}, {.type = MSGPACK_OBJECT_NIL}},
        {{.type = MSGPACK_OBJECT_BIN, .via.bin = {3, "bin"}}, {.type = MSGPACK_OBJECT_NIL}},
        {{.type = MSGPACK_OBJECT_STR, .via.str = {1, "\xff"}}, {.type = MSGPACK_OBJECT_NIL}},
    };
    msgpack_object m = {.type = MSGPACK_OBJECT_MAP, .via.map = {6, kv}};
    char *s = as_text(&m);
    CHECK_STR_EQ(s, "{\"-3\":false,\"7\":null,\"[1,-2]\":null,\"[255]\":null,\"bin\":null,\"null\":null}");
    free(s);
}

LR_TEST(repeated_map_key_keeps_the_last_value) {
    msgpack_object_kv kv[2] = {
        {{.type = MSGPACK_OBJECT_STR, .via.str = {1, "k"}}, {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 1}},
        {{.type = MSGPACK_OBJECT_STR, .via.str = {1, "k"}}, {.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = 2}},
    };
    msgpack_object m = {.type = MSGPACK_OBJECT_MAP, .via.map = {2, kv}};
    char *s = as_text(&m);
    CHECK_STR_EQ(s, "{\"k\":2}");
    free(s);
}

/* n nested arrays around 0, as JSON text (caller frees). */
static char *nested_text(int n) {
    char *s = malloc((size_t)n * 2 + 2);
    memset(s, '[', (size_t)n);
    s[n] = '0';
    memset(s + n + 1, ']', (size_t)n);
    s[2 * n + 1] = '\0';
    return s;
}

LR_TEST(packing_json_nested_64_deep_is_accepted_65_refused) {
    char *ok = nested_text(64), *deep = nested_text(65);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    lr_err err = {0};
    CHECK_OK(pack_text(ok, &sb, &err), err);
    msgpack_sbuffer_clear(&sb);
    CHECK_ERR(pack_text(deep, &sb, &err), err, LR_EINVAL, "deeper than 64");
    msgpack_sbuffer_clear(&sb);
    msgpack_sbuffer_destroy(&sb);
    free(ok);
    free(deep);
}

LR_TEST(converting_msgpack_nested_64_deep_is_accepted_65_refused) {
    msgpack_object chain[66]; /* chain[i] is an array holding chain[i + 1]; the last is nil */
    for (int i = 0; i < 65; i++)
        chain[i] = (msgpack_object){.type = MSGPACK_OBJECT_ARRAY, .via.array = {1, &chain[i + 1]}};
    chain[65].type = MSGPACK_OBJECT_NIL;
    json_t *j = lr_rpc_msgpack_to_json(&chain[1]); /* 64 containers */
    CHECK(j != NULL);
    json_decref(j);
    CHECK(lr_rpc_msgpack_to_json(&chain[0]) == NULL); /* 65 */
}

static int refuse_write(void *data, const char *buf, size_t len) {
    (void)data, (void)buf, (void)len;
    return -1;
}

LR_TEST(a_failing_writer_is_reported_as_out_of_memory) {
    json_t *v = json_loads("{\"a\": [1, 2]}", 0, NULL);
    msgpack_packer pk;
    msgpack_packer_init(&pk, NULL, refuse_write);
    lr_err err = {0};
    CHECK_ERR(lr_rpc_json_pack(&pk, v, &err), err, LR_ENOMEM, "could not write");
    CHECK_ERR(lr_rpc_json_pack(&pk, NULL, &err), err, LR_EINVAL, "NULL");
    json_decref(v);
    CHECK(lr_rpc_msgpack_to_json(NULL) == NULL);
}

/* json_string refuses bytes that are not UTF-8 (NULL): the HTTP error would lose its message. */
LR_TEST(an_error_message_that_is_not_utf8_is_escaped_into_json) {
    json_t *e = lr_rpc_json_error(LR_RPC_EUNKNOWN_METHOD, "unknown method '\xff\xfe'");
    CHECK(e);
    CHECK_EQ(json_integer_value(json_object_get(e, "code")), LR_RPC_EUNKNOWN_METHOD);
    CHECK_STR_EQ(json_string_value(json_object_get(e, "name")), "unknown_method");
    CHECK_STR_EQ(json_string_value(json_object_get(e, "message")), "unknown method '\\xff\\xfe'");
    json_decref(e);
    json_t *s = lr_rpc_json_string("caf\xc3\xa9 \\x41", 10); /* valid: exactly as given */
    CHECK_STR_EQ(json_string_value(s), "caf\xc3\xa9 \\x41");
    json_decref(s);
}

LR_TEST_MAIN(LR_CASE(nested_objects_round_trip), LR_CASE(scalars_round_trip_at_the_top),
             LR_CASE(integers_keep_sign_and_all_64_bits), LR_CASE(reals_stay_reals_and_exact),
             LR_CASE(strings_keep_unicode_and_nul_bytes),
             LR_CASE(map_keys_with_nul_bytes_keep_their_length),
             LR_CASE(integers_pack_as_the_matching_msgpack_kind),
             LR_CASE(uint64_above_int64_max_becomes_a_real),
             LR_CASE(float32_becomes_a_real_and_nan_becomes_null),
             LR_CASE(bin_becomes_a_string_when_utf8_else_bytes), LR_CASE(ext_becomes_null),
             LR_CASE(non_string_map_keys_become_their_json_text),
             LR_CASE(repeated_map_key_keeps_the_last_value),
             LR_CASE(packing_json_nested_64_deep_is_accepted_65_refused),
             LR_CASE(converting_msgpack_nested_64_deep_is_accepted_65_refused),
             LR_CASE(a_failing_writer_is_reported_as_out_of_memory),
             LR_CASE(an_error_message_that_is_not_utf8_is_escaped_into_json))
