/* Unit tests for lib/jail/sockdiag: the sock_diag reply parser on hand-built replies (servers kept,
 * connected and unbound sockets dropped, IPv4-mapped addresses, IPV6_V6ONLY, malformed
 * lengths, the kernel's error), the holder scan on a fake /proc, and the ADDR:PORT syntax of
 * allow-foreign-socket. */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "jail/sockdiag.h"

#define SEQ 77

struct reply {
    uint8_t buf[4096];
    size_t len;
};

static void put_msg(struct reply *r, uint16_t type, uint32_t seq, const void *payload, size_t len)
{
    struct nlmsghdr nlh = {.nlmsg_len = (uint32_t)(NLMSG_HDRLEN + len),
                           .nlmsg_type = type,
                           .nlmsg_flags = NLM_F_MULTI,
                           .nlmsg_seq = seq};

    assert_true(r->len + NLMSG_ALIGN(nlh.nlmsg_len) <= sizeof(r->buf));
    memcpy(r->buf + r->len, &nlh, sizeof(nlh));
    memcpy(r->buf + r->len + NLMSG_HDRLEN, payload, len);
    r->len += NLMSG_ALIGN(nlh.nlmsg_len);
}

/* One socket record; V6ONLY < 0: no INET_DIAG_SKV6ONLY attribute. */
static void put_socket(struct reply *r, int family, const char *addr, uint16_t port, uint8_t state,
                       uint32_t inode, int v6only)
{
    uint8_t payload[sizeof(struct inet_diag_msg) + 8];
    struct inet_diag_msg msg;
    size_t len = sizeof(msg);

    memset(&msg, 0, sizeof(msg));
    memset(payload, 0, sizeof(payload));
    msg.idiag_family = (uint8_t)family;
    msg.idiag_state = state;
    msg.id.idiag_sport = htons(port);
    msg.idiag_inode = inode;
    assert_int_equal(inet_pton(family, addr, msg.id.idiag_src), 1);
    memcpy(payload, &msg, sizeof(msg));
    if (v6only >= 0) {
        struct nlattr nla = {.nla_len = NLA_HDRLEN + 1, .nla_type = INET_DIAG_SKV6ONLY};

        memcpy(payload + len, &nla, sizeof(nla));
        payload[len + NLA_HDRLEN] = (uint8_t)v6only;
        len += NLA_ALIGN(nla.nla_len);
    }
    put_msg(r, SOCK_DIAG_BY_FAMILY, SEQ, payload, len);
}

static void put_done(struct reply *r)
{
    int zero = 0;

    put_msg(r, NLMSG_DONE, SEQ, &zero, sizeof(zero));
}

static void text_of(const struct dj_sockdiag_socket *s, char *out)
{
    dj_sockdiag_format(s, out);
}

static void test_parse_servers(void **unused)
{
    struct reply r = {0};
    struct dj_sockdiag_list list = {0};
    dj_error_t err = NULL;
    char text[DJ_SOCKDIAG_ENDPOINT_TEXT];
    bool done = false;

    (void)unused;
    put_socket(&r, AF_INET, "127.0.0.11", 40000, 7, 1001, -1);     /* unconnected UDP */
    put_socket(&r, AF_INET, "127.0.0.11", 40001, 1, 1002, -1);     /* connected: no server */
    put_socket(&r, AF_INET, "0.0.0.0", 0, 7, 1003, -1);            /* no port */
    put_socket(&r, AF_INET6, "::ffff:127.0.0.12", 53, 7, 1004, 0); /* IPv4-mapped */
    put_socket(&r, AF_INET6, "::", 5353, 7, 1005, 0);              /* dual-stack wildcard */
    put_socket(&r, AF_INET6, "::1", 5354, 7, 1006, 1);
    put_done(&r);
    assert_int_equal(dj_sockdiag_parse(r.buf, r.len, SEQ, IPPROTO_UDP, &list, &done, &err), 0);
    assert_true(done);
    assert_int_equal(list.n, 4);
    text_of(&list.v[0], text);
    assert_string_equal(text, "127.0.0.11:40000/udp");
    assert_int_equal(list.v[0].inode, 1001);
    text_of(&list.v[1], text);
    assert_string_equal(text, "127.0.0.12:53/udp");
    assert_int_equal(list.v[1].family, AF_INET);
    text_of(&list.v[2], text);
    assert_string_equal(text, "[::]:5353/udp");
    assert_true(dj_sockdiag_any_address(&list.v[2]));
    assert_false(list.v[2].v6only);
    assert_true(list.v[3].v6only);
    assert_false(dj_sockdiag_any_address(&list.v[3]));
    dj_sockdiag_list_free(&list);

    /* TCP keeps LISTEN only; another sequence number is not this dump's. */
    memset(&r, 0, sizeof(r));
    put_socket(&r, AF_INET, "10.0.0.1", 80, 10, 2001, -1);
    put_socket(&r, AF_INET, "10.0.0.1", 81, 1, 2002, -1);
    put_socket(&r, AF_INET, "10.0.0.1", 82, 7, 2003, -1);
    assert_int_equal(dj_sockdiag_parse(r.buf, r.len, SEQ, IPPROTO_TCP, &list, &done, &err), 0);
    assert_false(done);
    assert_int_equal(list.n, 1);
    assert_int_equal(list.v[0].port, 80);
    assert_int_equal(dj_sockdiag_parse(r.buf, r.len, SEQ + 1, IPPROTO_TCP, &list, &done, &err), 0);
    assert_int_equal(list.n, 1);
    dj_sockdiag_list_free(&list);
}

static void parse_fails(const struct reply *r, size_t len, const char *want)
{
    struct dj_sockdiag_list list = {0};
    dj_error_t err = NULL;
    bool done = false;

    assert_int_equal(dj_sockdiag_parse(r->buf, len, SEQ, IPPROTO_UDP, &list, &done, &err), -1);
    if (strstr(dj_error_msg(&err), want) == NULL)
        fail_msg("got \"%s\", want \"%s\"", dj_error_msg(&err), want);
    dj_error_release(&err);
    dj_sockdiag_list_free(&list);
}

static void test_parse_malformed(void **unused)
{
    struct reply r = {0};
    struct nlmsghdr nlh;
    struct nlmsgerr e = {.error = -ENOENT};

    (void)unused;
    put_socket(&r, AF_INET, "127.0.0.11", 40000, 7, 1, -1);
    parse_fails(&r, r.len - 1, "out of bounds");    /* message longer than the buffer */
    parse_fails(&r, 7, "truncated message header"); /* half a header */
    memcpy(&nlh, r.buf, sizeof(nlh));
    nlh.nlmsg_len = NLMSG_HDRLEN + 4; /* a record too short for an inet_diag_msg */
    memcpy(r.buf, &nlh, sizeof(nlh));
    parse_fails(&r, NLMSG_HDRLEN + 4, "too short");

    memset(&r, 0, sizeof(r));
    put_socket(&r, AF_INET6, "::", 1, 7, 1, 0);
    /* The attribute claims more than there is. */
    memcpy(&nlh, r.buf, sizeof(nlh));
    {
        struct nlattr nla;
        size_t at = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct inet_diag_msg));

        memcpy(&nla, r.buf + at, sizeof(nla));
        nla.nla_len = 200;
        memcpy(r.buf + at, &nla, sizeof(nla));
    }
    parse_fails(&r, r.len, "attribute length");

    memset(&r, 0, sizeof(r));
    put_msg(&r, NLMSG_ERROR, SEQ, &e, sizeof(e));
    parse_fails(&r, r.len, "the kernel refused the UDP dump: No such file or directory");
    memset(&r, 0, sizeof(r));
    put_msg(&r, NLMSG_ERROR, SEQ, &e, 2);
    parse_fails(&r, r.len, "truncated error message");

    memset(&r, 0, sizeof(r));
    put_socket(&r, AF_INET, "0.0.0.0", 1, 7, 1, -1);
    {
        struct inet_diag_msg msg;

        memcpy(&msg, r.buf + NLMSG_HDRLEN, sizeof(msg));
        msg.idiag_family = AF_UNIX;
        memcpy(r.buf + NLMSG_HDRLEN, &msg, sizeof(msg));
    }
    parse_fails(&r, r.len, "address family");
}

/* A fake /proc: process 10 in the namespace (its ns/net is NSFILE), 20 and 30 outside. */
static void test_holders(void **unused)
{
    char dir[] = "/tmp/dj-sockdiag-XXXXXX";
    char path[256];
    struct stat ns;
    struct dj_sockdiag_list list = {0};
    struct dj_sockdiag_socket s = {.family = AF_INET, .protocol = IPPROTO_UDP, .port = 1};
    dj_error_t err = NULL;
    pid_t ours[] = {30};
    FILE *f;

    (void)unused;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/nsfile", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(stat(path, &ns), 0);
    for (int pid = 10; pid <= 30; pid += 10) {
        snprintf(path, sizeof(path), "%s/%d", dir, pid);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/%d/fd", dir, pid);
        assert_int_equal(mkdir(path, 0700), 0);
        snprintf(path, sizeof(path), "%s/%d/comm", dir, pid);
        f = fopen(path, "w");
        assert_non_null(f);
        fprintf(f,
                pid == 20 ? "docker\x01"
                            "d\n"
                          : "proc%d\n",
                pid);
        fclose(f);
    }
    snprintf(path, sizeof(path), "%s/10/ns", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    {
        char target[256], link[256];

        snprintf(target, sizeof(target), "%s/nsfile", dir);
        snprintf(link, sizeof(link), "%s/10/ns/net", dir);
        assert_int_equal(symlink(target, link), 0);
    }
    /* 10 (inside) holds 101; 20 (outside) holds 101 and 102; 30 (ours) holds 103; 104: no one. */
    static const struct {
        int pid, fd;
        const char *target;
    } fds[] = {
        {10, 3, "socket:[101]"}, {20, 4, "socket:[101]"}, {20, 5, "socket:[102]"},
        {20, 6, "pipe:[102]"},   {30, 3, "socket:[103]"}, {30, 4, "socket:[10x]"},
    };
    for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
        snprintf(path, sizeof(path), "%s/%d/fd/%d", dir, fds[i].pid, fds[i].fd);
        assert_int_equal(symlink(fds[i].target, path), 0);
    }
    list.v = calloc(4, sizeof(*list.v));
    assert_non_null(list.v);
    list.cap = 4;
    for (uint64_t inode = 101; inode <= 104; inode++) {
        s.inode = inode;
        list.v[list.n++] = s;
    }
    assert_int_equal(dj_sockdiag_find_holders(&list, dir, ns.st_dev, ns.st_ino, ours, 1, &err), 0);
    assert_true(list.v[0].held_inside);
    assert_false(list.v[1].held_inside);
    assert_int_equal(list.v[1].outside_pid, 20);
    assert_string_equal(list.v[1].outside_comm, "docker?d");
    assert_true(list.v[2].held_inside);
    assert_false(list.v[3].held_inside);
    assert_int_equal(list.v[3].outside_pid, 0);
    dj_sockdiag_list_free(&list);
    snprintf(path, sizeof(path), "rm -rf '%s'", dir);
    assert_int_equal(system(path), 0);
}

static void test_endpoints(void **unused)
{
    struct dj_sockdiag_socket s = {.family = AF_INET, .protocol = IPPROTO_TCP, .port = 40000};
    uint8_t addr[16];
    uint16_t port;
    int family;

    (void)unused;
    assert_true(dj_sockdiag_parse_endpoint("127.0.0.11:40000", &family, addr, &port));
    assert_int_equal(family, AF_INET);
    assert_int_equal(port, 40000);
    assert_true(dj_sockdiag_parse_endpoint("[2001:db8::1]:53", &family, addr, &port));
    assert_int_equal(family, AF_INET6);
    assert_false(dj_sockdiag_parse_endpoint("[2001:db8::1]", &family, addr, &port));
    assert_false(dj_sockdiag_parse_endpoint("127.0.0.11:400000", &family, addr, &port));

    inet_pton(AF_INET, "127.0.0.11", s.addr);
    assert_true(dj_sockdiag_listed("10.0.0.1:1, 127.0.0.11:40000", &s));
    assert_true(dj_sockdiag_listed("  127.0.0.11:40000\t", &s));
    assert_false(dj_sockdiag_listed("127.0.0.11:40001 127.0.0.12:40000", &s));
    assert_false(dj_sockdiag_listed("[::ffff:127.0.0.11]:40000", &s));
    assert_false(dj_sockdiag_listed("", &s));
    assert_false(dj_sockdiag_listed(NULL, &s));
    /* A wildcard socket is named by the wildcard address only. */
    memset(s.addr, 0, sizeof(s.addr));
    assert_true(dj_sockdiag_listed("0.0.0.0:40000", &s));
    assert_false(dj_sockdiag_listed("127.0.0.1:40000", &s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_servers),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_holders),
        cmocka_unit_test(test_endpoints),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
