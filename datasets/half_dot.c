/* Dot products against float16 rows kept as they are in memory: what re-scoring reads when a
 * version's vectors are float16, one row per candidate. F16C widens eight values an instruction;
 * CPUs without it take the exact scalar conversion. */
#include <stddef.h>
#include <stdint.h>

#include <immintrin.h>

#include "lr_data.h"

__attribute__((target("avx2,fma,f16c"))) static float half_dot_f16c(const float *q, const uint16_t *h, size_t dim) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 16 <= dim; j += 16) { /* two chains: an FMA's latency is four of its issue slots */
        __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + j)));
        __m256 v1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + j + 8)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), v0, a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8), v1, a1);
    }
    for (; j + 8 <= dim; j += 8) {
        __m256 v = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(h + j)));
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), v, a0);
    }
    __m256 a = _mm256_add_ps(a0, a1);
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    float sum = _mm_cvtss_f32(s);
    for (; j < dim; j++) sum += q[j] * lr_data_half_to_float(h[j]);
    return sum;
}

static float half_dot_scalar(const float *q, const uint16_t *h, size_t dim) {
    float sum = 0.0f;
    for (size_t j = 0; j < dim; j++) sum += q[j] * lr_data_half_to_float(h[j]);
    return sum;
}

float lr_data_half_dot(const float *q, const uint16_t *h, size_t dim) {
    /* __builtin_cpu_supports reads what the runtime's start-up code found: no state of ours.
     * Every CPU with AVX2 has F16C (it came a generation before), and clang cannot ask for F16C
     * by name */
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return half_dot_f16c(q, h, dim);
    return half_dot_scalar(q, h, dim);
}
