/* upstream.c: see upstream.h for the syntax. */
#include "config.h"
#include "dns/upstream.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#include "dns/dnsanswer.h"

#define PIN_PARAM "pin-sha256="
#define CA_PARAM "ca-file="
#define PIN_BASE64_LEN 44 /* 32 bytes: 10 groups of 3, then 2 bytes and one '=' */

static bool parse_port(const char *text, size_t len, uint16_t *port)
{
    unsigned long v = 0;

    if (len == 0 || len > 5)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(text[i] - '0');
    }
    if (v == 0 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

bool dj_upstream_parse_address(const char *text, size_t len, int family, uint16_t port,
                               struct sockaddr_storage *ss)
{
    char host[INET6_ADDRSTRLEN];
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

    if (len == 0 || len >= sizeof(host))
        return false;
    memcpy(host, text, len);
    host[len] = '\0';
    memset(ss, 0, sizeof(*ss));
    if (family != AF_INET6 && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        return true;
    }
    if (family != AF_INET && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        return true;
    }
    return false;
}

/* IPV4, IPV4:PORT, IPV6, [IPV6], [IPV6]:PORT (LEN bytes of TEXT). */
static const char *parse_host(const char *text, size_t len, uint16_t port,
                              struct sockaddr_storage *ss)
{
    const char *colon = memchr(text, ':', len);

    if (memchr(text, '%', len) != NULL)
        return "scoped IPv6 addresses (%IFACE) are not supported";
    if (len > 0 && text[0] == '[') {
        const char *close = memchr(text, ']', len);
        size_t after;

        if (close == NULL)
            return "'[' without ']'";
        after = len - (size_t)(close + 1 - text);
        if (after > 0 && (close[1] != ':' || !parse_port(close + 2, after - 1, &port)))
            return "expected [IPV6] or [IPV6]:PORT with a port in 1..65535";
        if (!dj_upstream_parse_address(text + 1, (size_t)(close - text - 1), AF_INET6, port, ss))
            return "not an IPv6 address in brackets";
        return NULL;
    }
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - text)) == NULL) {
        if (!parse_port(colon + 1, len - (size_t)(colon + 1 - text), &port))
            return "port not in 1..65535";
        if (!dj_upstream_parse_address(text, (size_t)(colon - text), AF_INET, port, ss))
            return "expected IPV4:PORT";
        return NULL;
    }
    if (dj_upstream_parse_address(text, len, AF_UNSPEC, port, ss))
        return NULL;
    return "expected an IP address: ADDR, IPV4:PORT or [IPV6]:PORT (no host names)";
}

static int base64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Exactly the canonical padded base64 of 32 bytes (RFC 4648 4), into OUT. */
static bool parse_pin(const char *text, size_t len, uint8_t out[DJ_UPSTREAM_PIN_SIZE])
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;

    if (len != PIN_BASE64_LEN || text[len - 1] != '=')
        return false;
    for (size_t i = 0; i < len - 1; i++) {
        int v = base64_value(text[i]);

        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n == DJ_UPSTREAM_PIN_SIZE)
                return false;
            out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    /* 43 characters carry 258 bits: the 2 beyond the 32 bytes must be zero (canonical). */
    return n == DJ_UPSTREAM_PIN_SIZE && acc == 0;
}

static const char *parse_auth_name(const char *text, size_t len, struct dj_upstream *out)
{
    char name[DJ_UPSTREAM_MAX_AUTH_NAME + 1];
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len;

    if (len == 0)
        return "empty #AUTH-NAME";
    if (len >= sizeof(name))
        return "#AUTH-NAME too long";
    memcpy(name, text, len);
    name[len] = '\0';
    if (dj_dns_name_from_text(name, wire, &wire_len) != NULL)
        return "#AUTH-NAME is not a host name";
    if (name[len - 1] == '.')
        len--;
    if (len >= sizeof(out->auth_name))
        return "#AUTH-NAME too long";
    for (size_t i = 0; i < len; i++)
        out->auth_name[i] =
            name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
    out->auth_name[len] = '\0';
    return NULL;
}

static const char *parse_param(const char *text, size_t len, struct dj_upstream *out)
{
    if (len >= strlen(PIN_PARAM) && memcmp(text, PIN_PARAM, strlen(PIN_PARAM)) == 0) {
        if (out->n_pins == DJ_UPSTREAM_MAX_PINS)
            return "too many pin-sha256 parameters (at most 4)";
        if (!parse_pin(text + strlen(PIN_PARAM), len - strlen(PIN_PARAM), out->pins[out->n_pins]))
            return "pin-sha256 is not the base64 (44 characters, with '=') of 32 bytes";
        out->n_pins++;
        return NULL;
    }
    if (len >= strlen(CA_PARAM) && memcmp(text, CA_PARAM, strlen(CA_PARAM)) == 0) {
        size_t path_len = len - strlen(CA_PARAM);

        if (out->ca_file[0] != '\0')
            return "ca-file given twice";
        if (path_len == 0 || text[strlen(CA_PARAM)] != '/')
            return "ca-file must be an absolute path";
        if (path_len >= sizeof(out->ca_file))
            return "ca-file path too long";
        memcpy(out->ca_file, text + strlen(CA_PARAM), path_len);
        out->ca_file[path_len] = '\0';
        return NULL;
    }
    return "unknown parameter (expected pin-sha256=BASE64 or ca-file=PATH)";
}

const char *dj_upstream_parse(const char *text, struct dj_upstream *out)
{
    static const struct {
        const char *prefix;
        enum dj_upstream_transport transport;
    } schemes[] = {
        {"udp://", DJ_UPSTREAM_UDP},
        {"tcp://", DJ_UPSTREAM_TCP},
        {"tls://", DJ_UPSTREAM_TLS},
    };
    size_t len = strnlen(text, DJ_UPSTREAM_MAX_TEXT + 1);
    const char *p = text, *end, *problem;
    uint16_t port = DJ_UPSTREAM_DNS_PORT;
    size_t host_len;

    memset(out, 0, sizeof(*out));
    if (len > DJ_UPSTREAM_MAX_TEXT)
        return "too long";
    if (len == 0)
        return "empty";
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)text[i] <= 0x20 || (unsigned char)text[i] >= 0x7F)
            return "blank, control or non-ASCII character";
    }
    end = text + len;
    if (strstr(text, "://") != NULL) {
        size_t i;

        for (i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
            if (strncmp(text, schemes[i].prefix, strlen(schemes[i].prefix)) == 0)
                break;
        }
        if (i == sizeof(schemes) / sizeof(schemes[0]))
            return "unknown scheme (expected udp://, tcp:// or tls://)";
        out->transport = schemes[i].transport;
        p += strlen(schemes[i].prefix);
        if (out->transport == DJ_UPSTREAM_TLS)
            port = DJ_UPSTREAM_DOT_PORT;
    }
    host_len = strcspn(p, "#;");
    if (out->transport != DJ_UPSTREAM_TLS && p[host_len] != '\0')
        return "#AUTH-NAME and ;parameters belong to tls:// servers only";
    problem = parse_host(p, host_len, port, &out->addr);
    if (problem != NULL)
        return problem;
    p += host_len;
    if (*p == '#') {
        size_t name_len = strcspn(p + 1, "#;");

        problem = parse_auth_name(p + 1, name_len, out);
        if (problem != NULL)
            return problem;
        p += 1 + name_len;
    }
    while (p < end) {
        size_t param_len;

        if (*p != ';')
            return "'#' twice, or after a parameter";
        param_len = strcspn(p + 1, "#;");
        if (param_len == 0)
            return "empty parameter";
        problem = parse_param(p + 1, param_len, out);
        if (problem != NULL)
            return problem;
        p += 1 + param_len;
    }
    if (out->transport == DJ_UPSTREAM_TLS && out->auth_name[0] == '\0' && out->n_pins == 0)
        return "tls:// needs #AUTH-NAME, pin-sha256= or both: nothing would authenticate the "
               "server";
    return NULL;
}

const char *dj_upstream_transport_text(enum dj_upstream_transport transport)
{
    switch (transport) {
    case DJ_UPSTREAM_UDP:
        return "udp";
    case DJ_UPSTREAM_TCP:
        return "tcp";
    case DJ_UPSTREAM_TLS:
        return "tls";
    }
    return "?";
}
