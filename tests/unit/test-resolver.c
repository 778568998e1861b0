/* Tests lib/dns/dnsanswer on hand-built responses, then lib/dns/resolver end to end against fake
 * DNS servers that this process runs itself on 127.0.0.1 (UDP and TCP, driven from the same poll
 * loop as the resolver, so every scenario is deterministic). Loopback only. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dns/dnsanswer.h"
#include "dns/dnswire.h"
#include "dns/dot.h"
#include "daemon/jsonlog.h"
#include "dns/resolver.h"

#define QR 0x8000
#define AA 0x0400
#define TC 0x0200
#define RD 0x0100
#define RA 0x0080
#define CLASS_CH 3

/* ---- packet construction --------------------------------------------------------------- */

struct packet {
    uint8_t bytes[4096];
    size_t len;
};

static void put(struct packet *p, const void *data, size_t len)
{
    assert_true(p->len + len <= sizeof(p->bytes));
    memcpy(p->bytes + p->len, data, len);
    p->len += len;
}

static void put8(struct packet *p, uint8_t v)
{
    put(p, &v, 1);
}

static void put16(struct packet *p, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(p, b, 2);
}

static void put32(struct packet *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p, (uint16_t)v);
}

/* "www.example.test" -> wire form, uncompressed; "" is the root. */
static void put_name(struct packet *p, const char *name)
{
    while (*name != '\0') {
        const char *dot = strchr(name, '.');
        size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);

        put8(p, (uint8_t)len);
        put(p, name, len);
        name += len + (dot != NULL ? 1 : 0);
    }
    put8(p, 0);
}

static void put_ptr(struct packet *p, size_t offset)
{
    put16(p, (uint16_t)(0xC000 | offset));
}

/* Header and the question (its name at offset 12, uncompressed). */
static void response_head(struct packet *p, uint16_t id, uint16_t flags, const char *qname,
                          uint16_t qtype, uint16_t an, uint16_t ns, uint16_t ar)
{
    p->len = 0;
    put16(p, id);
    put16(p, flags);
    put16(p, 1);
    put16(p, an);
    put16(p, ns);
    put16(p, ar);
    put_name(p, qname);
    put16(p, qtype);
    put16(p, DJ_DNS_CLASS_IN);
}

/* Fixed part of a record; the owner goes before it. */
static void put_rr(struct packet *p, uint16_t type, uint16_t rclass, uint32_t ttl,
                   uint16_t rdlength)
{
    put16(p, type);
    put16(p, rclass);
    put32(p, ttl);
    put16(p, rdlength);
}

static void put_a(struct packet *p, const char *owner, uint32_t ttl, const char *addr)
{
    uint8_t b[4];

    assert_int_equal(inet_pton(AF_INET, addr, b), 1);
    if (owner == NULL)
        put_ptr(p, DJ_DNS_HEADER_SIZE);
    else
        put_name(p, owner);
    put_rr(p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, ttl, 4);
    put(p, b, 4);
}

static void put_aaaa(struct packet *p, const char *owner, uint32_t ttl, const char *addr)
{
    uint8_t b[16];

    assert_int_equal(inet_pton(AF_INET6, addr, b), 1);
    if (owner == NULL)
        put_ptr(p, DJ_DNS_HEADER_SIZE);
    else
        put_name(p, owner);
    put_rr(p, DJ_DNS_TYPE_AAAA, DJ_DNS_CLASS_IN, ttl, 16);
    put(p, b, 16);
}

/* A CNAME with an uncompressed target (OWNER NULL: the question name). */
static void put_cname(struct packet *p, const char *owner, uint32_t ttl, const char *target)
{
    struct packet t = {.len = 0};

    put_name(&t, target);
    if (owner == NULL)
        put_ptr(p, DJ_DNS_HEADER_SIZE);
    else
        put_name(p, owner);
    put_rr(p, DJ_DNS_TYPE_CNAME, DJ_DNS_CLASS_IN, ttl, (uint16_t)t.len);
    put(p, t.bytes, t.len);
}

static void put_soa(struct packet *p, const char *zone, uint32_t ttl, uint32_t minimum)
{
    struct packet t = {.len = 0};

    put_name(&t, "ns.test");
    put_name(&t, "admin.test");
    put32(&t, 2024010101);
    put32(&t, 3600);
    put32(&t, 600);
    put32(&t, 86400);
    put32(&t, minimum);
    put_name(p, zone);
    put_rr(p, DJ_DNS_TYPE_SOA, DJ_DNS_CLASS_IN, ttl, (uint16_t)t.len);
    put(p, t.bytes, t.len);
}

static enum dj_dnsanswer_status parse(const struct packet *p, uint16_t id, const char *qname,
                                      uint16_t qtype, struct dj_dns_answer *a)
{
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len;
    struct dj_dns_question q;

    assert_null(dj_dns_name_from_text(qname, wire, &wire_len));
    q.id = id;
    q.qtype = qtype;
    q.qname = wire;
    q.qname_len = wire_len;
    return dj_dns_parse_answer(p->bytes, p->len, &q, a);
}

static void assert_addr4(const struct dj_dns_answer *a, size_t i, const char *text)
{
    uint8_t b[4];

    assert_int_equal(inet_pton(AF_INET, text, b), 1);
    assert_true(i < a->n_addrs);
    assert_memory_equal(a->addrs[i], b, 4);
}

/* ---- dnsanswer: positive answers ------------------------------------------------------- */

static void test_answer_a(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 0x1234, QR | RD | RA, "www.example.test", DJ_DNS_TYPE_A, 2, 0, 0);
    put_a(&p, NULL, 300, "192.0.2.1");
    put_a(&p, NULL, 200, "192.0.2.2");
    assert_int_equal(parse(&p, 0x1234, "www.example.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    assert_int_equal(a.n_addrs, 2);
    assert_int_equal(a.addr_len, 4);
    assert_addr4(&a, 0, "192.0.2.1");
    assert_addr4(&a, 1, "192.0.2.2");
    assert_int_equal(a.ttl, 200);
    assert_int_equal(a.cnames, 0);
    assert_null(a.problem);
}

static void test_answer_aaaa(void **state)
{
    struct packet p;
    struct dj_dns_answer a;
    uint8_t want[16];

    (void)state;
    response_head(&p, 7, QR | RD | RA, "v6.example.test", DJ_DNS_TYPE_AAAA, 1, 0, 0);
    put_aaaa(&p, NULL, 60, "2001:db8::1");
    assert_int_equal(parse(&p, 7, "v6.example.test", DJ_DNS_TYPE_AAAA, &a), DJ_DNSANSWER_OK);
    assert_int_equal(a.n_addrs, 1);
    assert_int_equal(a.addr_len, 16);
    inet_pton(AF_INET6, "2001:db8::1", want);
    assert_memory_equal(a.addrs[0], want, 16);
    assert_int_equal(a.ttl, 60);
}

static void test_answer_case_insensitive(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    /* The server echoes 0x20-mixed case and owners in yet another case. */
    response_head(&p, 9, QR | RA, "WwW.ExAmPlE.tEsT", DJ_DNS_TYPE_A, 1, 0, 0);
    put_a(&p, "www.EXAMPLE.test", 30, "192.0.2.3");
    assert_int_equal(parse(&p, 9, "www.example.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    assert_addr4(&a, 0, "192.0.2.3");
}

static void test_answer_cname_chain(void **state)
{
    struct packet p;
    struct dj_dns_answer a;
    char text[DJ_DNS_MAX_NAME_TEXT];

    (void)state;
    /* www -> edge.cdn.test -> host.cdn.test (A), records out of order, and an A record for
     * a name off the chain that must not be picked up. */
    response_head(&p, 1, QR | RD | RA, "www.example.test", DJ_DNS_TYPE_A, 5, 0, 0);
    put_a(&p, "host.cdn.test", 300, "192.0.2.10");
    put_cname(&p, "edge.cdn.test", 120, "host.cdn.test");
    put_a(&p, "other.test", 300, "203.0.113.66");
    put_cname(&p, NULL, 600, "edge.cdn.test");
    put_a(&p, "host.cdn.test", 300, "192.0.2.11");
    assert_int_equal(parse(&p, 1, "www.example.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    assert_int_equal(a.cnames, 2);
    assert_int_equal(a.n_addrs, 2);
    assert_addr4(&a, 0, "192.0.2.10");
    assert_addr4(&a, 1, "192.0.2.11");
    assert_int_equal(a.ttl, 120); /* the minimum over the chain */
    dj_dns_name_to_text(a.final_name, a.final_name_len, text, sizeof(text));
    assert_string_equal(text, "host.cdn.test");
}

static void test_answer_cname_compressed(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    /* CNAME www.example.test -> alias.example.test, the target written as "alias" plus a
     * pointer to "example.test" inside the question; the A record's owner points at it. */
    response_head(&p, 2, QR | RA, "www.example.test", DJ_DNS_TYPE_A, 2, 0, 0);
    put_ptr(&p, DJ_DNS_HEADER_SIZE);
    put_rr(&p, DJ_DNS_TYPE_CNAME, DJ_DNS_CLASS_IN, 100, 8);
    {
        size_t target = p.len;

        put8(&p, 5);
        put(&p, "alias", 5);
        put_ptr(&p, DJ_DNS_HEADER_SIZE + 4); /* "example.test" */
        put_ptr(&p, target);
    }
    put_rr(&p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 50, 4);
    put(&p, "\xc0\x00\x02\x07", 4);
    assert_int_equal(parse(&p, 2, "www.example.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    assert_int_equal(a.cnames, 1);
    assert_addr4(&a, 0, "192.0.2.7");
    assert_int_equal(a.ttl, 50);
}

static void test_answer_cname_chain_limits(void **state)
{
    char names[10][32];
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    for (int i = 0; i < 10; i++)
        snprintf(names[i], sizeof(names[i]), "n%d.chain.test", i);

    /* Exactly DJ_DNSANSWER_MAX_CNAMES links: followed. */
    response_head(&p, 3, QR | RA, names[0], DJ_DNS_TYPE_A, DJ_DNSANSWER_MAX_CNAMES + 1, 0, 0);
    for (int i = 0; i < DJ_DNSANSWER_MAX_CNAMES; i++)
        put_cname(&p, names[i], 60, names[i + 1]);
    put_a(&p, names[DJ_DNSANSWER_MAX_CNAMES], 60, "192.0.2.8");
    assert_int_equal(parse(&p, 3, names[0], DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    assert_int_equal(a.cnames, DJ_DNSANSWER_MAX_CNAMES);

    /* One more: refused. */
    response_head(&p, 3, QR | RA, names[0], DJ_DNS_TYPE_A, DJ_DNSANSWER_MAX_CNAMES + 2, 0, 0);
    for (int i = 0; i <= DJ_DNSANSWER_MAX_CNAMES; i++)
        put_cname(&p, names[i], 60, names[i + 1]);
    put_a(&p, names[DJ_DNSANSWER_MAX_CNAMES + 1], 60, "192.0.2.8");
    assert_int_equal(parse(&p, 3, names[0], DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "CNAME chain longer than 8");
    assert_int_equal(a.n_addrs, 0);
}

static void test_answer_cname_loop(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 4, QR | RA, "a.loop.test", DJ_DNS_TYPE_A, 3, 0, 0);
    put_cname(&p, "a.loop.test", 60, "b.loop.test");
    put_cname(&p, "b.loop.test", 60, "A.LOOP.test");
    put_a(&p, "a.loop.test", 60, "192.0.2.1");
    assert_int_equal(parse(&p, 4, "a.loop.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "CNAME loop");

    /* A name that is its own alias. */
    response_head(&p, 4, QR | RA, "a.loop.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put_cname(&p, NULL, 60, "a.loop.test");
    assert_int_equal(parse(&p, 4, "a.loop.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "CNAME loop");
}

static void test_answer_two_cnames(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 5, QR | RA, "x.test", DJ_DNS_TYPE_A, 3, 0, 0);
    put_cname(&p, NULL, 60, "y.test");
    put_cname(&p, NULL, 60, "z.test");
    put_a(&p, "y.test", 60, "192.0.2.1");
    assert_int_equal(parse(&p, 5, "x.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "two CNAME records for one name");
}

static void test_answer_chain_not_from_qname(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    /* Records about other names only: nothing of them may become our answer. */
    response_head(&p, 6, QR | RA, "asked.test", DJ_DNS_TYPE_A, 2, 0, 0);
    put_cname(&p, "other.test", 60, "evil.test");
    put_a(&p, "evil.test", 60, "203.0.113.66");
    assert_int_equal(parse(&p, 6, "asked.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_NODATA);
    assert_int_equal(a.n_addrs, 0);
    assert_int_equal(a.cnames, 0);
    assert_int_equal(a.ttl, 0); /* no SOA */
}

static void test_answer_cname_with_other_data(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    /* An A record beside a CNAME for the same owner is dropped; the target's counts. */
    response_head(&p, 6, QR | RA, "asked.test", DJ_DNS_TYPE_A, 3, 0, 0);
    put_a(&p, NULL, 60, "203.0.113.66");
    put_cname(&p, NULL, 60, "real.test");
    put_a(&p, "real.test", 60, "192.0.2.5");
    assert_int_equal(parse(&p, 6, "asked.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    assert_int_equal(a.n_addrs, 1);
    assert_addr4(&a, 0, "192.0.2.5");
}

static void test_answer_many_and_duplicate_addresses(void **state)
{
    struct packet p;
    struct dj_dns_answer a;
    char addr[32];

    (void)state;
    response_head(&p, 8, QR | RA, "many.test", DJ_DNS_TYPE_A, 23, 0, 0);
    for (int i = 0; i < 3; i++)
        put_a(&p, NULL, 60, "192.0.2.200");
    for (int i = 0; i < 20; i++) {
        snprintf(addr, sizeof(addr), "198.51.100.%d", i + 1);
        put_a(&p, NULL, 60 + (uint32_t)i, addr);
    }
    assert_int_equal(parse(&p, 8, "many.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    assert_int_equal(a.n_addrs, DJ_DNSANSWER_MAX_ADDRS);
    assert_addr4(&a, 0, "192.0.2.200");
    assert_addr4(&a, 1, "198.51.100.1");
    assert_int_equal(a.ttl, 60);
}

static void test_answer_ttl_top_bit(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 8, QR | RA, "t.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put_a(&p, NULL, 0x80000010u, "192.0.2.1");
    assert_int_equal(parse(&p, 8, "t.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    assert_int_equal(a.ttl, 0);
}

/* ---- dnsanswer: negative answers and errors -------------------------------------------- */

static void test_answer_nxdomain_soa(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 10, QR | AA | RA | DJ_DNS_RCODE_NXDOMAIN, "missing.example.test",
                  DJ_DNS_TYPE_A, 0, 1, 0);
    put_soa(&p, "example.test", 3600, 300);
    assert_int_equal(parse(&p, 10, "missing.example.test", DJ_DNS_TYPE_A, &a),
                     DJ_DNSANSWER_NXDOMAIN);
    assert_int_equal(a.ttl, 300); /* min(SOA TTL, MINIMUM) */
    assert_int_equal(a.n_addrs, 0);

    response_head(&p, 10, QR | AA | RA | DJ_DNS_RCODE_NXDOMAIN, "missing.example.test",
                  DJ_DNS_TYPE_A, 0, 1, 0);
    put_soa(&p, "example.test", 45, 300);
    assert_int_equal(parse(&p, 10, "missing.example.test", DJ_DNS_TYPE_A, &a),
                     DJ_DNSANSWER_NXDOMAIN);
    assert_int_equal(a.ttl, 45);
}

static void test_answer_nxdomain_soa_compressed(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    /* SOA owner, MNAME and RNAME all compressed against the question. */
    response_head(&p, 11, QR | RA | DJ_DNS_RCODE_NXDOMAIN, "gone.example.test", DJ_DNS_TYPE_AAAA, 0,
                  1, 0);
    put_ptr(&p, DJ_DNS_HEADER_SIZE + 5);                           /* example.test */
    put_rr(&p, DJ_DNS_TYPE_SOA, DJ_DNS_CLASS_IN, 900, 5 + 2 + 20); /* MNAME, RNAME, fixed */
    put8(&p, 2);
    put(&p, "ns", 2);
    put_ptr(&p, DJ_DNS_HEADER_SIZE + 5);
    put_ptr(&p, DJ_DNS_HEADER_SIZE + 5);
    put32(&p, 1);
    put32(&p, 2);
    put32(&p, 3);
    put32(&p, 4);
    put32(&p, 120);
    assert_int_equal(parse(&p, 11, "gone.example.test", DJ_DNS_TYPE_AAAA, &a),
                     DJ_DNSANSWER_NXDOMAIN);
    assert_int_equal(a.ttl, 120);

    /* The same with the SOA's rdlength one byte short (its low byte sits just before the
     * 27 bytes of data). */
    p.bytes[p.len - 27 - 1] = 26;
    assert_int_equal(parse(&p, 11, "gone.example.test", DJ_DNS_TYPE_AAAA, &a),
                     DJ_DNSANSWER_MALFORMED);
}

static void test_answer_negative_soa_elsewhere(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    /* An SOA for a zone that does not contain the name says nothing about it. */
    response_head(&p, 12, QR | RA | DJ_DNS_RCODE_NXDOMAIN, "missing.example.test", DJ_DNS_TYPE_A, 0,
                  1, 0);
    put_soa(&p, "other.test", 3600, 3600);
    assert_int_equal(parse(&p, 12, "missing.example.test", DJ_DNS_TYPE_A, &a),
                     DJ_DNSANSWER_NXDOMAIN);
    assert_int_equal(a.ttl, 0);
}

static void test_answer_nodata(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 13, QR | AA | RA, "v4only.example.test", DJ_DNS_TYPE_AAAA, 0, 1, 0);
    put_soa(&p, "example.test", 600, 60);
    assert_int_equal(parse(&p, 13, "v4only.example.test", DJ_DNS_TYPE_AAAA, &a),
                     DJ_DNSANSWER_NODATA);
    assert_int_equal(a.ttl, 60);
    assert_int_equal(a.n_addrs, 0);

    /* NODATA at the end of a CNAME chain: bounded by the CNAME's TTL too. */
    response_head(&p, 13, QR | AA | RA, "alias.example.test", DJ_DNS_TYPE_AAAA, 1, 1, 0);
    put_cname(&p, NULL, 20, "v4only.example.test");
    put_soa(&p, "example.test", 600, 60);
    assert_int_equal(parse(&p, 13, "alias.example.test", DJ_DNS_TYPE_AAAA, &a),
                     DJ_DNSANSWER_NODATA);
    assert_int_equal(a.ttl, 20);
    assert_int_equal(a.cnames, 1);
}

static void test_answer_nxdomain_after_cname(void **state)
{
    struct packet p;
    struct dj_dns_answer a;
    char text[DJ_DNS_MAX_NAME_TEXT];

    (void)state;
    response_head(&p, 14, QR | RA | DJ_DNS_RCODE_NXDOMAIN, "alias.example.test", DJ_DNS_TYPE_A, 1,
                  1, 0);
    put_cname(&p, NULL, 600, "target.other.test");
    put_soa(&p, "other.test", 600, 30);
    assert_int_equal(parse(&p, 14, "alias.example.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_NXDOMAIN);
    assert_int_equal(a.ttl, 30);
    dj_dns_name_to_text(a.final_name, a.final_name_len, text, sizeof(text));
    assert_string_equal(text, "target.other.test");
}

static void test_answer_rcodes(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 15, QR | RA | DJ_DNS_RCODE_SERVFAIL, "x.test", DJ_DNS_TYPE_A, 0, 0, 0);
    assert_int_equal(parse(&p, 15, "x.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_SERVFAIL);
    response_head(&p, 15, QR | RA | DJ_DNS_RCODE_REFUSED, "x.test", DJ_DNS_TYPE_A, 0, 0, 0);
    assert_int_equal(parse(&p, 15, "x.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_REJECTED);
    assert_int_equal(a.rcode, DJ_DNS_RCODE_REFUSED);
    response_head(&p, 15, QR | RA | DJ_DNS_RCODE_NOTIMP, "x.test", DJ_DNS_TYPE_A, 0, 0, 0);
    assert_int_equal(parse(&p, 15, "x.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_REJECTED);

    /* BADVERS: rcode 16, the upper bits in the OPT record; the header alone says NOERROR. */
    response_head(&p, 15, QR | RA, "x.test", DJ_DNS_TYPE_A, 0, 0, 1);
    put8(&p, 0);
    put_rr(&p, DJ_DNS_TYPE_OPT, 1232, 0x01000000u, 0);
    assert_int_equal(parse(&p, 15, "x.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_REJECTED);
    assert_int_equal(a.rcode, DJ_DNS_RCODE_BADVERS);

    /* Two OPT records. */
    response_head(&p, 15, QR | RA, "x.test", DJ_DNS_TYPE_A, 0, 0, 2);
    put8(&p, 0);
    put_rr(&p, DJ_DNS_TYPE_OPT, 1232, 0, 0);
    put8(&p, 0);
    put_rr(&p, DJ_DNS_TYPE_OPT, 1232, 0, 0);
    assert_int_equal(parse(&p, 15, "x.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
}

static void test_answer_truncated_flag(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    /* TC with a partial answer section that would not even parse. */
    response_head(&p, 16, QR | RA | TC, "big.test", DJ_DNS_TYPE_A, 40, 0, 0);
    put_a(&p, NULL, 60, "192.0.2.1");
    assert_int_equal(parse(&p, 16, "big.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_TRUNCATED);
    assert_int_equal(a.n_addrs, 0);
}

static void test_answer_mismatch(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 17, QR | RA, "q.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put_a(&p, NULL, 60, "192.0.2.1");
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);

    assert_int_equal(parse(&p, 18, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    assert_string_equal(a.problem, "another id");
    assert_int_equal(parse(&p, 17, "r.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    assert_int_equal(parse(&p, 17, "q.test.example", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_AAAA, &a), DJ_DNSANSWER_MISMATCH);

    /* QR=0: a query, e.g. our own reflected back. */
    p.bytes[2] &= 0x7F;
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    p.bytes[2] |= 0x80;
    /* Opcode 2 (STATUS). */
    p.bytes[2] |= 0x10;
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    p.bytes[2] &= (uint8_t)~0x10;
    /* QDCOUNT 0 and 2. */
    p.bytes[5] = 0;
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    p.bytes[5] = 2;
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    p.bytes[5] = 1;
    /* Class CH in the question. */
    p.bytes[DJ_DNS_HEADER_SIZE + 8 + 3] = CLASS_CH;
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    p.bytes[DJ_DNS_HEADER_SIZE + 8 + 3] = DJ_DNS_CLASS_IN;
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);

    p.len = 11;
    assert_int_equal(parse(&p, 17, "q.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
    assert_string_equal(a.problem, "shorter than a DNS header");
}

static void test_answer_wrong_class_and_rdlength(void **state)
{
    struct packet p;
    struct dj_dns_answer a;

    (void)state;
    response_head(&p, 19, QR | RA, "c.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put_ptr(&p, DJ_DNS_HEADER_SIZE);
    put_rr(&p, DJ_DNS_TYPE_A, CLASS_CH, 60, 4);
    put(&p, "\xc0\x00\x02\x01", 4);
    assert_int_equal(parse(&p, 19, "c.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "answer record of a class other than IN");

    response_head(&p, 19, QR | RA, "c.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put_ptr(&p, DJ_DNS_HEADER_SIZE);
    put_rr(&p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 60, 5);
    put(&p, "\xc0\x00\x02\x01\x00", 5);
    assert_int_equal(parse(&p, 19, "c.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "A record whose data is not 4 bytes");

    response_head(&p, 19, QR | RA, "c.test", DJ_DNS_TYPE_AAAA, 1, 0, 0);
    put_ptr(&p, DJ_DNS_HEADER_SIZE);
    put_rr(&p, DJ_DNS_TYPE_AAAA, DJ_DNS_CLASS_IN, 60, 4);
    put(&p, "\xc0\x00\x02\x01", 4);
    assert_int_equal(parse(&p, 19, "c.test", DJ_DNS_TYPE_AAAA, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "AAAA record whose data is not 16 bytes");

    /* CNAME data longer than its name. */
    response_head(&p, 19, QR | RA, "c.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put_ptr(&p, DJ_DNS_HEADER_SIZE);
    put_rr(&p, DJ_DNS_TYPE_CNAME, DJ_DNS_CLASS_IN, 60, 4);
    put(&p, "\x01x\x00\x00", 4);
    assert_int_equal(parse(&p, 19, "c.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);

    /* rdlength past the end of the message. */
    response_head(&p, 19, QR | RA, "c.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put_ptr(&p, DJ_DNS_HEADER_SIZE);
    put_rr(&p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 60, 4);
    put(&p, "\xc0\x00", 2);
    assert_int_equal(parse(&p, 19, "c.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "record data runs past the end of the message");
}

static void test_answer_compression_attacks(void **state)
{
    struct packet p;
    struct dj_dns_answer a;
    size_t at;

    (void)state;
    /* An owner that points at itself. */
    response_head(&p, 20, QR | RA, "z.test", DJ_DNS_TYPE_A, 1, 0, 0);
    at = p.len;
    put_ptr(&p, at);
    put_rr(&p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 60, 4);
    put(&p, "\xc0\x00\x02\x01", 4);
    assert_int_equal(parse(&p, 20, "z.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "compression pointer does not point backwards");

    /* Two names pointing at each other: the second is read first as a forward pointer. */
    response_head(&p, 20, QR | RA, "z.test", DJ_DNS_TYPE_A, 2, 0, 0);
    at = p.len;
    put_ptr(&p, at + 16); /* the next record's owner */
    put_rr(&p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 60, 4);
    put(&p, "\xc0\x00\x02\x01", 4);
    put_ptr(&p, at);
    put_rr(&p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 60, 4);
    put(&p, "\xc0\x00\x02\x01", 4);
    assert_int_equal(parse(&p, 20, "z.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);

    /* A pointer far past the end of the message. */
    response_head(&p, 20, QR | RA, "z.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put16(&p, 0xFFFF);
    put_rr(&p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 60, 4);
    put(&p, "\xc0\x00\x02\x01", 4);
    assert_int_equal(parse(&p, 20, "z.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);

    /* A pointer cut in half by the end of the message. */
    response_head(&p, 20, QR | RA, "z.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put8(&p, 0xC0);
    assert_int_equal(parse(&p, 20, "z.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "name runs past the end of the message");

    /* A pointer into the header. */
    response_head(&p, 20, QR | RA, "z.test", DJ_DNS_TYPE_A, 1, 0, 0);
    put_ptr(&p, 2);
    put_rr(&p, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 60, 4);
    put(&p, "\xc0\x00\x02\x01", 4);
    assert_int_equal(parse(&p, 20, "z.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MALFORMED);
    assert_string_equal(a.problem, "compression pointer into the header");

    /* A question name made of a pointer to itself: not an answer to anything. */
    p.len = 0;
    put16(&p, 20);
    put16(&p, QR);
    put16(&p, 1);
    put16(&p, 0);
    put16(&p, 0);
    put16(&p, 0);
    put_ptr(&p, DJ_DNS_HEADER_SIZE);
    put16(&p, DJ_DNS_TYPE_A);
    put16(&p, DJ_DNS_CLASS_IN);
    assert_int_equal(parse(&p, 20, "z.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_MISMATCH);
}

static void test_answer_every_truncation(void **state)
{
    struct packet p, cut;
    struct dj_dns_answer a;
    size_t question_end;

    (void)state;
    response_head(&p, 21, QR | RA, "www.example.test", DJ_DNS_TYPE_A, 2, 1, 1);
    question_end = p.len;
    put_cname(&p, NULL, 60, "host.example.test");
    put_a(&p, "host.example.test", 60, "192.0.2.1");
    put_soa(&p, "example.test", 60, 60);
    put8(&p, 0);
    put_rr(&p, DJ_DNS_TYPE_OPT, 1232, 0, 0);
    assert_int_equal(parse(&p, 21, "www.example.test", DJ_DNS_TYPE_A, &a), DJ_DNSANSWER_OK);
    for (size_t len = 0; len < p.len; len++) {
        enum dj_dnsanswer_status status;

        cut = p;
        cut.len = len;
        status = parse(&cut, 21, "www.example.test", DJ_DNS_TYPE_A, &a);
        assert_int_equal(status,
                         len < question_end ? DJ_DNSANSWER_MISMATCH : DJ_DNSANSWER_MALFORMED);
        assert_int_equal(a.n_addrs, 0);
    }
}

/* ---- query building and names ---------------------------------------------------------- */

static void test_build_query(void **state)
{
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len;
    uint8_t out[DJ_DNS_MAX_QUERY];
    size_t len;
    struct dj_dns_query q;

    (void)state;
    assert_null(dj_dns_name_from_text("Www.Example.Test.", wire, &wire_len));
    len = dj_dns_build_query(0xBEEF, wire, wire_len, DJ_DNS_TYPE_AAAA, out, sizeof(out));
    assert_int_equal(len, DJ_DNS_HEADER_SIZE + wire_len + 4 + 11);
    /* The stub's parser reads it as a well-formed query with our EDNS size. */
    assert_int_equal(dj_dns_parse_query(out, len, &q), DJ_DNS_PARSE_OK);
    assert_int_equal(q.id, 0xBEEF);
    assert_true(q.flags & RD);
    assert_int_equal(q.qtype, DJ_DNS_TYPE_AAAA);
    assert_int_equal(q.qclass, DJ_DNS_CLASS_IN);
    assert_int_equal(q.qname_len, wire_len);
    assert_memory_equal(q.qname,
                        "\x03www\x07"
                        "example\x04test\x00",
                        wire_len);
    assert_true(q.has_edns);
    assert_int_equal(q.edns_udp_size, DJ_DNS_EDNS_UDP_SIZE);
    assert_int_equal(q.edns_version, 0);

    /* Too small a buffer, a broken name. */
    assert_int_equal(dj_dns_build_query(1, wire, wire_len, DJ_DNS_TYPE_A, out, len - 1), 0);
    assert_int_equal(
        dj_dns_build_query(1, (const uint8_t *)"\x03www", 4, DJ_DNS_TYPE_A, out, sizeof(out)), 0);
    assert_int_equal(
        dj_dns_build_query(1, (const uint8_t *)"\x40", 1, DJ_DNS_TYPE_A, out, sizeof(out)), 0);
}

static void test_name_from_text(void **state)
{
    static const char *const good[] = {
        "example.test", "EXAMPLE.test.", "a",      "xn--bcher-kva.example", "_srv.example.test",
        "a-b.c_d.test", "1.2.3.example", "123abc",
    };
    static const char *const bad[] = {
        "",           ".",           "..",
        ".example",   "a..b",        "a.b..",
        "a b.test",   "a*.test",     "ex\xc3\xa4mple.test",
        "a/b",        "1.2.3.4",     "1.2.3.4.",
        "127.1",      "0x7f000001",  "0x7f.1",
        "2130706433", "example.123", "::1",
        "[::1]",      "2001:db8::1", "a.b:80",
    };
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len;
    char name[300];

    (void)state;
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        if (dj_dns_name_from_text(good[i], wire, &wire_len) != NULL)
            fail_msg("refused %s", good[i]);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dj_dns_name_from_text(bad[i], wire, &wire_len) == NULL)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(wire_len, 0);
    }
    assert_null(dj_dns_name_from_text("Ab.CD.", wire, &wire_len));
    assert_int_equal(wire_len, 7);
    assert_memory_equal(wire,
                        "\x02"
                        "ab\x02"
                        "cd\x00",
                        7);

    /* A 63-byte label is fine, 64 is not. */
    memset(name, 'a', 64);
    strcpy(name + 64, ".test");
    assert_non_null(dj_dns_name_from_text(name, wire, &wire_len));
    assert_null(dj_dns_name_from_text(name + 1, wire, &wire_len));

    /* 253 bytes (255 in wire form) is the longest; with a trailing dot too. */
    memset(name, 0, sizeof(name));
    for (size_t i = 0; i < 253; i++)
        name[i] = i % 2 == 1 ? '.' : 'a';
    assert_null(dj_dns_name_from_text(name, wire, &wire_len));
    assert_int_equal(wire_len, DJ_DNS_MAX_NAME);
    name[253] = '.';
    assert_null(dj_dns_name_from_text(name, wire, &wire_len));
    name[253] = '.';
    name[254] = 'a';
    assert_non_null(dj_dns_name_from_text(name, wire, &wire_len));
    name[253] = 'a';
    name[254] = '\0';
    assert_non_null(dj_dns_name_from_text(name, wire, &wire_len));
}

/* ---- resolver configuration ------------------------------------------------------------ */

static uint16_t server_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)ss)->sin_port);
    return ntohs(((const struct sockaddr_in6 *)(const void *)ss)->sin6_port);
}

static void test_config_add_server(void **state)
{
    static const char *const bad[] = {
        "",
        "host.example",
        "192.0.2.1:0",
        "192.0.2.1:65536",
        "192.0.2.1:x",
        "192.0.2.1:",
        "[::1",
        "[::1]x",
        "[192.0.2.1]:53",
        "fe80::1%eth0",
        "[fe80::1%eth0]:53",
        "1.2.3",
    };
    struct dj_resolver_config cfg;
    dj_error_t err = NULL;

    (void)state;
    dj_resolver_config_init(&cfg);
    assert_int_equal(cfg.timeout_ms, 1500);
    assert_int_equal(cfg.attempts, 2);
    assert_int_equal(cfg.cache_entries, 1024);
    assert_int_equal(cfg.ttl_floor, 5);
    assert_int_equal(cfg.ttl_ceiling, 3600);
    assert_int_equal(cfg.max_inflight, 4096);
    assert_int_equal(cfg.n_servers, 0);

    assert_int_equal(dj_resolver_config_add_server(&cfg, "192.0.2.53", &err), 0);
    assert_int_equal(dj_resolver_config_add_server(&cfg, "127.0.0.1:5353", &err), 0);
    assert_int_equal(dj_resolver_config_add_server(&cfg, "[::1]:5300", &err), 0);
    assert_int_equal(dj_resolver_config_add_server(&cfg, "2001:db8::53", &err), 0);
    assert_int_equal(cfg.n_servers, 4);
    assert_int_equal(cfg.servers[0].ss_family, AF_INET);
    assert_int_equal(server_port(&cfg.servers[0]), 53);
    assert_int_equal(server_port(&cfg.servers[1]), 5353);
    assert_int_equal(cfg.servers[2].ss_family, AF_INET6);
    assert_int_equal(server_port(&cfg.servers[2]), 5300);
    assert_int_equal(server_port(&cfg.servers[3]), 53);
    for (int i = 4; i < DJ_RESOLVER_MAX_SERVERS; i++)
        assert_int_equal(dj_resolver_config_add_server(&cfg, "192.0.2.55", &err), 0);
    assert_int_equal(dj_resolver_config_add_server(&cfg, "192.0.2.54", &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "at most 8"));
    dj_error_release(&err);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dj_resolver_config_init(&cfg);
        if (dj_resolver_config_add_server(&cfg, bad[i], &err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_int_equal(cfg.n_servers, 0);
        dj_error_release(&err);
    }
    dj_resolver_config_init(&cfg);
    assert_int_equal(dj_resolver_config_add_server(&cfg, "fe80::1%eth0", &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "scoped"));
    dj_error_release(&err);
}

#define PIN_EMPTY "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" /* SHA-256 of "" */
#define PIN_ZERO "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

static void test_upstream_syntax(void **state)
{
    static const uint8_t sha256_empty[32] = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
                                             0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
                                             0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
                                             0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};
    static const char *const bad[] = {
        "",
        "udp://",
        "tls://",
        "udp://host.example",
        "http://192.0.2.53",
        "UDP://192.0.2.53",
        "udp:/192.0.2.53",
        "udp://192.0.2.53#dns.example",          /* a name on a plain server */
        "tcp://192.0.2.53;pin-sha256=" PIN_ZERO, /* a pin on a plain server */
        "192.0.2.53;x",
        "tls://192.0.2.53",                                     /* nothing authenticates it */
        "tls://192.0.2.53#",                                    /* empty name */
        "tls://192.0.2.53#dns..example",                        /* not a host name */
        "tls://192.0.2.53#192.0.2.53",                          /* an IP literal is not a name */
        "tls://192.0.2.53#dns.example#other",                   /* two names */
        "tls://192.0.2.53;pin-sha256=" PIN_ZERO "#dns.example", /* name after a parameter */
        "tls://192.0.2.53#dns.example;",                        /* empty parameter */
        "tls://192.0.2.53#dns.example;;pin-sha256=" PIN_ZERO,
        "tls://192.0.2.53#dns.example;pin-sha256=",
        "tls://192.0.2.53#dns.example;pin-sha256=AAAA",
        "tls://192.0.2.53#dns.example;pin-sha256=" PIN_ZERO "A",
        "tls://"
        "192.0.2.53#dns.example;pin-sha256="
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "tls://"
        "192.0.2.53#dns.example;pin-sha256="
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=", /* not
                                           canonical */
        "tls://"
        "192.0.2.53#dns.example;pin-sha256=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA*"
        "=",
        "tls://"
        "192.0.2.53#dns.example;pin-sha256="
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "tls://192.0.2.53#dns.example;pin-sha1=" PIN_ZERO,
        "tls://192.0.2.53#dns.example;ca-file=relative.pem",
        "tls://192.0.2.53#dns.example;ca-file=",
        "tls://192.0.2.53#dns.example;ca-file=/a.pem;ca-file=/b.pem",
        "tls://192.0.2.53;pin-sha256=" PIN_ZERO ";pin-sha256=" PIN_ZERO ";pin-sha256=" PIN_ZERO
        ";pin-sha256=" PIN_ZERO ";pin-sha256=" PIN_ZERO,
        "tls://192.0.2.53:0#dns.example",
        "tls://192.0.2.53:853 #dns.example",
        "tls://[2001:db8::53#dns.example",
        "tls://[fe80::1%eth0]:853#dns.example",
    };
    struct dj_upstream up;
    struct dj_resolver_config cfg;
    dj_error_t err = NULL;

    (void)state;
    assert_null(dj_upstream_parse("192.0.2.53", &up));
    assert_int_equal(up.transport, DJ_UPSTREAM_UDP);
    assert_int_equal(server_port(&up.addr), 53);
    assert_null(dj_upstream_parse("udp://192.0.2.53:5353", &up));
    assert_int_equal(up.transport, DJ_UPSTREAM_UDP);
    assert_int_equal(server_port(&up.addr), 5353);
    assert_null(dj_upstream_parse("tcp://[2001:db8::53]", &up));
    assert_int_equal(up.transport, DJ_UPSTREAM_TCP);
    assert_int_equal(up.addr.ss_family, AF_INET6);
    assert_int_equal(server_port(&up.addr), 53);
    assert_null(dj_upstream_parse("tcp://2001:db8::53", &up));
    assert_int_equal(up.addr.ss_family, AF_INET6);

    assert_null(dj_upstream_parse("tls://192.0.2.53#DNS.Example.", &up));
    assert_int_equal(up.transport, DJ_UPSTREAM_TLS);
    assert_int_equal(server_port(&up.addr), 853);
    assert_string_equal(up.auth_name, "dns.example");
    assert_int_equal(up.n_pins, 0);
    assert_string_equal(up.ca_file, "");

    assert_null(dj_upstream_parse("tls://[::1]:8853#dns.example;pin-sha256=" PIN_EMPTY
                                  ";ca-file=/tmp/ca.pem;pin-sha256=" PIN_ZERO,
                                  &up));
    assert_int_equal(server_port(&up.addr), 8853);
    assert_int_equal(up.n_pins, 2);
    assert_memory_equal(up.pins[0], sha256_empty, 32);
    for (int i = 0; i < 32; i++)
        assert_int_equal(up.pins[1][i], 0);
    assert_string_equal(up.ca_file, "/tmp/ca.pem");

    /* A pin alone authenticates (no name). */
    assert_null(dj_upstream_parse("tls://192.0.2.53;pin-sha256=" PIN_EMPTY, &up));
    assert_string_equal(up.auth_name, "");
    assert_int_equal(up.n_pins, 1);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (dj_upstream_parse(bad[i], &up) == NULL)
            fail_msg("accepted %s", bad[i]);
    }

    /* Through the resolver's config, with the reason in the message. */
    dj_resolver_config_init(&cfg);
    assert_int_equal(
        dj_resolver_config_add_server(&cfg, "tls://192.0.2.53#dns.example;pin-sha256=AAAA", &err),
        -1);
    assert_non_null(strstr(dj_error_msg(&err), "pin-sha256"));
    dj_error_release(&err);
    assert_int_equal(dj_resolver_config_add_server(&cfg, "tls://192.0.2.53#dns.example", &err), 0);
    assert_int_equal(dj_resolver_config_add_server(&cfg, "192.0.2.54", &err), 0);
    assert_int_equal(cfg.upstreams[0].transport, DJ_UPSTREAM_TLS);
    assert_int_equal(cfg.upstreams[1].transport, DJ_UPSTREAM_UDP);
    assert_memory_equal(&cfg.servers[0], &cfg.upstreams[0].addr, sizeof(cfg.servers[0]));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static void test_config_resolv_conf(void **state)
{
    char path[] = "/tmp/test-resolver-XXXXXX";
    struct dj_resolver_config cfg;
    dj_error_t err = NULL;
    int fd;
    char line[700];
    const struct sockaddr_in6 *sin6;

    (void)state;
    fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    memset(line, 'x', sizeof(line));
    memcpy(line, "nameserver ", 11);
    line[sizeof(line) - 2] = '\n';
    line[sizeof(line) - 1] = '\0';
    write_file(path, "# a comment\n"
                     "; another\n"
                     "search corp.example example.test\n"
                     "domain corp.example\n"
                     "options ndots:5 timeout:1 attempts:5 rotate\n"
                     "nameserver fe80::1%eth0\n"
                     "nameserver not-an-address\n"
                     "nameserver\n"
                     "nameserverx 192.0.2.9\n"
                     "  nameserver\t192.0.2.53  # trailing comment\n"
                     "nameserver 2001:db8::53\n"
                     "nameserver 192.0.2.54\n"
                     "nameserver 192.0.2.55\n"
                     "nameserver 192.0.2.56\n");
    {
        FILE *f = fopen(path, "a");

        assert_non_null(f);
        fputs(line, f);
        fputs("nameserver 192.0.2.57", f); /* no final newline */
        fclose(f);
    }
    dj_resolver_config_init(&cfg);
    assert_int_equal(dj_resolver_config_from_resolv_conf(&cfg, path, &err), 0);
    assert_int_equal(cfg.n_servers, 4);
    assert_int_equal(cfg.servers[0].ss_family, AF_INET);
    assert_int_equal(((const struct sockaddr_in *)(const void *)&cfg.servers[0])->sin_addr.s_addr,
                     inet_addr("192.0.2.53"));
    assert_int_equal(server_port(&cfg.servers[0]), 53);
    assert_int_equal(cfg.servers[1].ss_family, AF_INET6);
    sin6 = (const struct sockaddr_in6 *)(const void *)&cfg.servers[1];
    assert_int_equal(sin6->sin6_scope_id, 0);
    assert_int_equal(((const struct sockaddr_in *)(const void *)&cfg.servers[3])->sin_addr.s_addr,
                     inet_addr("192.0.2.55"));
    /* The options line changed nothing. */
    assert_int_equal(cfg.timeout_ms, 1500);
    assert_int_equal(cfg.attempts, 2);

    /* Nothing usable. */
    write_file(path, "search example.test\nnameserver fe80::1%eth0\n");
    dj_resolver_config_init(&cfg);
    assert_int_equal(dj_resolver_config_from_resolv_conf(&cfg, path, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "1 scoped link-local"));
    dj_error_release(&err);
    unlink(path);

    assert_int_equal(dj_resolver_config_from_resolv_conf(&cfg, path, &err), -1);
    assert_int_equal(err->errno_value, ENOENT);
    dj_error_release(&err);
}

static void test_config_rejected_by_new(void **state)
{
    struct dj_resolver_config cfg;
    dj_error_t err = NULL;

    (void)state;
    dj_resolver_config_init(&cfg);
    assert_null(dj_resolver_new(&cfg, &err));
    assert_non_null(strstr(dj_error_msg(&err), "no DNS server"));
    dj_error_release(&err);

    assert_int_equal(dj_resolver_config_add_server(&cfg, "127.0.0.1", &err), 0);
    cfg.timeout_ms = 0;
    assert_null(dj_resolver_new(&cfg, &err));
    dj_error_release(&err);
    cfg.timeout_ms = 100;
    cfg.ttl_floor = 10;
    cfg.ttl_ceiling = 5;
    assert_null(dj_resolver_new(&cfg, &err));
    dj_error_release(&err);
    cfg.ttl_floor = 5;
    cfg.max_inflight = 0;
    assert_null(dj_resolver_new(&cfg, &err));
    dj_error_release(&err);

    /* A million lookups in flight is allowed (the proxy passes its connection limit). */
    cfg.max_inflight = 1u << 20;
    {
        struct dj_resolver *res = dj_resolver_new(&cfg, &err);

        assert_non_null(res);
        dj_resolver_free(res);
    }
    cfg.max_inflight = (1u << 20) + 1;
    assert_null(dj_resolver_new(&cfg, &err));
    dj_error_release(&err);
}

/* ---- fake DNS servers on 127.0.0.1 ----------------------------------------------------- */

enum fake_mode {
    FAKE_ANSWER,      /* A: 192.0.2.1 and .2; AAAA: 2001:db8::1 */
    FAKE_DROP,        /* never answers */
    FAKE_TRUNCATE,    /* UDP: TC=1 and nothing else; TCP: the full answer */
    FAKE_NXDOMAIN,    /* with the SOA of "test": TTL 60, MINIMUM 30 */
    FAKE_SERVFAIL,    /* rcode SERVFAIL */
    FAKE_SPOOF_FIRST, /* wrong id from itself and right id from another port, then the answer */
};

#define FAKE_CONNS 4

struct fake_conn {
    int fd;
    uint8_t buf[600];
    size_t len;
};

struct fake_server {
    int udp;
    int tcp;
    int spoof;
    uint16_t port;
    enum fake_mode mode;
    uint32_t ttl;
    unsigned udp_queries;
    unsigned tcp_queries;
    unsigned a_queries;
    unsigned aaaa_queries;
    struct fake_conn conns[FAKE_CONNS];
};

static int bound_socket(int type, uint16_t port)
{
    struct sockaddr_in sin;
    int one = 1;
    int fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(port);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static uint16_t local_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);

    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

static void fake_start(struct fake_server *s, enum fake_mode mode)
{
    memset(s, 0, sizeof(*s));
    s->mode = mode;
    s->ttl = 60;
    for (int i = 0; i < FAKE_CONNS; i++)
        s->conns[i].fd = -1;
    /* The same port number for UDP and TCP, as a real server has. */
    for (int tries = 0; tries < 20; tries++) {
        s->udp = bound_socket(SOCK_DGRAM, 0);
        assert_true(s->udp >= 0);
        s->port = local_port(s->udp);
        s->tcp = bound_socket(SOCK_STREAM, s->port);
        if (s->tcp >= 0)
            break;
        close(s->udp);
    }
    assert_true(s->tcp >= 0);
    assert_int_equal(listen(s->tcp, 16), 0);
    s->spoof = bound_socket(SOCK_DGRAM, 0);
    assert_true(s->spoof >= 0);
}

static void fake_stop(struct fake_server *s)
{
    close(s->udp);
    close(s->tcp);
    close(s->spoof);
    for (int i = 0; i < FAKE_CONNS; i++) {
        if (s->conns[i].fd >= 0)
            close(s->conns[i].fd);
    }
}

/* The response of S to the query Q, with ANSWER_ADDR overriding the A address. */
static void fake_response(const struct fake_server *s, const struct dj_dns_query *q, bool tcp,
                          uint16_t id, const char *answer_addr, struct packet *p)
{
    uint16_t flags = QR | RD | RA;
    bool a = q->qtype == DJ_DNS_TYPE_A;
    uint16_t an = 0, ns = 0;

    if (s->mode == FAKE_TRUNCATE && !tcp) {
        flags |= TC;
    } else if (s->mode == FAKE_NXDOMAIN) {
        flags |= DJ_DNS_RCODE_NXDOMAIN;
        ns = 1;
    } else if (s->mode == FAKE_SERVFAIL) {
        flags |= DJ_DNS_RCODE_SERVFAIL;
    } else {
        an = a ? 2 : q->qtype == DJ_DNS_TYPE_AAAA ? 1 : 0;
    }
    p->len = 0;
    put16(p, id);
    put16(p, flags);
    put16(p, 1);
    put16(p, an);
    put16(p, ns);
    put16(p, 0);
    put(p, q->qname, q->qname_len);
    put16(p, q->qtype);
    put16(p, q->qclass);
    if (an > 0 && a) {
        put_a(p, NULL, s->ttl, answer_addr != NULL ? answer_addr : "192.0.2.1");
        put_a(p, NULL, s->ttl, answer_addr != NULL ? answer_addr : "192.0.2.2");
    } else if (an > 0) {
        put_aaaa(p, NULL, s->ttl, "2001:db8::1");
    }
    if (ns > 0)
        put_soa(p, "test", 60, 30);
}

static void fake_count(struct fake_server *s, const struct dj_dns_query *q)
{
    if (q->qtype == DJ_DNS_TYPE_A)
        s->a_queries++;
    else if (q->qtype == DJ_DNS_TYPE_AAAA)
        s->aaaa_queries++;
}

static void fake_serve_udp(struct fake_server *s)
{
    for (;;) {
        uint8_t buf[1024];
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        struct dj_dns_query q;
        struct packet p;
        ssize_t n = recvfrom(s->udp, buf, sizeof(buf), 0, (struct sockaddr *)&from, &from_len);

        if (n < 0)
            return;
        s->udp_queries++;
        if (dj_dns_parse_query(buf, (size_t)n, &q) != DJ_DNS_PARSE_OK)
            continue;
        fake_count(s, &q);
        if (s->mode == FAKE_DROP)
            continue;
        if (s->mode == FAKE_SPOOF_FIRST) {
            fake_response(s, &q, false, (uint16_t)(q.id ^ 1), "203.0.113.66", &p);
            sendto(s->udp, p.bytes, p.len, 0, (struct sockaddr *)&from, from_len);
            fake_response(s, &q, false, q.id, "203.0.113.67", &p);
            sendto(s->spoof, p.bytes, p.len, 0, (struct sockaddr *)&from, from_len);
        }
        fake_response(s, &q, false, q.id, NULL, &p);
        sendto(s->udp, p.bytes, p.len, 0, (struct sockaddr *)&from, from_len);
    }
}

static void fake_serve_tcp(struct fake_server *s)
{
    for (;;) {
        int fd = accept4(s->tcp, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        int slot = -1;

        if (fd < 0)
            break;
        for (int i = 0; i < FAKE_CONNS && slot < 0; i++) {
            if (s->conns[i].fd < 0)
                slot = i;
        }
        if (slot < 0) {
            close(fd);
            continue;
        }
        s->conns[slot].fd = fd;
        s->conns[slot].len = 0;
    }
    for (int i = 0; i < FAKE_CONNS; i++) {
        struct fake_conn *c = &s->conns[i];
        struct dj_dns_query q;
        struct packet p;
        uint8_t framed[sizeof(p.bytes) + 2];
        size_t want;
        ssize_t n;

        if (c->fd < 0)
            continue;
        n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n > 0)
            c->len += (size_t)n;
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            close(c->fd);
            c->fd = -1;
            continue;
        }
        if (c->len < 2)
            continue;
        want = 2 + (size_t)((c->buf[0] << 8) | c->buf[1]);
        if (c->len < want)
            continue;
        s->tcp_queries++;
        if (dj_dns_parse_query(c->buf + 2, want - 2, &q) == DJ_DNS_PARSE_OK) {
            fake_count(s, &q);
            fake_response(s, &q, true, q.id, NULL, &p);
            framed[0] = (uint8_t)(p.len >> 8);
            framed[1] = (uint8_t)p.len;
            memcpy(framed + 2, p.bytes, p.len);
            assert_int_equal(send(c->fd, framed, p.len + 2, MSG_NOSIGNAL), (ssize_t)(p.len + 2));
        }
        close(c->fd);
        c->fd = -1;
    }
}

/* ---- the resolver against them --------------------------------------------------------- */

struct world {
    struct fake_server servers[2];
    size_t n_servers;
    struct dj_resolver_config cfg;
    struct dj_resolver *res;
    uint64_t now_ns; /* the resolver's clock: pump() moves it, nothing waits for it */
};

#define NS_PER_MS 1000000u
#define CLOCK_START_NS (1000u * NS_PER_MS)
/* Real time with nothing readable after which the sockets count as quiet: loopback delivers
 * while the sender is still in send(), so this only has to cover a scheduler hiccup. */
#define QUIET_MS 20

static uint64_t world_clock(void *ctx)
{
    return ((const struct world *)ctx)->now_ns;
}

/* The resolver reads W's clock, not CLOCK_MONOTONIC. */
static void world_clock_init(struct world *w)
{
    w->now_ns = CLOCK_START_NS;
    w->cfg.clock_ns = world_clock;
    w->cfg.clock_ctx = w;
}

struct outcome {
    unsigned calls;
    struct dj_resolve_result result;
};

static void record(void *ctx, const struct dj_resolve_result *result)
{
    struct outcome *o = ctx;

    o->calls++;
    o->result = *result;
}

/* Servers with MODE0 (and MODE1 when N is 2), and a config with short timeouts for them. */
static void world_init(struct world *w, size_t n, enum fake_mode mode0, enum fake_mode mode1)
{
    char text[64];
    dj_error_t err = NULL;

    memset(w, 0, sizeof(*w));
    w->n_servers = n;
    dj_resolver_config_init(&w->cfg);
    world_clock_init(w);
    w->cfg.timeout_ms = 150;
    w->cfg.attempts = 1;
    for (size_t i = 0; i < n; i++) {
        fake_start(&w->servers[i], i == 0 ? mode0 : mode1);
        snprintf(text, sizeof(text), "127.0.0.1:%u", (unsigned)w->servers[i].port);
        assert_int_equal(dj_resolver_config_add_server(&w->cfg, text, &err), 0);
    }
}

static void world_start(struct world *w)
{
    dj_error_t err = NULL;

    w->res = dj_resolver_new(&w->cfg, &err);
    if (w->res == NULL)
        fail_msg("dj_resolver_new: %s", dj_error_msg(&err));
}

static void world_stop(struct world *w)
{
    dj_resolver_free(w->res);
    for (size_t i = 0; i < w->n_servers; i++)
        fake_stop(&w->servers[i]);
}

/* One turn of the loop: serve what the servers received, let the resolver handle what it
 * received. The resolver's clock moves only when the sockets are quiet (nothing readable for
 * QUIET_MS): then straight to its next deadline, or MAX_MS on when it has none. */
static void pump(struct world *w, int max_ms)
{
    struct pollfd pfd[1 + 2 * (2 + FAKE_CONNS)];
    nfds_t n = 0;
    int timeout = dj_resolver_timeout_ms(w->res);

    pfd[n++] = (struct pollfd){.fd = dj_resolver_fd(w->res), .events = POLLIN};
    for (size_t i = 0; i < w->n_servers; i++) {
        pfd[n++] = (struct pollfd){.fd = w->servers[i].udp, .events = POLLIN};
        pfd[n++] = (struct pollfd){.fd = w->servers[i].tcp, .events = POLLIN};
        for (int c = 0; c < FAKE_CONNS; c++) {
            if (w->servers[i].conns[c].fd >= 0)
                pfd[n++] = (struct pollfd){.fd = w->servers[i].conns[c].fd, .events = POLLIN};
        }
    }
    if (timeout < 0 || timeout > max_ms)
        timeout = max_ms;
    if (poll(pfd, n, timeout == 0 ? 0 : QUIET_MS) == 0)
        w->now_ns += (uint64_t)timeout * NS_PER_MS;
    for (size_t i = 0; i < w->n_servers; i++) {
        fake_serve_udp(&w->servers[i]);
        fake_serve_tcp(&w->servers[i]);
    }
    dj_resolver_process(w->res);
}

static uint64_t elapsed_ms(uint64_t start_ns)
{
    return (dj_monotonic_ns() - start_ns) / NS_PER_MS;
}

/* On the resolver's clock. */
static uint64_t world_elapsed_ms(const struct world *w, uint64_t start_ns)
{
    return (w->now_ns - start_ns) / NS_PER_MS;
}

/* Pumps until DONE says so or MAX_MS have passed on the resolver's clock (or, should the
 * sockets never fall quiet, in real time). */
static void run_until(struct world *w, const unsigned *calls, unsigned max_ms)
{
    uint64_t start = w->now_ns;
    uint64_t real_start = dj_monotonic_ns();

    while ((calls == NULL || *calls == 0) && world_elapsed_ms(w, start) < max_ms &&
           elapsed_ms(real_start) < max_ms)
        pump(w, (int)(max_ms - world_elapsed_ms(w, start)));
}

/* Runs the loop until O has been called (or, with O NULL, for MAX_MS). */
static void run(struct world *w, const struct outcome *o, unsigned max_ms)
{
    run_until(w, o != NULL ? &o->calls : NULL, max_ms);
}

static struct dj_lookup *lookup(struct world *w, const char *name, int family, struct outcome *o)
{
    dj_error_t err = NULL;
    struct dj_lookup *l = dj_resolver_lookup(w->res, name, family, record, o, &err);

    if (l == NULL)
        fail_msg("lookup %s: %s", name, dj_error_msg(&err));
    return l;
}

static void assert_result_addr(const struct dj_resolve_result *r, size_t i, const char *text)
{
    uint8_t b[16];
    int family = strchr(text, ':') != NULL ? AF_INET6 : AF_INET;

    assert_true(i < r->n_addrs);
    assert_int_equal(inet_pton(family, text, b), 1);
    assert_int_equal(r->addrs[i].family, family);
    assert_memory_equal(r->addrs[i].addr, b, family == AF_INET ? 4 : 16);
}

static void test_resolve_a_and_cache(void **state)
{
    struct world w;
    struct outcome o1 = {0}, o2 = {0};
    struct dj_resolver_stats st;

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);
    lookup(&w, "www.example.test", AF_INET, &o1);
    assert_int_equal(o1.calls, 0); /* never from dj_resolver_lookup itself */
    run(&w, &o1, 2000);
    assert_int_equal(o1.calls, 1);
    assert_int_equal(o1.result.status, DJ_RESOLVE_OK);
    assert_int_equal(o1.result.n_addrs, 2);
    assert_result_addr(&o1.result, 0, "192.0.2.1");
    assert_result_addr(&o1.result, 1, "192.0.2.2");
    assert_int_equal(o1.result.ttl, 60);
    assert_false(o1.result.from_cache);
    assert_int_equal(w.servers[0].a_queries, 1);
    assert_int_equal(w.servers[0].aaaa_queries, 0);

    /* Again, in another case and fully qualified: from the cache, still via the callback. */
    lookup(&w, "WWW.Example.TEST.", AF_INET, &o2);
    assert_int_equal(o2.calls, 0);
    assert_int_equal(dj_resolver_timeout_ms(w.res), 0);
    {
        struct pollfd pfd = {.fd = dj_resolver_fd(w.res), .events = POLLIN};

        assert_int_equal(poll(&pfd, 1, 0), 1); /* the caller's loop wakes up */
    }
    dj_resolver_process(w.res);
    assert_int_equal(o2.calls, 1);
    assert_int_equal(o2.result.status, DJ_RESOLVE_OK);
    assert_true(o2.result.from_cache);
    assert_int_equal(o2.result.n_addrs, 2);
    assert_true(o2.result.ttl >= 59 && o2.result.ttl <= 60);
    assert_int_equal(w.servers[0].udp_queries, 1);

    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.lookups, 2);
    assert_int_equal(st.cache_hits, 1);
    assert_int_equal(st.queries, 1);
    assert_int_equal(st.udp_sent, 1);
    assert_int_equal(st.cache_size, 1);
    assert_int_equal(st.lookups_in_flight, 0);
    assert_int_equal(st.queries_in_flight, 0);
    assert_int_equal(dj_resolver_timeout_ms(w.res), -1);
    world_stop(&w);
}

static void test_resolve_unspec(void **state)
{
    struct world w;
    struct outcome o = {0}, o6 = {0};

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);
    lookup(&w, "dual.example.test", AF_UNSPEC, &o);
    run(&w, &o, 2000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    assert_int_equal(o.result.n_addrs, 3);
    assert_result_addr(&o.result, 0, "2001:db8::1"); /* IPv6 first */
    assert_result_addr(&o.result, 1, "192.0.2.1");
    assert_result_addr(&o.result, 2, "192.0.2.2");
    assert_int_equal(w.servers[0].a_queries, 1);
    assert_int_equal(w.servers[0].aaaa_queries, 1);

    /* AF_INET6 alone now comes from the AAAA entry. */
    lookup(&w, "dual.example.test", AF_INET6, &o6);
    run(&w, &o6, 2000);
    assert_true(o6.result.from_cache);
    assert_int_equal(o6.result.n_addrs, 1);
    assert_result_addr(&o6.result, 0, "2001:db8::1");
    assert_int_equal(w.servers[0].udp_queries, 2);
    world_stop(&w);
}

static void test_resolve_timeout_then_second_server(void **state)
{
    struct world w;
    struct outcome o = {0};
    struct dj_resolver_stats st;
    uint64_t start;

    (void)state;
    world_init(&w, 2, FAKE_DROP, FAKE_ANSWER);
    w.cfg.attempts = 2;
    world_start(&w);
    start = w.now_ns;
    lookup(&w, "slow.example.test", AF_INET, &o);
    run(&w, &o, 3000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    assert_result_addr(&o.result, 0, "192.0.2.1");
    assert_true(world_elapsed_ms(&w, start) >= 2 * 150); /* two attempts at the first server */
    assert_int_equal(w.servers[0].udp_queries, 2);
    assert_int_equal(w.servers[1].udp_queries, 1);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.timeouts, 2);
    world_stop(&w);
}

static void test_resolve_all_time_out(void **state)
{
    struct world w;
    struct outcome o = {0};

    (void)state;
    world_init(&w, 2, FAKE_DROP, FAKE_DROP);
    world_start(&w);
    lookup(&w, "black.hole.test", AF_INET, &o);
    run(&w, &o, 3000);
    assert_int_equal(o.calls, 1);
    assert_int_equal(o.result.status, DJ_RESOLVE_TIMEOUT);
    assert_int_equal(o.result.n_addrs, 0);
    assert_int_equal(w.servers[0].udp_queries, 1);
    assert_int_equal(w.servers[1].udp_queries, 1);

    /* Failures are not cached: the next lookup asks again. */
    o.calls = 0;
    lookup(&w, "black.hole.test", AF_INET, &o);
    run(&w, &o, 3000);
    assert_int_equal(o.result.status, DJ_RESOLVE_TIMEOUT);
    assert_int_equal(w.servers[0].udp_queries, 2);
    world_stop(&w);
}

static void test_resolve_servfail_fails_over_at_once(void **state)
{
    struct world w;
    struct outcome o = {0};
    uint64_t start;

    (void)state;
    world_init(&w, 2, FAKE_SERVFAIL, FAKE_ANSWER);
    w.cfg.timeout_ms = 2000;
    w.cfg.attempts = 3;
    world_start(&w);
    start = w.now_ns;
    lookup(&w, "sf.example.test", AF_INET, &o);
    run(&w, &o, 3000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    assert_true(world_elapsed_ms(&w, start) < 1000);
    assert_int_equal(w.servers[0].udp_queries, 1);
    world_stop(&w);

    world_init(&w, 2, FAKE_SERVFAIL, FAKE_DROP);
    world_start(&w);
    o.calls = 0;
    lookup(&w, "sf.example.test", AF_INET, &o);
    run(&w, &o, 3000);
    assert_int_equal(o.result.status, DJ_RESOLVE_SERVFAIL);
    world_stop(&w);
}

static void test_resolve_port_unreachable(void **state)
{
    struct world w;
    struct outcome o = {0};
    dj_error_t err = NULL;
    char text[64];
    uint64_t start;
    int closed = bound_socket(SOCK_DGRAM, 0);
    uint16_t port = local_port(closed);

    (void)state;
    close(closed); /* nothing listens there now: the kernel answers ICMP port unreachable */
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    snprintf(text, sizeof(text), "127.0.0.1:%u", (unsigned)port);
    w.cfg.n_servers = 0;
    assert_int_equal(dj_resolver_config_add_server(&w.cfg, text, &err), 0);
    snprintf(text, sizeof(text), "127.0.0.1:%u", (unsigned)w.servers[0].port);
    assert_int_equal(dj_resolver_config_add_server(&w.cfg, text, &err), 0);
    w.cfg.timeout_ms = 2000;
    world_start(&w);
    start = w.now_ns;
    lookup(&w, "refused.example.test", AF_INET, &o);
    run(&w, &o, 3000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    assert_true(world_elapsed_ms(&w, start) < 1000);
    world_stop(&w);
}

static void test_resolve_truncated_retries_over_tcp(void **state)
{
    struct world w;
    struct outcome o = {0};
    struct dj_resolver_stats st;

    (void)state;
    world_init(&w, 1, FAKE_TRUNCATE, FAKE_ANSWER);
    world_start(&w);
    lookup(&w, "big.example.test", AF_UNSPEC, &o);
    run(&w, &o, 2000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    assert_int_equal(o.result.n_addrs, 3);
    assert_int_equal(w.servers[0].udp_queries, 2);
    assert_int_equal(w.servers[0].tcp_queries, 2);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.tcp_fallbacks, 2);
    world_stop(&w);
}

static void test_resolve_nxdomain_cached(void **state)
{
    struct world w;
    struct outcome o1 = {0}, o2 = {0};

    (void)state;
    world_init(&w, 1, FAKE_NXDOMAIN, FAKE_ANSWER);
    world_start(&w);
    lookup(&w, "missing.example.test", AF_UNSPEC, &o1);
    run(&w, &o1, 2000);
    assert_int_equal(o1.result.status, DJ_RESOLVE_NXDOMAIN);
    assert_int_equal(o1.result.ttl, 30);
    assert_int_equal(o1.result.n_addrs, 0);
    assert_false(o1.result.from_cache);

    lookup(&w, "missing.example.test", AF_INET, &o2);
    run(&w, &o2, 2000);
    assert_int_equal(o2.result.status, DJ_RESOLVE_NXDOMAIN);
    assert_true(o2.result.from_cache);
    assert_true(o2.result.ttl > 0 && o2.result.ttl <= 30);
    assert_int_equal(w.servers[0].udp_queries, 2); /* A and AAAA once each */
    world_stop(&w);
}

static void test_resolve_ttl_clamped_and_expiry(void **state)
{
    struct world w;
    struct outcome o = {0};

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    w.servers[0].ttl = 0;
    w.cfg.ttl_floor = 1;
    world_start(&w);
    lookup(&w, "short.example.test", AF_INET, &o);
    run(&w, &o, 2000);
    assert_int_equal(o.result.ttl, 1); /* 0 raised to the floor */

    o.calls = 0;
    lookup(&w, "short.example.test", AF_INET, &o);
    run(&w, &o, 2000);
    assert_true(o.result.from_cache);
    assert_int_equal(w.servers[0].udp_queries, 1);

    w.now_ns += 1100 * NS_PER_MS; /* past the 1 s TTL */
    o.calls = 0;
    lookup(&w, "short.example.test", AF_INET, &o);
    run(&w, &o, 2000);
    assert_false(o.result.from_cache);
    assert_int_equal(w.servers[0].udp_queries, 2);
    world_stop(&w);

    /* The ceiling. */
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    w.servers[0].ttl = 86400;
    w.cfg.ttl_ceiling = 100;
    world_start(&w);
    o.calls = 0;
    lookup(&w, "long.example.test", AF_INET, &o);
    run(&w, &o, 2000);
    assert_int_equal(o.result.ttl, 100);
    world_stop(&w);
}

static void test_resolve_coalescing(void **state)
{
    struct world w;
    struct outcome o[4];
    struct dj_resolver_stats st;

    (void)state;
    memset(o, 0, sizeof(o));
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);
    lookup(&w, "burst.example.test", AF_INET, &o[0]);
    lookup(&w, "BURST.example.test.", AF_INET, &o[1]);
    lookup(&w, "burst.example.test", AF_UNSPEC, &o[2]);
    lookup(&w, "burst.example.test", AF_INET, &o[3]);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.queries_in_flight, 2);
    assert_int_equal(st.lookups_in_flight, 4);
    for (int i = 0; i < 4; i++)
        run(&w, &o[i], 2000);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].result.status, DJ_RESOLVE_OK);
    }
    assert_int_equal(o[2].result.n_addrs, 3);
    assert_int_equal(w.servers[0].a_queries, 1);
    assert_int_equal(w.servers[0].aaaa_queries, 1);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.coalesced, 3);
    world_stop(&w);
}

static void test_resolve_cancel(void **state)
{
    struct world w;
    struct outcome o1 = {0}, o2 = {0}, o3 = {0};
    struct dj_lookup *l;
    struct dj_resolver_stats st;

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);

    /* Cancelled while waiting: no callback, and its query is gone with it. */
    l = lookup(&w, "cancel.example.test", AF_UNSPEC, &o1);
    dj_resolver_cancel(l);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.lookups_in_flight, 0);
    assert_int_equal(st.queries_in_flight, 0);
    run(&w, NULL, 200);
    assert_int_equal(o1.calls, 0);

    /* One of two coalesced lookups cancelled: the other still completes. */
    l = lookup(&w, "half.example.test", AF_INET, &o1);
    lookup(&w, "half.example.test", AF_INET, &o2);
    dj_resolver_cancel(l);
    run(&w, &o2, 2000);
    assert_int_equal(o2.calls, 1);
    assert_int_equal(o2.result.status, DJ_RESOLVE_OK);
    run(&w, NULL, 50);
    assert_int_equal(o1.calls, 0);

    /* Cancelled after completing but before its callback (a cache hit). */
    l = lookup(&w, "half.example.test", AF_INET, &o3);
    dj_resolver_cancel(l);
    run(&w, NULL, 50);
    assert_int_equal(o3.calls, 0);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.lookups_in_flight, 0);
    world_stop(&w);
}

static void test_resolve_ignores_spoofed(void **state)
{
    struct world w;
    struct outcome o = {0};
    struct dj_resolver_stats st;

    (void)state;
    world_init(&w, 1, FAKE_SPOOF_FIRST, FAKE_ANSWER);
    world_start(&w);
    lookup(&w, "spoof.example.test", AF_INET, &o);
    run(&w, &o, 2000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    assert_int_equal(o.result.n_addrs, 2);
    assert_result_addr(&o.result, 0, "192.0.2.1");
    assert_result_addr(&o.result, 1, "192.0.2.2");
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.ignored, 1); /* the wrong id; the wrong port never got through */
    world_stop(&w);
}

static void test_resolve_bad_names_and_limits(void **state)
{
    static const char *const bad[] = {"192.0.2.1", "::1", "a..b", "", "x y", "127.1"};
    struct world w;
    struct outcome o[3];
    dj_error_t err = NULL;

    (void)state;
    memset(o, 0, sizeof(o));
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    w.cfg.max_inflight = 2;
    world_start(&w);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_null(dj_resolver_lookup(w.res, bad[i], AF_INET, record, &o[0], &err));
        assert_int_equal(dj_resolver_check_name(bad[i], NULL), -1);
        dj_error_release(&err);
    }
    assert_null(dj_resolver_lookup(w.res, NULL, AF_INET, record, &o[0], &err));
    dj_error_release(&err);
    assert_null(dj_resolver_lookup(w.res, "ok.test", AF_UNIX, record, &o[0], &err));
    dj_error_release(&err);
    assert_int_equal(dj_resolver_check_name("ok.test", &err), 0);

    lookup(&w, "one.example.test", AF_INET, &o[0]);
    lookup(&w, "two.example.test", AF_INET, &o[1]);
    assert_null(dj_resolver_lookup(w.res, "three.example.test", AF_INET, record, &o[2], &err));
    assert_int_equal(err->errno_value, EAGAIN);
    dj_error_release(&err);
    run(&w, &o[0], 2000);
    run(&w, &o[1], 2000);
    lookup(&w, "three.example.test", AF_INET, &o[2]);
    run(&w, &o[2], 2000);
    assert_int_equal(o[2].result.status, DJ_RESOLVE_OK);
    assert_int_equal(o[0].calls + o[1].calls + o[2].calls, 3);
    world_stop(&w);
}

static void test_resolve_lru_eviction(void **state)
{
    struct world w;
    struct outcome o = {0};
    struct dj_resolver_stats st;
    const char *names[] = {"a.example.test", "b.example.test", "a.example.test", "c.example.test",
                           "b.example.test"};

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    w.cfg.cache_entries = 2;
    world_start(&w);
    /* a, b miss; a hits (and becomes most recent); c evicts b; b misses again. */
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        o.calls = 0;
        lookup(&w, names[i], AF_INET, &o);
        run(&w, &o, 2000);
        assert_int_equal(o.result.from_cache, i == 2);
    }
    assert_int_equal(w.servers[0].udp_queries, 4);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.cache_size, 2);
    world_stop(&w);

    /* No cache at all. */
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    w.cfg.cache_entries = 0;
    world_start(&w);
    for (int i = 0; i < 2; i++) {
        o.calls = 0;
        lookup(&w, "a.example.test", AF_INET, &o);
        run(&w, &o, 2000);
        assert_false(o.result.from_cache);
    }
    assert_int_equal(w.servers[0].udp_queries, 2);
    world_stop(&w);
}

/* A callback that starts a lookup answered from the cache, and cancels another. */
struct chained {
    struct world *w;
    struct outcome first;
    struct outcome second;
    struct outcome victim;
    struct dj_lookup *victim_lookup;
};

static void chained_cb(void *ctx, const struct dj_resolve_result *result)
{
    struct chained *c = ctx;
    dj_error_t err = NULL;

    c->first.calls++;
    c->first.result = *result;
    dj_resolver_cancel(c->victim_lookup);
    assert_non_null(
        dj_resolver_lookup(c->w->res, "re.example.test", AF_INET, record, &c->second, &err));
    assert_int_equal(c->second.calls, 0);
}

static void test_resolve_reentrant_callbacks(void **state)
{
    struct world w;
    struct chained c;
    struct outcome warm = {0};
    dj_error_t err = NULL;

    (void)state;
    memset(&c, 0, sizeof(c));
    c.w = &w;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);
    lookup(&w, "re.example.test", AF_INET, &warm);
    run(&w, &warm, 2000);

    /* Both answered from the cache, so both complete in the same dj_resolver_process(). */
    assert_non_null(dj_resolver_lookup(w.res, "re.example.test", AF_INET, chained_cb, &c, &err));
    c.victim_lookup = lookup(&w, "re.example.test", AF_INET, &c.victim);
    dj_resolver_process(w.res);
    assert_int_equal(c.first.calls, 1);
    assert_int_equal(c.victim.calls, 0);
    assert_int_equal(c.second.calls, 0); /* queued for the next call, not run recursively */
    assert_int_equal(dj_resolver_timeout_ms(w.res), 0);
    dj_resolver_process(w.res);
    assert_int_equal(c.second.calls, 1);
    assert_true(c.second.result.from_cache);
    world_stop(&w);
}

static void test_resolve_free_with_lookups_in_flight(void **state)
{
    struct world w;
    struct outcome o = {0};

    (void)state;
    world_init(&w, 1, FAKE_DROP, FAKE_ANSWER);
    world_start(&w);
    lookup(&w, "pending.example.test", AF_UNSPEC, &o);
    lookup(&w, "pending2.example.test", AF_INET, &o);
    pump(&w, 10);
    world_stop(&w); /* frees lookups and queries without calling back (valgrind checks) */
    assert_int_equal(o.calls, 0);
}

/* ---- raw queries (forwarding) ---------------------------------------------------------- */

struct raw_outcome {
    unsigned calls;
    enum dj_resolve_status status;
    bool had_msg;
    uint8_t msg[1024];
    size_t len;
};

static void raw_record(void *ctx, enum dj_resolve_status status, const uint8_t *msg, size_t len)
{
    struct raw_outcome *o = ctx;

    o->calls++;
    o->status = status;
    o->had_msg = msg != NULL;
    o->len = 0;
    if (msg != NULL && len <= sizeof(o->msg)) {
        memcpy(o->msg, msg, len);
        o->len = len;
    }
}

/* "Raw.Example.TEST" with its case kept. */
static const uint8_t RAW_NAME[] = "\3Raw\7Example\4TEST";

static struct dj_lookup *raw_query(struct world *w, uint16_t qtype, uint16_t qclass,
                                   struct raw_outcome *o)
{
    dj_error_t err = NULL;
    struct dj_lookup *l =
        dj_resolver_query(w->res, RAW_NAME, sizeof(RAW_NAME), qtype, qclass, raw_record, o, &err);

    if (l == NULL)
        fail_msg("raw query: %s", dj_error_msg(&err));
    return l;
}

static void run_raw(struct world *w, const struct raw_outcome *o, unsigned max_ms)
{
    run_until(w, &o->calls, max_ms);
}

/* The message handed over is the server's whole response to the question as asked. */
static void assert_raw_response(const struct raw_outcome *o, uint16_t qtype, uint16_t qclass,
                                unsigned ancount)
{
    size_t q = DJ_DNS_HEADER_SIZE;

    assert_true(o->had_msg);
    assert_true(o->len >= q + sizeof(RAW_NAME) + 4);
    assert_true(o->msg[2] & 0x80); /* QR */
    assert_int_equal((o->msg[6] << 8) | o->msg[7], ancount);
    assert_memory_equal(o->msg + q, RAW_NAME, sizeof(RAW_NAME));
    q += sizeof(RAW_NAME);
    assert_int_equal((o->msg[q] << 8) | o->msg[q + 1], qtype);
    assert_int_equal((o->msg[q + 2] << 8) | o->msg[q + 3], qclass);
}

static void test_query_raw_statuses(void **state)
{
    struct world w;
    struct raw_outcome a = {0}, txt = {0}, chaos = {0};
    struct dj_resolver_stats st;

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &a);
    raw_query(&w, 16 /* TXT */, DJ_DNS_CLASS_IN, &txt);
    raw_query(&w, 16, CLASS_CH, &chaos);
    assert_int_equal(a.calls, 0); /* never from dj_resolver_query() itself */
    run_raw(&w, &a, 2000);
    run_raw(&w, &txt, 2000);
    run_raw(&w, &chaos, 2000);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, DJ_RESOLVE_OK);
    assert_raw_response(&a, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 2);
    assert_int_equal(txt.status, DJ_RESOLVE_NODATA);
    assert_raw_response(&txt, 16, DJ_DNS_CLASS_IN, 0);
    assert_int_equal(chaos.status, DJ_RESOLVE_NODATA);
    assert_raw_response(&chaos, 16, CLASS_CH, 0);
    assert_int_equal(w.servers[0].udp_queries, 3);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.raw_queries, 3);
    assert_int_equal(st.cache_size, 0);
    assert_int_equal(st.lookups_in_flight, 0);
    world_stop(&w);

    world_init(&w, 1, FAKE_NXDOMAIN, FAKE_ANSWER);
    world_start(&w);
    memset(&a, 0, sizeof(a));
    raw_query(&w, DJ_DNS_TYPE_AAAA, DJ_DNS_CLASS_IN, &a);
    run_raw(&w, &a, 2000);
    assert_int_equal(a.status, DJ_RESOLVE_NXDOMAIN);
    assert_raw_response(&a, DJ_DNS_TYPE_AAAA, DJ_DNS_CLASS_IN, 0);
    world_stop(&w);
}

static void test_query_raw_failures(void **state)
{
    struct world w;
    struct raw_outcome o = {0};

    (void)state;
    /* An error answer is not handed over: SERVFAIL without a message. */
    world_init(&w, 1, FAKE_SERVFAIL, FAKE_ANSWER);
    world_start(&w);
    raw_query(&w, 16, DJ_DNS_CLASS_IN, &o);
    run_raw(&w, &o, 2000);
    assert_int_equal(o.status, DJ_RESOLVE_SERVFAIL);
    assert_false(o.had_msg);
    world_stop(&w);

    /* ... nor is a failed first server's: the second one answers (positive control). */
    world_init(&w, 2, FAKE_SERVFAIL, FAKE_ANSWER);
    world_start(&w);
    memset(&o, 0, sizeof(o));
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &o);
    run_raw(&w, &o, 2000);
    assert_int_equal(o.status, DJ_RESOLVE_OK);
    assert_raw_response(&o, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 2);
    assert_int_equal(w.servers[1].udp_queries, 1);
    world_stop(&w);

    world_init(&w, 1, FAKE_DROP, FAKE_ANSWER);
    world_start(&w);
    memset(&o, 0, sizeof(o));
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &o);
    run_raw(&w, &o, 2000);
    assert_int_equal(o.status, DJ_RESOLVE_TIMEOUT);
    assert_false(o.had_msg);
    world_stop(&w);
}

static void test_query_raw_truncated_and_spoofed(void **state)
{
    struct world w;
    struct raw_outcome o = {0};
    static const uint8_t second_a[] = {192, 0, 2, 2};

    (void)state;
    world_init(&w, 1, FAKE_TRUNCATE, FAKE_ANSWER);
    world_start(&w);
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &o);
    run_raw(&w, &o, 2000);
    assert_int_equal(o.status, DJ_RESOLVE_OK);
    assert_raw_response(&o, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, 2);
    assert_int_equal(o.msg[2] & 0x02, 0); /* the TCP answer, not the truncated one */
    assert_int_equal(w.servers[0].udp_queries, 1);
    assert_int_equal(w.servers[0].tcp_queries, 1);
    world_stop(&w);

    /* The wrong id from the server and the right id from another port are both ignored. */
    world_init(&w, 1, FAKE_SPOOF_FIRST, FAKE_ANSWER);
    world_start(&w);
    memset(&o, 0, sizeof(o));
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &o);
    run_raw(&w, &o, 2000);
    assert_int_equal(o.status, DJ_RESOLVE_OK);
    assert_true(o.len > 4);
    assert_memory_equal(o.msg + o.len - 4, second_a, 4); /* not 203.0.113.x */
    world_stop(&w);
}

static void test_query_raw_not_cached_coalesced_cancelled(void **state)
{
    struct world w;
    struct raw_outcome o[3];
    struct raw_outcome lookup_like = {0};
    struct outcome lo = {0};
    struct dj_resolver_stats st;

    (void)state;
    memset(o, 0, sizeof(o));
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &o[0]);
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &o[1]);
    dj_resolver_cancel(raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &o[2]));
    /* A lookup of the same name never shares the raw query. */
    lookup(&w, "raw.example.test", AF_INET, &lo);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.queries_in_flight, 2);
    assert_int_equal(st.coalesced, 2);
    run_raw(&w, &o[0], 2000);
    run_raw(&w, &o[1], 2000);
    run(&w, &lo, 2000);
    run(&w, NULL, 50);
    assert_int_equal(o[0].status, DJ_RESOLVE_OK);
    assert_int_equal(o[1].status, DJ_RESOLVE_OK);
    assert_int_equal(o[2].calls, 0);
    assert_int_equal(lo.result.status, DJ_RESOLVE_OK);
    assert_int_equal(w.servers[0].a_queries, 2);
    /* Not cached: asked again (while the lookup's A is in the cache). */
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &lookup_like);
    run_raw(&w, &lookup_like, 2000);
    assert_int_equal(lookup_like.status, DJ_RESOLVE_OK);
    assert_int_equal(w.servers[0].a_queries, 3);
    world_stop(&w);
}

static void test_query_raw_refused_inputs(void **state)
{
    struct world w;
    struct raw_outcome o = {0};
    dj_error_t err = NULL;
    static const uint8_t unterminated[] = "\3raw\7example";
    static const uint8_t long_label[] = "\100abc";

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);
    assert_null(dj_resolver_query(w.res, unterminated, sizeof(unterminated) - 1, 1, 1, raw_record,
                                  &o, &err));
    assert_int_equal(err->errno_value, 0);
    dj_error_release(&err);
    assert_null(
        dj_resolver_query(w.res, long_label, sizeof(long_label), 1, 1, raw_record, &o, &err));
    dj_error_release(&err);
    assert_null(
        dj_resolver_query(w.res, RAW_NAME, sizeof(RAW_NAME) + 1, 1, 1, raw_record, &o, &err));
    dj_error_release(&err);
    assert_null(dj_resolver_query(w.res, RAW_NAME, sizeof(RAW_NAME), 252 /* AXFR */, 1, raw_record,
                                  &o, &err));
    dj_error_release(&err);
    assert_null(dj_resolver_query(w.res, RAW_NAME, sizeof(RAW_NAME), DJ_DNS_TYPE_OPT, 1, raw_record,
                                  &o, &err));
    dj_error_release(&err);
    assert_null(dj_resolver_query(w.res, RAW_NAME, sizeof(RAW_NAME), 1, 1, NULL, &o, &err));
    dj_error_release(&err);
    /* The root name is a name (positive control for the checks above). */
    assert_non_null(
        dj_resolver_query(w.res, (const uint8_t *)"", 1, 2 /* NS */, 1, raw_record, &o, &err));
    run_raw(&w, &o, 2000);
    assert_int_equal(o.status, DJ_RESOLVE_NODATA);
    world_stop(&w);
}

/* tcp:// servers are asked over TCP only. */
static void test_resolve_tcp_only_server(void **state)
{
    struct world w;
    struct outcome o = {0};
    struct raw_outcome r = {0};
    char text[64];
    dj_error_t err = NULL;

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    dj_resolver_config_init(&w.cfg);
    world_clock_init(&w);
    w.cfg.timeout_ms = 150;
    w.cfg.attempts = 1;
    snprintf(text, sizeof(text), "tcp://127.0.0.1:%u", (unsigned)w.servers[0].port);
    assert_int_equal(dj_resolver_config_add_server(&w.cfg, text, &err), 0);
    world_start(&w);
    lookup(&w, "tcp.example.test", AF_INET, &o);
    raw_query(&w, 16, DJ_DNS_CLASS_IN, &r);
    run(&w, &o, 2000);
    run_raw(&w, &r, 2000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    assert_int_equal(o.result.n_addrs, 2);
    assert_int_equal(r.status, DJ_RESOLVE_NODATA);
    assert_int_equal(w.servers[0].udp_queries, 0);
    assert_int_equal(w.servers[0].tcp_queries, 2);
    world_stop(&w);
}

static void test_query_raw_free_in_flight(void **state)
{
    struct world w;
    struct raw_outcome o = {0};

    (void)state;
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    world_start(&w);
    raw_query(&w, DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, &o);
    raw_query(&w, 16, CLASS_CH, &o);
    /* Answered by the server but not read: freed without a call (valgrind checks). */
    for (int i = 0; i < 20 && w.servers[0].udp_queries < 2; i++) {
        struct pollfd pfd = {.fd = w.servers[0].udp, .events = POLLIN};

        poll(&pfd, 1, 100);
        fake_serve_udp(&w.servers[0]);
    }
    world_stop(&w);
    assert_int_equal(o.calls, 0);
}

/* ---- DNS over TLS against a server of our own -------------------------------------------- */

/* A self-signed certificate for NAME (it is its own CA), its PEM file and its pin. */
struct identity {
    EVP_PKEY *key;
    X509 *cert;
    char pem_path[64];
    char pin[48];
};

static void identity_make(struct identity *id, const char *name)
{
    char san[80];
    X509_NAME *subject;
    X509_EXTENSION *ext;
    BIO *mem;
    char *pem;
    long pem_len;
    FILE *f;
    int fd;
    dj_error_t err = NULL;

    id->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    id->cert = X509_new();
    assert_non_null(id->key);
    assert_non_null(id->cert);
    X509_set_version(id->cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(id->cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(id->cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(id->cert), 3600);
    X509_set_pubkey(id->cert, id->key);
    subject = X509_get_subject_name(id->cert);
    X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(id->cert, subject);
    snprintf(san, sizeof(san), "DNS:%s", name);
    ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
    assert_non_null(ext);
    X509_add_ext(id->cert, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(id->cert, id->key, EVP_sha256()) > 0);

    mem = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(mem, id->cert);
    pem_len = BIO_get_mem_data(mem, &pem);
    assert_int_equal(dj_dot_pin_of_pem(pem, (size_t)pem_len, id->pin, &err), 0);
    snprintf(id->pem_path, sizeof(id->pem_path), "/tmp/dj-test-dot-XXXXXX");
    fd = mkstemp(id->pem_path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fwrite(pem, 1, (size_t)pem_len, f);
    fclose(f);
    BIO_free(mem);
}

static void identity_free(struct identity *id)
{
    unlink(id->pem_path);
    X509_free(id->cert);
    EVP_PKEY_free(id->key);
}

#define DOT_CONNS 4
#define DOT_HELD 8

struct dot_conn {
    int fd;
    SSL *ssl;
    bool up;
    uint8_t in[2048];
    size_t in_len;
    struct packet held[DOT_HELD];
    size_t n_held;
};

struct dot_server {
    int listen_fd;
    uint16_t port;
    SSL_CTX *ctx;
    struct dot_conn conns[DOT_CONNS];
    unsigned accepted;
    unsigned queries;
    unsigned hold;             /* answer in reverse order, HOLD at a time */
    bool close_on_first_query; /* first connection: close instead of answering */
};

static void dot_server_start(struct dot_server *s, const struct identity *id)
{
    memset(s, 0, sizeof(*s));
    for (int i = 0; i < DOT_CONNS; i++)
        s->conns[i].fd = -1;
    s->listen_fd = bound_socket(SOCK_STREAM, 0);
    assert_true(s->listen_fd >= 0);
    assert_int_equal(listen(s->listen_fd, 8), 0);
    s->port = local_port(s->listen_fd);
    s->ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(s->ctx);
    assert_int_equal(SSL_CTX_use_certificate(s->ctx, id->cert), 1);
    assert_int_equal(SSL_CTX_use_PrivateKey(s->ctx, id->key), 1);
}

static void dot_conn_close(struct dot_conn *c)
{
    SSL_free(c->ssl);
    close(c->fd);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void dot_server_stop(struct dot_server *s)
{
    for (int i = 0; i < DOT_CONNS; i++) {
        if (s->conns[i].fd >= 0)
            dot_conn_close(&s->conns[i]);
    }
    close(s->listen_fd);
    SSL_CTX_free(s->ctx);
}

static void dot_send(struct dot_conn *c, const struct packet *p)
{
    uint8_t framed[sizeof(p->bytes) + 2];

    framed[0] = (uint8_t)(p->len >> 8);
    framed[1] = (uint8_t)p->len;
    memcpy(framed + 2, p->bytes, p->len);
    assert_int_equal(SSL_write(c->ssl, framed, (int)p->len + 2), (int)p->len + 2);
}

static void dot_server_serve(struct dot_server *s)
{
    struct fake_server answers;
    int fd;

    memset(&answers, 0, sizeof(answers));
    answers.mode = FAKE_ANSWER;
    answers.ttl = 60;
    while ((fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        int slot = -1;

        for (int i = 0; i < DOT_CONNS && slot < 0; i++)
            slot = s->conns[i].fd < 0 ? i : -1;
        if (slot < 0) {
            close(fd);
            continue;
        }
        /* Blocking is fine: the client is driven by the same loop, so the handshake is
         * stepped with non-blocking reads below. */
        fcntl(fd, F_SETFL, O_NONBLOCK);
        s->conns[slot].fd = fd;
        s->conns[slot].ssl = SSL_new(s->ctx);
        SSL_set_fd(s->conns[slot].ssl, fd);
        s->accepted++;
    }
    for (int i = 0; i < DOT_CONNS; i++) {
        struct dot_conn *c = &s->conns[i];
        int n;

        if (c->fd < 0)
            continue;
        if (!c->up) {
            int r = SSL_accept(c->ssl);

            if (r == 1) {
                c->up = true;
            } else {
                int e = SSL_get_error(c->ssl, r);

                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                    dot_conn_close(c); /* the client refused us (pin, name) */
                ERR_clear_error();
                continue;
            }
        }
        n = SSL_read(c->ssl, c->in + c->in_len, (int)(sizeof(c->in) - c->in_len));
        if (n <= 0) {
            int e = SSL_get_error(c->ssl, n);

            ERR_clear_error();
            if (e != SSL_ERROR_WANT_READ)
                dot_conn_close(c);
            continue;
        }
        c->in_len += (size_t)n;
        while (c->in_len >= 2 && c->in_len >= 2 + (size_t)((c->in[0] << 8) | c->in[1])) {
            size_t len = (size_t)((c->in[0] << 8) | c->in[1]);
            struct dj_dns_query q;

            s->queries++;
            assert_int_equal(dj_dns_parse_query(c->in + 2, len, &q), DJ_DNS_PARSE_OK);
            memmove(c->in, c->in + 2 + len, c->in_len - 2 - len);
            c->in_len -= 2 + len;
            if (s->close_on_first_query) {
                s->close_on_first_query = false;
                dot_conn_close(c);
                break;
            }
            fake_response(&answers, &q, true, q.id, NULL, &c->held[c->n_held++]);
            if (c->n_held >= (s->hold > 0 ? s->hold : 1)) {
                while (c->n_held > 0)
                    dot_send(c, &c->held[--c->n_held]);
            }
        }
    }
}

struct dot_world {
    struct identity id;
    struct identity other;
    struct dot_server server;
    struct dj_resolver *res;
    uint64_t now_ns; /* the resolver's clock, which stands still here */
};

static uint64_t dot_world_clock(void *ctx)
{
    return ((const struct dot_world *)ctx)->now_ns;
}

/* A resolver whose one server is tls://127.0.0.1:PORT followed by MIDDLE and ARG (a pin or a
 * CA file). */
static void dot_world_start(struct dot_world *w, const char *middle, const char *arg)
{
    struct dj_resolver_config cfg;
    char text[512];
    dj_error_t err = NULL;

    dj_resolver_config_init(&cfg);
    /* The clock stands still, so no attempt or handshake times out, even under valgrind:
     * the counts below assume every query is asked once. */
    w->now_ns = CLOCK_START_NS;
    cfg.clock_ns = dot_world_clock;
    cfg.clock_ctx = w;
    cfg.timeout_ms = 10000;
    cfg.attempts = 2;
    cfg.cache_entries = 0;
    snprintf(text, sizeof(text), "tls://127.0.0.1:%u%s%s", (unsigned)w->server.port, middle, arg);
    assert_int_equal(dj_resolver_config_add_server(&cfg, text, &err), 0);
    w->res = dj_resolver_new(&cfg, &err);
    if (w->res == NULL)
        fail_msg("dj_resolver_new: %s", dj_error_msg(&err));
}

static void dot_pump(struct dot_world *w, int max_ms)
{
    struct pollfd pfd[2 + DOT_CONNS];
    nfds_t n = 0;
    int timeout = dj_resolver_timeout_ms(w->res);

    pfd[n++] = (struct pollfd){.fd = dj_resolver_fd(w->res), .events = POLLIN};
    pfd[n++] = (struct pollfd){.fd = w->server.listen_fd, .events = POLLIN};
    for (int c = 0; c < DOT_CONNS; c++) {
        if (w->server.conns[c].fd >= 0)
            pfd[n++] = (struct pollfd){.fd = w->server.conns[c].fd, .events = POLLIN};
    }
    if (timeout < 0 || timeout > max_ms)
        timeout = max_ms;
    poll(pfd, n, timeout);
    dot_server_serve(&w->server);
    dj_resolver_process(w->res);
}

static void dot_run(struct dot_world *w, struct outcome *o, size_t n, unsigned max_ms)
{
    uint64_t start = dj_monotonic_ns();

    for (;;) {
        size_t done = 0;

        for (size_t i = 0; i < n; i++)
            done += o[i].calls > 0;
        if (done == n || elapsed_ms(start) >= max_ms)
            return;
        dot_pump(w, 20);
    }
}

static void dot_lookup(struct dot_world *w, const char *name, int family, struct outcome *o)
{
    dj_error_t err = NULL;

    if (dj_resolver_lookup(w->res, name, family, record, o, &err) == NULL)
        fail_msg("lookup %s: %s", name, dj_error_msg(&err));
}

static void dot_world_init(struct dot_world *w)
{
    memset(w, 0, sizeof(*w));
    identity_make(&w->id, "dns.test");
    identity_make(&w->other, "other.test");
    dot_server_start(&w->server, &w->id);
}

static void dot_world_stop(struct dot_world *w)
{
    dj_resolver_free(w->res);
    dot_server_stop(&w->server);
    identity_free(&w->id);
    identity_free(&w->other);
}

/* Pipelined on one connection, answered out of order, matched by id. */
static void test_dot_pipelined_out_of_order(void **state)
{
    struct dot_world w;
    struct outcome o[3];
    struct dj_resolver_stats st;

    (void)state;
    memset(o, 0, sizeof(o));
    dot_world_init(&w);
    w.server.hold = 2; /* every two queries answered in reverse order */
    dot_world_start(&w, ";pin-sha256=", w.id.pin);
    dot_lookup(&w, "one.example.test", AF_UNSPEC, &o[0]);
    dot_lookup(&w, "two.example.test", AF_UNSPEC, &o[1]);
    dot_run(&w, o, 2, 30000);
    assert_int_equal(o[0].result.status, DJ_RESOLVE_OK);
    assert_int_equal(o[0].result.n_addrs, 3);
    assert_int_equal(o[1].result.status, DJ_RESOLVE_OK);
    assert_int_equal(o[1].result.n_addrs, 3);
    /* ... and again on the same connection. */
    dot_lookup(&w, "three.example.test", AF_UNSPEC, &o[2]);
    dot_run(&w, &o[2], 1, 30000);
    assert_int_equal(o[2].result.status, DJ_RESOLVE_OK);
    assert_int_equal(w.server.accepted, 1);
    assert_int_equal(w.server.queries, 6);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.dot_connects, 1);
    assert_int_equal(st.dot_sent, 6);
    assert_int_equal(st.udp_sent, 0);
    assert_int_equal(st.servers[0].answered, 6);
    assert_true(st.servers[0].dot_connected);
    dot_world_stop(&w);
}

/* A wrong pin: SERVFAIL, and the server never sees a query (checked before any is sent). */
static void test_dot_pin_wrong(void **state)
{
    struct dot_world w;
    struct outcome o = {0};
    struct dj_resolver_stats st;

    (void)state;
    dot_world_init(&w);
    dot_world_start(&w, ";pin-sha256=", w.other.pin);
    dot_lookup(&w, "pin.example.test", AF_INET, &o);
    dot_run(&w, &o, 1, 30000);
    assert_int_equal(o.result.status, DJ_RESOLVE_SERVFAIL);
    assert_int_equal(w.server.accepted, 1);
    assert_int_equal(w.server.queries, 0);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.dot_pin_failures, 1);
    assert_int_equal(st.udp_sent, 0);
    assert_false(st.servers[0].healthy);
    dot_world_stop(&w);
}

/* The chain against a CA file, and the name. */
static void test_dot_ca_and_name(void **state)
{
    struct dot_world w;
    struct outcome o = {0};
    struct dj_resolver_stats st;
    (void)state;
    dot_world_init(&w);
    dot_world_start(&w, "#dns.test;ca-file=", w.id.pem_path);
    dot_lookup(&w, "ca.example.test", AF_INET, &o);
    dot_run(&w, &o, 1, 30000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    dj_resolver_free(w.res);

    memset(&o, 0, sizeof(o));
    dot_world_start(&w, "#other.test;ca-file=", w.id.pem_path);
    dot_lookup(&w, "ca.example.test", AF_INET, &o);
    dot_run(&w, &o, 1, 30000);
    assert_int_equal(o.result.status, DJ_RESOLVE_SERVFAIL);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.dot_verify_failures, 1);
    dj_resolver_free(w.res);

    /* Another CA: the chain does not verify. */
    memset(&o, 0, sizeof(o));
    dot_world_start(&w, "#dns.test;ca-file=", w.other.pem_path);
    dot_lookup(&w, "ca.example.test", AF_INET, &o);
    dot_run(&w, &o, 1, 30000);
    assert_int_equal(o.result.status, DJ_RESOLVE_SERVFAIL);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.dot_verify_failures, 1);
    assert_int_equal(w.server.queries, 1); /* only the first, verified, resolver asked */
    dot_world_stop(&w);
}

/* The server closes the connection with a query in flight: asked again on a new one. */
static void test_dot_server_closes(void **state)
{
    struct dot_world w;
    struct outcome o = {0};
    struct dj_resolver_stats st;

    (void)state;
    dot_world_init(&w);
    w.server.close_on_first_query = true;
    dot_world_start(&w, ";pin-sha256=", w.id.pin);
    dot_lookup(&w, "closed.example.test", AF_INET, &o);
    dot_run(&w, &o, 1, 30000);
    assert_int_equal(o.result.status, DJ_RESOLVE_OK);
    assert_int_equal(w.server.accepted, 2);
    assert_int_equal(w.server.queries, 2);
    dj_resolver_get_stats(w.res, &st);
    assert_int_equal(st.dot_connects, 2);
    assert_int_equal(st.dot_reconnects, 1);
    assert_int_equal(st.timeouts, 0);
    assert_true(st.servers[0].healthy);
    dot_world_stop(&w);
}

/* A pool of connected sockets (the stub's container DNS): used instead of new sockets, given
 * back after each query and never closed; every socket busy fails the query at once; a
 * truncated answer fails (no TCP to that server). */
static int pool_socket(uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

static void test_resolve_socket_pool(void **state)
{
    struct world w;
    struct outcome o[3];
    dj_error_t err = NULL;
    int fds[2];

    (void)state;
    memset(o, 0, sizeof(o));
    world_init(&w, 1, FAKE_ANSWER, FAKE_ANSWER);
    for (size_t i = 0; i < 2; i++)
        w.cfg.pool_fds[i] = fds[i] = pool_socket(w.servers[0].port);
    w.cfg.n_pool_fds = 2;
    w.cfg.cache_entries = 0;
    world_start(&w);
    lookup(&w, "one.example.test", AF_INET, &o[0]);
    lookup(&w, "two.example.test", AF_INET, &o[1]);
    lookup(&w, "three.example.test", AF_INET, &o[2]); /* both sockets are busy */
    run(&w, &o[1], 2000);
    run(&w, &o[0], 2000);
    run(&w, &o[2], 2000);
    assert_int_equal(o[0].result.status, DJ_RESOLVE_OK);
    assert_int_equal(o[1].result.status, DJ_RESOLVE_OK);
    assert_int_equal(o[2].result.status, DJ_RESOLVE_SERVFAIL);
    assert_int_equal(w.servers[0].udp_queries, 2);
    /* Given back: the next one goes out again, over a pool socket. */
    memset(&o[2], 0, sizeof(o[2]));
    lookup(&w, "three.example.test", AF_INET, &o[2]);
    run(&w, &o[2], 2000);
    assert_int_equal(o[2].result.status, DJ_RESOLVE_OK);
    assert_int_equal(w.servers[0].udp_queries, 3);
    dj_resolver_free(w.res);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(fcntl(fds[i], F_GETFD), FD_CLOEXEC); /* still open */

    /* Truncated: no TCP attempt (it would leave the container's namespace). */
    fake_stop(&w.servers[0]);
    fake_start(&w.servers[0], FAKE_TRUNCATE);
    for (size_t i = 0; i < 2; i++)
        close(fds[i]);
    w.cfg.servers[0] = (struct sockaddr_storage){0};
    w.cfg.n_servers = 0;
    {
        char text[64];

        snprintf(text, sizeof(text), "127.0.0.1:%u", (unsigned)w.servers[0].port);
        assert_int_equal(dj_resolver_config_add_server(&w.cfg, text, &err), 0);
    }
    for (size_t i = 0; i < 2; i++)
        w.cfg.pool_fds[i] = fds[i] = pool_socket(w.servers[0].port);
    world_start(&w);
    memset(&o[0], 0, sizeof(o[0]));
    lookup(&w, "big.example.test", AF_INET, &o[0]);
    run(&w, &o[0], 2000);
    assert_int_equal(o[0].result.status, DJ_RESOLVE_SERVFAIL);
    assert_int_equal(w.servers[0].udp_queries, 1);
    assert_int_equal(w.servers[0].tcp_queries, 0);
    world_stop(&w);
    for (size_t i = 0; i < 2; i++)
        close(fds[i]);

    /* Refused: a pool with two servers, or over TLS. */
    world_init(&w, 2, FAKE_ANSWER, FAKE_ANSWER);
    w.cfg.pool_fds[0] = 0;
    w.cfg.n_pool_fds = 1;
    assert_null(dj_resolver_new(&w.cfg, &err));
    dj_error_release(&err);
    w.cfg.n_pool_fds = 0;
    world_start(&w);
    world_stop(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_a),
        cmocka_unit_test(test_answer_aaaa),
        cmocka_unit_test(test_answer_case_insensitive),
        cmocka_unit_test(test_answer_cname_chain),
        cmocka_unit_test(test_answer_cname_compressed),
        cmocka_unit_test(test_answer_cname_chain_limits),
        cmocka_unit_test(test_answer_cname_loop),
        cmocka_unit_test(test_answer_two_cnames),
        cmocka_unit_test(test_answer_chain_not_from_qname),
        cmocka_unit_test(test_answer_cname_with_other_data),
        cmocka_unit_test(test_answer_many_and_duplicate_addresses),
        cmocka_unit_test(test_answer_ttl_top_bit),
        cmocka_unit_test(test_answer_nxdomain_soa),
        cmocka_unit_test(test_answer_nxdomain_soa_compressed),
        cmocka_unit_test(test_answer_negative_soa_elsewhere),
        cmocka_unit_test(test_answer_nodata),
        cmocka_unit_test(test_answer_nxdomain_after_cname),
        cmocka_unit_test(test_answer_rcodes),
        cmocka_unit_test(test_answer_truncated_flag),
        cmocka_unit_test(test_answer_mismatch),
        cmocka_unit_test(test_answer_wrong_class_and_rdlength),
        cmocka_unit_test(test_answer_compression_attacks),
        cmocka_unit_test(test_answer_every_truncation),
        cmocka_unit_test(test_build_query),
        cmocka_unit_test(test_name_from_text),
        cmocka_unit_test(test_config_add_server),
        cmocka_unit_test(test_upstream_syntax),
        cmocka_unit_test(test_config_resolv_conf),
        cmocka_unit_test(test_config_rejected_by_new),
        cmocka_unit_test(test_resolve_a_and_cache),
        cmocka_unit_test(test_resolve_unspec),
        cmocka_unit_test(test_resolve_socket_pool),
        cmocka_unit_test(test_resolve_timeout_then_second_server),
        cmocka_unit_test(test_resolve_all_time_out),
        cmocka_unit_test(test_resolve_servfail_fails_over_at_once),
        cmocka_unit_test(test_resolve_port_unreachable),
        cmocka_unit_test(test_resolve_truncated_retries_over_tcp),
        cmocka_unit_test(test_resolve_nxdomain_cached),
        cmocka_unit_test(test_resolve_ttl_clamped_and_expiry),
        cmocka_unit_test(test_resolve_coalescing),
        cmocka_unit_test(test_resolve_cancel),
        cmocka_unit_test(test_resolve_ignores_spoofed),
        cmocka_unit_test(test_resolve_bad_names_and_limits),
        cmocka_unit_test(test_query_raw_statuses),
        cmocka_unit_test(test_query_raw_failures),
        cmocka_unit_test(test_query_raw_truncated_and_spoofed),
        cmocka_unit_test(test_query_raw_not_cached_coalesced_cancelled),
        cmocka_unit_test(test_query_raw_refused_inputs),
        cmocka_unit_test(test_query_raw_free_in_flight),
        cmocka_unit_test(test_resolve_tcp_only_server),
        cmocka_unit_test(test_dot_pipelined_out_of_order),
        cmocka_unit_test(test_dot_pin_wrong),
        cmocka_unit_test(test_dot_ca_and_name),
        cmocka_unit_test(test_dot_server_closes),
        cmocka_unit_test(test_resolve_lru_eviction),
        cmocka_unit_test(test_resolve_reentrant_callbacks),
        cmocka_unit_test(test_resolve_free_with_lookups_in_flight),
    };

    /* The fake DoT server writes with write(2) through OpenSSL's socket BIO; a client that
     * went away must not kill the test. (The resolver itself never raises SIGPIPE.) */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
