#include "config.h"
#include "daemon/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "daemon/sandbox.h"

#define READY_PLACEHOLDER "{READY_FD}"
#define MAX_FAILURE_TEXT 512

static void write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        p += n;
        len -= (size_t)n;
    }
}

void dj_spawn_report_failure(int fd, const char *message)
{
    char line[MAX_FAILURE_TEXT + 2];
    int n = snprintf(line, sizeof(line), "E%s", message);

    if (fd < 0)
        return;
    if (n > 0)
        write_all(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
    close(fd);
}

int dj_spawn_report_ready(int fd, dj_error_t *err)
{
    if (write(fd, "R", 1) != 1) {
        int saved = errno;
        close(fd);
        return dj_error_make(err, saved, "report ready");
    }
    close(fd);
    return 0;
}

/* An unprivileged daemon cannot raise its hard limit itself; root can, up to fs.nr_open, or
 * (without CAP_SYS_RESOURCE) up to the hard limit it has. */
static void raise_nofile(unsigned long wanted)
{
    struct rlimit limit;

    if (wanted == 0 || getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur >= wanted)
        return;
    limit.rlim_cur = wanted;
    if (limit.rlim_max < wanted)
        limit.rlim_max = wanted;
    if (setrlimit(RLIMIT_NOFILE, &limit) == 0)
        return;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

/* A hook started with closed standard streams got them back as its own descriptors (the
 * program, the pipe): moves such a descriptor out of the way of the daemon's /dev/null. */
static int above_stdio(int fd)
{
    return fd > 2 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* Runs in the grandchild: never returns. Anything that fails is reported on the pipe. */
static void exec_daemon(const struct dj_spawn *spec, int exe_fd, int ready_fd)
{
    dj_error_t err = NULL;
    char ready_text[16];
    size_t argc = 0;
    char **argv;
    char *envp[] = {(char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", (char *)"LC_ALL=C", NULL};
    int keep[64];
    size_t n_keep = 0;
    int devnull;
    sigset_t none;
    pid_t self = getpid();

    write_all(ready_fd, &self, sizeof(self));

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);

    ready_fd = above_stdio(ready_fd);
    exe_fd = above_stdio(exe_fd);
    if (ready_fd < 0 || exe_fd < 0)
        _exit(127);
    /* F_SETFD: /dev/null itself may have opened as 0-2, where dup2 leaves O_CLOEXEC on. */
    devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0 ||
        fcntl(0, F_SETFD, 0) < 0 || fcntl(1, F_SETFD, 0) < 0 || fcntl(2, F_SETFD, 0) < 0) {
        dj_spawn_report_failure(ready_fd, "cannot redirect standard streams to /dev/null");
        _exit(127);
    }
    if (spec->n_pass_fds + 2 > sizeof(keep) / sizeof(keep[0])) {
        dj_spawn_report_failure(ready_fd, "too many descriptors to hand over");
        _exit(127);
    }
    for (size_t i = 0; i < spec->n_pass_fds; i++) {
        keep[n_keep++] = spec->pass_fds[i];
        if (fcntl(spec->pass_fds[i], F_SETFD, 0) < 0) {
            dj_spawn_report_failure(ready_fd, "a handed-over descriptor is not open");
            _exit(127);
        }
    }
    keep[n_keep++] = ready_fd;
    keep[n_keep++] = exe_fd;
    dj_sandbox_close_fds_except(keep, n_keep, NULL);
    fcntl(ready_fd, F_SETFD, 0);

    raise_nofile(spec->nofile);
    if (chdir("/") < 0 || (geteuid() == 0 && dj_sandbox_drop_bounding_set(&err) < 0) ||
        dj_sandbox_drop_user(spec->user, &err) < 0 ||
        (spec->user == NULL && geteuid() == 0 &&
         dj_sandbox_keep_uid_without_privileges(&err) < 0) ||
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        dj_spawn_report_failure(ready_fd, err != NULL ? err->msg : "cannot drop privileges");
        _exit(127);
    }
    umask(077);

    while (spec->argv[argc] != NULL)
        argc++;
    argv = calloc(argc + 1, sizeof(*argv));
    if (argv == NULL) {
        dj_spawn_report_failure(ready_fd, "out of memory");
        _exit(127);
    }
    snprintf(ready_text, sizeof(ready_text), "%d", ready_fd);
    for (size_t i = 0; i < argc; i++)
        argv[i] = strcmp(spec->argv[i], READY_PLACEHOLDER) == 0 ? ready_text : spec->argv[i];

    syscall(SYS_execveat, exe_fd, "", argv, envp, AT_EMPTY_PATH);
    {
        char msg[MAX_FAILURE_TEXT];
        snprintf(msg, sizeof(msg), "exec %s: %s", spec->path, strerror(errno));
        dj_spawn_report_failure(ready_fd, msg);
    }
    _exit(127);
}

static long ms_since(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Reads exactly LEN bytes, or up to LEN for the failure text; returns bytes read (0 = EOF). */
static ssize_t read_with_deadline(int fd, void *buf, size_t len, const struct timespec *start,
                                  unsigned timeout_ms, bool *timed_out)
{
    size_t got = 0;

    while (got < len) {
        struct pollfd pfd = {fd, POLLIN, 0};
        long left = (long)timeout_ms - ms_since(start);
        ssize_t n;
        int r;

        if (left <= 0) {
            *timed_out = true;
            return -1;
        }
        r = poll(&pfd, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            continue;
        n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (ssize_t)got;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int dj_spawn_start(const struct dj_spawn *spec, struct dj_spawning *s, dj_error_t *err)
{
    cleanup_close int exe_fd = -1;
    cleanup_close int ready_read = -1;
    cleanup_close int ready_write = -1;
    int pipe_fds[2];
    pid_t child;
    int wstatus;

    s->ready_fd = -1;
    s->pid = -1;
    s->path = NULL;
    for (size_t i = 0; i < spec->n_pass_fds; i++)
        if (spec->pass_fds[i] < 3)
            return dj_error_make(err, 0, "internal error: fd %d handed to a daemon",
                                 spec->pass_fds[i]);

    /* Opened as root, so the daemon's user needs no access to the directories on the way. */
    exe_fd = open(spec->path, O_PATH | O_CLOEXEC);
    if (exe_fd < 0)
        return dj_error_make(err, errno, "open %s", spec->path);
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return dj_error_make(err, errno, "pipe");
    ready_read = pipe_fds[0];
    ready_write = pipe_fds[1];

    child = fork();
    if (child < 0)
        return dj_error_make(err, errno, "fork");
    if (child == 0) {
        /* Middle child: a new session without a controlling terminal, then fork again so the
         * daemon is not a session leader and is reparented away from the runtime. */
        close(ready_read);
        if (setsid() < 0)
            _exit(126);
        child = fork();
        if (child < 0)
            _exit(126);
        if (child == 0)
            exec_daemon(spec, exe_fd, ready_write);
        _exit(0);
    }
    close(steal_fd(&ready_write));
    while (waitpid(child, &wstatus, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
        return dj_error_make(err, 0, "could not start %s (fork failed)", spec->path);
    return dj_spawn_expect(steal_fd(&ready_read), spec->path, spec->ready_timeout_ms, s, err);
}

static void spawning_end(struct dj_spawning *s);

int dj_spawn_expect_later(int read_fd, const char *path, unsigned ready_timeout_ms,
                          struct dj_spawning *s, dj_error_t *err)
{
    cleanup_close int ready_read = read_fd;

    s->ready_fd = -1;
    s->pid = -1;
    s->ready_timeout_ms = ready_timeout_ms;
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    s->path = strdup(path);
    if (s->path == NULL)
        return dj_error_make(err, ENOMEM, "%s", path);
    s->pid = 0; /* not known yet: the daemon's first message on the pipe */
    s->ready_fd = steal_fd(&ready_read);
    return 0;
}

/* The daemon's pid, its first message on the pipe, unless read already. On failure the handle
 * is ended (a daemon that never said its pid cannot be named, let alone killed). */
static int read_pid(struct dj_spawning *s, dj_error_t *err)
{
    bool timed_out = false;
    pid_t pid = -1;
    ssize_t n;
    int r;

    if (s->pid > 0)
        return 0;
    n = read_with_deadline(s->ready_fd, &pid, sizeof(pid), &s->start, s->ready_timeout_ms,
                           &timed_out);
    if (n == (ssize_t)sizeof(pid) && pid > 0) {
        s->pid = pid;
        return 0;
    }
    r = dj_error_make(err, 0, "%s did not start", s->path);
    spawning_end(s);
    return r;
}

int dj_spawn_expect(int read_fd, const char *path, unsigned ready_timeout_ms, struct dj_spawning *s,
                    dj_error_t *err)
{
    if (dj_spawn_expect_later(read_fd, path, ready_timeout_ms, s, err) < 0)
        return -1;
    return read_pid(s, err);
}

static void spawning_end(struct dj_spawning *s)
{
    if (s->ready_fd >= 0)
        close(s->ready_fd);
    s->ready_fd = -1;
    free(s->path);
    s->path = NULL;
}

int dj_spawn_wait(struct dj_spawning *s, pid_t *daemon_pid, dj_error_t *err)
{
    char status = 0;
    char failure[MAX_FAILURE_TEXT + 1];
    bool timed_out = false;
    ssize_t n;
    int r;

    if (s->ready_fd < 0)
        return dj_error_make(err, 0, "internal error: no daemon to wait for");
    if (read_pid(s, err) < 0)
        return -1;
    n = read_with_deadline(s->ready_fd, &status, 1, &s->start, s->ready_timeout_ms, &timed_out);
    if (n == 1 && status == 'R') {
        *daemon_pid = s->pid;
        spawning_end(s);
        return 0;
    }
    kill(s->pid, SIGKILL);
    if (timed_out) {
        r = dj_error_make(err, 0, "%s did not report ready within %u ms", s->path,
                          s->ready_timeout_ms);
    } else if (n == 1 && status == 'E') {
        n = read_with_deadline(s->ready_fd, failure, sizeof(failure) - 1, &s->start,
                               s->ready_timeout_ms, &timed_out);
        failure[n > 0 ? n : 0] = '\0';
        failure[strcspn(failure, "\n")] = '\0';
        r = dj_error_make(err, 0, "%s failed to start: %s", s->path, failure);
    } else {
        r = dj_error_make(err, 0, "%s exited before it was ready", s->path);
    }
    spawning_end(s);
    return r;
}

void dj_spawn_release(struct dj_spawning *s)
{
    spawning_end(s);
}

void dj_spawn_abandon(struct dj_spawning *s)
{
    /* A daemon handed its work but not heard from yet says its pid first: waited for (up to
     * its deadline) so that it can be killed, not left serving a jail that failed. */
    if (s->ready_fd >= 0 && s->pid == 0)
        read_pid(s, NULL);
    if (s->ready_fd >= 0 && s->pid > 0)
        kill(s->pid, SIGKILL);
    spawning_end(s);
}

int dj_spawn_daemon(const struct dj_spawn *spec, pid_t *daemon_pid, dj_error_t *err)
{
    struct dj_spawning s;

    if (dj_spawn_start(spec, &s, err) < 0)
        return -1;
    return dj_spawn_wait(&s, daemon_pid, err);
}
