/* Parses any packet as a query, builds every response the stub could send for it (UDP at the
 * client's limit, tiny limits, TCP), renders the log fields, and checks the invariants the
 * stub relies on. */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dnswire.h"
#include "daemon/jsonlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int condition)
{
    if (!condition)
        abort();
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t limits[] = {0, 11, 12, 13, 20, 40, 100, 512, 65535};
    struct dj_dns_policy policy;
    struct dj_dns_query q;
    uint8_t *packet;
    uint8_t out[DJ_DNS_MAX_RESPONSE];
    char name[DJ_DNS_MAX_NAME_TEXT];
    char type_text[DJ_DNS_TYPE_TEXT_SIZE];
    char rcode_text[DJ_DNS_RCODE_TEXT_SIZE];
    char line[DJ_JSON_LINE_MAX];
    enum dj_dns_parse_result result;
    struct dj_json j;

    /* An exact-size copy, so ASan sees any read past the packet. */
    packet = malloc(size > 0 ? size : 1);
    if (packet == NULL)
        return 0;
    memcpy(packet, data, size);

    memset(&policy, 0, sizeof(policy));
    inet_pton(AF_INET, "6.6.6.6", &policy.sinkhole4);
    policy.have_sinkhole6 = size > 0 && (data[0] & 1);
    inet_pton(AF_INET6, "2001:db8::6", &policy.sinkhole6);
    policy.ttl = 5;

    result = dj_dns_parse_query(packet, size, &q);
    check(result == q.result);
    check((result == DJ_DNS_PARSE_OK) == (q.problem == NULL));
    check(q.qname_len <= DJ_DNS_MAX_NAME);
    if (result == DJ_DNS_PARSE_OK)
        check(q.has_question && q.qname_len >= 1 && q.qname[q.qname_len - 1] == 0);
    if (q.has_edns)
        check(q.edns_udp_size >= DJ_DNS_UDP_DEFAULT_SIZE);

    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]) + 2; i++) {
        size_t limit = i < sizeof(limits) / sizeof(limits[0])
                           ? limits[i]
                           : dj_dns_response_limit(&q, i % 2 == 0);
        struct dj_dns_outcome outcome;
        size_t n = dj_dns_build_response(&q, &policy, limit, out, sizeof(out), &outcome);

        check(n <= limit && n <= sizeof(out));
        if (result == DJ_DNS_PARSE_DROP || limit < DJ_DNS_HEADER_SIZE) {
            check(n == 0);
            continue;
        }
        check(n >= DJ_DNS_HEADER_SIZE);
        /* Every response answers the asker's id, as a response, and at most one record. */
        check(get16(out) == q.id);
        check((out[2] & 0x80) != 0);
        check(get16(out + 6) <= 1 && get16(out + 8) == 0 && get16(out + 10) <= 1);
        if (limit >= DJ_DNS_UDP_DEFAULT_SIZE)
            check(!outcome.truncated);
        if (result == DJ_DNS_PARSE_OK && limit >= DJ_DNS_UDP_DEFAULT_SIZE) {
            /* The response must itself be a well-formed message (our parser reads it once
             * QR is cleared; it walks over the answer), with the same question and EDNS. */
            struct dj_dns_query echo;

            out[2] &= 0x7F;
            check(dj_dns_parse_query(out, n, &echo) == DJ_DNS_PARSE_OK);
            check(echo.qname_len == q.qname_len && memcmp(echo.qname, q.qname, q.qname_len) == 0);
            check(echo.qtype == q.qtype && echo.qclass == q.qclass);
            check(echo.has_edns == q.has_edns && echo.edns_do == q.edns_do);
        }
    }

    dj_dns_name_to_text(q.qname, q.qname_len, name, sizeof(name));
    check(strlen(name) < sizeof(name));
    /* The raw bytes as a name too: malformed input must stop cleanly. */
    dj_dns_name_to_text(packet, size, name, sizeof(name));
    dj_dns_type_text(q.qtype, type_text);
    dj_dns_rcode_text((uint16_t)(size * 7), rcode_text);

    dj_json_begin(&j, line, sizeof(line));
    dj_json_add_cstring(&j, "qname", name);
    dj_json_add_string(&j, "raw", (const char *)packet, size);
    check(dj_json_end(&j) < sizeof(line));
    /* A small buffer gets cut, never overrun. */
    dj_json_begin(&j, line, DJ_JSON_MIN_SIZE + size % 64);
    dj_json_add_string(&j, "raw", (const char *)packet, size);
    check(dj_json_end(&j) < DJ_JSON_MIN_SIZE + size % 64);

    free(packet);
    return 0;
}
