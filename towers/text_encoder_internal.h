/* Inside towers/: the text encoder's layout, shared by its fit, encode and file code. */
#ifndef LR_TEXT_ENCODER_INTERNAL_H
#define LR_TEXT_ENCODER_INTERNAL_H

#include "lr_towers.h"

struct lr_text_encoder {
    lr_text_encoder_config cfg;
    size_t n_docs;      /* texts it was fitted on */
    size_t n_features;
    uint64_t *hashes;   /* n_features feature hashes, ascending */
    float *idf;         /* n_features */
    int32_t *slots;     /* open-addressing table: hash -> feature index, -1 empty */
    size_t slot_mask;
    float *proj;        /* learned projection (svd_input_dim, dim), row-major; NULL if random */
};

int lr_towers_text_config_check(const lr_text_encoder_config *c, lr_err *err);
int lr_towers_text_build_lookup(lr_text_encoder *e, lr_err *err);
size_t lr_towers_text_random_width(const lr_text_encoder_config *c);
/* Encodes without the final normalisation (out: n * dim). */
int lr_towers_text_encode_raw(const lr_text_encoder *e, const char *const *texts, size_t n, float *out,
                       lr_err *err);

#endif /* LR_TEXT_ENCODER_INTERNAL_H */
