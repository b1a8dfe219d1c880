/* Inside towers/: the training loss, exposed for its gradient test. */
#ifndef LR_TRAIN_INTERNAL_H
#define LR_TRAIN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A (user row, candidate column, weight) term of the loss. */
typedef struct {
    size_t row, col;
    float w;
} lr_train_pair;

/* Weighted InfoNCE: for each pair, w * (logsumexp_j(l_rj) - (1 - eps) l_rc - eps mean_j l_rj),
 * summed and divided by the total weight, with logits l_rj = U_r . V_j / tau - col_shift[j]
 * (col_shift NULL: none; the log-Q correction of sampled candidates) and eps the label smoothing
 * (0: none; the target's probability mass spread over the K candidates). U (P,D), V (K,D).
 * Writes dU (P,D) and dV (K,D); needs logits (P*K floats) and scratch (2*P floats). Returns the
 * loss. */
double lr_towers_train_infonce(const float *U, size_t P, const float *V, size_t K, size_t D,
                        const lr_train_pair *pairs, size_t n_pairs, float tau, float eps,
                        const float *col_shift, float *logits, float *scratch, float *dU, float *dV);

/* How one user's training sequence of tl items (targets seq[1 .. tl-1]) is cut into examples:
 * per_prefix (positions from the newest), one per target, the prefix seq[0..end) predicting
 * seq[end]; otherwise windows of the newest max_len items before `end`, whose last n_pred
 * tokens each predict the item after them. The first window covers the first max_len prefixes,
 * each further one ends `stride` items later and predicts only its last `stride` targets: each
 * target once, after at least max_len - stride items of context. Writes (end, n_pred) pairs
 * when ends is not NULL (room for tl - 1); returns how many. */
size_t lr_towers_train_windows(size_t tl, size_t max_len, size_t stride, int per_prefix, uint32_t *ends,
                               uint32_t *n_preds);

#endif /* LR_TRAIN_INTERNAL_H */
