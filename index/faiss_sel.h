/* Inside index/: a search with a per-call nprobe and an id filter inside FAISS's scan. FAISS
 * 1.7.3's C++ takes both as SearchParameters (IDSelector, SearchParametersIVF); its C API does
 * not expose them yet, so this small C++ shim does, in the style of FAISS's own later
 * faiss_Index_search_with_params. */
#ifndef LR_FAISS_SEL_H
#define LR_FAISS_SEL_H

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

#ifdef __cplusplus
}
#endif

#endif
