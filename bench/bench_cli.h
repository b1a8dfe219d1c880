/* What every bench/ program does with its arguments before any work: --help (or -h) anywhere
 * prints the usage on stdout and exits 0; an unknown option, a missing value or a malformed
 * number is refused on stderr with exit 2. Benchmarks are programs, so they may exit here.
 * And the clock they all time with, and the random numbers they draw. */
#ifndef LR_BENCH_CLI_H
#define LR_BENCH_CLI_H

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline void bench_help_exits(int argc, char **argv, const char *usage) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            exit(0);
        }
}

__attribute__((format(printf, 2, 3))) static inline void bench_refuse(const char *prog, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try --help)\n");
    va_end(ap);
    exit(2);
}

/* The value after option argv[*i] (advancing *i), refused when there is none. */
static inline const char *bench_value(const char *prog, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) bench_refuse(prog, "%s needs a value", argv[*i]);
    return argv[++*i];
}

/* A whole number in [min, max], refused otherwise. */
static inline size_t bench_size(const char *prog, const char *opt, const char *s, size_t min, size_t max) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno || *s == '-' || v < min || v > max)
        bench_refuse(prog, "%s expects a whole number in %zu..%zu, got '%s'", opt, min, max, s);
    return (size_t)v;
}

/* Seconds on the monotonic clock: what every benchmark times with. */
static inline double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* splitmix64: the next of a seeded stream of 64-bit numbers (*s is the state). */
static inline uint64_t bench_splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A standard normal draw (Box-Muller over two splitmix numbers). */
static inline float bench_gauss(uint64_t *s) {
    double u1 = ((double)(bench_splitmix(s) >> 11) + 1.0) / 9007199254740993.0;
    double u2 = (double)(bench_splitmix(s) >> 11) / 9007199254740992.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

#endif /* LR_BENCH_CLI_H */
