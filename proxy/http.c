#include "config.h"

/* http.c: the HTTP listener's connections. Every request head is parsed (lib/http/httphead) and
 * decided on its own, keep-alive and pipelining included; the bytes forwarded are exactly the
 * bytes received. One request is outstanding at a time: the next head is read only once the
 * response to the previous one is complete (resphead.c finds where it ends), so the proxy
 * never has to queue decisions, and a denial can never land in the middle of a response.
 *
 * The upstream connection is kept for the next request when it names the same host and port
 * and the response said the connection stays open; otherwise it is closed and a new one
 * opened (after resolving and checking again). Responses the proxy cannot frame with
 * certainty are relayed until the server closes, and then the client connection is closed. */

#include <stdio.h>
#include <string.h>

#include "proxy.h"

#define NS_PER_MS 1000000ull

static const char *status_text(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 431:
        return "Request Header Fields Too Large";
    case 502:
        return "Bad Gateway";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Error";
    }
}

/* Our own answer, then a graceful close. */
static int send_answer(struct proxy *p, struct conn *c, unsigned status, const char *body)
{
    char answer[2048];
    size_t body_len = strlen(body);
    int n;

    n = snprintf(answer, sizeof(answer),
                 "HTTP/1.1 %u %s\r\n"
                 "Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Length: %zu\r\n"
                 "%s"
                 "Cache-Control: no-store\r\n"
                 "Connection: close\r\n"
                 "\r\n"
                 "%s",
                 status, status_text(status), body_len,
                 status == 405 ? "Allow: GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH\r\n" : "",
                 c->req_is_head ? "" : body);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(answer))
        n = sizeof(answer) - 1;
    c->rec.status = status;
    return conn_refuse(p, c, answer, (size_t)n);
}

/* "host" on the default ports, "host:port" otherwise: what the annotation would need. */
static void rule_text(const struct conn *c, char *out, size_t size)
{
    if (c->dest_port == 80 || c->dest_port == 443)
        snprintf(out, size, "%s", c->req_host);
    else
        snprintf(out, size, "%s:%u", c->req_host, c->dest_port);
}

static void copy_span(const char *base, struct dj_http_span span, char *out, size_t size,
                      bool *truncated)
{
    size_t n = span.len < size - 1 ? span.len : size - 1;

    memcpy(out, base + span.off, n);
    out[n] = '\0';
    if (truncated != NULL)
        *truncated = n < span.len;
}

void http_start(struct proxy *p, struct conn *c)
{
    flow_init(&c->up, PROXY_HTTP_BUFFER_MAX);
    flow_init(&c->down, RESPHEAD_MAX);
    c->req = REQ_HEAD;
    c->resp = RESP_IDLE;
    dj_http_head_init(&c->head);
    c->head_timer_set = true; /* the handshake deadline set at accept */
}

/* The request head is forwarded; its body follows; a response is awaited. */
static int start_forwarding(struct proxy *p, struct conn *c)
{
    c->deadline_ns = 0;
    snprintf(c->rec.upstream, sizeof(c->rec.upstream), "%s", c->upstream_text);
    flow_forward(&c->up, (uint32_t)c->head.head_len);
    switch (c->head.body) {
    case DJ_HTTP_BODY_NONE:
        flow_set_framing(&c->up, FRAME_DONE, 0);
        break;
    case DJ_HTTP_BODY_LENGTH:
        flow_set_framing(&c->up, FRAME_LENGTH, c->head.content_length);
        break;
    case DJ_HTTP_BODY_CHUNKED:
        flow_set_framing(&c->up, FRAME_CHUNKED, 0);
        break;
    }
    c->req = REQ_BODY;
    c->resp = RESP_HEAD;
    resphead_scan_init(&c->resp_scan);
    flow_set_framing(&c->down, FRAME_HOLD, 0);
    return 1;
}

int http_upstream_ready(struct proxy *p, struct conn *c)
{
    c->upstream_reusable = true;
    return start_forwarding(p, c);
}

int http_upstream_failed(struct proxy *p, struct conn *c, enum upstream_failure why,
                         const char *detail)
{
    char body[1024];

    switch (why) {
    case UPSTREAM_INTERNAL:
        conn_set_reason(c, "deny", "%s resolves to internal address %s", c->upstream_host, detail);
        snprintf(body, sizeof(body),
                 "dnsjail: %s resolves to %s, an address of the host's own or internal "
                 "networks, which containers may not reach.\n",
                 c->upstream_host, detail);
        return send_answer(p, c, 403, body);
    case UPSTREAM_RESOLVE:
        conn_set_reason(c, "error", "could not resolve %s: %s", c->upstream_host, detail);
        snprintf(body, sizeof(body), "dnsjail: could not resolve %s (%s).\n", c->upstream_host,
                 detail);
        return send_answer(p, c, 502, body);
    case UPSTREAM_CONNECT:
        conn_set_reason(c, "error", "could not connect to %s: %s", c->upstream_host, detail);
        snprintf(body, sizeof(body), "dnsjail: could not connect to %s port %u (%s).\n",
                 c->upstream_host, c->dest_port, detail);
        return send_answer(p, c, 502, body);
    case UPSTREAM_TIMEOUT:
    default:
        conn_set_reason(c, "error", "timed out reaching %s: %s", c->upstream_host, detail);
        snprintf(body, sizeof(body), "dnsjail: timed out reaching %s (%s).\n", c->upstream_host,
                 detail);
        return send_answer(p, c, 504, body);
    }
}

/* A complete, well-formed request head: decide. */
static int decide(struct proxy *p, struct conn *c)
{
    const struct proxy_config *cfg = p->cfg;
    const char *base = (const char *)c->up.buf + c->up.out_end;
    struct dj_http_head *h = &c->head;
    char body[1024], rule[DJ_TLSHELLO_NAME_SIZE + 8], reason[160];

    copy_span(base, h->method, c->rec.method, sizeof(c->rec.method), NULL);
    copy_span(base, h->target_form == DJ_HTTP_TARGET_ORIGIN ? h->target : h->path, c->rec.path,
              sizeof(c->rec.path), &c->rec.path_truncated);
    if (h->target_form == DJ_HTTP_TARGET_ABSOLUTE && h->path.len == 0)
        snprintf(c->rec.path, sizeof(c->rec.path), "/");
    copy_span(base, h->host, c->rec.host, sizeof(c->rec.host), NULL);
    c->req_is_head = strcmp(c->rec.method, "HEAD") == 0;
    c->req_keep_alive = h->keep_alive;

    if (h->target_form == DJ_HTTP_TARGET_AUTHORITY || strcmp(c->rec.method, "CONNECT") == 0) {
        conn_set_reason(c, "deny", "CONNECT is not supported");
        return send_answer(p, c, 405,
                           "dnsjail: CONNECT is not supported here: connections to ports 80 "
                           "and 443 reach their destination through this proxy directly.\n");
    }
    if (h->port != 0 && h->port != c->dest_port) {
        conn_set_reason(c, "deny", "the Host names port %u, the connection is to port %u", h->port,
                        c->dest_port);
        snprintf(body, sizeof(body),
                 "dnsjail: the request names port %u but the connection is to port %u.\n", h->port,
                 c->dest_port);
        return send_answer(p, c, 400, body);
    }
    if (h->host_is_ipv6 || host_is_ip_literal(c->rec.host)) {
        conn_set_reason(c, "deny", "an IP address, not a name");
        snprintf(body, sizeof(body),
                 "dnsjail: %s is an IP address. The proxy only lets names through; an address "
                 "is reachable when the io.dnsjail.allow annotation has an IP or CIDR rule for "
                 "it.\n",
                 c->rec.host);
        return send_answer(p, c, 403, body);
    }
    if (!normalize_host(c->rec.host, strlen(c->rec.host), c->req_host, sizeof(c->req_host))) {
        conn_set_reason(c, "deny", "bad host name");
        return send_answer(p, c, 400, "dnsjail: bad request: the host name is not usable.\n");
    }
    if (!dj_allow_match_host(cfg->rules, cfg->n_rules, c->rec.host, c->dest_port)) {
        if (cfg->audit) {
            /* Relayed all the same; the line says enforce mode would have refused it. */
            c->rec.would_block = true;
            conn_set_reason(c, "allow", "not in the allow list");
            return 1;
        }
        rule_text(c, rule, sizeof(rule));
        conn_set_reason(c, "deny", "not in the allow list");
        snprintf(body, sizeof(body),
                 "dnsjail: %s is not allowed from this container.\n"
                 "To allow it, add %s to the container's io.dnsjail.allow annotation.\n",
                 rule, rule);
        return send_answer(p, c, 403, body);
    }
    if (!virtual_host_matches(c, c->req_host, reason, sizeof(reason))) {
        conn_set_reason(c, "deny", "%s", reason);
        snprintf(body, sizeof(body), "dnsjail: %s.\n", reason);
        return send_answer(p, c, 403, body);
    }
    conn_set_reason(c, "allow", "allowed");
    return 1;
}

static int request_head(struct proxy *p, struct conn *c)
{
    uint32_t unparsed = flow_unparsed(&c->up);
    enum dj_http_result result;
    char body[256];
    int r;

    if (unparsed == 0) {
        /* The client is done: a clean end between requests (the last response may still be
         * on its way out; it is flushed first). */
        return c->up.src_eof ? conn_refuse(p, c, NULL, 0) : 0;
    }
    if (!c->head_timer_set) {
        c->deadline_ns = p->now_ns + (uint64_t)p->cfg->handshake_ms * NS_PER_MS;
        c->head_timer_set = true;
    }
    result = dj_http_head_parse(&c->head, (const char *)c->up.buf + c->up.out_end, unparsed);
    if (result == DJ_HTTP_NEED_MORE) {
        if (!c->up.src_eof && !(unparsed >= c->up.max_cap))
            return 0;
        conn_record_begin(p, c);
        if (c->up.src_eof) {
            conn_set_reason(c, "deny", "the client closed inside a request head");
            return conn_refuse(p, c, NULL, 0);
        }
        result = DJ_HTTP_TOO_LARGE; /* cannot happen: the parser answers within the limit */
    }
    conn_record_begin(p, c);
    c->deadline_ns = 0;
    if (result != DJ_HTTP_OK) {
        const char *problem =
            c->head.problem != NULL ? c->head.problem : dj_http_result_text(result);

        conn_set_reason(c, "deny", "bad request: %s", problem);
        snprintf(body, sizeof(body), "dnsjail: bad request: %s.\n", problem);
        return send_answer(p, c, (unsigned)dj_http_result_status(result), body);
    }
    if ((r = decide(p, c)) <= 0 || c->closing)
        return r;

    /* Allowed. The same host and port as the open upstream: reuse it. */
    if (c->upstream.fd >= 0 && !c->connecting && c->upstream_reusable &&
        strcmp(c->req_host, c->upstream_host) == 0 && c->upstream_port == c->dest_port)
        return start_forwarding(p, c);
    upstream_close(p, c);
    c->req = REQ_WAIT_UPSTREAM;
    c->deadline_ns = p->now_ns + (uint64_t)PROXY_UPSTREAM_MS * NS_PER_MS;
    if (upstream_begin(p, c, c->req_host, c->dest_port) < 0)
        return -1;
    return 1;
}

/* The response head, and the framing of what follows it. */
static int response_head(struct proxy *p, struct conn *c)
{
    uint32_t unparsed = flow_unparsed(&c->down);
    struct resphead rh;

    if (unparsed == 0) {
        if (!c->down.src_eof)
            return 0;
        conn_add_reason(c, "the upstream closed without a response");
        return conn_refuse(p, c, NULL, 0);
    }
    switch (resphead_parse(&c->resp_scan, (const char *)c->down.buf + c->down.out_end, unparsed,
                           c->req_is_head, &rh)) {
    case RESPHEAD_NEED_MORE:
        if (!c->down.src_eof && unparsed < c->down.max_cap)
            return 0;
        /* Cut short: pass on what came, then close. */
        rh.problem = "incomplete response head";
        /* fall through */
    case RESPHEAD_BAD:
    case RESPHEAD_TOO_LARGE:
        conn_add_reason(c, rh.problem);
        flow_set_framing(&c->down, FRAME_RAW, 0);
        c->down.eof_forward = true;
        c->upstream_reusable = false;
        c->close_after = true;
        c->resp = RESP_BODY;
        return 1;
    case RESPHEAD_OK:
        break;
    }
    c->rec.status = rh.status;
    flow_forward(&c->down, (uint32_t)rh.head_len);
    if (rh.status == 101) {
        /* The server switched protocols: from here on, bytes both ways, to the host that was
         * allowed, until both sides close. */
        c->tunnel = true;
        conn_relay_raw(c);
        c->req = REQ_DONE;
        c->resp = RESP_BODY;
        return 1;
    }
    if (rh.status < 200) {
        resphead_scan_init(&c->resp_scan); /* an interim response; the final one follows */
        return 1;
    }
    c->resp_keep_alive = rh.keep_alive;
    switch (rh.body) {
    case RESPHEAD_BODY_NONE:
        flow_set_framing(&c->down, FRAME_DONE, 0);
        break;
    case RESPHEAD_BODY_LENGTH:
        flow_set_framing(&c->down, FRAME_LENGTH, rh.content_length);
        break;
    case RESPHEAD_BODY_CHUNKED:
        flow_set_framing(&c->down, FRAME_CHUNKED, 0);
        break;
    case RESPHEAD_BODY_CLOSE:
        flow_set_framing(&c->down, FRAME_RAW, 0);
        c->down.eof_forward = true;
        c->upstream_reusable = false;
        c->close_after = true;
        break;
    }
    c->resp = RESP_BODY;
    return 1;
}

static int response_body(struct proxy *p, struct conn *c)
{
    struct flow *down = &c->down;

    switch (down->framing) {
    case FRAME_DONE:
        c->resp = RESP_DONE;
        return 1;
    case FRAME_ERROR:
        conn_add_reason(c, down->chunked.problem != NULL ? down->chunked.problem
                                                         : "bad chunked response");
        flow_set_framing(down, FRAME_RAW, 0);
        down->eof_forward = true;
        c->upstream_reusable = false;
        c->close_after = true;
        return 1;
    case FRAME_RAW:
        if (!down->dst_shut)
            return 0;
        /* Relayed to the server's close, and the client has our FIN. */
        conn_record_log(p, c);
        return conn_refuse(p, c, NULL, 0);
    default:
        if (!down->src_eof || flow_unparsed(down) > 0)
            return 0;
        conn_add_reason(c, "the upstream closed inside the response");
        return conn_refuse(p, c, NULL, 0);
    }
}

static int request_body(struct proxy *p, struct conn *c)
{
    struct flow *up = &c->up;

    switch (up->framing) {
    case FRAME_DONE:
        c->req = REQ_DONE;
        return 1;
    case FRAME_ERROR:
        conn_set_reason(c, "deny", "bad chunked request body: %s",
                        up->chunked.problem != NULL ? up->chunked.problem : "malformed");
        /* Nothing of the response has reached the client yet: it may still get a 400. */
        if (c->resp == RESP_HEAD && c->down.forwarded == c->rec.down_start)
            return send_answer(p, c, 400, "dnsjail: bad request: malformed chunked body.\n");
        conn_close(p, c);
        return -1;
    default:
        if (!up->src_eof || flow_unparsed(up) > 0)
            return 0;
        /* The client stopped sending inside the body: let the server see the same. */
        up->eof_forward = true;
        c->close_after = true;
        c->req = REQ_DONE;
        return 1;
    }
}

int http_step(struct proxy *p, struct conn *c)
{
    int progress = 0, r;

    if (c->tunnel) {
        if (c->up.dst_shut && c->down.dst_shut) {
            conn_close(p, c);
            return -1;
        }
        return 0;
    }

    switch (c->resp) {
    case RESP_IDLE:
        /* Nothing is owed to us: bytes or a close from the kept upstream end its use. */
        if (c->upstream.fd >= 0 && !c->connecting &&
            (flow_unparsed(&c->down) > 0 || c->down.src_eof)) {
            upstream_close(p, c);
            progress++;
        }
        break;
    case RESP_HEAD:
        if ((r = response_head(p, c)) < 0)
            return -1;
        progress += r;
        break;
    case RESP_BODY:
        if ((r = response_body(p, c)) < 0)
            return -1;
        progress += r;
        break;
    case RESP_DONE:
        break;
    }
    if (c->closing || c->tunnel)
        return progress;

    switch (c->req) {
    case REQ_HEAD:
        if ((r = request_head(p, c)) < 0)
            return -1;
        progress += r;
        break;
    case REQ_WAIT_UPSTREAM:
        break;
    case REQ_BODY:
        if ((r = request_body(p, c)) < 0)
            return -1;
        progress += r;
        break;
    case REQ_DONE:
        /* A client that half-closes after its last request: the server sees it too. */
        if (c->up.src_eof && flow_unparsed(&c->up) == 0 && !c->up.eof_forward) {
            c->up.eof_forward = true;
            c->close_after = true;
            progress++;
        }
        break;
    }
    if (c->closing)
        return progress;

    if (c->req == REQ_DONE && c->resp == RESP_DONE) {
        conn_record_log(p, c);
        if (c->close_after || !c->req_keep_alive)
            return conn_refuse(p, c, NULL, 0);
        if (!c->resp_keep_alive || !c->upstream_reusable)
            upstream_close(p, c);
        c->req = REQ_HEAD;
        c->resp = RESP_IDLE;
        dj_http_head_init(&c->head);
        c->head_timer_set = false;
        c->deadline_ns = 0;
        /* An idle keep-alive connection holds its sockets and struct conn, nothing more. */
        flow_trim(p, &c->up);
        flow_trim(p, &c->down);
        progress++;
    }
    return progress;
}

int http_timeout(struct proxy *p, struct conn *c)
{
    switch (c->req) {
    case REQ_HEAD:
        if (flow_unparsed(&c->up) == 0) {
            conn_close(p, c); /* connected and never said anything */
            return -1;
        }
        conn_record_begin(p, c);
        conn_set_reason(c, "deny", "the request head did not arrive in time");
        return send_answer(p, c, 408, "dnsjail: the request head did not arrive in time.\n");
    case REQ_WAIT_UPSTREAM:
        upstream_cancel(c);
        return http_upstream_failed(p, c, UPSTREAM_TIMEOUT, "resolving and connecting");
    default:
        c->deadline_ns = 0;
        return 0;
    }
}
