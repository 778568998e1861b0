/* file.h: whole small files read at once, and directories made with their parents. One place
 * for the limits and the refusals every reader needs: a size bound, no symlink at the last
 * component, nothing but a regular file (a FIFO planted in a state or log directory must not
 * hang a reader). Owns: nothing but the functions. */
#ifndef DNSJAIL_FILE_H
#define DNSJAIL_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* Reads FD from where it stands to its end, at most MAX bytes, into a malloc'd NUL-terminated
 * *OUT (*OUT_LEN bytes without the NUL; OUT_LEN may be NULL). Returns 0, or -1 with errno
 * (EFBIG: more than MAX bytes, ENOMEM, or read(2)'s). */
int dj_file_read_fd(int fd, size_t max, char **out, size_t *out_len);

/* The same from offset 0 with pread(2), leaving the file offset alone: a memfd handed to two
 * daemons is one open file, and a read(2) by one would move the other's offset under it. A pipe
 * is read as it comes. */
int dj_file_pread_fd(int fd, size_t max, char **out, size_t *out_len);

/* The same for DIR_FD/NAME (AT_FDCWD and a path work), opened O_NOFOLLOW | O_NONBLOCK.
 * errno: ENOENT not there, EINVAL not a regular file, ELOOP a symlink, EFBIG too long. */
int dj_file_read_at(int dir_fd, const char *name, size_t max, char **out, size_t *out_len);

/* mkdir -p: PATH's missing parents with PARENT_MODE, PATH itself with MODE; existing
 * directories are left as they are. */
int dj_file_mkdir_p(const char *path, mode_t parent_mode, mode_t mode, dj_error_t *err);

#endif
