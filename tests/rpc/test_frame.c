/* Framing: where a msgpack object ends, and which byte streams are refused before buffering. */
#include <msgpack.h>

#include "lr_test.h"
#include "rpc_internal.h"

static long scan_all(const void *buf, size_t len, size_t max) {
    lr_frame_scan s = {0};
    return lr_rpc_frame_scan_next(&s, buf, len, max);
}

LR_TEST(a_request_frame_ends_where_its_object_ends) {
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int(&pk, 0);
    msgpack_pack_uint32(&pk, 7);
    msgpack_pack_str(&pk, 9);
    msgpack_pack_str_body(&pk, "recommend", 9);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str(&pk, 7);
    msgpack_pack_str_body(&pk, "history", 7);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int64(&pk, 1);
    msgpack_pack_int64(&pk, 70000);
    msgpack_pack_int64(&pk, -5);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "k", 1);
    msgpack_pack_double(&pk, 2.5);
    size_t one = sb.size;
    msgpack_pack_nil(&pk); /* the start of a next frame */
    CHECK_EQ(scan_all(sb.data, sb.size, 1 << 20), (long)one);
    for (size_t cut = 0; cut < one; cut++) CHECK_EQ(scan_all(sb.data, cut, 1 << 20), LR_FRAME_INCOMPLETE);
    msgpack_sbuffer_destroy(&sb);
}

/* Bytes arriving one at a time give the same answer as all at once, without rescanning. */
LR_TEST(the_scan_resumes_as_bytes_arrive) {
    const unsigned char f[] = {0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0x91, 0x80};
    lr_frame_scan s = {0};
    for (size_t len = 1; len < sizeof f; len++) CHECK_EQ(lr_rpc_frame_scan_next(&s, f, len, 1024), LR_FRAME_INCOMPLETE);
    CHECK_EQ(lr_rpc_frame_scan_next(&s, f, sizeof f, 1024), (long)sizeof f);
}

LR_TEST(every_fixed_size_type_is_measured) {
    const unsigned char f[] = {0xdc, 0x00, 18, 0xc0, 0xc2, 0xc3, 0xca, 0, 0, 0, 0, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0,
                               0xcc, 1, 0xcd, 1, 2, 0xce, 1, 2, 3, 4, 0xd0, 1, 0xd1, 1, 2, 0xd2, 1, 2, 3, 4,
                               0xd4, 1, 2, 0xd6, 1, 1, 2, 3, 4, 0xc7, 2, 9, 1, 2, 0xc4, 1, 'x', 0xe0, 0x7f,
                               0xd9, 2, 'a', 'b'};
    CHECK_EQ(scan_all(f, sizeof f, 1024), (long)sizeof f);
}

LR_TEST(a_length_claiming_gigabytes_is_refused_at_its_header) {
    const unsigned char bin[] = {0x94, 0x00, 0x01, 0xa4, 'p', 'i', 'n', 'g', 0xc6, 0x7f, 0xff, 0xff, 0xff};
    CHECK_EQ(scan_all(bin, sizeof bin, 8 << 20), LR_FRAME_TOO_LARGE);
    const unsigned char arr[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    CHECK_EQ(scan_all(arr, sizeof arr, 8 << 20), LR_FRAME_TOO_LARGE);
    const unsigned char map[] = {0xdf, 0x10, 0x00, 0x00, 0x00};
    CHECK_EQ(scan_all(map, sizeof map, 8 << 20), LR_FRAME_TOO_LARGE);
    const unsigned char small[] = {0xc5, 0x01, 0x00}; /* 256 bytes claimed, limit 100 */
    CHECK_EQ(scan_all(small, sizeof small, 100), LR_FRAME_TOO_LARGE);
}

LR_TEST(a_frame_of_many_small_objects_beyond_the_limit_is_refused) {
    unsigned char f[300];
    f[0] = 0xdc, f[1] = 0x01, f[2] = 0x00; /* an array of 256 nils: 259 bytes */
    memset(f + 3, 0xc0, 256);
    CHECK_EQ(scan_all(f, 259, 1024), 259);
    CHECK_EQ(scan_all(f, 259, 200), LR_FRAME_TOO_LARGE);
    CHECK_EQ(scan_all(f, 150, 100), LR_FRAME_TOO_LARGE); /* known before the rest arrives */
}

LR_TEST(garbage_and_deep_nesting_are_refused) {
    const unsigned char never[] = {0xc1};
    CHECK_EQ(scan_all(never, 1, 1024), LR_FRAME_BAD);
    const unsigned char later[] = {0x92, 0x01, 0xc1};
    CHECK_EQ(scan_all(later, sizeof later, 1024), LR_FRAME_BAD);
    unsigned char deep[40];
    memset(deep, 0x91, sizeof deep); /* [[[[...]]]] 40 levels */
    CHECK_EQ(scan_all(deep, sizeof deep, 1024), LR_FRAME_TOO_DEEP);
    memset(deep, 0x91, 31);
    deep[31] = 0xc0; /* 31 levels with a nil inside: fine */
    CHECK_EQ(scan_all(deep, 32, 1024), 32);
}

LR_TEST(empty_containers_end_at_once) {
    const unsigned char f[] = {0x93, 0x90, 0x80, 0xdc, 0x00, 0x00};
    CHECK_EQ(scan_all(f, sizeof f, 1024), (long)sizeof f);
}

LR_TEST_MAIN(LR_CASE(a_request_frame_ends_where_its_object_ends), LR_CASE(the_scan_resumes_as_bytes_arrive),
             LR_CASE(every_fixed_size_type_is_measured), LR_CASE(a_length_claiming_gigabytes_is_refused_at_its_header),
             LR_CASE(a_frame_of_many_small_objects_beyond_the_limit_is_refused),
             LR_CASE(garbage_and_deep_nesting_are_refused), LR_CASE(empty_containers_end_at_once))
