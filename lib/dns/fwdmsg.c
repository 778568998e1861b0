/* fwdmsg.c: reading and rewriting forwarded DNS answers (see fwdmsg.h for the choices). */
#include "config.h"

#include "dns/fwdmsg.h"

#include <string.h>

#include "base/bytes.h"

#define FLAG_QR 0x8000u
#define FLAG_TC 0x0200u
#define FLAG_RD 0x0100u
#define FLAG_RA 0x0080u
#define FLAG_CD 0x0010u
#define TYPE_SOA 6
#define RR_FIXED 10      /* type, class, ttl, rdlength */
#define QUESTION_FIXED 4 /* type, class */
#define SOA_NUMBERS 20   /* serial, refresh, retry, expire, minimum */
#define OPT_RECORD_SIZE 11

/* RFC 2181 8: a TTL with the top bit set is treated as 0. */
static uint32_t ttl_value(const uint8_t *p)
{
    uint32_t ttl = dj_get32(p);

    return (ttl & 0x80000000u) ? 0 : ttl;
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* Wire names, equal without regard to ASCII case (length bytes compare exactly since they
 * are below 'A'). */
static bool same_name(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len != b_len)
        return false;
    for (size_t i = 0; i < a_len; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

/* One record's place in the message, filled by next_record(). */
struct record {
    size_t start; /* owner name */
    size_t fixed; /* type, class, ttl, rdlength */
    size_t rdata; /* rdata */
    size_t end;   /* first byte after it */
    uint16_t type;
};

static const char *next_record(const uint8_t *msg, size_t len, size_t *pos, struct record *r)
{
    uint8_t name[DJ_DNS_MAX_NAME];
    size_t name_len;
    const char *problem;
    size_t rdlength;

    r->start = *pos;
    problem = dj_dns_read_name(msg, len, pos, name, &name_len);
    if (problem != NULL)
        return problem;
    if (len - *pos < RR_FIXED)
        return "record runs past the end of the message";
    r->fixed = *pos;
    r->type = dj_get16(msg + *pos);
    rdlength = dj_get16(msg + *pos + 8);
    r->rdata = *pos + RR_FIXED;
    if (len - r->rdata < rdlength)
        return "record data runs past the end of the message";
    r->end = r->rdata + rdlength;
    *pos = r->end;
    return NULL;
}

/* SOA MINIMUM of the SOA record R, which must hold exactly two names and five numbers. */
static const char *soa_minimum(const uint8_t *msg, const struct record *r, uint32_t *minimum)
{
    uint8_t name[DJ_DNS_MAX_NAME];
    size_t name_len;
    size_t pos = r->rdata;
    const char *problem;

    /* Names are read against the end of the rdata, not of the message: they must not run
     * out of their record. Pointers may still point back into the message. */
    for (int i = 0; i < 2; i++) {
        problem = dj_dns_read_name(msg, r->end, &pos, name, &name_len);
        if (problem != NULL)
            return problem;
    }
    if (r->end - pos != SOA_NUMBERS)
        return "SOA record of the wrong size";
    *minimum = ttl_value(msg + pos + 16);
    return NULL;
}

/* Reads the header and question; *POS ends after the question. */
static const char *check_question(const uint8_t *msg, size_t len, const uint8_t *qname,
                                  size_t qname_len, uint16_t qtype, uint16_t qclass, size_t *pos)
{
    uint8_t name[DJ_DNS_MAX_NAME];
    size_t name_len;
    uint16_t flags;
    const char *problem;

    if (len < DJ_DNS_HEADER_SIZE)
        return "shorter than a DNS header";
    flags = dj_get16(msg + 2);
    if (!(flags & FLAG_QR))
        return "not a response";
    if (((flags >> 11) & 0xF) != 0)
        return "opcode is not QUERY";
    if (dj_get16(msg + 4) != 1)
        return "question count is not 1";
    *pos = DJ_DNS_HEADER_SIZE;
    problem = dj_dns_read_name(msg, len, pos, name, &name_len);
    if (problem != NULL)
        return problem;
    if (len - *pos < QUESTION_FIXED)
        return "question runs past the end of the message";
    if (!same_name(name, name_len, qname, qname_len) || dj_get16(msg + *pos) != qtype ||
        dj_get16(msg + *pos + 2) != qclass)
        return "answers another question";
    *pos += QUESTION_FIXED;
    return NULL;
}

const char *dj_fwdmsg_scan(const uint8_t *msg, size_t len, const uint8_t *qname, size_t qname_len,
                           uint16_t qtype, uint16_t qclass, struct dj_fwdmsg_info *info)
{
    uint32_t answer_ttl = UINT32_MAX, negative_ttl = UINT32_MAX;
    bool have_soa = false, have_opt = false;
    unsigned long an, ns, ar;
    const char *problem;
    size_t pos;

    memset(info, 0, sizeof(*info));
    problem = check_question(msg, len, qname, qname_len, qtype, qclass, &pos);
    if (problem != NULL)
        return problem;
    an = dj_get16(msg + 6);
    ns = dj_get16(msg + 8);
    ar = dj_get16(msg + 10);
    for (unsigned long i = 0; i < an + ns + ar; i++) {
        struct record r;

        problem = next_record(msg, len, &pos, &r);
        if (problem != NULL)
            return problem;
        if (r.type == DJ_DNS_TYPE_OPT) {
            if (i < an + ns || r.start + 1 != r.fixed || msg[r.start] != 0)
                return "OPT record outside the additional section or not owned by the root";
            if (have_opt)
                return "two OPT records";
            have_opt = true;
            continue;
        }
        if (i < an) {
            uint32_t ttl = ttl_value(msg + r.fixed + 4);

            if (ttl < answer_ttl)
                answer_ttl = ttl;
        } else if (i < an + ns && r.type == TYPE_SOA) {
            uint32_t minimum, ttl = ttl_value(msg + r.fixed + 4);

            problem = soa_minimum(msg, &r, &minimum);
            if (problem != NULL)
                return problem;
            if (minimum < ttl)
                ttl = minimum;
            if (ttl < negative_ttl)
                negative_ttl = ttl;
            have_soa = true;
        }
    }
    info->length = pos;
    info->rcode = dj_get16(msg + 2) & 0xF;
    info->truncated = (dj_get16(msg + 2) & FLAG_TC) != 0;
    info->ancount = (uint16_t)an;
    if (info->truncated)
        return NULL;
    if (info->rcode == DJ_DNS_RCODE_NOERROR && an > 0) {
        info->cacheable = true;
        info->lifetime = answer_ttl;
    } else if ((info->rcode == DJ_DNS_RCODE_NXDOMAIN || info->rcode == DJ_DNS_RCODE_NOERROR) &&
               have_soa) {
        info->cacheable = true;
        info->negative = true;
        /* A CNAME that led to the missing name bounds how long the answer holds too. */
        info->lifetime = negative_ttl < answer_ttl ? negative_ttl : answer_ttl;
    } else if (info->rcode == DJ_DNS_RCODE_NXDOMAIN || info->rcode == DJ_DNS_RCODE_NOERROR) {
        info->negative = true;
    }
    return NULL;
}

static size_t build_question_only(const uint8_t *msg, const struct dj_dns_query *q, size_t limit,
                                  uint8_t *out, size_t out_size)
{
    size_t size = DJ_DNS_HEADER_SIZE + q->qname_len + QUESTION_FIXED;

    if (size > limit || size > out_size)
        return 0;
    memcpy(out, msg, 4);
    dj_put16(out + 2, (uint16_t)(dj_get16(msg + 2) | FLAG_TC));
    dj_put16(out + 4, 1);
    memset(out + 6, 0, 6);
    memcpy(out + DJ_DNS_HEADER_SIZE, q->qname, q->qname_len);
    dj_put16(out + DJ_DNS_HEADER_SIZE + q->qname_len, q->qtype);
    dj_put16(out + DJ_DNS_HEADER_SIZE + q->qname_len + 2, q->qclass);
    return size;
}

size_t dj_fwdmsg_build_reply(const uint8_t *msg, size_t len, const struct dj_dns_query *q,
                             uint32_t elapsed, uint32_t cap, size_t limit, uint8_t *out,
                             size_t out_size, bool *truncated)
{
    struct dj_fwdmsg_info info;
    unsigned long an, ns, ar, kept_ar = 0;
    size_t pos, end;
    uint16_t flags;

    *truncated = false;
    if (dj_fwdmsg_scan(msg, len, q->qname, q->qname_len, q->qtype, q->qclass, &info) != NULL)
        return 0;
    an = dj_get16(msg + 6);
    ns = dj_get16(msg + 8);
    ar = dj_get16(msg + 10);

    /* Where the copy ends: after the last record, or at the OPT when the client has no
     * EDNS (with whatever followed it: pointers after it could point past it). */
    pos = DJ_DNS_HEADER_SIZE + q->qname_len + QUESTION_FIXED;
    end = info.length;
    for (unsigned long i = 0; i < an + ns + ar; i++) {
        struct record r;

        if (next_record(msg, len, &pos, &r) != NULL)
            return 0;
        if (i >= an + ns && r.type == DJ_DNS_TYPE_OPT && !q->has_edns) {
            end = r.start;
            break;
        }
        if (i >= an + ns)
            kept_ar++;
    }
    if (end > limit || end > out_size) {
        *truncated = true;
        flags = (uint16_t)((dj_get16(msg + 2) & ~(FLAG_RD | FLAG_CD)) |
                           (q->flags & (FLAG_RD | FLAG_CD)));
        if (build_question_only(msg, q, limit, out, out_size) == 0)
            return 0;
        dj_put16(out, q->id);
        dj_put16(out + 2, (uint16_t)(flags | FLAG_TC));
        return DJ_DNS_HEADER_SIZE + q->qname_len + QUESTION_FIXED;
    }
    memcpy(out, msg, end);
    dj_put16(out, q->id);
    flags =
        (uint16_t)((dj_get16(msg + 2) & ~(FLAG_RD | FLAG_CD)) | (q->flags & (FLAG_RD | FLAG_CD)));
    dj_put16(out + 2, flags);
    dj_put16(out + 10, (uint16_t)kept_ar);
    /* The question as the client wrote it: same name, so same length and same offsets. */
    memcpy(out + DJ_DNS_HEADER_SIZE, q->qname, q->qname_len);

    pos = DJ_DNS_HEADER_SIZE + q->qname_len + QUESTION_FIXED;
    while (pos < end) {
        struct record r;
        uint32_t ttl;

        if (next_record(out, end, &pos, &r) != NULL)
            return 0;
        if (r.type == DJ_DNS_TYPE_OPT)
            continue;
        ttl = ttl_value(out + r.fixed + 4);
        ttl = ttl > elapsed ? ttl - elapsed : 0;
        if (ttl > cap)
            ttl = cap;
        dj_put32(out + r.fixed + 4, ttl);
    }
    /* A compression pointer may aim into another record's TTL (nothing forbids it but
     * sense), and then the rewrite changed a name: send only what we would accept ourselves. */
    if (dj_fwdmsg_scan(out, end, q->qname, q->qname_len, q->qtype, q->qclass, &info) != NULL ||
        info.length != end)
        return 0;
    return end;
}

size_t dj_fwdmsg_build_error(const struct dj_dns_query *q, uint16_t rcode, uint8_t *out,
                             size_t out_size)
{
    size_t size = DJ_DNS_HEADER_SIZE + q->qname_len + QUESTION_FIXED;
    size_t pos;

    if (!q->has_question || size + (q->has_edns ? OPT_RECORD_SIZE : 0) > out_size)
        return 0;
    dj_put16(out, q->id);
    dj_put16(out + 2,
             (uint16_t)(FLAG_QR | FLAG_RA | (q->flags & (FLAG_RD | FLAG_CD)) | (rcode & 0xF)));
    dj_put16(out + 4, 1);
    dj_put16(out + 6, 0);
    dj_put16(out + 8, 0);
    dj_put16(out + 10, q->has_edns ? 1 : 0);
    memcpy(out + DJ_DNS_HEADER_SIZE, q->qname, q->qname_len);
    pos = DJ_DNS_HEADER_SIZE + q->qname_len;
    dj_put16(out + pos, q->qtype);
    dj_put16(out + pos + 2, q->qclass);
    pos += QUESTION_FIXED;
    if (q->has_edns) {
        out[pos] = 0; /* root */
        dj_put16(out + pos + 1, DJ_DNS_TYPE_OPT);
        dj_put16(out + pos + 3, DJ_DNS_EDNS_UDP_SIZE);
        dj_put32(out + pos + 5, q->edns_do ? 0x8000u : 0);
        dj_put16(out + pos + 9, 0);
        pos += OPT_RECORD_SIZE;
    }
    return pos;
}

void dj_fwdmsg_lower_name(const uint8_t *name, size_t len, uint8_t *out)
{
    /* Length bytes (0..63) are below 'A': lowering every byte leaves them alone. */
    for (size_t i = 0; i < len; i++)
        out[i] = lower(name[i]);
}
