/* A version's attributes.safetensors and rows.safetensors readers on arbitrary bytes (each input
 * goes to both): refused with a message, or every getter stays inside what it loaded. Attributes:
 * values distinct and ascending, every item's value ids in range and found again in that value's
 * postings, and a filter over them agrees with its own bitmap. Rows: every key found again at
 * its row. */
#include <string.h>

#include "fuzz_file.h"
#include "index_internal.h"
#include "lr_index.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define REQUIRE(c)   \
    do {             \
        if (!(c)) abort(); \
    } while (0)

/* Item i is found in the postings of each of its values. */
static void check_item(const lr_index_attrs *a, size_t k, size_t i) {
    size_t n, m;
    const uint32_t *v = lr_index_attrs_of(a, k, (int64_t)i, &n);
    for (size_t j = 0; j < n; j++) {
        REQUIRE(v[j] < lr_index_attrs_num_values(a, k));
        const uint32_t *items = lr_index_attrs_items_with(a, k, v[j], &m);
        int found = 0;
        for (size_t t = 0; t < m && !found; t++) found = items[t] == i;
        REQUIRE(found);
    }
}

static void check_filter(const lr_index_attrs *a) {
    lr_index_filter *f = NULL;
    lr_err err = {0, ""};
    REQUIRE(lr_index_filter_new(a, &f, &err) == LR_OK);
    for (size_t k = 0; k < lr_index_attrs_count(a) && k < 3; k++) {
        const char *v = lr_index_attrs_value(a, k, 0);
        size_t len = strlen(v);
        if (lr_index_filter_values(f, lr_index_attrs_name(a, k), &v, &len, 1, (int)(k % 2), &err) != LR_OK)
            REQUIRE(err.msg[0]);
    }
    uint64_t *bits = NULL;
    if (lr_index_filter_bitmap(f, &bits, &err) == LR_OK) {
        for (size_t i = 0; i < lr_index_attrs_items(a) && i < 4096; i++)
            REQUIRE((int)(bits[i / 64] >> (i % 64) & 1) == lr_index_filter_allows(f, (int64_t)i));
        free(bits);
    }
    lr_index_filter_free(f);
}

static void check_rows(const char *path) {
    lr_index_rows *r = NULL;
    lr_err err = {0, ""};
    if (lr_index_rows_load(path, &r, &err) != LR_OK) {
        REQUIRE(err.msg[0] && !r);
        return;
    }
    for (size_t i = 0; i < lr_index_rows_count(r) && i < 4096; i++)
        REQUIRE(lr_index_rows_find(r, lr_index_rows_key(r, i)) == (int64_t)i);
    lr_index_rows_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128];
    if (!lr_fuzz_write("attributes.safetensors", data, size, path, sizeof path)) return 0;
    check_rows(path);
    lr_index_attrs *a = NULL;
    lr_err err = {0, ""};
    if (lr_index_attrs_load(path, &a, &err) != LR_OK) {
        REQUIRE(err.msg[0] && !a);
        return 0;
    }
    REQUIRE(lr_index_attrs_count(a) <= LR_INDEX_MAX_ATTRS);
    for (size_t k = 0; k < lr_index_attrs_count(a); k++) {
        REQUIRE(lr_index_attrs_find(a, lr_index_attrs_name(a, k)) == (int)k);
        for (size_t v = 0; v < lr_index_attrs_num_values(a, k); v++) {
            const char *s = lr_index_attrs_value(a, k, v);
            REQUIRE(s && s[0] && lr_index_attrs_find_value(a, k, s, strlen(s)) == (int64_t)v);
        }
        for (size_t i = 0; i < lr_index_attrs_items(a) && i < 4096; i++) check_item(a, k, i);
    }
    if (lr_index_attrs_count(a)) check_filter(a);
    lr_index_attrs_free(a);
    return 0;
}
