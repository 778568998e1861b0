#include "config.h"

/* upstream.c: from an allowed name to a connected upstream socket. The name is resolved in the
 * host's namespace by lib/dns/resolver (asynchronously, cached); every address is checked against
 * the host-internal ranges (an allowed public name must not lead to the host's own services or
 * networks) unless --upstream-allow covers it; refused addresses are never connected to. The
 * rest are tried in the resolver's order, the next one when one fails or takes too long. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

#define NS_PER_MS 1000000ull

/* ---- addresses ------------------------------------------------------------------------- */

struct range {
    uint8_t addr[16];
    uint8_t prefix;
};

/* IPv4: this network, RFC 1918, CGNAT, loopback, link-local, multicast, reserved and the
 * limited broadcast. */
static const struct range internal_v4[] = {
    {{0, 0, 0, 0}, 8},      {{10, 0, 0, 0}, 8},     {{100, 64, 0, 0}, 10},
    {{127, 0, 0, 0}, 8},    {{169, 254, 0, 0}, 16}, {{172, 16, 0, 0}, 12},
    {{192, 168, 0, 0}, 16}, {{224, 0, 0, 0}, 4},    {{240, 0, 0, 0}, 4},
};

/* IPv6: unspecified, loopback, unique local, link-local, site-local, multicast. */
static const struct range internal_v6[] = {
    {{0}, 128},         {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128},
    {{0xfc}, 7},        {{0xfe, 0x80}, 10},
    {{0xfe, 0xc0}, 10}, {{0xff}, 8},
};

static bool prefix_match(const uint8_t *network, const uint8_t *addr, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;

    if (memcmp(network, addr, full) != 0)
        return false;
    return rest == 0 || ((network[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

static bool v4_internal(const uint8_t *a)
{
    for (size_t i = 0; i < sizeof(internal_v4) / sizeof(internal_v4[0]); i++)
        if (prefix_match(internal_v4[i].addr, a, internal_v4[i].prefix))
            return true;
    return false;
}

/* The IPv4 address inside an IPv6 one that carries one to an IPv4 destination: mapped
 * (::ffff:a.b.c.d), compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) or 6to4 (2002:AABB:CCDD::). */
static const uint8_t *embedded_v4(const uint8_t *a)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t compatible[12] = {0};
    static const uint8_t nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};

    if (memcmp(a, mapped, 12) == 0 || memcmp(a, compatible, 12) == 0 || memcmp(a, nat64, 12) == 0)
        return a + 12;
    if (a[0] == 0x20 && a[1] == 0x02)
        return a + 2;
    return NULL;
}

bool upstream_addr_internal(int family, const uint8_t *addr)
{
    const uint8_t *v4;

    if (family == AF_INET)
        return v4_internal(addr);
    for (size_t i = 0; i < sizeof(internal_v6) / sizeof(internal_v6[0]); i++)
        if (prefix_match(internal_v6[i].addr, addr, internal_v6[i].prefix))
            return true;
    v4 = embedded_v4(addr);
    return v4 != NULL && v4_internal(v4);
}

bool cidr_match(const struct proxy_cidr *cidr, int family, const uint8_t *addr)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (cidr->family == family)
        return prefix_match(cidr->addr, addr, cidr->prefix);
    if (cidr->family == AF_INET && family == AF_INET6 && memcmp(addr, mapped, 12) == 0)
        return prefix_match(cidr->addr, addr + 12, cidr->prefix);
    return false;
}

int cidr_parse(const char *text, struct proxy_cidr *out, dj_error_t *err)
{
    char addr[INET6_ADDRSTRLEN + 2];
    const char *slash = strchr(text, '/');
    size_t len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    unsigned long prefix;
    unsigned max;
    char *end;

    memset(out, 0, sizeof(*out));
    if (len >= 2 && text[0] == '[' && text[len - 1] == ']') {
        text++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(addr))
        return dj_error_make(err, 0, "'%s' is not an address or CIDR range", text);
    memcpy(addr, text, len);
    addr[len] = '\0';
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return dj_error_make(err, 0, "'%s' is not an IPv4 or IPv6 address", addr);
    }
    prefix = max;
    if (slash != NULL) {
        errno = 0;
        prefix = strtoul(slash + 1, &end, 10);
        if (slash[1] < '0' || slash[1] > '9' || *end != '\0' || errno != 0 || prefix > max)
            return dj_error_make(err, 0, "'%s' is not a prefix length (0-%u)", slash + 1, max);
    }
    out->prefix = (uint8_t)prefix;
    for (unsigned bit = (unsigned)prefix; bit < max; bit++)
        out->addr[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
    return 0;
}

void format_sockaddr(const struct sockaddr_storage *addr, char *out, size_t size)
{
    char text[INET6_ADDRSTRLEN] = "?";

    if (addr->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;

        inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
        snprintf(out, size, "%s:%u", text, ntohs(sin->sin_port));
    } else if (addr->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;

        inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
        snprintf(out, size, "[%s]:%u", text, ntohs(sin6->sin6_port));
    } else {
        snprintf(out, size, "unknown");
    }
}

bool normalize_host(const char *name, size_t len, char *out, size_t size)
{
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > DJ_TLSHELLO_MAX_NAME || len >= size)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = name[i];

        out[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
    }
    out[len] = '\0';
    return true;
}

bool host_is_ip_literal(const char *name)
{
    uint8_t buf[16];
    char trimmed[DJ_TLSHELLO_NAME_SIZE];
    size_t len = strlen(name);

    /* "192.0.2.7." is still an address to anyone who would resolve it. */
    if (len > 0 && name[len - 1] == '.' && len < sizeof(trimmed)) {
        memcpy(trimmed, name, len - 1);
        trimmed[len - 1] = '\0';
        name = trimmed;
    }
    return inet_pton(AF_INET, name, buf) == 1 || inet_pton(AF_INET6, name, buf) == 1;
}

/* ---- resolving and connecting ----------------------------------------------------------- */

static int proto_ready(struct proxy *p, struct conn *c)
{
    return c->kind == CONN_HTTP  ? http_upstream_ready(p, c)
           : c->kind == CONN_TLS ? tls_upstream_ready(p, c)
                                 : virtual_upstream_ready(p, c);
}

static int proto_failed(struct proxy *p, struct conn *c, enum upstream_failure why,
                        const char *detail)
{
    return c->kind == CONN_HTTP  ? http_upstream_failed(p, c, why, detail)
           : c->kind == CONN_TLS ? tls_upstream_failed(p, c, why, detail)
                                 : virtual_upstream_failed(p, c, why, detail);
}

static bool allowed_by_admin(const struct proxy_config *cfg, int family, const uint8_t *addr)
{
    for (size_t i = 0; i < cfg->n_upstream_allow; i++)
        if (cidr_match(&cfg->upstream_allow[i], family, addr))
            return true;
    return false;
}

static void to_sockaddr(const struct dj_resolved_addr *a, uint16_t port,
                        struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        memcpy(&sin->sin_addr, a->addr, 4);
        *len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        memcpy(&sin6->sin6_addr, a->addr, 16);
        *len = sizeof(*sin6);
    }
}

static int connected(struct proxy *p, struct conn *c, uint32_t events)
{
    int one = 1;

    c->connecting = false;
    c->upstream.writable = true;
    /* Edge-triggered: what came with the connect's own edge is not reported again. */
    c->upstream.readable = (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) != 0;
    c->upstream.rdhup = (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
    setsockopt(c->upstream.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return proto_ready(p, c);
}

/* Starts a connection to the next address. Returns -1 when the connection is gone. */
static int connect_next(struct proxy *p, struct conn *c)
{
    while (c->next_addr < c->n_addrs) {
        const struct dj_resolved_addr *a = &c->addrs[c->next_addr++];
        struct sockaddr_storage ss;
        socklen_t len = 0;
        struct epoll_event ev;
        int fd, r;

        to_sockaddr(a, c->upstream_port, &ss, &len);
        fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            c->last_connect_errno = errno;
            continue;
        }
        do
            r = connect(fd, (const struct sockaddr *)&ss, len);
        while (r < 0 && errno == EINTR);
        if (r < 0 && errno != EINPROGRESS) {
            c->last_connect_errno = errno;
            close(fd);
            continue;
        }
        c->up_generation = ++p->slot_generation[c->index] & 0xFFFFFF;
        ev.events = PROXY_SOCKET_EVENTS; /* EPOLLOUT's edge says the connect is done */
        ev.data.u64 = proxy_tag(TAG_UPSTREAM, c->index, c->up_generation);
        if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            c->last_connect_errno = errno;
            close(fd);
            continue;
        }
        c->upstream.fd = fd;
        c->upstream.readable = c->upstream.writable = c->upstream.rdhup = false;
        c->connecting = true;
        c->connect_deadline_ns = p->now_ns + (uint64_t)PROXY_CONNECT_MS * NS_PER_MS;
        format_sockaddr(&ss, c->upstream_text, sizeof(c->upstream_text));
        snprintf(c->rec.upstream, sizeof(c->rec.upstream), "%s", c->upstream_text);
        if (r == 0)
            return connected(p, c, EPOLLIN);
        return 0;
    }
    c->rec.upstream[0] = '\0';
    return proto_failed(p, c, UPSTREAM_CONNECT,
                        c->last_connect_errno != 0 ? strerror(c->last_connect_errno)
                                                   : "no address to connect to");
}

static const char *status_text(enum dj_resolve_status status)
{
    switch (status) {
    case DJ_RESOLVE_OK:
        return "ok";
    case DJ_RESOLVE_NXDOMAIN:
        return "no such name";
    case DJ_RESOLVE_NODATA:
        return "no address for the name";
    case DJ_RESOLVE_SERVFAIL:
        return "the DNS servers failed";
    case DJ_RESOLVE_TIMEOUT:
        return "no DNS server answered";
    case DJ_RESOLVE_BAD_NAME:
        return "not a name that can be resolved";
    case DJ_RESOLVE_CANCELLED:
        break;
    }
    return "cancelled";
}

/* Keeps the addresses of RESULT that may be connected to and starts on the first. Returns -1
 * when the connection is gone. */
static int take_addresses(struct proxy *p, struct conn *c, const struct dj_resolve_result *result)
{
    char refused[INET6_ADDRSTRLEN] = "";
    int r;

    c->n_addrs = c->next_addr = 0;
    c->last_connect_errno = 0;
    if (result->status != DJ_RESOLVE_OK) {
        r = proto_failed(p, c,
                         result->status == DJ_RESOLVE_TIMEOUT ? UPSTREAM_TIMEOUT : UPSTREAM_RESOLVE,
                         status_text(result->status));
    } else {
        for (size_t i = 0; i < result->n_addrs && i < DJ_RESOLVER_MAX_ADDRS; i++) {
            const struct dj_resolved_addr *a = &result->addrs[i];

            if (a->family != AF_INET && a->family != AF_INET6)
                continue;
            if (upstream_addr_internal(a->family, a->addr) &&
                !allowed_by_admin(p->cfg, a->family, a->addr)) {
                if (refused[0] == '\0')
                    inet_ntop(a->family, a->addr, refused, sizeof(refused));
                continue; /* never connected to, not even tried */
            }
            c->addrs[c->n_addrs++] = *a;
        }
        if (c->n_addrs == 0 && refused[0] != '\0')
            r = proto_failed(p, c, UPSTREAM_INTERNAL, refused);
        else
            r = connect_next(p, c);
    }
    return r;
}

static void on_resolved(void *ctx, const struct dj_resolve_result *result)
{
    struct conn *c = ctx;
    struct proxy *p = c->proxy;

    c->lookup = NULL;
    if (take_addresses(p, c, result) >= 0)
        conn_pump(p, c);
}

int upstream_begin_addr(struct proxy *p, struct conn *c, int family, const uint8_t *addr,
                        uint16_t port)
{
    struct dj_resolve_result result;

    memset(&result, 0, sizeof(result));
    result.status = DJ_RESOLVE_OK;
    result.n_addrs = 1;
    result.addrs[0].family = family;
    memcpy(result.addrs[0].addr, addr, family == AF_INET ? 4 : 16);
    inet_ntop(family, addr, c->upstream_host, sizeof(c->upstream_host));
    c->upstream_port = port;
    c->upstream_reusable = false;
    return take_addresses(p, c, &result);
}

int upstream_begin(struct proxy *p, struct conn *c, const char *host, uint16_t port)
{
    dj_error_t err = NULL;
    char detail[128];

    snprintf(c->upstream_host, sizeof(c->upstream_host), "%s", host);
    c->upstream_port = port;
    c->upstream_reusable = false;
    c->lookup =
        dj_resolver_lookup(proxy_resolver_for(p, host), host, AF_UNSPEC, on_resolved, c, &err);
    if (c->lookup != NULL)
        return 0;
    snprintf(detail, sizeof(detail), "%s", dj_error_msg(&err));
    dj_error_release(&err);
    return proto_failed(p, c, UPSTREAM_RESOLVE, detail);
}

static void connect_failed(struct proxy *p, struct conn *c, int error)
{
    c->last_connect_errno = error;
    close(c->upstream.fd);
    c->upstream.fd = -1;
    c->connecting = false;
    if (connect_next(p, c) >= 0)
        conn_pump(p, c);
}

void upstream_connect_event(struct proxy *p, struct conn *c, uint32_t events)
{
    int error = 0;
    socklen_t len = sizeof(error);

    /* A TCP connect that failed reports EPOLLERR; EPOLLOUT alone means it is up. */
    if (events & (EPOLLERR | EPOLLHUP)) {
        if (getsockopt(c->upstream.fd, SOL_SOCKET, SO_ERROR, &error, &len) < 0)
            error = errno;
        if (error == 0)
            error = ECONNREFUSED;
    } else if (!(events & EPOLLOUT)) {
        return;
    }
    if (error != 0) {
        connect_failed(p, c, error);
        return;
    }
    if (connected(p, c, events) >= 0)
        conn_pump(p, c);
}

void upstream_connect_timeout(struct proxy *p, struct conn *c)
{
    connect_failed(p, c, ETIMEDOUT);
}

void upstream_cancel(struct conn *c)
{
    if (c->lookup != NULL) {
        dj_resolver_cancel(c->lookup);
        c->lookup = NULL;
    }
}

void upstream_close(struct proxy *p, struct conn *c)
{
    if (c->upstream.fd < 0)
        return;
    close(c->upstream.fd);
    c->upstream.fd = -1;
    c->upstream.readable = c->upstream.writable = c->upstream.rdhup = false;
    c->connecting = false;
    c->upstream_reusable = false;
    c->upstream_host[0] = '\0';
    c->upstream_text[0] = '\0';
    /* What was on its way to it is dropped; what came from it for the client stays queued,
     * but nothing it sent beyond the response it owed. */
    flow_drop_pending(p, &c->up);
    c->up.dst_shut = false;
    c->up.eof_forward = false;
    c->down.len = c->down.out_end;
    c->down.src_eof = false;
    c->down.pipe_maybe_full = false;
}
