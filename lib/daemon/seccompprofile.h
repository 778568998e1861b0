/* seccompprofile.h: the rules of every seccomp filter a dnsjail daemon loads, in one place.
 *
 * The filters are compiled at build time: lib/daemon/seccompgen.c has libseccomp turn each
 * profile below into BPF (seccomp_export_bpf) and writes it into the generated
 * seccomp-filters.c, which the daemons link and load with seccomp(2) (dj_sandbox_seccomp_load):
 * no libseccomp at run time. tests/unit/test-seccomp.c regenerates every filter from these
 * same rules and compares it byte for byte with what the daemons ship.
 *
 * Adding a profile is one entry in DJ_SECCOMP_PROFILES (its syscall lists are defined in
 * seccompprofile.c). Every filter's default action kills the process.
 *
 * A profile's DIR says whether it also allows writing files into the metrics directory:
 * openat with DJ_SECCOMP_DIR_FD as its directory and exactly DJ_METRICS_OPEN_FLAGS, and
 * renameat/renameat2 with DJ_SECCOMP_DIR_FD as both directories (lib/daemon/metrics.h).
 * seccomp cannot see paths (an absolute path makes the kernel ignore the directory), so the
 * write-only flags are what keeps this from opening any file for reading.
 *   DJ_SECCOMP_DIR_OPTIONAL  two filters, with and without those rules; the daemon picks by
 *                            whether it has a metrics directory.
 *   DJ_SECCOMP_DIR_ALWAYS    one filter, with them: a spare daemon's, which must allow all
 *                            that the filter stacked on it at assignment may allow.
 *   DJ_SECCOMP_DIR_NEVER     one filter, without.
 *
 * Owns: the syscall lists, the profile table and DJ_SECCOMP_DIR_FD. */
#ifndef DNSJAIL_SECCOMPPROFILE_H
#define DNSJAIL_SECCOMPPROFILE_H

#include <linux/filter.h>
#include <stddef.h>

/* The metrics directory's descriptor number inside the sandbox. The filters compare openat's
 * and renameat's directory argument with a constant, so a daemon moves its directory to this
 * number (dj_sandbox_move_dir_fd) before it enters the sandbox. Above the few descriptors a
 * daemon holds during setup, below any RLIMIT_NOFILE a bundle sensibly sets (runc's default
 * is 1024). */
#define DJ_SECCOMP_DIR_FD 100

enum dj_seccomp_dir {
    DJ_SECCOMP_DIR_NEVER,
    DJ_SECCOMP_DIR_OPTIONAL,
    DJ_SECCOMP_DIR_ALWAYS,
};

/* X(ID, "name", DIR, lists...): the lists are NULL-terminated arrays of syscall names defined
 * in seccompprofile.c; the filter allows their union. A spare daemon's profile (pre-started,
 * waiting for a jail on a Unix socket) is its daemon's lists plus syscalls_spare, with the
 * directory rules always on; the daemon's own profile is stacked on it once it is assigned. */
#define DJ_SECCOMP_PROFILES(X)                                                                     \
    X(DJ_SECCOMP_STUB, "stub", DJ_SECCOMP_DIR_OPTIONAL, syscalls_base, syscalls_stub)              \
    X(DJ_SECCOMP_PROXY, "proxy", DJ_SECCOMP_DIR_OPTIONAL, syscalls_base, syscalls_proxy)           \
    X(DJ_SECCOMP_STUB_SPARE, "stub-spare", DJ_SECCOMP_DIR_ALWAYS, syscalls_base, syscalls_stub,    \
      syscalls_spare)                                                                              \
    X(DJ_SECCOMP_PROXY_SPARE, "proxy-spare", DJ_SECCOMP_DIR_ALWAYS, syscalls_base, syscalls_proxy, \
      syscalls_spare)

#define DJ_SECCOMP_ENUM_ENTRY(id, ...) id,
enum dj_seccomp_profile { DJ_SECCOMP_PROFILES(DJ_SECCOMP_ENUM_ENTRY) DJ_SECCOMP_PROFILE_COUNT };
#undef DJ_SECCOMP_ENUM_ENTRY

#define DJ_SECCOMP_MAX_LISTS 4

struct dj_seccomp_rules {
    const char *name;
    enum dj_seccomp_dir dir;
    const char *const *lists[DJ_SECCOMP_MAX_LISTS + 1]; /* NULL-terminated */
};

extern const struct dj_seccomp_rules dj_seccomp_profiles[DJ_SECCOMP_PROFILE_COUNT];

/* The directory's open flags the filters allow (DJ_METRICS_OPEN_FLAGS). */
extern const int dj_seccomp_dir_open_flags;

/* One compiled filter. */
struct dj_seccomp_program {
    const struct sock_filter *insns;
    unsigned short len;
};

/* Generated (seccomp-filters.c): each profile's filter without [0] and with [1] the
 * directory rules; a profile whose DIR is NEVER or ALWAYS has the same filter in both. */
extern const struct dj_seccomp_program dj_seccomp_programs[DJ_SECCOMP_PROFILE_COUNT][2];

/* Whether profile P's filter WITH_DIR is one of its own (not the other variant's copy). */
static inline int dj_seccomp_variant_exists(const struct dj_seccomp_rules *p, int with_dir)
{
    return p->dir == DJ_SECCOMP_DIR_OPTIONAL || (p->dir == DJ_SECCOMP_DIR_ALWAYS) == !!with_dir;
}

#endif
