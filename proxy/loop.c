#include "config.h"

/* loop.c: the proxy's event loop: listeners, the control socket and watched pidfds
 * (lib/daemon/ctlserve.h, shared with the DNS stub), signals, the resolver, and the once-a-second
 * sweep for timeouts. Connections themselves are conn.c's. */

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

#include "daemon/metrics.h"
#include "base/pages.h"
#include "proxy.h"

#define EPOLL_BATCH 128
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
    proxy_zones_free(p);
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
    dj_json_add_cstring(&j, "container", p->cfg->common.container_id);
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
    dj_ctlserve_init(&p->ctl, p->epoll_fd, proxy_tag(TAG_CONTROL_CONN, 0, 0),
                     proxy_tag(TAG_WATCH, 0, 0));
    p->now_ns = dj_monotonic_ns();
    p->last_housekeeping_ns = p->now_ns;
    dj_log_init(&p->log, cfg->common.log_fd, cfg->common.log_rate, cfg->common.log_burst,
                cfg->common.container_id, p->now_ns);

    p->resolver = dj_resolver_new(&cfg->resolver, err);
    if (p->resolver == NULL) {
        dj_error_wrap(err, "setting up the resolver");
        goto fail;
    }
    dj_resolver_set_log(p->resolver, &p->log);
    if (epoll_add(p, dj_resolver_fd(p->resolver), EPOLLIN, proxy_tag(TAG_RESOLVER, 0, 0), err) <
            0 ||
        epoll_add(p, cfg->common.signal_fd, EPOLLIN, proxy_tag(TAG_SIGNAL, 0, 0), err) < 0 ||
        proxy_zones_setup(p, err) < 0)
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
    if (dj_ctlserve_start(&p->ctl, cfg->common.control_fd, proxy_tag(TAG_CONTROL_LISTEN, 0, 0),
                          cfg->common.watch_fds, cfg->common.n_watch, err) < 0)
        goto fail;
    if (cfg->common.metrics_dir_fd >= 0) {
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

/* ---- the loop ------------------------------------------------------------------------------ */

static void housekeeping(struct proxy *p)
{
    uint64_t control_idle_ns = (uint64_t)PROXY_CONTROL_IDLE_MS * NS_PER_MS;

    p->last_housekeeping_ns = p->now_ns;
    for (size_t i = 0; i < p->n_slots_used && p->n_conns > 0; i++)
        if (p->conns[i] != NULL)
            conn_timeouts(p, p->conns[i]);
    dj_ctlserve_expire(&p->ctl, p->now_ns, control_idle_ns);
    if (p->accept_paused)
        conn_set_accepting(p, true);
    dj_log_summarize(&p->log, p->now_ns, false);
}

static void handle_signal(struct proxy *p)
{
    struct signalfd_siginfo info;
    ssize_t n = read(p->cfg->common.signal_fd, &info, sizeof(info));

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
        dj_ctlserve_accept(&p->ctl, p->now_ns);
        break;
    case TAG_CONTROL_CONN:
        if (dj_ctlserve_serve(&p->ctl, index, p->now_ns))
            p->quit = true;
        break;
    case TAG_WATCH:
        if (dj_ctlserve_watch_exited(&p->ctl, index))
            p->quit = p->jail_ended = true;
        break;
    case TAG_RESOLVER:
        if (index <= p->n_zone_resolvers)
            resolver_ready[index] = true;
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
        int resolver_ms = proxy_resolvers_timeout_ms(p);
        int timeout = -1;
        bool resolver_ready[1 + DJ_FWDZONE_MAX_ZONES] = {false};
        int n;

        if (p->n_conns > 0 || p->ctl.n_conns > 0 || p->accept_paused ||
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
            dispatch(p, &events[i], resolver_ready);
        proxy_resolvers_process(p, resolver_ready);
        if (p->n_again > 0 && !p->quit)
            conn_pump_again(p);
        if (p->now_ns - p->last_housekeeping_ns >= HOUSEKEEPING_NS)
            housekeeping(p);
        if (p->metrics != NULL && !p->quit &&
            p->now_ns - p->last_metrics_ns >= PROXY_METRICS_INTERVAL_MS * NS_PER_MS) {
            proxy_metrics_write(p);
            p->last_metrics_ns = p->now_ns;
        }
    }
    dj_log_summarize(&p->log, dj_monotonic_ns(), true);
    /* Not when its containers all exited: their poststop removes the metrics directory next,
     * and one more file written there (created and renamed over) would only slow their end. */
    if (p->metrics != NULL && !p->jail_ended)
        proxy_metrics_write(p);
    return 0;
}
