/* Shared pieces of the learnrec command line: exit codes, option parsing, error printing. */
#ifndef LR_CLI_H
#define LR_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "lr_data.h"
#include "lr_error.h"
#include "lr_index.h"
#include "lr_towers.h"

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

/* ---- options (options.c) ----
 * A command lists its options in a table of lr_cli_option; lr_cli_parse reads argv against it,
 * so that help, missing values, unknown options, bounds and extra arguments are handled, and
 * worded, the same way by every command. The table's destinations are the command's own
 * variables; what they hold before parsing is the default the help shows. */
typedef enum {
    LR_CLI_FLAG,    /* int *: set to 1 */
    LR_CLI_SET,     /* int *: set to .value (--no-pos sets the positions to none) */
    LR_CLI_STRING,  /* const char **: the value; given twice, the last one */
    LR_CLI_STRINGS, /* lr_cli_strings *: every value in order (an option that repeats) */
    LR_CLI_SIZE,    /* size_t *: an integer in [.min, .max] */
    LR_CLI_U64,     /* uint64_t *: any non-negative integer */
    LR_CLI_DOUBLE,  /* double *: a number from .lo to .hi, each end excluded if .lo_open/.hi_open */
    LR_CLI_FLOAT,   /* float *: the same */
    LR_CLI_CHOICE,  /* int *: the .value of the entry of .choices named */
    LR_CLI_CUSTOM,  /* anything: .parse stores the value or prints a usage error and fails */
} lr_cli_kind;

typedef struct {
    const char *name;
    int value;
} lr_cli_choice; /* a table of them ends with {NULL, 0} */

typedef struct {
    const char **v; /* cap entries, caller-owned */
    size_t n, cap;
} lr_cli_strings;

typedef struct {
    const char *name; /* the long name without "--" */
    char short_name;  /* 'k' for -k, or 0 */
    lr_cli_kind kind;
    void *dest;
    const char *arg;  /* the value's name in the help ("N"); a choice's defaults to "a|b|c" */
    const char *help; /* one line, or several separated by '\n' */
    const char *dflt; /* the default the help shows; NULL: what dest holds; "": none */
    int required;     /* the command does not run without it */
    int *given;       /* may be NULL: set to 1 when the option is given */
    size_t min, max;  /* LR_CLI_SIZE */
    double lo, hi;    /* LR_CLI_DOUBLE, LR_CLI_FLOAT */
    int lo_open, hi_open;
    const lr_cli_choice *choices; /* LR_CLI_CHOICE */
    int value;                    /* LR_CLI_SET */
    /* LR_CLI_CUSTOM: `opt` is the option as spelled, for the message; 0 or a usage error */
    int (*parse)(const char *cmd, const char *opt, const char *value, void *dest);
} lr_cli_option;

/* The table's entries, one line each: {LR_OPT_SIZE("keep", &keep, 0, 1000, "K", "versions kept")},
 * with more fields after the macro when needed: {LR_OPT_STRING(...), .required = 1}. The
 * _Generic checks that a destination has the kind's type. */
#define LR_CLI_DEST(type, p) _Generic((p), type: (p))
#define LR_OPT_FLAG(n, d, h) .name = (n), .kind = LR_CLI_FLAG, .dest = LR_CLI_DEST(int *, d), .help = (h)
#define LR_OPT_SET(n, d, v, h) \
    .name = (n), .kind = LR_CLI_SET, .dest = LR_CLI_DEST(int *, d), .value = (v), .help = (h)
#define LR_OPT_STRING(n, d, a, h) \
    .name = (n), .kind = LR_CLI_STRING, .dest = LR_CLI_DEST(const char **, d), .arg = (a), .help = (h)
#define LR_OPT_STRINGS(n, d, a, h) \
    .name = (n), .kind = LR_CLI_STRINGS, .dest = LR_CLI_DEST(lr_cli_strings *, d), .arg = (a), .help = (h)
#define LR_OPT_SIZE(n, d, lo_, hi_, a, h)                                                           \
    .name = (n), .kind = LR_CLI_SIZE, .dest = LR_CLI_DEST(size_t *, d), .min = (lo_), .max = (hi_), \
    .arg = (a), .help = (h)
#define LR_OPT_U64(n, d, a, h) \
    .name = (n), .kind = LR_CLI_U64, .dest = LR_CLI_DEST(uint64_t *, d), .arg = (a), .help = (h)
#define LR_OPT_DOUBLE(n, d, lo_, hi_, a, h)                                                         \
    .name = (n), .kind = LR_CLI_DOUBLE, .dest = LR_CLI_DEST(double *, d), .lo = (lo_), .hi = (hi_), \
    .arg = (a), .help = (h)
#define LR_OPT_FLOAT(n, d, lo_, hi_, a, h)                                                        \
    .name = (n), .kind = LR_CLI_FLOAT, .dest = LR_CLI_DEST(float *, d), .lo = (lo_), .hi = (hi_), \
    .arg = (a), .help = (h)
#define LR_OPT_CHOICE(n, d, c, h) \
    .name = (n), .kind = LR_CLI_CHOICE, .dest = LR_CLI_DEST(int *, d), .choices = (c), .help = (h)
#define LR_OPT_CUSTOM(n, d, fn, a, h) .name = (n), .kind = LR_CLI_CUSTOM, .dest = (d), .parse = (fn), \
    .arg = (a), .help = (h)
/* An enum variable as a choice's int: it fails to compile unless the enum is int-sized (it is for
 * ours, whose values are small and non-negative; such an int and enum may alias). */
#define LR_CLI_ENUM(p) ((int *)(p) + 0 * sizeof(char[sizeof *(p) == sizeof(int) ? 1 : -1]))

typedef struct {
    const char *cmd;         /* "dataset synth", as messages name it */
    const char *usage;       /* after "usage: ": "learnrec dataset synth --out DIR [...]" */
    const char *description; /* paragraphs between the usage and the options; may be NULL */
    const lr_cli_option *opts;
    size_t n_opts; /* at most 64 */
    /* "PATH" when the command takes exactly one argument besides its options, else NULL */
    const char *positional;
    const char **positional_dest;
} lr_cli_spec;

#define LR_CLI_COUNT(a) (sizeof(a) / sizeof((a)[0]))
enum { LR_CLI_RUN = -1 };

/* Reads argv (argv[0]: the command's name) against the spec: "--name value", "--name=value", a
 * unique prefix of a name, "-c value", "-cvalue", "--" before arguments that start with '-'.
 * Returns LR_CLI_RUN when the command should run; otherwise an exit code: LR_EXIT_OK after
 * printing the help for --help or -h, LR_EXIT_USAGE after a usage error on stderr. */
int lr_cli_parse(const lr_cli_spec *spec, int argc, char **argv);
/* The usage, the description and one line per option with its help and default, on stdout. */
int lr_cli_print_help(const lr_cli_spec *spec);

/* An integer option value in [min, max] (or any, for u64); -1 after a usage error. */
int lr_cli_parse_size(const char *cmd, const char *opt, const char *s, size_t min, size_t max,
                      size_t *out);
int lr_cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);

struct lr_data;
struct lr_pal;
struct lr_data_matrix; /* lr_content */
/* The dataset, the towers and (unless id mode) the content matrix, checked to belong together:
 * content rows = items, content given unless id mode, an id table as long as the catalogue. */
/* cmd_index.c: --tune-k of build-index and rebuild (the values of k, each tuned to its own
 * operating point; a custom option parser, 0 or -1 after a usage error), and the points chosen,
 * one line per k. */
typedef struct {
    size_t k[LR_INDEX_MAX_POINTS], n;
} lr_cli_tune_ks;
int lr_cli_parse_tune_k(const char *cmd, const char *opt, const char *s, void *dest);
/* --vectors-dtype of build-index and rebuild: auto (-1: lr_index_default_vectors_f16), f32 (0), f16 (1). */
extern const lr_cli_choice lr_cli_vectors_dtypes[];
void lr_cli_print_points(const lr_index_tune *pts, size_t n, double target);

/* rebuild_reuse.c: what a rebuild takes over from the version `current` names. */
typedef struct {
    int usable;           /* the vectors of unchanged items are taken over */
    int codes_usable;     /* and the index's quantizer and codes can be (IVF with array lists) */
    char why[200];        /* why not, when not usable ("" when there was nothing to say) */
    lr_index_manifest man;
    int64_t *old_to_new;  /* the previous ids' new ids (-1: removed or changed) */
    size_t n_old;
} lr_cli_prev;

/* An XXH3 hash of each content row (0 for every item in id mode): hash, ni values. */
void lr_cli_content_hashes(const lr_data_matrix *ct, size_t ni, uint64_t *hash);
/* The rows a version records: each item's token and content hash. */
int lr_cli_rows_of(const struct lr_data *d, const uint64_t *hash, lr_index_rows **out, lr_err *err);
/* Reads the current version of dir when it was built by model_crc for D-d vectors and records
 * rows and vectors: the vectors of items whose token and hash are unchanged are copied into items
 * (row = item), the others listed in todo (*n_todo). p->usable 0 (and p->why) otherwise, which is
 * no error, even for a damaged previous version (the job then builds everything); only running
 * out of memory is. */
int lr_cli_prev_open(const char *dir, const char *model_crc, size_t D, const struct lr_data *d, const uint64_t *hash,
                     float *items, int32_t *todo, size_t *n_todo, lr_cli_prev *p, lr_err *err);
/* The previous version's index itself (its codes, to renumber). */
int lr_cli_prev_index(const lr_cli_prev *p, const char *dir, lr_index **out, lr_err *err);
void lr_cli_prev_close(lr_cli_prev *p);

/* eval_report.c: eval's slices (history length, target popularity, cold start) as a JSON object
 * (NULL when out of memory), and its --per-user file (docs/eval.md). */
struct json_t;
/* How often each item occurs in the users' training parts (the items before each user's valid
 * target): its popularity, 0 for a cold-start item. counts: ni, zeroed. */
void lr_cli_train_counts(const struct lr_data *d, size_t *counts);
struct json_t *lr_cli_eval_slices(const struct lr_data *d, lr_split split, const int32_t *targets,
                                  const lr_eval_rank *ranks);
int lr_cli_eval_per_user(const char *path, const struct lr_data *d, lr_split split, const int32_t *targets,
                         const lr_eval_rank *ranks, const int32_t *top, size_t k, lr_err *err);

/* attrs.c: the dataset's item attributes as an index publishes them (*out NULL when it has
 * none). */
struct lr_index_attrs;
int lr_cli_attrs_of(const struct lr_data *d, struct lr_index_attrs **out, lr_err *err);

int lr_cli_open_towers(const char *data, const char *model, const char *content, struct lr_data **d,
                       struct lr_pal **m, struct lr_data_matrix **ct, lr_err *err);

/* The one place learnrec sets thread counts, once, at a command's start (libraries never do):
 * OpenBLAS's and this thread's OpenMP team size; 0 leaves one as it is (all cores). Commands that
 * run FAISS keep OpenBLAS at 1: its threads fight FAISS's OpenMP ones (design.md section 4). */
void lr_cli_set_threads(size_t blas, size_t omp);

/* Seconds on a monotonic clock, for the timings commands report. */
double lr_cli_now(void);
/* Seconds as "4m05s" or "2h07m" for progress lines (an ETA); negative, NaN or huge: 0m00s. */
void lr_cli_fmt_duration(double s, char *buf, size_t cap);

/* cmd_llm.c: content llm and content tokenize, and content encode's --llm: n texts through the
 * LLM in dir; *out (n * *dim floats) is malloc'd, the caller frees it. */
int lr_cmd_content_llm(int argc, char **argv);
int lr_cmd_content_tokenize(int argc, char **argv);
int lr_cli_llm_encode(const char *dir, const char *const *texts, size_t n, float **out, size_t *dim,
                      lr_err *err);

/* --admin-token-file: the token from the first line of path (without its line end), malloc'd;
 * the messages name the file, never what it holds. */
int lr_cli_read_token(const char *path, char **out, lr_err *err);

/* "learnrec <cmd>: <message>" on stderr; returns LR_EXIT_ERROR. */
int lr_cli_fail(const char *cmd, const lr_err *err);
/* "learnrec <cmd>: <message>\nTry 'learnrec <cmd> --help'." on stderr; returns LR_EXIT_USAGE. */
int lr_cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int lr_cmd_version(int argc, char **argv);
int lr_cmd_dataset(int argc, char **argv);
int lr_cmd_content(int argc, char **argv);
int lr_cmd_train(int argc, char **argv);
int lr_cmd_embed_items(int argc, char **argv);
int lr_cmd_embed_users(int argc, char **argv);
int lr_cmd_eval(int argc, char **argv);
int lr_cmd_build_index(int argc, char **argv);
int lr_cmd_index(int argc, char **argv);
int lr_cmd_index_list(int argc, char **argv); /* cmd_index_versions.c */
int lr_cmd_index_use(int argc, char **argv);
int lr_cmd_search(int argc, char **argv);
int lr_cmd_rebuild(int argc, char **argv);
int lr_cmd_serve(int argc, char **argv);
int lr_cmd_query(int argc, char **argv);
int lr_cmd_bench(int argc, char **argv);

#endif /* LR_CLI_H */
