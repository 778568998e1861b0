#include "config.h"
#include "stub.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/ctlserve.h"
#include "dns/fwdcache.h"
#include "dns/fwdmsg.h"
#include "daemon/jsonlog.h"
#include "daemon/metrics.h"
#include "base/pages.h"
#include "dns/resolver.h"
#include "dns/resolverstats.h"

/* A forwarded answer over TCP may be as long as the 2-byte length allows. The buffer is
 * allocated with the connection slots but only touched as far as it is used. */
#define TCP_OUT_SIZE (2 + DJ_DNS_TCP_MAX_SIZE + 2 * (2 + DJ_DNS_MAX_RESPONSE))
/* Forwarded queries waiting for an upstream, per resolver: each holds a socket, and the
 * stub's descriptor limit (main.c) must cover four such sets beside its own. */
#define FORWARD_MAX_INFLIGHT 512
#define FORWARD_OUT_SIZE (DJ_DNS_TCP_MAX_SIZE)
#define TCP_IN_SIZE (2 + STUB_QUERY_MAX)
#define EPOLL_BATCH 64
#define UDP_ROUNDS 8 /* batches per wake-up before other fds get a turn */
#define ACCEPTS_PER_WAKEUP 16
#define HOUSEKEEPING_NS 500000000ull
#define NS_PER_MS 1000000ull

enum tag_kind {
    TAG_SIGNAL = 1,
    TAG_UDP,
    TAG_TCP_LISTEN,
    TAG_TCP_CONN,
    TAG_CONTROL_LISTEN,
    TAG_CONTROL_CONN,
    TAG_WATCH,
    TAG_RESOLVER,
};

/* epoll data: kind, a generation (so an event for a closed TCP connection cannot act on the
 * one that took its slot during the same wake-up) and the slot. */
static uint64_t make_tag(enum tag_kind kind, size_t index, uint32_t generation)
{
    return ((uint64_t)kind << 56) | ((uint64_t)(generation & 0xFFFFFF) << 32) | (uint32_t)index;
}

struct tcp_conn {
    int fd; /* -1: free slot */
    uint32_t generation;
    bool peer_closed;
    uint32_t events; /* what epoll watches for now */
    uint64_t last_active_ns;
    struct sockaddr_storage peer;
    size_t in_len;
    size_t out_start;
    size_t out_len;
    /* In struct stub's tcp_buffers: the slots stay small, so marking them all free at
     * startup touches a few pages, not one per slot (about 500 KiB resident). */
    uint8_t *in;  /* TCP_IN_SIZE bytes */
    uint8_t *out; /* TCP_OUT_SIZE bytes */
};

/* One batch of datagrams: what recvmmsg fills and sendmmsg sends back. */
struct udp_batch {
    struct mmsghdr in[STUB_UDP_BATCH];
    struct mmsghdr out[STUB_UDP_BATCH];
    struct iovec in_iov[STUB_UDP_BATCH];
    struct iovec out_iov[STUB_UDP_BATCH];
    struct sockaddr_storage peer[STUB_UDP_BATCH];
    uint8_t query[STUB_UDP_BATCH][STUB_QUERY_MAX];
    uint8_t response[STUB_UDP_BATCH][DJ_DNS_MAX_RESPONSE];
};

/* One distinct upstream set and the resolver that asks it. */
struct forwarder {
    struct dj_resolver *resolver;
    const char *upstreams; /* the zones' text, "UP|UP" */
};

/* A query waiting for its upstream's answer. */
struct pending {
    struct stub *stub;
    struct dj_dns_query q;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    bool tcp;
    int udp_fd;      /* UDP: the socket it came in on */
    size_t tcp_slot; /* TCP: the connection, if it is still this one */
    uint32_t tcp_generation;
    size_t zone;                      /* or CDNS_ZONE */
    uint8_t lowered[DJ_DNS_MAX_NAME]; /* the name as asked upstream */
    struct pending *cdns_next;        /* CDNS_ZONE: the stub's list of questions in flight */
};

/* pending.zone of a query asked of the container engine's resolver (container DNS). */
#define CDNS_ZONE SIZE_MAX

struct stub {
    int epoll_fd;
    int signal_fd;
    int udp_fds[STUB_MAX_SOCKETS];
    size_t n_udp;
    int tcp_fds[STUB_MAX_SOCKETS];
    size_t n_tcp;

    struct dj_ctlserve ctl; /* the control connections and the watched pidfds */
    struct tcp_conn *tcp;   /* STUB_MAX_TCP_CONNS slots */
    size_t tcp_used;        /* slots set up so far; those from here on are free */
    uint8_t *tcp_buffers;   /* their buffers, resident only once a connection used them */
    size_t n_tcp_conns;
    struct udp_batch *udp;

    struct dj_dns_policy policy;
    struct stub_virtual *virt;
    struct stub_stats stats;
    char answer4_text[INET_ADDRSTRLEN];
    char answer6_text[INET6_ADDRSTRLEN];
    const char *container_id;
    struct dj_log log;
    char line[DJ_JSON_LINE_MAX];

    struct dj_fwdzone_list zones;
    /* per zone: index into forwarders; in audit mode one more, zones.n, for every other name */
    size_t *zone_forwarder;
    bool audit;
    const struct dj_allow_rule *audit_rules;
    size_t n_audit_rules;
    struct forwarder *forwarders;
    size_t n_forwarders;
    struct dj_fwdcache *cache;
    struct dj_ratelimit upstream_limit;
    uint8_t *forward_out; /* FORWARD_OUT_SIZE: one reply built at a time */

    /* Container DNS (stub.h): its names, its resolver (forwarders[cdns_forwarder]), and its
     * questions in flight, so that the engine's resolver asking onward for one of them (Docker
     * 20.10 does so from inside the container's namespace, where the redirect brings it here)
     * is sinkholed instead of asked of it again, round and round. */
    const struct dj_cdnsnames *cdns_names;
    size_t cdns_forwarder;
    struct pending *cdns_in_flight;

    uint64_t now_ns; /* monotonic, refreshed once per wake-up */
    uint64_t last_housekeeping_ns;
    bool quit;
    bool jail_ended; /* quit because every process it watched exited */

    struct stub_metrics *metrics; /* NULL: no metrics file */
    uint64_t last_metrics_ns;
};

static int epoll_add(struct stub *s, int fd, uint32_t events, uint64_t tag, dj_error_t *err)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};

    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return dj_error_make(err, errno, "epoll_ctl(ADD, fd %d)", fd);
    return 0;
}

static int setup_forwarding(struct stub *s, const struct stub_config *cfg, dj_error_t *err);

struct stub *stub_prepare(const struct stub_config *cfg, dj_error_t *err)
{
    /* From pages.h, as the slots: untouched parts cost nothing while the stub is idle. */
    struct stub *s = dj_pages_calloc(1, sizeof(*s));

    if (s == NULL) {
        dj_error_make(err, ENOMEM, "allocating the stub");
        return NULL;
    }
    s->tcp = dj_pages_calloc(STUB_MAX_TCP_CONNS, sizeof(*s->tcp));
    s->tcp_buffers = calloc(STUB_MAX_TCP_CONNS, TCP_IN_SIZE + TCP_OUT_SIZE);
    s->udp = calloc(1, sizeof(*s->udp));
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s->tcp == NULL || s->tcp_buffers == NULL || s->udp == NULL || s->epoll_fd < 0) {
        dj_error_make(err, s->epoll_fd < 0 ? errno : ENOMEM, "setting up the event loop");
        goto fail;
    }
    dj_ctlserve_init(&s->ctl, s->epoll_fd, make_tag(TAG_CONTROL_CONN, 0, 0),
                     make_tag(TAG_WATCH, 0, 0));
    for (size_t i = 0; i < STUB_UDP_BATCH; i++) {
        s->udp->in_iov[i].iov_base = s->udp->query[i];
        s->udp->in_iov[i].iov_len = sizeof(s->udp->query[i]);
        s->udp->in[i].msg_hdr.msg_iov = &s->udp->in_iov[i];
        s->udp->in[i].msg_hdr.msg_iovlen = 1;
        s->udp->in[i].msg_hdr.msg_name = &s->udp->peer[i];
    }

    s->policy = cfg->policy;
    s->virt = cfg->virt;
    inet_ntop(AF_INET, &cfg->policy.sinkhole4, s->answer4_text, sizeof(s->answer4_text));
    if (cfg->policy.have_sinkhole6)
        inet_ntop(AF_INET6, &cfg->policy.sinkhole6, s->answer6_text, sizeof(s->answer6_text));
    s->container_id = cfg->common.container_id;
    s->now_ns = dj_monotonic_ns();
    s->last_housekeeping_ns = s->now_ns;
    dj_log_init(&s->log, cfg->common.log_fd, cfg->common.log_rate, cfg->common.log_burst,
                cfg->common.container_id, s->now_ns);

    if (cfg->common.metrics_dir_fd >= 0) {
        s->metrics = stub_metrics_new(cfg->common.metrics_dir_fd, cfg->common.container_id,
                                      cfg->common.netns_key, err);
        if (s->metrics == NULL)
            goto fail;
    }

    s->signal_fd = cfg->common.signal_fd;
    if (epoll_add(s, s->signal_fd, EPOLLIN, make_tag(TAG_SIGNAL, 0, 0), err) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->n_udp; i++) {
        s->udp_fds[s->n_udp] = cfg->udp_fds[i];
        if (epoll_add(s, cfg->udp_fds[i], EPOLLIN, make_tag(TAG_UDP, s->n_udp, 0), err) < 0)
            goto fail;
        s->n_udp++;
    }
    for (size_t i = 0; i < cfg->n_tcp; i++) {
        s->tcp_fds[s->n_tcp] = cfg->tcp_fds[i];
        if (epoll_add(s, cfg->tcp_fds[i], EPOLLIN, make_tag(TAG_TCP_LISTEN, s->n_tcp, 0), err) < 0)
            goto fail;
        s->n_tcp++;
    }
    if (setup_forwarding(s, cfg, err) < 0 ||
        dj_ctlserve_start(&s->ctl, cfg->common.control_fd, make_tag(TAG_CONTROL_LISTEN, 0, 0),
                          cfg->common.watch_fds, cfg->common.n_watch, err) < 0)
        goto fail;
    return s;

fail:
    stub_metrics_free(s->metrics);
    for (size_t i = 0; i < s->n_forwarders; i++)
        dj_resolver_free(s->forwarders[i].resolver);
    free(s->forwarders);
    free(s->zone_forwarder);
    free(s->forward_out);
    dj_fwdcache_free(s->cache);
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    dj_pages_free(s->tcp, STUB_MAX_TCP_CONNS, sizeof(*s->tcp));
    free(s->tcp_buffers);
    free(s->udp);
    dj_pages_free(s, 1, sizeof(*s));
    return NULL;
}

/* ---- logging ------------------------------------------------------------------------------ */

static void format_peer(const struct sockaddr_storage *peer, char *out, size_t size)
{
    char addr[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;

    if (peer->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)peer;
        inet_ntop(AF_INET, &sin->sin_addr, addr, sizeof(addr));
        port = ntohs(sin->sin_port);
        snprintf(out, size, "%s:%u", addr, port);
    } else if (peer->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)peer;
        inet_ntop(AF_INET6, &sin6->sin6_addr, addr, sizeof(addr));
        port = ntohs(sin6->sin6_port);
        snprintf(out, size, "[%s]:%u", addr, port);
    } else {
        snprintf(out, size, "unknown");
    }
}

/* A virtual answer's log fields: the outcome, the name's address, whether it was recycled. */
static void log_virtual(struct dj_json *j, const struct stub_virtual_answer *va,
                        const struct dj_dns_policy *policy, const struct dj_dns_outcome *outcome)
{
    char text[INET6_ADDRSTRLEN];
    const char *answer = NULL;

    if (outcome->answer == DJ_DNS_ANSWER_A)
        answer = inet_ntop(AF_INET, &policy->sinkhole4, text, sizeof(text));
    else if (outcome->answer == DJ_DNS_ANSWER_AAAA)
        answer = inet_ntop(AF_INET6, &policy->sinkhole6, text, sizeof(text));
    dj_json_add_cstring(j, "answer", answer);
    dj_json_add_cstring(j, "outcome", "virtual");
    if (va->recycled)
        dj_json_add_bool(j, "recycled", true);
    if (outcome->truncated)
        dj_json_add_bool(j, "tc", true);
}

/* VA and POLICY: the virtual answer and what it was built with, or NULL for the sinkhole. */
static void log_packet(struct stub *s, const struct sockaddr_storage *peer, bool tcp, size_t size,
                       const struct dj_dns_query *q, const struct dj_dns_outcome *outcome,
                       bool answered, const struct stub_virtual_answer *va,
                       const struct dj_dns_policy *policy)
{
    char client[INET6_ADDRSTRLEN + 16];
    char qname[DJ_DNS_MAX_NAME_TEXT];
    char type_text[DJ_DNS_TYPE_TEXT_SIZE];
    char rcode_text[DJ_DNS_RCODE_TEXT_SIZE];
    struct timespec now;
    struct dj_json j;
    bool well_formed = q->result == DJ_DNS_PARSE_OK;

    if (!dj_log_admit(&s->log, s->now_ns))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    format_peer(peer, client, sizeof(client));
    dj_json_begin(&j, s->line, sizeof(s->line));
    dj_json_add_time(&j, "time", &now);
    dj_json_add_cstring(&j, "event", well_formed ? "dns_query" : "dns_malformed");
    dj_json_add_cstring(&j, "container", s->container_id);
    dj_json_add_cstring(&j, "client", client);
    dj_json_add_cstring(&j, "proto", tcp ? "tcp" : "udp");
    if (!well_formed) {
        dj_json_add_cstring(&j, "reason", q->problem);
        dj_json_add_uint(&j, "size", size);
    }
    if (well_formed || q->has_question) {
        dj_dns_name_to_text(q->qname, q->qname_len, qname, sizeof(qname));
        dj_json_add_cstring(&j, "qname", qname);
        dj_json_add_cstring(&j, "qtype", dj_dns_type_text(q->qtype, type_text));
    }
    dj_json_add_cstring(&j, "rcode",
                        answered ? dj_dns_rcode_text(outcome->rcode, rcode_text) : NULL);
    if (well_formed && va != NULL) {
        log_virtual(&j, va, policy, outcome);
    } else if (well_formed) {
        const char *answer = NULL;

        if (outcome->answer == DJ_DNS_ANSWER_A)
            answer = s->answer4_text;
        else if (outcome->answer == DJ_DNS_ANSWER_AAAA)
            answer = s->answer6_text;
        dj_json_add_cstring(&j, "answer", answer);
        dj_json_add_cstring(&j, "outcome", "sinkholed");
        if (outcome->truncated)
            dj_json_add_bool(&j, "tc", true);
    }
    dj_log_write(&s->log, s->line, dj_json_end(&j));
}

/* ---- forward zones ------------------------------------------------------------------------ */

/* Where a query came from, so that an answer that comes later can find its way back. */
struct origin {
    int udp_fd;            /* UDP: the socket; -1 for TCP */
    socklen_t peer_len;    /* UDP */
    struct tcp_conn *conn; /* TCP */
};

static void tcp_serve(struct stub *s, struct tcp_conn *c, uint32_t events);

static int add_forwarder(struct stub *s, const char *zone, const char *upstreams,
                         const struct stub_config *cfg, dj_error_t *err)
{
    struct forwarder *f = &s->forwarders[s->n_forwarders];
    struct dj_resolver_config rc;
    const char *servers[DJ_FWDZONE_MAX_UPSTREAMS];
    char buf[DJ_FWDZONE_MAX_UPSTREAMS * DJ_FWDZONE_MAX_ENTRY];
    int n = dj_fwdzone_split_upstreams(upstreams, buf, sizeof(buf), servers);

    if (n < 0)
        return dj_error_make(err, 0, "forward zone %s: bad upstream list", zone);
    dj_resolver_config_init(&rc);
    for (int i = 0; i < n; i++)
        if (dj_resolver_config_add_server(&rc, servers[i], err) < 0)
            return dj_error_wrap(err, "forward zone %s: upstream", zone);
    /* The stub caches whole answers itself (lib/dns/fwdcache). */
    rc.cache_entries = 0;
    rc.max_inflight = FORWARD_MAX_INFLIGHT;
    if (cfg->forward_timeout_ms > 0)
        rc.timeout_ms = cfg->forward_timeout_ms;
    f->resolver = dj_resolver_new(&rc, err);
    if (f->resolver == NULL)
        return dj_error_wrap(err, "forward zone %s", zone);
    f->upstreams = upstreams;
    /* A DoT server failing its pin or verification gets its own line, not only SERVFAIL. */
    dj_resolver_set_log(f->resolver, &s->log);
    s->n_forwarders++;
    return epoll_add(s, dj_resolver_fd(f->resolver), EPOLLIN,
                     make_tag(TAG_RESOLVER, s->n_forwarders - 1, 0), err);
}

/* The container engine's resolver: the address the hook connected the sockets to (each the
 * same), asked through them only. */
static int add_cdns_forwarder(struct stub *s, const struct stub_config *cfg, dj_error_t *err)
{
    struct forwarder *f = &s->forwarders[s->n_forwarders];
    struct dj_resolver_config rc;

    dj_resolver_config_init(&rc);
    for (size_t i = 0; i < cfg->n_cdns_fds; i++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);

        memset(&peer, 0, sizeof(peer));
        if (getpeername(cfg->cdns_fds[i], (struct sockaddr *)&peer, &len) < 0)
            return dj_error_make(err, errno, "--container-dns-fd %d is not connected",
                                 cfg->cdns_fds[i]);
        if (i == 0)
            rc.servers[0] = peer;
        else if (memcmp(&peer, &rc.servers[0], sizeof(peer)) != 0)
            return dj_error_make(err, 0, "--container-dns-fd: the sockets reach different servers");
        rc.pool_fds[i] = cfg->cdns_fds[i];
    }
    rc.n_servers = 1;
    rc.n_pool_fds = cfg->n_cdns_fds;
    rc.cache_entries = 0; /* the stub's own cache keeps whole answers */
    rc.max_inflight = FORWARD_MAX_INFLIGHT;
    if (cfg->forward_timeout_ms > 0)
        rc.timeout_ms = cfg->forward_timeout_ms;
    f->resolver = dj_resolver_new(&rc, err);
    if (f->resolver == NULL)
        return dj_error_wrap(err, "container DNS");
    f->upstreams = "(container DNS)";
    s->cdns_names = &cfg->cdns_names;
    s->cdns_forwarder = s->n_forwarders++;
    return epoll_add(s, dj_resolver_fd(f->resolver), EPOLLIN,
                     make_tag(TAG_RESOLVER, s->n_forwarders - 1, 0), err);
}

/* One resolver per distinct upstream set, the cache, the rate limit. Before the sandbox:
 * resolvers need epoll_create1, eventfd2 and a blocking getrandom to start. */
static int setup_forwarding(struct stub *s, const struct stub_config *cfg, dj_error_t *err)
{
    struct dj_fwdcache_limits limits = {cfg->forward_cache_entries, cfg->forward_ttl_floor,
                                        cfg->forward_ttl_ceiling};
    uint8_t key[DJ_SIPHASH_KEY_SIZE];
    size_t filled = 0;

    size_t n_sets = cfg->forward.n + (cfg->audit ? 1 : 0) + (cfg->n_cdns_fds > 0 ? 1 : 0);

    s->zones = cfg->forward;
    s->audit = cfg->audit;
    s->audit_rules = cfg->audit_rules;
    s->n_audit_rules = cfg->n_audit_rules;
    if (n_sets == 0)
        return 0;
    s->zone_forwarder = calloc(n_sets, sizeof(*s->zone_forwarder));
    s->forwarders = calloc(n_sets, sizeof(*s->forwarders));
    s->forward_out = malloc(FORWARD_OUT_SIZE);
    if (s->zone_forwarder == NULL || s->forwarders == NULL || s->forward_out == NULL)
        return dj_error_make(err, ENOMEM, "forward zones");
    for (size_t i = 0; i < s->zones.n; i++) {
        const struct dj_fwdzone *z = &s->zones.zones[i];
        size_t k = 0;

        if (z->upstreams == NULL)
            return dj_error_make(err, 0, "forward zone %s has no upstream", z->name);
        while (k < s->n_forwarders && strcmp(s->forwarders[k].upstreams, z->upstreams) != 0)
            k++;
        if (k == s->n_forwarders && add_forwarder(s, z->name, z->upstreams, cfg, err) < 0)
            return -1;
        s->zone_forwarder[i] = k;
    }
    if (cfg->audit) {
        size_t k = 0;

        if (cfg->audit_upstreams == NULL)
            return dj_error_make(err, 0, "audit mode has no upstream");
        while (k < s->n_forwarders && strcmp(s->forwarders[k].upstreams, cfg->audit_upstreams) != 0)
            k++;
        if (k == s->n_forwarders && add_forwarder(s, "(audit)", cfg->audit_upstreams, cfg, err) < 0)
            return -1;
        s->zone_forwarder[s->zones.n] = k;
    }
    if (cfg->n_cdns_fds > 0 && add_cdns_forwarder(s, cfg, err) < 0)
        return -1;
    while (filled < sizeof(key)) {
        ssize_t n = getrandom(key + filled, sizeof(key) - filled, 0);

        if (n < 0 && errno != EINTR)
            return dj_error_make(err, errno, "getrandom for the forward cache");
        if (n > 0)
            filled += (size_t)n;
    }
    s->cache = dj_fwdcache_new(&limits, key, err);
    if (s->cache == NULL)
        return -1;
    dj_ratelimit_init(&s->upstream_limit, cfg->forward_rate, cfg->forward_burst, s->now_ns);
    return 0;
}

/* Would enforce mode have let NAME (text, any case) resolve? Only when a host or wildcard rule
 * allows it on some port: a forward zone's names are decided before this. */
static bool audit_name_allowed(const struct stub *s, const char *name)
{
    for (size_t i = 0; i < s->n_audit_rules; i++) {
        const struct dj_allow_rule *r = &s->audit_rules[i];

        if (r->kind == DJ_RULE_CIDR)
            continue;
        if (dj_allow_match_host(r, 1, name, r->port != 0 ? r->port : 80))
            return true;
    }
    return false;
}

/* ZONE: an index into s->zones, or s->zones.n for audit mode's every other name. */
static void log_forward(struct stub *s, const struct sockaddr_storage *peer, bool tcp,
                        const struct dj_dns_query *q, size_t zone, const char *outcome,
                        const uint8_t *reply, size_t reply_len, const char *reason)
{
    char client[INET6_ADDRSTRLEN + 16];
    char qname[DJ_DNS_MAX_NAME_TEXT];
    char type_text[DJ_DNS_TYPE_TEXT_SIZE];
    char rcode_text[DJ_DNS_RCODE_TEXT_SIZE];
    struct timespec now;
    struct dj_json j;

    if (s->log.fd < 0 || !dj_log_admit(&s->log, s->now_ns))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    format_peer(peer, client, sizeof(client));
    dj_dns_name_to_text(q->qname, q->qname_len, qname, sizeof(qname));
    dj_json_begin(&j, s->line, sizeof(s->line));
    dj_json_add_time(&j, "time", &now);
    dj_json_add_cstring(&j, "event", "dns_query");
    dj_json_add_cstring(&j, "container", s->container_id);
    dj_json_add_cstring(&j, "client", client);
    dj_json_add_cstring(&j, "proto", tcp ? "tcp" : "udp");
    dj_json_add_cstring(&j, "qname", qname);
    dj_json_add_cstring(&j, "qtype", dj_dns_type_text(q->qtype, type_text));
    dj_json_add_cstring(
        &j, "rcode",
        reply_len >= DJ_DNS_HEADER_SIZE ? dj_dns_rcode_text(reply[3] & 0xF, rcode_text) : NULL);
    dj_json_add_cstring(&j, "outcome", outcome);
    if (zone < s->zones.n)
        dj_json_add_cstring(&j, "zone", s->zones.zones[zone].name);
    else if (zone == CDNS_ZONE)
        dj_json_add_bool(&j, "container_dns", true);
    if (reply_len >= DJ_DNS_HEADER_SIZE && (reply[2] & 0x02))
        dj_json_add_bool(&j, "tc", true);
    if (reason != NULL)
        dj_json_add_cstring(&j, "reason", reason);
    if (s->audit)
        dj_json_add_bool(&j, "would_block", zone == s->zones.n && !audit_name_allowed(s, qname));
    dj_log_write(&s->log, s->line, dj_json_end(&j));
}

/* Appends a message to a TCP connection's output. False when it does not fit (the client
 * has not read enough of what came before): the answer is dropped, the client times out. */
static bool tcp_append(struct tcp_conn *c, const uint8_t *msg, size_t len)
{
    if (TCP_OUT_SIZE - c->out_start - c->out_len < 2 + len) {
        memmove(c->out, c->out + c->out_start, c->out_len);
        c->out_start = 0;
    }
    if (TCP_OUT_SIZE - c->out_len < 2 + len)
        return false;
    c->out[c->out_start + c->out_len] = (uint8_t)(len >> 8);
    c->out[c->out_start + c->out_len + 1] = (uint8_t)len;
    memcpy(c->out + c->out_start + c->out_len + 2, msg, len);
    c->out_len += 2 + len;
    return true;
}

/* Sends a reply built outside the UDP batch and the TCP slot. Returns false when it could
 * not be queued. */
static bool deliver(struct stub *s, const struct origin *from, const struct sockaddr_storage *peer,
                    const uint8_t *msg, size_t len)
{
    if (from->conn != NULL)
        return tcp_append(from->conn, msg, len);
    /* Errors are a full socket buffer or a vanished client: like a router, drop. */
    sendto(from->udp_fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *)peer, from->peer_len);
    return true;
}

static void cdns_forget(struct stub *s, const struct pending *p)
{
    for (struct pending **at = &s->cdns_in_flight; *at != NULL; at = &(*at)->cdns_next) {
        if (*at == p) {
            *at = p->cdns_next;
            return;
        }
    }
}

/* Is the question of Q one the stub is asking the engine's resolver right now? Then Q is that
 * resolver asking onward (or a container asking the same at the same moment, which gets the
 * sinkhole like any name the engine does not own). */
static bool cdns_asking(const struct stub *s, const struct dj_dns_query *q)
{
    for (const struct pending *p = s->cdns_in_flight; p != NULL; p = p->cdns_next)
        if (p->q.qtype == q->qtype && p->q.qclass == q->qclass && p->q.qname_len == q->qname_len &&
            dj_fwdzone_wire_covered(q->qname, q->qname_len, p->lowered, q->qname_len))
            return true;
    return false;
}

static void forward_done(void *ctx, enum dj_resolve_status status, const uint8_t *msg, size_t len)
{
    struct pending *p = ctx;
    struct stub *s = p->stub;
    struct dj_fwdmsg_info info;
    struct origin from = {p->udp_fd, p->peer_len, NULL};
    const char *reason = NULL;
    const char *outcome = "forwarded";
    bool truncated = false;
    size_t n = 0;

    s->now_ns = dj_monotonic_ns();
    if (p->zone == CDNS_ZONE)
        cdns_forget(s, p);
    if (msg == NULL) {
        reason = dj_resolver_status_text(status);
    } else {
        reason =
            dj_fwdmsg_scan(msg, len, p->q.qname, p->q.qname_len, p->q.qtype, p->q.qclass, &info);
        if (reason == NULL) {
            /* TTLs no longer than we keep the answer ourselves; 0 when we do not keep it. */
            uint32_t cap = info.cacheable ? dj_fwdcache_clamp(s->cache, info.lifetime) : 0;
            dj_error_t err = NULL;

            if (info.cacheable &&
                dj_fwdcache_put(s->cache, p->q.qname, p->q.qname_len, p->q.qtype, p->q.qclass, msg,
                                len, info.lifetime, s->now_ns, &err) < 0)
                dj_error_release(&err);
            n = dj_fwdmsg_build_reply(msg, len, &p->q, 0, cap, dj_dns_response_limit(&p->q, p->tcp),
                                      s->forward_out, FORWARD_OUT_SIZE, &truncated);
            if (n == 0)
                reason = "answer does not fit";
        }
    }
    if (n == 0) {
        n = dj_fwdmsg_build_error(&p->q, DJ_DNS_RCODE_SERVFAIL, s->forward_out, FORWARD_OUT_SIZE);
        outcome = "failed";
        s->stats.queries_failed++;
    } else {
        s->stats.queries_forwarded++;
    }
    if (p->tcp) {
        struct tcp_conn *c = &s->tcp[p->tcp_slot];

        /* The client may have gone, and its slot gone to another. */
        if (c->fd < 0 || c->generation != p->tcp_generation) {
            free(p);
            return;
        }
        from.conn = c;
    }
    if (n > 0 && !deliver(s, &from, &p->peer, s->forward_out, n))
        reason = "client's TCP buffer full";
    log_forward(s, &p->peer, p->tcp, &p->q, p->zone, outcome, s->forward_out, n, reason);
    if (from.conn != NULL)
        tcp_serve(s, from.conn, 0); /* send it, and watch for what comes next */
    free(p);
}

/* A well-formed query for a name inside zone ZONE: from the cache, or REFUSED over the rate
 * limit, or sent upstream (the answer goes out from forward_done). A cached answer that fits
 * OUT (DJ_DNS_MAX_RESPONSE bytes) is returned in it, so that it leaves with the caller's
 * batch; otherwise everything is sent from here and 0 returned. */
static size_t forward_query(struct stub *s, const struct dj_dns_query *q,
                            const struct sockaddr_storage *peer, const struct origin *from,
                            size_t zone, uint8_t *out)
{
    struct forwarder *f =
        &s->forwarders[zone == CDNS_ZONE ? s->cdns_forwarder : s->zone_forwarder[zone]];
    struct dj_fwdcache_hit hit;
    struct pending *p;
    dj_error_t err = NULL;
    bool truncated;
    size_t n;

    if (dj_fwdcache_get(s->cache, q->qname, q->qname_len, q->qtype, q->qclass, s->now_ns, &hit)) {
        n = dj_fwdmsg_build_reply(hit.msg, hit.len, q, hit.elapsed, hit.remaining,
                                  dj_dns_response_limit(q, from->conn != NULL), s->forward_out,
                                  FORWARD_OUT_SIZE, &truncated);
        if (n > 0) {
            s->stats.queries_cached++;
            log_forward(s, peer, from->conn != NULL, q, zone, "cached", s->forward_out, n, NULL);
            if (n <= DJ_DNS_MAX_RESPONSE) {
                memcpy(out, s->forward_out, n);
                return n;
            }
            deliver(s, from, peer, s->forward_out, n);
            return 0;
        }
    }
    if (!dj_ratelimit_allow(&s->upstream_limit, s->now_ns)) {
        n = dj_fwdmsg_build_error(q, DJ_DNS_RCODE_REFUSED, s->forward_out, FORWARD_OUT_SIZE);
        s->stats.queries_refused++;
        if (n > 0)
            deliver(s, from, peer, s->forward_out, n);
        log_forward(s, peer, from->conn != NULL, q, zone, "refused", s->forward_out, n,
                    "upstream rate limit (forward-rate)");
        return 0;
    }
    p = calloc(1, sizeof(*p));
    if (p != NULL) {
        p->stub = s;
        p->q = *q;
        p->peer = *peer;
        p->peer_len = from->peer_len;
        p->tcp = from->conn != NULL;
        p->udp_fd = from->udp_fd;
        p->zone = zone;
        if (from->conn != NULL) {
            p->tcp_slot = (size_t)(from->conn - s->tcp);
            p->tcp_generation = from->conn->generation;
        }
        dj_fwdmsg_lower_name(q->qname, q->qname_len, p->lowered);
        if (dj_resolver_query(f->resolver, p->lowered, q->qname_len, q->qtype, q->qclass,
                              forward_done, p, &err) != NULL) {
            if (zone == CDNS_ZONE) {
                p->cdns_next = s->cdns_in_flight;
                s->cdns_in_flight = p;
            }
            return 0;
        }
        free(p);
    }
    /* Too many in flight, or out of memory. */
    n = dj_fwdmsg_build_error(q, DJ_DNS_RCODE_SERVFAIL, s->forward_out, FORWARD_OUT_SIZE);
    s->stats.queries_failed++;
    if (n > 0)
        deliver(s, from, peer, s->forward_out, n);
    log_forward(s, peer, from->conn != NULL, q, zone, "failed", s->forward_out, n,
                err != NULL ? dj_error_msg(&err) : "out of memory");
    dj_error_release(&err);
    return 0;
}

/* The metrics file, with the forward zones' resolvers summed into one set of series. */
static void write_metrics(struct stub *s)
{
    struct dj_resolver_stats forward, one;

    memset(&forward, 0, sizeof(forward));
    for (size_t i = 0; i < s->n_forwarders; i++) {
        dj_resolver_get_stats(s->forwarders[i].resolver, &one);
        dj_resolver_stats_add(&forward, &one);
    }
    stub_metrics_write(s->metrics, &s->stats, &forward);
}

/* Parses QUERY, writes the response into OUT and logs the exchange. Returns the response
 * length, 0 for no response (none due, or a forward zone's answer that goes out later). */
static size_t answer_query(struct stub *s, const uint8_t *query, size_t len,
                           const struct sockaddr_storage *peer, const struct origin *from,
                           uint8_t *out)
{
    bool tcp = from->conn != NULL;
    const struct dj_dns_policy *policy = &s->policy;
    struct stub_virtual_answer va, *virtual_answer = NULL;
    struct dj_dns_policy virtual_policy;
    struct dj_dns_query q;
    struct dj_dns_outcome outcome;
    size_t n;

    dj_dns_parse_query(query, len, &q);
    /* A name:port rule wins over a forward zone: the name gets its virtual address, and the
     * proxy resolves it through the zone's upstreams when the container connects. The zone's
     * real answer would lead to an address that no rule lets the container reach. */
    if (s->virt != NULL && stub_virtual_lookup(s->virt, &q, &s->policy, &virtual_policy, &va)) {
        policy = &virtual_policy;
        virtual_answer = &va;
        s->stats.virtual_recycled += va.recycled;
    } else if (q.result == DJ_DNS_PARSE_OK && s->zones.n > 0) {
        /* Only names inside a forward zone ever leave the stub. */
        ssize_t zone = dj_fwdzone_match(&s->zones, q.qname, q.qname_len);

        if (zone >= 0)
            return forward_query(s, &q, peer, from, (size_t)zone, out);
    }
    if (virtual_answer == NULL && q.result == DJ_DNS_PARSE_OK && s->cdns_names != NULL &&
        dj_cdnsnames_match(s->cdns_names, q.qname, q.qname_len) && !cdns_asking(s, &q))
        return forward_query(s, &q, peer, from, CDNS_ZONE, out);
    /* Audit mode (no virtual addresses): every other well-formed query is resolved too. */
    if (q.result == DJ_DNS_PARSE_OK && s->audit && virtual_answer == NULL)
        return forward_query(s, &q, peer, from, s->zones.n, out);
    n = dj_dns_build_response(&q, policy, dj_dns_response_limit(&q, tcp), out, DJ_DNS_MAX_RESPONSE,
                              &outcome);
    if (q.result == DJ_DNS_PARSE_OK && virtual_answer != NULL)
        s->stats.queries_virtual++;
    else if (q.result == DJ_DNS_PARSE_OK)
        s->stats.queries_sinkholed++;
    else if (n > 0)
        s->stats.packets_malformed++;
    else
        s->stats.packets_dropped++;
    if (s->log.fd >= 0)
        log_packet(s, peer, tcp, len, &q, &outcome, n > 0, virtual_answer, policy);
    return n;
}

/* ---- UDP ---------------------------------------------------------------------------------- */

static bool peer_usable(const struct sockaddr_storage *peer, socklen_t len)
{
    /* Never answer port 0 (nobody asked from there) or an address we could not read. */
    if (peer->ss_family == AF_INET && len >= sizeof(struct sockaddr_in))
        return ((const struct sockaddr_in *)peer)->sin_port != 0;
    if (peer->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
        return ((const struct sockaddr_in6 *)peer)->sin6_port != 0;
    return false;
}

static void udp_send(int fd, struct mmsghdr *msgs, unsigned count)
{
    unsigned sent = 0;

    while (sent < count) {
        int r = sendmmsg(fd, msgs + sent, count - sent, MSG_DONTWAIT);

        if (r > 0) {
            sent += (unsigned)r;
        } else if (r < 0 && errno == EINTR) {
            continue;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)) {
            return; /* socket buffer full: like any router, drop the rest */
        } else {
            sent++; /* this one cannot go (e.g. refused by a firewall): skip it */
        }
    }
}

static void udp_serve(struct stub *s, int fd)
{
    struct udp_batch *b = s->udp;

    struct origin from = {fd, 0, NULL};

    for (int round = 0; round < UDP_ROUNDS; round++) {
        unsigned n_out = 0;
        int n;

        for (size_t i = 0; i < STUB_UDP_BATCH; i++)
            b->in[i].msg_hdr.msg_namelen = sizeof(b->peer[i]);
        /* MSG_TRUNC: msg_len says how long an oversized datagram really was. */
        n = recvmmsg(fd, b->in, STUB_UDP_BATCH, MSG_DONTWAIT | MSG_TRUNC, NULL);
        if (n <= 0)
            return; /* EAGAIN: drained; other errors (ICMP reports): try at the next wake-up */
        for (int i = 0; i < n; i++) {
            struct msghdr *in = &b->in[i].msg_hdr;
            size_t len;

            if (!peer_usable(&b->peer[i], in->msg_namelen))
                continue;
            if ((in->msg_flags & MSG_TRUNC) || b->in[i].msg_len > STUB_QUERY_MAX) {
                /* Longer than any sane query: parse nothing, say nothing. */
                struct dj_dns_query q = {.result = DJ_DNS_PARSE_DROP,
                                         .problem = "datagram longer than 4096 bytes"};
                struct dj_dns_outcome none = {0};

                s->stats.packets_dropped++;
                if (s->log.fd >= 0)
                    log_packet(s, &b->peer[i], false, b->in[i].msg_len, &q, &none, false, NULL,
                               NULL);
                continue;
            }
            from.peer_len = in->msg_namelen;
            len =
                answer_query(s, b->query[i], b->in[i].msg_len, &b->peer[i], &from, b->response[i]);
            if (len == 0)
                continue;
            b->out_iov[n_out].iov_base = b->response[i];
            b->out_iov[n_out].iov_len = len;
            memset(&b->out[n_out], 0, sizeof(b->out[n_out]));
            b->out[n_out].msg_hdr.msg_name = &b->peer[i];
            b->out[n_out].msg_hdr.msg_namelen = in->msg_namelen;
            b->out[n_out].msg_hdr.msg_iov = &b->out_iov[n_out];
            b->out[n_out].msg_hdr.msg_iovlen = 1;
            n_out++;
        }
        if (n_out > 0)
            udp_send(fd, b->out, n_out);
        if (n < STUB_UDP_BATCH)
            return;
    }
}

/* ---- TCP ---------------------------------------------------------------------------------- */

static void tcp_close(struct stub *s, struct tcp_conn *c)
{
    close(c->fd); /* also drops it from the epoll set */
    c->fd = -1;
    s->n_tcp_conns--;
}

static struct tcp_conn *tcp_least_recently_active(struct stub *s)
{
    struct tcp_conn *oldest = NULL;

    for (size_t i = 0; i < s->tcp_used; i++)
        if (s->tcp[i].fd >= 0 &&
            (oldest == NULL || s->tcp[i].last_active_ns < oldest->last_active_ns))
            oldest = &s->tcp[i];
    return oldest;
}

static void tcp_accept(struct stub *s, int listen_fd)
{
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        struct sockaddr_storage peer;
        socklen_t peer_len = sizeof(peer);
        struct tcp_conn *c = NULL;
        dj_error_t err = NULL;
        int fd =
            accept4(listen_fd, (struct sockaddr *)&peer, &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of descriptors: give one up so the queue keeps moving. */
                struct tcp_conn *oldest = tcp_least_recently_active(s);
                if (oldest != NULL)
                    tcp_close(s, oldest);
            }
            return; /* EAGAIN, or the client gave up already */
        }
        /* Full: the client that has been quiet longest makes room for the new one. */
        if (s->n_tcp_conns == STUB_MAX_TCP_CONNS) {
            struct tcp_conn *oldest = tcp_least_recently_active(s);

            if (oldest != NULL) /* always: every slot is in use */
                tcp_close(s, oldest);
        }
        for (size_t k = 0; k < s->tcp_used; k++) {
            if (s->tcp[k].fd < 0) {
                c = &s->tcp[k];
                break;
            }
        }
        if (c == NULL && s->tcp_used < STUB_MAX_TCP_CONNS) {
            /* A slot is set up when first needed: an idle stub never writes the table. */
            c = &s->tcp[s->tcp_used];
            c->in = s->tcp_buffers + s->tcp_used * (TCP_IN_SIZE + TCP_OUT_SIZE);
            c->out = c->in + TCP_IN_SIZE;
            s->tcp_used++;
        }
        if (c == NULL) { /* cannot happen: a slot was just freed */
            close(fd);
            return;
        }
        c->fd = fd;
        c->generation++;
        c->peer = peer;
        c->peer_closed = false;
        c->events = EPOLLIN;
        c->last_active_ns = s->now_ns;
        c->in_len = c->out_start = c->out_len = 0;
        if (epoll_add(s, fd, EPOLLIN, make_tag(TAG_TCP_CONN, (size_t)(c - s->tcp), c->generation),
                      &err) < 0) {
            dj_error_release(&err);
            close(fd);
            c->fd = -1;
            continue;
        }
        s->n_tcp_conns++;
        s->stats.tcp_connections++;
    }
}

static size_t tcp_complete_message(const struct tcp_conn *c)
{
    size_t len;

    if (c->in_len < 2)
        return 0;
    len = ((size_t)c->in[0] << 8) | c->in[1];
    return c->in_len - 2 >= len ? len + 2 : 0;
}

/* Answers every complete query in the input buffer while the output buffer has room.
 * Returns false when the connection must be closed (a message too long to be a query). */
static bool tcp_answer_pending(struct stub *s, struct tcp_conn *c)
{
    struct origin from = {-1, 0, c};
    size_t off = 0;

    while (c->in_len - off >= 2) {
        size_t len = ((size_t)c->in[off] << 8) | c->in[off + 1];
        uint8_t *slot;
        size_t n;

        if (len > STUB_QUERY_MAX) {
            struct dj_dns_query q = {.result = DJ_DNS_PARSE_DROP,
                                     .problem = "TCP message longer than 4096 bytes"};
            struct dj_dns_outcome none = {0};

            s->stats.packets_dropped++;
            if (s->log.fd >= 0)
                log_packet(s, &c->peer, true, len, &q, &none, false, NULL, NULL);
            return false;
        }
        if (c->in_len - off - 2 < len)
            break;
        if (TCP_OUT_SIZE - c->out_len < 2 + DJ_DNS_MAX_RESPONSE)
            break; /* backpressure: wait until the client reads */
        if (TCP_OUT_SIZE - c->out_start - c->out_len < 2 + DJ_DNS_MAX_RESPONSE) {
            memmove(c->out, c->out + c->out_start, c->out_len);
            c->out_start = 0;
        }
        slot = c->out + c->out_start + c->out_len;
        n = answer_query(s, c->in + off + 2, len, &c->peer, &from, slot + 2);
        if (n > 0) {
            slot[0] = (uint8_t)(n >> 8);
            slot[1] = (uint8_t)n;
            c->out_len += 2 + n;
        }
        off += 2 + len;
    }
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    return true;
}

/* Sends what is buffered. Returns false when the connection is dead. */
static bool tcp_flush(struct stub *s, struct tcp_conn *c)
{
    while (c->out_len > 0) {
        ssize_t n = send(c->fd, c->out + c->out_start, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n > 0) {
            c->out_start += (size_t)n;
            c->out_len -= (size_t)n;
            c->last_active_ns = s->now_ns;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        } else {
            return false;
        }
    }
    c->out_start = 0;
    return true;
}

/* Reads what arrived, answers, writes, and sets what epoll should wait for next. */
static void tcp_serve(struct stub *s, struct tcp_conn *c, uint32_t events)
{
    uint32_t want = 0;

    if (events & EPOLLERR) {
        tcp_close(s, c);
        return;
    }
    if ((events & (EPOLLIN | EPOLLHUP)) && !c->peer_closed) {
        ssize_t n;

        do
            n = recv(c->fd, c->in + c->in_len, TCP_IN_SIZE - c->in_len, MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n > 0) {
            c->in_len += (size_t)n;
            c->last_active_ns = s->now_ns;
        } else if (n == 0) {
            c->peer_closed = true; /* it may still wait for the answers (half close) */
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            tcp_close(s, c);
            return;
        }
    }
    /* Answer, send, and answer again while the client takes everything we send: each round
     * answers at least one query, so this ends with the input. */
    do {
        if (!tcp_answer_pending(s, c) || !tcp_flush(s, c)) {
            tcp_close(s, c);
            return;
        }
    } while (c->out_len == 0 && tcp_complete_message(c) > 0);
    if (c->peer_closed && c->out_len == 0) {
        tcp_close(s, c);
        return;
    }
    if (!c->peer_closed && TCP_OUT_SIZE - c->out_len >= 2 + DJ_DNS_MAX_RESPONSE &&
        c->in_len < TCP_IN_SIZE)
        want |= EPOLLIN;
    if (c->out_len > 0)
        want |= EPOLLOUT;
    if (want != c->events) {
        struct epoll_event ev = {
            .events = want,
            .data.u64 = make_tag(TAG_TCP_CONN, (size_t)(c - s->tcp), c->generation),
        };

        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
            tcp_close(s, c);
            return;
        }
        c->events = want;
    }
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void housekeeping(struct stub *s)
{
    uint64_t idle_ns = (uint64_t)STUB_TCP_IDLE_MS * NS_PER_MS;

    s->last_housekeeping_ns = s->now_ns;
    for (size_t i = 0; i < s->tcp_used && s->n_tcp_conns > 0; i++)
        if (s->tcp[i].fd >= 0 && s->now_ns - s->tcp[i].last_active_ns >= idle_ns)
            tcp_close(s, &s->tcp[i]);
    dj_ctlserve_expire(&s->ctl, s->now_ns, idle_ns);
    dj_log_summarize(&s->log, s->now_ns, false);
}

static void handle_signal(struct stub *s)
{
    struct signalfd_siginfo info;
    ssize_t n = read(s->signal_fd, &info, sizeof(info));

    if (n == (ssize_t)sizeof(info))
        s->quit = true; /* only SIGTERM and SIGINT are routed here */
}

static void dispatch(struct stub *s, const struct epoll_event *ev)
{
    enum tag_kind kind = (enum tag_kind)(ev->data.u64 >> 56);
    uint32_t generation = (uint32_t)(ev->data.u64 >> 32) & 0xFFFFFF;
    size_t index = (uint32_t)ev->data.u64;

    switch (kind) {
    case TAG_SIGNAL:
        handle_signal(s);
        break;
    case TAG_UDP:
        udp_serve(s, s->udp_fds[index]);
        break;
    case TAG_TCP_LISTEN:
        tcp_accept(s, s->tcp_fds[index]);
        break;
    case TAG_TCP_CONN:
        /* An earlier event of this wake-up may have closed (or even replaced) it. */
        if (index < s->tcp_used && s->tcp[index].fd >= 0 &&
            (s->tcp[index].generation & 0xFFFFFF) == generation)
            tcp_serve(s, &s->tcp[index], ev->events);
        break;
    case TAG_CONTROL_LISTEN:
        dj_ctlserve_accept(&s->ctl, s->now_ns);
        break;
    case TAG_CONTROL_CONN:
        if (dj_ctlserve_serve(&s->ctl, index, s->now_ns))
            s->quit = true;
        break;
    case TAG_WATCH:
        if (dj_ctlserve_watch_exited(&s->ctl, index))
            s->quit = s->jail_ended = true;
        break;
    case TAG_RESOLVER:
        if (index < s->n_forwarders)
            dj_resolver_process(s->forwarders[index].resolver);
        break;
    }
}

int stub_run(struct stub *s, dj_error_t *err)
{
    struct epoll_event events[EPOLL_BATCH];

    if (s->metrics != NULL) {
        write_metrics(s); /* the file exists from the start */
        s->last_metrics_ns = s->now_ns;
    }
    while (!s->quit) {
        bool timed = s->n_tcp_conns > 0 || s->ctl.n_conns > 0 || dj_log_summary_pending(&s->log) ||
                     s->metrics != NULL;
        int timeout = timed ? 1000 : -1;
        int n;

        for (size_t i = 0; i < s->n_forwarders; i++) {
            int ms = dj_resolver_timeout_ms(s->forwarders[i].resolver);

            if (ms >= 0 && (timeout < 0 || ms < timeout))
                timeout = ms;
        }
        n = epoll_wait(s->epoll_fd, events, EPOLL_BATCH, timeout);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dj_error_make(err, errno, "epoll_wait");
        s->now_ns = dj_monotonic_ns();
        for (int i = 0; i < n && !s->quit; i++)
            dispatch(s, &events[i]);
        /* Upstream attempts whose time is up: the next server, or SERVFAIL. */
        for (size_t i = 0; i < s->n_forwarders && !s->quit; i++)
            if (dj_resolver_timeout_ms(s->forwarders[i].resolver) == 0)
                dj_resolver_process(s->forwarders[i].resolver);
        if (s->now_ns - s->last_housekeeping_ns >= HOUSEKEEPING_NS)
            housekeeping(s);
        if (s->metrics != NULL && !s->quit &&
            s->now_ns - s->last_metrics_ns >= STUB_METRICS_INTERVAL_MS * NS_PER_MS) {
            write_metrics(s);
            s->last_metrics_ns = s->now_ns;
        }
    }
    dj_log_summarize(&s->log, dj_monotonic_ns(), true);
    /* Not when its containers all exited: their poststop removes the metrics directory next,
     * and one more file written there (created and renamed over) would only slow their end. */
    if (s->metrics != NULL && !s->jail_ended)
        write_metrics(s);
    return 0;
}
