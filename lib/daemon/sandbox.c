#include "config.h"
#include "daemon/sandbox.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/securebits.h>
#include <pwd.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "jail/rootless.h"

/* What any of our daemons does after setup: serve, log, keep time, and exit. */
const char *const dj_sandbox_seccomp_base_syscalls[] = {
    "read",
    "write",
    "writev",
    "close",
    "exit",
    "exit_group",
    "brk",
    "mmap",
    "munmap",
    "mremap",
    "madvise",
    "clock_gettime",
    "clock_nanosleep",
    "nanosleep",
    "gettimeofday",
    "epoll_wait",
    "epoll_pwait",
    "epoll_ctl",
    "rt_sigreturn",
    "rt_sigprocmask",
    "getpid",
    "fstat",
    "newfstatat",
    "lseek",
    "futex",
    "restart_syscall",
    "getrandom",
    NULL,
};

int dj_sandbox_lookup_user(const char *user, uid_t *uid, gid_t *gid, dj_error_t *err)
{
    struct passwd pw, *found = NULL;
    cleanup_free char *buf = NULL;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    char *end;
    unsigned long numeric;
    int r;

    if (user == NULL || *user == '\0')
        return dj_error_make(err, 0, "empty user name");
    if (size < 1024)
        size = 16384;
    buf = malloc((size_t)size);
    if (buf == NULL)
        return dj_error_make(err, ENOMEM, "looking up user '%s'", user);
    r = getpwnam_r(user, &pw, buf, (size_t)size, &found);
    if (r == 0 && found != NULL) {
        *uid = pw.pw_uid;
        *gid = pw.pw_gid;
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
    return dj_error_make(err, r, "no such user '%s'", user);
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
     * no_new_privs stops exec from gaining any. */
    for (cap = 0; cap <= CAP_LAST_CAP; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EPERM && errno != EINVAL)
            return dj_error_make(err, errno, "prctl(PR_CAPBSET_DROP, %lu)", cap);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return dj_error_make(err, errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    memset(data, 0, sizeof(data));
    if (syscall(SYS_capset, &header, data) < 0)
        return dj_error_make(err, errno, "capset");
    return 0;
}

/* libseccomp only builds and loads the filter, once, at start-up; linked, it would stay
 * mapped for the daemon's life (128 KiB resident in each). So it is loaded for the filter
 * and unloaded once the filter is on (dlclose unmaps it: munmap is in the base list).
 * Functions already in the process (a program that links libseccomp, a preloaded shim such
 * as bench/no-seccomp.c) take precedence, as they would if we linked it. */
struct scmp_api {
    void *lib; /* NULL: functions found in the process */
    __typeof__(seccomp_init) *init;
    __typeof__(seccomp_rule_add) *rule_add;
    __typeof__(seccomp_syscall_resolve_name) *resolve_name;
    __typeof__(seccomp_load) *load;
    __typeof__(seccomp_release) *release;
};

/* Fills the functions not found yet from WHERE; 0 once all are there. */
static int scmp_find(struct scmp_api *api, void *where)
{
#define FIND(field, name)                                                                          \
    if (api->field == NULL)                                                                        \
        api->field = (__typeof__(api->field))dlsym(where, name);
    FIND(init, "seccomp_init")
    FIND(rule_add, "seccomp_rule_add")
    FIND(resolve_name, "seccomp_syscall_resolve_name")
    FIND(load, "seccomp_load")
    FIND(release, "seccomp_release")
#undef FIND
    return api->init != NULL && api->rule_add != NULL && api->resolve_name != NULL &&
                   api->load != NULL && api->release != NULL
               ? 0
               : -1;
}

static int scmp_open(struct scmp_api *api, dj_error_t *err)
{
    const char *problem;

    memset(api, 0, sizeof(*api));
    if (scmp_find(api, RTLD_DEFAULT) == 0)
        return 0;
    api->lib = dlopen(DJ_LIBSECCOMP_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (api->lib == NULL) {
        problem = dlerror();
        return dj_error_make(err, 0, "cannot load libseccomp: %s",
                             problem != NULL ? problem : DJ_LIBSECCOMP_SONAME);
    }
    if (scmp_find(api, api->lib) < 0) {
        dlclose(api->lib);
        api->lib = NULL;
        return dj_error_make(err, 0, "%s lacks a seccomp function", DJ_LIBSECCOMP_SONAME);
    }
    return 0;
}

static void scmp_close(struct scmp_api *api)
{
    if (api->lib != NULL)
        dlclose(api->lib);
    api->lib = NULL;
}

static int allow_list(const struct scmp_api *api, scmp_filter_ctx ctx, const char *const *names,
                      dj_error_t *err)
{
    for (; names != NULL && *names != NULL; names++) {
        int nr = api->resolve_name(*names);
        int r;

        if (nr == __NR_SCMP_ERROR)
            continue; /* not a syscall on this architecture */
        r = api->rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (r < 0)
            return dj_error_make(err, -r, "seccomp_rule_add(%s)", *names);
    }
    return 0;
}

/* The dirfd arguments are compared as the kernel sees them: a 32-bit int, so AT_FDCWD (-100)
 * or any other descriptor never matches. */
static int allow_in_dir(const struct scmp_api *api, scmp_filter_ctx ctx, int dir_fd, int open_flags,
                        dj_error_t *err)
{
    static const char *const renames[] = {"renameat", "renameat2"};
    scmp_datum_t fd = (scmp_datum_t)(unsigned)dir_fd;
    int r;

    if (dir_fd < 0)
        return 0;
    if ((open_flags & O_ACCMODE) != O_WRONLY)
        return dj_error_make(err, 0, "seccomp: the directory's open flags must be write-only");
    r = api->rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 2, SCMP_CMP32(0, SCMP_CMP_EQ, fd, 0),
                      SCMP_CMP32(2, SCMP_CMP_EQ, (scmp_datum_t)(unsigned)open_flags, 0));
    if (r < 0)
        return dj_error_make(err, -r, "seccomp_rule_add(openat)");
    for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++) {
        int nr = api->resolve_name(renames[i]);

        if (nr == __NR_SCMP_ERROR)
            continue;
        r = api->rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_CMP32(0, SCMP_CMP_EQ, fd, 0),
                          SCMP_CMP32(2, SCMP_CMP_EQ, fd, 0));
        if (r < 0)
            return dj_error_make(err, -r, "seccomp_rule_add(%s)", renames[i]);
    }
    return 0;
}

int dj_sandbox_seccomp_allow_only(const char *const *syscalls, dj_error_t *err)
{
    return dj_sandbox_seccomp_allow_only_dirfd(syscalls, -1, 0, err);
}

int dj_sandbox_seccomp_allow_only_dirfd(const char *const *syscalls, int dir_fd, int open_flags,
                                        dj_error_t *err)
{
    struct scmp_api api;
    scmp_filter_ctx ctx;
    int r;

    if (scmp_open(&api, err) < 0)
        return -1;
    ctx = api.init(SCMP_ACT_KILL_PROCESS);
    if (ctx == NULL) {
        scmp_close(&api);
        return dj_error_make(err, 0, "seccomp_init failed");
    }
    if (allow_list(&api, ctx, dj_sandbox_seccomp_base_syscalls, err) < 0 ||
        allow_list(&api, ctx, syscalls, err) < 0 ||
        allow_in_dir(&api, ctx, dir_fd, open_flags, err) < 0) {
        api.release(ctx);
        scmp_close(&api);
        return -1;
    }
    r = api.load(ctx);
    api.release(ctx);
    scmp_close(&api);
    if (r < 0)
        return dj_error_make(err, -r, "seccomp_load");
    /* Start-up is over: give the kernel back the heap pages it freed (option and policy
     * parsing, libseccomp's filter build), which would otherwise stay resident for the
     * daemon's life (about 50 KiB each; madvise and brk are in the base list). */
    malloc_trim(0);
    return 0;
}

int dj_sandbox_enter(const char *user, const char *const *extra_syscalls, dj_error_t *err)
{
    return dj_sandbox_enter_dirfd(user, extra_syscalls, -1, 0, err);
}

int dj_sandbox_enter_dirfd(const char *user, const char *const *extra_syscalls, int dir_fd,
                           int open_flags, dj_error_t *err)
{
    /* The bounding set can only be emptied while we still hold CAP_SETPCAP; a uid 0 without
     * it (rootless, see dj_sandbox_keep_uid_without_privileges) had it emptied before exec. */
    if (geteuid() == 0 && dj_rootless_uid_means_root() && dj_sandbox_drop_bounding_set(err) < 0)
        return -1;
    if (dj_sandbox_drop_user(user, err) < 0)
        return -1;
    if (dj_sandbox_drop_capabilities(err) < 0)
        return -1;
    return dj_sandbox_seccomp_allow_only_dirfd(extra_syscalls, dir_fd, open_flags, err);
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
