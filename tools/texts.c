/* --texts FILE: a JSON array of strings when the name ends in .json (texts may hold newlines),
 * else one text per line, where only '\n' ends a line (a '\r' before it stays in the text, as
 * the reference tokenizers would see it). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "texts.h"

void lr_cli_texts_free(lr_cli_texts *t) {
    if (!t) return;
    for (size_t i = 0; i < t->n; i++) free(t->v[i]);
    free(t->v);
    free(t->len);
    *t = (lr_cli_texts){0};
}

static int push(lr_cli_texts *t, const char *s, size_t len, size_t *cap, lr_err *err) {
    if (t->n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        char **v = realloc(t->v, c * sizeof *v);
        if (v) t->v = v;
        size_t *l = v ? realloc(t->len, c * sizeof *l) : NULL;
        if (!l) return lr_err_set(err, LR_ENOMEM, "out of memory reading texts");
        t->len = l;
        *cap = c;
    }
    char *copy = malloc(len + 1);
    if (!copy) return lr_err_set(err, LR_ENOMEM, "out of memory reading texts");
    memcpy(copy, s, len);
    copy[len] = '\0';
    t->v[t->n] = copy;
    t->len[t->n++] = len;
    return LR_OK;
}

static int read_json(const char *path, lr_cli_texts *t, lr_err *err) {
    json_error_t je;
    json_t *root = json_load_file(path, JSON_ALLOW_NUL, &je);
    if (!root)
        return lr_err_set(err, je.line < 0 ? LR_ENOTFOUND : LR_EFORMAT, "%s:%d: %s", path,
                          je.line, je.text);
    int rc = json_is_array(root) ? LR_OK
                                 : lr_err_set(err, LR_EFORMAT, "%s: expected a JSON array of strings",
                                              path);
    size_t cap = 0;
    for (size_t i = 0; !rc && i < json_array_size(root); i++) {
        json_t *s = json_array_get(root, i);
        if (!json_is_string(s))
            rc = lr_err_set(err, LR_EFORMAT, "%s: element %zu is not a string", path, i);
        else
            rc = push(t, json_string_value(s), json_string_length(s), &cap, err);
    }
    json_decref(root);
    return rc;
}

static int read_lines(const char *path, lr_cli_texts *t, lr_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return lr_err_set(err, errno == ENOENT ? LR_ENOTFOUND : LR_EIO, "%s: %s", path,
                          strerror(errno));
    char *line = NULL;
    size_t lcap = 0, cap = 0;
    ssize_t got;
    int rc = LR_OK;
    errno = 0;
    while (!rc && (got = getline(&line, &lcap, f)) >= 0) {
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n') len--;
        rc = push(t, line, len, &cap, err);
        errno = 0;
    }
    if (!rc && (ferror(f) || errno == ENOMEM))
        rc = lr_err_set(err, errno == ENOMEM ? LR_ENOMEM : LR_EIO, "%s: reading failed", path);
    free(line);
    fclose(f);
    return rc;
}

int lr_cli_texts_read(const char *path, lr_cli_texts *t, lr_err *err) {
    *t = (lr_cli_texts){0};
    size_t n = strlen(path);
    int rc = n >= 5 && strcmp(path + n - 5, ".json") == 0 ? read_json(path, t, err)
                                                           : read_lines(path, t, err);
    if (rc) lr_cli_texts_free(t);
    return rc;
}
