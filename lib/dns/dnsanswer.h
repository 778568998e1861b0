/* dnsanswer.h: the DNS wire format as dnsjail's own resolver needs it: build one A or AAAA
 * query, and read the response a server sent back to it.
 *
 * Pure code over caller-owned buffers (no I/O, no allocation, no global state), so the unit
 * tests and the fuzzer drive exactly what the resolver runs. Responses come from the network
 * and are untrusted. Owns: host-name validation for lookups, query encoding and response
 * checking (RFC 1035, RFC 2181, RFC 2308, RFC 6891).
 *
 * Choices, where the RFCs leave room:
 *  - A message that does not answer our question (too short, QR=0, another id or opcode,
 *    QDCOUNT != 1, another name, type or class, an unreadable question) is MISMATCH: over UDP
 *    the resolver ignores it and keeps waiting, so a forged or stray datagram cannot end a
 *    lookup early. Names compare without regard to ASCII case (0x20 randomisation may be
 *    used later).
 *  - Once the question matches, a message that breaks the format is MALFORMED (the server is
 *    broken: try another). TC=1 is TRUNCATED whatever else the message holds.
 *  - Every record of every section is walked and framed (name, fixed part, rdata inside the
 *    message); bytes after the last counted record are ignored. Answer records must be of
 *    class IN; A records must have 4 bytes of data, AAAA 16, CNAME exactly one name.
 *    The extended rcode of an OPT record in the additional section is honoured.
 *  - Compression pointers may only point backwards, before the start of the name segment
 *    being read and past the header, so every name terminates; at most DJ_DNS_MAX_POINTERS
 *    jumps, at most DJ_DNS_MAX_NAME bytes decompressed.
 *  - CNAMEs are followed inside the answer section only, starting at the question name, at
 *    most DJ_DNSANSWER_MAX_CNAMES of them; a longer chain, a loop or two CNAMEs for one name
 *    is MALFORMED. Records that the chain does not reach are ignored: a server cannot hand us
 *    addresses for a name we did not ask about. Addresses are those of the question type
 *    whose owner is the chain's last name; duplicates are dropped and at most
 *    DJ_DNSANSWER_MAX_ADDRS kept (the rest ignored).
 *  - TTLs with the top bit set count as 0 (RFC 2181 8). The positive TTL is the minimum over
 *    the chain's CNAMEs and the addresses. The negative TTL (NXDOMAIN, NODATA) is
 *    min(SOA TTL, SOA MINIMUM) of an SOA in the authority section whose owner is the last
 *    name or one of its ancestors (RFC 2308 5), also bounded by the chain's CNAMEs; without
 *    such an SOA it is 0 (RFC 2308 says do not cache; the resolver applies its floor).
 *  - NXDOMAIN refers to the chain's last name (RFC 6604); addresses in such a response are
 *    ignored. */
#ifndef DNSJAIL_DNSANSWER_H
#define DNSJAIL_DNSANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dnswire.h"

#define DJ_DNS_TYPE_CNAME 5
#define DJ_DNS_TYPE_SOA 6

#define DJ_DNSANSWER_MAX_CNAMES 8 /* longest CNAME chain followed */
#define DJ_DNSANSWER_MAX_ADDRS 16 /* addresses kept from one response */
#define DJ_DNS_MAX_HOST_TEXT 253  /* a host name's longest text form, without trailing dot */
/* Our query: header, question, an OPT record with no options. */
#define DJ_DNS_MAX_QUERY (DJ_DNS_HEADER_SIZE + DJ_DNS_MAX_NAME + 4 + 11)

enum dj_dnsanswer_status {
    DJ_DNSANSWER_OK = 0,    /* NOERROR with at least one address */
    DJ_DNSANSWER_NODATA,    /* NOERROR, the (last) name has no address of the asked type */
    DJ_DNSANSWER_NXDOMAIN,  /* the (last) name does not exist */
    DJ_DNSANSWER_SERVFAIL,  /* the server failed (rcode SERVFAIL) */
    DJ_DNSANSWER_REJECTED,  /* FORMERR, NOTIMP, REFUSED, BADVERS or an unknown rcode */
    DJ_DNSANSWER_TRUNCATED, /* TC=1: ask again over TCP */
    DJ_DNSANSWER_MISMATCH,  /* not an answer to our question: ignore it */
    DJ_DNSANSWER_MALFORMED, /* answers our question but breaks the format */
};

/* What we asked. QNAME is in wire form (as dj_dns_name_from_text gives it). */
struct dj_dns_question {
    uint16_t id;
    uint16_t qtype; /* DJ_DNS_TYPE_A or DJ_DNS_TYPE_AAAA; other types never collect addresses */
    const uint8_t *qname;
    size_t qname_len;
};

struct dj_dns_answer {
    enum dj_dnsanswer_status status;
    const char *problem; /* why MISMATCH or MALFORMED, for logs (static text); else NULL */
    uint16_t rcode;      /* extended rcode, when the header was read */
    size_t addr_len;     /* 4 (A) or 16 (AAAA) */
    size_t n_addrs;
    uint8_t addrs[DJ_DNSANSWER_MAX_ADDRS][16]; /* network order, addr_len bytes used */
    uint32_t ttl;                              /* see above; 0 for the failure statuses */
    unsigned cnames;                           /* CNAMEs followed */
    uint8_t final_name[DJ_DNS_MAX_NAME];       /* the chain's last name, wire form */
    size_t final_name_len;
};

/* Turns a host name such as "www.Example.com." into wire form in WIRE (DJ_DNS_MAX_NAME bytes),
 * lower-cased. Accepts ASCII letters, digits, '-' and '_', labels of 1..63 bytes, at most 253
 * bytes without the one optional trailing dot. Refuses IP address literals in any form
 * inet_aton(3) reads ("127.1", "0x7f000001") and names whose last label is all digits (no
 * top-level domain is), so a literal can never be sent out as a name. Returns NULL, or what
 * is wrong (static text). */
const char *dj_dns_name_from_text(const char *text, uint8_t *wire, size_t *wire_len);

/* Writes a query for QNAME (wire form) and QTYPE, class IN, with ID, RD=1 and an EDNS(0) OPT
 * record advertising DJ_DNS_EDNS_UDP_SIZE, into OUT. Returns its length (at most
 * DJ_DNS_MAX_QUERY), or 0 when OUT_SIZE is too small or QNAME is not a well-formed
 * uncompressed wire name. */
size_t dj_dns_build_query(uint16_t id, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                          uint8_t *out, size_t out_size);

/* The same for any QTYPE and QCLASS (forwarding: the question is asked as given). */
size_t dj_dns_build_query_class(uint16_t id, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                                uint16_t qclass, uint8_t *out, size_t out_size);

/* True for a well-formed uncompressed wire name of exactly LEN bytes. */
bool dj_dns_wire_name_ok(const uint8_t *name, size_t len);

/* Checks the response MSG (LEN bytes) to a forwarded question (ID, QNAME in wire form, QTYPE,
 * QCLASS) before it is handed on whole: MISMATCH as for dj_dns_parse_answer (names compare
 * without case); TRUNCATED for TC=1; MALFORMED when a record of any section is not framed
 * inside the message or there are two OPT records; then by the (extended) rcode SERVFAIL,
 * NXDOMAIN, REJECTED (any other error), else OK when the answer section holds records and
 * NODATA when it is empty. The records themselves are not interpreted. *PROBLEM: why
 * MISMATCH or MALFORMED (static text), else NULL. Never reads outside MSG. */
enum dj_dnsanswer_status dj_dns_check_raw_response(const uint8_t *msg, size_t len, uint16_t id,
                                                   const uint8_t *qname, size_t qname_len,
                                                   uint16_t qtype, uint16_t qclass,
                                                   const char **problem);

/* Reads the response MSG (LEN bytes) to question *Q into *ANSWER and returns (and stores in
 * answer->status) what it says. Never reads outside MSG. */
enum dj_dnsanswer_status dj_dns_parse_answer(const uint8_t *msg, size_t len,
                                             const struct dj_dns_question *q,
                                             struct dj_dns_answer *answer);

/* "OK", "NODATA", ... for logs. */
const char *dj_dnsanswer_status_text(enum dj_dnsanswer_status status);

#endif
