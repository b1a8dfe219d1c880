/* Writing a dataset as RecBole atomic files (ratings with timestamps, item text and fields,
 * users). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data_internal.h"

/* Tabs and newlines inside tokens or text would break the format. */
static int check_field(const char *s, const char *what, size_t i, lr_err *err) {
    if (s && strpbrk(s, "\t\r\n"))
        return lr_err_set(err, LR_EFORMAT, "%s %zu holds a tab or newline, which the atomic "
                          "format cannot store", what, i);
    return LR_OK;
}

static void write_inter(FILE *f, const lr_data *d) {
    /* the position in a sequence is its timestamp */
    fputs("user_id:token\titem_id:token\ttimestamp:float\n", f);
    for (size_t u = 0; u < lr_data_num_users(d); u++) {
        size_t len;
        const int32_t *s = lr_data_user_sequence(d, u, &len);
        for (size_t i = 0; i < len; i++)
            fprintf(f, "%s\t%s\t%zu\n", lr_data_user_token(d, u), lr_data_item_token(d, (size_t)s[i]), i);
    }
}

static int has_fields(const lr_data *d) {
    for (size_t i = 0; i < lr_data_num_items(d); i++)
        for (int k = 0; k < LR_DATA_NUM_FIELDS; k++)
            if (lr_data_item_field(d, i, (lr_data_field)k)) return 1;
    return 0;
}

/* Attributes that are not the brand and category fields: RecBole columns of their own. */
static int is_extra_attr(const lr_data *d, size_t a) {
    return strcmp(d->attrs[a].name, "brand") != 0 && strcmp(d->attrs[a].name, "category") != 0;
}

/* The text column stays second, as it was before fields: scripts read it by position, and it
 * keeps a text that is not made of the fields alone (a RecBole file's extra columns) as it is.
 * The loader takes the text from it and the fields from the columns after it; then come the
 * extra attributes, each its own column, so that they load back as they were. A category that
 * splits into tokens (MovieLens genres) goes in a `genres` column, a path in `categories`. */
static void write_items(FILE *f, const lr_data *d) {
    int fields = has_fields(d);
    fputs("item_id:token\ttext:token_seq", f);
    if (fields)
        fprintf(f, "\ttitle:token_seq\tbrand:token\t%s:token_seq",
                d->category_split == LR_ATTR_TOKENS ? "genres" : "categories");
    for (size_t a = 0; a < d->n_attrs; a++)
        if (is_extra_attr(d, a))
            fprintf(f, "\t%s:%s", d->attrs[a].name, d->attrs[a].split == LR_ATTR_TOKENS ? "token_seq" : "token");
    fputc('\n', f);
    for (size_t i = 0; i < lr_data_num_items(d); i++) {
        const char *t = lr_data_item_text(d, i);
        fprintf(f, "%s\t%s", lr_data_item_token(d, i), t ? t : "");
        for (int k = 0; fields && k < LR_DATA_NUM_FIELDS; k++) {
            const char *v = lr_data_item_field(d, i, (lr_data_field)k);
            fprintf(f, "\t%s", v ? v : "");
        }
        for (size_t a = 0; a < d->n_attrs; a++) {
            if (!is_extra_attr(d, a)) continue;
            size_t n;
            const uint32_t *ids = lr_data_item_attr(d, i, a, &n);
            fputc('\t', f);
            for (size_t j = 0; j < n; j++)
                fprintf(f, "%s%s", j ? " " : "", lr_data_attr_value(d, a, ids[j]));
        }
        fputc('\n', f);
    }
}

static void write_users(FILE *f, const lr_data *d) {
    fputs("user_id:token\n", f);
    for (size_t u = 0; u < lr_data_num_users(d); u++) fprintf(f, "%s\n", lr_data_user_token(d, u));
}

/* Writes one file next to its final name with `body`, then renames it into place. */
static int write_file(const lr_data *d, const char *dir, const char *prefix, const char *suffix,
                      void (*body)(FILE *f, const lr_data *d), lr_err *err) {
    size_t n = strlen(prefix) + strlen(suffix) + 8;
    char *name = malloc(n), *tmpname = malloc(n);
    char *path = NULL, *tmp = NULL;
    FILE *f = NULL;
    int rc = LR_OK;
    if (!name || !tmpname) goto oom;
    snprintf(name, n, "%s%s", prefix, suffix);
    snprintf(tmpname, n, ".%s%s.tmp", prefix, suffix);
    path = lr_data_path_join(dir, name);
    tmp = lr_data_path_join(dir, tmpname);
    if (!path || !tmp) goto oom;
    f = fopen(tmp, "wb");
    if (!f) {
        rc = lr_err_set(err, LR_EIO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    body(f, d);
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
        rc = lr_err_set(err, LR_EIO, "%s: write failed: %s", tmp, strerror(errno));
        goto done;
    }
    if (fclose(f) != 0) {
        f = NULL;
        rc = lr_err_set(err, LR_EIO, "%s: close failed: %s", tmp, strerror(errno));
        goto done;
    }
    f = NULL;
    if (rename(tmp, path) != 0) {
        rc = lr_err_set(err, LR_EIO, "rename(%s, %s): %s", tmp, path, strerror(errno));
        goto done;
    }
    goto done;
oom:
    rc = lr_err_set(err, LR_ENOMEM, "out of memory");
done:
    if (f) fclose(f);
    if (rc && tmp) unlink(tmp);
    free(name);
    free(tmpname);
    free(path);
    free(tmp);
    return rc;
}

int lr_data_write_recbole(const lr_data *d, const char *dir, const char *prefix, lr_err *err) {
    if (!prefix || !*prefix || strchr(prefix, '/'))
        return lr_err_set(err, LR_EINVAL, "prefix '%s' must be a plain file name", prefix ? prefix : "");
    for (size_t i = 0; i < lr_data_num_items(d); i++) {
        int rc = check_field(lr_data_item_token(d, i), "item id", i, err);
        if (!rc) rc = check_field(lr_data_item_text(d, i), "the text of item", i, err);
        for (int k = 0; !rc && k < LR_DATA_NUM_FIELDS; k++) {
            char what[32];
            snprintf(what, sizeof what, "the %s of item", lr_data_field_name((lr_data_field)k));
            rc = check_field(lr_data_item_field(d, i, (lr_data_field)k), what, i, err);
        }
        if (rc) return rc;
    }
    for (size_t u = 0; u < lr_data_num_users(d); u++) {
        int rc = check_field(lr_data_user_token(d, u), "user id", u, err);
        if (rc) return rc;
    }
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return lr_err_set(err, LR_EIO, "mkdir(%s): %s", dir, strerror(errno));
    /* Items and users first: a reader that sees the .inter file sees a complete set. */
    int rc = write_file(d, dir, prefix, ".item", write_items, err);
    if (!rc) rc = write_file(d, dir, prefix, ".user", write_users, err);
    if (!rc) rc = write_file(d, dir, prefix, ".inter", write_inter, err);
    return rc;
}
