/* resolver.c: asynchronous lookups and forwarded queries for the daemons (see resolver.h).
 *
 * Three layers, bottom up:
 *  - transport (udp_start, tcp_start, dot_start and their _ready): one attempt = one query
 *    sent to one server, with its framing and deadline; it hands the bytes it receives to
 *    query_response(). UDP and TCP attempts own a socket each; DoT attempts ride on their
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
#include "base/bytes.h"
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "dns/dnsanswer.h"
#include "dns/dot.h"
#include "dns/dnswire.h"
#include "daemon/jsonlog.h"
#include "base/pages.h"
#include "base/siphash.h"
#include "dns/upstream.h"

#define MAX_TIMEOUT_MS 60000
#define MAX_ATTEMPTS 10
#define MAX_CACHE_ENTRIES (1u << 20)
#define MAX_INFLIGHT (1u << 20)
#define MAX_QUERY_BUCKETS (1u << 16) /* beyond, chains grow: SipHash keeps them even */
#define NEGATIVE_TTL_MAX 300
#define MAX_TCP 64
#define UDP_BUFFER_SIZE 4096 /* above our advertised 1232; larger datagrams count as TC=1 */
#define EVENT_BATCH 64
#define UDP_READS_PER_EVENT 16
#define TCP_READS_PER_EVENT 8
#define RANDOM_POOL 256
#define NAME_IN_MESSAGE 80

#define BACKOFF_BASE_MS 500       /* first pause after a server failed */
#define BACKOFF_MAX_MS 10000      /* longest pause */
#define DOT_IDLE_MS 10000         /* an unused DoT connection is closed after this */
#define DOT_MIN_HANDSHAKE_MS 2000 /* connect and handshake: at least this, else timeout_ms */
#define DOT_MAX_PENDING 1024      /* queries on one DoT connection at once (ids: linear scans) */
#define ID_TRIES 16

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

_Static_assert(DJ_DNSANSWER_MAX_ADDRS == DJ_RESOLVER_MAX_ADDRS,
               "a query's addresses must fit a result");

/* ---- intrusive doubly linked lists ----------------------------------------------------- */

struct list {
    struct list *prev;
    struct list *next;
};

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static void list_init(struct list *l)
{
    l->prev = l;
    l->next = l;
}

static bool list_empty(const struct list *l)
{
    return l->next == l;
}

static void list_insert_after(struct list *pos, struct list *n)
{
    n->prev = pos;
    n->next = pos->next;
    pos->next->prev = n;
    pos->next = n;
}

static void list_add_tail(struct list *head, struct list *n)
{
    list_insert_after(head->prev, n);
}

/* Leaves N linked to itself, so removing it twice is harmless. */
static void list_del(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* Moves every node of FROM to the empty list TO. */
static void list_move_all(struct list *from, struct list *to)
{
    if (list_empty(from))
        return;
    to->next = from->next;
    to->prev = from->prev;
    to->next->prev = to;
    to->prev->next = to;
    list_init(from);
}

/* ---- state ----------------------------------------------------------------------------- */

/* One family's outcome, as delivered to the lookups waiting for it. */
struct part_result {
    enum dj_resolve_status status;
    uint32_t ttl; /* seconds, clamped; 0 for SERVFAIL and TIMEOUT */
    bool from_cache;
    size_t n_addrs;
    uint8_t addrs[DJ_RESOLVER_MAX_ADDRS][16];
    uint8_t *msg; /* raw queries: the response, owned by the part once delivered to it */
    size_t msg_len;
};

struct lookup_part {
    struct dj_lookup *lookup;
    uint16_t qtype;
    bool done;
    struct query *query;     /* while waiting for it */
    struct list waiter_link; /* in query->waiters */
    struct part_result result;
};

enum lookup_state {
    LOOKUP_WAITING, /* for its queries */
    LOOKUP_QUEUED,  /* on res->completions, or the batch dj_resolver_process() is running */
    LOOKUP_CALLING, /* its callback is running */
};

struct dj_lookup {
    struct dj_resolver *res;
    enum lookup_state state;
    dj_resolve_cb cb;
    dj_query_cb raw_cb; /* instead of cb for dj_resolver_query(): one part */
    void *ctx;
    size_t n_parts; /* AAAA first, then A */
    size_t parts_pending;
    struct lookup_part parts[2];
    struct list completion_link;
    struct list all_link; /* res->lookups: so dj_resolver_free() finds every handle */
};

enum transport {
    TRANSPORT_NONE,
    TRANSPORT_UDP,
    TRANSPORT_TCP,
    TRANSPORT_DOT, /* on its server's shared connection: fd -1 */
};

/* One try at one server. */
struct attempt {
    enum transport transport;
    int fd;
    uint16_t id;
    uint64_t started_ns; /* for the latency histogram */
    uint64_t deadline_ns;
    /* TCP only */
    bool connected;
    size_t sent; /* bytes of the framed query */
    uint8_t length_prefix[2];
    size_t prefix_received;
    uint8_t *response;
    size_t response_len;
    size_t response_received;
};

struct query {
    struct query *hash_next;
    uint64_t hash;
    uint16_t qtype;
    uint16_t qclass;
    bool raw;                       /* for dj_resolver_query(): the response is handed on */
    uint8_t qname[DJ_DNS_MAX_NAME]; /* wire form, lower-cased unless raw */
    size_t qname_len;
    struct list waiters;                   /* struct lookup_part */
    struct list timer_link;                /* res->timers, ordered by attempt.deadline_ns */
    struct list dot_link;                  /* its server's dot_queries while a DoT attempt runs */
    size_t order[DJ_RESOLVER_MAX_SERVERS]; /* servers to try, healthy ones first */
    size_t server;                         /* position in order */
    unsigned attempt_no;                   /* attempts made on that server */
    bool server_failed; /* some server answered with an error or was unreachable */
    struct attempt attempt;
    uint8_t wire[2 + DJ_DNS_MAX_QUERY]; /* TCP length prefix, then the query */
    size_t wire_len;                    /* of the query, without the prefix */
};

struct cache_entry {
    struct cache_entry *hash_next;
    struct list lru_link; /* most recently used first */
    uint64_t hash;
    uint64_t expires_ns;
    uint16_t qtype;
    enum dj_resolve_status status;
    size_t n_addrs;
    size_t name_len;
    uint8_t data[]; /* the name, then the addresses (4 or 16 bytes each) */
};

/* What the resolver knows about one configured server: its health and, for tls://, its
 * connection. Epoll events for the connection point here. */
struct server {
    size_t index;
    unsigned failures;       /* in a row; 0 = healthy */
    uint64_t retry_after_ns; /* backoff: until then it is tried last (DoT: not reconnected) */
    struct dj_dot_ctx *dot_ctx;
    struct dj_dot_conn *conn;
    uint32_t conn_events;      /* registered in the epoll set */
    bool conn_ready;           /* handshake and checks done */
    uint64_t conn_deadline_ns; /* handshake deadline, or idle close; 0 = none */
    struct list dot_queries;   /* struct query, by dot_link */
    size_t n_dot_queries;
    struct dj_resolver_server_stats stats;
};

struct dj_resolver {
    struct dj_resolver_config cfg;
    struct server servers[DJ_RESOLVER_MAX_SERVERS];
    struct dj_log *log;
    uint64_t now_ns; /* of the dj_resolver_process() call running */
    int epfd;
    int wakefd;
    bool wake_pending;
    uint8_t hash_key[16];
    uint8_t random_pool[RANDOM_POOL];
    size_t random_left;

    struct query **queries; /* in flight, by (name, type) */
    size_t query_mask;
    size_t n_queries;
    size_t n_tcp;
    struct list timers;

    struct list lookups;
    size_t n_lookups;
    struct list completions;

    struct cache_entry **cache;
    size_t cache_mask;
    size_t cache_count;
    struct list lru;

    /* The events dj_resolver_process() is working through: closing a socket clears the
     * entries that point at its query, so a stale event never reaches a freed query. */
    struct epoll_event *batch;
    int batch_len;
    int batch_pos;

    struct dj_resolver_stats stats;
    uint8_t udp_buffer[UDP_BUFFER_SIZE];
};

enum start_result {
    START_OK,
    START_UNREACHABLE, /* this server cannot be used now: try the next one */
    START_LOCAL,       /* out of descriptors, memory or randomness: fail the query */
};

enum attempt_end {
    END_TIMEOUT,       /* try again, same server, while attempts remain */
    END_RETRY,         /* the same, not counted as a timeout (a DoT connection went away) */
    END_SERVER_FAILED, /* go to the next server */
    END_CONN_FAILED,   /* the same, the server already judged (its DoT connection failed) */
};

/* ---- small helpers --------------------------------------------------------------------- */

static size_t addr_len_of(uint16_t qtype)
{
    return qtype == DJ_DNS_TYPE_AAAA ? 16 : 4;
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

static bool errno_is_local(int e)
{
    return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == EAGAIN;
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

static bool cacheable(enum dj_resolve_status status)
{
    return status == DJ_RESOLVE_OK || status == DJ_RESOLVE_NXDOMAIN || status == DJ_RESOLVE_NODATA;
}

/* Unlinks E from its bucket and the LRU list and frees it. */
static void cache_remove(struct dj_resolver *res, struct cache_entry *e)
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
static struct cache_entry *cache_find(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
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
        cache_remove(res, e);
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

    if (res->cache == NULL || !cacheable(r->status))
        return;
    old = cache_find(res, q->hash, q->qname, q->qname_len, q->qtype, now);
    if (old != NULL)
        cache_remove(res, old);
    while (res->cache_count >= res->cfg.cache_entries && !list_empty(&res->lru))
        cache_remove(res, CONTAINER_OF(res->lru.prev, struct cache_entry, lru_link));
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

static void cache_result(const struct cache_entry *e, uint64_t now, struct part_result *out)
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

static void lookup_queue(struct dj_resolver *res, struct dj_lookup *l)
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
        if (cacheable(r->status)) {
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

/* ---- queries: the transport side ------------------------------------------------------- */

/* Makes every event still to be handled in this batch that points at OWNER (a query or a
 * server) a no-op. */
static void forget_events(struct dj_resolver *res, const void *owner)
{
    for (int i = res->batch_pos + 1; i < res->batch_len; i++) {
        if (res->batch[i].data.ptr == owner)
            res->batch[i].data.ptr = NULL;
    }
}

static struct server *query_server(struct dj_resolver *res, const struct query *q)
{
    return &res->servers[q->order[q->server]];
}

static void attempt_close(struct dj_resolver *res, struct query *q)
{
    struct attempt *at = &q->attempt;

    if (at->fd >= 0) {
        forget_events(res, q);
        close(at->fd); /* also takes it out of the epoll set: nobody else holds it */
    }
    if (at->transport == TRANSPORT_TCP)
        res->n_tcp--;
    if (at->transport == TRANSPORT_DOT) {
        struct server *srv = query_server(res, q);

        list_del(&q->dot_link);
        srv->n_dot_queries--;
        if (srv->n_dot_queries == 0 && srv->conn_ready)
            srv->conn_deadline_ns = dj_monotonic_ns() + (uint64_t)DOT_IDLE_MS * NS_PER_MS;
    }
    free(at->response);
    memset(at, 0, sizeof(*at));
    at->fd = -1;
    list_del(&q->timer_link);
}

static void timer_insert(struct dj_resolver *res, struct query *q)
{
    struct list *pos = res->timers.prev;

    /* Every attempt lasts timeout_ms, so the new one almost always goes last. */
    while (pos != &res->timers && CONTAINER_OF(pos, struct query, timer_link)->attempt.deadline_ns >
                                      q->attempt.deadline_ns)
        pos = pos->prev;
    list_insert_after(pos, &q->timer_link);
}

/* A fresh id and the query bytes for it. */
static int attempt_prepare(struct dj_resolver *res, struct query *q)
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

/* Opens the attempt's socket, connects it (TYPE SOCK_DGRAM or SOCK_STREAM) and adds it to
 * the epoll set for EVENTS. */
static enum start_result attempt_open(struct dj_resolver *res, struct query *q, int type,
                                      uint32_t events, uint64_t now)
{
    const struct sockaddr_storage *server = &res->cfg.servers[q->order[q->server]];
    struct epoll_event ev;
    int fd;

    if (attempt_prepare(res, q) < 0)
        return START_LOCAL;
    fd = socket(server->ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return errno_is_local(errno) ? START_LOCAL : START_UNREACHABLE;
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
    q->attempt.fd = fd;
    q->attempt.transport = type == SOCK_STREAM ? TRANSPORT_TCP : TRANSPORT_UDP;
    q->attempt.started_ns = now;
    q->attempt.deadline_ns = now + (uint64_t)res->cfg.timeout_ms * NS_PER_MS;
    timer_insert(res, q);
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
        return errno_is_local(e) ? START_LOCAL : START_UNREACHABLE;
    }
    res->stats.udp_sent++;
    query_server(res, q)->stats.sent++;
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
        query_server(res, q)->stats.sent++;
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
static void server_bad(struct server *srv, uint64_t now)
{
    unsigned shift = srv->failures < 16 ? srv->failures : 16;
    uint64_t pause_ms = (uint64_t)BACKOFF_BASE_MS << shift;

    if (pause_ms > BACKOFF_MAX_MS)
        pause_ms = BACKOFF_MAX_MS;
    srv->failures++;
    srv->stats.failures++;
    srv->retry_after_ns = now + pause_ms * NS_PER_MS;
}

static bool server_healthy(const struct server *srv, uint64_t now)
{
    return srv->retry_after_ns <= now;
}

/* The order a new query tries the servers in: healthy ones first, in the configured order. */
static void query_order(const struct dj_resolver *res, struct query *q, uint64_t now)
{
    size_t n = 0;

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < res->cfg.n_servers; i++) {
            if (server_healthy(&res->servers[i], now) == (pass == 0))
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

/* ---- transport: DNS over TLS ----------------------------------------------------------- */

static void query_attempt_failed(struct dj_resolver *res, struct query *q, enum attempt_end why,
                                 uint64_t now);
static bool query_response(struct dj_resolver *res, struct query *q, const uint8_t *msg, size_t len,
                           bool oversized, uint64_t now);

static void dot_log_failure(struct dj_resolver *res, const struct server *srv, const char *kind,
                            const char *problem)
{
    char line[1024], where[INET6_ADDRSTRLEN + 8], host[INET6_ADDRSTRLEN];
    const struct sockaddr_storage *ss = &res->cfg.servers[srv->index];
    struct timespec now;
    struct dj_json j;

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

    forget_events(res, srv);
    dj_dot_conn_free(srv->conn); /* closing the socket takes it out of the epoll set */
    srv->conn = NULL;
    srv->conn_ready = false;
    srv->conn_events = 0;
    srv->conn_deadline_ns = 0;
    if (failure != DJ_DOT_FAIL_NONE)
        server_bad(srv, now);
    list_init(&orphans);
    list_move_all(&srv->dot_queries, &orphans);
    while (!list_empty(&orphans)) {
        struct query *q = CONTAINER_OF(orphans.next, struct query, dot_link);

        /* attempt_close unlinks it from ORPHANS and counts it off the server. */
        query_attempt_failed(res, q,
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
            query_response(d->res, q, msg, len, false, d->res->now_ns);
            return;
        }
    }
    d->res->stats.ignored++; /* a late answer to an attempt that timed out */
}

static void dot_ready(struct dj_resolver *res, struct server *srv, uint64_t now)
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
        local = errno_is_local(err->errno_value);
        dj_error_release(&err);
        if (!local)
            server_bad(srv, now);
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
static enum start_result dot_start(struct dj_resolver *res, struct query *q, uint64_t now)
{
    struct server *srv = query_server(res, q);
    enum start_result r;
    bool unique = false;

    if (srv->conn == NULL) {
        /* Failed recently: wait out the pause rather than hammer it (never plain DNS). */
        if (!server_healthy(srv, now))
            return START_UNREACHABLE;
        r = dot_connect(res, srv, now);
        if (r != START_OK)
            return r;
    }
    if (srv->n_dot_queries >= DOT_MAX_PENDING)
        return START_LOCAL;
    /* Answers are matched by id alone on the connection: ids must be unique there. */
    for (int tries = 0; tries < ID_TRIES && !unique; tries++) {
        if (attempt_prepare(res, q) < 0)
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
    timer_insert(res, q);
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
static void dot_timers(struct dj_resolver *res, uint64_t now)
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

static void query_unhash(struct dj_resolver *res, struct query *q)
{
    struct query **slot = &res->queries[q->hash & res->query_mask];

    while (*slot != NULL && *slot != q)
        slot = &(*slot)->hash_next;
    if (*slot == q)
        *slot = q->hash_next;
}

static void query_free(struct dj_resolver *res, struct query *q)
{
    attempt_close(res, q);
    forget_events(res, q);
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
            lookup_queue(res, part->lookup);
    }
    query_free(res, q);
}

static void query_fail(struct dj_resolver *res, struct query *q, enum dj_resolve_status status)
{
    struct part_result r;

    memset(&r, 0, sizeof(r));
    r.status = status;
    query_complete(res, q, &r);
}

/* Starts the next attempt that can be started, or ends the query when none is left. */
static void query_continue(struct dj_resolver *res, struct query *q, uint64_t now)
{
    while (q->server < res->cfg.n_servers) {
        enum dj_upstream_transport transport = res->cfg.upstreams[q->order[q->server]].transport;
        enum start_result r = transport == DJ_UPSTREAM_TLS   ? dot_start(res, q, now)
                              : transport == DJ_UPSTREAM_TCP ? tcp_start(res, q, now)
                                                             : udp_start(res, q, now);

        if (r == START_OK)
            return;
        if (r == START_LOCAL) {
            query_fail(res, q, DJ_RESOLVE_SERVFAIL);
            return;
        }
        if (transport != DJ_UPSTREAM_TLS)
            server_bad(query_server(res, q), now); /* dot_start judged it already */
        res->stats.server_failures++;
        q->server_failed = true;
        q->server++;
        q->attempt_no = 0;
    }
    query_fail(res, q, q->server_failed ? DJ_RESOLVE_SERVFAIL : DJ_RESOLVE_TIMEOUT);
}

static void query_attempt_failed(struct dj_resolver *res, struct query *q, enum attempt_end why,
                                 uint64_t now)
{
    struct server *srv = query_server(res, q);

    attempt_close(res, q);
    if (why == END_TIMEOUT || why == END_RETRY) {
        if (why == END_TIMEOUT)
            res->stats.timeouts++;
        if (++q->attempt_no >= res->cfg.attempts) {
            if (why == END_TIMEOUT)
                server_bad(srv, now);
            q->server++;
            q->attempt_no = 0;
        }
    } else {
        if (why == END_SERVER_FAILED)
            server_bad(srv, now);
        res->stats.server_failures++;
        q->server_failed = true;
        q->server++;
        q->attempt_no = 0;
    }
    query_continue(res, q, now);
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
static bool query_response(struct dj_resolver *res, struct query *q, const uint8_t *msg, size_t len,
                           bool oversized, uint64_t now)
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
        query_attempt_failed(res, q, END_SERVER_FAILED, now);
        return false;
    case DJ_DNSANSWER_TRUNCATED:
        if (tcp) {
            query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return false;
        }
        res->stats.tcp_fallbacks++;
        started = tcp_start(res, q, now);
        if (started == START_LOCAL)
            query_fail(res, q, DJ_RESOLVE_SERVFAIL);
        else if (started == START_UNREACHABLE)
            query_attempt_failed(res, q, END_SERVER_FAILED, now);
        return false;
    case DJ_DNSANSWER_SERVFAIL:
    case DJ_DNSANSWER_REJECTED:
    case DJ_DNSANSWER_MALFORMED:
        query_attempt_failed(res, q, END_SERVER_FAILED, now);
        return false;
    case DJ_DNSANSWER_OK:
    case DJ_DNSANSWER_NODATA:
    case DJ_DNSANSWER_NXDOMAIN:
        break;
    }
    server_ok(query_server(res, q));
    record_latency(res, query_server(res, q), q->attempt.started_ns, now);
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

static void udp_ready(struct dj_resolver *res, struct query *q, uint64_t now)
{
    for (int i = 0; i < UDP_READS_PER_EVENT; i++) {
        ssize_t n = recv(q->attempt.fd, res->udp_buffer, sizeof(res->udp_buffer), MSG_TRUNC);
        size_t len;

        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
                return;
            /* ECONNREFUSED: an ICMP port unreachable, nothing listens there. */
            query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return;
        }
        len = (size_t)n < sizeof(res->udp_buffer) ? (size_t)n : sizeof(res->udp_buffer);
        if (!query_response(res, q, res->udp_buffer, len, (size_t)n > len, now))
            return;
    }
}

static void tcp_ready(struct dj_resolver *res, struct query *q, uint32_t events, uint64_t now)
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
            query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return;
        }
        at->connected = true;
    }
    if (at->sent < total) {
        struct epoll_event ev;
        ssize_t n = send(at->fd, q->wire + at->sent, total - at->sent, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                query_attempt_failed(res, q, END_SERVER_FAILED, now);
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
            query_attempt_failed(res, q, END_SERVER_FAILED, now);
            return;
        }
        if (in_prefix) {
            at->prefix_received += (size_t)n;
            if (at->prefix_received < sizeof(at->length_prefix))
                continue;
            at->response_len = dj_get16(at->length_prefix);
            if (at->response_len < DJ_DNS_HEADER_SIZE) {
                query_attempt_failed(res, q, END_SERVER_FAILED, now);
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
            query_response(res, q, at->response, at->response_len, false, now);
            return;
        }
    }
}

static void timers_expire(struct dj_resolver *res, uint64_t now)
{
    /* A new attempt's deadline is now + timeout_ms (>= 1 ms), so this ends. */
    while (!list_empty(&res->timers)) {
        struct query *q = CONTAINER_OF(res->timers.next, struct query, timer_link);

        if (q->attempt.deadline_ns > now)
            break;
        query_attempt_failed(res, q, END_TIMEOUT, now);
    }
}

static struct query *query_find(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
                                size_t name_len, uint16_t qtype, uint16_t qclass, bool raw)
{
    for (struct query *q = res->queries[hash & res->query_mask]; q != NULL; q = q->hash_next) {
        if (q->hash == hash && q->qtype == qtype && q->qclass == qclass && q->raw == raw &&
            q->qname_len == name_len && memcmp(q->qname, name, name_len) == 0)
            return q;
    }
    return NULL;
}

static struct query *query_new(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
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
    query_order(res, q, dj_monotonic_ns());
    q->attempt.fd = -1;
    q->hash_next = res->queries[hash & res->query_mask];
    res->queries[hash & res->query_mask] = q;
    res->n_queries++;
    res->stats.queries++;
    return q;
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
                query_free(res, res->queries[b]);
        }
    }
    while (!list_empty(&res->lru))
        cache_remove(res, CONTAINER_OF(res->lru.next, struct cache_entry, lru_link));
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
    now = dj_monotonic_ns();
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
    uint64_t now = dj_monotonic_ns();
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
                dot_ready(res, srv, now);
            continue;
        }
        q = ev->data.ptr;
        if (q->attempt.transport == TRANSPORT_UDP)
            udp_ready(res, q, now);
        else if (q->attempt.transport == TRANSPORT_TCP)
            tcp_ready(res, q, ev->events, now);
    }
    res->batch = NULL;
    res->batch_len = 0;
    res->batch_pos = 0;
    timers_expire(res, now);
    dot_timers(res, now);

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
    now = dj_monotonic_ns();
    for (size_t i = 0; i < l->n_parts; i++) {
        struct lookup_part *part = &l->parts[i];
        uint64_t hash = key_hash(res, wire, wire_len, part->qtype, DJ_DNS_CLASS_IN, false);
        struct cache_entry *e = cache_find(res, hash, wire, wire_len, part->qtype, now);
        struct query *q;

        part->lookup = l;
        list_init(&part->waiter_link);
        if (e != NULL) {
            cache_result(e, now, &part->result);
            part->done = true;
            l->parts_pending--;
            res->stats.cache_hits++;
            continue;
        }
        q = query_find(res, hash, wire, wire_len, part->qtype, DJ_DNS_CLASS_IN, false);
        if (q != NULL) {
            res->stats.coalesced++;
        } else {
            q = query_new(res, hash, wire, wire_len, part->qtype, DJ_DNS_CLASS_IN, false);
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
        lookup_queue(res, l);
    for (size_t i = 0; i < n_started; i++)
        query_continue(res, started[i], now);
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
    q = query_find(res, hash, qname_wire, qname_len, qtype, qclass, true);
    if (q != NULL) {
        res->stats.coalesced++;
        part->query = q;
        list_add_tail(&q->waiters, &part->waiter_link);
        return l;
    }
    q = query_new(res, hash, qname_wire, qname_len, qtype, qclass, true);
    if (q == NULL) {
        part->result.status = DJ_RESOLVE_SERVFAIL;
        part->done = true;
        l->parts_pending = 0;
        lookup_queue(res, l);
        return l;
    }
    part->query = q;
    list_add_tail(&q->waiters, &part->waiter_link);
    query_continue(res, q, dj_monotonic_ns());
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
                query_free(res, q);
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
    uint64_t now = dj_monotonic_ns();

    *stats = res->stats;
    stats->n_servers = res->cfg.n_servers;
    for (size_t i = 0; i < res->cfg.n_servers; i++) {
        const struct server *srv = &res->servers[i];

        stats->servers[i] = srv->stats;
        stats->servers[i].transport = res->cfg.upstreams[i].transport;
        stats->servers[i].consecutive_failures = srv->failures;
        stats->servers[i].healthy = server_healthy(srv, now);
        stats->servers[i].dot_connected = srv->conn != NULL && srv->conn_ready;
    }
    stats->cache_size = res->cache_count;
    stats->lookups_in_flight = res->n_lookups;
    stats->queries_in_flight = res->n_queries;
}
