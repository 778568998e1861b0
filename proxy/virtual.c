#include "config.h"

/* virtual.c: connections to virtual addresses (lib/jail/vaddr.h). The ruleset sends TCP to the
 * virtual pools to the virtual listener, whatever the port (80 and 443 excepted: those reach
 * the HTTP and TLS listeners first, which check Host/SNI and that it is the address's name).
 * Here the original destination gives the slot, the stub's map the name, and the rules say
 * whether that name may be reached on that port. Allowed: resolve the real name, connect to
 * the same port, move bytes both ways without looking at them. Anything else is reset at
 * once, with a log line that names the address, the name and the port. */

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy.h"

#define NS_PER_MS 1000000ull

void virtual_note_destination(struct proxy *p, struct conn *c, const struct sockaddr_storage *orig)
{
    const struct proxy_config *cfg = p->cfg;
    const uint8_t *addr;
    bool is_slot = false;
    uint32_t slot = 0;

    c->virtual_dest = false;
    c->virtual_name[0] = '\0';
    c->orig_family = 0;
    if (orig->ss_family == AF_INET)
        addr = (const uint8_t *)&((const struct sockaddr_in *)orig)->sin_addr;
    else if (orig->ss_family == AF_INET6)
        addr = ((const struct sockaddr_in6 *)orig)->sin6_addr.s6_addr;
    else
        return;
    c->orig_family = orig->ss_family;
    memcpy(c->orig_addr, addr, orig->ss_family == AF_INET ? 4 : 16);
    if (cfg->vmap == NULL)
        return;
    if (!dj_vaddr_addr_slot(&cfg->vpool, orig->ss_family, addr, &slot, &is_slot))
        return;
    c->virtual_dest = true;
    inet_ntop(orig->ss_family, addr, c->virtual_addr, sizeof(c->virtual_addr));
    /* Read once, at accept: a later recycling of the slot does not change this connection. */
    if (!is_slot || dj_vaddr_map_read(cfg->vmap, cfg->vpool.n_slots, slot, c->virtual_name) != 1)
        c->virtual_name[0] = '\0';
}

bool virtual_host_matches(const struct conn *c, const char *host, char *reason, size_t size)
{
    if (!c->virtual_dest)
        return true;
    if (c->virtual_name[0] == '\0') {
        snprintf(reason, size, "virtual address %s belongs to no name", c->virtual_addr);
        return false;
    }
    if (strcmp(host, c->virtual_name) != 0) {
        snprintf(reason, size, "virtual address %s belongs to %.64s, not to %.64s", c->virtual_addr,
                 c->virtual_name, host);
        return false;
    }
    return true;
}

/* A refusal a TCP client sees as one at once (ECONNRESET), not as an answer from the name. */
static int reset_close(struct proxy *p, struct conn *c)
{
    struct linger reset = {1, 0};

    setsockopt(c->client.fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
    conn_close(p, c);
    return -1;
}

/* Audit mode: a TCP connection to an address that is not virtual (the ruleset sends every
 * other TCP connection here) goes to its original destination, from the host's namespace,
 * logged as tcp_connection with whether an address rule would have let it through. The
 * upstream checks (no host-internal address unless --upstream-allow) still apply. */
static void audit_tcp_start(struct proxy *p, struct conn *c)
{
    const struct proxy_config *cfg = p->cfg;

    c->audit_tcp = true;
    if (c->orig_family == 0 || c->dest_port == 0) {
        conn_set_reason(c, "deny", "no original destination");
        reset_close(p, c);
        return;
    }
    inet_ntop(c->orig_family, c->orig_addr, c->virtual_addr, sizeof(c->virtual_addr));
    c->rec.would_block =
        !dj_allow_match_addr(cfg->rules, cfg->n_rules, c->orig_family, c->orig_addr, c->dest_port);
    conn_set_reason(c, "allow", c->rec.would_block ? "not in the allow list" : "allowed");
    c->deadline_ns = p->now_ns + (uint64_t)PROXY_UPSTREAM_MS * NS_PER_MS;
    upstream_begin_addr(p, c, c->orig_family, c->orig_addr, c->dest_port);
}

void virtual_start(struct proxy *p, struct conn *c)
{
    const struct proxy_config *cfg = p->cfg;

    flow_init(&c->up, PROXY_BUFFER_MIN * 4);
    flow_init(&c->down, PROXY_BUFFER_MIN * 4);
    c->virtual_relaying = false;
    c->audit_tcp = false;
    conn_record_begin(p, c);
    if (!c->virtual_dest && cfg->audit) {
        audit_tcp_start(p, c);
        return;
    }
    if (!c->virtual_dest) {
        conn_set_reason(c, "deny", "not a connection to a virtual address");
        reset_close(p, c);
        return;
    }
    if (c->virtual_name[0] == '\0') {
        conn_set_reason(c, "deny", "virtual address %s belongs to no name", c->virtual_addr);
        reset_close(p, c);
        return;
    }
    snprintf(c->rec.host, sizeof(c->rec.host), "%s", c->virtual_name);
    if (c->dest_port == 0 ||
        !dj_allow_match_host(cfg->rules, cfg->n_rules, c->virtual_name, c->dest_port)) {
        conn_set_reason(c, "deny", "port %u of %s is not in the allow list", c->dest_port,
                        c->rec.host);
        reset_close(p, c);
        return;
    }
    if (!normalize_host(c->virtual_name, strlen(c->virtual_name), c->req_host,
                        sizeof(c->req_host))) {
        conn_set_reason(c, "deny", "unusable name");
        reset_close(p, c);
        return;
    }
    conn_set_reason(c, "allow", "allowed");
    c->deadline_ns = p->now_ns + (uint64_t)PROXY_UPSTREAM_MS * NS_PER_MS;
    upstream_begin(p, c, c->req_host, c->dest_port);
}

int virtual_step(struct proxy *p, struct conn *c)
{
    if (c->virtual_relaying && c->up.dst_shut && c->down.dst_shut) {
        conn_close(p, c);
        return -1;
    }
    return 0;
}

int virtual_upstream_ready(struct proxy *p, struct conn *c)
{
    (void)p;
    c->deadline_ns = 0;
    c->virtual_relaying = true;
    /* What the client sent while we connected goes first, then both ways until both close. */
    conn_relay_raw(c);
    return 1;
}

int virtual_upstream_failed(struct proxy *p, struct conn *c, enum upstream_failure why,
                            const char *detail)
{
    switch (why) {
    case UPSTREAM_INTERNAL:
        if (c->audit_tcp)
            conn_set_reason(c, "deny", "%s is a host-internal address (upstream-allow)", detail);
        else
            conn_set_reason(c, "deny", "%s resolves to internal address %s", c->upstream_host,
                            detail);
        break;
    case UPSTREAM_RESOLVE:
        conn_set_reason(c, "error", "could not resolve %s: %s", c->upstream_host, detail);
        break;
    case UPSTREAM_CONNECT:
        conn_set_reason(c, "error", "could not connect to %s: %s", c->upstream_host, detail);
        break;
    case UPSTREAM_TIMEOUT:
        conn_set_reason(c, "error", "timed out reaching %s: %s", c->upstream_host, detail);
        break;
    }
    return reset_close(p, c);
}

int virtual_timeout(struct proxy *p, struct conn *c)
{
    if (!c->virtual_relaying) {
        upstream_cancel(c);
        return virtual_upstream_failed(p, c, UPSTREAM_TIMEOUT, "resolving and connecting");
    }
    c->deadline_ns = 0;
    return 0;
}
