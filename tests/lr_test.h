/* A small test harness: one behaviour per test function, a table of cases per file, and a
 * closing "N passed, N failed, N skipped" line. A failed check reports file:line and returns
 * from the case at once.
 *
 * Cases that read data from outside the repository (the real datasets and reference fixtures
 * under LR_SHARED_DIR) are listed with LR_SHARED_CASE(name, "datasets/ml-100k"): when that path
 * is missing they are skipped with one line naming it, never failed. A program runs
 *   test_x            every case
 *   test_x --local    the cases that need nothing outside the repository
 *   test_x --shared   the cases that need LR_SHARED_DIR; exit 77 when all of them were skipped
 *   test_x NAME       the one case NAME
 * ctest registers --local as lib/test_x and --shared as lib/test_x.shared (SKIP_RETURN_CODE 77),
 * so a clone without the shared folder reports those as skipped. */
#ifndef LR_TEST_H
#define LR_TEST_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int failed;
    char where[512];
} lr_test_ctx;

/* Box-Muller over splitmix64: deterministic normal samples for test vectors, no library needed. */
static inline float lr_test_normal(uint64_t *s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    double u1 = ((double)(z >> 11) + 1.0) / 9007199254740993.0, u2 = (double)(z & 0xffff) / 65536.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

typedef struct {
    const char *name;
    void (*fn)(lr_test_ctx *t);
    const char *needs; /* a path under LR_SHARED_DIR the case reads, or NULL */
} lr_test_case;

#define LR_TEST(name) static void name(lr_test_ctx *lr_t_ __attribute__((unused)))
#define LR_CASE(name) {#name, name, NULL}
#define LR_SHARED_CASE(name, path) {#name, name, path}

/* The exit code ctest reads as "skipped" (SKIP_RETURN_CODE in tests/CMakeLists.txt). */
#define LR_TEST_SKIPPED 77

#define LR_FAIL_(...)                                                                          \
    do {                                                                                       \
        lr_t_->failed = 1;                                                                         \
        int lr_n_ = snprintf(lr_t_->where, sizeof lr_t_->where, "%s:%d: ", __FILE__, __LINE__);          \
        if (lr_n_ > 0 && (size_t)lr_n_ < sizeof lr_t_->where)                                            \
            snprintf(lr_t_->where + lr_n_, sizeof lr_t_->where - (size_t)lr_n_, __VA_ARGS__);                \
        return;                                                                                \
    } while (0)

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) LR_FAIL_("CHECK(%s) failed", #cond);                                      \
    } while (0)

#define CHECK_EQ(a, b)                                                                         \
    do {                                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                                    \
        if (a_ != b_) LR_FAIL_("%s == %s failed: %lld != %lld", #a, #b, a_, b_);               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                       \
        double a_ = (double)(a), b_ = (double)(b);                                             \
        if (!(fabs(a_ - b_) <= (tol)))                                                         \
            LR_FAIL_("|%s - %s| <= %g failed: %.9g vs %.9g", #a, #b, (double)(tol), a_, b_);   \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                     \
    do {                                                                                       \
        const char *a_ = (a), *b_ = (b);                                                       \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                 \
            LR_FAIL_("%s == %s failed: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",          \
                     b_ ? b_ : "(null)");                                                      \
    } while (0)

#define CHECK_CONTAINS(hay, needle)                                                            \
    do {                                                                                       \
        const char *h_ = (hay), *n_ = (needle);                                                \
        if (!h_ || !strstr(h_, n_))                                                            \
            LR_FAIL_("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);                \
    } while (0)

/* An error return: the code and a piece of its message. */
#define CHECK_ERR(rc, err, want_code, want_text)                                               \
    do {                                                                                       \
        int rc_ = (rc);                                                                        \
        if (rc_ != (want_code))                                                                \
            LR_FAIL_("%s returned %d, expected %s (%d); message: %s", #rc, rc_, #want_code,    \
                     (want_code), (err).msg);                                                  \
        CHECK_CONTAINS((err).msg, want_text);                                                  \
    } while (0)

#define CHECK_OK(rc, err)                                                                      \
    do {                                                                                       \
        int rc_ = (rc);                                                                        \
        if (rc_ != 0) LR_FAIL_("%s failed with %d: %s", #rc, rc_, (err).msg);                  \
    } while (0)

#ifndef LR_SHARED_DIR
#define LR_SHARED_DIR "../shared"
#endif

/* Whether the shared path a case needs is there; prints the skip line when it is not. */
static inline int lr_test_have_shared(const lr_test_case *c) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", LR_SHARED_DIR, c->needs);
    if (access(path, R_OK) == 0) return 1;
    printf("skipped: %s needs %s, which is missing; run make test SHARED=/path/to/shared "
           "(or cmake -DLR_SHARED_DIR=...; README: Datasets)\n", c->name, path);
    return 0;
}

static inline int lr_test_run(const lr_test_case *cases, size_t n, int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    int only_local = argc > 1 && strcmp(argv[1], "--local") == 0;
    int only_shared = argc > 1 && strcmp(argv[1], "--shared") == 0;
    for (size_t i = 0; i < n; i++) {
        if (only_local ? cases[i].needs != NULL
            : only_shared ? cases[i].needs == NULL
            : argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        if (cases[i].needs && !lr_test_have_shared(&cases[i])) {
            skipped++;
            continue;
        }
        lr_test_ctx t = {0, ""};
        cases[i].fn(&t);
        if (t.failed) {
            failed++;
            printf("FAIL %s\n  %s\n", cases[i].name, t.where);
        } else {
            passed++;
            printf("ok   %s\n", cases[i].name);
        }
        fflush(stdout);
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    if (failed) return 1;
    if (passed == 0 && skipped > 0) return LR_TEST_SKIPPED;
    return passed == 0 ? 1 : 0; /* a program that ran nothing was given a wrong case name */
}

#define LR_TEST_MAIN(...)                                                                      \
    int main(int argc, char **argv) {                                                          \
        static const lr_test_case cases_[] = {__VA_ARGS__};                                    \
        return lr_test_run(cases_, sizeof cases_ / sizeof cases_[0], argc, argv);              \
    }

/* A fresh empty directory under $TMPDIR (or /tmp); the caller removes it with lr_test_rmdir. */
static inline char *lr_test_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char *p = malloc(4096);
    if (!p) return NULL;
    snprintf(p, 4096, "%s/learnrec-test.XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(p)) {
        free(p);
        return NULL;
    }
    return p;
}

static inline void lr_test_rmdir(char *dir) {
    if (!dir) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(dir);
}

/* Writes a whole file; returns 0 on success. */
static inline int lr_test_write_file(const char *dir, const char *name, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* "dir/name" into out. */
static inline void lr_test_path(char *out, size_t cap, const char *dir, const char *name) {
    snprintf(out, cap, "%s/%s", dir, name);
}

/* Writes (or, with `append`, appends) n bytes to dir/name; returns 0 on success. */
static inline int lr_test_put_bytes(const char *dir, const char *name, const void *buf, size_t n,
                                    int append) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, append ? "ab" : "wb");
    if (!f) return -1;
    int ok = n == 0 || fwrite(buf, 1, n, f) == n;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* Reads up to cap bytes of dir/name into buf; returns the count, or -1. */
static inline long lr_test_read_bytes(const char *dir, const char *name, unsigned char *buf,
                                      size_t cap) {
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return (long)n;
}

#endif /* LR_TEST_H */
