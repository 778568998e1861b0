#include "config.h"

/* tls.c: the TLS listener's connections. The ClientHello is read (however it is split over
 * TCP segments and TLS records) until lib/http/tlshello has an answer; its server name decides.
 * Refused: a fatal access_denied alert and close. Allowed: resolve, check, connect, replay the
 * bytes already read, then splice both ways until both sides have closed. Nothing is
 * decrypted; what SNI cannot show (ECH, the Host inside TLS) is in docs/DESIGN.md. */

#include <stdio.h>
#include <string.h>

#include "proxy.h"

void tls_start(struct proxy *p, struct conn *c)
{
    flow_init(&c->up, PROXY_TLS_BUFFER_MAX);
    flow_init(&c->down, PROXY_BUFFER_MIN * 4);
    c->tls = TLS_HELLO;
}

/* alert(21), the client's record version, length 2, fatal(2), access_denied(49). */
static int send_alert(struct proxy *p, struct conn *c)
{
    uint8_t alert[7] = {0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x31};

    if (c->up.len >= 3 && c->up.buf[0] == 0x16 && c->up.buf[1] == 0x03 && c->up.buf[2] <= 0x04) {
        alert[1] = c->up.buf[1];
        alert[2] = c->up.buf[2];
    }
    return conn_refuse(p, c, alert, sizeof(alert));
}

static int hello_complete(struct proxy *p, struct conn *c, const struct dj_tlshello *hello)
{
    const struct proxy_config *cfg = p->cfg;
    char reason[160];

    conn_record_begin(p, c);
    c->rec.ech = hello->has_ech;
    c->rec.alpn = hello->has_alpn;
    switch (hello->result) {
    case DJ_TLSHELLO_OK:
        break;
    case DJ_TLSHELLO_NOT_TLS:
        conn_set_reason(c, "deny", "not TLS: %s",
                        hello->problem != NULL ? hello->problem : "not a handshake record");
        conn_close(p, c);
        return -1;
    case DJ_TLSHELLO_NO_SNI:
        conn_set_reason(c, "deny", "no server name (SNI) in the ClientHello");
        return send_alert(p, c);
    default:
        conn_set_reason(c, "deny", "%s: %s", dj_tlshello_result_text(hello->result),
                        hello->problem != NULL ? hello->problem : "refused");
        return send_alert(p, c);
    }
    snprintf(c->rec.host, sizeof(c->rec.host), "%s", hello->server_name);
    if (host_is_ip_literal(c->rec.host)) {
        conn_set_reason(c, "deny", "an IP address in the server name");
        return send_alert(p, c);
    }
    if (!normalize_host(c->rec.host, strlen(c->rec.host), c->req_host, sizeof(c->req_host))) {
        conn_set_reason(c, "deny", "unusable server name");
        return send_alert(p, c);
    }
    if (!dj_allow_match_host(cfg->rules, cfg->n_rules, c->rec.host, c->dest_port)) {
        if (!cfg->audit) {
            conn_set_reason(c, "deny", "not in the allow list");
            return send_alert(p, c);
        }
        c->rec.would_block = true;
    }
    if (!virtual_host_matches(c, c->req_host, reason, sizeof(reason))) {
        conn_set_reason(c, "deny", "%s", reason);
        return send_alert(p, c);
    }
    conn_set_reason(c, "allow", c->rec.would_block ? "not in the allow list" : "allowed");
    c->tls = TLS_WAIT_UPSTREAM;
    c->deadline_ns = p->now_ns + (uint64_t)PROXY_UPSTREAM_MS * 1000000ull;
    if (upstream_begin(p, c, c->req_host, c->dest_port) < 0)
        return -1;
    return 1;
}

int tls_step(struct proxy *p, struct conn *c)
{
    struct dj_tlshello hello;

    switch (c->tls) {
    case TLS_HELLO:
        if (c->up.len == 0) {
            if (!c->up.src_eof)
                return 0;
            conn_record_begin(p, c);
            conn_set_reason(c, "deny", "the client closed before sending a ClientHello");
            conn_close(p, c);
            return -1;
        }
        if (dj_tlshello_parse(c->up.buf, c->up.len, &hello) == DJ_TLSHELLO_NEED_MORE) {
            if (!c->up.src_eof)
                return 0;
            conn_record_begin(p, c);
            conn_set_reason(c, "deny", "the client closed inside the ClientHello");
            conn_close(p, c);
            return -1;
        }
        return hello_complete(p, c, &hello);
    case TLS_WAIT_UPSTREAM:
        return 0;
    case TLS_RELAY:
        if (c->up.dst_shut && c->down.dst_shut) {
            conn_close(p, c);
            return -1;
        }
        return 0;
    }
    return 0;
}

int tls_upstream_ready(struct proxy *p, struct conn *c)
{
    c->deadline_ns = 0;
    c->tls = TLS_RELAY;
    /* The hello and whatever followed it go first, then both directions are spliced. */
    conn_relay_raw(c);
    return 1;
}

int tls_upstream_failed(struct proxy *p, struct conn *c, enum upstream_failure why,
                        const char *detail)
{
    switch (why) {
    case UPSTREAM_INTERNAL:
        conn_set_reason(c, "deny", "%s resolves to internal address %s", c->upstream_host, detail);
        return send_alert(p, c);
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
    /* No TLS alert: the client would read it as a refusal by the server it asked for. */
    return conn_refuse(p, c, NULL, 0);
}

int tls_timeout(struct proxy *p, struct conn *c)
{
    switch (c->tls) {
    case TLS_HELLO:
        conn_record_begin(p, c);
        conn_set_reason(c, "deny", "the ClientHello did not arrive in time");
        conn_close(p, c);
        return -1;
    case TLS_WAIT_UPSTREAM:
        upstream_cancel(c);
        return tls_upstream_failed(p, c, UPSTREAM_TIMEOUT, "resolving and connecting");
    case TLS_RELAY:
        c->deadline_ns = 0;
        return 0;
    }
    return 0;
}
