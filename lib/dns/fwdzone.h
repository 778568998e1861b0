/* fwdzone.h: forward zones: which names the stub sends to a real resolver, and to which.
 *
 * Text form (config keys forward-zones and annotation-forward-within, the stub's --forward
 * option): entries separated by blanks or commas, each
 *     ZONE                   forwarded to the default upstream (the container's resolv.conf)
 *     ZONE=UP[|UP...]        forwarded to these upstreams, tried in order (at most
 *                            DJ_FWDZONE_MAX_UPSTREAMS); UP is lib/dns/resolver's server syntax
 *                            (ADDR, ADDR:PORT, [V6]:PORT, udp://, tcp://, tls://...#NAME...),
 *                            kept here as opaque text: the first '=' ends the zone, so an
 *                            upstream may itself hold '=' (pin-sha256=BASE64=).
 * ZONE is a host name (letters, digits, '-', '_', labels of 1..63 bytes, at most 253 bytes, one
 * trailing dot allowed), compared without regard to ASCII case. The root "." is refused: it
 * would forward every name, which is no jail at all. A zone covers itself and every name
 * below it, at label boundaries ("corp.example" covers "a.corp.example", not
 * "xcorp.example"). A name covered by several zones goes to the longest (most specific).
 * The annotation io.dnsjail.forward takes ZONEs only (no upstreams).
 * Pure code (container input passes through it): no I/O. Owns: struct dj_fwdzone_list. */
#ifndef DNSJAIL_FWDZONE_H
#define DNSJAIL_FWDZONE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dns/dnswire.h"
#include "base/error.h"

#define DJ_FWDZONE_MAX_ZONES 64
#define DJ_FWDZONE_MAX_UPSTREAMS 4
#define DJ_FWDZONE_MAX_ENTRY 1024 /* bytes in one entry */
#define DJ_FWDZONE_MAX_NAME_TEXT 253

struct dj_fwdzone {
    char *name;                    /* lower-case, no trailing dot */
    uint8_t wire[DJ_DNS_MAX_NAME]; /* lower-case wire form */
    size_t wire_len;
    char *upstreams; /* "UP|UP", or NULL: the default upstream */
};

struct dj_fwdzone_list {
    struct dj_fwdzone *zones;
    size_t n;
};

/* Parses TEXT and appends its zones to *ZONES (a zone already there is an error: say it
 * once). With ALLOW_UPSTREAMS false, an entry with '=' is refused. Each error quotes the
 * entry. On error *ZONES is unchanged. */
int dj_fwdzone_parse(struct dj_fwdzone_list *zones, const char *text, bool allow_upstreams,
                     dj_error_t *err);

/* The daemons' --forward option: like dj_fwdzone_parse with upstreams, but every entry must
 * name its upstreams (the hook has filled in the defaults). Errors start with "--forward". */
int dj_fwdzone_parse_option(struct dj_fwdzone_list *zones, const char *text, dj_error_t *err);

/* Appends one zone (NAME must already be valid: from another dj_fwdzone_list). */
int dj_fwdzone_add(struct dj_fwdzone_list *zones, const char *name, const char *upstreams,
                   dj_error_t *err);

void dj_fwdzone_free(struct dj_fwdzone_list *zones);

/* The index of the most specific zone that covers the wire name QNAME (any case), or -1. */
ssize_t dj_fwdzone_match(const struct dj_fwdzone_list *zones, const uint8_t *qname,
                         size_t qname_len);

/* The most specific zone that covers the text zone NAME (lower-case, as stored), or -1. */
ssize_t dj_fwdzone_match_text(const struct dj_fwdzone_list *zones, const char *name);

/* Splits "UP|UP" into at most DJ_FWDZONE_MAX_UPSTREAMS pieces, written NUL-terminated into BUF
 * (BUF_SIZE bytes) and pointed to by OUT. Returns the count, or -1 when there are too many,
 * one is empty, or BUF is too small. */
int dj_fwdzone_split_upstreams(const char *upstreams, char *buf, size_t buf_size,
                               const char *out[DJ_FWDZONE_MAX_UPSTREAMS]);

/* Name-form helpers, shared with lib/dns/cdnsnames (the container-DNS name list): */

/* Skips the separators (blank, tab, comma, line end) at *P; returns the length of the entry that
 * starts there (0 at the end). The caller moves *P past the entry. */
size_t dj_fwdzone_next_entry(const char **p);

/* Checks the host name NAME (LEN bytes, trailing dot already removed; letters, digits, '-',
 * '_', labels of 1..63 bytes, at most DJ_FWDZONE_MAX_NAME_TEXT bytes) and writes it
 * lower-cased into TEXT (LEN + 1 bytes) and into WIRE (DJ_DNS_MAX_NAME bytes, *WIRE_LEN with
 * the root byte). Returns NULL, or what is wrong; LEN 0 (the root) is refused. */
const char *dj_fwdzone_name_forms(const char *name, size_t len, char *text, uint8_t *wire,
                                  size_t *wire_len);

/* Does the wire name Q (Q_LEN bytes with the root byte, any case) end with the lower-case
 * wire name ZONE at a label boundary (or equal it)? Never reads outside Q. */
bool dj_fwdzone_wire_covered(const uint8_t *q, size_t q_len, const uint8_t *zone, size_t zone_len);

#endif
