/* resolverstats.h: lib/resolver's counters (struct dj_resolver_stats) as metrics, for every
 * daemon that runs a resolver. One table in resolverstats.c maps each field to its metric,
 * so a new field in dj_resolver_stats is one line there (and one in docs/DESIGN.md).
 * Owns: the dnsjail_resolver_* metric names. */
#ifndef DNSJAIL_RESOLVERSTATS_H
#define DNSJAIL_RESOLVERSTATS_H

#include "error.h"
#include "metrics.h"
#include "resolver.h"

struct dj_resolver_metrics;

/* Registers the resolver's series in M (after M's constant labels). */
struct dj_resolver_metrics *dj_resolver_metrics_new(struct dj_metrics *m, dj_error_t *err);
void dj_resolver_metrics_free(struct dj_resolver_metrics *rm);

/* Copies STATS into the registered series. */
void dj_resolver_metrics_update(struct dj_resolver_metrics *rm,
                                const struct dj_resolver_stats *stats);

#endif
