/* Errors shared by every learnrec library: an int code plus a caller-owned message.
 *
 * A function that can fail returns LR_OK (0) or a negative LR_E* code and, when `err` is not
 * NULL, writes a message a person can act on into it. Codes never change meaning; the CLI maps
 * any of them to exit status 1. The RPC protocol has its own wire codes (rpc/lr_rpc.h).
 * Header-only; the struct travels with a request, so no thread-local state is involved. */
#ifndef LR_ERROR_H
#define LR_ERROR_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define LR_ERR_MSG_LEN 256

typedef struct {
    int code;
    char msg[LR_ERR_MSG_LEN];
} lr_err;

#define LR_OK 0

/* XX(name, value, text): one table for codes, names and default texts. */
#define LR_ERROR_MAP(XX)                                             \
    XX(EINVAL, -1, "invalid argument")                               \
    XX(ENOMEM, -2, "out of memory")                                  \
    XX(EIO, -3, "input/output error")                                \
    XX(EFORMAT, -4, "malformed input")                               \
    XX(ENOTFOUND, -5, "not found")                                   \
    XX(EBUSY, -6, "busy")                                            \
    XX(ETIMEOUT, -7, "timed out")                                    \
    XX(EFAISS, -8, "FAISS error")                                    \
    XX(EUNSUPPORTED, -9, "unsupported")                              \
    XX(ERANGE, -10, "value out of range")                            \
    XX(EMISMATCH, -11, "inputs do not belong together")              \
    XX(ERPC, -12, "the server answered with an error")

enum {
#define LR_ERR_ENUM(name, value, text) LR_##name = value,
    LR_ERROR_MAP(LR_ERR_ENUM)
#undef LR_ERR_ENUM
};

/* "LR_EINVAL" for LR_EINVAL; "LR_OK" for 0; "LR_UNKNOWN" otherwise. */
static inline const char *lr_err_name(int code) {
    switch (code) {
    case LR_OK: return "LR_OK";
#define LR_ERR_NAME(name, value, text) case value: return "LR_" #name;
        LR_ERROR_MAP(LR_ERR_NAME)
#undef LR_ERR_NAME
    default: return "LR_UNKNOWN";
    }
}

/* The default text of a code, for when no message was written. */
static inline const char *lr_strerror(int code) {
    switch (code) {
    case LR_OK: return "success";
#define LR_ERR_TEXT(name, value, text) case value: return text;
        LR_ERROR_MAP(LR_ERR_TEXT)
#undef LR_ERR_TEXT
    default: return "unknown error";
    }
}

/* Fills *err (when not NULL) and returns `code`, so a caller can write
 * `return lr_err_set(err, LR_EIO, "open(%s): %s", path, strerror(errno));`. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static inline int lr_err_set(lr_err *err, int code, const char *fmt, ...) {
    if (!err) return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* Puts context in front of an existing message, keeping the code:
 * `lr_err_prefix(err, "loading %s: ", path)`. Returns err->code (or LR_OK when err is NULL). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline int lr_err_prefix(lr_err *err, const char *fmt, ...) {
    if (!err) return LR_OK;
    char head[LR_ERR_MSG_LEN];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    if (n < 0) return err->code;
    char joined[LR_ERR_MSG_LEN];
    size_t room = sizeof joined - 1, k = strlen(head), m = strlen(err->msg);
    if (k > room) k = room;
    if (m > room - k) m = room - k; /* a long message loses its tail, never the context */
    memcpy(joined, head, k);
    memcpy(joined + k, err->msg, m);
    joined[k + m] = '\0';
    memcpy(err->msg, joined, sizeof joined);
    return err->code;
}

static inline void lr_err_clear(lr_err *err) {
    if (!err) return;
    err->code = LR_OK;
    err->msg[0] = '\0';
}

#endif /* LR_ERROR_H */
