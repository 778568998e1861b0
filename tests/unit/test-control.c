/* test-control: the control socket between the hook (lib/jail/control) and the daemons
 * (lib/daemon/ctlserve), on a real AF_UNIX socket in a temporary directory. The daemon's side is
 * driven by hand from the test (accept, serve, expire with made-up clocks), so what a request
 * did is known when the call returns; the hook's blocking calls run against a thread that
 * serves the way the daemons' event loops do. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail/control.h"
#include "daemon/ctlserve.h"

#define CONN_TAG (UINT64_C(1) << 32)
#define WATCH_TAG (UINT64_C(2) << 32)
#define LISTEN_TAG (UINT64_C(3) << 32)
#define GUARD_MS 5000 /* only reached when a test fails */
#define IDLE_NS UINT64_C(10000000000)

struct fixture {
    char dir[64];
    char path[128];
    int listen_fd, epoll_fd;
    struct dj_ctlserve cs;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    dj_error_t err = NULL;

    if (f == NULL)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/dj-control-XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/control", f->dir);
    f->listen_fd = dj_control_listen(f->path, &err);
    f->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (f->listen_fd < 0 || f->epoll_fd < 0 || fcntl(f->listen_fd, F_SETFL, O_NONBLOCK) < 0) {
        fprintf(stderr, "setup: %s\n", dj_error_msg(&err));
        dj_error_release(&err);
        return -1;
    }
    dj_ctlserve_init(&f->cs, f->epoll_fd, CONN_TAG, WATCH_TAG);
    if (dj_ctlserve_start(&f->cs, f->listen_fd, LISTEN_TAG, NULL, 0, &err) < 0) {
        dj_error_release(&err);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    for (size_t i = 0; i < DJ_CTLSERVE_MAX_CONNS; i++)
        if (f->cs.conns[i].fd >= 0)
            close(f->cs.conns[i].fd);
    for (size_t i = 0; i < DJ_CTLSERVE_MAX_WATCHED; i++)
        if (f->cs.watch_fds[i] >= 0)
            close(f->cs.watch_fds[i]);
    if (f->listen_fd >= 0)
        close(f->listen_fd);
    close(f->epoll_fd);
    unlink(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static int client(const struct fixture *f)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    strcpy(sun.sun_path, f->path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

static void send_request(int fd, const void *data, size_t len, const int *fds, size_t n_fds)
{
    union {
        char buf[CMSG_SPACE(8 * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {(void *)data, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};

    assert_true(n_fds <= 8);
    if (n_fds > 0) {
        struct cmsghdr *cm;

        memset(&control, 0, sizeof(control));
        msg.msg_control = control.buf;
        msg.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
        cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, n_fds * sizeof(int));
    }
    assert_int_equal(sendmsg(fd, &msg, MSG_NOSIGNAL), (ssize_t)len);
}

/* The next epoll event's tag, after waiting for one. */
static uint64_t next_event(const struct fixture *f)
{
    struct epoll_event ev;

    assert_int_equal(epoll_wait(f->epoll_fd, &ev, 1, GUARD_MS), 1);
    return ev.data.u64;
}

/* Accepts one waiting connection and returns its slot, checked against its epoll tag once
 * its request arrives (the caller sends it). */
static size_t accept_one(struct fixture *f, uint64_t now_ns)
{
    size_t before = f->cs.n_conns;

    assert_int_equal(next_event(f), LISTEN_TAG);
    dj_ctlserve_accept(&f->cs, now_ns);
    assert_int_equal(f->cs.n_conns, before + 1);
    for (size_t i = 0; i < DJ_CTLSERVE_MAX_CONNS; i++)
        if (f->cs.conns[i].fd >= 0 && f->cs.conns[i].last_active_ns == now_ns)
            return i;
    fail();
    return 0;
}

/* What the client reads: 'K', or 0 at EOF. */
static int reply(int fd)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    char byte = 0;
    ssize_t n;

    assert_int_equal(poll(&pfd, 1, GUARD_MS), 1);
    n = recv(fd, &byte, 1, MSG_DONTWAIT);
    assert_true(n >= 0);
    return n == 0 ? 0 : byte;
}

static bool readable_now(int fd)
{
    struct pollfd pfd = {fd, POLLIN, 0};

    return poll(&pfd, 1, 0) == 1;
}

static int pidfd_open_child(pid_t pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);

    assert_true(fd >= 0);
    return fd;
}

/* A child that lives until its pipe closes; *release is the pipe's write end. */
static pid_t waiting_child(int *release)
{
    int p[2];
    pid_t pid;

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char byte;

        /* Other children's release ends, inherited by fork, would keep them alive. */
        for (int fd = 3; fd < 1024; fd++)
            if (fd != p[0])
                close(fd);
        _exit(read(p[0], &byte, 1) == 0 ? 0 : 1);
    }
    close(p[0]);
    *release = p[1];
    return pid;
}

static void test_listen_socket(void **state)
{
    struct fixture *f = *state;
    char path[128], long_path[200];
    struct stat st;
    dj_error_t err = NULL;
    int fd;

    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);

    /* What is at the path is replaced (a stale socket of a dead daemon, or anything). */
    snprintf(path, sizeof(path), "%s/stale", f->dir);
    fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    fd = dj_control_listen(path, &err);
    assert_true(fd >= 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    close(fd);
    unlink(path);

    memset(long_path, 'a', sizeof(long_path) - 1);
    long_path[0] = '/';
    long_path[sizeof(long_path) - 1] = '\0';
    assert_int_equal(dj_control_listen(long_path, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "control socket path too long: /aaa"));
    assert_non_null(strstr(dj_error_msg(&err), "(choose a shorter state-dir)"));
    dj_error_release(&err);
    assert_int_equal(dj_control_ping(long_path, 100, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "control socket path too long"));
    dj_error_release(&err);

    assert_int_equal(dj_control_listen("/nonexistent-dj-dir/control", &err), -1);
    assert_string_equal(dj_error_msg(&err),
                        "bind /nonexistent-dj-dir/control: No such file or directory");
    dj_error_release(&err);
}

/* "P" is answered "K" and the connection stays usable; "Q" is answered and asks to quit. */
static void test_ping_and_quit(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    size_t slot = accept_one(f, 1000);

    send_request(fd, "P", 1, NULL, 0);
    assert_int_equal(next_event(f), CONN_TAG | slot);
    assert_false(dj_ctlserve_serve(&f->cs, slot, 2000));
    assert_int_equal(reply(fd), 'K');
    assert_int_equal(f->cs.conns[slot].last_active_ns, 2000);

    send_request(fd, "P", 1, NULL, 0);
    assert_false(dj_ctlserve_serve(&f->cs, slot, 3000));
    assert_int_equal(reply(fd), 'K');
    assert_int_equal(f->cs.n_conns, 1);

    /* Nothing waiting: nothing happens, the connection stays. */
    assert_false(dj_ctlserve_serve(&f->cs, slot, 4000));
    assert_int_equal(f->cs.n_conns, 1);
    assert_false(readable_now(fd));

    send_request(fd, "Q", 1, NULL, 0);
    assert_true(dj_ctlserve_serve(&f->cs, slot, 5000));
    assert_int_equal(reply(fd), 'K');
    close(fd);

    /* Slots that hold nothing are ignored. */
    assert_false(dj_ctlserve_serve(&f->cs, slot + 1, 0));
    assert_false(dj_ctlserve_serve(&f->cs, DJ_CTLSERVE_MAX_CONNS, 0));
}

/* "W" + pidfd: watched until the process exits; the last exit says "quit". */
static void test_watch(void **state)
{
    struct fixture *f = *state;
    int fd = client(f), release[2], pidfd[2], status;
    size_t slot = accept_one(f, 1);
    pid_t child[2];
    uint64_t tag;

    for (int i = 0; i < 2; i++) {
        child[i] = waiting_child(&release[i]);
        pidfd[i] = pidfd_open_child(child[i]);
        send_request(fd, "W", 1, &pidfd[i], 1);
        assert_false(dj_ctlserve_serve(&f->cs, slot, 2));
        assert_int_equal(reply(fd), 'K');
        close(pidfd[i]); /* the daemon holds its own */
        assert_int_equal(f->cs.n_watch, (size_t)i + 1);
        assert_true(f->cs.watch_fds[i] >= 0);
    }

    close(release[0]);
    tag = next_event(f);
    assert_int_equal(tag, WATCH_TAG | 0);
    assert_false(dj_ctlserve_watch_exited(&f->cs, 0));
    assert_int_equal(f->cs.n_watch, 1);
    assert_int_equal(f->cs.watch_fds[0], -1);
    /* A second event for the same slot in one wake-up: already dropped. */
    assert_false(dj_ctlserve_watch_exited(&f->cs, 0));
    assert_false(dj_ctlserve_watch_exited(&f->cs, DJ_CTLSERVE_MAX_WATCHED));
    assert_int_equal(f->cs.n_watch, 1);

    close(release[1]);
    assert_int_equal(next_event(f), WATCH_TAG | 1);
    assert_true(dj_ctlserve_watch_exited(&f->cs, 1));
    assert_int_equal(f->cs.n_watch, 0);

    /* A freed slot is reused. */
    {
        int r, p;
        pid_t c = waiting_child(&r);

        p = pidfd_open_child(c);
        send_request(fd, "W", 1, &p, 1);
        assert_false(dj_ctlserve_serve(&f->cs, slot, 3));
        assert_int_equal(reply(fd), 'K');
        close(p);
        assert_true(f->cs.watch_fds[0] >= 0);
        close(r);
        assert_int_equal(next_event(f), WATCH_TAG | 0);
        assert_true(dj_ctlserve_watch_exited(&f->cs, 0));
        assert_int_equal(waitpid(c, &status, 0), c);
    }
    for (int i = 0; i < 2; i++)
        assert_int_equal(waitpid(child[i], &status, 0), child[i]);
    close(fd);
}

/* Requests the daemon does not understand, or carrying what they should not: no reply, the
 * connection closed, and every descriptor that came with them closed too (the pipe whose
 * write end we sent reaches EOF only when no copy is left anywhere). */
static void test_refusals(void **state)
{
    static const char big[100] = "P";
    static const struct {
        const char *what;
        const char *data;
        size_t len;
        size_t n_fds;
        bool regular_file; /* the fd is a regular file instead of the pipe */
    } cases[] = {
        {"empty datagram", "", 0, 0, false},
        {"unknown request", "X", 1, 0, false},
        {"two bytes", "PP", 2, 0, false},
        {"oversized", big, sizeof(big), 0, false},
        {"ping with an fd", "P", 1, 1, false},
        {"quit with an fd", "Q", 1, 1, false},
        {"watch without an fd", "W", 1, 0, false},
        {"watch with two fds", "W", 1, 2, false},
        {"watch with more fds than the daemon takes", "W", 1, 6, false},
        {"watch of something epoll cannot watch", "W", 1, 1, true},
        {"watch with a second byte", "WX", 2, 1, false},
    };
    struct fixture *f = *state;
    char file[128];
    int p[2], file_fd;

    snprintf(file, sizeof(file), "%s/file", f->dir);
    file_fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(file_fd >= 0);
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int fd = client(f), fds[8];
        size_t slot = accept_one(f, 7);

        for (size_t k = 0; k < cases[i].n_fds; k++)
            fds[k] = cases[i].regular_file ? file_fd : p[1];
        send_request(fd, cases[i].data, cases[i].len, fds, cases[i].n_fds);
        assert_int_equal(next_event(f), CONN_TAG | slot);
        assert_false(dj_ctlserve_serve(&f->cs, slot, 8));
        if (f->cs.n_conns != 0)
            fail_msg("%s: connection kept", cases[i].what);
        assert_int_equal(f->cs.conns[slot].fd, -1);
        if (reply(fd) != 0)
            fail_msg("%s: answered", cases[i].what);
        assert_int_equal(f->cs.n_watch, 0);
        close(fd);
    }
    close(p[1]);
    {
        char byte;
        struct pollfd pfd = {p[0], POLLIN, 0};

        assert_int_equal(poll(&pfd, 1, GUARD_MS), 1);
        assert_int_equal(read(p[0], &byte, 1), 0);
    }
    close(p[0]);
    close(file_fd);
    unlink(file);
}

/* A peer that hangs up: before its request, or before reading the reply. */
static void test_hangups(void **state)
{
    struct fixture *f = *state;
    int fd = client(f);
    size_t slot = accept_one(f, 1);

    close(fd);
    assert_int_equal(next_event(f), CONN_TAG | slot);
    assert_false(dj_ctlserve_serve(&f->cs, slot, 2));
    assert_int_equal(f->cs.n_conns, 0);

    fd = client(f);
    slot = accept_one(f, 3);
    send_request(fd, "P", 1, NULL, 0);
    close(fd);
    /* The reply cannot be sent (EPIPE, and no SIGPIPE: it would kill this process). */
    assert_false(dj_ctlserve_serve(&f->cs, slot, 4));
    assert_int_equal(f->cs.n_conns, 0);
}

/* At most DJ_CTLSERVE_MAX_CONNS connections: the next one is closed at once. */
static void test_connection_limit(void **state)
{
    struct fixture *f = *state;
    int fds[DJ_CTLSERVE_MAX_CONNS + 1];
    int closed = -1;

    /* One at a time: the listen backlog is smaller than the table. */
    for (size_t i = 0; i <= DJ_CTLSERVE_MAX_CONNS; i++) {
        fds[i] = client(f);
        dj_ctlserve_accept(&f->cs, 1);
    }
    assert_int_equal(f->cs.n_conns, DJ_CTLSERVE_MAX_CONNS);
    for (int i = 0; i <= DJ_CTLSERVE_MAX_CONNS; i++) {
        if (readable_now(fds[i])) {
            assert_int_equal(closed, -1);
            closed = i;
        }
    }
    assert_int_equal(closed, DJ_CTLSERVE_MAX_CONNS); /* accepted in order: the last one */
    assert_int_equal(reply(fds[closed]), 0);
    /* The others are served. */
    send_request(fds[0], "P", 1, NULL, 0);
    assert_false(dj_ctlserve_serve(&f->cs, 0, 2));
    assert_int_equal(reply(fds[0]), 'K');
    for (int i = 0; i <= DJ_CTLSERVE_MAX_CONNS; i++)
        close(fds[i]);
}

/* Idle connections are closed once silent for the idle time, counted from their last
 * request. */
static void test_expire(void **state)
{
    struct fixture *f = *state;
    int a = client(f);
    size_t slot_a = accept_one(f, 1000);
    int b = client(f);
    size_t slot_b = accept_one(f, 2000);

    send_request(b, "P", 1, NULL, 0);
    assert_false(dj_ctlserve_serve(&f->cs, slot_b, 5000));
    assert_int_equal(reply(b), 'K');

    dj_ctlserve_expire(&f->cs, 1000 + IDLE_NS - 1, IDLE_NS);
    assert_int_equal(f->cs.n_conns, 2);
    assert_false(readable_now(a));
    dj_ctlserve_expire(&f->cs, 1000 + IDLE_NS, IDLE_NS);
    assert_int_equal(f->cs.n_conns, 1);
    assert_int_equal(f->cs.conns[slot_a].fd, -1);
    assert_int_equal(reply(a), 0);
    assert_false(readable_now(b));
    dj_ctlserve_expire(&f->cs, 5000 + IDLE_NS, IDLE_NS);
    assert_int_equal(f->cs.n_conns, 0);
    assert_int_equal(reply(b), 0);
    close(a);
    close(b);
}

/* The pidfds given on the command line: a descriptor epoll cannot watch is refused. */
static void test_start_watch_fds(void **state)
{
    struct fixture *f = *state;
    struct dj_ctlserve *cs = malloc(sizeof(*cs));
    char file[128], want[160];
    dj_error_t err = NULL;
    int fds[2], release, status;
    pid_t child;

    assert_non_null(cs);
    snprintf(file, sizeof(file), "%s/file", f->dir);
    fds[1] = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    assert_true(fds[1] >= 0);
    child = waiting_child(&release);
    fds[0] = pidfd_open_child(child);
    dj_ctlserve_init(cs, f->epoll_fd, CONN_TAG, WATCH_TAG);
    assert_int_equal(dj_ctlserve_start(cs, -1, 0, fds, 2, &err), -1);
    snprintf(want, sizeof(want),
             "--watch-pidfd %d is not a pidfd: epoll_ctl(ADD, fd %d): Operation not permitted",
             fds[1], fds[1]);
    assert_string_equal(dj_error_msg(&err), want);
    dj_error_release(&err);
    assert_int_equal(cs->n_watch, 1);
    assert_int_equal(cs->watch_fds[0], fds[0]);
    assert_int_equal(cs->listen_fd, -1);
    close(release);
    assert_int_equal(next_event(f), WATCH_TAG | 0);
    assert_true(dj_ctlserve_watch_exited(cs, 0));
    assert_int_equal(waitpid(child, &status, 0), child);
    close(fds[1]);
    unlink(file);
    free(cs);
}

/* The daemon's event loop, as far as the control socket goes, in a thread. */
struct server {
    struct fixture *f;
    bool quit;
    size_t watched_at_quit;
};

static void *serve_loop(void *arg)
{
    struct server *s = arg;
    struct dj_ctlserve *cs = &s->f->cs;

    for (;;) {
        struct epoll_event ev;

        if (epoll_wait(s->f->epoll_fd, &ev, 1, GUARD_MS) != 1)
            return NULL;
        if (ev.data.u64 == LISTEN_TAG) {
            dj_ctlserve_accept(cs, 1);
        } else if ((ev.data.u64 & ~UINT64_C(0xffffffff)) == CONN_TAG) {
            if (dj_ctlserve_serve(cs, (size_t)(uint32_t)ev.data.u64, 2)) {
                /* Exiting closes everything; the thread does it by hand. */
                s->quit = true;
                s->watched_at_quit = cs->n_watch;
                for (size_t i = 0; i < DJ_CTLSERVE_MAX_CONNS; i++)
                    if (cs->conns[i].fd >= 0) {
                        close(cs->conns[i].fd);
                        cs->conns[i].fd = -1;
                    }
                cs->n_conns = 0;
                return NULL;
            }
        } else if ((ev.data.u64 & ~UINT64_C(0xffffffff)) == WATCH_TAG) {
            dj_ctlserve_watch_exited(cs, (size_t)(uint32_t)ev.data.u64);
        }
    }
}

static void test_client_calls(void **state)
{
    struct fixture *f = *state;
    struct server s = {.f = f};
    dj_error_t err = NULL;
    pthread_t thread;
    int release, pidfd, status;
    pid_t child = waiting_child(&release);

    pidfd = pidfd_open_child(child);
    assert_int_equal(pthread_create(&thread, NULL, serve_loop, &s), 0);
    assert_int_equal(dj_control_ping(f->path, GUARD_MS, &err), 0);
    assert_int_equal(dj_control_watch(f->path, pidfd, GUARD_MS, &err), 0);
    close(pidfd);
    assert_int_equal(dj_control_ping(f->path, GUARD_MS, &err), 0);
    /* Returns once the daemon has gone (here: closed its connections). */
    assert_int_equal(dj_control_quit(f->path, GUARD_MS, &err), 0);
    assert_int_equal(pthread_join(thread, NULL), 0);
    assert_null(err);
    assert_true(s.quit);
    assert_int_equal(s.watched_at_quit, 1);
    close(release);
    assert_int_equal(waitpid(child, &status, 0), child);
}

/* Daemons that misbehave, played by a thread: silent, closing without an answer, answering
 * something else, or answering "Q" and then not going away. */
enum fake_mode { FAKE_CLOSE, FAKE_WRONG_ANSWER, FAKE_STAY };

struct fake {
    int listen_fd;
    enum fake_mode mode;
    int release; /* FAKE_STAY: closes once this is readable */
};

static void *fake_daemon(void *arg)
{
    struct fake *fk = arg;
    struct pollfd pfd = {fk->listen_fd, POLLIN, 0};
    char request[16], byte;
    int fd;

    if (poll(&pfd, 1, GUARD_MS) != 1)
        return NULL;
    fd = accept4(fk->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (recv(fd, request, sizeof(request), 0) == 1) {
        if (fk->mode == FAKE_WRONG_ANSWER)
            send(fd, "X", 1, MSG_NOSIGNAL);
        if (fk->mode == FAKE_STAY) {
            send(fd, "K", 1, MSG_NOSIGNAL);
            pfd.fd = fk->release;
            poll(&pfd, 1, GUARD_MS);
            (void)!read(fk->release, &byte, 1);
        }
    }
    close(fd);
    return NULL;
}

static void run_against_fake(struct fixture *f, enum fake_mode mode, char op, unsigned timeout_ms,
                             const char *expected_before_path, const char *expected_after_path)
{
    struct fake fk = {.listen_fd = f->listen_fd, .mode = mode, .release = -1};
    char want[256];
    dj_error_t err = NULL;
    pthread_t thread;
    int p[2] = {-1, -1};
    int r;

    if (mode == FAKE_STAY) {
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        fk.release = p[0];
    }
    assert_int_equal(pthread_create(&thread, NULL, fake_daemon, &fk), 0);
    r = op == 'Q' ? dj_control_quit(f->path, timeout_ms, &err)
                  : dj_control_ping(f->path, timeout_ms, &err);
    if (p[1] >= 0)
        assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    if (p[0] >= 0) {
        close(p[0]);
        close(p[1]);
    }
    assert_int_equal(r, -1);
    snprintf(want, sizeof(want), "%s%s%s", expected_before_path, f->path, expected_after_path);
    assert_string_equal(dj_error_msg(&err), want);
    dj_error_release(&err);
}

static void test_client_failures(void **state)
{
    struct fixture *f = *state;
    char path[128], want[200];
    dj_error_t err = NULL;

    /* Nobody listening at the path. */
    snprintf(path, sizeof(path), "%s/none", f->dir);
    assert_int_equal(dj_control_ping(path, 100, &err), -1);
    snprintf(want, sizeof(want), "connect %s: No such file or directory", path);
    assert_string_equal(dj_error_msg(&err), want);
    dj_error_release(&err);

    /* A socket nobody serves: the request is queued, the answer never comes. */
    assert_int_equal(dj_control_ping(f->path, 100, &err), -1);
    snprintf(want, sizeof(want), "no answer from the daemon at %s", f->path);
    assert_string_equal(dj_error_msg(&err), want);
    dj_error_release(&err);
    {
        int fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);

        assert_true(fd >= 0);
        close(fd);
    }

    run_against_fake(f, FAKE_CLOSE, 'P', GUARD_MS, "the daemon at ", " refused 'P'");
    run_against_fake(f, FAKE_WRONG_ANSWER, 'P', GUARD_MS, "the daemon at ", " refused 'P'");
    run_against_fake(f, FAKE_STAY, 'Q', 100, "the daemon at ", " did not exit");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_listen_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping_and_quit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hangups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expire, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_watch_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_failures, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
