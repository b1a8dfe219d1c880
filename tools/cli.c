/* Shared pieces of the learnrec command line. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>

#include "cli.h"
#include "lr_data.h"
#include "lr_towers.h"

int lr_cli_dispatch(const lr_cli_command *cmds, size_t n, const char *usage_line, int argc,
                    char **argv) {
    int help = argc < 1 || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0 ||
               strcmp(argv[0], "help") == 0;
    if (!help) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(argv[0], cmds[i].name) == 0) return cmds[i].run(argc, argv);
    }
    FILE *out = help && argc >= 1 ? stdout : stderr;
    if (!help) fprintf(stderr, "unknown command '%s'\n\n", argv[0]);
    fprintf(out, "usage: %s\n\ncommands:\n", usage_line);
    for (size_t i = 0; i < n; i++) fprintf(out, "  %-12s %s\n", cmds[i].name, cmds[i].summary);
    fprintf(out, "\nEach command takes --help. Exit status: 0 ok, 1 error, 2 usage.\n");
    return help && argc >= 1 ? LR_EXIT_OK : LR_EXIT_USAGE;
}

void lr_cli_set_threads(size_t blas, size_t omp) {
    if (blas) openblas_set_num_threads((int)blas);
    if (omp) omp_set_num_threads((int)omp);
}

double lr_cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void lr_cli_fmt_duration(double s, char *buf, size_t cap) {
    unsigned long t = s > 0 && s < 1e8 ? (unsigned long)(s + 0.5) : 0; /* NaN or unknown: 0 */
    if (t >= 3600) snprintf(buf, cap, "%luh%02lum", t / 3600, t / 60 % 60);
    else snprintf(buf, cap, "%lum%02lus", t / 60, t % 60);
}

int lr_cli_fail(const char *cmd, const lr_err *err) {
    fprintf(stderr, "learnrec %s: %s\n", cmd, err->msg[0] ? err->msg : lr_strerror(err->code));
    return LR_EXIT_ERROR;
}

int lr_cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "learnrec %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'learnrec %s --help'.\n", cmd);
    return LR_EXIT_USAGE;
}

int lr_cli_open_towers(const char *data, const char *model, const char *content, lr_data **d, lr_pal **m,
                       lr_content **ct, lr_err *err) {
    int rc = lr_data_load(data, d, err);
    if (!rc) rc = lr_towers_pal_load(model, m, err);
    if (rc) return rc;
    size_t ni = lr_data_num_items(*d);
    lr_pal_config mc = lr_towers_pal_get_config(*m);
    if (content && (rc = lr_data_matrix_open(content, ni, ct, err))) return rc;
    if (mc.mode != LR_PAL_ID && !*ct)
        return lr_err_set(err, LR_EINVAL, "--content is required for a %s-mode model", lr_towers_pal_mode_name(mc.mode));
    if (mc.mode != LR_PAL_CONTENT && mc.n_items != ni)
        return lr_err_set(err, LR_EMISMATCH, "the model was trained on %zu items, the dataset has %zu", mc.n_items, ni);
    return LR_OK;
}

/* The token from the first line of path (without its line end) into a malloc'd string. The
 * messages name the file, never what it holds. */
int lr_cli_read_token(const char *path, char **out, lr_err *err) {
    FILE *f = fopen(path, "r");
    if (!f) return lr_err_set(err, LR_EIO, "--admin-token-file %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    fclose(f);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
    if (n <= 0 || strlen(line) != (size_t)n) {
        free(line);
        return lr_err_set(err, LR_EINVAL, "--admin-token-file %s: the first line must hold the token "
                          "(not empty, no NUL byte)", path);
    }
    *out = line;
    return LR_OK;
}
