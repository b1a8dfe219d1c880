/* Rotary position embeddings as transformers computes them: the inverse frequencies of
 * modeling_rope_utils.py (default, linear, llama3), step by step in float32 as its tensors are,
 * the cos / sin tables of the rotary embedding's forward (inv_freq * position rounded to float32,
 * then cos and sin), and apply_rotary_pos_emb's rotate_half pairing of i with i + head_dim / 2. */
#include <math.h>

#include "model_internal.h"

/* torch evaluates `s / t` for a Python scalar s as reciprocal(t) * s, both rounded to float32. */
static float rdiv(double s, float t) {
    return (1.0f / t) * (float)s;
}

/* _compute_llama3_parameters: long wavelengths slowed by factor, short ones kept, a smooth blend
 * between them. */
static float llama3(const llm_rope *r, float inv) {
    float factor = (float)r->factor, low = (float)r->low_freq_factor;
    float old_len = (float)r->original_max_positions;
    float low_wavelen = (float)(r->original_max_positions / r->low_freq_factor);
    float high_wavelen = (float)(r->original_max_positions / r->high_freq_factor);
    float wavelen = rdiv(2 * M_PI, inv);
    float scaled = wavelen > low_wavelen ? inv / factor : inv;
    if (wavelen < high_wavelen || wavelen > low_wavelen) return scaled;
    float smooth = (rdiv(old_len, wavelen) - low) / (float)(r->high_freq_factor - r->low_freq_factor);
    return (1.0f - smooth) * scaled / factor + smooth * scaled;
}

void llm_rope_inv_freq(const llm_rope *r, size_t head_dim, float *inv_freq) {
    float base = (float)r->theta;
    for (size_t i = 0; i < head_dim / 2; i++) {
        float e = (float)(2 * i) / (float)head_dim;
        float inv = rdiv(1.0, powf(base, e));
        if (r->type == LLM_ROPE_LINEAR) inv /= (float)r->factor;
        else if (r->type == LLM_ROPE_LLAMA3) inv = llama3(r, inv);
        inv_freq[i] = inv;
    }
}

void llm_rope_tables(const float *inv_freq, size_t half, size_t n_pos, float *cos_t, float *sin_t) {
    for (size_t p = 0; p < n_pos; p++)
        for (size_t i = 0; i < half; i++) {
            float f = inv_freq[i] * (float)p; /* the float32 product of transformers' matmul */
            cos_t[p * half + i] = (float)cos((double)f);
            sin_t[p * half + i] = (float)sin((double)f);
        }
}

/* q * cos + rotate_half(q) * sin, rotate_half(q) = (-q[half:], q[:half]). */
void llm_rope_apply(float *x, size_t n_heads, size_t head_dim, const float *cos_t,
                    const float *sin_t) {
    size_t half = head_dim / 2;
    for (size_t h = 0; h < n_heads; h++) {
        float *a = x + h * head_dim, *b = a + half;
        for (size_t i = 0; i < half; i++) {
            float x1 = a[i], x2 = b[i];
            a[i] = x1 * cos_t[i] - x2 * sin_t[i];
            b[i] = x2 * cos_t[i] + x1 * sin_t[i];
        }
    }
}
