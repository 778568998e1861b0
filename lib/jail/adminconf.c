/* adminconf.c: the administrator's dnsjail.conf: defaults, the line parser, value checks.
 *
 * The file is read by a root process and names the binary it runs (libexec-dir) and the user
 * it runs it as, so it is read only if it is a regular file that only root (or the user
 * running dnsjail) can change. Parsing happens on a copy: a file with one bad line changes
 * nothing. docs/CONFIG.md is the user-facing description of the format. */
#include "config.h"

#include "jail/adminconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cleanup.h"
#include "dns/cdnsnames.h"
#include "dns/fwdzone.h"
#include "jail/policy.h"
#include "jail/sockdiag.h"
#include "dns/upstream.h"
#include "jail/vaddr.h"

#ifndef DJ_LOCALSTATEDIR
#error "DJ_LOCALSTATEDIR must be defined by the build"
#endif
#ifndef DJ_RUNSTATEDIR
#error "DJ_RUNSTATEDIR must be defined by the build"
#endif
#ifndef DJ_LIBEXECDIR
#error "DJ_LIBEXECDIR must be defined by the build"
#endif

enum value_type {
    VALUE_SINKHOLE4,
    VALUE_SINKHOLE6,
    VALUE_U32,
    VALUE_UNSIGNED,
    VALUE_PORT,
    VALUE_BOOL,
    VALUE_USER,
    VALUE_PATH,
    VALUE_UPSTREAMS,  /* upstream DNS servers (lib/dns/upstream.h), separated by commas or blanks */
    VALUE_NETWORKS,   /* IPv4 or IPv6 networks (ADDR or ADDR/PREFIX), same separators */
    VALUE_PATHS,      /* absolute paths without "." or ".." components, same separators */
    VALUE_RULES,      /* allow rules, io.dnsjail.allow syntax */
    VALUE_SYSTEM_LOG, /* auto, off, journal:PATH or syslog:PATH */
    VALUE_ZONES,      /* forward zones with optional upstreams, lib/dns/fwdzone.h syntax */
    VALUE_VNET4,      /* an IPv4 ADDR/PREFIX with room for virtual addresses */
    VALUE_VNET6,      /* the same, IPv6 */
    VALUE_FOREIGN,    /* block or refuse (enum dj_foreign_sockets) */
    VALUE_ENDPOINTS,  /* ADDR:PORT or [V6]:PORT, separated by commas or blanks */
    VALUE_ADDRESS,    /* one IPv4 or IPv6 address */
    VALUE_CDNS_NAMES, /* container-DNS names, lib/dns/cdnsnames.h syntax */
};

struct key_def {
    const char *name;
    enum value_type type;
    size_t offset; /* of the field in struct dj_adminconf */
    unsigned long min, max;
};

#define FIELD(f) offsetof(struct dj_adminconf, f)

static const struct key_def keys[] = {
    {"sinkhole-ipv4", VALUE_SINKHOLE4, FIELD(sinkhole4), 0, 0},
    {"sinkhole-ipv6", VALUE_SINKHOLE6, FIELD(sinkhole6), 0, 0},
    {"dns-ttl", VALUE_U32, FIELD(dns_ttl), 0, 86400},
    {"user", VALUE_USER, FIELD(run_as_user), 0, 0},
    {"log-file", VALUE_PATH, FIELD(log_file), 0, 0},
    {"log-rate", VALUE_UNSIGNED, FIELD(log_rate), 0, 1000000},
    {"log-burst", VALUE_UNSIGNED, FIELD(log_burst), 1, 1000000},
    {"state-dir", VALUE_PATH, FIELD(state_dir), 0, 0},
    {"libexec-dir", VALUE_PATH, FIELD(libexec_dir), 0, 0},
    {"runtime", VALUE_PATH, FIELD(runtime), 0, 0},
    {"dns-port", VALUE_PORT, FIELD(dns_port), 1, 65535},
    {"proxy-http-port", VALUE_PORT, FIELD(proxy_http_port), 1, 65535},
    {"proxy-tls-port", VALUE_PORT, FIELD(proxy_tls_port), 1, 65535},
    {"proxy-virtual-port", VALUE_PORT, FIELD(proxy_virtual_port), 1, 65535},
    {"ready-timeout-ms", VALUE_UNSIGNED, FIELD(ready_timeout_ms), 100, 60000},
    {"default-enable", VALUE_BOOL, FIELD(default_enable), 0, 0},
    {"allow-cap-net-admin", VALUE_BOOL, FIELD(allow_cap_net_admin), 0, 0},
    {"allow-cap-net-raw", VALUE_BOOL, FIELD(allow_cap_net_raw), 0, 0},
    {"drop-cap-net-raw", VALUE_BOOL, FIELD(drop_cap_net_raw), 0, 0},
    {"allow-af-xdp", VALUE_BOOL, FIELD(allow_af_xdp), 0, 0},
    {"allow-wildcard-all", VALUE_BOOL, FIELD(allow_wildcard_all), 0, 0},
    {"allow-socket-mounts", VALUE_PATHS, FIELD(allow_socket_mounts), 1, 64},
    {"allow-inbound-udp", VALUE_BOOL, FIELD(allow_inbound_udp), 0, 0},
    {"upstream-resolvers", VALUE_UPSTREAMS, FIELD(upstream_resolvers), 1, DJ_UPSTREAM_MAX_SERVERS},
    {"upstream-allow", VALUE_NETWORKS, FIELD(upstream_allow), 1, 64},
    {"proxy-max-connections", VALUE_UNSIGNED, FIELD(proxy_max_connections), 1, 65536},
    {"allow", VALUE_RULES, FIELD(admin_allow), 0, 0},
    {"annotation-allow-within", VALUE_RULES, FIELD(allow_ceiling), 0, 0},
    {"system-log", VALUE_SYSTEM_LOG, FIELD(system_log), 0, 0},
    {"forward-zones", VALUE_ZONES, FIELD(forward_zones), 0, 0},
    {"annotation-forward-within", VALUE_ZONES, FIELD(forward_ceiling), 0, 0},
    {"forward-cache-entries", VALUE_UNSIGNED, FIELD(forward_cache_entries), 0, 1000000},
    {"forward-ttl-floor", VALUE_U32, FIELD(forward_ttl_floor), 0, 86400},
    {"forward-ttl-ceiling", VALUE_U32, FIELD(forward_ttl_ceiling), 1, 604800},
    {"forward-rate", VALUE_UNSIGNED, FIELD(forward_rate), 0, 1000000},
    {"forward-burst", VALUE_UNSIGNED, FIELD(forward_burst), 1, 1000000},
    {"virtual-ipv4", VALUE_VNET4, FIELD(virtual_ipv4), 0, 0},
    {"virtual-ipv6", VALUE_VNET6, FIELD(virtual_ipv6), 0, 0},
    {"virtual-max-names", VALUE_UNSIGNED, FIELD(virtual_max_names), 1, DJ_VADDR_MAX_NAMES},
    {"foreign-sockets", VALUE_FOREIGN, FIELD(foreign_sockets), 0, 0},
    {"allow-foreign-socket", VALUE_ENDPOINTS, FIELD(allow_foreign_sockets), 1, 64},
    {"container-dns", VALUE_ADDRESS, FIELD(container_dns), 0, 0},
    {"container-dns-names", VALUE_CDNS_NAMES, FIELD(container_dns_names), 0, 0},
    {"allow-container-networks", VALUE_BOOL, FIELD(allow_container_networks), 0, 0},
};
#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

static void *field_ptr(struct dj_adminconf *cfg, const struct key_def *key)
{
    return (char *)cfg + key->offset;
}

int dj_adminconf_init(struct dj_adminconf *cfg, dj_error_t *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->sinkhole4.s_addr = htonl(0x06060606); /* 6.6.6.6 */
    cfg->have_sinkhole6 = false;
    cfg->dns_ttl = 5;
    cfg->log_rate = 200;
    cfg->log_burst = 400;
    cfg->dns_port = 15353;
    cfg->proxy_http_port = 15380;
    cfg->proxy_tls_port = 15443;
    cfg->proxy_virtual_port = 15400;
    cfg->virtual_max_names = DJ_VADDR_DEFAULT_MAX_NAMES;
    cfg->ready_timeout_ms = 5000;
    cfg->proxy_max_connections = 2048;
    cfg->forward_cache_entries = 1024;
    cfg->forward_ttl_floor = 5;
    cfg->forward_ttl_ceiling = 3600;
    cfg->forward_rate = 100;
    cfg->forward_burst = 200;
    cfg->default_enable = true;
    cfg->allow_cap_net_admin = false;
    cfg->allow_cap_net_raw = false;
    cfg->allow_af_xdp = false;
    cfg->allow_wildcard_all = false;
    cfg->foreign_sockets = DJ_FOREIGN_SOCKETS_BLOCK;
    cfg->allow_inbound_udp = false;
    cfg->run_as_user = strdup("nobody");
    cfg->log_file = strdup(DJ_LOCALSTATEDIR "/log/dnsjail/dnsjail.log");
    cfg->state_dir = strdup(DJ_RUNSTATEDIR "/dnsjail");
    cfg->libexec_dir = strdup(DJ_LIBEXECDIR);
    cfg->system_log = strdup("auto");
    cfg->virtual_ipv4 = strdup(DJ_VADDR_DEFAULT_IPV4);
    cfg->virtual_ipv6 = strdup(DJ_VADDR_DEFAULT_IPV6);
    if (cfg->run_as_user == NULL || cfg->log_file == NULL || cfg->state_dir == NULL ||
        cfg->libexec_dir == NULL || cfg->system_log == NULL || cfg->virtual_ipv4 == NULL ||
        cfg->virtual_ipv6 == NULL) {
        dj_adminconf_free(cfg);
        return dj_error_make(err, ENOMEM, "cannot set the configuration defaults");
    }
    return 0;
}

static void profiles_free(struct dj_profile *profiles, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(profiles[i].name);
        free(profiles[i].allow);
        free(profiles[i].forward);
    }
    free(profiles);
}

void dj_adminconf_free(struct dj_adminconf *cfg)
{
    if (cfg == NULL)
        return;
    profiles_free(cfg->profiles, cfg->n_profiles);
    cfg->profiles = NULL;
    cfg->n_profiles = 0;
    free(cfg->run_as_user);
    free(cfg->log_file);
    free(cfg->state_dir);
    free(cfg->libexec_dir);
    free(cfg->runtime);
    cfg->runtime = NULL;
    free(cfg->system_log);
    cfg->system_log = NULL;
    free(cfg->upstream_resolvers);
    free(cfg->upstream_allow);
    free(cfg->admin_allow);
    free(cfg->allow_ceiling);
    free(cfg->allow_socket_mounts);
    cfg->allow_socket_mounts = NULL;
    free(cfg->forward_zones);
    free(cfg->forward_ceiling);
    cfg->forward_zones = NULL;
    cfg->forward_ceiling = NULL;
    free(cfg->virtual_ipv4);
    free(cfg->virtual_ipv6);
    free(cfg->allow_foreign_sockets);
    cfg->allow_foreign_sockets = NULL;
    free(cfg->container_dns);
    cfg->container_dns = NULL;
    free(cfg->container_dns_names);
    cfg->container_dns_names = NULL;
    cfg->virtual_ipv4 = NULL;
    cfg->virtual_ipv6 = NULL;
    cfg->upstream_resolvers = NULL;
    cfg->upstream_allow = NULL;
    cfg->admin_allow = NULL;
    cfg->allow_ceiling = NULL;
    cfg->run_as_user = NULL;
    cfg->log_file = NULL;
    cfg->state_dir = NULL;
    cfg->libexec_dir = NULL;
}

/* ---- values ---------------------------------------------------------------------------- */

static bool is_blank_char(char c)
{
    return c == ' ' || c == '\t';
}

/* Where the parser is, for messages: "FILE:LINE: key 'KEY': ". */
struct position {
    const char *file;
    unsigned line;
    const char *key;
};

/* Digits only: no sign, no spaces, no hex; leading zeros are harmless. */
static bool parse_decimal(const char *text, unsigned long max, unsigned long *out)
{
    unsigned long value = 0;

    if (*text == '\0')
        return false;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        value = value * 10 + (unsigned long)(*p - '0');
        if (value > max)
            return false;
    }
    *out = value;
    return true;
}

static bool parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "1"};
    static const char *const no[] = {"false", "no", "0"};

    for (size_t i = 0; i < 3; i++) {
        if (strcmp(text, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(text, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* A portable user name (the POSIX portable filename characters), not starting with '-' so
 * that it can never be read as an option, at most 32 bytes like useradd's default. */
static bool user_name_ok(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > 32 || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return true;
}

/* "10.0.0.0/8", "192.0.2.7", "fd00::/8", "::1" */
static bool network_ok(const char *item)
{
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned char addr[16];
    unsigned long prefix = 0;
    char *slash;
    int family;

    if (strlen(item) >= sizeof(buf))
        return false;
    strcpy(buf, item);
    slash = strchr(buf, '/');
    if (slash != NULL)
        *slash = '\0';
    if (inet_pton(AF_INET, buf, addr) == 1)
        family = AF_INET;
    else if (inet_pton(AF_INET6, buf, addr) == 1)
        family = AF_INET6;
    else
        return false;
    if (slash != NULL && !parse_decimal(slash + 1, family == AF_INET ? 32 : 128, &prefix))
        return false;
    return true;
}

static bool endpoint_ok(const char *item)
{
    uint8_t addr[16];
    uint16_t port;
    int family;

    return dj_sockdiag_parse_endpoint(item, &family, addr, &port);
}

/* "/run/podman/podman.sock": compared as text with mount sources, so only one spelling of a
 * path is accepted (no "." or "..", no empty component). */
static bool path_ok(const char *item)
{
    if (item[0] != '/')
        return false;
    for (const char *p = item + 1; *p != '\0';) {
        size_t len = strcspn(p, "/");

        if ((len == 0 && p[len] != '\0') || (len == 1 && p[0] == '.') ||
            (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

/* Checks every item of a list separated by commas and/or blanks; at least MIN, at most MAX. */
static int check_list(const char *value, bool (*item_ok)(const char *), const char *what,
                      const struct key_def *key, const struct position *pos, dj_error_t *err)
{
    char item[DJ_ADMINCONF_MAX_LINE + 1];
    unsigned long count = 0;
    const char *p = value;

    while (*p != '\0') {
        size_t len;

        while (*p == ',' || is_blank_char(*p))
            p++;
        if (*p == '\0')
            break;
        len = strcspn(p, ", \t");
        if (len >= sizeof(item))
            return dj_error_make(err, 0, "%s:%u: key '%s': \"%.40s...\" is too long for %s",
                                 pos->file, pos->line, pos->key, p, what);
        memcpy(item, p, len);
        item[len] = '\0';
        if (!item_ok(item))
            return dj_error_make(err, 0, "%s:%u: key '%s': \"%s\" is not %s", pos->file, pos->line,
                                 pos->key, item, what);
        count++;
        p += len;
    }
    if (count < key->min || count > key->max)
        return dj_error_make(err, 0, "%s:%u: key '%s': expected %lu to %lu entries, got %lu",
                             pos->file, pos->line, pos->key, key->min, key->max, count);
    return 0;
}

/* Like check_list, with the upstream parser's own words for what is wrong. */
static int check_upstreams(const char *value, const struct key_def *key, const struct position *pos,
                           dj_error_t *err)
{
    char item[DJ_UPSTREAM_MAX_TEXT + 1];
    unsigned long count = 0;
    const char *p = value;

    while (*p != '\0') {
        struct dj_upstream up;
        const char *problem;
        size_t len;

        while (*p == ',' || is_blank_char(*p))
            p++;
        if (*p == '\0')
            break;
        len = strcspn(p, ", \t");
        if (len >= sizeof(item))
            return dj_error_make(err, 0, "%s:%u: key '%s': \"%.40s...\" is too long", pos->file,
                                 pos->line, pos->key, p);
        memcpy(item, p, len);
        item[len] = '\0';
        problem = dj_upstream_parse(item, &up);
        if (problem != NULL)
            return dj_error_make(err, 0,
                                 "%s:%u: key '%s': \"%s\" is not an upstream server: %s (see "
                                 "docs/CONFIG.md)",
                                 pos->file, pos->line, pos->key, item, problem);
        count++;
        p += len;
    }
    if (count < key->min || count > key->max)
        return dj_error_make(err, 0, "%s:%u: key '%s': expected %lu to %lu entries, got %lu",
                             pos->file, pos->line, pos->key, key->min, key->max, count);
    return 0;
}

/* Sets one key in *cfg. Strings are replaced by new copies (the caller owns the old ones). */
static int set_value(struct dj_adminconf *cfg, const struct key_def *key, const char *value,
                     const struct position *pos, dj_error_t *err)
{
    void *field = field_ptr(cfg, key);
    unsigned long number;
    char *copy;

    if (value[0] == '\0' && key->type != VALUE_SINKHOLE6)
        return dj_error_make(err, 0, "%s:%u: key '%s': empty value", pos->file, pos->line,
                             pos->key);

    switch (key->type) {
    case VALUE_SINKHOLE4: {
        struct in_addr a;

        if (strcmp(value, "none") == 0)
            return dj_error_make(err, 0,
                                 "%s:%u: key '%s': cannot be unset; A queries need an answer",
                                 pos->file, pos->line, pos->key);
        if (inet_pton(AF_INET, value, &a) != 1)
            return dj_error_make(err, 0, "%s:%u: key '%s': \"%s\" is not an IPv4 address",
                                 pos->file, pos->line, pos->key, value);
        /* 0.0.0.0 reaches the container's own loopback; broadcast and multicast are not
         * addresses a client can connect to. */
        if (a.s_addr == htonl(INADDR_ANY) || a.s_addr == htonl(INADDR_BROADCAST) ||
            IN_MULTICAST(ntohl(a.s_addr)))
            return dj_error_make(err, 0,
                                 "%s:%u: key '%s': %s cannot be a sinkhole address (unspecified, "
                                 "broadcast or multicast)",
                                 pos->file, pos->line, pos->key, value);
        cfg->sinkhole4 = a;
        return 0;
    }
    case VALUE_SINKHOLE6: {
        struct in6_addr a;

        if (value[0] == '\0' || strcmp(value, "none") == 0) {
            cfg->have_sinkhole6 = false;
            memset(&cfg->sinkhole6, 0, sizeof(cfg->sinkhole6));
            return 0;
        }
        if (inet_pton(AF_INET6, value, &a) != 1)
            return dj_error_make(err, 0,
                                 "%s:%u: key '%s': \"%s\" is not an IPv6 address (or \"none\")",
                                 pos->file, pos->line, pos->key, value);
        if (IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_MULTICAST(&a))
            return dj_error_make(
                err, 0,
                "%s:%u: key '%s': %s cannot be a sinkhole address (unspecified or multicast)",
                pos->file, pos->line, pos->key, value);
        cfg->sinkhole6 = a;
        cfg->have_sinkhole6 = true;
        return 0;
    }
    case VALUE_U32:
    case VALUE_UNSIGNED:
    case VALUE_PORT:
        if (!parse_decimal(value, key->max, &number) || number < key->min)
            return dj_error_make(err, 0, "%s:%u: key '%s': \"%s\" is not a number in %lu..%lu",
                                 pos->file, pos->line, pos->key, value, key->min, key->max);
        if (key->type == VALUE_U32)
            *(uint32_t *)field = (uint32_t)number;
        else if (key->type == VALUE_UNSIGNED)
            *(unsigned *)field = (unsigned)number;
        else
            *(uint16_t *)field = (uint16_t)number;
        return 0;
    case VALUE_BOOL:
        if (!parse_bool(value, (bool *)field))
            return dj_error_make(err, 0,
                                 "%s:%u: key '%s': \"%s\" is not a boolean (true, false, yes, "
                                 "no, 1 or 0)",
                                 pos->file, pos->line, pos->key, value);
        return 0;
    case VALUE_USER:
        if (!user_name_ok(value))
            return dj_error_make(err, 0,
                                 "%s:%u: key '%s': \"%s\" is not a user name ([A-Za-z0-9_.-], "
                                 "at most 32, not starting with '-')",
                                 pos->file, pos->line, pos->key, value);
        break;
    case VALUE_UPSTREAMS:
        if (check_upstreams(value, key, pos, err) < 0)
            return -1;
        break;
    case VALUE_NETWORKS:
        if (check_list(value, network_ok, "a network (ADDR or ADDR/PREFIX)", key, pos, err) < 0)
            return -1;
        break;
    case VALUE_ENDPOINTS:
        if (check_list(value, endpoint_ok, "a socket address (ADDR:PORT or [V6ADDR]:PORT)", key,
                       pos, err) < 0)
            return -1;
        break;
    case VALUE_FOREIGN:
        if (strcmp(value, "block") == 0)
            *(enum dj_foreign_sockets *)field = DJ_FOREIGN_SOCKETS_BLOCK;
        else if (strcmp(value, "refuse") == 0)
            *(enum dj_foreign_sockets *)field = DJ_FOREIGN_SOCKETS_REFUSE;
        else
            return dj_error_make(err, 0, "%s:%u: key '%s': \"%s\" is not block or refuse",
                                 pos->file, pos->line, pos->key, value);
        return 0;
    case VALUE_PATHS:
        if (check_list(value, path_ok, "an absolute path without \".\" or \"..\"", key, pos, err) <
            0)
            return -1;
        break;
    case VALUE_RULES: {
        struct dj_allow_rule *rules = NULL;
        size_t n_rules = 0;
        dj_error_t sub = NULL;

        /* The admin may grant "*" here whatever allow-wildcard-all says: that key limits
         * what containers may ask for, not what the admin may give. */
        if (dj_allow_parse(value, true, &rules, &n_rules, &sub) < 0) {
            dj_error_make(err, 0, "%s:%u: key '%s': %s", pos->file, pos->line, pos->key,
                          dj_error_msg(&sub));
            dj_error_release(&sub);
            return -1;
        }
        dj_allow_free(rules, n_rules);
        break;
    }
    case VALUE_SYSTEM_LOG:
        if (strcmp(value, "auto") != 0 && strcmp(value, "off") != 0 &&
            !((strncmp(value, "journal:/", 9) == 0 || strncmp(value, "syslog:/", 8) == 0) &&
              strlen(value) < 108 + 8))
            return dj_error_make(err, 0,
                                 "%s:%u: key '%s': \"%s\" is not auto, off, journal:PATH or "
                                 "syslog:PATH (an absolute socket path)",
                                 pos->file, pos->line, pos->key, value);
        break;
    case VALUE_ADDRESS: {
        uint8_t a[16];

        if (inet_pton(AF_INET, value, a) != 1 && inet_pton(AF_INET6, value, a) != 1)
            return dj_error_make(err, 0, "%s:%u: key '%s': \"%s\" is not an IPv4 or IPv6 address",
                                 pos->file, pos->line, pos->key, value);
        break;
    }
    case VALUE_CDNS_NAMES: {
        struct dj_cdnsnames names = {0};
        dj_error_t sub = NULL;

        if (dj_cdnsnames_parse(&names, value, &sub) < 0) {
            dj_error_make(err, 0, "%s:%u: key '%s': %s", pos->file, pos->line, pos->key,
                          dj_error_msg(&sub));
            dj_error_release(&sub);
            return -1;
        }
        dj_cdnsnames_free(&names);
        break;
    }
    case VALUE_ZONES: {
        struct dj_fwdzone_list zones = {0};
        dj_error_t sub = NULL;

        if (dj_fwdzone_parse(&zones, value, true, &sub) < 0) {
            dj_error_make(err, 0, "%s:%u: key '%s': %s", pos->file, pos->line, pos->key,
                          dj_error_msg(&sub));
            dj_error_release(&sub);
            return -1;
        }
        dj_fwdzone_free(&zones);
        break;
    }
    case VALUE_VNET4:
    case VALUE_VNET6: {
        uint8_t net[16], prefix;
        dj_error_t sub = NULL;

        if (dj_vaddr_parse_net(value, key->type == VALUE_VNET4 ? AF_INET : AF_INET6, net, &prefix,
                               &sub) < 0) {
            dj_error_make(err, 0, "%s:%u: key '%s': %s", pos->file, pos->line, pos->key,
                          dj_error_msg(&sub));
            dj_error_release(&sub);
            return -1;
        }
        break;
    }
    case VALUE_PATH:
        if (value[0] != '/')
            return dj_error_make(err, 0, "%s:%u: key '%s': \"%s\" is not an absolute path",
                                 pos->file, pos->line, pos->key, value);
        if (strlen(value) >= PATH_MAX)
            return dj_error_make(err, 0, "%s:%u: key '%s': path longer than %d bytes", pos->file,
                                 pos->line, pos->key, PATH_MAX - 1);
        break;
    }
    copy = strdup(value);
    if (copy == NULL)
        return dj_error_make(err, ENOMEM, "%s:%u: key '%s'", pos->file, pos->line, pos->key);
    *(char **)field = copy;
    return 0;
}

/* ---- lines ----------------------------------------------------------------------------- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

const char *dj_adminconf_key_name(size_t i)
{
    return i < N_KEYS ? keys[i].name : NULL;
}

static const struct key_def *find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

/* Splits one line (no newline, no NUL, no control characters) into KEY and VALUE, both
 * pointing into LINE, which is modified. *key is NULL for a blank or comment line. */
static int split_line(char *line, const struct position *where, char **key_out, char **value_out,
                      dj_error_t *err)
{
    char *p = line;
    char *key, *value, *end;

    *key_out = NULL;
    *value_out = NULL;
    while (is_blank(*p))
        p++;
    if (*p == '\0' || *p == '#')
        return 0;
    key = p;
    while (*p != '\0' && *p != '=' && !is_blank(*p))
        p++;
    end = p;
    while (is_blank(*p))
        p++;
    if (*p != '=' || end == key)
        return dj_error_make(err, 0, "%s:%u: expected 'key = value'", where->file, where->line);
    *end = '\0';
    p++;
    while (is_blank(*p))
        p++;

    if (*p == '"') {
        value = ++p;
        end = strchr(p, '"');
        if (end == NULL)
            return dj_error_make(err, 0, "%s:%u: key '%s': missing closing '\"'", where->file,
                                 where->line, key);
        *end = '\0';
        p = end + 1;
        while (is_blank(*p))
            p++;
        if (*p != '\0' && *p != '#')
            return dj_error_make(err, 0, "%s:%u: key '%s': text after the closing '\"'",
                                 where->file, where->line, key);
    } else {
        value = p;
        end = p + strlen(p);
        /* A comment may follow a value after white space. A '#' stuck to the value is more
         * likely part of a path than a comment, so it is refused rather than guessed. */
        for (char *hash = strchr(p, '#'); hash != NULL; hash = strchr(hash + 1, '#')) {
            if (hash > value && !is_blank(hash[-1]))
                return dj_error_make(err, 0,
                                     "%s:%u: key '%s': '#' inside a value (quote the value, or "
                                     "put a space before a comment)",
                                     where->file, where->line, key);
            end = hash;
            break;
        }
        while (end > value && is_blank(end[-1]))
            end--;
        *end = '\0';
    }
    *key_out = key;
    *value_out = value;
    return 0;
}

/* Checks the bytes of one line; LEN excludes the newline. */
static int check_line_bytes(const char *line, size_t len, const struct position *where,
                            dj_error_t *err)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)line[i];

        if (c == '\0')
            return dj_error_make(err, 0, "%s:%u: NUL byte", where->file, where->line);
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return dj_error_make(err, 0, "%s:%u: control character 0x%02x", where->file,
                                 where->line, c);
    }
    return 0;
}

/* The ports share the container's loopback, so two of them cannot be the same. */
static int check_ports(const struct dj_adminconf *cfg, const unsigned *set_on_line,
                       const char *name, dj_error_t *err)
{
    static const char *const port_keys[] = {"dns-port", "proxy-http-port", "proxy-tls-port",
                                            "proxy-virtual-port"};
    enum { N_PORTS = sizeof(port_keys) / sizeof(port_keys[0]) };
    uint16_t ports[N_PORTS];

    ports[0] = cfg->dns_port;
    ports[1] = cfg->proxy_http_port;
    ports[2] = cfg->proxy_tls_port;
    ports[3] = cfg->proxy_virtual_port;
    for (size_t a = 0; a < N_PORTS; a++) {
        for (size_t b = a + 1; b < N_PORTS; b++) {
            const struct key_def *ka = find_key(port_keys[a]);
            const struct key_def *kb = find_key(port_keys[b]);
            unsigned line_a, line_b;

            if (ports[a] != ports[b])
                continue;
            line_a = set_on_line[ka - keys];
            line_b = set_on_line[kb - keys];
            /* Blame the key set last in the file; the other may be a default. */
            if (line_b >= line_a) {
                if (line_b == 0)
                    return dj_error_make(err, 0, "%s: key '%s': port %u is also used by %s", name,
                                         port_keys[b], ports[b], port_keys[a]);
                return dj_error_make(err, 0, "%s:%u: key '%s': port %u is also used by %s", name,
                                     line_b, port_keys[b], ports[b], port_keys[a]);
            }
            return dj_error_make(err, 0, "%s:%u: key '%s': port %u is also used by %s", name,
                                 line_a, port_keys[a], ports[a], port_keys[b]);
        }
    }
    return 0;
}

/* ---- profiles -------------------------------------------------------------------------- */

bool dj_adminconf_profile_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > DJ_PROFILE_NAME_MAX || name[0] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
              name[i] == '-'))
            return false;
    return true;
}

const struct dj_profile *dj_adminconf_profile(const struct dj_adminconf *cfg, const char *name)
{
    for (size_t i = 0; name != NULL && i < cfg->n_profiles; i++)
        if (strcmp(cfg->profiles[i].name, name) == 0)
            return &cfg->profiles[i];
    return NULL;
}

struct profile_list {
    struct dj_profile *items;
    size_t n;
};

static struct dj_profile *profile_slot(struct profile_list *list, const char *name, size_t len,
                                       const struct position *pos, dj_error_t *err)
{
    struct dj_profile *grown;

    for (size_t i = 0; i < list->n; i++)
        if (strlen(list->items[i].name) == len && memcmp(list->items[i].name, name, len) == 0)
            return &list->items[i];
    if (list->n >= DJ_ADMINCONF_MAX_PROFILES) {
        dj_error_make(err, 0, "%s:%u: key '%s': more than %d profiles", pos->file, pos->line,
                      pos->key, DJ_ADMINCONF_MAX_PROFILES);
        return NULL;
    }
    grown = realloc(list->items, (list->n + 1) * sizeof(*grown));
    if (grown == NULL) {
        dj_error_make(err, ENOMEM, "%s:%u: key '%s'", pos->file, pos->line, pos->key);
        return NULL;
    }
    list->items = grown;
    memset(&grown[list->n], 0, sizeof(grown[0]));
    grown[list->n].name = strndup(name, len);
    if (grown[list->n].name == NULL) {
        dj_error_make(err, ENOMEM, "%s:%u: key '%s'", pos->file, pos->line, pos->key);
        return NULL;
    }
    return &list->items[list->n++];
}

/* profile.NAME.allow / .forward / .mode: the values are checked as `allow`, `forward-zones`
 * and a mode, so that a profile fails at load time, not when the first container asks for it. */
static int set_profile_key(struct profile_list *list, const char *key_text, const char *value,
                           struct position *pos, dj_error_t *err)
{
    const char *name = key_text + strlen("profile.");
    const char *dot = strrchr(name, '.');
    const char *field = dot != NULL ? dot + 1 : "";
    struct dj_profile *p;
    unsigned *line;

    pos->key = key_text;
    if (dot == NULL || !dj_adminconf_profile_name_ok(name, (size_t)(dot - name)))
        return dj_error_make(err, 0,
                             "%s:%u: unknown key '%s' (a profile key is profile.NAME.allow, "
                             ".forward or .mode; NAME is [a-z0-9-], up to %d)",
                             pos->file, pos->line, key_text, DJ_PROFILE_NAME_MAX);
    if (strcmp(field, "allow") != 0 && strcmp(field, "forward") != 0 && strcmp(field, "mode") != 0)
        return dj_error_make(err, 0,
                             "%s:%u: unknown key '%s' (a profile has allow, forward and mode)",
                             pos->file, pos->line, key_text);
    p = profile_slot(list, name, (size_t)(dot - name), pos, err);
    if (p == NULL)
        return -1;
    line = field[0] == 'a' ? &p->allow_line : field[0] == 'f' ? &p->forward_line : &p->mode_line;
    if (*line != 0)
        return dj_error_make(err, 0, "%s:%u: key '%s': already set on line %u", pos->file,
                             pos->line, key_text, *line);
    if (field[0] == 'm') {
        if (strcmp(value, "audit") != 0 && strcmp(value, "enforce") != 0)
            return dj_error_make(err, 0,
                                 "%s:%u: key '%s': unknown mode \"%s\" (\"enforce\" or "
                                 "\"audit\")",
                                 pos->file, pos->line, key_text, value);
        p->audit = strcmp(value, "audit") == 0;
    } else {
        /* The same checks as the global key of that kind, on a scratch configuration. */
        static const struct key_def like_allow = {"allow", VALUE_RULES, FIELD(admin_allow), 0, 0};
        static const struct key_def like_forward = {"forward-zones", VALUE_ZONES,
                                                    FIELD(forward_zones), 0, 0};
        const struct key_def *like = field[0] == 'a' ? &like_allow : &like_forward;
        struct dj_adminconf scratch;
        char **slot = (char **)field_ptr(&scratch, like);

        memset(&scratch, 0, sizeof(scratch));
        if (set_value(&scratch, like, value, pos, err) < 0)
            return -1;
        if (field[0] == 'a')
            p->allow = *slot;
        else
            p->forward = *slot;
    }
    *line = pos->line;
    return 0;
}

/* Does the key's field hold a malloc'd string (freed with the configuration)? A switch without
 * a default, so that a new type is a compile-time question here: a missed one leaked. */
static bool is_string_key(const struct key_def *key)
{
    switch (key->type) {
    case VALUE_SINKHOLE4:
    case VALUE_SINKHOLE6:
    case VALUE_U32:
    case VALUE_UNSIGNED:
    case VALUE_PORT:
    case VALUE_BOOL:
    case VALUE_FOREIGN:
        return false;
    case VALUE_USER:
    case VALUE_PATH:
    case VALUE_UPSTREAMS:
    case VALUE_NETWORKS:
    case VALUE_PATHS:
    case VALUE_RULES:
    case VALUE_SYSTEM_LOG:
    case VALUE_ZONES:
    case VALUE_VNET4:
    case VALUE_VNET6:
    case VALUE_ENDPOINTS:
    case VALUE_ADDRESS:
    case VALUE_CDNS_NAMES:
        return true;
    }
    return false;
}

/* container-dns opens one hole in the redirect: packets carrying the hook's mark reach the
 * engine's resolver directly. SO_MARK takes CAP_NET_ADMIN, which no jailed container holds,
 * or, since Linux 5.17, CAP_NET_RAW: with allow-cap-net-raw a container could mark its own
 * packets and ask the engine's resolver any name, which forwards what it does not own to the
 * host's resolvers (from the host's namespace in Docker since 23.0: past the jail). */
static int check_container_dns(const struct dj_adminconf *cfg, const char *file, dj_error_t *err)
{
    if (cfg->container_dns_names != NULL && cfg->container_dns == NULL)
        return dj_error_make(err, 0, "%s: container-dns-names needs container-dns", file);
    if (cfg->container_dns != NULL && cfg->allow_cap_net_raw)
        return dj_error_make(err, 0,
                             "%s: container-dns and allow-cap-net-raw exclude each other (with "
                             "CAP_NET_RAW a container can set the mark that lets the hook's "
                             "sockets reach the engine's resolver)",
                             file);
    return 0;
}

int dj_adminconf_parse(struct dj_adminconf *cfg, const char *name, const char *buf, size_t len,
                       dj_error_t *err)
{
    struct dj_adminconf work = *cfg;
    unsigned set_on_line[N_KEYS] = {0};
    cleanup_free char *line = NULL;
    struct position where = {name != NULL ? name : "(config)", 0, NULL};
    struct profile_list profiles = {NULL, 0};
    size_t offset = 0;
    int r = -1;

    if (buf == NULL)
        len = 0;
    if (len > DJ_ADMINCONF_MAX_BYTES)
        return dj_error_make(err, 0, "%s: larger than %d bytes", where.file,
                             DJ_ADMINCONF_MAX_BYTES);
    line = malloc(DJ_ADMINCONF_MAX_LINE + 1);
    if (line == NULL)
        return dj_error_make(err, ENOMEM, "%s", where.file);

    while (offset < len) {
        const char *start = buf + offset;
        const char *newline = memchr(start, '\n', len - offset);
        size_t line_len = newline != NULL ? (size_t)(newline - start) : len - offset;
        const struct key_def *key;
        char *key_text, *value;

        offset += line_len + (newline != NULL ? 1 : 0);
        where.line++;
        if (line_len > DJ_ADMINCONF_MAX_LINE) {
            dj_error_make(err, 0, "%s:%u: line longer than %d bytes", where.file, where.line,
                          DJ_ADMINCONF_MAX_LINE);
            goto out;
        }
        if (line_len > 0 && start[line_len - 1] == '\r')
            line_len--;
        if (check_line_bytes(start, line_len, &where, err) < 0)
            goto out;
        memcpy(line, start, line_len);
        line[line_len] = '\0';
        if (split_line(line, &where, &key_text, &value, err) < 0)
            goto out;
        if (key_text == NULL)
            continue;
        if (strncmp(key_text, "profile.", strlen("profile.")) == 0) {
            if (set_profile_key(&profiles, key_text, value, &where, err) < 0)
                goto out;
            continue;
        }
        key = find_key(key_text);
        if (key == NULL) {
            dj_error_make(err, 0, "%s:%u: unknown key '%s'", where.file, where.line, key_text);
            goto out;
        }
        if (set_on_line[key - keys] != 0) {
            dj_error_make(err, 0, "%s:%u: key '%s': already set on line %u", where.file, where.line,
                          key_text, set_on_line[key - keys]);
            goto out;
        }
        where.key = key->name;
        if (set_value(&work, key, value, &where, err) < 0)
            goto out;
        set_on_line[key - keys] = where.line;
    }
    if (check_ports(&work, set_on_line, where.file, err) < 0)
        goto out;
    if (work.forward_ttl_floor > work.forward_ttl_ceiling) {
        dj_error_make(err, 0, "%s: forward-ttl-floor (%u) is above forward-ttl-ceiling (%u)",
                      where.file, (unsigned)work.forward_ttl_floor,
                      (unsigned)work.forward_ttl_ceiling);
        goto out;
    }
    if (check_container_dns(&work, where.file, err) < 0)
        goto out;
    r = 0;

out:
    /* Whichever copy is dropped owns the strings set from this file, or the old ones. */
    for (size_t i = 0; i < N_KEYS; i++) {
        if (set_on_line[i] == 0 || !is_string_key(&keys[i]))
            continue;
        if (r == 0)
            free(*(char **)field_ptr(cfg, &keys[i]));
        else
            free(*(char **)field_ptr(&work, &keys[i]));
    }
    /* A file that names profiles replaces the ones loaded before; one that names none keeps
     * them. */
    if (r == 0 && profiles.n > 0) {
        profiles_free(work.profiles, work.n_profiles);
        work.profiles = profiles.items;
        work.n_profiles = profiles.n;
    } else {
        profiles_free(profiles.items, profiles.n);
    }
    if (r == 0)
        *cfg = work;
    return r;
}

int dj_adminconf_load(struct dj_adminconf *cfg, const char *path, bool missing_ok, dj_error_t *err)
{
    cleanup_close int fd = -1;
    cleanup_free char *buf = NULL;
    struct stat st;
    size_t len = 0;

    /* O_NONBLOCK: opening a FIFO must not hang the hook; it is refused below. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok)
            return 0;
        return dj_error_make(err, errno, "%s: cannot open", path);
    }
    if (fstat(fd, &st) < 0)
        return dj_error_make(err, errno, "%s: cannot stat", path);
    if (!S_ISREG(st.st_mode))
        return dj_error_make(err, 0, "%s: not a regular file", path);
    if (st.st_uid != 0 && st.st_uid != geteuid())
        return dj_error_make(err, 0, "%s: owned by uid %u; must be owned by root", path,
                             (unsigned)st.st_uid);
    if ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != 0))
        return dj_error_make(err, 0, "%s: writable by others than root (mode %04o)", path,
                             (unsigned)(st.st_mode & 07777));
    if (st.st_size > DJ_ADMINCONF_MAX_BYTES)
        return dj_error_make(err, 0, "%s: larger than %d bytes", path, DJ_ADMINCONF_MAX_BYTES);

    /* One byte more than allowed, to notice a file that grew after fstat(). */
    buf = malloc(DJ_ADMINCONF_MAX_BYTES + 1);
    if (buf == NULL)
        return dj_error_make(err, ENOMEM, "%s", path);
    for (;;) {
        ssize_t n = read(fd, buf + len, DJ_ADMINCONF_MAX_BYTES + 1 - len);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            return dj_error_make(err, errno, "%s: cannot read", path);
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > DJ_ADMINCONF_MAX_BYTES)
            return dj_error_make(err, 0, "%s: larger than %d bytes", path, DJ_ADMINCONF_MAX_BYTES);
    }
    return dj_adminconf_parse(cfg, path, buf, len, err);
}
