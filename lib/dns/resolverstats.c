#include "config.h"
#include "dns/resolverstats.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

enum field_kind { FIELD_U64, FIELD_SIZE };

struct resolver_series {
    enum dj_metric_type type;
    const char *name;
    const char *help;
    size_t offset; /* in struct dj_resolver_stats */
    enum field_kind kind;
};

#define U64(type, name, field, help)                                                               \
    {                                                                                              \
        type, name, help, offsetof(struct dj_resolver_stats, field), FIELD_U64                     \
    }
#define SIZE(name, field, help)                                                                    \
    {                                                                                              \
        DJ_METRIC_GAUGE, name, help, offsetof(struct dj_resolver_stats, field), FIELD_SIZE         \
    }

static const struct resolver_series series[] = {
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_lookups_total", lookups,
        "Name lookups started by the resolver."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_cache_hits_total", cache_hits,
        "Lookups per address family answered from the cache."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_coalesced_total", coalesced,
        "Lookups per address family that joined a query already in flight."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_queries_total", queries,
        "Queries sent upstream (one per name and type, all attempts)."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_udp_sent_total", udp_sent,
        "UDP attempts sent upstream."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_tcp_fallbacks_total", tcp_fallbacks,
        "Truncated UDP answers asked again over TCP."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_timeouts_total", timeouts,
        "Upstream attempts that timed out."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_failures_total", server_failures,
        "Upstream attempts ended by an error answer or an unreachable server."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_ignored_total", ignored,
        "UDP datagrams that did not answer the question asked."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_raw_queries_total", raw_queries,
        "Questions forwarded as they were asked (forward zones)."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_dot_sent_total", dot_sent,
        "Queries sent over DNS over TLS."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_dot_connects_total", dot_connects,
        "DNS-over-TLS connections started."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_dot_reconnects_total", dot_reconnects,
        "DNS-over-TLS connections to a server that had one before."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_dot_pin_failures_total", dot_pin_failures,
        "DNS-over-TLS connections refused because no key matched a pin."),
    U64(DJ_METRIC_COUNTER, "dnsjail_resolver_dot_verify_failures_total", dot_verify_failures,
        "DNS-over-TLS connections refused because the chain or the name did not verify."),
    SIZE("dnsjail_resolver_cache_entries", cache_size, "Entries in the resolver's cache."),
    SIZE("dnsjail_resolver_lookups_in_flight", lookups_in_flight, "Lookups outstanding now."),
    SIZE("dnsjail_resolver_queries_in_flight", queries_in_flight,
         "Upstream queries outstanding now."),
};
#define N_SERIES (sizeof(series) / sizeof(series[0]))

struct dj_resolver_metrics {
    struct dj_metric *metric[N_SERIES];
    struct dj_metric *latency; /* upstream latency of accepted answers, in seconds */
};

#define DEFAULT_PREFIX "dnsjail_resolver_"

/* PREFIX + the part of NAME after the default prefix, into BUF. */
static const char *series_name(const char *prefix, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s%s", prefix, name + sizeof(DEFAULT_PREFIX) - 1);
    return buf;
}

struct dj_resolver_metrics *dj_resolver_metrics_new(struct dj_metrics *m, const char *prefix,
                                                    dj_error_t *err)
{
    struct dj_resolver_metrics *rm = calloc(1, sizeof(*rm));
    char name[128];

    if (rm == NULL) {
        dj_error_make(err, ENOMEM, "resolver metrics");
        return NULL;
    }
    if (prefix == NULL)
        prefix = DEFAULT_PREFIX;
    for (size_t i = 0; i < N_SERIES; i++) {
        rm->metric[i] = dj_metrics_register(m, series[i].type,
                                            series_name(prefix, series[i].name, name, sizeof(name)),
                                            series[i].help, NULL, 0, err);
        if (rm->metric[i] == NULL) {
            free(rm);
            return NULL;
        }
    }
    {
        static const unsigned bounds_ms[] = DJ_RESOLVER_LATENCY_BOUNDS_MS;
        double bounds[sizeof(bounds_ms) / sizeof(bounds_ms[0])];

        /* Prometheus measures time in seconds. */
        for (size_t i = 0; i < sizeof(bounds) / sizeof(bounds[0]); i++)
            bounds[i] = bounds_ms[i] / 1000.0;
        rm->latency = dj_metrics_register_histogram(
            m, series_name(prefix, "dnsjail_resolver_upstream_latency_seconds", name, sizeof(name)),
            "Time from sending a query upstream to accepting its answer.", NULL, 0, bounds,
            sizeof(bounds) / sizeof(bounds[0]), err);
        if (rm->latency == NULL) {
            free(rm);
            return NULL;
        }
    }
    return rm;
}

void dj_resolver_metrics_free(struct dj_resolver_metrics *rm)
{
    free(rm);
}

void dj_resolver_metrics_update(struct dj_resolver_metrics *rm,
                                const struct dj_resolver_stats *stats)
{
    const char *base = (const char *)stats;

    for (size_t i = 0; i < N_SERIES; i++) {
        uint64_t value = series[i].kind == FIELD_U64
                             ? *(const uint64_t *)(const void *)(base + series[i].offset)
                             : (uint64_t) * (const size_t *)(const void *)(base + series[i].offset);

        dj_metric_set(rm->metric[i], value);
    }
    dj_metric_set_histogram(rm->latency, stats->latency_buckets, DJ_RESOLVER_LATENCY_BUCKETS,
                            stats->latency_sum_ms / 1000.0);
}

void dj_resolver_stats_add(struct dj_resolver_stats *sum, const struct dj_resolver_stats *one)
{
    char *base = (char *)sum;
    const char *add = (const char *)one;

    for (size_t i = 0; i < N_SERIES; i++) {
        if (series[i].kind == FIELD_U64)
            *(uint64_t *)(void *)(base + series[i].offset) +=
                *(const uint64_t *)(const void *)(add + series[i].offset);
        else
            *(size_t *)(void *)(base + series[i].offset) +=
                *(const size_t *)(const void *)(add + series[i].offset);
    }
    for (size_t i = 0; i < DJ_RESOLVER_LATENCY_BUCKETS; i++)
        sum->latency_buckets[i] += one->latency_buckets[i];
    sum->latency_sum_ms += one->latency_sum_ms;
}
