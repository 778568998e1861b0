/* test-adminconf.c: dnsjail.conf defaults, syntax, value checks and file handling. */
#include "config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "jail/adminconf.h"

static struct dj_adminconf defaults(void)
{
    struct dj_adminconf cfg;
    dj_error_t err = NULL;

    assert_int_equal(dj_adminconf_init(&cfg, &err), 0);
    return cfg;
}

static void parse_ok(struct dj_adminconf *cfg, const char *text)
{
    dj_error_t err = NULL;

    if (dj_adminconf_parse(cfg, "t.conf", text, strlen(text), &err) < 0) {
        print_error("refused: %s\n", dj_error_msg(&err));
        fail();
    }
}

/* Expects TEXT to be refused with exactly the message WANT, and the defaults untouched. */
static void parse_fails(const char *text, const char *want)
{
    struct dj_adminconf cfg = defaults();
    dj_error_t err = NULL;

    if (dj_adminconf_parse(&cfg, "t.conf", text, strlen(text), &err) == 0) {
        print_error("accepted: %s\n", text);
        fail();
    }
    if (strcmp(dj_error_msg(&err), want) != 0) {
        print_error("got  \"%s\"\nwant \"%s\"\n", dj_error_msg(&err), want);
        fail();
    }
    dj_error_release(&err);
    assert_string_equal(cfg.run_as_user, "nobody");
    assert_int_equal(cfg.dns_ttl, 5);
    assert_int_equal(cfg.dns_port, 15353);
    dj_adminconf_free(&cfg);
}

static void test_defaults(void **unused)
{
    struct dj_adminconf cfg = defaults();
    char addr[INET_ADDRSTRLEN];

    (void)unused;
    assert_string_equal(inet_ntop(AF_INET, &cfg.sinkhole4, addr, sizeof(addr)), "6.6.6.6");
    assert_false(cfg.have_sinkhole6);
    assert_int_equal(cfg.dns_ttl, 5);
    assert_string_equal(cfg.run_as_user, "nobody");
    assert_string_equal(cfg.log_file, DJ_LOCALSTATEDIR "/log/dnsjail/dnsjail.log");
    assert_int_equal(cfg.log_rate, 200);
    assert_int_equal(cfg.log_burst, 400);
    assert_string_equal(cfg.state_dir, DJ_RUNSTATEDIR "/dnsjail");
    assert_string_equal(cfg.libexec_dir, DJ_LIBEXECDIR);
    assert_int_equal(cfg.dns_port, 15353);
    assert_int_equal(cfg.proxy_http_port, 15380);
    assert_int_equal(cfg.proxy_tls_port, 15443);
    assert_int_equal(cfg.ready_timeout_ms, 5000);
    assert_true(cfg.default_enable);
    assert_false(cfg.allow_cap_net_admin);
    assert_false(cfg.allow_cap_net_raw);
    assert_false(cfg.allow_af_xdp);
    assert_false(cfg.allow_wildcard_all);
    assert_int_equal(cfg.foreign_sockets, DJ_FOREIGN_SOCKETS_BLOCK);
    assert_null(cfg.allow_foreign_sockets);
    assert_false(cfg.allow_inbound_udp);
    dj_adminconf_free(&cfg);
    assert_null(cfg.run_as_user);
    dj_adminconf_free(&cfg); /* twice is harmless */
}

static void test_every_key(void **unused)
{
    struct dj_adminconf cfg = defaults();
    char addr[INET6_ADDRSTRLEN];

    (void)unused;
    parse_ok(&cfg, "# dnsjail.conf\n"
                   "\n"
                   "sinkhole-ipv4 = 192.0.2.66\n"
                   "sinkhole-ipv6 = 2001:db8::66\n"
                   "dns-ttl = 0\n"
                   "user = dnsjail\n"
                   "log-file = /var/log/dj.log\n"
                   "log-rate = 0\n"
                   "log-burst = 1\n"
                   "state-dir = /run/dj\n"
                   "libexec-dir = /opt/dj/libexec\n"
                   "dns-port = 5353\n"
                   "proxy-http-port = 8080\n"
                   "proxy-tls-port = 8443\n"
                   "ready-timeout-ms = 60000\n"
                   "default-enable = false\n"
                   "allow-cap-net-admin = yes\n"
                   "allow-cap-net-raw = 1\n"
                   "drop-cap-net-raw = true\n"
                   "runtime = /usr/bin/crun\n"
                   "allow-af-xdp = yes\n"
                   "allow-wildcard-all = true\n"
                   "allow-inbound-udp = yes\n");
    assert_string_equal(inet_ntop(AF_INET, &cfg.sinkhole4, addr, sizeof(addr)), "192.0.2.66");
    assert_true(cfg.have_sinkhole6);
    assert_string_equal(inet_ntop(AF_INET6, &cfg.sinkhole6, addr, sizeof(addr)), "2001:db8::66");
    assert_int_equal(cfg.dns_ttl, 0);
    assert_string_equal(cfg.run_as_user, "dnsjail");
    assert_string_equal(cfg.log_file, "/var/log/dj.log");
    assert_int_equal(cfg.log_rate, 0);
    assert_int_equal(cfg.log_burst, 1);
    assert_string_equal(cfg.state_dir, "/run/dj");
    assert_string_equal(cfg.libexec_dir, "/opt/dj/libexec");
    assert_int_equal(cfg.dns_port, 5353);
    assert_int_equal(cfg.proxy_http_port, 8080);
    assert_int_equal(cfg.proxy_tls_port, 8443);
    assert_int_equal(cfg.ready_timeout_ms, 60000);
    assert_false(cfg.default_enable);
    assert_true(cfg.allow_cap_net_admin);
    assert_true(cfg.allow_cap_net_raw);
    assert_true(cfg.allow_af_xdp);
    assert_true(cfg.allow_wildcard_all);
    assert_true(cfg.allow_inbound_udp);

    /* A second file on top: only what it names changes. */
    parse_ok(&cfg, "sinkhole-ipv6 = none\ndefault-enable = 1\nallow-cap-net-raw = no\n"
                   "allow-cap-net-admin = 0\nallow-af-xdp = false\n");
    assert_false(cfg.have_sinkhole6);
    assert_true(cfg.default_enable);
    assert_false(cfg.allow_cap_net_raw);
    assert_false(cfg.allow_cap_net_admin);
    assert_false(cfg.allow_af_xdp);
    assert_true(cfg.allow_wildcard_all);
    assert_string_equal(cfg.run_as_user, "dnsjail");
    dj_adminconf_free(&cfg);
}

static void test_syntax(void **unused)
{
    struct dj_adminconf cfg = defaults();

    (void)unused;
    parse_ok(&cfg, "");
    parse_ok(&cfg, "\n\n   \n\t\n# only comments\n   # indented\n");
    /* Spaces are optional; CRLF line ends and a missing final newline are fine. */
    parse_ok(&cfg, "dns-ttl=7\r\nuser\t=\tdaemon  \r\nlog-rate =  9");
    assert_int_equal(cfg.dns_ttl, 7);
    assert_string_equal(cfg.run_as_user, "daemon");
    assert_int_equal(cfg.log_rate, 9);
    dj_adminconf_free(&cfg);

    cfg = defaults();
    /* Trailing comments need white space before '#'; quotes keep everything. */
    parse_ok(&cfg, "dns-ttl = 10 # seconds\n"
                   "log-file = \"/var/log/a b#c.log\"   # quoted\n"
                   "user = \"nobody\"\n"
                   "sinkhole-ipv6 = \"\"\n"
                   "state-dir = /run/x\t# tab before the comment\n");
    assert_int_equal(cfg.dns_ttl, 10);
    assert_string_equal(cfg.log_file, "/var/log/a b#c.log");
    assert_string_equal(cfg.state_dir, "/run/x");
    assert_false(cfg.have_sinkhole6);
    dj_adminconf_free(&cfg);

    cfg = defaults();
    parse_ok(&cfg, "sinkhole-ipv6 = 2001:db8::1\nsinkhole-ipv4=198.51.100.1\n");
    assert_true(cfg.have_sinkhole6);
    parse_ok(&cfg, "sinkhole-ipv6 =\n");
    assert_false(cfg.have_sinkhole6);
    dj_adminconf_free(&cfg);

    parse_fails("just text\n", "t.conf:1: expected 'key = value'");
    parse_fails("\n\n= 5\n", "t.conf:3: expected 'key = value'");
    parse_fails("dns-ttl 5\n", "t.conf:1: expected 'key = value'");
    parse_fails("dns-ttl\n", "t.conf:1: expected 'key = value'");
    parse_fails("foo = 1\n", "t.conf:1: unknown key 'foo'");
    parse_fails("Dns-Ttl = 1\n", "t.conf:1: unknown key 'Dns-Ttl'");
    parse_fails("dns_ttl = 1\n", "t.conf:1: unknown key 'dns_ttl'");
    parse_fails("dns-ttl = 5\n# again\ndns-ttl = 5\n",
                "t.conf:3: key 'dns-ttl': already set on line 1");
    parse_fails("user = \"nobody\n", "t.conf:1: key 'user': missing closing '\"'");
    parse_fails("user = \"no\"body\n", "t.conf:1: key 'user': text after the closing '\"'");
    parse_fails("dns-ttl = 10# seconds\n",
                "t.conf:1: key 'dns-ttl': '#' inside a value (quote the value, or put a space "
                "before a comment)");
    parse_fails("log-file = /var/log/x#1\n",
                "t.conf:1: key 'log-file': '#' inside a value (quote the value, or put a space "
                "before a comment)");
    parse_fails("user =\n", "t.conf:1: key 'user': empty value");
    parse_fails("user = \"\"\n", "t.conf:1: key 'user': empty value");
    parse_fails("user = # nobody\n", "t.conf:1: key 'user': empty value");
}

static void test_bad_bytes(void **unused)
{
    static const char with_nul[] = "dns-ttl = 5\nuser = a\0b\n";
    struct dj_adminconf cfg = defaults();
    dj_error_t err = NULL;
    char *big;

    (void)unused;
    assert_int_equal(dj_adminconf_parse(&cfg, "t.conf", with_nul, sizeof(with_nul) - 1, &err), -1);
    assert_string_equal(dj_error_msg(&err), "t.conf:2: NUL byte");
    dj_error_release(&err);
    parse_fails("dns-ttl = 5\x1b[2J\n", "t.conf:1: control character 0x1b");
    parse_fails("dns-ttl = 5\x7f\n", "t.conf:1: control character 0x7f");
    parse_fails("dns-ttl = 5\rx\n", "t.conf:1: control character 0x0d");

    /* 4096 bytes in a line are fine, 4097 are not (the newline does not count). */
    big = malloc(DJ_ADMINCONF_MAX_BYTES + 2);
    assert_non_null(big);
    memset(big, ' ', DJ_ADMINCONF_MAX_LINE);
    big[0] = '#';
    strcpy(big + DJ_ADMINCONF_MAX_LINE, "\ndns-ttl = 6\n");
    parse_ok(&cfg, big);
    assert_int_equal(cfg.dns_ttl, 6);
    memset(big, ' ', DJ_ADMINCONF_MAX_LINE + 1);
    big[0] = '#';
    strcpy(big + DJ_ADMINCONF_MAX_LINE + 1, "\n");
    parse_fails(big, "t.conf:1: line longer than 4096 bytes");

    /* 64 KiB in all. */
    memset(big, '\n', DJ_ADMINCONF_MAX_BYTES + 1);
    big[DJ_ADMINCONF_MAX_BYTES + 1] = '\0';
    parse_fails(big, "t.conf: larger than 65536 bytes");
    big[DJ_ADMINCONF_MAX_BYTES] = '\0';
    parse_ok(&cfg, big);
    free(big);
    dj_adminconf_free(&cfg);

    /* No name, no buffer. */
    cfg = defaults();
    assert_int_equal(dj_adminconf_parse(&cfg, NULL, NULL, 0, &err), 0);
    assert_int_equal(dj_adminconf_parse(&cfg, NULL, "x = 1", 5, &err), -1);
    assert_string_equal(dj_error_msg(&err), "(config):1: unknown key 'x'");
    dj_error_release(&err);
    dj_adminconf_free(&cfg);
}

static void test_values(void **unused)
{
    (void)unused;
    parse_fails("sinkhole-ipv4 = none\n",
                "t.conf:1: key 'sinkhole-ipv4': cannot be unset; A queries need an answer");
    parse_fails("sinkhole-ipv4 = 6.6.6\n",
                "t.conf:1: key 'sinkhole-ipv4': \"6.6.6\" is not an IPv4 address");
    parse_fails("sinkhole-ipv4 = ::1\n",
                "t.conf:1: key 'sinkhole-ipv4': \"::1\" is not an IPv4 address");
    parse_fails("sinkhole-ipv4 = 0.0.0.0\n",
                "t.conf:1: key 'sinkhole-ipv4': 0.0.0.0 cannot be a sinkhole address "
                "(unspecified, broadcast or multicast)");
    parse_fails("sinkhole-ipv4 = 255.255.255.255\n",
                "t.conf:1: key 'sinkhole-ipv4': 255.255.255.255 cannot be a sinkhole address "
                "(unspecified, broadcast or multicast)");
    parse_fails("sinkhole-ipv4 = 224.0.0.1\n",
                "t.conf:1: key 'sinkhole-ipv4': 224.0.0.1 cannot be a sinkhole address "
                "(unspecified, broadcast or multicast)");
    parse_fails("sinkhole-ipv6 = 6.6.6.6\n",
                "t.conf:1: key 'sinkhole-ipv6': \"6.6.6.6\" is not an IPv6 address (or \"none\")");
    parse_fails("sinkhole-ipv6 = ::\n", "t.conf:1: key 'sinkhole-ipv6': :: cannot be a sinkhole "
                                        "address (unspecified or multicast)");
    parse_fails("sinkhole-ipv6 = ff02::1\n", "t.conf:1: key 'sinkhole-ipv6': ff02::1 cannot be a "
                                             "sinkhole address (unspecified or multicast)");

    parse_fails("dns-ttl = 86401\n",
                "t.conf:1: key 'dns-ttl': \"86401\" is not a number in 0..86400");
    parse_fails("dns-ttl = -1\n", "t.conf:1: key 'dns-ttl': \"-1\" is not a number in 0..86400");
    parse_fails("dns-ttl = +1\n", "t.conf:1: key 'dns-ttl': \"+1\" is not a number in 0..86400");
    parse_fails("dns-ttl = 5s\n", "t.conf:1: key 'dns-ttl': \"5s\" is not a number in 0..86400");
    parse_fails("dns-ttl = 0x10\n",
                "t.conf:1: key 'dns-ttl': \"0x10\" is not a number in 0..86400");
    parse_fails("dns-ttl = 99999999999999999999999\n",
                "t.conf:1: key 'dns-ttl': \"99999999999999999999999\" is not a number in 0..86400");
    parse_fails("log-rate = 1000001\n",
                "t.conf:1: key 'log-rate': \"1000001\" is not a number in 0..1000000");
    parse_fails("log-burst = 0\n",
                "t.conf:1: key 'log-burst': \"0\" is not a number in 1..1000000");
    parse_fails("ready-timeout-ms = 99\n",
                "t.conf:1: key 'ready-timeout-ms': \"99\" is not a number in 100..60000");
    parse_fails("ready-timeout-ms = 60001\n",
                "t.conf:1: key 'ready-timeout-ms': \"60001\" is not a number in 100..60000");

    parse_fails(
        "default-enable = True\n",
        "t.conf:1: key 'default-enable': \"True\" is not a boolean (true, false, yes, no, 1 "
        "or 0)");
    parse_fails("allow-cap-net-admin = on\n",
                "t.conf:1: key 'allow-cap-net-admin': \"on\" is not a boolean (true, false, yes, "
                "no, 1 or 0)");
    parse_fails("allow-wildcard-all = 2\n",
                "t.conf:1: key 'allow-wildcard-all': \"2\" is not a boolean (true, false, yes, no, "
                "1 or 0)");

    parse_fails("user = -nobody\n", "t.conf:1: key 'user': \"-nobody\" is not a user name "
                                    "([A-Za-z0-9_.-], at most 32, not starting with '-')");
    parse_fails("user = a b\n", "t.conf:1: key 'user': \"a b\" is not a user name "
                                "([A-Za-z0-9_.-], at most 32, not starting with '-')");
    parse_fails("user = abcdefghijabcdefghijabcdefghijabc\n",
                "t.conf:1: key 'user': \"abcdefghijabcdefghijabcdefghijabc\" is not a user name "
                "([A-Za-z0-9_.-], at most 32, not starting with '-')");
    parse_fails("log-file = dnsjail.log\n",
                "t.conf:1: key 'log-file': \"dnsjail.log\" is not an absolute path");
    parse_fails("state-dir = run/dnsjail\n",
                "t.conf:1: key 'state-dir': \"run/dnsjail\" is not an absolute path");
    parse_fails("libexec-dir = ~/bin\n",
                "t.conf:1: key 'libexec-dir': \"~/bin\" is not an absolute path");
}

static void test_ports(void **unused)
{
    struct dj_adminconf cfg = defaults();

    (void)unused;
    parse_fails("dns-port = 0\n", "t.conf:1: key 'dns-port': \"0\" is not a number in 1..65535");
    parse_fails("proxy-http-port = 65536\n",
                "t.conf:1: key 'proxy-http-port': \"65536\" is not a number in 1..65535");
    parse_fails("proxy-tls-port = 443x\n",
                "t.conf:1: key 'proxy-tls-port': \"443x\" is not a number in 1..65535");
    /* Clashing with a default port, and with a port set in the file. */
    parse_fails("dns-port = 15380\n", "t.conf:1: key 'dns-port': port 15380 is also used by "
                                      "proxy-http-port");
    parse_fails("proxy-tls-port = 15353\n",
                "t.conf:1: key 'proxy-tls-port': port 15353 is also used by dns-port");
    parse_fails("dns-port = 1000\nuser = x\nproxy-tls-port = 1000\n",
                "t.conf:3: key 'proxy-tls-port': port 1000 is also used by dns-port");
    parse_fails("proxy-tls-port = 1000\ndns-port = 1000\n",
                "t.conf:2: key 'dns-port': port 1000 is also used by proxy-tls-port");
    /* Swapping two ports in one file is fine. */
    parse_ok(&cfg, "proxy-http-port = 15443\nproxy-tls-port = 15380\n");
    assert_int_equal(cfg.proxy_http_port, 15443);
    assert_int_equal(cfg.proxy_tls_port, 15380);
    parse_ok(&cfg, "dns-port = 65535\nproxy-http-port = 1\n");
    assert_int_equal(cfg.dns_port, 65535);
    dj_adminconf_free(&cfg);
}

static void test_virtual_keys(void **unused)
{
    struct dj_adminconf cfg = defaults();

    (void)unused;
    assert_string_equal(cfg.virtual_ipv4, "198.18.0.0/15");
    assert_string_equal(cfg.virtual_ipv6, "fd64:6a69:6c00::/64");
    assert_int_equal(cfg.virtual_max_names, 4096);
    assert_int_equal(cfg.proxy_virtual_port, 15400);
    parse_ok(&cfg, "virtual-ipv4 = 100.100.0.0/16\nvirtual-ipv6 = fd00:1::/120\n"
                   "virtual-max-names = 10\nproxy-virtual-port = 2000\n");
    assert_string_equal(cfg.virtual_ipv4, "100.100.0.0/16");
    assert_string_equal(cfg.virtual_ipv6, "fd00:1::/120");
    assert_int_equal(cfg.virtual_max_names, 10);
    assert_int_equal(cfg.proxy_virtual_port, 2000);
    dj_adminconf_free(&cfg);

    parse_fails("virtual-ipv4 = 198.18.0.0\n",
                "t.conf:1: key 'virtual-ipv4': '198.18.0.0' is not ADDRESS/PREFIX");
    parse_fails("virtual-ipv4 = 198.18.0.1/15\n",
                "t.conf:1: key 'virtual-ipv4': '198.18.0.1' has bits set after the prefix /15");
    parse_fails("virtual-ipv4 = 198.18.0.0/31\n",
                "t.conf:1: key 'virtual-ipv4': prefix /31 leaves no room for names (at most /30)");
    parse_fails("virtual-ipv4 = fd00::/64\n",
                "t.conf:1: key 'virtual-ipv4': 'fd00::' is not an IPv4 address");
    parse_fails("virtual-ipv6 = 198.18.0.0/15\n",
                "t.conf:1: key 'virtual-ipv6': '198.18.0.0' is not an IPv6 address");
    parse_fails("virtual-ipv6 = fd00::/1x\n",
                "t.conf:1: key 'virtual-ipv6': '1x' is not a prefix length");
    parse_fails("virtual-max-names = 0\n",
                "t.conf:1: key 'virtual-max-names': \"0\" is not a number in 1..65536");
    parse_fails("virtual-max-names = 65537\n",
                "t.conf:1: key 'virtual-max-names': \"65537\" is not a number in 1..65536");
    /* The virtual port shares the loopback with the others. */
    parse_fails("proxy-virtual-port = 15353\n",
                "t.conf:1: key 'proxy-virtual-port': port 15353 is also used by dns-port");
    parse_fails("proxy-virtual-port = 1000\nproxy-tls-port = 1000\n",
                "t.conf:2: key 'proxy-tls-port': port 1000 is also used by proxy-virtual-port");
}

static void test_foreign_socket_keys(void **unused)
{
    struct dj_adminconf cfg = defaults();

    (void)unused;
    parse_ok(&cfg, "foreign-sockets = refuse\n"
                   "allow-foreign-socket = 127.0.0.11:40000, [::1]:5353 0.0.0.0:9\n");
    assert_int_equal(cfg.foreign_sockets, DJ_FOREIGN_SOCKETS_REFUSE);
    assert_string_equal(cfg.allow_foreign_sockets, "127.0.0.11:40000, [::1]:5353 0.0.0.0:9");
    parse_ok(&cfg, "foreign-sockets = block\n");
    assert_int_equal(cfg.foreign_sockets, DJ_FOREIGN_SOCKETS_BLOCK);
    assert_string_equal(cfg.allow_foreign_sockets, "127.0.0.11:40000, [::1]:5353 0.0.0.0:9");
    dj_adminconf_free(&cfg);

    parse_fails("foreign-sockets = allow\n",
                "t.conf:1: key 'foreign-sockets': \"allow\" is not block or refuse");
    parse_fails("foreign-sockets = Block\n",
                "t.conf:1: key 'foreign-sockets': \"Block\" is not block or refuse");
    static const char *const bad[] = {
        "127.0.0.11",       /* no port */
        "127.0.0.11:",      /* empty port */
        "127.0.0.11:0",     /* port 0 */
        "127.0.0.11:65536", /* too large */
        "127.0.0.11:+80",   /* not digits */
        "::1:53",           /* IPv6 without brackets */
        "[::1]53",          /* no colon after the bracket */
        "[127.0.0.1]:53",   /* IPv4 in brackets */
        "[::1:53",          /* no closing bracket */
        "dockerd:53",       /* a name, not an address */
        ":53",              /* no address */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *text = NULL, *want = NULL;

        assert_true(asprintf(&text, "allow-foreign-socket = %s\n", bad[i]) > 0);
        assert_true(asprintf(&want,
                             "t.conf:1: key 'allow-foreign-socket': \"%s\" is not a socket "
                             "address (ADDR:PORT or [V6ADDR]:PORT)",
                             bad[i]) > 0);
        parse_fails(text, want);
        free(text);
        free(want);
    }
}

static void test_container_dns_keys(void **unused)
{
    struct dj_adminconf cfg = defaults();

    (void)unused;
    assert_null(cfg.container_dns); /* off by default */
    assert_null(cfg.container_dns_names);
    assert_false(cfg.allow_container_networks);
    parse_ok(&cfg, "container-dns = 127.0.0.11\n"
                   "container-dns-names = *, db.svc.test *.internal.test\n"
                   "allow-container-networks = true\n");
    assert_string_equal(cfg.container_dns, "127.0.0.11");
    assert_string_equal(cfg.container_dns_names, "*, db.svc.test *.internal.test");
    assert_true(cfg.allow_container_networks);
    parse_ok(&cfg, "container-dns = fd00::53\n");
    assert_string_equal(cfg.container_dns, "fd00::53");
    dj_adminconf_free(&cfg);

    parse_fails("container-dns = docker\n",
                "t.conf:1: key 'container-dns': \"docker\" is not an IPv4 or IPv6 address");
    parse_fails("container-dns = 127.0.0.11:53\n",
                "t.conf:1: key 'container-dns': \"127.0.0.11:53\" is not an IPv4 or IPv6 "
                "address");
    parse_fails("container-dns = 127.0.0.11\ncontainer-dns-names = a..b\n",
                "t.conf:2: key 'container-dns-names': \"a..b\": empty label (entries are *, "
                "NAME or *.SUFFIX)");
    parse_fails("container-dns = 127.0.0.11\ncontainer-dns-names = **\n",
                "t.conf:2: key 'container-dns-names': \"**\": not a zone name (letters, digits, "
                "'-', '_' and dots) (entries are *, NAME or *.SUFFIX)");
    parse_fails("container-dns-names = postgres\n",
                "t.conf: container-dns-names needs container-dns");
    parse_fails("container-dns = 127.0.0.11\nallow-cap-net-raw = true\n",
                "t.conf: container-dns and allow-cap-net-raw exclude each other (with "
                "CAP_NET_RAW a container can set the mark that lets the hook's sockets reach "
                "the engine's resolver)");
}

static void test_unchanged_on_error(void **unused)
{
    struct dj_adminconf cfg = defaults();
    const char *text = "user = someone\nlog-file = /x\nsinkhole-ipv6 = 2001:db8::1\n"
                       "default-enable = false\nbogus = 1\n";
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(dj_adminconf_parse(&cfg, "t.conf", text, strlen(text), &err), -1);
    assert_string_equal(dj_error_msg(&err), "t.conf:5: unknown key 'bogus'");
    dj_error_release(&err);
    assert_string_equal(cfg.run_as_user, "nobody");
    assert_string_equal(cfg.log_file, DJ_LOCALSTATEDIR "/log/dnsjail/dnsjail.log");
    assert_false(cfg.have_sinkhole6);
    assert_true(cfg.default_enable);
    dj_adminconf_free(&cfg);
}

/* ---- files ----------------------------------------------------------------------------- */

static char tmpdir[64];

static int make_tmpdir(void **unused)
{
    (void)unused;
    strcpy(tmpdir, "/tmp/test-adminconf.XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **unused)
{
    char cmd[128];

    (void)unused;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *tmp_path(const char *name)
{
    char *path = NULL;

    assert_true(asprintf(&path, "%s/%s", tmpdir, name) > 0);
    return path;
}

static char *write_file(const char *name, const char *text, mode_t mode)
{
    char *path = tmp_path(name);
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

/* Loads PATH and expects a message that starts with PATH and contains WANT. */
static void load_fails(const char *path, bool missing_ok, const char *want)
{
    struct dj_adminconf cfg = defaults();
    dj_error_t err = NULL;

    assert_int_equal(dj_adminconf_load(&cfg, path, missing_ok, &err), -1);
    assert_memory_equal(dj_error_msg(&err), path, strlen(path));
    if (strstr(dj_error_msg(&err), want) == NULL) {
        print_error("message \"%s\" lacks \"%s\"\n", dj_error_msg(&err), want);
        fail();
    }
    dj_error_release(&err);
    assert_string_equal(cfg.run_as_user, "nobody");
    dj_adminconf_free(&cfg);
}

static void test_load(void **unused)
{
    struct dj_adminconf cfg = defaults();
    dj_error_t err = NULL;
    char *good = write_file("good.conf", "user = daemon\ndns-ttl = 30\n", 0644);
    char *bad = write_file("bad.conf", "\nuser = daemon\nttl = 30\n", 0644);
    char *missing = tmp_path("missing.conf");
    char *link = tmp_path("link.conf");

    (void)unused;
    assert_int_equal(dj_adminconf_load(&cfg, missing, true, &err), 0);
    assert_string_equal(cfg.run_as_user, "nobody");
    load_fails(missing, false, ": cannot open: No such file or directory");

    assert_int_equal(dj_adminconf_load(&cfg, good, false, &err), 0);
    assert_string_equal(cfg.run_as_user, "daemon");
    assert_int_equal(cfg.dns_ttl, 30);
    dj_adminconf_free(&cfg);

    /* A symbolic link to a regular file is followed. */
    assert_int_equal(symlink(good, link), 0);
    cfg = defaults();
    assert_int_equal(dj_adminconf_load(&cfg, link, false, &err), 0);
    assert_int_equal(cfg.dns_ttl, 30);
    dj_adminconf_free(&cfg);

    load_fails(bad, false, ":3: unknown key 'ttl'");
    load_fails(bad, true, ":3: unknown key 'ttl'");
    free(good);
    free(bad);
    free(missing);
    free(link);
}

static void test_load_refuses(void **unused)
{
    char *dir = tmp_path("dir.conf");
    char *fifo = tmp_path("fifo.conf");
    char *world = write_file("world.conf", "user = x\n", 0646);
    char *group = write_file("group.conf", "user = x\n", 0664);
    char *big_path = tmp_path("big.conf");
    char *not_dir = tmp_path("world.conf/x");
    char *big = malloc(DJ_ADMINCONF_MAX_BYTES + 2);
    struct dj_adminconf cfg = defaults();
    dj_error_t err = NULL;

    (void)unused;
    assert_int_equal(mkdir(dir, 0755), 0);
    load_fails(dir, true, ": not a regular file");
    /* Opening a FIFO must neither block nor be read. */
    assert_int_equal(mkfifo(fifo, 0644), 0);
    load_fails(fifo, false, ": not a regular file");
    load_fails(world, false, ": writable by others than root (mode 0646)");
    /* Group-writable is refused unless the group is root. */
    if (chown(group, 0, 0) == 0) {
        assert_int_equal(dj_adminconf_load(&cfg, group, false, &err), 0);
        assert_int_equal(chown(group, 0, 12345), 0);
        load_fails(group, false, ": writable by others than root (mode 0664)");
    }
    if (getuid() == 0) {
        assert_int_equal(chmod(world, 0644), 0);
        assert_int_equal(chown(world, 12345, 0), 0);
        load_fails(world, false, ": owned by uid 12345; must be owned by root");
    }
    load_fails(not_dir, true, ": cannot open: Not a directory");

    assert_non_null(big);
    memset(big, '\n', DJ_ADMINCONF_MAX_BYTES + 1);
    big[DJ_ADMINCONF_MAX_BYTES + 1] = '\0';
    free(write_file("big.conf", big, 0644));
    load_fails(big_path, false, ": larger than 65536 bytes");
    big[DJ_ADMINCONF_MAX_BYTES] = '\0';
    free(write_file("big.conf", big, 0644));
    assert_int_equal(dj_adminconf_load(&cfg, big_path, false, &err), 0);

    dj_adminconf_free(&cfg);
    free(big);
    free(dir);
    free(fifo);
    free(world);
    free(group);
    free(big_path);
    free(not_dir);
}

/* ---- the installed example ------------------------------------------------------------ */

/* Appends TEXT[0..len) to the growing buffer *out, replacing @name@ placeholders as make does. */
static void append_substituted(char **out, size_t *out_len, const char *text, size_t len)
{
    static const struct {
        const char *placeholder, *value;
    } subst[] = {
        {"@pkglibexecdir@", DJ_LIBEXECDIR},
        {"@pkgsysconfdir@", DJ_SYSCONFDIR},
        {"@localstatedir@", DJ_LOCALSTATEDIR},
        {"@runstatedir@", DJ_RUNSTATEDIR},
    };

    for (size_t i = 0; i < len;) {
        const char *piece = text + i;
        size_t piece_len = 1, skip = 1;

        for (size_t s = 0; s < sizeof(subst) / sizeof(subst[0]); s++) {
            size_t pl = strlen(subst[s].placeholder);

            if (len - i >= pl && memcmp(text + i, subst[s].placeholder, pl) == 0) {
                piece = subst[s].value;
                piece_len = strlen(piece);
                skip = pl;
                break;
            }
        }
        *out = realloc(*out, *out_len + piece_len + 1);
        assert_non_null(*out);
        memcpy(*out + *out_len, piece, piece_len);
        *out_len += piece_len;
        (*out)[*out_len] = '\0';
        i += skip;
    }
}

/* oci-config/dnsjail.conf.in shows every key with its default: with the placeholders
 * substituted and every "#key = value" line uncommented it must parse to the defaults. */
/* The proxy's upstream keys: lists checked item by item, NULL by default. */
static void test_upstream_keys(void **unused)
{
    struct dj_adminconf cfg = defaults();

    (void)unused;
    assert_null(cfg.upstream_resolvers);
    assert_null(cfg.upstream_allow);
    assert_int_equal(cfg.proxy_max_connections, 2048);
    parse_ok(&cfg, "upstream-resolvers = 192.0.2.1, [2001:db8::1]:5353 198.51.100.1:53\n"
                   "upstream-allow = 10.0.0.0/8, ::1 fd00::/8\n"
                   "proxy-max-connections = 100\n");
    assert_string_equal(cfg.upstream_resolvers, "192.0.2.1, [2001:db8::1]:5353 198.51.100.1:53");
    assert_string_equal(cfg.upstream_allow, "10.0.0.0/8, ::1 fd00::/8");
    assert_int_equal(cfg.proxy_max_connections, 100);
    dj_adminconf_free(&cfg);

    parse_ok(&cfg,
             "upstream-resolvers = \"tls://192.0.2.53#dns.example;pin-sha256="
             "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= tcp://[2001:db8::1] "
             "udp://192.0.2.1:5353,[2001:db8::1] 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5\"\n");
    dj_adminconf_free(&cfg);
    parse_fails("upstream-resolvers = 192.0.2.1:99999\n",
                "t.conf:1: key 'upstream-resolvers': \"192.0.2.1:99999\" is not an upstream "
                "server: port not in 1..65535 (see docs/CONFIG.md)");
    parse_fails("upstream-resolvers = resolver.example\n",
                "t.conf:1: key 'upstream-resolvers': \"resolver.example\" is not an upstream "
                "server: expected an IP address: ADDR, IPV4:PORT or [IPV6]:PORT (no host names) "
                "(see docs/CONFIG.md)");
    parse_fails("upstream-resolvers = tls://192.0.2.53\n",
                "t.conf:1: key 'upstream-resolvers': \"tls://192.0.2.53\" is not an upstream "
                "server: tls:// needs #AUTH-NAME, pin-sha256= or both: nothing would "
                "authenticate the server (see docs/CONFIG.md)");
    parse_fails("upstream-resolvers = \"tls://192.0.2.53#dns.example;pin-sha256=AAAA\"\n",
                "t.conf:1: key 'upstream-resolvers': \"tls://192.0.2.53#dns.example;"
                "pin-sha256=AAAA\" is not an upstream server: pin-sha256 is not the base64 (44 "
                "characters, with '=') of 32 bytes (see docs/CONFIG.md)");
    parse_fails("upstream-resolvers = ftp://192.0.2.53\n",
                "t.conf:1: key 'upstream-resolvers': \"ftp://192.0.2.53\" is not an upstream "
                "server: unknown scheme (expected udp://, tcp:// or tls://) (see docs/CONFIG.md)");
    parse_fails("upstream-resolvers = 192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5 "
                "192.0.2.6 192.0.2.7 192.0.2.8 192.0.2.9\n",
                "t.conf:1: key 'upstream-resolvers': expected 1 to 8 entries, got 9");
    parse_fails("upstream-resolvers = ,\n",
                "t.conf:1: key 'upstream-resolvers': expected 1 to 8 entries, got 0");
    parse_fails("upstream-allow = 10.0.0.0/33\n",
                "t.conf:1: key 'upstream-allow': \"10.0.0.0/33\" is not a network (ADDR or "
                "ADDR/PREFIX)");
    parse_fails("upstream-allow = fd00::/129\n",
                "t.conf:1: key 'upstream-allow': \"fd00::/129\" is not a network (ADDR or "
                "ADDR/PREFIX)");
    parse_fails("allow = foo..bar\n", "t.conf:1: key 'allow': entry \"foo..bar\": empty label");
    parse_fails("annotation-allow-within = 203.0.113.1/24\n",
                "t.conf:1: key 'annotation-allow-within': entry \"203.0.113.1/24\": host bits "
                "set; did you mean 203.0.113.0/24?");
    parse_ok(&cfg, "allow-socket-mounts = /run/podman/podman.sock, /srv/run/ /\n");
    assert_string_equal(cfg.allow_socket_mounts, "/run/podman/podman.sock, /srv/run/ /");
    dj_adminconf_free(&cfg);
    parse_fails("allow-socket-mounts = run/docker.sock\n",
                "t.conf:1: key 'allow-socket-mounts': \"run/docker.sock\" is not an absolute "
                "path without \".\" or \"..\"");
    parse_fails("allow-socket-mounts = /var/run/../run/docker.sock\n",
                "t.conf:1: key 'allow-socket-mounts': \"/var/run/../run/docker.sock\" is not an "
                "absolute path without \".\" or \"..\"");
    parse_fails("allow-socket-mounts = /run//docker.sock\n",
                "t.conf:1: key 'allow-socket-mounts': \"/run//docker.sock\" is not an absolute "
                "path without \".\" or \"..\"");
    parse_fails("proxy-max-connections = 0\n",
                "t.conf:1: key 'proxy-max-connections': \"0\" is not a number in 1..65536");
}

static void test_example_file(void **unused)
{
    const char *srcdir = getenv("top_srcdir");
    char *path = NULL, *text = NULL, *line = NULL, *uncommented = NULL;
    size_t cap = 0, text_len = 0, uncommented_len = 0, keys_seen = 0;
    struct dj_adminconf cfg = defaults(), want = defaults();
    dj_error_t err = NULL;
    FILE *f;

    (void)unused;
    if (srcdir == NULL)
        skip();
    assert_true(asprintf(&path, "%s/oci-config/dnsjail.conf.in", srcdir) > 0);
    f = fopen(path, "r");
    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        append_substituted(&text, &text_len, line, strlen(line));
        if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z' && strstr(line, " = ") != NULL) {
            append_substituted(&uncommented, &uncommented_len, line + 1, strlen(line + 1));
            /* profile.NAME.* are examples of keys the table does not list, counted below. */
            if (strncmp(line + 1, "profile.", strlen("profile.")) != 0)
                keys_seen++;
        }
    }
    fclose(f);
    free(line);
    /* Every key of the configuration appears once, with its default, in the example. */
    for (size_t i = 0; dj_adminconf_key_name(i) != NULL; i++) {
        char *entry = NULL;

        assert_true(asprintf(&entry, "\n%s = ", dj_adminconf_key_name(i)) > 0);
        if (strstr(uncommented, entry) == NULL &&
            strncmp(uncommented, entry + 1, strlen(entry + 1)) != 0)
            fail_msg("key %s is not in oci-config/dnsjail.conf.in", dj_adminconf_key_name(i));
        free(entry);
        keys_seen--;
    }
    assert_int_equal(keys_seen, 0);

    /* As installed (everything commented out) and with every key set to the default shown. */
    assert_int_equal(dj_adminconf_parse(&cfg, path, text, text_len, &err), 0);
    if (dj_adminconf_parse(&cfg, path, uncommented, uncommented_len, &err) < 0) {
        print_error("%s\n", dj_error_msg(&err));
        fail();
    }
    assert_memory_equal(&cfg.sinkhole4, &want.sinkhole4, sizeof(want.sinkhole4));
    assert_int_equal(cfg.have_sinkhole6, want.have_sinkhole6);
    assert_int_equal(cfg.dns_ttl, want.dns_ttl);
    assert_int_equal(cfg.n_profiles, 1);
    assert_non_null(dj_adminconf_profile(&cfg, "web"));
    assert_string_equal(cfg.run_as_user, want.run_as_user);
    assert_string_equal(cfg.log_file, want.log_file);
    assert_int_equal(cfg.log_rate, want.log_rate);
    assert_int_equal(cfg.log_burst, want.log_burst);
    assert_string_equal(cfg.state_dir, want.state_dir);
    assert_string_equal(cfg.libexec_dir, want.libexec_dir);
    assert_int_equal(cfg.dns_port, want.dns_port);
    assert_int_equal(cfg.proxy_http_port, want.proxy_http_port);
    assert_int_equal(cfg.proxy_tls_port, want.proxy_tls_port);
    assert_int_equal(cfg.proxy_max_connections, want.proxy_max_connections);
    assert_int_equal(cfg.proxy_virtual_port, want.proxy_virtual_port);
    assert_string_equal(cfg.virtual_ipv4, want.virtual_ipv4);
    assert_string_equal(cfg.virtual_ipv6, want.virtual_ipv6);
    assert_int_equal(cfg.virtual_max_names, want.virtual_max_names);
    /* Unset by default: the example shows the syntax with documentation addresses. */
    assert_string_equal(cfg.upstream_resolvers, "192.0.2.53, [2001:db8::53]:53");
    assert_string_equal(cfg.upstream_allow, "10.0.0.0/8");
    assert_string_equal(cfg.admin_allow, "pypi.example.test, *.pythonhosted.example.test");
    assert_string_equal(cfg.allow_ceiling, "*.corp.example.test, 203.0.113.0/24");
    assert_string_equal(cfg.forward_zones,
                        "cluster.local corp.example.test=192.0.2.53|[2001:db8::53]:53");
    assert_string_equal(cfg.forward_ceiling, "svc.example.test=192.0.2.53");
    assert_int_equal(cfg.forward_cache_entries, want.forward_cache_entries);
    assert_int_equal(cfg.forward_ttl_floor, want.forward_ttl_floor);
    assert_int_equal(cfg.forward_ttl_ceiling, want.forward_ttl_ceiling);
    assert_int_equal(cfg.forward_rate, want.forward_rate);
    assert_int_equal(cfg.forward_burst, want.forward_burst);
    assert_int_equal(cfg.ready_timeout_ms, want.ready_timeout_ms);
    assert_int_equal(cfg.default_enable, want.default_enable);
    assert_int_equal(cfg.allow_cap_net_admin, want.allow_cap_net_admin);
    assert_int_equal(cfg.allow_cap_net_raw, want.allow_cap_net_raw);
    assert_int_equal(cfg.allow_af_xdp, want.allow_af_xdp);
    assert_int_equal(cfg.allow_wildcard_all, want.allow_wildcard_all);
    assert_int_equal(cfg.foreign_sockets, want.foreign_sockets);
    assert_string_equal(cfg.allow_foreign_sockets, "192.0.2.10:5000");
    assert_int_equal(cfg.allow_inbound_udp, want.allow_inbound_udp);
    assert_string_equal(cfg.container_dns, "127.0.0.11");
    assert_string_equal(cfg.container_dns_names, "*, db.svc.example.test");
    assert_int_equal(cfg.allow_container_networks, want.allow_container_networks);
    dj_adminconf_free(&cfg);
    dj_adminconf_free(&want);
    free(text);
    free(uncommented);
    free(path);
}

/* profile.NAME.*: checked at load like the global keys they resemble; a later file that names
 * profiles replaces the earlier ones, one that names none keeps them. */
static void test_profiles(void **unused)
{
    struct dj_adminconf cfg = defaults();
    const struct dj_profile *web, *learn;

    (void)unused;
    parse_ok(&cfg, "profile.web.allow = github.com, 203.0.113.0/24:5432\n"
                   "profile.learn.mode = audit\n"
                   "profile.web.forward = svc.test=198.51.100.53\n"
                   "profile.web.mode = enforce\n");
    assert_int_equal(cfg.n_profiles, 2);
    web = dj_adminconf_profile(&cfg, "web");
    learn = dj_adminconf_profile(&cfg, "learn");
    assert_non_null(web);
    assert_non_null(learn);
    assert_null(dj_adminconf_profile(&cfg, "we"));
    assert_string_equal(web->allow, "github.com, 203.0.113.0/24:5432");
    assert_string_equal(web->forward, "svc.test=198.51.100.53");
    assert_false(web->audit);
    assert_true(learn->audit);
    assert_null(learn->allow);
    parse_ok(&cfg, "dns-ttl = 7\n");
    assert_int_equal(cfg.n_profiles, 2);
    parse_ok(&cfg, "profile.ci.allow = pypi.org\n");
    assert_int_equal(cfg.n_profiles, 1);
    assert_null(dj_adminconf_profile(&cfg, "web"));
    assert_string_equal(dj_adminconf_profile(&cfg, "ci")->allow, "pypi.org");
    dj_adminconf_free(&cfg);

    parse_fails("profile.web.allow = a.test\nprofile.web.allow = b.test\n",
                "t.conf:2: key 'profile.web.allow': already set on line 1");
    parse_fails("profile.Web.allow = a.test\n",
                "t.conf:1: unknown key 'profile.Web.allow' (a profile key is profile.NAME.allow, "
                ".forward or .mode; NAME is [a-z0-9-], up to 63)");
    parse_fails("profile.web = a.test\n",
                "t.conf:1: unknown key 'profile.web' (a profile key is profile.NAME.allow, "
                ".forward or .mode; NAME is [a-z0-9-], up to 63)");
    parse_fails("profile.web.enable = true\n",
                "t.conf:1: unknown key 'profile.web.enable' (a profile has allow, forward and "
                "mode)");
    parse_fails("profile.web.mode = learn\n",
                "t.conf:1: key 'profile.web.mode': unknown mode \"learn\" (\"enforce\" or "
                "\"audit\")");
    parse_fails("profile.web.allow = http://a.test\n",
                "t.conf:1: key 'profile.web.allow': entry \"http://a.test\": port is not a "
                "number");
    assert_true(dj_adminconf_profile_name_ok("ci-1", 4));
    assert_false(dj_adminconf_profile_name_ok("-ci", 3));
    assert_false(dj_adminconf_profile_name_ok("", 0));
    assert_false(dj_adminconf_profile_name_ok("a.b", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_key),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_bad_bytes),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_ports),
        cmocka_unit_test(test_unchanged_on_error),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_load_refuses),
        cmocka_unit_test(test_upstream_keys),
        cmocka_unit_test(test_virtual_keys),
        cmocka_unit_test(test_foreign_socket_keys),
        cmocka_unit_test(test_container_dns_keys),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_profiles),
    };

    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
