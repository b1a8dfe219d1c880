/* Inside index/: the few FAISS 1.7.3 C++ calls its C API does not expose, in the style of FAISS's
 * own c_api/: a search with a per-call nprobe and an id filter inside the scan (SearchParameters
 * with an IDSelector, like the later faiss_Index_search_with_params), and renumbering the ids an
 * IVF index stores (for a rebuild that keeps the codes of unchanged items). */
#ifndef LR_FAISS_SHIM_H
#define LR_FAISS_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include <faiss/c_api/Index_c.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when id may be returned. Called from the threads FAISS searches on: it must only read. */
typedef int (*lr_faiss_allows)(const void *ctx, int64_t id);

/* 1 when lr_faiss_search_allowed can search this index: IVF (not fast-scan) or flat. */
int lr_faiss_takes_selector(const FaissIndex *index);

/* faiss::Index::search over n queries with only the ids `allows` accepts: for an IVF index with
 * nprobe lists (0: the index's own), for a flat one exhaustively. Codes whose id is refused
 * are skipped before their distance is computed. 0 on success; FAISS's error codes otherwise
 * (its message through faiss_get_last_error); -5 when this index type takes no selector. */
int lr_faiss_search_allowed(const FaissIndex *index, idx_t n, const float *x, idx_t k, size_t nprobe,
                            lr_faiss_allows allows, const void *ctx, float *distances, idx_t *labels);

/* An IVF index's coarse search for nprobe lists per query. A quantizer that is an HNSW graph
 * searches with efSearch lr_faiss_coarse_ef(nprobe): its own field (16 unless set) would cap
 * the lists it can find, whatever nprobe asks (recall@100 0.91 at nprobe 256 on the towers' 1M
 * set, 0.97 with efSearch = nprobe). Every way learnrec searches such an index uses this rule,
 * so tuning measures what serving gets. 0 on success; FAISS's error codes otherwise. */
int lr_faiss_coarse_search(const FaissIndex *index, idx_t n, const float *x, idx_t nprobe, float *distances,
                           idx_t *lists);
int lr_faiss_coarse_ef(size_t nprobe);                 /* max(nprobe, 16) */
int lr_faiss_coarse_is_graph(const FaissIndex *index); /* 1: an IVF index with an HNSW quantizer */

/* Renumbers the ids stored in an IVF index's inverted lists: id i becomes old_to_new[i]
 * (n_old entries), and entries whose new id is -1, or whose id is outside 0 .. n_old-1, are
 * dropped with their codes. *kept gets how many remain. 0 on success; -5 for an index that is
 * not IVF with array inverted lists (fast-scan lists are packed in blocks). */
int lr_faiss_ivf_remap_ids(FaissIndex *index, const int64_t *old_to_new, size_t n_old, size_t *kept);

/* What learnrec's own scan of 8-bit scalar codes reads (index/sq8_scan.c): an IVF index with
 * per-dimension 8-bit codes (FAISS's QT_8bit), inner product, array inverted lists. A code c
 * stands for vmin[d] + (c[d] + 0.5) / 255 * vdiff[d] in each dimension, added to the list's
 * centroid when by_residual. The pointers stay valid while the index is neither trained again
 * nor freed. */
typedef struct {
    size_t dim, nlist;
    int by_residual;
    const float *vmin, *vdiff;
} lr_faiss_sq8;

/* 0 and *out filled when index is such an index; -5 (and *out untouched) otherwise. */
int lr_faiss_ivf_sq8(const FaissIndex *index, lr_faiss_sq8 *out);
/* List `list` of an index lr_faiss_ivf_sq8 accepted: its length, codes (n * dim bytes) and ids,
 * borrowed from the index (array lists hand out their storage; nothing is copied). */
void lr_faiss_ivf_sq8_list(const FaissIndex *index, size_t list, size_t *n, const uint8_t **codes,
                           const int64_t **ids);

#ifdef __cplusplus
}
#endif

#endif
