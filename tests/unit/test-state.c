/* test-state.c: the jail's records on disk (lib/jail/state.c) through every life of a
 * shared network namespace. The hook decides (jail_start, jail_stop, its garbage collection);
 * these tests drive the records through the same sequences of dj_state_* calls it makes, with
 * real processes as the members' inits, and check what each step leaves:
 *   - members of a pod joining in every order and leaving in every order: only the last
 *     leaver sees 0 remaining, the namespace state goes with it, the pod's bystanders and a
 *     second pod's records are never touched;
 *   - one member crashing (its process gone, its records left) at every position of every
 *     leave order: no later leaver sees 0, a collection pass finds the dead record by its
 *     init and only it, the jail's forgetting removes only its own containers' records, and
 *     the crashed member's late poststop finds nothing;
 *   - the global lock, the record formats and the removal that never follows a link.
 * tests/e2e/pod.sh runs two stop orders end to end; the other orders are covered here. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail/state.h"
#include "jail/proc.h"

#define N_MEMBERS 3
#define POD_KEY "11-22"
#define OTHER_KEY "11-99"
#define POLICY "mode=enforce allow=example.com"

/* A member's init: a child blocked on a pipe until it is told to exit or is killed. */
struct member {
    char id[16];
    pid_t pid;
    int release_fd;
    struct dj_proc_id init;
};

struct pod {
    char dir[32];
    struct dj_state st;
    struct member m[N_MEMBERS];
    struct member bystander; /* the pod's infra container: in the namespace, not a member */
    struct member other;     /* the one member of a second pod, which must stay untouched */
};

static void member_start(struct member *m, const char *id)
{
    int pipefd[2];
    char c;

    assert_true(strlen(id) < sizeof(m->id));
    strcpy(m->id, id);
    assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    m->pid = fork();
    assert_true(m->pid >= 0);
    if (m->pid == 0) {
        /* Only this member's read end: another member's write end held here would keep that
         * member from ever seeing its end. */
        for (int fd = 3; fd < 1024; fd++)
            if (fd != pipefd[0])
                close(fd);
        _exit(read(pipefd[0], &c, 1) < 0);
    }
    close(pipefd[0]);
    m->release_fd = pipefd[1];
    assert_int_equal(dj_proc_identify(m->pid, &m->init), 0);
}

/* A clean exit (RELEASE) or a crash (SIGKILL); either way the process is reaped. */
static void member_end(struct member *m, bool crash)
{
    int status;

    if (m->pid <= 0)
        return;
    if (crash)
        kill(m->pid, SIGKILL);
    close(m->release_fd);
    assert_int_equal(waitpid(m->pid, &status, 0), m->pid);
    if (crash)
        assert_true(WIFSIGNALED(status));
    m->pid = 0;
}

/* What the hook's prestart does with the records: the first member creates the namespace's
 * state, the others find the same policy and add themselves. */
static void join(struct pod *p, const char *key, const struct member *m)
{
    struct dj_container_record rec = {(char *)key, (char *)"/run/netns/pod", false};
    dj_error_t err = NULL;
    char *policy = NULL;

    assert_int_equal(dj_state_ns_read_policy(&p->st, key, &policy, &err), 0);
    if (policy == NULL)
        assert_int_equal(dj_state_ns_create(&p->st, key, POLICY, &err), 0);
    else
        assert_string_equal(policy, POLICY);
    free(policy);
    assert_int_equal(dj_state_ns_add_member(&p->st, key, m->id, &m->init, &err), 0);
    assert_int_equal(dj_state_write_container(&p->st, m->id, &rec, &err), 0);
}

/* What the hook's poststop does: -1 when the container has no record (nothing to do), else
 * how many members remain; at 0 the namespace's state goes. */
static long leave(struct pod *p, const char *id)
{
    struct dj_container_record rec;
    dj_error_t err = NULL;
    bool found = true;
    size_t left;

    assert_int_equal(dj_state_read_container(&p->st, id, &rec, &found, &err), 0);
    if (!found)
        return -1;
    left = dj_state_ns_remove_member(&p->st, rec.netns_key, id);
    if (left == 0)
        dj_state_ns_remove(&p->st, rec.netns_key);
    dj_state_remove_container(&p->st, id);
    dj_container_record_free(&rec);
    return (long)left;
}

struct seen {
    const struct pod *p;
    unsigned mask;   /* bit i: member i listed */
    unsigned others; /* listed ids that are none of the members */
    unsigned dead;   /* bit i: member i listed with an init that is gone */
};

static void see_member(struct dj_state *st, const char *key, const char *id,
                       const struct dj_proc_id *init, void *data)
{
    struct seen *s = data;

    (void)st;
    (void)key;
    for (size_t i = 0; i < N_MEMBERS; i++) {
        if (strcmp(id, s->p->m[i].id) != 0)
            continue;
        assert_int_equal(init->pid, s->p->m[i].init.pid);
        assert_true(init->start == s->p->m[i].init.start);
        s->mask |= 1u << i;
        if (!dj_proc_same(init))
            s->dead |= 1u << i;
        return;
    }
    s->others++;
}

static struct seen members_of(struct pod *p, const char *key)
{
    struct seen s = {p, 0, 0, 0};

    dj_state_ns_member_foreach(&p->st, key, see_member, &s);
    return s;
}

/* The hook's collection of a jail being repaired: a member whose init is gone loses its
 * record; *(unsigned *)DATA counts them. */
static void collect_dead(struct dj_state *st, const char *key, const char *id,
                         const struct dj_proc_id *init, void *data)
{
    if (init->pid > 0 && dj_proc_same(init))
        return;
    dj_state_ns_remove_member(st, key, id);
    (*(unsigned *)data)++;
}

/* The hook's forgetting of a dead jail: every container record that points to it, then its
 * namespace state. */
static void forget_if_pod(struct dj_state *st, const char *id, void *data)
{
    struct dj_container_record rec;
    bool found = false;

    if (dj_state_read_container(st, id, &rec, &found, NULL) < 0 || !found)
        return;
    if (strcmp(rec.netns_key, (const char *)data) == 0)
        dj_state_remove_container(st, id);
    dj_container_record_free(&rec);
}

static bool container_recorded(struct pod *p, const char *id)
{
    struct dj_container_record rec;
    dj_error_t err = NULL;
    bool found = false;

    assert_int_equal(dj_state_read_container(&p->st, id, &rec, &found, &err), 0);
    if (found)
        dj_container_record_free(&rec);
    return found;
}

static bool ns_recorded(struct pod *p, const char *key)
{
    dj_error_t err = NULL;
    char *policy = NULL;
    bool found;

    assert_int_equal(dj_state_ns_read_policy(&p->st, key, &policy, &err), 0);
    found = policy != NULL;
    free(policy);
    return found;
}

static void count_entry(struct dj_state *st, const char *name, void *data)
{
    (void)st;
    (void)name;
    (*(size_t *)data)++;
}

static size_t n_namespaces(struct pod *p)
{
    size_t n = 0;

    dj_state_ns_foreach(&p->st, count_entry, &n);
    return n;
}

static size_t n_containers(struct pod *p)
{
    size_t n = 0;

    dj_state_container_foreach(&p->st, count_entry, &n);
    return n;
}

/* A state directory with the second pod jailed, and the bystander of the first recorded
 * before any member (as the hook records what was in the namespace before its jail). */
static void pod_open(struct pod *p)
{
    dj_error_t err = NULL;

    memset(p, 0, sizeof(*p));
    strcpy(p->dir, "/tmp/test-state-XXXXXX");
    assert_non_null(mkdtemp(p->dir));
    assert_int_equal(dj_state_open(&p->st, p->dir, &err), 0);
    member_start(&p->other, "other");
    join(p, OTHER_KEY, &p->other);
    member_start(&p->bystander, "infra");
}

static void pod_start_members(struct pod *p, const int *order)
{
    dj_error_t err = NULL;
    char id[16];

    for (size_t i = 0; i < N_MEMBERS; i++) {
        snprintf(id, sizeof(id), "m%zu", i);
        member_start(&p->m[i], id);
    }
    for (size_t k = 0; k < N_MEMBERS; k++) {
        struct seen s;

        join(p, POD_KEY, &p->m[order[k]]);
        if (k == 0)
            assert_int_equal(
                dj_state_ns_write_bystanders(&p->st, POD_KEY, &p->bystander.init, 1, &err), 0);
        s = members_of(p, POD_KEY);
        assert_int_equal(__builtin_popcount(s.mask), k + 1);
        assert_int_equal(s.others, 0);
        assert_int_equal(s.dead, 0);
    }
}

/* The bystander is still recorded as such, and the second pod is as it was. */
static void assert_untouched(struct pod *p, bool pod_alive)
{
    struct dj_proc_id *by = NULL;
    size_t n = 0;

    dj_state_ns_read_bystanders(&p->st, POD_KEY, &by, &n);
    assert_int_equal(n, pod_alive ? 1 : 0);
    if (pod_alive)
        assert_true(dj_proc_in(&p->bystander.init, by, n));
    free(by);
    assert_true(ns_recorded(p, OTHER_KEY));
    assert_true(container_recorded(p, "other"));
}

static void pod_close(struct pod *p)
{
    for (size_t i = 0; i < N_MEMBERS; i++)
        member_end(&p->m[i], false);
    assert_int_equal(leave(p, "other"), 0);
    member_end(&p->other, false);
    member_end(&p->bystander, false);
    assert_int_equal(n_namespaces(p), 0);
    assert_int_equal(n_containers(p), 0);
    dj_state_close(&p->st);
    {
        static const char *const leaves[] = {"lock", "containers", "netns"};
        char path[sizeof(p->dir) + 16];

        for (size_t i = 0; i < 3; i++) {
            snprintf(path, sizeof(path), "%s/%s", p->dir, leaves[i]);
            assert_int_equal(i == 0 ? unlink(path) : rmdir(path), 0);
        }
    }
    assert_int_equal(rmdir(p->dir), 0); /* nothing else was left behind */
}

/* The next permutation of ORDER in lexical order; false after the last. */
static bool next_order(int *order, size_t n)
{
    size_t i = n - 1, j = n - 1;

    while (i > 0 && order[i - 1] >= order[i])
        i--;
    if (i == 0)
        return false;
    while (order[j] <= order[i - 1])
        j--;
    int t = order[i - 1];
    order[i - 1] = order[j];
    order[j] = t;
    for (j = n - 1; i < j; i++, j--) {
        t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    return true;
}

static void test_every_join_and_leave_order(void **unused)
{
    int join_order[N_MEMBERS] = {0, 1, 2};
    size_t rounds = 0;

    (void)unused;
    do {
        int leave_order[N_MEMBERS] = {0, 1, 2};

        do {
            struct pod p;
            unsigned present = (1u << N_MEMBERS) - 1;

            pod_open(&p);
            pod_start_members(&p, join_order);
            for (size_t k = 0; k < N_MEMBERS; k++) {
                struct member *m = &p.m[leave_order[k]];
                long left;

                assert_untouched(&p, true);
                member_end(m, false); /* the runtime runs poststop after the exit */
                left = leave(&p, m->id);
                present &= ~(1u << leave_order[k]);
                assert_int_equal(left, N_MEMBERS - k - 1);
                assert_false(container_recorded(&p, m->id));
                if (left > 0) {
                    struct seen s = members_of(&p, POD_KEY);

                    assert_int_equal(s.mask, present);
                    assert_int_equal(s.dead, 0);
                    assert_true(ns_recorded(&p, POD_KEY));
                }
                /* A second poststop of the same container finds nothing to do. */
                assert_int_equal(leave(&p, m->id), -1);
            }
            assert_false(ns_recorded(&p, POD_KEY));
            assert_int_equal(n_namespaces(&p), 1);
            assert_int_equal(n_containers(&p), 1);
            assert_untouched(&p, false);
            /* A member after the last one left creates the jail again. */
            member_start(&p.m[0], "late");
            join(&p, POD_KEY, &p.m[0]);
            assert_true(ns_recorded(&p, POD_KEY));
            member_end(&p.m[0], false);
            assert_int_equal(leave(&p, "late"), 0);
            pod_close(&p);
            rounds++;
        } while (next_order(leave_order, N_MEMBERS));
    } while (next_order(join_order, N_MEMBERS));
    assert_int_equal(rounds, 36); /* 3! join orders times 3! leave orders */
}

/* In every leave order, the member at each position crashes instead of leaving: its poststop
 * never runs (or runs late). Its record then holds the count above 0, which is why the hook
 * asks the namespace itself before keeping a jail and collects records by their inits. */
static void test_a_member_crashes(void **unused)
{
    int order[N_MEMBERS] = {0, 1, 2};
    size_t rounds = 0;

    (void)unused;
    do {
        for (size_t crash_at = 0; crash_at < N_MEMBERS; crash_at++) {
            const int join_order[N_MEMBERS] = {0, 1, 2};
            struct member *crashed = NULL;
            unsigned collected = 0;
            struct pod p;
            struct seen s;

            pod_open(&p);
            pod_start_members(&p, join_order);
            for (size_t k = 0; k < N_MEMBERS; k++) {
                struct member *m = &p.m[order[k]];

                if (k == crash_at) {
                    member_end(m, true);
                    crashed = m;
                    s = members_of(&p, POD_KEY);
                    assert_int_equal(s.dead, 1u << order[k]); /* only it, by its init */
                    continue;
                }
                member_end(m, false);
                /* Never 0 while the crashed record stays: no leaver tears the jail down. */
                assert_int_equal(leave(&p, m->id), N_MEMBERS - k - (k > crash_at ? 0 : 1));
            }
            assert_non_null(crashed);
            assert_true(ns_recorded(&p, POD_KEY));
            assert_true(container_recorded(&p, crashed->id));
            s = members_of(&p, POD_KEY);
            assert_int_equal(s.mask, 1u << (unsigned)(crashed - p.m));
            assert_int_equal(s.dead, s.mask);
            assert_untouched(&p, true);

            /* Collection (repair_jail): the dead record goes, a living one would stay. */
            dj_state_ns_member_foreach(&p.st, POD_KEY, collect_dead, &collected);
            assert_int_equal(collected, 1);
            assert_int_equal(members_of(&p, POD_KEY).mask, 0);
            /* Forgetting the dead jail (the next prestart's garbage collection) takes its
             * containers' records and its state, nothing of the other pod. */
            dj_state_container_foreach(&p.st, forget_if_pod, (void *)POD_KEY);
            dj_state_ns_remove(&p.st, POD_KEY);
            assert_false(ns_recorded(&p, POD_KEY));
            assert_false(container_recorded(&p, crashed->id));
            assert_untouched(&p, false);
            /* The crashed container's poststop, run at last, finds nothing. */
            assert_int_equal(leave(&p, crashed->id), -1);
            assert_int_equal(n_namespaces(&p), 1);
            pod_close(&p);
            rounds++;
        }
    } while (next_order(order, N_MEMBERS));
    assert_int_equal(rounds, 18);
}

/* A member crashes and the jail is repaired while the others run: the collection takes the
 * dead record only, a living member's record whose pid was reused is taken too (its start
 * time differs), and the crashed member's late poststop does not lower the living count. */
static void test_repair_keeps_the_living(void **unused)
{
    const int join_order[N_MEMBERS] = {0, 1, 2};
    struct dj_proc_id reused;
    dj_error_t err = NULL;
    unsigned collected = 0;
    struct pod p;
    struct seen s;

    (void)unused;
    pod_open(&p);
    pod_start_members(&p, join_order);
    member_end(&p.m[1], true);
    /* A record naming a living pid with another start time: a pid that was reused. */
    reused = p.m[2].init;
    reused.start++;
    assert_int_equal(dj_state_ns_add_member(&p.st, POD_KEY, "reused", &reused, &err), 0);
    assert_int_equal(dj_state_ns_add_member(&p.st, POD_KEY, "no-init", NULL, &err), 0);
    s = members_of(&p, POD_KEY);
    assert_int_equal(s.others, 2);
    assert_int_equal(s.dead, 1u << 1);

    dj_state_ns_member_foreach(&p.st, POD_KEY, collect_dead, &collected);
    assert_int_equal(collected, 3); /* the crashed one, the reused pid, the unknown init */
    s = members_of(&p, POD_KEY);
    assert_int_equal(s.mask, (1u << 0) | (1u << 2));
    assert_int_equal(s.others, 0);
    assert_int_equal(leave(&p, p.m[1].id), 2); /* late poststop: the count stays at 2 */
    assert_untouched(&p, true);
    member_end(&p.m[0], false);
    assert_int_equal(leave(&p, p.m[0].id), 1);
    member_end(&p.m[2], false);
    assert_int_equal(leave(&p, p.m[2].id), 0);
    assert_false(ns_recorded(&p, POD_KEY));
    pod_close(&p);
}

/* Hook runs of a pod's containers are serialised by the one lock. */
static void test_lock_serialises_hook_runs(void **unused)
{
    char dir[] = "/tmp/test-state-XXXXXX";
    char lock[sizeof(dir) + 16];
    struct dj_state st = {NULL, -1};
    dj_error_t err = NULL;
    int ready[2], release[2], fd, status;
    pid_t child;
    char c;

    (void)unused;
    assert_non_null(mkdtemp(dir));
    snprintf(lock, sizeof(lock), "%s/lock", dir);
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        struct dj_state cst = {NULL, -1};

        close(ready[0]);
        close(release[1]);
        if (dj_state_open(&cst, dir, NULL) < 0 || write(ready[1], "x", 1) != 1)
            _exit(1);
        _exit(read(release[0], &c, 1) < 0);
    }
    close(ready[1]);
    close(release[0]);
    assert_int_equal(read(ready[0], &c, 1), 1);
    fd = open(lock, O_RDWR | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), -1);
    assert_int_equal(errno, EWOULDBLOCK);
    close(release[1]); /* the child's hook run ends */
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
    assert_int_equal(flock(fd, LOCK_UN), 0);
    close(fd);
    assert_int_equal(dj_state_open(&st, dir, &err), 0);
    dj_state_close(&st);
    assert_int_equal(unlink(lock), 0);
    snprintf(lock, sizeof(lock), "%s/netns", dir);
    assert_int_equal(rmdir(lock), 0);
    snprintf(lock, sizeof(lock), "%s/containers", dir);
    assert_int_equal(rmdir(lock), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* A state directory the hook makes is searchable by the spares' unprivileged user (their pool
 * is below it) and listable by nobody else; the jails' records stay the hook's user's. */
static void test_new_state_dir_modes(void **unused)
{
    char parent[] = "/tmp/test-state-XXXXXX";
    char dir[sizeof(parent) + 16], sub[sizeof(parent) + 32];
    struct dj_state st = {NULL, -1};
    dj_error_t err = NULL;
    struct stat sb;
    mode_t old_umask = umask(022);

    (void)unused;
    assert_non_null(mkdtemp(parent));
    snprintf(dir, sizeof(dir), "%s/state", parent);
    assert_int_equal(dj_state_open(&st, dir, &err), 0);
    dj_state_close(&st);
    umask(old_umask);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0711);
    snprintf(sub, sizeof(sub), "%s/containers", dir);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    assert_int_equal(rmdir(sub), 0);
    snprintf(sub, sizeof(sub), "%s/netns", dir);
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    assert_int_equal(rmdir(sub), 0);
    snprintf(sub, sizeof(sub), "%s/lock", dir);
    assert_int_equal(unlink(sub), 0);
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(rmdir(parent), 0);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* The container record (with and without a namespace path, damaged), the daemons' pid and
 * control files, and the key of a namespace. */
static void test_records(void **unused)
{
    struct dj_container_record rec = {(char *)POD_KEY, NULL, false}, back;
    struct dj_netns ns = {-1, 8, 4026531840};
    struct pod p;
    dj_error_t err = NULL;
    char path[64], *s;
    bool found = false;
    dev_t dev;
    ino_t ino;

    (void)unused;
    pod_open(&p);
    s = dj_state_netns_key(&ns);
    assert_string_equal(s, "8-4026531840");
    assert_int_equal(dj_state_netns_key_parse(s, &dev, &ino), 0);
    assert_true(dev == 8 && ino == 4026531840);
    free(s);

    assert_int_equal(dj_state_write_container(&p.st, "plain", &rec, &err), 0);
    assert_int_equal(dj_state_read_container(&p.st, "plain", &back, &found, &err), 0);
    assert_true(found);
    assert_string_equal(back.netns_key, POD_KEY);
    assert_null(back.netns_path); /* no path: the namespace goes with its container */
    assert_false(back.own_pidns);
    dj_container_record_free(&back);
    dj_state_remove_container(&p.st, "plain");

    rec.own_pidns = true;
    assert_int_equal(dj_state_write_container(&p.st, "own-pidns", &rec, &err), 0);
    assert_int_equal(dj_state_read_container(&p.st, "own-pidns", &back, &found, &err), 0);
    assert_true(found && back.own_pidns);
    dj_container_record_free(&back);
    dj_state_remove_container(&p.st, "own-pidns");
    rec.own_pidns = false;

    /* An older hook's record says nothing of the pid namespace: not its own (the scan runs). */
    snprintf(path, sizeof(path), "%s/containers/older", p.dir);
    write_text(path, "netns-key=" POD_KEY "\nnetns-path=\n");
    assert_int_equal(dj_state_read_container(&p.st, "older", &back, &found, &err), 0);
    assert_true(found);
    assert_false(back.own_pidns);
    dj_container_record_free(&back);
    dj_state_remove_container(&p.st, "older");

    snprintf(path, sizeof(path), "%s/containers/damaged", p.dir);
    write_text(path, "netns-path=/run/netns/x\n");
    assert_int_equal(dj_state_read_container(&p.st, "damaged", &back, &found, &err), -1);
    assert_false(found);
    assert_non_null(strstr(dj_error_msg(&err), "damaged record"));
    dj_error_release(&err);
    err = NULL;
    dj_state_remove_container(&p.st, "damaged");

    assert_int_equal(dj_state_ns_create(&p.st, POD_KEY, POLICY, &err), 0);
    assert_int_equal(dj_state_ns_read_pid(&p.st, POD_KEY, "dnsstub"), 0); /* none yet */
    assert_int_equal(dj_state_ns_write_pid(&p.st, POD_KEY, "dnsstub", 4321, &err), 0);
    assert_int_equal(dj_state_ns_write_pid(&p.st, POD_KEY, "dnsjail-proxy", 99, &err), 0);
    assert_int_equal(dj_state_ns_read_pid(&p.st, POD_KEY, "dnsstub"), 4321);
    assert_int_equal(dj_state_ns_read_pid(&p.st, POD_KEY, "dnsjail-proxy"), 99);
    snprintf(path, sizeof(path), "%s/netns/%s/dnsstub.pid", p.dir, POD_KEY);
    write_text(path, "4194304\n"); /* above pid_max: not a pid to kill */
    assert_int_equal(dj_state_ns_read_pid(&p.st, POD_KEY, "dnsstub"), 0);
    write_text(path, "-1\n");
    assert_int_equal(dj_state_ns_read_pid(&p.st, POD_KEY, "dnsstub"), 0);
    s = dj_state_ns_control_path(&p.st, POD_KEY, "dnsstub");
    snprintf(path, sizeof(path), "%s/netns/%s/dnsstub.control", p.dir, POD_KEY);
    assert_string_equal(s, path);
    free(s);
    /* A member's record without an init is listed with pid 0, one with a damaged line too. */
    assert_int_equal(dj_state_ns_add_member(&p.st, POD_KEY, "x", NULL, &err), 0);
    snprintf(path, sizeof(path), "%s/netns/%s/members/y", p.dir, POD_KEY);
    write_text(path, "0 12\n");
    assert_int_equal(members_of(&p, POD_KEY).others, 2);
    assert_int_equal(dj_state_ns_remove_member(&p.st, POD_KEY, "nobody"), 2);
    dj_state_ns_remove(&p.st, POD_KEY);
    assert_int_equal(dj_state_ns_remove_member(&p.st, POD_KEY, "x"), 0); /* state gone */
    pod_close(&p);
}

/* A policy longer than a record (a long allow list) reads back whole: a reader cut at 8 KiB
 * once made a pod's second member see a different policy and be refused as a conflict. */
static void test_long_policy_reads_back_whole(void **unused)
{
    const size_t len = 100 * 1024;
    char *policy = malloc(len + 1), *back = NULL;
    struct pod p;
    dj_error_t err = NULL;

    (void)unused;
    assert_non_null(policy);
    for (size_t i = 0; i < len; i++)
        policy[i] = i % 64 == 63 ? ',' : (char)('a' + i % 26);
    policy[len] = '\0';
    pod_open(&p);
    assert_int_equal(dj_state_ns_create(&p.st, POD_KEY, policy, &err), 0);
    assert_int_equal(dj_state_ns_read_policy(&p.st, POD_KEY, &back, &err), 0);
    assert_non_null(back);
    assert_int_equal(strlen(back), len);
    assert_string_equal(back, policy);
    free(back);
    dj_state_ns_remove(&p.st, POD_KEY);
    pod_close(&p);
    free(policy);
}

/* The metrics directory belongs to the daemons' user: a link planted there is removed, never
 * followed, when the jail's state goes. */
static void test_remove_never_follows_links(void **unused)
{
    char outside[] = "/tmp/test-state-out-XXXXXX";
    char path[128], target[sizeof(outside) + 8];
    dj_error_t err = NULL;
    struct stat sb;
    struct pod p;
    int fd;

    (void)unused;
    assert_non_null(mkdtemp(outside));
    snprintf(target, sizeof(target), "%s/keep", outside);
    write_text(target, "keep\n");
    pod_open(&p);
    assert_int_equal(dj_state_ns_create(&p.st, POD_KEY, POLICY, &err), 0);
    fd = dj_state_ns_metrics_dir(&p.st, POD_KEY, geteuid(), getegid(), &err);
    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0755);
    assert_int_equal(symlinkat(outside, fd, "dir-link"), 0);
    assert_int_equal(symlinkat(target, fd, "file-link"), 0);
    assert_int_equal(mkdirat(fd, "sub", 0755), 0);
    close(fd);
    dj_state_ns_remove(&p.st, POD_KEY);
    snprintf(path, sizeof(path), "%s/netns/%s", p.dir, POD_KEY);
    assert_int_equal(lstat(path, &sb), -1);
    assert_int_equal(stat(target, &sb), 0); /* the outside file is still there */
    assert_int_equal(unlink(target), 0);
    assert_int_equal(rmdir(outside), 0);
    pod_close(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_join_and_leave_order),
        cmocka_unit_test(test_a_member_crashes),
        cmocka_unit_test(test_repair_keeps_the_living),
        cmocka_unit_test(test_lock_serialises_hook_runs),
        cmocka_unit_test(test_new_state_dir_modes),
        cmocka_unit_test(test_records),
        cmocka_unit_test(test_long_policy_reads_back_whole),
        cmocka_unit_test(test_remove_never_follows_links),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
