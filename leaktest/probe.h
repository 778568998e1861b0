/* probe.h: what the files of `dnsjail-leaktest probe` share: probe.c (the options, the run,
 * the report, the socket exchanges every channel uses), probe-net.c (the channels that go
 * out over the network: DNS, TLS, HTTP, plain TCP and UDP, ICMP, raw frames) and
 * probe-host.c (the channels through what the host left reachable: servers held from
 * outside, engine and resolver sockets mounted in). */
#ifndef DNSJAIL_LEAKTEST_PROBE_H
#define DNSJAIL_LEAKTEST_PROBE_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/dnswire.h"
#include "report/leak.h"

#define REPLY_SIZE 4096
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

void probe_set_detail(struct result *r, enum dj_leak_verdict verdict, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

enum exchange {
    EX_REPLY,     /* bytes came back */
    EX_SILENT,    /* sent, nothing came back in time (or the peer closed without a byte) */
    EX_FAILED,    /* could not send: refused, unreachable, reset (errno in *err) */
    EX_NO_SOCKET, /* the socket itself could not be made (errno in *err) */
};

/* One DNS question for probe_dns_channel(). */
struct dns_attempt {
    const char *server; /* literal address, NULL: the resolv.conf server */
    uint16_t port;      /* 0: 53 */
    bool tcp;
    uint16_t qtype;
    bool edns;
    enum { NAME_PLAIN, NAME_LONG, NAME_BASE32, NAME_BINARY } shape;
};

/* probe.c: helpers for every channel */
bool probe_fill_random(void *buf, size_t len);

bool probe_make_addr(const char *text, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

bool probe_has_marker(const uint8_t *buf, size_t len);

bool probe_wait_fd(int fd, short events, int timeout_ms);

/* Connected UDP: one datagram out, at most one back. */
enum exchange probe_udp_exchange(const struct probe *p, const struct sockaddr_storage *to,
                                 socklen_t to_len, const void *msg, size_t len, uint8_t *reply,
                                 size_t *reply_len, int *err);

int probe_tcp_connect(const struct probe *p, const struct sockaddr_storage *to, socklen_t to_len,
                      int *err);

bool probe_send_all(int fd, const void *buf, size_t len);

/* Reads what arrives within the timeout (stops at REPLY_SIZE, EOF or a quiet timeout). */
size_t probe_read_reply(const struct probe *p, int fd, uint8_t *reply);

/* One TCP connection: MSG out, whatever comes back in. */
enum exchange probe_tcp_exchange(const struct probe *p, const struct sockaddr_storage *to,
                                 socklen_t to_len, const void *msg, size_t len, uint8_t *reply,
                                 size_t *reply_len, int *err);

/* The common verdict of one exchange. */
void probe_judge(struct result *r, enum exchange ex, int err, const uint8_t *reply,
                 size_t reply_len, const char *what);

/* probe-net.c */
void probe_token_host(const struct probe *p, const struct result *r, const char *prefix, char *out,
                      size_t out_size);
void probe_dns_channel(const struct probe *p, struct result *r, const struct dns_attempt *at);

/* The channels, in probe-net.c and probe-host.c; the table in probe.c runs them in order. */
void probe_ch_af_packet(const struct probe *p, struct result *r);
void probe_ch_af_packet_bypass(const struct probe *p, struct result *r);
void probe_ch_af_xdp(const struct probe *p, struct result *r);
void probe_ch_dns_a(const struct probe *p, struct result *r);
void probe_ch_dns_aaaa(const struct probe *p, struct result *r);
void probe_ch_dns_any(const struct probe *p, struct result *r);
void probe_ch_dns_base32(const struct probe *p, struct result *r);
void probe_ch_dns_binary(const struct probe *p, struct result *r);
void probe_ch_dns_canary6(const struct probe *p, struct result *r);
void probe_ch_dns_canary_tcp(const struct probe *p, struct result *r);
void probe_ch_dns_canary_udp(const struct probe *p, struct result *r);
void probe_ch_dns_cname(const struct probe *p, struct result *r);
void probe_ch_dns_edns0(const struct probe *p, struct result *r);
void probe_ch_dns_long(const struct probe *p, struct result *r);
void probe_ch_dns_mx(const struct probe *p, struct result *r);
void probe_ch_dns_null(const struct probe *p, struct result *r);
void probe_ch_dns_other(const struct probe *p, struct result *r);
void probe_ch_dns_srv(const struct probe *p, struct result *r);
void probe_ch_dns_tcp(const struct probe *p, struct result *r);
void probe_ch_dns_txt(const struct probe *p, struct result *r);
void probe_ch_doh_post(const struct probe *p, struct result *r);
void probe_ch_doh_post_443(const struct probe *p, struct result *r);
void probe_ch_dot(const struct probe *p, struct result *r);
void probe_ch_engine_socket(const struct probe *p, struct result *r);
void probe_ch_foreign_server(const struct probe *p, struct result *r);
void probe_ch_http_host(const struct probe *p, struct result *r);
void probe_ch_http_keepalive(const struct probe *p, struct result *r);
void probe_ch_icmp(const struct probe *p, struct result *r);
void probe_ch_icmp6(const struct probe *p, struct result *r);
void probe_ch_limit_sni_host(const struct probe *p, struct result *r);
void probe_ch_quic(const struct probe *p, struct result *r);
void probe_ch_tcp6_high(const struct probe *p, struct result *r);
void probe_ch_tcp_22(const struct probe *p, struct result *r);
void probe_ch_tcp_high(const struct probe *p, struct result *r);
void probe_ch_tls_sni(const struct probe *p, struct result *r);
void probe_ch_udp6_high(const struct probe *p, struct result *r);
void probe_ch_udp_123(const struct probe *p, struct result *r);
void probe_ch_udp_high(const struct probe *p, struct result *r);

#endif
