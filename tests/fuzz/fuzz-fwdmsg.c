/* Reads any bytes as an upstream's answer to a forwarded query and checks what the stub
 * relies on: dj_fwdmsg_scan never reads outside the message, and a message it accepts turns
 * into a client copy that fits the client's limit, carries the client's id and question, and
 * is itself a valid answer to that question with every TTL at most the cap.
 *
 * Input: one selector byte, then the response (the same layout as the dnsanswer corpus, whose
 * captured dnsmasq and unbound answers seed tests/fuzz/corpus/fwdmsg). Selector bit 0: the
 * client sent EDNS; bit 1: the client is on UDP without EDNS (512-byte limit), else TCP;
 * bit 2: the client's question is upper-cased; bits 3-7: seconds elapsed (x 7). The question
 * is the response's own, when its first name is uncompressed and well-formed. */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/fwdmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t out[65536];

#define check(condition) check_at((condition), __LINE__)

static void check_at(int condition, int line)
{
    if (!condition) {
        fprintf(stderr, "fuzz-fwdmsg: check on line %d failed\n", line);
        abort();
    }
}

static size_t first_name(const uint8_t *msg, size_t len, uint8_t *name)
{
    size_t pos = DJ_DNS_HEADER_SIZE;

    while (pos < len) {
        size_t label_len = msg[pos];

        if (label_len > DJ_DNS_MAX_LABEL || pos + 1 + label_len > len ||
            pos - DJ_DNS_HEADER_SIZE + 1 + label_len > DJ_DNS_MAX_NAME)
            return 0;
        if (label_len == 0) {
            size_t name_len = pos + 1 - DJ_DNS_HEADER_SIZE;

            memcpy(name, msg + DJ_DNS_HEADER_SIZE, name_len);
            return name_len;
        }
        pos += 1 + label_len;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dj_dns_query q;
    struct dj_fwdmsg_info info, again;
    const uint8_t *msg;
    uint8_t selector;
    size_t len, limit, n, pos;
    uint32_t elapsed, cap = 300;
    bool truncated;

    if (size < 1)
        return 0;
    selector = data[0];
    msg = data + 1;
    len = size - 1;
    memset(&q, 0, sizeof(q));
    q.qname_len = first_name(msg, len, q.qname);
    if (q.qname_len == 0) {
        memcpy(q.qname, "\7example\4test", 14);
        q.qname_len = 14;
    }
    pos = DJ_DNS_HEADER_SIZE + q.qname_len;
    q.qtype = pos + 4 <= len ? (uint16_t)((msg[pos] << 8) | msg[pos + 1]) : 1;
    q.qclass = pos + 4 <= len ? (uint16_t)((msg[pos + 2] << 8) | msg[pos + 3]) : 1;
    if (selector & 4)
        for (size_t i = 0; i < q.qname_len; i++)
            if (q.qname[i] >= 'a' && q.qname[i] <= 'z')
                q.qname[i] = (uint8_t)(q.qname[i] - 32);
    q.result = DJ_DNS_PARSE_OK;
    q.has_question = true;
    q.id = 0xbeef;
    q.flags = 0x0100;
    q.has_edns = (selector & 1) != 0;
    q.edns_udp_size = 1232;
    elapsed = (uint32_t)(selector >> 3) * 7;
    limit = (selector & 2) ? (q.has_edns ? 1232 : 512) : 65535;

    n = dj_fwdmsg_build_error(&q, DJ_DNS_RCODE_SERVFAIL, out, sizeof(out));
    check(n >= DJ_DNS_HEADER_SIZE + q.qname_len + 4);

    if (dj_fwdmsg_scan(msg, len, q.qname, q.qname_len, q.qtype, q.qclass, &info) != NULL)
        return 0;
    check(info.length <= len);
    check(!info.cacheable || info.lifetime <= 0x7fffffffu);
    n = dj_fwdmsg_build_reply(msg, len, &q, elapsed, cap, limit, out, sizeof(out), &truncated);
    if (n == 0)
        return 0;
    check(n <= limit);
    check(out[0] == 0xbe && out[1] == 0xef);
    check(memcmp(out + DJ_DNS_HEADER_SIZE, q.qname, q.qname_len) == 0);
    check(dj_fwdmsg_scan(out, n, q.qname, q.qname_len, q.qtype, q.qclass, &again) == NULL);
    check(again.length == n);
    check(!again.cacheable || again.lifetime <= cap);
    return 0;
}
