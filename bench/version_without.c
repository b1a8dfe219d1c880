/* A published version of an index without chosen ids, for the churn benchmark (bench/churn.sh):
 * two versions of one catalogue whose id sets differ by known sets, so that an answer tells
 * which version served it.
 *
 * usage: version_without SRC DST IDS.txt
 *   Opens SRC's current version (manifest and checksums verified), removes the ids listed in
 *   IDS.txt (one per line) the way the server's remove_items does (lr_index_remove), and
 *   publishes the result as the next version of DST (created when missing; DST may be SRC) with
 *   SRC's metadata (model and content checksums), operating points, re-scoring vectors and their
 *   dtype. Prints "VERSION COUNT": the version made and the ids it serves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_cli.h"
#include "lr_index.h"

static const char usage[] =
    "usage: version_without SRC DST IDS.txt\n"
    "  Publishes SRC's current version without the ids of IDS.txt (one per line) as the next\n"
    "  version of DST, with SRC's metadata, operating points and re-scoring vectors; prints\n"
    "  \"VERSION COUNT\".\n";

/* The ids of path, one per line (malloc'd into *ids). */
static int read_ids(const char *path, int64_t **ids, size_t *n, lr_err *err) {
    FILE *f = fopen(path, "r");
    if (!f) return lr_err_set(err, LR_EIO, "%s: cannot open", path);
    size_t cap = 0;
    long long v;
    int rc = LR_OK;
    *ids = NULL;
    *n = 0;
    while (!rc && fscanf(f, "%lld", &v) == 1) {
        if (*n == cap) {
            int64_t *g = realloc(*ids, (cap = cap ? 2 * cap : 1024) * sizeof *g);
            if (!g) rc = lr_err_set(err, LR_ENOMEM, "out of memory");
            else *ids = g;
        }
        if (!rc) (*ids)[(*n)++] = v;
    }
    if (!rc && !feof(f)) rc = lr_err_set(err, LR_EFORMAT, "%s: expected one integer id per line", path);
    fclose(f);
    return rc;
}

int main(int argc, char **argv) {
    bench_help_exits(argc, argv, usage);
    for (int i = 1; i < argc; i++)
        if (argv[i][0] == '-') bench_refuse("version_without", "unknown option '%s'", argv[i]);
    if (argc != 4) bench_refuse("version_without", "usage: version_without SRC DST IDS.txt, got %d arguments", argc - 1);
    lr_index *ix = NULL;
    lr_index_manifest src, made;
    lr_err err = {0};
    int64_t *ids = NULL;
    size_t n = 0, removed = 0;
    int rc = lr_index_open(argv[1], NULL, 0, NULL, 0, &ix, &src, &err);
    if (!rc) rc = read_ids(argv[3], &ids, &n, &err);
    if (!rc) rc = lr_index_remove(ix, n, ids, &removed, &err);
    if (!rc) {
        lr_index_kv meta[LR_INDEX_MAX_META];
        for (size_t i = 0; i < src.n_meta; i++) meta[i] = (lr_index_kv){src.meta[i].key, src.meta[i].value};
        lr_index_publish_opts o = {.meta = meta, .n_meta = src.n_meta, .tuned_on = src.tuned_on,
                                   .vectors_f16 = !strcmp(src.vectors_dtype, "f16")};
        rc = lr_index_publish(ix, argv[2], &o, &made, &err);
    }
    if (!rc) {
        printf("%s %zu\n", made.version, made.count - made.removed_count);
        fprintf(stderr, "version_without: %s/versions/%s is %s's %s minus %zu ids (of %zu listed)\n",
                argv[2], made.version, argv[1], src.version, removed, n);
    } else {
        fprintf(stderr, "version_without: %s\n", err.msg);
    }
    free(ids);
    lr_index_free(ix);
    return rc ? 1 : 0;
}
