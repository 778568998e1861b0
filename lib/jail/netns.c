#include "config.h"
#include "jail/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"

static int fill_identity(struct dj_netns *ns, int fd, const char *what, dj_error_t *err)
{
    struct stat st;

    if (fstat(fd, &st) < 0) {
        close(fd);
        return dj_error_make(err, errno, "stat %s", what);
    }
    ns->fd = fd;
    ns->dev = st.st_dev;
    ns->ino = st.st_ino;
    return 0;
}

int dj_netns_open_pid(pid_t pid, struct dj_netns *ns, int *pidfd_out, dj_error_t *err)
{
    cleanup_close int pidfd = -1;
    char path[64];
    int fd;

    if (pid <= 0)
        return dj_error_make(err, 0, "the runtime passed no container pid");
    pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) {
        if (errno == ESRCH)
            return dj_error_make(err, 0, "container process %d is gone", (int)pid);
        return dj_error_make(err, errno, "pidfd_open(%d)", (int)pid);
    }
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dj_error_make(err, errno, "open %s", path);
    /* The pidfd pins the identity: if the process is still alive now, the namespace we just
     * opened is its own and not that of a process that reused the pid. */
    if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0) {
        close(fd);
        return dj_error_make(err, 0, "container process %d exited during setup", (int)pid);
    }
    if (fill_identity(ns, fd, path, err) < 0)
        return -1;
    if (pidfd_out != NULL)
        *pidfd_out = steal_fd(&pidfd);
    return 0;
}

int dj_netns_open_path(const char *path, struct dj_netns *ns, dj_error_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return dj_error_make(err, errno, "open network namespace %s", path);
    return fill_identity(ns, fd, path, err);
}

int dj_netns_open_self(struct dj_netns *ns, dj_error_t *err)
{
    return dj_netns_open_path("/proc/thread-self/ns/net", ns, err);
}

bool dj_netns_same(const struct dj_netns *a, const struct dj_netns *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

void dj_netns_close(struct dj_netns *ns)
{
    if (ns->fd >= 0)
        close(ns->fd);
    ns->fd = -1;
}

int dj_netns_enter(const struct dj_netns *ns, dj_error_t *err)
{
    if (setns(ns->fd, CLONE_NEWNET) < 0)
        return dj_error_make(err, errno, "setns into network namespace");
    return 0;
}

int dj_netns_loopback_up(dj_error_t *err)
{
    char buf[8192]; /* MNL_SOCKET_BUFFER_SIZE is a VLA; an ACK needs far less */
    struct mnl_socket *nl;
    struct nlmsghdr *nlh;
    struct ifinfomsg *ifm;
    unsigned int seq = (unsigned int)time(NULL), portid;
    unsigned int index = if_nametoindex("lo");
    ssize_t n;
    int r = 0;

    if (index == 0)
        return dj_error_make(err, errno, "no loopback interface in the container's namespace");
    nl = mnl_socket_open(NETLINK_ROUTE);
    if (nl == NULL)
        return dj_error_make(err, errno, "open rtnetlink socket");
    if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        r = dj_error_make(err, errno, "bind rtnetlink socket");
        goto out;
    }
    portid = mnl_socket_get_portid(nl);
    nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = RTM_NEWLINK;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    nlh->nlmsg_seq = seq;
    ifm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifm));
    ifm->ifi_family = AF_UNSPEC;
    ifm->ifi_index = (int)index;
    ifm->ifi_flags = IFF_UP;
    ifm->ifi_change = IFF_UP;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        r = dj_error_make(err, errno, "send RTM_NEWLINK");
        goto out;
    }
    n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
    if (n < 0 || mnl_cb_run(buf, (size_t)n, seq, portid, NULL, NULL) < 0)
        r = dj_error_make(err, errno, "bring loopback up");
out:
    mnl_socket_close(nl);
    return r;
}

int dj_netns_bind_loopback(int family, int type, uint16_t port, dj_error_t *err)
{
    cleanup_close int fd = -1;
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1;
    const char *proto = type == SOCK_STREAM ? "tcp" : "udp";
    const char *addr = family == AF_INET6 ? "[::1]" : "127.0.0.1";

    memset(&ss, 0, sizeof(ss));
    if (family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_addr = in6addr_loopback;
        sin6->sin6_port = htons(port);
        len = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin->sin_port = htons(port);
        len = sizeof(*sin);
    }
    fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dj_error_make(err, errno, "socket %s %s", proto, addr);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return dj_error_make(err, errno, "SO_REUSEADDR");
    if (family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        return dj_error_make(err, errno, "IPV6_V6ONLY");
    if (bind(fd, (struct sockaddr *)&ss, len) < 0)
        return dj_error_make(err, errno, "bind %s %s:%u in the container's namespace", proto, addr,
                             port);
    if (type == SOCK_STREAM && listen(fd, 512) < 0)
        return dj_error_make(err, errno, "listen %s:%u", addr, port);
    return steal_fd(&fd);
}
