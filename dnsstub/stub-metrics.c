#include "config.h"

/* stub-metrics.c: the stub's counters as the metrics file dnsstub.prom (names in
 * docs/DESIGN.md, "Numbers"). Kept apart from the event loop so new counters only touch
 * struct stub_stats, the table below and the docs. */

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "daemon/metrics.h"
#include "dns/resolverstats.h"
#include "stub.h"

struct outcome {
    const char *label;
    size_t offset; /* of its counter in struct stub_stats */
};

static const struct outcome outcomes[] = {
    {"sinkholed", offsetof(struct stub_stats, queries_sinkholed)},
    {"virtual", offsetof(struct stub_stats, queries_virtual)},
    {"forwarded", offsetof(struct stub_stats, queries_forwarded)},
    {"cached", offsetof(struct stub_stats, queries_cached)},
    {"refused", offsetof(struct stub_stats, queries_refused)},
    {"failed", offsetof(struct stub_stats, queries_failed)},
};
#define N_OUTCOMES (sizeof(outcomes) / sizeof(outcomes[0]))

struct stub_metrics {
    struct dj_metrics *registry;
    int dir_fd;
    struct dj_metric *queries[N_OUTCOMES];
    struct dj_metric *malformed;
    struct dj_metric *dropped;
    struct dj_metric *tcp_connections;
    struct dj_resolver_metrics *forward; /* the forward zones' resolvers, summed */
};

static uint64_t field(const struct stub_stats *stats, size_t offset)
{
    return *(const uint64_t *)(const void *)((const char *)stats + offset);
}

struct stub_metrics *stub_metrics_new(int dir_fd, const char *container_id, const char *netns_key,
                                      dj_error_t *err)
{
    struct stub_metrics *sm = calloc(1, sizeof(*sm));
    struct dj_metrics *m;

    if (sm == NULL) {
        dj_error_make(err, ENOMEM, "metrics");
        close(dir_fd);
        return NULL;
    }
    sm->dir_fd = dir_fd;
    sm->registry = m = dj_metrics_new(err);
    if (m == NULL || dj_metrics_add_const_label(m, "netns", netns_key, err) < 0 ||
        dj_metrics_add_const_label(m, "container", container_id, err) < 0)
        goto fail;
    for (size_t i = 0; i < N_OUTCOMES; i++) {
        struct dj_metric_label label = {"outcome", outcomes[i].label};

        sm->queries[i] = dj_metrics_register(
            m, DJ_METRIC_COUNTER, "dnsjail_dns_queries_total",
            "DNS queries answered by the stub, by how they were answered.", &label, 1, err);
        if (sm->queries[i] == NULL)
            goto fail;
    }
    sm->malformed = dj_metrics_register(
        m, DJ_METRIC_COUNTER, "dnsjail_dns_malformed_total",
        "DNS packets that were not a usable query, answered FORMERR, NOTIMP or BADVERS.", NULL, 0,
        err);
    if (sm->malformed == NULL)
        goto fail;
    sm->dropped =
        dj_metrics_register(m, DJ_METRIC_COUNTER, "dnsjail_dns_dropped_total",
                            "DNS packets left unanswered (not a query, oversized).", NULL, 0, err);
    if (sm->dropped == NULL)
        goto fail;
    sm->tcp_connections =
        dj_metrics_register(m, DJ_METRIC_COUNTER, "dnsjail_dns_tcp_connections_total",
                            "DNS over TCP connections accepted.", NULL, 0, err);
    if (sm->tcp_connections == NULL)
        goto fail;
    sm->forward = dj_resolver_metrics_new(m, "dnsjail_forward_", err);
    if (sm->forward == NULL)
        goto fail;
    return sm;

fail:
    stub_metrics_free(sm);
    return NULL;
}

void stub_metrics_write(struct stub_metrics *sm, const struct stub_stats *stats,
                        const struct dj_resolver_stats *forward)
{
    dj_error_t err = NULL;

    for (size_t i = 0; i < N_OUTCOMES; i++)
        dj_metric_set(sm->queries[i], field(stats, outcomes[i].offset));
    dj_metric_set(sm->malformed, stats->packets_malformed);
    dj_metric_set(sm->dropped, stats->packets_dropped);
    dj_metric_set(sm->tcp_connections, stats->tcp_connections);
    dj_resolver_metrics_update(sm->forward, forward);
    /* A full disk or a removed directory: the next update tries again; the stub serves on. */
    if (dj_metrics_write_at(sm->registry, sm->dir_fd, STUB_METRICS_FILE, &err) < 0)
        dj_error_release(&err);
}

void stub_metrics_free(struct stub_metrics *sm)
{
    if (sm == NULL)
        return;
    dj_resolver_metrics_free(sm->forward);
    dj_metrics_free(sm->registry);
    if (sm->dir_fd >= 0)
        close(sm->dir_fd);
    free(sm);
}
