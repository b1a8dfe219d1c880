/* learnrec dataset: inspect a dataset (info) and generate the synthetic catalogue (synth). */
#include <stdio.h>

#include <jansson.h>

#include "cli.h"
#include "lr_data.h"

static int info_json(const char *path, const lr_data *d, const lr_data_stats *st) {
    json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:f, s:I, s:I}", "path", path, "format",
                          lr_data_format_name(lr_data_get_format(d)), "users", (json_int_t)st->users,
                          "items", (json_int_t)st->items, "interactions",
                          (json_int_t)st->interactions, "users_with_targets",
                          (json_int_t)st->users_with_targets, "mean_seq_len", st->mean_seq_len,
                          "max_seq_len", (json_int_t)st->max_seq_len, "items_without_text",
                          (json_int_t)st->items_without_text);
    if (!o) {
        fprintf(stderr, "learnrec dataset info: out of memory\n");
        return LR_EXIT_ERROR;
    }
    int rc = json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    printf("\n");
    return rc ? LR_EXIT_ERROR : LR_EXIT_OK;
}

static int dataset_info(int argc, char **argv) {
    const char *path = NULL;
    int json = 0;
    const lr_cli_option opts[] = {{LR_OPT_FLAG("json", &json, "print the counts as one JSON object")}};
    const lr_cli_spec spec = {
        .cmd = "dataset info", .usage = "learnrec dataset info PATH [--json]",
        .description =
            "PATH is a dataset directory, a file prefix (dir/Scientific) or any file of a\n"
            "dataset. Formats: RecBole atomic files (a sequence split with item_id_list,\n"
            "UniSRec's with P.item2index or RecBole's benchmark files with P.item, or\n"
            "ratings split leave-one-out by time) and Amazon Reviews 2018 raw files.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts), .positional = "PATH", .positional_dest = &path};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_err err = {0};
    lr_data *d;
    if (lr_data_load(path, &d, &err)) return lr_cli_fail("dataset info", &err);
    lr_data_stats st = lr_data_get_stats(d);
    int rc = LR_EXIT_OK;
    if (json) {
        rc = info_json(path, d, &st);
    } else {
        printf("path: %s\n", path);
        printf("format: %s\n", lr_data_format_name(lr_data_get_format(d)));
        printf("users: %zu\n", st.users);
        printf("items: %zu\n", st.items);
        printf("interactions: %zu\n", st.interactions);
        printf("users with valid and test targets: %zu\n", st.users_with_targets);
        printf("mean sequence length: %.2f\n", st.mean_seq_len);
        printf("max sequence length: %zu\n", st.max_seq_len);
        printf("items without text: %zu\n", st.items_without_text);
    }
    lr_data_free(d);
    return rc;
}

static int dataset_synth(int argc, char **argv) {
    lr_synth_config cfg = lr_data_synth_config_default();
    const char *out = NULL, *prefix = "synth", *cmd = "dataset synth";
    const lr_cli_option opts[] = {
        {LR_OPT_STRING("out", &out, "DIR", "where the files go"), .required = 1},
        {LR_OPT_SIZE("items", &cfg.items, 1000, 1000000, "N", "items, 1000 to 1000000")},
        {LR_OPT_SIZE("users", &cfg.users, 1, 10000000, "M", "users")},
        {LR_OPT_U64("seed", &cfg.seed, "S", "random seed; the same seed gives the same files")},
        {LR_OPT_STRING("prefix", &prefix, "NAME", "file name prefix")},
        {LR_OPT_SIZE("mean-len", &cfg.mean_seq_len, 3, 1000, "L", "mean sequence length")},
    };
    const lr_cli_spec spec = {
        .cmd = cmd,
        .usage = "learnrec dataset synth --out DIR [--items N] [--users M] [--seed S]\n"
                 "                              [--prefix NAME] [--mean-len L]",
        .description =
            "Generates the synthetic catalogue: items in a category tree with brands and\n"
            "titles from per-category vocabularies, users whose sequences follow drifting\n"
            "tastes for categories and brands. Writes RecBole atomic files DIR/NAME.inter,\n"
            "DIR/NAME.item and DIR/NAME.user, which 'learnrec dataset info DIR' reads.",
        .opts = opts, .n_opts = LR_CLI_COUNT(opts)};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    if (cfg.mean_seq_len > cfg.max_seq_len) cfg.max_seq_len = cfg.mean_seq_len * 4;
    lr_err err = {0};
    lr_data *d;
    if (lr_data_synth(&cfg, &d, &err)) return lr_cli_fail(cmd, &err);
    int rc = lr_data_write_recbole(d, out, prefix, &err);
    if (!rc) {
        lr_data_stats st = lr_data_get_stats(d);
        printf("wrote %s/%s.{inter,item,user}: %zu items, %zu users, %zu interactions (seed %llu)\n",
               out, prefix, st.items, st.users, st.interactions, (unsigned long long)cfg.seed);
    }
    lr_data_free(d);
    return rc ? lr_cli_fail(cmd, &err) : LR_EXIT_OK;
}

static int dataset_texts(int argc, char **argv) {
    const char *cmd = "dataset texts", *path = NULL;
    const lr_cli_spec spec = {
        .cmd = cmd, .usage = "learnrec dataset texts PATH",
        .description =
            "Prints every item's text, one per line in item order (line i = item i; an empty\n"
            "line for an item without text; tabs and newlines become spaces). This is the\n"
            "input of tools/llm_export.py.",
        .positional = "PATH", .positional_dest = &path};
    int p = lr_cli_parse(&spec, argc, argv);
    if (p != LR_CLI_RUN) return p;
    lr_err err = {0};
    lr_data *d;
    if (lr_data_load(path, &d, &err)) return lr_cli_fail(cmd, &err);
    for (size_t i = 0; i < lr_data_num_items(d); i++) {
        const char *t = lr_data_item_text(d, i);
        for (; t && *t; t++) putchar(*t == '\t' || *t == '\n' || *t == '\r' ? ' ' : *t);
        putchar('\n');
    }
    lr_data_free(d);
    return fflush(stdout) == 0 ? LR_EXIT_OK : LR_EXIT_ERROR;
}

int lr_cmd_dataset(int argc, char **argv) {
    static const lr_cli_command cmds[] = {
        {"info", dataset_info, "print counts of a dataset (users, items, interactions, ...)"},
        {"synth", dataset_synth, "generate the synthetic catalogue as RecBole atomic files"},
        {"texts", dataset_texts, "print every item's text, one line per item"},
    };
    return lr_cli_dispatch(cmds, sizeof cmds / sizeof cmds[0], "learnrec dataset <command> [options]",
                           argc - 1, argv + 1);
}
