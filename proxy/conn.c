#include "config.h"

/* conn.c: one client connection's life: accept, the original destination, the pump that
 * alternates protocol decisions and byte moving, epoll interest, timeouts, graceful refusal,
 * close, and the one log line per request (HTTP) or connection (TLS). */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "proxy.h"

#define ACCEPTS_PER_WAKEUP 64
#define PUMP_ROUNDS 64 /* per event, so one busy connection cannot starve the others */
#define NS_PER_MS 1000000ull

/* linux/netfilter_ipv4.h and linux/netfilter_ipv6/ip6_tables.h clash with glibc's headers. */
#define DJ_SO_ORIGINAL_DST 80
#define DJ_IP6T_SO_ORIGINAL_DST 80

/* The destination the client meant, as conntrack has it (ORIG's family stays AF_UNSPEC when
 * there is none). */
static void original_destination(int fd, int family, struct sockaddr_storage *orig)
{
    socklen_t orig_len = sizeof(*orig);
    int r = -1;

    memset(orig, 0, sizeof(*orig));
    if (family == AF_INET)
        r = getsockopt(fd, SOL_IP, DJ_SO_ORIGINAL_DST, orig, &orig_len);
    else if (family == AF_INET6)
        r = getsockopt(fd, SOL_IPV6, DJ_IP6T_SO_ORIGINAL_DST, orig, &orig_len);
    if (r < 0 || orig->ss_family != family)
        memset(orig, 0, sizeof(*orig));
}

/* The destination port the client meant: the one the ruleset redirected from, or, when the
 * connection was not redirected (standalone use), the listener's default. Conntrack answers
 * for connections that were not NATed too, with the listener's own port, which no redirected
 * connection to the HTTP or TLS listener has (the ruleset redirects 80 and 443 there). The
 * virtual listener takes any port: a connection to it that was not redirected has port 0. */
static uint16_t original_port(const struct sockaddr_storage *orig, enum listener_kind kind,
                              uint16_t listener_port, uint16_t fallback)
{
    uint16_t port;

    if (orig->ss_family != AF_INET && orig->ss_family != AF_INET6)
        return fallback;
    /* sin_port and sin6_port sit at the same offset. */
    port = ntohs(((const struct sockaddr_in *)orig)->sin_port);
    if (kind == LISTENER_VIRTUAL)
        return port;
    return port == 0 || port == listener_port ? fallback : port;
}

static const char *event_name(enum conn_kind kind)
{
    switch (kind) {
    case CONN_HTTP:
        return "http_request";
    case CONN_TLS:
        return "tls_connection";
    case CONN_VIRTUAL:
    case N_CONN_KINDS:
        break;
    }
    return "virtual_connection";
}

static void log_refused_connection(struct proxy *p, const struct sockaddr_storage *peer,
                                   enum listener_kind kind)
{
    char client[INET6_ADDRSTRLEN + 8];
    struct timespec now;
    struct dj_json j;

    if (!dj_log_admit(&p->log, p->now_ns))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    format_sockaddr(peer, client, sizeof(client));
    dj_json_begin(&j, p->line, sizeof(p->line));
    dj_json_add_time(&j, "time", &now);
    dj_json_add_cstring(&j, "event",
                        event_name(kind == LISTENER_HTTP  ? CONN_HTTP
                                   : kind == LISTENER_TLS ? CONN_TLS
                                                          : CONN_VIRTUAL));
    dj_json_add_cstring(&j, "container", p->cfg->common.container_id);
    dj_json_add_cstring(&j, "client", client);
    dj_json_add_cstring(&j, "decision", "deny");
    dj_json_add_cstring(&j, "reason", "too many connections (--max-connections)");
    dj_log_write(&p->log, p->line, dj_json_end(&j));
}

void conn_set_accepting(struct proxy *p, bool on)
{
    const struct proxy_config *cfg = p->cfg;
    struct epoll_event ev = {.events = on ? EPOLLIN : 0};

    if (p->accept_paused == !on)
        return;
    p->accept_paused = !on;
    for (size_t i = 0; i < cfg->n_http; i++) {
        ev.data.u64 = proxy_tag(TAG_LISTEN_HTTP, i, 0);
        epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, cfg->http_fds[i], &ev);
    }
    for (size_t i = 0; i < cfg->n_tls; i++) {
        ev.data.u64 = proxy_tag(TAG_LISTEN_TLS, i, 0);
        epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, cfg->tls_fds[i], &ev);
    }
    for (size_t i = 0; i < cfg->n_virtual; i++) {
        ev.data.u64 = proxy_tag(TAG_LISTEN_VIRTUAL, i, 0);
        epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, cfg->virtual_fds[i], &ev);
    }
}

void conn_accept(struct proxy *p, int listen_fd, uint16_t listen_port, enum listener_kind kind)
{
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        struct sockaddr_storage peer, orig;
        socklen_t peer_len = sizeof(peer);
        struct epoll_event ev;
        struct conn *c;
        uint32_t slot;
        int fd;

        memset(&peer, 0, sizeof(peer));
        fd = accept4(listen_fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            /* Out of descriptors: stop accepting until connections have closed, instead of
             * waking up for the same pending connection again and again. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                conn_set_accepting(p, false);
            return;
        }
        if ((p->n_free == 0 && p->n_slots_used == p->cfg->max_connections) ||
            (c = calloc(1, sizeof(*c))) == NULL) {
            p->stats.decisions[kind == LISTENER_HTTP  ? CONN_HTTP
                               : kind == LISTENER_TLS ? CONN_TLS
                                                      : CONN_VIRTUAL][PROXY_DENIED]++;
            log_refused_connection(p, &peer, kind);
            close(fd);
            continue;
        }
        /* Freed slots first, the lowest never-used one otherwise: a quiet proxy keeps
         * reusing the same few, and the tables' pages past them are never touched. */
        slot = p->n_free > 0 ? p->free_slots[--p->n_free] : (uint32_t)p->n_slots_used++;
        p->conns[slot] = c;
        p->n_conns++;
        c->proxy = p;
        c->index = slot;
        c->generation = ++p->slot_generation[slot] & 0xFFFFFF;
        c->kind = kind == LISTENER_HTTP  ? CONN_HTTP
                  : kind == LISTENER_TLS ? CONN_TLS
                                         : CONN_VIRTUAL;
        p->stats.connections[c->kind]++;
        c->client.fd = fd;
        c->client.writable = true;
        c->upstream.fd = -1;
        c->client_addr = peer;
        original_destination(fd, peer.ss_family, &orig);
        c->dest_port = original_port(&orig, kind, listen_port,
                                     kind == LISTENER_HTTP ? p->cfg->default_port_http
                                                           : p->cfg->default_port_tls);
        virtual_note_destination(p, c, &orig);
        c->last_active_ns = p->now_ns;
        c->deadline_ns = p->now_ns + (uint64_t)p->cfg->handshake_ms * NS_PER_MS;
        /* TCP_NODELAY comes from the listener (main.c sets it there). */
        ev.events = PROXY_SOCKET_EVENTS;
        ev.data.u64 = proxy_tag(TAG_CLIENT, slot, c->generation);
        if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
            conn_close(p, c);
            continue;
        }
        if (c->kind == CONN_HTTP)
            http_start(p, c);
        else if (c->kind == CONN_TLS)
            tls_start(p, c);
        else
            virtual_start(p, c);
    }
}

void conn_close(struct proxy *p, struct conn *c)
{
    conn_record_log(p, c);
    upstream_cancel(c);
    if (c->upstream.fd >= 0)
        close(c->upstream.fd); /* also leaves the epoll set */
    if (c->client.fd >= 0)
        close(c->client.fd);
    flow_release(p, &c->up);
    flow_release(p, &c->down);
    p->stats.bytes_up_closed += c->up.forwarded;
    p->stats.bytes_down_closed += c->down.forwarded;
    p->conns[c->index] = NULL;
    p->free_slots[p->n_free++] = c->index;
    p->n_conns--;
    free(c);
}

int conn_refuse(struct proxy *p, struct conn *c, const void *answer, size_t len)
{
    conn_record_log(p, c); /* now, not after the linger */
    upstream_cancel(c);
    upstream_close(p, c);
    flow_release(p, &c->up);
    c->up.src_eof = false;
    if (len > 0 && !flow_queue(&c->down, answer, len)) {
        conn_close(p, c);
        return -1;
    }
    c->closing = true;
    c->connecting = false;
    c->deadline_ns = p->now_ns + (uint64_t)p->cfg->idle_ms * NS_PER_MS;
    return 1;
}

/* Refused: our answer (or what was left of the upstream's) goes out, then FIN, then we read
 * and drop what the client still sends until it closes too, so the kernel does not answer
 * its late bytes with a reset that could destroy the answer before the client reads it. */
static int closing_step(struct proxy *p, struct conn *c)
{
    int progress = flow_pump(p, c, &c->down);

    if (progress < 0) {
        conn_close(p, c);
        return -1;
    }
    /* What is left of the answer (the rest of a response the client half-closed for, a large
     * one still arriving) is bounded like any exchange, by the idle timeout from its last
     * progress: a client that reads slowly under load must not lose the end of a response.
     * The short linger starts at our FIN and only bounds the draining of its late bytes. */
    if (!flow_flushed(&c->down)) {
        if (progress > 0)
            c->deadline_ns = p->now_ns + (uint64_t)p->cfg->idle_ms * NS_PER_MS;
        return progress;
    }
    if (progress > 0)
        c->deadline_ns = p->now_ns + (uint64_t)PROXY_LINGER_MS * NS_PER_MS;
    if (!c->down.dst_shut) {
        shutdown(c->client.fd, SHUT_WR);
        c->down.dst_shut = true;
        progress++;
        c->deadline_ns = p->now_ns + (uint64_t)PROXY_LINGER_MS * NS_PER_MS;
    }
    for (int reads = 0; reads < 4 && c->client.readable; reads++) {
        ssize_t n = recv(c->client.fd, p->scratch, sizeof(p->scratch), MSG_DONTWAIT);

        if (n > 0) {
            progress++;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->client.readable = false;
            break;
        }
        conn_close(p, c); /* EOF or error: done */
        return -1;
    }
    return progress;
}

static void queue_again(struct proxy *p, struct conn *c)
{
    if (c->queued)
        return;
    c->queued = true;
    p->again[p->n_again++] = c->index;
}

void conn_pump_again(struct proxy *p)
{
    size_t n = p->n_again;

    /* Only those queued before this call: a connection that queues itself again waits for
     * the next round, after epoll has had its say. */
    for (size_t i = 0; i < n; i++) {
        struct conn *c = p->conns[p->again[i]];

        if (c != NULL && c->queued) {
            c->queued = false;
            conn_pump(p, c);
        }
    }
    memmove(p->again, p->again + n, (p->n_again - n) * sizeof(*p->again));
    p->n_again -= n;
}

int conn_pump(struct proxy *p, struct conn *c)
{
    int total = 0;

    for (int round = 0; round < PUMP_ROUNDS; round++) {
        int progress = 0, r;

        if (round == PUMP_ROUNDS - 1) {
            queue_again(p, c); /* still busy: the others get their turn first */
            break;
        }

        if (c->closing) {
            if ((r = closing_step(p, c)) < 0)
                return -1;
            progress += r;
        } else {
            r = c->kind == CONN_HTTP  ? http_step(p, c)
                : c->kind == CONN_TLS ? tls_step(p, c)
                                      : virtual_step(p, c);
            if (r < 0)
                return -1;
            progress += r;
            if (!c->closing) {
                int up = flow_pump(p, c, &c->up);
                int down = up < 0 ? 0 : flow_pump(p, c, &c->down);

                if (up < 0 || down < 0) {
                    if (c->rec.pending)
                        conn_add_reason(c, "connection reset while relaying");
                    conn_close(p, c);
                    return -1;
                }
                progress += up + down;
            }
        }
        total += progress;
        if (progress == 0)
            break;
    }
    return total;
}

void conn_event(struct proxy *p, struct conn *c, bool upstream, uint32_t events)
{
    struct endpoint *e = upstream ? &c->upstream : &c->client;

    if (upstream && c->connecting) {
        upstream_connect_event(p, c, events);
        return;
    }
    /* An upstream kept for the next request that sends something or closes is done for. */
    if (upstream && c->kind == CONN_HTTP && c->resp == RESP_IDLE && !c->closing &&
        (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
        upstream_close(p, c);
        conn_pump(p, c);
        return;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
        e->readable = true;
    if (events & (EPOLLHUP | EPOLLRDHUP))
        e->rdhup = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
        e->writable = true;
    /* A hang-up or error is not the end by itself: a peer that has sent everything and
     * closed while we wait to write its last bytes to the other side is the usual case. The
     * next read or write on that socket ends the connection if it is broken. */
    conn_pump(p, c);
}

void conn_timeouts(struct proxy *p, struct conn *c)
{
    uint64_t idle_ns = (uint64_t)p->cfg->idle_ms * NS_PER_MS;

    if (c->connecting && p->now_ns >= c->connect_deadline_ns) {
        upstream_connect_timeout(p, c);
        return;
    }
    if (c->deadline_ns != 0 && p->now_ns >= c->deadline_ns) {
        if (c->closing) {
            conn_close(p, c);
            return;
        }
        if ((c->kind == CONN_HTTP  ? http_timeout(p, c)
             : c->kind == CONN_TLS ? tls_timeout(p, c)
                                   : virtual_timeout(p, c)) >= 0)
            conn_pump(p, c);
        return;
    }
    if (p->now_ns - c->last_active_ns >= idle_ns) {
        if (c->rec.pending)
            conn_add_reason(c, "idle timeout");
        conn_close(p, c);
    }
}

/* ---- the log line ---------------------------------------------------------------------- */

void conn_record_begin(struct proxy *p, struct conn *c)
{
    memset(&c->rec, 0, sizeof(c->rec));
    c->rec.pending = true;
    c->rec.decision = "deny";
    c->rec.start_ns = p->now_ns;
    c->rec.up_start = c->up.forwarded;
    c->rec.down_start = c->down.forwarded;
}

void conn_set_reason(struct conn *c, const char *decision, const char *fmt, ...)
{
    va_list ap;

    c->rec.decision = decision;
    va_start(ap, fmt);
    vsnprintf(c->rec.reason, sizeof(c->rec.reason), fmt, ap);
    va_end(ap);
}

void conn_add_reason(struct conn *c, const char *more)
{
    size_t len = strlen(c->rec.reason);

    if (len == 0)
        snprintf(c->rec.reason, sizeof(c->rec.reason), "%s", more);
    else if (len < sizeof(c->rec.reason))
        snprintf(c->rec.reason + len, sizeof(c->rec.reason) - len, "; %s", more);
}

void conn_record_log(struct proxy *p, struct conn *c)
{
    struct conn_record *rec = &c->rec;
    char client[INET6_ADDRSTRLEN + 8];
    struct timespec now;
    struct dj_json j;

    if (!rec->pending)
        return;
    rec->pending = false;
    proxy_count_decision(p, c);
    if (!dj_log_admit(&p->log, p->now_ns))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    format_sockaddr(&c->client_addr, client, sizeof(client));
    dj_json_begin(&j, p->line, sizeof(p->line));
    dj_json_add_time(&j, "time", &now);
    dj_json_add_cstring(&j, "event", c->audit_tcp ? "tcp_connection" : event_name(c->kind));
    dj_json_add_cstring(&j, "container", p->cfg->common.container_id);
    dj_json_add_cstring(&j, "client", client);
    dj_json_add_cstring(&j, "host", rec->host[0] != '\0' ? rec->host : NULL);
    if (c->audit_tcp)
        dj_json_add_cstring(&j, "dest", c->virtual_addr[0] != '\0' ? c->virtual_addr : NULL);
    dj_json_add_uint(&j, "port", c->dest_port);
    if (c->kind == CONN_HTTP) {
        dj_json_add_cstring(&j, "method", rec->method[0] != '\0' ? rec->method : NULL);
        dj_json_add_cstring(&j, "path", rec->method[0] != '\0' ? rec->path : NULL);
        if (rec->path_truncated)
            dj_json_add_bool(&j, "path_truncated", true);
    }
    dj_json_add_cstring(&j, "decision", rec->decision);
    dj_json_add_cstring(&j, "reason", rec->reason);
    if (c->kind == CONN_HTTP && rec->status != 0)
        dj_json_add_uint(&j, "status", rec->status);
    if (c->kind == CONN_TLS && rec->ech)
        dj_json_add_bool(&j, "ech", true);
    if (p->cfg->audit)
        dj_json_add_bool(&j, "would_block", rec->would_block || strcmp(rec->decision, "deny") == 0);
    if (c->virtual_dest)
        dj_json_add_cstring(&j, "virtual_address", c->virtual_addr);
    if (rec->upstream[0] != '\0')
        dj_json_add_cstring(&j, "upstream", rec->upstream);
    dj_json_add_uint(&j, "bytes_up", c->up.forwarded - rec->up_start);
    dj_json_add_uint(&j, "bytes_down", c->down.forwarded - rec->down_start);
    dj_json_add_uint(&j, "duration_ms", (p->now_ns - rec->start_ns) / NS_PER_MS);
    dj_log_write(&p->log, p->line, dj_json_end(&j));
}
