#include "config.h"
#include "http/httphead.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* ---- helpers -------------------------------------------------------------------------------- */

static enum dj_http_result parse(const char *text, struct dj_http_head *head)
{
    dj_http_head_init(head);
    return dj_http_head_parse(head, text, strlen(text));
}

/* TEXT must give EXPECTED (and say why when it is refused). */
static void expect(const char *text, enum dj_http_result expected)
{
    struct dj_http_head head;
    enum dj_http_result r = parse(text, &head);

    if (r != expected)
        fail_msg("got %s (%s), expected %s, for: %s", dj_http_result_text(r),
                 head.problem ? head.problem : "-", dj_http_result_text(expected), text);
    assert_int_equal(head.result, expected);
    if (expected == DJ_HTTP_OK || expected == DJ_HTTP_NEED_MORE)
        assert_null(head.problem);
    else
        assert_non_null(head.problem);
}

static void assert_span(const char *buf, struct dj_http_span span, const char *text)
{
    if (span.len != strlen(text) || memcmp(buf + span.off, text, span.len) != 0)
        fail_msg("span is \"%.*s\", expected \"%s\"", (int)span.len, buf + span.off, text);
}

/* "GET / HTTP/1.1" with the given field lines (each ending in CRLF) and the blank line. */
static const char *with_fields(const char *fields)
{
    static char text[4096];

    snprintf(text, sizeof(text), "GET / HTTP/1.1\r\n%s\r\n", fields);
    return text;
}

static const char *with_host_field(const char *host)
{
    static char text[4096];

    snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host);
    return text;
}

/* ---- accepted heads ------------------------------------------------------------------------- */

static const char simple_get[] = "GET /index.html?q=1 HTTP/1.1\r\n"
                                 "Host: www.Example.com\r\n"
                                 "User-Agent: curl/7.88.1\r\n"
                                 "Accept: */*\r\n"
                                 "\r\n";

static void test_simple_get(void **state)
{
    struct dj_http_head head;

    (void)state;
    assert_int_equal(parse(simple_get, &head), DJ_HTTP_OK);
    assert_int_equal(head.head_len, strlen(simple_get));
    assert_span(simple_get, head.method, "GET");
    assert_span(simple_get, head.target, "/index.html?q=1");
    assert_span(simple_get, head.path, "/index.html?q=1");
    assert_int_equal(head.target_form, DJ_HTTP_TARGET_ORIGIN);
    assert_int_equal(head.version_minor, 1);
    assert_span(simple_get, head.host, "www.Example.com");
    assert_false(head.host_is_ipv6);
    assert_int_equal(head.port, 0);
    assert_int_equal(head.body, DJ_HTTP_BODY_NONE);
    assert_true(head.keep_alive);
    assert_int_equal(head.field_count, 3);
    assert_null(head.problem);
}

/* Every prefix, fed to one parser as the bytes arrive, asks for more; so does every prefix fed
 * to a fresh parser; the whole gives the same head both ways. */
static void test_every_prefix(void **state)
{
    static const char *const requests[] = {
        simple_get,
        "\r\n\r\nPOST http://example.com:8080/up HTTP/1.0\r\nHost: EXAMPLE.com:8080\r\n"
        "Content-Length: 11\r\nConnection: keep-alive\r\n\r\n",
        "PUT /x HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\nTransfer-Encoding: chunked\r\n\r\n",
    };
    size_t k;

    (void)state;
    for (k = 0; k < sizeof(requests) / sizeof(requests[0]); k++) {
        const char *text = requests[k];
        size_t len = strlen(text);
        struct dj_http_head streamed, whole;
        size_t n;

        dj_http_head_init(&streamed);
        for (n = 0; n < len; n++) {
            struct dj_http_head fresh;

            assert_int_equal(dj_http_head_parse(&streamed, text, n), DJ_HTTP_NEED_MORE);
            dj_http_head_init(&fresh);
            assert_int_equal(dj_http_head_parse(&fresh, text, n), DJ_HTTP_NEED_MORE);
        }
        assert_int_equal(dj_http_head_parse(&streamed, text, len), DJ_HTTP_OK);
        assert_int_equal(parse(text, &whole), DJ_HTTP_OK);
        assert_int_equal(streamed.head_len, len);
        assert_memory_equal(&streamed.method, &whole.method, sizeof(whole.method));
        assert_memory_equal(&streamed.host, &whole.host, sizeof(whole.host));
        assert_int_equal(streamed.port, whole.port);
        assert_int_equal(streamed.body, whole.body);
        assert_int_equal(streamed.content_length, whole.content_length);
        assert_int_equal(streamed.keep_alive, whole.keep_alive);
    }
}

static void test_second_request_fields(void **state)
{
    static const char text[] = "\r\n\r\nPOST http://example.com:8080/up HTTP/1.0\r\n"
                               "Host: EXAMPLE.com:8080\r\nContent-Length: 11\r\n"
                               "Connection: keep-alive\r\n\r\nhello world";
    struct dj_http_head head;

    (void)state;
    assert_int_equal(parse(text, &head), DJ_HTTP_OK);
    assert_int_equal(head.head_len, strlen(text) - 11);
    assert_span(text, head.method, "POST");
    assert_int_equal(head.target_form, DJ_HTTP_TARGET_ABSOLUTE);
    assert_span(text, head.path, "/up");
    assert_int_equal(head.version_minor, 0);
    assert_span(text, head.host, "example.com"); /* from the target */
    assert_int_equal(head.port, 8080);
    assert_int_equal(head.body, DJ_HTTP_BODY_LENGTH);
    assert_int_equal(head.content_length, 11);
    assert_true(head.keep_alive);
}

/* Two requests in one buffer: the first's head_len (and body) lead to the second. */
static void test_pipelined(void **state)
{
    static const char text[] =
        "GET /a HTTP/1.1\r\nHost: a.example\r\n\r\n"
        "POST /b HTTP/1.1\r\nHost: b.example\r\nContent-Length: 5\r\n\r\n"
        "hello"
        "PUT /c HTTP/1.1\r\nHost: c.example\r\nTransfer-Encoding: chunked\r\n"
        "\r\n"
        "5\r\nworld\r\n0\r\n\r\n"
        "DELETE /d HTTP/1.1\r\nHost: d.example\r\nConnection: close\r\n\r\n";
    struct dj_http_head head;
    struct dj_chunked chunked;
    size_t pos = 0, used;

    (void)state;
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text, strlen(text)), DJ_HTTP_OK);
    assert_span(text, head.host, "a.example");
    assert_int_equal(head.body, DJ_HTTP_BODY_NONE);
    pos += head.head_len;

    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text + pos, strlen(text + pos)), DJ_HTTP_OK);
    assert_span(text + pos, head.host, "b.example");
    assert_int_equal(head.body, DJ_HTTP_BODY_LENGTH);
    pos += head.head_len + head.content_length;

    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text + pos, strlen(text + pos)), DJ_HTTP_OK);
    assert_span(text + pos, head.host, "c.example");
    assert_int_equal(head.body, DJ_HTTP_BODY_CHUNKED);
    pos += head.head_len;
    dj_chunked_init(&chunked);
    assert_int_equal(dj_chunked_feed(&chunked, text + pos, strlen(text + pos), &used),
                     DJ_CHUNKED_DONE);
    assert_int_equal(used, strlen("5\r\nworld\r\n0\r\n\r\n"));
    pos += used;

    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text + pos, strlen(text + pos)), DJ_HTTP_OK);
    assert_span(text + pos, head.method, "DELETE");
    assert_false(head.keep_alive);
    assert_int_equal(pos + head.head_len, strlen(text));
}

static void test_result_is_sticky(void **state)
{
    static const char text[] = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n";
    struct dj_http_head head;

    (void)state;
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text, strlen(text)), DJ_HTTP_OK);
    assert_int_equal(dj_http_head_parse(&head, text, strlen(text)), DJ_HTTP_OK);
    assert_int_equal(head.head_len, 27);
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, "GET / HTTP/1.1\n", 15), DJ_HTTP_BAD_LINE_ENDING);
    assert_int_equal(dj_http_head_parse(&head, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 27),
                     DJ_HTTP_BAD_LINE_ENDING);
}

/* ---- request line ------------------------------------------------------------------------- */

static void test_versions(void **state)
{
    (void)state;
    expect("GET / HTTP/1.0\r\nHost: a\r\n\r\n", DJ_HTTP_OK);
    expect("GET / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_OK);
    expect("GET /\r\n\r\n", DJ_HTTP_BAD_VERSION); /* HTTP/0.9 */
    expect("GET / HTTP/2.0\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_VERSION);
    expect("GET / HTTP/2\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_VERSION);
    expect("GET / HTTP/1.2\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_VERSION);
    expect("GET / HTTP/1.10\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_VERSION);
    expect("GET / http/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_REQUEST_LINE);
    expect("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", DJ_HTTP_BAD_REQUEST_LINE);
    expect("GET / FOO\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_REQUEST_LINE);
    expect("GARBAGE\r\n\r\n", DJ_HTTP_BAD_REQUEST_LINE);
    assert_int_equal(dj_http_result_status(DJ_HTTP_BAD_VERSION), 505);
}

static void test_methods(void **state)
{
    (void)state;
    expect("PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_OK);
    expect("X-CUSTOM.m~ / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_OK);
    expect("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_METHOD);
    expect("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_METHOD);
    expect(" / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_METHOD);
    expect("G\x80T / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_METHOD);
    /* A TLS ClientHello sent to the HTTP port is refused at its first byte. */
    expect("\x16", DJ_HTTP_BAD_METHOD);
    expect("\r\n\x16\x03\x01", DJ_HTTP_BAD_METHOD);
    expect(" ", DJ_HTTP_BAD_METHOD);
    expect("GET", DJ_HTTP_NEED_MORE);
    expect("GET /\x16", DJ_HTTP_NEED_MORE); /* only the method is checked before the CRLF */
}

static void test_targets(void **state)
{
    struct dj_http_head head;
    static const char opts[] = "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n";

    (void)state;
    expect("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET  HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET index.html HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET * HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET //a.example/x HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_OK);

    assert_int_equal(parse(opts, &head), DJ_HTTP_OK);
    assert_int_equal(head.target_form, DJ_HTTP_TARGET_ASTERISK);
    assert_span(opts, head.target, "*");
    assert_int_equal(head.path.len, 0);
    assert_span(opts, head.host, "a");
}

static void test_absolute_form(void **state)
{
    static const char agree[] = "GET HTTP://WWW.example.com/p?q HTTP/1.1\r\n"
                                "Host: www.EXAMPLE.com\r\n\r\n";
    static const char no_path[] = "GET http://example.com?x HTTP/1.1\r\nHost: example.com\r\n\r\n";
    struct dj_http_head head;

    (void)state;
    assert_int_equal(parse(agree, &head), DJ_HTTP_OK);
    assert_int_equal(head.target_form, DJ_HTTP_TARGET_ABSOLUTE);
    assert_span(agree, head.host, "WWW.example.com");
    assert_span(agree, head.path, "/p?q");
    assert_int_equal(head.port, 0);

    assert_int_equal(parse(no_path, &head), DJ_HTTP_OK);
    assert_span(no_path, head.path, "?x");

    /* Ports agree when they are equal, a missing one being 80. */
    expect("GET http://a.example:80/ HTTP/1.1\r\nHost: a.example\r\n\r\n", DJ_HTTP_OK);
    expect("GET http://a.example/ HTTP/1.1\r\nHost: a.example:80\r\n\r\n", DJ_HTTP_OK);
    expect("GET http://a.example:8080/ HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", DJ_HTTP_OK);
    expect("GET http://a.example:8080/ HTTP/1.1\r\nHost: a.example\r\n\r\n", DJ_HTTP_HOST_MISMATCH);
    expect("GET http://a.example/ HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", DJ_HTTP_HOST_MISMATCH);
    expect("GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n", DJ_HTTP_HOST_MISMATCH);
    expect("GET http://a.example/ HTTP/1.1\r\nHost: a.example.\r\n\r\n", DJ_HTTP_HOST_MISMATCH);
    expect("GET http://[2001:DB8::1]/ HTTP/1.1\r\nHost: [2001:db8::1]\r\n\r\n", DJ_HTTP_OK);
    expect("GET http://[2001:db8::1]/ HTTP/1.1\r\nHost: [2001:db8::2]\r\n\r\n",
           DJ_HTTP_HOST_MISMATCH);
    /* A Host is required even with absolute-form. */
    expect("GET http://a.example/ HTTP/1.1\r\n\r\n", DJ_HTTP_MISSING_HOST);
    /* Only http; no userinfo; an authority is required. */
    expect("GET https://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET ftp://a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET http://u:p@a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET http:///x HTTP/1.1\r\nHost: a.example\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET http:/a.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("GET http://a.example:0/ HTTP/1.1\r\nHost: a.example\r\n\r\n", DJ_HTTP_BAD_TARGET);
}

static void test_connect(void **state)
{
    static const char no_host[] = "CONNECT example.com:443 HTTP/1.1\r\n\r\n";
    struct dj_http_head head;

    (void)state;
    /* Reported, for the proxy to refuse. */
    assert_int_equal(parse(no_host, &head), DJ_HTTP_OK);
    assert_int_equal(head.target_form, DJ_HTTP_TARGET_AUTHORITY);
    assert_span(no_host, head.host, "example.com");
    assert_int_equal(head.port, 443);
    assert_int_equal(head.path.len, 0);
    expect("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", DJ_HTTP_OK);
    expect("CONNECT example.com:443 HTTP/1.1\r\nHost: other.com:443\r\n\r\n",
           DJ_HTTP_HOST_MISMATCH);
    expect("CONNECT example.com HTTP/1.1\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_TARGET);
    expect("CONNECT http://example.com:443/ HTTP/1.1\r\n\r\n", DJ_HTTP_BAD_TARGET);
}

static void test_leading_empty_lines(void **state)
{
    struct dj_http_head head;
    static const char text[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";

    (void)state;
    assert_int_equal(parse(text, &head), DJ_HTTP_OK);
    assert_int_equal(head.head_len, strlen(text));
    assert_int_equal(head.method.off, 4);
    expect("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_LINE_ENDING);
    expect("\r\n \r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_METHOD);
}

/* ---- line endings ------------------------------------------------------------------------- */

static void test_line_endings(void **state)
{
    struct dj_http_head head;

    (void)state;
    expect("GET / HTTP/1.1\nHost: a\r\n\r\n", DJ_HTTP_BAD_LINE_ENDING);
    expect("GET / HTTP/1.1\r\nHost: a\n\r\n", DJ_HTTP_BAD_LINE_ENDING);
    expect("GET / HTTP/1.1\r\nHost: a\r\n\n", DJ_HTTP_BAD_LINE_ENDING);
    expect("GET / HTTP/1.1\r\nHost: a\n\n", DJ_HTTP_BAD_LINE_ENDING);
    expect("GET / HTTP/1.1\rHost: a\r\n\r\n", DJ_HTTP_BAD_LINE_ENDING);
    expect("GET / HTTP/1.1\r\nX: a\rb\r\nHost: a\r\n\r\n", DJ_HTTP_BAD_LINE_ENDING);
    expect("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", DJ_HTTP_BAD_LINE_ENDING);
    /* Refused as soon as the byte after the CR is there, long before any limit. */
    assert_int_equal(parse("GET / HTTP/1.1\rX", &head), DJ_HTTP_BAD_LINE_ENDING);
    assert_int_equal(parse("GET / HTTP/1.1\r", &head), DJ_HTTP_NEED_MORE);
    assert_int_equal(parse("GET /\n", &head), DJ_HTTP_BAD_LINE_ENDING);
}

/* ---- field lines -------------------------------------------------------------------------- */

static void test_field_syntax(void **state)
{
    (void)state;
    expect(with_fields("Host: a\r\nX-Folded: one\r\n two\r\n"), DJ_HTTP_OBS_FOLD);
    expect(with_fields("Host: a\r\nX-Folded: one\r\n\ttwo\r\n"), DJ_HTTP_OBS_FOLD);
    expect(with_fields(" Host: a\r\n"), DJ_HTTP_OBS_FOLD);
    expect(with_fields("Host : a\r\n"), DJ_HTTP_SPACE_BEFORE_COLON);
    expect(with_fields("Host: a\r\nContent-Length\t: 0\r\n"), DJ_HTTP_SPACE_BEFORE_COLON);
    expect(with_fields("Host: a\r\nX(Y): 1\r\n"), DJ_HTTP_BAD_FIELD_NAME);
    expect(with_fields("Host: a\r\n: 1\r\n"), DJ_HTTP_BAD_FIELD_NAME);
    expect(with_fields("Host: a\r\nNoColon\r\n"), DJ_HTTP_BAD_FIELD_NAME);
    expect(with_fields("Host: a\r\nX\x80Y: 1\r\n"), DJ_HTTP_BAD_FIELD_NAME);
    expect(with_fields("Host: a\r\nX-A: a\x01"
                       "b\r\n"),
           DJ_HTTP_BAD_FIELD_VALUE);
    expect(with_fields("Host: a\r\nX-A: a\x7f\r\n"), DJ_HTTP_BAD_FIELD_VALUE);
    /* HTAB, obs-text and an empty value are fine. */
    expect(with_fields("Host: a\r\nX-A: a\tb \xff\r\nX-Empty:\r\n"), DJ_HTTP_OK);
}

static void test_nul_in_value(void **state)
{
    static const char text[] = "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\0b\r\n\r\n";
    struct dj_http_head head;

    (void)state;
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text, sizeof(text) - 1), DJ_HTTP_BAD_FIELD_VALUE);
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, "GET / HTTP/1.1\r\nHost: a\0\r\n\r\n", 28),
                     DJ_HTTP_BAD_FIELD_VALUE);
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 29),
                     DJ_HTTP_BAD_TARGET);
}

/* ---- Host ----------------------------------------------------------------------------------- */

static void test_host_required(void **state)
{
    (void)state;
    expect("GET / HTTP/1.1\r\n\r\n", DJ_HTTP_MISSING_HOST);
    /* HTTP/1.0 does not require Host, but the proxy needs it to decide. */
    expect("GET / HTTP/1.0\r\n\r\n", DJ_HTTP_MISSING_HOST);
    expect(with_fields("Host: a\r\nHost: a\r\n"), DJ_HTTP_DUPLICATE_HOST);
    expect(with_fields("Host: a\r\nhost: b\r\n"), DJ_HTTP_DUPLICATE_HOST);
    expect(with_fields("HOST: a\r\n"), DJ_HTTP_OK);
}

static void test_host_port_and_ipv6(void **state)
{
    static const char v6[] = "GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n";
    static const char port[] = "GET / HTTP/1.1\r\nHost:  Example.com:8443 \r\n\r\n";
    struct dj_http_head head;

    (void)state;
    assert_int_equal(parse(v6, &head), DJ_HTTP_OK);
    assert_span(v6, head.host, "2001:db8::1");
    assert_true(head.host_is_ipv6);
    assert_int_equal(head.port, 8080);

    assert_int_equal(parse(port, &head), DJ_HTTP_OK);
    assert_span(port, head.host, "Example.com");
    assert_false(head.host_is_ipv6);
    assert_int_equal(head.port, 8443);

    expect(with_host_field("[::ffff:192.0.2.1]"), DJ_HTTP_OK);
    expect(with_host_field("192.0.2.1:80"), DJ_HTTP_OK);
    expect(with_host_field("a.example.:65535"), DJ_HTTP_OK);
    expect(with_host_field("under_score.example"), DJ_HTTP_OK);
}

static void test_host_refused(void **state)
{
    static const char *const bad[] = {
        "",
        "user@example.com",
        "user:pw@example.com",
        "exa mple.com",
        "example.com/",
        "example.com:",
        "example.com:0",
        "example.com:65536",
        "example.com:080808",
        "example.com:80a",
        "example.com:-1",
        "example.com:80:80",
        "ex%61mple.com",
        "a..example",
        ".example",
        "caf\xc3\xa9.example",
        "2001:db8::1",
        "[2001:db8::1",
        "[2001:db8::g]",
        "[fe80::1%25eth0]",
        "[v1.fe80::1]",
        "[]",
        "[2001:db8::1]x",
        "[192.0.2.1]",
        "[2001:db8::1]:",
        ":80",
        "a.example..",
        "a.example:80 x",
    };
    size_t i;
    char name[300];
    struct dj_http_head head;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect(with_host_field(bad[i]), DJ_HTTP_BAD_HOST);
    assert_int_equal(parse(with_host_field("user@example.com"), &head), DJ_HTTP_BAD_HOST);
    assert_string_equal(head.problem, "userinfo in host");
    assert_int_equal(parse(with_host_field("ex%61mple.com"), &head), DJ_HTTP_BAD_HOST);
    assert_string_equal(head.problem, "percent-encoding in host");

    /* 253 bytes pass, 254 do not; labels up to 63. */
    memset(name, 'b', sizeof(name));
    name[63] = name[127] = name[191] = '.';
    name[253] = '\0';
    expect(with_host_field(name), DJ_HTTP_OK);
    name[253] = '.';
    name[254] = '\0';
    expect(with_host_field(name), DJ_HTTP_OK);
    name[253] = 'b';
    expect(with_host_field(name), DJ_HTTP_BAD_HOST);
    memset(name, 'c', 64);
    strcpy(name + 64, ".example");
    expect(with_host_field(name), DJ_HTTP_BAD_HOST);
}

/* ---- framing --------------------------------------------------------------------------------- */

static void test_content_length(void **state)
{
    struct dj_http_head head;

    (void)state;
    assert_int_equal(parse(with_fields("Host: a\r\nContent-Length:  007 \r\n"), &head), DJ_HTTP_OK);
    assert_int_equal(head.body, DJ_HTTP_BODY_LENGTH);
    assert_int_equal(head.content_length, 7);
    assert_int_equal(parse(with_fields("Host: a\r\nContent-Length: 0\r\n"), &head), DJ_HTTP_OK);
    assert_int_equal(head.body, DJ_HTTP_BODY_LENGTH);
    assert_int_equal(head.content_length, 0);
    assert_int_equal(
        parse(with_fields("Host: a\r\nContent-Length: 9223372036854775807\r\n"), &head),
        DJ_HTTP_OK);
    assert_int_equal(head.content_length, INT64_MAX);

    expect(with_fields("Host: a\r\nContent-Length: 9223372036854775808\r\n"),
           DJ_HTTP_BAD_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length: 99999999999999999999999\r\n"),
           DJ_HTTP_BAD_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length: 1a\r\n"), DJ_HTTP_BAD_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length: -1\r\n"), DJ_HTTP_BAD_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length: +1\r\n"), DJ_HTTP_BAD_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length: 0x10\r\n"), DJ_HTTP_BAD_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length: 1 2\r\n"), DJ_HTTP_BAD_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length: 5, 5\r\n"), DJ_HTTP_BAD_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length:\r\n"), DJ_HTTP_BAD_CONTENT_LENGTH);
    /* Two, even when equal. */
    expect(with_fields("Host: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n"),
           DJ_HTTP_DUPLICATE_CONTENT_LENGTH);
    expect(with_fields("Host: a\r\nContent-Length: 5\r\ncontent-length: 6\r\n"),
           DJ_HTTP_DUPLICATE_CONTENT_LENGTH);
}

static void test_transfer_encoding(void **state)
{
    struct dj_http_head head;

    (void)state;
    assert_int_equal(parse(with_fields("Host: a\r\nTransfer-Encoding: Chunked\r\n"), &head),
                     DJ_HTTP_OK);
    assert_int_equal(head.body, DJ_HTTP_BODY_CHUNKED);
    expect(with_fields("Host: a\r\nTransfer-Encoding:\tchunked \r\n"), DJ_HTTP_OK);

    expect(with_fields("Host: a\r\nTransfer-Encoding: gzip, chunked\r\n"),
           DJ_HTTP_BAD_TRANSFER_ENCODING);
    expect(with_fields("Host: a\r\nTransfer-Encoding: chunked, chunked\r\n"),
           DJ_HTTP_BAD_TRANSFER_ENCODING);
    expect(with_fields("Host: a\r\nTransfer-Encoding: chunked, identity\r\n"),
           DJ_HTTP_BAD_TRANSFER_ENCODING);
    expect(with_fields("Host: a\r\nTransfer-Encoding: identity\r\n"),
           DJ_HTTP_BAD_TRANSFER_ENCODING);
    expect(with_fields("Host: a\r\nTransfer-Encoding: chunked;q=1\r\n"),
           DJ_HTTP_BAD_TRANSFER_ENCODING);
    expect(with_fields("Host: a\r\nTransfer-Encoding: xchunked\r\n"),
           DJ_HTTP_BAD_TRANSFER_ENCODING);
    expect(with_fields("Host: a\r\nTransfer-Encoding:\r\n"), DJ_HTTP_BAD_TRANSFER_ENCODING);
    expect(with_fields("Host: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
           DJ_HTTP_BAD_TRANSFER_ENCODING);
    expect("POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
           DJ_HTTP_BAD_TRANSFER_ENCODING);
}

static void test_length_and_chunked(void **state)
{
    (void)state;
    expect(with_fields("Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n"),
           DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING);
    expect(with_fields("Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
           DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING);
    /* Also when the other one is itself invalid: the pair is the first thing wrong. */
    expect(with_fields("Host: a\r\nContent-Length: 5\r\nTransfer-Encoding: gzip\r\n"),
           DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING);
}

static void test_keep_alive(void **state)
{
    static const struct {
        const char *text;
        bool keep_alive;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: x\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, close ,\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nHost: a\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nHost: a\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct dj_http_head head;

        assert_int_equal(parse(cases[i].text, &head), DJ_HTTP_OK);
        if (head.keep_alive != cases[i].keep_alive)
            fail_msg("keep_alive %d for: %s", head.keep_alive, cases[i].text);
    }
    expect(with_fields("Host: a\r\nConnection: keep alive\r\n"), DJ_HTTP_BAD_FIELD_VALUE);
    expect(with_fields("Host: a\r\nConnection: \"close\"\r\n"), DJ_HTTP_BAD_FIELD_VALUE);
}

/* ---- limits ------------------------------------------------------------------------------- */

static char *make_request_line(size_t line_len)
{
    /* "GET /aaaa HTTP/1.1" of exactly LINE_LEN bytes, then Host and the blank line. */
    char *text = malloc(line_len + 64);
    size_t path = line_len - strlen("GET / HTTP/1.1");

    assert_non_null(text);
    memcpy(text, "GET /", 5);
    memset(text + 5, 'a', path);
    strcpy(text + 5 + path, " HTTP/1.1\r\nHost: a\r\n\r\n");
    return text;
}

static void test_request_line_limit(void **state)
{
    char *text;
    struct dj_http_head head;

    (void)state;
    text = make_request_line(DJ_HTTP_MAX_REQUEST_LINE);
    expect(text, DJ_HTTP_OK);
    free(text);
    text = make_request_line(DJ_HTTP_MAX_REQUEST_LINE + 1);
    expect(text, DJ_HTTP_TOO_LARGE);
    /* Decided when the limit is reached, not when the CRLF arrives. */
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text, DJ_HTTP_MAX_REQUEST_LINE + 1),
                     DJ_HTTP_NEED_MORE);
    assert_int_equal(dj_http_head_parse(&head, text, DJ_HTTP_MAX_REQUEST_LINE + 2),
                     DJ_HTTP_TOO_LARGE);
    assert_int_equal(dj_http_result_status(head.result), 431);
    free(text);

    /* No CR at all: refused once the limit is reached. */
    text = malloc(DJ_HTTP_MAX_REQUEST_LINE + 16);
    assert_non_null(text);
    memset(text, 'A', DJ_HTTP_MAX_REQUEST_LINE + 16);
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text, DJ_HTTP_MAX_REQUEST_LINE + 1),
                     DJ_HTTP_NEED_MORE);
    assert_int_equal(dj_http_head_parse(&head, text, DJ_HTTP_MAX_REQUEST_LINE + 2),
                     DJ_HTTP_TOO_LARGE);
    assert_string_equal(head.problem, "request line too long");
    free(text);
}

/* A head of exactly DJ_HTTP_MAX_HEAD bytes passes; one more byte does not. NEED_MORE is never
 * answered once DJ_HTTP_MAX_HEAD bytes are there. */
static void test_head_limit(void **state)
{
    char *text = malloc(DJ_HTTP_MAX_HEAD + 16);
    const char *start = "GET / HTTP/1.1\r\nHost: a\r\n";
    size_t pos, filler;
    struct dj_http_head head;

    (void)state;
    assert_non_null(text);
    strcpy(text, start);
    pos = strlen(start);
    /* Fields of ~1000 bytes, then one that brings the head to the limit. */
    while (DJ_HTTP_MAX_HEAD - pos > 2000) {
        memcpy(text + pos, "X-Fill: ", 8);
        memset(text + pos + 8, 'x', 990);
        memcpy(text + pos + 998, "\r\n", 2);
        pos += 1000;
    }
    filler = DJ_HTTP_MAX_HEAD - pos - 2 - 10; /* "X-Last: " + CRLF + final CRLF */
    memcpy(text + pos, "X-Last: ", 8);
    memset(text + pos + 8, 'y', filler);
    memcpy(text + pos + 8 + filler, "\r\n\r\n", 5);
    assert_int_equal(strlen(text), DJ_HTTP_MAX_HEAD);
    assert_int_equal(parse(text, &head), DJ_HTTP_OK);
    assert_int_equal(head.head_len, DJ_HTTP_MAX_HEAD);

    /* One byte more. */
    memset(text + pos + 8, 'y', filler + 1);
    memcpy(text + pos + 8 + filler + 1, "\r\n\r\n", 5);
    assert_int_equal(parse(text, &head), DJ_HTTP_TOO_LARGE);
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text, DJ_HTTP_MAX_HEAD - 1), DJ_HTTP_NEED_MORE);
    assert_int_equal(dj_http_head_parse(&head, text, DJ_HTTP_MAX_HEAD), DJ_HTTP_TOO_LARGE);

    /* A field line that never ends. */
    memset(text + pos, 'y', DJ_HTTP_MAX_HEAD + 16 - pos);
    dj_http_head_init(&head);
    assert_int_equal(dj_http_head_parse(&head, text, DJ_HTTP_MAX_HEAD - 1), DJ_HTTP_NEED_MORE);
    assert_int_equal(dj_http_head_parse(&head, text, DJ_HTTP_MAX_HEAD + 16), DJ_HTTP_TOO_LARGE);
    assert_string_equal(head.problem, "request head too large");
    free(text);
}

static void test_field_count_limit(void **state)
{
    char text[4096];
    size_t pos;
    int i;

    (void)state;
    pos = (size_t)snprintf(text, sizeof(text), "GET / HTTP/1.1\r\nHost: a\r\n");
    for (i = 1; i < DJ_HTTP_MAX_FIELDS; i++)
        pos += (size_t)snprintf(text + pos, sizeof(text) - pos, "X%d: 1\r\n", i);
    strcpy(text + pos, "\r\n");
    expect(text, DJ_HTTP_OK);
    strcpy(text + pos, "X: 1\r\n\r\n");
    expect(text, DJ_HTTP_TOO_LARGE);
}

static void test_result_texts(void **state)
{
    int r, i;
    const char *seen[DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING + 1];

    (void)state;
    for (r = DJ_HTTP_OK; r <= DJ_HTTP_CONTENT_LENGTH_AND_TRANSFER_ENCODING; r++) {
        seen[r] = dj_http_result_text((enum dj_http_result)r);
        assert_string_not_equal(seen[r], "unknown");
        for (i = 0; i < r; i++)
            assert_string_not_equal(seen[i], seen[r]);
        if (r >= DJ_HTTP_BAD_LINE_ENDING && r != DJ_HTTP_BAD_VERSION)
            assert_int_equal(dj_http_result_status((enum dj_http_result)r), 400);
    }
    assert_int_equal(dj_http_result_status(DJ_HTTP_OK), 0);
    assert_int_equal(dj_http_result_status(DJ_HTTP_NEED_MORE), 0);
    for (r = DJ_CHUNKED_NEED_MORE; r <= DJ_CHUNKED_TOO_LARGE; r++)
        assert_string_not_equal(dj_chunked_result_text((enum dj_chunked_result)r), "unknown");
}

/* ---- chunked bodies ----------------------------------------------------------------------- */

/* Feeds TEXT whole, one byte at a time, and split at every point: each way must end the same,
 * with the same number of bytes used. Returns the result; *USED the bytes used. */
static enum dj_chunked_result walk(const char *text, size_t len, size_t *used)
{
    struct dj_chunked c;
    enum dj_chunked_result whole, r = DJ_CHUNKED_NEED_MORE;
    size_t whole_used, total = 0, n, split;

    dj_chunked_init(&c);
    whole = dj_chunked_feed(&c, text, len, &whole_used);
    assert_int_equal(c.result, whole);

    dj_chunked_init(&c);
    for (n = 0; n < len && r == DJ_CHUNKED_NEED_MORE; n++) {
        r = dj_chunked_feed(&c, text + n, 1, used);
        total += *used;
    }
    assert_int_equal(r, whole);
    assert_int_equal(total, whole_used);

    for (split = 0; split <= len; split++) {
        size_t a = 0, b = 0;

        dj_chunked_init(&c);
        r = dj_chunked_feed(&c, text, split, &a);
        if (r == DJ_CHUNKED_NEED_MORE)
            r = dj_chunked_feed(&c, text + split, len - split, &b);
        assert_int_equal(r, whole);
        assert_int_equal(a + b, whole_used);
    }
    *used = whole_used;
    return whole;
}

static void expect_chunked(const char *text, enum dj_chunked_result expected, size_t expect_used)
{
    size_t used;
    enum dj_chunked_result r = walk(text, strlen(text), &used);

    if (r != expected || used != expect_used)
        fail_msg("got %s after %zu bytes, expected %s after %zu, for: %s",
                 dj_chunked_result_text(r), used, dj_chunked_result_text(expected), expect_used,
                 text);
}

static void test_chunked_valid(void **state)
{
    static const char *const bodies[] = {
        "0\r\n\r\n",
        "4\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\n\r\n",
        "000004\r\nWiki\r\n0000\r\n\r\n",
        "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n",
        "4;name=value\r\nWiki\r\n3;a;b=\"q s\"\r\nabc\r\n0;last\r\n\r\n",
        "4 ;x\r\nWiki\r\n4\t \t; x = y\r\nWiki\r\n0\r\n\r\n",
        "4\r\nWiki\r\n0\r\nExpires: never\r\nX-Sum:\tabc \xff\r\nX-Empty:\r\n\r\n",
        "2\r\n\r\n\r\n0\r\n\r\n", /* data that looks like CRLF */
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
        expect_chunked(bodies[i], DJ_CHUNKED_DONE, strlen(bodies[i]));
}

/* DONE stops at the end of the message: the next request's bytes are not used. */
static void test_chunked_stops_at_end(void **state)
{
    static const char text[] = "3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\n";
    struct dj_chunked c;
    size_t used;

    (void)state;
    expect_chunked(text, DJ_CHUNKED_DONE, 13);
    dj_chunked_init(&c);
    assert_int_equal(dj_chunked_feed(&c, text, strlen(text), &used), DJ_CHUNKED_DONE);
    assert_int_equal(used, 13);
    assert_int_equal(dj_chunked_feed(&c, text + used, strlen(text) - used, &used), DJ_CHUNKED_DONE);
    assert_int_equal(used, 0);
}

static void test_chunked_incomplete(void **state)
{
    (void)state;
    expect_chunked("4\r\nWiki\r\n", DJ_CHUNKED_NEED_MORE, 9);
    expect_chunked("4\r\nWi", DJ_CHUNKED_NEED_MORE, 5);
    expect_chunked("0\r\n", DJ_CHUNKED_NEED_MORE, 3);
    expect_chunked("0\r\nX: y\r\n", DJ_CHUNKED_NEED_MORE, 9);
    expect_chunked("0\r\n\r", DJ_CHUNKED_NEED_MORE, 4);
}

static void test_chunked_bad_size(void **state)
{
    (void)state;
    expect_chunked("g\r\n", DJ_CHUNKED_BAD_SIZE, 0);
    expect_chunked("\r\n", DJ_CHUNKED_BAD_SIZE, 0);
    expect_chunked("0x4\r\nWiki\r\n", DJ_CHUNKED_BAD_SIZE, 1);
    expect_chunked("-1\r\n", DJ_CHUNKED_BAD_SIZE, 0);
    expect_chunked("+1\r\n", DJ_CHUNKED_BAD_SIZE, 0);
    expect_chunked(" 1\r\n", DJ_CHUNKED_BAD_SIZE, 0);
    expect_chunked("4\r\nWiki\r\nz\r\n", DJ_CHUNKED_BAD_SIZE, 9);
    /* 2^63 - 1 is accepted as a size, 2^63 and 2^64 + 4 are not (no wrap-around to 4). */
    expect_chunked("7fffffffffffffff\r\n", DJ_CHUNKED_NEED_MORE, 18);
    expect_chunked("8000000000000000\r\n", DJ_CHUNKED_BAD_SIZE, 15);
    expect_chunked("10000000000000004\r\nWiki\r\n", DJ_CHUNKED_BAD_SIZE, 16);
    expect_chunked("ffffffffffffffffffff\r\n", DJ_CHUNKED_BAD_SIZE, 15);
}

static void test_chunked_bad_framing(void **state)
{
    (void)state;
    /* Chunk data not followed by CRLF. */
    expect_chunked("4\r\nWikiX\r\n0\r\n\r\n", DJ_CHUNKED_BAD_LINE_ENDING, 7);
    expect_chunked("4\r\nWiki\rX", DJ_CHUNKED_BAD_LINE_ENDING, 8);
    expect_chunked("4\r\nWiki\n0\r\n\r\n", DJ_CHUNKED_BAD_LINE_ENDING, 7);
    /* Bare LF or CR on the size line. */
    expect_chunked("4\nWiki\r\n", DJ_CHUNKED_BAD_LINE_ENDING, 1);
    expect_chunked("4\rWiki\r\n", DJ_CHUNKED_BAD_LINE_ENDING, 2);
    expect_chunked("4;ext\nWiki\r\n", DJ_CHUNKED_BAD_LINE_ENDING, 5);
    expect_chunked("0\r\n\n", DJ_CHUNKED_BAD_LINE_ENDING, 3);
    expect_chunked("0\r\n\rX", DJ_CHUNKED_BAD_LINE_ENDING, 4);
    /* Whitespace after the size must lead to an extension. */
    expect_chunked("4 \r\nWiki\r\n", DJ_CHUNKED_BAD_EXTENSION, 2);
    expect_chunked("4 4\r\nWiki\r\n", DJ_CHUNKED_BAD_EXTENSION, 2);
    expect_chunked("4 \t \r\nWiki\r\n", DJ_CHUNKED_BAD_EXTENSION, 4);
    expect_chunked("4;a\x01\r\nWiki\r\n", DJ_CHUNKED_BAD_EXTENSION, 3);
    expect_chunked("4;a\x7f\r\nWiki\r\n", DJ_CHUNKED_BAD_EXTENSION, 3);
}

static void test_chunked_bad_trailer(void **state)
{
    (void)state;
    expect_chunked("0\r\nX: a\r\n b\r\n\r\n", DJ_CHUNKED_BAD_TRAILER, 9);
    expect_chunked("0\r\n X: a\r\n\r\n", DJ_CHUNKED_BAD_TRAILER, 3);
    expect_chunked("0\r\nX : a\r\n\r\n", DJ_CHUNKED_BAD_TRAILER, 4);
    expect_chunked("0\r\nNoColon\r\n\r\n", DJ_CHUNKED_BAD_TRAILER, 10);
    expect_chunked("0\r\n: a\r\n\r\n", DJ_CHUNKED_BAD_TRAILER, 3);
    expect_chunked("0\r\nX: a\x01\r\n\r\n", DJ_CHUNKED_BAD_TRAILER, 7);
    expect_chunked("0\r\nX: a\nY: b\r\n\r\n", DJ_CHUNKED_BAD_LINE_ENDING, 7);
    expect_chunked("0\r\nX: a\rY: b\r\n\r\n", DJ_CHUNKED_BAD_LINE_ENDING, 8);
    expect_chunked("0\r\nX\n", DJ_CHUNKED_BAD_LINE_ENDING, 4);
    {
        struct dj_chunked c;
        size_t used;

        dj_chunked_init(&c);
        assert_int_equal(dj_chunked_feed(&c, "0\r\nX: a\r\n\tb\r\n\r\n", 15, &used),
                         DJ_CHUNKED_BAD_TRAILER);
        assert_string_equal(c.problem, "line folding in the trailer");
    }
}

static void test_chunked_limits(void **state)
{
    static char text[DJ_HTTP_MAX_TRAILER + 4096];
    size_t pos;
    int i;

    (void)state;
    /* A chunk-size line of exactly DJ_HTTP_MAX_CHUNK_LINE bytes, then one byte longer. */
    text[0] = '1';
    text[1] = ';';
    memset(text + 2, 'e', DJ_HTTP_MAX_CHUNK_LINE - 2);
    strcpy(text + DJ_HTTP_MAX_CHUNK_LINE, "\r\nx\r\n0\r\n\r\n");
    expect_chunked(text, DJ_CHUNKED_DONE, strlen(text));
    text[DJ_HTTP_MAX_CHUNK_LINE] = 'e';
    strcpy(text + DJ_HTTP_MAX_CHUNK_LINE + 1, "\r\nx\r\n0\r\n\r\n");
    expect_chunked(text, DJ_CHUNKED_TOO_LARGE, DJ_HTTP_MAX_CHUNK_LINE + 1);

    /* 100 trailer fields pass, 101 do not. */
    pos = (size_t)sprintf(text, "0\r\n");
    for (i = 0; i < DJ_HTTP_MAX_FIELDS; i++)
        pos += (size_t)sprintf(text + pos, "T%d: v\r\n", i);
    strcpy(text + pos, "\r\n");
    expect_chunked(text, DJ_CHUNKED_DONE, pos + 2);
    strcpy(text + pos, "X: v\r\n\r\n");
    expect_chunked(text, DJ_CHUNKED_TOO_LARGE, pos);

    /* A trailer section over DJ_HTTP_MAX_TRAILER bytes. */
    pos = (size_t)sprintf(text, "0\r\nX: ");
    memset(text + pos, 'v', DJ_HTTP_MAX_TRAILER);
    strcpy(text + pos + DJ_HTTP_MAX_TRAILER, "\r\n\r\n");
    expect_chunked(text, DJ_CHUNKED_TOO_LARGE, 3 + DJ_HTTP_MAX_TRAILER);
}

/* A relay that splices chunk data accounts for it with dj_chunked_skip(). */
static void test_chunked_skip(void **state)
{
    struct dj_chunked c;
    size_t used;

    (void)state;
    dj_chunked_init(&c);
    assert_int_equal(dj_chunked_data_left(&c), 0);
    assert_int_equal(dj_chunked_feed(&c, "a\r\n", 3, &used), DJ_CHUNKED_NEED_MORE);
    assert_int_equal(dj_chunked_data_left(&c), 10);
    dj_chunked_skip(&c, 4);
    assert_int_equal(dj_chunked_data_left(&c), 6);
    assert_int_equal(dj_chunked_feed(&c, "56", 2, &used), DJ_CHUNKED_NEED_MORE);
    assert_int_equal(dj_chunked_data_left(&c), 4);
    dj_chunked_skip(&c, 1000); /* cut to what is left */
    assert_int_equal(dj_chunked_data_left(&c), 0);
    /* The data must still be followed by CRLF. */
    assert_int_equal(dj_chunked_feed(&c, "\r\n0\r\n\r\n", 7, &used), DJ_CHUNKED_DONE);
    assert_int_equal(used, 7);
    assert_int_equal(dj_chunked_data_left(&c), 0);

    dj_chunked_init(&c);
    assert_int_equal(dj_chunked_feed(&c, "3\r\n", 3, &used), DJ_CHUNKED_NEED_MORE);
    dj_chunked_skip(&c, 3);
    assert_int_equal(dj_chunked_feed(&c, "xx", 2, &used), DJ_CHUNKED_BAD_LINE_ENDING);
    assert_int_equal(used, 0);
    assert_non_null(c.problem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_second_request_fields),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_result_is_sticky),
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_targets),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_leading_empty_lines),
        cmocka_unit_test(test_line_endings),
        cmocka_unit_test(test_field_syntax),
        cmocka_unit_test(test_nul_in_value),
        cmocka_unit_test(test_host_required),
        cmocka_unit_test(test_host_port_and_ipv6),
        cmocka_unit_test(test_host_refused),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_transfer_encoding),
        cmocka_unit_test(test_length_and_chunked),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_request_line_limit),
        cmocka_unit_test(test_head_limit),
        cmocka_unit_test(test_field_count_limit),
        cmocka_unit_test(test_result_texts),
        cmocka_unit_test(test_chunked_valid),
        cmocka_unit_test(test_chunked_stops_at_end),
        cmocka_unit_test(test_chunked_incomplete),
        cmocka_unit_test(test_chunked_bad_size),
        cmocka_unit_test(test_chunked_bad_framing),
        cmocka_unit_test(test_chunked_bad_trailer),
        cmocka_unit_test(test_chunked_limits),
        cmocka_unit_test(test_chunked_skip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
