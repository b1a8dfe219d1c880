/* Causal grouped-query self-attention over packed sequences: each sequence attends only to its
 * own earlier tokens. For one (sequence, head), a block of BLOCK queries takes its scores against
 * the keys it may see with one sgemm, a causal softmax in float32 (maximum subtracted) on the
 * calling thread, and its output with a second sgemm written straight into the head's columns.
 *
 * Why sgemm and not an OpenMP loop over (sequence, head): hand-written loops reached a few
 * GFLOP/s against sgemm's tens, so at 512 tokens attention took a third of the forward pass; and
 * an OpenMP team woken between OpenBLAS calls spins on the cores OpenBLAS's threads need next.
 * The cost: each block also computes the scores of keys after its first query (at most BLOCK - 1
 * per row), which the mask then drops. */
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "model_internal.h"

#define BLOCK 128

size_t llm_attention_floats(size_t max_len) {
    return (max_len < BLOCK ? max_len : BLOCK) * max_len;
}

/* Row i of s (n scores of keys k0 .. k0 + n - 1) for query q: softmax over keys [lo, q], zero
 * elsewhere. The scores arrive scaled. */
static void softmax_row(float *s, size_t n, size_t k0, size_t lo, size_t q) {
    size_t a = lo - k0, b = q - k0 + 1; /* the visible range within the row */
    float mx = -INFINITY, sum = 0;
    for (size_t j = a; j < b; j++) mx = s[j] > mx ? s[j] : mx;
    for (size_t j = a; j < b; j++) sum += (s[j] = expf(s[j] - mx));
    for (size_t j = a; j < b; j++) s[j] /= sum;
    memset(s, 0, a * sizeof *s);
    memset(s + b, 0, (n - b) * sizeof *s);
}

/* One head of one sequence of L tokens: q, k, v rows with stride ld, o rows with stride ldo.
 * s: llm_attention_floats(L) floats. */
static void attend(float *o, size_t ldo, const float *q, const float *k, const float *v, size_t ld,
                   size_t L, size_t D, float scale, size_t window, float *s) {
    for (size_t q0 = 0; q0 < L; q0 += BLOCK) {
        size_t q1 = q0 + BLOCK < L ? q0 + BLOCK : L, bq = q1 - q0;
        size_t k0 = window && q0 >= window ? q0 + 1 - window : 0, n = q1 - k0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bq, (int)n, (int)D, scale,
                    q + q0 * ld, (int)ld, k + k0 * ld, (int)ld, 0.0f, s, (int)n);
        for (size_t i = q0; i < q1; i++) {
            size_t lo = window && i >= window ? i + 1 - window : 0;
            softmax_row(s + (i - q0) * n, n, k0, lo, i);
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)bq, (int)D, (int)n, 1.0f, s,
                    (int)n, v + k0 * ld, (int)ld, 0.0f, o + q0 * ldo, (int)ldo);
    }
}

void llm_attention(float *att, const float *qkv, size_t ld, const size_t *start,
                   const size_t *len, size_t n_seq, size_t H, size_t KV, size_t D, size_t window,
                   float *work) {
    size_t group = H / KV;
    float scale = (float)(1.0 / sqrt((double)D)); /* head_dim ** -0.5, as transformers */
    for (size_t s = 0; s < n_seq; s++) {
        if (!len[s]) continue;
        const float *base = qkv + start[s] * ld;
        for (size_t h = 0; h < H; h++) {
            size_t g = h / group; /* transformers' repeat_kv: heads h*group .. share kv head g */
            attend(att + start[s] * (H * D) + h * D, H * D, base + h * D, base + (H + g) * D,
                   base + (H + KV + g) * D, ld, len[s], D, scale, window, work);
        }
    }
}
