/* GELU, tanh-approximated as in GPT-2, over flat buffers. This file is compiled with
 * -fno-trapping-math (towers/CMakeLists.txt): the clamp of the tanh approximation is a float
 * comparison, which GCC otherwise will not turn into a vector select, and no code here relies
 * on floating-point traps. */
#include <stddef.h>

#include "layers_internal.h"

#define GELU_SCALE 0.7978845608028654f /* sqrt(2/pi) */

/* tanh as Eigen's rational approximation (degree 13 over 6, clamped where tanh is 1 in float):
 * within 3.7e-7 of tanh everywhere and within 4e-7 relative near 0. Unlike expf, which is a call
 * per element, it vectorises: GELU's forward and backward were 19% of a training step through
 * expf, and tanhf before that a fifth of it. */
static inline float tanh_rational(float x) {
    const float clamp = 7.90531110763549805f;
    x = x > clamp ? clamp : x;
    x = x < -clamp ? -clamp : x;
    float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return p * x / q;
}

/* One thread's share; compiled for AVX2 and for the baseline, chosen at load time. */
__attribute__((target_clones("avx2", "default"))) static void gelu_forward_span(float *out, const float *inp,
                                                                                size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], cube = 0.044715f * x * x * x;
        out[i] = 0.5f * x * (1.0f + tanh_rational(GELU_SCALE * (x + cube)));
    }
}

__attribute__((target_clones("avx2", "default"))) static void gelu_backward_span(float *dinp, const float *inp,
                                                                                 const float *dout, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], cube = 0.044715f * x * x * x;
        float t = tanh_rational(GELU_SCALE * (x + cube));
        float sech2 = 1.0f - t * t;
        float grad = 0.5f * (1.0f + t) + 0.5f * x * sech2 * GELU_SCALE * (1.0f + 3.0f * 0.044715f * x * x);
        dinp[i] += grad * dout[i];
    }
}

/* Below this many elements a second thread costs more than it saves. */
#define GELU_PARALLEL_MIN 65536
#define GELU_CHUNK 16384

void lr_towers_gelu_forward(float *out, const float *inp, size_t n) {
#pragma omp parallel for schedule(static) if (n > GELU_PARALLEL_MIN)
    for (size_t c = 0; c < n; c += GELU_CHUNK)
        gelu_forward_span(out + c, inp + c, n - c < GELU_CHUNK ? n - c : GELU_CHUNK);
}

void lr_towers_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n) {
#pragma omp parallel for schedule(static) if (n > GELU_PARALLEL_MIN)
    for (size_t c = 0; c < n; c += GELU_CHUNK)
        gelu_backward_span(dinp + c, inp + c, dout + c, n - c < GELU_CHUNK ? n - c : GELU_CHUNK);
}
