/* file.c: see file.h. */
#include "config.h"

#include "base/file.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"

#define READ_FIRST_CHUNK (64 * 1024)

/* POSITIONAL: pread from offset 0 on, where the descriptor can seek. */
static int read_whole(int fd, bool positional, size_t max, char **out, size_t *out_len)
{
    /* Grown as it fills, so a large MAX (a 16 MiB bundle config) costs nothing for a small
     * file; one byte more than MAX is asked for, so a file of exactly MAX bytes is told from a
     * longer one. */
    size_t cap = max < READ_FIRST_CHUNK ? max + 1 : READ_FIRST_CHUNK;
    cleanup_free char *buf = malloc(cap + 1);
    size_t len = 0;

    if (buf == NULL)
        return -1;
    for (;;) {
        ssize_t n;

        if (len == cap) {
            size_t bigger = cap > (max + 1) / 2 ? max + 1 : cap * 2;
            char *grown = realloc(buf, bigger + 1);

            if (grown == NULL)
                return -1;
            buf = grown;
            cap = bigger;
        }
        n = positional ? pread(fd, buf + len, cap - len, (off_t)len)
                       : read(fd, buf + len, cap - len);
        if (n < 0 && errno == ESPIPE && positional && len == 0) {
            positional = false; /* a pipe: it has no offset to share */
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max) {
            errno = EFBIG;
            return -1;
        }
    }
    buf[len] = '\0';
    if (out_len != NULL)
        *out_len = len;
    *out = steal_ptr(&buf);
    return 0;
}

int dj_file_read_fd(int fd, size_t max, char **out, size_t *out_len)
{
    return read_whole(fd, false, max, out, out_len);
}

int dj_file_pread_fd(int fd, size_t max, char **out, size_t *out_len)
{
    return read_whole(fd, true, max, out, out_len);
}

int dj_file_read_at(int dir_fd, const char *name, size_t max, char **out, size_t *out_len)
{
    cleanup_close int fd = -1;
    struct stat st;

    *out = NULL;
    fd = openat(dir_fd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0 || fstat(fd, &st) < 0)
        return -1;
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return -1;
    }
    return dj_file_read_fd(fd, max, out, out_len);
}

int dj_file_mkdir_p(const char *path, mode_t parent_mode, mode_t mode, dj_error_t *err)
{
    cleanup_free char *copy = strdup(path);

    if (copy == NULL)
        return dj_error_make(err, ENOMEM, "mkdir %s", path);
    for (char *p = copy + 1; *p != '\0'; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, parent_mode) < 0 && errno != EEXIST)
            return dj_error_make(err, errno, "mkdir %s", copy);
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return dj_error_make(err, errno, "mkdir %s", copy);
    return 0;
}
