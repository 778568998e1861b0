#include "config.h"
#include "daemon/seccompbuild.h"

#include <errno.h>
#include <seccomp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int allow_list(scmp_filter_ctx ctx, const char *const *names, const char **step)
{
    for (; *names != NULL; names++) {
        int nr = seccomp_syscall_resolve_name(*names);
        int r;

        if (nr == __NR_SCMP_ERROR)
            continue; /* not a syscall on this architecture */
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
        if (r < 0) {
            *step = *names;
            return r;
        }
    }
    return 0;
}

/* The directory arguments are compared as the kernel sees them, a 32-bit int: AT_FDCWD (-100)
 * or any other descriptor never matches. */
static int allow_in_dir(scmp_filter_ctx ctx, const char **step)
{
    static const char *const renames[] = {"renameat", "renameat2"};
    const scmp_datum_t fd = DJ_SECCOMP_DIR_FD;
    int r;

    r = seccomp_rule_add(
        ctx, SCMP_ACT_ALLOW, SCMP_SYS(openat), 2, SCMP_CMP32(0, SCMP_CMP_EQ, fd, 0),
        SCMP_CMP32(2, SCMP_CMP_EQ, (scmp_datum_t)(unsigned)dj_seccomp_dir_open_flags, 0));
    if (r < 0) {
        *step = "openat";
        return r;
    }
    for (size_t i = 0; i < sizeof(renames) / sizeof(renames[0]); i++) {
        int nr = seccomp_syscall_resolve_name(renames[i]);

        if (nr == __NR_SCMP_ERROR)
            continue;
        r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 2, SCMP_CMP32(0, SCMP_CMP_EQ, fd, 0),
                             SCMP_CMP32(2, SCMP_CMP_EQ, fd, 0));
        if (r < 0) {
            *step = renames[i];
            return r;
        }
    }
    return 0;
}

/* libseccomp 2.5 exports to a descriptor only: a memfd, read back whole. */
static int export_to_memory(scmp_filter_ctx ctx, unsigned char **bpf, size_t *len,
                            const char **step)
{
    struct stat st;
    int fd = memfd_create("dj-seccomp-bpf", MFD_CLOEXEC);
    int r = 0;

    *step = "seccomp_export_bpf";
    if (fd < 0)
        return -errno;
    r = seccomp_export_bpf(ctx, fd);
    if (r == 0 && fstat(fd, &st) < 0)
        r = -errno;
    if (r == 0) {
        *len = (size_t)st.st_size;
        *bpf = malloc(*len > 0 ? *len : 1);
        if (*bpf == NULL)
            r = -ENOMEM;
        else if (pread(fd, *bpf, *len, 0) != (ssize_t)*len) {
            free(*bpf);
            *bpf = NULL;
            r = -EIO;
        }
    }
    close(fd);
    return r;
}

int dj_seccompbuild_export(const struct dj_seccomp_rules *profile, int with_dir,
                           unsigned char **bpf, size_t *len, const char **step)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int r = 0;

    *bpf = NULL;
    *len = 0;
    if (ctx == NULL) {
        *step = "seccomp_init";
        return -EINVAL;
    }
    for (size_t i = 0; r == 0 && profile->lists[i] != NULL; i++)
        r = allow_list(ctx, profile->lists[i], step);
    if (r == 0 && with_dir)
        r = allow_in_dir(ctx, step);
    if (r == 0)
        r = export_to_memory(ctx, bpf, len, step);
    seccomp_release(ctx);
    return r;
}
