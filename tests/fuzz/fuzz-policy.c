/* fuzz-policy: bytes as an io.dnsjail.allow value, and as a list of annotations
 * ("key=value" lines). Checks that every parsed rule matches what it names and that the
 * canonical text parses back to itself. */
#include "config.h"

#include <arpa/inet.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "jail/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rules(const struct dj_allow_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct dj_allow_rule *r = &rules[i];
        uint16_t port = r->port != 0 ? r->port : 443;
        char below[300];

        switch (r->kind) {
        case DJ_RULE_HOST:
            if (!dj_allow_match_host(rules, n, r->host, port))
                abort();
            break;
        case DJ_RULE_WILDCARD:
            snprintf(below, sizeof(below), "x.%s", r->host);
            if (strlen(r->host) < 250 && !dj_allow_match_host(&rules[i], 1, below, port))
                abort();
            if (dj_allow_match_host(&rules[i], 1, r->host, port))
                abort();
            break;
        case DJ_RULE_ANY_HOST:
            if (!dj_allow_match_host(&rules[i], 1, "example.com", port))
                abort();
            break;
        case DJ_RULE_CIDR:
            if (!dj_allow_match_addr(&rules[i], 1, r->family, r->addr, port))
                abort();
            break;
        }
    }
}

/* The canonical text's rule list is itself an allow value with the same canonical text. */
static void check_canonical(const struct dj_policy *policy)
{
    static const char marker[] = " allow=";
    struct dj_policy again = {true, policy->mode, NULL, 0};
    char *text = dj_policy_canonical(policy);
    char *text_again;
    dj_error_t err = NULL;

    if (text == NULL)
        return;
    if (dj_allow_parse(strstr(text, marker) + strlen(marker), true, &again.rules, &again.n_rules,
                       &err) < 0)
        abort();
    text_again = dj_policy_canonical(&again);
    if (text_again != NULL && strcmp(text, text_again) != 0)
        abort();
    free(text_again);
    free(text);
    dj_policy_free(&again);
}

static void fuzz_allow(const char *value, bool allow_wildcard_all)
{
    struct dj_policy policy = {true, DJ_MODE_ENFORCE, NULL, 0};
    dj_error_t err = NULL;

    if (dj_allow_parse(value, allow_wildcard_all, &policy.rules, &policy.n_rules, &err) < 0) {
        if (strchr(dj_error_msg(&err), '\n') != NULL || policy.rules != NULL)
            abort();
        dj_error_release(&err);
        return;
    }
    check_rules(policy.rules, policy.n_rules);
    check_canonical(&policy);
    (void)dj_allow_match_host(policy.rules, policy.n_rules, value, 443);
    dj_policy_free(&policy);
}

static void fuzz_annotations(char *text)
{
    struct oci_annotation ann[16];
    size_t n = 0;
    struct dj_adminconf cfg;
    struct dj_policy policy;
    dj_error_t err = NULL;

    for (char *line = text; line != NULL && n < 16;) {
        char *next = strchr(line, '\n');
        char *eq;

        if (next != NULL)
            *next++ = '\0';
        eq = strchr(line, '=');
        if (eq != NULL) {
            *eq = '\0';
            ann[n].key = line;
            ann[n].value = eq + 1;
            n++;
        }
        line = next;
    }
    if (dj_adminconf_init(&cfg, &err) < 0)
        return;
    cfg.allow_wildcard_all = (n % 2) == 1;
    /* io.dnsjail.forward is refused without a ceiling: give one half of the time. */
    if (n % 2 == 1)
        cfg.forward_ceiling = strdup("example.test=192.0.2.53 svc");
    /* Two profiles for io.dnsjail.profile to name; a third of the time the runtime names one. */
    {
        static const char profiles[] = "profile.web.allow = *.example.test, 203.0.113.0/24:5432\n"
                                       "profile.web.forward = svc.test=198.51.100.53\n"
                                       "profile.learn.mode = audit\n";

        if (dj_adminconf_parse(&cfg, "fuzz", profiles, strlen(profiles), &err) < 0)
            abort();
    }
    if (dj_policy_build(ann, n, &cfg,
                        n % 3 == 1   ? "web"
                        : n % 3 == 2 ? "learn"
                                     : NULL,
                        &policy, &err) == 0) {
        char *canonical = dj_policy_canonical(&policy);

        check_rules(policy.rules, policy.n_rules);
        free(canonical);
        dj_policy_free(&policy);
    } else if (strchr(dj_error_msg(&err), '\n') != NULL) {
        abort();
    }
    dj_error_release(&err);
    dj_adminconf_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    fuzz_allow(text, false);
    fuzz_allow(text, true);
    fuzz_annotations(text);
    free(text);
    return 0;
}
