/* Causal grouped-query self-attention over packed sequences: each sequence attends only to its
 * own earlier tokens. One (sequence, head) pair is one task of an OpenMP loop; within it each
 * query row takes its scores against the head's transposed keys (a vector loop over keys),
 * softmax in float32 with the maximum subtracted, and the weighted sum of values. Only the causal
 * half of the scores is computed: sgemm on the full square would do twice the work and leave the
 * softmax to a second pass. */
#include <math.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "model_internal.h"

size_t llm_attention_floats(size_t max_len, size_t D) {
    return max_len * D + max_len;
}

/* Query i's probabilities over keys [lo, i] into p[lo .. i]: scaled scores, softmax. */
static void scores(float *restrict p, const float *restrict q, const float *restrict kt, size_t L,
                   size_t lo, size_t i, size_t D, float scale) {
    for (size_t j = lo; j <= i; j++) p[j] = 0;
    for (size_t d = 0; d < D; d++) {
        const float qd = q[d], *restrict kd = kt + d * L;
#pragma omp simd
        for (size_t j = lo; j <= i; j++) p[j] += qd * kd[j];
    }
    float mx = -INFINITY;
    for (size_t j = lo; j <= i; j++) {
        p[j] *= scale;
        mx = p[j] > mx ? p[j] : mx;
    }
    float sum = 0;
    for (size_t j = lo; j <= i; j++) sum += (p[j] = expf(p[j] - mx));
    for (size_t j = lo; j <= i; j++) p[j] /= sum;
}

/* One head of one sequence of L tokens: q, k, v rows with stride ld, o rows with stride ldo.
 * kt: D * L floats, p: L floats. */
static void attend(float *o, size_t ldo, const float *q, const float *k, const float *v, size_t ld,
                   size_t L, size_t D, float scale, size_t window, float *restrict kt,
                   float *restrict p) {
    for (size_t j = 0; j < L; j++)
        for (size_t d = 0; d < D; d++) kt[d * L + j] = k[j * ld + d];
    for (size_t i = 0; i < L; i++) {
        size_t lo = window && i >= window ? i + 1 - window : 0;
        scores(p, q + i * ld, kt, L, lo, i, D, scale);
        float *restrict oi = o + i * ldo;
        for (size_t d = 0; d < D; d++) oi[d] = 0;
        for (size_t j = lo; j <= i; j++) {
            const float pj = p[j], *restrict vj = v + j * ld;
#pragma omp simd
            for (size_t d = 0; d < D; d++) oi[d] += pj * vj[d];
        }
    }
}

void llm_attention(float *att, const float *qkv, size_t ld, const size_t *start,
                   const size_t *len, size_t n_seq, size_t H, size_t KV, size_t D, size_t window,
                   float *work, size_t n_work) {
    size_t group = H / KV, n_tasks = n_seq * H, max_len = 0;
    for (size_t s = 0; s < n_seq; s++) max_len = len[s] > max_len ? len[s] : max_len;
    size_t per = llm_attention_floats(max_len, D);
    float scale = (float)(1.0 / sqrt((double)D)); /* head_dim ** -0.5, as transformers */
    (void)n_work; /* read by the pragma only */
#pragma omp parallel for schedule(dynamic, 1) num_threads((int)n_work)
    for (size_t task = 0; task < n_tasks; task++) {
        size_t s = task / H, h = task % H, g = h / group;
        if (!len[s]) continue;
#ifdef _OPENMP
        float *kt = work + (size_t)omp_get_thread_num() * per;
#else
        float *kt = work;
#endif
        const float *base = qkv + start[s] * ld;
        attend(att + start[s] * (H * D) + h * D, H * D, base + h * D, base + (H + g) * D,
               base + (H + KV + g) * D, ld, len[s], D, scale, window, kt, kt + len[s] * D);
    }
}
