/* The dataset's item attributes as the index publishes them: the bridge between datasets/ and
 * index/, which do not know each other. */
#include <stdlib.h>

#include "cli.h"
#include "lr_data.h"
#include "lr_index.h"

/* Attribute k of d into a: its values and every item's value ids. */
static int add_one(lr_index_attrs *a, const lr_data *d, size_t k, lr_err *err) {
    size_t ni = lr_data_num_items(d), nv = lr_data_attr_num_values(d, k), refs = 0, n;
    for (size_t i = 0; i < ni; i++) {
        lr_data_item_attr(d, i, k, &n);
        refs += n;
    }
    const char **values = malloc((nv ? nv : 1) * sizeof *values);
    size_t *off = malloc((ni + 1) * sizeof *off);
    uint32_t *ids = malloc((refs ? refs : 1) * sizeof *ids);
    int rc = LR_OK;
    if (!values || !off || !ids) rc = lr_err_set(err, LR_ENOMEM, "attributes: out of memory");
    for (size_t v = 0; !rc && v < nv; v++) values[v] = lr_data_attr_value(d, k, v);
    off[0] = 0;
    for (size_t i = 0; !rc && i < ni; i++) {
        const uint32_t *v = lr_data_item_attr(d, i, k, &n);
        for (size_t j = 0; j < n; j++) ids[off[i] + j] = v[j];
        off[i + 1] = off[i] + n;
    }
    if (!rc) rc = lr_index_attrs_add(a, lr_data_attr_name(d, k), values, nv, off, ids, err);
    free(values);
    free(off);
    free(ids);
    return rc;
}

int lr_cli_attrs_of(const lr_data *d, lr_index_attrs **out, lr_err *err) {
    *out = NULL;
    if (!lr_data_num_attrs(d)) return LR_OK;
    lr_index_attrs *a;
    int rc = lr_index_attrs_new(lr_data_num_items(d), &a, err);
    for (size_t k = 0; !rc && k < lr_data_num_attrs(d); k++) rc = add_one(a, d, k, err);
    if (rc) lr_index_attrs_free(a);
    else *out = a;
    return rc;
}
