#include "config.h"

/* stats.c: the proxy's counters, the resolver's and the open connections as the metrics file
 * proxy.prom (names in docs/DESIGN.md, "Numbers"). */

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/metrics.h"
#include "proxy.h"
#include "dns/resolverstats.h"

static const char *const protocol_label[N_CONN_KINDS] = {"http", "tls", "virtual"};
static const char *const verdict_label[N_VERDICTS] = {"allowed", "denied", "failed"};

struct proxy_metrics {
    struct dj_metrics *registry;
    int dir_fd;
    struct dj_metric *connections[N_CONN_KINDS];
    struct dj_metric *decisions[N_CONN_KINDS][N_VERDICTS];
    struct dj_metric *bytes_up, *bytes_down;
    struct dj_metric *active;
    struct dj_resolver_metrics *resolver;
};

static struct dj_metric *labelled(struct dj_metrics *m, enum dj_metric_type type, const char *name,
                                  const char *help, const char *label1, const char *value1,
                                  const char *label2, const char *value2, dj_error_t *err)
{
    struct dj_metric_label labels[2] = {{label1, value1}, {label2, value2}};

    return dj_metrics_register(m, type, name, help, labels,
                               label1 == NULL   ? 0
                               : label2 == NULL ? 1
                                                : 2,
                               err);
}

struct proxy_metrics *proxy_metrics_new(const struct proxy_config *cfg, dj_error_t *err)
{
    struct proxy_metrics *pm = calloc(1, sizeof(*pm));
    struct dj_metrics *m;

    if (pm == NULL) {
        close(cfg->common.metrics_dir_fd);
        dj_error_make(err, ENOMEM, "metrics");
        return NULL;
    }
    pm->dir_fd = cfg->common.metrics_dir_fd;
    pm->registry = m = dj_metrics_new(err);
    if (m == NULL || dj_metrics_add_const_label(m, "netns", cfg->common.netns_key, err) < 0 ||
        dj_metrics_add_const_label(m, "container", cfg->common.container_id, err) < 0)
        goto fail;
    for (int k = 0; k < N_CONN_KINDS; k++) {
        pm->connections[k] = labelled(m, DJ_METRIC_COUNTER, "dnsjail_proxy_connections_total",
                                      "Connections the proxy accepted, by protocol.", "protocol",
                                      protocol_label[k], NULL, NULL, err);
        if (pm->connections[k] == NULL)
            goto fail;
    }
    for (int k = 0; k < N_CONN_KINDS; k++) {
        for (int v = 0; v < N_VERDICTS; v++) {
            pm->decisions[k][v] = labelled(
                m, DJ_METRIC_COUNTER, "dnsjail_proxy_decisions_total",
                "Decisions on HTTP requests and TLS connections, by protocol and decision.",
                "protocol", protocol_label[k], "decision", verdict_label[v], err);
            if (pm->decisions[k][v] == NULL)
                goto fail;
        }
    }
    pm->bytes_up = labelled(m, DJ_METRIC_COUNTER, "dnsjail_proxy_bytes_total",
                            "Bytes relayed, up (to the destination) and down (to the container).",
                            "direction", "up", NULL, NULL, err);
    pm->bytes_down = pm->bytes_up == NULL
                         ? NULL
                         : labelled(m, DJ_METRIC_COUNTER, "dnsjail_proxy_bytes_total",
                                    "Bytes relayed, up (to the destination) and down (to the "
                                    "container).",
                                    "direction", "down", NULL, NULL, err);
    if (pm->bytes_down == NULL)
        goto fail;
    pm->active = labelled(m, DJ_METRIC_GAUGE, "dnsjail_proxy_active_connections",
                          "Connections open now.", NULL, NULL, NULL, NULL, err);
    if (pm->active == NULL)
        goto fail;
    pm->resolver = dj_resolver_metrics_new(m, NULL, err);
    if (pm->resolver == NULL)
        goto fail;
    return pm;

fail:
    proxy_metrics_free(pm);
    return NULL;
}

void proxy_metrics_write(struct proxy *p)
{
    struct proxy_metrics *pm = p->metrics;
    const struct proxy_stats *st = &p->stats;
    struct dj_resolver_stats resolver;
    uint64_t up = st->bytes_up_closed, down = st->bytes_down_closed;
    dj_error_t err = NULL;

    /* Open connections count with what they have moved so far, not only once they close. */
    for (size_t i = 0; i < p->n_slots_used && p->n_conns > 0; i++) {
        if (p->conns[i] != NULL) {
            up += p->conns[i]->up.forwarded;
            down += p->conns[i]->down.forwarded;
        }
    }
    for (int k = 0; k < N_CONN_KINDS; k++) {
        dj_metric_set(pm->connections[k], st->connections[k]);
        for (int v = 0; v < N_VERDICTS; v++)
            dj_metric_set(pm->decisions[k][v], st->decisions[k][v]);
    }
    dj_metric_set(pm->bytes_up, up);
    dj_metric_set(pm->bytes_down, down);
    dj_metric_set(pm->active, p->n_conns);
    dj_resolver_get_stats(p->resolver, &resolver);
    dj_resolver_metrics_update(pm->resolver, &resolver);
    /* A full disk or a removed directory: the next update tries again; the proxy serves on. */
    if (dj_metrics_write_at(pm->registry, pm->dir_fd, PROXY_METRICS_FILE, &err) < 0)
        dj_error_release(&err);
}

void proxy_metrics_free(struct proxy_metrics *pm)
{
    if (pm == NULL)
        return;
    dj_resolver_metrics_free(pm->resolver);
    dj_metrics_free(pm->registry);
    if (pm->dir_fd >= 0)
        close(pm->dir_fd);
    free(pm);
}

void proxy_count_decision(struct proxy *p, const struct conn *c)
{
    const char *decision = c->rec.decision;

    if (decision == NULL)
        return;
    p->stats.decisions[c->kind][strcmp(decision, "allow") == 0   ? PROXY_ALLOWED
                                : strcmp(decision, "error") == 0 ? PROXY_FAILED
                                                                 : PROXY_DENIED]++;
}
