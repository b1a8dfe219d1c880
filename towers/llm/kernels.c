/* The element-wise layers of the decoder: RMSNorm, SwiGLU, bias. Each is O(T * width), small
 * next to the matrix products, so they run on the calling thread (no OpenMP region to wake
 * between two sgemm calls). */
#include <math.h>

#include "model_internal.h"

/* As transformers' LlamaRMSNorm: the mean of squares in float32 precision (here accumulated in
 * double, then rounded), rsqrt, times x, times weight. */
void llm_rmsnorm(float *out, const float *x, const float *w, size_t T, size_t C, float eps) {
    for (size_t t = 0; t < T; t++) {
        const float *xt = x + t * C;
        float *ot = out + t * C;
        double ss = 0;
        for (size_t c = 0; c < C; c++) ss += (double)xt[c] * xt[c];
        float var = (float)(ss / (double)C);
        float r = 1.0f / sqrtf(var + eps);
        for (size_t c = 0; c < C; c++) ot[c] = w[c] * (xt[c] * r);
    }
}

/* silu(g) * u, silu(g) = g * sigmoid(g) as torch computes it in float32. */
void llm_swiglu(float *gu, size_t ld, size_t T, size_t F) {
    for (size_t t = 0; t < T; t++) {
        float *g = gu + t * ld, *u = g + F;
        for (size_t i = 0; i < F; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

void llm_add_bias(float *out, size_t ld, const float *b, size_t T, size_t n) {
    for (size_t t = 0; t < T; t++)
        for (size_t i = 0; i < n; i++) out[t * ld + i] += b[i];
}
