/* ctlserve.h: the daemon's side of the control socket (lib/jail/control.h has the hook's side and
 * the protocol) and the set of watched container pidfds it feeds.
 *
 * Lives on the daemon's epoll set: the daemon registers the listening socket, then hands
 * every event tagged as a control connection or a watched pidfd to this module, which answers
 * "P", "W" and "Q", adds and drops watched pidfds, and closes idle connections. Everything it
 * calls after setup (accept4, recvmsg, send, close, epoll_ctl) must be in both daemons'
 * seccomp allowlists, and is. Owns: the accepted control connections and the watch set. */
#ifndef DNSJAIL_CTLSERVE_H
#define DNSJAIL_CTLSERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DJ_CTLSERVE_MAX_WATCHED 1024 /* pidfds watched at once */
#define DJ_CTLSERVE_MAX_CONNS 64     /* control connections open at once */

struct dj_ctlserve_conn {
    int fd; /* -1: free slot */
    uint64_t last_active_ns;
};

struct dj_ctlserve {
    int epoll_fd;
    int listen_fd;                          /* listening AF_UNIX SOCK_SEQPACKET, or -1 */
    uint64_t conn_tag;                      /* epoll data of connection slot i: conn_tag | i */
    uint64_t watch_tag;                     /* ... of watched pidfd slot i: watch_tag | i */
    int watch_fds[DJ_CTLSERVE_MAX_WATCHED]; /* -1: free slot */
    size_t n_watch; /* when it drops to 0, the last watched process is gone: exit */
    struct dj_ctlserve_conn conns[DJ_CTLSERVE_MAX_CONNS];
    size_t n_conns;
};

/* Sets CS up with nothing open yet. The low 32 bits of CONN_TAG and WATCH_TAG must be 0: the
 * slot goes there. */
void dj_ctlserve_init(struct dj_ctlserve *cs, int epoll_fd, uint64_t conn_tag, uint64_t watch_tag);

/* Registers LISTEN_FD (non-blocking; -1: no control socket) with epoll data LISTEN_TAG, and
 * the pidfds WATCH_FDS (N of them) as watched: the daemon takes them over. */
int dj_ctlserve_start(struct dj_ctlserve *cs, int listen_fd, uint64_t listen_tag,
                      const int *watch_fds, size_t n_watch, dj_error_t *err);

/* The listening socket is readable: accepts what waits (a bounded number per call). */
void dj_ctlserve_accept(struct dj_ctlserve *cs, uint64_t now_ns);

/* Connection SLOT is readable: serves one request. True when the daemon should quit ("Q"). */
bool dj_ctlserve_serve(struct dj_ctlserve *cs, size_t slot, uint64_t now_ns);

/* Watched pidfd SLOT is readable (its process exited): drops it. True when it was the last one,
 * so the daemon should quit. */
bool dj_ctlserve_watch_exited(struct dj_ctlserve *cs, size_t slot);

/* Closes the connections silent for IDLE_NS or longer. */
void dj_ctlserve_expire(struct dj_ctlserve *cs, uint64_t now_ns, uint64_t idle_ns);

#endif
