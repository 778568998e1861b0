#include "config.h"

/* dnsjail-proxy: the container's HTTP and HTTPS egress. The hook's ruleset redirects the
 * container's TCP port 80 and 443 to listeners it binds on the container's loopback; this
 * daemon serves them from the host's namespace and lets a request or TLS connection through
 * only to the names io.dnsjail.allow allows. This file turns the command line and the hook's
 * configuration (--config-fd, lib/daemon/daemonconf.h; each setting read in apply_option, wherever
 * it comes from) into open, checked, non-blocking fds, the rules and the resolver's configuration,
 * then drops privileges and hands over to the event loop in loop.c. Startup behaves like
 * dnsjail-dnsstub's: what they share is lib/daemon/daemon.c. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"
#include "daemon/spare.h"
#include "base/error.h"
#include "daemon/jsonlog.h"
#include "jail/policy.h"
#include "proxy.h"

#define PROGRAM "dnsjail-proxy"
#define DEFAULT_LOG_RATE DJ_DAEMON_DEFAULT_LOG_RATE
#define DEFAULT_LOG_BURST DJ_DAEMON_DEFAULT_LOG_BURST
#define DEFAULT_RESOLV_CONF "/etc/resolv.conf"
#define TCP_BACKLOG 1024
#define MAX_CONNECTIONS_LIMIT 1000000
/* Descriptors beside the connections': watched pidfds, control connections, listeners,
 * resolver sockets, the pipe pool, and some to spare. */
#define RESERVED_FDS                                                                               \
    (PROXY_MAX_WATCHED + PROXY_MAX_CONTROL_CONNS + 4 * PROXY_MAX_LISTENERS + 2 * PROXY_PIPE_POOL + \
     256)

struct options {
    struct dj_daemon_options daemon; /* the options the stub has too */
    const char *listen_http[PROXY_MAX_LISTENERS];
    size_t n_listen_http;
    const char *listen_tls[PROXY_MAX_LISTENERS];
    size_t n_listen_tls;
    int policy_fd;
    int virtual_map_fd;
    const char *virtual4, *virtual6;
    unsigned virtual_max_names;
    char *allow_text; /* --allow values joined with ',' */
    bool allow_wildcard_all;
    const char *resolv_conf;
    bool have_resolvers;
    struct proxy_config proxy;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: " PROGRAM " [--container-id ID] [--inherit-http FD]... [--inherit-tls FD]...\n"
        "           [--policy-fd FD | --allow RULES...] [--allow-wildcard-all] [--audit]\n"
        "           [--config-fd FD] [--ready-fd FD] [--watch-pidfd FD]... [--control-fd FD]\n"
        "           [--log-fd FD | --log-file PATH|-] [--log-rate N] [--log-burst N]\n"
        "           [--resolver SERVER]... [--resolv-conf PATH]\n"
        "           [--forward ZONE=UPSTREAM[|UPSTREAM...]]...\n"
        "           [--upstream-allow CIDR]... [--max-connections N] [--user NAME]\n"
        "           [--handshake-timeout SECONDS] [--idle-timeout SECONDS]\n"
        "           [--listen-http ADDR:PORT]... [--listen-tls ADDR:PORT]...\n"
        "           [--upstream-port-http N] [--upstream-port-tls N]\n"
        "           [--metrics-fd FD | --metrics-dir PATH] [--netns-key KEY] [--help]\n"
        "           [--inherit-virtual FD]... [--virtual-map-fd FD] [--virtual-ipv4 NET]\n"
        "           [--virtual-ipv6 NET] [--virtual-max-names N]\n"
        "\n"
        "Transparent HTTP and HTTPS egress: each HTTP request (by its Host) and each TLS\n"
        "connection (by its ClientHello's server name) reaches its destination only when\n"
        "the allow rules allow the name; otherwise it gets 403 Forbidden or a TLS\n"
        "access_denied alert. Nothing is decrypted.\n"
        "\n"
        "  --container-id ID        put ID into the log lines\n"
        "  --inherit-http FD        serve this listening TCP socket as HTTP\n"
        "  --inherit-tls FD         serve this listening TCP socket as TLS\n"
        "  --inherit-virtual FD     serve this listening TCP socket for virtual addresses\n"
        "  --virtual-map-fd FD      the stub's name map (read-only): virtual address -> name\n"
        "  --virtual-ipv4 NET       the IPv4 pool (default " DJ_VADDR_DEFAULT_IPV4 ")\n"
        "  --virtual-ipv6 NET       the IPv6 pool (default " DJ_VADDR_DEFAULT_IPV6 ")\n"
        "  --virtual-max-names N    the pool's bound, as the stub has it\n"
        "  --listen-http ADDR:PORT  bind an HTTP listener itself (127.0.0.1:8080, [::1]:8080)\n"
        "  --listen-tls ADDR:PORT   bind a TLS listener itself\n"
        "  --policy-fd FD           read the io.dnsjail.allow value from FD (to EOF)\n"
        "  --allow RULES            the allow rules on the command line (repeatable)\n"
        "  --allow-wildcard-all     accept a bare '*' rule\n"
        "  --audit                  audit mode: relay what the rules do not allow (not what\n"
        "                           --upstream-allow refuses), log would_block; on the virtual\n"
        "                           listener, relay any TCP connection to its destination\n"
        "  --config-fd FD           read the hook's settings from this sealed memfd (see\n"
        "                           lib/daemon/daemonconf.h; its keys are the options here)\n"
        "  --ready-fd FD            report readiness (or the startup error) on this pipe\n"
        "  --watch-pidfd FD         exit when this process (and every other watched one) "
        "exits\n"
        "  --control-fd FD          listening AF_UNIX SOCK_SEQPACKET control socket\n"
        "  --log-fd FD              append one JSON line per request/connection to FD\n"
        "  --system-log-fd FD  also send each line to this journald/syslog socket\n"
        "  --system-log-format journal|syslog  how (journald's native protocol or RFC 3164)\n"
        "  --log-file PATH          ... to PATH (opened O_APPEND), '-' for standard output\n"
        "  --log-rate N             log at most N lines per second, 0 = no limit (default "
        "%d)\n"
        "  --log-burst N            ... with bursts of up to N lines (default %d)\n"
        "  --resolver SERVER        DNS server for upstream names: ADDR[:PORT], udp://, tcp://\n"
        "                           or tls://ADDR[:853]#NAME[;pin-sha256=B64] (repeatable,\n"
        "                           at most %d; docs/CONFIG.md)\n"
        "  --resolv-conf PATH       ... or the nameservers of PATH (default " DEFAULT_RESOLV_CONF
        ")\n"
        "  --forward ZONE=UP[|UP...]  resolve names in ZONE (and below) through these servers\n"
        "                           instead (the stub's forward zones; repeatable)\n"
        "  --upstream-allow CIDR    let names resolve into this internal range (repeatable)\n"
        "  --max-connections N      client connections at once (default %d)\n"
        "  --handshake-timeout S    for a ClientHello or request head (default %d)\n"
        "  --idle-timeout S         close a connection silent both ways this long (default "
        "%d)\n"
        "  --upstream-port-http N   upstream port when the original destination is unknown\n"
        "                           (not redirected: standalone use; default 80)\n"
        "  --upstream-port-tls N    ... for TLS (default 443)\n"
        "  --user NAME              when started as root, serve as NAME\n"
        "  --metrics-fd FD          write " PROXY_METRICS_FILE " into this directory every 5 s\n"
        "  --metrics-dir PATH       ... into PATH\n"
        "  --netns-key KEY          label the metrics with the jail's namespace key\n",
        DEFAULT_LOG_RATE, DEFAULT_LOG_BURST, DJ_RESOLVER_MAX_SERVERS, PROXY_DEFAULT_MAX_CONNECTIONS,
        PROXY_DEFAULT_HANDSHAKE_MS / 1000, PROXY_DEFAULT_IDLE_MS / 1000);
}

static int parse_seconds(const char *option, const char *text, unsigned *ms, dj_error_t *err)
{
    unsigned long value;

    if (dj_daemon_parse_uint(text, 86400, &value) < 0 || value == 0)
        return dj_error_make(err, 0, "%s: '%s' is not a number of seconds (1-86400)", option, text);
    *ms = (unsigned)value * 1000;
    return 0;
}

static int append_allow(struct options *o, const char *text, dj_error_t *err)
{
    size_t old_len = o->allow_text != NULL ? strlen(o->allow_text) : 0;
    size_t add = strlen(text);
    char *joined;

    if (old_len + add + 2 > DJ_ALLOW_MAX_BYTES)
        return dj_error_make(err, 0, "--allow: more than %d bytes of rules", DJ_ALLOW_MAX_BYTES);
    joined = realloc(o->allow_text, old_len + add + 2);
    if (joined == NULL)
        return dj_error_make(err, ENOMEM, "--allow");
    if (old_len > 0)
        joined[old_len++] = ',';
    memcpy(joined + old_len, text, add + 1);
    o->allow_text = joined;
    return 0;
}

/* The proxy's own options; lib/daemon/daemon.h has those both daemons take. */
enum {
    OPT_INHERIT_HTTP = 256,
    OPT_INHERIT_TLS,
    OPT_LISTEN_HTTP,
    OPT_LISTEN_TLS,
    OPT_POLICY_FD,
    OPT_ALLOW,
    OPT_ALLOW_WILDCARD_ALL,
    OPT_AUDIT,
    OPT_RESOLVER,
    OPT_RESOLV_CONF,
    OPT_FORWARD,
    OPT_UPSTREAM_ALLOW,
    OPT_MAX_CONNECTIONS,
    OPT_HANDSHAKE_TIMEOUT,
    OPT_IDLE_TIMEOUT,
    OPT_UPSTREAM_PORT_HTTP,
    OPT_UPSTREAM_PORT_TLS,
    OPT_INHERIT_VIRTUAL,
    OPT_VIRTUAL_MAP_FD,
    OPT_VIRTUAL4,
    OPT_VIRTUAL6,
    OPT_VIRTUAL_MAX,
};
static const struct option longopts[] = {
    DJ_DAEMON_LONGOPTS,
    {"inherit-http", required_argument, NULL, OPT_INHERIT_HTTP},
    {"inherit-tls", required_argument, NULL, OPT_INHERIT_TLS},
    {"listen-http", required_argument, NULL, OPT_LISTEN_HTTP},
    {"listen-tls", required_argument, NULL, OPT_LISTEN_TLS},
    {"policy-fd", required_argument, NULL, OPT_POLICY_FD},
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"allow-wildcard-all", no_argument, NULL, OPT_ALLOW_WILDCARD_ALL},
    {"audit", no_argument, NULL, OPT_AUDIT},
    {"resolver", required_argument, NULL, OPT_RESOLVER},
    {"resolv-conf", required_argument, NULL, OPT_RESOLV_CONF},
    {"forward", required_argument, NULL, OPT_FORWARD},
    {"upstream-allow", required_argument, NULL, OPT_UPSTREAM_ALLOW},
    {"max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS},
    {"handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"upstream-port-http", required_argument, NULL, OPT_UPSTREAM_PORT_HTTP},
    {"upstream-port-tls", required_argument, NULL, OPT_UPSTREAM_PORT_TLS},
    {"inherit-virtual", required_argument, NULL, OPT_INHERIT_VIRTUAL},
    {"virtual-map-fd", required_argument, NULL, OPT_VIRTUAL_MAP_FD},
    {"virtual-ipv4", required_argument, NULL, OPT_VIRTUAL4},
    {"virtual-ipv6", required_argument, NULL, OPT_VIRTUAL6},
    {"virtual-max-names", required_argument, NULL, OPT_VIRTUAL_MAX},
    {NULL, 0, NULL, 0},
};

/* One of the proxy's settings, from the command line or the hook's configuration. */
static int apply_option(void *ctx, int opt, const char *value, dj_error_t *err)
{
    struct options *o = ctx;
    struct proxy_config *cfg = &o->proxy;
    unsigned long number;

    switch (opt) {
    case OPT_INHERIT_HTTP:
        if (dj_daemon_add_fd("--inherit-http", value, cfg->http_fds, &cfg->n_http,
                             PROXY_MAX_LISTENERS, err) < 0)
            return -1;
        break;
    case OPT_INHERIT_TLS:
        if (dj_daemon_add_fd("--inherit-tls", value, cfg->tls_fds, &cfg->n_tls, PROXY_MAX_LISTENERS,
                             err) < 0)
            return -1;
        break;
    case OPT_INHERIT_VIRTUAL:
        if (dj_daemon_add_fd("--inherit-virtual", value, cfg->virtual_fds, &cfg->n_virtual,
                             PROXY_MAX_LISTENERS, err) < 0)
            return -1;
        break;
    case OPT_VIRTUAL_MAP_FD:
        if (dj_daemon_parse_fd("--virtual-map-fd", value, &o->virtual_map_fd, err) < 0)
            return -1;
        break;
    case OPT_VIRTUAL4:
        o->virtual4 = value;
        break;
    case OPT_VIRTUAL6:
        o->virtual6 = value;
        break;
    case OPT_VIRTUAL_MAX:
        if (dj_daemon_parse_uint(value, DJ_VADDR_MAX_NAMES, &number) < 0 || number == 0)
            return dj_error_make(err, 0, "--virtual-max-names: '%s' is not in 1..%d", value,
                                 DJ_VADDR_MAX_NAMES);
        o->virtual_max_names = (unsigned)number;
        break;
    case OPT_LISTEN_HTTP:
    case OPT_LISTEN_TLS: {
        bool http = opt == OPT_LISTEN_HTTP;
        size_t *n = http ? &o->n_listen_http : &o->n_listen_tls;

        if (*n == PROXY_MAX_LISTENERS)
            return dj_error_make(err, 0, "%s: at most %d of them",
                                 http ? "--listen-http" : "--listen-tls", PROXY_MAX_LISTENERS);
        (http ? o->listen_http : o->listen_tls)[(*n)++] = value;
        break;
    }
    case OPT_POLICY_FD:
        if (dj_daemon_parse_fd("--policy-fd", value, &o->policy_fd, err) < 0)
            return -1;
        break;
    case OPT_ALLOW:
        if (append_allow(o, value, err) < 0)
            return -1;
        break;
    case OPT_ALLOW_WILDCARD_ALL:
        o->allow_wildcard_all = true;
        break;
    case OPT_AUDIT:
        cfg->audit = true;
        break;
    case OPT_RESOLVER:
        if (dj_resolver_config_add_server(&cfg->resolver, value, err) < 0)
            return dj_error_wrap(err, "--resolver");
        o->have_resolvers = true;
        break;
    case OPT_RESOLV_CONF:
        o->resolv_conf = value;
        break;
    case OPT_FORWARD:
        if (dj_fwdzone_parse_option(&cfg->forward, value, err) < 0)
            return -1;
        break;
    case OPT_UPSTREAM_ALLOW:
        if (cfg->n_upstream_allow == PROXY_MAX_UPSTREAM_ALLOW)
            return dj_error_make(err, 0, "--upstream-allow: at most %d of them",
                                 PROXY_MAX_UPSTREAM_ALLOW);
        if (cidr_parse(value, &cfg->upstream_allow[cfg->n_upstream_allow], err) < 0)
            return dj_error_wrap(err, "--upstream-allow");
        cfg->n_upstream_allow++;
        break;
    case OPT_MAX_CONNECTIONS:
        if (dj_daemon_parse_uint(value, MAX_CONNECTIONS_LIMIT, &number) < 0 || number == 0)
            return dj_error_make(err, 0, "--max-connections: '%s' is not a number (1-%d)", value,
                                 MAX_CONNECTIONS_LIMIT);
        cfg->max_connections = number;
        break;
    case OPT_HANDSHAKE_TIMEOUT:
        if (parse_seconds("--handshake-timeout", value, &cfg->handshake_ms, err) < 0)
            return -1;
        break;
    case OPT_IDLE_TIMEOUT:
        if (parse_seconds("--idle-timeout", value, &cfg->idle_ms, err) < 0)
            return -1;
        break;
    case OPT_UPSTREAM_PORT_HTTP:
        if (dj_daemon_parse_port("--upstream-port-http", value, &cfg->default_port_http, err) < 0)
            return -1;
        break;
    case OPT_UPSTREAM_PORT_TLS:
        if (dj_daemon_parse_port("--upstream-port-tls", value, &cfg->default_port_tls, err) < 0)
            return -1;
        break;
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o, dj_error_t *err)
{
    struct proxy_config *cfg = &o->proxy;

    if (dj_daemon_parse_options(&o->daemon, argc, argv, longopts, usage, apply_option, o, err) < 0)
        return -1;
    if (dj_daemon_options_check(&o->daemon, err) < 0)
        return -1;
    if (o->policy_fd >= 0 && o->allow_text != NULL)
        return dj_error_make(err, 0, "--policy-fd and --allow exclude each other");
    if (o->have_resolvers && o->resolv_conf != NULL)
        return dj_error_make(err, 0, "--resolver and --resolv-conf exclude each other");
    if (o->n_listen_http == 0 && o->n_listen_tls == 0 && cfg->n_http == 0 && cfg->n_tls == 0 &&
        cfg->n_virtual == 0)
        return dj_error_make(err, 0,
                             "nothing to serve: give --inherit-http/--inherit-tls or "
                             "--listen-http/--listen-tls");
    return 0;
}

/* Accepted sockets inherit TCP_NODELAY from their listener: set once here, not per client.
 * The relay forwards what it gets as it gets it; Nagle would hold small pieces back. */
static int set_nodelay(const char *option, int fd, dj_error_t *err)
{
    int one = 1;

    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0)
        return dj_error_make(err, errno, "TCP_NODELAY on %s %d", option, fd);
    return 0;
}

static int bind_listener(const char *option, const char *text, dj_error_t *err)
{
    struct sockaddr_storage addr;
    socklen_t len = 0;
    cleanup_close int fd = -1;
    int one = 1;

    if (dj_daemon_parse_listen(option, text, &addr, &len, err) < 0)
        return -1;
    fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dj_error_make(err, errno, "socket for %s", text);
    if (addr.ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        return dj_error_make(err, errno, "IPV6_V6ONLY on %s", text);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return dj_error_make(err, errno, "SO_REUSEADDR on %s", text);
    if (set_nodelay(option, fd, err) < 0)
        return -1;
    if (bind(fd, (const struct sockaddr *)&addr, len) < 0)
        return dj_error_make(err, errno, "bind %s", text);
    if (listen(fd, TCP_BACKLOG) < 0)
        return dj_error_make(err, errno, "listen %s", text);
    return steal_fd(&fd);
}

static int open_listeners(struct options *o, dj_error_t *err)
{
    struct proxy_config *cfg = &o->proxy;

    for (size_t i = 0; i < o->n_listen_http; i++) {
        int fd;

        if (cfg->n_http == PROXY_MAX_LISTENERS)
            return dj_error_make(err, 0, "at most %d HTTP listeners", PROXY_MAX_LISTENERS);
        if ((fd = bind_listener("--listen-http", o->listen_http[i], err)) < 0)
            return -1;
        cfg->http_fds[cfg->n_http++] = fd;
    }
    for (size_t i = 0; i < o->n_listen_tls; i++) {
        int fd;

        if (cfg->n_tls == PROXY_MAX_LISTENERS)
            return dj_error_make(err, 0, "at most %d TLS listeners", PROXY_MAX_LISTENERS);
        if ((fd = bind_listener("--listen-tls", o->listen_tls[i], err)) < 0)
            return -1;
        cfg->tls_fds[cfg->n_tls++] = fd;
    }
    return 0;
}

static int check_fds(struct options *o, dj_error_t *err)
{
    struct proxy_config *cfg = &o->proxy;

    for (size_t i = 0; i < cfg->n_http; i++)
        if (dj_daemon_check_socket("--inherit-http", cfg->http_fds[i], SOCK_STREAM, err) < 0 ||
            set_nodelay("--inherit-http", cfg->http_fds[i], err) < 0)
            return -1;
    for (size_t i = 0; i < cfg->n_tls; i++)
        if (dj_daemon_check_socket("--inherit-tls", cfg->tls_fds[i], SOCK_STREAM, err) < 0 ||
            set_nodelay("--inherit-tls", cfg->tls_fds[i], err) < 0)
            return -1;
    for (size_t i = 0; i < cfg->n_virtual; i++)
        if (dj_daemon_check_socket("--inherit-virtual", cfg->virtual_fds[i], SOCK_STREAM, err) <
                0 ||
            set_nodelay("--inherit-virtual", cfg->virtual_fds[i], err) < 0)
            return -1;
    return dj_daemon_check_fds(&o->daemon, err);
}

static int load_rules(struct options *o, struct dj_allow_rule **rules, size_t *n_rules,
                      dj_error_t *err)
{
    cleanup_free char *from_fd = NULL;
    const char *text = o->allow_text != NULL ? o->allow_text : "";

    if (o->policy_fd >= 0) {
        if (dj_allow_read_fd(o->policy_fd, &from_fd, err) < 0)
            return -1;
        close(o->policy_fd);
        o->policy_fd = -1;
        text = from_fd;
    }
    if (dj_allow_parse(text, o->allow_wildcard_all, rules, n_rules, err) < 0)
        return dj_error_wrap(err, "allow rules");
    return 0;
}

/* A relayed connection takes two sockets, and two pipes while it moves bulk data. Raise the
 * descriptor limit to fit all of that (the hard limit too when we may); when it stays below,
 * pipes that cannot be had fall back to copying through the connection's buffer, and only
 * when not even the sockets fit is --max-connections lowered (and the log says so). */
static void fit_fd_limit(struct proxy_config *cfg)
{
    rlim_t wanted = (rlim_t)cfg->max_connections * PROXY_FDS_PER_CONN + RESERVED_FDS;
    rlim_t needed = (rlim_t)cfg->max_connections * PROXY_SOCKETS_PER_CONN + RESERVED_FDS;
    struct rlimit limit;
    rlim_t reserve;
    size_t fit;

    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur >= wanted)
        return;
    if (limit.rlim_max < wanted) {
        struct rlimit raised = {wanted, wanted};

        if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
            return;
    }
    limit.rlim_cur = limit.rlim_max < wanted ? limit.rlim_max : wanted;
    setrlimit(RLIMIT_NOFILE, &limit);
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur >= needed)
        return;
    /* RESERVED_FDS is sized for the worst case (a thousand watched containers, a full pipe
     * pool). Under a hard limit we cannot raise (crun applies the bundle's RLIMIT_NOFILE,
     * typically 1024, before it runs hooks, and CAP_SYS_RESOURCE may be missing) keeping it
     * all back would leave room for one connection: keep a quarter of the limit back instead.
     * The pipe pool and the watch set then meet EMFILE sooner; relays fall back to copying. */
    reserve = limit.rlim_cur / 4 < RESERVED_FDS ? limit.rlim_cur / 4 : RESERVED_FDS;
    fit = limit.rlim_cur > reserve + PROXY_SOCKETS_PER_CONN
              ? (size_t)((limit.rlim_cur - reserve) / PROXY_SOCKETS_PER_CONN)
              : 1;
    if (fit >= cfg->max_connections)
        return;
    fprintf(stderr,
            PROGRAM ": the descriptor limit (%llu) fits %zu connections, not %zu: serving at "
                    "most %zu\n",
            (unsigned long long)limit.rlim_cur, fit, cfg->max_connections, fit);
    cfg->requested_connections = cfg->max_connections;
    cfg->max_connections = fit;
}

/* The stub's name map, read-only: the proxy maps virtual addresses back to names with it. */
static int setup_virtual(struct options *o, dj_error_t *err)
{
    struct proxy_config *cfg = &o->proxy;
    struct stat st;
    size_t size;
    void *map;

    if (o->virtual_map_fd < 0) {
        /* Audit mode serves every other TCP connection there, virtual addresses or not. */
        if (cfg->n_virtual > 0 && !cfg->audit)
            return dj_error_make(err, 0, "--inherit-virtual needs --virtual-map-fd or --audit");
        return 0;
    }
    if (dj_vaddr_pool_init(
            &cfg->vpool, o->virtual4 != NULL ? o->virtual4 : DJ_VADDR_DEFAULT_IPV4,
            o->virtual6 != NULL ? o->virtual6 : DJ_VADDR_DEFAULT_IPV6,
            o->virtual_max_names != 0 ? o->virtual_max_names : DJ_VADDR_DEFAULT_MAX_NAMES, err) < 0)
        return -1;
    size = dj_vaddr_map_size(cfg->vpool.n_slots);
    if (fstat(o->virtual_map_fd, &st) < 0)
        return dj_error_make(err, errno, "--virtual-map-fd %d", o->virtual_map_fd);
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size != size)
        return dj_error_make(err, 0, "--virtual-map-fd %d: %lld bytes, the pool needs exactly %zu",
                             o->virtual_map_fd, (long long)st.st_size, size);
    map = mmap(NULL, size, PROT_READ, MAP_SHARED, o->virtual_map_fd, 0);
    if (map == MAP_FAILED)
        return dj_error_make(err, errno, "mapping --virtual-map-fd %d", o->virtual_map_fd);
    close(o->virtual_map_fd);
    o->virtual_map_fd = -1;
    cfg->vmap = map;
    return 0;
}

static int setup_resolver(struct options *o, dj_error_t *err)
{
    struct dj_resolver_config *rc = &o->proxy.resolver;

    if (!o->have_resolvers) {
        const char *path = o->resolv_conf != NULL ? o->resolv_conf : DEFAULT_RESOLV_CONF;

        if (dj_resolver_config_from_resolv_conf(rc, path, err) < 0)
            return -1;
        if (rc->n_servers == 0)
            return dj_error_make(err, 0, "%s names no nameserver: give --resolver", path);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    struct dj_allow_rule *rules = NULL;
    size_t n_rules = 0;
    struct proxy *proxy;
    dj_error_t err = NULL;

    memset(&o, 0, sizeof(o));
    dj_daemon_options_init(&o.daemon, PROGRAM, &o.proxy.common);
    o.policy_fd = -1;
    o.virtual_map_fd = -1;
    o.proxy.default_port_http = 80;
    o.proxy.default_port_tls = 443;
    o.proxy.max_connections = PROXY_DEFAULT_MAX_CONNECTIONS;
    o.proxy.handshake_ms = PROXY_DEFAULT_HANDSHAKE_MS;
    o.proxy.idle_ms = PROXY_DEFAULT_IDLE_MS;
    dj_resolver_config_init(&o.proxy.resolver);

    /* A spare's descriptor limit is the one its spawn gave it (the hook checks it fits before
     * it assigns one); it returns here once assigned a jail, with the command line the hook
     * would have given a spawned proxy. */
    if (dj_spare_requested(argc, argv))
        dj_spare_serve(PROGRAM, &argc, &argv, DJ_SECCOMP_PROXY_SPARE);
    if (parse_options(argc, argv, &o, &err) < 0)
        dj_daemon_die(&o.daemon, dj_error_msg(&err));
    dj_daemon_refuse_root(&o.daemon);
    fit_fd_limit(&o.proxy);
    if (check_fds(&o, &err) < 0 ||
        dj_system_log_from_options(o.daemon.system_log_fd, o.daemon.system_log_format, PROGRAM,
                                   o.proxy.common.container_id, &err) < 0 ||
        load_rules(&o, &rules, &n_rules, &err) < 0 || setup_resolver(&o, &err) < 0 ||
        setup_virtual(&o, &err) < 0 || dj_daemon_open_files(&o.daemon, &err) < 0 ||
        open_listeners(&o, &err) < 0 || dj_daemon_setup_signals(&o.daemon, &err) < 0)
        dj_daemon_die(&o.daemon, dj_error_msg(&err));
    /* One lookup per connection at most; its queries fit in the connection's descriptors. */
    o.proxy.resolver.max_inflight = o.proxy.max_connections;
    o.proxy.rules = rules;
    o.proxy.n_rules = n_rules;
    proxy = proxy_prepare(&o.proxy, &err);
    if (proxy == NULL)
        dj_daemon_die(&o.daemon, dj_error_msg(&err));
    /* Every fd is open and the tables allocated: from here on, only what proxy_run needs. */
    if (dj_daemon_enter_service(&o.daemon, DJ_SECCOMP_PROXY) < 0)
        return 1;
    if (proxy_run(proxy, &err) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", dj_error_msg(&err));
        dj_daemon_exit(1);
    }
    dj_daemon_exit(0);
}
