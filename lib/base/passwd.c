/* passwd.c: see passwd.h. */
#include "config.h"
#include "base/passwd.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"

/* The longest line taken: glibc's own default for getpw*_r buffers is 1 KiB; a longer line is
 * an error, never skipped. */
#define PASSWD_LINE_MAX 16384

int dj_passwd_find(const char *path, const char *name, uid_t uid, struct dj_passwd_user *user,
                   dj_error_t *err)
{
    cleanup_fclose FILE *file = fopen(path, "re");
    cleanup_free char *buf = NULL;
    struct passwd entry, *found;
    int r;

    memset(user, 0, sizeof(*user));
    if (file == NULL)
        return dj_error_make(err, errno, "reading %s", path);
    buf = malloc(PASSWD_LINE_MAX);
    if (buf == NULL)
        return dj_error_make(err, ENOMEM, "reading %s", path);
    /* fgetpwent_r parses one line of the file's format and calls no NSS module; it skips lines
     * that are not entries. */
    while ((r = fgetpwent_r(file, &entry, buf, PASSWD_LINE_MAX, &found)) == 0) {
        if (name != NULL ? strcmp(entry.pw_name, name) != 0 : entry.pw_uid != uid)
            continue;
        user->uid = entry.pw_uid;
        user->gid = entry.pw_gid;
        user->home = strdup(entry.pw_dir != NULL ? entry.pw_dir : "");
        if (user->home == NULL)
            return dj_error_make(err, ENOMEM, "reading %s", path);
        return 1;
    }
    if (r == ENOENT)
        return 0;
    if (r == ERANGE)
        return dj_error_make(err, 0, "reading %s: a line is longer than %d bytes", path,
                             PASSWD_LINE_MAX);
    return dj_error_make(err, r, "reading %s", path);
}

void dj_passwd_user_free(struct dj_passwd_user *user)
{
    free(user->home);
    user->home = NULL;
}
