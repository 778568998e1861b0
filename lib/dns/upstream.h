/* upstream.h: the text form of one upstream DNS server, as the admin config and the
 * daemons' --resolver options give it.
 *
 *   ADDR | ADDR:PORT | [IPV6] | [IPV6]:PORT      plain DNS: UDP, TCP when an answer is truncated
 *   udp://HOST                                    the same, written out
 *   tcp://HOST                                    plain DNS over TCP only
 *   tls://HOST[#AUTH-NAME][;PARAM]...             DNS over TLS (RFC 7858)
 *
 * HOST is IPV4, IPV4:PORT, IPV6 (without a port), [IPV6] or [IPV6]:PORT; the default port is
 * 53, and 853 for tls://. Only addresses: the resolver must not need a resolver to find its
 * servers. PARAMs of tls:// (any order, each at most once except pins):
 *   pin-sha256=BASE64   RFC 7469 pin: base64 (with padding) of the SHA-256 of the server's
 *                       DER SubjectPublicKeyInfo; up to DJ_UPSTREAM_MAX_PINS (for rotation)
 *   ca-file=PATH        absolute path of PEM CA certificates to verify the chain with, instead
 *                       of the system's store (read once at start-up)
 * A tls:// server needs an AUTH-NAME, a pin or both; AUTH-NAME is a host name (lower-cased),
 * sent as SNI and checked against the certificate. Trust: see lib/dns/dot.h. Example:
 *   tls://192.0.2.53:853#dns.example;pin-sha256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=
 *
 * Owns: parsing that text. Pure code (untrusted-ish input: the admin's file, an option): no
 * I/O, no allocation; fuzzed by tests/fuzz/fuzz-upstream.c. */
#ifndef DNSJAIL_UPSTREAM_H
#define DNSJAIL_UPSTREAM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DJ_UPSTREAM_MAX_SERVERS 8 /* in one list (the resolver's, upstream-resolvers) */
#define DJ_UPSTREAM_MAX_PINS 4
#define DJ_UPSTREAM_PIN_SIZE 32       /* SHA-256 */
#define DJ_UPSTREAM_MAX_AUTH_NAME 254 /* 253 characters and NUL */
#define DJ_UPSTREAM_MAX_PATH 256
#define DJ_UPSTREAM_MAX_TEXT 1024 /* longest text accepted */
#define DJ_UPSTREAM_DNS_PORT 53
#define DJ_UPSTREAM_DOT_PORT 853

enum dj_upstream_transport {
    DJ_UPSTREAM_UDP = 0, /* with TCP for truncated answers; the zero value */
    DJ_UPSTREAM_TCP,
    DJ_UPSTREAM_TLS,
};

struct dj_upstream {
    struct sockaddr_storage addr; /* AF_INET or AF_INET6, port set */
    enum dj_upstream_transport transport;
    char auth_name[DJ_UPSTREAM_MAX_AUTH_NAME]; /* tls: "" = none (pins only) */
    size_t n_pins;
    uint8_t pins[DJ_UPSTREAM_MAX_PINS][DJ_UPSTREAM_PIN_SIZE];
    char ca_file[DJ_UPSTREAM_MAX_PATH]; /* tls: "" = the system's store */
};

/* Reads TEXT into *OUT (fully overwritten). Returns NULL, or what is wrong (static text). */
const char *dj_upstream_parse(const char *text, struct dj_upstream *out);

/* Reads the literal address TEXT[0..LEN) (no brackets, no port) of FAMILY (AF_INET, AF_INET6,
 * or AF_UNSPEC for either) into *SS with PORT; false if it is not one. Shared with the
 * resolv.conf reader (lib/dns/resolver-config.c). */
bool dj_upstream_parse_address(const char *text, size_t len, int family, uint16_t port,
                               struct sockaddr_storage *ss);

/* "udp", "tcp", "tls" */
const char *dj_upstream_transport_text(enum dj_upstream_transport transport);

#endif
