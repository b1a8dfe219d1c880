/* learnrec: the command line of the retrieval engine. One binary, one subcommand per job. */
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

#include "cli.h"

/* libgomp reads its wait policy once, as it loads, before main. Left unset, its idle threads
 * spin between FAISS's and the towers' parallel regions, on the very cores the working thread
 * needs: training ran 1,151 examples/s against 1,849 passive, and a 1%-changed rebuild of 1M
 * items used 25.1 s of CPU against 16.4 s (docs/benchmarks.md). So unless the operator chose a
 * policy, the program asks for passive waiting and starts itself again, once, with the same
 * arguments and pid. When that cannot be done (no /proc), it runs on with libgomp's default,
 * and the variable is taken back so that `version` does not claim a policy not in force. */
static void omp_wait_passive(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv);
    unsetenv("OMP_WAIT_POLICY");
}

int main(int argc, char **argv) {
    omp_wait_passive(argv);
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
