/* upstreams.c: where a forward zone without an upstream, and audit mode, resolve: somewhere
 * the admin or the host chose (upstream-resolvers, the resolv.conf the runtime mounts from the
 * host), never the image. Every upstream is checked with the resolver's own parser. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "hook.h"
#include "dns/resolver.h"

#define RESOLV_CONF_MAX_BYTES (64 * 1024)

/* The root filesystem's path as the host sees it (root.path is relative to the bundle). */
static char *root_fs_path(const struct hook *h)
{
    char *root = NULL;

    if (h->bundle.root_path == NULL)
        return NULL;
    if (h->bundle.root_path[0] == '/')
        return strdup(h->bundle.root_path);
    if (asprintf(&root, "%s/%s", h->state.bundle, h->bundle.root_path) < 0)
        return NULL;
    return root;
}

/* Opens the host file that the runtime bind-mounts onto the container's /etc/resolv.conf
 * (podman, CRI-O, kubelet): a file the host chose. The file inside the root filesystem is
 * never read: whoever built the image wrote it, and the admin's zones must not go where an
 * image says. A mount whose source lies inside the root filesystem is the image's file too. */
static int open_mounted_resolv_conf(const struct hook *h, dj_error_t *err)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK,
                           .resolve = RESOLVE_NO_MAGICLINKS};
    const char *source = h->bundle.resolv_conf_source;
    cleanup_free char *root = root_fs_path(h);
    cleanup_free char *real_root = NULL;
    char fd_path[64], opened[PATH_MAX];
    cleanup_close int fd = -1;
    ssize_t len;
    size_t root_len;

    if (source[0] != '/')
        return dj_error_make(err, 0, "the mount onto /etc/resolv.conf has a relative source");
    fd = (int)syscall(SYS_openat2, AT_FDCWD, source, &how, sizeof(how));
    if (fd < 0)
        return dj_error_make(err, errno, "open %s", source);
    /* Where the file really is, after any symlink on the way: the open file's own path. */
    snprintf(fd_path, sizeof(fd_path), "/proc/self/fd/%d", fd);
    len = readlink(fd_path, opened, sizeof(opened) - 1);
    if (len < 0 || (size_t)len >= sizeof(opened) - 1)
        return dj_error_make(err, len < 0 ? errno : ENAMETOOLONG, "where %s leads", source);
    opened[len] = '\0';
    real_root = root != NULL ? realpath(root, NULL) : NULL;
    root_len = real_root != NULL ? strlen(real_root) : 0;
    if (real_root != NULL && strncmp(opened, real_root, root_len) == 0 &&
        (opened[root_len] == '/' || root_len == 1))
        return dj_error_make(err, 0,
                             "the mount onto /etc/resolv.conf comes from inside the container's "
                             "root filesystem (%s), which the image controls",
                             opened);
    return steal_fd(&fd);
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    return ss->ss_family == AF_INET6 &&
           IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* "ADDR:PORT|[V6]:PORT" of the nameservers of the resolv.conf the runtime mounts from the
 * host that the stub can reach from the host's namespace. A loopback nameserver
 * (systemd-resolved's 127.0.0.53, a local dnsmasq) is the container's own loopback, which the
 * host side cannot reach: refused. */
static int mounted_resolv_conf_upstreams(const struct hook *h, char **out, dj_error_t *err)
{
    const char *shown = h->bundle.resolv_conf_source;
    cleanup_free char *text = NULL;
    cleanup_close int fd = open_mounted_resolv_conf(h, err);
    cleanup_close int copy = -1;
    struct dj_resolver_config rc;
    char proc_path[64], list[DJ_RESOLVER_MAX_SERVERS * (INET6_ADDRSTRLEN + 10)] = "";
    unsigned loopback = 0;
    struct stat st;
    size_t len;

    if (fd < 0)
        return dj_error_wrap(err, "the container's mounted resolv.conf (the default upstream)");
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return dj_error_make(err, 0, "%s is not a regular file", shown);
    if (read_all(fd, RESOLV_CONF_MAX_BYTES, &text, &len, "resolv.conf", err) < 0)
        return -1;
    /* The resolver reads a path: give it a private copy of what was read, not the file. */
    copy = memfd_create("dnsjail-resolv-conf", MFD_CLOEXEC);
    if (copy < 0 || write(copy, text, len) != (ssize_t)len)
        return dj_error_make(err, errno, "copying resolv.conf");
    snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d", copy);
    dj_resolver_config_init(&rc);
    if (dj_resolver_config_from_resolv_conf(&rc, proc_path, err) < 0)
        return dj_error_wrap(err, "the container's resolv.conf %s", shown);
    for (size_t i = 0; i < rc.n_servers; i++) {
        const struct sockaddr_storage *ss = &rc.servers[i];
        char addr[INET6_ADDRSTRLEN];
        unsigned port;

        if (is_loopback(ss)) {
            loopback++;
            continue;
        }
        if (ss->ss_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, addr, sizeof(addr));
            port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
        } else {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, addr, sizeof(addr));
            port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
        }
        snprintf(list + strlen(list), sizeof(list) - strlen(list),
                 ss->ss_family == AF_INET ? "%s%s:%u" : "%s[%s]:%u", list[0] != '\0' ? "|" : "",
                 addr, port);
    }
    if (list[0] == '\0')
        return dj_error_make(err, 0,
                             "the container's resolv.conf %s has only loopback nameservers (%u), "
                             "which dnsjail cannot reach from the host: name the zone's upstream "
                             "in forward-zones (ZONE=ADDR)",
                             shown, loopback);
    *out = strdup(list);
    return *out != NULL ? 0 : dj_error_make(err, ENOMEM, "upstreams");
}

/* "UP|UP" of the admin's upstream-resolvers, the first DJ_FWDZONE_MAX_UPSTREAMS of them. */
static int admin_upstreams(const struct hook *h, char **out, dj_error_t *err)
{
    cleanup_free char *copy = strdup(h->cfg.upstream_resolvers);
    char *save = NULL;
    size_t used = 0;
    int n = 0;

    *out = malloc(strlen(h->cfg.upstream_resolvers) + 1);
    if (copy == NULL || *out == NULL)
        return dj_error_make(err, ENOMEM, "upstreams");
    for (char *item = strtok_r(copy, ", \t", &save); item != NULL && n < DJ_FWDZONE_MAX_UPSTREAMS;
         item = strtok_r(NULL, ", \t", &save), n++)
        used += (size_t)sprintf(*out + used, "%s%s", n > 0 ? "|" : "", item);
    (*out)[used] = '\0';
    return 0;
}

/* Where names go that no zone list sends anywhere: always somewhere the admin or the host
 * chose, never the image. ADMIN_FIRST: upstream-resolvers before the mounted resolv.conf
 * (audit mode, which resolves every name like the proxy); else the mounted resolv.conf first
 * (a zone like cluster.local belongs to the resolver the orchestrator mounts). */
static int default_upstreams(const struct hook *h, bool admin_first, char **out, dj_error_t *err)
{
    bool have_admin = h->cfg.upstream_resolvers != NULL;

    if (have_admin && (admin_first || h->bundle.resolv_conf_source == NULL))
        return admin_upstreams(h, out, err);
    if (h->bundle.resolv_conf_source != NULL)
        return mounted_resolv_conf_upstreams(h, out, err);
    return dj_error_make(err, 0,
                         "no upstream: the container's /etc/resolv.conf is the image's own file, "
                         "which may not choose where names go; name the zone's upstream in "
                         "forward-zones (ZONE=ADDR) or set upstream-resolvers");
}

/* Fills in the default upstream of every zone that has none, and checks every upstream with
 * the resolver's own parser, so that the stub never starts with one it would refuse. */
int resolve_forward_upstreams(struct hook *h, dj_error_t *err)
{
    cleanup_free char *defaults = NULL;

    for (size_t i = 0; i < h->policy.forward.n; i++) {
        struct dj_fwdzone *z = &h->policy.forward.zones[i];
        struct dj_resolver_config rc;
        const char *servers[DJ_FWDZONE_MAX_UPSTREAMS];
        char buf[DJ_FWDZONE_MAX_UPSTREAMS * DJ_FWDZONE_MAX_ENTRY];
        int n;

        if (z->upstreams == NULL) {
            if (defaults == NULL && default_upstreams(h, false, &defaults, err) < 0)
                return dj_error_wrap(err, "forward zone %s", z->name);
            z->upstreams = strdup(defaults);
            if (z->upstreams == NULL)
                return dj_error_make(err, ENOMEM, "upstreams");
        }
        n = dj_fwdzone_split_upstreams(z->upstreams, buf, sizeof(buf), servers);
        if (n < 0)
            return dj_error_make(err, 0, "forward zone %s: bad upstream list", z->name);
        dj_resolver_config_init(&rc);
        for (int k = 0; k < n; k++)
            if (dj_resolver_config_add_server(&rc, servers[k], err) < 0)
                return dj_error_wrap(err, "forward zone %s: upstream", z->name);
    }
    return 0;
}

/* Audit mode resolves every name for real: through the admin's upstream-resolvers (the first
 * DJ_FWDZONE_MAX_UPSTREAMS of them) when set, else the resolv.conf the runtime mounts from the
 * host; never the image's own file. Checked with the resolver's parser like a zone's. */
int resolve_audit_upstreams(struct hook *h, dj_error_t *err)
{
    const char *servers[DJ_FWDZONE_MAX_UPSTREAMS];
    char buf[DJ_FWDZONE_MAX_UPSTREAMS * DJ_FWDZONE_MAX_ENTRY];
    struct dj_resolver_config rc;
    int n;

    if (h->policy.mode != DJ_MODE_AUDIT)
        return 0;
    if (default_upstreams(h, true, &h->audit_upstreams, err) < 0)
        return dj_error_wrap(err, "audit mode's upstream");
    n = dj_fwdzone_split_upstreams(h->audit_upstreams, buf, sizeof(buf), servers);
    if (n <= 0)
        return dj_error_make(err, 0, "audit mode: bad upstream list");
    dj_resolver_config_init(&rc);
    for (int k = 0; k < n; k++)
        if (dj_resolver_config_add_server(&rc, servers[k], err) < 0)
            return dj_error_wrap(err, "audit mode: upstream");
    return 0;
}
