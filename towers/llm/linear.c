/* Linear layers, out = X W^T, on OpenBLAS's sgemm. Weights stored as float32 go to sgemm straight
 * from the file's mapping; float16 / bfloat16 weights are widened a panel of rows at a time into
 * per-call scratch just before their product, so a call never holds more than one panel of
 * float32 weights. A panel of PANEL_FLOATS (16 MB) keeps the product's shape large (at least
 * 4M / 4096 = 1024 output columns on a 7B model), so widening costs O(rows * cols) against the
 * product's O(T * rows * cols). */
#include <stdint.h>

#include <cblas.h>

#include "model_internal.h"

#define PANEL_FLOATS ((size_t)1 << 22)

int llm_mat_in_place(const llm_mat *w) {
    return w->dtype == LR_DATA_ST_F32 && (uintptr_t)w->data % sizeof(float) == 0;
}

/* Chunks of this many elements are widened by one OpenMP thread each. */
#define WIDEN_CHUNK ((size_t)1 << 16)

void llm_mat_widen_rows(const llm_mat *w, size_t r0, size_t n, float *dst) {
    size_t elem = w->dtype == LR_DATA_ST_F32 ? 4 : 2, first = r0 * w->cols, count = n * w->cols;
    lr_data_st_view v = {NULL, w->dtype, 1, {first + count}, first + count, w->data,
                         (first + count) * elem};
    size_t chunks = (count + WIDEN_CHUNK - 1) / WIDEN_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (size_t c = 0; c < chunks; c++) {
        size_t at = c * WIDEN_CHUNK, k = count - at < WIDEN_CHUNK ? count - at : WIDEN_CHUNK;
        /* The view was checked at load (float dtype, range within the tensor): cannot fail. */
        (void)lr_data_st_widen(&v, first + at, k, dst + at, NULL);
    }
}

size_t llm_panel_floats(size_t cols) {
    if (!cols) return 0;
    return cols > PANEL_FLOATS ? cols : PANEL_FLOATS / cols * cols;
}

void llm_linear(float *out, size_t ldc, float beta, const float *X, size_t lda, size_t T,
                const llm_mat *W, float *panel, size_t panel_cap) {
    size_t K = W->cols;
    if (llm_mat_in_place(W)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)W->rows, (int)K, 1.0f,
                    X, (int)lda, (const float *)W->data, (int)K, beta, out, (int)ldc);
        return;
    }
    size_t per = panel_cap / K; /* >= 1: the panel was sized for the widest matrix */
    for (size_t r = 0; r < W->rows; r += per) {
        size_t n = W->rows - r < per ? W->rows - r : per;
        llm_mat_widen_rows(W, r, n, panel);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)n, (int)K, 1.0f, X,
                    (int)lda, panel, (int)K, beta, out + r, (int)ldc);
    }
}
