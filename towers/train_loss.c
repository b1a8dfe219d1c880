/* The training loss: weighted InfoNCE over cosine logits, with the log-Q shift of sampled
 * candidates, its gradients through two products. */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "train_internal.h"

double lr_towers_train_infonce(const float *U, size_t P, const float *V, size_t K, size_t D,
                        const lr_train_pair *pairs, size_t n_pairs, float tau, float eps,
                        const float *col_shift, float *logits, float *scratch, float *dU, float *dV) {
    float inv_tau = 1.0f / tau;
    /* logits (P,K) = U V^T / tau - col_shift */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)K, (int)D, inv_tau, U,
                (int)D, V, (int)D, 0.0f, logits, (int)K);
    for (size_t r = 0; col_shift && r < P; r++)
        for (size_t j = 0; j < K; j++) logits[r * K + j] -= col_shift[j];
    double wsum = 0.0, loss = 0.0;
    for (size_t i = 0; i < n_pairs; i++) wsum += pairs[i].w;
    if (wsum <= 0.0) wsum = 1.0;
    float *rowmass = scratch, *lse = scratch + P; /* per-row total weight, log-sum-exp */
    memset(rowmass, 0, P * sizeof *rowmass);
    for (size_t i = 0; i < n_pairs; i++) rowmass[pairs[i].row] += pairs[i].w;
    /* loss = sum of w * (lse[row] - eps mean[row] - (1 - eps) logit[row, col]): the targets'
     * logits now, before the softmax overwrites them */
    for (size_t i = 0; i < n_pairs; i++)
        loss -= (1.0 - eps) * pairs[i].w * logits[pairs[i].row * K + pairs[i].col];
    /* dlogits = (rowmass (softmax - eps / K) - (1 - eps) sum of w * onehot) / wsum, before the
     * 1/tau; one exp per logit, rows in parallel (this was a serial tenth of a step at 4,385
     * items). lse keeps lse - eps mean, the row's part of the loss. */
#pragma omp parallel for schedule(static) if (P * K > 65536)
    for (size_t r = 0; r < P; r++) {
        float *l = logits + r * K, mx = -INFINITY;
        double sum = 0.0, lsum = 0.0;
        for (size_t j = 0; j < K; j++) {
            mx = l[j] > mx ? l[j] : mx;
            lsum += l[j];
        }
        for (size_t j = 0; j < K; j++) sum += (l[j] = expf(l[j] - mx));
        lse[r] = mx + (float)log(sum) - (float)(eps * lsum / (double)K);
        float scale = (float)(rowmass[r] / wsum / sum), uniform = (float)(rowmass[r] / wsum * eps / (double)K);
        for (size_t j = 0; j < K; j++) l[j] = l[j] * scale - uniform;
    }
    for (size_t i = 0; i < n_pairs; i++) loss += pairs[i].w * lse[pairs[i].row];
    for (size_t i = 0; i < n_pairs; i++)
        logits[pairs[i].row * K + pairs[i].col] -= (float)((1.0 - eps) * pairs[i].w / wsum);
    /* dU (P,D) = dlogits (P,K) V (K,D) / tau; dV (K,D) = dlogits^T U / tau */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)P, (int)D, (int)K, inv_tau,
                logits, (int)K, V, (int)D, 0.0f, dU, (int)D);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)D, (int)P, inv_tau,
                logits, (int)K, U, (int)D, 0.0f, dV, (int)D);
    return loss / wsum;
}
