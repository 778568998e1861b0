/* sandbox.h: how a dnsjail daemon gives up everything it does not need.
 *
 * Order matters: drop the user (needs root), set no_new_privs, drop every capability, then
 * load a seccomp allowlist whose default action kills the process, compiled at build time
 * (lib/daemon/seccompprofile.h). Owns: that sequence. */
#ifndef DNSJAIL_SANDBOX_H
#define DNSJAIL_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"
#include "daemon/seccompprofile.h"

/* Looks USER up (name, or a numeric uid that /etc/passwd need not name) in /etc/passwd. */
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

/* Loads PROFILE's filter, compiled at build time (lib/daemon/seccompprofile.h), with the
 * rules for the metrics directory when DIR_FD >= 0, which must then be DJ_SECCOMP_DIR_FD
 * (dj_sandbox_move_dir_fd). Requires no_new_privs (set by dj_sandbox_drop_capabilities). A
 * spare daemon loads its spare profile, then its daemon's profile on top once assigned: the
 * kernel applies both, so the second one only takes away. */
int dj_sandbox_seccomp_load(enum dj_seccomp_profile profile, int dir_fd, dj_error_t *err);

/* Moves the directory descriptor *FD (if >= 0) to DJ_SECCOMP_DIR_FD, close-on-exec, and
 * updates *FD: the number the filters allow openat and renameat in. Fails if that number is
 * taken by another descriptor. */
int dj_sandbox_move_dir_fd(int *fd, dj_error_t *err);

/* dj_sandbox_drop_user + dj_sandbox_drop_capabilities + dj_sandbox_seccomp_load(PROFILE). */
int dj_sandbox_enter(const char *user, enum dj_seccomp_profile profile, dj_error_t *err);

/* ... with the metrics directory's rules when DIR_FD >= 0 (see dj_sandbox_seccomp_load):
 * openat in it with exactly DJ_METRICS_OPEN_FLAGS, renameat/renameat2 within it; enough to
 * replace files in that one directory (lib/daemon/metrics.h). */
int dj_sandbox_enter_dirfd(const char *user, enum dj_seccomp_profile profile, int dir_fd,
                           dj_error_t *err);

/* Closes every fd >= 3 except those in KEEP (N of them). */
int dj_sandbox_close_fds_except(const int *keep, size_t n, dj_error_t *err);

#endif
