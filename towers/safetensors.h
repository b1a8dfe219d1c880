/* Inside towers/: Hugging Face safetensors files for model weights (write float32, read float32).
 * A file is an 8-byte little-endian header length N, N bytes of JSON naming each tensor's dtype,
 * shape and byte range, then the tensors' bytes. lr_st_open reads the whole file and validates
 * the header; the object is read-only afterwards, so concurrent lr_st_read_f32 / getters on one
 * opened file are safe. Nothing here keeps global state. */
#ifndef LR_TOWERS_SAFETENSORS_H
#define LR_TOWERS_SAFETENSORS_H

#include <stddef.h>

#include "lr_error.h"

/* Largest header accepted (and written), as the reference implementation limits it. */
#define LR_ST_MAX_HEADER 100000000u

/* One float32 tensor to write. data: shape[0]*...*shape[ndim-1] floats (1 float when ndim is 0,
 * may be NULL when that product is 0). Only the first ndim entries of shape are read. */
typedef struct {
    const char *name;
    const float *data;
    size_t ndim; /* 0 .. 4 */
    size_t shape[4];
} lr_st_tensor;

/* Writes n tensors, in the given order, their data contiguous in that order, and n_meta string
 * pairs as "__metadata__" (none written when n_meta is 0). The header is padded with spaces so
 * the data starts at a multiple of 8 bytes. Refuses (LR_EINVAL) NULL or duplicate names, the
 * name "__metadata__", metadata keys starting with "__" or repeated, and strings that are not
 * UTF-8. The file is written to "<path>.tmp.<pid>", fsynced and renamed over path, so readers see
 * the old file or the new one, never half of one; on failure path is untouched (LR_EIO).
 * meta_keys, meta_values: n_meta strings each (may be NULL when n_meta is 0). */
int lr_st_write(const char *path, const lr_st_tensor *tensors, size_t n,
                const char *const *meta_keys, const char *const *meta_values, size_t n_meta,
                lr_err *err);

typedef struct lr_st_file lr_st_file;

/* Reads the file at path into memory and validates it: header length, JSON, every tensor entry
 * (known dtype, shape, data_offsets matching the shape), the tensors covering the data section
 * exactly (no overlap, no gap, nothing after the last one), "__metadata__" an object of strings.
 * Malformed files are LR_EFORMAT, a missing file LR_ENOTFOUND, other failures LR_EIO; every
 * message starts with the path. On failure *out is NULL. Cost: the whole file in memory. */
int lr_st_open(const char *path, lr_st_file **out, lr_err *err);

/* Number of tensors (the "__metadata__" entry is not one). */
size_t lr_st_count(const lr_st_file *f);

/* Name of the i-th tensor in header order, or NULL when i >= lr_st_count(f). Valid until
 * lr_st_close. For checking that a file holds no tensors the caller does not expect. */
const char *lr_st_name(const lr_st_file *f, size_t i);

/* The metadata value for key, or NULL when there is none. Valid until lr_st_close. */
const char *lr_st_meta(const lr_st_file *f, const char *key);

/* Copies tensor `name` into dst after checking that it exists (LR_ENOTFOUND), has dtype F32
 * (LR_EFORMAT: "<path>: tensor 'w_out' has dtype F16, expected F32") and exactly the shape
 * shape[0..ndim) (LR_EMISMATCH: "<path>: tensor 'w' has shape [768, 256], expected
 * [768, 512]"). dst: shape[0]*...*shape[ndim-1] floats; untouched on failure. Finds the tensor
 * by a linear scan of the names: O(count) per call, nothing for the few hundred tensors a model
 * has. */
int lr_st_read_f32(const lr_st_file *f, const char *name, size_t ndim, const size_t *shape,
                   float *dst, lr_err *err);

/* Frees the file; NULL is a no-op. */
void lr_st_close(lr_st_file *f);

#endif /* LR_TOWERS_SAFETENSORS_H */
