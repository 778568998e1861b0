/* probe-net.c: the probe's channels that go out over the network: DNS in every shape a
 * tunnel uses, DoT, DoH, HTTP and TLS with denied names, plain TCP and UDP, QUIC, ICMP, and
 * raw frames (AF_PACKET, AF_XDP). Each sends a fresh token (probe.h). */
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

#define DNS_TYPE_TXT 16
#define DNS_TYPE_NULL 10
#define DNS_TYPE_MX 15
#define DNS_TYPE_SRV 33
#define DNS_TYPE_ANY 255

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
    if (shape == NAME_PLAIN || !probe_fill_random(rnd, sizeof(rnd)))
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

void probe_dns_channel(const struct probe *p, struct result *r, const struct dns_attempt *at)
{
    const char *server = at->server != NULL ? at->server : p->resolver;
    if (server == NULL || server[0] == '\0') {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no nameserver in %s", p->resolv_conf);
        return;
    }
    struct sockaddr_storage to;
    socklen_t to_len;
    if (!probe_make_addr(server, at->port != 0 ? at->port : 53, &to, &to_len)) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "not an address: %s", server);
        return;
    }
    uint8_t name[DJ_DNS_MAX_NAME];
    size_t name_len = shaped_name(p, r, at->shape, name);
    uint16_t id;
    if (name_len == 0 || !probe_fill_random(&id, sizeof(id))) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "cannot build the query name (zone too long?)");
        return;
    }
    uint8_t query[2 + DJ_DNS_MAX_QUERY];
    size_t qlen = build_dns_query(id, name, name_len, at->qtype, at->edns, 4096, query + 2,
                                  sizeof(query) - 2);
    dj_put16_at(query, 0, (uint16_t)qlen);

    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "out of memory");
        return;
    }
    size_t reply_len = 0;
    int err = 0;
    enum exchange ex;
    const uint8_t *msg = reply;
    size_t msg_len = 0;
    if (at->tcp) {
        ex = probe_tcp_exchange(p, &to, to_len, query, qlen + 2, reply, &reply_len, &err);
        if (ex == EX_REPLY && reply_len >= 2) {
            msg = reply + 2;
            msg_len = reply_len - 2;
        }
    } else {
        ex = probe_udp_exchange(p, &to, to_len, query + 2, qlen, reply, &reply_len, &err);
        msg_len = reply_len;
    }
    char what[80];
    snprintf(what, sizeof(what), "%s to %s port %u", at->tcp ? "tcp" : "udp", server,
             at->port != 0 ? at->port : 53);
    if (ex == EX_REPLY && !probe_has_marker(reply, reply_len)) {
        char said[96];
        describe_dns_reply(msg, msg_len, id, at->qtype, name, name_len, said, sizeof(said));
        probe_set_detail(r, DJ_LEAK_PENDING, "%s: %s", what, said);
        return;
    }
    probe_judge(r, ex, err, reply, reply_len, what);
}

#define DNS_CHANNEL(fn, ...)                                                                       \
    void fn(const struct probe *p, struct result *r)                                               \
    {                                                                                              \
        const struct dns_attempt at = {__VA_ARGS__};                                               \
        probe_dns_channel(p, r, &at);                                                              \
    }

DNS_CHANNEL(probe_ch_dns_a, .qtype = DJ_DNS_TYPE_A)
DNS_CHANNEL(probe_ch_dns_aaaa, .qtype = DJ_DNS_TYPE_AAAA)
DNS_CHANNEL(probe_ch_dns_txt, .qtype = DNS_TYPE_TXT)
DNS_CHANNEL(probe_ch_dns_null, .qtype = DNS_TYPE_NULL)
DNS_CHANNEL(probe_ch_dns_cname, .qtype = DJ_DNS_TYPE_CNAME)
DNS_CHANNEL(probe_ch_dns_mx, .qtype = DNS_TYPE_MX)
DNS_CHANNEL(probe_ch_dns_any, .qtype = DNS_TYPE_ANY)
DNS_CHANNEL(probe_ch_dns_srv, .qtype = DNS_TYPE_SRV)
DNS_CHANNEL(probe_ch_dns_tcp, .qtype = DJ_DNS_TYPE_A, .tcp = true)
DNS_CHANNEL(probe_ch_dns_edns0, .qtype = DNS_TYPE_TXT, .edns = true)
DNS_CHANNEL(probe_ch_dns_long, .qtype = DNS_TYPE_TXT, .edns = true, .shape = NAME_LONG)
DNS_CHANNEL(probe_ch_dns_base32, .qtype = DNS_TYPE_NULL, .edns = true, .shape = NAME_BASE32)
DNS_CHANNEL(probe_ch_dns_binary, .qtype = DNS_TYPE_NULL, .edns = true, .shape = NAME_BINARY)

static void dns_to(const struct probe *p, struct result *r, const char *server, bool tcp,
                   const char *missing)
{
    if (server == NULL) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "%s", missing);
        return;
    }
    const struct dns_attempt at = {.server = server, .tcp = tcp, .qtype = DJ_DNS_TYPE_A};
    probe_dns_channel(p, r, &at);
}

void probe_ch_dns_canary_udp(const struct probe *p, struct result *r)
{
    dns_to(p, r, p->canary4, false, "");
}

void probe_ch_dns_canary_tcp(const struct probe *p, struct result *r)
{
    dns_to(p, r, p->canary4, true, "");
}

void probe_ch_dns_other(const struct probe *p, struct result *r)
{
    dns_to(p, r, p->other, false, "no --other-addr given");
}

void probe_ch_dns_canary6(const struct probe *p, struct result *r)
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
    if (!probe_fill_random(out + o, 32))
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

void probe_token_host(const struct probe *p, const struct result *r, const char *prefix, char *out,
                      size_t out_size)
{
    snprintf(out, out_size, "%s%s.%s", prefix, r->token, p->zone_text);
}

static void stream_channel(const struct probe *p, struct result *r, const char *addr, uint16_t port,
                           const void *msg, size_t len, const char *what)
{
    struct sockaddr_storage to;
    socklen_t to_len;
    if (!probe_make_addr(addr, port, &to, &to_len)) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no address");
        return;
    }
    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "out of memory");
        return;
    }
    size_t reply_len;
    int err = 0;
    enum exchange ex = probe_tcp_exchange(p, &to, to_len, msg, len, reply, &reply_len, &err);
    probe_judge(r, ex, err, reply, reply_len, what);
}

static void tls_channel(const struct probe *p, struct result *r, uint16_t port)
{
    char host[300];
    uint8_t hello[600];
    probe_token_host(p, r, "", host, sizeof(host));
    size_t len = build_client_hello(host, hello, sizeof(hello));
    if (len == 0) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "zone too long for an SNI");
        return;
    }
    char what[32];
    snprintf(what, sizeof(what), "tls to port %u", port);
    stream_channel(p, r, p->canary4, port, hello, len, what);
}

void probe_ch_dot(const struct probe *p, struct result *r)
{
    tls_channel(p, r, 853);
}

void probe_ch_tls_sni(const struct probe *p, struct result *r)
{
    tls_channel(p, r, 443);
}

static void http_channel(const struct probe *p, struct result *r, uint16_t port, bool post)
{
    char host[300], req[1024];
    probe_token_host(p, r, post ? "dns." : "", host, sizeof(host));
    int n;
    if (post)
        n = snprintf(req, sizeof(req),
                     "POST /dns-query?t=%s HTTP/1.1\r\nHost: %s\r\n"
                     "Content-Type: application/dns-message\r\nContent-Length: %zu\r\n\r\n%s",
                     r->token, host, strlen(r->token), r->token);
    else
        n = snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n", r->token, host);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "zone too long");
        return;
    }
    char what[32];
    snprintf(what, sizeof(what), "http to port %u", port);
    stream_channel(p, r, p->canary4, port, req, (size_t)n, what);
}

void probe_ch_http_host(const struct probe *p, struct result *r)
{
    http_channel(p, r, 80, false);
}

void probe_ch_doh_post(const struct probe *p, struct result *r)
{
    http_channel(p, r, 80, true);
}

void probe_ch_doh_post_443(const struct probe *p, struct result *r)
{
    http_channel(p, r, 443, true);
}

/* Keep-alive that switches Host: the first request names an allowed host (so a proxy that
 * checks only the first request opens the upstream connection), the second the canary. */
void probe_ch_http_keepalive(const struct probe *p, struct result *r)
{
    if (p->allowed == NULL) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no --allowed-host given");
        return;
    }
    struct sockaddr_storage to;
    socklen_t to_len;
    probe_make_addr(p->canary4, 80, &to, &to_len);
    int err = 0;
    cleanup_close int fd = probe_tcp_connect(p, &to, to_len, &err);
    if (fd < 0) {
        probe_set_detail(r, DJ_LEAK_PENDING, "connect: %s", strerror(err));
        return;
    }
    char req[1024];
    int n = snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", p->allowed);
    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL || n < 0 || (size_t)n >= sizeof(req) || !probe_send_all(fd, req, (size_t)n)) {
        probe_set_detail(r, DJ_LEAK_PENDING, "first request not sent");
        return;
    }
    size_t first = probe_read_reply(p, fd, reply);
    char host[300];
    probe_token_host(p, r, "", host, sizeof(host));
    n = snprintf(req, sizeof(req), "GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n", r->token, host);
    if (n < 0 || (size_t)n >= sizeof(req) || !probe_send_all(fd, req, (size_t)n)) {
        probe_set_detail(r, DJ_LEAK_PENDING, "first answered with %zu bytes, second not sent",
                         first);
        return;
    }
    size_t second = probe_read_reply(p, fd, reply);
    /* Only a marked answer to the second request proves it went through: the first was
     * read to its end (quiet) before the second was sent. */
    if (first > 0 && probe_has_marker(reply, second))
        probe_set_detail(r, DJ_LEAK_LEAKED, "the canary answered the second request");
    else
        probe_set_detail(r, DJ_LEAK_PENDING, "first answered with %zu bytes, second with %zu",
                         first, second);
}

/* The documented limit: TLS hides the Host inside, so an allowed SNI carries anything. The
 * bytes after the ClientHello stand for the encrypted request. */
void probe_ch_limit_sni_host(const struct probe *p, struct result *r)
{
    if (p->allowed == NULL) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no --allowed-host given");
        return;
    }
    uint8_t msg[1200];
    size_t len = build_client_hello(p->allowed, msg, sizeof(msg));
    int n = snprintf((char *)msg + len, sizeof(msg) - len,
                     "GET /%s HTTP/1.1\r\nHost: %s.%s\r\n\r\n", r->token, r->token, p->zone_text);
    if (len == 0 || n < 0 || (size_t)n >= sizeof(msg) - len) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "allowed host too long");
        return;
    }
    stream_channel(p, r, p->canary4, 443, msg, len + (size_t)n, "allowed sni, other host inside");
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
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "%s", missing);
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
    if (addr == NULL || !probe_make_addr(addr, port, &to, &to_len)) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "%s", missing);
        return;
    }
    uint8_t msg[128];
    if (prefix_len > 0)
        memcpy(msg, prefix, prefix_len);
    memcpy(msg + prefix_len, r->token, strlen(r->token));
    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "out of memory");
        return;
    }
    size_t reply_len;
    int err = 0;
    enum exchange ex = probe_udp_exchange(p, &to, to_len, msg, prefix_len + strlen(r->token), reply,
                                          &reply_len, &err);
    char what[32];
    snprintf(what, sizeof(what), "udp port %u", port);
    probe_judge(r, ex, err, reply, reply_len, what);
}

void probe_ch_tcp_22(const struct probe *p, struct result *r)
{
    tcp_to(p, r, p->canary4, 22, "");
}

void probe_ch_tcp_high(const struct probe *p, struct result *r)
{
    tcp_to(p, r, p->canary4, high_port(r), "");
}

void probe_ch_tcp6_high(const struct probe *p, struct result *r)
{
    tcp_to(p, r, p->canary6, high_port(r), "no --canary-addr6 given");
}

void probe_ch_udp_123(const struct probe *p, struct result *r)
{
    udp_to(p, r, p->canary4, 123, NULL, 0, "");
}

void probe_ch_udp_high(const struct probe *p, struct result *r)
{
    udp_to(p, r, p->canary4, high_port(r), NULL, 0, "");
}

void probe_ch_udp6_high(const struct probe *p, struct result *r)
{
    udp_to(p, r, p->canary6, high_port(r), NULL, 0, "no --canary-addr6 given");
}

/* A QUIC Initial's first bytes: long header, version 1, an 8-byte connection id. */
void probe_ch_quic(const struct probe *p, struct result *r)
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
    if (addr == NULL || !probe_make_addr(addr, 0, &to, &to_len)) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no --canary-addr6 given");
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
            probe_set_detail(r, DJ_LEAK_NOT_TESTABLE,
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
        probe_set_detail(r, DJ_LEAK_PENDING, "echo via %s: %s", how, strerror(errno));
        return;
    }
    uint8_t reply[512];
    if (!probe_wait_fd(fd, POLLIN, p->timeout_ms)) {
        probe_set_detail(r, DJ_LEAK_PENDING, "echo via %s: sent, no reply", how);
        return;
    }
    ssize_t n = recv(fd, reply, sizeof(reply), 0);
    if (n < 0)
        probe_set_detail(r, DJ_LEAK_PENDING, "echo via %s: %s", how, strerror(errno));
    else
        probe_set_detail(r, DJ_LEAK_PENDING, "echo via %s: %zd bytes back", how, n);
}

void probe_ch_icmp(const struct probe *p, struct result *r)
{
    icmp_channel(p, r, p->canary4, false);
}

void probe_ch_icmp6(const struct probe *p, struct result *r)
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
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "needs an IPv4 --canary-addr");
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
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no interface with an IPv4 address");
        return false;
    }
    struct in_addr src = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr;
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no hardware address: %s", strerror(errno));
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
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no CAP_NET_RAW: %s", strerror(errno));
        return;
    }
    int one = 1;
    if (bypass && setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "PACKET_QDISC_BYPASS: %s", strerror(errno));
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
        probe_set_detail(r, DJ_LEAK_PENDING, "frame not sent: %s", strerror(errno));
    else
        probe_set_detail(r, DJ_LEAK_PENDING, "frame sent on %s", f.ifname);
}

void probe_ch_af_packet(const struct probe *p, struct result *r)
{
    af_packet_send(p, r, false);
}

void probe_ch_af_packet_bypass(const struct probe *p, struct result *r)
{
    af_packet_send(p, r, true);
}

/* The same frame through an AF_XDP socket in copy mode (needs CAP_NET_RAW only, no XDP
 * program): its transmit path calls the driver directly, below every netfilter hook. */
void probe_ch_af_xdp(const struct probe *p, struct result *r)
{
#ifdef AF_XDP
    enum { CHUNK = 4096, CHUNKS = 4, RING = 4 };
    cleanup_close int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no AF_XDP socket (CAP_NET_RAW, kernel): %s",
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
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "AF_XDP rings: %s", strerror(errno));
        return;
    }
    size_t tx_len = off.tx.desc + RING * sizeof(struct xdp_desc);
    /* void *: the kernel places the ring's fields at aligned offsets of this page. */
    void *tx = mmap(NULL, tx_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                    XDP_PGOFF_TX_RING);
    if (tx == MAP_FAILED) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "AF_XDP ring mmap: %s", strerror(errno));
        return;
    }
    struct sockaddr_xdp sxdp = {
        .sxdp_family = AF_XDP, .sxdp_ifindex = f.ifindex, .sxdp_flags = XDP_COPY};
    if (bind(fd, (struct sockaddr *)&sxdp, sizeof(sxdp)) < 0) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "AF_XDP bind to %s: %s", f.ifname,
                         strerror(errno));
        munmap(tx, tx_len);
        return;
    }
    memcpy(umem, f.bytes, f.len);
    struct xdp_desc *desc = (void *)((char *)tx + off.tx.desc);
    uint32_t *producer = (void *)((char *)tx + off.tx.producer);
    desc[0] = (struct xdp_desc){.addr = 0, .len = (uint32_t)f.len};
    __atomic_store_n(producer, 1U, __ATOMIC_RELEASE);
    if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0)
        probe_set_detail(r, DJ_LEAK_PENDING, "AF_XDP frame not sent: %s", strerror(errno));
    else
        probe_set_detail(r, DJ_LEAK_PENDING, "AF_XDP frame sent on %s", f.ifname);
    munmap(tx, tx_len);
#else
    probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "built without AF_XDP");
#endif
}
