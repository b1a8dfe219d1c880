/* Tests of index/attrs.c and attrs_io.c: item attributes, their file, and publishing them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lr_data.h"
#include "lr_index.h"
#include "lr_test.h"

/* Five items: brand (one value each, item 4 none) and category (levels). Values given unsorted. */
static lr_index_attrs *five_items(lr_err *err) {
    lr_index_attrs *a = NULL;
    static const char *const brands[] = {"Pyrex", "Eppendorf", "3M"};
    static const size_t boff[] = {0, 1, 2, 3, 4, 4};
    static const uint32_t bids[] = {0, 1, 0, 2};
    static const char *const cats[] = {"Lab", "Glass", "Tools", "Safety"};
    static const size_t coff[] = {0, 2, 4, 5, 6, 6};
    static const uint32_t cids[] = {0, 1, 0, 2, 3, 0};
    if (lr_index_attrs_new(5, &a, err) || lr_index_attrs_add(a, "brand", brands, 3, boff, bids, err) ||
        lr_index_attrs_add(a, "category", cats, 4, coff, cids, err)) {
        lr_index_attrs_free(a);
        return NULL;
    }
    return a;
}

/* The value strings of item's attribute k joined by '|': comparable across renumbering. */
static void item_values(const lr_index_attrs *a, size_t k, int64_t item, char *out, size_t cap) {
    size_t n, at = 0;
    const uint32_t *v = lr_index_attrs_of(a, k, item, &n);
    out[0] = '\0';
    for (size_t j = 0; j < n && at < cap; j++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", j ? "|" : "", lr_index_attrs_value(a, k, v[j]));
}

static void check_five(lr_test_ctx *lr_t_, const lr_index_attrs *a) {
    char got[128];
    CHECK_EQ(lr_index_attrs_items(a), 5);
    CHECK_EQ(lr_index_attrs_count(a), 2);
    CHECK_STR_EQ(lr_index_attrs_name(a, 1), "category");
    CHECK(lr_index_attrs_name(a, 2) == NULL);
    CHECK_EQ(lr_index_attrs_find(a, "category"), 1);
    CHECK_EQ(lr_index_attrs_find(a, "colour"), -1);
    /* values sorted bytewise: ids are ranks */
    CHECK_STR_EQ(lr_index_attrs_value(a, 0, 0), "3M");
    CHECK_STR_EQ(lr_index_attrs_value(a, 0, 2), "Pyrex");
    CHECK(lr_index_attrs_value(a, 0, 3) == NULL);
    CHECK_EQ(lr_index_attrs_find_value(a, 1, "Tools", 5), 3);
    CHECK_EQ(lr_index_attrs_find_value(a, 1, "Toolsx", 5), 3); /* only len bytes are read */
    CHECK_EQ(lr_index_attrs_find_value(a, 1, "Tool", 4), -1);
    CHECK_EQ(lr_index_attrs_find_value(a, 1, "Zebra", 5), -1);
    CHECK_EQ(lr_index_attrs_find_value(a, 5, "Lab", 3), -1);
    item_values(a, 0, 0, got, sizeof got);
    CHECK_STR_EQ(got, "Pyrex");
    item_values(a, 1, 0, got, sizeof got);
    CHECK_STR_EQ(got, "Lab|Glass");
    item_values(a, 1, 3, got, sizeof got);
    CHECK_STR_EQ(got, "Lab");
    size_t n = 99;
    CHECK(lr_index_attrs_of(a, 0, 4, &n) == NULL && n == 0); /* no brand */
    CHECK(lr_index_attrs_of(a, 0, 5, &n) == NULL && n == 0); /* past the items (an added one) */
    CHECK(lr_index_attrs_of(a, 0, -1, &n) == NULL && n == 0);
}

LR_TEST(attributes_keep_each_items_values_with_sorted_ids) {
    lr_err err = {0};
    lr_index_attrs *a = five_items(&err);
    CHECK_OK(a ? LR_OK : err.code, err);
    check_five(lr_t_, a);
    lr_index_attrs_free(a);
}

LR_TEST(bad_attributes_are_refused_with_what_is_wrong) {
    lr_err err = {0};
    lr_index_attrs *a = five_items(&err);
    CHECK(a);
    static const char *const twice[] = {"A", "B", "A"}, *const empty[] = {"A", ""};
    static const size_t off[] = {0, 1, 1, 1, 1, 1};
    static const uint32_t id0[] = {0}, id9[] = {9};
    CHECK_ERR(lr_index_attrs_add(a, "brand", twice, 2, off, id0, &err), err, LR_EINVAL, "'brand' given twice");
    CHECK_ERR(lr_index_attrs_add(a, "x", twice, 3, off, id0, &err), err, LR_EINVAL, "value 'A' is given twice");
    CHECK_ERR(lr_index_attrs_add(a, "x", empty, 2, off, id0, &err), err, LR_EINVAL, "value '' is empty");
    CHECK_ERR(lr_index_attrs_add(a, "x", twice, 2, off, id9, &err), err, LR_EINVAL, "item 0 has value 9 of 2");
    CHECK_ERR(lr_index_attrs_add(a, "", twice, 2, off, id0, &err), err, LR_EINVAL, "a name of 1 to 63 bytes");
    CHECK_EQ(lr_index_attrs_count(a), 2); /* nothing half-added */
    lr_index_attrs_free(a);
}

LR_TEST(attributes_file_loads_back_equal) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "attributes.safetensors");
    lr_err err = {0};
    lr_index_attrs *a = five_items(&err), *b = NULL;
    CHECK(a);
    int rc = lr_index_attrs_save(a, path, &err);
    if (!rc) rc = lr_index_attrs_load(path, &b, &err);
    lr_test_rmdir(dir);
    CHECK_OK(rc, err);
    check_five(lr_t_, b);
    lr_index_attrs_free(a);
    lr_index_attrs_free(b);
}

/* A file that the checksum would not catch (written whole, but wrong) is still refused. */
static int load_raw(const char *dir, const lr_data_st_raw *t, size_t n, const char *items, lr_err *err) {
    char path[4200];
    lr_test_path(path, sizeof path, dir, "a.safetensors");
    const char *keys[] = {"format", "items", "attributes", "name.0"};
    const char *vals[] = {"learnrec-attributes-1", items, "1", "brand"};
    int rc = lr_data_st_write_raw(path, t, n, keys, vals, 4, err);
    lr_index_attrs *a = NULL;
    if (!rc) rc = lr_index_attrs_load(path, &a, err);
    lr_index_attrs_free(a);
    return rc;
}

LR_TEST(attributes_file_with_wrong_tables_is_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0};
    const char good_bytes[] = "A\0B", unsorted[] = "B\0A";
    const uint32_t voff[] = {0, 2, 4}, ioff[] = {0, 1, 2}, ids[] = {0, 1}, far[] = {0, 2}, back[] = {0, 2, 1};
    lr_data_st_raw t[4] = {{"0.bytes", "U8", good_bytes, 1, {4}}, {"0.value_offsets", "U32", voff, 1, {3}},
                           {"0.item_offsets", "U32", ioff, 1, {3}}, {"0.item_values", "U32", ids, 1, {2}}};
    int ok = load_raw(dir, t, 4, "2", &err);
    t[0].data = unsorted;
    int rc_sort = load_raw(dir, t, 4, "2", &err);
    char m_sort[256];
    snprintf(m_sort, sizeof m_sort, "%s", err.msg);
    t[0].data = good_bytes;
    t[3].data = far;
    int rc_far = load_raw(dir, t, 4, "2", &err);
    char m_far[256];
    snprintf(m_far, sizeof m_far, "%s", err.msg);
    t[3].data = ids;
    t[2].data = back;
    int rc_back = load_raw(dir, t, 4, "2", &err);
    char m_back[256];
    snprintf(m_back, sizeof m_back, "%s", err.msg);
    t[2].data = ioff;
    int rc_items = load_raw(dir, t, 4, "3", &err); /* 3 items, offsets for 2 */
    lr_test_rmdir(dir);
    CHECK_EQ(ok, LR_OK);
    CHECK(rc_sort == LR_EFORMAT && strstr(m_sort, "not distinct, sorted"));
    CHECK(rc_far == LR_EFORMAT && strstr(m_far, "value id 2 of 2"));
    CHECK(rc_back == LR_EFORMAT && strstr(m_back, "item offsets do not run"));
    CHECK_ERR(rc_items, err, LR_EFORMAT, "tensor '0.item_offsets' is U32 of 1 dimensions and 3 elements");
}

static lr_index *small_index(size_t n, size_t d) {
    float *x = malloc(n * d * sizeof *x);
    for (size_t i = 0; i < n * d; i++) x[i] = sinf((float)i * 0.37f);
    lr_index *ix = NULL;
    lr_err err;
    lr_index_build(x, n, d, NULL, "Flat", &ix, &err);
    free(x);
    return ix;
}

/* Published with the version and checksummed: opened back whole; damaged, refused by name. */
LR_TEST(attributes_are_published_with_the_version_and_checked) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    lr_err err = {0};
    lr_index *ix = small_index(5, 4), *back = NULL, *plain = NULL;
    lr_index_attrs *a = five_items(&err);
    CHECK(ix && a);
    lr_index_set_attrs(ix, a);
    lr_index_manifest m;
    int rc = lr_index_publish(ix, dir, NULL, &m, &err);
    if (!rc) rc = lr_index_open(dir, NULL, 4, NULL, 0, &back, &m, &err);
    CHECK_OK(rc, err);
    CHECK_EQ(m.attrs_count, 2);
    check_five(lr_t_, lr_index_get_attrs(back));
    lr_index_set_attrs(ix, NULL); /* a version without attributes has no file and opens without */
    rc = lr_index_publish(ix, dir, NULL, &m, &err);
    if (!rc) rc = lr_index_open(dir, NULL, 4, NULL, 0, &plain, &m, &err);
    CHECK_OK(rc, err);
    CHECK(lr_index_get_attrs(plain) == NULL && m.attrs_count == 0);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "versions/v000001/attributes.safetensors");
    FILE *f = fopen(path, "r+b");
    CHECK(f);
    fseek(f, -1, SEEK_END);
    int c = fgetc(f);
    fseek(f, -1, SEEK_END);
    fputc(c ^ 1, f);
    fclose(f);
    lr_index *damaged = NULL;
    rc = lr_index_open(dir, "v000001", 4, NULL, 0, &damaged, NULL, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "attributes.safetensors: checksum");
    CHECK(damaged == NULL);
    lr_index_free(ix);
    lr_index_free(back);
    lr_index_free(plain);
}

/* Rows: keys and hashes back as written, found by key; offsets that leave the key bytes are
 * refused before any key is read (found by fuzz/attrs: an offset past the end was read). */
LR_TEST(rows_load_back_and_bad_offsets_are_refused) {
    char *dir = lr_test_tmpdir();
    CHECK(dir);
    char path[4200];
    lr_test_path(path, sizeof path, dir, "rows.safetensors");
    lr_err err = {0};
    lr_index_rows *r = NULL, *back = NULL;
    CHECK_OK(lr_index_rows_new(3, &r, &err), err);
    CHECK_OK(lr_index_rows_set(r, 0, "B00X", 11, &err), err);
    CHECK_OK(lr_index_rows_set(r, 1, "A01Y", 22, &err), err);
    CHECK_OK(lr_index_rows_set(r, 2, "new0", UINT64_MAX, &err), err);
    int rc = lr_index_rows_save(r, path, &err);
    if (!rc) rc = lr_index_rows_load(path, &back, &err);
    CHECK_OK(rc, err);
    CHECK(lr_index_rows_count(back) == 3 && lr_index_rows_find(back, "A01Y") == 1 && lr_index_rows_hash(back, 2) == UINT64_MAX);
    CHECK(lr_index_rows_find(back, "Z") == -1 && strcmp(lr_index_rows_key(back, 0), "B00X") == 0);
    const char bytes[] = "AB\0C\0";
    const uint64_t far[3] = {0, 100, 5}, hash[2] = {1, 2};
    lr_data_st_raw t[3] = {{"key_bytes", "U8", bytes, 1, {5}}, {"key_offsets", "U64", far, 1, {3}}, {"hash", "U64", hash, 1, {2}}};
    const char *keys[2] = {"format", "rows"}, *vals[2] = {"learnrec-rows-1", "2"};
    lr_index_rows *bad = NULL;
    rc = lr_data_st_write_raw(path, t, 3, keys, vals, 2, &err);
    if (!rc) rc = lr_index_rows_load(path, &bad, &err);
    lr_test_rmdir(dir);
    CHECK_ERR(rc, err, LR_EFORMAT, "key offsets do not rise from 0 to 5");
    CHECK(bad == NULL);
    lr_index_rows_free(r);
    lr_index_rows_free(back);
}

LR_TEST_MAIN(LR_CASE(attributes_keep_each_items_values_with_sorted_ids),
             LR_CASE(bad_attributes_are_refused_with_what_is_wrong), LR_CASE(attributes_file_loads_back_equal),
             LR_CASE(attributes_file_with_wrong_tables_is_refused),
             LR_CASE(attributes_are_published_with_the_version_and_checked),
             LR_CASE(rows_load_back_and_bad_offsets_are_refused))
