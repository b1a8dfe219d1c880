/* The LLM's tokenizer.json reader on arbitrary bytes, then the tokenizer it loads on a few
 * texts: refused with a message, or ids that are all below its vocabulary size. */
#include <string.h>

#include "fuzz_file.h"
#include "lr_llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const texts[] = {
    "Title: Nitrile Gloves, 100/box. Brand: Walnov.", "  two  spaces\r\n\tand 12345 digits",
    "caf\xc3\xa9 cafe\xcc\x81 \xe2\x84\xab \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd \xe4\xb8\xad\xe6\x96\x87",
    "<|endoftext|><s></s>", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char path[128];
    if (!lr_fuzz_write("tokenizer.json", data, size, path, sizeof path)) return 0;
    lr_llm_tokenizer *t = NULL;
    lr_err err = {0, ""};
    if (lr_llm_tokenizer_load(path, &t, &err) != LR_OK) {
        if (!err.msg[0]) abort();
        return 0;
    }
    size_t vocab = lr_llm_tokenizer_vocab_size(t);
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        int32_t *ids = NULL;
        size_t n = 0;
        lr_err e2 = {0, ""};
        if (lr_llm_tokenize(t, texts[i], strlen(texts[i]), &ids, &n, &e2) != LR_OK) {
            if (!e2.msg[0]) abort();
            continue;
        }
        for (size_t k = 0; k < n; k++)
            if (ids[k] < 0 || (size_t)ids[k] >= vocab) abort();
        free(ids);
    }
    lr_llm_tokenizer_free(t);
    return 0;
}
