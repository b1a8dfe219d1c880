/* learnrec: the command line of the retrieval engine. One binary, one subcommand per job. */
#include <stddef.h>

#include "cli.h"

int main(int argc, char **argv) {
    static const lr_cli_command cmds[] = {
        {"version", lr_cmd_version, "print versions and which FAISS build is in use"},
        {"dataset", lr_cmd_dataset, "inspect and generate datasets"},
        {"content", lr_cmd_content, "content embeddings: fit the text encoder, import, encode"},
        {"train", lr_cmd_train, "train the PAL towers on a dataset's behaviour"},
        {"embed-items", lr_cmd_embed_items, "run the item tower over every item"},
        {"eval", lr_cmd_eval, "full-ranking evaluation with baselines"},
        {"build-index", lr_cmd_build_index, "build, tune and publish the item index"},
        {"index", lr_cmd_index, "inspect an index directory"},
        {"search", lr_cmd_search, "search an index with query vectors"},
        {"rebuild", lr_cmd_rebuild, "item tower, index, tuning and publishing in one job"},
    };
    return lr_cli_dispatch(cmds, sizeof cmds / sizeof cmds[0], "learnrec <command> [options]",
                           argc - 1, argv + 1);
}
