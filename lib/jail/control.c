#include "config.h"
#include "jail/control.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"

static int fill_address(struct sockaddr_un *sun, const char *path, dj_error_t *err)
{
    memset(sun, 0, sizeof(*sun));
    sun->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun->sun_path))
        return dj_error_make(err, 0,
                             "control socket path too long: %s (choose a shorter state-dir)", path);
    strcpy(sun->sun_path, path);
    return 0;
}

int dj_control_listen(const char *path, dj_error_t *err)
{
    cleanup_close int fd = -1;
    struct sockaddr_un sun;
    mode_t old_mask;
    int r;

    if (fill_address(&sun, path, err) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dj_error_make(err, errno, "control socket");
    unlink(path);
    old_mask = umask(0177); /* 0600: only the owner (the hook, the CLI as root) connects */
    r = bind(fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old_mask);
    if (r < 0)
        return dj_error_make(err, errno, "bind %s", path);
    if (listen(fd, 16) < 0)
        return dj_error_make(err, errno, "listen %s", path);
    return steal_fd(&fd);
}

static int wait_readable(int fd, unsigned timeout_ms)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    int r;

    do
        r = poll(&pfd, 1, (int)timeout_ms);
    while (r < 0 && errno == EINTR);
    return r;
}

/* Sends one request (with an optional fd) and waits for "K". Returns the connected fd. */
static int request(const char *path, char op, int pass_fd, unsigned timeout_ms, dj_error_t *err)
{
    cleanup_close int fd = -1;
    struct sockaddr_un sun;
    struct msghdr msg;
    struct iovec iov = {&op, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    char reply = 0;
    ssize_t n;

    if (fill_address(&sun, path, err) < 0)
        return -1;
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dj_error_make(err, errno, "control socket");
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
        return dj_error_make(err, errno, "connect %s", path);
    memset(&msg, 0, sizeof(msg));
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (pass_fd >= 0) {
        struct cmsghdr *cmsg;

        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof(control.buf);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cmsg), &pass_fd, sizeof(int));
    }
    if (sendmsg(fd, &msg, MSG_NOSIGNAL) != 1)
        return dj_error_make(err, errno, "send to %s", path);
    if (wait_readable(fd, timeout_ms) <= 0)
        return dj_error_make(err, 0, "no answer from the daemon at %s", path);
    n = recv(fd, &reply, 1, 0);
    if (n != 1 || reply != 'K')
        return dj_error_make(err, 0, "the daemon at %s refused '%c'", path, op);
    return steal_fd(&fd);
}

int dj_control_ping(const char *path, unsigned timeout_ms, dj_error_t *err)
{
    int fd = request(path, 'P', -1, timeout_ms, err);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int dj_control_watch(const char *path, int pidfd, unsigned timeout_ms, dj_error_t *err)
{
    int fd = request(path, 'W', pidfd, timeout_ms, err);

    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

int dj_control_quit(const char *path, unsigned timeout_ms, dj_error_t *err)
{
    cleanup_close int fd = request(path, 'Q', -1, timeout_ms, err);
    char byte;

    if (fd < 0)
        return -1;
    /* EOF arrives when the daemon has closed its end, which it does by exiting. */
    for (;;) {
        ssize_t n;

        if (wait_readable(fd, timeout_ms) <= 0)
            return dj_error_make(err, 0, "the daemon at %s did not exit", path);
        n = recv(fd, &byte, 1, 0);
        if (n == 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return 0; /* ECONNRESET and friends also mean it is gone */
    }
}
