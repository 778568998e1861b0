/* test-daemonconf.c: the hook-to-daemon configuration (lib/daemon/daemonconf): what the hook writes
 * reaches the daemon whole and in order through a sealed memfd, and every text the contract
 * does not allow is refused with a message that says why. */
#include "config.h"

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/daemonconf.h"

struct seen {
    enum dj_daemonconf_key keys[16];
    const char *values[16];
    size_t n;
    int fail_at; /* the setter refuses this key, or -1 */
    char *copy;  /* the text parsed, which the values point into */
};

static int record(void *ctx, enum dj_daemonconf_key key, const char *value, dj_error_t *err)
{
    struct seen *s = ctx;

    if ((int)key == s->fail_at)
        return dj_error_make(err, 0, "refused by the daemon");
    assert_true(s->n < 16);
    s->keys[s->n] = key;
    s->values[s->n] = value;
    s->n++;
    return 0;
}

/* Parses a copy of TEXT into S (seen_free releases it); returns 0 or -1, with the error's
 * message in MSG (or ""). */
static int parse_text(const char *text, struct seen *s, char *msg, size_t msg_size)
{
    dj_error_t err = NULL;
    int r;

    memset(s, 0, sizeof(*s));
    s->fail_at = -1;
    s->copy = strdup(text);
    assert_non_null(s->copy);
    r = dj_daemonconf_parse(s->copy, strlen(text), record, s, &err);
    snprintf(msg, msg_size, "%s", r < 0 ? dj_error_msg(&err) : "");
    dj_error_release(&err);
    return r;
}

static void seen_free(struct seen *s)
{
    free(s->copy);
    s->copy = NULL;
}

static void expect_refused(const char *text, const char *why)
{
    struct seen s;
    char msg[512];

    assert_int_equal(parse_text(text, &s, msg, sizeof(msg)), -1);
    seen_free(&s);
    if (strstr(msg, why) == NULL) {
        print_error("text \"%s\": message \"%s\" does not say \"%s\"\n", text, msg, why);
        fail();
    }
}

static void test_round_trip_through_memfd(void **unused)
{
    struct dj_daemonconf c;
    struct seen s = {.fail_at = -1};
    dj_error_t err = NULL;
    char *text = NULL;
    size_t len = 0;
    int fd, seals;

    (void)unused;
    dj_daemonconf_init(&c);
    dj_daemonconf_set_uint(&c, DJ_DC_LOG_RATE, 200);
    dj_daemonconf_set(&c, DJ_DC_FORWARD, "corp.example=192.0.2.53:53 lab.example=[2001:db8::1]:53");
    dj_daemonconf_flag(&c, DJ_DC_AUDIT);
    dj_daemonconf_set(&c, DJ_DC_RESOLVER, "192.0.2.1");
    dj_daemonconf_set(&c, DJ_DC_RESOLVER, "tls://192.0.2.2#dns.example");
    fd = dj_daemonconf_memfd(&c, &err);
    dj_daemonconf_free(&c);
    assert_true(fd >= 0);
    /* Sealed: neither the daemon nor anyone holding the descriptor can change it. */
    seals = fcntl(fd, F_GET_SEALS);
    assert_true(seals >= 0);
    assert_true((seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)) ==
                (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL));
    assert_int_equal(write(fd, "x", 1), -1);
    assert_int_equal(dj_daemonconf_read_fd(fd, &text, &len, &err), 0);
    close(fd);
    assert_string_equal(text, "dnsjail-daemon-config 1\n"
                              "log-rate 200\n"
                              "forward corp.example=192.0.2.53:53 lab.example=[2001:db8::1]:53\n"
                              "audit\n"
                              "resolver 192.0.2.1\n"
                              "resolver tls://192.0.2.2#dns.example\n");
    assert_int_equal(dj_daemonconf_parse(text, len, record, &s, &err), 0);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.keys[0], DJ_DC_LOG_RATE);
    assert_string_equal(s.values[0], "200");
    assert_int_equal(s.keys[1], DJ_DC_FORWARD);
    assert_string_equal(s.values[1], "corp.example=192.0.2.53:53 lab.example=[2001:db8::1]:53");
    assert_int_equal(s.keys[2], DJ_DC_AUDIT);
    assert_null(s.values[2]);
    assert_int_equal(s.keys[3], DJ_DC_RESOLVER);
    assert_string_equal(s.values[3], "192.0.2.1");
    assert_int_equal(s.keys[4], DJ_DC_RESOLVER);
    assert_string_equal(s.values[4], "tls://192.0.2.2#dns.example");
    free(text);
}

static void test_header_only(void **unused)
{
    struct seen s;
    char msg[256];

    (void)unused;
    assert_int_equal(parse_text("dnsjail-daemon-config 1\n", &s, msg, sizeof(msg)), 0);
    assert_int_equal(s.n, 0);
    seen_free(&s);
}

static void test_version_and_header_refused(void **unused)
{
    (void)unused;
    expect_refused("dnsjail-daemon-config 2\nttl 5\n", "version 2; this daemon reads version 1");
    expect_refused("dnsjail-daemon-config 0\n", "version 0");
    expect_refused("dnsjail-daemon-config\n", "does not start with");
    expect_refused("dnsjail-daemon-config 1x\n", "no version number");
    expect_refused("dnsjail-daemon-config -1\n", "no version number");
    expect_refused("dnsjail-daemon-config 99999999999999999999999\n", "no version number");
    expect_refused("ttl 5\n", "does not start with");
    expect_refused("", "does not end with a newline");
}

static void test_lines_refused(void **unused)
{
    (void)unused;
    expect_refused("dnsjail-daemon-config 1\nttl 5", "does not end with a newline");
    expect_refused("dnsjail-daemon-config 1\nttl 5\r\n", "NUL or CR");
    expect_refused("dnsjail-daemon-config 1\nno-such-key 5\n",
                   "line 2: unknown key \"no-such-key\"");
    expect_refused("dnsjail-daemon-config 1\nTTL 5\n", "unknown key \"TTL\"");
    expect_refused("dnsjail-daemon-config 1\n\n", "line 2: no key");
    expect_refused("dnsjail-daemon-config 1\n 5\n", "no key");
    expect_refused("dnsjail-daemon-config 1\naudit yes\n", "audit takes no value");
    expect_refused("dnsjail-daemon-config 1\naudit \n", "audit takes no value");
    expect_refused("dnsjail-daemon-config 1\nttl\n", "ttl needs a value");
    expect_refused("dnsjail-daemon-config 1\nttl \n", "ttl needs a value");
    expect_refused("dnsjail-daemon-config 1\nttl 5\nlog-rate 1\nttl 6\n",
                   "line 4: ttl given twice");
    expect_refused("dnsjail-daemon-config 1\naudit\naudit\n", "audit given twice");
}

static void test_nul_refused(void **unused)
{
    static const char text[] = "dnsjail-daemon-config 1\nttl 5\0\n";
    char copy[sizeof(text)];
    struct seen s = {.fail_at = -1};
    dj_error_t err = NULL;

    (void)unused;
    memcpy(copy, text, sizeof(text));
    assert_int_equal(dj_daemonconf_parse(copy, sizeof(text) - 1, record, &s, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "NUL or CR"));
    dj_error_release(&err);
}

static void test_list_keys_repeat(void **unused)
{
    struct seen s;
    char msg[256];

    (void)unused;
    assert_int_equal(parse_text("dnsjail-daemon-config 1\nupstream-allow 10.0.0.0/8\n"
                                "upstream-allow 192.0.2.0/24\nforward a.example=192.0.2.1\n"
                                "forward b.example=192.0.2.2\n",
                                &s, msg, sizeof(msg)),
                     0);
    assert_int_equal(s.n, 4);
    assert_string_equal(s.values[1], "192.0.2.0/24");
    seen_free(&s);
}

static void test_value_keeps_blanks(void **unused)
{
    struct seen s;
    char msg[256];

    (void)unused;
    assert_int_equal(parse_text("dnsjail-daemon-config 1\ncontainer-id x\n", &s, msg, sizeof(msg)),
                     -1);
    seen_free(&s);
    assert_int_equal(
        parse_text("dnsjail-daemon-config 1\nnetns-key a b  c \n", &s, msg, sizeof(msg)), 0);
    assert_string_equal(s.values[0], "a b  c ");
    seen_free(&s);
}

static void test_setter_refusal_stops(void **unused)
{
    char text[] = "dnsjail-daemon-config 1\nlog-rate 1\nttl 5\nlog-burst 2\n";
    struct seen s;
    dj_error_t err = NULL;

    (void)unused;
    memset(&s, 0, sizeof(s));
    s.fail_at = DJ_DC_TTL;
    assert_int_equal(dj_daemonconf_parse(text, strlen(text), record, &s, &err), -1);
    assert_string_equal(dj_error_msg(&err), "refused by the daemon");
    assert_int_equal(s.n, 1);
    dj_error_release(&err);
}

static void test_too_large_refused(void **unused)
{
    size_t len = DJ_DAEMONCONF_MAX_BYTES + 1;
    char *text = malloc(len + 1);
    struct seen s = {.fail_at = -1};
    dj_error_t err = NULL;

    (void)unused;
    assert_non_null(text);
    memset(text, 'a', len);
    text[len - 1] = '\n';
    text[len] = '\0';
    assert_int_equal(dj_daemonconf_parse(text, len, record, &s, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "exceeds"));
    dj_error_release(&err);
    free(text);
}

static void test_writer_refuses_what_would_break_a_line(void **unused)
{
    const char *bad[] = {"a\nttl 0", "a\rb", ""};
    dj_error_t err = NULL;

    (void)unused;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct dj_daemonconf c;

        dj_daemonconf_init(&c);
        dj_daemonconf_set(&c, DJ_DC_NETNS_KEY, bad[i]);
        assert_true(c.failed);
        assert_int_equal(dj_daemonconf_memfd(&c, &err), -1);
        dj_error_release(&err);
        dj_daemonconf_free(&c);
    }
}

static void test_writer_refuses_a_single_key_twice(void **unused)
{
    struct dj_daemonconf c;
    dj_error_t err = NULL;

    (void)unused;
    dj_daemonconf_init(&c);
    dj_daemonconf_set_uint(&c, DJ_DC_TTL, 5);
    dj_daemonconf_set_uint(&c, DJ_DC_TTL, 6);
    assert_int_equal(dj_daemonconf_memfd(&c, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "ttl given twice"));
    dj_error_release(&err);
    dj_daemonconf_free(&c);
}

static void test_key_names(void **unused)
{
    (void)unused;
    for (int k = 0; k < DJ_DC_N_KEYS; k++) {
        const char *name = dj_daemonconf_key_name((enum dj_daemonconf_key)k);

        assert_non_null(name);
        assert_true(name[0] >= 'a' && name[0] <= 'z');
        assert_null(strchr(name, ' '));
        for (int other = 0; other < k; other++)
            assert_string_not_equal(name, dj_daemonconf_key_name((enum dj_daemonconf_key)other));
    }
    assert_string_equal(dj_daemonconf_key_name(DJ_DC_N_KEYS), "?");
    assert_true(dj_daemonconf_key_is_flag(DJ_DC_AUDIT));
    assert_true(dj_daemonconf_key_is_flag(DJ_DC_ALLOW_WILDCARD_ALL));
    assert_false(dj_daemonconf_key_is_flag(DJ_DC_TTL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_through_memfd),
        cmocka_unit_test(test_header_only),
        cmocka_unit_test(test_version_and_header_refused),
        cmocka_unit_test(test_lines_refused),
        cmocka_unit_test(test_nul_refused),
        cmocka_unit_test(test_list_keys_repeat),
        cmocka_unit_test(test_value_keeps_blanks),
        cmocka_unit_test(test_setter_refusal_stops),
        cmocka_unit_test(test_too_large_refused),
        cmocka_unit_test(test_writer_refuses_what_would_break_a_line),
        cmocka_unit_test(test_writer_refuses_a_single_key_twice),
        cmocka_unit_test(test_key_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
