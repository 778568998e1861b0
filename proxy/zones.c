#include "config.h"

/* zones.c: the forward zones' resolvers. A name inside an admin's forward zone belongs to
 * that zone's resolvers: the stub answers it from there, so the proxy must resolve it there
 * too, or a `name:port` rule for db.corp.test would lead, through a virtual address, to
 * whatever the proxy's own upstream-resolvers say db.corp.test is (usually nothing). One
 * resolver per distinct upstream set (as in the stub), with the proxy resolver's tunables,
 * created before the sandbox; every other name keeps p->resolver. */

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "proxy.h"

int proxy_zones_setup(struct proxy *p, dj_error_t *err)
{
    const struct proxy_config *cfg = p->cfg;

    for (size_t i = 0; i < cfg->forward.n; i++) {
        const struct dj_fwdzone *z = &cfg->forward.zones[i];
        const char *servers[DJ_FWDZONE_MAX_UPSTREAMS];
        char buf[DJ_FWDZONE_MAX_UPSTREAMS * DJ_FWDZONE_MAX_ENTRY];
        struct dj_resolver_config rc;
        struct epoll_event ev = {.events = EPOLLIN};
        size_t k = 0;
        int n;

        while (k < p->n_zone_resolvers &&
               strcmp(cfg->forward.zones[p->zone_first[k]].upstreams, z->upstreams) != 0)
            k++;
        p->zone_resolver[i] = k;
        if (k < p->n_zone_resolvers)
            continue;
        n = dj_fwdzone_split_upstreams(z->upstreams, buf, sizeof(buf), servers);
        if (n <= 0)
            return dj_error_make(err, 0, "--forward: zone %s: bad upstream list", z->name);
        rc = cfg->resolver;
        rc.n_servers = 0;
        memset(rc.servers, 0, sizeof(rc.servers));
        memset(rc.upstreams, 0, sizeof(rc.upstreams));
        for (int s = 0; s < n; s++)
            if (dj_resolver_config_add_server(&rc, servers[s], err) < 0)
                return dj_error_wrap(err, "--forward: zone %s: upstream", z->name);
        p->zone_resolvers[k] = dj_resolver_new(&rc, err);
        if (p->zone_resolvers[k] == NULL)
            return dj_error_wrap(err, "forward zone %s's resolver", z->name);
        p->zone_first[k] = i;
        p->n_zone_resolvers++;
        dj_resolver_set_log(p->zone_resolvers[k], &p->log);
        /* Index 0 is p->resolver's; zone resolver k is k + 1. */
        ev.data.u64 = proxy_tag(TAG_RESOLVER, k + 1, 0);
        if (epoll_ctl(p->epoll_fd, EPOLL_CTL_ADD, dj_resolver_fd(p->zone_resolvers[k]), &ev) < 0)
            return dj_error_make(err, errno, "epoll_ctl(ADD) for zone %s's resolver", z->name);
    }
    return 0;
}

void proxy_zones_free(struct proxy *p)
{
    for (size_t k = 0; k < p->n_zone_resolvers; k++)
        dj_resolver_free(p->zone_resolvers[k]);
    p->n_zone_resolvers = 0;
}

struct dj_resolver *proxy_resolver_for(struct proxy *p, const char *host)
{
    ssize_t zone = p->cfg->forward.n > 0 ? dj_fwdzone_match_text(&p->cfg->forward, host) : -1;

    return zone >= 0 ? p->zone_resolvers[p->zone_resolver[zone]] : p->resolver;
}

int proxy_resolvers_timeout_ms(struct proxy *p)
{
    int best = dj_resolver_timeout_ms(p->resolver);

    for (size_t k = 0; k < p->n_zone_resolvers; k++) {
        int ms = dj_resolver_timeout_ms(p->zone_resolvers[k]);

        if (ms >= 0 && (best < 0 || ms < best))
            best = ms;
    }
    return best;
}

void proxy_resolvers_process(struct proxy *p, const bool *ready)
{
    if (ready[0] || dj_resolver_timeout_ms(p->resolver) == 0)
        dj_resolver_process(p->resolver);
    for (size_t k = 0; k < p->n_zone_resolvers; k++)
        if (ready[k + 1] || dj_resolver_timeout_ms(p->zone_resolvers[k]) == 0)
            dj_resolver_process(p->zone_resolvers[k]);
}
