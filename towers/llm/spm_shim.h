/* A C face for Debian's libsentencepiece (C++), in the style of FAISS's c_api: an opaque handle,
 * every call returns an LR_* code and writes a message, and no C++ exception crosses it.
 *
 * Why sentencepiece itself rather than a re-implementation: the reference ids of a
 * tokenizer.model were made by this same library (Debian's sentencepiece 0.1.97), so its
 * normalizer, BPE and byte fallback give the same ids by construction, and the model file's
 * protobuf is read by the code that wrote it. Encoding is const and safe from many threads. */
#ifndef LR_LLM_SPM_SHIM_H
#define LR_LLM_SPM_SHIM_H

#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct lr_llm_spm lr_llm_spm;

/* Reads a SentencePiece model file; a missing file is LR_EIO, anything else it refuses
 * LR_EFORMAT, with sentencepiece's own words after the path. */
int lr_llm_spm_load(const char *path, lr_llm_spm **out, lr_err *err);
void lr_llm_spm_free(lr_llm_spm *s); /* NULL is a no-op */

/* sentencepiece's Encode of text[0..len) (valid UTF-8), no BOS or EOS: appends to *ids (grown
 * with realloc; *n ids, capacity *cap). */
int lr_llm_spm_encode(const lr_llm_spm *s, const char *text, size_t len, int32_t **ids,
                      size_t *n, size_t *cap, lr_err *err);

int lr_llm_spm_bos_id(const lr_llm_spm *s);      /* -1 when the model has none */
int lr_llm_spm_eos_id(const lr_llm_spm *s);      /* -1 when the model has none */
size_t lr_llm_spm_piece_size(const lr_llm_spm *s); /* ids are below it */

#ifdef __cplusplus
}
#endif

#endif
