#include "config.h"
#include "daemon/spare.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"
#include "daemon/sandbox.h"

/* How long a hook may take between its connect and its command before the spare goes back to
 * waiting: a hook killed there must not keep the pool's one spare. */
#define COMMAND_TIMEOUT_S 5
/* How often an idle spare looks whether its pool's socket is still there. */
#define PATH_CHECK_S 5

struct spare {
    const char *program;
    int listen_fd;
    int ready_fd; /* the spawn's pipe: "R" once waiting, for whoever still reads it */
    uid_t owner;
    struct dj_sparemsg_hello hello;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* where the pool's socket is */
    dev_t path_dev;
    ino_t path_ino;
};

static void __attribute__((noreturn)) spare_die(const char *program, const char *what)
{
    fprintf(stderr, "%s: spare: %s\n", program, what);
    exit(1);
}

bool dj_spare_requested(int argc, char **argv)
{
    return argc > 1 && strcmp(argv[1], "--spare-fd") == 0;
}

/* "--spare-fd N --spare-owner UID --spare-pool DIR --ready-fd FD", then only the empty room. */
static void parse_spare_args(struct spare *s, int argc, char **argv)
{
    unsigned long value;

    if (argc < 9 || strcmp(argv[1], "--spare-fd") != 0 || strcmp(argv[3], "--spare-owner") != 0 ||
        strcmp(argv[5], "--spare-pool") != 0 || strcmp(argv[7], "--ready-fd") != 0)
        spare_die(s->program,
                  "usage: --spare-fd N --spare-owner UID --spare-pool DIR --ready-fd FD");
    if (dj_daemon_parse_uint(argv[2], INT_MAX, &value) < 0 || value < 3)
        spare_die(s->program, "--spare-fd: not a descriptor");
    s->listen_fd = (int)value;
    if (dj_daemon_parse_uint(argv[4], UINT_MAX - 1, &value) < 0)
        spare_die(s->program, "--spare-owner: not a uid");
    s->owner = (uid_t)value;
    if (dj_daemon_parse_fd("--ready-fd", argv[8], &s->ready_fd, NULL) < 0)
        spare_die(s->program, "--ready-fd: not an open descriptor");
    for (int i = 9; i < argc; i++)
        if (argv[i][0] != '\0')
            spare_die(s->program, "unexpected argument");
}

/* What the hook compares with what it would start: the program, its file, the descriptor
 * limit. */
static void fill_hello(struct spare *s)
{
    struct rlimit limit;
    struct stat st;

    if (stat("/proc/self/exe", &st) < 0 || getrlimit(RLIMIT_NOFILE, &limit) < 0)
        spare_die(s->program, "cannot read its own executable or descriptor limit");
    snprintf(s->hello.program, sizeof(s->hello.program), "%s", s->program);
    s->hello.exe_dev = (uint64_t)st.st_dev;
    s->hello.exe_ino = (uint64_t)st.st_ino;
    s->hello.uid = (uint64_t)geteuid();
    s->hello.gid = (uint64_t)getegid();
    s->hello.nofile = (uint64_t)limit.rlim_cur;
}

static void enter_spare_sandbox(struct spare *s, enum dj_seccomp_profile profile)
{
    dj_error_t err = NULL;
    int type = 0, listening = 0;
    socklen_t len = sizeof(type);

    if (getsockopt(s->listen_fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_SEQPACKET ||
        (len = sizeof(listening),
         getsockopt(s->listen_fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) ||
        !listening)
        spare_die(s->program, "--spare-fd is not a listening SEQPACKET socket");
    if (dj_sandbox_enter(NULL, profile, &err) < 0)
        spare_die(s->program, dj_error_msg(&err));
}

/* The pool's socket file as it was when we started: a spare whose socket was removed or replaced
 * (a new pool) can never be reached again, and exits rather than wait forever. */
static void note_socket_path(struct spare *s)
{
    struct sockaddr_un addr;
    socklen_t len = sizeof(addr);
    struct stat st;

    memset(&addr, 0, sizeof(addr));
    if (getsockname(s->listen_fd, (struct sockaddr *)&addr, &len) < 0 ||
        addr.sun_family != AF_UNIX || addr.sun_path[0] == '\0' ||
        len <= offsetof(struct sockaddr_un, sun_path))
        spare_die(s->program, "--spare-fd is not bound to a path");
    memcpy(s->path, addr.sun_path, sizeof(s->path) - 1);
    if (stat(s->path, &st) < 0)
        spare_die(s->program, "the pool's socket is gone");
    s->path_dev = st.st_dev;
    s->path_ino = st.st_ino;
}

static bool socket_path_still_ours(const struct spare *s)
{
    struct stat st;

    return stat(s->path, &st) == 0 && st.st_dev == s->path_dev && st.st_ino == s->path_ino;
}

/* A connection from anyone but the pool's owner is closed unanswered: the daemons of other
 * jails run as the same user as the spares. */
static bool peer_is_owner(const struct spare *s, int conn)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);

    return getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.uid == s->owner;
}

/* One command: its text in BUF (NUL-terminated), its descriptors in FDS. */
static ssize_t receive_command(int conn, char *buf, size_t size, int *fds, size_t *n_fds)
{
    union {
        char space[CMSG_SPACE(sizeof(int) * DJ_SPAREMSG_MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {buf, size - 1};
    struct msghdr msg = {0};
    ssize_t n;

    *n_fds = 0;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.space;
    msg.msg_controllen = sizeof(control.space);
    do
        n = recvmsg(conn, &msg, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        size_t count;

        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count && *n_fds < DJ_SPAREMSG_MAX_FDS; i++)
            memcpy(&fds[(*n_fds)++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
    }
    /* Cut short: a command we did not read whole is refused. */
    if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
        return -1;
    buf[n] = '\0';
    return n;
}

static void close_all(const int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* The ready pipe's place in FDS, or NULL (the parser makes sure there is one). */
static int *ready_fd(const struct dj_sparemsg_assign *a, int *fds)
{
    for (size_t i = 0; i < a->n_fds; i++)
        if (strcmp(a->fds[i].option, "--ready-fd") == 0)
            return &fds[a->fds[i].index];
    return NULL;
}

/* Tells the hook its jail has a daemon: DAEMON's pid, then "R", on the ready pipe. The hook
 * goes on with the container at once: the listeners it handed over are bound and in the
 * table, so traffic waits in them while the daemon sets up (or is refused, should it die),
 * and that set-up runs beside the runtime's instead of before it. Nothing to do if the hook
 * is gone. */
static void acknowledge(const struct dj_sparemsg_assign *a, int *fds, pid_t daemon)
{
    int *ready = ready_fd(a, fds);
    char answer[sizeof(daemon) + 1];

    /* One write, below PIPE_BUF: the hook reads the pid and "R" whole. */
    memcpy(answer, &daemon, sizeof(daemon));
    answer[sizeof(daemon)] = 'R';
    if (ready != NULL && write(*ready, answer, sizeof(answer)) < 0) {
        /* the hook is gone */
    }
}

/* The assigned daemon's command line, with the received descriptors' numbers. */
static char **assigned_argv(const char *argv0, const struct dj_sparemsg_assign *a, const int *fds,
                            int *argc, char numbers[][12])
{
    char **argv = calloc(4 + 2 * a->n_fds, sizeof(*argv));
    int n = 0;

    if (argv == NULL)
        return NULL;
    argv[n++] = (char *)argv0;
    argv[n++] = (char *)"--container-id";
    argv[n++] = (char *)a->container_id;
    for (size_t i = 0; i < a->n_fds; i++) {
        if (fds[a->fds[i].index] < 0)
            continue; /* the ready pipe, answered and closed (acknowledge) */
        snprintf(numbers[i], 12, "%d", fds[a->fds[i].index]);
        argv[n++] = (char *)a->fds[i].option;
        argv[n++] = numbers[i];
    }
    argv[n] = NULL;
    *argc = n;
    return argv;
}

/* Writes NEW (N arguments) over the spare's own arguments, where ps and /proc/PID/cmdline read
 * them; what does not fit is left out (the hook sends no id that long). */
static void retitle(char **old, int old_argc, char **new, int n)
{
    char *start = old[0];
    char *end = old[old_argc - 1] + strlen(old[old_argc - 1]) + 1;
    char *p = start;

    memset(start, 0, (size_t)(end - start));
    for (int i = 0; i < n; i++) {
        size_t len = strlen(new[i]) + 1;

        if ((size_t)(end - p) < len)
            break;
        memcpy(p, new[i], len);
        p += len;
    }
}

/* The assigned process: no pool socket, then the command line. */
static void become_daemon(struct spare *s, const struct dj_sparemsg_assign *a, const int *fds,
                          int *argc, char ***argv)
{
    /* Static: the daemon's options point into these for its life. */
    static struct dj_sparemsg_assign assignment;
    static char numbers[DJ_SPAREMSG_MAX_FDS][12];
    static int received[DJ_SPAREMSG_MAX_FDS];
    char *argv0;
    char **next;
    int next_argc = 0;

    close(s->listen_fd);
    /* The spare lets the kernel reap its daemons; a daemon reaps nothing, but leaves nothing
     * inherited in place either. */
    signal(SIGCHLD, SIG_DFL);
    assignment = *a;
    memcpy(received, fds, a->n_fds * sizeof(int));
    /* The daemon hands them on as spawned ones are: without close-on-exec. */
    for (size_t i = 0; i < a->n_fds; i++)
        if (received[i] >= 0)
            fcntl(received[i], F_SETFD, 0);
    /* A copy: retitle overwrites the string argv[0] points to. */
    argv0 = strdup((*argv)[0]);
    next = argv0 != NULL ? assigned_argv(argv0, &assignment, received, &next_argc, numbers) : NULL;
    if (next == NULL)
        exit(1);
    retitle(*argv, *argc, next, next_argc);
    *argc = next_argc;
    *argv = next;
    optind = 1;
}

/* One connection. Returns only in a process that was assigned a jail. */
static bool serve_connection(struct spare *s, int conn, int *argc, char ***argv)
{
    char buf[DJ_SPAREMSG_MAX + 1];
    int fds[DJ_SPAREMSG_MAX_FDS];
    size_t n_fds = 0;
    struct dj_sparemsg_assign a;
    enum dj_sparemsg_kind kind;
    struct timeval timeout = {COMMAND_TIMEOUT_S, 0};
    dj_error_t err = NULL;
    pid_t daemon;
    int *ready;
    ssize_t n;
    int len;

    len = dj_sparemsg_format_hello(&s->hello, buf, sizeof(buf));
    if (len < 0 || setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0 ||
        send(conn, buf, (size_t)len, MSG_NOSIGNAL) != len)
        return false;
    n = receive_command(conn, buf, sizeof(buf), fds, &n_fds);
    if (n <= 0 || dj_sparemsg_parse_command(buf, (size_t)n, n_fds, &kind, &a, &err) < 0) {
        if (err != NULL)
            fprintf(stderr, "%s: spare: %s\n", s->program, dj_error_msg(&err));
        dj_error_release(&err);
        close_all(fds, n_fds);
        return false;
    }
    if (kind == DJ_SPAREMSG_RETIRE)
        exit(0);
    /* One fork: the child becomes the jail's daemon, we stay the pool's spare and never read
     * anything of the jail (its configuration, its policy, its traffic). Without a child the
     * hook reads EOF instead of a pid and spawns this jail's daemons itself. */
    daemon = fork();
    if (daemon < 0) {
        close_all(fds, n_fds);
        return false;
    }
    if (daemon > 0) {
        /* A hook that is gone failed the container's start: the runtime kills the container,
         * and the daemon, watching its pidfd, exits with it. */
        acknowledge(&a, fds, daemon);
        close_all(fds, n_fds);
        return false;
    }
    /* The pipe is the spare's to answer: the daemon is given no --ready-fd. */
    ready = ready_fd(&a, fds);
    if (ready != NULL) {
        close(*ready);
        *ready = -1;
    }
    become_daemon(s, &a, fds, argc, argv);
    return true;
}

void dj_spare_serve(const char *program, int *argc, char ***argv, enum dj_seccomp_profile profile)
{
    struct spare s = {.program = program};
    struct timeval check_every = {PATH_CHECK_S, 0};

    parse_spare_args(&s, *argc, *argv);
    fill_hello(&s);
    note_socket_path(&s);
    if (setsockopt(s.listen_fd, SOL_SOCKET, SO_RCVTIMEO, &check_every, sizeof(check_every)) < 0)
        spare_die(program, "cannot set the pool socket's timeout");
    enter_spare_sandbox(&s, profile);
    /* The pool's maker does not wait for this (it has a container to start): EPIPE then, not a
     * signal. */
    signal(SIGPIPE, SIG_IGN);
    /* Each jail's daemon is a child of ours: the kernel reaps it when it exits. */
    signal(SIGCHLD, SIG_IGN);
    if (write(s.ready_fd, "R", 1) < 0) {
        /* nobody reads it: nothing to do */
    }
    close(s.ready_fd);
    for (;;) {
        int conn = accept4(s.listen_fd, NULL, NULL, SOCK_CLOEXEC);
        bool assigned;

        if (conn < 0) {
            if (errno == EAGAIN && !socket_path_still_ours(&s))
                exit(0);
            if (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)
                continue;
            spare_die(program, strerror(errno));
        }
        if (!peer_is_owner(&s, conn)) {
            close(conn);
            continue;
        }
        assigned = serve_connection(&s, conn, argc, argv);
        close(conn);
        if (assigned)
            return;
    }
}

/* ---- the hook's end --------------------------------------------------------------------- */

/* A SEQPACKET socket and the address of PATH. */
static int pool_socket(const char *path, struct sockaddr_un *addr, dj_error_t *err)
{
    int fd;

    memset(addr, 0, sizeof(*addr));
    addr->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(addr->sun_path))
        return dj_error_make(err, ENAMETOOLONG, "%s", path);
    memcpy(addr->sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dj_error_make(err, errno, "socket");
    return fd;
}

int dj_spare_listen(const char *path, dj_error_t *err)
{
    struct sockaddr_un addr;
    cleanup_close int fd = pool_socket(path, &addr, err);
    mode_t mask;
    int bound;

    if (fd < 0)
        return -1;
    if (unlink(path) < 0 && errno != ENOENT)
        return dj_error_make(err, errno, "removing %s", path);
    /* Only the hook's user may connect (connect needs write access to the socket file). */
    mask = umask(0177);
    bound = bind(fd, (struct sockaddr *)&addr, sizeof(addr));
    umask(mask);
    if (bound < 0 || listen(fd, 128) < 0)
        return dj_error_make(err, errno, "binding %s", path);
    return steal_fd(&fd);
}

int dj_spare_connect(const char *path, unsigned timeout_ms, dj_error_t *err)
{
    struct sockaddr_un addr;
    struct timeval timeout = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    cleanup_close int fd = pool_socket(path, &addr, err);

    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) < 0)
        return dj_error_make(err, errno, "timeouts on the spare's socket");
    if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
        return dj_error_make(err, errno, "connect %s", path);
    return steal_fd(&fd);
}

int dj_spare_hello(int fd, struct dj_sparemsg_hello *hello, dj_error_t *err)
{
    char buf[DJ_SPAREMSG_MAX];
    ssize_t n;

    do
        n = recv(fd, buf, sizeof(buf), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return dj_error_make(err, errno, "no hello from the spare");
    if (n == 0)
        return dj_error_make(err, ECONNRESET, "the spare closed without a hello");
    return dj_sparemsg_parse_hello(buf, (size_t)n, hello, err);
}

int dj_spare_send(int fd, const char *msg, size_t len, const int *fds, size_t n, dj_error_t *err)
{
    union {
        char space[CMSG_SPACE(sizeof(int) * DJ_SPAREMSG_MAX_FDS)];
        struct cmsghdr align;
    } control;
    struct iovec iov = {(void *)msg, len};
    struct msghdr m = {0};

    if (n > DJ_SPAREMSG_MAX_FDS)
        return dj_error_make(err, E2BIG, "%zu descriptors for a spare", n);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (n > 0) {
        struct cmsghdr *c;

        memset(&control, 0, sizeof(control));
        m.msg_control = control.space;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * n);
        c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
    }
    if (sendmsg(fd, &m, MSG_NOSIGNAL) != (ssize_t)len)
        return dj_error_make(err, errno, "sending to the spare");
    return 0;
}
