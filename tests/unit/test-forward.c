/* Tests the forward-zone pieces without a network: zone lists (lib/dns/fwdzone), the forwarded
 * answer reader and rewriter (lib/dns/fwdmsg), the answer cache (lib/dns/fwdcache), the config keys
 * and the token bucket the stub puts on upstream queries (lib/daemon/jsonlog's limiter). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jail/adminconf.h"
#include "dns/cdnsnames.h"
#include "dns/dnswire.h"
#include "dns/fwdcache.h"
#include "dns/fwdmsg.h"
#include "dns/fwdzone.h"
#include "daemon/jsonlog.h"
#include "jail/policy.h"

#define S 1000000000ull

/* ---- zones ----------------------------------------------------------------------------- */

static ssize_t match(const struct dj_fwdzone_list *z, const char *wire, size_t len)
{
    return dj_fwdzone_match(z, (const uint8_t *)wire, len);
}

static void test_zone_parse(void **unused)
{
    struct dj_fwdzone_list z = {0};
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(dj_fwdzone_parse(&z,
                                      " cluster.local svc,Corp.Example.=192.0.2.53 "
                                      "internal.test=tls://192.0.2.53#dns.test;pin-sha256=AB+c/="
                                      "|192.0.2.54:5353",
                                      true, &err),
                     0);
    assert_int_equal(z.n, 4);
    assert_string_equal(z.zones[0].name, "cluster.local");
    assert_null(z.zones[0].upstreams);
    assert_string_equal(z.zones[2].name, "corp.example");
    assert_string_equal(z.zones[2].upstreams, "192.0.2.53");
    assert_string_equal(z.zones[3].upstreams,
                        "tls://192.0.2.53#dns.test;pin-sha256=AB+c/=|192.0.2.54:5353");
    {
        char buf[256];
        const char *ups[DJ_FWDZONE_MAX_UPSTREAMS];

        assert_int_equal(dj_fwdzone_split_upstreams(z.zones[3].upstreams, buf, sizeof(buf), ups),
                         2);
        assert_string_equal(ups[1], "192.0.2.54:5353");
    }

    /* Refusals leave the list as it was. */
    assert_int_equal(dj_fwdzone_parse(&z, "ok.test svc", true, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "twice"));
    dj_error_release(&err);
    assert_int_equal(z.n, 4);
    const char *bad[] = {".",  "a..b", "bad_é.test", "x.test=", "x.test=a||b", "x.test=a|b|c|d|e",
                         "-=1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int r = dj_fwdzone_parse(&z, bad[i], true, &err);

        if (r == 0)
            fail_msg("accepted \"%s\"", bad[i]);
        dj_error_release(&err);
        assert_int_equal(z.n, 4);
    }
    assert_int_equal(dj_fwdzone_parse(&z, "x.test", true, &err), 0);
    /* The annotation form takes zones only. */
    assert_int_equal(dj_fwdzone_parse(&z, "y.test=192.0.2.1", false, &err), -1);
    dj_error_release(&err);
    dj_fwdzone_free(&z);
}

static void test_zone_match(void **unused)
{
    struct dj_fwdzone_list z = {0};
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(dj_fwdzone_parse(&z, "cluster.local svc.cluster.local local9", true, &err), 0);
    assert_int_equal(match(&z, "\7cluster\5local", 15), 0);         /* the zone itself */
    assert_int_equal(match(&z, "\1a\7CLUSTER\5Local", 17), 0);      /* below, any case */
    assert_int_equal(match(&z, "\1a\3svc\7cluster\5local", 21), 1); /* the longest wins */
    assert_int_equal(match(&z, "\6secret\10attacker\4test\7cluster\5local", 36), 0);
    assert_int_equal(match(&z, "\10xcluster\5local", 16), -1); /* label boundary */
    assert_int_equal(match(&z, "\5local", 7), -1);             /* above the zone */
    assert_int_equal(match(&z, "\7example\4test", 14), -1);
    /* A label whose bytes look like the zone's wire form is not a boundary. */
    assert_int_equal(match(&z, "\7x\6local9", 10), -1);
    assert_int_equal(match(&z, "\6local9", 8), 2);
    assert_int_equal(dj_fwdzone_match_text(&z, "a.svc.cluster.local"), 1);
    dj_fwdzone_free(&z);
}

/* ---- container-DNS names (lib/dns/cdnsnames) -------------------------------------------- */

static bool cdns(const struct dj_cdnsnames *l, const char *wire, size_t len)
{
    return dj_cdnsnames_match(l, (const uint8_t *)wire, len);
}

static void test_cdns_parse(void **unused)
{
    static const char *const bad[] = {
        "**",
        "a*",
        "*.*",
        "*.",
        ".",
        "*x.test",
        "*..test",
        "a..b",
        "-a",
        "a b*",
        "x*.test",
        "*.-bad.test",
        "* *",
        "db.test db.test",
        "*.a.test,*.A.test.",
        "a\x01b",
        "\xc3\xa9",
        "=upstream",
    };
    struct dj_cdnsnames l = {0};
    dj_error_t err = NULL;
    char buf[64];

    (void)unused;
    assert_int_equal(dj_cdnsnames_parse(&l, " * ,DB.svc.Test. *.Internal.Test\n", &err), 0);
    assert_true(l.single_label);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.names[0].text, "db.svc.test");
    assert_false(l.names[0].suffix);
    assert_string_equal(l.names[1].text, "internal.test");
    assert_true(l.names[1].suffix);
    assert_string_equal(dj_cdnsnames_format(&l, buf, sizeof(buf)), "*,db.svc.test,*.internal.test");
    assert_null(dj_cdnsnames_format(&l, buf, 10)); /* does not fit: no cut-off list */
    /* A failed parse leaves the list as it was, and quotes the entry. */
    assert_int_equal(dj_cdnsnames_parse(&l, "redis *.ok.test bad..name", &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "bad..name"));
    dj_error_release(&err);
    assert_int_equal(l.n, 2);
    assert_int_equal(dj_cdnsnames_parse(&l, "*", &err), -1); /* twice, across calls */
    dj_error_release(&err);
    assert_true(l.single_label);
    dj_cdnsnames_free(&l);
    assert_int_equal(l.n, 0);
    assert_false(l.single_label);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dj_cdnsnames b = {0};

        if (dj_cdnsnames_parse(&b, bad[i], &err) == 0)
            fail_msg("\"%s\" was accepted", bad[i]);
        dj_error_release(&err);
        assert_int_equal(b.n, 0);
        assert_false(b.single_label);
    }
    /* An empty list is valid and covers nothing. */
    assert_int_equal(dj_cdnsnames_parse(&l, " , ", &err), 0);
    assert_false(cdns(&l, "\10postgres", 10));
    dj_cdnsnames_free(&l);
}

static void test_cdns_match(void **unused)
{
    struct dj_cdnsnames l = {0};
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(dj_cdnsnames_parse(&l, DJ_CDNSNAMES_DEFAULT, &err), 0);
    assert_true(cdns(&l, "\10postgres", 10));     /* one label */
    assert_true(cdns(&l, "\5REDIS", 7));          /* any case */
    assert_false(cdns(&l, "\2db\4test", 9));      /* two labels */
    assert_false(cdns(&l, "", 1));                /* the root */
    assert_false(cdns(&l, "\7example\3com", 13)); /* where the canary lives */
    assert_false(cdns(&l, "\10postgres", 9));     /* a length that runs past the end */
    assert_false(cdns(&l, "\10postgres", 0));
    dj_cdnsnames_free(&l);

    assert_int_equal(dj_cdnsnames_parse(&l, "db.svc.test *.internal.test", &err), 0);
    assert_false(cdns(&l, "\10postgres", 10)); /* no "*": single labels are not covered */
    assert_true(cdns(&l, "\2DB\3svc\4test", 13));
    assert_false(cdns(&l, "\1x\2db\3svc\4test", 15)); /* exact: nothing below */
    assert_false(cdns(&l, "\3svc\4test", 10));
    assert_true(cdns(&l, "\1a\10internal\4test", 17));
    assert_true(cdns(&l, "\1b\1a\10internal\4test", 19));
    assert_false(cdns(&l, "\10internal\4test", 15));  /* the suffix itself */
    assert_false(cdns(&l, "\11xinternal\4test", 16)); /* label boundary */
    /* A label whose bytes look like the suffix's wire form is not a boundary. */
    assert_false(cdns(&l, "\17x\10internal\4test", 17));
    dj_cdnsnames_free(&l);
}

/* ---- config and annotation ------------------------------------------------------------- */

static void test_config_keys(void **unused)
{
    struct dj_adminconf cfg;
    dj_error_t err = NULL;
    const char good[] = "forward-zones = cluster.local svc=192.0.2.53|[2001:db8::53]:53\n"
                        "annotation-forward-within = corp.example=192.0.2.54\n"
                        "forward-cache-entries = 10\nforward-ttl-floor = 1\n"
                        "forward-ttl-ceiling = 60\nforward-rate = 5\nforward-burst = 7\n";

    (void)unused;
    assert_int_equal(dj_adminconf_init(&cfg, &err), 0);
    assert_null(cfg.forward_zones);
    assert_int_equal(cfg.forward_cache_entries, 1024);
    assert_int_equal(cfg.forward_rate, 100);
    assert_int_equal(dj_adminconf_parse(&cfg, "t", good, sizeof(good) - 1, &err), 0);
    assert_string_equal(cfg.forward_zones, "cluster.local svc=192.0.2.53|[2001:db8::53]:53");
    assert_string_equal(cfg.forward_ceiling, "corp.example=192.0.2.54");
    assert_int_equal(cfg.forward_cache_entries, 10);
    assert_int_equal(cfg.forward_ttl_floor, 1);
    assert_int_equal(cfg.forward_ttl_ceiling, 60);
    assert_int_equal(cfg.forward_rate, 5);
    assert_int_equal(cfg.forward_burst, 7);
    assert_int_equal(dj_adminconf_parse(&cfg, "t", "forward-zones = .\n", 18, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "t:1: key 'forward-zones'"));
    dj_error_release(&err);
    assert_int_equal(dj_adminconf_parse(
                         &cfg, "t", "forward-ttl-floor = 90\nforward-ttl-ceiling = 60\n", 47, &err),
                     -1);
    dj_error_release(&err);
    dj_adminconf_free(&cfg);
}

static void test_annotation(void **unused)
{
    struct dj_adminconf cfg;
    struct dj_policy policy;
    dj_error_t err = NULL;
    struct oci_annotation ann[] = {{"io.dnsjail.forward", "a.corp.example, other.corp.example"}};
    struct oci_annotation wide[] = {{"io.dnsjail.forward", "example"}};
    char *canonical;

    (void)unused;
    assert_int_equal(dj_adminconf_init(&cfg, &err), 0);
    /* No ceiling: the annotation is refused, and says why. */
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "annotation-forward-within"));
    dj_error_release(&err);

    cfg.forward_ceiling = strdup("corp.example=192.0.2.54 svc");
    cfg.forward_zones = strdup("cluster.local");
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), 0);
    assert_int_equal(policy.forward.n, 3);
    assert_string_equal(policy.forward.zones[0].name, "cluster.local");
    assert_null(policy.forward.zones[0].upstreams);
    assert_string_equal(policy.forward.zones[1].name, "a.corp.example");
    assert_string_equal(policy.forward.zones[1].upstreams, "192.0.2.54");
    canonical = dj_policy_canonical(&policy);
    assert_string_equal(canonical, "mode=enforce forward=a.corp.example=192.0.2.54,cluster.local,"
                                   "other.corp.example=192.0.2.54 allow=");
    free(canonical);
    dj_policy_free(&policy);

    assert_int_equal(dj_policy_from_annotations(wide, 1, &cfg, &policy, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "\"example\""));
    dj_error_release(&err);
    dj_adminconf_free(&cfg);
}

/* ---- forwarded answers ----------------------------------------------------------------- */

struct msg {
    uint8_t b[1024];
    size_t len;
};

static void put(struct msg *m, const void *bytes, size_t n)
{
    memcpy(m->b + m->len, bytes, n);
    m->len += n;
}

static void put16(struct msg *m, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    put(m, b, 2);
}

static void put32(struct msg *m, uint32_t v)
{
    put16(m, (uint16_t)(v >> 16));
    put16(m, (uint16_t)v);
}

static uint32_t ttl_at(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#define QNAME "\3www\7cluster\5local"
#define QNAME_LEN 19

/* A response from upstream: id 0x1111, question www.cluster.local A IN. */
static void response(struct msg *m, uint16_t flags, uint16_t an, uint16_t ns, uint16_t ar)
{
    m->len = 0;
    put16(m, 0x1111);
    put16(m, flags);
    put16(m, 1);
    put16(m, an);
    put16(m, ns);
    put16(m, ar);
    put(m, QNAME, QNAME_LEN);
    put16(m, 1);
    put16(m, 1);
}

static void a_record(struct msg *m, uint32_t ttl, uint8_t last)
{
    put16(m, 0xC00C);
    put16(m, 1);
    put16(m, 1);
    put32(m, ttl);
    put16(m, 4);
    put(m, (uint8_t[]){192, 0, 2, last}, 4);
}

static void soa_record(struct msg *m, uint32_t ttl, uint32_t minimum)
{
    put16(m, 0xC010); /* cluster.local */
    put16(m, 6);
    put16(m, 1);
    put32(m, ttl);
    put16(m, 2 + 2 + 20);
    put16(m, 0xC010);
    put16(m, 0xC010);
    for (int i = 0; i < 4; i++)
        put32(m, 1);
    put32(m, minimum);
}

static void opt_record(struct msg *m)
{
    put(m, "\0", 1);
    put16(m, 41);
    put16(m, 1232);
    put32(m, 0);
    put16(m, 0);
}

static struct dj_dns_query client(bool edns)
{
    struct dj_dns_query q;

    memset(&q, 0, sizeof(q));
    q.result = DJ_DNS_PARSE_OK;
    q.has_question = true;
    q.id = 0xabcd;
    q.flags = 0x0100;
    memcpy(q.qname, "\3WwW\7cluster\5LOCAL", QNAME_LEN);
    q.qname_len = QNAME_LEN;
    q.qtype = 1;
    q.qclass = 1;
    q.has_edns = edns;
    q.edns_udp_size = 1232;
    return q;
}

static void test_fwdmsg_positive(void **unused)
{
    struct dj_dns_query q = client(false);
    struct dj_fwdmsg_info info;
    struct msg m;
    uint8_t out[1024];
    bool truncated;
    size_t n;

    (void)unused;
    response(&m, 0x8180, 2, 0, 1);
    a_record(&m, 300, 1);
    a_record(&m, 60, 2);
    opt_record(&m);
    assert_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 1, 1, &info));
    assert_true(info.cacheable);
    assert_false(info.negative);
    assert_int_equal(info.lifetime, 60);

    /* Aged by 10 s, capped at 100: 290 -> 100, 50. No EDNS from the client: no OPT. */
    n = dj_fwdmsg_build_reply(m.b, m.len, &q, 10, 100, 512, out, sizeof(out), &truncated);
    assert_int_equal(n, m.len - 11);
    assert_false(truncated);
    assert_int_equal(out[0], 0xab);
    assert_int_equal(out[1], 0xcd);
    assert_int_equal(out[11], 0); /* ARCOUNT */
    assert_memory_equal(out + 12, q.qname, QNAME_LEN);
    assert_int_equal(ttl_at(out + 12 + QNAME_LEN + 4 + 6), 100);
    assert_int_equal(ttl_at(out + 12 + QNAME_LEN + 4 + 16 + 6), 50);

    /* With EDNS the OPT stays; a limit below the size leaves the question and TC. */
    q = client(true);
    n = dj_fwdmsg_build_reply(m.b, m.len, &q, 0, 3600, 65535, out, sizeof(out), &truncated);
    assert_int_equal(n, m.len);
    assert_int_equal(out[11], 1);
    n = dj_fwdmsg_build_reply(m.b, m.len, &q, 0, 3600, 40, out, sizeof(out), &truncated);
    assert_true(truncated);
    assert_int_equal(n, 12 + QNAME_LEN + 4);
    assert_true(out[2] & 0x02);

    /* Another question, or a query instead of a response: refused. */
    q.qtype = 28;
    assert_non_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 28, 1, &info));
    m.b[2] &= 0x7f;
    assert_non_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 1, 1, &info));
    /* A record that runs out of the message. */
    response(&m, 0x8180, 2, 0, 0);
    a_record(&m, 300, 1);
    assert_non_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 1, 1, &info));
}

/* The client asked "WwW.cluster.LOCAL": upstream sees only lower case, and the answer to
 * the lower-case question goes back with the client's own case. */
static void test_fwdmsg_case(void **unused)
{
    struct dj_dns_query q = client(false);
    uint8_t lowered[QNAME_LEN + 1], out[1024];
    /* Every byte value a wire name may hold: only 'A'..'Z' change. */
    uint8_t all[256], all_lowered[256];
    struct dj_fwdmsg_info info;
    struct msg m;
    bool truncated;
    size_t n;

    (void)unused;
    memset(lowered, 0xEE, sizeof(lowered));
    dj_fwdmsg_lower_name(q.qname, q.qname_len, lowered);
    assert_memory_equal(lowered, QNAME, QNAME_LEN);
    assert_int_equal(lowered[QNAME_LEN], 0xEE); /* nothing written past the name */
    assert_memory_not_equal(q.qname, QNAME, QNAME_LEN);

    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (uint8_t)i;
    dj_fwdmsg_lower_name(all, sizeof(all), all_lowered);
    for (size_t i = 0; i < sizeof(all); i++)
        assert_int_equal(all_lowered[i], i >= 'A' && i <= 'Z' ? i + 32 : i);

    response(&m, 0x8180, 1, 0, 0); /* the upstream's question: lower case */
    a_record(&m, 300, 1);
    assert_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 1, 1, &info));
    n = dj_fwdmsg_build_reply(m.b, m.len, &q, 0, 3600, 512, out, sizeof(out), &truncated);
    assert_int_equal(n, m.len);
    assert_memory_equal(out + 12, "\3WwW\7cluster\5LOCAL", QNAME_LEN);
}

static void test_fwdmsg_negative(void **unused)
{
    struct dj_dns_query q = client(false);
    struct dj_fwdmsg_info info;
    struct msg m;
    uint8_t out[64];

    (void)unused;
    response(&m, 0x8183, 0, 1, 0); /* NXDOMAIN */
    soa_record(&m, 600, 30);
    assert_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 1, 1, &info));
    assert_true(info.cacheable);
    assert_true(info.negative);
    assert_int_equal(info.lifetime, 30);
    response(&m, 0x8180, 0, 1, 0); /* NODATA, SOA TTL below MINIMUM */
    soa_record(&m, 20, 900);
    assert_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 1, 1, &info));
    assert_true(info.cacheable);
    assert_int_equal(info.lifetime, 20);
    response(&m, 0x8183, 0, 0, 0); /* no SOA: RFC 2308 says do not cache */
    assert_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 1, 1, &info));
    assert_false(info.cacheable);
    response(&m, 0x8182, 0, 0, 0); /* SERVFAIL */
    assert_null(dj_fwdmsg_scan(m.b, m.len, q.qname, q.qname_len, 1, 1, &info));
    assert_false(info.cacheable);

    assert_int_equal(dj_fwdmsg_build_error(&q, DJ_DNS_RCODE_REFUSED, out, sizeof(out)),
                     12 + QNAME_LEN + 4);
    assert_int_equal(out[3] & 0xf, DJ_DNS_RCODE_REFUSED);
    assert_true(out[2] & 0x80);
}

/* ---- cache ----------------------------------------------------------------------------- */

static const uint8_t hash_key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void test_cache_ttl(void **unused)
{
    struct dj_fwdcache_limits limits = {.max_entries = 8, .ttl_floor = 5, .ttl_ceiling = 100};
    struct dj_fwdcache *c = dj_fwdcache_new(&limits, hash_key, NULL);
    struct dj_fwdcache_hit hit;
    const uint8_t *name = (const uint8_t *)QNAME;

    (void)unused;
    assert_non_null(c);
    assert_int_equal(
        dj_fwdcache_put(c, name, QNAME_LEN, 1, 1, (const uint8_t *)"abc", 3, 30, 1000 * S, NULL),
        0);
    /* Any case finds it; another type or class does not. */
    assert_true(dj_fwdcache_get(c, (const uint8_t *)"\3WWW\7CLUSTER\5local", QNAME_LEN, 1, 1,
                                1010 * S, &hit));
    assert_int_equal(hit.len, 3);
    assert_int_equal(hit.elapsed, 10);
    assert_int_equal(hit.remaining, 20);
    assert_false(dj_fwdcache_get(c, name, QNAME_LEN, 28, 1, 1010 * S, &hit));
    assert_false(dj_fwdcache_get(c, name, QNAME_LEN, 1, 3, 1010 * S, &hit));
    /* Expiry at the lifetime, and the entry is gone afterwards. */
    assert_true(dj_fwdcache_get(c, name, QNAME_LEN, 1, 1, 1029 * S + S / 2, &hit));
    assert_int_equal(hit.remaining, 1);
    assert_false(dj_fwdcache_get(c, name, QNAME_LEN, 1, 1, 1030 * S, &hit));
    assert_int_equal(dj_fwdcache_size(c), 0);
    /* Floor and ceiling. */
    assert_int_equal(dj_fwdcache_clamp(c, 0), 5);
    assert_int_equal(dj_fwdcache_clamp(c, 86400), 100);
    assert_int_equal(dj_fwdcache_put(c, name, QNAME_LEN, 1, 1, (const uint8_t *)"x", 1, 0, 0, NULL),
                     0);
    assert_true(dj_fwdcache_get(c, name, QNAME_LEN, 1, 1, 4 * S, &hit));
    assert_false(dj_fwdcache_get(c, name, QNAME_LEN, 1, 1, 5 * S, &hit));
    dj_fwdcache_free(c);
}

static void test_cache_lru(void **unused)
{
    struct dj_fwdcache_limits limits = {.max_entries = 3, .ttl_floor = 0, .ttl_ceiling = 3600};
    struct dj_fwdcache *c = dj_fwdcache_new(&limits, hash_key, NULL);
    struct dj_fwdcache_hit hit;
    uint8_t names[5][4] = {"\1a", "\1b", "\1c", "\1d", "\1e"};

    (void)unused;
    for (int i = 0; i < 3; i++)
        assert_int_equal(dj_fwdcache_put(c, names[i], 3, 1, 1, names[i], 3, 60, 0, NULL), 0);
    /* a is used, so b is the least recently used when d comes. */
    assert_true(dj_fwdcache_get(c, names[0], 3, 1, 1, S, &hit));
    assert_int_equal(dj_fwdcache_put(c, names[3], 3, 1, 1, names[3], 3, 60, S, NULL), 0);
    assert_int_equal(dj_fwdcache_size(c), 3);
    assert_false(dj_fwdcache_get(c, names[1], 3, 1, 1, S, &hit));
    assert_true(dj_fwdcache_get(c, names[0], 3, 1, 1, S, &hit));
    assert_true(dj_fwdcache_get(c, names[2], 3, 1, 1, S, &hit));
    /* Replacing an entry does not grow the cache. */
    assert_int_equal(dj_fwdcache_put(c, names[2], 3, 1, 1, names[4], 3, 60, S, NULL), 0);
    assert_int_equal(dj_fwdcache_size(c), 3);
    assert_true(dj_fwdcache_get(c, names[2], 3, 1, 1, S, &hit));
    assert_memory_equal(hit.msg, names[4], 3);
    dj_fwdcache_free(c);

    limits.max_entries = 0;
    c = dj_fwdcache_new(&limits, hash_key, NULL);
    assert_int_equal(dj_fwdcache_put(c, names[0], 3, 1, 1, names[0], 3, 60, 0, NULL), 0);
    assert_false(dj_fwdcache_get(c, names[0], 3, 1, 1, 0, &hit));
    dj_fwdcache_free(c);
}

static void test_token_bucket(void **unused)
{
    struct dj_ratelimit rl;
    int allowed = 0;

    (void)unused;
    dj_ratelimit_init(&rl, 2, 3, 0);
    for (int i = 0; i < 10; i++)
        allowed += dj_ratelimit_allow(&rl, 0);
    assert_int_equal(allowed, 3); /* the burst */
    assert_false(dj_ratelimit_allow(&rl, S / 4));
    assert_true(dj_ratelimit_allow(&rl, S / 2)); /* one token per half second */
    assert_false(dj_ratelimit_allow(&rl, S / 2));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zone_parse),      cmocka_unit_test(test_zone_match),
        cmocka_unit_test(test_config_keys),     cmocka_unit_test(test_annotation),
        cmocka_unit_test(test_fwdmsg_positive), cmocka_unit_test(test_fwdmsg_case),
        cmocka_unit_test(test_fwdmsg_negative), cmocka_unit_test(test_cache_ttl),
        cmocka_unit_test(test_cache_lru),       cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_cdns_parse),      cmocka_unit_test(test_cdns_match),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
