/* rootless.h: the hook under rootless podman. There it runs in podman's user namespace as that
 * namespace's root, which is the unprivileged user outside: /run and /var/log are not its to
 * write, the system's configuration belongs to a uid the namespace cannot even name, and the
 * only user worth being is the one it already is.
 * Owns: telling whether we are in a user namespace other than the initial one, and the per-user
 * paths that replace the system's defaults there. */
#ifndef DNSJAIL_ROOTLESS_H
#define DNSJAIL_ROOTLESS_H

#include <stdbool.h>
#include <sys/types.h>

#include "jail/adminconf.h"
#include "base/error.h"

struct dj_rootless {
    bool active;     /* in a user namespace that is not the initial one */
    uid_t outer_uid; /* the uid our uid maps to outside (the rootless user) */
    char *home;      /* that user's home directory, from /etc/passwd */
};

/* Reads /proc/self/uid_map. An error only when the map cannot be read or makes no sense; a
 * process in the initial namespace gets active = false. */
int dj_rootless_detect(struct dj_rootless *rl, dj_error_t *err);

/* For an active RL: the default configuration file (HOME/.config/dnsjail/dnsjail.conf), malloc'd.
 */
char *dj_rootless_config_path(const struct dj_rootless *rl);

/* For an active RL, replaces the defaults of CFG that a rootless user cannot use, before the
 * user's file is read on top: state-dir becomes /run/user/UID/dnsjail (the XDG runtime
 * directory) when that exists, else HOME/.local/state/dnsjail/run; log-file becomes
 * HOME/.local/state/dnsjail/dnsjail.log (its directory is created). */
int dj_rootless_apply_defaults(const struct dj_rootless *rl, struct dj_adminconf *cfg,
                               dj_error_t *err);

void dj_rootless_free(struct dj_rootless *rl);

/* For the daemons' "never serve as root" check: true when uid 0 still means root here. It
 * does not in a user namespace other than the initial one once securebits NOROOT is set (as
 * dj_sandbox_keep_uid_without_privileges does): uid 0 is then the rootless user outside, and exec
 * grants it nothing. In the initial namespace uid 0 owns the host's files: always root. */
bool dj_rootless_uid_means_root(void);

#endif
