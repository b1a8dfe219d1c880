/* Whether two datasets give their items the same attributes: the same names, and for every item
 * the same values in the same order, compared as strings (value ids depend on the order items
 * were read in). Shared by the unit tests and the fuzz harnesses' round-trip checks. */
#ifndef LR_TEST_ATTR_COMPARE_H
#define LR_TEST_ATTR_COMPARE_H

#include <stdio.h>
#include <string.h>

#include "lr_data.h"

/* 0 when equal; else 1 with the first difference described in why. */
static inline int lr_test_attrs_differ(const lr_data *a, const lr_data *b, char *why, size_t cap) {
    if (lr_data_num_attrs(a) != lr_data_num_attrs(b)) {
        snprintf(why, cap, "%zu attributes became %zu", lr_data_num_attrs(a), lr_data_num_attrs(b));
        return 1;
    }
    for (size_t k = 0; k < lr_data_num_attrs(a); k++) {
        const char *name = lr_data_attr_name(a, k);
        int kb = lr_data_find_attr(b, name);
        if (kb < 0) {
            snprintf(why, cap, "attribute '%s' is missing", name);
            return 1;
        }
        for (size_t i = 0; i < lr_data_num_items(a) && i < lr_data_num_items(b); i++) {
            size_t na, nb;
            const uint32_t *va = lr_data_item_attr(a, i, k, &na), *vb = lr_data_item_attr(b, i, (size_t)kb, &nb);
            int same = na == nb;
            for (size_t j = 0; same && j < na; j++)
                same = strcmp(lr_data_attr_value(a, k, va[j]), lr_data_attr_value(b, (size_t)kb, vb[j])) == 0;
            if (!same) {
                snprintf(why, cap, "item %zu: attribute '%s' had %zu values (first '%s'), now %zu (first '%s')", i,
                         name, na, na ? lr_data_attr_value(a, k, va[0]) : "", nb,
                         nb ? lr_data_attr_value(b, (size_t)kb, vb[0]) : "");
                return 1;
            }
        }
    }
    return 0;
}

#endif
