/* hook.h: dnsjail-hook's state, shared by its files. The hook is the only dnsjail program that
 * runs with privileges, and it runs only for as long as the runtime waits for it.
 *
 * prestart/createRuntime: read the state, decide whether and how to jail (jail.c), enter the
 * container's network namespace on a thread of its own that ends there, bring loopback up,
 * bind both daemons' sockets, close off servers held from outside and install the nftables
 * table (container.c), then start dnsjail-dnsstub and dnsjail-proxy (unprivileged, detached)
 * to serve those sockets from the host's namespace (daemons.c). A container that joins a
 * jailed namespace joins its jail, or repairs it when a daemon died (jail.c).
 * poststop: undo what prestart did for that container, but not what the kernel undoes anyway
 * (a namespace the runtime made dies with its table, and the daemons exit on their pidfds);
 * never fails the teardown. A container the hook leaves alone costs it no more than reading
 * the state, config.json and dnsjail.conf (logs open on first use).
 *
 * The other files: main.c (options, the stage, the OCI state), log.c (the admin's log and the
 * system log), upstreams.c (where forward zones and audit mode resolve), hook-virtual.c (the
 * virtual address pools and the name map the daemons share). */
#ifndef DNSJAIL_HOOK_H
#define DNSJAIL_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "jail/adminconf.h"
#include "base/error.h"
#include "jail/state.h"
#include "daemon/jsonlog.h"
#include "daemon/spawn.h"
#include "jail/netns.h"
#include "jail/nft.h"
#include "jail/proc.h"
#include "jail/oci.h"
#include "jail/policy.h"
#include "jail/rootless.h"
#include "jail/vaddr.h"

#define CONTROL_TIMEOUT_MS 2000

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
    const char *profile; /* --profile: the runtime's choice of profile.NAME.*, or NULL */
    struct oci_state state;
    struct oci_bundle bundle;
    struct dj_policy policy;
    struct dj_nft_network *networks; /* the policy's address rules, for the ruleset */
    size_t n_networks;
    bool logs_opened; /* open_logs ran: log_fd and system_log_fd are final */
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
    /* allow-container-networks: the subnets of the container's interfaces and its gateways,
     * read in its namespace (container.c) */
    struct dj_nft_network container_nets[DJ_NFT_MAX_CONTAINER_NETS];
    size_t n_container_nets;
    struct dj_nft_network gateways[DJ_NFT_MAX_CONTAINER_NETS];
    size_t n_gateways;
    struct dj_nft_network cdns; /* container-dns as a host network (family 0: off) */
    bool daemon_ids_known;      /* daemon_uid and daemon_gid looked up (daemon_ids) */
    uid_t daemon_uid;
    gid_t daemon_gid;
};

/* Every jail runs these, each with sockets the hook binds in the container's namespace, a
 * control socket and a pid file in the namespace's state. The stub comes first: a jail whose
 * stub answers is alive. */
enum daemon_id { DAEMON_STUB, DAEMON_PROXY, N_DAEMONS };

struct daemon_kind {
    const char *name;    /* in state file names and log lines */
    const char *program; /* in libexec-dir */
};

extern const struct daemon_kind daemon_kinds[N_DAEMONS];

/* Container DNS: connected sockets the stub asks the engine's resolver through, one query
 * each at a time (lib/dns/resolver's socket pool). */
#define CDNS_SOCKETS 8
#define MAX_LISTENERS (6 + CDNS_SOCKETS)

/* A daemon's listening sockets and the option that hands each one over. */
struct listeners {
    int fds[MAX_LISTENERS];
    const char *options[MAX_LISTENERS];
    size_t n;
};

/* main.c */
int read_all(int fd, size_t max, char **out, size_t *out_len, const char *what, dj_error_t *err);

/* log.c */
void open_logs(struct hook *h);
void log_event(struct hook *h, const char *event, const char *detail);
int logged_refusal(struct hook *h, dj_error_t *err);

/* container.c. The functions that take DATA run in the container's namespace, through
 * in_namespace. */
int in_namespace(const struct dj_netns *ns, int (*fn)(struct hook *, void *, dj_error_t *),
                 struct hook *h, void *data, dj_error_t *err);
int setup_in_container(struct hook *h, void *data, dj_error_t *err);
int rebind_in_container(struct hook *h, void *data, dj_error_t *err);
int ensure_table(struct hook *h, void *data, dj_error_t *err);
int table_exists(struct hook *h, void *data, dj_error_t *err);
int remove_table(struct hook *h, void *data, dj_error_t *err);
int remove_table_keep(struct hook *h, void *data, dj_error_t *err);
void listeners_close(struct listeners *l);
void listeners_close_all(struct listeners all[N_DAEMONS]);

/* upstreams.c */
int resolve_forward_upstreams(struct hook *h, dj_error_t *err);
int resolve_audit_upstreams(struct hook *h, dj_error_t *err);

/* hook-virtual.c */
int virtual_prepare(struct hook *h, dj_error_t *err);
int virtual_map_create(struct hook *h, dj_error_t *err);
void virtual_close(struct hook *h);

/* daemons.c */
/* The uid and gid the daemons run as: the admin's user, or ours (rootless, or not root). Looked
 * up once per hook run: the metrics directory and each spare's hello ask for them. */
int daemon_ids(struct hook *h, uid_t *uid, gid_t *gid, dj_error_t *err);
int launch_daemons(struct hook *h, struct dj_state *st, const char *key,
                   struct listeners *listeners, int pidfd, dj_error_t *err);
void stop_daemons(struct dj_state *st, const char *key);
void let_daemons_go(struct dj_state *st, const char *key);
bool jail_alive(struct dj_state *st, const char *key);
void note_jail_daemons(struct hook *h, struct dj_state *st, const char *key);
bool ns_holds_jailed(struct dj_state *st, const char *key, pid_t exclude, pid_t *first);
void forget_jail(struct dj_state *st, const char *key);
void gc_namespace(struct dj_state *st, const char *key, void *data);

/* spares.c. spare_assign: daemon ID's descriptors (SPEC's command line) to the waiting spare,
 * *S as dj_spawn_start would fill it; -1 with why not (no pool, a stale one, which it retires).
 * spares_refill: makes the pool anew where it is missing or stale, not waiting for it. */
int spare_assign(struct hook *h, enum daemon_id id, const struct dj_spawn *spec,
                 struct dj_spawning *s, dj_error_t *err);
void spares_refill(struct hook *h, const struct dj_spawn specs[N_DAEMONS]);
/* jail.c */
int jail_start(struct hook *h, dj_error_t *err);
void jail_stop(struct hook *h);

#endif
