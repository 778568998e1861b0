/* suggest.c: see suggest.h.
 *
 * Each destination goes through the allow-rule parser (lib/jail/policy) before it is kept, so what
 * comes out is canonical (lower case, no trailing dot) and always a valid rule: a log line
 * cannot smuggle a "*" or a separator into the suggested value. Ports 80 and 443 fold into
 * the rule without a port, which allows both. */
#include "config.h"
#include "report/suggest.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cleanup.h"
#include "jail/policy.h"

struct destination {
    char *text;    /* canonical host, or the address as the rule writes it */
    bool is_host;  /* a host name (may be collapsed) */
    uint16_t port; /* 0: 80 and 443 */
    uint64_t count;
};

struct dj_suggest {
    struct destination *d; /* sorted by (is_host, text, port) */
    size_t n, cap;
};

struct dj_suggest *dj_suggest_new(void)
{
    return calloc(1, sizeof(struct dj_suggest));
}

void dj_suggest_free(struct dj_suggest *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        free(s->d[i].text);
    free(s->d);
    free(s);
}

static int compare(bool a_host, const char *a_text, uint16_t a_port, const struct destination *b)
{
    int c;

    if (a_host != b->is_host)
        return a_host ? 1 : -1;
    c = strcmp(a_text, b->text);
    if (c != 0)
        return c;
    return (int)a_port - (int)b->port;
}

/* The rule's text for one destination, from the parsed rule (so it is canonical). */
static char *rule_text(const struct dj_allow_rule *r)
{
    char addr[INET6_ADDRSTRLEN];
    char *out = NULL;
    bool v6 = r->family == AF_INET6;

    if (r->kind == DJ_RULE_HOST)
        return strdup(r->host);
    if (inet_ntop(r->family, r->addr, addr, sizeof(addr)) == NULL)
        return NULL;
    if (asprintf(&out, v6 ? "[%s]" : "%s", addr) < 0)
        return NULL;
    return out;
}

int dj_suggest_add(struct dj_suggest *s, const char *host_or_address, unsigned port, uint64_t count,
                   dj_error_t *err)
{
    struct dj_allow_rule *rules = NULL;
    cleanup_free char *text = NULL;
    size_t n_rules = 0, lo = 0, hi = s->n;
    bool is_host;
    uint16_t rule_port = port == 80 || port == 443 ? 0 : (uint16_t)port;
    int c = 0;

    if (port == 0 || port > 65535)
        return dj_error_make(err, 0, "port %u is not a port", port);
    if (host_or_address == NULL || strpbrk(host_or_address, ",*/[]") != NULL)
        return dj_error_make(err, 0, "not a host name or an address");
    /* No white space or control byte: the rule parser would take them as separators and
     * turn "b.\n" into the rule "b", a name nobody asked for. */
    for (const char *p = host_or_address; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return dj_error_make(err, 0, "not a host name or an address");
    {
        /* An IPv6 literal needs brackets to take no port part by mistake. */
        cleanup_free char *probe = NULL;
        bool v6 = strchr(host_or_address, ':') != NULL;

        if (asprintf(&probe, v6 ? "[%s]" : "%s", host_or_address) < 0)
            return dj_error_make(err, ENOMEM, "destination");
        if (dj_allow_parse(probe, false, &rules, &n_rules, err) < 0)
            return -1;
    }
    if (n_rules != 1 || (rules[0].kind != DJ_RULE_HOST &&
                         !(rules[0].kind == DJ_RULE_CIDR &&
                           rules[0].prefix == (rules[0].family == AF_INET ? 32 : 128)))) {
        dj_allow_free(rules, n_rules);
        return dj_error_make(err, 0, "not one host name or address");
    }
    is_host = rules[0].kind == DJ_RULE_HOST;
    text = rule_text(&rules[0]);
    dj_allow_free(rules, n_rules);
    if (text == NULL)
        return dj_error_make(err, ENOMEM, "destination");

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        c = compare(is_host, text, rule_port, &s->d[mid]);
        if (c == 0) {
            s->d[mid].count += count;
            return 0;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (s->n == DJ_SUGGEST_MAX_DESTINATIONS)
        return dj_error_make(err, 0, "more than %d different destinations",
                             DJ_SUGGEST_MAX_DESTINATIONS);
    if (s->n == s->cap) {
        size_t cap = s->cap == 0 ? 64 : s->cap * 2;
        struct destination *d = realloc(s->d, cap * sizeof(*d));

        if (d == NULL)
            return dj_error_make(err, ENOMEM, "destinations");
        s->d = d;
        s->cap = cap;
    }
    memmove(&s->d[lo + 1], &s->d[lo], (s->n - lo) * sizeof(s->d[0]));
    s->d[lo] = (struct destination){steal_ptr(&text), is_host, rule_port, count};
    s->n++;
    return 0;
}

int dj_suggest_add_record(struct dj_suggest *s, const struct dj_logline_record *rec,
                          dj_error_t *err)
{
    const char *dest;

    if (strcmp(rec->event, "http_request") != 0 && strcmp(rec->event, "tls_connection") != 0 &&
        strcmp(rec->event, "tcp_connection") != 0 && strcmp(rec->event, "virtual_connection") != 0)
        return 0;
    dest = rec->host != NULL ? rec->host : rec->dest;
    if (dest == NULL || rec->port <= 0)
        return 0; /* refused before a destination was known (no Host, no SNI) */
    if (dj_suggest_add(s, dest, (unsigned)rec->port, 1, err) < 0)
        return -1;
    return 1;
}

/* The parent of a host name when it may be a wildcard's base: two labels or more. */
static const char *collapsible_parent(const char *host)
{
    const char *dot = strchr(host, '.');

    if (dot == NULL || strchr(dot + 1, '.') == NULL)
        return NULL;
    return dot + 1;
}

static int push(struct dj_suggestion **list, size_t *n, size_t *cap, char *rule, uint64_t count,
                size_t names, const char *example, dj_error_t *err)
{
    if (rule == NULL)
        return dj_error_make(err, ENOMEM, "suggestions");
    if (*n == *cap) {
        size_t c = *cap == 0 ? 16 : *cap * 2;
        struct dj_suggestion *l = realloc(*list, c * sizeof(*l));

        if (l == NULL) {
            free(rule);
            return dj_error_make(err, ENOMEM, "suggestions");
        }
        *list = l;
        *cap = c;
    }
    (*list)[*n] = (struct dj_suggestion){rule, count, names, strdup(example)};
    if ((*list)[*n].example == NULL) {
        free(rule);
        return dj_error_make(err, ENOMEM, "suggestions");
    }
    (*n)++;
    return 0;
}

static char *with_port(const char *base, uint16_t port)
{
    char *out = NULL;

    if (port == 0)
        return strdup(base);
    return asprintf(&out, "%s:%u", base, (unsigned)port) < 0 ? NULL : out;
}

static int by_rule(const void *a, const void *b)
{
    return strcmp(((const struct dj_suggestion *)a)->rule, ((const struct dj_suggestion *)b)->rule);
}

int dj_suggest_compute(const struct dj_suggest *s, unsigned threshold, struct dj_suggestion **out,
                       size_t *n_out, dj_error_t *err)
{
    struct dj_suggestion *list = NULL;
    size_t n = 0, cap = 0;
    cleanup_free bool *done = calloc(s->n + 1, sizeof(bool));

    *out = NULL;
    *n_out = 0;
    if (done == NULL)
        return dj_error_make(err, ENOMEM, "suggestions");
    for (size_t i = 0; i < s->n; i++) {
        const struct destination *d = &s->d[i];
        const char *parent = d->is_host ? collapsible_parent(d->text) : NULL;
        uint64_t count = 0;
        size_t names = 0;
        cleanup_free char *base = NULL;

        if (done[i])
            continue;
        if (parent != NULL && threshold > 0) {
            /* Every other destination with the same parent and port. O(n^2) at worst, on a
             * list of distinct destinations: fine for what one log shows. */
            for (size_t j = i; j < s->n; j++) {
                const struct destination *e = &s->d[j];
                const char *p = e->is_host ? collapsible_parent(e->text) : NULL;

                if (!done[j] && p != NULL && e->port == d->port && strcmp(p, parent) == 0) {
                    count += e->count;
                    names++;
                }
            }
        }
        if (parent != NULL && threshold > 0 && names >= threshold) {
            for (size_t j = i; j < s->n; j++) {
                const struct destination *e = &s->d[j];
                const char *p = e->is_host ? collapsible_parent(e->text) : NULL;

                if (!done[j] && p != NULL && e->port == d->port && strcmp(p, parent) == 0)
                    done[j] = true;
            }
            if (asprintf(&base, "*.%s", parent) < 0)
                return dj_error_make(err, ENOMEM, "suggestions");
            if (push(&list, &n, &cap, with_port(base, d->port), count, names, d->text, err) < 0)
                goto fail;
            continue;
        }
        done[i] = true;
        if (push(&list, &n, &cap, with_port(d->text, d->port), d->count, 1, d->text, err) < 0)
            goto fail;
    }
    if (n > 0)
        qsort(list, n, sizeof(*list), by_rule);
    *out = list;
    *n_out = n;
    return 0;
fail:
    dj_suggestions_free(list, n);
    return -1;
}

void dj_suggestions_free(struct dj_suggestion *list, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(list[i].rule);
        free(list[i].example);
    }
    free(list);
}

char *dj_suggestions_join(const struct dj_suggestion *list, size_t n)
{
    size_t len = 1;
    char *out, *p;

    for (size_t i = 0; i < n; i++)
        len += strlen(list[i].rule) + 2;
    out = malloc(len);
    if (out == NULL)
        return NULL;
    p = out;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i > 0 ? ", " : "", list[i].rule);
    return out;
}
