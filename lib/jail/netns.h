/* netns.h: entering a container's network namespace safely and binding sockets in it.
 * Owns: pidfd-guarded namespace lookup, setns in (one way: the caller enters on a thread that
 * ends in the namespace), loopback sockets. */
#ifndef DNSJAIL_NETNS_H
#define DNSJAIL_NETNS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/error.h"

struct dj_netns {
    int fd;    /* O_RDONLY fd of the namespace (nsfs) */
    dev_t dev; /* identity of the namespace: (dev, ino) */
    ino_t ino;
};

/* Opens the network namespace of PID, guarded against pid reuse: a pidfd is opened first and
 * the process must still be alive after the namespace fd is opened. *pidfd receives the
 * pidfd (the caller keeps it to watch the container). */
int dj_netns_open_pid(pid_t pid, struct dj_netns *ns, int *pidfd, dj_error_t *err);

/* Opens a namespace by path (e.g. /run/netns/NAME). */
int dj_netns_open_path(const char *path, struct dj_netns *ns, dj_error_t *err);

/* The namespace this process is in now. */
int dj_netns_open_self(struct dj_netns *ns, dj_error_t *err);

bool dj_netns_same(const struct dj_netns *a, const struct dj_netns *b);
void dj_netns_close(struct dj_netns *ns);

/* Moves the calling thread into NS, for good: there is no way back (the hook calls this on a
 * thread of its own, see in_namespace in hook/container.c). */
int dj_netns_enter(const struct dj_netns *ns, dj_error_t *err);

/* Brings the loopback interface up in the current namespace (rtnetlink). */
int dj_netns_loopback_up(dj_error_t *err);

/* Binds a non-blocking, close-on-exec socket of TYPE (SOCK_DGRAM/SOCK_STREAM) to the
 * loopback address of FAMILY (127.0.0.1 or ::1) and PORT in the current namespace, and
 * listens when it is a stream socket. Returns the fd or -1. */
int dj_netns_bind_loopback(int family, int type, uint16_t port, dj_error_t *err);

#endif
