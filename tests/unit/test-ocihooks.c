/* test-ocihooks.c: dnsjail-runtime's edit of a bundle's config.json (lib/jail/ocihooks): the
 * hooks are added after the engine's own and nothing else changes; a config.json that already
 * runs dnsjail-hook is left alone; and every document the edit does not understand is refused
 * with a message that says why, so that no container starts unjailed. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "jail/ocihooks.h"

static const struct dj_ocihooks_spec spec = {
    .hook_path = "/usr/libexec/dnsjail/dnsjail-hook",
    .config_path = NULL,
    .start_stage = "prestart",
    .timeout_s = 10,
};

#define OURS(stage)                                                                                \
    "{\"path\":\"/usr/libexec/dnsjail/dnsjail-hook\",\"args\":[\"dnsjail-hook\",\"" stage          \
    "\"],\"timeout\":10}"

static void expect_edit(const struct dj_ocihooks_spec *s, const char *in, const char *want)
{
    char *out = NULL;
    size_t len = 0;
    dj_error_t err = NULL;
    int r = dj_ocihooks_add(in, strlen(in), s, &out, &len, &err);

    if (r < 0)
        fail_msg("refused: %s", dj_error_msg(&err));
    assert_int_equal(r, DJ_OCIHOOKS_ADDED);
    assert_string_equal(out, want);
    assert_int_equal(len, strlen(want));
    free(out);
}

static void expect_refused(const char *in, size_t len, const char *message_part)
{
    char *out = (char *)1;
    size_t out_len = 1;
    dj_error_t err = NULL;

    assert_int_equal(dj_ocihooks_add(in, len, &spec, &out, &out_len, &err), -1);
    assert_null(out);
    if (strstr(dj_error_msg(&err), message_part) == NULL)
        fail_msg("message \"%s\" lacks \"%s\"", dj_error_msg(&err), message_part);
    assert_null(strchr(dj_error_msg(&err), '\n'));
    dj_error_release(&err);
}

static void test_no_hooks_gets_both_stages(void **state)
{
    (void)state;
    expect_edit(&spec, "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]}}",
                "{\"ociVersion\":\"1.0.2\",\"process\":{\"args\":[\"sh\"]},\"hooks\":{"
                "\"prestart\":[" OURS("prestart") "],\"poststop\":[" OURS("poststop") "]}}");
}

/* Docker puts its network set-up at prestart: ours must run after it, and everything the
 * engine wrote comes out as written (number spellings, order, escapes). */
static void test_appended_after_the_engines_hooks(void **state)
{
    (void)state;
    expect_edit(&spec,
                "{\"a\":1.50e3,\"hooks\":{\"prestart\":[{\"path\":\"/proc/1/exe\",\"args\":["
                "\"libnetwork-setkey\"]}],\"poststop\":[]},\"z\":[true,false,null,-0,"
                "\"\\u00e9\\n\"]}",
                "{\"a\":1.50e3,\"hooks\":{\"prestart\":[{\"path\":\"/proc/1/exe\",\"args\":["
                "\"libnetwork-setkey\"]}," OURS("prestart") "],\"poststop\":[" OURS(
                    "poststop") "]},\"z\":[true,false,null,-0,\"\xc3\xa9\\n\"]}");
}

static void test_missing_stage_added(void **state)
{
    (void)state;
    expect_edit(
        &spec, "{\"hooks\":{\"poststop\":[],\"createContainer\":[]}}",
        "{\"hooks\":{\"poststop\":[" OURS("poststop") "],\"createContainer\":[],"
                                                      "\"prestart\":[" OURS("prestart") "]}}");
}

static void test_null_counts_as_missing(void **state)
{
    (void)state;
    expect_edit(
        &spec, "{\"hooks\":null}",
        "{\"hooks\":{\"prestart\":[" OURS("prestart") "],\"poststop\":[" OURS("poststop") "]}}");
    expect_edit(
        &spec, "{\"hooks\":{\"prestart\":null}}",
        "{\"hooks\":{\"prestart\":[" OURS("prestart") "],\"poststop\":[" OURS("poststop") "]}}");
}

static void test_config_and_stage_reach_the_hook(void **state)
{
    struct dj_ocihooks_spec s = spec;

    (void)state;
    s.config_path = "/etc/dnsjail/web.conf";
    s.start_stage = "createRuntime";
    s.timeout_s = 5;
    expect_edit(&s, "{}",
                "{\"hooks\":{\"createRuntime\":[{\"path\":\"/usr/libexec/dnsjail/dnsjail-hook\","
                "\"args\":[\"dnsjail-hook\",\"--config\",\"/etc/dnsjail/web.conf\","
                "\"createRuntime\"],\"timeout\":5}],\"poststop\":[{\"path\":\"/usr/libexec/"
                "dnsjail/dnsjail-hook\",\"args\":[\"dnsjail-hook\",\"--config\",\"/etc/dnsjail/"
                "web.conf\",\"poststop\"],\"timeout\":5}]}}");
    s.config_path = NULL;
    s.profile = "web";
    s.start_stage = "prestart";
    expect_edit(&s, "{}",
                "{\"hooks\":{\"prestart\":[{\"path\":\"/usr/libexec/dnsjail/dnsjail-hook\","
                "\"args\":[\"dnsjail-hook\",\"--profile\",\"web\",\"prestart\"],\"timeout\":5}],"
                "\"poststop\":[{\"path\":\"/usr/libexec/dnsjail/dnsjail-hook\",\"args\":["
                "\"dnsjail-hook\",\"--profile\",\"web\",\"poststop\"],\"timeout\":5}]}}");
}

/* hooks.d (podman, CRI-O) or a second wrapper put it there already: hooks are never added
 * twice, whatever the stage or the directory. */
static void test_already_jailed_left_alone(void **state)
{
    static const char *const docs[] = {
        "{\"hooks\":{\"prestart\":[" OURS("prestart") "]}}",
        "{\"hooks\":{\"createRuntime\":[{\"path\":\"/opt/dj/dnsjail-hook\"}]}}",
        "{\"hooks\":{\"poststop\":[{\"args\":[],\"path\":\"/x/dnsjail-hook\"}]}}",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        char *out = (char *)1;
        size_t len;
        dj_error_t err = NULL;

        assert_int_equal(dj_ocihooks_add(docs[i], strlen(docs[i]), &spec, &out, &len, &err),
                         DJ_OCIHOOKS_ALREADY);
        assert_null(out);
    }
}

/* A hook named like ours elsewhere (not a hook's path) does not count. */
static void test_name_elsewhere_is_not_a_hook(void **state)
{
    (void)state;
    expect_edit(&spec, "{\"path\":\"/usr/libexec/dnsjail/dnsjail-hook\"}",
                "{\"path\":\"/usr/libexec/dnsjail/dnsjail-hook\",\"hooks\":{\"prestart\":[" OURS(
                    "prestart") "],\"poststop\":[" OURS("poststop") "]}}");
}

/* drop-cap-net-raw: Docker grants CAP_NET_RAW to every container; it leaves every set, with
 * or without our hooks, and nothing else does. */
static void test_drop_cap_net_raw(void **state)
{
    struct dj_ocihooks_spec s = spec;
    static const char caps[] = "{\"process\":{\"args\":[\"CAP_NET_RAW\"],\"capabilities\":{"
                               "\"bounding\":[\"CAP_CHOWN\",\"CAP_NET_RAW\"],\"effective\":["
                               "\"CAP_NET_RAW\"],\"ambient\":null}}}";
    static const char hooked[] = "{\"hooks\":{\"prestart\":[" OURS(
        "prestart") "]},\"process\":{\"capabilities\":{\"permitted\":[\"CAP_NET_RAW\"]}}}";
    static const char hooked_only[] = "{\"hooks\":{\"poststop\":[" OURS("poststop") "]}}";
    char *out = NULL;
    size_t len;
    dj_error_t err = NULL;

    (void)state;
    s.drop_cap_net_raw = true;
    expect_edit(&s, caps,
                "{\"process\":{\"args\":[\"CAP_NET_RAW\"],\"capabilities\":{\"bounding\":["
                "\"CAP_CHOWN\"],\"effective\":[],\"ambient\":null}},\"hooks\":{\"prestart\":[" OURS(
                    "prestart") "],\"poststop\":[" OURS("poststop") "]}}");
    /* Without the key the sets are as they were. */
    expect_edit(&spec, caps,
                "{\"process\":{\"args\":[\"CAP_NET_RAW\"],\"capabilities\":{\"bounding\":["
                "\"CAP_CHOWN\",\"CAP_NET_RAW\"],\"effective\":[\"CAP_NET_RAW\"],\"ambient\":"
                "null}},\"hooks\":{\"prestart\":[" OURS("prestart") "],\"poststop\":[" OURS(
                    "poststop") "]}}");
    /* Hooked already (hooks.d): the capability still goes, no hook is added. */
    assert_int_equal(dj_ocihooks_add(hooked, strlen(hooked), &s, &out, &len, &err),
                     DJ_OCIHOOKS_ALREADY);
    assert_non_null(out);
    assert_string_equal(out,
                        "{\"hooks\":{\"prestart\":[" OURS(
                            "prestart") "]},\"process\":{\"capabilities\":{\"permitted\":[]}}}");
    free(out);
    /* ... and with nothing to drop nothing is written. */
    assert_int_equal(dj_ocihooks_add(hooked_only, strlen(hooked_only), &s, &out, &len, &err),
                     DJ_OCIHOOKS_ALREADY);
    assert_null(out);
}

static void test_refusals(void **state)
{
    char deep[2 * DJ_OCIHOOKS_MAX_DEPTH + 8];
    size_t n = 0;

    (void)state;
    expect_refused("[]", 2, "not a JSON object");
    expect_refused("\"x\"", 3, "not a JSON object");
    expect_refused("7", 1, "not a JSON object");
    expect_refused("", 0, "not valid JSON");
    expect_refused("{\"a\":1", 6, "not valid JSON");
    expect_refused("{} {}", 5, "not valid JSON");
    expect_refused("{\"a\":\"\xff\"}", 8, "not valid JSON");
    expect_refused("{\"a\":1} // c", 12, "not valid JSON");
    expect_refused("{\"hooks\":[]}", 12, "\"hooks\" is not an object");
    expect_refused("{\"hooks\":\"x\"}", 13, "\"hooks\" is not an object");
    expect_refused("{\"hooks\":{},\"hooks\":{}}", 23, "there twice");
    expect_refused("{\"hooks\":{\"prestart\":{}}}", 25, "stage is not an array");
    expect_refused("{\"hooks\":{\"poststop\":7}}", 24, "stage is not an array");
    expect_refused("{\"hooks\":{\"poststop\":[],\"poststop\":[]}}", 39, "there twice");
    expect_refused("{\"hooks\":{\"poststop\":[\"x\"]}}", 28, "hook is not an object");
    expect_refused("{\"hooks\":{\"poststart\":[[]]}}", 28, "hook is not an object");
    expect_refused("{\"process\":{},\"process\":{}}", 27, "\"process\" is there twice");
    expect_refused("{\"process\":[]}", 14, "\"process\" is not an object");
    expect_refused("{\"process\":{\"capabilities\":7}}", 31, "\"capabilities\" is not an object");
    expect_refused("{\"process\":{\"capabilities\":{\"bounding\":{}}}}", 44,
                   "capability set is not an array");
    expect_refused("{\"process\":{\"capabilities\":{\"bounding\":[[]]}}}", 45,
                   "holds something else than names");
    deep[n++] = '{';
    deep[n++] = '"';
    deep[n++] = 'a';
    deep[n++] = '"';
    deep[n++] = ':';
    while (n < DJ_OCIHOOKS_MAX_DEPTH + 5)
        deep[n++] = '[';
    expect_refused(deep, n, "nested too deep");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_hooks_gets_both_stages),
        cmocka_unit_test(test_appended_after_the_engines_hooks),
        cmocka_unit_test(test_missing_stage_added),
        cmocka_unit_test(test_null_counts_as_missing),
        cmocka_unit_test(test_config_and_stage_reach_the_hook),
        cmocka_unit_test(test_already_jailed_left_alone),
        cmocka_unit_test(test_name_elsewhere_is_not_a_hook),
        cmocka_unit_test(test_drop_cap_net_raw),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
