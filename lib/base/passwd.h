/* passwd.h: a user looked up in /etc/passwd itself, not through NSS. The hook is linked as one
 * static binary where it can be (configure's "whether the hook links as one static binary"),
 * and static glibc's getpwnam_r and getpwuid_r load the NSS modules nsswitch.conf names at run
 * time: on Debian 12 ("passwd: files systemd") a name that "files" does not know loads
 * libnss_systemd.so.2 and libc.so.6 into the static process, which crashes (SIGSEGV, glibc
 * 2.36). Reading the file is the same answer for the users the hook looks up: the system user
 * the daemons run as, and the user a rootless runtime runs as. A user that only another NSS
 * source (LDAP, sssd) knows is not found, and that fails closed with an error naming the file.
 * Owns: nothing but the functions. */
#ifndef DNSJAIL_PASSWD_H
#define DNSJAIL_PASSWD_H

#include <sys/types.h>

#include "base/error.h"

#define DJ_PASSWD_PATH "/etc/passwd"

struct dj_passwd_user {
    uid_t uid;
    gid_t gid;
    char *home; /* malloc'd */
};

/* Finds in the passwd file at PATH the first line for the user called NAME or, NAME being NULL,
 * the first line with uid UID. Returns 1 and fills *USER (free it with dj_passwd_user_free), 0
 * when no line matches, -1 with ERR when the file cannot be read or a line is too long to
 * parse (a user that might be on it is never taken as missing). */
int dj_passwd_find(const char *path, const char *name, uid_t uid, struct dj_passwd_user *user,
                   dj_error_t *err);

void dj_passwd_user_free(struct dj_passwd_user *user);

#endif
