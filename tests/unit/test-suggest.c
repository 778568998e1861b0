/* test-suggest: reading log lines back (lib/report/logline) and turning them into an allow list
 * (lib/report/suggest). */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/jsonlog.h"
#include "report/logline.h"
#include "jail/policy.h"
#include "report/suggest.h"

static int parse(const char *line, struct dj_logline_record *rec)
{
    dj_error_t err = NULL;
    int r = dj_logline_parse(line, strlen(line), rec, &err);

    dj_error_release(&err);
    return r;
}

static void test_logline_fields(void **state)
{
    struct dj_logline_record rec;

    (void)state;
    assert_int_equal(
        parse("{\"time\":\"2026-11-28T04:07:46.819Z\",\"event\":\"tls_connection\","
              "\"container\":\"abc\",\"client\":\"127.0.0.1:4\",\"host\":\"API.example.com\","
              "\"port\":443,\"decision\":\"deny\",\"reason\":\"no rule\","
              "\"would_block\":true,\"bytes_up\":12}\n",
              &rec),
        0);
    assert_string_equal(rec.event, "tls_connection");
    assert_string_equal(rec.container, "abc");
    assert_string_equal(rec.host, "API.example.com");
    assert_int_equal(rec.port, 443);
    assert_string_equal(rec.decision, "deny");
    assert_int_equal(rec.would_block, 1);
    assert_null(rec.qname);
    dj_logline_record_free(&rec);

    /* null is absent; would_block absent is -1 */
    assert_int_equal(parse("{\"event\":\"http_request\",\"host\":null}", &rec), 0);
    assert_null(rec.host);
    assert_int_equal(rec.port, -1);
    assert_int_equal(rec.would_block, -1);
    dj_logline_record_free(&rec);

    /* The stub's line for a name the container engine's resolver answered. */
    assert_int_equal(parse("{\"event\":\"dns_query\",\"qname\":\"postgres\",\"outcome\":"
                           "\"forwarded\",\"container_dns\":true}",
                           &rec),
                     0);
    assert_true(rec.container_dns);
    assert_string_equal(rec.outcome, "forwarded");
    dj_logline_record_free(&rec);
    assert_int_equal(parse("{\"event\":\"dns_query\",\"container_dns\":false}", &rec), 0);
    assert_false(rec.container_dns);
    dj_logline_record_free(&rec);

    /* The proxy's line for an allowed name that did not resolve (virtual.c). */
    assert_int_equal(
        parse("{\"event\":\"virtual_connection\",\"host\":\"nx.example.test\",\"port\":5432,"
              "\"decision\":\"error\",\"reason\":\"could not resolve nx.example.test: no "
              "such name\",\"virtual_address\":\"198.18.0.1\",\"bytes_up\":0}",
              &rec),
        0);
    assert_string_equal(rec.decision, "error");
    assert_string_equal(rec.reason, "could not resolve nx.example.test: no such name");
    assert_int_equal(rec.port, 5432);
    dj_logline_record_free(&rec);

    /* The stub's DoT failure line. */
    assert_int_equal(parse("{\"event\":\"resolver_tls_failure\",\"container\":\"abc\","
                           "\"server\":\"192.0.2.53:853\",\"auth_name\":\"dns.test\","
                           "\"failure\":\"pin\",\"reason\":\"no pin matches\"}",
                           &rec),
                     0);
    assert_string_equal(rec.event, "resolver_tls_failure");
    assert_string_equal(rec.reason, "no pin matches");
    dj_logline_record_free(&rec);
}

static void test_logline_round_trip(void **state)
{
    /* What lib/daemon/jsonlog writes, lib/report/logline reads: escapes and odd bytes included. */
    char buf[DJ_JSON_LINE_MAX];
    struct dj_json j;
    struct dj_logline_record rec;
    size_t len;

    (void)state;
    dj_json_begin(&j, buf, sizeof(buf));
    dj_json_add_cstring(&j, "event", "dns_query");
    dj_json_add_string(&j, "qname", "a\"b\\c\x01\xff.test", 12);
    dj_json_add_uint(&j, "port", 53);
    len = dj_json_end(&j);
    assert_int_equal(dj_logline_parse(buf, len, &rec, NULL), 0);
    assert_string_equal(rec.event, "dns_query");
    assert_non_null(strstr(rec.qname, "a\"b\\c"));
    assert_int_equal(rec.port, 53);
    dj_logline_record_free(&rec);
}

static void test_logline_refuses(void **state)
{
    static const char *const bad[] = {
        "",
        "\n",
        "not json",
        "[1,2]",
        "{\"event\":\"x\",\"nested\":{\"a\":1}}",
        "{\"event\":\"x\",\"list\":[1]}",
        "{\"event\":1}",
        "{\"event\":\"x\",\"port\":70000}",
        "{\"event\":\"x\",\"port\":\"443\"}",
        "{\"event\":\"x\",\"port\":-1}",
        "{\"event\":\"x\",\"would_block\":\"yes\"}",
        "{\"event\":\"x\",\"container_dns\":1}",
        "{\"host\":\"no-event\"}",
        "{\"event\":\"x\"",
    };
    struct dj_logline_record rec;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dj_error_t err = NULL;

        assert_int_equal(dj_logline_parse(bad[i], strlen(bad[i]), &rec, &err), -1);
        assert_non_null(err);
        dj_error_release(&err);
    }
    {
        char *big = malloc(DJ_LOGLINE_MAX + 64);

        memset(big, ' ', DJ_LOGLINE_MAX + 63);
        memcpy(big, "{\"event\":\"x\"}", 13);
        big[DJ_LOGLINE_MAX + 63] = '\0';
        assert_int_equal(dj_logline_parse(big, strlen(big), &rec, NULL), -1);
        free(big);
    }
}

/* The suggestion, joined, must parse as an allow value that allows every input. */
static char *suggest(const char *const *dest, const unsigned *ports, size_t n, unsigned threshold,
                     size_t *n_rules)
{
    struct dj_suggest *s = dj_suggest_new();
    struct dj_suggestion *list;
    struct dj_allow_rule *rules;
    size_t n_list, n_parsed;
    char *joined;

    assert_non_null(s);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(dj_suggest_add(s, dest[i], ports[i], 1, NULL), 0);
    assert_int_equal(dj_suggest_compute(s, threshold, &list, &n_list, NULL), 0);
    joined = dj_suggestions_join(list, n_list);
    assert_non_null(joined);
    assert_int_equal(dj_allow_parse(joined, false, &rules, &n_parsed, NULL), 0);
    assert_int_equal(n_parsed, n_list);
    for (size_t i = 0; i < n; i++) {
        if (strchr(dest[i], ':') == NULL && strspn(dest[i], "0123456789.") != strlen(dest[i]))
            assert_true(dj_allow_match_host(rules, n_parsed, dest[i], (uint16_t)ports[i]));
    }
    dj_allow_free(rules, n_parsed);
    dj_suggestions_free(list, n_list);
    dj_suggest_free(s);
    *n_rules = n_list;
    return joined;
}

static void test_suggest_rules(void **state)
{
    static const char *const dest[] = {
        "api.example.com",   "API.example.com.",  "a.cdn.example.net",
        "b.cdn.example.net", "c.cdn.example.net", "git.example.org",
        "192.0.2.7",         "2001:db8::1",       "db.example.com"};
    static const unsigned ports[] = {443, 80, 443, 443, 443, 22, 8080, 443, 5432};
    size_t n;
    char *value;

    (void)state;
    /* No collapsing: one rule per name and port; 80 and 443 fold into the port-less rule. */
    value = suggest(dest, ports, 9, 0, &n);
    assert_string_equal(value, "192.0.2.7:8080, [2001:db8::1], a.cdn.example.net, "
                               "api.example.com, b.cdn.example.net, c.cdn.example.net, "
                               "db.example.com:5432, git.example.org:22");
    free(value);
    /* Threshold 3: the three cdn names become one wildcard; two names are not enough. */
    value = suggest(dest, ports, 9, 3, &n);
    assert_non_null(strstr(value, "*.cdn.example.net"));
    assert_null(strstr(value, "a.cdn.example.net"));
    assert_null(strstr(value, "*.example.com"));
    free(value);
    value = suggest(dest, ports, 9, 4, &n);
    assert_null(strstr(value, "*."));
    free(value);
}

static void test_suggest_never_too_wide(void **state)
{
    /* Many names directly below a top-level domain never become "*.com". */
    static const char *const dest[] = {"a.com", "b.com", "c.com", "d.com"};
    static const unsigned ports[] = {443, 443, 443, 443};
    size_t n;
    char *value;

    (void)state;
    value = suggest(dest, ports, 4, 2, &n);
    assert_int_equal(n, 4);
    assert_null(strchr(value, '*'));
    free(value);
}

static void test_suggest_refuses(void **state)
{
    static const char *const bad[] = {"*",
                                      "*.example.com",
                                      "a,b.example.com",
                                      "a b",
                                      "203.0.113.0/24",
                                      "[2001:db8::1]",
                                      "exa mple.com",
                                      "",
                                      "foo..bar",
                                      "-x.example.com"};
    struct dj_suggest *s = dj_suggest_new();

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dj_error_t err = NULL;

        assert_int_equal(dj_suggest_add(s, bad[i], 443, 1, &err), -1);
        dj_error_release(&err);
    }
    assert_int_equal(dj_suggest_add(s, "example.com", 0, 1, NULL), -1);
    assert_int_equal(dj_suggest_add(s, "example.com", 65536, 1, NULL), -1);
    dj_suggest_free(s);
}

static void test_suggest_records(void **state)
{
    struct dj_suggest *s = dj_suggest_new();
    struct dj_logline_record rec;
    struct dj_suggestion *list;
    size_t n;

    (void)state;
    assert_int_equal(parse("{\"event\":\"dns_query\",\"qname\":\"x.example.com\"}", &rec), 0);
    assert_int_equal(dj_suggest_add_record(s, &rec, NULL), 0); /* not a connection */
    dj_logline_record_free(&rec);
    assert_int_equal(parse("{\"event\":\"tls_connection\",\"host\":null,\"port\":443}", &rec), 0);
    assert_int_equal(dj_suggest_add_record(s, &rec, NULL), 0); /* no destination known */
    dj_logline_record_free(&rec);
    assert_int_equal(
        parse("{\"event\":\"http_request\",\"host\":\"Example.COM\",\"port\":80}", &rec), 0);
    assert_int_equal(dj_suggest_add_record(s, &rec, NULL), 1);
    assert_int_equal(dj_suggest_add_record(s, &rec, NULL), 1);
    dj_logline_record_free(&rec);
    assert_int_equal(dj_suggest_compute(s, 0, &list, &n, NULL), 0);
    assert_int_equal(n, 1);
    assert_string_equal(list[0].rule, "example.com");
    assert_int_equal(list[0].connections, 2);
    dj_suggestions_free(list, n);
    dj_suggest_free(s);
}

/* Audit mode's lines, as the stub and the proxy write them: the connection ones count (an
 * address with "dest"), the DNS ones do not, whatever would_block says. */
static void test_suggest_audit_lines(void **state)
{
    static const char *const lines[] = {
        "{\"time\":\"2026-11-28T04:42:31.100Z\",\"event\":\"dns_query\",\"container\":\"c\","
        "\"qname\":\"a.sites.test\",\"qtype\":\"A\",\"rcode\":\"NOERROR\","
        "\"outcome\":\"forwarded\",\"would_block\":true}",
        "{\"time\":\"2026-11-28T04:42:31.200Z\",\"event\":\"tcp_connection\",\"container\":\"c\","
        "\"client\":\"192.0.2.2:40000\",\"dest\":\"203.0.113.90\",\"port\":5432,"
        "\"decision\":\"allow\",\"reason\":\"not in the allow list\",\"would_block\":true,"
        "\"upstream\":\"203.0.113.90:5432\",\"bytes_up\":5,\"bytes_down\":14,\"duration_ms\":3}",
        "{\"time\":\"2026-11-28T04:42:31.300Z\",\"event\":\"http_request\",\"container\":\"c\","
        "\"client\":\"192.0.2.2:40002\",\"host\":\"a.sites.test\",\"port\":80,"
        "\"method\":\"GET\",\"path\":\"/\",\"decision\":\"allow\","
        "\"reason\":\"not in the allow list\",\"status\":200,\"would_block\":true}",
    };
    struct dj_suggest *s = dj_suggest_new();
    struct dj_suggestion *list;
    struct dj_logline_record rec;
    size_t n;

    (void)state;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        assert_int_equal(parse(lines[i], &rec), 0);
        assert_int_equal(rec.would_block, 1);
        assert_int_equal(dj_suggest_add_record(s, &rec, NULL), i == 0 ? 0 : 1);
        dj_logline_record_free(&rec);
    }
    assert_int_equal(dj_suggest_compute(s, 0, &list, &n, NULL), 0);
    assert_int_equal(n, 2);
    assert_string_equal(list[0].rule, "203.0.113.90:5432");
    assert_string_equal(list[1].rule, "a.sites.test");
    dj_suggestions_free(list, n);
    dj_suggest_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logline_fields),         cmocka_unit_test(test_logline_round_trip),
        cmocka_unit_test(test_logline_refuses),        cmocka_unit_test(test_suggest_rules),
        cmocka_unit_test(test_suggest_never_too_wide), cmocka_unit_test(test_suggest_refuses),
        cmocka_unit_test(test_suggest_records),        cmocka_unit_test(test_suggest_audit_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
