/* resolver-internal.h: what the resolver's files share (lib/dns/resolver.c: public API,
 * lookups and life cycle; resolver-query.c: queries, attempts over UDP and TCP, server
 * health, the cache; resolver-dot.c: attempts over DNS over TLS). Not for other callers:
 * the design and its choices are described at the top of resolver.c. */
#ifndef DNSJAIL_RESOLVER_INTERNAL_H
#define DNSJAIL_RESOLVER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "dns/dnsanswer.h"
#include "dns/dnswire.h"
#include "dns/dot.h"
#include "dns/resolver.h"

#define UDP_BUFFER_SIZE 4096 /* above our advertised 1232; larger datagrams count as TC=1 */
#define RANDOM_POOL 256
#define DOT_IDLE_MS 10000 /* an unused DoT connection is closed after this */

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* ---- intrusive doubly linked lists ----------------------------------------------------- */

struct list {
    struct list *prev;
    struct list *next;
};

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(struct list *l)
{
    l->prev = l;
    l->next = l;
}

static inline bool list_empty(const struct list *l)
{
    return l->next == l;
}

static inline void list_insert_after(struct list *pos, struct list *n)
{
    n->prev = pos;
    n->next = pos->next;
    pos->next->prev = n;
    pos->next = n;
}

static inline void list_add_tail(struct list *head, struct list *n)
{
    list_insert_after(head->prev, n);
}

/* Leaves N linked to itself, so removing it twice is harmless. */
static inline void list_del(struct list *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    list_init(n);
}

/* Moves every node of FROM to the empty list TO. */
static inline void list_move_all(struct list *from, struct list *to)
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
    bool pooled; /* fd is cfg.pool_fds[pool_slot]: given back, not closed */
    size_t pool_slot;
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
    bool pool_busy[DJ_RESOLVER_MAX_POOL]; /* cfg.pool_fds in use by an attempt */
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

/* ---- shared between the files ------------------------------------------------------- */

/* resolver.c */
uint64_t resolver_now(const struct dj_resolver *res);
void resolver_lookup_queue(struct dj_resolver *res, struct dj_lookup *l);

/* resolver-query.c */
bool resolver_errno_is_local(int e);
void resolver_forget_events(struct dj_resolver *res, const void *owner);
struct server *resolver_query_server(struct dj_resolver *res, const struct query *q);
void resolver_timer_insert(struct dj_resolver *res, struct query *q);
int resolver_attempt_prepare(struct dj_resolver *res, struct query *q);
void resolver_server_bad(struct server *srv, uint64_t now);
bool resolver_server_healthy(const struct server *srv, uint64_t now);
bool resolver_cacheable(enum dj_resolve_status status);
void resolver_cache_remove(struct dj_resolver *res, struct cache_entry *e);
struct cache_entry *resolver_cache_find(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
                                        size_t name_len, uint16_t qtype, uint64_t now);
void resolver_cache_result(const struct cache_entry *e, uint64_t now, struct part_result *out);
void resolver_query_free(struct dj_resolver *res, struct query *q);
void resolver_query_continue(struct dj_resolver *res, struct query *q, uint64_t now);
void resolver_query_attempt_failed(struct dj_resolver *res, struct query *q, enum attempt_end why,
                                   uint64_t now);
bool resolver_query_response(struct dj_resolver *res, struct query *q, const uint8_t *msg,
                             size_t len, bool oversized, uint64_t now);
void resolver_udp_ready(struct dj_resolver *res, struct query *q, uint64_t now);
void resolver_tcp_ready(struct dj_resolver *res, struct query *q, uint32_t events, uint64_t now);
void resolver_timers_expire(struct dj_resolver *res, uint64_t now);
struct query *resolver_query_find(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
                                  size_t name_len, uint16_t qtype, uint16_t qclass, bool raw);
struct query *resolver_query_new(struct dj_resolver *res, uint64_t hash, const uint8_t *name,
                                 size_t name_len, uint16_t qtype, uint16_t qclass, bool raw);

/* resolver-dot.c */
enum start_result resolver_dot_start(struct dj_resolver *res, struct query *q, uint64_t now);
void resolver_dot_ready(struct dj_resolver *res, struct server *srv, uint64_t now);
void resolver_dot_timers(struct dj_resolver *res, uint64_t now);

#endif
