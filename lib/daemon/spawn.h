/* spawn.h: starting a dnsjail daemon fully detached from the runtime that ran the hook.
 *
 * runc waits for EOF on the hook's stdout/stderr, so the daemon must not inherit them: it is
 * double-forked into its own session with stdin/stdout/stderr on /dev/null and every other
 * fd closed except those it is handed. It reports readiness by writing one byte on a pipe;
 * the hook waits for that byte (or EOF = failure) with a timeout.
 * Pipe protocol, in order: the daemon's pid (sizeof(pid_t) bytes, written by the forked child
 * before exec), then "R" (ready) or "E" followed by a one-line reason.
 * Owns: fork/exec of daemons and the readiness handshake. */
#ifndef DNSJAIL_SPAWN_H
#define DNSJAIL_SPAWN_H

#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "base/error.h"

struct dj_spawn {
    const char *path;    /* program to exec */
    char *const *argv;   /* its argv (argv[0] included), NULL-terminated */
    const int *pass_fds; /* fds handed to the daemon; they keep their numbers */
    size_t n_pass_fds;
    const char *user; /* drop to this user before exec (NULL: stay) */
    unsigned ready_timeout_ms;
    unsigned long nofile; /* raise RLIMIT_NOFILE to this before dropping privileges, as far as
                             the kernel lets root (0: leave it) */
};

/* Starts the daemon. argv may contain the literal "{READY_FD}", which is replaced with the
 * number of the readiness pipe's write end. On success *daemon_pid is the daemon's pid and
 * the daemon has reported ready; on failure the daemon has been killed. */
int dj_spawn_daemon(const struct dj_spawn *spec, pid_t *daemon_pid, dj_error_t *err);

/* The same in two steps, so that several daemons set up at the same time: dj_spawn_start
 * forks and execs and returns once the daemon's pid is known; dj_spawn_wait then waits for
 * its "ready" (and kills it on failure or timeout, the deadline counting from the start);
 * dj_spawn_abandon kills a started daemon that will not be waited for. Both end the
 * handle. */
struct dj_spawning {
    int ready_fd; /* -1 once ended */
    pid_t pid;    /* 0: not read yet (dj_spawn_expect_later) */
    char *path;
    unsigned ready_timeout_ms;
    struct timespec start;
};
int dj_spawn_start(const struct dj_spawn *spec, struct dj_spawning *s, dj_error_t *err);
/* The same handle for a daemon started otherwise (a spare, lib/daemon/spare.h) that was handed
 * the write end of the pipe READ_FD reads (taken over, closed on failure): waits for its pid
 * as dj_spawn_start does, PATH naming it in messages. */
int dj_spawn_expect(int read_fd, const char *path, unsigned ready_timeout_ms, struct dj_spawning *s,
                    dj_error_t *err);
/* The same without waiting for the pid: dj_spawn_wait (or dj_spawn_abandon) reads it, so that
 * the hook hands every spare its jail before it waits for any, and their replies overlap. */
int dj_spawn_expect_later(int read_fd, const char *path, unsigned ready_timeout_ms,
                          struct dj_spawning *s, dj_error_t *err);
/* Ends the handle and leaves the daemon to itself, ready or not (a spare nobody waits for). */
void dj_spawn_release(struct dj_spawning *s);
int dj_spawn_wait(struct dj_spawning *s, pid_t *daemon_pid, dj_error_t *err);
void dj_spawn_abandon(struct dj_spawning *s);

/* In the daemon: report ready on FD ("R", then close). */
int dj_spawn_report_ready(int fd, dj_error_t *err);

/* In the daemon: report a startup failure on FD ("E" + one line, then close), so the hook can
 * show the reason instead of a bare "daemon exited". */
void dj_spawn_report_failure(int fd, const char *message);

#endif
