// The SentencePiece shim (spm_shim.h): sentencepiece's C++ API behind extern "C" calls that
// return LR_* codes; every exception is caught here.
#include "spm_shim.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

struct lr_llm_spm {
    sentencepiece::SentencePieceProcessor sp;
};

extern "C" int lr_llm_spm_load(const char *path, lr_llm_spm **out, lr_err *err) {
    *out = nullptr;
    try {
        lr_llm_spm *s = new lr_llm_spm;
        const sentencepiece::util::Status st = s->sp.Load(path);
        if (!st.ok()) {
            const int code = st.code() == sentencepiece::util::StatusCode::kNotFound ? LR_EIO
                                                                                     : LR_EFORMAT;
            lr_err_set(err, code, "%s: not a SentencePiece model: %s", path, st.ToString().c_str());
            delete s;
            return code;
        }
        *out = s;
        return LR_OK;
    } catch (const std::bad_alloc &) {
        return lr_err_set(err, LR_ENOMEM, "%s: out of memory reading the model", path);
    } catch (const std::exception &e) {
        return lr_err_set(err, LR_EFORMAT, "%s: sentencepiece: %s", path, e.what());
    } catch (...) {
        return lr_err_set(err, LR_EFORMAT, "%s: sentencepiece failed", path);
    }
}

extern "C" void lr_llm_spm_free(lr_llm_spm *s) { delete s; }

extern "C" int lr_llm_spm_encode(const lr_llm_spm *s, const char *text, size_t len,
                                 int32_t **ids, size_t *n, size_t *cap, lr_err *err) {
    try {
        std::vector<int> v;
        const sentencepiece::util::Status st = s->sp.Encode(absl::string_view(text, len), &v);
        if (!st.ok())
            return lr_err_set(err, LR_EINVAL, "sentencepiece refused the text: %s",
                              st.ToString().c_str());
        if (*n + v.size() > *cap) {
            size_t c = *cap ? *cap : 16;
            while (c < *n + v.size()) c *= 2;
            int32_t *p = static_cast<int32_t *>(std::realloc(*ids, c * sizeof *p));
            if (!p) return lr_err_set(err, LR_ENOMEM, "sentencepiece: out of memory");
            *ids = p;
            *cap = c;
        }
        for (int id : v) (*ids)[(*n)++] = id;
        return LR_OK;
    } catch (const std::bad_alloc &) {
        return lr_err_set(err, LR_ENOMEM, "sentencepiece: out of memory");
    } catch (const std::exception &e) {
        return lr_err_set(err, LR_EINVAL, "sentencepiece: %s", e.what());
    } catch (...) {
        return lr_err_set(err, LR_EINVAL, "sentencepiece failed");
    }
}

extern "C" int lr_llm_spm_bos_id(const lr_llm_spm *s) { return s->sp.bos_id(); }
extern "C" int lr_llm_spm_eos_id(const lr_llm_spm *s) { return s->sp.eos_id(); }
extern "C" size_t lr_llm_spm_piece_size(const lr_llm_spm *s) {
    const int n = s->sp.GetPieceSize();
    return n > 0 ? static_cast<size_t>(n) : 0;
}
