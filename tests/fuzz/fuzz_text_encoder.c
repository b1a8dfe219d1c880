/* The built-in text encoder's file reader on arbitrary bytes: refused with a message, or an
 * encoder that turns texts into finite vectors of its dimension. */
#include <math.h>
#include <string.h>

#include "fuzz_file.h"
#include "lr_towers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const texts[] = {"Title: Nitrile Gloves. Brand: Walnov.", "", "caf\xc3\xa9 12345"};
    char path[128];
    if (!lr_fuzz_write("encoder.bin", data, size, path, sizeof path)) return 0;
    lr_text_encoder *e = NULL;
    lr_err err = {0, ""};
    if (lr_towers_text_encoder_load(path, &e, &err) != LR_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    size_t dim = lr_towers_text_encoder_dim(e);
    float *v = dim && dim <= (1u << 16) ? malloc(3 * dim * sizeof *v) : NULL;
    if (v) {
        lr_err e2 = {0, ""};
        if (lr_towers_text_encoder_encode(e, texts, 3, v, &e2) == LR_OK) {
            for (size_t i = 0; i < 3 * dim; i++)
                if (!isfinite(v[i])) abort();
        } else if (!e2.msg[0]) {
            abort();
        }
    }
    free(v);
    lr_towers_text_encoder_free(e);
    return 0;
}
