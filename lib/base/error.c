#include "config.h"
#include "base/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct dj_error_s out_of_memory = {ENOMEM, (char *)"out of memory"};

static int set_error(dj_error_t *err, int errno_value, char *msg)
{
    struct dj_error_s *e;

    if (err == NULL) {
        free(msg);
        return -1;
    }
    dj_error_release(err);
    e = calloc(1, sizeof(*e));
    if (e == NULL || msg == NULL) {
        free(e);
        free(msg);
        *err = &out_of_memory;
        return -1;
    }
    e->errno_value = errno_value;
    e->msg = msg;
    *err = e;
    return -1;
}

int dj_error_make(dj_error_t *err, int errno_value, const char *fmt, ...)
{
    char *base = NULL, *msg = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&base, fmt, ap);
    va_end(ap);
    if (r < 0)
        return set_error(err, errno_value, NULL);
    if (errno_value == 0)
        return set_error(err, 0, base);
    r = asprintf(&msg, "%s: %s", base, strerror(errno_value));
    free(base);
    return set_error(err, errno_value, r < 0 ? NULL : msg);
}

int dj_error_wrap(dj_error_t *err, const char *fmt, ...)
{
    char *prefix = NULL, *msg = NULL;
    va_list ap;
    int r, errno_value;

    if (err == NULL || *err == NULL)
        return -1;
    va_start(ap, fmt);
    r = vasprintf(&prefix, fmt, ap);
    va_end(ap);
    if (r < 0)
        return -1;
    r = asprintf(&msg, "%s: %s", prefix, (*err)->msg);
    free(prefix);
    if (r < 0)
        return -1;
    errno_value = (*err)->errno_value;
    return set_error(err, errno_value, msg);
}

const char *dj_error_msg(const dj_error_t *err)
{
    if (err == NULL || *err == NULL || (*err)->msg == NULL)
        return "unknown error";
    return (*err)->msg;
}

void dj_error_release(dj_error_t *err)
{
    if (err == NULL || *err == NULL)
        return;
    if (*err != &out_of_memory) {
        free((*err)->msg);
        free(*err);
    }
    *err = NULL;
}
