/* The PAL transformer's layers: linear, layer norm, causal attention, L2 norm, dropout (GELU is in gelu.c). */
#include <assert.h>
#include <math.h>
#include <string.h>

#include <cblas.h>

#include "layers_internal.h"

/* Below this many rows sgemv per row beats sgemm, which packs the whole weight matrix first:
 * measured on the serving path, where the last layer runs on one row per user. */
#define GEMV_MAX_ROWS 4

/* out (N, n) at stride ldo = a (N, k) at stride lda times b (k, n) [b_trans: b (n, k)], both at
 * stride ldb; beta 1 adds to out. sgemv per row for the few rows of the serving path. */
static void small_matmul(float *out, size_t ldo, const float *a, size_t lda, const float *b, size_t ldb,
                         int b_trans, size_t N, size_t k, size_t n, float beta) {
    if (N <= GEMV_MAX_ROWS) {
        for (size_t i = 0; i < N; i++)
            cblas_sgemv(CblasRowMajor, b_trans ? CblasNoTrans : CblasTrans, (int)(b_trans ? n : k),
                        (int)(b_trans ? k : n), 1.0f, b, (int)ldb, a + i * lda, 1, beta, out + i * ldo, 1);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, b_trans ? CblasTrans : CblasNoTrans, (int)N, (int)n,
                (int)k, 1.0f, a, (int)lda, b, (int)ldb, beta, out, (int)ldo);
}

void lr_towers_linear_forward(float *out, const float *inp, const float *w, const float *b, size_t N,
                       size_t C, size_t OC) {
    if (N == 0) return;
    if (b) {
        for (size_t i = 0; i < N; i++) memcpy(out + i * OC, b, OC * sizeof *out);
    }
    small_matmul(out, OC, inp, C, w, C, 1, N, C, OC, b ? 1.0f : 0.0f);
}

void lr_towers_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                        const float *w, size_t N, size_t C, size_t OC) {
    if (N == 0) return;
    if (dinp) /* dinp (N,C) += dout (N,OC) w (OC,C) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)N, (int)C, (int)OC, 1.0f, dout,
                    (int)OC, w, (int)C, 1.0f, dinp, (int)C);
    /* dw (OC,C) += dout^T (OC,N) inp (N,C) */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)OC, (int)C, (int)N, 1.0f, dout,
                (int)OC, inp, (int)C, 1.0f, dw, (int)C);
    if (db)
        for (size_t i = 0; i < N; i++)
            for (size_t o = 0; o < OC; o++) db[o] += dout[i * OC + o];
}

#define LN_EPS 1e-5f

void lr_towers_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                          const float *b, size_t N, size_t C) {
    for (size_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        float m = 0.0f, v = 0.0f;
        for (size_t j = 0; j < C; j++) m += x[j];
        m /= (float)C;
        for (size_t j = 0; j < C; j++) v += (x[j] - m) * (x[j] - m);
        v /= (float)C;
        float s = 1.0f / sqrtf(v + LN_EPS);
        float *o = out + i * C;
        for (size_t j = 0; j < C; j++) o[j] = (x[j] - m) * s * w[j] + b[j];
        mean[i] = m;
        rstd[i] = s;
    }
}

void lr_towers_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                           const float *w, const float *mean, const float *rstd, size_t N,
                           size_t C) {
    for (size_t i = 0; i < N; i++) {
        const float *dy = dout + i * C, *x = inp + i * C;
        float m = mean[i], s = rstd[i];
        /* two reductions for the input gradient, as in llm.c's layernorm_backward */
        float dnorm_mean = 0.0f, dnorm_norm_mean = 0.0f;
        for (size_t j = 0; j < C; j++) {
            float norm = (x[j] - m) * s, dnorm = w[j] * dy[j];
            dnorm_mean += dnorm;
            dnorm_norm_mean += dnorm * norm;
        }
        dnorm_mean /= (float)C;
        dnorm_norm_mean /= (float)C;
        float *dx = dinp + i * C;
        for (size_t j = 0; j < C; j++) {
            float norm = (x[j] - m) * s, dnorm = w[j] * dy[j];
            db[j] += dy[j];
            dw[j] += norm * dy[j];
            dx[j] += (dnorm - dnorm_mean - norm * dnorm_norm_mean) * s;
        }
    }
}

/* Sequences are short (at most the history length), so attention is plain loops per sequence
 * and head; the products that dominate (projections, MLP) go through sgemm elsewhere. */
void lr_towers_attention_forward(float *out, float *att, const float *qkv, const size_t *seq_off,
                          const size_t *att_off, size_t S, size_t H, size_t NH) {
    size_t hs = H / NH;
    float scale = 1.0f / sqrtf((float)hs);
    assert(hs * NH == H);
    /* sequences write disjoint rows of out and att: one thread each */
#pragma omp parallel for schedule(dynamic, 8)
    for (size_t s = 0; s < S; s++) {
        size_t t0 = seq_off[s], T = seq_off[s + 1] - t0;
        for (size_t h = 0; h < NH; h++) {
            float *a = att + att_off[s] + h * T * T;
            for (size_t t = 0; t < T; t++) {
                const float *q = qkv + (t0 + t) * 3 * H + h * hs;
                float *row = a + t * T, maxv = -INFINITY;
                for (size_t u = 0; u <= t; u++) {
                    const float *k = qkv + (t0 + u) * 3 * H + H + h * hs;
                    float dot = 0.0f;
                    for (size_t i = 0; i < hs; i++) dot += q[i] * k[i];
                    row[u] = dot * scale;
                    if (row[u] > maxv) maxv = row[u];
                }
                float sum = 0.0f;
                for (size_t u = 0; u <= t; u++) {
                    row[u] = expf(row[u] - maxv);
                    sum += row[u];
                }
                for (size_t u = 0; u <= t; u++) row[u] /= sum;
                for (size_t u = t + 1; u < T; u++) row[u] = 0.0f; /* future: masked */
                float *o = out + (t0 + t) * H + h * hs;
                memset(o, 0, hs * sizeof *o);
                for (size_t u = 0; u <= t; u++) {
                    const float *v = qkv + (t0 + u) * 3 * H + 2 * H + h * hs;
                    for (size_t i = 0; i < hs; i++) o[i] += row[u] * v[i];
                }
            }
        }
    }
}

void lr_towers_attention_backward(float *dqkv, float *datt, const float *dout, const float *qkv,
                           const float *att, const size_t *seq_off, const size_t *att_off,
                           size_t S, size_t H, size_t NH) {
    size_t hs = H / NH;
    float scale = 1.0f / sqrtf((float)hs);
    /* a sequence's gradients stay within its own rows of dqkv and datt */
#pragma omp parallel for schedule(dynamic, 8)
    for (size_t s = 0; s < S; s++) {
        size_t t0 = seq_off[s], T = seq_off[s + 1] - t0;
        for (size_t h = 0; h < NH; h++) {
            const float *a = att + att_off[s] + h * T * T;
            float *da = datt + att_off[s] + h * T * T;
            for (size_t t = 0; t < T; t++) {
                const float *row = a + t * T, *dy = dout + (t0 + t) * H + h * hs;
                float *drow = da + t * T;
                /* through out = sum_u p_u v_u */
                for (size_t u = 0; u <= t; u++) {
                    const float *v = qkv + (t0 + u) * 3 * H + 2 * H + h * hs;
                    float *dv = dqkv + (t0 + u) * 3 * H + 2 * H + h * hs;
                    float d = 0.0f;
                    for (size_t i = 0; i < hs; i++) {
                        d += dy[i] * v[i];
                        dv[i] += row[u] * dy[i];
                    }
                    drow[u] = d;
                }
                /* through the softmax: dscore_u = p_u (dp_u - sum_w p_w dp_w) */
                float dot = 0.0f;
                for (size_t u = 0; u <= t; u++) dot += row[u] * drow[u];
                const float *q = qkv + (t0 + t) * 3 * H + h * hs;
                float *dq = dqkv + (t0 + t) * 3 * H + h * hs;
                for (size_t u = 0; u <= t; u++) {
                    float ds = row[u] * (drow[u] - dot) * scale;
                    const float *k = qkv + (t0 + u) * 3 * H + H + h * hs;
                    float *dk = dqkv + (t0 + u) * 3 * H + H + h * hs;
                    for (size_t i = 0; i < hs; i++) {
                        dq[i] += ds * k[i];
                        dk[i] += ds * q[i];
                    }
                }
            }
        }
    }
}

void lr_towers_attention_last_forward(float *out, const float *q, const float *ln, const float *wk,
                               const float *wv, const float *bv, float *fold, float *scratch,
                               const size_t *last, size_t P, size_t H, size_t NH) {
    size_t hs = H / NH, W = NH * H; /* u and z rows: one H-wide slice per head */
    float scale = 1.0f / sqrtf((float)hs), *u = fold, *z = fold + P * W;
    for (size_t h = 0; h < NH; h++) /* u[s][h] = Wk_h^T q[s][h] */
        small_matmul(u + h * H, W, q + h * hs, H, wk + h * hs * H, H, 0, P, hs, H, 0.0f);
#pragma omp parallel for schedule(dynamic, 8)
    for (size_t s = 0; s < P; s++) {
        size_t t0 = s ? last[s - 1] + 1 : 0, T = last[s] + 1 - t0;
        float *w = scratch + t0; /* this sequence's own stretch of the scratch */
        const float *x = ln + t0 * H; /* this sequence's tokens, (T,H) */
        for (size_t h = 0; h < NH; h++) {
            float maxv = -INFINITY, sum = 0.0f;
            /* w = scale * x u_h, then softmax, then z_h = x^T w */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)T, (int)H, scale, x, (int)H, u + s * W + h * H, 1,
                        0.0f, w, 1);
            for (size_t t = 0; t < T; t++) maxv = w[t] > maxv ? w[t] : maxv;
            for (size_t t = 0; t < T; t++) sum += (w[t] = expf(w[t] - maxv));
            for (size_t t = 0; t < T; t++) w[t] /= sum;
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)T, (int)H, 1.0f, x, (int)H, w, 1, 0.0f,
                        z + s * W + h * H, 1);
        }
    }
    for (size_t s = 0; s < P; s++) memcpy(out + s * H, bv, H * sizeof *out);
    for (size_t h = 0; h < NH; h++) /* out[s][h] = Wv_h z[s][h] + bv_h */
        small_matmul(out + h * hs, H, z + h * H, W, wv + h * hs * H, H, 1, P, H, hs, 1.0f);
}

void lr_towers_l2norm_forward(float *out, float *norm, const float *inp, size_t N, size_t C) {
    for (size_t i = 0; i < N; i++) {
        double s = 0.0;
        for (size_t j = 0; j < C; j++) s += (double)inp[i * C + j] * inp[i * C + j];
        float n = (float)sqrt(s);
        norm[i] = n;
        float inv = n > 0.0f ? 1.0f / n : 0.0f;
        for (size_t j = 0; j < C; j++) out[i * C + j] = inp[i * C + j] * inv;
    }
}

/* y = x/|x|: dx = (dy - y (y . dy)) / |x| */
void lr_towers_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                        size_t N, size_t C) {
    for (size_t i = 0; i < N; i++) {
        if (norm[i] <= 0.0f) continue;
        const float *y = out + i * C, *dy = dout + i * C;
        float d = 0.0f;
        for (size_t j = 0; j < C; j++) d += y[j] * dy[j];
        float inv = 1.0f / norm[i];
        for (size_t j = 0; j < C; j++) dinp[i * C + j] += (dy[j] - y[j] * d) * inv;
    }
}

float lr_towers_rand_uniform(uint64_t *state) {
    /* splitmix64 step: cheap, and one 64-bit state per thread keeps runs repeatable */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return (float)(z >> 40) * (1.0f / 16777216.0f);
}

void lr_towers_dropout_forward(float *out, float *mask, const float *inp, size_t n, float p,
                        uint64_t *rng) {
    float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < n; i++) {
        mask[i] = lr_towers_rand_uniform(rng) < p ? 0.0f : keep;
        out[i] = inp[i] * mask[i];
    }
}

void lr_towers_dropout_backward(float *dinp, const float *dout, const float *mask, size_t n) {
    for (size_t i = 0; i < n; i++) dinp[i] += dout[i] * mask[i];
}
