/* Allocation-failure injection for the OOM tests (tests/<lib>/test_oom.c), after libuv's
 * test-loop-oom.c: a constructor is called with its n-th allocation made to fail, for n = 1, 2,
 * 3, ... until it runs without any failure, and every failing call must return a clean error
 * (LR_ENOMEM with a message, *out NULL) and leave none of its allocations behind.
 *
 * The hook exists only in the test programs that include this header, and the libraries are
 * not changed for it: such a program is linked with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=free,--wrap=strdup,--wrap=strndup,
 *          --wrap=getline
 * (lr_add_oom_test in tests/CMakeLists.txt), so every call to those functions from the
 * program's own objects, the static learnrec libraries included, lands in the __wrap_ functions
 * below, which call the C library through __real_. These are the allocation functions learnrec's
 * libraries call (grep malloc/calloc/realloc/strdup/strndup/getline in datasets towers index rpc);
 * getline counts as an allocation because it grows its buffer with the C library's own malloc.
 *
 * What is not wrapped: allocations inside shared libraries (jansson, libevent, msgpack-c,
 * OpenBLAS, libgomp, libstdc++'s operator new, the C library's own, e.g. in fopen) and FAISS's
 * posix_memalign; their failures are not injected, and their blocks are not tracked. FAISS is a
 * static library, so its calls to free() do come here: a pointer this file did not hand out is
 * passed straight to the C library's free.
 *
 * Failing mode. lr_oom_arm(n, LR_OOM_FROM) fails the n-th allocation and every later one, as
 * libuv's limit does and as real exhaustion does: the cleanup path must not need memory either.
 * lr_oom_arm(n, LR_OOM_ONCE) fails only the n-th: the code after a failure then gets memory
 * again, which finds a failure that is swallowed (treated as "absent" and carried on from)
 * where the sticky mode would only see the next allocation fail. lr_oom_check runs both.
 *
 * Tracking. Each block handed out while armed is kept in a hash set of live pointers (under a
 * mutex: FAISS frees from its OpenMP threads); free and realloc remove it. After a failed call
 * the set must be empty; after a successful one, empty again once the object is freed.
 * The set itself lives in memory from __real_malloc and is never counted.
 *
 * Include this header in exactly one file of a program (it defines the __wrap_ functions). */
#ifndef LR_OOM_H
#define LR_OOM_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "lr_error.h"
#include "lr_test.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
ssize_t __real_getline(char **line, size_t *cap, FILE *f);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f);

typedef enum { LR_OOM_FROM = 0, LR_OOM_ONCE = 1 } lr_oom_mode;

typedef struct {
    size_t calls;  /* allocation calls made while armed */
    size_t failed; /* of them, made to fail */
    size_t live;   /* blocks handed out while armed and not freed yet */
} lr_oom_stats;

static struct {
    pthread_mutex_t mu;
    int armed;
    lr_oom_mode mode;
    size_t fail_at; /* 0: count, never fail */
    size_t calls, failed;
    uintptr_t *slots; /* open addressing, 0 empty; a power of two */
    size_t cap, n;
} lr_oom_ = {PTHREAD_MUTEX_INITIALIZER, 0, LR_OOM_FROM, 0, 0, 0, NULL, 0, 0};

static size_t lr_oom_slot_(uintptr_t p, size_t cap) {
    return (size_t)(((uint64_t)p >> 4) * 0x9E3779B97F4A7C15ULL >> 20) & (cap - 1);
}

static void lr_oom_put_(uintptr_t p) { /* under mu */
    if ((lr_oom_.n + 1) * 2 > lr_oom_.cap) {
        size_t cap = lr_oom_.cap ? lr_oom_.cap * 2 : 1024;
        uintptr_t *s = __real_calloc(cap, sizeof *s);
        if (!s) {
            fprintf(stderr, "lr_oom: cannot grow the table of live blocks\n");
            abort();
        }
        for (size_t i = 0; i < lr_oom_.cap; i++) {
            if (!lr_oom_.slots[i]) continue;
            size_t j = lr_oom_slot_(lr_oom_.slots[i], cap);
            while (s[j]) j = (j + 1) & (cap - 1);
            s[j] = lr_oom_.slots[i];
        }
        __real_free(lr_oom_.slots);
        lr_oom_.slots = s;
        lr_oom_.cap = cap;
    }
    size_t i = lr_oom_slot_(p, lr_oom_.cap);
    while (lr_oom_.slots[i]) i = (i + 1) & (lr_oom_.cap - 1);
    lr_oom_.slots[i] = p;
    lr_oom_.n++;
}

/* Removes p when it is tracked (under mu); backward-shift deletion keeps probe chains whole. */
static int lr_oom_take_(uintptr_t p) {
    if (!lr_oom_.n) return 0;
    size_t mask = lr_oom_.cap - 1, i = lr_oom_slot_(p, lr_oom_.cap);
    while (lr_oom_.slots[i] != p) {
        if (!lr_oom_.slots[i]) return 0;
        i = (i + 1) & mask;
    }
    lr_oom_.slots[i] = 0;
    lr_oom_.n--;
    for (size_t j = (i + 1) & mask; lr_oom_.slots[j]; j = (j + 1) & mask) {
        size_t home = lr_oom_slot_(lr_oom_.slots[j], lr_oom_.cap);
        /* move slot j into the hole at i unless its home lies cyclically in (i, j] */
        if (((j - home) & mask) >= ((j - i) & mask)) {
            lr_oom_.slots[i] = lr_oom_.slots[j];
            lr_oom_.slots[j] = 0;
            i = j;
        }
    }
    return 1;
}

/* Whether the allocation being made should fail (under mu); counts it when armed. */
static int lr_oom_fail_now_(void) {
    if (!lr_oom_.armed) return 0;
    size_t k = ++lr_oom_.calls;
    int fail = lr_oom_.fail_at &&
               (lr_oom_.mode == LR_OOM_ONCE ? k == lr_oom_.fail_at : k >= lr_oom_.fail_at);
    if (fail) lr_oom_.failed++;
    return fail;
}

void *__wrap_malloc(size_t n) {
    pthread_mutex_lock(&lr_oom_.mu);
    void *p = NULL;
    if (lr_oom_fail_now_()) errno = ENOMEM;
    else if ((p = __real_malloc(n)) && lr_oom_.armed) lr_oom_put_((uintptr_t)p);
    pthread_mutex_unlock(&lr_oom_.mu);
    return p;
}

void *__wrap_calloc(size_t n, size_t size) {
    pthread_mutex_lock(&lr_oom_.mu);
    void *p = NULL;
    if (lr_oom_fail_now_()) errno = ENOMEM;
    else if ((p = __real_calloc(n, size)) && lr_oom_.armed) lr_oom_put_((uintptr_t)p);
    pthread_mutex_unlock(&lr_oom_.mu);
    return p;
}

void *__wrap_realloc(void *p, size_t n) {
    pthread_mutex_lock(&lr_oom_.mu);
    void *q = NULL;
    if (lr_oom_fail_now_()) { /* p stays valid, and stays tracked if it was */
        errno = ENOMEM;
    } else {
        int was = p && lr_oom_take_((uintptr_t)p);
        q = __real_realloc(p, n);
        if (!q && n && p && was) lr_oom_put_((uintptr_t)p); /* a real failure: p still lives */
        else if (q && (was || lr_oom_.armed)) lr_oom_put_((uintptr_t)q);
    }
    pthread_mutex_unlock(&lr_oom_.mu);
    return q;
}

void __wrap_free(void *p) {
    if (!p) return;
    pthread_mutex_lock(&lr_oom_.mu);
    lr_oom_take_((uintptr_t)p);
    pthread_mutex_unlock(&lr_oom_.mu);
    __real_free(p);
}

char *__wrap_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = __wrap_malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

char *__wrap_strndup(const char *s, size_t n) {
    size_t k = strnlen(s, n);
    char *p = __wrap_malloc(k + 1);
    if (p) {
        memcpy(p, s, k);
        p[k] = '\0';
    }
    return p;
}

/* Fails as the C library's getline does when it cannot grow the line: -1 with errno ENOMEM,
 * the stream's error flag not set. The buffer it grows is tracked like any other block when
 * it was tracked before or is new while armed. */
ssize_t __wrap_getline(char **line, size_t *cap, FILE *f) {
    pthread_mutex_lock(&lr_oom_.mu);
    int fail = lr_oom_fail_now_();
    int was = !fail && *line && lr_oom_take_((uintptr_t)*line);
    int track = !fail && (was || (lr_oom_.armed && !*line));
    pthread_mutex_unlock(&lr_oom_.mu);
    if (fail) {
        errno = ENOMEM;
        return -1;
    }
    ssize_t r = __real_getline(line, cap, f);
    if (track && *line) {
        pthread_mutex_lock(&lr_oom_.mu);
        lr_oom_put_((uintptr_t)*line);
        pthread_mutex_unlock(&lr_oom_.mu);
    }
    return r;
}

/* Starts counting allocations, failing from (or only) the fail_at-th; 0 never fails. Blocks
 * still tracked from an earlier round are forgotten. */
static inline void lr_oom_arm(size_t fail_at, lr_oom_mode mode) {
    pthread_mutex_lock(&lr_oom_.mu);
    if (lr_oom_.slots) memset(lr_oom_.slots, 0, lr_oom_.cap * sizeof *lr_oom_.slots);
    lr_oom_.n = 0;
    lr_oom_.calls = lr_oom_.failed = 0;
    lr_oom_.fail_at = fail_at;
    lr_oom_.mode = mode;
    lr_oom_.armed = 1;
    pthread_mutex_unlock(&lr_oom_.mu);
}

/* Stops failing and counting; blocks handed out while armed stay tracked until freed. */
static inline lr_oom_stats lr_oom_disarm(void) {
    pthread_mutex_lock(&lr_oom_.mu);
    lr_oom_.armed = 0;
    lr_oom_stats st = {lr_oom_.calls, lr_oom_.failed, lr_oom_.n};
    pthread_mutex_unlock(&lr_oom_.mu);
    return st;
}

/* Blocks handed out during the last armed round and not freed yet. */
static inline size_t lr_oom_live(void) {
    pthread_mutex_lock(&lr_oom_.mu);
    size_t n = lr_oom_.n;
    pthread_mutex_unlock(&lr_oom_.mu);
    return n;
}

/* ---- the loop --------------------------------------------------------------------------------- */

/* A constructor under test: builds into *out (which holds a poison value on entry, so that a
 * failure which forgets to set *out = NULL shows) and returns an LR_E* code. */
typedef int (*lr_oom_call)(void *ctx, void **out, lr_err *err);
typedef void (*lr_oom_free)(void *obj);

static char lr_oom_poison_;
#define LR_OOM_POISON ((void *)&lr_oom_poison_)

/* Runs call with its n-th allocation failing, for n = 1, 2, ... until a run makes fewer than n
 * allocations, in both modes. A failed run must return a negative LR_E* code that err carries,
 * with a message, set *out to NULL and leave nothing allocated; the code must be LR_ENOMEM
 * (every failure here is one: nothing else goes wrong in these runs, so another code would
 * misreport it). The run without failures must succeed, and free_fn must free all it made.
 * Returns 0, or -1 with `why` filled; *allocs gets the allocations a full run makes (may be
 * NULL). */
static inline int lr_oom_check(const char *what, lr_oom_call call, void *ctx, lr_oom_free free_fn,
                               size_t *allocs, char *why, size_t cap) {
    static const char *const mode_name[] = {"from", "only"};
    for (int mode = LR_OOM_FROM; mode <= LR_OOM_ONCE; mode++) {
        for (size_t n = 1;; n++) {
            if (n > 1000000) {
                snprintf(why, cap, "%s: still failing after a million allocations", what);
                return -1;
            }
            lr_err err = {0, ""};
            void *obj = LR_OOM_POISON;
            lr_oom_arm(n, (lr_oom_mode)mode);
            int rc = call(ctx, &obj, &err);
            lr_oom_stats st = lr_oom_disarm();
            const char *where = mode_name[mode];
            if (st.failed == 0) { /* it made fewer than n allocations: a full run */
                if (rc != LR_OK) {
                    snprintf(why, cap, "%s: failed without an injected failure (%s): %s", what,
                             lr_err_name(rc), err.msg);
                    return -1;
                }
                if (obj == LR_OOM_POISON || !obj) {
                    snprintf(why, cap, "%s: succeeded without setting *out", what);
                    return -1;
                }
                free_fn(obj);
                size_t live = lr_oom_live();
                if (live) {
                    snprintf(why, cap, "%s: %zu of the %zu allocations of a full run are still "
                             "live after its free", what, live, st.calls);
                    return -1;
                }
                if (allocs) *allocs = st.calls;
                break;
            }
            if (rc == LR_OK) {
                if (obj && obj != LR_OOM_POISON) free_fn(obj);
                snprintf(why, cap, "%s: allocation %zu failed (%s it on), yet the call "
                         "succeeded", what, n, where);
                return -1;
            }
            if (rc > 0 || !strcmp(lr_err_name(rc), "LR_UNKNOWN") || err.code != rc ||
                !err.msg[0]) {
                snprintf(why, cap, "%s: allocation %zu failed (%s it on): returned %d (%s), "
                         "err.code %d, message '%s'", what, n, where, rc, lr_err_name(rc),
                         err.code, err.msg);
                return -1;
            }
            if (rc != LR_ENOMEM) {
                snprintf(why, cap, "%s: allocation %zu failed (%s it on): %s, not LR_ENOMEM: %s",
                         what, n, where, lr_err_name(rc), err.msg);
                return -1;
            }
            if (obj != NULL) {
                snprintf(why, cap, "%s: allocation %zu failed (%s it on): %s, but *out is not "
                         "NULL", what, n, where, lr_err_name(rc));
                return -1;
            }
            if (st.live) {
                snprintf(why, cap, "%s: allocation %zu failed (%s it on): %s (%s), and %zu of the "
                         "call's allocations are still live", what, n, where, lr_err_name(rc),
                         err.msg, st.live);
                return -1;
            }
        }
    }
    return 0;
}

/* Several loops in one case whose fixtures must be cleaned up before it fails: each step runs
 * one loop unless an earlier step failed, and prints the allocation count when it passes. */
typedef struct {
    int failed;
    char why[512];
} lr_oom_steps;

static inline int lr_oom_step(lr_oom_steps *s, const char *what, lr_oom_call call, void *ctx,
                              lr_oom_free free_fn) {
    size_t allocs = 0;
    if (s->failed) return -1;
    if (lr_oom_check(what, call, ctx, free_fn, &allocs, s->why, sizeof s->why) != 0) {
        s->failed = 1;
        return -1;
    }
    printf("     %s: %zu allocations, each failed in turn\n", what, allocs);
    return 0;
}

/* Fails the case with the first failed step's reason (after the caller cleaned up). */
#define CHECK_OOM_STEPS(s)                                                                     \
    do {                                                                                       \
        if ((s).failed) LR_FAIL_("%.400s", (s).why);                                           \
    } while (0)

/* In a test case: the loop above over one constructor, failing the case with the reason. */
#define CHECK_OOM(what, call, ctx, free_fn)                                                    \
    do {                                                                                       \
        lr_oom_steps s_ = {0, ""};                                                             \
        lr_oom_step(&s_, what, call, ctx, free_fn);                                            \
        CHECK_OOM_STEPS(s_);                                                                   \
    } while (0)

#endif /* LR_OOM_H */
