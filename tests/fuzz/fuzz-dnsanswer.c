/* Reads any bytes as a DNS response to a question derived from the input itself, and checks
 * the invariants the resolver relies on.
 *
 * Input: one selector byte, then the response. Selector bit 0: the question is AAAA (else A);
 * bit 1: ask with another id (every answer must then be MISMATCH); bit 2: ask with the
 * question name upper-cased (same result: names compare without case). The question name is
 * the response's own first name when it is uncompressed and well-formed, so mutations reach
 * the answer sections; otherwise a fixed name.
 * The same bytes, read as text, also drive the host-name check and the query builder, whose
 * output must parse with the stub's query parser.
 *
 * Seeds (tests/fuzz/corpus/dnsanswer) are real responses captured from dnsmasq and unbound
 * serving a test zone on 127.0.0.1, with the selector byte in front. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dnsanswer.h"
#include "dns/dnswire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEL_AAAA 0x01
#define SEL_OTHER_ID 0x02
#define SEL_UPPER 0x04

static void check(int condition)
{
    if (!condition)
        abort();
}

static uint8_t upper(uint8_t c)
{
    return c >= 'a' && c <= 'z' ? (uint8_t)(c - ('a' - 'A')) : c;
}

static uint8_t lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* The uncompressed name at offset 12 of MSG, if there is a well-formed one. */
static size_t first_name(const uint8_t *msg, size_t len, uint8_t *out)
{
    size_t pos = DJ_DNS_HEADER_SIZE;

    while (pos < len) {
        size_t label_len = msg[pos];

        if (label_len > DJ_DNS_MAX_LABEL || pos + 1 + label_len > len ||
            pos - DJ_DNS_HEADER_SIZE + 1 + label_len > DJ_DNS_MAX_NAME)
            return 0;
        if (label_len == 0) {
            size_t name_len = pos + 1 - DJ_DNS_HEADER_SIZE;

            memcpy(out, msg + DJ_DNS_HEADER_SIZE, name_len);
            return name_len;
        }
        pos += 1 + label_len;
    }
    return 0;
}

static bool wire_name_ok(const uint8_t *name, size_t len)
{
    size_t pos = 0;

    if (len == 0 || len > DJ_DNS_MAX_NAME)
        return false;
    while (pos < len) {
        if (name[pos] == 0)
            return pos + 1 == len;
        if (name[pos] > DJ_DNS_MAX_LABEL)
            return false;
        pos += 1 + (size_t)name[pos];
    }
    return false;
}

static void check_answer(const struct dj_dns_answer *a, const struct dj_dns_question *q)
{
    check(dj_dnsanswer_status_text(a->status) != NULL);
    check(a->addr_len == (q->qtype == DJ_DNS_TYPE_AAAA ? 16u : 4u));
    check(a->n_addrs <= DJ_DNSANSWER_MAX_ADDRS);
    check(a->cnames <= DJ_DNSANSWER_MAX_CNAMES);
    switch (a->status) {
    case DJ_DNSANSWER_OK:
        check(a->n_addrs >= 1);
        check(a->problem == NULL);
        check(wire_name_ok(a->final_name, a->final_name_len));
        check(a->rcode == DJ_DNS_RCODE_NOERROR);
        for (size_t i = 0; i < a->n_addrs; i++) {
            for (size_t k = 0; k < i; k++)
                check(memcmp(a->addrs[i], a->addrs[k], a->addr_len) != 0);
        }
        break;
    case DJ_DNSANSWER_NODATA:
    case DJ_DNSANSWER_NXDOMAIN:
        check(a->n_addrs == 0);
        check(a->problem == NULL);
        check(wire_name_ok(a->final_name, a->final_name_len));
        check(a->rcode ==
              (a->status == DJ_DNSANSWER_NXDOMAIN ? DJ_DNS_RCODE_NXDOMAIN : DJ_DNS_RCODE_NOERROR));
        break;
    case DJ_DNSANSWER_MISMATCH:
    case DJ_DNSANSWER_MALFORMED:
        check(a->problem != NULL);
        check(a->n_addrs == 0 && a->ttl == 0);
        break;
    case DJ_DNSANSWER_SERVFAIL:
    case DJ_DNSANSWER_REJECTED:
    case DJ_DNSANSWER_TRUNCATED:
        check(a->problem == NULL);
        check(a->n_addrs == 0 && a->ttl == 0);
        break;
    }
    /* No TTL above 2^31 - 1 (RFC 2181 8). */
    check(a->ttl <= 0x7FFFFFFFu);
}

/* The forwarding check on the same bytes: it agrees with the full parse where both judge
 * (mismatch, truncation, rcodes), and whatever it accepts is framed. */
static void fuzz_raw(const uint8_t *msg, size_t len, const struct dj_dns_question *q,
                     const struct dj_dns_answer *full)
{
    const char *problem = NULL;
    enum dj_dnsanswer_status raw = dj_dns_check_raw_response(
        msg, len, q->id, q->qname, q->qname_len, q->qtype, DJ_DNS_CLASS_IN, &problem);

    check(dj_dnsanswer_status_text(raw) != NULL);
    check((raw == DJ_DNSANSWER_MISMATCH || raw == DJ_DNSANSWER_MALFORMED) == (problem != NULL));
    check((raw == DJ_DNSANSWER_MISMATCH) == (full->status == DJ_DNSANSWER_MISMATCH));
    check((raw == DJ_DNSANSWER_TRUNCATED) == (full->status == DJ_DNSANSWER_TRUNCATED));
    if (full->status == DJ_DNSANSWER_SERVFAIL || full->status == DJ_DNSANSWER_REJECTED)
        check(raw == full->status);
    if (full->status == DJ_DNSANSWER_OK)
        check(raw == DJ_DNSANSWER_OK);
    if (full->status == DJ_DNSANSWER_NXDOMAIN)
        check(raw == DJ_DNSANSWER_NXDOMAIN);
    if (raw == DJ_DNSANSWER_OK || raw == DJ_DNSANSWER_NODATA)
        check(len >= DJ_DNS_HEADER_SIZE && (msg[3] & 0x0F) == DJ_DNS_RCODE_NOERROR);
    /* Another class never matches a response to IN (the question would differ). */
    if (raw != DJ_DNSANSWER_MISMATCH)
        check(dj_dns_check_raw_response(msg, len, q->id, q->qname, q->qname_len, q->qtype, 3,
                                        &problem) == DJ_DNSANSWER_MISMATCH);
}

static void fuzz_response(const uint8_t *data, size_t size)
{
    static const uint8_t fixed_name[] = "\x03www\x07"
                                        "example\x04test";
    uint8_t selector = data[0];
    const uint8_t *msg = data + 1;
    size_t len = size - 1;
    uint8_t qname[DJ_DNS_MAX_NAME], flipped[DJ_DNS_MAX_NAME];
    size_t qname_len = first_name(msg, len, qname);
    struct dj_dns_question q;
    struct dj_dns_answer a, b;
    enum dj_dnsanswer_status status;

    if (qname_len == 0) {
        qname_len = sizeof(fixed_name);
        memcpy(qname, fixed_name, qname_len);
    }
    for (size_t i = 0; i < qname_len; i++)
        flipped[i] = (selector & SEL_UPPER) ? upper(qname[i]) : lower(qname[i]);

    q.id = len >= 2 ? (uint16_t)((msg[0] << 8) | msg[1]) : 0;
    if (selector & SEL_OTHER_ID)
        q.id ^= 0x5a5a;
    q.qtype = (selector & SEL_AAAA) ? DJ_DNS_TYPE_AAAA : DJ_DNS_TYPE_A;
    q.qname = qname;
    q.qname_len = qname_len;
    status = dj_dns_parse_answer(msg, len, &q, &a);
    check(status == a.status);
    check_answer(&a, &q);
    if (selector & SEL_OTHER_ID)
        check(status == DJ_DNSANSWER_MISMATCH);

    /* Case of the question name never matters, and the parse is deterministic. */
    q.qname = flipped;
    dj_dns_parse_answer(msg, len, &q, &b);
    check(b.status == a.status && b.n_addrs == a.n_addrs && b.ttl == a.ttl &&
          b.cnames == a.cnames && b.rcode == a.rcode);
    check(memcmp(a.addrs, b.addrs, sizeof(a.addrs)) == 0);
    fuzz_raw(msg, len, &q, &a);
}

static void fuzz_name(const uint8_t *data, size_t size)
{
    char text[DJ_DNS_MAX_HOST_TEXT + 8];
    uint8_t wire[DJ_DNS_MAX_NAME];
    uint8_t query[DJ_DNS_MAX_QUERY];
    char shown[DJ_DNS_MAX_NAME_TEXT];
    size_t wire_len, text_len, query_len;
    struct dj_dns_query parsed;

    text_len = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, text_len);
    text[text_len] = '\0';
    if (dj_dns_name_from_text(text, wire, &wire_len) != NULL) {
        check(wire_len == 0);
        return;
    }
    check(wire_name_ok(wire, wire_len));
    text_len = strlen(text);
    if (text[text_len - 1] == '.')
        text_len--;
    /* Back to text it is the input, lower-cased, without the trailing dot. */
    check(dj_dns_name_to_text(wire, wire_len, shown, sizeof(shown)) == text_len);
    for (size_t i = 0; i < text_len; i++)
        check((uint8_t)shown[i] == lower((uint8_t)text[i]));

    query_len = dj_dns_build_query(0x1234, wire, wire_len, DJ_DNS_TYPE_AAAA, query, sizeof(query));
    check(query_len > 0 && query_len <= DJ_DNS_MAX_QUERY);
    check(dj_dns_parse_query(query, query_len, &parsed) == DJ_DNS_PARSE_OK);
    check(parsed.qname_len == wire_len && memcmp(parsed.qname, wire, wire_len) == 0);
    check(parsed.has_edns && parsed.edns_udp_size == DJ_DNS_EDNS_UDP_SIZE);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    fuzz_response(data, size);
    fuzz_name(data + 1, size - 1);
    return 0;
}
