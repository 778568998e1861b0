/* stub.h: the DNS stub's event loop.
 *
 * One thread, one epoll set: UDP sockets served in recvmmsg/sendmmsg batches, TCP listeners
 * and their connections (length-prefixed, pipelined, bounded buffers, idle timeout), the
 * control socket (see lib/jail/control.h for the protocol), the watched container pidfds, a
 * signalfd for SIGTERM/SIGINT, the rate-limited query log, and the forward zones: queries for
 * names inside one go through a lib/dns/resolver (one per distinct upstream set, on this loop),
 * with the answer cache of lib/dns/fwdcache and a token bucket on what reaches an upstream.
 * stub_prepare() does everything that needs more than the seccomp profile DJ_SECCOMP_STUB
 * (allocation included; its syscall list is in lib/daemon/seccompprofile.c, beside the others);
 * stub_run() then only reads, writes, accepts and closes. Owns: the serving state. */
#ifndef DNSJAIL_STUB_H
#define DNSJAIL_STUB_H

#include <stddef.h>
#include <stdint.h>

#include "daemon/daemon.h"
#include "dns/dnswire.h"
#include "base/error.h"
#include "dns/cdnsnames.h"
#include "dns/fwdzone.h"
#include "dns/resolver.h"
#include "stub-virtual.h"

#define STUB_MAX_SOCKETS 16                      /* UDP and TCP listeners together */
#define STUB_MAX_WATCHED DJ_CTLSERVE_MAX_WATCHED /* pidfds watched at once */
#define STUB_MAX_TCP_CONNS 128 /* TCP clients at once; the least recently active goes */
#define STUB_TCP_IDLE_MS 10000 /* a TCP or control connection silent this long is closed */
#define STUB_UDP_BATCH 64      /* datagrams per recvmmsg/sendmmsg */
#define STUB_QUERY_MAX 4096    /* longest query accepted (UDP datagram or TCP message) */

struct stub_config {
    int udp_fds[STUB_MAX_SOCKETS];
    size_t n_udp;
    int tcp_fds[STUB_MAX_SOCKETS]; /* listening */
    size_t n_tcp;
    /* The control socket, watched pidfds, signalfd, query log and where dnsstub.prom goes. */
    struct dj_daemon_config common;
    struct dj_dns_policy policy;

    /* Forward zones: every zone has its upstreams (none left to a default here). */
    struct dj_fwdzone_list forward;
    size_t forward_cache_entries;
    uint32_t forward_ttl_floor;
    uint32_t forward_ttl_ceiling;
    unsigned forward_rate; /* queries per second that reach an upstream; 0: no limit */
    unsigned forward_burst;
    unsigned forward_timeout_ms; /* per upstream attempt; 0: the resolver's default */

    struct stub_virtual *virt; /* virtual addresses (dnsstub/stub-virtual.h), or NULL */

    /* Container DNS: names of cdns_names that no forward zone covers are asked of the
     * container engine's own resolver (Docker's at 127.0.0.11 in the container's namespace)
     * through cdns_fds, UDP sockets the hook opened and connected there (marked, so the
     * jail's redirect lets them through). n_cdns_fds 0: none. */
    int cdns_fds[DJ_RESOLVER_MAX_POOL];
    size_t n_cdns_fds;
    struct dj_cdnsnames cdns_names;

    /* Audit mode: a name no forward zone covers is forwarded too, to audit_upstreams ("UP|UP"),
     * and each query's line says whether enforce mode would have sinkholed it (the name is in
     * no zone and no host or wildcard rule of audit_rules, on any port, allows it). */
    bool audit;
    const char *audit_upstreams;
    const struct dj_allow_rule *audit_rules;
    size_t n_audit_rules;
};

/* What the stub counts, since it started, for the metrics file (stub-metrics.c). Every query
 * that gets an answer by the policy counts in exactly one queries_* outcome; packets that are
 * not such a query count in packets_malformed (answered FORMERR, NOTIMP or BADVERS) or
 * packets_dropped (not answered at all). */
struct stub_stats {
    uint64_t queries_sinkholed; /* answered with the sinkhole (or NODATA for other types) */
    uint64_t queries_virtual;   /* answered with a virtual address for an allowed name */
    uint64_t queries_forwarded; /* forward zone or container DNS, answered from upstream */
    uint64_t queries_cached;    /* forward zone, answered from the cache */
    uint64_t queries_refused;   /* answered REFUSED (rate limit...) */
    uint64_t queries_failed;    /* forward zone, answered SERVFAIL (upstream failed) */
    uint64_t packets_malformed;
    uint64_t packets_dropped;
    uint64_t tcp_connections;  /* accepted */
    uint64_t virtual_recycled; /* virtual answers that took the slot of another name */
};

struct stub;

/* Builds the serving state and registers every fd (the stub takes them over, all of them
 * non-blocking already). Allocates everything stub_run() will use. */
struct stub *stub_prepare(const struct stub_config *cfg, dj_error_t *err);

/* Serves until a signal, a control "Q", or the last watched process exits. Returns 0 then;
 * -1 with *err when the loop itself fails. */
int stub_run(struct stub *stub, dj_error_t *err);

/* ---- the metrics file (stub-metrics.c) ---------------------------------------------------- */

#define STUB_METRICS_FILE "dnsstub.prom"
#define STUB_METRICS_INTERVAL_MS 5000

struct stub_metrics;

/* Registers the stub's series, labelled with the jail (allocates: before the sandbox). Takes
 * over DIR_FD. */
struct stub_metrics *stub_metrics_new(int dir_fd, const char *container_id, const char *netns_key,
                                      dj_error_t *err);
/* Replaces dnsstub.prom with STATS; a failure only costs this one update. */
/* FORWARD: the forward zones' resolvers' counters, summed (zero without forward zones). */
void stub_metrics_write(struct stub_metrics *metrics, const struct stub_stats *stats,
                        const struct dj_resolver_stats *forward);
void stub_metrics_free(struct stub_metrics *metrics);

#endif
