/* test-spawn: lib/daemon/spawn's promises to the hook, with /bin/sh as the daemon: the readiness
 * handshake (ready, exited, failed with a reason, silent past the deadline, abandoned, a spare's
 * pid read only when it is waited for), and
 * what the daemon inherits (only the descriptors it is handed, /dev/null as its standard
 * streams, its own session, a clean environment, no privileges). The test process is a child
 * subreaper, so every daemon, double-forked away from us, is still ours to reap and its fate
 * (exited, killed) is a fact we can wait for instead of a guess. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/daemon.h"
#include "daemon/spawn.h"

#define SH "/bin/sh"
#define EOF_GUARD_MS 5000 /* only reached when a test fails: something kept a pipe open */

struct run {
    int start_rc, wait_rc;
    pid_t pid;       /* the daemon, -1 when it never started */
    pid_t ready_pid; /* what dj_spawn_wait reported */
    char msg[1024];  /* the error, "" on success */
    char out[8192];  /* what the daemon wrote on its output pipe ($2) */
    int status;      /* its wait status */
    long elapsed_ms; /* start to the end of dj_spawn_wait */
};

static long ms_between(const struct timespec *a, const struct timespec *b)
{
    return (b->tv_sec - a->tv_sec) * 1000 + (b->tv_nsec - a->tv_nsec) / 1000000;
}

/* Reads FD to EOF; fails the test when EOF does not come. */
static void read_to_eof(int fd, char *buf, size_t size)
{
    size_t got = 0;

    for (;;) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t n;

        assert_int_equal(poll(&pfd, 1, EOF_GUARD_MS), 1);
        n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        assert_true(n >= 0);
        if (n == 0)
            break;
        got += (size_t)n;
        assert_true(got < size - 1);
    }
    buf[got] = '\0';
}

static void reap(pid_t pid, int *status)
{
    pid_t r;

    do
        r = waitpid(pid, status, 0);
    while (r < 0 && errno == EINTR);
    assert_int_equal(r, pid);
}

/* Runs SCRIPT as a daemon: $1 is the readiness fd ("{READY_FD}"), $2 an output pipe handed
 * over with pass_fds, $3 a word that merely contains the placeholder; $R and $O name the first
 * two as paths (dash cannot write ">&$1" to an fd above 9, which they can be under make).
 * Waits for the daemon to end (scripts that report ready exit soon after) and reaps it. */
static void run_daemon(const char *script, unsigned timeout_ms, unsigned long nofile, struct run *r)
{
    int out[2];
    char out_text[16], full[2048];
    char *argv[] = {(char *)"sh", (char *)"-c",          full, (char *)"sh", (char *)"{READY_FD}",
                    out_text,     (char *)"x{READY_FD}", NULL};
    struct dj_spawn spec = {.path = SH,
                            .argv = argv,
                            .n_pass_fds = 1,
                            .ready_timeout_ms = timeout_ms,
                            .nofile = nofile};
    struct dj_spawning s;
    struct timespec t0, t1;
    dj_error_t err = NULL;

    snprintf(full, sizeof(full), "R=/proc/self/fd/$1; O=/proc/self/fd/$2; %s", script);
    memset(r, 0, sizeof(*r));
    r->pid = r->ready_pid = -1;
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    snprintf(out_text, sizeof(out_text), "%d", out[1]);
    spec.pass_fds = &out[1];
    clock_gettime(CLOCK_MONOTONIC, &t0);
    r->start_rc = dj_spawn_start(&spec, &s, &err);
    r->wait_rc = -1;
    if (r->start_rc == 0) {
        r->pid = s.pid;
        r->wait_rc = dj_spawn_wait(&s, &r->ready_pid, &err);
        assert_int_equal(s.ready_fd, -1);
        assert_null(s.path);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    r->elapsed_ms = ms_between(&t0, &t1);
    if (err != NULL)
        snprintf(r->msg, sizeof(r->msg), "%s", dj_error_msg(&err));
    dj_error_release(&err);
    close(out[1]);
    read_to_eof(out[0], r->out, sizeof(r->out));
    close(out[0]);
    if (r->pid > 0)
        reap(r->pid, &r->status);
}

/* The value of "KEY=..." / "KEY:..." line in TEXT, copied into VALUE. */
static bool line_value(const char *text, const char *key, char *value, size_t size)
{
    size_t klen = strlen(key);

    for (const char *line = text; line != NULL && *line != '\0';) {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);

        if (len >= klen && strncmp(line, key, klen) == 0) {
            snprintf(value, size, "%.*s", (int)(len - klen), line + klen);
            return true;
        }
        line = end != NULL ? end + 1 : NULL;
    }
    return false;
}

static void test_ready(void **state)
{
    struct run r;
    char pid_text[32];

    (void)state;
    run_daemon("echo pid=$$ >$O; printf R >$R; exit 7", 5000, 0, &r);
    assert_string_equal(r.msg, "");
    assert_int_equal(r.start_rc, 0);
    assert_string_equal(r.msg, "");
    assert_int_equal(r.wait_rc, 0);
    assert_true(r.pid > 0);
    assert_int_equal(r.ready_pid, r.pid);
    /* The pid the hook records is the process that runs the program, not a fork parent. */
    assert_true(line_value(r.out, "pid=", pid_text, sizeof(pid_text)));
    assert_int_equal(atoi(pid_text), r.pid);
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 7);
}

/* fds in the daemon: exactly 0-2 (on /dev/null), the handed-over one and the readiness pipe;
 * not the runtime's streams, not anything else the hook had open without O_CLOEXEC. */
static void test_descriptors(void **state)
{
    int leak[2];
    struct run r;
    char ready_text[32], out_text[32], placeholder[64];
    int ready_fd, out_fd, seen[5], n_seen = 0;
    const char *p;
    bool in_list;

    (void)state;
    assert_int_equal(pipe(leak), 0); /* no O_CLOEXEC: inherited by every fork */
    run_daemon("echo ready=$1 >$O; echo out=$2 >$O; echo word=$3 >$O;"
               /* ls in a subshell writes straight to $O: a pipe to sed would be open in the
                * shell too while ls reads its descriptors (and dash keeps a copy of stdout
                * for a redirected command), counted with them. */
               " echo 'fds<' >$O; (ls /proc/$$/fd >$O); echo '>fds' >$O;"
               " for i in 0 1 2; do echo std$i=$(readlink /proc/$$/fd/$i) >$O; done;"
               " printf R >$R",
               5000, 0, &r);
    close(leak[0]);
    close(leak[1]);
    assert_string_equal(r.msg, "");
    assert_int_equal(r.wait_rc, 0);
    assert_true(line_value(r.out, "ready=", ready_text, sizeof(ready_text)));
    assert_true(line_value(r.out, "out=", out_text, sizeof(out_text)));
    ready_fd = atoi(ready_text);
    out_fd = atoi(out_text);
    assert_true(ready_fd >= 3);
    assert_int_not_equal(ready_fd, out_fd);
    /* Only the argument that is exactly the placeholder is replaced. */
    assert_true(line_value(r.out, "word=", placeholder, sizeof(placeholder)));
    assert_string_equal(placeholder, "x{READY_FD}");
    for (p = r.out, in_list = false; *p != '\0';) {
        const char *end = strchr(p, '\n');

        if (strncmp(p, ">fds", 4) == 0)
            in_list = false;
        if (in_list) {
            assert_true(n_seen < 5);
            seen[n_seen++] = atoi(p);
        }
        if (strncmp(p, "fds<", 4) == 0)
            in_list = true;
        if (end == NULL)
            break;
        p = end + 1;
    }
    assert_int_equal(n_seen, 5);
    for (int want = 0; want < 3; want++) {
        char key[8], target[64];
        bool found = false;

        for (int i = 0; i < n_seen; i++)
            found = found || seen[i] == want;
        assert_true(found);
        snprintf(key, sizeof(key), "std%d=", want);
        assert_true(line_value(r.out, key, target, sizeof(target)));
        assert_string_equal(target, "/dev/null");
    }
    for (int i = 0; i < n_seen; i++)
        assert_true(seen[i] < 3 || seen[i] == ready_fd || seen[i] == out_fd);
}

/* The runtime waits for EOF on the hook's stdout and stderr: the daemon must not hold them.
 * A forked "hook" with both streams on a pipe starts a long-lived daemon and exits; EOF on
 * the pipe must come while the daemon is still alive (we kill it afterwards, and only a live
 * process dies of our SIGKILL). */
static void test_runtime_streams_released(void **state)
{
    int streams[2], result[2];
    pid_t hook, daemon = -1;
    char buf[64];
    int status;

    (void)state;
    assert_int_equal(pipe2(streams, O_CLOEXEC), 0);
    assert_int_equal(pipe2(result, O_CLOEXEC), 0);
    hook = fork();
    assert_true(hook >= 0);
    if (hook == 0) {
        char *argv[] = {
            (char *)"sh", (char *)"-c",         (char *)"printf R >/proc/self/fd/$1; exec sleep 60",
            (char *)"sh", (char *)"{READY_FD}", NULL};
        struct dj_spawn spec = {.path = SH, .argv = argv, .ready_timeout_ms = 5000};
        pid_t pid = -1;

        if (dup2(streams[1], 1) < 0 || dup2(streams[1], 2) < 0)
            _exit(1);
        if (dj_spawn_daemon(&spec, &pid, NULL) < 0)
            pid = -1;
        if (write(result[1], &pid, sizeof(pid)) != sizeof(pid))
            _exit(1);
        _exit(0);
    }
    close(streams[1]);
    close(result[1]);
    assert_int_equal(read(result[0], &daemon, sizeof(daemon)), sizeof(daemon));
    close(result[0]);
    reap(hook, &status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_true(daemon > 0);
    read_to_eof(streams[0], buf, sizeof(buf));
    close(streams[0]);
    assert_string_equal(buf, "");
    assert_int_equal(kill(daemon, SIGKILL), 0);
    reap(daemon, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* A hook started with its standard streams closed: the descriptors lib/daemon/spawn opens then land
 * on 0-2, where the daemon's /dev/null must not overwrite them. */
static void test_hook_without_stdio(void **state)
{
    int out[2], result[2];
    char buf[512], target[64];
    pid_t hook, daemon = -1;
    int status;

    (void)state;
    assert_int_equal(pipe2(out, O_CLOEXEC), 0);
    assert_int_equal(pipe2(result, O_CLOEXEC), 0);
    assert_true(out[1] > 2 && result[1] > 2);
    hook = fork();
    assert_true(hook >= 0);
    if (hook == 0) {
        char out_text[16];
        char *argv[] = {(char *)"sh",
                        (char *)"-c",
                        (char *)"for i in 0 1 2; do echo std$i=$(readlink /proc/$$/fd/$i)"
                                " >/proc/self/fd/$2; done; printf R >/proc/self/fd/$1",
                        (char *)"sh",
                        (char *)"{READY_FD}",
                        out_text,
                        NULL};
        struct dj_spawn spec = {.path = SH,
                                .argv = argv,
                                .pass_fds = &out[1],
                                .n_pass_fds = 1,
                                .ready_timeout_ms = 5000};
        dj_error_t err = NULL;
        pid_t pid = -1;

        snprintf(out_text, sizeof(out_text), "%d", out[1]);
        close(0);
        close(1);
        close(2);
        if (dj_spawn_daemon(&spec, &pid, &err) < 0)
            pid = -1;
        if (write(result[1], &pid, sizeof(pid)) != sizeof(pid) ||
            (pid < 0 && write(result[1], dj_error_msg(&err), strlen(dj_error_msg(&err))) < 0))
            _exit(1);
        _exit(0);
    }
    close(out[1]);
    close(result[1]);
    assert_int_equal(read(result[0], &daemon, sizeof(daemon)), sizeof(daemon));
    read_to_eof(result[0], buf, sizeof(buf));
    close(result[0]);
    reap(hook, &status);
    assert_string_equal(buf, ""); /* dj_spawn_daemon's error */
    read_to_eof(out[0], buf, sizeof(buf));
    close(out[0]);
    assert_true(daemon > 0);
    reap(daemon, &status);
    assert_true(WIFEXITED(status));
    for (int i = 0; i < 3; i++) {
        char key[8];

        snprintf(key, sizeof(key), "std%d=", i);
        assert_true(line_value(buf, key, target, sizeof(target)));
        assert_string_equal(target, "/dev/null");
    }
}

/* A fixed environment (nothing of the hook's), / as working directory, umask 077, its own
 * session without being its leader, no_new_privs, and as root no capability left. */
static void test_process_context(void **state)
{
    struct run r;
    char value[256];
    long daemon_sid = -1, daemon_pid = -1;
    const char *stat_line;

    (void)state;
    assert_int_equal(setenv("DJ_SPAWN_TEST_SECRET", "leaked", 1), 0);
    run_daemon("env | sed 's/^/env:/' >$O; echo cwd=$(pwd) >$O; echo umask=$(umask) >$O;"
               " echo stat=$(cat /proc/$$/stat) >$O;"
               " grep -E '^(NoNewPrivs|CapEff|CapBnd):' /proc/$$/status >$O; printf R >$R",
               5000, 0, &r);
    unsetenv("DJ_SPAWN_TEST_SECRET");
    assert_string_equal(r.msg, "");
    assert_int_equal(r.wait_rc, 0);
    assert_null(strstr(r.out, "DJ_SPAWN_TEST_SECRET"));
    assert_true(line_value(r.out, "env:PATH=", value, sizeof(value)));
    assert_string_equal(value, "/usr/sbin:/usr/bin:/sbin:/bin");
    assert_true(line_value(r.out, "env:LC_ALL=", value, sizeof(value)));
    assert_string_equal(value, "C");
    assert_true(line_value(r.out, "cwd=", value, sizeof(value)));
    assert_string_equal(value, "/");
    assert_true(line_value(r.out, "umask=", value, sizeof(value)));
    assert_string_equal(value, "0077");
    /* /proc/PID/stat: pid (comm) state ppid pgrp session ... */
    stat_line = strstr(r.out, "stat=");
    assert_non_null(stat_line);
    daemon_pid = strtol(stat_line + 5, NULL, 10);
    assert_int_equal(daemon_pid, r.pid);
    stat_line = strrchr(stat_line, ')');
    assert_non_null(stat_line);
    assert_int_equal(sscanf(stat_line, ") %*c %*d %*d %ld", &daemon_sid), 1);
    assert_int_not_equal(daemon_sid, (long)getsid(0));
    assert_int_not_equal(daemon_sid, daemon_pid); /* not a session leader: no tty to acquire */
    assert_true(line_value(r.out, "NoNewPrivs:", value, sizeof(value)));
    assert_string_equal(value, "\t1");
    assert_true(line_value(r.out, "CapEff:", value, sizeof(value)));
    assert_string_equal(value, "\t0000000000000000");
    if (geteuid() == 0) {
        assert_true(line_value(r.out, "CapBnd:", value, sizeof(value)));
        assert_string_equal(value, "\t0000000000000000");
    }
}

/* nofile raises the daemon's descriptor limit; 0 leaves the hook's. */
static void test_nofile(void **state)
{
    struct rlimit saved, low;
    struct run r;
    char value[32];

    (void)state;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    if (saved.rlim_max < 300)
        skip();
    low = saved;
    low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    run_daemon("echo nofile=$(ulimit -n) >$O; printf R >$R", 5000, 300, &r);
    assert_string_equal(r.msg, "");
    assert_int_equal(r.wait_rc, 0);
    assert_true(line_value(r.out, "nofile=", value, sizeof(value)));
    assert_string_equal(value, "300");
    run_daemon("echo nofile=$(ulimit -n) >$O; printf R >$R", 5000, 0, &r);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    assert_string_equal(r.msg, "");
    assert_int_equal(r.wait_rc, 0);
    assert_true(line_value(r.out, "nofile=", value, sizeof(value)));
    assert_string_equal(value, "256");
}

static void test_exit_before_ready(void **state)
{
    struct run r;

    (void)state;
    run_daemon("exit 3", 5000, 0, &r);
    assert_int_equal(r.start_rc, 0);
    assert_int_equal(r.wait_rc, -1);
    assert_int_equal(r.ready_pid, -1);
    assert_string_equal(r.msg, SH " exited before it was ready");
    assert_true(WIFEXITED(r.status));
    assert_int_equal(WEXITSTATUS(r.status), 3);
}

/* "E" + reason: the hook shows the first line of the reason. */
static void test_failure_reason(void **state)
{
    struct run r;

    (void)state;
    run_daemon("printf 'Ebad listen address: 300.1.1.1\\nsecond line' >$R; exit 1", 5000, 0, &r);
    assert_int_equal(r.wait_rc, -1);
    assert_string_equal(r.msg, SH " failed to start: bad listen address: 300.1.1.1");
}

/* A reason, and the daemon does not exit: it is killed, and the reason still shown. */
static void test_failure_reason_then_hang(void **state)
{
    struct run r;

    (void)state;
    run_daemon("printf 'Eport 53 in use\\n' >$R; exec sleep 60", 300, 0, &r);
    assert_int_equal(r.wait_rc, -1);
    assert_string_equal(r.msg, SH " failed to start: port 53 in use");
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGKILL);
}

/* Silent past the deadline: an error naming the deadline, and the daemon killed. */
static void test_ready_timeout(void **state)
{
    struct run r;

    (void)state;
    run_daemon("exec sleep 60", 200, 0, &r);
    assert_int_equal(r.start_rc, 0);
    assert_int_equal(r.wait_rc, -1);
    assert_string_equal(r.msg, SH " did not report ready within 200 ms");
    assert_true(r.elapsed_ms >= 200);
    assert_true(WIFSIGNALED(r.status));
    assert_int_equal(WTERMSIG(r.status), SIGKILL);
}

/* Startup failures in the forked child before exec come back as reasons too. */
static void test_failures_before_exec(void **state)
{
    char dir[] = "/tmp/dj-spawn-XXXXXX";
    char path[64];
    char *argv[] = {(char *)"x", NULL};
    int low_fd = 2, closed_fd;
    struct dj_spawn spec = {.argv = argv, .ready_timeout_ms = 5000};
    struct dj_spawning s;
    dj_error_t err = NULL;
    pid_t pid = -1;
    int fd, status;

    (void)state;
    /* Standard streams are never handed over (the daemon's are /dev/null). */
    spec.path = SH;
    spec.pass_fds = &low_fd;
    spec.n_pass_fds = 1;
    assert_int_equal(dj_spawn_daemon(&spec, &pid, &err), -1);
    assert_string_equal(dj_error_msg(&err), "internal error: fd 2 handed to a daemon");
    dj_error_release(&err);

    spec.path = "/nonexistent/dnsjail-daemon";
    spec.n_pass_fds = 0;
    assert_int_equal(dj_spawn_daemon(&spec, &pid, &err), -1);
    assert_string_equal(dj_error_msg(&err),
                        "open /nonexistent/dnsjail-daemon: No such file or directory");
    dj_error_release(&err);

    /* A descriptor that is not open: the child says so. */
    /* (high: a low free number would be taken by the child's own /dev/null) */
    closed_fd = 900;
    assert_int_equal(fcntl(closed_fd, F_GETFD), -1);
    spec.path = SH;
    spec.pass_fds = &closed_fd;
    spec.n_pass_fds = 1;
    assert_int_equal(dj_spawn_start(&spec, &s, &err), 0);
    pid = s.pid;
    assert_int_equal(dj_spawn_wait(&s, &pid, &err), -1);
    assert_string_equal(dj_error_msg(&err),
                        SH " failed to start: a handed-over descriptor is not open");
    dj_error_release(&err);
    reap(s.pid, &status); /* exit 127, or our SIGKILL on the way there */

    /* Not executable: exec's own error, with the path. */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/daemon", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    close(fd);
    spec.path = path;
    spec.n_pass_fds = 0;
    assert_int_equal(dj_spawn_start(&spec, &s, &err), 0);
    pid = s.pid;
    assert_int_equal(dj_spawn_wait(&s, &pid, &err), -1);
    {
        char want[256];

        snprintf(want, sizeof(want), "%s failed to start: exec %s: Permission denied", path, path);
        assert_string_equal(dj_error_msg(&err), want);
    }
    dj_error_release(&err);
    reap(s.pid, &status);
    unlink(path);
    rmdir(dir);
}

/* dj_spawn_abandon kills a started daemon and ends the handle; waiting on an ended handle is
 * refused. */
static void test_abandon(void **state)
{
    char *argv[] = {(char *)"sh", (char *)"-c", (char *)"exec sleep 60", NULL};
    struct dj_spawn spec = {.path = SH, .argv = argv, .ready_timeout_ms = 5000};
    struct dj_spawning s;
    dj_error_t err = NULL;
    pid_t pid = -1;
    int status;

    (void)state;
    assert_int_equal(dj_spawn_start(&spec, &s, &err), 0);
    assert_true(s.pid > 0);
    assert_true(s.ready_fd >= 0);
    pid = s.pid;
    dj_spawn_abandon(&s);
    assert_int_equal(s.ready_fd, -1);
    assert_null(s.path);
    reap(pid, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_int_equal(dj_spawn_wait(&s, &pid, &err), -1);
    assert_string_equal(dj_error_msg(&err), "internal error: no daemon to wait for");
    dj_error_release(&err);
}

/* dj_spawn_expect_later reads nothing: two spares are handed their jails before either is
 * heard from, and each is waited for in any order. Here the pipes' write ends stand for the
 * spares: nothing is written before both handles exist (a read would have failed after the
 * deadline, with "did not start"), then the second answers first. */
static void test_expect_later(void **state)
{
    struct dj_spawning first, second;
    dj_error_t err = NULL;
    pid_t pid = -1, child;
    int a[2], b[2], c[2], status;
    const char ready = 'R';

    (void)state;
    assert_int_equal(pipe2(a, O_CLOEXEC), 0);
    assert_int_equal(pipe2(b, O_CLOEXEC), 0);
    assert_int_equal(dj_spawn_expect_later(a[0], "first", 100, &first, &err), 0);
    assert_int_equal(dj_spawn_expect_later(b[0], "second", 5000, &second, &err), 0);
    assert_int_equal(first.pid, 0);
    assert_int_equal(second.pid, 0);
    child = 4242;
    assert_int_equal(write(b[1], &child, sizeof(child)), (ssize_t)sizeof(child));
    assert_int_equal(write(b[1], &ready, 1), 1);
    close(b[1]);
    assert_int_equal(dj_spawn_wait(&second, &pid, &err), 0);
    assert_int_equal(pid, 4242);
    assert_int_equal(second.ready_fd, -1);
    /* The first never says its pid: its deadline (100 ms, from the hand-over) ends it. */
    assert_int_equal(dj_spawn_wait(&first, &pid, &err), -1);
    assert_string_equal(dj_error_msg(&err), "first did not start");
    assert_int_equal(first.ready_fd, -1);
    assert_null(first.path);
    dj_error_release(&err);
    close(a[1]);

    /* Abandoned before its pid was read: read then, and that daemon is killed. */
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        pause();
        _exit(0);
    }
    assert_int_equal(pipe2(c, O_CLOEXEC), 0);
    assert_int_equal(dj_spawn_expect_later(c[0], "third", 5000, &first, &err), 0);
    assert_int_equal(write(c[1], &child, sizeof(child)), (ssize_t)sizeof(child));
    dj_spawn_abandon(&first);
    assert_int_equal(first.ready_fd, -1);
    reap(child, &status);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    close(c[1]);
}

/* The daemon's side of the pipe: "R" or "E" + reason (at most 512 bytes), then the fd is
 * closed (the hook sees EOF). */
static void test_report_functions(void **state)
{
    char buf[2048], long_reason[1000];
    int p[2];
    dj_error_t err = NULL;

    (void)state;
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    assert_int_equal(dj_spawn_report_ready(p[1], &err), 0);
    read_to_eof(p[0], buf, sizeof(buf));
    assert_string_equal(buf, "R");
    close(p[0]);

    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    dj_spawn_report_failure(p[1], "cannot bind 127.0.0.1:53");
    read_to_eof(p[0], buf, sizeof(buf));
    assert_string_equal(buf, "Ecannot bind 127.0.0.1:53");
    close(p[0]);

    memset(long_reason, 'a', sizeof(long_reason) - 1);
    long_reason[sizeof(long_reason) - 1] = '\0';
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    dj_spawn_report_failure(p[1], long_reason);
    read_to_eof(p[0], buf, sizeof(buf));
    assert_int_equal(strlen(buf), 1 + 512);
    assert_int_equal(buf[0], 'E');
    assert_int_equal(strspn(buf + 1, "a"), 512);
    close(p[0]);

    /* A descriptor that is not open: an error, not a crash. */
    assert_int_equal(dj_spawn_report_ready(1000000, &err), -1);
    assert_string_equal(dj_error_msg(&err), "report ready: Bad file descriptor");
    dj_error_release(&err);
}

/* A daemon that dies in its set-up with nobody reading a ready pipe (a spare's child: the spare
 * answered the hook at the hand-over) says why in the jail's log; with a ready pipe the reason
 * goes there, as before, and not into the log. */
static void run_die(int ready_fd, int log_fd)
{
    struct dj_daemon_config cfg = {.log_fd = log_fd, .container_id = "jail-1"};
    struct dj_daemon_options o = {.program = "dnsjail-test", .cfg = &cfg, .ready_fd = ready_fd};
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0)
        dj_daemon_die(&o, "cannot set up: \"quoted\"");
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 1);
}

static void test_die_without_ready_pipe_logs(void **unused)
{
    int log[2], ready[2];
    char buf[1024];
    ssize_t n;

    (void)unused;
    assert_int_equal(pipe2(log, O_CLOEXEC | O_NONBLOCK), 0);
    run_die(-1, log[1]);
    n = read(log[0], buf, sizeof(buf) - 1);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "\"event\":\"daemon_failed\""));
    assert_non_null(strstr(buf, "\"daemon\":\"dnsjail-test\""));
    assert_non_null(strstr(buf, "\"container\":\"jail-1\""));
    assert_non_null(strstr(buf, "\"detail\":\"cannot set up: \\\"quoted\\\"\""));
    assert_int_equal(buf[n - 1], '\n');

    assert_int_equal(pipe2(ready, O_CLOEXEC), 0);
    run_die(ready[1], log[1]);
    close(ready[1]);
    n = read(ready[0], buf, sizeof(buf) - 1);
    assert_true(n > 1);
    assert_int_equal(buf[0], 'E');
    assert_int_equal(read(log[0], buf, sizeof(buf)), -1);
    assert_int_equal(errno, EAGAIN);
    close(ready[0]);
    close(log[0]);
    close(log[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready),
        cmocka_unit_test(test_descriptors),
        cmocka_unit_test(test_runtime_streams_released),
        cmocka_unit_test(test_hook_without_stdio),
        cmocka_unit_test(test_process_context),
        cmocka_unit_test(test_nofile),
        cmocka_unit_test(test_exit_before_ready),
        cmocka_unit_test(test_failure_reason),
        cmocka_unit_test(test_failure_reason_then_hang),
        cmocka_unit_test(test_ready_timeout),
        cmocka_unit_test(test_failures_before_exec),
        cmocka_unit_test(test_abandon),
        cmocka_unit_test(test_expect_later),
        cmocka_unit_test(test_report_functions),
        cmocka_unit_test(test_die_without_ready_pipe_logs),
    };

    /* Daemons are double-forked away from their starter; as a subreaper we inherit them. */
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
        perror("PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
