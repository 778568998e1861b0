/* sandbox.h: how a dnsjail daemon gives up everything it does not need.
 *
 * Order matters: drop the user (needs root), set no_new_privs, drop every capability, then
 * load a seccomp allowlist whose default action kills the process. Owns: that sequence. */
#ifndef DNSJAIL_SANDBOX_H
#define DNSJAIL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"

/* Looks USER up (name or numeric uid) in the passwd database. */
int dj_sandbox_lookup_user(const char *user, uid_t *uid, gid_t *gid, dj_error_t *err);

/* When running as root: setgroups to none, setgid, setuid to USER, and verify that root
 * cannot be regained. When not root: a no-op. */
int dj_sandbox_drop_user(const char *user, dj_error_t *err);

/* Empties the capability bounding set (needs CAP_SETPCAP: call it while still root), so not
 * even a set-uid program could hand a capability back. */
int dj_sandbox_drop_bounding_set(dj_error_t *err);

/* For a process that stays uid 0 (rootless podman: root of a user namespace, the unprivileged
 * user outside): makes uid 0 mean nothing to the kernel from now on (securebits NOROOT and
 * NO_SETUID_FIXUP, locked, so exec grants no capabilities to root) and empties every
 * capability set. Call after dj_sandbox_drop_bounding_set, which needs CAP_SETPCAP, as this does.
 */
int dj_sandbox_keep_uid_without_privileges(dj_error_t *err);

/* Sets PR_SET_NO_NEW_PRIVS and clears every capability set (bounding set included when
 * we still can). */
int dj_sandbox_drop_capabilities(dj_error_t *err);

/* Loads a seccomp filter that allows only the syscalls named in SYSCALLS (NULL-terminated
 * list of names, e.g. "epoll_wait"); anything else kills the process. Syscall names unknown
 * to this architecture are skipped. Requires no_new_privs (set by dj_sandbox_drop_capabilities). */
int dj_sandbox_seccomp_allow_only(const char *const *syscalls, dj_error_t *err);
/* ... and the DIR_FD-bound syscalls of dj_sandbox_enter_dirfd (none when DIR_FD < 0). */
int dj_sandbox_seccomp_allow_only_dirfd(const char *const *syscalls, int dir_fd, int open_flags,
                                        dj_error_t *err);

/* The syscalls every daemon needs (exit, memory, time, logging writes, epoll); a daemon
 * passes its own list plus this one. */
extern const char *const dj_sandbox_seccomp_base_syscalls[];

/* dj_sandbox_drop_user + dj_sandbox_drop_capabilities + dj_sandbox_seccomp_allow_only(base +
 * extra). */
int dj_sandbox_enter(const char *user, const char *const *extra_syscalls, dj_error_t *err);

/* dj_sandbox_enter, and when DIR_FD >= 0, also openat with DIR_FD as its directory and
 * exactly OPEN_FLAGS, and renameat/renameat2 with DIR_FD as both directories: enough to
 * replace files in that one directory (lib/daemon/metrics.h). seccomp cannot see paths: an absolute
 * path makes the kernel ignore DIR_FD, so the flags are what keeps this from opening any
 * file for reading (OPEN_FLAGS must be a write-only set). */
int dj_sandbox_enter_dirfd(const char *user, const char *const *extra_syscalls, int dir_fd,
                           int open_flags, dj_error_t *err);

/* Closes every fd >= 3 except those in KEEP (N of them). */
int dj_sandbox_close_fds_except(const int *keep, size_t n, dj_error_t *err);

#endif
