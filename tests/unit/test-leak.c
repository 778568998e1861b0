#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "report/leak.h"

static const char *parse(const char *line, struct dj_leak_line *out)
{
    return dj_leak_parse_line(line, strlen(line), out);
}

static void test_token(void **state)
{
    (void)state;
    uint8_t rnd[DJ_LEAK_TOKEN_RANDOM] = {0, 1, 2, 25, 26, 31, 32, 255, 7, 8, 9, 10};
    char token[DJ_LEAK_TOKEN_LEN + 1];
    assert_true(dj_leak_token_make(rnd, 7, token));
    assert_string_equal(token, "ltabcz27a7hijkc07");
    assert_true(dj_leak_token_valid(token, strlen(token)));
    assert_false(dj_leak_token_make(rnd, 100, token));
    assert_false(dj_leak_token_valid("ltabcz27a7hijkc7", 16));
    assert_false(dj_leak_token_valid("ltabcz18a7hijkc07", 17)); /* 1 and 8 are not base32 */
    assert_false(dj_leak_token_valid("LTabcz27a7hijkc07", 17));
}

static void test_lines(void **state)
{
    (void)state;
    struct dj_leak_line l;
    assert_null(
        parse("dns-udp-a   pending  token=ltabcz27a7hijkc07 (udp to 192.0.2.1: OK 6.6.6.6)\n", &l));
    assert_false(l.is_comment);
    assert_string_equal(l.channel, "dns-udp-a");
    assert_int_equal(l.verdict, DJ_LEAK_PENDING);
    assert_true(l.has_token);
    assert_string_equal(l.token, "ltabcz27a7hijkc07");
    assert_string_equal(l.detail, "udp to 192.0.2.1: OK 6.6.6.6");

    assert_null(parse("af-packet not-testable (no CAP_NET_RAW)", &l));
    assert_int_equal(l.verdict, DJ_LEAK_NOT_TESTABLE);
    assert_false(l.has_token);
    assert_null(parse("# run abc", &l));
    assert_true(l.is_comment);
    assert_null(parse("", &l));
    assert_true(l.is_comment);

    assert_non_null(parse("dns-udp-a maybe token=ltabcz27a7hijkc07", &l));
    assert_non_null(parse("DNS blocked", &l));
    assert_non_null(parse("dns blocked token=lt00", &l));
    assert_non_null(parse("dns blocked token=ltabcz27a7hijkc07 trailing", &l));
    assert_non_null(dj_leak_parse_line("dns\0 blocked", 12, &l));
    char long_channel[64];
    memset(long_channel, 'a', sizeof(long_channel));
    memcpy(long_channel + 40, " blocked", 9);
    assert_non_null(parse(long_channel, &l));
}

static void test_escape_and_find(void **state)
{
    (void)state;
    const uint8_t data[] = "GET /LTABCZ27A7HIJKC07 \\\x01";
    char out[128];
    size_t done = dj_leak_escape(data, sizeof(data) - 1, out, sizeof(out));
    assert_int_equal(done, sizeof(data) - 1);
    assert_string_equal(out, "GET\\x20/LTABCZ27A7HIJKC07\\x20\\x5c\\x01");
    assert_true(dj_leak_text_has_token(out, strlen(out), "ltabcz27a7hijkc07"));
    assert_false(dj_leak_text_has_token(out, strlen(out), "ltabcz27a7hijkc08"));
    /* A cut never splits an escape and always terminates. */
    char small[6];
    done = dj_leak_escape((const uint8_t *)"ab\x01", 3, small, sizeof(small));
    assert_int_equal(done, 2);
    assert_string_equal(small, "ab");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_escape_and_find),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
