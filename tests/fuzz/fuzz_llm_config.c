/* The LLM's config.json reader on arbitrary bytes: refused with a message, or a configuration
 * whose sizes are consistent (heads a multiple of KV heads, a head width, a vocabulary). */
#include <string.h>

#include "fuzz_file.h"
#include "model_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128], dir[128];
    if (!lr_fuzz_write("config.json", data, size, path, sizeof path)) return 0;
    lr_fuzz_path("", dir, sizeof dir);
    llm_config cfg;
    lr_err err = {0, ""};
    if (llm_config_read(dir, &cfg, &err) != LR_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    if (!cfg.hidden || !cfg.heads || !cfg.kv_heads || cfg.heads % cfg.kv_heads || !cfg.head_dim ||
        !cfg.vocab || !cfg.layers)
        abort();
    llm_config_free(&cfg);
    return 0;
}
