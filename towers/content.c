/* The content store: row i of an N x Dc matrix is item i's content embedding. The matrix itself
 * (files, mapping, checks) is datasets/'s lr_data_matrix; a content matrix is one. */
#include "lr_data.h"
#include "lr_towers.h"

int lr_towers_content_open(const char *path, size_t expect_rows, lr_content **out, lr_err *err) {
    return lr_data_matrix_open(path, expect_rows, out, err);
}

int lr_towers_content_from_floats(const float *data, size_t rows, size_t dim, lr_content **out,
                                  lr_err *err) {
    return lr_data_matrix_from_floats(data, rows, dim, out, err);
}

size_t lr_towers_content_rows(const lr_content *c) { return lr_data_matrix_rows(c); }
size_t lr_towers_content_dim(const lr_content *c) { return lr_data_matrix_dim(c); }
const float *lr_towers_content_data(const lr_content *c) { return lr_data_matrix_data(c); }
const char *lr_towers_content_source(const lr_content *c) { return lr_data_matrix_source(c); }
void lr_towers_content_free(lr_content *c) { lr_data_matrix_free(c); }
