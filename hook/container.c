/* container.c: what the hook does inside the container's network namespace: loopback up, the
 * daemons' listening sockets, the servers held from outside that the jail closes off, and the
 * nftables table. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "hook.h"
#include "trace.h"
#include "jail/sockdiag.h"

void listeners_close(struct listeners *l)
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

/* container-dns: UDP sockets in the container's namespace, marked so that the jail's table
 * lets them (and only them) through to the engine's resolver, connected to its port 53. The
 * stub asks through them from the host's namespace. */
static int open_cdns_sockets(const struct hook *h, struct listeners *l, dj_error_t *err)
{
    struct sockaddr_storage to;
    socklen_t to_len;
    uint32_t mark = DJ_NFT_CDNS_MARK;

    memset(&to, 0, sizeof(to));
    if (h->cdns.family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&to;

        sin->sin_family = AF_INET;
        sin->sin_port = htons(53);
        memcpy(&sin->sin_addr, h->cdns.addr, 4);
        to_len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&to;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(53);
        memcpy(&sin6->sin6_addr, h->cdns.addr, 16);
        to_len = sizeof(*sin6);
    }
    for (size_t i = 0; i < CDNS_SOCKETS; i++) {
        int fd = socket(h->cdns.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        if (fd < 0)
            return dj_error_make(err, errno, "container-dns: socket");
        if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0 ||
            connect(fd, (const struct sockaddr *)&to, to_len) < 0) {
            int e = errno;

            close(fd);
            return dj_error_make(err, e, "container-dns: a marked socket to %s port 53",
                                 h->cfg.container_dns);
        }
        if (l->n == MAX_LISTENERS) {
            close(fd);
            return dj_error_make(err, 0, "internal error: too many listeners");
        }
        l->fds[l->n] = fd;
        l->options[l->n] = "--container-dns-fd";
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
        if (h->cdns.family != 0 && open_cdns_sockets(h, l, err) < 0)
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

void listeners_close_all(struct listeners all[N_DAEMONS])
{
    for (size_t i = 0; i < N_DAEMONS; i++)
        listeners_close(&all[i]);
}

/* Every daemon's listeners, or none. */
static int bind_all(struct hook *h, struct listeners all[N_DAEMONS], dj_error_t *err)
{
    for (size_t i = 0; i < N_DAEMONS; i++) {
        if (bind_listeners(h, (enum daemon_id)i, &all[i], err) < 0) {
            listeners_close_all(all);
            return -1;
        }
    }
    return 0;
}

/* Runs FN inside NS on a thread of its own, which ends with FN. A network namespace belongs to
 * a thread, so this thread never leaves the namespace it started in: no way back is needed,
 * which matters under rootless podman, where the hook may enter the container's namespace (its
 * user namespace owns it) but not re-enter the host's (the initial user namespace owns that).
 * Sockets made by FN keep the container's namespace and are shared with the whole process. */
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

    call->result = dj_netns_enter(call->ns, call->err) < 0
                       ? -1
                       : (trace_mark("ns_enter"), call->fn(call->h, call->data, call->err));
    return NULL;
}

int in_namespace(const struct dj_netns *ns, int (*fn)(struct hook *, void *, dj_error_t *),
                 struct hook *h, void *data, dj_error_t *err)
{
    struct ns_call call = {ns, fn, h, data, err, -1};
    pthread_t thread;
    int r;

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
    if (h->cdns.family != 0)
        spec.cdns = &h->cdns;
    spec.container_networks = h->container_nets;
    spec.n_container_networks = h->n_container_nets;
    spec.gateways = h->gateways;
    spec.n_gateways = h->n_gateways;
    return spec;
}

static uint8_t prefix_of(const uint8_t *mask, size_t len)
{
    uint8_t bits = 0;

    for (size_t i = 0; i < len; i++)
        for (uint8_t b = 0x80; b != 0 && (mask[i] & b); b >>= 1)
            bits++;
    return bits;
}

static int add_net(struct dj_nft_network *list, size_t *n, int family, const uint8_t *addr,
                   uint8_t prefix, dj_error_t *err)
{
    struct dj_nft_network net = {.family = family, .prefix = prefix};
    size_t len = family == AF_INET6 ? 16 : 4;

    for (size_t i = 0; i < len; i++) {
        unsigned keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;

        net.addr[i] = (uint8_t)(addr[i] & (uint8_t)(0xFF00 >> keep));
    }
    for (size_t i = 0; i < *n; i++)
        if (memcmp(&list[i], &net, sizeof(net)) == 0)
            return 0;
    if (*n == DJ_NFT_MAX_CONTAINER_NETS)
        return dj_error_make(err, 0,
                             "allow-container-networks: more than %d networks or gateways in the "
                             "container's namespace",
                             DJ_NFT_MAX_CONTAINER_NETS);
    list[(*n)++] = net;
    return 0;
}

/* The default and other gateways of the routing tables of the calling thread's namespace:
 * /proc/thread-self/net/route (IPv4, hexadecimal in network order) and ipv6_route. */
static int read_gateways(struct hook *h, dj_error_t *err)
{
    char line[512];
    FILE *f = fopen("/proc/thread-self/net/route", "re");

    if (f == NULL)
        return dj_error_make(err, errno, "allow-container-networks: reading the routes");
    while (fgets(line, sizeof(line), f) != NULL) {
        char iface[IFNAMSIZ + 1];
        unsigned dest, gw;

        if (sscanf(line, "%16s %x %x", iface, &dest, &gw) == 3 && gw != 0 &&
            add_net(h->gateways, &h->n_gateways, AF_INET, (const uint8_t *)&gw, 32, err) < 0) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    f = fopen("/proc/thread-self/net/ipv6_route", "re");
    if (f == NULL)
        return 0; /* no IPv6 */
    while (fgets(line, sizeof(line), f) != NULL) {
        char hop[33];
        uint8_t gw[16];
        bool any = false;

        /* dest destlen src srclen nexthop ... */
        if (sscanf(line, "%*32s %*2s %*32s %*2s %32s", hop) != 1 || strlen(hop) != 32)
            continue;
        for (size_t i = 0; i < 16; i++) {
            unsigned byte;

            if (sscanf(hop + 2 * i, "%2x", &byte) != 1)
                break;
            gw[i] = (uint8_t)byte;
            any = any || byte != 0;
        }
        if (any && add_net(h->gateways, &h->n_gateways, AF_INET6, gw, 128, err) < 0) {
            fclose(f);
            return -1;
        }
    }
    fclose(f);
    return 0;
}

/* In the container's namespace, for allow-container-networks: the subnets of its interfaces
 * but loopback (IPv6 link-local ones left out: the link is not a network the container was
 * put on), and the gateways, which stay closed (the host is on the other end). */
static int read_container_networks(struct hook *h, dj_error_t *err)
{
    struct ifaddrs *all, *ifa;
    int r = 0;

    h->n_container_nets = 0;
    h->n_gateways = 0;
    if (!h->cfg.allow_container_networks)
        return 0;
    if (getifaddrs(&all) < 0)
        return dj_error_make(err, errno, "allow-container-networks: listing the interfaces");
    for (ifa = all; ifa != NULL && r == 0; ifa = ifa->ifa_next) {
        if (ifa->ifa_addr == NULL || ifa->ifa_netmask == NULL || (ifa->ifa_flags & IFF_LOOPBACK))
            continue;
        if (ifa->ifa_addr->sa_family == AF_INET) {
            const uint8_t *a = (const uint8_t *)&((struct sockaddr_in *)ifa->ifa_addr)->sin_addr;
            const uint8_t *m = (const uint8_t *)&((struct sockaddr_in *)ifa->ifa_netmask)->sin_addr;

            r = add_net(h->container_nets, &h->n_container_nets, AF_INET, a, prefix_of(m, 4), err);
        } else if (ifa->ifa_addr->sa_family == AF_INET6) {
            const struct in6_addr *a6 = &((struct sockaddr_in6 *)ifa->ifa_addr)->sin6_addr;
            const uint8_t *m =
                (const uint8_t *)&((struct sockaddr_in6 *)ifa->ifa_netmask)->sin6_addr;

            if (IN6_IS_ADDR_LINKLOCAL(a6))
                continue;
            r = add_net(h->container_nets, &h->n_container_nets, AF_INET6, a6->s6_addr,
                        prefix_of(m, 16), err);
        }
    }
    freeifaddrs(all);
    if (r < 0)
        return -1;
    return read_gateways(h, err);
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
    cleanup_sockdiag_list struct dj_sockdiag_list list = {NULL, 0, 0};
    struct stat ns;
    size_t kept = 0;

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
    if (list.n == 0)
        return 0;
    if (stat("/proc/thread-self/ns/net", &ns) < 0)
        return dj_error_make(err, errno, "cannot identify the container's network namespace");
    if (dj_sockdiag_find_holders(&list, "/proc", ns.st_dev, ns.st_ino, h->jail_daemons,
                                 h->n_jail_daemons, err) < 0)
        return -1;
    h->blocked = calloc(list.n, sizeof(*h->blocked));
    if (h->blocked == NULL)
        return dj_error_make(err, ENOMEM, "foreign sockets");
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
            return logged_refusal(h, err);
        }
        if (h->n_blocked == DJ_NFT_MAX_BLOCKED) {
            dj_error_make(err, 0,
                          "container %s: more than %d servers in its network namespace are held "
                          "from outside it, more than the jail closes off; stop them",
                          h->state.id, DJ_NFT_MAX_BLOCKED);
            return logged_refusal(h, err);
        }
        h->blocked[h->n_blocked++] = blocked_endpoint(s);
        log_event(h, "foreign_socket_blocked", detail);
    }
    spec->blocked = h->blocked;
    spec->n_blocked = h->n_blocked;
    return 0;
}

/* In the container's namespace: loopback up, every daemon's sockets, then the ruleset (last,
 * so nothing is redirected to a port nobody holds). */
int setup_in_container(struct hook *h, void *data, dj_error_t *err)
{
    struct listeners *all = data;
    struct dj_nft_spec spec;
    struct dj_nft_raw raw;

    if (read_container_networks(h, err) < 0)
        return -1;
    spec = nft_spec(h);
    if (dj_netns_loopback_up(err) < 0 || raw_policing(h, &spec, &raw, err) < 0 ||
        bind_all(h, all, err) < 0)
        return -1;
    trace_mark("loopback_bind");
    if (close_off_foreign_sockets(h, all, &spec, err) < 0)
        goto fail;
    trace_mark("foreign_sockets");
    if (dj_nft_install(&spec, err) < 0) {
        dj_error_wrap(err, "installing nftables table inet " DJ_NFT_TABLE);
        goto fail;
    }
    trace_mark("nft_install");
    return 0;
fail:
    listeners_close_all(all);
    return -1;
}

/* In the container's namespace: the jail's table is there and closes off every server held from
 * outside. DATA: the listeners just bound for new daemons (a repair), or NULL when the running
 * daemons hold them (h->jail_daemons). */
int ensure_table(struct hook *h, void *data, dj_error_t *err)
{
    const struct listeners *ours = data;
    struct dj_nft_spec spec;
    struct dj_nft_raw raw;
    bool installed;

    if (read_container_networks(h, err) < 0)
        return -1;
    spec = nft_spec(h);
    if (close_off_foreign_sockets(h, ours, &spec, err) < 0 || raw_policing(h, &spec, &raw, err) < 0)
        return -1;
    /* A server held from outside since the last member came: the table is replaced with one
     * that closes it off too (atomically; established flows keep their conntrack state).
     * Otherwise a table that is there stays: no probe first, the create says whether it was. */
    if (spec.n_blocked > 0)
        return dj_nft_install(&spec, err);
    return dj_nft_ensure(&spec, &installed, err);
}

int remove_table(struct hook *h, void *data, dj_error_t *err)
{
    (void)h;
    (void)data;
    return dj_nft_remove(err);
}

/* Poststop's removal: DATA is an int that gets the socket to close in the background. */
int remove_table_keep(struct hook *h, void *data, dj_error_t *err)
{
    (void)h;
    return dj_nft_remove_keep(data, err);
}

/* A repair binds the daemons' sockets again where the dead daemon's were: its sockets closed
 * with it, so the ports are free, unless a process of the namespace took one meanwhile (then
 * the repair fails and the namespace stays closed). The table is only checked: it is the one
 * the members have lived under. */
int rebind_in_container(struct hook *h, void *data, dj_error_t *err)
{
    struct listeners *all = data;

    if (bind_all(h, all, err) < 0)
        return -1;
    /* The sockets just bound are ours, not servers held from outside. */
    if (ensure_table(h, all, err) < 0) {
        listeners_close_all(all);
        return -1;
    }
    return 0;
}

int table_exists(struct hook *h, void *data, dj_error_t *err)
{
    (void)h;
    return dj_nft_table_exists(data, err);
}
