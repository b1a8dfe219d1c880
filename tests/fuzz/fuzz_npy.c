/* The dense-matrix readers (.npy, .fvecs) on arbitrary bytes: every input is refused with a
 * message or gives a matrix whose every value can be read. */
#include <string.h>

#include "fuzz_file.h"
#include "lr_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

volatile float lr_fuzz_sink; /* every value is read: the sanitizers see each access */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the first byte picks the suffix, which picks the reader */
    const char *name = size && (data[0] & 1) ? "m.fvecs" : "m.npy";
    char path[128];
    if (size) data++, size--;
    if (!lr_fuzz_write(name, data, size, path, sizeof path)) return 0;
    lr_data_matrix *m = NULL;
    lr_err err = {0, ""};
    if (lr_data_matrix_open(path, 0, &m, &err) == LR_OK) {
        const float *x = lr_data_matrix_data(m);
        size_t n = lr_data_matrix_rows(m) * lr_data_matrix_dim(m);
        float sum = 0;
        for (size_t i = 0; i < n; i++) sum += x[i];
        lr_fuzz_sink = sum;
        lr_data_matrix_free(m);
    } else if (!err.msg[0]) {
        abort(); /* a refusal must say why */
    }
    return 0;
}
