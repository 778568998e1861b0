/* dj-resolve: looks names up with lib/dns/resolver.c on a small epoll loop, as the proxy will,
 * and prints one line per lookup: NAME STATUS ttl=SECONDS cache=yes|no ADDRESS...
 * With --raw, asks each name with dj_resolver_query() (the stub's forwarding path) for
 * --type/--class and prints: NAME STATUS rcode=RCODE answers=N RDATA... (A, AAAA and TXT
 * data as text, other types as TYPE:HEX), sorted, so it compares with "dig +short".
 * All names of a round are looked up at once (so identical ones coalesce); --repeat runs
 * more rounds, which the cache answers. Exit status 0 when every lookup found addresses, 3
 * when some did not, 1 on failure, 2 on misuse. For the shell tests and for people. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "dns/dnsanswer.h"
#include "dns/dnswire.h"
#include "base/error.h"
#include "daemon/jsonlog.h"
#include "dns/resolver.h"

#define MAX_NAMES 256
#define MAX_RDATA_TEXT 64
#define RAW_TEXT 4096

struct pending {
    const char *name;
    bool done;
    struct dj_resolve_result result;
    char raw[RAW_TEXT]; /* --raw: what follows the status */
};

struct options {
    bool raw;
    uint16_t qtype;
    uint16_t qclass;
    int family;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: dj-resolve [--server SERVER]... [--resolv-conf PATH]\n"
                 "                  [--family 4|6|any] [--timeout MS] [--attempts N]\n"
                 "                  [--repeat N] [--interval MS] [--no-cache] [--stats] [--log]\n"
                 "                  [--raw [--type TYPE] [--class N]] NAME...\n"
                 "SERVER: ADDR[:PORT], udp://..., tcp://..., tls://ADDR[:853]#NAME;pin-sha256=...\n"
                 "(docs/CONFIG.md). Without --server, the servers of --resolv-conf (default\n"
                 "/etc/resolv.conf). --log: the resolver's log lines on stderr.\n"
                 "TYPE: A, AAAA, TXT, MX, NS, SOA, CNAME, ANY or a number (default A).\n");
}

static bool parse_uint(const char *option, const char *text, unsigned long max,
                       unsigned long *value)
{
    char *end;

    errno = 0;
    *value = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || *value > max) {
        fprintf(stderr, "dj-resolve: %s: bad number \"%s\"\n", option, text);
        return false;
    }
    return true;
}

static void done_cb(void *ctx, const struct dj_resolve_result *result)
{
    struct pending *p = ctx;

    p->done = true;
    p->result = *result;
}

static void print_result(const struct pending *p, bool raw)
{
    char text[INET6_ADDRSTRLEN];

    if (raw) {
        printf("%s %s%s%s\n", p->name, dj_resolver_status_text(p->result.status),
               p->raw[0] != '\0' ? " " : "", p->raw);
        return;
    }
    printf("%s %s ttl=%u cache=%s", p->name, dj_resolver_status_text(p->result.status),
           (unsigned)p->result.ttl, p->result.from_cache ? "yes" : "no");
    for (size_t i = 0; i < p->result.n_addrs; i++) {
        const struct dj_resolved_addr *a = &p->result.addrs[i];

        if (inet_ntop(a->family, a->addr, text, sizeof(text)) != NULL)
            printf(" %s", text);
    }
    printf("\n");
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static int compare_text(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* One record's data as dig +short shows A, AAAA and TXT; other types as TYPE:HEX. */
static void rdata_text(uint16_t type, const uint8_t *data, size_t len, char *out, size_t size)
{
    size_t used = 0;

    if ((type == DJ_DNS_TYPE_A && len == 4) || (type == DJ_DNS_TYPE_AAAA && len == 16)) {
        inet_ntop(type == DJ_DNS_TYPE_A ? AF_INET : AF_INET6, data, out, (socklen_t)size);
        return;
    }
    if (type == 16) { /* TXT: "string" "string" */
        for (size_t pos = 0; pos < len && used + 4 < size;) {
            size_t n = data[pos++];

            if (pos + n > len)
                break;
            used += (size_t)snprintf(out + used, size - used, "%s\"", used > 0 ? " " : "");
            for (size_t k = 0; k < n && used + 3 < size; k++)
                out[used++] = data[pos + k] >= 0x20 && data[pos + k] < 0x7F && data[pos + k] != '"'
                                  ? (char)data[pos + k]
                                  : '?';
            used += (size_t)snprintf(out + used, size - used, "\"");
            pos += n;
        }
        out[used < size ? used : size - 1] = '\0';
        return;
    }
    used = (size_t)snprintf(out, size, "TYPE%u:", (unsigned)type);
    for (size_t k = 0; k < len && used + 3 < size; k++)
        used += (size_t)snprintf(out + used, size - used, "%02x", data[k]);
}

/* The answer section of MSG (checked by the resolver) as text into P->raw. */
static void describe_raw(struct pending *p, const uint8_t *msg, size_t len)
{
    static char records[64][MAX_RDATA_TEXT];
    uint8_t name[DJ_DNS_MAX_NAME];
    size_t name_len, pos = DJ_DNS_HEADER_SIZE, used, n = 0;
    char rcode[DJ_DNS_RCODE_TEXT_SIZE];
    unsigned an = get16(msg + 6);

    used = (size_t)snprintf(p->raw, sizeof(p->raw), "rcode=%s answers=%u",
                            dj_dns_rcode_text(msg[3] & 0x0F, rcode), an);
    if (dj_dns_read_name(msg, len, &pos, name, &name_len) != NULL)
        return;
    pos += 4;
    for (unsigned i = 0; i < an && n < 64; i++) {
        uint16_t type;
        size_t rdlen;

        if (dj_dns_read_name(msg, len, &pos, name, &name_len) != NULL || len - pos < 10)
            return;
        type = get16(msg + pos);
        rdlen = get16(msg + pos + 8);
        pos += 10;
        if (len - pos < rdlen)
            return;
        rdata_text(type, msg + pos, rdlen, records[n++], MAX_RDATA_TEXT);
        pos += rdlen;
    }
    qsort(records, n, sizeof(records[0]), compare_text);
    for (size_t i = 0; i < n && used < sizeof(p->raw); i++)
        used += (size_t)snprintf(p->raw + used, sizeof(p->raw) - used, " %s", records[i]);
}

static void raw_cb(void *ctx, enum dj_resolve_status status, const uint8_t *msg, size_t len)
{
    struct pending *p = ctx;

    p->done = true;
    memset(&p->result, 0, sizeof(p->result));
    p->result.status = status;
    p->raw[0] = '\0';
    if (msg != NULL)
        describe_raw(p, msg, len);
}

static struct dj_lookup *start(struct dj_resolver *res, const struct options *o, struct pending *p,
                               dj_error_t *err)
{
    uint8_t wire[DJ_DNS_MAX_NAME];
    size_t wire_len;

    if (!o->raw)
        return dj_resolver_lookup(res, p->name, o->family, done_cb, p, err);
    if (dj_dns_name_from_text(p->name, wire, &wire_len) != NULL) {
        dj_error_make(err, 0, "%s: not a name", p->name);
        return NULL;
    }
    return dj_resolver_query(res, wire, wire_len, o->qtype, o->qclass, raw_cb, p, err);
}

/* Looks every name up at once and waits for all of them. Returns false on failure. */
static bool run_round(struct dj_resolver *res, int epfd, char **names, size_t n_names,
                      const struct options *o, struct pending *pending)
{
    size_t left = 0;

    for (size_t i = 0; i < n_names; i++) {
        dj_error_t err = NULL;

        pending[i].name = names[i];
        pending[i].done = false;
        pending[i].raw[0] = '\0';
        if (start(res, o, &pending[i], &err) == NULL) {
            /* Shown as the status the lookup would have had. */
            fprintf(stderr, "dj-resolve: %s\n", dj_error_msg(&err));
            memset(&pending[i].result, 0, sizeof(pending[i].result));
            pending[i].result.status =
                err != NULL && err->errno_value == 0 ? DJ_RESOLVE_BAD_NAME : DJ_RESOLVE_SERVFAIL;
            pending[i].done = true;
            dj_error_release(&err);
            continue;
        }
        left++;
    }
    while (left > 0) {
        struct epoll_event ev;
        int timeout = dj_resolver_timeout_ms(res);

        if (epoll_wait(epfd, &ev, 1, timeout) < 0 && errno != EINTR) {
            perror("dj-resolve: epoll_wait");
            return false;
        }
        dj_resolver_process(res);
        left = 0;
        for (size_t i = 0; i < n_names; i++)
            left += pending[i].done ? 0 : 1;
    }
    return true;
}

int main(int argc, char **argv)
{
    struct dj_resolver_config cfg;
    const char *resolv_conf = "/etc/resolv.conf";
    struct options o = {.qtype = DJ_DNS_TYPE_A, .qclass = DJ_DNS_CLASS_IN, .family = AF_UNSPEC};
    unsigned long repeat = 1, interval_ms = 0, value;
    bool stats = false, log_lines = false;
    struct dj_log log;
    dj_error_t err = NULL;
    struct dj_resolver *res;
    cleanup_close int epfd = -1;
    struct epoll_event ev;
    static struct pending pending[MAX_NAMES];
    size_t n_names;
    int status = 0;
    int i;

    setvbuf(stdout, NULL, _IOLBF, 0); /* a line per lookup as it completes, for the tests */
    dj_resolver_config_init(&cfg);
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        const char *opt = argv[i];

        if (strcmp(opt, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(opt, "--stats") == 0) {
            stats = true;
            continue;
        }
        if (strcmp(opt, "--raw") == 0) {
            o.raw = true;
            continue;
        }
        if (strcmp(opt, "--no-cache") == 0) {
            cfg.cache_entries = 0;
            continue;
        }
        if (strcmp(opt, "--log") == 0) {
            log_lines = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage(stderr);
            return 2;
        }
        if (strcmp(opt, "--server") == 0) {
            if (dj_resolver_config_add_server(&cfg, argv[++i], &err) < 0) {
                fprintf(stderr, "dj-resolve: %s\n", dj_error_msg(&err));
                dj_error_release(&err);
                return 2;
            }
        } else if (strcmp(opt, "--resolv-conf") == 0) {
            resolv_conf = argv[++i];
        } else if (strcmp(opt, "--family") == 0) {
            i++;
            if (strcmp(argv[i], "4") == 0)
                o.family = AF_INET;
            else if (strcmp(argv[i], "6") == 0)
                o.family = AF_INET6;
            else if (strcmp(argv[i], "any") == 0)
                o.family = AF_UNSPEC;
            else {
                usage(stderr);
                return 2;
            }
        } else if (strcmp(opt, "--timeout") == 0) {
            if (!parse_uint(opt, argv[++i], 60000, &value))
                return 2;
            cfg.timeout_ms = (unsigned)value;
        } else if (strcmp(opt, "--attempts") == 0) {
            if (!parse_uint(opt, argv[++i], 10, &value))
                return 2;
            cfg.attempts = (unsigned)value;
        } else if (strcmp(opt, "--repeat") == 0) {
            if (!parse_uint(opt, argv[++i], 100000, &repeat))
                return 2;
        } else if (strcmp(opt, "--interval") == 0) {
            if (!parse_uint(opt, argv[++i], 60000, &interval_ms))
                return 2;
        } else if (strcmp(opt, "--class") == 0) {
            if (!parse_uint(opt, argv[++i], 65535, &value))
                return 2;
            o.qclass = (uint16_t)value;
        } else if (strcmp(opt, "--type") == 0) {
            static const struct {
                const char *name;
                uint16_t type;
            } types[] = {{"A", 1},   {"NS", 2},   {"CNAME", 5}, {"SOA", 6},
                         {"MX", 15}, {"TXT", 16}, {"AAAA", 28}, {"ANY", 255}};
            const char *t = argv[++i];
            size_t k;

            for (k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
                if (strcmp(t, types[k].name) == 0)
                    break;
            }
            if (k < sizeof(types) / sizeof(types[0]))
                o.qtype = types[k].type;
            else if (parse_uint(opt, t, 65535, &value))
                o.qtype = (uint16_t)value;
            else
                return 2;
        } else {
            usage(stderr);
            return 2;
        }
    }
    n_names = (size_t)(argc - i);
    if (n_names == 0 || n_names > MAX_NAMES) {
        usage(stderr);
        return 2;
    }
    if (cfg.n_servers == 0 && dj_resolver_config_from_resolv_conf(&cfg, resolv_conf, &err) < 0) {
        fprintf(stderr, "dj-resolve: %s\n", dj_error_msg(&err));
        dj_error_release(&err);
        return 1;
    }
    res = dj_resolver_new(&cfg, &err);
    if (res == NULL) {
        fprintf(stderr, "dj-resolve: %s\n", dj_error_msg(&err));
        dj_error_release(&err);
        return 1;
    }
    if (log_lines) {
        dj_log_init(&log, STDERR_FILENO, 0, 1, NULL, dj_monotonic_ns());
        dj_resolver_set_log(res, &log);
    }
    /* The resolver's fd inside an epoll of our own, as a daemon's loop would hold it. */
    epfd = epoll_create1(EPOLL_CLOEXEC);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    if (epfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, dj_resolver_fd(res), &ev) < 0) {
        perror("dj-resolve: epoll");
        dj_resolver_free(res);
        return 1;
    }
    for (unsigned long round = 0; round < repeat; round++) {
        if (round > 0 && interval_ms > 0) {
            struct timespec pause = {(time_t)(interval_ms / 1000),
                                     (long)(interval_ms % 1000) * 1000000L};

            /* The resolver keeps its timers (idle close) while we sleep; catch up after. */
            nanosleep(&pause, NULL);
            dj_resolver_process(res);
        }
        if (!run_round(res, epfd, argv + i, n_names, &o, pending)) {
            dj_resolver_free(res);
            return 1;
        }
        for (size_t k = 0; k < n_names; k++) {
            print_result(&pending[k], o.raw);
            if (pending[k].result.status != DJ_RESOLVE_OK)
                status = 3;
        }
    }
    if (stats) {
        struct dj_resolver_stats st;

        dj_resolver_get_stats(res, &st);
        printf("stats lookups=%llu cache_hits=%llu coalesced=%llu queries=%llu udp_sent=%llu "
               "tcp_fallbacks=%llu timeouts=%llu server_failures=%llu ignored=%llu "
               "cache_size=%zu",
               (unsigned long long)st.lookups, (unsigned long long)st.cache_hits,
               (unsigned long long)st.coalesced, (unsigned long long)st.queries,
               (unsigned long long)st.udp_sent, (unsigned long long)st.tcp_fallbacks,
               (unsigned long long)st.timeouts, (unsigned long long)st.server_failures,
               (unsigned long long)st.ignored, st.cache_size);
        printf(" raw_queries=%llu dot_sent=%llu dot_connects=%llu dot_reconnects=%llu "
               "dot_pin_failures=%llu dot_verify_failures=%llu latency_sum_ms=%llu\n",
               (unsigned long long)st.raw_queries, (unsigned long long)st.dot_sent,
               (unsigned long long)st.dot_connects, (unsigned long long)st.dot_reconnects,
               (unsigned long long)st.dot_pin_failures, (unsigned long long)st.dot_verify_failures,
               (unsigned long long)st.latency_sum_ms);
        for (size_t k = 0; k < st.n_servers; k++)
            printf("server %zu transport=%s sent=%llu answered=%llu failures=%llu healthy=%s "
                   "dot_connects=%llu\n",
                   k + 1, dj_upstream_transport_text(st.servers[k].transport),
                   (unsigned long long)st.servers[k].sent,
                   (unsigned long long)st.servers[k].answered,
                   (unsigned long long)st.servers[k].failures, st.servers[k].healthy ? "yes" : "no",
                   (unsigned long long)st.servers[k].dot_connects);
    }
    fflush(stdout);
    dj_resolver_free(res);
    return status;
}
