/* probe.c: `dnsjail-leaktest probe`, run inside the jailed container.
 *
 * Tries every egress channel once, each with a fresh token, and prints one line per channel
 * (lib/report/leak.h's grammar). It is linked statically and uses no resolver library and no NSS:
 * it reads /etc/resolv.conf itself and writes its own DNS, TLS and HTTP bytes, so it runs in
 * a rootfs that holds nothing else. Locally it can only prove a leak (the canary's marker came
 * back); an attempt that got no such answer is "pending" until the canary's records say
 * whether the token arrived (`dnsjail-leaktest report`). Every attempt is bounded by
 * --timeout-ms. */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/cleanup.h"
#include "dns/dnsanswer.h"
#include "dns/dnswire.h"
#include "report/leak.h"
#include "leaktest.h"
#include "http/resphead.h"
#include "jail/socknames.h"
#include "probe.h"

void probe_set_detail(struct result *r, enum dj_leak_verdict verdict, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
    /* The detail travels in parentheses: keep the line parseable whatever errno text says. */
    for (char *c = r->detail; *c != '\0'; c++)
        if (*c == '(' || *c == ')' || *c == '\n')
            *c = ' ';
    r->verdict = verdict;
}

bool probe_fill_random(void *buf, size_t len)
{
    uint8_t *b = buf;
    while (len > 0) {
        ssize_t n = getrandom(b, len, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        b += n;
        len -= (size_t)n;
    }
    return true;
}

/* ---- addresses and sockets ------------------------------------------------------------ */

bool probe_make_addr(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (text == NULL)
        return false;
    if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *len = sizeof(*sin);
        return true;
    }
    if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        *len = sizeof(*sin6);
        return true;
    }
    return false;
}

bool probe_has_marker(const uint8_t *buf, size_t len)
{
    return memmem(buf, len, LT_CANARY_MARKER, strlen(LT_CANARY_MARKER)) != NULL;
}

bool probe_wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;
    do {
        n = poll(&pfd, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

/* Connected UDP: one datagram out, at most one back. */
enum exchange probe_udp_exchange(const struct probe *p, const struct sockaddr_storage *to,
                                 socklen_t to_len, const void *msg, size_t len, uint8_t *reply,
                                 size_t *reply_len, int *err)
{
    cleanup_close int fd = socket(to->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    *reply_len = 0;
    if (fd < 0) {
        *err = errno;
        return EX_NO_SOCKET;
    }
    if (connect(fd, (const struct sockaddr *)to, to_len) < 0 || send(fd, msg, len, 0) < 0) {
        *err = errno;
        return EX_FAILED;
    }
    if (!probe_wait_fd(fd, POLLIN, p->timeout_ms))
        return EX_SILENT;
    ssize_t n = recv(fd, reply, REPLY_SIZE, 0);
    if (n < 0) {
        *err = errno;
        return EX_FAILED;
    }
    *reply_len = (size_t)n;
    return EX_REPLY;
}

int probe_tcp_connect(const struct probe *p, const struct sockaddr_storage *to, socklen_t to_len,
                      int *err)
{
    cleanup_close int fd = socket(to->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)to, to_len) < 0 && errno != EINPROGRESS) {
        *err = errno;
        return -1;
    }
    if (!probe_wait_fd(fd, POLLOUT, p->timeout_ms)) {
        *err = ETIMEDOUT;
        return -1;
    }
    socklen_t sl = sizeof(*err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, err, &sl) < 0 || *err != 0) {
        if (*err == 0)
            *err = errno;
        return -1;
    }
    return steal_fd(&fd);
}

bool probe_send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && probe_wait_fd(fd, POLLOUT, 1000))
                continue;
            return false;
        }
        b += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads what arrives within the timeout (stops at REPLY_SIZE, EOF or a quiet timeout). */
size_t probe_read_reply(const struct probe *p, int fd, uint8_t *reply)
{
    size_t got = 0;
    while (got < REPLY_SIZE && probe_wait_fd(fd, POLLIN, got == 0 ? p->timeout_ms : 100)) {
        ssize_t n = recv(fd, reply + got, REPLY_SIZE - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* One TCP connection: MSG out, whatever comes back in. */
enum exchange probe_tcp_exchange(const struct probe *p, const struct sockaddr_storage *to,
                                 socklen_t to_len, const void *msg, size_t len, uint8_t *reply,
                                 size_t *reply_len, int *err)
{
    *reply_len = 0;
    cleanup_close int fd = probe_tcp_connect(p, to, to_len, err);
    if (fd < 0)
        return EX_FAILED;
    if (!probe_send_all(fd, msg, len)) {
        *err = errno;
        return EX_FAILED;
    }
    *reply_len = probe_read_reply(p, fd, reply);
    return *reply_len > 0 ? EX_REPLY : EX_SILENT;
}

/* The common verdict of one exchange. */
void probe_judge(struct result *r, enum exchange ex, int err, const uint8_t *reply,
                 size_t reply_len, const char *what)
{
    switch (ex) {
    case EX_REPLY:
        if (probe_has_marker(reply, reply_len))
            probe_set_detail(r, DJ_LEAK_LEAKED, "%s: the canary answered", what);
        else
            probe_set_detail(r, DJ_LEAK_PENDING, "%s: %zu bytes back, not from the canary", what,
                             reply_len);
        break;
    case EX_SILENT:
        probe_set_detail(r, DJ_LEAK_PENDING, "%s: sent, no answer", what);
        break;
    case EX_FAILED:
        probe_set_detail(r, DJ_LEAK_PENDING, "%s: %s", what, strerror(err));
        break;
    case EX_NO_SOCKET:
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "%s: no socket: %s", what, strerror(err));
        break;
    }
}

/* ---- the run ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    channel_fn *fn;
} channels[] = {
    {"dns-udp-a", probe_ch_dns_a},
    {"dns-udp-aaaa", probe_ch_dns_aaaa},
    {"dns-udp-txt", probe_ch_dns_txt},
    {"dns-udp-null", probe_ch_dns_null},
    {"dns-udp-cname", probe_ch_dns_cname},
    {"dns-udp-mx", probe_ch_dns_mx},
    {"dns-udp-any", probe_ch_dns_any},
    {"dns-udp-srv", probe_ch_dns_srv},
    {"dns-tcp", probe_ch_dns_tcp},
    {"dns-edns0", probe_ch_dns_edns0},
    {"dns-long-labels", probe_ch_dns_long},
    {"dns-base32-labels", probe_ch_dns_base32},
    {"dns-binary-labels", probe_ch_dns_binary},
    {"dns-canary-udp", probe_ch_dns_canary_udp},
    {"dns-canary-tcp", probe_ch_dns_canary_tcp},
    {"dns-other-addr", probe_ch_dns_other},
    {"dns-canary-ipv6", probe_ch_dns_canary6},
    {"dot-853", probe_ch_dot},
    {"doh-post-80", probe_ch_doh_post},
    {"doh-post-443", probe_ch_doh_post_443},
    {"http-denied-host", probe_ch_http_host},
    {"tls-denied-sni", probe_ch_tls_sni},
    {"http-keepalive-switch", probe_ch_http_keepalive},
    {"tcp-22", probe_ch_tcp_22},
    {"tcp-high-port", probe_ch_tcp_high},
    {"tcp-ipv6", probe_ch_tcp6_high},
    {"udp-123", probe_ch_udp_123},
    {"udp-high-port", probe_ch_udp_high},
    {"udp-ipv6", probe_ch_udp6_high},
    {"udp-443-quic", probe_ch_quic},
    {"icmp-echo", probe_ch_icmp},
    {"icmp6-echo", probe_ch_icmp6},
    {"af-packet", probe_ch_af_packet},
    {"af-packet-bypass", probe_ch_af_packet_bypass},
    {"af-xdp", probe_ch_af_xdp},
    {"foreign-server-dns", probe_ch_foreign_server},
    {"engine-socket", probe_ch_engine_socket},
    {"limit-sni-host", probe_ch_limit_sni_host},
};
#define N_CHANNELS (sizeof(channels) / sizeof(channels[0]))

/* The first nameserver line of resolv.conf, as resolvers use it. */
static void read_resolver(const char *path, char *out, size_t out_size)
{
    out[0] = '\0';
    cleanup_fclose FILE *f = fopen(path, "re");
    char line[512];
    if (f == NULL)
        return;
    while (fgets(line, sizeof(line), f) != NULL) {
        char addr[INET6_ADDRSTRLEN];
        uint8_t buf[sizeof(struct in6_addr)];
        if (sscanf(line, " nameserver %45s", addr) != 1)
            continue;
        if (inet_pton(AF_INET, addr, buf) == 1 || inet_pton(AF_INET6, addr, buf) == 1) {
            snprintf(out, out_size, "%s", addr);
            return;
        }
    }
}

static void json_string(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_results(const struct probe *p, const struct result *res, size_t n)
{
    if (p->json) {
        printf("{\"run\":\"%s\",\"zone\":", p->run_id);
        json_string(p->zone_text);
        printf(",\"channels\":[");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"channel\":\"%s\",\"verdict\":\"%s\",\"token\":\"%s\",\"detail\":",
                   i ? "," : "", res[i].channel, dj_leak_verdict_text(res[i].verdict),
                   res[i].token);
            json_string(res[i].detail);
            putchar('}');
        }
        printf("]}\n");
        return;
    }
    printf("# dnsjail-leaktest probe run %s zone %s: \"pending\" means only the canary knows;\n"
           "# feed these lines to `dnsjail-leaktest report --state CANARY-STATE`\n",
           p->run_id, p->zone_text);
    for (size_t i = 0; i < n; i++)
        printf("%-22s %-12s token=%s (%s)\n", res[i].channel, dj_leak_verdict_text(res[i].verdict),
               res[i].token, res[i].detail);
}

static void probe_usage(FILE *out)
{
    fputs("usage: dnsjail-leaktest probe --canary-zone ZONE --canary-addr ADDR [options]\n"
          "  --canary-addr6 ADDR   the canary's IPv6 address (IPv6 channels)\n"
          "  --other-addr ADDR     another literal DNS server address to try\n"
          "  --allowed-host HOST   a host the policy allows (keep-alive and SNI-limit channels)\n"
          "  --only CHANNEL        run one channel (repeatable)\n"
          "  --socket PATH         an engine's or resolver's socket at another path (repeatable)\n"
          "  --resolv-conf FILE    default /etc/resolv.conf\n"
          "  --timeout-ms N        wait for each answer (default 1500)\n"
          "  --json                print JSON instead of lines\n"
          "exit: 0 no leak seen here, 1 a leak confirmed by the canary's answer, 2 usage\n",
          out);
}

int lt_probe_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"canary-zone", required_argument, NULL, 'z'},
        {"canary-addr", required_argument, NULL, 'a'},
        {"canary-addr6", required_argument, NULL, '6'},
        {"other-addr", required_argument, NULL, 'o'},
        {"allowed-host", required_argument, NULL, 'H'},
        {"resolv-conf", required_argument, NULL, 'r'},
        {"timeout-ms", required_argument, NULL, 't'},
        {"only", required_argument, NULL, 'O'},
        {"socket", required_argument, NULL, 'S'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct probe p = {.resolv_conf = "/etc/resolv.conf", .timeout_ms = 1500};
    const char *only[N_CHANNELS];
    size_t n_only = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'z':
            p.zone_text = optarg;
            break;
        case 'a':
            p.canary4 = optarg;
            break;
        case '6':
            p.canary6 = optarg;
            break;
        case 'o':
            p.other = optarg;
            break;
        case 'H':
            p.allowed = optarg;
            break;
        case 'r':
            p.resolv_conf = optarg;
            break;
        case 't': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != '\0' || v < 10 || v > 60000) {
                fprintf(stderr, "probe: --timeout-ms takes 10..60000\n");
                return LT_EXIT_USAGE;
            }
            p.timeout_ms = (int)v;
            break;
        }
        case 'O':
            if (n_only == N_CHANNELS)
                return LT_EXIT_USAGE;
            only[n_only++] = optarg;
            break;
        case 'S':
            if (p.n_sockets == MAX_SOCKET_OPTS) {
                fprintf(stderr, "probe: at most %d --socket\n", MAX_SOCKET_OPTS);
                return LT_EXIT_USAGE;
            }
            p.sockets[p.n_sockets++] = optarg;
            break;
        case 'j':
            p.json = true;
            break;
        case 'h':
            probe_usage(stdout);
            return LT_EXIT_OK;
        default:
            probe_usage(stderr);
            return LT_EXIT_USAGE;
        }
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (optind != argc || p.zone_text == NULL || p.canary4 == NULL ||
        !probe_make_addr(p.canary4, 0, &ss, &sl) ||
        (p.canary6 && !probe_make_addr(p.canary6, 0, &ss, &sl)) ||
        (p.other && !probe_make_addr(p.other, 0, &ss, &sl))) {
        fprintf(stderr, "probe: needs --canary-zone and literal addresses\n");
        probe_usage(stderr);
        return LT_EXIT_USAGE;
    }
    const char *bad = dj_dns_name_from_text(p.zone_text, p.zone, &p.zone_len);
    if (bad != NULL || p.zone_len > 120) {
        fprintf(stderr, "probe: --canary-zone: %s\n", bad ? bad : "longer than 120 bytes");
        return LT_EXIT_USAGE;
    }
    for (size_t i = 0; i < n_only; i++) {
        bool known = false;
        for (size_t k = 0; k < N_CHANNELS; k++)
            known |= strcmp(only[i], channels[k].name) == 0;
        if (!known) {
            fprintf(stderr, "probe: unknown channel '%s'\n", only[i]);
            return LT_EXIT_USAGE;
        }
    }
    read_resolver(p.resolv_conf, p.resolver, sizeof(p.resolver));

    uint8_t rnd[(N_CHANNELS + 1) * DJ_LEAK_TOKEN_RANDOM];
    if (!probe_fill_random(rnd, sizeof(rnd))) {
        fprintf(stderr, "probe: getrandom: %s\n", strerror(errno));
        return LT_EXIT_ERROR;
    }
    char run_token[DJ_LEAK_TOKEN_LEN + 1];
    dj_leak_token_make(rnd + N_CHANNELS * DJ_LEAK_TOKEN_RANDOM, 0, run_token);
    memcpy(p.run_id, run_token + 2, 8);
    p.run_id[8] = '\0';

    struct result res[N_CHANNELS];
    size_t n = 0;
    bool leaked = false;
    for (size_t k = 0; k < N_CHANNELS; k++) {
        bool wanted = n_only == 0;
        for (size_t i = 0; i < n_only; i++)
            wanted |= strcmp(only[i], channels[k].name) == 0;
        if (!wanted)
            continue;
        struct result *r = &res[n++];
        memset(r, 0, sizeof(*r));
        r->channel = channels[k].name;
        dj_leak_token_make(rnd + k * DJ_LEAK_TOKEN_RANDOM, (unsigned)k, r->token);
        channels[k].fn(&p, r);
        if (r->verdict == DJ_LEAK_LEAKED &&
            strncmp(r->channel, DJ_LEAK_LIMIT_PREFIX, strlen(DJ_LEAK_LIMIT_PREFIX)) != 0)
            leaked = true;
    }
    print_results(&p, res, n);
    fflush(stdout);
    return leaked ? LT_EXIT_LEAKED : LT_EXIT_OK;
}
