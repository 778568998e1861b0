#include "config.h"
#include "dns/dnsanswer.h"

#include <arpa/inet.h>
#include <string.h>

#include "base/bytes.h"

#define FLAG_QR 0x8000
#define FLAG_TC 0x0200
#define FLAG_RD 0x0100
#define OPCODE_QUERY 0

#define QUESTION_FIXED 4 /* qtype, qclass */
#define RR_FIXED 10      /* type, class, ttl, rdlength */
#define SOA_FIXED 20     /* serial, refresh, retry, expire, minimum */
#define TTL_MAX_VALID 0x7FFFFFFFu

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

/* Not tolower(): the locale must not change what a DNS name is. */
static uint8_t ascii_lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* Wire names equal but for ASCII case. Length bytes (0..63) are below 'A', so lowering every
 * byte leaves the label structure alone and a byte-wise compare is a label-wise compare. */
static bool names_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++) {
        if (ascii_lower(a[i]) != ascii_lower(b[i]))
            return false;
    }
    return true;
}

/* True when ZONE is NAME or one of its ancestors (both well-formed wire names). */
static bool zone_contains(const uint8_t *zone, size_t zone_len, const uint8_t *name,
                          size_t name_len)
{
    size_t pos = 0;

    while (pos < name_len) {
        if (names_equal(zone, zone_len, name + pos, name_len - pos))
            return true;
        if (name[pos] == 0)
            break;
        pos += 1 + (size_t)name[pos];
    }
    return false;
}

static uint32_t ttl_value(uint32_t raw)
{
    return raw > TTL_MAX_VALID ? 0 : raw; /* RFC 2181 8: the top bit set means 0 */
}

static uint32_t min32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* One resource record as read by read_record(). */
struct record {
    uint8_t owner[DJ_DNS_MAX_NAME];
    size_t owner_len;
    uint16_t type;
    uint16_t rclass;
    uint32_t raw_ttl; /* as sent: OPT keeps its extended rcode here */
    size_t rdata;     /* offset of the data in the message */
    size_t rdlength;
};

/* Reads the record at *POS and moves *POS past it; its data lies inside the message. */
static const char *read_record(const uint8_t *msg, size_t len, size_t *pos, struct record *rr)
{
    const char *problem = dj_dns_read_name(msg, len, pos, rr->owner, &rr->owner_len);
    const uint8_t *fixed;

    if (problem != NULL)
        return problem;
    if (len - *pos < RR_FIXED)
        return "record runs past the end of the message";
    fixed = msg + *pos;
    rr->type = dj_get16(fixed);
    rr->rclass = dj_get16(fixed + 2);
    rr->raw_ttl = dj_get32(fixed + 4);
    rr->rdlength = dj_get16(fixed + 8);
    *pos += RR_FIXED;
    if (len - *pos < rr->rdlength)
        return "record data runs past the end of the message";
    rr->rdata = *pos;
    *pos += rr->rdlength;
    return NULL;
}

/* Reads the name that must fill the data of RR exactly (CNAME). */
static const char *read_rdata_name(const uint8_t *msg, size_t len, const struct record *rr,
                                   uint8_t *out, size_t *out_len)
{
    size_t pos = rr->rdata;
    const char *problem = dj_dns_read_name(msg, len, &pos, out, out_len);

    if (problem != NULL)
        return problem;
    if (pos != rr->rdata + rr->rdlength)
        return "record data length does not match its name";
    return NULL;
}

/* Checks what the answer section may hold, record by record. */
static const char *check_answer_record(const uint8_t *msg, size_t len, const struct record *rr)
{
    uint8_t scratch[DJ_DNS_MAX_NAME];
    size_t scratch_len;

    if (rr->rclass != DJ_DNS_CLASS_IN)
        return "answer record of a class other than IN";
    if (rr->type == DJ_DNS_TYPE_A && rr->rdlength != 4)
        return "A record whose data is not 4 bytes";
    if (rr->type == DJ_DNS_TYPE_AAAA && rr->rdlength != 16)
        return "AAAA record whose data is not 16 bytes";
    if (rr->type == DJ_DNS_TYPE_CNAME)
        return read_rdata_name(msg, len, rr, scratch, &scratch_len);
    return NULL;
}

static enum dj_dnsanswer_status finish(struct dj_dns_answer *a, enum dj_dnsanswer_status status,
                                       const char *problem)
{
    a->status = status;
    a->problem = problem;
    if (status != DJ_DNSANSWER_OK && status != DJ_DNSANSWER_NODATA &&
        status != DJ_DNSANSWER_NXDOMAIN) {
        a->n_addrs = 0;
        a->ttl = 0;
    }
    return status;
}

static void add_address(struct dj_dns_answer *a, const uint8_t *data)
{
    for (size_t i = 0; i < a->n_addrs; i++) {
        if (memcmp(a->addrs[i], data, a->addr_len) == 0)
            return;
    }
    if (a->n_addrs < DJ_DNSANSWER_MAX_ADDRS)
        memcpy(a->addrs[a->n_addrs++], data, a->addr_len);
}

/* The negative TTL from an SOA in the authority section that covers NAME: min(its TTL, its
 * MINIMUM). Sets *found to false when there is none. */
static const char *negative_ttl(const uint8_t *msg, size_t len, size_t pos, unsigned count,
                                const uint8_t *name, size_t name_len, bool *found, uint32_t *ttl)
{
    struct record rr;

    *found = false;
    for (unsigned i = 0; i < count; i++) {
        uint8_t scratch[DJ_DNS_MAX_NAME];
        size_t scratch_len;
        size_t p;
        const char *problem = read_record(msg, len, &pos, &rr);

        if (problem != NULL)
            return problem;
        if (rr.type != DJ_DNS_TYPE_SOA || rr.rclass != DJ_DNS_CLASS_IN ||
            !zone_contains(rr.owner, rr.owner_len, name, name_len))
            continue;
        p = rr.rdata;
        problem = dj_dns_read_name(msg, len, &p, scratch, &scratch_len); /* MNAME */
        if (problem == NULL)
            problem = dj_dns_read_name(msg, len, &p, scratch, &scratch_len); /* RNAME */
        if (problem != NULL)
            return problem;
        if (p > rr.rdata + rr.rdlength || rr.rdata + rr.rdlength - p != SOA_FIXED)
            return "SOA record data of the wrong length";
        *ttl = min32(ttl_value(rr.raw_ttl), ttl_value(dj_get32(msg + p + SOA_FIXED - 4)));
        *found = true;
        return NULL;
    }
    return NULL;
}

/* Follows the CNAME chain from the question name through the answer section and collects the
 * addresses of its last name. A pass over the section per link keeps it free of recursion
 * and of per-record storage; the links are bounded, so are the passes. */
static const char *follow_chain(const uint8_t *msg, size_t len, size_t answer_start, unsigned count,
                                const struct dj_dns_question *q, struct dj_dns_answer *a,
                                uint32_t *ttl)
{
    uint8_t chain[DJ_DNSANSWER_MAX_CNAMES + 1][DJ_DNS_MAX_NAME];
    size_t chain_len[DJ_DNSANSWER_MAX_CNAMES + 1];
    unsigned links = 0;
    bool collect = q->qtype == DJ_DNS_TYPE_A || q->qtype == DJ_DNS_TYPE_AAAA;
    uint32_t chain_ttl = UINT32_MAX;
    uint32_t addr_ttl = UINT32_MAX;
    struct record rr;

    memcpy(chain[0], q->qname, q->qname_len);
    chain_len[0] = q->qname_len;
    for (;;) {
        uint8_t target[DJ_DNS_MAX_NAME];
        size_t target_len = 0;
        bool have_cname = false;
        uint32_t cname_ttl = 0;
        size_t pos = answer_start;

        a->n_addrs = 0;
        addr_ttl = UINT32_MAX;
        for (unsigned i = 0; i < count; i++) {
            const char *problem = read_record(msg, len, &pos, &rr);

            if (problem != NULL)
                return problem;
            if (!names_equal(rr.owner, rr.owner_len, chain[links], chain_len[links]))
                continue;
            if (rr.type == DJ_DNS_TYPE_CNAME) {
                if (have_cname)
                    return "two CNAME records for one name";
                problem = read_rdata_name(msg, len, &rr, target, &target_len);
                if (problem != NULL)
                    return problem;
                have_cname = true;
                cname_ttl = ttl_value(rr.raw_ttl);
            } else if (collect && rr.type == q->qtype && rr.rdlength == a->addr_len) {
                add_address(a, msg + rr.rdata);
                addr_ttl = min32(addr_ttl, ttl_value(rr.raw_ttl));
            }
        }
        if (!have_cname)
            break;
        /* A CNAME owner has no other data (RFC 1034 3.6.2): what sat beside it is dropped. */
        chain_ttl = min32(chain_ttl, cname_ttl);
        for (unsigned k = 0; k <= links; k++) {
            if (names_equal(chain[k], chain_len[k], target, target_len))
                return "CNAME loop";
        }
        if (links == DJ_DNSANSWER_MAX_CNAMES)
            return "CNAME chain longer than 8";
        links++;
        memcpy(chain[links], target, target_len);
        chain_len[links] = target_len;
    }
    a->cnames = links;
    memcpy(a->final_name, chain[links], chain_len[links]);
    a->final_name_len = chain_len[links];
    *ttl = a->n_addrs > 0 ? min32(chain_ttl, addr_ttl) : chain_ttl;
    return NULL;
}

enum dj_dnsanswer_status dj_dns_parse_answer(const uint8_t *msg, size_t len,
                                             const struct dj_dns_question *q,
                                             struct dj_dns_answer *a)
{
    uint8_t qname[DJ_DNS_MAX_NAME];
    size_t qname_len;
    size_t pos = DJ_DNS_HEADER_SIZE;
    size_t answer_start, authority_start;
    unsigned an, ns, ar;
    uint16_t flags;
    uint32_t ttl = UINT32_MAX;
    bool have_opt = false;
    struct record rr;
    const char *problem;

    memset(a, 0, sizeof(*a));
    a->addr_len = q->qtype == DJ_DNS_TYPE_AAAA ? 16 : 4;
    if (len < DJ_DNS_HEADER_SIZE)
        return finish(a, DJ_DNSANSWER_MISMATCH, "shorter than a DNS header");
    flags = dj_get16(msg + 2);
    if (dj_get16(msg) != q->id)
        return finish(a, DJ_DNSANSWER_MISMATCH, "another id");
    if (!(flags & FLAG_QR))
        return finish(a, DJ_DNSANSWER_MISMATCH, "a query, not a response");
    if (((flags >> 11) & 0x0F) != OPCODE_QUERY)
        return finish(a, DJ_DNSANSWER_MISMATCH, "opcode other than QUERY");
    if (dj_get16(msg + 4) != 1)
        return finish(a, DJ_DNSANSWER_MISMATCH, "question count is not 1");
    problem = dj_dns_read_name(msg, len, &pos, qname, &qname_len);
    if (problem != NULL)
        return finish(a, DJ_DNSANSWER_MISMATCH, problem);
    if (len - pos < QUESTION_FIXED)
        return finish(a, DJ_DNSANSWER_MISMATCH, "question runs past the end of the message");
    if (!names_equal(qname, qname_len, q->qname, q->qname_len) || dj_get16(msg + pos) != q->qtype ||
        dj_get16(msg + pos + 2) != DJ_DNS_CLASS_IN)
        return finish(a, DJ_DNSANSWER_MISMATCH, "answers another question");
    pos += QUESTION_FIXED;
    a->rcode = flags & 0x0F;
    if (flags & FLAG_TC)
        return finish(a, DJ_DNSANSWER_TRUNCATED, NULL);

    an = dj_get16(msg + 6);
    ns = dj_get16(msg + 8);
    ar = dj_get16(msg + 10);
    answer_start = pos;
    for (unsigned i = 0; i < an; i++) {
        problem = read_record(msg, len, &pos, &rr);
        if (problem == NULL)
            problem = check_answer_record(msg, len, &rr);
        if (problem != NULL)
            return finish(a, DJ_DNSANSWER_MALFORMED, problem);
    }
    authority_start = pos;
    for (unsigned i = 0; i < ns; i++) {
        problem = read_record(msg, len, &pos, &rr);
        if (problem != NULL)
            return finish(a, DJ_DNSANSWER_MALFORMED, problem);
    }
    for (unsigned i = 0; i < ar; i++) {
        problem = read_record(msg, len, &pos, &rr);
        if (problem != NULL)
            return finish(a, DJ_DNSANSWER_MALFORMED, problem);
        if (rr.type == DJ_DNS_TYPE_OPT) {
            if (have_opt)
                return finish(a, DJ_DNSANSWER_MALFORMED, "more than one OPT record");
            have_opt = true;
            a->rcode |= (uint16_t)((rr.raw_ttl >> 24) << 4);
        }
    }

    if (a->rcode == DJ_DNS_RCODE_SERVFAIL)
        return finish(a, DJ_DNSANSWER_SERVFAIL, NULL);
    if (a->rcode != DJ_DNS_RCODE_NOERROR && a->rcode != DJ_DNS_RCODE_NXDOMAIN)
        return finish(a, DJ_DNSANSWER_REJECTED, NULL);

    problem = follow_chain(msg, len, answer_start, an, q, a, &ttl);
    if (problem != NULL)
        return finish(a, DJ_DNSANSWER_MALFORMED, problem);
    if (a->rcode == DJ_DNS_RCODE_NOERROR && a->n_addrs > 0) {
        a->ttl = ttl;
        return finish(a, DJ_DNSANSWER_OK, NULL);
    }

    /* NXDOMAIN or NODATA: how long to believe it comes from the zone's SOA. */
    {
        bool found;
        uint32_t soa_ttl = 0;

        a->n_addrs = 0;
        problem = negative_ttl(msg, len, authority_start, ns, a->final_name, a->final_name_len,
                               &found, &soa_ttl);
        if (problem != NULL)
            return finish(a, DJ_DNSANSWER_MALFORMED, problem);
        a->ttl = found ? min32(ttl, soa_ttl) : 0;
    }
    return finish(
        a, a->rcode == DJ_DNS_RCODE_NXDOMAIN ? DJ_DNSANSWER_NXDOMAIN : DJ_DNSANSWER_NODATA, NULL);
}

bool dj_dns_wire_name_ok(const uint8_t *name, size_t len)
{
    size_t pos = 0;

    if (len == 0 || len > DJ_DNS_MAX_NAME)
        return false;
    while (pos < len) {
        size_t label_len = name[pos];

        if (label_len == 0)
            return pos + 1 == len;
        if (label_len > DJ_DNS_MAX_LABEL)
            return false;
        pos += 1 + label_len;
    }
    return false;
}

size_t dj_dns_build_query(uint16_t id, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                          uint8_t *out, size_t out_size)
{
    return dj_dns_build_query_class(id, qname, qname_len, qtype, DJ_DNS_CLASS_IN, out, out_size);
}

size_t dj_dns_build_query_class(uint16_t id, const uint8_t *qname, size_t qname_len, uint16_t qtype,
                                uint16_t qclass, uint8_t *out, size_t out_size)
{
    size_t total = DJ_DNS_HEADER_SIZE + qname_len + QUESTION_FIXED + 11;
    uint8_t *p = out;

    if (!dj_dns_wire_name_ok(qname, qname_len) || total > out_size)
        return 0;
    p = put16(p, id);
    p = put16(p, FLAG_RD);
    p = put16(p, 1); /* QDCOUNT */
    p = put16(p, 0);
    p = put16(p, 0);
    p = put16(p, 1); /* ARCOUNT: the OPT record */
    memcpy(p, qname, qname_len);
    p += qname_len;
    p = put16(p, qtype);
    p = put16(p, qclass);
    /* OPT: root owner, our UDP size in the class, extended rcode 0, version 0, DO=0 in the TTL,
     * no options. */
    *p++ = 0;
    p = put16(p, DJ_DNS_TYPE_OPT);
    p = put16(p, DJ_DNS_EDNS_UDP_SIZE);
    p = put16(p, 0);
    p = put16(p, 0);
    p = put16(p, 0);
    return (size_t)(p - out);
}

enum dj_dnsanswer_status dj_dns_check_raw_response(const uint8_t *msg, size_t len, uint16_t id,
                                                   const uint8_t *qname, size_t qname_len,
                                                   uint16_t qtype, uint16_t qclass,
                                                   const char **problem)
{
    uint8_t name[DJ_DNS_MAX_NAME];
    size_t name_len;
    size_t pos = DJ_DNS_HEADER_SIZE;
    unsigned records;
    uint16_t flags, rcode;
    bool have_opt = false;
    struct record rr;
    const char *why;

    *problem = NULL;
    if (len < DJ_DNS_HEADER_SIZE) {
        *problem = "shorter than a DNS header";
        return DJ_DNSANSWER_MISMATCH;
    }
    flags = dj_get16(msg + 2);
    if (dj_get16(msg) != id)
        *problem = "another id";
    else if (!(flags & FLAG_QR))
        *problem = "a query, not a response";
    else if (((flags >> 11) & 0x0F) != OPCODE_QUERY)
        *problem = "opcode other than QUERY";
    else if (dj_get16(msg + 4) != 1)
        *problem = "question count is not 1";
    if (*problem != NULL)
        return DJ_DNSANSWER_MISMATCH;
    why = dj_dns_read_name(msg, len, &pos, name, &name_len);
    if (why == NULL && len - pos < QUESTION_FIXED)
        why = "question runs past the end of the message";
    if (why == NULL && (!names_equal(name, name_len, qname, qname_len) ||
                        dj_get16(msg + pos) != qtype || dj_get16(msg + pos + 2) != qclass))
        why = "answers another question";
    if (why != NULL) {
        *problem = why;
        return DJ_DNSANSWER_MISMATCH;
    }
    pos += QUESTION_FIXED;
    if (flags & FLAG_TC)
        return DJ_DNSANSWER_TRUNCATED;
    /* The caller hands the message on whole: every record must at least be framed right. */
    rcode = flags & 0x0F;
    records = (unsigned)dj_get16(msg + 6) + dj_get16(msg + 8);
    for (unsigned i = 0; i < records + dj_get16(msg + 10); i++) {
        why = read_record(msg, len, &pos, &rr);
        if (why != NULL) {
            *problem = why;
            return DJ_DNSANSWER_MALFORMED;
        }
        if (i >= records && rr.type == DJ_DNS_TYPE_OPT) {
            if (have_opt) {
                *problem = "more than one OPT record";
                return DJ_DNSANSWER_MALFORMED;
            }
            have_opt = true;
            rcode |= (uint16_t)((rr.raw_ttl >> 24) << 4);
        }
    }
    if (rcode == DJ_DNS_RCODE_SERVFAIL)
        return DJ_DNSANSWER_SERVFAIL;
    if (rcode == DJ_DNS_RCODE_NXDOMAIN)
        return DJ_DNSANSWER_NXDOMAIN;
    if (rcode != DJ_DNS_RCODE_NOERROR)
        return DJ_DNSANSWER_REJECTED;
    return dj_get16(msg + 6) > 0 ? DJ_DNSANSWER_OK : DJ_DNSANSWER_NODATA;
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

const char *dj_dns_name_from_text(const char *text, uint8_t *wire, size_t *wire_len)
{
    char name[DJ_DNS_MAX_HOST_TEXT + 1];
    size_t len = strnlen(text, DJ_DNS_MAX_HOST_TEXT + 2);
    size_t label_start = 0;
    size_t n = 0;
    bool all_digits = true;
    struct in_addr literal;

    *wire_len = 0;
    if (len > 0 && text[len - 1] == '.')
        len--; /* one trailing dot: the fully qualified form of the same name */
    if (len == 0)
        return "empty name";
    if (len > DJ_DNS_MAX_HOST_TEXT)
        return "name longer than 253 bytes";
    memcpy(name, text, len);
    name[len] = '\0';
    /* The proxy connects to literals itself; one must never go out as a query. */
    if (inet_aton(name, &literal) != 0)
        return "an IP address, not a name";

    for (size_t i = 0; i <= len; i++) {
        char c = name[i];

        if (c == '.' || c == '\0') {
            size_t label_len = i - label_start;

            if (label_len == 0)
                return "empty label";
            if (label_len > DJ_DNS_MAX_LABEL)
                return "label longer than 63 bytes";
            wire[n++] = (uint8_t)label_len;
            for (size_t k = label_start; k < i; k++)
                wire[n++] = ascii_lower((uint8_t)name[k]);
            if (c == '\0')
                break;
            label_start = i + 1;
            all_digits = true;
            continue;
        }
        if (!host_char(c))
            return "character other than a letter, digit, '-' or '_'";
        if (c < '0' || c > '9')
            all_digits = false;
    }
    if (all_digits)
        return "last label is all digits (no top-level domain is)";
    wire[n++] = 0;
    *wire_len = n;
    return NULL;
}

const char *dj_dnsanswer_status_text(enum dj_dnsanswer_status status)
{
    switch (status) {
    case DJ_DNSANSWER_OK:
        return "OK";
    case DJ_DNSANSWER_NODATA:
        return "NODATA";
    case DJ_DNSANSWER_NXDOMAIN:
        return "NXDOMAIN";
    case DJ_DNSANSWER_SERVFAIL:
        return "SERVFAIL";
    case DJ_DNSANSWER_REJECTED:
        return "REJECTED";
    case DJ_DNSANSWER_TRUNCATED:
        return "TRUNCATED";
    case DJ_DNSANSWER_MISMATCH:
        return "MISMATCH";
    case DJ_DNSANSWER_MALFORMED:
        return "MALFORMED";
    }
    return "UNKNOWN";
}
