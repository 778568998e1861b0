/* canary.c: `dnsjail-leaktest canary`, run outside the jail, where the user controls the
 * network.
 *
 * An authoritative DNS server (UDP and TCP) for the canary zone, plus catch-all TCP and UDP
 * listeners and (with --icmp) raw ICMP/ICMPv6 receivers. Every query name, every payload and
 * every echo request is recorded as one line in the state file; a token in there is a leak.
 * The answers carry LT_CANARY_MARKER, so a probe that reads one back knows it got out.
 *
 * Record line: "TIME KIND PORT PEER DATA", DATA escaped by dj_leak_escape (for DNS: the
 * query name in presentation form and its type). The file is the side channel: the report
 * reads it, the probe never needs a path to the canary. DNS queries are read by the stub's
 * fuzzed parser (dnswire.c); everything else is only escaped, never interpreted.
 *
 * To catch every port, point the host's firewall at the catch-all ports (docs/LEAKTEST.md:
 * an nft redirect); the canary itself binds the ports it is given. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/cleanup.h"
#include "dns/dnsanswer.h"
#include "dns/dnswire.h"
#include "base/error.h"
#include "report/leak.h"
#include "leaktest.h"

#define MAX_LISTENERS 64
#define MAX_CONNS 256
#define CONN_BUF 4096
#define IDLE_MS 5000
#define RECORD_DATA 1024 /* escaped bytes of one record's data */

enum sock_kind { DNS_UDP, DNS_TCP_LISTEN, CATCH_UDP, CATCH_TCP_LISTEN, ICMP4, ICMP6 };

struct listener {
    int fd;
    enum sock_kind kind;
    uint16_t port;
};

struct conn {
    int fd;
    bool dns;
    uint16_t port;
    char peer[INET6_ADDRSTRLEN];
    size_t len;
    uint8_t buf[CONN_BUF];
    struct timespec last;
};

struct canary {
    uint8_t zone[DJ_DNS_MAX_NAME];
    size_t zone_len;
    FILE *state;
    struct listener listeners[MAX_LISTENERS];
    size_t n_listeners;
    struct conn *conns[MAX_CONNS];
};

static void record(struct canary *c, const char *kind, uint16_t port, const char *peer,
                   const char *data)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    fprintf(c->state, "%lld.%03ld %s %u %s %s\n", (long long)now.tv_sec, now.tv_nsec / 1000000,
            kind, port, peer, data[0] ? data : "-");
    fflush(c->state);
}

static void record_bytes(struct canary *c, const char *kind, uint16_t port, const char *peer,
                         const uint8_t *data, size_t len)
{
    char text[RECORD_DATA];
    dj_leak_escape(data, len, text, sizeof(text));
    record(c, kind, port, peer, text);
}

static void peer_text(const struct sockaddr_storage *ss, char *out, size_t out_size)
{
    const void *a = ss->ss_family == AF_INET6
                        ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                        : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
    if (inet_ntop(ss->ss_family, a, out, (socklen_t)out_size) == NULL)
        snprintf(out, out_size, "?");
}

/* ---- DNS -------------------------------------------------------------------------------- */

/* ASCII case-insensitive comparison of wire bytes (labels may hold NUL bytes). */
static bool same_wire(const uint8_t *a, const uint8_t *b, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        uint8_t x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z')
            x = (uint8_t)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z')
            y = (uint8_t)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* Is NAME (wire form, as the parser checked it) the zone or below it? */
static bool in_zone(const struct canary *c, const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < len; i += 1 + name[i]) {
        if (len - i == c->zone_len && same_wire(name + i, c->zone, c->zone_len))
            return true;
        if (name[i] == 0)
            break;
    }
    return false;
}

/* The rdata of our answer to QTYPE; 0 when we have none (NODATA). */
static size_t answer_rdata(uint16_t qtype, uint16_t *type, uint8_t *out)
{
    static const uint8_t target[] = "\x0f" LT_CANARY_MARKER; /* a name: one label, then root */
    static const uint8_t a[] = {203, 0, 113, 53};
    static const uint8_t aaaa[] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53};
    size_t marker = strlen(LT_CANARY_MARKER);
    *type = qtype;
    switch (qtype) {
    case DJ_DNS_TYPE_A:
        memcpy(out, a, sizeof(a));
        return sizeof(a);
    case DJ_DNS_TYPE_AAAA:
        memcpy(out, aaaa, sizeof(aaaa));
        return sizeof(aaaa);
    case 255: /* ANY: a TXT */
        *type = 16;
        /* fall through */
    case 16: /* TXT */
        out[0] = (uint8_t)marker;
        memcpy(out + 1, LT_CANARY_MARKER, marker);
        return 1 + marker;
    case 10: /* NULL */
        memcpy(out, LT_CANARY_MARKER, marker);
        return marker;
    case DJ_DNS_TYPE_CNAME:
        memcpy(out, target, sizeof(target));
        return sizeof(target);
    case 15: /* MX */
        dj_put16_at(out, 0, 10);
        memcpy(out + 2, target, sizeof(target));
        return 2 + sizeof(target);
    case 33: /* SRV */
        dj_put16_at(out, 0, 0);
        dj_put16_at(out, 2, 0);
        dj_put16_at(out, 4, 443);
        memcpy(out + 6, target, sizeof(target));
        return 6 + sizeof(target);
    default:
        return 0;
    }
}

/* Our response to the parsed query Q; 0: send nothing. */
static size_t dns_response(const struct canary *c, const struct dj_dns_query *q, bool tcp,
                           uint8_t *out, size_t out_size)
{
    if (q->result == DJ_DNS_PARSE_DROP || out_size < DJ_DNS_MAX_RESPONSE)
        return 0;
    uint16_t flags = (uint16_t)(0x8000 | (q->flags & 0x7900)); /* QR, opcode, RD */
    uint16_t rcode = DJ_DNS_RCODE_NOERROR;
    bool question = q->has_question && q->result == DJ_DNS_PARSE_OK;
    if (q->result == DJ_DNS_PARSE_NOTIMP)
        rcode = DJ_DNS_RCODE_NOTIMP;
    else if (q->result != DJ_DNS_PARSE_OK)
        rcode = DJ_DNS_RCODE_FORMERR;
    else if (!in_zone(c, q->qname, q->qname_len))
        rcode = DJ_DNS_RCODE_REFUSED;
    else
        flags |= 0x0400; /* AA: we are the zone's server */

    uint8_t rdata[64];
    uint16_t atype = 0;
    size_t rdlen = (rcode == DJ_DNS_RCODE_NOERROR) ? answer_rdata(q->qtype, &atype, rdata) : 0;
    if (q->qclass != DJ_DNS_CLASS_IN)
        rdlen = 0;
    bool opt = question && q->has_edns;
    size_t need = DJ_DNS_HEADER_SIZE + (question ? q->qname_len + 4 : 0) +
                  (rdlen ? 12 + rdlen : 0) + (opt ? 11 : 0);
    if (need > dj_dns_response_limit(q, tcp) || need > out_size) {
        flags |= 0x0200; /* TC: ask again over TCP */
        rdlen = 0;
        opt = false;
    }
    size_t o = dj_put16_at(out, 0, q->id);
    o = dj_put16_at(out, o, (uint16_t)(flags | rcode));
    o = dj_put16_at(out, o, question ? 1 : 0);
    o = dj_put16_at(out, o, rdlen ? 1 : 0);
    o = dj_put16_at(out, o, 0);
    o = dj_put16_at(out, o, opt ? 1 : 0);
    if (question) {
        memcpy(out + o, q->qname, q->qname_len);
        o += q->qname_len;
        o = dj_put16_at(out, o, q->qtype);
        o = dj_put16_at(out, o, q->qclass);
    }
    if (rdlen) {
        o = dj_put16_at(out, o, 0xc00c);
        o = dj_put16_at(out, o, atype);
        o = dj_put16_at(out, o, DJ_DNS_CLASS_IN);
        o = dj_put16_at(out, o, 0);
        o = dj_put16_at(out, o, 0); /* TTL 0: every probe's query must come back to us */
        o = dj_put16_at(out, o, (uint16_t)rdlen);
        memcpy(out + o, rdata, rdlen);
        o += rdlen;
    }
    if (opt) {
        out[o++] = 0;
        o = dj_put16_at(out, o, DJ_DNS_TYPE_OPT);
        o = dj_put16_at(out, o, DJ_DNS_EDNS_UDP_SIZE);
        o = dj_put16_at(out, o, 0);
        o = dj_put16_at(out, o, 0);
        o = dj_put16_at(out, o, 0);
    }
    return o;
}

/* Records one DNS message and writes the response into OUT; returns its length. */
static size_t dns_message(struct canary *c, const uint8_t *msg, size_t len, bool tcp, uint16_t port,
                          const char *peer, uint8_t *out, size_t out_size)
{
    struct dj_dns_query q;
    dj_dns_parse_query(msg, len, &q);
    const char *kind = tcp ? "dns-tcp" : "dns-udp";
    if (q.has_question) {
        char name[DJ_DNS_MAX_NAME_TEXT], type[DJ_DNS_TYPE_TEXT_SIZE];
        char text[DJ_DNS_MAX_NAME_TEXT + 64];
        dj_dns_name_to_text(q.qname, q.qname_len, name, sizeof(name));
        snprintf(text, sizeof(text), "%s/%s", name, dj_dns_type_text(q.qtype, type));
        record(c, kind, port, peer, text);
    } else {
        record_bytes(c, kind, port, peer, msg, len);
    }
    return dns_response(c, &q, tcp, out, out_size);
}

/* ---- sockets ---------------------------------------------------------------------------- */

static int add_listener(struct canary *c, const char *addr, uint16_t port, enum sock_kind kind,
                        dj_error_t *err)
{
    if (c->n_listeners == MAX_LISTENERS)
        return dj_error_make(err, 0, "too many listeners");
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    socklen_t sl;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sl = sizeof(*sin);
    } else if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sl = sizeof(*sin6);
    } else {
        return dj_error_make(err, 0, "not a literal address: %s", addr);
    }
    bool stream = kind == DNS_TCP_LISTEN || kind == CATCH_TCP_LISTEN;
    cleanup_close int fd =
        socket(ss.ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1, zero = 0;
    if (fd < 0)
        return dj_error_make(err, errno, "socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* "::" serves IPv4 too. */
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0)
        return dj_error_make(err, errno, "bind %s port %u", addr, port);
    if (stream && listen(fd, 128) < 0)
        return dj_error_make(err, errno, "listen %s port %u", addr, port);
    c->listeners[c->n_listeners++] = (struct listener){steal_fd(&fd), kind, port};
    return 0;
}

static int add_icmp(struct canary *c, dj_error_t *err)
{
    if (c->n_listeners + 2 > MAX_LISTENERS)
        return dj_error_make(err, 0, "too many listeners");
    int fd4 = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMP);
    if (fd4 < 0)
        return dj_error_make(err, errno, "raw ICMP socket (needs CAP_NET_RAW)");
    c->listeners[c->n_listeners++] = (struct listener){fd4, ICMP4, 0};
    int fd6 = socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, IPPROTO_ICMPV6);
    if (fd6 < 0)
        return dj_error_make(err, errno, "raw ICMPv6 socket (needs CAP_NET_RAW)");
    c->listeners[c->n_listeners++] = (struct listener){fd6, ICMP6, 0};
    return 0;
}

static void close_conn(struct canary *c, size_t i)
{
    close(c->conns[i]->fd);
    free(c->conns[i]);
    c->conns[i] = NULL;
}

static void accept_conn(struct canary *c, const struct listener *l)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    int fd = accept4(l->fd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    char peer[INET6_ADDRSTRLEN];
    peer_text(&ss, peer, sizeof(peer));
    record(c, l->kind == DNS_TCP_LISTEN ? "dns-tcp-accept" : "tcp-accept", l->port, peer, "-");
    for (size_t i = 0; i < MAX_CONNS; i++) {
        if (c->conns[i] != NULL)
            continue;
        struct conn *conn = calloc(1, sizeof(*conn));
        if (conn == NULL)
            break;
        conn->fd = fd;
        conn->dns = l->kind == DNS_TCP_LISTEN;
        conn->port = l->port;
        memcpy(conn->peer, peer, sizeof(peer));
        clock_gettime(CLOCK_MONOTONIC, &conn->last);
        c->conns[i] = conn;
        return;
    }
    close(fd); /* full: the accept is recorded, the data is not */
}

static void serve_conn(struct canary *c, size_t i)
{
    static const char http[] = "HTTP/1.1 200 OK\r\nContent-Length: 16\r\nConnection: keep-alive\r\n"
                               "\r\n" LT_CANARY_MARKER "\n";
    struct conn *conn = c->conns[i];
    ssize_t n = recv(conn->fd, conn->buf + conn->len, CONN_BUF - conn->len, 0);
    if (n <= 0) {
        if (n == 0 || (errno != EAGAIN && errno != EINTR))
            close_conn(c, i);
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &conn->last);
    if (!conn->dns) {
        record_bytes(c, "tcp", conn->port, conn->peer, conn->buf, (size_t)n);
        if (send(conn->fd, http, strlen(http), MSG_NOSIGNAL) < 0)
            close_conn(c, i);
        return;
    }
    conn->len += (size_t)n;
    while (conn->len >= 2) {
        size_t msg_len = (size_t)(conn->buf[0] << 8 | conn->buf[1]);
        if (msg_len + 2 > CONN_BUF) {
            record_bytes(c, "dns-tcp", conn->port, conn->peer, conn->buf, conn->len);
            close_conn(c, i);
            return;
        }
        if (conn->len < msg_len + 2)
            return;
        uint8_t out[2 + DJ_DNS_MAX_RESPONSE];
        size_t out_len = dns_message(c, conn->buf + 2, msg_len, true, conn->port, conn->peer,
                                     out + 2, sizeof(out) - 2);
        if (out_len > 0) {
            dj_put16_at(out, 0, (uint16_t)out_len);
            if (send(conn->fd, out, out_len + 2, MSG_NOSIGNAL) < 0) {
                close_conn(c, i);
                return;
            }
        }
        memmove(conn->buf, conn->buf + 2 + msg_len, conn->len - 2 - msg_len);
        conn->len -= 2 + msg_len;
    }
}

static void serve_datagram(struct canary *c, const struct listener *l)
{
    uint8_t buf[65536];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    ssize_t n = recvfrom(l->fd, buf, sizeof(buf), 0, (struct sockaddr *)&ss, &sl);
    if (n < 0)
        return;
    char peer[INET6_ADDRSTRLEN];
    peer_text(&ss, peer, sizeof(peer));
    size_t len = (size_t)n;
    if (l->kind == ICMP4) {
        size_t ihl = len > 0 ? (size_t)(buf[0] & 15) * 4 : 0;
        if (len >= ihl + 8 && buf[ihl] == 8) /* echo request */
            record_bytes(c, "icmp-echo", 0, peer, buf + ihl + 8, len - ihl - 8);
        return;
    }
    if (l->kind == ICMP6) {
        if (len >= 8 && buf[0] == 128)
            record_bytes(c, "icmp6-echo", 0, peer, buf + 8, len - 8);
        return;
    }
    if (l->kind == CATCH_UDP) {
        record_bytes(c, "udp", l->port, peer, buf, len);
        sendto(l->fd, LT_CANARY_MARKER "\n", strlen(LT_CANARY_MARKER) + 1, 0,
               (struct sockaddr *)&ss, sl);
        return;
    }
    uint8_t out[DJ_DNS_MAX_RESPONSE];
    size_t out_len = dns_message(c, buf, len, false, l->port, peer, out, sizeof(out));
    if (out_len > 0)
        sendto(l->fd, out, out_len, 0, (struct sockaddr *)&ss, sl);
}

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

static int run(struct canary *c, dj_error_t *err)
{
    struct pollfd pfds[MAX_LISTENERS + MAX_CONNS];
    size_t conn_at[MAX_CONNS];
    for (;;) {
        size_t n = 0;
        for (size_t i = 0; i < c->n_listeners; i++)
            pfds[n++] = (struct pollfd){.fd = c->listeners[i].fd, .events = POLLIN};
        size_t n_conns = 0;
        for (size_t i = 0; i < MAX_CONNS; i++) {
            if (c->conns[i] == NULL)
                continue;
            if (ms_since(&c->conns[i]->last) > IDLE_MS) {
                close_conn(c, i);
                continue;
            }
            conn_at[n_conns++] = i;
            pfds[n++] = (struct pollfd){.fd = c->conns[i]->fd, .events = POLLIN};
        }
        int ready = poll(pfds, n, 1000);
        if (ready < 0) {
            if (errno == EINTR)
                continue;
            return dj_error_make(err, errno, "poll");
        }
        for (size_t i = 0; i < c->n_listeners; i++) {
            if (!(pfds[i].revents & POLLIN))
                continue;
            const struct listener *l = &c->listeners[i];
            if (l->kind == DNS_TCP_LISTEN || l->kind == CATCH_TCP_LISTEN)
                accept_conn(c, l);
            else
                serve_datagram(c, l);
        }
        for (size_t k = 0; k < n_conns; k++)
            if (pfds[c->n_listeners + k].revents & (POLLIN | POLLHUP | POLLERR))
                serve_conn(c, conn_at[k]);
    }
}

/* The canary reads what the internet sends: once its sockets and its file are open it needs
 * no privilege. Numeric ids only: the binary is static and has no NSS. */
static int drop_to(const char *user, dj_error_t *err)
{
    char *end;
    unsigned long uid = strtoul(user, &end, 10), gid = uid;
    if (end == user || (*end != '\0' && *end != ':'))
        return dj_error_make(err, 0, "--user %s: not UID or UID:GID", user);
    if (*end == ':') {
        const char *g = end + 1;
        gid = strtoul(g, &end, 10);
        if (end == g || *end != '\0')
            return dj_error_make(err, 0, "--user %s: not UID or UID:GID", user);
    }
    if (uid == 0 || uid > 0xfffffffeUL || gid > 0xfffffffeUL)
        return dj_error_make(err, 0, "--user %s: not an unprivileged id", user);
    if (setgroups(0, NULL) < 0 || setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) < 0 ||
        setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
        return dj_error_make(err, errno, "--user %s", user);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return dj_error_make(err, errno, "no_new_privs");
    return 0;
}

static int parse_port(const char *text, uint16_t *port)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

static void canary_usage(FILE *out)
{
    fputs("usage: dnsjail-leaktest canary --zone ZONE [options]\n"
          "  --listen ADDR        DNS (UDP and TCP) on ADDR (repeatable; default ::, both "
          "families)\n"
          "  --dns-port N         default 53\n"
          "  --catch-tcp PORT     record whatever arrives on TCP PORT of every address "
          "(repeatable)\n"
          "  --catch-udp PORT     the same for UDP\n"
          "  --icmp               record ICMP and ICMPv6 echo requests (needs CAP_NET_RAW)\n"
          "  --state FILE         append records to FILE (default: standard output)\n"
          "  --user UID[:GID]     switch to these numeric ids once everything is open\n"
          "Prints \"ready\" on standard error once every socket is bound.\n",
          out);
}

int lt_canary_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"zone", required_argument, NULL, 'z'},
        {"listen", required_argument, NULL, 'l'},
        {"dns-port", required_argument, NULL, 'p'},
        {"catch-tcp", required_argument, NULL, 't'},
        {"catch-udp", required_argument, NULL, 'u'},
        {"icmp", no_argument, NULL, 'i'},
        {"state", required_argument, NULL, 's'},
        {"user", required_argument, NULL, 'U'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static struct canary c; /* the connection table is large: not on the stack */
    const char *zone = NULL, *state = NULL, *user = NULL, *listen_addrs[16];
    size_t n_listen = 0, n_tcp = 0, n_udp = 0;
    uint16_t dns_port = 53, tcp_ports[16], udp_ports[16];
    bool icmp = false;
    int opt;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'z':
            zone = optarg;
            break;
        case 'l':
            if (n_listen == 16)
                return LT_EXIT_USAGE;
            listen_addrs[n_listen++] = optarg;
            break;
        case 'p':
            if (parse_port(optarg, &dns_port) < 0)
                return LT_EXIT_USAGE;
            break;
        case 't':
            if (n_tcp == 16 || parse_port(optarg, &tcp_ports[n_tcp++]) < 0)
                return LT_EXIT_USAGE;
            break;
        case 'u':
            if (n_udp == 16 || parse_port(optarg, &udp_ports[n_udp++]) < 0)
                return LT_EXIT_USAGE;
            break;
        case 'i':
            icmp = true;
            break;
        case 's':
            state = optarg;
            break;
        case 'U':
            user = optarg;
            break;
        case 'h':
            canary_usage(stdout);
            return LT_EXIT_OK;
        default:
            canary_usage(stderr);
            return LT_EXIT_USAGE;
        }
    }
    if (optind != argc || zone == NULL) {
        canary_usage(stderr);
        return LT_EXIT_USAGE;
    }
    const char *bad = dj_dns_name_from_text(zone, c.zone, &c.zone_len);
    if (bad != NULL) {
        fprintf(stderr, "canary: --zone: %s\n", bad);
        return LT_EXIT_USAGE;
    }
    if (n_listen == 0)
        listen_addrs[n_listen++] = "::";

    dj_error_t err = NULL;
    int rc = 0;
    for (size_t i = 0; i < n_listen && rc == 0; i++)
        rc = add_listener(&c, listen_addrs[i], dns_port, DNS_UDP, &err)
                 ?: add_listener(&c, listen_addrs[i], dns_port, DNS_TCP_LISTEN, &err);
    for (size_t i = 0; i < n_tcp && rc == 0; i++)
        rc = add_listener(&c, "::", tcp_ports[i], CATCH_TCP_LISTEN, &err);
    for (size_t i = 0; i < n_udp && rc == 0; i++)
        rc = add_listener(&c, "::", udp_ports[i], CATCH_UDP, &err);
    if (rc == 0 && icmp)
        rc = add_icmp(&c, &err);
    if (rc == 0 && state != NULL) {
        int fd = open(state, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
        c.state = fd < 0 ? NULL : fdopen(fd, "a");
        if (c.state == NULL)
            rc = dj_error_make(&err, errno, "open %s", state);
    } else if (rc == 0) {
        c.state = stdout;
    }
    if (rc == 0 && user != NULL)
        rc = drop_to(user, &err);
    if (rc == 0) {
        fprintf(stderr, "ready\n");
        rc = run(&c, &err);
    }
    fprintf(stderr, "canary: %s\n", dj_error_msg(&err));
    dj_error_release(&err);
    return LT_EXIT_ERROR;
}
