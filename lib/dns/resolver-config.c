/* resolver-config.c: a resolver's configuration (defaults, servers, resolv.conf), apart from
 * the resolver itself so that a program that only reads configurations (the hook) does not
 * link the resolver and, through its DNS over TLS, OpenSSL: loading that costs about 1 ms at
 * every exec. */
#include "config.h"
#include "dns/resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/cleanup.h"
#include "dns/upstream.h"

#define DEFAULT_TIMEOUT_MS 1500
#define DEFAULT_ATTEMPTS 2
#define DEFAULT_CACHE_ENTRIES 1024
#define DEFAULT_TTL_FLOOR 5
#define DEFAULT_TTL_CEILING 3600
#define DEFAULT_MAX_INFLIGHT 4096
#define RESOLV_CONF_LINE 512
#define RESOLV_CONF_MAX_SERVERS 4 /* glibc reads 3 (MAXNS); one more costs nothing */

void dj_resolver_config_init(struct dj_resolver_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->timeout_ms = DEFAULT_TIMEOUT_MS;
    cfg->attempts = DEFAULT_ATTEMPTS;
    cfg->cache_entries = DEFAULT_CACHE_ENTRIES;
    cfg->ttl_floor = DEFAULT_TTL_FLOOR;
    cfg->ttl_ceiling = DEFAULT_TTL_CEILING;
    cfg->max_inflight = DEFAULT_MAX_INFLIGHT;
}

int dj_resolver_config_add_server(struct dj_resolver_config *cfg, const char *text, dj_error_t *err)
{
    struct dj_upstream up;
    const char *problem;

    if (cfg->n_servers >= DJ_RESOLVER_MAX_SERVERS)
        return dj_error_make(err, 0, "DNS server %.80s: at most %d servers", text,
                             DJ_RESOLVER_MAX_SERVERS);
    problem = dj_upstream_parse(text, &up);
    if (problem != NULL)
        return dj_error_make(err, 0, "DNS server %.200s: %s", text, problem);
    cfg->servers[cfg->n_servers] = up.addr;
    cfg->upstreams[cfg->n_servers] = up;
    cfg->n_servers++;
    return 0;
}

int dj_resolver_config_from_resolv_conf(struct dj_resolver_config *cfg, const char *path,
                                        dj_error_t *err)
{
    cleanup_fclose FILE *f = fopen(path, "re");
    char line[RESOLV_CONF_LINE];
    unsigned scoped = 0, invalid = 0, beyond = 0, added = 0;

    if (f == NULL)
        return dj_error_make(err, errno, "cannot open %s", path);
    while (fgets(line, sizeof(line), f) != NULL) {
        struct sockaddr_storage ss;
        size_t len = strlen(line);
        char *p = line, *word, *end;

        if (len > 0 && line[len - 1] != '\n' && !feof(f)) {
            int c;

            /* Longer than any line we care about: skip the rest of it. */
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
            continue;
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (strncmp(p, "nameserver", 10) != 0 || (p[10] != ' ' && p[10] != '\t'))
            continue; /* search, domain, options, sortlist, comments: see the top of file */
        p += 10;
        while (*p == ' ' || *p == '\t')
            p++;
        word = p;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != '#' &&
               *p != ';')
            p++;
        end = p;
        if (end == word)
            continue;
        /* A link-local server needs its interface; we have none to give it (the daemons
         * live in the host namespace and the interface is the host's business). */
        if (memchr(word, '%', (size_t)(end - word)) != NULL) {
            scoped++;
            continue;
        }
        if (!dj_upstream_parse_address(word, (size_t)(end - word), AF_UNSPEC, 53, &ss)) {
            invalid++; /* glibc skips these too */
            continue;
        }
        if (cfg->n_servers >= RESOLV_CONF_MAX_SERVERS) {
            beyond++; /* like glibc beyond MAXNS */
            continue;
        }
        memset(&cfg->upstreams[cfg->n_servers], 0, sizeof(cfg->upstreams[0]));
        cfg->upstreams[cfg->n_servers].addr = ss;
        cfg->servers[cfg->n_servers++] = ss;
        added++;
    }
    if (ferror(f))
        return dj_error_make(err, EIO, "cannot read %s", path);
    if (added == 0)
        return dj_error_make(err, 0,
                             "%s: no usable nameserver line (%u scoped link-local, %u invalid, "
                             "%u beyond the %d servers we use)",
                             path, scoped, invalid, beyond, RESOLV_CONF_MAX_SERVERS);
    return 0;
}
