/* Tests of index/backend.c: the FAISS build in use answers through the C API. */
#include <string.h>

#include "lr_index.h"
#include "lr_test.h"

LR_TEST(backend_reports_the_core_it_was_built_with) {
    lr_index_backend b = lr_index_backend_info();
    CHECK(strcmp(b.variant, "avx2") == 0 || strcmp(b.variant, "generic") == 0);
    CHECK_CONTAINS(b.faiss_version, "1.7");
    /* the build picks the AVX2 core exactly when the building CPU has AVX2 */
    CHECK_EQ(strcmp(b.variant, "avx2") == 0, b.cpu_has_avx2);
}

LR_TEST(backend_self_test_searches_through_the_c_api) {
    lr_err err = {0};
    CHECK_OK(lr_index_backend_check(&err), err);
}

LR_TEST_MAIN(LR_CASE(backend_reports_the_core_it_was_built_with),
             LR_CASE(backend_self_test_searches_through_the_c_api))
