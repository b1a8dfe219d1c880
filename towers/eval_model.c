/* The user tower over an evaluation split's histories. */
#include <stdlib.h>
#include <string.h>

#include "lr_data.h"
#include "pal_internal.h"

int lr_towers_split_histories(const lr_data *d, lr_split split, size_t max_len, size_t stride, int32_t **items,
                              size_t **off, int32_t **targets, size_t *n, lr_err *err) {
    size_t nu = lr_data_num_users(d), total = 0, taken = 0, seen = 0;
    *items = NULL, *off = NULL, *targets = NULL;
    for (int pass = 0; pass < 2; pass++) { /* count, then fill */
        total = taken = seen = 0;
        for (size_t u = 0; u < nu; u++) {
            const int32_t *h;
            size_t len;
            int32_t tg = lr_data_user_history(d, u, split, max_len, &h, &len);
            if (stride && (tg < 0 || seen++ % stride)) continue;
            if (pass) {
                memcpy(*items + total, h, len * sizeof *h);
                (*targets)[taken] = tg;
                (*off)[taken + 1] = total + len;
            }
            total += len;
            taken++;
        }
        if (pass) break;
        *items = malloc((total ? total : 1) * sizeof **items);
        *off = malloc((taken + 1) * sizeof **off);
        *targets = malloc((taken ? taken : 1) * sizeof **targets);
        if (!*items || !*off || !*targets)
            return lr_err_set(err, LR_ENOMEM, "out of memory for %zu history items", total);
        (*off)[0] = 0;
    }
    *n = taken;
    return LR_OK;
}

int lr_towers_embed_split(const lr_pal *m, const lr_data *d, const lr_content *content,
                          lr_split split, float *users_out, int32_t *targets_out, lr_err *err) {
    int32_t *items, *targets;
    size_t *off, n = 0;
    int rc = lr_towers_split_histories(d, split, m->cfg.max_len, 0, &items, &off, &targets, &n, err);
    if (!rc) {
        memcpy(targets_out, targets, n * sizeof *targets);
        rc = lr_towers_user_embed(m, content, items, off, n, users_out, err);
    }
    free(items);
    free(off);
    free(targets);
    return rc;
}
