/* Renumbering an index's ids: what a rebuild keeps of the previous version when items moved. */
#include "faiss_shim.h"
#include "index_internal.h"

int lr_index_remap(lr_index *ix, const int64_t *old_to_new, size_t n_old, size_t *kept, lr_err *err) {
    size_t n = 0;
    int rc = lr_faiss_ivf_remap_ids(ix->ix, old_to_new, n_old, &n);
    if (rc == -5)
        return lr_err_set(err, LR_EUNSUPPORTED, "index '%s': only IVF indexes without fast-scan codes can keep their "
                          "codes through a rebuild", ix->factory);
    if (rc) return lr_index_faiss_fail(err, "renumbering the index's ids");
    /* the rows of the re-scoring vectors and of the attributes were the old ids' */
    lr_data_matrix_free(ix->rs);
    ix->rs = NULL;
    ix->rs_depth = 0;
    lr_index_set_attrs(ix, NULL);
    if (kept) *kept = n;
    return LR_OK;
}
