/* test-sparemsg.c: the messages between the hook and a spare daemon (lib/daemon/sparemsg): what
 * the hook writes the spare reads back whole; an assignment that names a descriptor twice, not
 * at all, with an option that hands over no descriptor, without --ready-fd, or in another
 * version is refused; a hello reads back what the spare said. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/sparemsg.h"

static int parse(const char *text, size_t n_fds, enum dj_sparemsg_kind *kind,
                 struct dj_sparemsg_assign *a)
{
    dj_error_t err = NULL;
    int r = dj_sparemsg_parse_command(text, strlen(text), n_fds, kind, a, &err);

    assert_int_equal(r < 0, err != NULL);
    dj_error_release(&err);
    return r;
}

static void test_assign_round_trip(void **state)
{
    struct dj_sparemsg_assign a = {.container_id = "0123abcd", .n_fds = 3};
    struct dj_sparemsg_assign back;
    enum dj_sparemsg_kind kind;
    char buf[DJ_SPAREMSG_MAX];
    int len;

    (void)state;
    a.fds[0] = (struct dj_sparemsg_fd){"--inherit-udp", 2};
    a.fds[1] = (struct dj_sparemsg_fd){"--ready-fd", 0};
    a.fds[2] = (struct dj_sparemsg_fd){"--config-fd", 1};
    len = dj_sparemsg_format_assign(&a, buf, sizeof(buf), NULL);
    assert_true(len > 0);
    assert_string_equal(buf, "dnsjail-assign 1\ncontainer-id 0123abcd\n--inherit-udp 2\n"
                             "--ready-fd 0\n--config-fd 1\n");
    assert_int_equal(dj_sparemsg_parse_command(buf, (size_t)len, 3, &kind, &back, NULL), 0);
    assert_int_equal(kind, DJ_SPAREMSG_ASSIGN);
    assert_string_equal(back.container_id, "0123abcd");
    assert_int_equal(back.n_fds, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back.fds[i].option, a.fds[i].option);
        assert_int_equal(back.fds[i].index, a.fds[i].index);
    }
}

static void test_retire(void **state)
{
    struct dj_sparemsg_assign a;
    enum dj_sparemsg_kind kind;
    char buf[64];

    (void)state;
    assert_true(dj_sparemsg_format_retire(buf, sizeof(buf)) > 0);
    assert_int_equal(parse(buf, 0, &kind, &a), 0);
    assert_int_equal(kind, DJ_SPAREMSG_RETIRE);
    /* A retirement hands over nothing. */
    assert_int_equal(parse(buf, 1, &kind, &a), -1);
    assert_int_equal(parse("dnsjail-retire 1\nmore\n", 0, &kind, &a), -1);
}

static void test_assign_refusals(void **state)
{
    static const struct {
        const char *text;
        size_t n_fds;
    } refused[] = {
        {"dnsjail-assign 2\ncontainer-id x\n--ready-fd 0\n", 1},             /* version */
        {"dnsjail-assign 1\ncontainer-id x\n--ready-fd 0\n--log-fd 0\n", 2}, /* index twice */
        {"dnsjail-assign 1\ncontainer-id x\n--ready-fd 0\n", 2},             /* one unnamed */
        {"dnsjail-assign 1\ncontainer-id x\n--ready-fd 1\n", 1},             /* out of range */
        {"dnsjail-assign 1\ncontainer-id x\n--log-fd 0\n", 1},               /* no ready */
        {"dnsjail-assign 1\ncontainer-id x\n--ready-fd 0\n--ready-fd 1\n", 2},
        {"dnsjail-assign 1\ncontainer-id x\n--ready-fd 0\n--allow 1\n", 2}, /* a setting */
        {"dnsjail-assign 1\ncontainer-id x\n--ready-fd 01\n", 1},           /* leading zero */
        {"dnsjail-assign 1\ncontainer-id x\n--ready-fd 0", 1},              /* no newline */
        {"dnsjail-assign 1\ncontainer-id a b\n--ready-fd 0\n", 1},          /* blank in the id */
        {"dnsjail-assign 1\n--ready-fd 0\n", 1},                            /* no id */
        {"dnsjail-assign 1\ncontainer-id x\n--ready-fd  0\n", 1},
        {"", 0},
    };
    struct dj_sparemsg_assign a;
    enum dj_sparemsg_kind kind;

    (void)state;
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        if (parse(refused[i].text, refused[i].n_fds, &kind, &a) != -1)
            fail_msg("accepted: %s", refused[i].text);
    }
    /* A NUL inside a line. */
    {
        static const char with_nul[] = "dnsjail-assign 1\ncontainer-id x\0y\n--ready-fd 0\n";

        assert_int_equal(
            dj_sparemsg_parse_command(with_nul, sizeof(with_nul) - 1, 1, &kind, &a, NULL), -1);
    }
}

static void test_writer_refusals(void **state)
{
    struct dj_sparemsg_assign a = {.container_id = "has blank", .n_fds = 1};
    char buf[DJ_SPAREMSG_MAX];
    dj_error_t err = NULL;

    (void)state;
    a.fds[0] = (struct dj_sparemsg_fd){"--ready-fd", 0};
    assert_int_equal(dj_sparemsg_format_assign(&a, buf, sizeof(buf), &err), -1);
    dj_error_release(&err);
    strcpy(a.container_id, "ok");
    a.fds[0].option = "--user";
    assert_int_equal(dj_sparemsg_format_assign(&a, buf, sizeof(buf), &err), -1);
    dj_error_release(&err);
}

static void test_hello(void **state)
{
    struct dj_sparemsg_hello h = {.program = "dnsjail-proxy",
                                  .exe_dev = 65024,
                                  .exe_ino = UINT64_MAX,
                                  .uid = 65534,
                                  .gid = 65534,
                                  .nofile = 8192};
    struct dj_sparemsg_hello back;
    char buf[DJ_SPAREMSG_MAX];
    int len;

    (void)state;
    len = dj_sparemsg_format_hello(&h, buf, sizeof(buf));
    assert_true(len > 0);
    assert_int_equal(dj_sparemsg_parse_hello(buf, (size_t)len, &back, NULL), 0);
    assert_memory_equal(&h, &back, sizeof(h));
    {
        static const char *const refused[] = {
            "dnsjail-spare 1\nprogram x\nexe 1 2\nnofile 1\n", /* no ids */
            "dnsjail-spare 1\nprogram x\nexe 1 2\nids 1 1\n",
            "dnsjail-spare 1\nprogram x\nexe 1 2\nids 1 1\nnofile 99999999999999999999\n",
            "dnsjail-spare 1\nprogram x\nexe 1\nids 1 1\nnofile 1\n",
            "dnsjail-spare 1\nprogram \nexe 1 2\nids 1 1\nnofile 1\n",
            "dnsjail-spare 1\nprogram x\nexe 1 2\nids 1 1\nnofile 1\nmore\n",
        };

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
            assert_int_equal(dj_sparemsg_parse_hello(refused[i], strlen(refused[i]), &back, NULL),
                             -1);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_assign_round_trip),
        cmocka_unit_test(test_retire),
        cmocka_unit_test(test_assign_refusals),
        cmocka_unit_test(test_writer_refusals),
        cmocka_unit_test(test_hello),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
