/* cdnsnames.h: which names the stub asks the container engine's own resolver (Docker's
 * embedded DNS at 127.0.0.11 inside the container's namespace) instead of sinkholing them.
 *
 * Text form (admin key container-dns-names, the stub's --container-dns-names option): entries
 * separated by blanks or commas, each
 *     *            any single-label name ("postgres", "redis": what Docker's resolver owns
 *                  for every container on a user-defined network: names and aliases)
 *     NAME         exactly this name ("db.svc.test": a network alias with dots)
 *     *.SUFFIX     any name strictly below SUFFIX, at a label boundary ("*.svc.test" covers
 *                  "a.svc.test", neither "svc.test" nor "xsvc.test")
 * NAME and SUFFIX are host names in lib/dns/fwdzone's form (shared helpers), compared without
 * regard to ASCII case; one trailing dot allowed. "*" alone is the only wildcard that is not a
 * suffix: a bare "*.", "**", "a*" or "*.*" are refused. An empty list covers nothing.
 * Pure code: the names matched come from the container's queries. Owns: struct dj_cdnsnames. */
#ifndef DNSJAIL_CDNSNAMES_H
#define DNSJAIL_CDNSNAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "dns/dnswire.h"

#define DJ_CDNSNAMES_MAX 64 /* entries */
#define DJ_CDNSNAMES_DEFAULT "*"

struct dj_cdnsname {
    bool suffix;                   /* "*.SUFFIX": names below wire, not wire itself */
    char *text;                    /* lower-case, no trailing dot, without the "*." */
    uint8_t wire[DJ_DNS_MAX_NAME]; /* lower-case wire form */
    size_t wire_len;
};

struct dj_cdnsnames {
    bool single_label; /* "*" was listed */
    struct dj_cdnsname *names;
    size_t n;
};

/* Parses TEXT and adds its entries to *LIST (an entry listed twice is an error). On error
 * *LIST is unchanged and the message quotes the entry. */
int dj_cdnsnames_parse(struct dj_cdnsnames *list, const char *text, dj_error_t *err);

void dj_cdnsnames_free(struct dj_cdnsnames *list);

/* Does LIST cover the wire name QNAME (QNAME_LEN bytes with the root byte, any case, as
 * lib/dns/dnswire parsed it)? Never reads outside QNAME. */
bool dj_cdnsnames_match(const struct dj_cdnsnames *list, const uint8_t *qname, size_t qname_len);

/* LIST written back in its text form (for the stub's command line), in BUF (SIZE bytes).
 * Returns BUF, or NULL when it does not fit. */
char *dj_cdnsnames_format(const struct dj_cdnsnames *list, char *buf, size_t size);

#endif
