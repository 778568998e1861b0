/* daemons.c: the jail's daemons: what each is handed (sockets and other descriptors on the
 * command line, every setting in one configuration memfd, lib/daemon/daemonconf.h), starting them,
 * stopping them, and forgetting jails whose daemons and processes are gone. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "jail/control.h"
#include "daemon/daemonconf.h"
#include "daemon/sparemsg.h"
#include "hook.h"
#include "trace.h"
#include "daemon/sandbox.h"
#include "daemon/spawn.h"

const struct daemon_kind daemon_kinds[N_DAEMONS] = {
    [DAEMON_STUB] = {"dnsstub", "dnsjail-dnsstub"},
    [DAEMON_PROXY] = {"proxy", "dnsjail-proxy"},
};

/* "ZONE=UP|UP ZONE=UP", the daemons' forward setting; NULL when there are no zones. */
static int forward_setting(const struct hook *h, char **out, dj_error_t *err)
{
    size_t total = 1;
    char *p;

    *out = NULL;
    if (h->policy.forward.n == 0)
        return 0;
    for (size_t i = 0; i < h->policy.forward.n; i++)
        total += strlen(h->policy.forward.zones[i].name) +
                 strlen(h->policy.forward.zones[i].upstreams) + 2;
    p = *out = malloc(total);
    if (p == NULL)
        return dj_error_make(err, ENOMEM, "forward zones");
    for (size_t i = 0; i < h->policy.forward.n; i++)
        p += sprintf(p, "%s%s=%s", i > 0 ? " " : "", h->policy.forward.zones[i].name,
                     h->policy.forward.zones[i].upstreams);
    return 0;
}

/* A daemon's command line: descriptors, and --container-id, which names whose daemon a process
 * is in ps and pgrep. Every setting travels in the configuration (lib/daemon/daemonconf.h). Numbers
 * are printed into NUMBERS, which must outlive ARGV. */
struct daemon_args {
    /* the program, --container-id, --ready-fd, the descriptors (as many as a spare takes:
     * container-dns adds CDNS_SOCKETS), NULL */
    const char *argv[6 + 2 * DJ_SPAREMSG_MAX_FDS];
    size_t argc;
    char numbers[DJ_SPAREMSG_MAX_FDS][12];
    size_t n_numbers;
    int pass[DJ_SPAREMSG_MAX_FDS];
    size_t n_pass;
};

static void arg(struct daemon_args *a, const char *option, const char *value)
{
    if (a->argc + 3 > sizeof(a->argv) / sizeof(a->argv[0]))
        abort(); /* a programming error: the descriptors below are a fixed set */
    a->argv[a->argc++] = option;
    if (value != NULL)
        a->argv[a->argc++] = value;
    a->argv[a->argc] = NULL;
}

static void arg_fd(struct daemon_args *a, const char *option, int fd)
{
    if (a->n_pass == sizeof(a->pass) / sizeof(a->pass[0]) ||
        a->n_numbers == sizeof(a->numbers) / sizeof(a->numbers[0]))
        abort();
    a->pass[a->n_pass++] = fd;
    snprintf(a->numbers[a->n_numbers], sizeof(a->numbers[0]), "%d", fd);
    arg(a, option, a->numbers[a->n_numbers++]);
}

/* One KEY line for each item of a config list (separated by commas or blanks). */
static int conf_list(struct dj_daemonconf *c, enum dj_daemonconf_key key, const char *list,
                     dj_error_t *err)
{
    cleanup_free char *copy = strdup(list);
    char *save = NULL;

    if (copy == NULL)
        return dj_error_make(err, ENOMEM, "%s", dj_daemonconf_key_name(key));
    for (char *item = strtok_r(copy, ", \t", &save); item != NULL;
         item = strtok_r(NULL, ", \t", &save))
        dj_daemonconf_set(c, key, item);
    return 0;
}

/* The proxy's rules travel in a sealed memfd rather than on the command line: an allow list
 * can be longer than one argument may be, and /proc/PID/cmdline is readable by everyone. */
static int policy_memfd(struct hook *h, dj_error_t *err)
{
    cleanup_free char *canonical = dj_policy_canonical(&h->policy);
    cleanup_close int fd = -1;
    const char *rules;
    size_t len;

    if (canonical == NULL)
        return dj_error_make(err, ENOMEM, "policy");
    /* "mode=M [forward=...] allow=RULES": the part after " allow=" is itself a valid allow
     * value (no forward entry holds a blank). */
    rules = strstr(canonical, " allow=");
    rules = rules != NULL ? rules + strlen(" allow=") : "";
    len = strlen(rules);
    fd = memfd_create("dnsjail-policy", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return dj_error_make(err, errno, "memfd_create");
    if (write(fd, rules, len) != (ssize_t)len)
        return dj_error_make(err, errno, "writing the policy");
    if (lseek(fd, 0, SEEK_SET) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
        return dj_error_make(err, errno, "sealing the policy");
    return steal_fd(&fd);
}

/* What both daemons are told: the log's limits, the metrics' label, the system log's format. */
static void conf_common(const struct hook *h, struct dj_daemonconf *c)
{
    dj_daemonconf_set_uint(c, DJ_DC_LOG_RATE, h->cfg.log_rate);
    dj_daemonconf_set_uint(c, DJ_DC_LOG_BURST, h->cfg.log_burst);
    if (h->metrics_fd >= 0)
        dj_daemonconf_set(c, DJ_DC_NETNS_KEY, h->netns_key);
    if (h->system_log_fd >= 0)
        dj_daemonconf_set(c, DJ_DC_SYSTEM_LOG_FORMAT,
                          h->system_log_format == DJ_SYSTEM_LOG_JOURNAL ? "journal" : "syslog");
}

/* Both daemons: the pools, so each computes the same slot addresses (the map is a descriptor). */
static void conf_virtual(const struct hook *h, struct dj_daemonconf *c)
{
    dj_daemonconf_set(c, DJ_DC_VIRTUAL_IPV4, h->cfg.virtual_ipv4);
    dj_daemonconf_set(c, DJ_DC_VIRTUAL_IPV6, h->cfg.virtual_ipv6);
    dj_daemonconf_set_uint(c, DJ_DC_VIRTUAL_MAX_NAMES, h->cfg.virtual_max_names);
}

static void conf_stub(const struct hook *h, struct dj_daemonconf *c, const char *forward)
{
    char sinkhole4[INET_ADDRSTRLEN], sinkhole6[INET6_ADDRSTRLEN];

    inet_ntop(AF_INET, &h->cfg.sinkhole4, sinkhole4, sizeof(sinkhole4));
    dj_daemonconf_set(c, DJ_DC_SINKHOLE_IPV4, sinkhole4);
    if (h->cfg.have_sinkhole6) {
        inet_ntop(AF_INET6, &h->cfg.sinkhole6, sinkhole6, sizeof(sinkhole6));
        dj_daemonconf_set(c, DJ_DC_SINKHOLE_IPV6, sinkhole6);
    }
    dj_daemonconf_set_uint(c, DJ_DC_TTL, h->cfg.dns_ttl);
    if (forward != NULL)
        dj_daemonconf_set(c, DJ_DC_FORWARD, forward);
    if (h->policy.mode == DJ_MODE_AUDIT) {
        dj_daemonconf_flag(c, DJ_DC_AUDIT);
        dj_daemonconf_set(c, DJ_DC_AUDIT_UPSTREAM, h->audit_upstreams);
    }
    if (h->cfg.container_dns != NULL && h->cfg.container_dns_names != NULL)
        dj_daemonconf_set(c, DJ_DC_CONTAINER_DNS_NAMES, h->cfg.container_dns_names);
    if (forward != NULL || h->policy.mode == DJ_MODE_AUDIT || h->cfg.container_dns != NULL) {
        dj_daemonconf_set_uint(c, DJ_DC_FORWARD_CACHE_ENTRIES, h->cfg.forward_cache_entries);
        dj_daemonconf_set_uint(c, DJ_DC_FORWARD_TTL_FLOOR, h->cfg.forward_ttl_floor);
        dj_daemonconf_set_uint(c, DJ_DC_FORWARD_TTL_CEILING, h->cfg.forward_ttl_ceiling);
        dj_daemonconf_set_uint(c, DJ_DC_FORWARD_RATE, h->cfg.forward_rate);
        dj_daemonconf_set_uint(c, DJ_DC_FORWARD_BURST, h->cfg.forward_burst);
    }
    if (h->virt.on)
        conf_virtual(h, c);
}

static int conf_proxy(const struct hook *h, struct dj_daemonconf *c, const char *forward,
                      dj_error_t *err)
{
    /* The hook has judged every rule already (a "*" can come from the admin's own allow key);
     * the proxy only has to read them back. */
    dj_daemonconf_flag(c, DJ_DC_ALLOW_WILDCARD_ALL);
    if (h->policy.mode == DJ_MODE_AUDIT)
        dj_daemonconf_flag(c, DJ_DC_AUDIT);
    if (h->cfg.upstream_resolvers != NULL &&
        conf_list(c, DJ_DC_RESOLVER, h->cfg.upstream_resolvers, err) < 0)
        return -1;
    if (h->cfg.upstream_allow != NULL &&
        conf_list(c, DJ_DC_UPSTREAM_ALLOW, h->cfg.upstream_allow, err) < 0)
        return -1;
    /* A name inside a forward zone is the zone's: the proxy resolves it there too, so that a
     * name:port rule inside a zone reaches what the zone says the name is. */
    if (forward != NULL)
        dj_daemonconf_set(c, DJ_DC_FORWARD, forward);
    dj_daemonconf_set_uint(c, DJ_DC_MAX_CONNECTIONS, h->cfg.proxy_max_connections);
    if (h->virt.on)
        conf_virtual(h, c);
    return 0;
}

/* How daemon ID is started, whether spawned or a spare: everything but its command line and
 * descriptors. PATH is malloc'd into *PATH. */
static int daemon_spec(const struct hook *h, enum daemon_id id, struct dj_spawn *spec, char **path,
                       dj_error_t *err)
{
    memset(spec, 0, sizeof(*spec));
    if (asprintf(path, "%s/%s", h->cfg.libexec_dir, daemon_kinds[id].program) < 0) {
        *path = NULL;
        return dj_error_make(err, ENOMEM, "daemon path");
    }
    spec->path = *path;
    /* Rootless: the namespace's other uids are the user's subordinate ids, not users the admin
     * chose; the daemons keep the rootless user's uid and lose every capability
     * (lib/daemon/spawn.c). */
    spec->user = h->rootless.active ? NULL : h->cfg.run_as_user;
    spec->ready_timeout_ms = h->cfg.ready_timeout_ms;
    /* The proxy holds up to six descriptors per connection (two sockets, two pipes) and a
     * fixed set besides; the stub's needs fit the default. */
    spec->nofile = id == DAEMON_PROXY ? 6ul * h->cfg.proxy_max_connections + 2048 : 0;
    return 0;
}

/* Starts daemon ID: hands its descriptors to the waiting spare when TRY_SPARE and one takes
 * them (*BY_SPARE true), else spawns it; why no spare did goes to *NO_SPARE, when that is
 * still empty. */
static int start_daemon(struct hook *h, enum daemon_id id, const struct listeners *l, int pidfd,
                        int control_fd, struct dj_spawning *spawning, bool try_spare,
                        bool *by_spare, dj_error_t *no_spare, dj_error_t *err)
{
    const struct daemon_kind *kind = &daemon_kinds[id];
    cleanup_free char *path = NULL;
    cleanup_free char *forward = NULL;
    cleanup_close int policy_fd = -1;
    cleanup_close int config_fd = -1;
    cleanup_daemonconf struct dj_daemonconf conf = {NULL, 0, 0, false};
    struct daemon_args a;
    struct dj_spawn spec;

    memset(&a, 0, sizeof(a));
    *by_spare = false;
    if (daemon_spec(h, id, &spec, &path, err) < 0)
        return -1;
    if (forward_setting(h, &forward, err) < 0)
        return -1;
    arg(&a, kind->program, NULL);
    arg(&a, "--container-id", h->state.id);
    for (size_t i = 0; i < l->n; i++)
        arg_fd(&a, l->options[i], l->fds[i]);
    arg_fd(&a, "--watch-pidfd", pidfd);
    arg_fd(&a, "--control-fd", control_fd);
    if (h->log_fd >= 0)
        arg_fd(&a, "--log-fd", h->log_fd);
    if (h->system_log_fd >= 0)
        arg_fd(&a, "--system-log-fd", h->system_log_fd);
    arg(&a, "--ready-fd", "{READY_FD}");
    if (h->metrics_fd >= 0)
        arg_fd(&a, "--metrics-fd", h->metrics_fd);
    dj_daemonconf_init(&conf);
    conf_common(h, &conf);
    switch (id) {
    case DAEMON_STUB:
        conf_stub(h, &conf, forward);
        if (h->virt.on || h->policy.mode == DJ_MODE_AUDIT) {
            policy_fd = policy_memfd(h, err);
            if (policy_fd < 0)
                return -1;
            arg_fd(&a, "--policy-fd", policy_fd);
            if (h->virt.on)
                arg_fd(&a, "--virtual-map-fd", h->virt.map_fd);
        }
        break;
    case DAEMON_PROXY:
        policy_fd = policy_memfd(h, err);
        if (policy_fd < 0 || conf_proxy(h, &conf, forward, err) < 0)
            return -1;
        arg_fd(&a, "--policy-fd", policy_fd);
        if (h->virt.on)
            arg_fd(&a, "--virtual-map-fd", h->virt.map_ro_fd);
        break;
    case N_DAEMONS:
        break;
    }
    config_fd = dj_daemonconf_memfd(&conf, err);
    if (config_fd < 0)
        return -1;
    arg_fd(&a, "--config-fd", config_fd);

    spec.argv = (char *const *)a.argv;
    spec.pass_fds = a.pass;
    spec.n_pass_fds = a.n_pass;
    if (try_spare) {
        dj_error_t why = NULL;

        if (spare_assign(h, id, &spec, spawning, &why) == 0) {
            *by_spare = true;
            return 0;
        }
        if (*no_spare == NULL) {
            dj_error_wrap(&why, "%s", kind->name);
            *no_spare = why;
        } else {
            dj_error_release(&why);
        }
    }
    return dj_spawn_start(&spec, spawning, err);
}

/* Whether PID runs daemon ID's program. */
static bool is_daemon(pid_t pid, enum daemon_id id)
{
    cleanup_free char *expected = NULL;
    char path[64], exe[4096];
    ssize_t n;

    if (asprintf(&expected, "/%s", daemon_kinds[id].program) < 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    return strstr(exe, expected) != NULL;
}

/* Kills a daemon that no longer answers on its control socket, if the pid is still one. */
static void kill_stale_daemon(struct dj_state *st, const char *key, enum daemon_id id)
{
    pid_t pid = dj_state_ns_read_pid(st, key, daemon_kinds[id].name);

    if (pid > 0 && is_daemon(pid, id))
        kill(pid, SIGKILL);
}

/* The daemons of a jail whose last member has exited and whose namespace dies with it: they
 * watch the members' pidfds and exit on their own (lib/daemon/ctlserve.c), so nothing is asked
 * of them. Each one still running is waited for on its pidfd, up to DAEMON_EXIT_GRACE_MS, and
 * killed if it is still there then (a daemon that stopped watching must not outlive its jail).
 * Usually both have exited before poststop runs and this is one pidfd_open each. */
#define DAEMON_EXIT_GRACE_MS 1000

void let_daemons_go(struct dj_state *st, const char *key)
{
    struct pollfd fds[N_DAEMONS];
    size_t n = 0;

    for (size_t i = 0; i < N_DAEMONS; i++) {
        pid_t pid = dj_state_ns_read_pid(st, key, daemon_kinds[i].name);
        int fd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;

        /* Checked after the pidfd pins the pid, so the pid cannot be another's by now. */
        if (fd >= 0 && !is_daemon(pid, (enum daemon_id)i)) {
            close(fd);
            fd = -1;
        }
        if (fd >= 0)
            fds[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
    }
    for (size_t i = 0; i < n; i++) {
        int r;

        do
            r = poll(&fds[i], 1, DAEMON_EXIT_GRACE_MS);
        while (r < 0 && errno == EINTR);
        if (r <= 0)
            syscall(SYS_pidfd_send_signal, fds[i].fd, SIGKILL, NULL, 0);
        close(fds[i].fd);
    }
}

/* Asks every daemon of the jail to quit and waits until each has; kills those that do not
 * answer. */
void stop_daemons(struct dj_state *st, const char *key)
{
    for (size_t i = 0; i < N_DAEMONS; i++) {
        cleanup_free char *control = dj_state_ns_control_path(st, key, daemon_kinds[i].name);

        if (control == NULL || dj_control_quit(control, CONTROL_TIMEOUT_MS, NULL) < 0)
            kill_stale_daemon(st, key, (enum daemon_id)i);
    }
}

/* Whether the namespace KEY still holds a process the jail must keep closed: anything in it
 * but its bystanders (there before the jail) and EXCLUDE (a newcomer's init, or 0). Asked of
 * the namespace itself, not of the records, which a crash or a lost poststop can leave
 * wrong. The daemons are not counted: they run in the hook's namespace, never in this one.
 * When the namespace cannot be read, the answer is yes: the table stays. *FIRST gets one such
 * pid, for the log. */
bool ns_holds_jailed(struct dj_state *st, const char *key, pid_t exclude, pid_t *first)
{
    cleanup_free struct dj_proc_id *procs = NULL;
    cleanup_free struct dj_proc_id *bystanders = NULL;
    size_t n_procs = 0, n_bystanders = 0;
    dev_t dev;
    ino_t ino;

    if (first != NULL)
        *first = 0;
    if (dj_state_netns_key_parse(key, &dev, &ino) < 0 ||
        dj_proc_netns_list(dev, ino, &procs, &n_procs, NULL) < 0)
        return true;
    dj_state_ns_read_bystanders(st, key, &bystanders, &n_bystanders);
    for (size_t i = 0; i < n_procs; i++) {
        if (procs[i].pid == exclude || dj_proc_in(&procs[i], bystanders, n_bystanders))
            continue;
        if (first != NULL)
            *first = procs[i].pid;
        return true;
    }
    return false;
}

/* A jail whose daemons do not all answer either has no process left to jail (the daemons exit
 * when the last container they watch exits) or lost a daemon while its members run (killed,
 * out of memory, a bug). The first kind is forgotten, with every container record that
 * points to it; its table stays (a namespace without processes sends nothing). The second is
 * kept as it is: its table still sends DNS and web traffic to ports nobody serves, so its
 * members stay closed, and the next container that joins the namespace repairs it
 * (repair_jail). DATA points to the pid of the container being started, not a member yet. */
struct gc_data {
    const char *dead_key;
};

static void gc_container(struct dj_state *st, const char *id, void *data)
{
    struct gc_data *gc = data;
    struct dj_container_record rec;
    bool found = false;

    if (dj_state_read_container(st, id, &rec, &found, NULL) < 0 || !found)
        return;
    if (strcmp(rec.netns_key, gc->dead_key) == 0)
        dj_state_remove_container(st, id);
    dj_container_record_free(&rec);
}

bool jail_alive(struct dj_state *st, const char *key)
{
    for (size_t i = 0; i < N_DAEMONS; i++) {
        cleanup_free char *control = dj_state_ns_control_path(st, key, daemon_kinds[i].name);

        if (control == NULL || dj_control_ping(control, 500, NULL) < 0)
            return false;
    }
    return true;
}

void forget_jail(struct dj_state *st, const char *key)
{
    struct gc_data gc = {key};

    stop_daemons(st, key);
    dj_state_container_foreach(st, gc_container, &gc);
    dj_state_ns_remove(st, key);
}

/* The running jail's daemons: their listeners in the namespace are ours, not foreign. The
 * pid files are current: the daemons just answered on their control sockets. */
void note_jail_daemons(struct hook *h, struct dj_state *st, const char *key)
{
    h->n_jail_daemons = 0;
    for (size_t i = 0; i < N_DAEMONS; i++) {
        pid_t pid = dj_state_ns_read_pid(st, key, daemon_kinds[i].name);

        if (pid > 0 && h->n_jail_daemons < sizeof(h->jail_daemons) / sizeof(h->jail_daemons[0]))
            h->jail_daemons[h->n_jail_daemons++] = pid;
    }
}

void gc_namespace(struct dj_state *st, const char *key, void *data)
{
    if (!jail_alive(st, key) && !ns_holds_jailed(st, key, *(const pid_t *)data, NULL))
        forget_jail(st, key);
}

int daemon_ids(struct hook *h, uid_t *uid, gid_t *gid, dj_error_t *err)
{
    if (!h->daemon_ids_known) {
        /* Rootless daemons keep our own uid (see start_daemon). */
        h->daemon_uid = geteuid();
        h->daemon_gid = getegid();
        if (!h->rootless.active && geteuid() == 0 &&
            dj_sandbox_lookup_user(h->cfg.run_as_user, &h->daemon_uid, &h->daemon_gid, err) < 0)
            return -1;
        h->daemon_ids_known = true;
    }
    *uid = h->daemon_uid;
    *gid = h->daemon_gid;
    return 0;
}

/* The daemons' metrics directory. Numbers are not worth a refused container: without the
 * directory the daemons just write none, and the log says why. */
static void open_metrics_dir(struct hook *h, struct dj_state *st, const char *key)
{
    dj_error_t err = NULL;
    uid_t uid;
    gid_t gid;

    /* The daemons' owner: rootless, that is us, and the directory stays ours. */
    if (daemon_ids(h, &uid, &gid, &err) < 0 ||
        (h->metrics_fd = dj_state_ns_metrics_dir(st, key, uid, gid, &err)) < 0) {
        h->metrics_fd = -1;
        log_event(h, "metrics_unavailable", dj_error_msg(&err));
        dj_error_release(&err);
        return;
    }
    h->netns_key = key;
}

static void close_metrics_dir(struct hook *h)
{
    if (h->metrics_fd >= 0)
        close(h->metrics_fd);
    h->metrics_fd = -1;
    h->netns_key = NULL;
}

/* Replaces the spare pool after a jail found it missing or stale (hook/spares.c). */
static void refill_spares(struct hook *h)
{
    struct dj_spawn specs[N_DAEMONS];
    char *paths[N_DAEMONS] = {NULL};
    size_t n = 0;

    for (; n < N_DAEMONS; n++)
        if (daemon_spec(h, (enum daemon_id)n, &specs[n], &paths[n], NULL) < 0)
            break;
    if (n == N_DAEMONS)
        spares_refill(h, specs);
    for (size_t i = 0; i < N_DAEMONS; i++)
        free(paths[i]);
}

/* Starts every daemon of the jail KEY on its LISTENERS (closed here, the daemons have their
 * own copies), watching PIDFD, and records their pids. Each is a spare's when the pool has one,
 * else spawned; a spare that fails before it is ready is replaced by a spawned daemon on the
 * same descriptors (which the hook keeps until then). Every daemon is started before any is
 * waited for: they set up at the same time, and the container waits for the slowest, not for
 * the sum. On failure the caller stops what started (stop_daemons). */
int launch_daemons(struct hook *h, struct dj_state *st, const char *key,
                   struct listeners *listeners, int pidfd, dj_error_t *err)
{
    struct dj_spawning spawning[N_DAEMONS];
    int control_fds[N_DAEMONS];
    bool by_spare[N_DAEMONS] = {false};
    dj_error_t no_spare = NULL;
    size_t started = 0;
    int r = -1;

    for (size_t i = 0; i < N_DAEMONS; i++) {
        spawning[i] = (struct dj_spawning){.ready_fd = -1, .pid = -1};
        control_fds[i] = -1;
    }
    open_logs(h); /* the daemons log through the same descriptors */
    open_metrics_dir(h, st, key);
    trace_mark("logs_metrics_open");
    for (; started < N_DAEMONS; started++) {
        const char *name = daemon_kinds[started].name;
        cleanup_free char *control_path = dj_state_ns_control_path(st, key, name);

        if (control_path == NULL) {
            dj_error_make(err, ENOMEM, "control path");
            goto out;
        }
        control_fds[started] = dj_control_listen(control_path, err);
        if (control_fds[started] < 0 ||
            start_daemon(h, (enum daemon_id)started, &listeners[started], pidfd,
                         control_fds[started], &spawning[started], true, &by_spare[started],
                         &no_spare, err) < 0)
            goto out;
    }
    trace_mark("daemons_assign");
    for (size_t i = 0; i < N_DAEMONS; i++) {
        pid_t pid = 0;

        if (dj_spawn_wait(&spawning[i], &pid, err) < 0) {
            if (!by_spare[i])
                goto out;
            /* The spare died or failed on the way: this jail gets a spawned daemon. */
            if (no_spare == NULL) {
                no_spare = *err;
                dj_error_wrap(&no_spare, "%s", daemon_kinds[i].name);
            } else {
                dj_error_release(err);
            }
            *err = NULL;
            if (start_daemon(h, (enum daemon_id)i, &listeners[i], pidfd, control_fds[i],
                             &spawning[i], false, &by_spare[i], &no_spare, err) < 0 ||
                dj_spawn_wait(&spawning[i], &pid, err) < 0)
                goto out;
        }
        if (dj_state_ns_write_pid(st, key, daemon_kinds[i].name, pid, err) < 0)
            goto out;
    }
    trace_mark("daemons_wait");
    if (no_spare == NULL)
        log_event(h, "spares_assigned", NULL);
    r = 0;
out:
    close_metrics_dir(h);
    for (size_t i = 0; i < N_DAEMONS; i++) {
        dj_spawn_abandon(&spawning[i]);
        listeners_close(&listeners[i]);
        if (control_fds[i] >= 0)
            close(control_fds[i]);
    }
    if (no_spare != NULL) {
        log_event(h, "spare_unavailable", dj_error_msg(&no_spare));
        dj_error_release(&no_spare);
        /* Off the path of none but this container, which has its daemons: the next one finds
         * the pool. */
        if (r == 0)
            refill_spares(h);
    }
    return r;
}
