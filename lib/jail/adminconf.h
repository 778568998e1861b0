/* adminconf.h: the administrator's configuration file (dnsjail.conf).
 *
 * Format: one `key = value` per line; `#` starts a comment; blank lines are ignored; keys are
 * lower-case with dashes. Unknown keys and bad values are errors that name the file, the line
 * and the key. A missing file means the built-in defaults. docs/CONFIG.md lists every key.
 * Owns: struct dj_adminconf, its defaults and its parser. */
#ifndef DNSJAIL_ADMINCONF_H
#define DNSJAIL_ADMINCONF_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DJ_ADMINCONF_MAX_BYTES (64 * 1024) /* a larger file is refused */
#define DJ_ADMINCONF_MAX_LINE 4096         /* bytes in one line, without the newline */

/* profile.NAME.KEY: a named policy that dnsjail-runtime --profile NAME or the annotation
 * io.dnsjail.profile chooses where a container's annotations cannot say everything (Docker,
 * containerd without pod_annotations). lib/jail/policy.h says how annotations may narrow it. */
#define DJ_ADMINCONF_MAX_PROFILES 64
#define DJ_PROFILE_NAME_MAX 63 /* [a-z0-9-], not starting with a dash */
struct dj_profile {
    char *name;
    char *allow;   /* profile.NAME.allow: rules as in `allow`; NULL: none */
    char *forward; /* profile.NAME.forward: zones as in `forward-zones`; NULL: none */
    bool audit;    /* profile.NAME.mode = audit (default enforce) */
    unsigned allow_line, forward_line, mode_line; /* where each was set (0: not set) */
};

/* What the hook does with a server in the container's namespace that only processes outside
 * it hold (lib/jail/sockdiag.h): foreign-sockets. */
enum dj_foreign_sockets {
    DJ_FOREIGN_SOCKETS_BLOCK = 0, /* close it off with a reject rule, log it, start */
    DJ_FOREIGN_SOCKETS_REFUSE,    /* refuse the container */
};

struct dj_adminconf {
    /* DNS answers */
    struct in_addr sinkhole4;  /* sinkhole-ipv4, default 6.6.6.6 */
    bool have_sinkhole6;       /* sinkhole-ipv6 set (default: AAAA gets NODATA) */
    struct in6_addr sinkhole6; /* sinkhole-ipv6 */
    uint32_t dns_ttl;          /* dns-ttl, seconds, default 5 */

    /* Daemons */
    char *run_as_user;  /* user, default "nobody" */
    char *log_file;     /* log-file, default LOCALSTATEDIR/log/dnsjail/dnsjail.log */
    unsigned log_rate;  /* log-rate, lines per second per daemon, default 200 (0 = no limit) */
    unsigned log_burst; /* log-burst, default 400 */
    char *state_dir;    /* state-dir, default /run/dnsjail */
    char *libexec_dir;  /* libexec-dir, where dnsjail-dnsstub lives (test knob) */
    char *runtime;      /* runtime: the OCI runtime dnsjail-runtime runs (NULL: runc in PATH) */
    uint16_t dns_port;  /* dns-port, the stub's port on the container's loopback, 15353 */
    uint16_t proxy_http_port;    /* proxy-http-port, 15380 (used by the proxy) */
    uint16_t proxy_tls_port;     /* proxy-tls-port, 15443 (used by the proxy) */
    uint16_t proxy_virtual_port; /* proxy-virtual-port, 15400: TCP to virtual addresses */
    unsigned ready_timeout_ms;   /* ready-timeout-ms, how long the hook waits for a daemon, 5000 */
    char *
        system_log; /* system-log: "auto" (journald, else /dev/log, else none), "off",
                       "journal:PATH" or "syslog:PATH"; lib/daemon/jsonlog sends every line there */

    /* The proxy's upstream side (in the host's network namespace) */
    char *upstream_resolvers; /* upstream-resolvers: "ADDR[:PORT] [V6]:PORT ..." that the proxy
                                 asks; NULL: the nameservers of the host's /etc/resolv.conf */
    char *upstream_allow;     /* upstream-allow: networks the proxy may connect to although they
                                 are loopback, private or link-local; NULL: none */
    unsigned proxy_max_connections; /* proxy-max-connections, per jail, default 2048 */

    /* Virtual addresses for names allowed with a port (lib/jail/vaddr.h) */
    char *virtual_ipv4;         /* virtual-ipv4, "ADDR/PREFIX", default 198.18.0.0/15 */
    char *virtual_ipv6;         /* virtual-ipv6, "ADDR/PREFIX", default fd64:6a69:6c00::/64 */
    unsigned virtual_max_names; /* virtual-max-names, names at once per jail, default 4096 */

    /* Rules of the admin's, in io.dnsjail.allow syntax (docs/POLICY.md) */
    char *admin_allow;   /* allow: granted to every jailed container; NULL: none */
    char *allow_ceiling; /* annotation-allow-within: every io.dnsjail.allow rule must lie
                            within one of these, or the container is refused; NULL: no
                            ceiling */

    /* Forward zones (lib/dns/fwdzone.h syntax), answered for real by the stub */
    char *forward_zones;            /* forward-zones: zones forwarded for every jail; NULL: none */
    char *forward_ceiling;          /* annotation-forward-within: zones io.dnsjail.forward may name
                                       (each within one of these, which gives its upstreams); NULL:
                                       the annotation is refused */
    unsigned forward_cache_entries; /* forward-cache-entries, per jail, default 1024 (0: none) */
    uint32_t forward_ttl_floor;     /* forward-ttl-floor, seconds, default 5 */
    uint32_t forward_ttl_ceiling;   /* forward-ttl-ceiling, seconds, default 3600 */
    unsigned forward_rate;          /* forward-rate: queries per second per jail that reach an
                                       upstream, default 100 (0: no limit) */
    unsigned forward_burst;         /* forward-burst, default 200 */

    /* Policy */
    bool default_enable;      /* default-enable: jail when io.dnsjail.enable is absent, true */
    bool allow_cap_net_admin; /* allow-cap-net-admin, default false (see docs/DESIGN.md) */
    bool drop_cap_net_raw;    /* drop-cap-net-raw: dnsjail-runtime removes CAP_NET_RAW from
                                 the bundles it creates (Docker grants it), default false */
    bool allow_cap_net_raw;   /* allow-cap-net-raw, default false */
    bool allow_af_xdp;        /* allow-af-xdp: with allow-cap-net-raw, accept that AF_XDP frames
                                 leave unpoliced (docs/DESIGN.md "Raw frames"), default false */
    bool allow_wildcard_all;  /* allow-wildcard-all: accept a bare `*` allow rule, false */
    enum dj_foreign_sockets foreign_sockets; /* foreign-sockets = block|refuse, default block */
    char *allow_foreign_sockets; /* allow-foreign-socket: "ADDR:PORT [V6]:PORT ..." left open;
                                    NULL: none */
    char *allow_socket_mounts;   /* allow-socket-mounts: host paths of engine or resolver sockets
                                    (or directories holding them) that a jailed container may
                                    bind-mount (lib/jail/sockmount.h); NULL: none */
    bool allow_inbound_udp;      /* allow-inbound-udp: answer UDP opened from outside, false */
    /* Container DNS (docs/CONFIG.md): names the engine's own resolver owns are asked of it */
    char *container_dns;           /* container-dns: the engine resolver's address in the
                                      container's namespace (Docker: 127.0.0.11); NULL: off */
    char *container_dns_names;     /* container-dns-names, lib/dns/cdnsnames.h syntax; NULL:
                                      DJ_CDNSNAMES_DEFAULT (single-label names) */
    bool allow_container_networks; /* allow-container-networks: the subnets of the container's
                                      own interfaces are reachable (gateways are not), false */
    struct dj_profile *profiles;   /* profile.NAME.*, in the order first named */
    size_t n_profiles;
};

/* Fills *cfg with the built-in defaults. */
int dj_adminconf_init(struct dj_adminconf *cfg, dj_error_t *err);

/* Reads PATH over the defaults already in *cfg. A missing file is not an error when
 * missing_ok is true. PATH must be a regular file owned by root (or the effective uid) and
 * not writable by others. On error *cfg is unchanged. */
int dj_adminconf_load(struct dj_adminconf *cfg, const char *path, bool missing_ok, dj_error_t *err);

/* Parses a buffer (NAME is used in messages). Used by dj_adminconf_load and the fuzzer.
 * On error *cfg is unchanged. */
int dj_adminconf_parse(struct dj_adminconf *cfg, const char *name, const char *buf, size_t len,
                       dj_error_t *err);

void dj_adminconf_free(struct dj_adminconf *cfg);

/* The profile called NAME, or NULL. */
const struct dj_profile *dj_adminconf_profile(const struct dj_adminconf *cfg, const char *name);

/* Is NAME a profile name the configuration could hold ([a-z0-9-], 1..63, no leading dash)? */
bool dj_adminconf_profile_name_ok(const char *name, size_t len);

/* The name of key I of the configuration (0, 1, ...), NULL past the last: for tests and
 * tools that check every key is documented. */
const char *dj_adminconf_key_name(size_t i);

#endif
