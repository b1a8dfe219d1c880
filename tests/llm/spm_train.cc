// Test-only: trains a tiny SentencePiece model through Debian's libsentencepiece, so the SPM
// path has a real model without shared data, and encodes with the library directly as the
// reference the shim must reproduce.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

extern "C" int test_spm_train(const char *corpus, const char *prefix, int vocab) {
    try {
        const std::string args = std::string("--input=") + corpus + " --model_prefix=" + prefix +
                                 " --vocab_size=" + std::to_string(vocab) +
                                 " --model_type=bpe --byte_fallback=true --minloglevel=2";
        const auto st = sentencepiece::SentencePieceTrainer::Train(args);
        if (!st.ok()) std::fprintf(stderr, "spm_train: %s\n", st.ToString().c_str());
        return st.ok() ? 0 : -1;
    } catch (...) {
        return -1;
    }
}

/* The library's own ids for text[0..len), at most cap of them; the count, or -1. */
extern "C" long test_spm_encode(const char *model, const char *text, size_t len, int32_t *ids,
                                size_t cap) {
    try {
        sentencepiece::SentencePieceProcessor sp;
        std::vector<int> v;
        if (!sp.Load(model).ok() || !sp.Encode(absl::string_view(text, len), &v).ok()) return -1;
        for (size_t i = 0; i < v.size() && i < cap; i++) ids[i] = v[i];
        return static_cast<long>(v.size());
    } catch (...) {
        return -1;
    }
}
