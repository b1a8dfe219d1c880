/* Texts given on the command line by file (content llm, content tokenize). */
#ifndef LR_CLI_TEXTS_H
#define LR_CLI_TEXTS_H

#include <stddef.h>

#include "lr_error.h"

typedef struct {
    char **v;    /* n NUL-terminated texts (a JSON text may also hold NULs: len counts them) */
    size_t *len; /* bytes of each */
    size_t n;
} lr_cli_texts;

/* path ending in .json: a JSON array of strings; anything else: one text per line ('\n' ends a
 * line; a last line without it counts). On failure *t is empty. */
int lr_cli_texts_read(const char *path, lr_cli_texts *t, lr_err *err);
void lr_cli_texts_free(lr_cli_texts *t);

#endif
