#include "config.h"
#include "daemon/sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "base/passwd.h"
#include "jail/rootless.h"

int dj_sandbox_lookup_user(const char *user, uid_t *uid, gid_t *gid, dj_error_t *err)
{
    struct dj_passwd_user entry;
    char *end;
    unsigned long numeric;
    int r;

    if (user == NULL || *user == '\0')
        return dj_error_make(err, 0, "empty user name");
    /* /etc/passwd, not getpwnam_r: the static hook must not load NSS modules (base/passwd.h). */
    r = dj_passwd_find(DJ_PASSWD_PATH, user, 0, &entry, err);
    if (r < 0)
        return -1;
    if (r == 1) {
        *uid = entry.uid;
        *gid = entry.gid;
        dj_passwd_user_free(&entry);
        return 0;
    }
    /* A numeric uid without a passwd entry: use it as uid and gid. */
    errno = 0;
    numeric = strtoul(user, &end, 10);
    if (*end == '\0' && errno == 0 && numeric > 0 && numeric < 0xfffffffful) {
        *uid = (uid_t)numeric;
        *gid = (gid_t)numeric;
        return 0;
    }
    return dj_error_make(err, 0, "no such user '%s' in %s", user, DJ_PASSWD_PATH);
}

int dj_sandbox_drop_user(const char *user, dj_error_t *err)
{
    uid_t uid;
    gid_t gid;

    if (geteuid() != 0 || user == NULL)
        return 0;
    if (dj_sandbox_lookup_user(user, &uid, &gid, err) < 0)
        return -1;
    if (uid == 0)
        return dj_error_make(err, 0, "refusing to run daemons as root (user '%s')", user);
    if (setgroups(0, NULL) < 0)
        return dj_error_make(err, errno, "setgroups");
    if (setresgid(gid, gid, gid) < 0)
        return dj_error_make(err, errno, "setresgid(%u)", (unsigned)gid);
    if (setresuid(uid, uid, uid) < 0)
        return dj_error_make(err, errno, "setresuid(%u)", (unsigned)uid);
    /* Paranoia: a kernel that lets us back to root means the drop did not happen. */
    if (setresuid(0, 0, 0) == 0 || geteuid() == 0)
        return dj_error_make(err, 0, "could regain root after dropping to '%s'", user);
    return 0;
}

int dj_sandbox_drop_bounding_set(dj_error_t *err)
{
    for (unsigned long cap = 0; cap <= CAP_LAST_CAP; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
            return dj_error_make(err, errno, "prctl(PR_CAPBSET_DROP, %lu)", cap);
    }
    return 0;
}

int dj_sandbox_keep_uid_without_privileges(dj_error_t *err)
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    const unsigned long bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP |
                               SECBIT_NO_SETUID_FIXUP_LOCKED | SECBIT_KEEP_CAPS_LOCKED |
                               SECBIT_NO_CAP_AMBIENT_RAISE | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;

    if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) < 0)
        return dj_error_make(err, errno, "prctl(PR_SET_SECUREBITS)");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return dj_error_make(err, errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &header, data) < 0)
        return dj_error_make(err, errno, "capset");
    return 0;
}

int dj_sandbox_drop_capabilities(dj_error_t *err)
{
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    unsigned long cap;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return dj_error_make(err, errno, "prctl(PR_SET_NO_NEW_PRIVS)");
    /* Clearing the bounding set needs CAP_SETPCAP; an unprivileged daemon has none anyway and
     * no_new_privs stops exec from gaining any. Asked once: without it every drop fails with
     * EPERM, about forty failed calls at each daemon's start. */
    if (syscall(SYS_capget, &header, data) < 0)
        return dj_error_make(err, errno, "capget");
    if (data[CAP_TO_INDEX(CAP_SETPCAP)].effective & CAP_TO_MASK(CAP_SETPCAP)) {
        for (cap = 0; cap <= CAP_LAST_CAP; cap++) {
            if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EINVAL)
                return dj_error_make(err, errno, "prctl(PR_CAPBSET_DROP, %lu)", cap);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return dj_error_make(err, errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &header, data) < 0)
        return dj_error_make(err, errno, "capset");
    return 0;
}

int dj_sandbox_move_dir_fd(int *fd, dj_error_t *err)
{
    if (*fd < 0 || *fd == DJ_SECCOMP_DIR_FD)
        return 0;
    /* Something else there would be closed by dup3 and then reachable through the rules. */
    if (fcntl(DJ_SECCOMP_DIR_FD, F_GETFD) >= 0)
        return dj_error_make(err, 0, "descriptor %d, the sandbox's directory, is already in use",
                             DJ_SECCOMP_DIR_FD);
    if (dup3(*fd, DJ_SECCOMP_DIR_FD, O_CLOEXEC) < 0)
        return dj_error_make(err, errno, "moving descriptor %d to %d", *fd, DJ_SECCOMP_DIR_FD);
    close(*fd);
    *fd = DJ_SECCOMP_DIR_FD;
    return 0;
}

int dj_sandbox_seccomp_load(enum dj_seccomp_profile profile, int dir_fd, dj_error_t *err)
{
    const struct dj_seccomp_program *program;
    struct sock_fprog fprog;

    if ((unsigned)profile >= DJ_SECCOMP_PROFILE_COUNT)
        return dj_error_make(err, 0, "seccomp: no profile %d", (int)profile);
    if (dir_fd >= 0 && dir_fd != DJ_SECCOMP_DIR_FD)
        return dj_error_make(err, 0, "seccomp: the directory is descriptor %d, the filter's is %d",
                             dir_fd, DJ_SECCOMP_DIR_FD);
    program = &dj_seccomp_programs[profile][dir_fd >= 0];
    fprog.len = program->len;
    fprog.filter = (struct sock_filter *)program->insns;
    /* The flags libseccomp's seccomp_load would pass with its default attributes: none. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
        return dj_error_make(err, errno, "seccomp(SECCOMP_SET_MODE_FILTER, %s)",
                             dj_seccomp_profiles[profile].name);
    /* Start-up is over: give the kernel back the heap pages it freed (option and policy
     * parsing), which would otherwise stay resident for the daemon's life (madvise and brk are
     * in the base list). */
    malloc_trim(0);
    return 0;
}

int dj_sandbox_enter(const char *user, enum dj_seccomp_profile profile, dj_error_t *err)
{
    return dj_sandbox_enter_dirfd(user, profile, -1, err);
}

int dj_sandbox_enter_dirfd(const char *user, enum dj_seccomp_profile profile, int dir_fd,
                           dj_error_t *err)
{
    /* The bounding set can only be emptied while we still hold CAP_SETPCAP; a uid 0 without
     * it (rootless, see dj_sandbox_keep_uid_without_privileges) had it emptied before exec. */
    if (geteuid() == 0 && dj_rootless_uid_means_root() && dj_sandbox_drop_bounding_set(err) < 0)
        return -1;
    if (dj_sandbox_drop_user(user, err) < 0)
        return -1;
    if (dj_sandbox_drop_capabilities(err) < 0)
        return -1;
    return dj_sandbox_seccomp_load(profile, dir_fd, err);
}

static int is_kept(int fd, const int *keep, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (keep[i] == fd)
            return 1;
    return 0;
}

int dj_sandbox_close_fds_except(const int *keep, size_t n, dj_error_t *err)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *de;
    int dir_fd;

    if (dir == NULL) {
        /* No /proc: close a generous range by number. */
        long max = sysconf(_SC_OPEN_MAX);
        for (int fd = 3; fd < (max > 0 ? max : 65536); fd++)
            if (!is_kept(fd, keep, n))
                close(fd);
        return 0;
    }
    dir_fd = dirfd(dir);
    while ((de = readdir(dir)) != NULL) {
        char *end;
        long fd = strtol(de->d_name, &end, 10);

        if (*end != '\0' || de->d_name[0] == '\0' || fd < 3 || fd == dir_fd)
            continue;
        if (!is_kept((int)fd, keep, n))
            close((int)fd);
    }
    closedir(dir);
    (void)err;
    return 0;
}
