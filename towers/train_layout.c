/* How training lays out its examples: the windows of a user's sequence, the stride, and the
 * choice between one pass per prefix and one pass per window (docs/training.md). */
#include "lr_data.h"
#include "lr_towers.h"
#include "train_internal.h"

const char *lr_towers_negatives_name(lr_negatives n) {
    return n == LR_NEG_FULL ? "all-item" : n == LR_NEG_INBATCH ? "in-batch" : n == LR_NEG_SAMPLED ? "sampled" : "auto";
}

size_t lr_towers_train_stride(const lr_train_config *c, size_t max_len) {
    size_t s = c->window_stride ? c->window_stride : max_len / 2;
    return s < 1 ? 1 : s > max_len ? max_len : s;
}

size_t lr_towers_train_windows(size_t tl, size_t max_len, size_t stride, int per_prefix, uint32_t *ends,
                               uint32_t *n_preds) {
    size_t n = 0;
    for (size_t end = 0; end + 1 < tl;) { /* windows end at most at tl - 1: seq[tl - 1] is the last target */
        size_t step = per_prefix ? 1 : end == 0 ? max_len : stride;
        size_t next = end + step < tl - 1 ? end + step : tl - 1;
        if (ends) ends[n] = (uint32_t)(per_prefix ? end + 1 : next), n_preds[n] = (uint32_t)(per_prefix ? 1 : next - end);
        n++;
        end = next;
    }
    return n;
}

int lr_towers_train_pick_positions(const lr_data *d, size_t max_len, const lr_train_config *c, double *ratio) {
    size_t nu = lr_data_num_users(d), stride = lr_towers_train_stride(c, max_len);
    double prefix = 0, windows = 0;
    for (size_t u = 0; u < nu; u++) {
        size_t tl = lr_data_user_split(d, u).train_len;
        for (size_t e = 1; e < tl; e++) prefix += (double)(e < max_len ? e : max_len);
        /* windows: the first max_len prefixes in one pass, then max_len tokens per stride targets */
        if (tl > 1) windows += (double)(tl - 1 < max_len ? tl - 1 : max_len);
        if (tl > 1 && tl - 1 > max_len) windows += (double)max_len * (double)((tl - 1 - max_len + stride - 1) / stride);
    }
    double r = windows > 0 ? prefix / windows : 1.0;
    if (ratio) *ratio = r;
    return r <= LR_TRAIN_PREFIX_MAX_RATIO ? LR_POS_NEWEST : LR_POS_OLDEST;
}
