#include "config.h"

/* dnsjail-dnsstub: answers every DNS query with the sinkhole address, so no query name
 * reaches a real resolver, except names inside the forward zones it is given (--forward),
 * which it asks of those zones' upstreams and nowhere else; a name that a host rule with a port
 * allows gets a virtual address instead (virtual.c), still without asking anyone. This file
 * turns the command line and the hook's configuration (--config-fd, lib/daemon/daemonconf.h; each
 * setting read in apply_option, wherever it comes from) into open, checked, non-blocking fds
 * (and the mapped name map), then drops privileges and hands over to the event loop in stub.c. */

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "daemon/daemon.h"
#include "base/error.h"
#include "dns/fwdzone.h"
#include "daemon/jsonlog.h"
#include "daemon/spare.h"
#include "stub.h"

#define PROGRAM "dnsjail-dnsstub"
#define DEFAULT_SINKHOLE4 "6.6.6.6"
#define DEFAULT_TTL 5
#define DEFAULT_LOG_RATE DJ_DAEMON_DEFAULT_LOG_RATE
#define DEFAULT_LOG_BURST DJ_DAEMON_DEFAULT_LOG_BURST
#define DEFAULT_FORWARD_CACHE 1024
#define DEFAULT_FORWARD_FLOOR 5
#define DEFAULT_FORWARD_CEILING 3600
#define DEFAULT_FORWARD_RATE 100
#define DEFAULT_FORWARD_BURST 200
#define TCP_BACKLOG 128
#define WANTED_FD_LIMIT 4096 /* every bounded set of stub.h together, with room to spare */

struct options {
    struct dj_daemon_options daemon; /* the options the proxy has too */
    const char *listen[STUB_MAX_SOCKETS];
    size_t n_listen;
    struct stub_config stub;
    struct stub_virtual_options virt_options;
    struct stub_virtual virt;
    bool cdns_names_given;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: " PROGRAM " [--listen ADDR:PORT]... [--inherit-udp FD]... [--inherit-tcp FD]...\n"
        "           [--config-fd FD] [--ready-fd FD] [--watch-pidfd FD]... [--control-fd FD]\n"
        "           [--log-fd FD | --log-file PATH|-] [--container-id ID]\n"
        "           [--sinkhole-ipv4 ADDR] [--sinkhole-ipv6 ADDR] [--ttl SECONDS]\n"
        "           [--log-rate N] [--log-burst N] [--user NAME]\n"
        "           [--metrics-fd FD | --metrics-dir PATH] [--netns-key KEY] [--help]\n"
        "           [--forward ZONE=UPSTREAM[|UPSTREAM...]]... [--forward-cache-entries N]\n"
        "           [--forward-ttl-floor S] [--forward-ttl-ceiling S] [--forward-rate N]\n"
        "           [--forward-burst N] [--forward-timeout-ms MS]\n"
        "           [--container-dns-fd FD]... [--container-dns-names LIST]\n"
        "           [--policy-fd FD | --allow RULES] [--virtual-map-fd FD]\n"
        "           [--virtual-ipv4 NET] [--virtual-ipv6 NET] [--virtual-max-names N]\n"
        "           [--audit --audit-upstream UP[|UP...]]\n"
        "\n"
        "Answers every DNS query itself: A gets the IPv4 sinkhole (default " DEFAULT_SINKHOLE4
        "),\n"
        "AAAA the IPv6 sinkhole when one is given, everything else an empty NOERROR.\n"
        "\n"
        "  --listen ADDR:PORT   bind UDP and TCP there itself (127.0.0.1:5300, [::1]:5300)\n"
        "  --inherit-udp FD     serve this bound UDP socket\n"
        "  --inherit-tcp FD     serve this listening TCP socket\n"
        "  --config-fd FD       read the hook's settings from this sealed memfd (see\n"
        "                       lib/daemon/daemonconf.h; its keys are the options below)\n"
        "  --ready-fd FD        report readiness (or the startup error) on this pipe\n"
        "  --watch-pidfd FD     exit when this process (and every other watched one) exits\n"
        "  --control-fd FD      listening AF_UNIX SOCK_SEQPACKET control socket\n"
        "  --log-fd FD          append one JSON line per query to FD\n"
        "  --system-log-fd FD  also send each line to this journald/syslog socket\n"
        "  --system-log-format journal|syslog  how (journald's native protocol or RFC 3164)\n"
        "  --log-file PATH      ... to PATH (opened O_APPEND), '-' for standard output\n"
        "  --container-id ID    put ID into the log lines\n"
        "  --ttl SECONDS        TTL of the answers (default %d)\n"
        "  --log-rate N         log at most N lines per second, 0 = no limit (default %d)\n"
        "  --log-burst N        ... with bursts of up to N lines (default %d)\n"
        "  --user NAME          when started as root, serve as NAME\n"
        "  --metrics-fd FD      write " STUB_METRICS_FILE " into this directory every %d s\n"
        "  --metrics-dir PATH   ... into PATH\n"
        "  --netns-key KEY      label the metrics with the jail's namespace key\n"
        "  --forward ZONE=UP[|UP...]  forward names in ZONE (and below) to these upstreams\n"
        "                       (lib/dns/resolver syntax; at most %d), the real answer goes back\n"
        "  --forward-cache-entries N  forwarded answers cached (default %d, 0 = none)\n"
        "  --forward-ttl-floor S, --forward-ttl-ceiling S  cache lifetime bounds (%d, %d)\n"
        "  --forward-rate N, --forward-burst N  upstream queries per second and burst,\n"
        "                       beyond it REFUSED (default %d, %d; rate 0 = no limit)\n"
        "  --forward-timeout-ms MS  per upstream attempt (default: the resolver's)\n"
        "  --policy-fd FD       read the io.dnsjail.allow rules from FD: a name that a host\n"
        "                       rule with a port allows gets a virtual address\n"
        "  --allow RULES        ... or take the rules from here\n"
        "  --virtual-map-fd FD  the name map shared with the proxy (read-write)\n"
        "  --virtual-ipv4 NET   the IPv4 pool (default " DJ_VADDR_DEFAULT_IPV4 ")\n"
        "  --virtual-ipv6 NET   the IPv6 pool (default " DJ_VADDR_DEFAULT_IPV6 ")\n"
        "  --virtual-max-names N  names with an address at once (default %d)\n"
        "  --audit              audit mode: resolve every name for real (names outside the\n"
        "                       forward zones through --audit-upstream), log would_block\n"
        "  --audit-upstream UP[|UP...]  the upstreams for those names\n"
        "  --container-dns-fd FD  a UDP socket connected to the container engine's resolver\n"
        "                       (opened in the container's namespace; up to 16 of them)\n"
        "  --container-dns-names LIST  names asked of it: *, NAME or *.SUFFIX (default *:\n"
        "                       single-label names)\n",
        DEFAULT_TTL, DEFAULT_LOG_RATE, DEFAULT_LOG_BURST, STUB_METRICS_INTERVAL_MS / 1000,
        DJ_FWDZONE_MAX_UPSTREAMS, DEFAULT_FORWARD_CACHE, DEFAULT_FORWARD_FLOOR,
        DEFAULT_FORWARD_CEILING, DEFAULT_FORWARD_RATE, DEFAULT_FORWARD_BURST,
        DJ_VADDR_DEFAULT_MAX_NAMES);
}

static const char *option_name(const struct option *longopts, int opt)
{
    for (; longopts->name != NULL; longopts++)
        if (longopts->val == opt)
            return longopts->name;
    return "?";
}

/* The stub's own options; lib/daemon/daemon.h has those both daemons take. */
enum {
    OPT_LISTEN = 256,
    OPT_INHERIT_UDP,
    OPT_INHERIT_TCP,
    OPT_SINKHOLE4,
    OPT_SINKHOLE6,
    OPT_TTL,
    OPT_FORWARD,
    OPT_FORWARD_CACHE,
    OPT_FORWARD_FLOOR,
    OPT_FORWARD_CEILING,
    OPT_FORWARD_RATE,
    OPT_FORWARD_BURST,
    OPT_FORWARD_TIMEOUT,
    OPT_POLICY_FD,
    OPT_ALLOW,
    OPT_VIRTUAL_MAP_FD,
    OPT_VIRTUAL4,
    OPT_VIRTUAL6,
    OPT_VIRTUAL_MAX,
    OPT_AUDIT,
    OPT_AUDIT_UPSTREAM,
    OPT_CDNS_FD,
    OPT_CDNS_NAMES,
};
static const struct option longopts[] = {
    DJ_DAEMON_LONGOPTS,
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"inherit-udp", required_argument, NULL, OPT_INHERIT_UDP},
    {"inherit-tcp", required_argument, NULL, OPT_INHERIT_TCP},
    {"sinkhole-ipv4", required_argument, NULL, OPT_SINKHOLE4},
    {"sinkhole-ipv6", required_argument, NULL, OPT_SINKHOLE6},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"forward", required_argument, NULL, OPT_FORWARD},
    {"forward-cache-entries", required_argument, NULL, OPT_FORWARD_CACHE},
    {"forward-ttl-floor", required_argument, NULL, OPT_FORWARD_FLOOR},
    {"forward-ttl-ceiling", required_argument, NULL, OPT_FORWARD_CEILING},
    {"forward-rate", required_argument, NULL, OPT_FORWARD_RATE},
    {"forward-burst", required_argument, NULL, OPT_FORWARD_BURST},
    {"forward-timeout-ms", required_argument, NULL, OPT_FORWARD_TIMEOUT},
    {"policy-fd", required_argument, NULL, OPT_POLICY_FD},
    {"allow", required_argument, NULL, OPT_ALLOW},
    {"virtual-map-fd", required_argument, NULL, OPT_VIRTUAL_MAP_FD},
    {"virtual-ipv4", required_argument, NULL, OPT_VIRTUAL4},
    {"virtual-ipv6", required_argument, NULL, OPT_VIRTUAL6},
    {"virtual-max-names", required_argument, NULL, OPT_VIRTUAL_MAX},
    {"audit", no_argument, NULL, OPT_AUDIT},
    {"audit-upstream", required_argument, NULL, OPT_AUDIT_UPSTREAM},
    {"container-dns-fd", required_argument, NULL, OPT_CDNS_FD},
    {"container-dns-names", required_argument, NULL, OPT_CDNS_NAMES},
    {NULL, 0, NULL, 0},
};

/* One of the stub's settings, from the command line or the hook's configuration. */
static int apply_option(void *ctx, int opt, const char *value, dj_error_t *err)
{
    struct options *o = ctx;
    struct stub_config *cfg = &o->stub;
    unsigned long number;

    switch (opt) {
    case OPT_LISTEN:
        if (o->n_listen == STUB_MAX_SOCKETS / 2)
            return dj_error_make(err, 0, "--listen: at most %d of them", STUB_MAX_SOCKETS / 2);
        o->listen[o->n_listen++] = value;
        break;
    case OPT_INHERIT_UDP:
        if (dj_daemon_add_fd("--inherit-udp", value, cfg->udp_fds, &cfg->n_udp, STUB_MAX_SOCKETS,
                             err) < 0)
            return -1;
        break;
    case OPT_INHERIT_TCP:
        if (dj_daemon_add_fd("--inherit-tcp", value, cfg->tcp_fds, &cfg->n_tcp, STUB_MAX_SOCKETS,
                             err) < 0)
            return -1;
        break;
    case OPT_SINKHOLE4:
        if (inet_pton(AF_INET, value, &cfg->policy.sinkhole4) != 1)
            return dj_error_make(err, 0, "--sinkhole-ipv4: '%s' is not an IPv4 address", value);
        break;
    case OPT_SINKHOLE6:
        if (inet_pton(AF_INET6, value, &cfg->policy.sinkhole6) != 1)
            return dj_error_make(err, 0, "--sinkhole-ipv6: '%s' is not an IPv6 address", value);
        cfg->policy.have_sinkhole6 = true;
        break;
    case OPT_TTL:
        /* RFC 2181 8: a TTL is 0 .. 2^31 - 1. */
        if (dj_daemon_parse_uint(value, INT32_MAX, &number) < 0)
            return dj_error_make(err, 0, "--ttl: '%s' is not a number of seconds (0-%d)", value,
                                 INT32_MAX);
        cfg->policy.ttl = (uint32_t)number;
        break;
    case OPT_FORWARD:
        if (dj_fwdzone_parse_option(&cfg->forward, value, err) < 0)
            return -1;
        break;
    case OPT_FORWARD_CACHE:
    case OPT_FORWARD_FLOOR:
    case OPT_FORWARD_CEILING:
    case OPT_FORWARD_RATE:
    case OPT_FORWARD_BURST:
    case OPT_FORWARD_TIMEOUT:
        if (dj_daemon_parse_uint(value, opt == OPT_FORWARD_CACHE ? 1000000 : 604800, &number) < 0 ||
            ((opt == OPT_FORWARD_BURST || opt == OPT_FORWARD_CEILING) && number == 0))
            return dj_error_make(err, 0, "--%s: '%s' is not a number in range",
                                 option_name(longopts, opt), value);
        if (opt == OPT_FORWARD_CACHE)
            cfg->forward_cache_entries = number;
        else if (opt == OPT_FORWARD_FLOOR)
            cfg->forward_ttl_floor = (uint32_t)number;
        else if (opt == OPT_FORWARD_CEILING)
            cfg->forward_ttl_ceiling = (uint32_t)number;
        else if (opt == OPT_FORWARD_RATE)
            cfg->forward_rate = (unsigned)number;
        else if (opt == OPT_FORWARD_BURST)
            cfg->forward_burst = (unsigned)number;
        else
            cfg->forward_timeout_ms = (unsigned)number;
        break;
    case OPT_POLICY_FD:
        if (dj_daemon_parse_fd("--policy-fd", value, &o->virt_options.policy_fd, err) < 0)
            return -1;
        break;
    case OPT_ALLOW:
        o->virt_options.allow_text = value;
        break;
    case OPT_VIRTUAL_MAP_FD:
        if (dj_daemon_parse_fd("--virtual-map-fd", value, &o->virt_options.map_fd, err) < 0)
            return -1;
        break;
    case OPT_VIRTUAL4:
        o->virt_options.net4 = value;
        break;
    case OPT_VIRTUAL6:
        o->virt_options.net6 = value;
        break;
    case OPT_VIRTUAL_MAX:
        if (dj_daemon_parse_uint(value, DJ_VADDR_MAX_NAMES, &number) < 0 || number == 0)
            return dj_error_make(err, 0, "--virtual-max-names: '%s' is not in 1..%d", value,
                                 DJ_VADDR_MAX_NAMES);
        o->virt_options.max_names = (unsigned)number;
        break;
    case OPT_AUDIT:
        cfg->audit = true;
        break;
    case OPT_AUDIT_UPSTREAM:
        cfg->audit_upstreams = value;
        break;
    case OPT_CDNS_FD:
        if (dj_daemon_add_fd("--container-dns-fd", value, cfg->cdns_fds, &cfg->n_cdns_fds,
                             DJ_RESOLVER_MAX_POOL, err) < 0)
            return -1;
        break;
    case OPT_CDNS_NAMES:
        o->cdns_names_given = true;
        if (dj_cdnsnames_parse(&cfg->cdns_names, value, err) < 0)
            return dj_error_wrap(err, "--container-dns-names");
        break;
    }
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o, dj_error_t *err)
{
    struct stub_config *cfg = &o->stub;

    if (dj_daemon_parse_options(&o->daemon, argc, argv, longopts, usage, apply_option, o, err) < 0)
        return -1;
    if (o->virt_options.policy_fd >= 0 && o->virt_options.allow_text != NULL)
        return dj_error_make(err, 0, "--policy-fd and --allow exclude each other");
    if (cfg->audit != (cfg->audit_upstreams != NULL))
        return dj_error_make(err, 0, "--audit and --audit-upstream go together");
    if (cfg->audit && o->virt_options.map_fd >= 0)
        return dj_error_make(err, 0, "--audit answers with real addresses: no --virtual-map-fd");
    if (dj_daemon_options_check(&o->daemon, err) < 0)
        return -1;
    if (o->cdns_names_given && cfg->n_cdns_fds == 0)
        return dj_error_make(err, 0, "--container-dns-names needs --container-dns-fd");
    /* Docker's resolver owns the single-label names (containers' names and aliases). */
    if (!o->cdns_names_given && cfg->n_cdns_fds > 0 &&
        dj_cdnsnames_parse(&cfg->cdns_names, DJ_CDNSNAMES_DEFAULT, err) < 0)
        return -1;
    if (cfg->forward_ttl_floor > cfg->forward_ttl_ceiling)
        return dj_error_make(err, 0, "--forward-ttl-floor is above --forward-ttl-ceiling");
    if (o->n_listen == 0 && cfg->n_udp == 0 && cfg->n_tcp == 0)
        return dj_error_make(err, 0,
                             "nothing to serve: give --listen or --inherit-udp/--inherit-tcp");
    return 0;
}

static int bind_socket(const char *text, const struct sockaddr_storage *addr, socklen_t len,
                       int type, dj_error_t *err)
{
    cleanup_close int fd = socket(addr->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;

    if (fd < 0)
        return dj_error_make(err, errno, "socket for %s", text);
    if (addr->ss_family == AF_INET6 &&
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
        return dj_error_make(err, errno, "IPV6_V6ONLY on %s", text);
    if (type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
        return dj_error_make(err, errno, "SO_REUSEADDR on %s", text);
    if (bind(fd, (const struct sockaddr *)addr, len) < 0)
        return dj_error_make(err, errno, "bind %s/%s", text, type == SOCK_STREAM ? "tcp" : "udp");
    if (type == SOCK_STREAM && listen(fd, TCP_BACKLOG) < 0)
        return dj_error_make(err, errno, "listen %s/tcp", text);
    return steal_fd(&fd);
}

static int open_listeners(struct options *o, dj_error_t *err)
{
    struct stub_config *cfg = &o->stub;

    for (size_t i = 0; i < o->n_listen; i++) {
        struct sockaddr_storage addr;
        socklen_t len = 0;
        int fd;

        if (cfg->n_udp == STUB_MAX_SOCKETS || cfg->n_tcp == STUB_MAX_SOCKETS)
            return dj_error_make(err, 0, "too many sockets (at most %d UDP and %d TCP)",
                                 STUB_MAX_SOCKETS, STUB_MAX_SOCKETS);
        if (dj_daemon_parse_listen("--listen", o->listen[i], &addr, &len, err) < 0)
            return -1;
        fd = bind_socket(o->listen[i], &addr, len, SOCK_DGRAM, err);
        if (fd < 0)
            return -1;
        cfg->udp_fds[cfg->n_udp++] = fd;
        fd = bind_socket(o->listen[i], &addr, len, SOCK_STREAM, err);
        if (fd < 0)
            return -1;
        cfg->tcp_fds[cfg->n_tcp++] = fd;
    }
    return 0;
}

static int check_fds(struct options *o, dj_error_t *err)
{
    struct stub_config *cfg = &o->stub;

    for (size_t i = 0; i < cfg->n_udp; i++)
        if (dj_daemon_check_socket("--inherit-udp", cfg->udp_fds[i], SOCK_DGRAM, err) < 0)
            return -1;
    for (size_t i = 0; i < cfg->n_tcp; i++)
        if (dj_daemon_check_socket("--inherit-tcp", cfg->tcp_fds[i], SOCK_STREAM, err) < 0)
            return -1;
    for (size_t i = 0; i < cfg->n_cdns_fds; i++)
        if (dj_daemon_check_socket("--container-dns-fd", cfg->cdns_fds[i], SOCK_DGRAM, err) < 0)
            return -1;
    return dj_daemon_check_fds(&o->daemon, err);
}

/* Every bounded set together needs more descriptors than the usual soft limit of 1024. */
static void raise_fd_limit(void)
{
    struct rlimit limit;

    if (getrlimit(RLIMIT_NOFILE, &limit) < 0 || limit.rlim_cur >= WANTED_FD_LIMIT)
        return;
    limit.rlim_cur = limit.rlim_max < WANTED_FD_LIMIT ? limit.rlim_max : WANTED_FD_LIMIT;
    setrlimit(RLIMIT_NOFILE, &limit);
}

int main(int argc, char **argv)
{
    struct options o;
    struct stub *stub;
    struct dj_allow_rule *audit_rules = NULL; /* kept for the stub's life */
    size_t n_audit_rules = 0;
    dj_error_t err = NULL;

    memset(&o, 0, sizeof(o));
    dj_daemon_options_init(&o.daemon, PROGRAM, &o.stub.common);
    o.virt_options.policy_fd = -1;
    o.virt_options.map_fd = -1;
    o.stub.policy.ttl = DEFAULT_TTL;
    o.stub.forward_cache_entries = DEFAULT_FORWARD_CACHE;
    o.stub.forward_ttl_floor = DEFAULT_FORWARD_FLOOR;
    o.stub.forward_ttl_ceiling = DEFAULT_FORWARD_CEILING;
    o.stub.forward_rate = DEFAULT_FORWARD_RATE;
    o.stub.forward_burst = DEFAULT_FORWARD_BURST;
    inet_pton(AF_INET, DEFAULT_SINKHOLE4, &o.stub.policy.sinkhole4);

    /* A spare raises its limit while it still may, and returns here once assigned a jail, with
     * the command line the hook would have given a spawned stub. */
    if (dj_spare_requested(argc, argv)) {
        raise_fd_limit();
        dj_spare_serve(PROGRAM, &argc, &argv, DJ_SECCOMP_STUB_SPARE);
    }
    if (parse_options(argc, argv, &o, &err) < 0)
        dj_daemon_die(&o.daemon, dj_error_msg(&err));
    dj_daemon_refuse_root(&o.daemon);
    raise_fd_limit();
    if (check_fds(&o, &err) < 0 ||
        dj_system_log_from_options(o.daemon.system_log_fd, o.daemon.system_log_format, PROGRAM,
                                   o.stub.common.container_id, &err) < 0 ||
        dj_daemon_open_files(&o.daemon, &err) < 0 || open_listeners(&o, &err) < 0 ||
        dj_daemon_setup_signals(&o.daemon, &err) < 0)
        dj_daemon_die(&o.daemon, dj_error_msg(&err));
    if (o.stub.audit) {
        if (stub_read_allow_rules(&o.virt_options, &audit_rules, &n_audit_rules, &err) < 0)
            dj_daemon_die(&o.daemon, dj_error_msg(&err));
        o.stub.audit_rules = audit_rules;
        o.stub.n_audit_rules = n_audit_rules;
    } else if (stub_virtual_setup(&o.virt, &o.virt_options, &err) < 0) {
        dj_daemon_die(&o.daemon, dj_error_msg(&err));
    } else if (o.virt.table != NULL) {
        o.stub.virt = &o.virt;
    }
    /* The mapping stays; the descriptors are not needed after setup. */
    if (o.virt_options.policy_fd >= 0)
        close(o.virt_options.policy_fd);
    if (o.virt_options.map_fd >= 0)
        close(o.virt_options.map_fd);
    stub = stub_prepare(&o.stub, &err);
    if (stub == NULL)
        dj_daemon_die(&o.daemon, dj_error_msg(&err));
    /* Every fd is open and every buffer allocated: from here on, only what stub_run needs. */
    if (dj_daemon_enter_service(&o.daemon, DJ_SECCOMP_STUB) < 0)
        return 1;
    if (stub_run(stub, &err) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", dj_error_msg(&err));
        dj_daemon_exit(1);
    }
    dj_daemon_exit(0);
}
