/* Inside datasets/: reading RecBole atomic files, tab-separated with a `name:type` header. */
#ifndef LR_ATOMIC_H
#define LR_ATOMIC_H

#include <stdio.h>

#include "data_internal.h"

#define LR_ATOMIC_MAX_COLS 32

/* One open atomic file: its header and the current line split into fields. */
typedef struct {
    const char *path;        /* borrowed */
    const char *name;        /* the file name, for messages */
    FILE *f;
    char *line;
    size_t cap;
    long lineno;             /* 1 is the header */
    size_t ncols;
    char *col_names[LR_ATOMIC_MAX_COLS]; /* without the ":type" part */
    char *col_types[LR_ATOMIC_MAX_COLS];
    char *fields[LR_ATOMIC_MAX_COLS];    /* of the current line, into `line` */
    size_t nfields;
} lr_atomic;

/* Opens `path` and reads its header; LR_ENOTFOUND when the file does not exist. */
int lr_data_atomic_open(lr_atomic *a, const char *path, lr_err *err);
/* The index of the column called `name`, or -1. */
int lr_data_atomic_col(const lr_atomic *a, const char *name);
/* Like lr_data_atomic_col, but a missing column is an LR_EFORMAT error naming the file and header. */
int lr_data_atomic_need_col(const lr_atomic *a, const char *name, int *col, lr_err *err);
/* Reads the next line into fields: 1 when a line was read, 0 at the end, < 0 on error.
 * A line must have exactly as many fields as the header; blank lines are refused. */
int lr_data_atomic_next(lr_atomic *a, lr_err *err);
void lr_data_atomic_close(lr_atomic *a);

/* Parses a whole field as an integer in [0, max]; an error names file:line and the column. */
int lr_data_atomic_index(const lr_atomic *a, int col, long max, long *out, lr_err *err);
/* Parses a whole field as a finite number (timestamps, ratings). */
int lr_data_atomic_number(const lr_atomic *a, int col, double *out, lr_err *err);

#endif /* LR_ATOMIC_H */
