/* The learnrec option parser: each command gives a table of its options (cli.h) and this file
 * reads argv against it, prints the help made from it and words every usage error the same way
 * for every command. getopt_long did the scanning before; it could not check values, and each of
 * its 15 loops repeated the same switch around it. */
#include <assert.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Every command takes --help and -h; it is listed last in the help. */
static const lr_cli_option help_option = {
    .name = "help", .short_name = 'h', .kind = LR_CLI_FLAG, .help = "print this help and exit"};

int lr_cli_parse_u64(const char *cmd, const char *opt, const char *s, uint64_t *out) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *end || errno || s[0] == '-') {
        lr_cli_usage_error(cmd, "%s expects a non-negative integer, got '%s'", opt, s);
        return -1;
    }
    *out = v;
    return 0;
}

int lr_cli_parse_size(const char *cmd, const char *opt, const char *s, size_t min, size_t max,
                      size_t *out) {
    uint64_t v;
    if (lr_cli_parse_u64(cmd, opt, s, &v)) return -1;
    if (v < min || v > max) {
        lr_cli_usage_error(cmd, "%s must be between %zu and %zu, got %s", opt, min, max, s);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

/* A number between o->lo and o->hi, each end in or out as the option says; NaN never is. */
static int parse_number(const char *cmd, const char *opt, const lr_cli_option *o, const char *s,
                        double *out) {
    char *end;
    double v = strtod(s, &end);
    int in = (o->lo_open ? v > o->lo : v >= o->lo) && (o->hi_open ? v < o->hi : v <= o->hi);
    if (o->kind == LR_CLI_FLOAT && fabs(v) > FLT_MAX) in = 0; /* would be stored as infinity */
    if (*s && !*end && in) {
        *out = v;
        return 0;
    }
    if (isinf(o->lo) && isinf(o->hi))
        return lr_cli_usage_error(cmd, "%s expects a number, got '%s'", opt, s);
    return lr_cli_usage_error(cmd, "%s expects a number in %c%g, %g%c, got '%s'", opt,
                              o->lo_open ? '(' : '[', o->lo, o->hi, o->hi_open ? ')' : ']', s);
}

/* "a, b or c" from a choice table, into buf. */
static const char *choice_list(const lr_cli_choice *c, const char *sep, const char *last, char *buf,
                               size_t cap) {
    size_t n = 0, len = 0;
    while (c[n].name) n++;
    buf[0] = '\0';
    for (size_t i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%s", i == 0 ? "" : i + 1 == n ? last : sep,
                                c[i].name);
    return buf;
}

static int parse_choice(const char *cmd, const char *opt, const lr_cli_option *o, const char *s) {
    for (const lr_cli_choice *c = o->choices; c->name; c++)
        if (strcmp(s, c->name) == 0) {
            *(int *)o->dest = c->value;
            return 0;
        }
    char names[256];
    return lr_cli_usage_error(cmd, "%s expects %s, got '%s'", opt,
                              choice_list(o->choices, ", ", " or ", names, sizeof names), s);
}

/* Stores one value given to o (spelled `opt` on the command line); 0, or a usage error. */
static int set_value(const char *cmd, const char *opt, const lr_cli_option *o, const char *s) {
    double v;
    switch (o->kind) {
    case LR_CLI_FLAG: *(int *)o->dest = 1; return 0;
    case LR_CLI_SET: *(int *)o->dest = o->value; return 0;
    case LR_CLI_STRING: *(const char **)o->dest = s; return 0;
    case LR_CLI_STRINGS: {
        lr_cli_strings *l = o->dest;
        if (l->n == l->cap) return lr_cli_usage_error(cmd, "%s given more than %zu times", opt, l->cap);
        l->v[l->n++] = s;
        return 0;
    }
    case LR_CLI_SIZE: return lr_cli_parse_size(cmd, opt, s, o->min, o->max, o->dest) ? LR_EXIT_USAGE : 0;
    case LR_CLI_U64: return lr_cli_parse_u64(cmd, opt, s, o->dest) ? LR_EXIT_USAGE : 0;
    case LR_CLI_DOUBLE:
        if (parse_number(cmd, opt, o, s, &v)) return LR_EXIT_USAGE;
        *(double *)o->dest = v;
        return 0;
    case LR_CLI_FLOAT:
        if (parse_number(cmd, opt, o, s, &v)) return LR_EXIT_USAGE;
        *(float *)o->dest = (float)v;
        return 0;
    case LR_CLI_CHOICE: return parse_choice(cmd, opt, o, s);
    case LR_CLI_CUSTOM: return o->parse(cmd, opt, s, o->dest) ? LR_EXIT_USAGE : 0;
    }
    return LR_EXIT_USAGE;
}

/* The option an argument names: "--name", "--name=value", a unique prefix of a long name as
 * getopt_long took it, "-c" or "-cVALUE". Sets *value when the argument carries one. NULL after
 * a usage error. */
static const lr_cli_option *find(const lr_cli_spec *s, const char *arg, const char **value) {
    const lr_cli_option *hit = NULL, *other = NULL;
    *value = NULL;
    if (arg[1] != '-') { /* -c */
        for (size_t i = 0; i <= s->n_opts && !hit; i++) {
            const lr_cli_option *o = i < s->n_opts ? &s->opts[i] : &help_option;
            if (o->short_name && o->short_name == arg[1]) hit = o;
        }
        if (!hit) { /* the letter alone: what follows it may be a value, even a secret */
            lr_cli_usage_error(s->cmd, "unknown option '-%c'", arg[1]);
            return NULL;
        }
        if (arg[2] && hit->kind != LR_CLI_FLAG && hit->kind != LR_CLI_SET) *value = arg + 2;
        else if (arg[2]) hit = NULL; /* -hx: not an option we know */
        if (!hit) lr_cli_usage_error(s->cmd, "unknown option '%s'", arg);
        return hit;
    }
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    for (size_t i = 0; i <= s->n_opts; i++) {
        const lr_cli_option *o = i < s->n_opts ? &s->opts[i] : &help_option;
        if (strncmp(o->name, name, len) != 0) continue;
        if (o->name[len] == '\0') { /* an exact match beats any prefix */
            hit = o;
            other = NULL;
            break;
        }
        if (hit) other = o;
        else hit = o;
    }
    if (!hit || len == 0) { /* named without its "=value", which may be a secret mistyped */
        lr_cli_usage_error(s->cmd, "unknown option '%.*s'", (int)len + 2, arg);
        return NULL;
    }
    if (other) {
        lr_cli_usage_error(s->cmd, "ambiguous option '%.*s': --%s or --%s?", (int)len + 2, arg,
                           hit->name, other->name);
        return NULL;
    }
    if (eq) *value = eq + 1;
    return hit;
}

/* "--a, --b and --c are required", or "--a X is required" for one. */
static int missing_required(const lr_cli_spec *s) {
    char list[512] = "";
    size_t n = 0, total = 0, len = 0;
    const lr_cli_option *only = NULL;
    for (size_t i = 0; i < s->n_opts; i++) total += s->opts[i].required;
    for (size_t i = 0; i < s->n_opts && len < sizeof list; i++) {
        if (!s->opts[i].required) continue;
        only = &s->opts[i];
        n++;
        len += (size_t)snprintf(list + len, sizeof list - len, "%s--%s",
                                n == 1 ? "" : n == total ? " and " : ", ", only->name);
    }
    if (total == 1 && only->arg)
        return lr_cli_usage_error(s->cmd, "--%s %s is required", only->name, only->arg);
    return lr_cli_usage_error(s->cmd, "%s %s required", list, total == 1 ? "is" : "are");
}

int lr_cli_parse(const lr_cli_spec *s, int argc, char **argv) {
    uint64_t given = 0; /* bit i: s->opts[i] was given */
    int npos = 0, options_end = 0;
    assert(s->n_opts <= 64);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *value;
        if (options_end || a[0] != '-' || a[1] == '\0') { /* "-" is a name too (stdin) */
            if (!s->positional) return lr_cli_usage_error(s->cmd, "unexpected argument '%s'", a);
            if (npos++)
                return lr_cli_usage_error(s->cmd, "expected one %s; unexpected argument '%s'",
                                          s->positional, a);
            *s->positional_dest = a;
            continue;
        }
        if (strcmp(a, "--") == 0) { /* the rest are arguments, even when they start with '-' */
            options_end = 1;
            continue;
        }
        const lr_cli_option *o = find(s, a, &value);
        if (!o) return LR_EXIT_USAGE;
        if (o == &help_option) return lr_cli_print_help(s);
        char opt[64]; /* the option as the user spelled it, for the messages */
        if (a[1] == '-') snprintf(opt, sizeof opt, "--%s", o->name);
        else snprintf(opt, sizeof opt, "-%c", o->short_name);
        int flag = o->kind == LR_CLI_FLAG || o->kind == LR_CLI_SET;
        if (flag && value) return lr_cli_usage_error(s->cmd, "%s takes no value, got '%s'", opt, a);
        if (!flag && !value && i + 1 == argc) return lr_cli_usage_error(s->cmd, "%s needs a value", opt);
        if (!flag && !value) value = argv[++i]; /* whatever follows, as getopt_long did: --text -x */
        if (set_value(s->cmd, opt, o, value)) return LR_EXIT_USAGE;
        given |= (uint64_t)1 << (o - s->opts);
        if (o->given) *o->given = 1;
    }
    if (s->positional && !npos) return lr_cli_usage_error(s->cmd, "missing %s", s->positional);
    for (size_t i = 0; i < s->n_opts; i++)
        if (s->opts[i].required && !(given >> i & 1)) return missing_required(s);
    return LR_CLI_RUN;
}

/* ---- the help -------------------------------------------------------------------------------- */

/* The default as the help shows it, from the destination before parsing; "" for none. */
static const char *default_text(const lr_cli_option *o, char *buf, size_t cap) {
    buf[0] = '\0';
    if (o->dflt) return o->dflt;
    switch (o->kind) {
    case LR_CLI_SIZE: snprintf(buf, cap, "%zu", *(const size_t *)o->dest); break;
    case LR_CLI_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)o->dest); break;
    case LR_CLI_DOUBLE: snprintf(buf, cap, "%g", *(const double *)o->dest); break;
    case LR_CLI_FLOAT: snprintf(buf, cap, "%g", (double)*(const float *)o->dest); break;
    case LR_CLI_STRING:
        if (*(const char *const *)o->dest) snprintf(buf, cap, "%s", *(const char *const *)o->dest);
        break;
    case LR_CLI_CHOICE:
        for (const lr_cli_choice *c = o->choices; c->name; c++)
            if (c->value == *(const int *)o->dest) snprintf(buf, cap, "%s", c->name);
        break;
    default: break;
    }
    return buf;
}

/* "  -k, --k K", "  --split valid|test" or "  --json": an option's left column. */
static int left_column(const lr_cli_option *o, char *buf, size_t cap) {
    char names[256];
    const char *arg = o->arg;
    if (!arg && o->kind == LR_CLI_CHOICE) arg = choice_list(o->choices, "|", "|", names, sizeof names);
    int n = o->short_name ? snprintf(buf, cap, "  -%c, --%s", o->short_name, o->name)
                          : snprintf(buf, cap, "  --%s", o->name);
    if (arg && n >= 0 && (size_t)n < cap) n += snprintf(buf + n, cap - (size_t)n, " %s", arg);
    return n;
}

enum { HELP_COLUMN_MAX = 24 }; /* a longer left column puts its help on the next line */

static void print_option(const lr_cli_option *o, int col) {
    char left[320], dflt[128];
    int n = left_column(o, left, sizeof left);
    const char *d = default_text(o, dflt, sizeof dflt), *h = o->help ? o->help : "";
    printf("%s", left);
    if (n > col - 2) printf("\n%*s", col, "");
    else printf("%*s", col - n, "");
    for (const char *p = h; *p; p++) { /* continuation lines start at the help's column */
        putchar(*p);
        if (*p == '\n') printf("%*s", col, "");
    }
    if (*d) printf("%s(default %s)", *h ? " " : "", d);
    printf("\n");
}

int lr_cli_print_help(const lr_cli_spec *s) {
    char left[320];
    int col = 0;
    for (size_t i = 0; i <= s->n_opts; i++) {
        int n = left_column(i < s->n_opts ? &s->opts[i] : &help_option, left, sizeof left);
        if (n <= HELP_COLUMN_MAX && n > col) col = n;
    }
    col += 2;
    printf("usage: %s\n", s->usage);
    if (s->description) printf("\n%s\n", s->description);
    printf("\noptions:\n");
    for (size_t i = 0; i < s->n_opts; i++) print_option(&s->opts[i], col);
    print_option(&help_option, col);
    return fflush(stdout) == 0 ? LR_EXIT_OK : LR_EXIT_ERROR;
}
