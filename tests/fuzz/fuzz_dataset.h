/* Shared by the dataset-loader harnesses: what every loaded dataset must be (lr_data.h's
 * promises), checked whole, and the round trip through lr_data_write_recbole. A broken promise
 * prints what broke and aborts, which the fuzzer reports as a crash. */
#ifndef LR_FUZZ_DATASET_H
#define LR_FUZZ_DATASET_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_file.h"
#include "../datasets/attr_compare.h"
#include "lr_data.h"

#define LR_FUZZ_REQUIRE(cond, ...)                                                             \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "broken promise (%s): ", #cond);                                   \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* A refusal names what is at fault; a malformed file (LR_EFORMAT, LR_ERANGE) by its name, which
 * starts with `name_part` in these harnesses. */
static inline void lr_fuzz_check_refusal(int rc, const lr_err *err, const char *name_part) {
    LR_FUZZ_REQUIRE(rc < 0 && err->code == rc, "code %d, err.code %d", rc, err->code);
    LR_FUZZ_REQUIRE(err->msg[0], "refused (code %d) without a message", rc);
    if (rc == LR_EFORMAT || rc == LR_ERANGE)
        LR_FUZZ_REQUIRE(strstr(err->msg, name_part), "the message names no file: %s", err->msg);
}

/* NULL, or a non-empty string ("never \"\"", lr_data.h). */
static inline void lr_fuzz_check_opt_string(const char *s, const char *what, size_t i) {
    LR_FUZZ_REQUIRE(!s || s[0], "%s of %zu is \"\" instead of NULL", what, i);
}

/* Attributes: distinct names found again, values non-empty and distinct, every item's value
 * ids in range and distinct. */
static inline void lr_fuzz_check_attrs(const lr_data *d) {
    size_t na = lr_data_num_attrs(d);
    LR_FUZZ_REQUIRE(na <= LR_DATA_MAX_ATTRS && lr_data_attr_name(d, na) == NULL, "%zu attributes", na);
    for (size_t k = 0; k < na; k++) {
        const char *name = lr_data_attr_name(d, k);
        LR_FUZZ_REQUIRE(name && name[0] && lr_data_find_attr(d, name) == (int)k, "attribute %zu's name", k);
        size_t nv = lr_data_attr_num_values(d, k);
        LR_FUZZ_REQUIRE(nv > 0 && lr_data_attr_value(d, k, nv) == NULL, "attribute '%s': %zu values", name, nv);
        for (size_t v = 0; v < nv; v++) {
            const char *s = lr_data_attr_value(d, k, v);
            LR_FUZZ_REQUIRE(s && s[0], "attribute '%s': value %zu is empty", name, v);
        }
        for (size_t i = 0; i < lr_data_num_items(d); i++) {
            size_t n;
            const uint32_t *ids = lr_data_item_attr(d, i, k, &n);
            LR_FUZZ_REQUIRE(!n == !ids, "item %zu: attribute '%s' has %zu values at %p", i, name, n, (const void *)ids);
            for (size_t j = 0; j < n; j++) {
                LR_FUZZ_REQUIRE(ids[j] < nv, "item %zu: attribute '%s' value id %u of %zu", i, name, ids[j], nv);
                for (size_t m = 0; m < j; m++) LR_FUZZ_REQUIRE(ids[m] != ids[j], "item %zu: '%s' repeats a value", i, name);
            }
        }
    }
}

/* Every getter of d agrees with every other: ids within counts, each token found again under its
 * index, sequences and splits inside the sequence pool, statistics that add up. */
static inline void lr_fuzz_check_dataset(const lr_data *d) {
    size_t n_items = lr_data_num_items(d), n_users = lr_data_num_users(d), total = 0;
    for (size_t i = 0; i < n_items; i++) {
        const char *tok = lr_data_item_token(d, i);
        LR_FUZZ_REQUIRE(tok && tok[0], "item %zu has no id", i);
        LR_FUZZ_REQUIRE(lr_data_find_item(d, tok) == (int64_t)i, "item %zu ('%s') is found at %lld", i,
                        tok, (long long)lr_data_find_item(d, tok));
        lr_fuzz_check_opt_string(lr_data_item_text(d, i), "the text", i);
        for (int f = 0; f < LR_DATA_NUM_FIELDS; f++)
            lr_fuzz_check_opt_string(lr_data_item_field(d, i, (lr_data_field)f), "a field", i);
    }
    LR_FUZZ_REQUIRE(lr_data_item_field(d, 0, (lr_data_field)LR_DATA_NUM_FIELDS) == NULL, "field out of range");
    lr_fuzz_check_attrs(d);
    LR_FUZZ_REQUIRE(lr_data_item_token(d, n_items) == NULL, "item past the end");
    size_t with_targets = 0, longest = 0, without_text = 0;
    for (size_t u = 0; u < n_users; u++) {
        const char *tok = lr_data_user_token(d, u);
        LR_FUZZ_REQUIRE(tok && tok[0], "user %zu has no id", u);
        size_t n;
        const int32_t *s = lr_data_user_sequence(d, u, &n);
        for (size_t k = 0; k < n; k++)
            LR_FUZZ_REQUIRE(s[k] >= 0 && (size_t)s[k] < n_items, "user %zu, item %d of %zu items", u,
                            (int)s[k], n_items);
        total += n;
        with_targets += n >= 3;
        if (n > longest) longest = n;
        lr_data_split sp = lr_data_user_split(d, u);
        LR_FUZZ_REQUIRE(n >= 3 ? sp.train_len == n - 2 && sp.valid_target == s[n - 2] &&
                                     sp.test_target == s[n - 1]
                               : sp.train_len == n && sp.valid_target == -1 && sp.test_target == -1,
                        "user %zu: the split of %zu items", u, n);
        for (int split = 0; split < 2; split++) {
            const int32_t *h;
            size_t len;
            int32_t t = lr_data_user_history(d, u, (lr_split)split, 50, &h, &len);
            size_t at = split ? n - 1 : n - 2; /* the target's position, when there is one */
            LR_FUZZ_REQUIRE(n < 3 ? t == -1 && len == 0
                                  : t == s[at] && len <= 50 && h + len == s + at && h >= s,
                            "user %zu: the history before split %d", u, split);
        }
    }
    LR_FUZZ_REQUIRE(total == lr_data_num_interactions(d), "%zu interactions in the sequences, %zu said",
                    total, lr_data_num_interactions(d));
    for (size_t i = 0; i < n_items; i++) without_text += lr_data_item_text(d, i) == NULL;
    lr_data_stats st = lr_data_get_stats(d);
    LR_FUZZ_REQUIRE(st.users == n_users && st.items == n_items && st.interactions == total &&
                        st.users_with_targets == with_targets && st.max_seq_len == longest &&
                        st.items_without_text == without_text,
                    "statistics");
}

/* The same string, both NULL included. */
static inline int lr_fuzz_same(const char *a, const char *b) {
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* lr_data_write_recbole's promise: what it writes loads back into an equal dataset (items,
 * texts, fields, attributes, users, sequences). Or it refuses with a message (a tab or newline in an id or a
 * text, which the atomic format cannot store). */
static inline void lr_fuzz_check_round_trip(const lr_data *a) {
    char dir[256];
    lr_fuzz_path("copy", dir, sizeof dir);
    lr_fuzz_rmtree(dir);
    lr_err err = {0, ""};
    int rc = lr_data_write_recbole(a, dir, "copy", &err);
    if (rc) {
        LR_FUZZ_REQUIRE(err.msg[0] && rc == LR_EFORMAT, "write_recbole refused (%d) with '%s'", rc, err.msg);
        lr_fuzz_rmtree(dir);
        return;
    }
    lr_data *b = NULL;
    rc = lr_data_load_recbole(dir, "copy", &b, &err);
    LR_FUZZ_REQUIRE(rc == LR_OK, "what lr_data_write_recbole wrote does not load: %s", err.msg);
    LR_FUZZ_REQUIRE(lr_data_num_items(b) == lr_data_num_items(a) &&
                        lr_data_num_users(b) == lr_data_num_users(a) &&
                        lr_data_num_interactions(b) == lr_data_num_interactions(a),
                    "the copy holds %zu items, %zu users, %zu interactions, not %zu, %zu, %zu",
                    lr_data_num_items(b), lr_data_num_users(b), lr_data_num_interactions(b),
                    lr_data_num_items(a), lr_data_num_users(a), lr_data_num_interactions(a));
    for (size_t i = 0; i < lr_data_num_items(a); i++) {
        LR_FUZZ_REQUIRE(lr_fuzz_same(lr_data_item_token(a, i), lr_data_item_token(b, i)) &&
                            lr_fuzz_same(lr_data_item_text(a, i), lr_data_item_text(b, i)),
                        "item %zu differs in the copy", i);
        for (int f = 0; f < LR_DATA_NUM_FIELDS; f++)
            LR_FUZZ_REQUIRE(lr_fuzz_same(lr_data_item_field(a, i, (lr_data_field)f),
                                         lr_data_item_field(b, i, (lr_data_field)f)),
                            "item %zu: field %d differs in the copy", i, f);
    }
    char why[512];
    LR_FUZZ_REQUIRE(!lr_test_attrs_differ(a, b, why, sizeof why), "the copy's attributes: %s", why);
    for (size_t u = 0; u < lr_data_num_users(a); u++) {
        size_t na, nb;
        const int32_t *sa = lr_data_user_sequence(a, u, &na), *sb = lr_data_user_sequence(b, u, &nb);
        LR_FUZZ_REQUIRE(lr_fuzz_same(lr_data_user_token(a, u), lr_data_user_token(b, u)) && na == nb &&
                            (na == 0 || memcmp(sa, sb, na * sizeof *sa) == 0),
                        "user %zu differs in the copy", u);
    }
    lr_data_free(b);
    lr_fuzz_rmtree(dir);
}

#endif
