/* The safetensors reader on arbitrary bytes: refused with a message, or every tensor it lists
 * reads back as float32 with the shape it declares (or is refused by dtype, with a message). */
#include <string.h>

#include "fuzz_file.h"
#include "lr_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void read_all(const lr_data_st_file *f) {
    for (size_t i = 0; i < lr_data_st_count(f); i++) {
        lr_data_st_view v;
        lr_err err = {0, ""};
        const char *name = lr_data_st_name(f, i);
        if (lr_data_st_get(f, name, &v, &err) != LR_OK) {
            if (!err.msg[0]) abort();
            continue;
        }
        if (v.ndim > LR_DATA_ST_MAX_NDIM || v.numel > (1u << 20)) continue; /* skip big copies */
        float *dst = malloc((v.numel ? v.numel : 1) * sizeof *dst);
        if (!dst) continue;
        if (lr_data_st_read_f32(f, name, v.ndim, v.shape, dst, &err) != LR_OK && !err.msg[0]) abort();
        free(dst);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128];
    if (!lr_fuzz_write("m.safetensors", data, size, path, sizeof path)) return 0;
    lr_data_st_file *f = NULL;
    lr_err err = {0, ""};
    if (lr_data_st_open(path, &f, &err) == LR_OK) {
        read_all(f);
        lr_data_st_meta(f, "format");
        lr_data_st_free(f);
    } else if (!err.msg[0]) {
        abort();
    }
    return 0;
}
