/* resolver.h: dnsjail's own DNS lookups (the proxy's upstream names; the stub's forward
 * zones), asynchronous, on the caller's epoll loop, in whatever network namespace the
 * calling process is in (the host's: the daemons live there).
 *
 * Servers (lib/dns/upstream.h syntax): plain DNS over UDP retried over TCP when an answer is
 * truncated, TCP only, or DNS over TLS (lib/dns/dot.h: verified chain and name and/or SPKI pins,
 * one pipelined connection per server, never a plaintext fallback). Timeouts, several
 * attempts and failover between servers with health tracking (a failed server is tried last
 * for a growing pause), random ids and source ports, answers checked against the question
 * (id, name, type, class, source address). A and AAAA are asked in parallel and cached for
 * their TTL (bounded by a floor and a ceiling), negative answers too (RFC 2308), in a bounded
 * LRU cache. Raw questions (dj_resolver_query) are forwarded as given and not cached.
 * Owns: the lookup state machines, the sockets and DoT connections they use, the servers'
 * health and the cache. Responses are checked by lib/dns/dnsanswer (untrusted input, pure code,
 * fuzzed). */
#ifndef DNSJAIL_RESOLVER_H
#define DNSJAIL_RESOLVER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/error.h"
#include "dns/upstream.h"

#define DJ_RESOLVER_MAX_SERVERS DJ_UPSTREAM_MAX_SERVERS
#define DJ_RESOLVER_MAX_ADDRS 16
#define DJ_RESOLVER_MAX_POOL 16 /* pool_fds */

struct dj_resolver_config {
    struct sockaddr_storage servers[DJ_RESOLVER_MAX_SERVERS];
    /* How to talk to servers[i] (transport, TLS authentication); its addr is servers[i]. A
     * zeroed entry is plain UDP with TCP for truncated answers, so code that fills servers[]
     * alone keeps working. */
    struct dj_upstream upstreams[DJ_RESOLVER_MAX_SERVERS];
    size_t n_servers;
    unsigned timeout_ms;  /* per attempt, default 1500 */
    unsigned attempts;    /* per server, default 2 */
    size_t cache_entries; /* default 1024; 0 disables the cache */
    uint32_t ttl_floor;   /* seconds, default 5 */
    uint32_t ttl_ceiling; /* seconds, default 3600 */
    /* Lookups outstanding at once (started, callback not yet run), default 4096. Each one
     * holds at most two upstream queries, each query one socket while it runs, so the
     * caller's RLIMIT_NOFILE must leave room for 2 * max_inflight descriptors. */
    size_t max_inflight;
    /* The clock of every deadline, back-off pause, cache expiry and idle close: nanoseconds
     * that never go back, read with CLOCK_CTX. NULL (the default) is CLOCK_MONOTONIC; tests
     * set their own to move time without waiting for it. */
    uint64_t (*clock_ns)(void *clock_ctx);
    void *clock_ctx;
    /* Connected UDP sockets to use instead of opening one per attempt: the stub's container
     * DNS, whose server (the engine's resolver, 127.0.0.11 in the container's namespace) only
     * sockets opened in that namespace reach, and the hook opens them there. With
     * n_pool_fds > 0: exactly one server (the address they are connected to), UDP only (a
     * truncated answer cannot be asked again over TCP: the query fails), and a query that
     * finds every socket busy fails at once. The caller keeps them open while the resolver
     * lives. */
    int pool_fds[DJ_RESOLVER_MAX_POOL];
    size_t n_pool_fds;
};

enum dj_resolve_status {
    DJ_RESOLVE_OK = 0,    /* at least one address */
    DJ_RESOLVE_NXDOMAIN,  /* the name does not exist */
    DJ_RESOLVE_NODATA,    /* the name exists, no address of the asked families */
    DJ_RESOLVE_SERVFAIL,  /* the servers failed or refused */
    DJ_RESOLVE_TIMEOUT,   /* no server answered in time */
    DJ_RESOLVE_BAD_NAME,  /* not a name we would ask for */
    DJ_RESOLVE_CANCELLED, /* never passed to a callback */
};

struct dj_resolved_addr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
};

struct dj_resolve_result {
    enum dj_resolve_status status;
    struct dj_resolved_addr addrs[DJ_RESOLVER_MAX_ADDRS]; /* IPv6 first when both: see docs */
    size_t n_addrs;
    uint32_t ttl; /* seconds left */
    bool from_cache;
};

struct dj_resolver;
struct dj_lookup;

/* Called once per lookup, only from within dj_resolver_process(), never from
 * dj_resolver_lookup() itself (so callers need not fear re-entrancy). */
typedef void (*dj_resolve_cb)(void *ctx, const struct dj_resolve_result *result);

/* Defaults, with no servers. */
void dj_resolver_config_init(struct dj_resolver_config *cfg);

/* Adds the nameservers of a resolv.conf file (up to 4 in all, port 53, plain DNS). */
int dj_resolver_config_from_resolv_conf(struct dj_resolver_config *cfg, const char *path,
                                        dj_error_t *err);

/* Adds one server in the syntax of lib/dns/upstream.h: "ADDR", "ADDR:PORT", "[V6]:PORT",
 * "udp://...", "tcp://...", "tls://ADDR[:853]#AUTH-NAME;pin-sha256=...". */
int dj_resolver_config_add_server(struct dj_resolver_config *cfg, const char *text,
                                  dj_error_t *err);

struct dj_resolver *dj_resolver_new(const struct dj_resolver_config *cfg, dj_error_t *err);
void dj_resolver_free(struct dj_resolver *res);

/* One fd (an epoll fd of the resolver's own) to add to the caller's epoll for EPOLLIN; when
 * it is readable, or when dj_resolver_timeout_ms() has passed, call dj_resolver_process(). */
int dj_resolver_fd(const struct dj_resolver *res);

/* Milliseconds until the resolver needs dj_resolver_process() for a timeout; -1 = none. */
int dj_resolver_timeout_ms(const struct dj_resolver *res);

/* Handles readiness, timeouts and completed lookups, calling their callbacks. */
void dj_resolver_process(struct dj_resolver *res);

/* Starts looking NAME up for A and/or AAAA (FAMILY AF_INET, AF_INET6 or AF_UNSPEC). Returns a
 * handle to cancel with, or NULL with *err set (bad name, too many lookups in flight). */
struct dj_lookup *dj_resolver_lookup(struct dj_resolver *res, const char *name, int family,
                                     dj_resolve_cb cb, void *ctx, dj_error_t *err);

/* Forwarding: one question asked as given (any type, any class); the upstream's answer handed
 * back whole. MSG (the full response, its id the resolver's own) is valid only during the
 * callback and is non-NULL exactly for OK, NXDOMAIN and NODATA; SERVFAIL and TIMEOUT give NULL. */
typedef void (*dj_query_cb)(void *ctx, enum dj_resolve_status status, const uint8_t *msg,
                            size_t len);

/* Asks QNAME_WIRE (uncompressed wire form, QNAME_LEN bytes, case kept), QTYPE, QCLASS of the
 * servers with RD=1 and an EDNS(0) OPT (UDP payload 1232); TC=1 is asked again over TCP. The
 * response is checked (id, QR, opcode, the question, every record framed) before it is
 * handed over. Status: OK (NOERROR with answer records), NODATA (NOERROR, none), NXDOMAIN;
 * an error rcode or a broken response moves on to the next server, as for lookups. Not
 * cached; identical questions in flight share one query. Same delivery, cancel and error
 * rules as dj_resolver_lookup(); refuses (errno_value 0) a malformed name and the meta types
 * OPT, TKEY, TSIG, IXFR and AXFR. Counts against max_inflight. */
struct dj_lookup *dj_resolver_query(struct dj_resolver *res, const uint8_t *qname_wire,
                                    size_t qname_len, uint16_t qtype, uint16_t qclass,
                                    dj_query_cb cb, void *ctx, dj_error_t *err);

/* The callback will not be called; safe until the callback has run. */
void dj_resolver_cancel(struct dj_lookup *lookup);

/* ---- additions ------------------------------------------------------------------------ */

/* Behaviour the declarations above leave open (the why is at the top of resolver.c):
 *  - One thread: every call from the thread that runs the caller's loop. Nothing blocks after
 *    dj_resolver_new(); resolver.c lists the system calls for a seccomp allowlist.
 *  - dj_resolver_lookup() refuses with NULL and (*err)->errno_value 0 for a bad name (so
 *    DJ_RESOLVE_BAD_NAME never reaches a callback), EAGAIN when max_inflight lookups are
 *    outstanding, ENOMEM when out of memory.
 *  - A callback may start lookups and cancel other lookups; cancelling the lookup whose
 *    callback is running does nothing. dj_resolver_free() must not be called from a
 *    callback; it drops every outstanding lookup without calling back.
 *  - AF_UNSPEC asks A and AAAA in parallel and completes when both are done. Addresses:
 *    IPv6 first; when both families have some, each keeps at least half of the
 *    DJ_RESOLVER_MAX_ADDRS slots. Status: OK if either family has addresses, else NXDOMAIN,
 *    SERVFAIL, TIMEOUT, NODATA in that order of precedence. ttl: the smallest of the
 *    families' answers (0 when neither answered).
 *  - Names are asked exactly as given (lower-cased, IP literals refused): no search list is
 *    ever applied, and resolv.conf's search, domain and options lines are ignored. */

/* 0 when dj_resolver_lookup() would ask for NAME; else -1 and *err says why (the status
 * would be DJ_RESOLVE_BAD_NAME). Pure: lets a caller tell a bad name from an overloaded
 * resolver, since dj_resolver_lookup() refuses both with NULL. */
int dj_resolver_check_name(const char *name, dj_error_t *err);

/* "OK", "NXDOMAIN", ... for logs. */
const char *dj_resolver_status_text(enum dj_resolve_status status);

/* Upstream latency histogram: the upper bounds of its buckets in milliseconds (each bucket
 * counts answers with latency <= its bound and above the previous one; one more bucket after
 * the last bound counts the rest, Prometheus' +Inf). Cumulative counts for Prometheus are
 * running sums over latency_buckets. */
#define DJ_RESOLVER_LATENCY_BOUNDS_MS                                                              \
    {                                                                                              \
        1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000                                             \
    }
#define DJ_RESOLVER_LATENCY_BUCKETS 12 /* the bounds and +Inf */

struct dj_resolver_server_stats {
    enum dj_upstream_transport transport;
    uint64_t sent;                 /* attempts sent to it (UDP, TCP or on its DoT connection) */
    uint64_t answered;             /* answers accepted from it */
    uint64_t failures;             /* times it was judged failed (error, unreachable, timeout) */
    unsigned consecutive_failures; /* now; 0 = healthy */
    bool healthy;                  /* now: not in its back-off pause (tried first) */
    uint64_t dot_connects;         /* TLS connections started */
    bool dot_connected;            /* now: an authenticated connection is open */
};

/* Counters since dj_resolver_new(), for logs and metrics. */
struct dj_resolver_stats {
    uint64_t lookups;             /* lookups started (handles returned) */
    uint64_t raw_queries;         /* dj_resolver_query() calls that returned a handle */
    uint64_t cache_hits;          /* per family: answered from the cache */
    uint64_t coalesced;           /* per family or raw query: joined a query already in flight */
    uint64_t queries;             /* queries started (one per name and type, all attempts) */
    uint64_t udp_sent;            /* UDP attempts sent */
    uint64_t tcp_fallbacks;       /* truncated UDP answers asked again over TCP */
    uint64_t timeouts;            /* attempts that timed out */
    uint64_t server_failures;     /* attempts ended by an error answer or an unreachable server */
    uint64_t ignored;             /* UDP datagrams (or DoT messages) that did not answer a query */
    uint64_t dot_sent;            /* queries sent over DNS over TLS */
    uint64_t dot_connects;        /* TLS connections started */
    uint64_t dot_reconnects;      /* ... of them to a server that had a connection before */
    uint64_t dot_pin_failures;    /* connections refused: no key matched a pin */
    uint64_t dot_verify_failures; /* connections refused: chain or name did not verify */
    uint64_t latency_buckets[DJ_RESOLVER_LATENCY_BUCKETS]; /* accepted answers, by latency */
    uint64_t latency_sum_ms;                               /* of those answers */
    size_t cache_size;                                     /* entries now */
    size_t lookups_in_flight;                              /* now */
    size_t queries_in_flight;                              /* now */
    size_t n_servers;
    struct dj_resolver_server_stats servers[DJ_RESOLVER_MAX_SERVERS]; /* configured order */
};

void dj_resolver_get_stats(const struct dj_resolver *res, struct dj_resolver_stats *stats);

struct dj_log;

/* Where the resolver writes its log lines (a DoT server failing its checks, a handshake
 * timing out: event "resolver_tls_failure"); NULL (the default) = none. LOG must outlive
 * the resolver. */
void dj_resolver_set_log(struct dj_resolver *res, struct dj_log *log);

#endif
