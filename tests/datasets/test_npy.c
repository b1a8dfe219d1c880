/* Tests for datasets/npy.c: .npy writing and header parsing, and float16 conversion. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lr_test.h"
#include "npy_fixture.h"
#include "lr_data.h"
#include "npy_internal.h"

/* ---- helpers --------------------------------------------------------------------------------- */

static float as_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static const float six[6] = {0.5f, -1.25f, 3.0f, 4.5f, -0.0f, 1e-3f};

/* Opens dir/name and checks it holds the 2 x 3 matrix `six`. */
static int holds_six(const char *dir, const char *name, lr_err *err) {
    char path[4200];
    lr_test_path(path, sizeof path, dir, name);
    lr_data_matrix *c = NULL;
    int rc = lr_data_matrix_open(path, 2, &c, err);
    if (rc) return rc;
    int same = lr_data_matrix_rows(c) == 2 && lr_data_matrix_dim(c) == 3 &&
               memcmp(lr_data_matrix_data(c), six, sizeof six) == 0;
    lr_data_matrix_free(c);
    if (!same) snprintf(err->msg, sizeof err->msg, "%s: opened, but not the 2 x 3 values", name);
    return same ? 0 : -100;
}

/* ---- round trips ----------------------------------------------------------------------------- */

LR_TEST(round_trip_f32_2d) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    float x[12];
    for (int i = 0; i < 12; i++) x[i] = (float)i * 0.731f - 3.3f;
    char path[4200];
    lr_test_path(path, sizeof path, dir, "a.npy");
    lr_err err = {0, ""};
    CHECK_OK(lr_data_npy_write(path, x, 3, 4, LR_NPY_F32, &err), err);
    lr_data_matrix *c = NULL;
    CHECK_OK(lr_data_matrix_open(path, 3, &c, &err), err);
    CHECK_EQ(lr_data_matrix_rows(c), 3);
    CHECK_EQ(lr_data_matrix_dim(c), 4);
    CHECK(memcmp(lr_data_matrix_data(c), x, sizeof x) == 0);
    lr_data_matrix_free(c);
    lr_test_rmdir(dir);
}

LR_TEST(round_trip_f16_2d_rounds_each_value_to_nearest_half) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    float x[20];
    for (int i = 0; i < 20; i++) x[i] = ((float)i - 9.5f) * 0.0173f * (float)(i + 1);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "a.npy");
    lr_err err = {0, ""};
    CHECK_OK(lr_data_npy_write(path, x, 4, 5, LR_NPY_F16, &err), err);
    lr_data_matrix *c = NULL;
    CHECK_OK(lr_data_matrix_open(path, 4, &c, &err), err);
    CHECK_EQ(lr_data_matrix_rows(c), 4);
    CHECK_EQ(lr_data_matrix_dim(c), 5);
    CHECK_STR_EQ(lr_data_matrix_source(c), "npy-f16");
    const float *y = lr_data_matrix_data(c);
    for (int i = 0; i < 20; i++) {
        CHECK(y[i] == lr_data_half_to_float(lr_data_float_to_half(x[i])));
        CHECK_NEAR(y[i], x[i], 1e-3 * fabs(x[i]));
    }
    lr_data_matrix_free(c);
    lr_test_rmdir(dir);
}

LR_TEST(round_trip_1d_f32_reads_as_one_row) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "v.npy");
    lr_err err = {0, ""};
    CHECK_OK(lr_data_npy_write(path, six, 6, 0, LR_NPY_F32, &err), err);
    unsigned char buf[256];
    /* 10 bytes of prefix, a 58-byte dict and '\n' pad to 128. */
    CHECK(lr_test_read_bytes(dir, "v.npy", buf, sizeof buf) == 128 + (long)sizeof six);
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }";
    CHECK(memcmp(buf + 10, dict, strlen(dict)) == 0);
    lr_data_matrix *c = NULL;
    CHECK_OK(lr_data_matrix_open(path, 0, &c, &err), err);
    CHECK_EQ(lr_data_matrix_rows(c), 1);
    CHECK_EQ(lr_data_matrix_dim(c), 6);
    CHECK(memcmp(lr_data_matrix_data(c), six, sizeof six) == 0);
    lr_data_matrix_free(c);
    lr_test_rmdir(dir);
}

LR_TEST(round_trip_1d_f16_reads_as_one_row) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "v.npy");
    lr_err err = {0, ""};
    CHECK_OK(lr_data_npy_write(path, six, 6, 0, LR_NPY_F16, &err), err);
    lr_data_matrix *c = NULL;
    CHECK_OK(lr_data_matrix_open(path, 1, &c, &err), err);
    CHECK_EQ(lr_data_matrix_rows(c), 1);
    CHECK_EQ(lr_data_matrix_dim(c), 6);
    const float *y = lr_data_matrix_data(c);
    for (int i = 0; i < 6; i++) CHECK(y[i] == lr_data_half_to_float(lr_data_float_to_half(six[i])));
    CHECK(signbit(y[4])); /* -0 stays -0 */
    lr_data_matrix_free(c);
    lr_test_rmdir(dir);
}

/* numpy must read what we write. */
LR_TEST(written_header_is_64_byte_aligned_and_numpy_readable) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "m.npy");
    lr_err err = {0, ""};
    CHECK_OK(lr_data_npy_write(path, six, 2, 3, LR_NPY_F32, &err), err);
    unsigned char buf[256];
    long n = lr_test_read_bytes(dir, "m.npy", buf, sizeof buf);
    CHECK(n > 10);
    CHECK(memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
    size_t hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    CHECK_EQ((10 + hlen) % 64, 0);
    CHECK_EQ(n, (long)(10 + hlen + sizeof six));
    CHECK_EQ(buf[10 + hlen - 1], '\n');
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    CHECK(memcmp(buf + 10, dict, strlen(dict)) == 0);
    for (size_t i = 10 + strlen(dict); i < 10 + hlen - 1; i++) CHECK_EQ(buf[i], ' ');
    /* No file left aside by the write. */
    char tmp[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);

    /* Debian's python3-numpy, installed by tools/install-deps.sh */
    char cmd[4600];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 -c \"import numpy; a=numpy.load('%s'); "
             "print(a.dtype, a.shape, a.tolist())\"", path);
    FILE *p = popen(cmd, "r");
    CHECK(p);
    char line[200] = "";
    if (!fgets(line, sizeof line, p)) line[0] = '\0';
    int status = pclose(p);
    CHECK_EQ(status, 0);
    CHECK_CONTAINS(line, "float32 (2, 3) [[0.5, -1.25, 3.0], "
                         "[4.5, -0.0, 0.0010000000474974513]]");
    lr_test_rmdir(dir);
}

/* ---- writing refusals ------------------------------------------------------------------------ */

LR_TEST(f16_overflow_refused_naming_row_and_column) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "big.npy");
    float x[6] = {1, 2, 3, 4, 5, 65505.0f};
    lr_err err = {0, ""};
    CHECK_ERR(lr_data_npy_write(path, x, 2, 3, LR_NPY_F16, &err), err, LR_ERANGE,
              "row 1, column 2 is 65505");
    CHECK_CONTAINS(err.msg, "big.npy");
    CHECK(access(path, F_OK) != 0);
    x[5] = -65504.0f; /* the largest half is fine */
    CHECK_OK(lr_data_npy_write(path, x, 2, 3, LR_NPY_F16, &err), err);
    lr_test_rmdir(dir);
}

LR_TEST(nan_or_inf_input_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "bad.npy");
    float x[4] = {1, NAN, 3, 4};
    lr_err err = {0, ""};
    CHECK_ERR(lr_data_npy_write(path, x, 2, 2, LR_NPY_F32, &err), err, LR_EINVAL,
              "row 0, column 1 is NaN");
    x[1] = 0;
    x[3] = -INFINITY;
    CHECK_ERR(lr_data_npy_write(path, x, 4, 0, LR_NPY_F32, &err), err, LR_EINVAL,
              "element 3 is -Inf");
    CHECK(access(path, F_OK) != 0);
    lr_test_rmdir(dir);
}

/* Every position of a row (the eight lanes and the tail), each kind of non-finite value; the
 * finite extremes pass. */
LR_TEST(check_finite_finds_every_kind_at_every_place) {
    float x[37];
    const float bad[4] = {INFINITY, -INFINITY, NAN, -NAN};
    lr_err err = {0, ""};
    for (int i = 0; i < 37; i++) x[i] = i % 2 ? FLT_MAX : -FLT_MIN / 4; /* largest, and a denormal */
    CHECK_OK(lr_data_check_finite(x, 1, 37, LR_EINVAL, "x", &err), err);
    for (int at = 0; at < 37; at++)
        for (int b = 0; b < 4; b++) {
            float keep = x[at];
            x[at] = bad[b];
            char want[64];
            snprintf(want, sizeof want, "row 0, column %d is %s", at, b < 2 ? (b ? "-Inf" : "Inf") : "NaN");
            CHECK_ERR(lr_data_check_finite(x, 1, 37, LR_EINVAL, "x", &err), err, LR_EINVAL, want);
            x[at] = keep;
        }
}

LR_TEST(write_into_missing_directory_is_an_io_error) {
    lr_err err = {0, ""};
    CHECK_ERR(lr_data_npy_write("/nonexistent-learnrec-dir/a.npy", six, 2, 3, LR_NPY_F32, &err),
              err, LR_EIO, "/nonexistent-learnrec-dir/a.npy.tmp.");
}

/* ---- float16 conversion ---------------------------------------------------------------------- */

LR_TEST(half_special_values) {
    CHECK_EQ(lr_data_float_to_half(0.0f), 0x0000);
    CHECK_EQ(lr_data_float_to_half(-0.0f), 0x8000);
    CHECK_EQ(lr_data_float_to_half(1.0f), 0x3c00);
    CHECK_EQ(lr_data_float_to_half(-2.0f), 0xc000);
    CHECK_EQ(lr_data_float_to_half(65504.0f), 0x7bff);
    CHECK_EQ(lr_data_float_to_half(INFINITY), 0x7c00);
    CHECK_EQ(lr_data_float_to_half(-INFINITY), 0xfc00);
    uint16_t n = lr_data_float_to_half(NAN);
    CHECK_EQ(n & 0x7c00, 0x7c00);
    CHECK(n & 0x3ff);
    CHECK(lr_data_half_to_float(0x0000) == 0.0f && !signbit(lr_data_half_to_float(0x0000)));
    CHECK(lr_data_half_to_float(0x8000) == 0.0f && signbit(lr_data_half_to_float(0x8000)));
    CHECK(lr_data_half_to_float(0x3c00) == 1.0f);
    CHECK(lr_data_half_to_float(0x7bff) == 65504.0f);
    CHECK(isinf(lr_data_half_to_float(0x7c00)) && lr_data_half_to_float(0x7c00) > 0);
    CHECK(isinf(lr_data_half_to_float(0xfc00)) && lr_data_half_to_float(0xfc00) < 0);
    CHECK(isnan(lr_data_half_to_float(0x7e00)));
    CHECK(isnan(lr_data_half_to_float(0x7c01))); /* a signalling NaN is still NaN */
    /* A NaN whose payload sits only in the low float bits must not become Inf. */
    CHECK_EQ(lr_data_float_to_half(as_float(0x7f800001u)) & 0x3ff, 0x200);
}

LR_TEST(half_subnormals_and_the_normal_boundary) {
    CHECK(lr_data_half_to_float(0x0400) == ldexpf(1.0f, -14)); /* 6.1035e-5: smallest normal */
    CHECK_EQ(lr_data_float_to_half(6.103515625e-05f), 0x0400);
    CHECK(lr_data_half_to_float(0x03ff) == 1023.0f * ldexpf(1.0f, -24)); /* largest subnormal */
    CHECK_EQ(lr_data_float_to_half(1023.0f * ldexpf(1.0f, -24)), 0x03ff);
    CHECK(lr_data_half_to_float(0x0001) == ldexpf(1.0f, -24)); /* smallest subnormal */
    CHECK_EQ(lr_data_float_to_half(ldexpf(1.0f, -24)), 0x0001);
    CHECK_EQ(lr_data_float_to_half(-ldexpf(1.0f, -24)), 0x8001);
    /* Between the largest subnormal and 2^-14 the halfway point rounds up to the normal. */
    CHECK_EQ(lr_data_float_to_half(1023.5f * ldexpf(1.0f, -24)), 0x0400);
    CHECK_EQ(lr_data_float_to_half(ldexpf(1.0f, -26)), 0x0000);
    CHECK_EQ(lr_data_float_to_half(1e-30f), 0x0000);
    CHECK_EQ(lr_data_float_to_half(as_float(0x00000001u)), 0x0000); /* a float subnormal */
}

LR_TEST(half_rounds_ties_to_even) {
    float ulp = ldexpf(1.0f, -10); /* the spacing of halves in [1, 2) */
    CHECK_EQ(lr_data_float_to_half(1.0f + ulp / 2), 0x3c00);         /* tie, 0x3c00 even: down */
    CHECK_EQ(lr_data_float_to_half(1.0f + 3 * ulp / 2), 0x3c02);     /* tie, 0x3c01 odd: up */
    CHECK_EQ(lr_data_float_to_half(1.0f + ulp / 2 + 1e-7f), 0x3c01); /* above the tie: up */
    CHECK_EQ(lr_data_float_to_half(1.0f + ulp / 2 - 1e-7f), 0x3c00);
    CHECK_EQ(lr_data_float_to_half(ldexpf(1.0f, -25)), 0x0000);        /* subnormal tie to 0 */
    CHECK_EQ(lr_data_float_to_half(3.0f * ldexpf(1.0f, -25)), 0x0002); /* tie between 1 and 2 */
    CHECK_EQ(lr_data_float_to_half(2048.0f + 1.0f), 0x6800);           /* 2049: tie to 2048 */
    CHECK_EQ(lr_data_float_to_half(65519.0f), 0x7bff);
    CHECK_EQ(lr_data_float_to_half(65520.0f), 0x7c00); /* tie between 65504 and 65536: Inf */
    CHECK_EQ(lr_data_float_to_half(2.0f - ldexpf(1.0f, -12)), 0x4000); /* mantissa carry */
}

LR_TEST(half_round_trips_every_value) {
    for (uint32_t h = 0; h <= 0xffff; h++) {
        float f = lr_data_half_to_float((uint16_t)h);
        if (isnan(f)) continue;
        if (lr_data_float_to_half(f) != h) LR_FAIL_("0x%04x -> %g -> 0x%04x", (unsigned)h, (double)f,
                                               (unsigned)lr_data_float_to_half(f));
    }
}

/* ---- headers in numpy's own variants --------------------------------------------------------- */

LR_TEST(header_with_double_quotes_accepted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "a.npy", 1, "{\"descr\": \"<f4\", \"fortran_order\": False, "
                    "\"shape\": (2, 3), }", 64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_OK(holds_six(dir, "a.npy", &err), err);
    lr_test_rmdir(dir);
}

LR_TEST(header_with_keys_in_another_order_accepted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "a.npy", 1, "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}",
                    64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_OK(holds_six(dir, "a.npy", &err), err);
    lr_test_rmdir(dir);
}

LR_TEST(header_version_2_accepted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "a.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                    64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_OK(holds_six(dir, "a.npy", &err), err);
    lr_test_rmdir(dir);
}

LR_TEST(header_version_3_accepted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "a.npy", 3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                    64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_OK(holds_six(dir, "a.npy", &err), err);
    lr_test_rmdir(dir);
}

LR_TEST(header_without_trailing_comma_accepted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "a.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
                    64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_OK(holds_six(dir, "a.npy", &err), err);
    lr_test_rmdir(dir);
}

LR_TEST(header_padded_to_16_bytes_by_old_writers_accepted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "a.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                    16, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_OK(holds_six(dir, "a.npy", &err), err);
    lr_test_rmdir(dir);
}

LR_TEST(header_with_python2_long_sizes_accepted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "a.npy", 1, "{'descr': '<f4', 'fortran_order': False, "
                    "'shape': (2L, 3L), }", 64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_OK(holds_six(dir, "a.npy", &err), err);
    lr_test_rmdir(dir);
}

LR_TEST(header_with_odd_whitespace_accepted) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "a.npy", 1, "  {\n 'descr' :'<f4' ,\t'fortran_order':False,'shape':( 2 ,3 "
                    ",) , }", 64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_OK(holds_six(dir, "a.npy", &err), err);
    lr_test_rmdir(dir);
}

/* ---- the parser on its own ------------------------------------------------------------------- */

/* Builds a 1.0 header around `dict` (64-byte aligned) and parses it. */
static int parse(const char *dict, lr_npy_info *info, lr_err *err) {
    unsigned char buf[512];
    size_t dlen = strlen(dict);
    size_t total = (10 + dlen + 1 + 63) / 64 * 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(total - 10);
    buf[9] = 0;
    memcpy(buf + 10, dict, dlen);
    memset(buf + 10 + dlen, ' ', total - 10 - dlen - 1);
    buf[total - 1] = '\n';
    return lr_data_npy_parse_header(buf, total, info, "h.npy", err);
}

LR_TEST(parse_reports_shape_dtype_and_offset) {
    lr_npy_info info;
    lr_err err = {0, ""};
    CHECK_OK(parse("{'descr': '<f2', 'fortran_order': False, 'shape': (4385, 1024), }", &info,
                   &err), err);
    CHECK_EQ(info.dtype, LR_NPY_F16);
    CHECK_EQ(info.itemsize, 2);
    CHECK_EQ(info.version, 1);
    CHECK_EQ(info.ndim, 2);
    CHECK_EQ(info.shape[0], 4385);
    CHECK_EQ(info.shape[1], 1024);
    CHECK_EQ(info.count, 4385 * 1024);
    CHECK_EQ(info.data_bytes, 4385 * 1024 * 2);
    CHECK_EQ(info.data_offset, 128);
    char s[64];
    CHECK_STR_EQ(lr_data_npy_shape_str(&info, s, sizeof s), "(4385, 1024)");
    CHECK_OK(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", &info, &err), err);
    CHECK_EQ(info.ndim, 0);
    CHECK_EQ(info.count, 1);
    CHECK_STR_EQ(lr_data_npy_shape_str(&info, s, sizeof s), "()");
}

LR_TEST(parse_refuses_shape_that_is_not_a_tuple) {
    lr_npy_info info;
    lr_err err = {0, ""};
    CHECK_ERR(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (7)}", &info, &err), err,
              LR_EFORMAT, "'shape' (7) is not a tuple: expected (7,)");
    CHECK_ERR(parse("{'descr': '<f4', 'fortran_order': False, 'shape': 7}", &info, &err), err,
              LR_EFORMAT, "'shape' must be a tuple");
    CHECK_ERR(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", &info, &err), err,
              LR_EFORMAT, "expected a non-negative integer");
}

LR_TEST(parse_refuses_unknown_and_repeated_keys) {
    lr_npy_info info;
    lr_err err = {0, ""};
    CHECK_ERR(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (7,), 'x': 1}", &info, &err),
              err, LR_EFORMAT, "h.npy: malformed .npy header: unexpected key 'x'");
    CHECK_ERR(parse("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (7,)}",
                    &info, &err), err, LR_EFORMAT, "key 'descr' appears twice");
}

LR_TEST(parse_refuses_fortran_order_value_other_than_bool) {
    lr_npy_info info;
    lr_err err = {0, ""};
    CHECK_ERR(parse("{'descr': '<f4', 'fortran_order': 0, 'shape': (7,)}", &info, &err), err,
              LR_EFORMAT, "'fortran_order' must be True or False");
}

LR_TEST(parse_refuses_text_after_the_dict) {
    lr_npy_info info;
    lr_err err = {0, ""};
    CHECK_ERR(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (7,)} x", &info, &err), err,
              LR_EFORMAT, "unexpected text after the dict");
}

LR_TEST(parse_refuses_unknown_format_version) {
    unsigned char buf[64];
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "\x93NUMPY\x04\x00\x36\x00", 10);
    lr_npy_info info;
    lr_err err = {0, ""};
    CHECK_ERR(lr_data_npy_parse_header(buf, sizeof buf, &info, "h.npy", &err), err, LR_EUNSUPPORTED,
              "h.npy: .npy format version 4.0 is not supported");
}

LR_TEST(parse_refuses_a_shape_too_large_for_memory) {
    lr_npy_info info;
    lr_err err = {0, ""};
    CHECK_ERR(parse("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}",
                    &info, &err), err, LR_EFORMAT, "shape (4294967296, 4294967296) is too large");
}

/* ---- float16 kept mapped (the re-scoring vectors of a float16 version) ------------------------- */

/* A 37 x 77 float16 file at path, in a fresh directory (returned; the caller removes it): rows of
 * four 16-value blocks, one 8-value block and a tail of 5. */
static char *f16_fixture(char path[4200], lr_err *err, int *rc) {
    static float x[37 * 77];
    char *dir = lr_test_tmpdir();
    *rc = -1;
    if (!dir) return NULL;
    lr_test_path(path, 4200, dir, "h.npy");
    for (size_t i = 0; i < 37 * 77; i++) x[i] = sinf((float)i * 0.61f) * (1.0f + (float)(i % 7));
    *rc = lr_data_npy_write(path, x, 37, 77, LR_NPY_F16, err);
    return dir;
}

LR_TEST(kept_f16_stays_mapped_and_reads_as_the_widened_values) {
    char path[4200];
    lr_err err = {0, ""};
    int rc;
    char *dir = f16_fixture(path, &err, &rc);
    CHECK(dir);
    CHECK_OK(rc, err);
    lr_data_matrix *wide = NULL, *kept = NULL;
    CHECK_OK(lr_data_matrix_open(path, 37, &wide, &err), err);
    CHECK_OK(lr_data_matrix_open_ex(path, 37, LR_DATA_MATRIX_KEEP_F16, &kept, &err), err);
    CHECK_STR_EQ(lr_data_matrix_source(kept), "npy-f16 (mapped)");
    CHECK(lr_data_matrix_data(kept) == NULL);
    CHECK(lr_data_matrix_half(kept) != NULL);
    CHECK(lr_data_matrix_half(wide) == NULL);
    CHECK_EQ(lr_data_matrix_rows(kept), 37);
    CHECK_EQ(lr_data_matrix_dim(kept), 77);
    float row[77], q[77];
    for (size_t j = 0; j < 77; j++) q[j] = cosf((float)j * 0.3f);
    for (size_t i = 0; i < 37; i++) {
        lr_data_matrix_row(kept, i, row);
        CHECK(memcmp(row, lr_data_matrix_data(wide) + i * 77, sizeof row) == 0);
        double want = 0;
        for (size_t j = 0; j < 77; j++) want += (double)q[j] * row[j];
        CHECK_NEAR(lr_data_half_dot(q, lr_data_matrix_half(kept) + i * 77, 77), want, 1e-5 * (1 + fabs(want)));
    }
    uint64_t hk[37], hw[37];
    lr_data_matrix_row_hashes(kept, hk);
    lr_data_matrix_row_hashes(wide, hw);
    CHECK(memcmp(hk, hw, sizeof hk) == 0); /* a rebuild sees the same content either way */
    char dk[LR_DATA_DIGEST_LEN], dw[LR_DATA_DIGEST_LEN];
    CHECK_OK(lr_data_matrix_digest(kept, dk), err);
    CHECK_OK(lr_data_matrix_digest(wide, dw), err);
    CHECK_STR_EQ(dk, dw);
    lr_data_matrix_free(kept);
    lr_data_matrix_free(wide);
    lr_test_rmdir(dir);
}

LR_TEST(kept_f16_refuses_nan_and_inf_naming_row_and_column) {
    char path[4200];
    lr_err err = {0, ""};
    int rc;
    char *dir = f16_fixture(path, &err, &rc);
    CHECK(dir);
    CHECK_OK(rc, err);
    const uint16_t bad[2] = {0x7e00, 0xfc00}; /* NaN, -Inf */
    const char *says[2] = {"row 2, column 3 is NaN", "row 2, column 3 is -Inf"};
    for (int b = 0; b < 2; b++) {
        FILE *f = fopen(path, "r+b");
        CHECK(f);
        unsigned char head[4096];
        size_t got = f ? fread(head, 1, sizeof head, f) : 0;
        lr_npy_info info;
        CHECK_OK(lr_data_npy_parse_header(head, got, &info, "h.npy", &err), err);
        unsigned char le[2] = {(unsigned char)(bad[b] & 0xff), (unsigned char)(bad[b] >> 8)};
        CHECK(f && fseek(f, (long)(info.data_offset + 2 * (2 * 77 + 3)), SEEK_SET) == 0);
        CHECK(f && fwrite(le, 1, 2, f) == 2);
        if (f) fclose(f);
        lr_data_matrix *m = NULL;
        CHECK_ERR(lr_data_matrix_open_ex(path, 0, LR_DATA_MATRIX_KEEP_F16, &m, &err), err, LR_EFORMAT, says[b]);
        CHECK_CONTAINS(err.msg, "h.npy");
        CHECK(m == NULL);
    }
    lr_test_rmdir(dir);
}

LR_TEST(keep_f16_leaves_float32_files_mapped_as_float32) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "a.npy");
    lr_err err = {0, ""};
    CHECK_OK(lr_data_npy_write(path, six, 2, 3, LR_NPY_F32, &err), err);
    lr_data_matrix *m = NULL;
    CHECK_OK(lr_data_matrix_open_ex(path, 2, LR_DATA_MATRIX_KEEP_F16, &m, &err), err);
    CHECK_STR_EQ(lr_data_matrix_source(m), "npy-f32 (mapped)");
    CHECK(lr_data_matrix_half(m) == NULL);
    CHECK(memcmp(lr_data_matrix_data(m), six, sizeof six) == 0);
    lr_data_matrix_free(m);
    lr_test_rmdir(dir);
}

LR_TEST_MAIN(LR_CASE(round_trip_f32_2d),
             LR_CASE(round_trip_f16_2d_rounds_each_value_to_nearest_half),
             LR_CASE(round_trip_1d_f32_reads_as_one_row),
             LR_CASE(round_trip_1d_f16_reads_as_one_row),
             LR_CASE(written_header_is_64_byte_aligned_and_numpy_readable),
             LR_CASE(f16_overflow_refused_naming_row_and_column),
             LR_CASE(nan_or_inf_input_refused), LR_CASE(check_finite_finds_every_kind_at_every_place),
             LR_CASE(write_into_missing_directory_is_an_io_error),
             LR_CASE(half_special_values),
             LR_CASE(half_subnormals_and_the_normal_boundary),
             LR_CASE(half_rounds_ties_to_even),
             LR_CASE(half_round_trips_every_value),
             LR_CASE(header_with_double_quotes_accepted),
             LR_CASE(header_with_keys_in_another_order_accepted),
             LR_CASE(header_version_2_accepted),
             LR_CASE(header_version_3_accepted),
             LR_CASE(header_without_trailing_comma_accepted),
             LR_CASE(header_padded_to_16_bytes_by_old_writers_accepted),
             LR_CASE(header_with_python2_long_sizes_accepted),
             LR_CASE(header_with_odd_whitespace_accepted),
             LR_CASE(parse_reports_shape_dtype_and_offset),
             LR_CASE(parse_refuses_shape_that_is_not_a_tuple),
             LR_CASE(parse_refuses_unknown_and_repeated_keys),
             LR_CASE(parse_refuses_fortran_order_value_other_than_bool),
             LR_CASE(parse_refuses_text_after_the_dict),
             LR_CASE(parse_refuses_unknown_format_version),
             LR_CASE(parse_refuses_a_shape_too_large_for_memory),
             LR_CASE(kept_f16_stays_mapped_and_reads_as_the_widened_values),
             LR_CASE(kept_f16_refuses_nan_and_inf_naming_row_and_column),
             LR_CASE(keep_f16_leaves_float32_files_mapped_as_float32))
