/* The index library: approximate and exact search over item embeddings through the FAISS C API.
 *
 * This header so far describes which FAISS build the engine runs on. FAISS's C API keeps its
 * last error in a thread-local; index/ copies it into an lr_err on the same thread at once.
 * Every function here is safe to call from many threads. */
#ifndef LR_INDEX_H
#define LR_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"

typedef struct {
    const char *faiss_version; /* of Debian's faiss source package, e.g. "1.7.3-2" */
    const char *variant;       /* "avx2" or "generic": the FAISS core compiled in */
    int cpu_has_avx2;          /* what this CPU reports */
} lr_index_backend;

lr_index_backend lr_index_backend_info(void);

/* Checks that the compiled-in FAISS can run here (an AVX2 build needs an AVX2 CPU) and that it
 * answers: builds a tiny exact inner-product index through the C API and searches it. */
int lr_index_backend_check(lr_err *err);

#endif /* LR_INDEX_H */
