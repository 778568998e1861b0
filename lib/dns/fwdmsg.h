/* fwdmsg.h: a forwarded DNS answer, read and rewritten for the client who asked.
 *
 * The stub forwards a query for a name inside a forward zone to the zone's upstream and sends
 * the upstream's answer back. That answer is untrusted input (the upstream, or whoever
 * spoofs it), so this is pure code over caller-owned buffers (no I/O, no allocation), run by
 * the unit tests and a libFuzzer target exactly as the stub runs it.
 * Owns: validating an upstream response's framing, its cache lifetime (positive: smallest
 * TTL of the answer section; negative: RFC 2308 SOA), and building the client's copy.
 *
 * Choices:
 *  - A response is usable only when it is a response (QR=1), opcode QUERY, QDCOUNT 1, its
 *    question equals the client's (name without regard to ASCII case, type, class), and every
 *    record of every section is framed inside the message (names by dj_dns_read_name, so
 *    compression pointers only point backwards). Bytes after the last record are dropped.
 *  - TTLs with the top bit set count as 0 (RFC 2181 8). The OPT record's TTL field is flags,
 *    never a TTL: it is neither read nor rewritten.
 *  - Cache lifetime: NOERROR with answers: smallest TTL in the answer section. NXDOMAIN, or
 *    NOERROR without answers: min(SOA TTL, SOA MINIMUM) of an SOA in the authority section
 *    (RFC 2308 5); without an SOA the answer is not cached (RFC 2308 says SHOULD NOT). Any
 *    other rcode, and TC=1, is never cached.
 *  - The client's copy: the client's id; the upstream's flags but RD and CD as the client sent
 *    them; the question exactly as the client wrote it (same name, so same length: the
 *    upstream's compression pointers stay valid); every TTL t becomes
 *    min(max(t - ELAPSED, 0), CAP) so a cached answer ages and no TTL exceeds what the stub
 *    will itself keep it for; the upstream's OPT record is removed when the client sent no
 *    OPT (RFC 6891 7) and kept otherwise. When the result exceeds the client's limit, the
 *    copy is the header with TC=1 and the question only (the client retries over TCP). A copy
 *    that would not pass dj_fwdmsg_scan itself (a compression pointer into a TTL that was
 *    rewritten) is not made: the caller answers SERVFAIL. */
#ifndef DNSJAIL_FWDMSG_H
#define DNSJAIL_FWDMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dnswire.h"

struct dj_fwdmsg_info {
    uint16_t rcode;    /* header rcode (4 bits) */
    bool truncated;    /* TC=1 */
    uint16_t ancount;  /* answer records */
    bool cacheable;    /* see the choices above */
    bool negative;     /* NXDOMAIN or NODATA */
    uint32_t lifetime; /* seconds, when cacheable (before the caller's floor and ceiling) */
    size_t length;     /* bytes up to the end of the last record */
};

/* Validates MSG (LEN bytes) as the response to the question QNAME (wire form, QNAME_LEN
 * bytes), QTYPE, QCLASS, and fills *INFO. Returns NULL, or why the response is unusable
 * (static text, for logs). Never reads outside MSG. */
const char *dj_fwdmsg_scan(const uint8_t *msg, size_t len, const uint8_t *qname, size_t qname_len,
                           uint16_t qtype, uint16_t qclass, struct dj_fwdmsg_info *info);

/* Writes the client's copy of the upstream response MSG (LEN bytes, already accepted by
 * dj_fwdmsg_scan for the question of *Q) into OUT (OUT_SIZE bytes), within LIMIT bytes (see
 * dj_dns_response_limit), with TTLs aged by ELAPSED seconds and capped at CAP. Returns its
 * length; *TRUNCATED says whether only the question fitted. 0 when even the header and the
 * question do not fit in LIMIT or OUT_SIZE, or MSG is not what dj_fwdmsg_scan accepted. */
size_t dj_fwdmsg_build_reply(const uint8_t *msg, size_t len, const struct dj_dns_query *q,
                             uint32_t elapsed, uint32_t cap, size_t limit, uint8_t *out,
                             size_t out_size, bool *truncated);

/* Header and question only, with RCODE (SERVFAIL, REFUSED): for queries the stub cannot
 * forward. The client's OPT is answered with ours (dnswire's size) when it sent one.
 * Returns the length (0 when OUT_SIZE is too small). */
size_t dj_fwdmsg_build_error(const struct dj_dns_query *q, uint16_t rcode, uint8_t *out,
                             size_t out_size);

/* Copies the wire name NAME (LEN bytes) into OUT (LEN bytes) with ASCII letters in lower
 * case: the form the stub asks upstream, so that the letter case a client chose carries no
 * bits to the zone's resolver. The client still gets its own case back (dj_fwdmsg_build_reply
 * writes the client's question; dj_fwdmsg_scan compares without case). */
void dj_fwdmsg_lower_name(const uint8_t *name, size_t len, uint8_t *out);

#endif
