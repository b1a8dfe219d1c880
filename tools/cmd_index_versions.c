/* learnrec index list / index use: an operator's view of an index directory's versions, and a
 * rollback to an earlier one (docs/operations.md). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "lr_index.h"

int lr_cmd_index_list(int argc, char **argv) {
    const char *cmd = "index list", *dir = NULL;
    int verify = 0;
    const lr_cli_option opts[] = {
        {LR_OPT_FLAG("verify", &verify, "open each version and check every file's checksum")}};
    const lr_cli_spec spec = {
        .cmd = cmd, .usage = "learnrec index list DIR [--verify]",
        .description =
            "Lists the published versions of an index directory, oldest first, with each one's\n"
            "creation time, vectors, index type and model checksum; '*' marks the version\n"
            "`current` points to (what serve loads at start and `reload` without a version).\n"
            "--verify opens each as serve would and prints ok or what is damaged; the exit\n"
            "status is then 1 when any version is damaged.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts), .positional = "DIR", .positional_dest = &dir};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_cli_set_threads(1, 0); /* FAISS: one OpenBLAS thread beside its OpenMP ones */
    lr_err err = {0};
    lr_index_version_list l;
    if (lr_index_versions(dir, &l, &err)) return lr_cli_fail(cmd, &err);
    int damaged = 0;
    printf("  version  created               vectors  index                model     %s\n",
           verify ? "check" : "");
    for (size_t i = 0; i < l.n; i++) {
        lr_index_manifest m;
        lr_err e = {0};
        int rc = lr_index_read_manifest(dir, l.names[i], &m, &e);
        lr_index *ix = NULL;
        if (!rc && verify) rc = lr_index_open(dir, l.names[i], 0, NULL, 0, &ix, NULL, &e);
        lr_index_free(ix);
        damaged |= rc != 0;
        const char *cur = strcmp(l.names[i], l.current) ? " " : "*";
        if (rc && !verify) {
            printf("%s %s  (manifest unreadable: %s)\n", cur, l.names[i], e.msg);
            continue;
        }
        const char *model = rc ? NULL : lr_index_manifest_meta(&m, "model");
        if (rc) printf("%s %s  damaged: %s\n", cur, l.names[i], e.msg);
        else printf("%s %s  %-20s  %8zu  %-19s  %-8s  %s\n", cur, l.names[i], m.created, m.count,
                    m.factory, model ? model : "-", verify ? "ok" : "");
    }
    if (!l.n) printf("  (no versions)\n");
    else if (!l.current[0]) printf("  (`current` points to no version)\n");
    lr_index_versions_free(&l);
    return verify && damaged ? LR_EXIT_ERROR : LR_EXIT_OK;
}

int lr_cmd_index_use(int argc, char **argv) {
    const char *cmd = "index use", *dir = NULL, *version = NULL;
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("version", &version, "vNNNNNN", "the version to make current"), .required = 1}};
    const lr_cli_spec spec = {
        .cmd = cmd, .usage = "learnrec index use DIR --version vNNNNNN",
        .description =
            "Makes an already published version current again: a rollback. The version is\n"
            "opened and every checksum verified first; then `current` is swapped with one\n"
            "rename. Running servers keep what they serve until told to `reload` (the method,\n"
            "with no version: they then load `current`); a restarted server loads it. Refused\n"
            "while a rebuild or build-index publishes into DIR. The next rebuild publishes a\n"
            "newer version and makes it current as usual.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts), .positional = "DIR", .positional_dest = &dir};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_cli_set_threads(1, 0);
    lr_err err = {0};
    lr_index_manifest m;
    if (lr_index_use(dir, version, &m, &err)) return lr_cli_fail(cmd, &err);
    printf("%s: current is now %s (%zu vectors, %s, created %s)\n", dir, m.version, m.count,
           m.factory, m.created);
    return LR_EXIT_OK;
}
