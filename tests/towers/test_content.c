/* Tests for towers/content.c: opening content matrices from .npy and .fvecs, and their refusals. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lr_test.h"
#include "datasets/npy_fixture.h"
#include "lr_towers.h"
#include "npy_internal.h"

/* ---- helpers --------------------------------------------------------------------------------- */

/* Writes an .fvecs file of `rows` rows; ds[r] is row r's d, its values r*10 + j. */
static int write_fvecs(const char *dir, const char *name, size_t rows, const int32_t *ds) {
    unsigned char buf[1024];
    size_t n = 0;
    for (size_t r = 0; r < rows; r++) {
        memcpy(buf + n, &ds[r], 4);
        n += 4;
        for (int32_t j = 0; j < ds[r]; j++, n += 4) {
            float v = (float)r * 10.0f + (float)j;
            memcpy(buf + n, &v, 4);
        }
    }
    return lr_test_put_bytes(dir, name, buf, n, 0);
}

/* Opens dir/name and frees it again; on failure also checks that *out was reset to NULL. */
static int try_open(const char *dir, const char *name, size_t expect_rows, lr_err *err) {
    char path[4200];
    lr_test_path(path, sizeof path, dir, name);
    lr_content *c = (lr_content *)(void *)err; /* not NULL: a failed open must reset it */
    int rc = lr_data_matrix_open(path, expect_rows, &c, err);
    if (rc && c) {
        snprintf(err->msg, sizeof err->msg, "open failed with %d but left *out set", rc);
        return -1000;
    }
    lr_data_matrix_free(c);
    return rc;
}

static const float six[6] = {0.5f, -1.25f, 3.0f, 4.5f, -0.0f, 1e-3f};
static const char *dict23 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

/* ---- opening ------------------------------------------------------------------------------- */

LR_TEST(opens_f32_npy_mapped) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "content.npy");
    lr_err err = {0, ""};
    CHECK_OK(lr_data_npy_write(path, six, 2, 3, LR_NPY_F32, &err), err);
    lr_content *c = NULL;
    CHECK_OK(lr_data_matrix_open(path, 2, &c, &err), err);
    CHECK_STR_EQ(lr_data_matrix_source(c), "npy-f32 (mapped)");
    CHECK_EQ(lr_data_matrix_rows(c), 2);
    CHECK_EQ(lr_data_matrix_dim(c), 3);
    CHECK(memcmp(lr_data_matrix_data(c), six, sizeof six) == 0);
    lr_data_matrix_free(c);
    lr_test_rmdir(dir);
}

LR_TEST(opens_f16_npy_decoded) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    uint16_t h[6] = {0x3800, 0xbd00, 0x4200, 0x4480, 0x8000, 0x0001}; /* .5 -1.25 3 4.5 -0 2^-24 */
    CHECK(lr_test_write_npy(dir, "content.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': "
                    "(2, 3), }", 64, h, sizeof h) == 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "content.npy");
    lr_err err = {0, ""};
    lr_content *c = NULL;
    CHECK_OK(lr_data_matrix_open(path, 0, &c, &err), err);
    CHECK_STR_EQ(lr_data_matrix_source(c), "npy-f16");
    CHECK_EQ(lr_data_matrix_rows(c), 2);
    CHECK_EQ(lr_data_matrix_dim(c), 3);
    const float *y = lr_data_matrix_data(c);
    const float want[6] = {0.5f, -1.25f, 3.0f, 4.5f, -0.0f, ldexpf(1.0f, -24)};
    for (int i = 0; i < 6; i++) CHECK(y[i] == want[i]);
    CHECK(signbit(y[4]));
    lr_data_matrix_free(c);
    lr_test_rmdir(dir);
}

LR_TEST(opens_fvecs_by_content_not_name) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int32_t ds[3] = {2, 2, 2};
    CHECK(write_fvecs(dir, "content.npy", 3, ds) == 0); /* the name says .npy; the bytes don't */
    char path[4200];
    lr_test_path(path, sizeof path, dir, "content.npy");
    lr_err err = {0, ""};
    lr_content *c = NULL;
    CHECK_OK(lr_data_matrix_open(path, 3, &c, &err), err);
    CHECK_STR_EQ(lr_data_matrix_source(c), "fvecs");
    CHECK_EQ(lr_data_matrix_rows(c), 3);
    CHECK_EQ(lr_data_matrix_dim(c), 2);
    const float *y = lr_data_matrix_data(c);
    const float want[6] = {0, 1, 10, 11, 20, 21};
    CHECK(memcmp(y, want, sizeof want) == 0);
    lr_data_matrix_free(c);
    lr_test_rmdir(dir);
}

LR_TEST(f32_after_an_unaligned_header_is_copied) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char dict[128];
    snprintf(dict, sizeof dict, "%s", dict23);
    while ((10 + strlen(dict) + 1) % 4 == 0) strcat(dict, " ");
    CHECK(lr_test_write_npy(dir, "content.npy", 1, dict, 1, six, sizeof six) == 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "content.npy");
    lr_err err = {0, ""};
    lr_content *c = NULL;
    CHECK_OK(lr_data_matrix_open(path, 2, &c, &err), err);
    CHECK_STR_EQ(lr_data_matrix_source(c), "npy-f32 (copied)");
    CHECK(memcmp(lr_data_matrix_data(c), six, sizeof six) == 0);
    lr_data_matrix_free(c);
    lr_test_rmdir(dir);
}

/* ---- refusals -------------------------------------------------------------------------------- */

LR_TEST(row_count_other_than_the_item_count_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "content.npy", 1, dict23, 64, six, sizeof six) == 0);
    int32_t ds[3] = {2, 2, 2};
    CHECK(write_fvecs(dir, "content.fvecs", 3, ds) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 5, &err), err, LR_EMISMATCH,
              "content.npy: 2 rows, but the dataset has 5 items (row i must be item i)");
    CHECK_ERR(try_open(dir, "content.fvecs", 4, &err), err, LR_EMISMATCH,
              "content.fvecs: 3 rows, but the dataset has 4 items");
    lr_test_rmdir(dir);
}

LR_TEST(dtype_f8_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    double x[6] = {0};
    CHECK(lr_test_write_npy(dir, "items.npy", 1, "{'descr': '<f8', 'fortran_order': False, 'shape': "
                    "(2, 3), }", 64, x, sizeof x) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "items.npy", 0, &err), err, LR_EUNSUPPORTED,
              "items.npy: dtype '<f8' is not supported: expected float32 ('<f4') or float16 "
              "('<f2')");
    lr_test_rmdir(dir);
}

LR_TEST(dtype_big_endian_f4_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "items.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': "
                    "(2, 3), }", 64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "items.npy", 0, &err), err, LR_EUNSUPPORTED,
              "items.npy: dtype '>f4' is not supported");
    lr_test_rmdir(dir);
}

LR_TEST(dtype_i4_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int32_t x[6] = {0};
    CHECK(lr_test_write_npy(dir, "items.npy", 1, "{'descr': '<i4', 'fortran_order': False, 'shape': "
                    "(2, 3), }", 64, x, sizeof x) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "items.npy", 0, &err), err, LR_EUNSUPPORTED,
              "items.npy: dtype '<i4' is not supported");
    lr_test_rmdir(dir);
}

LR_TEST(fortran_order_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "content.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': "
                    "(2, 3), }", 64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EUNSUPPORTED,
              "content.npy: the array is in Fortran order; save it with np.save(path, "
              "np.ascontiguousarray(a))");
    lr_test_rmdir(dir);
}

LR_TEST(truncated_data_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "content.npy", 1, dict23, 64, six, sizeof six - 4) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: truncated: expected 24 bytes of data, found 20");
    lr_test_rmdir(dir);
}

LR_TEST(bytes_after_the_data_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "content.npy", 1, dict23, 64, six, sizeof six) == 0);
    CHECK(lr_test_put_bytes(dir, "content.npy", "extra", 5, 1) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: 5 bytes after the data");
    lr_test_rmdir(dir);
}

LR_TEST(bad_magic_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    unsigned char buf[128];
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "\x93NUMPZ\x01\x00\x76\x00", 10);
    CHECK(lr_test_put_bytes(dir, "content.npy", buf, sizeof buf, 0) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: neither a .npy file (expected the magic \\x93NUMPY) nor an .fvecs "
              "file");
    lr_test_rmdir(dir);
}

LR_TEST(header_length_past_the_file_end_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    unsigned char buf[64];
    memset(buf, ' ', sizeof buf);
    memcpy(buf, "\x93NUMPY\x01\x00\xe8\x03", 10); /* 1000 bytes of header in a 64-byte file */
    CHECK(lr_test_put_bytes(dir, "content.npy", buf, sizeof buf, 0) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: .npy header length 1000 runs past the end of the file (64 bytes)");
    lr_test_rmdir(dir);
}

LR_TEST(header_without_shape_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "content.npy", 1, "{'descr': '<f4', 'fortran_order': False, }", 64, six,
                    sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: malformed .npy header: the dict has no 'shape'");
    lr_test_rmdir(dir);
}

LR_TEST(shape_with_three_dimensions_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "content.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(2, 3, 1), }", 64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: shape (2, 3, 1) has 3 dimensions: expected a matrix (N, D) or one "
              "row (D,)");
    lr_test_rmdir(dir);
}

LR_TEST(shape_with_zero_dimensions_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "content.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(), }", 64, six, 4) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: shape () has 0 dimensions");
    lr_test_rmdir(dir);
}

LR_TEST(empty_shapes_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "rows.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(0, 3), }", 64, NULL, 0) == 0);
    CHECK(lr_test_write_npy(dir, "dim.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(3, 0), }", 64, NULL, 0) == 0);
    CHECK(lr_test_write_npy(dir, "vec.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(0,), }", 64, NULL, 0) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "rows.npy", 0, &err), err, LR_EFORMAT,
              "rows.npy: shape (0, 3) has no rows");
    CHECK_ERR(try_open(dir, "dim.npy", 0, &err), err, LR_EFORMAT,
              "dim.npy: shape (3, 0) has rows of 0 values");
    CHECK_ERR(try_open(dir, "vec.npy", 0, &err), err, LR_EFORMAT,
              "vec.npy: shape (0,) has rows of 0 values");
    lr_test_rmdir(dir);
}

LR_TEST(unterminated_dict_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_write_npy(dir, "content.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': "
                    "(2, 3), ", 64, six, sizeof six) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: malformed .npy header: unterminated dict");
    lr_test_rmdir(dir);
}

LR_TEST(nan_value_refused_naming_row_and_column) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    float x[6];
    memcpy(x, six, sizeof x);
    x[5] = NAN;
    CHECK(lr_test_write_npy(dir, "content.npy", 1, dict23, 64, x, sizeof x) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: row 1, column 2 is NaN");
    lr_test_rmdir(dir);
}

LR_TEST(inf_value_refused_naming_row_and_column) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    float x[6];
    memcpy(x, six, sizeof x);
    x[1] = INFINITY;
    CHECK(lr_test_write_npy(dir, "content.npy", 1, dict23, 64, x, sizeof x) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: row 0, column 1 is Inf");
    lr_test_rmdir(dir);
}

LR_TEST(negative_inf_in_f16_refused_naming_row_and_column) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    uint16_t h[6] = {0x3c00, 0x3c00, 0x3c00, 0x3c00, 0xfc00, 0x3c00}; /* -Inf at row 1, column 1 */
    CHECK(lr_test_write_npy(dir, "content.npy", 1, "{'descr': '<f2', 'fortran_order': False, 'shape': "
                    "(2, 3), }", 64, h, sizeof h) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: row 1, column 1 is -Inf");
    lr_test_rmdir(dir);
}

LR_TEST(fvecs_with_inconsistent_d_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int32_t ds[3] = {2, 3, 2};
    CHECK(write_fvecs(dir, "content.fvecs", 3, ds) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.fvecs", 0, &err), err, LR_EFORMAT,
              "content.fvecs: .fvecs row 1 has d = 3, but row 0 has d = 2");
    lr_test_rmdir(dir);
}

LR_TEST(fvecs_truncated_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    int32_t ds[2] = {4, 4};
    CHECK(write_fvecs(dir, "content.fvecs", 2, ds) == 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "content.fvecs");
    CHECK(truncate(path, 2 * 20 - 6) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.fvecs", 0, &err), err, LR_EFORMAT,
              "content.fvecs: truncated .fvecs: row 1 has 14 of its 20 bytes");
    CHECK(truncate(path, 20 + 2) == 0); /* cut inside row 1's d */
    CHECK_ERR(try_open(dir, "content.fvecs", 0, &err), err, LR_EFORMAT,
              "content.fvecs: truncated .fvecs: row 1 has only 2 of the 4 bytes of its d");
    lr_test_rmdir(dir);
}

LR_TEST(empty_file_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    CHECK(lr_test_put_bytes(dir, "content.npy", "", 0, 0) == 0);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "content.npy", 0, &err), err, LR_EFORMAT,
              "content.npy: the file is empty");
    lr_test_rmdir(dir);
}

LR_TEST(missing_file_refused_naming_the_path) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[160]; /* short enough for the harness's failure message */
    lr_test_path(path, sizeof path, dir, "nowhere.npy");
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, "nowhere.npy", 0, &err), err, LR_ENOTFOUND, path);
    CHECK_CONTAINS(err.msg, "cannot open");
    lr_test_rmdir(dir);
}

LR_TEST(directory_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0, ""};
    CHECK_ERR(try_open(dir, ".", 0, &err), err, LR_EIO, "not a regular file");
    lr_test_rmdir(dir);
}

/* ---- in memory ------------------------------------------------------------------------------- */

LR_TEST(l2_normalize_rows_makes_unit_rows_and_keeps_zero_rows) {
    float x[9] = {3, 4, 0, 0, 0, 0, 1e-30f, 0, 1e-30f};
    lr_data_l2_normalize_rows(x, 3, 3);
    CHECK_NEAR(x[0], 0.6, 1e-7);
    CHECK_NEAR(x[1], 0.8, 1e-7);
    CHECK(x[2] == 0.0f);
    for (int j = 3; j < 6; j++) CHECK(x[j] == 0.0f);
    /* 1e-30 squared underflows in float; the double sum still gives 1/sqrt(2). */
    CHECK_NEAR(x[6], sqrt(0.5), 1e-7);
    CHECK_NEAR(x[8], sqrt(0.5), 1e-7);
}

LR_TEST(from_floats_keeps_its_own_copy) {
    float x[6];
    memcpy(x, six, sizeof x);
    lr_err err = {0, ""};
    lr_content *c = NULL;
    CHECK_OK(lr_data_matrix_from_floats(x, 3, 2, &c, &err), err);
    x[0] = 99.0f;
    CHECK_STR_EQ(lr_data_matrix_source(c), "memory");
    CHECK_EQ(lr_data_matrix_rows(c), 3);
    CHECK_EQ(lr_data_matrix_dim(c), 2);
    CHECK(lr_data_matrix_data(c) != x);
    CHECK(memcmp(lr_data_matrix_data(c), six, sizeof six) == 0);
    lr_data_matrix_free(c);
}

LR_TEST(from_floats_refuses_empty_and_non_finite_input) {
    float x[4] = {1, 2, NAN, 4};
    lr_err err = {0, ""};
    lr_content *c = (lr_content *)(void *)&err;
    CHECK_ERR(lr_data_matrix_from_floats(x, 2, 2, &c, &err), err, LR_EINVAL,
              "row 1, column 0 is NaN");
    CHECK(c == NULL);
    CHECK_ERR(lr_data_matrix_from_floats(x, 0, 2, &c, &err), err, LR_EINVAL, "empty");
}

LR_TEST(free_null_does_nothing) { lr_data_matrix_free(NULL); }

LR_TEST_MAIN(LR_CASE(opens_f32_npy_mapped),
             LR_CASE(opens_f16_npy_decoded),
             LR_CASE(opens_fvecs_by_content_not_name),
             LR_CASE(f32_after_an_unaligned_header_is_copied),
             LR_CASE(row_count_other_than_the_item_count_refused),
             LR_CASE(dtype_f8_refused),
             LR_CASE(dtype_big_endian_f4_refused),
             LR_CASE(dtype_i4_refused),
             LR_CASE(fortran_order_refused),
             LR_CASE(truncated_data_refused),
             LR_CASE(bytes_after_the_data_refused),
             LR_CASE(bad_magic_refused),
             LR_CASE(header_length_past_the_file_end_refused),
             LR_CASE(header_without_shape_refused),
             LR_CASE(shape_with_three_dimensions_refused),
             LR_CASE(shape_with_zero_dimensions_refused),
             LR_CASE(empty_shapes_refused),
             LR_CASE(unterminated_dict_refused),
             LR_CASE(nan_value_refused_naming_row_and_column),
             LR_CASE(inf_value_refused_naming_row_and_column),
             LR_CASE(negative_inf_in_f16_refused_naming_row_and_column),
             LR_CASE(fvecs_with_inconsistent_d_refused),
             LR_CASE(fvecs_truncated_refused),
             LR_CASE(empty_file_refused),
             LR_CASE(missing_file_refused_naming_the_path),
             LR_CASE(directory_refused),
             LR_CASE(l2_normalize_rows_makes_unit_rows_and_keeps_zero_rows),
             LR_CASE(from_floats_keeps_its_own_copy),
             LR_CASE(from_floats_refuses_empty_and_non_finite_input),
             LR_CASE(free_null_does_nothing))
