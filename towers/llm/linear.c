/* Linear layers, out = X W^T, on OpenBLAS's sgemm. Weights stored as float32 go to sgemm straight
 * from the file's mapping; float16 / bfloat16 weights are widened a panel of rows at a time into
 * per-call scratch just before their product, so a call never holds more than one panel of
 * float32 weights. A panel of PANEL_FLOATS (16 MB) keeps the product's shape large (at least
 * 4M / 4096 = 1024 output columns on a 7B model), so widening costs O(rows * cols) against the
 * product's O(T * rows * cols). */
#include <assert.h>
#include <stdint.h>

#include <cblas.h>

#include "model_internal.h"

#define PANEL_FLOATS ((size_t)1 << 22)

int llm_mat_in_place(const llm_mat *w) {
    return w->dtype == LR_DATA_ST_F32 && (uintptr_t)w->data % sizeof(float) == 0;
}

/* On the calling thread: an OpenMP team woken between two sgemm calls spins on the cores
 * OpenBLAS's threads need next (a bfloat16 model ran 25% slower that way on 2 cores), while
 * widening takes about 1 ns per weight against the 2 * T flops each weight costs in the product. */
void llm_mat_widen_rows(const llm_mat *w, size_t r0, size_t n, float *dst) {
    size_t elem = w->dtype == LR_DATA_ST_F32 ? 4 : 2, end = (r0 + n) * w->cols;
    lr_data_st_view v = {NULL, w->dtype, 1, {end}, end, w->data, end * elem};
    /* The view was checked at load (float dtype, range within the tensor): cannot fail. */
    (void)lr_data_st_widen(&v, r0 * w->cols, n * w->cols, dst, NULL);
}

/* Rows per panel of a (rows, cols) matrix: as many as PANEL_FLOATS holds, spread evenly over the
 * panels (no thin last product), rounded up to 16; at most PANEL_FLOATS + 16 cols floats. */
static size_t panel_rows(size_t rows, size_t cols) {
    size_t fit = PANEL_FLOATS / cols ? PANEL_FLOATS / cols : 1;
    size_t panels = (rows + fit - 1) / fit, per = (rows + panels - 1) / panels;
    per = (per + 15) / 16 * 16;
    return per < rows ? per : rows;
}

size_t llm_panel_floats(size_t cols) {
    return cols ? PANEL_FLOATS + 16 * cols : 0;
}

void llm_linear(float *out, size_t ldc, float beta, const float *X, size_t lda, size_t T,
                const llm_mat *W, float *panel, size_t panel_cap) {
    size_t K = W->cols;
    if (llm_mat_in_place(W)) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)W->rows, (int)K, 1.0f,
                    X, (int)lda, (const float *)W->data, (int)K, beta, out, (int)ldc);
        return;
    }
    size_t per = panel_rows(W->rows, K);
    assert(per * K <= panel_cap); /* llm_panel_floats sized it for the widest matrix */
    (void)panel_cap;
    for (size_t r = 0; r < W->rows; r += per) {
        size_t n = W->rows - r < per ? W->rows - r : per;
        llm_mat_widen_rows(W, r, n, panel);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)n, (int)K, 1.0f, X,
                    (int)lda, panel, (int)K, beta, out + r, (int)ldc);
    }
}
