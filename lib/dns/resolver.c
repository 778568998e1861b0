/* resolver.c: asynchronous lookups and forwarded queries for the daemons (see resolver.h).
 *
 * Three layers, bottom up:
 *  - transport (udp_start, tcp_start, dot_start and their _ready): one attempt = one query
 *    sent to one server, with its framing and deadline; it hands the bytes it receives to
 *    resolver_query_response(). UDP and TCP attempts own a socket each; DoT attempts ride on their
 *    server's one connection (lib/dns/dot), matched by id, ids unique on the connection. The
 *    connection is made on demand with its own handshake deadline (timeout_ms, at least
 *    DOT_MIN_HANDSHAKE_MS), queries are queued on it and written when the socket is writable
 *    (never from inside query_continue, which would re-enter the query being started), and it
 *    is closed after DOT_IDLE_MS without queries. When the server closes an established
 *    connection, its queries get another attempt on a new one (END_RETRY); when it fails
 *    (connect, handshake, certificate, pin) they go to the next server (END_CONN_FAILED).
 *  - query (struct query): one (name, type) asked of the servers in order: attempts per
 *    server, then the next server; TC=1 retried over TCP; answers checked by lib/dnsanswer.
 *    Identical questions in flight share one query (coalescing).
 *  - lookup (struct dj_lookup): a caller's request for one or two families, answered from
 *    the cache or by queries, completed through the callback in dj_resolver_process().
 *
 * Choices:
 *  - Each UDP attempt gets its own socket, connect()ed to the server: the kernel picks a
 *    random ephemeral source port (Linux draws the starting point with get_random_u32) and
 *    drops datagrams from any other address or port, so a spoofer must guess port and id.
 *    Ids are 16 random bits from getrandom(2), fetched in batches of RANDOM_POOL bytes.
 *  - Datagrams from the server that do not answer the question (another id, name or type)
 *    are ignored and the attempt keeps waiting; an answer of the right question that is an
 *    error (SERVFAIL, REFUSED, ...), malformed, or an ICMP "port unreachable" moves on to the
 *    next server at once; a timeout uses the next attempt on the same server. When every
 *    server is used up, the lookup gets SERVFAIL if some server answered with an error or
 *    could not be reached, TIMEOUT otherwise.
 *  - A TC=1 answer is asked again of the same server over TCP (non-blocking connect, 2-byte
 *    framing, the attempt's timeout covering connect, send and receive). At most MAX_TCP
 *    TCP attempts run at once, since each may hold a 64 KiB response buffer.
 *  - AF_UNSPEC asks A and AAAA in parallel and completes when both are done. Addresses come
 *    IPv6 first; when both families have addresses each keeps at least half of the
 *    DJ_RESOLVER_MAX_ADDRS slots. Status: OK if either has addresses, else NXDOMAIN if either
 *    says so, else SERVFAIL, else TIMEOUT, else NODATA.
 *  - Cache: keyed by (lower-cased name, type), so AF_INET and AF_UNSPEC lookups share the A
 *    entry. OK, NXDOMAIN and NODATA are cached; SERVFAIL and TIMEOUT are not (the next
 *    lookup asks again). TTLs are clamped to [ttl_floor, ttl_ceiling]; negative ones to at
 *    most NEGATIVE_TTL_MAX as well (RFC 2308 suggests 1-3 hours; a name that starts to exist
 *    should not stay unreachable that long). A negative answer without SOA gets the floor.
 *    LRU eviction at cache_entries; expiry on the monotonic clock, checked when looked up.
 *    Hash tables are keyed with SipHash-2-4 and a random key: the names come from what
 *    containers ask for, so they must not be able to pile entries into one bucket.
 *  - Names are checked by dj_dns_name_from_text() (ASCII host names, no IP literals) and
 *    asked as given, lower-cased: no search list is ever applied, so a name a container
 *    connects to is never sent to other zones ("internal.corp" must not become
 *    "internal.corp.search.domain" queries that leak it to whoever runs those zones).
 *  - Completions are queued and delivered by dj_resolver_process(); a lookup answered from
 *    the cache is queued too, and an eventfd in the resolver's epoll set wakes the caller.
 *    A callback that starts a lookup answered from the cache gets that callback on the next
 *    call, so callbacks cannot keep one call going forever.
 *  - Raw queries (dj_resolver_query, for the stub's forward zones) are queries with the raw
 *    flag: any type and class, the name's case kept, checked by dj_dns_check_raw_response()
 *    (question, framing, rcode) instead of the address parser, never cached (the stub caches
 *    what it forwards), coalesced only with identical raw questions. The response is copied
 *    for each waiting handle, since the buffer it arrived in belongs to the attempt.
 *  - Health: each server counts its failures in a row; a new query orders the servers healthy
 *    ones first (config order), then those in their back-off pause (BACKOFF_BASE_MS doubling
 *    to BACKOFF_MAX_MS). A DoT server in its pause is skipped rather than reconnected, so a
 *    dead or misconfigured DoT server costs one connection attempt per pause, not one per
 *    query. Any accepted answer makes the server healthy again.
 *  - Bounded: lookups (max_inflight), queries (two per lookup at most), TCP attempts
 *    (MAX_TCP), cache entries (cache_entries), events per call (EVENT_BATCH), reads per
 *    socket per call.
 *
 * System calls after dj_resolver_new(), for the caller's seccomp allowlist:
 *   socket, connect, sendto (send), recvfrom (recv), getsockopt (SO_ERROR after a TCP
 *   connect), epoll_ctl, epoll_wait (epoll_pwait on some architectures), getrandom
 *   (GRND_NONBLOCK; OpenSSL's too), read and write (the eventfd, log lines), close,
 *   clock_gettime (normally the vDSO), getpid, futex and newfstatat (OpenSSL and glibc's
 *   time zone check), and what malloc uses (brk, mmap, munmap).
 * dj_resolver_new() also uses epoll_create1, eventfd2 and getrandom (blocking until the
 * kernel's pool is ready, which it is long after boot), and for tls:// servers reads the CA
 * file, openssl.cnf and /etc/localtime (lib/dns/dot); dj_resolver_config_from_resolv_conf()
 * uses openat, fstat/newfstatat, read and close (call them before the sandbox). */
#include "config.h"
#include "dns/resolver.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/pages.h"
#include "base/siphash.h"
#include "dns/dnsanswer.h"
#include "daemon/jsonlog.h"
#include "dns/dnswire.h"
#include "dns/dot.h"
#include "dns/resolver-internal.h"

#define MAX_TIMEOUT_MS 60000
#define MAX_ATTEMPTS 10
#define MAX_CACHE_ENTRIES (1u << 20)
#define MAX_INFLIGHT (1u << 20)
#define MAX_QUERY_BUCKETS (1u << 16) /* beyond, chains grow: SipHash keeps them even */
#define EVENT_BATCH 64
#define NAME_IN_MESSAGE 80

/* ---- small helpers --------------------------------------------------------------------- */

/* Now on the resolver's clock: the caller's (cfg.clock_ns) or CLOCK_MONOTONIC. */
uint64_t resolver_now(const struct dj_resolver *res)
{
    return res->cfg.clock_ns != NULL ? res->cfg.clock_ns(res->cfg.clock_ctx) : dj_monotonic_ns();
}

static size_t pow2_at_least(size_t n)
{
    size_t p = 1;

    while (p < n)
        p <<= 1;
    return p;
}

/* A copy of NAME that is safe to put in a message (cut short, odd bytes as '?'). */
static void printable(const char *name, char *out, size_t size)
{
    size_t i = 0;

    for (; name[i] != '\0' && i + 1 < size; i++)
        out[i] = name[i] > 0x20 && name[i] < 0x7F ? name[i] : '?';
    out[i] = '\0';
}

/* The key of a question: raw queries never share a query with lookups (their answers are
 * handled differently), nor the cache (they have no entries there). */
static uint64_t key_hash(const struct dj_resolver *res, const uint8_t *name, size_t name_len,
                         uint16_t qtype, uint16_t qclass, bool raw)
{
    uint8_t key[5 + DJ_DNS_MAX_NAME];

    key[0] = (uint8_t)(qtype >> 8);
    key[1] = (uint8_t)qtype;
    key[2] = (uint8_t)(qclass >> 8);
    key[3] = (uint8_t)qclass;
    key[4] = raw;
    memcpy(key + 5, name, name_len);
    return dj_siphash24(res->hash_key, key, 5 + name_len);
}

/* ---- lookups --------------------------------------------------------------------------- */

static void wake(struct dj_resolver *res)
{
    uint64_t one = 1;

    if (res->wake_pending)
        return;
    /* Only fails if the counter would overflow, which a drained counter cannot; the
     * zero timeout from dj_resolver_timeout_ms() covers the completion anyway. */
    if (write(res->wakefd, &one, sizeof(one)) == (ssize_t)sizeof(one))
        res->wake_pending = true;
}

void resolver_lookup_queue(struct dj_resolver *res, struct dj_lookup *l)
{
    l->state = LOOKUP_QUEUED;
    list_add_tail(&res->completions, &l->completion_link);
    wake(res);
}

static void lookup_free(struct dj_resolver *res, struct dj_lookup *l)
{
    for (size_t i = 0; i < l->n_parts; i++)
        free(l->parts[i].result.msg);
    list_del(&l->all_link);
    res->n_lookups--;
    free(l);
}

static void lookup_result(const struct dj_lookup *l, struct dj_resolve_result *out)
{
    const struct part_result *v6 = NULL, *v4 = NULL;
    bool any_ok = false, any_nxdomain = false, any_servfail = false, any_timeout = false;
    bool have_ttl = false;
    uint32_t ttl = UINT32_MAX;
    size_t n6 = 0, n4 = 0, take6, take4;

    memset(out, 0, sizeof(*out));
    out->from_cache = true;
    for (size_t i = 0; i < l->n_parts; i++) {
        const struct part_result *r = &l->parts[i].result;

        if (l->parts[i].qtype == DJ_DNS_TYPE_AAAA)
            v6 = r;
        else
            v4 = r;
        any_ok |= r->status == DJ_RESOLVE_OK;
        any_nxdomain |= r->status == DJ_RESOLVE_NXDOMAIN;
        any_servfail |= r->status == DJ_RESOLVE_SERVFAIL;
        any_timeout |= r->status == DJ_RESOLVE_TIMEOUT;
        if (resolver_cacheable(r->status)) {
            have_ttl = true;
            if (r->ttl < ttl)
                ttl = r->ttl;
        }
        out->from_cache &= r->from_cache;
    }
    if (any_ok)
        out->status = DJ_RESOLVE_OK;
    else if (any_nxdomain)
        out->status = DJ_RESOLVE_NXDOMAIN;
    else if (any_servfail)
        out->status = DJ_RESOLVE_SERVFAIL;
    else if (any_timeout)
        out->status = DJ_RESOLVE_TIMEOUT;
    else
        out->status = DJ_RESOLVE_NODATA;
    out->ttl = have_ttl ? ttl : 0;

    if (v6 != NULL && v6->status == DJ_RESOLVE_OK)
        n6 = v6->n_addrs;
    if (v4 != NULL && v4->status == DJ_RESOLVE_OK)
        n4 = v4->n_addrs;
    take6 =
        DJ_RESOLVER_MAX_ADDRS - (n4 < DJ_RESOLVER_MAX_ADDRS / 2 ? n4 : DJ_RESOLVER_MAX_ADDRS / 2);
    if (take6 > n6)
        take6 = n6;
    take4 = DJ_RESOLVER_MAX_ADDRS - take6;
    if (take4 > n4)
        take4 = n4;
    for (size_t i = 0; i < take6; i++) {
        out->addrs[out->n_addrs].family = AF_INET6;
        memcpy(out->addrs[out->n_addrs++].addr, v6->addrs[i], 16);
    }
    for (size_t i = 0; i < take4; i++) {
        out->addrs[out->n_addrs].family = AF_INET;
        memcpy(out->addrs[out->n_addrs++].addr, v4->addrs[i], 4);
    }
}
/* ---- public ---------------------------------------------------------------------------- */

struct dj_resolver *dj_resolver_new(const struct dj_resolver_config *cfg, dj_error_t *err)
{
    struct dj_resolver *res;
    struct epoll_event ev;
    size_t filled = 0;

    if (cfg->n_servers == 0 || cfg->n_servers > DJ_RESOLVER_MAX_SERVERS) {
        dj_error_make(err, 0, "resolver: no DNS server configured");
        return NULL;
    }
    for (size_t i = 0; i < cfg->n_servers; i++) {
        const struct sockaddr_storage *s = &cfg->servers[i];
        in_port_t port = s->ss_family == AF_INET
                             ? ((const struct sockaddr_in *)(const void *)s)->sin_port
                             : ((const struct sockaddr_in6 *)(const void *)s)->sin6_port;

        if ((s->ss_family != AF_INET && s->ss_family != AF_INET6) || port == 0) {
            dj_error_make(err, 0,
                          "resolver: DNS server %zu is not an IPv4 or IPv6 address "
                          "with a port",
                          i + 1);
            return NULL;
        }
    }
    if (cfg->timeout_ms == 0 || cfg->timeout_ms > MAX_TIMEOUT_MS || cfg->attempts == 0 ||
        cfg->attempts > MAX_ATTEMPTS || cfg->ttl_floor > cfg->ttl_ceiling ||
        cfg->cache_entries > MAX_CACHE_ENTRIES || cfg->max_inflight == 0 ||
        cfg->max_inflight > MAX_INFLIGHT) {
        dj_error_make(err, 0,
                      "resolver: settings out of range (timeout 1..%u ms, attempts 1..%u, "
                      "ttl floor <= ceiling, cache <= %u entries, 1..%u lookups in flight)",
                      MAX_TIMEOUT_MS, MAX_ATTEMPTS, MAX_CACHE_ENTRIES, MAX_INFLIGHT);
        return NULL;
    }

    if (cfg->n_pool_fds > DJ_RESOLVER_MAX_POOL ||
        (cfg->n_pool_fds > 0 &&
         (cfg->n_servers != 1 || cfg->upstreams[0].transport == DJ_UPSTREAM_TLS))) {
        dj_error_make(err, 0, "resolver: a socket pool (at most %d) serves one plain DNS server",
                      DJ_RESOLVER_MAX_POOL);
        return NULL;
    }
    res = dj_pages_calloc(1, sizeof(*res));
    if (res == NULL) {
        dj_error_make(err, ENOMEM, "resolver");
        return NULL;
    }
    res->cfg = *cfg;
    res->epfd = -1;
    res->wakefd = -1;
    for (size_t i = 0; i < DJ_RESOLVER_MAX_SERVERS; i++) {
        res->servers[i].index = i;
        list_init(&res->servers[i].dot_queries);
    }
    /* Everything a tls:// server needs from files (CA certificates, OpenSSL's configuration)
     * is read now, before the caller's sandbox. */
    for (size_t i = 0; i < cfg->n_servers; i++) {
        if (cfg->upstreams[i].transport != DJ_UPSTREAM_TLS)
            continue;
        if (memcmp(&cfg->upstreams[i].addr, &cfg->servers[i], sizeof(cfg->servers[i])) != 0) {
            dj_error_make(err, 0, "resolver: DNS server %zu: address and TLS settings disagree",
                          i + 1);
            goto fail;
        }
        res->servers[i].dot_ctx = dj_dot_ctx_new(&cfg->upstreams[i], err);
        if (res->servers[i].dot_ctx == NULL) {
            dj_error_wrap(err, "resolver: DNS server %zu", i + 1);
            goto fail;
        }
    }
    list_init(&res->timers);
    list_init(&res->lookups);
    list_init(&res->completions);
    list_init(&res->lru);

    while (filled < sizeof(res->hash_key)) {
        ssize_t n = getrandom(res->hash_key + filled, sizeof(res->hash_key) - filled, 0);

        if (n < 0 && errno != EINTR) {
            dj_error_make(err, errno, "resolver: getrandom");
            goto fail;
        }
        if (n > 0)
            filled += (size_t)n;
    }
    res->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (res->epfd < 0) {
        dj_error_make(err, errno, "resolver: epoll_create1");
        goto fail;
    }
    res->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (res->wakefd < 0) {
        dj_error_make(err, errno, "resolver: eventfd");
        goto fail;
    }
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.ptr = &res->wakefd;
    if (epoll_ctl(res->epfd, EPOLL_CTL_ADD, res->wakefd, &ev) < 0) {
        dj_error_make(err, errno, "resolver: epoll_ctl");
        goto fail;
    }
    /* Two queries per lookup at most: that many buckets keeps chains around one, up to a
     * table of MAX_QUERY_BUCKETS (512 KiB), so a huge max_inflight costs nothing up front. */
    res->query_mask = pow2_at_least(2 * cfg->max_inflight) - 1;
    if (res->query_mask >= MAX_QUERY_BUCKETS)
        res->query_mask = MAX_QUERY_BUCKETS - 1;
    res->queries = dj_pages_calloc(res->query_mask + 1, sizeof(*res->queries));
    if (cfg->cache_entries > 0) {
        res->cache_mask = pow2_at_least(cfg->cache_entries) - 1;
        res->cache = dj_pages_calloc(res->cache_mask + 1, sizeof(*res->cache));
    }
    if (res->queries == NULL || (cfg->cache_entries > 0 && res->cache == NULL)) {
        dj_error_make(err, ENOMEM, "resolver");
        goto fail;
    }
    return res;

fail:
    dj_resolver_free(res);
    return NULL;
}

void dj_resolver_free(struct dj_resolver *res)
{
    if (res == NULL)
        return;
    while (!list_empty(&res->lookups)) {
        struct dj_lookup *l = CONTAINER_OF(res->lookups.next, struct dj_lookup, all_link);

        for (size_t i = 0; i < l->n_parts; i++)
            list_del(&l->parts[i].waiter_link);
        lookup_free(res, l);
    }
    if (res->queries != NULL) {
        for (size_t b = 0; b <= res->query_mask; b++) {
            while (res->queries[b] != NULL)
                resolver_query_free(res, res->queries[b]);
        }
    }
    while (!list_empty(&res->lru))
        resolver_cache_remove(res, CONTAINER_OF(res->lru.next, struct cache_entry, lru_link));
    for (size_t i = 0; i < DJ_RESOLVER_MAX_SERVERS; i++) {
        dj_dot_conn_free(res->servers[i].conn);
        dj_dot_ctx_free(res->servers[i].dot_ctx);
    }
    dj_pages_free(res->queries, res->query_mask + 1, sizeof(*res->queries));
    dj_pages_free(res->cache, res->cache_mask + 1, sizeof(*res->cache));
    if (res->wakefd >= 0)
        close(res->wakefd);
    if (res->epfd >= 0)
        close(res->epfd);
    dj_pages_free(res, 1, sizeof(*res));
}

int dj_resolver_fd(const struct dj_resolver *res)
{
    return res->epfd;
}

int dj_resolver_timeout_ms(const struct dj_resolver *res)
{
    const struct query *q;
    uint64_t now, ms;

    uint64_t next = UINT64_MAX;

    if (!list_empty(&res->completions))
        return 0;
    if (!list_empty(&res->timers)) {
        q = CONTAINER_OF(res->timers.next, struct query, timer_link);
        next = q->attempt.deadline_ns;
    }
    for (size_t i = 0; i < res->cfg.n_servers; i++) {
        const struct server *srv = &res->servers[i];

        if (srv->conn != NULL && srv->conn_deadline_ns != 0 && srv->conn_deadline_ns < next)
            next = srv->conn_deadline_ns;
    }
    if (next == UINT64_MAX)
        return -1;
    now = resolver_now(res);
    if (next <= now)
        return 0;
    /* Rounded up, so the caller does not wake just before the deadline and spin. */
    ms = (next - now + NS_PER_MS - 1) / NS_PER_MS;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

void dj_resolver_process(struct dj_resolver *res)
{
    struct epoll_event events[EVENT_BATCH];
    struct list ready;
    uint64_t now = resolver_now(res);
    int n = epoll_wait(res->epfd, events, EVENT_BATCH, 0);

    res->now_ns = now;
    res->batch = events;
    res->batch_len = n > 0 ? n : 0;
    for (res->batch_pos = 0; res->batch_pos < res->batch_len; res->batch_pos++) {
        struct epoll_event *ev = &events[res->batch_pos];
        struct query *q;

        if (ev->data.ptr == NULL || ev->data.ptr == &res->wakefd)
            continue;
        if ((char *)ev->data.ptr >= (char *)res->servers &&
            (char *)ev->data.ptr < (char *)(res->servers + DJ_RESOLVER_MAX_SERVERS)) {
            struct server *srv = ev->data.ptr;

            if (srv->conn != NULL)
                resolver_dot_ready(res, srv, now);
            continue;
        }
        q = ev->data.ptr;
        if (q->attempt.transport == TRANSPORT_UDP)
            resolver_udp_ready(res, q, now);
        else if (q->attempt.transport == TRANSPORT_TCP)
            resolver_tcp_ready(res, q, ev->events, now);
    }
    res->batch = NULL;
    res->batch_len = 0;
    res->batch_pos = 0;
    resolver_timers_expire(res, now);
    resolver_dot_timers(res, now);

    if (res->wake_pending) {
        uint64_t count;

        if (read(res->wakefd, &count, sizeof(count)) < 0) {
            /* EAGAIN: already drained; nothing else can fail on an eventfd */
        }
        res->wake_pending = false;
    }
    /* Only what is complete now; see the top of the file. */
    list_init(&ready);
    list_move_all(&res->completions, &ready);
    while (!list_empty(&ready)) {
        struct dj_lookup *l = CONTAINER_OF(ready.next, struct dj_lookup, completion_link);
        struct dj_resolve_result result;

        list_del(&l->completion_link);
        l->state = LOOKUP_CALLING;
        if (l->raw_cb != NULL) {
            const struct part_result *r = &l->parts[0].result;

            l->raw_cb(l->ctx, r->status, r->msg, r->msg_len);
        } else {
            lookup_result(l, &result);
            l->cb(l->ctx, &result);
        }
        lookup_free(res, l);
    }
}

int dj_resolver_check_name(const char *name, dj_error_t *err)
{
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len;
    char shown[NAME_IN_MESSAGE];
    const char *problem;

    if (name == NULL)
        return dj_error_make(err, 0, "no name to look up");
    problem = dj_dns_name_from_text(name, wire, &wire_len);
    if (problem == NULL)
        return 0;
    printable(name, shown, sizeof(shown));
    return dj_error_make(err, 0, "will not look up \"%s\": %s", shown, problem);
}

struct dj_lookup *dj_resolver_lookup(struct dj_resolver *res, const char *name, int family,
                                     dj_resolve_cb cb, void *ctx, dj_error_t *err)
{
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len;
    struct query *started[2];
    size_t n_started = 0;
    struct dj_lookup *l;
    uint64_t now;

    if (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC) {
        dj_error_make(err, 0, "lookup: address family %d is not AF_INET, AF_INET6 or AF_UNSPEC",
                      family);
        return NULL;
    }
    if (cb == NULL) {
        dj_error_make(err, 0, "lookup: no callback");
        return NULL;
    }
    if (name == NULL || dj_dns_name_from_text(name, wire, &wire_len) != NULL) {
        dj_resolver_check_name(name, err); /* says why */
        return NULL;
    }
    if (res->n_lookups >= res->cfg.max_inflight) {
        dj_error_make(err, EAGAIN, "lookup: %zu lookups already in flight", res->n_lookups);
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        dj_error_make(err, ENOMEM, "lookup");
        return NULL;
    }
    l->res = res;
    l->state = LOOKUP_WAITING;
    l->cb = cb;
    l->ctx = ctx;
    list_init(&l->completion_link);
    list_add_tail(&res->lookups, &l->all_link);
    res->n_lookups++;
    res->stats.lookups++;
    if (family != AF_INET)
        l->parts[l->n_parts++].qtype = DJ_DNS_TYPE_AAAA;
    if (family != AF_INET6)
        l->parts[l->n_parts++].qtype = DJ_DNS_TYPE_A;
    l->parts_pending = l->n_parts;

    /* Every part is attached before any query starts: a query that fails at once completes
     * its waiters, and the lookup must not be queued while a part is still unattached. */
    now = resolver_now(res);
    for (size_t i = 0; i < l->n_parts; i++) {
        struct lookup_part *part = &l->parts[i];
        uint64_t hash = key_hash(res, wire, wire_len, part->qtype, DJ_DNS_CLASS_IN, false);
        struct cache_entry *e = resolver_cache_find(res, hash, wire, wire_len, part->qtype, now);
        struct query *q;

        part->lookup = l;
        list_init(&part->waiter_link);
        if (e != NULL) {
            resolver_cache_result(e, now, &part->result);
            part->done = true;
            l->parts_pending--;
            res->stats.cache_hits++;
            continue;
        }
        q = resolver_query_find(res, hash, wire, wire_len, part->qtype, DJ_DNS_CLASS_IN, false);
        if (q != NULL) {
            res->stats.coalesced++;
        } else {
            q = resolver_query_new(res, hash, wire, wire_len, part->qtype, DJ_DNS_CLASS_IN, false);
            if (q == NULL) {
                part->result.status = DJ_RESOLVE_SERVFAIL;
                part->done = true;
                l->parts_pending--;
                continue;
            }
            started[n_started++] = q;
        }
        part->query = q;
        list_add_tail(&q->waiters, &part->waiter_link);
    }
    if (l->parts_pending == 0)
        resolver_lookup_queue(res, l);
    for (size_t i = 0; i < n_started; i++)
        resolver_query_continue(res, started[i], now);
    return l;
}

/* Meta types that cannot be asked as a plain question of a forwarder. */
static bool forwardable_type(uint16_t qtype)
{
    return qtype != DJ_DNS_TYPE_OPT && qtype != 249 /* TKEY */ && qtype != 250 /* TSIG */ &&
           qtype != 251 /* IXFR */ && qtype != 252 /* AXFR */;
}

struct dj_lookup *dj_resolver_query(struct dj_resolver *res, const uint8_t *qname_wire,
                                    size_t qname_len, uint16_t qtype, uint16_t qclass,
                                    dj_query_cb cb, void *ctx, dj_error_t *err)
{
    struct lookup_part *part;
    struct dj_lookup *l;
    struct query *q;
    uint64_t hash;

    if (cb == NULL) {
        dj_error_make(err, 0, "query: no callback");
        return NULL;
    }
    if (qname_wire == NULL || !dj_dns_wire_name_ok(qname_wire, qname_len)) {
        dj_error_make(err, 0, "query: not a well-formed uncompressed name");
        return NULL;
    }
    if (!forwardable_type(qtype)) {
        dj_error_make(err, 0, "query: type %u cannot be forwarded", (unsigned)qtype);
        return NULL;
    }
    if (res->n_lookups >= res->cfg.max_inflight) {
        dj_error_make(err, EAGAIN, "query: %zu lookups already in flight", res->n_lookups);
        return NULL;
    }
    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        dj_error_make(err, ENOMEM, "query");
        return NULL;
    }
    l->res = res;
    l->state = LOOKUP_WAITING;
    l->raw_cb = cb;
    l->ctx = ctx;
    l->n_parts = 1;
    l->parts_pending = 1;
    list_init(&l->completion_link);
    list_add_tail(&res->lookups, &l->all_link);
    res->n_lookups++;
    res->stats.raw_queries++;
    part = &l->parts[0];
    part->lookup = l;
    part->qtype = qtype;
    list_init(&part->waiter_link);

    hash = key_hash(res, qname_wire, qname_len, qtype, qclass, true);
    q = resolver_query_find(res, hash, qname_wire, qname_len, qtype, qclass, true);
    if (q != NULL) {
        res->stats.coalesced++;
        part->query = q;
        list_add_tail(&q->waiters, &part->waiter_link);
        return l;
    }
    q = resolver_query_new(res, hash, qname_wire, qname_len, qtype, qclass, true);
    if (q == NULL) {
        part->result.status = DJ_RESOLVE_SERVFAIL;
        part->done = true;
        l->parts_pending = 0;
        resolver_lookup_queue(res, l);
        return l;
    }
    part->query = q;
    list_add_tail(&q->waiters, &part->waiter_link);
    resolver_query_continue(res, q, resolver_now(res));
    return l;
}

void dj_resolver_cancel(struct dj_lookup *l)
{
    struct dj_resolver *res;

    if (l == NULL)
        return;
    res = l->res;
    switch (l->state) {
    case LOOKUP_CALLING:
        return; /* from its own callback: it is freed when the callback returns */
    case LOOKUP_QUEUED:
        list_del(&l->completion_link);
        break;
    case LOOKUP_WAITING:
        for (size_t i = 0; i < l->n_parts; i++) {
            struct query *q = l->parts[i].query;

            if (q == NULL)
                continue;
            list_del(&l->parts[i].waiter_link);
            l->parts[i].query = NULL;
            /* Nobody else wants it: stop asking and free the socket. */
            if (list_empty(&q->waiters))
                resolver_query_free(res, q);
        }
        break;
    }
    lookup_free(res, l);
}

const char *dj_resolver_status_text(enum dj_resolve_status status)
{
    switch (status) {
    case DJ_RESOLVE_OK:
        return "OK";
    case DJ_RESOLVE_NXDOMAIN:
        return "NXDOMAIN";
    case DJ_RESOLVE_NODATA:
        return "NODATA";
    case DJ_RESOLVE_SERVFAIL:
        return "SERVFAIL";
    case DJ_RESOLVE_TIMEOUT:
        return "TIMEOUT";
    case DJ_RESOLVE_BAD_NAME:
        return "BAD_NAME";
    case DJ_RESOLVE_CANCELLED:
        return "CANCELLED";
    }
    return "UNKNOWN";
}

void dj_resolver_set_log(struct dj_resolver *res, struct dj_log *log)
{
    res->log = log;
}

void dj_resolver_get_stats(const struct dj_resolver *res, struct dj_resolver_stats *stats)
{
    uint64_t now = resolver_now(res);

    *stats = res->stats;
    stats->n_servers = res->cfg.n_servers;
    for (size_t i = 0; i < res->cfg.n_servers; i++) {
        const struct server *srv = &res->servers[i];

        stats->servers[i] = srv->stats;
        stats->servers[i].transport = res->cfg.upstreams[i].transport;
        stats->servers[i].consecutive_failures = srv->failures;
        stats->servers[i].healthy = resolver_server_healthy(srv, now);
        stats->servers[i].dot_connected = srv->conn != NULL && srv->conn_ready;
    }
    stats->cache_size = res->cache_count;
    stats->lookups_in_flight = res->n_lookups;
    stats->queries_in_flight = res->n_queries;
}
