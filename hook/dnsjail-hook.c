/* dnsjail-hook: the OCI hook. The only dnsjail program that runs with privileges, and it
 * runs only for as long as the runtime waits for it.
 *
 * prestart/createRuntime: read the state, decide whether and how to jail, enter the
 * container's network namespace, bind the stub's sockets and install the nftables table
 * there, come back, and start dnsjail-dnsstub (unprivileged, detached) to serve them.
 * poststop: undo what prestart did for that container; never fails the teardown. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "jail/adminconf.h"
#include "base/cleanup.h"
#include "jail/control.h"
#include "daemon/ctlserve.h"
#include "base/error.h"
#include "jail/state.h"
#include "daemon/jsonlog.h"
#include "jail/netns.h"
#include "jail/nft.h"
#include "jail/proc.h"
#include "jail/oci.h"
#include "jail/policy.h"
#include "dns/resolver.h"
#include "jail/rootless.h"
#include "daemon/sandbox.h"
#include "jail/sockdiag.h"
#include "jail/sockmount.h"
#include "daemon/spawn.h"
#include "jail/vaddr.h"

#define DEFAULT_CONFIG DJ_SYSCONFDIR "/dnsjail.conf"
#define CONTROL_TIMEOUT_MS 2000

enum stage { STAGE_START, STAGE_STOP };

/* Virtual addresses (lib/jail/vaddr.h), on when a host rule of the policy names a port. */
struct hook_virtual {
    bool on;
    struct dj_vaddr_pool pool;
    struct dj_nft_network pools[2]; /* the same, for the ruleset */
    int map_fd;                     /* read-write, for the stub; -1 until created */
    int map_ro_fd;                  /* a read-only reopen of it, for the proxy */
};

struct hook {
    struct dj_adminconf cfg;
    struct oci_state state;
    struct oci_bundle bundle;
    struct dj_policy policy;
    struct dj_nft_network *networks; /* the policy's address rules, for the ruleset */
    size_t n_networks;
    int log_fd;
    int system_log_fd; /* journald or syslog socket (system-log), or -1 */
    enum dj_system_log_format system_log_format;
    int metrics_fd;              /* while starting daemons: their metrics directory, or -1 */
    const char *netns_key;       /* ... and the jail's key for their labels */
    struct dj_rootless rootless; /* under rootless podman: per-user paths, keep our uid */
    struct hook_virtual virt;
    char *audit_upstreams; /* audit mode: "UP|UP" the stub resolves every other name with */
    struct dj_nft_endpoint *blocked; /* servers held from outside the namespace, closed off */
    size_t n_blocked;
    pid_t jail_daemons[4]; /* joining: the running jail's daemons, whose listeners are ours */
    size_t n_jail_daemons;
};

static void usage(FILE *out)
{
    fprintf(out, "Usage: dnsjail-hook [--config FILE] STAGE\n"
                 "OCI hook that jails a container's DNS and egress. STAGE is prestart,\n"
                 "createRuntime or poststop; the runtime passes the OCI state on stdin.\n"
                 "\n"
                 "  --config FILE  admin configuration (default " DEFAULT_CONFIG ")\n"
                 "  --help         this text\n"
                 "  --version      the version\n"
                 "\n"
                 "Annotations read from the container:\n"
                 "  io.dnsjail.enable=true|false   jail it (default: the config's default-enable)\n"
                 "  io.dnsjail.mode=enforce|audit  audit: nothing blocked, would_block logged\n"
                 "  io.dnsjail.allow=RULES         hosts the container may reach, separated by\n"
                 "                                 commas or spaces:\n"
                 "      example.com                that host on ports 80 and 443\n"
                 "      *.example.com              any name below example.com (not itself)\n"
                 "      example.com:8443           that host on port 8443 only\n"
                 "      192.0.2.7  203.0.113.0/24:443  [2001:db8::1]:443   addresses and networks\n"
                 "  io.dnsjail.forward=ZONES        zones whose names the DNS stub forwards to a\n"
                 "                                 real resolver (within the config's\n"
                 "                                 annotation-forward-within)\n"
                 "See docs/POLICY.md for the whole grammar.\n");
}

static int read_all(int fd, size_t max, char **out, size_t *out_len, const char *what,
                    dj_error_t *err)
{
    cleanup_free char *buf = malloc(max + 1);
    size_t len = 0;

    if (buf == NULL)
        return dj_error_make(err, ENOMEM, "reading %s", what);
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dj_error_make(err, errno, "reading %s", what);
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > max)
            return dj_error_make(err, 0, "%s is larger than %zu bytes", what, max);
    }
    buf[len] = '\0';
    *out = steal_ptr(&buf);
    *out_len = len;
    return 0;
}

static int read_bundle(struct hook *h, dj_error_t *err)
{
    cleanup_free char *path = NULL;
    cleanup_free char *text = NULL;
    cleanup_close int fd = -1;
    size_t len;

    if (asprintf(&path, "%s/config.json", h->state.bundle) < 0)
        return dj_error_make(err, ENOMEM, "config.json");
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dj_error_make(err, errno, "open %s", path);
    if (read_all(fd, OCI_CONFIG_MAX_BYTES, &text, &len, path, err) < 0)
        return -1;
    if (oci_bundle_parse(text, len, &h->bundle, err) < 0)
        return dj_error_wrap(err, "%s", path);
    return 0;
}

static void open_log(struct hook *h)
{
    cleanup_free char *dir_copy = strdup(h->cfg.log_file);

    h->log_fd = -1;
    if (dir_copy == NULL)
        return;
    if (mkdir(dirname(dir_copy), 0750) < 0 && errno != EEXIST)
        return;
    h->log_fd = open(h->cfg.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
}

/* One JSON line for the admin's log: what the hook decided for which container. The hook
 * writes a handful of lines per container, so it is not rate-limited. */
static void log_event(struct hook *h, const char *event, const char *detail)
{
    char buf[DJ_JSON_LINE_MAX];
    struct dj_json line;
    struct timespec now;
    size_t len;

    if (h->log_fd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    dj_json_begin(&line, buf, sizeof(buf));
    dj_json_add_time(&line, "time", &now);
    dj_json_add_cstring(&line, "event", event);
    dj_json_add_cstring(&line, "container", h->state.id);
    if (detail != NULL)
        dj_json_add_cstring(&line, "detail", detail);
    len = dj_json_end(&line);
    dj_system_log_send(buf, len);
    if (len > 0 && write(h->log_fd, buf, len) < 0)
        return; /* a full disk must not fail the container */
}

/* The system log that system-log names: "auto" tries journald's socket, then /dev/log;
 * neither there is no error (the log file has everything). A socket named explicitly that
 * cannot be reached is recorded in the log file, and the container still starts: a missing
 * log must not stop a jail. */
static void open_system_log(struct hook *h)
{
    static const struct {
        enum dj_system_log_format format;
        const char *prefix, *path;
    } autos[] = {
        {DJ_SYSTEM_LOG_JOURNAL, "journal:", "/run/systemd/journal/socket"},
        {DJ_SYSTEM_LOG_SYSLOG, "syslog:", "/dev/log"},
    };
    const char *value = h->cfg.system_log;

    h->system_log_fd = -1;
    for (size_t i = 0; i < sizeof(autos) / sizeof(autos[0]); i++) {
        size_t prefix_len = strlen(autos[i].prefix);
        bool explicit = strncmp(value, autos[i].prefix, prefix_len) == 0;
        const char *path = explicit ? value + prefix_len : autos[i].path;
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        int fd;

        if (!explicit && strcmp(value, "auto") != 0)
            continue;
        if (strlen(path) >= sizeof(sun.sun_path))
            continue;
        memcpy(sun.sun_path, path, strlen(path) + 1);
        fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            h->system_log_fd = fd;
            h->system_log_format = autos[i].format;
            dj_system_log_init(fd, autos[i].format, "dnsjail-hook", h->state.id);
            return;
        }
        if (fd >= 0)
            close(fd);
        if (explicit) {
            char detail[PATH_MAX + 64];

            snprintf(detail, sizeof(detail), "system-log %s: %s", value, strerror(errno));
            log_event(h, "system_log_unavailable", detail);
            return;
        }
    }
}

/* Records in the admin's log why a container was refused; returns -1 for the caller. */
static int logged_refusal(struct hook *h, dj_error_t *err)
{
    log_event(h, "jail_refused", dj_error_msg(err));
    return -1;
}

/* Refuses what could undo the jail from inside: CAP_NET_ADMIN can delete our table,
 * CAP_NET_RAW can send frames that netfilter's output hooks never see. allow-cap-net-raw
 * polices AF_PACKET frames, not AF_XDP ones: those stay refused until the admin accepts them. */
static int check_capabilities(struct hook *h, dj_error_t *err)
{
    if ((h->bundle.caps_any & (1ULL << CAP_NET_ADMIN)) && !h->cfg.allow_cap_net_admin) {
        dj_error_make(err, 0,
                      "container %s holds CAP_NET_ADMIN, which could remove the jail; drop it "
                      "(e.g. --cap-drop NET_ADMIN) or set allow-cap-net-admin in the config",
                      h->state.id);
        return logged_refusal(h, err);
    }
    if ((h->bundle.caps_any & (1ULL << CAP_NET_RAW)) && !h->cfg.allow_cap_net_raw) {
        dj_error_make(err, 0,
                      "container %s holds CAP_NET_RAW, whose raw packets bypass the jail; drop "
                      "it (e.g. --cap-drop NET_RAW) or set allow-cap-net-raw in the config",
                      h->state.id);
        return logged_refusal(h, err);
    }
    if ((h->bundle.caps_any & (1ULL << CAP_NET_RAW)) && !h->cfg.allow_af_xdp &&
        dj_nft_af_xdp_available()) {
        dj_error_make(err, 0,
                      "container %s holds CAP_NET_RAW and this kernel has AF_XDP sockets, whose "
                      "frames leave below the jail even with allow-cap-net-raw; drop it (e.g. "
                      "--cap-drop NET_RAW) or also set allow-af-xdp in the config to accept that",
                      h->state.id);
        return logged_refusal(h, err);
    }
    return 0;
}

/* ---- the jail's daemons ------------------------------------------------------------------ */

/* Every jail runs these, each with sockets the hook binds in the container's namespace, a
 * control socket and a pid file in the namespace's state. The stub comes first: a jail whose
 * stub answers is alive. */
enum daemon_id { DAEMON_STUB, DAEMON_PROXY, N_DAEMONS };

struct daemon_kind {
    const char *name;    /* in state file names and log lines */
    const char *program; /* in libexec-dir */
};

static const struct daemon_kind daemon_kinds[N_DAEMONS] = {
    [DAEMON_STUB] = {"dnsstub", "dnsjail-dnsstub"},
    [DAEMON_PROXY] = {"proxy", "dnsjail-proxy"},
};

#define MAX_LISTENERS 6

/* A daemon's listening sockets and the option that hands each one over. */
struct listeners {
    int fds[MAX_LISTENERS];
    const char *options[MAX_LISTENERS];
    size_t n;
};

static void listeners_close(struct listeners *l)
{
    for (size_t i = 0; i < l->n; i++)
        close(l->fds[i]);
    l->n = 0;
}

/* Binds TYPE on the container's 127.0.0.1 and ::1 at PORT, handed over with OPTION. IPv6
 * loopback is optional: a namespace without IPv6 has no ::1, and no IPv6 traffic to catch. */
static int bind_pair(struct listeners *l, int type, uint16_t port, const char *option,
                     dj_error_t *err)
{
    static const int families[] = {AF_INET, AF_INET6};

    for (size_t f = 0; f < 2; f++) {
        dj_error_t sub = NULL;
        int fd = dj_netns_bind_loopback(families[f], type, port, &sub);

        if (fd < 0) {
            if (families[f] == AF_INET6 &&
                (sub->errno_value == EADDRNOTAVAIL || sub->errno_value == EAFNOSUPPORT)) {
                dj_error_release(&sub);
                continue;
            }
            *err = sub;
            return -1;
        }
        if (l->n == MAX_LISTENERS) {
            close(fd);
            return dj_error_make(err, 0, "internal error: too many listeners");
        }
        l->fds[l->n] = fd;
        l->options[l->n] = option;
        l->n++;
    }
    return 0;
}

static int bind_listeners(struct hook *h, enum daemon_id id, struct listeners *l, dj_error_t *err)
{
    l->n = 0;
    switch (id) {
    case DAEMON_STUB:
        if (bind_pair(l, SOCK_DGRAM, h->cfg.dns_port, "--inherit-udp", err) < 0 ||
            bind_pair(l, SOCK_STREAM, h->cfg.dns_port, "--inherit-tcp", err) < 0)
            goto fail;
        return 0;
    case DAEMON_PROXY:
        if (bind_pair(l, SOCK_STREAM, h->cfg.proxy_http_port, "--inherit-http", err) < 0 ||
            bind_pair(l, SOCK_STREAM, h->cfg.proxy_tls_port, "--inherit-tls", err) < 0)
            goto fail;
        if ((h->virt.on || h->policy.mode == DJ_MODE_AUDIT) &&
            bind_pair(l, SOCK_STREAM, h->cfg.proxy_virtual_port, "--inherit-virtual", err) < 0)
            goto fail;
        return 0;
    case N_DAEMONS:
        break;
    }
    return dj_error_make(err, 0, "internal error: unknown daemon");
fail:
    listeners_close(l);
    return -1;
}

/* Runs FN inside NS on a thread of its own, which ends with FN. A network namespace belongs to
 * a thread, so this thread never leaves the namespace it started in: no way back is needed,
 * which matters under rootless podman, where the hook may enter the container's namespace (its
 * user namespace owns it) but not re-enter the host's (the initial user namespace owns that).
 * Sockets made by FN keep the container's namespace and are shared with the whole process.
 * HOST is the namespace the caller is in, kept to check that this is still so. */
struct ns_call {
    const struct dj_netns *ns;
    int (*fn)(struct hook *, void *, dj_error_t *);
    struct hook *h;
    void *data;
    dj_error_t *err;
    int result;
};

static void *ns_call_thread(void *arg)
{
    struct ns_call *call = arg;

    call->result =
        dj_netns_enter(call->ns, call->err) < 0 ? -1 : call->fn(call->h, call->data, call->err);
    return NULL;
}

static int in_namespace(const struct dj_netns *ns, const struct dj_netns *host,
                        int (*fn)(struct hook *, void *, dj_error_t *), struct hook *h, void *data,
                        dj_error_t *err)
{
    struct ns_call call = {ns, fn, h, data, err, -1};
    pthread_t thread;
    int r;

    (void)host;
    r = pthread_create(&thread, NULL, ns_call_thread, &call);
    if (r != 0)
        return dj_error_make(err, r, "starting a thread to enter the container's namespace");
    r = pthread_join(thread, NULL);
    if (r != 0) {
        /* The thread may still be running in the container's namespace: stop here. */
        fprintf(stderr, "dnsjail: cannot wait for the namespace thread: %s\n", strerror(r));
        _exit(1);
    }
    return call.result;
}

/* What the ruleset must say for this container's policy. */
static struct dj_nft_spec nft_spec(const struct hook *h)
{
    struct dj_nft_spec spec = {
        .dns_port = h->cfg.dns_port,
        .http_port = h->cfg.proxy_http_port,
        .tls_port = h->cfg.proxy_tls_port,
        .networks = h->networks,
        .n_networks = h->n_networks,
        .inbound_udp = h->cfg.allow_inbound_udp,
    };

    if (h->virt.on) {
        spec.virtual_port = h->cfg.proxy_virtual_port;
        spec.virtual_pools = h->virt.pools;
        spec.n_virtual_pools = 2;
    }
    if (h->policy.mode == DJ_MODE_AUDIT) {
        spec.audit = true;
        spec.virtual_port = h->cfg.proxy_virtual_port;
    }
    return spec;
}

/* In the container's namespace: where the admin allows CAP_NET_RAW, every jail polices raw
 * frames (so a pod whose first member lacks the capability is covered for the next one). */
static int raw_policing(const struct hook *h, struct dj_nft_spec *spec, struct dj_nft_raw *raw,
                        dj_error_t *err)
{
    if (!h->cfg.allow_cap_net_raw)
        return 0;
    if (dj_nft_raw_prepare(raw, err) < 0)
        return -1;
    spec->raw = raw;
    return 0;
}

/* One line in the admin's log for what the netdev table cannot stop and allow-af-xdp accepted
 * (docs/DESIGN.md): each jail that runs with that open says so. */
static void note_raw_limits(struct hook *h)
{
    if (!(h->bundle.caps_any & (1ULL << CAP_NET_RAW)) || !dj_nft_af_xdp_available())
        return;
    log_event(h, "raw_frames_limit",
              "the container holds CAP_NET_RAW and this kernel has AF_XDP sockets, whose frames "
              "leave below the jail's egress policing (allow-af-xdp accepts that); drop NET_RAW "
              "to close it");
}

/* Whether the socket with INODE is one of the listeners we bound for the daemons. */
static bool is_our_listener(const struct listeners *ours, uint64_t inode)
{
    for (size_t d = 0; ours != NULL && d < N_DAEMONS; d++) {
        for (size_t i = 0; i < ours[d].n; i++) {
            struct stat st;

            if (fstat(ours[d].fds[i], &st) == 0 && (uint64_t)st.st_ino == inode)
                return true;
        }
    }
    return false;
}

/* What the ruleset rejects for server S. */
static struct dj_nft_endpoint blocked_endpoint(const struct dj_sockdiag_socket *s)
{
    struct dj_nft_endpoint e = {.family = s->family, .l4proto = s->protocol, .port = s->port};

    e.any_local = dj_sockdiag_any_address(s);
    memcpy(e.addr, s->addr, sizeof(e.addr));
    /* An IPv6 wildcard without IPV6_V6ONLY takes IPv4 as well. */
    if (e.any_local && s->family == AF_INET6 && !s->v6only)
        e.family = AF_UNSPEC;
    return e;
}

/* Servers in the container's namespace that only processes outside it hold (Docker's embedded
 * DNS, any helper that binds there and serves from outside) would answer the container from
 * outside the jail. Each is closed off in SPEC (foreign-sockets = block), left open when
 * allow-foreign-socket names it, or refuses the container (refuse); each is logged. Runs in
 * the container's namespace. OURS: the listeners just bound for the daemons; on a join the
 * running jail's daemons (h->jail_daemons) hold theirs. What a process adds later is not
 * seen (docs/DESIGN.md, threat model). */
static int close_off_foreign_sockets(struct hook *h, const struct listeners *ours,
                                     struct dj_nft_spec *spec, dj_error_t *err)
{
    struct dj_sockdiag_list list;
    struct stat ns;
    size_t kept = 0;
    int r = -1;

    free(h->blocked);
    h->blocked = NULL;
    h->n_blocked = 0;
    if (dj_sockdiag_list_servers(&list, err) < 0)
        return dj_error_wrap(err, "listing the sockets in the network namespace of container %s",
                             h->state.id);
    /* Ours are dropped first: with none left (a new namespace), /proc is not scanned. */
    for (size_t i = 0; i < list.n; i++)
        if (!is_our_listener(ours, list.v[i].inode))
            list.v[kept++] = list.v[i];
    list.n = kept;
    if (list.n == 0) {
        r = 0;
        goto out;
    }
    if (stat("/proc/thread-self/ns/net", &ns) < 0) {
        dj_error_make(err, errno, "cannot identify the container's network namespace");
        goto out;
    }
    if (dj_sockdiag_find_holders(&list, "/proc", ns.st_dev, ns.st_ino, h->jail_daemons,
                                 h->n_jail_daemons, err) < 0)
        goto out;
    h->blocked = calloc(list.n, sizeof(*h->blocked));
    if (h->blocked == NULL) {
        dj_error_make(err, ENOMEM, "foreign sockets");
        goto out;
    }
    for (size_t i = 0; i < list.n; i++) {
        const struct dj_sockdiag_socket *s = &list.v[i];
        char where[DJ_SOCKDIAG_ENDPOINT_TEXT], detail[DJ_SOCKDIAG_ENDPOINT_TEXT + 96];

        if (s->held_inside)
            continue;
        dj_sockdiag_format(s, where);
        if (s->outside_pid != 0)
            snprintf(detail, sizeof(detail), "%s held by pid %d (%s) outside the container", where,
                     (int)s->outside_pid, s->outside_comm);
        else
            snprintf(detail, sizeof(detail), "%s held by no process in the container", where);
        if (dj_sockdiag_listed(h->cfg.allow_foreign_sockets, s)) {
            log_event(h, "foreign_socket_allowed", detail);
            continue;
        }
        if (h->cfg.foreign_sockets == DJ_FOREIGN_SOCKETS_REFUSE) {
            dj_error_make(err, 0,
                          "container %s: %s could answer it from outside the jail; stop that "
                          "server, name it in allow-foreign-socket, or set foreign-sockets = "
                          "block",
                          h->state.id, detail);
            logged_refusal(h, err);
            goto out;
        }
        if (h->n_blocked == DJ_NFT_MAX_BLOCKED) {
            dj_error_make(err, 0,
                          "container %s: more than %d servers in its network namespace are held "
                          "from outside it, more than the jail closes off; stop them",
                          h->state.id, DJ_NFT_MAX_BLOCKED);
            logged_refusal(h, err);
            goto out;
        }
        h->blocked[h->n_blocked++] = blocked_endpoint(s);
        log_event(h, "foreign_socket_blocked", detail);
    }
    spec->blocked = h->blocked;
    spec->n_blocked = h->n_blocked;
    r = 0;
out:
    dj_sockdiag_list_free(&list);
    return r;
}

/* In the container's namespace: loopback up, every daemon's sockets, then the ruleset (last,
 * so nothing is redirected to a port nobody holds). */
static int setup_in_container(struct hook *h, void *data, dj_error_t *err)
{
    struct listeners *all = data;
    struct dj_nft_spec spec = nft_spec(h);
    struct dj_nft_raw raw;

    if (dj_netns_loopback_up(err) < 0 || raw_policing(h, &spec, &raw, err) < 0)
        return -1;
    for (size_t i = 0; i < N_DAEMONS; i++) {
        if (bind_listeners(h, (enum daemon_id)i, &all[i], err) < 0)
            goto fail;
    }
    if (close_off_foreign_sockets(h, all, &spec, err) < 0)
        goto fail;
    if (dj_nft_install(&spec, err) < 0) {
        dj_error_wrap(err, "installing nftables table inet " DJ_NFT_TABLE);
        goto fail;
    }
    return 0;
fail:
    for (size_t i = 0; i < N_DAEMONS; i++)
        listeners_close(&all[i]);
    return -1;
}

/* In the container's namespace: the jail's table is there and closes off every server held from
 * outside. DATA: the listeners just bound for new daemons (a repair), or NULL when the running
 * daemons hold them (h->jail_daemons). */
static int ensure_table(struct hook *h, void *data, dj_error_t *err)
{
    const struct listeners *ours = data;
    struct dj_nft_spec spec = nft_spec(h);
    struct dj_nft_raw raw;
    bool exists = false;

    if (close_off_foreign_sockets(h, ours, &spec, err) < 0 || dj_nft_table_exists(&exists, err) < 0)
        return -1;
    /* A server held from outside since the last member came: the table is replaced with one
     * that closes it off too (atomically; established flows keep their conntrack state). */
    if (exists && spec.n_blocked == 0)
        return 0;
    return raw_policing(h, &spec, &raw, err) < 0 ? -1 : dj_nft_install(&spec, err);
}

static int remove_table(struct hook *h, void *data, dj_error_t *err)
{
    (void)h;
    (void)data;
    return dj_nft_remove(err);
}

/* Poststop's removal: DATA is an int that gets the socket to close in the background. */
static int remove_table_keep(struct hook *h, void *data, dj_error_t *err)
{
    (void)h;
    return dj_nft_remove_keep(data, err);
}

/* ---- forward zones' default upstream ------------------------------------------------------ */

#define RESOLV_CONF_MAX_BYTES (64 * 1024)

/* The root filesystem's path as the host sees it (root.path is relative to the bundle). */
static char *root_fs_path(const struct hook *h)
{
    char *root = NULL;

    if (h->bundle.root_path == NULL)
        return NULL;
    if (h->bundle.root_path[0] == '/')
        return strdup(h->bundle.root_path);
    if (asprintf(&root, "%s/%s", h->state.bundle, h->bundle.root_path) < 0)
        return NULL;
    return root;
}

/* Opens the host file that the runtime bind-mounts onto the container's /etc/resolv.conf
 * (podman, CRI-O, kubelet): a file the host chose. The file inside the root filesystem is
 * never read: whoever built the image wrote it, and the admin's zones must not go where an
 * image says. A mount whose source lies inside the root filesystem is the image's file too. */
static int open_mounted_resolv_conf(const struct hook *h, dj_error_t *err)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                           .resolve = RESOLVE_NO_MAGICLINKS};
    const char *source = h->bundle.resolv_conf_source;
    cleanup_free char *root = root_fs_path(h);
    cleanup_free char *real_root = NULL;
    char fd_path[64], opened[PATH_MAX];
    cleanup_close int fd = -1;
    ssize_t len;
    size_t root_len;

    if (source[0] != '/')
        return dj_error_make(err, 0, "the mount onto /etc/resolv.conf has a relative source");
    fd = (int)syscall(SYS_openat2, AT_FDCWD, source, &how, sizeof(how));
    if (fd < 0)
        return dj_error_make(err, errno, "open %s", source);
    /* Where the file really is, after any symlink on the way: the open file's own path. */
    snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
    len = readlink(fd_path, opened, sizeof(opened) - 1);
    if (len < 0 || (size_t)len >= sizeof(opened) - 1)
        return dj_error_make(err, len < 0 ? errno : ENAMETOOLONG, "where %s leads", source);
    opened[len] = '\0';
    real_root = root != NULL ? realpath(root, NULL) : NULL;
    root_len = real_root != NULL ? strlen(real_root) : 0;
    if (real_root != NULL && strncmp(opened, real_root, root_len) == 0 &&
        (opened[root_len] == '/' || root_len == 1))
        return dj_error_make(err, 0,
                             "the mount onto /etc/resolv.conf comes from inside the container's "
                             "root filesystem (%s), which the image controls",
                             opened);
    return steal_fd(&fd);
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return ss->ss_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* "ADDR:PORT|[V6]:PORT" of the nameservers of the resolv.conf the runtime mounts from the
 * host that the stub can reach from the host's namespace. A loopback nameserver
 * (systemd-resolved's 127.0.0.53, a local dnsmasq) is the container's own loopback, which the
 * host side cannot reach: refused. */
static int mounted_resolv_conf_upstreams(const struct hook *h, char **out, dj_error_t *err)
{
    const char *shown = h->bundle.resolv_conf_source;
    cleanup_free char *text = NULL;
    cleanup_close int fd = open_mounted_resolv_conf(h, err);
    cleanup_close int copy = -1;
    struct dj_resolver_config rc;
    char proc_path[64], list[DJ_RESOLVER_MAX_SERVERS * (INET6_ADDRSTRLEN + 10)] = "";
    unsigned loopback = 0;
    struct stat st;
    size_t len;

    if (fd < 0)
        return dj_error_wrap(err, "the container's mounted resolv.conf (the default upstream)");
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return dj_error_make(err, 0, "%s is not a regular file", shown);
    if (read_all(fd, RESOLV_CONF_MAX_BYTES, &text, &len, "resolv.conf", err) < 0)
        return -1;
    /* The resolver reads a path: give it a private copy of what was read, not the file. */
    copy = memfd_create("dnsjail-resolv-conf", MFD_CLOEXEC);
    if (copy < 0 || write(copy, text, len) != (ssize_t)len)
        return dj_error_make(err, errno, "copying resolv.conf");
    snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", copy);
    dj_resolver_config_init(&rc);
    if (dj_resolver_config_from_resolv_conf(&rc, proc_path, err) < 0)
        return dj_error_wrap(err, "the container's resolv.conf %s", shown);
    for (size_t i = 0; i < rc.n_servers; i++) {
        const struct sockaddr_storage *ss = &rc.servers[i];
        char addr[INET6_ADDRSTRLEN];
        unsigned port;

        if (is_loopback(ss)) {
            loopback++;
            continue;
        }
        if (ss->ss_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, addr, sizeof(addr));
            port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
        } else {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, addr, sizeof(addr));
            port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
        }
        snprintf(list + strlen(list), sizeof(list) - strlen(list),
                 ss->ss_family == AF_INET ? "%s%s:%u" : "%s[%s]:%u", list[0] != '\0' ? "|" : "",
                 addr, port);
    }
    if (list[0] == '\0')
        return dj_error_make(err, 0,
                             "the container's resolv.conf %s has only loopback nameservers (%u), "
                             "which dnsjail cannot reach from the host: name the zone's upstream "
                             "in forward-zones (ZONE=ADDR)",
                             shown, loopback);
    *out = strdup(list);
    return *out != NULL ? 0 : dj_error_make(err, ENOMEM, "upstreams");
}

/* "UP|UP" of the admin's upstream-resolvers, the first DJ_FWDZONE_MAX_UPSTREAMS of them. */
static int admin_upstreams(const struct hook *h, char **out, dj_error_t *err)
{
    cleanup_free char *copy = strdup(h->cfg.upstream_resolvers);
    char *save = NULL;
    size_t used = 0;
    int n = 0;

    *out = malloc(strlen(h->cfg.upstream_resolvers) + 1);
    if (copy == NULL || *out == NULL)
        return dj_error_make(err, ENOMEM, "upstreams");
    for (char *item = strtok_r(copy, ", \t", &save); item != NULL && n < DJ_FWDZONE_MAX_UPSTREAMS;
         item = strtok_r(NULL, ", \t", &save), n++)
        used += (size_t)sprintf(*out + used, "%s%s", n > 0 ? "|" : "", item);
    (*out)[used] = '\0';
    return 0;
}

/* Where names go that no zone list sends anywhere: always somewhere the admin or the host
 * chose, never the image. ADMIN_FIRST: upstream-resolvers before the mounted resolv.conf
 * (audit mode, which resolves every name like the proxy); else the mounted resolv.conf first
 * (a zone like cluster.local belongs to the resolver the orchestrator mounts). */
static int default_upstreams(const struct hook *h, bool admin_first, char **out, dj_error_t *err)
{
    bool have_admin = h->cfg.upstream_resolvers != NULL;

    if (have_admin && (admin_first || h->bundle.resolv_conf_source == NULL))
        return admin_upstreams(h, out, err);
    if (h->bundle.resolv_conf_source != NULL)
        return mounted_resolv_conf_upstreams(h, out, err);
    return dj_error_make(err, 0,
                         "no upstream: the container's /etc/resolv.conf is the image's own file, "
                         "which may not choose where names go; name the zone's upstream in "
                         "forward-zones (ZONE=ADDR) or set upstream-resolvers");
}

/* Fills in the default upstream of every zone that has none, and checks every upstream with
 * the resolver's own parser, so that the stub never starts with one it would refuse. */
static int resolve_forward_upstreams(struct hook *h, dj_error_t *err)
{
    cleanup_free char *defaults = NULL;

    for (size_t i = 0; i < h->policy.forward.n; i++) {
        struct dj_fwdzone *z = &h->policy.forward.zones[i];
        struct dj_resolver_config rc;
        const char *servers[DJ_FWDZONE_MAX_UPSTREAMS];
        char buf[DJ_FWDZONE_MAX_UPSTREAMS * DJ_FWDZONE_MAX_ENTRY];
        int n;

        if (z->upstreams == NULL) {
            if (defaults == NULL && default_upstreams(h, false, &defaults, err) < 0)
                return dj_error_wrap(err, "forward zone %s", z->name);
            z->upstreams = strdup(defaults);
            if (z->upstreams == NULL)
                return dj_error_make(err, ENOMEM, "upstreams");
        }
        n = dj_fwdzone_split_upstreams(z->upstreams, buf, sizeof(buf), servers);
        if (n < 0)
            return dj_error_make(err, 0, "forward zone %s: bad upstream list", z->name);
        dj_resolver_config_init(&rc);
        for (int k = 0; k < n; k++)
            if (dj_resolver_config_add_server(&rc, servers[k], err) < 0)
                return dj_error_wrap(err, "forward zone %s: upstream", z->name);
    }
    return 0;
}

/* Audit mode resolves every name for real: through the admin's upstream-resolvers (the first
 * DJ_FWDZONE_MAX_UPSTREAMS of them) when set, else the resolv.conf the runtime mounts from the
 * host; never the image's own file. Checked with the resolver's parser like a zone's. */
static int resolve_audit_upstreams(struct hook *h, dj_error_t *err)
{
    const char *servers[DJ_FWDZONE_MAX_UPSTREAMS];
    char buf[DJ_FWDZONE_MAX_UPSTREAMS * DJ_FWDZONE_MAX_ENTRY];
    struct dj_resolver_config rc;
    int n;

    if (h->policy.mode != DJ_MODE_AUDIT)
        return 0;
    if (default_upstreams(h, true, &h->audit_upstreams, err) < 0)
        return dj_error_wrap(err, "audit mode's upstream");
    n = dj_fwdzone_split_upstreams(h->audit_upstreams, buf, sizeof(buf), servers);
    if (n <= 0)
        return dj_error_make(err, 0, "audit mode: bad upstream list");
    dj_resolver_config_init(&rc);
    for (int k = 0; k < n; k++)
        if (dj_resolver_config_add_server(&rc, servers[k], err) < 0)
            return dj_error_wrap(err, "audit mode: upstream");
    return 0;
}

/* "ZONE=UP|UP ZONE=UP" for the stub's --forward; NULL when there are no zones. */
static int forward_arg(const struct hook *h, char **out, dj_error_t *err)
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
        return dj_error_make(err, ENOMEM, "--forward");
    for (size_t i = 0; i < h->policy.forward.n; i++)
        p += sprintf(p, "%s%s=%s", i > 0 ? " " : "", h->policy.forward.zones[i].name,
                     h->policy.forward.zones[i].upstreams);
    return 0;
}

/* Builds a daemon's argv. Numbers are printed into NUMBERS, which must outlive ARGV. */
struct daemon_args {
    const char *argv[200]; /* fixed options, 8 --resolver and 64 --upstream-allow at most */
    size_t argc;
    char numbers[24][24];
    size_t n_numbers;
    int pass[24];
    size_t n_pass;
};

static void arg(struct daemon_args *a, const char *option, const char *value)
{
    if (a->argc + 3 > sizeof(a->argv) / sizeof(a->argv[0]))
        abort(); /* a programming error: the lists below are fixed */
    a->argv[a->argc++] = option;
    if (value != NULL)
        a->argv[a->argc++] = value;
    a->argv[a->argc] = NULL;
}

static void arg_number(struct daemon_args *a, const char *option, unsigned long value)
{
    if (a->n_numbers == sizeof(a->numbers) / sizeof(a->numbers[0]))
        abort();
    snprintf(a->numbers[a->n_numbers], sizeof(a->numbers[0]), "%lu", value);
    arg(a, option, a->numbers[a->n_numbers++]);
}

static void arg_fd(struct daemon_args *a, const char *option, int fd)
{
    if (a->n_pass == sizeof(a->pass) / sizeof(a->pass[0]))
        abort();
    a->pass[a->n_pass++] = fd;
    arg_number(a, option, (unsigned long)fd);
}

/* Adds OPTION ITEM for each item of a config list (separated by commas or blanks). The
 * items point into *COPY, which the caller frees after the spawn. */
static int arg_list(struct daemon_args *a, const char *option, const char *list, char **copy,
                    dj_error_t *err)
{
    char *save = NULL;

    *copy = strdup(list);
    if (*copy == NULL)
        return dj_error_make(err, ENOMEM, "%s", option);
    for (char *item = strtok_r(*copy, ", \t", &save); item != NULL;
         item = strtok_r(NULL, ", \t", &save))
        arg(a, option, item);
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

/* ---- virtual addresses ---- */

static bool policy_has_port_rule(const struct dj_policy *policy)
{
    for (size_t i = 0; i < policy->n_rules; i++)
        if (dj_vaddr_rule_wants(&policy->rules[i]))
            return true;
    return false;
}

/* Decides whether the jail hands out virtual addresses, and from which pools. */
static int virtual_prepare(struct hook *h, dj_error_t *err)
{
    struct hook_virtual *v = &h->virt;

    v->map_fd = v->map_ro_fd = -1;
    /* Audit mode answers with real addresses: every connection reaches its own destination. */
    v->on = h->policy.mode != DJ_MODE_AUDIT && policy_has_port_rule(&h->policy);
    if (!v->on)
        return 0;
    if (dj_vaddr_pool_init(&v->pool, h->cfg.virtual_ipv4, h->cfg.virtual_ipv6,
                           h->cfg.virtual_max_names, err) < 0)
        return -1;
    v->pools[0].family = AF_INET;
    memcpy(v->pools[0].addr, &v->pool.net4, 4);
    v->pools[0].prefix = v->pool.prefix4;
    v->pools[1].family = AF_INET6;
    memcpy(v->pools[1].addr, &v->pool.net6, 16);
    v->pools[1].prefix = v->pool.prefix6;
    return 0;
}

/* The name map the stub writes and the proxy reads: a memfd whose size is sealed (nobody can
 * shrink it under a mapping, which would kill the other daemon with SIGBUS). The proxy gets a
 * read-only reopen through /proc, a separate open file that cannot be mapped writable. */
static int virtual_map_create(struct hook *h, dj_error_t *err)
{
    struct hook_virtual *v = &h->virt;
    size_t size = dj_vaddr_map_size(v->pool.n_slots);
    cleanup_close int fd = -1;
    char path[64];

    fd = memfd_create("dnsjail-vaddr", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return dj_error_make(err, errno, "memfd_create for the virtual name map");
    if (ftruncate(fd, (off_t)size) < 0 ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
        return dj_error_make(err, errno, "sizing the virtual name map");
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    v->map_ro_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (v->map_ro_fd < 0)
        return dj_error_make(err, errno, "reopening the virtual name map read-only");
    v->map_fd = steal_fd(&fd);
    return 0;
}

static void virtual_close(struct hook *h)
{
    if (h->virt.map_fd >= 0)
        close(h->virt.map_fd);
    if (h->virt.map_ro_fd >= 0)
        close(h->virt.map_ro_fd);
    h->virt.map_fd = h->virt.map_ro_fd = -1;
}

/* Both daemons: the map and the pools, so each computes the same slot addresses. */
static void arg_virtual(struct hook *h, struct daemon_args *a, int map_fd)
{
    arg_fd(a, "--virtual-map-fd", map_fd);
    arg(a, "--virtual-ipv4", h->cfg.virtual_ipv4);
    arg(a, "--virtual-ipv6", h->cfg.virtual_ipv6);
    arg_number(a, "--virtual-max-names", h->cfg.virtual_max_names);
}

static int start_daemon(struct hook *h, enum daemon_id id, const struct listeners *l, int pidfd,
                        int control_fd, struct dj_spawning *spawning, dj_error_t *err)
{
    const struct daemon_kind *kind = &daemon_kinds[id];
    char sinkhole4[INET_ADDRSTRLEN], sinkhole6[INET6_ADDRSTRLEN];
    cleanup_free char *path = NULL;
    cleanup_free char *resolvers = NULL; /* arg_list's copies, which argv points into */
    cleanup_free char *networks = NULL;
    cleanup_free char *forward = NULL;
    cleanup_close int policy_fd = -1;
    struct daemon_args a;
    struct dj_spawn spec;

    memset(&a, 0, sizeof(a));
    if (asprintf(&path, "%s/%s", h->cfg.libexec_dir, kind->program) < 0)
        return dj_error_make(err, ENOMEM, "daemon path");
    arg(&a, kind->program, NULL);
    arg(&a, "--container-id", h->state.id);
    for (size_t i = 0; i < l->n; i++)
        arg_fd(&a, l->options[i], l->fds[i]);
    arg_fd(&a, "--watch-pidfd", pidfd);
    arg_fd(&a, "--control-fd", control_fd);
    if (h->log_fd >= 0)
        arg_fd(&a, "--log-fd", h->log_fd);
    if (h->system_log_fd >= 0) {
        arg_fd(&a, "--system-log-fd", h->system_log_fd);
        arg(&a, "--system-log-format",
            h->system_log_format == DJ_SYSTEM_LOG_JOURNAL ? "journal" : "syslog");
    }
    arg(&a, "--ready-fd", "{READY_FD}");
    arg_number(&a, "--log-rate", h->cfg.log_rate);
    arg_number(&a, "--log-burst", h->cfg.log_burst);
    if (h->metrics_fd >= 0) {
        arg_fd(&a, "--metrics-fd", h->metrics_fd);
        arg(&a, "--netns-key", h->netns_key);
    }
    switch (id) {
    case DAEMON_STUB:
        inet_ntop(AF_INET, &h->cfg.sinkhole4, sinkhole4, sizeof(sinkhole4));
        arg(&a, "--sinkhole-ipv4", sinkhole4);
        if (h->cfg.have_sinkhole6) {
            inet_ntop(AF_INET6, &h->cfg.sinkhole6, sinkhole6, sizeof(sinkhole6));
            arg(&a, "--sinkhole-ipv6", sinkhole6);
        }
        arg_number(&a, "--ttl", h->cfg.dns_ttl);
        if (forward_arg(h, &forward, err) < 0)
            return -1;
        if (forward != NULL)
            arg(&a, "--forward", forward);
        if (h->policy.mode == DJ_MODE_AUDIT) {
            arg(&a, "--audit", NULL);
            arg(&a, "--audit-upstream", h->audit_upstreams);
        }
        if (forward != NULL || h->policy.mode == DJ_MODE_AUDIT) {
            arg_number(&a, "--forward-cache-entries", h->cfg.forward_cache_entries);
            arg_number(&a, "--forward-ttl-floor", h->cfg.forward_ttl_floor);
            arg_number(&a, "--forward-ttl-ceiling", h->cfg.forward_ttl_ceiling);
            arg_number(&a, "--forward-rate", h->cfg.forward_rate);
            arg_number(&a, "--forward-burst", h->cfg.forward_burst);
        }
        if (h->virt.on || h->policy.mode == DJ_MODE_AUDIT) {
            policy_fd = policy_memfd(h, err);
            if (policy_fd < 0)
                return -1;
            arg_fd(&a, "--policy-fd", policy_fd);
            if (h->virt.on)
                arg_virtual(h, &a, h->virt.map_fd);
        }
        break;
    case DAEMON_PROXY:
        policy_fd = policy_memfd(h, err);
        if (policy_fd < 0)
            return -1;
        arg_fd(&a, "--policy-fd", policy_fd);
        /* The hook has judged every rule already (a "*" can come from the admin's own
         * allow key); the proxy only has to read them back. */
        arg(&a, "--allow-wildcard-all", NULL);
        if (h->policy.mode == DJ_MODE_AUDIT)
            arg(&a, "--audit", NULL);
        if (h->cfg.upstream_resolvers != NULL &&
            arg_list(&a, "--resolver", h->cfg.upstream_resolvers, &resolvers, err) < 0)
            return -1;
        if (h->cfg.upstream_allow != NULL &&
            arg_list(&a, "--upstream-allow", h->cfg.upstream_allow, &networks, err) < 0)
            return -1;
        /* A name inside a forward zone is the zone's: the proxy resolves it there too, so that
         * a name:port rule inside a zone reaches what the zone says the name is. */
        if (forward_arg(h, &forward, err) < 0)
            return -1;
        if (forward != NULL)
            arg(&a, "--forward", forward);
        arg_number(&a, "--max-connections", h->cfg.proxy_max_connections);
        if (h->virt.on)
            arg_virtual(h, &a, h->virt.map_ro_fd);
        break;
    case N_DAEMONS:
        break;
    }

    spec.path = path;
    spec.argv = (char *const *)a.argv;
    spec.pass_fds = a.pass;
    spec.n_pass_fds = a.n_pass;
    /* Rootless: the namespace's other uids are the user's subordinate ids, not users the admin
     * chose; the daemons keep the rootless user's uid and lose every capability
     * (lib/daemon/spawn.c). */
    spec.user = h->rootless.active ? NULL : h->cfg.run_as_user;
    spec.ready_timeout_ms = h->cfg.ready_timeout_ms;
    /* The proxy holds up to six descriptors per connection (two sockets, two pipes) and a
     * fixed set besides; the stub's needs fit the default. */
    spec.nofile = id == DAEMON_PROXY ? 6ul * h->cfg.proxy_max_connections + 2048 : 0;
    return dj_spawn_start(&spec, spawning, err);
}

/* Kills a daemon that no longer answers on its control socket, if the pid is still one. */
static void kill_stale_daemon(struct dj_state *st, const char *key, enum daemon_id id)
{
    pid_t pid = dj_state_ns_read_pid(st, key, daemon_kinds[id].name);
    cleanup_free char *expected = NULL;
    char path[64], exe[4096];
    ssize_t n;

    if (pid <= 0 || asprintf(&expected, "/%s", daemon_kinds[id].program) < 0)
        return;
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    n = readlink(path, exe, sizeof(exe) - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    if (strstr(exe, expected) != NULL)
        kill(pid, SIGKILL);
}

/* Asks every daemon of the jail to quit and waits until each has; kills those that do not
 * answer. */
static void stop_daemons(struct dj_state *st, const char *key)
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
static bool ns_holds_jailed(struct dj_state *st, const char *key, pid_t exclude, pid_t *first)
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

static bool jail_alive(struct dj_state *st, const char *key)
{
    for (size_t i = 0; i < N_DAEMONS; i++) {
        cleanup_free char *control = dj_state_ns_control_path(st, key, daemon_kinds[i].name);

        if (control == NULL || dj_control_ping(control, 500, NULL) < 0)
            return false;
    }
    return true;
}

static void forget_jail(struct dj_state *st, const char *key)
{
    struct gc_data gc = {key};

    stop_daemons(st, key);
    dj_state_container_foreach(st, gc_container, &gc);
    dj_state_ns_remove(st, key);
}

/* The running jail's daemons: their listeners in the namespace are ours, not foreign. The
 * pid files are current: the daemons just answered on their control sockets. */
static void note_jail_daemons(struct hook *h, struct dj_state *st, const char *key)
{
    h->n_jail_daemons = 0;
    for (size_t i = 0; i < N_DAEMONS; i++) {
        pid_t pid = dj_state_ns_read_pid(st, key, daemon_kinds[i].name);

        if (pid > 0 && h->n_jail_daemons < sizeof(h->jail_daemons) / sizeof(h->jail_daemons[0]))
            h->jail_daemons[h->n_jail_daemons++] = pid;
    }
}

static void gc_namespace(struct dj_state *st, const char *key, void *data)
{
    if (!jail_alive(st, key) && !ns_holds_jailed(st, key, *(const pid_t *)data, NULL))
        forget_jail(st, key);
}

static int repair_jail(struct hook *h, struct dj_state *st, const char *key,
                       const struct dj_netns *ns, const struct dj_netns *host, int pidfd,
                       const struct dj_proc_id *init, dj_error_t *err);

static int join_existing(struct hook *h, struct dj_state *st, const char *key,
                         const struct dj_netns *ns, const struct dj_netns *host, int pidfd,
                         const struct dj_proc_id *init, dj_error_t *err)
{
    struct dj_container_record rec = {(char *)key, h->bundle.netns_path};

    /* gc_namespace kept this jail although a daemon is gone: members still run in it. */
    if (!jail_alive(st, key))
        return repair_jail(h, st, key, ns, host, pidfd, init, err);
    for (size_t i = 0; i < N_DAEMONS; i++) {
        cleanup_free char *control = dj_state_ns_control_path(st, key, daemon_kinds[i].name);

        if (control == NULL)
            return dj_error_make(err, ENOMEM, "control path");
        if (dj_control_watch(control, pidfd, CONTROL_TIMEOUT_MS, err) < 0)
            return dj_error_wrap(err, "joining the jail of this network namespace");
    }
    note_jail_daemons(h, st, key);
    /* Someone may have flushed the table; the policy says it must be there. */
    if (in_namespace(ns, host, ensure_table, h, NULL, err) < 0)
        return -1;
    if (dj_state_ns_add_member(st, key, h->state.id, init, err) < 0 ||
        dj_state_write_container(st, h->state.id, &rec, err) < 0)
        return -1;
    log_event(h, "jail_joined", key);
    return 0;
}

/* The daemons' metrics directory. Numbers are not worth a refused container: without the
 * directory the daemons just write none, and the log says why. */
static void open_metrics_dir(struct hook *h, struct dj_state *st, const char *key)
{
    dj_error_t err = NULL;
    uid_t uid;
    gid_t gid;

    /* Rootless daemons keep our own uid (see start_daemon): the directory stays ours. */
    uid = geteuid();
    gid = getegid();
    if ((geteuid() == 0 && !h->rootless.active &&
         dj_sandbox_lookup_user(h->cfg.run_as_user, &uid, &gid, &err) < 0) ||
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

/* Starts every daemon of the jail KEY on its LISTENERS (closed here, the daemons have their
 * own copies), watching PIDFD, and records their pids. Every daemon is started before any is
 * waited for: they set up at the same time, and the container waits for the slowest, not for
 * the sum. On failure the caller stops what started (stop_daemons). */
static int launch_daemons(struct hook *h, struct dj_state *st, const char *key,
                          struct listeners *listeners, int pidfd, dj_error_t *err)
{
    struct dj_spawning spawning[N_DAEMONS];
    size_t started = 0;
    int r = -1;

    for (size_t i = 0; i < N_DAEMONS; i++)
        spawning[i] = (struct dj_spawning){.ready_fd = -1, .pid = -1};
    open_metrics_dir(h, st, key);
    for (; started < N_DAEMONS; started++) {
        const char *name = daemon_kinds[started].name;
        cleanup_free char *control_path = dj_state_ns_control_path(st, key, name);
        cleanup_close int control_fd = -1;

        if (control_path == NULL) {
            dj_error_make(err, ENOMEM, "control path");
            goto out;
        }
        control_fd = dj_control_listen(control_path, err);
        if (control_fd < 0 || start_daemon(h, (enum daemon_id)started, &listeners[started], pidfd,
                                           control_fd, &spawning[started], err) < 0)
            goto out;
        listeners_close(&listeners[started]);
    }
    for (size_t i = 0; i < N_DAEMONS; i++) {
        pid_t pid = 0;

        if (dj_spawn_wait(&spawning[i], &pid, err) < 0 ||
            dj_state_ns_write_pid(st, key, daemon_kinds[i].name, pid, err) < 0)
            goto out;
    }
    r = 0;
out:
    close_metrics_dir(h);
    for (size_t i = 0; i < N_DAEMONS; i++) {
        dj_spawn_abandon(&spawning[i]);
        listeners_close(&listeners[i]);
    }
    return r;
}

/* Records what already runs in the namespace before its jail exists, but the newcomer: a
 * pod's infra container, which no hook jails. The table covers it too while it stands; when
 * the last member leaves, these are the only processes that may be left behind for the table
 * to go (ns_holds_jailed). */
static int record_bystanders(struct dj_state *st, const char *key, const struct dj_netns *ns,
                             pid_t newcomer, dj_error_t *err)
{
    cleanup_free struct dj_proc_id *procs = NULL;
    size_t n = 0, kept = 0;

    if (dj_proc_netns_list(ns->dev, ns->ino, &procs, &n, err) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (procs[i].pid != newcomer)
            procs[kept++] = procs[i];
    return dj_state_ns_write_bystanders(st, key, procs, kept, err);
}

static int create_jail(struct hook *h, struct dj_state *st, const char *key,
                       const char *policy_text, const struct dj_netns *ns,
                       const struct dj_netns *host, int pidfd, const struct dj_proc_id *init,
                       dj_error_t *err)
{
    struct listeners listeners[N_DAEMONS];
    struct dj_container_record rec = {(char *)key, h->bundle.netns_path};

    memset(listeners, 0, sizeof(listeners));
    if (h->virt.on && virtual_map_create(h, err) < 0)
        return -1;
    if (in_namespace(ns, host, setup_in_container, h, listeners, err) < 0)
        return -1;
    if (dj_state_ns_create(st, key, policy_text, err) < 0 ||
        record_bystanders(st, key, ns, init->pid, err) < 0 ||
        launch_daemons(h, st, key, listeners, pidfd, err) < 0)
        goto fail;
    if (dj_state_ns_add_member(st, key, h->state.id, init, err) < 0 ||
        dj_state_write_container(st, h->state.id, &rec, err) < 0)
        goto fail;
    virtual_close(h); /* the daemons have their own */
    log_event(h, "jail_started", key);
    return 0;

fail:
    for (size_t i = 0; i < N_DAEMONS; i++)
        listeners_close(&listeners[i]);
    stop_daemons(st, key); /* harmless for those that never started */
    /* The container will not start; leave its namespace as we found it. */
    in_namespace(ns, host, remove_table, h, NULL, NULL);
    dj_state_ns_remove(st, key);
    return -1;
}

/* A repair binds the daemons' sockets again where the dead daemon's were: its sockets closed
 * with it, so the ports are free, unless a process of the namespace took one meanwhile (then
 * the repair fails and the namespace stays closed). The table is only checked: it is the one
 * the members have lived under. */
static int rebind_in_container(struct hook *h, void *data, dj_error_t *err)
{
    struct listeners *all = data;

    for (size_t i = 0; i < N_DAEMONS; i++) {
        if (bind_listeners(h, (enum daemon_id)i, &all[i], err) < 0)
            goto fail;
    }
    /* The sockets just bound are ours, not servers held from outside. */
    if (ensure_table(h, all, err) < 0)
        goto fail;
    return 0;
fail:
    for (size_t i = 0; i < N_DAEMONS; i++)
        listeners_close(&all[i]);
    return -1;
}

/* The living members of a jail being repaired, as pidfds for the new daemons to watch. */
struct living_members {
    const struct dj_netns *ns;
    int pidfds[DJ_CTLSERVE_MAX_WATCHED];
    size_t n;
};

static void collect_member(struct dj_state *st, const char *key, const char *id,
                           const struct dj_proc_id *init, void *data)
{
    struct living_members *lm = data;
    char path[64];
    struct stat sb;
    int fd;

    if (init->pid <= 0 || lm->n == DJ_CTLSERVE_MAX_WATCHED)
        return;
    fd = (int)syscall(SYS_pidfd_open, init->pid, 0);
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)init->pid);
    /* Checked after the pidfd is open: the pid cannot be reused while the pidfd holds it. */
    if (fd >= 0 && dj_proc_same(init) && stat(path, &sb) == 0 && sb.st_dev == lm->ns->dev &&
        sb.st_ino == lm->ns->ino) {
        lm->pidfds[lm->n++] = fd;
        return;
    }
    if (fd >= 0)
        close(fd);
    dj_state_ns_remove_member(st, key, id); /* gone; its poststop finds nothing to do */
}

static int repair_jail(struct hook *h, struct dj_state *st, const char *key,
                       const struct dj_netns *ns, const struct dj_netns *host, int pidfd,
                       const struct dj_proc_id *init, dj_error_t *err)
{
    struct listeners listeners[N_DAEMONS];
    struct dj_container_record rec = {(char *)key, h->bundle.netns_path};
    struct living_members lm = {.ns = ns, .n = 0};
    char detail[128];
    int r = -1;

    memset(listeners, 0, sizeof(listeners));
    /* Both daemons start again: the survivor shares the virtual name map with the dead one,
     * and only a new pair can share a new map. */
    stop_daemons(st, key);
    dj_state_ns_member_foreach(st, key, collect_member, &lm);
    if ((h->virt.on && virtual_map_create(h, err) < 0) ||
        in_namespace(ns, host, rebind_in_container, h, listeners, err) < 0 ||
        launch_daemons(h, st, key, listeners, pidfd, err) < 0)
        goto fail;
    for (size_t i = 0; i < N_DAEMONS; i++) {
        cleanup_free char *control = dj_state_ns_control_path(st, key, daemon_kinds[i].name);

        for (size_t m = 0; m < lm.n; m++)
            if (control == NULL ||
                dj_control_watch(control, lm.pidfds[m], CONTROL_TIMEOUT_MS, err) < 0)
                goto fail;
    }
    if (dj_state_ns_add_member(st, key, h->state.id, init, err) < 0 ||
        dj_state_write_container(st, h->state.id, &rec, err) < 0)
        goto fail;
    virtual_close(h);
    snprintf(detail, sizeof(detail), "%s: daemons restarted for %zu living member(s)", key, lm.n);
    log_event(h, "jail_repaired", detail);
    r = 0;
    goto out;
fail:
    for (size_t i = 0; i < N_DAEMONS; i++)
        listeners_close(&listeners[i]);
    stop_daemons(st, key);
    /* The state and the table stay: the members still run, closed, and the next container to
     * join tries again. */
    dj_error_wrap(err,
                  "the jail of this network namespace lost a daemon and could not be repaired; "
                  "its members stay closed");
out:
    for (size_t m = 0; m < lm.n; m++)
        close(lm.pidfds[m]);
    return r;
}

static int table_exists(struct hook *h, void *data, dj_error_t *err)
{
    (void)h;
    return dj_nft_table_exists(data, err);
}

/* A container that is not to be jailed must not share a namespace that is: the table covers
 * the whole namespace, so it would run jailed against its annotations, and the jail's last
 * member leaving would open the namespace under a container that keeps running. It is
 * refused; the jail and its members are not touched. Asked of the state and of the namespace
 * itself (a jail held for processes that outlived its members has no member to show). */
static int refuse_unjailed_joiner(struct hook *h, dj_error_t *err)
{
    struct dj_netns ns = {-1, 0, 0}, host = {-1, 0, 0};
    struct dj_state st = {NULL, -1};
    cleanup_close int pidfd = -1;
    cleanup_free char *key = NULL;
    cleanup_free char *policy = NULL;
    bool table = false;
    int r = -1;

    if (!h->bundle.have_netns)
        return 0; /* the host's namespace, which no jail can hold */
    if (dj_netns_open_pid(h->state.pid, &ns, &pidfd, err) < 0 || dj_netns_open_self(&host, err) < 0)
        goto out;
    r = 0;
    if (dj_netns_same(&ns, &host))
        goto out;
    r = -1;
    key = dj_state_netns_key(&ns);
    if (key == NULL) {
        dj_error_make(err, ENOMEM, "namespace key");
        goto out;
    }
    if (dj_state_open(&st, h->cfg.state_dir, err) < 0 ||
        dj_state_ns_read_policy(&st, key, &policy, err) < 0 ||
        (policy == NULL && in_namespace(&ns, &host, table_exists, h, &table, err) < 0))
        goto out;
    r = 0;
    if ((policy != NULL || table) && !(policy != NULL && jail_alive(&st, key)) &&
        !ns_holds_jailed(&st, key, h->state.pid, NULL)) {
        /* What is left of a jail with nothing left to jail (held for processes that have
         * exited since, or a table without state): cleared, as the next jailed container
         * would. */
        forget_jail(&st, key);
        r = in_namespace(&ns, &host, remove_table, h, NULL, err);
        if (r == 0)
            log_event(h, "jail_cleared", key);
        goto out;
    }
    if (policy != NULL || table) {
        dj_error_make(err, 0,
                      "container %s is not to be jailed (io.dnsjail.enable=false, or the "
                      "config's default-enable) but its network namespace is jailed (conflict); "
                      "give it the io.dnsjail.* annotations of that namespace's containers or a "
                      "network namespace of its own",
                      h->state.id);
        r = logged_refusal(h, err);
    }
out:
    if (st.dir != NULL)
        dj_state_close(&st);
    dj_netns_close(&ns);
    dj_netns_close(&host);
    return r;
}

static int jail_start(struct hook *h, dj_error_t *err)
{
    struct dj_netns ns = {-1, 0, 0}, host = {-1, 0, 0};
    struct dj_state st = {NULL, -1};
    cleanup_close int pidfd = -1;
    cleanup_free char *key = NULL;
    cleanup_free char *policy_text = NULL;
    cleanup_free char *existing_policy = NULL;
    struct dj_proc_id init;
    const struct oci_annotation *ann;
    size_t n_ann;
    int r = -1;

    if (read_bundle(h, err) < 0)
        return -1;
    ann = h->state.have_annotations ? h->state.annotations : h->bundle.annotations;
    n_ann = h->state.have_annotations ? h->state.n_annotations : h->bundle.n_annotations;
    if (dj_policy_from_annotations(ann, n_ann, &h->cfg, &h->policy, err) < 0) {
        log_event(h, "jail_refused", dj_error_msg(err));
        return -1;
    }
    if (!h->policy.enable)
        return refuse_unjailed_joiner(h, err);
    if (dj_nft_networks_from_rules(h->policy.rules, h->policy.n_rules, &h->networks, &h->n_networks,
                                   err) < 0 ||
        virtual_prepare(h, err) < 0)
        return logged_refusal(h, err);
    if (!h->bundle.have_netns) {
        dj_error_make(err, 0,
                      "container %s shares the host's network namespace and cannot be jailed; "
                      "give it its own (no --network host)",
                      h->state.id);
        return logged_refusal(h, err);
    }
    if (check_capabilities(h, err) < 0)
        return -1;
    note_raw_limits(h);
    if (dj_sockmount_check(&h->bundle, h->state.bundle, h->cfg.allow_socket_mounts, err) < 0) {
        dj_error_wrap(err, "container %s", h->state.id);
        return logged_refusal(h, err);
    }
    if (resolve_forward_upstreams(h, err) < 0 || resolve_audit_upstreams(h, err) < 0)
        return logged_refusal(h, err);
    if (dj_netns_open_pid(h->state.pid, &ns, &pidfd, err) < 0 || dj_netns_open_self(&host, err) < 0)
        goto out;
    if (dj_netns_same(&ns, &host)) {
        dj_error_make(err, 0,
                      "container %s is in the host's network namespace and cannot be jailed",
                      h->state.id);
        r = logged_refusal(h, err);
        goto out;
    }
    policy_text = dj_policy_canonical(&h->policy);
    key = dj_state_netns_key(&ns);
    if (policy_text == NULL || key == NULL) {
        dj_error_make(err, ENOMEM, "policy");
        goto out;
    }
    if (dj_state_open(&st, h->cfg.state_dir, err) < 0)
        goto out;
    if (dj_proc_identify(h->state.pid, &init) < 0) {
        dj_error_make(err, 0, "container process %d is gone", (int)h->state.pid);
        goto out;
    }
    dj_state_ns_foreach(&st, gc_namespace, &init.pid);
    if (dj_state_ns_read_policy(&st, key, &existing_policy, err) < 0)
        goto out;
    if (existing_policy != NULL && strcmp(existing_policy, policy_text) != 0) {
        dj_error_make(err, 0,
                      "container %s: its network namespace is already jailed with a different "
                      "policy (conflict); give containers that share a namespace the same "
                      "io.dnsjail.* annotations",
                      h->state.id);
        r = logged_refusal(h, err);
        goto out;
    }
    if (existing_policy != NULL)
        r = join_existing(h, &st, key, &ns, &host, pidfd, &init, err);
    else
        r = create_jail(h, &st, key, policy_text, &ns, &host, pidfd, &init, err);
out:
    if (st.dir != NULL)
        dj_state_close(&st);
    dj_netns_close(&ns);
    dj_netns_close(&host);
    return r;
}

/* The last member left, but the namespace still holds a process that is neither a bystander
 * nor gone (a member's child that outlived it in a shared pid namespace, a member whose record
 * was lost): the table stays, and so does the state, so that a newcomer repairs this jail and
 * an unjailed one is refused. The daemons go: what they watched has exited. */
static bool jail_held(struct hook *h, struct dj_state *st, const char *key)
{
    char detail[160];
    pid_t pid;

    if (!ns_holds_jailed(st, key, 0, &pid))
        return false;
    stop_daemons(st, key);
    snprintf(detail, sizeof(detail), "%s: pid %d still runs in the namespace; the table stays", key,
             (int)pid);
    log_event(h, "jail_held", detail);
    return true;
}

/* poststop: best effort, always succeeds; problems are reported but never block teardown. */
static void jail_stop(struct hook *h)
{
    struct dj_state st = {NULL, -1};
    struct dj_container_record rec;
    dj_error_t err = NULL;
    bool found = false;

    if (dj_state_open(&st, h->cfg.state_dir, &err) < 0)
        goto out;
    if (dj_state_read_container(&st, h->state.id, &rec, &found, &err) < 0 || !found)
        goto out;
    if (dj_state_ns_remove_member(&st, rec.netns_key, h->state.id) == 0 &&
        !jail_held(h, &st, rec.netns_key)) {
        stop_daemons(&st, rec.netns_key);
        /* A namespace with a path outlives the container: take our table out of it. */
        if (rec.netns_path != NULL) {
            struct dj_netns ns = {-1, 0, 0}, host = {-1, 0, 0};
            cleanup_free char *key = NULL;
            int nft_socket = -1;

            /* The table is deleted when the call returns; closing its socket then waits for
             * an RCU grace period, which the runtime need not wait for. */
            if (dj_netns_open_path(rec.netns_path, &ns, NULL) == 0 &&
                dj_netns_open_self(&host, NULL) == 0 && (key = dj_state_netns_key(&ns)) != NULL &&
                strcmp(key, rec.netns_key) == 0)
                in_namespace(&ns, &host, remove_table_keep, h, &nft_socket, &err);
            dj_nft_close_in_background(nft_socket);
            dj_netns_close(&ns);
            dj_netns_close(&host);
        }
        dj_state_ns_remove(&st, rec.netns_key);
        log_event(h, "jail_stopped", rec.netns_key);
    }
    dj_state_remove_container(&st, h->state.id);
    dj_container_record_free(&rec);
out:
    if (err != NULL)
        fprintf(stderr, "dnsjail: poststop of %s: %s\n", h->state.id, dj_error_msg(&err));
    dj_error_release(&err);
    if (st.dir != NULL)
        dj_state_close(&st);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct hook h;
    const char *config_path = DEFAULT_CONFIG;
    bool config_given = false;
    cleanup_free char *input = NULL;
    cleanup_free char *rootless_config = NULL;
    dj_error_t err = NULL;
    enum stage stage;
    size_t input_len;
    int opt, r = -1;

    memset(&h, 0, sizeof(h));
    h.log_fd = -1;
    h.system_log_fd = -1;
    h.metrics_fd = -1;
    h.virt.map_fd = h.virt.map_ro_fd = -1;
    while ((opt = getopt_long(argc, argv, "c:hV", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            config_given = true;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("dnsjail-hook %s\n", PACKAGE_VERSION);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "dnsjail: expected exactly one STAGE argument (prestart, createRuntime "
                        "or poststop); see --help\n");
        return 2;
    }
    if (strcmp(argv[optind], "prestart") == 0 || strcmp(argv[optind], "createRuntime") == 0) {
        stage = STAGE_START;
    } else if (strcmp(argv[optind], "poststop") == 0) {
        stage = STAGE_STOP;
    } else {
        fprintf(stderr,
                "dnsjail: unknown stage '%s' (expected prestart, createRuntime or "
                "poststop)\n",
                argv[optind]);
        return 2;
    }

    if (dj_rootless_detect(&h.rootless, &err) < 0 || dj_adminconf_init(&h.cfg, &err) < 0)
        goto out;
    if (h.rootless.active) {
        if (!config_given && (rootless_config = dj_rootless_config_path(&h.rootless)) == NULL) {
            dj_error_make(&err, ENOMEM, "rootless configuration path");
            goto out;
        }
        if (!config_given)
            config_path = rootless_config;
        if (dj_rootless_apply_defaults(&h.rootless, &h.cfg, &err) < 0)
            goto out;
    }
    if (dj_adminconf_load(&h.cfg, config_path, !config_given, &err) < 0)
        goto out;
    if (read_all(STDIN_FILENO, OCI_STATE_MAX_BYTES, &input, &input_len, "the OCI state on stdin",
                 &err) < 0)
        goto out;
    if (oci_state_parse(input, input_len, &h.state, &err) < 0) {
        dj_error_wrap(&err, "the OCI state on stdin");
        goto out;
    }
    if (!oci_id_is_safe(h.state.id)) {
        char shown[OCI_PRINTABLE_SIZE];

        dj_error_make(&err, 0, "container id \"%s\" has characters dnsjail does not accept",
                      oci_printable(shown, sizeof(shown), h.state.id));
        goto out;
    }
    open_log(&h);
    open_system_log(&h);
    if (stage == STAGE_STOP) {
        jail_stop(&h);
        r = 0;
    } else {
        r = jail_start(&h, &err);
    }
out:
    if (r < 0)
        fprintf(stderr, "dnsjail: %s\n", dj_error_msg(&err));
    dj_error_release(&err);
    if (h.log_fd >= 0)
        close(h.log_fd);
    if (h.system_log_fd >= 0)
        close(h.system_log_fd);
    virtual_close(&h);
    free(h.networks);
    free(h.audit_upstreams);
    free(h.blocked);
    dj_policy_free(&h.policy);
    oci_bundle_free(&h.bundle);
    oci_state_free(&h.state);
    dj_adminconf_free(&h.cfg);
    dj_rootless_free(&h.rootless);
    /* Poststop never fails the runtime's teardown, even on bad input. */
    return r < 0 && stage != STAGE_STOP ? 1 : 0;
}
