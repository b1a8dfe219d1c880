/* A resumable row-by-row output (journal.c): OUT.partial while a job runs, OUT when it is done. */
#ifndef LR_CLI_JOURNAL_H
#define LR_CLI_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "lr_data.h"
#include "lr_error.h"

typedef struct {
    int fd;
    char *path; /* OUT.partial */
    size_t rows_total, dim;
    size_t rows_done; /* rows already in the journal: the job goes on from here */
} lr_cli_journal;

/* Opens OUT.partial: resumed when it was written by the same job (the same fingerprint, row count
 * and dim), its whole records kept and a torn last one dropped; otherwise started empty. */
int lr_cli_journal_open(const char *out, uint64_t job, size_t rows, size_t dim, lr_cli_journal *j,
                        lr_err *err);
/* Appends rows (rows * dim floats) as one record, synced before it returns. */
int lr_cli_journal_append(lr_cli_journal *j, const float *x, size_t rows, lr_err *err);
/* With every row made: writes OUT as .npy (aside, then renamed) and removes OUT.partial. */
int lr_cli_journal_finish(lr_cli_journal *j, const char *out, lr_npy_dtype dtype, lr_err *err);
void lr_cli_journal_close(lr_cli_journal *j);

#endif
