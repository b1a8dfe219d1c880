/* Inside towers/: the training loss, exposed for its gradient test. */
#ifndef LR_TRAIN_INTERNAL_H
#define LR_TRAIN_INTERNAL_H

#include <stddef.h>

/* A (user row, candidate column, weight) term of the loss. */
typedef struct {
    size_t row, col;
    float w;
} lr_train_pair;

/* Weighted InfoNCE: for each pair, w * (logsumexp_j(l_rj) - l_rc), summed and divided by the
 * total weight, with logits l_rj = U_r . V_j / tau - col_shift[j] (col_shift NULL: none; the
 * log-Q correction of sampled candidates). U (P,D), V (K,D). Writes dU (P,D) and dV (K,D); needs
 * logits (P*K floats) and scratch (2*P floats). Returns the loss. */
double lr_towers_train_infonce(const float *U, size_t P, const float *V, size_t K, size_t D,
                        const lr_train_pair *pairs, size_t n_pairs, float tau, const float *col_shift,
                        float *logits, float *scratch, float *dU, float *dV);

#endif /* LR_TRAIN_INTERNAL_H */
