/* learnrec's own scan of an IVF index's 8-bit scalar codes (inner product).
 *
 * Why not FAISS's: its 1.7.3 scanner decodes each code to floats and runs one chain of fused
 * multiply-adds per code (65% of a query's time on the towers' 1M set, issue 15 item 7). A code's
 * inner product with q is affine in the code bytes:
 *     <q, decode(c)> = sum_d q_d vmin_d + sum_d q_d vdiff_d (c_d + 0.5) / 255
 *                    = bias + sum_d w_d c_d,    w_d = q_d vdiff_d / 255
 * so the scan is an integer dot product of the bytes with w rounded to 16 bits (AVX2's
 * multiply-add of 16-bit pairs, four codes at a time). The rounding is 100 times smaller than
 * the codes' own quantization (see weights()), so rankings are FAISS's up to near-ties.
 * Lists are read in place (lr_faiss_ivf_sq8_list); nothing is copied. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define LR_SQ8_X86 1
#endif

#include <faiss/c_api/IndexIVF_c.h>

#include "faiss_shim.h"
#include "index_internal.h"

#define BLOCK 256 /* codes whose dot products are computed before they meet the heap */
#define CHUNK 256 /* queries per coarse search: bounds its arrays whatever nq is */

typedef struct {
    int16_t *w;
    int32_t *dots;
    uint8_t *kept; /* a filtered scan's allowed codes, gathered (BLOCK of them) */
    int64_t *kept_ids;
} scratch;

static void scratch_free(scratch *s) { free(s->w), free(s->dots), free(s->kept), free(s->kept_ids); }

static int scratch_init(scratch *s, size_t dim, int filtered) {
    s->w = malloc(dim * sizeof *s->w);
    s->dots = malloc(BLOCK * sizeof *s->dots);
    s->kept = filtered ? malloc(BLOCK * dim) : NULL;
    s->kept_ids = filtered ? malloc(BLOCK * sizeof *s->kept_ids) : NULL;
    return s->w && s->dots && (!filtered || (s->kept && s->kept_ids));
}

/* w rounded to integers of at most `top` in magnitude, top chosen so that no sum of dim products
 * with bytes (<= 255) overflows 32 bits. Returns the factor that turns an integer dot back into
 * floats (0 when q is 0 along every coded dimension). The rounding error per product is at most
 * 0.5 / scale * 255, against the code's own 0.5 / 255 * vdiff * |q| per dimension. */
static float weights(const float *q, const lr_faiss_sq8 *sq, int16_t *w, float *bias) {
    size_t dim = sq->dim;
    double b = 0, top = 2147483647.0 / (255.0 * (double)dim);
    float maxabs = 0;
    for (size_t d = 0; d < dim; d++) {
        float wd = q[d] * sq->vdiff[d] / 255.0f;
        b += (double)q[d] * (sq->vmin[d] + 0.5 * sq->vdiff[d] / 255.0);
        if (fabsf(wd) > maxabs) maxabs = fabsf(wd);
    }
    *bias = (float)b;
    if (top > 32767) top = 32767;
    if (maxabs == 0) {
        memset(w, 0, dim * sizeof *w);
        return 0;
    }
    float scale = (float)top / maxabs;
    for (size_t d = 0; d < dim; d++) w[d] = (int16_t)lrintf(q[d] * sq->vdiff[d] / 255.0f * scale);
    return 1.0f / scale;
}

static void dots_portable(const uint8_t *codes, size_t n, size_t dim, const int16_t *w, int32_t *out) {
    for (size_t i = 0; i < n; i++) {
        const uint8_t *c = codes + i * dim;
        int32_t acc = 0;
        for (size_t d = 0; d < dim; d++) acc += (int32_t)w[d] * c[d];
        out[i] = acc;
    }
}

#ifdef LR_SQ8_X86
/* dim a multiple of 16: 16 bytes widened to 16-bit lanes, multiplied with w and added in pairs
 * into eight 32-bit sums; four codes at once, their sums reduced together. */
__attribute__((target("avx2"))) static void dots_avx2(const uint8_t *codes, size_t n, size_t dim,
                                                      const int16_t *w, int32_t *out) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint8_t *c = codes + i * dim;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t d = 0; d < dim; d += 16) {
            __m256i wd = _mm256_loadu_si256((const __m256i *)(w + d));
            a0 = _mm256_add_epi32(a0, _mm256_madd_epi16(wd, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + d)))));
            a1 = _mm256_add_epi32(a1, _mm256_madd_epi16(wd, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + dim + d)))));
            a2 = _mm256_add_epi32(a2, _mm256_madd_epi16(wd, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + 2 * dim + d)))));
            a3 = _mm256_add_epi32(a3, _mm256_madd_epi16(wd, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(c + 3 * dim + d)))));
        }
        __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
        __m128i r = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        _mm_storeu_si128((__m128i *)(out + i), r);
    }
    dots_portable(codes + i * dim, n - i, dim, w, out + i);
}
#endif

typedef void (*dots_fn)(const uint8_t *, size_t, size_t, const int16_t *, int32_t *);

static dots_fn pick_dots(size_t dim) {
#ifdef LR_SQ8_X86
    if (dim % 16 == 0 && __builtin_cpu_supports("avx2")) return dots_avx2;
#endif
    (void)dim;
    return dots_portable;
}

/* The caller's filter, asked one of two ways by the share of items it keeps. A broad filter
 * is asked only for codes whose score would enter the best k, after the arithmetic. A strict one
 * is asked first, for every code, and only the allowed codes are gathered and scored: the search
 * then probes many more lists (all of them at 0.1%), and skipping the refused codes' arithmetic
 * is what keeps it fast. On the 1M set (docs/benchmarks.md) scoring first was 1.3x faster at
 * 10% and 1.4x slower at 1%, so the switch sits between, at 1/32. */
#define FILTER_FIRST_BELOW (1.0 / 32)

typedef struct {
    lr_faiss_allows allows; /* NULL: every id */
    const void *ctx;
    int first; /* ask before scoring */
} admit;

/* The block's m codes (ids lid) scored into h; ad: the filter asked of those that would enter. */
static void score_block(const uint8_t *codes, const int64_t *lid, size_t m, size_t dim, dots_fn dots, float base,
                        float inv, const admit *ad, scratch *s, lr_index_topk *h) {
    dots(codes, m, dim, s->w, s->dots);
    for (size_t j = 0; j < m; j++) {
        float sc = base + (float)s->dots[j] * inv;
        if ((h->n < h->k || sc >= h->scores[0]) && (!ad || ad->allows(ad->ctx, lid[j])))
            lr_index_topk_push(h, lid[j], sc);
    }
}

/* Codes of one list the filter allows, BLOCK at a time, copied together and scored. */
static void score_allowed(const uint8_t *codes, const int64_t *lid, size_t n, size_t dim, dots_fn dots,
                          float base, float inv, const admit *ad, scratch *s, lr_index_topk *h) {
    size_t m = 0;
    for (size_t j = 0; j < n; j++) {
        if (!ad->allows(ad->ctx, lid[j])) continue;
        memcpy(s->kept + m * dim, codes + j * dim, dim);
        s->kept_ids[m++] = lid[j];
        if (m == BLOCK) score_block(s->kept, s->kept_ids, m, dim, dots, base, inv, NULL, s, h), m = 0;
    }
    if (m) score_block(s->kept, s->kept_ids, m, dim, dots, base, inv, NULL, s, h);
}

static void scan_query(const FaissIndex *fx, const lr_faiss_sq8 *sq, dots_fn dots, const float *q, size_t k,
                       size_t nprobe, const idx_t *lists, const float *list_dis, const admit *ad, scratch *s,
                       int64_t *ids, float *scores) {
    float bias, inv = weights(q, sq, s->w, &bias);
    lr_index_topk h = {ids, scores, 0, k};
    for (size_t p = 0; p < nprobe; p++) {
        if (lists[p] < 0 || (size_t)lists[p] >= sq->nlist) continue;
        size_t n;
        const uint8_t *codes;
        const int64_t *lid;
        lr_faiss_ivf_sq8_list(fx, (size_t)lists[p], &n, &codes, &lid);
        float base = bias + (sq->by_residual ? list_dis[p] : 0.0f);
        if (ad->allows && ad->first) {
            score_allowed(codes, lid, n, sq->dim, dots, base, inv, ad, s, &h);
            continue;
        }
        for (size_t b0 = 0; b0 < n; b0 += BLOCK) {
            size_t m = n - b0 < BLOCK ? n - b0 : BLOCK;
            score_block(codes + b0 * sq->dim, lid + b0, m, sq->dim, dots, base, inv, ad->allows ? ad : NULL, s, &h);
        }
    }
    lr_index_topk_finish(&h);
}

int lr_index_sq8_scannable(const lr_index *ix) {
    lr_faiss_sq8 sq;
    return ix->ix && lr_faiss_ivf_sq8(ix->ix, &sq) == 0;
}

/* lr_index_sq8_scan with the index's layout already read. */
static int scan_queries(const lr_index *ix, const lr_faiss_sq8 *sq, size_t nq, const float *q, size_t k, size_t nprobe,
                        size_t stride, const idx_t *lists, const float *list_dis, const admit *ad, int64_t *ids,
                        float *scores, lr_err *err) {
    dots_fn dots = pick_dots(sq->dim);
    int failed = 0;
#pragma omp parallel if (nq > 1)
    {
        scratch s;
        int ok = scratch_init(&s, sq->dim, ad->allows && ad->first);
        if (!ok) {
#pragma omp atomic write
            failed = 1;
        }
#pragma omp for schedule(dynamic, 4)
        for (long i = 0; i < (long)nq; i++)
            if (ok)
                scan_query(ix->ix, sq, dots, q + (size_t)i * sq->dim, k, nprobe, lists + (size_t)i * stride,
                           list_dis + (size_t)i * stride, ad, &s, ids + (size_t)i * k, scores + (size_t)i * k);
        scratch_free(&s);
    }
    if (failed) return lr_err_set(err, LR_ENOMEM, "search: out of memory for a %zu-d query's scan", sq->dim);
    return LR_OK;
}

int lr_index_sq8_scan(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe, size_t stride,
                      const idx_t *lists, const float *list_dis, lr_faiss_allows allows, const void *ctx,
                      double share, int64_t *ids, float *scores, lr_err *err) {
    lr_faiss_sq8 sq;
    if (lr_faiss_ivf_sq8(ix->ix, &sq))
        return lr_err_set(err, LR_EUNSUPPORTED, "index '%s' has no 8-bit scalar codes to scan", ix->factory);
    admit ad = {allows, ctx, share < FILTER_FIRST_BELOW};
    return scan_queries(ix, &sq, nq, q, k, nprobe, stride, lists, list_dis, &ad, ids, scores, err);
}

int lr_index_sq8_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                        lr_faiss_allows allows, const void *ctx, double share, int64_t *ids, float *scores,
                        lr_err *err) {
    lr_faiss_sq8 sq;
    if (lr_faiss_ivf_sq8(ix->ix, &sq))
        return lr_err_set(err, LR_EUNSUPPORTED, "index '%s' has no 8-bit scalar codes to scan", ix->factory);
    if (nprobe == 0) nprobe = (size_t)faiss_IndexIVF_nprobe(faiss_IndexIVF_cast(ix->ix));
    if (nprobe > sq.nlist) nprobe = sq.nlist;
    if (nprobe == 0) nprobe = 1;
    admit ad = {allows, ctx, share < FILTER_FIRST_BELOW};
    size_t rows = nq < CHUNK ? nq : CHUNK;
    idx_t *lists = malloc(rows * nprobe * sizeof *lists);
    float *dis = malloc(rows * nprobe * sizeof *dis);
    int rc = lists && dis ? LR_OK : lr_err_set(err, LR_ENOMEM, "search: out of memory for %zu lists per query", nprobe);
    for (size_t c0 = 0; !rc && c0 < nq; c0 += CHUNK) {
        size_t n = nq - c0 < CHUNK ? nq - c0 : CHUNK;
        if (lr_faiss_coarse_search(ix->ix, (idx_t)n, q + c0 * sq.dim, (idx_t)nprobe, dis, lists))
            rc = lr_index_faiss_fail(err, "search: the coarse quantizer");
        else
            rc = scan_queries(ix, &sq, n, q + c0 * sq.dim, k, nprobe, nprobe, lists, dis, &ad, ids + c0 * k,
                              scores + c0 * k, err);
    }
    free(lists), free(dis);
    return rc;
}
