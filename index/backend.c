/* Which FAISS the engine runs on, and a check that it works on this CPU. */
#include <math.h>

#include <faiss/c_api/IndexFlat_c.h>
#include <faiss/c_api/Index_c.h>
#include <faiss/c_api/error_c.h>

#include "lr_index.h"

lr_index_backend lr_index_backend_info(void) {
    lr_index_backend b = {LR_FAISS_VERSION, LR_FAISS_VARIANT, 0};
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    b.cpu_has_avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
    return b;
}

int lr_index_backend_check(lr_err *err) {
    lr_index_backend b = lr_index_backend_info();
    if (b.variant[0] == 'a' && !b.cpu_has_avx2)
        return lr_err_set(err, LR_EUNSUPPORTED, "this learnrec was built with the AVX2 FAISS core, "
                          "but this CPU has no AVX2: rebuild it on this machine with 'make' (the "
                          "build picks the generic core on such CPUs)");
    /* Three 2-d vectors; the query (1, 0.1) is closest by inner product to (2, 0). */
    const float xb[] = {0.f, 1.f, 2.f, 0.f, 1.f, 1.f};
    const float q[] = {1.f, 0.1f};
    FaissIndexFlatIP *ix = NULL;
    idx_t labels[2];
    float scores[2];
    if (faiss_IndexFlatIP_new_with(&ix, 2) || faiss_Index_add((FaissIndex *)ix, 3, xb) ||
        faiss_Index_search((FaissIndex *)ix, 1, q, 2, scores, labels)) {
        lr_err_set(err, LR_EFAISS, "FAISS self-test failed: %s", faiss_get_last_error());
        faiss_Index_free((FaissIndex *)ix);
        return LR_EFAISS;
    }
    faiss_Index_free((FaissIndex *)ix);
    if (labels[0] != 1 || labels[1] != 2 || fabsf(scores[0] - 2.0f) > 1e-6f)
        return lr_err_set(err, LR_EFAISS, "FAISS self-test returned wrong neighbours (%lld, %lld)",
                          (long long)labels[0], (long long)labels[1]);
    return LR_OK;
}
