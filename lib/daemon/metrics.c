#include "config.h"
#include "daemon/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"

#define MAX_NAME 128  /* metric and label names */
#define MAX_HELP 1024 /* one line of help */
#define MAX_FILE_NAME 200

struct family {
    char *name;
    char *help;
    enum dj_metric_type type;
    double *bounds; /* n_bounds of them; histograms only (NULL otherwise) */
    size_t n_bounds;
};

struct dj_metric {
    struct dj_metrics *owner;
    size_t family;
    char *labels; /* rendered and escaped: a="x",b="y"; "" without labels */
    uint64_t value;
    double sum;
    /* Per bucket, the last for +Inf: the family's n_bounds + 1, so one for a counter or a
     * gauge (dj_metric_observe may count there, harmlessly). Sized per series: with room
     * for the most buckets, every counter took 300 bytes. */
    uint64_t buckets[];
};

struct text {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
};

struct dj_metrics {
    struct text const_labels; /* rendered like dj_metric.labels */
    struct family *families;
    size_t n_families;
    size_t cap_families;
    struct dj_metric **series;
    size_t n_series;
    size_t cap_series;
    struct text out;
};

/* ---- text ------------------------------------------------------------------------------- */

static void text_reserve(struct text *t, size_t more)
{
    size_t want;
    char *grown;

    if (t->failed)
        return;
    if (more > SIZE_MAX / 2 - t->len) {
        t->failed = true;
        return;
    }
    want = t->len + more + 1;
    if (want <= t->cap)
        return;
    if (want < 2 * t->cap)
        want = 2 * t->cap;
    /* Small: label texts are a few dozen bytes, and the output buffer doubles to its size
     * once, at the first rendering. */
    if (want < 64)
        want = 64;
    grown = realloc(t->data, want);
    if (grown == NULL) {
        t->failed = true;
        return;
    }
    t->data = grown;
    t->cap = want;
}

static void text_add(struct text *t, const char *s, size_t len)
{
    text_reserve(t, len);
    if (t->failed)
        return;
    memcpy(t->data + t->len, s, len);
    t->len += len;
    t->data[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
    text_add(t, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3))) text_printf(struct text *t, const char *fmt, ...)
{
    char small[64];
    va_list ap;
    int n;

    /* Only numbers go through here: they always fit. */
    va_start(ap, fmt);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(small)) {
        t->failed = true;
        return;
    }
    text_add(t, small, (size_t)n);
}

/* The exposition format's escapes: backslash and newline everywhere, the double quote in
 * label values too. */
static void text_escaped(struct text *t, const char *s, bool quote)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            text_str(t, "\\\\");
        else if (*s == '\n')
            text_str(t, "\\n");
        else if (*s == '"' && quote)
            text_str(t, "\\\"");
        else
            text_add(t, s, 1);
    }
}

/* The shortest of %.15g..%.17g that reads back as the same double, so 0.1 stays "0.1". */
static void text_double(struct text *t, double v)
{
    char buf[40];

    if (isinf(v)) {
        text_str(t, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    if (isnan(v)) {
        text_str(t, "NaN");
        return;
    }
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(buf, sizeof(buf), "%.*g", precision, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    text_str(t, buf);
}

/* ---- names -------------------------------------------------------------------------------- */

static bool valid_name(const char *name, bool metric)
{
    size_t len = strlen(name);

    if (len == 0 || len > MAX_NAME)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool letter =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (metric && c == ':');

        if (!letter && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    /* Label names with __ are reserved for Prometheus itself; "le" is the bucket label. */
    return metric || (strncmp(name, "__", 2) != 0 && strcmp(name, "le") != 0);
}

static int add_label(struct text *t, const char *name, const char *value, dj_error_t *err)
{
    if (!valid_name(name, false))
        return dj_error_make(err, 0, "metrics: '%s' is not a label name", name);
    if (strlen(value) > DJ_METRICS_MAX_LABEL_VALUE)
        return dj_error_make(err, 0, "metrics: value of label '%s' longer than %d bytes", name,
                             DJ_METRICS_MAX_LABEL_VALUE);
    if (t->len > 0)
        text_str(t, ",");
    text_str(t, name);
    text_str(t, "=\"");
    text_escaped(t, value, true);
    text_str(t, "\"");
    if (t->failed)
        return dj_error_make(err, ENOMEM, "metrics: label '%s'", name);
    return 0;
}

/* ---- registry ----------------------------------------------------------------------------- */

struct dj_metrics *dj_metrics_new(dj_error_t *err)
{
    struct dj_metrics *m = calloc(1, sizeof(*m));

    if (m == NULL)
        dj_error_make(err, ENOMEM, "metrics registry");
    return m;
}

void dj_metrics_free(struct dj_metrics *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->n_families; i++) {
        free(m->families[i].name);
        free(m->families[i].help);
        free(m->families[i].bounds);
    }
    for (size_t i = 0; i < m->n_series; i++) {
        free(m->series[i]->labels);
        free(m->series[i]);
    }
    free(m->families);
    free(m->series);
    free(m->const_labels.data);
    free(m->out.data);
    free(m);
}

int dj_metrics_add_const_label(struct dj_metrics *m, const char *name, const char *value,
                               dj_error_t *err)
{
    if (m->n_series > 0)
        return dj_error_make(err, 0, "metrics: constant label '%s' after the first series", name);
    if (value == NULL || *value == '\0')
        return 0;
    return add_label(&m->const_labels, name, value, err);
}

static struct dj_metric *add_series(struct dj_metrics *m, enum dj_metric_type type,
                                    const char *name, const char *help,
                                    const struct dj_metric_label *labels, size_t n_labels,
                                    const double *bounds, size_t n_bounds, dj_error_t *err)
{
    struct text label_text = {0};
    struct dj_metric *metric, **series;
    size_t family;

    if (!valid_name(name, true)) {
        dj_error_make(err, 0, "metrics: '%s' is not a metric name", name);
        return NULL;
    }
    if (help == NULL || strlen(help) > MAX_HELP) {
        dj_error_make(err, 0, "metrics: %s: help missing or too long", name);
        return NULL;
    }
    if (n_labels > DJ_METRICS_MAX_LABELS) {
        dj_error_make(err, 0, "metrics: %s: more than %d labels", name, DJ_METRICS_MAX_LABELS);
        return NULL;
    }
    for (family = 0; family < m->n_families; family++)
        if (strcmp(m->families[family].name, name) == 0)
            break;
    if (family < m->n_families) {
        const struct family *f = &m->families[family];

        if (f->type != type || strcmp(f->help, help) != 0 || f->n_bounds != n_bounds ||
            (n_bounds > 0 && memcmp(f->bounds, bounds, n_bounds * sizeof(*bounds)) != 0)) {
            dj_error_make(err, 0, "metrics: %s registered again with another type or help", name);
            return NULL;
        }
    }

    text_add(&label_text, "", 0);
    if (m->const_labels.len > 0)
        text_add(&label_text, m->const_labels.data, m->const_labels.len);
    for (size_t i = 0; i < n_labels; i++) {
        if (add_label(&label_text, labels[i].name, labels[i].value, err) < 0) {
            free(label_text.data);
            return NULL;
        }
    }
    /* text_reserve() rounds up to 1 KiB, and a series keeps its labels for the daemon's
     * life: a daemon registers dozens. */
    if (!label_text.failed) {
        char *fitted = realloc(label_text.data, label_text.len + 1);

        if (fitted != NULL)
            label_text.data = fitted;
    }
    /* The arrays grow by doubling: grown one element at a time, each registration left the
     * previous array behind as a hole in the heap (a family is 300 bytes), and a daemon
     * registers dozens at start-up. */
    metric = calloc(1, sizeof(*metric) + (n_bounds + 1) * sizeof(metric->buckets[0]));
    if (label_text.failed || metric == NULL)
        goto oom;
    if (m->n_series == m->cap_series) {
        size_t cap = m->cap_series == 0 ? 16 : 2 * m->cap_series;

        series = realloc(m->series, cap * sizeof(*series));
        if (series == NULL)
            goto oom;
        m->series = series;
        m->cap_series = cap;
    }

    if (family == m->n_families) {
        struct family *f;

        if (m->n_families == m->cap_families) {
            size_t cap = m->cap_families == 0 ? 16 : 2 * m->cap_families;
            struct family *families = realloc(m->families, cap * sizeof(*m->families));

            if (families == NULL)
                goto oom;
            m->families = families;
            m->cap_families = cap;
        }
        f = &m->families[family];
        memset(f, 0, sizeof(*f));
        f->name = strdup(name);
        f->help = strdup(help);
        f->bounds = n_bounds > 0 ? malloc(n_bounds * sizeof(*bounds)) : NULL;
        if (f->name == NULL || f->help == NULL || (n_bounds > 0 && f->bounds == NULL)) {
            free(f->name);
            free(f->help);
            free(f->bounds);
            goto oom;
        }
        f->type = type;
        f->n_bounds = n_bounds;
        if (n_bounds > 0)
            memcpy(f->bounds, bounds, n_bounds * sizeof(*bounds));
        m->n_families++;
    }
    metric->owner = m;
    metric->family = family;
    metric->labels = label_text.data;
    m->series[m->n_series++] = metric;
    return metric;

oom:
    free(label_text.data);
    free(metric);
    dj_error_make(err, ENOMEM, "metrics: registering %s", name);
    return NULL;
}

struct dj_metric *dj_metrics_register(struct dj_metrics *m, enum dj_metric_type type,
                                      const char *name, const char *help,
                                      const struct dj_metric_label *labels, size_t n_labels,
                                      dj_error_t *err)
{
    if (type != DJ_METRIC_COUNTER && type != DJ_METRIC_GAUGE) {
        dj_error_make(err, 0, "metrics: %s: histograms have their own registration", name);
        return NULL;
    }
    return add_series(m, type, name, help, labels, n_labels, NULL, 0, err);
}

struct dj_metric *dj_metrics_register_histogram(struct dj_metrics *m, const char *name,
                                                const char *help,
                                                const struct dj_metric_label *labels,
                                                size_t n_labels, const double *bounds,
                                                size_t n_bounds, dj_error_t *err)
{
    if (n_bounds == 0 || n_bounds > DJ_METRICS_MAX_BUCKETS) {
        dj_error_make(err, 0, "metrics: %s: 1..%d buckets", name, DJ_METRICS_MAX_BUCKETS);
        return NULL;
    }
    for (size_t i = 0; i < n_bounds; i++) {
        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1]))) {
            dj_error_make(err, 0, "metrics: %s: bounds must be finite and increasing", name);
            return NULL;
        }
    }
    return add_series(m, DJ_METRIC_HISTOGRAM, name, help, labels, n_labels, bounds, n_bounds, err);
}

void dj_metric_set(struct dj_metric *metric, uint64_t value)
{
    metric->value = value;
}

void dj_metric_observe(struct dj_metric *metric, double value)
{
    const struct family *f = &metric->owner->families[metric->family];
    size_t b = 0;

    while (b < f->n_bounds && value > f->bounds[b])
        b++;
    metric->buckets[b]++; /* counters and gauges have no bounds: b == 0, harmless */
    metric->sum += value;
}

void dj_metric_set_histogram(struct dj_metric *metric, const uint64_t *counts, size_t n, double sum)
{
    const struct family *f = &metric->owner->families[metric->family];

    if (n > f->n_bounds + 1)
        n = f->n_bounds + 1;
    memcpy(metric->buckets, counts, n * sizeof(*counts));
    metric->sum = sum;
}

/* ---- rendering ---------------------------------------------------------------------------- */

static const char *type_text(enum dj_metric_type type)
{
    switch (type) {
    case DJ_METRIC_COUNTER:
        return "counter";
    case DJ_METRIC_GAUGE:
        return "gauge";
    case DJ_METRIC_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

/* NAME SUFFIX{LABELS[,EXTRA]} */
static void render_series_name(struct text *t, const char *name, const char *suffix,
                               const char *labels, const char *extra)
{
    text_str(t, name);
    text_str(t, suffix);
    if (*labels == '\0' && extra == NULL)
        return;
    text_str(t, "{");
    text_str(t, labels);
    if (extra != NULL) {
        if (*labels != '\0')
            text_str(t, ",");
        text_str(t, extra);
    }
    text_str(t, "}");
}

static void render_histogram(struct text *t, const struct family *f, const struct dj_metric *s)
{
    uint64_t cumulative = 0;

    for (size_t b = 0; b <= f->n_bounds; b++) {
        struct text le = {0};

        cumulative += s->buckets[b];
        text_str(&le, "le=\"");
        if (b < f->n_bounds)
            text_double(&le, f->bounds[b]);
        else
            text_str(&le, "+Inf");
        text_str(&le, "\"");
        if (le.failed) {
            t->failed = true;
            free(le.data);
            return;
        }
        render_series_name(t, f->name, "_bucket", s->labels, le.data);
        free(le.data);
        text_printf(t, " %llu\n", (unsigned long long)cumulative);
    }
    render_series_name(t, f->name, "_sum", s->labels, NULL);
    text_str(t, " ");
    text_double(t, s->sum);
    text_str(t, "\n");
    render_series_name(t, f->name, "_count", s->labels, NULL);
    text_printf(t, " %llu\n", (unsigned long long)cumulative);
}

long dj_metrics_render(struct dj_metrics *m, const char **text, dj_error_t *err)
{
    struct text *t = &m->out;

    t->len = 0;
    t->failed = false;
    text_add(t, "", 0);
    for (size_t fi = 0; fi < m->n_families; fi++) {
        const struct family *f = &m->families[fi];

        text_str(t, "# HELP ");
        text_str(t, f->name);
        text_str(t, " ");
        text_escaped(t, f->help, false);
        text_str(t, "\n# TYPE ");
        text_str(t, f->name);
        text_str(t, " ");
        text_str(t, type_text(f->type));
        text_str(t, "\n");
        for (size_t si = 0; si < m->n_series; si++) {
            const struct dj_metric *s = m->series[si];

            if (s->family != fi)
                continue;
            if (f->type == DJ_METRIC_HISTOGRAM) {
                render_histogram(t, f, s);
                continue;
            }
            render_series_name(t, f->name, "", s->labels, NULL);
            text_printf(t, " %llu\n", (unsigned long long)s->value);
        }
    }
    if (t->failed)
        return dj_error_make(err, ENOMEM, "metrics: rendering");
    *text = t->data;
    return (long)t->len;
}

/* ---- the file ----------------------------------------------------------------------------- */

int dj_metrics_write_at(struct dj_metrics *m, int dir_fd, const char *name, dj_error_t *err)
{
    char tmp[MAX_FILE_NAME + sizeof(".tmp")];
    const char *text;
    long len = dj_metrics_render(m, &text, err);
    size_t done = 0;
    int fd;

    if (len < 0)
        return -1;
    if (strlen(name) > MAX_FILE_NAME || strchr(name, '/') != NULL || *name == '\0')
        return dj_error_make(err, 0, "metrics: bad file name '%s'", name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", name);
    /* O_NOFOLLOW: whoever could plant a link in the directory could make us write elsewhere. */
    fd = openat(dir_fd, tmp, DJ_METRICS_OPEN_FLAGS, 0644);
    if (fd < 0)
        return dj_error_make(err, errno, "metrics: creating %s", tmp);
    /* The collector runs as another user; a umask must not hide the numbers from it. */
    if (fchmod(fd, 0644) < 0) {
        dj_error_make(err, errno, "metrics: chmod %s", tmp);
        close(fd);
        return -1;
    }
    while (done < (size_t)len) {
        ssize_t n = write(fd, text + done, (size_t)len - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            dj_error_make(err, n < 0 ? errno : EIO, "metrics: writing %s", tmp);
            close(fd);
            return -1;
        }
        done += (size_t)n;
    }
    if (close(fd) < 0)
        return dj_error_make(err, errno, "metrics: closing %s", tmp);
    if (renameat(dir_fd, tmp, dir_fd, name) < 0)
        return dj_error_make(err, errno, "metrics: renaming %s to %s", tmp, name);
    return 0;
}
