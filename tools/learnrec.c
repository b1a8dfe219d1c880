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
        {"embed-users", lr_cmd_embed_users, "run the user tower over each user's history"},
        {"eval", lr_cmd_eval, "full-ranking evaluation with baselines"},
        {"build-index", lr_cmd_build_index, "build, tune and publish the item index"},
        {"index", lr_cmd_index, "inspect an index directory"},
        {"search", lr_cmd_search, "search an index with query vectors"},
        {"rebuild", lr_cmd_rebuild, "item tower, index, tuning and publishing in one job"},
        {"serve", lr_cmd_serve, "serve recommendations over msgpack-rpc and HTTP"},
        {"query", lr_cmd_query, "ask a running server for one history's recommendations"},
        {"bench", lr_cmd_bench, "load-test a running server: throughput and latency"},
    };
    return lr_cli_dispatch(cmds, sizeof cmds / sizeof cmds[0], "learnrec <command> [options]",
                           argc - 1, argv + 1);
}
