#include "config.h"

/* `dnsjail check`: validates io.dnsjail.* annotations against the admin config, or an admin
 * config file, the way the hook would, and says in words what each allow rule lets through.
 * Validation is lib/jail/policy's and lib/jail/adminconf's own: this file only explains. */

#include <arpa/inet.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "jail/oci.h"
#include "jail/policy.h"

#define MAX_ANNOTATIONS 16

static void check_usage(FILE *out)
{
    fprintf(out,
            "Usage: " DJ_CLI_PROGRAM " [--config ADMIN-FILE] check [--profile NAME] "
            "[io.dnsjail.KEY=]VALUE...\n"
            "       " DJ_CLI_PROGRAM " check --config FILE\n"
            "\n"
            "Validates a container's io.dnsjail.* annotations within the admin configuration\n"
            "(a bare VALUE is the value of io.dnsjail.allow), or an admin configuration file,\n"
            "as the hook would, and explains each allow rule. Exit status 0: valid, 1: not.\n"
            "\n"
            "  --config FILE  check this admin configuration file instead\n"
            "  --profile NAME as the runtime's profile (dnsjail-runtime --profile NAME)\n"
            "  -h, --help     this text\n");
}

/* "example.com:8443", "*.example.com", "*", "203.0.113.0/24", "[2001:db8::/32]:443". */
static void rule_text(const struct dj_allow_rule *r, char *out, size_t size)
{
    char addr[INET6_ADDRSTRLEN], base[INET6_ADDRSTRLEN + 300];
    bool single = r->kind == DJ_RULE_CIDR && r->prefix == (r->family == AF_INET ? 32 : 128);

    switch (r->kind) {
    case DJ_RULE_HOST:
        snprintf(base, sizeof(base), "%s", r->host);
        break;
    case DJ_RULE_WILDCARD:
        snprintf(base, sizeof(base), "*.%s", r->host);
        break;
    case DJ_RULE_ANY_HOST:
        snprintf(base, sizeof(base), "*");
        break;
    case DJ_RULE_CIDR:
        inet_ntop(r->family, r->addr, addr, sizeof(addr));
        if (r->family == AF_INET6)
            snprintf(base, sizeof(base), single ? "[%s]" : "[%s/%u]", addr, r->prefix);
        else
            snprintf(base, sizeof(base), single ? "%s" : "%s/%u", addr, r->prefix);
        break;
    }
    if (r->port != 0)
        snprintf(out, size, "%s:%u", base, r->port);
    else
        snprintf(out, size, "%s", base);
}

static void explain_rule(const struct dj_allow_rule *r, const char *origin)
{
    char text[INET6_ADDRSTRLEN + 320], ports[40];
    bool single = r->kind == DJ_RULE_CIDR && r->prefix == (r->family == AF_INET ? 32 : 128);

    rule_text(r, text, sizeof(text));
    if (r->port != 0)
        snprintf(ports, sizeof(ports), "port %u only", r->port);
    else
        snprintf(ports, sizeof(ports), "ports 80 and 443");
    printf("  %-32s ", text);
    switch (r->kind) {
    case DJ_RULE_HOST:
        printf("the host %s only (not names below it), by HTTP Host or TLS SNI, %s", r->host,
               ports);
        break;
    case DJ_RULE_WILDCARD:
        printf("every name below %s at any depth (not %s itself), by HTTP Host or TLS SNI, %s",
               r->host, r->host, ports);
        break;
    case DJ_RULE_ANY_HOST:
        printf("every host name, by HTTP Host or TLS SNI, %s (the proxy still refuses "
               "internal addresses)",
               ports);
        break;
    case DJ_RULE_CIDR:
        printf("%s %s, %s, straight through the firewall (not through the proxy)",
               r->family == AF_INET ? "IPv4" : "IPv6", single ? "address" : "network", ports);
        if (r->prefix == 0)
            printf("; every address of the family");
        break;
    }
    printf(" [%s]\n", origin);
}

static int parse_rules(const char *what, const char *value, bool wildcard_all,
                       struct dj_allow_rule **rules, size_t *n, dj_error_t *err)
{
    if (dj_allow_parse(value, wildcard_all, rules, n, err) < 0)
        return dj_error_wrap(err, "%s", what);
    return 0;
}

/* Explains the admin's own rule keys of CFG. */
static int explain_config_rules(const struct dj_adminconf *cfg, dj_error_t *err)
{
    struct dj_allow_rule *rules = NULL;
    size_t n = 0;

    if (cfg->admin_allow != NULL) {
        if (parse_rules("config key allow", cfg->admin_allow, true, &rules, &n, err) < 0)
            return -1;
        printf("allow: %zu rule%s, granted to every jailed container:\n", n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n; i++)
            explain_rule(&rules[i], "admin allow");
        dj_allow_free(rules, n);
    } else {
        printf("allow: unset, containers get only what their annotation allows\n");
    }
    if (cfg->allow_ceiling != NULL) {
        if (parse_rules("config key annotation-allow-within", cfg->allow_ceiling, true, &rules, &n,
                        err) < 0)
            return -1;
        printf("annotation-allow-within: every annotation rule must lie within one of:\n");
        for (size_t i = 0; i < n; i++)
            explain_rule(&rules[i], "ceiling");
        dj_allow_free(rules, n);
    } else {
        printf("annotation-allow-within: unset, annotations may allow any host or network%s\n",
               cfg->allow_wildcard_all ? "" : " except '*' and '/0'");
    }
    return 0;
}

static int check_config_file(const char *path)
{
    struct dj_adminconf cfg;
    dj_error_t err = NULL;
    int status = 0;

    if (dj_adminconf_init(&cfg, &err) < 0 || dj_adminconf_load(&cfg, path, false, &err) < 0 ||
        explain_config_rules(&cfg, &err) < 0) {
        fprintf(stderr, DJ_CLI_PROGRAM " check: %s\n", dj_error_msg(&err));
        dj_error_release(&err);
        status = 1;
    } else {
        printf("%s: valid\n", path);
    }
    dj_adminconf_free(&cfg);
    return status;
}

/* The annotation rules come first in the policy, then the admin's (lib/jail/policy). */
/* The policy's first N_FIRST rules came from FIRST_ORIGIN ("annotation", or the profile's),
 * the rest from the admin's allow. */
static void explain_policy(const struct dj_adminconf *cfg, const struct dj_policy *policy,
                           const char *profile, size_t n_first, const char *first_origin)
{
    struct dj_allow_rule *ceiling = NULL;
    size_t n_ceiling = 0,
           n_annotation_rules = strcmp(first_origin, "annotation") == 0 ? n_first : 0;
    dj_error_t err = NULL;

    if (profile != NULL)
        printf("profile: %s\n", profile);
    printf("jailed: %s\nmode: %s\n", policy->enable ? "yes" : "no (io.dnsjail.enable=false)",
           policy->mode == DJ_MODE_AUDIT ? "audit" : "enforce");
    if (cfg->allow_ceiling != NULL &&
        dj_allow_parse(cfg->allow_ceiling, true, &ceiling, &n_ceiling, &err) < 0)
        dj_error_release(&err); /* the policy was accepted: the ceiling parses */
    printf("allow: %zu rule%s%s\n", policy->n_rules, policy->n_rules == 1 ? "" : "s",
           policy->n_rules == 0 ? ": nothing but the sinkhole's answers" : ":");
    for (size_t i = 0; i < policy->n_rules; i++) {
        char origin[INET6_ADDRSTRLEN + 340];

        snprintf(origin, sizeof(origin), "%s", i < n_first ? first_origin : "admin allow");
        for (size_t c = 0; i < n_annotation_rules && c < n_ceiling; c++) {
            if (dj_allow_rule_within(&policy->rules[i], &ceiling[c])) {
                char limit[INET6_ADDRSTRLEN + 320];

                rule_text(&ceiling[c], limit, sizeof(limit));
                snprintf(origin, sizeof(origin), "annotation, within %s", limit);
                break;
            }
        }
        explain_rule(&policy->rules[i], origin);
    }
    dj_allow_free(ceiling, n_ceiling);
}

static int check_annotations(const struct dj_adminconf *cfg, const char *profile, int argc,
                             char **argv)
{
    struct oci_annotation ann[MAX_ANNOTATIONS];
    struct dj_allow_rule *rules = NULL;
    size_t n_ann = 0, n_annotation_rules = 0;
    const char *first_origin = "annotation";
    char profile_origin[DJ_PROFILE_NAME_MAX + 16];
    bool allow_given = false;
    struct dj_policy policy;
    dj_error_t err = NULL;
    int status = 0;

    if (argc > MAX_ANNOTATIONS) {
        fprintf(stderr, DJ_CLI_PROGRAM " check: at most %d annotations\n", MAX_ANNOTATIONS);
        return 2;
    }
    for (int i = 0; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');

        /* "io.dnsjail.KEY=VALUE" is an annotation; anything else is an allow value (which
         * never contains '=' before such a prefix). */
        if (strncasecmp(argv[i], DJ_ANNOTATION_PREFIX, strlen(DJ_ANNOTATION_PREFIX)) == 0 &&
            eq != NULL) {
            ann[n_ann].key = strndup(argv[i], (size_t)(eq - argv[i]));
            ann[n_ann].value = strdup(eq + 1);
        } else {
            ann[n_ann].key = strdup(DJ_ANNOTATION_ALLOW);
            ann[n_ann].value = strdup(argv[i]);
        }
        if (ann[n_ann].key == NULL || ann[n_ann].value == NULL) {
            free(ann[n_ann].key);
            free(ann[n_ann].value);
            status = 1;
            fprintf(stderr, DJ_CLI_PROGRAM " check: out of memory\n");
            goto out;
        }
        for (size_t k = 0; k < n_ann; k++) {
            if (strcmp(ann[k].key, ann[n_ann].key) == 0) {
                fprintf(stderr, DJ_CLI_PROGRAM " check: %s given twice\n", ann[k].key);
                free(ann[n_ann].key);
                free(ann[n_ann].value);
                status = 1;
                goto out;
            }
        }
        n_ann++;
    }
    memset(&policy, 0, sizeof(policy));
    if (dj_policy_build(n_ann > 0 ? ann : NULL, n_ann, cfg, profile, &policy, &err) < 0) {
        fprintf(stderr, DJ_CLI_PROGRAM " check: %s\n", dj_error_msg(&err));
        dj_error_release(&err);
        status = 1;
        goto out;
    }
    for (size_t k = 0; k < n_ann; k++) {
        if (strcmp(ann[k].key, DJ_ANNOTATION_PROFILE) == 0)
            profile = ann[k].value; /* the same as --profile, or the policy was refused */
        if (strcmp(ann[k].key, DJ_ANNOTATION_ALLOW) == 0) {
            allow_given = true;
            if (dj_allow_parse(ann[k].value, cfg->allow_wildcard_all, &rules, &n_annotation_rules,
                               &err) == 0)
                dj_allow_free(rules, n_annotation_rules);
        }
        dj_error_release(&err);
    }
    /* Without an allow annotation, a profile's rules come first. */
    if (!allow_given && profile != NULL) {
        const struct dj_profile *p = dj_adminconf_profile(cfg, profile);

        if (p != NULL && p->allow != NULL &&
            dj_allow_parse(p->allow, true, &rules, &n_annotation_rules, &err) == 0)
            dj_allow_free(rules, n_annotation_rules);
        dj_error_release(&err);
        snprintf(profile_origin, sizeof(profile_origin), "profile %s", profile);
        first_origin = profile_origin;
    }
    explain_policy(cfg, &policy, profile, n_annotation_rules, first_origin);
    dj_policy_free(&policy);
    printf("valid\n");
out:
    for (size_t k = 0; k < n_ann; k++) {
        free(ann[k].key);
        free(ann[k].value);
    }
    return status;
}

int dj_cli_check(const struct dj_cli *cli, int argc, char **argv)
{
    const struct dj_adminconf *cfg = cli->cfg;
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"profile", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_file = NULL;
    const char *profile = NULL;
    int opt;

    optind = 0; /* glibc: start over, the global options were parsed with another list */
    opterr = 0;
    /* "+": an allow value may start with '-'? It cannot, but '--' still ends options. */
    while ((opt = getopt_long(argc, argv, "+c:p:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_file = optarg;
            break;
        case 'p':
            profile = optarg;
            break;
        case 'h':
            check_usage(stdout);
            return 0;
        default:
            fprintf(stderr,
                    DJ_CLI_PROGRAM " check: unknown option or missing value: %s (see "
                                   "--help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (config_file != NULL) {
        if (optind < argc) {
            fprintf(stderr, DJ_CLI_PROGRAM " check: --config FILE takes no annotations\n");
            return 2;
        }
        return check_config_file(config_file);
    }
    if (optind >= argc && profile == NULL) {
        check_usage(stderr);
        return 2;
    }
    return check_annotations(cfg, profile, argc - optind, argv + optind);
}
