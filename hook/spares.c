/* spares.c: the hook's side of the spare pool (lib/daemon/spare.h, docs/DESIGN.md "The spare
 * pool"): handing a jail's daemon descriptors to the waiting spare of its kind instead of
 * spawning it, and making the pool when there is none or it is stale. The pool is
 * <state dir>/spares/<program>.sock, one spare waiting on each, sockets only the hook's user
 * can connect to. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "daemon/spare.h"
#include "hook.h"

#define POOL_DIR "spares"
/* How long the hook waits for a spare's hello: the spare is waiting in accept, so an answer
 * that takes longer means it is not there to answer. */
#define HELLO_TIMEOUT_MS 1000

static char *pool_path(const struct hook *h, const char *name)
{
    char *path = NULL;

    if (asprintf(&path, "%s/" POOL_DIR "%s%s", h->cfg.state_dir, name != NULL ? "/" : "",
                 name != NULL ? name : "") < 0)
        return NULL;
    return path;
}

static char *socket_path(const struct hook *h, enum daemon_id id)
{
    cleanup_free char *name = NULL;

    if (asprintf(&name, "%s.sock", daemon_kinds[id].program) < 0)
        return NULL;
    return pool_path(h, name);
}

/* The descriptor limit a daemon spawned now for WANTED gets: the spawn raises both limits to
 * WANTED (lib/daemon/spawn.c), which fails above the hard limit without CAP_SYS_RESOURCE, and
 * then it keeps the hard limit. crun runs prestart hooks under the container's own rlimits
 * (RLIMIT_NOFILE 1024 in a default bundle): a spare spawned there has 1024, and on a host
 * whose root lacks CAP_SYS_RESOURCE so would a spawned daemon; asking for more would retire
 * every spare and make it anew at every container. The hook raises its own limit the same way,
 * which costs nothing: its children would be raised to it anyway. */
static unsigned long nofile_a_spawn_gets(unsigned long wanted)
{
    struct rlimit limit;

    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_max >= wanted)
        return wanted;
    limit.rlim_cur = wanted;
    limit.rlim_max = wanted;
    if (setrlimit(RLIMIT_NOFILE, &limit) == 0 || getrlimit(RLIMIT_NOFILE, &limit) < 0)
        return wanted;
    return limit.rlim_max;
}

/* Whether the spare on FD is what the hook would start now for SPEC: the same program from
 * the same file, as the same user, with the descriptor limit it needs. A package upgrade or a
 * changed admin configuration makes a pool stale. */
static int spare_matches(struct hook *h, enum daemon_id id, const struct dj_spawn *spec, int fd,
                         dj_error_t *err)
{
    struct dj_sparemsg_hello hello;
    struct stat st;
    uid_t uid;
    gid_t gid;

    if (dj_spare_hello(fd, &hello, err) < 0)
        return -1;
    if (stat(spec->path, &st) < 0)
        return dj_error_make(err, errno, "%s", spec->path);
    if (strcmp(hello.program, daemon_kinds[id].program) != 0 ||
        hello.exe_dev != (uint64_t)st.st_dev || hello.exe_ino != (uint64_t)st.st_ino)
        return dj_error_make(err, ESTALE, "the spare runs another %s than %s", hello.program,
                             spec->path);
    if (spec->nofile > 0 && hello.nofile < nofile_a_spawn_gets(spec->nofile))
        return dj_error_make(err, ESTALE, "the spare's descriptor limit is %llu, not %lu",
                             (unsigned long long)hello.nofile, nofile_a_spawn_gets(spec->nofile));
    if (daemon_ids(h, &uid, &gid, err) < 0)
        return -1;
    /* From the hello: SO_PEERCRED here would name whoever called listen(), the hook. */
    if (hello.uid != (uint64_t)uid || hello.gid != (uint64_t)gid)
        return dj_error_make(err, ESTALE, "the spare runs as another user");
    return 0;
}

/* A spare that answered but is not what we would start, or speaks another version. */
static bool is_stale(const struct dj_error_s *why)
{
    return why->errno_value == ESTALE || why->errno_value == EPROTO;
}

/* Tells a stale spare to exit, and removes its socket so that the next hook makes a new one. */
static void retire(int fd, const char *path)
{
    char msg[64];
    int len = dj_sparemsg_format_retire(msg, sizeof(msg));

    if (len > 0)
        dj_spare_send(fd, msg, (size_t)len, NULL, 0, NULL);
    unlink(path);
}

/* The assignment: SPEC's command line as option and descriptor pairs (start_daemon writes
 * nothing else there), the ready pipe's write end for its {READY_FD}. */
static int assignment(const struct dj_spawn *spec, int ready_write, struct dj_sparemsg_assign *a,
                      int *fds, dj_error_t *err)
{
    memset(a, 0, sizeof(*a));
    for (size_t i = 1; spec->argv[i] != NULL; i += 2) {
        const char *option = spec->argv[i], *value = spec->argv[i + 1];

        if (value == NULL)
            return dj_error_make(err, 0, "internal error: %s without a value", option);
        if (strcmp(option, "--container-id") == 0) {
            if (strlen(value) > DJ_SPAREMSG_MAX_ID)
                return dj_error_make(err, ENAMETOOLONG,
                                     "the container id is too long for a "
                                     "spare");
            strcpy(a->container_id, value);
            continue;
        }
        if (a->n_fds == DJ_SPAREMSG_MAX_FDS)
            return dj_error_make(err, E2BIG, "too many descriptors for a spare");
        fds[a->n_fds] = strcmp(option, "--ready-fd") == 0 ? ready_write : atoi(value);
        a->fds[a->n_fds].option = option;
        a->fds[a->n_fds].index = (unsigned)a->n_fds;
        a->n_fds++;
    }
    return 0;
}

int spare_assign(struct hook *h, enum daemon_id id, const struct dj_spawn *spec,
                 struct dj_spawning *s, dj_error_t *err)
{
    cleanup_free char *path = socket_path(h, id);
    cleanup_close int fd = -1;
    cleanup_close int ready_read = -1;
    cleanup_close int ready_write = -1;
    struct dj_sparemsg_assign a;
    int fds[DJ_SPAREMSG_MAX_FDS];
    char msg[DJ_SPAREMSG_MAX];
    int pipe_fds[2], len;

    if (path == NULL)
        return dj_error_make(err, ENOMEM, "spare path");
    fd = dj_spare_connect(path, HELLO_TIMEOUT_MS, err);
    if (fd < 0)
        return -1;
    if (spare_matches(h, id, spec, fd, err) < 0) {
        /* Only a spare that answered and is stale: a slow one (a burst on a busy host) stays
         * the pool's, and this jail alone spawns. */
        if (*err != NULL && is_stale(*err))
            retire(fd, path);
        return -1;
    }
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return dj_error_make(err, errno, "pipe");
    ready_read = pipe_fds[0];
    ready_write = pipe_fds[1];
    if (assignment(spec, ready_write, &a, fds, err) < 0 ||
        (len = dj_sparemsg_format_assign(&a, msg, sizeof(msg), err)) < 0 ||
        dj_spare_send(fd, msg, (size_t)len, fds, a.n_fds, err) < 0)
        return -1;
    /* From here the spare holds the pipe's only write end: its death is EOF. */
    close(steal_fd(&ready_write));
    /* Its pid is read when the hook waits for it, after the other daemons were handed
     * theirs. */
    return dj_spawn_expect_later(steal_fd(&ready_read), spec->path, spec->ready_timeout_ms, s, err);
}

/* Binds the pool's socket for ID anew and starts its spare, which nobody waits for. */
static int start_spare(struct hook *h, enum daemon_id id, const struct dj_spawn *daemon_spec,
                       const char *path, dj_error_t *err)
{
    cleanup_free char *pool = pool_path(h, NULL);
    cleanup_close int fd = -1;
    char fd_text[12], owner[12];
    const char *argv[10 + DJ_SPARE_TITLE_ROOM];
    struct dj_spawning s;
    struct dj_spawn spec = *daemon_spec;
    size_t n = 0;

    if (pool == NULL)
        return dj_error_make(err, ENOMEM, "spare pool");
    fd = dj_spare_listen(path, err);
    if (fd < 0)
        return -1;
    snprintf(fd_text, sizeof(fd_text), "%d", fd);
    snprintf(owner, sizeof(owner), "%u", (unsigned)geteuid());
    argv[n++] = daemon_kinds[id].program;
    argv[n++] = "--spare-fd";
    argv[n++] = fd_text;
    argv[n++] = "--spare-owner";
    argv[n++] = owner;
    argv[n++] = "--spare-pool";
    argv[n++] = pool;
    argv[n++] = "--ready-fd";
    argv[n++] = "{READY_FD}";
    for (size_t i = 0; i < DJ_SPARE_TITLE_ROOM; i++)
        argv[n++] = "";
    argv[n] = NULL;
    spec.argv = (char *const *)argv;
    spec.pass_fds = &fd;
    spec.n_pass_fds = 1;
    if (dj_spawn_start(&spec, &s, err) < 0)
        return -1;
    dj_spawn_release(&s);
    return 0;
}

/* Whether the runtime that ran the hook waits for every process the hook leaves behind. `crun
 * run` in the foreground is a child subreaper: it adopts the daemons the hook double-forks and
 * waits for all of them before it exits. A jail's daemons exit with the container; a spare
 * never would, and crun would hang. `crun run --detach` and `crun create` (podman's) do not
 * wait, nor does runc (a subreaper too). So: crun's command line with "run" and without
 * "-d"/"--detach" after it. Anything unreadable counts as waiting. */
static bool runtime_waits_for_orphans(void)
{
    char path[64], comm[32] = "", args[4096];
    cleanup_close int fd = -1;
    bool after_run = false;
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)getppid());
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || (n = read(fd, comm, sizeof(comm) - 1)) <= 0)
        return true;
    comm[n] = '\0';
    if (strcmp(comm, "crun\n") != 0)
        return false;
    close(steal_fd(&fd));
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)getppid());
    fd = open(path, O_RDONLY | O_CLOEXEC);
    /* A command line that does not fit is not parsed: waiting is the safe answer. */
    if (fd < 0 || (n = read(fd, args, sizeof(args))) <= 0 || (size_t)n == sizeof(args) ||
        args[n - 1] != '\0')
        return true;
    for (const char *arg = args; arg < args + n; arg += strlen(arg) + 1) {
        if (strcmp(arg, "run") == 0)
            after_run = true;
        else if (after_run && (strcmp(arg, "-d") == 0 || strcmp(arg, "--detach") == 0))
            return false;
    }
    return after_run;
}

void spares_refill(struct hook *h, const struct dj_spawn specs[N_DAEMONS])
{
    cleanup_free char *dir = pool_path(h, NULL);
    cleanup_free char *lock_path = pool_path(h, "lock");
    cleanup_close int lock_fd = -1;
    dj_error_t err = NULL;
    struct stat st;
    size_t started = 0;

    if (dir == NULL || lock_path == NULL)
        return;
    if (runtime_waits_for_orphans()) {
        log_event(h, "spares_unavailable",
                  "the runtime waits for every process the hook leaves (crun run in the "
                  "foreground): no spare pool");
        return;
    }
    /* Searchable, not listable, by the spares' user: an idle spare looks whether its socket is
     * still the pool's (lib/daemon/spare.c); the sockets themselves are the hook's user's only.
     * A state directory an older hook made 0700 would hide the pool from them: every jail would
     * spawn its daemons. */
    if (stat(h->cfg.state_dir, &st) == 0 && (st.st_mode & 0011) != 0011 &&
        chmod(h->cfg.state_dir, (st.st_mode & 07777) | 0011) < 0) {
        dj_error_make(&err, errno, "chmod %s", h->cfg.state_dir);
        goto out;
    }
    if ((mkdir(dir, 0711) < 0 && errno != EEXIST) || chmod(dir, 0711) < 0) {
        dj_error_make(&err, errno, "mkdir %s", dir);
        goto out;
    }
    lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock_fd < 0 || flock(lock_fd, LOCK_EX) < 0) {
        dj_error_make(&err, errno, "%s", lock_path);
        goto out;
    }
    for (size_t i = 0; i < N_DAEMONS; i++) {
        cleanup_free char *path = socket_path(h, (enum daemon_id)i);
        cleanup_close int fd = -1;

        if (path == NULL)
            continue;
        /* Another hook may have made it since we looked: a good spare stays (closing after its
         * hello sends it back to waiting). */
        fd = dj_spare_connect(path, HELLO_TIMEOUT_MS, NULL);
        if (fd >= 0) {
            dj_error_t why = NULL;
            bool stale;

            if (spare_matches(h, (enum daemon_id)i, &specs[i], fd, &why) == 0)
                continue;
            stale = why != NULL && is_stale(why);
            dj_error_release(&why);
            if (!stale)
                continue; /* there, only slow: it stays */
            retire(fd, path);
        }
        if (start_spare(h, (enum daemon_id)i, &specs[i], path, &err) < 0)
            goto out;
        started++;
    }
    if (started > 0)
        log_event(h, "spares_started", NULL);
out:
    if (err != NULL) {
        log_event(h, "spares_unavailable", dj_error_msg(&err));
        dj_error_release(&err);
    }
}
