#include "config.h"

/* loop.c: the proxy's event loop: listeners, the control socket and watched pidfds (the same
 * protocol and lifetime rules as the DNS stub: see lib/control.h), signals, the resolver, and
 * the once-a-second sweep for timeouts. Connections themselves are conn.c's. */

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "pages.h"
#include "proxy.h"

/* Everything after setup beyond the base list: accepting (accept4), relaying (recvfrom and
 * sendto under recv/send, splice, pipe2 for new pipes, fcntl to resize them, shutdown), the
 * original destination (getsockopt), connecting upstream (socket, connect, getsockopt for
 * SO_ERROR, setsockopt for TCP_NODELAY), and control requests with their fds (recvmsg). The
 * resolver's queries need nothing more (see lib/resolver.c). */
const char *const proxy_syscalls[] = {
    "accept4",           "recvfrom", "sendto",  "recvmsg",    "splice",     "pipe2",
    "shutdown",          "socket",   "connect", "getsockopt", "setsockopt", "fcntl",
    DJ_METRICS_SYSCALLS, NULL,
};

#define EPOLL_BATCH 128
#define ACCEPTS_PER_WAKEUP 16
#define CONTROL_MAX_FDS 4
#define HOUSEKEEPING_NS 1000000000ull
#define NS_PER_MS 1000000ull

uint64_t proxy_tag(enum tag_kind kind, size_t index, uint32_t generation)
{
    return ((uint64_t)kind << 56) | ((uint64_t)(generation & 0xFFFFFF) << 32) | (uint32_t)index;
}

static int epoll_add(struct proxy *p, int fd, uint32_t events, uint64_t tag, dj_error_t *err)
{
    struct epoll_event ev = {.events = events, .data.u64 = tag};

    if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0)
        return dj_error_make(err, errno, "epoll_ctl(ADD, fd %d)", fd);
    return 0;
}

static void proxy_free(struct proxy *p)
{
    if (p->epoll_fd >= 0)
        close(p->epoll_fd);
    if (p->resolver != NULL)
        dj_resolver_free(p->resolver);
    dj_pages_free(p->conns, p->cfg->max_connections, sizeof(*p->conns));
    dj_pages_free(p->again, p->cfg->max_connections, sizeof(*p->again));
    dj_pages_free(p->free_slots, p->cfg->max_connections, sizeof(*p->free_slots));
    dj_pages_free(p->slot_generation, p->cfg->max_connections, sizeof(*p->slot_generation));
    proxy_metrics_free(p->metrics);
    dj_pages_free(p, 1, sizeof(*p));
}

static uint16_t local_port(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof(addr);

    memset(&addr, 0, sizeof(addr));
    if (getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return 0;
    /* sin_port and sin6_port sit at the same offset. */
    return ntohs(((const struct sockaddr_in *)&addr)->sin_port);
}

/* The daemon has no terminal: when the descriptor limit lowered --max-connections, the log is
 * where an administrator can find out. */
static void log_lowered_cap(struct proxy *p)
{
    struct timespec now;
    struct dj_json j;

    if (!dj_log_admit(&p->log, p->now_ns))
        return;
    clock_gettime(CLOCK_REALTIME, &now);
    dj_json_begin(&j, p->line, sizeof(p->line));
    dj_json_add_time(&j, "time", &now);
    dj_json_add_cstring(&j, "event", "proxy_limit");
    dj_json_add_cstring(&j, "container", p->cfg->container_id);
    dj_json_add_cstring(&j, "reason", "the descriptor limit (RLIMIT_NOFILE) is too low");
    dj_json_add_uint(&j, "requested_connections", p->cfg->requested_connections);
    dj_json_add_uint(&j, "max_connections", p->cfg->max_connections);
    dj_log_write(&p->log, p->line, dj_json_end(&j));
}

struct proxy *proxy_prepare(const struct proxy_config *cfg, dj_error_t *err)
{
    /* The state and the slot tables come from pages.h: an idle proxy leaves nearly all of
     * them untouched (the scratch buffer, 2 048 slots by default). */
    struct proxy *p = dj_pages_calloc(1, sizeof(*p));

    if (p == NULL) {
        dj_error_make(err, ENOMEM, "allocating the proxy");
        return NULL;
    }
    p->cfg = cfg;
    p->conns = dj_pages_calloc(cfg->max_connections, sizeof(*p->conns));
    p->again = dj_pages_calloc(cfg->max_connections, sizeof(*p->again));
    p->free_slots = dj_pages_calloc(cfg->max_connections, sizeof(*p->free_slots));
    p->slot_generation = dj_pages_calloc(cfg->max_connections, sizeof(*p->slot_generation));
    p->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (p->conns == NULL || p->again == NULL || p->free_slots == NULL ||
        p->slot_generation == NULL || p->epoll_fd < 0) {
        dj_error_make(err, p->epoll_fd < 0 ? errno : ENOMEM, "setting up the event loop");
        goto fail;
    }
    for (size_t i = 0; i < PROXY_MAX_CONTROL_CONNS; i++)
        p->control[i].fd = -1;
    for (size_t i = 0; i < PROXY_MAX_WATCHED; i++)
        p->watch_fds[i] = -1;
    p->now_ns = dj_monotonic_ns();
    p->last_housekeeping_ns = p->now_ns;
    dj_log_init(&p->log, cfg->log_fd, cfg->log_rate, cfg->log_burst, cfg->container_id, p->now_ns);

    p->resolver = dj_resolver_new(&cfg->resolver, err);
    if (p->resolver == NULL) {
        dj_error_wrap(err, "setting up the resolver");
        goto fail;
    }
    dj_resolver_set_log(p->resolver, &p->log);
    if (epoll_add(p, dj_resolver_fd(p->resolver), EPOLLIN, proxy_tag(TAG_RESOLVER, 0, 0), err) <
            0 ||
        epoll_add(p, cfg->signal_fd, EPOLLIN, proxy_tag(TAG_SIGNAL, 0, 0), err) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->n_http; i++) {
        p->http_ports[i] = local_port(cfg->http_fds[i]);
        if (epoll_add(p, cfg->http_fds[i], EPOLLIN, proxy_tag(TAG_LISTEN_HTTP, i, 0), err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < cfg->n_tls; i++) {
        p->tls_ports[i] = local_port(cfg->tls_fds[i]);
        if (epoll_add(p, cfg->tls_fds[i], EPOLLIN, proxy_tag(TAG_LISTEN_TLS, i, 0), err) < 0)
            goto fail;
    }
    for (size_t i = 0; i < cfg->n_virtual; i++) {
        p->virtual_ports[i] = local_port(cfg->virtual_fds[i]);
        if (epoll_add(p, cfg->virtual_fds[i], EPOLLIN, proxy_tag(TAG_LISTEN_VIRTUAL, i, 0), err) <
            0)
            goto fail;
    }
    if (cfg->control_fd >= 0 &&
        epoll_add(p, cfg->control_fd, EPOLLIN, proxy_tag(TAG_CONTROL_LISTEN, 0, 0), err) < 0)
        goto fail;
    for (size_t i = 0; i < cfg->n_watch; i++) {
        /* A pidfd turns readable when its process exits. */
        if (epoll_add(p, cfg->watch_fds[i], EPOLLIN, proxy_tag(TAG_WATCH, p->n_watch, 0), err) <
            0) {
            dj_error_wrap(err, "--watch-pidfd %d is not a pidfd", cfg->watch_fds[i]);
            goto fail;
        }
        p->watch_fds[p->n_watch++] = cfg->watch_fds[i];
    }
    if (cfg->metrics_dir_fd >= 0) {
        p->metrics = proxy_metrics_new(cfg, err);
        if (p->metrics == NULL)
            goto fail;
    }
    if (cfg->requested_connections > cfg->max_connections)
        log_lowered_cap(p);
    return p;

fail:
    proxy_free(p);
    return NULL;
}

/* ---- control socket and watched processes (as in dnsstub/stub.c) ------------------------- */

static void control_close(struct proxy *p, struct control_conn *c)
{
    close(c->fd);
    c->fd = -1;
    p->n_control--;
}

static void control_accept(struct proxy *p)
{
    for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
        dj_error_t err = NULL;
        struct control_conn *c = NULL;
        int fd = accept4(p->cfg->control_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

        if (fd < 0)
            return;
        for (size_t k = 0; k < PROXY_MAX_CONTROL_CONNS; k++) {
            if (p->control[k].fd < 0) {
                c = &p->control[k];
                break;
            }
        }
        if (c == NULL) {
            close(fd); /* too many: the caller sees EOF and reports it */
            continue;
        }
        if (epoll_add(p, fd, EPOLLIN, proxy_tag(TAG_CONTROL_CONN, (size_t)(c - p->control), 0),
                      &err) < 0) {
            dj_error_release(&err);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->last_active_ns = p->now_ns;
        p->n_control++;
    }
}

static bool watch_add(struct proxy *p, int pidfd)
{
    dj_error_t err = NULL;

    if (p->n_watch == PROXY_MAX_WATCHED)
        return false;
    for (size_t slot = 0; slot < PROXY_MAX_WATCHED; slot++) {
        if (p->watch_fds[slot] >= 0)
            continue;
        if (epoll_add(p, pidfd, EPOLLIN, proxy_tag(TAG_WATCH, slot, 0), &err) < 0) {
            dj_error_release(&err);
            return false;
        }
        p->watch_fds[slot] = pidfd;
        p->n_watch++;
        return true;
    }
    return false;
}

static void watch_exited(struct proxy *p, size_t slot)
{
    close(p->watch_fds[slot]);
    p->watch_fds[slot] = -1;
    p->n_watch--;
    if (p->n_watch == 0)
        p->quit = true; /* the last container we served is gone */
}

static void control_serve(struct proxy *p, struct control_conn *c)
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
    c->last_active_ns = p->now_ns;
    if (n == 1 && !(msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (request[0] == 'W' && n_fds == 1)
            ok = watch_add(p, fds[0]);
        else if ((request[0] == 'P' || request[0] == 'Q') && n_fds == 0)
            ok = true;
    }
    if (ok && send(c->fd, "K", 1, MSG_NOSIGNAL | MSG_DONTWAIT) == 1) {
        if (request[0] == 'Q')
            p->quit = true; /* the caller sees EOF when we exit */
        return;
    }
    /* EOF, an error, an unknown request, or a refused one: close, and every fd with it. */
    if (!(ok && request[0] == 'W'))
        for (size_t k = 0; k < n_fds; k++)
            close(fds[k]);
    control_close(p, c);
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void resume_accepting(struct proxy *p)
{
    const struct proxy_config *cfg = p->cfg;
    struct epoll_event ev = {.events = EPOLLIN};

    p->accept_paused = false;
    for (size_t i = 0; i < cfg->n_http; i++) {
        ev.data.u64 = proxy_tag(TAG_LISTEN_HTTP, i, 0);
        epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, cfg->http_fds[i], &ev);
    }
    for (size_t i = 0; i < cfg->n_tls; i++) {
        ev.data.u64 = proxy_tag(TAG_LISTEN_TLS, i, 0);
        epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, cfg->tls_fds[i], &ev);
    }
    for (size_t i = 0; i < cfg->n_virtual; i++) {
        ev.data.u64 = proxy_tag(TAG_LISTEN_VIRTUAL, i, 0);
        epoll_ctl(p->epoll_fd, EPOLL_CTL_MOD, cfg->virtual_fds[i], &ev);
    }
}

static void housekeeping(struct proxy *p)
{
    uint64_t control_idle_ns = (uint64_t)PROXY_CONTROL_IDLE_MS * NS_PER_MS;

    p->last_housekeeping_ns = p->now_ns;
    for (size_t i = 0; i < p->n_slots_used && p->n_conns > 0; i++)
        if (p->conns[i] != NULL)
            conn_timeouts(p, p->conns[i]);
    for (size_t i = 0; i < PROXY_MAX_CONTROL_CONNS && p->n_control > 0; i++)
        if (p->control[i].fd >= 0 && p->now_ns - p->control[i].last_active_ns >= control_idle_ns)
            control_close(p, &p->control[i]);
    if (p->accept_paused)
        resume_accepting(p);
    dj_log_summarize(&p->log, p->now_ns, false);
}

static void handle_signal(struct proxy *p)
{
    struct signalfd_siginfo info;
    ssize_t n = read(p->cfg->signal_fd, &info, sizeof(info));

    if (n == (ssize_t)sizeof(info))
        p->quit = true; /* only SIGTERM and SIGINT are routed here */
}

static void dispatch(struct proxy *p, const struct epoll_event *ev, bool *resolver_ready)
{
    enum tag_kind kind = (enum tag_kind)(ev->data.u64 >> 56);
    uint32_t generation = (uint32_t)(ev->data.u64 >> 32) & 0xFFFFFF;
    size_t index = (uint32_t)ev->data.u64;
    struct conn *c;

    switch (kind) {
    case TAG_SIGNAL:
        handle_signal(p);
        break;
    case TAG_LISTEN_HTTP:
        conn_accept(p, p->cfg->http_fds[index], p->http_ports[index], LISTENER_HTTP);
        break;
    case TAG_LISTEN_TLS:
        conn_accept(p, p->cfg->tls_fds[index], p->tls_ports[index], LISTENER_TLS);
        break;
    case TAG_LISTEN_VIRTUAL:
        conn_accept(p, p->cfg->virtual_fds[index], p->virtual_ports[index], LISTENER_VIRTUAL);
        break;
    case TAG_CONTROL_LISTEN:
        control_accept(p);
        break;
    case TAG_CONTROL_CONN:
        if (p->control[index].fd >= 0)
            control_serve(p, &p->control[index]);
        break;
    case TAG_WATCH:
        if (p->watch_fds[index] >= 0)
            watch_exited(p, index);
        break;
    case TAG_RESOLVER:
        *resolver_ready = true;
        break;
    case TAG_CLIENT:
    case TAG_UPSTREAM:
        /* An earlier event of this wake-up may have closed it, or replaced its socket. */
        c = index < p->cfg->max_connections ? p->conns[index] : NULL;
        if (c == NULL)
            break;
        if (kind == TAG_CLIENT && c->generation == generation)
            conn_event(p, c, false, ev->events);
        else if (kind == TAG_UPSTREAM && c->up_generation == generation && c->upstream.fd >= 0)
            conn_event(p, c, true, ev->events);
        break;
    }
}

int proxy_run(struct proxy *p, dj_error_t *err)
{
    struct epoll_event events[EPOLL_BATCH];

    if (p->metrics != NULL) {
        proxy_metrics_write(p); /* the file exists from the start */
        p->last_metrics_ns = p->now_ns;
    }
    while (!p->quit) {
        int resolver_ms = dj_resolver_timeout_ms(p->resolver);
        int timeout = -1;
        bool resolver_ready = false;
        int n;

        if (p->n_conns > 0 || p->n_control > 0 || p->accept_paused ||
            dj_log_summary_pending(&p->log) || p->metrics != NULL)
            timeout = 1000;
        if (resolver_ms >= 0 && (timeout < 0 || resolver_ms < timeout))
            timeout = resolver_ms;
        if (p->n_again > 0)
            timeout = 0;
        n = epoll_wait(p->epoll_fd, events, EPOLL_BATCH, timeout);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dj_error_make(err, errno, "epoll_wait");
        p->now_ns = dj_monotonic_ns();
        for (int i = 0; i < n && !p->quit; i++)
            dispatch(p, &events[i], &resolver_ready);
        if (resolver_ready || dj_resolver_timeout_ms(p->resolver) == 0)
            dj_resolver_process(p->resolver);
        if (p->n_again > 0 && !p->quit)
            conn_pump_again(p);
        if (p->now_ns - p->last_housekeeping_ns >= HOUSEKEEPING_NS)
            housekeeping(p);
        if (p->metrics != NULL &&
            p->now_ns - p->last_metrics_ns >= PROXY_METRICS_INTERVAL_MS * NS_PER_MS) {
            proxy_metrics_write(p);
            p->last_metrics_ns = p->now_ns;
        }
    }
    dj_log_summarize(&p->log, dj_monotonic_ns(), true);
    if (p->metrics != NULL)
        proxy_metrics_write(p);
    return 0;
}
