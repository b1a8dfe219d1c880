/* learnrec version: the engine's version, its FAISS build and its BLAS. */
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "cli.h"
#include "lr_index.h"

int lr_cmd_version(int argc, char **argv) {
    const lr_cli_spec spec = {
        .cmd = "version", .usage = "learnrec version",
        .description = "Prints learnrec's version, the FAISS build in use (the AVX2 or the generic core,\n"
                       "built from Debian's faiss source) after a self-test of it, the BLAS, and how\n"
                       "idle OpenMP threads wait (passive unless OMP_WAIT_POLICY says otherwise)."};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_index_backend b = lr_index_backend_info();
    lr_err err = {0};
    int rc = lr_index_backend_check(&err);
    printf("learnrec %s\n", LR_VERSION);
    printf("faiss: %s, %s core (%s), built from Debian's faiss source\n", b.faiss_version,
           b.variant, rc == LR_OK ? "self-test ok" : "self-test FAILED");
    printf("cpu: %s\n", b.cpu_has_avx2 ? "AVX2" : "no AVX2");
    printf("blas: OpenBLAS (%s)\n", openblas_get_config());
    /* what libgomp read as it loaded: learnrec.c sets passive unless the operator chose */
    const char *wait = getenv("OMP_WAIT_POLICY");
    printf("openmp: OMP_WAIT_POLICY=%s\n", wait ? wait : "(unset: libgomp's default, spinning)");
    if (rc) return lr_cli_fail("version", &err);
    return LR_EXIT_OK;
}
