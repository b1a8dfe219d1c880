/* Tests for datasets/safetensors.c: writing, reading back, and refusing malformed files. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lr_test.h"
#include "lr_data.h"

/* ---- helpers --------------------------------------------------------------------------------- */

/* Writes a safetensors file by hand: the length field `claimed` (the header's length when it is
 * UINT64_MAX), `header` unpadded, then nbytes of data. */
static int write_st_claim(const char *dir, const char *name, uint64_t claimed, const char *header,
                          const void *data, size_t nbytes) {
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + nbytes);
    if (!buf) return -1;
    uint64_t len = claimed == UINT64_MAX ? hl : claimed;
    memcpy(buf, &len, 8);
    memcpy(buf + 8, header, hl);
    if (nbytes) memcpy(buf + 8 + hl, data, nbytes);
    int rc = lr_test_put_bytes(dir, name, buf, 8 + hl + nbytes, 0);
    free(buf);
    return rc;
}

static int write_st(const char *dir, const char *name, const char *header, const void *data,
                    size_t nbytes) {
    return write_st_claim(dir, name, UINT64_MAX, header, data, nbytes);
}

/* Opens dir/name, expecting failure; returns the code and leaves the message in *err. */
static int open_fails(const char *dir, const char *name, lr_err *err) {
    char path[4200];
    lr_test_path(path, sizeof path, dir, name);
    lr_data_st_file *f = (lr_data_st_file *)(uintptr_t)1; /* must come back NULL */
    int rc = lr_data_st_open(path, &f, err);
    if (f) {
        if (rc == LR_OK) lr_data_st_free(f);
        return 1; /* neither a failure nor NULL: reported as an unexpected code */
    }
    return rc;
}

static const float a6[6] = {0.5f, -1.25f, 3.0f, 4.5f, -0.0f, 1e-3f};
static const float b3[3] = {7.0f, 8.0f, 9.0f};

/* A good two-tensor file written by lr_data_st_write: "a" (2, 3) and "b" (3). */
static int write_two(const char *path, lr_err *err) {
    lr_data_st_tensor t[2] = {{"a", a6, 2, {2, 3}}, {"b", b3, 1, {3}}};
    return lr_data_st_write(path, t, 2, NULL, NULL, 0, err);
}

/* ---- writing and reading back ---------------------------------------------------------------- */

LR_TEST(round_trip_keeps_tensors_names_and_metadata) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "model.safetensors");
    float c24[24];
    for (int i = 0; i < 24; i++) c24[i] = (float)i * 0.25f - 3.0f;
    lr_data_st_tensor t[3] = {{"layers.0.bias", b3, 1, {3}},
                         {"layers.0.w", a6, 2, {2, 3}},
                         {"emb", c24, 3, {2, 3, 4}}};
    const char *keys[2] = {"format", "learnrec.version"};
    const char *vals[2] = {"pt", "1"};
    lr_err err = {0, ""};
    CHECK_OK(lr_data_st_write(path, t, 3, keys, vals, 2, &err), err);
    lr_data_st_file *f = NULL;
    CHECK_OK(lr_data_st_open(path, &f, &err), err);
    CHECK_EQ(lr_data_st_count(f), 3);
    CHECK_STR_EQ(lr_data_st_name(f, 0), "layers.0.bias");
    CHECK_STR_EQ(lr_data_st_name(f, 1), "layers.0.w");
    CHECK_STR_EQ(lr_data_st_name(f, 2), "emb");
    CHECK_STR_EQ(lr_data_st_meta(f, "format"), "pt");
    CHECK_STR_EQ(lr_data_st_meta(f, "learnrec.version"), "1");
    CHECK(lr_data_st_meta(f, "absent") == NULL);
    float got3[3], got6[6], got24[24];
    int rc1 = lr_data_st_read_f32(f, "layers.0.bias", 1, (size_t[]){3}, got3, &err);
    int rc2 = lr_data_st_read_f32(f, "layers.0.w", 2, (size_t[]){2, 3}, got6, &err);
    int rc3 = lr_data_st_read_f32(f, "emb", 3, (size_t[]){2, 3, 4}, got24, &err);
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc1, err);
    CHECK_OK(rc2, err);
    CHECK_OK(rc3, err);
    CHECK(memcmp(got3, b3, sizeof b3) == 0);
    CHECK(memcmp(got6, a6, sizeof a6) == 0);
    CHECK(memcmp(got24, c24, sizeof c24) == 0);
}

/* Integer tables and strings go in as raw elements and come back byte for byte, with the
 * dtype the file names; an unknown dtype is refused before any file exists. */
LR_TEST(raw_tensors_round_trip_with_their_dtypes) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "attrs.safetensors");
    const uint8_t bytes[5] = {'a', 'b', 'c', 'd', 'e'};
    const uint32_t ids[3] = {7, 0, 4000000000u};
    const int64_t offs[2] = {-1, 1LL << 40};
    lr_data_st_raw t[3] = {{"s", "U8", bytes, 1, {5}}, {"ids", "U32", ids, 2, {3, 1}}, {"offs", "I64", offs, 1, {2}}};
    lr_err err = {0, ""};
    CHECK_OK(lr_data_st_write_raw(path, t, 3, NULL, NULL, 0, &err), err);
    lr_data_st_file *f = NULL;
    CHECK_OK(lr_data_st_open(path, &f, &err), err);
    lr_data_st_view v[3];
    int rc = LR_OK;
    for (int i = 0; i < 3 && !rc; i++) rc = lr_data_st_get(f, t[i].name, &v[i], &err);
    CHECK_OK(rc, err);
    CHECK(strcmp(v[0].dtype, "U8") == 0 && v[0].bytes == 5 && memcmp(v[0].data, bytes, 5) == 0);
    CHECK(strcmp(v[1].dtype, "U32") == 0 && v[1].ndim == 2 && v[1].shape[0] == 3 && memcmp(v[1].data, ids, 12) == 0);
    CHECK(strcmp(v[2].dtype, "I64") == 0 && v[2].type == LR_DATA_ST_OTHER && memcmp(v[2].data, offs, 16) == 0);
    lr_data_st_free(f);
    lr_data_st_raw bad = {"x", "U24", bytes, 1, {1}};
    char path2[4200];
    lr_test_path(path2, sizeof path2, dir, "bad.safetensors");
    CHECK_ERR(lr_data_st_write_raw(path2, &bad, 1, NULL, NULL, 0, &err), err, LR_EINVAL,
              "tensor 'x': dtype U24 is not one of the format's");
    CHECK(access(path2, F_OK) != 0);
    lr_test_rmdir(dir);
}

LR_TEST(round_trip_handles_scalar_and_empty_tensors) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "m.safetensors");
    float s = 42.5f;
    lr_data_st_tensor t[3] = {{"empty", NULL, 2, {0, 5}}, {"scalar", &s, 0, {0}}, {"b", b3, 1, {3}}};
    lr_err err = {0, ""};
    CHECK_OK(lr_data_st_write(path, t, 3, NULL, NULL, 0, &err), err);
    lr_data_st_file *f = NULL;
    CHECK_OK(lr_data_st_open(path, &f, &err), err);
    float got = 0, got3[3];
    int rc1 = lr_data_st_read_f32(f, "scalar", 0, NULL, &got, &err);
    int rc2 = lr_data_st_read_f32(f, "empty", 2, (size_t[]){0, 5}, NULL, &err);
    int rc3 = lr_data_st_read_f32(f, "b", 1, (size_t[]){3}, got3, &err);
    const char *meta = lr_data_st_meta(f, "format");
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc1, err);
    CHECK_OK(rc2, err);
    CHECK_OK(rc3, err);
    CHECK(got == 42.5f);
    CHECK(memcmp(got3, b3, sizeof b3) == 0);
    CHECK(meta == NULL);
}

LR_TEST(data_starts_at_8_byte_aligned_offset) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    /* Names of every length mod 8 move the end of the JSON through every residue. */
    const char *names[8] = {"a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh"};
    int rc = 0, bad = 0;
    for (size_t i = 0; i < 8 && !rc && !bad; i++) {
        char path[4200];
        lr_test_path(path, sizeof path, dir, "x.safetensors");
        lr_data_st_tensor t = {names[i], b3, 1, {3}};
        if ((rc = lr_data_st_write(path, &t, 1, NULL, NULL, 0, &err))) break;
        unsigned char buf[256];
        long n = lr_test_read_bytes(dir, "x.safetensors", buf, sizeof buf);
        uint64_t hlen;
        memcpy(&hlen, buf, 8);
        /* Aligned, exactly header + 12 data bytes, JSON padded with spaces only. */
        if (n < 8 || (8 + hlen) % 8 != 0 || (uint64_t)n != 8 + hlen + 12 || buf[8] != '{' ||
            memcmp(buf + 8 + hlen, b3, 12) != 0) {
            bad = 1;
            break;
        }
        size_t j = 8 + (size_t)hlen;
        while (j > 8 && buf[j - 1] == ' ') j--;
        if (buf[j - 1] != '}' || 8 + hlen - j > 7) bad = 1;
    }
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK(!bad);
}

LR_TEST(header_passes_a_json_and_struct_check_in_python) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "model.safetensors");
    float c24[24] = {0};
    lr_data_st_tensor t[3] = {{"w", a6, 2, {2, 3}}, {"b", b3, 1, {3}}, {"e", c24, 3, {2, 3, 4}}};
    const char *keys[1] = {"format"}, *vals[1] = {"pt"};
    lr_err err = {0, ""};
    CHECK_OK(lr_data_st_write(path, t, 3, keys, vals, 1, &err), err);
    /* Only json and struct: an independent reading of the format, as the Python library does. */
    static const char script[] =
        "import json, struct, sys\n"
        "b = open(sys.argv[1], 'rb').read()\n"
        "(n,) = struct.unpack('<Q', b[:8])\n"
        "assert (8 + n) % 8 == 0, 'unaligned'\n"
        "h = json.loads(b[8:8 + n].decode('utf-8'))\n"
        "data = b[8 + n:]\n"
        "assert h.pop('__metadata__') == {'format': 'pt'}\n"
        "assert list(h) == ['w', 'b', 'e'], list(h)\n"
        "at = 0\n"
        "for k, v in sorted(h.items(), key=lambda kv: kv[1]['data_offsets']):\n"
        "    s, e = v['data_offsets']\n"
        "    assert v['dtype'] == 'F32' and s == at, (k, v)\n"
        "    numel = 1\n"
        "    for d in v['shape']: numel *= d\n"
        "    assert e - s == 4 * numel, (k, v)\n"
        "    at = e\n"
        "assert at == len(data)\n"
        "s, e = h['b']['data_offsets']\n"
        "assert struct.unpack('<3f', data[s:e]) == (7.0, 8.0, 9.0)\n"
        "print('OK')\n";
    char cmd[9000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"$(cat <<'PYEOF'\n%sPYEOF\n)\" '%s' 2>&1",
             script, path);
    FILE *p = popen(cmd, "r");
    char out[256] = ""; /* a traceback is cut short, enough to see which assert failed */
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    out[n] = '\0';
    int status = p ? pclose(p) : -1;
    lr_test_rmdir(dir);
    CHECK(p);
    CHECK_STR_EQ(out, "OK\n");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

LR_TEST(reads_hand_written_header_with_other_key_order_and_spaces) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    float data[9];
    memcpy(data, b3, sizeof b3);
    memcpy(data + 3, a6, sizeof a6);
    const char *h = "  { \"w\" : { \"data_offsets\" : [ 12 , 36 ] ,\n\t\"shape\": [2,3], "
                    "\"dtype\":\"F32\" },\n \"__metadata__\": {\"k\": \"v\"},"
                    " \"b\":{\"shape\":[3],\"dtype\":\"F32\",\"data_offsets\":[0,12]} }   ";
    CHECK_EQ(write_st(dir, "h.safetensors", h, data, sizeof data), 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "h.safetensors");
    lr_data_st_file *f = NULL;
    lr_err err = {0, ""};
    int rc = lr_data_st_open(path, &f, &err);
    float w[6] = {0}, b[3] = {0};
    size_t count = lr_data_st_count(f);
    const char *n0 = lr_data_st_name(f, 0), *n1 = lr_data_st_name(f, 1), *n2 = lr_data_st_name(f, 2);
    const char *meta = lr_data_st_meta(f, "k");
    int rw = rc ? rc : lr_data_st_read_f32(f, "w", 2, (size_t[]){2, 3}, w, &err);
    int rb = rc ? rc : lr_data_st_read_f32(f, "b", 1, (size_t[]){3}, b, &err);
    int same = n0 && n1 && !strcmp(n0, "w") && !strcmp(n1, "b") && !n2 && meta && !strcmp(meta, "v");
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(rw, err);
    CHECK_OK(rb, err);
    CHECK_EQ(count, 2);
    CHECK(same);
    CHECK(memcmp(w, a6, sizeof a6) == 0);
    CHECK(memcmp(b, b3, sizeof b3) == 0);
}

LR_TEST(write_replaces_old_file_and_leaves_no_temporary) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "m.safetensors");
    lr_err err = {0, ""};
    CHECK_EQ(lr_test_write_file(dir, "m.safetensors", "old contents"), 0);
    int rc = write_two(path, &err);
    lr_data_st_file *f = NULL;
    int ro = rc ? rc : lr_data_st_open(path, &f, &err);
    size_t count = lr_data_st_count(f);
    lr_data_st_free(f);
    char cmd[4400];
    snprintf(cmd, sizeof cmd, "test \"$(ls '%s')\" = m.safetensors", dir);
    int only_one = system(cmd) == 0;
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(ro, err);
    CHECK_EQ(count, 2);
    CHECK(only_one);
}

LR_TEST(write_into_missing_directory_is_io_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "no/such/m.safetensors");
    lr_err err = {0, ""};
    int rc = write_two(path, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EIO, "no/such/m.safetensors.tmp.");
    CHECK_CONTAINS(err.msg, "cannot create");
}

LR_TEST(write_refuses_metadata_key_starting_with_underscores) {
    lr_data_st_tensor t = {"b", b3, 1, {3}};
    const char *keys[1] = {"__format"}, *vals[1] = {"pt"};
    lr_err err = {0, ""};
    CHECK_ERR(lr_data_st_write("/nonexistent/m.safetensors", &t, 1, keys, vals, 1, &err), err,
              LR_EINVAL, "metadata key '__format' starts with \"__\"");
}

LR_TEST(write_refuses_duplicate_tensor_names) {
    lr_data_st_tensor t[2] = {{"b", b3, 1, {3}}, {"b", b3, 1, {3}}};
    lr_err err = {0, ""};
    CHECK_ERR(lr_data_st_write("/nonexistent/m.safetensors", t, 2, NULL, NULL, 0, &err), err,
              LR_EINVAL, "tensor name 'b' appears twice");
}

LR_TEST(write_refuses_reserved_and_non_utf8_names) {
    lr_data_st_tensor t1 = {"__metadata__", b3, 1, {3}};
    lr_data_st_tensor t2 = {"bad\xff", b3, 1, {3}};
    lr_err err = {0, ""};
    CHECK_ERR(lr_data_st_write("/nonexistent/m.safetensors", &t1, 1, NULL, NULL, 0, &err), err,
              LR_EINVAL, "reserved name");
    CHECK_ERR(lr_data_st_write("/nonexistent/m.safetensors", &t2, 1, NULL, NULL, 0, &err), err,
              LR_EINVAL, "not valid UTF-8");
}

LR_TEST(write_refuses_more_than_4_dimensions) {
    lr_data_st_tensor t = {"b", b3, 5, {1, 1, 3}};
    lr_err err = {0, ""};
    CHECK_ERR(lr_data_st_write("/nonexistent/m.safetensors", &t, 1, NULL, NULL, 0, &err), err,
              LR_EINVAL, "tensor 'b' has 5 dimensions, at most 4");
}

/* ---- lr_data_st_read_f32 errors ------------------------------------------------------------------- */

LR_TEST(missing_tensor_is_not_found) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "model.safetensors");
    lr_err err = {0, ""};
    int rc = write_two(path, &err);
    lr_data_st_file *f = NULL;
    if (!rc) rc = lr_data_st_open(path, &f, &err);
    float dst[3];
    int rr = rc ? rc : lr_data_st_read_f32(f, "w_out", 1, (size_t[]){3}, dst, &err);
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_ERR(rr, err, LR_ENOTFOUND, "model.safetensors: no tensor 'w_out'");
}

/* Half-precision weights (Hugging Face checkpoints are mostly F16 or BF16) read as float32,
 * exactly: 1, 2, 3, 4 and -0.5 in F16; 1, -2, 0.15625 (exact in bfloat16) and 3.0e38 in BF16. */
LR_TEST(f16_and_bf16_tensors_read_as_f32) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    uint16_t data[9] = {0x3c00, 0x4000, 0x4200, 0x4400, 0xb800, /* F16 */
                        0x3f80, 0xc000, 0x3e20, 0x7f62};        /* BF16 */
    const char *h = "{\"w_out\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
                    "\"emb\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[10,18]}}";
    CHECK_EQ(write_st(dir, "model.safetensors", h, data, sizeof data), 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "model.safetensors");
    lr_data_st_file *f = NULL;
    lr_err err = {0, ""};
    int rc = lr_data_st_open(path, &f, &err);
    float a[5] = {0}, b[4] = {0};
    int ra = rc ? rc : lr_data_st_read_f32(f, "w_out", 1, (size_t[]){5}, a, &err);
    int rb = ra ? ra : lr_data_st_read_f32(f, "emb", 2, (size_t[]){2, 2}, b, &err);
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(ra, err);
    CHECK_OK(rb, err);
    const float want_a[5] = {1.0f, 2.0f, 3.0f, 4.0f, -0.5f};
    for (int i = 0; i < 5; i++) CHECK(a[i] == want_a[i]);
    CHECK(b[0] == 1.0f && b[1] == -2.0f && b[2] == 0.15625f);
    uint32_t bits;
    memcpy(&bits, &b[3], sizeof bits);
    CHECK_EQ(bits, 0x7f620000u); /* the float32 whose top half is the bfloat16 */
}

LR_TEST(wrong_shape_is_mismatch_and_leaves_dst_alone) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "model.safetensors");
    float *w = malloc(768 * 256 * sizeof *w);
    if (!w) lr_test_rmdir(dir);
    CHECK(w);
    for (size_t i = 0; i < 768 * 256; i++) w[i] = (float)i;
    lr_data_st_tensor t = {"layers.0.qkv_w", w, 2, {768, 256}};
    lr_err err = {0, ""};
    int rc = lr_data_st_write(path, &t, 1, NULL, NULL, 0, &err);
    free(w);
    lr_data_st_file *f = NULL;
    if (!rc) rc = lr_data_st_open(path, &f, &err);
    float dst[4] = {-1, -1, -1, -1};
    lr_err e2 = {0, ""}, e3 = {0, ""};
    int r1 = rc ? rc : lr_data_st_read_f32(f, "layers.0.qkv_w", 2, (size_t[]){768, 512}, dst, &err);
    int r2 = rc ? rc : lr_data_st_read_f32(f, "layers.0.qkv_w", 1, (size_t[]){768 * 256}, dst, &e2);
    int r3 = rc ? rc : lr_data_st_read_f32(f, "layers.0.qkv_w", 3, (size_t[]){768, 256, 1}, dst, &e3);
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_ERR(r1, err, LR_EMISMATCH,
              "model.safetensors: tensor 'layers.0.qkv_w' has shape [768, 256], expected [768, 512]");
    CHECK_ERR(r2, e2, LR_EMISMATCH, "has shape [768, 256], expected [196608]");
    CHECK_ERR(r3, e3, LR_EMISMATCH, "has shape [768, 256], expected [768, 256, 1]");
    CHECK(dst[0] == -1 && dst[3] == -1);
}

/* ---- lr_data_st_open errors ----------------------------------------------------------------------- */

LR_TEST(missing_file_is_not_found_naming_the_path) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    int rc = open_fails(dir, "absent.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_ENOTFOUND, "absent.safetensors: cannot open");
}

LR_TEST(directory_is_io_error) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    int rc = open_fails(dir, ".", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EIO, "not a regular file");
}

LR_TEST(file_shorter_than_8_bytes_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(lr_test_put_bytes(dir, "s.safetensors", "\x02\0\0\0", 4, 0), 0);
    int rc = open_fails(dir, "s.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "s.safetensors: 4 bytes is too short");
}

LR_TEST(header_length_beyond_file_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st_claim(dir, "l.safetensors", 1000, "{}", NULL, 0), 0);
    int rc = open_fails(dir, "l.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "l.safetensors: header length 1000 is larger than the file");
}

LR_TEST(header_length_over_100mb_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st_claim(dir, "l.safetensors", 100000001, "{}", NULL, 0), 0);
    int rc = open_fails(dir, "l.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "l.safetensors: header length 100000001 is over the");
}

LR_TEST(invalid_json_is_refused_with_jansson_text_and_position) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st(dir, "j.safetensors", "{\"a\": {\"dtype\" \"F32\"}}", NULL, 0), 0);
    int rc = open_fails(dir, "j.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "j.safetensors: header is not valid JSON: ");
    CHECK_CONTAINS(err.msg, "':' expected");
    CHECK_CONTAINS(err.msg, "line 1, column 20"); /* jansson points just past the token */
}

LR_TEST(header_that_is_not_an_object_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st(dir, "j.safetensors", "[1, 2]", NULL, 0), 0);
    int rc = open_fails(dir, "j.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "j.safetensors: header is not a JSON object");
}

LR_TEST(duplicate_tensor_names_in_header_are_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    const char *h = "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}";
    CHECK_EQ(write_st(dir, "d.safetensors", h, b3, sizeof b3), 0);
    int rc = open_fails(dir, "d.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "duplicate object key");
}

LR_TEST(entry_without_dtype_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st(dir, "e.safetensors", "{\"b\":{\"shape\":[3],\"data_offsets\":[0,12]}}", b3,
                      sizeof b3), 0);
    int rc = open_fails(dir, "e.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "e.safetensors: tensor 'b' has no \"dtype\"");
}

LR_TEST(entry_with_wrongly_typed_fields_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err e1 = {0, ""}, e2 = {0, ""}, e3 = {0, ""}, e4 = {0, ""};
    CHECK_EQ(write_st(dir, "1", "{\"b\":{\"dtype\":\"F32\",\"shape\":\"3\",\"data_offsets\":[0,12]}}",
                      b3, sizeof b3), 0);
    CHECK_EQ(write_st(dir, "2", "{\"b\":{\"dtype\":\"F32\",\"shape\":[-3],\"data_offsets\":[0,12]}}",
                      b3, sizeof b3), 0);
    CHECK_EQ(write_st(dir, "3", "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12,1]}}",
                      b3, sizeof b3), 0);
    CHECK_EQ(write_st(dir, "4", "{\"b\":[1]}", b3, sizeof b3), 0);
    int r1 = open_fails(dir, "1", &e1), r2 = open_fails(dir, "2", &e2);
    int r3 = open_fails(dir, "3", &e3), r4 = open_fails(dir, "4", &e4);
    lr_test_rmdir(dir);
    CHECK_ERR(r1, e1, LR_EFORMAT, "tensor 'b': shape is not an array");
    CHECK_ERR(r2, e2, LR_EFORMAT, "tensor 'b': shape[0] is not a non-negative integer");
    CHECK_ERR(r3, e3, LR_EFORMAT, "tensor 'b': data_offsets is not [begin, end]");
    CHECK_ERR(r4, e4, LR_EFORMAT, "tensor 'b': entry is not an object");
}

LR_TEST(unknown_dtype_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st(dir, "u.safetensors",
                      "{\"b\":{\"dtype\":\"Q4\",\"shape\":[3],\"data_offsets\":[0,12]}}", b3,
                      sizeof b3), 0);
    int rc = open_fails(dir, "u.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "u.safetensors: tensor 'b' has unknown dtype 'Q4'");
}

LR_TEST(other_known_dtypes_open_but_integers_are_not_readable_as_f32) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    unsigned char data[8 + 2 + 1] = {0};
    const char *h = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                    "\"h\":{\"dtype\":\"BF16\",\"shape\":[],\"data_offsets\":[8,10]},"
                    "\"m\":{\"dtype\":\"BOOL\",\"shape\":[1,1],\"data_offsets\":[10,11]}}";
    CHECK_EQ(write_st(dir, "k.safetensors", h, data, sizeof data), 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "k.safetensors");
    lr_data_st_file *f = NULL;
    lr_err err = {0, ""};
    int rc = lr_data_st_open(path, &f, &err);
    float x[1];
    int rr = rc ? rc : lr_data_st_read_f32(f, "ids", 1, (size_t[]){1}, x, &err);
    size_t count = lr_data_st_count(f);
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_EQ(count, 3);
    CHECK_ERR(rr, err, LR_EFORMAT, "tensor 'ids' has dtype I64, expected F32, F16 or BF16");
}

/* ---- views, row ranges, F16 / BF16 writing ---------------------------------------------------- */

/* A view gives dtype, shape and the bytes in place: an F32 tensor's floats are read from the
 * mapping with no copy. */
LR_TEST(view_gives_dtype_shape_and_mapped_f32_data) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "model.safetensors");
    lr_err err = {0, ""};
    int rc = write_two(path, &err);
    lr_data_st_file *f = NULL;
    if (!rc) rc = lr_data_st_open(path, &f, &err);
    lr_data_st_view va, vb, vc;
    int ra = rc ? rc : lr_data_st_get(f, "a", &va, &err);
    int rb = ra ? ra : lr_data_st_get(f, "b", &vb, &err);
    float a_in_place[6] = {0};
    if (!rb) memcpy(a_in_place, va.data, sizeof a_in_place);
    lr_err err_c = {0, ""};
    int rcm = rc ? rc : lr_data_st_get(f, "c", &vc, &err_c);
    int dtype_f32 = !rb && strcmp(va.dtype, "F32") == 0; /* the string lives in the file */
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_OK(ra, err);
    CHECK_OK(rb, err);
    CHECK(dtype_f32);
    CHECK_EQ(va.type, LR_DATA_ST_F32);
    CHECK_EQ(va.ndim, 2);
    CHECK_EQ(va.shape[0], 2);
    CHECK_EQ(va.shape[1], 3);
    CHECK_EQ(va.numel, 6);
    CHECK_EQ(va.bytes, 24);
    CHECK_EQ(vb.numel, 3);
    CHECK_EQ(vb.shape[0], 3);
    CHECK_EQ(memcmp(a_in_place, a6, sizeof a6), 0);
    CHECK_ERR(rcm, err_c, LR_ENOTFOUND, "no tensor 'c'");
}

/* lr_data_st_write_as stores F16 and BF16 rounded to nearest even, and lr_data_st_widen reads
 * any row range back exactly as those rounded values. */
LR_TEST(f16_bf16_written_and_row_range_widened) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "h.safetensors");
    float w[4 * 3];
    for (int i = 0; i < 12; i++) w[i] = 0.1f * (float)i - 0.37f;
    lr_data_st_tensor t[3] = {{"h", w, 2, {4, 3}}, {"b", w, 2, {4, 3}}, {"f", w, 2, {4, 3}}};
    const lr_data_st_dtype dt[3] = {LR_DATA_ST_F16, LR_DATA_ST_BF16, LR_DATA_ST_F32};
    lr_err err = {0, ""};
    int rc = lr_data_st_write_as(path, t, dt, 3, NULL, NULL, 0, &err);
    lr_data_st_file *f = NULL;
    if (!rc) rc = lr_data_st_open(path, &f, &err);
    lr_data_st_view v[3];
    float rows[3][6];
    for (int k = 0; k < 3 && !rc; k++) {
        rc = lr_data_st_get(f, t[k].name, &v[k], &err);
        if (!rc) rc = lr_data_st_widen(&v[k], 1 * 3, 2 * 3, rows[k], &err); /* rows 1 and 2 */
    }
    int names_ok = !rc && strcmp(v[0].dtype, "F16") == 0 && strcmp(v[1].dtype, "BF16") == 0;
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK(names_ok);
    CHECK_EQ(v[0].bytes, 24);
    CHECK_EQ(v[1].type, LR_DATA_ST_BF16);
    for (int i = 0; i < 6; i++) {
        CHECK(rows[0][i] == lr_data_half_to_float(lr_data_float_to_half(w[3 + i])));
        CHECK(rows[1][i] == lr_data_bf16_to_float(lr_data_float_to_bf16(w[3 + i])));
        CHECK(rows[2][i] == w[3 + i]);
        CHECK(fabsf(rows[1][i] - w[3 + i]) <= fabsf(w[3 + i]) / 256); /* 8 significant bits */
    }
}

/* Ties go to the even neighbour; the largest values overflow to infinity; NaN stays NaN. */
LR_TEST(float_to_bf16_rounds_to_nearest_even) {
    const uint32_t in[6] = {0x3f808000u, 0x3f818000u, 0x3f808001u, 0x7f7fffffu, 0x7fc00001u,
                            0xbf800000u};
    const uint16_t want[6] = {0x3f80, 0x3f82, 0x3f81, 0x7f80, 0x7fc0, 0xbf80};
    for (int i = 0; i < 6; i++) {
        float x;
        memcpy(&x, &in[i], sizeof x);
        CHECK_EQ(lr_data_float_to_bf16(x), want[i]);
    }
    float nan_in;
    memcpy(&nan_in, &(uint32_t){0x7f800001u}, sizeof nan_in); /* signalling: becomes quiet */
    CHECK(isnan(lr_data_bf16_to_float(lr_data_float_to_bf16(nan_in))));
}

LR_TEST(write_as_refuses_values_beyond_f16_range) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "big.safetensors");
    const float big[3] = {1.0f, 70000.0f, 2.0f};
    lr_data_st_tensor t = {"layers.1.w", big, 1, {3}};
    lr_err err = {0, ""};
    int rc = lr_data_st_write_as(path, &t, (lr_data_st_dtype[]){LR_DATA_ST_F16}, 1, NULL, NULL, 0,
                                 &err);
    int exists = access(path, F_OK) == 0;
    lr_err err_b = {0, ""};
    int rb = lr_data_st_write_as(path, &t, (lr_data_st_dtype[]){LR_DATA_ST_BF16}, 1, NULL, NULL, 0,
                                 &err_b);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_ERANGE, "tensor 'layers.1.w': value 70000 at element 1 is beyond the range of F16");
    CHECK(!exists);
    CHECK_OK(rb, err_b); /* bfloat16 has float32's range */
}

/* A range past the end and an integer tensor are refused; dst stays as it was. */
LR_TEST(widen_refuses_range_past_end_and_integer_dtype) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    unsigned char data[8 + 4] = {0};
    const char *h = "{\"ids\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
                    "\"x\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}";
    CHECK_EQ(write_st(dir, "k.safetensors", h, data, sizeof data), 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "k.safetensors");
    lr_data_st_file *f = NULL;
    lr_err err = {0, ""}, e1 = {0, ""}, e2 = {0, ""};
    int rc = lr_data_st_open(path, &f, &err);
    lr_data_st_view vi, vx;
    if (!rc) rc = lr_data_st_get(f, "ids", &vi, &err);
    if (!rc) rc = lr_data_st_get(f, "x", &vx, &err);
    float dst[3] = {5, 5, 5};
    int r1 = rc ? rc : lr_data_st_widen(&vx, 1, 2, dst, &e1);
    int r2 = rc ? rc : lr_data_st_widen(&vi, 0, 1, dst, &e2);
    lr_data_st_free(f);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK_EQ(vi.type, LR_DATA_ST_OTHER);
    CHECK_ERR(r1, e1, LR_ERANGE, "elements [1, 3) are past the tensor's 2");
    CHECK_ERR(r2, e2, LR_EFORMAT, "dtype I64 cannot be read as float32");
    CHECK(dst[0] == 5 && dst[1] == 5 && dst[2] == 5);
}

LR_TEST(reversed_data_offsets_are_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st(dir, "r.safetensors",
                      "{\"b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[12,0]}}", b3,
                      sizeof b3), 0);
    int rc = open_fails(dir, "r.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "tensor 'b': data_offsets [12, 0] end before they begin");
}

LR_TEST(size_not_matching_shape_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st(dir, "z.safetensors",
                      "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", b3,
                      sizeof b3), 0);
    int rc = open_fails(dir, "z.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "data_offsets [0, 12] span 12 bytes, but its dtype and shape need 8");
}

LR_TEST(truncated_file_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "t.safetensors");
    lr_err err = {0, ""};
    int rc = write_two(path, &err);
    unsigned char buf[512];
    long n = rc ? -1 : lr_test_read_bytes(dir, "t.safetensors", buf, sizeof buf);
    int wr = n > 5 ? lr_test_put_bytes(dir, "t.safetensors", buf, (size_t)n - 5, 0) : -1;
    int ro = open_fails(dir, "t.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_EQ(wr, 0);
    CHECK_ERR(ro, err, LR_EFORMAT, "t.safetensors: truncated: tensor 'b' ends at byte 36");
    CHECK_CONTAINS(err.msg, "only 31 bytes of data");
}

LR_TEST(overlapping_offsets_are_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    float data[4] = {1, 2, 3, 4};
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[4,16]}}";
    CHECK_EQ(write_st(dir, "o.safetensors", h, data, sizeof data), 0);
    int rc = open_fails(dir, "o.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "o.safetensors: tensors 'a' [0, 12] and 'b' [4, 16] overlap");
}

LR_TEST(gap_between_tensors_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    float data[4] = {1, 2, 3, 4};
    const char *h = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}";
    CHECK_EQ(write_st(dir, "g.safetensors", h, data, sizeof data), 0);
    int rc = open_fails(dir, "g.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "g.safetensors: 4 unused bytes before tensor 'b'");
}

LR_TEST(trailing_bytes_are_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    float data[4] = {1, 2, 3, 4};
    CHECK_EQ(write_st(dir, "x.safetensors",
                      "{\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", data,
                      sizeof data), 0);
    int rc = open_fails(dir, "x.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "x.safetensors: 4 bytes after the last tensor");
}

LR_TEST(metadata_values_must_be_strings) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st(dir, "m.safetensors",
                      "{\"__metadata__\":{\"format\":\"pt\",\"epoch\":3},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}",
                      b3, sizeof b3), 0);
    int rc = open_fails(dir, "m.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "m.safetensors: metadata value of 'epoch' is not a string");
}

LR_TEST(metadata_must_be_an_object) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_EQ(write_st(dir, "m.safetensors", "{\"__metadata__\":[\"pt\"]}", NULL, 0), 0);
    int rc = open_fails(dir, "m.safetensors", &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "m.safetensors: \"__metadata__\" is not an object");
}

/* ---- getters --------------------------------------------------------------------------------- */

LR_TEST(getters_return_null_out_of_range_and_close_accepts_null) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "m.safetensors");
    lr_err err = {0, ""};
    int rc = write_two(path, &err);
    lr_data_st_file *f = NULL;
    if (!rc) rc = lr_data_st_open(path, &f, &err);
    const char *past = lr_data_st_name(f, 2), *meta = lr_data_st_meta(f, "format");
    lr_data_st_free(f);
    lr_data_st_free(NULL);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    CHECK(past == NULL);
    CHECK(meta == NULL);
}

LR_TEST_MAIN(LR_CASE(round_trip_keeps_tensors_names_and_metadata), LR_CASE(raw_tensors_round_trip_with_their_dtypes),
             LR_CASE(round_trip_handles_scalar_and_empty_tensors),
             LR_CASE(data_starts_at_8_byte_aligned_offset),
             LR_CASE(header_passes_a_json_and_struct_check_in_python),
             LR_CASE(reads_hand_written_header_with_other_key_order_and_spaces),
             LR_CASE(write_replaces_old_file_and_leaves_no_temporary),
             LR_CASE(write_into_missing_directory_is_io_error),
             LR_CASE(write_refuses_metadata_key_starting_with_underscores),
             LR_CASE(write_refuses_duplicate_tensor_names),
             LR_CASE(write_refuses_reserved_and_non_utf8_names),
             LR_CASE(write_refuses_more_than_4_dimensions),
             LR_CASE(missing_tensor_is_not_found),
             LR_CASE(f16_and_bf16_tensors_read_as_f32),
             LR_CASE(wrong_shape_is_mismatch_and_leaves_dst_alone),
             LR_CASE(missing_file_is_not_found_naming_the_path),
             LR_CASE(directory_is_io_error),
             LR_CASE(file_shorter_than_8_bytes_is_refused),
             LR_CASE(header_length_beyond_file_is_refused),
             LR_CASE(header_length_over_100mb_is_refused),
             LR_CASE(invalid_json_is_refused_with_jansson_text_and_position),
             LR_CASE(header_that_is_not_an_object_is_refused),
             LR_CASE(duplicate_tensor_names_in_header_are_refused),
             LR_CASE(entry_without_dtype_is_refused),
             LR_CASE(entry_with_wrongly_typed_fields_is_refused),
             LR_CASE(unknown_dtype_is_refused),
             LR_CASE(other_known_dtypes_open_but_integers_are_not_readable_as_f32),
             LR_CASE(view_gives_dtype_shape_and_mapped_f32_data),
             LR_CASE(f16_bf16_written_and_row_range_widened),
             LR_CASE(float_to_bf16_rounds_to_nearest_even),
             LR_CASE(write_as_refuses_values_beyond_f16_range),
             LR_CASE(widen_refuses_range_past_end_and_integer_dtype),
             LR_CASE(reversed_data_offsets_are_refused),
             LR_CASE(size_not_matching_shape_is_refused),
             LR_CASE(truncated_file_is_refused),
             LR_CASE(overlapping_offsets_are_refused),
             LR_CASE(gap_between_tensors_is_refused),
             LR_CASE(trailing_bytes_are_refused),
             LR_CASE(metadata_values_must_be_strings),
             LR_CASE(metadata_must_be_an_object),
             LR_CASE(getters_return_null_out_of_range_and_close_accepts_null))
