/* proxy.h: dnsjail-proxy's serving state, shared by its files.
 *
 * One thread, one epoll set. The listeners (HTTP, TLS and virtual addresses, bound by the
 * hook inside the container's network namespace), the control socket, the watched pidfds, a
 * signalfd and the resolver's fd are registered once; each client connection (struct conn)
 * registers its client socket and, once it has one, its upstream socket.
 *
 * A connection moves bytes in two flows: up (client to upstream) and down (upstream to
 * client). A flow holds a small buffer for what must be parsed (the ClientHello, request and
 * response heads, chunk-size lines) and a pipe for what is only moved (bodies, the TLS bulk
 * phase), with splice(2). The protocol files (http.c, tls.c) decide what each flow may
 * forward (virtual.c: nothing to parse, the name comes from the virtual address); relay.c
 * moves it; upstream.c resolves, checks and connects; conn.c owns a
 * connection's life (epoll interest, timeouts, close, the log line); loop.c the rest.
 *
 * Memory per connection: struct conn (2.4 KiB, allocated at accept, freed at close); a flow
 * buffer only while it holds bytes (4 KiB at first, grown to at most PROXY_HTTP_BUFFER_MAX
 * (32 KiB) for HTTP heads or PROXY_TLS_BUFFER_MAX (17 KiB) for a ClientHello, freed once
 * empty between HTTP messages and after the ClientHello is relayed); a pipe per direction
 * only once bytes are spliced, taken from and given back to a pool, whose kernel pages exist
 * only while data waits in it: at most 64 KiB, or PROXY_PIPE_BULK_SIZE (1 MiB) once the flow
 * has moved PROXY_PIPE_GROW_AFTER (the kernel's per-user pipe budget, fs.pipe-user-pages-soft,
 * caps the total). An idle relayed or keep-alive connection holds struct conn and two
 * sockets. Descriptors: at most PROXY_FDS_PER_CONN (fit_fd_limit() in main.c says what happens
 * when the limit does not allow that many). */
#ifndef DNSJAIL_PROXY_H
#define DNSJAIL_PROXY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "daemon/ctlserve.h"
#include "daemon/daemon.h"
#include "base/error.h"
#include "dns/fwdzone.h"
#include "http/httphead.h"
#include "daemon/jsonlog.h"
#include "jail/policy.h"
#include "dns/resolver.h"
#include "http/resphead.h"
#include "http/tlshello.h"
#include "jail/vaddr.h"

#define PROXY_MAX_LISTENERS 8                         /* of each kind */
#define PROXY_MAX_WATCHED DJ_CTLSERVE_MAX_WATCHED     /* pidfds watched at once, like the stub */
#define PROXY_MAX_CONTROL_CONNS DJ_CTLSERVE_MAX_CONNS /* control connections open at once */
#define PROXY_MAX_UPSTREAM_ALLOW 64                   /* --upstream-allow ranges */
#define PROXY_DEFAULT_MAX_CONNECTIONS 2048
#define PROXY_FDS_PER_CONN 6             /* client, upstream, two pipes */
#define PROXY_SOCKETS_PER_CONN 2         /* without pipes (they fall back to the buffer) */
#define PROXY_DEFAULT_HANDSHAKE_MS 10000 /* accept to complete hello/head; a head once begun */
#define PROXY_DEFAULT_IDLE_MS 300000     /* no byte either way */
#define PROXY_UPSTREAM_MS 15000          /* resolving and connecting, all addresses together */
#define PROXY_CONNECT_MS 3000            /* one address */
#define PROXY_LINGER_MS 2000             /* after our FIN: the client's late bytes are drained */
#define PROXY_CONTROL_IDLE_MS 10000      /* a silent control connection is closed, like the stub */
#define PROXY_LOG_PATH_MAX 256           /* bytes of the request path put into a log line */
#define PROXY_BUFFER_MIN 4096
#define PROXY_HTTP_BUFFER_MAX DJ_HTTP_MAX_HEAD /* a head of the largest allowed size fits */
#define PROXY_TLS_BUFFER_MAX DJ_TLSHELLO_MAX_INPUT
#define PROXY_PIPE_POOL 256            /* empty pipes kept for reuse */
#define PROXY_PIPE_DEFAULT_SIZE 65536  /* what pipe2() gives */
#define PROXY_PIPE_BULK_SIZE (1 << 20) /* once a flow has spliced PROXY_PIPE_GROW_AFTER */
#define PROXY_PIPE_GROW_AFTER (1 << 20)
#define PROXY_SPLICE_AFTER 16384 /* bytes a flow moves through its buffer before splicing */

enum listener_kind { LISTENER_HTTP, LISTENER_TLS, LISTENER_VIRTUAL };

struct proxy_cidr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    uint8_t prefix;
};

struct proxy_config {
    int http_fds[PROXY_MAX_LISTENERS]; /* listening, non-blocking */
    size_t n_http;
    int tls_fds[PROXY_MAX_LISTENERS];
    size_t n_tls;
    int virtual_fds[PROXY_MAX_LISTENERS]; /* TCP to virtual addresses, any port */
    size_t n_virtual;
    const struct dj_vaddr_slot *vmap; /* the stub's name map, read-only; NULL: none */
    struct dj_vaddr_pool vpool;       /* valid when vmap is set */
    /* The control socket, watched pidfds, signalfd, log and where proxy.prom goes. */
    struct dj_daemon_config common;

    const struct dj_allow_rule *rules;
    size_t n_rules;
    /* Audit mode: what the rules do not allow is relayed anyway and logged would_block; the
     * virtual listener relays any TCP connection to its original destination. */
    bool audit;
    struct proxy_cidr upstream_allow[PROXY_MAX_UPSTREAM_ALLOW];
    size_t n_upstream_allow;
    struct dj_resolver_config resolver;
    /* The admin's forward zones, each with its upstreams: names inside one are resolved there
     * (zones.c), as the stub answers them. */
    struct dj_fwdzone_list forward;

    uint16_t default_port_http; /* when the original destination is unknown */
    uint16_t default_port_tls;
    size_t max_connections;
    size_t requested_connections; /* --max-connections, when the fd limit lowered it */
    unsigned handshake_ms;
    unsigned idle_ms;
};

/* What the proxy counts since it started, for the metrics file (stats.c). Indexes: enum
 * conn_kind, then enum proxy_verdict. */
enum conn_kind { CONN_HTTP, CONN_TLS, CONN_VIRTUAL, N_CONN_KINDS };
/* FAILED: allowed, but the destination could not be resolved or reached (decision "error"). */
enum proxy_verdict { PROXY_ALLOWED, PROXY_DENIED, PROXY_FAILED, N_VERDICTS };
struct proxy_stats {
    uint64_t connections[N_CONN_KINDS]; /* accepted, by protocol */
    /* Per HTTP request and per TLS connection, refusals at accept (too many connections)
     * among the denied. */
    uint64_t decisions[N_CONN_KINDS][N_VERDICTS];
    uint64_t bytes_up_closed; /* bytes forwarded by connections already closed */
    uint64_t bytes_down_closed;
};

/* What a flow does with the bytes it has not forwarded yet. */
enum framing {
    FRAME_HOLD,    /* keep them: a head or hello is being read, or a decision is pending */
    FRAME_LENGTH,  /* forward `left` more bytes */
    FRAME_CHUNKED, /* forward through the chunked walker */
    FRAME_RAW,     /* forward everything until EOF */
    FRAME_DONE,    /* the message is complete; what follows is the protocol's again */
    FRAME_ERROR,   /* the chunked walker refused the body */
};

/* One direction. Buffer layout: [0, sent) written, [sent, out_end) to write to the
 * destination, [out_end, len) received and not yet forwarded. Bytes go out in the order they
 * came in: the pipe is written only when [sent, out_end) is empty, it is filled only when
 * [out_end, len) is empty, and the buffer is read into only when the pipe is empty. */
struct flow {
    uint8_t *buf;
    uint32_t cap, max_cap;
    uint32_t sent, out_end, len;
    int pipe_rd, pipe_wr; /* -1 until something is spliced */
    uint32_t pipe_len;
    bool pipe_maybe_full;  /* splice in said EAGAIN with bytes in the pipe */
    bool pipe_grown;       /* set to PROXY_PIPE_BULK_SIZE */
    uint64_t pipe_spliced; /* bytes through this pipe */
    enum framing framing;
    uint64_t left; /* FRAME_LENGTH */
    struct dj_chunked chunked;
    bool src_eof;       /* the source sent FIN */
    bool eof_forward;   /* once src_eof is reached and all is written, shut the destination */
    bool dst_shut;      /* we did shutdown(SHUT_WR) on the destination */
    uint64_t forwarded; /* bytes handed to the destination (written or queued) */
};

/* Connection sockets are registered once, edge-triggered, for everything: no epoll_ctl per
 * state change. The hints below are set by events and cleared only on EAGAIN (or a short
 * read), so whatever stops a flow early (a full buffer, the pump's round limit) resumes
 * without needing another edge. */
#define PROXY_SOCKET_EVENTS (EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET)

struct endpoint {
    int fd;
    bool readable;
    bool writable;
    bool rdhup; /* the peer's FIN has arrived: a short read has drained it to EOF */
};

enum req_state {
    REQ_HEAD,          /* reading a request head */
    REQ_WAIT_UPSTREAM, /* allowed; resolving or connecting */
    REQ_BODY,          /* forwarding the body */
    REQ_DONE,          /* the request is forwarded */
};

enum resp_state {
    RESP_IDLE, /* no request outstanding; the upstream, if any, is kept for reuse */
    RESP_HEAD, /* waiting for a response head (again after 1xx) */
    RESP_BODY,
    RESP_DONE,
};

enum tls_state { TLS_HELLO, TLS_WAIT_UPSTREAM, TLS_RELAY };

/* What the log line of the current request (HTTP) or connection (TLS) says. */
struct conn_record {
    bool pending; /* a line is owed */
    char host[DJ_TLSHELLO_NAME_SIZE];
    char method[24];
    char path[PROXY_LOG_PATH_MAX + 1];
    bool path_truncated;
    const char *decision; /* "allow" or "deny" */
    char reason[160];
    unsigned status; /* HTTP status sent or relayed; 0 unknown */
    bool ech, alpn;  /* TLS */
    char upstream[INET6_ADDRSTRLEN + 8];
    bool would_block; /* audit mode: allowed only because of it (a "deny" is one too) */
    uint64_t up_start, down_start; /* flow->forwarded when the record began */
    uint64_t start_ns;
};

struct proxy;

struct conn {
    struct proxy *proxy;
    uint32_t index;
    uint32_t generation;    /* bumped at accept and for every new upstream socket */
    uint32_t up_generation; /* the upstream socket's epoll tag */
    enum conn_kind kind;
    struct endpoint client, upstream;
    bool connecting;
    bool closing; /* refused: flushing our answer, then reading until EOF, then close */
    bool queued;  /* in proxy.again: pumped again before the next wait */
    struct flow up, down;
    struct sockaddr_storage client_addr;
    uint16_t dest_port;
    /* The client connected to a virtual address (any listener): its text and the name the
     * stub gave it ("" when the slot holds none). */
    bool virtual_dest;
    char virtual_addr[INET6_ADDRSTRLEN];
    char virtual_name[DJ_VADDR_NAME_SIZE];
    bool virtual_relaying; /* CONN_VIRTUAL: connected, bytes move both ways */
    /* The original destination's address (any listener), when the kernel gave one; audit
     * mode relays a virtual-listener connection that is not to a virtual address there. */
    int orig_family; /* AF_INET, AF_INET6, or 0: unknown */
    uint8_t orig_addr[16];
    bool audit_tcp; /* CONN_VIRTUAL in audit mode to orig_addr: logged as tcp_connection */
    uint64_t last_active_ns;
    uint64_t deadline_ns; /* handshake, upstream or linger deadline; 0 = none */
    uint64_t connect_deadline_ns;

    /* upstream */
    struct dj_lookup *lookup;
    struct dj_resolved_addr addrs[DJ_RESOLVER_MAX_ADDRS];
    size_t n_addrs, next_addr;
    int last_connect_errno;
    char req_host[DJ_TLSHELLO_NAME_SIZE];      /* this request's: lower case, no trailing dot */
    char upstream_host[DJ_TLSHELLO_NAME_SIZE]; /* the upstream socket's (or lookup's) */
    uint16_t upstream_port;
    bool upstream_reusable;
    char upstream_text[INET6_ADDRSTRLEN + 8]; /* the address connected to, for the log */

    struct conn_record rec;

    /* HTTP */
    enum req_state req;
    enum resp_state resp;
    struct dj_http_head head;
    struct resphead_scan resp_scan;
    bool head_timer_set;
    bool req_is_head;    /* the outstanding request's method is HEAD */
    bool req_keep_alive; /* ... and it allows another request after it */
    bool resp_keep_alive;
    bool close_after; /* no further request on this connection */
    bool tunnel;      /* after 101 Switching Protocols: bytes both ways */

    /* TLS */
    enum tls_state tls;
};

struct pipe_pair {
    int rd, wr;
};

struct proxy {
    const struct proxy_config *cfg;
    int epoll_fd;
    struct dj_resolver *resolver;
    /* Forward zones (zones.c): one resolver per distinct upstream set; zone i uses
     * zone_resolvers[zone_resolver[i]], whose set is that of zone zone_first[k]. */
    struct dj_resolver *zone_resolvers[DJ_FWDZONE_MAX_ZONES];
    size_t zone_resolver[DJ_FWDZONE_MAX_ZONES];
    size_t zone_first[DJ_FWDZONE_MAX_ZONES];
    size_t n_zone_resolvers;

    struct dj_ctlserve ctl; /* the control connections and the watched pidfds */

    uint16_t http_ports[PROXY_MAX_LISTENERS]; /* the listeners' own ports */
    uint16_t tls_ports[PROXY_MAX_LISTENERS];
    uint16_t virtual_ports[PROXY_MAX_LISTENERS];
    struct conn **conns; /* max_connections slots */
    uint32_t *again;     /* slots of connections the pump left with work to do */
    size_t n_again;
    uint32_t *free_slots; /* freed slots, below n_slots_used */
    size_t n_free;
    size_t n_slots_used; /* slots from here on have never held a connection */
    size_t n_conns;
    uint32_t *slot_generation; /* survives the conn it tagged */

    struct pipe_pair pipe_pool[PROXY_PIPE_POOL];
    size_t n_pipe_pool;

    struct dj_log log;
    char line[DJ_JSON_LINE_MAX];
    uint8_t scratch[16384]; /* discarded bytes of refused clients */

    uint64_t now_ns; /* monotonic, refreshed once per wake-up */
    uint64_t last_housekeeping_ns;
    bool accept_paused; /* out of descriptors: listeners off until housekeeping */
    bool quit;
    bool jail_ended; /* quit because every process it watched exited */

    struct proxy_stats stats;
    struct proxy_metrics *metrics; /* NULL: no metrics file */
    uint64_t last_metrics_ns;
};

/* ---- epoll tags (loop.c) ---- */
enum tag_kind {
    TAG_SIGNAL = 1,
    TAG_LISTEN_HTTP,
    TAG_LISTEN_TLS,
    TAG_LISTEN_VIRTUAL,
    TAG_CONTROL_LISTEN,
    TAG_CONTROL_CONN,
    TAG_WATCH,
    TAG_RESOLVER,
    TAG_CLIENT,
    TAG_UPSTREAM,
};

uint64_t proxy_tag(enum tag_kind kind, size_t index, uint32_t generation);

/* ---- loop.c ---- */
struct proxy *proxy_prepare(const struct proxy_config *cfg, dj_error_t *err);

/* ---- forward zones' resolvers (zones.c) -------------------------------------------------- */

/* Creates them and adds their fds to the epoll set (tag TAG_RESOLVER, index k + 1). */
int proxy_zones_setup(struct proxy *p, dj_error_t *err);
void proxy_zones_free(struct proxy *p);
/* The resolver for HOST (normalized): its forward zone's, else p->resolver. */
struct dj_resolver *proxy_resolver_for(struct proxy *p, const char *host);
/* The soonest timer of all resolvers (-1: none). */
int proxy_resolvers_timeout_ms(struct proxy *p);
/* READY[0]: p->resolver's fd fired; READY[k + 1]: zone resolver k's. */
void proxy_resolvers_process(struct proxy *p, const bool *ready);
int proxy_run(struct proxy *p, dj_error_t *err);

/* ---- stats.c: the metrics file ---- */
#define PROXY_METRICS_FILE "proxy.prom"
#define PROXY_METRICS_INTERVAL_MS 5000
struct proxy_metrics;
/* Registers the series (allocates: before the sandbox); takes over cfg->common.metrics_dir_fd. */
struct proxy_metrics *proxy_metrics_new(const struct proxy_config *cfg, dj_error_t *err);
/* Replaces proxy.prom; a failure only costs this one update. */
void proxy_metrics_write(struct proxy *p);
void proxy_metrics_free(struct proxy_metrics *metrics);
/* Counts the decision of the record being logged. */
void proxy_count_decision(struct proxy *p, const struct conn *c);

/* ---- conn.c ---- */
/* Turns the listeners off (out of descriptors: accept() would fail on every wakeup) or back on
 * at housekeeping. */
void conn_set_accepting(struct proxy *p, bool on);
void conn_accept(struct proxy *p, int listen_fd, uint16_t listen_port, enum listener_kind kind);
void conn_event(struct proxy *p, struct conn *c, bool upstream, uint32_t events);
/* Moves what can be moved and lets the protocol act, until nothing changes (or a round
 * limit: then it is queued to go on after the other ready connections). Returns the progress
 * made, -1 when the connection is gone. */
int conn_pump(struct proxy *p, struct conn *c);
void conn_close(struct proxy *p, struct conn *c);
/* Logs the record, sends ANSWER (LEN bytes, may be 0) to the client, then closes gracefully
 * (FIN, then what the client still sends is read and dropped for PROXY_LINGER_MS). Returns -1
 * when the connection is gone already. */
int conn_refuse(struct proxy *p, struct conn *c, const void *answer, size_t len);
void conn_timeouts(struct proxy *p, struct conn *c);
void conn_record_begin(struct proxy *p, struct conn *c);
void conn_record_log(struct proxy *p, struct conn *c);
void conn_set_reason(struct conn *c, const char *decision, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Appends "; MORE" to the reason. */
void conn_add_reason(struct conn *c, const char *more);
/* Pumps the connections that conn_pump() left with work, before the loop waits again. */
void conn_pump_again(struct proxy *p);

/* ---- relay.c ---- */
void flow_init(struct flow *f, uint32_t max_cap);
void flow_release(struct proxy *p, struct flow *f);
/* Frees the buffer when it holds nothing, returns the pipe to the pool when it is empty. */
void flow_trim(struct proxy *p, struct flow *f);
/* Moves bytes of F (the up or the down flow of C). Returns the number of steps that made
 * progress, or -1 when a socket failed (the caller closes the connection). */
int flow_pump(struct proxy *p, struct conn *c, struct flow *f);
/* Unforwarded bytes, at buf + out_end. */
static inline uint32_t flow_unparsed(const struct flow *f)
{
    return f->len - f->out_end;
}
/* Nothing waits to be written (buffer and pipe). */
static inline bool flow_flushed(const struct flow *f)
{
    return f->sent == f->out_end && f->pipe_len == 0;
}
/* Marks N unforwarded bytes as forwarded. */
void flow_forward(struct flow *f, uint32_t n);
/* Drops whatever is waiting for the destination (it is going away). */
void flow_drop_pending(struct proxy *p, struct flow *f);
/* Appends bytes to write to the destination (our own answers); false when they do not fit. */
bool flow_queue(struct flow *f, const void *data, size_t len);
void flow_set_framing(struct flow *f, enum framing framing, uint64_t length);
/* From here on, bytes both ways without framing, each side's EOF passed on (a TLS relay, a
 * virtual address's TCP, an HTTP upgrade), until both sides close. */
void conn_relay_raw(struct conn *c);

/* ---- upstream.c ---- */
/* Resolves HOST (lower case, no trailing dot), checks its addresses and connects to PORT.
 * Ends in the protocol's upstream_ready() or upstream_failed(). Returns -1 when the
 * connection is gone. */
int upstream_begin(struct proxy *p, struct conn *c, const char *host, uint16_t port);
/* The same for one address (FAMILY, ADDR bytes), with the same internal-address check. */
int upstream_begin_addr(struct proxy *p, struct conn *c, int family, const uint8_t *addr,
                        uint16_t port);
void upstream_connect_event(struct proxy *p, struct conn *c, uint32_t events);
void upstream_connect_timeout(struct proxy *p, struct conn *c);
/* Closes the upstream socket and drops what was on its way to it. */
void upstream_close(struct proxy *p, struct conn *c);
void upstream_cancel(struct conn *c);
bool upstream_addr_internal(int family, const uint8_t *addr);
bool cidr_match(const struct proxy_cidr *cidr, int family, const uint8_t *addr);
int cidr_parse(const char *text, struct proxy_cidr *out, dj_error_t *err);
void format_sockaddr(const struct sockaddr_storage *addr, char *out, size_t size);

enum upstream_failure {
    UPSTREAM_RESOLVE,  /* the name did not resolve */
    UPSTREAM_INTERNAL, /* it resolved to internal addresses only */
    UPSTREAM_CONNECT,  /* no address accepted a connection */
    UPSTREAM_TIMEOUT,
};

/* ---- http.c / tls.c ---- */
void http_start(struct proxy *p, struct conn *c);
int http_step(struct proxy *p, struct conn *c);
int http_upstream_ready(struct proxy *p, struct conn *c);
int http_upstream_failed(struct proxy *p, struct conn *c, enum upstream_failure why,
                         const char *detail);
int http_timeout(struct proxy *p, struct conn *c);

void tls_start(struct proxy *p, struct conn *c);
int tls_step(struct proxy *p, struct conn *c);
int tls_upstream_ready(struct proxy *p, struct conn *c);
int tls_upstream_failed(struct proxy *p, struct conn *c, enum upstream_failure why,
                        const char *detail);
int tls_timeout(struct proxy *p, struct conn *c);

/* ---- virtual.c ---- */
/* Records in C whether ORIG (the original destination, or an empty address) is a virtual
 * address, and the name its slot holds. */
void virtual_note_destination(struct proxy *p, struct conn *c, const struct sockaddr_storage *orig);
/* For HTTP and TLS: false when the connection went to a virtual address whose name is not
 * HOST (lower case, no trailing dot); *REASON then says why, for the log and the answer. */
bool virtual_host_matches(const struct conn *c, const char *host, char *reason, size_t size);
void virtual_start(struct proxy *p, struct conn *c);
int virtual_step(struct proxy *p, struct conn *c);
int virtual_upstream_ready(struct proxy *p, struct conn *c);
int virtual_upstream_failed(struct proxy *p, struct conn *c, enum upstream_failure why,
                            const char *detail);
int virtual_timeout(struct proxy *p, struct conn *c);

/* Lower-cases NAME (LEN bytes) without one trailing dot into OUT (SIZE bytes). False when it
 * does not fit. */
bool normalize_host(const char *name, size_t len, char *out, size_t size);
/* An IPv4 or IPv6 literal. */
bool host_is_ip_literal(const char *name);

#endif
