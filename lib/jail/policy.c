/* policy.c: the io.dnsjail.* annotations, the allow-rule grammar (docs/POLICY.md), the
 * canonical text that lets containers share a jail, and host/address matching.
 *
 * Annotations come from whoever starts the container. Every value is checked completely,
 * even when the jail is off, and every error quotes the offending entry (escaped, so a
 * message stays one line whatever the annotation holds). */
#include "config.h"

#include "jail/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/socket.h>

#include "base/cleanup.h"
#include "base/file.h"

#define HOST_MAX 253
#define LABEL_MAX 63

/* ---- host names ------------------------------------------------------------------------ */

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char to_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_host_char(char c)
{
    c = to_lower(c);
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' || c == '_';
}

/* Why NAME[0..len) (any case, trailing dot already removed) is not a host name, or NULL.
 * BAD_CHAR receives the first invalid character. */
static const char *host_problem(const char *name, size_t len, char *bad_char)
{
    char copy[HOST_MAX + 1];
    struct in_addr as_address;
    size_t label_start = 0;
    bool last_label_numeric = true;

    if (len == 0)
        return "empty name";
    if (len > HOST_MAX)
        return "name longer than 253 characters";
    for (size_t i = 0; i <= len; i++) {
        if (i == len || name[i] == '.') {
            size_t label_len = i - label_start;

            if (label_len == 0)
                return "empty label";
            if (label_len > LABEL_MAX)
                return "label longer than 63 characters";
            if (name[label_start] == '-')
                return "label starts with '-'";
            if (name[i - 1] == '-')
                return "label ends with '-'";
            label_start = i + 1;
            if (i < len)
                last_label_numeric = true;
            continue;
        }
        if ((unsigned char)name[i] >= 0x80)
            return "non-ASCII; use punycode (xn--...)";
        if (!is_host_char(name[i])) {
            *bad_char = name[i];
            return "invalid character";
        }
        if (!is_digit(name[i]))
            last_label_numeric = false;
    }
    /* "1.2.3" or "example.123": a resolver or a client library may read these as an IPv4
     * address (inet_aton), and no top-level domain is all digits. */
    if (last_label_numeric)
        return "all-numeric last label: not an IPv4 address (that needs four parts) and not a "
               "host name";
    /* The same for the other forms inet_aton() takes, such as "0x7f000001" or "0x7f.1". */
    memcpy(copy, name, len);
    copy[len] = '\0';
    if (inet_aton(copy, &as_address) != 0)
        return "reads as an IPv4 address in a form dnsjail does not accept; write it as four "
               "decimal parts";
    return NULL;
}

/* ---- one entry ------------------------------------------------------------------------- */

struct entry {
    char shown[OCI_PRINTABLE_SIZE]; /* the entry as it may appear in a message */
    bool allow_wildcard_all;
};

static int entry_error(dj_error_t *err, const struct entry *e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int entry_error(dj_error_t *err, const struct entry *e, const char *fmt, ...)
{
    cleanup_free char *why = NULL;
    va_list ap;
    int r;

    va_start(ap, fmt);
    r = vasprintf(&why, fmt, ap);
    va_end(ap);
    if (r < 0) {
        why = NULL;
        return dj_error_make(err, ENOMEM, "entry \"%s\"", e->shown);
    }
    return dj_error_make(err, 0, "entry \"%s\": %s", e->shown, why);
}

/* PORT_TEXT: 1..65535, decimal digits only. */
static int parse_port(const struct entry *e, const char *port_text, uint16_t *port, dj_error_t *err)
{
    unsigned long value = 0;

    if (*port_text == '\0')
        return entry_error(err, e, "empty port after ':'");
    for (const char *p = port_text; *p != '\0'; p++) {
        if (!is_digit(*p))
            return entry_error(err, e, "port is not a number");
        value = value * 10 + (unsigned long)(*p - '0');
        if (value > 65535)
            return entry_error(err, e, "port out of range (1..65535)");
    }
    if (value == 0)
        return entry_error(err, e, "port out of range (1..65535)");
    *port = (uint16_t)value;
    return 0;
}

/* ADDR or ADDR/LEN of FAMILY. NOT_ADDRESS says what is wrong when ADDR is not one. */
static int parse_cidr(const struct entry *e, char *text, int family, const char *not_address,
                      struct dj_allow_rule *r, dj_error_t *err)
{
    unsigned max_prefix = family == AF_INET ? 32 : 128;
    size_t addr_len = family == AF_INET ? 4 : 16;
    const char *family_name = family == AF_INET ? "IPv4" : "IPv6";
    char *slash = strchr(text, '/');
    unsigned prefix = max_prefix;
    uint8_t masked[16];
    char network[INET6_ADDRSTRLEN];

    if (slash != NULL) {
        const char *p = slash + 1;

        *slash = '\0';
        if (*p == '\0' || strlen(p) > 3 || (p[0] == '0' && p[1] != '\0'))
            return entry_error(err, e, "bad prefix length (0..%u)", max_prefix);
        prefix = 0;
        for (; *p != '\0'; p++) {
            if (!is_digit(*p))
                return entry_error(err, e, "bad prefix length (0..%u)", max_prefix);
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > max_prefix)
            return entry_error(err, e, "bad prefix length (0..%u)", max_prefix);
    }
    if (inet_pton(family, text, r->addr) != 1)
        return entry_error(err, e, "%s", not_address);

    memcpy(masked, r->addr, addr_len);
    for (size_t i = 0; i < addr_len; i++) {
        unsigned bits_before = (unsigned)i * 8;

        if (bits_before >= prefix)
            masked[i] = 0;
        else if (prefix - bits_before < 8)
            masked[i] &= (uint8_t)(0xff << (8 - (prefix - bits_before)));
    }
    if (memcmp(masked, r->addr, addr_len) != 0) {
        inet_ntop(family, masked, network, sizeof(network));
        return entry_error(err, e, "host bits set; did you mean %s/%u?", network, prefix);
    }
    if (prefix == 0 && !e->allow_wildcard_all)
        return entry_error(err, e,
                           "/0 allows every %s address; the administrator has not enabled "
                           "allow-wildcard-all",
                           family_name);
    r->kind = DJ_RULE_CIDR;
    r->family = family;
    r->prefix = (uint8_t)prefix;
    return 0;
}

/* "[ADDR]", "[ADDR/LEN]", optionally followed by ":PORT". TEXT starts with '['. */
static int parse_bracketed(const struct entry *e, char *text, struct dj_allow_rule *r,
                           dj_error_t *err)
{
    char *close = strchr(text, ']');
    char *after;
    struct in_addr ignored;

    if (close == NULL)
        return entry_error(err, e, "missing ']'");
    *close = '\0';
    after = close + 1;
    if (*after == '/')
        return entry_error(err, e, "put the prefix length inside the brackets: [ADDR/LEN]");
    if (*after != '\0' && *after != ':')
        return entry_error(err, e, "unexpected text after ']'");
    if (strchr(text + 1, '/') == NULL && inet_pton(AF_INET, text + 1, &ignored) == 1)
        return entry_error(err, e, "brackets are only for IPv6 addresses");
    if (parse_cidr(e, text + 1, AF_INET6, "not an IPv6 address", r, err) < 0)
        return -1;
    if (*after == ':')
        return parse_port(e, after + 1, &r->port, err);
    return 0;
}

/* A host name, "*.name" or "*"; TEXT has no port. */
static int parse_host(const struct entry *e, char *text, struct dj_allow_rule *r, dj_error_t *err)
{
    enum dj_rule_kind kind = DJ_RULE_HOST;
    const char *problem;
    char bad_char = '?';
    size_t len;

    if (strcmp(text, "*") == 0) {
        if (!e->allow_wildcard_all)
            return entry_error(err, e,
                               "a bare '*' allows every host; the administrator has not enabled "
                               "allow-wildcard-all");
        r->kind = DJ_RULE_ANY_HOST;
        return 0;
    }
    if (strncmp(text, "*.", 2) == 0) {
        kind = DJ_RULE_WILDCARD;
        text += 2;
    }
    if (strchr(text, '*') != NULL)
        return entry_error(err, e, "'*' may only be the whole first label (*.example.com)");
    len = strlen(text);
    if (len > 0 && text[len - 1] == '.')
        len--;
    problem = host_problem(text, len, &bad_char);
    if (problem != NULL) {
        if (strcmp(problem, "invalid character") == 0)
            return entry_error(err, e, "invalid character '%c' in a host name", bad_char);
        return entry_error(err, e, "%s", problem);
    }
    r->host = strndup(text, len);
    if (r->host == NULL)
        return dj_error_make(err, ENOMEM, "entry \"%s\"", e->shown);
    for (char *p = r->host; *p != '\0'; p++)
        *p = to_lower(*p);
    r->kind = kind;
    return 0;
}

static int parse_entry(struct entry *e, char *text, struct dj_allow_rule *r, dj_error_t *err)
{
    size_t colons = 0;
    char *colon;
    bool numeric = true;

    memset(r, 0, sizeof(*r));
    for (const char *p = text; *p != '\0'; p++) {
        unsigned char c = (unsigned char)*p;

        if (c >= 0x80)
            return entry_error(err, e, "non-ASCII; use punycode (xn--...)");
        if (c < 0x20 || c == 0x7f)
            return entry_error(err, e, "control character");
        if (c == ':')
            colons++;
    }
    if (text[0] == '[')
        return parse_bracketed(e, text, r, err);
    /* Every IPv6 address has at least two colons; a host or IPv4 entry at most one. A bare
     * IPv6 address takes no port: "2001:db8::1:443" is itself an address. */
    if (colons >= 2) {
        if (strspn(text, "0123456789abcdefABCDEF:./") != strlen(text))
            return entry_error(err, e, "more than one ':' (a port is written once, NAME:PORT)");
        return parse_cidr(e, text, AF_INET6,
                          "not an IPv6 address (with a port, use brackets: [ADDR]:PORT)", r, err);
    }
    colon = strchr(text, ':');
    if (colon != NULL) {
        *colon = '\0';
        if (parse_port(e, colon + 1, &r->port, err) < 0)
            return -1;
        if (text[0] == '\0')
            return entry_error(err, e, "empty name before ':'");
    }
    for (const char *p = text; *p != '\0'; p++)
        if (!is_digit(*p) && *p != '.' && *p != '/')
            numeric = false;
    if (strchr(text, '/') != NULL) {
        if (!numeric)
            return entry_error(err, e, "'/' is only allowed in an address prefix (ADDR/LEN)");
        return parse_cidr(e, text, AF_INET, "not an IPv4 address", r, err);
    }
    if (numeric && strchr(text, '.') != NULL && text[strlen(text) - 1] != '.') {
        struct in_addr a;

        if (inet_pton(AF_INET, text, &a) != 1)
            return entry_error(err, e, "not an IPv4 address and not a host name");
        return parse_cidr(e, text, AF_INET, "not an IPv4 address", r, err);
    }
    return parse_host(e, text, r, err);
}

/* ---- the allow list -------------------------------------------------------------------- */

static bool is_separator(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

void dj_allow_free(struct dj_allow_rule *rules, size_t n_rules)
{
    if (rules == NULL)
        return;
    for (size_t i = 0; i < n_rules; i++)
        free(rules[i].host);
    free(rules);
}

int dj_allow_parse(const char *value, bool allow_wildcard_all, struct dj_allow_rule **rules_out,
                   size_t *n_out, dj_error_t *err)
{
    struct dj_allow_rule *rules = NULL;
    size_t n = 0, capacity = 0;
    size_t len, pos = 0;

    *rules_out = NULL;
    *n_out = 0;
    if (value == NULL)
        return 0;
    len = strlen(value);
    if (len > DJ_ALLOW_MAX_BYTES)
        return dj_error_make(err, 0, "value is %zu bytes, more than %d", len, DJ_ALLOW_MAX_BYTES);

    while (pos < len) {
        cleanup_free char *text = NULL;
        struct entry e;
        size_t start, end;

        while (pos < len && is_separator(value[pos]))
            pos++;
        if (pos == len)
            break;
        start = pos;
        while (pos < len && !is_separator(value[pos]))
            pos++;
        end = pos;

        if (n == DJ_ALLOW_MAX_RULES) {
            dj_allow_free(rules, n);
            return dj_error_make(err, 0, "more than %d entries", DJ_ALLOW_MAX_RULES);
        }
        if (n == capacity) {
            size_t new_capacity = capacity == 0 ? 8 : capacity * 2;
            struct dj_allow_rule *grown = realloc(rules, new_capacity * sizeof(*rules));

            if (grown == NULL) {
                dj_allow_free(rules, n);
                return dj_error_make(err, ENOMEM, "cannot store allow rules");
            }
            rules = grown;
            capacity = new_capacity;
        }
        text = strndup(value + start, end - start);
        if (text == NULL) {
            dj_allow_free(rules, n);
            return dj_error_make(err, ENOMEM, "cannot store allow rules");
        }
        e.allow_wildcard_all = allow_wildcard_all;
        oci_printable(e.shown, sizeof(e.shown), text);
        if (parse_entry(&e, text, &rules[n], err) < 0) {
            dj_allow_free(rules, n);
            return -1;
        }
        n++;
    }
    *rules_out = rules;
    *n_out = n;
    return 0;
}

/* ---- the policy ------------------------------------------------------------------------ */

static char *rule_text(const struct dj_allow_rule *r, uint16_t port);

/* The limits an annotation's allow rules must lie within: the admin's annotation-allow-within,
 * and with a profile also the profile's own rules (an annotation may narrow a profile, and
 * widen it only as far as annotation-allow-within lets any container). No limit at all when
 * neither applies. */
static int check_ceiling(const struct dj_policy *policy, const struct dj_adminconf *cfg,
                         const struct dj_profile *profile, dj_error_t *err)
{
    struct dj_allow_rule *limits = NULL, *own = NULL;
    size_t n_limits = 0, n_own = 0;
    int r = 0;

    if ((cfg->allow_ceiling == NULL && profile == NULL) || policy->n_rules == 0)
        return 0;
    if (cfg->allow_ceiling != NULL &&
        dj_allow_parse(cfg->allow_ceiling, true, &limits, &n_limits, err) < 0)
        return dj_error_wrap(err, "config key annotation-allow-within");
    if (profile != NULL && profile->allow != NULL &&
        dj_allow_parse(profile->allow, true, &own, &n_own, err) < 0) {
        dj_allow_free(limits, n_limits);
        return dj_error_wrap(err, "config key profile.%s.allow", profile->name);
    }
    for (size_t i = 0; i < policy->n_rules && r == 0; i++) {
        bool within = false;

        for (size_t j = 0; j < n_limits && !within; j++)
            within = dj_allow_rule_within(&policy->rules[i], &limits[j]);
        for (size_t j = 0; j < n_own && !within; j++)
            within = dj_allow_rule_within(&policy->rules[i], &own[j]);
        if (!within) {
            char *text = rule_text(&policy->rules[i], policy->rules[i].port);

            /* Shown as written: no port means the default pair, not port 0. */
            if (text != NULL && policy->rules[i].port == 0 && strlen(text) > 2)
                text[strlen(text) - 2] = '\0';
            if (profile != NULL)
                r = dj_error_make(err, 0,
                                  "annotation " DJ_ANNOTATION_ALLOW ": entry \"%s\" is wider "
                                  "than profile %s allows (profile.%s.allow%s)",
                                  text != NULL ? text : "?", profile->name, profile->name,
                                  cfg->allow_ceiling != NULL ? ", annotation-allow-within" : "");
            else
                r = dj_error_make(err, 0,
                                  "annotation " DJ_ANNOTATION_ALLOW ": entry \"%s\" is wider "
                                  "than the administrator allows (annotation-allow-within)",
                                  text != NULL ? text : "?");
            free(text);
        }
    }
    dj_allow_free(limits, n_limits);
    dj_allow_free(own, n_own);
    return r;
}

/* The admin's allow rules go to every jailed container, after the annotation's. */
static int add_admin_rules(struct dj_policy *policy, const struct dj_adminconf *cfg,
                           dj_error_t *err)
{
    struct dj_allow_rule *admin = NULL, *merged;
    size_t n_admin = 0;

    if (cfg->admin_allow == NULL)
        return 0;
    if (dj_allow_parse(cfg->admin_allow, true, &admin, &n_admin, err) < 0)
        return dj_error_wrap(err, "config key allow");
    if (n_admin == 0) {
        dj_allow_free(admin, n_admin);
        return 0;
    }
    merged = realloc(policy->rules, (policy->n_rules + n_admin) * sizeof(*merged));
    if (merged == NULL) {
        dj_allow_free(admin, n_admin);
        return dj_error_make(err, ENOMEM, "admin allow rules");
    }
    /* The rules move over with their host strings; only the array is freed. */
    memcpy(merged + policy->n_rules, admin, n_admin * sizeof(*merged));
    free(admin);
    policy->rules = merged;
    policy->n_rules += n_admin;
    return 0;
}

/* Adds zone NAME to the policy's, unless it forwards it already (the admin's, for everyone). */
static int add_zone(struct dj_policy *policy, const char *name, const char *upstreams,
                    dj_error_t *err)
{
    for (size_t k = 0; k < policy->forward.n; k++)
        if (strcmp(policy->forward.zones[k].name, name) == 0)
            return 0;
    return dj_fwdzone_add(&policy->forward, name, upstreams, err);
}

/* The admin's forward-zones, then either the annotation's zones or the profile's. Each zone
 * the annotation names must lie within a zone of the profile or of annotation-forward-within,
 * and takes that zone's upstreams (the profile's first). */
static int add_forward_zones(struct dj_policy *policy, const char *annotation,
                             const struct dj_adminconf *cfg, const struct dj_profile *profile,
                             dj_error_t *err)
{
    struct dj_fwdzone_list asked = {0}, ceiling = {0}, own = {0};
    int r = 0;

    if (cfg->forward_zones != NULL &&
        dj_fwdzone_parse(&policy->forward, cfg->forward_zones, true, err) < 0)
        return dj_error_wrap(err, "config key forward-zones");
    if (profile != NULL && profile->forward != NULL &&
        dj_fwdzone_parse(&own, profile->forward, true, err) < 0)
        return dj_error_wrap(err, "config key profile.%s.forward", profile->name);
    if (annotation == NULL) {
        for (size_t i = 0; i < own.n && r == 0; i++)
            r = add_zone(policy, own.zones[i].name, own.zones[i].upstreams, err);
        dj_fwdzone_free(&own);
        return r;
    }
    if (cfg->forward_ceiling == NULL && own.n == 0) {
        dj_fwdzone_free(&own);
        return dj_error_make(err, 0,
                             "annotation " DJ_ANNOTATION_FORWARD ": the administrator has not "
                             "allowed containers to ask for forward zones "
                             "(annotation-forward-within is not set%s)",
                             profile != NULL ? ", nor the profile's forward" : "");
    }
    if (cfg->forward_ceiling != NULL &&
        dj_fwdzone_parse(&ceiling, cfg->forward_ceiling, true, err) < 0) {
        r = dj_error_wrap(err, "config key annotation-forward-within");
        goto out;
    }
    if (dj_fwdzone_parse(&asked, annotation, false, err) < 0) {
        r = dj_error_wrap(err, "annotation " DJ_ANNOTATION_FORWARD);
        goto out;
    }
    for (size_t i = 0; i < asked.n && r == 0; i++) {
        ssize_t in_own = dj_fwdzone_match_text(&own, asked.zones[i].name);
        ssize_t in_ceiling =
            in_own >= 0 ? -1 : dj_fwdzone_match_text(&ceiling, asked.zones[i].name);

        if (in_own < 0 && in_ceiling < 0) {
            r = dj_error_make(err, 0,
                              "annotation " DJ_ANNOTATION_FORWARD ": zone \"%s\" is not within "
                              "the zones the administrator allows (%s)",
                              asked.zones[i].name,
                              profile != NULL ? "the profile's forward, annotation-forward-within"
                                              : "annotation-forward-within");
            break;
        }
        r = add_zone(
            policy, asked.zones[i].name,
            in_own >= 0 ? own.zones[in_own].upstreams : ceiling.zones[in_ceiling].upstreams, err);
    }
out:
    dj_fwdzone_free(&asked);
    dj_fwdzone_free(&ceiling);
    dj_fwdzone_free(&own);
    return r;
}

/* The daemons are handed the canonical list (each rule without a port as two, for 80 and 443,
 * every rule once; see policy_memfd in hook/daemons.c) and parse it with
 * dj_allow_parse()'s limits. Checked here, on that list, so that a container the hook accepts
 * is one whose daemons start. */
static int check_daemon_limits(const struct dj_policy *policy, dj_error_t *err)
{
    cleanup_free char *canonical = dj_policy_canonical(policy);
    const char *rules;
    size_t n = 0, len;

    if (canonical == NULL)
        return dj_error_make(err, ENOMEM, "policy");
    rules = strstr(canonical, " allow=");
    rules = rules != NULL ? rules + strlen(" allow=") : "";
    len = strlen(rules);
    if (len > 0)
        n = 1;
    for (const char *p = rules; (p = strchr(p, ',')) != NULL; p++)
        n++;
    if (n > DJ_ALLOW_MAX_RULES)
        return dj_error_make(err, 0,
                             DJ_ANNOTATION_ALLOW
                             " and the config's allow come to %zu rules, "
                             "counting a rule without a port twice (ports 80 and 443); the "
                             "limit is %d rules per jail (docs/POLICY.md, Limits)",
                             n, DJ_ALLOW_MAX_RULES);
    if (len > DJ_ALLOW_MAX_BYTES)
        return dj_error_make(err, 0,
                             DJ_ANNOTATION_ALLOW
                             " and the config's allow come to %zu bytes, "
                             "counting a rule without a port twice (ports 80 and 443); the "
                             "limit is %d bytes per jail (docs/POLICY.md, Limits)",
                             len, DJ_ALLOW_MAX_BYTES);
    return 0;
}

/* The profile the container gets: the runtime's (dnsjail-runtime --profile, passed to the hook
 * as --profile) or the annotation's; both only if they agree. NULL: none. */
static int choose_profile(const struct dj_adminconf *cfg, const char *from_runtime,
                          const char *from_annotation, const struct dj_profile **out,
                          dj_error_t *err)
{
    char shown[OCI_PRINTABLE_SIZE];
    const char *name = from_runtime != NULL ? from_runtime : from_annotation;

    *out = NULL;
    if (from_runtime != NULL && from_annotation != NULL &&
        strcmp(from_runtime, from_annotation) != 0)
        return dj_error_make(err, 0,
                             "annotation " DJ_ANNOTATION_PROFILE ": \"%s\" is not the profile "
                             "the runtime gives (\"%s\")",
                             oci_printable(shown, sizeof(shown), from_annotation), from_runtime);
    if (name == NULL)
        return 0;
    *out = dj_adminconf_profile(cfg, name);
    if (*out == NULL)
        return dj_error_make(err, 0,
                             "%s \"%s\": no such profile in the configuration (profile.NAME.*)",
                             from_runtime != NULL ? "profile" : "annotation " DJ_ANNOTATION_PROFILE,
                             oci_printable(shown, sizeof(shown), name));
    return 0;
}

int dj_policy_build(const struct oci_annotation *ann, size_t n_ann, const struct dj_adminconf *cfg,
                    const char *profile_name, struct dj_policy *policy, dj_error_t *err)
{
    static const char prefix[] = DJ_ANNOTATION_PREFIX;
    const char *enable = NULL, *mode = NULL, *allow = NULL, *forward = NULL, *named = NULL;
    const struct dj_profile *profile = NULL;
    char shown_key[OCI_PRINTABLE_SIZE];
    char shown_value[OCI_PRINTABLE_SIZE];

    memset(policy, 0, sizeof(*policy));
    policy->enable = cfg->default_enable;
    policy->mode = DJ_MODE_ENFORCE;

    for (size_t i = 0; ann != NULL && i < n_ann; i++) {
        const char *key = ann[i].key;
        const char **slot;

        /* Compared without case: "IO.DNSJAIL.ENABLE" is a typo to refuse, not someone
         * else's annotation to ignore. */
        if (key == NULL || strncasecmp(key, prefix, sizeof(prefix) - 1) != 0)
            continue;
        if (strcmp(key, DJ_ANNOTATION_ENABLE) == 0)
            slot = &enable;
        else if (strcmp(key, DJ_ANNOTATION_MODE) == 0)
            slot = &mode;
        else if (strcmp(key, DJ_ANNOTATION_ALLOW) == 0)
            slot = &allow;
        else if (strcmp(key, DJ_ANNOTATION_FORWARD) == 0)
            slot = &forward;
        else if (strcmp(key, DJ_ANNOTATION_PROFILE) == 0)
            slot = &named;
        else
            return dj_error_make(err, 0,
                                 "unknown annotation '%s' (known: " DJ_ANNOTATION_ENABLE
                                 ", " DJ_ANNOTATION_MODE ", " DJ_ANNOTATION_ALLOW
                                 ", " DJ_ANNOTATION_FORWARD ", " DJ_ANNOTATION_PROFILE ")",
                                 oci_printable(shown_key, sizeof(shown_key), key));
        if (*slot != NULL)
            return dj_error_make(err, 0, "annotation %s is given twice", key);
        if (ann[i].value == NULL)
            return dj_error_make(err, 0, "annotation %s has no value", key);
        *slot = ann[i].value;
    }

    if (choose_profile(cfg, profile_name, named, &profile, err) < 0)
        return -1;
    if (profile != NULL) {
        /* A profile jails: it is how an admin says "this runtime jails", so an annotation can
         * narrow what it allows but not switch it off or make it audit only. */
        policy->enable = true;
        policy->mode = profile->audit ? DJ_MODE_AUDIT : DJ_MODE_ENFORCE;
    }
    if (enable != NULL) {
        if (strcmp(enable, "true") == 0)
            policy->enable = true;
        else if (strcmp(enable, "false") == 0 && profile == NULL)
            policy->enable = false;
        else if (strcmp(enable, "false") == 0)
            return dj_error_make(err, 0,
                                 "annotation " DJ_ANNOTATION_ENABLE ": profile %s jails every "
                                 "container it is given; \"false\" cannot turn it off",
                                 profile->name);
        else
            return dj_error_make(
                err, 0, "annotation " DJ_ANNOTATION_ENABLE ": \"%s\" is not \"true\" or \"false\"",
                oci_printable(shown_value, sizeof(shown_value), enable));
    }
    if (mode != NULL) {
        if (strcmp(mode, "audit") == 0 && profile != NULL && !profile->audit)
            return dj_error_make(err, 0,
                                 "annotation " DJ_ANNOTATION_MODE ": profile %s enforces; "
                                 "\"audit\" would let everything through",
                                 profile->name);
        if (strcmp(mode, "audit") == 0)
            policy->mode = DJ_MODE_AUDIT;
        else if (strcmp(mode, "enforce") == 0)
            policy->mode = DJ_MODE_ENFORCE;
        else
            return dj_error_make(err, 0,
                                 "annotation " DJ_ANNOTATION_MODE
                                 ": unknown mode \"%s\" (\"enforce\" or \"audit\")",
                                 oci_printable(shown_value, sizeof(shown_value), mode));
    }
    if (allow != NULL &&
        dj_allow_parse(allow, cfg->allow_wildcard_all, &policy->rules, &policy->n_rules, err) < 0)
        return dj_error_wrap(err, "annotation " DJ_ANNOTATION_ALLOW);
    /* Without an allow annotation the profile's rules are the container's. */
    if (allow == NULL && profile != NULL && profile->allow != NULL &&
        dj_allow_parse(profile->allow, true, &policy->rules, &policy->n_rules, err) < 0)
        return dj_error_wrap(err, "config key profile.%s.allow", profile->name);
    if ((allow != NULL && check_ceiling(policy, cfg, profile, err) < 0) ||
        add_admin_rules(policy, cfg, err) < 0 ||
        add_forward_zones(policy, forward, cfg, profile, err) < 0 ||
        check_daemon_limits(policy, err) < 0) {
        dj_policy_free(policy);
        return -1;
    }
    return 0;
}

int dj_policy_from_annotations(const struct oci_annotation *ann, size_t n_ann,
                               const struct dj_adminconf *cfg, struct dj_policy *policy,
                               dj_error_t *err)
{
    return dj_policy_build(ann, n_ann, cfg, NULL, policy, err);
}

void dj_policy_free(struct dj_policy *policy)
{
    if (policy == NULL)
        return;
    dj_fwdzone_free(&policy->forward);
    dj_allow_free(policy->rules, policy->n_rules);
    policy->rules = NULL;
    policy->n_rules = 0;
}

/* ---- canonical text -------------------------------------------------------------------- */

/* One rule as text with an explicit port. */
static char *rule_text(const struct dj_allow_rule *r, uint16_t port)
{
    char addr[INET6_ADDRSTRLEN];
    char *out = NULL;
    int n = -1;

    switch (r->kind) {
    case DJ_RULE_HOST:
        n = asprintf(&out, "%s:%u", r->host, port);
        break;
    case DJ_RULE_WILDCARD:
        n = asprintf(&out, "*.%s:%u", r->host, port);
        break;
    case DJ_RULE_ANY_HOST:
        n = asprintf(&out, "*:%u", port);
        break;
    case DJ_RULE_CIDR:
        if (inet_ntop(r->family, r->addr, addr, sizeof(addr)) == NULL)
            return NULL;
        if (r->family == AF_INET)
            n = asprintf(&out, "%s/%u:%u", addr, r->prefix, port);
        else
            n = asprintf(&out, "[%s/%u]:%u", addr, r->prefix, port);
        break;
    }
    return n < 0 ? NULL : out;
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "ZONE[=UPS],..." sorted by zone (names are unique in a list), "" when there are none. */
static char *forward_text(const struct dj_fwdzone_list *zones)
{
    char **texts = calloc(zones->n + 1, sizeof(*texts));
    size_t total = 1;
    char *out = NULL, *p;
    size_t n = 0;

    if (texts == NULL)
        return NULL;
    for (; n < zones->n; n++) {
        const struct dj_fwdzone *z = &zones->zones[n];

        if (asprintf(&texts[n], "%s%s%s", z->name, z->upstreams != NULL ? "=" : "",
                     z->upstreams != NULL ? z->upstreams : "") < 0) {
            texts[n] = NULL;
            goto out;
        }
        total += strlen(texts[n]) + 1;
    }
    qsort(texts, n, sizeof(*texts), compare_strings);
    out = malloc(total);
    if (out == NULL)
        goto out;
    p = out;
    *p = '\0';
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i > 0 ? "," : "", texts[i]);
out:
    for (size_t i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    return out;
}

char *dj_policy_canonical(const struct dj_policy *policy)
{
    cleanup_free char *forward = NULL;
    char **texts;
    size_t n_texts = 0, total;
    char *out = NULL, *p;

    /* A rule without a port stands for two (80 and 443), so "example.com" and
     * "example.com:80 example.com:443" come out the same. */
    texts = calloc(policy->n_rules * 2 + 1, sizeof(*texts));
    if (texts == NULL)
        return NULL;
    for (size_t i = 0; i < policy->n_rules; i++) {
        const struct dj_allow_rule *r = &policy->rules[i];

        if (r->port != 0) {
            if ((texts[n_texts++] = rule_text(r, r->port)) == NULL)
                goto out;
        } else {
            if ((texts[n_texts++] = rule_text(r, 80)) == NULL ||
                (texts[n_texts++] = rule_text(r, 443)) == NULL)
                goto out;
        }
    }
    qsort(texts, n_texts, sizeof(*texts), compare_strings);

    forward = forward_text(&policy->forward);
    if (forward == NULL)
        goto out;
    total = sizeof("mode=enforce forward= allow=") + strlen(forward);
    for (size_t i = 0; i < n_texts; i++)
        total += strlen(texts[i]) + 1;
    out = malloc(total);
    if (out == NULL)
        goto out;
    p = out + sprintf(out,
                      "mode=%s%s%s allow=", policy->mode == DJ_MODE_AUDIT ? "audit" : "enforce",
                      forward[0] != '\0' ? " forward=" : "", forward);
    for (size_t i = 0; i < n_texts; i++) {
        size_t len;

        if (i > 0 && strcmp(texts[i], texts[i - 1]) == 0)
            continue;
        if (p[-1] != '=')
            *p++ = ',';
        len = strlen(texts[i]);
        memcpy(p, texts[i], len);
        p += len;
    }
    *p = '\0';

out:
    for (size_t i = 0; i < n_texts; i++)
        free(texts[i]);
    free(texts);
    return out;
}

/* ---- matching -------------------------------------------------------------------------- */

static bool port_allowed(uint16_t rule_port, uint16_t port)
{
    if (rule_port == 0)
        return port == 80 || port == 443;
    return port == rule_port;
}

bool dj_allow_match_host(const struct dj_allow_rule *rules, size_t n_rules, const char *host,
                         uint16_t port)
{
    char bad_char;
    size_t len;

    if (rules == NULL || host == NULL)
        return false;
    len = strlen(host);
    if (len > 0 && host[len - 1] == '.')
        len--;
    /* Only well-formed names match; an address literal is for dj_allow_match_addr(). */
    if (host_problem(host, len, &bad_char) != NULL)
        return false;
    for (size_t i = 0; i < n_rules; i++) {
        const struct dj_allow_rule *r = &rules[i];
        size_t rule_len;

        if (!port_allowed(r->port, port))
            continue;
        switch (r->kind) {
        case DJ_RULE_ANY_HOST:
            return true;
        case DJ_RULE_HOST:
            if (strlen(r->host) == len && strncasecmp(host, r->host, len) == 0)
                return true;
            break;
        case DJ_RULE_WILDCARD:
            rule_len = strlen(r->host);
            if (len > rule_len + 1 && host[len - rule_len - 1] == '.' &&
                strncasecmp(host + len - rule_len, r->host, rule_len) == 0)
                return true;
            break;
        case DJ_RULE_CIDR:
            break;
        }
    }
    return false;
}

static bool prefix_matches(const uint8_t *network, const uint8_t *addr, unsigned prefix)
{
    unsigned full = prefix / 8, rest = prefix % 8;

    if (memcmp(network, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((network[full] ^ addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

bool dj_allow_match_addr(const struct dj_allow_rule *rules, size_t n_rules, int family,
                         const void *addr, uint16_t port)
{
    static const uint8_t v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *bytes = addr;
    const uint8_t *as_v4 = NULL;

    if (rules == NULL || addr == NULL || (family != AF_INET && family != AF_INET6))
        return false;
    if (family == AF_INET)
        as_v4 = bytes;
    else if (memcmp(bytes, v4_mapped, sizeof(v4_mapped)) == 0)
        as_v4 = bytes + 12; /* a dual-stack socket's view of an IPv4 peer */
    for (size_t i = 0; i < n_rules; i++) {
        const struct dj_allow_rule *r = &rules[i];

        if (r->kind != DJ_RULE_CIDR || !port_allowed(r->port, port))
            continue;
        if (r->family == AF_INET && as_v4 != NULL && prefix_matches(r->addr, as_v4, r->prefix))
            return true;
        if (r->family == AF_INET6 && family == AF_INET6 &&
            prefix_matches(r->addr, bytes, r->prefix))
            return true;
    }
    return false;
}

/* A name (HOST "a.b" or WILDCARD below "a.b") within another rule's names. */
static bool name_within(const struct dj_allow_rule *rule, const struct dj_allow_rule *limit)
{
    size_t len, limit_len;

    if (limit->kind == DJ_RULE_ANY_HOST)
        return true;
    if (rule->kind == DJ_RULE_ANY_HOST || limit->host == NULL || rule->host == NULL)
        return false;
    len = strlen(rule->host);
    limit_len = strlen(limit->host);
    if (limit->kind == DJ_RULE_HOST)
        return rule->kind == DJ_RULE_HOST && strcmp(rule->host, limit->host) == 0;
    /* limit is *.D: the rule's names must all be strictly below D. A host equal to D is not;
     * a wildcard *.D is (same set); a name or wildcard below D is. */
    if (strcmp(rule->host, limit->host) == 0)
        return rule->kind == DJ_RULE_WILDCARD;
    return len > limit_len + 1 && rule->host[len - limit_len - 1] == '.' &&
           strcmp(rule->host + len - limit_len, limit->host) == 0;
}

static bool ports_within(uint16_t rule_port, uint16_t limit_port)
{
    if (limit_port == rule_port)
        return true;
    /* A rule for port 80 or 443 alone lies within the default pair. */
    return limit_port == 0 && (rule_port == 80 || rule_port == 443);
}

bool dj_allow_rule_within(const struct dj_allow_rule *rule, const struct dj_allow_rule *limit)
{
    if (!ports_within(rule->port, limit->port))
        return false;
    if (rule->kind == DJ_RULE_CIDR || limit->kind == DJ_RULE_CIDR) {
        if (rule->kind != DJ_RULE_CIDR || limit->kind != DJ_RULE_CIDR ||
            rule->family != limit->family || rule->prefix < limit->prefix)
            return false;
        return prefix_matches(limit->addr, rule->addr, limit->prefix);
    }
    return name_within(rule, limit);
}

/* The io.dnsjail.allow value, from a pipe or a memfd (read from its start), to EOF. */
int dj_allow_read_fd(int fd, char **out, dj_error_t *err)
{
    cleanup_free char *buf = NULL;
    size_t len = 0;

    if (dj_file_pread_fd(fd, DJ_ALLOW_MAX_BYTES, &buf, &len) < 0) {
        if (errno == EFBIG)
            return dj_error_make(err, 0, "--policy-fd %d: the allow rules exceed %d bytes", fd,
                                 DJ_ALLOW_MAX_BYTES);
        if (errno == ENOMEM)
            return dj_error_make(err, ENOMEM, "--policy-fd");
        return dj_error_make(err, errno, "--policy-fd %d: read", fd);
    }
    if (memchr(buf, '\0', len) != NULL)
        return dj_error_make(err, 0, "--policy-fd %d: the allow rules contain a NUL byte", fd);
    *out = steal_ptr(&buf);
    return 0;
}
