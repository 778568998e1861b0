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

#define REPLY_SIZE 4096
#define DNS_TYPE_TXT 16
#define DNS_TYPE_NULL 10
#define DNS_TYPE_MX 15
#define DNS_TYPE_SRV 33
#define DNS_TYPE_ANY 255
#define MAX_SOCKET_OPTS 8

struct probe {
    uint8_t zone[DJ_DNS_MAX_NAME]; /* wire form */
    size_t zone_len;
    const char *zone_text;
    const char *canary4; /* literal IPv4 (or IPv6) address of the canary */
    const char *canary6; /* literal IPv6 address, or NULL */
    const char *other;   /* another literal address (a public resolver's, in real use) */
    const char *allowed; /* a host the policy allows, or NULL */
    char resolver[INET6_ADDRSTRLEN];
    const char *resolv_conf;
    int timeout_ms;
    bool json;
    char run_id[9];
    const char *sockets[MAX_SOCKET_OPTS]; /* --socket: more engine or resolver sockets */
    size_t n_sockets;
};

struct result {
    const char *channel;
    enum dj_leak_verdict verdict;
    char token[DJ_LEAK_TOKEN_LEN + 1];
    char detail[DJ_LEAK_MAX_DETAIL + 1];
};

typedef void channel_fn(const struct probe *p, struct result *r);

static void set_detail(struct result *r, enum dj_leak_verdict verdict, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_detail(struct result *r, enum dj_leak_verdict verdict, const char *fmt, ...)
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

static bool fill_random(void *buf, size_t len)
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

static bool make_addr(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
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

static bool has_marker(const uint8_t *buf, size_t len)
{
    return memmem(buf, len, LT_CANARY_MARKER, strlen(LT_CANARY_MARKER)) != NULL;
}

static bool wait_fd(int fd, short events, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    int n;
    do {
        n = poll(&pfd, 1, timeout_ms);
    } while (n < 0 && errno == EINTR);
    return n > 0;
}

enum exchange {
    EX_REPLY,     /* bytes came back */
    EX_SILENT,    /* sent, nothing came back in time (or the peer closed without a byte) */
    EX_FAILED,    /* could not send: refused, unreachable, reset (errno in *err) */
    EX_NO_SOCKET, /* the socket itself could not be made (errno in *err) */
};

/* Connected UDP: one datagram out, at most one back. */
static enum exchange udp_exchange(const struct probe *p, const struct sockaddr_storage *to,
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
    if (!wait_fd(fd, POLLIN, p->timeout_ms))
        return EX_SILENT;
    ssize_t n = recv(fd, reply, REPLY_SIZE, 0);
    if (n < 0) {
        *err = errno;
        return EX_FAILED;
    }
    *reply_len = (size_t)n;
    return EX_REPLY;
}

static int tcp_connect(const struct probe *p, const struct sockaddr_storage *to, socklen_t to_len,
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
    if (!wait_fd(fd, POLLOUT, p->timeout_ms)) {
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

static bool send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *b = buf;
    while (len > 0) {
        ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && wait_fd(fd, POLLOUT, 1000))
                continue;
            return false;
        }
        b += n;
        len -= (size_t)n;
    }
    return true;
}

/* Reads what arrives within the timeout (stops at REPLY_SIZE, EOF or a quiet timeout). */
static size_t read_reply(const struct probe *p, int fd, uint8_t *reply)
{
    size_t got = 0;
    while (got < REPLY_SIZE && wait_fd(fd, POLLIN, got == 0 ? p->timeout_ms : 100)) {
        ssize_t n = recv(fd, reply + got, REPLY_SIZE - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

/* One TCP connection: MSG out, whatever comes back in. */
static enum exchange tcp_exchange(const struct probe *p, const struct sockaddr_storage *to,
                                  socklen_t to_len, const void *msg, size_t len, uint8_t *reply,
                                  size_t *reply_len, int *err)
{
    *reply_len = 0;
    cleanup_close int fd = tcp_connect(p, to, to_len, err);
    if (fd < 0)
        return EX_FAILED;
    if (!send_all(fd, msg, len)) {
        *err = errno;
        return EX_FAILED;
    }
    *reply_len = read_reply(p, fd, reply);
    return *reply_len > 0 ? EX_REPLY : EX_SILENT;
}

/* The common verdict of one exchange. */
static void judge(struct result *r, enum exchange ex, int err, const uint8_t *reply,
                  size_t reply_len, const char *what)
{
    switch (ex) {
    case EX_REPLY:
        if (has_marker(reply, reply_len))
            set_detail(r, DJ_LEAK_LEAKED, "%s: the canary answered", what);
        else
            set_detail(r, DJ_LEAK_PENDING, "%s: %zu bytes back, not from the canary", what,
                       reply_len);
        break;
    case EX_SILENT:
        set_detail(r, DJ_LEAK_PENDING, "%s: sent, no answer", what);
        break;
    case EX_FAILED:
        set_detail(r, DJ_LEAK_PENDING, "%s: %s", what, strerror(err));
        break;
    case EX_NO_SOCKET:
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "%s: no socket: %s", what, strerror(err));
        break;
    }
}

/* ---- DNS -------------------------------------------------------------------------------- */

/* Wire name: the labels in PREFIX (each NUL-free, LENGTHS given) then the zone. */
static size_t build_name(const struct probe *p, const uint8_t *const *labels, const size_t *lengths,
                         size_t n, uint8_t *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (lengths[i] == 0 || lengths[i] > DJ_DNS_MAX_LABEL ||
            o + 1 + lengths[i] + p->zone_len > DJ_DNS_MAX_NAME)
            return 0;
        out[o++] = (uint8_t)lengths[i];
        memcpy(out + o, labels[i], lengths[i]);
        o += lengths[i];
    }
    memcpy(out + o, p->zone, p->zone_len);
    return o + p->zone_len;
}

/* A query for NAME/QTYPE, RD set, with an EDNS(0) OPT of UDP_SIZE when EDNS. */
static size_t build_dns_query(uint16_t id, const uint8_t *name, size_t name_len, uint16_t qtype,
                              bool edns, uint16_t udp_size, uint8_t *out, size_t out_size)
{
    if (out_size < DJ_DNS_HEADER_SIZE + name_len + 4 + 11)
        return 0;
    size_t o = dj_put16_at(out, 0, id);
    o = dj_put16_at(out, o, 0x0100);
    o = dj_put16_at(out, o, 1);
    o = dj_put16_at(out, o, 0);
    o = dj_put16_at(out, o, 0);
    o = dj_put16_at(out, o, edns ? 1 : 0);
    memcpy(out + o, name, name_len);
    o += name_len;
    o = dj_put16_at(out, o, qtype);
    o = dj_put16_at(out, o, DJ_DNS_CLASS_IN);
    if (edns) {
        out[o++] = 0;
        o = dj_put16_at(out, o, DJ_DNS_TYPE_OPT);
        o = dj_put16_at(out, o, udp_size);
        o = dj_put16_at(out, o, 0);
        o = dj_put16_at(out, o, 0x8000); /* DO */
        o = dj_put16_at(out, o, 0);
    }
    return o;
}

/* What a DNS reply says, for the detail text; A and AAAA answers go through the resolver's
 * own answer parser. Only the header's fixed fields are read for other types. */
static void describe_dns_reply(const uint8_t *reply, size_t len, uint16_t id, uint16_t qtype,
                               const uint8_t *name, size_t name_len, char *out, size_t out_size)
{
    char rc[DJ_DNS_RCODE_TEXT_SIZE];
    if (len < DJ_DNS_HEADER_SIZE || ((reply[0] << 8) | reply[1]) != id || !(reply[2] & 0x80)) {
        snprintf(out, out_size, "%zu bytes back, not an answer to the query", len);
        return;
    }
    if (qtype == DJ_DNS_TYPE_A || qtype == DJ_DNS_TYPE_AAAA) {
        struct dj_dns_question q = {.id = id, .qtype = qtype, .qname = name, .qname_len = name_len};
        struct dj_dns_answer a;
        dj_dns_parse_answer(reply, len, &q, &a);
        char addr[INET6_ADDRSTRLEN] = "-";
        if (a.status == DJ_DNSANSWER_OK)
            inet_ntop(qtype == DJ_DNS_TYPE_A ? AF_INET : AF_INET6, a.addrs[0], addr, sizeof(addr));
        snprintf(out, out_size, "%s %s", dj_dnsanswer_status_text(a.status), addr);
        return;
    }
    uint16_t ancount = (uint16_t)((reply[6] << 8) | reply[7]);
    snprintf(out, out_size, "%s, %u answers", dj_dns_rcode_text(reply[3] & 15, rc), ancount);
}

struct dns_attempt {
    const char *server; /* literal address, NULL: the resolv.conf server */
    uint16_t port;      /* 0: 53 */
    bool tcp;
    uint16_t qtype;
    bool edns;
    enum { NAME_PLAIN, NAME_LONG, NAME_BASE32, NAME_BINARY } shape;
};

/* The labels a tunnel would use: the token first (so the canary's record names it), then
 * the payload labels. */
static size_t shaped_name(const struct probe *p, const struct result *r, int shape, uint8_t *out)
{
    static const char b32[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint8_t payload[4][DJ_DNS_MAX_LABEL];
    const uint8_t *labels[5] = {(const uint8_t *)r->token};
    size_t lengths[5] = {strlen(r->token)};
    size_t n = 1;
    uint8_t rnd[4 * DJ_DNS_MAX_LABEL];
    if (shape == NAME_PLAIN || !fill_random(rnd, sizeof(rnd)))
        return build_name(p, labels, lengths, n, out);
    for (size_t l = 0; l < 4; l++) {
        size_t len = shape == NAME_LONG ? DJ_DNS_MAX_LABEL : 40 + l;
        for (size_t i = 0; i < len; i++) {
            uint8_t c = rnd[l * DJ_DNS_MAX_LABEL + i];
            if (shape == NAME_BINARY)
                payload[l][i] = (uint8_t)(c | 0x80); /* iodine's "raw" 8-bit labels */
            else if (shape == NAME_BASE32)
                payload[l][i] = (uint8_t)b32[c % (sizeof(b32) - 1)];
            else
                payload[l][i] = (uint8_t)('a' + c % 26);
        }
        labels[n] = payload[l];
        lengths[n] = len;
        /* As many labels as fit: a tunnel fills the name up to 255 bytes. */
        size_t total = p->zone_len;
        for (size_t k = 0; k <= n; k++)
            total += 1 + lengths[k];
        if (total > DJ_DNS_MAX_NAME)
            break;
        n++;
    }
    return build_name(p, labels, lengths, n, out);
}

static void dns_channel(const struct probe *p, struct result *r, const struct dns_attempt *at)
{
    const char *server = at->server != NULL ? at->server : p->resolver;
    if (server == NULL || server[0] == '\0') {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no nameserver in %s", p->resolv_conf);
        return;
    }
    struct sockaddr_storage to;
    socklen_t to_len;
    if (!make_addr(server, at->port != 0 ? at->port : 53, &to, &to_len)) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "not an address: %s", server);
        return;
    }
    uint8_t name[DJ_DNS_MAX_NAME];
    size_t name_len = shaped_name(p, r, at->shape, name);
    uint16_t id;
    if (name_len == 0 || !fill_random(&id, sizeof(id))) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "cannot build the query name (zone too long?)");
        return;
    }
    uint8_t query[2 + DJ_DNS_MAX_QUERY];
    size_t qlen = build_dns_query(id, name, name_len, at->qtype, at->edns, 4096, query + 2,
                                  sizeof(query) - 2);
    dj_put16_at(query, 0, (uint16_t)qlen);

    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "out of memory");
        return;
    }
    size_t reply_len = 0;
    int err = 0;
    enum exchange ex;
    const uint8_t *msg = reply;
    size_t msg_len = 0;
    if (at->tcp) {
        ex = tcp_exchange(p, &to, to_len, query, qlen + 2, reply, &reply_len, &err);
        if (ex == EX_REPLY && reply_len >= 2) {
            msg = reply + 2;
            msg_len = reply_len - 2;
        }
    } else {
        ex = udp_exchange(p, &to, to_len, query + 2, qlen, reply, &reply_len, &err);
        msg_len = reply_len;
    }
    char what[80];
    snprintf(what, sizeof(what), "%s to %s port %u", at->tcp ? "tcp" : "udp", server,
             at->port != 0 ? at->port : 53);
    if (ex == EX_REPLY && !has_marker(reply, reply_len)) {
        char said[96];
        describe_dns_reply(msg, msg_len, id, at->qtype, name, name_len, said, sizeof(said));
        set_detail(r, DJ_LEAK_PENDING, "%s: %s", what, said);
        return;
    }
    judge(r, ex, err, reply, reply_len, what);
}

#define DNS_CHANNEL(fn, ...)                                                                       \
    static void fn(const struct probe *p, struct result *r)                                        \
    {                                                                                              \
        const struct dns_attempt at = {__VA_ARGS__};                                               \
        dns_channel(p, r, &at);                                                                    \
    }

DNS_CHANNEL(ch_dns_a, .qtype = DJ_DNS_TYPE_A)
DNS_CHANNEL(ch_dns_aaaa, .qtype = DJ_DNS_TYPE_AAAA)
DNS_CHANNEL(ch_dns_txt, .qtype = DNS_TYPE_TXT)
DNS_CHANNEL(ch_dns_null, .qtype = DNS_TYPE_NULL)
DNS_CHANNEL(ch_dns_cname, .qtype = DJ_DNS_TYPE_CNAME)
DNS_CHANNEL(ch_dns_mx, .qtype = DNS_TYPE_MX)
DNS_CHANNEL(ch_dns_any, .qtype = DNS_TYPE_ANY)
DNS_CHANNEL(ch_dns_srv, .qtype = DNS_TYPE_SRV)
DNS_CHANNEL(ch_dns_tcp, .qtype = DJ_DNS_TYPE_A, .tcp = true)
DNS_CHANNEL(ch_dns_edns0, .qtype = DNS_TYPE_TXT, .edns = true)
DNS_CHANNEL(ch_dns_long, .qtype = DNS_TYPE_TXT, .edns = true, .shape = NAME_LONG)
DNS_CHANNEL(ch_dns_base32, .qtype = DNS_TYPE_NULL, .edns = true, .shape = NAME_BASE32)
DNS_CHANNEL(ch_dns_binary, .qtype = DNS_TYPE_NULL, .edns = true, .shape = NAME_BINARY)

static void dns_to(const struct probe *p, struct result *r, const char *server, bool tcp,
                   const char *missing)
{
    if (server == NULL) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "%s", missing);
        return;
    }
    const struct dns_attempt at = {.server = server, .tcp = tcp, .qtype = DJ_DNS_TYPE_A};
    dns_channel(p, r, &at);
}

static void ch_dns_canary_udp(const struct probe *p, struct result *r)
{
    dns_to(p, r, p->canary4, false, "");
}

static void ch_dns_canary_tcp(const struct probe *p, struct result *r)
{
    dns_to(p, r, p->canary4, true, "");
}

static void ch_dns_other(const struct probe *p, struct result *r)
{
    dns_to(p, r, p->other, false, "no --other-addr given");
}

static void ch_dns_canary6(const struct probe *p, struct result *r)
{
    dns_to(p, r, p->canary6, false, "no --canary-addr6 given");
}

/* ---- TLS, HTTP ---------------------------------------------------------------------------- */

/* A TLS 1.3-looking ClientHello naming HOST: enough for an SNI-routing proxy to decide, no
 * handshake can follow. Returns its length, 0 when HOST does not fit. */
static size_t build_client_hello(const char *host, uint8_t *out, size_t out_size)
{
    size_t host_len = strlen(host);
    size_t sni_ext = 4 + 2 + 1 + 2 + host_len;
    size_t versions_ext = 4 + 1 + 2;
    size_t groups_ext = 4 + 2 + 2;
    size_t ext_len = sni_ext + versions_ext + groups_ext;
    size_t body = 2 + 32 + 1 + 2 + 6 + 2 + 2 + ext_len;
    size_t total = 5 + 4 + body;
    if (host_len > 253 || total > out_size)
        return 0;
    size_t o = 0;
    out[o++] = 22;
    o = dj_put16_at(out, o, 0x0301);
    o = dj_put16_at(out, o, (uint16_t)(4 + body));
    out[o++] = 1;
    out[o++] = 0;
    o = dj_put16_at(out, o, (uint16_t)body);
    o = dj_put16_at(out, o, 0x0303);
    if (!fill_random(out + o, 32))
        memset(out + o, 0x5a, 32);
    o += 32;
    out[o++] = 0;
    o = dj_put16_at(out, o, 6);
    o = dj_put16_at(out, o, 0x1301);
    o = dj_put16_at(out, o, 0x1302);
    o = dj_put16_at(out, o, 0xc02f);
    out[o++] = 1;
    out[o++] = 0;
    o = dj_put16_at(out, o, (uint16_t)ext_len);
    o = dj_put16_at(out, o, 0x0000);
    o = dj_put16_at(out, o, (uint16_t)(2 + 1 + 2 + host_len));
    o = dj_put16_at(out, o, (uint16_t)(1 + 2 + host_len));
    out[o++] = 0;
    o = dj_put16_at(out, o, (uint16_t)host_len);
    memcpy(out + o, host, host_len);
    o += host_len;
    o = dj_put16_at(out, o, 0x002b);
    o = dj_put16_at(out, o, 3);
    out[o++] = 2;
    o = dj_put16_at(out, o, 0x0304);
    o = dj_put16_at(out, o, 0x000a);
    o = dj_put16_at(out, o, 4);
    o = dj_put16_at(out, o, 2);
    o = dj_put16_at(out, o, 0x001d);
    return o;
}

static void token_host(const struct probe *p, const struct result *r, const char *prefix, char *out,
                       size_t out_size)
{
    snprintf(out, out_size, "%s%s.%s", prefix, r->token, p->zone_text);
}

static void stream_channel(const struct probe *p, struct result *r, const char *addr, uint16_t port,
                           const void *msg, size_t len, const char *what)
{
    struct sockaddr_storage to;
    socklen_t to_len;
    if (!make_addr(addr, port, &to, &to_len)) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no address");
        return;
    }
    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "out of memory");
        return;
    }
    size_t reply_len;
    int err = 0;
    enum exchange ex = tcp_exchange(p, &to, to_len, msg, len, reply, &reply_len, &err);
    judge(r, ex, err, reply, reply_len, what);
}

static void tls_channel(const struct probe *p, struct result *r, uint16_t port)
{
    char host[300];
    uint8_t hello[600];
    token_host(p, r, "", host, sizeof(host));
    size_t len = build_client_hello(host, hello, sizeof(hello));
    if (len == 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "zone too long for an SNI");
        return;
    }
    char what[32];
    snprintf(what, sizeof(what), "tls to port %u", port);
    stream_channel(p, r, p->canary4, port, hello, len, what);
}

static void ch_dot(const struct probe *p, struct result *r)
{
    tls_channel(p, r, 853);
}

static void ch_tls_sni(const struct probe *p, struct result *r)
{
    tls_channel(p, r, 443);
}

static void http_channel(const struct probe *p, struct result *r, uint16_t port, bool post)
{
    char host[300], req[1024];
    token_host(p, r, post ? "dns." : "", host, sizeof(host));
    int n;
    if (post)
        n = snprintf(req, sizeof(req),
                     "POST /dns-query?t=%s HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: application/dns-message\r\nContent-Length: %zu\r\n\r\n%s",
                     r->token, host, strlen(r->token), r->token);
    else
        n = snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n", r->token, host);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "zone too long");
        return;
    }
    char what[32];
    snprintf(what, sizeof(what), "http to port %u", port);
    stream_channel(p, r, p->canary4, port, req, (size_t)n, what);
}

static void ch_http_host(const struct probe *p, struct result *r)
{
    http_channel(p, r, 80, false);
}

static void ch_doh_post(const struct probe *p, struct result *r)
{
    http_channel(p, r, 80, true);
}

static void ch_doh_post_443(const struct probe *p, struct result *r)
{
    http_channel(p, r, 443, true);
}

/* Keep-alive that switches Host: the first request names an allowed host (so a proxy that
 * checks only the first request opens the upstream connection), the second the canary. */
static void ch_http_keepalive(const struct probe *p, struct result *r)
{
    if (p->allowed == NULL) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no --allowed-host given");
        return;
    }
    struct sockaddr_storage to;
    socklen_t to_len;
    make_addr(p->canary4, 80, &to, &to_len);
    int err = 0;
    cleanup_close int fd = tcp_connect(p, &to, to_len, &err);
    if (fd < 0) {
        set_detail(r, DJ_LEAK_PENDING, "connect: %s", strerror(err));
        return;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", p->allowed);
    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL || n < 0 || (size_t)n >= sizeof(req) || !send_all(fd, req, (size_t)n)) {
        set_detail(r, DJ_LEAK_PENDING, "first request not sent");
        return;
    }
    size_t first = read_reply(p, fd, reply);
    char host[300];
    token_host(p, r, "", host, sizeof(host));
    n = snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n", r->token, host);
    if (n < 0 || (size_t)n >= sizeof(req) || !send_all(fd, req, (size_t)n)) {
        set_detail(r, DJ_LEAK_PENDING, "first answered with %zu bytes, second not sent", first);
        return;
    }
    size_t second = read_reply(p, fd, reply);
    /* Only a marked answer to the second request proves it went through: the first was
     * read to its end (quiet) before the second was sent. */
    if (first > 0 && has_marker(reply, second))
        set_detail(r, DJ_LEAK_LEAKED, "the canary answered the second request");
    else
        set_detail(r, DJ_LEAK_PENDING, "first answered with %zu bytes, second with %zu", first,
                   second);
}

/* The documented limit: TLS hides the Host inside, so an allowed SNI carries anything. The
 * bytes after the ClientHello stand for the encrypted request. */
static void ch_limit_sni_host(const struct probe *p, struct result *r)
{
    if (p->allowed == NULL) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no --allowed-host given");
        return;
    }
    uint8_t msg[1200];
    size_t len = build_client_hello(p->allowed, msg, sizeof(msg));
    int n = snprintf((char *)msg + len, sizeof(msg) - len,
                     "GET /%s HTTP/1.1\r\nHost: %s.%s\r\n\r\n", r->token, r->token, p->zone_text);
    if (len == 0 || n < 0 || (size_t)n >= sizeof(msg) - len) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "allowed host too long");
        return;
    }
    stream_channel(p, r, p->canary4, 443, msg, len + (size_t)n, "allowed sni, other host inside");
}

/* ---- servers held from outside the container --------------------------------------------- */

/* A process outside the container can bind a socket in its namespace and serve it from outside
 * (Docker's embedded DNS on 127.0.0.11 is one). The probe finds the namespace's servers in
 * /proc/net and keeps those that no process it can see holds, then asks each for a name with
 * the channel's token: a server that resolves it from outside reaches the canary. */
#define MAX_FOREIGN_SERVERS 8

struct foreign_server {
    char addr[INET6_ADDRSTRLEN];
    uint16_t port;
    bool tcp;
};

/* Whether any process the probe can see (itself included) holds socket INODE. */
static bool socket_held_here(unsigned long inode)
{
    char want[40];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return true; /* cannot tell: do not call it foreign */
    bool held = false;
    struct dirent *pe;
    while (!held && (pe = readdir(proc)) != NULL) {
        if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%.20s/fd", pe->d_name);
        DIR *fds = opendir(path);
        if (fds == NULL)
            continue;
        struct dirent *fe;
        while (!held && (fe = readdir(fds)) != NULL) {
            char link[48];
            ssize_t n = readlinkat(dirfd(fds), fe->d_name, link, sizeof(link) - 1);
            if (n <= 0)
                continue;
            link[n] = '\0';
            held = strcmp(link, want) == 0;
        }
        closedir(fds);
    }
    closedir(proc);
    return held;
}

/* The address column of /proc/net/{tcp,udp}[6]: the kernel prints each 32-bit word of the
 * address in network order as a host integer, so the words are copied back as such. */
static bool proc_net_addr(const char *hex, int family, char *out)
{
    uint8_t addr[16];
    size_t words = family == AF_INET6 ? 4 : 1;
    if (strlen(hex) != words * 8)
        return false;
    for (size_t w = 0; w < words; w++) {
        char word[9];
        memcpy(word, hex + 8 * w, 8);
        word[8] = '\0';
        char *end;
        uint32_t v = (uint32_t)strtoul(word, &end, 16);
        if (*end != '\0')
            return false;
        memcpy(addr + 4 * w, &v, 4);
    }
    static const uint8_t zero[16];
    /* A wildcard server is reached on loopback. */
    if (memcmp(addr, zero, 4 * words) == 0) {
        strcpy(out, family == AF_INET6 ? "::1" : "127.0.0.1");
        return true;
    }
    return inet_ntop(family, addr, out, INET6_ADDRSTRLEN) != NULL;
}

static size_t find_foreign_servers(struct foreign_server *out, size_t max)
{
    static const struct {
        const char *path;
        int family;
        bool tcp;
        unsigned state; /* TCP_LISTEN for TCP, TCP_CLOSE (unconnected) for UDP */
    } tables[] = {
        {"/proc/net/udp", AF_INET, false, 0x07},
        {"/proc/net/tcp", AF_INET, true, 0x0A},
        {"/proc/net/udp6", AF_INET6, false, 0x07},
        {"/proc/net/tcp6", AF_INET6, true, 0x0A},
    };
    size_t n = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]) && n < max; t++) {
        cleanup_fclose FILE *f = fopen(tables[t].path, "re");
        char line[512];
        if (f == NULL || fgets(line, sizeof(line), f) == NULL) /* the header */
            continue;
        while (n < max && fgets(line, sizeof(line), f) != NULL) {
            char hex[33];
            unsigned port, state;
            unsigned long inode;
            if (sscanf(
                    line,
                    " %*u: %32[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
                    hex, &port, &state, &inode) != 4)
                continue;
            if (state != tables[t].state || port == 0 || port > 65535 || inode == 0 ||
                socket_held_here(inode))
                continue;
            if (!proc_net_addr(hex, tables[t].family, out[n].addr))
                continue;
            out[n].port = (uint16_t)port;
            out[n].tcp = tables[t].tcp;
            n++;
        }
    }
    return n;
}

static void ch_foreign_server(const struct probe *p, struct result *r)
{
    struct foreign_server servers[MAX_FOREIGN_SERVERS];
    size_t n = find_foreign_servers(servers, MAX_FOREIGN_SERVERS);
    if (n == 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no server here that only an outside process holds");
        return;
    }
    char tried[DJ_LEAK_MAX_DETAIL / 2] = "";
    for (size_t i = 0; i < n; i++) {
        struct result one = *r;
        const struct dns_attempt at = {.server = servers[i].addr,
                                       .port = servers[i].port,
                                       .tcp = servers[i].tcp,
                                       .qtype = DJ_DNS_TYPE_A};
        dns_channel(p, &one, &at);
        if (one.verdict == DJ_LEAK_LEAKED) {
            *r = one;
            return;
        }
        char one_text[INET6_ADDRSTRLEN + 16];
        int len = snprintf(one_text, sizeof(one_text), " %s %s:%u", servers[i].tcp ? "tcp" : "udp",
                           servers[i].addr, servers[i].port);
        size_t used = strlen(tried);
        if (len > 0 && used + (size_t)len < sizeof(tried))
            memcpy(tried + used, one_text, (size_t)len + 1);
    }
    set_detail(r, DJ_LEAK_PENDING, "asked %zu server%s held from outside:%s", n, n > 1 ? "s" : "",
               tried);
}

/* ---- engine and resolver sockets mounted into the container ------------------------------ */

/* A host's container engine or resolver socket bind-mounted into the container is a door past
 * the network: the host does what the container asks, outside the jail (the hook refuses such
 * mounts unless the admin lists them in allow-socket-mounts). The probe looks at the usual
 * places and the mount points with a known name (socknames.h, the hook's own list) and at
 * --socket paths, and makes the host carry the token as an attacker would: an engine is asked
 * to pull an image from a registry called TOKEN.ZONE (its resolver then asks the canary),
 * systemd-resolved to resolve TOKEN.ZONE. Protocols the probe does not speak (containerd's
 * and CRI-O's gRPC, D-Bus, nscd) are only connected to. Nothing it sends starts a container. */
#define MAX_ENGINE_SOCKETS 16

enum sock_speech { SPEAK_DOCKER_API, SPEAK_VARLINK_RESOLVE, SPEAK_NOTHING };
enum sock_sent { SOCK_NOT_SENT, SOCK_SENT, SOCK_CANARY_ANSWERED };

struct engine_socket {
    char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
    dev_t dev;
    ino_t ino;
    enum sock_speech speech;
};

/* Adds PATH when it is a socket not yet seen (by inode: /var/run is often /run). A socket the
 * user named (GIVEN) that is not known by name is taken for a Docker-compatible API. */
static void engine_socket_add(const char *path, bool given, struct engine_socket *out, size_t *n)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    enum sock_speech speech = SPEAK_NOTHING;
    if (strcmp(name, "docker.sock") == 0 || strcmp(name, "podman.sock") == 0)
        speech = SPEAK_DOCKER_API;
    else if (strcmp(name, "io.systemd.Resolve") == 0)
        speech = SPEAK_VARLINK_RESOLVE;
    else if (dj_socknames_known_path(path) == NULL) {
        if (!given)
            return; /* not stat'ed: a mount point may hang (a dead network file system) */
        speech = SPEAK_DOCKER_API;
    }
    struct stat st;
    if (*n == MAX_ENGINE_SOCKETS || strlen(path) >= sizeof(out->path) || stat(path, &st) < 0 ||
        !S_ISSOCK(st.st_mode))
        return;
    for (size_t i = 0; i < *n; i++)
        if (out[i].dev == st.st_dev && out[i].ino == st.st_ino)
            return;
    struct engine_socket *s = &out[(*n)++];
    strcpy(s->path, path);
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->speech = speech;
}

/* mountinfo escapes blanks, newlines and backslashes in paths as \ooo. */
static void unescape_mountinfo(char *s)
{
    char *o = s;
    for (const char *i = s; *i != '\0'; i++) {
        if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' &&
            i[3] >= '0' && i[3] <= '7') {
            *o++ = (char)((i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0'));
            i += 3;
        } else {
            *o++ = *i;
        }
    }
    *o = '\0';
}

/* Sockets bind-mounted anywhere: the mount points of /proc/self/mountinfo with a known name. */
static void engine_sockets_mounted(struct engine_socket *out, size_t *n)
{
    cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    bool whole = true;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        /* The tail of a line longer than the buffer is no line of its own. */
        bool was_whole = whole;
        whole = strchr(line, '\n') != NULL;
        char point[4096];
        if (!was_whole || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
            continue;
        unescape_mountinfo(point);
        engine_socket_add(point, false, out, n);
    }
}

static int unix_connect(const char *path, int *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path)) {
        *err = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, len + 1);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* A Unix stream connect either completes or fails at once (EAGAIN: backlog full). */
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        *err = errno;
        return -1;
    }
    return steal_fd(&fd);
}

/* What the socket is asked: an engine to pull TOKEN.ZONE/leaktest (to find the registry it
 * resolves TOKEN.ZONE through the host's resolver; a pull starts nothing, and there is no
 * such registry to pull from), systemd-resolved to resolve TOKEN.ZONE (a varlink call is one
 * JSON object ended by a NUL). The zone passed dj_dns_name_from_text: no quote, blank or
 * backslash can break out of the request. Returns its length, 0 when it does not fit. */
static size_t engine_request(const struct probe *p, const struct result *r, enum sock_speech speech,
                             char *req, size_t size)
{
    char host[300];
    token_host(p, r, "", host, sizeof(host));
    int n = speech == SPEAK_DOCKER_API
                ? snprintf(req, size,
                           "POST /images/create?fromImage=%s/leaktest&tag=latest HTTP/1.1\r\n"
                           "Host: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                           host, host)
                : snprintf(req, size,
                           "{\"method\":\"io.systemd.Resolve.ResolveHostname\","
                           "\"parameters\":{\"name\":\"%s\"}}",
                           host);
    if (n < 0 || (size_t)n >= size)
        return 0;
    return speech == SPEAK_VARLINK_RESOLVE ? (size_t)n + 1 : (size_t)n;
}

/* The host's engine or resolver answered: untrusted bytes, only looked at for an HTTP status
 * (the proxy's fuzzed parser) or a varlink error name (a bounded span of name characters). */
static void describe_engine_reply(enum sock_speech speech, const uint8_t *reply, size_t len,
                                  char *said, size_t said_size)
{
    if (speech == SPEAK_DOCKER_API) {
        struct resphead_scan scan;
        struct resphead head;
        resphead_scan_init(&scan);
        if (resphead_parse(&scan, (const char *)reply, len, false, &head) == RESPHEAD_OK)
            snprintf(said, said_size, "HTTP %u", head.status);
        else
            snprintf(said, said_size, "%zu bytes back, no HTTP head", len);
        return;
    }
    static const char key[] = "\"error\":\"";
    const uint8_t *end = memchr(reply, '\0', len);
    const uint8_t *e = end != NULL ? memmem(reply, (size_t)(end - reply), key, strlen(key)) : NULL;
    if (e != NULL) {
        e += strlen(key);
        size_t k = 0;
        while (e + k < end && k < 60 &&
               (isalnum(e[k]) || e[k] == '.' || e[k] == '_' || e[k] == '-'))
            k++;
        snprintf(said, said_size, "varlink error %.*s", (int)k, (const char *)e);
    } else if (end != NULL) {
        snprintf(said, said_size, "varlink reply");
    } else {
        snprintf(said, said_size, "%zu bytes back, no varlink reply", len);
    }
}

static enum sock_sent engine_exchange(const struct probe *p, const struct result *r, int fd,
                                      enum sock_speech speech, uint8_t *reply, char *said,
                                      size_t said_size)
{
    char req[1024];
    size_t n = engine_request(p, r, speech, req, sizeof(req));
    if (n == 0 || !send_all(fd, req, n)) {
        snprintf(said, said_size, "request not sent");
        return SOCK_NOT_SENT;
    }
    size_t len = read_reply(p, fd, reply);
    if (has_marker(reply, len)) {
        snprintf(said, said_size, "the canary answered");
        return SOCK_CANARY_ANSWERED;
    }
    describe_engine_reply(speech, reply, len, said, said_size);
    return SOCK_SENT;
}

static void ch_engine_socket(const struct probe *p, struct result *r)
{
    struct engine_socket socks[MAX_ENGINE_SOCKETS];
    size_t n = 0;
    const char *path;
    for (size_t i = 0; (path = dj_socknames_usual_path(i)) != NULL; i++)
        engine_socket_add(path, false, socks, &n);
    engine_sockets_mounted(socks, &n);
    for (size_t i = 0; i < p->n_sockets; i++)
        engine_socket_add(p->sockets[i], true, socks, &n);
    if (n == 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no engine or resolver socket here");
        return;
    }
    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "out of memory");
        return;
    }
    enum sock_sent most = SOCK_NOT_SENT;
    /* Room for a "; +N more" at the end: the line's detail is bounded. */
    char tried[DJ_LEAK_MAX_DETAIL - 12] = "";
    size_t more = 0;
    for (size_t i = 0; i < n; i++) {
        char said[80];
        int err = 0;
        enum sock_sent sent = SOCK_NOT_SENT;
        cleanup_close int fd = unix_connect(socks[i].path, &err);
        if (fd < 0)
            snprintf(said, sizeof(said), "connect: %s", strerror(err));
        else if (socks[i].speech != SPEAK_NOTHING)
            sent = engine_exchange(p, r, fd, socks[i].speech, reply, said, sizeof(said));
        else
            snprintf(said, sizeof(said), "accepts: a door whose protocol the probe does not speak");
        if (sent > most)
            most = sent;
        char one[sizeof(said) + sizeof(socks[i].path) + 8];
        int len = snprintf(one, sizeof(one), "%s%s: %s", i ? "; " : "", socks[i].path, said);
        size_t used = strlen(tried);
        if (len > 0 && used + (size_t)len < sizeof(tried) && more == 0)
            memcpy(tried + used, one, (size_t)len + 1);
        else
            more++;
    }
    static const enum dj_leak_verdict verdicts[] = {
        [SOCK_NOT_SENT] = DJ_LEAK_NOT_TESTABLE,
        [SOCK_SENT] = DJ_LEAK_PENDING,
        [SOCK_CANARY_ANSWERED] = DJ_LEAK_LEAKED,
    };
    if (more > 0)
        set_detail(r, verdicts[most], "%s; +%zu more", tried, more);
    else
        set_detail(r, verdicts[most], "%s", tried);
}

/* ---- plain TCP and UDP ------------------------------------------------------------------ */

static uint16_t high_port(const struct result *r)
{
    return (uint16_t)(20000 + (r->token[2] * 131 + r->token[3]) % 30000);
}

static void tcp_to(const struct probe *p, struct result *r, const char *addr, uint16_t port,
                   const char *missing)
{
    if (addr == NULL) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "%s", missing);
        return;
    }
    char msg[64], what[32];
    snprintf(msg, sizeof(msg), "%s\r\n\r\n", r->token);
    snprintf(what, sizeof(what), "tcp port %u", port);
    stream_channel(p, r, addr, port, msg, strlen(msg), what);
}

static void udp_to(const struct probe *p, struct result *r, const char *addr, uint16_t port,
                   const uint8_t *prefix, size_t prefix_len, const char *missing)
{
    struct sockaddr_storage to;
    socklen_t to_len;
    if (addr == NULL || !make_addr(addr, port, &to, &to_len)) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "%s", missing);
        return;
    }
    uint8_t msg[128];
    if (prefix_len > 0)
        memcpy(msg, prefix, prefix_len);
    memcpy(msg + prefix_len, r->token, strlen(r->token));
    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "out of memory");
        return;
    }
    size_t reply_len;
    int err = 0;
    enum exchange ex =
        udp_exchange(p, &to, to_len, msg, prefix_len + strlen(r->token), reply, &reply_len, &err);
    char what[32];
    snprintf(what, sizeof(what), "udp port %u", port);
    judge(r, ex, err, reply, reply_len, what);
}

static void ch_tcp_22(const struct probe *p, struct result *r)
{
    tcp_to(p, r, p->canary4, 22, "");
}

static void ch_tcp_high(const struct probe *p, struct result *r)
{
    tcp_to(p, r, p->canary4, high_port(r), "");
}

static void ch_tcp6_high(const struct probe *p, struct result *r)
{
    tcp_to(p, r, p->canary6, high_port(r), "no --canary-addr6 given");
}

static void ch_udp_123(const struct probe *p, struct result *r)
{
    udp_to(p, r, p->canary4, 123, NULL, 0, "");
}

static void ch_udp_high(const struct probe *p, struct result *r)
{
    udp_to(p, r, p->canary4, high_port(r), NULL, 0, "");
}

static void ch_udp6_high(const struct probe *p, struct result *r)
{
    udp_to(p, r, p->canary6, high_port(r), NULL, 0, "no --canary-addr6 given");
}

/* A QUIC Initial's first bytes: long header, version 1, an 8-byte connection id. */
static void ch_quic(const struct probe *p, struct result *r)
{
    static const uint8_t quic[] = {0xc3, 0, 0, 0, 1, 8, 'l', 'e', 'a', 'k', 't', 'e', 's', 't', 0};
    udp_to(p, r, p->canary4, 443, quic, sizeof(quic), "");
}

/* ---- ICMP ------------------------------------------------------------------------------- */

static uint16_t inet_checksum(const uint8_t *data, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(data[i] << 8 | data[i + 1]);
    if (len & 1)
        sum += (uint32_t)data[len - 1] << 8;
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void icmp_channel(const struct probe *p, struct result *r, const char *addr, bool v6)
{
    struct sockaddr_storage to;
    socklen_t to_len;
    if (addr == NULL || !make_addr(addr, 0, &to, &to_len)) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no --canary-addr6 given");
        return;
    }
    int family = to.ss_family, proto = family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
    const char *how = "ping socket";
    cleanup_close int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, proto);
    if (fd < 0) {
        int ping_err = errno;
        fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, proto);
        how = "raw socket";
        if (fd < 0) {
            set_detail(r, DJ_LEAK_NOT_TESTABLE,
                       "no ping socket (%s: ping_group_range) and no raw socket (%s: no "
                       "CAP_NET_RAW)",
                       strerror(ping_err), strerror(errno));
            return;
        }
    }
    uint8_t pkt[64] = {v6 ? 128 : ICMP_ECHO, 0, 0, 0, 0x4c, 0x54, 0, 1};
    size_t len = 8 + strlen(r->token);
    memcpy(pkt + 8, r->token, strlen(r->token));
    uint16_t sum = inet_checksum(pkt, len); /* the kernel redoes it for ping and ICMPv6 */
    dj_put16_at(pkt, 2, sum);
    if (sendto(fd, pkt, len, 0, (struct sockaddr *)&to, to_len) < 0) {
        set_detail(r, DJ_LEAK_PENDING, "echo via %s: %s", how, strerror(errno));
        return;
    }
    uint8_t reply[512];
    if (!wait_fd(fd, POLLIN, p->timeout_ms)) {
        set_detail(r, DJ_LEAK_PENDING, "echo via %s: sent, no reply", how);
        return;
    }
    ssize_t n = recv(fd, reply, sizeof(reply), 0);
    if (n < 0)
        set_detail(r, DJ_LEAK_PENDING, "echo via %s: %s", how, strerror(errno));
    else
        set_detail(r, DJ_LEAK_PENDING, "echo via %s: %zd bytes back", how, n);
}

static void ch_icmp(const struct probe *p, struct result *r)
{
    icmp_channel(p, r, p->canary4, false);
}

static void ch_icmp6(const struct probe *p, struct result *r)
{
    icmp_channel(p, r, p->canary6, true);
}

/* ---- AF_PACKET and AF_XDP ---------------------------------------------------------------- */

/* A hand-made Ethernet/IPv4/UDP frame to the canary, to be sent below the IP stack (and so
 * below any netfilter hook of the IP layer). Broadcast destination MAC: the probe knows no
 * neighbour, and the receiving stack still delivers a unicast IP packet in it. */
struct raw_frame {
    uint8_t bytes[128];
    size_t len;
    unsigned ifindex;
    char ifname[IFNAMSIZ];
};

static bool raw_frame_build(const struct probe *p, struct result *r, struct raw_frame *f)
{
    struct in_addr dst;
    if (inet_pton(AF_INET, p->canary4, &dst) != 1) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "needs an IPv4 --canary-addr");
        return false;
    }
    /* Any socket answers the interface ioctls; an AF_XDP one does not. */
    cleanup_close int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct if_nameindex *ifs = if_nameindex();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memset(f, 0, sizeof(*f));
    for (struct if_nameindex *i = ifs; fd >= 0 && i != NULL && i->if_index != 0; i++) {
        if (strcmp(i->if_name, "lo") == 0 || strlen(i->if_name) >= IFNAMSIZ)
            continue;
        strcpy(ifr.ifr_name, i->if_name);
        if (ioctl(fd, SIOCGIFADDR, &ifr) == 0) {
            f->ifindex = i->if_index;
            break;
        }
    }
    if (ifs != NULL)
        if_freenameindex(ifs);
    if (f->ifindex == 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no interface with an IPv4 address");
        return false;
    }
    struct in_addr src = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no hardware address: %s", strerror(errno));
        return false;
    }
    memcpy(f->ifname, ifr.ifr_name, sizeof(f->ifname));
    uint8_t *frame = f->bytes;
    size_t tlen = strlen(r->token), udp_len = 8 + tlen, ip_len = 20 + udp_len;
    memset(frame, 0xff, 6);
    memcpy(frame + 6, ifr.ifr_hwaddr.sa_data, 6);
    dj_put16_at(frame, 12, ETH_P_IP);
    uint8_t *ip = frame + 14;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    dj_put16_at(ip, 2, (uint16_t)ip_len);
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    memcpy(ip + 12, &src, 4);
    memcpy(ip + 16, &dst, 4);
    dj_put16_at(ip, 10, inet_checksum(ip, 20));
    uint8_t *udp = ip + 20;
    dj_put16_at(udp, 0, 40000);
    dj_put16_at(udp, 2, high_port(r));
    dj_put16_at(udp, 4, (uint16_t)udp_len);
    dj_put16_at(udp, 6, 0); /* no checksum: allowed for IPv4 */
    memcpy(udp + 8, r->token, tlen);
    f->len = 14 + ip_len;
    return true;
}

/* BYPASS: PACKET_QDISC_BYPASS, which skips the qdisc layer (and tc's egress hook with it). */
static void af_packet_send(const struct probe *p, struct result *r, bool bypass)
{
    cleanup_close int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_IP));
    if (fd < 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no CAP_NET_RAW: %s", strerror(errno));
        return;
    }
    int one = 1;
    if (bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "PACKET_QDISC_BYPASS: %s", strerror(errno));
        return;
    }
    struct raw_frame f;
    if (!raw_frame_build(p, r, &f))
        return;
    struct sockaddr_ll ll = {.sll_family = AF_PACKET,
                             .sll_protocol = htons(ETH_P_IP),
                             .sll_ifindex = (int)f.ifindex,
                             .sll_halen = 6};
    memset(ll.sll_addr, 0xff, 6);
    if (sendto(fd, f.bytes, f.len, 0, (struct sockaddr *)&ll, sizeof(ll)) < 0)
        set_detail(r, DJ_LEAK_PENDING, "frame not sent: %s", strerror(errno));
    else
        set_detail(r, DJ_LEAK_PENDING, "frame sent on %s", f.ifname);
}

static void ch_af_packet(const struct probe *p, struct result *r)
{
    af_packet_send(p, r, false);
}

static void ch_af_packet_bypass(const struct probe *p, struct result *r)
{
    af_packet_send(p, r, true);
}

/* The same frame through an AF_XDP socket in copy mode (needs CAP_NET_RAW only, no XDP
 * program): its transmit path calls the driver directly, below every netfilter hook. */
static void ch_af_xdp(const struct probe *p, struct result *r)
{
#ifdef AF_XDP
    enum { CHUNK = 4096, CHUNKS = 4, RING = 4 };
    cleanup_close int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "no AF_XDP socket (CAP_NET_RAW, kernel): %s",
                   strerror(errno));
        return;
    }
    struct raw_frame f;
    if (!raw_frame_build(p, r, &f))
        return;
    static uint8_t umem[CHUNK * CHUNKS] __attribute__((aligned(4096)));
    struct xdp_umem_reg reg = {.addr = (uintptr_t)umem, .len = sizeof(umem), .chunk_size = CHUNK};
    int ring = RING;
    struct xdp_mmap_offsets off;
    socklen_t off_len = sizeof(off);
    if (setsockopt(fd, SOL_XDP, XDP_UMEM_REG, &reg, sizeof(reg)) < 0 ||
        setsockopt(fd, SOL_XDP, XDP_UMEM_FILL_RING, &ring, sizeof(ring)) < 0 ||
        setsockopt(fd, SOL_XDP, XDP_UMEM_COMPLETION_RING, &ring, sizeof(ring)) < 0 ||
        setsockopt(fd, SOL_XDP, XDP_TX_RING, &ring, sizeof(ring)) < 0 ||
        getsockopt(fd, SOL_XDP, XDP_MMAP_OFFSETS, &off, &off_len) < 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "AF_XDP rings: %s", strerror(errno));
        return;
    }
    size_t tx_len = off.tx.desc + RING * sizeof(struct xdp_desc);
    /* void *: the kernel places the ring's fields at aligned offsets of this page. */
    void *tx = mmap(NULL, tx_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    XDP_PGOFF_TX_RING);
    if (tx == MAP_FAILED) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "AF_XDP ring mmap: %s", strerror(errno));
        return;
    }
    struct sockaddr_xdp sxdp = {
        .sxdp_family = AF_XDP, .sxdp_ifindex = f.ifindex, .sxdp_flags = XDP_COPY};
    if (bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) < 0) {
        set_detail(r, DJ_LEAK_NOT_TESTABLE, "AF_XDP bind to %s: %s", f.ifname, strerror(errno));
        munmap(tx, tx_len);
        return;
    }
    memcpy(umem, f.bytes, f.len);
    struct xdp_desc *desc = (void *)((char *)tx + off.tx.desc);
    uint32_t *producer = (void *)((char *)tx + off.tx.producer);
    desc[0] = (struct xdp_desc){.addr = 0, .len = (uint32_t)f.len};
    __atomic_store_n(producer, 1U, __ATOMIC_RELEASE);
    if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0)
        set_detail(r, DJ_LEAK_PENDING, "AF_XDP frame not sent: %s", strerror(errno));
    else
        set_detail(r, DJ_LEAK_PENDING, "AF_XDP frame sent on %s", f.ifname);
    munmap(tx, tx_len);
#else
    set_detail(r, DJ_LEAK_NOT_TESTABLE, "built without AF_XDP");
#endif
}

/* ---- the run ---------------------------------------------------------------------------- */

static const struct {
    const char *name;
    channel_fn *fn;
} channels[] = {
    {"dns-udp-a", ch_dns_a},
    {"dns-udp-aaaa", ch_dns_aaaa},
    {"dns-udp-txt", ch_dns_txt},
    {"dns-udp-null", ch_dns_null},
    {"dns-udp-cname", ch_dns_cname},
    {"dns-udp-mx", ch_dns_mx},
    {"dns-udp-any", ch_dns_any},
    {"dns-udp-srv", ch_dns_srv},
    {"dns-tcp", ch_dns_tcp},
    {"dns-edns0", ch_dns_edns0},
    {"dns-long-labels", ch_dns_long},
    {"dns-base32-labels", ch_dns_base32},
    {"dns-binary-labels", ch_dns_binary},
    {"dns-canary-udp", ch_dns_canary_udp},
    {"dns-canary-tcp", ch_dns_canary_tcp},
    {"dns-other-addr", ch_dns_other},
    {"dns-canary-ipv6", ch_dns_canary6},
    {"dot-853", ch_dot},
    {"doh-post-80", ch_doh_post},
    {"doh-post-443", ch_doh_post_443},
    {"http-denied-host", ch_http_host},
    {"tls-denied-sni", ch_tls_sni},
    {"http-keepalive-switch", ch_http_keepalive},
    {"tcp-22", ch_tcp_22},
    {"tcp-high-port", ch_tcp_high},
    {"tcp-ipv6", ch_tcp6_high},
    {"udp-123", ch_udp_123},
    {"udp-high-port", ch_udp_high},
    {"udp-ipv6", ch_udp6_high},
    {"udp-443-quic", ch_quic},
    {"icmp-echo", ch_icmp},
    {"icmp6-echo", ch_icmp6},
    {"af-packet", ch_af_packet},
    {"af-packet-bypass", ch_af_packet_bypass},
    {"af-xdp", ch_af_xdp},
    {"foreign-server-dns", ch_foreign_server},
    {"engine-socket", ch_engine_socket},
    {"limit-sni-host", ch_limit_sni_host},
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
        !make_addr(p.canary4, 0, &ss, &sl) || (p.canary6 && !make_addr(p.canary6, 0, &ss, &sl)) ||
        (p.other && !make_addr(p.other, 0, &ss, &sl))) {
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
    if (!fill_random(rnd, sizeof(rnd))) {
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
