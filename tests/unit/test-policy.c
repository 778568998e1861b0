/* test-policy.c: the io.dnsjail.* annotations, the allow grammar, the canonical text and
 * matching. */
#include "config.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail/policy.h"

struct parsed {
    struct dj_allow_rule *rules;
    size_t n;
};

static struct parsed parse_ok(const char *value, bool allow_wildcard_all)
{
    struct parsed p = {NULL, 0};
    dj_error_t err = NULL;

    if (dj_allow_parse(value, allow_wildcard_all, &p.rules, &p.n, &err) < 0) {
        print_error("\"%s\" refused: %s\n", value, dj_error_msg(&err));
        fail();
    }
    return p;
}

static void parsed_free(struct parsed *p)
{
    dj_allow_free(p->rules, p->n);
    p->rules = NULL;
    p->n = 0;
}

/* Expects VALUE to be refused with exactly the message WANT. */
static void parse_fails_with(const char *value, bool allow_wildcard_all, const char *want)
{
    struct dj_allow_rule *rules = (struct dj_allow_rule *)1;
    size_t n = 99;
    dj_error_t err = NULL;

    if (dj_allow_parse(value, allow_wildcard_all, &rules, &n, &err) == 0) {
        print_error("\"%s\" accepted\n", value);
        fail();
    }
    if (strcmp(dj_error_msg(&err), want) != 0) {
        print_error("\"%s\": got  \"%s\"\n          want \"%s\"\n", value, dj_error_msg(&err),
                    want);
        fail();
    }
    assert_null(rules);
    assert_int_equal(n, 0);
    dj_error_release(&err);
}

/* Expects VALUE to be refused with a message that contains WANT. */
static void parse_fails(const char *value, bool allow_wildcard_all, const char *want)
{
    struct dj_allow_rule *rules = NULL;
    size_t n = 0;
    dj_error_t err = NULL;

    if (dj_allow_parse(value, allow_wildcard_all, &rules, &n, &err) == 0) {
        print_error("\"%s\" accepted\n", value);
        dj_allow_free(rules, n);
        fail();
    }
    if (strstr(dj_error_msg(&err), want) == NULL) {
        print_error("\"%s\": message \"%s\" lacks \"%s\"\n", value, dj_error_msg(&err), want);
        fail();
    }
    assert_null(strchr(dj_error_msg(&err), '\n'));
    dj_error_release(&err);
}

static void check_host(const char *value, enum dj_rule_kind kind, const char *host, uint16_t port)
{
    struct parsed p = parse_ok(value, false);

    assert_int_equal(p.n, 1);
    assert_int_equal(p.rules[0].kind, kind);
    assert_string_equal(p.rules[0].host, host);
    assert_int_equal(p.rules[0].port, port);
    parsed_free(&p);
}

static void check_cidr(const char *value, int family, const char *addr, unsigned prefix,
                       uint16_t port)
{
    struct parsed p = parse_ok(value, false);
    uint8_t want[16] = {0};

    assert_int_equal(inet_pton(family, addr, want), 1);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.rules[0].kind, DJ_RULE_CIDR);
    assert_null(p.rules[0].host);
    assert_int_equal(p.rules[0].family, family);
    assert_memory_equal(p.rules[0].addr, want, family == AF_INET ? 4 : 16);
    assert_int_equal(p.rules[0].prefix, prefix);
    assert_int_equal(p.rules[0].port, port);
    parsed_free(&p);
}

/* ---- the grammar ----------------------------------------------------------------------- */

static void test_allow_hosts(void **unused)
{
    char name[300];

    (void)unused;
    check_host("example.com", DJ_RULE_HOST, "example.com", 0);
    check_host("Example.COM.", DJ_RULE_HOST, "example.com", 0);
    check_host("example.com:443", DJ_RULE_HOST, "example.com", 443);
    check_host("example.com.:8443", DJ_RULE_HOST, "example.com", 8443);
    check_host("*.example.com", DJ_RULE_WILDCARD, "example.com", 0);
    check_host("*.Example.com.:65535", DJ_RULE_WILDCARD, "example.com", 65535);
    check_host("xn--bcher-kva.example", DJ_RULE_HOST, "xn--bcher-kva.example", 0);
    check_host("_sip._tcp.example.com", DJ_RULE_HOST, "_sip._tcp.example.com", 0);
    check_host("localhost", DJ_RULE_HOST, "localhost", 0);
    check_host("123.example.com:1", DJ_RULE_HOST, "123.example.com", 1);
    check_host("a-b.c0m", DJ_RULE_HOST, "a-b.c0m", 0);
    check_host("example.com:0080", DJ_RULE_HOST, "example.com", 80);

    /* A 63-byte label and a 253-byte name are the limits. */
    memset(name, 'a', 63);
    strcpy(name + 63, ".com");
    check_host(name, DJ_RULE_HOST, name, 0);
    for (size_t i = 0; i < 253; i++)
        name[i] = (i % 2) ? '.' : 'a';
    name[253] = '\0';
    check_host(name, DJ_RULE_HOST, name, 0);
}

static void test_allow_addresses(void **unused)
{
    (void)unused;
    check_cidr("192.0.2.7", AF_INET, "192.0.2.7", 32, 0);
    check_cidr("192.0.2.7:8443", AF_INET, "192.0.2.7", 32, 8443);
    check_cidr("203.0.113.0/24", AF_INET, "203.0.113.0", 24, 0);
    check_cidr("203.0.113.0/24:443", AF_INET, "203.0.113.0", 24, 443);
    check_cidr("203.0.113.128/25", AF_INET, "203.0.113.128", 25, 0);
    check_cidr("[2001:db8::1]", AF_INET6, "2001:db8::1", 128, 0);
    check_cidr("[2001:DB8::1]:443", AF_INET6, "2001:db8::1", 128, 443);
    check_cidr("[2001:db8::/32]", AF_INET6, "2001:db8::", 32, 0);
    check_cidr("[2001:db8::/32]:8443", AF_INET6, "2001:db8::", 32, 8443);
    check_cidr("2001:db8::1", AF_INET6, "2001:db8::1", 128, 0);
    check_cidr("2001:db8::/32", AF_INET6, "2001:db8::", 32, 0);
    /* A bare IPv6 address takes no port: this is the address 2001:db8::1:443. */
    check_cidr("2001:db8::1:443", AF_INET6, "2001:db8::1:443", 128, 0);
    check_cidr("::ffff:192.0.2.1", AF_INET6, "::ffff:192.0.2.1", 128, 0);
}

static void test_allow_separators(void **unused)
{
    struct parsed p;

    (void)unused;
    p = parse_ok("a.com,b.com  c.com\t\n,,d.com,", false);
    assert_int_equal(p.n, 4);
    assert_string_equal(p.rules[0].host, "a.com");
    assert_string_equal(p.rules[1].host, "b.com");
    assert_string_equal(p.rules[2].host, "c.com");
    assert_string_equal(p.rules[3].host, "d.com");
    parsed_free(&p);

    /* Only separators, or nothing: an empty list, not an error. */
    p = parse_ok(" ,, ,\t", false);
    assert_int_equal(p.n, 0);
    assert_null(p.rules);
    p = parse_ok("", false);
    assert_int_equal(p.n, 0);
    p = parse_ok(NULL, false);
    assert_int_equal(p.n, 0);
}

static void test_allow_host_errors(void **unused)
{
    char name[300];
    char value[320];

    (void)unused;
    parse_fails_with("foo..bar", false, "entry \"foo..bar\": empty label");
    parse_fails_with(".example.com", false, "entry \".example.com\": empty label");
    parse_fails_with("example.com..", false, "entry \"example.com..\": empty label");
    parse_fails_with(".", false, "entry \".\": empty name");
    parse_fails_with("-a.com", false, "entry \"-a.com\": label starts with '-'");
    parse_fails_with("a-.com", false, "entry \"a-.com\": label ends with '-'");
    parse_fails_with("exa$mple.com", false,
                     "entry \"exa$mple.com\": invalid character '$' in a host name");
    parse_fails_with("a\"b", false, "entry \"a\\\"b\": invalid character '\"' in a host name");
    parse_fails_with("b\xc3\xbc"
                     "cher.de",
                     false, "entry \"b\\xc3\\xbccher.de\": non-ASCII; use punycode (xn--...)");
    parse_fails_with("a\x01"
                     "b.com",
                     false, "entry \"a\\x01b.com\": control character");
    parse_fails("1.2.3", false, "not an IPv4 address and not a host name");
    parse_fails("1.2.3.4.5", false, "not an IPv4 address and not a host name");
    parse_fails("256.1.1.1", false, "not an IPv4 address and not a host name");
    parse_fails("01.2.3.4", false, "not an IPv4 address and not a host name");
    parse_fails("1.2.3.4.", false, "all-numeric last label");
    parse_fails("example.123", false, "all-numeric last label");
    parse_fails("123", false, "all-numeric last label");
    parse_fails("example.com/path", false, "'/' is only allowed in an address prefix");
    parse_fails_with("0x7f000001", false,
                     "entry \"0x7f000001\": reads as an IPv4 address in a form dnsjail does not "
                     "accept; write it as four decimal parts");
    parse_fails("0x7f.0x1", false, "reads as an IPv4 address");
    parse_fails("*.0xc0.0xa8.0x1.0x1", false, "reads as an IPv4 address");
    check_host("0x7g", DJ_RULE_HOST, "0x7g", 0);

    memset(name, 'a', 64);
    strcpy(name + 64, ".com");
    parse_fails(name, false, "label longer than 63 characters");
    for (size_t i = 0; i < 255; i++)
        name[i] = (i % 2) ? '.' : 'a';
    name[255] = '\0';
    parse_fails(name, false, "name longer than 253 characters");
    /* Long entries are cut in the message. */
    snprintf(value, sizeof(value), "%s$", name);
    parse_fails(value, false, "...\": name longer than 253 characters");
}

static void test_allow_wildcards(void **unused)
{
    struct parsed p;

    (void)unused;
    parse_fails_with("*", false,
                     "entry \"*\": a bare '*' allows every host; the administrator has not enabled "
                     "allow-wildcard-all");
    parse_fails("*:443", false, "a bare '*' allows every host");
    p = parse_ok("*", true);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.rules[0].kind, DJ_RULE_ANY_HOST);
    assert_null(p.rules[0].host);
    assert_int_equal(p.rules[0].port, 0);
    parsed_free(&p);
    p = parse_ok("*:8080", true);
    assert_int_equal(p.rules[0].kind, DJ_RULE_ANY_HOST);
    assert_int_equal(p.rules[0].port, 8080);
    parsed_free(&p);

    parse_fails_with("foo.*.com", false,
                     "entry \"foo.*.com\": '*' may only be the whole first label (*.example.com)");
    parse_fails("*foo.com", false, "'*' may only be the whole first label");
    parse_fails("*.*.com", false, "'*' may only be the whole first label");
    parse_fails("**.com", false, "'*' may only be the whole first label");
    parse_fails("a*", true, "'*' may only be the whole first label");
    parse_fails_with("*.", false, "entry \"*.\": empty name");
    parse_fails("*..com", false, "empty label");
    parse_fails("*.1.2.3", false, "all-numeric last label");
}

static void test_allow_port_errors(void **unused)
{
    (void)unused;
    parse_fails_with("example.com:0", false,
                     "entry \"example.com:0\": port out of range (1..65535)");
    parse_fails("example.com:65536", false, "port out of range (1..65535)");
    parse_fails("example.com:99999999999999999999", false, "port out of range (1..65535)");
    parse_fails_with("example.com:", false, "entry \"example.com:\": empty port after ':'");
    parse_fails("example.com:http", false, "port is not a number");
    parse_fails("example.com:-1", false, "port is not a number");
    parse_fails("example.com:+80", false, "port is not a number");
    parse_fails_with(":443", false, "entry \":443\": empty name before ':'");
    parse_fails("example.com:443:1", false, "more than one ':'");
    parse_fails("192.0.2.1:0", false, "port out of range");
    parse_fails("[2001:db8::1]:", false, "empty port after ':'");
    parse_fails("[2001:db8::1]:70000", false, "port out of range");
}

static void test_allow_cidr_errors(void **unused)
{
    struct parsed p;

    (void)unused;
    parse_fails_with("203.0.113.7/24", false,
                     "entry \"203.0.113.7/24\": host bits set; did you mean 203.0.113.0/24?");
    parse_fails_with("[2001:db8::1/32]", false,
                     "entry \"[2001:db8::1/32]\": host bits set; did you mean 2001:db8::/32?");
    parse_fails("2001:db8:ffff::/31", false, "did you mean 2001:db8::/31?");
    parse_fails("192.0.2.129/25", false, "did you mean 192.0.2.128/25?");
    parse_fails("192.0.2.0/33", false, "bad prefix length (0..32)");
    parse_fails("192.0.2.0/", false, "bad prefix length (0..32)");
    parse_fails("192.0.2.0/024", false, "bad prefix length (0..32)");
    parse_fails("192.0.2.0/2a", false, "'/' is only allowed in an address prefix");
    parse_fails("[2001:db8::/129]", false, "bad prefix length (0..128)");
    parse_fails("[2001:db8::/1x]", false, "bad prefix length (0..128)");
    parse_fails("192.0.2.0/24/8", false, "bad prefix length");
    parse_fails_with("[2001:db8::]/32", false,
                     "entry \"[2001:db8::]/32\": put the prefix length inside the brackets: "
                     "[ADDR/LEN]");
    parse_fails_with("[2001:db8::1", false, "entry \"[2001:db8::1\": missing ']'");
    parse_fails("[2001:db8::1]x", false, "unexpected text after ']'");
    parse_fails_with("[192.0.2.1]", false,
                     "entry \"[192.0.2.1]\": brackets are only for IPv6 addresses");
    parse_fails("[example.com]", false, "not an IPv6 address");
    parse_fails("[2001:db8::1%eth0]", false, "not an IPv6 address");
    parse_fails("2001:db8:::1", false,
                "not an IPv6 address (with a port, use brackets: [ADDR]:PORT)");
    parse_fails("2001:db8::zz", false, "more than one ':'");

    /* /0 is "everything", as broad as a bare '*'. */
    parse_fails_with("0.0.0.0/0", false,
                     "entry \"0.0.0.0/0\": /0 allows every IPv4 address; the administrator has "
                     "not enabled allow-wildcard-all");
    parse_fails("::/0", false, "/0 allows every IPv6 address");
    parse_fails("1.0.0.0/0", true, "host bits set; did you mean 0.0.0.0/0?");
    p = parse_ok("0.0.0.0/0 [::/0]:443", true);
    assert_int_equal(p.n, 2);
    assert_int_equal(p.rules[0].prefix, 0);
    assert_int_equal(p.rules[1].family, AF_INET6);
    assert_int_equal(p.rules[1].port, 443);
    parsed_free(&p);
}

static void test_allow_limits(void **unused)
{
    size_t n = DJ_ALLOW_MAX_RULES + 1;
    char *value = malloc(n * 8 + DJ_ALLOW_MAX_BYTES + 2);
    size_t len = 0;
    struct parsed p;

    (void)unused;
    assert_non_null(value);
    for (size_t i = 0; i < DJ_ALLOW_MAX_RULES; i++)
        len += (size_t)sprintf(value + len, "h%zu.io,", i % 1000);
    p = parse_ok(value, false);
    assert_int_equal(p.n, DJ_ALLOW_MAX_RULES);
    parsed_free(&p);
    strcpy(value + len, "one.more");
    parse_fails_with(value, false, "more than 4096 entries");

    /* Separators count towards the byte limit too. */
    memset(value, ' ', DJ_ALLOW_MAX_BYTES);
    strcpy(value + DJ_ALLOW_MAX_BYTES, "a");
    parse_fails_with(value, false, "value is 262145 bytes, more than 262144");
    value[DJ_ALLOW_MAX_BYTES - 1] = '\0';
    strcat(value, "a");
    p = parse_ok(value, false);
    assert_int_equal(p.n, 1);
    parsed_free(&p);
    free(value);
}

/* ---- annotations ----------------------------------------------------------------------- */

static struct dj_adminconf config(bool default_enable, bool allow_wildcard_all)
{
    struct dj_adminconf cfg;
    dj_error_t err = NULL;

    assert_int_equal(dj_adminconf_init(&cfg, &err), 0);
    cfg.default_enable = default_enable;
    cfg.allow_wildcard_all = allow_wildcard_all;
    return cfg;
}

/* Expects the policy of ANN (with PROFILE, or none) under CFG to be refused with exactly WANT;
 * frees CFG. */
static void refused_with(struct dj_adminconf cfg, const struct oci_annotation *ann, size_t n,
                         const char *profile, const char *want)
{
    struct dj_policy policy;
    dj_error_t err = NULL;

    if (dj_policy_build(ann, n, &cfg, profile, &policy, &err) == 0) {
        dj_policy_free(&policy);
        print_error("accepted\n");
        fail();
    }
    if (strcmp(dj_error_msg(&err), want) != 0) {
        print_error("got  \"%s\"\nwant \"%s\"\n", dj_error_msg(&err), want);
        fail();
    }
    dj_error_release(&err);
    dj_adminconf_free(&cfg);
}

static void policy_fails(const struct oci_annotation *ann, size_t n, const char *want)
{
    refused_with(config(true, false), ann, n, NULL, want);
}

#define ANN(k, v)                                                                                  \
    {                                                                                              \
        (char *)(k), (char *)(v)                                                                   \
    }

/* An io.dnsjail.allow value of N distinct names without a port, each NAME_LEN bytes long
 * ("h00001.aaaaa.aaaaaaaaa.aa.test"). Returns a malloc'd string. */
static char *portless_names(size_t n, size_t name_len)
{
    char *value = malloc(n * (name_len + 1) + 1);
    size_t len = 0;

    assert_non_null(value);
    assert_true(name_len >= 12);
    for (size_t i = 0; i < n; i++) {
        len += (size_t)sprintf(value + len, "h%05zu.", i);
        /* labels of at most 63 bytes */
        for (size_t k = 0; k < name_len - 12; k++)
            value[len++] = k % 10 == 5 && k + 1 < name_len - 12 ? '.' : 'a';
        len += (size_t)sprintf(value + len, ".test,");
    }
    value[len > 0 ? len - 1 : 0] = '\0';
    return value;
}

/* What the daemons do with the hook's policy memfd (proxy/main.c, load_rules; the stub the
 * same): read it with dj_allow_read_fd and parse it. Returns the number of rules. */
static size_t daemons_load(const struct dj_policy *policy)
{
    char *canonical = dj_policy_canonical(policy);
    char *text = NULL;
    const char *rules;
    struct parsed p;
    size_t n;
    dj_error_t err = NULL;
    int fd = memfd_create("test-policy", MFD_CLOEXEC);

    assert_non_null(canonical);
    assert_true(fd >= 0);
    rules = strstr(canonical, " allow=") + strlen(" allow=");
    assert_int_equal(write(fd, rules, strlen(rules)), (ssize_t)strlen(rules));
    assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
    if (dj_allow_read_fd(fd, &text, &err) < 0) {
        print_error("the daemons cannot read the policy: %s\n", dj_error_msg(&err));
        fail();
    }
    close(fd);
    p = parse_ok(text, true);
    n = p.n;
    parsed_free(&p);
    free(text);
    free(canonical);
    return n;
}

/* Issue 10, item 7: the limit is checked once, on what the daemons hold (a rule without a port
 * counts twice, the admin's allow included), so a container at the limit starts its daemons
 * and one past it is refused by the hook with the limit named. */
static void test_policy_daemon_limit(void **unused)
{
    char *value = portless_names(DJ_ALLOW_MAX_RULES / 2 - 1, 20);
    struct oci_annotation ann[] = {ANN("io.dnsjail.allow", value)};
    struct dj_adminconf cfg = config(true, false);
    struct dj_policy policy;
    dj_error_t err = NULL;

    (void)unused;
    /* 2047 names and the admin's one: 4096 rules as held. */
    cfg.admin_allow = strdup("admin.example.test");
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), 0);
    assert_int_equal(daemons_load(&policy), DJ_ALLOW_MAX_RULES);
    dj_policy_free(&policy);

    /* A duplicate of a held rule adds nothing. */
    free(cfg.admin_allow);
    cfg.admin_allow = strdup("admin.example.test, admin.example.test:443 h00000.aaaaa.aa.test:80");
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), 0);
    assert_int_equal(daemons_load(&policy), DJ_ALLOW_MAX_RULES);
    dj_policy_free(&policy);

    /* One more, from the admin's allow: refused, the limit named. */
    free(cfg.admin_allow);
    cfg.admin_allow = strdup("admin.example.test, other.example.test:8080");
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), -1);
    assert_string_equal(dj_error_msg(&err),
                        "io.dnsjail.allow and the config's allow come to 4097 rules, counting a "
                        "rule without a port twice (ports 80 and 443); the limit is 4096 rules "
                        "per jail (docs/POLICY.md, Limits)");
    dj_error_release(&err);

    /* 2049 names alone (the annotation's own parser takes up to 4096 entries). */
    free(value);
    value = portless_names(DJ_ALLOW_MAX_RULES / 2 + 1, 20);
    ann[0].value = value;
    free(cfg.admin_allow);
    cfg.admin_allow = NULL;
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "come to 4098 rules"));
    dj_error_release(&err);

    /* Bytes: 1000 long names fit one value (about 190 KB) but not twice over. */
    free(value);
    value = portless_names(1000, 190);
    ann[0].value = value;
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), -1);
    if (strstr(dj_error_msg(&err), "the limit is 262144 bytes per jail") == NULL)
        fail_msg("%s", dj_error_msg(&err));
    dj_error_release(&err);
    free(value);
    value = portless_names(600, 190);
    ann[0].value = value;
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), 0);
    assert_int_equal(daemons_load(&policy), 1200);
    dj_policy_free(&policy);
    free(value);
    dj_adminconf_free(&cfg);
}

static void test_policy_defaults(void **unused)
{
    struct oci_annotation other[] = {ANN("org.example.x", "1"), ANN("io.dnsjailx.enable", "no")};
    struct dj_adminconf cfg = config(true, false);
    struct dj_policy policy;
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(dj_policy_from_annotations(NULL, 0, &cfg, &policy, &err), 0);
    assert_true(policy.enable);
    assert_int_equal(policy.mode, DJ_MODE_ENFORCE);
    assert_int_equal(policy.n_rules, 0);
    dj_policy_free(&policy);

    cfg.default_enable = false;
    assert_int_equal(dj_policy_from_annotations(other, 2, &cfg, &policy, &err), 0);
    assert_false(policy.enable);
    dj_policy_free(&policy);
    dj_adminconf_free(&cfg);
}

static void test_policy_values(void **unused)
{
    struct oci_annotation ann[] = {
        ANN("io.dnsjail.enable", "true"),
        ANN("io.dnsjail.mode", "enforce"),
        ANN("io.dnsjail.allow", "Example.com, *.example.org:8443 203.0.113.0/24"),
        ANN("org.opencontainers.image.title", "x"),
    };
    struct dj_adminconf cfg = config(false, false);
    struct dj_policy policy;
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(dj_policy_from_annotations(ann, 4, &cfg, &policy, &err), 0);
    assert_true(policy.enable);
    assert_int_equal(policy.mode, DJ_MODE_ENFORCE);
    assert_int_equal(policy.n_rules, 3);
    assert_string_equal(policy.rules[0].host, "example.com");
    assert_int_equal(policy.rules[1].kind, DJ_RULE_WILDCARD);
    assert_int_equal(policy.rules[1].port, 8443);
    assert_int_equal(policy.rules[2].kind, DJ_RULE_CIDR);
    dj_policy_free(&policy);
    assert_null(policy.rules);

    ann[0].value = (char *)"false";
    cfg.default_enable = true;
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), 0);
    assert_false(policy.enable);
    dj_policy_free(&policy);

    /* The admin's allow-wildcard-all reaches the allow parser. */
    ann[2].value = (char *)"*";
    policy_fails(&ann[2], 1,
                 "annotation io.dnsjail.allow: entry \"*\": a bare '*' allows every host; the "
                 "administrator has not enabled allow-wildcard-all");
    cfg.allow_wildcard_all = true;
    assert_int_equal(dj_policy_from_annotations(&ann[2], 1, &cfg, &policy, &err), 0);
    assert_int_equal(policy.rules[0].kind, DJ_RULE_ANY_HOST);
    dj_policy_free(&policy);
    dj_adminconf_free(&cfg);
}

static void test_policy_errors(void **unused)
{
    struct oci_annotation a[2];

    (void)unused;
    a[0] = (struct oci_annotation)ANN("io.dnsjail.enable", "TRUE");
    policy_fails(a, 1, "annotation io.dnsjail.enable: \"TRUE\" is not \"true\" or \"false\"");
    a[0].value = (char *)"yes";
    policy_fails(a, 1, "annotation io.dnsjail.enable: \"yes\" is not \"true\" or \"false\"");
    a[0].value = (char *)"";
    policy_fails(a, 1, "annotation io.dnsjail.enable: \"\" is not \"true\" or \"false\"");
    a[0].value = (char *)"true\n";
    policy_fails(a, 1, "annotation io.dnsjail.enable: \"true\\x0a\" is not \"true\" or \"false\"");

    a[0] = (struct oci_annotation)ANN("io.dnsjail.mode", "Enforce");
    policy_fails(a, 1,
                 "annotation io.dnsjail.mode: unknown mode \"Enforce\" (\"enforce\" or "
                 "\"audit\")");
    a[0].value = (char *)"Audit";
    policy_fails(a, 1,
                 "annotation io.dnsjail.mode: unknown mode \"Audit\" (\"enforce\" or \"audit\")");
    a[0].value = (char *)"";
    policy_fails(a, 1, "annotation io.dnsjail.mode: unknown mode \"\" (\"enforce\" or \"audit\")");

    a[0] = (struct oci_annotation)ANN("io.dnsjail.allow", "ok.example, foo..bar");
    policy_fails(a, 1, "annotation io.dnsjail.allow: entry \"foo..bar\": empty label");

    /* A malformed value fails even when the jail is switched off. */
    a[1] = (struct oci_annotation)ANN("io.dnsjail.enable", "false");
    policy_fails(a, 2, "annotation io.dnsjail.allow: entry \"foo..bar\": empty label");

    a[0] = (struct oci_annotation)ANN("io.dnsjail.alow", "example.com");
    policy_fails(a, 1,
                 "unknown annotation 'io.dnsjail.alow' (known: io.dnsjail.enable, "
                 "io.dnsjail.mode, io.dnsjail.allow, io.dnsjail.forward, io.dnsjail.profile)");
    a[0].key = (char *)"IO.DNSJAIL.ENABLE";
    policy_fails(a, 1,
                 "unknown annotation 'IO.DNSJAIL.ENABLE' (known: io.dnsjail.enable, "
                 "io.dnsjail.mode, io.dnsjail.allow, io.dnsjail.forward, io.dnsjail.profile)");
    a[0].key = (char *)"io.dnsjail.";
    policy_fails(a, 1,
                 "unknown annotation 'io.dnsjail.' (known: io.dnsjail.enable, io.dnsjail.mode, "
                 "io.dnsjail.allow, io.dnsjail.forward, io.dnsjail.profile)");

    /* The OCI parser refuses repeats already; a caller building its own list is checked too. */
    a[0] = (struct oci_annotation)ANN("io.dnsjail.enable", "true");
    a[1] = (struct oci_annotation)ANN("io.dnsjail.enable", "false");
    policy_fails(a, 2, "annotation io.dnsjail.enable is given twice");
}

/* ---- canonical text -------------------------------------------------------------------- */

static char *canonical_of(const char *allow)
{
    struct dj_policy policy = {.enable = true, .mode = DJ_MODE_ENFORCE};
    dj_error_t err = NULL;
    char *text;

    assert_int_equal(dj_allow_parse(allow, true, &policy.rules, &policy.n_rules, &err), 0);
    text = dj_policy_canonical(&policy);
    assert_non_null(text);
    dj_policy_free(&policy);
    return text;
}

static void same_canonical(const char *a, const char *b, bool want_equal)
{
    char *ca = canonical_of(a), *cb = canonical_of(b);

    if ((strcmp(ca, cb) == 0) != want_equal) {
        print_error("\"%s\" -> %s\n\"%s\" -> %s\n", a, ca, b, cb);
        fail();
    }
    free(ca);
    free(cb);
}

static void test_canonical(void **unused)
{
    char *text;

    (void)unused;
    text = canonical_of("b.com:8443, 192.0.2.0/24 *.a.com");
    assert_string_equal(text, "mode=enforce allow=*.a.com:443,*.a.com:80,192.0.2.0/24:443,"
                              "192.0.2.0/24:80,b.com:8443");
    free(text);
    text = canonical_of("");
    assert_string_equal(text, "mode=enforce allow=");
    free(text);
    text = canonical_of("[2001:DB8:0::1]:53 *:22");
    assert_string_equal(text, "mode=enforce allow=*:22,[2001:db8::1/128]:53");
    free(text);

    same_canonical("b.com, A.com", "a.com b.com.", true);
    same_canonical("a.com a.com A.COM.", "a.com", true);
    same_canonical("example.com", "example.com:443,example.com:80", true);
    same_canonical("example.com", "example.com:443", false);
    same_canonical("example.com:8443", "example.com:443", false);
    same_canonical("example.com", "*.example.com", false);
    same_canonical("[2001:db8::1]", "2001:db8:0:0::1", true);
    same_canonical("192.0.2.7", "192.0.2.7/32", true);
    same_canonical("192.0.2.0/24", "192.0.2.0/25", false);
    same_canonical("", ",,", true);
    same_canonical("", "a.com", false);
}

/* Audit mode is accepted, keeps its rules, and is part of the canonical text: an audit and
 * an enforce container with the same rules may not share a namespace. */
static void test_policy_audit(void **unused)
{
    struct oci_annotation ann[] = {
        ANN("io.dnsjail.mode", "audit"),
        ANN("io.dnsjail.allow", "a.example"),
    };
    struct dj_adminconf cfg = config(true, false);
    struct dj_policy audit, enforce;
    char *audit_text, *enforce_text;
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(dj_policy_from_annotations(ann, 2, &cfg, &audit, &err), 0);
    assert_true(audit.enable);
    assert_int_equal(audit.mode, DJ_MODE_AUDIT);
    assert_int_equal(audit.n_rules, 1);
    ann[0].value = (char *)"enforce";
    assert_int_equal(dj_policy_from_annotations(ann, 2, &cfg, &enforce, &err), 0);
    audit_text = dj_policy_canonical(&audit);
    enforce_text = dj_policy_canonical(&enforce);
    assert_string_equal(audit_text, "mode=audit allow=a.example:443,a.example:80");
    assert_string_equal(enforce_text, "mode=enforce allow=a.example:443,a.example:80");
    free(audit_text);
    free(enforce_text);
    dj_policy_free(&audit);
    dj_policy_free(&enforce);
    dj_adminconf_free(&cfg);
}

static void test_canonical_mode(void **unused)
{
    struct dj_policy policy = {.enable = true, .mode = DJ_MODE_AUDIT};
    char *text;

    (void)unused;
    text = dj_policy_canonical(&policy);
    assert_string_equal(text, "mode=audit allow=");
    free(text);
}

/* ---- matching -------------------------------------------------------------------------- */

/* Is the single rule RULE within the single rule LIMIT? */
static bool within(const char *rule, const char *limit)
{
    struct parsed r = parse_ok(rule, true), l = parse_ok(limit, true);
    bool result;

    assert_int_equal(r.n, 1);
    assert_int_equal(l.n, 1);
    result = dj_allow_rule_within(&r.rules[0], &l.rules[0]);
    parsed_free(&r);
    parsed_free(&l);
    return result;
}

static void test_rule_within(void **unused)
{
    (void)unused;
    assert_true(within("example.com", "example.com"));
    assert_true(within("example.com:443", "example.com"));
    assert_false(within("example.com:8443", "example.com"));
    assert_false(within("example.com", "example.com:443"));
    assert_true(within("a.example.com", "*.example.com"));
    assert_true(within("*.a.example.com", "*.example.com"));
    assert_true(within("*.example.com", "*.example.com"));
    assert_false(within("example.com", "*.example.com"));
    assert_false(within("evilexample.com", "*.example.com"));
    assert_false(within("*.example.com", "a.example.com"));
    assert_false(within("*.com", "*.example.com"));
    assert_true(within("anything.test", "*"));
    assert_true(within("*.test:8080", "*:8080"));
    assert_false(within("*", "*.example.com"));
    assert_true(within("203.0.113.0/25", "203.0.113.0/24"));
    assert_true(within("203.0.113.7:443", "203.0.113.0/24"));
    assert_false(within("203.0.112.0/23", "203.0.113.0/24"));
    assert_false(within("198.51.100.1", "203.0.113.0/24"));
    assert_true(within("[2001:db8:1::/48]", "[2001:db8::/32]"));
    assert_false(within("[2001:db8::1]", "203.0.113.0/24"));
    assert_false(within("203.0.113.7", "*"));
    assert_false(within("example.com", "203.0.113.0/24"));
}

static void test_admin_rules(void **unused)
{
    struct dj_adminconf cfg = config(true, false);
    struct oci_annotation ann[] = {ANN(DJ_ANNOTATION_ALLOW, "api.example.com, 203.0.113.0/25")};
    struct dj_policy policy;
    dj_error_t err = NULL;

    (void)unused;
    /* The admin's rules come after the annotation's, for every container. */
    cfg.admin_allow = strdup("pypi.test, 198.51.100.0/24:8443");
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), 0);
    assert_int_equal(policy.n_rules, 4);
    assert_true(dj_allow_match_host(policy.rules, policy.n_rules, "pypi.test", 443));
    assert_true(dj_allow_match_host(policy.rules, policy.n_rules, "api.example.com", 80));
    dj_policy_free(&policy);
    assert_int_equal(dj_policy_from_annotations(NULL, 0, &cfg, &policy, &err), 0);
    assert_int_equal(policy.n_rules, 2);
    dj_policy_free(&policy);

    /* With a ceiling, the annotation may narrow it but not widen it. */
    cfg.allow_ceiling = strdup("*.example.com, 203.0.113.0/24");
    assert_int_equal(dj_policy_from_annotations(ann, 1, &cfg, &policy, &err), 0);
    dj_policy_free(&policy);
    dj_adminconf_free(&cfg);

    {
        struct oci_annotation wide[] = {ANN(DJ_ANNOTATION_ALLOW, "api.example.com, attacker.test")};
        struct oci_annotation net[] = {ANN(DJ_ANNOTATION_ALLOW, "203.0.112.0/23")};
        struct dj_adminconf c2 = config(true, false);

        c2.allow_ceiling = strdup("*.example.com, 203.0.113.0/24");
        assert_int_equal(dj_policy_from_annotations(wide, 1, &c2, &policy, &err), -1);
        assert_string_equal(dj_error_msg(&err),
                            "annotation io.dnsjail.allow: entry \"attacker.test\" is wider "
                            "than the administrator allows (annotation-allow-within)");
        dj_error_release(&err);
        assert_int_equal(dj_policy_from_annotations(net, 1, &c2, &policy, &err), -1);
        dj_error_release(&err);
        dj_adminconf_free(&c2);
    }
}

static bool host_allowed(const char *allow, const char *host, uint16_t port)
{
    struct parsed p = parse_ok(allow, true);
    bool r = dj_allow_match_host(p.rules, p.n, host, port);

    parsed_free(&p);
    return r;
}

static void test_match_host(void **unused)
{
    (void)unused;
    assert_true(host_allowed("example.com", "example.com", 443));
    assert_true(host_allowed("example.com", "example.com", 80));
    assert_true(host_allowed("example.com", "EXAMPLE.com.", 80));
    assert_false(host_allowed("example.com", "example.com", 8080));
    assert_false(host_allowed("example.com", "example.com", 0));
    assert_false(host_allowed("example.com", "www.example.com", 443));
    assert_false(host_allowed("example.com", "example.co", 443));
    assert_false(host_allowed("example.com", "example.com..", 443));
    assert_false(host_allowed("example.com", "xexample.com", 443));
    assert_false(host_allowed("example.com", "", 443));
    assert_false(host_allowed("example.com", "example.com:443", 443));

    assert_true(host_allowed("*.example.com", "a.example.com", 443));
    assert_true(host_allowed("*.example.com", "a.b.example.com", 80));
    assert_true(host_allowed("*.example.com", "A.Example.COM.", 443));
    assert_false(host_allowed("*.example.com", "example.com", 443));
    assert_false(host_allowed("*.example.com", "evilexample.com", 443));
    assert_false(host_allowed("*.example.com", ".example.com", 443));
    assert_false(host_allowed("*.example.com", "a.example.com.evil", 443));
    assert_false(host_allowed("*.example.com", "a.example.com", 22));

    assert_true(host_allowed("example.com:8443", "example.com", 8443));
    assert_false(host_allowed("example.com:8443", "example.com", 443));
    assert_true(host_allowed("a.com, example.com:8443, example.com", "example.com", 443));

    assert_true(host_allowed("*", "anything.example", 443));
    assert_true(host_allowed("*", "x", 80));
    assert_false(host_allowed("*", "anything.example", 22));
    assert_true(host_allowed("*:22", "anything.example", 22));
    assert_false(host_allowed("*:22", "anything.example", 443));
    /* Address literals are not host names, whatever the rules. */
    assert_false(host_allowed("*", "192.0.2.7", 443));
    assert_false(host_allowed("*", "0x7f000001", 443));
    assert_false(host_allowed("192.0.2.7", "192.0.2.7", 443));
    assert_false(host_allowed("*",
                              "b\xc3\xbc"
                              "cher.de",
                              443));
    assert_false(host_allowed("", "example.com", 443));
    assert_false(dj_allow_match_host(NULL, 0, "example.com", 443));
    assert_false(dj_allow_match_host(NULL, 0, NULL, 443));
}

static bool addr_allowed(const char *allow, const char *addr, uint16_t port)
{
    struct parsed p = parse_ok(allow, true);
    uint8_t bytes[16];
    int family = strchr(addr, ':') != NULL ? AF_INET6 : AF_INET;
    bool r;

    assert_int_equal(inet_pton(family, addr, bytes), 1);
    r = dj_allow_match_addr(p.rules, p.n, family, bytes, port);
    parsed_free(&p);
    return r;
}

static void test_match_addr(void **unused)
{
    (void)unused;
    assert_true(addr_allowed("203.0.113.0/24", "203.0.113.9", 443));
    assert_true(addr_allowed("203.0.113.0/24", "203.0.113.255", 80));
    assert_false(addr_allowed("203.0.113.0/24", "203.0.114.1", 443));
    assert_false(addr_allowed("203.0.113.0/24", "203.0.113.9", 22));
    assert_true(addr_allowed("203.0.113.0/24", "::ffff:203.0.113.9", 443));
    assert_false(addr_allowed("203.0.113.0/24", "2001:db8::1", 443));
    assert_true(addr_allowed("192.0.2.0/25", "192.0.2.127", 443));
    assert_false(addr_allowed("192.0.2.0/25", "192.0.2.128", 443));
    assert_true(addr_allowed("192.0.2.7:8443", "192.0.2.7", 8443));
    assert_false(addr_allowed("192.0.2.7:8443", "192.0.2.8", 8443));
    assert_true(addr_allowed("[2001:db8::/32]:8443", "2001:db8:1::5", 8443));
    assert_false(addr_allowed("[2001:db8::/32]:8443", "2001:db8:1::5", 443));
    assert_false(addr_allowed("[2001:db8::/32]", "2001:db9::1", 443));
    assert_true(addr_allowed("2001:db8::/33", "2001:db8:7fff::1", 443));
    assert_false(addr_allowed("2001:db8::/33", "2001:db8:8000::1", 443));
    assert_true(addr_allowed("0.0.0.0/0", "198.51.100.1", 80));
    assert_false(addr_allowed("0.0.0.0/0", "2001:db8::1", 80));
    assert_true(addr_allowed("::/0", "2001:db8::1", 443));
    /* Host rules, even '*', do not match addresses. */
    assert_false(addr_allowed("*, example.com", "192.0.2.7", 443));
    assert_false(dj_allow_match_addr(NULL, 0, AF_INET, "\xc0\x00\x02\x07", 443));
}

/* ---- profiles ---------------------------------------------------------------------------- */

static struct dj_adminconf profile_config(void)
{
    struct dj_adminconf cfg = config(false, false);
    static const char text[] = "allow = pypi.org\n"
                               "annotation-allow-within = *.example.org\n"
                               "annotation-forward-within = corp.test=192.0.2.53\n"
                               "profile.web.allow = github.com, 203.0.113.0/24:5432\n"
                               "profile.web.forward = svc.test=198.51.100.53\n"
                               "profile.learn.mode = audit\n";
    dj_error_t err = NULL;

    assert_int_equal(dj_adminconf_parse(&cfg, "t.conf", text, strlen(text), &err), 0);
    return cfg;
}

static void build_ok(const struct oci_annotation *ann, size_t n, const char *profile,
                     const char *want_canonical, bool want_enable)
{
    struct dj_adminconf cfg = profile_config();
    struct dj_policy policy;
    dj_error_t err = NULL;
    char *canonical;

    if (dj_policy_build(ann, n, &cfg, profile, &policy, &err) < 0) {
        print_error("refused: %s\n", dj_error_msg(&err));
        fail();
    }
    canonical = dj_policy_canonical(&policy);
    assert_non_null(canonical);
    if (strcmp(canonical, want_canonical) != 0) {
        print_error("got  \"%s\"\nwant \"%s\"\n", canonical, want_canonical);
        fail();
    }
    assert_int_equal(policy.enable, want_enable);
    free(canonical);
    dj_policy_free(&policy);
    dj_adminconf_free(&cfg);
}

static void build_fails(const struct oci_annotation *ann, size_t n, const char *profile,
                        const char *want)
{
    refused_with(profile_config(), ann, n, profile, want);
}

/* Without a profile nothing changes: default-enable (false here) decides. */
static void test_profile_none(void **unused)
{
    (void)unused;
    build_ok(NULL, 0, NULL, "mode=enforce allow=pypi.org:443,pypi.org:80", false);
}

/* The runtime's profile, or the annotation's: jailed whatever default-enable says, with the
 * profile's rules and zones and the admin's. */
static void test_profile_gives_its_policy(void **unused)
{
    struct oci_annotation named[] = {ANN("io.dnsjail.profile", "web")};
    static const char want[] = "mode=enforce forward=svc.test=198.51.100.53 "
                               "allow=203.0.113.0/24:5432,github.com:443,github.com:80,"
                               "pypi.org:443,pypi.org:80";

    (void)unused;
    build_ok(NULL, 0, "web", want, true);
    build_ok(named, 1, NULL, want, true);
    build_ok(named, 1, "web", want, true);
    build_ok(NULL, 0, "learn", "mode=audit allow=pypi.org:443,pypi.org:80", true);
}

/* Annotations narrow a profile: allow and forward replace the profile's, each entry within
 * the profile's or the admin's annotation-*-within; audit may become enforce. */
static void test_profile_narrowed(void **unused)
{
    struct oci_annotation narrower[] = {
        ANN("io.dnsjail.allow", "github.com, 203.0.113.7:5432, a.example.org"),
        ANN("io.dnsjail.forward", "db.svc.test, x.corp.test"),
        ANN("io.dnsjail.enable", "true"),
    };
    struct oci_annotation enforce[] = {ANN("io.dnsjail.mode", "enforce")};

    (void)unused;
    build_ok(narrower, 3, "web",
             "mode=enforce forward=db.svc.test=198.51.100.53,x.corp.test=192.0.2.53 "
             "allow=203.0.113.7/32:5432,a.example.org:443,a.example.org:80,github.com:443,"
             "github.com:80,pypi.org:443,pypi.org:80",
             true);
    build_ok(enforce, 1, "learn", "mode=enforce allow=pypi.org:443,pypi.org:80", true);
}

static void test_profile_never_widened(void **unused)
{
    struct oci_annotation wider[] = {ANN("io.dnsjail.allow", "github.com:22")};
    struct oci_annotation zone[] = {ANN("io.dnsjail.forward", "other.test")};
    struct oci_annotation off[] = {ANN("io.dnsjail.enable", "false")};
    struct oci_annotation audit[] = {ANN("io.dnsjail.mode", "audit")};
    struct oci_annotation other[] = {ANN("io.dnsjail.profile", "learn")};
    struct oci_annotation unknown[] = {ANN("io.dnsjail.profile", "nope")};

    (void)unused;
    build_fails(wider, 1, "web",
                "annotation io.dnsjail.allow: entry \"github.com:22\" is wider than profile web "
                "allows (profile.web.allow, annotation-allow-within)");
    build_fails(zone, 1, "web",
                "annotation io.dnsjail.forward: zone \"other.test\" is not within the zones the "
                "administrator allows (the profile's forward, annotation-forward-within)");
    build_fails(off, 1, "web",
                "annotation io.dnsjail.enable: profile web jails every container it is given; "
                "\"false\" cannot turn it off");
    build_fails(audit, 1, "web",
                "annotation io.dnsjail.mode: profile web enforces; \"audit\" would let "
                "everything through");
    build_fails(other, 1, "web",
                "annotation io.dnsjail.profile: \"learn\" is not the profile the runtime gives "
                "(\"web\")");
    build_fails(unknown, 1, NULL,
                "annotation io.dnsjail.profile \"nope\": no such profile in the configuration "
                "(profile.NAME.*)");
    build_fails(NULL, 0, "nope",
                "profile \"nope\": no such profile in the configuration (profile.NAME.*)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allow_hosts),       cmocka_unit_test(test_allow_addresses),
        cmocka_unit_test(test_allow_separators),  cmocka_unit_test(test_allow_host_errors),
        cmocka_unit_test(test_allow_wildcards),   cmocka_unit_test(test_allow_port_errors),
        cmocka_unit_test(test_allow_cidr_errors), cmocka_unit_test(test_allow_limits),
        cmocka_unit_test(test_policy_defaults),   cmocka_unit_test(test_policy_daemon_limit),
        cmocka_unit_test(test_profile_none),      cmocka_unit_test(test_profile_gives_its_policy),
        cmocka_unit_test(test_profile_narrowed),  cmocka_unit_test(test_profile_never_widened),
        cmocka_unit_test(test_policy_values),     cmocka_unit_test(test_policy_errors),
        cmocka_unit_test(test_canonical),         cmocka_unit_test(test_canonical_mode),
        cmocka_unit_test(test_policy_audit),      cmocka_unit_test(test_match_host),
        cmocka_unit_test(test_match_addr),        cmocka_unit_test(test_rule_within),
        cmocka_unit_test(test_admin_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
