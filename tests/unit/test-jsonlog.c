#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <yajl/yajl_tree.h>

#include "daemon/jsonlog.h"

#define SECOND 1000000000ull
#define MS 1000000ull

/* Parses LINE (without its newline) as JSON and returns the tree; fails the test otherwise. */
static yajl_val parse_line(const char *line, size_t len)
{
    char error[256];
    char *copy;
    yajl_val tree;

    assert_true(len > 0);
    assert_int_equal(line[len - 1], '\n');
    assert_null(memchr(line, '\n', len - 1)); /* one line */
    copy = strndup(line, len - 1);
    assert_non_null(copy);
    tree = yajl_tree_parse(copy, error, sizeof(error));
    if (tree == NULL)
        fail_msg("not JSON (%s): %s", error, copy);
    free(copy);
    assert_true(YAJL_IS_OBJECT(tree));
    return tree;
}

static const char *get_string(yajl_val tree, const char *key)
{
    const char *path[] = {key, NULL};
    yajl_val v = yajl_tree_get(tree, path, yajl_t_string);

    return v != NULL ? YAJL_GET_STRING(v) : NULL;
}

static size_t one_string_line(char *buf, size_t cap, const char *value, size_t len)
{
    struct dj_json j;

    dj_json_begin(&j, buf, cap);
    dj_json_add_string(&j, "v", value, len);
    return dj_json_end(&j);
}

static void expect_escaped(const char *value, size_t len, const char *expected)
{
    char buf[512], want[600];
    size_t n = one_string_line(buf, sizeof(buf), value, len);

    snprintf(want, sizeof(want), "{\"v\":\"%s\"}\n", expected);
    assert_string_equal(buf, want);
    assert_int_equal(n, strlen(want));
    yajl_tree_free(parse_line(buf, n));
}

static void test_escaping(void **state)
{
    (void)state;
    expect_escaped("plain text", 10, "plain text");
    expect_escaped("say \"hi\" \\o/", 12, "say \\\"hi\\\" \\\\o/");
    expect_escaped("a\nb\rc\td\be\ff", 11, "a\\nb\\rc\\td\\be\\ff");
    expect_escaped("\x01\x1f\x7f", 3, "\\u0001\\u001f\\u007f");
    expect_escaped("nul\0byte", 8, "nul\\u0000byte");
    expect_escaped("", 0, "");
    /* Valid UTF-8 passes: é, €, U+1F600, U+10FFFF. */
    expect_escaped("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", 19,
                   "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf");
    /* Not UTF-8: each bad byte alone, as \u00XX. */
    expect_escaped("\xff", 1, "\\u00ff");
    expect_escaped("\x80x", 2, "\\u0080x");                                /* lone continuation */
    expect_escaped("\xc0\xaf", 2, "\\u00c0\\u00af");                       /* overlong '/' */
    expect_escaped("\xe0\x80\xaf", 3, "\\u00e0\\u0080\\u00af");            /* overlong, 3 bytes */
    expect_escaped("\xed\xa0\x80", 3, "\\u00ed\\u00a0\\u0080");            /* surrogate U+D800 */
    expect_escaped("\xf4\x90\x80\x80", 4, "\\u00f4\\u0090\\u0080\\u0080"); /* > U+10FFFF */
    expect_escaped("\xf5\x80", 2, "\\u00f5\\u0080");
    expect_escaped("ab\xe2\x82", 4, "ab\\u00e2\\u0082"); /* cut at the end */
    expect_escaped("\xc3(", 2, "\\u00c3(");              /* bad continuation */
}

static void test_fields(void **state)
{
    char buf[256];
    struct dj_json j;
    struct timespec ts = {1709164800, 123456789}; /* 2024-02-29T00:00:00.123Z */
    size_t n;

    (void)state;
    dj_json_begin(&j, buf, sizeof(buf));
    dj_json_add_time(&j, "time", &ts);
    dj_json_add_cstring(&j, "event", "dns_query");
    dj_json_add_cstring(&j, "answer", NULL);
    dj_json_add_null(&j, "x");
    dj_json_add_uint(&j, "count", 18446744073709551615ull);
    dj_json_add_bool(&j, "tc", true);
    dj_json_add_bool(&j, "f", false);
    dj_json_add_cstring(&j, "k\"ey", "v");
    n = dj_json_end(&j);
    assert_string_equal(buf, "{\"time\":\"2024-02-29T00:00:00.123Z\",\"event\":\"dns_query\","
                             "\"answer\":null,\"x\":null,\"count\":18446744073709551615,"
                             "\"tc\":true,\"f\":false,\"k\\\"ey\":\"v\"}\n");
    assert_int_equal(n, strlen(buf));
    assert_false(j.truncated);

    dj_json_begin(&j, buf, sizeof(buf));
    n = dj_json_end(&j);
    assert_string_equal(buf, "{}\n");
    assert_int_equal(n, 3);
}

static void test_time_format(void **state)
{
    static const struct {
        time_t sec;
        long nsec;
        const char *text;
    } cases[] = {
        {0, 0, "1970-01-01T00:00:00.000Z"},
        {951782400, 999999999, "2000-02-29T00:00:00.999Z"},
        {951868799, 1000000, "2000-02-29T23:59:59.001Z"},
        {4102444800, 0, "2100-01-01T00:00:00.000Z"},
        {1709164800, 500000000, "2024-02-29T00:00:00.500Z"},
        {253402300799, 0, "9999-12-31T23:59:59.000Z"},
        {253402300800 * 4, 0, "9999-12-31T23:59:59.000Z"}, /* clamped */
        {-5, 0, "1970-01-01T00:00:00.000Z"},               /* clamped */
        {86399, 2000000000, "1970-01-01T23:59:59.000Z"},   /* bad nsec ignored */
    };
    char text[DJ_TIME_TEXT_SIZE];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct timespec ts = {cases[i].sec, cases[i].nsec};

        dj_format_time(&ts, text);
        assert_string_equal(text, cases[i].text);
    }
}

static void test_truncation_bounds(void **state)
{
    char value[1500];
    char *buf;

    (void)state;
    /* A mix of plain text, escapes and multi-byte characters, cut at every possible size. */
    for (size_t i = 0; i < sizeof(value); i++)
        value[i] = "ab\"\\\x01\xc3\xa9\xff\xe2\x82\xac."[i % 12];
    for (size_t cap = DJ_JSON_MIN_SIZE; cap < 1200; cap++) {
        struct dj_json j;
        yajl_val tree;
        size_t n;

        /* Exactly CAP bytes on the heap, so ASan catches any write past the end. */
        buf = malloc(cap);
        assert_non_null(buf);
        dj_json_begin(&j, buf, cap);
        dj_json_add_cstring(&j, "event", "dns_query");
        dj_json_add_string(&j, "qname", value, sizeof(value));
        dj_json_add_uint(&j, "count", 42);
        n = dj_json_end(&j);
        assert_true(n < cap);
        assert_int_equal(buf[n], '\0');
        assert_true(j.truncated);
        tree = parse_line(buf, n);
        {
            const char *path[] = {"truncated", NULL};
            assert_true(YAJL_IS_TRUE(yajl_tree_get(tree, path, yajl_t_true)));
        }
        /* Whatever is left of the value is a prefix of what was asked for. */
        if (get_string(tree, "qname") != NULL)
            assert_true(strlen(get_string(tree, "qname")) <= sizeof(value));
        yajl_tree_free(tree);
        free(buf);
    }
}

static void test_truncation_keeps_prefix(void **state)
{
    char buf[DJ_JSON_MIN_SIZE];
    char value[100];
    yajl_val tree;
    size_t n;

    (void)state;
    memset(value, 'x', sizeof(value));
    n = one_string_line(buf, sizeof(buf), value, sizeof(value));
    assert_true(n < sizeof(buf));
    tree = parse_line(buf, n);
    /* 64 - 20 reserved - "{\"v\":\"" (6) - closing quote = 37 characters kept. */
    assert_int_equal(strlen(get_string(tree, "v")), 37);
    yajl_tree_free(tree);

    /* A field that cannot start is left out with its key; later fields too. */
    {
        struct dj_json j;

        dj_json_begin(&j, buf, sizeof(buf));
        dj_json_add_string(&j, "a_rather_long_key_that_takes_up_space", "value", 5);
        dj_json_add_string(&j, "another_long_key", "v", 1);
        dj_json_add_uint(&j, "n", 1);
        n = dj_json_end(&j);
        assert_string_equal(
            buf, "{\"a_rather_long_key_that_takes_up_space\":\"v\",\"truncated\":true}\n");
        tree = parse_line(buf, n);
        yajl_tree_free(tree);
    }
}

static void test_too_small_buffer(void **state)
{
    char buf[DJ_JSON_MIN_SIZE - 1];
    struct dj_json j;

    (void)state;
    memset(buf, 'z', sizeof(buf));
    dj_json_begin(&j, buf, sizeof(buf));
    dj_json_add_cstring(&j, "a", "b");
    assert_int_equal(dj_json_end(&j), 0);
    assert_int_equal(buf[0], '\0');
    assert_int_equal(buf[1], 'z');
}

static void test_ratelimit(void **state)
{
    struct dj_ratelimit rl;
    uint64_t t = 5 * SECOND;

    (void)state;
    dj_ratelimit_init(&rl, 10, 5, t);
    for (int i = 0; i < 5; i++)
        assert_true(dj_ratelimit_allow(&rl, t));
    assert_false(dj_ratelimit_allow(&rl, t));
    assert_false(dj_ratelimit_allow(&rl, t + 99 * MS));
    /* 10 per second: one more every 100 ms. */
    assert_true(dj_ratelimit_allow(&rl, t + 100 * MS));
    assert_false(dj_ratelimit_allow(&rl, t + 100 * MS));
    assert_int_equal(dj_ratelimit_take_suppressed(&rl), 3);
    assert_int_equal(dj_ratelimit_take_suppressed(&rl), 0);
    /* Partial tokens add up: 50 ms + 50 ms. */
    assert_false(dj_ratelimit_allow(&rl, t + 150 * MS));
    assert_true(dj_ratelimit_allow(&rl, t + 200 * MS));
    /* A long pause refills to the burst, no more. */
    t += 3600 * SECOND;
    for (int i = 0; i < 5; i++)
        assert_true(dj_ratelimit_allow(&rl, t));
    assert_false(dj_ratelimit_allow(&rl, t));
    /* Time going backwards (it cannot, but) refills nothing. */
    assert_false(dj_ratelimit_allow(&rl, t - SECOND));
    /* A pause as long as the clock allows does not overflow. */
    assert_true(dj_ratelimit_allow(&rl, UINT64_MAX));
}

static void test_ratelimit_extremes(void **state)
{
    struct dj_ratelimit rl;

    (void)state;
    dj_ratelimit_init(&rl, 0, 0, 0); /* no limit */
    for (int i = 0; i < 100000; i++)
        assert_true(dj_ratelimit_allow(&rl, 0));
    assert_int_equal(rl.suppressed, 0);

    dj_ratelimit_init(&rl, 4000000000u, 4000000000u, 0);
    assert_true(dj_ratelimit_allow(&rl, 0));
    assert_true(dj_ratelimit_allow(&rl, UINT64_MAX / 2));

    dj_ratelimit_init(&rl, 1, 0, 0); /* burst 0 means 1 */
    assert_true(dj_ratelimit_allow(&rl, 0));
    assert_false(dj_ratelimit_allow(&rl, 0));
    assert_true(dj_ratelimit_allow(&rl, SECOND));
}

/* Reads everything available from the pipe into BUF and returns the number of lines. */
static int drain(int fd, char *buf, size_t size)
{
    ssize_t n = read(fd, buf, size - 1);
    int lines = 0;

    if (n < 0)
        n = 0;
    buf[n] = '\0';
    for (ssize_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    return lines;
}

static void test_log_summary(void **state)
{
    struct dj_log log;
    char buf[4096];
    int fds[2];
    uint64_t t = 10 * SECOND;
    yajl_val tree;
    const char *count_path[] = {"count", NULL};

    (void)state;
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
    dj_log_init(&log, fds[1], 1, 1, "c0ffee", t);
    assert_true(dj_log_admit(&log, t));
    dj_log_write(&log, "{\"n\":1}\n", 8);
    for (int i = 0; i < 3; i++)
        assert_false(dj_log_admit(&log, t + (uint64_t)i * MS));
    assert_true(dj_log_summary_pending(&log));
    assert_int_equal(drain(fds[0], buf, sizeof(buf)), 1); /* no summary while suppressing */

    /* Logging resumes: the summary comes first. */
    assert_true(dj_log_admit(&log, t + SECOND));
    assert_int_equal(drain(fds[0], buf, sizeof(buf)), 1);
    tree = parse_line(buf, strlen(buf));
    assert_string_equal(get_string(tree, "event"), "log_suppressed");
    assert_string_equal(get_string(tree, "container"), "c0ffee");
    assert_non_null(get_string(tree, "time"));
    assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(tree, count_path, yajl_t_number)), 3);
    yajl_tree_free(tree);
    assert_false(dj_log_summary_pending(&log));

    /* More refused; the periodic call waits for the interval. */
    assert_false(dj_log_admit(&log, t + SECOND + 1));
    assert_false(dj_log_admit(&log, t + SECOND + 2));
    dj_log_summarize(&log, t + SECOND + 500 * MS, false);
    assert_int_equal(drain(fds[0], buf, sizeof(buf)), 0);
    dj_log_summarize(&log, t + 2 * SECOND, false);
    assert_int_equal(drain(fds[0], buf, sizeof(buf)), 1);
    tree = parse_line(buf, strlen(buf));
    assert_int_equal(YAJL_GET_INTEGER(yajl_tree_get(tree, count_path, yajl_t_number)), 2);
    yajl_tree_free(tree);

    /* Nothing pending: nothing written, even when forced. */
    dj_log_summarize(&log, t + 10 * SECOND, true);
    assert_int_equal(drain(fds[0], buf, sizeof(buf)), 0);

    /* Forced (at exit) ignores the interval. */
    assert_false(dj_log_admit(&log, t + SECOND + 3));
    dj_log_summarize(&log, t + 2 * SECOND + 2, true);
    assert_int_equal(drain(fds[0], buf, sizeof(buf)), 1);
    close(fds[0]);
    close(fds[1]);
}

static void test_log_flood_bounded(void **state)
{
    struct dj_log log;
    char buf[65536];
    int fds[2];
    int admitted = 0;
    uint64_t t = 0;

    (void)state;
    assert_int_equal(pipe2(fds, O_NONBLOCK), 0);
    dj_log_init(&log, fds[1], 200, 400, NULL, t);
    /* 5000 lines in 100 ms: the burst, plus 20 from the refill. */
    for (int i = 0; i < 5000; i++) {
        t = (uint64_t)i * 20000; /* 20 us apart */
        if (dj_log_admit(&log, t))
            admitted++;
    }
    assert_int_equal(admitted, 400 + 19);
    dj_log_summarize(&log, t + SECOND, false);
    /* One summary when logging resumed after the burst (the interval allowed it), one from the
     * periodic call; together they count every refused line. */
    assert_int_equal(drain(fds[0], buf, sizeof(buf)), 2);
    {
        const char *count_path[] = {"count", NULL};
        char *second = strchr(buf, '\n') + 1;
        yajl_val first_tree = parse_line(buf, (size_t)(second - buf));
        yajl_val second_tree = parse_line(second, strlen(second));
        long long first_count =
            YAJL_GET_INTEGER(yajl_tree_get(first_tree, count_path, yajl_t_number));
        long long second_count =
            YAJL_GET_INTEGER(yajl_tree_get(second_tree, count_path, yajl_t_number));

        /* Steps 0-400 use the burst and what trickled in meanwhile; 401-499 are refused;
         * step 500 has the next token. */
        assert_int_equal(first_count, 99);
        assert_int_equal(first_count + second_count, 5000 - 419);
        assert_null(get_string(first_tree, "container"));
        yajl_tree_free(first_tree);
        yajl_tree_free(second_tree);
    }
    assert_false(dj_log_summary_pending(&log));
    close(fds[0]);
    close(fds[1]);
}

static void test_log_off(void **state)
{
    struct dj_log log;

    (void)state;
    dj_log_init(&log, -1, 1, 1, NULL, 0);
    for (int i = 0; i < 10; i++)
        assert_false(dj_log_admit(&log, 0));
    assert_false(dj_log_summary_pending(&log));
    dj_log_write(&log, "x\n", 2);
    dj_log_summarize(&log, 0, true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_truncation_bounds),
        cmocka_unit_test(test_truncation_keeps_prefix),
        cmocka_unit_test(test_too_small_buffer),
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_ratelimit_extremes),
        cmocka_unit_test(test_log_summary),
        cmocka_unit_test(test_log_flood_bounded),
        cmocka_unit_test(test_log_off),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
