/* policy.h: a container's dnsjail policy, from its io.dnsjail.* annotations.
 *
 *   io.dnsjail.enable  "true" | "false"          (absent: the admin's default-enable)
 *   io.dnsjail.mode    "enforce" | "audit"        (audit: nothing blocked, all logged with
 *                                                 would_block; see docs/DESIGN.md)
 *   io.dnsjail.allow   allow rules, see docs/POLICY.md; enforced by dnsjail-proxy
 *   io.dnsjail.forward zones the stub forwards to a real resolver (lib/dns/fwdzone.h), each
 *                      within the admin's annotation-forward-within
 *   io.dnsjail.profile a profile of the admin configuration (profile.NAME.*): its mode, allow
 *                      rules and forward zones, jailed whatever default-enable says. The other
 *                      annotations may narrow it (allow and forward then replace the profile's,
 *                      each entry within the profile's or the admin's annotation-*-within; mode
 *                      only from audit to enforce), never switch it off.
 *
 * Any other io.dnsjail.* key is refused, so a typo cannot silently switch a rule off.
 * Owns: struct dj_policy, struct dj_allow_rule, their parsers and the canonical form used
 * to detect conflicting policies in one network namespace. */
#ifndef DNSJAIL_POLICY_H
#define DNSJAIL_POLICY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jail/adminconf.h"
#include "base/error.h"
#include "dns/fwdzone.h"
#include "jail/oci.h"

#define DJ_ANNOTATION_PREFIX "io.dnsjail."
#define DJ_ANNOTATION_ENABLE "io.dnsjail.enable"
#define DJ_ANNOTATION_MODE "io.dnsjail.mode"
#define DJ_ANNOTATION_ALLOW "io.dnsjail.allow"
#define DJ_ANNOTATION_FORWARD "io.dnsjail.forward"
#define DJ_ANNOTATION_PROFILE "io.dnsjail.profile"
#define DJ_ALLOW_MAX_RULES 4096
#define DJ_ALLOW_MAX_BYTES (256 * 1024)

enum dj_mode { DJ_MODE_ENFORCE = 0, DJ_MODE_AUDIT };

enum dj_rule_kind {
    DJ_RULE_HOST,     /* example.com: that name only */
    DJ_RULE_WILDCARD, /* *.example.com: any name below, at any depth, not example.com */
    DJ_RULE_ANY_HOST, /* a bare "*": only when the admin allows it */
    DJ_RULE_CIDR,     /* 192.0.2.7, 203.0.113.0/24, [2001:db8::1], 2001:db8::/32 */
};

struct dj_allow_rule {
    enum dj_rule_kind kind;
    char *host;       /* HOST/WILDCARD: lower-case, no trailing dot, no "*." (NULL otherwise) */
    int family;       /* CIDR: AF_INET or AF_INET6 */
    uint8_t addr[16]; /* CIDR: network address, host bits zero */
    uint8_t prefix;   /* CIDR: prefix length */
    uint16_t port;    /* 0: the default ports (80 and 443); otherwise that port only */
};

struct dj_policy {
    bool enable;
    enum dj_mode mode;
    struct dj_allow_rule *rules;
    size_t n_rules;
    /* The admin's forward-zones, then the annotation's zones (each with the upstreams of the
     * annotation-forward-within zone that holds it); a zone in both is kept once. */
    struct dj_fwdzone_list forward;
};

/* Parses an io.dnsjail.allow value: rules separated by commas and/or white space. Each error
 * quotes the entry and says what is wrong. */
int dj_allow_parse(const char *value, bool allow_wildcard_all, struct dj_allow_rule **rules,
                   size_t *n_rules, dj_error_t *err);
void dj_allow_free(struct dj_allow_rule *rules, size_t n_rules);

/* Reads an io.dnsjail.allow value handed over in a memfd (from its start) or a pipe, to EOF:
 * at most DJ_ALLOW_MAX_BYTES, no NUL byte. *OUT is malloc'd and NUL-terminated. (The hook
 * gives the daemons their rules this way; see policy_memfd in hook/daemons.c.) */
int dj_allow_read_fd(int fd, char **out, dj_error_t *err);

/* Builds the policy from annotations (may be NULL/0) and the admin config: the annotation's
 * rules (each within the config's annotation-allow-within, when set) plus the config's
 * allow rules. */
int dj_policy_from_annotations(const struct oci_annotation *ann, size_t n_ann,
                               const struct dj_adminconf *cfg, struct dj_policy *policy,
                               dj_error_t *err);

/* The same, with the profile the runtime names (dnsjail-runtime --profile, the hook's
 * --profile; NULL: none). An annotation io.dnsjail.profile must then name the same one; an
 * unknown profile is refused. */
int dj_policy_build(const struct oci_annotation *ann, size_t n_ann, const struct dj_adminconf *cfg,
                    const char *profile_name, struct dj_policy *policy, dj_error_t *err);
void dj_policy_free(struct dj_policy *policy);

/* A canonical text of everything that changes what the jail does (mode, forward zones and
 * rules, sorted, deduplicated): "mode=M [forward=ZONE[=UP|UP],...] allow=RULE,..."; two containers
 * may share a network namespace only when these are equal. Returns a malloc'd string or NULL on
 * out-of-memory. */
char *dj_policy_canonical(const struct dj_policy *policy);

/* Does LIMIT allow everything RULE allows? (A host or wildcard within a wider wildcard or
 * "*", a network within a wider network, and the ports within the limit's ports.) */
bool dj_allow_rule_within(const struct dj_allow_rule *rule, const struct dj_allow_rule *limit);

/* Does the rule list allow HOST (any case, one trailing dot ignored) on PORT? HOST must be a
 * valid host name: an address literal such as "192.0.2.7" never matches here (not even "*");
 * use dj_allow_match_addr() for it. */
bool dj_allow_match_host(const struct dj_allow_rule *rules, size_t n_rules, const char *host,
                         uint16_t port);

/* Does a CIDR rule allow ADDR (struct in_addr or in6_addr bytes of FAMILY, network order) on
 * PORT? An IPv4-mapped IPv6 address (::ffff:192.0.2.7) also matches the IPv4 rules. */
bool dj_allow_match_addr(const struct dj_allow_rule *rules, size_t n_rules, int family,
                         const void *addr, uint16_t port);

#endif
