/* Finding a dataset from one path: a directory, a file prefix, or any file of a dataset. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_internal.h"

/* Suffixes of RecBole atomic files, longest first so ".train.inter" wins over ".inter". */
static const char *const recbole_suffixes[] = {
    ".train.inter", ".valid.inter", ".test.inter", ".item2index", ".user2index",
    ".inter", ".text", ".item", ".user", NULL};

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a > b && strcmp(s + a - b, suffix) == 0;
}

/* Looks in dir for the one file that names a dataset: *.train.inter, then *_5.json.gz, then
 * *.inter. Writes its prefix (or Amazon category) and returns the format, or -1. */
static int discover_in_dir(const char *dir, char *name, size_t cap, int *count, lr_err *err) {
    static const struct { const char *suffix; int format; } kinds[] = {
        {".train.inter", LR_DATA_RECBOLE_SEQ},
        {"_5.json.gz", LR_DATA_AMAZON_RAW},
        {".inter", LR_DATA_RECBOLE_RATING},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        DIR *d = opendir(dir);
        if (!d) return lr_err_set(err, LR_EIO, "%s: cannot list: %s", dir, strerror(errno));
        *count = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            const char *s = kinds[k].suffix;
            /* hidden files are skipped: macOS copies leave "._X" twins beside real files */
            if (e->d_name[0] == '.' || !ends_with(e->d_name, s)) continue;
            if (kinds[k].format == LR_DATA_RECBOLE_RATING &&
                (ends_with(e->d_name, ".train.inter") || ends_with(e->d_name, ".valid.inter") ||
                 ends_with(e->d_name, ".test.inter")))
                continue;
            size_t n = strlen(e->d_name) - strlen(s);
            if (++*count == 1 && n < cap) {
                memcpy(name, e->d_name, n);
                name[n] = '\0';
            }
        }
        closedir(d);
        if (*count == 1) return kinds[k].format;
        if (*count > 1)
            return lr_err_set(err, LR_EINVAL, "%s: holds %d datasets (*%s files); name one by its "
                              "prefix, e.g. %s/NAME", dir, *count, kinds[k].suffix, dir);
    }
    return lr_err_set(err, LR_ENOTFOUND, "%s: no dataset found (expected PREFIX.train.inter, "
                      "PREFIX.inter or CATEGORY_5.json.gz)", dir);
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int lr_data_load(const char *path, lr_data **out, lr_err *err) {
    *out = NULL;
    if (!path || !*path) return lr_err_set(err, LR_EINVAL, "no dataset path given");
    char name[1024];
    if (is_dir(path)) {
        int count;
        int f = discover_in_dir(path, name, sizeof name, &count, err);
        if (f < 0) return f;
        if (f == LR_DATA_AMAZON_RAW) return lr_data_load_amazon(path, name, out, err);
        return lr_data_load_recbole(path, name, out, err);
    }
    /* A file of the set or a bare prefix: split into directory and prefix. */
    char *copy = strdup(path);
    if (!copy) return lr_err_set(err, LR_ENOMEM, "out of memory");
    char *slash = strrchr(copy, '/');
    const char *dir = ".";
    char *base = copy;
    if (slash) {
        *slash = '\0';
        dir = slash == copy ? "/" : copy;
        base = slash + 1;
    }
    int rc;
    if (ends_with(base, "_5.json.gz") ||
        (strncmp(base, "meta_", 5) == 0 && ends_with(base, ".json.gz"))) {
        base[strlen(base) - strlen(ends_with(base, "_5.json.gz") ? "_5.json.gz" : ".json.gz")] = '\0';
        rc = lr_data_load_amazon(dir, strncmp(base, "meta_", 5) == 0 ? base + 5 : base, out, err);
    } else {
        for (const char *const *s = recbole_suffixes; *s; s++)
            if (ends_with(base, *s)) {
                base[strlen(base) - strlen(*s)] = '\0';
                break;
            }
        rc = lr_data_load_recbole(dir, base, out, err);
    }
    free(copy);
    return rc;
}
