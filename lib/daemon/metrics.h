/* metrics.h: a daemon's numbers in the Prometheus text exposition format (version 0.0.4), in
 * a file a node_exporter textfile collector can read.
 *
 * A registry holds series: counters, gauges and histograms with fixed buckets. Each series has
 * a metric name, up to DJ_METRICS_MAX_LABELS labels of its own, and the registry's constant
 * labels (the jail: netns key, container id) in front of them. Series with the same name form
 * one family and are rendered together under one # HELP and # TYPE, in the order of their
 * first registration. Names and label names are checked, and label values escaped, when a
 * series is registered.
 *
 * Daemons keep their counters in their own structs and copy them in (dj_metric_set) just
 * before a write: the registry is a snapshot, not the place the hot paths count in.
 * Registration allocates; setting and rendering into the registry's buffer only allocate when
 * the text outgrows the buffer. dj_metrics_write_at() needs the syscalls in
 * DJ_METRICS_SYSCALLS and the directory's rules of lib/daemon/seccompprofile.h.
 * Owns: the registry, the exposition text and the atomic file replacement. */
#ifndef DNSJAIL_METRICS_H
#define DNSJAIL_METRICS_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DJ_METRICS_MAX_LABELS 4       /* per series, besides the constant ones */
#define DJ_METRICS_MAX_CONST_LABELS 4 /* per registry */
#define DJ_METRICS_MAX_BUCKETS 32     /* per histogram, +Inf not counted */
#define DJ_METRICS_MAX_LABEL_VALUE 256

/* For a daemon's seccomp allowlist: what dj_metrics_write_at() calls beyond write and close,
 * besides openat and renameat (or renameat2, glibc may use either) in its directory, which
 * the profiles' directory rules allow for that one directory (lib/daemon/seccompprofile.h).
 * Splice into a NULL-terminated list. */
#define DJ_METRICS_SYSCALLS "fchmod"
/* The flags dj_metrics_write_at() opens its temporary file with, for that allowlist. */
#define DJ_METRICS_OPEN_FLAGS (O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW)

enum dj_metric_type {
    DJ_METRIC_COUNTER,
    DJ_METRIC_GAUGE,
    DJ_METRIC_HISTOGRAM,
};

struct dj_metrics;
struct dj_metric;

/* A label of a series: NAME="VALUE". */
struct dj_metric_label {
    const char *name;
    const char *value;
};

struct dj_metrics *dj_metrics_new(dj_error_t *err);
void dj_metrics_free(struct dj_metrics *m);

/* Adds a label that every series carries (first, in the order added). VALUE is copied; NULL or
 * "" leaves the label out. Only before the first series is registered. */
int dj_metrics_add_const_label(struct dj_metrics *m, const char *name, const char *value,
                               dj_error_t *err);

/* Registers a counter or gauge series NAME{LABELS} (N_LABELS of them, may be 0) with HELP.
 * A second series of an existing family must have the same type and help. Returns the series
 * (owned by the registry, valid until dj_metrics_free), or NULL with *err. Strings are
 * copied. */
struct dj_metric *dj_metrics_register(struct dj_metrics *m, enum dj_metric_type type,
                                      const char *name, const char *help,
                                      const struct dj_metric_label *labels, size_t n_labels,
                                      dj_error_t *err);

/* Registers a histogram series with N_BOUNDS upper bounds (strictly increasing, finite; the
 * +Inf bucket is implicit). */
struct dj_metric *dj_metrics_register_histogram(struct dj_metrics *m, const char *name,
                                                const char *help,
                                                const struct dj_metric_label *labels,
                                                size_t n_labels, const double *bounds,
                                                size_t n_bounds, dj_error_t *err);

/* Counter or gauge value. */
void dj_metric_set(struct dj_metric *metric, uint64_t value);
/* Counts one observation into a histogram. */
void dj_metric_observe(struct dj_metric *metric, double value);
/* Replaces a histogram's state: COUNTS holds N_BOUNDS + 1 per-bucket (not cumulative) counts,
 * the last one for values above every bound; N must match the registered bounds. */
void dj_metric_set_histogram(struct dj_metric *metric, const uint64_t *counts, size_t n,
                             double sum);

/* Renders every series into the registry's buffer; *TEXT points into it until the next call.
 * Returns the length, or -1 with *err (out of memory). */
long dj_metrics_render(struct dj_metrics *m, const char **text, dj_error_t *err);

/* Renders and replaces DIR_FD/NAME atomically: writes NAME.tmp (which a textfile collector
 * ignores, it reads *.prom only), makes it world-readable, renames it over NAME. */
int dj_metrics_write_at(struct dj_metrics *m, int dir_fd, const char *name, dj_error_t *err);

#endif
