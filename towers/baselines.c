/* Baselines the towers must beat: mean content of the history (LEARN's variant (c)) and
 * popularity. */
#include <string.h>

#include "lr_data.h"
#include "lr_towers.h"

int lr_towers_baseline_mean_content(const lr_data *d, const lr_content *content, lr_split split,
                                    size_t max_hist, float *users_out, int32_t *targets_out,
                                    lr_err *err) {
    size_t n_items = lr_data_num_items(d), dim = lr_data_matrix_dim(content);
    if (lr_data_matrix_rows(content) != n_items)
        return lr_err_set(err, LR_EMISMATCH, "content has %zu rows, the dataset %zu items",
                          lr_data_matrix_rows(content), n_items);
    const float *x = lr_data_matrix_data(content);
    for (size_t u = 0; u < lr_data_num_users(d); u++) {
        const int32_t *h;
        size_t len;
        float *out = users_out + u * dim;
        memset(out, 0, dim * sizeof *out);
        targets_out[u] = lr_data_user_history(d, u, (lr_split)split, max_hist, &h, &len);
        for (size_t i = 0; i < len; i++)
            for (size_t j = 0; j < dim; j++) out[j] += x[(size_t)h[i] * dim + j];
        for (size_t j = 0; len && j < dim; j++) out[j] /= (float)len;
    }
    return LR_OK;
}

void lr_towers_baseline_popularity(const lr_data *d, float *scores_out) {
    memset(scores_out, 0, lr_data_num_items(d) * sizeof *scores_out);
    for (size_t u = 0; u < lr_data_num_users(d); u++) {
        size_t n;
        const int32_t *s = lr_data_user_sequence(d, u, &n);
        lr_data_split sp = lr_data_user_split(d, u);
        for (size_t i = 0; i < sp.train_len && i < n; i++) scores_out[s[i]] += 1.0f;
    }
}
