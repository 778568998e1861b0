/* test-sockmount.c: bind mounts of engine and resolver sockets, checked on real sockets in a
 * temporary directory. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail/sockmount.h"

static char top[] = "/tmp/dj-sockmount-XXXXXX";

static void make_dir(const char *rel)
{
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", top, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

/* A listening Unix socket at TOP/REL; the descriptor stays open for the test's life. */
static void make_socket(const char *rel)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_true((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/%s", top, rel) <
                sizeof(sa.sun_path));
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
}

static int setup(void **unused)
{
    char link[512];

    (void)unused;
    if (mkdtemp(top) == NULL)
        return -1;
    make_dir("plain");
    make_socket("plain/agent.sock");
    make_dir("engine");
    make_dir("engine/run");
    make_dir("engine/run/user");
    make_socket("engine/run/user/docker.sock");
    make_dir("resolve");
    make_socket("resolve/io.systemd.Resolve");
    make_dir("nscd");
    make_socket("nscd/socket");
    make_dir("other");
    make_socket("other/socket"); /* "socket" only counts in an nscd or avahi directory */
    make_dir("links");
    snprintf(link, sizeof(link), "%s/links/to-engine", top);
    return symlink("../engine", link);
}

static int teardown(void **unused)
{
    char cmd[128];

    (void)unused;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    return system(cmd) == 0 ? 0 : -1;
}

/* Checks one bind mount of SOURCE (relative to TOP unless absolute) with ALLOWED; returns the
 * message (static) or NULL when accepted. */
static const char *check_one(const char *source, const char *allowed)
{
    static char msg[1024];
    char path[512];
    struct oci_bind_mount m = {path, (char *)"/mnt"};
    struct oci_bundle b = {.bind_mounts = &m, .n_bind_mounts = 1};
    dj_error_t err = NULL;

    if (source[0] == '/')
        snprintf(path, sizeof(path), "%s", source);
    else
        snprintf(path, sizeof(path), "%s/%s", top, source);
    if (dj_sockmount_check(&b, top, allowed, &err) == 0)
        return NULL;
    snprintf(msg, sizeof(msg), "%s", dj_error_msg(&err));
    dj_error_release(&err);
    assert_null(strchr(msg, '\n'));
    return msg;
}

static void expect_refused(const char *source, const char *allowed, const char *socket_rel)
{
    char want[512];
    const char *msg = check_one(source, allowed);

    if (msg == NULL) {
        print_error("accepted: %s\n", source);
        fail();
    }
    snprintf(want, sizeof(want), "gives the container the socket %s/%s", top, socket_rel);
    if (strstr(msg, want) == NULL || strstr(msg, "allow-socket-mounts") == NULL ||
        strstr(msg, "onto /mnt") == NULL) {
        print_error("message \"%s\" lacks \"%s\"\n", msg, want);
        fail();
    }
}

static void expect_accepted(const char *source, const char *allowed)
{
    const char *msg = check_one(source, allowed);

    if (msg != NULL) {
        print_error("refused %s: %s\n", source, msg);
        fail();
    }
}

static void test_socket_itself(void **unused)
{
    (void)unused;
    expect_refused("engine/run/user/docker.sock", NULL, "engine/run/user/docker.sock");
    expect_refused("resolve/io.systemd.Resolve", NULL, "resolve/io.systemd.Resolve");
    expect_refused("nscd/socket", NULL, "nscd/socket");
    expect_accepted("plain/agent.sock", NULL);
    expect_accepted("other/socket", NULL);
    expect_accepted("does-not-exist", NULL); /* left to the runtime, which cannot mount it */
}

static void test_directories(void **unused)
{
    (void)unused;
    expect_refused("engine", NULL, "engine/run/user/docker.sock");
    expect_refused("engine/run/", NULL, "engine/run/user/docker.sock");
    expect_refused("resolve", NULL, "resolve/io.systemd.Resolve");
    assert_non_null(check_one(".", NULL));
    expect_accepted("plain", NULL);
    expect_accepted("other", NULL);
    /* Inside the container the link points into the container's own root. */
    expect_accepted("links", NULL);
    /* The mount's own source is resolved, as mount(2) does. */
    expect_refused("links/to-engine", NULL, "engine/run/user/docker.sock");
}

static void test_allowed(void **unused)
{
    char allowed[600];

    (void)unused;
    snprintf(allowed, sizeof(allowed), "/nowhere, %s/engine/", top);
    expect_accepted("engine", allowed);
    /* The socket itself listed: a directory holding it passes too, others do not. */
    snprintf(allowed, sizeof(allowed), "%s/engine/run/user/docker.sock", top);
    expect_accepted("engine/run", allowed);
    expect_accepted("engine/run/user/docker.sock", allowed);
    expect_refused("resolve", allowed, "resolve/io.systemd.Resolve");
    assert_true(dj_sockmount_path_allowed("/a/b/ /c", "/a/b"));
    assert_true(dj_sockmount_path_allowed("/", "/"));
    assert_false(dj_sockmount_path_allowed("/a/b", "/a"));
    assert_false(dj_sockmount_path_allowed("/a", "/a/b"));
    assert_false(dj_sockmount_path_allowed(NULL, "/a"));
}

static void test_known_names(void **unused)
{
    static const char *const engines[] = {"docker.sock", "podman.sock", "containerd.sock",
                                          "crio.sock"};

    (void)unused;
    for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++)
        assert_non_null(strstr(dj_socknames_known_name("x", engines[i]), "unjailed"));
    assert_non_null(dj_socknames_known_name("dbus", "system_bus_socket"));
    assert_non_null(dj_socknames_known_name("systemd", "private"));
    assert_null(dj_socknames_known_name("x", "private"));
    assert_null(dj_socknames_known_name(NULL, "socket"));
    assert_null(dj_socknames_known_name("x", "log"));
    /* By path: the parent is the last directory's name. */
    assert_non_null(dj_socknames_known_path("/run/nscd/socket"));
    assert_non_null(dj_socknames_known_path("docker.sock"));
    assert_non_null(dj_socknames_known_path("/docker.sock"));
    assert_null(dj_socknames_known_path("/run/other/socket"));
    assert_null(dj_socknames_known_path("/socket"));
    /* Every usual place is a known name (the leaktest probe and the hook share the list). */
    for (size_t i = 0; dj_socknames_usual_path(i) != NULL; i++) {
        assert_true(i < DJ_SOCKNAMES_MAX_USUAL_PATHS);
        assert_true(dj_socknames_usual_path(i)[0] == '/');
        assert_non_null(dj_socknames_known_path(dj_socknames_usual_path(i)));
    }
}

/* Past the depth bound nothing is looked at, nor past the entry bound. */
static void test_bounds(void **unused)
{
    char rel[512] = "deep";
    const char *msg;

    (void)unused;
    make_dir(rel);
    for (int i = 0; i <= DJ_SOCKMOUNT_MAX_DEPTH; i++) {
        strcat(rel, "/d");
        make_dir(rel);
    }
    strcat(rel, "/docker.sock");
    make_socket(rel);
    expect_accepted("deep", NULL);
    expect_refused("deep/d", NULL, rel);

    make_dir("many");
    for (int i = 0; i <= DJ_SOCKMOUNT_MAX_ENTRIES; i++) {
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/many/%d", top, i);
        f = fopen(path, "w");
        assert_non_null(f);
        fclose(f);
    }
    /* Past the entry bound the walk stops (the usual places are checked apart). */
    expect_accepted("many", NULL);
    snprintf(rel, sizeof(rel), "many/zz");
    make_dir(rel);
    make_socket("many/zz/docker.sock");
    msg = check_one("many/zz", NULL);
    assert_non_null(msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_socket_itself), cmocka_unit_test(test_directories),
        cmocka_unit_test(test_allowed),       cmocka_unit_test(test_known_names),
        cmocka_unit_test(test_bounds),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
