#include "config.h"
#include "dns/dnswire.h"

#include <stdio.h>
#include <string.h>

#include "base/bytes.h"

#define FLAG_QR 0x8000
#define FLAG_TC 0x0200
#define FLAG_RD 0x0100
#define FLAG_RA 0x0080
#define FLAG_CD 0x0010
#define OPCODE_QUERY 0

#define QUESTION_FIXED 4 /* qtype, qclass */
#define RR_FIXED 10      /* type, class, ttl, rdlength */
#define OPT_RR_SIZE 11   /* root name + RR_FIXED, no options */
#define EDNS_DO_BIT 0x8000

static uint8_t *put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

/* Reads the name stored at *POS, following compression pointers, into OUT (wire form, at most
 * DJ_DNS_MAX_NAME bytes). Moves *POS past the name as stored there (a pointer ends it).
 * Returns NULL, or what is wrong with the name.
 * A pointer must land before the segment that holds it and after the header: a pointer
 * into its own segment can only loop, and a name that keeps moving backwards must end. */
const char *dj_dns_read_name(const uint8_t *msg, size_t len, size_t *pos, uint8_t *out,
                             size_t *out_len)
{
    size_t p = *pos;
    size_t segment_start = p;
    size_t resume = 0;
    size_t n = 0;
    unsigned jumps = 0;

    for (;;) {
        uint8_t label_len;

        if (p >= len)
            return "name runs past the end of the message";
        label_len = msg[p];
        if ((label_len & 0xC0) == 0xC0) {
            size_t target;

            if (p + 1 >= len)
                return "name runs past the end of the message";
            target = ((size_t)(label_len & 0x3F) << 8) | msg[p + 1];
            if (jumps == 0)
                resume = p + 2;
            if (++jumps > DJ_DNS_MAX_POINTERS)
                return "too many compression pointers";
            if (target < DJ_DNS_HEADER_SIZE)
                return "compression pointer into the header";
            if (target >= segment_start)
                return "compression pointer does not point backwards";
            p = target;
            segment_start = target;
            continue;
        }
        if (label_len > DJ_DNS_MAX_LABEL)
            return "label longer than 63 bytes or of an unknown type";
        if (n + 1 + label_len > DJ_DNS_MAX_NAME)
            return "name longer than 255 bytes";
        if (label_len >= len - p)
            return "name runs past the end of the message";
        out[n] = label_len;
        memcpy(out + n + 1, msg + p + 1, label_len);
        n += 1 + (size_t)label_len;
        p += 1 + (size_t)label_len;
        if (label_len == 0)
            break;
    }
    *pos = jumps > 0 ? resume : p;
    *out_len = n;
    return NULL;
}

static enum dj_dns_parse_result reject(struct dj_dns_query *q, enum dj_dns_parse_result result,
                                       const char *problem)
{
    q->result = result;
    q->problem = problem;
    if (result == DJ_DNS_PARSE_FORMERR)
        q->has_edns = false; /* our FORMERR never carries an OPT (see dnswire.h) */
    return result;
}

/* Reads the OPT record whose fixed part starts at FIXED (name already checked to be root). */
static const char *read_opt(const uint8_t *fixed, const uint8_t *rdata, size_t rdlength,
                            struct dj_dns_query *q)
{
    uint32_t ttl = dj_get32(fixed + 4);
    size_t off = 0;

    while (off < rdlength) {
        if (rdlength - off < 4)
            return "EDNS option header runs past the OPT record";
        if (dj_get16(rdata + off + 2) > rdlength - off - 4)
            return "EDNS option runs past the OPT record";
        off += 4 + (size_t)dj_get16(rdata + off + 2);
    }
    q->has_edns = true;
    q->edns_udp_size = dj_get16(fixed + 2);
    if (q->edns_udp_size < DJ_DNS_UDP_DEFAULT_SIZE)
        q->edns_udp_size = DJ_DNS_UDP_DEFAULT_SIZE;
    q->edns_version = (uint8_t)(ttl >> 16);
    q->edns_do = (ttl & EDNS_DO_BIT) != 0;
    return NULL;
}

enum dj_dns_parse_result dj_dns_parse_query(const uint8_t *msg, size_t len, struct dj_dns_query *q)
{
    uint8_t scratch[DJ_DNS_MAX_NAME];
    size_t scratch_len;
    size_t pos = DJ_DNS_HEADER_SIZE;
    unsigned long records;
    const char *problem;

    memset(q, 0, sizeof(*q));
    if (len < DJ_DNS_HEADER_SIZE)
        return reject(q, DJ_DNS_PARSE_DROP, "shorter than a DNS header");
    q->id = dj_get16(msg);
    q->flags = dj_get16(msg + 2);
    q->opcode = (uint8_t)((q->flags >> 11) & 0x0F);
    if (q->flags & FLAG_QR)
        return reject(q, DJ_DNS_PARSE_DROP, "a response, not a query");
    if (q->opcode != OPCODE_QUERY)
        return reject(q, DJ_DNS_PARSE_NOTIMP, "opcode other than QUERY");
    if (dj_get16(msg + 4) != 1)
        return reject(q, DJ_DNS_PARSE_FORMERR, "question count is not 1");

    problem = dj_dns_read_name(msg, len, &pos, q->qname, &q->qname_len);
    if (problem != NULL)
        return reject(q, DJ_DNS_PARSE_FORMERR, problem);
    if (len - pos < QUESTION_FIXED)
        return reject(q, DJ_DNS_PARSE_FORMERR, "question runs past the end of the packet");
    q->qtype = dj_get16(msg + pos);
    q->qclass = dj_get16(msg + pos + 2);
    pos += QUESTION_FIXED;
    q->has_question = true;

    /* Answer and authority records have no business in a query; they are only walked over to
     * reach the additional section. */
    records = (unsigned long)dj_get16(msg + 6) + dj_get16(msg + 8) + dj_get16(msg + 10);
    for (unsigned long i = 0; i < records; i++) {
        bool additional = i >= records - dj_get16(msg + 10);
        const uint8_t *fixed;
        size_t rdlength;

        problem = dj_dns_read_name(msg, len, &pos, scratch, &scratch_len);
        if (problem != NULL)
            return reject(q, DJ_DNS_PARSE_FORMERR, problem);
        if (len - pos < RR_FIXED)
            return reject(q, DJ_DNS_PARSE_FORMERR, "record runs past the end of the packet");
        fixed = msg + pos;
        rdlength = dj_get16(fixed + 8);
        pos += RR_FIXED;
        if (len - pos < rdlength)
            return reject(q, DJ_DNS_PARSE_FORMERR, "record data runs past the end of the packet");
        if (additional && dj_get16(fixed) == DJ_DNS_TYPE_OPT) {
            if (q->has_edns)
                return reject(q, DJ_DNS_PARSE_FORMERR, "more than one OPT record");
            if (scratch_len != 1)
                return reject(q, DJ_DNS_PARSE_FORMERR, "OPT record with a name other than root");
            problem = read_opt(fixed, msg + pos, rdlength, q);
            if (problem != NULL)
                return reject(q, DJ_DNS_PARSE_FORMERR, problem);
        }
        pos += rdlength;
    }
    if (q->has_edns && q->edns_version != 0)
        return reject(q, DJ_DNS_PARSE_BADVERS, "EDNS version other than 0");
    q->result = DJ_DNS_PARSE_OK;
    return DJ_DNS_PARSE_OK;
}

size_t dj_dns_response_limit(const struct dj_dns_query *q, bool tcp)
{
    if (tcp)
        return DJ_DNS_TCP_MAX_SIZE;
    return q->has_edns ? q->edns_udp_size : DJ_DNS_UDP_DEFAULT_SIZE;
}

static uint16_t rcode_of(enum dj_dns_parse_result result)
{
    switch (result) {
    case DJ_DNS_PARSE_OK:
        return DJ_DNS_RCODE_NOERROR;
    case DJ_DNS_PARSE_NOTIMP:
        return DJ_DNS_RCODE_NOTIMP;
    case DJ_DNS_PARSE_BADVERS:
        return DJ_DNS_RCODE_BADVERS;
    case DJ_DNS_PARSE_FORMERR:
    case DJ_DNS_PARSE_DROP:
        break;
    }
    return DJ_DNS_RCODE_FORMERR;
}

static enum dj_dns_answer_kind answer_kind(const struct dj_dns_query *q,
                                           const struct dj_dns_policy *policy)
{
    if (q->result != DJ_DNS_PARSE_OK || q->qclass != DJ_DNS_CLASS_IN)
        return DJ_DNS_ANSWER_NONE;
    if (q->qtype == DJ_DNS_TYPE_A)
        return DJ_DNS_ANSWER_A;
    if (q->qtype == DJ_DNS_TYPE_AAAA && policy->have_sinkhole6)
        return DJ_DNS_ANSWER_AAAA;
    return DJ_DNS_ANSWER_NONE;
}

static size_t answer_size(enum dj_dns_answer_kind kind)
{
    /* pointer to the question name + RR_FIXED + address */
    switch (kind) {
    case DJ_DNS_ANSWER_A:
        return 2 + RR_FIXED + 4;
    case DJ_DNS_ANSWER_AAAA:
        return 2 + RR_FIXED + 16;
    case DJ_DNS_ANSWER_NONE:
        break;
    }
    return 0;
}

size_t dj_dns_build_response(const struct dj_dns_query *q, const struct dj_dns_policy *policy,
                             size_t limit, uint8_t *out, size_t out_size,
                             struct dj_dns_outcome *outcome)
{
    struct dj_dns_outcome unused;
    bool with_question = q->has_question && q->result != DJ_DNS_PARSE_NOTIMP;
    bool with_opt = q->has_edns;
    size_t question_size = q->qname_len + QUESTION_FIXED;
    size_t total;
    uint16_t flags;
    uint8_t *p = out;

    if (outcome == NULL)
        outcome = &unused;
    memset(outcome, 0, sizeof(*outcome));
    if (q->result == DJ_DNS_PARSE_DROP)
        return 0;
    if (limit > out_size)
        limit = out_size;
    if (limit < DJ_DNS_HEADER_SIZE)
        return 0;
    outcome->rcode = rcode_of(q->result);
    outcome->answer = answer_kind(q, policy);

    total = DJ_DNS_HEADER_SIZE + (with_question ? question_size : 0) +
            answer_size(outcome->answer) + (with_opt ? OPT_RR_SIZE : 0);
    if (total > limit) {
        outcome->truncated = true;
        total -= answer_size(outcome->answer);
        outcome->answer = DJ_DNS_ANSWER_NONE;
    }
    if (total > limit && with_opt) {
        total -= OPT_RR_SIZE;
        with_opt = false;
    }
    if (total > limit && with_question) {
        total -= question_size;
        with_question = false;
    }

    flags = FLAG_QR | FLAG_RA | (uint16_t)(q->opcode << 11) | (q->flags & (FLAG_RD | FLAG_CD)) |
            (outcome->rcode & 0x0F);
    if (outcome->truncated)
        flags |= FLAG_TC;
    p = put16(p, q->id);
    p = put16(p, flags);
    p = put16(p, with_question ? 1 : 0);
    p = put16(p, outcome->answer != DJ_DNS_ANSWER_NONE ? 1 : 0);
    p = put16(p, 0);
    p = put16(p, with_opt ? 1 : 0);
    if (with_question) {
        memcpy(p, q->qname, q->qname_len);
        p += q->qname_len;
        p = put16(p, q->qtype);
        p = put16(p, q->qclass);
    }
    if (outcome->answer != DJ_DNS_ANSWER_NONE) {
        bool v4 = outcome->answer == DJ_DNS_ANSWER_A;

        p = put16(p, 0xC000 | DJ_DNS_HEADER_SIZE);
        p = put16(p, v4 ? DJ_DNS_TYPE_A : DJ_DNS_TYPE_AAAA);
        p = put16(p, DJ_DNS_CLASS_IN);
        p = put32(p, policy->ttl);
        p = put16(p, v4 ? 4 : 16);
        if (v4) {
            memcpy(p, &policy->sinkhole4, 4);
            p += 4;
        } else {
            memcpy(p, &policy->sinkhole6, 16);
            p += 16;
        }
    }
    if (with_opt) {
        *p++ = 0; /* root */
        p = put16(p, DJ_DNS_TYPE_OPT);
        p = put16(p, DJ_DNS_EDNS_UDP_SIZE);
        /* extended rcode (upper 8 bits), version 0, DO copied, no options */
        p = put32(p, ((uint32_t)(outcome->rcode >> 4) << 24) | (q->edns_do ? EDNS_DO_BIT : 0));
        p = put16(p, 0);
    }
    return (size_t)(p - out);
}

/* Appends TEXT (LEN bytes) at *USED if it fits before the final NUL; else nothing. */
static bool append(char *out, size_t out_size, size_t *used, const char *text, size_t len)
{
    if (len >= out_size - *used)
        return false;
    memcpy(out + *used, text, len);
    *used += len;
    return true;
}

size_t dj_dns_name_to_text(const uint8_t *wire, size_t wire_len, char *out, size_t out_size)
{
    size_t used = 0;
    size_t pos = 0;
    bool full = false;

    if (out_size == 0)
        return 0;
    while (!full && pos < wire_len && wire[pos] != 0) {
        size_t label_len = wire[pos];

        if (label_len > DJ_DNS_MAX_LABEL || label_len >= wire_len - pos)
            break;
        if (used > 0 && !append(out, out_size, &used, ".", 1))
            break;
        for (size_t i = 1; i <= label_len && !full; i++) {
            uint8_t c = wire[pos + i];
            char escaped[5];

            if (c == '.' || c == '\\') {
                escaped[0] = '\\';
                escaped[1] = (char)c;
                full = !append(out, out_size, &used, escaped, 2);
            } else if (c > 0x20 && c < 0x7F) {
                full = !append(out, out_size, &used, (const char *)&c, 1);
            } else {
                snprintf(escaped, sizeof(escaped), "\\%03u", (unsigned)c);
                full = !append(out, out_size, &used, escaped, 4);
            }
        }
        pos += 1 + label_len;
    }
    if (used == 0)
        append(out, out_size, &used, ".", 1);
    out[used] = '\0';
    return used;
}

const char *dj_dns_type_text(uint16_t qtype, char *out)
{
    /* The common ones; the rest in the generic RFC 3597 form, which every tool understands. */
    static const struct {
        uint16_t type;
        const char *name;
    } names[] = {
        {1, "A"},       {2, "NS"},     {5, "CNAME"}, {6, "SOA"},    {12, "PTR"},
        {13, "HINFO"},  {15, "MX"},    {16, "TXT"},  {28, "AAAA"},  {33, "SRV"},
        {35, "NAPTR"},  {41, "OPT"},   {43, "DS"},   {46, "RRSIG"}, {47, "NSEC"},
        {48, "DNSKEY"}, {252, "AXFR"}, {255, "ANY"}, {257, "CAA"},
    };

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].type == qtype) {
            snprintf(out, DJ_DNS_TYPE_TEXT_SIZE, "%s", names[i].name);
            return out;
        }
    }
    snprintf(out, DJ_DNS_TYPE_TEXT_SIZE, "TYPE%u", (unsigned)qtype);
    return out;
}

const char *dj_dns_rcode_text(uint16_t rcode, char *out)
{
    static const char *const names[] = {"NOERROR",  "FORMERR", "SERVFAIL",
                                        "NXDOMAIN", "NOTIMP",  "REFUSED"};

    if (rcode < sizeof(names) / sizeof(names[0]))
        snprintf(out, DJ_DNS_RCODE_TEXT_SIZE, "%s", names[rcode]);
    else if (rcode == DJ_DNS_RCODE_BADVERS)
        snprintf(out, DJ_DNS_RCODE_TEXT_SIZE, "BADVERS");
    else
        snprintf(out, DJ_DNS_RCODE_TEXT_SIZE, "RCODE%u", (unsigned)rcode);
    return out;
}
