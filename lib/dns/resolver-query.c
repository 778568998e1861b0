/* resolver-query.c: a resolver's queries (one name and type asked of the servers in order,
 * identical questions coalesced), their attempts over UDP and TCP, the servers' health and the
 * cache of what lookups concluded. DoT attempts are in resolver-dot.c; the design is described
 * at the top of resolver.c. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/bytes.h"
#include "daemon/jsonlog.h"
#include "dns/dnsanswer.h"
#include "dns/dnswire.h"
#include "dns/resolver-internal.h"

#define NEGATIVE_TTL_MAX 300
#define MAX_TCP 64
#define UDP_READS_PER_EVENT 16
#define TCP_READS_PER_EVENT 8

#define BACKOFF_BASE_MS 500  /* first pause after a server failed */
#define BACKOFF_MAX_MS 10000 /* longest pause */

_Static_assert(DJ_DNSANSWER_MAX_ADDRS == DJ_RESOLVER_MAX_ADDRS,
               "a query's addresses must fit a result");

/* ---- small helpers --------------------------------------------------------------------- */

static size_t addr_len_of(uint16_t qtype)
{
    return qtype == DJ_DNS_TYPE_AAAA ? 16 : 4;
}

bool resolver_errno_is_local(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == EAGAIN;
}

static int random_bytes(struct dj_resolver *res, void *out, size_t n)
{
    if (n > res->random_left) {
        /* The pool is ready (dj_resolver_new waited for it), so this never blocks. */
        if (getrandom(res->random_pool, sizeof(res->random_pool), GRND_NONBLOCK) !=
            (ssize_t)sizeof(res->random_pool))
            return -1;
        res->random_left = sizeof(res->random_pool);
    }
    memcpy(out, res->random_pool + sizeof(res->random_pool) - res->random_left, n);
    res->random_left -= n;
    return 0;
}

static uint32_t clamp_ttl(const struct dj_resolver_config *cfg, uint32_t ttl, bool negative)
{
    uint32_t ceiling = cfg->ttl_ceiling;
    uint32_t floor = cfg->ttl_floor;

    if (negative && ceiling > NEGATIVE_TTL_MAX)
        ceiling = NEGATIVE_TTL_MAX;
    if (floor > ceiling)
        floor = ceiling;
    if (ttl < floor)
        return floor;
    return ttl > ceiling ? ceiling : ttl;
}

/* ---- cache ----------------------------------------------------------------------------- */
/* Not lib/dns/fwdcache, although both are hashed LRU lists: this one keeps what a lookup
 * concluded (a status and the parsed addresses, under the wire name and one type, for the
 * records' own TTL), that one the upstream's whole message under a case-blind text name, type
 * and class, with the admin's floor and ceiling and the elapsed time rewritten into the TTLs
 * when served. What they share is a bucket chain and a list, about 40 lines; a common core
 * would need a callback per key comparison and free, on the stub's hot path. */

bool resolver_cacheable(enum dj_resolve_status status)
{
    return status == DJ_RESOLVE_OK || status == DJ_RESOLVE_NXDOMAIN || status == DJ_RESOLVE_NODATA;
}

/* Unlinks E from its bucket and the LRU list and frees it. */
void resolver_cache_remove(struct dj_resolver *res, struct cache_entry *e)
{
    struct cache_entry **slot = &res->cache[e->hash & res->cache_mask];

    while (*slot != NULL && *slot != e)
        slot = &(*slot)->hash_next;
    if (*slot == e)
        *slot = e->hash_next;
    list_del(&e->lru_link);
    res->cache_count--;
    free(e);
}

/* The live entry for (NAME, QTYPE), made most recently used; an expired one is dropped. */
struct cache_entry *resolver_cache_find(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
                                        size_t name_len, uint16_t qtype, uint64_t now)
{
    struct cache_entry *e;

    if (res->cache == NULL)
        return NULL;
    for (e = res->cache[hash & res->cache_mask]; e != NULL; e = e->hash_next) {
        if (e->hash == hash && e->qtype == qtype && e->name_len == name_len &&
            memcmp(e->data, name, name_len) == 0)
            break;
    }
    if (e == NULL)
        return NULL;
    if (e->expires_ns <= now) {
        resolver_cache_remove(res, e);
        return NULL;
    }
    list_del(&e->lru_link);
    list_insert_after(&res->lru, &e->lru_link);
    return e;
}

static void cache_put(struct dj_resolver *res, const struct query *q, const struct part_result *r,
                      uint64_t now)
{
    size_t alen = addr_len_of(q->qtype);
    struct cache_entry *old;
    struct cache_entry *e;

    if (res->cache == NULL || !resolver_cacheable(r->status))
        return;
    old = resolver_cache_find(res, q->hash, q->qname, q->qname_len, q->qtype, now);
    if (old != NULL)
        resolver_cache_remove(res, old);
    while (res->cache_count >= res->cfg.cache_entries && !list_empty(&res->lru))
        resolver_cache_remove(res, CONTAINER_OF(res->lru.prev, struct cache_entry, lru_link));
    e = malloc(sizeof(*e) + q->qname_len + r->n_addrs * alen);
    if (e == NULL)
        return; /* not caching is always correct */
    e->hash = q->hash;
    e->expires_ns = now + (uint64_t)r->ttl * NS_PER_S;
    e->qtype = q->qtype;
    e->status = r->status;
    e->n_addrs = r->n_addrs;
    e->name_len = q->qname_len;
    memcpy(e->data, q->qname, q->qname_len);
    for (size_t i = 0; i < r->n_addrs; i++)
        memcpy(e->data + q->qname_len + i * alen, r->addrs[i], alen);
    e->hash_next = res->cache[e->hash & res->cache_mask];
    res->cache[e->hash & res->cache_mask] = e;
    list_insert_after(&res->lru, &e->lru_link);
    res->cache_count++;
}

void resolver_cache_result(const struct cache_entry *e, uint64_t now, struct part_result *out)
{
    size_t alen = addr_len_of(e->qtype);

    memset(out, 0, sizeof(*out));
    out->status = e->status;
    out->from_cache = true;
    /* Rounded up: an entry that is still valid never claims 0 seconds. */
    out->ttl = (uint32_t)((e->expires_ns - now + NS_PER_S - 1) / NS_PER_S);
    out->n_addrs = e->n_addrs;
    for (size_t i = 0; i < e->n_addrs; i++)
        memcpy(out->addrs[i], e->data + e->name_len + i * alen, alen);
}

/* ---- queries: the transport side ------------------------------------------------------- */

/* Makes every event still to be handled in this batch that points at OWNER (a query or a
 * server) a no-op. */
void resolver_forget_events(struct dj_resolver *res, const void *owner)
{
    for (int i = res->batch_pos + 1; i < res->batch_len; i++) {
        if (res->batch[i].data.ptr == owner)
            res->batch[i].data.ptr = NULL;
    }
}

struct server *resolver_query_server(struct dj_resolver *res, const struct query *q)
{
    return &res->servers[q->order[q->server]];
}

static void attempt_close(struct dj_resolver *res, struct query *q)
{
    struct attempt *at = &q->attempt;

    if (at->fd >= 0) {
        resolver_forget_events(res, q);
        if (at->pooled) {
            /* Another attempt may take it next: a late answer to this one that waits in it
             * then carries the wrong id or question and is ignored. */
            epoll_ctl(res->epfd, EPOLL_CTL_DEL, at->fd, NULL);
            res->pool_busy[at->pool_slot] = false;
        } else {
            close(at->fd); /* also takes it out of the epoll set: nobody else holds it */
        }
    }
    if (at->transport == TRANSPORT_TCP)
        res->n_tcp--;
    if (at->transport == TRANSPORT_DOT) {
        struct server *srv = resolver_query_server(res, q);

        list_del(&q->dot_link);
        srv->n_dot_queries--;
        if (srv->n_dot_queries == 0 && srv->conn_ready)
            srv->conn_deadline_ns = resolver_now(res) + (uint64_t)DOT_IDLE_MS * NS_PER_MS;
    }
    free(at->response);
    memset(at, 0, sizeof(*at));
    at->fd = -1;
    list_del(&q->timer_link);
}

void resolver_timer_insert(struct dj_resolver *res, struct query *q)
{
    struct list *pos = res->timers.prev;

    /* Every attempt lasts timeout_ms, so the new one almost always goes last. */
    while (pos != &res->timers && CONTAINER_OF(pos, struct query, timer_link)->attempt.deadline_ns >
                                      q->attempt.deadline_ns)
        pos = pos->prev;
    list_insert_after(pos, &q->timer_link);
}

/* A fresh id and the query bytes for it. */
int resolver_attempt_prepare(struct dj_resolver *res, struct query *q)
{
    uint8_t id[2];

    if (random_bytes(res, id, sizeof(id)) < 0)
        return -1;
    q->attempt.id = dj_get16(id);
    q->wire_len = dj_dns_build_query_class(q->attempt.id, q->qname, q->qname_len, q->qtype,
                                           q->qclass, q->wire + 2, sizeof(q->wire) - 2);
    if (q->wire_len == 0)
        return -1; /* cannot happen: the name was checked */
    q->wire[0] = (uint8_t)(q->wire_len >> 8);
    q->wire[1] = (uint8_t)q->wire_len;
    return 0;
}

static socklen_t server_len(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static void attempt_started(struct dj_resolver *res, struct query *q, int fd, int type,
                            uint64_t now)
{
    q->attempt.fd = fd;
    q->attempt.transport = type == SOCK_STREAM ? TRANSPORT_TCP : TRANSPORT_UDP;
    q->attempt.started_ns = now;
    q->attempt.deadline_ns = now + (uint64_t)res->cfg.timeout_ms * NS_PER_MS;
    resolver_timer_insert(res, q);
}

/* The attempt takes a free socket of cfg.pool_fds (connected already, UDP only). */
static enum start_result pool_attempt_open(struct dj_resolver *res, struct query *q, int type,
                                           uint32_t events, uint64_t now)
{
    struct epoll_event ev;

    if (type != SOCK_DGRAM)
        return START_UNREACHABLE; /* no TCP to this server: the query moves on (and fails) */
    for (size_t i = 0; i < res->cfg.n_pool_fds; i++) {
        if (res->pool_busy[i])
            continue;
        memset(&ev, 0, sizeof(ev));
        ev.events = events;
        ev.data.ptr = q;
        if (epoll_ctl(res->epfd, EPOLL_CTL_ADD, res->cfg.pool_fds[i], &ev) < 0)
            return START_LOCAL;
        res->pool_busy[i] = true;
        q->attempt.pooled = true;
        q->attempt.pool_slot = i;
        attempt_started(res, q, res->cfg.pool_fds[i], type, now);
        return START_OK;
    }
    return START_LOCAL; /* every socket busy */
}

/* Opens the attempt's socket, connects it (TYPE SOCK_DGRAM or SOCK_STREAM) and adds it to
 * the epoll set for EVENTS. */
static enum start_result attempt_open(struct dj_resolver *res, struct query *q, int type,
                                      uint32_t events, uint64_t now)
{
    const struct sockaddr_storage *server = &res->cfg.servers[q->order[q->server]];
    struct epoll_event ev;
    int fd;

    if (resolver_attempt_prepare(res, q) < 0)
        return START_LOCAL;
    if (res->cfg.n_pool_fds > 0)
        return pool_attempt_open(res, q, type, events, now);
    fd = socket(server->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return resolver_errno_is_local(errno) ? START_LOCAL : START_UNREACHABLE;
    if (connect(fd, (const struct sockaddr *)server, server_len(server)) < 0 &&
        !(type == SOCK_STREAM && errno == EINPROGRESS)) {
        close(fd);
        return START_UNREACHABLE;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = events;
    ev.data.ptr = q;
    if (epoll_ctl(res->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return START_LOCAL;
    }
    attempt_started(res, q, fd, type, now);
    return START_OK;
}

static enum start_result udp_start(struct dj_resolver *res, struct query *q, uint64_t now)
{
    enum start_result r = attempt_open(res, q, SOCK_DGRAM, EPOLLIN, now);

    if (r != START_OK)
        return r;
    if (send(q->attempt.fd, q->wire + 2, q->wire_len, 0) < 0) {
        int e = errno;

        attempt_close(res, q);
        return resolver_errno_is_local(e) ? START_LOCAL : START_UNREACHABLE;
    }
    res->stats.udp_sent++;
    resolver_query_server(res, q)->stats.sent++;
    return START_OK;
}

static enum start_result tcp_start(struct dj_resolver *res, struct query *q, uint64_t now)
{
    enum start_result r;

    attempt_close(res, q);
    if (res->n_tcp >= MAX_TCP)
        return START_LOCAL;
    r = attempt_open(res, q, SOCK_STREAM, EPOLLOUT, now);
    if (r == START_OK) {
        res->n_tcp++;
        resolver_query_server(res, q)->stats.sent++;
    }
    return r;
}

/* ---- server health ---------------------------------------------------------------------- */

static void server_ok(struct server *srv)
{
    srv->failures = 0;
    srv->retry_after_ns = 0;
}

/* A failed server is tried after the healthy ones (and a DoT one not reconnected) for a
 * pause that doubles with each failure in a row, BACKOFF_BASE_MS to BACKOFF_MAX_MS. */
void resolver_server_bad(struct server *srv, uint64_t now)
{
    unsigned shift = srv->failures < 16 ? srv->failures : 16;
    uint64_t pause_ms = (uint64_t)BACKOFF_BASE_MS << shift;

    if (pause_ms > BACKOFF_MAX_MS)
        pause_ms = BACKOFF_MAX_MS;
    srv->failures++;
    srv->stats.failures++;
    srv->retry_after_ns = now + pause_ms * NS_PER_MS;
}

bool resolver_server_healthy(const struct server *srv, uint64_t now)
{
    return srv->retry_after_ns <= now;
}

/* The order a new query tries the servers in: healthy ones first, in the configured order. */
static void query_order(const struct dj_resolver *res, struct query *q, uint64_t now)
{
    size_t n = 0;

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < res->cfg.n_servers; i++) {
            if (resolver_server_healthy(&res->servers[i], now) == (pass == 0))
                q->order[n++] = i;
        }
    }
}

static void record_latency(struct dj_resolver *res, struct server *srv, uint64_t started_ns,
                           uint64_t now)
{
    static const unsigned bounds[] = DJ_RESOLVER_LATENCY_BOUNDS_MS;
    uint64_t ms = now > started_ns ? (now - started_ns) / NS_PER_MS : 0;
    size_t b = 0;

    while (b < sizeof(bounds) / sizeof(bounds[0]) && ms > bounds[b])
        b++;
    res->stats.latency_buckets[b]++;
    res->stats.latency_sum_ms += ms;
    srv->stats.answered++;
}

static void query_unhash(struct dj_resolver *res, struct query *q)
{
    struct query **slot = &res->queries[q->hash & res->query_mask];

    while (*slot != NULL && *slot != q)
        slot = &(*slot)->hash_next;
    if (*slot == q)
        *slot = q->hash_next;
}

void resolver_query_free(struct dj_resolver *res, struct query *q)
{
    attempt_close(res, q);
    resolver_forget_events(res, q);
    query_unhash(res, q);
    res->n_queries--;
    free(q);
}

/* Hands R to every lookup waiting for Q and frees Q. R->msg (a raw response, not owned) is
 * copied for each waiter: the buffer it lies in goes away with the attempt. */
static void query_complete(struct dj_resolver *res, struct query *q, const struct part_result *r)
{
    while (!list_empty(&q->waiters)) {
        struct lookup_part *part = CONTAINER_OF(q->waiters.next, struct lookup_part, waiter_link);

        list_del(&part->waiter_link);
        part->query = NULL;
        part->done = true;
        part->result = *r;
        if (r->msg != NULL) {
            part->result.msg = malloc(r->msg_len);
            if (part->result.msg != NULL) {
                memcpy(part->result.msg, r->msg, r->msg_len);
            } else {
                part->result.status = DJ_RESOLVE_SERVFAIL;
                part->result.msg_len = 0;
            }
        }
        if (--part->lookup->parts_pending == 0)
            resolver_lookup_queue(res, part->lookup);
    }
    resolver_query_free(res, q);
}

static void query_fail(struct dj_resolver *res, struct query *q, enum dj_resolve_status status)
{
    struct part_result r;

    memset(&r, 0, sizeof(r));
    r.status = status;
    query_complete(res, q, &r);
}

/* Starts the next attempt that can be started, or ends the query when none is left. */
void resolver_query_continue(struct dj_resolver *res, struct query *q, uint64_t now)
{
    while (q->server < res->cfg.n_servers) {
        enum dj_upstream_transport transport = res->cfg.upstreams[q->order[q->server]].transport;
        enum start_result r = transport == DJ_UPSTREAM_TLS   ? resolver_dot_start(res, q, now)
                              : transport == DJ_UPSTREAM_TCP ? tcp_start(res, q, now)
                                                             : udp_start(res, q, now);

        if (r == START_OK)
            return;
        if (r == START_LOCAL) {
            query_fail(res, q, DJ_RESOLVE_SERVFAIL);
            return;
        }
        if (transport != DJ_UPSTREAM_TLS)
            resolver_server_bad(resolver_query_server(res, q),
                                now); /* dot_start judged it already */
        res->stats.server_failures++;
        q->server_failed = true;
        q->server++;
        q->attempt_no = 0;
    }
    query_fail(res, q, q->server_failed ? DJ_RESOLVE_SERVFAIL : DJ_RESOLVE_TIMEOUT);
}

void resolver_query_attempt_failed(struct dj_resolver *res, struct query *q, enum attempt_end why,
                                   uint64_t now)
{
    struct server *srv = resolver_query_server(res, q);

    attempt_close(res, q);
    if (why == END_TIMEOUT || why == END_RETRY) {
        if (why == END_TIMEOUT)
            res->stats.timeouts++;
        if (++q->attempt_no >= res->cfg.attempts) {
            if (why == END_TIMEOUT)
                resolver_server_bad(srv, now);
            q->server++;
            q->attempt_no = 0;
        }
    } else {
        if (why == END_SERVER_FAILED)
            resolver_server_bad(srv, now);
        res->stats.server_failures++;
        q->server_failed = true;
        q->server++;
        q->attempt_no = 0;
    }
    resolver_query_continue(res, q, now);
}

static void answer_to_result(const struct dj_resolver *res, const struct dj_dns_answer *answer,
                             struct part_result *r)
{
    memset(r, 0, sizeof(*r));
    switch (answer->status) {
    case DJ_DNSANSWER_OK:
        r->status = DJ_RESOLVE_OK;
        break;
    case DJ_DNSANSWER_NXDOMAIN:
        r->status = DJ_RESOLVE_NXDOMAIN;
        break;
    default:
        r->status = DJ_RESOLVE_NODATA;
        break;
    }
    r->ttl = clamp_ttl(&res->cfg, answer->ttl, r->status != DJ_RESOLVE_OK);
    r->n_addrs = answer->n_addrs;
    for (size_t i = 0; i < answer->n_addrs; i++)
        memcpy(r->addrs[i], answer->addrs[i], answer->addr_len);
}

/* Handles a response to Q's current attempt (OVERSIZED: a datagram longer than MSG, whose
 * first LEN bytes are MSG). Returns true when Q is still waiting on the same attempt (the
 * datagram was not for it); otherwise Q may be gone. */
bool resolver_query_response(struct dj_resolver *res, struct query *q, const uint8_t *msg,
                             size_t len, bool oversized, uint64_t now)
{
    /* Over TCP and TLS the other end is the server itself: no spoofer can reach the stream. */
    bool tcp = q->attempt.transport == TRANSPORT_TCP || q->attempt.transport == TRANSPORT_DOT;
    struct dj_dns_question question;
    struct dj_dns_answer answer;
    struct part_result r;
    enum dj_dnsanswer_status status;
    enum start_result started;

    if (q->raw) {
        const char *problem;

        status = dj_dns_check_raw_response(msg, len, q->attempt.id, q->qname, q->qname_len,
                                           q->qtype, q->qclass, &problem);
    } else {
        question.id = q->attempt.id;
        question.qtype = q->qtype;
        question.qname = q->qname;
        question.qname_len = q->qname_len;
        status = dj_dns_parse_answer(msg, len, &question, &answer);
    }
    if (oversized && status != DJ_DNSANSWER_MISMATCH)
        status = DJ_DNSANSWER_TRUNCATED;
    switch (status) {
    case DJ_DNSANSWER_MISMATCH:
        if (!tcp) {
            res->stats.ignored++;
            return true;
        }
        /* Our own connection to the server: nobody else could have sent this. */
        resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
        return false;
    case DJ_DNSANSWER_TRUNCATED:
        if (tcp) {
            resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return false;
        }
        res->stats.tcp_fallbacks++;
        started = tcp_start(res, q, now);
        if (started == START_LOCAL)
            query_fail(res, q, DJ_RESOLVE_SERVFAIL);
        else if (started == START_UNREACHABLE)
            resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
        return false;
    case DJ_DNSANSWER_SERVFAIL:
    case DJ_DNSANSWER_REJECTED:
    case DJ_DNSANSWER_MALFORMED:
        resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
        return false;
    case DJ_DNSANSWER_OK:
    case DJ_DNSANSWER_NODATA:
    case DJ_DNSANSWER_NXDOMAIN:
        break;
    }
    server_ok(resolver_query_server(res, q));
    record_latency(res, resolver_query_server(res, q), q->attempt.started_ns, now);
    if (q->raw) {
        memset(&r, 0, sizeof(r));
        r.status = status == DJ_DNSANSWER_OK         ? DJ_RESOLVE_OK
                   : status == DJ_DNSANSWER_NXDOMAIN ? DJ_RESOLVE_NXDOMAIN
                                                     : DJ_RESOLVE_NODATA;
        r.msg = (uint8_t *)(uintptr_t)msg; /* copied by query_complete */
        r.msg_len = len;
        query_complete(res, q, &r);
        return false;
    }
    answer_to_result(res, &answer, &r);
    cache_put(res, q, &r, now);
    query_complete(res, q, &r);
    return false;
}

void resolver_udp_ready(struct dj_resolver *res, struct query *q, uint64_t now)
{
    for (int i = 0; i < UDP_READS_PER_EVENT; i++) {
        ssize_t n = recv(q->attempt.fd, res->udp_buffer, sizeof(res->udp_buffer), MSG_TRUNC);
        size_t len;

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            /* ECONNREFUSED: an ICMP port unreachable, nothing listens there. */
            resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return;
        }
        len = (size_t)n < sizeof(res->udp_buffer) ? (size_t)n : sizeof(res->udp_buffer);
        if (!resolver_query_response(res, q, res->udp_buffer, len, (size_t)n > len, now))
            return;
    }
}

void resolver_tcp_ready(struct dj_resolver *res, struct query *q, uint32_t events, uint64_t now)
{
    struct attempt *at = &q->attempt;
    size_t total = q->wire_len + 2;

    if (!at->connected) {
        int error = 0;
        socklen_t error_len = sizeof(error);

        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        if (getsockopt(at->fd, SOL_SOCKET, SO_ERROR, &error, &error_len) < 0)
            error = errno;
        if (error != 0) {
            resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return;
        }
        at->connected = true;
    }
    if (at->sent < total) {
        struct epoll_event ev;
        ssize_t n = send(at->fd, q->wire + at->sent, total - at->sent, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return;
        }
        at->sent += (size_t)n;
        if (at->sent < total)
            return;
        memset(&ev, 0, sizeof(ev));
        ev.events = EPOLLIN;
        ev.data.ptr = q;
        if (epoll_ctl(res->epfd, EPOLL_CTL_MOD, at->fd, &ev) < 0)
            query_fail(res, q, DJ_RESOLVE_SERVFAIL);
        return;
    }
    for (int i = 0; i < TCP_READS_PER_EVENT; i++) {
        bool in_prefix = at->prefix_received < sizeof(at->length_prefix);
        uint8_t *dst = in_prefix ? at->length_prefix + at->prefix_received
                                 : at->response + at->response_received;
        size_t want = in_prefix ? sizeof(at->length_prefix) - at->prefix_received
                                : at->response_len - at->response_received;
        ssize_t n = recv(at->fd, dst, want, 0);

        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (n <= 0) { /* an error, or closed before the whole answer */
            resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return;
        }
        if (in_prefix) {
            at->prefix_received += (size_t)n;
            if (at->prefix_received < sizeof(at->length_prefix))
                continue;
            at->response_len = dj_get16(at->length_prefix);
            if (at->response_len < DJ_DNS_HEADER_SIZE) {
                resolver_query_attempt_failed(res, q, END_SERVER_FAILED, now);
                return;
            }
            at->response = malloc(at->response_len);
            if (at->response == NULL) {
                query_fail(res, q, DJ_RESOLVE_SERVFAIL);
                return;
            }
            continue;
        }
        at->response_received += (size_t)n;
        if (at->response_received == at->response_len) {
            resolver_query_response(res, q, at->response, at->response_len, false, now);
            return;
        }
    }
}

void resolver_timers_expire(struct dj_resolver *res, uint64_t now)
{
    /* A new attempt's deadline is now + timeout_ms (>= 1 ms), so this ends. */
    while (!list_empty(&res->timers)) {
        struct query *q = CONTAINER_OF(res->timers.next, struct query, timer_link);

        if (q->attempt.deadline_ns > now)
            break;
        resolver_query_attempt_failed(res, q, END_TIMEOUT, now);
    }
}

struct query *resolver_query_find(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
                                  size_t name_len, uint16_t qtype, uint16_t qclass, bool raw)
{
    for (struct query *q = res->queries[hash & res->query_mask]; q != NULL; q = q->hash_next) {
        if (q->hash == hash && q->qtype == qtype && q->qclass == qclass && q->raw == raw &&
            q->qname_len == name_len && memcmp(q->qname, name, name_len) == 0)
            return q;
    }
    return NULL;
}

struct query *resolver_query_new(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
                                 size_t name_len, uint16_t qtype, uint16_t qclass, bool raw)
{
    struct query *q = calloc(1, sizeof(*q));

    if (q == NULL)
        return NULL;
    q->hash = hash;
    q->qtype = qtype;
    q->qclass = qclass;
    q->raw = raw;
    memcpy(q->qname, name, name_len);
    q->qname_len = name_len;
    list_init(&q->waiters);
    list_init(&q->timer_link);
    list_init(&q->dot_link);
    query_order(res, q, resolver_now(res));
    q->attempt.fd = -1;
    q->hash_next = res->queries[hash & res->query_mask];
    res->queries[hash & res->query_mask] = q;
    res->n_queries++;
    res->stats.queries++;
    return q;
}
