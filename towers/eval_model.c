/* The user tower over an evaluation split's histories. */
#include <stdlib.h>

#include "lr_data.h"
#include "pal_internal.h"

int lr_towers_embed_split(const lr_pal *m, const lr_data *d, const lr_content *content,
                          lr_split split, float *users_out, int32_t *targets_out, lr_err *err) {
    size_t nu = lr_data_num_users(d), total = 0, maxlen = m->cfg.max_len;
    for (size_t u = 0; u < nu; u++) {
        const int32_t *h;
        size_t len;
        targets_out[u] = lr_data_user_history(d, u, (lr_split)split, maxlen, &h, &len);
        total += len;
    }
    int32_t *items = malloc((total ? total : 1) * sizeof *items);
    size_t *off = malloc((nu + 1) * sizeof *off);
    int rc;
    if (!items || !off) {
        rc = lr_err_set(err, LR_ENOMEM, "out of memory for %zu history items", total);
    } else {
        off[0] = 0;
        for (size_t u = 0; u < nu; u++) {
            const int32_t *h;
            size_t len;
            lr_data_user_history(d, u, (lr_split)split, maxlen, &h, &len);
            for (size_t i = 0; i < len; i++) items[off[u] + i] = h[i];
            off[u + 1] = off[u] + len;
        }
        rc = lr_towers_user_embed(m, content, items, off, nu, users_out, err);
    }
    free(items);
    free(off);
    return rc;
}
