#include "config.h"

/* dnsjail-dnsstub: answers every DNS query with the sinkhole address, so no query name
 * reaches a real resolver, except names inside the forward zones it is given (--forward),
 * which it asks of those zones' upstreams and nowhere else; a name that a host rule with a port
 * allows gets a virtual address instead (virtual.c), still without asking anyone. This file
 * turns the command line into open, checked, non-blocking fds (and the mapped name map), then
 * drops privileges and hands over to the event loop in stub.c. */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "fwdzone.h"
#include "jsonlog.h"
#include "rootless.h"
#include "sandbox.h"
#include "spawn.h"
#include "metrics.h"
#include "stub.h"

#define PROGRAM "dnsjail-dnsstub"
#define DEFAULT_SINKHOLE4 "6.6.6.6"
#define DEFAULT_TTL 5
#define DEFAULT_LOG_RATE 200
#define DEFAULT_LOG_BURST 400
#define DEFAULT_FORWARD_CACHE 1024
#define DEFAULT_FORWARD_FLOOR 5
#define DEFAULT_FORWARD_CEILING 3600
#define DEFAULT_FORWARD_RATE 100
#define DEFAULT_FORWARD_BURST 200
#define TCP_BACKLOG 128
#define WANTED_FD_LIMIT 4096 /* every bounded set of stub.h together, with room to spare */

struct options {
    int system_log_fd;             /* --system-log-fd, or -1 */
    const char *system_log_format; /* --system-log-format */
    const char *listen[STUB_MAX_SOCKETS];
    size_t n_listen;
    int ready_fd;
    const char *log_file;
    const char *user;
    const char *metrics_dir;
    struct stub_config stub;
    struct stub_virtual_options virt_options;
    struct stub_virtual virt;
};

static void usage(FILE *out)
{
    fprintf(
        out,
        "Usage: " PROGRAM " [--listen ADDR:PORT]... [--inherit-udp FD]... [--inherit-tcp FD]...\n"
        "           [--ready-fd FD] [--watch-pidfd FD]... [--control-fd FD]\n"
        "           [--log-fd FD | --log-file PATH|-] [--container-id ID]\n"
        "           [--sinkhole-ipv4 ADDR] [--sinkhole-ipv6 ADDR] [--ttl SECONDS]\n"
        "           [--log-rate N] [--log-burst N] [--user NAME]\n"
        "           [--metrics-fd FD | --metrics-dir PATH] [--netns-key KEY] [--help]\n"
        "           [--forward ZONE=UPSTREAM[|UPSTREAM...]]... [--forward-cache-entries N]\n"
        "           [--forward-ttl-floor S] [--forward-ttl-ceiling S] [--forward-rate N]\n"
        "           [--forward-burst N] [--forward-timeout-ms MS]\n"
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
        "                       (lib/resolver syntax; at most %d), the real answer goes back\n"
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
        "  --audit-upstream UP[|UP...]  the upstreams for those names\n",
        DEFAULT_TTL, DEFAULT_LOG_RATE, DEFAULT_LOG_BURST, STUB_METRICS_INTERVAL_MS / 1000,
        DJ_FWD_MAX_UPSTREAMS, DEFAULT_FORWARD_CACHE, DEFAULT_FORWARD_FLOOR, DEFAULT_FORWARD_CEILING,
        DEFAULT_FORWARD_RATE, DEFAULT_FORWARD_BURST, DJ_VADDR_DEFAULT_MAX_NAMES);
}

/* Reports a startup failure where someone can see it (stderr, and the hook through the ready
 * pipe) and exits non-zero. */
static void __attribute__((noreturn)) die(int ready_fd, const char *message)
{
    fprintf(stderr, PROGRAM ": %s\n", message);
    dj_report_failure(ready_fd, message);
    exit(1);
}

static int parse_uint(const char *text, unsigned long max, unsigned long *value)
{
    char *end;

    if (text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    *value = strtoul(text, &end, 10);
    if (errno != 0 || *end != '\0' || *value > max)
        return -1;
    return 0;
}

static int parse_fd(const char *option, const char *text, int *fd, dj_error_t *err)
{
    unsigned long value;

    if (parse_uint(text, INT_MAX, &value) < 0)
        return dj_error_make(err, 0, "%s: '%s' is not a file descriptor number", option, text);
    if (fcntl((int)value, F_GETFD) < 0)
        return dj_error_make(err, errno, "%s %lu", option, value);
    *fd = (int)value;
    return 0;
}

static int add_fd(const char *option, const char *text, int *fds, size_t *n, size_t max,
                  dj_error_t *err)
{
    if (*n == max)
        return dj_error_make(err, 0, "%s: at most %zu of them", option, max);
    if (parse_fd(option, text, &fds[*n], err) < 0)
        return -1;
    (*n)++;
    return 0;
}

static const char *option_name(const struct option *longopts, int opt)
{
    for (; longopts->name != NULL; longopts++)
        if (longopts->val == opt)
            return longopts->name;
    return "?";
}

static int parse_options(int argc, char **argv, struct options *o, dj_error_t *err)
{
    enum {
        OPT_LISTEN = 256,
        OPT_INHERIT_UDP,
        OPT_INHERIT_TCP,
        OPT_READY_FD,
        OPT_WATCH_PIDFD,
        OPT_CONTROL_FD,
        OPT_LOG_FD,
        OPT_SYSTEM_LOG_FD,
        OPT_SYSTEM_LOG_FORMAT,
        OPT_LOG_FILE,
        OPT_CONTAINER_ID,
        OPT_SINKHOLE4,
        OPT_SINKHOLE6,
        OPT_TTL,
        OPT_LOG_RATE,
        OPT_LOG_BURST,
        OPT_USER,
        OPT_METRICS_FD,
        OPT_METRICS_DIR,
        OPT_NETNS_KEY,
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
        OPT_HELP,
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"inherit-udp", required_argument, NULL, OPT_INHERIT_UDP},
        {"inherit-tcp", required_argument, NULL, OPT_INHERIT_TCP},
        {"ready-fd", required_argument, NULL, OPT_READY_FD},
        {"watch-pidfd", required_argument, NULL, OPT_WATCH_PIDFD},
        {"control-fd", required_argument, NULL, OPT_CONTROL_FD},
        {"log-fd", required_argument, NULL, OPT_LOG_FD},
        {"system-log-fd", required_argument, NULL, OPT_SYSTEM_LOG_FD},
        {"system-log-format", required_argument, NULL, OPT_SYSTEM_LOG_FORMAT},
        {"log-file", required_argument, NULL, OPT_LOG_FILE},
        {"container-id", required_argument, NULL, OPT_CONTAINER_ID},
        {"sinkhole-ipv4", required_argument, NULL, OPT_SINKHOLE4},
        {"sinkhole-ipv6", required_argument, NULL, OPT_SINKHOLE6},
        {"ttl", required_argument, NULL, OPT_TTL},
        {"log-rate", required_argument, NULL, OPT_LOG_RATE},
        {"log-burst", required_argument, NULL, OPT_LOG_BURST},
        {"user", required_argument, NULL, OPT_USER},
        {"metrics-fd", required_argument, NULL, OPT_METRICS_FD},
        {"metrics-dir", required_argument, NULL, OPT_METRICS_DIR},
        {"netns-key", required_argument, NULL, OPT_NETNS_KEY},
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
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    struct stub_config *cfg = &o->stub;
    unsigned long value;
    int opt;

    opterr = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_LISTEN:
            if (o->n_listen == STUB_MAX_SOCKETS / 2)
                return dj_error_make(err, 0, "--listen: at most %d of them", STUB_MAX_SOCKETS / 2);
            o->listen[o->n_listen++] = optarg;
            break;
        case OPT_INHERIT_UDP:
            if (add_fd("--inherit-udp", optarg, cfg->udp_fds, &cfg->n_udp, STUB_MAX_SOCKETS, err) <
                0)
                return -1;
            break;
        case OPT_INHERIT_TCP:
            if (add_fd("--inherit-tcp", optarg, cfg->tcp_fds, &cfg->n_tcp, STUB_MAX_SOCKETS, err) <
                0)
                return -1;
            break;
        case OPT_READY_FD:
            if (parse_fd("--ready-fd", optarg, &o->ready_fd, err) < 0)
                return -1;
            break;
        case OPT_WATCH_PIDFD:
            if (add_fd("--watch-pidfd", optarg, cfg->watch_fds, &cfg->n_watch, STUB_MAX_WATCHED,
                       err) < 0)
                return -1;
            break;
        case OPT_CONTROL_FD:
            if (parse_fd("--control-fd", optarg, &cfg->control_fd, err) < 0)
                return -1;
            break;
        case OPT_LOG_FD:
            if (parse_fd("--log-fd", optarg, &cfg->log_fd, err) < 0)
                return -1;
            break;
        case OPT_SYSTEM_LOG_FD:
            if (parse_fd("--system-log-fd", optarg, &o->system_log_fd, err) < 0)
                return -1;
            break;
        case OPT_SYSTEM_LOG_FORMAT:
            o->system_log_format = optarg;
            break;
        case OPT_LOG_FILE:
            o->log_file = optarg;
            break;
        case OPT_CONTAINER_ID:
            cfg->container_id = optarg;
            break;
        case OPT_SINKHOLE4:
            if (inet_pton(AF_INET, optarg, &cfg->policy.sinkhole4) != 1)
                return dj_error_make(err, 0, "--sinkhole-ipv4: '%s' is not an IPv4 address",
                                     optarg);
            break;
        case OPT_SINKHOLE6:
            if (inet_pton(AF_INET6, optarg, &cfg->policy.sinkhole6) != 1)
                return dj_error_make(err, 0, "--sinkhole-ipv6: '%s' is not an IPv6 address",
                                     optarg);
            cfg->policy.have_sinkhole6 = true;
            break;
        case OPT_TTL:
            /* RFC 2181 8: a TTL is 0 .. 2^31 - 1. */
            if (parse_uint(optarg, INT32_MAX, &value) < 0)
                return dj_error_make(err, 0, "--ttl: '%s' is not a number of seconds (0-%d)",
                                     optarg, INT32_MAX);
            cfg->policy.ttl = (uint32_t)value;
            break;
        case OPT_LOG_RATE:
        case OPT_LOG_BURST:
            if (parse_uint(optarg, UINT_MAX, &value) < 0)
                return dj_error_make(err, 0, "%s: '%s' is not a number",
                                     opt == OPT_LOG_RATE ? "--log-rate" : "--log-burst", optarg);
            *(opt == OPT_LOG_RATE ? &cfg->log_rate : &cfg->log_burst) = (unsigned)value;
            break;
        case OPT_USER:
            o->user = optarg;
            break;
        case OPT_METRICS_FD:
            if (parse_fd("--metrics-fd", optarg, &cfg->metrics_dir_fd, err) < 0)
                return -1;
            break;
        case OPT_METRICS_DIR:
            o->metrics_dir = optarg;
            break;
        case OPT_NETNS_KEY:
            cfg->netns_key = optarg;
            break;
        case OPT_FORWARD:
            /* Here every zone names its upstreams: the hook has resolved the default. */
            if (strchr(optarg, '=') == NULL)
                return dj_error_make(err, 0, "--forward: '%s' is not ZONE=UPSTREAM[|...]", optarg);
            if (dj_fwd_zones_parse(&cfg->forward, optarg, true, err) < 0)
                return dj_error_wrap(err, "--forward");
            break;
        case OPT_FORWARD_CACHE:
        case OPT_FORWARD_FLOOR:
        case OPT_FORWARD_CEILING:
        case OPT_FORWARD_RATE:
        case OPT_FORWARD_BURST:
        case OPT_FORWARD_TIMEOUT:
            if (parse_uint(optarg, opt == OPT_FORWARD_CACHE ? 1000000 : 604800, &value) < 0 ||
                ((opt == OPT_FORWARD_BURST || opt == OPT_FORWARD_CEILING) && value == 0))
                return dj_error_make(err, 0, "--%s: '%s' is not a number in range",
                                     option_name(longopts, opt), optarg);
            if (opt == OPT_FORWARD_CACHE)
                cfg->forward_cache_entries = value;
            else if (opt == OPT_FORWARD_FLOOR)
                cfg->forward_ttl_floor = (uint32_t)value;
            else if (opt == OPT_FORWARD_CEILING)
                cfg->forward_ttl_ceiling = (uint32_t)value;
            else if (opt == OPT_FORWARD_RATE)
                cfg->forward_rate = (unsigned)value;
            else if (opt == OPT_FORWARD_BURST)
                cfg->forward_burst = (unsigned)value;
            else
                cfg->forward_timeout_ms = (unsigned)value;
            break;
        case OPT_POLICY_FD:
            if (parse_fd("--policy-fd", optarg, &o->virt_options.policy_fd, err) < 0)
                return -1;
            break;
        case OPT_ALLOW:
            o->virt_options.allow_text = optarg;
            break;
        case OPT_VIRTUAL_MAP_FD:
            if (parse_fd("--virtual-map-fd", optarg, &o->virt_options.map_fd, err) < 0)
                return -1;
            break;
        case OPT_VIRTUAL4:
            o->virt_options.net4 = optarg;
            break;
        case OPT_VIRTUAL6:
            o->virt_options.net6 = optarg;
            break;
        case OPT_VIRTUAL_MAX:
            if (parse_uint(optarg, DJ_VADDR_MAX_NAMES, &value) < 0 || value == 0)
                return dj_error_make(err, 0, "--virtual-max-names: '%s' is not in 1..%d", optarg,
                                     DJ_VADDR_MAX_NAMES);
            o->virt_options.max_names = (unsigned)value;
            break;
        case OPT_AUDIT:
            cfg->audit = true;
            break;
        case OPT_AUDIT_UPSTREAM:
            cfg->audit_upstreams = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            return dj_error_make(err, 0, "unknown option or missing value: %s (see --help)",
                                 argv[optind - 1]);
        }
    }
    if (optind < argc)
        return dj_error_make(err, 0, "unexpected argument '%s' (see --help)", argv[optind]);
    if (o->virt_options.policy_fd >= 0 && o->virt_options.allow_text != NULL)
        return dj_error_make(err, 0, "--policy-fd and --allow exclude each other");
    if (cfg->audit != (cfg->audit_upstreams != NULL))
        return dj_error_make(err, 0, "--audit and --audit-upstream go together");
    if (cfg->audit && o->virt_options.map_fd >= 0)
        return dj_error_make(err, 0, "--audit answers with real addresses: no --virtual-map-fd");
    if (o->log_file != NULL && cfg->log_fd >= 0)
        return dj_error_make(err, 0, "--log-fd and --log-file exclude each other");
    if (o->metrics_dir != NULL && cfg->metrics_dir_fd >= 0)
        return dj_error_make(err, 0, "--metrics-fd and --metrics-dir exclude each other");
    if (cfg->forward_ttl_floor > cfg->forward_ttl_ceiling)
        return dj_error_make(err, 0, "--forward-ttl-floor is above --forward-ttl-ceiling");
    if (o->n_listen == 0 && cfg->n_udp == 0 && cfg->n_tcp == 0)
        return dj_error_make(err, 0,
                             "nothing to serve: give --listen or --inherit-udp/--inherit-tcp");
    return 0;
}

/* "127.0.0.1:5300" or "[::1]:5300". */
static int parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len,
                        dj_error_t *err)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *port_text;
    unsigned long port;

    memset(addr, 0, sizeof(*addr));
    if (text[0] == '[') {
        const char *close_bracket = strchr(text, ']');
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)addr;
        size_t host_len = close_bracket != NULL ? (size_t)(close_bracket - text - 1) : 0;

        if (close_bracket == NULL || close_bracket[1] != ':' || host_len >= sizeof(host))
            return dj_error_make(err, 0, "--listen: '%s' is not [IPV6]:PORT", text);
        memcpy(host, text + 1, host_len);
        host[host_len] = '\0';
        port_text = close_bracket + 2;
        sin6->sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
            return dj_error_make(err, 0, "--listen: '%s' is not an IPv6 address", host);
        *len = sizeof(*sin6);
    } else {
        const char *colon = strrchr(text, ':');
        struct sockaddr_in *sin = (struct sockaddr_in *)addr;
        size_t host_len = colon != NULL ? (size_t)(colon - text) : 0;

        if (colon == NULL || host_len >= sizeof(host))
            return dj_error_make(err, 0, "--listen: '%s' is not IPV4:PORT", text);
        memcpy(host, text, host_len);
        host[host_len] = '\0';
        port_text = colon + 1;
        sin->sin_family = AF_INET;
        if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
            return dj_error_make(err, 0, "--listen: '%s' is not an IPv4 address", host);
        *len = sizeof(*sin);
    }
    if (parse_uint(port_text, 65535, &port) < 0 || port == 0)
        return dj_error_make(err, 0, "--listen: '%s' is not a port (1-65535)", port_text);
    /* sin_port and sin6_port sit at the same offset. */
    ((struct sockaddr_in *)addr)->sin_port = htons((uint16_t)port);
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
        if (parse_listen(o->listen[i], &addr, &len, err) < 0)
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

/* Checks that FD is a socket of TYPE (listening, unless UDP), and makes it non-blocking. */
static int check_socket(const char *option, int fd, int type, dj_error_t *err)
{
    int value = 0;
    socklen_t len = sizeof(value);
    int flags;

    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &value, &len) < 0)
        return dj_error_make(err, errno, "%s %d is not a socket", option, fd);
    if (value != type)
        return dj_error_make(err, 0, "%s %d is not a %s socket", option, fd,
                             type == SOCK_STREAM  ? "TCP"
                             : type == SOCK_DGRAM ? "UDP"
                                                  : "SEQPACKET");
    if (type != SOCK_DGRAM) {
        len = sizeof(value);
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &value, &len) < 0 || value == 0)
            return dj_error_make(err, 0, "%s %d is not listening", option, fd);
    }
    flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return dj_error_make(err, errno, "making %s %d non-blocking", option, fd);
    return 0;
}

static int check_fds(struct options *o, dj_error_t *err)
{
    struct stub_config *cfg = &o->stub;

    for (size_t i = 0; i < cfg->n_udp; i++)
        if (check_socket("--inherit-udp", cfg->udp_fds[i], SOCK_DGRAM, err) < 0)
            return -1;
    for (size_t i = 0; i < cfg->n_tcp; i++)
        if (check_socket("--inherit-tcp", cfg->tcp_fds[i], SOCK_STREAM, err) < 0)
            return -1;
    if (cfg->control_fd >= 0 &&
        check_socket("--control-fd", cfg->control_fd, SOCK_SEQPACKET, err) < 0)
        return -1;
    if (cfg->log_fd >= 0) {
        int mode = fcntl(cfg->log_fd, F_GETFL);

        if (mode < 0 || (mode & O_ACCMODE) == O_RDONLY)
            return dj_error_make(err, 0, "--log-fd %d is not open for writing", cfg->log_fd);
    }
    return 0;
}

static int open_log(struct options *o, dj_error_t *err)
{
    if (o->log_file == NULL)
        return 0;
    if (strcmp(o->log_file, "-") == 0) {
        o->stub.log_fd = STDOUT_FILENO;
        return 0;
    }
    o->stub.log_fd = open(o->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (o->stub.log_fd < 0)
        return dj_error_make(err, errno, "open log file %s", o->log_file);
    return 0;
}

/* The directory is opened now, while paths still work; the sandbox only allows openat in it. */
static int open_metrics_dir(struct options *o, dj_error_t *err)
{
    struct stat st;

    if (o->metrics_dir != NULL) {
        o->stub.metrics_dir_fd = open(o->metrics_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (o->stub.metrics_dir_fd < 0)
            return dj_error_make(err, errno, "--metrics-dir %s", o->metrics_dir);
    }
    if (o->stub.metrics_dir_fd >= 0 &&
        (fstat(o->stub.metrics_dir_fd, &st) < 0 || !S_ISDIR(st.st_mode)))
        return dj_error_make(err, 0, "--metrics-fd %d is not a directory", o->stub.metrics_dir_fd);
    return 0;
}

static int setup_signals(struct options *o, dj_error_t *err)
{
    sigset_t stop;

    /* Writes to a closed pipe or socket must come back as EPIPE, not kill us; a hang-up has
     * no meaning for a daemon without a terminal. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    /* An ignored signal never reaches the signalfd: undo what a shell may have set. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    if (sigprocmask(SIG_BLOCK, &stop, NULL) < 0)
        return dj_error_make(err, errno, "sigprocmask");
    o->stub.signal_fd = signalfd(-1, &stop, SFD_NONBLOCK | SFD_CLOEXEC);
    if (o->stub.signal_fd < 0)
        return dj_error_make(err, errno, "signalfd");
    return 0;
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
    o.ready_fd = -1;
    o.system_log_fd = -1;
    o.stub.control_fd = -1;
    o.stub.signal_fd = -1;
    o.stub.log_fd = -1;
    o.stub.metrics_dir_fd = -1;
    o.virt_options.policy_fd = -1;
    o.virt_options.map_fd = -1;
    o.stub.log_rate = DEFAULT_LOG_RATE;
    o.stub.log_burst = DEFAULT_LOG_BURST;
    o.stub.policy.ttl = DEFAULT_TTL;
    o.stub.forward_cache_entries = DEFAULT_FORWARD_CACHE;
    o.stub.forward_ttl_floor = DEFAULT_FORWARD_FLOOR;
    o.stub.forward_ttl_ceiling = DEFAULT_FORWARD_CEILING;
    o.stub.forward_rate = DEFAULT_FORWARD_RATE;
    o.stub.forward_burst = DEFAULT_FORWARD_BURST;
    inet_pton(AF_INET, DEFAULT_SINKHOLE4, &o.stub.policy.sinkhole4);

    if (parse_options(argc, argv, &o, &err) < 0)
        die(o.ready_fd, dj_error_msg(&err));
    if (o.user == NULL && dj_uid_means_root())
        die(o.ready_fd, "refusing to serve as root: pass --user NAME");
    raise_fd_limit();
    if (check_fds(&o, &err) < 0 ||
        dj_system_log_from_options(o.system_log_fd, o.system_log_format, PROGRAM,
                                   o.stub.container_id, &err) < 0 ||
        open_log(&o, &err) < 0 || open_metrics_dir(&o, &err) < 0 || open_listeners(&o, &err) < 0 ||
        setup_signals(&o, &err) < 0)
        die(o.ready_fd, dj_error_msg(&err));
    if (o.stub.audit) {
        if (stub_read_allow_rules(&o.virt_options, &audit_rules, &n_audit_rules, &err) < 0)
            die(o.ready_fd, dj_error_msg(&err));
        o.stub.audit_rules = audit_rules;
        o.stub.n_audit_rules = n_audit_rules;
    } else if (stub_virtual_setup(&o.virt, &o.virt_options, &err) < 0) {
        die(o.ready_fd, dj_error_msg(&err));
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
        die(o.ready_fd, dj_error_msg(&err));
    /* Every fd is open and every buffer allocated: from here on, only what stub_run needs. */
    if (dj_sandbox_enter_dirfd(o.user, stub_syscalls, o.stub.metrics_dir_fd, DJ_METRICS_OPEN_FLAGS,
                               &err) < 0) {
        dj_error_wrap(&err, "entering the sandbox");
        die(o.ready_fd, dj_error_msg(&err));
    }
    if (o.ready_fd >= 0 && dj_report_ready(o.ready_fd, &err) < 0) {
        /* Nobody waits for us any more; the hook has given up on this stub. */
        fprintf(stderr, PROGRAM ": %s\n", dj_error_msg(&err));
        return 1;
    }
    if (stub_run(stub, &err) < 0) {
        fprintf(stderr, PROGRAM ": %s\n", dj_error_msg(&err));
        return 1;
    }
    return 0;
}
