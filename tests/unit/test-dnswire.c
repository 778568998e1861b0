#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>

#include "dns/dnswire.h"

#define RD 0x0100
#define CD 0x0010

/* ---- query construction --------------------------------------------------------------- */

struct packet {
    uint8_t bytes[1024];
    size_t len;
};

static void put(struct packet *p, const void *data, size_t len)
{
    assert_true(p->len + len <= sizeof(p->bytes));
    memcpy(p->bytes + p->len, data, len);
    p->len += len;
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

static void put_header(struct packet *p, uint16_t id, uint16_t flags, uint16_t qd, uint16_t an,
                       uint16_t ns, uint16_t ar)
{
    p->len = 0;
    put16(p, id);
    put16(p, flags);
    put16(p, qd);
    put16(p, an);
    put16(p, ns);
    put16(p, ar);
}

/* "www.example.com" -> wire form (no compression). "" is the root. */
static void put_name(struct packet *p, const char *name)
{
    while (*name != '\0') {
        const char *dot = strchr(name, '.');
        size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);
        uint8_t len_byte = (uint8_t)len;

        put(p, &len_byte, 1);
        put(p, name, len);
        name += len + (dot != NULL ? 1 : 0);
    }
    put(p, "", 1);
}

static void put_opt(struct packet *p, uint16_t udp_size, uint8_t version, bool dnssec_ok)
{
    put(p, "", 1);
    put16(p, DJ_DNS_TYPE_OPT);
    put16(p, udp_size);
    put32(p, ((uint32_t)version << 16) | (dnssec_ok ? 0x8000 : 0));
    put16(p, 0);
}

/* A standard query: header, one question, optionally an OPT record. */
static void make_query(struct packet *p, uint16_t id, uint16_t flags, const char *name,
                       uint16_t qtype, uint16_t qclass, bool edns)
{
    put_header(p, id, flags, 1, 0, 0, edns ? 1 : 0);
    put_name(p, name);
    put16(p, qtype);
    put16(p, qclass);
    if (edns)
        put_opt(p, 4096, 0, false);
}

static struct dj_dns_policy default_policy(void)
{
    struct dj_dns_policy policy;

    memset(&policy, 0, sizeof(policy));
    inet_pton(AF_INET, "6.6.6.6", &policy.sinkhole4);
    policy.ttl = 5;
    return policy;
}

struct result {
    struct dj_dns_query q;
    struct dj_dns_outcome outcome;
    uint8_t out[DJ_DNS_MAX_RESPONSE];
    size_t len;
};

static void run_with(const struct packet *p, const struct dj_dns_policy *policy, size_t limit,
                     struct result *r)
{
    memset(r, 0xAA, sizeof(*r));
    dj_dns_parse_query(p->bytes, p->len, &r->q);
    r->len = dj_dns_build_response(&r->q, policy, limit, r->out, sizeof(r->out), &r->outcome);
}

static void run(const struct packet *p, struct result *r)
{
    struct dj_dns_policy policy = default_policy();

    memset(r, 0, sizeof(*r));
    dj_dns_parse_query(p->bytes, p->len, &r->q);
    run_with(p, &policy, dj_dns_response_limit(&r->q, false), r);
}

static uint16_t get16(const uint8_t *b)
{
    return (uint16_t)((b[0] << 8) | b[1]);
}

static uint16_t rcode_of(const struct result *r)
{
    return get16(r->out + 2) & 0x0F;
}

/* ---- answers ---------------------------------------------------------------------------- */

static void test_a_exact_bytes(void **state)
{
    static const uint8_t expected[] = {
        0x12, 0x34,             /* id */
        0x81, 0x80,             /* QR, opcode 0, RD | RA, NOERROR */
        0x00, 0x01, 0x00, 0x01, /* QDCOUNT 1, ANCOUNT 1 */
        0x00, 0x00, 0x00, 0x00, /* NSCOUNT 0, ARCOUNT 0 */
        7,    'e',  'x',  'a',  'm',  'p',  'l',  'e',  3,
        'c',  'o',  'm',  0,    0x00, 0x01, 0x00, 0x01, /* A IN */
        0xC0, 0x0C,                                     /* pointer to the question name */
        0x00, 0x01, 0x00, 0x01,                         /* A IN */
        0x00, 0x00, 0x00, 0x05,                         /* TTL 5 */
        0x00, 0x04, 6,    6,    6,    6,
    };
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 0x1234, RD, "example.com", DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_null(r.q.problem);
    assert_int_equal(r.len, sizeof(expected));
    assert_memory_equal(r.out, expected, sizeof(expected));
    assert_int_equal(r.outcome.rcode, DJ_DNS_RCODE_NOERROR);
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_A);
    assert_false(r.outcome.truncated);
}

static void test_aaaa_nodata_by_default(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 7, RD, "example.com", DJ_DNS_TYPE_AAAA, DJ_DNS_CLASS_IN, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_int_equal(r.len, 12 + 13 + 4);
    assert_int_equal(rcode_of(&r), 0);
    assert_int_equal(get16(r.out + 6), 0); /* no answer */
    assert_int_equal(get16(r.out + 4), 1); /* question echoed */
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_NONE);
}

static void test_aaaa_sinkhole(void **state)
{
    static const uint8_t answer[] = {
        0xC0, 0x0C, 0x00, 0x1C, 0x00, 0x01, 0x00, 0x00, 0x0E, 0x10, 0x00, 0x10, 0x20, 0x01,
        0x0d, 0xb8, 0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0x66,
    };
    struct dj_dns_policy policy = default_policy();
    struct packet p;
    struct result r;

    (void)state;
    policy.have_sinkhole6 = true;
    policy.ttl = 3600;
    inet_pton(AF_INET6, "2001:db8::66", &policy.sinkhole6);
    make_query(&p, 7, RD, "example.com", DJ_DNS_TYPE_AAAA, DJ_DNS_CLASS_IN, false);
    run_with(&p, &policy, 512, &r);
    assert_int_equal(r.len, 12 + 13 + 4 + sizeof(answer));
    assert_int_equal(get16(r.out + 6), 1);
    assert_memory_equal(r.out + 12 + 13 + 4, answer, sizeof(answer));
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_AAAA);

    /* The IPv6 sinkhole does not change A answers. */
    make_query(&p, 7, RD, "example.com", DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, false);
    run_with(&p, &policy, 512, &r);
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_A);
    assert_int_equal(r.len, 12 + 13 + 4 + 16);
}

static void test_other_types_nodata(void **state)
{
    static const uint16_t types[] = {
        16 /* TXT */, 15 /* MX */, 65 /* HTTPS */, 255 /* ANY */, 5 /* CNAME */,
        12 /* PTR */, 0,           65535};
    (void)state;
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct packet p;
        struct result r;

        make_query(&p, 9, RD, "example.com", types[i], DJ_DNS_CLASS_IN, true);
        run(&p, &r);
        assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
        assert_int_equal(rcode_of(&r), 0);
        assert_int_equal(get16(r.out + 6), 0);
        assert_int_equal(get16(r.out + 8), 0);
        assert_int_equal(get16(r.out + 10), 1); /* our OPT */
        assert_int_equal(get16(r.out + 12 + 13), types[i]);
        assert_int_equal(r.len, 12 + 13 + 4 + 11);
    }
}

static void test_class_chaos_nodata(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 9, RD, "version.bind", DJ_DNS_TYPE_A, 3 /* CH */, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_int_equal(rcode_of(&r), 0);
    assert_int_equal(get16(r.out + 6), 0);
    assert_int_equal(get16(r.out + 12 + 14 + 2), 3); /* class echoed */
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_NONE);
}

static void test_id_and_flags(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    /* RD clear: RD stays clear; RA always set; AA never; CD copied; AD and Z not. */
    make_query(&p, 0xBEEF, 0x0020 /* AD */ | 0x0040 /* Z */, "a.example", 1, 1, false);
    run(&p, &r);
    assert_int_equal(get16(r.out), 0xBEEF);
    assert_int_equal(get16(r.out + 2), 0x8080);

    make_query(&p, 0x0001, RD | CD | 0x0400 /* AA */ | 0x0200 /* TC */, "a.example", 1, 1, false);
    run(&p, &r);
    assert_int_equal(get16(r.out), 0x0001);
    assert_int_equal(get16(r.out + 2), 0x8000 | RD | 0x0080 | CD);
}

static void test_question_echo_and_ttl(void **state)
{
    struct dj_dns_policy policy = default_policy();
    struct packet p;
    struct result r;

    (void)state;
    policy.ttl = 0x7FFFFFFF;
    make_query(&p, 1, RD, "WwW.ExAmPlE.CoM", DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, false);
    run_with(&p, &policy, 512, &r);
    /* Case is kept: 0x20 bit randomization in resolvers depends on it. */
    assert_memory_equal(r.out + 12, p.bytes + 12, 17 + 4);
    assert_memory_equal(r.out + 12 + 21 + 6, "\x7f\xff\xff\xff", 4);
    assert_int_equal(r.q.qname_len, 17);
    assert_memory_equal(r.q.qname, p.bytes + 12, 17);
}

static void test_root_name(void **state)
{
    struct packet p;
    struct result r;
    char text[8];

    (void)state;
    make_query(&p, 1, RD, "", 2 /* NS */, DJ_DNS_CLASS_IN, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_int_equal(r.q.qname_len, 1);
    dj_dns_name_to_text(r.q.qname, r.q.qname_len, text, sizeof(text));
    assert_string_equal(text, ".");
}

/* ---- EDNS ------------------------------------------------------------------------------- */

static void test_edns_present(void **state)
{
    static const uint8_t opt[] = {0, 0x00, 0x29, 0x04, 0xD0, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00};
    struct packet p;
    struct result r;

    (void)state;
    put_header(&p, 5, RD, 1, 0, 0, 1);
    put_name(&p, "example.com");
    put16(&p, DJ_DNS_TYPE_A);
    put16(&p, DJ_DNS_CLASS_IN);
    put_opt(&p, 1400, 0, true);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_true(r.q.has_edns);
    assert_true(r.q.edns_do);
    assert_int_equal(r.q.edns_udp_size, 1400);
    assert_int_equal(dj_dns_response_limit(&r.q, false), 1400);
    assert_int_equal(get16(r.out + 10), 1);
    assert_int_equal(r.len, 12 + 17 + 16 + 11);
    /* root, OPT, our size 1232, ext rcode 0, version 0, DO copied, no options */
    assert_memory_equal(r.out + r.len - 11, opt, sizeof(opt));
}

static void test_edns_absent(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 5, RD, "example.com", DJ_DNS_TYPE_A, DJ_DNS_CLASS_IN, false);
    run(&p, &r);
    assert_false(r.q.has_edns);
    assert_int_equal(get16(r.out + 10), 0);
    assert_int_equal(dj_dns_response_limit(&r.q, false), 512);
    assert_int_equal(dj_dns_response_limit(&r.q, true), 65535);
}

static void test_edns_small_size_raised(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    put_header(&p, 5, RD, 1, 0, 0, 1);
    put_name(&p, "example.com");
    put16(&p, 1);
    put16(&p, 1);
    put_opt(&p, 100, 0, false);
    run(&p, &r);
    assert_int_equal(r.q.edns_udp_size, 512);
    assert_false(r.outcome.truncated);
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_A);
}

static void test_edns_badvers(void **state)
{
    struct packet p;
    struct result r;
    const uint8_t *opt;

    (void)state;
    put_header(&p, 5, RD, 1, 0, 0, 1);
    put_name(&p, "example.com");
    put16(&p, 1);
    put16(&p, 1);
    put_opt(&p, 1232, 1, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_BADVERS);
    assert_int_equal(r.outcome.rcode, DJ_DNS_RCODE_BADVERS);
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_NONE);
    assert_int_equal(rcode_of(&r), 0);      /* 16 = low bits 0 in the header ... */
    assert_int_equal(get16(r.out + 6), 0);  /* no answer */
    assert_int_equal(get16(r.out + 10), 1); /* ... high bits in the OPT */
    assert_int_equal(r.len, 12 + 17 + 11);
    opt = r.out + r.len - 11;
    assert_int_equal(get16(opt + 1), DJ_DNS_TYPE_OPT);
    assert_int_equal(opt[5], 1); /* extended rcode 1 << 4 = 16 */
    assert_int_equal(opt[6], 0); /* we speak version 0 */
}

static void test_edns_two_opts(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    put_header(&p, 5, RD, 1, 0, 0, 2);
    put_name(&p, "example.com");
    put16(&p, 1);
    put16(&p, 1);
    put_opt(&p, 1232, 0, false);
    put_opt(&p, 1232, 0, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
    assert_string_equal(r.q.problem, "more than one OPT record");
    assert_int_equal(rcode_of(&r), DJ_DNS_RCODE_FORMERR);
    assert_int_equal(get16(r.out + 4), 1); /* the question was fine: echoed */
    assert_int_equal(get16(r.out + 6), 0);
    assert_int_equal(get16(r.out + 10), 0); /* no OPT on FORMERR */
    assert_int_equal(r.len, 12 + 17);
}

static void test_edns_opt_with_name(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    put_header(&p, 5, RD, 1, 0, 0, 1);
    put_name(&p, "example.com");
    put16(&p, 1);
    put16(&p, 1);
    put_name(&p, "x");
    put16(&p, DJ_DNS_TYPE_OPT);
    put16(&p, 1232);
    put32(&p, 0);
    put16(&p, 0);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
}

static void test_edns_options(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    /* A cookie option (10, 8 bytes): well framed, ignored. */
    put_header(&p, 5, RD, 1, 0, 0, 1);
    put_name(&p, "example.com");
    put16(&p, 1);
    put16(&p, 1);
    put(&p, "", 1);
    put16(&p, DJ_DNS_TYPE_OPT);
    put16(&p, 1232);
    put32(&p, 0);
    put16(&p, 12);
    put16(&p, 10);
    put16(&p, 8);
    put(&p, "abcdefgh", 8);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_A);

    /* The option claims more bytes than the record has. */
    p.bytes[p.len - 9] = 9;
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
}

static void test_other_records_ignored(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    /* An answer record, an authority record and a compressed additional TXT record. */
    put_header(&p, 5, RD, 1, 1, 1, 2);
    put_name(&p, "example.com");
    put16(&p, 1);
    put16(&p, 1);
    put16(&p, 0xC00C);
    put16(&p, 1);
    put16(&p, 1);
    put32(&p, 60);
    put16(&p, 4);
    put(&p, "\x01\x02\x03\x04", 4);
    put_name(&p, "ns.example.com");
    put16(&p, 2);
    put16(&p, 1);
    put32(&p, 60);
    put16(&p, 2);
    put16(&p, 0xC00C);
    put16(&p, 0xC00C);
    put16(&p, 16);
    put16(&p, 1);
    put32(&p, 0);
    put16(&p, 3);
    put(&p, "\x02hi", 3);
    put_opt(&p, 1232, 0, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_true(r.q.has_edns);
    assert_int_equal(get16(r.out + 6), 1);
    assert_int_equal(get16(r.out + 8), 0);
    assert_int_equal(get16(r.out + 10), 1);

    /* ANCOUNT claims a record that is not there. */
    make_query(&p, 5, RD, "example.com", 1, 1, false);
    p.bytes[7] = 1;
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);

    /* Record data longer than the packet. */
    put_header(&p, 5, RD, 1, 0, 0, 1);
    put_name(&p, "example.com");
    put16(&p, 1);
    put16(&p, 1);
    put16(&p, 0xC00C);
    put16(&p, 16);
    put16(&p, 1);
    put32(&p, 0);
    put16(&p, 50);
    put(&p, "\x02hi", 3);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
    assert_string_equal(r.q.problem, "record data runs past the end of the packet");
}

/* ---- malformed packets ------------------------------------------------------------------ */

static void test_qdcount(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    for (uint16_t qd = 0; qd <= 2; qd += 2) {
        static const uint8_t header_only[] = {0x43, 0x21, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0};

        make_query(&p, 0x4321, RD, "example.com", 1, 1, true);
        p.bytes[5] = (uint8_t)qd;
        run(&p, &r);
        assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
        assert_false(r.q.has_question);
        assert_int_equal(r.len, 12);
        assert_memory_equal(r.out, header_only, 12);
    }
}

static void test_short_header_dropped(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 1, RD, "example.com", 1, 1, false);
    for (size_t len = 0; len < 12; len++) {
        p.len = len;
        run(&p, &r);
        assert_int_equal(r.q.result, DJ_DNS_PARSE_DROP);
        assert_int_equal(r.len, 0);
    }
}

static void test_truncated_question(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 1, RD, "example.com", 1, 1, false);
    /* Every cut inside the name or the type/class is FORMERR, header echoed. */
    for (size_t len = 12; len < 12 + 13 + 4; len++) {
        struct packet cut = p;

        cut.len = len;
        run(&cut, &r);
        assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
        assert_int_equal(r.len, 12);
        assert_int_equal(get16(r.out), 1);
        assert_int_equal(get16(r.out + 2), 0x8181);
    }
}

static void test_label_too_long(void **state)
{
    char name[80];
    struct packet p;
    struct result r;

    (void)state;
    memset(name, 'a', 63);
    name[63] = '\0';
    make_query(&p, 1, RD, name, 1, 1, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);

    /* 64 = 0x40: the "extended label" bits, not a length. */
    memset(name, 'a', 64);
    name[64] = '\0';
    make_query(&p, 1, RD, name, 1, 1, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
    assert_string_equal(r.q.problem, "label longer than 63 bytes or of an unknown type");
    /* 0x80 too. */
    p.bytes[12] = 0x80;
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
}

/* NAME of N labels of LEN 'x' bytes, plus a last label of LAST bytes (0: none). */
static void long_name(char *name, int labels, int len, int last)
{
    char *p = name;

    for (int i = 0; i < labels; i++) {
        memset(p, 'x', (size_t)len);
        p += len;
        *p++ = '.';
    }
    memset(p, 'y', (size_t)last);
    p += last;
    if (last == 0 && p > name)
        p--; /* drop the trailing dot */
    *p = '\0';
}

static void test_name_length(void **state)
{
    char name[400];
    struct packet p;
    struct result r;

    (void)state;
    /* 3 * 64 + 62 + 1 = 255: the longest legal name. */
    long_name(name, 3, 63, 61);
    make_query(&p, 1, RD, name, 1, 1, true);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_int_equal(r.q.qname_len, 255);
    assert_int_equal(r.len, 12 + 255 + 4 + 16 + 11);
    assert_false(r.outcome.truncated);

    /* 256 */
    long_name(name, 3, 63, 62);
    make_query(&p, 1, RD, name, 1, 1, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
    assert_string_equal(r.q.problem, "name longer than 255 bytes");

    long_name(name, 5, 63, 0);
    make_query(&p, 1, RD, name, 1, 1, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
}

static void test_compression_pointers(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    /* The question is a pointer to itself: a loop. */
    put_header(&p, 1, RD, 1, 0, 0, 0);
    put16(&p, 0xC00C);
    put16(&p, 1);
    put16(&p, 1);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
    assert_string_equal(r.q.problem, "compression pointer does not point backwards");

    /* A label, then a pointer back to the start of the same name: a loop too. */
    put_header(&p, 1, RD, 1, 0, 0, 0);
    put(&p,
        "\x01"
        "a",
        2);
    put16(&p, 0xC00C);
    put16(&p, 1);
    put16(&p, 1);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);

    /* Forward pointer to a name further on. */
    put_header(&p, 1, RD, 1, 0, 0, 0);
    put16(&p, 0xC012);
    put16(&p, 1);
    put16(&p, 1);
    put_name(&p, "example.com");
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);

    /* Pointer past the end of the packet. */
    put_header(&p, 1, RD, 1, 0, 0, 0);
    put16(&p, 0xC3FF);
    put16(&p, 1);
    put16(&p, 1);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);

    /* Pointer cut in half by the end of the packet. */
    put_header(&p, 1, RD, 1, 0, 0, 0);
    put(&p, "\xC0", 1);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
    assert_string_equal(r.q.problem, "name runs past the end of the message");

    /* Pointer into the header. */
    put_header(&p, 1, RD, 1, 0, 0, 0);
    put16(&p, 0xC002);
    put16(&p, 1);
    put16(&p, 1);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
    assert_string_equal(r.q.problem, "compression pointer into the header");

    /* Two additional names pointing at each other. */
    make_query(&p, 1, RD, "example.com", 1, 1, false);
    p.bytes[11] = 2;
    put16(&p, 0xC000 | (uint16_t)(p.len + 12)); /* offset 29 -> 41 (forward) */
    put16(&p, 16);
    put16(&p, 1);
    put32(&p, 0);
    put16(&p, 0);
    put16(&p, 0xC01D); /* offset 41 -> 29 (backwards, but 29 then jumps forward) */
    put16(&p, 16);
    put16(&p, 1);
    put32(&p, 0);
    put16(&p, 0);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_FORMERR);
}

static void test_compressed_chain_accepted(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    /* Additional records whose names chain backwards: "www" + ->question; "a" + ->"www...". */
    make_query(&p, 1, RD, "example.com", 1, 1, false);
    p.bytes[11] = 2;
    put(&p, "\x03www", 4); /* offset 29 */
    put16(&p, 0xC00C);
    put16(&p, 16);
    put16(&p, 1);
    put32(&p, 0);
    put16(&p, 0);
    put(&p,
        "\x01"
        "a",
        2);
    put16(&p, 0xC01D);
    put16(&p, 16);
    put16(&p, 1);
    put32(&p, 0);
    put16(&p, 0);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_OK);
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_A);
}

static void test_truncation(void **state)
{
    struct dj_dns_policy policy = default_policy();
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 1, RD, "example.com", 1, 1, true);
    /* Full answer: 12 + 17 + 16 + 11 = 56 bytes. */
    run_with(&p, &policy, 56, &r);
    assert_int_equal(r.len, 56);
    assert_false(r.outcome.truncated);

    /* One byte short: answer left out, TC set, question and OPT kept. */
    run_with(&p, &policy, 55, &r);
    assert_true(r.outcome.truncated);
    assert_int_equal(r.outcome.answer, DJ_DNS_ANSWER_NONE);
    assert_int_equal(r.len, 12 + 17 + 11);
    assert_int_equal(get16(r.out + 2), 0x8000 | 0x0200 | RD | 0x0080);
    assert_int_equal(get16(r.out + 4), 1);
    assert_int_equal(get16(r.out + 6), 0);
    assert_int_equal(get16(r.out + 10), 1);

    /* Room for the question only. */
    run_with(&p, &policy, 12 + 17, &r);
    assert_true(r.outcome.truncated);
    assert_int_equal(r.len, 12 + 17);
    assert_int_equal(get16(r.out + 10), 0);

    /* Room for the header only. */
    run_with(&p, &policy, 20, &r);
    assert_int_equal(r.len, 12);
    assert_int_equal(get16(r.out + 2) & 0x0200, 0x0200);
    assert_int_equal(get16(r.out + 4), 0);

    /* Not even a header: nothing. */
    run_with(&p, &policy, 11, &r);
    assert_int_equal(r.len, 0);

    /* A small output buffer limits like a small client. */
    dj_dns_parse_query(p.bytes, p.len, &r.q);
    r.len = dj_dns_build_response(&r.q, &policy, 512, r.out, 30, &r.outcome);
    assert_int_equal(r.len, 29);
    assert_true(r.outcome.truncated);
}

static void test_response_dropped(void **state)
{
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 1, 0x8000 | RD, "example.com", 1, 1, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_DROP);
    assert_int_equal(r.len, 0);
    /* Even a response with an unknown opcode. */
    make_query(&p, 1, 0x8000 | (5 << 11), "example.com", 1, 1, false);
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_DROP);
    assert_int_equal(r.len, 0);
}

static void test_opcode_notimp(void **state)
{
    static const uint8_t expected_update[] = {0, 9, 0xA9, 0x84, 0, 0, 0, 0, 0, 0, 0, 0};
    struct packet p;
    struct result r;

    (void)state;
    make_query(&p, 9, (5 << 11) | RD, "example.com", 6, 1, false); /* UPDATE */
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_NOTIMP);
    assert_int_equal(r.len, 12);
    assert_memory_equal(r.out, expected_update, 12);

    make_query(&p, 9, (2 << 11), "", 1, 1, false); /* STATUS */
    run(&p, &r);
    assert_int_equal(r.q.result, DJ_DNS_PARSE_NOTIMP);
    assert_int_equal(get16(r.out + 2), 0x8000 | (2 << 11) | 0x0080 | 4);
}

/* ---- text forms ------------------------------------------------------------------------- */

static void test_name_text(void **state)
{
    static const uint8_t odd[] = {3, 'a', '.', 'b', 2, '\\', ' ', 2, 0xFF, 0x01, 0};
    static const uint8_t plain[] = {3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0};
    static const uint8_t broken[] = {3, 'a', 'b', 'c', 9, 'x'};
    char text[DJ_DNS_MAX_NAME_TEXT];
    char small[6];

    (void)state;
    assert_int_equal(dj_dns_name_to_text(plain, sizeof(plain), text, sizeof(text)), 11);
    assert_string_equal(text, "www.example");
    dj_dns_name_to_text(odd, sizeof(odd), text, sizeof(text));
    assert_string_equal(text, "a\\.b.\\\\\\032.\\255\\001");
    dj_dns_name_to_text(broken, sizeof(broken), text, sizeof(text));
    assert_string_equal(text, "abc");
    dj_dns_name_to_text(plain, 0, text, sizeof(text));
    assert_string_equal(text, ".");
    /* Cut at whole characters or escapes, always terminated. */
    assert_int_equal(dj_dns_name_to_text(plain, sizeof(plain), small, sizeof(small)), 5);
    assert_string_equal(small, "www.e");
    assert_int_equal(dj_dns_name_to_text(odd + 7, 4, small, sizeof(small)), 4);
    assert_string_equal(small, "\\255");
}

static void test_name_text_worst_case(void **state)
{
    uint8_t wire[DJ_DNS_MAX_NAME];
    char text[DJ_DNS_MAX_NAME_TEXT];
    size_t n = 0;

    (void)state;
    /* 3 labels of 63 zero bytes, one of 61, the root: 255 bytes, every byte shown as \000. */
    for (int i = 0; i < 4; i++) {
        size_t len = i < 3 ? 63 : 61;

        wire[n++] = (uint8_t)len;
        memset(wire + n, 0, len);
        n += len;
    }
    wire[n++] = 0;
    assert_int_equal(n, 255);
    assert_int_equal(dj_dns_name_to_text(wire, n, text, sizeof(text)), 4 * 250 + 3);
    assert_int_equal(strlen(text), 4 * 250 + 3);
    assert_memory_equal(text + 4 * 63, ".\\000", 5);

    /* 127 one-byte labels: the most separators. */
    n = 0;
    for (int i = 0; i < 127; i++) {
        wire[n++] = 1;
        wire[n++] = '.';
    }
    wire[n++] = 0;
    assert_int_equal(dj_dns_name_to_text(wire, n, text, sizeof(text)), 127 * 2 + 126);
}

static void test_type_and_rcode_text(void **state)
{
    char t[DJ_DNS_TYPE_TEXT_SIZE], rc[DJ_DNS_RCODE_TEXT_SIZE];

    (void)state;
    assert_string_equal(dj_dns_type_text(1, t), "A");
    assert_string_equal(dj_dns_type_text(28, t), "AAAA");
    assert_string_equal(dj_dns_type_text(16, t), "TXT");
    assert_string_equal(dj_dns_type_text(65, t), "TYPE65");
    assert_string_equal(dj_dns_type_text(65535, t), "TYPE65535");
    assert_string_equal(dj_dns_rcode_text(0, rc), "NOERROR");
    assert_string_equal(dj_dns_rcode_text(1, rc), "FORMERR");
    assert_string_equal(dj_dns_rcode_text(4, rc), "NOTIMP");
    assert_string_equal(dj_dns_rcode_text(16, rc), "BADVERS");
    assert_string_equal(dj_dns_rcode_text(4095, rc), "RCODE4095");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_exact_bytes),
        cmocka_unit_test(test_aaaa_nodata_by_default),
        cmocka_unit_test(test_aaaa_sinkhole),
        cmocka_unit_test(test_other_types_nodata),
        cmocka_unit_test(test_class_chaos_nodata),
        cmocka_unit_test(test_id_and_flags),
        cmocka_unit_test(test_question_echo_and_ttl),
        cmocka_unit_test(test_root_name),
        cmocka_unit_test(test_edns_present),
        cmocka_unit_test(test_edns_absent),
        cmocka_unit_test(test_edns_small_size_raised),
        cmocka_unit_test(test_edns_badvers),
        cmocka_unit_test(test_edns_two_opts),
        cmocka_unit_test(test_edns_opt_with_name),
        cmocka_unit_test(test_edns_options),
        cmocka_unit_test(test_other_records_ignored),
        cmocka_unit_test(test_qdcount),
        cmocka_unit_test(test_short_header_dropped),
        cmocka_unit_test(test_truncated_question),
        cmocka_unit_test(test_label_too_long),
        cmocka_unit_test(test_name_length),
        cmocka_unit_test(test_compression_pointers),
        cmocka_unit_test(test_compressed_chain_accepted),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_response_dropped),
        cmocka_unit_test(test_opcode_notimp),
        cmocka_unit_test(test_name_text),
        cmocka_unit_test(test_name_text_worst_case),
        cmocka_unit_test(test_type_and_rcode_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
