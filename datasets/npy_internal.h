/* Inside datasets/: the .npy header parser and writer that matrix.c and npy.c share. None of
 * these keep state; all are safe from many threads. */
#ifndef LR_DATA_NPY_INTERNAL_H
#define LR_DATA_NPY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"
#include "lr_data.h"

/* NumPy itself allows 64 dimensions; nothing here needs more than 2, but the parser reads the
 * shape generically so a caller can name what it got ("shape (2, 3, 4) has 3 dimensions"). */
#define LR_NPY_MAX_DIMS 8

/* Room for any header lr_data_npy_header_format writes: 10 bytes of prefix, the dict with two
 * 20-digit sizes, padding to 64. */
#define LR_NPY_HEADER_MAX 192

typedef struct {
    lr_npy_dtype dtype;
    size_t itemsize;               /* 4 (float32) or 2 (float16) */
    unsigned version;              /* format major version: 1, 2 or 3 */
    size_t ndim;                   /* 0 .. LR_NPY_MAX_DIMS */
    size_t shape[LR_NPY_MAX_DIMS]; /* ndim sizes */
    size_t count;                  /* product of the shape (1 for a 0-d array) */
    size_t data_bytes;             /* count * itemsize */
    size_t data_offset;            /* magic + version + header length + header dict */
} lr_npy_info;

/* Parses the header of a .npy file. `buf` holds the first `len` bytes of the file (the whole
 * file, or at least its header: a header longer than `len` is reported as running past the end
 * of the file). Accepts format versions 1.0, 2.0 and 3.0 and any header padding; the dict may
 * list its keys in any order, with single or double quotes, any whitespace and an optional
 * trailing comma, but must hold exactly 'descr', 'fortran_order' and 'shape'. Refuses
 * (LR_EUNSUPPORTED) a dtype other than little-endian float32 / float16 and Fortran order;
 * everything malformed is LR_EFORMAT. Messages start with `name`. */
int lr_data_npy_parse_header(const unsigned char *buf, size_t len, lr_npy_info *info, const char *name,
                        lr_err *err);

/* Checks that a file of `file_size` bytes holds exactly the header and the data `info` describes:
 * "truncated: expected X bytes of data, found Y" or "Z bytes after the data" (LR_EFORMAT). */
int lr_data_npy_check_file_size(const lr_npy_info *info, size_t file_size, const char *name,
                           lr_err *err);

/* Writes a version 1.0 header for a C-order little-endian array of shape (rows,) when cols is 0,
 * else (rows, cols), padded with spaces and a final '\n' so the data starts at a multiple of 64.
 * `buf` has LR_NPY_HEADER_MAX bytes; returns the header's length (the data offset). */
size_t lr_data_npy_header_format(unsigned char *buf, lr_npy_dtype dtype, size_t rows, size_t cols);

/* "(4385, 1024)", "(7,)" or "()" into buf (cap bytes, truncated to fit), for messages. */
const char *lr_data_npy_shape_str(const lr_npy_info *info, char *buf, size_t cap);

#endif /* LR_DATA_NPY_INTERNAL_H */
