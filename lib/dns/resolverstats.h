/* resolverstats.h: lib/dns/resolver's counters (struct dj_resolver_stats) as metrics, for every
 * daemon that runs a resolver. One table in resolverstats.c maps each field to its metric,
 * so a new field in dj_resolver_stats is one line there (and one in docs/DESIGN.md).
 * Owns: the dnsjail_resolver_* metric names (the stub's forwarders use the same series with
 * the prefix dnsjail_forward_). */
#ifndef DNSJAIL_RESOLVERSTATS_H
#define DNSJAIL_RESOLVERSTATS_H

#include "base/error.h"
#include "daemon/metrics.h"
#include "dns/resolver.h"

struct dj_resolver_metrics;

/* Registers the resolver's series in M (after M's constant labels), named PREFIX + the
 * table's suffix; PREFIX NULL is "dnsjail_resolver_". */
struct dj_resolver_metrics *dj_resolver_metrics_new(struct dj_metrics *m, const char *prefix,
                                                    dj_error_t *err);
void dj_resolver_metrics_free(struct dj_resolver_metrics *rm);

/* Copies STATS into the registered series. */
void dj_resolver_metrics_update(struct dj_resolver_metrics *rm,
                                const struct dj_resolver_stats *stats);

/* Adds ONE's counters, gauges and histogram into SUM (per-server details are left out): for
 * a daemon that runs several resolvers, as the stub does for forward zones. */
void dj_resolver_stats_add(struct dj_resolver_stats *sum, const struct dj_resolver_stats *one);

#endif
