/* probe-host.c: the probe's channels through what the host left reachable from inside the
 * container: servers in its namespace held by processes outside it, and engine or resolver
 * sockets mounted into it. Each sends a fresh token (probe.h). */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "base/bytes.h"
#include "base/cleanup.h"
#include "dns/dnsanswer.h"
#include "dns/dnswire.h"
#include "report/leak.h"
#include "leaktest.h"
#include "http/resphead.h"
#include "jail/socknames.h"
#include "probe.h"

/* ---- servers held from outside the container --------------------------------------------- */

/* A process outside the container can bind a socket in its namespace and serve it from outside
 * (Docker's embedded DNS on 127.0.0.11 is one). The probe finds the namespace's servers in
 * /proc/net and keeps those that no process it can see holds, then asks each for a name with
 * the channel's token: a server that resolves it from outside reaches the canary. */
#define MAX_FOREIGN_SERVERS 8

struct foreign_server {
    char addr[INET6_ADDRSTRLEN];
    uint16_t port;
    bool tcp;
};

/* Whether any process the probe can see (itself included) holds socket INODE. */
static bool socket_held_here(unsigned long inode)
{
    char want[40];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (proc == NULL)
        return true; /* cannot tell: do not call it foreign */
    bool held = false;
    struct dirent *pe;
    while (!held && (pe = readdir(proc)) != NULL) {
        if (pe->d_name[0] < '1' || pe->d_name[0] > '9')
            continue;
        char path[64];
        snprintf(path, sizeof(path), "/proc/%.20s/fd", pe->d_name);
        DIR *fds = opendir(path);
        if (fds == NULL)
            continue;
        struct dirent *fe;
        while (!held && (fe = readdir(fds)) != NULL) {
            char link[48];
            ssize_t n = readlinkat(dirfd(fds), fe->d_name, link, sizeof(link) - 1);
            if (n <= 0)
                continue;
            link[n] = '\0';
            held = strcmp(link, want) == 0;
        }
        closedir(fds);
    }
    closedir(proc);
    return held;
}

/* The address column of /proc/net/{tcp,udp}[6]: the kernel prints each 32-bit word of the
 * address in network order as a host integer, so the words are copied back as such. */
static bool proc_net_addr(const char *hex, int family, char *out)
{
    uint8_t addr[16];
    size_t words = family == AF_INET6 ? 4 : 1;
    if (strlen(hex) != words * 8)
        return false;
    for (size_t w = 0; w < words; w++) {
        char word[9];
        memcpy(word, hex + 8 * w, 8);
        word[8] = '\0';
        char *end;
        uint32_t v = (uint32_t)strtoul(word, &end, 16);
        if (*end != '\0')
            return false;
        memcpy(addr + 4 * w, &v, 4);
    }
    static const uint8_t zero[16];
    /* A wildcard server is reached on loopback. */
    if (memcmp(addr, zero, 4 * words) == 0) {
        strcpy(out, family == AF_INET6 ? "::1" : "127.0.0.1");
        return true;
    }
    return inet_ntop(family, addr, out, INET6_ADDRSTRLEN) != NULL;
}

static size_t find_foreign_servers(struct foreign_server *out, size_t max)
{
    static const struct {
        const char *path;
        int family;
        bool tcp;
        unsigned state; /* TCP_LISTEN for TCP, TCP_CLOSE (unconnected) for UDP */
    } tables[] = {
        {"/proc/net/udp", AF_INET, false, 0x07},
        {"/proc/net/tcp", AF_INET, true, 0x0A},
        {"/proc/net/udp6", AF_INET6, false, 0x07},
        {"/proc/net/tcp6", AF_INET6, true, 0x0A},
    };
    size_t n = 0;
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]) && n < max; t++) {
        cleanup_fclose FILE *f = fopen(tables[t].path, "re");
        char line[512];
        if (f == NULL || fgets(line, sizeof(line), f) == NULL) /* the header */
            continue;
        while (n < max && fgets(line, sizeof(line), f) != NULL) {
            char hex[33];
            unsigned port, state;
            unsigned long inode;
            if (sscanf(
                    line,
                    " %*u: %32[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x %*x:%*x %*x:%*x %*x %*u %*u %lu",
                    hex, &port, &state, &inode) != 4)
                continue;
            if (state != tables[t].state || port == 0 || port > 65535 || inode == 0 ||
                socket_held_here(inode))
                continue;
            if (!proc_net_addr(hex, tables[t].family, out[n].addr))
                continue;
            out[n].port = (uint16_t)port;
            out[n].tcp = tables[t].tcp;
            n++;
        }
    }
    return n;
}

void probe_ch_foreign_server(const struct probe *p, struct result *r)
{
    struct foreign_server servers[MAX_FOREIGN_SERVERS];
    size_t n = find_foreign_servers(servers, MAX_FOREIGN_SERVERS);
    if (n == 0) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE,
                         "no server here that only an outside process holds");
        return;
    }
    char tried[DJ_LEAK_MAX_DETAIL / 2] = "";
    for (size_t i = 0; i < n; i++) {
        struct result one = *r;
        const struct dns_attempt at = {.server = servers[i].addr,
                                       .port = servers[i].port,
                                       .tcp = servers[i].tcp,
                                       .qtype = DJ_DNS_TYPE_A};
        probe_dns_channel(p, &one, &at);
        if (one.verdict == DJ_LEAK_LEAKED) {
            *r = one;
            return;
        }
        char one_text[INET6_ADDRSTRLEN + 16];
        int len = snprintf(one_text, sizeof(one_text), " %s %s:%u", servers[i].tcp ? "tcp" : "udp",
                           servers[i].addr, servers[i].port);
        size_t used = strlen(tried);
        if (len > 0 && used + (size_t)len < sizeof(tried))
            memcpy(tried + used, one_text, (size_t)len + 1);
    }
    probe_set_detail(r, DJ_LEAK_PENDING, "asked %zu server%s held from outside:%s", n,
                     n > 1 ? "s" : "", tried);
}

/* ---- engine and resolver sockets mounted into the container ------------------------------ */

/* A host's container engine or resolver socket bind-mounted into the container is a door past
 * the network: the host does what the container asks, outside the jail (the hook refuses such
 * mounts unless the admin lists them in allow-socket-mounts). The probe looks at the usual
 * places and the mount points with a known name (socknames.h, the hook's own list) and at
 * --socket paths, and makes the host carry the token as an attacker would: an engine is asked
 * to pull an image from a registry called TOKEN.ZONE (its resolver then asks the canary),
 * systemd-resolved to resolve TOKEN.ZONE. Protocols the probe does not speak (containerd's
 * and CRI-O's gRPC, D-Bus, nscd) are only connected to. Nothing it sends starts a container. */
#define MAX_ENGINE_SOCKETS 16

enum sock_speech { SPEAK_DOCKER_API, SPEAK_VARLINK_RESOLVE, SPEAK_NOTHING };
enum sock_sent { SOCK_NOT_SENT, SOCK_SENT, SOCK_CANARY_ANSWERED };

struct engine_socket {
    char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
    dev_t dev;
    ino_t ino;
    enum sock_speech speech;
};

/* Adds PATH when it is a socket not yet seen (by inode: /var/run is often /run). A socket the
 * user named (GIVEN) that is not known by name is taken for a Docker-compatible API. */
static void engine_socket_add(const char *path, bool given, struct engine_socket *out, size_t *n)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash != NULL ? slash + 1 : path;
    enum sock_speech speech = SPEAK_NOTHING;
    if (strcmp(name, "docker.sock") == 0 || strcmp(name, "podman.sock") == 0)
        speech = SPEAK_DOCKER_API;
    else if (strcmp(name, "io.systemd.Resolve") == 0)
        speech = SPEAK_VARLINK_RESOLVE;
    else if (dj_socknames_known_path(path) == NULL) {
        if (!given)
            return; /* not stat'ed: a mount point may hang (a dead network file system) */
        speech = SPEAK_DOCKER_API;
    }
    struct stat st;
    if (*n == MAX_ENGINE_SOCKETS || strlen(path) >= sizeof(out->path) || stat(path, &st) < 0 ||
        !S_ISSOCK(st.st_mode))
        return;
    for (size_t i = 0; i < *n; i++)
        if (out[i].dev == st.st_dev && out[i].ino == st.st_ino)
            return;
    struct engine_socket *s = &out[(*n)++];
    strcpy(s->path, path);
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    s->speech = speech;
}

/* mountinfo escapes blanks, newlines and backslashes in paths as \ooo. */
static void unescape_mountinfo(char *s)
{
    char *o = s;
    for (const char *i = s; *i != '\0'; i++) {
        if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' &&
            i[3] >= '0' && i[3] <= '7') {
            *o++ = (char)((i[1] - '0') * 64 + (i[2] - '0') * 8 + (i[3] - '0'));
            i += 3;
        } else {
            *o++ = *i;
        }
    }
    *o = '\0';
}

/* Sockets bind-mounted anywhere: the mount points of /proc/self/mountinfo with a known name. */
static void engine_sockets_mounted(struct engine_socket *out, size_t *n)
{
    cleanup_fclose FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096];
    bool whole = true;
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        /* The tail of a line longer than the buffer is no line of its own. */
        bool was_whole = whole;
        whole = strchr(line, '\n') != NULL;
        char point[4096];
        if (!was_whole || sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
            continue;
        unescape_mountinfo(point);
        engine_socket_add(point, false, out, n);
    }
}

static int unix_connect(const char *path, int *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    if (len >= sizeof(sa.sun_path)) {
        *err = ENAMETOOLONG;
        return -1;
    }
    memcpy(sa.sun_path, path, len + 1);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    /* A Unix stream connect either completes or fails at once (EAGAIN: backlog full). */
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        *err = errno;
        return -1;
    }
    return steal_fd(&fd);
}

/* What the socket is asked: an engine to pull TOKEN.ZONE/leaktest (to find the registry it
 * resolves TOKEN.ZONE through the host's resolver; a pull starts nothing, and there is no
 * such registry to pull from), systemd-resolved to resolve TOKEN.ZONE (a varlink call is one
 * JSON object ended by a NUL). The zone passed dj_dns_name_from_text: no quote, blank or
 * backslash can break out of the request. Returns its length, 0 when it does not fit. */
static size_t engine_request(const struct probe *p, const struct result *r, enum sock_speech speech,
                             char *req, size_t size)
{
    char host[300];
    probe_token_host(p, r, "", host, sizeof(host));
    int n = speech == SPEAK_DOCKER_API
                ? snprintf(req, size,
                           "POST /images/create?fromImage=%s/leaktest&tag=latest HTTP/1.1\r\n"
                           "Host: %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                           host, host)
                : snprintf(req, size,
                           "{\"method\":\"io.systemd.Resolve.ResolveHostname\","
                           "\"parameters\":{\"name\":\"%s\"}}",
                           host);
    if (n < 0 || (size_t)n >= size)
        return 0;
    return speech == SPEAK_VARLINK_RESOLVE ? (size_t)n + 1 : (size_t)n;
}

/* The host's engine or resolver answered: untrusted bytes, only looked at for an HTTP status
 * (the proxy's fuzzed parser) or a varlink error name (a bounded span of name characters). */
static void describe_engine_reply(enum sock_speech speech, const uint8_t *reply, size_t len,
                                  char *said, size_t said_size)
{
    if (speech == SPEAK_DOCKER_API) {
        struct resphead_scan scan;
        struct resphead head;
        resphead_scan_init(&scan);
        if (resphead_parse(&scan, (const char *)reply, len, false, &head) == RESPHEAD_OK)
            snprintf(said, said_size, "HTTP %u", head.status);
        else
            snprintf(said, said_size, "%zu bytes back, no HTTP head", len);
        return;
    }
    static const char key[] = "\"error\":\"";
    const uint8_t *end = memchr(reply, '\0', len);
    const uint8_t *e = end != NULL ? memmem(reply, (size_t)(end - reply), key, strlen(key)) : NULL;
    if (e != NULL) {
        e += strlen(key);
        size_t k = 0;
        while (e + k < end && k < 60 &&
               (isalnum(e[k]) || e[k] == '.' || e[k] == '_' || e[k] == '-'))
            k++;
        snprintf(said, said_size, "varlink error %.*s", (int)k, (const char *)e);
    } else if (end != NULL) {
        snprintf(said, said_size, "varlink reply");
    } else {
        snprintf(said, said_size, "%zu bytes back, no varlink reply", len);
    }
}

static enum sock_sent engine_exchange(const struct probe *p, const struct result *r, int fd,
                                      enum sock_speech speech, uint8_t *reply, char *said,
                                      size_t said_size)
{
    char req[1024];
    size_t n = engine_request(p, r, speech, req, sizeof(req));
    if (n == 0 || !probe_send_all(fd, req, n)) {
        snprintf(said, said_size, "request not sent");
        return SOCK_NOT_SENT;
    }
    size_t len = probe_read_reply(p, fd, reply);
    if (probe_has_marker(reply, len)) {
        snprintf(said, said_size, "the canary answered");
        return SOCK_CANARY_ANSWERED;
    }
    describe_engine_reply(speech, reply, len, said, said_size);
    return SOCK_SENT;
}

void probe_ch_engine_socket(const struct probe *p, struct result *r)
{
    struct engine_socket socks[MAX_ENGINE_SOCKETS];
    size_t n = 0;
    const char *path;
    for (size_t i = 0; (path = dj_socknames_usual_path(i)) != NULL; i++)
        engine_socket_add(path, false, socks, &n);
    engine_sockets_mounted(socks, &n);
    for (size_t i = 0; i < p->n_sockets; i++)
        engine_socket_add(p->sockets[i], true, socks, &n);
    if (n == 0) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "no engine or resolver socket here");
        return;
    }
    cleanup_free uint8_t *reply = malloc(REPLY_SIZE);
    if (reply == NULL) {
        probe_set_detail(r, DJ_LEAK_NOT_TESTABLE, "out of memory");
        return;
    }
    enum sock_sent most = SOCK_NOT_SENT;
    /* Room for a "; +N more" at the end: the line's detail is bounded. */
    char tried[DJ_LEAK_MAX_DETAIL - 12] = "";
    size_t more = 0;
    for (size_t i = 0; i < n; i++) {
        char said[80];
        int err = 0;
        enum sock_sent sent = SOCK_NOT_SENT;
        cleanup_close int fd = unix_connect(socks[i].path, &err);
        if (fd < 0)
            snprintf(said, sizeof(said), "connect: %s", strerror(err));
        else if (socks[i].speech != SPEAK_NOTHING)
            sent = engine_exchange(p, r, fd, socks[i].speech, reply, said, sizeof(said));
        else
            snprintf(said, sizeof(said), "accepts: a door whose protocol the probe does not speak");
        if (sent > most)
            most = sent;
        char one[sizeof(said) + sizeof(socks[i].path) + 8];
        int len = snprintf(one, sizeof(one), "%s%s: %s", i ? "; " : "", socks[i].path, said);
        size_t used = strlen(tried);
        if (len > 0 && used + (size_t)len < sizeof(tried) && more == 0)
            memcpy(tried + used, one, (size_t)len + 1);
        else
            more++;
    }
    static const enum dj_leak_verdict verdicts[] = {
        [SOCK_NOT_SENT] = DJ_LEAK_NOT_TESTABLE,
        [SOCK_SENT] = DJ_LEAK_PENDING,
        [SOCK_CANARY_ANSWERED] = DJ_LEAK_LEAKED,
    };
    if (more > 0)
        probe_set_detail(r, verdicts[most], "%s; +%zu more", tried, more);
    else
        probe_set_detail(r, verdicts[most], "%s", tried);
}
