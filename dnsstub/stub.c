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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "jsonlog.h"

/* Everything after setup beyond the base list: UDP batches (recvmmsg, sendmmsg), TCP and
 * control replies (send and recv are sendto and recvfrom underneath), control requests with
 * their fds (recvmsg), and new clients (accept4). */
const char *const stub_syscalls[] = {
    "recvmmsg", "recvmmsg_time64", "sendmmsg", "recvfrom", "sendto", "recvmsg", "accept4", NULL,
};

#define TCP_OUT_SIZE 8192
#define EPOLL_BATCH 64
#define UDP_ROUNDS 8 /* batches per wake-up before other fds get a turn */
#define ACCEPTS_PER_WAKEUP 16
#define CONTROL_MAX_FDS 4 /* fds we take from one control message (one is legal) */
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
    uint8_t in[2 + STUB_QUERY_MAX];
    uint8_t out[TCP_OUT_SIZE];
};

struct control_conn {
    int fd; /* -1: free slot */
    uint64_t last_active_ns;
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

struct stub {
    int epoll_fd;
    int signal_fd;
    int control_fd;
    int udp_fds[STUB_MAX_SOCKETS];
    size_t n_udp;
    int tcp_fds[STUB_MAX_SOCKETS];
    size_t n_tcp;

    int watch_fds[STUB_MAX_WATCHED]; /* -1: free slot */
    size_t n_watch; /* when it drops to 0, the last watched process is gone: exit */

    struct control_conn control[STUB_MAX_CONTROL_CONNS];
    size_t n_control;
    struct tcp_conn *tcp; /* STUB_MAX_TCP_CONNS slots */
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

    uint64_t now_ns; /* monotonic, refreshed once per wake-up */
    uint64_t last_housekeeping_ns;
    bool quit;
};

static int epoll_add(struct stub *s, int fd, uint32_t events, uint64_t tag, dj_error_t *err)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};

    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return dj_error_make(err, errno, "epoll_ctl(ADD, fd %d)", fd);
    return 0;
}

struct stub *stub_prepare(const struct stub_config *cfg, dj_error_t *err)
{
    struct stub *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        dj_error_make(err, ENOMEM, "allocating the stub");
        return NULL;
    }
    s->tcp = calloc(STUB_MAX_TCP_CONNS, sizeof(*s->tcp));
    s->udp = calloc(1, sizeof(*s->udp));
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s->tcp == NULL || s->udp == NULL || s->epoll_fd < 0) {
        dj_error_make(err, s->epoll_fd < 0 ? errno : ENOMEM, "setting up the event loop");
        goto fail;
    }
    for (size_t i = 0; i < STUB_MAX_TCP_CONNS; i++)
        s->tcp[i].fd = -1;
    for (size_t i = 0; i < STUB_MAX_CONTROL_CONNS; i++)
        s->control[i].fd = -1;
    for (size_t i = 0; i < STUB_MAX_WATCHED; i++)
        s->watch_fds[i] = -1;
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
    s->container_id = cfg->container_id;
    s->now_ns = dj_monotonic_ns();
    s->last_housekeeping_ns = s->now_ns;
    dj_log_init(&s->log, cfg->log_fd, cfg->log_rate, cfg->log_burst, cfg->container_id, s->now_ns);

    s->signal_fd = cfg->signal_fd;
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
    s->control_fd = cfg->control_fd;
    if (s->control_fd >= 0 &&
        epoll_add(s, s->control_fd, EPOLLIN, make_tag(TAG_CONTROL_LISTEN, 0, 0), err) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->n_watch; i++) {
        /* A pidfd turns readable when its process exits. */
        if (epoll_add(s, cfg->watch_fds[i], EPOLLIN, make_tag(TAG_WATCH, s->n_watch, 0), err) < 0) {
            dj_error_wrap(err, "--watch-pidfd %d is not a pidfd", cfg->watch_fds[i]);
            goto fail;
        }
        s->watch_fds[s->n_watch++] = cfg->watch_fds[i];
    }
    return s;

fail:
    if (s->epoll_fd >= 0)
        close(s->epoll_fd);
    free(s->tcp);
    free(s->udp);
    free(s);
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
        if (outcome->truncated)
            dj_json_add_bool(&j, "tc", true);
    }
    dj_log_write(&s->log, s->line, dj_json_end(&j));
}

/* Parses QUERY, writes the response into OUT and logs the exchange. Returns the response
 * length, 0 for no response. */
static size_t answer_query(struct stub *s, const uint8_t *query, size_t len,
                           const struct sockaddr_storage *peer, bool tcp, uint8_t *out)
{
    const struct dj_dns_policy *policy = &s->policy;
    struct stub_virtual_answer va, *virtual_answer = NULL;
    struct dj_dns_policy virtual_policy;
    struct dj_dns_query q;
    struct dj_dns_outcome outcome;
    size_t n;

    dj_dns_parse_query(query, len, &q);
    if (s->virt != NULL && stub_virtual_lookup(s->virt, &q, &s->policy, &virtual_policy, &va)) {
        policy = &virtual_policy;
        virtual_answer = &va;
        s->stats.virtual_answers++;
        s->stats.virtual_recycled += va.recycled;
    }
    n = dj_dns_build_response(&q, policy, dj_dns_response_limit(&q, tcp), out, DJ_DNS_MAX_RESPONSE,
                              &outcome);
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

                if (s->log.fd >= 0)
                    log_packet(s, &b->peer[i], false, b->in[i].msg_len, &q, &none, false, NULL,
                               NULL);
                continue;
            }
            len =
                answer_query(s, b->query[i], b->in[i].msg_len, &b->peer[i], false, b->response[i]);
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

    for (size_t i = 0; i < STUB_MAX_TCP_CONNS; i++)
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
        if (s->n_tcp_conns == STUB_MAX_TCP_CONNS)
            tcp_close(s, tcp_least_recently_active(s));
        for (size_t k = 0; k < STUB_MAX_TCP_CONNS; k++) {
            if (s->tcp[k].fd < 0) {
                c = &s->tcp[k];
                break;
            }
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
    size_t off = 0;

    while (c->in_len - off >= 2) {
        size_t len = ((size_t)c->in[off] << 8) | c->in[off + 1];
        uint8_t *slot;
        size_t n;

        if (len > STUB_QUERY_MAX) {
            struct dj_dns_query q = {.result = DJ_DNS_PARSE_DROP,
                                     .problem = "TCP message longer than 4096 bytes"};
            struct dj_dns_outcome none = {0};

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
        n = answer_query(s, c->in + off + 2, len, &c->peer, true, slot + 2);
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
            n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
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
        c->in_len < sizeof(c->in))
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

/* ---- control socket and watched processes ------------------------------------------------- */

static void control_close(struct stub *s, struct control_conn *c)
{
    close(c->fd);
    c->fd = -1;
    s->n_control--;
}

static void control_accept(struct stub *s)
{
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        dj_error_t err = NULL;
        struct control_conn *c = NULL;
        int fd = accept4(s->control_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0)
            return;
        for (size_t k = 0; k < STUB_MAX_CONTROL_CONNS; k++) {
            if (s->control[k].fd < 0) {
                c = &s->control[k];
                break;
            }
        }
        if (c == NULL) {
            close(fd); /* too many: the caller sees EOF and reports it */
            continue;
        }
        if (epoll_add(s, fd, EPOLLIN, make_tag(TAG_CONTROL_CONN, (size_t)(c - s->control), 0),
                      &err) < 0) {
            dj_error_release(&err);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->last_active_ns = s->now_ns;
        s->n_control++;
    }
}

static bool watch_add(struct stub *s, int pidfd)
{
    dj_error_t err = NULL;

    if (s->n_watch == STUB_MAX_WATCHED)
        return false;
    for (size_t slot = 0; slot < STUB_MAX_WATCHED; slot++) {
        if (s->watch_fds[slot] >= 0)
            continue;
        if (epoll_add(s, pidfd, EPOLLIN, make_tag(TAG_WATCH, slot, 0), &err) < 0) {
            dj_error_release(&err);
            return false;
        }
        s->watch_fds[slot] = pidfd;
        s->n_watch++;
        return true;
    }
    return false;
}

static void watch_exited(struct stub *s, size_t slot)
{
    close(s->watch_fds[slot]);
    s->watch_fds[slot] = -1;
    s->n_watch--;
    if (s->n_watch == 0)
        s->quit = true; /* the last container we served is gone */
}

static void control_serve(struct stub *s, struct control_conn *c)
{
    char request[16];
    union {
        char buf[CMSG_SPACE(CONTROL_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {request, sizeof(request)};
    struct msghdr msg = {0};
    int fds[CONTROL_MAX_FDS];
    size_t n_fds = 0;
    bool ok = false;
    ssize_t n;

    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    do
        n = recvmsg(c->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    for (struct cmsghdr *cm = n >= 0 ? CMSG_FIRSTHDR(&msg) : NULL; cm != NULL;
         cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        for (size_t k = 0; k < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int); k++) {
            int fd;

            memcpy(&fd, CMSG_DATA(cm) + k * sizeof(int), sizeof(int));
            if (n_fds < CONTROL_MAX_FDS)
                fds[n_fds++] = fd;
            else
                close(fd);
        }
    }
    c->last_active_ns = s->now_ns;
    if (n == 1 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (request[0] == 'W' && n_fds == 1)
            ok = watch_add(s, fds[0]);
        else if ((request[0] == 'P' || request[0] == 'Q') && n_fds == 0)
            ok = true;
    }
    if (ok && send(c->fd, "K", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
        if (request[0] == 'Q')
            s->quit = true; /* the caller sees EOF when we exit */
        return;
    }
    /* EOF, an error, an unknown request, or a refused one: close, and every fd with it. */
    if (!(ok && request[0] == 'W'))
        for (size_t k = 0; k < n_fds; k++)
            close(fds[k]);
    control_close(s, c);
}

/* ---- the loop ----------------------------------------------------------------------------- */

static void housekeeping(struct stub *s)
{
    uint64_t idle_ns = (uint64_t)STUB_TCP_IDLE_MS * NS_PER_MS;

    s->last_housekeeping_ns = s->now_ns;
    for (size_t i = 0; i < STUB_MAX_TCP_CONNS && s->n_tcp_conns > 0; i++)
        if (s->tcp[i].fd >= 0 && s->now_ns - s->tcp[i].last_active_ns >= idle_ns)
            tcp_close(s, &s->tcp[i]);
    for (size_t i = 0; i < STUB_MAX_CONTROL_CONNS && s->n_control > 0; i++)
        if (s->control[i].fd >= 0 && s->now_ns - s->control[i].last_active_ns >= idle_ns)
            control_close(s, &s->control[i]);
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
        if (s->tcp[index].fd >= 0 && (s->tcp[index].generation & 0xFFFFFF) == generation)
            tcp_serve(s, &s->tcp[index], ev->events);
        break;
    case TAG_CONTROL_LISTEN:
        control_accept(s);
        break;
    case TAG_CONTROL_CONN:
        if (s->control[index].fd >= 0)
            control_serve(s, &s->control[index]);
        break;
    case TAG_WATCH:
        if (s->watch_fds[index] >= 0)
            watch_exited(s, index);
        break;
    }
}

int stub_run(struct stub *s, dj_error_t *err)
{
    struct epoll_event events[EPOLL_BATCH];

    while (!s->quit) {
        bool timed = s->n_tcp_conns > 0 || s->n_control > 0 || dj_log_summary_pending(&s->log);
        int n = epoll_wait(s->epoll_fd, events, EPOLL_BATCH, timed ? 1000 : -1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dj_error_make(err, errno, "epoll_wait");
        s->now_ns = dj_monotonic_ns();
        for (int i = 0; i < n && !s->quit; i++)
            dispatch(s, &events[i]);
        if (s->now_ns - s->last_housekeeping_ns >= HOUSEKEEPING_NS)
            housekeeping(s);
    }
    dj_log_summarize(&s->log, dj_monotonic_ns(), true);
    return 0;
}
