/* learnrec dataset: inspect a dataset (info) and generate the synthetic catalogue (synth). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

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
    static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int json = 0, c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h':
            printf("usage: learnrec dataset info PATH [--json]\n\n"
                   "PATH is a dataset directory, a file prefix (dir/Scientific) or any file of a\n"
                   "dataset. Formats: RecBole atomic files (a sequence split with item_id_list,\n"
                   "UniSRec's with P.item2index or RecBole's benchmark files with P.item, or\n"
                   "ratings split leave-one-out by time) and Amazon Reviews 2018 raw files.\n\n"
                   "  --json   print the counts as one JSON object\n");
            return LR_EXIT_OK;
        default: return lr_cli_usage_error("dataset info", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind != argc - 1)
        return lr_cli_usage_error("dataset info", optind >= argc ? "missing PATH"
                                                                  : "expected one PATH");
    const char *path = argv[optind];
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
    static const struct option opts[] = {
        {"items", required_argument, NULL, 'i'}, {"users", required_argument, NULL, 'u'},
        {"seed", required_argument, NULL, 's'},  {"out", required_argument, NULL, 'o'},
        {"prefix", required_argument, NULL, 'p'}, {"mean-len", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},        {0, 0, 0, 0}};
    lr_synth_config cfg = lr_data_synth_config_default();
    const char *out = NULL, *prefix = "synth", *cmd = "dataset synth";
    int c;
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'i': if (lr_cli_parse_size(cmd, "--items", optarg, 1000, 1000000, &cfg.items)) return LR_EXIT_USAGE; break;
        case 'u': if (lr_cli_parse_size(cmd, "--users", optarg, 1, 10000000, &cfg.users)) return LR_EXIT_USAGE; break;
        case 's': if (lr_cli_parse_u64(cmd, "--seed", optarg, &cfg.seed)) return LR_EXIT_USAGE; break;
        case 'm': if (lr_cli_parse_size(cmd, "--mean-len", optarg, 3, 1000, &cfg.mean_seq_len)) return LR_EXIT_USAGE; break;
        case 'o': out = optarg; break;
        case 'p': prefix = optarg; break;
        case 'h':
            printf("usage: learnrec dataset synth --out DIR [--items N] [--users M] [--seed S]\n"
                   "                              [--prefix NAME] [--mean-len L]\n\n"
                   "Generates the synthetic catalogue: items in a category tree with brands and\n"
                   "titles from per-category vocabularies, users whose sequences follow drifting\n"
                   "tastes for categories and brands. Writes RecBole atomic files DIR/NAME.inter,\n"
                   "DIR/NAME.item and DIR/NAME.user, which 'learnrec dataset info DIR' reads.\n\n"
                   "  --items N     items, 1000 to 1000000 (default %zu)\n"
                   "  --users M     users (default %zu)\n"
                   "  --seed S      random seed; the same seed gives the same files (default %llu)\n"
                   "  --prefix NAME file name prefix (default synth)\n"
                   "  --mean-len L  mean sequence length (default %zu)\n",
                   cfg.items, cfg.users, (unsigned long long)cfg.seed, cfg.mean_seq_len);
            return LR_EXIT_OK;
        case ':': return lr_cli_usage_error(cmd, "%s needs a value", argv[optind - 1]);
        default: return lr_cli_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) return lr_cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!out) return lr_cli_usage_error(cmd, "--out DIR is required");
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
    const char *cmd = "dataset texts";
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: learnrec dataset texts PATH\n\n"
               "Prints every item's text, one per line in item order (line i = item i; an empty\n"
               "line for an item without text; tabs and newlines become spaces). This is the\n"
               "input of tools/llm_export.py.\n");
        return LR_EXIT_OK;
    }
    if (argc != 2) return lr_cli_usage_error(cmd, argc < 2 ? "missing PATH" : "expected one PATH");
    lr_err err = {0};
    lr_data *d;
    if (lr_data_load(argv[1], &d, &err)) return lr_cli_fail(cmd, &err);
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
