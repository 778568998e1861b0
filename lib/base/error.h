/* error.h: the error object every dnsjail function passes down and returns.
 *
 * A function that can fail returns an int (0 on success, -1 on failure) and takes a
 * `dj_error_t *err` as its last argument; on failure it fills *err with one line that a
 * person can act on. The caller either adds context with dj_error_wrap() and returns, or
 * reports it and releases it. Owns: the error type and its formatting. */
#ifndef DNSJAIL_ERROR_H
#define DNSJAIL_ERROR_H

#include <stdarg.h>

struct dj_error_s {
    int errno_value; /* 0 when the failure did not come from a system call */
    char *msg;       /* one line, no trailing newline */
};
typedef struct dj_error_s *dj_error_t;

/* Sets *err (if err is not NULL) and returns -1. When errno_value is not 0, ": strerror"
 * is appended to the message. Never fails: on out-of-memory a static message is used. */
int dj_error_make(dj_error_t *err, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message in *err with more context ("PREFIX: old message").
 * Returns -1 so it can be used as `return dj_error_wrap(err, "…")`. */
int dj_error_wrap(dj_error_t *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The message, or "unknown error" when err or *err is NULL. */
const char *dj_error_msg(const dj_error_t *err);

void dj_error_release(dj_error_t *err);

#endif
