/* resolver-dot.c: a resolver's attempts over DNS over TLS: one connection per server
 * (lib/dns/dot), made on demand with its own handshake deadline, queries matched by id and
 * written when the socket is writable, closed when idle; a failed connection logged and its
 * queries handed back to resolver-query.c. The design is described at the top of resolver.c. */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

#include "base/bytes.h"
#include "daemon/jsonlog.h"
#include "dns/dot.h"
#include "dns/resolver-internal.h"

#define DOT_MIN_HANDSHAKE_MS 2000 /* connect and handshake: at least this, else timeout_ms */
#define DOT_MAX_PENDING 1024      /* queries on one DoT connection at once (ids: linear scans) */
#define ID_TRIES 16

static void dot_log_failure(struct dj_resolver *res, const struct server *srv, const char *kind,
                            const char *problem)
{
    char line[1024], where[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
    const struct sockaddr_storage *ss = &res->cfg.servers[srv->index];
    struct timespec now;
    struct dj_json j;

    /* The log's own rate limit, shared with the daemon's other lines: on the real clock. */
    if (res->log == NULL || !dj_log_admit(res->log, dj_monotonic_ns()))
        return;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ss;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(where, sizeof(where), "%s:%u", host, ntohs(sin->sin_port));
    } else {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)ss;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(where, sizeof(where), "[%s]:%u", host, ntohs(sin6->sin6_port));
    }
    clock_gettime(CLOCK_REALTIME, &now);
    dj_json_begin(&j, line, sizeof(line));
    dj_json_add_time(&j, "time", &now);
    dj_json_add_cstring(&j, "event", "resolver_tls_failure");
    dj_json_add_cstring(&j, "container", res->log->container_id);
    dj_json_add_cstring(&j, "server", where);
    dj_json_add_cstring(&j, "auth_name",
                        res->cfg.upstreams[srv->index].auth_name[0] != '\0'
                            ? res->cfg.upstreams[srv->index].auth_name
                            : NULL);
    dj_json_add_cstring(&j, "failure", kind);
    dj_json_add_cstring(&j, "reason", problem);
    dj_log_write(res->log, line, dj_json_end(&j));
}

static void dot_set_events(struct dj_resolver *res, struct server *srv)
{
    uint32_t events = dj_dot_conn_events(srv->conn);
    struct epoll_event ev;

    if (events == srv->conn_events)
        return;
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = srv;
    if (epoll_ctl(res->epfd, EPOLL_CTL_MOD, dj_dot_conn_fd(srv->conn), &ev) == 0)
        srv->conn_events = events;
}

/* Closes the connection of SRV. Its queries go on: to another attempt on this server when
 * an established connection was closed by the server (idle close racing a query), else to
 * the next server. FAILURE says why (NONE: closed cleanly or idle). */
static void dot_conn_down(struct dj_resolver *res, struct server *srv, enum dj_dot_failure failure,
                          uint64_t now)
{
    bool was_ready = srv->conn_ready;
    struct list orphans;

    resolver_forget_events(res, srv);
    dj_dot_conn_free(srv->conn); /* closing the socket takes it out of the epoll set */
    srv->conn = NULL;
    srv->conn_ready = false;
    srv->conn_events = 0;
    srv->conn_deadline_ns = 0;
    if (failure != DJ_DOT_FAIL_NONE)
        resolver_server_bad(srv, now);
    list_init(&orphans);
    list_move_all(&srv->dot_queries, &orphans);
    while (!list_empty(&orphans)) {
        struct query *q = CONTAINER_OF(orphans.next, struct query, dot_link);

        /* attempt_close unlinks it from ORPHANS and counts it off the server. */
        resolver_query_attempt_failed(res, q,
                                      failure != DJ_DOT_FAIL_NONE ? END_CONN_FAILED
                                      : was_ready                 ? END_RETRY
                                                                  : END_SERVER_FAILED,
                                      now);
    }
}

static void dot_failed(struct dj_resolver *res, struct server *srv, uint64_t now)
{
    enum dj_dot_failure failure = dj_dot_conn_failure(srv->conn);
    const char *kind = "network";

    if (failure == DJ_DOT_FAIL_PIN) {
        res->stats.dot_pin_failures++;
        kind = "pin";
    } else if (failure == DJ_DOT_FAIL_VERIFY) {
        res->stats.dot_verify_failures++;
        kind = "verify";
    } else if (failure == DJ_DOT_FAIL_FRAMING) {
        kind = "framing";
    }
    if (failure != DJ_DOT_FAIL_LOCAL)
        dot_log_failure(res, srv, kind, dj_dot_conn_problem(srv->conn));
    dot_conn_down(res, srv, failure == DJ_DOT_FAIL_NONE ? DJ_DOT_FAIL_NETWORK : failure, now);
}

struct dot_delivery {
    struct dj_resolver *res;
    struct server *srv;
};

static void dot_message(void *ctx, const uint8_t *msg, size_t len)
{
    struct dot_delivery *d = ctx;
    uint16_t id = dj_get16(msg);

    for (struct list *l = d->srv->dot_queries.next; l != &d->srv->dot_queries; l = l->next) {
        struct query *q = CONTAINER_OF(l, struct query, dot_link);

        if (q->attempt.id == id) {
            resolver_query_response(d->res, q, msg, len, false, d->res->now_ns);
            return;
        }
    }
    d->res->stats.ignored++; /* a late answer to an attempt that timed out */
}

void resolver_dot_ready(struct dj_resolver *res, struct server *srv, uint64_t now)
{
    struct dot_delivery d = {res, srv};
    enum dj_dot_state state = dj_dot_conn_process(srv->conn, dot_message, &d);

    if (srv->conn == NULL)
        return;
    switch (state) {
    case DJ_DOT_READY:
        if (!srv->conn_ready) {
            srv->conn_ready = true;
            srv->conn_deadline_ns = 0;
            if (srv->n_dot_queries == 0)
                srv->conn_deadline_ns = now + (uint64_t)DOT_IDLE_MS * NS_PER_MS;
        }
        dot_set_events(res, srv);
        break;
    case DJ_DOT_CONNECTING:
    case DJ_DOT_HANDSHAKE:
        dot_set_events(res, srv);
        break;
    case DJ_DOT_CLOSED:
        dot_conn_down(res, srv, DJ_DOT_FAIL_NONE, now);
        break;
    case DJ_DOT_FAILED:
        dot_failed(res, srv, now);
        break;
    }
}

static enum start_result dot_connect(struct dj_resolver *res, struct server *srv, uint64_t now)
{
    uint64_t handshake_ms =
        res->cfg.timeout_ms > DOT_MIN_HANDSHAKE_MS ? res->cfg.timeout_ms : DOT_MIN_HANDSHAKE_MS;
    dj_error_t err = NULL;
    struct epoll_event ev;
    int local;

    srv->conn = dj_dot_conn_new(srv->dot_ctx, &err);
    if (srv->conn == NULL) {
        local = resolver_errno_is_local(err->errno_value);
        dj_error_release(&err);
        if (!local)
            resolver_server_bad(srv, now);
        return local ? START_LOCAL : START_UNREACHABLE;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = dj_dot_conn_events(srv->conn);
    ev.data.ptr = srv;
    if (epoll_ctl(res->epfd, EPOLL_CTL_ADD, dj_dot_conn_fd(srv->conn), &ev) < 0) {
        dj_dot_conn_free(srv->conn);
        srv->conn = NULL;
        return START_LOCAL;
    }
    srv->conn_events = ev.events;
    srv->conn_ready = false;
    srv->conn_deadline_ns = now + handshake_ms * NS_PER_MS;
    if (srv->stats.dot_connects > 0)
        res->stats.dot_reconnects++;
    srv->stats.dot_connects++;
    res->stats.dot_connects++;
    return START_OK;
}

/* Puts Q's next attempt on its server's connection (made when there is none). */
enum start_result resolver_dot_start(struct dj_resolver *res, struct query *q, uint64_t now)
{
    struct server *srv = resolver_query_server(res, q);
    enum start_result r;
    bool unique = false;

    if (srv->conn == NULL) {
        /* Failed recently: wait out the pause rather than hammer it (never plain DNS). */
        if (!resolver_server_healthy(srv, now))
            return START_UNREACHABLE;
        r = dot_connect(res, srv, now);
        if (r != START_OK)
            return r;
    }
    if (srv->n_dot_queries >= DOT_MAX_PENDING)
        return START_LOCAL;
    /* Answers are matched by id alone on the connection: ids must be unique there. */
    for (int tries = 0; tries < ID_TRIES && !unique; tries++) {
        if (resolver_attempt_prepare(res, q) < 0)
            return START_LOCAL;
        unique = true;
        for (struct list *l = srv->dot_queries.next; l != &srv->dot_queries; l = l->next) {
            if (CONTAINER_OF(l, struct query, dot_link)->attempt.id == q->attempt.id)
                unique = false;
        }
    }
    if (!unique || dj_dot_conn_queue(srv->conn, q->wire + 2, q->wire_len) < 0)
        return START_LOCAL;
    q->attempt.transport = TRANSPORT_DOT;
    q->attempt.fd = -1;
    q->attempt.started_ns = now;
    q->attempt.deadline_ns = now + (uint64_t)res->cfg.timeout_ms * NS_PER_MS;
    resolver_timer_insert(res, q);
    list_add_tail(&srv->dot_queries, &q->dot_link);
    srv->n_dot_queries++;
    srv->stats.sent++;
    res->stats.dot_sent++;
    if (srv->conn_ready)
        srv->conn_deadline_ns = 0;
    /* Sent from dj_resolver_process() when the socket says it is writable, never from here:
     * a failure now would re-enter the query we are starting. */
    dot_set_events(res, srv);
    return START_OK;
}

/* Handshake deadlines and idle closes. */
void resolver_dot_timers(struct dj_resolver *res, uint64_t now)
{
    for (size_t i = 0; i < res->cfg.n_servers; i++) {
        struct server *srv = &res->servers[i];

        if (srv->conn == NULL || srv->conn_deadline_ns == 0 || srv->conn_deadline_ns > now)
            continue;
        if (!srv->conn_ready) {
            dot_log_failure(res, srv, "network", "connect and TLS handshake timed out");
            dot_conn_down(res, srv, DJ_DOT_FAIL_NETWORK, now);
        } else if (srv->n_dot_queries == 0) {
            dot_conn_down(res, srv, DJ_DOT_FAIL_NONE, now);
        }
    }
}

/* ---- queries: the exchange side -------------------------------------------------------- */
