/* test-oci.c: the OCI state and config.json parsers, with well-formed runtime output and
 * with hostile input. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/capability.h>

#include "jail/oci.h"

/* Built with AddressSanitizer (scripts/test.sh's second tree)? */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Parses S as a state and expects an error whose message contains WANT (and no newline). */
static void state_fails(const char *s, const char *want)
{
    struct oci_state st;
    dj_error_t err = NULL;

    if (oci_state_parse(s, strlen(s), &st, &err) == 0) {
        print_error("accepted: %s\n", s);
        oci_state_free(&st);
        fail();
    }
    if (strstr(dj_error_msg(&err), want) == NULL) {
        print_error("message \"%s\" lacks \"%s\"\n", dj_error_msg(&err), want);
        fail();
    }
    assert_null(strchr(dj_error_msg(&err), '\n'));
    assert_null(st.id);
    assert_null(st.annotations);
    dj_error_release(&err);
}

static void bundle_fails(const char *s, const char *want)
{
    struct oci_bundle b;
    dj_error_t err = NULL;

    if (oci_bundle_parse(s, strlen(s), &b, &err) == 0) {
        print_error("accepted: %s\n", s);
        oci_bundle_free(&b);
        fail();
    }
    if (strstr(dj_error_msg(&err), want) == NULL) {
        print_error("message \"%s\" lacks \"%s\"\n", dj_error_msg(&err), want);
        fail();
    }
    assert_null(strchr(dj_error_msg(&err), '\n'));
    assert_null(b.annotations);
    assert_null(b.netns_path);
    dj_error_release(&err);
}

static void parse_state_ok(const char *s, struct oci_state *st)
{
    dj_error_t err = NULL;

    if (oci_state_parse(s, strlen(s), st, &err) < 0) {
        print_error("refused: %s\n", dj_error_msg(&err));
        fail();
    }
}

static void parse_bundle_ok(const char *s, struct oci_bundle *b)
{
    dj_error_t err = NULL;

    if (oci_bundle_parse(s, strlen(s), b, &err) < 0) {
        print_error("refused: %s\n", dj_error_msg(&err));
        fail();
    }
}

/* ---- state ----------------------------------------------------------------------------- */

static void test_state_runc(void **unused)
{
    /* What runc 1.1 writes on a prestart hook's stdin. */
    const char *s = "{\"ociVersion\":\"1.0.2-dev\",\"id\":\"c1\",\"status\":\"creating\","
                    "\"pid\":4242,\"bundle\":\"/run/bundles/c1\","
                    "\"annotations\":{\"io.dnsjail.enable\":\"true\","
                    "\"io.dnsjail.allow\":\"example.com\"}}";
    struct oci_state st;

    (void)unused;
    parse_state_ok(s, &st);
    assert_string_equal(st.oci_version, "1.0.2-dev");
    assert_string_equal(st.id, "c1");
    assert_string_equal(st.status, "creating");
    assert_int_equal(st.pid, 4242);
    assert_string_equal(st.bundle, "/run/bundles/c1");
    assert_true(st.have_annotations);
    assert_int_equal(st.n_annotations, 2);
    assert_string_equal(st.annotations[0].key, "io.dnsjail.enable");
    assert_string_equal(st.annotations[0].value, "true");
    assert_string_equal(st.annotations[1].key, "io.dnsjail.allow");
    assert_string_equal(st.annotations[1].value, "example.com");
    oci_state_free(&st);
    assert_null(st.id);
}

static void test_state_crun(void **unused)
{
    /* crun at poststop: no pid, no annotations, extra whitespace. */
    const char *s = "{\n  \"ociVersion\": \"1.0.0\",\n  \"id\": \"abc-1\",\n  \"status\": "
                    "\"stopped\",\n  \"bundle\": \"/var/lib/b\"\n}\n";
    struct oci_state st;

    (void)unused;
    parse_state_ok(s, &st);
    assert_int_equal(st.pid, 0);
    assert_false(st.have_annotations);
    assert_int_equal(st.n_annotations, 0);
    assert_null(st.annotations);
    assert_string_equal(st.status, "stopped");
    oci_state_free(&st);
}

static void test_state_optional_fields(void **unused)
{
    struct oci_state st;

    (void)unused;
    parse_state_ok("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{},\"future\":[1,{\"a\":2}]}",
                   &st);
    assert_null(st.oci_version);
    assert_null(st.status);
    assert_true(st.have_annotations);
    assert_int_equal(st.n_annotations, 0);
    oci_state_free(&st);

    /* null is "not given", as Go reads it. */
    parse_state_ok("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":null,\"pid\":null}", &st);
    assert_false(st.have_annotations);
    assert_int_equal(st.pid, 0);
    oci_state_free(&st);

    parse_state_ok("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":4194304}", &st);
    assert_int_equal(st.pid, 4194304);
    oci_state_free(&st);
    parse_state_ok("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":-0}", &st);
    assert_int_equal(st.pid, 0);
    oci_state_free(&st);
}

static void test_state_required(void **unused)
{
    (void)unused;
    state_fails("{\"bundle\":\"/b\"}", "field 'id' is missing");
    state_fails("{\"id\":\"x\"}", "field 'bundle' is missing");
    state_fails("{\"id\":null,\"bundle\":\"/b\"}", "field 'id' is missing");
    state_fails("{\"id\":7,\"bundle\":\"/b\"}", "field 'id' must be a string");
    state_fails("{\"id\":\"x\",\"bundle\":[\"/b\"]}", "field 'bundle' must be a string");
    state_fails("{\"id\":\"x\",\"bundle\":\"b/rel\"}", "field 'bundle' must be an absolute path");
    state_fails("{\"id\":\"x\",\"bundle\":\"\"}", "field 'bundle' must be an absolute path");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"status\":1}", "field 'status' must be a string");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"ociVersion\":{}}",
                "field 'ociVersion' must be a string");
}

static void test_state_pid(void **unused)
{
    (void)unused;
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":-1}", "field 'pid' is negative (-1)");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":4194305}", "field 'pid' is out of range");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":99999999999999999999999999999}",
                "field 'pid' is out of range");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":-99999999999999999999999999999}",
                "field 'pid' is negative");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":1.5}", "field 'pid' must be an integer");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":1e3}", "field 'pid' must be an integer");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":\"12\"}",
                "field 'pid' must be an integer");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"pid\":true}", "field 'pid' must be an integer");
}

static void test_state_annotations(void **unused)
{
    (void)unused;
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{\"a\":1}}",
                "annotation 'a' must be a string");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{\"a\":null}}",
                "annotation 'a' must be a string");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{\"a\":{\"b\":\"c\"}}}",
                "annotation 'a' must be a string");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":[\"a\"]}",
                "field 'annotations' must be an object of strings");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":\"a=b\"}",
                "field 'annotations' must be an object of strings");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{\"\":\"v\"}}",
                "annotation with an empty key");
    /* A repeated key: Go keeps the last value, so the first must not be trusted. */
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{\"io.dnsjail.enable\":\"true\","
                "\"z\":\"1\",\"io.dnsjail.enable\":\"false\"}}",
                "annotation 'io.dnsjail.enable' is given twice");
    /* Control characters in a key are escaped in the message. */
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{\"a\\nb\":1}}",
                "annotation 'a\\x0ab' must be a string");
}

static void test_state_duplicate_fields(void **unused)
{
    (void)unused;
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"id\":\"y\"}", "field 'id' is given twice");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{},\"annotations\":{}}",
                "field 'annotations' is given twice");
    /* runc's Go decoder matches keys case-insensitively; crun does not. */
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"ID\":\"y\"}",
                "field 'ID' differs from 'id' only in case");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"Annotations\":{\"a\":\"b\"}}",
                "field 'Annotations' differs from 'annotations' only in case");
    /* U+017F LATIN SMALL LETTER LONG S folds to 's' in Go. */
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\",\"annotation\xc5\xbf\":{\"a\":\"b\"}}",
                "differs from 'annotations' only in case");
}

static void test_state_bad_json(void **unused)
{
    struct oci_state st;
    dj_error_t err = NULL;

    (void)unused;
    state_fails("", "invalid JSON");
    state_fails("{", "invalid JSON");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\"", "invalid JSON");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\"} trailing", "invalid JSON");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\"}{}", "invalid JSON");
    state_fails("{\"id\":'x',\"bundle\":\"/b\"}", "invalid JSON");
    state_fails("[{\"id\":\"x\",\"bundle\":\"/b\"}]", "the top level is not a JSON object");
    state_fails("\"id\"", "the top level is not a JSON object");
    state_fails("42", "the top level is not a JSON object");
    state_fails("{\"id\":\"x\",/* c */\"bundle\":\"/b\"}", "comments are not allowed");
    state_fails("{\"id\":\"x\",\"bundle\":\"/b\"}// c", "comments are not allowed");
    state_fails("{\"id\":\"x\\u0000y\",\"bundle\":\"/b\"}", "\\u0000 in a string");
    state_fails("{\"id\":\"\xff\",\"bundle\":\"/b\"}", "invalid JSON");
    /* A '/' and a \u0000-like text inside strings are fine. */
    parse_state_ok("{\"id\":\"x\",\"bundle\":\"/b//c\",\"ociVersion\":\"\\\\u0000\"}", &st);
    assert_string_equal(st.bundle, "/b//c");
    assert_string_equal(st.oci_version, "\\u0000");
    oci_state_free(&st);

    /* A NUL byte would end yajl's C string early and hide what follows. */
    assert_int_equal(oci_state_parse("{\"id\":\"x\",\"bundle\":\"/b\"}\0garbage", 32, &st, &err),
                     -1);
    assert_non_null(strstr(dj_error_msg(&err), "NUL byte at offset 24"));
    dj_error_release(&err);

    assert_int_equal(oci_state_parse(NULL, 0, &st, &err), -1);
    dj_error_release(&err);
}

static char *repeat(const char *head, char c, size_t n, const char *tail)
{
    size_t hl = strlen(head), tl = strlen(tail);
    char *s = malloc(hl + n + tl + 1);

    assert_non_null(s);
    memcpy(s, head, hl);
    memset(s + hl, c, n);
    memcpy(s + hl + n, tail, tl + 1);
    return s;
}

static void test_state_deep_nesting(void **unused)
{
    struct oci_state st;
    char *s, *closing;

    (void)unused;
    /* 100000 unclosed '[': refused before yajl builds anything. */
    s = repeat("", '[', 100000, "");
    state_fails(s, "nested deeper than 64 levels");
    free(s);

    /* 100000 closed: a tree yajl_tree_free() would recurse through. */
    closing = repeat("", ']', 100000, "}");
    s = repeat("{\"id\":\"x\",\"bundle\":\"/b\",\"deep\":", '[', 100000, closing);
    state_fails(s, "nested deeper than 64 levels");
    free(s);
    free(closing);

    /* Brackets inside strings do not count. */
    closing = repeat("", '{', 1000, "\"}");
    s = repeat("{\"id\":\"x\",\"bundle\":\"/b\",\"s\":\"", '[', 1000, closing);
    parse_state_ok(s, &st);
    oci_state_free(&st);
    free(s);
    free(closing);

    /* 64 levels in all (the top object and 63 arrays) are fine, 65 are not. */
    closing = repeat("", ']', 63, "}");
    s = repeat("{\"id\":\"x\",\"bundle\":\"/b\",\"d\":", '[', 63, closing);
    parse_state_ok(s, &st);
    oci_state_free(&st);
    free(s);
    free(closing);
    closing = repeat("", ']', 64, "}");
    s = repeat("{\"id\":\"x\",\"bundle\":\"/b\",\"d\":", '[', 64, closing);
    state_fails(s, "nested deeper than 64 levels");
    free(s);
    free(closing);
}

static void test_state_size_limit(void **unused)
{
    struct oci_state st;
    dj_error_t err = NULL;
    char *s;
    size_t len;

    (void)unused;
    /* Exactly the limit parses; one byte more does not. */
    s = repeat("{\"id\":\"x\",\"bundle\":\"/b\",\"pad\":\"", 'a', OCI_STATE_MAX_BYTES, "\"}");
    len = OCI_STATE_MAX_BYTES;
    memcpy(s + len - 2, "\"}", 2);
    assert_int_equal(oci_state_parse(s, len, &st, &err), 0);
    oci_state_free(&st);
    assert_int_equal(oci_state_parse(s, len + 1, &st, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "more than the limit of 1048576"));
    dj_error_release(&err);
    free(s);
}

static void test_state_many_annotations(void **unused)
{
    /* 50000 distinct keys: the duplicate check must not be quadratic (the test times out if
     * it is), and a repeat at the very end is still found. Under AddressSanitizer 5000: yajl's
     * tree grows an object's arrays one element at a time, and ASan's realloc always copies,
     * which makes the parse itself quadratic (minutes); the plain build times the check. */
    size_t n = UNDER_ASAN ? 5000 : 50000, cap = n * 24 + 100, len = 0;
    char *s = malloc(cap);
    char last[32];
    struct oci_state st;
    dj_error_t err = NULL;

    (void)unused;
    assert_non_null(s);
    len += (size_t)sprintf(s + len, "{\"id\":\"x\",\"bundle\":\"/b\",\"annotations\":{");
    for (size_t i = 0; i < n; i++)
        len += (size_t)sprintf(s + len, "%s\"k%zu\":\"v\"", i ? "," : "", i);
    strcpy(s + len, "}}");
    parse_state_ok(s, &st);
    assert_int_equal(st.n_annotations, n);
    snprintf(last, sizeof(last), "k%zu", n - 1);
    assert_string_equal(st.annotations[n - 1].key, last);
    oci_state_free(&st);

    len += (size_t)sprintf(s + len, ",\"k123\":\"w\"}}");
    assert_int_equal(oci_state_parse(s, len, &st, &err), -1);
    assert_string_equal(dj_error_msg(&err), "annotation 'k123' is given twice");
    dj_error_release(&err);
    free(s);
}

/* ---- config.json ------------------------------------------------------------------------ */

/* Trimmed from `runc spec` and podman output. */
static const char *realistic_config =
    "{\n"
    "  \"ociVersion\": \"1.0.2-dev\",\n"
    "  \"process\": {\n"
    "    \"terminal\": false,\n"
    "    \"user\": {\"uid\": 0, \"gid\": 0},\n"
    "    \"args\": [\"sh\"],\n"
    "    \"env\": [\"PATH=/usr/bin:/bin\"],\n"
    "    \"cwd\": \"/\",\n"
    "    \"capabilities\": {\n"
    "      \"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "      \"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\"],\n"
    "      \"inheritable\": [],\n"
    "      \"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
    "      \"ambient\": [\"CAP_CHECKPOINT_RESTORE\"]\n"
    "    },\n"
    "    \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
    "    \"noNewPrivileges\": true\n"
    "  },\n"
    "  \"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
    "  \"hostname\": \"runc\",\n"
    "  \"mounts\": [{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"}],\n"
    "  \"annotations\": {\"io.dnsjail.enable\": \"true\", \"org.example\": \"x\"},\n"
    "  \"linux\": {\n"
    "    \"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},\n"
    "    \"namespaces\": [\n"
    "      {\"type\": \"pid\"},\n"
    "      {\"type\": \"network\", \"path\": \"/run/netns/jail1\"},\n"
    "      {\"type\": \"ipc\"},\n"
    "      {\"type\": \"uts\"},\n"
    "      {\"type\": \"mount\"}\n"
    "    ],\n"
    "    \"maskedPaths\": [\"/proc/kcore\"]\n"
    "  }\n"
    "}\n";

static void test_bundle_realistic(void **unused)
{
    struct oci_bundle b;

    (void)unused;
    parse_bundle_ok(realistic_config, &b);
    assert_int_equal(b.n_annotations, 2);
    assert_string_equal(b.annotations[0].key, "io.dnsjail.enable");
    assert_string_equal(b.annotations[1].value, "x");
    assert_true(b.have_netns);
    assert_string_equal(b.netns_path, "/run/netns/jail1");
    assert_true(b.caps_any ==
                ((UINT64_C(1) << CAP_AUDIT_WRITE) | (UINT64_C(1) << CAP_KILL) |
                 (UINT64_C(1) << CAP_NET_BIND_SERVICE) | (UINT64_C(1) << CAP_CHECKPOINT_RESTORE)));
    assert_false(b.caps_any & (UINT64_C(1) << CAP_NET_ADMIN));
    oci_bundle_free(&b);
    assert_null(b.netns_path);
}

/* The container's resolv.conf, the forward zones' default upstream: the last mount onto
 * /etc/resolv.conf (podman, CRI-O), else the root filesystem's file. */
static void test_bundle_resolv_conf(void **unused)
{
    struct oci_bundle b;
    dj_error_t err = NULL;
    static const char bad[] = "{\"mounts\":[\"/etc/resolv.conf\"]}";

    (void)unused;
    parse_bundle_ok("{\"root\":{\"path\":\"rootfs\"}}", &b);
    assert_string_equal(b.root_path, "rootfs");
    assert_null(b.resolv_conf_source);
    oci_bundle_free(&b);
    parse_bundle_ok("{\"root\":{\"path\":\"/r\"},\"mounts\":["
                    "{\"destination\":\"/etc/resolv.conf\",\"source\":\"/run/a\"},"
                    "{\"destination\":\"/etc/hosts\",\"source\":\"/run/h\"},"
                    "{\"destination\":\"/etc/resolv.conf\",\"source\":\"/run/b\"},"
                    "{\"destination\":\"/proc\",\"type\":\"proc\"}]}",
                    &b);
    assert_string_equal(b.resolv_conf_source, "/run/b");
    oci_bundle_free(&b);
    assert_int_equal(oci_bundle_parse(bad, sizeof(bad) - 1, &b, &err), -1);
    dj_error_release(&err);
}

/* Bind mounts, as runc and crun decide them: type "bind", or an option bind/rbind. */
static void test_bundle_bind_mounts(void **unused)
{
    struct oci_bundle b;

    (void)unused;
    parse_bundle_ok("{\"mounts\":["
                    "{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
                    "{\"destination\":\"/a\",\"type\":\"bind\",\"source\":\"/run/a.sock\"},"
                    "{\"destination\":\"/b\",\"source\":\"/var/run\",\"options\":[\"rbind\","
                    "\"ro\"]},"
                    "{\"destination\":\"/c\",\"type\":\"none\",\"source\":\"rel/dir\","
                    "\"options\":[\"nosuid\",\"bind\"]},"
                    "{\"destination\":\"/d\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
                    "\"options\":[\"nosuid\"]}]}",
                    &b);
    assert_int_equal(b.n_bind_mounts, 3);
    assert_string_equal(b.bind_mounts[0].source, "/run/a.sock");
    assert_string_equal(b.bind_mounts[0].destination, "/a");
    assert_string_equal(b.bind_mounts[1].source, "/var/run");
    assert_string_equal(b.bind_mounts[2].source, "rel/dir");
    oci_bundle_free(&b);
    assert_null(b.bind_mounts);
    parse_bundle_ok("{\"mounts\":[]}", &b);
    assert_int_equal(b.n_bind_mounts, 0);
    oci_bundle_free(&b);

    bundle_fails("{\"mounts\":[{\"type\":\"bind\",\"destination\":\"/x\"}]}",
                 "bind mount without a source");
    bundle_fails("{\"mounts\":[{\"source\":\"/x\",\"options\":[\"bind\",7]}]}",
                 "mounts[0].options[1] must be a string");
    bundle_fails("{\"mounts\":[{\"source\":\"/x\",\"options\":\"bind\"}]}", "must be an array");
    bundle_fails("{\"mounts\":[{\"Type\":\"bind\",\"source\":\"/x\"}]}", "only in case");
    bundle_fails("{\"mounts\":[{\"type\":\"bind\",\"source\":\"/x\",\"Options\":[]}]}",
                 "only in case");
}

static void test_bundle_namespaces(void **unused)
{
    struct oci_bundle b;

    (void)unused;
    parse_bundle_ok("{}", &b);
    assert_false(b.have_netns);
    assert_null(b.netns_path);
    assert_int_equal(b.caps_any, 0);
    assert_int_equal(b.n_annotations, 0);
    oci_bundle_free(&b);

    parse_bundle_ok("{\"linux\":{\"namespaces\":[{\"type\":\"pid\"}]}}", &b);
    assert_false(b.have_netns);
    assert_true(b.own_pidns);
    oci_bundle_free(&b);

    /* A pid namespace of its own only when there is one "pid" entry, without a path. */
    assert_false(b.own_pidns); /* freed and cleared */
    parse_bundle_ok("{\"linux\":{\"namespaces\":[{\"type\":\"pid\",\"path\":\"\"}]}}", &b);
    assert_true(b.own_pidns);
    oci_bundle_free(&b);
    parse_bundle_ok("{\"linux\":{\"namespaces\":[{\"type\":\"pid\",\"path\":\"/proc/7/ns/pid\"}]}}",
                    &b);
    assert_false(b.own_pidns);
    oci_bundle_free(&b);
    parse_bundle_ok("{\"linux\":{\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"pid\"}]}}", &b);
    assert_false(b.own_pidns);
    oci_bundle_free(&b);
    parse_bundle_ok("{\"linux\":{\"namespaces\":[{\"type\":\"network\"}]}}", &b);
    assert_false(b.own_pidns); /* the host's pid namespace */
    oci_bundle_free(&b);

    parse_bundle_ok("{\"linux\":{\"namespaces\":[{\"type\":\"network\"}]}}", &b);
    assert_true(b.have_netns);
    assert_null(b.netns_path);
    oci_bundle_free(&b);

    /* An empty path means a new namespace to the runtimes. */
    parse_bundle_ok("{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"\"}]}}", &b);
    assert_true(b.have_netns);
    assert_null(b.netns_path);
    oci_bundle_free(&b);

    parse_bundle_ok("{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":null}]}}", &b);
    assert_true(b.have_netns);
    assert_null(b.netns_path);
    oci_bundle_free(&b);

    bundle_fails("{\"linux\":[]}", "field 'linux' must be an object");
    bundle_fails("{\"linux\":{\"namespaces\":{}}}", "field 'linux.namespaces' must be an array");
    bundle_fails("{\"linux\":{\"namespaces\":[\"network\"]}}",
                 "linux.namespaces[0] must be an object");
    bundle_fails("{\"linux\":{\"namespaces\":[{\"path\":\"/x\"}]}}",
                 "field 'linux.namespaces[].type' is missing");
    bundle_fails("{\"linux\":{\"namespaces\":[{\"type\":5}]}}",
                 "field 'linux.namespaces[].type' must be a string");
    bundle_fails("{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":5}]}}",
                 "field 'linux.namespaces[].path' must be a string");
    bundle_fails("{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"path\":\"netns/x\"}]}}",
                 "the network path must be absolute, not \"netns/x\"");
    bundle_fails("{\"linux\":{\"namespaces\":[{\"type\":\"network\"},{\"type\":\"network\","
                 "\"path\":\"/run/netns/x\"}]}}",
                 "more than one \"network\" entry");
    bundle_fails("{\"linux\":{\"namespaces\":[{\"type\":\"network\",\"Path\":\"/x\"}]}}",
                 "field 'linux.namespaces[].Path' differs from 'linux.namespaces[].path' only");
    bundle_fails("{\"Linux\":{\"namespaces\":[]}}", "field 'Linux' differs from 'linux'");
}

static void test_bundle_capabilities(void **unused)
{
    struct oci_bundle b;

    (void)unused;
    parse_bundle_ok("{\"process\":{\"capabilities\":{\"bounding\":[\"CAP_NET_ADMIN\"]}}}", &b);
    assert_true(b.caps_any == (UINT64_C(1) << 12));
    oci_bundle_free(&b);
    parse_bundle_ok("{\"process\":{\"capabilities\":{\"ambient\":[\"CAP_NET_RAW\"],"
                    "\"effective\":null}}}",
                    &b);
    assert_true(b.caps_any == (UINT64_C(1) << 13));
    oci_bundle_free(&b);
    parse_bundle_ok("{\"process\":{\"args\":[\"sh\"]}}", &b);
    assert_int_equal(b.caps_any, 0);
    oci_bundle_free(&b);

    bundle_fails("{\"process\":{\"capabilities\":{\"bounding\":[\"CAP_NET_ADMIN\",\"CAP_FOO\"]}}}",
                 "process.capabilities.bounding: unknown capability \"CAP_FOO\"");
    /* Names are case-sensitive, as the spec writes them; an unknown name fails closed. */
    bundle_fails("{\"process\":{\"capabilities\":{\"effective\":[\"cap_net_admin\"]}}}",
                 "process.capabilities.effective: unknown capability \"cap_net_admin\"");
    bundle_fails("{\"process\":{\"capabilities\":{\"permitted\":[\"NET_ADMIN\"]}}}",
                 "unknown capability \"NET_ADMIN\"");
    bundle_fails("{\"process\":{\"capabilities\":{\"inheritable\":[\"CAP_41\"]}}}",
                 "process.capabilities.inheritable: unknown capability");
    bundle_fails("{\"process\":{\"capabilities\":{\"ambient\":[12]}}}",
                 "process.capabilities.ambient[0] must be a string");
    bundle_fails("{\"process\":{\"capabilities\":{\"bounding\":\"CAP_KILL\"}}}",
                 "field 'process.capabilities.bounding' must be an array");
    /* The pre-1.0 list form: runc refuses it too. */
    bundle_fails("{\"process\":{\"capabilities\":[\"CAP_KILL\"]}}",
                 "field 'process.capabilities' must be an object");
    bundle_fails("{\"process\":\"sh\"}", "field 'process' must be an object");
    /* runc would read these; a case-sensitive reader would miss CAP_NET_ADMIN. */
    bundle_fails("{\"Process\":{\"capabilities\":{\"bounding\":[\"CAP_NET_ADMIN\"]}}}",
                 "field 'Process' differs from 'process' only in case");
    bundle_fails("{\"process\":{\"Capabilities\":{\"bounding\":[\"CAP_NET_ADMIN\"]}}}",
                 "field 'process.Capabilities' differs from 'process.capabilities'");
    bundle_fails("{\"process\":{\"capabilities\":{\"BOUNDING\":[\"CAP_NET_ADMIN\"]}}}",
                 "field 'process.capabilities.BOUNDING' differs");
    /* U+017F LONG S folds to 's' in Go. */
    bundle_fails("{\"process\":{\"capabilitie\xc5\xbf\":{\"bounding\":[\"CAP_NET_ADMIN\"]}}}",
                 "differs from 'process.capabilities' only in case");
    bundle_fails("{\"process\":{\"capabilities\":{\"bounding\":[],\"bounding\":[\"CAP_KILL\"]}}}",
                 "field 'process.capabilities.bounding' is given twice");
}

static void test_bundle_annotations(void **unused)
{
    (void)unused;
    bundle_fails("{\"annotations\":{\"a\":\"1\",\"a\":\"2\"}}", "annotation 'a' is given twice");
    bundle_fails("{\"annotations\":{\"a\":true}}", "annotation 'a' must be a string");
    bundle_fails("{\"annotations\":5}", "field 'annotations' must be an object of strings");
    bundle_fails("[]", "the top level is not a JSON object");
    bundle_fails("{\"process\":", "invalid JSON");
}

static void test_bundle_size_limit(void **unused)
{
    struct oci_bundle b;
    dj_error_t err = NULL;
    size_t len = OCI_CONFIG_MAX_BYTES + 1;
    char *s = malloc(len);

    (void)unused;
    assert_non_null(s);
    memset(s, ' ', len);
    s[0] = '{';
    s[len - 1] = '}';
    assert_int_equal(oci_bundle_parse(s, len, &b, &err), -1);
    assert_non_null(strstr(dj_error_msg(&err), "more than the limit of 16777216"));
    dj_error_release(&err);
    assert_int_equal(oci_bundle_parse(s, len - 1, &b, &err), -1); /* now unterminated */
    assert_non_null(strstr(dj_error_msg(&err), "invalid JSON"));
    dj_error_release(&err);
    s[len - 2] = '}';
    assert_int_equal(oci_bundle_parse(s, len - 1, &b, &err), 0);
    oci_bundle_free(&b);
    free(s);
}

/* ---- names ----------------------------------------------------------------------------- */

static void test_id_is_safe(void **unused)
{
    char id[130];

    (void)unused;
    assert_true(oci_id_is_safe("a"));
    assert_true(oci_id_is_safe("podman-1f2e_3.A"));
    assert_true(oci_id_is_safe("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(oci_id_is_safe(NULL));
    assert_false(oci_id_is_safe(""));
    assert_false(oci_id_is_safe("."));
    assert_false(oci_id_is_safe(".."));
    assert_false(oci_id_is_safe(".hidden"));
    assert_false(oci_id_is_safe("a/b"));
    assert_false(oci_id_is_safe("../etc"));
    assert_false(oci_id_is_safe("a b"));
    assert_false(oci_id_is_safe("a\nb"));
    assert_false(oci_id_is_safe("caf\xc3\xa9"));
    memset(id, 'a', 128);
    id[128] = '\0';
    assert_true(oci_id_is_safe(id));
    id[128] = 'a';
    id[129] = '\0';
    assert_false(oci_id_is_safe(id));
}

static void test_capability_numbers(void **unused)
{
    (void)unused;
    /* Against the kernel's own header, for every capability. */
    assert_int_equal(oci_capability_number("CAP_CHOWN"), CAP_CHOWN);
    assert_int_equal(oci_capability_number("CAP_DAC_OVERRIDE"), CAP_DAC_OVERRIDE);
    assert_int_equal(oci_capability_number("CAP_DAC_READ_SEARCH"), CAP_DAC_READ_SEARCH);
    assert_int_equal(oci_capability_number("CAP_FOWNER"), CAP_FOWNER);
    assert_int_equal(oci_capability_number("CAP_FSETID"), CAP_FSETID);
    assert_int_equal(oci_capability_number("CAP_KILL"), CAP_KILL);
    assert_int_equal(oci_capability_number("CAP_SETGID"), CAP_SETGID);
    assert_int_equal(oci_capability_number("CAP_SETUID"), CAP_SETUID);
    assert_int_equal(oci_capability_number("CAP_SETPCAP"), CAP_SETPCAP);
    assert_int_equal(oci_capability_number("CAP_LINUX_IMMUTABLE"), CAP_LINUX_IMMUTABLE);
    assert_int_equal(oci_capability_number("CAP_NET_BIND_SERVICE"), CAP_NET_BIND_SERVICE);
    assert_int_equal(oci_capability_number("CAP_NET_BROADCAST"), CAP_NET_BROADCAST);
    assert_int_equal(oci_capability_number("CAP_NET_ADMIN"), CAP_NET_ADMIN);
    assert_int_equal(oci_capability_number("CAP_NET_RAW"), CAP_NET_RAW);
    assert_int_equal(oci_capability_number("CAP_IPC_LOCK"), CAP_IPC_LOCK);
    assert_int_equal(oci_capability_number("CAP_IPC_OWNER"), CAP_IPC_OWNER);
    assert_int_equal(oci_capability_number("CAP_SYS_MODULE"), CAP_SYS_MODULE);
    assert_int_equal(oci_capability_number("CAP_SYS_RAWIO"), CAP_SYS_RAWIO);
    assert_int_equal(oci_capability_number("CAP_SYS_CHROOT"), CAP_SYS_CHROOT);
    assert_int_equal(oci_capability_number("CAP_SYS_PTRACE"), CAP_SYS_PTRACE);
    assert_int_equal(oci_capability_number("CAP_SYS_PACCT"), CAP_SYS_PACCT);
    assert_int_equal(oci_capability_number("CAP_SYS_ADMIN"), CAP_SYS_ADMIN);
    assert_int_equal(oci_capability_number("CAP_SYS_BOOT"), CAP_SYS_BOOT);
    assert_int_equal(oci_capability_number("CAP_SYS_NICE"), CAP_SYS_NICE);
    assert_int_equal(oci_capability_number("CAP_SYS_RESOURCE"), CAP_SYS_RESOURCE);
    assert_int_equal(oci_capability_number("CAP_SYS_TIME"), CAP_SYS_TIME);
    assert_int_equal(oci_capability_number("CAP_SYS_TTY_CONFIG"), CAP_SYS_TTY_CONFIG);
    assert_int_equal(oci_capability_number("CAP_MKNOD"), CAP_MKNOD);
    assert_int_equal(oci_capability_number("CAP_LEASE"), CAP_LEASE);
    assert_int_equal(oci_capability_number("CAP_AUDIT_WRITE"), CAP_AUDIT_WRITE);
    assert_int_equal(oci_capability_number("CAP_AUDIT_CONTROL"), CAP_AUDIT_CONTROL);
    assert_int_equal(oci_capability_number("CAP_SETFCAP"), CAP_SETFCAP);
    assert_int_equal(oci_capability_number("CAP_MAC_OVERRIDE"), CAP_MAC_OVERRIDE);
    assert_int_equal(oci_capability_number("CAP_MAC_ADMIN"), CAP_MAC_ADMIN);
    assert_int_equal(oci_capability_number("CAP_SYSLOG"), CAP_SYSLOG);
    assert_int_equal(oci_capability_number("CAP_WAKE_ALARM"), CAP_WAKE_ALARM);
    assert_int_equal(oci_capability_number("CAP_BLOCK_SUSPEND"), CAP_BLOCK_SUSPEND);
    assert_int_equal(oci_capability_number("CAP_AUDIT_READ"), CAP_AUDIT_READ);
    assert_int_equal(oci_capability_number("CAP_PERFMON"), CAP_PERFMON);
    assert_int_equal(oci_capability_number("CAP_BPF"), CAP_BPF);
    assert_int_equal(oci_capability_number("CAP_CHECKPOINT_RESTORE"), CAP_CHECKPOINT_RESTORE);
    assert_int_equal(CAP_LAST_CAP, 40);

    assert_int_equal(oci_capability_number("cap_net_admin"), -1);
    assert_int_equal(oci_capability_number("NET_ADMIN"), -1);
    assert_int_equal(oci_capability_number("CAP_NET_ADMIN "), -1);
    assert_int_equal(oci_capability_number(""), -1);
    assert_int_equal(oci_capability_number(NULL), -1);
}

static void test_printable(void **unused)
{
    char out[OCI_PRINTABLE_SIZE];
    char small[8];
    char long_text[300];

    (void)unused;
    assert_string_equal(oci_printable(out, sizeof(out), "plain text"), "plain text");
    assert_string_equal(oci_printable(out, sizeof(out), "a\"b\\c\n\x7f\xc3\xa9"),
                        "a\\\"b\\\\c\\x0a\\x7f\\xc3\\xa9");
    assert_string_equal(oci_printable(out, sizeof(out), NULL), "(null)");
    assert_string_equal(oci_printable(small, sizeof(small), "abcd"), "abcd");
    assert_string_equal(oci_printable(small, sizeof(small), "abcdefg"), "abcdefg");
    assert_string_equal(oci_printable(small, sizeof(small), "abcdefgh"), "abcd...");
    assert_string_equal(oci_printable(small, sizeof(small), "\n\n\n"), "\\x0a...");
    memset(long_text, 'x', sizeof(long_text) - 1);
    long_text[sizeof(long_text) - 1] = '\0';
    oci_printable(out, sizeof(out), long_text);
    assert_true(strlen(out) < sizeof(out));
    assert_string_equal(out + strlen(out) - 3, "...");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_runc),
        cmocka_unit_test(test_state_crun),
        cmocka_unit_test(test_state_optional_fields),
        cmocka_unit_test(test_state_required),
        cmocka_unit_test(test_state_pid),
        cmocka_unit_test(test_state_annotations),
        cmocka_unit_test(test_state_duplicate_fields),
        cmocka_unit_test(test_state_bad_json),
        cmocka_unit_test(test_state_deep_nesting),
        cmocka_unit_test(test_state_size_limit),
        cmocka_unit_test(test_state_many_annotations),
        cmocka_unit_test(test_bundle_realistic),
        cmocka_unit_test(test_bundle_namespaces),
        cmocka_unit_test(test_bundle_resolv_conf),
        cmocka_unit_test(test_bundle_bind_mounts),
        cmocka_unit_test(test_bundle_capabilities),
        cmocka_unit_test(test_bundle_annotations),
        cmocka_unit_test(test_bundle_size_limit),
        cmocka_unit_test(test_id_is_safe),
        cmocka_unit_test(test_capability_numbers),
        cmocka_unit_test(test_printable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
