/* suggest.h: from what containers were seen connecting to, the smallest io.dnsjail.allow value
 * that would have allowed all of it, for `dnsjail suggest` (audit logs, or the denials of an
 * enforce-mode run). Names are collapsed into "*.parent" only when at least THRESHOLD names
 * share that parent and the parent has two labels or more, so never into "*" or "*.com".
 * Owns: the observations and the rules computed from them. Pure (no I/O). */
#ifndef DNSJAIL_SUGGEST_H
#define DNSJAIL_SUGGEST_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "report/logline.h"

#define DJ_SUGGEST_MAX_DESTINATIONS 100000 /* distinct (name or address, port) pairs */

struct dj_suggest;

struct dj_suggestion {
    char *rule;           /* in io.dnsjail.allow syntax */
    uint64_t connections; /* connections and requests it covers */
    size_t names;         /* distinct names or addresses it covers */
    char *example;        /* one of them (for wildcards: the first, sorted) */
};

struct dj_suggest *dj_suggest_new(void);
void dj_suggest_free(struct dj_suggest *s);

/* One destination seen COUNT times: a host name or an address literal, and a port. */
int dj_suggest_add(struct dj_suggest *s, const char *host_or_address, unsigned port, uint64_t count,
                   dj_error_t *err);

/* A log record: connections (http_request, tls_connection, virtual_connection,
 * tcp_connection) add their host or
 * address; other events are skipped. Returns 1 when the record added something, 0 when it was
 * skipped, -1 with *err for a connection whose destination is not a valid name or address. */
int dj_suggest_add_record(struct dj_suggest *s, const struct dj_logline_record *rec,
                          dj_error_t *err);

/* The rules, sorted by text; free with dj_suggestions_free. THRESHOLD 0 never collapses. */
int dj_suggest_compute(const struct dj_suggest *s, unsigned threshold, struct dj_suggestion **out,
                       size_t *n_out, dj_error_t *err);
void dj_suggestions_free(struct dj_suggestion *list, size_t n);

/* "rule, rule, ..." (malloc'd), ready for io.dnsjail.allow=. NULL on out-of-memory. */
char *dj_suggestions_join(const struct dj_suggestion *list, size_t n);

#endif
