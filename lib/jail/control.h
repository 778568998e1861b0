/* control.h: the hook's side of the control socket every dnsjail daemon listens on.
 *
 * AF_UNIX SOCK_SEQPACKET; one request per datagram, one reply "K":
 *   "P"            ping: is the daemon alive and ours?
 *   "W" + pidfd    watch one more container init (SCM_RIGHTS); the daemon exits when every
 *                  process it watches has exited
 *   "Q"            quit now; the daemon replies, then exits, so the caller sees EOF when it
 *                  is gone
 * Owns: the listening socket's creation and the client calls. */
#ifndef DNSJAIL_CONTROL_H
#define DNSJAIL_CONTROL_H

#include "base/error.h"

/* Creates a listening socket at PATH (an old socket file there is replaced), mode 0600. */
int dj_control_listen(const char *path, dj_error_t *err);

/* 0 when a daemon answered at PATH within TIMEOUT_MS. */
int dj_control_ping(const char *path, unsigned timeout_ms, dj_error_t *err);

/* Hands PIDFD to the daemon to watch. */
int dj_control_watch(const char *path, int pidfd, unsigned timeout_ms, dj_error_t *err);

/* Asks the daemon to quit and waits until it has closed the connection (it has exited). */
int dj_control_quit(const char *path, unsigned timeout_ms, dj_error_t *err);

#endif
