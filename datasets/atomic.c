/* Reading RecBole atomic files: a `name:type` header, then tab-separated fields. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Splits line in place at tabs; returns the number of fields, or max+1 when there are more. */
static size_t split_tabs(char *line, char **fields, size_t max) {
    size_t n = 0;
    char *p = line;
    for (;;) {
        if (n == max) return max + 1;
        fields[n++] = p;
        char *tab = strchr(p, '\t');
        if (!tab) return n;
        *tab = '\0';
        p = tab + 1;
    }
}

int lr_data_atomic_open(lr_atomic *a, const char *path, lr_err *err) {
    memset(a, 0, sizeof *a);
    a->path = path;
    a->name = base_name(path);
    a->f = fopen(path, "rb");
    if (!a->f)
        return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: cannot open: %s", path,
                          strerror(errno));
    long n = lr_data_read_line(a->f, &a->line, &a->cap);
    if (n == -2) {
        int code = errno == ENOMEM ? LR_ENOMEM : LR_EIO;
        lr_err_set(err, code, "%s: %s", a->name,
                   code == LR_ENOMEM ? "out of memory reading the header" : "read error");
        lr_data_atomic_close(a);
        return code;
    }
    if (n <= 0) {
        lr_err_set(err, LR_EFORMAT, "%s:1: expected a header line of name:type columns, "
                   "the file is empty", a->name);
        lr_data_atomic_close(a);
        return LR_EFORMAT;
    }
    a->lineno = 1;
    char *cols[LR_ATOMIC_MAX_COLS];
    size_t nc = split_tabs(a->line, cols, LR_ATOMIC_MAX_COLS);
    if (nc > LR_ATOMIC_MAX_COLS) {
        lr_err_set(err, LR_EFORMAT, "%s:1: more than %d columns", a->name, LR_ATOMIC_MAX_COLS);
        lr_data_atomic_close(a);
        return LR_EFORMAT;
    }
    for (size_t i = 0; i < nc; i++) {
        char *colon = strchr(cols[i], ':');
        if (!colon || colon == cols[i] || !colon[1]) {
            lr_err_set(err, LR_EFORMAT, "%s:1: column %zu is '%.60s', expected name:type "
                       "(for example item_id:token)", a->name, i + 1, cols[i]);
            lr_data_atomic_close(a);
            return LR_EFORMAT;
        }
        *colon = '\0';
        a->col_names[i] = strdup(cols[i]);
        a->col_types[i] = strdup(colon + 1);
        a->ncols = i + 1;
        if (!a->col_names[i] || !a->col_types[i]) {
            lr_err_set(err, LR_ENOMEM, "%s: out of memory reading the header", a->name);
            lr_data_atomic_close(a);
            return LR_ENOMEM;
        }
    }
    return LR_OK;
}

int lr_data_atomic_col(const lr_atomic *a, const char *name) {
    for (size_t i = 0; i < a->ncols; i++)
        if (strcmp(a->col_names[i], name) == 0) return (int)i;
    return -1;
}

int lr_data_atomic_need_col(const lr_atomic *a, const char *name, int *col, lr_err *err) {
    *col = lr_data_atomic_col(a, name);
    if (*col >= 0) return LR_OK;
    char have[160] = "";
    for (size_t i = 0; i < a->ncols; i++) {
        size_t k = strlen(have);
        snprintf(have + k, sizeof have - k, "%s%s", i ? ", " : "", a->col_names[i]);
    }
    return lr_err_set(err, LR_EFORMAT, "%s:1: expected a column '%s', the header has: %s", a->name,
                      name, have);
}

int lr_data_atomic_next(lr_atomic *a, lr_err *err) {
    long n = lr_data_read_line(a->f, &a->line, &a->cap);
    if (n == -1) return 0;
    if (n == -2)
        return errno == ENOMEM ? lr_err_set(err, LR_ENOMEM, "%s:%ld: out of memory reading the line",
                                            a->name, a->lineno + 1)
                               : lr_err_set(err, LR_EIO, "%s:%ld: read error", a->name, a->lineno + 1);
    a->lineno++;
    if (n == 0)
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: empty line, expected %zu tab-separated fields",
                          a->name, a->lineno, a->ncols);
    if (memchr(a->line, '\0', (size_t)n))
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: NUL byte in a text line", a->name, a->lineno);
    a->nfields = split_tabs(a->line, a->fields, a->ncols);
    if (a->nfields != a->ncols)
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: expected %zu tab-separated fields, got %s%zu",
                          a->name, a->lineno, a->ncols, a->nfields > a->ncols ? "more than " : "",
                          a->nfields > a->ncols ? a->ncols : a->nfields);
    return 1;
}

void lr_data_atomic_close(lr_atomic *a) {
    if (a->f) fclose(a->f);
    free(a->line);
    for (size_t i = 0; i < a->ncols; i++) {
        free(a->col_names[i]);
        free(a->col_types[i]);
    }
    memset(a, 0, sizeof *a);
}

int lr_data_atomic_index(const lr_atomic *a, int col, long max, long *out, lr_err *err) {
    const char *s = a->fields[col];
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-' || s[0] == '+' || s[0] == ' ')
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: column %s: expected a non-negative integer, "
                          "got '%.40s'", a->name, a->lineno, a->col_names[col], s);
    if (v > max)
        return lr_err_set(err, LR_ERANGE, "%s:%ld: column %s: %ld is out of range (at most %ld)",
                          a->name, a->lineno, a->col_names[col], v, max);
    *out = v;
    return LR_OK;
}

int lr_data_atomic_number(const lr_atomic *a, int col, double *out, lr_err *err) {
    const char *s = a->fields[col];
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v))
        return lr_err_set(err, LR_EFORMAT, "%s:%ld: column %s: expected a number, got '%.40s'",
                          a->name, a->lineno, a->col_names[col], s);
    *out = v;
    return LR_OK;
}
