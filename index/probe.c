/* Searching with a call's own nprobe. FAISS 1.7.3's C API reads nprobe from the index itself, so
 * setting it per call would need every other search stopped first. Instead the coarse quantizer
 * is asked for the call's lists and FAISS scans them through search_preassigned, which reads the
 * list array with the index's nprobe as its row length: a call wanting fewer lists pads its row
 * with -1 (FAISS skips those), and one wanting more splits its lists into passes of that many
 * and merges the passes' best k. The index is only read, so calls may run at once. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <faiss/c_api/IndexIVF_c.h>

#include "faiss_shim.h"
#include "index_internal.h"

#define CHUNK 64 /* queries per round: bounds the list arrays whatever nq is */

/* dst (k) and src (k), each best first with -1 ids last, merged into dst: the best k of both. */
static void merge_best(int64_t *dst_ids, float *dst_scores, const int64_t *src_ids,
                       const float *src_scores, int64_t *tmp_ids, float *tmp_scores, size_t k) {
    size_t a = 0, b = 0;
    for (size_t j = 0; j < k; j++) {
        int has_a = a < k && dst_ids[a] >= 0, has_b = b < k && src_ids[b] >= 0;
        if (has_a && (!has_b || dst_scores[a] >= src_scores[b])) {
            tmp_ids[j] = dst_ids[a], tmp_scores[j] = dst_scores[a++];
        } else if (has_b) {
            tmp_ids[j] = src_ids[b], tmp_scores[j] = src_scores[b++];
        } else {
            tmp_ids[j] = -1, tmp_scores[j] = -INFINITY;
        }
    }
    memcpy(dst_ids, tmp_ids, k * sizeof *dst_ids);
    memcpy(dst_scores, tmp_scores, k * sizeof *dst_scores);
}

int lr_index_takes_call_nprobe(const lr_index *ix) {
    return faiss_IndexIVF_cast(ix->ix) != NULL && !strstr(ix->factory, "fs");
}

int lr_index_probe_search(const lr_index *ix, size_t nq, const float *q, size_t k, size_t nprobe,
                          int64_t *ids, float *scores, lr_err *err) {
    FaissIndexIVF *ivf = faiss_IndexIVF_cast(ix->ix);
    if (!ivf)
        return lr_err_set(err, LR_EUNSUPPORTED, "index '%s' is not an IVF index (or wraps one in a "
                          "transform): a per-call nprobe does not apply", ix->factory);
    /* fast-scan lists are scanned in blocks by their own search, not list by list */
    if (strstr(ix->factory, "fs"))
        return lr_err_set(err, LR_EUNSUPPORTED, "index '%s' has fast-scan codes, which cannot take a "
                          "per-call nprobe: set the index's nprobe instead", ix->factory);
    size_t nlist = faiss_IndexIVF_nlist(ivf), stride = faiss_IndexIVF_nprobe(ivf), dim = ix->dim;
    if (nprobe > nlist) nprobe = nlist;
    if (stride > nlist) stride = nlist;
    if (stride == 0) stride = 1;
    size_t passes = (nprobe + stride - 1) / stride, rows = nq < CHUNK ? nq : CHUNK;
    idx_t *lists = malloc(rows * nprobe * sizeof *lists), *keys = malloc(rows * stride * sizeof *keys);
    float *list_dis = malloc(rows * nprobe * sizeof *list_dis), *key_dis = malloc(rows * stride * sizeof *key_dis);
    int64_t *pass_ids = malloc(rows * k * sizeof *pass_ids), *tmp_ids = malloc(k * sizeof *tmp_ids);
    float *pass_scores = malloc(rows * k * sizeof *pass_scores), *tmp_scores = malloc(k * sizeof *tmp_scores);
    int rc = LR_OK;
    if (!lists || !keys || !list_dis || !key_dis || !pass_ids || !tmp_ids || !pass_scores || !tmp_scores) {
        rc = lr_err_set(err, LR_ENOMEM, "search: out of memory for %zu lists per query", nprobe);
        goto done;
    }
    for (size_t c0 = 0; c0 < nq && !rc; c0 += CHUNK) {
        size_t n = nq - c0 < CHUNK ? nq - c0 : CHUNK;
        const float *x = q + c0 * dim;
        if (lr_faiss_coarse_search(ix->ix, (idx_t)n, x, (idx_t)nprobe, list_dis, lists)) {
            rc = lr_index_faiss_fail(err, "search: the coarse quantizer");
            break;
        }
        for (size_t p = 0; p < passes; p++) {
            for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < stride; j++) {
                    size_t from = p * stride + j;
                    keys[i * stride + j] = from < nprobe ? lists[i * nprobe + from] : -1;
                    key_dis[i * stride + j] = from < nprobe ? list_dis[i * nprobe + from] : 0.0f;
                }
            int64_t *out_ids = p ? pass_ids : ids + c0 * k;
            float *out_scores = p ? pass_scores : scores + c0 * k;
            if (faiss_IndexIVF_search_preassigned(ivf, (idx_t)n, x, (idx_t)k, keys, key_dis, out_scores,
                                                  (idx_t *)out_ids, 0)) {
                rc = lr_index_faiss_fail(err, "search");
                break;
            }
            for (size_t i = 0; i < n * k; i++)
                if (out_ids[i] < 0) out_scores[i] = -INFINITY;
            for (size_t i = 0; p && i < n; i++)
                merge_best(ids + (c0 + i) * k, scores + (c0 + i) * k, pass_ids + i * k, pass_scores + i * k,
                           tmp_ids, tmp_scores, k);
        }
    }
done:
    free(lists);
    free(keys);
    free(list_dis);
    free(key_dis);
    free(pass_ids);
    free(tmp_ids);
    free(pass_scores);
    free(tmp_scores);
    return rc;
}
