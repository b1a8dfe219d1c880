/* Shared pieces of the learnrec command line: exit codes, option parsing, error printing. */
#ifndef LR_CLI_H
#define LR_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "lr_error.h"

enum { LR_EXIT_OK = 0, LR_EXIT_ERROR = 1, LR_EXIT_USAGE = 2 };

/* A subcommand: argv[0] is its own name. Returns an exit code. */
typedef int (*lr_cli_fn)(int argc, char **argv);

typedef struct {
    const char *name;
    lr_cli_fn run;
    const char *summary;
} lr_cli_command;

/* Runs the subcommand named by argv[0] from the table, or prints the table as help.
 * `usage_line` is e.g. "learnrec dataset <command> [options]". */
int lr_cli_dispatch(const lr_cli_command *cmds, size_t n, const char *usage_line, int argc,
                    char **argv);

/* Parses an integer option value in [min, max]; prints a usage error and returns -1 if not. */
int lr_cli_parse_size(const char *cmd, const char *opt, const char *s, size_t min, size_t max,
                      size_t *out);
int lr_cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);

struct lr_data;
struct lr_pal;
struct lr_data_matrix; /* lr_content */
/* The dataset, the towers and (unless id mode) the content matrix, checked to belong together:
 * content rows = items, content given unless id mode, an id table as long as the catalogue. */
int lr_cli_open_towers(const char *data, const char *model, const char *content, struct lr_data **d,
                       struct lr_pal **m, struct lr_data_matrix **ct, lr_err *err);

/* Seconds on a monotonic clock, for the timings commands report. */
double lr_cli_now(void);

/* "learnrec <cmd>: <message>" on stderr; returns LR_EXIT_ERROR. */
int lr_cli_fail(const char *cmd, const lr_err *err);
/* "learnrec <cmd>: <message>\nTry 'learnrec <cmd> --help'." on stderr; returns LR_EXIT_USAGE. */
int lr_cli_usage_error(const char *cmd, const char *fmt, ...);

int lr_cmd_version(int argc, char **argv);
int lr_cmd_dataset(int argc, char **argv);
int lr_cmd_content(int argc, char **argv);
int lr_cmd_train(int argc, char **argv);
int lr_cmd_embed_items(int argc, char **argv);
int lr_cmd_embed_users(int argc, char **argv);
int lr_cmd_eval(int argc, char **argv);
int lr_cmd_build_index(int argc, char **argv);
int lr_cmd_index(int argc, char **argv);
int lr_cmd_search(int argc, char **argv);
int lr_cmd_rebuild(int argc, char **argv);
int lr_cmd_serve(int argc, char **argv);
int lr_cmd_query(int argc, char **argv);
int lr_cmd_bench(int argc, char **argv);

#endif /* LR_CLI_H */
