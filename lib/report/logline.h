/* logline.h: reading back the JSON lines that the hook and the daemons write (lib/daemon/jsonlog),
 * for the `dnsjail` command (logs, suggest). The log holds names a container chose, so a line is
 * untrusted input: bounded, flat objects only, every field checked for its type; a line that
 * is not one of ours is refused, never half-read.
 * Owns: one line → one dj_logline_record. Pure (no I/O); fuzzed by tests/fuzz/fuzz-logline.c. */
#ifndef DNSJAIL_LOGLINE_H
#define DNSJAIL_LOGLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DJ_LOGLINE_MAX 16384 /* longer lines are not ours (the daemons write at most 4096) */

/* Fields of interest; strings are NULL when absent or null, numbers -1 when absent. Every
 * string is NUL-free and owned by the record. */
struct dj_logline_record {
    char *time;      /* "2026-11-28T04:07:46.819Z" */
    char *event;     /* dns_query, http_request, tls_connection, tcp_connection, jail_started ... */
    char *container; /* container id */
    char *client;
    char *qname; /* dns_query */
    char *qtype;
    char *rcode;
    char *answer;
    char *host;   /* http_request (Host), tls_connection (SNI), virtual connections (the name) */
    char *method; /* http_request */
    char *path;
    char *decision; /* "allow", "deny", or "error" (allowed, but the destination failed) */
    char *reason;
    char *outcome;      /* the stub's outcome (sinkholed, forwarded, ...) when it says one */
    char *dest;         /* a destination address when a connection has no name */
    int64_t port;       /* destination port */
    int would_block;    /* audit mode: 1 or 0; -1 when absent */
    bool container_dns; /* dns_query: answered by the container engine's resolver */
};

/* Parses LINE (LEN bytes, a trailing newline allowed). 0 and *REC filled, or -1 and *err. */
int dj_logline_parse(const char *line, size_t len, struct dj_logline_record *rec, dj_error_t *err);

void dj_logline_record_free(struct dj_logline_record *rec);

#endif
