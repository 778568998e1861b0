/* dnswire.h: the DNS wire format as the stub needs it: read one query, write its answer.
 *
 * Pure code over caller-owned buffers (no I/O, no allocation, no global state), so the unit
 * tests and the fuzzer drive exactly what the daemon runs. Owns: query validation, the
 * answer policy (sinkhole addresses, TTL) and the response encoding.
 *
 * Choices, where RFC 1035/6891 leave room:
 *  - Fewer than 12 bytes, or QR=1: no answer at all (never answer an answer: no loops).
 *  - Opcode other than QUERY: NOTIMP, header only. QDCOUNT != 1: FORMERR, header only;
 *    other FORMERR answers echo the question when it could be read.
 *  - Records in the answer and authority sections of a query are skipped (validated, then
 *    ignored); so are additional records other than OPT. Bytes after the last counted record
 *    are ignored.
 *  - Compression pointers may only point backwards, before the start of the name segment
 *    being read and past the 12-byte header, so every name terminates; at most
 *    DJ_DNS_MAX_POINTERS jumps are followed.
 *  - EDNS(0): one OPT record with the root name, else FORMERR; version != 0 gets BADVERS.
 *    The answer carries an OPT (our size DJ_DNS_EDNS_UDP_SIZE, DO copied) when the query had
 *    one, except a FORMERR answer (the OPT may be what was malformed). Options are checked
 *    for framing and otherwise ignored.
 *  - Answers: QR=1, AA=0, RA=1 (stub clients expect a recursive resolver), RD and CD copied,
 *    question echoed as received (case kept), answer owner is a pointer to it (0xC00C).
 *    A/IN gets the IPv4 sinkhole; AAAA/IN the IPv6 sinkhole when configured; every other
 *    type or class gets NOERROR with no answer (NODATA, no SOA).
 *  - When the response exceeds the client's limit, the answer (then OPT, then question) is
 *    left out and TC set. With a 255-byte name the biggest answer is 310 bytes, below the
 *    512 every client accepts, so this only matters to callers that pass a smaller limit. */
#ifndef DNSJAIL_DNSWIRE_H
#define DNSJAIL_DNSWIRE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DJ_DNS_HEADER_SIZE 12
#define DJ_DNS_MAX_LABEL 63
#define DJ_DNS_MAX_NAME 255 /* wire form, length bytes and root label included */
#define DJ_DNS_MAX_POINTERS 32
/* Longest presentation form of a name: every byte as \DDD plus separators, and the NUL. */
#define DJ_DNS_MAX_NAME_TEXT (4 * DJ_DNS_MAX_NAME + 1)
#define DJ_DNS_TYPE_TEXT_SIZE 16  /* "TYPE65535" and NUL */
#define DJ_DNS_RCODE_TEXT_SIZE 16 /* "RCODE4095" and NUL */

#define DJ_DNS_UDP_DEFAULT_SIZE 512 /* a client without EDNS takes this much */
#define DJ_DNS_EDNS_UDP_SIZE 1232   /* what we advertise in our OPT (DNS flag day 2020) */
#define DJ_DNS_TCP_MAX_SIZE 65535   /* the 2-byte length prefix */
#define DJ_DNS_MAX_RESPONSE 512     /* buffer that holds any response we build (310 max) */

#define DJ_DNS_TYPE_A 1
#define DJ_DNS_TYPE_AAAA 28
#define DJ_DNS_TYPE_OPT 41
#define DJ_DNS_CLASS_IN 1

enum dj_dns_rcode {
    DJ_DNS_RCODE_NOERROR = 0,
    DJ_DNS_RCODE_FORMERR = 1,
    DJ_DNS_RCODE_SERVFAIL = 2,
    DJ_DNS_RCODE_NXDOMAIN = 3,
    DJ_DNS_RCODE_NOTIMP = 4,
    DJ_DNS_RCODE_REFUSED = 5,
    DJ_DNS_RCODE_BADVERS = 16, /* extended: upper 8 bits travel in the OPT record */
};

/* What to do with a packet, decided by dj_dns_parse_query(). */
enum dj_dns_parse_result {
    DJ_DNS_PARSE_OK = 0,  /* a well-formed query: answer it by the policy */
    DJ_DNS_PARSE_DROP,    /* not a query, or too short to answer: send nothing */
    DJ_DNS_PARSE_FORMERR, /* malformed: answer FORMERR */
    DJ_DNS_PARSE_NOTIMP,  /* an opcode other than QUERY: answer NOTIMP */
    DJ_DNS_PARSE_BADVERS, /* EDNS version other than 0: answer BADVERS */
};

struct dj_dns_query {
    enum dj_dns_parse_result result;
    const char *problem; /* why it is not OK, for logs (static text); NULL when OK */
    uint16_t id;
    uint16_t flags; /* the header's second 16 bits, as received */
    uint8_t opcode;

    bool has_question; /* qname/qtype/qclass are valid (also in some FORMERR/BADVERS) */
    uint8_t qname[DJ_DNS_MAX_NAME]; /* wire form, decompressed, case as received */
    size_t qname_len;
    uint16_t qtype;
    uint16_t qclass;

    bool has_edns;          /* one valid OPT record was present */
    uint16_t edns_udp_size; /* the client's size, raised to 512 (RFC 6891 6.2.5) */
    uint8_t edns_version;
    bool edns_do; /* DNSSEC OK, copied into our OPT */
};

/* How the stub answers a well-formed query. */
struct dj_dns_policy {
    struct in_addr sinkhole4; /* the A answer */
    bool have_sinkhole6;      /* false: AAAA gets NODATA */
    struct in6_addr sinkhole6;
    uint32_t ttl;
};

enum dj_dns_answer_kind {
    DJ_DNS_ANSWER_NONE = 0, /* no answer record (NODATA, an error, or truncated) */
    DJ_DNS_ANSWER_A,
    DJ_DNS_ANSWER_AAAA,
};

/* What a built response says, for the query log. */
struct dj_dns_outcome {
    uint16_t rcode; /* enum dj_dns_rcode, extended */
    enum dj_dns_answer_kind answer;
    bool truncated;
};

/* Reads the packet in MSG (LEN bytes) into *Q and returns (and stores in q->result) what to
 * do with it. Never reads outside MSG. */
enum dj_dns_parse_result dj_dns_parse_query(const uint8_t *msg, size_t len, struct dj_dns_query *q);

/* The largest response the client accepts over UDP (with TCP = false) or TCP. */
size_t dj_dns_response_limit(const struct dj_dns_query *q, bool tcp);

/* Writes the response to the parsed query *Q into OUT (OUT_SIZE bytes, DJ_DNS_MAX_RESPONSE is
 * always enough), keeping it within LIMIT bytes (see dj_dns_response_limit). Returns its
 * length, or 0 when nothing must be sent (DROP, or LIMIT/OUT_SIZE below a header). OUTCOME
 * may be NULL. */
size_t dj_dns_build_response(const struct dj_dns_query *q, const struct dj_dns_policy *policy,
                             size_t limit, uint8_t *out, size_t out_size,
                             struct dj_dns_outcome *outcome);

/* Presentation form of a wire name for logs: labels joined by '.', no trailing dot, the root
 * as "."; '.' and '\' inside a label become "\." and "\\", bytes outside printable ASCII (and
 * space) become \DDD. Always NUL-terminates when OUT_SIZE > 0 (cut short when too small).
 * Returns the length written. A malformed WIRE is shown up to where it goes wrong. */
size_t dj_dns_name_to_text(const uint8_t *wire, size_t wire_len, char *out, size_t out_size);

/* "A", "AAAA", "MX", ... or "TYPE<n>" (RFC 3597) for types without a name here. OUT must
 * hold DJ_DNS_TYPE_TEXT_SIZE bytes. Returns OUT. */
const char *dj_dns_type_text(uint16_t qtype, char *out);

/* "NOERROR", "FORMERR", ... or "RCODE<n>". OUT must hold DJ_DNS_RCODE_TEXT_SIZE bytes. */
const char *dj_dns_rcode_text(uint16_t rcode, char *out);

/* Reads the (possibly compressed) name at *POS of MSG into OUT (wire form, at most
 * DJ_DNS_MAX_NAME bytes), moving *POS past the name as stored there, never past LEN. Returns
 * NULL, or what is wrong with the name. A compression pointer must land after the header and
 * before the segment that holds it, so every name ends; at most DJ_DNS_MAX_POINTERS jumps.
 * Shared by the query parser here and the answer parser (dnsanswer.c). */
const char *dj_dns_read_name(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out,
                             size_t *out_len);

#endif
