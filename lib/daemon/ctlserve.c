#include "config.h"
#include "daemon/ctlserve.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPTS_PER_WAKEUP 16
#define CONTROL_MAX_FDS 4 /* fds we take from one control message (one is legal) */

static int epoll_add(struct dj_ctlserve *cs, int fd, uint64_t tag, dj_error_t *err)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag};

    if (epoll_ctl(cs->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return dj_error_make(err, errno, "epoll_ctl(ADD, fd %d)", fd);
    return 0;
}

void dj_ctlserve_init(struct dj_ctlserve *cs, int epoll_fd, uint64_t conn_tag, uint64_t watch_tag)
{
    cs->epoll_fd = epoll_fd;
    cs->listen_fd = -1;
    cs->conn_tag = conn_tag;
    cs->watch_tag = watch_tag;
    for (size_t i = 0; i < DJ_CTLSERVE_MAX_WATCHED; i++)
        cs->watch_fds[i] = -1;
    cs->n_watch = 0;
    for (size_t i = 0; i < DJ_CTLSERVE_MAX_CONNS; i++)
        cs->conns[i].fd = -1;
    cs->n_conns = 0;
}

int dj_ctlserve_start(struct dj_ctlserve *cs, int listen_fd, uint64_t listen_tag,
                      const int *watch_fds, size_t n_watch, dj_error_t *err)
{
    if (listen_fd >= 0 && epoll_add(cs, listen_fd, listen_tag, err) < 0)
        return -1;
    cs->listen_fd = listen_fd;
    for (size_t i = 0; i < n_watch; i++) {
        if (cs->n_watch == DJ_CTLSERVE_MAX_WATCHED)
            return dj_error_make(err, 0, "at most %d watched pidfds", DJ_CTLSERVE_MAX_WATCHED);
        /* A pidfd turns readable when its process exits. */
        if (epoll_add(cs, watch_fds[i], cs->watch_tag | (uint32_t)cs->n_watch, err) < 0)
            return dj_error_wrap(err, "--watch-pidfd %d is not a pidfd", watch_fds[i]);
        cs->watch_fds[cs->n_watch++] = watch_fds[i];
    }
    return 0;
}

static void conn_close(struct dj_ctlserve *cs, struct dj_ctlserve_conn *c)
{
    close(c->fd);
    c->fd = -1;
    cs->n_conns--;
}

void dj_ctlserve_accept(struct dj_ctlserve *cs, uint64_t now_ns)
{
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        dj_error_t err = NULL;
        struct dj_ctlserve_conn *c = NULL;
        int fd = accept4(cs->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0)
            return;
        for (size_t k = 0; k < DJ_CTLSERVE_MAX_CONNS; k++) {
            if (cs->conns[k].fd < 0) {
                c = &cs->conns[k];
                break;
            }
        }
        if (c == NULL) {
            close(fd); /* too many: the caller sees EOF and reports it */
            continue;
        }
        if (epoll_add(cs, fd, cs->conn_tag | (uint32_t)(c - cs->conns), &err) < 0) {
            dj_error_release(&err);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->last_active_ns = now_ns;
        cs->n_conns++;
    }
}

static bool watch_add(struct dj_ctlserve *cs, int pidfd)
{
    dj_error_t err = NULL;

    if (cs->n_watch == DJ_CTLSERVE_MAX_WATCHED)
        return false;
    for (size_t slot = 0; slot < DJ_CTLSERVE_MAX_WATCHED; slot++) {
        if (cs->watch_fds[slot] >= 0)
            continue;
        if (epoll_add(cs, pidfd, cs->watch_tag | (uint32_t)slot, &err) < 0) {
            dj_error_release(&err);
            return false;
        }
        cs->watch_fds[slot] = pidfd;
        cs->n_watch++;
        return true;
    }
    return false;
}

bool dj_ctlserve_watch_exited(struct dj_ctlserve *cs, size_t slot)
{
    /* An earlier event of this wake-up may have dropped it already. */
    if (slot >= DJ_CTLSERVE_MAX_WATCHED || cs->watch_fds[slot] < 0)
        return false;
    /* Out of the epoll set before the close: epoll forgets a descriptor only when the last
     * reference to its open file goes, and a copy held elsewhere (a child forked a moment ago
     * that has not closed its inherited descriptors yet) would keep reporting the exit. */
    epoll_ctl(cs->epoll_fd, EPOLL_CTL_DEL, cs->watch_fds[slot], NULL);
    close(cs->watch_fds[slot]);
    cs->watch_fds[slot] = -1;
    cs->n_watch--;
    return cs->n_watch == 0; /* the last container we served is gone */
}

bool dj_ctlserve_serve(struct dj_ctlserve *cs, size_t slot, uint64_t now_ns)
{
    struct dj_ctlserve_conn *c;
    char request[16];
    union {
        char buf[CMSG_SPACE(CONTROL_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {request, sizeof(request)};
    struct msghdr msg = {0};
    int fds[CONTROL_MAX_FDS];
    size_t n_fds = 0;
    bool ok = false;
    ssize_t n;

    if (slot >= DJ_CTLSERVE_MAX_CONNS || cs->conns[slot].fd < 0)
        return false;
    c = &cs->conns[slot];
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    do
        n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return false;
    for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm != NULL;
         cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
            if (n_fds < CONTROL_MAX_FDS)
                fds[n_fds++] = fd;
            else
                close(fd);
        }
    }
    c->last_active_ns = now_ns;
    if (n == 1 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (request[0] == 'W' && n_fds == 1)
            ok = watch_add(cs, fds[0]);
        else if ((request[0] == 'P' || request[0] == 'Q') && n_fds == 0)
            ok = true;
    }
    if (ok && send(c->fd, "K", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1)
        return request[0] == 'Q'; /* the caller sees EOF when we exit */
    /* EOF, an error, an unknown request, or a refused one: close, and every fd with it. */
    if (!(ok && request[0] == 'W'))
        for (size_t k = 0; k < n_fds; k++)
            close(fds[k]);
    conn_close(cs, c);
    return false;
}

void dj_ctlserve_expire(struct dj_ctlserve *cs, uint64_t now_ns, uint64_t idle_ns)
{
    for (size_t i = 0; i < DJ_CTLSERVE_MAX_CONNS && cs->n_conns > 0; i++)
        if (cs->conns[i].fd >= 0 && now_ns - cs->conns[i].last_active_ns >= idle_ns)
            conn_close(cs, &cs->conns[i]);
}
