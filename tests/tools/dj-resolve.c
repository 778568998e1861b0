/* dj-resolve: looks names up with lib/resolver.c on a small epoll loop, as the proxy will,
 * and prints one line per lookup: NAME STATUS ttl=SECONDS cache=yes|no ADDRESS...
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
#include <unistd.h>

#include "cleanup.h"
#include "error.h"
#include "resolver.h"

#define MAX_NAMES 256

struct pending {
    const char *name;
    bool done;
    struct dj_resolve_result result;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: dj-resolve [--server ADDR[:PORT]]... [--resolv-conf PATH]\n"
                 "                  [--family 4|6|any] [--timeout MS] [--attempts N]\n"
                 "                  [--repeat N] [--stats] NAME...\n"
                 "Without --server, the servers of --resolv-conf (default /etc/resolv.conf).\n");
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

static void print_result(const struct pending *p)
{
    char text[INET6_ADDRSTRLEN];

    printf("%s %s ttl=%u cache=%s", p->name, dj_resolve_status_text(p->result.status),
           (unsigned)p->result.ttl, p->result.from_cache ? "yes" : "no");
    for (size_t i = 0; i < p->result.n_addrs; i++) {
        const struct dj_resolved_addr *a = &p->result.addrs[i];

        if (inet_ntop(a->family, a->addr, text, sizeof(text)) != NULL)
            printf(" %s", text);
    }
    printf("\n");
}

/* Looks every name up at once and waits for all of them. Returns false on failure. */
static bool run_round(struct dj_resolver *res, int epfd, char **names, size_t n_names, int family,
                      struct pending *pending)
{
    size_t left = 0;

    for (size_t i = 0; i < n_names; i++) {
        dj_error_t err = NULL;

        pending[i].name = names[i];
        pending[i].done = false;
        if (dj_resolver_lookup(res, names[i], family, done_cb, &pending[i], &err) == NULL) {
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
    int family = AF_UNSPEC;
    unsigned long repeat = 1, value;
    bool stats = false;
    dj_error_t err = NULL;
    struct dj_resolver *res;
    cleanup_close int epfd = -1;
    struct epoll_event ev;
    static struct pending pending[MAX_NAMES];
    size_t n_names;
    int status = 0;
    int i;

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
                family = AF_INET;
            else if (strcmp(argv[i], "6") == 0)
                family = AF_INET6;
            else if (strcmp(argv[i], "any") == 0)
                family = AF_UNSPEC;
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
            if (!parse_uint(opt, argv[++i], 1000, &repeat))
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
        if (!run_round(res, epfd, argv + i, n_names, family, pending)) {
            dj_resolver_free(res);
            return 1;
        }
        for (size_t k = 0; k < n_names; k++) {
            print_result(&pending[k]);
            if (pending[k].result.status != DJ_RESOLVE_OK)
                status = 3;
        }
    }
    if (stats) {
        struct dj_resolver_stats st;

        dj_resolver_get_stats(res, &st);
        printf("stats lookups=%llu cache_hits=%llu coalesced=%llu queries=%llu udp_sent=%llu "
               "tcp_fallbacks=%llu timeouts=%llu server_failures=%llu ignored=%llu "
               "cache_size=%zu\n",
               (unsigned long long)st.lookups, (unsigned long long)st.cache_hits,
               (unsigned long long)st.coalesced, (unsigned long long)st.queries,
               (unsigned long long)st.udp_sent, (unsigned long long)st.tcp_fallbacks,
               (unsigned long long)st.timeouts, (unsigned long long)st.server_failures,
               (unsigned long long)st.ignored, st.cache_size);
    }
    fflush(stdout);
    dj_resolver_free(res);
    return status;
}
