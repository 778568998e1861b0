/* spare.h: spare daemons, started before any container needs them (docs/DESIGN.md "The spare
 * pool"). A spare is dnsjail-dnsstub or dnsjail-proxy started by lib/daemon/spawn.h with
 * --spare-fd N: N is a listening AF_UNIX SOCK_SEQPACKET socket of the hook's, at
 * <state dir>/spares/<daemon>.sock. The spare waits there, unprivileged and sandboxed already
 * (a spare allowlist: its daemon's, what waiting and the daemon's start-up need); the hook
 * connects, reads its hello, and sends one assignment whose SCM_RIGHTS array is exactly the
 * descriptors it would have put on a spawned daemon's command line (lib/daemon/sparemsg.h).
 * On the assignment the spare forks once: the child becomes that jail's daemon, the spare
 * writes the child's pid and then "R" on the ready pipe (the hook's dj_spawn_wait reads it as a
 * spawned daemon's, lib/daemon/spawn.h) and goes back to waiting, having read nothing of the
 * jail. "R" here means the jail has its daemon, whose set-up runs beside the runtime's.
 * Owns: both ends of that exchange (the daemon's in dj_spare_serve, the hook's in
 * dj_spare_connect, dj_spare_hello and dj_spare_send). */
#ifndef DNSJAIL_SPARE_H
#define DNSJAIL_SPARE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/error.h"
#include "daemon/seccompprofile.h"
#include "daemon/sparemsg.h"

/* The spare's command line is "PROGRAM --spare-fd N --spare-owner UID --spare-pool DIR" and
 * then this many empty arguments: the room the assigned daemon rewrites its command line
 * into, so that ps and /proc/PID/cmdline show "--container-id ID" and its descriptors, as for a
 * spawned daemon (the "--spare-pool DIR" of an idle one says whose pool it is). */
#define DJ_SPARE_TITLE_ROOM 1024

/* In the daemon, first thing in main: whether ARGV starts a spare. */
bool dj_spare_requested(int argc, char **argv);

/* In the daemon: waits as a spare of PROGRAM (whose serving allowlist is SYSCALLS), and returns
 * only in a child it forked for a jail, with *ARGC and *ARGV its command line as the
 * hook would have given it (a new array). A spare that cannot wait any more, or is retired,
 * exits. */
void dj_spare_serve(const char *program, int *argc, char ***argv, enum dj_seccomp_profile profile);

/* In the hook: binds the pool's socket at PATH anew (replacing what is there), only its own
 * user may connect, and listens. */
int dj_spare_listen(const char *path, dj_error_t *err);

/* In the hook: connects to the spare at PATH. ENOENT or ECONNREFUSED in *err's code when there
 * is none (no pool, or its spare died). Replies are awaited at most TIMEOUT_MS each. */
int dj_spare_connect(const char *path, unsigned timeout_ms, dj_error_t *err);

/* In the hook: the spare's hello on FD. */
int dj_spare_hello(int fd, struct dj_sparemsg_hello *hello, dj_error_t *err);

/* In the hook: sends MSG with FDS (N of them) in one datagram. */
int dj_spare_send(int fd, const char *msg, size_t len, const int *fds, size_t n, dj_error_t *err);

#endif
